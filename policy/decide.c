/* Decisions: first match wins, then the default; why each earlier rule did
 * not fit; and the policy in one line per rule for --check-policy. */
#include "policy/internal.h"
#include "common/util.h"

#include <stdio.h>

static bool usb_ifclass(const struct device *dev, uint32_t cls)
{
	for (size_t i = 0; i < dev->usb.n_ifaces; i++)
		if (dev->usb.ifaces[i].cls == cls)
			return true;
	return false;
}

const char *policy_rule_mismatch(const struct rule *r, const struct device *dev,
				 enum policy_moment m, char *why, size_t size)
{
	bool pci = dev->bus == HD_BUS_PCI;

	/* Deciding needs only whether; the words cost more than the test, so
	 * they are made only for an explanation (why != NULL). */
#define MISS(...) (why ? (snprintf(why, size, __VA_ARGS__), why) : "")
	if ((r->when == POLICY_AT_START && m == POLICY_MOMENT_HOTPLUG) ||
	    (r->when == POLICY_ON_HOTPLUG && m == POLICY_MOMENT_START))
		return MISS("applies %s only", r->when == POLICY_AT_START ? "at start-up"
									 : "to hot-plugged devices");
	if (has(r, K_BUS) && dev->bus != r->bus)
		return MISS("bus is %s, not %s", hd_bus_name(dev->bus), hd_bus_name(r->bus));
	if (has(r, K_ADDRESS) && !streq(dev->id, r->address))
		return MISS("address is %s, not %s", dev->id, r->address);
	if (has(r, K_VENDOR) && dev->vendor != r->vendor)
		return MISS("vendor is %04x, not %04x", dev->vendor, r->vendor);
	if (has(r, K_DEVICE) && dev->product != r->device)
		return MISS("device is %04x, not %04x", dev->product, r->device);
	if (has(r, K_SUBVENDOR) && (!pci || dev->pci.subsystem_vendor != r->subvendor))
		return MISS("subsystem vendor differs (want %04x)", r->subvendor);
	if (has(r, K_SUBDEVICE) && (!pci || dev->pci.subsystem_device != r->subdevice))
		return MISS("subsystem device differs (want %04x)", r->subdevice);
	if (has(r, K_CLASS) && (!pci || (dev->pci.class_code & r->class_mask) != r->class_code))
		return MISS("class is %06x, not %06x under mask %06x", pci ? dev->pci.class_code : 0,
			    r->class_code, r->class_mask);
	if (has(r, K_DRIVER) && !streq(dev->driver, r->driver))
		return MISS("driver is %s, not %s", dev->driver ? dev->driver : "none", r->driver);
	if (has(r, K_GROUP) && (!pci || dev->pci.iommu_group != r->group))
		return MISS("IOMMU group is %d, not %d", pci ? dev->pci.iommu_group : -1, r->group);
	if (has(r, K_PORT) && (pci || !streq(dev->id, r->port)))
		return MISS("port is %s, not %s", pci ? "none (PCI)" : dev->id, r->port);
	if (has(r, K_SERIAL) && (pci || !streq(dev->usb.serial, r->serial)))
		return MISS("serial is %s, not %s", !pci && dev->usb.serial ? dev->usb.serial : "none",
			    r->serial);
	if (has(r, K_IFCLASS) && (pci || !usb_ifclass(dev, r->ifclass)))
		return MISS("no interface of class %02x", r->ifclass);
	if (has(r, K_NUMA) && dev->numa_node != r->numa)
		return MISS("NUMA node is %d, not %d", dev->numa_node, r->numa);
#undef MISS
	return NULL;
}

static void decide_by(const struct policy *p, int i, struct policy_decision *out)
{
	const struct rule *r = &p->rules[i];

	*out = (struct policy_decision){
		.action = r->action, .rule = i, .file = r->file, .line = r->line,
		.stub = r->stub ? r->stub : STUB_DEFAULT, .owner_driver = r->owner_driver,
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
		if (!policy_rule_mismatch(&p->rules[i], dev, when, NULL, 0)) {
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
			policy_rule_mismatch(&p->rules[i], dev, when, why, sizeof(why)));
	}
	rule_place(p, d.rule, place, sizeof(place));
	fprintf(out, "%s decides: %s %s", place, policy_action_name(d.action), dev->id);
	if (d.action == POLICY_ASSIGN)
		fprintf(out, " to %s/%s", d.owner_driver, d.owner_domain);
	if (d.action == POLICY_DETACH || d.action == POLICY_ASSIGN)
		fprintf(out, " (on %s)", d.stub);
	fputc('\n', out);
}

void policy_describe(const struct policy *p, FILE *out)
{
	char place[PATH_MAX + 64];

	for (size_t i = 0; i < p->n_rules; i++) {
		const struct rule *r = &p->rules[i];
		bool first = true;

		rule_place(p, (int)i, place, sizeof(place));
		fprintf(out, "%s: %s", place, policy_action_names[r->action]);
		if (r->action == POLICY_ASSIGN)
			fprintf(out, " to %s/%s", r->owner_driver, r->owner_domain);
		fputs(" if", out);
		for (int k = 0; k < K__COUNT; k++)
			if (has(r, (enum key)k)) {
				fprintf(out, "%s %s", first ? "" : ",", key_names[k]);
				first = false;
			}
		if (first)
			fputs(" any device", out);
		if (r->when != POLICY_ALWAYS)
			fprintf(out, " (%s only)", policy_when_names[r->when]);
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
