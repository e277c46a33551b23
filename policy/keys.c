/* The match keys (keys.h): each key's small functions, the table, and what
 * reads a value, words a mismatch and numbers a value for the index
 * through the rows.  The wording of errors and mismatches is quoted by
 * tests and docs: change it there too. */
#include "policy/internal.h"
#include "common/log.h"
#include "common/util.h"
#include "state/bus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ON_ANY_BUS ((1u << HD_BUS__COUNT) - 1)
#define ON_PCI (1u << HD_BUS_PCI)
#define ON_USB (1u << HD_BUS_USB)

/* ---- what several keys share ------------------------------------------- */

static bool keep_string(struct loader *l, const config_setting_t *s, const struct key_input *in,
			union key_value *want)
{
	want->string = xstrdup(in->string);
	return true;
}

static bool keep_hex(struct loader *l, const config_setting_t *s, const struct key_input *in,
		     union key_value *want)
{
	want->hex.value = in->hex;
	want->hex.mask = 0xffffffffu;
	return true;
}

static bool keep_number(struct loader *l, const config_setting_t *s, const struct key_input *in,
			union key_value *want)
{
	want->number = in->number;
	return true;
}

static void free_string(union key_value *want)
{
	free(want->string);
}

/* address and port are both the device's id. */
static bool index_dev_id(const struct device *dev, uint64_t *num)
{
	/* A record in the device table carries its id's hash already. */
	*num = dev->id_hash ? dev->id_hash : str_hash(dev->id);
	return true;
}

/* ---- bus ---------------------------------------------------------------- */

static bool parse_bus(struct loader *l, const config_setting_t *s, const struct key_input *in,
		      union key_value *want)
{
	int bus = hd_bus_from_name(in->string);

	if (bus < 0)
		return loader_bad(l, s, "'bus' is \"pci\" or \"usb\", not \"%s\"", in->string);
	want->number = bus;
	return true;
}

static void miss_bus(const union key_value *want, const struct device *dev, char *why,
		     size_t size)
{
	snprintf(why, size, "bus is %s, not %s", hd_bus_name(dev->bus),
		 hd_bus_name((enum hd_bus)want->number));
}

/* ---- address, port ------------------------------------------------------ */

static void miss_address(const union key_value *want, const struct device *dev, char *why,
			 size_t size)
{
	snprintf(why, size, "address is %s, not %s", dev->id, want->string);
}

static void miss_port(const union key_value *want, const struct device *dev, char *why,
		      size_t size)
{
	snprintf(why, size, "port is %s, not %s", dev ? dev->id : "none (PCI)", want->string);
}

/* ---- vendor, device, subsystem ids -------------------------------------- */

static void miss_vendor(const union key_value *want, const struct device *dev, char *why,
			size_t size)
{
	snprintf(why, size, "vendor is %04x, not %04x", dev->vendor, want->hex.value);
}

static void miss_device(const union key_value *want, const struct device *dev, char *why,
			size_t size)
{
	snprintf(why, size, "device is %04x, not %04x", dev->product, want->hex.value);
}

static void miss_subvendor(const union key_value *want, const struct device *dev, char *why,
			   size_t size)
{
	snprintf(why, size, "subsystem vendor differs (want %04x)", want->hex.value);
}

static void miss_subdevice(const union key_value *want, const struct device *dev, char *why,
			   size_t size)
{
	snprintf(why, size, "subsystem device differs (want %04x)", want->hex.value);
}

/* ---- class -------------------------------------------------------------- */

/* class "03" (class), "0300" (class and subclass), "030000" (and
 * prog-if): the digits given are what must match. */
static bool parse_class(struct loader *l, const config_setting_t *s, const struct key_input *in,
			union key_value *want)
{
	unsigned shift = 24 - 4 * in->digits;

	if (in->digits % 2)
		return loader_bad(l, s, "'class' takes 2, 4 or 6 hex digits, not %u", in->digits);
	want->hex.mask = 0xffffffu >> shift << shift;
	want->hex.value = in->hex << shift;
	return true;
}

static void miss_class(const union key_value *want, const struct device *dev, char *why,
		       size_t size)
{
	snprintf(why, size, "class is %06x, not %06x under mask %06x",
		 dev ? dev->pci.class_code : 0, want->hex.value, want->hex.mask);
}

/* Filed by the class byte, which 2, 4 or 6 digits always cover. */
static bool index_class(const union key_value *want, uint64_t *num)
{
	*num = want->hex.value >> 16 & 0xff;
	return want->hex.mask >> 16 == 0xff;
}

static bool index_dev_class(const struct device *dev, uint64_t *num)
{
	*num = dev->pci.class_code >> 16 & 0xff;
	return true;
}

/* ---- driver, iommu_group, numa_node ------------------------------------- */

static void miss_driver(const union key_value *want, const struct device *dev, char *why,
			size_t size)
{
	snprintf(why, size, "driver is %s, not %s", dev->driver ? dev->driver : "none",
		 want->string);
}

static void miss_group(const union key_value *want, const struct device *dev, char *why,
		       size_t size)
{
	snprintf(why, size, "IOMMU group is %d, not %d", dev ? dev->pci.iommu_group : -1,
		 want->number);
}

static void miss_numa(const union key_value *want, const struct device *dev, char *why,
		      size_t size)
{
	snprintf(why, size, "NUMA node is %d, not %d", dev->numa_node, want->number);
}

/* ---- serial, interface_class -------------------------------------------- */

static void miss_serial(const union key_value *want, const struct device *dev, char *why,
			size_t size)
{
	snprintf(why, size, "serial is %s, not %s",
		 dev && dev->usb.serial ? dev->usb.serial : "none", want->string);
}

static bool match_ifclass(const union key_value *want, const struct device *dev)
{
	for (size_t i = 0; i < dev->usb.n_ifaces; i++)
		if (dev->usb.ifaces[i].cls == want->hex.value)
			return true;
	return false;
}

static void miss_ifclass(const union key_value *want, const struct device *dev, char *why,
			 size_t size)
{
	snprintf(why, size, "no interface of class %02x", want->hex.value);
}

/* ---- the table ----------------------------------------------------------
 *
 * The order is the explanation's: a rule's first condition in this order
 * that the device does not meet is the one policy_explain names. */

/* ---- as udev matches ------------------------------------------------------
 *
 * What sysfs shows at `add`, as udev reads it (ATTR{} drops the trailing
 * newline): PCI ids as "0x%04x", the class as "0x%06x"; USB ids as "%04x";
 * the kernel's name of a device (KERNEL) is hostdevd's id for it. */

#define UDEV_ON_BOTH(form) .udev = { [HD_BUS_PCI] = form, [HD_BUS_USB] = form }
#define UDEV_PCI(form) .udev = { [HD_BUS_PCI] = form }
#define UDEV_USB(form) .udev = { [HD_BUS_USB] = form }
#define UDEV_BUS_FORM { .kind = UDEV_BUS }
#define UDEV_NAME { .kind = UDEV_NAME, .key = "KERNEL" }
#define UDEV_ATTR_STRING(attr) { .kind = UDEV_STRING, .key = "ATTR{" attr "}" }
#define UDEV_PCI_HEX(attr, n) { .kind = UDEV_HEX, .key = "ATTR{" attr "}", .prefix = "0x", .digits = (n) }
#define UDEV_USB_HEX(attr) { .kind = UDEV_HEX, .key = "ATTR{" attr "}", .prefix = "", .digits = 4 }

#define STRING .type = CONFIG_TYPE_STRING
#define HEX(digits) .type = CONFIG_TYPE_STRING, .hex_digits = (digits)
#define NUMBER .type = CONFIG_TYPE_INT
/* A member whose type is not the one the row reads it as (a vendor become
 * uint16_t, say) has no _Generic association: the build stops at the row. */
#define FIELD_IS_U32(e) _Generic((e), uint32_t: 0)
#define FIELD_IS_INT(e) _Generic((e), int: 0, enum hd_bus: 0)
#define FIELD_IS_STRING(e) _Generic((e), char *: 0, const char *: 0)
#define FIELD(type, member)                                                                     \
	.field = FIELD_##type,                                                                  \
	.offset = offsetof(struct device, member) + FIELD_IS_##type(((struct device *)0)->member)

const struct match_key match_keys[] = {
	{ .name = "bus", .buses = ON_ANY_BUS, STRING, .parse = parse_bus,
	  FIELD(INT, bus), .miss = miss_bus, .rank = KEY_RANK_BUS,
	  UDEV_ON_BOTH(UDEV_BUS_FORM) },
	{ .name = "address", .buses = ON_ANY_BUS, STRING, .parse = keep_string,
	  .release = free_string, FIELD(STRING, id), .miss = miss_address,
	  .rank = KEY_RANK_ID, .dev_index = index_dev_id, .lifts_host_critical = true,
	  UDEV_ON_BOTH(UDEV_NAME) },
	{ .name = "vendor", .buses = ON_ANY_BUS, HEX(4), .parse = keep_hex,
	  FIELD(U32, vendor), .miss = miss_vendor, .rank = KEY_RANK_MODEL,
	  .udev = { [HD_BUS_PCI] = UDEV_PCI_HEX("vendor", 4),
		    [HD_BUS_USB] = UDEV_USB_HEX("idVendor") } },
	{ .name = "device", .buses = ON_ANY_BUS, HEX(4), .parse = keep_hex,
	  FIELD(U32, product), .miss = miss_device, .rank = KEY_RANK_MODEL,
	  .udev = { [HD_BUS_PCI] = UDEV_PCI_HEX("device", 4),
		    [HD_BUS_USB] = UDEV_USB_HEX("idProduct") } },
	{ .name = "subsystem_vendor", .buses = ON_PCI, HEX(4), .parse = keep_hex,
	  FIELD(U32, pci.subsystem_vendor), .miss = miss_subvendor,
	  UDEV_PCI(UDEV_PCI_HEX("subsystem_vendor", 4)) },
	{ .name = "subsystem_device", .buses = ON_PCI, HEX(4), .parse = keep_hex,
	  FIELD(U32, pci.subsystem_device), .miss = miss_subdevice,
	  UDEV_PCI(UDEV_PCI_HEX("subsystem_device", 4)) },
	{ .name = "class", .buses = ON_PCI, HEX(6), .parse = parse_class,
	  FIELD(U32, pci.class_code), .miss = miss_class,
	  .rank = KEY_RANK_CLASS, .want_index = index_class, .dev_index = index_dev_class,
	  UDEV_PCI(UDEV_PCI_HEX("class", 6)) },
	{ .name = "driver", .buses = ON_ANY_BUS, STRING, .parse = keep_string,
	  .release = free_string, FIELD(STRING, driver), .miss = miss_driver,
	  .rank = KEY_RANK_DRIVER,
	  .udev_never = "at 'add' no driver is bound yet (binding one is what the rules "
			"decide), and hostdevd matches the driver bound when it decides" },
	{ .name = "iommu_group", .buses = ON_PCI, NUMBER, .parse = keep_number,
	  FIELD(INT, pci.iommu_group), .miss = miss_group, .rank = KEY_RANK_GROUP,
	  .udev_never = "the IOMMU group is a link (iommu_group), not an attribute udev can "
			"match" },
	{ .name = "port", .buses = ON_USB, STRING, .parse = keep_string,
	  .release = free_string, FIELD(STRING, id), .miss = miss_port,
	  .rank = KEY_RANK_ID, .dev_index = index_dev_id, UDEV_USB(UDEV_NAME) },
	{ .name = "serial", .buses = ON_USB, STRING, .parse = keep_string,
	  .release = free_string, FIELD(STRING, usb.serial), .miss = miss_serial,
	  .rank = KEY_RANK_SERIAL, UDEV_USB(UDEV_ATTR_STRING("serial")) },
	{ .name = "interface_class", .buses = ON_USB, HEX(2), .parse = keep_hex,
	  .match = match_ifclass, .miss = miss_ifclass,
	  .udev_never = "a USB device's interfaces are added after the device's own 'add' "
			"event, which is the one the rules act on" },
	{ .name = "numa_node", .buses = ON_ANY_BUS, NUMBER, .parse = keep_number,
	  FIELD(INT, numa_node), .miss = miss_numa,
	  .udev_never = "hostdevd counts a device without a NUMA node (no numa_node "
			"attribute, a negative one, every USB device) as node -1, which no "
			"udev attribute match equals exactly" },
};

#undef UDEV_ON_BOTH
#undef UDEV_PCI
#undef UDEV_USB
#undef UDEV_BUS_FORM
#undef UDEV_NAME
#undef UDEV_ATTR_STRING
#undef UDEV_PCI_HEX
#undef UDEV_USB_HEX
#undef STRING
#undef HEX
#undef NUMBER
#undef FIELD
#undef FIELD_IS_U32
#undef FIELD_IS_INT
#undef FIELD_IS_STRING

const size_t match_key_count = ARRAY_SIZE(match_keys);

/* A rule's keys are a bit set (the index's buckets). */
_Static_assert(ARRAY_SIZE(match_keys) <= 32, "more match keys than bits in an unsigned");
/* FIELD_INT reads the bus as an int. */
_Static_assert(sizeof(enum hd_bus) == sizeof(int), "enum hd_bus is not an int");

/* ---- through the rows --------------------------------------------------- */

const struct match_key *match_key_find(const char *name)
{
	for (size_t i = 0; i < match_key_count; i++)
		if (streq(match_keys[i].name, name))
			return &match_keys[i];
	return NULL;
}

/* Hex ids are strings ("10de"), as lspci prints them: an int 0300 would be
 * read as octal by some, decimal by others. */
static bool read_hex(struct loader *l, const config_setting_t *s, unsigned digits_max,
		     struct key_input *in)
{
	const char *v;
	char *end;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return loader_bad(l, s, "'%s' must be up to %u hex digits in quotes (\"10de\")",
				  config_setting_name(s), digits_max);
	v = in->string = config_setting_get_string(s);
	in->digits = (unsigned)strlen(v);
	errno = 0;
	in->hex = (uint32_t)strtoul(v, &end, 16);
	/* Digits only: strtoul would also take "0x1", "+1" and " -1". */
	if (!*v || *end || errno || in->digits > digits_max ||
	    v[strspn(v, "0123456789abcdefABCDEF")])
		return loader_bad(l, s,
				  "'%s' must be up to %u hex digits in quotes (\"10de\"), not \"%s\"",
				  config_setting_name(s), digits_max, v);
	return true;
}

bool match_key_read(struct loader *l, const config_setting_t *s, const struct match_key *k,
		    union key_value *want)
{
	struct key_input in = { 0 };
	bool ok;

	switch (k->type) {
	case CONFIG_TYPE_STRING:
		ok = k->hex_digits ? read_hex(l, s, k->hex_digits, &in)
				   : loader_string(l, s, &in.string);
		break;
	case CONFIG_TYPE_INT:
		ok = loader_int(l, s, &in.number);
		break;
	default:
		fatal("policy: match key '%s' has a type no reader knows", k->name);
	}
	return ok && k->parse(l, s, &in, want);
}

bool match_key_want_index(const struct match_key *k, const union key_value *want, uint64_t *num)
{
	if (k->want_index)
		return k->want_index(want, num);
	switch (k->field) {
	case FIELD_U32:
		*num = want->hex.value;
		return want->hex.mask == 0xffffffffu;
	case FIELD_INT:
		*num = (uint32_t)want->number;
		return true;
	case FIELD_STRING:
		*num = str_hash(want->string);
		return true;
	default:
		return false;
	}
}

const char *conditions_miss(const struct condition *c, size_t n, const struct device *dev,
			    char *why, size_t size)
{
	for (const struct condition *end = c + n; c < end; c++) {
		bool on_bus = match_key_applies(c->key, dev);

		if (!on_bus || !match_key_matches(c->key, &c->want, dev)) {
			c->key->miss(&c->want, on_bus ? dev : NULL, why, size);
			return why;
		}
	}
	return NULL;
}

void conditions_free(struct condition *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (c[i].key->release)
			c[i].key->release(&c[i].want);
	free(c);
}

/* ---- as udev matches ---------------------------------------------------- */

bool udev_hex_pattern(uint32_t value, uint32_t mask, unsigned digits, const char *prefix,
		      char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	uint32_t shown = digits >= 8 ? 0xffffffffu : (1u << 4 * digits) - 1;
	size_t n = (size_t)snprintf(buf, size, "%s", prefix);

	if ((value & mask) & ~shown)
		return false;
	for (unsigned i = digits; i-- > 0;) {
		unsigned m = mask >> 4 * i & 0xf, v = value >> 4 * i & m;
		char cls[20];
		size_t k = 0;

		if (m == 0xf || m == 0) {
			cls[k++] = m ? hex[v] : '?';
		} else {
			cls[k++] = '[';
			for (unsigned d = 0; d < 16; d++)
				if ((d & m) == v)
					cls[k++] = hex[d];
			cls[k++] = ']';
		}
		cls[k] = '\0';
		n += (size_t)snprintf(buf + (n < size ? n : size), n < size ? size - n : 0, "%s", cls);
	}
	return n < size;
}

const char *udev_string_unsafe(const char *s, char *why, size_t size)
{
	/* Pattern characters (udev matches with fnmatch(3) and splits on
	 * '|'), the quote and backslash of its quoting, and the '$' and '%'
	 * of its substitutions: none has a form udev reads back as itself
	 * everywhere. */
	static const char special[] = "*?[]|\"\\$%";
	size_t len = strlen(s);

	if (!len) {
		snprintf(why, size, "is empty, which udev also reads as a missing attribute");
		return why;
	}
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c < 0x20 || *c > 0x7e) {
			snprintf(why, size, "holds byte 0x%02x: only printable ASCII is written", *c);
			return why;
		}
		if (strchr(special, *c)) {
			snprintf(why, size, "holds '%c', which udev reads as more than itself", *c);
			return why;
		}
	}
	/* udev ignores trailing blanks of an attribute, hostdevd any trailing
	 * blank of what it reads: a value with them is matched differently. */
	if (s[0] == ' ' || s[len - 1] == ' ') {
		snprintf(why, size, "begins or ends with a blank, which udev and sysfs readers trim");
		return why;
	}
	return NULL;
}

bool match_key_udev_possible(const struct condition *c, enum hd_bus bus)
{
	const char *s = c->want.string;

	return c->key->udev[bus].kind != UDEV_NAME ||
	       bus_desc(bus)->is_device_name(s, strlen(s));
}

bool match_key_udev(const struct condition *c, enum hd_bus bus, const char **key, char **value,
		    char *why, size_t size)
{
	const struct match_key *k = c->key;
	const struct udev_form *f = &k->udev[bus];
	char pattern[64], what[160];

	*key = f->key;
	*value = NULL;
	switch (f->kind) {
	case UDEV_BUS:
		return true;
	case UDEV_STRING:
	case UDEV_NAME:
		if (udev_string_unsafe(c->want.string, what, sizeof(what))) {
			snprintf(why, size, "'%s' %s", k->name, what);
			return false;
		}
		*value = xstrdup(c->want.string);
		return true;
	case UDEV_HEX:
		if (!udev_hex_pattern(c->want.hex.value, c->want.hex.mask, f->digits, f->prefix,
				      pattern, sizeof(pattern))) {
			snprintf(why, size, "'%s' %x has more digits than sysfs shows", k->name,
				 c->want.hex.value);
			return false;
		}
		*value = xstrdup(pattern);
		return true;
	default:
		snprintf(why, size, "'%s' cannot be a udev match: %s", k->name,
			 k->udev_never ? k->udev_never : "no form for this bus");
		return false;
	}
}
