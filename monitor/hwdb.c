#include "monitor/hwdb.h"
#include "common/log.h"
#include "common/util.h"
#include "state/bus.h"

#include <libudev.h>
#include <stdlib.h>
#include <string.h>

/* Distinct ids the cache holds before it starts again: far more models than
 * a machine has, and a bound on what a USB device that keeps coming back
 * with new ids can make it hold. */
#define HWDB_CACHE_MAX 4096

struct hwdb_entry {
	bool used;
	enum hd_bus bus;
	uint32_t vendor, product;
	char *vendor_name, *product_name; /* NULL: the database has none */
};

struct hwdb {
	struct udev *udev;
	struct udev_hwdb *db; /* NULL: names are off */
	struct hwdb_entry *slots; /* open addressing, linear probing */
	size_t cap, n;            /* cap a power of two */
	uint64_t queries;
};

struct hwdb *hwdb_new(bool enabled)
{
	struct hwdb *h = xcalloc(1, sizeof(*h));

	if (!enabled) {
		log_info("device names from the hardware database are off (HOSTDEVD_HWDB=off)");
		return h;
	}
	h->udev = udev_new();
	h->db = h->udev ? udev_hwdb_new(h->udev) : NULL;
	if (!h->db)
		log_info("no udev hardware database (hwdb.bin): devices are named by their class");
	return h;
}

static void cache_clear(struct hwdb *h)
{
	for (size_t i = 0; i < h->cap; i++) {
		free(h->slots[i].vendor_name);
		free(h->slots[i].product_name);
	}
	free(h->slots);
	h->slots = NULL;
	h->cap = h->n = 0;
}

void hwdb_free(struct hwdb *h)
{
	if (!h)
		return;
	cache_clear(h);
	udev_hwdb_unref(h->db);
	udev_unref(h->udev);
	free(h);
}

uint64_t hwdb_queries(const struct hwdb *h)
{
	return h ? h->queries : 0;
}

static size_t slot_of(enum hd_bus bus, uint32_t vendor, uint32_t product, size_t cap)
{
	uint64_t k = ((uint64_t)bus << 56) ^ ((uint64_t)vendor << 24) ^ product;

	/* A 64-bit mix (splitmix64's finalizer): ids of one vendor differ in
	 * their low bits only. */
	k ^= k >> 30;
	k *= 0xbf58476d1ce4e5b9ULL;
	k ^= k >> 27;
	k *= 0x94d049bb133111ebULL;
	k ^= k >> 31;
	return (size_t)k & (cap - 1);
}

static struct hwdb_entry *probe(struct hwdb_entry *slots, size_t cap, enum hd_bus bus,
				uint32_t vendor, uint32_t product)
{
	size_t i = slot_of(bus, vendor, product, cap);

	while (slots[i].used && !(slots[i].bus == bus && slots[i].vendor == vendor &&
				  slots[i].product == product))
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

/* Room for one more entry, at most 3/4 full. */
static void cache_reserve(struct hwdb *h)
{
	struct hwdb_entry *old;
	size_t old_cap;

	if (h->n >= HWDB_CACHE_MAX)
		cache_clear(h);
	if ((h->n + 1) * 4 <= h->cap * 3)
		return;
	old = h->slots;
	old_cap = h->cap;
	h->cap = old_cap ? old_cap * 2 : 64;
	h->slots = xcalloc(h->cap, sizeof(*h->slots));
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].used)
			*probe(h->slots, h->cap, old[i].bus, old[i].vendor, old[i].product) = old[i];
	free(old);
}

static char *name_dup(const char *s)
{
	return s && *s ? utf8_dup(s) : NULL;
}

/* Both names from one query: the database's patterns for the vendor
 * ("pci:v00008086*") and for the model match the same key. */
static void query(struct hwdb *h, const struct device *dev, struct hwdb_entry *e)
{
	char key[64];
	struct udev_list_entry *l;

	bus_of(dev)->hwdb_key(dev, key, sizeof(key));
	h->queries++;
	udev_list_entry_foreach(l, udev_hwdb_get_properties_list_entry(h->db, key, 0))
	{
		const char *name = udev_list_entry_get_name(l);

		if (streq(name, "ID_VENDOR_FROM_DATABASE") && !e->vendor_name)
			e->vendor_name = name_dup(udev_list_entry_get_value(l));
		else if (streq(name, "ID_MODEL_FROM_DATABASE") && !e->product_name)
			e->product_name = name_dup(udev_list_entry_get_value(l));
	}
}

/* The cached entry of dev's ids, asking the database the first time. */
static const struct hwdb_entry *lookup(struct hwdb *h, const struct device *dev)
{
	struct hwdb_entry *e = h->cap ? probe(h->slots, h->cap, dev->bus, dev->vendor,
					      dev->product)
				      : NULL;

	if (e && e->used)
		return e;
	cache_reserve(h);
	e = probe(h->slots, h->cap, dev->bus, dev->vendor, dev->product);
	*e = (struct hwdb_entry){ .used = true, .bus = dev->bus, .vendor = dev->vendor,
				  .product = dev->product };
	h->n++;
	query(h, dev, e);
	return e;
}

bool hwdb_names(struct hwdb *h, const struct device *dev, const char **vendor_name,
		const char **product_name)
{
	const struct hwdb_entry *e;

	*vendor_name = *product_name = NULL;
	if (!h || !h->db || !bus_of(dev)->hwdb_key)
		return false;
	e = lookup(h, dev);
	*vendor_name = e->vendor_name;
	*product_name = e->product_name;
	return e->vendor_name || e->product_name;
}
