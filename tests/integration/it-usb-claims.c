/* USB claims end to end on the kernel emulator: selectors (port path,
 * usb:BUS.DEV, id:VVVV:PPPP[:SERIAL] and its ambiguity), in-use records that
 * write nothing, interface drivers unbound and bound again at release, and
 * the rollbacks when the kernel refuses one of those writes.  The standard
 * machine's USB tree: hub 1-2 with a keyboard 1-2.1 (two usbhid interfaces)
 * and two identical SanDisk Cruzer drives 1-2.2 and 1-2.3 (usb-storage). */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KBD "1-2.1"
#define KBD_IF0 "1-2.1:1.0"
#define KBD_IF1 "1-2.1:1.1"
#define DRIVE_A "1-2.2"
#define DRIVE_B "1-2.3" /* devnum 5, serial 4C530001140918105142 */
#define NIC "0000:03:00.0"

static json_object *call(struct fixture *f, const char *method, const char *domain,
			 const char *const *ids, size_t n, bool unbind)
{
	json_object *p = json_object_new_object(), *arr = json_object_new_array(), *reply;

	json_object_object_add(p, "owner", kfix_owner("qemu", domain));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_string(ids[i]));
	if (ids) /* a Release without devices: all of the owner's */
		json_object_object_add(p, "devices", arr);
	else
		json_object_put(arr);
	if (unbind)
		json_object_object_add(p, "unbind_interfaces", json_object_new_boolean(1));
	reply = vlc_call(f->c, method, p);
	json_object_put(p);
	return reply;
}

#define IDS(...) (const char *const[]){ __VA_ARGS__ }, ARRAY_SIZE(((const char *const[]){ __VA_ARGS__ }))
#define CLAIM(f, dom, unbind, ...) call(f, "io.hostdevd.Claim", dom, IDS(__VA_ARGS__), unbind)
#define RELEASE(f, dom, ...) call(f, "io.hostdevd.Release", dom, IDS(__VA_ARGS__), false)

/* The one claim entry of a successful Claim reply. */
static json_object *only_entry(json_object *reply)
{
	json_object *v;

	assert_null(vlc_error(reply));
	assert_true(json_object_object_get_ex(vlc_params(reply), "claims", &v));
	assert_int_equal(json_object_array_length(v), 1);
	return json_object_array_get_idx(v, 0);
}

static bool entry_managed(json_object *e)
{
	json_object *v;

	assert_true(json_object_object_get_ex(e, "managed", &v));
	return json_object_get_boolean(v);
}

/* In use, recorded, nothing written; another owner is told who holds it. */
static void test_record_only(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *e;

	reply = CLAIM(f, "vm1", false, KBD);
	e = only_entry(reply);
	assert_string_equal(kfix_str_at(e, "device", NULL), KBD);
	assert_false(entry_managed(e));
	assert_false(json_object_object_get_ex(e, "unbound_interfaces", NULL));
	json_object_put(reply);
	kfix_wait_state(f, KBD, "claimed");
	assert_int_equal(kemu_writes(f->root, "unbind", NULL), 0);
	assert_string_equal(kfix_kernel_driver(f, KBD_IF0), "usbhid");

	reply = CLAIM(f, "vm2", false, KBD);
	assert_string_equal(vlc_error(reply), "io.hostdevd.DeviceInUse");
	assert_string_equal(vlc_param_str(reply, "device"), KBD);
	assert_string_equal(vlc_param_str(reply, "domain"), "vm1");
	json_object_put(reply);

	vlc_expect_ok(RELEASE(f, "vm1", KBD));
	kfix_wait_state(f, KBD, "host");
	assert_int_equal(kemu_writes(f->root, "bind", NULL), 0);
}

static void test_selectors(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *matches;

	/* Two identical drives: vendor and product alone name both. */
	reply = CLAIM(f, "vm1", false, "id:0781:5567");
	assert_string_equal(vlc_error(reply), "io.hostdevd.AmbiguousDevice");
	matches = vlc_param(reply, "matches");
	assert_int_equal(json_object_array_length(matches), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(matches, 0)), DRIVE_A);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(matches, 1)), DRIVE_B);
	json_object_put(reply);
	assert_int_equal(kfix_claims(f), 0);

	/* The serial tells them apart; bus and device number too. */
	reply = CLAIM(f, "vm1", false, "id:0781:5567:4C530001140918105142");
	assert_string_equal(kfix_str_at(only_entry(reply), "device", NULL), DRIVE_B);
	json_object_put(reply);
	reply = CLAIM(f, "vm2", false, "usb:1.5");
	assert_string_equal(vlc_error(reply), "io.hostdevd.DeviceInUse");
	assert_string_equal(vlc_param_str(reply, "device"), DRIVE_B);
	json_object_put(reply);
	reply = CLAIM(f, "vm2", false, "usb:9.9");
	assert_string_equal(vlc_error(reply), "io.hostdevd.DeviceNotFound");
	json_object_put(reply);
	/* Release by another selector of the same device. */
	vlc_expect_ok(RELEASE(f, "vm1", "usb:1.5"));
	assert_int_equal(kfix_claims(f), 0);
}

static void test_unbind_and_restore(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *e, *v, *b;

	reply = CLAIM(f, "vm1", true, KBD);
	e = only_entry(reply);
	assert_true(entry_managed(e));
	assert_true(json_object_object_get_ex(e, "unbound_interfaces", &v));
	assert_int_equal(json_object_array_length(v), 2);
	b = json_object_array_get_idx(v, 1);
	assert_string_equal(kfix_str_at(b, "interface", NULL), KBD_IF1);
	assert_string_equal(kfix_str_at(b, "driver", NULL), "usbhid");
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, KBD_IF0), "");
	assert_string_equal(kfix_kernel_driver(f, KBD_IF1), "");
	assert_string_equal(kfix_kernel_driver(f, KBD), "usb"); /* the device keeps its own */
	kfix_wait_state(f, KBD, "claimed");

	reply = RELEASE(f, "vm1", KBD);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, KBD_IF0), "usbhid");
	assert_string_equal(kfix_kernel_driver(f, KBD_IF1), "usbhid");
	assert_int_equal(kemu_writes(f->root, "bind", KBD_IF0), 1);
	kfix_wait_state(f, KBD, "host");
}

/* The second interface refuses: the first is bound back and nothing is
 * claimed; the error names the device, the step and the errno. */
static void test_unbind_fault_rolls_back(void **state)
{
	struct fixture *f = *state;
	json_object *reply;

	kemu_fault(f->root, "unbind", KBD_IF1, EBUSY);
	reply = CLAIM(f, "vm1", true, KBD);
	assert_string_equal(vlc_error(reply), "io.hostdevd.OperationFailed");
	assert_string_equal(vlc_param_str(reply, "device"), KBD);
	assert_string_equal(vlc_param_str(reply, "step"), "unbind_interface");
	assert_int_equal(json_object_get_int(vlc_param(reply, "errno")), EBUSY);
	assert_non_null(strstr(vlc_param_str(reply, "message"), KBD_IF1));
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, KBD_IF0), "usbhid");
	assert_string_equal(kfix_kernel_driver(f, KBD_IF1), "usbhid");
	assert_int_equal(kemu_writes(f->root, "bind", KBD_IF0), 1);
	kfix_wait_state(f, KBD, "host");
	assert_int_equal(kfix_claims(f), 0);
}

/* A PCI function and a USB device in one claim: the USB failure sends the
 * NIC back to its host driver. */
static void test_mixed_claim_rolls_back(void **state)
{
	struct fixture *f = *state;
	json_object *reply;

	kemu_fault(f->root, "unbind", DRIVE_A ":1.0", EIO);
	reply = CLAIM(f, "vm1", true, NIC, DRIVE_A);
	assert_string_equal(vlc_error(reply), "io.hostdevd.OperationFailed");
	assert_string_equal(vlc_param_str(reply, "device"), DRIVE_A);
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_override(f, NIC), "(null)");
	assert_string_equal(kfix_kernel_driver(f, DRIVE_A ":1.0"), "usb-storage");
	kfix_wait_state(f, NIC, "host");
	kfix_wait_state(f, DRIVE_A, "host");

	kemu_fault_clear(f->root, NULL, NULL);
	reply = CLAIM(f, "vm1", true, NIC, DRIVE_A);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	assert_string_equal(kfix_kernel_driver(f, DRIVE_A ":1.0"), "");
	/* Release all of the owner's: both come back. */
	reply = call(f, "io.hostdevd.Release", "vm1", NULL, 0, false);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_driver(f, DRIVE_A ":1.0"), "usb-storage");
}

/* Binding back fails at release: the claim ends (the owner is done with
 * it), every other interface is still bound, and the device is in error
 * with the failure named. */
static void test_rebind_fault_at_release(void **state)
{
	struct fixture *f = *state;
	json_object *reply;

	vlc_expect_ok(CLAIM(f, "vm1", true, KBD));
	kemu_fault(f->root, "bind", KBD_IF0, ENODEV);
	reply = RELEASE(f, "vm1", KBD);
	assert_string_equal(vlc_error(reply), "io.hostdevd.OperationFailed");
	assert_string_equal(vlc_param_str(reply, "step"), "bind_interface");
	assert_int_equal(json_object_get_int(vlc_param(reply, "errno")), ENODEV);
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, KBD_IF0), "");
	assert_string_equal(kfix_kernel_driver(f, KBD_IF1), "usbhid");
	kfix_wait_state(f, KBD, "error");
	assert_int_equal(kfix_claims(f), 0);
}

static void test_hubs_refused(void **state)
{
	struct fixture *f = *state;
	json_object *reply;

	reply = CLAIM(f, "vm1", false, "1-2");
	assert_string_equal(vlc_error(reply), "io.hostdevd.HostCritical");
	assert_string_equal(vlc_param_str(reply, "device"), "1-2");
	assert_non_null(strstr(vlc_param_str(reply, "reason"), "hub"));
	json_object_put(reply);
	reply = CLAIM(f, "vm1", false, "usb1");
	assert_string_equal(vlc_error(reply), "io.hostdevd.HostCritical");
	assert_non_null(strstr(vlc_param_str(reply, "reason"), "root hub"));
	json_object_put(reply);
	assert_int_equal(kfix_claims(f), 0);
}

/* A USB interface is part of its device: not claimable alone, and not a
 * selector at all. */
static void test_interface_not_claimable(void **state)
{
	struct fixture *f = *state;
	json_object *reply = CLAIM(f, "vm1", false, KBD_IF0);

	assert_string_equal(vlc_error(reply), "org.varlink.service.InvalidParameter");
	assert_string_equal(vlc_param_str(reply, "parameter"), "devices");
	json_object_put(reply);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, kfix_setup, kfix_teardown)
	const struct CMUnitTest tests[] = {
		T(test_record_only),
		T(test_selectors),
		T(test_unbind_and_restore),
		T(test_unbind_fault_rolls_back),
		T(test_mixed_claim_rolls_back),
		T(test_rebind_fault_at_release),
		T(test_hubs_refused),
		T(test_interface_not_claimable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
