#include "state/claims.h"
#include "common/log.h"
#include "common/util.h"
#include "state/bus.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A sorted array: claims are few (one per passed-through device) and
 * ListClaims wants them in order. */
struct claims {
	struct claim_entry **v;
	size_t n, cap;
};

static const char *const phase_names[CLAIM_PHASE__COUNT] = {
	[CLAIM_RESERVED] = "reserved",
	[CLAIM_HELD] = "held",
	[CLAIM_RELEASING] = "releasing",
};

/* reserved -> held once acknowledged, and back when the acknowledgement
 * could not be saved (the claim is then rolled back); held -> releasing
 * while a Release hands it back, and back for the devices a failed
 * release did not reach.  Entries are created reserved (or held, when
 * restored) and leave the table from any phase. */
#define BIT(p) (1u << (p))
static const unsigned phase_allowed[CLAIM_PHASE__COUNT] = {
	[CLAIM_RESERVED] = BIT(CLAIM_HELD),
	[CLAIM_HELD] = BIT(CLAIM_RESERVED) | BIT(CLAIM_RELEASING),
	[CLAIM_RELEASING] = BIT(CLAIM_HELD),
};

const char *claim_phase_name(enum claim_phase phase)
{
	return phase < CLAIM_PHASE__COUNT ? phase_names[phase] : "invalid";
}

int claim_phase_from_name(const char *name)
{
	return name_index(phase_names, CLAIM_PHASE__COUNT, name);
}

void claim_set_phase(struct claim_entry *e, enum claim_phase to, const char *why)
{
	enum claim_phase from = e->phase;

	if (from == to)
		return;
	if (from >= CLAIM_PHASE__COUNT || to >= CLAIM_PHASE__COUNT ||
	    !(phase_allowed[from] & BIT(to)))
		fatal("%s: claim of %s/%s cannot go %s -> %s (%s)", e->device, e->driver, e->domain,
		      claim_phase_name(from), claim_phase_name(to), why);
	e->phase = to;
	log_dev_debug(e->device, "claim of %s/%s: %s -> %s (%s)", e->driver, e->domain,
		      claim_phase_name(from), claim_phase_name(to), why);
}

struct claims *claims_new(void)
{
	return xcalloc(1, sizeof(struct claims));
}

static void entry_free(struct claim_entry *e)
{
	free(e->device);
	free(e->driver);
	free(e->domain);
	free(e->uuid);
	free(e->serial);
	free(e->stub);
	for (size_t i = 0; i < e->n_unbound; i++) {
		free(e->unbound[i].iface);
		free(e->unbound[i].driver);
	}
	free(e->unbound);
	claim_nodes_clear(e);
	free(e->node_owner);
	free(e);
}

void claims_free(struct claims *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		entry_free(c->v[i]);
	free(c->v);
	free(c);
}

size_t claims_count(const struct claims *c)
{
	return c->n;
}

struct claim_entry *claims_at(const struct claims *c, size_t i)
{
	return i < c->n ? c->v[i] : NULL;
}

/* The slot where `device` is or would go. */
static size_t slot_of(const struct claims *c, const char *device, bool *found)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(c->v[mid]->device, device);

		if (cmp == 0) {
			*found = true;
			return mid;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

struct claim_entry *claims_find(const struct claims *c, const char *device)
{
	bool found;
	size_t i = slot_of(c, device, &found);

	return found ? c->v[i] : NULL;
}

struct claim_entry *claims_reserve(struct claims *c, const char *device,
				   const struct claim_owner *owner, bool managed,
				   const struct claim_cred *cred)
{
	bool found;
	size_t i = slot_of(c, device, &found);
	struct claim_entry *e;

	if (found)
		fatal("%s: reserved twice", device);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	e = xcalloc(1, sizeof(*e));
	e->device = xstrdup(device);
	e->driver = xstrdup(owner->driver);
	e->domain = xstrdup(owner->domain);
	e->uuid = xstrdup(owner->uuid);
	e->managed = managed;
	e->phase = CLAIM_RESERVED;
	e->cred = *cred;
	memmove(&c->v[i + 1], &c->v[i], (c->n - i) * sizeof(*c->v));
	c->v[i] = e;
	c->n++;
	return e;
}

bool claims_remove(struct claims *c, const char *device)
{
	bool found;
	size_t i = slot_of(c, device, &found);

	if (!found)
		return false;
	entry_free(c->v[i]);
	memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(*c->v));
	c->n--;
	return true;
}

struct claim_node *claim_node_find(const struct claim_entry *e, const char *name)
{
	for (size_t i = 0; i < e->n_nodes; i++)
		if (streq(e->nodes[i].name, name))
			return &e->nodes[i];
	return NULL;
}

struct claim_node *claim_node_add(struct claim_entry *e, const struct claim_node *n)
{
	struct claim_node *slot = claim_node_find(e, n->name);

	if (slot) {
		free(slot->name);
	} else {
		e->nodes = xrealloc(e->nodes, (e->n_nodes + 1) * sizeof(*e->nodes));
		slot = &e->nodes[e->n_nodes++];
	}
	*slot = *n;
	slot->name = xstrdup(n->name);
	return slot;
}

void claim_node_remove(struct claim_entry *e, const char *name)
{
	struct claim_node *n = claim_node_find(e, name);

	if (!n)
		return;
	free(n->name);
	*n = e->nodes[--e->n_nodes];
}

void claim_nodes_clear(struct claim_entry *e)
{
	for (size_t i = 0; i < e->n_nodes; i++)
		free(e->nodes[i].name);
	free(e->nodes);
	e->nodes = NULL;
	e->n_nodes = 0;
}

const struct claim_entry *claims_node_holder(const struct claims *c, const char *name,
					     const struct claim_entry *except,
					     bool (*skip)(const struct claim_entry *e, void *ctx),
					     void *ctx)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct claim_entry *e = c->v[i];

		if (e == except || (skip && skip(e, ctx)))
			continue;
		if (claim_node_find(e, name))
			return e;
	}
	return NULL;
}

/* The uuid tells two incarnations of a domain apart only when both sides
 * give one. */
bool claim_owned_by(const struct claim_entry *e, const struct claim_owner *owner)
{
	if (!streq(e->driver, owner->driver) || !streq(e->domain, owner->domain))
		return false;
	return !e->uuid || !owner->uuid || streq(e->uuid, owner->uuid);
}

const char *claim_in_use_message(const struct claim_entry *e, char *buf, size_t size)
{
	snprintf(buf, size, "%s is in use by driver %s, domain %s", e->device, e->driver,
		 e->domain);
	return buf;
}

static bool in_request(char *const *request, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (streq(request[i], id))
			return true;
	return false;
}

/* A member that cannot reach a guest's DMA: nothing to fear from it. */
static bool member_harmless(const struct device *m)
{
	return device_is_bridge(m) || !m->driver || driver_is_stub(m->driver);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum claim_group_verdict claims_check_group(const struct claims *c, const struct devtable *t,
					    const struct device *dev,
					    const struct claim_owner *owner,
					    char *const *request, size_t n,
					    const struct claim_entry **holder, char ***members)
{
	int group = device_iommu_group(dev);
	size_t size, bad = 0;
	char **out;

	*holder = NULL;
	*members = NULL;
	if (group == HD_NO_GROUP)
		return CLAIM_GROUP_VIABLE;
	size = devtable_group_size(t, group);
	out = xcalloc(size + 1, sizeof(*out));
	for (struct device *m = devtable_group_first(t, group); m; m = m->group_next) {
		const struct claim_entry *e = claims_find(c, m->id);

		if (m == dev || in_request(request, n, m->id))
			continue;
		if (e && !claim_owned_by(e, owner)) {
			*holder = e;
			claims_members_free(out);
			return CLAIM_GROUP_IN_USE;
		}
		if (!e && !member_harmless(m))
			out[bad++] = xstrdup(m->id);
	}
	if (!bad) {
		free(out);
		return CLAIM_GROUP_VIABLE;
	}
	qsort(out, bad, sizeof(*out), cmp_str);
	*members = out;
	return CLAIM_GROUP_NOT_VIABLE;
}

void claims_members_free(char **members)
{
	if (!members)
		return;
	for (char **m = members; *m; m++)
		free(*m);
	free(members);
}

/* ---- owner strings ------------------------------------------------------ */

/* C0, DEL and C1 controls, and the two Unicode line breaks: what could end
 * or forge a line in a log, a terminal or hostdevctl's tables. */
static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029;
}

static bool domain_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > CLAIM_DOMAIN_MAX)
		return false;
	for (size_t i = 0; i < n;) {
		size_t len = utf8_char_len(s + i, n - i);

		if (!len || is_control(utf8_decode(s + i, len)))
			return false;
		i += len;
	}
	return true;
}

static bool driver_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > CLAIM_DRIVER_MAX)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* 8-4-4-4-12 hex digits, either case. */
static bool uuid_valid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

const char *claim_owner_invalid(const struct claim_owner *owner)
{
	if (!driver_valid(owner->driver))
		return "driver";
	if (!domain_valid(owner->domain))
		return "domain";
	if (owner->uuid && !uuid_valid(owner->uuid))
		return "uuid";
	return NULL;
}

const struct claim_entry *claims_owner_other_uid(const struct claims *c,
						 const struct claim_owner *owner, uid_t uid)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct claim_entry *e = c->v[i];

		if (e->cred.uid != uid && streq(e->driver, owner->driver) &&
		    streq(e->domain, owner->domain))
			return e;
	}
	return NULL;
}
