/* libhostdev end to end: the shared library against the real hostdevd on
 * the standard machine, the kernel emulator applying the daemon's writes.
 * Each call is checked against the kernel's view (the driver link, what was
 * written) as well as the library's answer, and the example program runs
 * once through a whole guest's life. */
#include <hostdev/hostdev.h>

#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef HD_EXAMPLE_BIN
#error "HD_EXAMPLE_BIN must name the example program under test"
#endif

#define NIC "0000:03:00.0" /* e1000e, IOMMU group 8 */
#define NIC2 "0000:02:00.0" /* e1000e */
#define VF "0000:06:10.2" /* on vfio-pci from the start: the detached pool's */
#define G10_A "0000:05:00.0" /* r8169, IOMMU group 10 with G10_B, G10_C */
#define G10_B "0000:05:01.0" /* serial */
#define G10_C "0000:05:02.0" /* snd_emu10k1 */
#define G10_BRIDGE "0000:04:00.0"
#define KBD "1-2.1" /* a USB keyboard: two usbhid interfaces */
#define KBD_IF0 "1-2.1:1.0"
#define KBD_IF1 "1-2.1:1.1"
#define STICK "1-2.2" /* one of two identical USB flash drives */

static const struct hd_owner qemu_vm1 = { .driver = "qemu", .domain = "vm1" };
static const struct hd_owner libxl_vm2 = { .driver = "libxl", .domain = "vm2" };
static const char *const nic[] = { NIC };

static struct hd_manager *manager(struct fixture *f)
{
	struct hd_error *err = NULL;
	struct hd_manager *m = hd_manager_open(f->daemon.socket_path, &err);

	if (!m)
		fail_msg("%s: %s", hd_error_name(err), hd_error_message(err));
	/* The daemon under valgrind is slow; the step timeout bounds it. */
	hd_manager_set_timeout(m, IT_TIMEOUT_MS);
	return m;
}

/* Fails the test with the error's name and sentence.  Takes the error's
 * address, so that it is read after the call that sets it. */
static void assert_ok(int r, struct hd_error **err)
{
	if (r < 0)
		fail_msg("%d, %s: %s", r, hd_error_name(*err), hd_error_message(*err));
	assert_null(*err);
}

static size_t active_count(struct hd_manager *m, const char *driver, const char *domain)
{
	struct hd_claim_list *list;
	struct hd_error *err = NULL;
	size_t n;

	assert_ok(hd_list_active(m, driver, domain, &list, &err), &err);
	n = hd_claim_list_count(list);
	hd_claim_list_free(list);
	return n;
}

static void test_prepare_list_reattach(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	struct hd_claim_list *list;
	struct hd_error *err = NULL;
	const struct hd_claim *c;
	time_t before = time(NULL);

	assert_ok(hd_prepare_pci_devices(m, &qemu_vm1, nic, 1, 0, &list, &err), &err);
	assert_int_equal(hd_claim_list_count(list), 1);
	c = hd_claim_list_at(list, 0);
	assert_string_equal(hd_claim_device(c), NIC);
	/* The driver the claim chose, as the daemon said it; a claim by
	 * root hands over no node; the device was on its host driver. */
	assert_string_equal(hd_claim_stub_driver(c), "vfio-pci");
	if (getuid() == 0)
		assert_null(hd_claim_node_owner(c));
	assert_false(hd_claim_from_pool(c));
	hd_claim_list_free(list);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	kfix_wait_state(f, NIC, "claimed");

	assert_ok(hd_list_active(m, "qemu", "vm1", &list, &err), &err);
	assert_int_equal(hd_claim_list_count(list), 1);
	c = hd_claim_list_at(list, 0);
	assert_string_equal(hd_claim_device(c), NIC);
	assert_string_equal(hd_claim_bus(c), "pci");
	assert_string_equal(hd_claim_owner_driver(c), "qemu");
	assert_string_equal(hd_claim_owner_domain(c), "vm1");
	assert_null(hd_claim_owner_uuid(c));
	assert_true(hd_claim_managed(c));
	assert_int_equal(hd_claim_pid(c), getpid());
	assert_int_equal(hd_claim_uid(c), getuid());
	assert_int_equal(hd_claim_gid(c), getgid());
	assert_in_range(hd_claim_since_time(c), before - 1, time(NULL) + 1);
	hd_claim_list_free(list);
	assert_int_equal(active_count(m, NULL, "vm2"), 0);
	assert_int_equal(active_count(m, "libxl", NULL), 0);

	assert_ok(hd_reattach_pci_devices(m, &qemu_vm1, nic, 1, 0, &err), &err);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_int_equal(active_count(m, NULL, NULL), 0);
	kfix_wait_state(f, NIC, "host");
	hd_manager_free(m);
}

/* A second owner is told who holds the device; it cannot release it. */
static void test_device_in_use(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	struct hd_error *err = NULL;
	int r;

	assert_ok(hd_prepare_pci_devices(m, &qemu_vm1, nic, 1, 0, NULL, &err), &err);
	r = hd_prepare_pci_devices(m, &libxl_vm2, nic, 1, 0, NULL, &err);
	assert_int_equal(r, -EBUSY);
	assert_string_equal(hd_error_name(err), HD_ERROR_DEVICE_IN_USE);
	assert_string_equal(hd_error_message(err), NIC " is in use by driver qemu, domain vm1");
	assert_string_equal(hd_error_parameter_string(err, "device"), NIC);
	assert_string_equal(hd_error_parameter_string(err, "driver"), "qemu");
	hd_error_free(err);
	assert_int_equal(active_count(m, NULL, "vm2"), 0);

	r = hd_reattach_pci_devices(m, &libxl_vm2, nic, 1, 0, &err);
	assert_int_equal(r, -ENOENT);
	assert_string_equal(hd_error_name(err), HD_ERROR_NOT_CLAIMED);
	hd_error_free(err);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");

	/* What a hypervisor does after its domain crashed. */
	assert_ok(hd_reattach_all_devices(m, &qemu_vm1, 0, &err), &err);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_int_equal(active_count(m, NULL, NULL), 0);
	hd_manager_free(m);
}

static void test_group_not_viable(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	static const char *const a[] = { G10_A };
	struct hd_claim_list *list;
	struct hd_error *err = NULL;
	int r;

	r = hd_prepare_pci_devices(m, &qemu_vm1, a, 1, 0, NULL, &err);
	assert_int_equal(r, -EBUSY);
	assert_string_equal(hd_error_name(err), HD_ERROR_GROUP_NOT_VIABLE);
	assert_string_equal(hd_error_parameters_json(err),
			    "{\"device\":\"" G10_A "\",\"group\":10,\"members\":[\"" G10_B "\",\"" G10_C
			    "\"]}");
	assert_non_null(strstr(hd_error_message(err), "IOMMU group 10 is not viable, as these "
						      "members are not on a stub driver: " G10_B
						      ", " G10_C));
	hd_error_free(err);
	assert_int_equal(kemu_writes(f->root, "driver_override", NULL), 0);

	assert_ok(hd_prepare_pci_devices(m, &qemu_vm1, a, 1, HD_WHOLE_GROUP, &list, &err), &err);
	assert_int_equal(hd_claim_list_count(list), 3);
	hd_claim_list_free(list);
	assert_string_equal(kfix_kernel_driver(f, G10_A), "vfio-pci");
	assert_string_equal(kfix_kernel_driver(f, G10_B), "vfio-pci");
	assert_string_equal(kfix_kernel_driver(f, G10_C), "vfio-pci");
	assert_int_equal(kemu_writes(f->root, "driver_override", G10_BRIDGE), 0);
	assert_int_equal(active_count(m, "qemu", "vm1"), 3);

	assert_ok(hd_reattach_all_devices(m, &qemu_vm1, 0, &err), &err);
	assert_string_equal(kfix_kernel_driver(f, G10_A), "r8169");
	assert_string_equal(kfix_kernel_driver(f, G10_B), "serial");
	assert_string_equal(kfix_kernel_driver(f, G10_C), "snd_emu10k1");
	hd_manager_free(m);
}

static void test_node_detach_reattach(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	struct hd_error *err = NULL;
	char *driver = NULL;
	int r;

	assert_ok(hd_node_detach(m, NIC, NULL, &err), &err);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	kfix_wait_state(f, NIC, "detached");
	assert_ok(hd_node_reattach(m, NIC, &driver, &err), &err);
	assert_string_equal(driver, "e1000e");
	free(driver);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");

	assert_ok(hd_node_detach(m, NIC, "pci-stub", &err), &err);
	assert_string_equal(kfix_kernel_driver(f, NIC), "pci-stub");
	assert_ok(hd_node_reattach(m, NIC, NULL, &err), &err);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");

	/* The kernel refuses the unbind: its errno comes back, rolled back. */
	kemu_fault(f->root, "unbind", NIC, EBUSY);
	r = hd_node_detach(m, NIC, NULL, &err);
	assert_int_equal(r, -EBUSY);
	assert_string_equal(hd_error_name(err), HD_ERROR_OPERATION_FAILED);
	assert_int_equal(hd_error_errno(err), EBUSY);
	assert_string_equal(hd_error_parameter_string(err, "step"), "unbind");
	assert_non_null(strstr(hd_error_message(err), "node detach of " NIC " failed at step "
						      "unbind: Device or resource busy"));
	hd_error_free(err);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	hd_manager_free(m);
}

static void test_node_reset(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	struct hd_error *err = NULL;
	char **methods = NULL;
	int r;

	assert_ok(hd_node_reset(m, NIC, NULL, &methods, &err), &err);
	assert_string_equal(methods[0], "flr");
	assert_string_equal(methods[1], "pm");
	assert_string_equal(methods[2], "bus");
	assert_null(methods[3]);
	hd_strv_free(methods);
	assert_int_equal(kemu_writes(f->root, "reset", NIC), 1);

	/* Claimed: only for its owner. */
	assert_ok(hd_prepare_pci_devices(m, &qemu_vm1, nic, 1, 0, NULL, &err), &err);
	r = hd_node_reset(m, NIC, NULL, NULL, &err);
	assert_int_equal(r, -EBUSY);
	assert_string_equal(hd_error_name(err), HD_ERROR_DEVICE_IN_USE);
	hd_error_free(err);
	r = hd_node_reset(m, NIC, &libxl_vm2, NULL, &err);
	assert_int_equal(r, -EBUSY);
	hd_error_free(err);
	assert_int_equal(kemu_writes(f->root, "reset", NIC), 1);
	assert_ok(hd_node_reset(m, NIC, &qemu_vm1, NULL, &err), &err);
	assert_int_equal(kemu_writes(f->root, "reset", NIC), 2);
	assert_ok(hd_reattach_pci_devices(m, &qemu_vm1, nic, 1, 0, &err), &err);
	hd_manager_free(m);
}

/* A device of the other bus, or none at all, stops the call before the
 * daemon writes anything. */
static void test_bus_and_lookup_refusals(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	static const char *const stick[] = { "id:0781:5567:4C530001230815117394" };
	static const char *const missing[] = { "0000:99:00.0" };
	_cleanup_free_ char *before = kemu_log(f->root), *after = NULL;
	struct hd_error *err = NULL;
	int r;

	r = hd_prepare_pci_devices(m, &qemu_vm1, stick, 1, 0, NULL, &err);
	assert_int_equal(r, -EINVAL);
	assert_string_equal(hd_error_name(err), HD_ERROR_WRONG_BUS);
	assert_string_equal(hd_error_message(err),
			    "'id:0781:5567:4C530001230815117394' (" STICK ") is a USB device, but "
			    "this call takes PCI devices only; nothing was changed");
	hd_error_free(err);
	r = hd_prepare_usb_devices(m, &qemu_vm1, nic, 1, 0, NULL, &err);
	assert_int_equal(r, -EINVAL);
	assert_string_equal(hd_error_name(err), HD_ERROR_WRONG_BUS);
	hd_error_free(err);
	r = hd_prepare_pci_devices(m, &qemu_vm1, missing, 1, 0, NULL, &err);
	assert_int_equal(r, -ENODEV);
	assert_string_equal(hd_error_message(err), "no device matches '0000:99:00.0'");
	hd_error_free(err);
	after = kemu_log(f->root);
	assert_string_equal(before, after);
	assert_int_equal(active_count(m, NULL, NULL), 0);
	hd_manager_free(m);
}

/* ---- USB ------------------------------------------------------------------ */

/* Record-only by default: claimed, nothing written. */
static void test_usb_record_only(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	static const char *const kbd[] = { "usb:1.3" };
	struct hd_claim_list *list;
	struct hd_error *err = NULL;
	const struct hd_claim *c;

	assert_ok(hd_prepare_usb_devices(m, &qemu_vm1, kbd, 1, 0, &list, &err), &err);
	c = hd_claim_list_at(list, 0);
	assert_string_equal(hd_claim_device(c), KBD);
	assert_string_equal(hd_claim_bus(c), "usb");
	assert_false(hd_claim_managed(c));
	assert_int_equal(hd_claim_unbound_interface_count(c), 0);
	hd_claim_list_free(list);
	kfix_wait_state(f, KBD, "claimed");
	assert_string_equal(kfix_kernel_driver(f, KBD_IF0), "usbhid");
	assert_int_equal(kemu_writes(f->root, "unbind", NULL), 0);
	assert_ok(hd_reattach_usb_devices(m, &qemu_vm1, kbd, 1, 0, &err), &err);
	kfix_wait_state(f, KBD, "host");
	assert_int_equal(active_count(m, NULL, NULL), 0);
	hd_manager_free(m);
}

/* HD_UNBIND_INTERFACES: the interface drivers go, and come back at
 * reattach. */
static void test_usb_unbind_interfaces(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	static const char *const kbd[] = { KBD };
	struct hd_claim_list *list;
	struct hd_error *err = NULL;
	const struct hd_claim *c;
	const char *driver = NULL;

	assert_ok(hd_prepare_usb_devices(m, &qemu_vm1, kbd, 1, HD_UNBIND_INTERFACES, NULL, &err),
		  &err);
	assert_string_equal(kfix_kernel_driver(f, KBD_IF0), "");
	assert_string_equal(kfix_kernel_driver(f, KBD_IF1), "");
	assert_ok(hd_list_active(m, "qemu", "vm1", &list, &err), &err);
	c = hd_claim_list_at(list, 0);
	assert_true(hd_claim_managed(c));
	assert_int_equal(hd_claim_unbound_interface_count(c), 2);
	assert_string_equal(hd_claim_unbound_interface(c, 0, &driver), KBD_IF0);
	assert_string_equal(driver, "usbhid");
	assert_string_equal(hd_claim_unbound_interface(c, 1, &driver), KBD_IF1);
	hd_claim_list_free(list);
	assert_ok(hd_reattach_usb_devices(m, &qemu_vm1, kbd, 1, 0, &err), &err);
	assert_string_equal(kfix_kernel_driver(f, KBD_IF0), "usbhid");
	assert_string_equal(kfix_kernel_driver(f, KBD_IF1), "usbhid");
	hd_manager_free(m);
}

/* PCI and USB in one claim, all or nothing: a refused PCI function leaves
 * the USB device unclaimed; then both go, and come back together. */
static void test_domain_devices(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	static const char *const bridge[] = { "0000:00:1c.1" }, *const kbd[] = { KBD };
	struct hd_claim_list *list;
	struct hd_error *err = NULL;
	int r;

	r = hd_prepare_domain_devices(m, &qemu_vm1, bridge, 1, kbd, 1, 0, NULL, &err);
	assert_int_equal(r, -EPERM);
	assert_string_equal(hd_error_name(err), HD_ERROR_HOST_CRITICAL);
	hd_error_free(err);
	assert_int_equal(active_count(m, NULL, NULL), 0);

	assert_ok(hd_prepare_domain_devices(m, &qemu_vm1, nic, 1, kbd, 1, HD_UNBIND_INTERFACES,
					    &list, &err),
		  &err);
	assert_int_equal(hd_claim_list_count(list), 2);
	hd_claim_list_free(list);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	assert_string_equal(kfix_kernel_driver(f, KBD_IF0), "");
	assert_int_equal(active_count(m, "qemu", "vm1"), 2);
	assert_ok(hd_reattach_domain_devices(m, &qemu_vm1, nic, 1, kbd, 1, 0, &err), &err);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_driver(f, KBD_IF0), "usbhid");
	assert_int_equal(active_count(m, NULL, NULL), 0);
	hd_manager_free(m);
}

/* Two identical drives: vendor and product alone name both. */
static void test_usb_ambiguous(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	static const char *const sticks[] = { "id:0781:5567" };
	struct hd_error *err = NULL;
	int r;

	r = hd_prepare_usb_devices(m, &qemu_vm1, sticks, 1, 0, NULL, &err);
	assert_int_equal(r, -ENOTUNIQ);
	assert_string_equal(hd_error_name(err), HD_ERROR_AMBIGUOUS_DEVICE);
	assert_string_equal(hd_error_message(err), "'id:0781:5567' matches several devices (" STICK
						   ", 1-2.3); name one by its port path or PCI "
						   "address");
	hd_error_free(err);
	assert_int_equal(active_count(m, NULL, NULL), 0);
	hd_manager_free(m);
}

/* ---- Managed per device (hd_prepare_hostdevs) ----------------------------- */

/* How many claims the daemon began for qemu/vm1 (its log's line for each
 * Claim that passed its checks). */
static size_t claims_begun(struct fixture *f)
{
	return kfix_log_count(f, "claim by qemu/vm1 of ");
}

static const struct hd_claim *claim_of(const struct hd_claim_list *l, const char *device)
{
	for (size_t i = 0; i < hd_claim_list_count(l); i++)
		if (streq(hd_claim_device(hd_claim_list_at(l, i)), device))
			return hd_claim_list_at(l, i);
	fail_msg("%s is not in the list", device);
	return NULL;
}

/* A managed NIC, the unmanaged VF from the pool and a USB keyboard by its
 * bus and device number: one Claim.  The reattach gives the NIC back to
 * e1000e and leaves the VF on vfio-pci, in the pool. */
static void test_hostdevs_mixed(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	static const struct hd_hostdev devs[] = {
		{ NIC, true }, { VF, false }, { "usb:1.3", true },
	};
	static const char *const pci[] = { NIC, VF }, *const usb[] = { KBD };
	struct hd_claim_list *list;
	struct hd_error *err = NULL;

	assert_ok(hd_prepare_hostdevs(m, &qemu_vm1, devs, 3, 0, &list, &err), &err);
	assert_int_equal(hd_claim_list_count(list), 3);
	assert_string_equal(hd_claim_device(hd_claim_list_at(list, 0)), NIC);
	assert_string_equal(hd_claim_device(hd_claim_list_at(list, 1)), VF);
	assert_string_equal(hd_claim_device(hd_claim_list_at(list, 2)), KBD);
	assert_true(hd_claim_managed(claim_of(list, NIC)));
	assert_false(hd_claim_managed(claim_of(list, VF)));
	/* USB has no managed side: recorded, nothing unbound. */
	assert_false(hd_claim_managed(claim_of(list, KBD)));
	assert_string_equal(hd_claim_bus(claim_of(list, KBD)), "usb");
	hd_claim_list_free(list);
	assert_int_equal(claims_begun(f), 1);
	kfix_wait_log(f, "claim by qemu/vm1 of 3 device(s), managed per device");
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	assert_string_equal(kfix_kernel_driver(f, KBD_IF0), "usbhid");
	assert_int_equal(kemu_writes(f->root, "unbind", VF), 0);
	assert_int_equal(active_count(m, "qemu", "vm1"), 3);

	assert_ok(hd_reattach_domain_devices(m, &qemu_vm1, pci, 2, usb, 1, 0, &err), &err);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_driver(f, VF), "vfio-pci");
	assert_int_equal(kemu_writes(f->root, "unbind", VF), 0);
	kfix_wait_state(f, NIC, "host");
	kfix_wait_state(f, VF, "detached");
	kfix_wait_state(f, KBD, "host");
	assert_int_equal(active_count(m, NULL, NULL), 0);
	hd_manager_free(m);
}

/* Any refusal holds nothing, whichever device it is for and whenever it
 * comes: before any write (an unmanaged device still on its host driver, a
 * device another owner holds) or at the kernel's unbind of the managed one,
 * after the unmanaged one was taken from the pool. */
static void test_hostdevs_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	static const struct hd_hostdev not_detached[] = { { NIC, true }, { NIC2, false } };
	static const struct hd_hostdev vf_then_nic[] = { { VF, false }, { NIC, true } };
	_cleanup_free_ char *before = kemu_log(f->root), *after = NULL;
	struct hd_error *err = NULL;
	int r;

	r = hd_prepare_hostdevs(m, &qemu_vm1, not_detached, 2, 0, NULL, &err);
	assert_int_equal(r, -EINVAL);
	assert_string_equal(hd_error_name(err), HD_ERROR_INVALID_DEVICE_STATE);
	assert_string_equal(hd_error_parameter_string(err, "device"), NIC2);
	hd_error_free(err);
	after = kemu_log(f->root);
	assert_string_equal(before, after);
	assert_int_equal(active_count(m, NULL, NULL), 0);

	assert_ok(hd_prepare_pci_devices(m, &libxl_vm2, nic, 1, 0, NULL, &err), &err);
	r = hd_prepare_hostdevs(m, &qemu_vm1, vf_then_nic, 2, 0, NULL, &err);
	assert_int_equal(r, -EBUSY);
	assert_string_equal(hd_error_message(err), NIC " is in use by driver libxl, domain vm2");
	hd_error_free(err);
	assert_int_equal(active_count(m, "qemu", "vm1"), 0);
	assert_ok(hd_reattach_all_devices(m, &libxl_vm2, 0, &err), &err);

	kemu_fault(f->root, "unbind", NIC, EBUSY);
	r = hd_prepare_hostdevs(m, &qemu_vm1, vf_then_nic, 2, 0, NULL, &err);
	assert_int_equal(r, -EBUSY);
	assert_string_equal(hd_error_name(err), HD_ERROR_OPERATION_FAILED);
	assert_string_equal(hd_error_parameter_string(err, "step"), "unbind");
	hd_error_free(err);
	kemu_fault_clear(f->root, "unbind", NIC);
	assert_int_equal(active_count(m, NULL, NULL), 0);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_driver(f, VF), "vfio-pci");
	kfix_wait_state(f, VF, "detached");
	kfix_wait_state(f, NIC, "host");
	hd_manager_free(m);
}

/* Input the library cannot send is its InvalidArgument, nothing sent; no
 * device is no call; more devices than hostdevd reads in one message is its
 * RequestTooLarge, and the manager goes on. */
static void test_hostdevs_refused_input(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	static const struct hd_hostdev no_device[] = { { NIC, true }, { NULL, false } };
	static const struct hd_hostdev empty_device[] = { { "", true } };
	/* 40,000 entries of about 40 bytes: over the default 1 MiB. */
	const size_t many = 40000;
	struct hd_hostdev *lots = calloc(many, sizeof(*lots));
	_cleanup_free_ char *before = kemu_log(f->root), *after = NULL;
	struct hd_claim_list *list = NULL;
	struct hd_error *err = NULL;
	int r;

	r = hd_prepare_hostdevs(m, &qemu_vm1, no_device, 2, 0, NULL, &err);
	assert_int_equal(r, -EINVAL);
	assert_string_equal(hd_error_name(err), HD_ERROR_INVALID_ARGUMENT);
	assert_string_equal(hd_error_parameter_string(err, "argument"), "devs");
	hd_error_free(err);
	assert_int_equal(hd_prepare_hostdevs(m, &qemu_vm1, empty_device, 1, 0, NULL, NULL),
			 -EINVAL);
	assert_int_equal(hd_prepare_hostdevs(m, &qemu_vm1, NULL, 3, 0, NULL, NULL), -EINVAL);
	assert_int_equal(hd_prepare_hostdevs(m, &qemu_vm1, empty_device, 1, HD_UNMANAGED, NULL,
					     NULL),
			 -EINVAL);
	assert_ok(hd_prepare_hostdevs(m, &qemu_vm1, NULL, 0, 0, &list, &err), &err);
	assert_int_equal(hd_claim_list_count(list), 0);
	hd_claim_list_free(list);

	assert_non_null(lots);
	for (size_t i = 0; i < many; i++)
		lots[i] = (struct hd_hostdev){ NIC, true };
	r = hd_prepare_hostdevs(m, &qemu_vm1, lots, many, 0, NULL, &err);
	free(lots);
	assert_int_equal(r, -EMSGSIZE);
	assert_string_equal(hd_error_name(err), "io.hostdevd.RequestTooLarge");
	hd_error_free(err);

	after = kemu_log(f->root);
	assert_string_equal(before, after);
	assert_int_equal(claims_begun(f), 0);
	assert_int_equal(active_count(m, NULL, NULL), 0);
	hd_manager_free(m);
}

/* ---- The example program ------------------------------------------------- */

struct example {
	pid_t pid;
	int in, out;
	char *err_path;
	char output[8192];
	size_t len;
};

static void example_start(struct fixture *f, struct example *x, const char *const *args)
{
	const char *argv[16] = { HD_EXAMPLE_BIN };
	int in[2], out[2];
	posix_spawn_file_actions_t fa;
	size_t n = 1;

	for (; *args && n < 15; args++)
		argv[n++] = *args;
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_true(asprintf(&x->err_path, "%s/example.err", f->daemon.dir) > 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, x->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	setenv("HOSTDEVD_SOCKET", f->daemon.socket_path, 1);
	assert_int_equal(posix_spawn(&x->pid, HD_EXAMPLE_BIN, &fa, NULL, (char **)argv, environ),
			 0);
	unsetenv("HOSTDEVD_SOCKET");
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	x->in = in[1];
	x->out = out[0];
	x->len = 0;
}

/* Reads the example's stdout until `needle` appears (NULL: until it
 * closes); fails at the test deadline. */
static void example_read_until(struct example *x, const char *needle)
{
	uint64_t deadline = now_ns() + (uint64_t)IT_TIMEOUT_MS * 1000000;

	while (!needle || !strstr(x->output, needle)) {
		struct pollfd p = { .fd = x->out, .events = POLLIN };
		int left = (int)((deadline - now_ns()) / 1000000);
		ssize_t n;

		if (now_ns() >= deadline || poll(&p, 1, left) != 1)
			fail_msg("hd-example: no \"%s\" within the deadline:\n%s",
				 needle ? needle : "EOF", x->output);
		n = read(x->out, x->output + x->len, sizeof(x->output) - 1 - x->len);
		assert_true(n >= 0);
		if (n == 0) {
			if (needle)
				fail_msg("hd-example ended without \"%s\":\n%s", needle, x->output);
			return;
		}
		x->len += (size_t)n;
		x->output[x->len] = '\0';
	}
}

/* Reads to the end and returns the exit status; prints what it said on
 * stderr. */
static int example_finish(struct example *x, char **err_text)
{
	int status;
	FILE *fp;
	size_t cap = 0;

	example_read_until(x, NULL);
	assert_int_equal(waitpid(x->pid, &status, 0), x->pid);
	close(x->in);
	close(x->out);
	fp = fopen(x->err_path, "r");
	assert_non_null(fp);
	*err_text = NULL;
	if (getdelim(err_text, &cap, '\0', fp) < 0) {
		free(*err_text);
		*err_text = xstrdup("");
	}
	fclose(fp);
	free(x->err_path);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The whole life: prepare, list while the "guest runs", Enter, reattach.
 * The VF, detached beforehand, is claimed unmanaged in the same claim and
 * stays on vfio-pci. */
static void test_example_program(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	struct example x = { 0 };
	_cleanup_free_ char *err_text = NULL;

	example_start(f, &x,
		      (const char *const[]){ "--driver", "qemu", "vm1", NIC, VF "=unmanaged", "--usb",
					     STICK, NULL });
	example_read_until(&x, "press Enter");
	assert_non_null(strstr(x.output, "qemu/vm1 holds 3 device(s):\n"));
	assert_non_null(strstr(x.output, "\n" NIC "   pci  yes       "));
	assert_non_null(strstr(x.output, "\n" VF "   pci  no        "));
	assert_non_null(strstr(x.output, "\n" STICK "          usb  no        "));
	assert_int_equal(claims_begun(f), 1);
	/* The guest's turn: the devices are the domain's, the NIC on vfio-pci. */
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	assert_int_equal(active_count(m, "qemu", "vm1"), 3);
	assert_int_equal(write(x.in, "\n", 1), 1);
	assert_int_equal(example_finish(&x, &err_text), 0);
	assert_non_null(strstr(x.output, "reattached 3 device(s)\n"));
	assert_string_equal(err_text, "");
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_driver(f, VF), "vfio-pci");
	assert_int_equal(kemu_writes(f->root, "unbind", NIC), 2);
	assert_int_equal(kemu_writes(f->root, "unbind", VF), 0);
	assert_int_equal(active_count(m, NULL, NULL), 0);
	hd_manager_free(m);
}

/* A refusal is printed with its name, and the status says so. */
static void test_example_program_refused(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	struct hd_error *err = NULL;
	struct example x = { 0 };
	_cleanup_free_ char *err_text = NULL;

	assert_ok(hd_prepare_pci_devices(m, &libxl_vm2, nic, 1, 0, NULL, &err), &err);
	example_start(f, &x, (const char *const[]){ "--no-wait", "vm1", NIC, NULL });
	assert_int_equal(example_finish(&x, &err_text), 1);
	assert_string_equal(err_text, "hd-example: preparing the devices: " NIC " is in use by "
				      "driver libxl, domain vm2 (io.hostdevd.DeviceInUse)\n");
	assert_int_equal(active_count(m, "libxl", "vm2"), 1);
	assert_ok(hd_reattach_all_devices(m, &libxl_vm2, 0, &err), &err);
	hd_manager_free(m);
}

/* The kernel refuses the reattach: the example reports it.  The claim is
 * over all the same; the device waits in the detached pool, on its stub,
 * for a node reattach. */
static void test_example_program_reattach_fails(void **state)
{
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	struct hd_error *err = NULL;
	struct example x = { 0 };
	_cleanup_free_ char *err_text = NULL;

	example_start(f, &x, (const char *const[]){ "vm1", NIC, NULL });
	example_read_until(&x, "press Enter");
	kemu_fault(f->root, "unbind", NIC, EBUSY);
	assert_int_equal(write(x.in, "\n", 1), 1);
	assert_int_equal(example_finish(&x, &err_text), 1);
	assert_non_null(strstr(err_text, "hd-example: reattaching the devices: reattach of " NIC
					 " failed at step unbind: Device or resource busy ("));
	assert_non_null(strstr(err_text, "(io.hostdevd.OperationFailed)\n"));
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	assert_int_equal(active_count(m, NULL, NULL), 0);
	kfix_wait_state(f, NIC, "detached");

	kemu_fault_clear(f->root, "unbind", NIC);
	assert_ok(hd_node_reattach(m, NIC, NULL, &err), &err);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	hd_manager_free(m);
}

/* HD_LEASE: a process that prepares with a lease on itself and exits
 * gives the NIC back without a reattach. */
static bool nic_back(struct fixture *f, const void *arg)
{
	return streq(kfix_kernel_driver(f, NIC), "e1000e") && kfix_claims(f) == 0;
}

static void test_prepare_leased(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t child;

	if (!kfix_leases_available())
		skip();
	child = fork();

	assert_true(child >= 0);
	if (child == 0) {
		struct hd_error *err = NULL;
		struct hd_manager *m = hd_manager_open(f->daemon.socket_path, &err);

		_exit(m && hd_prepare_pci_devices(m, &qemu_vm1, nic, 1, HD_LEASE, NULL, &err) == 0
			      ? 0
			      : 1);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	kfix_wait_until(f, nic_back, NULL, "the leased claim released as its process exited");
}

/* kfix.h's variant machine: NIC's ids have a variant in modules.alias,
 * loaded, its driver registered under another name than its module's. */
static int variants_setup(void **state)
{
	return kfix_setup_variants(state, NULL);
}

/* One managed claim of NIC naming `driver`: the driver the claim says it
 * chose and the kernel's agree; given back after. */
static void claim_named(struct fixture *f, struct hd_manager *m, const char *driver,
			const char *want)
{
	static const struct hd_hostdev dev[] = { { NIC, true } };
	struct hd_claim_list *list = NULL;
	struct hd_error *err = NULL;

	assert_ok(hd_prepare_hostdevs_driver(m, &qemu_vm1, dev, 1, driver, 0, &list, &err), &err);
	assert_int_equal(hd_claim_list_count(list), 1);
	assert_string_equal(hd_claim_stub_driver(hd_claim_list_at(list, 0)), want);
	hd_claim_list_free(list);
	assert_string_equal(kfix_kernel_driver(f, NIC), want);
	assert_ok(hd_reattach_pci_devices(m, &qemu_vm1, nic, 1, 0, &err), &err);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
}

/* A driver named by its module's name or by plain vfio-pci; none named,
 * the variant; one this host does not have, UnknownDriver with nothing
 * changed. */
static void test_prepare_naming_the_driver(void **state)
{
	static const struct hd_hostdev dev[] = { { NIC, true } };
	struct fixture *f = *state;
	struct hd_manager *m = manager(f);
	struct hd_error *err = NULL;
	int r;

	claim_named(f, m, KFIX_VARIANT_MODULE, KFIX_VARIANT_DRIVER);
	claim_named(f, m, "vfio-pci", "vfio-pci");
	claim_named(f, m, NULL, KFIX_VARIANT_DRIVER);
	r = hd_prepare_hostdevs_driver(m, &qemu_vm1, dev, 1, "no_such_vfio_pci", 0, NULL, &err);
	assert_int_equal(r, -EINVAL);
	assert_string_equal(hd_error_name(err), HD_ERROR_UNKNOWN_DRIVER);
	hd_error_free(err);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_int_equal(active_count(m, NULL, NULL), 0);
	hd_manager_free(m);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, kfix_setup, kfix_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_prepare_list_reattach),
		T(test_device_in_use),
		T(test_group_not_viable),
		T(test_node_detach_reattach),
		T(test_node_reset),
		T(test_bus_and_lookup_refusals),
		T(test_usb_record_only),
		T(test_usb_unbind_interfaces),
		T(test_domain_devices),
		T(test_usb_ambiguous),
		T(test_hostdevs_mixed),
		T(test_hostdevs_all_or_nothing),
		T(test_hostdevs_refused_input),
		T(test_example_program),
		T(test_example_program_refused),
		T(test_example_program_reattach_fails),
		T(test_prepare_leased),
		cmocka_unit_test_setup_teardown(test_prepare_naming_the_driver, variants_setup,
						kfix_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
