/* The index of a policy's rules.
 *
 * Trying every rule costs ~3 µs at 1,000 rules, three times the SPEC's
 * budget for a whole event.  The policy is immutable, so at load each rule
 * is filed once under its most selective exact key (an address, a serial,
 * a vendor and device, ...) and a decision tries only the rules filed under
 * one of the device's keys, plus those filed under none, merged in rule
 * order: the first that matches is the linear scan's answer, as every rule
 * it skips has a key the device does not have.  policy_rule_matches()
 * still checks every condition of a candidate, `when` included. */
#include "policy/internal.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>

/* Distinct sets of keys rules are filed under (vendor, vendor and device,
 * ...): each costs a decision one lookup.  The table's ranks make a dozen
 * at most; a rule whose set would be one too many is tried by every
 * decision instead, which is slower but as right. */
#define IX_KINDS_MAX 32

/* A bucket's name: the keys it is for (match_key_bit() of each) and their
 * values folded into one number.  Only the number is compared, not the
 * strings behind a hash: two values that collide share a bucket, and the
 * full match of every candidate turns the wrong ones away. */
struct ix_key {
	unsigned keys;
	uint64_t num;
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
	unsigned kinds[IX_KINDS_MAX]; /* the sets of keys some rule is filed under */
	size_t n_kinds;
};

/* A stretch of one bucket's rule numbers still to try. */
struct ix_run {
	const uint32_t *at, *end;
};

/* Keeps vendor 10de with device 1c82 apart from vendor 1c82 with device
 * 10de; one value alone is itself. */
static uint64_t fold(uint64_t h, uint64_t num)
{
	return (h << 21 | h >> 43) ^ num;
}

/* The rule's keys of the best rank it has, together: a rule naming vendor
 * and device is filed under the pair, not under the vendor's many
 * devices.  Its conditions are in table order, as device_key() folds. */
static bool rule_key(const struct policy *p, const struct rule *r, struct ix_key *k)
{
	const struct condition *c = rule_conditions(p, r);
	enum key_rank best = KEY_UNINDEXED;
	uint64_t num;

	*k = (struct ix_key){ 0 };
	for (size_t i = 0; i < r->n_conds; i++) {
		const struct match_key *mk = c[i].key;

		if (mk->rank == KEY_UNINDEXED || (best && mk->rank > best) ||
		    !match_key_want_index(mk, &c[i].want, &num))
			continue;
		if (mk->rank != best)
			*k = (struct ix_key){ 0 };
		best = mk->rank;
		k->keys |= match_key_bit(mk);
		k->num = fold(k->num, num);
	}
	return best != KEY_UNINDEXED;
}

/* The device's values for a set of keys, if it has them all: a device on
 * another bus than a key's, or without a value (an unbound driver), cannot
 * match a rule filed under that key. */
static bool device_key(const struct device *dev, unsigned keys, struct ix_key *k)
{
	uint64_t num;

	*k = (struct ix_key){ .keys = keys };
	for (unsigned bits = keys; bits; bits &= bits - 1) {
		const struct match_key *mk = &match_keys[__builtin_ctz(bits)];

		if (!match_key_applies(mk, dev) || !match_key_dev_index(mk, dev, &num))
			return false;
		k->num = fold(k->num, num);
	}
	return true;
}

static size_t key_slot(const struct ix_key *k, size_t mask)
{
	uint64_t h = k->num ^ ((uint64_t)k->keys + 1) * 0x9e3779b97f4a7c15u;

	h ^= h >> 31; /* the low bits index the table: fold the high ones in */
	h *= 0xbf58476d1ce4e5b9u;
	return (size_t)(h ^ h >> 29) & mask;
}

static bool key_eq(const struct ix_key *a, const struct ix_key *b)
{
	return a->keys == b->keys && a->num == b->num;
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

/* Whether a rule may be filed under that set of keys: a set not seen
 * before is taken while there is room. */
static bool kind_taken(struct policy_index *ix, unsigned keys)
{
	for (size_t i = 0; i < ix->n_kinds; i++)
		if (ix->kinds[i] == keys)
			return true;
	if (ix->n_kinds == IX_KINDS_MAX)
		return false;
	ix->kinds[ix->n_kinds++] = keys;
	return true;
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
		bool keyed = rule_key(p, &p->rules[i], &k) && kind_taken(ix, k.keys);

		filed[i] = keyed ? ix_bucket(ix, &k, true) : &ix->always;
		filed[i]->n++;
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

	for (size_t i = 0; i < ix->n_kinds; i++)
		if (device_key(dev, ix->kinds[i], &k) && (b = ix_bucket(ix, &k, false)))
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
		if (policy_rule_matches(p, i, dev, when))
			return (int)i;
	}
	return -1;
}

int policy_index_first(const struct policy *p, const struct device *dev, enum policy_moment when)
{
	struct ix_run runs[IX_KINDS_MAX + 1];

	return index_first_match(p, dev, when, runs, index_runs(p->index, dev, runs));
}
