/* The udev rules generator (policy/udevgen.c, docs/udev.md): the exact line
 * of every key and action, the masks, every reason a rule is not generated,
 * first match wins, the header; and, over many random policies and devices,
 * that what the lines would do to a device (evaluated from their tokens
 * against a model of what sysfs shows at `add`, as udev matches) is what
 * hostdevd's policy decides, or nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/util.h"
#include "policy/internal.h"
#include "policy/keys.h"
#include "policy/policy.h"
#include "policy/udevgen.h"
#include "tests/common/rmtree.h"
#include "tests/unit/testdev.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_udevgen.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(rmtree(dir), 0);
	return 0;
}

/* ---- helpers --------------------------------------------------------------- */

static char path[256];

/* The policy text in dir/name, loaded; fails the test when it does not load. */
static struct policy *load_named(const char *name, const char *text)
{
	char err[1024];
	struct policy *p;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	p = policy_load(path, err, sizeof(err));
	if (!p)
		fail_msg("policy does not load: %s", err);
	return p;
}

static struct policy *load(const char *text)
{
	return load_named("p.conf", text);
}

static char *written(const struct udevgen *g, const char *source)
{
	/* On the heap, where the stream leaves the text: gcc takes a local
	 * the stream writes through for the text's home. */
	_cleanup_free_ char **text = xcalloc(1, sizeof(*text));
	_cleanup_free_ size_t *len = xcalloc(1, sizeof(*len));
	FILE *f = open_memstream(text, len);

	udevgen_write(g, source, f);
	fclose(f);
	return *text;
}

/* The file from one rule (on line 2 of p.conf), `rule` is what goes
 * between the braces of the rules list. */
static char *generate(const char *rule, struct udevgen **keep, struct policy **keep_p)
{
	_cleanup_free_ char *text = xasprintf("default = \"allow\";\nrules = ( { %s } );\n", rule);
	struct policy *p = load(text);
	struct udevgen *g = udevgen_new(p);
	char *out = written(g, path);

	if (keep) {
		*keep = g;
		*keep_p = p;
	} else {
		udevgen_free(g);
		policy_free(p);
	}
	return out;
}

/* The output holds this line exactly ("%s" in want is the policy's path,
 * which generate() sets: the want is formatted after it). */
#define expect_line(rule, want_fmt)                                            \
	do {                                                                   \
		char *out_ = generate(rule, NULL, NULL);                       \
		expect_line_in(rule, out_, xasprintf(want_fmt, path));          \
	} while (0)

static void expect_line_in(const char *rule, char *out, char *want)
{
	const char *found = strstr(out, want);

	if (!found || (found != out && found[-1] != '\n') || found[strlen(want)] != '\n')
		fail_msg("for { %s }\nwant the line\n%s\nin\n%s", rule, want, out);
	free(want);
	free(out);
}

/* The rule is not generated, for the reason holding `says`; no line but
 * the file's own guards sets anything. */
static void expect_skipped(const char *rule, const char *says)
{
	struct udevgen *g;
	struct policy *p;
	_cleanup_free_ char *out = generate(rule, &g, &p);
	_cleanup_free_ char *comment = NULL;

	if (udevgen_line_count(g) != 0 || udevgen_skip_count(g) == 0)
		fail_msg("for { %s }: %zu line(s), %zu skip(s); want it not generated\n%s", rule,
			 udevgen_line_count(g), udevgen_skip_count(g), out);
	for (size_t i = 0; i < udevgen_skip_count(g); i++) {
		const struct udevgen_skip *s = udevgen_skip(g, i);

		assert_string_equal(s->file, path);
		assert_int_equal(s->line, 2);
		if (!strstr(s->reason, says))
			fail_msg("for { %s }: reason '%s' does not say '%s'", rule, s->reason, says);
	}
	comment = xasprintf("# not generated: %s:2: ", path);
	if (!strstr(out, comment) || strstr(out, "ENV{HOSTDEVD_POLICY}"))
		fail_msg("for { %s }: the file does not say it is not generated:\n%s", rule, out);
	udevgen_free(g);
	policy_free(p);
}

/* ---- golden lines ------------------------------------------------------------ */

#define MARK(action, line) \
	"ENV{HOSTDEVD_POLICY}=\"" action "\", ENV{HOSTDEVD_RULE}=\"%s:" line "\""
#define END ", GOTO=\"hostdevd_end\""
#define PCI "SUBSYSTEM==\"pci\", "
#define USB "SUBSYSTEM==\"usb\", ENV{DEVTYPE}==\"usb_device\", "
#define STUB(stub, module)                                                              \
	", ENV{HOSTDEVD_STUB}=\"" stub "\", ATTR{driver_override}=\"" stub               \
	"\", ATTR{[drivers/pci:" stub "]bind}=\"$kernel\", RUN{builtin}+=\"kmod load " module \
	"\""

static void test_keys(void **state)
{
	expect_line("match = { bus = \"pci\"; }; action = \"allow\";", PCI MARK("allow", "2") END);
	expect_line("match = { bus = \"usb\"; }; action = \"ignore\";", USB MARK("ignore", "2") END);
	expect_line("match = { address = \"0000:03:00.0\"; }; action = \"allow\";",
		    PCI "KERNEL==\"0000:03:00.0\", " MARK("allow", "2") END);
	/* A USB address is its port path, as `port` is. */
	expect_line("match = { address = \"1-4.2\"; }; action = \"allow\";",
		    USB "KERNEL==\"1-4.2\", " MARK("allow", "2") END);
	expect_line("match = { address = \"usb1\"; }; action = \"allow\";",
		    USB "KERNEL==\"usb1\", " MARK("allow", "2") END);
	expect_line("match = { port = \"1-4.2\"; }; action = \"allow\";",
		    USB "KERNEL==\"1-4.2\", " MARK("allow", "2") END);
	/* Ids as sysfs prints them: PCI "0x%04x", USB "%04x", lower case,
	 * whatever the digits written. */
	expect_line("match = { bus = \"pci\"; vendor = \"8086\"; device = \"10D3\"; }; "
		    "action = \"allow\";",
		    PCI "ATTR{vendor}==\"0x8086\", ATTR{device}==\"0x10d3\", " MARK("allow", "2") END);
	expect_line("match = { bus = \"usb\"; vendor = \"781\"; device = \"5567\"; }; "
		    "action = \"allow\";",
		    USB "ATTR{idVendor}==\"0781\", ATTR{idProduct}==\"5567\", " MARK("allow", "2") END);
	/* A key about both buses: a line for each. */
	expect_line("match = { vendor = \"10\"; }; action = \"allow\";",
		    PCI "ATTR{vendor}==\"0x0010\", " MARK("allow", "2") END);
	expect_line("match = { vendor = \"10\"; }; action = \"allow\";",
		    USB "ATTR{idVendor}==\"0010\", " MARK("allow", "2") END);
	expect_line("match = { subsystem_vendor = \"1043\"; subsystem_device = \"8674\"; }; "
		    "action = \"allow\";",
		    PCI "ATTR{subsystem_vendor}==\"0x1043\", ATTR{subsystem_device}==\"0x8674\", "
			MARK("allow", "2") END);
	expect_line("match = { serial = \"4C530001\"; }; action = \"allow\";",
		    USB "ATTR{serial}==\"4C530001\", " MARK("allow", "2") END);
}

static void test_class_masks(void **state)
{
	char buf[64];

	expect_line("match = { class = \"0c0330\"; }; action = \"allow\";",
		    PCI "ATTR{class}==\"0x0c0330\", " MARK("allow", "2") END);
	expect_line("match = { class = \"0c03\"; }; action = \"allow\";",
		    PCI "ATTR{class}==\"0x0c03??\", " MARK("allow", "2") END);
	expect_line("match = { class = \"03\"; }; action = \"allow\";",
		    PCI "ATTR{class}==\"0x03????\", " MARK("allow", "2") END);
	/* The generic writer, for masks within a digit. */
	assert_true(udev_hex_pattern(0x2, 0x3, 2, "", buf, sizeof(buf)));
	assert_string_equal(buf, "?[26ae]");
	assert_true(udev_hex_pattern(0x0, 0x1, 1, "0x", buf, sizeof(buf)));
	assert_string_equal(buf, "0x[02468ace]");
	assert_true(udev_hex_pattern(0x0c0330, 0xfffff0, 6, "0x", buf, sizeof(buf)));
	assert_string_equal(buf, "0x0c033?");
	/* More than the digits show: no device could match what it would write. */
	assert_false(udev_hex_pattern(0x10000, 0xffffffff, 4, "", buf, sizeof(buf)));
}

/* Every value and mask of a digit pair: the pattern matches exactly the
 * values the mask lets through. */
static void test_hex_pattern_exact(void **state)
{
	char pat[64], val[16];

	for (uint32_t mask = 0; mask <= 0xff; mask += 7)
		for (uint32_t want = 0; want <= 0xff; want += 5) {
			assert_true(udev_hex_pattern(want & mask, mask, 2, "0x", pat, sizeof(pat)));
			for (uint32_t x = 0; x <= 0xff; x++) {
				snprintf(val, sizeof(val), "0x%02x", x);
				if ((fnmatch(pat, val, 0) == 0) != ((x & mask) == (want & mask)))
					fail_msg("pattern %s (value %02x mask %02x) on %s", pat, want,
						 mask, val);
			}
		}
}

static void test_actions(void **state)
{
	expect_line("match = { address = \"0000:03:00.0\"; }; action = \"detach\";",
		    PCI "KERNEL==\"0000:03:00.0\", " MARK("detach", "2")
			STUB("vfio-pci", "vfio_pci") END);
	expect_line("match = { address = \"0000:03:00.0\"; }; action = \"assign\"; "
		    "owner = { driver = \"qemu\"; domain = \"router\"; };",
		    PCI "KERNEL==\"0000:03:00.0\", " MARK("assign", "2")
			", ENV{HOSTDEVD_OWNER}=\"qemu/router\"" STUB("vfio-pci", "vfio_pci") END);
	expect_line("match = { vendor = \"8086\"; device = \"10d3\"; }; action = \"detach\"; "
		    "driver = \"pci-stub\";",
		    PCI "ATTR{vendor}==\"0x8086\", ATTR{device}==\"0x10d3\", " MARK("detach", "2")
			STUB("pci-stub", "pci_stub") END);
	/* Xen's stub by either name: the override and bind name the driver
	 * pciback (an override "xen-pciback" binds nothing), the module load
	 * its module xen_pciback. */
	expect_line("match = { bus = \"pci\"; vendor = \"8086\"; device = \"10d3\"; }; "
		    "action = \"detach\"; driver = \"xen-pciback\";",
		    PCI "ATTR{vendor}==\"0x8086\", ATTR{device}==\"0x10d3\", " MARK("detach", "2")
			STUB("pciback", "xen_pciback") END);
	expect_line("match = { address = \"0000:03:00.0\"; }; action = \"detach\"; "
		    "driver = \"pciback\";",
		    PCI "KERNEL==\"0000:03:00.0\", " MARK("detach", "2")
			STUB("pciback", "xen_pciback") END);
	/* No USB stub: the USB line of a detach rule marks, and acts on nothing. */
	expect_line("match = { vendor = \"8086\"; device = \"10d3\"; }; action = \"detach\";",
		    USB "ATTR{idVendor}==\"8086\", ATTR{idProduct}==\"10d3\", "
			MARK("detach", "2") END);
	expect_line("match = { port = \"1-4.2\"; }; action = \"refuse\"; deauthorize = true;",
		    USB "KERNEL==\"1-4.2\", " MARK("refuse", "2") ", ATTR{authorized}=\"0\"" END);
	expect_line("match = { bus = \"usb\"; vendor = \"0781\"; device = \"5567\"; }; "
		    "action = \"refuse\"; deauthorize = true;",
		    USB "ATTR{idVendor}==\"0781\", ATTR{idProduct}==\"5567\", " MARK("refuse", "2")
			", ATTR{authorized}=\"0\"" END);
	/* refuse without deauthorize, allow, ignore: a mark, nothing written. */
	expect_line("match = { port = \"1-4.2\"; }; action = \"refuse\";",
		    USB "KERNEL==\"1-4.2\", " MARK("refuse", "2") END);
}

/* ---- what is not generated ------------------------------------------------------ */

static void test_inexpressible_keys(void **state)
{
	expect_skipped("match = { driver = \"e1000e\"; }; action = \"allow\";",
		       "'driver' cannot be a udev match: at 'add' no driver is bound yet");
	expect_skipped("match = { iommu_group = 7; }; action = \"allow\";",
		       "'iommu_group' cannot be a udev match: the IOMMU group is a link");
	expect_skipped("match = { numa_node = 0; }; action = \"allow\";",
		       "'numa_node' cannot be a udev match");
	expect_skipped("match = { interface_class = \"08\"; }; action = \"refuse\";",
		       "'interface_class' cannot be a udev match: a USB device's interfaces are "
		       "added after");
	/* The rows say it, for every key and bus. */
	for (size_t i = 0; i < match_key_count; i++)
		for (int b = 0; b < HD_BUS__COUNT; b++)
			if ((match_keys[i].buses & 1u << b) && match_keys[i].udev[b].kind == UDEV_NEVER &&
			    !match_keys[i].udev_never)
				fail_msg("'%s' has no udev form on bus %d and no reason",
					 match_keys[i].name, b);
}

/* A rule whose driver is "auto" or a vfio-pci variant's name: the driver
 * name driver_override needs is the one the variant's module registers,
 * known only at run time, so the daemon acts on those devices and the
 * rules leave them alone; the stubs of the table are still written. */
static void test_variant_drivers(void **state)
{
	struct udevgen *g;
	struct policy *p;
	char *out;

	expect_skipped("match = { address = \"0000:03:00.0\"; }; action = \"detach\"; "
		       "driver = \"auto\";",
		       "driver = \"auto\": the vfio-pci variant is chosen at run time, by hostdevd "
		       "from modules.alias, and driver_override needs the name its module "
		       "registers, which udev cannot know at boot; hostdevd detaches the function "
		       "when it starts or sees it appear");
	expect_skipped("match = { bus = \"pci\"; vendor = \"15b3\"; device = \"101e\"; }; "
		       "action = \"assign\"; owner = { driver = \"qemu\"; domain = \"vm\"; }; "
		       "driver = \"mlx5_vfio_pci\";",
		       "driver = \"mlx5_vfio_pci\": a vfio-pci variant is resolved at run time, by "
		       "hostdevd (driver_override needs the name its module registers");
	expect_skipped("match = { address = \"0000:03:00.0\"; }; action = \"detach\"; "
		       "driver = \"e1000e-vfio\";",
		       "driver = \"e1000e-vfio\": a vfio-pci variant is resolved at run time");
	/* On USB, where a detach rule only marks, the line is still written;
	 * PCI's is not, and says why. */
	out = generate("match = { vendor = \"8086\"; device = \"10d3\"; }; action = \"detach\"; "
		       "driver = \"auto\";",
		       &g, &p);
	assert_int_equal(udevgen_line_count(g), 1);
	assert_int_equal(udevgen_line(g, 0)->bus, HD_BUS_USB);
	assert_int_equal(udevgen_skip_count(g), 1);
	assert_true(strncmp(udevgen_skip(g, 0)->reason, "on pci: driver = \"auto\": ", 25) == 0);
	assert_null(strstr(out, "ATTR{driver_override}="));
	free(out);
	udevgen_free(g);
	policy_free(p);
	/* Left out, it keeps a later rule for the same device out too (the
	 * rules must not decide otherwise than hostdevd); another device's is
	 * written. */
	p = load("rules = (\n"
		 "  { match = { address = \"0000:03:00.0\"; }; action = \"detach\"; driver = \"auto\"; },\n"
		 "  { match = { address = \"0000:03:00.0\"; }; action = \"refuse\"; },\n"
		 "  { match = { address = \"0000:04:00.0\"; }; action = \"detach\"; }\n);\n");
	g = udevgen_new(p);
	out = written(g, path);
	assert_int_equal(udevgen_line_count(g), 1);
	assert_int_equal(udevgen_line(g, 0)->rule, 2);
	assert_int_equal(udevgen_skip_count(g), 2);
	assert_non_null(strstr(udevgen_skip(g, 1)->reason, "which is not generated, comes first"));
	assert_non_null(strstr(out, "KERNEL==\"0000:04:00.0\", ENV{HOSTDEVD_POLICY}=\"detach\""));
	assert_null(strstr(out, "KERNEL==\"0000:03:00.0\""));
	free(out);
	udevgen_free(g);
	policy_free(p);
}

static void test_when(void **state)
{
	expect_skipped("match = { address = \"0000:03:00.0\"; }; action = \"detach\"; "
		       "when = \"hotplug\";",
		       "when = \"hotplug\": udev runs the same rules for a device present at boot "
		       "and one plugged in later, and cannot tell the two apart");
	expect_skipped("match = { address = \"0000:03:00.0\"; }; action = \"allow\"; "
		       "when = \"startup\";",
		       "when = \"startup\": udev runs the same rules");
}

static void test_broad_acting(void **state)
{
	const char *name_pci = "name the device (vendor and device, or its address)";

	expect_skipped("match = { class = \"0c03\"; }; action = \"detach\";", name_pci);
	expect_skipped("match = { bus = \"pci\"; vendor = \"8086\"; }; action = \"detach\";",
		       name_pci);
	expect_skipped("match = { bus = \"pci\"; device = \"10d3\"; class = \"02\"; }; "
		       "action = \"assign\"; owner = { driver = \"qemu\"; domain = \"vm\"; };",
		       name_pci);
	expect_skipped("match = { bus = \"pci\"; }; action = \"detach\";",
		       "at boot udev cannot run hostdevd's host-critical checks");
	expect_skipped("match = { bus = \"usb\"; vendor = \"0781\"; }; action = \"refuse\"; "
		       "deauthorize = true;",
		       "it deauthorizes every device it matches");
	/* A lone address with host_critical = true is the administrator's
	 * explicit choice: generated. */
	expect_line("match = { address = \"0000:00:1f.2\"; }; action = \"detach\"; "
		    "host_critical = true;",
		    PCI "KERNEL==\"0000:00:1f.2\", " MARK("detach", "2")
			STUB("vfio-pci", "vfio_pci") END);
	/* A USB serial names one device. */
	expect_line("match = { serial = \"4C53\"; }; action = \"refuse\"; deauthorize = true;",
		    USB "ATTR{serial}==\"4C53\", " MARK("refuse", "2") ", ATTR{authorized}=\"0\"" END);
}

static void test_unsafe_strings(void **state)
{
	static const struct {
		const char *value, *says;
	} cases[] = {
		{ "a\\\"b", "holds '\"'" },      { "a*", "holds '*'" },
		{ "a?", "holds '?'" },           { "a[1]", "holds '['" },
		{ "a|b", "holds '|'" },          { "a\\nb", "holds byte 0x0a" },
		{ "a\\\\b", "holds '\\'" },      { "$kernel", "holds '$'" },
		{ "%k", "holds '%'" },           { "", "is empty" },
		{ "ab ", "begins or ends with a blank" },
		{ " ab", "begins or ends with a blank" },
		{ "\\xc3\\xa9", "holds byte 0xc3" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *rule =
			xasprintf("match = { serial = \"%s\"; }; action = \"allow\";", cases[i].value);
		_cleanup_free_ char *says = xasprintf("'serial' %s", cases[i].says);

		expect_skipped(rule, says);
	}
	/* An address no device can have (a pattern, say) matches nothing, in
	 * hostdevd as in udev: nothing to write, and told. */
	expect_skipped("match = { address = \"0000:03:00.*\"; }; action = \"detach\";",
		       "no device can match it");
	expect_skipped("match = { class = \"03\"; port = \"1-2\"; }; action = \"allow\";",
		       "no device can match it");
}

static void test_escaped_values(void **state)
{
	struct policy *p;
	struct udevgen *g;
	_cleanup_free_ char *out = NULL, *want = NULL;

	/* udev substitutes '$' and '%' in what it assigns: doubled. */
	p = load_named("a$b%c.conf",
		       "rules = ( { match = { address = \"0000:03:00.0\"; }; action = \"assign\"; "
		       "owner = { driver = \"qemu\"; domain = \"vm$1\"; }; } );\n");
	g = udevgen_new(p);
	out = written(g, path);
	want = xasprintf("ENV{HOSTDEVD_RULE}=\"%s/a$$b%%%%c.conf:1\", "
			 "ENV{HOSTDEVD_OWNER}=\"qemu/vm$$1\"",
			 dir);
	if (!strstr(out, want))
		fail_msg("want %s in\n%s", want, out);
	udevgen_free(g);
	policy_free(p);
	/* A quote in the file's name has no form that reads back. */
	p = load_named("q\"uote.conf",
		       "rules = ( { match = { address = \"0000:03:00.0\"; }; action = \"allow\"; } );\n");
	g = udevgen_new(p);
	assert_int_equal(udevgen_line_count(g), 0);
	assert_int_equal(udevgen_skip_count(g), 1);
	assert_non_null(strstr(udevgen_skip(g, 0)->reason, "its file's name holds a quote"));
	udevgen_free(g);
	policy_free(p);
}

static void test_default(void **state)
{
	struct udevgen *g;
	struct policy *p;
	_cleanup_free_ char *out = generate("match = { bus = \"pci\"; }; action = \"allow\";", &g,
					    &p);
	_cleanup_free_ char *want = xasprintf("# the default (%s:1): allow.  It acts on nothing", path);
	char *again;

	assert_non_null(strstr(out, want));
	udevgen_free(g);
	/* The loader never lets a default detach; were it to, udev must not. */
	p->dflt = POLICY_DETACH;
	g = udevgen_new(p);
	assert_int_equal(udevgen_skip_count(g), 1);
	assert_int_equal(udevgen_skip(g, 0)->line, 1);
	assert_non_null(strstr(udevgen_skip(g, 0)->reason, "the default (detach) names no device"));
	again = written(g, path);
	assert_non_null(strstr(again, "# not generated: "));
	assert_non_null(strstr(again, ":1: the default (detach) names no device"));
	free(again);
	udevgen_free(g);
	policy_free(p);
}

/* ---- order ------------------------------------------------------------------------ */

static size_t count(const char *text, const char *what)
{
	size_t n = 0;

	for (const char *c = text; (c = strstr(c, what)); c += strlen(what))
		n++;
	return n;
}

static void test_first_match_order(void **state)
{
	struct policy *p = load("rules = (\n"
				"  { match = { address = \"0000:03:00.0\"; }; action = \"allow\"; },\n"
				"  { match = { vendor = \"8086\"; device = \"10d3\"; }; action = \"detach\"; }\n"
				");\n");
	struct udevgen *g = udevgen_new(p);
	_cleanup_free_ char *out = written(g, path);
	char *allow = strstr(out, "KERNEL==\"0000:03:00.0\""), *detach = strstr(out, "0x10d3");
	char *label = strstr(out, "LABEL=\"hostdevd_end\"");

	assert_non_null(allow);
	assert_non_null(detach);
	assert_non_null(label);
	assert_true(allow < detach && detach < label);
	/* Every line ends in the GOTO: a device takes the first that fits. */
	assert_int_equal(udevgen_line_count(g), 3);
	for (size_t i = 0; i < udevgen_line_count(g); i++) {
		const struct udevgen_line *l = udevgen_line(g, i);

		assert_string_equal(l->tokens[l->n_tokens - 1].key, "GOTO");
		assert_string_equal(l->tokens[l->n_tokens - 1].value, "hostdevd_end");
		assert_int_equal(l->rule, i == 0 ? 0 : 1);
	}
	assert_int_equal(count(out, "GOTO=\"hostdevd_end\"\n"), 3 + 3);
	assert_int_equal(count(out, "LABEL="), 1);
	/* The lines act on add only: a removal goes to the end, and any other
	 * event (bind, change) takes back the marks its add set, then goes to
	 * the end (the VM tier saw a bind event's fresh properties lose
	 * them). */
	assert_non_null(strstr(out, "\nACTION==\"remove\", GOTO=\"hostdevd_end\"\n"));
	assert_non_null(strstr(out, "\nACTION!=\"add\", IMPORT{db}=\"HOSTDEVD_POLICY\", "
				    "IMPORT{db}=\"HOSTDEVD_RULE\", IMPORT{db}=\"HOSTDEVD_STUB\", "
				    "IMPORT{db}=\"HOSTDEVD_OWNER\", GOTO=\"hostdevd_end\"\n"));
	udevgen_free(g);
	policy_free(p);
}

static void test_shadowing(void **state)
{
	struct policy *p;
	struct udevgen *g;
	_cleanup_free_ char *text = NULL;
	static const struct {
		const char *first, *second;
		bool generated;
	} cases[] = {
		/* Could be the same device: left out. */
		{ "driver = \"e1000e\";", "vendor = \"8086\"; device = \"10d3\";", false },
		{ "class = \"0c\"; driver = \"x\";", "vendor = \"8086\"; device = \"10d3\"; class = \"0c03\";",
		  false },
		/* Provably not: a value both name differs, under both masks. */
		{ "driver = \"e1000e\"; vendor = \"8086\"; device = \"10d3\";",
		  "vendor = \"8086\"; device = \"10d4\";", true },
		{ "class = \"03\"; driver = \"x\";", "vendor = \"8086\"; device = \"10d3\"; class = \"0c03\";",
		  true },
		{ "address = \"0000:03:00.0\"; driver = \"x\";", "address = \"0000:04:00.0\";", true },
		{ "port = \"1-2\"; driver = \"x\";", "address = \"1-3\";", true },
		{ "port = \"1-2\"; driver = \"x\";", "address = \"1-2\";", false },
		/* Or another bus. */
		{ "bus = \"usb\"; interface_class = \"08\";", "bus = \"pci\"; vendor = \"8086\"; device = \"10d3\";",
		  true },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		free(text);
		text = xasprintf("rules = (\n  { match = { %s }; action = \"allow\"; },\n"
				 "  { match = { %s }; action = \"detach\"; }\n);\n",
				 cases[i].first, cases[i].second);
		p = load(text);
		g = udevgen_new(p);
		if ((udevgen_line_count(g) > 0) != cases[i].generated)
			fail_msg("{ %s } then { %s }: %zu line(s), want %s", cases[i].first,
				 cases[i].second, udevgen_line_count(g),
				 cases[i].generated ? "some" : "none");
		if (!cases[i].generated) {
			_cleanup_free_ char *want = xasprintf(
				"%s:2, which is not generated, comes first and may decide the same "
				"devices",
				path);

			assert_int_equal(udevgen_skip_count(g), 2);
			assert_string_equal(udevgen_skip(g, 1)->reason, want);
		}
		udevgen_free(g);
		policy_free(p);
	}
	/* Per bus: a USB-only rule left out keeps a later rule off USB only. */
	p = load("rules = (\n"
		 "  { match = { bus = \"usb\"; interface_class = \"08\"; }; action = \"refuse\"; },\n"
		 "  { match = { vendor = \"8086\"; device = \"10d3\"; }; action = \"detach\"; }\n);\n");
	g = udevgen_new(p);
	assert_int_equal(udevgen_line_count(g), 1);
	assert_int_equal(udevgen_line(g, 0)->bus, HD_BUS_PCI);
	assert_int_equal(udevgen_skip_count(g), 2);
	assert_true(strncmp(udevgen_skip(g, 1)->reason, "on usb: ", 8) == 0);
	udevgen_free(g);
	policy_free(p);
}

static void test_header(void **state)
{
	struct policy *p;
	struct udevgen *g;
	_cleanup_free_ char *d = xasprintf("%s/etc", dir), *dd = xasprintf("%s/etc/policy.d", dir);
	_cleanup_free_ char *out = NULL, *again = NULL, *want = NULL;
	char err[512];
	FILE *f;

	assert_int_equal(mkdir(d, 0755), 0);
	assert_int_equal(mkdir(dd, 0755), 0);
	free(want);
	want = xasprintf("%s/policy.conf", d);
	f = fopen(want, "w");
	fputs("default = \"ignore\";\n", f);
	fclose(f);
	free(want);
	want = xasprintf("%s/10-nic.conf", dd);
	f = fopen(want, "w");
	fputs("rules = ( { match = { address = \"0000:03:00.0\"; }; action = \"detach\"; } );\n", f);
	fclose(f);
	p = policy_load(d, err, sizeof(err));
	assert_non_null(p);
	g = udevgen_new(p);
	out = written(g, d);
	again = written(g, d);
	/* Reproducible: no timestamp, the same bytes each time. */
	assert_string_equal(out, again);
	free(want);
	want = xasprintf("# Generated by `hostdevctl rules generate` from the hostdevd policy at %s.\n"
			 "# Read: %s/policy.conf\n#   %s/10-nic.conf\n"
			 "# Do not edit: change the policy, then generate this file again.\n"
			 "# Install as /etc/udev/rules.d/60-hostdevd-policy.rules: it must run before\n"
			 "# 80-drivers.rules loads a device's host driver module.\n",
			 d, d, dd);
	if (strncmp(out, want, strlen(want)))
		fail_msg("want the header\n%s\nin\n%s", want, out);
	assert_non_null(strstr(out, "a device hot-plugged\n# while its host driver's module is "
				    "loaded is bound by the kernel before udev\n# runs, and "
				    "hostdevd's bind repair takes it then."));
	assert_non_null(strstr(out, "# the default ("));
	assert_non_null(strstr(out, "): ignore.  It acts on nothing"));
	udevgen_free(g);
	policy_free(p);
	/* The built-in default: a header, the guards, the label. */
	p = policy_default();
	g = udevgen_new(p);
	free(out);
	out = written(g, "/etc/hostdevd");
	assert_non_null(strstr(out, "# No policy file was read: the built-in default.\n"));
	assert_non_null(strstr(out, "# the built-in default: allow."));
	assert_int_equal(udevgen_line_count(g), 0);
	udevgen_free(g);
	policy_free(p);
}

/* ---- the property: what the lines do is the policy's decision, or nothing ---------- */

#define rnd testdev_rnd
#define PICK TESTDEV_PICK

static const char *const pci_ids[] = { "0000:00:02.0", "0000:01:00.0", "0000:03:00.0",
				       "0000:04:00.0" };
static const char *const usb_ids[] = { "1-1", "1-2", "1-2.3", "usb1" };
static const uint32_t vendors[] = { 0x8086, 0x10de, 0x0781 };
static const uint32_t products[] = { 0x0001, 0x0002, 0x10d3 };
static const uint32_t classes[] = { 0x020000, 0x030000, 0x030200, 0x0c0330, 0x0c0320 };
static const char *const class_keys[] = { "02", "03", "0300", "0302", "0c03", "0c0330" };
static const char *const serials[] = { "A1", "B2" };
static const char *const actions[] = { "allow", "refuse", "detach", "ignore", "assign",
				       "detach", "refuse" };

/* A rule of one to three keys, mostly ones udev can express, so that most
 * rules are generated and some are left out in front of others. */
static void random_rule(FILE *f)
{
	const char *action = PICK(actions);
	char seen[128] = "";
	unsigned n = 1 + rnd(3);

	fputs("  { match = { ", f);
	for (unsigned k = 0; k < n; k++) {
		const char *name;
		char v[32];

		switch (k == 0 ? rnd(22) : rnd(11)) {
		case 0: case 1:
			name = "address";
			snprintf(v, sizeof(v), "\"%s\"", rnd(2) ? PICK(pci_ids) : PICK(usb_ids));
			break;
		case 2:
			name = "port";
			snprintf(v, sizeof(v), "\"%s\"", PICK(usb_ids));
			break;
		case 3:
			name = "serial";
			snprintf(v, sizeof(v), "\"%s\"", PICK(serials));
			break;
		case 4: case 5:
			name = "vendor";
			snprintf(v, sizeof(v), "\"%04x\"", PICK(vendors));
			break;
		case 6: case 7:
			name = "device";
			snprintf(v, sizeof(v), "\"%04x\"", PICK(products));
			break;
		case 8:
			name = "class";
			snprintf(v, sizeof(v), "\"%s\"", PICK(class_keys));
			break;
		case 9:
			name = "bus";
			snprintf(v, sizeof(v), "\"%s\"", rnd(2) ? "pci" : "usb");
			break;
		case 10:
			name = "subsystem_vendor";
			snprintf(v, sizeof(v), "\"%04x\"", PICK(vendors));
			break;
		case 14: case 15: case 16: case 17: case 18: case 19: case 20: case 21:
			/* A model: what an acting rule may name. */
			fprintf(f, "vendor = \"%04x\"; ", PICK(vendors));
			strncat(seen, " vendor ", sizeof(seen) - strlen(seen) - 1);
			name = "device";
			snprintf(v, sizeof(v), "\"%04x\"", PICK(products));
			break;
		case 11:
			name = "driver";
			snprintf(v, sizeof(v), "\"%s\"", rnd(2) ? "e1000e" : "usb");
			break;
		case 12:
			name = "iommu_group";
			snprintf(v, sizeof(v), "%d", (int)rnd(3) - 1);
			break;
		default:
			name = "interface_class";
			snprintf(v, sizeof(v), "\"%s\"", rnd(2) ? "08" : "03");
			break;
		}
		{
			char tag[32];

			snprintf(tag, sizeof(tag), " %s ", name);
			if (strstr(seen, tag))
				continue;
			strncat(seen, tag, sizeof(seen) - strlen(seen) - 1);
		}
		fprintf(f, "%s = %s; ", name, v);
	}
	fprintf(f, "}; action = \"%s\";", action);
	if (rnd(12) == 0)
		fprintf(f, " when = \"%s\";", rnd(2) ? "hotplug" : "startup");
	if (streq(action, "assign"))
		fputs(" owner = { driver = \"qemu\"; domain = \"vm\"; };", f);
	if (streq(action, "refuse") && rnd(2))
		fputs(" deauthorize = true;", f);
	fputs(" },\n", f);
}

static struct policy *random_policy(size_t n_rules)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct policy *p;

	fputs("default = \"allow\";\nrules = (\n", f);
	for (size_t i = 0; i < n_rules; i++)
		random_rule(f);
	fputs("  { match = { address = \"0000:ff:00.0\"; }; action = \"allow\"; }\n);\n", f);
	fclose(f);
	p = load_named("random.conf", text);
	free(text);
	return p;
}

static struct device *random_device(void)
{
	bool usb = rnd(2);
	struct device *d = device_new(usb ? HD_BUS_USB : HD_BUS_PCI,
				      usb ? PICK(usb_ids) : PICK(pci_ids));

	d->vendor = PICK(vendors);
	d->product = PICK(products);
	d->driver = rnd(2) ? device_intern(usb ? "usb" : "e1000e") : NULL;
	if (!usb) {
		d->pci.class_code = PICK(classes);
		d->pci.subsystem_vendor = PICK(vendors);
		d->pci.iommu_group = (int)rnd(3) - 1;
		return d;
	}
	d->usb.serial = rnd(3) ? xstrdup(PICK(serials)) : NULL;
	d->usb.n_ifaces = rnd(2);
	d->usb.ifaces = xcalloc(2, sizeof(*d->usb.ifaces));
	if (d->usb.n_ifaces) {
		d->usb.ifaces[0].id = xasprintf("%s:1.0", d->id);
		d->usb.ifaces[0].cls = rnd(2) ? 0x08 : 0x03;
	}
	return d;
}

/* What udev reads for a match key on the device's `add` event, as sysfs
 * shows it (a model of the kernel, written from its sysfs formats, not
 * from the generator's tables); NULL: absent, which udev matches as "". */
static const char *udev_sees(const struct device *d, const char *key, char *buf, size_t size)
{
	bool pci = d->bus == HD_BUS_PCI;

	if (streq(key, "SUBSYSTEM"))
		return pci ? "pci" : "usb";
	if (streq(key, "ENV{DEVTYPE}"))
		return pci ? NULL : "usb_device";
	if (streq(key, "KERNEL"))
		return d->id;
	if (pci && streq(key, "ATTR{vendor}"))
		return snprintf(buf, size, "0x%04x", d->vendor), buf;
	if (pci && streq(key, "ATTR{device}"))
		return snprintf(buf, size, "0x%04x", d->product), buf;
	if (pci && streq(key, "ATTR{subsystem_vendor}"))
		return snprintf(buf, size, "0x%04x", d->pci.subsystem_vendor), buf;
	if (pci && streq(key, "ATTR{subsystem_device}"))
		return snprintf(buf, size, "0x%04x", d->pci.subsystem_device), buf;
	if (pci && streq(key, "ATTR{class}"))
		return snprintf(buf, size, "0x%06x", d->pci.class_code), buf;
	if (!pci && streq(key, "ATTR{idVendor}"))
		return snprintf(buf, size, "%04x", d->vendor), buf;
	if (!pci && streq(key, "ATTR{idProduct}"))
		return snprintf(buf, size, "%04x", d->product), buf;
	if (!pci && streq(key, "ATTR{serial}"))
		return d->usb.serial;
	fail_msg("a match on %s, which the model of sysfs at 'add' does not have for %s", key,
		 d->id);
	return NULL;
}

static bool line_fits(const struct udevgen_line *l, const struct device *d)
{
	for (size_t i = 0; i < l->n_matches; i++) {
		char buf[32];
		const char *v = udev_sees(d, l->tokens[i].key, buf, sizeof(buf));

		assert_string_equal(l->tokens[i].op, "==");
		/* '|' would be udev's alternation, which fnmatch does not know. */
		assert_null(strchr(l->tokens[i].value, '|'));
		if (fnmatch(l->tokens[i].value, v ? v : "", 0) != 0)
			return false;
	}
	return true;
}

static const char *assigned(const struct udevgen_line *l, const char *key)
{
	for (size_t i = l->n_matches; i < l->n_tokens; i++)
		if (streq(l->tokens[i].key, key))
			return l->tokens[i].value;
	return NULL;
}

/* The first line that fits decides; it must be the rule the policy picks,
 * at start and on hotplug alike, with its action, and act only as hostdevd
 * would act. */
static bool check_device(const struct policy *p, const struct udevgen *g, const struct device *d,
			 bool *acted)
{
	const struct udevgen_line *l = NULL;
	struct policy_decision start, hotplug;

	for (size_t i = 0; i < udevgen_line_count(g) && !l; i++)
		if (line_fits(udevgen_line(g, i), d))
			l = udevgen_line(g, i);
	if (!l)
		return false;
	policy_decide(p, d, POLICY_MOMENT_START, &start);
	policy_decide(p, d, POLICY_MOMENT_HOTPLUG, &hotplug);
	if (start.rule != (int)l->rule || hotplug.rule != (int)l->rule)
		fail_msg("%s: the rules' line for rule %zu fits, the policy decides rule %d at "
			 "start, %d on hotplug",
			 d->id, l->rule + 1, start.rule + 1, hotplug.rule + 1);
	assert_string_equal(assigned(l, "ENV{HOSTDEVD_POLICY}"), policy_action_name(start.action));
	if (assigned(l, "ATTR{driver_override}")) {
		assert_int_equal(d->bus, HD_BUS_PCI);
		assert_true(start.action == POLICY_DETACH || start.action == POLICY_ASSIGN);
		assert_string_equal(assigned(l, "ATTR{driver_override}"), start.stub);
		*acted = true;
	}
	if (assigned(l, "ATTR{authorized}")) {
		assert_int_equal(d->bus, HD_BUS_USB);
		assert_true(start.action == POLICY_REFUSE && start.deauthorize);
		*acted = true;
	}
	assert_int_equal(l->acts, assigned(l, "ATTR{driver_override}") || assigned(l, "ATTR{authorized}"));
	return true;
}

static void test_property(void **state)
{
	size_t devices = 0, decided = 0, acted = 0, lines = 0, skips = 0;

	testdev_seed(20260113);
	for (int round = 0; round < 60; round++) {
		struct policy *p = random_policy(3 + rnd(12));
		struct udevgen *g = udevgen_new(p);

		lines += udevgen_line_count(g);
		skips += udevgen_skip_count(g);
		for (int n = 0; n < 400; n++) {
			struct device *d = random_device();
			bool a = false;

			devices++;
			decided += check_device(p, g, d, &a);
			acted += a;
			device_free(d);
		}
		udevgen_free(g);
		policy_free(p);
	}
	/* The property means something only if lines decide, and act on, a
	 * fair share of the devices, and some rules are left out. */
	if (decided < devices / 10 || acted < devices / 50 || skips < lines / 10)
		fail_msg("of %zu devices %zu decided by a line, %zu acted on; %zu lines, %zu not "
			 "generated: too few to mean anything",
			 devices, decided, acted, lines, skips);
	print_message("%zu devices: %zu decided by a generated line (%zu acted on); %zu lines, "
		      "%zu not generated\n",
		      devices, decided, acted, lines, skips);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_class_masks, setup, teardown),
		cmocka_unit_test(test_hex_pattern_exact),
		cmocka_unit_test_setup_teardown(test_actions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inexpressible_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_when, setup, teardown),
		cmocka_unit_test_setup_teardown(test_variant_drivers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broad_acting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsafe_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaped_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_match_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shadowing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_property, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
