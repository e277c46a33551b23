/* The claim table: entries, ownership, the in-use wording and the IOMMU
 * group rules, on synthetic records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "state/claims.h"
#include "tests/unit/testdev.h"
#include "common/util.h"

#include <string.h>

static const struct claim_owner qemu_vm1 = { .driver = "qemu", .domain = "vm1" };
static const struct claim_owner libxl_vm2 = { .driver = "libxl", .domain = "vm2" };
static const struct claim_cred cred = { .uid = 0, .gid = 0, .pid = 4242 };

static struct device *pci(struct devtable *t, const char *id, int group, uint32_t cls,
			  const char *driver)
{
	return devtable_upsert(t, testdev_pci(id, 0, 0, cls, group, driver, NULL), DEV_EVENT_ADD,
			       NULL);
}

static void test_entries(void **state)
{
	struct claims *c = claims_new();
	struct claim_entry *e;
	char buf[128];

	claims_reserve(c, "0000:05:00.0", &qemu_vm1, true, &cred);
	e = claims_reserve(c, "0000:03:00.0", &libxl_vm2, false, &cred);
	assert_int_equal(e->phase, CLAIM_RESERVED);
	assert_false(e->managed);
	assert_int_equal(e->cred.pid, 4242);
	assert_int_equal(claims_count(c), 2);
	/* Sorted by device id whatever the order of arrival. */
	assert_string_equal(claims_at(c, 0)->device, "0000:03:00.0");
	assert_string_equal(claims_at(c, 1)->device, "0000:05:00.0");
	assert_ptr_equal(claims_find(c, "0000:03:00.0"), e);
	assert_null(claims_find(c, "0000:09:00.0"));
	assert_true(claim_owned_by(e, &libxl_vm2));
	assert_false(claim_owned_by(e, &qemu_vm1));
	/* The wording users of libvirt know. */
	assert_string_equal(claim_in_use_message(claims_find(c, "0000:05:00.0"), buf, sizeof(buf)),
			    "0000:05:00.0 is in use by driver qemu, domain vm1");
	assert_true(claims_remove(c, "0000:03:00.0"));
	assert_false(claims_remove(c, "0000:03:00.0"));
	assert_int_equal(claims_count(c), 1);
	claims_free(c);
}

static void test_uuid_tells_incarnations_apart(void **state)
{
	struct claim_owner with_uuid = { .driver = "qemu", .domain = "vm1",
					 .uuid = "6f1c2a4e-0000-4000-8000-000000000001" };
	struct claim_owner other_uuid = { .driver = "qemu", .domain = "vm1",
					  .uuid = "6f1c2a4e-0000-4000-8000-000000000002" };
	struct claims *c = claims_new();
	struct claim_entry *e = claims_reserve(c, "0000:03:00.0", &with_uuid, true, &cred);

	assert_true(claim_owned_by(e, &with_uuid));
	assert_false(claim_owned_by(e, &other_uuid));
	claims_free(c);
}

static void test_group_rules(void **state)
{
	struct devtable *t = devtable_new();
	struct claims *c = claims_new();
	const struct claim_entry *holder = NULL;
	char **members = NULL;
	struct device *nic;
	char *request[] = { "0000:05:00.0", "0000:05:01.0" };

	/* Group 10: a bridge, three endpoints on host drivers. */
	pci(t, "0000:04:00.0", 10, 0x060400, NULL);
	nic = pci(t, "0000:05:00.0", 10, 0x020000, "r8169");
	pci(t, "0000:05:01.0", 10, 0x070002, "serial");
	pci(t, "0000:05:02.0", 10, 0x040100, "snd_emu10k1");
	assert_int_equal(claims_check_group(c, t, nic, &qemu_vm1, request, 1, &holder, &members),
			 CLAIM_GROUP_NOT_VIABLE);
	assert_string_equal(members[0], "0000:05:01.0");
	assert_string_equal(members[1], "0000:05:02.0");
	assert_null(members[2]);
	claims_members_free(members);
	members = NULL;
	/* A member in the same request, or on a stub, or unbound, is fine. */
	pci(t, "0000:05:02.0", 10, 0x040100, "vfio-pci");
	assert_int_equal(claims_check_group(c, t, nic, &qemu_vm1, request, 2, &holder, &members),
			 CLAIM_GROUP_VIABLE);
	assert_null(members);
	pci(t, "0000:05:02.0", 10, 0x040100, NULL);
	assert_int_equal(claims_check_group(c, t, nic, &qemu_vm1, request, 2, &holder, &members),
			 CLAIM_GROUP_VIABLE);
	/* A member held by another owner blocks, naming the holder. */
	claims_reserve(c, "0000:05:02.0", &libxl_vm2, true, &cred);
	assert_int_equal(claims_check_group(c, t, nic, &qemu_vm1, request, 2, &holder, &members),
			 CLAIM_GROUP_IN_USE);
	assert_non_null(holder);
	assert_string_equal(holder->driver, "libxl");
	/* Held by the same owner: viable. */
	assert_int_equal(claims_check_group(c, t, nic, &libxl_vm2, request, 2, &holder, &members),
			 CLAIM_GROUP_VIABLE);
	/* Without an IOMMU group there is nothing to check. */
	nic = pci(t, "0000:09:00.0", HD_NO_GROUP, 0x020000, "e1000e");
	assert_int_equal(claims_check_group(c, t, nic, &qemu_vm1, NULL, 0, &holder, &members),
			 CLAIM_GROUP_VIABLE);
	claims_free(c);
	devtable_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_uuid_tells_incarnations_apart),
		cmocka_unit_test(test_group_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
