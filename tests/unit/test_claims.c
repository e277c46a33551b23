/* The claim table: entries, ownership, the in-use wording, the IOMMU
 * group rules and the VFIO node records (with their round trip through
 * the state document), on synthetic records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "state/claims.h"
#include "state/snapshot.h"
#include "tests/unit/testdev.h"
#include "common/jsonbuf.h"
#include "common/util.h"

#include <json-c/json.h>
#include <stdio.h>
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

static const char *invalid(const char *driver, const char *domain, const char *uuid)
{
	return claim_owner_invalid(&(struct claim_owner){ driver, domain, uuid });
}

/* What an owner's strings may be, as a request and the state file give
 * them: the field at fault is named. */
static void test_owner_strings(void **state)
{
	char long_domain[CLAIM_DOMAIN_MAX + 2], long_driver[CLAIM_DRIVER_MAX + 2];

	assert_null(invalid("qemu", "vm1", NULL));
	assert_null(invalid("libxl", "prod-db", "6F1C2A4E-0000-4000-8000-00000000000a"));
	assert_null(invalid("cloud-hypervisor_2.x", "vm 1 (test)", NULL));
	/* UTF-8 is fine in a domain: "仮想マシン" and an emoji. */
	assert_null(invalid("qemu", "\xe4\xbb\xae\xe6\x83\xb3\xe3\x83\x9e\xe3\x82\xb7\xe3\x83\xb3", NULL));
	assert_null(invalid("qemu", "vm-\xf0\x9f\x90\xa7", NULL));
	/* Empty, missing, a newline, other controls, invalid UTF-8. */
	assert_string_equal(invalid("", "vm1", NULL), "driver");
	assert_string_equal(invalid(NULL, "vm1", NULL), "driver");
	assert_string_equal(invalid("qemu", "", NULL), "domain");
	assert_string_equal(invalid("qemu", NULL, NULL), "domain");
	assert_string_equal(invalid("qemu", "vm1\nhostdevd: forged line", NULL), "domain");
	assert_string_equal(invalid("qemu", "vm\x1b[31m", NULL), "domain");
	assert_string_equal(invalid("qemu", "vm\x7f", NULL), "domain");
	assert_string_equal(invalid("qemu", "vm\xc2\x85", NULL), "domain"); /* NEL, a C1 control */
	assert_string_equal(invalid("qemu", "vm\xe2\x80\xa8", NULL), "domain"); /* U+2028 */
	assert_string_equal(invalid("qemu", "vm\xff", NULL), "domain");
	assert_string_equal(invalid("qemu", "vm\xe4\xbb", NULL), "domain");     /* cut short */
	assert_string_equal(invalid("qemu", "vm\xc0\xaf", NULL), "domain");     /* overlong '/' */
	assert_string_equal(invalid("qemu", "vm\xed\xa0\x80", NULL), "domain"); /* a surrogate */
	assert_string_equal(invalid("qemu", "vm\xf4\x90\x80\x80", NULL), "domain"); /* > U+10FFFF */
	/* The driver is a name: letters, digits, '.', '_', '-'. */
	assert_string_equal(invalid("qe mu", "vm1", NULL), "driver");
	assert_string_equal(invalid("qemu/x", "vm1", NULL), "driver");
	assert_string_equal(invalid("q\xc3\xa9mu", "vm1", NULL), "driver");
	assert_string_equal(invalid("qemu\n", "vm1", NULL), "driver");
	/* The uuid's form. */
	assert_string_equal(invalid("qemu", "vm1", ""), "uuid");
	assert_string_equal(invalid("qemu", "vm1", "6f1c2a4e00004000800000000000000a"), "uuid");
	assert_string_equal(invalid("qemu", "vm1", "6f1c2a4e-0000-4000-8000-00000000000g"), "uuid");
	assert_string_equal(invalid("qemu", "vm1", "6f1c2a4e-0000-4000-8000-00000000000a\n"), "uuid");
	/* Length bounds, to the byte. */
	memset(long_domain, 'd', sizeof(long_domain));
	long_domain[CLAIM_DOMAIN_MAX] = '\0';
	assert_null(invalid("qemu", long_domain, NULL));
	long_domain[CLAIM_DOMAIN_MAX] = 'd';
	long_domain[CLAIM_DOMAIN_MAX + 1] = '\0';
	assert_string_equal(invalid("qemu", long_domain, NULL), "domain");
	memset(long_driver, 'q', sizeof(long_driver));
	long_driver[CLAIM_DRIVER_MAX] = '\0';
	assert_null(invalid(long_driver, "vm1", NULL));
	long_driver[CLAIM_DRIVER_MAX] = 'q';
	long_driver[CLAIM_DRIVER_MAX + 1] = '\0';
	assert_string_equal(invalid(long_driver, "vm1", NULL), "driver");
}

/* An owner name belongs to the uid whose claims hold it, in any phase and
 * whatever the uuid. */
static void test_owner_name_has_one_uid(void **state)
{
	static const struct claim_cred alice = { .uid = 1000, .pid = 1 };
	struct claim_owner vm1_uuid = { .driver = "qemu", .domain = "vm1",
					.uuid = "6f1c2a4e-0000-4000-8000-000000000001" };
	struct claims *c = claims_new();
	struct claim_entry *e;

	assert_null(claims_owner_other_uid(c, &qemu_vm1, 1000));
	e = claims_reserve(c, "0000:03:00.0", &qemu_vm1, true, &alice);
	assert_null(claims_owner_other_uid(c, &qemu_vm1, 1000));
	assert_ptr_equal(claims_owner_other_uid(c, &qemu_vm1, 0), e);
	assert_ptr_equal(claims_owner_other_uid(c, &vm1_uuid, 0), e);
	assert_null(claims_owner_other_uid(c, &libxl_vm2, 0));
	claim_set_phase(e, CLAIM_HELD, "test");
	assert_ptr_equal(claims_owner_other_uid(c, &qemu_vm1, 1001), e);
	claims_free(c);
}

static bool is_ctx(const struct claim_entry *e, void *ctx)
{
	return e == ctx;
}

/* A group's node recorded by two entries: each finds the other holding
 * it, and a record replaced or removed is one record less. */
static void test_node_records(void **state)
{
	const struct claim_cred hyper = { .uid = 1000, .gid = 1000, .pid = 7 };
	struct claims *c = claims_new();
	struct claim_entry *a = claims_reserve(c, "0000:05:00.0", &qemu_vm1, true, &hyper);
	struct claim_entry *b = claims_reserve(c, "0000:05:01.0", &qemu_vm1, true, &hyper);
	struct claim_node group = { .name = "vfio/10", .uid = 1000, .orig_uid = 0, .orig_gid = 5 };
	struct claim_node cdev = { .name = "vfio/devices/vfio4", .uid = 1000 };

	assert_null(claims_node_holder(c, "vfio/10", NULL, NULL, NULL));
	claim_node_add(a, &group);
	claim_node_add(a, &cdev);
	claim_node_add(b, &group);
	/* The same name again replaces its record. */
	group.orig_gid = 6;
	claim_node_add(b, &group);
	assert_int_equal(a->n_nodes, 2);
	assert_int_equal(b->n_nodes, 1);
	assert_int_equal(claim_node_find(b, "vfio/10")->orig_gid, 6);
	assert_ptr_not_equal(claim_node_find(a, "vfio/10")->name, group.name);
	assert_ptr_equal(claims_node_holder(c, "vfio/10", a, NULL, NULL), b);
	assert_ptr_equal(claims_node_holder(c, "vfio/10", NULL, is_ctx, b), a);
	assert_ptr_equal(claims_node_holder(c, "vfio/devices/vfio4", NULL, is_ctx, b), a);
	assert_null(claims_node_holder(c, "vfio/devices/vfio4", a, NULL, NULL));
	claim_node_remove(a, "vfio/10");
	assert_int_equal(a->n_nodes, 1);
	assert_string_equal(a->nodes[0].name, "vfio/devices/vfio4");
	assert_null(claims_node_holder(c, "vfio/10", b, NULL, NULL));
	claim_nodes_clear(a);
	assert_int_equal(a->n_nodes, 0);
	assert_null(claim_node_find(a, "vfio/devices/vfio4"));
	/* Freed with their entries (the leak checkers see to it). */
	claims_free(c);
}

struct read_back {
	unsigned claims;
	char node_owner[64];
	struct claim_node nodes[4];
	char names[4][32];
	size_t n_nodes;
};

static void on_read_claim(const struct snapshot_claim *sc, void *arg)
{
	struct read_back *rb = arg;

	rb->claims++;
	snprintf(rb->node_owner, sizeof(rb->node_owner), "%s",
		 sc->node_owner ? sc->node_owner : "(none)");
	rb->n_nodes = sc->n_nodes;
	assert_true(sc->n_nodes <= 4);
	for (size_t i = 0; i < sc->n_nodes; i++) {
		rb->nodes[i] = sc->nodes[i];
		snprintf(rb->names[i], sizeof(rb->names[i]), "%s", sc->nodes[i].name);
	}
}

static void on_read_pool(const struct snapshot_pool *p, void *arg)
{
}

/* The state document keeps a claim's node records and node_owner; a
 * record without its original owner is not read back (nothing could be
 * given back from it). */
static void test_node_records_saved(void **state)
{
	const struct claim_cred hyper = { .uid = 1000, .gid = 1000, .pid = 7 };
	struct claims *c = claims_new();
	struct devtable *t = devtable_new();
	struct claim_entry *e = claims_reserve(c, "0000:03:00.0", &qemu_vm1, true, &hyper);
	struct jsonbuf b = { 0 };
	struct read_back rb = { 0 };
	json_object *doc, *arr, *rec, *nodes;
	char *text;

	claim_node_add(e, &(struct claim_node){ .name = "vfio/8", .uid = 1000, .orig_uid = 0,
						.orig_gid = 60399 });
	claim_node_add(e, &(struct claim_node){ .name = "vfio/devices/vfio3", .uid = 1000,
						.orig_uid = 5, .orig_gid = 6 });
	e->node_owner = xstrdup("set");
	JSONBUF_LIT(&b, "{\n");
	snapshot_write(&b, c, t, NULL, 0);
	JSONBUF_LIT(&b, "\n}");
	text = xstrndup(b.data, b.len);
	doc = json_tokener_parse(text);
	assert_non_null(doc);
	snapshot_read(doc, on_read_claim, on_read_pool, &rb);
	assert_int_equal(rb.claims, 1);
	assert_string_equal(rb.node_owner, "set");
	assert_int_equal(rb.n_nodes, 2);
	assert_string_equal(rb.names[0], "vfio/8");
	assert_int_equal(rb.nodes[0].uid, 1000);
	assert_int_equal(rb.nodes[0].orig_uid, 0);
	assert_int_equal(rb.nodes[0].orig_gid, 60399);
	assert_string_equal(rb.names[1], "vfio/devices/vfio3");
	assert_int_equal(rb.nodes[1].orig_uid, 5);
	assert_int_equal(rb.nodes[1].orig_gid, 6);

	/* Without original_gid, the first record is skipped. */
	arr = json_object_object_get(doc, "claims");
	rec = json_object_array_get_idx(arr, 0);
	nodes = json_object_object_get(rec, "vfio_nodes");
	json_object_object_del(json_object_array_get_idx(nodes, 0), "original_gid");
	memset(&rb, 0, sizeof(rb));
	snapshot_read(doc, on_read_claim, on_read_pool, &rb);
	assert_int_equal(rb.n_nodes, 1);
	assert_string_equal(rb.names[0], "vfio/devices/vfio3");

	json_object_put(doc);
	free(text);
	free(b.data);
	devtable_free(t);
	claims_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_uuid_tells_incarnations_apart),
		cmocka_unit_test(test_group_rules),
		cmocka_unit_test(test_owner_strings),
		cmocka_unit_test(test_owner_name_has_one_uid),
		cmocka_unit_test(test_node_records),
		cmocka_unit_test(test_node_records_saved),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
