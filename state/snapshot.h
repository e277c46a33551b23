/* The state document's body (docs/state.md): the claim table and the
 * detached pool, written as text laid out for people (one record a line)
 * and read back.  state/store.h keeps the envelope and replaces the file
 * atomically; the engine decides what to save (engine/persist.h) and what
 * the records mean at start (engine/restore.h). */
#pragma once

#include "common/jsonbuf.h"
#include "state/claims.h"
#include "state/devtable.h"

#include <json-c/json.h>

/* Writes the body's members, "claims": [...] and "pool": [...], into b.
 * pool: the devices hostdevd detached and nobody holds (each with its
 * original driver, what a later Reattach must bring back). */
void snapshot_write(struct jsonbuf *b, const struct claims *c, const struct devtable *t,
		    const struct device *const *pool, size_t n_pool);

/* A claim as the document holds it; strings are borrowed from the parsed
 * document.  phase is -1 when the record names none we know. */
struct snapshot_claim {
	const char *device;
	int phase;
	struct claim_owner owner;
	uint32_t vendor, product;
	const char *serial;
	bool managed;
	bool from_pool; /* the claim took it from the detached pool */
	const char *stub, *original_driver;
	const struct iface_binding *unbound;
	size_t n_unbound;
	struct claim_cred cred;
	int64_t since;
	struct claim_lease lease; /* pid 0: none (older files have none) */
	bool lease_ended;
	/* The VFIO nodes handed to the claim's uid (names as written, not
	 * checked), and node_owner; none in older files. */
	const struct claim_node *nodes;
	size_t n_nodes;
	const char *node_owner;
};

/* A device of the detached pool as the document holds it. */
struct snapshot_pool {
	const char *device;
	uint32_t vendor, product;
	const char *original_driver;
};

/* Calls on_claim for each claim record with a device, then on_pool for
 * each pool record with one, in the document's order. */
void snapshot_read(json_object *body,
		   void (*on_claim)(const struct snapshot_claim *c, void *ctx),
		   void (*on_pool)(const struct snapshot_pool *p, void *ctx), void *ctx);
