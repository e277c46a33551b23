#include "tests/unit/fake_varlink.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct fake_server {
	char dir[64];
	char path[128];
	int listen_fd;
	int stop_pipe[2];
	pthread_t thread;
	struct fake_step *steps;
	size_t n_steps, next_step;
	pthread_mutex_t lock;
	char **calls;
	size_t n_calls;
};

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fake_varlink: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(errno));
	abort();
}

static void make_temp_dir(char *dir, size_t size)
{
	snprintf(dir, size, "/tmp/hdctl-test-XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp");
}

static int bind_socket(const char *path, bool listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind %s", path);
	if (listening && listen(fd, 8) < 0)
		die("listen");
	return fd;
}

/* Waits for fd or the stop pipe; true when fd is ready. */
static bool wait_readable(struct fake_server *f, int fd)
{
	struct pollfd p[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = f->stop_pipe[0], .events = POLLIN },
	};

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p[1].revents)
			return false;
		if (p[0].revents)
			return true;
	}
}

static void send_bytes(int fd, const char *buf, size_t len, bool bytewise)
{
	size_t off = 0;

	while (off < len) {
		size_t chunk = bytewise ? 1 : len - off;
		ssize_t n = send(fd, buf + off, chunk, MSG_NOSIGNAL);

		if (n < 0) {
			/* The client may leave early (a test of exactly that). */
			if (errno == EPIPE || errno == ECONNRESET)
				return;
			die("send");
		}
		off += (size_t)n;
	}
}

static void record_call(struct fake_server *f, const char *msg)
{
	pthread_mutex_lock(&f->lock);
	f->calls = realloc(f->calls, (f->n_calls + 1) * sizeof(char *));
	f->calls[f->n_calls++] = strdup(msg);
	pthread_mutex_unlock(&f->lock);
}

static const struct fake_step *take_step(struct fake_server *f)
{
	const struct fake_step *s = NULL;

	pthread_mutex_lock(&f->lock);
	if (f->next_step < f->n_steps)
		s = &f->steps[f->next_step++];
	pthread_mutex_unlock(&f->lock);
	return s;
}

/* True while the thread sits in poll(2) or ppoll(2), as /proc tells. */
static bool thread_in_poll(pid_t tid)
{
	char path[64];
	long nr = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	fp = fopen(path, "re");
	if (!fp)
		die("open %s", path);
	if (fscanf(fp, "%ld", &nr) != 1)
		nr = -1;
	fclose(fp);
	return nr == SYS_poll || nr == SYS_ppoll;
}

/* Polls a condition, not a fixed delay: gives up only after 10 s. */
static void wait_until(bool (*cond)(const struct fake_step *, int), const struct fake_step *s,
		       int arg, const char *what)
{
	struct timespec tick = { .tv_nsec = 100000 };

	for (int i = 0; i < 100000; i++) {
		if (cond(s, arg))
			return;
		nanosleep(&tick, NULL);
	}
	errno = ETIMEDOUT;
	die("waiting for %s", what);
}

static bool client_in_poll(const struct fake_step *s, int unused)
{
	return thread_in_poll(s->signal_tid);
}

static bool signal_landed(const struct fake_step *s, int count_before)
{
	return *s->signal_count != count_before;
}

/* Interrupts the client's wait for this reply: only once it is blocked in
 * poll, so that the signal makes poll fail with EINTR, and the reply goes
 * out only after the handler ran. */
static void interrupt_client(const struct fake_step *s)
{
	for (int i = 0; i < s->signals; i++) {
		int before = *s->signal_count;

		wait_until(client_in_poll, s, 0, "the client to block in poll");
		pthread_kill(*s->signal_thread, SIGUSR1);
		wait_until(signal_landed, s, before, "the client's signal handler");
	}
}

/* One message and a descriptor of `path` in one sendmsg. */
static void send_with_fd(int fd, const char *buf, size_t len, const char *path)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *cm;
	int passed = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (passed < 0)
		die("open");
	memset(&ctl, 0, sizeof(ctl));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &passed, sizeof(int));
	n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	close(passed);
	if (n < 0 && errno != EPIPE && errno != ECONNRESET)
		die("sendmsg");
	if (n >= 0 && (size_t)n < len)
		send_bytes(fd, buf + n, len - (size_t)n, false);
}

static void send_replies(int fd, const struct fake_step *s)
{
	for (size_t i = 0; i < FAKE_MAX_REPLIES && s->replies[i]; i++) {
		size_t len = strlen(s->replies[i]) + (s->no_nul ? 0 : 1);

		if (s->fd_paths[i])
			send_with_fd(fd, s->replies[i], len, s->fd_paths[i]);
		else
			send_bytes(fd, s->replies[i], len, s->bytewise);
	}
}

/* Drains a silent connection until the client leaves or we stop. */
static bool wait_client_gone(struct fake_server *f, int fd)
{
	char buf[4096];

	for (;;) {
		if (!wait_readable(f, fd))
			return false;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n <= 0)
			return true;
	}
}

/* Answers one message; returns 1 to read on, 0 when the connection is
 * done, -1 when the server stops. */
static int answer(struct fake_server *f, int fd, const char *msg)
{
	const struct fake_step *s;

	record_call(f, msg);
	s = take_step(f);
	if (!s)
		return 0;
	interrupt_client(s);
	send_replies(fd, s);
	if (s->after == FAKE_CLOSE)
		return 0;
	if (s->after == FAKE_SILENT)
		return wait_client_gone(f, fd) ? 0 : -1;
	return 1;
}

/* Returns false when the server is told to stop. */
static bool serve_connection(struct fake_server *f, int fd)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	int r = 1;

	while (r > 0) {
		char *nul = memchr(buf, '\0', len);

		if (nul) {
			r = answer(f, fd, buf);
			len -= (size_t)(nul - buf) + 1;
			memmove(buf, nul + 1, len);
			continue;
		}
		if (len == cap)
			buf = realloc(buf, cap *= 2);
		if (!wait_readable(f, fd)) {
			r = -1;
			break;
		}
		ssize_t n = recv(fd, buf + len, cap - len, 0);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	free(buf);
	return r >= 0;
}

static void *serve(void *arg)
{
	struct fake_server *f = arg;

	while (wait_readable(f, f->listen_fd)) {
		int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			die("accept");
		bool go_on = serve_connection(f, fd);

		close(fd);
		if (!go_on)
			break;
	}
	return NULL;
}

struct fake_server *fake_start(const struct fake_step *steps, size_t n_steps)
{
	struct fake_server *f = calloc(1, sizeof(*f));

	make_temp_dir(f->dir, sizeof(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/hostdevd.sock", f->dir);
	f->listen_fd = bind_socket(f->path, true);
	if (pipe2(f->stop_pipe, O_CLOEXEC) < 0)
		die("pipe");
	f->steps = calloc(n_steps ? n_steps : 1, sizeof(*steps));
	if (n_steps)
		memcpy(f->steps, steps, n_steps * sizeof(*steps));
	f->n_steps = n_steps;
	pthread_mutex_init(&f->lock, NULL);
	if (pthread_create(&f->thread, NULL, serve, f) != 0)
		die("pthread_create");
	return f;
}

const char *fake_socket_path(const struct fake_server *f)
{
	return f->path;
}

void fake_stop(struct fake_server *f)
{
	if (f->listen_fd < 0)
		return;
	if (write(f->stop_pipe[1], "x", 1) != 1)
		die("write");
	pthread_join(f->thread, NULL);
	close(f->listen_fd);
	close(f->stop_pipe[0]);
	close(f->stop_pipe[1]);
	f->listen_fd = -1;
	unlink(f->path);
	rmdir(f->dir);
}

size_t fake_n_calls(const struct fake_server *f)
{
	return f->n_calls;
}

const char *fake_call(const struct fake_server *f, size_t i)
{
	return i < f->n_calls ? f->calls[i] : NULL;
}

void fake_free(struct fake_server *f)
{
	if (!f)
		return;
	fake_stop(f);
	for (size_t i = 0; i < f->n_calls; i++)
		free(f->calls[i]);
	free(f->calls);
	free(f->steps);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

char *fake_missing_socket_path(void)
{
	char dir[64], *path;

	make_temp_dir(dir, sizeof(dir));
	if (asprintf(&path, "%s/hostdevd.sock", dir) < 0)
		die("asprintf");
	return path;
}

/* A bound but never listening socket: connect(2) gets ECONNREFUSED, as
 * with the stale socket a crashed daemon leaves behind. */
char *fake_refusing_socket_path(void)
{
	char *path = fake_missing_socket_path();

	close(bind_socket(path, false));
	return path;
}

void fake_remove_path(char *path)
{
	char *slash = strrchr(path, '/');

	unlink(path);
	*slash = '\0';
	rmdir(path);
	free(path);
}
