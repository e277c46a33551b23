/* VFIO nodes (engine/vfionode.c): their names from a device record, the
 * names a state file may give, and owner changes on real character
 * device nodes (mknod in a scratch directory, /dev/null's numbers): made
 * on the node itself, never through a symbolic link, only on a character
 * device, only from the owner expected; in a worker thread on a real event
 * loop, and at shutdown before the answer; never under the machine's /dev
 * in a test.  mknod and chown need root: the tests that make nodes skip
 * otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/stub.h"
#include "common/util.h"
#include "engine/vfionode.h"
#include "tests/common/rmtree.h"
#include "tests/unit/testdev.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define DEADLINE_S 10

static char root[64];

static int setup(void **state)
{
	strcpy(root, "/tmp/hd-vfionode.XXXXXX");
	assert_non_null(mkdtemp(root));
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(rmtree(root), 0);
	return 0;
}

static void path_of(const char *rel, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", root, rel);
}

static void mkdirs(const char *rel)
{
	char path[PATH_MAX], *p;

	path_of(rel, path, sizeof(path));
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

/* A character device node owned uid:gid, mode 0600. */
static void put_node(const char *rel, uid_t uid, gid_t gid)
{
	char path[PATH_MAX];

	path_of(rel, path, sizeof(path));
	assert_int_equal(mknod(path, S_IFCHR | 0600, makedev(1, 3)), 0);
	assert_int_equal(chown(path, uid, gid), 0);
}

static void expect_owner(const char *rel, uid_t uid, gid_t gid)
{
	char path[PATH_MAX];
	struct stat st;

	path_of(rel, path, sizeof(path));
	assert_int_equal(lstat(path, &st), 0);
	if (st.st_uid != uid || st.st_gid != gid)
		fail_msg("%s is %u:%u, expected %u:%u", path, (unsigned)st.st_uid,
			 (unsigned)st.st_gid, (unsigned)uid, (unsigned)gid);
}

static struct vfionode_change change(const char *name, uid_t expect, uid_t uid, gid_t gid)
{
	struct vfionode_change c = { .expect_uid = expect, .uid = uid, .gid = gid };

	snprintf(c.name, sizeof(c.name), "%s", name);
	return c;
}

static void test_names(void **state)
{
	char names[2][VFIONODE_NAME_MAX], name[VFIONODE_NAME_MAX], syspath[PATH_MAX];
	struct device *dev = testdev_pci("0000:03:00.0", 0x8086, 0x10d3, 0x020000, 8, "vfio-pci",
					 NULL);
	const char *kind = NULL;

	assert_true(vfionode_name_valid("vfio/8"));
	assert_true(vfionode_name_valid("vfio/devices/vfio3"));
	assert_false(vfionode_name_valid("vfio/"));
	assert_false(vfionode_name_valid("vfio/8/x"));
	assert_false(vfionode_name_valid("vfio/../../etc/shadow"));
	assert_false(vfionode_name_valid("/etc/shadow"));
	assert_false(vfionode_name_valid("vfio/devices/vfio"));
	assert_false(vfionode_name_valid("vfio/devices/x3"));
	assert_false(vfionode_name_valid("vfio/vfio"));
	assert_false(vfionode_name_valid(NULL));

	/* No cdev in sysfs: the group's node only. */
	free(dev->syspath);
	path_of("sys/0000:03:00.0", syspath, sizeof(syspath));
	dev->syspath = xstrdup(syspath);
	mkdirs("sys/0000:03:00.0");
	assert_int_equal(vfionode_names(dev, names), 1);
	assert_string_equal(names[0], "vfio/8");
	assert_true(vfionode_open_name(dev, name, sizeof(name), &kind));
	assert_string_equal(name, "vfio/8");
	assert_string_equal(kind, "group");
	/* vfio-dev/vfio3 with no dev attribute (kernels 6.1 to 6.5 list the
	 * device so): no cdev. */
	mkdirs("sys/0000:03:00.0/vfio-dev/vfio3");
	assert_int_equal(vfionode_names(dev, names), 1);
	assert_true(vfionode_open_name(dev, name, sizeof(name), &kind));
	assert_string_equal(kind, "group");
	/* A character device: its cdev too, which OpenDevice prefers. */
	mkdirs("sys/0000:03:00.0/vfio-dev/vfio3/dev");
	assert_int_equal(vfionode_names(dev, names), 2);
	assert_string_equal(names[1], "vfio/devices/vfio3");
	assert_true(vfionode_open_name(dev, name, sizeof(name), &kind));
	assert_string_equal(name, "vfio/devices/vfio3");
	assert_string_equal(kind, "cdev");
	/* A variant serves VFIO too; a host driver or pci-stub has no node. */
	stub_learn_variant("mlx5_vfio_pci");
	dev->driver = device_intern("mlx5_vfio_pci");
	assert_int_equal(vfionode_names(dev, names), 2);
	dev->driver = device_intern("pci-stub");
	assert_int_equal(vfionode_names(dev, names), 0);
	dev->driver = device_intern("e1000e");
	assert_int_equal(vfionode_names(dev, names), 0);
	device_free(dev);
}

/* Each outcome of an owner change, on the caller's thread. */
static void test_changes(void **state)
{
	struct event_base *base;
	struct vfionodes *n;
	struct vfionode_change v[8];
	char path[PATH_MAX], target[PATH_MAX];
	struct vfionode_stat st;
	int fd;

	if (geteuid() != 0)
		skip();
	base = event_base_new();
	n = vfionodes_new(base, root);
	mkdirs("vfio/devices");
	mkdirs("elsewhere");
	put_node("vfio/8", 0, 7);
	put_node("vfio/devices/vfio3", 0, 7);
	put_node("elsewhere/target", 0, 7);
	/* vfio/9: a link to a node; vfio/10: a regular file. */
	path_of("elsewhere/target", target, sizeof(target));
	path_of("vfio/9", path, sizeof(path));
	assert_int_equal(symlink(target, path), 0);
	path_of("vfio/10", path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);

	assert_int_equal(vfionode_stat(root, "vfio/8", &st, NULL, 0), VFIONODE_ALREADY);
	assert_int_equal(st.uid, 0);
	assert_int_equal(st.gid, 7);
	assert_int_equal(st.mode, 0600);
	assert_int_equal(st.rdev, makedev(1, 3));
	assert_int_equal(vfionode_stat(root, "vfio/9", &st, NULL, 0), VFIONODE_REFUSED);
	assert_int_equal(vfionode_stat(root, "vfio/11", &st, NULL, 0), VFIONODE_MISSING);

	v[0] = change("vfio/8", 0, 1000, (gid_t)-1);           /* changed, group kept */
	v[1] = change("vfio/devices/vfio3", 5, 1000, (gid_t)-1); /* not from uid 5 */
	v[2] = change("vfio/9", 0, 1000, (gid_t)-1);           /* a link */
	v[3] = change("vfio/10", 0, 1000, (gid_t)-1);          /* a file */
	v[4] = change("vfio/11", 0, 1000, (gid_t)-1);          /* none */
	v[5] = change("vfio/8", 0, 1000, (gid_t)-1);           /* already */
	v[6] = change("vfio/8", 1000, 0, 7);                   /* back, group too */
	v[7] = change("vfio/8", 1000, 0, 9);                   /* not from uid 1000 now */
	v[7].rdev = makedev(1, 3);
	vfionodes_apply_now(n, v, 6);
	assert_int_equal(v[0].outcome, VFIONODE_CHANGED);
	expect_owner("vfio/8", 1000, 7);
	assert_int_equal(v[1].outcome, VFIONODE_MOVED);
	expect_owner("vfio/devices/vfio3", 0, 7);
	assert_int_equal(v[2].outcome, VFIONODE_REFUSED);
	assert_non_null(strstr(v[2].why, "symbolic link"));
	expect_owner("elsewhere/target", 0, 7);
	assert_int_equal(v[3].outcome, VFIONODE_REFUSED);
	assert_non_null(strstr(v[3].why, "not a character device"));
	assert_int_equal(v[4].outcome, VFIONODE_MISSING);
	assert_int_equal(v[4].err, ENOENT);
	assert_int_equal(v[5].outcome, VFIONODE_ALREADY);
	vfionodes_apply_now(n, &v[6], 2);
	assert_int_equal(v[6].outcome, VFIONODE_CHANGED);
	expect_owner("vfio/8", 0, 7);
	assert_int_equal(v[7].outcome, VFIONODE_MOVED);
	expect_owner("vfio/8", 0, 7);
	/* The mode is never touched. */
	assert_int_equal(vfionode_stat(root, "vfio/8", &st, NULL, 0), VFIONODE_ALREADY);
	assert_int_equal(st.mode, 0600);
	vfionodes_free(n);
	event_base_free(base);
}

/* A directory on the way replaced by a link: refused, the node it leads
 * to left alone. */
static void test_link_on_the_way(void **state)
{
	struct event_base *base;
	struct vfionodes *n;
	struct vfionode_change v;
	char dir[PATH_MAX], path[PATH_MAX];

	if (geteuid() != 0)
		skip();
	base = event_base_new();
	n = vfionodes_new(base, root);
	mkdirs("vfio");
	mkdirs("elsewhere");
	put_node("elsewhere/vfio3", 0, 0);
	path_of("elsewhere", dir, sizeof(dir));
	path_of("vfio/devices", path, sizeof(path));
	assert_int_equal(symlink(dir, path), 0);
	v = change("vfio/devices/vfio3", 0, 1000, (gid_t)-1);
	vfionodes_apply_now(n, &v, 1);
	assert_int_equal(v.outcome, VFIONODE_REFUSED);
	assert_int_equal(v.err, ENOTDIR);
	assert_non_null(strstr(v.why, "devices is not a directory"));
	expect_owner("elsewhere/vfio3", 0, 0);
	vfionodes_free(n);
	event_base_free(base);
}

struct answers {
	unsigned calls;
	size_t count;
	enum vfionode_outcome first;
};

static void on_answer(const struct vfionode_change *v, size_t count, void *arg)
{
	struct answers *a = arg;

	a->calls++;
	a->count = count;
	a->first = v[0].outcome;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	fail_msg("deadline passed while waiting for the worker");
}

/* In the worker, answered on the loop; at shutdown, what was asked is
 * made and answered before the free returns. */
static void test_worker_and_shutdown(void **state)
{
	struct event_base *base;
	struct vfionodes *n;
	struct vfionode_change v[2];
	struct answers a = { 0 }, b = { 0 };
	struct timeval tv = { .tv_sec = DEADLINE_S };
	struct event *deadline;

	if (geteuid() != 0)
		skip();
	base = event_base_new();
	n = vfionodes_new(base, root);
	mkdirs("vfio");
	put_node("vfio/8", 0, 0);
	put_node("vfio/9", 0, 0);
	v[0] = change("vfio/8", 0, 1000, (gid_t)-1);
	v[1] = change("vfio/9", 0, 1000, (gid_t)-1);
	vfionodes_apply(n, v, 2, on_answer, &a);
	/* Copied: the caller's array may go. */
	memset(v, 0, sizeof(v));
	deadline = evtimer_new(base, on_deadline, NULL);
	evtimer_add(deadline, &tv);
	while (!a.calls)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(deadline);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.count, 2);
	assert_int_equal(a.first, VFIONODE_CHANGED);
	expect_owner("vfio/8", 1000, 0);
	expect_owner("vfio/9", 1000, 0);

	v[0] = change("vfio/8", 1000, 0, 0);
	vfionodes_apply(n, v, 1, on_answer, &b);
	vfionodes_stop(n); /* the loop never turns again */
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.first, VFIONODE_CHANGED);
	expect_owner("vfio/8", 0, 0);
	/* Stopped: made and answered at once. */
	memset(&b, 0, sizeof(b));
	v[0] = change("vfio/9", 1000, 0, 0);
	vfionodes_apply(n, v, 1, on_answer, &b);
	assert_int_equal(b.calls, 1);
	expect_owner("vfio/9", 0, 0);
	vfionodes_free(n);
	event_base_free(base);
}

/* Under HOSTDEVD_REQUIRE_MOCK=1 no owner changes under the machine's
 * /dev, named so or reached through a link; a scratch dev root is fine. */
static void test_guard(void **state)
{
	struct event_base *base;
	struct vfionodes *n;
	struct vfionode_change v;
	char link[PATH_MAX];

	if (geteuid() != 0)
		skip();
	base = event_base_new();
	setenv("HOSTDEVD_REQUIRE_MOCK", "1", 1);
	/* Were the guard broken, these would still write nothing: no such
	 * node, and an owner no node has (MISSING or MOVED, not EPERM). */
	n = vfionodes_new(base, "/dev");
	v = change("vfio/devices/vfio999999", 4242424, 1000, (gid_t)-1);
	vfionodes_apply_now(n, &v, 1);
	assert_int_equal(v.outcome, VFIONODE_FAILED);
	assert_int_equal(v.err, EPERM);
	assert_non_null(strstr(v.why, "REFUSING"));
	vfionodes_free(n);
	path_of("devlink", link, sizeof(link));
	assert_int_equal(symlink("/dev", link), 0);
	n = vfionodes_new(base, link);
	v = change("vfio/devices/vfio999999", 4242424, 1000, (gid_t)-1);
	vfionodes_apply_now(n, &v, 1);
	assert_int_equal(v.outcome, VFIONODE_FAILED);
	assert_int_equal(v.err, EPERM);
	vfionodes_free(n);
	/* The scratch directory is a test's own. */
	mkdirs("vfio");
	put_node("vfio/8", 0, 0);
	n = vfionodes_new(base, root);
	v = change("vfio/8", 0, 1000, (gid_t)-1);
	vfionodes_apply_now(n, &v, 1);
	assert_int_equal(v.outcome, VFIONODE_CHANGED);
	vfionodes_free(n);
	unsetenv("HOSTDEVD_REQUIRE_MOCK");
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_on_the_way, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker_and_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guard, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
