/* Applying vfio-pci to 64 devices: driverctl (the Debian package, a bash
 * script) against hostdevd, on the same umockdev testbed with the kernel
 * emulator, as ratios from one run (SPEC, "Performance targets", last row).
 *
 *   LD_PRELOAD=build/tests/kemu/libhdkemu.so:libumockdev-preload.so.0 \
 *     TMPDIR=/dev/shm build/bench/bench_driverctl
 *
 * driverctl runs as `driverctl --nosave set-override ADDR vfio-pci`, one
 * process per device; without --nosave it would write /etc/driverctl.d on
 * this machine.  It inherits the preloads and UMOCKDEV_DIR, so every path it
 * opens under /sys lands in the testbed (docs/benchmarks.md has the strace
 * evidence); the emulator must act on a shell's `echo ID > unbind` for its
 * writes to take effect, or this run fails and says so.  It runs
 * `/sbin/modprobe vfio-pci` on this machine unless /sys/module/vfio-pci
 * exists: the testbed has that directory, and nothing runs until this
 * process has seen it through umockdev's redirection.
 *
 * hostdevd, started after driverctl is done and its overrides undone:
 * (a) one managed Claim of the 64; (b) 64 Detach calls in turn on one
 * connection; (c) 64 `hostdevctl detach` processes in turn.  Each variant
 * must leave every device on vfio-pci with its /dev/vfio node (read from the
 * testbed, not from anyone's report), and is undone before the next.  Any
 * device left elsewhere makes the run fail (exit 1). */
#include "bench/benchutil.h"
#include "client/hdclient.h"
#include "tests/integration/hdproc.h"
#include "tests/integration/testbed.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_DEVICES 64
#define HOST_DRIVER "e1000e"
#define STUB "vfio-pci"
#define CLAIM_TIMEOUT_MS 120000

extern char **environ;

static struct testbed *tb;
static char ids[N_DEVICES][16];
static const char *socket_path;
static struct hdproc hostdevd;
static bool hostdevd_started;
static bool failed;

__attribute__((noreturn)) static void die(const char *what, const char *detail)
{
	fprintf(stderr, "bench_driverctl: %s: %s\n", what, detail ? detail : "");
	exit(1);
}

static const char *driverctl_path(void)
{
	const char *p = getenv("HOSTDEVD_BENCH_DRIVERCTL");

	return p && *p ? p : "/usr/sbin/driverctl";
}

/* Nothing of driverctl's may reach this machine: /sys must be the testbed
 * (its marker file seen through umockdev), the emulator must be there to
 * act on the writes, and /sys/module/vfio-pci must exist, or driverctl
 * runs modprobe for real. */
static void check_sandbox(void)
{
	struct stat st;

	if (!kemu_loaded())
		die("refusing to run", "the kernel emulator is not preloaded (see the top of "
				       "bench_driverctl.c)");
	if (access("/sys/.hostdevd-testbed", F_OK) != 0)
		die("refusing to run", "/sys is not the testbed");
	if (stat("/sys/module/" STUB, &st) != 0 || !S_ISDIR(st.st_mode))
		die("refusing to run", "/sys/module/" STUB " is missing: driverctl would modprobe");
	if (access(driverctl_path(), X_OK) != 0)
		die(driverctl_path(), "not installed (scripts/deps.sh installs driverctl)");
}

static void build_machine(void)
{
	const char **present;
	size_t n, k = 0;

	tb = tb_new(); /* aborts outside umockdev */
	tb_build_large(tb, N_DEVICES);
	tb_add_module(tb, STUB);
	present = tb_present_ids(tb, &n);
	for (size_t i = 0; i < n && k < N_DEVICES; i++)
		if (streq(tb_driver(tb, present[i]), HOST_DRIVER))
			snprintf(ids[k++], sizeof(ids[0]), "%s", present[i]);
	free(present);
	if (k != N_DEVICES)
		die("testbed", "fewer " HOST_DRIVER " endpoints than expected");
}

/* ---- where the devices are --------------------------------------------- */

static bool vfio_node_present(const char *id)
{
	char link[PATH_MAX], target[PATH_MAX];
	const char *group;
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/iommu_group", id);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	group = strrchr(target, '/');
	return kemu_vfio_present(tb_root(tb), group ? group + 1 : target);
}

/* Every device on `driver` (and, for the stub, its /dev/vfio node); the
 * first ones that are not are named.  Returns how many are. */
static int count_on(const char *driver, const char *variant)
{
	int ok = 0, named = 0;

	for (int i = 0; i < N_DEVICES; i++) {
		const char *now = tb_driver(tb, ids[i]);
		bool good = streq(now, driver) &&
			    (!streq(driver, STUB) || vfio_node_present(ids[i]));

		if (good)
			ok++;
		else if (named++ < 4)
			fprintf(stderr, "bench_driverctl: %s: %s is on %s, not %s%s\n", variant,
				ids[i], now ? now : "no driver", driver,
				streq(now, driver) ? " (no /dev/vfio node)" : "");
	}
	if (named > 4)
		fprintf(stderr, "bench_driverctl: %s: ... and %d more\n", variant, named - 4);
	return ok;
}

/* ---- processes ---------------------------------------------------------- */

/* The environment without the preloads and the testbed. */
static char **bare_environ(void)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = xcalloc(n + 1, sizeof(*env));
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) &&
		    strncmp(environ[i], "UMOCKDEV_DIR=", 13))
			env[k++] = environ[i];
	return env;
}

static char **spawn_env;

/* Runs argv to its end with stdout on /dev/null; its exit status, or -1. */
static int run(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	int status, r;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	r = posix_spawn(&pid, argv[0], &fa, NULL, argv, spawn_env ? spawn_env : environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		die(argv[0], strerror(r));
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid", strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

typedef void (*argv_for)(const char *id, char *argv[8]);

/* One process per device, in turn; wall time in ms.  Every one must exit 0. */
static double run_each(argv_for make, const char *variant)
{
	uint64_t t0 = now_ns();

	for (int i = 0; i < N_DEVICES; i++) {
		char *argv[8] = { NULL };
		int status;

		make(ids[i], argv);
		if ((status = run(argv)) != 0) {
			fprintf(stderr, "bench_driverctl: %s: %s for %s exited %d\n", variant,
				argv[0], ids[i], status);
			failed = true;
		}
	}
	return (double)(now_ns() - t0) / 1e6;
}

static void true_argv(const char *id, char *argv[8])
{
	(void)id;
	argv[0] = (char *)"/bin/true";
}

static void set_override_argv(const char *id, char *argv[8])
{
	char *a[] = { (char *)driverctl_path(), "--nosave", "set-override", (char *)id, STUB };

	memcpy(argv, a, sizeof(a));
}

static void unset_override_argv(const char *id, char *argv[8])
{
	char *a[] = { (char *)driverctl_path(), "--nosave", "unset-override", (char *)id };

	memcpy(argv, a, sizeof(a));
}

static void hostdevctl_argv(const char *id, char *argv[8])
{
	char *a[] = { HOSTDEVCTL_BIN, "--socket", (char *)socket_path, "detach", (char *)id };

	memcpy(argv, a, sizeof(a));
}

/* ---- the bare sequence -------------------------------------------------- */

static void write_attr(const char *path, const char *value)
{
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die(path, strerror(errno));
	n = write(fd, value, strlen(value));
	if (n < 0)
		die(path, strerror(errno));
	close(fd);
}

/* What a detach writes, from this process, with no daemon and no checks:
 * the emulator's share of every variant. */
static double bare_sequence(const char *override, const char *from)
{
	char unbind[PATH_MAX], attr[PATH_MAX];
	uint64_t t0 = now_ns();

	snprintf(unbind, sizeof(unbind), "/sys/bus/pci/drivers/%s/unbind", from);
	for (int i = 0; i < N_DEVICES; i++) {
		snprintf(attr, sizeof(attr), "/sys/bus/pci/devices/%s/driver_override", ids[i]);
		write_attr(attr, override);
		write_attr(unbind, ids[i]);
		write_attr("/sys/bus/pci/drivers_probe", ids[i]);
	}
	return (double)(now_ns() - t0) / 1e6;
}

/* ---- hostdevd ------------------------------------------------------------ */

static struct hdclient *connect_or_die(void)
{
	struct hdclient_error err;
	struct hdclient *c = hdclient_connect(socket_path, &err);

	if (!c)
		die("connect", err.message);
	hdclient_set_timeout(c, CLAIM_TIMEOUT_MS);
	return c;
}

/* Takes params. */
static void call_or_die(struct hdclient *c, const char *method, json_object *params)
{
	json_object *reply;
	const char *error;

	if (hdclient_call(c, method, params, &reply, &error) < 0)
		die(method, hdclient_last_error(c)->message);
	if (error) {
		fprintf(stderr, "bench_driverctl: %s: %s %s\n", method, error,
			json_object_to_json_string(reply));
		exit(1);
	}
	json_object_put(params);
}

static json_object *device_params(const char *id)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "device", json_object_new_string(id));
	return p;
}

static json_object *owner_params(void)
{
	json_object *p = json_object_new_object(), *owner = json_object_new_object();

	json_object_object_add(owner, "driver", json_object_new_string("qemu"));
	json_object_object_add(owner, "domain", json_object_new_string("bench"));
	json_object_object_add(p, "owner", owner);
	return p;
}

static double claim_all(struct hdclient *c)
{
	json_object *p = owner_params(), *devices = json_object_new_array();
	uint64_t t0;

	for (int i = 0; i < N_DEVICES; i++)
		json_object_array_add(devices, json_object_new_string(ids[i]));
	json_object_object_add(p, "devices", devices);
	json_object_object_add(p, "managed", json_object_new_boolean(1));
	t0 = now_ns();
	call_or_die(c, "io.hostdevd.Claim", p);
	return (double)(now_ns() - t0) / 1e6;
}

static double each_device(struct hdclient *c, const char *method)
{
	uint64_t t0 = now_ns();

	for (int i = 0; i < N_DEVICES; i++)
		call_or_die(c, method, device_params(ids[i]));
	return (double)(now_ns() - t0) / 1e6;
}

/* ---- the run ------------------------------------------------------------- */

/* Checks where a variant left the devices; prints its line. */
static void report(const char *variant, const char *what, double ms, double driverctl_ms)
{
	int on = count_on(STUB, variant);

	if (on != N_DEVICES)
		failed = true;
	printf("{\"bench\":\"driverctl\",\"variant\":\"%s\",\"what\":\"%s\",\"devices\":%d,"
	       "\"ms\":%.1f,\"ms_per_device\":%.2f,\"on_vfio\":%d",
	       variant, what, N_DEVICES, ms, ms / N_DEVICES, on);
	if (driverctl_ms > 0)
		printf(",\"ratio_driverctl_over_this\":%.2f,\"faster_than_driverctl\":%s",
		       driverctl_ms / ms, ms < driverctl_ms ? "true" : "false");
	printf("}\n");
	fflush(stdout);
}

/* Back on the host driver before the next variant. */
static void expect_back(const char *after)
{
	if (count_on(HOST_DRIVER, after) != N_DEVICES)
		die(after, "devices did not go back to " HOST_DRIVER);
}

/* driverctl's set-override on each device, then unset-override on each.
 * Its time in ms, or 0 when it did not put every device on the stub: the
 * run then fails, and hostdevd is measured on a fresh testbed. */
static double run_driverctl(void)
{
	unsigned probes = kemu_writes(tb_root(tb), "drivers_probe", NULL);
	double set_ms, unset_ms;

	set_ms = run_each(set_override_argv, "driverctl");
	report("driverctl", "driverctl --nosave set-override ADDR vfio-pci, 64 processes",
	       set_ms, 0);
	if (kemu_writes(tb_root(tb), "drivers_probe", NULL) == probes)
		fprintf(stderr, "bench_driverctl: the kernel emulator saw none of driverctl's "
				"writes: it must act on shell redirections (bash opens with "
				"O_CREAT|O_TRUNC, echo writes through stdio); see "
				"docs/benchmarks.md\n");
	if (failed) {
		tb_free(tb);
		build_machine();
		return 0;
	}
	unset_ms = run_each(unset_override_argv, "driverctl unset");
	printf("{\"bench\":\"driverctl\",\"variant\":\"driverctl_unset\",\"what\":\"driverctl "
	       "--nosave unset-override ADDR, 64 processes\",\"devices\":%d,\"ms\":%.1f}\n",
	       N_DEVICES, unset_ms);
	expect_back("driverctl unset");
	return set_ms;
}

static void run_hostdevd(double driverctl_ms)
{
	struct hdproc_config cfg = { .log_level = "warn" };
	struct hdclient *c;
	int r;

	setenv("HOSTDEVD_REQUIRE_MOCK", "1", 1);
	r = hdproc_start(&hostdevd, &cfg);
	hostdevd_started = true;
	if (r != 0)
		die("hostdevd did not become ready; its log", hdproc_log(&hostdevd));
	socket_path = hostdevd.socket_path;
	c = connect_or_die();

	report("hostdevd_claim", "one managed Claim of the 64 (one request)", claim_all(c),
	       driverctl_ms);
	call_or_die(c, "io.hostdevd.Release", owner_params());
	expect_back("release");

	report("hostdevd_detach", "64 Detach calls in turn on one connection",
	       each_device(c, "io.hostdevd.Detach"), driverctl_ms);
	each_device(c, "io.hostdevd.Reattach");
	expect_back("reattach");

	report("hostdevctl_detach", "64 `hostdevctl detach ADDR` processes in turn",
	       run_each(hostdevctl_argv, "hostdevctl"), driverctl_ms);
	each_device(c, "io.hostdevd.Reattach");
	expect_back("reattach after hostdevctl");

	hdclient_free(c);
	if (hdproc_stop(&hostdevd) != 0)
		die("hostdevd", "did not stop cleanly");
}

/* Also after die(): no daemon or testbed left behind. */
static void clean_up(void)
{
	if (hostdevd_started)
		hdproc_cleanup(&hostdevd);
	tb_free(tb);
}

/* What the variants are made of: process starts with and without the
 * preloads, and the bare write sequence. */
static void baselines(void)
{
	double with, bare, writes;

	with = run_each(true_argv, "/bin/true");
	spawn_env = bare_environ();
	bare = run_each(true_argv, "/bin/true");
	free(spawn_env);
	spawn_env = NULL;
	writes = bare_sequence(STUB, HOST_DRIVER);
	if (count_on(STUB, "bare sequence") != N_DEVICES)
		die("bare sequence", "devices did not reach " STUB);
	bare_sequence("\n", STUB);
	expect_back("bare sequence undone");
	printf("{\"bench\":\"driverctl\",\"baseline\":\"process starts\",\"what\":\"64 runs of "
	       "/bin/true\",\"ms_with_preloads\":%.1f,\"ms_without\":%.1f}\n",
	       with, bare);
	printf("{\"bench\":\"driverctl\",\"baseline\":\"bare writes\",\"what\":\"driver_override, "
	       "unbind, drivers_probe for each of the 64, from the bench process\",\"ms\":%.1f}\n",
	       writes);
}

int main(void)
{
	double driverctl_ms;

	bench_print_machine("driverctl");
	build_machine();
	atexit(clean_up);
	check_sandbox();
	baselines();
	driverctl_ms = run_driverctl();
	run_hostdevd(driverctl_ms);
	if (failed)
		fprintf(stderr, "bench_driverctl: FAILED: a device did not end where it should\n");
	return failed ? 1 : 0;
}
