#include "monitor/record.h"
#include "common/log.h"
#include "common/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Attributes are read relative to one descriptor of the device's directory:
 * one path walk per device instead of one per attribute (a sysfs lookup, and
 * under umockdev one redirection), and a directory listing tells which
 * optional attributes exist, so absent ones cost nothing. */
struct sysdir {
	int fd;
	const char *syspath;
	bool listed;  /* names holds the directory's entries */
	char **names; /* sorted entries of the directory */
	size_t n_names;
};

static void sysdir_close(struct sysdir *d)
{
	for (size_t i = 0; i < d->n_names; i++)
		free(d->names[i]);
	free(d->names);
	if (d->fd >= 0)
		close(d->fd);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool sysdir_open(struct sysdir *d, const char *syspath)
{
	DIR *dir;
	struct dirent *de;
	size_t cap = 0;
	int lfd;

	memset(d, 0, sizeof(*d));
	d->syspath = syspath;
	d->fd = open(syspath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0)
		return false;
	lfd = dup(d->fd);
	dir = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (!dir) {
		if (lfd >= 0)
			close(lfd);
		return false;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (d->n_names == cap) {
			cap = cap ? cap * 2 : 64;
			d->names = xrealloc(d->names, cap * sizeof(*d->names));
		}
		d->names[d->n_names++] = xstrdup(de->d_name);
	}
	closedir(dir);
	/* A directory emptied under us (the device leaving) lists nothing:
	 * names is still NULL, which qsort may not be given. */
	if (d->n_names)
		qsort(d->names, d->n_names, sizeof(*d->names), cmp_name);
	d->listed = true;
	return true;
}

/* Whether an attribute may exist: without a listing, or for a path into a
 * subdirectory, the read itself tells. */
static bool sysdir_has(const struct sysdir *d, const char *name)
{
	if (!d->listed || strchr(name, '/'))
		return true;
	/* An empty listing's names is NULL, which bsearch may not be given. */
	return d->n_names &&
	       bsearch(&name, d->names, d->n_names, sizeof(*d->names), cmp_name) != NULL;
}

/* Reads a small attribute, without its trailing newline; false when absent
 * or unreadable (write-only attributes, attributes of a vanishing device). */
static bool sysdir_read(const struct sysdir *d, const char *name, char *buf, size_t len)
{
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (!sysdir_has(d, name))
		return false;
	fd = openat(d->fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return false;
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return false;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return true;
}

static char *sysdir_str(const struct sysdir *d, const char *name)
{
	char buf[256];

	return sysdir_read(d, name, buf, sizeof(buf)) && buf[0] ? xstrdup(buf) : NULL;
}

static bool sysdir_hex(const struct sysdir *d, const char *name, uint32_t *out)
{
	char buf[32];

	return sysdir_read(d, name, buf, sizeof(buf)) && parse_hex_u32(buf, out);
}

static int sysdir_int(const struct sysdir *d, const char *name, int fallback)
{
	char buf[32], *end;
	long v;

	if (!sysdir_read(d, name, buf, sizeof(buf)))
		return fallback;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || end == buf || *end || v < INT_MIN || v > INT_MAX)
		return fallback;
	return (int)v;
}

/* The last component of a link's target, e.g. iommu_group -> "12". */
static bool sysdir_link_name(const struct sysdir *d, const char *name, char *out, size_t len)
{
	char target[PATH_MAX];
	const char *base;
	ssize_t n;

	if (!sysdir_has(d, name))
		return false;
	n = readlinkat(d->fd, name, target, sizeof(target) - 1);
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

static char *sysdir_driver(const struct sysdir *d, const char *sub)
{
	char path[NAME_MAX + 16], name[NAME_MAX + 1];

	snprintf(path, sizeof(path), "%s%sdriver", sub ? sub : "", sub ? "/" : "");
	return sysdir_link_name(d, sub ? path : "driver", name, sizeof(name)) ? xstrdup(name)
									     : NULL;
}

/* ---- naming ------------------------------------------------------------- */

const char *record_id_from_sysname(const char *sysname)
{
	return sysname;
}

/* "DDDD:BB:DD.F" with hex digits and a domain of 4 or more digits (VMD
 * domains have more). */
static bool is_pci_name(const char *s, size_t len)
{
	size_t i = 0, dom = 0;

	while (i < len && isxdigit((unsigned char)s[i])) {
		i++;
		dom++;
	}
	if (dom < 4 || len != i + 8 || s[i] != ':' || s[i + 3] != ':' || s[i + 6] != '.')
		return false;
	return isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2]) &&
	       isxdigit((unsigned char)s[i + 4]) && isxdigit((unsigned char)s[i + 5]) &&
	       s[i + 7] >= '0' && s[i + 7] <= '7';
}

/* "usbN" (root hub) or "B-P[.P]*" (port path); interfaces carry a ':'. */
static bool is_usb_device_name(const char *s, size_t len)
{
	size_t i = 0;

	if (len > 3 && strncmp(s, "usb", 3) == 0) {
		for (i = 3; i < len; i++)
			if (!isdigit((unsigned char)s[i]))
				return false;
		return true;
	}
	while (i < len && isdigit((unsigned char)s[i]))
		i++;
	if (i == 0 || i + 1 >= len || s[i] != '-')
		return false;
	for (i++; i < len; i++)
		if (!isdigit((unsigned char)s[i]) && s[i] != '.')
			return false;
	return true;
}

/* The nearest ancestor that is itself a record (a PCI function, a USB
 * device), from the path alone: sysfs nests devices by topology and names
 * PCI functions and USB devices in forms nothing else uses. */
static char *parent_id_from_path(const char *syspath)
{
	const char *end = strrchr(syspath, '/');

	while (end && end > syspath) {
		const char *start = end - 1;

		while (start > syspath && *start != '/')
			start--;
		if (*start != '/')
			break;
		size_t len = (size_t)(end - start - 1);
		if (is_pci_name(start + 1, len) || is_usb_device_name(start + 1, len))
			return strndup(start + 1, len);
		end = start;
	}
	return NULL;
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

/* ---- PCI ---------------------------------------------------------------- */

static bool fill_pci(struct device *dev, const struct sysdir *d)
{
	struct pci_info *p = &dev->pci;
	char buf[256], name[NAME_MAX + 1];

	if (!sysdir_hex(d, "vendor", &dev->vendor) || !sysdir_hex(d, "device", &dev->product))
		return false;
	sysdir_hex(d, "subsystem_vendor", &p->subsystem_vendor);
	sysdir_hex(d, "subsystem_device", &p->subsystem_device);
	sysdir_hex(d, "class", &p->class_code);
	sysdir_hex(d, "revision", &p->revision);
	/* The kernel prints "(null)" when no override is set. */
	if (sysdir_read(d, "driver_override", buf, sizeof(buf)) && buf[0] && !streq(buf, "(null)"))
		p->driver_override = xstrdup(buf);
	if (sysdir_link_name(d, "iommu_group", name, sizeof(name)))
		p->iommu_group = atoi(name);
	if (sysdir_link_name(d, "physfn", name, sizeof(name)))
		p->physfn = xstrdup(name);
	p->sriov_totalvfs = sysdir_int(d, "sriov_totalvfs", -1);
	p->sriov_numvfs = sysdir_int(d, "sriov_numvfs", -1);
	/* reset_method lists the enabled methods in the order tried. */
	p->reset_methods = device_words(sysdir_read(d, "reset_method", buf, sizeof(buf)) ? buf : "");
	/* `reset` is write-only: its presence is what tells a reset exists. */
	p->has_reset = sysdir_has(d, "reset");
	p->boot_vga = sysdir_int(d, "boot_vga", 0) == 1;
	dev->numa_node = sysdir_int(d, "numa_node", HD_NO_NUMA);
	if (dev->numa_node < 0)
		dev->numa_node = HD_NO_NUMA;
	return true;
}

/* ---- USB ---------------------------------------------------------------- */

static uint8_t iface_hex(const struct sysdir *d, const char *iface, const char *attr)
{
	char path[NAME_MAX + 32];
	uint32_t v = 0;

	snprintf(path, sizeof(path), "%s/%s", iface, attr);
	sysdir_hex(d, path, &v);
	return (uint8_t)v;
}

/* Interfaces are the entries "<port path>:<config>.<n>" in the device's
 * directory; a root hub "usbN" names them after port path "N-0". */
static void fill_usb_interfaces(struct device *dev, const struct sysdir *d)
{
	char prefix[64];
	size_t plen;

	if (dev->usb.root_hub)
		snprintf(prefix, sizeof(prefix), "%d-0:", dev->usb.busnum);
	else
		snprintf(prefix, sizeof(prefix), "%s:", dev->id);
	plen = strlen(prefix);
	for (size_t i = 0; i < d->n_names; i++) {
		const char *name = d->names[i];

		if (strncmp(name, prefix, plen))
			continue;
		_cleanup_free_ char *driver = sysdir_driver(d, name);
		struct usb_iface entry = {
			.id = (char *)name,
			.cls = iface_hex(d, name, "bInterfaceClass"),
			.subcls = iface_hex(d, name, "bInterfaceSubClass"),
			.proto = iface_hex(d, name, "bInterfaceProtocol"),
			.driver = driver,
		};
		device_usb_iface_set(dev, &entry);
	}
}

static bool fill_usb(struct device *dev, const struct sysdir *d)
{
	struct usb_info *u = &dev->usb;

	if (!sysdir_hex(d, "idVendor", &dev->vendor) || !sysdir_hex(d, "idProduct", &dev->product))
		return false;
	sysdir_hex(d, "bcdDevice", &u->bcd_device);
	sysdir_hex(d, "bDeviceClass", &u->device_class);
	u->busnum = sysdir_int(d, "busnum", -1);
	u->devnum = sysdir_int(d, "devnum", -1);
	u->manufacturer = sysdir_str(d, "manufacturer");
	u->product = sysdir_str(d, "product");
	u->serial = sysdir_str(d, "serial");
	u->speed = sysdir_str(d, "speed");
	/* Devices are authorized unless the attribute says otherwise. */
	u->authorized = sysdir_int(d, "authorized", 1) != 0;
	u->root_hub = strncmp(dev->id, "usb", 3) == 0;
	fill_usb_interfaces(dev, d);
	return true;
}

/* ---- records ------------------------------------------------------------ */

bool record_read_binding(const char *syspath, char **driver, char **driver_override)
{
	struct sysdir d = { .syspath = syspath };
	char buf[256];

	*driver = *driver_override = NULL;
	/* Two reads: no directory listing, so look the files up directly. */
	d.fd = open(syspath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d.fd < 0)
		return false;
	*driver = sysdir_driver(&d, NULL);
	if (sysdir_read(&d, "driver_override", buf, sizeof(buf)) && buf[0] &&
	    !streq(buf, "(null)"))
		*driver_override = xstrdup(buf);
	sysdir_close(&d);
	return true;
}

struct device *record_build(enum record_kind kind, const char *syspath)
{
	const char *sysname = strrchr(syspath, '/');
	struct sysdir d;
	struct device *dev;
	bool ok;

	if ((kind != RECORD_PCI && kind != RECORD_USB_DEVICE) || !sysname || !sysname[1])
		return NULL;
	sysname++;
	if (!sysdir_open(&d, syspath)) {
		/* A device removed since its event: its remove event follows. */
		log_dev_debug(sysname, "not in sysfs any more; skipping");
		return NULL;
	}
	dev = device_new(kind == RECORD_PCI ? HD_BUS_PCI : HD_BUS_USB,
			 record_id_from_sysname(sysname));
	dev->syspath = xstrdup(syspath);
	{
		char *driver = sysdir_driver(&d, NULL);

		dev->driver = device_intern(driver);
		free(driver);
	}
	dev->parent = parent_id_from_path(syspath);
	ok = kind == RECORD_PCI ? fill_pci(dev, &d) : fill_usb(dev, &d);
	sysdir_close(&d);
	if (!ok) {
		log_dev_debug(dev->id, "no vendor/product in sysfs; skipping");
		device_free(dev);
		return NULL;
	}
	return dev;
}

struct device *record_from_udev(struct udev_device *ud)
{
	const char *syspath = udev_device_get_syspath(ud);

	return syspath ? record_build(record_classify(ud), syspath) : NULL;
}
