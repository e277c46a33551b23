/* Device selectors (state/selector.c): every kind, and every way one can be
 * wrong, not found or ambiguous. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/util.h"
#include "state/devtable.h"
#include "state/selector.h"
#include "tests/unit/testdev.h"

#include <string.h>

static struct device *pci(const char *id, uint32_t vendor, uint32_t product)
{
	return testdev_pci(id, vendor, product, 0, HD_NO_GROUP, NULL, NULL);
}

static struct device *usb(const char *id, uint32_t vendor, uint32_t product, const char *serial,
			  int busnum, int devnum)
{
	struct device *d = testdev_usb(id, vendor, product, devnum, NULL);

	d->usb.serial = xstrdup(serial);
	d->usb.busnum = busnum;
	return d;
}

static int setup(void **state)
{
	struct devtable *t = devtable_new();

	devtable_upsert(t, pci("0000:00:02.0", 0x8086, 0x3e92), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, pci("0000:0a:00.0", 0x046d, 0xc52b), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, pci("10000:e1:00.0", 0x8086, 0x0a54), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, usb("usb1", 0x1d6b, 0x0002, NULL, 1, 1), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, usb("usb2", 0x1d6b, 0x0002, NULL, 2, 1), DEV_EVENT_ADD, NULL);
	/* Inserted out of order so that sorting the matches is visible; two
	 * identical receivers share a serial, as cheap devices do. */
	devtable_upsert(t, usb("1-2", 0x046d, 0xc52b, "AAA", 1, 3), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, usb("1-10", 0x046d, 0xc52b, "AAA", 1, 7), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, usb("1-1.4", 0x046d, 0xc52b, "BbB", 1, 5), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, usb("2-1", 0x0781, 0x5567, NULL, 2, 2), DEV_EVENT_ADD, NULL);
	/* An id of a shape no selector grammar knows is still found by name. */
	devtable_upsert(t, usb("odd:id", 0x1111, 0x2222, NULL, 9, 9), DEV_EVENT_ADD, NULL);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	devtable_free(*state);
	return 0;
}

static void assert_found(struct devtable *t, const char *sel, const char *id)
{
	struct device *dev = (struct device *)1;
	char **matches = (char **)1;
	int r = selector_resolve(t, sel, &dev, &matches);

	if (r != SELECTOR_FOUND)
		fail_msg("%s: result %d, expected found %s", sel, r, id);
	assert_non_null(dev);
	assert_string_equal(dev->id, id);
	assert_null(matches);
}

static void assert_result(struct devtable *t, const char *sel, int expected)
{
	struct device *dev = (struct device *)1;
	char **matches = (char **)1;
	int r = selector_resolve(t, sel, &dev, &matches);

	if (r != expected)
		fail_msg("\"%s\": result %d, expected %d", sel ? sel : "(null)", r, expected);
	assert_null(dev);
	assert_null(matches);
}

/* Ambiguous, with exactly these ids in this order. */
static void assert_ambiguous(struct devtable *t, const char *sel, const char *const *ids)
{
	struct device *dev = (struct device *)1;
	char **matches = NULL;
	size_t i;

	assert_int_equal(selector_resolve(t, sel, &dev, &matches), SELECTOR_AMBIGUOUS);
	assert_null(dev);
	assert_non_null(matches);
	for (i = 0; ids[i]; i++) {
		assert_non_null(matches[i]);
		assert_string_equal(matches[i], ids[i]);
	}
	assert_null(matches[i]);
	selector_matches_free(matches);
}

static void test_pci_canonical(void **state)
{
	struct devtable *t = *state;

	assert_found(t, "0000:00:02.0", "0000:00:02.0");
	assert_found(t, "0000:0a:00.0", "0000:0a:00.0");
	/* Hex in upper case names the same function. */
	assert_found(t, "0000:0A:00.0", "0000:0a:00.0");
	/* Domains beyond 4 digits exist behind Intel VMD. */
	assert_found(t, "10000:E1:00.0", "10000:e1:00.0");
	assert_result(t, "0000:00:03.0", SELECTOR_NOT_FOUND);
	assert_result(t, "0000:00:02.7", SELECTOR_NOT_FOUND);
	/* lspci's short form: domain 0000. */
	assert_found(t, "00:02.0", "0000:00:02.0");
	assert_found(t, "0A:00.0", "0000:0a:00.0");
	assert_result(t, "00:03.0", SELECTOR_NOT_FOUND);
	/* ... only in domain 0000: the VMD function needs its domain. */
	assert_result(t, "e1:00.0", SELECTOR_NOT_FOUND);
}

static void test_pci_malformed(void **state)
{
	static const char *const bad[] = {
		"0000:00:02",      "0000:00:02.8",      "000:00:02.0",     "0000:0:02.0",
		"0000:00:2.0",     "0000:00:02.0x",     "0000:00:02.",     "0:02.0",
		"00:2.0",          "00:02.8",           "0g:02.0",         "00:02:0",
		"0000:00:0g.0",    "0000-00:02.0",      "123456789:00:00.0", "0000:00:02.0 ",
		" 0000:00:02.0",   "0000:00:02.00",
	};
	struct devtable *t = *state;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_result(t, bad[i], SELECTOR_INVALID);
}

static void test_usb_canonical(void **state)
{
	struct devtable *t = *state;

	assert_found(t, "1-2", "1-2");
	assert_found(t, "1-10", "1-10");
	assert_found(t, "1-1.4", "1-1.4");
	assert_found(t, "usb1", "usb1");
	assert_found(t, "odd:id", "odd:id");
	assert_result(t, "1-9", SELECTOR_NOT_FOUND);
	assert_result(t, "3-1.2.3", SELECTOR_NOT_FOUND);
	assert_result(t, "usb7", SELECTOR_NOT_FOUND);
}

static void test_usb_malformed(void **state)
{
	static const char *const bad[] = {
		"1-", "-1", "1-2.", "1-2..3", "1-.2", "1-2:1.0", "usb", "usbx", "usb1x", "USB1",
		"1_2", "a-1", "1-2.x", "12345678901-1",
	};
	struct devtable *t = *state;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_result(t, bad[i], SELECTOR_INVALID);
}

static void test_vendor_product(void **state)
{
	static const char *const all[] = { "1-1.4", "1-10", "1-2", NULL };
	static const char *const same_serial[] = { "1-10", "1-2", NULL };
	static const char *const hubs[] = { "usb1", "usb2", NULL };
	struct devtable *t = *state;

	assert_found(t, "id:0781:5567", "2-1");
	/* Hex is case-insensitive; the PCI device with the same ids is not USB. */
	assert_ambiguous(t, "id:046D:C52B", all);
	assert_ambiguous(t, "id:046d:c52b", all);
	assert_ambiguous(t, "id:046d:c52b:AAA", same_serial);
	assert_ambiguous(t, "id:1d6b:0002", hubs);
	/* The serial is compared exactly. */
	assert_found(t, "id:046d:c52b:BbB", "1-1.4");
	assert_result(t, "id:046d:c52b:bbb", SELECTOR_NOT_FOUND);
	assert_result(t, "id:046d:c52b:CCC", SELECTOR_NOT_FOUND);
	assert_result(t, "id:8086:3e92", SELECTOR_NOT_FOUND);
	/* A serial may itself hold colons. */
	assert_result(t, "id:046d:c52b:A:B", SELECTOR_NOT_FOUND);
}

static void test_vendor_product_malformed(void **state)
{
	static const char *const bad[] = {
		"id:", "id:046d", "id:046d:", "id:46d:c52b", "id:046d:c52", "id:046d:c52b:",
		"id:046dc52b", "id:046d-c52b", "id:046g:c52b", "id:046d:c52bb", "id:0x46:c52b",
		"ID:046d:c52b",
	};
	struct devtable *t = *state;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_result(t, bad[i], SELECTOR_INVALID);
}

static void test_bus_dev(void **state)
{
	struct devtable *t = *state;

	assert_found(t, "usb:1.3", "1-2");
	assert_found(t, "usb:2.1", "usb2");
	assert_found(t, "usb:1.7", "1-10");
	assert_result(t, "usb:1.99", SELECTOR_NOT_FOUND);
	assert_result(t, "usb:3.1", SELECTOR_NOT_FOUND);
}

static void test_bus_dev_malformed(void **state)
{
	static const char *const bad[] = {
		"usb:", "usb:1", "usb:1.", "usb:.1", "usb:0.1", "usb:1.0", "usb:1.x", "usb:1.3x",
		"usb:-1.3", "usb:+1.3", "usb: 1.3", "usb:1,3", "usb:99999999999.1", "usb:1.2.3",
	};
	struct devtable *t = *state;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_result(t, bad[i], SELECTOR_INVALID);
}

static void test_empty(void **state)
{
	struct devtable *t = *state;

	assert_result(t, "", SELECTOR_INVALID);
	assert_result(t, NULL, SELECTOR_INVALID);
	selector_matches_free(NULL);
}

/* The table changing under a selector: a device that left is not found. */
static void test_after_remove(void **state)
{
	struct devtable *t = *state;
	static const char *const left[] = { "1-10", "1-2", NULL };

	assert_true(devtable_remove(t, "1-1.4"));
	assert_result(t, "1-1.4", SELECTOR_NOT_FOUND);
	assert_result(t, "usb:1.5", SELECTOR_NOT_FOUND);
	assert_ambiguous(t, "id:046d:c52b", left);
	assert_true(devtable_remove(t, "1-10"));
	assert_found(t, "id:046d:c52b", "1-2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pci_canonical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usb_canonical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usb_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vendor_product, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vendor_product_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bus_dev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bus_dev_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_after_remove, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
