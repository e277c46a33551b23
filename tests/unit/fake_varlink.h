/* A scripted stand-in for hostdevd's socket, for client tests.
 *
 * It listens on a Unix socket in a fresh temporary directory and runs in its
 * own thread.  Every message a client sends is recorded and answered by the
 * next step of the script, in order, whichever connection it came on.  Steps
 * can send several replies (a stream), send them a byte at a time, leave out
 * the terminating NUL, close the connection, or go silent until the client
 * leaves or the server stops. */
#pragma once

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define FAKE_MAX_REPLIES 16

enum fake_after {
	FAKE_KEEP = 0, /* read the next call */
	FAKE_CLOSE,    /* close the connection */
	FAKE_SILENT,   /* answer nothing more; wait for the client to leave */
};

struct fake_step {
	/* Raw texts sent in order, each followed by a NUL unless no_nul. */
	const char *replies[FAKE_MAX_REPLIES];
	bool no_nul;
	bool bytewise;  /* one send() per byte, to split replies arbitrarily */
	/* Reply i goes in a sendmsg of its own with this file open beside it
	 * (SCM_RIGHTS), as hostdevd's OpenDevice reply does; NULL: none. */
	const char *fd_paths[FAKE_MAX_REPLIES];
	enum fake_after after;
	/* Before replying, interrupt this thread's poll(2) with SIGUSR1 this
	 * many times (tid from gettid(), for /proc); its handler counts in
	 * *signal_count, which tells that the signal landed. */
	pthread_t *signal_thread;
	pid_t signal_tid;
	volatile sig_atomic_t *signal_count;
	int signals;
};

struct fake_server;

/* Starts serving; the steps are copied.  Aborts the test on failure. */
struct fake_server *fake_start(const struct fake_step *steps, size_t n_steps);
const char *fake_socket_path(const struct fake_server *f);
/* Stops the thread (closing any connection), removes the socket. */
void fake_stop(struct fake_server *f);
/* What clients sent, read after fake_stop() and valid until fake_free():
 * raw message texts. */
size_t fake_n_calls(const struct fake_server *f);
const char *fake_call(const struct fake_server *f, size_t i);
void fake_free(struct fake_server *f);

/* A path in a fresh temporary directory, with no socket, for "not running"
 * tests; and one where a socket exists but nothing listens. */
char *fake_missing_socket_path(void);
char *fake_refusing_socket_path(void);
void fake_remove_path(char *path);
