/* Hostile peers against the real daemon (issue 12, docs/protocol.md
 * "Limits"): a peer that may only `list` floods the socket with idle
 * connections, parks half-sent messages, pipelines calls it never reads, or
 * pushes input behind a call that waits for the kernel.  Root must still be
 * answered at once, the flood must be told why it is refused, and the
 * daemon's memory (VmRSS, VmHWM in /proc/PID/status) must stay bounded.
 *
 * The daemon starts as systemd would start it, with 1,024 descriptors
 * (prlimit(1) as the wrapper of its command).  Other uids connect with seteuid around connect(): this
 * needs root; it skips otherwise. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NIC "0000:03:00.0" /* e1000e */
#define LISTERS 9          /* uids 60201..60209, list only */
#define U_LIST 60201
#define PER_UID 130        /* each tries more than the cap of 128 */
#define DAEMON_FDS 1024
/* The daemon's default total for non-root: 1,024 less 64 kept for its own
 * files and 32 for root. */
#define TOTAL_CAP (DAEMON_FDS - 64 - 32)
#define MiB (1024.0 * 1024)

static int setup(void **state)
{
	struct group *g = getgrgid(65534);
	const char *wrapper = getenv("HOSTDEVD_TEST_WRAPPER");
	_cleanup_free_ char *saved = wrapper ? xstrdup(wrapper) : NULL;
	char text[1024], limited[1024];
	int r;

	if (geteuid() != 0 || !g) {
		*state = NULL;
		return 0;
	}
	snprintf(text, sizeof(text),
		 "socket_group = \"%s\";\n"
		 "clients = ( { gid = %d; permissions = [\"list\"]; } );\n",
		 g->gr_name, (int)g->gr_gid);
	setenv("HOSTDEVD_PARTIAL_TIMEOUT", "0.5", 1);
	/* systemd's limits, set by prlimit(1) as it executes the daemon (this
	 * process could not raise its own hard limit again). */
	snprintf(limited, sizeof(limited), "prlimit --nofile=%d:%d %s", DAEMON_FDS, DAEMON_FDS,
		 saved ? saved : "");
	setenv("HOSTDEVD_TEST_WRAPPER", limited, 1);
	r = kfix_setup_policy(state, text);
	if (saved)
		setenv("HOSTDEVD_TEST_WRAPPER", saved, 1);
	else
		unsetenv("HOSTDEVD_TEST_WRAPPER");
	unsetenv("HOSTDEVD_PARTIAL_TIMEOUT");
	if (r == 0)
		assert_int_equal(chmod(((struct fixture *)*state)->daemon.dir, 0755), 0);
	return r;
}

/* The daemon's RSS means what it says only when it runs bare: ASan keeps
 * freed memory in quarantine, valgrind (HOSTDEVD_TEST_WRAPPER) has its own.
 * Otherwise the figures are printed, not held to a bound. */
static bool rss_meaningful(void)
{
#ifdef __SANITIZE_ADDRESS__
	return false;
#else
	const char *w = getenv("HOSTDEVD_TEST_WRAPPER");

	return !w || !*w;
#endif
}

static double now_ms(void)
{
	return (double)now_ns() / 1e6;
}

/* ---- raw clients ------------------------------------------------------ */

/* A non-blocking connection as uid (root: 0), in the socket's group. */
static int connect_as(struct fixture *f, uid_t uid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	gid_t group = 65534;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), r;

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->daemon.socket_path);
	assert_int_equal(setgroups(1, &group), 0);
	assert_int_equal(setegid(uid ? group : 0), 0);
	assert_int_equal(seteuid(uid), 0);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	assert_int_equal(seteuid(0), 0);
	assert_int_equal(setegid(0), 0);
	assert_int_equal(setgroups(0, NULL), 0);
	if (r < 0)
		fail_msg("connect as %d: %s", (int)uid, strerror(errno));
	return fd;
}

/* The first message on fd (malloc'd, NUL-terminated), waiting until the
 * deadline; NULL on EOF before one. */
static char *read_message(int fd)
{
	size_t len = 0, cap = 65536;
	char *buf = xcalloc(1, cap);
	double end = now_ms() + IT_TIMEOUT_MS;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (memchr(buf, '\0', len))
			return buf;
		if (len == cap)
			buf = xrealloc(buf, cap *= 2);
		n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			free(buf);
			return NULL;
		}
		if (now_ms() > end)
			fail_msg("no message within %d ms", IT_TIMEOUT_MS);
		poll(&p, 1, 100);
	}
}

/* The daemon closed fd (after what it sent). */
static void expect_eof(int fd)
{
	char b[4096];
	double end = now_ms() + IT_TIMEOUT_MS;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			fail_msg("recv: %s", strerror(errno));
		if (now_ms() > end)
			fail_msg("the daemon did not close the connection");
		poll(&p, 1, 100);
	}
}

/* Sends from data until the daemon stops taking it (the socket stays full
 * for 200 ms: it no longer reads) or all of it is sent.  Returns the bytes
 * sent. */
static size_t send_until_stalled(int fd, const char *data, size_t len)
{
	size_t sent = 0;

	while (sent < len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		ssize_t n = send(fd, data + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			break; /* dropped */
		if (poll(&p, 1, 200) == 0)
			break;
	}
	return sent;
}

/* A field of /proc/PID/status in kB. */
static long proc_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, flen) == 0 && line[flen] == ':')
			kb = strtol(line + flen + 1, NULL, 10);
	fclose(f);
	assert_true(kb >= 0);
	return kb;
}

static size_t clients(struct fixture *f)
{
	json_object *r = vlc_call(f->c, "io.hostdevd.GetStatus", NULL);
	size_t n = (size_t)json_object_get_int64(vlc_param(r, "clients"));

	json_object_put(r);
	return n;
}

static bool clients_are(struct fixture *f, const void *n)
{
	return clients(f) == *(const size_t *)n;
}

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static char *repeat(const char *msg, size_t times, size_t *len)
{
	size_t one = strlen(msg) + 1;
	char *buf = xcalloc(times, one);

	for (size_t i = 0; i < times; i++)
		memcpy(buf + i * one, msg, one);
	*len = times * one;
	return buf;
}

/* ---- descriptors ------------------------------------------------------ */

static void expect_too_many(const char *msg)
{
	json_object *reply;

	if (!msg)
		fail_msg("a refused connection was closed without a word");
	reply = vlc_json(msg);
	assert_string_equal(vlc_error(reply), "io.hostdevd.TooManyConnections");
	assert_non_null(strstr(vlc_param_str(reply, "reason"), "connections open"));
	json_object_put(reply);
}

/* 1,170 connections from nine list-only uids against a daemon with 1,024
 * descriptors: each uid gets 128, all of them together the total, every
 * other is told TooManyConnections and closed; root's GetInfo and Claim
 * are answered at once, and the state file can still be written. */
static void test_connection_flood(void **state)
{
	struct fixture *f = *state;
	int fds[LISTERS * PER_UID], root_fd;
	size_t accepted, refused = 0;
	double t0, info_ms, claim_ms;
	json_object *reply, *p;

	if (!f)
		skip();
	for (int u = 0; u < LISTERS; u++)
		for (int i = 0; i < PER_UID; i++)
			fds[u * PER_UID + i] = connect_as(f, (uid_t)(U_LIST + u));
	/* Root comes last, behind the whole flood in the accept queue. */
	root_fd = connect_as(f, 0);
	t0 = now_ms();
	reply = vlc_call(f->c, "org.varlink.service.GetInfo", NULL);
	info_ms = now_ms() - t0;
	vlc_expect_ok(reply);
	accepted = clients(f) - 2; /* f->c and root_fd */
	assert_int_equal(accepted, TOTAL_CAP);
	t0 = now_ms();
	reply = kfix_owner_call(f, "io.hostdevd.Claim", NIC);
	claim_ms = now_ms() - t0;
	vlc_expect_ok(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	/* A fresh root connection works too, beyond the total. */
	assert_int_equal(send(root_fd, "{\"method\":\"org.varlink.service.GetInfo\"}", 41, 0), 41);
	free(read_message(root_fd));
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		char b;

		if (recv(fds[i], &b, 1, MSG_PEEK | MSG_DONTWAIT) != 1)
			continue;
		_cleanup_free_ char *msg = read_message(fds[i]);

		expect_too_many(msg);
		expect_eof(fds[i]);
		refused++;
	}
	assert_int_equal(refused, ARRAY_SIZE(fds) - TOTAL_CAP);
	fprintf(stderr,
		"it-hostile: %zu connections accepted, %zu refused; root's GetInfo %.1f ms, "
		"Claim %.1f ms\n",
		accepted, refused, info_ms, claim_ms);
	assert_true(info_ms < 1000 && claim_ms < 2000);
	p = kfix_owner_params("qemu", "vm1", NIC);
	vlc_expect_ok(vlc_call(f->c, "io.hostdevd.Release", p));
	json_object_put(p);
	close_all(fds, ARRAY_SIZE(fds));
	close(root_fd);
	kfix_wait_until(f, clients_are, &(size_t){ 1 }, "the flood's connections closed");
}

/* ---- timeouts --------------------------------------------------------- */

/* Part of a message, never finished: closed after the (shortened)
 * partial timeout, with a reason. */
static void test_half_sent_message(void **state)
{
	struct fixture *f = *state;
	int fd;
	double t0;
	json_object *reply;
	char *msg;

	if (!f)
		skip();
	fd = connect_as(f, U_LIST);
	t0 = now_ms();
	assert_int_equal(send(fd, "{\"method\":\"io.hostdevd.List", 27, 0), 27);
	msg = read_message(fd);
	assert_non_null(msg);
	assert_true(now_ms() - t0 >= 500);
	reply = vlc_json(msg);
	assert_string_equal(vlc_error(reply), "io.hostdevd.InvalidRequest");
	json_object_put(reply);
	free(msg);
	expect_eof(fd);
	close(fd);
}

/* ---- memory ----------------------------------------------------------- */

/* 40 list-only connections pipelining ListDevices and never reading: the
 * daemon's peak RSS grows by less than its budget; once they are gone its
 * RSS is back near where it was. */
static void test_pipelined_non_readers(void **state)
{
	struct fixture *f = *state;
	int fds[40];
	size_t len;
	_cleanup_free_ char *reqs = repeat("{\"method\":\"io.hostdevd.ListDevices\"}", 30000, &len);
	long before, peak, after;

	if (!f)
		skip();
	before = proc_kb(f->daemon.pid, "VmRSS");
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		fds[i] = connect_as(f, U_LIST);
		send_until_stalled(fds[i], reqs, len);
	}
	/* A few turns of the daemon's loop for whatever it still reads. */
	for (int i = 0; i < 20; i++)
		clients(f);
	peak = proc_kb(f->daemon.pid, "VmHWM");
	close_all(fds, ARRAY_SIZE(fds));
	kfix_wait_until(f, clients_are, &(size_t){ 1 }, "the non-readers closed");
	clients(f); /* the trim runs from the loop */
	after = proc_kb(f->daemon.pid, "VmRSS");
	fprintf(stderr, "it-hostile: 40 non-readers: RSS %.1f MiB, peak %.1f MiB, after %.1f MiB\n",
		before / 1024.0, peak / 1024.0, after / 1024.0);
	if (!rss_meaningful())
		return;
	if (peak - before > 96 * 1024)
		fail_msg("the daemon grew by %ld kB for 40 clients that do not read", peak - before);
	assert_true(after - before < 16 * 1024);
}

/* A Detach waiting on a stuck unbind, and its client pushing input behind
 * it: the daemon takes about one message's worth, then the client's
 * writes block; the daemon does not grow. */
static void test_input_behind_deferred_call(void **state)
{
	struct fixture *f = *state;
	static const char call[] = "{\"method\":\"io.hostdevd.Detach\",\"parameters\":"
				   "{\"device\":\"" NIC "\"}}";
	size_t len = 256u << 20, sent;
	_cleanup_free_ char *junk = xcalloc(1, len);
	_cleanup_free_ char *answer = NULL;
	long before, peak;
	int fd;

	if (!f)
		skip();
	memset(junk, 'x', len);
	before = proc_kb(f->daemon.pid, "VmHWM");
	kemu_block(f->root, "unbind", NIC);
	fd = connect_as(f, 0);
	assert_int_equal(send(fd, call, sizeof(call), 0), (ssize_t)sizeof(call));
	assert_true(kemu_wait_blocked(f->root, "unbind", NIC, IT_TIMEOUT_MS));
	sent = send_until_stalled(fd, junk, len);
	peak = proc_kb(f->daemon.pid, "VmHWM");
	kemu_release(f->root, "unbind", NIC);
	fprintf(stderr, "it-hostile: %.1f MiB taken behind a waiting Detach; peak RSS %+.1f MiB\n",
		(double)sent / MiB, (peak - before) / 1024.0);
	if (sent > 8u << 20)
		fail_msg("the daemon took %zu bytes behind a deferred call", sent);
	assert_true(!rss_meaningful() || peak - before < 16 * 1024);
	/* The Detach is answered (the unbind took longer than the step
	 * timeout, or went through once released) before anything else. */
	answer = read_message(fd);
	assert_non_null(answer);
	assert_non_null(strstr(answer, "Detach") ? answer : strstr(answer, "{"));
	close(fd);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, kfix_teardown)
	const struct CMUnitTest tests[] = {
		T(test_connection_flood),
		T(test_half_sent_message),
		T(test_pipelined_non_readers),
		T(test_input_behind_deferred_call),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
