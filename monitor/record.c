#include "monitor/record.h"
#include "common/log.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <libudev.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void udev_device_unrefp(struct udev_device **d)
{
	if (*d)
		udev_device_unref(*d);
}
#define _cleanup_udev_device_ _cleanup_(udev_device_unrefp)

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

enum record_kind record_classify(struct udev_device *ud)
{
	const char *subsystem = udev_device_get_subsystem(ud);
	const char *devtype = udev_device_get_devtype(ud);

	if (streq(subsystem, "pci"))
		return RECORD_PCI;
	if (!streq(subsystem, "usb") || !devtype)
		return RECORD_IGNORE;
	if (streq(devtype, "usb_device"))
		return RECORD_USB_DEVICE;
	if (streq(devtype, "usb_interface"))
		return RECORD_USB_INTERFACE;
	return RECORD_IGNORE;
}

const char *record_id_from_sysname(const char *sysname)
{
	return sysname;
}

/* The last path component of a sysfs link below dir, e.g. iommu_group -> "12".
 * Reads the link itself (libudev only resolves driver/subsystem/module). */
static bool read_link_name(const char *dir, const char *name, char *out, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return false;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return false;
	strcpy(out, base);
	return true;
}

static bool path_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return false;
	return lstat(path, &st) == 0;
}

static char *read_driver(const char *syspath)
{
	char name[NAME_MAX + 1];

	return read_link_name(syspath, "driver", name, sizeof(name)) ? xstrdup(name) : NULL;
}

static bool attr_hex(struct udev_device *ud, const char *attr, uint32_t *out)
{
	return parse_hex_u32(udev_device_get_sysattr_value(ud, attr), out);
}

static int attr_int(struct udev_device *ud, const char *attr, int fallback)
{
	const char *v = udev_device_get_sysattr_value(ud, attr);
	char *end;
	long n;

	if (!v)
		return fallback;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || n < INT_MIN || n > INT_MAX)
		return fallback;
	return (int)n;
}

static char *attr_str(struct udev_device *ud, const char *attr)
{
	const char *v = udev_device_get_sysattr_value(ud, attr);

	return v && *v ? xstrdup(v) : NULL;
}

/* The nearest ancestor that is itself a record: a PCI function (bridge, root
 * port, the USB host controller) or a USB device (hub). */
static char *parent_id(struct udev_device *ud)
{
	for (struct udev_device *p = udev_device_get_parent(ud); p; p = udev_device_get_parent(p)) {
		enum record_kind kind = record_classify(p);

		if (kind == RECORD_PCI || kind == RECORD_USB_DEVICE)
			return xstrdup(record_id_from_sysname(udev_device_get_sysname(p)));
	}
	return NULL;
}

/* reset_method holds the enabled methods, space-separated, in order. */
static char **split_words(const char *s)
{
	size_t n = 0, cap = 4;
	char **v = xcalloc(cap + 1, sizeof(*v));
	_cleanup_free_ char *copy = xstrdup(s);
	char *save = NULL;

	for (char *w = strtok_r(copy, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		if (n == cap) {
			cap *= 2;
			v = xrealloc(v, (cap + 1) * sizeof(*v));
		}
		v[n++] = xstrdup(w);
	}
	v[n] = NULL;
	return v;
}

static void fill_pci(struct device *dev, struct udev_device *ud)
{
	struct pci_info *p = &dev->pci;
	const char *syspath = dev->syspath;
	const char *v;
	char name[NAME_MAX + 1];

	attr_hex(ud, "subsystem_vendor", &p->subsystem_vendor);
	attr_hex(ud, "subsystem_device", &p->subsystem_device);
	attr_hex(ud, "class", &p->class_code);
	attr_hex(ud, "revision", &p->revision);
	v = udev_device_get_sysattr_value(ud, "driver_override");
	/* The kernel prints "(null)" when no override is set. */
	p->driver_override = v && *v && !streq(v, "(null)") ? xstrdup(v) : NULL;
	if (read_link_name(syspath, "iommu_group", name, sizeof(name)))
		p->iommu_group = atoi(name);
	if (read_link_name(syspath, "physfn", name, sizeof(name)))
		p->physfn = xstrdup(name);
	p->sriov_totalvfs = attr_int(ud, "sriov_totalvfs", -1);
	p->sriov_numvfs = attr_int(ud, "sriov_numvfs", -1);
	v = udev_device_get_sysattr_value(ud, "reset_method");
	p->reset_methods = split_words(v ? v : "");
	/* `reset` is write-only: its presence is what tells a reset exists. */
	p->has_reset = path_exists(syspath, "reset");
	p->boot_vga = attr_int(ud, "boot_vga", 0) == 1;
}

static uint8_t file_hex_u8(struct udev_device *ud, const char *attr)
{
	uint32_t v = 0;

	attr_hex(ud, attr, &v);
	return (uint8_t)v;
}

/* Interfaces are the entries "<device>:<config>.<iface>" inside the
 * device's directory. */
static void fill_usb_interfaces(struct device *dev, struct udev_device *ud)
{
	_cleanup_(closedirp) DIR *dir = opendir(dev->syspath);
	struct udev *udev = udev_device_get_udev(ud);
	char prefix[64];
	size_t plen;
	struct dirent *de;

	/* A root hub "usbN" names its interfaces after port path "N-0". */
	if (dev->usb.root_hub)
		snprintf(prefix, sizeof(prefix), "%d-0:", dev->usb.busnum);
	else
		snprintf(prefix, sizeof(prefix), "%s:", dev->id);
	plen = strlen(prefix);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		char path[PATH_MAX];
		_cleanup_udev_device_ struct udev_device *iface = NULL;

		if (strncmp(de->d_name, prefix, plen))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dev->syspath, de->d_name) >=
		    (int)sizeof(path))
			continue;
		iface = udev_device_new_from_syspath(udev, path);
		if (!iface)
			continue;
		_cleanup_free_ char *driver = read_driver(path);
		struct usb_iface entry = {
			.id = de->d_name,
			.cls = file_hex_u8(iface, "bInterfaceClass"),
			.subcls = file_hex_u8(iface, "bInterfaceSubClass"),
			.proto = file_hex_u8(iface, "bInterfaceProtocol"),
			.driver = driver,
		};
		device_usb_iface_set(dev, &entry);
	}
}

static bool fill_usb(struct device *dev, struct udev_device *ud)
{
	struct usb_info *u = &dev->usb;

	if (!attr_hex(ud, "idVendor", &dev->vendor) || !attr_hex(ud, "idProduct", &dev->product))
		return false;
	attr_hex(ud, "bcdDevice", &u->bcd_device);
	attr_hex(ud, "bDeviceClass", &u->device_class);
	u->busnum = attr_int(ud, "busnum", -1);
	u->devnum = attr_int(ud, "devnum", -1);
	u->manufacturer = attr_str(ud, "manufacturer");
	u->product = attr_str(ud, "product");
	u->serial = attr_str(ud, "serial");
	u->speed = attr_str(ud, "speed");
	/* Devices are authorized unless the attribute says otherwise. */
	u->authorized = attr_int(ud, "authorized", 1) != 0;
	u->root_hub = strncmp(dev->id, "usb", 3) == 0;
	fill_usb_interfaces(dev, ud);
	return true;
}

struct device *record_from_udev(struct udev_device *ud)
{
	enum record_kind kind = record_classify(ud);
	const char *sysname = udev_device_get_sysname(ud);
	const char *syspath = udev_device_get_syspath(ud);
	struct device *dev;
	bool ok;

	if ((kind != RECORD_PCI && kind != RECORD_USB_DEVICE) || !sysname || !syspath)
		return NULL;
	dev = device_new(kind == RECORD_PCI ? HD_BUS_PCI : HD_BUS_USB,
			 record_id_from_sysname(sysname));
	dev->syspath = xstrdup(syspath);
	dev->driver = read_driver(syspath);
	dev->parent = parent_id(ud);
	dev->numa_node = attr_int(ud, "numa_node", HD_NO_NUMA);
	if (dev->numa_node < 0)
		dev->numa_node = HD_NO_NUMA;
	if (kind == RECORD_PCI) {
		ok = attr_hex(ud, "vendor", &dev->vendor) && attr_hex(ud, "device", &dev->product);
		if (ok)
			fill_pci(dev, ud);
	} else {
		ok = fill_usb(dev, ud);
	}
	if (!ok) {
		/* A device removed while we read it loses its attributes first. */
		log_dev_debug(dev->id, "no vendor/product in sysfs; skipping");
		device_free(dev);
		return NULL;
	}
	return dev;
}
