/* hostdevd as a library: main() parses options and calls these; the
 * integration tests and benchmarks run the same code in-process. */
#pragma once

#include "daemon/options.h"
#include "monitor/monitor.h"

struct event_base;
struct methods_ctx;
struct hostdevd;

/* `hooks` are the monitor's test seams; NULL in production. */
struct hostdevd *hostdevd_new(const struct daemon_options *o, const struct monitor_hooks *hooks);
void hostdevd_free(struct hostdevd *d);

/* Takes the lock, reads the devices, opens the socket, and tells a service
 * manager (NOTIFY_SOCKET) that it is ready.  Errors are logged with what to
 * do; returns 0 or -errno. */
int hostdevd_start(struct hostdevd *d);

/* Forks into the background once started: the parent exits 0 so that a
 * script starting hostdevd can use the socket at once. */
int hostdevd_daemonize(struct hostdevd *d);

/* Runs the event loop until SIGTERM/SIGINT or hostdevd_stop(). */
int hostdevd_run(struct hostdevd *d);
void hostdevd_stop(struct hostdevd *d);

struct event_base *hostdevd_base(struct hostdevd *d);
struct methods_ctx *hostdevd_context(struct hostdevd *d);
