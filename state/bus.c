#include "state/bus.h"
#include "common/jsonbuf.h"
#include "common/log.h"
#include "common/util.h"

#include <string.h>

/* Defined by the bus files. */
extern const struct bus_desc bus_pci, bus_usb;

/* Adding a bus: its file, its enum hd_bus value, and a line here. */
const struct bus_desc *const bus_table[HD_BUS__COUNT] = {
	[HD_BUS_PCI] = &bus_pci,
	[HD_BUS_USB] = &bus_usb,
};

const struct bus_desc *bus_desc(enum hd_bus bus)
{
	if (bus >= HD_BUS__COUNT)
		fatal("bus %d is not one of ours", (int)bus);
	return bus_table[bus];
}

const struct bus_desc *bus_by_subsystem(const char *subsystem, enum hd_bus *bus)
{
	for (int i = 0; i < HD_BUS__COUNT; i++)
		if (streq(bus_table[i]->subsystem, subsystem)) {
			if (bus)
				*bus = (enum hd_bus)i;
			return bus_table[i];
		}
	return NULL;
}

const char *hd_bus_name(enum hd_bus bus)
{
	return bus < HD_BUS__COUNT ? bus_table[bus]->name : "invalid";
}

int hd_bus_from_name(const char *name)
{
	for (int i = 0; name && i < HD_BUS__COUNT; i++)
		if (streq(bus_table[i]->name, name))
			return i;
	return -1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Lists are short (a group, a hub's ports), so they are gathered on the
 * stack unless they are not. */
void bus_json_sorted_ids(struct jsonbuf *b, const struct device *first, bus_next_fn next)
{
	const char *stack[32] = { 0 }; /* zeroed: gcc -O2 cannot see n bounds the reads */
	const char **ids = stack;
	size_t n = 0, cap = ARRAY_SIZE(stack);

	for (const struct device *d = first; d; d = next(d)) {
		if (n == cap) {
			cap *= 2;
			ids = ids == stack ? memcpy(xcalloc(cap, sizeof(*ids)), stack, sizeof(stack))
					   : xrealloc(ids, cap * sizeof(*ids));
		}
		ids[n++] = d->id;
	}
	if (n > 1)
		qsort(ids, n, sizeof(*ids), cmp_str);
	jsonbuf_strings(b, ids, n);
	if (ids != stack)
		free(ids);
}

void bus_json_words(struct jsonbuf *b, char *const *words)
{
	size_t n = 0;

	while (words && words[n])
		n++;
	jsonbuf_strings(b, (const char *const *)words, n);
}
