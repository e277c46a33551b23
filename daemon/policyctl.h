/* The daemon's policy over its life (docs/policy.md "Reloading"): loaded
 * at start, reloaded by SIGHUP or ReloadPolicy.  A reload parses and
 * validates the files into a new policy and swaps it in whole; a policy
 * that does not load leaves the old one in force.  Whoever obeys the
 * policy (the claim engine, the automation, the socket's group) subscribes
 * and is handed each policy installed.  Claims already granted are kept;
 * the ones the new policy would refuse are reported (conflicts). */
#pragma once

#include "policy/policy.h"
#include "state/claims.h"
#include "state/devtable.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct policyctl;

/* Told of every policy installed; nothing may keep it past the next one. */
typedef void (*policyctl_fn)(const struct policy *p, void *ctx);

/* path: a file or a directory (policy/policy.h); NULL: nothing to read.
 * required: the administrator named the path, so its absence is an error
 * rather than the built-in default. */
struct policyctl *policyctl_new(const char *path, bool required);
void policyctl_free(struct policyctl *pc);
void policyctl_subscribe(struct policyctl *pc, policyctl_fn fn, void *ctx);

const struct policy *policyctl_policy(const struct policyctl *pc);
const char *policyctl_path(const struct policyctl *pc);

/* Loads the path and installs it: a path that does not exist is the
 * built-in default (logged), unless it was required.  0, or -EINVAL with *e filled. */
int policyctl_load(struct policyctl *pc, struct policy_error *e);

/* Loads again and installs, logging each held claim (of c, devices in t)
 * the new policy would refuse.  0, or -EINVAL with *e filled (and logged)
 * and the old policy still in force. */
int policyctl_reload(struct policyctl *pc, const struct claims *c, const struct devtable *t,
		     struct policy_error *e);

/* Whether policy p refuses held claim e (whose device is present): the
 * one test behind the reload's conflicts and GetStatus's "policy"
 * attention.  *d and reason say why. */
bool policyctl_conflict(const struct policy *p, const struct devtable *t,
			const struct claim_entry *e, struct policy_decision *d, char *reason,
			size_t size);

/* The claims held now that the policy in force would refuse, as
 * [{device, owner {driver, domain}, action, rule?, file?, line?, reason}]. */
json_object *policyctl_conflicts(const struct policyctl *pc, const struct claims *c,
				 const struct devtable *t);
