/* Decisions: first match wins, then the default; why each earlier rule did
 * not fit; and the policy in one line per rule for --check-policy. */
#include "policy/internal.h"
#include "common/util.h"

#include <stdio.h>

static void decide_by(const struct policy *p, int i, struct policy_decision *out)
{
	const struct rule *r = &p->rules[i];

	*out = (struct policy_decision){
		.action = r->action, .rule = i, .file = r->file, .line = r->line,
		.stub = r->stub ? r->stub : STUB_DEFAULT, .stub_named = r->stub != NULL,
		.owner_driver = r->owner_driver,
		.owner_domain = r->owner_domain, .deauthorize = r->deauthorize,
		.host_critical_ok = r->host_critical_ok,
	};
}

static void decide_default(const struct policy *p, struct policy_decision *out)
{
	*out = (struct policy_decision){ .action = p->dflt, .rule = -1, .file = p->dflt_file,
					 .line = p->dflt_line };
}

void policy_decide_linear(const struct policy *p, const struct device *dev,
			  enum policy_moment when, struct policy_decision *out)
{
	for (size_t i = 0; i < p->n_rules; i++)
		if (policy_rule_matches(p, i, dev, when)) {
			decide_by(p, (int)i, out);
			return;
		}
	decide_default(p, out);
}

void policy_decide(const struct policy *p, const struct device *dev, enum policy_moment when,
		   struct policy_decision *out)
{
	int i;

	/* Only a policy that policy_load() did not build (the built-in
	 * default, no rules) lacks the index. */
	if (!p->index) {
		policy_decide_linear(p, dev, when, out);
		return;
	}
	i = policy_index_first(p, dev, when);
	if (i < 0)
		decide_default(p, out);
	else
		decide_by(p, i, out);
}

/* Why rule i does not decide dev at moment m. */
static const char *rule_mismatch(const struct policy *p, size_t i, const struct device *dev,
				 enum policy_moment m, char *why, size_t size)
{
	const struct rule *r = &p->rules[i];

	if (!rule_applies_at(r, m)) {
		snprintf(why, size, "applies %s only",
			 r->when == POLICY_AT_START ? "at start-up" : "to hot-plugged devices");
		return why;
	}
	return conditions_miss(rule_conditions(p, r), r->n_conds, dev, why, size);
}

static void rule_place(const struct policy *p, int i, char *buf, size_t size)
{
	if (i < 0 && !p->dflt_file)
		snprintf(buf, size, "the built-in default");
	else if (i < 0)
		snprintf(buf, size, "the default (%s:%d)", p->dflt_file, p->dflt_line);
	else
		snprintf(buf, size, "rule %d (%s:%d)", i + 1, p->rules[i].file, p->rules[i].line);
}

void policy_explain(const struct policy *p, const struct device *dev, enum policy_moment when,
		    FILE *out)
{
	struct policy_decision d;
	char why[160], place[PATH_MAX + 64];

	policy_decide(p, dev, when, &d);
	for (int i = 0; i < (d.rule < 0 ? (int)p->n_rules : d.rule); i++) {
		rule_place(p, i, place, sizeof(place));
		fprintf(out, "%s: no match: %s\n", place,
			rule_mismatch(p, i, dev, when, why, sizeof(why)));
	}
	rule_place(p, d.rule, place, sizeof(place));
	fprintf(out, "%s decides: %s %s", place, policy_action_name(d.action), dev->id);
	if (d.action == POLICY_ASSIGN)
		fprintf(out, " to %s/%s", d.owner_driver, d.owner_domain);
	if ((d.action == POLICY_DETACH || d.action == POLICY_ASSIGN) &&
	    streq(d.stub, POLICY_STUB_AUTO))
		fputs(" (on its vfio-pci variant, else vfio-pci: driver = \"auto\")", out);
	else if (d.action == POLICY_DETACH || d.action == POLICY_ASSIGN)
		fprintf(out, " (on %s)", d.stub);
	fputc('\n', out);
}

void policy_rule_describe(const struct policy *p, size_t i, FILE *out)
{
	const struct rule *r = &p->rules[i];
	char place[PATH_MAX + 64];

	rule_place(p, (int)i, place, sizeof(place));
	fprintf(out, "%s: %s", place, policy_action_names[r->action]);
	if (r->action == POLICY_ASSIGN)
		fprintf(out, " to %s/%s", r->owner_driver, r->owner_domain);
	/* As the loader keeps it: a rule written with xen-pciback reads
	 * pciback, the driver it binds. */
	if (r->stub)
		fprintf(out, " on %s", r->stub);
	fputs(" if", out);
	for (size_t k = 0; k < r->n_conds; k++)
		fprintf(out, "%s %s", k ? "," : "", rule_conditions(p, r)[k].key->name);
	if (!r->n_conds)
		fputs(" any device", out);
	if (r->when != POLICY_ALWAYS)
		fprintf(out, " (%s only)", policy_when_names[r->when]);
}

void policy_describe(const struct policy *p, FILE *out)
{
	char place[PATH_MAX + 64];

	for (size_t i = 0; i < p->n_rules; i++) {
		policy_rule_describe(p, i, out);
		fputc('\n', out);
	}
	rule_place(p, -1, place, sizeof(place));
	fprintf(out, "%s: %s\n", place, policy_action_names[p->dflt]);
	fprintf(out, "%zu rule(s), %zu client(s); first match wins, then the default\n",
		p->n_rules, p->n_clients);
	for (size_t i = 0; i < p->n_warnings; i++)
		fprintf(out, "warning: %s\n", p->warnings[i]);
}

bool policy_refuses_claim(const struct policy_decision *d, const char *driver,
			  const char *domain, char *reason, size_t size)
{
	switch (d->action) {
	case POLICY_REFUSE:
	case POLICY_IGNORE:
		snprintf(reason, size, "the policy says %s", policy_action_name(d->action));
		return true;
	case POLICY_ASSIGN:
		if (streq(d->owner_driver, driver) && streq(d->owner_domain, domain))
			return false;
		snprintf(reason, size, "the policy reserves it for driver %s, domain %s",
			 d->owner_driver, d->owner_domain);
		return true;
	default:
		return false;
	}
}
