/* Policy files: loading with file:line errors, and first-match decisions
 * with their explanations (policy/policy.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/util.h"
#include "policy/policy.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_policy.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Writes rel under the temporary directory; returns its path (static). */
static const char *put(const char *rel, const char *text)
{
	static char path[PATH_MAX];
	char sub[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	snprintf(sub, sizeof(sub), "%s", path);
	*strrchr(sub, '/') = '\0';
	mkdir(sub, 0755);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static struct device *pci(const char *id, uint32_t vendor, uint32_t product, uint32_t cls,
			  const char *driver)
{
	struct device *d = device_new(HD_BUS_PCI, id);

	d->vendor = vendor;
	d->product = product;
	d->pci.class_code = cls;
	d->pci.iommu_group = 7;
	d->numa_node = 0;
	d->driver = device_intern(driver);
	return d;
}

static void expect_error(const char *text, const char *says)
{
	char err[512];
	const char *path = put("bad.conf", text);
	struct policy *p = policy_load(path, err, sizeof(err));

	if (p)
		fail_msg("loaded, but should not have: %s", text);
	assert_non_null(strstr(err, "bad.conf:"));
	if (!strstr(err, says))
		fail_msg("'%s' does not say '%s'", err, says);
}

static void test_errors(void **state)
{
	expect_error("rules = ( { match = { vendr = \"10de\"; }; action = \"detach\"; } );",
		     "bad.conf:1: unknown match key 'vendr'");
	expect_error("rules = (\n { match = {}; action = \"steal\"; }\n);", "bad.conf:2: unknown action");
	expect_error("rules = ( { match = { vendor = 0x10de; }; action = \"allow\"; } );",
		     "hex digits in quotes");
	expect_error("rules = ( { match = { vendor = \"10dex\"; }; action = \"allow\"; } );",
		     "hex digits");
	expect_error("rules = ( { match = { class = \"030\"; }; action = \"allow\"; } );",
		     "2, 4 or 6 hex digits");
	expect_error("rules = ( { action = \"allow\"; } );", "needs both 'match' and 'action'");
	expect_error("rules = ( { match = {}; action = \"assign\"; } );", "needs an 'owner'");
	expect_error("rules = ( { match = {}; action = \"allow\"; owner = { driver = \"q\"; "
		     "domain = \"d\"; }; } );",
		     "only for action \"assign\"");
	expect_error("rules = ( { match = {}; action = \"detach\"; driver = \"nouveau\"; } );",
		     "vfio-pci, pci-stub or xen-pciback");
	expect_error("rules = ( { match = {}; action = \"allow\"; deauthorize = true; } );",
		     "only for action \"refuse\"");
	expect_error("rules = ( { match = { vendor = \"8086\"; }; action = \"allow\"; "
		     "host_critical = true; } );",
		     "needs a match on 'address' and nothing else");
	expect_error("rules = ( { match = {}; action = \"allow\"; when = \"sometimes\"; } );",
		     "'when'");
	expect_error("default = \"detach\";", "'default' is");
	expect_error("orphans = \"forget\";", "'orphans'");
	expect_error("colour = \"blue\";", "unknown setting 'colour'");
	expect_error("clients = ( { permissions = [\"list\"]; } );", "exactly one of uid");
	expect_error("clients = ( { group = \"kvm\"; permissions = [\"fly\"]; } );",
		     "unknown permission \"fly\"");
	/* libconfig's own syntax errors keep their line. */
	expect_error("default = \"allow\";\nrules = ( { match = { = 1; }; } );", "bad.conf:2:");
}

static void test_missing(void **state)
{
	char err[512], path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/nope.conf", dir);
	assert_null(policy_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
}

/* First match wins, then the default; class prefixes; when. */
static void test_decide(void **state)
{
	char err[512];
	const char *path = put("policy.conf",
			       "default = \"refuse\";\n"
			       "rules = (\n"
			       "  { match = { address = \"0000:03:00.0\"; }; action = \"ignore\"; },\n"
			       "  { match = { vendor = \"10de\"; class = \"0300\"; }; action = \"detach\"; },\n"
			       "  { match = { class = \"02\"; }; action = \"allow\"; when = \"startup\"; },\n"
			       "  { match = { iommu_group = 7; numa_node = 0; }; action = \"assign\";\n"
			       "    owner = { driver = \"qemu\"; domain = \"vm1\"; }; driver = \"pci-stub\"; }\n"
			       ");\n");
	struct policy *p = policy_load(path, err, sizeof(err));
	struct device *gpu = pci("0000:01:00.0", 0x10de, 0x1c82, 0x030000, "nouveau");
	struct device *nic = pci("0000:03:00.0", 0x8086, 0x10d3, 0x020000, "e1000e");
	struct device *nic2 = pci("0000:02:00.0", 0x8086, 0x10d3, 0x020000, "e1000e");
	struct device *hda = pci("0000:01:00.1", 0x10de, 0x0fb9, 0x040300, "snd_hda_intel");
	struct policy_decision d;

	if (!p)
		fail_msg("%s", err);
	assert_int_equal(policy_rule_count(p), 4);
	policy_decide(p, nic, POLICY_MOMENT_START, &d); /* the address rule comes first */
	assert_int_equal(d.action, POLICY_IGNORE);
	assert_int_equal(d.rule, 0);
	assert_int_equal(d.line, 3);
	policy_decide(p, gpu, POLICY_MOMENT_START, &d);
	assert_int_equal(d.action, POLICY_DETACH);
	assert_string_equal(d.stub, "vfio-pci");
	policy_decide(p, nic2, POLICY_MOMENT_START, &d);
	assert_int_equal(d.action, POLICY_ALLOW);
	policy_decide(p, nic2, POLICY_MOMENT_HOTPLUG, &d); /* hot-plugged: the startup rule skips it */
	assert_int_equal(d.action, POLICY_ASSIGN);
	assert_string_equal(d.owner_domain, "vm1");
	assert_string_equal(d.stub, "pci-stub");
	hda->pci.iommu_group = 9;
	policy_decide(p, hda, POLICY_MOMENT_START, &d);
	assert_int_equal(d.action, POLICY_REFUSE);
	assert_int_equal(d.rule, -1);
	assert_int_equal(d.line, 1);
	device_free(gpu);
	device_free(nic);
	device_free(nic2);
	device_free(hda);
	policy_free(p);
}

static void test_usb_and_explain(void **state)
{
	char err[512], *text = NULL;
	size_t len = 0;
	const char *path = put("usb.conf",
			       "rules = (\n"
			       "  { match = { bus = \"usb\"; vendor = \"046d\"; }; action = \"allow\"; },\n"
			       "  { match = { bus = \"usb\"; interface_class = \"08\"; }; action = \"refuse\";"
			       " deauthorize = true; }\n"
			       ");\n");
	struct policy *p = policy_load(path, err, sizeof(err));
	struct device *stick = device_new(HD_BUS_USB, "1-2.2");
	struct usb_iface iface = { .id = (char *)"1-2.2:1.0", .cls = 0x08 };
	struct policy_decision d;
	FILE *f;

	if (!p)
		fail_msg("%s", err);
	stick->vendor = 0x0781;
	stick->usb.ifaces = &iface;
	stick->usb.n_ifaces = 1;
	policy_decide(p, stick, POLICY_MOMENT_HOTPLUG, &d);
	assert_int_equal(d.action, POLICY_REFUSE);
	assert_true(d.deauthorize);
	f = open_memstream(&text, &len);
	policy_explain(p, stick, POLICY_MOMENT_HOTPLUG, f);
	fclose(f);
	assert_non_null(strstr(text, "rule 1 ("));
	assert_non_null(strstr(text, "usb.conf:2): no match: vendor is 0781, not 046d"));
	assert_non_null(strstr(text, "usb.conf:3) decides: refuse 1-2.2"));
	free(text);
	stick->usb.ifaces = NULL;
	stick->usb.n_ifaces = 0;
	device_free(stick);
	policy_free(p);
}

/* A directory: policy.conf, then the .conf files of policy.d by name. */
static void test_directory(void **state)
{
	char err[512];
	struct policy *p;
	struct device *gpu = pci("0000:01:00.0", 0x10de, 0x1c82, 0x030000, "nouveau");
	struct policy_decision d;

	put("etc/policy.conf", "default = \"allow\";\n");
	put("etc/policy.d/20-b.conf", "rules = ( { match = {}; action = \"refuse\"; } );\n");
	put("etc/policy.d/10-a.conf",
	    "rules = ( { match = { vendor = \"10de\"; }; action = \"detach\"; } );\n");
	put("etc/policy.d/ignored.txt", "this is not read");
	snprintf(err, sizeof(err), "%s/etc", dir);
	p = policy_load(err, err, sizeof(err));
	if (!p)
		fail_msg("%s", err);
	assert_int_equal(policy_rule_count(p), 2);
	policy_decide(p, gpu, POLICY_MOMENT_START, &d);
	assert_int_equal(d.action, POLICY_DETACH);
	assert_non_null(strstr(d.file, "10-a.conf"));
	device_free(gpu);
	policy_free(p);
}

static void test_default_policy(void **state)
{
	struct policy *p = policy_default();
	struct device *nic = pci("0000:03:00.0", 0x8086, 0x10d3, 0x020000, "e1000e");
	struct policy_decision d;

	policy_decide(p, nic, POLICY_MOMENT_START, &d);
	assert_int_equal(d.action, POLICY_ALLOW);
	assert_int_equal(d.rule, -1);
	assert_null(d.file);
	device_free(nic);
	policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decide, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usb_and_explain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory, setup, teardown),
		cmocka_unit_test(test_default_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
