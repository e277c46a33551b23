#include "state/device.h"
#include "common/log.h"
#include "common/util.h"

#include <string.h>

static const char *const state_names[DEV_STATE__COUNT] = {
	[DEV_HOST] = "host",
	[DEV_DETACHING] = "detaching",
	[DEV_DETACHED] = "detached",
	[DEV_CLAIMED] = "claimed",
	[DEV_RELEASING] = "releasing",
	[DEV_MISSING] = "missing",
	[DEV_REFUSED] = "refused",
	[DEV_ERROR] = "error",
};

static const char *const bus_names[HD_BUS__COUNT] = {
	[HD_BUS_PCI] = "pci",
	[HD_BUS_USB] = "usb",
};

/* Which transitions the state machine allows: allowed[from] is a bit mask of
 * destination states.  host <-> detached also happen without hostdevd (an
 * administrator or another tool rebinding a driver), so observation may move
 * between them directly. */
#define BIT(s) (1u << (s))
static const unsigned allowed[DEV_STATE__COUNT] = {
	[DEV_HOST] = BIT(DEV_DETACHING) | BIT(DEV_DETACHED) | BIT(DEV_MISSING) |
		     BIT(DEV_REFUSED) | BIT(DEV_ERROR),
	[DEV_DETACHING] = BIT(DEV_DETACHED) | BIT(DEV_HOST) | BIT(DEV_CLAIMED) |
			  BIT(DEV_MISSING) | BIT(DEV_ERROR),
	[DEV_DETACHED] = BIT(DEV_CLAIMED) | BIT(DEV_RELEASING) | BIT(DEV_HOST) |
			 BIT(DEV_MISSING) | BIT(DEV_REFUSED) | BIT(DEV_ERROR),
	[DEV_CLAIMED] = BIT(DEV_RELEASING) | BIT(DEV_DETACHED) | BIT(DEV_MISSING) |
			BIT(DEV_ERROR),
	[DEV_RELEASING] = BIT(DEV_HOST) | BIT(DEV_DETACHED) | BIT(DEV_MISSING) |
			  BIT(DEV_ERROR),
	[DEV_MISSING] = BIT(DEV_HOST) | BIT(DEV_DETACHED) | BIT(DEV_CLAIMED) | BIT(DEV_ERROR),
	[DEV_REFUSED] = BIT(DEV_HOST) | BIT(DEV_DETACHED) | BIT(DEV_MISSING) | BIT(DEV_ERROR),
	[DEV_ERROR] = BIT(DEV_HOST) | BIT(DEV_DETACHED) | BIT(DEV_MISSING),
};

const char *dev_state_name(enum dev_state state)
{
	return state < DEV_STATE__COUNT ? state_names[state] : "invalid";
}

int dev_state_from_name(const char *name)
{
	return name_index(state_names, DEV_STATE__COUNT, name);
}

const char *hd_bus_name(enum hd_bus bus)
{
	return bus < HD_BUS__COUNT ? bus_names[bus] : "invalid";
}

int hd_bus_from_name(const char *name)
{
	return name_index(bus_names, HD_BUS__COUNT, name);
}

/* USB devices have no stub to go through: a USB claim that unbinds no
 * interface driver goes host -> claimed directly. */
static const unsigned allowed_usb[DEV_STATE__COUNT] = {
	[DEV_HOST] = BIT(DEV_CLAIMED),
};

bool dev_state_transition_allowed(enum dev_state from, enum dev_state to)
{
	if (from >= DEV_STATE__COUNT || to >= DEV_STATE__COUNT)
		return false;
	return from == to || (allowed[from] & BIT(to));
}

static bool transition_allowed(const struct device *dev, enum dev_state from, enum dev_state to)
{
	if (dev->bus == HD_BUS_USB && from < DEV_STATE__COUNT && to < DEV_STATE__COUNT &&
	    (allowed_usb[from] & BIT(to)))
		return true;
	return dev_state_transition_allowed(from, to);
}

bool device_set_state(struct device *dev, enum dev_state to, const char *why)
{
	enum dev_state from = dev->state;

	if (from == to)
		return true;
	if (!transition_allowed(dev, from, to)) {
		log_dev_warn(dev->id, "refusing state change %s -> %s (%s)", dev_state_name(from),
			     dev_state_name(to), why ? why : "no reason");
		return false;
	}
	dev->state = to;
	log_dev_debug(dev->id, "%s -> %s (%s)", dev_state_name(from), dev_state_name(to),
		      why ? why : "no reason");
	return true;
}

/* Interned driver names: an open-addressing set that only grows. */
static struct {
	const char **slots;
	size_t n_slots, n_used;
} interned;

static void intern_grow(void)
{
	size_t n = interned.n_slots ? interned.n_slots * 2 : 64;
	const char **slots = xcalloc(n, sizeof(*slots));

	for (size_t i = 0; i < interned.n_slots; i++) {
		const char *s = interned.slots[i];
		size_t h;

		if (!s)
			continue;
		for (h = str_hash(s) & (n - 1); slots[h]; h = (h + 1) & (n - 1))
			;
		slots[h] = s;
	}
	free(interned.slots);
	interned.slots = slots;
	interned.n_slots = n;
}

const char *device_intern(const char *name)
{
	size_t h;

	if (!name)
		return NULL;
	if (2 * (interned.n_used + 1) > interned.n_slots)
		intern_grow();
	for (h = str_hash(name) & (interned.n_slots - 1); interned.slots[h];
	     h = (h + 1) & (interned.n_slots - 1))
		if (strcmp(interned.slots[h], name) == 0)
			return interned.slots[h];
	interned.slots[h] = xstrdup(name);
	interned.n_used++;
	return interned.slots[h];
}

struct device *device_new(enum hd_bus bus, const char *id)
{
	size_t len = strlen(id);
	bool fits = len < sizeof(((struct device *)0)->id_inline);
	/* The id lives in the record (long ones right after it): a lookup that
	 * finds the record compares the id without another cache miss. */
	struct device *dev = xcalloc(1, sizeof(*dev) + (fits ? 0 : len + 1));

	dev->bus = bus;
	dev->id = memcpy(fits ? dev->id_inline : (char *)(dev + 1), id, len + 1);
	dev->numa_node = HD_NO_NUMA;
	dev->state = DEV_HOST;
	if (bus == HD_BUS_PCI) {
		dev->pci.iommu_group = HD_NO_GROUP;
		dev->pci.sriov_totalvfs = -1;
		dev->pci.sriov_numvfs = -1;
	}
	return dev;
}

char **device_words(const char *s)
{
	size_t n = 0, len = strlen(s);
	char **v, *text;

	for (const char *p = s; *p;) {
		p += strspn(p, " \t\n");
		if (!*p)
			break;
		n++;
		p += strcspn(p, " \t\n");
	}
	v = xcalloc(1, (n + 1) * sizeof(*v) + len + 1);
	text = (char *)(v + n + 1);
	memcpy(text, s, len + 1);
	n = 0;
	for (char *p = text; *p;) {
		if (strchr(" \t\n", *p)) {
			*p++ = '\0';
			continue;
		}
		v[n++] = p;
		p += strcspn(p, " \t\n");
	}
	v[n] = NULL;
	return v;
}

static void usb_iface_clear(struct usb_iface *i)
{
	free(i->id);
	free(i->driver);
}

static void usb_ifaces_free(struct usb_info *u)
{
	for (size_t i = 0; i < u->n_ifaces; i++)
		usb_iface_clear(&u->ifaces[i]);
	free(u->ifaces);
	u->ifaces = NULL;
	u->n_ifaces = 0;
}

void device_free(struct device *dev)
{
	if (!dev)
		return;
	free(dev->syspath);
	free(dev->parent);
	free(dev->original_driver);
	if (dev->bus == HD_BUS_PCI) {
		free(dev->pci.driver_override);
		free(dev->pci.physfn);
		free(dev->pci.reset_methods);
	} else {
		free(dev->usb.manufacturer);
		free(dev->usb.product);
		free(dev->usb.serial);
		free(dev->usb.speed);
		usb_ifaces_free(&dev->usb);
	}
	free(dev);
}

bool pci_is_bridge(const struct device *dev)
{
	return dev->bus == HD_BUS_PCI && (dev->pci.class_code >> 8) == 0x0604;
}

bool pci_is_host_bridge(const struct device *dev)
{
	return dev->bus == HD_BUS_PCI && (dev->pci.class_code >> 8) == 0x0600;
}

enum dev_state device_observed_state(const struct device *dev)
{
	return dev->bus == HD_BUS_PCI && driver_is_stub(dev->driver) ? DEV_DETACHED : DEV_HOST;
}

static bool strv_equal(char **a, char **b)
{
	if (!a || !b)
		return a == b;
	for (; *a && *b; a++, b++)
		if (strcmp(*a, *b))
			return false;
	return !*a && !*b;
}


static char **words_copy(char **v)
{
	size_t len = 1;
	_cleanup_free_ char *joined = NULL;

	if (!v)
		return NULL;
	for (char **p = v; *p; p++)
		len += strlen(*p) + 1;
	joined = xcalloc(1, len);
	for (char **p = v; *p; p++) {
		if (p != v)
			strcat(joined, " ");
		strcat(joined, *p);
	}
	return device_words(joined);
}

/* Assigns a scalar field, noting whether it changed. */
#define SET(field, value)                                                      \
	do {                                                                   \
		if ((field) != (value)) {                                      \
			(field) = (value);                                     \
			changed = true;                                        \
		}                                                              \
	} while (0)

static bool pci_update(struct pci_info *d, const struct pci_info *s)
{
	bool changed = false;

	SET(d->subsystem_vendor, s->subsystem_vendor);
	SET(d->subsystem_device, s->subsystem_device);
	SET(d->class_code, s->class_code);
	SET(d->revision, s->revision);
	changed |= str_replace(&d->driver_override, s->driver_override);
	SET(d->iommu_group, s->iommu_group);
	changed |= str_replace(&d->physfn, s->physfn);
	SET(d->sriov_totalvfs, s->sriov_totalvfs);
	SET(d->sriov_numvfs, s->sriov_numvfs);
	if (!strv_equal(d->reset_methods, s->reset_methods)) {
		free(d->reset_methods);
		d->reset_methods = words_copy(s->reset_methods);
		changed = true;
	}
	SET(d->has_reset, s->has_reset);
	SET(d->boot_vga, s->boot_vga);
	return changed;
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

static bool usb_update(struct device *dev, const struct usb_info *s)
{
	struct usb_info *d = &dev->usb;
	bool changed = false;

	SET(d->busnum, s->busnum);
	SET(d->devnum, s->devnum);
	SET(d->device_class, s->device_class);
	SET(d->bcd_device, s->bcd_device);
	changed |= str_replace(&d->manufacturer, s->manufacturer);
	changed |= str_replace(&d->product, s->product);
	changed |= str_replace(&d->serial, s->serial);
	changed |= str_replace(&d->speed, s->speed);
	SET(d->authorized, s->authorized);
	SET(d->root_hub, s->root_hub);
	if (!ifaces_equal(d, s)) {
		usb_ifaces_free(d);
		for (size_t i = 0; i < s->n_ifaces; i++)
			device_usb_iface_set(dev, &s->ifaces[i]);
		changed = true;
	}
	return changed;
}

bool device_update_from(struct device *dst, const struct device *src)
{
	bool changed = false;

	if (dst->bus != src->bus || !streq(dst->id, src->id))
		fatal("device_update_from: %s is not %s", src->id, dst->id);
	changed |= str_replace(&dst->syspath, src->syspath);
	SET(dst->vendor, src->vendor);
	SET(dst->product, src->product);
	if (dst->driver != src->driver) {
		dst->driver = src->driver;
		changed = true;
	}
	changed |= str_replace(&dst->parent, src->parent);
	SET(dst->numa_node, src->numa_node);
	if (dst->bus == HD_BUS_PCI)
		changed |= pci_update(&dst->pci, &src->pci);
	else
		changed |= usb_update(dst, &src->usb);
	return changed;
}
#undef SET

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

bool device_usb_iface_remove(struct device *dev, const char *iface_id)
{
	struct usb_info *u = &dev->usb;
	struct usb_iface *slot = device_usb_iface(dev, iface_id);
	size_t pos;

	if (!slot)
		return false;
	pos = (size_t)(slot - u->ifaces);
	usb_iface_clear(slot);
	memmove(&u->ifaces[pos], &u->ifaces[pos + 1], (u->n_ifaces - pos - 1) * sizeof(*u->ifaces));
	u->n_ifaces--;
	return true;
}
