#include "client/hdclient.h"
#include "common/util.h"
#include "common/varlink.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define RECV_CHUNK 65536

struct hdclient {
	int fd;
	char *path;
	int timeout_ms;
	size_t max_reply;
	/* Bytes received and not yet handed out; may hold the start of the
	 * next message after the current one's NUL. */
	char *buf;
	size_t len, cap;
	json_object *last;  /* root of the last reply; replies borrow from it */
	char *method;       /* the call in flight, for error messages */
	bool streaming;     /* a "more" call still expects replies */
	bool broken;        /* a transport failure left the stream in an unknown place */
	struct hdclient_error err;
	/* Descriptors received (SCM_RIGHTS) since the last reply began to be
	 * read: the reply's, by index; -1 once taken. */
	int fds[HDCLIENT_MAX_FDS];
	size_t n_fds;
};

/* Closes the descriptors nobody took: a reply's the caller did not ask
 * for stay ours no longer than until the next read. */
static void drop_fds(struct hdclient *c)
{
	for (size_t i = 0; i < c->n_fds; i++)
		if (c->fds[i] >= 0)
			close(c->fds[i]);
	c->n_fds = 0;
}

int hdclient_take_fd(struct hdclient *c, size_t index)
{
	int fd;

	if (index >= c->n_fds || c->fds[index] < 0)
		return -EBADF;
	fd = c->fds[index];
	c->fds[index] = -1;
	return fd;
}

/* One recvmsg; the descriptors that came with the bytes are kept (beyond
 * HDCLIENT_MAX_FDS the kernel closes them: MSG_CTRUNC). */
static ssize_t recv_with_fds(struct hdclient *c)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(HDCLIENT_MAX_FDS * sizeof(int))];
	} ctl;
	struct iovec iov = { c->buf + c->len, c->cap - c->len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (n < 0 || !mh.msg_controllen)
		return n;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (c->n_fds < HDCLIENT_MAX_FDS)
				c->fds[c->n_fds++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

static void error_vset(struct hdclient_error *err, enum hdclient_failure failure, int errnum,
		       const char *fmt, va_list ap)
{
	err->failure = failure;
	err->errnum = errnum;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

static void error_set(struct hdclient_error *err, enum hdclient_failure failure, int errnum,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void error_set(struct hdclient_error *err, enum hdclient_failure failure, int errnum,
		      const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	error_vset(err, failure, errnum, fmt, ap);
	va_end(ap);
}

/* Records a transport failure and poisons the connection: after one, a
 * reply that arrives late would be taken for the answer to the next call. */
static int fail(struct hdclient *c, enum hdclient_failure failure, int errnum, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

static int fail(struct hdclient *c, enum hdclient_failure failure, int errnum, const char *fmt,
		...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(&c->err, failure, errnum, fmt, ap);
	va_end(ap);
	c->broken = true;
	c->streaming = false;
	return -errnum;
}

/* A broken connection answers every later call with its first failure. */
static int broken_result(const struct hdclient *c)
{
	return -c->err.errnum;
}

static int steal_fd(int *fd)
{
	int r = *fd;

	*fd = -1;
	return r;
}

static int set_connect_timeout(int fd, int timeout_ms)
{
	struct timeval tv = {
		.tv_sec = timeout_ms / 1000,
		.tv_usec = (timeout_ms % 1000) * 1000,
	};

	return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Blocking connect bounded by SO_SNDTIMEO (which the kernel applies while
 * waiting for a full backlog), then non-blocking for the poll loop. */
static int connect_unix(const char *path, struct hdclient_error *err)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path)) {
		error_set(err, HDCLIENT_CONNECT, ENAMETOOLONG,
			  "socket path %s is longer than the %zu bytes a Unix socket allows", path,
			  sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || set_connect_timeout(fd, HDCLIENT_DEFAULT_TIMEOUT_MS) < 0) {
		int e = errno;

		error_set(err, HDCLIENT_CONNECT, e, "creating a socket: %s", strerror(e));
		return -e;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno == EAGAIN ? ETIMEDOUT : errno;

		error_set(err, HDCLIENT_CONNECT, e, "connecting to %s: %s", path, strerror(e));
		return -e;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		int e = errno;

		error_set(err, HDCLIENT_CONNECT, e, "setting %s non-blocking: %s", path,
			  strerror(e));
		return -e;
	}
	return steal_fd(&fd);
}

struct hdclient *hdclient_connect(const char *path, struct hdclient_error *err)
{
	struct hdclient *c;
	int fd;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!path || !*path) {
		error_set(err, HDCLIENT_CONNECT, EINVAL, "no socket path given");
		return NULL;
	}
	fd = connect_unix(path, err);
	if (fd < 0)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->path = xstrdup(path);
	c->timeout_ms = HDCLIENT_DEFAULT_TIMEOUT_MS;
	c->max_reply = HDCLIENT_DEFAULT_MAX_REPLY;
	return c;
}

void hdclient_free(struct hdclient *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	drop_fds(c);
	json_object_put(c->last);
	free(c->buf);
	free(c->method);
	free(c->path);
	free(c);
}

void hdclient_set_timeout(struct hdclient *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
}

void hdclient_set_max_reply(struct hdclient *c, size_t max_bytes)
{
	c->max_reply = max_bytes;
}

int hdclient_fd(const struct hdclient *c)
{
	return c->fd;
}

const struct hdclient_error *hdclient_last_error(const struct hdclient *c)
{
	return &c->err;
}

static uint64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? 0 : now_ns() + (uint64_t)timeout_ms * 1000000ULL;
}

/* Milliseconds left until deadline (0 = none), rounded up so that poll never
 * returns early; -1 for no deadline. */
static int remaining_ms(uint64_t deadline)
{
	uint64_t now;

	if (!deadline)
		return -1;
	now = now_ns();
	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999ULL) / 1000000ULL);
}

/* Waits for fd to become ready; 1 ready, 0 timed out, -errno on failure. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = poll(&p, 1, remaining_ms(deadline));

	if (r < 0)
		return -errno;
	return r;
}

static int fail_timeout(struct hdclient *c)
{
	return fail(c, HDCLIENT_TIMEOUT, ETIMEDOUT, "hostdevd did not answer %s within %.1f s",
		    c->method, c->timeout_ms / 1000.0);
}

static int send_all(struct hdclient *c, const char *msg, size_t len, uint64_t deadline)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(c->fd, msg + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		/* hostdevd may have refused the connection (too many open) with
		 * an error and closed it before reading anything: the caller
		 * reads that error rather than report a broken pipe. */
		if (errno == EPIPE || errno == ECONNRESET)
			return -EPIPE;
		if (errno != EAGAIN)
			return fail(c, HDCLIENT_IO, errno, "sending %s to %s: %s", c->method,
				    c->path, strerror(errno));
		int r = wait_fd(c->fd, POLLOUT, deadline);

		if (r == 0)
			return fail_timeout(c);
		if (r < 0 && r != -EINTR)
			return fail(c, HDCLIENT_IO, -r, "waiting to send to %s: %s", c->path,
				    strerror(-r));
	}
	return 0;
}

static int start_call(struct hdclient *c, const char *method, json_object *params, bool more)
{
	_cleanup_free_ char *msg = NULL;
	size_t len;

	if (c->broken)
		return broken_result(c);
	if (c->streaming) {
		error_set(&c->err, HDCLIENT_USAGE, EBUSY,
			  "cannot call %s while the stream of %s is still open", method, c->method);
		return -EBUSY;
	}
	memset(&c->err, 0, sizeof(c->err));
	str_replace(&c->method, method);
	msg = vl_format_call(method, params, more, &len);
	c->streaming = more;
	return send_all(c, msg, len, deadline_after(c->timeout_ms));
}

/* Reads more bytes into the buffer; 0 on progress, -errno on failure. */
static int receive_some(struct hdclient *c, uint64_t deadline)
{
	if (c->cap - c->len < RECV_CHUNK) {
		c->cap = c->cap * 2 > c->len + RECV_CHUNK ? c->cap * 2 : c->len + RECV_CHUNK;
		c->buf = xrealloc(c->buf, c->cap);
	}
	for (;;) {
		ssize_t n = recv_with_fds(c);

		if (n > 0) {
			c->len += (size_t)n;
			return 0;
		}
		if (n == 0)
			return fail(c, HDCLIENT_IO, ECONNRESET, "hostdevd closed the connection %s %s",
				    c->streaming ? "during" : "before answering", c->method);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return fail(c, HDCLIENT_IO, errno, "receiving from %s: %s", c->path,
				    strerror(errno));
		int r = wait_fd(c->fd, POLLIN, deadline);

		if (r == 0)
			return fail_timeout(c);
		/* The stream is intact: let the caller look at its signal flags. */
		if (r == -EINTR)
			return -EINTR;
		if (r < 0)
			return fail(c, HDCLIENT_IO, -r, "waiting for %s: %s", c->path,
				    strerror(-r));
	}
}

/* Waits until the buffer holds one whole message; returns its length
 * (without the NUL) or -errno.  Only a stream reports -EINTR: a single call
 * has a deadline anyway, and stopping halfway would leave its reply behind
 * to be taken for the answer to the next call. */
static ssize_t receive_message(struct hdclient *c, uint64_t deadline, bool interruptible)
{
	size_t scanned = 0;

	for (;;) {
		char *nul = c->len > scanned ? memchr(c->buf + scanned, '\0', c->len - scanned)
					     : NULL;

		size_t msg_len = nul ? (size_t)(nul - c->buf) : c->len;

		if (msg_len > c->max_reply)
			return fail(c, HDCLIENT_PROTOCOL, EMSGSIZE,
				    "the reply to %s is larger than %zu bytes", c->method,
				    c->max_reply);
		if (nul)
			return (ssize_t)msg_len;
		scanned = c->len;
		int r = receive_some(c, deadline);

		if (r == -EINTR && !interruptible)
			continue;
		if (r < 0)
			return r;
	}
}

static int read_reply(struct hdclient *c, bool interruptible, json_object **reply_params,
		      const char **error_name, bool *continues)
{
	struct vl_reply reply;
	const char *reason;
	ssize_t n;

	*continues = false;
	json_object_put(steal_ptr(c->last));
	drop_fds(c);
	if (c->broken)
		return broken_result(c);
	n = receive_message(c, deadline_after(c->timeout_ms), interruptible);
	if (n < 0)
		return (int)n;
	if (vl_parse_reply(c->buf, (size_t)n, &c->last, &reply, &reason) < 0)
		return fail(c, HDCLIENT_PROTOCOL, EPROTO, "the reply to %s is invalid: %s",
			    c->method, reason);
	c->len -= (size_t)n + 1;
	memmove(c->buf, c->buf + n + 1, c->len);
	*reply_params = reply.parameters;
	*error_name = reply.error;
	*continues = reply.continues && !reply.error;
	return 0;
}

int hdclient_call(struct hdclient *c, const char *method, json_object *params,
		  json_object **reply_params, const char **error_name)
{
	bool continues = false;
	int r;

	*reply_params = NULL;
	*error_name = NULL;
	r = start_call(c, method, params, false);
	if (r == -EPIPE) {
		/* Whatever the daemon said before it hung up is the answer; if
		 * it said nothing, the broken pipe is. */
		r = read_reply(c, false, reply_params, error_name, &continues);
		if (r == 0 && *error_name)
			return 0;
		*reply_params = NULL; /* the connection's, not ours to put */
		*error_name = NULL;
		return fail(c, HDCLIENT_IO, EPIPE, "sending %s to %s: %s", method, c->path,
			    strerror(EPIPE));
	}
	if (r < 0)
		return r;
	r = read_reply(c, false, reply_params, error_name, &continues);
	if (r < 0)
		return r;
	if (continues) {
		*reply_params = NULL;
		return fail(c, HDCLIENT_PROTOCOL, EPROTO,
			    "hostdevd sent a streaming reply to %s, which was not called with more",
			    method);
	}
	return 0;
}

int hdclient_call_more(struct hdclient *c, const char *method, json_object *params)
{
	int r = start_call(c, method, params, true);

	/* The stream's first read finds the daemon's refusal, or the end. */
	return r == -EPIPE ? 0 : r;
}

bool hdclient_pending(const struct hdclient *c)
{
	return c->len && memchr(c->buf, '\0', c->len);
}

bool hdclient_peer_closed(const struct hdclient *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };
	char byte;
	ssize_t n;

	if (c->broken)
		return true;
	if (c->len || poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLHUP | POLLERR | POLLRDHUP))
		return true;
	n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

int hdclient_next(struct hdclient *c, json_object **reply_params, const char **error_name,
		  bool *continues)
{
	int r;

	*reply_params = NULL;
	*error_name = NULL;
	*continues = false;
	if (!c->streaming && !c->broken) {
		error_set(&c->err, HDCLIENT_USAGE, EINVAL, "no stream is open");
		return -EINVAL;
	}
	r = read_reply(c, true, reply_params, error_name, continues);
	if (r < 0)
		return r;
	c->streaming = *continues;
	return 0;
}
