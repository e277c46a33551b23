/* Policy: CheckPolicy (what the policy says of a device, and why) and
 * ReloadPolicy (what SIGHUP does, with the outcome in the reply). */
#include "daemon/methods.h"
#include "common/log.h"
#include "common/util.h"
#include "common/stub.h"
#include "daemon/devjson.h"
#include "daemon/policyctl.h"
#include "engine/detach.h"
#include "state/bus.h"

#include <stdio.h>
#include <string.h>

/* io.hostdevd.PolicyInvalid: where (file, line from 1; 0 for the file as a
 * whole) and what. */
static void reply_policy_invalid(struct server_call *call, const struct policy_error *pe)
{
	struct hd_err e;

	err_set(&e, HDE_POLICY_INVALID, NULL);
	e.file = pe->file;
	e.line = pe->line;
	snprintf(e.failure.message, sizeof(e.failure.message), "%s", pe->message);
	server_call_err(call, &e);
}

/* ReloadPolicy: what SIGHUP does, with the outcome in the reply. */
static void method_reload_policy(struct methods_ctx *ctx, struct server_call *call,
				 json_object *params)
{
	struct policy_error e;
	const struct policy *p;
	json_object *r, *warnings;

	if (!policyctl_path(ctx->policy)) {
		reply_policy_invalid(call, &(struct policy_error){
						   .message = "this daemon has no policy path to read" });
		return;
	}
	if (policyctl_reload(ctx->policy, ctx->claims, ctx->devices, &e) < 0) {
		reply_policy_invalid(call, &e);
		return;
	}
	p = policyctl_policy(ctx->policy);
	r = json_object_new_object();
	json_object_object_add(r, "path", json_object_new_string(policyctl_path(ctx->policy)));
	methods_add_count(r, "rules", policy_rule_count(p));
	methods_add_count(r, "clients", policy_client_count(p));
	warnings = json_object_new_array();
	for (size_t i = 0; i < policy_warning_count(p); i++)
		json_object_array_add(warnings, json_object_new_string(policy_warning(p, i)));
	json_object_object_add(r, "warnings", warnings);
	json_object_object_add(r, "conflicts",
			       policyctl_conflicts(ctx->policy, ctx->claims, ctx->devices));
	server_call_reply(call, r, false);
}

/* A variant the engine has chosen or been named, in words: "e1000e-vfio,
 * <whose> vfio-pci variant (module e1000e_vfio_pci[, from modules.alias])",
 * or, its module not loaded yet, what is known of it. */
static char *variant_words(const struct detach_choice *c, const char *whose)
{
	_cleanup_free_ char *module =
		c->module ? xasprintf(" (module %s%s)", c->module, c->picked ? ", from modules.alias" : "")
			  : xstrdup("");

	if (c->driver)
		return xasprintf("%s, %s vfio-pci variant%s", c->driver, whose, module);
	return xasprintf("%s vfio-pci variant, module %s%s (not loaded: loaded at the detach, "
			 "its driver's name is known then)",
			 whose, c->module, c->picked ? " from modules.alias" : "");
}

/* The driver a detach or assign rule's action would use, resolved as the
 * engine resolves it when the rule acts. */
static char *rule_driver_line(struct detach_engine *e, const struct device *dev,
			      const struct policy_decision *d, struct detach_choice *c)
{
	bool autopick = streq(d->stub, POLICY_STUB_AUTO);
	const char *variant;
	_cleanup_free_ char *what = NULL;

	if (!detach_choose(e, dev, autopick ? NULL : d->stub, c)) {
		_cleanup_free_ char **accepted = NULL;
		struct hd_err err;

		detach_unknown_driver(e, d->stub, &err, &accepted);
		return xasprintf("driver: none: %s; the %s would fail before anything is written, "
				 "and %s would stay with its host driver",
				 err.reason, policy_action_name(d->action), dev->id);
	}
	if (autopick && !c->variant)
		return xstrdup("driver: vfio-pci: modules.alias names no vfio-pci variant for it "
			       "(driver = \"auto\")");
	if (c->variant) {
		what = variant_words(c, autopick ? "its" : "the rule's");
		return xasprintf("driver: %s%s", what,
				 autopick ? ", as driver = \"auto\" asks" : "");
	}
	if (d->stub_named)
		return xasprintf("driver: %s, as the rule names", c->driver);
	variant = detach_variant_of(e, dev);
	if (!variant)
		return xasprintf("driver: %s, as the rule names none", c->driver);
	return xasprintf("driver: %s, as the rule names none (its vfio-pci variant in "
			 "modules.alias, module %s, is taken with driver = \"auto\")",
			 c->driver, variant);
}

/* The explanation's driver line: what the decision's action, or for
 * allow a managed claim naming no driver, would detach dev to, with the
 * variant modules.alias picks.  NULL when nothing would move it (refuse,
 * ignore, a device of a bus without stubs).  A device its record alone
 * keeps with the host (a bridge, the boot VGA device), unless the rule
 * lifts that, goes nowhere; the rest of the host-critical checks (mounts,
 * routes) are made when something acts. */
static char *driver_line(struct detach_engine *e, const struct device *dev,
			 const struct policy_decision *d, struct detach_choice *c)
{
	const struct bus_desc *bus = bus_of(dev);
	const char *critical;
	_cleanup_free_ char *what = NULL;

	*c = (struct detach_choice){ 0 };
	if (!e || dev->bus != HD_BUS_PCI || d->action == POLICY_REFUSE ||
	    d->action == POLICY_IGNORE)
		return NULL;
	critical = !d->host_critical_ok && bus->fixed_critical ? bus->fixed_critical(dev) : NULL;
	if (critical)
		return xasprintf("driver: none: it stays with the host (%s)", critical);
	if (d->action == POLICY_DETACH || d->action == POLICY_ASSIGN)
		return rule_driver_line(e, dev, d, c);
	if (d->action != POLICY_ALLOW)
		return NULL;
	if (driver_is_stub(dev->driver)) {
		c->driver = stub_target(dev->driver);
		return xasprintf("driver: %s, where it is: a claim takes it there", dev->driver);
	}
	detach_choose(e, dev, NULL, c);
	what = c->variant ? variant_words(c, "its")
			  : xstrdup("vfio-pci (modules.alias names no vfio-pci variant for it)");
	return xasprintf("driver: a managed claim naming none detaches it to %s", what);
}

/* What the policy says of a device for a claim, and why: every rule
 * before the deciding one with the condition that did not fit, then the
 * driver it would be detached to. */
static void method_check_policy(struct methods_ctx *ctx, struct server_call *call,
				json_object *params)
{
	const char *sel = NULL;
	struct device *dev;
	struct policy_decision d;
	struct detach_choice c;
	struct policy *fallback = NULL;
	const struct policy *pol;
	json_object *r, *lines = json_object_new_array();
	char *text = NULL, *save = NULL, *driver;
	size_t len = 0;
	FILE *f;

	vl_param_string(params, "device", &sel);
	dev = methods_resolve(ctx, call, sel, "device");
	if (!dev) {
		json_object_put(lines);
		return;
	}
	pol = methods_policy(ctx) ? methods_policy(ctx) : (fallback = policy_default());
	policy_decide(pol, dev, POLICY_MOMENT_CLAIM, &d);
	f = open_memstream(&text, &len);
	if (!f)
		fatal("out of memory");
	policy_explain(pol, dev, POLICY_MOMENT_CLAIM, f);
	fclose(f);
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		json_object_array_add(lines, json_object_new_string(l));
	driver = driver_line(ctx->detach, dev, &d, &c);
	if (driver)
		json_object_array_add(lines, json_object_new_string(driver));
	free(driver);
	r = json_object_new_object();
	json_object_object_add(r, "device", json_object_new_string(dev->id));
	devjson_add_decision(r, &d);
	if (c.driver)
		json_object_object_add(r, "driver", json_object_new_string(c.driver));
	if (c.variant && c.module)
		json_object_object_add(r, "vfio_variant", json_object_new_string(c.module));
	json_object_object_add(r, "explanation", lines);
	server_call_reply(call, r, false);
	free(text);
	policy_free(fallback);
}


static const struct param_def device_params[] = {
	{ "device", PARAM_STRING, true },
	{ NULL },
};

const struct method_def policy_methods[] = {
	{ "io.hostdevd.CheckPolicy", method_check_policy, PERM_LIST, 0, device_params },
	{ "io.hostdevd.ReloadPolicy", method_reload_policy, PERM_ADMIN, 0, NULL },
	{ NULL },
};
