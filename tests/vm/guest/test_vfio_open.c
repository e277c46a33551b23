/* vfio-open on the host, without VFIO: the real binary on a directory tree
 * standing in for /sys and /dev (--sys-root, --dev-root, given on every run
 * here, so nothing opens the machine's /dev/vfio), for every failure that
 * can happen before the kernel's VFIO is needed; and the hold helpers
 * (hold.c) directly. */
#include "tests/vm/guest/hold.h"

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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef VFIO_OPEN_BIN
#error "VFIO_OPEN_BIN must name the vfio-open binary under test"
#endif

#define ADDR "0000:00:02.0"
#define RUN_TIMEOUT_MS 10000

extern char **environ;

struct tree {
	char root[PATH_MAX], sys[PATH_MAX + 8], dev[PATH_MAX + 8];
};

struct run {
	int status;
	char *out, *err;
};

static int tree_setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	const char *tmp = getenv("TMPDIR");

	assert_non_null(t);
	snprintf(t->root, sizeof(t->root), "%s/vfio-open-test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(t->root));
	snprintf(t->sys, sizeof(t->sys), "%s/sys", t->root);
	snprintf(t->dev, sizeof(t->dev), "%s/dev", t->root);
	assert_int_equal(mkdir(t->sys, 0755), 0);
	assert_int_equal(mkdir(t->dev, 0755), 0);
	*state = t;
	return 0;
}

static int tree_teardown(void **state)
{
	struct tree *t = *state;
	char *argv[] = { "rm", "-rf", t->root, NULL };
	pid_t pid;
	int status;

	assert_int_equal(posix_spawnp(&pid, "rm", NULL, NULL, argv, environ), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	free(t);
	return 0;
}

/* Makes `rel` under the tree: a directory (content NULL), a file, or a
 * symlink (content "->TARGET"); parent directories as needed. */
static void put(struct tree *t, const char *rel, const char *content)
{
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s", t->root, rel);
	for (char *p = path + strlen(t->root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		*p = '/';
	}
	if (!content) {
		assert_int_equal(mkdir(path, 0755), 0);
	} else if (!strncmp(content, "->", 2)) {
		assert_int_equal(symlink(content + 2, path), 0);
	} else {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		assert_true(fputs(content, f) >= 0);
		assert_int_equal(fclose(f), 0);
	}
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Runs vfio-open on the tree with `args` (NULL-terminated), stdin from
 * /dev/null. */
static struct run vfio_open(struct tree *t, const char *const *args)
{
	const char *argv[32] = { VFIO_OPEN_BIN, "--sys-root", t->sys, "--dev-root", t->dev };
	char out[PATH_MAX * 2], err[PATH_MAX * 2];
	posix_spawn_file_actions_t fa;
	struct run r;
	size_t n = 5;
	pid_t pid;

	for (; *args && n < 31; args++)
		argv[n++] = *args;
	snprintf(out, sizeof(out), "%s/out", t->root);
	snprintf(err, sizeof(err), "%s/err", t->root);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(posix_spawn(&pid, VFIO_OPEN_BIN, &fa, NULL, (char **)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	r.status = guest_wait_exit(pid, RUN_TIMEOUT_MS, "vfio-open");
	r.out = slurp(out);
	r.err = slurp(err);
	return r;
}

/* Checks the exit code and that stderr holds each of the NULL-terminated
 * strings; frees the run. */
static void expect(struct run r, int code, ...)
{
	va_list ap;
	const char *needle;

	if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != code)
		fail_msg("expected exit %d, got status %#x\nstdout:\n%s\nstderr:\n%s", code,
			 r.status, r.out, r.err);
	/* In the sanitizer build a report exits 1 too: look for it. */
	if (strstr(r.err, "Sanitizer") || strstr(r.err, "runtime error:"))
		fail_msg("a sanitizer report:\n%s", r.err);
	va_start(ap, code);
	while ((needle = va_arg(ap, const char *)))
		if (!strstr(r.err, needle))
			fail_msg("stderr lacks \"%s\":\n%s", needle, r.err);
	va_end(ap);
	free(r.out);
	free(r.err);
}

/* ---- usage -------------------------------------------------------------- */

static void test_usage_errors(void **state)
{
	static const struct {
		const char *args[4];
		const char *says;
	} cases[] = {
		{ { NULL }, "no PCI address given" },
		{ { ADDR, "0000:00:03.0", NULL }, "more than one PCI address given" },
		{ { "--bogus", ADDR, NULL }, "bad option '--bogus'" },
		{ { ADDR, "--ready-file", NULL }, "bad option '--ready-file'" },
		{ { "0000:00:02", NULL }, "'0000:00:02' is not a PCI address" },
		{ { "0000:00:02.8", NULL }, "'0000:00:02.8' is not a PCI address" },
		{ { "0000:00:2.00", NULL }, "is not a PCI address" },
		{ { "../../../0:0", NULL }, "is not a PCI address" },
		{ { "--ready-file", "r", ADDR, NULL }, "--ready-file needs --hold" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r = vfio_open(*state, cases[i].args);

		assert_string_equal(r.out, "");
		expect(r, 2, cases[i].says, "usage: vfio-open", NULL);
	}
}

static void test_help(void **state)
{
	const char *args[] = { "--help", NULL };
	struct run r = vfio_open(*state, args);

	assert_non_null(strstr(r.out, "usage: vfio-open [--hold]"));
	expect(r, 0, NULL);
}

/* ---- failures before VFIO ------------------------------------------------ */

static void test_no_such_device(void **state)
{
	struct tree *t = *state;
	const char *args[] = { ADDR, NULL };
	char want[PATH_MAX * 2];

	snprintf(want, sizeof(want),
		 "vfio-open: " ADDR ": iommu_group: %s/bus/pci/devices/" ADDR
		 ": No such file or directory (no such PCI device)", t->sys);
	expect(vfio_open(t, args), 1, want, NULL);
}

static void test_no_iommu_group(void **state)
{
	struct tree *t = *state;
	const char *args[] = { ADDR, NULL };

	put(t, "sys/bus/pci/devices/" ADDR, NULL);
	expect(vfio_open(t, args), 1, "vfio-open: " ADDR ": iommu_group: ",
	       ADDR "/iommu_group: No such file or directory (no IOMMU group: is the IOMMU on?)",
	       NULL);
}

static void test_group_link_not_a_group(void **state)
{
	struct tree *t = *state;
	const char *args[] = { ADDR, NULL };

	put(t, "sys/bus/pci/devices/" ADDR "/iommu_group", "->../../../kernel/iommu_groups/7x");
	expect(vfio_open(t, args), 1,
	       "iommu_group points to ../../../kernel/iommu_groups/7x, not an IOMMU group", NULL);
}

/* The device is not on vfio-pci: no /dev/vfio/N, and the container is not
 * even tried. */
static void test_no_group_node(void **state)
{
	struct tree *t = *state;
	const char *args[] = { ADDR, NULL };
	char want[PATH_MAX * 2];

	put(t, "sys/bus/pci/devices/" ADDR "/iommu_group", "->../../../kernel/iommu_groups/7");
	put(t, "dev/vfio/vfio", "");
	snprintf(want, sizeof(want), "vfio-open: " ADDR ": open group: %s/vfio/7: No such file",
		 t->dev);
	expect(vfio_open(t, args), 1, want, NULL);
}

static void test_no_container(void **state)
{
	struct tree *t = *state;
	const char *args[] = { ADDR, NULL };
	char want[PATH_MAX * 2];

	put(t, "sys/bus/pci/devices/" ADDR "/iommu_group", "->../../../kernel/iommu_groups/7");
	put(t, "dev/vfio/7", "");
	snprintf(want, sizeof(want),
		 "vfio-open: " ADDR ": open container: %s/vfio/vfio: No such file", t->dev);
	expect(vfio_open(t, args), 1, want, NULL);
}

/* Plain files where the VFIO nodes should be: the first ioctl fails and
 * says which. */
static void test_not_a_vfio_container(void **state)
{
	struct tree *t = *state;
	const char *args[] = { ADDR, NULL };

	put(t, "sys/bus/pci/devices/" ADDR "/iommu_group", "->../../../kernel/iommu_groups/7");
	put(t, "dev/vfio/7", "");
	put(t, "dev/vfio/vfio", "");
	expect(vfio_open(t, args), 1,
	       "vfio-open: " ADDR ": VFIO_GET_API_VERSION: Inappropriate ioctl for device", NULL);
}

/* A script waiting for the ready file must not be told "ready" when the
 * device could not be opened. */
static void test_hold_failure_writes_no_ready_file(void **state)
{
	struct tree *t = *state;
	char ready[PATH_MAX * 2];
	const char *args[] = { "--hold", "--ready-file", ready, ADDR, NULL };

	snprintf(ready, sizeof(ready), "%s/ready", t->root);
	put(t, "sys/bus/pci/devices/" ADDR "/iommu_group", "->../../../kernel/iommu_groups/7");
	expect(vfio_open(t, args), 1, "open group", NULL);
	assert_int_equal(access(ready, F_OK), -1);
}

/* ---- hold.c -------------------------------------------------------------- */

static void test_ready_file(void **state)
{
	struct tree *t = *state;
	char path[PATH_MAX * 2], tmp[PATH_MAX * 3];
	char *content;

	snprintf(path, sizeof(path), "%s/ready", t->root);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(hold_write_ready(path), 0);
	content = slurp(path);
	assert_string_equal(content, "ready\n");
	free(content);
	assert_int_equal(access(tmp, F_OK), -1);

	snprintf(path, sizeof(path), "%s/no-such-dir/ready", t->root);
	assert_int_equal(hold_write_ready(path), -ENOENT);
}

/* hold_signals_block() blocks them in this process: the children of later
 * tests must not inherit that. */
static void unblock_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	assert_int_equal(sigprocmask(SIG_UNBLOCK, &set, NULL), 0);
}

/* Input is read and dropped until its end. */
static void test_hold_until_eof(void **state)
{
	int sigfd, pipefd[2], signo = 0;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(write(pipefd[1], "keep going\n", 11), 11);
	assert_int_equal(close(pipefd[1]), 0);
	sigfd = hold_signals_block();
	assert_true(sigfd >= 0);
	assert_int_equal(hold_wait(sigfd, pipefd[0], &signo), HOLD_EOF);
	assert_int_equal(signo, 0);
	unblock_signals();
	close(pipefd[0]);
	close(sigfd);
}

/* A signal ends the hold even while the input stays open; one sent before
 * the wait (during the opening) is not lost. */
static void test_hold_until_signal(void **state)
{
	int sigfd, pipefd[2], signo = 0;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	sigfd = hold_signals_block();
	assert_true(sigfd >= 0);
	assert_int_equal(raise(SIGTERM), 0);
	assert_int_equal(hold_wait(sigfd, pipefd[0], &signo), HOLD_SIGNAL);
	assert_int_equal(signo, SIGTERM);

	assert_int_equal(raise(SIGINT), 0);
	assert_int_equal(hold_wait(sigfd, -1, &signo), HOLD_SIGNAL);
	assert_int_equal(signo, SIGINT);
	unblock_signals();
	close(pipefd[0]);
	close(pipefd[1]);
	close(sigfd);
}

static void test_hold_error(void **state)
{
	int sigfd, pipefd[2], signo = 0;

	(void)state;
	/* The signalfd first, or it would take the closed number. */
	sigfd = hold_signals_block();
	assert_true(sigfd >= 0);
	assert_int_equal(pipe(pipefd), 0);
	close(pipefd[0]);
	close(pipefd[1]);
	errno = 0;
	assert_int_equal(hold_wait(sigfd, pipefd[0], &signo), HOLD_ERROR);
	assert_int_equal(errno, EBADF);
	unblock_signals();
	close(sigfd);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tree_setup, tree_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_usage_errors),
		T(test_help),
		T(test_no_such_device),
		T(test_no_iommu_group),
		T(test_group_link_not_a_group),
		T(test_no_group_node),
		T(test_no_container),
		T(test_not_a_vfio_container),
		T(test_hold_failure_writes_no_ready_file),
		T(test_ready_file),
		T(test_hold_until_eof),
		T(test_hold_until_signal),
		T(test_hold_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
