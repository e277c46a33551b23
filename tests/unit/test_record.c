/* The record builder reads every field SPEC "Devices" names from a (mock)
 * sysfs.  Runs under umockdev-wrapper: it refuses to run outside the mock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "monitor/record.h"
#include "common/util.h"

#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <umockdev.h>
#include <unistd.h>

struct fixture {
	UMockdevTestbed *tb;
	struct udev *udev;
	char *root;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->tb = umockdev_testbed_new();
	if (!umockdev_in_mock_environment()) {
		fprintf(stderr, "test_record must run under umockdev-wrapper; refusing to read /sys\n");
		abort();
	}
	f->root = umockdev_testbed_get_root_dir(f->tb);
	f->udev = udev_new();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	udev_unref(f->udev);
	g_object_unref(f->tb);
	g_free(f->root);
	free(f);
	return 0;
}

/* A symlink inside the testbed, created directly: umockdev has no API for
 * links outside a device directory. */
static void tb_link(struct fixture *f, const char *target, const char *fmt, ...)
{
	char rel[512], path[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s%s", f->root, rel);
	assert_int_equal(symlink(target, path), 0);
}

static void tb_mkdirs(struct fixture *f, const char *rel)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s%s", f->root, rel);
	for (char *p = path + strlen(f->root) + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	}
	mkdir(path, 0755);
}

static struct device *build(struct fixture *f, const char *syspath)
{
	struct udev_device *ud = udev_device_new_from_syspath(f->udev, syspath);
	struct device *d;

	assert_non_null(ud);
	d = record_from_udev(ud);
	udev_device_unref(ud);
	return d;
}

static void test_pci_full_record(void **state)
{
	struct fixture *f = *state;
	gchar *port, *nic, *vf;
	struct device *d;

	port = umockdev_testbed_add_device(f->tb, "pci", "0000:00:1c.0", NULL, "vendor", "0x8086",
					   "device", "0xa110", "class", "0x060400", NULL,
					   "PCI_SLOT_NAME", "0000:00:1c.0", NULL);
	nic = umockdev_testbed_add_device(
		f->tb, "pci", "0000:03:00.0", port, "vendor", "0x8086", "device", "0x10d3",
		"subsystem_vendor", "0x8086", "subsystem_device", "0xa01f", "class", "0x020000",
		"revision", "0x03", "driver_override", "(null)", "numa_node", "1",
		"sriov_totalvfs", "4", "sriov_numvfs", "1", "reset_method", "flr bus", "reset", "",
		"boot_vga", "0", NULL, "PCI_SLOT_NAME", "0000:03:00.0", NULL);
	vf = umockdev_testbed_add_device(f->tb, "pci", "0000:03:10.0", port, "vendor", "0x8086",
					 "device", "0x10ed", "class", "0x020000", "driver_override",
					 "vfio-pci", "numa_node", "-1", NULL, NULL);
	tb_mkdirs(f, "/sys/bus/pci/drivers/e1000e");
	tb_mkdirs(f, "/sys/bus/pci/drivers/vfio-pci");
	tb_mkdirs(f, "/sys/kernel/iommu_groups/12/devices");
	umockdev_testbed_set_attribute_link(f->tb, nic, "driver", "../../../bus/pci/drivers/e1000e");
	umockdev_testbed_set_attribute_link(f->tb, nic, "iommu_group",
					    "../../../kernel/iommu_groups/12");
	umockdev_testbed_set_attribute_link(f->tb, vf, "driver", "../../../bus/pci/drivers/vfio-pci");
	umockdev_testbed_set_attribute_link(f->tb, vf, "physfn", "../0000:03:00.0");
	tb_link(f, "../../../../devices/0000:00:1c.0/0000:03:00.0",
		"/sys/kernel/iommu_groups/12/devices/0000:03:00.0");

	d = build(f, nic);
	assert_non_null(d);
	assert_int_equal(d->bus, HD_BUS_PCI);
	assert_string_equal(d->id, "0000:03:00.0");
	assert_string_equal(d->syspath, nic);
	assert_int_equal(d->vendor, 0x8086);
	assert_int_equal(d->product, 0x10d3);
	assert_int_equal(d->pci.subsystem_vendor, 0x8086);
	assert_int_equal(d->pci.subsystem_device, 0xa01f);
	assert_int_equal(d->pci.class_code, 0x020000);
	assert_int_equal(d->pci.revision, 3);
	assert_null(d->pci.driver_override);
	assert_string_equal(d->driver, "e1000e");
	assert_string_equal(d->parent, "0000:00:1c.0");
	assert_int_equal(d->pci.iommu_group, 12);
	assert_int_equal(d->numa_node, 1);
	assert_int_equal(d->pci.sriov_totalvfs, 4);
	assert_int_equal(d->pci.sriov_numvfs, 1);
	assert_string_equal(d->pci.reset_methods[0], "flr");
	assert_string_equal(d->pci.reset_methods[1], "bus");
	assert_null(d->pci.reset_methods[2]);
	assert_true(d->pci.has_reset);
	assert_false(d->pci.boot_vga);
	assert_null(d->pci.physfn);
	device_free(d);

	d = build(f, vf);
	assert_non_null(d);
	assert_string_equal(d->driver, "vfio-pci");
	assert_string_equal(d->pci.driver_override, "vfio-pci");
	assert_string_equal(d->pci.physfn, "0000:03:00.0");
	assert_int_equal(d->pci.iommu_group, HD_NO_GROUP);
	assert_int_equal(d->numa_node, HD_NO_NUMA);
	assert_int_equal(d->pci.sriov_totalvfs, -1);
	assert_false(d->pci.has_reset);
	assert_null(d->pci.reset_methods[0]);
	assert_int_equal(device_observed_state(d), DEV_DETACHED);
	device_free(d);

	/* A group link to a name that is no number is no group, not group 0
	 * (found by fuzz_record). */
	tb_mkdirs(f, "/sys/kernel/iommu_groups/7x/devices");
	umockdev_testbed_set_attribute_link(f->tb, port, "iommu_group",
					    "../../kernel/iommu_groups/7x");
	d = build(f, port);
	assert_non_null(d);
	assert_int_equal(d->pci.iommu_group, HD_NO_GROUP);
	device_free(d);

	d = build(f, port);
	assert_non_null(d);
	assert_null(d->parent);
	assert_null(d->driver);
	assert_true(pci_is_bridge(d));
	device_free(d);
	g_free(port);
	g_free(nic);
	g_free(vf);
}

static void test_usb_device_with_interfaces(void **state)
{
	struct fixture *f = *state;
	gchar *hc, *root, *hub, *kbd, *if0, *if1;
	struct device *d;

	hc = umockdev_testbed_add_device(f->tb, "pci", "0000:00:14.0", NULL, "vendor", "0x8086",
					 "device", "0xa36d", "class", "0x0c0330", NULL, NULL);
	root = umockdev_testbed_add_device(f->tb, "usb", "usb1", hc, "idVendor", "1d6b",
					   "idProduct", "0002", "busnum", "1", "devnum", "1",
					   "bDeviceClass", "09", NULL, "DEVTYPE", "usb_device", NULL);
	hub = umockdev_testbed_add_device(f->tb, "usb", "1-2", root, "idVendor", "05e3",
					  "idProduct", "0610", "busnum", "1", "devnum", "2",
					  "bDeviceClass", "09", NULL, "DEVTYPE", "usb_device", NULL);
	kbd = umockdev_testbed_add_device(
		f->tb, "usb", "1-2.1", hub, "idVendor", "046d", "idProduct", "c31c", "bcdDevice",
		"6400", "bDeviceClass", "00", "busnum", "1", "devnum", "5", "manufacturer",
		"Logitech", "product", "USB Keyboard", "serial", "K-123", "speed", "1.5",
		"authorized", "1", NULL, "DEVTYPE", "usb_device", NULL);
	if1 = umockdev_testbed_add_device(f->tb, "usb", "1-2.1:1.1", kbd, "bInterfaceClass", "03",
					  "bInterfaceSubClass", "00", "bInterfaceProtocol", "00",
					  NULL, "DEVTYPE", "usb_interface", NULL);
	if0 = umockdev_testbed_add_device(f->tb, "usb", "1-2.1:1.0", kbd, "bInterfaceClass", "03",
					  "bInterfaceSubClass", "01", "bInterfaceProtocol", "01",
					  NULL, "DEVTYPE", "usb_interface", NULL);
	tb_mkdirs(f, "/sys/bus/usb/drivers/usbhid");
	umockdev_testbed_set_attribute_link(f->tb, if0, "driver",
					    "../../../../../../bus/usb/drivers/usbhid");

	d = build(f, kbd);
	assert_non_null(d);
	assert_int_equal(d->bus, HD_BUS_USB);
	assert_string_equal(d->id, "1-2.1");
	assert_string_equal(d->parent, "1-2");
	assert_int_equal(d->vendor, 0x046d);
	assert_int_equal(d->product, 0xc31c);
	assert_int_equal(d->usb.bcd_device, 0x6400);
	assert_int_equal(d->usb.busnum, 1);
	assert_int_equal(d->usb.devnum, 5);
	assert_string_equal(d->usb.manufacturer, "Logitech");
	assert_string_equal(d->usb.product, "USB Keyboard");
	assert_string_equal(d->usb.serial, "K-123");
	assert_string_equal(d->usb.speed, "1.5");
	assert_true(d->usb.authorized);
	assert_false(d->usb.root_hub);
	assert_int_equal(d->usb.n_ifaces, 2);
	assert_string_equal(d->usb.ifaces[0].id, "1-2.1:1.0");
	assert_int_equal(d->usb.ifaces[0].cls, 3);
	assert_int_equal(d->usb.ifaces[0].subcls, 1);
	assert_int_equal(d->usb.ifaces[0].proto, 1);
	assert_string_equal(d->usb.ifaces[0].driver, "usbhid");
	assert_string_equal(d->usb.ifaces[1].id, "1-2.1:1.1");
	assert_null(d->usb.ifaces[1].driver);
	device_free(d);

	/* A root hub's interfaces are named after port path "N-0", not "usbN". */
	{
		gchar *rif = umockdev_testbed_add_device(
			f->tb, "usb", "1-0:1.0", root, "bInterfaceClass", "09", "bInterfaceSubClass",
			"00", "bInterfaceProtocol", "00", NULL, "DEVTYPE", "usb_interface", NULL);
		g_free(rif);
	}
	d = build(f, root);
	assert_int_equal(d->usb.n_ifaces, 1);
	assert_string_equal(d->usb.ifaces[0].id, "1-0:1.0");
	assert_int_equal(d->usb.ifaces[0].cls, 9);
	assert_true(d->usb.root_hub);
	assert_string_equal(d->parent, "0000:00:14.0");
	assert_null(d->usb.serial);
	device_free(d);

	/* Interfaces are not records of their own. */
	{
		struct udev_device *ud = udev_device_new_from_syspath(f->udev, if0);
		enum hd_bus bus;

		assert_int_equal(record_classify(ud, &bus), RECORD_CHILD);
		assert_int_equal(bus, HD_BUS_USB);
		assert_null(record_from_udev(ud));
		udev_device_unref(ud);
	}
	g_free(hc);
	g_free(root);
	g_free(hub);
	g_free(kbd);
	g_free(if0);
	g_free(if1);
}

static void test_vanished_device(void **state)
{
	struct fixture *f = *state;
	gchar *p = umockdev_testbed_add_device(f->tb, "pci", "0000:09:00.0", NULL, "vendor",
					       "0x8086", "device", "0x1533", NULL, NULL);
	struct udev_device *ud = udev_device_new_from_syspath(f->udev, p);

	assert_non_null(ud);
	/* Removed between the event and the read: no record, no crash. */
	umockdev_testbed_remove_device(f->tb, p);
	assert_null(record_from_udev(ud));
	udev_device_unref(ud);
	g_free(p);
}

/* A device directory emptied as it is read (the device leaving): an empty
 * listing, which must not reach qsort or bsearch as NULL (UBSan in the
 * sanitizer build), and no record. */
static void test_empty_directory(void **state)
{
	char dir[] = "/tmp/test_record.XXXXXX", path[64];
	struct device *d;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/0000:0a:00.0", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	d = record_build(HD_BUS_PCI, path);
	assert_null(d);
	rmdir(path);
	rmdir(dir);
}

/* A USB product string of "YubiKey " and 100 CJK characters is 308 bytes,
 * within a string descriptor's 126 UTF-16 units: read whole, not cut at
 * 255 bytes mid-character.  Bytes that are not UTF-8 become U+FFFD. */
static void test_usb_long_and_hostile_strings(void **state)
{
	struct fixture *f = *state;
	char product[512] = "YubiKey ";
	gchar *hc, *root, *key;
	struct device *d;

	for (int i = 0; i < 100; i++)
		strcat(product, "\xe9\x8d\xb5"); /* U+9375 */
	assert_int_equal(strlen(product), 308);
	hc = umockdev_testbed_add_device(f->tb, "pci", "0000:00:14.0", NULL, "vendor", "0x8086",
					 "device", "0xa36d", "class", "0x0c0330", NULL, NULL);
	root = umockdev_testbed_add_device(f->tb, "usb", "usb1", hc, "idVendor", "1d6b",
					   "idProduct", "0002", "busnum", "1", "devnum", "1",
					   "bDeviceClass", "09", NULL, "DEVTYPE", "usb_device", NULL);
	key = umockdev_testbed_add_device(
		f->tb, "usb", "1-3", root, "idVendor", "1050", "idProduct", "0407", "busnum", "1",
		"devnum", "7", "product", product, "manufacturer", "Yubico\xff\xc3(", "serial",
		"\xe9\x8d", NULL, "DEVTYPE", "usb_device", NULL);

	d = build(f, key);
	assert_non_null(d);
	assert_string_equal(d->usb.product, product);
	assert_true(utf8_valid(d->usb.product, strlen(d->usb.product)));
	assert_string_equal(d->usb.manufacturer, "Yubico\xef\xbf\xbd\xef\xbf\xbd(");
	assert_string_equal(d->usb.serial, "\xef\xbf\xbd\xef\xbf\xbd");
	device_free(d);
	g_free(hc);
	g_free(root);
	g_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pci_full_record, setup, teardown),
		cmocka_unit_test(test_empty_directory),
		cmocka_unit_test_setup_teardown(test_usb_device_with_interfaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usb_long_and_hostile_strings, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
