/* The daemon as a process: one per state directory, and the harness that
 * runs it (readiness, deadlines, exit status, the wrapper).
 *
 * For the harness's own failure paths this program doubles as a fake
 * daemon: run with IT_FAKE_DAEMON set, it hangs, exits at once, or reports
 * ready and then exits 99 on SIGTERM as valgrind does when it found errors. */
#include "tests/integration/hdproc.h"
#include "tests/integration/itest.h"
#include "tests/integration/testbed.h"
#include "tests/integration/vlc.h"
#include "common/util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <limits.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char self[4096];

static int fake_daemon(const char *mode)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	sigset_t set;
	int fd, sig;

	if (streq(mode, "exit7"))
		return 7;
	if (streq(mode, "hang"))
		for (;;)
			pause(); /* until SIGTERM kills it */
	/* "ready-then-99" */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (!path)
		return 2;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	sigwait(&set, &sig);
	return 99;
}

/* What systemd does for a socket unit: binds and listens on the path the
 * command's --socket names, passes it as descriptor 3 with LISTEN_FDS=1
 * and LISTEN_PID (this pid, which exec keeps), and runs the command. */
static int socket_activate(char **cmd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = NULL;
	char pid[32];
	int fd;

	for (int i = 0; cmd[i]; i++)
		if (streq(cmd[i], "--socket") && cmd[i + 1])
			path = cmd[i + 1];
	if (!path)
		return 2;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
		return 3;
	if (fd != 3 && (dup2(fd, 3) < 0 || close(fd) < 0))
		return 4;
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_PID", pid, 1);
	execv(cmd[0], cmd);
	return 127;
}

struct fixture {
	struct testbed *tb;
	struct hdproc first;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->tb = tb_new();
	tb_build_standard(f->tb);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	/* A failed setup leaves no fixture. */
	if (!f)
		return 0;
	hdproc_cleanup(&f->first);
	tb_free(f->tb);
	free(f);
	unsetenv("HOSTDEVD_TEST_WRAPPER");
	unsetenv("IT_FAKE_DAEMON");
	return 0;
}

static void test_second_daemon_refuses_and_names_the_first(void **state)
{
	struct fixture *f = *state;
	struct hdproc second;
	struct hdproc_config cfg = { 0 };
	_cleanup_free_ char *log = NULL;
	char pid_text[64];
	struct vlc *c;
	json_object *reply;
	int r;

	hdproc_start_ok(&f->first, NULL);
	cfg.state_dir = f->first.state_dir;
	r = hdproc_start(&second, &cfg);
	assert_int_equal(r, -ECHILD);
	assert_true(WIFEXITED(second.status));
	assert_int_not_equal(WEXITSTATUS(second.status), 0);
	log = hdproc_log(&second);
	snprintf(pid_text, sizeof(pid_text), "pid %ld", (long)f->first.pid);
	if (!strstr(log, pid_text))
		fail_msg("the refusal does not name %s:\n%s", pid_text, log);
	if (!strstr(log, f->first.state_dir))
		fail_msg("the refusal does not name the state directory:\n%s", log);
	/* It did not take the socket either. */
	assert_int_equal(access(second.socket_path, F_OK), -1);
	hdproc_cleanup(&second);
	/* The first one serves on, unharmed. */
	c = vlc_connect(f->first.socket_path);
	reply = vlc_call(c, "io.hostdevd.GetStatus", NULL);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	vlc_free(c);
	hdproc_stop_ok(&f->first);
}

/* A daemon that stopped releases the lock: the next one starts. */
static void test_lock_released_on_exit(void **state)
{
	struct fixture *f = *state;
	struct hdproc second;
	struct hdproc_config cfg = { 0 };

	hdproc_start_ok(&f->first, NULL);
	hdproc_stop_ok(&f->first);
	cfg.state_dir = f->first.state_dir;
	hdproc_start_ok(&second, &cfg);
	hdproc_stop_ok(&second);
	hdproc_cleanup(&second);
}

static void test_sigint_stops_cleanly(void **state)
{
	struct fixture *f = *state;
	int status;

	hdproc_start_ok(&f->first, NULL);
	assert_int_equal(kill(f->first.pid, SIGINT), 0);
	status = hdproc_wait(&f->first, IT_TIMEOUT_MS);
	assert_true(status >= 0 && WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* It took its socket file with it. */
	assert_int_equal(access(f->first.socket_path, F_OK), -1);
}

/* Asks GetStatus until the log level is `want`.  A signal's handler runs on
 * the daemon's loop: a reply sent in the same turn may predate it, the next
 * turn's cannot, so each round trip is the wait, and two suffice. */
static void wait_log_level(const char *socket_path, const char *want)
{
	struct vlc *c = vlc_connect(socket_path);
	uint64_t deadline = now_ns() + (uint64_t)IT_TIMEOUT_MS * 1000000;
	char last[32] = "";

	while (now_ns() < deadline) {
		json_object *reply = vlc_call(c, "io.hostdevd.GetStatus", NULL), *v;

		assert_null(vlc_error(reply));
		assert_true(json_object_object_get_ex(vlc_params(reply), "log_level", &v));
		snprintf(last, sizeof(last), "%s", json_object_get_string(v));
		json_object_put(reply);
		if (streq(last, want))
			break;
	}
	vlc_free(c);
	assert_string_equal(last, want);
}

/* Asks GetDevice until the daemon has applied an unbind (no driver). */
static void wait_unbound(const char *socket_path, const char *id)
{
	struct vlc *c = vlc_connect(socket_path);
	uint64_t deadline = now_ns() + (uint64_t)IT_TIMEOUT_MS * 1000000;
	bool unbound = false;

	while (!unbound && now_ns() < deadline) {
		json_object *params = json_object_new_object(), *reply, *dev, *v;

		json_object_object_add(params, "device", json_object_new_string(id));
		reply = vlc_call(c, "io.hostdevd.GetDevice", params);
		json_object_put(params);
		assert_null(vlc_error(reply));
		assert_true(json_object_object_get_ex(vlc_params(reply), "device", &dev));
		unbound = !json_object_object_get_ex(dev, "driver", &v) || !v;
		json_object_put(reply);
	}
	vlc_free(c);
	assert_true(unbound);
}

static void test_sigusr_switches_log_level(void **state)
{
	struct fixture *f = *state;
	struct hdproc_config cfg = { .log_level = "info" };
	_cleanup_free_ char *log = NULL;

	hdproc_start_ok(&f->first, &cfg);
	wait_log_level(f->first.socket_path, "info");
	assert_int_equal(kill(f->first.pid, SIGUSR1), 0);
	wait_log_level(f->first.socket_path, "debug");
	/* Debug messages flow now: an unbind is logged as it is applied. */
	tb_unbind(f->tb, "0000:03:00.0");
	wait_unbound(f->first.socket_path, "0000:03:00.0");
	assert_int_equal(kill(f->first.pid, SIGUSR2), 0);
	wait_log_level(f->first.socket_path, "info");
	hdproc_stop_ok(&f->first);
	log = hdproc_log(&f->first);
	if (!strstr(log, "log level now debug") || !strstr(log, "log level now info"))
		fail_msg("the switches are not logged:\n%s", log);
	if (!strstr(log, "debug: 0000:03:00.0:"))
		fail_msg("no debug message for the unbind while at debug:\n%s", log);
}

/* Without --foreground the parent exits 0 once the daemon is ready, and the
 * daemon carries on in the background: serving, holding the lock under its
 * own pid, stopping cleanly on SIGTERM. */
static void test_background_mode(void **state)
{
	struct fixture *f = *state;
	struct hdproc_config cfg = { .background = true };
	char lock[PATH_MAX], pidtext[32] = "";
	struct pollfd pfd;
	struct vlc *c;
	json_object *reply;
	pid_t daemon_pid;
	int status, pidfd;
	FILE *fp;

	hdproc_start_ok(&f->first, &cfg);
	status = hdproc_wait(&f->first, IT_TIMEOUT_MS);
	assert_true(status >= 0 && WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	snprintf(lock, sizeof(lock), "%s/hostdevd.lock", f->first.state_dir);
	fp = fopen(lock, "r");
	assert_non_null(fp);
	assert_non_null(fgets(pidtext, sizeof(pidtext), fp));
	fclose(fp);
	daemon_pid = (pid_t)atol(pidtext);
	assert_true(daemon_pid > 0);
	assert_int_not_equal(daemon_pid, f->first.pid);
	c = vlc_connect(f->first.socket_path);
	reply = vlc_call(c, "io.hostdevd.GetStatus", NULL);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	vlc_free(c);
	/* Not our child: wait for its end through a pidfd. */
	pidfd = (int)syscall(SYS_pidfd_open, daemon_pid, 0);
	assert_true(pidfd >= 0);
	assert_int_equal(kill(daemon_pid, SIGTERM), 0);
	pfd = (struct pollfd){ .fd = pidfd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, IT_TIMEOUT_MS), 1);
	close(pidfd);
	assert_int_equal(access(f->first.socket_path, F_OK), -1);
}

/* ---- the harness -------------------------------------------------------- */

static void test_harness_reports_an_early_exit(void **state)
{
	struct fixture *f = *state;
	struct hdproc_config cfg = { .binary = self };

	setenv("IT_FAKE_DAEMON", "exit7", 1);
	assert_int_equal(hdproc_start(&f->first, &cfg), -ECHILD);
	assert_true(WIFEXITED(f->first.status));
	assert_int_equal(WEXITSTATUS(f->first.status), 7);
}

static void test_harness_ready_deadline(void **state)
{
	struct fixture *f = *state;
	struct hdproc_config cfg = { .binary = self, .ready_timeout_ms = 200 };
	int status;

	setenv("IT_FAKE_DAEMON", "hang", 1);
	assert_int_equal(hdproc_start(&f->first, &cfg), -ETIMEDOUT);
	status = hdproc_stop(&f->first);
	assert_true(status >= 0 && WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
}

/* The wrapper prefixes the command, and its exit status is the verdict. */
static void test_harness_wrapper_verdict(void **state)
{
	struct fixture *f = *state;
	struct hdproc_config cfg = { .binary = self };
	int status;

	setenv("HOSTDEVD_TEST_WRAPPER", "env IT_FAKE_DAEMON=ready-then-99", 1);
	assert_int_equal(hdproc_start(&f->first, &cfg), 0);
	status = hdproc_stop(&f->first);
	assert_true(status >= 0 && WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 99);
}

static void test_harness_runs_the_daemon_behind_a_wrapper(void **state)
{
	struct fixture *f = *state;

	setenv("HOSTDEVD_TEST_WRAPPER", "env", 1);
	hdproc_start_ok(&f->first, NULL);
	hdproc_stop_ok(&f->first);
}

/* Socket activation (hostdevd.socket): the daemon takes the listening
 * socket it is given instead of binding one, answers on it, reports it in
 * its log, and leaves the socket file (systemd's) in place when it stops. */
static void test_socket_activation(void **state)
{
	struct fixture *f = *state;
	struct vlc *c;
	char *log;
	struct stat st;

	{
		_cleanup_free_ char *wrapper = xasprintf("env IT_FAKE_DAEMON=activate %s", self);

		setenv("HOSTDEVD_TEST_WRAPPER", wrapper, 1);
	}
	hdproc_start_ok(&f->first, NULL);
	c = vlc_connect(f->first.socket_path);
	vlc_expect_ok(vlc_call(c, "org.varlink.service.GetInfo", NULL));
	vlc_free(c);
	log = hdproc_log(&f->first);
	assert_non_null(strstr(log, "(socket activation)"));
	free(log);
	hdproc_stop_ok(&f->first);
	assert_int_equal(stat(f->first.socket_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
}

/* One raw message (its NUL added) and the raw reply, NUL-terminated. */
static char *raw_call(const char *socket_path, const char *msg, size_t *reply_len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t cap = 1 << 16, n = 0;
	char *buf = xcalloc(1, cap);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, msg, strlen(msg) + 1), (ssize_t)strlen(msg) + 1);
	while (n == 0 || buf[n - 1] != '\0') {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		assert_int_equal(poll(&pfd, 1, IT_TIMEOUT_MS), 1);
		if (n == cap)
			buf = xrealloc(buf, cap *= 2);
		r = read(fd, buf + n, cap - n);
		assert_true(r > 0);
		n += (size_t)r;
	}
	close(fd);
	*reply_len = n - 1;
	return buf;
}

static void expect_invalid_request(const char *socket_path, const char *msg, const char *says)
{
	size_t len;
	_cleanup_free_ char *reply = raw_call(socket_path, msg, &len);

	if (!strstr(reply, "\"error\":\"org.varlink.service.InvalidRequest\"") &&
	    !strstr(reply, "\"error\":\"io.hostdevd.InvalidRequest\""))
		fail_msg("%s answered %s", msg, reply);
	if (!strstr(reply, says))
		fail_msg("%s answered %s, which does not say %s", msg, reply, says);
}

/* Through the real socket: a key given twice (json-c would run the last)
 * and a string that is not UTF-8 are refused, naming why; a USB product
 * string of 308 bytes comes back whole and every reply is UTF-8. */
static void test_strict_json_both_ways(void **state)
{
	struct fixture *f = *state;
	char product[512] = "YubiKey ", want[600];
	struct tb_usb key = { .id = "1-2.5", .parent = "1-2", .vendor = 0x1050, .product = 0x0407,
			      .bcd_device = 0x0543, .busnum = 1, .devnum = 9,
			      .manufacturer = "Yubico\xff", .product_name = product,
			      .speed = "12", .driver = "usb" };
	const char *calls[] = {
		"{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":{\"device\":\"1-2.5\"}}",
		"{\"method\":\"io.hostdevd.ListDevices\"}",
	};

	for (int i = 0; i < 100; i++)
		strcat(product, "\xe9\x8d\xb5");
	tb_add_usb_device(f->tb, &key);
	hdproc_start_ok(&f->first, NULL);
	expect_invalid_request(f->first.socket_path,
			       "{\"method\":\"io.hostdevd.GetStatus\",\"method\":\"io.hostdevd.Reset\"}",
			       "the key \\\"method\\\" appears twice");
	expect_invalid_request(f->first.socket_path,
			       "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":"
			       "{\"device\":\"1-2.1\",\"device\":\"1-2.5\"}}",
			       "the key \\\"device\\\" appears twice");
	expect_invalid_request(f->first.socket_path,
			       "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":"
			       "{\"device\":\"1-2.5\xff\"}}",
			       "not valid UTF-8");
	snprintf(want, sizeof(want), "\"product_name\":\"%s\"", product);
	for (size_t i = 0; i < ARRAY_SIZE(calls); i++) {
		size_t len;
		_cleanup_free_ char *reply = raw_call(f->first.socket_path, calls[i], &len);
		json_object *o = json_tokener_parse(reply);

		assert_non_null(o);
		json_object_put(o);
		assert_true(utf8_valid(reply, len));
		if (!strstr(reply, want))
			fail_msg("%s: the product is not whole in %s", calls[i], reply);
		assert_non_null(strstr(reply, "\"manufacturer\":\"Yubico\xef\xbf\xbd\""));
	}
	hdproc_stop_ok(&f->first);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_second_daemon_refuses_and_names_the_first),
		T(test_lock_released_on_exit),
		T(test_sigusr_switches_log_level),
		T(test_background_mode),
		T(test_sigint_stops_cleanly),
		T(test_harness_reports_an_early_exit),
		T(test_harness_ready_deadline),
		T(test_harness_wrapper_verdict),
		T(test_harness_runs_the_daemon_behind_a_wrapper),
		T(test_strict_json_both_ways),
		T(test_socket_activation),
	};
	const char *fake = getenv("IT_FAKE_DAEMON");
	ssize_t n;

	if (fake && argc > 1 && streq(fake, "activate"))
		return socket_activate(argv + 1);
	if (fake && argc > 1)
		return fake_daemon(fake);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	return cmocka_run_group_tests(tests, NULL, NULL);
}
