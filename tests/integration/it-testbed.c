/* The harness itself: the mock machine looks to libudev like the kernel's
 * sysfs, and its uevents reach libudev monitors as the kernel's would. */
#include "tests/integration/itest.h"
#include "tests/integration/testbed.h"
#include "tests/integration/uevmon.h"
#include "common/util.h"

#include <libudev.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

struct fixture {
	struct testbed *tb;
	struct udev *udev;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->tb = tb_new();
	tb_build_standard(f->tb);
	f->udev = udev_new();
	assert_non_null(f->udev);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	/* A failed setup leaves no fixture. */
	if (!f)
		return 0;
	udev_unref(f->udev);
	tb_free(f->tb);
	free(f);
	return 0;
}

static size_t count_subsystem(struct udev *udev, const char *subsystem, const char *devtype)
{
	struct udev_enumerate *e = udev_enumerate_new(udev);
	struct udev_list_entry *entry;
	size_t n = 0;

	assert_int_equal(udev_enumerate_add_match_subsystem(e, subsystem), 0);
	assert_int_equal(udev_enumerate_scan_devices(e), 0);
	udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e))
	{
		struct udev_device *d =
			udev_device_new_from_syspath(udev, udev_list_entry_get_name(entry));

		assert_non_null(d);
		if (!devtype || streq(udev_device_get_devtype(d), devtype))
			n++;
		udev_device_unref(d);
	}
	udev_enumerate_unref(e);
	return n;
}

static void test_standard_enumerates(void **state)
{
	struct fixture *f = *state;
	size_t n;
	const char **ids = tb_present_ids(f->tb, &n);

	assert_int_equal(count_subsystem(f->udev, "pci", NULL), 20);
	assert_int_equal(count_subsystem(f->udev, "usb", "usb_device"), 6);
	assert_int_equal(count_subsystem(f->udev, "usb", "usb_interface"), 7);
	assert_int_equal(n, 26);
	assert_string_equal(ids[0], "0000:00:00.0");
	assert_string_equal(ids[19], "0000:06:10.2");
	assert_string_equal(ids[20], "1-2");
	assert_string_equal(ids[25], "usb2");
	assert_null(ids[26]);
	free(ids);
	assert_false(tb_present(f->tb, "0000:07:00.0"));
	assert_false(tb_present(f->tb, "1-2.4"));
	assert_false(tb_present(f->tb, "no-such-device"));
}

static void assert_link(const char *path, const char *target)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);

	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, target);
}

/* The links have the kernel's relative form, so code that resolves them
 * (or only takes their last component) sees what it would on a machine. */
static void test_links_as_the_kernel_makes_them(void **state)
{
	const char *vf = "/sys/devices/pci0000:00/0000:00:1c.3/0000:06:10.2";
	const char *pf = "/sys/devices/pci0000:00/0000:00:1c.3/0000:06:00.0";
	char path[PATH_MAX];

	(void)state;
	snprintf(path, sizeof(path), "%s/physfn", vf);
	assert_link(path, "../0000:06:00.0");
	snprintf(path, sizeof(path), "%s/driver", vf);
	assert_link(path, "../../../../bus/pci/drivers/vfio-pci");
	snprintf(path, sizeof(path), "%s/iommu_group", vf);
	assert_link(path, "../../../../kernel/iommu_groups/14");
	snprintf(path, sizeof(path), "%s/subsystem", vf);
	assert_link(path, "../../../../bus/pci");
	snprintf(path, sizeof(path), "%s/virtfn0", pf);
	assert_link(path, "../0000:06:10.0");
	snprintf(path, sizeof(path), "%s/virtfn1", pf);
	assert_link(path, "../0000:06:10.2");
	assert_link("/sys/bus/pci/devices/0000:05:02.0",
		    "../../../devices/pci0000:00/0000:00:1c.2/0000:04:00.0/0000:05:02.0");
	assert_link("/sys/kernel/iommu_groups/10/devices/0000:05:01.0",
		    "../../../../devices/pci0000:00/0000:00:1c.2/0000:04:00.0/0000:05:01.0");
	assert_link("/sys/bus/pci/drivers/e1000e/0000:02:00.0",
		    "../../../../devices/pci0000:00/0000:00:1c.0/0000:02:00.0");
	assert_link("/sys/bus/usb/devices/1-2.1:1.0",
		    "../../../devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.1/1-2.1:1.0");
}

static const char *attr(struct udev_device *d, const char *name)
{
	const char *v = udev_device_get_sysattr_value(d, name);

	assert_non_null(v);
	return v;
}

static void test_attributes_through_libudev(void **state)
{
	struct fixture *f = *state;
	struct udev_device *d = udev_device_new_from_subsystem_sysname(f->udev, "pci",
								       "0000:06:00.0");

	assert_non_null(d);
	assert_string_equal(attr(d, "vendor"), "0x8086");
	assert_string_equal(attr(d, "device"), "0x10c9");
	assert_string_equal(attr(d, "class"), "0x020000");
	assert_string_equal(attr(d, "revision"), "0x01");
	assert_string_equal(attr(d, "sriov_totalvfs"), "4");
	assert_string_equal(attr(d, "sriov_numvfs"), "2");
	assert_string_equal(attr(d, "reset_method"), "flr bus");
	assert_string_equal(attr(d, "numa_node"), "0");
	assert_string_equal(attr(d, "driver_override"), "(null)");
	assert_string_equal(udev_device_get_driver(d), "igb");
	assert_string_equal(udev_device_get_property_value(d, "PCI_ID"), "8086:10C9");
	assert_string_equal(udev_device_get_property_value(d, "MODALIAS"),
			    "pci:v00008086d000010C9sv00008086sd0000A03Cbc02sc00i00");
	udev_device_unref(d);

	d = udev_device_new_from_subsystem_sysname(f->udev, "pci", "0000:01:00.0");
	assert_string_equal(attr(d, "boot_vga"), "1");
	udev_device_unref(d);
	d = udev_device_new_from_subsystem_sysname(f->udev, "pci", "0000:04:00.0");
	assert_null(udev_device_get_driver(d));
	assert_null(udev_device_get_sysattr_value(d, "reset_method"));
	udev_device_unref(d);
}

static void test_usb_tree_through_libudev(void **state)
{
	struct fixture *f = *state;
	struct udev_device *i = udev_device_new_from_subsystem_sysname(f->udev, "usb", "1-2.3:1.0");
	struct udev_device *d;

	assert_non_null(i);
	assert_string_equal(udev_device_get_devtype(i), "usb_interface");
	assert_string_equal(udev_device_get_driver(i), "usb-storage");
	assert_string_equal(attr(i, "bInterfaceClass"), "08");
	assert_string_equal(attr(i, "bInterfaceProtocol"), "50");
	d = udev_device_get_parent(i);
	assert_string_equal(udev_device_get_sysname(d), "1-2.3");
	assert_string_equal(udev_device_get_devtype(d), "usb_device");
	assert_string_equal(attr(d, "serial"), "4C530001140918105142");
	assert_string_equal(attr(d, "idVendor"), "0781");
	assert_string_equal(attr(d, "busnum"), "1");
	assert_string_equal(attr(d, "devnum"), "5");
	d = udev_device_get_parent(udev_device_get_parent(d));
	assert_string_equal(udev_device_get_sysname(d), "usb1");
	d = udev_device_get_parent(d);
	assert_string_equal(udev_device_get_sysname(d), "0000:00:14.0");
	assert_string_equal(udev_device_get_subsystem(d), "pci");
	udev_device_unref(i);
}

/* ---- uevents ------------------------------------------------------------ */

static void expect_event(struct udev_monitor *m, const char *action, const char *sysname,
			 const char *driver)
{
	struct udev_device *d = uevmon_expect(m, action, sysname, driver);

	assert_non_null(udev_device_get_property_value(d, "SEQNUM"));
	udev_device_unref(d);
}

static void test_bind_events_carry_driver(void **state)
{
	struct fixture *f = *state;
	struct udev_monitor *udev_mon = uevmon_new(f->udev, "udev", "pci", NULL);
	struct udev_monitor *kernel_mon = uevmon_new(f->udev, "kernel", "pci", NULL);

	tb_unbind(f->tb, "0000:02:00.0");
	tb_bind(f->tb, "0000:02:00.0", "vfio-pci");
	expect_event(udev_mon, "unbind", "0000:02:00.0", NULL);
	expect_event(udev_mon, "bind", "0000:02:00.0", "vfio-pci");
	expect_event(kernel_mon, "unbind", "0000:02:00.0", NULL);
	expect_event(kernel_mon, "bind", "0000:02:00.0", "vfio-pci");
	assert_string_equal(tb_driver(f->tb, "0000:02:00.0"), "vfio-pci");
	assert_link("/sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0/driver",
		    "../../../../bus/pci/drivers/vfio-pci");
	udev_monitor_unref(udev_mon);
	udev_monitor_unref(kernel_mon);
}

/* The kernel's order: the device, then each interface comes up and binds,
 * then the device's own driver binds; unplug unwinds it children first. */
static void test_usb_plug_and_unplug_sequence(void **state)
{
	struct fixture *f = *state;
	struct udev_monitor *m = uevmon_new(f->udev, "udev", "usb", NULL);

	tb_plug(f->tb, "1-2.4");
	expect_event(m, "add", "1-2.4", NULL);
	expect_event(m, "add", "1-2.4:1.0", NULL);
	expect_event(m, "bind", "1-2.4:1.0", "usb-storage");
	expect_event(m, "bind", "1-2.4", "usb");
	assert_true(tb_present(f->tb, "1-2.4"));
	assert_string_equal(tb_syspath(f->tb, "1-2.4"),
			    "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.4");

	tb_unplug(f->tb, "1-2.4");
	expect_event(m, "unbind", "1-2.4:1.0", NULL);
	expect_event(m, "remove", "1-2.4:1.0", NULL);
	expect_event(m, "unbind", "1-2.4", NULL);
	expect_event(m, "remove", "1-2.4", NULL);
	assert_false(tb_present(f->tb, "1-2.4"));
	assert_int_equal(access("/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.4", F_OK), -1);
	assert_int_equal(access("/sys/bus/usb/devices/1-2.4:1.0", F_OK), -1);
	assert_int_equal(access("/sys/bus/usb/drivers/usb-storage/1-2.4:1.0", F_OK), -1);
	udev_monitor_unref(m);
}

/* The monitor's socket filter checks the subsystem and devtype hashes in the
 * header: only matching events get through. */
static void test_monitor_filters_apply(void **state)
{
	struct fixture *f = *state;
	struct udev_monitor *m = uevmon_new(f->udev, "udev", "usb", "usb_interface");

	tb_unbind(f->tb, "0000:03:00.0");
	tb_unbind(f->tb, "1-2.1");
	tb_unbind(f->tb, "1-2.1:1.1");
	expect_event(m, "unbind", "1-2.1:1.1", NULL);
	udev_monitor_unref(m);
}

static void test_pci_unplug_takes_the_subtree(void **state)
{
	struct fixture *f = *state;
	struct udev_monitor *m = uevmon_new(f->udev, "udev", "pci", NULL);

	tb_unplug(f->tb, "0000:04:00.0");
	/* Children in reverse order of arrival, each unbound first. */
	expect_event(m, "unbind", "0000:05:02.0", NULL);
	expect_event(m, "remove", "0000:05:02.0", NULL);
	expect_event(m, "unbind", "0000:05:01.0", NULL);
	expect_event(m, "remove", "0000:05:01.0", NULL);
	expect_event(m, "unbind", "0000:05:00.0", NULL);
	expect_event(m, "remove", "0000:05:00.0", NULL);
	expect_event(m, "remove", "0000:04:00.0", NULL);
	assert_int_equal(access("/sys/kernel/iommu_groups/10/devices/0000:05:01.0", F_OK), -1);
	assert_int_equal(count_subsystem(f->udev, "pci", NULL), 16);

	tb_plug(f->tb, "0000:04:00.0");
	expect_event(m, "add", "0000:04:00.0", NULL);
	expect_event(m, "add", "0000:05:00.0", NULL);
	expect_event(m, "bind", "0000:05:00.0", "r8169");
	assert_int_equal(count_subsystem(f->udev, "pci", NULL), 20);
	assert_link("/sys/kernel/iommu_groups/10/devices/0000:05:01.0",
		    "../../../../devices/pci0000:00/0000:00:1c.2/0000:04:00.0/0000:05:01.0");
	udev_monitor_unref(m);
}

/* Muted changes reach sysfs but send nothing: the first event after
 * unmuting is the next real one. */
static void test_muted_changes_send_nothing(void **state)
{
	struct fixture *f = *state;
	struct udev_monitor *m = uevmon_new(f->udev, "udev", "pci", NULL);

	tb_set_muted(f->tb, true);
	tb_unplug(f->tb, "0000:03:00.0");
	tb_unbind(f->tb, "0000:02:00.0");
	tb_set_muted(f->tb, false);
	assert_false(tb_present(f->tb, "0000:03:00.0"));
	assert_null(tb_driver(f->tb, "0000:02:00.0"));
	tb_uevent(f->tb, "0000:00:17.0", "change");
	expect_event(m, "change", "0000:00:17.0", "ahci");
	udev_monitor_unref(m);
}

static void test_large_machine(void **state)
{
	struct testbed *tb = tb_new();
	struct udev *udev = udev_new();
	size_t n;
	const char **ids;
	uint64_t start = now_ns();

	(void)state;
	tb_build_large(tb, 100);
	fprintf(stderr, "100 devices built in %.1f ms\n", (now_ns() - start) / 1e6);
	/* 100 endpoints behind 4 root ports: 32, 32, 32 and 4. */
	assert_int_equal(count_subsystem(udev, "pci", NULL), 104);
	ids = tb_present_ids(tb, &n);
	assert_int_equal(n, 104);
	free(ids);
	assert_true(tb_present(tb, "0000:00:00.0"));
	assert_true(tb_present(tb, "0000:01:1f.0"));
	assert_true(tb_present(tb, "0000:04:03.0")); /* port 3, endpoint 3: the 100th */
	assert_false(tb_present(tb, "0000:04:04.0"));
	assert_string_equal(tb_driver(tb, "0000:04:03.0"), "e1000e");
	assert_link("/sys/devices/pci0000:00/0000:00:00.3/0000:04:03.0/iommu_group",
		    "../../../../kernel/iommu_groups/103");
	udev_unref(udev);
	tb_free(tb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_standard_enumerates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links_as_the_kernel_makes_them, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_attributes_through_libudev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usb_tree_through_libudev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_events_carry_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usb_plug_and_unplug_sequence, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_monitor_filters_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_unplug_takes_the_subtree, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_muted_changes_send_nothing, setup, teardown),
		cmocka_unit_test(test_large_machine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
