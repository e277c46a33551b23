/* What the protocol handlers can reach: the daemon's long-lived objects.
 * Owned by daemon.c; handlers borrow it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct detach_engine;
struct devtable;
struct monitor;
struct server;

struct hd_context {
	struct event_base *base;
	struct devtable *devices;
	struct monitor *monitor;
	struct server *server;
	struct detach_engine *detach; /* PCI detach/reattach (daemon/detach.h) */
	uint64_t start_ns; /* now_ns() when the daemon started */
};
