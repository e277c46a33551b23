/* The daemon's policy over its life (docs/policy.md "Reloading"): loaded at
 * start, reloaded by SIGHUP or ReloadPolicy.  A reload parses and validates
 * the files into a new policy and swaps it in whole; a policy that does not
 * load leaves the old one in force.  Claims already granted are kept; the
 * ones the new policy would refuse are reported (conflicts). */
#pragma once

#include "policy/policy.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct claim_entry;
struct hd_context;

/* The policy at `path`; a path that does not exist is the built-in default
 * (logged).  NULL with *e filled when a file is wrong. */
struct policy *policyctl_load(const char *path, struct policy_error *e);

/* Makes `p` the daemon's policy (taking it): the claim engine's, the
 * socket's group, and frees the one before.  Claims are not touched. */
void policyctl_install(struct hd_context *ctx, struct policy *p);

/* Gives ctx's socket the policy's socket_group (or the daemon's own group
 * when it names none); nothing before the server exists. */
void policyctl_socket_group(struct hd_context *ctx);

/* Loads ctx->policy_path and installs it, logging each conflict.  0, or
 * -EINVAL with *e filled (and logged) and the old policy still in force. */
int policyctl_reload(struct hd_context *ctx, struct policy_error *e);

/* Whether the policy in force refuses held claim e (whose device is
 * present): the one test behind the reload's conflicts and GetStatus's
 * "policy" attention.  *d and reason say why. */
bool policyctl_conflict(const struct hd_context *ctx, const struct claim_entry *e,
			struct policy_decision *d, char *reason, size_t size);

/* The claims held now that the policy in force would refuse, as
 * [{device, owner {driver, domain}, action, rule?, file?, line?, reason}]. */
json_object *policyctl_conflicts(const struct hd_context *ctx);
