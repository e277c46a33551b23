/* Policy: CheckPolicy (what the policy says of a device, and why) and
 * ReloadPolicy (what SIGHUP does, with the outcome in the reply). */
#include "daemon/methods.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/devjson.h"
#include "daemon/policyctl.h"

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

/* What the policy says of a device for a claim, and why: every rule
 * before the deciding one with the condition that did not fit. */
static void method_check_policy(struct methods_ctx *ctx, struct server_call *call,
				json_object *params)
{
	const char *sel = NULL;
	struct device *dev;
	struct policy_decision d;
	struct policy *fallback = NULL;
	const struct policy *pol;
	json_object *r, *lines = json_object_new_array();
	char *text = NULL, *save = NULL;
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
	r = json_object_new_object();
	json_object_object_add(r, "device", json_object_new_string(dev->id));
	devjson_add_decision(r, &d);
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
