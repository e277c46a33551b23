#include "client/format.h"
#include "client/format-bus.h"
#include "common/errors.h"
#include "common/errtext.h"
#include "common/jsonget.h"
#include "common/util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

/* ---- typed access to untrusted replies (common/jsonget.h) ---- */
/* These and the line writers below are lent to the buses' rows
 * (client/format-bus.h). */
const char *get_yes_no(json_object *obj, const char *key)
{
	json_object *v = json_get_typed(obj, key, json_type_boolean);

	if (!v)
		return NONE;
	return json_object_get_boolean(v) ? "yes" : "no";
}

char *sanitized(const char *s)
{
	return text_sanitized(s, NONE);
}

const char *or_none(const char *s)
{
	return s ? s : NONE;
}

void put_field(FILE *out, const char *key, const char *value)
{
	_cleanup_free_ char *clean = sanitized(value);

	fprintf(out, "%-17s %s\n", key, clean);
}

void put_int_field(FILE *out, json_object *obj, const char *key, const char *label)
{
	int64_t v;

	if (json_get_int(obj, key, &v))
		fprintf(out, "%-17s %" PRId64 "\n", label, v);
	else
		put_field(out, label, NONE);
}

static char *join_strings(json_object *array)
{
	return json_join_strings(array, NONE);
}

/* ---- the buses (client/format-bus.h) ---- */

/* The first bus whose object the device carries; a Device carries one. */
static const struct format_bus *device_bus(json_object *device, json_object **info)
{
	for (const struct format_bus *const *b = format_buses; *b; b++)
		if ((*info = json_get_obj(device, (*b)->key)))
			return *b;
	return NULL;
}

/* The bus whose ids look like id: a ClaimEntry carries no bus. */
static const struct format_bus *bus_of_id(const char *id)
{
	for (const struct format_bus *const *b = format_buses; id && *b; b++)
		if ((*b)->is_id(id))
			return *b;
	return NULL;
}

const char *format_device_description(json_object *device)
{
	for (const struct format_bus *const *b = format_buses; *b; b++) {
		json_object *info = json_get_obj(device, (*b)->key);
		const char *s = info ? (*b)->describe(info) : NULL;

		if (s)
			return s;
	}
	return NONE;
}

/* The model's name: the database's (protocol's product_name), which lsusb
 * prefers to the device's own string too, else the description. */
static const char *device_model(json_object *device)
{
	const char *model = json_get_str(device, "product_name");

	return model && *model ? model : format_device_description(device);
}

char *format_device_name(json_object *device)
{
	const char *vendor = json_get_str(device, "vendor_name");

	if (vendor && *vendor)
		return xasprintf("%s %s", vendor, device_model(device));
	return xstrdup(device_model(device));
}

/* ---- the device table ---- */

enum { COL_ID, COL_BUS, COL_IDS, COL_CLASS, COL_DRIVER, COL_GROUP, COL_STATE, COL_NAME, NCOLS };

static const char *const column_titles[NCOLS] = {
	"ID", "BUS", "VENDOR:PRODUCT", "CLASS", "DRIVER", "GROUP", "STATE", "NAME",
};

/* Terminal columns taken by a UTF-8 string: one per code point is right for
 * the Latin text devices report, and never splits a character. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* Cuts s in place to at most width columns, marking the cut with "...". */
static void text_truncate(char *s, size_t width)
{
	size_t w = 0, keep = width > 3 ? width - 3 : width;
	char *p = s, *cut = NULL;

	if (text_width(s) <= width)
		return;
	for (; *p; p++) {
		if (((unsigned char)*p & 0xc0) == 0x80)
			continue;
		if (w == keep) {
			cut = p;
			break;
		}
		w++;
	}
	if (!cut)
		return;
	strcpy(cut, width > 3 ? "..." : "");
}

/* "claimed (drifted)": claimed, but the kernel has it on a host driver. */
static const char *device_state_text(json_object *dev)
{
	json_object *drifted = json_get_typed(dev, "drifted", json_type_boolean);

	if (drifted && json_object_get_boolean(drifted))
		return "claimed (drifted)";
	return json_get_str(dev, "state");
}

/* cells, then the name without its vendor: what the table falls back to
 * when the whole name does not fit the terminal. */
static void device_row(json_object *dev, char *cells[NCOLS], char **model)
{
	json_object *info = NULL;
	const struct format_bus *bus = device_bus(dev, &info);
	const char *vendor = json_get_str(dev, "vendor"), *product = json_get_str(dev, "product");
	const char *cls = bus ? json_get_str(info, bus->class_member) : NULL;
	_cleanup_free_ char *name = format_device_name(dev);
	int64_t group;

	cells[COL_ID] = sanitized(json_get_str(dev, "id"));
	cells[COL_BUS] = sanitized(json_get_str(dev, "bus"));
	cells[COL_IDS] = xasprintf("%s:%s", vendor ? vendor : "????", product ? product : "????");
	cells[COL_CLASS] = sanitized(cls);
	cells[COL_DRIVER] = sanitized(json_get_str(dev, "driver"));
	cells[COL_GROUP] = bus && bus->group_member && json_get_int(info, bus->group_member, &group)
				   ? xasprintf("%" PRId64, group)
				   : xstrdup(NONE);
	cells[COL_STATE] = sanitized(device_state_text(dev));
	cells[COL_NAME] = sanitized(name);
	*model = sanitized(device_model(dev));
}

struct table {
	size_t ncols;
	const char *const *titles;
};

static void print_row(FILE *out, const struct table *t, const char *const *cells,
		      const size_t *widths)
{
	for (size_t c = 0; c + 1 < t->ncols; c++) {
		size_t pad = widths[c] - text_width(cells[c]);

		fprintf(out, "%s%*s  ", cells[c], (int)pad, "");
	}
	fprintf(out, "%s\n", cells[t->ncols - 1]);
}

static void column_widths(const struct table *t, char **cells, size_t nrows, size_t *widths)
{
	for (size_t c = 0; c < t->ncols; c++)
		widths[c] = strlen(t->titles[c]);
	for (size_t r = 0; r < nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t w = text_width(cells[r * t->ncols + c]);

			if (w > widths[c])
				widths[c] = w;
		}
}

/* Prints the titles and nrows rows of cells, and frees the cells. */
static void print_table(FILE *out, const struct table *t, char **cells, size_t nrows,
			size_t *widths)
{
	print_row(out, t, t->titles, widths);
	for (size_t r = 0; r < nrows; r++)
		print_row(out, t, (const char *const *)&cells[r * t->ncols], widths);
	for (size_t i = 0; i < nrows * t->ncols; i++)
		free(cells[i]);
	free(cells);
}

static size_t array_rows(json_object *array)
{
	return array && json_object_is_type(array, json_type_array)
		       ? json_object_array_length(array)
		       : 0;
}

/* The last column gets what the others leave of the terminal, but never so
 * little that the names become useless; then the line wraps instead.  A
 * name that does not fit loses its vendor first (models[r]), then its
 * end. */
static void fit_last_column(char **cells, char **models, size_t nrows, size_t widths[NCOLS],
			    int max_width)
{
	size_t used = 0, room;

	if (max_width <= 0)
		return;
	for (int c = 0; c < NCOLS - 1; c++)
		used += widths[c] + 2;
	room = (size_t)max_width > used ? (size_t)max_width - used : 0;
	if (room < 12)
		room = 12;
	for (size_t r = 0; r < nrows; r++) {
		char **name = &cells[r * NCOLS + NCOLS - 1];

		if (text_width(*name) > room) {
			free(*name);
			*name = steal_ptr(models[r]);
		}
		text_truncate(*name, room);
	}
}

void format_device_table(FILE *out, json_object *devices, int max_width)
{
	static const struct table t = { NCOLS, column_titles };
	size_t nrows = array_rows(devices);
	char **cells = xcalloc(nrows ? nrows * NCOLS : 1, sizeof(char *));
	char **models = xcalloc(nrows ? nrows : 1, sizeof(char *));
	size_t widths[NCOLS];

	for (size_t r = 0; r < nrows; r++)
		device_row(json_object_array_get_idx(devices, r), &cells[r * NCOLS], &models[r]);
	column_widths(&t, cells, nrows, widths);
	fit_last_column(cells, models, nrows, widths, max_width);
	for (size_t r = 0; r < nrows; r++)
		free(models[r]);
	free(models);
	print_table(out, &t, cells, nrows, widths);
}

/* ---- one device in full ---- */

void put_list(FILE *out, const char *label, json_object *array)
{
	_cleanup_free_ char *joined = join_strings(array);

	put_field(out, label, joined);
}

void show_hex_pair(FILE *out, const char *label, json_object *obj, const char *a,
		   const char *b)
{
	const char *x = json_get_str(obj, a), *y = json_get_str(obj, b);
	_cleanup_free_ char *pair = xasprintf("%s:%s", x ? x : "????", y ? y : "????");

	put_field(out, label, pair);
}

/* "DRIVER/DOMAIN", the form --owner takes, so that a line can be pasted
 * back into a command. */
static char *owner_text(json_object *owner)
{
	_cleanup_free_ char *raw = xasprintf("%s/%s", or_none(json_get_str(owner, "driver")),
					     or_none(json_get_str(owner, "domain")));

	return sanitized(raw);
}

void format_device_show(FILE *out, json_object *device)
{
	_cleanup_free_ char *name = format_device_name(device);

	put_field(out, "id:", json_get_str(device, "id"));
	put_field(out, "bus:", json_get_str(device, "bus"));
	put_field(out, "name:", name);
	put_field(out, "state:", device_state_text(device));
	show_hex_pair(out, "vendor:product:", device, "vendor", "product");
	/* udev's hardware database (pci.ids, usb.ids); a USB device's own
	 * strings are its section's manufacturer and product. */
	put_field(out, "vendor name:", json_get_str(device, "vendor_name"));
	put_field(out, "model name:", json_get_str(device, "product_name"));
	put_field(out, "driver:", json_get_str(device, "driver"));
	/* Only while detached: the driver Reattach will bring back. */
	if (json_get_str(device, "original_driver"))
		put_field(out, "original driver:", json_get_str(device, "original_driver"));
	/* GetDevice's: where a Detach naming no driver would put it. */
	if (json_get_str(device, "vfio_variant")) {
		_cleanup_free_ char *v =
			xasprintf("%s (modules.alias)", json_get_str(device, "vfio_variant"));

		put_field(out, "vfio variant:", v);
	}
	if (json_get_obj(device, "claim")) {
		_cleanup_free_ char *owner = owner_text(json_get_obj(device, "claim"));

		put_field(out, "claimed by:", owner);
	}
	put_field(out, "syspath:", json_get_str(device, "syspath"));
	put_field(out, "parent:", json_get_str(device, "parent"));
	put_list(out, "children:", json_get_array(device, "children"));
	put_int_field(out, device, "numa_node", "numa node:");
	for (const struct format_bus *const *b = format_buses; *b; b++) {
		json_object *info = json_get_obj(device, (*b)->key);

		if (info)
			(*b)->show(out, info);
	}
}

/* ---- watch, status, JSON ---- */

/* The driver an event is about: the part's (a USB interface's) for an event
 * about one part of the device. */
static const char *event_driver(json_object *device, const char *part_id)
{
	if (!part_id)
		return json_get_str(device, "driver");
	for (const struct format_bus *const *b = format_buses; *b; b++) {
		json_object *parts;

		if (!(*b)->parts_member)
			continue;
		parts = json_get_array(json_get_obj(device, (*b)->key), (*b)->parts_member);
		for (size_t i = 0; i < array_rows(parts); i++) {
			json_object *part = json_object_array_get_idx(parts, i);

			if (streq(json_get_str(part, "id"), part_id))
				return json_get_str(part, "driver");
		}
	}
	return NULL;
}

static char *event_line(json_object *event)
{
	json_object *device = json_get_obj(event, "device");
	const char *iface = json_get_str(event, "interface");
	_cleanup_free_ char *iface_part = iface ? xasprintf(" interface=%s", iface) : NULL;
	_cleanup_free_ char *name = format_device_name(device);

	return xasprintf("%s %s%s driver=%s state=%s %s:%s %s", or_none(json_get_str(event, "event")),
			 or_none(json_get_str(event, "id")), iface_part ? iface_part : "",
			 or_none(event_driver(device, iface)), or_none(json_get_str(device, "state")),
			 or_none(json_get_str(device, "vendor")), or_none(json_get_str(device, "product")),
			 name);
}

/* "policy assign 0000:03:00.0 for qemu/router: done (policy.conf:12)" */
static char *policy_line(json_object *p)
{
	json_object *owner = json_get_obj(p, "owner");
	_cleanup_free_ char *who =
		owner ? xasprintf(" for %s/%s", or_none(json_get_str(owner, "driver")),
				  or_none(json_get_str(owner, "domain")))
		      : xstrdup("");
	_cleanup_free_ char *where = NULL, *why = NULL;
	int64_t line = 0;

	json_get_int(p, "line", &line);
	where = json_get_str(p, "file") ? xasprintf(" (%s:%" PRId64 ")", json_get_str(p, "file"), line)
				   : xstrdup(" (the default)");
	why = json_get_str(p, "reason") ? xasprintf(": %s", json_get_str(p, "reason")) : xstrdup("");
	return xasprintf("policy %s %s%s: %s%s%s", or_none(json_get_str(p, "action")),
			 or_none(json_get_str(p, "device")), who, or_none(json_get_str(p, "outcome")), why,
			 where);
}

void format_watch_event(FILE *out, json_object *reply)
{
	json_object *event = json_get_obj(reply, "event");
	json_object *policy = json_get_obj(reply, "policy");
	json_object *resync = json_get_typed(reply, "resync", json_type_boolean);
	_cleanup_free_ char *line = NULL, *clean = NULL;
	int64_t seq;

	if (!json_get_int(reply, "sequence", &seq))
		seq = -1;
	if (event)
		line = event_line(event);
	else if (policy)
		line = policy_line(policy);
	else if (resync && json_object_get_boolean(resync))
		line = xstrdup("resync: hostdevd lost kernel events and re-read sysfs; "
			       "any device may have changed (run 'hostdevctl list')");
	else
		line = xstrdup("(a reply with neither an event nor a resync)");
	clean = sanitized(line);
	fprintf(out, "%" PRId64 " %s\n", seq, clean);
}

static char *duration_text(double seconds)
{
	uint64_t s = seconds > 0 ? (uint64_t)seconds : 0;
	uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	if (d)
		return xasprintf("%" PRIu64 "d %02" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s", d,
				 h, m, s % 60);
	if (h)
		return xasprintf("%" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s", h, m, s % 60);
	if (m)
		return xasprintf("%" PRIu64 "m %02" PRIu64 "s", m, s % 60);
	return xasprintf("%.1fs", seconds > 0 ? seconds : 0.0);
}

/* "pci 9, usb 3", one per row of the bus table; NULL when a count is missing. */
static char *bus_counts(json_object *counts)
{
	char *text = xstrdup(""), *more;
	int64_t n;

	for (const struct format_bus *const *b = format_buses; *b; b++) {
		if (!json_get_int(counts, (*b)->key, &n)) {
			free(text);
			return NULL;
		}
		more = xasprintf("%s%s%s %" PRId64, text, *text ? ", " : "", (*b)->key, n);
		free(text);
		text = more;
	}
	return text;
}

/* "12 (pci 9, usb 3; host 11, detached 1)", or "-" when a count is missing. */
static void status_devices(FILE *out, json_object *counts)
{
	_cleanup_free_ char *buses = bus_counts(counts), *line = NULL;
	int64_t total, host, detached;

	if (buses && json_get_int(counts, "total", &total) && json_get_int(counts, "host", &host) &&
	    json_get_int(counts, "detached", &detached))
		line = xasprintf("%" PRId64 " (%s; host %" PRId64 ", detached %" PRId64 ")", total,
				 buses, host, detached);
	put_field(out, "devices:", line);
}

static void put_int_field_if(FILE *out, json_object *obj, const char *key, const char *label)
{
	if (json_object_object_get_ex(obj, key, NULL))
		put_int_field(out, obj, key, label);
}

/* One line per device needing a look: "0000:03:00.0 drifted: claimed by
 * qemu/vm1, but on e1000e". */
static void status_attention(FILE *out, json_object *att)
{
	size_t n = array_rows(att);

	if (!att)
		return;
	if (n == 0) {
		put_field(out, "attention:", "none");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *a = json_object_array_get_idx(att, i);
		_cleanup_free_ char *line = xasprintf("%s %s: %s", or_none(json_get_str(a, "device")),
						      or_none(json_get_str(a, "what")),
						      or_none(json_get_str(a, "detail")));
		_cleanup_free_ char *clean = sanitized(line);

		put_field(out, i == 0 ? "attention:" : "", clean);
	}
}

void format_status(FILE *out, json_object *status)
{
	json_object *uptime = json_get_typed(status, "uptime_seconds", json_type_double);
	json_object *uptime_int = json_get_typed(status, "uptime_seconds", json_type_int);
	_cleanup_free_ char *up = NULL;

	/* json-c reads a float that happens to be whole ("3") as an int. */
	if (uptime || uptime_int)
		up = duration_text(json_object_get_double(uptime ? uptime : uptime_int));
	put_field(out, "version:", json_get_str(status, "version"));
	put_field(out, "uptime:", up);
	status_devices(out, json_get_obj(status, "devices"));
	put_field(out, "event source:", json_get_str(status, "event_source"));
	put_int_field(out, status, "events_received", "events received:");
	put_int_field(out, status, "overflows", "overflows:");
	put_int_field(out, status, "resyncs", "resyncs:");
	put_int_field(out, status, "sequence", "sequence:");
	put_int_field(out, status, "clients", "clients:");
	put_int_field(out, status, "watchers", "watchers:");
	/* Daemons before 0.1.0's log-level signals do not report it. */
	if (json_get_str(status, "log_level"))
		put_field(out, "log level:", json_get_str(status, "log_level"));
	/* Nor these, before durable state. */
	put_int_field_if(out, status, "claims", "claims:");
	if (json_get_str(status, "state_file"))
		put_field(out, "state file:", json_get_str(status, "state_file"));
	status_attention(out, json_get_array(status, "attention"));
}

void format_policy_explain(FILE *out, json_object *reply)
{
	json_object *lines = json_get_array(reply, "explanation");

	for (size_t i = 0; i < array_rows(lines); i++) {
		json_object *l = json_object_array_get_idx(lines, i);
		_cleanup_free_ char *clean =
			sanitized(json_object_is_type(l, json_type_string) ? json_object_get_string(l)
									   : "?");

		fprintf(out, "%s\n", clean);
	}
}

static void put_line(FILE *out, const char *line);

void format_policy_reload(FILE *out, json_object *reply)
{
	json_object *conflicts = json_get_array(reply, "conflicts");
	json_object *warnings = json_get_array(reply, "warnings");
	_cleanup_free_ char *path = sanitized(or_none(json_get_str(reply, "path")));
	int64_t rules = 0, clients = 0;

	json_get_int(reply, "rules", &rules);
	json_get_int(reply, "clients", &clients);
	fprintf(out, "policy reloaded from %s: %" PRId64 " rule(s), %" PRId64 " client(s)\n", path,
		rules, clients);
	for (size_t i = 0; i < array_rows(warnings); i++) {
		json_object *w = json_object_array_get_idx(warnings, i);
		_cleanup_free_ char *line = xasprintf(
			"warning: %s", json_object_is_type(w, json_type_string)
					       ? json_object_get_string(w)
					       : "?");

		put_line(out, line);
	}
	for (size_t i = 0; i < array_rows(conflicts); i++) {
		json_object *c = json_object_array_get_idx(conflicts, i);
		json_object *owner = json_get_obj(c, "owner");
		_cleanup_free_ char *line = xasprintf(
			"%s stays claimed by %s/%s, but the new policy would refuse it: %s",
			or_none(json_get_str(c, "device")), or_none(json_get_str(owner, "driver")),
			or_none(json_get_str(owner, "domain")), or_none(json_get_str(c, "reason")));

		put_line(out, line);
	}
}

/* ---- detach and reattach ---- */

static void put_line(FILE *out, const char *line)
{
	_cleanup_free_ char *clean = sanitized(line);

	fprintf(out, "%s\n", clean);
}

void format_detach_result(FILE *out, json_object *reply)
{
	json_object *device = json_get_obj(reply, "device");
	const char *id = or_none(json_get_str(device, "id"));
	const char *driver = json_get_str(device, "driver");
	const char *original = json_get_str(device, "original_driver");
	_cleanup_free_ char *line = NULL;

	/* Without a recorded driver (it was on a stub before hostdevd knew it),
	 * Reattach cannot promise one: say so now, not at reattach time. */
	if (original)
		line = xasprintf("%s: detached, now on %s (was %s)", id,
				 driver ? driver : "no driver", original);
	else
		line = xasprintf("%s: detached, now on %s (no host driver recorded: reattach "
				 "takes whichever driver the kernel binds)",
				 id, driver ? driver : "no driver");
	put_line(out, line);
}

void format_reattach_result(FILE *out, json_object *reply)
{
	json_object *device = json_get_obj(reply, "device");
	const char *id = or_none(json_get_str(device, "id"));
	const char *driver = json_get_str(reply, "driver");
	const char *outcome = json_get_str(reply, "outcome");
	_cleanup_free_ char *line = NULL;

	if (!driver || streq(outcome, "unbound"))
		line = xasprintf("%s: reattached, but no driver took it: none was recorded and "
				 "the host has none for it, so it stays unbound",
				 id);
	else if (streq(outcome, "original"))
		line = xasprintf("%s: reattached to %s (original driver)", id, driver);
	else if (streq(outcome, "native"))
		line = xasprintf("%s: reattached to %s (none was recorded; the kernel chose it)",
				 id, driver);
	else
		line = xasprintf("%s: reattached to %s (outcome %s)", id, driver, or_none(outcome));
	put_line(out, line);
}

/* ---- reset ---- */

void format_reset_result(FILE *out, json_object *reply)
{
	json_object *methods = json_get_array(reply, "methods");
	_cleanup_free_ char *list = methods && json_object_array_length(methods)
					    ? join_strings(methods)
					    : xstrdup("none listed");
	_cleanup_free_ char *line = xasprintf("%s: reset (kernel methods: %s)",
					      or_none(json_get_str(reply, "device")), list);

	put_line(out, line);
}

/* ---- claims ---- */

/* What release will do, as far as the entry tells: its unbound interface
 * drivers, or what `managed` means on its device's bus. */
static char *claim_release_text(json_object *entry)
{
	json_object *managed = json_get_typed(entry, "managed", json_type_boolean);
	const struct format_bus *bus = bus_of_id(json_get_str(entry, "device"));

	if (json_get_typed(entry, "unbound_interfaces", json_type_array))
		return xstrdup(" (interface drivers unbound: at release they are bound again)");
	if (!managed || !bus || !bus->managed_release)
		return xstrdup("");
	if (json_object_get_boolean(managed))
		return xasprintf(" (managed: at release it %s)", bus->managed_release);
	return xasprintf(" (unmanaged: at release it %s)", bus->unmanaged_release);
}

void format_claim_result(FILE *out, json_object *reply)
{
	json_object *claims = json_get_array(reply, "claims");
	size_t n = array_rows(claims);

	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(claims, i);
		_cleanup_free_ char *owner = owner_text(json_get_obj(e, "owner")), *line = NULL;
		_cleanup_free_ char *how = claim_release_text(e);

		line = xasprintf("%s: claimed by %s%s", or_none(json_get_str(e, "device")), owner, how);
		put_line(out, line);
	}
}

void format_release_result(FILE *out, json_object *reply)
{
	json_object *released = json_get_array(reply, "released");
	size_t n = array_rows(released);

	if (n == 0)
		put_line(out, "Nothing was released: the owner held no devices.");
	json_object *outcomes = json_get_array(reply, "outcomes");

	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(released, i);
		json_object *o = i < array_rows(outcomes) ? json_object_array_get_idx(outcomes, i)
							   : NULL;
		const char *to = o ? json_get_str(o, "to") : NULL;
		const char *driver = o ? json_get_str(o, "driver") : NULL;
		_cleanup_free_ char *where =
			!to ? xstrdup("")
			: streq(to, "pool") ? xasprintf(", left in the detached pool on %s",
							driver ? driver : "its stub")
			: streq(to, "host") && driver ? xasprintf(", back on %s", driver)
			: streq(to, "gone") ? xstrdup(" (not present)")
					    : xstrdup("");
		_cleanup_free_ char *line = xasprintf(
			"%s: released%s",
			json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "?",
			where);

		put_line(out, line);
	}
}

enum {
	CCOL_DEVICE,
	CCOL_OWNER,
	CCOL_MANAGED,
	CCOL_PID,
	CCOL_UID,
	CCOL_SINCE,
	CCOL_LEASE,
	CCOL_NODES,
	NCCOLS
};

static const char *const claim_titles[NCCOLS] = {
	"DEVICE", "OWNER", "MANAGED", "PID", "UID", "SINCE", "LEASE", "NODES",
};

static char *int_cell(json_object *e, const char *key);

/* "pid 4243", "pid 4243 keep", "pid 4243 keep, ended"; "-" without one. */
static char *lease_cell(json_object *e)
{
	json_object *lease = json_get_obj(e, "lease"), *v;
	_cleanup_free_ char *pid = lease ? int_cell(lease, "pid") : NULL;
	bool keep, ended;

	if (!lease)
		return xstrdup("-");
	keep = json_object_object_get_ex(lease, "on_exit", &v) &&
	       json_object_is_type(v, json_type_string) &&
	       streq(json_object_get_string(v), "keep");
	ended = json_object_object_get_ex(lease, "ended", &v) && json_object_get_boolean(v);
	return xasprintf("pid %s%s%s", pid, keep ? " keep" : "", ended ? ", ended" : "");
}

static char *int_cell(json_object *obj, const char *key)
{
	int64_t v;

	return json_get_int(obj, key, &v) ? xasprintf("%" PRId64, v) : xstrdup(NONE);
}

static void claim_row(json_object *e, char *cells[NCCOLS])
{
	cells[CCOL_DEVICE] = sanitized(json_get_str(e, "device"));
	cells[CCOL_OWNER] = owner_text(json_get_obj(e, "owner"));
	cells[CCOL_MANAGED] = xstrdup(get_yes_no(e, "managed"));
	cells[CCOL_PID] = int_cell(e, "pid");
	cells[CCOL_UID] = int_cell(e, "uid");
	cells[CCOL_SINCE] = sanitized(json_get_str(e, "since"));
	cells[CCOL_LEASE] = lease_cell(e);
	/* node_owner: "set", "none", "failed: why"; absent when no node is
	 * handed over (a root claim, USB, a stub other than vfio-pci). */
	cells[CCOL_NODES] = sanitized(json_get_str(e, "node_owner"));
}

void format_claim_table(FILE *out, json_object *claims)
{
	static const struct table t = { NCCOLS, claim_titles };
	size_t nrows = array_rows(claims);
	char **cells = xcalloc(nrows ? nrows * NCCOLS : 1, sizeof(char *));
	size_t widths[NCCOLS];

	for (size_t r = 0; r < nrows; r++)
		claim_row(json_object_array_get_idx(claims, r), &cells[r * NCCOLS]);
	column_widths(&t, cells, nrows, widths);
	print_table(out, &t, cells, nrows, widths);
}

void format_json(FILE *out, json_object *obj, bool pretty)
{
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
		    (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
			    : JSON_C_TO_STRING_PLAIN);

	fprintf(out, "%s\n", json_object_to_json_string_ext(obj, flags));
}

/* ---- Varlink errors as sentences ---- */

char *format_varlink_error(const char *method, const char *error, json_object *params)
{
	const struct hd_errdef *def = err_find(error, NULL);
	_cleanup_free_ char *sentence = NULL, *full = NULL;

	sentence = def && def->explain ? def->explain(method, params)
				       : errtext_generic(method, params);
	full = xasprintf("%s (%s)", sentence, error);
	return sanitized(full);
}
