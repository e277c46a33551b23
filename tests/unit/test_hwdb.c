/* Names from udev's hardware database (monitor/hwdb.h), against this
 * machine's hwdb.bin (the udev package, which scripts/deps.sh installs):
 * known PCI and USB ids, a vendor without the model, ids it does not know,
 * the cache, HOSTDEVD_HWDB=off, and the names in the protocol's Device
 * (daemon/devjson.h). */
#include "common/util.h"
#include "daemon/devjson.h"
#include "daemon/options.h"
#include "monitor/hwdb.h"
#include "tests/unit/testdev.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

static struct device *pci(uint32_t vendor, uint32_t product)
{
	return testdev_pci("0000:03:00.0", vendor, product, 0x020000, HD_NO_GROUP, NULL, NULL);
}

static struct device *usb(uint32_t vendor, uint32_t product)
{
	return testdev_usb("1-2", vendor, product, 3, "usb1");
}

/* The names of dev's ids, which must be these (NULL: none). */
static void assert_names(struct hwdb *h, struct device *dev, const char *vendor,
			 const char *product)
{
	const char *v, *p;
	bool known = hwdb_names(h, dev, &v, &p);

	assert_int_equal(known, vendor || product);
	if (vendor)
		assert_string_equal(v, vendor);
	else
		assert_null(v);
	if (product)
		assert_string_equal(p, product);
	else
		assert_null(p);
	device_free(dev);
}

static int open_db(void **state)
{
	/* Without the database every test here would pass for nothing. */
	if (access("/usr/lib/udev/hwdb.bin", R_OK) && access("/lib/udev/hwdb.bin", R_OK) &&
	    access("/etc/udev/hwdb.bin", R_OK))
		fail_msg("no hwdb.bin: install udev (scripts/deps.sh)");
	*state = hwdb_new(true);
	return 0;
}

static int close_db(void **state)
{
	hwdb_free(*state);
	return 0;
}

static void test_pci_names(void **state)
{
	assert_names(*state, pci(0x8086, 0x10d3), "Intel Corporation",
		     "82574L Gigabit Network Connection");
}

static void test_usb_names(void **state)
{
	assert_names(*state, usb(0x1d6b, 0x0002), "Linux Foundation", "2.0 root hub");
	assert_names(*state, usb(0x0781, 0x5567), "SanDisk Corp.", "Cruzer Blade");
}

/* A model the database does not list, of a vendor it does. */
static void test_vendor_alone(void **state)
{
	assert_names(*state, pci(0x8086, 0xfff0), "Intel Corporation", NULL);
}

static void test_unknown_ids(void **state)
{
	assert_names(*state, pci(0xfff0, 0xfff0), NULL, NULL);
	assert_names(*state, usb(0xfff0, 0xfff0), NULL, NULL);
}

/* The same ids on the other bus are another device: the key says the bus. */
static void test_bus_in_key(void **state)
{
	/* 8086:10d3 in usb.ids: Intel's vendor entry, no such model. */
	assert_names(*state, usb(0x8086, 0x10d3), "Intel Corp.", NULL);
	assert_names(*state, pci(0x8086, 0x10d3), "Intel Corporation",
		     "82574L Gigabit Network Connection");
}

/* One query per distinct ids, known or not, however many devices have
 * them. */
static void test_cache(void **state)
{
	struct hwdb *h = hwdb_new(true);

	assert_names(h, pci(0x8086, 0x10d3), "Intel Corporation",
		     "82574L Gigabit Network Connection");
	assert_int_equal(hwdb_queries(h), 1);
	assert_names(h, pci(0x8086, 0x10d3), "Intel Corporation",
		     "82574L Gigabit Network Connection");
	assert_int_equal(hwdb_queries(h), 1);
	assert_names(h, pci(0xfff0, 0xfff0), NULL, NULL);
	assert_names(h, pci(0xfff0, 0xfff0), NULL, NULL);
	assert_int_equal(hwdb_queries(h), 2);
	/* 10,000 devices of 10 models: 10 queries. */
	for (uint32_t i = 0; i < 10000; i++) {
		struct device *d = pci(0x10de, 0x1c80 + i % 10);
		const char *v, *p;

		hwdb_names(h, d, &v, &p);
		assert_string_equal(v, "NVIDIA Corporation");
		device_free(d);
	}
	assert_int_equal(hwdb_queries(h), 12);
	hwdb_free(h);
}

/* More distinct ids than the cache keeps: it starts again and still
 * answers right. */
static void test_cache_bound(void **state)
{
	struct hwdb *h = hwdb_new(true);

	for (uint32_t i = 0; i < 5000; i++)
		assert_names(h, usb(0xfff0, i), NULL, NULL);
	assert_int_equal(hwdb_queries(h), 5000);
	assert_names(h, pci(0x8086, 0x10d3), "Intel Corporation",
		     "82574L Gigabit Network Connection");
	assert_names(h, usb(0xfff0, 4999), NULL, NULL);
	assert_int_equal(hwdb_queries(h), 5001);
	hwdb_free(h);
}

static void test_off(void **state)
{
	struct hwdb *h = hwdb_new(false);

	assert_names(h, pci(0x8086, 0x10d3), NULL, NULL);
	assert_names(NULL, pci(0x8086, 0x10d3), NULL, NULL);
	assert_int_equal(hwdb_queries(h), 0);
	hwdb_free(h);
}

static enum options_result parse_env(const char *value, struct daemon_options *o)
{
	char *argv[] = { "hostdevd", NULL };

	if (value)
		setenv("HOSTDEVD_HWDB", value, 1);
	else
		unsetenv("HOSTDEVD_HWDB");
	return options_parse(o, 1, argv);
}

/* HOSTDEVD_HWDB: on by default, off turns it off, anything else is a usage
 * error, as any variable's bad value is (hostdevd(8)). */
static void test_env(void **state)
{
	struct daemon_options o;

	assert_int_equal(parse_env(NULL, &o), OPTIONS_OK);
	assert_false(o.no_hwdb);
	options_free(&o);
	assert_int_equal(parse_env("", &o), OPTIONS_OK);
	assert_false(o.no_hwdb);
	options_free(&o);
	assert_int_equal(parse_env("on", &o), OPTIONS_OK);
	assert_false(o.no_hwdb);
	options_free(&o);
	assert_int_equal(parse_env("off", &o), OPTIONS_OK);
	assert_true(o.no_hwdb);
	options_free(&o);
	assert_int_equal(parse_env("no", &o), OPTIONS_USAGE_ERROR);
	options_free(&o);
	unsetenv("HOSTDEVD_HWDB");
}

static const char *member(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

/* The Device record: vendor_name and product_name beside the ids, absent
 * when the database has none or names are off; a USB device's own strings
 * stay where they were. */
static void test_device_record(void **state)
{
	struct devtable *t = devtable_new();
	struct device *d = pci(0x8086, 0x10d3), *u = usb(0x0781, 0x5567), *x = pci(0xfff0, 1);
	json_object *o, *usbo;

	u->usb.product = xstrdup("Cruzer Blade (its own)");
	o = devjson_device(t, NULL, *state, d);
	assert_string_equal(member(o, "vendor_name"), "Intel Corporation");
	assert_string_equal(member(o, "product_name"), "82574L Gigabit Network Connection");
	json_object_put(o);
	o = devjson_device(t, NULL, *state, u);
	assert_string_equal(member(o, "vendor_name"), "SanDisk Corp.");
	assert_string_equal(member(o, "product_name"), "Cruzer Blade");
	assert_true(json_object_object_get_ex(o, "usb", &usbo));
	assert_string_equal(member(usbo, "product_name"), "Cruzer Blade (its own)");
	json_object_put(o);
	o = devjson_device(t, NULL, *state, x);
	assert_null(member(o, "vendor_name"));
	assert_null(member(o, "product_name"));
	json_object_put(o);
	o = devjson_device(t, NULL, NULL, d);
	assert_null(member(o, "vendor_name"));
	assert_null(member(o, "product_name"));
	json_object_put(o);
	device_free(d);
	device_free(u);
	device_free(x);
	devtable_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pci_names),
		cmocka_unit_test(test_usb_names),
		cmocka_unit_test(test_vendor_alone),
		cmocka_unit_test(test_unknown_ids),
		cmocka_unit_test(test_bus_in_key),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_cache_bound),
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_device_record),
	};

	return cmocka_run_group_tests(tests, open_db, close_db);
}
