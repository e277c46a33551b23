/* detach-latency end to end, before it goes into the VM: the real binary
 * against the real hostdevd on the standard machine, the kernel emulator
 * applying every write (its own raw sequence, the daemon's and
 * hostdevctl's), the testbed standing in for the VM (its marker,
 * /sys/.hostdevd-vm, made in the testbed's /sys).  A whole run must leave
 * the device where it started with the writes a detach and a reattach
 * make; each way a run can go wrong must stop it with exit 1 and say
 * where. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef DETACH_LATENCY_BIN
#error "DETACH_LATENCY_BIN must name the detach-latency binary under test"
#endif
#ifndef HOSTDEVCTL_BIN
#error "HOSTDEVCTL_BIN must name the hostdevctl binary the benchmark runs"
#endif

#define NIC "0000:03:00.0" /* e1000e, IOMMU group 8 */
#define RUNS 3

extern char **environ;

struct bench_run {
	pid_t pid;
	int out, err;
	int status;
	char *stdout_text, *stderr_text;
};

static void mark_vm(struct fixture *f)
{
	kfix_put(f, "sys/.hostdevd-vm", "");
}

/* Starts detach-latency on the fixture's daemon with the build's
 * hostdevctl, then `args` (later options win).  BENCH_TEST_WRAPPER, when
 * set, prefixes the command with its words (split on blanks), e.g.
 * "valgrind --error-exitcode=99": its verdict is then the exit status. */
static void bench_start(struct fixture *f, struct bench_run *r, const char *const *args)
{
	const char *wrapper = getenv("BENCH_TEST_WRAPPER");
	_cleanup_free_ char *words = xstrdup(wrapper ? wrapper : "");
	const char *argv[64] = { NULL };
	posix_spawn_file_actions_t fa;
	char *save = NULL;
	size_t n = 0;

	for (char *w = strtok_r(words, " \t", &save); w && n < 32; w = strtok_r(NULL, " \t", &save))
		argv[n++] = w;
	argv[n++] = DETACH_LATENCY_BIN;
	argv[n++] = "--socket";
	argv[n++] = f->daemon.socket_path;
	argv[n++] = "--hostdevctl";
	argv[n++] = HOSTDEVCTL_BIN;
	for (; *args && n < 63; args++)
		argv[n++] = *args;
	r->out = memfd_create("out", MFD_CLOEXEC);
	r->err = memfd_create("err", MFD_CLOEXEC);
	assert_true(r->out >= 0 && r->err >= 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, r->out, 1);
	posix_spawn_file_actions_adddup2(&fa, r->err, 2);
	assert_int_equal(posix_spawnp(&r->pid, argv[0], &fa, NULL, (char **)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
}

static char *slurp_fd(int fd)
{
	char *buf = xcalloc(1, 1 << 20);
	size_t len = 0;
	ssize_t n;

	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	while (len < (1 << 20) - 1 && (n = read(fd, buf + len, (1 << 20) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	return buf;
}

static void bench_finish(struct bench_run *r)
{
	int pidfd = (int)syscall(SYS_pidfd_open, r->pid, 0);
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	assert_true(pidfd >= 0);
	if (poll(&p, 1, 6 * IT_TIMEOUT_MS) != 1) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, &r->status, 0);
		close(pidfd);
		fail_msg("detach-latency did not finish within %d ms", 6 * IT_TIMEOUT_MS);
	}
	close(pidfd);
	assert_int_equal(waitpid(r->pid, &r->status, 0), r->pid);
	r->stdout_text = slurp_fd(r->out);
	r->stderr_text = slurp_fd(r->err);
}

static void bench_free(struct bench_run *r)
{
	free(r->stdout_text);
	free(r->stderr_text);
}

static void bench_run(struct fixture *f, struct bench_run *r, const char *const *args)
{
	bench_start(f, r, args);
	bench_finish(r);
}

/* Exit code `code`, stderr holding `says` (NULL: anything). */
static void assert_exit(const struct bench_run *r, int code, const char *says)
{
	if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != code)
		fail_msg("expected exit %d, got status %#x\nstdout:\n%s\nstderr:\n%s", code,
			 r->status, r->stdout_text, r->stderr_text);
	if (says && !strstr(r->stderr_text, says))
		fail_msg("stderr lacks \"%s\":\n%s", says, r->stderr_text);
	/* In the sanitizer build a report exits 1 too: look for it. */
	if (strstr(r->stderr_text, "Sanitizer") || strstr(r->stderr_text, "runtime error:"))
		fail_msg("a sanitizer report:\n%s", r->stderr_text);
}

/* A failed run reports no figures. */
static void assert_no_figures(const struct bench_run *r)
{
	if (strstr(r->stdout_text, "\"method\"") || strstr(r->stdout_text, "\"ratio\""))
		fail_msg("figures printed by a failed run:\n%s", r->stdout_text);
}

static size_t claims_held(struct fixture *f)
{
	json_object *reply = vlc_call(f->c, "io.hostdevd.ListClaims", NULL), *claims;
	size_t n;

	assert_true(json_object_object_get_ex(vlc_params(reply), "claims", &claims));
	n = json_object_array_length(claims);
	json_object_put(reply);
	return n;
}

static unsigned writes_of_any(struct fixture *f)
{
	static const char *const ops[] = { "driver_override", "unbind", "bind", "drivers_probe" };
	unsigned n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		n += kemu_writes(f->root, ops[i], NULL);
	return n;
}

/* ---- a whole run ----------------------------------------------------------- */

static double num(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no %s in %s", key, json_object_to_json_string(o));
	return json_object_get_double(v);
}

static void check_method_line(json_object *o)
{
	assert_int_equal((int)num(o, "runs"), RUNS);
	assert_string_equal(kfix_str_at(o, "device", NULL), NIC);
	assert_string_equal(kfix_str_at(o, "host_driver", NULL), "e1000e");
	assert_true(num(o, "min_ms") > 0);
	assert_true(num(o, "min_ms") <= num(o, "p10_ms"));
	assert_true(num(o, "p10_ms") <= num(o, "median_ms"));
	assert_true(num(o, "median_ms") <= num(o, "p90_ms"));
	assert_true(num(o, "p90_ms") <= num(o, "max_ms"));
}

/* medians: raw, raw-process, libhostdev, hostdevctl, getinfo, unmanaged. */
static void check_ratio_line(json_object *o, double medians[6])
{
	const char *ratio = kfix_str_at(o, "ratio", NULL);
	json_object *meets;
	double want;

	if (streq(ratio, "hostdevctl/raw-process")) {
		want = medians[3] / medians[1];
		assert_true(num(o, "target") == 1.3);
	} else if (streq(ratio, "hostdevctl/raw")) {
		want = medians[3] / medians[0];
		assert_true(num(o, "target") == 1.3);
	} else if (streq(ratio, "unmanaged/getinfo")) {
		want = medians[5] / medians[4];
		assert_true(num(o, "target") == 3.0);
	} else {
		assert_string_equal(ratio, "libhostdev/raw");
		want = medians[2] / medians[0];
		assert_true(num(o, "target") == 1.1);
	}
	/* From medians printed to the microsecond: close, not equal. */
	assert_true(num(o, "value") > want * 0.99 && num(o, "value") < want * 1.01);
	assert_true(json_object_object_get_ex(o, "meets_target", &meets));
	assert_true(json_object_is_type(meets, json_type_boolean));
	assert_int_equal(json_object_get_boolean(meets), num(o, "value") <= num(o, "target"));
}

/* The machine line, the six methods in order, the four ratios. */
static void check_output(const char *text)
{
	static const char *const methods[] = { "raw",	  "raw-process", "libhostdev",
					       "hostdevctl", "getinfo",	    "unmanaged" };
	double medians[6];
	char *copy = xstrdup(text), *save = NULL, *line;
	int n = 0;

	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
		json_object *o = vlc_json(line);

		assert_string_equal(kfix_str_at(o, "bench", NULL), "detach-latency");
		if (n == 0) {
			json_object *m;

			assert_true(json_object_object_get_ex(o, "machine", &m));
			assert_non_null(kfix_str_at(o, "machine", "kernel"));
			assert_true(num(m, "cpus") >= 1);
		} else if (n <= 6) {
			assert_string_equal(kfix_str_at(o, "method", NULL), methods[n - 1]);
			check_method_line(o);
			medians[n - 1] = num(o, "median_ms");
		} else {
			check_ratio_line(o, medians);
		}
		json_object_put(o);
	}
	assert_int_equal(n, 11);
	free(copy);
}

static void test_whole_run(void **state)
{
	struct fixture *f = *state;
	const char *args[] = { "--runs", "3", NIC, NULL };
	struct bench_run r;

	mark_vm(f);
	bench_run(f, &r, args);
	assert_exit(&r, 0, NULL);
	print_message("%s", r.stdout_text);
	check_output(r.stdout_text);
	bench_free(&r);

	/* Each rebinding method detached and reattached once per run; the
	 * unmanaged claims wrote nothing, between one Detach and one
	 * Reattach. */
	assert_int_equal(kemu_writes(f->root, "drivers_probe", NIC), 4 * 2 * RUNS + 2);
	assert_int_equal(kemu_writes(f->root, "driver_override", NIC), 4 * 2 * RUNS + 2);
	assert_int_equal(kemu_writes(f->root, "unbind", NIC), 4 * 2 * RUNS + 2);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_override(f, NIC), "(null)");
	assert_int_equal(claims_held(f), 0);
	kfix_wait_state(f, NIC, "host");
}

/* ---- refusals before anything is written ------------------------------- */

static void test_refuses_without_marker(void **state)
{
	struct fixture *f = *state;
	const char *args[] = { "--runs", "1", NIC, NULL };
	struct bench_run r;

	bench_run(f, &r, args);
	assert_exit(&r, 1, "refusing to run: neither /run/hostdevd-vm");
	assert_string_equal(r.stdout_text, "");
	bench_free(&r);
	assert_int_equal(writes_of_any(f), 0);
}

/* The starting point must be a device on its host driver, in sysfs and in
 * hostdevd's table alike, and both connections must open. */
static void test_refuses_bad_starting_points(void **state)
{
	struct fixture *f = *state;
	const char *detached[] = { NIC, NULL }, *absent[] = { "0000:0f:00.0", NULL };
	const char *no_daemon[] = { "--socket", "/nonexistent/hostdevd.sock", NIC, NULL };
	const struct {
		const char *const *args;
		const char *says;
	} cases[] = {
		{ absent, "0000:0f:00.0: No such file or directory (no such PCI device?)" },
		{ no_daemon, "hostdevd: connecting to /nonexistent/hostdevd.sock" },
		{ detached, NIC " is on vfio-pci: start from a device on its host driver" },
	};
	json_object *reply;

	mark_vm(f);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct bench_run r;

		if (cases[i].args == detached) {
			reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL);
			assert_null(vlc_error(reply));
			json_object_put(reply);
			kfix_wait_state(f, NIC, "detached");
		}
		bench_run(f, &r, cases[i].args);
		assert_exit(&r, 1, cases[i].says);
		assert_string_equal(r.stdout_text, "");
		bench_free(&r);
	}
	/* The Detach above wrote one of each. */
	assert_int_equal(kemu_writes(f->root, "drivers_probe", NULL), 1);
}

/* hostdevd's table disagrees with sysfs (a device it never heard of, a
 * binding changed without a uevent): it would not act on what is there. */
static void test_refuses_what_hostdevd_does_not_see(void **state)
{
	struct fixture *f = *state;
	const struct tb_pci unknown = { .addr = "0000:0a:00.0", .vendor = 0x8086, .device = 0x10d3,
					.class_code = 0x020000, .driver = "e1000e",
					.iommu_group = "40" };
	const char *args_unknown[] = { "0000:0a:00.0", NULL }, *args_nic[] = { NIC, NULL };
	struct bench_run r;

	mark_vm(f);
	tb_add_pci(f->tb, &unknown); /* silently: no uevent */
	bench_run(f, &r, args_unknown);
	assert_exit(&r, 1, "hostdevd: 0000:0a:00.0: GetDevice: io.hostdevd.DeviceNotFound");
	bench_free(&r);

	tb_set_muted(f->tb, true);
	tb_unbind(f->tb, NIC);
	tb_bind(f->tb, NIC, "igb");
	bench_run(f, &r, args_nic);
	assert_exit(&r, 1, "hostdevd shows " NIC " in state host on e1000e: start from a device");
	bench_free(&r);
	assert_int_equal(kemu_writes(f->root, "drivers_probe", NULL), 0);
}

/* ---- failures in a run ------------------------------------------------------ */

static void expect_run_failure(struct fixture *f, const char *const *args, const char *says)
{
	struct bench_run r;

	mark_vm(f);
	bench_run(f, &r, args);
	assert_exit(&r, 1, says);
	assert_no_figures(&r);
	bench_free(&r);
}

static void test_raw_probe_binds_nothing(void **state)
{
	struct fixture *f = *state;
	const char *args[] = { NIC, NULL };

	kemu_never_bind(f->root, NIC);
	expect_run_failure(f, args, "raw run 1: " NIC " is on no driver, not vfio-pci");
}

/* The host driver does not come back: its native driver is one that is not
 * loaded (the standard machine has no ixgbe). */
static void test_raw_restore_binds_nothing(void **state)
{
	struct fixture *f = *state;
	const char *args[] = { NIC, NULL };

	kemu_set_native(f->root, NIC, "ixgbe");
	expect_run_failure(f, args, "raw restore run 1: " NIC " is on no driver, not e1000e");
}

static void test_raw_write_fails(void **state)
{
	struct fixture *f = *state;
	const char *args[] = { NIC, NULL };

	kemu_fault(f->root, "unbind", NIC, EBUSY);
	expect_run_failure(f, args,
			   "raw run 1: writing '" NIC "' to /sys/bus/pci/drivers/e1000e/unbind: "
			   "Device or resource busy");
}

/* The host driver's unbind cannot be opened (here: it is not there). */
static void test_raw_open_fails(void **state)
{
	struct fixture *f = *state;
	const char *args[] = { NIC, NULL };
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/sys/bus/pci/drivers/e1000e/unbind", f->root);
	assert_int_equal(unlink(path), 0);
	expect_run_failure(f, args,
			   "raw run 1: opening /sys/bus/pci/drivers/e1000e/unbind: No such file");
}

/* A NIC the host routes through: hostdevd refuses the claim, the raw
 * sequences (which check nothing: in this process and by a shell) went
 * through, each probing twice. */
static void test_libhostdev_refused(void **state)
{
	struct fixture *f = *state;
	const char *args[] = { NIC, NULL };
	char rel[PATH_MAX], target[PATH_MAX];
	const char *sys = tb_syspath(f->tb, NIC) + strlen("/sys/");

	snprintf(rel, sizeof(rel), "sys/%s/net/enp3s0/flags", sys);
	kfix_put(f, rel, "0x1003\n");
	snprintf(target, sizeof(target), "../../%s/net/enp3s0", sys);
	kfix_link(f, "sys/class/net/enp3s0", target);
	kfix_put(f, "proc/net/route",
		 "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow"
		 "\tIRTT\n"
		 "enp3s0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n");
	expect_run_failure(f, args, "libhostdev run 1: hd_prepare_pci_devices: ");
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_int_equal(kemu_writes(f->root, "drivers_probe", NIC), 4);
}

static void test_hostdevctl_failures(void **state)
{
	struct fixture *f = *state;
	const char *fails[] = { "--hostdevctl", "/bin/false", NIC, NULL };
	const char *missing[] = { "--hostdevctl", "/nonexistent/hostdevctl", NIC, NULL };
	const char *does_nothing[] = { "--hostdevctl", "/bin/true", NIC, NULL };

	expect_run_failure(f, fails, "hostdevctl run 1: /bin/false claim exited with status 1");
	/* valgrind runs posix_spawn as a fork, where a failed exec is status 127. */
	const char *not_found = getenv("BENCH_TEST_WRAPPER") ? " claim exited with status 127"
							     : ": No such file or directory";
	char says[256];

	snprintf(says, sizeof(says), "hostdevctl run 1: /nonexistent/hostdevctl%s", not_found);
	expect_run_failure(f, missing, says);
	expect_run_failure(f, does_nothing, "hostdevctl run 1: " NIC " is on e1000e, not vfio-pci");
	assert_int_equal(claims_held(f), 0);
}

/* A stand-in for hostdevctl: a shell script in the daemon's directory
 * that runs `body` with the verb in $verb and the real hostdevctl in $real
 * (detach-latency calls it as `PATH --socket S VERB --owner O ADDR`). */
static const char *fake_hostdevctl(struct fixture *f, const char *name, const char *body)
{
	static char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->daemon.dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "#!/bin/sh\nverb=$3\nreal=%s\n%s\n", HOSTDEVCTL_BIN, body);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, 0755), 0);
	return path;
}

/* What the benchmark left claimed, handed back for the next case. */
static void release_bench_claim(struct fixture *f)
{
	json_object *p = vlc_json("{\"owner\":{\"driver\":\"bench\",\"domain\":\"vm-bench\"}}");
	json_object *reply = vlc_call(f->c, "io.hostdevd.Release", p);

	vlc_params(reply); /* fails the test on an error reply */
	json_object_put(reply);
	json_object_put(p);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	kfix_wait_state(f, NIC, "host");
}

/* The claim goes through, the release does not (it fails; it does nothing);
 * a hostdevctl killed by a signal. */
static void test_hostdevctl_release_failures(void **state)
{
	struct fixture *f = *state;
	const char *args[] = { "--hostdevctl", NULL, NIC, NULL };
	char says[PATH_MAX + 128];

	args[1] = fake_hostdevctl(f, "release-fails",
				  "[ \"$verb\" = claim ] && exec \"$real\" \"$@\"; exit 3");
	snprintf(says, sizeof(says), "hostdevctl release run 1: %s release exited with status 3",
		 args[1]);
	expect_run_failure(f, args, says);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	assert_int_equal(claims_held(f), 1);

	release_bench_claim(f);
	args[1] = fake_hostdevctl(f, "release-does-nothing",
				  "[ \"$verb\" = claim ] && exec \"$real\" \"$@\"; exit 0");
	expect_run_failure(f, args, "hostdevctl release run 1: " NIC " is on vfio-pci, not e1000e");
	release_bench_claim(f);

	args[1] = fake_hostdevctl(f, "killed", "kill -9 $$");
	snprintf(says, sizeof(says), "hostdevctl run 1: %s claim was killed by signal 9", args[1]);
	expect_run_failure(f, args, says);
}

/* "T" in /proc/PID/stat: stopped. */
static bool process_stopped(pid_t pid)
{
	char path[64], buf[512], *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && paren[2] == 'T';
}

/* hostdevd never catches up with the raw sequence (here: it is stopped
 * while the sequence runs): the benchmark gives up at its deadline. */
static void test_hostdevd_does_not_catch_up(void **state)
{
	struct fixture *f = *state;
	const char *args[] = { "--timeout", "1", NIC, NULL };
	uint64_t deadline;
	struct bench_run r;

	mark_vm(f);
	kemu_block(f->root, "driver_override", NIC);
	bench_start(f, &r, args);
	assert_true(kemu_wait_blocked(f->root, "driver_override", NIC, IT_TIMEOUT_MS));
	assert_int_equal(kill(f->daemon.pid, SIGSTOP), 0);
	deadline = now_ns() + (uint64_t)IT_TIMEOUT_MS * 1000000u;
	while (!process_stopped(f->daemon.pid))
		assert_true(now_ns() < deadline);
	kemu_release(f->root, "driver_override", NIC);
	bench_finish(&r);
	assert_int_equal(kill(f->daemon.pid, SIGCONT), 0);
	assert_exit(&r, 1, "raw restore run 1: hostdevd did not show " NIC " back on e1000e within "
			   "1 s: GetDevice: ");
	assert_no_figures(&r);
	bench_free(&r);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, kfix_setup, kfix_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_whole_run),
		T(test_refuses_without_marker),
		T(test_refuses_bad_starting_points),
		T(test_refuses_what_hostdevd_does_not_see),
		T(test_raw_probe_binds_nothing),
		T(test_raw_restore_binds_nothing),
		T(test_raw_write_fails),
		T(test_raw_open_fails),
		T(test_libhostdev_refused),
		T(test_hostdevctl_failures),
		T(test_hostdevctl_release_failures),
		T(test_hostdevd_does_not_catch_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
