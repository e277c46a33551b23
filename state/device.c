#include "state/device.h"
#include "state/bus.h"
#include "common/log.h"
#include "common/util.h"

#include <string.h>

static const char *const state_names[DEV_STATE__COUNT] = {
	[DEV_HOST] = "host",
	[DEV_DETACHING] = "detaching",
	[DEV_DETACHED] = "detached",
	[DEV_CLAIMED] = "claimed",
	[DEV_RELEASING] = "releasing",
	[DEV_ERROR] = "error",
};

/* Which transitions the state machine allows: allowed[from] is a bit mask of
 * destination states.  host <-> detached also happen without hostdevd (an
 * administrator or another tool rebinding a driver), so observation may move
 * between them directly.  `error` is left for host or detached when
 * Repair or a bind uevent finds where the device is (an operation Repair
 * runs to get it there keeps it in `error` until it succeeds, as a
 * driverless host device being probed stays `host`).  A device that is gone has no record (a claim on
 * it stays in the claim table, shown as `missing` by GetStatus), and one the
 * policy refuses stays in `host`: the policy decides at each claim, so a
 * reload takes effect without moving any device. */
#define BIT(s) (1u << (s))
static const unsigned allowed[DEV_STATE__COUNT] = {
	[DEV_HOST] = BIT(DEV_DETACHING) | BIT(DEV_DETACHED) | BIT(DEV_ERROR),
	[DEV_DETACHING] = BIT(DEV_DETACHED) | BIT(DEV_HOST) | BIT(DEV_CLAIMED) | BIT(DEV_ERROR),
	[DEV_DETACHED] = BIT(DEV_CLAIMED) | BIT(DEV_RELEASING) | BIT(DEV_HOST) | BIT(DEV_ERROR),
	[DEV_CLAIMED] = BIT(DEV_RELEASING) | BIT(DEV_DETACHED) | BIT(DEV_ERROR),
	[DEV_RELEASING] = BIT(DEV_HOST) | BIT(DEV_DETACHED) | BIT(DEV_ERROR),
	[DEV_ERROR] = BIT(DEV_HOST) | BIT(DEV_DETACHED),
};

const char *dev_state_name(enum dev_state state)
{
	return state < DEV_STATE__COUNT ? state_names[state] : "invalid";
}

int dev_state_from_name(const char *name)
{
	return name_index(state_names, DEV_STATE__COUNT, name);
}

/* Devices of a bus without stub drivers (USB) have no stub to go through:
 * a claim that moves no driver takes them host -> claimed directly. */
static const unsigned allowed_stubless[DEV_STATE__COUNT] = {
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
	if (dev_state_transition_allowed(from, to))
		return true;
	return !bus_of(dev)->stub_drivers && from < DEV_STATE__COUNT && to < DEV_STATE__COUNT &&
	       (allowed_stubless[from] & BIT(to));
}

void device_pool_enter(struct device *dev, const char *original)
{
	str_replace(&dev->original_driver, original);
	dev->pooled = true;
}

void device_pool_leave(struct device *dev)
{
	str_replace(&dev->original_driver, NULL);
	dev->pooled = false;
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
	bus_of(dev)->init(dev);
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

void device_free(struct device *dev)
{
	if (!dev)
		return;
	free(dev->syspath);
	free(dev->parent);
	free(dev->original_driver);
	bus_of(dev)->clear(dev);
	free(dev);
}

/* Most drivers are not stubs: asked first, the bus is rarely read. */
enum dev_state device_observed_state(const struct device *dev)
{
	return driver_is_stub(dev->driver) && bus_of(dev)->stub_drivers ? DEV_DETACHED : DEV_HOST;
}

bool device_is_bridge(const struct device *dev)
{
	return bus_of(dev)->is_bridge(dev);
}

const char *device_serial(const struct device *dev)
{
	const struct bus_desc *b = bus_of(dev);

	return b->serial ? b->serial(dev) : NULL;
}

bool device_is(const struct device *dev, uint32_t vendor, uint32_t product, const char *serial)
{
	return dev->vendor == vendor && dev->product == product &&
	       streq(device_serial(dev), serial);
}

bool device_update_from(struct device *dst, const struct device *src)
{
	bool changed = false;

	if (dst->bus != src->bus || !streq(dst->id, src->id))
		fatal("device_update_from: %s is not %s", src->id, dst->id);
	changed |= str_replace(&dst->syspath, src->syspath);
	DEVICE_SET(changed, dst->vendor, src->vendor);
	DEVICE_SET(changed, dst->product, src->product);
	if (dst->driver != src->driver) {
		dst->driver = src->driver;
		changed = true;
	}
	changed |= str_replace(&dst->parent, src->parent);
	DEVICE_SET(changed, dst->numa_node, src->numa_node);
	changed |= bus_of(dst)->update(dst, src);
	return changed;
}
