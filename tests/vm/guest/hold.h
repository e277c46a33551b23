/* Holding a resource until whoever started us lets go: the part of
 * vfio-open --hold that does not need VFIO, so that the host tests can run
 * it.  A guest script waits for a ready file (no sleeping: the file appears
 * whole), then ends the hold with SIGTERM, SIGINT or by closing our stdin. */
#pragma once

enum hold_end {
	HOLD_SIGNAL, /* SIGTERM or SIGINT arrived */
	HOLD_EOF,    /* the input reached end of file */
	HOLD_ERROR,  /* poll or read failed; errno says why */
};

/* Blocks SIGTERM and SIGINT in the calling thread and returns a signalfd
 * for them, or -errno.  Call it before acquiring what is held, so that a
 * signal sent meanwhile is queued rather than fatal. */
int hold_signals_block(void);

/* Writes "ready\n" to `path` through a temporary file renamed over it, so
 * that a reader who sees the file sees its content.  0 or -errno. */
int hold_write_ready(const char *path);

/* Waits for a signal on sigfd or end of file on input_fd (negative: no
 * input to watch); input read meanwhile is discarded.  For HOLD_SIGNAL,
 * *signo is the signal. */
enum hold_end hold_wait(int sigfd, int input_fd, int *signo);

/* The whole hold of a guest program that has PCI function addr open:
 * writes the ready file (if any), waits, and prints "PROG: ADDR: released
 * on SIGTERM" (or SIGINT, or "at the end of stdin").  0, or -1 after
 * "PROG: ADDR: STEP: why" on stderr. */
int hold_device(const char *prog, const char *addr, const char *ready_file, int sigfd, int input);
