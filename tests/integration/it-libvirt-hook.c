/* The libvirt qemu hook (contrib/libvirt) against the real hostdevd on the
 * standard machine, the kernel emulator applying its writes: run as libvirt
 * runs it (DOMAIN OPERATION SUB-OPERATION EXTRA, the domain XML on stdin),
 * prepare claims the domain's hostdevs for qemu/DOMAIN with its UUID in
 * one claim, managed per device; a second domain naming a held device fails
 * with the holder on stderr, holding nothing; release frees them. */
#include <hostdev/hostdev.h>

#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef HOOK_BIN
#error "HOOK_BIN must name the hook program under test"
#endif

#define NIC "0000:03:00.0" /* e1000e */
#define VF "0000:06:10.2"  /* already on vfio-pci, orphan: the pool's for unmanaged */
#define KBD "1-2.1"	   /* 046d:c31c, bus 1 device 3 */
#define STICK "1-2.2"	   /* 0781:5567 as 1-2.3 is, bus 1 device 4 */
#define UUID1 "c7a5fdbd-cdaf-9455-926a-d65c16db1809"
#define UUID2 "0d9e4c2a-5b71-4f0e-8a63-2c1b9e7d4f10"

#define PCI(bus, slot, fn, managed)                                                          \
	"    <hostdev mode='subsystem' type='pci' managed='" managed "'>\n"                      \
	"      <driver name='vfio'/>\n"                                                          \
	"      <source>\n"                                                                       \
	"        <address domain='0x0000' bus='" bus "' slot='" slot "' function='" fn "'/>\n"   \
	"      </source>\n"                                                                      \
	"    </hostdev>\n"

static const char *domain_xml(const char *name, const char *uuid, const char *devices)
{
	static char buf[8192];

	snprintf(buf, sizeof(buf),
		 "<domain type='kvm'>\n  <name>%s</name>\n  <uuid>%s</uuid>\n"
		 "  <memory unit='KiB'>1048576</memory>\n"
		 "  <os>\n    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>\n  </os>\n"
		 "  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
		 "    <interface type='network'>\n      <source network='default'/>\n"
		 "      <model type='virtio'/>\n    </interface>\n%s  </devices>\n</domain>\n",
		 name, uuid, devices);
	return buf;
}

/* Runs `hook NAME OP SUB -` with xml on stdin, as libvirt does; returns the
 * exit status, stderr in err. */
static int hook(struct fixture *f, const char *name, const char *op, const char *sub,
		const char *xml, char *err, size_t errlen)
{
	const char *argv[] = { HOOK_BIN, name, op, sub, "-", NULL };
	char in_path[512], err_path[512];
	posix_spawn_file_actions_t fa;
	int status, fd;
	pid_t pid;
	FILE *e;
	size_t n;

	snprintf(in_path, sizeof(in_path), "%s/hook.xml", f->daemon.dir);
	snprintf(err_path, sizeof(err_path), "%s/hook.err", f->daemon.dir);
	fd = open(in_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, xml, strlen(xml)), (ssize_t)strlen(xml));
	close(fd);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, in_path, O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	setenv("HOSTDEVD_SOCKET", f->daemon.socket_path, 1);
	assert_int_equal(posix_spawn(&pid, HOOK_BIN, &fa, NULL, (char **)argv, environ), 0);
	unsetenv("HOSTDEVD_SOCKET");
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	e = fopen(err_path, "r");
	assert_non_null(e);
	n = fread(err, 1, errlen - 1, e);
	err[n] = '\0';
	fclose(e);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* The claims of qemu/domain, from the library as a hypervisor would see them. */
static struct hd_claim_list *claims_of(struct fixture *f, const char *domain)
{
	struct hd_error *err = NULL;
	struct hd_manager *m = hd_manager_open(f->daemon.socket_path, &err);
	struct hd_claim_list *list = NULL;

	if (!m || hd_list_active(m, "qemu", domain, &list, &err) < 0)
		fail_msg("%s: %s", hd_error_name(err), hd_error_message(err));
	hd_manager_free(m);
	return list;
}

static const struct hd_claim *find(struct hd_claim_list *l, const char *device)
{
	for (size_t i = 0; i < hd_claim_list_count(l); i++)
		if (streq(hd_claim_device(hd_claim_list_at(l, i)), device))
			return hd_claim_list_at(l, i);
	fail_msg("%s is not claimed", device);
	return NULL;
}

/* How many claims the daemon began for qemu/domain: its log's line for
 * each Claim that passed its checks. */
static size_t claims_begun(struct fixture *f, const char *domain)
{
	char line[64];

	snprintf(line, sizeof(line), "claim by qemu/%s of ", domain);
	return kfix_log_count(f, line);
}

static size_t count_of(struct fixture *f, const char *domain)
{
	struct hd_claim_list *l = claims_of(f, domain);
	size_t n = hd_claim_list_count(l);

	hd_claim_list_free(l);
	return n;
}

/* Managed PCI, unmanaged PCI, USB by ids, USB by bus and device: one
 * prepare claims all four for qemu/vm1 with its UUID, in one claim; release
 * ends them, the managed NIC back on e1000e and the unmanaged VF left on
 * its stub. */
static void test_prepare_and_release(void **state)
{
	struct fixture *f = *state;
	const char *xml = domain_xml(
		"vm1", UUID1,
		PCI("0x03", "0x00", "0x0", "yes") PCI("0x06", "0x10", "0x2", "no")
		"    <hostdev mode='subsystem' type='usb' managed='yes'>\n"
		"      <source>\n        <vendor id='0x046d'/>\n        <product id='0xc31c'/>\n"
		"      </source>\n    </hostdev>\n"
		"    <hostdev mode='subsystem' type='usb' managed='no'>\n"
		"      <source>\n        <address bus='1' device='4'/>\n      </source>\n"
		"    </hostdev>\n");
	struct hd_claim_list *l;
	const struct hd_claim *c;
	char err[2048];

	assert_int_equal(hook(f, "vm1", "prepare", "begin", xml, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(claims_begun(f, "vm1"), 1);
	kfix_wait_log(f, "claim by qemu/vm1 of 4 device(s), managed per device");
	l = claims_of(f, "vm1");
	assert_int_equal(hd_claim_list_count(l), 4);
	c = find(l, NIC);
	assert_true(hd_claim_managed(c));
	assert_string_equal(hd_claim_owner_uuid(c), UUID1);
	c = find(l, VF);
	assert_false(hd_claim_managed(c));
	assert_string_equal(hd_claim_owner_uuid(c), UUID1);
	assert_string_equal(hd_claim_bus(find(l, KBD)), "usb");
	assert_string_equal(hd_claim_owner_uuid(find(l, STICK)), UUID1);
	hd_claim_list_free(l);
	/* hostdevd detached the NIC: libvirt's own detach, which runs next,
	 * finds it on vfio-pci and writes nothing (README.md). */
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");

	/* The operations between do nothing. */
	assert_int_equal(hook(f, "vm1", "start", "begin", xml, err, sizeof(err)), 0);
	assert_int_equal(hook(f, "vm1", "stopped", "end", xml, err, sizeof(err)), 0);
	assert_int_equal(count_of(f, "vm1"), 4);

	assert_int_equal(hook(f, "vm1", "release", "end", xml, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(count_of(f, "vm1"), 0);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_driver(f, VF), "vfio-pci");
	kfix_wait_state(f, NIC, "host");
}

/* vm2 names the NIC vm1 holds: its start fails with the holder named, and
 * the release libvirt runs after a failed start leaves vm1's claim alone. */
static void test_second_domain_refused(void **state)
{
	struct fixture *f = *state;
	char xml1[8192], err[2048];
	struct hd_claim_list *l;
	const char *xml2;

	snprintf(xml1, sizeof(xml1), "%s", domain_xml("vm1", UUID1, PCI("0x03", "0x00", "0x0", "yes")));
	assert_int_equal(hook(f, "vm1", "prepare", "begin", xml1, err, sizeof(err)), 0);

	xml2 = domain_xml("vm2", UUID2, PCI("0x03", "0x00", "0x0", "yes"));
	assert_int_equal(hook(f, "vm2", "prepare", "begin", xml2, err, sizeof(err)), 1);
	if (!strstr(err, "hostdevd hook: domain vm2 not started: " NIC
			 " is in use by driver qemu, domain vm1") ||
	    !strstr(err, "(io.hostdevd.DeviceInUse)\n"))
		fail_msg("stderr: %s", err);
	assert_int_equal(count_of(f, "vm2"), 0);
	assert_int_equal(hook(f, "vm2", "release", "end", xml2, err, sizeof(err)), 0);
	assert_int_equal(count_of(f, "vm1"), 1);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");

	/* vm1 stops: the NIC is free, and vm2 starts. */
	assert_int_equal(hook(f, "vm1", "release", "end", xml1, err, sizeof(err)), 0);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_int_equal(hook(f, "vm2", "prepare", "begin", xml2, err, sizeof(err)), 0);
	l = claims_of(f, "vm2");
	assert_string_equal(hd_claim_owner_uuid(find(l, NIC)), UUID2);
	hd_claim_list_free(l);
}

/* A domain mixing managed='no' and managed='yes' is one claim, so a
 * refusal of its managed device holds nothing: the unmanaged VF is never
 * claimed (no claim begun for vm2, no release to undo one), and stays in
 * the pool. */
static void test_mixed_refusal_holds_nothing(void **state)
{
	struct fixture *f = *state;
	char xml1[8192], err[2048];
	const char *xml2;

	snprintf(xml1, sizeof(xml1), "%s", domain_xml("vm1", UUID1, PCI("0x03", "0x00", "0x0", "yes")));
	assert_int_equal(hook(f, "vm1", "prepare", "begin", xml1, err, sizeof(err)), 0);
	xml2 = domain_xml("vm2", UUID2,
			  PCI("0x06", "0x10", "0x2", "no") PCI("0x03", "0x00", "0x0", "yes"));
	assert_int_equal(hook(f, "vm2", "prepare", "begin", xml2, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "is in use by driver qemu, domain vm1"));
	assert_int_equal(count_of(f, "vm2"), 0);
	assert_int_equal(claims_begun(f, "vm2"), 0);
	assert_int_equal(kfix_log_count(f, "release by qemu/vm2 of "), 0);
	assert_string_equal(kfix_kernel_driver(f, VF), "vfio-pci");
	kfix_wait_state(f, VF, "detached");
	assert_int_equal(count_of(f, "vm1"), 1);
}

/* The kernel refuses the managed NIC's unbind after the claim took the
 * unmanaged VF: the one claim rolls back whole, and the domain holds
 * nothing, the NIC on e1000e and the VF in the pool. */
static void test_mixed_kernel_refusal_holds_nothing(void **state)
{
	struct fixture *f = *state;
	char err[2048];

	kemu_fault(f->root, "unbind", NIC, EBUSY);
	assert_int_equal(hook(f, "vm1", "prepare", "begin",
			      domain_xml("vm1", UUID1,
					 PCI("0x06", "0x10", "0x2", "no")
						 PCI("0x03", "0x00", "0x0", "yes")),
			      err, sizeof(err)),
			 1);
	if (!strstr(err, "hostdevd hook: domain vm1 not started: ") ||
	    !strstr(err, "(io.hostdevd.OperationFailed)"))
		fail_msg("stderr: %s", err);
	assert_int_equal(claims_begun(f, "vm1"), 1);
	assert_int_equal(count_of(f, "vm1"), 0);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_driver(f, VF), "vfio-pci");
	kfix_wait_state(f, NIC, "host");
	kfix_wait_state(f, VF, "detached");
}

/* managed='no' on a device still on its host driver: hostdevd refuses, as
 * libvirt would, and nothing moves. */
static void test_unmanaged_not_detached(void **state)
{
	struct fixture *f = *state;
	char err[2048];

	assert_int_equal(hook(f, "vm1", "prepare", "begin",
			      domain_xml("vm1", UUID1, PCI("0x03", "0x00", "0x0", "no")), err,
			      sizeof(err)),
			 1);
	if (!strstr(err, "hostdevd hook: domain vm1 not started: ") ||
	    !strstr(err, "(io.hostdevd.InvalidDeviceState)"))
		fail_msg("stderr: %s", err);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_int_equal(kemu_writes(f->root, "unbind", NIC), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, kfix_setup, kfix_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_prepare_and_release),
		T(test_second_domain_refused),
		T(test_mixed_refusal_holds_nothing),
		T(test_mixed_kernel_refusal_holds_nothing),
		T(test_unmanaged_not_detached),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
