/* The match keys (keys.h): each key's small functions, the table, and what
 * reads a value, words a mismatch and numbers a value for the index
 * through the rows.  The wording of errors and mismatches is quoted by
 * tests and docs: change it there too. */
#include "policy/internal.h"
#include "common/log.h"
#include "common/util.h"

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
	  FIELD(INT, bus), .miss = miss_bus, .rank = KEY_RANK_BUS },
	{ .name = "address", .buses = ON_ANY_BUS, STRING, .parse = keep_string,
	  .release = free_string, FIELD(STRING, id), .miss = miss_address,
	  .rank = KEY_RANK_ID, .dev_index = index_dev_id, .lifts_host_critical = true },
	{ .name = "vendor", .buses = ON_ANY_BUS, HEX(4), .parse = keep_hex,
	  FIELD(U32, vendor), .miss = miss_vendor, .rank = KEY_RANK_MODEL },
	{ .name = "device", .buses = ON_ANY_BUS, HEX(4), .parse = keep_hex,
	  FIELD(U32, product), .miss = miss_device, .rank = KEY_RANK_MODEL },
	{ .name = "subsystem_vendor", .buses = ON_PCI, HEX(4), .parse = keep_hex,
	  FIELD(U32, pci.subsystem_vendor), .miss = miss_subvendor },
	{ .name = "subsystem_device", .buses = ON_PCI, HEX(4), .parse = keep_hex,
	  FIELD(U32, pci.subsystem_device), .miss = miss_subdevice },
	{ .name = "class", .buses = ON_PCI, HEX(6), .parse = parse_class,
	  FIELD(U32, pci.class_code), .miss = miss_class,
	  .rank = KEY_RANK_CLASS, .want_index = index_class, .dev_index = index_dev_class },
	{ .name = "driver", .buses = ON_ANY_BUS, STRING, .parse = keep_string,
	  .release = free_string, FIELD(STRING, driver), .miss = miss_driver,
	  .rank = KEY_RANK_DRIVER },
	{ .name = "iommu_group", .buses = ON_PCI, NUMBER, .parse = keep_number,
	  FIELD(INT, pci.iommu_group), .miss = miss_group, .rank = KEY_RANK_GROUP },
	{ .name = "port", .buses = ON_USB, STRING, .parse = keep_string,
	  .release = free_string, FIELD(STRING, id), .miss = miss_port,
	  .rank = KEY_RANK_ID, .dev_index = index_dev_id },
	{ .name = "serial", .buses = ON_USB, STRING, .parse = keep_string,
	  .release = free_string, FIELD(STRING, usb.serial), .miss = miss_serial,
	  .rank = KEY_RANK_SERIAL },
	{ .name = "interface_class", .buses = ON_USB, HEX(2), .parse = keep_hex,
	  .match = match_ifclass, .miss = miss_ifclass },
	{ .name = "numa_node", .buses = ON_ANY_BUS, NUMBER, .parse = keep_number,
	  FIELD(INT, numa_node), .miss = miss_numa },
};

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
