/* Host-critical devices end to end: the real daemon on the standard
 * machine, with block and network class entries added under its devices
 * and the fake /proc of kfix (HOSTDEVD_PROC_ROOT) saying what is mounted
 * and routed.  Claim, Detach and Reset must refuse with HostCritical and the
 * reason, before anything is written — and the check reads the kernel's
 * state at the moment of the request: unmount, and the same claim goes
 * through.  The rules themselves are unit-tested in test_hostcrit.c. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AHCI "0000:00:17.0"
#define NIC "0000:03:00.0"
#define XHCI "0000:00:14.0"
#define BRIDGE "0000:04:00.0"
#define GPU "0000:01:00.0" /* boot VGA */
#define STICK "1-2.2"

#define claim(f, id) kfix_owner_call(f, "io.hostdevd.Claim", id)

/* The reply refuses `id` as host-critical with a reason holding `why`. */
static void assert_critical(json_object *reply, const char *id, const char *why)
{
	assert_non_null(vlc_error(reply));
	assert_string_equal(vlc_error(reply), "io.hostdevd.HostCritical");
	assert_string_equal(vlc_param_str(reply, "device"), id);
	if (!strstr(vlc_param_str(reply, "reason"), why))
		fail_msg("reason '%s' does not say '%s'", vlc_param_str(reply, "reason"), why);
	json_object_put(reply);
}

/* `rel` (a sysfs path without the leading "/sys/") as seen from
 * /sys/class/<class>/: "../../devices/...". */
static void add_class_entry(struct fixture *f, const char *class, const char *name,
			    const char *devpath)
{
	char rel[PATH_MAX], target[PATH_MAX];

	snprintf(rel, sizeof(rel), "sys/class/%s/%s", class, name);
	snprintf(target, sizeof(target), "../../%s", devpath);
	kfix_link(f, rel, target);
}

/* A disk with one partition under the device `id` (PCI or USB), as the
 * SCSI layer puts it there: <dev>/.../block/<disk>/<disk>1. */
static void add_disk(struct fixture *f, const char *id, const char *via, const char *disk,
		     const char *majmin_disk, const char *majmin_part)
{
	char devpath[1024], part[1100], rel[1200];
	const char *sys = tb_syspath(f->tb, id);

	assert_non_null(sys);
	snprintf(devpath, sizeof(devpath), "%s/%s/block/%s", sys + strlen("/sys/"), via, disk);
	snprintf(rel, sizeof(rel), "sys/%s/dev", devpath);
	kfix_put(f, rel, majmin_disk);
	snprintf(part, sizeof(part), "%s/%s1", devpath, disk);
	snprintf(rel, sizeof(rel), "sys/%s/dev", part);
	kfix_put(f, rel, majmin_part);
	add_class_entry(f, "block", disk, devpath);
	snprintf(rel, sizeof(rel), "%s1", disk);
	add_class_entry(f, "block", rel, part);
}

static void add_netdev(struct fixture *f, const char *id, const char *ifname, const char *flags)
{
	char devpath[1024], rel[1100];
	const char *sys = tb_syspath(f->tb, id);

	snprintf(devpath, sizeof(devpath), "%s/net/%s", sys + strlen("/sys/"), ifname);
	snprintf(rel, sizeof(rel), "sys/%s/flags", devpath);
	kfix_put(f, rel, flags);
	add_class_entry(f, "net", ifname, devpath);
}

static void test_mounted_disk(void **state)
{
	struct fixture *f = *state;
	json_object *reply;

	add_disk(f, AHCI, "ata1/host0/target0:0:0/0:0:0:0", "sda", "8:0\n", "8:1\n");
	kfix_put(f, "proc/self/mountinfo", "25 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n");
	assert_critical(claim(f, AHCI), AHCI, "sda1");
	assert_critical(kfix_call_dev(f, "io.hostdevd.Detach", AHCI, NULL), AHCI,
			"mounted at /");
	assert_int_equal(kemu_writes(f->root, "driver_override", NULL), 0);
	kfix_wait_state(f, AHCI, "host");

	/* Read at the moment of the request: unmounted, it may go. */
	kfix_put(f, "proc/self/mountinfo", "");
	reply = claim(f, AHCI);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, AHCI), "vfio-pci");
}

static void test_swap(void **state)
{
	struct fixture *f = *state;

	add_disk(f, AHCI, "ata1/host0/target0:0:0/0:0:0:0", "sda", "8:0\n", "8:1\n");
	kfix_put(f, "proc/swaps",
		 "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
		 "/dev/sda1                               partition\t8388604\t\t0\t\t-2\n");
	assert_critical(claim(f, AHCI), AHCI, "swap");
}

static void test_nic_in_use(void **state)
{
	struct fixture *f = *state;
	json_object *reply;

	add_netdev(f, NIC, "enp3s0", "0x1003\n");
	kfix_put(f, "proc/net/route",
		 "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow"
		 "\tIRTT\n"
		 "enp3s0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n");
	assert_critical(claim(f, NIC), NIC, "enp3s0 is up");
	assert_critical(kfix_call_dev(f, "io.hostdevd.Reset", NIC, NULL), NIC, "enp3s0");
	assert_int_equal(kemu_writes(f->root, "driver_override", NIC), 0);
	assert_int_equal(kemu_writes(f->root, "reset", NIC), 0);

	/* Down: the routes do not make it the host's any more. */
	kfix_put(f, "sys/class/net/enp3s0/flags", "0x1002\n");
	reply = claim(f, NIC);
	assert_null(vlc_error(reply));
	json_object_put(reply);
}

/* A USB stick with a mounted filesystem: the stick itself, and the xHCI
 * controller above it, stay with the host. */
static void test_usb_stick_mounted(void **state)
{
	struct fixture *f = *state;

	add_disk(f, STICK, "1-2.2:1.0/host6/target6:0:0/6:0:0:0", "sdb", "8:16\n", "8:17\n");
	kfix_put(f, "proc/self/mountinfo",
		 "40 30 8:17 / /media/stick rw,nosuid - vfat /dev/sdb1 rw\n");
	assert_critical(claim(f, STICK), STICK, "/media/stick");
	assert_critical(claim(f, XHCI), XHCI, "sdb1");
	assert_int_equal(kemu_writes(f->root, "unbind", NULL), 0);
}

/* Structural rules: a bridge is refused as a bridge, not for its group. */
static void test_structural(void **state)
{
	struct fixture *f = *state;

	assert_critical(claim(f, BRIDGE), BRIDGE, "PCI bridge");
	assert_critical(claim(f, GPU), GPU, "boot VGA");
	assert_critical(claim(f, "1-2"), "1-2", "hub");
	assert_int_equal(kemu_writes(f->root, "driver_override", NULL), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, kfix_setup, kfix_teardown)
	const struct CMUnitTest tests[] = {
		T(test_mounted_disk),
		T(test_swap),
		T(test_nic_in_use),
		T(test_usb_stick_mounted),
		T(test_structural),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
