/* The VFIO node's owner (SPEC "Unprivileged hypervisors", docs/claims.md
 * "The VFIO node's owner"): a claim made by an unprivileged uid gives that
 * uid its devices' VFIO nodes, and their release, the end of its lease, a
 * failed claim and a restart that finds the claim gone give them back.
 * The real daemon on the kernel emulator, its /dev redirected
 * (HOSTDEVD_DEV_ROOT) to a temporary directory holding real character
 * device nodes (mknod, /dev/null's numbers), whose owner and group the
 * tests read with stat.  The clients connect under other uids (seteuid
 * around connect) and the nodes are made with mknod, so this needs root;
 * it skips otherwise. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "tests/kemu/kfs.h"
#include "common/util.h"
#include "tests/common/rmtree.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define NIC "0000:03:00.0" /* e1000e, IOMMU group 8 */
#define NIC_GROUP "vfio/8"
#define NIC_CDEV "vfio/devices/vfio3"
#define G10_A "0000:05:00.0" /* r8169, group 10 behind a PCIe-to-PCI bridge */
#define G10_B "0000:05:01.0" /* serial */
#define G10_C "0000:05:02.0" /* snd_emu10k1 */
#define G10_GROUP "vfio/10"

enum { U_HYPER = 60301 };
/* What the nodes are before any claim: not udev's 0:0 0600, so that
 * giving back the group (never changed) and the mode are seen too. */
#define ORIG_UID 0
#define ORIG_GID 60399
#define ORIG_MODE 0660

static char dev_root[64];
static gid_t sock_gid;
static struct hdproc dead;
static bool have_dead;

static void node_path(const char *rel, char *path, size_t size)
{
	snprintf(path, size, "%s/%s", dev_root, rel);
}

/* A character device node at rel (parents made), owned ORIG_UID:ORIG_GID,
 * mode ORIG_MODE. */
static void put_node(const char *rel)
{
	char path[PATH_MAX], dir[PATH_MAX];

	node_path(rel, path, sizeof(path));
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(kfs_mkdir_p(dir), 0);
	unlink(path);
	if (mknod(path, S_IFCHR | ORIG_MODE, makedev(1, 3)) < 0)
		fail_msg("mknod %s: %s", path, strerror(errno));
	assert_int_equal(chown(path, ORIG_UID, ORIG_GID), 0);
	assert_int_equal(chmod(path, ORIG_MODE), 0);
}

/* The node's owner, group and mode, as lstat says (a link is not
 * followed). */
static void expect_node(const char *rel, uid_t uid, gid_t gid)
{
	char path[PATH_MAX];
	struct stat st;

	node_path(rel, path, sizeof(path));
	if (lstat(path, &st) < 0)
		fail_msg("lstat %s: %s", path, strerror(errno));
	if (st.st_uid != uid || st.st_gid != gid)
		fail_msg("%s is %u:%u, expected %u:%u", path, (unsigned)st.st_uid,
			 (unsigned)st.st_gid, (unsigned)uid, (unsigned)gid);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, ORIG_MODE);
}

static void expect_given(const char *rel)
{
	expect_node(rel, U_HYPER, ORIG_GID);
}

static void expect_original(const char *rel)
{
	expect_node(rel, ORIG_UID, ORIG_GID);
}

/* The device's cdev in sysfs (vfio-dev/vfioN), as a kernel with VFIO cdev
 * has it, and its node. */
static void put_cdev(struct fixture *f, const char *id, int n)
{
	char rel[PATH_MAX], node[64];

	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/vfio-dev/vfio%d/dev", id, n);
	kfix_put(f, rel, "511:3\n");
	snprintf(node, sizeof(node), "vfio/devices/vfio%d", n);
	put_node(node);
}

static int setup(void **state)
{
	struct group *g = getgrgid(65534);
	char text[1024];
	int r;

	if (geteuid() != 0 || !g) {
		*state = NULL;
		return 0;
	}
	sock_gid = g->gr_gid;
	strcpy(dev_root, "/tmp/hd-nodeowner.XXXXXX");
	assert_non_null(mkdtemp(dev_root));
	put_node(NIC_GROUP);
	put_node(G10_GROUP);
	snprintf(text, sizeof(text),
		 "socket_group = \"%s\";\n"
		 "clients = (\n"
		 "  { uid = %d; permissions = [\"claim\", \"release\"]; }\n"
		 ");\n",
		 g->gr_name, U_HYPER);
	setenv("HOSTDEVD_DEV_ROOT", dev_root, 1);
	r = kfix_setup_policy(state, text);
	unsetenv("HOSTDEVD_DEV_ROOT");
	if (r == 0)
		assert_int_equal(chmod(((struct fixture *)*state)->daemon.dir, 0755), 0);
	return r;
}

/* The daemon dies at this failpoint (engine/failpoint.h) the first time. */
static int setup_nodes_given(void **state)
{
	int r;

	setenv("HOSTDEVD_FAILPOINT", "claim.nodes_given", 1);
	r = setup(state);
	unsetenv("HOSTDEVD_FAILPOINT");
	return r;
}

static int teardown(void **state)
{
	if (!*state)
		return 0;
	kfix_teardown(state);
	if (have_dead)
		hdproc_cleanup(&dead);
	have_dead = false;
	assert_int_equal(rmtree(dev_root), 0);
	return 0;
}

static struct vlc *connect_as(struct fixture *f, uid_t uid)
{
	return kfix_connect_as(f, uid, sock_gid);
}

/* {owner: qemu/vm-1, devices: [ids...]}, optionally whole_group. */
static json_object *claim_params(const char *const *ids, bool whole_group)
{
	json_object *p = json_object_new_object(), *arr = json_object_new_array();

	json_object_object_add(p, "owner", kfix_owner("qemu", "vm-1"));
	for (; *ids; ids++)
		json_object_array_add(arr, json_object_new_string(*ids));
	json_object_object_add(p, "devices", arr);
	if (whole_group)
		json_object_object_add(p, "whole_group", json_object_new_boolean(1));
	return p;
}

static json_object *call_on(struct vlc *c, const char *method, json_object *p)
{
	json_object *reply = vlc_call(c, method, p);

	json_object_put(p);
	return reply;
}

/* The claim's reply's node_owner for id (NULL when absent); the reply is
 * checked and freed. */
static char *claim_ok(struct vlc *c, const char *const *ids, bool whole_group, const char *id)
{
	json_object *reply = call_on(c, "io.hostdevd.Claim", claim_params(ids, whole_group)), *arr;
	char *owner = NULL;

	if (vlc_error(reply))
		fail_msg("Claim failed: %s", json_object_to_json_string(reply));
	assert_true(json_object_object_get_ex(vlc_reply_params(reply), "claims", &arr));
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *e = json_object_array_get_idx(arr, i);

		if (streq(kfix_str_at(e, "device", NULL), id))
			owner = xstrdup(kfix_str_at(e, "node_owner", NULL));
	}
	json_object_put(reply);
	return owner;
}

static void release_ok(struct vlc *c, const char *id)
{
	vlc_expect_ok(call_on(c, "io.hostdevd.Release", kfix_owner_params("qemu", "vm-1", id)));
}

/* ListClaims' node_owner for id, asked as root; NULL when absent. */
static char *listed_node_owner(struct fixture *f, const char *id)
{
	json_object *reply = vlc_call(f->c, "io.hostdevd.ListClaims", NULL), *arr;
	char *owner = NULL;

	assert_true(json_object_object_get_ex(vlc_params(reply), "claims", &arr));
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *e = json_object_array_get_idx(arr, i);

		if (streq(kfix_str_at(e, "device", NULL), id))
			owner = xstrdup(kfix_str_at(e, "node_owner", NULL));
	}
	json_object_put(reply);
	return owner;
}

static void expect_node_owner(char *got, const char *want)
{
	if (!streq(got, want))
		fail_msg("node_owner %s, expected %s", got ? got : "(absent)",
			 want ? want : "(absent)");
	free(got);
}

/* uid 60301 claims the NIC: its group node and its cdev are its own, mode
 * and group as they were; the release gives both back. */
static void test_claim_and_release(void **state)
{
	struct fixture *f = *state;
	static const char *const ids[] = { NIC, NULL };
	struct vlc *hyper;

	if (!f)
		skip();
	put_cdev(f, NIC, 3);
	hyper = connect_as(f, U_HYPER);
	expect_node_owner(claim_ok(hyper, ids, false, NIC), "set");
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	expect_given(NIC_GROUP);
	expect_given(NIC_CDEV);
	expect_node_owner(listed_node_owner(f, NIC), "set");
	/* The other group's node is nobody's business. */
	expect_original(G10_GROUP);
	release_ok(hyper, NIC);
	expect_original(NIC_GROUP);
	expect_original(NIC_CDEV);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	kfix_wait_log(f, "VFIO node given back");
	vlc_free(hyper);
}

/* Root's claim changes nothing, and says nothing of nodes. */
static void test_root_claim_changes_nothing(void **state)
{
	struct fixture *f = *state;
	static const char *const ids[] = { NIC, NULL };

	if (!f)
		skip();
	put_cdev(f, NIC, 3);
	expect_node_owner(claim_ok(f->c, ids, false, NIC), NULL);
	expect_original(NIC_GROUP);
	expect_original(NIC_CDEV);
	expect_node_owner(listed_node_owner(f, NIC), NULL);
	release_ok(f->c, NIC);
	expect_original(NIC_GROUP);
	expect_original(NIC_CDEV);
}

/* A child running as `uid` until *fd is closed. */
static pid_t child_as(uid_t uid, int *fd)
{
	int p[2], ready[2];
	pid_t pid;
	char c;
	ssize_t n;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[1]);
		close(ready[0]);
		if (setresgid(ORIG_GID, ORIG_GID, ORIG_GID) < 0 || setresuid(uid, uid, uid) < 0)
			_exit(1);
		/* Only now is it the uid's: a lease named before this would be
		 * on a root process (the daemon's PermissionDenied). */
		if (write(ready[1], "", 1) != 1)
			_exit(1);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	close(ready[1]);
	while ((n = read(ready[0], &c, 1)) < 0 && errno == EINTR)
		;
	close(ready[0]);
	assert_int_equal(n, 1);
	*fd = p[1];
	return pid;
}

static bool no_claims(struct fixture *f, const void *arg)
{
	return kfix_claims(f) == 0;
}

/* The claim's lease ends (its VMM exits): the release it makes gives the
 * nodes back. */
static void test_lease_end_gives_back(void **state)
{
	struct fixture *f = *state;
	static const char *const ids[] = { NIC, NULL };
	json_object *p, *lease;
	struct vlc *hyper;
	int fd, status;
	pid_t vmm;

	if (!f || !kfix_leases_available())
		skip();
	put_cdev(f, NIC, 3);
	vmm = child_as(U_HYPER, &fd);
	hyper = connect_as(f, U_HYPER);
	p = claim_params(ids, false);
	lease = json_object_new_object();
	json_object_object_add(lease, "pid", json_object_new_int64(vmm));
	json_object_object_add(p, "lease", lease);
	vlc_expect_ok(call_on(hyper, "io.hostdevd.Claim", p));
	expect_given(NIC_GROUP);
	expect_given(NIC_CDEV);
	close(fd);
	assert_int_equal(waitpid(vmm, &status, 0), vmm);
	kfix_wait_until(f, no_claims, NULL, "the lease's release");
	expect_original(NIC_GROUP);
	expect_original(NIC_CDEV);
	vlc_free(hyper);
}

/* kill -9 (if it still runs) and a start on the same state directory and
 * the same dev root. */
static void restart(struct fixture *f)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", f->daemon.state_dir);
	kfix_crash(f, &dead);
	have_dead = true;
	setenv("HOSTDEVD_DEV_ROOT", dev_root, 1);
	kfix_start_on(f, dir);
	unsetenv("HOSTDEVD_DEV_ROOT");
	assert_int_equal(chmod(f->daemon.dir, 0755), 0);
}

/* kill -9 between the claim and its release: the restarted daemon knows
 * from the state file what the nodes were, and the release gives them
 * back. */
static void test_restart_then_release(void **state)
{
	struct fixture *f = *state;
	static const char *const ids[] = { NIC, NULL };
	struct vlc *hyper;

	if (!f)
		skip();
	put_cdev(f, NIC, 3);
	hyper = connect_as(f, U_HYPER);
	expect_node_owner(claim_ok(hyper, ids, false, NIC), "set");
	vlc_free(hyper);
	restart(f);
	expect_given(NIC_GROUP);
	expect_given(NIC_CDEV);
	expect_node_owner(listed_node_owner(f, NIC), "set");
	hyper = connect_as(f, U_HYPER);
	release_ok(hyper, NIC);
	expect_original(NIC_GROUP);
	expect_original(NIC_CDEV);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	vlc_free(hyper);
}

/* --node-owner off (here HOSTDEVD_NODE_OWNER=off): an unprivileged claim
 * hands nothing over and says nothing of nodes, as root's; OpenDevice is
 * the way in.  What a run with it on handed over is still given back by a
 * run with it off. */
static void test_node_owner_off(void **state)
{
	struct fixture *f = *state;
	static const char *const ids[] = { NIC, NULL };
	struct vlc *hyper;

	if (!f)
		skip();
	put_cdev(f, NIC, 3);
	hyper = connect_as(f, U_HYPER);
	expect_node_owner(claim_ok(hyper, ids, false, NIC), "set");
	vlc_free(hyper);
	expect_given(NIC_CDEV);
	setenv("HOSTDEVD_NODE_OWNER", "off", 1);
	restart(f);
	unsetenv("HOSTDEVD_NODE_OWNER");
	hyper = connect_as(f, U_HYPER);
	release_ok(hyper, NIC);
	expect_original(NIC_GROUP);
	expect_original(NIC_CDEV);
	expect_node_owner(claim_ok(hyper, ids, false, NIC), NULL);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	expect_original(NIC_GROUP);
	expect_original(NIC_CDEV);
	expect_node_owner(listed_node_owner(f, NIC), NULL);
	release_ok(hyper, NIC);
	vlc_free(hyper);
}

/* The daemon dies after giving the nodes, before the claim is
 * acknowledged: the restart rolls the claim back and, the state file
 * saying the nodes were handed over, gives them back. */
static void test_crash_before_ack_gives_back(void **state)
{
	struct fixture *f = *state;
	static const char *const ids[] = { NIC, NULL };
	json_object *p;
	struct vlc *hyper;

	if (!f)
		skip();
	put_cdev(f, NIC, 3);
	hyper = connect_as(f, U_HYPER);
	p = claim_params(ids, false);
	vlc_send(hyper, "io.hostdevd.Claim", p, false);
	json_object_put(p);
	assert_true(hdproc_wait(&f->daemon, 20000) >= 0);
	assert_true(WIFSIGNALED(f->daemon.status) && WTERMSIG(f->daemon.status) == SIGKILL);
	vlc_free(hyper);
	expect_given(NIC_GROUP);
	expect_given(NIC_CDEV);
	restart(f);
	expect_original(NIC_GROUP);
	expect_original(NIC_CDEV);
	kfix_wait_state(f, NIC, "host");
	assert_int_equal(kfix_claims(f), 0);
	kfix_wait_log(f, "restart: VFIO node given back");
}

/* A symbolic link in place of the group node, and a directory on the way
 * to the cdev replaced by one: neither is followed, the files they point
 * at keep their owner, the claim holds, and says why.  A regular file is
 * refused too. */
static void test_links_not_followed(void **state)
{
	struct fixture *f = *state;
	static const char *const ids[] = { NIC, NULL };
	static const char *const group10[] = { G10_A, G10_B, G10_C, NULL };
	char path[PATH_MAX], target[PATH_MAX], dir[PATH_MAX], *owner;
	struct vlc *hyper;
	struct stat st;
	int fd;

	if (!f)
		skip();
	/* vfio/8 -> elsewhere/target, a node owned as the others. */
	put_node("elsewhere/target");
	node_path("elsewhere/target", target, sizeof(target));
	node_path(NIC_GROUP, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(target, path), 0);
	/* vfio/devices -> elsewhere/devices, which holds a vfio3 node. */
	kfix_put(f, "sys/bus/pci/devices/" NIC "/vfio-dev/vfio3/dev", "511:3\n");
	put_node("elsewhere/devices/vfio3");
	node_path("elsewhere/devices", dir, sizeof(dir));
	node_path("vfio/devices", path, sizeof(path));
	assert_int_equal(symlink(dir, path), 0);

	hyper = connect_as(f, U_HYPER);
	owner = claim_ok(hyper, ids, false, NIC);
	assert_non_null(owner);
	if (strncmp(owner, "failed: ", 8) != 0 || !strstr(owner, "symbolic link"))
		fail_msg("node_owner: %s", owner);
	free(owner);
	expect_original("elsewhere/target");
	expect_original("elsewhere/devices/vfio3");
	node_path(NIC_GROUP, path, sizeof(path));
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_uid, 0);
	kfix_wait_log(f, "is a symbolic link: not followed");
	release_ok(hyper, NIC);
	expect_original("elsewhere/target");
	expect_original("elsewhere/devices/vfio3");

	/* A regular file where group 10's node should be. */
	node_path(G10_GROUP, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	owner = claim_ok(hyper, group10, false, G10_A);
	assert_non_null(owner);
	if (!strstr(owner, "not a character device"))
		fail_msg("node_owner: %s", owner);
	free(owner);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, 0);
	vlc_expect_ok(call_on(hyper, "io.hostdevd.Release",
			      kfix_owner_params("qemu", "vm-1", NULL)));
	vlc_free(hyper);
}

/* Three functions share group 10 and its node: claimed together, the
 * node goes to the uid once; it comes back only with the last of them,
 * whatever order they are released in, and a member claimed again while
 * another holds the node takes it as it is.  Each function's cdev comes
 * back with its own release. */
static void test_group_node_last_release(void **state)
{
	struct fixture *f = *state;
	static const char *const ids[] = { G10_A, NULL };
	static const char *const b_only[] = { G10_B, NULL };
	struct vlc *hyper;

	if (!f)
		skip();
	put_cdev(f, G10_A, 4);
	put_cdev(f, G10_B, 5);
	hyper = connect_as(f, U_HYPER);
	expect_node_owner(claim_ok(hyper, ids, true, G10_A), "set");
	assert_int_equal(kfix_claims(f), 3);
	expect_given(G10_GROUP);
	expect_given("vfio/devices/vfio4");
	expect_given("vfio/devices/vfio5");
	expect_node_owner(listed_node_owner(f, G10_C), "set");

	release_ok(hyper, G10_B);
	expect_given(G10_GROUP);
	expect_original("vfio/devices/vfio5");
	/* B again, while A and C hold the group's node. */
	expect_node_owner(claim_ok(hyper, b_only, false, G10_B), "set");
	expect_given(G10_GROUP);
	expect_given("vfio/devices/vfio5");

	release_ok(hyper, G10_A);
	expect_given(G10_GROUP);
	expect_original("vfio/devices/vfio4");
	release_ok(hyper, G10_C);
	expect_given(G10_GROUP);
	release_ok(hyper, G10_B);
	expect_original(G10_GROUP);
	expect_original("vfio/devices/vfio5");
	assert_int_equal(kfix_claims(f), 0);
	vlc_free(hyper);
}

/* No node yet (udev has not made it): the claim holds, says "none", and
 * the node made later is left to udev. */
static void test_missing_node(void **state)
{
	struct fixture *f = *state;
	static const char *const ids[] = { NIC, NULL };
	char path[PATH_MAX];
	struct vlc *hyper;

	if (!f)
		skip();
	node_path(NIC_GROUP, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	hyper = connect_as(f, U_HYPER);
	expect_node_owner(claim_ok(hyper, ids, false, NIC), "none");
	put_node(NIC_GROUP);
	release_ok(hyper, NIC);
	expect_original(NIC_GROUP);
	vlc_free(hyper);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claim_and_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_claim_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_owner_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_end_gives_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_then_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_before_ack_gives_back, setup_nodes_given,
						teardown),
		cmocka_unit_test_setup_teardown(test_links_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_node_last_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_node, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
