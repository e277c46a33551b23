/* A mock machine for the integration tests: PCI functions, USB devices and
 * their interfaces laid out in a umockdev testbed as the kernel lays them out
 * in sysfs, with the uevents the kernel (and udevd after it) would send.
 *
 * The testbed keeps a model of every device it was told about, so a device
 * can be unplugged and plugged again, and tests can ask what the truth is.
 * Files are written directly under the testbed's root rather than through
 * umockdev's attribute API: that keeps a 10,000-device machine quick to build
 * and lets us create what the API has no call for (IOMMU groups, driver
 * directories, physfn/virtfn links, write-only attributes).
 *
 * Uevents go out in libudev's wire format to every monitor socket umockdev's
 * preload created, like umockdev_testbed_uevent() does, but carrying the
 * device's uevent properties (DEVTYPE, DRIVER on bind, PCI_ID...), which
 * umockdev 0.17's sender leaves out.  The sender and its SEQNUM counter are
 * shared with the kernel emulator (tests/kemu/, docs/kernel-emulator.md).
 *
 * For that emulator the testbed records each device's native driver, gives
 * every driver directory bind and unbind files, makes drivers_probe, and
 * keeps /dev/vfio/<group> in step with vfio-pci bindings.  Since the
 * emulator changes sysfs from any process, the model re-reads a device's
 * presence and driver from sysfs before it answers for it or acts on it.
 *
 * tb_new() aborts unless the process runs under umockdev-wrapper: nothing in
 * the tests may ever touch the machine's real /sys. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct testbed;

/* A PCI function.  Strings that are NULL leave the attribute or link out,
 * as the kernel does when the feature is absent. */
struct tb_pci {
	const char *addr;             /* "0000:03:00.0" */
	const char *parent;           /* the PCI bridge above it; NULL on a root bus */
	uint16_t vendor, device;
	uint16_t subsystem_vendor, subsystem_device;
	uint32_t class_code;          /* 24 bits, e.g. 0x020000 */
	uint8_t revision;
	const char *driver;           /* bound driver, NULL when unbound */
	const char *driver_override;  /* NULL: the kernel's "(null)" */
	const char *native_driver;    /* what binds without an override (the kernel
	                               * emulator's probe); NULL: `driver`, unless
	                               * driver_override is set */
	const char *iommu_group;      /* "12", NULL without an IOMMU */
	const char *numa_node;        /* NULL: "-1", as on a machine without NUMA */
	const char *reset_method;     /* "flr bus"; NULL: no reset_method attribute */
	bool reset;                   /* a reset attribute */
	bool boot_vga;                /* writes boot_vga (1) when set; VGA class gets 0 otherwise */
	int sriov_totalvfs;           /* > 0: an SR-IOV PF */
	int sriov_numvfs;
	const char *physfn;           /* the PF, for a VF */
	int vf_index;                 /* the N of the PF's virtfnN link */
	bool absent;                  /* declared only: tb_plug() makes it appear */
};

/* A USB device: a root hub ("usb1", whose parent is the host controller's
 * PCI address) or a device on a port ("1-2.1"). */
struct tb_usb {
	const char *id;
	const char *parent;
	uint16_t vendor, product, bcd_device;
	uint8_t device_class;
	int busnum, devnum;
	const char *manufacturer, *product_name, *serial; /* NULL: no attribute */
	const char *speed;            /* "480" */
	const char *driver;           /* normally "usb" */
	bool deauthorized;            /* authorized reads 0 */
	bool absent;
};

/* An interface of a USB device: "<device>:<config>.<n>", "1-0:1.0" for a
 * root hub. */
struct tb_usb_iface {
	const char *id;
	uint8_t cls, subcls, proto;
	const char *driver;
};

/* Creates the testbed (UMOCKDEV_DIR is set for this process and its
 * children).  Aborts outside umockdev. */
struct testbed *tb_new(void);
void tb_free(struct testbed *tb);

/* The testbed root; sysfs is <root>/sys. */
const char *tb_root(const struct testbed *tb);

/* While muted, changes are made in sysfs but no uevent is sent: what a
 * monitor overflow looks like from the monitor's side. */
void tb_set_muted(struct testbed *tb, bool muted);

/* Declare devices.  Unless the spec says `absent`, the device appears in
 * sysfs at once, silently, bound to its driver: the machine as it is
 * before anyone watches.  A parent must be declared before its children.
 * Return the device's sysfs path as a monitor sees it ("/sys/devices/..."),
 * valid for the testbed's life. */
const char *tb_add_pci(struct testbed *tb, const struct tb_pci *spec);
const char *tb_add_usb_device(struct testbed *tb, const struct tb_usb *spec);
const char *tb_add_usb_interface(struct testbed *tb, const char *device_id,
				 const struct tb_usb_iface *spec);

/* Hotplug, as the kernel does it, one uevent per step.  tb_plug(): add, then
 * (USB) each interface's add and bind, then the device's bind; children that
 * are not absent come along.  tb_unplug(): children first, each unbound (if
 * bound) and removed; the files go before the remove event is sent, since
 * udevd passes the event on only after the kernel deleted the directory. */
void tb_plug(struct testbed *tb, const char *id);
void tb_unplug(struct testbed *tb, const char *id);

/* Driver binding of a PCI function, USB device or USB interface: moves the
 * driver link (and DRIVER= in the uevent file) and sends bind (carrying
 * DRIVER=) or unbind. */
void tb_bind(struct testbed *tb, const char *id, const char *driver);
void tb_unbind(struct testbed *tb, const char *id);

/* Called after every uevent the testbed sends, so a test can wait for the
 * daemon to take each step in turn: sysfs then changes no further until the
 * hook returns.  (A monitor reads sysfs when it handles a uevent; unpaced, it
 * may see several steps at once.)  NULL removes it. */
typedef void (*tb_uevent_hook)(const char *id, const char *action, void *ctx);
void tb_set_uevent_hook(struct testbed *tb, tb_uevent_hook fn, void *ctx);

/* Sends one uevent for a present device with its current properties. */
void tb_uevent(struct testbed *tb, const char *id, const char *action);

/* The model: whether the device is in sysfs now, its driver (NULL when
 * unbound) and its sysfs path ("/sys/devices/..."); NULL/false for an id
 * never declared. */
bool tb_present(const struct testbed *tb, const char *id);
const char *tb_driver(const struct testbed *tb, const char *id);
const char *tb_syspath(const struct testbed *tb, const char *id);

/* Every present PCI function and USB device (not interfaces), sorted by bus
 * then id; NULL-terminated, free the array only. */
const char **tb_present_ids(const struct testbed *tb, size_t *n);

/* The present interfaces of a USB device, sorted; NULL-terminated, free the
 * array only. */
const char **tb_interfaces(const struct testbed *tb, const char *device_id, size_t *n);

/* The machine the integration tests share (the inventory is in testbed.c
 * and docs/testing.md): 20 PCI functions (host bridge; root ports, each in
 * its own IOMMU group, two with an e1000e and one an empty hotplug slot; a
 * PCIe-to-PCI bridge sharing group 10 with three conventional endpoints; a
 * GPU with its HDA function; an SR-IOV PF with two VFs, one on vfio-pci;
 * AHCI; xHCI) and 6 USB devices (two root hubs; a hub with a keyboard and two
 * identical flash drives).  Declared absent, for hotplug tests: an e1000e
 * 0000:07:00.0 for the empty slot and a flash drive 1-2.4. */
void tb_build_standard(struct testbed *tb);

/* n PCI endpoints (n >= 1) behind root ports, 32 per port, each in its own
 * IOMMU group and bound to e1000e; plus the root ports themselves (n/32
 * rounded up), and vfio-pci and pci-stub loaded.  For benchmarks: built with
 * plain file writes. */
void tb_build_large(struct testbed *tb, size_t n);

/* Makes a driver's directory (bus/<bus>/drivers/<driver>, with bind and
 * unbind), as loading its module does: the kernel emulator binds a device
 * whose override names it. */
void tb_add_driver(struct testbed *tb, const char *bus, const char *driver);

/* Makes /sys/module/<name> with initstate "live", as the kernel shows a
 * loaded module.  The name is taken as given: the kernel's directories use
 * underscores (vfio_pci), but driverctl 0.111 tests /sys/module/<driver>,
 * i.e. vfio-pci, and runs modprobe on this machine when it is missing. */
void tb_add_module(struct testbed *tb, const char *name);

/* Another card in the same slot: what an absent PCI function reports
 * (vendor and device id) when it is plugged again. */
void tb_set_pci_ids(struct testbed *tb, const char *id, uint32_t vendor, uint32_t device);
