/* hostdevctl, the real binary, against the real daemon on the standard mock
 * machine: what it prints and the exit codes scripts rely on (0 done,
 * 1 refused or failed, 2 usage, 3 daemon unreachable). */
#include "tests/integration/itest.h"
#include "tests/integration/stdmachine.h"
#include "tests/integration/vlc.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef HOSTDEVCTL_BIN
#error "HOSTDEVCTL_BIN must name the hostdevctl binary under test"
#endif

extern char **environ;

struct fixture {
	struct testbed *tb;
	struct hdproc daemon;
	json_object *expected;
	struct vlc *watch; /* paces the testbed: one Watch event per uevent */
};

struct ctl_run {
	int status;
	char *out, *err;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	if (!stdm_try_start(&f->tb, &f->daemon)) {
		free(f);
		fail_msg("hostdevd did not start");
	}
	f->expected = stdm_expected();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	/* A failed setup leaves no fixture. */
	if (!f)
		return 0;
	vlc_free(f->watch);
	stdm_stop(f->tb, &f->daemon);
	json_object_put(f->expected);
	free(f);
	unsetenv("HOSTDEVD_SOCKET");
	return 0;
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	int ch;

	while (fp && (ch = fgetc(fp)) != EOF)
		fputc(ch, out);
	if (fp)
		fclose(fp);
	fclose(out);
	return buf;
}

static int wait_exit(pid_t pid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), status;
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	assert_true(pidfd >= 0);
	if (poll(&p, 1, IT_TIMEOUT_MS) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		close(pidfd);
		fail_msg("hostdevctl did not finish within %d ms", IT_TIMEOUT_MS);
	}
	close(pidfd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/* Starts hostdevctl with `args`; stdout goes to `out_fd` if >= 0, else to
 * a file; stderr always to a file. */
static pid_t spawn_ctl(struct fixture *f, const char *const *args, int out_fd)
{
	const char *argv[32] = { HOSTDEVCTL_BIN };
	posix_spawn_file_actions_t fa;
	_cleanup_free_ char *out = NULL, *err = NULL;
	size_t n = 1;
	pid_t pid;

	for (; *args && n < 31; args++)
		argv[n++] = *args;
	assert_true(asprintf(&out, "%s/ctl.out", f->daemon.dir) > 0);
	assert_true(asprintf(&err, "%s/ctl.err", f->daemon.dir) > 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(posix_spawn(&pid, HOSTDEVCTL_BIN, &fa, NULL, (char **)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static struct ctl_run ctl(struct fixture *f, const char *const *args)
{
	struct ctl_run r;
	_cleanup_free_ char *out = NULL, *err = NULL;

	r.status = wait_exit(spawn_ctl(f, args, -1));
	assert_true(asprintf(&out, "%s/ctl.out", f->daemon.dir) > 0);
	assert_true(asprintf(&err, "%s/ctl.err", f->daemon.dir) > 0);
	r.out = slurp(out);
	r.err = slurp(err);
	return r;
}

static void ctl_done(struct ctl_run *r)
{
	free(r->out);
	free(r->err);
}

static void assert_exit(const struct ctl_run *r, int code)
{
	if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == code)
		return;
	fail_msg("hostdevctl: expected exit %d, got status %#x\nstdout:\n%s\nstderr:\n%s", code,
		 r->status, r->out, r->err);
}

static void assert_contains(const char *text, const char *needle, const char *what)
{
	if (!strstr(text, needle))
		fail_msg("%s lacks \"%s\":\n%s", what, needle, text);
}

#define SOCK(f) "--socket", (f)->daemon.socket_path

/* ---- list --------------------------------------------------------------- */

/* Each device on its own line, id first, under a header. */
static void test_list_table(void **state)
{
	struct fixture *f = *state;
	struct ctl_run r = ctl(f, (const char *[]){ SOCK(f), "list", NULL });
	size_t n;
	const char **ids = tb_present_ids(f->tb, &n);
	size_t lines = 0;

	assert_exit(&r, 0);
	for (const char *p = r.out; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, n + 1);
	for (size_t i = 0; i < n; i++) {
		char line_start[48];

		snprintf(line_start, sizeof(line_start), "\n%s ", ids[i]);
		assert_contains(r.out, line_start, "the list");
	}
	assert_string_equal(r.err, "");
	free(ids);
	ctl_done(&r);
}

static void test_list_json_is_the_protocol_record(void **state)
{
	struct fixture *f = *state;
	struct ctl_run r = ctl(f, (const char *[]){ SOCK(f), "--json", "list", NULL });
	json_object *devs;

	assert_exit(&r, 0);
	devs = vlc_json(r.out);
	vlc_assert_json_equal(f->expected, devs, "hostdevctl --json list");
	json_object_put(devs);
	ctl_done(&r);
}

static void test_list_filters(void **state)
{
	struct fixture *f = *state;
	struct ctl_run r = ctl(f, (const char *[]){ SOCK(f), "--json", "list", "--bus", "pci",
						    "--group", "10", NULL });
	json_object *devs;

	assert_exit(&r, 0);
	devs = vlc_json(r.out);
	assert_int_equal(json_object_array_length(devs), 4);
	vlc_assert_json_equal(stdm_expected_device(f->expected, "0000:05:01.0"),
			      json_object_array_get_idx(devs, 2), "third of group 10");
	json_object_put(devs);
	ctl_done(&r);

	r = ctl(f, (const char *[]){ SOCK(f), "list", "--driver", "e1000e", NULL });
	assert_exit(&r, 0);
	assert_contains(r.out, "\n0000:02:00.0 ", "the e1000e list");
	assert_contains(r.out, "\n0000:03:00.0 ", "the e1000e list");
	assert_null(strstr(r.out, "0000:06:00.0"));
	ctl_done(&r);
}

/* ---- show --------------------------------------------------------------- */

static void test_show_usb_by_serial(void **state)
{
	struct fixture *f = *state;
	struct ctl_run r = ctl(f, (const char *[]){ SOCK(f), "--json", "show",
						    "id:0781:5567:4C530001140918105142", NULL });
	json_object *dev;

	assert_exit(&r, 0);
	dev = vlc_json(r.out);
	vlc_assert_json_equal(stdm_expected_device(f->expected, "1-2.3"), dev, "show --json");
	json_object_put(dev);
	ctl_done(&r);

	r = ctl(f, (const char *[]){ SOCK(f), "show", "id:0781:5567:4C530001140918105142", NULL });
	assert_exit(&r, 0);
	assert_contains(r.out, "1-2.3", "show");
	assert_contains(r.out, "4C530001140918105142", "show");
	assert_contains(r.out, "Cruzer Blade", "show");
	assert_contains(r.out, "usb-storage", "show");
	ctl_done(&r);
}

static void test_show_failures_exit_1(void **state)
{
	struct fixture *f = *state;
	struct ctl_run r = ctl(f, (const char *[]){ SOCK(f), "show", "0000:09:00.0", NULL });

	assert_exit(&r, 1);
	assert_contains(r.err, "0000:09:00.0", "the not-found message");
	assert_string_equal(r.out, "");
	ctl_done(&r);

	r = ctl(f, (const char *[]){ SOCK(f), "show", "id:0781:5567", NULL });
	assert_exit(&r, 1);
	assert_contains(r.err, "1-2.2", "the ambiguity message");
	assert_contains(r.err, "1-2.3", "the ambiguity message");
	ctl_done(&r);
}

/* ---- reaching the daemon ------------------------------------------------ */

static void test_no_daemon_exits_3(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *nowhere = NULL;
	struct ctl_run r;

	assert_true(asprintf(&nowhere, "%s/nobody-here.sock", f->daemon.dir) > 0);
	r = ctl(f, (const char *[]){ "--socket", nowhere, "list", NULL });
	assert_exit(&r, 3);
	assert_contains(r.err, "not running", "the unreachable message");
	assert_contains(r.err, nowhere, "the unreachable message");
	ctl_done(&r);
}

static void test_socket_from_environment(void **state)
{
	struct fixture *f = *state;
	struct ctl_run r;
	json_object *status, *v;

	setenv("HOSTDEVD_SOCKET", f->daemon.socket_path, 1);
	r = ctl(f, (const char *[]){ "--json", "status", NULL });
	assert_exit(&r, 0);
	status = vlc_json(r.out);
	assert_true(json_object_object_get_ex(status, "devices", &v));
	assert_true(json_object_object_get_ex(v, "total", &v));
	assert_int_equal(json_object_get_int(v), 26);
	json_object_put(status);
	ctl_done(&r);
}

static void test_usage_errors_exit_2(void **state)
{
	struct fixture *f = *state;
	struct ctl_run r = ctl(f, (const char *[]){ SOCK(f), "frobnicate", NULL });

	assert_exit(&r, 2);
	assert_contains(r.err, "frobnicate", "the usage message");
	ctl_done(&r);
	r = ctl(f, (const char *[]){ SOCK(f), "list", "--bus", "scsi", NULL });
	assert_exit(&r, 2);
	ctl_done(&r);
}

/* ---- watch -------------------------------------------------------------- */

static void pace(const char *id, const char *action, void *ctx)
{
	struct fixture *f = ctx;

	json_object_put(vlc_recv(f->watch));
}

/* Reads one line (without its newline) from fd, within the deadline. */
static char *read_line(int fd)
{
	char buf[65536];
	size_t len = 0;

	while (len < sizeof(buf) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, IT_TIMEOUT_MS) != 1)
			fail_msg("no line from hostdevctl within %d ms", IT_TIMEOUT_MS);
		if (read(fd, buf + len, 1) != 1)
			return NULL;
		if (buf[len] == '\n')
			break;
		len++;
	}
	buf[len] = '\0';
	return xstrdup(buf);
}

static void test_watch_prints_events(void **state)
{
	struct fixture *f = *state;
	int pipefd[2];
	pid_t pid;
	_cleanup_free_ char *first = NULL, *unbind = NULL, *bind = NULL;
	json_object *o, *v;
	int64_t seq;
	int status;

	f->watch = vlc_connect(f->daemon.socket_path);
	vlc_send(f->watch, "io.hostdevd.Watch", NULL, true);
	json_object_put(vlc_recv(f->watch));
	tb_set_uevent_hook(f->tb, pace, f);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid = spawn_ctl(f, (const char *[]){ SOCK(f), "--json", "watch", "--count", "2", NULL },
			pipefd[1]);
	close(pipefd[1]);
	/* Its first line is the current sequence number: it is subscribed. */
	first = read_line(pipefd[0]);
	assert_non_null(first);
	tb_unbind(f->tb, "0000:02:00.0");
	tb_bind(f->tb, "0000:02:00.0", "vfio-pci");
	unbind = read_line(pipefd[0]);
	bind = read_line(pipefd[0]);
	assert_non_null(bind);
	status = wait_exit(pid);
	close(pipefd[0]);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	o = vlc_json(first);
	assert_true(json_object_object_get_ex(o, "sequence", &v));
	seq = json_object_get_int64(v);
	json_object_put(o);
	o = vlc_json(unbind);
	assert_true(json_object_object_get_ex(o, "sequence", &v));
	assert_int_equal(json_object_get_int64(v), seq + 1);
	assert_true(json_object_object_get_ex(o, "event", &v));
	assert_true(json_object_object_get_ex(v, "event", &v));
	assert_string_equal(json_object_get_string(v), "unbind");
	json_object_put(o);
	o = vlc_json(bind);
	assert_true(json_object_object_get_ex(o, "sequence", &v));
	assert_int_equal(json_object_get_int64(v), seq + 2);
	assert_true(json_object_object_get_ex(o, "event", &v));
	assert_true(json_object_object_get_ex(v, "device", &v));
	assert_true(json_object_object_get_ex(v, "state", &v));
	assert_string_equal(json_object_get_string(v), "detached");
	json_object_put(o);
}

#define T(fn) cmocka_unit_test(fn)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_list_table),
		T(test_list_json_is_the_protocol_record),
		T(test_list_filters),
		T(test_show_usb_by_serial),
		T(test_show_failures_exit_1),
		T(test_no_daemon_exits_3),
		T(test_socket_from_environment),
		T(test_usage_errors_exit_2),
		T(test_watch_prints_events),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
