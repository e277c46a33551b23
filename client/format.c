#include "client/format.h"
#include "common/errors.h"
#include "common/errtext.h"
#include "common/jsonget.h"
#include "common/util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#define NONE "-"

/* ---- typed access to untrusted replies (common/jsonget.h) ---- */
/* "yes", "no", or "-" when the field is missing or not a boolean. */
static const char *get_yes_no(json_object *obj, const char *key)
{
	json_object *v = json_get_typed(obj, key, json_type_boolean);

	if (!v)
		return NONE;
	return json_object_get_boolean(v) ? "yes" : "no";
}

static char *sanitized(const char *s)
{
	return text_sanitized(s, NONE);
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

	if (json_get_int(obj, key, &v))
		fprintf(out, "%-17s %" PRId64 "\n", label, v);
	else
		put_field(out, label, NONE);
}

static char *join_strings(json_object *array)
{
	return json_join_strings(array, NONE);
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
	return parse_hex_u32(json_get_str(obj, key), out);
}

const char *format_device_description(json_object *device)
{
	json_object *pci = json_get_obj(device, "pci"), *usb = json_get_obj(device, "usb");
	const char *s;
	uint32_t code;

	if (pci && hex_field(pci, "class", &code))
		return format_pci_class_name(code);
	if (usb) {
		if ((s = json_get_str(usb, "product_name")) && *s)
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
	json_object *pci = json_get_obj(dev, "pci"), *usb = json_get_obj(dev, "usb");
	const char *vendor = json_get_str(dev, "vendor"), *product = json_get_str(dev, "product");
	const char *cls = pci ? json_get_str(pci, "class") : json_get_str(usb, "device_class");
	int64_t group;

	cells[COL_ID] = sanitized(json_get_str(dev, "id"));
	cells[COL_BUS] = sanitized(json_get_str(dev, "bus"));
	cells[COL_IDS] = xasprintf("%s:%s", vendor ? vendor : "????", product ? product : "????");
	cells[COL_CLASS] = sanitized(cls);
	cells[COL_DRIVER] = sanitized(json_get_str(dev, "driver"));
	cells[COL_GROUP] = json_get_int(pci, "iommu_group", &group) ? xasprintf("%" PRId64, group)
							      : xstrdup(NONE);
	cells[COL_STATE] = sanitized(json_get_str(dev, "state"));
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
	const char *x = json_get_str(obj, a), *y = json_get_str(obj, b);
	_cleanup_free_ char *pair = xasprintf("%s:%s", x ? x : "????", y ? y : "????");

	put_field(out, label, pair);
}

static void show_sriov(FILE *out, json_object *pci)
{
	int64_t total, num;
	_cleanup_free_ char *vfs = NULL;

	if (!json_get_int(pci, "sriov_totalvfs", &total)) {
		put_field(out, "sr-iov:", NONE);
		return;
	}
	if (!json_get_int(pci, "sriov_numvfs", &num))
		num = 0;
	vfs = xasprintf("%" PRId64 " of %" PRId64 " virtual functions enabled", num, total);
	put_field(out, "sr-iov:", vfs);
}

static void show_pci(FILE *out, json_object *pci)
{
	const char *cls = json_get_str(pci, "class");
	uint32_t code;
	_cleanup_free_ char *class_line = NULL;

	show_hex_pair(out, "subsystem:", pci, "subsystem_vendor", "subsystem_device");
	if (cls && parse_hex_u32(cls, &code))
		class_line = xasprintf("%s (%s)", cls, format_pci_class_name(code));
	put_field(out, "class:", class_line ? class_line : cls);
	put_field(out, "revision:", json_get_str(pci, "revision"));
	put_field(out, "driver override:", json_get_str(pci, "driver_override"));
	put_int_field(out, pci, "iommu_group", "iommu group:");
	put_list(out, "group members:", json_get_array(pci, "iommu_group_members"));
	put_field(out, "physfn:", json_get_str(pci, "physfn"));
	put_list(out, "virtfns:", json_get_array(pci, "virtfns"));
	show_sriov(out, pci);
	put_list(out, "reset methods:", json_get_array(pci, "reset_methods"));
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
		const char *cls = json_get_str(it, "class");
		uint32_t code;
		const char *name = cls && parse_hex_u32(cls, &code) ? format_usb_class_name(code)
								    : NULL;
		_cleanup_free_ char *line = xasprintf(
			"  %s  class %s/%s/%s%s%s%s  driver %s", or_none(json_get_str(it, "id")),
			or_none(cls), or_none(json_get_str(it, "subclass")),
			or_none(json_get_str(it, "protocol")), name ? " (" : "", name ? name : "",
			name ? ")" : "", or_none(json_get_str(it, "driver")));
		_cleanup_free_ char *clean = sanitized(line);

		fprintf(out, "%s\n", clean);
	}
}

static void show_usb(FILE *out, json_object *usb)
{
	int64_t busnum, devnum;
	_cleanup_free_ char *address = NULL, *speed = NULL;
	const char *s;

	if (json_get_int(usb, "busnum", &busnum) && json_get_int(usb, "devnum", &devnum))
		address = xasprintf("bus %" PRId64 " device %" PRId64 " (usb:%" PRId64
				    ".%" PRId64 ")",
				    busnum, devnum, busnum, devnum);
	put_field(out, "usb address:", address);
	put_field(out, "device class:", json_get_str(usb, "device_class"));
	put_field(out, "bcd device:", json_get_str(usb, "bcd_device"));
	put_field(out, "manufacturer:", json_get_str(usb, "manufacturer"));
	put_field(out, "product:", json_get_str(usb, "product_name"));
	put_field(out, "serial:", json_get_str(usb, "serial"));
	if ((s = json_get_str(usb, "speed")))
		speed = xasprintf("%s Mbit/s", s);
	put_field(out, "speed:", speed);
	put_field(out, "authorized:", get_yes_no(usb, "authorized"));
	put_field(out, "root hub:", get_yes_no(usb, "root_hub"));
	show_usb_interfaces(out, json_get_array(usb, "interfaces"));
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
	json_object *pci = json_get_obj(device, "pci"), *usb = json_get_obj(device, "usb");

	put_field(out, "id:", json_get_str(device, "id"));
	put_field(out, "bus:", json_get_str(device, "bus"));
	put_field(out, "name:", format_device_description(device));
	put_field(out, "state:", json_get_str(device, "state"));
	show_hex_pair(out, "vendor:product:", device, "vendor", "product");
	put_field(out, "driver:", json_get_str(device, "driver"));
	/* Only while detached: the driver Reattach will bring back. */
	if (json_get_str(device, "original_driver"))
		put_field(out, "original driver:", json_get_str(device, "original_driver"));
	if (json_get_obj(device, "claim")) {
		_cleanup_free_ char *owner = owner_text(json_get_obj(device, "claim"));

		put_field(out, "claimed by:", owner);
	}
	put_field(out, "syspath:", json_get_str(device, "syspath"));
	put_field(out, "parent:", json_get_str(device, "parent"));
	put_list(out, "children:", json_get_array(device, "children"));
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
	json_object *ifaces = json_get_array(json_get_obj(device, "usb"), "interfaces");
	size_t n = ifaces ? json_object_array_length(ifaces) : 0;

	if (!iface_id)
		return json_get_str(device, "driver");
	for (size_t i = 0; i < n; i++) {
		json_object *it = json_object_array_get_idx(ifaces, i);

		if (streq(json_get_str(it, "id"), iface_id))
			return json_get_str(it, "driver");
	}
	return NULL;
}

static char *event_line(json_object *event)
{
	json_object *device = json_get_obj(event, "device");
	const char *iface = json_get_str(event, "interface");
	_cleanup_free_ char *iface_part = iface ? xasprintf(" interface=%s", iface) : NULL;

	return xasprintf("%s %s%s driver=%s state=%s %s:%s %s", or_none(json_get_str(event, "event")),
			 or_none(json_get_str(event, "id")), iface_part ? iface_part : "",
			 or_none(event_driver(device, iface)), or_none(json_get_str(device, "state")),
			 or_none(json_get_str(device, "vendor")), or_none(json_get_str(device, "product")),
			 format_device_description(device));
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

static void status_devices(FILE *out, json_object *counts)
{
	static const char *const keys[] = { "total", "pci", "usb", "host", "detached" };
	int64_t v[ARRAY_SIZE(keys)];
	_cleanup_free_ char *line = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!json_get_int(counts, keys[i], &v[i])) {
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


/* A USB id ("1-2.3", "usb1") rather than a PCI address. */
static bool is_usb_id(const char *id)
{
	return id && (strchr(id, '-') || strncmp(id, "usb", 3) == 0);
}

void format_claim_result(FILE *out, json_object *reply)
{
	json_object *claims = json_get_array(reply, "claims");
	size_t n = array_rows(claims);

	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(claims, i);
		json_object *managed = json_get_typed(e, "managed", json_type_boolean);
		_cleanup_free_ char *owner = owner_text(json_get_obj(e, "owner")), *line = NULL;
		json_object *unbound = json_get_typed(e, "unbound_interfaces", json_type_array);
		const char *how = unbound ? " (interface drivers unbound: at release they are "
					    "bound again)"
				  : !managed || is_usb_id(json_get_str(e, "device")) ? ""
				  : json_object_get_boolean(managed)
					  ? " (managed: at release it goes back to its host driver)"
					  : " (unmanaged: at release it stays on its stub)";

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
