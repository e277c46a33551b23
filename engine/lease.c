#include "engine/lease.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct lease_watch {
	struct leases *l;
	pid_t pid;
	uint64_t start;
	int pidfd; /* -1: waiting for a descriptor (ev NULL) */
	struct event *ev;
	struct lease_watch *next;
};

struct leases {
	struct event_base *base;
	char *proc_root;
	lease_ended_fn ended;
	void *ctx;
	struct lease_watch *watches;
	size_t n;
	size_t n_waiting;       /* watches whose pidfd could not be opened yet */
	struct event *retry_ev; /* opens them once descriptors are back */
	unsigned retry_ms;      /* 0: none waiting */
	int unavailable;        /* errno of pidfd_open's probe at start; 0: it works */
};

static void on_retry(evutil_socket_t fd, short what, void *arg);

/* Whether this system can watch a process at all: pidfd_open(2) is Linux
 * 5.3, and a seccomp filter or an emulator (valgrind 3.19) may answer
 * ENOSYS even on a newer kernel.  Asked once, of our own pid: without it a
 * lease could only ever be "ended", so leases are refused instead. */
static void probe(struct leases *l)
{
	int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);

	if (fd >= 0) {
		close(fd);
		return;
	}
	if (errno != ENOSYS && errno != EPERM)
		return; /* EMFILE and the like say nothing of the call */
	l->unavailable = errno;
	log_warn("lease: this system cannot watch processes (pidfd_open: %s): claims with a lease "
		 "are refused",
		 strerror(errno));
}

int leases_unavailable(const struct leases *l)
{
	return l->unavailable;
}

struct leases *leases_new(struct event_base *base, const char *proc_root,
			  lease_ended_fn ended, void *ctx)
{
	struct leases *l = xcalloc(1, sizeof(*l));

	l->base = base;
	l->proc_root = xstrdup(proc_root ? proc_root : "/proc");
	l->ended = ended;
	l->ctx = ctx;
	l->retry_ev = evtimer_new(base, on_retry, l);
	if (!l->retry_ev)
		fatal("out of memory");
	probe(l);
	return l;
}

static void watch_free(struct lease_watch *w)
{
	if (w->ev)
		event_free(w->ev);
	if (w->pidfd >= 0)
		close(w->pidfd);
	else
		w->l->n_waiting--;
	free(w);
}

void leases_free(struct leases *l)
{
	if (!l)
		return;
	while (l->watches) {
		struct lease_watch *w = l->watches;

		l->watches = w->next;
		watch_free(w);
	}
	event_free(l->retry_ev);
	free(l->proc_root);
	free(l);
}

size_t leases_count(const struct leases *l)
{
	return l->n;
}

size_t leases_waiting(const struct leases *l)
{
	return l->n_waiting;
}

/* <root>/<pid>/<name> into buf (NUL-terminated); 0 or -errno. */
static int read_proc(const char *root, pid_t pid, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%ld/%s", root, (long)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* The redirected root first; a pid it does not hold, from the kernel's. */
static int read_pid_file(const struct leases *l, pid_t pid, const char *name, char *buf,
			 size_t size)
{
	int r = read_proc(l->proc_root, pid, name, buf, size);

	if (r == -ENOENT && !streq(l->proc_root, "/proc"))
		r = read_proc("/proc", pid, name, buf, size);
	return r == -ENOENT ? -ESRCH : r;
}

/* stat: "pid (comm) S ppid ... starttime(22) ...".  comm may hold spaces
 * and parentheses: fields are counted after the last ')'. */
static int parse_stat(const char *text, char *state, uint64_t *start)
{
	const char *p = strrchr(text, ')');
	unsigned long long v;

	if (!p || sscanf(p + 1, " %c", state) != 1)
		return -EINVAL;
	p += 2; /* field 3, the state */
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EINVAL;
		p++;
	}
	if (sscanf(p, "%llu", &v) != 1)
		return -EINVAL;
	*start = v;
	return 0;
}

static int parse_uid(const char *status, uid_t *uid)
{
	const char *p = strstr(status, "\nUid:");
	unsigned long v;

	if (!p || sscanf(p + 5, "%lu", &v) != 1)
		return -EINVAL;
	*uid = (uid_t)v;
	return 0;
}

int leases_identify(const struct leases *l, pid_t pid, uint64_t *start, uid_t *uid)
{
	char buf[4096], state;
	int r;

	if (pid <= 0)
		return -ESRCH;
	if ((r = read_pid_file(l, pid, "stat", buf, sizeof(buf))) < 0 ||
	    (r = parse_stat(buf, &state, start)) < 0)
		return r;
	/* A zombie has ended: only its parent's wait is missing. */
	if (state == 'Z' || state == 'X')
		return -ESRCH;
	if (uid && ((r = read_pid_file(l, pid, "status", buf, sizeof(buf))) < 0 ||
		    (r = parse_uid(buf, uid)) < 0))
		return r;
	return 0;
}

static void unlink_watch(struct leases *l, struct lease_watch *w)
{
	for (struct lease_watch **p = &l->watches; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			l->n--;
			return;
		}
}

static void on_exit_readable(evutil_socket_t fd, short what, void *arg)
{
	struct lease_watch *w = arg;
	struct leases *l = w->l;
	pid_t pid = w->pid;
	uint64_t start = w->start;

	unlink_watch(l, w);
	watch_free(w);
	log_info("lease: process %ld ended", (long)pid);
	l->ended(pid, start, l->ctx);
}

static struct lease_watch *find(const struct leases *l, pid_t pid, uint64_t start)
{
	for (struct lease_watch *w = l->watches; w; w = w->next)
		if (w->pid == pid && w->start == start)
			return w;
	return NULL;
}

/* A pidfd for the process that started at `start`, or -ESRCH, or another
 * -errno (out of descriptors among them: the process is not known to have
 * ended).  The start time is read after the pidfd is open: if it matches
 * then, the pidfd is that process's (a pid is reused only after its
 * process is reaped, which the pidfd then reports as exited). */
static int open_pidfd(const struct leases *l, pid_t pid, uint64_t start)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd pfd;
	uint64_t now;
	int r;

	if (fd < 0)
		return errno == ESRCH ? -ESRCH : -errno;
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	r = leases_identify(l, pid, &now, NULL);
	if (r == 0 && now != start)
		r = -ESRCH;
	if (r == 0 && poll(&pfd, 1, 0) == 1)
		r = -ESRCH; /* exited already */
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* The watch gets its pidfd and waits on the loop for the exit. */
static void arm(struct lease_watch *w, int fd)
{
	if (w->pidfd < 0)
		w->l->n_waiting--;
	w->pidfd = fd;
	w->ev = event_new(w->l->base, fd, EV_READ, on_exit_readable, w);
	if (!w->ev || event_add(w->ev, NULL) < 0)
		fatal("lease: cannot watch process %ld on the loop", (long)w->pid);
	log_debug("lease: watching process %ld (start %llu)", (long)w->pid,
		  (unsigned long long)w->start);
}

/* Out of descriptors (or memory): that says nothing of the process, so
 * the lease stays and its pidfd is opened again later, at the intervals
 * the monitor re-reads sysfs at (common/util.h). */
static void retry_later(struct leases *l)
{
	struct timeval tv;

	if (evtimer_pending(l->retry_ev, NULL))
		return;
	l->retry_ms = starved_retry_next(l->retry_ms);
	tv = (struct timeval){ .tv_sec = l->retry_ms / 1000,
			       .tv_usec = (l->retry_ms % 1000) * 1000 };
	evtimer_add(l->retry_ev, &tv);
}

static struct lease_watch *first_waiting(const struct leases *l)
{
	for (struct lease_watch *w = l->watches; w; w = w->next)
		if (w->pidfd < 0)
			return w;
	return NULL;
}

/* Each waiting watch tries again: armed, ended (told, as an exit is),
 * or still starved (all wait for the next try). */
static void on_retry(evutil_socket_t unused, short what, void *arg)
{
	struct leases *l = arg;
	struct lease_watch *w;
	size_t armed = 0;

	while ((w = first_waiting(l))) {
		pid_t pid = w->pid;
		uint64_t start = w->start;
		int fd = open_pidfd(l, pid, start);

		if (fd >= 0) {
			arm(w, fd);
			armed++;
			continue;
		}
		if (err_is_starvation(-fd)) {
			retry_later(l);
			return;
		}
		unlink_watch(l, w);
		watch_free(w);
		if (fd != -ESRCH)
			log_warn("lease: cannot watch process %ld: %s; taken as ended", (long)pid,
				 strerror(-fd));
		log_info("lease: process %ld ended", (long)pid);
		/* The callback may add and drop watches: the scan starts over. */
		l->ended(pid, start, l->ctx);
	}
	if (armed)
		log_info("lease: descriptors are back: %zu process(es) watched now", armed);
	l->retry_ms = 0;
}

static struct lease_watch *watch_new(struct leases *l, pid_t pid, uint64_t start)
{
	struct lease_watch *w = xcalloc(1, sizeof(*w));

	w->l = l;
	w->pid = pid;
	w->start = start;
	w->pidfd = -1;
	w->next = l->watches;
	l->watches = w;
	l->n++;
	l->n_waiting++;
	return w;
}

int leases_watch(struct leases *l, pid_t pid, uint64_t start)
{
	int fd;

	if (find(l, pid, start))
		return 0;
	if (l->unavailable)
		return -l->unavailable;
	fd = open_pidfd(l, pid, start);
	if (err_is_starvation(-fd)) {
		log_warn("lease: cannot watch process %ld now: %s; the lease stays, and the process "
			 "is watched once descriptors are back",
			 (long)pid, strerror(-fd));
		watch_new(l, pid, start);
		retry_later(l);
		return 0;
	}
	if (fd < 0) {
		if (fd != -ESRCH)
			log_warn("lease: cannot watch process %ld: %s; taken as ended", (long)pid,
				 strerror(-fd));
		return -ESRCH;
	}
	arm(watch_new(l, pid, start), fd);
	return 0;
}

void leases_prune(struct leases *l, bool (*needed)(pid_t pid, uint64_t start, void *ctx),
		  void *ctx)
{
	struct lease_watch **p = &l->watches;

	while (*p) {
		struct lease_watch *w = *p;

		if (needed(w->pid, w->start, ctx)) {
			p = &w->next;
			continue;
		}
		*p = w->next;
		l->n--;
		log_debug("lease: process %ld no longer holds a claim", (long)w->pid);
		watch_free(w);
	}
}
