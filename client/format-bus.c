/* The rows of client/format-bus.h: each bus's object in a Device, as
 * hostdevctl prints it.  Adding a bus is its functions here, its row and a
 * line in format_buses. */
#include "client/format-bus.h"
#include "client/format.h"
#include "common/jsonget.h"
#include "common/util.h"

#include <inttypes.h>
#include <string.h>

struct class_name {
	uint32_t code;
	const char *name;
};

static const char *class_lookup(const struct class_name *table, size_t n, uint32_t code)
{
	for (size_t i = 0; i < n; i++)
		if (table[i].code == code)
			return table[i].name;
	return NULL;
}

static bool hex_field(json_object *obj, const char *key, uint32_t *out)
{
	return parse_hex_u32(json_get_str(obj, key), out);
}

/* ---- PCI ---- */

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

static const char *pci_describe(json_object *pci)
{
	uint32_t code;

	return hex_field(pci, "class", &code) ? format_pci_class_name(code) : NULL;
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

/* DOMAIN:BUS:DEVICE.FUNCTION in hex ("0000:03:00.0"), as the daemon writes
 * them. */
static bool pci_is_id(const char *id)
{
	static const char hex[] = "0123456789abcdefABCDEF";
	size_t domain = strspn(id, hex);
	const char *p = id + domain;

	return domain >= 4 && strlen(p) == 8 && p[0] == ':' && strspn(p + 1, hex) >= 2 &&
	       p[3] == ':' && strspn(p + 4, hex) >= 2 && p[6] == '.' && p[7] >= '0' && p[7] <= '7';
}

static const struct format_bus format_pci = {
	.key = "pci",
	.class_member = "class",
	.group_member = "iommu_group",
	.describe = pci_describe,
	.show = show_pci,
	.is_id = pci_is_id,
	.managed_release = "goes back to its host driver",
	.unmanaged_release = "stays on its stub",
};

/* ---- USB ---- */

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

const char *format_usb_class_name(uint32_t usb_class)
{
	return class_lookup(usb_class_names, ARRAY_SIZE(usb_class_names), usb_class);
}

/* The device's own product string names it better than its class does. */
static const char *usb_describe(json_object *usb)
{
	const char *s = json_get_str(usb, "product_name");
	uint32_t code;

	if (s && *s)
		return s;
	return hex_field(usb, "device_class", &code) ? format_usb_class_name(code) : NULL;
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

/* A port path ("1-2.3") or a root hub ("usb1"). */
static bool usb_is_id(const char *id)
{
	return strchr(id, '-') || strncmp(id, "usb", 3) == 0;
}

static const struct format_bus format_usb = {
	.key = "usb",
	.class_member = "device_class",
	.parts_member = "interfaces",
	.describe = usb_describe,
	.show = show_usb,
	.is_id = usb_is_id,
};

const struct format_bus *const format_buses[] = { &format_pci, &format_usb, NULL };
