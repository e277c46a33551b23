/* Policy files: loading with file:line errors, and first-match decisions
 * with their explanations (policy/load.c, decide.c, index.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/util.h"
#include "tests/common/rmtree.h"
#include "policy/policy.h"
#include "tests/unit/testdev.h"
#include "state/devtable.h"

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
	assert_int_equal(rmtree(dir), 0);
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
	struct device *d = testdev_pci(id, vendor, product, cls, 7, driver, NULL);

	d->numa_node = 0;
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
	expect_error("rules = ( { match = {}; action = \"detach\"; driver = \"vfio pci\"; } );",
		     "'driver' is vfio-pci, pci-stub or pciback, \"auto\" (the device's vfio-pci "
		     "variant, else vfio-pci) or a vfio-pci variant's driver or module name (letters, "
		     "digits, '-' and '_', at most 63), not \"vfio pci\"");
	expect_error("rules = ( { match = {}; action = \"detach\"; driver = \"../vfio\"; } );",
		     "not \"../vfio\"");
	expect_error("rules = ( { match = {}; action = \"allow\"; driver = \"auto\"; } );",
		     "'driver' (the stub) is only for \"detach\" and \"assign\"");
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

/* Every @include that is not a regular readable file is an error naming
 * the including file and line; libconfig 1.5 would exit(2) on a directory
 * and block on a FIFO.  Each case loads in this process: reaching the
 * asserts is the proof that nothing ended or hung it. */
static void expect_include_error(const char *text, const char *says)
{
	char err[1024];
	const char *path = put("inc.conf", text);
	struct policy *p = policy_load(path, err, sizeof(err));

	if (p)
		fail_msg("loaded, but should not have: %s", text);
	if (!strstr(err, says))
		fail_msg("'%s' does not say '%s'", err, says);
}

static void test_include_checked(void **state)
{
	char path[PATH_MAX], target[PATH_MAX];
	struct policy *p;
	char err[1024];

	snprintf(path, sizeof(path), "%s/adir", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	expect_include_error("default = \"allow\";\n@include \"adir\"\n",
			     "inc.conf:2: @include \"adir\": ");
	expect_include_error("\n\n  @include \"adir\"\n", "a directory");
	/* An empty name is include_dir itself. */
	expect_include_error("@include \"\"\n", "inc.conf:1: @include \"\": ");
	expect_include_error("# one\n@include \"missing.conf\"\n",
			     "inc.conf:2: @include \"missing.conf\": cannot read");
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	expect_include_error("@include \"fifo\"\n", "inc.conf:1: @include \"fifo\": ");
	expect_include_error("@include \"fifo\"\n", "a FIFO");
	snprintf(path, sizeof(path), "%s/null", dir);
	assert_int_equal(symlink("/dev/null", path), 0);
	expect_include_error("@include \"null\"\n", "a device");
	/* Unreadable even for root: a link to itself. */
	snprintf(path, sizeof(path), "%s/loop", dir);
	assert_int_equal(symlink(path, path), 0);
	expect_include_error("@include \"loop\"\n", "inc.conf:1: @include \"loop\": cannot read");
	if (geteuid() != 0) {
		put("secret.conf", "default = \"allow\";\n");
		snprintf(path, sizeof(path), "%s/secret.conf", dir);
		assert_int_equal(chmod(path, 0), 0);
		expect_include_error("@include \"secret.conf\"\n", "Permission denied");
	}
	/* Deeper: the bad include's own file and line. */
	put("mid.conf", "default = \"allow\";\n\n@include \"adir\"\n");
	snprintf(target, sizeof(target), "%s/mid.conf:3: @include \"adir\"", dir);
	expect_include_error("@include \"mid.conf\"\n", target);
	/* A loop, and a chain one deeper than libconfig allows. */
	put("self.conf", "@include \"self.conf\"\n");
	expect_include_error("@include \"self.conf\"\n", "nested more than 10 deep");
	for (int i = 0; i < 11; i++) {
		char name[32], text[64];

		snprintf(name, sizeof(name), "c%d.conf", i);
		snprintf(text, sizeof(text), "@include \"c%d.conf\"\n", i + 1);
		put(name, text);
	}
	put("c11.conf", "default = \"allow\";\n");
	expect_include_error("@include \"c0.conf\"\n", "nested more than 10 deep");
	/* What the scanner does not read as an include is not followed:
	 * in a comment, in a string, not at a line's start. */
	put("ok.conf", "default = \"refuse\";\n");
	p = policy_load(put("good.conf", "/* @include \"adir\"\n @include \"adir\" */\n"
					 "# @include \"adir\"\n"
					 "rules = ( { match = { driver = \"x\n@include \\\"adir\\\"\"; };"
					 " action = \"allow\"; } );\n"
					 "\t @include  \"ok.conf\"\n"),
			err, sizeof(err));
	if (!p)
		fail_msg("%s", err);
	assert_int_equal(policy_rule_count(p), 1);
	policy_free(p);
	/* The policy named itself as a FIFO, and a drop-in that is a directory. */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_null(policy_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "a FIFO, not a regular file"));
	put("d/policy.conf", "");
	snprintf(path, sizeof(path), "%s/d/policy.d/10-x.conf", dir);
	put("d/policy.d/00-a.conf", "default = \"allow\";\n");
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/d", dir);
	assert_null(policy_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "10-x.conf: a directory, not a regular file"));
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

/* Xen's stub is the driver pciback (of the module xen-pciback, the name
 * hostdevd's docs gave): a rule may say either, and the loader keeps, and
 * every description says, the driver name a detach writes. */
static void test_pciback_names(void **state)
{
	static const char *const written[] = { "xen-pciback", "pciback" };

	for (size_t i = 0; i < ARRAY_SIZE(written); i++) {
		char text[256], err[512], *out = NULL;
		size_t len = 0;
		struct policy *p;
		struct device *nic = pci("0000:03:00.0", 0x8086, 0x10d3, 0x020000, "e1000e");
		struct policy_decision d;
		FILE *f;

		snprintf(text, sizeof(text),
			 "rules = (\n"
			 "  { match = { vendor = \"8086\"; }; action = \"assign\";\n"
			 "    owner = { driver = \"libxl\"; domain = \"vm1\"; }; driver = \"%s\"; }\n"
			 ");\n",
			 written[i]);
		p = policy_load(put("xen.conf", text), err, sizeof(err));
		if (!p)
			fail_msg("%s", err);
		policy_decide(p, nic, POLICY_MOMENT_START, &d);
		assert_int_equal(d.action, POLICY_ASSIGN);
		assert_string_equal(d.stub, "pciback");
		f = open_memstream(&out, &len);
		policy_describe(p, f);
		policy_explain(p, nic, POLICY_MOMENT_START, f);
		fclose(f);
		assert_non_null(strstr(out, "xen.conf:2): assign to libxl/vm1 on pciback if vendor\n"));
		assert_non_null(strstr(out, "decides: assign 0000:03:00.0 to libxl/vm1 (on pciback)\n"));
		assert_null(strstr(out, "xen-pciback"));
		free(out);
		device_free(nic);
		policy_free(p);
	}
	/* The module's name with '_' is no driver's: the rule names the one
	 * it means. */
	expect_error("rules = ( { match = {}; action = \"detach\"; driver = \"xen_pciback\"; } );",
		     "'driver' \"xen_pciback\" is the module of the stub pciback: name the driver, "
		     "\"pciback\"");
	expect_error("rules = ( { match = {}; action = \"detach\"; driver = \"vfio_pci\"; } );",
		     "'driver' \"vfio_pci\" is the module of the stub vfio-pci: name the driver, "
		     "\"vfio-pci\"");
}

/* A vfio-pci variant by its driver's or its module's name, and "auto",
 * load: whether this host has the variant is the daemon's to say when the
 * rule acts.  Each is kept as written and said so; a rule with no driver
 * still means vfio-pci, and says it names none. */
static void test_variant_drivers(void **state)
{
	static const struct {
		const char *driver, *decides;
	} rules[] = {
		{ "\"mlx5_vfio_pci\"", "decides: detach 0000:03:00.0 (on mlx5_vfio_pci)\n" },
		{ "\"e1000e-vfio\"", "decides: detach 0000:03:00.0 (on e1000e-vfio)\n" },
		{ "\"auto\"", "decides: detach 0000:03:00.0 (on its vfio-pci variant, else "
			     "vfio-pci: driver = \"auto\")\n" },
		{ NULL, "decides: detach 0000:03:00.0 (on vfio-pci)\n" },
	};
	struct device *nic = pci("0000:03:00.0", 0x8086, 0x10d3, 0x020000, "e1000e");

	for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
		char text[256], err[512], *out = NULL;
		_cleanup_free_ char *described = NULL;
		size_t len = 0;
		struct policy_decision d;
		struct policy *p;
		FILE *f;

		snprintf(text, sizeof(text),
			 "rules = ( { match = { vendor = \"8086\"; device = \"10d3\"; };\n"
			 "            action = \"detach\"; %s%s%s } );\n",
			 rules[i].driver ? "driver = " : "", rules[i].driver ? rules[i].driver : "",
			 rules[i].driver ? ";" : "");
		p = policy_load(put("variant.conf", text), err, sizeof(err));
		if (!p)
			fail_msg("%s: %s", text, err);
		policy_decide(p, nic, POLICY_MOMENT_HOTPLUG, &d);
		assert_int_equal(d.action, POLICY_DETACH);
		assert_int_equal(d.stub_named, rules[i].driver != NULL);
		if (rules[i].driver) {
			described = xasprintf("detach on %.*s if vendor, device\n",
					      (int)strlen(rules[i].driver) - 2, rules[i].driver + 1);
			assert_memory_equal(d.stub, rules[i].driver + 1, strlen(rules[i].driver) - 2);
		} else {
			described = xstrdup("detach if vendor, device\n");
			assert_string_equal(d.stub, "vfio-pci");
		}
		f = open_memstream(&out, &len);
		policy_describe(p, f);
		policy_explain(p, nic, POLICY_MOMENT_HOTPLUG, f);
		fclose(f);
		if (!strstr(out, described) || !strstr(out, rules[i].decides))
			fail_msg("for driver %s:\n%s", rules[i].driver ? rules[i].driver : "(none)",
				 out);
		free(out);
		policy_free(p);
	}
	device_free(nic);
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

/* ---- the index: decisions equal to trying every rule in order ---------- */

static struct policy *loaded(const char *rel, const char *text)
{
	char err[512];
	struct policy *p = policy_load(put(rel, text), err, sizeof(err));

	if (!p)
		fail_msg("%s", err);
	return p;
}

/* Decides with the index and without; they must agree on everything the
 * rule says.  Returns the deciding rule. */
static int decide_both(const struct policy *p, const struct device *dev, enum policy_moment m)
{
	struct policy_decision fast, slow;

	policy_decide(p, dev, m, &fast);
	policy_decide_linear(p, dev, m, &slow);
	if (fast.rule != slow.rule)
		fail_msg("%s at moment %d: the index says rule %d, every rule in order says %d",
			 dev->id, m, fast.rule, slow.rule);
	assert_int_equal(fast.action, slow.action);
	assert_int_equal(fast.line, slow.line);
	assert_ptr_equal(fast.file, slow.file);
	assert_ptr_equal(fast.stub, slow.stub);
	assert_ptr_equal(fast.owner_domain, slow.owner_domain);
	return fast.rule;
}

/* An address rule after a vendor rule that also matches: the vendor rule
 * is earlier, so it decides, though the address is the index's better key. */
static void test_index_order(void **state)
{
	struct policy *p = loaded(
		"order.conf", "rules = (\n"
			      "  { match = { vendor = \"8086\"; }; action = \"allow\"; },\n"
			      "  { match = { address = \"0000:03:00.0\"; }; action = \"refuse\"; },\n"
			      "  { match = {}; action = \"ignore\"; },\n"
			      "  { match = { address = \"0000:04:00.0\"; }; action = \"detach\"; },\n"
			      "  { match = { bus = \"pci\"; vendor = \"10de\"; device = \"1c82\"; };\n"
			      "    action = \"detach\"; }\n"
			      ");\n");
	struct device *nic = pci("0000:03:00.0", 0x8086, 0x10d3, 0x020000, "e1000e");
	struct device *other = pci("0000:03:00.0", 0x1af4, 0x1000, 0x020000, "virtio-pci");
	struct device *gpu = pci("0000:04:00.0", 0x10de, 0x1c82, 0x030000, "nouveau");

	assert_int_equal(decide_both(p, nic, POLICY_MOMENT_CLAIM), 0);
	assert_int_equal(decide_both(p, other, POLICY_MOMENT_CLAIM), 1);
	/* A catch-all before indexed rules that match: the catch-all decides. */
	assert_int_equal(decide_both(p, gpu, POLICY_MOMENT_CLAIM), 2);
	device_free(nic);
	device_free(other);
	device_free(gpu);
	policy_free(p);
}

/* USB: a port rule and an address rule are both the device's id; a PCI
 * device with the same vendor is not taken by a port rule. */
static void test_index_usb_port(void **state)
{
	struct policy *p = loaded(
		"port.conf", "default = \"refuse\";\n"
			     "rules = (\n"
			     "  { match = { port = \"1-2.3\"; vendor = \"0781\"; }; action = \"ignore\"; },\n"
			     "  { match = { address = \"1-2.3\"; }; action = \"allow\"; },\n"
			     "  { match = { port = \"1-4\"; }; action = \"detach\"; }\n"
			     ");\n");
	struct device *stick = device_new(HD_BUS_USB, "1-2.3");
	struct device *mouse = device_new(HD_BUS_USB, "1-4");
	struct device *nic = pci("0000:03:00.0", 0x0781, 0x0001, 0x020000, "e1000e");

	stick->vendor = 0x0781;
	assert_int_equal(decide_both(p, stick, POLICY_MOMENT_HOTPLUG), 0);
	stick->vendor = 0x046d;
	assert_int_equal(decide_both(p, stick, POLICY_MOMENT_HOTPLUG), 1);
	assert_int_equal(decide_both(p, mouse, POLICY_MOMENT_START), 2);
	assert_int_equal(decide_both(p, nic, POLICY_MOMENT_START), -1);
	device_free(stick);
	device_free(mouse);
	device_free(nic);
	policy_free(p);
}

/* Rules filed under one key but limited to one moment: the index hands
 * both out, `when` picks. */
static void test_index_when(void **state)
{
	struct policy *p = loaded(
		"when.conf",
		"rules = (\n"
		"  { match = { address = \"0000:03:00.0\"; }; action = \"refuse\"; when = \"startup\"; },\n"
		"  { match = { vendor = \"8086\"; }; action = \"ignore\"; when = \"hotplug\"; },\n"
		"  { match = { address = \"0000:03:00.0\"; }; action = \"detach\"; }\n"
		");\n");
	struct device *nic = pci("0000:03:00.0", 0x8086, 0x10d3, 0x020000, "e1000e");
	struct device *virt = pci("0000:03:00.0", 0x1af4, 0x1000, 0x020000, "virtio-pci");

	assert_int_equal(decide_both(p, nic, POLICY_MOMENT_START), 0);
	assert_int_equal(decide_both(p, nic, POLICY_MOMENT_HOTPLUG), 1);
	assert_int_equal(decide_both(p, nic, POLICY_MOMENT_CLAIM), 0);
	assert_int_equal(decide_both(p, virt, POLICY_MOMENT_HOTPLUG), 2);
	device_free(nic);
	device_free(virt);
	policy_free(p);
}

/* A record from the device table carries its id's hash, which the index
 * uses instead of hashing the id again. */
static void test_index_table_record(void **state)
{
	struct policy *p = loaded("table.conf",
				  "rules = (\n"
				  "  { match = { vendor = \"10de\"; }; action = \"allow\"; },\n"
				  "  { match = { address = \"0000:03:00.0\"; }; action = \"detach\"; }\n"
				  ");\n");
	struct devtable *t = devtable_new();
	const struct device *nic;

	devtable_upsert(t, pci("0000:03:00.0", 0x8086, 0x10d3, 0x020000, "e1000e"), DEV_EVENT_ADD,
			NULL);
	nic = devtable_get(t, "0000:03:00.0");
	assert_int_not_equal(nic->id_hash, 0);
	assert_int_equal(decide_both(p, nic, POLICY_MOMENT_HOTPLUG), 1);
	devtable_free(t);
	policy_free(p);
}

#define rnd testdev_rnd
#define PICK TESTDEV_PICK

/* Small pools, so that rules and devices meet often. */
static const char *const pci_ids[] = { "0000:00:02.0", "0000:01:00.0", "0000:01:00.1",
				       "0000:03:00.0", "0000:04:00.0", "0000:05:00.0" };
static const char *const usb_ids[] = { "1-1", "1-2", "1-2.3", "2-1", "usb1" };
static const uint32_t vendors[] = { 0x8086, 0x10de, 0x1af4, 0x046d };
static const uint32_t products[] = { 0x0001, 0x0002, 0x0003 };
static const uint32_t classes[] = { 0x020000, 0x030000, 0x030200, 0x040300, 0x0c0330 };
static const char *const class_keys[] = { "02", "03", "0300", "0302", "030200", "04", "0c03" };
static const char *const drivers[] = { "e1000e", "nouveau", "vfio-pci", "usb-storage", "usbhid" };
static const char *const serials[] = { "A1", "B2", "C3" };
static const char *const ifclasses[] = { "03", "08", "09" };
static const char *const whens[] = { "always", "always", "startup", "hotplug" };
static const char *const actions[] = { "allow", "refuse", "detach", "ignore", "assign" };

enum shape { S_ADDRESS, S_PORT, S_SERIAL, S_VENDOR_DEVICE, S_VENDOR, S_DEVICE, S_GROUP, S_CLASS,
	     S_DRIVER, S_BUS, S_IFCLASS, S_NUMA, S_SUBSYSTEM, S__COUNT };

/* Writes `name = value;` unless the rule already has that key (libconfig
 * refuses a setting named twice); seen collects the names. */
static void key_once(FILE *f, char *seen, size_t size, const char *name, const char *value)
{
	char tag[32];

	snprintf(tag, sizeof(tag), " %s ", name);
	if (strstr(seen, tag))
		return;
	strncat(seen, tag, size - strlen(seen) - 1);
	fprintf(f, "%s = %s; ", name, value);
}

static void random_key(FILE *f, char *seen, size_t size, enum shape s)
{
	char v[32];

#define KEY(name, ...) (snprintf(v, sizeof(v), __VA_ARGS__), key_once(f, seen, size, name, v))
	switch (s) {
	case S_ADDRESS:
		KEY("address", "\"%s\"", rnd(3) ? PICK(pci_ids) : PICK(usb_ids));
		break;
	case S_PORT:
		KEY("port", "\"%s\"", PICK(usb_ids));
		break;
	case S_SERIAL:
		KEY("serial", "\"%s\"", PICK(serials));
		break;
	case S_VENDOR_DEVICE:
		KEY("vendor", "\"%04x\"", PICK(vendors));
		KEY("device", "\"%04x\"", PICK(products));
		break;
	case S_VENDOR:
		KEY("vendor", "\"%04x\"", PICK(vendors));
		break;
	case S_DEVICE:
		KEY("device", "\"%04x\"", PICK(products));
		break;
	case S_GROUP:
		KEY("iommu_group", "%d", (int)rnd(4) - 1);
		break;
	case S_CLASS:
		KEY("class", "\"%s\"", PICK(class_keys));
		break;
	case S_DRIVER:
		KEY("driver", "\"%s\"", PICK(drivers));
		break;
	case S_BUS:
		KEY("bus", "\"%s\"", rnd(2) ? "pci" : "usb");
		break;
	case S_IFCLASS:
		KEY("interface_class", "\"%s\"", PICK(ifclasses));
		break;
	case S_NUMA:
		KEY("numa_node", "%d", (int)rnd(3) - 1);
		break;
	default:
		KEY("subsystem_vendor", "\"%04x\"", PICK(vendors));
	}
#undef KEY
}

/* One rule in 400 matches everything (some only at one moment): enough
 * that a catch-all sometimes stands in front of indexed rules, rare enough
 * that most of each policy is reached. */
static void random_rule(FILE *f)
{
	const char *action = PICK(actions);
	enum shape first = (enum shape)rnd(S__COUNT);
	/* Up to two more keys of any kind make some of the index's
	 * candidates fail; a bus or a NUMA node alone would match too much. */
	unsigned more = rnd(4) / 2 + rnd(4) / 3 + (first == S_BUS || first == S_NUMA);
	char seen[256] = "";

	fputs("  { match = { ", f);
	if (rnd(400)) {
		random_key(f, seen, sizeof(seen), first);
		while (more--)
			random_key(f, seen, sizeof(seen), (enum shape)rnd(S__COUNT));
	}
	fprintf(f, "}; action = \"%s\"; when = \"%s\";", action, PICK(whens));
	if (streq(action, "assign"))
		fputs(" owner = { driver = \"qemu\"; domain = \"vm\"; };", f);
	fputs(" },\n", f);
}

static struct policy *random_policy(size_t n_rules)
{
	char *text = NULL, err[512];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct policy *p;

	fprintf(f, "default = \"%s\";\nrules = (\n", rnd(2) ? "allow" : "refuse");
	for (size_t i = 0; i < n_rules; i++)
		random_rule(f);
	fputs("  { match = { address = \"none\"; }; action = \"allow\"; }\n);\n", f);
	fclose(f);
	p = policy_load(put("random.conf", text), err, sizeof(err));
	if (!p)
		fail_msg("%s", err);
	free(text);
	return p;
}

/* A device with nothing a rule names but its bus: only a catch-all or
 * the default decides it. */
static struct device *stranger(bool usb)
{
	struct device *d = device_new(usb ? HD_BUS_USB : HD_BUS_PCI, usb ? "3-9" : "0000:09:00.0");

	d->vendor = 0x1234;
	d->product = 0x0009;
	d->numa_node = 5;
	d->pci.class_code = usb ? 0 : 0x088000;
	d->pci.iommu_group = usb ? 0 : 9;
	return d;
}

static struct device *random_device(void)
{
	bool usb = rnd(3) == 0;
	struct device *d;

	if (rnd(4) == 0)
		return stranger(usb);
	d = device_new(usb ? HD_BUS_USB : HD_BUS_PCI, usb ? PICK(usb_ids) : PICK(pci_ids));
	d->vendor = PICK(vendors);
	d->product = PICK(products);
	d->numa_node = (int)rnd(3) - 1;
	d->driver = rnd(4) ? device_intern(PICK(drivers)) : NULL;
	if (!usb) {
		d->pci.class_code = PICK(classes);
		d->pci.iommu_group = (int)rnd(4) - 1;
		d->pci.subsystem_vendor = PICK(vendors);
		return d;
	}
	d->usb.serial = rnd(3) ? xstrdup(PICK(serials)) : NULL;
	d->usb.n_ifaces = rnd(3);
	d->usb.ifaces = xcalloc(d->usb.n_ifaces + 1, sizeof(*d->usb.ifaces));
	for (size_t i = 0; i < d->usb.n_ifaces; i++) {
		d->usb.ifaces[i].id = xasprintf("%s:1.%zu", d->id, i);
		d->usb.ifaces[i].cls = (uint8_t)strtoul(PICK(ifclasses), NULL, 16);
	}
	return d;
}

/* policy_explain's last line names the deciding rule, and every rule
 * before it has a line of its own. */
static void check_explain(const struct policy *p, const struct device *dev, enum policy_moment m,
			  int rule)
{
	char *text = NULL, *last, want[64];
	size_t len = 0, lines = 0;
	FILE *f = open_memstream(&text, &len);

	policy_explain(p, dev, m, f);
	fclose(f);
	for (const char *c = text; *c; c++)
		lines += *c == '\n';
	assert_int_equal(lines, (rule < 0 ? policy_rule_count(p) : (size_t)rule) + 1);
	if (rule < 0)
		snprintf(want, sizeof(want), "the default (");
	else
		snprintf(want, sizeof(want), "rule %d (", rule + 1);
	text[len - 1] = '\0';
	last = strrchr(text, '\n') ? strrchr(text, '\n') + 1 : text;
	if (strncmp(last, want, strlen(want)) || !strstr(last, ") decides: "))
		fail_msg("explain does not say '%s... decides':\n%s", want, text);
	free(text);
}

/* Policies of a few hundred rules of every kind, many devices, all three
 * moments: the index decides exactly as trying every rule in order. */
static void test_index_equivalence(void **state)
{
	size_t by_default = 0, deep = 0, decisions = 0;

	testdev_seed(20261125);
	for (int round = 0; round < 12; round++) {
		struct policy *p = random_policy(150 + rnd(300));

		for (int n = 0; n < 400; n++) {
			struct device *dev = random_device();

			for (int m = POLICY_MOMENT_START; m <= POLICY_MOMENT_CLAIM; m++) {
				int rule = decide_both(p, dev, (enum policy_moment)m);

				by_default += rule < 0;
				deep += rule >= 40;
				decisions++;
				if (n % 50 == 0)
					check_explain(p, dev, (enum policy_moment)m, rule);
			}
			device_free(dev);
		}
		policy_free(p);
	}
	/* The comparison means something only if both the default and rules
	 * far down the list decide some of the devices. */
	if (by_default < decisions / 50 || deep < decisions / 50)
		fail_msg("of %zu decisions, %zu by the default and %zu by rule 41 or later: too few",
			 decisions, by_default, deep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_include_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decide, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usb_and_explain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pciback_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_variant_drivers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory, setup, teardown),
		cmocka_unit_test(test_default_policy),
		cmocka_unit_test_setup_teardown(test_index_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_usb_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_when, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_table_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_equivalence, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
