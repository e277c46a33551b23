/* Claim, Release and ListClaims end to end on the kernel emulator: the
 * claim table, the IOMMU group rules and the all-or-nothing rollback, each
 * checked against the kernel's view as well as the daemon's answer. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NIC "0000:03:00.0" /* e1000e, IOMMU group 8 */
#define NIC_GROUP "8"
#define G10_A "0000:05:00.0" /* r8169 */
#define G10_B "0000:05:01.0" /* serial */
#define G10_C "0000:05:02.0" /* snd_emu10k1 */
#define G10_BRIDGE "0000:04:00.0"
#define VF "0000:06:10.2" /* already on vfio-pci */

/* Claim (or Release, with managed < 0 meaning "leave out") of `ids`. */
static json_object *call_claims(struct vlc *c, const char *method, const char *driver,
				const char *domain, const char *const *ids, size_t n,
				int managed, bool whole_group)
{
	json_object *p = json_object_new_object(), *arr = json_object_new_array(), *reply;

	json_object_object_add(p, "owner", kfix_owner(driver, domain));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_string(ids[i]));
	if (n || streq(method, "io.hostdevd.Claim"))
		json_object_object_add(p, "devices", arr);
	else
		json_object_put(arr);
	if (managed >= 0)
		json_object_object_add(p, "managed", json_object_new_boolean(managed));
	if (whole_group)
		json_object_object_add(p, "whole_group", json_object_new_boolean(1));
	reply = vlc_call(c, method, p);
	json_object_put(p);
	return reply;
}

#define CLAIM(f, drv, dom, ...)                                                          \
	call_claims((f)->c, "io.hostdevd.Claim", drv, dom, (const char *const[]){ __VA_ARGS__ }, \
		    ARRAY_SIZE(((const char *const[]){ __VA_ARGS__ })), -1, false)
#define RELEASE(f, drv, dom, ...)                                                        \
	call_claims((f)->c, "io.hostdevd.Release", drv, dom,                                  \
		    (const char *const[]){ __VA_ARGS__ },                                       \
		    ARRAY_SIZE(((const char *const[]){ __VA_ARGS__ })), -1, false)

static void assert_error(json_object *reply, const char *error, const char *device)
{
	assert_string_equal(vlc_error(reply), error);
	assert_string_equal(vlc_param_str(reply, "device"), device);
}

static void test_managed_claim_and_release(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *v, *e;

	reply = CLAIM(f, "qemu", "vm1", NIC);
	assert_true(json_object_object_get_ex(vlc_params(reply), "claims", &v));
	assert_int_equal(json_object_array_length(v), 1);
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	assert_true(kemu_vfio_present(f->root, NIC_GROUP));
	kfix_wait_state(f, NIC, "claimed");

	reply = vlc_call(f->c, "io.hostdevd.ListClaims", NULL);
	assert_true(json_object_object_get_ex(vlc_params(reply), "claims", &v));
	assert_int_equal(json_object_array_length(v), 1);
	e = json_object_array_get_idx(v, 0);
	assert_string_equal(kfix_str_at(e, "device", NULL), NIC);
	assert_string_equal(kfix_str_at(e, "owner", "driver"), "qemu");
	assert_string_equal(kfix_str_at(e, "owner", "domain"), "vm1");
	assert_true(json_object_object_get_ex(e, "pid", &v));
	assert_int_equal(json_object_get_int(v), (int)getpid());
	assert_int_equal(strlen(kfix_str_at(e, "since", NULL)), strlen("2024-01-01T00:00:00Z"));
	json_object_put(reply);

	/* The device record names its holder. */
	reply = kfix_call_dev(f, "io.hostdevd.GetDevice", NIC, NULL);
	assert_string_equal(kfix_str_at(vlc_params(reply), "device", "state"), "claimed");
	assert_true(json_object_object_get_ex(vlc_params(reply), "device", &v));
	assert_string_equal(kfix_str_at(v, "claim", "driver"), "qemu");
	assert_string_equal(kfix_str_at(v, "claim", "domain"), "vm1");
	json_object_put(reply);

	/* Idempotent for the holder: nothing more is written. */
	reply = CLAIM(f, "qemu", "vm1", NIC);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "unbind", NIC), 1);

	/* Detach and Reattach leave a claimed device alone. */
	reply = kfix_call_dev(f, "io.hostdevd.Reattach", NIC, NULL);
	assert_error(reply, "io.hostdevd.DeviceInUse", NIC);
	json_object_put(reply);

	reply = RELEASE(f, "qemu", "vm1", NIC);
	assert_true(json_object_object_get_ex(vlc_params(reply), "released", &v));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)), NIC);
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_false(kemu_vfio_present(f->root, NIC_GROUP));
	kfix_wait_state(f, NIC, "host");
	assert_int_equal(kfix_claims(f), 0);
	reply = kfix_call_dev(f, "io.hostdevd.GetDevice", NIC, NULL);
	assert_true(json_object_object_get_ex(vlc_params(reply), "device", &v));
	assert_false(json_object_object_get_ex(v, "claim", NULL));
	json_object_put(reply);
}

static void test_two_owners_contend(void **state)
{
	struct fixture *f = *state;
	json_object *reply;

	reply = CLAIM(f, "qemu", "vm1", NIC);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	reply = CLAIM(f, "libxl", "vm2", NIC);
	assert_error(reply, "io.hostdevd.DeviceInUse", NIC);
	assert_string_equal(vlc_param_str(reply, "driver"), "qemu");
	assert_string_equal(vlc_param_str(reply, "domain"), "vm1");
	json_object_put(reply);
	/* The wrong owner cannot release it either, and nothing is released. */
	reply = RELEASE(f, "libxl", "vm2", NIC);
	assert_error(reply, "io.hostdevd.NotClaimed", NIC);
	json_object_put(reply);
	assert_int_equal(kfix_claims(f), 1);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
}

static void test_shared_group(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *members, *v;

	reply = CLAIM(f, "qemu", "vm1", G10_A);
	assert_error(reply, "io.hostdevd.GroupNotViable", G10_A);
	assert_int_equal(json_object_get_int(vlc_param(reply, "group")), 10);
	members = vlc_param(reply, "members");
	assert_int_equal(json_object_array_length(members), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(members, 0)), G10_B);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(members, 1)), G10_C);
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "driver_override", NULL), 0);

	reply = call_claims(f->c, "io.hostdevd.Claim", "qemu", "vm1",
			    (const char *const[]){ G10_A }, 1, -1, true);
	assert_true(json_object_object_get_ex(vlc_params(reply), "claims", &v));
	assert_int_equal(json_object_array_length(v), 3);
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, G10_A), "vfio-pci");
	assert_string_equal(kfix_kernel_driver(f, G10_B), "vfio-pci");
	assert_string_equal(kfix_kernel_driver(f, G10_C), "vfio-pci");
	assert_int_equal(kemu_writes(f->root, "driver_override", G10_BRIDGE), 0);

	/* Another owner asking for a member is told who holds the group. */
	reply = CLAIM(f, "libxl", "vm2", G10_B);
	assert_error(reply, "io.hostdevd.DeviceInUse", G10_B);
	json_object_put(reply);

	/* Release of everything the owner holds. */
	reply = call_claims(f->c, "io.hostdevd.Release", "qemu", "vm1", NULL, 0, -1, false);
	assert_true(json_object_object_get_ex(vlc_params(reply), "released", &v));
	assert_int_equal(json_object_array_length(v), 3);
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, G10_A), "r8169");
	assert_string_equal(kfix_kernel_driver(f, G10_B), "serial");
	assert_string_equal(kfix_kernel_driver(f, G10_C), "snd_emu10k1");
	assert_int_equal(kfix_claims(f), 0);
}

/* libxl/vm2 asks for a group member nobody holds, while qemu/vm1 holds
 * another member of the same group: in use, naming the holder's device. */
static void test_group_member_held_elsewhere(void **state)
{
	struct fixture *f = *state;
	json_object *reply;

	json_object_put(kfix_call_dev(f, "io.hostdevd.Detach", G10_B, NULL));
	json_object_put(kfix_call_dev(f, "io.hostdevd.Detach", G10_C, NULL));
	reply = CLAIM(f, "qemu", "vm1", G10_A);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	reply = call_claims(f->c, "io.hostdevd.Claim", "libxl", "vm2",
			    (const char *const[]){ G10_B }, 1, false, false);
	assert_error(reply, "io.hostdevd.DeviceInUse", G10_A);
	assert_string_equal(vlc_param_str(reply, "driver"), "qemu");
	assert_string_equal(vlc_param_str(reply, "domain"), "vm1");
	json_object_put(reply);
	/* Nothing moved for the refused claim. */
	assert_string_equal(kfix_kernel_driver(f, G10_B), "vfio-pci");
	kfix_wait_state(f, G10_B, "detached");
	assert_int_equal(kfix_claims(f), 1);
}

/* A claimed device unplugged: Watch's remove event still names the holder,
 * and the claim stays listed (SPEC: a claimed device vanishing is reported,
 * the claim kept). */
static void test_claimed_device_vanishes(void **state)
{
	struct fixture *f = *state;
	struct vlc *watch = vlc_connect(f->daemon.socket_path);
	json_object *reply, *ev = NULL, *dev;

	json_object_put(CLAIM(f, "qemu", "vm1", NIC));
	vlc_send(watch, "io.hostdevd.Watch", NULL, true);
	json_object_put(vlc_recv(watch)); /* the current sequence number */
	tb_unplug(f->tb, NIC);
	/* Events of the unplug in order; the remove is the one to check. */
	for (;;) {
		reply = vlc_recv(watch);
		assert_true(json_object_object_get_ex(vlc_params(reply), "event", &ev));
		if (streq(kfix_str_at(ev, "event", NULL), "remove") &&
		    streq(kfix_str_at(ev, "id", NULL), NIC))
			break;
		json_object_put(reply);
	}
	assert_true(json_object_object_get_ex(ev, "device", &dev));
	assert_string_equal(kfix_str_at(dev, "claim", "domain"), "vm1");
	assert_string_equal(kfix_str_at(dev, "state", NULL), "claimed");
	json_object_put(reply);
	vlc_free(watch);
	assert_int_equal(kfix_claims(f), 1);
}

/* The claim's card back in its slot: claimed, on vfio-pci again. */
static bool back_on_vfio(struct fixture *f, const void *arg)
{
	json_object *reply = kfix_call_dev(f, "io.hostdevd.GetDevice", NIC, NULL);
	/* DeviceNotFound until the daemon has heard of the add. */
	bool back = !vlc_error(reply) &&
		    streq(kfix_str_at(vlc_params(reply), "device", "state"), "claimed") &&
		    streq(kfix_kernel_driver(f, NIC), "vfio-pci");

	json_object_put(reply);
	return back;
}

/* Unplugged and plugged again: the same card is detached to vfio-pci
 * again and claimed; another card in the slot inherits nothing.  Between
 * the add and the kernel's bind of e1000e the record is rightly claimed
 * (the claim outlived the unplug) and unbound, so the wait is for both. */
static void test_claimed_device_returns(void **state)
{
	struct fixture *f = *state;

	json_object_put(CLAIM(f, "qemu", "vm1", NIC));
	tb_unplug(f->tb, NIC);
	tb_plug(f->tb, NIC); /* the kernel binds e1000e, its native driver */
	kfix_wait_until(f, back_on_vfio, NULL, "the card claimed again on vfio-pci");
	assert_int_equal(kfix_claims(f), 1);

	tb_unplug(f->tb, NIC);
	tb_set_pci_ids(f->tb, NIC, 0x8086, 0x1533);
	tb_plug(f->tb, NIC);
	kfix_wait_state(f, NIC, "host");
	assert_int_equal(kfix_claims(f), 0);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
}

static void test_failure_rolls_back_every_device(void **state)
{
	struct fixture *f = *state;
	json_object *reply;

	kemu_fault(f->root, "unbind", G10_B, EBUSY);
	reply = CLAIM(f, "qemu", "vm1", G10_A, G10_B, G10_C);
	assert_error(reply, "io.hostdevd.OperationFailed", G10_B);
	assert_string_equal(vlc_param_str(reply, "step"), "unbind");
	assert_int_equal(json_object_get_int(vlc_param(reply, "errno")), EBUSY);
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, G10_A), "r8169");
	assert_string_equal(kfix_kernel_driver(f, G10_B), "serial");
	assert_string_equal(kfix_kernel_driver(f, G10_C), "snd_emu10k1");
	assert_int_equal(kemu_writes(f->root, "driver_override", G10_C), 0);
	assert_int_equal(kfix_claims(f), 0);
	kfix_wait_state(f, G10_A, "host");
	kfix_wait_state(f, G10_B, "host");
}

static void test_unmanaged_claim_writes_nothing(void **state)
{
	struct fixture *f = *state;
	json_object *reply;
	_cleanup_free_ char *before = kemu_log(f->root), *after = NULL;

	reply = call_claims(f->c, "io.hostdevd.Claim", "qemu", "vm1",
			    (const char *const[]){ VF }, 1, 0, false);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	kfix_wait_state(f, VF, "claimed");
	reply = RELEASE(f, "qemu", "vm1", VF);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	/* Unmanaged: back to the detached pool, still on the stub. */
	kfix_wait_state(f, VF, "detached");
	after = kemu_log(f->root);
	assert_string_equal(before, after);
	assert_string_equal(kfix_kernel_driver(f, VF), "vfio-pci");

	/* Unmanaged needs a detached device. */
	reply = call_claims(f->c, "io.hostdevd.Claim", "qemu", "vm1",
			    (const char *const[]){ NIC }, 1, 0, false);
	assert_error(reply, "io.hostdevd.InvalidDeviceState", NIC);
	json_object_put(reply);
}

static void test_refusals(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *p;

	reply = CLAIM(f, "qemu", "vm1", "0000:99:00.0");
	assert_error(reply, "io.hostdevd.DeviceNotFound", "0000:99:00.0");
	json_object_put(reply);
	reply = CLAIM(f, "qemu", "vm1", "0000:00:00.0");
	assert_error(reply, "io.hostdevd.HostCritical", "0000:00:00.0");
	json_object_put(reply);
	reply = RELEASE(f, "qemu", "vm1", NIC);
	assert_error(reply, "io.hostdevd.NotClaimed", NIC);
	json_object_put(reply);
	p = json_object_new_object();
	json_object_object_add(p, "owner", kfix_owner("qemu", ""));
	json_object_object_add(p, "devices", json_object_new_array());
	reply = vlc_call(f->c, "io.hostdevd.Claim", p);
	assert_string_equal(vlc_error(reply), "org.varlink.service.InvalidParameter");
	json_object_put(reply);
	json_object_put(p);
	assert_int_equal(kfix_claims(f), 0);
}

#define RACERS 16
#define ROUNDS 20

/* Every round 16 owners ask for one device at once: exactly one wins. */
static void test_racing_claims(void **state)
{
	struct fixture *f = *state;
	struct vlc *c[RACERS];

	for (int i = 0; i < RACERS; i++)
		c[i] = vlc_connect(f->daemon.socket_path);
	for (int round = 0; round < ROUNDS; round++) {
		int winners = 0, winner = -1;
		char domain[16];

		for (int i = 0; i < RACERS; i++) {
			json_object *p;

			snprintf(domain, sizeof(domain), "vm%d", i);
			p = kfix_owner_params("qemu", domain, NIC);
			vlc_send(c[i], "io.hostdevd.Claim", p, false);
			json_object_put(p);
		}
		for (int i = 0; i < RACERS; i++) {
			json_object *reply = vlc_recv(c[i]);
			const char *err = vlc_error(reply);

			if (!err) {
				winners++;
				winner = i;
			} else if (!streq(err, "io.hostdevd.DeviceInUse")) {
				assert_string_equal(err, "io.hostdevd.DeviceBusy");
			}
			json_object_put(reply);
		}
		assert_int_equal(winners, 1);
		assert_int_equal(kfix_claims(f), 1);
		snprintf(domain, sizeof(domain), "vm%d", winner);
		json_object_put(RELEASE(f, "qemu", domain, NIC));
		assert_int_equal(kfix_claims(f), 0);
	}
	for (int i = 0; i < RACERS; i++)
		vlc_free(c[i]);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
}

/* ---- Reset -------------------------------------------------------------- */

/* Reset of `id`, naming an owner when `driver` is given. */
static json_object *call_reset(struct vlc *c, const char *id, const char *driver,
			       const char *domain)
{
	json_object *p = kfix_dev_params(id, NULL), *reply;

	if (driver)
		json_object_object_add(p, "owner", kfix_owner(driver, domain));
	reply = vlc_call(c, "io.hostdevd.Reset", p);
	json_object_put(p);
	return reply;
}

static void assert_reset_done(json_object *reply, const char *id)
{
	json_object *m = vlc_param(reply, "methods");
	static const char *const want[] = { "flr", "pm", "bus" };

	assert_null(vlc_error(reply));
	assert_string_equal(vlc_param_str(reply, "device"), id);
	assert_int_equal(json_object_array_length(m), ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		assert_string_equal(json_object_get_string(json_object_array_get_idx(m, i)),
				    want[i]);
}

static void assert_failed(json_object *reply, const char *id, const char *step, int err)
{
	assert_error(reply, "io.hostdevd.OperationFailed", id);
	assert_string_equal(vlc_param_str(reply, "step"), step);
	assert_int_equal(json_object_get_int(vlc_param(reply, "errno")), err);
}

/* One write of "1" to reset; the reply lists the kernel's methods in its
 * order, and the device keeps its driver and state. */
static void test_reset(void **state)
{
	struct fixture *f = *state;
	json_object *reply = call_reset(f->c, NIC, NULL, NULL);

	assert_reset_done(reply, NIC);
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "reset", NIC), 1);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	kfix_wait_state(f, NIC, "host");
}

static void test_reset_refusals(void **state)
{
	struct fixture *f = *state;
	json_object *reply;

	/* No reset attribute: nothing to write to. */
	reply = call_reset(f->c, "0000:05:01.0", NULL, NULL);
	assert_failed(reply, "0000:05:01.0", "reset", ENOTTY);
	assert_non_null(strstr(vlc_param_str(reply, "message"), "no reset"));
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "reset", "0000:05:01.0"), 0);
	/* A bridge stays with the host. */
	reply = call_reset(f->c, "0000:00:1c.1", NULL, NULL);
	assert_error(reply, "io.hostdevd.HostCritical", "0000:00:1c.1");
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "reset", "0000:00:1c.1"), 0);
	reply = call_reset(f->c, "1-2", NULL, NULL);
	assert_failed(reply, "1-2", "check", EOPNOTSUPP);
	json_object_put(reply);
	reply = call_reset(f->c, "0000:99:00.0", NULL, NULL);
	assert_string_equal(vlc_error(reply), "io.hostdevd.DeviceNotFound");
	json_object_put(reply);
	reply = call_reset(f->c, NIC, "qemu", "");
	assert_string_equal(vlc_error(reply), "org.varlink.service.InvalidParameter");
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "reset", NIC), 0);
}

/* The kernel's refusal comes back with its errno. */
static void test_reset_kernel_error(void **state)
{
	struct fixture *f = *state;
	json_object *reply;

	kemu_fault(f->root, "reset", NIC, EIO);
	reply = call_reset(f->c, NIC, NULL, NULL);
	assert_failed(reply, NIC, "reset", EIO);
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "reset", NIC), 1);
	kfix_wait_state(f, NIC, "host");
}

/* A claimed device is reset only by its owner. */
static void test_reset_claimed(void **state)
{
	struct fixture *f = *state;
	json_object *reply;

	json_object_put(CLAIM(f, "qemu", "vm1", NIC));
	kfix_wait_state(f, NIC, "claimed");
	reply = call_reset(f->c, NIC, NULL, NULL);
	assert_error(reply, "io.hostdevd.DeviceInUse", NIC);
	assert_string_equal(vlc_param_str(reply, "domain"), "vm1");
	json_object_put(reply);
	reply = call_reset(f->c, NIC, "libxl", "vm2");
	assert_error(reply, "io.hostdevd.DeviceInUse", NIC);
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "reset", NIC), 0);
	reply = call_reset(f->c, NIC, "qemu", "vm1");
	assert_reset_done(reply, NIC);
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "reset", NIC), 1);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	kfix_wait_state(f, NIC, "claimed");
	json_object_put(RELEASE(f, "qemu", "vm1", NIC));
}

/* A reset stuck in the kernel: Timeout for its caller, DeviceBusy for
 * anyone else until the write returns, then resets go through again. */
static void test_reset_stuck(void **state)
{
	struct fixture *f = *state;
	struct vlc *blocked = vlc_connect(f->daemon.socket_path);
	uint64_t deadline = now_ns() + (uint64_t)IT_TIMEOUT_MS * 1000000;
	json_object *p = kfix_dev_params(NIC, NULL), *reply;
	const char *err;

	kemu_block(f->root, "reset", NIC);
	vlc_send(blocked, "io.hostdevd.Reset", p, false);
	json_object_put(p);
	assert_true(kemu_wait_blocked(f->root, "reset", NIC, IT_TIMEOUT_MS));
	reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL);
	assert_error(reply, "io.hostdevd.DeviceBusy", NIC);
	assert_string_equal(vlc_param_str(reply, "operation"), "Reset");
	json_object_put(reply);
	reply = vlc_recv(blocked);
	assert_error(reply, "io.hostdevd.Timeout", NIC);
	assert_string_equal(vlc_param_str(reply, "step"), "reset");
	json_object_put(reply);
	kemu_release(f->root, "reset", NIC);
	/* The late return is applied on the daemon's loop: ask until it is. */
	do {
		reply = call_reset(f->c, NIC, NULL, NULL);
		err = vlc_error(reply);
		if (err && streq(err, "io.hostdevd.DeviceBusy") && now_ns() < deadline) {
			json_object_put(reply);
			continue;
		}
		break;
	} while (true);
	assert_reset_done(reply, NIC);
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "reset", NIC), 2);
	vlc_free(blocked);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, kfix_setup, kfix_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_managed_claim_and_release),
		T(test_two_owners_contend),
		T(test_shared_group),
		T(test_group_member_held_elsewhere),
		T(test_claimed_device_vanishes),
		T(test_claimed_device_returns),
		T(test_failure_rolls_back_every_device),
		T(test_unmanaged_claim_writes_nothing),
		T(test_refusals),
		T(test_racing_claims),
		T(test_reset),
		T(test_reset_refusals),
		T(test_reset_kernel_error),
		T(test_reset_claimed),
		T(test_reset_stuck),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
