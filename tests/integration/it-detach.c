/* Detach and Reattach end to end: the real daemon on the standard machine,
 * with the kernel emulator (tests/kemu) giving its sysfs writes the kernel's
 * effect.  Every check reads the kernel's view (the driver link, the
 * override, /dev/vfio, what was written) as well as the daemon's answer. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef HOSTDEVCTL_BIN
#error "HOSTDEVCTL_BIN must name the hostdevctl binary under test"
#endif

#define NIC "0000:03:00.0"   /* e1000e, IOMMU group 8 */
#define NIC2 "0000:02:00.0"  /* e1000e, IOMMU group 6 */
#define NIC_GROUP "8"

static void test_detach_and_reattach(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *p;
	_cleanup_free_ char *log = NULL;

	reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL);
	p = vlc_params(reply);
	assert_string_equal(kfix_str_at(p, "device", "state"), "detached");
	assert_string_equal(kfix_str_at(p, "device", "driver"), "vfio-pci");
	assert_string_equal(kfix_str_at(p, "device", "original_driver"), "e1000e");
	json_object_put(reply);
	/* The kernel agrees, and the VFIO group node exists. */
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	assert_string_equal(kfix_kernel_override(f, NIC), "vfio-pci");
	assert_true(kemu_vfio_present(f->root, NIC_GROUP));
	/* The SPEC sequence, in order, each write once. */
	log = kemu_log(f->root);
	assert_non_null(strstr(log, "driver_override " NIC " vfio-pci = 0\n"
				    "unbind " NIC " " NIC " = 0\n"
				    "drivers_probe " NIC " " NIC " = 0\n"));

	reply = kfix_call_dev(f, "io.hostdevd.Reattach", NIC, NULL);
	p = vlc_params(reply);
	assert_string_equal(kfix_str_at(p, "device", "state"), "host");
	assert_string_equal(kfix_str_at(p, "driver", NULL), "e1000e");
	assert_string_equal(kfix_str_at(p, "outcome", NULL), "original");
	assert_null(kfix_str_at(p, "device", "original_driver"));
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_override(f, NIC), "(null)");
	assert_false(kemu_vfio_present(f->root, NIC_GROUP));
}

/* Xen's stub is the driver pciback, in the module xen-pciback: asked for by
 * either name, the device ends on pciback with the override "pciback" (the
 * name the kernel's pciback compares it with), and the answer says
 * pciback. */
static void test_detach_to_pciback_by_both_names(void **state)
{
	static const char *const names[] = { "xen-pciback", "pciback" };
	struct fixture *f = *state;

	tb_add_driver(f->tb, "pci", "pciback");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		json_object *reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, names[i]);
		json_object *p = vlc_params(reply);
		_cleanup_free_ char *log = NULL;

		assert_string_equal(kfix_str_at(p, "device", "state"), "detached");
		assert_string_equal(kfix_str_at(p, "device", "driver"), "pciback");
		json_object_put(reply);
		assert_string_equal(kfix_kernel_driver(f, NIC), "pciback");
		assert_string_equal(kfix_kernel_override(f, NIC), "pciback");
		assert_false(kemu_vfio_present(f->root, NIC_GROUP));
		log = kemu_log(f->root);
		assert_null(strstr(log, "xen-pciback"));
		vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Reattach", NIC, NULL));
		assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	}
	assert_int_equal(kemu_writes(f->root, "driver_override", NIC), 4);
}

/* Already on the stub: nothing is written. */
static void test_detach_of_a_detached_device_writes_nothing(void **state)
{
	struct fixture *f = *state;
	json_object *reply = kfix_call_dev(f, "io.hostdevd.Detach", "0000:06:10.2", NULL);

	assert_string_equal(kfix_str_at(vlc_params(reply), "device", "driver"), "vfio-pci");
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "driver_override", "0000:06:10.2"), 0);
	assert_int_equal(kemu_writes(f->root, "unbind", "0000:06:10.2"), 0);
	/* Its host driver was never recorded: Reattach finds the native one. */
	reply = kfix_call_dev(f, "io.hostdevd.Reattach", "0000:06:10.2", NULL);
	assert_string_equal(kfix_str_at(vlc_params(reply), "outcome", NULL), "native");
	assert_string_equal(kfix_str_at(vlc_params(reply), "driver", NULL), "igbvf");
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, "0000:06:10.2"), "igbvf");
}

/* A failed unbind: the error names the step and errno, and the override
 * written before it is undone; the device stays with its driver. */
static void test_failed_unbind_rolls_back(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *v;

	kemu_fault(f->root, "unbind", NIC, EBUSY);
	reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL);
	assert_string_equal(vlc_error(reply), "io.hostdevd.OperationFailed");
	assert_true(json_object_object_get_ex(reply, "parameters", &v));
	assert_string_equal(kfix_str_at(v, "step", NULL), "unbind");
	assert_string_equal(kfix_str_at(v, "device", NULL), NIC);
	assert_true(json_object_object_get_ex(v, "errno", &v));
	assert_int_equal(json_object_get_int(v), EBUSY);
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_override(f, NIC), "(null)");
	kfix_wait_state(f, NIC, "host");
}

/* drivers_probe "succeeds" and nothing binds: the daemon does not believe
 * the write, it waits for the link and gives up at the step timeout. */
static void test_bind_that_never_happens_times_out(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *v;

	kemu_never_bind(f->root, NIC);
	reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL);
	assert_string_equal(vlc_error(reply), "io.hostdevd.Timeout");
	assert_true(json_object_object_get_ex(reply, "parameters", &v));
	assert_string_equal(kfix_str_at(v, "step", NULL), "confirm_bind");
	json_object_put(reply);
	/* Its rollback cannot bind it either: an administrator's matter. */
	assert_string_equal(kfix_kernel_driver(f, NIC), "");
	kfix_wait_state(f, NIC, "error");
}

/* An unbind stuck in the kernel: the caller gets Timeout, everyone else is
 * served meanwhile, and when the write returns the device is rolled back. */
static void test_blocked_unbind_keeps_the_daemon_answering(void **state)
{
	struct fixture *f = *state;
	struct vlc *blocked = vlc_connect(f->daemon.socket_path);
	json_object *p = kfix_dev_params(NIC, NULL), *reply, *v;

	kemu_block(f->root, "unbind", NIC);
	vlc_send(blocked, "io.hostdevd.Detach", p, false);
	json_object_put(p);
	assert_true(kemu_wait_blocked(f->root, "unbind", NIC, IT_TIMEOUT_MS));
	/* Another client, another device: served while the unbind hangs. */
	reply = kfix_call_dev(f, "io.hostdevd.GetDevice", "0000:02:00.0", NULL);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	reply = kfix_call_dev(f, "io.hostdevd.Detach", "0000:02:00.0", NULL);
	assert_string_equal(kfix_str_at(vlc_params(reply), "device", "state"), "detached");
	json_object_put(reply);
	/* A second operation on the held device is refused, not queued. */
	reply = kfix_call_dev(f, "io.hostdevd.Reattach", NIC, NULL);
	assert_string_equal(vlc_error(reply), "io.hostdevd.DeviceBusy");
	json_object_put(reply);
	reply = vlc_recv(blocked);
	assert_string_equal(vlc_error(reply), "io.hostdevd.Timeout");
	assert_true(json_object_object_get_ex(reply, "parameters", &v));
	assert_string_equal(kfix_str_at(v, "step", NULL), "unbind");
	json_object_put(reply);
	kfix_wait_state(f, NIC, "error");
	/* The kernel lets go: the late write is rolled back. */
	kemu_release(f->root, "unbind", NIC);
	kfix_wait_state(f, NIC, "host");
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_override(f, NIC), "(null)");
	vlc_free(blocked);
}

static void test_host_critical_refused_without_a_write(void **state)
{
	struct fixture *f = *state;
	static const char *const critical[] = { "0000:00:00.0", "0000:04:00.0", "0000:01:00.0" };

	for (size_t i = 0; i < ARRAY_SIZE(critical); i++) {
		json_object *reply = kfix_call_dev(f, "io.hostdevd.Detach", critical[i], NULL);

		assert_string_equal(vlc_error(reply), "io.hostdevd.HostCritical");
		json_object_put(reply);
		assert_int_equal(kemu_writes(f->root, "driver_override", critical[i]), 0);
	}
}

/* hostdevctl's detach and reattach against the real daemon: the line a
 * user reads, the exit status a script reads. */
static void test_hostdevctl_detach_and_reattach(void **state)
{
	struct fixture *f = *state;
	static const char *const words[][2] = {
		{ "detach", "0000:02:00.0: detached, now on vfio-pci (was e1000e)\n" },
		{ "reattach", "0000:02:00.0: reattached to e1000e (original driver)\n" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		_cleanup_free_ char *cmd = NULL;
		char out[512] = "";
		size_t n;
		FILE *p;

		assert_true(asprintf(&cmd, "%s --socket %s %s 0000:02:00.0", HOSTDEVCTL_BIN,
				     f->daemon.socket_path, words[i][0]) > 0);
		p = popen(cmd, "r");
		assert_non_null(p);
		n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = '\0';
		assert_int_equal(pclose(p), 0);
		assert_string_equal(out, words[i][1]);
	}
	assert_string_equal(kfix_kernel_driver(f, "0000:02:00.0"), "e1000e");
}

/* hostdevctl detach --driver xen-pciback: the module's name, as hostdevd's
 * docs once gave it, detaches to the driver pciback. */
static void test_hostdevctl_detach_xen_pciback(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *cmd = NULL;
	char out[512] = "";
	size_t n;
	FILE *p;

	tb_add_driver(f->tb, "pci", "pciback");
	assert_true(asprintf(&cmd, "%s --socket %s detach 0000:02:00.0 --driver xen-pciback",
			     HOSTDEVCTL_BIN, f->daemon.socket_path) > 0);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
	assert_string_equal(out, "0000:02:00.0: detached, now on pciback (was e1000e)\n");
	assert_string_equal(kfix_kernel_driver(f, "0000:02:00.0"), "pciback");
	assert_string_equal(kfix_kernel_override(f, "0000:02:00.0"), "pciback");
}

/* ---- error, and the way out (Repair) ---------------------------------- */

static json_object *expect_repair(struct fixture *f, const char *id, const char *outcome,
				  const char *state, const char *driver)
{
	json_object *reply = kfix_call_dev(f, "io.hostdevd.Repair", id, NULL), *p;

	if (vlc_error(reply))
		fail_msg("Repair of %s: %s", id, json_object_to_json_string(reply));
	p = vlc_params(reply);
	assert_string_equal(kfix_str_at(p, "outcome", NULL), outcome);
	assert_string_equal(kfix_str_at(p, "device", "state"), state);
	if (driver)
		assert_string_equal(kfix_str_at(p, "driver", NULL), driver);
	return reply;
}

/* A Detach whose rollback cannot bind e1000e again leaves the function
 * unbound in `error`: Detach and Reattach refuse it.  Once the kernel binds
 * again, Repair probes it back to e1000e. */
static void test_repair_back_to_the_host(void **state)
{
	struct fixture *f = *state;
	json_object *reply;

	kemu_never_bind(f->root, NIC);
	reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL);
	assert_string_equal(vlc_error(reply), "io.hostdevd.Timeout");
	json_object_put(reply);
	kfix_wait_state(f, NIC, "error");
	assert_string_equal(kfix_kernel_driver(f, NIC), "");
	for (size_t i = 0; i < 2; i++) {
		reply = kfix_call_dev(f, i ? "io.hostdevd.Reattach" : "io.hostdevd.Detach", NIC,
				      NULL);
		assert_string_equal(vlc_error(reply), "io.hostdevd.InvalidDeviceState");
		json_object_put(reply);
	}
	kemu_never_bind_clear(f->root, NIC);
	json_object_put(expect_repair(f, NIC, "original", "host", "e1000e"));
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_override(f, NIC), "(null)");
	/* Settled: another Repair writes nothing. */
	assert_int_equal(kemu_writes(f->root, "drivers_probe", NIC), 3);
	json_object_put(expect_repair(f, NIC, "host", "host", "e1000e"));
	assert_int_equal(kemu_writes(f->root, "drivers_probe", NIC), 3);
	/* And the ordinary operations work again. */
	reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL);
	assert_string_equal(kfix_str_at(vlc_params(reply), "device", "state"), "detached");
	json_object_put(reply);
}

/* A Reattach from the pool that fails the same way: Repair binds it to its
 * stub again, into the pool it came from, and Reattach then works. */
static void test_repair_back_to_the_pool(void **state)
{
	struct fixture *f = *state;
	json_object *reply;

	vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL));
	kemu_never_bind(f->root, NIC);
	reply = kfix_call_dev(f, "io.hostdevd.Reattach", NIC, NULL);
	assert_string_equal(vlc_error(reply), "io.hostdevd.Timeout");
	json_object_put(reply);
	kfix_wait_state(f, NIC, "error");
	assert_string_equal(kfix_kernel_driver(f, NIC), "");
	kemu_never_bind_clear(f->root, NIC);
	reply = expect_repair(f, NIC, "rebound", "detached", "vfio-pci");
	assert_string_equal(kfix_str_at(vlc_params(reply), "device", "original_driver"), "e1000e");
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	assert_true(kemu_vfio_present(f->root, NIC_GROUP));
	reply = kfix_call_dev(f, "io.hostdevd.Reattach", NIC, NULL);
	assert_string_equal(kfix_str_at(vlc_params(reply), "outcome", NULL), "original");
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
}

/* Someone binds a device in `error` (the administrator, by hand): the bind
 * uevent says where it is, and it leaves `error` without a Repair. */
static void test_bind_event_moves_a_device_out_of_error(void **state)
{
	struct fixture *f = *state;

	kemu_never_bind(f->root, NIC);
	json_object_put(kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL));
	kfix_wait_state(f, NIC, "error");
	tb_bind(f->tb, NIC, "e1000e");
	kfix_wait_state(f, NIC, "host");
}

/* hostdevctl repair: the line a user reads. */
static void test_hostdevctl_repair(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *cmd = NULL;
	char out[512] = "";
	size_t n;
	FILE *p;

	kemu_never_bind(f->root, NIC);
	json_object_put(kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL));
	kfix_wait_state(f, NIC, "error");
	kemu_never_bind_clear(f->root, NIC);
	assert_true(asprintf(&cmd, "%s --socket %s repair " NIC, HOSTDEVCTL_BIN,
			     f->daemon.socket_path) > 0);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
	assert_string_equal(out, NIC ": repaired, now host on e1000e: reattached to its original "
				     "driver\n");
}

/* ---- no IOMMU ------------------------------------------------------------ */

#define NOGROUP "0000:0a:00.0"

/* A function plugged in with no IOMMU group (the IOMMU off): Detach and
 * Claim to vfio-pci are refused before anything is written, unless vfio's
 * unsafe no-IOMMU mode is on. */
static void test_no_iommu_refused_before_any_write(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *p;

	tb_add_pci(f->tb, &(struct tb_pci){ .addr = NOGROUP, .vendor = 0x8086, .device = 0x10d3,
					     .class_code = 0x020000, .driver = "e1000e",
					     .absent = true });
	tb_plug(f->tb, NOGROUP);
	kfix_wait_state(f, NOGROUP, "host");
	reply = kfix_call_dev(f, "io.hostdevd.Detach", NOGROUP, NULL);
	assert_string_equal(vlc_error(reply), "io.hostdevd.NoIommu");
	assert_string_equal(vlc_param_str(reply, "device"), NOGROUP);
	assert_string_equal(vlc_param_str(reply, "driver"), "vfio-pci");
	json_object_put(reply);
	p = kfix_owner_params("qemu", "vm1", NOGROUP);
	reply = vlc_call(f->c, "io.hostdevd.Claim", p);
	json_object_put(p);
	assert_string_equal(vlc_error(reply), "io.hostdevd.NoIommu");
	json_object_put(reply);
	_cleanup_free_ char *log = kemu_log(f->root);
	if (strstr(log, NOGROUP))
		fail_msg("written: %s", log);
	assert_string_equal(kfix_kernel_driver(f, NOGROUP), "e1000e");
	kfix_wait_state(f, NOGROUP, "host");
	assert_int_equal(kfix_claims(f), 0);

	kfix_put(f, "sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "Y\n");
	reply = kfix_call_dev(f, "io.hostdevd.Detach", NOGROUP, NULL);
	if (vlc_error(reply))
		fail_msg("Detach in no-IOMMU mode: %s", json_object_to_json_string(reply));
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NOGROUP), "vfio-pci");
}

/* ---- vfio-pci variant drivers ------------------------------------------ */

#define NOVARIANT "0000:06:10.0" /* igbvf 8086:10ca, group 13: no alias names it */

/* kfix.h's variant machine: NIC's variant is e1000e_vfio_pci, loaded,
 * whose driver is e1000e-vfio. */
static int variant_setup(void **state)
{
	return kfix_setup_variants(state, NULL);
}

/* Detach without a driver: the variant the aliases pick, by the name its
 * module registered; the answer says so; it is a stub (Reattach takes it
 * back to e1000e). */
static void test_detach_picks_the_variant(void **state)
{
	struct fixture *f = *state;
	json_object *reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL);
	json_object *p = vlc_params(reply);
	_cleanup_free_ char *log = NULL;

	if (vlc_error(reply))
		fail_msg("Detach: %s", json_object_to_json_string(reply));
	assert_string_equal(kfix_str_at(p, "device", "state"), "detached");
	assert_string_equal(kfix_str_at(p, "device", "driver"), "e1000e-vfio");
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e-vfio");
	assert_string_equal(kfix_kernel_override(f, NIC), "e1000e-vfio");
	log = kemu_log(f->root);
	assert_null(strstr(log, "e1000e_vfio_pci"));
	assert_null(strstr(log, "e1000e_generic_vfio"));

	reply = kfix_call_dev(f, "io.hostdevd.Reattach", NIC, NULL);
	p = vlc_params(reply);
	assert_string_equal(kfix_str_at(p, "device", "state"), "host");
	assert_string_equal(kfix_str_at(p, "outcome", NULL), "original");
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_override(f, NIC), "(null)");
}

/* `vfio-pci` forces the plain one; a device no alias names gets it too;
 * the variant may be named by its driver's name or its module's. */
static void test_variant_named_or_forced_off(void **state)
{
	static const char *const names[] = { "e1000e-vfio", "e1000e_vfio_pci" };
	struct fixture *f = *state;
	json_object *reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, "vfio-pci");

	assert_string_equal(kfix_str_at(vlc_params(reply), "device", "driver"), "vfio-pci");
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Reattach", NIC, NULL));

	reply = kfix_call_dev(f, "io.hostdevd.Detach", NOVARIANT, NULL);
	assert_string_equal(kfix_str_at(vlc_params(reply), "device", "driver"), "vfio-pci");
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NOVARIANT), "vfio-pci");
	assert_string_equal(kfix_kernel_override(f, NOVARIANT), "vfio-pci");

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, names[i]);
		if (vlc_error(reply))
			fail_msg("Detach to %s: %s", names[i], json_object_to_json_string(reply));
		assert_string_equal(kfix_str_at(vlc_params(reply), "device", "driver"),
				    "e1000e-vfio");
		json_object_put(reply);
		assert_string_equal(kfix_kernel_override(f, NIC), "e1000e-vfio");
		vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Reattach", NIC, NULL));
	}
	/* A driver that is no variant is no stub: UnknownDriver, with the
	 * names this host takes, and nothing written. */
	static const char *const unknown[] = { "e1000e_vfio_pci_x", "igbvf", "e1000e", "vfio_pci" };

	for (size_t i = 0; i < ARRAY_SIZE(unknown); i++) {
		json_object *accepted;
		size_t overrides = kemu_writes(f->root, "driver_override", NIC);

		reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, unknown[i]);
		assert_string_equal(vlc_error(reply), "io.hostdevd.UnknownDriver");
		assert_string_equal(vlc_param_str(reply, "driver"), unknown[i]);
		accepted = vlc_param(reply, "accepted");
		assert_string_equal(json_object_to_json_string_ext(accepted, JSON_C_TO_STRING_PLAIN),
				    "[\"vfio-pci\",\"pci-stub\",\"pciback\",\"xen-pciback\","
				    "\"e1000e-vfio\",\"e1000e_generic_vfio\",\"e1000e_vfio_pci\","
				    "\"intel_gpu_vfio\"]");
		json_object_put(reply);
		assert_int_equal(kemu_writes(f->root, "driver_override", NIC), overrides);
		assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	}
	/* Not a name at all: the parameter is malformed. */
	reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, "../vfio-pci");
	assert_string_equal(vlc_error(reply), "org.varlink.service.InvalidParameter");
	assert_string_equal(vlc_param_str(reply, "parameter"), "driver");
	json_object_put(reply);
}

/* A variant named by a module modules.alias has but that is not loaded:
 * taken, and loaded first; when it does not load (never, in the mock),
 * the detach fails at load_module naming the module, nothing written, the
 * device on its host driver: never plain vfio-pci in its place. */
static void test_variant_module_absent(void **state)
{
	struct fixture *f = *state;
	json_object *reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, KFIX_VARIANT_ABSENT);

	assert_string_equal(vlc_error(reply), "io.hostdevd.OperationFailed");
	assert_string_equal(vlc_param_str(reply, "step"), "load_module");
	assert_non_null(strstr(vlc_param_str(reply, "message"), KFIX_VARIANT_ABSENT));
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "driver_override", NIC), 0);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	reply = kfix_call_dev(f, "io.hostdevd.GetDevice", NIC, NULL);
	assert_string_equal(kfix_str_at(vlc_params(reply), "device", "state"), "host");
	json_object_put(reply);
}

/* A managed Claim without a driver: the same choice, said in its entry
 * (and in ListClaims); the release puts e1000e back. */
static void test_claim_picks_the_variant(void **state)
{
	struct fixture *f = *state;
	json_object *reply = kfix_owner_call(f, "io.hostdevd.Claim", NIC), *v, *e;

	if (vlc_error(reply))
		fail_msg("Claim: %s", json_object_to_json_string(reply));
	assert_true(json_object_object_get_ex(vlc_params(reply), "claims", &v));
	e = json_object_array_get_idx(v, 0);
	assert_string_equal(kfix_str_at(e, "driver", NULL), "e1000e-vfio");
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e-vfio");
	assert_string_equal(kfix_kernel_override(f, NIC), "e1000e-vfio");

	reply = vlc_call(f->c, "io.hostdevd.ListClaims", NULL);
	assert_true(json_object_object_get_ex(vlc_params(reply), "claims", &v));
	assert_string_equal(kfix_str_at(json_object_array_get_idx(v, 0), "driver", NULL),
			    "e1000e-vfio");
	json_object_put(reply);

	vlc_expect_ok(kfix_owner_call(f, "io.hostdevd.Release", NIC));
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_override(f, NIC), "(null)");
}

/* A daemon started with the variant's driver registered knows it for a
 * stub before it reads a device: after a crash, the function it detached
 * there is in the pool still, and Reattach brings e1000e back. */
static void test_variant_is_a_stub_after_a_restart(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX];
	struct hdproc dead;
	json_object *reply;

	vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL));
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e-vfio");
	snprintf(dir, sizeof(dir), "%s", f->daemon.state_dir);
	kfix_crash(f, &dead);
	kfix_start_on(f, dir);
	reply = kfix_call_dev(f, "io.hostdevd.GetDevice", NIC, NULL);
	assert_string_equal(kfix_str_at(vlc_params(reply), "device", "state"), "detached");
	assert_string_equal(kfix_str_at(vlc_params(reply), "device", "driver"), "e1000e-vfio");
	json_object_put(reply);
	reply = kfix_call_dev(f, "io.hostdevd.Reattach", NIC, NULL);
	assert_string_equal(kfix_str_at(vlc_params(reply), "outcome", NULL), "original");
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	hdproc_cleanup(&dead);
}

/* hostdevctl show says which variant a function has, and none for one
 * without. */
static void test_show_says_the_variant(void **state)
{
	static const struct {
		const char *id;
		bool variant;
	} cases[] = { { NIC, true }, { NOVARIANT, false } };
	struct fixture *f = *state;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *cmd = NULL;
		char out[4096] = "";
		size_t n;
		FILE *p;

		assert_true(asprintf(&cmd, "%s --socket %s show %s", HOSTDEVCTL_BIN,
				     f->daemon.socket_path, cases[i].id) > 0);
		p = popen(cmd, "r");
		assert_non_null(p);
		n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = '\0';
		assert_int_equal(pclose(p), 0);
		if (cases[i].variant) {
			const char *line = strstr(out, "vfio variant:");

			if (!line)
				fail_msg("no variant line in:\n%s", out);
			assert_non_null(strstr(line, "e1000e_vfio_pci (modules.alias)\n"));
		} else if (strstr(out, "vfio variant:")) {
			fail_msg("a variant line for %s:\n%s", cases[i].id, out);
		}
	}
}

/* hostdevctl ARGS against the fixture's daemon: its exit status, and
 * what it printed (stdout, then stderr) into out. */
static int hostdevctl(struct fixture *f, const char *args, char *out, size_t size)
{
	_cleanup_free_ char *cmd = NULL;
	size_t n;
	FILE *p;
	int status;

	assert_true(asprintf(&cmd, "%s --socket %s %s 2>&1", HOSTDEVCTL_BIN, f->daemon.socket_path,
			     args) > 0);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	status = pclose(p);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* hostdevctl takes a variant's name, which only the daemon can know: by
 * its module's name a claim lands on the driver that module registered,
 * by its driver's a detach does; both come back to e1000e. */
static void test_hostdevctl_claims_onto_the_variant(void **state)
{
	struct fixture *f = *state;
	char out[4096];

	assert_int_equal(hostdevctl(f, "claim --owner qemu/vm1 --driver " KFIX_VARIANT_MODULE
				       " " NIC " --json",
				    out, sizeof(out)),
			 0);
	assert_non_null(strstr(out, "\"driver\":\"" KFIX_VARIANT_DRIVER "\""));
	assert_string_equal(kfix_kernel_driver(f, NIC), KFIX_VARIANT_DRIVER);
	assert_string_equal(kfix_kernel_override(f, NIC), KFIX_VARIANT_DRIVER);
	assert_int_equal(kfix_claims(f), 1);
	assert_int_equal(hostdevctl(f, "release --owner qemu/vm1 " NIC, out, sizeof(out)), 0);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");

	assert_int_equal(hostdevctl(f, "detach " NIC2 " --driver " KFIX_VARIANT_DRIVER, out,
				    sizeof(out)),
			 0);
	assert_string_equal(out, NIC2 ": detached, now on " KFIX_VARIANT_DRIVER " (was e1000e)\n");
	assert_string_equal(kfix_kernel_driver(f, NIC2), KFIX_VARIANT_DRIVER);
	assert_int_equal(hostdevctl(f, "reattach " NIC2, out, sizeof(out)), 0);
	assert_string_equal(kfix_kernel_driver(f, NIC2), "e1000e");
}

/* A name this host has no driver for: hostdevctl sends it, hostdevd
 * refuses it in one sentence naming what it takes, exit 1, nothing
 * written; a name that cannot be a driver's stops at hostdevctl (exit 2). */
static void test_hostdevctl_unknown_driver(void **state)
{
	struct fixture *f = *state;
	char out[4096];

	assert_int_equal(hostdevctl(f, "claim --owner qemu/vm1 --driver mlx5_vfio_pci " NIC, out,
				    sizeof(out)),
			 1);
	assert_string_equal(out, "hostdevctl: hostdevd has no driver 'mlx5_vfio_pci' to detach to: "
				 "it takes vfio-pci, pci-stub, pciback, xen-pciback, e1000e-vfio, "
				 "e1000e_generic_vfio, e1000e_vfio_pci, intel_gpu_vfio (a stub, or "
				 "a vfio-pci variant of this host by its driver's or its module's "
				 "name); leave --driver out for the device's own vfio-pci variant, "
				 "or vfio-pci when it has none ('hostdevctl show DEVICE' names it) "
				 "(io.hostdevd.UnknownDriver)\n");
	assert_int_equal(hostdevctl(f, "detach " NIC " --driver mlx5_vfio_pci", out, sizeof(out)),
			 1);
	assert_non_null(strstr(out, "hostdevd has no driver 'mlx5_vfio_pci' to detach to"));
	assert_int_equal(hostdevctl(f, "detach " NIC " --driver 'vfio*'", out, sizeof(out)), 2);
	assert_int_equal(kemu_writes(f->root, "driver_override", NULL), 0);
	assert_int_equal(kfix_claims(f), 0);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, kfix_setup, kfix_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_detach_and_reattach),
		T(test_detach_to_pciback_by_both_names),
		T(test_detach_of_a_detached_device_writes_nothing),
		T(test_failed_unbind_rolls_back),
		T(test_bind_that_never_happens_times_out),
		T(test_blocked_unbind_keeps_the_daemon_answering),
		T(test_host_critical_refused_without_a_write),
		T(test_hostdevctl_detach_and_reattach),
		T(test_hostdevctl_detach_xen_pciback),
		T(test_repair_back_to_the_host),
		T(test_repair_back_to_the_pool),
		T(test_bind_event_moves_a_device_out_of_error),
		T(test_hostdevctl_repair),
		T(test_no_iommu_refused_before_any_write),
		cmocka_unit_test_setup_teardown(test_detach_picks_the_variant, variant_setup,
						kfix_teardown),
		cmocka_unit_test_setup_teardown(test_variant_named_or_forced_off, variant_setup,
						kfix_teardown),
		cmocka_unit_test_setup_teardown(test_variant_module_absent, variant_setup,
						kfix_teardown),
		cmocka_unit_test_setup_teardown(test_claim_picks_the_variant, variant_setup,
						kfix_teardown),
		cmocka_unit_test_setup_teardown(test_variant_is_a_stub_after_a_restart,
						variant_setup, kfix_teardown),
		cmocka_unit_test_setup_teardown(test_hostdevctl_claims_onto_the_variant,
						variant_setup, kfix_teardown),
		cmocka_unit_test_setup_teardown(test_hostdevctl_unknown_driver, variant_setup,
						kfix_teardown),
		cmocka_unit_test_setup_teardown(test_show_says_the_variant, variant_setup,
						kfix_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
