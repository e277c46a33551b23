/* The index of a policy's rules.
 *
 * Trying every rule costs ~3 µs at 1,000 rules, three times the SPEC's
 * budget for a whole event.  The policy is immutable, so at load each rule
 * is filed once under its most selective exact key (an address, a serial,
 * a vendor and device, ...) and a decision tries only the rules filed under
 * one of the device's keys, plus those filed under none, merged in rule
 * order: the first that matches is the linear scan's answer, as every rule
 * it skips has a key the device does not have.  policy_rule_mismatch()
 * still checks every condition of a candidate, `when` included. */
#include "policy/internal.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>

/* In order of preference: a rule is filed under the first it has. */
enum ikind {
	IX_ID,            /* address, or a USB port path: both are dev->id */
	IX_SERIAL,
	IX_VENDOR_DEVICE,
	IX_VENDOR,
	IX_DEVICE,
	IX_GROUP,
	IX_CLASS,         /* the class byte: every class rule names it */
	IX_DRIVER,
	IX_BUS,
	IX__COUNT
};

struct ix_key {
	enum ikind kind;
	uint64_t num;    /* the value, or str_hash(str) */
	const char *str; /* string kinds; NULL otherwise */
};

/* The rules filed under one key: order[first .. first + n), ascending. */
struct ix_bucket {
	struct ix_key key;
	uint32_t first, n;
	bool used;
};

struct policy_index {
	struct ix_bucket *slots; /* open addressing, at most half full */
	size_t mask;
	struct ix_bucket always; /* rules with none of the keys */
	uint32_t *order;         /* every rule number, bucket by bucket */
	unsigned kinds;          /* bit per ikind some rule is filed under */
};

/* A stretch of one bucket's rule numbers still to try. */
struct ix_run {
	const uint32_t *at, *end;
};

static bool key_num(struct ix_key *k, enum ikind kind, uint64_t num)
{
	*k = (struct ix_key){ .kind = kind, .num = num };
	return true;
}

static bool key_str(struct ix_key *k, enum ikind kind, const char *str)
{
	*k = (struct ix_key){ .kind = kind, .num = str_hash(str), .str = str };
	return true;
}

/* The class byte: a rule's class has 2, 4 or 6 digits, so its mask always
 * covers the first two. */
static uint64_t class_byte(uint32_t class_code)
{
	return class_code >> 16 & 0xff;
}

static bool rule_key(const struct rule *r, struct ix_key *k)
{
	if (has(r, K_ADDRESS) || has(r, K_PORT))
		return key_str(k, IX_ID, has(r, K_ADDRESS) ? r->address : r->port);
	if (has(r, K_SERIAL))
		return key_str(k, IX_SERIAL, r->serial);
	if (has(r, K_VENDOR) && has(r, K_DEVICE))
		return key_num(k, IX_VENDOR_DEVICE, (uint64_t)r->vendor << 32 | r->device);
	if (has(r, K_VENDOR))
		return key_num(k, IX_VENDOR, r->vendor);
	if (has(r, K_DEVICE))
		return key_num(k, IX_DEVICE, r->device);
	if (has(r, K_GROUP))
		return key_num(k, IX_GROUP, (uint32_t)r->group);
	if (has(r, K_CLASS) && r->class_mask >> 16 == 0xff)
		return key_num(k, IX_CLASS, class_byte(r->class_code));
	if (has(r, K_DRIVER))
		return key_str(k, IX_DRIVER, r->driver);
	if (has(r, K_BUS))
		return key_num(k, IX_BUS, r->bus);
	return false;
}

/* The device's key of that kind, if it has one that a matching rule could
 * be filed under: policy_rule_mismatch() fails a serial, group or class rule on the
 * other bus, and a driver rule on an unbound device. */
static bool device_key(const struct device *dev, enum ikind kind, struct ix_key *k)
{
	bool pci = dev->bus == HD_BUS_PCI;

	switch (kind) {
	case IX_ID:
		/* A record in the device table carries its id's hash already. */
		*k = (struct ix_key){ .kind = kind, .str = dev->id,
				      .num = dev->id_hash ? dev->id_hash : str_hash(dev->id) };
		return true;
	case IX_SERIAL:
		return !pci && dev->usb.serial && key_str(k, kind, dev->usb.serial);
	case IX_VENDOR_DEVICE:
		return key_num(k, kind, (uint64_t)dev->vendor << 32 | dev->product);
	case IX_VENDOR:
		return key_num(k, kind, dev->vendor);
	case IX_DEVICE:
		return key_num(k, kind, dev->product);
	case IX_GROUP:
		return pci && key_num(k, kind, (uint32_t)dev->pci.iommu_group);
	case IX_CLASS:
		return pci && key_num(k, kind, class_byte(dev->pci.class_code));
	case IX_DRIVER:
		return dev->driver && key_str(k, kind, dev->driver);
	default:
		return key_num(k, kind, dev->bus);
	}
}

static size_t key_slot(const struct ix_key *k, size_t mask)
{
	uint64_t h = k->num ^ ((uint64_t)k->kind + 1) * 0x9e3779b97f4a7c15u;

	h ^= h >> 31; /* the low bits index the table: fold the high ones in */
	h *= 0xbf58476d1ce4e5b9u;
	return (size_t)(h ^ h >> 29) & mask;
}

static bool key_eq(const struct ix_key *a, const struct ix_key *b)
{
	return a->kind == b->kind && a->num == b->num && streq(a->str, b->str);
}

/* The bucket for k; a new one when add, else NULL when there is none. */
static struct ix_bucket *ix_bucket(const struct policy_index *ix, const struct ix_key *k, bool add)
{
	for (size_t h = key_slot(k, ix->mask);; h = (h + 1) & ix->mask) {
		struct ix_bucket *b = &ix->slots[h];

		if (!b->used) {
			if (!add)
				return NULL;
			*b = (struct ix_bucket){ .key = *k, .used = true };
			return b;
		}
		if (key_eq(&b->key, k))
			return b;
	}
}

/* Lays the buckets out one after the other in order[]: counted first, then
 * filled in rule order, so each bucket's numbers ascend. */
static void index_layout(struct policy_index *ix, struct ix_bucket **filed, size_t n_rules)
{
	uint32_t at = 0;

	for (size_t h = 0; h <= ix->mask; h++)
		if (ix->slots[h].used) {
			ix->slots[h].first = at;
			at += ix->slots[h].n;
			ix->slots[h].n = 0;
		}
	ix->always.first = at;
	ix->always.n = 0;
	ix->order = xcalloc(n_rules ? n_rules : 1, sizeof(*ix->order));
	for (size_t i = 0; i < n_rules; i++)
		ix->order[filed[i]->first + filed[i]->n++] = (uint32_t)i;
}

void policy_index_build(struct policy *p)
{
	struct policy_index *ix = xcalloc(1, sizeof(*ix));
	_cleanup_free_ struct ix_bucket **filed = xcalloc(p->n_rules ? p->n_rules : 1,
							   sizeof(*filed));
	size_t n_slots = 16;
	struct ix_key k;

	if (p->n_rules > UINT32_MAX / 2)
		fatal("policy: %zu rules is more than the index can hold", p->n_rules);
	while (n_slots < 2 * p->n_rules)
		n_slots *= 2;
	ix->slots = xcalloc(n_slots, sizeof(*ix->slots));
	ix->mask = n_slots - 1;
	for (size_t i = 0; i < p->n_rules; i++) {
		bool keyed = rule_key(&p->rules[i], &k);

		filed[i] = keyed ? ix_bucket(ix, &k, true) : &ix->always;
		filed[i]->n++;
		if (keyed)
			ix->kinds |= 1u << k.kind;
	}
	index_layout(ix, filed, p->n_rules);
	p->index = ix;
}

void policy_index_free(struct policy_index *ix)
{
	if (!ix)
		return;
	free(ix->slots);
	free(ix->order);
	free(ix);
}

/* The runs of the buckets the device's keys name, and of `always`. */
static size_t index_runs(const struct policy_index *ix, const struct device *dev,
			 struct ix_run *runs)
{
	const struct ix_bucket *b;
	struct ix_key k;
	size_t n = 0;

	for (int kind = 0; kind < IX__COUNT; kind++)
		if ((ix->kinds & 1u << kind) && device_key(dev, (enum ikind)kind, &k) &&
		    (b = ix_bucket(ix, &k, false)))
			runs[n++] = (struct ix_run){ ix->order + b->first, ix->order + b->first + b->n };
	if (ix->always.n)
		runs[n++] = (struct ix_run){ ix->order + ix->always.first,
					     ix->order + ix->always.first + ix->always.n };
	return n;
}

/* The lowest-numbered candidate that matches, or -1: the runs are merged
 * by always trying the smallest head next. */
static int index_first_match(const struct policy *p, const struct device *dev,
			     enum policy_moment when, struct ix_run *runs, size_t n)
{
	while (n) {
		size_t low = 0;
		uint32_t i;

		for (size_t j = 1; j < n; j++)
			if (*runs[j].at < *runs[low].at)
				low = j;
		i = *runs[low].at++;
		if (runs[low].at == runs[low].end)
			runs[low] = runs[--n];
		if (!policy_rule_mismatch(&p->rules[i], dev, when, NULL, 0))
			return (int)i;
	}
	return -1;
}

int policy_index_first(const struct policy *p, const struct device *dev, enum policy_moment when)
{
	struct ix_run runs[IX__COUNT + 1];

	return index_first_match(p, dev, when, runs, index_runs(p->index, dev, runs));
}
