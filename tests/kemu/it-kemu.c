/* The kernel emulator (libhdkemu.so), driven the way the daemon will drive
 * it: plain open() and write() of /sys paths from this process, which runs
 * with the emulator and umockdev's preload (LD_PRELOAD, set by ctest).
 * Every write's effect is checked in sysfs, /dev and the uevents a libudev
 * monitor receives; all of them arrive before write() returns. */
#include "tests/integration/itest.h"
#include "tests/integration/testbed.h"
#include "tests/integration/uevmon.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define NIC "0000:03:00.0"  /* e1000e, IOMMU group 8, reset */
#define NIC2 "0000:02:00.0" /* e1000e, group 6 */
#define NIC_DIR "/sys/bus/pci/devices/" NIC
#define NIC2_DIR "/sys/bus/pci/devices/" NIC2
#define PROBE "/sys/bus/pci/drivers_probe"

struct fixture {
	struct testbed *tb;
	const char *root;
	struct udev *udev;
	struct udev_monitor *mon;
};

static int setup(void **state)
{
	struct fixture *f;

	if (!kemu_loaded()) {
		fprintf(stderr, "it-kemu: libhdkemu.so is not preloaded; run it through ctest, "
				"which puts it first in LD_PRELOAD\n");
		return -1;
	}
	f = xcalloc(1, sizeof(*f));
	f->tb = tb_new();
	f->root = tb_root(f->tb);
	tb_build_standard(f->tb);
	f->udev = udev_new();
	f->mon = uevmon_new(f->udev, "udev", NULL, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	if (f->mon)
		udev_monitor_unref(f->mon);
	udev_unref(f->udev);
	tb_free(f->tb);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* One write, as the daemon's seam does it: 0 or -errno. */
static int sysfs_write(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		r = -errno;
	close(fd);
	return r;
}

static void write_ok(const char *path, const char *value)
{
	assert_int_equal(sysfs_write(path, value), 0);
}

static void write_fails(const char *path, const char *value, int err)
{
	assert_int_equal(sysfs_write(path, value), -err);
}

static const char *read_attr(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, len - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static void assert_attr(const char *path, const char *expected)
{
	char buf[256];

	assert_string_equal(read_attr(path, buf, sizeof(buf)), expected);
}

/* The driver link's last component, or NULL when unbound. */
static const char *driver_of(const char *bus, const char *id, char *buf, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	const char *slash;

	snprintf(path, sizeof(path), "/sys/bus/%s/devices/%s/driver", bus, id);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return NULL;
	target[n] = '\0';
	slash = strrchr(target, '/');
	assert_true(snprintf(buf, len, "%s", slash ? slash + 1 : target) < (int)len);
	return buf;
}

static void assert_driver(const char *bus, const char *id, const char *expected)
{
	char buf[NAME_MAX + 1];
	const char *drv = driver_of(bus, id, buf, sizeof(buf));

	if (expected)
		assert_string_equal(drv, expected);
	else
		assert_null(drv);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Returns the event's SEQNUM. */
static unsigned long long expect_event(struct fixture *f, const char *action, const char *id,
				       const char *driver)
{
	struct udev_device *d = uevmon_expect(f->mon, action, id, driver);
	unsigned long long seqnum = udev_device_get_seqnum(d);

	assert_true(seqnum > 0);
	udev_device_unref(d);
	return seqnum;
}

/* The emulator sends before write() returns: what is not queued now never
 * comes. */
static void expect_quiet(struct fixture *f)
{
	struct udev_device *d = uevmon_next(f->mon, 0);

	if (d)
		fail_msg("unexpected %s event of %s", udev_device_get_action(d),
			 udev_device_get_sysname(d));
}

static bool uevent_has_driver(const char *devdir)
{
	char path[PATH_MAX], buf[2048];

	snprintf(path, sizeof(path), "%s/uevent", devdir);
	return strstr(read_attr(path, buf, sizeof(buf)), "DRIVER=") != NULL;
}

/* ---- the vfio-pci sequence ---------------------------------------------- */

static void test_vfio_round_trip(void **state)
{
	struct fixture *f = *state;
	char *log, before[2048], after[2048];
	struct stat st;

	read_attr(NIC_DIR "/uevent", before, sizeof(before));
	write_ok(NIC_DIR "/driver_override", "vfio-pci\n");
	assert_attr(NIC_DIR "/driver_override", "vfio-pci\n");
	assert_driver("pci", NIC, "e1000e"); /* an override alone moves nothing */
	expect_quiet(f);

	write_ok(NIC_DIR "/driver/unbind", NIC);
	expect_event(f, "unbind", NIC, NULL);
	assert_driver("pci", NIC, NULL);
	assert_false(exists("/sys/bus/pci/drivers/e1000e/" NIC));
	assert_false(uevent_has_driver(NIC_DIR));

	write_ok(PROBE, NIC "\n");
	expect_event(f, "bind", NIC, "vfio-pci");
	expect_quiet(f);
	assert_driver("pci", NIC, "vfio-pci");
	assert_true(exists("/sys/bus/pci/drivers/vfio-pci/" NIC));
	assert_true(uevent_has_driver(NIC_DIR));
	assert_true(kemu_vfio_present(f->root, "8"));
	assert_int_equal(stat("/dev/vfio/8", &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(minor(st.st_rdev), 8);
	assert_string_equal(tb_driver(f->tb, NIC), "vfio-pci"); /* the model follows */

	/* And back to the host driver. */
	write_ok(NIC_DIR "/driver_override", "\n");
	assert_attr(NIC_DIR "/driver_override", "(null)\n");
	write_ok("/sys/bus/pci/drivers/vfio-pci/unbind", NIC);
	expect_event(f, "unbind", NIC, NULL);
	assert_false(kemu_vfio_present(f->root, "8"));
	write_ok(PROBE, NIC);
	expect_event(f, "bind", NIC, "e1000e");
	expect_quiet(f);
	assert_driver("pci", NIC, "e1000e");
	/* DRIVER= back in its place: the testbed's file, byte for byte. */
	assert_string_equal(read_attr(NIC_DIR "/uevent", after, sizeof(after)), before);

	assert_int_equal(kemu_writes(f->root, "driver_override", NIC), 2);
	assert_int_equal(kemu_writes(f->root, "unbind", NIC), 2);
	assert_int_equal(kemu_writes(f->root, "drivers_probe", NIC), 2);
	assert_int_equal(kemu_writes(f->root, "drivers_probe", NULL), 2);
	assert_int_equal(kemu_writes(f->root, "bind", NIC), 0);
	log = kemu_log(f->root);
	assert_string_equal(log, "driver_override " NIC " vfio-pci_ = 0\n"
				 "unbind " NIC " " NIC " = 0\n"
				 "drivers_probe " NIC " " NIC "_ = 0\n"
				 "driver_override " NIC " _ = 0\n"
				 "unbind " NIC " " NIC " = 0\n"
				 "drivers_probe " NIC " " NIC " = 0\n");
	free(log);
}

/* Detach through bind rather than drivers_probe. */
static void detach_by_bind(struct fixture *f, const char *id, const char *from)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", id);
	write_ok(path, "vfio-pci");
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", from);
	write_ok(path, id);
	expect_event(f, "unbind", id, NULL);
	write_ok("/sys/bus/pci/drivers/vfio-pci/bind", id);
	expect_event(f, "bind", id, "vfio-pci");
}

/* /dev/vfio/N comes with the group's first vfio-pci member and goes with
 * its last. */
static void test_vfio_node_follows_the_group(void **state)
{
	struct fixture *f = *state;

	assert_true(kemu_vfio_present(f->root, "14")); /* the VF the machine starts with */
	assert_false(kemu_vfio_present(f->root, "10"));
	detach_by_bind(f, "0000:05:00.0", "r8169");
	assert_true(kemu_vfio_present(f->root, "10"));
	detach_by_bind(f, "0000:05:01.0", "serial");
	write_ok("/sys/bus/pci/drivers/vfio-pci/unbind", "0000:05:00.0");
	expect_event(f, "unbind", "0000:05:00.0", NULL);
	assert_true(kemu_vfio_present(f->root, "10"));
	write_ok("/sys/bus/pci/drivers/vfio-pci/unbind", "0000:05:01.0\n");
	expect_event(f, "unbind", "0000:05:01.0", NULL);
	assert_false(kemu_vfio_present(f->root, "10"));
	expect_quiet(f);
}

/* ---- the kernel's refusals ---------------------------------------------- */

static void test_kernel_errors(void **state)
{
	struct fixture *f = *state;
	char big[5000];
	char *log;

	/* No override and not its native driver: no match. */
	write_fails("/sys/bus/pci/drivers/vfio-pci/bind", NIC, ENODEV);
	/* A match, but bound already. */
	write_fails("/sys/bus/pci/drivers/e1000e/bind", NIC, EBUSY);
	write_fails("/sys/bus/pci/drivers/vfio-pci/unbind", NIC, ENODEV);
	write_fails("/sys/bus/pci/drivers/e1000e/unbind", "0000:09:00.0", ENODEV);
	write_fails("/sys/bus/pci/drivers/e1000e/bind", "0000:09:00.0", ENODEV);
	write_fails("/sys/bus/pci/drivers/e1000e/unbind", "\n", ENODEV);
	write_fails(PROBE, "0000:09:00.0", EINVAL);
	write_ok(PROBE, NIC); /* bound: nothing to do */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_fails(NIC_DIR "/driver_override", big, EINVAL);
	write_fails(NIC_DIR "/reset", "0", EINVAL);
	write_fails(NIC_DIR "/reset", "yes", EINVAL);
	write_fails(NIC_DIR "/remove", "-1", EINVAL);
	write_ok(NIC_DIR "/remove", "0"); /* zero removes nothing */
	write_fails("/sys/bus/usb/devices/1-2.2/authorized", "x", EINVAL);
	/* The kernel offers reset only where a method exists. */
	assert_int_equal(open("/sys/bus/pci/devices/0000:00:17.0/reset", O_WRONLY), -1);
	assert_int_equal(errno, ENOENT);
	expect_quiet(f);
	assert_driver("pci", NIC, "e1000e");
	assert_true(tb_present(f->tb, NIC));
	assert_attr(NIC_DIR "/driver_override", "(null)\n");
	assert_int_equal(kemu_writes(f->root, "bind", NIC), 2);
	assert_int_equal(kemu_writes(f->root, "reset", NIC), 2);
	log = kemu_log(f->root);
	assert_non_null(strstr(log, "bind " NIC " " NIC " = ENODEV\n"
				    "bind " NIC " " NIC " = EBUSY\n"));
	assert_non_null(strstr(log, "drivers_probe 0000:09:00.0 0000:09:00.0 = EINVAL\n"));
	free(log);
}

/* An override naming a stub whose module is not loaded: the probe
 * succeeds and binds nothing, not even the native driver. */
static void test_probe_with_unloaded_driver(void **state)
{
	struct fixture *f = *state;

	write_ok(NIC_DIR "/driver_override", "pciback");
	write_ok(NIC_DIR "/driver/unbind", NIC);
	expect_event(f, "unbind", NIC, NULL);
	write_ok(PROBE, NIC);
	expect_quiet(f);
	assert_driver("pci", NIC, NULL);
	/* pci-stub is loaded on the standard machine. */
	write_ok(NIC_DIR "/driver_override", "pci-stub");
	write_ok(PROBE, NIC);
	expect_event(f, "bind", NIC, "pci-stub");
	assert_driver("pci", NIC, "pci-stub");
}

static void test_never_bind(void **state)
{
	struct fixture *f = *state;

	kemu_never_bind(f->root, NIC);
	write_ok(NIC_DIR "/driver_override", "vfio-pci");
	write_ok(NIC_DIR "/driver/unbind", NIC);
	expect_event(f, "unbind", NIC, NULL);
	write_ok(PROBE, NIC); /* "succeeds" */
	expect_quiet(f);
	assert_driver("pci", NIC, NULL);
	assert_false(kemu_vfio_present(f->root, "8"));
	write_fails("/sys/bus/pci/drivers/vfio-pci/bind", NIC, ENODEV);
	kemu_never_bind_clear(f->root, NIC);
	write_ok(PROBE, NIC);
	expect_event(f, "bind", NIC, "vfio-pci");
}

/* ---- faults ------------------------------------------------------------- */

/* A write that succeeds without a fault, what must be true before it, and
 * how to tell that it took effect. */
struct fault_case {
	const char *op, *id, *path, *value;
	const char *pre_path, *pre_value;
	bool (*applied)(struct fixture *f);
};

static bool override_applied(struct fixture *f)
{
	char buf[64];

	return streq(read_attr(NIC_DIR "/driver_override", buf, sizeof(buf)), "vfio-pci\n");
}

static bool nic_unbound(struct fixture *f)
{
	char buf[64];

	return !driver_of("pci", NIC, buf, sizeof(buf));
}

static bool nic2_bound(struct fixture *f)
{
	char buf[64];

	return driver_of("pci", NIC2, buf, sizeof(buf)) != NULL;
}

static bool reset_applied(struct fixture *f)
{
	char *log = kemu_log(f->root);
	bool done = strstr(log, "reset " NIC " 1 = 0") != NULL;

	free(log);
	return done;
}

static bool nic2_removed(struct fixture *f)
{
	return !tb_present(f->tb, NIC2);
}

static bool flash_deauthorized(struct fixture *f)
{
	char buf[16];

	return streq(read_attr("/sys/bus/usb/devices/1-2.2/authorized", buf, sizeof(buf)), "0\n");
}

static const struct fault_case fault_cases[] = {
	{ "driver_override", NIC, NIC_DIR "/driver_override", "vfio-pci", NULL, NULL,
	  override_applied },
	{ "unbind", NIC, "/sys/bus/pci/drivers/e1000e/unbind", NIC, NULL, NULL, nic_unbound },
	{ "bind", NIC2, "/sys/bus/pci/drivers/e1000e/bind", NIC2,
	  "/sys/bus/pci/drivers/e1000e/unbind", NIC2, nic2_bound },
	{ "drivers_probe", NIC2, PROBE, NIC2, "/sys/bus/pci/drivers/e1000e/unbind", NIC2,
	  nic2_bound },
	{ "reset", NIC, NIC_DIR "/reset", "1", NULL, NULL, reset_applied },
	{ "remove", NIC2, NIC2_DIR "/remove", "1", NULL, NULL, nic2_removed },
	{ "authorized", "1-2.2", "/sys/bus/usb/devices/1-2.2/authorized", "0", NULL, NULL,
	  flash_deauthorized },
};

static const int fault_errnos[] = { EBUSY, ENODEV, EIO };

/* Drains the events of a write, whatever they are. */
static void drain(struct fixture *f)
{
	struct udev_device *d;

	while ((d = uevmon_next(f->mon, 0)))
		udev_device_unref(d);
}

static void run_fault_case(struct fixture *f, const struct fault_case *c, int err)
{
	if (c->pre_path) {
		write_ok(c->pre_path, c->pre_value);
		drain(f);
	}
	kemu_fault(f->root, c->op, c->id, err);
	write_fails(c->path, c->value, err);
	write_fails(c->path, c->value, err); /* until cleared */
	expect_quiet(f);
	assert_false(c->applied(f));
	assert_int_equal(kemu_writes(f->root, c->op, c->id), 2);
	kemu_fault_clear(f->root, c->op, c->id);
	write_ok(c->path, c->value);
	assert_true(c->applied(f));
	assert_int_equal(kemu_writes(f->root, c->op, c->id), 3);
}

static void test_fault(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < ARRAY_SIZE(fault_cases); i++) {
		for (size_t e = 0; e < ARRAY_SIZE(fault_errnos); e++) {
			/* A machine per case: each changes it. */
			teardown((void **)&f);
			assert_int_equal(setup((void **)&f), 0);
			run_fault_case(f, &fault_cases[i], fault_errnos[e]);
		}
	}
	*state = f;
}

static void test_fault_once_and_any_device(void **state)
{
	struct fixture *f = *state;

	kemu_fault_times(f->root, "unbind", NIC, EBUSY, 1);
	write_fails(NIC_DIR "/driver/unbind", NIC, EBUSY);
	write_ok(NIC_DIR "/driver/unbind", NIC);
	expect_event(f, "unbind", NIC, NULL);

	kemu_fault(f->root, "drivers_probe", NULL, EIO);
	write_fails(PROBE, NIC, EIO);
	write_fails(PROBE, NIC2, EIO);
	kemu_fault(f->root, "reset", NIC, ENODEV);
	kemu_fault_clear(f->root, NULL, NULL); /* every fault */
	write_ok(NIC_DIR "/reset", "1");
	write_ok(PROBE, NIC);
	expect_event(f, "bind", NIC, "e1000e");
}

/* ---- a write held in the kernel ----------------------------------------- */

struct writer {
	const char *path, *value;
	atomic_bool done;
	int result;
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;

	w->result = sysfs_write(w->path, w->value);
	atomic_store(&w->done, true);
	return NULL;
}

static void test_block_and_release(void **state)
{
	struct fixture *f = *state;
	struct writer w = { .path = "/sys/bus/pci/drivers/e1000e/unbind", .value = NIC };
	pthread_t t;

	kemu_block(f->root, "unbind", NIC);
	assert_int_equal(pthread_create(&t, NULL, writer_run, &w), 0);
	assert_true(kemu_wait_blocked(f->root, "unbind", NIC, IT_TIMEOUT_MS));
	assert_int_equal(kemu_blocked(f->root, "unbind", NIC), 1);
	assert_int_equal(kemu_blocked(f->root, "unbind", NULL), 1);
	assert_int_equal(kemu_blocked(f->root, "bind", NULL), 0);
	assert_int_equal(kemu_writes(f->root, "unbind", NIC), 1);
	/* Only the writer waits: this thread's writes go through meanwhile,
	 * on another device and on the same one. */
	write_ok("/sys/bus/pci/drivers/e1000e/unbind", NIC2);
	expect_event(f, "unbind", NIC2, NULL);
	write_ok(NIC_DIR "/driver_override", "vfio-pci");
	assert_false(atomic_load(&w.done));
	assert_driver("pci", NIC, "e1000e");
	expect_quiet(f);

	kemu_release(f->root, "unbind", NIC);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(atomic_load(&w.done));
	assert_int_equal(w.result, 0);
	expect_event(f, "unbind", NIC, NULL);
	assert_driver("pci", NIC, NULL);
	assert_int_equal(kemu_blocked(f->root, "unbind", NULL), 0);
}

/* A block on any device, and a fault set while the write is held: the
 * write fails with it once released. */
static void test_block_then_fault(void **state)
{
	struct fixture *f = *state;
	struct writer w = { .path = PROBE, .value = NIC };
	pthread_t t;

	kemu_block(f->root, "drivers_probe", NULL);
	assert_int_equal(pthread_create(&t, NULL, writer_run, &w), 0);
	assert_true(kemu_wait_blocked(f->root, "drivers_probe", NULL, IT_TIMEOUT_MS));
	assert_int_equal(kemu_blocked(f->root, "drivers_probe", NIC), 1);
	kemu_fault(f->root, "drivers_probe", NIC, EIO);
	kemu_release(f->root, "drivers_probe", NULL);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.result, -EIO);
	assert_false(kemu_wait_blocked(f->root, "drivers_probe", NULL, 0));
}

/* A writer killed inside the held write (a daemon's kill -9) changed
 * nothing and is not counted as waiting any more. */
static void test_writer_killed_while_blocked(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t pid;

	kemu_block(f->root, "unbind", NIC);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(sysfs_write("/sys/bus/pci/drivers/e1000e/unbind", NIC) == 0 ? 0 : 1);
	assert_true(kemu_wait_blocked(f->root, "unbind", NIC, IT_TIMEOUT_MS));
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(kemu_blocked(f->root, "unbind", NIC), 0);
	kemu_release(f->root, "unbind", NIC);
	assert_driver("pci", NIC, "e1000e");
	expect_quiet(f);
}

/* ---- reset, remove, authorized ------------------------------------------ */

static void test_reset(void **state)
{
	struct fixture *f = *state;

	write_ok(NIC_DIR "/reset", "1\n");
	write_ok(NIC_DIR "/reset", "0x1");
	assert_int_equal(kemu_writes(f->root, "reset", NIC), 2);
	assert_driver("pci", NIC, "e1000e");
	expect_quiet(f);
}

/* The kernel's order: drivers let go bottom-up (the last device on a bus
 * first), then the devices go, children first. */
static void test_remove_a_bridge(void **state)
{
	struct fixture *f = *state;
	unsigned long long first, last;

	write_ok("/sys/bus/pci/devices/0000:00:1c.2/remove", "1");
	first = expect_event(f, "unbind", "0000:05:02.0", NULL);
	expect_event(f, "unbind", "0000:05:01.0", NULL);
	expect_event(f, "unbind", "0000:05:00.0", NULL);
	expect_event(f, "unbind", "0000:00:1c.2", NULL);
	expect_event(f, "remove", "0000:05:00.0", NULL);
	expect_event(f, "remove", "0000:05:01.0", NULL);
	expect_event(f, "remove", "0000:05:02.0", NULL);
	expect_event(f, "remove", "0000:04:00.0", NULL);
	last = expect_event(f, "remove", "0000:00:1c.2", NULL);
	expect_quiet(f);
	assert_int_equal(last - first, 8);
	assert_false(exists("/sys/bus/pci/devices/0000:05:01.0"));
	assert_false(exists("/sys/bus/pci/drivers/serial/0000:05:01.0"));
	assert_false(exists("/sys/devices/pci0000:00/0000:00:1c.2"));
	assert_false(exists("/sys/kernel/iommu_groups/10"));
	assert_false(exists("/sys/kernel/iommu_groups/9"));
	assert_true(exists("/sys/kernel/iommu_groups/8"));
	assert_false(tb_present(f->tb, "0000:04:00.0"));

	/* The testbed can plug it all back (its own events are not ours). */
	udev_monitor_unref(f->mon);
	f->mon = NULL;
	tb_plug(f->tb, "0000:00:1c.2");
	assert_true(tb_present(f->tb, "0000:05:02.0"));
	assert_string_equal(tb_driver(f->tb, "0000:05:02.0"), "snd_emu10k1");
}

/* A PF's driver takes its VFs away as it lets go. */
static void test_remove_a_pf(void **state)
{
	struct fixture *f = *state;

	write_ok("/sys/bus/pci/devices/0000:06:00.0/remove", "1");
	expect_event(f, "unbind", "0000:06:10.0", NULL);
	expect_event(f, "remove", "0000:06:10.0", NULL);
	expect_event(f, "unbind", "0000:06:10.2", NULL);
	expect_event(f, "remove", "0000:06:10.2", NULL);
	expect_event(f, "unbind", "0000:06:00.0", NULL);
	expect_event(f, "remove", "0000:06:00.0", NULL);
	expect_quiet(f);
	assert_false(kemu_vfio_present(f->root, "14"));
	assert_false(exists("/sys/bus/pci/devices/0000:06:10.2"));
	assert_false(exists("/sys/bus/pci/drivers/vfio-pci/0000:06:10.2"));
	assert_true(tb_present(f->tb, "0000:00:1c.3"));
	/* A write to a device that is gone, through a descriptor opened
	 * before. */
	{
		int fd = open(NIC_DIR "/remove", O_WRONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		write_ok(NIC_DIR "/remove", "1");
		expect_event(f, "unbind", NIC, NULL);
		expect_event(f, "remove", NIC, NULL);
		assert_int_equal(write(fd, "1", 1), -1);
		assert_int_equal(errno, ENODEV);
		close(fd);
	}
}

static void test_usb_authorized(void **state)
{
	struct fixture *f = *state;

	write_ok("/sys/bus/usb/devices/1-2.1/authorized", "0\n");
	expect_event(f, "unbind", "1-2.1:1.0", NULL);
	expect_event(f, "unbind", "1-2.1:1.1", NULL);
	expect_quiet(f);
	assert_attr("/sys/bus/usb/devices/1-2.1/authorized", "0\n");
	assert_driver("usb", "1-2.1:1.0", NULL);
	assert_driver("usb", "1-2.1", "usb"); /* the device keeps its own */
	write_ok("/sys/bus/usb/devices/1-2.1/authorized", "0");
	expect_quiet(f);

	write_ok("/sys/bus/usb/devices/1-2.1/authorized", "1");
	expect_event(f, "bind", "1-2.1:1.0", "usbhid");
	expect_event(f, "bind", "1-2.1:1.1", "usbhid");
	expect_quiet(f);
	assert_attr("/sys/bus/usb/devices/1-2.1/authorized", "1\n");
	assert_int_equal(kemu_writes(f->root, "authorized", "1-2.1"), 3);
}

/* Interface drivers, as a USB detach moves them. */
static void test_usb_interface_unbind_and_bind(void **state)
{
	struct fixture *f = *state;

	write_ok("/sys/bus/usb/drivers/usb-storage/unbind", "1-2.2:1.0");
	expect_event(f, "unbind", "1-2.2:1.0", NULL);
	write_fails("/sys/bus/usb/drivers/usbhid/bind", "1-2.2:1.0", ENODEV);
	write_ok("/sys/bus/usb/drivers/usb-storage/bind", "1-2.2:1.0");
	expect_event(f, "bind", "1-2.2:1.0", "usb-storage");
	write_ok("/sys/bus/usb/devices/1-2.3/remove", "1");
	expect_event(f, "unbind", "1-2.3:1.0", NULL);
	expect_event(f, "remove", "1-2.3:1.0", NULL);
	expect_event(f, "unbind", "1-2.3", NULL);
	expect_event(f, "remove", "1-2.3", NULL);
	assert_false(tb_present(f->tb, "1-2.3"));
}

/* usb_disconnect() order: behind a hub, device by device, each after its
 * interfaces; the hub's own interface, then the hub.  (Devices only here:
 * a monitor's queue holds ten events.) */
static void test_usb_hub_removal_order(void **state)
{
	struct fixture *f = *state;

	udev_monitor_unref(f->mon);
	f->mon = uevmon_new(f->udev, "udev", "usb", "usb_device");
	write_ok("/sys/bus/usb/devices/1-2/remove", "1");
	expect_event(f, "unbind", "1-2.1", NULL);
	expect_event(f, "remove", "1-2.1", NULL);
	expect_event(f, "unbind", "1-2.2", NULL);
	expect_event(f, "remove", "1-2.2", NULL);
	expect_event(f, "unbind", "1-2.3", NULL);
	expect_event(f, "remove", "1-2.3", NULL);
	expect_event(f, "unbind", "1-2", NULL);
	expect_event(f, "remove", "1-2", NULL);
	expect_quiet(f);
	assert_false(exists("/sys/bus/usb/devices/1-2.1:1.1"));
	assert_false(exists("/sys/bus/usb/drivers/hub/1-2:1.0"));
	assert_true(tb_present(f->tb, "usb1"));
}

/* Removing the host controller takes its USB tree down while its driver
 * lets go: all of it before the controller's own unbind. */
static void test_remove_a_host_controller(void **state)
{
	struct fixture *f = *state;
	struct udev_monitor *usb;

	udev_monitor_unref(f->mon);
	f->mon = uevmon_new(f->udev, "udev", "pci", NULL);
	usb = uevmon_new(f->udev, "udev", "usb", "usb_device");
	/* Eight USB devices' events would overflow one queue: keep two. */
	write_ok("/sys/bus/usb/devices/1-2/remove", "1");
	udev_monitor_unref(usb);
	usb = uevmon_new(f->udev, "udev", "usb", "usb_device");
	write_ok("/sys/bus/pci/devices/0000:00:14.0/remove", "1");
	expect_event(f, "unbind", "0000:00:14.0", NULL);
	expect_event(f, "remove", "0000:00:14.0", NULL);
	expect_quiet(f);
	{
		/* The last device on the bus first: xhci_pci_remove() takes
		 * the USB 3 root hub (usb2) before the USB 2 one. */
		struct fixture u = { .mon = usb };

		expect_event(&u, "unbind", "usb2", NULL);
		expect_event(&u, "remove", "usb2", NULL);
		expect_event(&u, "unbind", "usb1", NULL);
		expect_event(&u, "remove", "usb1", NULL);
		expect_quiet(&u);
	}
	udev_monitor_unref(usb);
	assert_false(exists("/sys/bus/usb/devices/2-0:1.0"));
	assert_false(tb_present(f->tb, "usb2"));
	assert_false(tb_present(f->tb, "0000:00:14.0"));
}

/* ---- which writes the emulator sees ------------------------------------- */

/* Through a directory descriptor and through the working directory, as
 * code that walks a device directory does. */
static void test_relative_paths(void **state)
{
	struct fixture *f = *state;
	int dfd = open(NIC2_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd, cwd;

	assert_true(dfd >= 0);
	fd = openat(dfd, "driver_override", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "pci-stub", 8), 8);
	close(fd);
	close(dfd);
	assert_attr(NIC2_DIR "/driver_override", "pci-stub\n");

	cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(chdir("/sys/bus/pci/drivers/e1000e"), 0);
	write_ok("unbind", NIC2);
	assert_int_equal(fchdir(cwd), 0);
	close(cwd);
	expect_event(f, "unbind", NIC2, NULL);
	assert_int_equal(kemu_writes(f->root, "driver_override", NIC2), 1);
}

/* A descriptor replaced behind the emulator's back (dup2 does not go
 * through close()) is not a control file any more; a zero-length write
 * never reaches a store. */
static void test_stale_descriptor_and_empty_write(void **state)
{
	struct fixture *f = *state;
	int fd = open(NIC_DIR "/driver_override", O_WRONLY | O_CLOEXEC), p[2];
	char buf[16] = "";

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "", 0), 0);
	assert_int_equal(kemu_writes(f->root, "driver_override", NIC), 0);
	assert_int_equal(pipe(p), 0);
	assert_true(dup2(p[1], fd) == fd);
	assert_int_equal(write(fd, "vfio-pci", 8), 8);
	assert_int_equal(read(p[0], buf, sizeof(buf) - 1), 8);
	assert_string_equal(buf, "vfio-pci");
	assert_attr(NIC_DIR "/driver_override", "(null)\n");
	assert_int_equal(kemu_writes(f->root, "driver_override", NIC), 0);
	close(fd);
	close(p[0]);
	close(p[1]);
}

/* A shell's `echo ID > file`: bash opens with O_CREAT | O_TRUNC, dup2()s
 * the descriptor onto 1 and has echo write through stdio; dash writes with
 * write() on the copy.  Both reach the store before the command ends, the
 * store's error reaches the script, and the file itself stays as it was. */
static int run_shell(const char *sh, const char *script)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		execl(sh, sh, "-c", script, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_shell_redirections(void **state)
{
	static const char *const shells[] = { "/bin/bash", "/bin/sh" };
	struct fixture *f = *state;

	for (size_t i = 0; i < ARRAY_SIZE(shells); i++) {
		assert_int_equal(run_shell(shells[i], "echo vfio-pci > " NIC_DIR "/driver_override && "
						      "echo " NIC " > " NIC_DIR "/driver/unbind && "
						      "echo " NIC " > " PROBE),
				 0);
		expect_event(f, "unbind", NIC, NULL);
		expect_event(f, "bind", NIC, "vfio-pci");
		assert_driver("pci", NIC, "vfio-pci");
		assert_attr(NIC_DIR "/driver_override", "vfio-pci\n");
		assert_true(kemu_vfio_present(f->root, "8"));
		assert_attr("/sys/bus/pci/drivers/e1000e/unbind", "");

		kemu_fault(f->root, "unbind", NIC, EBUSY);
		assert_int_not_equal(
			run_shell(shells[i], "echo " NIC " > /sys/bus/pci/drivers/vfio-pci/unbind"), 0);
		assert_driver("pci", NIC, "vfio-pci");
		kemu_fault_clear(f->root, NULL, NULL);

		assert_int_equal(run_shell(shells[i], "echo > " NIC_DIR "/driver_override && "
						      "echo " NIC " > /sys/bus/pci/drivers/vfio-pci/unbind && "
						      "echo " NIC " > " PROBE),
				 0);
		expect_event(f, "unbind", NIC, NULL);
		expect_event(f, "bind", NIC, "e1000e");
		assert_attr(NIC_DIR "/driver_override", "(null)\n");
		assert_false(kemu_vfio_present(f->root, "8"));
	}
	assert_int_equal(kemu_writes(f->root, "unbind", NIC), 6);
}

/* One SEQNUM counter for the testbed's events and the emulator's. */
static void test_seqnum_shared_with_the_testbed(void **state)
{
	struct fixture *f = *state;
	unsigned long long a, b;

	tb_unbind(f->tb, NIC);
	a = expect_event(f, "unbind", NIC, NULL);
	write_ok("/sys/bus/pci/drivers/e1000e/bind", NIC);
	b = expect_event(f, "bind", NIC, "e1000e");
	assert_int_equal(b, a + 1);
	assert_string_equal(tb_driver(f->tb, NIC), "e1000e");
}

/* ---- the guard ---------------------------------------------------------- */

/* In a process whose /sys is the machine's: each way of opening a sysfs
 * file for writing must fail with EPERM, before anything is opened.  The
 * paths either do not exist (without the guard: ENOENT) or are only
 * opened, never written. */
static int guard_checks(void)
{
	int fd, dfd;
	FILE *fp;

	fd = open("/sys/bus/pci/drivers/hostdevd-kemu-guard/bind", O_WRONLY | O_CLOEXEC);
	if (fd >= 0 || errno != EPERM)
		return 1;
	fd = open(PROBE, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 2;
	}
	if (errno != EPERM)
		return 3;
	dfd = open("/sys/bus/pci", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* reading is fine */
	if (dfd < 0)
		return 4;
	fd = openat(dfd, "hostdevd-kemu-guard", O_WRONLY | O_CLOEXEC);
	close(dfd);
	if (fd >= 0 || errno != EPERM)
		return 5;
	fp = fopen("/sys/bus/pci/drivers/hostdevd-kemu-guard/bind", "w");
	if (fp || errno != EPERM)
		return 6;
	fd = creat("/sys/hostdevd-kemu-guard", 0600);
	if (fd >= 0 || errno != EPERM)
		return 7;
	return 0;
}

static void test_guard_outside_a_testbed(void **state)
{
	char out[4096], self[PATH_MAX], preload[PATH_MAX];
	size_t len = 0;
	ssize_t n;
	int p[2], status;
	Dl_info info;
	pid_t pid;

	/* Under valgrind, exec("/proc/self/exe") would start valgrind's tool;
	 * readlink() gives the program. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	assert_true(dladdr(dlsym(RTLD_DEFAULT, "kemu_preload_marker"), &info) && info.dli_fname);
	snprintf(preload, sizeof(preload), "%s:libumockdev-preload.so.0", info.dli_fname);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* A fresh process with the same preloads (exec, not just
		 * fork: it must not inherit a testbed in any form). */
		char *argv[] = { "it-kemu", "--guard", NULL };

		dup2(p[1], STDERR_FILENO);
		unsetenv("UMOCKDEV_DIR");
		/* Spelled out: valgrind rewrites LD_PRELOAD for the programs
		 * it does not follow. */
		setenv("LD_PRELOAD", preload, 1);
		execv(self, argv);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(out, "kemu: *** REFUSED a write to " PROBE ": no umockdev testbed"));
}

/* A disabled testbed makes /sys the machine's again; and stdio, which
 * writes past the emulator, may not write control files at all. */
static void test_guard_inside_a_testbed(void **state)
{
	struct fixture *f = *state;
	char disabled[PATH_MAX];
	int fd;

	snprintf(disabled, sizeof(disabled), "%s/disabled", f->root);
	fd = open(disabled, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(open("/sys/bus/pci/drivers/hostdevd-kemu-guard/bind", O_WRONLY), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(unlink(disabled), 0);

	assert_null(fopen(PROBE, "w"));
	assert_int_equal(errno, EPERM);
	assert_null(fopen(NIC_DIR "/driver_override", "a"));
	assert_int_equal(errno, EPERM);
	assert_int_equal(kemu_writes(f->root, "drivers_probe", NULL), 0);
	write_ok(PROBE, NIC); /* the testbed is back */
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vfio_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vfio_node_follows_the_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_with_unloaded_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_bind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_once_and_any_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_and_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_then_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_killed_while_blocked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_a_bridge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_a_pf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usb_authorized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usb_interface_unbind_and_bind, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_usb_hub_removal_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_a_host_controller, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_descriptor_and_empty_write, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_shell_redirections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seqnum_shared_with_the_testbed, setup,
						teardown),
		cmocka_unit_test(test_guard_outside_a_testbed),
		cmocka_unit_test_setup_teardown(test_guard_inside_a_testbed, setup, teardown),
	};

	/* The same checks in a process set up wrongly on purpose by ctest
	 * (no umockdev, or umockdev in the wrong place). */
	if (argc == 2 && streq(argv[1], "--guard"))
		return guard_checks();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
