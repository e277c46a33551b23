/* One daemon per state directory: a lock file holding the owner's pid. */
#pragma once

#include <sys/types.h>

/* Creates dir if needed and takes DIR/hostdevd.lock.  Returns the locked fd
 * (keep it open for the daemon's life), or -errno; on -EWOULDBLOCK *holder is
 * the pid written by the daemon holding it (0 if unreadable). */
int lock_acquire(const char *dir, pid_t *holder);
/* Writes our pid into the lock file (after a fork, the child's). */
int lock_write_pid(int fd);
