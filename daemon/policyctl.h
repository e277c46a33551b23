/* The daemon's policy over its life (docs/policy.md "Reloading"): loaded at
 * start, reloaded by SIGHUP or ReloadPolicy.  A reload parses and validates
 * the files into a new policy and swaps it in whole; a policy that does not
 * load leaves the old one in force.  Claims already granted are kept; the
 * ones the new policy would refuse are reported (conflicts). */
#pragma once

#include "policy/policy.h"

#include <json-c/json.h>

struct hd_context;

/* The policy at `path`; a path that does not exist is the built-in default
 * (logged).  NULL with *e filled when a file is wrong. */
struct policy *policyctl_load(const char *path, struct policy_error *e);

/* Makes `p` the daemon's policy (taking it): the claim engine's, the
 * socket's group, and frees the one before.  Claims are not touched. */
void policyctl_install(struct hd_context *ctx, struct policy *p);

/* Loads ctx->policy_path and installs it.  0, or -EINVAL with *e filled
 * and the old policy still in force. */
int policyctl_reload(struct hd_context *ctx, struct policy_error *e);

/* The claims held now that the policy in force would refuse, as
 * [{device, owner {driver, domain}, action, rule?, file?, line?, reason}]. */
json_object *policyctl_conflicts(const struct hd_context *ctx);
/* One warning per conflict, for the log. */
void policyctl_log_conflicts(json_object *conflicts);
