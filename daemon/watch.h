/* Watch: what watchers are sent (SPEC "Interfaces and defaults").  A
 * subscriber of the device table's one channel: every device event, every
 * state change, a resync after lost uevents, and what the policy did on
 * its own each become a reply with the next sequence number, formatted
 * once and queued for every watcher by the transport (daemon/server.h).
 * Until a server is given, events only count. */
#pragma once

#include "engine/automate.h"
#include "state/claims.h"
#include "state/devtable.h"

#include <stdint.h>

struct hwdb;
struct server;
struct watch;

/* names (monitor/hwdb.h, may be NULL) names the devices of events. */
struct watch *watch_new(const struct devtable *t, const struct claims *c, struct hwdb *names);
void watch_free(struct watch *w);
void watch_set_server(struct watch *w, struct server *s);

/* The sequence number of the last reply, which Watch's first reply gives. */
uint64_t watch_sequence(const struct watch *w);

/* A devtable subscriber (ctx: the watch). */
void watch_listener(enum dev_event ev, const struct device *dev, const char *detail, void *ctx);
/* One device event (what the listener sends). */
void watch_device_event(struct watch *w, enum dev_event ev, const struct device *dev,
			const char *detail);
/* The daemon re-read sysfs: watchers should list again. */
void watch_resync(struct watch *w);
/* The policy acted on its own (an automate_notice_fn, ctx: the watch):
 * the schema's PolicyAction. */
void watch_policy_notice(const struct automate_notice *n, void *ctx);
