/* The match keys of a rule, as one table (keys.c): a row per key with
 * everything about it — its name in a file, the buses it applies to, how
 * its value is written and read, how it is matched against a device, the
 * words for a mismatch, and how the index files a rule under it.  The
 * loader, the decisions, the explanations, --check-policy and the index
 * all go through the rows; none of them names a key.  Adding a key is a
 * row and its small functions in keys.c. */
#pragma once

#include "common/util.h"
#include "state/device.h"

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct loader;

/* What a rule wants of one key, in the shape the key keeps it. */
union key_value {
	struct {
		uint32_t value, mask; /* a whole id has every bit of the mask */
	} hex;
	int number;     /* a number, or an enum read from its name */
	char *string;   /* owned: the row's release frees it */
};

/* A value as the file wrote it, once its libconfig type (and, for a hex
 * id, its digits) passed: what a row's parse refines. */
struct key_input {
	const char *string; /* CONFIG_TYPE_STRING, hex ids included */
	uint32_t hex;       /* a hex id's value */
	unsigned digits;    /* and how many digits it was written with */
	int number;         /* CONFIG_TYPE_INT */
};

/* The field of struct device a key compares with the rule's value, by its
 * type.  Data rather than a function per key: a decision tries thousands
 * of conditions, and a call through a pointer whose target changes from
 * one condition to the next is mispredicted, which made trying every rule
 * twice as slow. */
enum key_field {
	FIELD_NONE = 0, /* not one field: the row's match() decides */
	FIELD_U32,      /* uint32_t, under the value's mask */
	FIELD_INT,      /* int, or an enum */
	FIELD_STRING,   /* a string, NULL when the device has none */
};

/* How few devices one value of a key picks, fewest first.  The index files
 * a rule under all of its keys of the best rank it has, their values
 * together: a rule naming vendor and device is filed under the pair. */
enum key_rank {
	KEY_UNINDEXED = 0, /* never filed under: the rule may still be, under another key */
	KEY_RANK_ID,       /* the device's id: address, or a USB port path */
	KEY_RANK_SERIAL,
	KEY_RANK_MODEL,    /* vendor, device */
	KEY_RANK_GROUP,
	KEY_RANK_CLASS,
	KEY_RANK_DRIVER,
	KEY_RANK_BUS,
};

/* How a key is written as a udev match on a device's `add` event
 * (policy/udevgen.c), for one bus.  At `add` only what the kernel set up
 * before announcing the device is there: its name, its subsystem and its
 * config-space or descriptor attributes; no driver is bound, a USB device's
 * interfaces are not yet added. */
enum udev_kind {
	UDEV_NEVER = 0, /* no exact udev match: match_key.udev_never says why */
	UDEV_BUS,       /* narrows the rule to one bus: the bus's own matches */
	UDEV_STRING,    /* the value itself, refused where udev would read it
			 * as a pattern or could not hold it */
	UDEV_NAME,      /* as UDEV_STRING, the device's kernel name: a value that
			 * is no name of the bus's devices matches none of them */
	UDEV_HEX,       /* the value as sysfs prints it, under the rule's mask */
};

struct udev_form {
	enum udev_kind kind;
	const char *key;    /* "KERNEL", "ATTR{idVendor}" */
	const char *prefix; /* UDEV_HEX: what sysfs prints before the digits */
	unsigned digits;    /* UDEV_HEX: how many digits sysfs prints */
};

struct match_key {
	/* As written in `match = { ... }`, and in --check-policy's lines. */
	const char *name;
	/* A bit per enum hd_bus: a device on another bus never matches, and
	 * its fields are not read. */
	unsigned buses;
	/* The value's libconfig type (CONFIG_TYPE_STRING or _INT), and for a
	 * hex id in quotes its most digits (0: not a hex id). */
	int type;
	unsigned hex_digits;
	/* What the type and digits leave to the key (a bus's name, a class's
	 * even digits); false with the error recorded in l. */
	bool (*parse)(struct loader *l, const config_setting_t *s, const struct key_input *in,
		      union key_value *want);
	void (*release)(union key_value *want); /* NULL: nothing to free */
	/* How it matches: the device's field of that type at that offset
	 * equals the rule's value, or for FIELD_NONE, match() says so. */
	enum key_field field;
	size_t offset;
	bool (*match)(const union key_value *want, const struct device *dev);
	/* Why it does not match, for policy_explain.  dev is NULL when the
	 * device is on another bus: it has no value for this key. */
	void (*miss)(const union key_value *want, const struct device *dev, char *why,
		     size_t size);
	/* The index: the key's rank, and the numbers a rule and a device are
	 * filed and looked up under.  Unless the row says otherwise they are
	 * the field's value (a string's hash); a rule's value under a partial
	 * mask is not filed, a device without the field is not looked up.
	 * Whenever the key matches, the two numbers must be equal. */
	enum key_rank rank;
	bool (*want_index)(const union key_value *want, uint64_t *num);
	bool (*dev_index)(const struct device *dev, uint64_t *num);
	/* May be a rule's only key when the rule says host_critical = true:
	 * it names one device, never a kind of device (SPEC). */
	bool lifts_host_critical;
	/* As a udev match, per bus it applies to; and when it has none, why
	 * (a sentence, after "'key' cannot be a udev match: "). */
	struct udev_form udev[HD_BUS__COUNT];
	const char *udev_never;
};

/* In the order an explanation checks them and --check-policy lists them. */
extern const struct match_key match_keys[];
extern const size_t match_key_count;

/* One condition of a rule: a key and what it wants. */
struct condition {
	const struct match_key *key;
	union key_value want;
};

/* The row named `name` exactly, or NULL. */
const struct match_key *match_key_find(const char *name);

/* Reads setting s as key k's value: its type, its digits, then k's parse.
 * false with the error, naming the key, recorded in l. */
bool match_key_read(struct loader *l, const config_setting_t *s, const struct match_key *k,
		    union key_value *want);

/* A row's bit in a set of keys (its position in the table). */
static inline unsigned match_key_bit(const struct match_key *k)
{
	return 1u << (k - match_keys);
}

/* The one check of a device's bus against a key's: the rows say which
 * buses they are about, nothing else asks. */
static inline bool match_key_applies(const struct match_key *k, const struct device *dev)
{
	return k->buses & 1u << dev->bus;
}

/* A device's field as the type the row names, whatever the compiler knows
 * of struct device: memcpy is one load. */
static inline uint32_t field_u32(const struct device *dev, size_t offset)
{
	uint32_t v;

	memcpy(&v, (const char *)dev + offset, sizeof(v));
	return v;
}

static inline int field_int(const struct device *dev, size_t offset)
{
	int v;

	memcpy(&v, (const char *)dev + offset, sizeof(v));
	return v;
}

static inline const char *field_string(const struct device *dev, size_t offset)
{
	const char *v;

	memcpy(&v, (const char *)dev + offset, sizeof(v));
	return v;
}

/* Whether key k matches dev, which is on one of its buses. */
static inline bool match_key_matches(const struct match_key *k, const union key_value *want,
				     const struct device *dev)
{
	switch (k->field) {
	case FIELD_U32:
		return (field_u32(dev, k->offset) & want->hex.mask) == want->hex.value;
	case FIELD_INT:
		return field_int(dev, k->offset) == want->number;
	case FIELD_STRING:
		return streq(field_string(dev, k->offset), want->string);
	default:
		return k->match(want, dev);
	}
}

/* The number the index files a rule's value under; false: not filed. */
bool match_key_want_index(const struct match_key *k, const union key_value *want, uint64_t *num);

/* The number the index looks dev up under; false: it has none.  dev is on
 * one of the key's buses. */
static inline bool match_key_dev_index(const struct match_key *k, const struct device *dev,
				       uint64_t *num)
{
	const char *s;

	if (k->dev_index)
		return k->dev_index(dev, num);
	switch (k->field) {
	case FIELD_U32:
		*num = field_u32(dev, k->offset);
		return true;
	case FIELD_INT:
		*num = (uint32_t)field_int(dev, k->offset);
		return true;
	case FIELD_STRING:
		s = field_string(dev, k->offset);
		*num = s ? str_hash(s) : 0;
		return s;
	default:
		return false;
	}
}

/* Condition c as a udev match for a device on bus (one of its key's):
 * its key ("ATTR{vendor}") in *key and its value, a pattern as written
 * between the quotes, in a new *value; NULL for UDEV_BUS (the bus's own
 * matches say it).  false with why ("'serial' holds '*', which udev reads
 * as a pattern") when the condition has no exact udev match. */
bool match_key_udev(const struct condition *c, enum hd_bus bus, const char **key, char **value,
		    char *why, size_t size);
/* Whether some device of bus could meet condition c as far as its udev
 * form tells (an address in the PCI form names no USB device). */
bool match_key_udev_possible(const struct condition *c, enum hd_bus bus);
/* value under mask as a udev pattern of `digits` lower-case hex digits
 * after prefix, as sysfs prints it: a digit the mask covers whole is
 * itself, one it ignores is '?', one it covers in part is the class of
 * the digits that fit ("[02468ace]": the low bit must be 0).  false when
 * value has bits that `digits` digits cannot show (no device could match
 * what it would write). */
bool udev_hex_pattern(uint32_t value, uint32_t mask, unsigned digits, const char *prefix,
		      char *buf, size_t size);
/* Why s cannot be written as an exact udev match or value (a character udev
 * reads as a pattern, a quote, a backslash, a byte out of printable ASCII,
 * an empty value or blanks at either end), in words; NULL when it can. */
const char *udev_string_unsafe(const char *s, char *why, size_t size);

/* Whether dev meets all n conditions.  Inline: a decision runs it for
 * every candidate rule. */
static inline bool conditions_met(const struct condition *c, size_t n, const struct device *dev)
{
	for (const struct condition *end = c + n; c < end; c++)
		if (!match_key_applies(c->key, dev) || !match_key_matches(c->key, &c->want, dev))
			return false;
	return true;
}

/* The first of n conditions dev does not meet, in words written to why;
 * NULL when it meets them all. */
const char *conditions_miss(const struct condition *c, size_t n, const struct device *dev,
			    char *why, size_t size);
void conditions_free(struct condition *c, size_t n);
