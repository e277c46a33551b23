#include "state/selector.h"
#include "common/util.h"

#include <limits.h>
#include <string.h>

/* What a selector that is not a canonical id asks for. */
struct usb_query {
	bool by_busdev;
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
static bool parse_vid_pid(const char *s, struct usb_query *q)
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

/* "BUS.DEV", after the "usb:" prefix. */
static bool parse_bus_dev(const char *s, struct usb_query *q)
{
	const char *p;

	q->by_busdev = true;
	return parse_positive(s, '.', &q->busnum, &p) && parse_positive(p + 1, '\0', &q->devnum, &p);
}

/* Runs of `n` characters satisfying `ok`, from s; returns the end or NULL. */
static const char *skip_run(const char *s, bool (*ok)(char), size_t min, size_t max)
{
	size_t n = 0;

	while (n < max && ok(s[n]))
		n++;
	return n >= min && !ok(s[n]) ? s + n : NULL;
}

/* "DDDD:BB:DD.F", copied in lower case into buf (at least 18 bytes). */
static bool pci_id_normalize(const char *s, char *buf)
{
	const char *p = skip_run(s, is_hex, 4, 8);

	if (!p || *p != ':' || !(p = skip_run(p + 1, is_hex, 2, 2)) || *p != ':' ||
	    !(p = skip_run(p + 1, is_hex, 2, 2)) || *p != '.' || p[1] < '0' || p[1] > '7' ||
	    p[2] != '\0')
		return false;
	for (size_t i = 0; s[i]; i++)
		buf[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] | 0x20 : s[i]);
	buf[p + 2 - s] = '\0';
	return true;
}

/* "B-P[.P]*" or a root hub "usbN". */
static bool usb_id_valid(const char *s)
{
	const char *p;

	if (strncmp(s, "usb", 3) == 0)
		return (p = skip_run(s + 3, is_digit, 1, 10)) && *p == '\0';
	if (!(p = skip_run(s, is_digit, 1, 10)) || *p != '-')
		return false;
	do {
		p = skip_run(p + 1, is_digit, 1, 10);
		if (!p)
			return false;
	} while (*p == '.');
	return *p == '\0';
}

static bool usb_query_matches(const struct usb_query *q, const struct device *dev)
{
	if (dev->bus != HD_BUS_USB)
		return false;
	if (q->by_busdev)
		return dev->usb.busnum == q->busnum && dev->usb.devnum == q->devnum;
	return dev->vendor == q->vendor && dev->product == q->product &&
	       (!q->serial || streq(q->serial, dev->usb.serial));
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int resolve_query(const struct devtable *t, const struct usb_query *q,
			 struct device **out, char ***matches)
{
	struct device *first = NULL;
	char **ids = NULL;
	size_t n = 0;

	for (size_t i = 0; i < devtable_count(t); i++) {
		struct device *dev = devtable_at(t, i);

		if (!usb_query_matches(q, dev))
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
	/* Every match is USB, so sorting by id is devtable_sorted()'s order. */
	qsort(ids, n, sizeof(*ids), cmp_id);
	*matches = ids;
	return SELECTOR_AMBIGUOUS;
}

static int resolve_id(const struct devtable *t, const char *sel, struct device **out)
{
	char pci[24];

	/* An id the table holds is always accepted, whatever its shape. */
	*out = devtable_get(t, sel);
	if (*out)
		return SELECTOR_FOUND;
	if (strlen(sel) < sizeof(pci) && pci_id_normalize(sel, pci)) {
		*out = devtable_get(t, pci);
		return *out ? SELECTOR_FOUND : SELECTOR_NOT_FOUND;
	}
	return usb_id_valid(sel) ? SELECTOR_NOT_FOUND : SELECTOR_INVALID;
}

int selector_resolve(const struct devtable *t, const char *sel, struct device **out,
		     char ***matches)
{
	struct usb_query q = { 0 };

	*out = NULL;
	*matches = NULL;
	if (!sel || !*sel)
		return SELECTOR_INVALID;
	if (strncmp(sel, "id:", 3) == 0)
		return parse_vid_pid(sel + 3, &q) ? resolve_query(t, &q, out, matches)
						  : SELECTOR_INVALID;
	if (strncmp(sel, "usb:", 4) == 0)
		return parse_bus_dev(sel + 4, &q) ? resolve_query(t, &q, out, matches)
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
