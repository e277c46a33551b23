/* Leases (issue 14): a claim tied to a live process ends with it.  The real
 * daemon on the kernel emulator: a leased child that exits releases its
 * claim (the NIC back on e1000e; the time it takes is printed), keep keeps
 * it and reports it, a named pid of another uid is refused, a lease on the
 * peer itself, a process that ended while the daemon was down (or whose pid
 * now names another process: a fake stat under --proc-root) ends the claim
 * at start, and hostdevctl run. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef HOSTDEVCTL_BIN
#error "HOSTDEVCTL_BIN must name the hostdevctl binary under test"
#endif

#define NIC "0000:03:00.0" /* e1000e */
#define U_HYPER 60021

static struct hdproc dead[2];
static size_t n_dead;

static int teardown(void **state)
{
	kfix_teardown(state);
	while (n_dead > 0)
		hdproc_cleanup(&dead[--n_dead]);
	return 0;
}

/* A child that lives until *fd is closed (or it is killed). */
static pid_t child_until_closed(int *fd)
{
	int p[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	*fd = p[1];
	return pid;
}

static json_object *lease_claim_params(long pid, const char *on_exit)
{
	json_object *p = kfix_owner_params("qemu", "vm1", NIC), *lease = json_object_new_object();

	if (pid)
		json_object_object_add(lease, "pid", json_object_new_int64(pid));
	if (on_exit)
		json_object_object_add(lease, "on_exit", json_object_new_string(on_exit));
	json_object_object_add(p, "lease", lease);
	return p;
}

static json_object *claim_leased(struct vlc *c, long pid, const char *on_exit)
{
	json_object *p = lease_claim_params(pid, on_exit), *reply;

	reply = vlc_call(c, "io.hostdevd.Claim", p);
	json_object_put(p);
	return reply;
}

static bool nic_released(struct fixture *f, const void *arg)
{
	return streq(kfix_kernel_driver(f, NIC), "e1000e") && kfix_claims(f) == 0;
}

static bool nic_claimed(struct fixture *f, const void *arg)
{
	return kfix_claims(f) == 1;
}

/* ListClaims' first entry's lease.pid, or 0. */
static long listed_lease_pid(struct fixture *f, const char **on_exit, bool *ended)
{
	json_object *reply = vlc_call(f->c, "io.hostdevd.ListClaims", NULL), *arr, *lease, *v;
	long pid = 0;

	assert_true(json_object_object_get_ex(vlc_params(reply), "claims", &arr));
	if (json_object_array_length(arr) &&
	    json_object_object_get_ex(json_object_array_get_idx(arr, 0), "lease", &lease)) {
		pid = (long)json_object_get_int64(json_object_object_get(lease, "pid"));
		if (on_exit)
			*on_exit = streq(json_object_get_string(json_object_object_get(lease, "on_exit")),
					 "keep")
					   ? "keep"
					   : "release";
		if (ended && json_object_object_get_ex(lease, "ended", &v))
			*ended = json_object_get_boolean(v);
	}
	json_object_put(reply);
	return pid;
}

static void reap(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* The leased child exits: the claim is released as a Release would, the
 * NIC back on e1000e.  The time from its death to that is the NOTE. */
static void test_lease_child_exit_releases(void **state)
{
	struct fixture *f = *state;
	int fd;
	pid_t child = child_until_closed(&fd);
	const char *on_exit = NULL;
	json_object *dev;
	uint64_t t0;

	vlc_expect_ok(claim_leased(f->c, child, NULL));
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	assert_int_equal(listed_lease_pid(f, &on_exit, NULL), child);
	assert_string_equal(on_exit, "release");
	/* GetDevice shows it too. */
	dev = kfix_call_dev(f, "io.hostdevd.GetDevice", NIC, NULL);
	assert_int_equal(json_object_get_int64(json_object_object_get(
				 json_object_object_get(json_object_object_get(vlc_params(dev),
									       "device"),
							"lease"),
				 "pid")),
			 child);
	json_object_put(dev);

	t0 = now_ns();
	assert_int_equal(kill(child, SIGKILL), 0);
	kfix_wait_until(f, nic_released, NULL, "the leased claim released, the NIC on e1000e");
	printf("NOTE: leased process killed -> NIC back on e1000e and the claim gone: %.1f ms\n",
	       (double)(now_ns() - t0) / 1e6);
	assert_string_equal(kfix_kernel_override(f, NIC), "(null)");
	kfix_wait_log(f, "lease: process");
	close(fd);
	reap(child);
}

static bool lease_ended_reported(struct fixture *f, const void *arg)
{
	json_object *reply = vlc_call(f->c, "io.hostdevd.GetStatus", NULL);
	const char *text = json_object_to_json_string(vlc_params(reply));
	bool found = strstr(text, "lease_ended") != NULL;

	json_object_put(reply);
	return found;
}

/* on_exit keep: the claim stays, GetStatus reports it, the log says it. */
static void test_lease_keep_reported(void **state)
{
	struct fixture *f = *state;
	int fd;
	pid_t child = child_until_closed(&fd);
	bool ended = false;

	vlc_expect_ok(claim_leased(f->c, child, "keep"));
	assert_false(lease_ended_reported(f, NULL));
	close(fd);
	reap(child);
	kfix_wait_until(f, lease_ended_reported, NULL, "GetStatus reporting lease_ended");
	kfix_wait_log(f, "is kept (on_exit keep)");
	assert_int_equal(kfix_claims(f), 1);
	assert_int_equal(listed_lease_pid(f, NULL, &ended), child);
	assert_true(ended);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	vlc_expect_ok(kfix_owner_call(f, "io.hostdevd.Release", NIC));
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
}

static void expect_invalid(json_object *reply, const char *param)
{
	assert_non_null(vlc_error(reply));
	assert_string_equal(vlc_error(reply), "org.varlink.service.InvalidParameter");
	assert_string_equal(kfix_str_at(vlc_reply_params(reply), "parameter", NULL), param);
	json_object_put(reply);
}

/* Malformed leases name the field; a pid with no live process is
 * lease.pid; nothing moves. */
static void test_lease_invalid(void **state)
{
	struct fixture *f = *state;
	int fd;
	pid_t gone = child_until_closed(&fd);
	json_object *p;

	close(fd);
	reap(gone);
	expect_invalid(claim_leased(f->c, gone, NULL), "lease.pid");
	expect_invalid(claim_leased(f->c, -1, NULL), "lease.pid");
	expect_invalid(claim_leased(f->c, 0, "forever"), "lease.on_exit");
	p = kfix_owner_params("qemu", "vm1", NIC);
	json_object_object_add(p, "lease", json_object_new_string("me"));
	expect_invalid(vlc_call(f->c, "io.hostdevd.Claim", p), "lease");
	json_object_put(p);
	p = lease_claim_params(0, NULL);
	json_object_object_add(json_object_object_get(p, "lease"), "uid",
			       json_object_new_int(0));
	expect_invalid(vlc_call(f->c, "io.hostdevd.Claim", p), "lease");
	json_object_put(p);
	assert_int_equal(kfix_claims(f), 0);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
}

/* The socket belongs to group nobody (socket_group below): the client
 * connects under that gid and its own uid, as it-permissions does. */
static struct vlc *connect_as(struct fixture *f, uid_t uid)
{
	struct group *g = getgrgid(65534);

	assert_non_null(g);
	return kfix_connect_as(f, uid, g->gr_gid);
}

static int setup_hyper(void **state)
{
	struct group *g = getgrgid(65534);
	char text[512];
	int r;

	if (geteuid() != 0 || !g) {
		*state = NULL;
		return 0;
	}
	snprintf(text, sizeof(text),
		 "socket_group = \"%s\";\n"
		 "clients = ( { uid = %d; permissions = [\"claim\", \"release\", \"list\"]; } );\n",
		 g->gr_name, U_HYPER);
	r = kfix_setup_policy(state, text);
	/* The other uid must reach the socket: the daemon's private
	 * directory is root's, mode 0700. */
	if (r == 0)
		assert_int_equal(chmod(((struct fixture *)*state)->daemon.dir, 0755), 0);
	return r;
}

/* Copies the real /proc/PID/stat into the fake /proc, with status saying
 * uid, or with another start time when start_delta is not 0. */
static void fake_process(struct fixture *f, pid_t pid, uid_t uid, int start_delta)
{
	char path[64], buf[4096], rel[64], *p, status[128];
	FILE *fp;
	size_t n;
	unsigned long long start;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if (start_delta) {
		/* Field 22, counted after the comm's ')'. */
		char out[4096], *q = strrchr(buf, ')') + 2;

		for (int i = 3; i < 22; i++)
			q = strchr(q, ' ') + 1;
		start = strtoull(q, &p, 10);
		snprintf(out, sizeof(out), "%.*s%llu%s", (int)(q - buf), buf,
			 start + (unsigned long long)start_delta, p);
		snprintf(buf, sizeof(buf), "%s", out);
	}
	snprintf(rel, sizeof(rel), "proc/%d/stat", (int)pid);
	kfix_put(f, rel, buf);
	snprintf(rel, sizeof(rel), "proc/%d/status", (int)pid);
	snprintf(status, sizeof(status), "Name:\tleased\nUid:\t%u\t%u\t%u\t%u\n", uid, uid, uid,
		 uid);
	kfix_put(f, rel, status);
}

/* A peer may tie its claim to its own processes, not another uid's. */
static void test_lease_other_uid_refused(void **state)
{
	struct fixture *f = *state;
	struct vlc *c;
	json_object *reply;
	int fd;
	pid_t mine;

	if (!f)
		skip();
	c = connect_as(f, U_HYPER);
	/* This test runs as root: its pid is another user's process. */
	reply = claim_leased(c, getpid(), NULL);
	assert_string_equal(vlc_error(reply), "io.hostdevd.PermissionDenied");
	assert_string_equal(kfix_str_at(vlc_reply_params(reply), "permission", NULL), "admin");
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_int_equal(kfix_claims(f), 0);

	/* One of its own (the fake /proc says so): granted, and released as
	 * it ends. */
	mine = child_until_closed(&fd);
	fake_process(f, mine, U_HYPER, 0);
	vlc_expect_ok(claim_leased(c, mine, NULL));
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	close(fd);
	reap(mine);
	kfix_wait_until(f, nic_released, NULL, "the claim released with its process");
	vlc_free(c);
}

/* A lease without a pid is on the peer itself: the client that claimed
 * exits, the claim ends. */
static void test_lease_on_peer(void **state)
{
	struct fixture *f = *state;
	pid_t child;
	int status;
	char text[64];

	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct vlc *c = vlc_connect(f->daemon.socket_path);
		json_object *reply = claim_leased(c, 0, NULL);

		_exit(vlc_error(reply) ? 1 : 0);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	kfix_wait_until(f, nic_released, NULL, "the peer's claim released as it exited");
	snprintf(text, sizeof(text), "lease: process %d ended: released", (int)child);
	kfix_wait_log(f, text);
}

/* kill -9 of the daemon while the leased process lives; the process ends;
 * the restart ends the claim. */
static void test_lease_ended_while_down(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX];
	int fd;
	pid_t child = child_until_closed(&fd);

	vlc_expect_ok(claim_leased(f->c, child, NULL));
	snprintf(dir, sizeof(dir), "%s", f->daemon.state_dir);
	kfix_crash(f, &dead[n_dead++]);
	close(fd);
	reap(child);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	kfix_start_on(f, dir);
	kfix_wait_until(f, nic_released, NULL, "the claim of a process gone meanwhile released");
	kfix_wait_log(f, "ended while hostdevd was down");
}

/* The pid names another process after the restart (same pid, another
 * start time: faked in --proc-root's stat): the lease ended. */
static void test_lease_pid_reused(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX];
	int fd;
	pid_t child = child_until_closed(&fd);

	vlc_expect_ok(claim_leased(f->c, child, NULL));
	snprintf(dir, sizeof(dir), "%s", f->daemon.state_dir);
	kfix_crash(f, &dead[n_dead++]);
	fake_process(f, child, 0, 7);
	kfix_start_on(f, dir);
	kfix_wait_until(f, nic_released, NULL, "the claim of a reused pid released");
	kfix_wait_log(f, "ended while hostdevd was down");
	close(fd);
	reap(child);
}

static pid_t spawn_ctl(struct fixture *f, const char *const *args)
{
	const char *argv[24] = { HOSTDEVCTL_BIN, "--socket", f->daemon.socket_path };
	size_t n = 3;
	pid_t pid;

	while (*args)
		argv[n++] = *args++;
	argv[n] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execv(HOSTDEVCTL_BIN, (char **)argv);
		_exit(126);
	}
	return pid;
}

/* run exits with the command's status; the claim is gone when it
 * returns, and was there (with the command's pid) while it ran. */
static void test_run_exit_status(void **state)
{
	struct fixture *f = *state;
	char script[PATH_MAX * 4], out[PATH_MAX], buf[8192] = "";
	const char *args[] = { "run", "--owner", "qemu/vm1", NIC, "--", "/bin/sh", "-c", script,
			       NULL };
	int status;
	pid_t ctl;
	FILE *fp;

	snprintf(out, sizeof(out), "%s/claims.json", f->daemon.dir);
	snprintf(script, sizeof(script), "%s --socket %s --json claims > %s; echo pid=$$ >> %s; exit 3",
		 HOSTDEVCTL_BIN, f->daemon.socket_path, out, out);
	ctl = spawn_ctl(f, args);
	assert_int_equal(waitpid(ctl, &status, 0), ctl);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
	/* run waited for the release: nothing left to wait for. */
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_int_equal(kfix_claims(f), 0);
	fp = fopen(out, "r");
	assert_non_null(fp);
	buf[fread(buf, 1, sizeof(buf) - 1, fp)] = '\0';
	fclose(fp);
	assert_non_null(strstr(buf, NIC));
	{
		char want[64];
		const char *pid = strstr(buf, "pid=");

		assert_non_null(pid);
		/* The lease names the command (the shell), not hostdevctl. */
		snprintf(want, sizeof(want), "\"lease\":{\"pid\":%ld,", strtol(pid + 4, NULL, 10));
		assert_non_null(strstr(buf, want));
	}
}

/* run --driver xen-pciback: the command runs with the device on the driver
 * pciback (the name it is sent as, and the override written); at its end
 * the device is back on its host driver. */
static void test_run_on_xen_pciback(void **state)
{
	struct fixture *f = *state;
	char script[PATH_MAX * 4], out[PATH_MAX], buf[8192] = "";
	const char *args[] = { "run", "--owner", "libxl/vm1", "--driver", "xen-pciback", NIC, "--",
			       "/bin/sh", "-c", script, NULL };
	int status;
	pid_t ctl;
	FILE *fp;

	tb_add_driver(f->tb, "pci", "pciback");
	snprintf(out, sizeof(out), "%s/show.json", f->daemon.dir);
	snprintf(script, sizeof(script), "%s --socket %s --json show %s > %s", HOSTDEVCTL_BIN,
		 f->daemon.socket_path, NIC, out);
	ctl = spawn_ctl(f, args);
	assert_int_equal(waitpid(ctl, &status, 0), ctl);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	fp = fopen(out, "r");
	assert_non_null(fp);
	buf[fread(buf, 1, sizeof(buf) - 1, fp)] = '\0';
	fclose(fp);
	assert_non_null(strstr(buf, "\"driver\":\"pciback\""));
	assert_int_equal(kemu_writes(f->root, "driver_override", NIC), 2);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_int_equal(kfix_claims(f), 0);
}

/* A claim that fails: the command never runs, run exits 1. */
static void test_run_claim_refused(void **state)
{
	struct fixture *f = *state;
	char marker[PATH_MAX];
	const char *args[] = { "run", "--owner", "qemu/vm2", NIC, "--", "/bin/touch", marker,
			       NULL };
	int status;
	pid_t ctl;

	snprintf(marker, sizeof(marker), "%s/ran", f->daemon.dir);
	vlc_expect_ok(kfix_owner_call(f, "io.hostdevd.Claim", NIC));
	ctl = spawn_ctl(f, args);
	assert_int_equal(waitpid(ctl, &status, 0), ctl);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_int_equal(access(marker, F_OK), -1);
}

/* hostdevctl run SIGKILLed while its command runs, then the command: the
 * lease, not the CLI, releases. */
static void test_run_sigkill(void **state)
{
	struct fixture *f = *state;
	const char *args[] = { "run", "--owner", "qemu/vm1", NIC, "--", "/bin/sleep", "600", NULL };
	pid_t ctl = spawn_ctl(f, args);
	long cmd;

	kfix_wait_until(f, nic_claimed, NULL, "run's claim");
	cmd = listed_lease_pid(f, NULL, NULL);
	assert_true(cmd > 0 && cmd != ctl);
	assert_int_equal(kill(ctl, SIGKILL), 0);
	reap(ctl);
	assert_int_equal(kfix_claims(f), 1);
	assert_int_equal(kill((pid_t)cmd, SIGKILL), 0);
	kfix_wait_until(f, nic_released, NULL, "the claim released after both were killed");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, kfix_setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_lease_child_exit_releases),
		T(test_lease_keep_reported),
		T(test_lease_invalid),
		cmocka_unit_test_setup_teardown(test_lease_other_uid_refused, setup_hyper,
						teardown),
		T(test_lease_on_peer),
		T(test_lease_ended_while_down),
		T(test_lease_pid_reused),
		T(test_run_exit_status),
		T(test_run_claim_refused),
		T(test_run_on_xen_pciback),
		T(test_run_sigkill),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
