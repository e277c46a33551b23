/* The Varlink methods hostdevd serves, in families of their own files:
 * the service interface (method-service.c), devices and Watch
 * (method-devices.c), node operations (method-node.c), claims
 * (method-claims.c), policy (method-policy.c), status (method-status.c).
 * Each family is a table of entries (daemon/dispatch.h); methods_table()
 * is all of them.  Adding a method: its handler and one entry in its
 * family's table, and the schema in docs/io.hostdevd.varlink. */
#pragma once

#include "daemon/dispatch.h"
#include "state/devtable.h"

#include <stdint.h>

struct claim_engine;
struct claim_owner;
struct claims;
struct detach_engine;
struct hwdb;
struct monitor;
struct persist;
struct policyctl;
struct watch;

/* What the handlers reach: the daemon's long-lived objects, owned by the
 * composition root (daemon/daemon.c) and borrowed here.  Tests fill only
 * what their methods use; the rest may be NULL. */
struct methods_ctx {
	struct devtable *devices;
	struct claims *claims;
	struct claim_engine *claim;   /* Claim and Release (engine/claim.h) */
	struct detach_engine *detach; /* the operations (engine/detach.h) */
	struct persist *persist;      /* the state file (engine/persist.h) */
	struct policyctl *policy;     /* the policy in force (daemon/policyctl.h);
				       * NULL: the built-in default */
	struct monitor *monitor;      /* GetStatus's event counters */
	struct watch *watch;          /* Watch and its sequence (daemon/watch.h) */
	struct hwdb *names;           /* the records' vendor and model names
				       * (monitor/hwdb.h); NULL: none */
	uint64_t start_ns;            /* now_ns() when the daemon started */
	const char *dev_root;         /* OpenDevice's /dev (--dev-root); NULL: "/dev" */
};

/* The interface description served for io.hostdevd: docs/io.hostdevd.varlink,
 * embedded at build time (idl.c). */
extern const char hostdevd_idl[];
extern const size_t hostdevd_idl_len;

/* Every method hostdevd serves. */
const struct method_def *methods_table(size_t *n);

/* The families' tables, each ending with { NULL }. */
extern const struct method_def service_methods[], device_methods[], node_methods[],
	claim_methods[], policy_methods[], status_methods[], open_methods[];

/* For the families: resolves a "device" selector; answers the call and
 * returns NULL when it names no single device.  `param` names the
 * parameter an invalid selector came in. */
struct device *methods_resolve(struct methods_ctx *ctx, struct server_call *call,
			       const char *sel, const char *param);
/* The schema's Owner in params' "owner": driver and domain non-empty
 * strings, uuid optional, each as claim_owner_invalid() (state/claims.h)
 * wants it.  NULL when it is one; else the parameter to name in
 * InvalidParameter: "owner" (missing, not an Owner) or "owner.driver",
 * "owner.domain", "owner.uuid". */
const char *methods_owner(json_object *params, struct claim_owner *owner);
/* The optional "driver" of Detach and Claim: *stub NULL when absent (the
 * engine's choice), else the stub as detach_stub_target() keeps it.
 * Answers the call and returns false when it is no name
 * (InvalidParameter) or names nothing this host takes (UnknownDriver,
 * with the names it does). */
bool methods_driver(struct methods_ctx *ctx, struct server_call *call, json_object *params,
		    const char **stub);
/* A count as a JSON int (capped at INT64_MAX). */
void methods_add_count(json_object *o, const char *key, uint64_t v);
/* The policy in force, or NULL for the built-in default. */
const struct policy *methods_policy(const struct methods_ctx *ctx);
/* Whether hostdevd serves the interface named by len bytes at name
 * (method-service.c), for the answer to an unknown method. */
bool methods_interface_known(const char *name, size_t len);
