/* What the protocol handlers can reach: the daemon's long-lived objects.
 * Owned by daemon.c; handlers borrow it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct claim_engine;
struct claims;
struct detach_engine;
struct devtable;
struct monitor;
struct server;

struct hd_context {
	struct event_base *base;
	struct devtable *devices;
	struct monitor *monitor;
	struct server *server;
	struct detach_engine *detach; /* PCI detach/reattach (engine/detach.h) */
	struct claims *claims;        /* the in-use table (state/claims.h) */
	struct claim_engine *claim;   /* Claim and Release (engine/claim.h) */
	struct persist *persist;      /* the state file (engine/persist.h); NULL in unit tests */
	struct policy *policy;        /* policy/policy.h; NULL in unit tests: the default */
	const char *policy_path;      /* what a reload reads (daemon/policyctl.h) */
	uint64_t start_ns; /* now_ns() when the daemon started */
};
