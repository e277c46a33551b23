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

/* ---- names from udev's hardware database ---------------------------------
 * The other tests run with HOSTDEVD_HWDB=off (tests/integration/
 * CMakeLists.txt), as the machine's hwdb.bin is the distribution's; these
 * turn it on, on the standard machine and one NIC no database lists. */

#define NAMELESS "0000:00:1f.6"

static int setup_names(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	setenv("HOSTDEVD_HWDB", "on", 1);
	f->tb = tb_new();
	tb_build_standard(f->tb);
	tb_add_pci(f->tb, &(struct tb_pci){ .addr = NAMELESS, .vendor = 0xfff0, .device = 0xfff0,
					    .class_code = 0x020000, .iommu_group = "30" });
	if (!hdproc_try_start(&f->daemon, NULL)) {
		tb_free(f->tb);
		free(f);
		fail_msg("hostdevd did not start");
	}
	f->expected = stdm_expected();
	*state = f;
	return 0;
}

static int teardown_names(void **state)
{
	unsetenv("HOSTDEVD_HWDB");
	return teardown(state);
}

static const char *str_member(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static json_object *get_device(struct vlc *c, const char *sel)
{
	json_object *p = json_object_new_object(), *reply, *dev;

	json_object_object_add(p, "device", json_object_new_string(sel));
	reply = vlc_call(c, "io.hostdevd.GetDevice", p);
	json_object_put(p);
	dev = json_object_get(vlc_param(reply, "device"));
	json_object_put(reply);
	return dev;
}

static void assert_device_names(struct vlc *c, const char *sel, const char *vendor,
				const char *product)
{
	json_object *dev = get_device(c, sel);

	if (vendor)
		assert_string_equal(str_member(dev, "vendor_name"), vendor);
	else
		assert_null(str_member(dev, "vendor_name"));
	if (product)
		assert_string_equal(str_member(dev, "product_name"), product);
	else
		assert_null(str_member(dev, "product_name"));
	json_object_put(dev);
}

/* GetDevice and ListDevices carry the names, and nothing else changes: the
 * records less their names are standard-devices.json's; a USB device keeps
 * its own strings beside them; the NIC nobody lists has none. */
static void test_names_in_records(void **state)
{
	struct fixture *f = *state;
	struct vlc *c = vlc_connect(f->daemon.socket_path);
	json_object *reply, *devs, *dev, *usb;
	size_t named = 0, n;

	assert_device_names(c, "0000:03:00.0", "Intel Corporation",
			    "82574L Gigabit Network Connection");
	assert_device_names(c, "usb1", "Linux Foundation", "2.0 root hub");
	assert_device_names(c, "1-2.3", "SanDisk Corp.", "Cruzer Blade");
	assert_device_names(c, NAMELESS, NULL, NULL);
	dev = get_device(c, "1-2.3");
	assert_true(json_object_object_get_ex(dev, "usb", &usb));
	assert_string_equal(str_member(usb, "product_name"),
			    str_member(json_object_object_get(stdm_expected_device(f->expected,
										  "1-2.3"),
							      "usb"),
				       "product_name"));
	json_object_put(dev);

	reply = vlc_call(c, "io.hostdevd.ListDevices", NULL);
	devs = vlc_param(reply, "devices");
	n = json_object_array_length(devs);
	assert_int_equal(n, json_object_array_length(f->expected) + 1);
	for (size_t i = 0; i < n; i++) {
		const char *id;

		dev = json_object_array_get_idx(devs, i);
		id = str_member(dev, "id");
		if (str_member(dev, "vendor_name"))
			named++;
		json_object_object_del(dev, "vendor_name");
		json_object_object_del(dev, "product_name");
		if (!streq(id, NAMELESS))
			vlc_assert_json_equal(stdm_expected_device(f->expected, id), dev, id);
	}
	/* Every device of the standard machine is a real model. */
	assert_int_equal(named, n - 1);
	json_object_put(reply);
	vlc_free(c);
}

/* The list's line of device id ends with name. */
static void assert_list_name(const char *list, const char *id, const char *name)
{
	_cleanup_free_ char *start = xasprintf("\n%s ", id), *end = xasprintf(" %s\n", name);
	const char *line = strstr(list, start), *eol;

	if (!line)
		fail_msg("no line for %s in the list:\n%s", id, list);
	eol = strchr(line + 1, '\n');
	if (!eol || (size_t)(eol + 1 - line) < strlen(end) ||
	    strncmp(eol + 1 - strlen(end), end, strlen(end)) != 0)
		fail_msg("%s is not named \"%s\" in the list:\n%s", id, name, list);
}

/* list: vendor and model, lspci's way; the class where the database has
 * no entry.  show: the two names on lines of their own. */
static void test_names_list_show(void **state)
{
	struct fixture *f = *state;
	struct ctl_run r = ctl(f, (const char *[]){ SOCK(f), "list", NULL });

	assert_exit(&r, 0);
	assert_list_name(r.out, "0000:03:00.0",
			 "Intel Corporation 82574L Gigabit Network Connection");
	assert_list_name(r.out, "1-2.3", "SanDisk Corp. Cruzer Blade");
	assert_list_name(r.out, NAMELESS, "Ethernet controller");
	ctl_done(&r);

	r = ctl(f, (const char *[]){ SOCK(f), "show", "03:00.0", NULL });
	assert_exit(&r, 0);
	assert_contains(r.out, "name:             Intel Corporation 82574L Gigabit Network "
			       "Connection\n",
			"show");
	assert_contains(r.out, "vendor name:      Intel Corporation\n"
			       "model name:       82574L Gigabit Network Connection\n",
			"show");
	ctl_done(&r);

	r = ctl(f, (const char *[]){ SOCK(f), "show", NAMELESS, NULL });
	assert_exit(&r, 0);
	assert_contains(r.out, "name:             Ethernet controller\n", "show");
	assert_contains(r.out, "vendor name:      -\nmodel name:       -\n", "show");
	ctl_done(&r);

	r = ctl(f, (const char *[]){ SOCK(f), "--json", "show", "03:00.0", NULL });
	assert_exit(&r, 0);
	assert_contains(r.out, "\"vendor_name\":\"Intel Corporation\"", "show --json");
	assert_contains(r.out, "\"product_name\":\"82574L Gigabit Network Connection\"",
			"show --json");
	ctl_done(&r);
}

/* A device that arrives is named in its Watch event. */
static void test_names_in_events(void **state)
{
	struct fixture *f = *state;
	struct vlc *c = vlc_connect(f->daemon.socket_path);
	json_object *o, *ev = NULL, *dev;

	vlc_send(c, "io.hostdevd.Watch", NULL, true);
	json_object_put(vlc_recv(c));
	tb_plug(f->tb, "0000:07:00.0");
	for (;;) {
		o = vlc_recv(c);
		if (json_object_object_get_ex(vlc_params(o), "event", &ev) &&
		    streq(str_member(ev, "event"), "add") && streq(str_member(ev, "id"), "0000:07:00.0"))
			break;
		json_object_put(o);
	}
	assert_true(json_object_object_get_ex(ev, "device", &dev));
	assert_string_equal(str_member(dev, "vendor_name"), "Intel Corporation");
	assert_string_equal(str_member(dev, "product_name"), "82574L Gigabit Network Connection");
	json_object_put(o);
	vlc_free(c);
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

	const struct CMUnitTest names[] = {
		T(test_names_in_records),
		T(test_names_list_show),
		T(test_names_in_events),
	};
	int failed = cmocka_run_group_tests(tests, setup, teardown);

	return failed + cmocka_run_group_tests(names, setup_names, teardown_names);
}
