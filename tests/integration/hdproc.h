/* Runs the real hostdevd binary for a test: on a private socket and state
 * directory in a temporary directory, ready when it says READY=1 on
 * NOTIFY_SOCKET (never after a sleep), stopped with SIGTERM.
 *
 * HOSTDEVD_TEST_WRAPPER, when set, prefixes the command, e.g.
 * "valgrind --error-exitcode=99 --leak-check=full": the exit status is then
 * the wrapper's verdict.  The daemon's stderr goes to a log file, which the
 * *_ok helpers print when something is wrong. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct hdproc_config {
	const char *binary;      /* default: HOSTDEVD_BIN, from the build */
	const char *state_dir;   /* default: <dir>/state */
	const char *socket_path; /* default: <dir>/hostdevd.sock */
	const char *source;      /* --uevent-source; default $HOSTDEVD_TEST_UEVENT_SOURCE,
				  * else "udev" (what umockdev sends) */
	const char *log_level;   /* --log-level; default "debug", so a failure's log says all */
	bool background;         /* omit --foreground: the process started is the parent,
				  * which exits 0 once the forked daemon is ready */
	int ready_timeout_ms;    /* default: IT_TIMEOUT_MS */
};

struct hdproc {
	pid_t pid;
	int pidfd;
	char *dir;          /* the private temporary directory, removed by hdproc_cleanup */
	char *socket_path;
	char *state_dir;
	char *log_path;
	bool reaped;
	int status;         /* wait status, once reaped */
};

/* Starts the daemon and waits for READY=1.  Returns 0 once ready;
 * -ECHILD when it exited first (p->status holds how); -ETIMEDOUT when the
 * deadline passed (the daemon is still running: stop or clean up). */
int hdproc_start(struct hdproc *p, const struct hdproc_config *cfg);

/* SIGTERM, then waits for the exit.  Returns the wait status, or
 * -ETIMEDOUT (after which the daemon is killed). */
int hdproc_stop(struct hdproc *p);

/* Waits for an exit without signalling.  Returns the wait status or
 * -ETIMEDOUT. */
int hdproc_wait(struct hdproc *p, int timeout_ms);

/* Kills a daemon still running, reaps it and removes the directory. */
void hdproc_cleanup(struct hdproc *p);

/* The daemon's stderr so far (malloc'd, never NULL). */
char *hdproc_log(const struct hdproc *p);

/* Starts and waits for READY=1; on failure prints why and the daemon's log,
 * cleans up (nothing left running or on disk) and returns false.  For test
 * setups, which get no teardown when they fail. */
bool hdproc_try_start(struct hdproc *p, const struct hdproc_config *cfg);

/* cmocka shorthands: start and assert ready; stop and assert a clean exit
 * (status 0, which under a wrapper also means it found nothing). */
void hdproc_start_ok(struct hdproc *p, const struct hdproc_config *cfg);
void hdproc_stop_ok(struct hdproc *p);
