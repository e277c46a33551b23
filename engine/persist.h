/* Saving the daemon's state (state/store.h for the file, state/snapshot.h
 * for the document, docs/state.md).
 *
 * persist_save() writes a snapshot of the claim table (settled claims and
 * those in flight, with their phase) and of the detached pool (devices
 * hostdevd detached and nobody holds, with their original driver).  The
 * claim engine asks for one before a claim's first write and before it
 * acknowledges a claim or a release, so what was acknowledged is on disk
 * and what was not can be undone after a crash (engine/restore.h). */
#pragma once

#include "state/claims.h"
#include "state/devtable.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct persist;

struct persist *persist_new(struct event_base *base, struct devtable *t, struct claims *c,
			    const char *state_dir);
void persist_free(struct persist *p);
const char *persist_path(const struct persist *p);

/* 0, or -errno with a sentence in err; the previous document stays. */
int persist_save(struct persist *p, char *err, size_t size);

/* Asks for a save, run once the loop has handled what is ready now: every
 * request made meanwhile is served by the same write (group commit: the
 * claims of 32 clients acknowledged in one turn of the loop cost one
 * fsync).  `done` (may be NULL) gets the outcome: 0, or -errno and the
 * sentence. */
typedef void (*persist_done_fn)(int r, const char *err, void *arg);
void persist_request(struct persist *p, persist_done_fn done, void *arg);

/* A devtable subscriber (ctx: the persist): a device was added, removed,
 * rebound or changed state, so the next save looks for the detached pool
 * again. */
void persist_listener(enum dev_event ev, const struct device *dev, const char *detail,
		      void *ctx);

/* Runs the requested saves now, until none is left (at shutdown, when the
 * loop no longer runs). */
void persist_flush(struct persist *p);

/* The document as it was last written: 0 with *body (the caller's
 * reference), -ENOENT when there is none, or -errno with a sentence in err
 * naming the file and the problem (store_read). */
int persist_read(struct persist *p, json_object **body, char *err, size_t size);
