#include "state/devtable.h"
#include "state/bus.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

/* One key of a secondary index (an IOMMU group, a parent id, a PF id) and the
 * devices filed under it, as an intrusive doubly-linked list. */
struct devtable_bucket {
	char *key;
	struct device *first, *last;
	size_t count;
	struct devtable_bucket *next; /* hash chain */
};

struct index {
	struct devtable_bucket **slots;
	size_t n_slots; /* power of two */
	size_t n_keys;
};

enum index_kind { IDX_GROUP, IDX_CHILD, IDX_VF, IDX__COUNT };

struct devtable {
	struct device **hash; /* by id, chained through dev->hash_next */
	size_t n_hash;        /* power of two */
	struct device **dense; /* every device; dev->slot is its position */
	size_t n_dense, cap_dense;
	size_t per_bus[HD_BUS__COUNT];
	struct index idx[IDX__COUNT];
	uint64_t resync_gen;
	bool resyncing;
	struct subscriber *subs;
	size_t n_subs;
	/* Events raised while subscribers are being told of another wait
	 * here, in order; they name their device by id, since what happens
	 * meanwhile may change the record. */
	bool telling;
	struct pending *pending;
	size_t n_pending, cap_pending, next_pending;
};

struct subscriber {
	devtable_listener_fn fn;
	void *ctx;
};

struct pending {
	enum dev_event ev;
	char *id, *detail;
};

static const char *const event_names[DEV_EVENT__COUNT] = {
	[DEV_EVENT_ADD] = "add",       [DEV_EVENT_REMOVE] = "remove",
	[DEV_EVENT_BIND] = "bind",     [DEV_EVENT_UNBIND] = "unbind",
	[DEV_EVENT_CHANGE] = "change", [DEV_EVENT_MOVE] = "move",
};

const char *dev_event_name(enum dev_event ev)
{
	return ev < DEV_EVENT__COUNT ? event_names[ev] : "invalid";
}

int dev_event_from_action(const char *action)
{
	return name_index(event_names, DEV_EVENT__COUNT, action);
}

/* ---- secondary indexes ------------------------------------------------ */

struct links {
	struct device **prev, **next;
	struct devtable_bucket **head;
};

static struct links links_of(struct device *dev, enum index_kind kind)
{
	switch (kind) {
	case IDX_GROUP:
		return (struct links){ &dev->group_prev, &dev->group_next, &dev->group_head };
	case IDX_CHILD:
		return (struct links){ &dev->child_prev, &dev->child_next, &dev->child_head };
	case IDX_VF:
		return (struct links){ &dev->vf_prev, &dev->vf_next, &dev->vf_head };
	default:
		fatal("bad index kind %d", kind);
	}
}

/* The key a device is filed under in an index, or NULL for none. */
static const char *index_key(const struct device *dev, enum index_kind kind, char buf[16])
{
	switch (kind) {
	case IDX_GROUP: {
		int group = device_iommu_group(dev);

		if (group < 0)
			return NULL;
		snprintf(buf, 16, "%d", group);
		return buf;
	}
	case IDX_CHILD:
		return dev->parent;
	case IDX_VF:
		return device_physfn(dev);
	default:
		fatal("bad index kind %d", kind);
	}
}

static struct devtable_bucket *index_find(const struct index *idx, const char *key)
{
	struct devtable_bucket *b;

	if (!idx->n_slots || !key)
		return NULL;
	for (b = idx->slots[str_hash(key) & (idx->n_slots - 1)]; b; b = b->next)
		if (strcmp(b->key, key) == 0)
			return b;
	return NULL;
}

static void index_grow(struct index *idx)
{
	size_t n = idx->n_slots ? idx->n_slots * 2 : 16;
	struct devtable_bucket **slots = xcalloc(n, sizeof(*slots));

	for (size_t i = 0; i < idx->n_slots; i++) {
		struct devtable_bucket *b = idx->slots[i], *next;

		for (; b; b = next) {
			size_t h = str_hash(b->key) & (n - 1);

			next = b->next;
			b->next = slots[h];
			slots[h] = b;
		}
	}
	free(idx->slots);
	idx->slots = slots;
	idx->n_slots = n;
}

static void index_link(struct index *idx, struct device *dev, enum index_kind kind)
{
	char buf[16];
	const char *key = index_key(dev, kind, buf);
	struct links l = links_of(dev, kind);
	struct devtable_bucket *b;

	if (!key)
		return;
	b = index_find(idx, key);
	if (!b) {
		if (idx->n_keys >= idx->n_slots)
			index_grow(idx);
		b = xcalloc(1, sizeof(*b));
		b->key = xstrdup(key);
		size_t h = str_hash(key) & (idx->n_slots - 1);
		b->next = idx->slots[h];
		idx->slots[h] = b;
		idx->n_keys++;
	}
	*l.prev = b->last;
	*l.next = NULL;
	if (b->last)
		*links_of(b->last, kind).next = dev;
	else
		b->first = dev;
	b->last = dev;
	b->count++;
	*l.head = b;
}

static void index_unlink(struct index *idx, struct device *dev, enum index_kind kind)
{
	struct links l = links_of(dev, kind);
	struct devtable_bucket *b = *l.head, **pp;

	if (!b)
		return;
	if (*l.prev)
		*links_of(*l.prev, kind).next = *l.next;
	else
		b->first = *l.next;
	if (*l.next)
		*links_of(*l.next, kind).prev = *l.prev;
	else
		b->last = *l.prev;
	*l.prev = *l.next = NULL;
	*l.head = NULL;
	if (--b->count)
		return;
	/* Last member gone: drop the key so the index does not grow forever. */
	for (pp = &idx->slots[str_hash(b->key) & (idx->n_slots - 1)]; *pp != b; pp = &(*pp)->next)
		;
	*pp = b->next;
	idx->n_keys--;
	free(b->key);
	free(b);
}

static void index_all(struct devtable *t, struct device *dev)
{
	for (int k = 0; k < IDX__COUNT; k++)
		index_link(&t->idx[k], dev, k);
}

static void unindex_all(struct devtable *t, struct device *dev)
{
	for (int k = 0; k < IDX__COUNT; k++)
		index_unlink(&t->idx[k], dev, k);
}

static void index_free(struct index *idx)
{
	for (size_t i = 0; i < idx->n_slots; i++) {
		struct devtable_bucket *b = idx->slots[i], *next;

		for (; b; b = next) {
			next = b->next;
			free(b->key);
			free(b);
		}
	}
	free(idx->slots);
}

/* ---- the table -------------------------------------------------------- */

struct devtable *devtable_new(void)
{
	struct devtable *t = xcalloc(1, sizeof(*t));

	t->n_hash = 64;
	t->hash = xcalloc(t->n_hash, sizeof(*t->hash));
	return t;
}

void devtable_free(struct devtable *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_dense; i++)
		device_free(t->dense[i]);
	free(t->dense);
	free(t->hash);
	for (int k = 0; k < IDX__COUNT; k++)
		index_free(&t->idx[k]);
	for (size_t i = t->next_pending; i < t->n_pending; i++) {
		free(t->pending[i].id);
		free(t->pending[i].detail);
	}
	free(t->pending);
	free(t->subs);
	free(t);
}

void devtable_subscribe(struct devtable *t, devtable_listener_fn fn, void *ctx)
{
	t->subs = xrealloc(t->subs, (t->n_subs + 1) * sizeof(*t->subs));
	t->subs[t->n_subs++] = (struct subscriber){ fn, ctx };
}

static inline void tell(struct devtable *t, enum dev_event ev, const struct device *dev,
			const char *detail)
{
	for (size_t i = 0; i < t->n_subs; i++)
		t->subs[i].fn(ev, dev, detail, t->subs[i].ctx);
}

/* Events raised by subscribers, in order; one whose device left the
 * table meanwhile is dropped (its remove was told). */
static __attribute__((noinline)) void tell_pending(struct devtable *t)
{
	while (t->next_pending < t->n_pending) {
		struct pending p = t->pending[t->next_pending++];
		const struct device *dev = devtable_get(t, p.id);

		if (dev)
			tell(t, p.ev, dev, p.detail);
		free(p.id);
		free(p.detail);
	}
	t->n_pending = t->next_pending = 0;
}

static __attribute__((noinline)) void defer(struct devtable *t, enum dev_event ev,
					    const struct device *dev, const char *detail)
{
	if (t->n_pending == t->cap_pending) {
		t->cap_pending = t->cap_pending ? t->cap_pending * 2 : 8;
		t->pending = xrealloc(t->pending, t->cap_pending * sizeof(*t->pending));
	}
	t->pending[t->n_pending++] = (struct pending){ ev, xstrdup(dev->id), xstrdup(detail) };
}

/* On every event's path: the common case, nobody being told, inline. */
static inline void notify(struct devtable *t, enum dev_event ev, const struct device *dev,
			  const char *detail)
{
	if (t->telling) {
		defer(t, ev, dev, detail);
		return;
	}
	t->telling = true;
	tell(t, ev, dev, detail);
	if (t->n_pending)
		tell_pending(t);
	t->telling = false;
}

/* A removal is told before the record is freed, so it cannot wait for a
 * fan-out in progress to end.  Removals come from the monitor, never from
 * a subscriber, so this nests only if that changes. */
static void notify_remove(struct devtable *t, const struct device *dev)
{
	if (t->telling)
		tell(t, DEV_EVENT_REMOVE, dev, NULL);
	else
		notify(t, DEV_EVENT_REMOVE, dev, NULL);
}

bool devtable_set_state(struct devtable *t, struct device *dev, enum dev_state to,
			const char *why)
{
	if (dev->state == to)
		return true;
	if (!device_set_state(dev, to, why))
		return false;
	notify(t, DEV_EVENT_CHANGE, dev, NULL);
	return true;
}

void devtable_touch(struct devtable *t, const struct device *dev)
{
	notify(t, DEV_EVENT_CHANGE, dev, NULL);
}

size_t devtable_count(const struct devtable *t)
{
	return t->n_dense;
}

size_t devtable_count_bus(const struct devtable *t, enum hd_bus bus)
{
	return bus < HD_BUS__COUNT ? t->per_bus[bus] : 0;
}

size_t devtable_count_state(const struct devtable *t, enum dev_state state)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n_dense; i++)
		n += t->dense[i]->state == state;
	return n;
}

struct device *devtable_at(const struct devtable *t, size_t i)
{
	return i < t->n_dense ? t->dense[i] : NULL;
}

struct device *devtable_get(const struct devtable *t, const char *id)
{
	struct device *dev;
	uint64_t h;

	if (!id)
		return NULL;
	h = str_hash(id);
	for (dev = t->hash[h & (t->n_hash - 1)]; dev; dev = dev->hash_next)
		if (dev->id_hash == h && strcmp(dev->id, id) == 0)
			return dev;
	return NULL;
}

static void hash_grow(struct devtable *t)
{
	size_t n = t->n_hash * 2;
	struct device **hash = xcalloc(n, sizeof(*hash));

	for (size_t i = 0; i < t->n_dense; i++) {
		struct device *dev = t->dense[i];
		size_t h = dev->id_hash & (n - 1);

		dev->hash_next = hash[h];
		hash[h] = dev;
	}
	free(t->hash);
	t->hash = hash;
	t->n_hash = n;
}

static void insert(struct devtable *t, struct device *dev)
{
	size_t h;

	if (t->n_dense >= t->n_hash)
		hash_grow(t);
	dev->id_hash = str_hash(dev->id);
	h = dev->id_hash & (t->n_hash - 1);
	dev->hash_next = t->hash[h];
	t->hash[h] = dev;
	if (t->n_dense == t->cap_dense) {
		t->cap_dense = t->cap_dense ? t->cap_dense * 2 : 64;
		t->dense = xrealloc(t->dense, t->cap_dense * sizeof(*t->dense));
	}
	dev->slot = t->n_dense;
	t->dense[t->n_dense++] = dev;
	t->per_bus[dev->bus]++;
	index_all(t, dev);
}

/* The observed state follows the driver only while nothing else owns the
 * device's state: claims, policy and errors are decided elsewhere. */
static void follow_driver(struct device *dev, const char *why)
{
	if (dev->state == DEV_HOST || dev->state == DEV_DETACHED)
		device_set_state(dev, device_observed_state(dev), why);
}

static bool same_relations(const struct device *a, const struct device *b)
{
	return streq(a->parent, b->parent) && device_iommu_group(a) == device_iommu_group(b) &&
	       streq(device_physfn(a), device_physfn(b));
}

struct device *devtable_upsert(struct devtable *t, struct device *rec, enum dev_event ev,
			       const char *detail)
{
	struct device *dev = devtable_get(t, rec->id);
	bool changed, relinked;

	if (!dev) {
		rec->state = device_observed_state(rec);
		rec->seen_gen = t->resync_gen;
		insert(t, rec);
		log_dev_debug(rec->id, "added (%s, driver %s)", dev_event_name(ev),
			      rec->driver ? rec->driver : "none");
		notify(t, DEV_EVENT_ADD, rec, detail);
		return rec;
	}
	if (dev->bus != rec->bus)
		fatal("%s: one id on two buses", rec->id);
	dev->seen_gen = t->resync_gen;
	/* Relations rarely change; re-file the device only when one did. */
	relinked = !same_relations(dev, rec);
	if (relinked)
		unindex_all(t, dev);
	changed = device_update_from(dev, rec);
	if (relinked)
		index_all(t, dev);
	device_free(rec);
	follow_driver(dev, dev_event_name(ev));
	/* A device-level add for a known device is a rescan, not a second
	 * appearance; an interface's add is news about that interface. */
	if (changed || ev == DEV_EVENT_MOVE) {
		ev = ev == DEV_EVENT_ADD && !detail ? DEV_EVENT_CHANGE : ev;
		log_dev_debug(dev->id, "%s%s%s (driver %s)", dev_event_name(ev), detail ? " of " : "",
			      detail ? detail : "", dev->driver ? dev->driver : "none");
		notify(t, ev, dev, detail);
	}
	return dev;
}

bool devtable_update_binding(struct devtable *t, const char *id, const char *driver,
			     const char *driver_override, enum dev_event ev)
{
	struct device *dev = devtable_get(t, id);
	bool changed;

	if (!dev)
		return false;
	driver = device_intern(driver);
	changed = dev->driver != driver;
	dev->driver = driver;
	if (bus_of(dev)->override_offset >= 0)
		changed |= str_replace((char **)((char *)dev + bus_of(dev)->override_offset),
				       driver_override);
	follow_driver(dev, dev_event_name(ev));
	if (changed) {
		log_dev_debug(dev->id, "%s (driver %s)", dev_event_name(ev),
			      dev->driver ? dev->driver : "none");
		notify(t, ev, dev, NULL);
	}
	return true;
}

static void detach(struct devtable *t, struct device *dev)
{
	struct device **pp = &t->hash[dev->id_hash & (t->n_hash - 1)];

	while (*pp != dev)
		pp = &(*pp)->hash_next;
	*pp = dev->hash_next;
	/* Swap-remove from the dense array keeps removal O(1). */
	t->dense[dev->slot] = t->dense[--t->n_dense];
	t->dense[dev->slot]->slot = dev->slot;
	t->per_bus[dev->bus]--;
	unindex_all(t, dev);
}

bool devtable_remove(struct devtable *t, const char *id)
{
	struct device *dev = devtable_get(t, id);

	if (!dev)
		return false;
	/* Reported while still indexed: the last record known, relations
	 * (its IOMMU group with itself in it) included. */
	notify_remove(t, dev);
	detach(t, dev);
	log_dev_debug(dev->id, "removed");
	device_free(dev);
	return true;
}

static int cmp_dev(const void *a, const void *b)
{
	const struct device *x = *(struct device *const *)a, *y = *(struct device *const *)b;

	if (x->bus != y->bus)
		return (int)x->bus - (int)y->bus;
	return strcmp(x->id, y->id);
}

size_t devtable_sorted(const struct devtable *t, struct device ***out)
{
	struct device **v = xcalloc(t->n_dense, sizeof(*v));

	memcpy(v, t->dense, t->n_dense * sizeof(*v));
	qsort(v, t->n_dense, sizeof(*v), cmp_dev);
	*out = v;
	return t->n_dense;
}

struct device *devtable_group_first(const struct devtable *t, int group)
{
	char buf[16];
	struct devtable_bucket *b;

	if (group < 0)
		return NULL;
	snprintf(buf, sizeof(buf), "%d", group);
	b = index_find(&t->idx[IDX_GROUP], buf);
	return b ? b->first : NULL;
}

size_t devtable_group_size(const struct devtable *t, int group)
{
	char buf[16];
	struct devtable_bucket *b;

	if (group < 0)
		return 0;
	snprintf(buf, sizeof(buf), "%d", group);
	b = index_find(&t->idx[IDX_GROUP], buf);
	return b ? b->count : 0;
}

struct device *devtable_children_first(const struct devtable *t, const char *parent_id)
{
	struct devtable_bucket *b = index_find(&t->idx[IDX_CHILD], parent_id);

	return b ? b->first : NULL;
}

struct device *devtable_vfs_first(const struct devtable *t, const char *pf_id)
{
	struct devtable_bucket *b = index_find(&t->idx[IDX_VF], pf_id);

	return b ? b->first : NULL;
}

void devtable_resync_begin(struct devtable *t)
{
	t->resync_gen++;
	t->resyncing = true;
}

void devtable_resync_abort(struct devtable *t)
{
	t->resyncing = false;
}

size_t devtable_resync_end(struct devtable *t)
{
	size_t removed = 0;

	if (!t->resyncing)
		fatal("devtable_resync_end without begin");
	t->resyncing = false;
	/* Walk backwards: removal swaps the last element into the hole. */
	for (size_t i = t->n_dense; i-- > 0;) {
		struct device *dev = t->dense[i];

		if (dev->seen_gen == t->resync_gen)
			continue;
		log_dev_info(dev->id, "gone after resync");
		notify_remove(t, dev);
		detach(t, dev);
		device_free(dev);
		removed++;
	}
	return removed;
}
