/* Managed detach latency inside the test VM (issue 4's benchmark, SPEC
 * "Performance targets"): moving one PCI function from its host driver to
 * vfio-pci through hostdevd, against the raw sysfs sequence timed in the
 * same guest, medians of N runs each.
 *
 *   detach-latency [--runs N] [--hostdevctl PATH] [--shell PATH] [--settle]
 *                  [--socket PATH] [--timeout SECS] PCI_ADDRESS
 *
 * - raw: driver_override, the host driver's unbind, drivers_probe, and the
 *   driver link read back (drivers_probe binds synchronously);
 * - raw-process: the same three writes by a shell this program starts
 *   (--shell, /bin/sh by default), from its start to its exit (the driver
 *   link read back after): the baseline for hostdevctl, which is a process
 *   start too.  The VM scenario passes Debian's dash, a host's /bin/sh,
 *   not the initramfs's static busybox (docs/benchmarks.md says why);
 * - libhostdev: hd_prepare_pci_devices() (managed) on a manager opened once,
 *   as a hypervisor that is already running calls it (target <= 1.1 x raw);
 * - hostdevctl: `hostdevctl claim` from process start to its exit
 *   (target <= 1.3 x raw-process; against raw too, as before);
 * - then, with the device detached into hostdevd's pool once (Detach), on
 *   one open connection: getinfo, an org.varlink.service.GetInfo round
 *   trip, and unmanaged, a Claim with managed false and its Release, which
 *   write no sysfs but save the state twice each (target <= 3 x getinfo);
 *   a Reattach gives the device back at the end.
 * With --settle each timed run starts once udevd has handled every event
 * (`udevadm settle`, untimed): the undo's rebind of the host driver
 * creates a network interface, whose events keep udevd's workers busy on
 * the guest's one CPU into whatever is timed next, more for some methods
 * than others.  Each timed run is undone untimed (override cleared, vfio-pci unbound and
 * reprobed; hd_reattach_pci_devices; `hostdevctl release`).  The methods
 * take turns, run by run, so that drift in the guest hits all four alike.
 * After every run the driver link must name vfio-pci, after every undo the
 * original driver, or the benchmark stops with exit 1.
 *
 * It writes sysfs, so it refuses to run unless a marker says where it is:
 * /run/hostdevd-vm, which the test VM's /init makes (tests/vm/guest/init.sh),
 * or /sys/.hostdevd-vm, which only a umockdev testbed can hold (sysfs takes
 * no such file), so that its tests can run it on the kernel emulator.
 *
 * Output: JSON lines (machine, one per method, one per ratio).  Exit 0 when
 * every run was verified (whether or not the targets were met), 1 on a
 * refusal or a failure, 2 on a usage error. */
#include "tests/vm/guest/guestutil.h"

#define PROG "detach-latency"

#include <hostdev/hostdev.h>

#include "bench/benchutil.h"
#include "client/hdclient.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VM_MARKER "/run/hostdevd-vm"
#define TESTBED_MARKER "/sys/.hostdevd-vm"
#define STUB "vfio-pci"
#define OWNER_DRIVER "bench"
#define OWNER_DOMAIN "vm-bench"
#define MAX_RUNS 1000

extern char **environ;

enum method { M_RAW, M_RAWSH, M_LIB, M_CTL, M_GETINFO, M_UNMANAGED, M__COUNT };
/* The methods that rebind the device, run by run; the others come after. */
#define M__REBINDING M_GETINFO

static const char *const method_names[M__COUNT] = {
	"raw", "raw-process", "libhostdev", "hostdevctl", "getinfo", "unmanaged",
};
static const char *const method_what[M__COUNT] = {
	"driver_override, unbind, drivers_probe, driver link read back",
	"the same three writes by a shell, process start to exit, driver link read back",
	"hd_prepare_pci_devices (managed) on an open manager",
	"hostdevctl claim, process start to exit",
	"org.varlink.service.GetInfo round trip on an open connection",
	"Claim (managed false) of the detached device and its Release, on the same connection",
};

struct bench {
	const char *addr;
	const char *socket;
	const char *hostdevctl;
	const char *shell;
	bool settle;
	int runs;
	int timeout_s;
	char host_driver[NAME_MAX + 1];
	struct hdclient *hc;     /* to see what hostdevd sees */
	struct hd_manager *mgr;
	double *ms[M__COUNT];
};

static const struct hd_owner owner = { .driver = OWNER_DRIVER, .domain = OWNER_DOMAIN };

static const char usage_text[] =
	"usage: detach-latency [--runs N] [--hostdevctl PATH] [--shell PATH] [--settle]\n"
	"                      [--socket PATH] [--timeout SECS] PCI_ADDRESS\n"
	"Times a managed detach to vfio-pci: raw sysfs (in this process and by a shell),\n"
	"libhostdev, hostdevctl claim; then, with the device detached once, an unmanaged\n"
	"claim and release against a GetInfo round trip.\n"
	"Runs only inside the test VM (" VM_MARKER ") or a umockdev testbed (" TESTBED_MARKER ").\n"
	"  --runs N           runs of each method (default 20)\n"
	"  --hostdevctl PATH  the hostdevctl to run (default: hostdevctl in PATH)\n"
	"  --shell PATH       the shell raw-process runs (default /bin/sh)\n"
	"  --settle           before each timed run, wait for udevd's queue (udevadm settle)\n"
	"  --socket PATH      hostdevd's socket (default $HOSTDEVD_SOCKET or "
	HD_DEFAULT_SOCKET ")\n"
	"  --timeout SECS     how long hostdevd may take to see the device back (default 10)\n";

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("detach-latency: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static bool parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = (int)v;
	return true;
}

static const char *default_socket(void)
{
	const char *env = getenv("HOSTDEVD_SOCKET");

	return env && *env ? env : HD_DEFAULT_SOCKET;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct bench *b)
{
	static const struct option longopts[] = {
		{ "runs", required_argument, NULL, 'n' },
		{ "hostdevctl", required_argument, NULL, 'c' },
		{ "shell", required_argument, NULL, 'S' },
		{ "settle", no_argument, NULL, 'q' },
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_int(optarg, 1, MAX_RUNS, &b->runs))
				return guest_usage_error(PROG, usage_text, "--runs takes 1 to %d, not '%s'", MAX_RUNS,
						   optarg);
			break;
		case 'c': b->hostdevctl = optarg; break;
		case 'S': b->shell = optarg; break;
		case 'q': b->settle = true; break;
		case 's': b->socket = optarg; break;
		case 't':
			if (!parse_int(optarg, 1, 3600, &b->timeout_s))
				return guest_usage_error(PROG, usage_text, "--timeout takes 1 to 3600 seconds, not '%s'",
						   optarg);
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return guest_usage_error(PROG, usage_text, "bad option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return guest_usage_error(PROG, usage_text, "%s", optind == argc ? "no PCI address given"
							 : "more than one PCI address given");
	b->addr = argv[optind];
	if (!guest_pci_address_valid(b->addr))
		return guest_usage_error(PROG, usage_text, "'%s' is not a PCI address (DDDD:BB:DD.F)", b->addr);
	return -1;
}

/* ---- the kernel's view ------------------------------------------------- */

/* The driver bound now, "" when none; -errno when the device is gone or
 * the link unreadable. */
static int read_driver(const struct bench *b, char *buf, size_t len)
{
	char dev[PATH_MAX], link[PATH_MAX + 8], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(dev, sizeof(dev), "/sys/bus/pci/devices/%s", b->addr);
	snprintf(link, sizeof(link), "%s/driver", dev);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0) {
		if (errno != ENOENT)
			return -errno;
		if (access(dev, F_OK) < 0)
			return -errno;
		snprintf(buf, len, "%s", "");
		return 0;
	}
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	memcpy(buf, base, strlen(base) + 1);
	return 0;
}

/* The device must be on `want` now. */
static int expect_driver(const struct bench *b, const char *what, int run, const char *want)
{
	char now[NAME_MAX + 1];
	int r = read_driver(b, now, sizeof(now));

	if (r == 0 && streq(now, want))
		return 0;
	if (r < 0)
		snprintf(now, sizeof(now), "? (its driver link: %s)", strerror(-r));
	return fail("%s run %d: %s is on %s, not %s", what, run, b->addr, *now ? now : "no driver",
		    want);
}

/* One write, judged by write() and close() as the kernel answers there. */
static int write_attr(const char *what, int run, const char *path, const char *value)
{
	size_t len = strlen(value);
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return fail("%s run %d: opening %s: %s", what, run, path, strerror(errno));
	errno = 0;
	if (write(fd, value, len) != (ssize_t)len)
		err = errno ? errno : EIO;
	if (close(fd) < 0 && !err)
		err = errno;
	if (err)
		return fail("%s run %d: writing '%s' to %s: %s", what, run,
			    value[0] == '\n' ? "\\n" : value, path, strerror(err));
	return 0;
}

/* ---- what hostdevd sees -------------------------------------------------- */

struct view {
	char driver[NAME_MAX + 1]; /* "" when none */
	char state[NAME_MAX + 1];
};

/* GetDevice's driver and state for the device.  On failure, -1 with the
 * reason in why. */
static json_object *device_params(const struct bench *b);

static int hostdevd_view(struct bench *b, struct view *v, char *why, size_t whylen)
{
	json_object *p = device_params(b), *reply, *dev, *f;
	const char *error;
	int r;

	r = hdclient_call(b->hc, "io.hostdevd.GetDevice", p, &reply, &error);
	json_object_put(p);
	if (r < 0) {
		snprintf(why, whylen, "GetDevice: %s", hdclient_last_error(b->hc)->message);
		return -1;
	}
	if (error) {
		snprintf(why, whylen, "GetDevice: %s %s", error, json_object_to_json_string(reply));
		return -1;
	}
	if (!json_object_object_get_ex(reply, "device", &dev)) {
		snprintf(why, whylen, "GetDevice: no device in the reply");
		return -1;
	}
	/* A device without a driver has "driver": null, or none. */
	if (json_object_object_get_ex(dev, "driver", &f) &&
	    json_object_is_type(f, json_type_string))
		snprintf(v->driver, sizeof(v->driver), "%s", json_object_get_string(f));
	else
		v->driver[0] = '\0';
	snprintf(v->state, sizeof(v->state), "%s",
		 json_object_object_get_ex(dev, "state", &f) ? json_object_get_string(f) : "");
	return 0;
}

static bool view_is_host(const struct bench *b, const struct view *v)
{
	return streq(v->driver, b->host_driver) && streq(v->state, "host");
}

/* hostdevd learns of the raw sequence's writes from uevents, after the
 * fact (through udevd, in the guest).  Until its table shows the device
 * back on the host driver, a Claim could act on a stale view ("already on
 * vfio-pci"), so the next method waits for it: GetDevice, polled with a
 * back-off, each call bounded by what is left of the deadline.  Untimed. */
static int wait_hostdevd_sees_host(struct bench *b, int run)
{
	uint64_t deadline = now_ns() + (uint64_t)b->timeout_s * 1000000000ull;
	struct timespec pause = { 0, 500000 };
	char why[1024] = "no answer yet";
	struct view v;

	for (uint64_t now; (now = now_ns()) < deadline;) {
		hdclient_set_timeout(b->hc, (int)((deadline - now) / 1000000) + 1);
		if (hostdevd_view(b, &v, why, sizeof(why)) < 0)
			break;
		if (view_is_host(b, &v))
			return 0;
		snprintf(why, sizeof(why), "it shows %s in state %s",
			 *v.driver ? v.driver : "no driver", v.state);
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < 32000000)
			pause.tv_nsec *= 2;
	}
	return fail("raw restore run %d: hostdevd did not show %s back on %s within %d s: %s", run,
		    b->addr, b->host_driver, b->timeout_s, why);
}

/* ---- the four methods ------------------------------------------------------ */

/* After a raw run: the override cleared, vfio-pci unbound, the host
 * driver probed back, and hostdevd seeing it there. */
static int raw_restore(struct bench *b, int run)
{
	char override[PATH_MAX];

	snprintf(override, sizeof(override), "/sys/bus/pci/devices/%s/driver_override", b->addr);
	if (write_attr("raw restore", run, override, "\n") < 0 ||
	    write_attr("raw restore", run, "/sys/bus/pci/drivers/" STUB "/unbind", b->addr) < 0 ||
	    write_attr("raw restore", run, "/sys/bus/pci/drivers_probe", b->addr) < 0 ||
	    expect_driver(b, "raw restore", run, b->host_driver) < 0)
		return -1;
	return wait_hostdevd_sees_host(b, run);
}

static int spawn_wait(const char *what, int run, char *const argv[], const char *verb);

static int raw_run(struct bench *b, int run, double *ms)
{
	char override[PATH_MAX], unbind[PATH_MAX], now[NAME_MAX + 1];
	uint64_t t0;
	int r;

	snprintf(override, sizeof(override), "/sys/bus/pci/devices/%s/driver_override", b->addr);
	snprintf(unbind, sizeof(unbind), "/sys/bus/pci/drivers/%s/unbind", b->host_driver);
	t0 = now_ns();
	if (write_attr("raw", run, override, STUB) < 0 ||
	    write_attr("raw", run, unbind, b->addr) < 0 ||
	    write_attr("raw", run, "/sys/bus/pci/drivers_probe", b->addr) < 0)
		return -1;
	r = read_driver(b, now, sizeof(now));
	*ms = (double)(now_ns() - t0) / 1e6;
	if (r < 0 || !streq(now, STUB))
		return expect_driver(b, "raw", run, STUB);
	return raw_restore(b, run);
}

/* The three writes by a shell: what an administrator's script costs, a
 * process start included, as hostdevctl's does.  printf, not echo: the
 * values go as raw_run writes them. */
static int rawsh_run(struct bench *b, int run, double *ms)
{
	char dev[PATH_MAX], unbind[PATH_MAX], now[NAME_MAX + 1];
	char *argv[] = { (char *)b->shell, "-c",
			 "printf %s \"$2\" >\"$1/driver_override\" && printf %s \"$3\" >\"$4\" && "
			 "printf %s \"$3\" >/sys/bus/pci/drivers_probe",
			 "sh", dev, STUB, (char *)b->addr, unbind, NULL };
	uint64_t t0;
	int r;

	snprintf(dev, sizeof(dev), "/sys/bus/pci/devices/%s", b->addr);
	snprintf(unbind, sizeof(unbind), "/sys/bus/pci/drivers/%s/unbind", b->host_driver);
	t0 = now_ns();
	r = spawn_wait("raw-process", run, argv, NULL);
	if (r == 0)
		r = read_driver(b, now, sizeof(now));
	*ms = (double)(now_ns() - t0) / 1e6;
	if (r < 0 || !streq(now, STUB))
		return expect_driver(b, "raw-process", run, STUB);
	return raw_restore(b, run);
}

static int lib_failed(const char *what, int run, const char *call, struct hd_error *err)
{
	fail("%s run %d: %s: %s (%s)", what, run, call, hd_error_message(err), hd_error_name(err));
	hd_error_free(err);
	return -1;
}

static int lib_run(struct bench *b, int run, double *ms)
{
	const char *ids[] = { b->addr };
	struct hd_error *err = NULL;
	uint64_t t0 = now_ns();
	int r;

	r = hd_prepare_pci_devices(b->mgr, &owner, ids, 1, 0, NULL, &err);
	*ms = (double)(now_ns() - t0) / 1e6;
	if (r < 0)
		return lib_failed("libhostdev", run, "hd_prepare_pci_devices", err);
	if (expect_driver(b, "libhostdev", run, STUB) < 0)
		return -1;
	if (hd_reattach_pci_devices(b->mgr, &owner, ids, 1, 0, &err) < 0)
		return lib_failed("libhostdev reattach", run, "hd_reattach_pci_devices", err);
	return expect_driver(b, "libhostdev reattach", run, b->host_driver);
}

/* argv[0] run to its exit, stdout discarded; its stderr is ours, so its
 * complaints are seen.  0 when it exited 0; a failure names argv[0] and
 * verb (NULL: none). */
static int spawn_wait(const char *what, int run, char *const argv[], const char *verb)
{
	const char *sp = verb ? " " : "";
	posix_spawn_file_actions_t fa;
	int status, r;
	pid_t pid;

	verb = verb ? verb : "";
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return fail("%s run %d: %s: %s", what, run, argv[0], strerror(r));
	while ((r = (int)waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (r != pid) {
		perror("detach-latency: waitpid on our own child");
		abort();
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return fail("%s run %d: %s%s%s exited with status %d", what, run, argv[0], sp, verb,
			    WEXITSTATUS(status));
	return fail("%s run %d: %s%s%s was killed by signal %d", what, run, argv[0], sp, verb,
		    WTERMSIG(status));
}

/* `hostdevctl --socket S VERB --owner bench/vm-bench ADDR` to its exit. */
static int hostdevctl(struct bench *b, const char *what, int run, const char *verb)
{
	char *argv[] = { (char *)b->hostdevctl, "--socket", (char *)b->socket, (char *)verb,
			 "--owner", OWNER_DRIVER "/" OWNER_DOMAIN, (char *)b->addr, NULL };

	return spawn_wait(what, run, argv, verb);
}

static int ctl_run(struct bench *b, int run, double *ms)
{
	uint64_t t0 = now_ns();
	int r = hostdevctl(b, "hostdevctl", run, "claim");

	*ms = (double)(now_ns() - t0) / 1e6;
	if (r < 0 || expect_driver(b, "hostdevctl", run, STUB) < 0)
		return -1;
	if (hostdevctl(b, "hostdevctl release", run, "release") < 0)
		return -1;
	return expect_driver(b, "hostdevctl release", run, b->host_driver);
}

/* ---- setting up, reporting ------------------------------------------------ */

/* Inside the VM, on a bound host driver that hostdevd sees as such, with
 * both connections open. */
static int prepare(struct bench *b)
{
	struct hdclient_error cerr;
	char why[1024];
	struct view v;
	struct hd_error *err = NULL;
	int r;

	if (access(VM_MARKER, F_OK) < 0 && access(TESTBED_MARKER, F_OK) < 0)
		return fail("refusing to run: neither " VM_MARKER " (the test VM's /init makes it) "
			    "nor " TESTBED_MARKER " (a umockdev testbed's) exists, so this is "
			    "neither; this benchmark rebinds a PCI device through sysfs");
	if ((r = read_driver(b, b->host_driver, sizeof(b->host_driver))) < 0)
		return fail("%s: %s (no such PCI device?)", b->addr, strerror(-r));
	if (!*b->host_driver || streq(b->host_driver, STUB))
		return fail("%s is on %s: start from a device on its host driver", b->addr,
			    *b->host_driver ? b->host_driver : "no driver");
	if (!(b->hc = hdclient_connect(b->socket, &cerr)))
		return fail("hostdevd: %s", cerr.message);
	hdclient_set_timeout(b->hc, b->timeout_s * 1000);
	if (hostdevd_view(b, &v, why, sizeof(why)) < 0)
		return fail("hostdevd: %s: %s", b->addr, why);
	if (!view_is_host(b, &v))
		return fail("hostdevd shows %s in state %s on %s: start from a device on its host "
			    "driver that nobody claims",
			    b->addr, v.state, *v.driver ? v.driver : "no driver");
	if (!(b->mgr = hd_manager_open(b->socket, &err)))
		return lib_failed("libhostdev", 0, "hd_manager_open", err);
	return 0;
}

static double median(double *v, int n)
{
	bench_sort(v, (size_t)n);
	return bench_percentile(v, (size_t)n, 50);
}

static void report(struct bench *b)
{
	static const struct { enum method m, over; double target; } ratios[] = {
		{ M_CTL, M_RAWSH, 1.3 }, { M_CTL, M_RAW, 1.3 }, { M_LIB, M_RAW, 1.1 },
		{ M_UNMANAGED, M_GETINFO, 3.0 },
	};
	double med[M__COUNT];

	for (int m = 0; m < M__COUNT; m++) {
		double *v = b->ms[m];
		size_t n = (size_t)b->runs;

		med[m] = median(v, b->runs);
		printf("{\"bench\":\"detach-latency\",\"method\":\"%s\",\"what\":\"%s\","
		       "\"device\":\"%s\",\"host_driver\":\"%s\",\"runs\":%d,\"median_ms\":%.3f,"
		       "\"p10_ms\":%.3f,\"p90_ms\":%.3f,\"min_ms\":%.3f,\"max_ms\":%.3f",
		       method_names[m], method_what[m], b->addr, b->host_driver, b->runs, med[m],
		       bench_percentile(v, n, 10), bench_percentile(v, n, 90), v[0], v[n - 1]);
		/* The shell's path: no quoting needed for what a scenario passes,
		 * but a hostile one must not break the line. */
		if (m == M_RAWSH && !strpbrk(b->shell, "\"\\"))
			printf(",\"shell\":\"%s\"", b->shell);
		printf("}\n");
	}
	for (size_t i = 0; i < ARRAY_SIZE(ratios); i++) {
		double ratio = med[ratios[i].m] / med[ratios[i].over];

		printf("{\"bench\":\"detach-latency\",\"ratio\":\"%s/%s\",\"value\":%.3f,"
		       "\"target\":%.1f,\"meets_target\":%s}\n",
		       method_names[ratios[i].m], method_names[ratios[i].over], ratio,
		       ratios[i].target,
		       ratio <= ratios[i].target ? "true" : "false");
	}
}

/* One call on the benchmark's connection that must succeed. */
static int call_ok(struct bench *b, const char *what, int run, const char *method,
		   json_object *params)
{
	json_object *reply = NULL;
	const char *error = NULL;
	int r = hdclient_call(b->hc, method, params, &reply, &error);

	if (r < 0)
		return fail("%s run %d: %s: %s", what, run, method,
			    hdclient_last_error(b->hc)->message);
	if (error)
		return fail("%s run %d: %s: %s %s", what, run, method, error,
			    json_object_to_json_string(reply));
	return 0;
}

static json_object *device_params(const struct bench *b)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "device", json_object_new_string(b->addr));
	return p;
}

static json_object *owner_params(void)
{
	json_object *p = json_object_new_object(), *o = json_object_new_object();

	json_object_object_add(o, "driver", json_object_new_string(OWNER_DRIVER));
	json_object_object_add(o, "domain", json_object_new_string(OWNER_DOMAIN));
	json_object_object_add(p, "owner", o);
	return p;
}

/* GetInfo and an unmanaged claim + release, turn about, on a device
 * hostdevd detached once; it is reattached after.  Nothing here writes
 * sysfs but the Detach and the Reattach. */
static int run_round_trips(struct bench *b)
{
	json_object *dev = device_params(b), *claim = owner_params(), *release = owner_params();
	json_object *devices = json_object_new_array();
	int r = call_ok(b, "unmanaged setup", 0, "io.hostdevd.Detach", dev);

	json_object_array_add(devices, json_object_new_string(b->addr));
	json_object_object_add(claim, "devices", devices);
	json_object_object_add(claim, "managed", json_object_new_boolean(false));
	for (int run = 1; r == 0 && run <= b->runs; run++) {
		uint64_t t0 = now_ns();

		r = call_ok(b, "getinfo", run, "org.varlink.service.GetInfo", NULL);
		b->ms[M_GETINFO][run - 1] = (double)(now_ns() - t0) / 1e6;
		t0 = now_ns();
		if (r == 0)
			r = call_ok(b, "unmanaged", run, "io.hostdevd.Claim", claim);
		if (r == 0)
			r = call_ok(b, "unmanaged", run, "io.hostdevd.Release", release);
		b->ms[M_UNMANAGED][run - 1] = (double)(now_ns() - t0) / 1e6;
	}
	if (r == 0)
		r = expect_driver(b, "unmanaged", b->runs, STUB);
	/* Given back even after a failure, when hostdevd still answers. */
	if (call_ok(b, "unmanaged teardown", b->runs, "io.hostdevd.Reattach", dev) < 0 ||
	    expect_driver(b, "unmanaged teardown", b->runs, b->host_driver) < 0)
		r = -1;
	json_object_put(dev);
	json_object_put(claim);
	json_object_put(release);
	return r;
}

/* udevd idle: every event so far handled (untimed; --settle). */
static int settle(int run)
{
	char *argv[] = { "udevadm", "settle", "--timeout=30", NULL };

	return spawn_wait("settle", run, argv, NULL);
}

static int run_all(struct bench *b)
{
	static int (*const runners[M__REBINDING])(struct bench *, int, double *) = {
		raw_run, rawsh_run, lib_run, ctl_run,
	};

	for (int m = 0; m < M__COUNT; m++)
		b->ms[m] = xcalloc((size_t)b->runs, sizeof(double));
	for (int run = 1; run <= b->runs; run++)
		for (int m = 0; m < M__REBINDING; m++)
			if ((b->settle && settle(run) < 0) ||
			    runners[m](b, run, &b->ms[m][run - 1]) < 0)
				return -1;
	if (b->settle && settle(b->runs) < 0)
		return -1;
	return run_round_trips(b);
}

int main(int argc, char **argv)
{
	struct bench b = { .runs = 20, .timeout_s = 10, .hostdevctl = "hostdevctl",
			   .shell = "/bin/sh" };
	int r;

	b.socket = default_socket();
	if ((r = parse_args(argc, argv, &b)) >= 0)
		return r;
	if (prepare(&b) == 0) {
		bench_print_machine("detach-latency");
		fflush(stdout);
		r = run_all(&b) == 0 ? 0 : 1;
	} else {
		r = 1;
	}
	if (r == 0)
		report(&b);
	hd_manager_free(b.mgr);
	if (b.hc)
		hdclient_free(b.hc);
	for (int m = 0; m < M__COUNT; m++)
		free(b.ms[m]);
	return r;
}
