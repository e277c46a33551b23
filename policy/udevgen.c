/* udev rules from a policy (udevgen.h, docs/udev.md): which rules udev can
 * decide exactly as the policy does, their lines as tokens, and the file. */
#include "policy/udevgen.h"
#include "policy/internal.h"
#include "common/stub.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

#define ALL_BUSES ((1u << HD_BUS__COUNT) - 1)
#define REASON_MAX 512

struct udevgen {
	const struct policy *p;
	struct udevgen_line *lines;
	size_t n_lines;
	struct udevgen_skip *skips;
	size_t n_skips;
	/* Per bus, the rules not generated for it so far: what a later rule
	 * must be disjoint from. */
	size_t *left_out[HD_BUS__COUNT];
	size_t n_left_out[HD_BUS__COUNT];
};

/* How each bus's devices are found on their `add` event: what hostdevd
 * records as a PCI function or a USB device (not a USB interface). */
static const struct {
	const char *subsystem, *devtype;
} bus_udev[HD_BUS__COUNT] = {
	[HD_BUS_PCI] = { "pci", NULL },
	[HD_BUS_USB] = { "usb", "usb_device" },
};

/* ---- what a rule is about ------------------------------------------------ */

/* The buses a rule can match: every key narrows them to its own, a `bus`
 * key to its value, an address to the bus whose devices are named so.
 * None: the rule matches no device. */
static unsigned rule_buses(const struct policy *p, const struct rule *r)
{
	const struct condition *c = rule_conditions(p, r);
	unsigned buses = ALL_BUSES;

	for (size_t k = 0; k < r->n_conds; k++) {
		buses &= c[k].key->buses;
		if (c[k].key->udev[HD_BUS_PCI].kind == UDEV_BUS)
			buses &= 1u << c[k].want.number;
		for (int b = 0; b < HD_BUS__COUNT; b++)
			if ((buses & 1u << b) && !match_key_udev_possible(&c[k], (enum hd_bus)b))
				buses &= ~(1u << b);
	}
	return buses;
}

/* Whether the rule's line on bus writes to the device: the daemon acts on
 * its own only for detach and assign on a PCI function and refuse +
 * deauthorize on a USB device (docs/policy.md, "Acting as devices appear"). */
static bool rule_acts_on(const struct rule *r, enum hd_bus bus)
{
	if (bus == HD_BUS_PCI)
		return r->action == POLICY_DETACH || r->action == POLICY_ASSIGN;
	return r->action == POLICY_REFUSE && r->deauthorize;
}

/* One device (its address, port or serial) or one model (every key of the
 * model's rank, vendor and device, whole): what a rule that acts before
 * hostdevd's host-critical checks may name. */
static bool rule_names_one(const struct policy *p, const struct rule *r)
{
	const struct condition *c = rule_conditions(p, r);
	size_t model_keys = 0, model_named = 0;

	for (size_t i = 0; i < match_key_count; i++)
		model_keys += match_keys[i].rank == KEY_RANK_MODEL;
	for (size_t k = 0; k < r->n_conds; k++) {
		enum key_rank rank = c[k].key->rank;

		if (rank == KEY_RANK_ID || rank == KEY_RANK_SERIAL)
			return true;
		model_named += rank == KEY_RANK_MODEL && c[k].want.hex.mask == 0xffffffffu;
	}
	return model_keys && model_named == model_keys;
}

/* Whether two conditions on the same field of a device cannot both hold. */
static bool conditions_exclude(const struct condition *a, const struct condition *b)
{
	if (a->key->field == FIELD_NONE || a->key->field != b->key->field ||
	    a->key->offset != b->key->offset)
		return false;
	switch (a->key->field) {
	case FIELD_U32:
		return (a->want.hex.value ^ b->want.hex.value) & a->want.hex.mask & b->want.hex.mask;
	case FIELD_INT:
		return a->want.number != b->want.number;
	default:
		return !streq(a->want.string, b->want.string);
	}
}

/* Provably no device meets both rules: a field they both name (address and
 * port are both the device's id) with values that cannot both match.  The
 * caller has checked that both are about the bus in question. */
static bool rules_disjoint(const struct policy *p, const struct rule *a, const struct rule *b)
{
	const struct condition *ca = rule_conditions(p, a), *cb = rule_conditions(p, b);

	for (size_t i = 0; i < a->n_conds; i++)
		for (size_t j = 0; j < b->n_conds; j++)
			if (conditions_exclude(&ca[i], &cb[j]))
				return true;
	return false;
}

/* ---- values ----------------------------------------------------------------- */

/* s as an assigned value: udev substitutes '$' and '%', which are doubled;
 * a quote, a backslash or a control character has no form that reads back
 * as itself in every udev, so the caller refuses them.  NULL: refused. */
static char *assign_value(const char *s)
{
	size_t n = 0;
	char *out, *o;

	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c < 0x20 || *c == 0x7f || *c == '"' || *c == '\\')
			return NULL;
		n += 1 + (*c == '$' || *c == '%');
	}
	o = out = xcalloc(1, n + 1);
	for (const char *c = s; *c; c++) {
		if (*c == '$' || *c == '%')
			*o++ = *c;
		*o++ = *c;
	}
	return out;
}

/* ---- lines ------------------------------------------------------------------ */

static void token_add(struct udevgen_line *l, char *key, const char *op, char *value)
{
	l->tokens = xrealloc(l->tokens, (l->n_tokens + 1) * sizeof(*l->tokens));
	l->tokens[l->n_tokens++] = (struct udevgen_token){ key, op, value };
}

static void line_free(struct udevgen_line *l)
{
	for (size_t i = 0; i < l->n_tokens; i++) {
		free(l->tokens[i].key);
		free(l->tokens[i].value);
	}
	free(l->tokens);
}

/* The rule's matches for a device on bus; false with why when one has no
 * exact udev form. */
static bool line_matches(const struct policy *p, const struct rule *r, enum hd_bus bus,
			 struct udevgen_line *l, char *why, size_t size)
{
	const struct condition *c = rule_conditions(p, r);

	token_add(l, xstrdup("SUBSYSTEM"), "==", xstrdup(bus_udev[bus].subsystem));
	if (bus_udev[bus].devtype)
		token_add(l, xstrdup("ENV{DEVTYPE}"), "==", xstrdup(bus_udev[bus].devtype));
	for (size_t k = 0; k < r->n_conds; k++) {
		const char *key;
		char *value;

		if (!match_key_udev(&c[k], bus, &key, &value, why, size))
			return false;
		if (value)
			token_add(l, xstrdup(key), "==", value);
	}
	l->n_matches = l->n_tokens;
	return true;
}

/* What the line sets: the marks every line sets, then what an acting line
 * writes.  The values were checked (rule_common_reason). */
static void line_assignments(const struct rule *r, enum hd_bus bus, struct udevgen_line *l)
{
	const char *stub = r->stub ? r->stub : STUB_DEFAULT;
	_cleanup_free_ char *place = xasprintf("%s:%d", r->file, r->line);

	token_add(l, xstrdup("ENV{HOSTDEVD_POLICY}"), "=",
		  xstrdup(policy_action_name(r->action)));
	token_add(l, xstrdup("ENV{HOSTDEVD_RULE}"), "=", assign_value(place));
	if (r->action == POLICY_ASSIGN) {
		_cleanup_free_ char *owner = xasprintf("%s/%s", r->owner_driver, r->owner_domain);

		token_add(l, xstrdup("ENV{HOSTDEVD_OWNER}"), "=", assign_value(owner));
	}
	if (l->acts && bus == HD_BUS_PCI) {
		token_add(l, xstrdup("ENV{HOSTDEVD_STUB}"), "=", xstrdup(stub));
		/* Only the stub may bind from here on: the host driver's module,
		 * loaded by 80-drivers.rules after us, finds the device taken. */
		token_add(l, xstrdup("ATTR{driver_override}"), "=", xstrdup(stub));
		/* The stub's module already loaded does not probe again: bind it
		 * now ("drivers" names a driver as BUS:DRIVER).  Fails, harmlessly,
		 * when the module is not loaded yet. */
		token_add(l, xasprintf("ATTR{[drivers/pci:%s]bind}", stub), "=", xstrdup("$kernel"));
		/* Not loaded yet: loading its module (stub.h's table: pciback's
		 * is xen_pciback) probes the device, whose override names it.
		 * RUN runs after every rule, in order, so before the host
		 * driver's module load queued by 80-drivers.rules. */
		token_add(l, xstrdup("RUN{builtin}"), "+=", xasprintf("kmod load %s", stub_module(stub)));
	} else if (l->acts) {
		/* Unbinds the interface drivers and deconfigures the device. */
		token_add(l, xstrdup("ATTR{authorized}"), "=", xstrdup("0"));
	}
	token_add(l, xstrdup("GOTO"), "=", xstrdup("hostdevd_end"));
}

/* ---- which rules --------------------------------------------------------------- */

/* What keeps a rule out on every bus: its moment, or a file name or owner
 * a rules file cannot hold. */
static bool rule_common_reason(const struct rule *r, char *why, size_t size)
{
	_cleanup_free_ char *file = assign_value(r->file);
	_cleanup_free_ char *owner = NULL;

	if (r->when != POLICY_ALWAYS) {
		snprintf(why, size,
			 "when = \"%s\": udev runs the same rules for a device present at boot "
			 "and one plugged in later, and cannot tell the two apart",
			 policy_when_names[r->when]);
		return true;
	}
	if (!file) {
		snprintf(why, size, "its file's name holds a quote, a backslash or a control "
				    "character, which a udev value cannot hold");
		return true;
	}
	if (r->action == POLICY_ASSIGN) {
		_cleanup_free_ char *both = xasprintf("%s/%s", r->owner_driver, r->owner_domain);

		owner = assign_value(both);
		if (!owner) {
			snprintf(why, size, "its owner holds a quote, a backslash or a control "
					    "character, which a udev value cannot hold");
			return true;
		}
	}
	return false;
}

/* Whether a detach or assign rule's driver is one the rules can write at
 * boot: a stub of the table (stub.h), whose driver name and module are
 * fixed.  A vfio-pci variant's driver name is the one its module
 * registers, known only once that module is loaded, and "auto" is chosen
 * by the daemon from modules.alias: those rules are the daemon's, which
 * detaches the function when it starts or sees it appear.  false with why. */
static bool rule_stub_written(const struct rule *r, char *why, size_t size)
{
	if (!r->stub || stub_module(r->stub))
		return true;
	if (streq(r->stub, POLICY_STUB_AUTO))
		snprintf(why, size,
			 "driver = \"auto\": the vfio-pci variant is chosen at run time, by hostdevd "
			 "from modules.alias, and driver_override needs the name its module "
			 "registers, which udev cannot know at boot; hostdevd detaches the "
			 "function when it starts or sees it appear");
	else
		snprintf(why, size,
			 "driver = \"%s\": a vfio-pci variant is resolved at run time, by hostdevd "
			 "(driver_override needs the name its module registers, which udev cannot "
			 "know at boot); hostdevd detaches the function when it starts or sees it "
			 "appear",
			 r->stub);
	return false;
}

/* Rule i's line for bus, or false with why it is not generated there. */
static bool try_line(struct udevgen *g, size_t i, enum hd_bus bus, char *why, size_t size)
{
	const struct policy *p = g->p;
	const struct rule *r = &p->rules[i];
	struct udevgen_line l = { .rule = i, .file = r->file, .line = r->line, .bus = bus,
				  .action = r->action,
				  .acts = rule_acts_on(r, bus) };

	if (!line_matches(p, r, bus, &l, why, size)) {
		line_free(&l);
		return false;
	}
	if (l.acts && !rule_names_one(p, r)) {
		snprintf(why, size,
			 "it %s every device it matches, and at boot udev cannot run hostdevd's "
			 "host-critical checks: a rule for a class or a vendor could take the disk "
			 "controller or the console; name the device (vendor and device, %s)",
			 bus == HD_BUS_PCI ? "detaches" : "deauthorizes",
			 bus == HD_BUS_PCI ? "or its address" : "its port or its serial");
		line_free(&l);
		return false;
	}
	if (l.acts && bus == HD_BUS_PCI && !rule_stub_written(r, why, size)) {
		line_free(&l);
		return false;
	}
	for (size_t k = 0; k < g->n_left_out[bus]; k++) {
		const struct rule *earlier = &p->rules[g->left_out[bus][k]];

		if (!rules_disjoint(p, r, earlier)) {
			snprintf(why, size,
				 "%s:%d, which is not generated, comes first and may decide the "
				 "same devices",
				 earlier->file, earlier->line);
			line_free(&l);
			return false;
		}
	}
	line_assignments(r, bus, &l);
	g->lines = xrealloc(g->lines, (g->n_lines + 1) * sizeof(*g->lines));
	g->lines[g->n_lines++] = l;
	return true;
}

static void skip_add(struct udevgen *g, size_t rule, const char *file, int line, char *reason)
{
	g->skips = xrealloc(g->skips, (g->n_skips + 1) * sizeof(*g->skips));
	g->skips[g->n_skips++] = (struct udevgen_skip){ rule, file, line, reason };
}

static void left_out_add(struct udevgen *g, enum hd_bus bus, size_t rule)
{
	g->left_out[bus] = xrealloc(g->left_out[bus], (g->n_left_out[bus] + 1) * sizeof(size_t));
	g->left_out[bus][g->n_left_out[bus]++] = rule;
}

/* Rule i on each bus it is about.  Its reasons are told once when every
 * bus has the same, else per bus. */
static void plan_rule(struct udevgen *g, size_t i)
{
	const struct rule *r = &g->p->rules[i];
	unsigned buses = rule_buses(g->p, r), skipped = 0;
	char common[REASON_MAX], why[HD_BUS__COUNT][REASON_MAX];
	bool all_common = rule_common_reason(r, common, sizeof(common));
	bool same = true;
	int first = -1;

	if (!buses) {
		skip_add(g, i, r->file, r->line,
			 xstrdup("no device can match it: its keys are about different buses, or its "
				 "address names no PCI function or USB device"));
		return;
	}
	for (int b = 0; b < HD_BUS__COUNT; b++) {
		if (!(buses & 1u << b))
			continue;
		if (all_common)
			snprintf(why[b], sizeof(why[b]), "%s", common);
		else if (try_line(g, (size_t)i, (enum hd_bus)b, why[b], sizeof(why[b])))
			continue;
		skipped |= 1u << b;
		left_out_add(g, (enum hd_bus)b, i);
		if (first < 0)
			first = b;
		else
			same &= streq(why[first], why[b]);
	}
	if (!skipped)
		return;
	if (skipped == buses && same) {
		skip_add(g, i, r->file, r->line, xstrdup(why[first]));
		return;
	}
	for (int b = 0; b < HD_BUS__COUNT; b++)
		if (skipped & 1u << b)
			skip_add(g, i, r->file, r->line,
				 xasprintf("on %s: %s", hd_bus_name((enum hd_bus)b), why[b]));
}

struct udevgen *udevgen_new(const struct policy *p)
{
	struct udevgen *g = xcalloc(1, sizeof(*g));

	g->p = p;
	for (size_t i = 0; i < p->n_rules; i++)
		plan_rule(g, i);
	/* The loader never lets the default detach or assign (it would take
	 * every device nothing names); should it ever, udev must not. */
	if (p->dflt == POLICY_DETACH || p->dflt == POLICY_ASSIGN)
		skip_add(g, p->n_rules, p->dflt_file, p->dflt_line,
			 xasprintf("the default (%s) names no device: at boot udev cannot run "
				   "hostdevd's host-critical checks",
				   policy_action_name(p->dflt)));
	return g;
}

void udevgen_free(struct udevgen *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_lines; i++)
		line_free(&g->lines[i]);
	free(g->lines);
	for (size_t i = 0; i < g->n_skips; i++)
		free(g->skips[i].reason);
	free(g->skips);
	for (int b = 0; b < HD_BUS__COUNT; b++)
		free(g->left_out[b]);
	free(g);
}

size_t udevgen_line_count(const struct udevgen *g)
{
	return g->n_lines;
}

const struct udevgen_line *udevgen_line(const struct udevgen *g, size_t i)
{
	return i < g->n_lines ? &g->lines[i] : NULL;
}

size_t udevgen_skip_count(const struct udevgen *g)
{
	return g->n_skips;
}

const struct udevgen_skip *udevgen_skip(const struct udevgen *g, size_t i)
{
	return i < g->n_skips ? &g->skips[i] : NULL;
}

/* ---- the file ---------------------------------------------------------------- */

/* Text in a comment: a control character would end the comment line. */
static void put_comment_text(FILE *out, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		fputc(*c < 0x20 || *c == 0x7f ? '?' : *c, out);
}

static void put_header(const struct udevgen *g, const char *source, FILE *out)
{
	fputs("# Generated by `hostdevctl rules generate` from the hostdevd policy at ", out);
	put_comment_text(out, source);
	fputs(".\n", out);
	if (!g->p->n_files)
		fputs("# No policy file was read: the built-in default.\n", out);
	for (size_t i = 0; i < g->p->n_files; i++) {
		fputs(i ? "#   " : "# Read: ", out);
		put_comment_text(out, g->p->files[i]);
		fputc('\n', out);
	}
	fputs("# Do not edit: change the policy, then generate this file again.\n"
	      "# Install as " UDEVGEN_INSTALL_PATH ": it must run before\n"
	      "# 80-drivers.rules loads a device's host driver module.\n"
	      "#\n"
	      "# Boundary: these lines act on a device's 'add' event; a device hot-plugged\n"
	      "# while its host driver's module is loaded is bound by the kernel before udev\n"
	      "# runs, and hostdevd's bind repair takes it then.\n"
	      "#\n"
	      "# First match wins, as in the policy: every line ends in GOTO=\"hostdevd_end\".\n"
	      "# Each sets HOSTDEVD_POLICY (the action) and HOSTDEVD_RULE (file:line).  A\n"
	      "# detach or assign line for a PCI function also:\n"
	      "#   ATTR{driver_override}   only the stub may bind it from now on, so the host\n"
	      "#                           driver that 80-drivers.rules loads finds it taken;\n"
	      "#   ATTR{[drivers/pci:STUB]bind}  binds the stub now when its module is\n"
	      "#                           already loaded (a loaded module does not probe\n"
	      "#                           again; the write fails harmlessly otherwise);\n"
	      "#   RUN{builtin}+=\"kmod load\"  loads the stub's module, which probes the\n"
	      "#                           device whose override names it.\n"
	      "# A refuse + deauthorize line for a USB device writes 0 to authorized.\n"
	      "# Rules udev cannot decide exactly as hostdevd does are listed as not\n"
	      "# generated: hostdevd decides those devices when it starts.\n"
	      "\n"
	      "ACTION==\"remove\", GOTO=\"hostdevd_end\"\n"
	      "SUBSYSTEM!=\"pci|usb\", GOTO=\"hostdevd_end\"\n"
	      "# A later event (bind, change) keeps the marks the add set: udev builds\n"
	      "# each event's properties afresh, and these lines act on an add only.\n"
	      "ACTION!=\"add\", IMPORT{db}=\"HOSTDEVD_POLICY\", IMPORT{db}=\"HOSTDEVD_RULE\", "
	      "IMPORT{db}=\"HOSTDEVD_STUB\", IMPORT{db}=\"HOSTDEVD_OWNER\", GOTO=\"hostdevd_end\"\n",
	      out);
}

static void put_line(const struct udevgen_line *l, FILE *out)
{
	for (size_t i = 0; i < l->n_tokens; i++)
		fprintf(out, "%s%s%s\"%s\"", i ? ", " : "", l->tokens[i].key, l->tokens[i].op,
			l->tokens[i].value);
	fputc('\n', out);
}

static void put_skip(const struct udevgen_skip *s, FILE *out)
{
	fputs("# not generated: ", out);
	if (s->file) {
		put_comment_text(out, s->file);
		fprintf(out, ":%d: ", s->line);
	} else {
		fputs("the built-in default: ", out);
	}
	put_comment_text(out, s->reason);
	fputc('\n', out);
}

static void put_default(const struct policy *p, FILE *out)
{
	fputs("\n# ", out);
	if (p->dflt_file) {
		fputs("the default (", out);
		put_comment_text(out, p->dflt_file);
		fprintf(out, ":%d)", p->dflt_line);
	} else {
		fputs("the built-in default", out);
	}
	fprintf(out, ": %s.  ", policy_action_name(p->dflt));
	if (p->dflt == POLICY_DETACH || p->dflt == POLICY_ASSIGN)
		fputs("Not generated (above).\n", out);
	else
		fputs("It acts on nothing: nothing to generate; the devices\n"
		      "# no line above decides are left to hostdevd.\n",
		      out);
}

void udevgen_write(const struct udevgen *g, const char *source, FILE *out)
{
	size_t next_line = 0, next_skip = 0;

	put_header(g, source, out);
	for (size_t i = 0; i < g->p->n_rules; i++) {
		char *text = NULL;
		size_t len = 0;
		FILE *desc = open_memstream(&text, &len);

		policy_rule_describe(g->p, i, desc);
		fclose(desc);
		fputs("\n# ", out);
		put_comment_text(out, text);
		fputc('\n', out);
		free(text);
		for (; next_skip < g->n_skips && g->skips[next_skip].rule == i; next_skip++)
			put_skip(&g->skips[next_skip], out);
		for (; next_line < g->n_lines && g->lines[next_line].rule == i; next_line++)
			put_line(&g->lines[next_line], out);
	}
	for (; next_skip < g->n_skips; next_skip++)
		put_skip(&g->skips[next_skip], out);
	put_default(g->p, out);
	fputs("\nLABEL=\"hostdevd_end\"\n", out);
}
