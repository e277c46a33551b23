#include "client/format.h"
#include "common/util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#define NONE "-"

/* ---- typed access to untrusted replies ---- */

static json_object *get_typed(json_object *obj, const char *key, json_type type)
{
	json_object *v;

	if (!obj || !json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

static const char *get_str(json_object *obj, const char *key)
{
	json_object *v = get_typed(obj, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

static bool get_int(json_object *obj, const char *key, int64_t *out)
{
	json_object *v = get_typed(obj, key, json_type_int);

	if (!v)
		return false;
	*out = json_object_get_int64(v);
	return true;
}

static json_object *get_obj(json_object *obj, const char *key)
{
	return get_typed(obj, key, json_type_object);
}

static json_object *get_array(json_object *obj, const char *key)
{
	return get_typed(obj, key, json_type_array);
}

/* "yes", "no", or "-" when the field is missing or not a boolean. */
static const char *get_yes_no(json_object *obj, const char *key)
{
	json_object *v = get_typed(obj, key, json_type_boolean);

	if (!v)
		return NONE;
	return json_object_get_boolean(v) ? "yes" : "no";
}

/* A copy safe to print on a terminal: a USB device chooses its own strings,
 * and escape sequences in them must not reach the user's terminal. */
static char *sanitized(const char *s)
{
	char *r = xstrdup(s ? s : NONE);

	for (char *p = r; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return r;
}

static const char *or_none(const char *s)
{
	return s ? s : NONE;
}

static void put_field(FILE *out, const char *key, const char *value)
{
	_cleanup_free_ char *clean = sanitized(value);

	fprintf(out, "%-17s %s\n", key, clean);
}

static void put_int_field(FILE *out, json_object *obj, const char *key, const char *label)
{
	int64_t v;

	if (get_int(obj, key, &v))
		fprintf(out, "%-17s %" PRId64 "\n", label, v);
	else
		put_field(out, label, NONE);
}

/* The strings of an array joined by ", "; "-" when empty or absent. */
static char *join_strings(json_object *array)
{
	char *r = NULL;
	size_t n = array ? json_object_array_length(array) : 0;

	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(array, i);
		const char *s = json_object_is_type(e, json_type_string) ? json_object_get_string(e)
									 : "?";
		char *next = r ? xasprintf("%s, %s", r, s) : xstrdup(s);

		free(r);
		r = next;
	}
	return r ? r : xstrdup(NONE);
}

/* ---- class names ---- */

struct class_name {
	uint32_t code;
	const char *name;
};

/* Matched on the full 24 bits first, where the programming interface tells
 * users something they look for (which USB controller, NVMe vs. other). */
static const struct class_name pci_progif_names[] = {
	{ 0x010601, "SATA controller (AHCI)" },
	{ 0x010802, "NVMe controller" },
	{ 0x0c0300, "USB controller (UHCI)" },
	{ 0x0c0310, "USB controller (OHCI)" },
	{ 0x0c0320, "USB controller (EHCI)" },
	{ 0x0c0330, "USB controller (xHCI)" },
	{ 0x0c0340, "USB controller (USB4)" },
};

static const struct class_name pci_subclass_names[] = {
	{ 0x0000, "Non-VGA unclassified device" },
	{ 0x0001, "VGA compatible unclassified device" },
	{ 0x0100, "SCSI storage controller" },
	{ 0x0101, "IDE interface" },
	{ 0x0104, "RAID bus controller" },
	{ 0x0105, "ATA controller" },
	{ 0x0106, "SATA controller" },
	{ 0x0107, "Serial Attached SCSI controller" },
	{ 0x0108, "Non-Volatile memory controller" },
	{ 0x0200, "Ethernet controller" },
	{ 0x0207, "Infiniband controller" },
	{ 0x0280, "Network controller" },
	{ 0x0300, "VGA compatible controller" },
	{ 0x0302, "3D controller" },
	{ 0x0380, "Display controller" },
	{ 0x0400, "Multimedia video controller" },
	{ 0x0401, "Multimedia audio controller" },
	{ 0x0403, "Audio device" },
	{ 0x0500, "RAM memory" },
	{ 0x0600, "Host bridge" },
	{ 0x0601, "ISA bridge" },
	{ 0x0604, "PCI bridge" },
	{ 0x0680, "Bridge" },
	{ 0x0700, "Serial controller" },
	{ 0x0780, "Communication controller" },
	{ 0x0800, "PIC" },
	{ 0x0805, "SD Host controller" },
	{ 0x0806, "IOMMU" },
	{ 0x0880, "System peripheral" },
	{ 0x0b40, "Co-processor" },
	{ 0x0c03, "USB controller" },
	{ 0x0c04, "Fibre Channel" },
	{ 0x0c05, "SMBus" },
	{ 0x0c80, "Serial bus controller" },
	{ 0x0d11, "Bluetooth" },
	{ 0x0d80, "Wireless controller" },
	{ 0x1080, "Encryption controller" },
	{ 0x1180, "Signal processing controller" },
	{ 0x1200, "Processing accelerators" },
};

static const struct class_name pci_base_names[] = {
	{ 0x00, "Unclassified device" },
	{ 0x01, "Mass storage controller" },
	{ 0x02, "Network controller" },
	{ 0x03, "Display controller" },
	{ 0x04, "Multimedia controller" },
	{ 0x05, "Memory controller" },
	{ 0x06, "Bridge" },
	{ 0x07, "Communication controller" },
	{ 0x08, "Generic system peripheral" },
	{ 0x09, "Input device controller" },
	{ 0x0a, "Docking station" },
	{ 0x0b, "Processor" },
	{ 0x0c, "Serial bus controller" },
	{ 0x0d, "Wireless controller" },
	{ 0x0e, "Intelligent controller" },
	{ 0x0f, "Satellite communications controller" },
	{ 0x10, "Encryption controller" },
	{ 0x11, "Signal processing controller" },
	{ 0x12, "Processing accelerators" },
	{ 0x13, "Non-Essential Instrumentation" },
	{ 0x40, "Coprocessor" },
	{ 0xff, "Unassigned class" },
};

static const struct class_name usb_class_names[] = {
	{ 0x01, "Audio" },
	{ 0x02, "Communications" },
	{ 0x03, "Human Interface Device" },
	{ 0x05, "Physical Interface Device" },
	{ 0x06, "Imaging" },
	{ 0x07, "Printer" },
	{ 0x08, "Mass Storage" },
	{ 0x09, "Hub" },
	{ 0x0a, "CDC Data" },
	{ 0x0b, "Smart Card" },
	{ 0x0d, "Content Security" },
	{ 0x0e, "Video" },
	{ 0x0f, "Personal Healthcare" },
	{ 0x10, "Audio/Video" },
	{ 0x11, "Billboard" },
	{ 0xdc, "Diagnostic" },
	{ 0xe0, "Wireless" },
	{ 0xef, "Miscellaneous Device" },
	{ 0xfe, "Application Specific" },
	{ 0xff, "Vendor Specific" },
};

static const char *class_lookup(const struct class_name *table, size_t n, uint32_t code)
{
	for (size_t i = 0; i < n; i++)
		if (table[i].code == code)
			return table[i].name;
	return NULL;
}

const char *format_pci_class_name(uint32_t class_code)
{
	const char *name;

	name = class_lookup(pci_progif_names, ARRAY_SIZE(pci_progif_names), class_code);
	if (!name)
		name = class_lookup(pci_subclass_names, ARRAY_SIZE(pci_subclass_names),
				    class_code >> 8);
	if (!name)
		name = class_lookup(pci_base_names, ARRAY_SIZE(pci_base_names), class_code >> 16);
	return name ? name : "Unknown class";
}

const char *format_usb_class_name(uint32_t usb_class)
{
	return class_lookup(usb_class_names, ARRAY_SIZE(usb_class_names), usb_class);
}

static bool hex_field(json_object *obj, const char *key, uint32_t *out)
{
	return parse_hex_u32(get_str(obj, key), out);
}

const char *format_device_description(json_object *device)
{
	json_object *pci = get_obj(device, "pci"), *usb = get_obj(device, "usb");
	const char *s;
	uint32_t code;

	if (pci && hex_field(pci, "class", &code))
		return format_pci_class_name(code);
	if (usb) {
		if ((s = get_str(usb, "product_name")) && *s)
			return s;
		if (hex_field(usb, "device_class", &code) && (s = format_usb_class_name(code)))
			return s;
	}
	return NONE;
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

static void device_row(json_object *dev, char *cells[NCOLS])
{
	json_object *pci = get_obj(dev, "pci"), *usb = get_obj(dev, "usb");
	const char *vendor = get_str(dev, "vendor"), *product = get_str(dev, "product");
	const char *cls = pci ? get_str(pci, "class") : get_str(usb, "device_class");
	int64_t group;

	cells[COL_ID] = sanitized(get_str(dev, "id"));
	cells[COL_BUS] = sanitized(get_str(dev, "bus"));
	cells[COL_IDS] = xasprintf("%s:%s", vendor ? vendor : "????", product ? product : "????");
	cells[COL_CLASS] = sanitized(cls);
	cells[COL_DRIVER] = sanitized(get_str(dev, "driver"));
	cells[COL_GROUP] = get_int(pci, "iommu_group", &group) ? xasprintf("%" PRId64, group)
							      : xstrdup(NONE);
	cells[COL_STATE] = sanitized(get_str(dev, "state"));
	cells[COL_NAME] = sanitized(format_device_description(dev));
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
 * little that the names become useless; then the line wraps instead. */
static void fit_last_column(char **cells, size_t nrows, size_t widths[NCOLS], int max_width)
{
	size_t used = 0, room;

	if (max_width <= 0)
		return;
	for (int c = 0; c < NCOLS - 1; c++)
		used += widths[c] + 2;
	room = (size_t)max_width > used ? (size_t)max_width - used : 0;
	if (room < 12)
		room = 12;
	for (size_t r = 0; r < nrows; r++)
		text_truncate(cells[r * NCOLS + NCOLS - 1], room);
}

void format_device_table(FILE *out, json_object *devices, int max_width)
{
	static const struct table t = { NCOLS, column_titles };
	size_t nrows = array_rows(devices);
	char **cells = xcalloc(nrows ? nrows * NCOLS : 1, sizeof(char *));
	size_t widths[NCOLS];

	for (size_t r = 0; r < nrows; r++)
		device_row(json_object_array_get_idx(devices, r), &cells[r * NCOLS]);
	column_widths(&t, cells, nrows, widths);
	fit_last_column(cells, nrows, widths, max_width);
	print_table(out, &t, cells, nrows, widths);
}

/* ---- one device in full ---- */

static void put_list(FILE *out, const char *label, json_object *array)
{
	_cleanup_free_ char *joined = join_strings(array);

	put_field(out, label, joined);
}

static void show_hex_pair(FILE *out, const char *label, json_object *obj, const char *a,
			  const char *b)
{
	const char *x = get_str(obj, a), *y = get_str(obj, b);
	_cleanup_free_ char *pair = xasprintf("%s:%s", x ? x : "????", y ? y : "????");

	put_field(out, label, pair);
}

static void show_sriov(FILE *out, json_object *pci)
{
	int64_t total, num;
	_cleanup_free_ char *vfs = NULL;

	if (!get_int(pci, "sriov_totalvfs", &total)) {
		put_field(out, "sr-iov:", NONE);
		return;
	}
	if (!get_int(pci, "sriov_numvfs", &num))
		num = 0;
	vfs = xasprintf("%" PRId64 " of %" PRId64 " virtual functions enabled", num, total);
	put_field(out, "sr-iov:", vfs);
}

static void show_pci(FILE *out, json_object *pci)
{
	const char *cls = get_str(pci, "class");
	uint32_t code;
	_cleanup_free_ char *class_line = NULL;

	show_hex_pair(out, "subsystem:", pci, "subsystem_vendor", "subsystem_device");
	if (cls && parse_hex_u32(cls, &code))
		class_line = xasprintf("%s (%s)", cls, format_pci_class_name(code));
	put_field(out, "class:", class_line ? class_line : cls);
	put_field(out, "revision:", get_str(pci, "revision"));
	put_field(out, "driver override:", get_str(pci, "driver_override"));
	put_int_field(out, pci, "iommu_group", "iommu group:");
	put_list(out, "group members:", get_array(pci, "iommu_group_members"));
	put_field(out, "physfn:", get_str(pci, "physfn"));
	put_list(out, "virtfns:", get_array(pci, "virtfns"));
	show_sriov(out, pci);
	put_list(out, "reset methods:", get_array(pci, "reset_methods"));
	put_field(out, "resettable:", get_yes_no(pci, "resettable"));
	put_field(out, "boot vga:", get_yes_no(pci, "boot_vga"));
	put_field(out, "bridge:", get_yes_no(pci, "bridge"));
}

static void show_usb_interfaces(FILE *out, json_object *ifaces)
{
	size_t n = ifaces ? json_object_array_length(ifaces) : 0;

	if (n)
		fputs("interfaces:\n", out);
	else
		put_field(out, "interfaces:", NONE);
	for (size_t i = 0; i < n; i++) {
		json_object *it = json_object_array_get_idx(ifaces, i);
		const char *cls = get_str(it, "class");
		uint32_t code;
		const char *name = cls && parse_hex_u32(cls, &code) ? format_usb_class_name(code)
								    : NULL;
		_cleanup_free_ char *line = xasprintf(
			"  %s  class %s/%s/%s%s%s%s  driver %s", or_none(get_str(it, "id")),
			or_none(cls), or_none(get_str(it, "subclass")),
			or_none(get_str(it, "protocol")), name ? " (" : "", name ? name : "",
			name ? ")" : "", or_none(get_str(it, "driver")));
		_cleanup_free_ char *clean = sanitized(line);

		fprintf(out, "%s\n", clean);
	}
}

static void show_usb(FILE *out, json_object *usb)
{
	int64_t busnum, devnum;
	_cleanup_free_ char *address = NULL, *speed = NULL;
	const char *s;

	if (get_int(usb, "busnum", &busnum) && get_int(usb, "devnum", &devnum))
		address = xasprintf("bus %" PRId64 " device %" PRId64 " (usb:%" PRId64
				    ".%" PRId64 ")",
				    busnum, devnum, busnum, devnum);
	put_field(out, "usb address:", address);
	put_field(out, "device class:", get_str(usb, "device_class"));
	put_field(out, "bcd device:", get_str(usb, "bcd_device"));
	put_field(out, "manufacturer:", get_str(usb, "manufacturer"));
	put_field(out, "product:", get_str(usb, "product_name"));
	put_field(out, "serial:", get_str(usb, "serial"));
	if ((s = get_str(usb, "speed")))
		speed = xasprintf("%s Mbit/s", s);
	put_field(out, "speed:", speed);
	put_field(out, "authorized:", get_yes_no(usb, "authorized"));
	put_field(out, "root hub:", get_yes_no(usb, "root_hub"));
	show_usb_interfaces(out, get_array(usb, "interfaces"));
}

/* "DRIVER/DOMAIN", the form --owner takes, so that a line can be pasted
 * back into a command. */
static char *owner_text(json_object *owner)
{
	_cleanup_free_ char *raw = xasprintf("%s/%s", or_none(get_str(owner, "driver")),
					     or_none(get_str(owner, "domain")));

	return sanitized(raw);
}

void format_device_show(FILE *out, json_object *device)
{
	json_object *pci = get_obj(device, "pci"), *usb = get_obj(device, "usb");

	put_field(out, "id:", get_str(device, "id"));
	put_field(out, "bus:", get_str(device, "bus"));
	put_field(out, "name:", format_device_description(device));
	put_field(out, "state:", get_str(device, "state"));
	show_hex_pair(out, "vendor:product:", device, "vendor", "product");
	put_field(out, "driver:", get_str(device, "driver"));
	/* Only while detached: the driver Reattach will bring back. */
	if (get_str(device, "original_driver"))
		put_field(out, "original driver:", get_str(device, "original_driver"));
	if (get_obj(device, "claim")) {
		_cleanup_free_ char *owner = owner_text(get_obj(device, "claim"));

		put_field(out, "claimed by:", owner);
	}
	put_field(out, "syspath:", get_str(device, "syspath"));
	put_field(out, "parent:", get_str(device, "parent"));
	put_list(out, "children:", get_array(device, "children"));
	put_int_field(out, device, "numa_node", "numa node:");
	if (pci)
		show_pci(out, pci);
	if (usb)
		show_usb(out, usb);
}

/* ---- watch, status, JSON ---- */

/* The driver an event is about: the interface's for an interface event. */
static const char *event_driver(json_object *device, const char *iface_id)
{
	json_object *ifaces = get_array(get_obj(device, "usb"), "interfaces");
	size_t n = ifaces ? json_object_array_length(ifaces) : 0;

	if (!iface_id)
		return get_str(device, "driver");
	for (size_t i = 0; i < n; i++) {
		json_object *it = json_object_array_get_idx(ifaces, i);

		if (streq(get_str(it, "id"), iface_id))
			return get_str(it, "driver");
	}
	return NULL;
}

static char *event_line(json_object *event)
{
	json_object *device = get_obj(event, "device");
	const char *iface = get_str(event, "interface");
	_cleanup_free_ char *iface_part = iface ? xasprintf(" interface=%s", iface) : NULL;

	return xasprintf("%s %s%s driver=%s state=%s %s:%s %s", or_none(get_str(event, "event")),
			 or_none(get_str(event, "id")), iface_part ? iface_part : "",
			 or_none(event_driver(device, iface)), or_none(get_str(device, "state")),
			 or_none(get_str(device, "vendor")), or_none(get_str(device, "product")),
			 format_device_description(device));
}

/* "policy assign 0000:03:00.0 for qemu/router: done (policy.conf:12)" */
static char *policy_line(json_object *p)
{
	json_object *owner = get_obj(p, "owner");
	_cleanup_free_ char *who =
		owner ? xasprintf(" for %s/%s", or_none(get_str(owner, "driver")),
				  or_none(get_str(owner, "domain")))
		      : xstrdup("");
	_cleanup_free_ char *where = NULL, *why = NULL;
	int64_t line = 0;

	get_int(p, "line", &line);
	where = get_str(p, "file") ? xasprintf(" (%s:%" PRId64 ")", get_str(p, "file"), line)
				   : xstrdup(" (the default)");
	why = get_str(p, "reason") ? xasprintf(": %s", get_str(p, "reason")) : xstrdup("");
	return xasprintf("policy %s %s%s: %s%s%s", or_none(get_str(p, "action")),
			 or_none(get_str(p, "device")), who, or_none(get_str(p, "outcome")), why,
			 where);
}

void format_watch_event(FILE *out, json_object *reply)
{
	json_object *event = get_obj(reply, "event");
	json_object *policy = get_obj(reply, "policy");
	json_object *resync = get_typed(reply, "resync", json_type_boolean);
	_cleanup_free_ char *line = NULL, *clean = NULL;
	int64_t seq;

	if (!get_int(reply, "sequence", &seq))
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

static void status_devices(FILE *out, json_object *counts)
{
	static const char *const keys[] = { "total", "pci", "usb", "host", "detached" };
	int64_t v[ARRAY_SIZE(keys)];
	_cleanup_free_ char *line = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!get_int(counts, keys[i], &v[i])) {
			put_field(out, "devices:", NONE);
			return;
		}
	line = xasprintf("%" PRId64 " (pci %" PRId64 ", usb %" PRId64 "; host %" PRId64
			 ", detached %" PRId64 ")",
			 v[0], v[1], v[2], v[3], v[4]);
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
		_cleanup_free_ char *line = xasprintf("%s %s: %s", or_none(get_str(a, "device")),
						      or_none(get_str(a, "what")),
						      or_none(get_str(a, "detail")));
		_cleanup_free_ char *clean = sanitized(line);

		put_field(out, i == 0 ? "attention:" : "", clean);
	}
}

void format_status(FILE *out, json_object *status)
{
	json_object *uptime = get_typed(status, "uptime_seconds", json_type_double);
	json_object *uptime_int = get_typed(status, "uptime_seconds", json_type_int);
	_cleanup_free_ char *up = NULL;

	/* json-c reads a float that happens to be whole ("3") as an int. */
	if (uptime || uptime_int)
		up = duration_text(json_object_get_double(uptime ? uptime : uptime_int));
	put_field(out, "version:", get_str(status, "version"));
	put_field(out, "uptime:", up);
	status_devices(out, get_obj(status, "devices"));
	put_field(out, "event source:", get_str(status, "event_source"));
	put_int_field(out, status, "events_received", "events received:");
	put_int_field(out, status, "overflows", "overflows:");
	put_int_field(out, status, "resyncs", "resyncs:");
	put_int_field(out, status, "sequence", "sequence:");
	put_int_field(out, status, "clients", "clients:");
	put_int_field(out, status, "watchers", "watchers:");
	/* Daemons before 0.1.0's log-level signals do not report it. */
	if (get_str(status, "log_level"))
		put_field(out, "log level:", get_str(status, "log_level"));
	/* Nor these, before durable state. */
	put_int_field_if(out, status, "claims", "claims:");
	if (get_str(status, "state_file"))
		put_field(out, "state file:", get_str(status, "state_file"));
	status_attention(out, get_array(status, "attention"));
}

void format_policy_explain(FILE *out, json_object *reply)
{
	json_object *lines = get_array(reply, "explanation");

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
	json_object *conflicts = get_array(reply, "conflicts");
	json_object *warnings = get_array(reply, "warnings");
	_cleanup_free_ char *path = sanitized(or_none(get_str(reply, "path")));
	int64_t rules = 0, clients = 0;

	get_int(reply, "rules", &rules);
	get_int(reply, "clients", &clients);
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
		json_object *owner = get_obj(c, "owner");
		_cleanup_free_ char *line = xasprintf(
			"%s stays claimed by %s/%s, but the new policy would refuse it: %s",
			or_none(get_str(c, "device")), or_none(get_str(owner, "driver")),
			or_none(get_str(owner, "domain")), or_none(get_str(c, "reason")));

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
	json_object *device = get_obj(reply, "device");
	const char *id = or_none(get_str(device, "id"));
	const char *driver = get_str(device, "driver");
	const char *original = get_str(device, "original_driver");
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
	json_object *device = get_obj(reply, "device");
	const char *id = or_none(get_str(device, "id"));
	const char *driver = get_str(reply, "driver");
	const char *outcome = get_str(reply, "outcome");
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
	json_object *methods = get_array(reply, "methods");
	_cleanup_free_ char *list = methods && json_object_array_length(methods)
					    ? join_strings(methods)
					    : xstrdup("none listed");
	_cleanup_free_ char *line = xasprintf("%s: reset (kernel methods: %s)",
					      or_none(get_str(reply, "device")), list);

	put_line(out, line);
}

/* ---- claims ---- */


/* A USB id ("1-2.3", "usb1") rather than a PCI address. */
static bool is_usb_id(const char *id)
{
	return id && (strchr(id, '-') || strncmp(id, "usb", 3) == 0);
}

void format_claim_result(FILE *out, json_object *reply)
{
	json_object *claims = get_array(reply, "claims");
	size_t n = array_rows(claims);

	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(claims, i);
		json_object *managed = get_typed(e, "managed", json_type_boolean);
		_cleanup_free_ char *owner = owner_text(get_obj(e, "owner")), *line = NULL;
		json_object *unbound = get_typed(e, "unbound_interfaces", json_type_array);
		const char *how = unbound ? " (interface drivers unbound: at release they are "
					    "bound again)"
				  : !managed || is_usb_id(get_str(e, "device")) ? ""
				  : json_object_get_boolean(managed)
					  ? " (managed: at release it goes back to its host driver)"
					  : " (unmanaged: at release it stays on its stub)";

		line = xasprintf("%s: claimed by %s%s", or_none(get_str(e, "device")), owner, how);
		put_line(out, line);
	}
}

void format_release_result(FILE *out, json_object *reply)
{
	json_object *released = get_array(reply, "released");
	size_t n = array_rows(released);

	if (n == 0)
		put_line(out, "Nothing was released: the owner held no devices.");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(released, i);
		_cleanup_free_ char *line = xasprintf(
			"%s: released",
			json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "?");

		put_line(out, line);
	}
}

enum { CCOL_DEVICE, CCOL_OWNER, CCOL_MANAGED, CCOL_PID, CCOL_UID, CCOL_SINCE, NCCOLS };

static const char *const claim_titles[NCCOLS] = {
	"DEVICE", "OWNER", "MANAGED", "PID", "UID", "SINCE",
};

static char *int_cell(json_object *obj, const char *key)
{
	int64_t v;

	return get_int(obj, key, &v) ? xasprintf("%" PRId64, v) : xstrdup(NONE);
}

static void claim_row(json_object *e, char *cells[NCCOLS])
{
	cells[CCOL_DEVICE] = sanitized(get_str(e, "device"));
	cells[CCOL_OWNER] = owner_text(get_obj(e, "owner"));
	cells[CCOL_MANAGED] = xstrdup(get_yes_no(e, "managed"));
	cells[CCOL_PID] = int_cell(e, "pid");
	cells[CCOL_UID] = int_cell(e, "uid");
	cells[CCOL_SINCE] = sanitized(get_str(e, "since"));
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

/* A parameter as text: strings bare, anything else as JSON. */
static const char *param_text(json_object *params, const char *key)
{
	json_object *v;

	if (!params || !json_object_is_type(params, json_type_object) ||
	    !json_object_object_get_ex(params, key, &v))
		return "?";
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
}

static char *err_device_not_found(const char *method, json_object *p)
{
	return xasprintf("no device matches '%s'", param_text(p, "device"));
}

static char *err_ambiguous(const char *method, json_object *p)
{
	json_object *matches = get_array(p, "matches");
	_cleanup_free_ char *list = join_strings(matches);
	size_t n = matches ? json_object_array_length(matches) : 0;

	return xasprintf("'%s' matches %zu devices: %s; name one of them by its port path "
			 "(or PCI address) instead",
			 param_text(p, "device"), n, list);
}

static char *err_invalid_parameter(const char *method, json_object *p)
{
	return xasprintf("hostdevd rejected the parameter '%s' of %s",
			 param_text(p, "parameter"), method);
}

static char *err_method_not_found(const char *method, json_object *p)
{
	return xasprintf("hostdevd does not know the method %s; it may be older than this "
			 "hostdevctl",
			 param_text(p, "method"));
}

static char *err_interface_not_found(const char *method, json_object *p)
{
	return xasprintf("hostdevd does not serve the interface %s; it may be older than this "
			 "hostdevctl",
			 param_text(p, "interface"));
}

/* The methods that change a device: the verb a person would use, the
 * permission the schema says they need, and the state they start from. */
static const struct operation {
	const char *method, *verb, *permission, *needs;
} operations[] = {
	{ "io.hostdevd.Detach", "detach", "detach", "host" },
	{ "io.hostdevd.Reattach", "reattach", "detach", "detached" },
	{ "io.hostdevd.Claim", "claim", "claim",
	  "host or detached (an unmanaged claim: detached)" },
	{ "io.hostdevd.Release", "release", "release", "claimed" },
	/* No state needed: Reset never answers InvalidDeviceState. */
	{ "io.hostdevd.Reset", "reset", "reset", NULL },
};

static const struct operation *find_operation(const char *method)
{
	for (size_t i = 0; i < ARRAY_SIZE(operations); i++)
		if (streq(method, operations[i].method))
			return &operations[i];
	return NULL;
}

/* The verb for one of the methods that change a device, or NULL. */
static const char *operation_verb(const char *method)
{
	const struct operation *op = find_operation(method);

	return op ? op->verb : NULL;
}

/* The daemon names the permission and why (io.hostdevd.PermissionDenied);
 * the standard error names nothing, so the method's usual one is given. */
static char *err_permission_denied(const char *method, json_object *p)
{
	const struct operation *op = find_operation(method);
	const char *needed = json_object_object_get_ex(p, "permission", NULL)
				     ? param_text(p, "permission")
			     : op ? op->permission
				  : NULL;
	_cleanup_free_ char *perm =
		needed ? xasprintf(" (it needs the '%s' permission)", needed) : xstrdup("");
	_cleanup_free_ char *why = json_object_object_get_ex(p, "reason", NULL)
					   ? xasprintf(": %s", param_text(p, "reason"))
					   : xstrdup("");

	return xasprintf("hostdevd refused %s: permission denied%s%s; run as root or ask the "
			 "administrator to grant this user the permission in hostdevd's policy",
			 method, perm, why);
}

static char *err_policy_invalid(const char *method, json_object *p)
{
	const char *line = param_text(p, "line");

	return xasprintf("hostdevd kept its policy: %s%s%s: %s (fix the file, check it with "
			 "'hostdevctl policy check', then reload)",
			 param_text(p, "file"), streq(line, "0") ? "" : ":",
			 streq(line, "0") ? "" : line, param_text(p, "message"));
}

static char *err_invalid_request(const char *method, json_object *p)
{
	return xasprintf("hostdevd could not read the request for %s: %s", method,
			 param_text(p, "reason"));
}

static char *err_request_too_large(const char *method, json_object *p)
{
	return xasprintf("the request for %s is larger than hostdevd's limit of %s bytes",
			 method, param_text(p, "limit"));
}

static char *err_watcher_too_slow(const char *method, json_object *p)
{
	return xasprintf("hostdevd dropped this watcher because it fell behind after event %s; "
			 "watch again and run 'hostdevctl list' to catch up",
			 param_text(p, "sequence"));
}

static char *err_device_busy(const char *method, json_object *p)
{
	return xasprintf("hostdevd is already running a %s of %s; try again when it has "
			 "finished (a device in state error waits for a stuck write to return "
			 "first: 'hostdevctl watch' shows when its state changes)",
			 param_text(p, "operation"), param_text(p, "device"));
}

static char *err_host_critical(const char *method, json_object *p)
{
	const char *verb = operation_verb(method), *dev = param_text(p, "device");

	if (!verb)
		return xasprintf("%s must stay with the host, so hostdevd refused %s (%s)", dev,
				 method, param_text(p, "reason"));
	return xasprintf("%s must stay with the host, so hostdevd will not %s it (%s)", dev, verb,
			 param_text(p, "reason"));
}

/* What to do about a device in `state` that `method` does not act on. */
static const char *state_advice(const char *method, const char *state)
{
	static const struct {
		const char *method, *state, *advice;
	} advice[] = {
		{ "io.hostdevd.Detach", "detached",
		  "it is on another stub: reattach it first, then detach it to this one" },
		{ "io.hostdevd.Reattach", "host", "it is with the host already" },
		{ "io.hostdevd.Claim", "host",
		  "an unmanaged claim takes only a device already on a stub: detach it first, "
		  "or claim it without --unmanaged" },
		{ "io.hostdevd.Release", "host", "it is with the host already" },
		{ "io.hostdevd.Release", "detached", "nobody holds it: it is in the detached pool" },
		{ NULL, "detaching", "an operation is moving it: wait until it has finished" },
		{ NULL, "releasing", "an operation is moving it: wait until it has finished" },
		{ NULL, "claimed", "a guest holds it: release it first" },
		{ NULL, "missing", "the device is gone from the system" },
		{ NULL, "refused", "hostdevd's policy keeps it with the host" },
		{ NULL, "error",
		  "an earlier operation failed or is stuck in the kernel; hostdevd's log says "
		  "which" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(advice); i++)
		if ((!advice[i].method || streq(advice[i].method, method)) &&
		    streq(advice[i].state, state))
			return advice[i].advice;
	return NULL;
}

static char *err_invalid_state(const char *method, json_object *p)
{
	const struct operation *op = find_operation(method);
	const char *state = param_text(p, "state");
	const char *advice = state_advice(method, state);
	_cleanup_free_ char *head = NULL;

	if (!op || !op->needs)
		head = xasprintf("hostdevd refused %s on %s: it is in state %s", method,
				 param_text(p, "device"), state);
	else
		head = xasprintf("cannot %s %s: it is in state %s, and %s needs state %s",
				 op->verb, param_text(p, "device"), state, op->verb, op->needs);
	return xasprintf("%s%s%s", head, advice ? "; " : "", advice ? advice : "");
}

/* errno as the daemon's machine words it; the daemon and hostdevctl share
 * the kernel, so its numbers are ours. */
static char *errno_text(json_object *p)
{
	int64_t err;

	if (!get_int(p, "errno", &err) || err <= 0 || err > 4095)
		return xasprintf("error %s", param_text(p, "errno"));
	return xstrdup(strerror((int)err));
}

/* What was undone after `step` failed, per detach.md's table. */
static const char *undo_text(const char *step)
{
	if (streq(step, "check") || streq(step, "load_module"))
		return "nothing was changed";
	/* A reset has nothing to undo; the kernel alone knows how far it got. */
	if (streq(step, "reset"))
		return "the device keeps its driver and state";
	return "hostdevd undid the steps before it; if that failed too, the message says so "
	       "and the device is in state error";
}

/* What became of the other devices of a request naming several: a claim
 * is all or nothing (SPEC); a release stops at the first failure and keeps
 * what it released (the schema). */
static const char *batch_undo_text(const char *method)
{
	if (streq(method, "io.hostdevd.Claim"))
		return "; nothing was claimed: the devices this claim had already detached went "
		       "back to their host drivers";
	if (streq(method, "io.hostdevd.Release"))
		return "; the devices released before it stay released ('hostdevctl claims' "
		       "shows what the owner still holds)";
	return "";
}

static char *err_operation_failed(const char *method, json_object *p)
{
	const char *verb = operation_verb(method), *step = param_text(p, "step");
	_cleanup_free_ char *why = errno_text(p);

	return xasprintf("%s of %s failed at step %s: %s (%s); %s%s", verb ? verb : method,
			 param_text(p, "device"), step, why, param_text(p, "message"),
			 undo_text(step), batch_undo_text(method));
}

static char *err_timeout(const char *method, json_object *p)
{
	const char *verb = operation_verb(method), *step = param_text(p, "step");
	const char *dev = param_text(p, "device");

	/* A bind that never came was rolled back before the answer; a write
	 * still inside the kernel could not be. */
	if (streq(step, "reset"))
		return xasprintf("reset of %s timed out: the kernel's reset did not return within "
				 "%s s; hostdevd answers DeviceBusy for %s until it does (its "
				 "driver and state are left as they were)",
				 dev, param_text(p, "seconds"), dev);
	if (streq(step, "confirm_bind"))
		return xasprintf("%s of %s timed out: no driver bound within %s s; hostdevd undid "
				 "the steps (if that failed, the device is in state error: see "
				 "'hostdevctl show %s')%s",
				 verb ? verb : method, dev, param_text(p, "seconds"), dev,
				 batch_undo_text(method));
	return xasprintf("%s of %s timed out: the %s write did not return within %s s; the "
			 "device is left in state error until the kernel finishes the write and "
			 "hostdevd re-reads it and rolls it back ('hostdevctl watch' shows when; "
			 "whatever uses the device may be holding it)%s",
			 verb ? verb : method, dev, step, param_text(p, "seconds"),
			 batch_undo_text(method));
}

static char *err_device_in_use(const char *method, json_object *p)
{
	if (streq(method, "io.hostdevd.Reset"))
		return xasprintf("%s is in use by driver %s, domain %s; only its owner may reset "
				 "it (hostdevctl reset %s --owner %s/%s)",
				 param_text(p, "device"), param_text(p, "driver"),
				 param_text(p, "domain"), param_text(p, "device"),
				 param_text(p, "driver"), param_text(p, "domain"));
	return xasprintf("%s is in use by driver %s, domain %s; it stays theirs until they "
			 "release it ('hostdevctl claims' lists who holds what)",
			 param_text(p, "device"), param_text(p, "driver"), param_text(p, "domain"));
}

static char *err_group_not_viable(const char *method, json_object *p)
{
	_cleanup_free_ char *members = join_strings(get_array(p, "members"));

	return xasprintf("cannot claim %s: IOMMU group %s is not viable, as these members are "
			 "not on a stub driver: %s; detach them first, or claim the whole group "
			 "with --whole-group",
			 param_text(p, "device"), param_text(p, "group"), members);
}

static char *err_policy_refused(const char *method, json_object *p)
{
	const struct operation *op = find_operation(method);
	_cleanup_free_ char *where =
		json_object_object_get_ex(p, "file", NULL)
			? xasprintf("rule %s at %s:%s", param_text(p, "rule"), param_text(p, "file"),
				    param_text(p, "line"))
			: xstrdup("its default");

	return xasprintf("hostdevd's policy does not let you %s %s: %s (%s; 'hostdevctl "
			 "policy explain %s' says why)",
			 op ? op->verb : "use", param_text(p, "device"), param_text(p, "reason"),
			 where, param_text(p, "device"));
}

static char *err_state_unavailable(const char *method, json_object *p)
{
	const struct operation *op = find_operation(method);

	return xasprintf("hostdevd could not save its state, so it did not %s %s: %s; free space "
			 "in or make writable its state directory (--state-dir) and try again",
			 op ? op->verb : "act on", param_text(p, "device"),
			 param_text(p, "message"));
}

static char *err_not_claimed(const char *method, json_object *p)
{
	return xasprintf("%s is not claimed by that owner, so nothing was released "
			 "('hostdevctl claims' lists who holds what)",
			 param_text(p, "device"));
}

/* Errors without a sentence of their own: name every parameter. */
static char *err_generic(const char *method, json_object *p)
{
	char *params = NULL;

	if (p && json_object_is_type(p, json_type_object)) {
		json_object_object_foreach(p, key, val)
		{
			(void)val;
			char *next = xasprintf("%s%s%s: %s", params ? params : "", params ? ", " : "",
					       key, param_text(p, key));

			free(params);
			params = next;
		}
	}
	if (!params)
		return xasprintf("%s failed", method);
	char *r = xasprintf("%s failed: %s", method, params);

	free(params);
	return r;
}

static const struct {
	const char *name;
	char *(*explain)(const char *method, json_object *params);
} error_sentences[] = {
	{ "io.hostdevd.DeviceNotFound", err_device_not_found },
	{ "io.hostdevd.AmbiguousDevice", err_ambiguous },
	{ "io.hostdevd.PermissionDenied", err_permission_denied },
	{ "io.hostdevd.InvalidRequest", err_invalid_request },
	{ "io.hostdevd.RequestTooLarge", err_request_too_large },
	{ "io.hostdevd.WatcherTooSlow", err_watcher_too_slow },
	{ "io.hostdevd.DeviceBusy", err_device_busy },
	{ "io.hostdevd.HostCritical", err_host_critical },
	{ "io.hostdevd.InvalidDeviceState", err_invalid_state },
	{ "io.hostdevd.OperationFailed", err_operation_failed },
	{ "io.hostdevd.Timeout", err_timeout },
	{ "io.hostdevd.DeviceInUse", err_device_in_use },
	{ "io.hostdevd.GroupNotViable", err_group_not_viable },
	{ "io.hostdevd.NotClaimed", err_not_claimed },
	{ "io.hostdevd.StateUnavailable", err_state_unavailable },
	{ "io.hostdevd.PolicyRefused", err_policy_refused },
	{ "io.hostdevd.PolicyInvalid", err_policy_invalid },
	{ "org.varlink.service.InvalidParameter", err_invalid_parameter },
	{ "org.varlink.service.MethodNotFound", err_method_not_found },
	{ "org.varlink.service.MethodNotImplemented", err_method_not_found },
	{ "org.varlink.service.InterfaceNotFound", err_interface_not_found },
	{ "org.varlink.service.PermissionDenied", err_permission_denied },
};

char *format_varlink_error(const char *method, const char *error, json_object *params)
{
	char *(*explain)(const char *, json_object *) = err_generic;
	_cleanup_free_ char *sentence = NULL, *full = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(error_sentences); i++)
		if (streq(error_sentences[i].name, error)) {
			explain = error_sentences[i].explain;
			break;
		}
	sentence = explain(method, params);
	full = xasprintf("%s (%s)", sentence, error);
	return sanitized(full);
}
