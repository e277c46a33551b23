#include "state/selector.h"
#include "state/bus.h"
#include "common/util.h"

#include <limits.h>
#include <string.h>

/* What a selector that is not a canonical id asks for. */
struct query {
	const struct bus_desc *at_bus; /* "<bus>:BUS.DEV": that bus's address */
	uint32_t vendor, product;
	const char *serial; /* NULL: any serial */
	int busnum, devnum;
};

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static unsigned hex_value(char c)
{
	if (c <= '9')
		return (unsigned)(c - '0');
	return (unsigned)((c | 0x20) - 'a' + 10);
}

/* Exactly four hex digits at s. */
static bool parse_hex4(const char *s, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		if (!is_hex(s[i]))
			return false;
		v = v << 4 | hex_value(s[i]);
	}
	*out = v;
	return true;
}

/* A positive decimal number without sign or spaces, ending at `end`. */
static bool parse_positive(const char *s, char end, int *out, const char **next)
{
	long v = 0;
	const char *p = s;

	for (; is_digit(*p); p++) {
		v = v * 10 + (*p - '0');
		if (v > INT_MAX)
			return false;
	}
	if (p == s || *p != end || v == 0)
		return false;
	*out = (int)v;
	*next = p;
	return true;
}

/* "VVVV:PPPP" or "VVVV:PPPP:SERIAL", after the "id:" prefix. */
static bool parse_vid_pid(const char *s, struct query *q)
{
	if (!parse_hex4(s, &q->vendor) || s[4] != ':' || !parse_hex4(s + 5, &q->product))
		return false;
	if (s[9] == '\0')
		return true;
	if (s[9] != ':' || s[10] == '\0')
		return false;
	q->serial = s + 10;
	return true;
}

/* "BUS.DEV", after a "<bus>:" prefix. */
static bool parse_bus_dev(const char *s, struct query *q)
{
	const char *p;

	return parse_positive(s, '.', &q->busnum, &p) && parse_positive(p + 1, '\0', &q->devnum, &p);
}

/* An address selects on its bus; ids (and a serial) on the buses whose
 * devices are named that way. */
static bool query_matches(const struct query *q, const struct device *dev)
{
	const struct bus_desc *b = bus_of(dev);

	if (q->at_bus)
		return b == q->at_bus && b->at_address(dev, q->busnum, q->devnum);
	return b->selected_by_ids && dev->vendor == q->vendor && dev->product == q->product &&
	       (!q->serial || streq(q->serial, device_serial(dev)));
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int resolve_query(const struct devtable *t, const struct query *q,
			 struct device **out, char ***matches)
{
	struct device *first = NULL;
	char **ids = NULL;
	size_t n = 0;

	for (size_t i = 0; i < devtable_count(t); i++) {
		struct device *dev = devtable_at(t, i);

		if (!query_matches(q, dev))
			continue;
		if (n++ == 0) {
			first = dev;
			continue;
		}
		/* n devices matched so far; keep room for the NULL. */
		ids = xrealloc(ids, (n + 1) * sizeof(*ids));
		if (n == 2)
			ids[0] = xstrdup(first->id);
		ids[n - 1] = xstrdup(dev->id);
		ids[n] = NULL;
	}
	if (n == 0)
		return SELECTOR_NOT_FOUND;
	if (n == 1) {
		*out = first;
		return SELECTOR_FOUND;
	}
	/* Every match is on one bus, so sorting by id is devtable_sorted()'s
	 * order. */
	qsort(ids, n, sizeof(*ids), cmp_id);
	*matches = ids;
	return SELECTOR_AMBIGUOUS;
}

/* An id the table holds is always accepted, whatever its shape; one
 * written as a bus's canonical id (in any case) is looked up in its
 * canonical form. */
static int resolve_id(const struct devtable *t, const char *sel, struct device **out)
{
	char canonical[64];

	*out = devtable_get(t, sel);
	if (*out)
		return SELECTOR_FOUND;
	for (int bus = 0; bus < HD_BUS__COUNT; bus++)
		if (bus_desc((enum hd_bus)bus)->canonical_id(sel, canonical, sizeof(canonical))) {
			*out = devtable_get(t, canonical);
			return *out ? SELECTOR_FOUND : SELECTOR_NOT_FOUND;
		}
	return SELECTOR_INVALID;
}

/* "<bus>:" for a bus whose devices have addresses. */
static const struct bus_desc *address_prefix(const char *sel, const char **rest)
{
	for (int bus = 0; bus < HD_BUS__COUNT; bus++) {
		const struct bus_desc *b = bus_desc((enum hd_bus)bus);
		size_t n = strlen(b->name);

		if (b->at_address && strncmp(sel, b->name, n) == 0 && sel[n] == ':') {
			*rest = sel + n + 1;
			return b;
		}
	}
	return NULL;
}

int selector_resolve(const struct devtable *t, const char *sel, struct device **out,
		     char ***matches)
{
	struct query q = { 0 };
	const char *rest;

	*out = NULL;
	*matches = NULL;
	if (!sel || !*sel)
		return SELECTOR_INVALID;
	if (strncmp(sel, "id:", 3) == 0)
		return parse_vid_pid(sel + 3, &q) ? resolve_query(t, &q, out, matches)
						  : SELECTOR_INVALID;
	if ((q.at_bus = address_prefix(sel, &rest)))
		return parse_bus_dev(rest, &q) ? resolve_query(t, &q, out, matches)
					       : SELECTOR_INVALID;
	return resolve_id(t, sel, out);
}

void selector_matches_free(char **matches)
{
	if (!matches)
		return;
	for (char **p = matches; *p; p++)
		free(*p);
	free(matches);
}
