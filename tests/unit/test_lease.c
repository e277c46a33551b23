/* Leases (engine/lease.c) on a real event loop with real processes: a
 * watch that cannot get a descriptor (RLIMIT_NOFILE lowered below the next
 * free one, so pidfd_open fails with EMFILE) is not an ended lease; it is
 * kept, armed once descriptors are back, and then reports the exit as any
 * watch does.  A process that ends while its watch waits is reported when
 * the retry finds it gone.  The loop is stepped until a condition holds,
 * with a deadline: no sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/util.h"
#include "engine/lease.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEADLINE_S 10

struct fixture {
	struct event_base *base;
	struct leases *l;
	pid_t ended_pid;
	uint64_t ended_start;
	unsigned ended_calls;
	pid_t child;
	int child_fd; /* the child exits when this closes */
};

static void on_ended(pid_t pid, uint64_t start, void *arg)
{
	struct fixture *f = arg;

	f->ended_pid = pid;
	f->ended_start = start;
	f->ended_calls++;
}

/* A child that lives until f->child_fd is closed. */
static void start_child(struct fixture *f)
{
	int p[2];
	char c;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	f->child = fork();
	assert_true(f->child >= 0);
	if (f->child == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	f->child_fd = p[1];
}

static void end_child(struct fixture *f)
{
	int status;

	if (f->child_fd >= 0)
		close(f->child_fd);
	f->child_fd = -1;
	if (f->child > 0)
		assert_int_equal(waitpid(f->child, &status, 0), f->child);
	f->child = 0;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->base = event_base_new();
	assert_non_null(f->base);
	f->l = leases_new(f->base, NULL, on_ended, f);
	f->child_fd = -1;
	start_child(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	end_child(f);
	leases_free(f->l);
	event_base_free(f->base);
	free(f);
	return 0;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	fail_msg("deadline passed while waiting for %s", (const char *)arg);
}

/* Steps the loop until cond holds; fails the test at the deadline. */
static void pump_until(struct fixture *f, bool (*cond)(struct fixture *), const char *what)
{
	struct timeval tv = { .tv_sec = DEADLINE_S };
	struct event *deadline = evtimer_new(f->base, on_deadline, (void *)what);

	evtimer_add(deadline, &tv);
	while (!cond(f))
		event_base_loop(f->base, EVLOOP_ONCE);
	event_free(deadline);
}

static bool none_waiting(struct fixture *f)
{
	return leases_waiting(f->l) == 0;
}

static bool ended(struct fixture *f)
{
	return f->ended_calls > 0;
}

/* leases_watch with no descriptor left to open: RLIMIT_NOFILE at the
 * lowest free descriptor number, so the next open fails with EMFILE. */
static int watch_starved(struct fixture *f, uint64_t start)
{
	struct rlimit old, low;
	int probe = open("/dev/null", O_RDONLY | O_CLOEXEC), r;

	assert_true(probe >= 0);
	close(probe);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)probe;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	/* The limit holds: nothing more can be opened. */
	errno = 0;
	assert_int_equal(open("/dev/null", O_RDONLY | O_CLOEXEC), -1);
	assert_int_equal(errno, EMFILE);
	r = leases_watch(f->l, f->child, start);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	return r;
}

/* The child lives; its watch could not get a descriptor.  Before the fix
 * this was -ESRCH, "taken as ended", and the claim was released. */
static void test_emfile_is_not_an_exit(void **state)
{
	struct fixture *f = *state;
	uint64_t start;

	assert_int_equal(leases_identify(f->l, f->child, &start, NULL), 0);
	assert_int_equal(watch_starved(f, start), 0);
	assert_int_equal(f->ended_calls, 0);
	assert_int_equal(leases_count(f->l), 1);
	assert_int_equal(leases_waiting(f->l), 1);
	/* Watching it again while it waits is still one watch. */
	assert_int_equal(leases_watch(f->l, f->child, start), 0);
	assert_int_equal(leases_count(f->l), 1);

	/* Descriptors are back: the retry arms the watch, and nothing ended. */
	pump_until(f, none_waiting, "the watch to be armed");
	assert_int_equal(f->ended_calls, 0);
	assert_int_equal(leases_count(f->l), 1);

	/* Now the exit is seen as any watch sees it. */
	end_child(f);
	pump_until(f, ended, "the exit to be reported");
	assert_int_equal(f->ended_calls, 1);
	assert_int_equal(f->ended_start, start);
	assert_int_equal(leases_count(f->l), 0);
}

/* The process ends while its watch waits for a descriptor: the retry
 * finds it gone and reports it once. */
static void test_exit_while_waiting(void **state)
{
	struct fixture *f = *state;
	pid_t child = f->child;
	uint64_t start;

	assert_int_equal(leases_identify(f->l, child, &start, NULL), 0);
	assert_int_equal(watch_starved(f, start), 0);
	end_child(f);
	assert_int_equal(f->ended_calls, 0);
	pump_until(f, ended, "the ended process to be reported");
	assert_int_equal(f->ended_calls, 1);
	assert_int_equal(f->ended_pid, child);
	assert_int_equal(leases_count(f->l), 0);
	assert_int_equal(leases_waiting(f->l), 0);
}

/* No claim needs any process. */
static bool needed_by_none(pid_t pid, uint64_t start, void *ctx)
{
	return false;
}

/* A waiting watch no claim needs is dropped like an armed one. */
static void test_waiting_watch_pruned(void **state)
{
	struct fixture *f = *state;
	uint64_t start;

	assert_int_equal(leases_identify(f->l, f->child, &start, NULL), 0);
	assert_int_equal(watch_starved(f, start), 0);
	leases_prune(f->l, needed_by_none, NULL);
	assert_int_equal(leases_count(f->l), 0);
	assert_int_equal(leases_waiting(f->l), 0);
	end_child(f);
	/* Nothing is left to report it. */
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(f->ended_calls, 0);
}

/* The architecture a seccomp filter sees this build's system calls as:
 * syscall numbers mean something only with it.  Elsewhere the test that
 * needs a filter skips rather than fails. */
#if defined(__x86_64__) && !defined(__ILP32__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__i386__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_I386
#elif defined(__aarch64__) && !defined(__AARCH64EB__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define TEST_AUDIT_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TEST_AUDIT_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_S390X
#endif

#ifdef TEST_AUDIT_ARCH
/* In the calling process from now on, pidfd_open answers ENOSYS, as on a
 * kernel before 5.3, under a seccomp filter, or under valgrind 3.19. */
static int forbid_pidfd_open(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}
#endif

/* Where pidfd_open does not exist a lease could only ever read as ended:
 * leases say they are unavailable and watch nothing, rather than report
 * the live child's end.  In a child process, which the filter binds for
 * good; its exit status says which check failed. */
static void test_no_pidfd_no_leases(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t p;

#ifndef TEST_AUDIT_ARCH
	print_message("no seccomp architecture known for this build: skipped\n");
	skip();
#endif
	assert_int_equal(leases_unavailable(f->l), 0);
	p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		struct event_base *base;
		struct leases *l;
		struct fixture g = { 0 };

#ifdef TEST_AUDIT_ARCH
		if (forbid_pidfd_open() < 0)
			_exit(10);
#endif
		if (syscall(SYS_pidfd_open, getpid(), 0) >= 0 || errno != ENOSYS)
			_exit(11);
		base = event_base_new();
		l = leases_new(base, NULL, on_ended, &g);
		if (leases_unavailable(l) != ENOSYS)
			_exit(12);
		if (leases_watch(l, f->child, 1) != -ENOSYS)
			_exit(13);
		if (g.ended_calls || leases_count(l))
			_exit(14);
		leases_free(l);
		event_base_free(base);
		_exit(0);
	}
	assert_int_equal(waitpid(p, &status, 0), p);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_emfile_is_not_an_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_while_waiting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiting_watch_pruned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_pidfd_no_leases, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
