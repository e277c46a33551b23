/* A fault at each step of Claim and Release, in turn (issue 3): one claim
 * of two PCI functions and a USB keyboard whose interface drivers are
 * unbound, and the kernel refusing one write (or never binding) at every
 * step of every device.  After each fault every device must be where it
 * started — on its original driver with driver_override clear, or, for a
 * release, either released, still claimed, or back on its stub in the
 * detached pool — never in between, and the error must name the device and
 * the step.  One cmocka test per row, each on a fresh daemon and testbed. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIC_A "0000:02:00.0" /* e1000e, group 6 */
#define NIC_B "0000:03:00.0" /* e1000e, group 8 */
#define KBD "1-2.1"          /* usbhid on 1-2.1:1.0 and 1-2.1:1.1 */

static const char *const devices[] = { NIC_A, NIC_B, KBD };
static const char *const original[] = { "e1000e", "e1000e", "usbhid" };

struct row {
	const char *name;
	bool release;    /* the fault hits the Release, after a clean Claim */
	/* The kemu op faulted once; "refuse": the driver that should bind
	 * refuses the device (the stub at a claim, the host driver at a
	 * release) while every other driver still binds it. */
	const char *op;
	const char *id;  /* the id the write names (an interface for USB) */
	const char *device;
	const char *step; /* what the error must name */
	const char *error;
	int err;          /* OperationFailed's errno */
};

#define OPFAIL "io.hostdevd.OperationFailed"
#define TIMEOUT "io.hostdevd.Timeout"

static const struct row rows[] = {
	{ "claim_override_a", false, "driver_override", NIC_A, NIC_A, "driver_override", OPFAIL, EIO },
	{ "claim_unbind_a", false, "unbind", NIC_A, NIC_A, "unbind", OPFAIL, EBUSY },
	{ "claim_probe_a", false, "drivers_probe", NIC_A, NIC_A, "drivers_probe", OPFAIL, ENODEV },
	{ "claim_confirm_a", false, "refuse", NIC_A, NIC_A, "confirm_bind", TIMEOUT, 0 },
	{ "claim_override_b", false, "driver_override", NIC_B, NIC_B, "driver_override", OPFAIL, EIO },
	{ "claim_unbind_b", false, "unbind", NIC_B, NIC_B, "unbind", OPFAIL, EBUSY },
	{ "claim_probe_b", false, "drivers_probe", NIC_B, NIC_B, "drivers_probe", OPFAIL, ENODEV },
	{ "claim_confirm_b", false, "refuse", NIC_B, NIC_B, "confirm_bind", TIMEOUT, 0 },
	{ "claim_unbind_if0", false, "unbind", KBD ":1.0", KBD, "unbind_interface", OPFAIL, EBUSY },
	{ "claim_unbind_if1", false, "unbind", KBD ":1.1", KBD, "unbind_interface", OPFAIL, EIO },
	{ "release_override_a", true, "driver_override", NIC_A, NIC_A, "driver_override", OPFAIL, EIO },
	{ "release_unbind_a", true, "unbind", NIC_A, NIC_A, "unbind", OPFAIL, EBUSY },
	{ "release_probe_a", true, "drivers_probe", NIC_A, NIC_A, "drivers_probe", OPFAIL, ENODEV },
	{ "release_confirm_a", true, "refuse", NIC_A, NIC_A, "confirm_bind", TIMEOUT, 0 },
	{ "release_override_b", true, "driver_override", NIC_B, NIC_B, "driver_override", OPFAIL, EIO },
	{ "release_unbind_b", true, "unbind", NIC_B, NIC_B, "unbind", OPFAIL, EBUSY },
	{ "release_probe_b", true, "drivers_probe", NIC_B, NIC_B, "drivers_probe", OPFAIL, ENODEV },
	{ "release_confirm_b", true, "refuse", NIC_B, NIC_B, "confirm_bind", TIMEOUT, 0 },
	{ "release_bind_if0", true, "bind", KBD ":1.0", KBD, "bind_interface", OPFAIL, ENODEV },
	{ "release_bind_if1", true, "bind", KBD ":1.1", KBD, "bind_interface", OPFAIL, EIO },
};

static const struct row *current;

static int row_setup(void **state)
{
	current = *state;
	return kfix_setup(state);
}

static json_object *owner_call(struct fixture *f, const char *method)
{
	json_object *p = json_object_new_object(), *reply;

	json_object_object_add(p, "owner", kfix_owner("qemu", "vm1"));
	if (streq(method, "io.hostdevd.Claim")) {
		json_object *arr = json_object_new_array();

		for (size_t i = 0; i < ARRAY_SIZE(devices); i++)
			json_object_array_add(arr, json_object_new_string(devices[i]));
		json_object_object_add(p, "devices", arr);
		json_object_object_add(p, "unbind_interfaces", json_object_new_boolean(1));
	}
	reply = vlc_call(f->c, method, p);
	json_object_put(p);
	return reply;
}

static void inject(struct fixture *f, const struct row *r)
{
	if (streq(r->op, "refuse"))
		kemu_refuse_driver(f->root, r->id, r->release ? "e1000e" : "vfio-pci");
	else
		kemu_fault_times(f->root, r->op, r->id, r->err, 1);
}

static void assert_fault_named(json_object *reply, const struct row *r)
{
	assert_non_null(vlc_error(reply));
	assert_string_equal(vlc_error(reply), r->error);
	assert_string_equal(vlc_param_str(reply, "device"), r->device);
	assert_string_equal(vlc_param_str(reply, "step"), r->step);
	if (r->err)
		assert_int_equal(json_object_get_int(vlc_param(reply, "errno")), r->err);
}

/* Device i as it was before any claim: its host driver, no override,
 * state host (USB: both interfaces on usbhid). */
static void assert_original(struct fixture *f, size_t i)
{
	if (streq(devices[i], KBD)) {
		assert_string_equal(kfix_kernel_driver(f, KBD ":1.0"), "usbhid");
		assert_string_equal(kfix_kernel_driver(f, KBD ":1.1"), "usbhid");
	} else {
		assert_string_equal(kfix_kernel_driver(f, devices[i]), original[i]);
		assert_string_equal(kfix_kernel_override(f, devices[i]), "(null)");
	}
	kfix_wait_state(f, devices[i], "host");
}

/* Device i as a completed claim left it. */
static void assert_claimed(struct fixture *f, size_t i)
{
	if (streq(devices[i], KBD)) {
		assert_string_equal(kfix_kernel_driver(f, KBD ":1.0"), "");
		assert_string_equal(kfix_kernel_driver(f, KBD ":1.1"), "");
	} else {
		assert_string_equal(kfix_kernel_driver(f, devices[i]), "vfio-pci");
	}
	kfix_wait_state(f, devices[i], "claimed");
}

static size_t index_of(const char *device)
{
	for (size_t i = 0; i < ARRAY_SIZE(devices); i++)
		if (streq(devices[i], device))
			return i;
	fail_msg("%s is not one of the claimed devices", device);
	return 0;
}

/* All or nothing: whatever step failed, every device is back. */
static void check_claim_fault(struct fixture *f, const struct row *r)
{
	json_object *reply;

	inject(f, r);
	reply = owner_call(f, "io.hostdevd.Claim");
	assert_fault_named(reply, r);
	json_object_put(reply);
	for (size_t i = 0; i < ARRAY_SIZE(devices); i++)
		assert_original(f, i);
	assert_int_equal(kfix_claims(f), 0);
}

/* Release goes in device order and stops at the failure: the devices
 * before it are back with the host, those after it still claimed, and the
 * failed one is back on its stub in the detached pool (the reattach was
 * rolled back; a later Reattach retries), or for USB in error with only
 * the refused interface unbound — never claimed and half-moved. */
static void check_release_fault(struct fixture *f, const struct row *r)
{
	size_t k = index_of(r->device);
	json_object *reply;

	reply = owner_call(f, "io.hostdevd.Claim");
	assert_null(vlc_error(reply));
	json_object_put(reply);
	inject(f, r);
	reply = owner_call(f, "io.hostdevd.Release");
	assert_fault_named(reply, r);
	json_object_put(reply);
	for (size_t i = 0; i < k; i++)
		assert_original(f, i);
	for (size_t i = k + 1; i < ARRAY_SIZE(devices); i++)
		assert_claimed(f, i);
	assert_int_equal(kfix_claims(f), ARRAY_SIZE(devices) - k - 1);
	if (streq(r->device, KBD)) {
		/* Every interface was tried: only the faulted one is unbound. */
		assert_string_equal(kfix_kernel_driver(f, r->id), "");
		assert_string_equal(kfix_kernel_driver(f, streq(r->id, KBD ":1.0") ? KBD ":1.1"
										     : KBD ":1.0"),
				    "usbhid");
		kfix_wait_state(f, KBD, "error");
	} else {
		assert_string_equal(kfix_kernel_driver(f, r->device), "vfio-pci");
		assert_string_equal(kfix_kernel_override(f, r->device), "vfio-pci");
		kfix_wait_state(f, r->device, "detached");
		/* Once the kernel lets it, Reattach brings the host driver back. */
		kemu_never_bind_clear(f->root, r->device);
		reply = kfix_call_dev(f, "io.hostdevd.Reattach", r->device, NULL);
		assert_null(vlc_error(reply));
		assert_string_equal(vlc_param_str(reply, "outcome"), "original");
		json_object_put(reply);
		assert_original(f, k);
	}
}

static void test_row(void **state)
{
	struct fixture *f = *state;

	if (current->release)
		check_release_fault(f, current);
	else
		check_claim_fault(f, current);
}

/* The stub's module is not loaded and, in a mock, never is: the first
 * device fails at load_module and nothing at all is written.  The stub is
 * Xen's, named by its module: the driver pciback, loaded as xen_pciback. */
static void test_load_module(void **state)
{
	struct fixture *f = *state;
	json_object *p = json_object_new_object(), *o = json_object_new_object(), *reply;
	json_object *arr = json_object_new_array();

	json_object_object_add(o, "driver", json_object_new_string("libxl"));
	json_object_object_add(o, "domain", json_object_new_string("vm2"));
	json_object_object_add(p, "owner", o);
	json_object_array_add(arr, json_object_new_string(NIC_A));
	json_object_array_add(arr, json_object_new_string(NIC_B));
	json_object_object_add(p, "devices", arr);
	json_object_object_add(p, "driver", json_object_new_string("xen-pciback"));
	reply = vlc_call(f->c, "io.hostdevd.Claim", p);
	json_object_put(p);
	assert_fault_named(reply, &(struct row){ .device = NIC_A, .step = "load_module",
						 .error = OPFAIL, .err = ENOENT });
	/* The driver pciback's module, by the name modprobe gives it. */
	assert_non_null(strstr(vlc_param_str(reply, "message"), "module xen_pciback is not loaded"));
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "driver_override", NULL), 0);
	assert_original(f, 0);
	assert_original(f, 1);
	assert_int_equal(kfix_claims(f), 0);
}

int main(void)
{
	struct CMUnitTest tests[ARRAY_SIZE(rows) + 1];

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		tests[i] = (struct CMUnitTest){ .name = rows[i].name, .test_func = test_row,
						.setup_func = row_setup,
						.teardown_func = kfix_teardown,
						.initial_state = (void *)&rows[i] };
	tests[ARRAY_SIZE(rows)] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
		test_load_module, kfix_setup, kfix_teardown);
	return _cmocka_run_group_tests("it-claim-faults", tests, ARRAY_SIZE(tests), NULL, NULL);
}
