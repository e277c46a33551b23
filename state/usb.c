/* USB devices as records (state/bus.h): a device and its interfaces (the
 * interfaces are part of their device, not devices of their own), its
 * strings, its port path, what makes it host-critical on sight. */
#include "state/bus.h"
#include "common/jsonbuf.h"
#include "common/log.h"
#include "common/sysdir.h"
#include "common/util.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USB_CLASS_HUB 0x09

/* ---- interfaces --------------------------------------------------------- */

struct usb_iface *device_usb_iface(struct device *dev, const char *iface_id)
{
	if (dev->bus != HD_BUS_USB)
		return NULL;
	for (size_t i = 0; i < dev->usb.n_ifaces; i++)
		if (streq(dev->usb.ifaces[i].id, iface_id))
			return &dev->usb.ifaces[i];
	return NULL;
}

void device_usb_iface_set(struct device *dev, const struct usb_iface *iface)
{
	struct usb_info *u = &dev->usb;
	struct usb_iface *slot = device_usb_iface(dev, iface->id);
	size_t pos;

	if (dev->bus != HD_BUS_USB)
		fatal("%s: USB interface on a non-USB device", dev->id);
	if (slot) {
		str_replace(&slot->driver, iface->driver);
		slot->cls = iface->cls;
		slot->subcls = iface->subcls;
		slot->proto = iface->proto;
		return;
	}
	/* Keep the list sorted by id: devices have a handful of interfaces. */
	for (pos = 0; pos < u->n_ifaces && strcmp(u->ifaces[pos].id, iface->id) < 0; pos++)
		;
	u->ifaces = xrealloc(u->ifaces, (u->n_ifaces + 1) * sizeof(*u->ifaces));
	memmove(&u->ifaces[pos + 1], &u->ifaces[pos], (u->n_ifaces - pos) * sizeof(*u->ifaces));
	u->ifaces[pos] = (struct usb_iface){
		.id = xstrdup(iface->id),
		.cls = iface->cls,
		.subcls = iface->subcls,
		.proto = iface->proto,
		.driver = xstrdup(iface->driver),
	};
	u->n_ifaces++;
}

static void iface_clear(struct usb_iface *i)
{
	free(i->id);
	free(i->driver);
}

bool device_usb_iface_remove(struct device *dev, const char *iface_id)
{
	struct usb_info *u = &dev->usb;
	struct usb_iface *slot = device_usb_iface(dev, iface_id);
	size_t pos;

	if (!slot)
		return false;
	pos = (size_t)(slot - u->ifaces);
	iface_clear(slot);
	memmove(&u->ifaces[pos], &u->ifaces[pos + 1], (u->n_ifaces - pos - 1) * sizeof(*u->ifaces));
	u->n_ifaces--;
	return true;
}

static void ifaces_free(struct usb_info *u)
{
	for (size_t i = 0; i < u->n_ifaces; i++)
		iface_clear(&u->ifaces[i]);
	free(u->ifaces);
	u->ifaces = NULL;
	u->n_ifaces = 0;
}

static bool ifaces_equal(const struct usb_info *a, const struct usb_info *b)
{
	if (a->n_ifaces != b->n_ifaces)
		return false;
	for (size_t i = 0; i < a->n_ifaces; i++) {
		const struct usb_iface *x = &a->ifaces[i], *y = &b->ifaces[i];

		if (!streq(x->id, y->id) || !streq(x->driver, y->driver) || x->cls != y->cls ||
		    x->subcls != y->subcls || x->proto != y->proto)
			return false;
	}
	return true;
}

/* ---- records ------------------------------------------------------------ */

static void usb_init(struct device *dev)
{
}

static void usb_clear(struct device *dev)
{
	free(dev->usb.manufacturer);
	free(dev->usb.product);
	free(dev->usb.serial);
	free(dev->usb.speed);
	ifaces_free(&dev->usb);
}

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
static void fill_interfaces(struct device *dev, const struct sysdir *d)
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

static bool usb_fill(struct device *dev, const struct sysdir *d)
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
	fill_interfaces(dev, d);
	return true;
}

static bool usb_update(struct device *dev, const struct device *src)
{
	struct usb_info *d = &dev->usb;
	const struct usb_info *s = &src->usb;
	bool changed = false;

	DEVICE_SET(changed, d->busnum, s->busnum);
	DEVICE_SET(changed, d->devnum, s->devnum);
	DEVICE_SET(changed, d->device_class, s->device_class);
	DEVICE_SET(changed, d->bcd_device, s->bcd_device);
	changed |= str_replace(&d->manufacturer, s->manufacturer);
	changed |= str_replace(&d->product, s->product);
	changed |= str_replace(&d->serial, s->serial);
	changed |= str_replace(&d->speed, s->speed);
	DEVICE_SET(changed, d->authorized, s->authorized);
	DEVICE_SET(changed, d->root_hub, s->root_hub);
	if (!ifaces_equal(d, s)) {
		ifaces_free(d);
		for (size_t i = 0; i < s->n_ifaces; i++)
			device_usb_iface_set(dev, &s->ifaces[i]);
		changed = true;
	}
	return changed;
}

/* ---- ids ---------------------------------------------------------------- */

static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return len > 0;
}

/* "usbN" (root hub) or "B-P[.P]*" (port path); interfaces carry a ':'. */
static bool usb_is_device_name(const char *s, size_t len)
{
	size_t i = 0;

	if (len > 3 && strncmp(s, "usb", 3) == 0)
		return all_digits(s + 3, len - 3);
	while (i < len && isdigit((unsigned char)s[i]))
		i++;
	if (i == 0 || i + 1 >= len || s[i] != '-')
		return false;
	for (i++; i < len; i++)
		if (!isdigit((unsigned char)s[i]) && s[i] != '.')
			return false;
	return true;
}

/* Numbers of at most 10 digits, ports separated by single dots. */
static bool usb_canonical_id(const char *sel, char *out, size_t size)
{
	size_t len = strlen(sel), run = 0;
	const char *p;

	if (len >= size)
		return false;
	if (strncmp(sel, "usb", 3) == 0) {
		if (len - 3 > 10 || !all_digits(sel + 3, len - 3))
			return false;
	} else {
		p = sel + strspn(sel, "0123456789");
		if (p == sel || p - sel > 10 || *p != '-')
			return false;
		do {
			run = strspn(p + 1, "0123456789");
			if (run == 0 || run > 10)
				return false;
			p += run + 1;
		} while (*p == '.');
		if (*p)
			return false;
	}
	memcpy(out, sel, len + 1);
	return true;
}

static bool usb_at_address(const struct device *dev, int busnum, int devnum)
{
	return dev->usb.busnum == busnum && dev->usb.devnum == devnum;
}

static const char *usb_serial(const struct device *dev)
{
	return dev->usb.serial;
}

static bool no_bridge(const struct device *dev)
{
	return false;
}

/* ---- host-critical ------------------------------------------------------ */

static const char *usb_fixed_critical(const struct device *dev)
{
	if (dev->usb.root_hub)
		return "USB root hub: it is part of its host controller";
	if (dev->usb.device_class == USB_CLASS_HUB)
		return "USB hub: the devices behind it stay with the host";
	return NULL;
}

/* ---- protocol ----------------------------------------------------------- */

static void append_iface(struct jsonbuf *b, const struct usb_iface *i)
{
	JSONBUF_LIT(b, "{\"id\":");
	jsonbuf_string(b, i->id);
	JSONBUF_KEY(b, "class");
	jsonbuf_hex(b, i->cls, 2);
	JSONBUF_KEY(b, "subclass");
	jsonbuf_hex(b, i->subcls, 2);
	JSONBUF_KEY(b, "protocol");
	jsonbuf_hex(b, i->proto, 2);
	JSONBUF_OPT_STRING(b, "driver", i->driver);
	JSONBUF_LIT(b, "}");
}

static void usb_append_json(struct jsonbuf *b, const struct devtable *t, const struct device *dev)
{
	const struct usb_info *u = &dev->usb;

	JSONBUF_LIT(b, "{\"busnum\":");
	jsonbuf_int(b, u->busnum);
	JSONBUF_KEY(b, "devnum");
	jsonbuf_int(b, u->devnum);
	JSONBUF_KEY(b, "device_class");
	jsonbuf_hex(b, u->device_class, 2);
	JSONBUF_KEY(b, "bcd_device");
	jsonbuf_hex(b, u->bcd_device, 4);
	JSONBUF_OPT_STRING(b, "manufacturer", u->manufacturer);
	JSONBUF_OPT_STRING(b, "product_name", u->product);
	JSONBUF_OPT_STRING(b, "serial", u->serial);
	JSONBUF_OPT_STRING(b, "speed", u->speed);
	JSONBUF_KEY(b, "authorized");
	jsonbuf_bool(b, u->authorized);
	JSONBUF_KEY(b, "root_hub");
	jsonbuf_bool(b, u->root_hub);
	JSONBUF_KEY(b, "interfaces");
	JSONBUF_LIT(b, "[");
	for (size_t i = 0; i < u->n_ifaces; i++) {
		if (i)
			JSONBUF_LIT(b, ",");
		append_iface(b, &u->ifaces[i]);
	}
	JSONBUF_LIT(b, "]}");
}

/* As udev's modalias rule asks (hwdb.d/20-usb-vendor-model.hwdb). */
static void usb_hwdb_key(const struct device *dev, char *out, size_t size)
{
	snprintf(out, size, "usb:v%04Xp%04X", dev->vendor, dev->product);
}

const struct bus_desc bus_usb = {
	.name = "usb",
	.label = "USB",
	.plural = "USB devices",
	.subsystem = "usb",
	.devtype = "usb_device",
	.child_devtype = "usb_interface",
	.child_sep = ':',
	.selected_by_ids = true,
	.init = usb_init,
	.clear = usb_clear,
	.fill = usb_fill,
	.update = usb_update,
	.is_device_name = usb_is_device_name,
	.canonical_id = usb_canonical_id,
	.at_address = usb_at_address,
	.serial = usb_serial,
	.group_offset = -1,
	.physfn_offset = -1,
	.override_offset = -1,
	.is_bridge = no_bridge,
	.fixed_critical = usb_fixed_critical,
	.append_json = usb_append_json,
	.hwdb_key = usb_hwdb_key,
};
