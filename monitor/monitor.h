/* The udev monitor: keeps the device table equal to what sysfs says.
 *
 * monitor_start() subscribes to uevents first, enumerates second, and only
 * then lets the event loop read the monitor socket, so whatever happened
 * during enumeration is applied afterwards and nothing is lost.  When the
 * socket overflows (ENOBUFS) the table is re-read from sysfs and reconciled.
 *
 * Sources: "udev" (udevd's processed events, netlink group 2) when udevd runs,
 * "kernel" (group 1) when it does not; "auto" picks by /run/udev/control. */
#pragma once

#include "state/devtable.h"

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct udev_device;
struct udev_monitor;
struct monitor;

enum monitor_source {
	MONITOR_SOURCE_AUTO = 0,
	MONITOR_SOURCE_UDEV,
	MONITOR_SOURCE_KERNEL,
};

int monitor_source_from_name(const char *name);
const char *monitor_source_name(enum monitor_source src);

/* Test seams.  `receive` replaces udev_monitor_receive_device() (return NULL
 * with errno set, e.g. ENOBUFS, to simulate an overflow); `after_enumerate`
 * runs between the enumeration and the first read of the monitor socket. */
struct monitor_hooks {
	struct udev_device *(*receive)(struct udev_monitor *mon, void *ctx);
	void (*after_enumerate)(void *ctx);
	void *ctx;
};

struct monitor_stats {
	enum monitor_source source; /* the one in use, never AUTO */
	uint64_t events_received;   /* uevents read from the socket */
	uint64_t events_applied;    /* of those, the ones that concerned our buses */
	uint64_t overflows;         /* ENOBUFS seen */
	uint64_t resyncs;           /* full re-reads of sysfs */
	uint64_t starvations;       /* reads or events that failed for want of descriptors
				     * or memory (each leads to a re-read) */
	uint64_t enumerate_ns;      /* how long the last enumeration took */
};

struct monitor *monitor_new(struct event_base *base, struct devtable *table,
			    enum monitor_source source, const struct monitor_hooks *hooks);
void monitor_free(struct monitor *m);

/* Subscribe, enumerate, arm.  Returns 0 or -errno (logged). */
int monitor_start(struct monitor *m);

/* Re-reads sysfs and reconciles the table (what ENOBUFS triggers). */
int monitor_resync(struct monitor *m);

/* Called after a resync so the daemon can tell Watch clients to re-list. */
void monitor_set_resync_callback(struct monitor *m, void (*fn)(void *ctx), void *ctx);

void monitor_get_stats(const struct monitor *m, struct monitor_stats *out);
