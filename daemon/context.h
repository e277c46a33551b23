/* What the protocol handlers can reach: the daemon's long-lived objects.
 * Owned by daemon.c; handlers borrow it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct devtable;
struct monitor;
struct server;

struct hd_context {
	struct event_base *base;
	struct devtable *devices;
	struct monitor *monitor;
	struct server *server;
	uint64_t start_ns; /* now_ns() when the daemon started */
};
