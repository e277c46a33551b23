/* hostdevctl check on fake sysfs, procfs, module lists and /dev: each
 * verdict, the advice it gives, the exit status and --json's shape.  The
 * real binary runs with every root moved into a temporary directory, so
 * nothing of this machine is read. */
#include "tests/unit/fake_varlink.h"

#include <errno.h>
#include <ftw.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef HOSTDEVCTL_PATH
#error "HOSTDEVCTL_PATH must name the hostdevctl binary under test"
#endif

#define INTEL "processor\t: 0\nvendor_id\t: GenuineIntel\n"
#define AMD "processor\t: 0\nvendor_id\t: AuthenticAMD\n"
#define IR_INTERRUPTS "  24:  0  IR-PCI-MSI 512000-edge  ahci\n"
#define PLAIN_INTERRUPTS "  24:  0  PCI-MSI 512000-edge  ahci\n"

static char root[] = "/tmp/hdcheck-XXXXXX";

/* Writes root/rel, making its directories. */
static void put(const char *rel, const char *text)
{
	char *path;
	FILE *f;

	assert_true(asprintf(&path, "%s/%s", root, rel) > 0);
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		*p = '/';
	}
	if (text) {
		assert_non_null(f = fopen(path, "w"));
		fputs(text, f);
		fclose(f);
	} else {
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
	}
	free(path);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	char *p;

	strcpy(root, "/tmp/hdcheck-XXXXXX");
	assert_non_null(mkdtemp(root));
	assert_true(asprintf(&p, "%s/sys", root) > 0);
	setenv("HOSTDEVD_SYSFS_ROOT", p, 1);
	free(p);
	assert_true(asprintf(&p, "%s/proc", root) > 0);
	setenv("HOSTDEVD_PROC_ROOT", p, 1);
	free(p);
	assert_true(asprintf(&p, "%s/modules", root) > 0);
	setenv("HOSTDEVD_MODULES_DIR", p, 1);
	free(p);
	assert_true(asprintf(&p, "%s/dev", root) > 0);
	setenv("HOSTDEVD_DEV_ROOT", p, 1);
	free(p);
	assert_true(asprintf(&p, "%s/no-daemon.sock", root) > 0);
	setenv("HOSTDEVD_SOCKET", p, 1);
	free(p);
	setenv("HOSTDEVD_KERNEL_RELEASE", "6.8.0-test", 1);
	put("sys/class/iommu", NULL);
	put("sys/kernel/iommu_groups", NULL);
	put("proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1\n");
	put("modules/modules.dep", "kernel/drivers/net/e1000e/e1000e.ko.zst:\n");
	put("modules/modules.builtin", "kernel/drivers/pci/pcie/portdrv.ko\n");
	put("dev", NULL);
	return 0;
}

static int teardown(void **state)
{
	nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* A host where passthrough works: an IOMMU with a lone NIC and a GPU
 * behind its bridge, remapped interrupts, vfio-pci loaded. */
static void good_host(void)
{
	put("sys/class/iommu/dmar0/name", "dmar0\n");
	put("sys/kernel/iommu_groups/3/devices/0000:03:00.0/class", "0x020000\n");
	put("sys/kernel/iommu_groups/10/devices/0000:00:01.0/class", "0x060400\n");
	put("sys/kernel/iommu_groups/10/devices/0000:01:00.0/class", "0x030000\n");
	put("proc/cpuinfo", INTEL);
	put("proc/interrupts", IR_INTERRUPTS);
	put("sys/bus/pci/drivers/vfio-pci", NULL);
	put("modules/modules.dep", "kernel/drivers/iommu/iommufd/iommufd.ko.xz:\n");
}

struct result {
	int status;
	char *out;
};

static struct result run_check(const char *extra)
{
	char *cmd;
	struct result r = {};
	size_t cap = 0;
	FILE *p;

	assert_true(asprintf(&cmd, "'%s' check %s 2>&1", HOSTDEVCTL_PATH, extra ? extra : "") > 0);
	assert_non_null(p = popen(cmd, "r"));
	getdelim(&r.out, &cap, '\0', p);
	if (!r.out)
		r.out = strdup("");
	r.status = WEXITSTATUS(pclose(p));
	free(cmd);
	return r;
}

/* The line of one check, for asserting on. */
static char *line_of(const char *out, const char *check)
{
	char *want, *at, *end;

	assert_true(asprintf(&want, "  %s ", check) > 0);
	at = strstr(out, want);
	free(want);
	if (!at) {
		fprintf(stderr, "no line for %s in:\n%s", check, out);
		fail();
	}
	while (at > out && at[-1] != '\n')
		at--;
	end = strchrnul(at, '\n');
	return strndup(at, (size_t)(end - at));
}

static void expect_line(const char *out, const char *check, const char *verdict,
			const char *has, const char *lacks)
{
	char *line = line_of(out, check);

	if (strncmp(line, verdict, strlen(verdict)) || (has && !strstr(line, has)) ||
	    (lacks && strstr(line, lacks)))
		fprintf(stderr, "line: %s\n", line);
	assert_int_equal(strncmp(line, verdict, strlen(verdict)), 0);
	if (has)
		assert_non_null(strstr(line, has));
	if (lacks)
		assert_null(strstr(line, lacks));
	free(line);
}

static void test_no_iommu_intel(void **state)
{
	struct result r;

	put("proc/cpuinfo", INTEL);
	put("proc/interrupts", PLAIN_INTERRUPTS);
	put("sys/bus/pci/drivers/vfio-pci", NULL);
	r = run_check(NULL);
	assert_int_equal(r.status, 1);
	expect_line(r.out, "iommu", "FAIL", "intel_iommu=on", "amd_iommu");
	expect_line(r.out, "iommu", "FAIL", "iommu=pt", NULL);
	expect_line(r.out, "iommu", "FAIL", "VT-d", NULL);
	expect_line(r.out, "iommu-groups", "SKIP", NULL, NULL);
	free(r.out);
}

static void test_no_iommu_amd(void **state)
{
	struct result r;

	put("proc/cpuinfo", AMD);
	r = run_check(NULL);
	assert_int_equal(r.status, 1);
	expect_line(r.out, "iommu", "FAIL", "amd_iommu=on", "intel_iommu");
	expect_line(r.out, "iommu", "FAIL", "AMD-Vi", NULL);
	free(r.out);
	/* Already asked for and still none: only the firmware is left. */
	put("proc/cmdline", "root=/dev/sda1 amd_iommu=on\n");
	r = run_check(NULL);
	expect_line(r.out, "iommu", "FAIL", "enable AMD-Vi (IOMMU) in the firmware", "Add ");
	free(r.out);
}

static void test_all_good(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"version\":\"9.9\"}}" } },
	};
	struct fake_server *f = fake_start(steps, 1);
	char *arg;
	struct result r;

	good_host();
	assert_true(asprintf(&arg, "--socket '%s'", fake_socket_path(f)) > 0);
	r = run_check(arg);
	if (r.status)
		fprintf(stderr, "%s", r.out);
	assert_int_equal(r.status, 0);
	expect_line(r.out, "iommu", "PASS", "1 IOMMU unit, 2 IOMMU groups", NULL);
	expect_line(r.out, "interrupt-remapping", "PASS", NULL, NULL);
	expect_line(r.out, "vfio-pci", "PASS", "loaded", NULL);
	expect_line(r.out, "vfio-cdev", "PASS", "6.8.0-test has iommufd", NULL);
	/* A bridge in a GPU's group is not sharing. */
	expect_line(r.out, "iommu-groups", "PASS", NULL, NULL);
	expect_line(r.out, "hostdevd", "PASS", "hostdevd 9.9 answers", NULL);
	assert_null(strstr(r.out, "WARN"));
	free(r.out);
	free(arg);
	fake_stop(f);
	assert_int_equal(fake_n_calls(f), 1);
	assert_string_equal(fake_call(f, 0), "{\"method\":\"io.hostdevd.GetStatus\",\"parameters\":{}}");
	fake_free(f);
}

static void test_daemon_absent_is_a_warning(void **state)
{
	struct result r;

	good_host();
	r = run_check(NULL);
	assert_int_equal(r.status, 0);
	expect_line(r.out, "hostdevd", "WARN", "not running", NULL);
	expect_line(r.out, "hostdevd", "WARN", "systemctl enable --now hostdevd", NULL);
	free(r.out);
}

static void test_ir_missing(void **state)
{
	struct result r;

	good_host();
	put("proc/interrupts", PLAIN_INTERRUPTS);
	r = run_check(NULL);
	assert_int_equal(r.status, 0);
	expect_line(r.out, "interrupt-remapping", "WARN", "allow_unsafe_interrupts", NULL);
	free(r.out);
	put("proc/interrupts", "   0:  9  IR-IO-APIC  2-edge  timer\n");
	r = run_check(NULL);
	expect_line(r.out, "interrupt-remapping", "PASS", NULL, NULL);
	free(r.out);
}

static void test_vfio_pci(void **state)
{
	struct result r;
	char *drv;

	good_host();
	assert_true(asprintf(&drv, "%s/sys/bus/pci/drivers/vfio-pci", root) > 0);
	assert_int_equal(rmdir(drv), 0);
	free(drv);
	r = run_check(NULL);
	assert_int_equal(r.status, 1);
	expect_line(r.out, "vfio-pci", "FAIL", "CONFIG_VFIO_PCI", NULL);
	expect_line(r.out, "vfio-pci", "FAIL", "6.8.0-test", NULL);
	free(r.out);
	/* kmod's names: vfio-pci.ko with a compression suffix, or vfio_pci. */
	put("modules/modules.dep", "kernel/drivers/vfio/pci/vfio-pci-core.ko.zst:\n"
				   "kernel/drivers/vfio/pci/vfio-pci.ko.zst: "
				   "kernel/drivers/vfio/pci/vfio-pci-core.ko.zst\n");
	r = run_check(NULL);
	assert_int_equal(r.status, 0);
	expect_line(r.out, "vfio-pci", "PASS", "module", NULL);
	free(r.out);
	/* vfio-pci-core alone is not vfio-pci. */
	put("modules/modules.dep", "kernel/drivers/vfio/pci/vfio-pci-core.ko:\n");
	r = run_check(NULL);
	assert_int_equal(r.status, 1);
	free(r.out);
	put("modules/modules.builtin", "kernel/drivers/vfio/pci/vfio_pci.ko\n");
	r = run_check(NULL);
	assert_int_equal(r.status, 0);
	expect_line(r.out, "vfio-pci", "PASS", "built into", NULL);
	free(r.out);
}

static void test_vfio_cdev(void **state)
{
	struct result r;

	good_host();
	setenv("HOSTDEVD_KERNEL_RELEASE", "5.15.0-91-generic", 1);
	r = run_check(NULL);
	assert_int_equal(r.status, 0);
	expect_line(r.out, "vfio-cdev", "WARN", "group interface only", NULL);
	expect_line(r.out, "vfio-cdev", "WARN", "kernel 6.6 or later", NULL);
	free(r.out);
	put("dev/vfio/devices", NULL);
	r = run_check(NULL);
	expect_line(r.out, "vfio-cdev", "PASS", "/vfio/devices exists", NULL);
	free(r.out);
}

/* A new kernel built without iommufd (Debian's 6.12 and 7.3 are) has no
 * VFIO cdev whatever its release; iommufd as a module of it or built in
 * makes the cdev possible. */
static void test_vfio_cdev_needs_iommufd(void **state)
{
	struct result r;

	good_host();
	put("modules/modules.dep", "kernel/drivers/vfio/pci/vfio-pci.ko.xz:\n");
	r = run_check(NULL);
	assert_int_equal(r.status, 0);
	expect_line(r.out, "vfio-cdev", "WARN", "6.8.0-test was built without iommufd", NULL);
	expect_line(r.out, "vfio-cdev", "WARN", "CONFIG_IOMMUFD", NULL);
	free(r.out);
	put("modules/modules.builtin", "kernel/drivers/iommu/iommufd/iommufd.ko\n");
	r = run_check(NULL);
	expect_line(r.out, "vfio-cdev", "PASS", "has iommufd", NULL);
	free(r.out);
}

static void test_shared_group(void **state)
{
	struct result r;

	good_host();
	put("sys/kernel/iommu_groups/7/devices/0000:05:00.0/class", "0x010802\n");
	put("sys/kernel/iommu_groups/7/devices/0000:06:00.0/class", "0x020000\n");
	put("sys/kernel/iommu_groups/7/devices/0000:00:1c.0/class", "0x060400\n");
	r = run_check(NULL);
	assert_int_equal(r.status, 0);
	expect_line(r.out, "iommu-groups", "WARN",
		    "2 devices share 1 IOMMU group with others: group 7 (0000:05:00.0, "
		    "0000:06:00.0)",
		    "0000:00:1c.0");
	expect_line(r.out, "iommu-groups", "WARN", "ACS", "0000:03:00.0");
	free(r.out);
}

static void test_json(void **state)
{
	static const char *const checks[] = { "iommu", "interrupt-remapping", "vfio-pci",
					      "vfio-cdev", "iommu-groups", "hostdevd" };
	struct result r;
	json_object *arr;

	put("proc/cpuinfo", INTEL);
	r = run_check("--json");
	assert_int_equal(r.status, 1);
	assert_non_null(arr = json_tokener_parse(r.out));
	assert_true(json_object_is_type(arr, json_type_array));
	assert_int_equal(json_object_array_length(arr), 6);
	for (size_t i = 0; i < 6; i++) {
		json_object *o = json_object_array_get_idx(arr, i), *v;
		const char *result;

		assert_int_equal(json_object_object_length(o), 4);
		assert_true(json_object_object_get_ex(o, "check", &v));
		assert_string_equal(json_object_get_string(v), checks[i]);
		assert_true(json_object_object_get_ex(o, "result", &v));
		result = json_object_get_string(v);
		assert_non_null(strstr("PASS WARN FAIL SKIP", result));
		assert_true(json_object_object_get_ex(o, "detail", &v));
		assert_true(json_object_is_type(v, json_type_string));
		/* advice: what to do, or null when there is nothing to do. */
		assert_true(json_object_object_get_ex(o, "advice", &v));
		assert_true(v ? json_object_is_type(v, json_type_string)
			      : !strcmp(result, "PASS") || !strcmp(result, "SKIP"));
	}
	json_object_put(arr);
	free(r.out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_iommu_intel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_iommu_amd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daemon_absent_is_a_warning, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ir_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vfio_pci, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vfio_cdev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vfio_cdev_needs_iommufd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
