/* The daemon's state and the durable document (state/store.h,
 * docs/state.md).
 *
 * persist_save() writes a snapshot of the claim table (settled claims and
 * those in flight, with their phase) and of the detached pool (devices
 * hostdevd detached and nobody holds, with their original driver).  The
 * claim engine calls it before a claim's first write and before it
 * acknowledges a claim or a release, so what was acknowledged is on disk
 * and what was not can be undone after a crash.
 *
 * persist_restore() runs once at start, after the first enumeration and
 * before the socket opens: it reads the document and reconciles it with
 * the device table — a held claim whose device is present and on its stub
 * is claimed again; one whose device is gone is kept (missing); one whose
 * device came back as another device is dropped; a claim never acknowledged
 * is rolled back and a release under way is completed (reattached); the
 * pool's original drivers are restored.  Every decision is logged. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct hd_context;
struct persist;

/* reattach_orphans: PCI functions found on a stub at start with no record
 * are reattached to a host driver instead of kept (--orphans). */
struct persist *persist_new(struct hd_context *ctx, const char *state_dir, bool reattach_orphans);
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

/* A device was added, removed, rebound or changed state: the next save
 * looks for the detached pool again (the daemon's table listener and
 * state-change callback call this). */
void persist_devices_changed(struct persist *p);

/* Runs the requested saves now, until none is left (at shutdown, when the
 * loop no longer runs). */
void persist_flush(struct persist *p);

/* 0, or -errno when the document exists but cannot be read or understood
 * (the daemon then refuses to start rather than forget claims; the log
 * names the file and the problem). */
int persist_restore(struct persist *p);
