/* The table of match keys (policy/keys.c): every row complete, every key
 * read by its own row (a value of the wrong type is refused with that
 * key's name, a name the table does not know is "unknown match key"), and
 * every key matched, explained and indexed as the docs say. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/util.h"
#include "tests/common/rmtree.h"
#include "policy/keys.h"
#include "policy/policy.h"
#include "tests/unit/testdev.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_policy_keys.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(rmtree(dir), 0);
	return 0;
}

/* Devices that fit every sample value below (FIT), or none (UNFIT). */
enum sample_device { PCI_FIT, PCI_UNFIT, USB_FIT, USB_UNFIT };

/* One key as a person writes it, and what the daemon must make of it. */
struct key_case {
	const char *name;
	const char *value;      /* valid, as written in the file */
	const char *wrong_type; /* a value of another libconfig type */
	const char *type_error; /* what the error says after 'name' */
	enum sample_device fits, misses;
	const char *miss;       /* explain's words for `misses` */
	const char *other_bus;  /* its words for a device on a bus the key is not
				 * about; NULL: the key is about every bus */
};

static const struct key_case cases[] = {
	{ "bus", "\"usb\"", "1", "must be a string", USB_FIT, PCI_UNFIT,
	  "bus is pci, not usb", NULL },
	{ "address", "\"0000:03:00.0\"", "3", "must be a string", PCI_FIT, PCI_UNFIT,
	  "address is 0000:04:00.0, not 0000:03:00.0", NULL },
	{ "vendor", "\"10de\"", "0x10de", "must be up to 4 hex digits in quotes (\"10de\")",
	  PCI_FIT, PCI_UNFIT, "vendor is 8086, not 10de", NULL },
	{ "device", "\"1c82\"", "0x1c82", "must be up to 4 hex digits in quotes (\"10de\")",
	  PCI_FIT, PCI_UNFIT, "device is 0001, not 1c82", NULL },
	{ "subsystem_vendor", "\"1043\"", "true", "must be up to 4 hex digits in quotes (\"10de\")",
	  PCI_FIT, PCI_UNFIT, "subsystem vendor differs (want 1043)",
	  "subsystem vendor differs (want 1043)" },
	{ "subsystem_device", "\"8674\"", "8674", "must be up to 4 hex digits in quotes (\"10de\")",
	  PCI_FIT, PCI_UNFIT, "subsystem device differs (want 8674)",
	  "subsystem device differs (want 8674)" },
	{ "class", "\"0300\"", "0x0300", "must be up to 6 hex digits in quotes (\"10de\")",
	  PCI_FIT, PCI_UNFIT, "class is 020000, not 030000 under mask ffff00",
	  "class is 000000, not 030000 under mask ffff00" },
	{ "driver", "\"vfio-pci\"", "[\"vfio-pci\"]", "must be a string", PCI_FIT, PCI_UNFIT,
	  "driver is e1000e, not vfio-pci", NULL },
	{ "iommu_group", "7", "\"7\"", "must be a number", PCI_FIT, PCI_UNFIT,
	  "IOMMU group is 9, not 7", "IOMMU group is -1, not 7" },
	{ "port", "\"1-2.3\"", "1.2", "must be a string", USB_FIT, USB_UNFIT,
	  "port is 1-4, not 1-2.3", "port is none (PCI), not 1-2.3" },
	{ "serial", "\"A1B2\"", "12", "must be a string", USB_FIT, USB_UNFIT,
	  "serial is none, not A1B2", "serial is none, not A1B2" },
	{ "interface_class", "\"08\"", "8", "must be up to 2 hex digits in quotes (\"10de\")",
	  USB_FIT, USB_UNFIT, "no interface of class 08", "no interface of class 08" },
	{ "numa_node", "1", "\"1\"", "must be a number", PCI_FIT, PCI_UNFIT,
	  "NUMA node is 0, not 1", NULL },
};

static struct device *sample_pci(bool fit)
{
	struct device *d = fit ? testdev_pci("0000:03:00.0", 0x10de, 0x1c82, 0x030000, 7,
					     "vfio-pci", NULL)
			       : testdev_pci("0000:04:00.0", 0x8086, 0x0001, 0x020000, 9,
					     "e1000e", NULL);

	d->pci.subsystem_vendor = fit ? 0x1043 : 0x8086;
	d->pci.subsystem_device = fit ? 0x8674 : 0x0000;
	d->numa_node = fit ? 1 : 0;
	return d;
}

/* Its vendor, device, driver and NUMA node fit too: keys about any bus
 * are tried on it as well. */
static struct device *sample_usb(bool fit)
{
	struct device *d = fit ? testdev_usb("1-2.3", 0x10de, 0x1c82, 3, "1-2")
			       : testdev_usb("1-4", 0x046d, 0xc077, 4, NULL);

	d->numa_node = fit ? 1 : -1;
	d->driver = device_intern(fit ? "vfio-pci" : "usb");
	if (!fit)
		return d;
	d->usb.serial = xstrdup("A1B2");
	testdev_iface(d, "1-2.3:1.0", 0x08, 0x06, 0x50, "usb-storage");
	return d;
}

static struct device *sample(enum sample_device which)
{
	return which == PCI_FIT || which == PCI_UNFIT ? sample_pci(which == PCI_FIT)
						       : sample_usb(which == USB_FIT);
}

/* A policy of one rule naming one key, the rule on line 2.  NULL with the
 * error in err when it does not load. */
static struct policy *one_rule(const char *name, const char *value, char *err, size_t size,
			       char *path, size_t path_size)
{
	FILE *f;

	snprintf(path, path_size, "%s/%s.conf", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "default = \"allow\";\n"
		   "rules = ( { match = { %s = %s; }; action = \"refuse\"; } );\n",
		name, value);
	fclose(f);
	return policy_load(path, err, size);
}

static char *explained(const struct policy *p, const struct device *dev)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	policy_explain(p, dev, POLICY_MOMENT_CLAIM, f);
	fclose(f);
	return text;
}

/* The index and every rule in order agree, and say rule 0 or the default. */
static void expect_decides(const struct policy *p, const struct device *dev, int rule,
			   const char *key)
{
	struct policy_decision fast, slow;

	policy_decide(p, dev, POLICY_MOMENT_CLAIM, &fast);
	policy_decide_linear(p, dev, POLICY_MOMENT_CLAIM, &slow);
	if (fast.rule != rule || slow.rule != rule)
		fail_msg("'%s' on %s: the index says rule %d, every rule in order %d; want %d", key,
			 dev->id, fast.rule, slow.rule, rule);
}

static void expect_explains(const struct policy *p, const struct device *dev, const char *words,
			    const char *key)
{
	char *text = explained(p, dev), want[256];

	snprintf(want, sizeof(want), ": no match: %s\n", words);
	if (!strstr(text, want))
		fail_msg("'%s' on %s: the explanation does not say '%s':\n%s", key, dev->id, words,
			 text);
	free(text);
}

static char *described(const struct policy *p)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	policy_describe(p, f);
	fclose(f);
	return text;
}

/* --check-policy names the key the rule was read under, and only it. */
static void expect_described(const struct policy *p, const char *key)
{
	char *text = described(p), want[128];

	snprintf(want, sizeof(want), ": refuse if %s\n", key);
	if (!strstr(text, want))
		fail_msg("--check-policy does not say '%s':\n%s", want, text);
	free(text);
}

static const struct key_case *case_of(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (streq(cases[i].name, name))
			return &cases[i];
	return NULL;
}

/* Every row has all it needs; a row added without its parse, its field or
 * match, or its words fails here, as does one this test has no case for. */
static void test_rows_complete(void **state)
{
	assert_int_equal(match_key_count, ARRAY_SIZE(cases));
	for (size_t i = 0; i < match_key_count; i++) {
		const struct match_key *k = &match_keys[i];

		assert_non_null(k->name);
		if (!case_of(k->name))
			fail_msg("match key '%s' has no case in this test", k->name);
		assert_ptr_equal(match_key_find(k->name), k);
		assert_int_not_equal(k->buses, 0);
		assert_int_equal(k->buses & ~((1u << HD_BUS__COUNT) - 1), 0);
		assert_true(k->type == CONFIG_TYPE_STRING || k->type == CONFIG_TYPE_INT);
		assert_true(!k->hex_digits || (k->type == CONFIG_TYPE_STRING && k->hex_digits <= 8));
		assert_non_null(k->parse);
		assert_non_null(k->miss);
		/* Either a field or a function, never both: one would be ignored. */
		assert_true((k->field == FIELD_NONE) == (k->match != NULL));
		assert_true(k->field == FIELD_NONE || k->offset < sizeof(struct device));
		if (k->rank == KEY_UNINDEXED)
			assert_true(!k->want_index && !k->dev_index);
		else
			assert_true(k->field != FIELD_NONE || (k->want_index && k->dev_index));
	}
}

/* The parser dispatch cannot fall through to another key's parser: each
 * key's value is read by its own row, so a value of the wrong type is
 * refused naming that key, and a valid one is kept under that key. */
static void test_each_key_read_by_its_row(void **state)
{
	char err[512], path[PATH_MAX], want[PATH_MAX + 256];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct key_case *c = &cases[i];
		struct policy *p = one_rule(c->name, c->wrong_type, err, sizeof(err), path,
					    sizeof(path));

		if (p)
			fail_msg("'%s = %s' loaded", c->name, c->wrong_type);
		snprintf(want, sizeof(want), "%s:2: '%s' %s", path, c->name, c->type_error);
		assert_string_equal(err, want);
		p = one_rule(c->name, c->value, err, sizeof(err), path, sizeof(path));
		if (!p)
			fail_msg("'%s = %s' did not load: %s", c->name, c->value, err);
		expect_described(p, c->name);
		policy_free(p);
	}
}

/* A name the table does not know is refused with its file and line, even
 * one a letter away from a key: no key stands in for another. */
static void test_unknown_key_refused(void **state)
{
	static const char *const names[] = {
		"vendr", "Vendor", "VENDOR", "vendor_id", "numa", "node", "numanode", "iommu",
		"group", "class_mask", "subsystem", "ifclass", "interface", "serials", "id",
		"pci", "usb", "action", "match", "host_critical",
	};
	char err[512], path[PATH_MAX], want[PATH_MAX + 128];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct policy *p = one_rule(names[i], "1", err, sizeof(err), path, sizeof(path));

		if (p)
			fail_msg("unknown match key '%s' loaded", names[i]);
		snprintf(want, sizeof(want), "%s:2: unknown match key '%s'", path, names[i]);
		assert_string_equal(err, want);
		p = one_rule(names[i], "\"1\"", err, sizeof(err), path, sizeof(path));
		assert_null(p);
		assert_string_equal(err, want);
	}
}

/* Each key fits the device made to fit it, not the other; an explanation
 * says why in the words the docs quote; a key about one bus never fits a
 * device on another.  The index agrees with trying the rule, which holds
 * only if the row files the rule under the number the device is looked
 * up under. */
static void test_each_key_matches(void **state)
{
	char err[512], path[PATH_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct key_case *c = &cases[i];
		struct policy *p = one_rule(c->name, c->value, err, sizeof(err), path, sizeof(path));
		struct device *fit = sample(c->fits), *miss = sample(c->misses);
		struct device *other = sample(c->fits == PCI_FIT ? USB_FIT : PCI_FIT);

		if (!p)
			fail_msg("%s", err);
		expect_decides(p, fit, 0, c->name);
		expect_decides(p, miss, -1, c->name);
		expect_explains(p, miss, c->miss, c->name);
		if (c->other_bus) {
			expect_decides(p, other, -1, c->name);
			expect_explains(p, other, c->other_bus, c->name);
		} else if (!streq(c->name, "bus") && !streq(c->name, "address")) {
			expect_decides(p, other, 0, c->name); /* about every bus */
		}
		device_free(fit);
		device_free(miss);
		device_free(other);
		policy_free(p);
	}
}

/* Conditions are tried, and the first failing one named, in the table's
 * order whatever the file's: class before driver here. */
static void test_table_order(void **state)
{
	char err[512], path[PATH_MAX];
	struct policy *p = one_rule("driver", "\"vfio-pci\"; class = \"0300\"", err, sizeof(err),
				    path, sizeof(path));
	struct device *nic = sample_pci(false);
	char *text;

	if (!p)
		fail_msg("%s", err);
	text = explained(p, nic);
	assert_non_null(strstr(text, "no match: class is 020000, not 030000 under mask ffff00\n"));
	free(text);
	text = described(p);
	assert_non_null(strstr(text, ": refuse if class, driver\n"));
	free(text);
	device_free(nic);
	policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_complete),
		cmocka_unit_test_setup_teardown(test_each_key_read_by_its_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_key_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_key_matches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_order, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
