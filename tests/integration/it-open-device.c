/* OpenDevice (issue 14, "Unprivileged VMMs"): the daemon opens a claimed
 * device's VFIO node and passes the descriptor over the socket
 * (SCM_RIGHTS).  The real daemon on the kernel emulator, its /dev
 * redirected (HOSTDEVD_DEV_ROOT) to a temporary directory whose ordinary
 * files stand in for the nodes: the descriptor received is the file's
 * (same inode), the cdev is preferred when sysfs names one, only the
 * claim's uid (or admin) gets it, and the daemon keeps no descriptor.  The
 * clients connect under other uids (seteuid around connect), so this needs
 * root; it skips otherwise. */
#include "tests/integration/kfix.h"
#include <hostdev/hostdev.h>
#include "tests/kemu/kemu.h"
#include "tests/kemu/kfs.h"
#include "common/util.h"
#include "tests/common/rmtree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NIC "0000:03:00.0"  /* e1000e, IOMMU group 8 */
#define NIC2 "0000:02:00.0" /* e1000e */
#define NIC_GROUP "8"

enum { U_HYPER = 60201, U_OTHER, U_LIST };

static char dev_root[64];
static gid_t sock_gid;

static void put_file(const char *rel)
{
	char path[PATH_MAX], dir[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dev_root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(kfs_mkdir_p(dir), 0);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
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
	strcpy(dev_root, "/tmp/hd-devroot.XXXXXX");
	assert_non_null(mkdtemp(dev_root));
	/* The group nodes of both NICs' groups exist; the cdev only when a
	 * test makes one. */
	put_file("vfio/" NIC_GROUP);
	put_file("vfio/vfio"); /* the container, which OpenDevice never opens */
	snprintf(text, sizeof(text),
		 "socket_group = \"%s\";\n"
		 "clients = (\n"
		 "  { uid = %d; permissions = [\"claim\", \"release\"]; },\n"
		 "  { uid = %d; permissions = [\"claim\", \"release\"]; },\n"
		 "  { uid = %d; permissions = [\"list\"]; }\n"
		 ");\n",
		 g->gr_name, U_HYPER, U_OTHER, U_LIST);
	setenv("HOSTDEVD_DEV_ROOT", dev_root, 1);
	r = kfix_setup_policy(state, text);
	unsetenv("HOSTDEVD_DEV_ROOT");
	if (r == 0)
		assert_int_equal(chmod(((struct fixture *)*state)->daemon.dir, 0755), 0);
	return r;
}

static int teardown(void **state)
{
	if (!*state)
		return 0;
	kfix_teardown(state);
	assert_int_equal(rmtree(dev_root), 0);
	return 0;
}

static struct vlc *connect_as(struct fixture *f, uid_t uid)
{
	return kfix_connect_as(f, uid, sock_gid);
}

static json_object *owner_params(const char *domain, const char *id, bool list)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "owner", kfix_owner("qemu", domain));
	if (list) {
		json_object *arr = json_object_new_array();

		json_object_array_add(arr, json_object_new_string(id));
		json_object_object_add(p, "devices", arr);
	} else {
		json_object_object_add(p, "device", json_object_new_string(id));
	}
	return p;
}

static json_object *call_on(struct vlc *c, const char *method, json_object *p)
{
	json_object *reply = vlc_call(c, method, p);

	json_object_put(p);
	return reply;
}

/* The daemon's open descriptors. */
static size_t daemon_fds(struct fixture *f)
{
	char path[64];
	DIR *d;
	size_t n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)f->daemon.pid);
	d = opendir(path);
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static bool fds_back(struct fixture *f, const void *arg)
{
	return daemon_fds(f) == *(const size_t *)arg;
}

/* The daemon closes its copy just after the write that carried it, which
 * may be after the reply reached us: wait for it (a leak times out). */
static void wait_daemon_fds(struct fixture *f, size_t n)
{
	kfix_wait_until(f, fds_back, &n, "the daemon's descriptors to be back");
}

/* OpenDevice as `c`: the reply succeeds, names `kind` and the node at
 * `rel` under the dev root, and brings a read-write descriptor of that
 * very file. */
static void expect_opened(struct vlc *c, const char *domain, const char *id, const char *kind,
			  const char *rel)
{
	json_object *reply = call_on(c, "io.hostdevd.OpenDevice", owner_params(domain, id, false));
	json_object *p;
	char want[PATH_MAX];
	struct stat a, b;
	int fd;

	if (vlc_error(reply))
		fail_msg("OpenDevice failed: %s", json_object_to_json_string(reply));
	p = vlc_reply_params(reply);
	snprintf(want, sizeof(want), "%s/%s", dev_root, rel);
	assert_string_equal(kfix_str_at(p, "kind", NULL), kind);
	assert_string_equal(kfix_str_at(p, "path", NULL), want);
	assert_string_equal(kfix_str_at(p, "device", NULL), id);
	assert_int_equal(json_object_get_int(json_object_object_get(p, "fd_index")), 0);
	json_object_put(reply);
	fd = vlc_take_fd(c);
	assert_true(fd >= 0);
	assert_int_equal(vlc_take_fd(c), -1);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat(want, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_dev, b.st_dev);
	assert_int_equal(fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_RDWR);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

static void expect_error(struct vlc *c, json_object *reply, const char *error)
{
	if (!vlc_error(reply))
		fail_msg("expected %s, got %s", error, json_object_to_json_string(reply));
	assert_string_equal(vlc_error(reply), error);
	json_object_put(reply);
	assert_int_equal(vlc_take_fd(c), -1);
}

/* Without a cdev, the group node; the claim's own uid receives it, as
 * does root (admin); the daemon's descriptors are as many after as
 * before. */
static void test_group_node_passed(void **state)
{
	struct fixture *f = *state;
	struct vlc *hyper;
	size_t before;

	if (!f)
		skip();
	hyper = connect_as(f, U_HYPER);
	vlc_expect_ok(call_on(hyper, "io.hostdevd.Claim", owner_params("vm-1", NIC, true)));
	/* Every connection accepted before counting: root's too. */
	vlc_expect_ok(call_on(f->c, "io.hostdevd.ListClaims", json_object_new_object()));
	before = daemon_fds(f);
	expect_opened(hyper, "vm-1", NIC, "group", "vfio/" NIC_GROUP);
	expect_opened(hyper, "vm-1", NIC, "group", "vfio/" NIC_GROUP);
	expect_opened(f->c, "vm-1", NIC, "group", "vfio/" NIC_GROUP);
	wait_daemon_fds(f, before);
	vlc_expect_ok(call_on(hyper, "io.hostdevd.Release", owner_params("vm-1", NIC, true)));
	vlc_free(hyper);
}

/* With vfio-dev/vfioN in the device's sysfs directory (a kernel with VFIO
 * cdev), the cdev /dev/vfio/devices/vfioN. */
static void test_cdev_preferred(void **state)
{
	struct fixture *f = *state;
	struct vlc *hyper;

	if (!f)
		skip();
	kfix_put(f, "sys/bus/pci/devices/" NIC "/vfio-dev/vfio3/dev", "511:3\n");
	put_file("vfio/devices/vfio3");
	hyper = connect_as(f, U_HYPER);
	vlc_expect_ok(call_on(hyper, "io.hostdevd.Claim", owner_params("vm-1", NIC, true)));
	expect_opened(hyper, "vm-1", NIC, "cdev", "vfio/devices/vfio3");
	vlc_expect_ok(call_on(hyper, "io.hostdevd.Release", owner_params("vm-1", NIC, true)));
	vlc_free(hyper);
}

/* Kernels 6.1 to 6.5 (and later ones built without VFIO cdev) list the
 * device under vfio-dev/ too, but as no character device (no `dev`
 * attribute, no /dev/vfio/devices node): the group node.  Found in the VM
 * tier on Debian 12's 6.1, where the daemon tried the cdev and failed. */
static void test_vfio_dev_without_cdev(void **state)
{
	struct fixture *f = *state;
	struct vlc *hyper;

	if (!f)
		skip();
	kfix_put(f, "sys/bus/pci/devices/" NIC "/vfio-dev/vfio3/uevent", "");
	hyper = connect_as(f, U_HYPER);
	vlc_expect_ok(call_on(hyper, "io.hostdevd.Claim", owner_params("vm-1", NIC, true)));
	expect_opened(hyper, "vm-1", NIC, "group", "vfio/" NIC_GROUP);
	vlc_expect_ok(call_on(hyper, "io.hostdevd.Release", owner_params("vm-1", NIC, true)));
	vlc_free(hyper);
}

/* Another uid, another owner, an unclaimed device, a device claimed on a
 * stub that is not vfio-pci, a node that is not there: refused, with no
 * descriptor sent and none kept. */
static void test_refusals(void **state)
{
	struct fixture *f = *state;
	struct vlc *hyper, *other, *lister;
	size_t before;

	if (!f)
		skip();
	hyper = connect_as(f, U_HYPER);
	other = connect_as(f, U_OTHER);
	lister = connect_as(f, U_LIST);
	vlc_expect_ok(call_on(hyper, "io.hostdevd.Claim", owner_params("vm-1", NIC, true)));
	vlc_expect_ok(call_on(other, "org.varlink.service.GetInfo", json_object_new_object()));
	vlc_expect_ok(call_on(lister, "org.varlink.service.GetInfo", json_object_new_object()));
	vlc_expect_ok(call_on(f->c, "org.varlink.service.GetInfo", json_object_new_object()));
	before = daemon_fds(f);
	expect_error(other,
		     call_on(other, "io.hostdevd.OpenDevice", owner_params("vm-1", NIC, false)),
		     "io.hostdevd.PermissionDenied");
	expect_error(lister,
		     call_on(lister, "io.hostdevd.OpenDevice", owner_params("vm-1", NIC, false)),
		     "io.hostdevd.PermissionDenied");
	expect_error(hyper,
		     call_on(hyper, "io.hostdevd.OpenDevice", owner_params("vm-2", NIC, false)),
		     "io.hostdevd.NotClaimed");
	expect_error(hyper,
		     call_on(hyper, "io.hostdevd.OpenDevice", owner_params("vm-1", NIC2, false)),
		     "io.hostdevd.NotClaimed");
	/* Claimed on pci-stub: no VFIO node to give. */
	{
		json_object *p = owner_params("vm-1", NIC2, true);

		json_object_object_add(p, "driver", json_object_new_string("pci-stub"));
		vlc_expect_ok(call_on(hyper, "io.hostdevd.Claim", p));
	}
	expect_error(hyper,
		     call_on(hyper, "io.hostdevd.OpenDevice", owner_params("vm-1", NIC2, false)),
		     "io.hostdevd.InvalidDeviceState");
	/* The node missing: OperationFailed, step open. */
	{
		char path[PATH_MAX];
		json_object *reply;

		snprintf(path, sizeof(path), "%s/vfio/" NIC_GROUP, dev_root);
		assert_int_equal(unlink(path), 0);
		reply = call_on(hyper, "io.hostdevd.OpenDevice", owner_params("vm-1", NIC, false));
		assert_string_equal(kfix_str_at(vlc_reply_params(reply), "step", NULL), "open");
		assert_int_equal(json_object_get_int(json_object_object_get(
					 vlc_reply_params(reply), "errno")),
				 ENOENT);
		expect_error(hyper, reply, "io.hostdevd.OperationFailed");
		put_file("vfio/" NIC_GROUP);
	}
	wait_daemon_fds(f, before);
	vlc_expect_ok(call_on(hyper, "io.hostdevd.Release", kfix_owner_params("qemu", "vm-1", NULL)));
	vlc_free(hyper);
	vlc_free(other);
	vlc_free(lister);
}

/* libhostdev's hd_open_device against the daemon: prepare, open, the
 * descriptor is the node's. */
static void test_libhostdev_open(void **state)
{
	struct fixture *f = *state;
	static const struct hd_owner owner = { .driver = "qemu", .domain = "vm-1" };
	static const char *const ids[] = { NIC };
	struct hd_error *err = NULL;
	struct hd_manager *m;
	char *path = NULL, want[PATH_MAX];
	bool cdev = true;
	struct stat a, b;
	int fd = -1;

	if (!f)
		skip();
	m = hd_manager_open(f->daemon.socket_path, &err);
	assert_non_null(m);
	assert_int_equal(hd_prepare_pci_devices(m, &owner, ids, 1, 0, NULL, &err), 0);
	if (hd_open_device(m, &owner, NIC, &fd, &cdev, &path, &err) < 0)
		fail_msg("hd_open_device: %s", hd_error_message(err));
	snprintf(want, sizeof(want), "%s/vfio/" NIC_GROUP, dev_root);
	assert_string_equal(path, want);
	assert_false(cdev);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat(want, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	close(fd);
	free(path);
	assert_int_equal(hd_reattach_all_devices(m, &owner, 0, &err), 0);
	hd_manager_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_group_node_passed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cdev_preferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vfio_dev_without_cdev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_libhostdev_open, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
