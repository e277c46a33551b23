/* Leases: watching the processes claims are tied to (SPEC "Claims").
 *
 * A process is named by its pid and its start time (field 22 of
 * /proc/PID/stat), read under the daemon's --proc-root; it is watched
 * through a pidfd (pidfd_open(2), Linux 5.3) on the loop, which becomes
 * readable when the process exits.  One watch per process, however many
 * claims are tied to it.  What an ended lease means is the claim engine's
 * (engine/claim.h): this module only says "pid P, started at S, ended".
 * Lives on the event loop. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct leases;

/* The process ended (or was already gone when watched). */
typedef void (*lease_ended_fn)(pid_t pid, uint64_t start, void *ctx);

/* proc_root: where /proc is ("/proc" when NULL).  A pid the redirected
 * root does not hold is read from the kernel's /proc: a test's fake /proc
 * holds only the processes it fakes. */
struct leases *leases_new(struct event_base *base, const char *proc_root,
			  lease_ended_fn ended, void *ctx);
void leases_free(struct leases *l);

/* Who the process is: its start time and real uid.  0, or -ESRCH when
 * there is no such live process (none, or a zombie), or another -errno. */
int leases_identify(const struct leases *l, pid_t pid, uint64_t *start, uid_t *uid);

/* Watches the process; watching it again is a no-op.  0: watched; -ESRCH:
 * it has ended, or the pid now names a process with another start time
 * (reused): nothing is watched and the caller acts on it now.  A pidfd that
 * cannot be opened for want of descriptors or memory (EMFILE, ENFILE,
 * ENOMEM) says nothing of the process: the watch is kept (0) and opened
 * again at growing intervals (common/util.h, as the monitor re-reads
 * sysfs) until it is armed, or finds the process ended and says so as an
 * exit would.  -ENOSYS or -EPERM: see leases_unavailable. */
int leases_watch(struct leases *l, pid_t pid, uint64_t start);
/* 0 when processes can be watched, else why not (ENOSYS, EPERM: pidfd_open
 * is missing or forbidden here), asked once at leases_new; leases_watch
 * then answers -that and watches nothing. */
int leases_unavailable(const struct leases *l);

/* Drops the watches `needed` says no claim needs any more. */
void leases_prune(struct leases *l, bool (*needed)(pid_t pid, uint64_t start, void *ctx),
		  void *ctx);
/* How many processes are watched, and how many of those wait for a
 * descriptor to be watched with. */
size_t leases_count(const struct leases *l);
size_t leases_waiting(const struct leases *l);
