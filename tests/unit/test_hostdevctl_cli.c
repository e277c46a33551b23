/* The real hostdevctl binary against a scripted fake daemon: what it sends,
 * what it prints, and the exit codes scripts rely on (0 done, 1 refused or
 * failed, 2 usage, 3 unreachable). */
#include "tests/unit/fake_varlink.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef HOSTDEVCTL_PATH
#error "HOSTDEVCTL_PATH must name the hostdevctl binary under test"
#endif

extern char **environ;

#define HINT "Try 'hostdevctl --help' for more information.\n"

#define NIC_JSON                                                                               \
	"{\"bus\":\"pci\",\"id\":\"0000:03:00.0\",\"syspath\":\"/sys/devices/pci0000:00/"    \
	"0000:00:1c.0/0000:03:00.0\",\"state\":\"host\",\"vendor\":\"8086\","                 \
	"\"product\":\"10d3\",\"driver\":\"e1000e\",\"parent\":\"0000:00:1c.0\","             \
	"\"children\":[],\"numa_node\":0,\"pci\":{\"class\":\"020000\",\"iommu_group\":12},"  \
	"\"usb\":null}"
#define KBD_JSON                                                                               \
	"{\"bus\":\"usb\",\"id\":\"1-2\",\"state\":\"host\",\"vendor\":\"046d\","             \
	"\"product\":\"c31c\",\"driver\":\"usb\",\"pci\":null,"                              \
	"\"usb\":{\"busnum\":1,\"devnum\":4,\"device_class\":\"00\","                         \
	"\"product_name\":\"USB Keyboard\",\"interfaces\":[{\"id\":\"1-2:1.0\","              \
	"\"class\":\"03\",\"subclass\":\"01\",\"protocol\":\"01\",\"driver\":\"usbhid\"}]}}"
#define DEVICES_REPLY "{\"parameters\":{\"devices\":[" NIC_JSON "," KBD_JSON "]}}"
#define TABLE                                                                                  \
	"ID            BUS  VENDOR:PRODUCT  CLASS   DRIVER  GROUP  STATE  NAME\n"               \
	"0000:03:00.0  pci  8086:10d3       020000  e1000e  12     host   Ethernet controller\n" \
	"1-2           usb  046d:c31c       00      usb     -      host   USB Keyboard\n"

enum out_mode { OUT_PIPE, OUT_CLOSED, OUT_PTY };

struct child {
	pid_t pid;
	int out_fd, err_fd;
};

struct result {
	int status; /* exit code, or 128 + signal */
	char *out, *err;
};

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

/* environ without HOSTDEVD_SOCKET, plus it set to socket_env when given. */
static char **child_env(const char *socket_env)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "HOSTDEVD_SOCKET=", 16) != 0)
			env[k++] = strdup(environ[i]);
	if (socket_env && asprintf(&env[k++], "HOSTDEVD_SOCKET=%s", socket_env) < 0)
		abort();
	return env;
}

static void free_strv(char **v)
{
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

/* The child's stdout: a pipe, a pipe nobody reads, or a terminal. */
static int stdout_for(enum out_mode mode, int *parent_end)
{
	int fds[2], master, slave;
	struct winsize ws = { .ws_row = 24, .ws_col = 77 };
	struct termios tio;

	if (mode == OUT_PTY) {
		assert_int_equal(openpty(&master, &slave, NULL, NULL, &ws), 0);
		/* Raw, so that "\n" is not turned into "\r\n". */
		assert_int_equal(tcgetattr(slave, &tio), 0);
		cfmakeraw(&tio);
		assert_int_equal(tcsetattr(slave, TCSANOW, &tio), 0);
		fcntl(master, F_SETFD, FD_CLOEXEC);
		fcntl(slave, F_SETFD, FD_CLOEXEC);
		*parent_end = master;
		return slave;
	}
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	if (mode == OUT_CLOSED) {
		close(fds[0]);
		*parent_end = -1;
	} else {
		*parent_end = fds[0];
	}
	return fds[1];
}

static struct child spawn_argv(const char *socket_env, enum out_mode mode, char **argv)
{
	posix_spawn_file_actions_t fa;
	struct child ch;
	int err_pipe[2], out_child;
	char **env = child_env(socket_env);

	out_child = stdout_for(mode, &ch.out_fd);
	assert_int_equal(pipe2(err_pipe, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out_child, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, err_pipe[1], STDERR_FILENO);
	assert_int_equal(posix_spawn(&ch.pid, HOSTDEVCTL_PATH, &fa, NULL, argv, env), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(out_child);
	close(err_pipe[1]);
	ch.err_fd = err_pipe[0];
	free_strv(env);
	return ch;
}

static struct child spawn_ctl(const char *socket_env, enum out_mode mode, const char *arg, ...)
{
	char *argv[32] = { "hostdevctl" };
	size_t n = 1;
	va_list ap;

	va_start(ap, arg);
	for (const char *a = arg; a; a = va_arg(ap, const char *)) {
		assert_true(n < 31);
		argv[n++] = (char *)a;
	}
	va_end(ap);
	return spawn_argv(socket_env, mode, argv);
}

/* Appends what fd has to *buf; false at its end (EIO: a pty whose other
 * side closed). */
static bool drain_some(int fd, char **buf, size_t *len)
{
	char chunk[4096];
	ssize_t n = read(fd, chunk, sizeof(chunk));

	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	*buf = realloc(*buf, *len + (size_t)n + 1);
	memcpy(*buf + *len, chunk, (size_t)n);
	*len += (size_t)n;
	(*buf)[*len] = '\0';
	return true;
}

static struct result collect(struct child *ch, char *out, size_t out_len)
{
	struct result r = { .out = out ? out : strdup(""), .err = strdup("") };
	size_t err_len = 0;
	struct pollfd p[2] = { { .fd = ch->out_fd, .events = POLLIN },
			       { .fd = ch->err_fd, .events = POLLIN } };
	int status;

	while (p[0].fd >= 0 || p[1].fd >= 0) {
		assert_true(poll(p, 2, 60000) > 0);
		if (p[0].revents && !drain_some(p[0].fd, &r.out, &out_len)) {
			close(p[0].fd);
			p[0].fd = -1;
		}
		if (p[1].revents && !drain_some(p[1].fd, &r.err, &err_len)) {
			close(p[1].fd);
			p[1].fd = -1;
		}
	}
	assert_int_equal(waitpid(ch->pid, &status, 0), ch->pid);
	r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return r;
}

#define run_ctl(socket_env, ...)                                                               \
	({                                                                                     \
		struct child _ch = spawn_ctl(socket_env, OUT_PIPE, __VA_ARGS__, NULL);        \
		collect(&_ch, NULL, 0);                                                        \
	})

static void expect_result(struct result *r, int status, const char *out, const char *err)
{
	if (r->status != status || strcmp(r->out, out) || strcmp(r->err, err))
		fprintf(stderr, "status %d\n--- stdout:\n%s--- stderr:\n%s---\n", r->status,
			r->out, r->err);
	assert_int_equal(r->status, status);
	assert_string_equal(r->out, out);
	assert_string_equal(r->err, err);
	result_free(r);
}

static void expect_calls(struct fake_server *f, const char *first, const char *second)
{
	fake_stop(f);
	assert_int_equal(fake_n_calls(f), second ? 2 : first ? 1 : 0);
	if (first)
		assert_string_equal(fake_call(f, 0), first);
	if (second)
		assert_string_equal(fake_call(f, 1), second);
	fake_free(f);
}

/* ---- list, show, status ---- */

static void test_list_table(void **state)
{
	static const struct fake_step steps[] = { { .replies = { DEVICES_REPLY } } };
	struct fake_server *f = fake_start(steps, 1);
	struct result r = run_ctl(fake_socket_path(f), "list");

	expect_result(&r, 0, TABLE, "");
	expect_calls(f, "{\"method\":\"io.hostdevd.ListDevices\",\"parameters\":{}}", NULL);
}

static void test_list_filters(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"devices\":[]}}" } },
		{ .replies = { "{\"parameters\":{\"devices\":[]}}" } },
	};
	struct fake_server *f = fake_start(steps, 2);
	struct result r = run_ctl(NULL, "--socket", fake_socket_path(f), "list", "--bus", "usb",
				  "--driver", "usbhid", "--group", "3", "--state", "detached");

	expect_result(&r, 0, "No device matches the filters.\n", "");
	r = run_ctl(fake_socket_path(f), "list");
	expect_result(&r, 0, "No devices.\n", "");
	expect_calls(f,
		     "{\"method\":\"io.hostdevd.ListDevices\",\"parameters\":{\"bus\":\"usb\","
		     "\"driver\":\"usbhid\",\"iommu_group\":3,\"state\":\"detached\"}}",
		     "{\"method\":\"io.hostdevd.ListDevices\",\"parameters\":{}}");
}

static void test_list_json(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { DEVICES_REPLY } },
		{ .replies = { DEVICES_REPLY } },
	};
	struct fake_server *f = fake_start(steps, 2);
	struct result r = run_ctl(fake_socket_path(f), "list", "--json");

	/* One line when stdout is not a terminal, slashes as they are. */
	expect_result(&r, 0, "[" NIC_JSON "," KBD_JSON "]\n", "");
	r = run_ctl(fake_socket_path(f), "-j", "list");
	expect_result(&r, 0, "[" NIC_JSON "," KBD_JSON "]\n", "");
	fake_free(f);
}

static void test_list_on_terminal(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { DEVICES_REPLY } },
		{ .replies = { "{\"parameters\":{\"device\":{\"bus\":\"usb\",\"n\":[1]}}}" } },
	};
	struct fake_server *f = fake_start(steps, 2);
	struct child ch = spawn_ctl(fake_socket_path(f), OUT_PTY, "list", NULL);
	struct result r = collect(&ch, NULL, 0);

	/* The 77-column terminal leaves 12 columns for the names. */
	expect_result(&r, 0,
		      "ID            BUS  VENDOR:PRODUCT  CLASS   DRIVER  GROUP  STATE  NAME\n"
		      "0000:03:00.0  pci  8086:10d3       020000  e1000e  12     host   Ethernet ...\n"
		      "1-2           usb  046d:c31c       00      usb     -      host   USB Keyboard\n",
		      "");
	ch = spawn_ctl(fake_socket_path(f), OUT_PTY, "show", "--json", "1-2", NULL);
	r = collect(&ch, NULL, 0);
	expect_result(&r, 0, "{\n  \"bus\": \"usb\",\n  \"n\": [\n    1\n  ]\n}\n", "");
	fake_free(f);
}

static void test_show(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"device\":" KBD_JSON "}}" } },
		{ .replies = { "{\"parameters\":{\"device\":" NIC_JSON "}}" } },
	};
	struct fake_server *f = fake_start(steps, 2);
	struct result r = run_ctl(fake_socket_path(f), "show", "usb:1.4");

	expect_result(&r, 0,
		      "id:               1-2\n"
		      "bus:              usb\n"
		      "name:             USB Keyboard\n"
		      "state:            host\n"
		      "vendor:product:   046d:c31c\n"
		      "vendor name:      -\n"
		      "model name:       -\n"
		      "driver:           usb\n"
		      "syspath:          -\n"
		      "parent:           -\n"
		      "children:         -\n"
		      "numa node:        -\n"
		      "usb address:      bus 1 device 4 (usb:1.4)\n"
		      "device class:     00\n"
		      "bcd device:       -\n"
		      "manufacturer:     -\n"
		      "product:          USB Keyboard\n"
		      "serial:           -\n"
		      "speed:            -\n"
		      "authorized:       -\n"
		      "root hub:         -\n"
		      "interfaces:\n"
		      "  1-2:1.0  class 03/01/01 (Human Interface Device)  driver usbhid\n",
		      "");
	r = run_ctl(fake_socket_path(f), "--json", "show", "0000:03:00.0");
	expect_result(&r, 0, NIC_JSON "\n", "");
	expect_calls(f,
		     "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":{\"device\":\"usb:1.4\"}}",
		     "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":{\"device\":"
		     "\"0000:03:00.0\"}}");
}

#define STATUS_REPLY                                                                           \
	"{\"parameters\":{\"version\":\"0.1.0\",\"uptime_seconds\":75.5,\"devices\":"          \
	"{\"total\":2,\"pci\":1,\"usb\":1,\"host\":2,\"detached\":0},\"event_source\":"        \
	"\"kernel\",\"events_received\":5,\"overflows\":0,\"resyncs\":0,\"sequence\":5,"       \
	"\"clients\":1,\"watchers\":0}}"

static void test_status(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { STATUS_REPLY } },
		{ .replies = { STATUS_REPLY } },
	};
	struct fake_server *f = fake_start(steps, 2);
	struct result r = run_ctl(fake_socket_path(f), "status");

	expect_result(&r, 0,
		      "version:          0.1.0\n"
		      "uptime:           1m 15s\n"
		      "devices:          2 (pci 1, usb 1; host 2, detached 0)\n"
		      "event source:     kernel\n"
		      "events received:  5\n"
		      "overflows:        0\n"
		      "resyncs:          0\n"
		      "sequence:         5\n"
		      "clients:          1\n"
		      "watchers:         0\n",
		      "");
	r = run_ctl(fake_socket_path(f), "status", "--json");
	expect_result(&r, 0,
		      "{\"version\":\"0.1.0\",\"uptime_seconds\":75.5,\"devices\":{\"total\":2,"
		      "\"pci\":1,\"usb\":1,\"host\":2,\"detached\":0},\"event_source\":\"kernel\","
		      "\"events_received\":5,\"overflows\":0,\"resyncs\":0,\"sequence\":5,"
		      "\"clients\":1,\"watchers\":0}\n",
		      "");
	expect_calls(f, "{\"method\":\"io.hostdevd.GetStatus\",\"parameters\":{}}",
		     "{\"method\":\"io.hostdevd.GetStatus\",\"parameters\":{}}");
}

/* ---- errors from hostdevd: exit 1 and a sentence ---- */

static void expect_refusal(const char *reply, const char *cmd, const char *arg,
			   const char *sentence)
{
	const struct fake_step steps[] = { { .replies = { reply } } };
	struct fake_server *f = fake_start(steps, 1);
	struct result r = run_ctl(fake_socket_path(f), cmd, arg);

	expect_result(&r, 1, "", sentence);
	fake_free(f);
}

static void test_daemon_errors(void **state)
{
	expect_refusal("{\"error\":\"io.hostdevd.DeviceNotFound\",\"parameters\":"
		       "{\"device\":\"id:1234:5678\"}}",
		       "show", "id:1234:5678",
		       "hostdevctl: no device matches 'id:1234:5678' "
		       "(io.hostdevd.DeviceNotFound)\n");
	expect_refusal("{\"error\":\"io.hostdevd.AmbiguousDevice\",\"parameters\":"
		       "{\"device\":\"id:046d:c31c\",\"matches\":[\"1-2\",\"3-1.4\"]}}",
		       "show", "id:046d:c31c",
		       "hostdevctl: 'id:046d:c31c' matches 2 devices: 1-2, 3-1.4; name one of "
		       "them by its port path (or PCI address) instead "
		       "(io.hostdevd.AmbiguousDevice)\n");
	expect_refusal("{\"error\":\"org.varlink.service.InvalidParameter\",\"parameters\":"
		       "{\"parameter\":\"state\"}}",
		       "list", "--state=claimed",
		       "hostdevctl: hostdevd rejected the parameter 'state' of "
		       "io.hostdevd.ListDevices (org.varlink.service.InvalidParameter)\n");
	expect_refusal("{\"error\":\"org.varlink.service.MethodNotFound\",\"parameters\":"
		       "{\"method\":\"io.hostdevd.GetStatus\"}}",
		       "status", NULL,
		       "hostdevctl: hostdevd does not know the method io.hostdevd.GetStatus; it "
		       "may be older than this hostdevctl (org.varlink.service.MethodNotFound)\n");
	expect_refusal("{\"error\":\"io.hostdevd.PermissionDenied\",\"parameters\":{}}", "list",
		       NULL,
		       "hostdevctl: hostdevd refused io.hostdevd.ListDevices: permission denied; "
		       "run as root or ask the administrator to grant this user the permission "
		       "in hostdevd's policy (io.hostdevd.PermissionDenied)\n");
}

static void test_malformed_replies(void **state)
{
	expect_refusal("{\"parameters\":{\"devices\":{}}}", "list", NULL,
		       "hostdevctl: hostdevd's reply to io.hostdevd.ListDevices lacks 'devices' "
		       "or it has the wrong type\n");
	expect_refusal("{\"parameters\":{}}", "show", "1-2",
		       "hostdevctl: hostdevd's reply to io.hostdevd.GetDevice lacks 'device' or "
		       "it has the wrong type\n");
	expect_refusal("[\"not a reply\"]", "status", NULL,
		       "hostdevctl: the reply to io.hostdevd.GetStatus is invalid: message is "
		       "not a JSON object\n");
}

/* ---- daemon unreachable: exit 3 and what to do ---- */

static void test_not_running(void **state)
{
	char *missing = fake_missing_socket_path(), *refusing = fake_refusing_socket_path();
	char *expected;
	struct result r;

	r = run_ctl(missing, "list");
	assert_true(asprintf(&expected,
			     "hostdevctl: hostdevd is not running (no socket at %s): start it "
			     "with `hostdevd --foreground` or set HOSTDEVD_SOCKET/--socket\n",
			     missing) > 0);
	expect_result(&r, 3, "", expected);
	free(expected);
	/* --socket wins over HOSTDEVD_SOCKET. */
	r = run_ctl(missing, "--socket", refusing, "status");
	assert_true(asprintf(&expected,
			     "hostdevctl: hostdevd is not running (nothing is listening on %s): "
			     "start it with `hostdevd --foreground` or set "
			     "HOSTDEVD_SOCKET/--socket\n",
			     refusing) > 0);
	expect_result(&r, 3, "", expected);
	free(expected);
	fake_remove_path(missing);
	fake_remove_path(refusing);
}

static void test_env_socket_and_default(void **state)
{
	static const struct fake_step steps[] = { { .replies = { STATUS_REPLY } } };
	struct fake_server *f = fake_start(steps, 1);
	struct result r = run_ctl(fake_socket_path(f), "--json", "status");

	/* HOSTDEVD_SOCKET alone leads to the daemon. */
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "\"event_source\":\"kernel\""));
	result_free(&r);
	fake_free(f);
	/* Without it, the default path (no daemon runs on the test machine's
	 * default socket: the message must name it). */
	if (access("/run/hostdevd/hostdevd.sock", F_OK) == 0)
		skip();
	r = run_ctl(NULL, "status");
	expect_result(&r, 3, "",
		      "hostdevctl: hostdevd is not running (no socket at "
		      "/run/hostdevd/hostdevd.sock): start it with `hostdevd --foreground` or "
		      "set HOSTDEVD_SOCKET/--socket\n");
}

static void test_timeout(void **state)
{
	static const struct fake_step steps[] = { { .after = FAKE_SILENT } };
	struct fake_server *f = fake_start(steps, 1);
	struct result r = run_ctl(fake_socket_path(f), "--timeout", "0.2", "status");

	expect_result(&r, 3, "",
		      "hostdevctl: hostdevd did not answer io.hostdevd.GetStatus within 0.2 s; "
		      "hostdevd's log may say why\n");
	fake_free(f);
}

static void test_closed_connection(void **state)
{
	static const struct fake_step steps[] = { { .after = FAKE_CLOSE } };
	struct fake_server *f = fake_start(steps, 1);
	struct result r = run_ctl(fake_socket_path(f), "show", "1-2");

	expect_result(&r, 3, "",
		      "hostdevctl: hostdevd closed the connection before answering "
		      "io.hostdevd.GetDevice; hostdevd's log may say why\n");
	fake_free(f);
}

/* ---- usage: exit 2, a one-line hint, and no call ---- */

static void expect_usage(const char *message, const char *a, const char *b, const char *c,
			 const char *d)
{
	struct fake_server *f = fake_start(NULL, 0);
	char *expected;
	struct result r = run_ctl(fake_socket_path(f), a, b, c, d);

	assert_true(asprintf(&expected, "hostdevctl: %s\n" HINT, message) > 0);
	expect_result(&r, 2, "", expected);
	free(expected);
	expect_calls(f, NULL, NULL);
}

static void test_usage_errors(void **state)
{
	expect_usage("no command given", NULL, NULL, NULL, NULL);
	expect_usage("no command given", "--json", NULL, NULL, NULL);
	expect_usage("unknown command 'frob'", "frob", NULL, NULL, NULL);
	expect_usage("unknown option '--frob'", "--frob", "list", NULL, NULL);
	expect_usage("unknown option '-x'", "list", "-x", NULL, NULL);
	expect_usage("unknown option '--count'", "list", "--count", "3", NULL);
	expect_usage("option '--socket' needs an argument", "--socket", NULL, NULL, NULL);
	expect_usage("option '--bus' needs an argument", "list", "--bus", NULL, NULL);
	expect_usage("--bus is pci or usb, not 'isa'", "list", "--bus", "isa", NULL);
	expect_usage("--state 'gone' is not a device state (see --help)", "list", "--state",
		     "gone", NULL);
	expect_usage("--group wants an IOMMU group number, not '-1'", "list", "--group=-1", NULL,
		     NULL);
	expect_usage("--group wants an IOMMU group number, not '3x'", "list", "--group", "3x",
		     NULL);
	expect_usage("'list' takes no argument 'pci'", "list", "pci", NULL, NULL);
	expect_usage("'status' takes no argument 'now'", "status", "now", NULL, NULL);
	expect_usage("'watch' takes no argument 'all'", "watch", "all", NULL, NULL);
	expect_usage("'show' needs a DEVICE (a PCI address, USB port path, id:VVVV:PPPP or "
		     "usb:BUS.DEV)",
		     "show", NULL, NULL, NULL);
	expect_usage("'show' takes one DEVICE, not also '1-3'", "show", "1-2", "1-3", NULL);
	expect_usage("--count wants a positive number of events, not '0'", "watch", "--count",
		     "0", NULL);
	expect_usage("--count wants a positive number of events, not 'many'", "watch", "-n",
		     "many", NULL);
	expect_usage("--timeout wants a number of seconds up to 86400, not '0'", "--timeout",
		     "0", "status", NULL);
	expect_usage("--timeout wants a number of seconds up to 86400, not 'nan'", "status",
		     "-t", "nan", NULL);
	expect_usage("'detach' needs a DEVICE (a PCI address such as 0000:03:00.0)", "detach",
		     NULL, NULL, NULL);
	expect_usage("'detach' needs a DEVICE (a PCI address such as 0000:03:00.0)", "detach",
		     "--driver", "pci-stub", NULL);
	expect_usage("'reattach' needs a DEVICE (a PCI address such as 0000:03:00.0)",
		     "reattach", "--json", NULL, NULL);
	expect_usage("'detach' takes one DEVICE, not also '0000:03:00.1'", "detach",
		     "0000:03:00.0", "0000:03:00.1", NULL);
	expect_usage("'reattach' takes one DEVICE, not also 'e1000e'", "reattach",
		     "0000:03:00.0", "e1000e", NULL);
	/* Any name goes to hostdevd, which knows its host's variants; what
	 * cannot be a driver's name stops here. */
#define DRIVER_USAGE                                                                         \
	"--driver takes a driver's or a module's name (vfio-pci, pci-stub or pciback, or a "   \
	"vfio-pci variant's: letters, digits, '-' and '_', at most 63), not "
	expect_usage(DRIVER_USAGE "'../vfio-pci'", "detach", "0000:03:00.0", "--driver",
		     "../vfio-pci");
	expect_usage(DRIVER_USAGE "'vfio*'", "claim", "--owner=qemu/vm1", "--driver", "vfio*");
	expect_usage(DRIVER_USAGE "''", "detach", "0000:03:00.0", "--driver", "");
	expect_usage(DRIVER_USAGE "'_vfio'", "detach", "0000:03:00.0", "--driver=_vfio", NULL);
	expect_usage(DRIVER_USAGE "'x123456789x123456789x123456789x123456789x123456789"
				  "x123456789x123'",
		     "detach", "0000:03:00.0", "--driver",
		     "x123456789x123456789x123456789x123456789x123456789x123456789x123");
#undef DRIVER_USAGE
	expect_usage("option '--driver' needs an argument", "detach", "0000:03:00.0",
		     "--driver", NULL);
	expect_usage("unknown option '-d'", "detach", "-d", "pci-stub", "0000:03:00.0");
	expect_usage("unknown option '--driver'", "reattach", "--driver", "e1000e",
		     "0000:03:00.0");
	expect_usage("unknown option '--count'", "detach", "--count", "1", "0000:03:00.0");
	expect_usage("--timeout wants a number of seconds up to 86400, not '-5'", "detach",
		     "0000:03:00.0", "--timeout", "-5");
}

static void test_help_and_version(void **state)
{
	struct result r = run_ctl(NULL, "--help");

	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	assert_true(strncmp(r.out, "Usage: hostdevctl [OPTIONS] COMMAND [ARGS]\n", 43) == 0);
	for (const char *const *w = (const char *const[]){ "  list [-b|--bus pci|usb] [-d|--driver NAME] [-g|--group N]",
							   "[-S|--state STATE]",
							   "  show DEVICE", "  watch [-n|--count N]",
							   "  status",
							   "  detach DEVICE [--driver STUB]",
							   "by default its vfio-pci variant driver "
							   "if modules.alias\n",
							   "vfio-pci (the plain one), pci-stub, "
							   "pciback (Xen's;\n",
							   "xen-pciback, its module's name, is taken too",
							   "vfio-pci variant by its driver's or "
							   "module's name;\n",
							   "  reattach DEVICE",
							   "need hostdevd's 'detach' permission",
							   "detach, reattach, reset, repair, claim and",
							   "  reset DEVICE [--owner DRIVER/DOMAIN]",
							   "reset its 'reset' permission",
							   "--socket PATH", "--json",
							   "--timeout SECS", "--version",
							   "HOSTDEVD_SOCKET", "3  hostdevd could not",
							   NULL };
	     *w; w++)
		assert_non_null(strstr(r.out, *w));
	result_free(&r);
	r = run_ctl(NULL, "show", "-h");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "Usage: hostdevctl"));
	result_free(&r);
	r = run_ctl(NULL, "detach", "--help");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "  detach DEVICE [--driver STUB]"));
	result_free(&r);
	r = run_ctl(NULL, "reattach", "0000:03:00.0", "-h");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "  reattach DEVICE"));
	result_free(&r);
	r = run_ctl(NULL, "--version");
	expect_result(&r, 0, "hostdevctl " HOSTDEVD_VERSION "\n", "");
}

/* ---- watch ---- */

#define WATCH_CALL "{\"method\":\"io.hostdevd.Watch\",\"parameters\":{},\"more\":true}"
#define W_START "{\"parameters\":{\"sequence\":10},\"continues\":true}"
#define W_ADD                                                                                  \
	"{\"parameters\":{\"sequence\":11,\"event\":{\"event\":\"add\",\"id\":"                \
	"\"0000:03:00.0\",\"device\":" NIC_JSON "}},\"continues\":true}"
#define W_RESYNC "{\"parameters\":{\"sequence\":14,\"resync\":true},\"continues\":true}"
#define W_BIND                                                                                 \
	"{\"parameters\":{\"sequence\":15,\"event\":{\"event\":\"bind\",\"id\":\"1-2\","       \
	"\"interface\":\"1-2:1.0\",\"device\":" KBD_JSON "}},\"continues\":true}"
#define ADD_LINE "11 add 0000:03:00.0 driver=e1000e state=host 8086:10d3 Ethernet controller\n"
#define RESYNC_LINE                                                                            \
	"14 resync: hostdevd lost kernel events and re-read sysfs; any device may have "     \
	"changed (run 'hostdevctl list')\n"

static void test_watch_count_and_gap(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { W_START, W_ADD, W_RESYNC, W_BIND }, .after = FAKE_SILENT },
	};
	struct fake_server *f = fake_start(steps, 1);
	struct result r = run_ctl(fake_socket_path(f), "watch", "--count", "3");

	expect_result(&r, 0,
		      ADD_LINE RESYNC_LINE
		      "15 bind 1-2 interface=1-2:1.0 driver=usbhid state=host 046d:c31c "
		      "USB Keyboard\n",
		      "hostdevctl: missed 2 event(s), 12 to 13; run 'hostdevctl list' for the "
		      "current table\n");
	expect_calls(f, WATCH_CALL, NULL);
}

static void test_watch_json_lines(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { W_START, W_ADD }, .after = FAKE_SILENT },
	};
	struct fake_server *f = fake_start(steps, 1);
	struct result r = run_ctl(fake_socket_path(f), "watch", "--json", "-n", "1");

	expect_result(&r, 0,
		      "{\"sequence\":10}\n"
		      "{\"sequence\":11,\"event\":{\"event\":\"add\",\"id\":\"0000:03:00.0\","
		      "\"device\":" NIC_JSON "}}\n",
		      "");
	fake_free(f);
}

static void test_watch_sequence_backwards(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { W_START, W_ADD,
			       "{\"parameters\":{\"sequence\":3,\"resync\":true},"
			       "\"continues\":true}" },
		  .after = FAKE_SILENT },
	};
	struct fake_server *f = fake_start(steps, 1);
	struct result r = run_ctl(fake_socket_path(f), "watch", "--count", "2");

	expect_result(&r, 0, ADD_LINE "3 resync: hostdevd lost kernel events and re-read sysfs; "
				      "any device may have changed (run 'hostdevctl list')\n",
		      "hostdevctl: event sequence went back from 11 to 3; run 'hostdevctl list' "
		      "for the current table\n");
	fake_free(f);
}

static void expect_watch_end(const struct fake_step *step, int status, const char *out,
			     const char *err)
{
	struct fake_server *f = fake_start(step, 1);
	struct result r = run_ctl(fake_socket_path(f), "watch");

	expect_result(&r, status, out, err);
	fake_free(f);
}

static void test_watch_endings(void **state)
{
	static const struct fake_step too_slow = {
		.replies = { W_START, W_ADD,
			     "{\"error\":\"io.hostdevd.WatcherTooSlow\",\"parameters\":"
			     "{\"sequence\":11}}" },
		.after = FAKE_SILENT,
	};
	static const struct fake_step daemon_gone = {
		.replies = { W_START, W_ADD }, .after = FAKE_CLOSE,
	};
	static const struct fake_step stream_ended = {
		.replies = { W_START, "{\"parameters\":{\"sequence\":11,\"resync\":true}}" },
		.after = FAKE_SILENT,
	};
	static const struct fake_step no_sequence = {
		.replies = { "{\"parameters\":{},\"continues\":true}" }, .after = FAKE_SILENT,
	};

	expect_watch_end(&too_slow, 1, ADD_LINE,
			 "hostdevctl: hostdevd dropped this watcher because it fell behind after "
			 "event 11; watch again and run 'hostdevctl list' to catch up "
			 "(io.hostdevd.WatcherTooSlow)\n");
	expect_watch_end(&daemon_gone, 3, ADD_LINE,
			 "hostdevctl: hostdevd closed the connection during io.hostdevd.Watch; "
			 "hostdevd's log may say why\n");
	expect_watch_end(&stream_ended, 3,
			 "11 resync: hostdevd lost kernel events and re-read sysfs; any device "
			 "may have changed (run 'hostdevctl list')\n",
			 "hostdevctl: hostdevd ended the event stream (is it shutting down?)\n");
	expect_watch_end(&no_sequence, 1, "",
			 "hostdevctl: hostdevd's reply to io.hostdevd.Watch has no sequence "
			 "number\n");
}

/* True while the process's main thread is blocked in poll(2)/ppoll(2). */
static bool process_in_poll(pid_t pid)
{
	char path[64];
	long nr = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	fp = fopen(path, "re");
	if (!fp)
		return false;
	if (fscanf(fp, "%ld", &nr) != 1)
		nr = -1;
	fclose(fp);
	return nr == SYS_poll || nr == SYS_ppoll;
}

/* Reads stdout until a whole line came, so we know the child is running
 * its loop; hands back what was read. */
static char *read_first_line(struct child *ch, size_t *len)
{
	char *buf = NULL;

	*len = 0;
	while (!buf || !strchr(buf, '\n'))
		assert_true(drain_some(ch->out_fd, &buf, len));
	return buf;
}

static void test_watch_sigint(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { W_START, W_ADD }, .after = FAKE_SILENT },
	};
	struct timespec tick = { .tv_nsec = 1000000 };
	struct fake_server *f = fake_start(steps, 1);
	struct child ch = spawn_ctl(fake_socket_path(f), OUT_PIPE, "watch", NULL);
	size_t len;
	char *out = read_first_line(&ch, &len);
	struct result r;

	/* Polling a condition with a deadline (10 s): the wait for events. */
	for (int i = 0; i < 10000 && !process_in_poll(ch.pid); i++)
		nanosleep(&tick, NULL);
	assert_true(process_in_poll(ch.pid));
	assert_int_equal(kill(ch.pid, SIGINT), 0);
	r = collect(&ch, out, len);
	expect_result(&r, 0, ADD_LINE, "");
	fake_free(f);
}

static void test_closed_stdout(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { W_START, W_ADD }, .after = FAKE_SILENT },
		{ .replies = { DEVICES_REPLY } },
	};
	struct fake_server *f = fake_start(steps, 2);
	/* `hostdevctl watch | head -0`: the reader is gone before the first
	 * event; no SIGPIPE death, no complaint. */
	struct child ch = spawn_ctl(fake_socket_path(f), OUT_CLOSED, "watch", NULL);
	struct result r = collect(&ch, NULL, 0);

	expect_result(&r, 0, "", "");
	ch = spawn_ctl(fake_socket_path(f), OUT_CLOSED, "list", NULL);
	r = collect(&ch, NULL, 0);
	expect_result(&r, 0, "", "");
	expect_calls(f, WATCH_CALL, "{\"method\":\"io.hostdevd.ListDevices\",\"parameters\":{}}");
}

/* ---- detach, reattach ---- */

#define DETACHED_NIC(original)                                                                 \
	"{\"bus\":\"pci\",\"id\":\"0000:03:00.0\",\"state\":\"detached\",\"vendor\":\"8086\","  \
	"\"product\":\"10d3\",\"driver\":\"vfio-pci\",\"original_driver\":" original "}"
#define HOST_NIC(driver)                                                                       \
	"{\"bus\":\"pci\",\"id\":\"0000:03:00.0\",\"state\":\"host\",\"vendor\":\"8086\","      \
	"\"product\":\"10d3\",\"driver\":" driver "}"
#define DETACH_CALL(params) "{\"method\":\"io.hostdevd.Detach\",\"parameters\":" params "}"
#define REATTACH_CALL                                                                          \
	"{\"method\":\"io.hostdevd.Reattach\",\"parameters\":{\"device\":\"0000:03:00.0\"}}"

static void test_detach(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"device\":" DETACHED_NIC("\"e1000e\"") "}}" } },
		{ .replies = { "{\"parameters\":{\"device\":" DETACHED_NIC("null") "}}" } },
	};
	struct fake_server *f = fake_start(steps, 2);
	struct result r = run_ctl(fake_socket_path(f), "detach", "0000:03:00.0");

	expect_result(&r, 0, "0000:03:00.0: detached, now on vfio-pci (was e1000e)\n", "");
	/* Options after the device; the reply's parameters as they came. */
	r = run_ctl(fake_socket_path(f), "detach", "0000:03:00.0", "--driver", "pci-stub",
		    "--json");
	expect_result(&r, 0, "{\"device\":" DETACHED_NIC("null") "}\n", "");
	expect_calls(f, DETACH_CALL("{\"device\":\"0000:03:00.0\"}"),
		     DETACH_CALL("{\"device\":\"0000:03:00.0\",\"driver\":\"pci-stub\"}"));
}

/* Xen's stub by its module's name is sent as the driver pciback, the
 * name driver_override takes; by its own name, likewise. */
static void test_detach_xen_pciback(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"device\":" DETACHED_NIC("\"e1000e\"") "}}" } },
		{ .replies = { "{\"parameters\":{\"device\":" DETACHED_NIC("\"e1000e\"") "}}" } },
	};
	struct fake_server *f = fake_start(steps, 2);
	struct result r = run_ctl(fake_socket_path(f), "detach", "0000:03:00.0", "--driver",
				  "xen-pciback", "--json");

	expect_result(&r, 0, "{\"device\":" DETACHED_NIC("\"e1000e\"") "}\n", "");
	r = run_ctl(fake_socket_path(f), "detach", "--driver=pciback", "0000:03:00.0", "--json");
	expect_result(&r, 0, "{\"device\":" DETACHED_NIC("\"e1000e\"") "}\n", "");
	expect_calls(f, DETACH_CALL("{\"device\":\"0000:03:00.0\",\"driver\":\"pciback\"}"),
		     DETACH_CALL("{\"device\":\"0000:03:00.0\",\"driver\":\"pciback\"}"));
}

static void test_detach_unrecorded_driver(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"device\":" DETACHED_NIC("null") "}}" } },
	};
	struct fake_server *f = fake_start(steps, 1);
	struct result r = run_ctl(fake_socket_path(f), "detach", "--driver=vfio-pci", "0000:03:00.0");

	expect_result(&r, 0,
		      "0000:03:00.0: detached, now on vfio-pci (no host driver recorded: reattach "
		      "takes whichever driver the kernel binds)\n",
		      "");
	expect_calls(f, DETACH_CALL("{\"device\":\"0000:03:00.0\",\"driver\":\"vfio-pci\"}"),
		     NULL);
}

#define REATTACH_REPLY(driver, outcome)                                                        \
	"{\"parameters\":{\"device\":" HOST_NIC(driver) ",\"driver\":" driver                   \
	",\"outcome\":\"" outcome "\"}}"

static void test_reattach_outcomes(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { REATTACH_REPLY("\"e1000e\"", "original") } },
		{ .replies = { REATTACH_REPLY("\"igb\"", "native") } },
		{ .replies = { REATTACH_REPLY("null", "unbound") } },
		{ .replies = { REATTACH_REPLY("\"e1000e\"", "original") } },
	};
	struct fake_server *f = fake_start(steps, 4);
	struct result r = run_ctl(fake_socket_path(f), "reattach", "0000:03:00.0");

	expect_result(&r, 0, "0000:03:00.0: reattached to e1000e (original driver)\n", "");
	r = run_ctl(fake_socket_path(f), "reattach", "0000:03:00.0");
	expect_result(&r, 0,
		      "0000:03:00.0: reattached to igb (none was recorded; the kernel chose it)\n",
		      "");
	r = run_ctl(fake_socket_path(f), "reattach", "0000:03:00.0");
	expect_result(&r, 0,
		      "0000:03:00.0: reattached, but no driver took it: none was recorded and the "
		      "host has none for it, so it stays unbound\n",
		      "");
	r = run_ctl(fake_socket_path(f), "-j", "reattach", "0000:03:00.0");
	expect_result(&r, 0,
		      "{\"device\":" HOST_NIC("\"e1000e\"") ",\"driver\":\"e1000e\","
		      "\"outcome\":\"original\"}\n",
		      "");
	fake_stop(f);
	assert_int_equal(fake_n_calls(f), 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(fake_call(f, i), REATTACH_CALL);
	fake_free(f);
}

static void test_operation_refusals(void **state)
{
	expect_refusal("{\"error\":\"io.hostdevd.DeviceBusy\",\"parameters\":{\"device\":"
		       "\"0000:03:00.0\",\"operation\":\"Detach\"}}",
		       "reattach", "0000:03:00.0",
		       "hostdevctl: hostdevd is already running a Detach of 0000:03:00.0; try "
		       "again when it has finished (a device in state error waits for a stuck "
		       "write to return first: 'hostdevctl watch' shows when its state changes) "
		       "(io.hostdevd.DeviceBusy)\n");
	expect_refusal("{\"error\":\"io.hostdevd.HostCritical\",\"parameters\":{\"device\":"
		       "\"0000:00:1c.0\",\"reason\":\"PCI bridge: its devices stay with the "
		       "host\"}}",
		       "detach", "0000:00:1c.0",
		       "hostdevctl: 0000:00:1c.0 must stay with the host, so hostdevd will not "
		       "detach it (PCI bridge: its devices stay with the host) "
		       "(io.hostdevd.HostCritical)\n");
	expect_refusal("{\"error\":\"io.hostdevd.InvalidDeviceState\",\"parameters\":"
		       "{\"device\":\"0000:03:00.0\",\"state\":\"host\"}}",
		       "reattach", "0000:03:00.0",
		       "hostdevctl: cannot reattach 0000:03:00.0: it is in state host, and "
		       "reattach needs state detached; it is with the host already "
		       "(io.hostdevd.InvalidDeviceState)\n");
	expect_refusal("{\"error\":\"io.hostdevd.InvalidDeviceState\",\"parameters\":"
		       "{\"device\":\"0000:03:00.0\",\"state\":\"detached\"}}",
		       "detach", "0000:03:00.0",
		       "hostdevctl: cannot detach 0000:03:00.0: it is in state detached, and "
		       "detach needs state host; it is on another stub: reattach it first, then "
		       "detach it to this one (io.hostdevd.InvalidDeviceState)\n");
	expect_refusal("{\"error\":\"io.hostdevd.DeviceNotFound\",\"parameters\":"
		       "{\"device\":\"0000:09:00.0\"}}",
		       "detach", "0000:09:00.0",
		       "hostdevctl: no device matches '0000:09:00.0' (io.hostdevd.DeviceNotFound)\n");
	expect_refusal("{\"error\":\"io.hostdevd.AmbiguousDevice\",\"parameters\":"
		       "{\"device\":\"id:046d:c31c\",\"matches\":[\"1-2\",\"3-1.4\"]}}",
		       "reattach", "id:046d:c31c",
		       "hostdevctl: 'id:046d:c31c' matches 2 devices: 1-2, 3-1.4; name one of "
		       "them by its port path (or PCI address) instead "
		       "(io.hostdevd.AmbiguousDevice)\n");
	expect_refusal("{\"error\":\"org.varlink.service.PermissionDenied\"}", "detach",
		       "0000:03:00.0",
		       "hostdevctl: hostdevd refused io.hostdevd.Detach: permission denied (it "
		       "needs the 'detach' permission); run as root or ask the administrator to "
		       "grant this user the permission in hostdevd's policy "
		       "(org.varlink.service.PermissionDenied)\n");
	expect_refusal("{\"error\":\"io.hostdevd.PermissionDenied\",\"parameters\":{}}",
		       "reattach", "0000:03:00.0",
		       "hostdevctl: hostdevd refused io.hostdevd.Reattach: permission denied (it "
		       "needs the 'detach' permission); run as root or ask the administrator to "
		       "grant this user the permission in hostdevd's policy "
		       "(io.hostdevd.PermissionDenied)\n");
}

static void test_operation_failures(void **state)
{
	expect_refusal("{\"error\":\"io.hostdevd.OperationFailed\",\"parameters\":{\"device\":"
		       "\"0000:03:00.0\",\"step\":\"unbind\",\"errno\":16,\"message\":\"write "
		       "/sys/bus/pci/drivers/e1000e/unbind: Device or resource busy\"}}",
		       "detach", "0000:03:00.0",
		       "hostdevctl: detach of 0000:03:00.0 failed at step unbind: Device or "
		       "resource busy (write /sys/bus/pci/drivers/e1000e/unbind: Device or "
		       "resource busy); hostdevd undid the steps before it; if that failed too, "
		       "the message says so and the device is in state error "
		       "(io.hostdevd.OperationFailed)\n");
	expect_refusal("{\"error\":\"io.hostdevd.OperationFailed\",\"parameters\":{\"device\":"
		       "\"1-2\",\"step\":\"check\",\"errno\":95,\"message\":\"1-2 is a usb "
		       "device: Reattach is for PCI functions\"}}",
		       "reattach", "1-2",
		       "hostdevctl: reattach of 1-2 failed at step check: Operation not supported "
		       "(1-2 is a usb device: Reattach is for PCI functions); nothing was changed "
		       "(io.hostdevd.OperationFailed)\n");
	expect_refusal("{\"error\":\"io.hostdevd.Timeout\",\"parameters\":{\"device\":"
		       "\"0000:03:00.0\",\"step\":\"unbind\",\"seconds\":10}}",
		       "detach", "0000:03:00.0",
		       "hostdevctl: detach of 0000:03:00.0 timed out: the unbind write did not "
		       "return within 10 s; the device is left in state error until the kernel "
		       "finishes the write and hostdevd re-reads it and rolls it back "
		       "('hostdevctl watch' shows when; whatever uses the device may be holding "
		       "it) (io.hostdevd.Timeout)\n");
	expect_refusal("{\"error\":\"io.hostdevd.Timeout\",\"parameters\":{\"device\":"
		       "\"0000:03:00.0\",\"step\":\"confirm_bind\",\"seconds\":2.5}}",
		       "reattach", "0000:03:00.0",
		       "hostdevctl: reattach of 0000:03:00.0 timed out: no driver bound within "
		       "2.5 s; hostdevd undid the steps (if that failed, the device is in state "
		       "error: see 'hostdevctl show 0000:03:00.0') (io.hostdevd.Timeout)\n");
	expect_refusal("{\"parameters\":{\"driver\":\"e1000e\",\"outcome\":\"original\"}}",
		       "reattach", "0000:03:00.0",
		       "hostdevctl: hostdevd's reply to io.hostdevd.Reattach lacks 'device' or it "
		       "has the wrong type\n");
	expect_refusal("{\"parameters\":{\"device\":\"0000:03:00.0\"}}", "detach",
		       "0000:03:00.0",
		       "hostdevctl: hostdevd's reply to io.hostdevd.Detach lacks 'device' or it "
		       "has the wrong type\n");
}

static void test_operation_no_answer(void **state)
{
	static const struct fake_step steps[] = {
		{ .after = FAKE_SILENT },
		{ .after = FAKE_CLOSE },
	};
	struct fake_server *f = fake_start(steps, 2);
	/* --timeout still wins over the long default. */
	struct result r = run_ctl(fake_socket_path(f), "detach", "--timeout", "0.2",
				  "0000:03:00.0");

	expect_result(&r, 3, "",
		      "hostdevctl: hostdevd did not answer io.hostdevd.Detach within 0.2 s; the "
		      "operation may still go on in hostdevd: 'hostdevctl show 0000:03:00.0' "
		      "tells where the device is, hostdevd's log what happened\n");
	r = run_ctl(fake_socket_path(f), "reattach", "0000:03:00.0");
	expect_result(&r, 3, "",
		      "hostdevctl: hostdevd closed the connection before answering "
		      "io.hostdevd.Reattach; the operation may still go on in hostdevd: "
		      "'hostdevctl show 0000:03:00.0' tells where the device is, hostdevd's log "
		      "what happened\n");
	fake_free(f);
}

/* The timeout argument of the poll(2) the process is blocked in, as /proc
 * shows it; false when it is not in poll(2) (ppoll passes a pointer). */
static bool poll_timeout_arg(pid_t pid, long long *timeout_ms)
{
	char path[64];
	long nr = -1;
	unsigned long long fds, nfds, timeout;
	FILE *fp;
	bool ok;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	fp = fopen(path, "re");
	if (!fp)
		return false;
	ok = fscanf(fp, "%ld %llx %llx %llx", &nr, &fds, &nfds, &timeout) == 4;
	fclose(fp);
#ifdef SYS_poll
	if (ok && nr == SYS_poll) {
		*timeout_ms = (long long)(int)timeout;
		return true;
	}
#endif
	return false;
}

/* Starts hostdevctl against a daemon that never answers and reads how long
 * it is prepared to wait; SIGTERM ends it. */
static long long waiting_time(const char *a, const char *b, const char *c, const char *d)
{
	static const struct fake_step steps[] = { { .after = FAKE_SILENT } };
	struct timespec tick = { .tv_nsec = 1000000 };
	struct fake_server *f = fake_start(steps, 1);
	struct child ch = spawn_ctl(fake_socket_path(f), OUT_PIPE, a, b, c, d, NULL);
	long long ms = -1;
	struct result r;

	/* Polling a condition with a deadline (10 s): the wait for the reply. */
	for (int i = 0; i < 10000 && !process_in_poll(ch.pid); i++)
		nanosleep(&tick, NULL);
	assert_true(process_in_poll(ch.pid));
	if (!poll_timeout_arg(ch.pid, &ms))
		ms = -2;
	assert_int_equal(kill(ch.pid, SIGTERM), 0);
	r = collect(&ch, NULL, 0);
	assert_int_equal(r.status, 128 + SIGTERM);
	result_free(&r);
	fake_free(f);
	return ms;
}

static void test_operation_timeouts(void **state)
{
	long long ms = waiting_time("detach", "0000:03:00.0", NULL, NULL);

	if (ms == -2)
		skip(); /* this libc waits in ppoll(2): the timeout is not in /proc */
	/* The long default for the calls that wait for the kernel... */
	assert_true(ms > 30000 && ms <= 120000);
	ms = waiting_time("reattach", "0000:03:00.0", NULL, NULL);
	assert_true(ms > 30000 && ms <= 120000);
	/* ...--timeout before or after the command wins over it... */
	ms = waiting_time("--timeout", "45", "reattach", "0000:03:00.0");
	assert_true(ms > 30000 && ms <= 45000);
	ms = waiting_time("detach", "0000:03:00.0", "-t", "1");
	assert_true(ms > 0 && ms <= 1000);
	/* ...and the other calls keep theirs. */
	ms = waiting_time("show", "0000:03:00.0", NULL, NULL);
	assert_true(ms > 0 && ms <= 30000);
}

/* ---- reset ---- */

#define RESET_CALL(params) "{\"method\":\"io.hostdevd.Reset\",\"parameters\":" params "}"
#define RESET_REPLY(methods)                                                                   \
	"{\"parameters\":{\"device\":\"0000:03:00.0\",\"methods\":" methods "}}"

static void test_reset(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { RESET_REPLY("[\"flr\",\"pm\",\"bus\"]") } },
		{ .replies = { RESET_REPLY("[]") } },
	};
	struct fake_server *f = fake_start(steps, 2);
	struct result r = run_ctl(fake_socket_path(f), "reset", "0000:03:00.0");

	expect_result(&r, 0, "0000:03:00.0: reset (kernel methods: flr, pm, bus)\n", "");
	/* The owner goes as an Owner; --json prints the reply as it came. */
	r = run_ctl(fake_socket_path(f), "reset", "0000:03:00.0", "--owner", "qemu/vm1", "-j");
	expect_result(&r, 0, "{\"device\":\"0000:03:00.0\",\"methods\":[]}\n", "");
	expect_calls(f, RESET_CALL("{\"device\":\"0000:03:00.0\"}"),
		     RESET_CALL("{\"device\":\"0000:03:00.0\",\"owner\":{\"driver\":\"qemu\","
				"\"domain\":\"vm1\"}}"));
}

static void test_reset_refusals(void **state)
{
	expect_refusal("{\"error\":\"io.hostdevd.OperationFailed\",\"parameters\":{\"device\":"
		       "\"0000:05:01.0\",\"step\":\"reset\",\"errno\":25,\"message\":\"0000:05:01.0: "
		       "the kernel offers no reset method for it (no reset attribute)\"}}",
		       "reset", "0000:05:01.0",
		       "hostdevctl: reset of 0000:05:01.0 failed at step reset: Inappropriate "
		       "ioctl for device (0000:05:01.0: the kernel offers no reset method for it "
		       "(no reset attribute)); the device keeps its driver and state "
		       "(io.hostdevd.OperationFailed)\n");
	expect_refusal("{\"error\":\"io.hostdevd.DeviceInUse\",\"parameters\":{\"device\":"
		       "\"0000:03:00.0\",\"driver\":\"qemu\",\"domain\":\"vm1\"}}",
		       "reset", "0000:03:00.0",
		       "hostdevctl: 0000:03:00.0 is in use by driver qemu, domain vm1; only its "
		       "owner may reset it (hostdevctl reset 0000:03:00.0 --owner qemu/vm1) "
		       "(io.hostdevd.DeviceInUse)\n");
	expect_refusal("{\"error\":\"io.hostdevd.Timeout\",\"parameters\":{\"device\":"
		       "\"0000:03:00.0\",\"step\":\"reset\",\"seconds\":10}}",
		       "reset", "0000:03:00.0",
		       "hostdevctl: reset of 0000:03:00.0 timed out: the kernel's reset did not "
		       "return within 10 s; hostdevd answers DeviceBusy for 0000:03:00.0 until "
		       "it does (its driver and state are left as they were) "
		       "(io.hostdevd.Timeout)\n");
	expect_refusal("{\"error\":\"io.hostdevd.HostCritical\",\"parameters\":{\"device\":"
		       "\"0000:00:1c.0\",\"reason\":\"PCI bridge: its devices stay with the "
		       "host\"}}",
		       "reset", "0000:00:1c.0",
		       "hostdevctl: 0000:00:1c.0 must stay with the host, so hostdevd will not "
		       "reset it (PCI bridge: its devices stay with the host) "
		       "(io.hostdevd.HostCritical)\n");
	expect_refusal("{\"error\":\"org.varlink.service.PermissionDenied\"}", "reset",
		       "0000:03:00.0",
		       "hostdevctl: hostdevd refused io.hostdevd.Reset: permission denied (it "
		       "needs the 'reset' permission); run as root or ask the administrator to "
		       "grant this user the permission in hostdevd's policy "
		       "(org.varlink.service.PermissionDenied)\n");
	expect_refusal("{\"parameters\":{\"device\":\"0000:03:00.0\"}}", "reset", "0000:03:00.0",
		       "hostdevctl: hostdevd's reply to io.hostdevd.Reset lacks 'methods' or it "
		       "has the wrong type\n");
}

static void test_reset_usage_errors(void **state)
{
	expect_usage("'reset' needs a DEVICE (a PCI address such as 0000:03:00.0)", "reset",
		     NULL, NULL, NULL);
	expect_usage("'reset' takes one DEVICE, not also '0000:02:00.0'", "reset",
		     "0000:03:00.0", "0000:02:00.0", NULL);
	expect_usage("--owner is DRIVER/DOMAIN, the hypervisor driver and the guest's name "
		     "(e.g. qemu/vm1), not 'qemu'",
		     "reset", "0000:03:00.0", "--owner", "qemu");
}

/* ---- claim, release, claims ---- */

#define QEMU_VM1 "{\"driver\":\"qemu\",\"domain\":\"vm1\"}"
#define UUID "c7a5fdbd-cdaf-9455-926a-d65c16db1809"
#define LIBXL_VM2 "{\"driver\":\"libxl\",\"domain\":\"vm2\",\"uuid\":\"" UUID "\"}"
#define ENTRY(dev, owner, managed, pid)                                                        \
	"{\"device\":\"" dev "\",\"owner\":" owner ",\"managed\":" managed ",\"uid\":0,"        \
	"\"gid\":0,\"pid\":" pid ",\"since\":\"2026-11-25T00:02:44Z\"}"
#define CLAIM_CALL(params) "{\"method\":\"io.hostdevd.Claim\",\"parameters\":" params "}"
#define RELEASE_CALL(params) "{\"method\":\"io.hostdevd.Release\",\"parameters\":" params "}"
#define LIST_CLAIMS_CALL(params)                                                               \
	"{\"method\":\"io.hostdevd.ListClaims\",\"parameters\":" params "}"
#define MANAGED_LINE(dev, owner)                                                               \
	dev ": claimed by " owner " (managed: at release it goes back to its host driver)\n"

static void test_claim(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"claims\":[" ENTRY("0000:03:00.0", QEMU_VM1,
								      "true", "4242") "]}}" } },
		{ .replies = { "{\"parameters\":{\"claims\":[" ENTRY("0000:05:00.0", LIBXL_VM2,
								      "false", "7") "]}}" } },
	};
	struct fake_server *f = fake_start(steps, 2);
	struct result r = run_ctl(fake_socket_path(f), "claim", "--owner", "qemu/vm1",
				  "0000:03:00.0");

	expect_result(&r, 0, MANAGED_LINE("0000:03:00.0", "qemu/vm1"), "");
	/* Every option, after and between the devices; --json: the reply. */
	r = run_ctl(fake_socket_path(f), "claim", "0000:05:00.0", "--owner=libxl/vm2", "--uuid",
		    UUID, "--unmanaged", "0000:05:01.0", "--whole-group", "--driver", "pci-stub",
		    "--json");
	expect_result(&r, 0,
		      "{\"claims\":[" ENTRY("0000:05:00.0", LIBXL_VM2, "false", "7") "]}\n", "");
	expect_calls(f, CLAIM_CALL("{\"owner\":" QEMU_VM1 ",\"devices\":[\"0000:03:00.0\"]}"),
		     CLAIM_CALL("{\"owner\":" LIBXL_VM2 ",\"devices\":[\"0000:05:00.0\","
				"\"0000:05:01.0\"],\"managed\":false,\"whole_group\":true,"
				"\"driver\":\"pci-stub\"}"));
}

/* A vfio-pci variant's name, by its driver's or its module's, goes to
 * hostdevd as given (claim, run and detach alike): the client cannot know
 * the host's variants.  A 63-character name is still a name. */
static void test_driver_variant_names_sent(void **state)
{
	static const char long_name[] =
		"x123456789x123456789x123456789x123456789x123456789x123456789x12";
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"claims\":[" ENTRY("0000:03:00.0", QEMU_VM1,
								      "true", "4242") "]}}" } },
		{ .replies = { "{\"parameters\":{\"device\":" DETACHED_NIC("\"e1000e\"") "}}" } },
	};
	struct fake_server *f = fake_start(steps, 2);
	struct result r = run_ctl(fake_socket_path(f), "claim", "--owner", "qemu/vm1", "--driver",
				  "mlx5_vfio_pci", "0000:03:00.0");

	expect_result(&r, 0, MANAGED_LINE("0000:03:00.0", "qemu/vm1"), "");
	r = run_ctl(fake_socket_path(f), "detach", "0000:03:00.0", "--driver=nvgrace-gpu-vfio-pci",
		    "--json");
	expect_result(&r, 0, "{\"device\":" DETACHED_NIC("\"e1000e\"") "}\n", "");
	expect_calls(f,
		     CLAIM_CALL("{\"owner\":" QEMU_VM1 ",\"devices\":[\"0000:03:00.0\"],"
				"\"driver\":\"mlx5_vfio_pci\"}"),
		     DETACH_CALL("{\"device\":\"0000:03:00.0\",\"driver\":"
				 "\"nvgrace-gpu-vfio-pci\"}"));
	f = fake_start(steps + 1, 1);
	r = run_ctl(fake_socket_path(f), "detach", "0000:03:00.0", "--driver", long_name,
		    "--json");
	expect_result(&r, 0, "{\"device\":" DETACHED_NIC("\"e1000e\"") "}\n", "");
	expect_calls(f,
		     DETACH_CALL("{\"device\":\"0000:03:00.0\",\"driver\":\"x123456789x123456789"
				 "x123456789x123456789x123456789x123456789x12\"}"),
		     NULL);
}

/* hostdevd's answer to a name it has no driver for: one sentence with
 * the names it takes, exit 1. */
static void test_unknown_driver_refused(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"error\":\"io.hostdevd.UnknownDriver\",\"parameters\":"
			       "{\"driver\":\"mlx5_vfio_pci\",\"accepted\":[\"vfio-pci\","
			       "\"pci-stub\",\"pciback\",\"xen-pciback\",\"e1000e-vfio\","
			       "\"e1000e_vfio_pci\"]}}" } },
	};
	struct fake_server *f = fake_start(steps, 1);
	struct result r = run_ctl(fake_socket_path(f), "detach", "0000:03:00.0", "--driver",
				  "mlx5_vfio_pci");

	expect_result(&r, 1, "",
		      "hostdevctl: hostdevd has no driver 'mlx5_vfio_pci' to detach to: it takes "
		      "vfio-pci, pci-stub, pciback, xen-pciback, e1000e-vfio, e1000e_vfio_pci (a "
		      "stub, or a vfio-pci variant of this host by its driver's or its module's "
		      "name); leave --driver out for the device's own vfio-pci variant, or "
		      "vfio-pci when it has none ('hostdevctl show DEVICE' names it) "
		      "(io.hostdevd.UnknownDriver)\n");
	expect_calls(f, DETACH_CALL("{\"device\":\"0000:03:00.0\",\"driver\":"
				    "\"mlx5_vfio_pci\"}"),
		     NULL);
}

/* claim --driver xen-pciback: sent as pciback, the driver's name. */
static void test_claim_xen_pciback(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"claims\":[" ENTRY("0000:03:00.0", LIBXL_VM2,
								      "true", "7") "]}}" } },
	};
	struct fake_server *f = fake_start(steps, 1);
	struct result r = run_ctl(fake_socket_path(f), "claim", "--owner=libxl/vm2", "--driver",
				  "xen-pciback", "0000:03:00.0");

	expect_result(&r, 0, MANAGED_LINE("0000:03:00.0", "libxl/vm2"), "");
	expect_calls(f,
		     CLAIM_CALL("{\"owner\":{\"driver\":\"libxl\",\"domain\":\"vm2\"},"
				"\"devices\":[\"0000:03:00.0\"],\"driver\":\"pciback\"}"),
		     NULL);
}

static void test_claim_group(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"claims\":["
			       ENTRY("0000:05:00.0", QEMU_VM1, "true", "1") ","
			       ENTRY("0000:05:01.0", QEMU_VM1, "true", "1") ","
			       ENTRY("0000:05:02.0", QEMU_VM1, "true", "1") "]}}" } },
	};
	struct fake_server *f = fake_start(steps, 1);
	/* A domain may hold a slash: only the first one splits. */
	struct result r = run_ctl(fake_socket_path(f), "claim", "--whole-group", "--owner",
				  "qemu/lab/vm1", "0000:05:00.0");

	expect_result(&r, 0,
		      MANAGED_LINE("0000:05:00.0", "qemu/vm1") MANAGED_LINE("0000:05:01.0",
									   "qemu/vm1")
			      MANAGED_LINE("0000:05:02.0", "qemu/vm1"),
		      "");
	expect_calls(f,
		     CLAIM_CALL("{\"owner\":{\"driver\":\"qemu\",\"domain\":\"lab/vm1\"},"
				"\"devices\":[\"0000:05:00.0\"],\"whole_group\":true}"),
		     NULL);
}

/* DEVICE=unmanaged / DEVICE=managed: per device, in one Claim (hostdevs);
 * the release says where each device went. */
static void test_claim_managed_per_device(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"claims\":[" ENTRY("0000:03:00.0", QEMU_VM1,
								      "true", "1") "]}}" } },
		{ .replies = { "{\"parameters\":{\"released\":[\"0000:03:00.0\","
			       "\"0000:06:10.2\"],\"outcomes\":[{\"device\":\"0000:03:00.0\","
			       "\"to\":\"host\",\"driver\":\"e1000e\"},{\"device\":"
			       "\"0000:06:10.2\",\"to\":\"pool\",\"driver\":\"vfio-pci\"}]}}" } },
	};
	struct fake_server *f = fake_start(steps, 2);
	struct result r = run_ctl(fake_socket_path(f), "claim", "--owner", "qemu/vm1",
				  "0000:03:00.0", "0000:06:10.2=unmanaged", "--unmanaged",
				  "0000:02:00.0=managed");

	expect_result(&r, 0, MANAGED_LINE("0000:03:00.0", "qemu/vm1"), "");
	r = run_ctl(fake_socket_path(f), "release", "--owner", "qemu/vm1");
	expect_result(&r, 0,
		      "0000:03:00.0: released, back on e1000e\n"
		      "0000:06:10.2: released, left in the detached pool on vfio-pci\n",
		      "");
	expect_calls(f,
		     CLAIM_CALL("{\"owner\":" QEMU_VM1 ",\"hostdevs\":[{\"device\":"
				"\"0000:03:00.0\"},{\"device\":\"0000:06:10.2\",\"managed\":false},"
				"{\"device\":\"0000:02:00.0\",\"managed\":true}],"
				"\"managed\":false}"),
		     RELEASE_CALL("{\"owner\":" QEMU_VM1 "}"));
}

/* USB: a plain record, and one whose interface drivers were unbound. */
static void test_claim_usb(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"claims\":["
			       ENTRY("1-2.3", QEMU_VM1, "false", "1") "]}}" } },
		{ .replies = { "{\"parameters\":{\"claims\":[{\"device\":\"1-2.1\",\"owner\":"
			       QEMU_VM1 ",\"managed\":true,\"unbound_interfaces\":[{"
			       "\"interface\":\"1-2.1:1.0\",\"driver\":\"usbhid\"}],\"uid\":0,"
			       "\"gid\":0,\"pid\":1,\"since\":\"2026-11-25T00:02:44Z\"}]}}" } },
	};
	struct fake_server *f = fake_start(steps, 2);
	struct result r = run_ctl(fake_socket_path(f), "claim", "--owner", "qemu/vm1",
				  "id:0781:5567:4C530001140918105142");

	expect_result(&r, 0, "1-2.3: claimed by qemu/vm1\n", "");
	r = run_ctl(fake_socket_path(f), "claim", "--owner", "qemu/vm1", "--unbind-interfaces",
		    "1-2.1");
	expect_result(&r, 0,
		      "1-2.1: claimed by qemu/vm1 (interface drivers unbound: at release they "
		      "are bound again)\n",
		      "");
	expect_calls(f,
		     CLAIM_CALL("{\"owner\":" QEMU_VM1 ",\"devices\":[\"id:0781:5567:"
				"4C530001140918105142\"]}"),
		     CLAIM_CALL("{\"owner\":" QEMU_VM1 ",\"devices\":[\"1-2.1\"],"
				"\"unbind_interfaces\":true}"));
}

static void test_release(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"released\":[\"0000:05:00.0\","
			       "\"0000:05:01.0\"]}}" } },
		{ .replies = { "{\"parameters\":{\"released\":[\"0000:03:00.0\"]}}" } },
	};
	struct fake_server *f = fake_start(steps, 2);
	/* No DEVICE: no `devices`, so that hostdevd releases all of them. */
	struct result r = run_ctl(fake_socket_path(f), "release", "--owner", "qemu/vm1");

	expect_result(&r, 0, "0000:05:00.0: released\n0000:05:01.0: released\n", "");
	r = run_ctl(fake_socket_path(f), "-j", "release", "0000:03:00.0", "--uuid", UUID,
		    "--owner", "libxl/vm2");
	expect_result(&r, 0, "{\"released\":[\"0000:03:00.0\"]}\n", "");
	expect_calls(f, RELEASE_CALL("{\"owner\":" QEMU_VM1 "}"),
		     RELEASE_CALL("{\"owner\":" LIBXL_VM2 ",\"devices\":[\"0000:03:00.0\"]}"));
}

static void test_release_nothing(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"released\":[]}}" } },
	};
	struct fake_server *f = fake_start(steps, 1);
	struct result r = run_ctl(fake_socket_path(f), "release", "--owner", "qemu/vm9");

	expect_result(&r, 0, "Nothing was released: the owner held no devices.\n", "");
	expect_calls(f, RELEASE_CALL("{\"owner\":{\"driver\":\"qemu\",\"domain\":\"vm9\"}}"),
		     NULL);
}

#define CLAIMS_REPLY                                                                           \
	"{\"parameters\":{\"claims\":[" ENTRY("0000:03:00.0", QEMU_VM1, "true", "4242") ","     \
	ENTRY("0000:06:10.2", LIBXL_VM2, "false", "17") "]}}"

static void test_claims(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { CLAIMS_REPLY } },
		{ .replies = { CLAIMS_REPLY } },
		{ .replies = { "{\"parameters\":{\"claims\":[]}}" } },
		{ .replies = { "{\"parameters\":{\"claims\":[]}}" } },
	};
	struct fake_server *f = fake_start(steps, 4);
	struct result r = run_ctl(fake_socket_path(f), "claims");

	expect_result(&r, 0,
		      "DEVICE        OWNER      MANAGED  PID   UID  SINCE                 LEASE  NODES\n"
		      "0000:03:00.0  qemu/vm1   yes      4242  0    2026-11-25T00:02:44Z  -      -\n"
		      "0000:06:10.2  libxl/vm2  no       17    0    2026-11-25T00:02:44Z  -      -\n",
		      "");
	r = run_ctl(fake_socket_path(f), "claims", "--json", "--owner", "qemu/vm1");
	expect_result(&r, 0,
		      "[" ENTRY("0000:03:00.0", QEMU_VM1, "true", "4242") ","
		      ENTRY("0000:06:10.2", LIBXL_VM2, "false", "17") "]\n",
		      "");
	r = run_ctl(fake_socket_path(f), "claims", "--driver", "libxl");
	expect_result(&r, 0, "No claim matches the filters.\n", "");
	r = run_ctl(fake_socket_path(f), "claims");
	expect_result(&r, 0, "No device is claimed.\n", "");
	fake_stop(f);
	assert_int_equal(fake_n_calls(f), 4);
	assert_string_equal(fake_call(f, 0), LIST_CLAIMS_CALL("{}"));
	assert_string_equal(fake_call(f, 1), LIST_CLAIMS_CALL(QEMU_VM1));
	assert_string_equal(fake_call(f, 2), LIST_CLAIMS_CALL("{\"driver\":\"libxl\"}"));
	assert_string_equal(fake_call(f, 3), LIST_CLAIMS_CALL("{}"));
	fake_free(f);
}

static void test_claims_by_driver_and_domain(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"claims\":[]}}" } },
	};
	struct fake_server *f = fake_start(steps, 1);
	struct result r = run_ctl(fake_socket_path(f), "claims", "--domain", "vm1", "--driver",
				  "qemu", "--json");

	expect_result(&r, 0, "[]\n", "");
	expect_calls(f, LIST_CLAIMS_CALL("{\"domain\":\"vm1\",\"driver\":\"qemu\"}"), NULL);
}

#define expect_refusal_args(reply, sentence, ...)                                              \
	do {                                                                                   \
		const struct fake_step _steps[] = { { .replies = { reply } } };                \
		struct fake_server *_f = fake_start(_steps, 1);                                \
		struct result _r = run_ctl(fake_socket_path(_f), __VA_ARGS__);                \
                                                                                               \
		expect_result(&_r, 1, "", sentence);                                           \
		fake_free(_f);                                                                 \
	} while (0)

#define CLAIM_ARGS "claim", "--owner", "libxl/vm2", "0000:03:00.0"
#define RELEASE_ARGS "release", "--owner", "libxl/vm2", "0000:03:00.0"

static void test_claim_conflicts(void **state)
{
	expect_refusal_args("{\"error\":\"io.hostdevd.DeviceInUse\",\"parameters\":{\"device\":"
			    "\"0000:03:00.0\",\"driver\":\"qemu\",\"domain\":\"vm1\"}}",
			    "hostdevctl: 0000:03:00.0 is in use by driver qemu, domain vm1; it "
			    "stays theirs until they release it ('hostdevctl claims' lists who "
			    "holds what) (io.hostdevd.DeviceInUse)\n",
			    CLAIM_ARGS);
	expect_refusal_args("{\"error\":\"io.hostdevd.GroupNotViable\",\"parameters\":{"
			    "\"device\":\"0000:05:00.0\",\"group\":10,\"members\":["
			    "\"0000:05:01.0\",\"0000:05:02.0\"]}}",
			    "hostdevctl: cannot claim 0000:05:00.0: IOMMU group 10 is not viable, "
			    "as these members are not on a stub driver: 0000:05:01.0, "
			    "0000:05:02.0; detach them first, or claim the whole group with "
			    "--whole-group (io.hostdevd.GroupNotViable)\n",
			    "claim", "--owner", "qemu/vm1", "0000:05:00.0");
	expect_refusal_args("{\"error\":\"io.hostdevd.NotClaimed\",\"parameters\":{\"device\":"
			    "\"0000:03:00.0\"}}",
			    "hostdevctl: 0000:03:00.0 is not claimed by that owner, so nothing was "
			    "released ('hostdevctl claims' lists who holds what) "
			    "(io.hostdevd.NotClaimed)\n",
			    RELEASE_ARGS);
	expect_refusal_args("{\"error\":\"io.hostdevd.DeviceBusy\",\"parameters\":{\"device\":"
			    "\"0000:03:00.0\",\"operation\":\"Claim\"}}",
			    "hostdevctl: hostdevd is already running a Claim of 0000:03:00.0; try "
			    "again when it has finished (a device in state error waits for a "
			    "stuck write to return first: 'hostdevctl watch' shows when its state "
			    "changes) (io.hostdevd.DeviceBusy)\n",
			    CLAIM_ARGS);
	expect_refusal_args("{\"error\":\"io.hostdevd.HostCritical\",\"parameters\":{\"device\":"
			    "\"0000:00:02.0\",\"reason\":\"boot VGA device\"}}",
			    "hostdevctl: 0000:00:02.0 must stay with the host, so hostdevd will not "
			    "claim it (boot VGA device) (io.hostdevd.HostCritical)\n",
			    "claim", "--owner", "qemu/vm1", "--unmanaged", "0000:00:02.0");
	expect_refusal_args("{\"error\":\"io.hostdevd.InvalidDeviceState\",\"parameters\":{"
			    "\"device\":\"0000:03:00.0\",\"state\":\"host\"}}",
			    "hostdevctl: cannot claim 0000:03:00.0: it is in state host, and claim "
			    "needs state host or detached (an unmanaged claim: detached); an "
			    "unmanaged claim takes only a device already on a stub: detach it "
			    "first, or claim it without --unmanaged "
			    "(io.hostdevd.InvalidDeviceState)\n",
			    "claim", "--owner", "qemu/vm1", "--unmanaged", "0000:03:00.0");
	expect_refusal_args("{\"error\":\"io.hostdevd.DeviceNotFound\",\"parameters\":{"
			    "\"device\":\"0000:09:00.0\"}}",
			    "hostdevctl: no device matches '0000:09:00.0' "
			    "(io.hostdevd.DeviceNotFound)\n",
			    "claim", "--owner", "qemu/vm1", "0000:09:00.0");
	expect_refusal_args("{\"error\":\"io.hostdevd.AmbiguousDevice\",\"parameters\":{"
			    "\"device\":\"id:046d:c31c\",\"matches\":[\"1-2\",\"3-1.4\"]}}",
			    "hostdevctl: 'id:046d:c31c' matches 2 devices: 1-2, 3-1.4; name one of "
			    "them by its port path (or PCI address) instead "
			    "(io.hostdevd.AmbiguousDevice)\n",
			    "release", "--owner", "qemu/vm1", "id:046d:c31c");
}

static void test_claim_failures(void **state)
{
	expect_refusal_args("{\"error\":\"io.hostdevd.OperationFailed\",\"parameters\":{"
			    "\"device\":\"0000:05:01.0\",\"step\":\"unbind\",\"errno\":5,"
			    "\"message\":\"injected\"}}",
			    "hostdevctl: claim of 0000:05:01.0 failed at step unbind: Input/output "
			    "error (injected); hostdevd undid the steps before it; if that failed "
			    "too, the message says so and the device is in state error; nothing "
			    "was claimed: the devices this claim had already detached went back to "
			    "their host drivers (io.hostdevd.OperationFailed)\n",
			    CLAIM_ARGS);
	expect_refusal_args("{\"error\":\"io.hostdevd.Timeout\",\"parameters\":{\"device\":"
			    "\"0000:03:00.0\",\"step\":\"confirm_bind\",\"seconds\":1}}",
			    "hostdevctl: release of 0000:03:00.0 timed out: no driver bound within "
			    "1 s; hostdevd undid the steps (if that failed, the device is in state "
			    "error: see 'hostdevctl show 0000:03:00.0'); the devices released "
			    "before it stay released ('hostdevctl claims' shows what the owner "
			    "still holds) (io.hostdevd.Timeout)\n",
			    RELEASE_ARGS);
	expect_refusal_args("{\"error\":\"org.varlink.service.PermissionDenied\"}",
			    "hostdevctl: hostdevd refused io.hostdevd.Claim: permission denied (it "
			    "needs the 'claim' permission); run as root or ask the administrator "
			    "to grant this user the permission in hostdevd's policy "
			    "(org.varlink.service.PermissionDenied)\n",
			    CLAIM_ARGS);
	expect_refusal_args("{\"error\":\"io.hostdevd.PermissionDenied\",\"parameters\":{}}",
			    "hostdevctl: hostdevd refused io.hostdevd.Release: permission denied "
			    "(it needs the 'release' permission); run as root or ask the "
			    "administrator to grant this user the permission in hostdevd's policy "
			    "(io.hostdevd.PermissionDenied)\n",
			    "release", "--owner", "qemu/vm1");
	/* Replies that break the schema. */
	expect_refusal_args("{\"parameters\":{\"claims\":{}}}",
			    "hostdevctl: hostdevd's reply to io.hostdevd.Claim lacks 'claims' or "
			    "it has the wrong type\n",
			    CLAIM_ARGS);
	expect_refusal_args("{\"parameters\":{}}",
			    "hostdevctl: hostdevd's reply to io.hostdevd.Release lacks 'released' "
			    "or it has the wrong type\n",
			    RELEASE_ARGS);
	expect_refusal_args("{\"parameters\":{\"claims\":null}}",
			    "hostdevctl: hostdevd's reply to io.hostdevd.ListClaims lacks 'claims' "
			    "or it has the wrong type\n",
			    "claims");
}

static void test_claim_no_answer(void **state)
{
	static const struct fake_step steps[] = {
		{ .after = FAKE_SILENT },
		{ .after = FAKE_CLOSE },
	};
	struct fake_server *f = fake_start(steps, 2);
	struct result r = run_ctl(fake_socket_path(f), "claim", "-t", "0.2", "--owner",
				  "qemu/vm1", "0000:03:00.0");

	expect_result(&r, 3, "",
		      "hostdevctl: hostdevd did not answer io.hostdevd.Claim within 0.2 s; the "
		      "operation may still go on in hostdevd: 'hostdevctl claims --owner "
		      "qemu/vm1' tells what the owner holds, hostdevd's log what happened\n");
	r = run_ctl(fake_socket_path(f), "release", "--owner", "qemu/vm1");
	expect_result(&r, 3, "",
		      "hostdevctl: hostdevd closed the connection before answering "
		      "io.hostdevd.Release; the operation may still go on in hostdevd: "
		      "'hostdevctl claims --owner qemu/vm1' tells what the owner holds, "
		      "hostdevd's log what happened\n");
	fake_free(f);
}

static void test_claim_usage_errors(void **state)
{
	expect_usage("'claim' needs --owner DRIVER/DOMAIN (e.g. qemu/vm1)", "claim",
		     "0000:03:00.0", NULL, NULL);
	expect_usage("'release' needs --owner DRIVER/DOMAIN (e.g. qemu/vm1)", "release", NULL,
		     NULL, NULL);
	expect_usage("'claim' needs at least one DEVICE (a PCI address such as 0000:03:00.0, "
		     "or a USB device such as 1-2.3)",
		     "claim", "--owner", "qemu/vm1", NULL);
	expect_usage("--owner is DRIVER/DOMAIN, the hypervisor driver and the guest's name "
		     "(e.g. qemu/vm1), not 'qemu'",
		     "claim", "--owner", "qemu", "0000:03:00.0");
	expect_usage("--owner is DRIVER/DOMAIN, the hypervisor driver and the guest's name "
		     "(e.g. qemu/vm1), not '/vm1'",
		     "release", "--owner", "/vm1", NULL);
	expect_usage("--owner is DRIVER/DOMAIN, the hypervisor driver and the guest's name "
		     "(e.g. qemu/vm1), not 'qemu/'",
		     "claims", "--owner", "qemu/", NULL);
	expect_usage("--uuid wants a UUID such as c7a5fdbd-cdaf-9455-926a-d65c16db1809, not "
		     "'vm1'",
		     "release", "--owner=qemu/vm1", "--uuid", "vm1");
	expect_usage("--uuid wants a UUID such as c7a5fdbd-cdaf-9455-926a-d65c16db1809, not "
		     "'c7a5fdbd-cdaf-9455-926a-d65c16db180g'",
		     "claim", "--uuid", "c7a5fdbd-cdaf-9455-926a-d65c16db180g", "1-2");
	expect_usage("--driver takes a driver's or a module's name (vfio-pci, pci-stub or "
		     "pciback, or a vfio-pci variant's: letters, digits, '-' and '_', at most "
		     "63), not 'e1000e/vfio'",
		     "claim", "--driver", "e1000e/vfio", "0000:03:00.0");
	expect_usage("option '--owner' needs an argument", "claim", "0000:03:00.0", "--owner",
		     NULL);
	expect_usage("unknown option '--unmanaged'", "release", "--owner", "qemu/vm1",
		     "--unmanaged");
	expect_usage("unknown option '--driver'", "release", "--driver", "vfio-pci", NULL);
	expect_usage("unknown option '-o'", "claim", "-o", "qemu/vm1", "0000:03:00.0");
	expect_usage("give either --owner DRIVER/DOMAIN or --driver and --domain, not both",
		     "claims", "--owner", "qemu/vm1", "--domain=vm2");
	expect_usage("give either --owner DRIVER/DOMAIN or --driver and --domain, not both",
		     "claims", "--driver", "qemu", "--owner=qemu/vm1");
	expect_usage("'claims' takes no argument 'qemu'", "claims", "qemu", NULL, NULL);
	expect_usage("unknown option '--uuid'", "claims", "--uuid", UUID, NULL);
	expect_usage("--timeout wants a number of seconds up to 86400, not '0'", "claim",
		     "--timeout", "0", "--owner=q/v");
}

static void test_claim_help(void **state)
{
	struct result r = run_ctl(NULL, "claim", "--help");

	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	for (const char *const *w =
		     (const char *const[]){
			     "  claim --owner DRIVER/DOMAIN [--uuid UUID] [--unmanaged] "
			     "[--whole-group]\n        [--driver STUB] [--unbind-interfaces] "
			     "DEVICE[=unmanaged|=managed]...\n",
			     "  release --owner DRIVER/DOMAIN [--uuid UUID] [DEVICE...]\n",
			     "  claims [--owner DRIVER/DOMAIN | --driver DRIVER --domain NAME]\n",
			     "'claim' and 'release' permissions",
			     "detach, reattach, reset, repair, claim or release, or giving up\n", NULL };
	     *w; w++)
		assert_non_null(strstr(r.out, *w));
	result_free(&r);
	r = run_ctl(NULL, "claims", "-h");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "Usage: hostdevctl"));
	result_free(&r);
}

static void test_claim_timeouts(void **state)
{
	long long ms = waiting_time("claim", "--owner", "qemu/vm1", "0000:03:00.0");

	if (ms == -2)
		skip(); /* this libc waits in ppoll(2): the timeout is not in /proc */
	assert_true(ms > 30000 && ms <= 120000);
	ms = waiting_time("release", "--owner", "qemu/vm1", NULL);
	assert_true(ms > 30000 && ms <= 120000);
	ms = waiting_time("--timeout", "2", "release", "--owner=qemu/vm1");
	assert_true(ms > 0 && ms <= 2000);
	/* A listing keeps the short default. */
	ms = waiting_time("claims", NULL, NULL, NULL);
	assert_true(ms > 0 && ms <= 30000);
}

/* ---- policy ---- */

#define CHECK_POLICY_CALL(dev)                                                                 \
	"{\"method\":\"io.hostdevd.CheckPolicy\",\"parameters\":{\"device\":\"" dev "\"}}"

static void test_policy_explain(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"device\":\"0000:02:00.0\",\"action\":\"assign\","
			       "\"rule\":2,\"file\":\"/etc/hostdevd/policy.conf\",\"line\":4,"
			       "\"explanation\":[\"rule 1 (/etc/hostdevd/policy.conf:3): no match: "
			       "address is 0000:02:00.0, not 0000:03:00.0\",\"rule 2 "
			       "(/etc/hostdevd/policy.conf:4) decides: assign 0000:02:00.0 to "
			       "qemu/router (on vfio-pci)\"]}}" } },
		{ .replies = { "{\"error\":\"io.hostdevd.DeviceNotFound\",\"parameters\":"
			       "{\"device\":\"0000:99:00.0\"}}" } },
	};
	struct fake_server *f = fake_start(steps, 2);
	struct result r = run_ctl(fake_socket_path(f), "policy", "explain", "0000:02:00.0");

	expect_result(&r, 0,
		      "rule 1 (/etc/hostdevd/policy.conf:3): no match: address is 0000:02:00.0, "
		      "not 0000:03:00.0\n"
		      "rule 2 (/etc/hostdevd/policy.conf:4) decides: assign 0000:02:00.0 to "
		      "qemu/router (on vfio-pci)\n",
		      "");
	r = run_ctl(fake_socket_path(f), "policy", "explain", "0000:99:00.0");
	assert_int_equal(r.status, 1);
	result_free(&r);
	expect_calls(f, CHECK_POLICY_CALL("0000:02:00.0"), CHECK_POLICY_CALL("0000:99:00.0"));
}

/* check reads the file itself: no daemon is asked. */
static void test_policy_check(void **state)
{
	char path[] = "/tmp/test_hostdevctl_policy.XXXXXX";
	int fd = mkstemp(path);
	struct result r;
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("default = \"refuse\";\nrules = ( { match = { vendor = \"10de\"; }; action = "
	      "\"detach\"; } );\n",
	      f);
	fclose(f);
	r = run_ctl("/nonexistent/hostdevd.sock", "policy", "check", path);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, ": valid\n"));
	assert_non_null(strstr(r.out, ":2): detach if vendor\n"));
	assert_non_null(strstr(r.out, "first match wins, then the default\n"));
	result_free(&r);
	f = fopen(path, "w");
	fputs("rules = ( { match = {}; action = \"assign\"; } );\n", f);
	fclose(f);
	r = run_ctl("/nonexistent/hostdevd.sock", "policy", "check", path);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, ":1: action \"assign\" needs an 'owner'"));
	result_free(&r);
	unlink(path);
	expect_usage("'policy' needs 'explain DEVICE', 'check PATH' or 'reload'", "policy", NULL,
		     NULL, NULL);
	expect_usage("'policy frob' is not a command: 'explain DEVICE', 'check PATH' or 'reload'",
		     "policy", "frob", NULL, NULL);
	expect_usage("'policy check' takes one PATH", "policy", "check", NULL, NULL);
	expect_usage("'policy reload' takes no argument", "policy", "reload", "now", NULL);
}


/* ---- rules generate: the policy's udev rules, without the daemon ---- */

#define RULES_POLICY                                                                           \
	"default = \"allow\";\n"                                                                \
	"rules = (\n"                                                                             \
	"  { match = { vendor = \"8086\"; device = \"10d3\"; }; action = \"detach\"; },\n"       \
	"  { match = { driver = \"e1000e\"; }; action = \"allow\"; }\n"                          \
	");\n"
#define RULES_LINE                                                                             \
	"SUBSYSTEM==\"pci\", ATTR{vendor}==\"0x8086\", ATTR{device}==\"0x10d3\", "                \
	"ENV{HOSTDEVD_POLICY}=\"detach\", ENV{HOSTDEVD_RULE}=\"%s:3\", "                         \
	"ENV{HOSTDEVD_STUB}=\"vfio-pci\", ATTR{driver_override}=\"vfio-pci\", "                  \
	"ATTR{[drivers/pci:vfio-pci]bind}=\"$kernel\", RUN{builtin}+=\"kmod load vfio_pci\", "   \
	"GOTO=\"hostdevd_end\"\n"
#define RULES_ERR                                                                              \
	"%s:4: not generated: 'driver' cannot be a udev match: at 'add' no driver is bound yet "  \
	"(binding one is what the rules decide), and hostdevd matches the driver bound when it "  \
	"decides\n"                                                                               \
	"hostdevctl: 2 line(s) generated, 1 not generated (hostdevd decides those devices when "  \
	"it starts)\n"

static size_t entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t cap = 0;
	ssize_t n;

	assert_non_null(f);
	n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	assert_true(n > 0);
	return text;
}

static void test_rules_generate(void **state)
{
	char dir[] = "/tmp/test_hostdevctl_rules.XXXXXX";
	char policy[128], out_file[128], *want_line, *want_err, *file;
	struct result r;
	struct stat st;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(policy, sizeof(policy), "%s/policy.conf", dir);
	snprintf(out_file, sizeof(out_file), "%s/60-hostdevd-policy.rules", dir);
	f = fopen(policy, "w");
	fputs(RULES_POLICY, f);
	fclose(f);
	assert_true(asprintf(&want_line, RULES_LINE, policy) > 0);
	assert_true(asprintf(&want_err, RULES_ERR, policy) > 0);

	/* stdout: the file; stderr: what is left to hostdevd, and the count. */
	r = run_ctl("/nonexistent/hostdevd.sock", "rules", "generate", "--policy", policy);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "# Generated by `hostdevctl rules generate` from the hostdevd "
				      "policy at "));
	assert_non_null(strstr(r.out, want_line));
	assert_non_null(strstr(r.out, "\nLABEL=\"hostdevd_end\"\n"));
	assert_string_equal(r.err, want_err);
	file = strdup(r.out);
	result_free(&r);

	/* HOSTDEVD_POLICY, as the daemon honours it. */
	setenv("HOSTDEVD_POLICY", policy, 1);
	r = run_ctl("/nonexistent/hostdevd.sock", "rules", "generate");
	unsetenv("HOSTDEVD_POLICY");
	expect_result(&r, 0, file, want_err);

	/* -o: the same bytes in the file, mode 0644, nothing else left beside it;
	 * again over the file it made. */
	for (int round = 0; round < 2; round++) {
		char *got;

		r = run_ctl("/nonexistent/hostdevd.sock", "rules", "generate", "--policy", policy,
			    "-o", out_file);
		expect_result(&r, 0, "", want_err);
		got = slurp(out_file);
		assert_string_equal(got, file);
		free(got);
		assert_int_equal(stat(out_file, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0644);
		assert_int_equal(entries(dir), 2);
	}

	/* --json: the text and both lists. */
	r = run_ctl("/nonexistent/hostdevd.sock", "rules", "generate", "--policy", policy, "--json");
	assert_int_equal(r.status, 0);
	{
		json_object *o = json_tokener_parse(r.out), *v, *e;

		assert_non_null(o);
		assert_true(json_object_object_get_ex(o, "rules", &v));
		assert_string_equal(json_object_get_string(v), file);
		assert_true(json_object_object_get_ex(o, "generated", &v));
		assert_int_equal(json_object_array_length(v), 2);
		e = json_object_array_get_idx(v, 0);
		assert_true(json_object_object_get_ex(e, "line", &v));
		assert_int_equal(json_object_get_int(v), 3);
		assert_true(json_object_object_get_ex(e, "bus", &v));
		assert_string_equal(json_object_get_string(v), "pci");
		assert_true(json_object_object_get_ex(e, "acts", &v));
		assert_true(json_object_get_boolean(v));
		assert_true(json_object_object_get_ex(o, "not_generated", &v));
		assert_int_equal(json_object_array_length(v), 1);
		e = json_object_array_get_idx(v, 0);
		assert_true(json_object_object_get_ex(e, "file", &v));
		assert_string_equal(json_object_get_string(v), policy);
		assert_true(json_object_object_get_ex(e, "line", &v));
		assert_int_equal(json_object_get_int(v), 4);
		assert_true(json_object_object_get_ex(e, "reason", &v));
		assert_non_null(strstr(json_object_get_string(v), "'driver' cannot be a udev match"));
		json_object_put(o);
	}
	result_free(&r);

	/* A policy that does not load: its file:line, exit 1, nothing written. */
	f = fopen(policy, "w");
	fputs("rules = (\n { match = { vendr = \"10de\"; }; action = \"detach\"; }\n);\n", f);
	fclose(f);
	unlink(out_file);
	r = run_ctl("/nonexistent/hostdevd.sock", "rules", "generate", "--policy", policy, "-o",
		    out_file);
	free(want_err);
	assert_true(asprintf(&want_err, "hostdevctl: %s:2: unknown match key 'vendr'\n", policy) > 0);
	expect_result(&r, 1, "", want_err);
	assert_int_equal(entries(dir), 1);
	/* A path named that does not exist is an error, not the built-in default. */
	r = run_ctl("/nonexistent/hostdevd.sock", "rules", "generate", "--policy", "/nonexistent/p");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "/nonexistent/p"));
	result_free(&r);
	/* A file that cannot be written. */
	f = fopen(policy, "w");
	fputs(RULES_POLICY, f);
	fclose(f);
	r = run_ctl("/nonexistent/hostdevd.sock", "rules", "generate", "--policy", policy, "-o",
		    "/nonexistent/dir/x.rules");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "hostdevctl: cannot write /nonexistent/dir/x.rules: "));
	result_free(&r);

	unlink(policy);
	assert_int_equal(rmdir(dir), 0);
	free(want_line);
	free(want_err);
	free(file);
	expect_usage("'rules' needs 'generate [--policy PATH] [-o|--output FILE]'", "rules", NULL, NULL, NULL);
	expect_usage("'rules generate' takes no argument", "rules", "generate", "now", NULL);
	expect_usage("option '--policy' needs an argument", "rules", "generate", "--policy", NULL);
	expect_usage("option '-o' needs an argument", "rules", "generate", "-o", NULL);
}

static void test_policy_reload(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"path\":\"/etc/hostdevd\",\"rules\":3,"
			       "\"clients\":1,\"warnings\":[\"/etc/hostdevd/policy.conf:9: no user \\\"kim\\\" "
			       "on this system: this entry grants nothing until there is\"],"
			       "\"conflicts\":[{\"device\":\"0000:03:00.0\","
			       "\"owner\":{\"driver\":\"qemu\",\"domain\":\"vm1\"},"
			       "\"action\":\"refuse\",\"rule\":1,\"file\":\"/etc/hostdevd/"
			       "policy.conf\",\"line\":3,\"reason\":\"the policy says refuse\"}]}}" } },
		{ .replies = { "{\"error\":\"io.hostdevd.PolicyInvalid\",\"parameters\":{"
			       "\"file\":\"/etc/hostdevd/policy.d/10-gpu.conf\",\"line\":7,"
			       "\"message\":\"unknown match key 'vendr'\"}}" } },
		{ .replies = { "{\"error\":\"io.hostdevd.PermissionDenied\",\"parameters\":{"
			       "\"method\":\"io.hostdevd.ReloadPolicy\",\"permission\":\"admin\","
			       "\"reason\":\"uid 1000 lacks permission admin\"}}" } },
	};
	struct fake_server *f = fake_start(steps, 3);
	struct result r = run_ctl(fake_socket_path(f), "policy", "reload");

	expect_result(&r, 0,
		      "policy reloaded from /etc/hostdevd: 3 rule(s), 1 client(s)\n"
		      "warning: /etc/hostdevd/policy.conf:9: no user \"kim\" on this system: this "
		      "entry grants nothing until there is\n"
		      "0000:03:00.0 stays claimed by qemu/vm1, but the new policy would refuse "
		      "it: the policy says refuse\n",
		      "");
	r = run_ctl(fake_socket_path(f), "policy", "reload");
	expect_result(&r, 1, "",
		      "hostdevctl: hostdevd kept its policy: /etc/hostdevd/policy.d/10-gpu.conf:7: "
		      "unknown match key 'vendr' (fix the file, check it with 'hostdevctl policy "
		      "check', then reload) (io.hostdevd.PolicyInvalid)\n");
	r = run_ctl(fake_socket_path(f), "policy", "reload");
	expect_result(&r, 1, "",
		      "hostdevctl: hostdevd refused io.hostdevd.ReloadPolicy: permission denied (it "
		      "needs the 'admin' permission): uid 1000 lacks permission admin; run as root "
		      "or ask the administrator to grant this user the permission in hostdevd's "
		      "policy (io.hostdevd.PermissionDenied)\n");
	fake_stop(f);
	assert_int_equal(fake_n_calls(f), 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(fake_call(f, i),
				    "{\"method\":\"io.hostdevd.ReloadPolicy\",\"parameters\":{}}");
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_table),
		cmocka_unit_test(test_policy_reload),
		cmocka_unit_test(test_rules_generate),
		cmocka_unit_test(test_list_filters),
		cmocka_unit_test(test_list_json),
		cmocka_unit_test(test_list_on_terminal),
		cmocka_unit_test(test_show),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_daemon_errors),
		cmocka_unit_test(test_malformed_replies),
		cmocka_unit_test(test_not_running),
		cmocka_unit_test(test_env_socket_and_default),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_closed_connection),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_help_and_version),
		cmocka_unit_test(test_detach),
		cmocka_unit_test(test_detach_unrecorded_driver),
		cmocka_unit_test(test_detach_xen_pciback),
		cmocka_unit_test(test_reattach_outcomes),
		cmocka_unit_test(test_operation_refusals),
		cmocka_unit_test(test_operation_failures),
		cmocka_unit_test(test_operation_no_answer),
		cmocka_unit_test(test_operation_timeouts),
		cmocka_unit_test(test_claim),
		cmocka_unit_test(test_claim_xen_pciback),
		cmocka_unit_test(test_driver_variant_names_sent),
		cmocka_unit_test(test_unknown_driver_refused),
		cmocka_unit_test(test_claim_group),
		cmocka_unit_test(test_claim_managed_per_device),
		cmocka_unit_test(test_claim_usb),
		cmocka_unit_test(test_policy_explain),
		cmocka_unit_test(test_policy_check),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_release_nothing),
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_claims_by_driver_and_domain),
		cmocka_unit_test(test_claim_conflicts),
		cmocka_unit_test(test_claim_failures),
		cmocka_unit_test(test_claim_no_answer),
		cmocka_unit_test(test_claim_usage_errors),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_reset_refusals),
		cmocka_unit_test(test_reset_usage_errors),
		cmocka_unit_test(test_claim_help),
		cmocka_unit_test(test_claim_timeouts),
		cmocka_unit_test(test_watch_count_and_gap),
		cmocka_unit_test(test_watch_json_lines),
		cmocka_unit_test(test_watch_sequence_backwards),
		cmocka_unit_test(test_watch_endings),
		cmocka_unit_test(test_watch_sigint),
		cmocka_unit_test(test_closed_stdout),
	};

	/* A child that fails to start must not kill us with SIGPIPE either. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
