#include "tests/integration/vlc.h"
#include "tests/integration/itest.h"
#include "common/util.h"
#include "common/varlink.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define VLC_MAX_FDS 8

struct vlc {
	int fd;
	char *buf;
	size_t len, cap;
	int fds[VLC_MAX_FDS]; /* received (SCM_RIGHTS), not yet taken, oldest first */
	size_t n_fds;
};

struct vlc *vlc_connect(const char *socket_path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vlc *c = xcalloc(1, sizeof(*c));

	assert_true(strlen(socket_path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, socket_path, strlen(socket_path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_msg("connect %s: %s", socket_path, strerror(errno));
	return c;
}

void vlc_free(struct vlc *c)
{
	if (!c)
		return;
	close(c->fd);
	for (size_t i = 0; i < c->n_fds; i++)
		close(c->fds[i]);
	free(c->buf);
	free(c);
}

int vlc_take_fd(struct vlc *c)
{
	int fd;

	if (!c->n_fds)
		return -1;
	fd = c->fds[0];
	memmove(c->fds, c->fds + 1, --c->n_fds * sizeof(int));
	return fd;
}

/* One recvmsg, keeping any descriptors that came with the bytes. */
static ssize_t recv_with_fds(struct vlc *c)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(VLC_MAX_FDS * sizeof(int))];
	} ctl;
	struct iovec iov = { c->buf + c->len, c->cap - c->len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);

	if (n < 0)
		return n;
	if (mh.msg_flags & MSG_CTRUNC)
		fail_msg("descriptors lost: control data truncated");
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			fail_msg("unexpected control message %d/%d", cm->cmsg_level, cm->cmsg_type);
		for (size_t i = 0; i < k; i++) {
			if (c->n_fds == VLC_MAX_FDS)
				fail_msg("more than %d descriptors received", VLC_MAX_FDS);
			memcpy(&c->fds[c->n_fds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
		}
	}
	return n;
}

void vlc_send(struct vlc *c, const char *method, json_object *params, bool more)
{
	size_t len, off = 0;
	_cleanup_free_ char *msg = vl_format_call(method, params, more, &len);

	while (off < len) {
		ssize_t n = send(c->fd, msg + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail_msg("send %s: %s", method, strerror(errno));
		off += (size_t)n;
	}
}

static char *find_nul(struct vlc *c)
{
	return c->len ? memchr(c->buf, '\0', c->len) : NULL;
}

/* Reads until a whole message is buffered; false at the deadline. */
static bool fill(struct vlc *c, int timeout_ms)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!find_nul(c)) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - (int)((now.tv_sec - start.tv_sec) * 1000 +
					  (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, left) == 0)
			return false;
		if (c->cap - c->len < 65536) {
			c->cap = c->cap ? c->cap * 2 : 131072;
			c->buf = xrealloc(c->buf, c->cap);
		}
		n = recv_with_fds(c);
		if (n == 0)
			fail_msg("the daemon closed the connection");
		if (n < 0 && errno != EINTR)
			fail_msg("recv: %s", strerror(errno));
		if (n > 0)
			c->len += (size_t)n;
	}
	return true;
}

bool vlc_pending(struct vlc *c, int timeout_ms)
{
	return fill(c, timeout_ms);
}

json_object *vlc_recv(struct vlc *c)
{
	json_object *root = NULL;
	struct vl_reply reply;
	const char *reason = NULL;
	char *nul;
	size_t n;

	if (!fill(c, IT_TIMEOUT_MS))
		fail_msg("no reply within %d ms", IT_TIMEOUT_MS);
	nul = find_nul(c);
	n = (size_t)(nul - c->buf);
	if (vl_parse_reply(c->buf, n, &root, &reply, &reason) < 0)
		fail_msg("not a Varlink reply (%s): %.*s", reason, (int)n, c->buf);
	memmove(c->buf, nul + 1, c->len - n - 1);
	c->len -= n + 1;
	return root;
}

json_object *vlc_call(struct vlc *c, const char *method, json_object *params)
{
	vlc_send(c, method, params, false);
	return vlc_recv(c);
}

const char *vlc_error(json_object *reply)
{
	json_object *e;

	return json_object_object_get_ex(reply, "error", &e) ? json_object_get_string(e) : NULL;
}

static void assert_success(json_object *reply)
{
	if (vlc_error(reply))
		fail_msg("unexpected error reply: %s",
			 json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
}

json_object *vlc_params(json_object *reply)
{
	json_object *p;

	assert_success(reply);
	assert_true(json_object_object_get_ex(reply, "parameters", &p));
	return p;
}

void vlc_expect_ok(json_object *reply)
{
	assert_success(reply);
	json_object_put(reply);
}

json_object *vlc_reply_params(json_object *reply)
{
	json_object *p;

	if (!json_object_object_get_ex(reply, "parameters", &p))
		fail_msg("a reply without parameters: %s", json_object_to_json_string(reply));
	return p;
}

json_object *vlc_param(json_object *reply, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(vlc_reply_params(reply), key, &v))
		fail_msg("no parameter %s in the reply %s", key, json_object_to_json_string(reply));
	return v;
}

const char *vlc_param_str(json_object *reply, const char *key)
{
	return json_object_get_string(vlc_param(reply, key));
}

void vlc_assert_json_equal(json_object *expected, json_object *actual, const char *what)
{
	if (json_object_equal(expected, actual))
		return;
	fprintf(stderr, "%s: expected\n%s\n", what,
		json_object_to_json_string_ext(expected, JSON_C_TO_STRING_PRETTY |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
	fprintf(stderr, "%s: got\n%s\n", what,
		json_object_to_json_string_ext(actual, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	fail_msg("%s differs", what);
}

json_object *vlc_json(const char *text)
{
	json_object *o = json_tokener_parse(text);

	if (!o)
		fail_msg("bad JSON in the test: %s", text);
	return o;
}
