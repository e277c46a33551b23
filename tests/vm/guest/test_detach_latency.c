/* detach-latency on the host: usage errors, and the refusal to run outside
 * the test VM.  Every run has the kernel emulator's guard preloaded without
 * a testbed (docs/kernel-emulator.md, "The guard"): had the benchmark gone
 * on to write /sys, the write would have failed with EPERM and said
 * "REFUSED" on stderr, which the tests look for too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/vm/guest/waitexit.h"

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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef DETACH_LATENCY_BIN
#error "DETACH_LATENCY_BIN must name the detach-latency binary under test"
#endif
#ifndef HDKEMU_LIB
#error "HDKEMU_LIB must name the kernel emulator (libhdkemu.so), preloaded as a guard"
#endif

#define RUN_TIMEOUT_MS 10000

extern char **environ;

struct run {
	int status;
	char *out, *err;
};

static char *slurp_fd(int fd)
{
	char *buf = calloc(1, 65536);
	size_t len = 0;
	ssize_t n;

	assert_non_null(buf);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	while (len < 65535 && (n = read(fd, buf + len, 65535 - len)) > 0)
		len += (size_t)n;
	close(fd);
	return buf;
}

/* This environment without a testbed, with the guard preloaded alone. */
static char **guarded_environ(void)
{
	static char preload[] = "LD_PRELOAD=" HDKEMU_LIB;
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	assert_non_null(env);
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) &&
		    strncmp(environ[i], "UMOCKDEV_DIR=", 13))
			env[k++] = environ[i];
	env[k] = preload;
	return env;
}

/* Runs detach-latency with args (NULL-terminated); its socket is one that
 * does not exist, so no hostdevd could be reached either. */
static struct run detach_latency(const char *const *args)
{
	const char *argv[32] = { DETACH_LATENCY_BIN, "--socket", "/nonexistent/hostdevd.sock" };
	posix_spawn_file_actions_t fa;
	int out = memfd_create("out", MFD_CLOEXEC), err = memfd_create("err", MFD_CLOEXEC);
	char **env = guarded_environ();
	struct run r;
	size_t n = 3;
	pid_t pid;

	assert_true(out >= 0 && err >= 0);
	for (; *args && n < 31; args++)
		argv[n++] = *args;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, err, 2);
	assert_int_equal(posix_spawn(&pid, DETACH_LATENCY_BIN, &fa, NULL, (char **)argv, env), 0);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	r.status = guest_wait_exit(pid, RUN_TIMEOUT_MS, "detach-latency");
	r.out = slurp_fd(out);
	r.err = slurp_fd(err);
	return r;
}

static void expect(struct run r, int code, const char *says)
{
	if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != code)
		fail_msg("expected exit %d, got status %#x\nstdout:\n%s\nstderr:\n%s", code,
			 r.status, r.out, r.err);
	if (says && !strstr(r.err, says))
		fail_msg("stderr lacks \"%s\":\n%s", says, r.err);
	if (strstr(r.err, "REFUSED"))
		fail_msg("it tried to write /sys:\n%s", r.err);
	/* In the sanitizer build a report exits 1 too: look for it. */
	if (strstr(r.err, "Sanitizer") || strstr(r.err, "runtime error:"))
		fail_msg("a sanitizer report:\n%s", r.err);
	free(r.out);
	free(r.err);
}

static void test_usage_errors(void **state)
{
	static const struct {
		const char *args[5];
		const char *says;
	} cases[] = {
		{ { NULL }, "no PCI address given" },
		{ { "0000:00:02.0", "0000:00:03.0", NULL }, "more than one PCI address given" },
		{ { "--bogus", "0000:00:02.0", NULL }, "bad option '--bogus'" },
		{ { "0000:00:02.0", "--runs", NULL }, "bad option '--runs'" },
		{ { "--runs", "0", "0000:00:02.0", NULL }, "--runs takes 1 to 1000, not '0'" },
		{ { "--runs", "1001", "0000:00:02.0", NULL }, "--runs takes 1 to 1000, not '10" },
		{ { "--runs", "5x", "0000:00:02.0", NULL }, "--runs takes 1 to 1000, not '5x'" },
		{ { "--timeout", "0", "0000:00:02.0", NULL }, "--timeout takes 1 to 3600 seconds" },
		{ { "0000:00:02", NULL }, "'0000:00:02' is not a PCI address" },
		{ { "../../../0:0", NULL }, "is not a PCI address" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r = detach_latency(cases[i].args);

		assert_string_equal(r.out, "");
		if (!strstr(r.err, "usage: detach-latency"))
			fail_msg("no usage text:\n%s", r.err);
		expect(r, 2, cases[i].says);
	}
}

static void test_help(void **state)
{
	const char *args[] = { "--help", NULL };
	struct run r = detach_latency(args);

	(void)state;
	assert_non_null(strstr(r.out, "usage: detach-latency [--runs N]"));
	expect(r, 0, NULL);
}

/* This machine is no test VM: the benchmark must say so and stop before it
 * reads a device or prints anything, whatever the device. */
static void test_refuses_outside_the_vm(void **state)
{
	static const char *const devices[] = { "0000:00:00.0", "0000:ff:1f.7" };

	(void)state;
	if (access("/run/hostdevd-vm", F_OK) == 0 || access("/sys/.hostdevd-vm", F_OK) == 0)
		fail_msg("the test VM's marker exists on the machine running the unit tests");
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		const char *args[] = { "--runs", "1", devices[i], NULL };
		struct run r = detach_latency(args);

		assert_string_equal(r.out, "");
		expect(r, 1, "detach-latency: refusing to run: neither /run/hostdevd-vm (the test "
			     "VM's /init makes it) nor /sys/.hostdevd-vm");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_refuses_outside_the_vm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
