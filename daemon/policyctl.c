#include "daemon/policyctl.h"
#include "engine/claim.h"
#include "daemon/context.h"
#include "daemon/server.h"
#include "common/log.h"
#include "common/util.h"
#include "state/claims.h"
#include "state/devtable.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

struct policy *policyctl_load(const char *path, struct policy_error *e)
{
	struct stat st;
	struct policy *p;

	if (stat(path, &st) < 0 && errno == ENOENT) {
		log_info("no policy at %s: the built-in default (claims by root, nothing detached)",
			 path);
		return policy_default();
	}
	p = policy_load_checked(path, e);
	if (!p)
		return NULL;
	log_info("policy %s: %zu rule(s), %zu client(s)", path, policy_rule_count(p),
		 policy_client_count(p));
	for (size_t i = 0; i < policy_warning_count(p); i++)
		log_warn("policy: %s", policy_warning(p, i));
	return p;
}

void policyctl_socket_group(struct hd_context *ctx)
{
	gid_t gid = getegid();

	if (!ctx->server || !ctx->policy)
		return;
	policy_socket_group(ctx->policy, &gid);
	server_set_group(ctx->server, gid);
}

void policyctl_install(struct hd_context *ctx, struct policy *p)
{
	struct policy *old = ctx->policy;

	/* Nothing keeps a pointer into the old policy past this call: claim
	 * checks decide and answer within one turn of the loop. */
	ctx->policy = p;
	if (ctx->claim)
		claim_engine_set_policy(ctx->claim, p);
	policyctl_socket_group(ctx);
	policy_free(old);
}

bool policyctl_conflict(const struct hd_context *ctx, const struct claim_entry *e,
			struct policy_decision *d, char *reason, size_t size)
{
	const struct device *dev;

	/* A missing device is decided when it returns; a claim still being
	 * made or released is not yet (or no longer) granted. */
	if (!ctx->policy || e->phase != CLAIM_HELD ||
	    !(dev = devtable_get(ctx->devices, e->device)))
		return false;
	policy_decide(ctx->policy, dev, POLICY_MOMENT_CLAIM, d);
	return policy_refuses_claim(d, e->driver, e->domain, reason, size);
}

int policyctl_reload(struct hd_context *ctx, struct policy_error *e)
{
	char msg[sizeof(e->file) + sizeof(e->message) + 16], reason[256];
	struct policy *p = policyctl_load(ctx->policy_path, e);
	struct policy_decision d;

	if (!p) {
		policy_error_format(e, msg, sizeof(msg));
		log_error("policy not reloaded, the one before stays in force: %s", msg);
		return -EINVAL;
	}
	policyctl_install(ctx, p);
	for (size_t i = 0; ctx->claims && i < claims_count(ctx->claims); i++) {
		const struct claim_entry *c = claims_at(ctx->claims, i);

		if (policyctl_conflict(ctx, c, &d, reason, sizeof(reason)))
			log_dev_warn(c->device, "claimed by %s/%s, which the new policy would "
						"refuse (%s): the claim stays until released",
				     c->driver, c->domain, reason);
	}
	return 0;
}

static json_object *conflict(const struct claim_entry *e, const struct policy_decision *d,
			     const char *reason)
{
	json_object *o = json_object_new_object(), *owner = json_object_new_object();

	json_object_object_add(o, "device", json_object_new_string(e->device));
	json_object_object_add(owner, "driver", json_object_new_string(e->driver));
	json_object_object_add(owner, "domain", json_object_new_string(e->domain));
	json_object_object_add(o, "owner", owner);
	json_object_object_add(o, "action", json_object_new_string(policy_action_name(d->action)));
	if (d->rule >= 0)
		json_object_object_add(o, "rule", json_object_new_int(d->rule + 1));
	if (d->file) {
		json_object_object_add(o, "file", json_object_new_string(d->file));
		json_object_object_add(o, "line", json_object_new_int(d->line));
	}
	json_object_object_add(o, "reason", json_object_new_string(reason));
	return o;
}

json_object *policyctl_conflicts(const struct hd_context *ctx)
{
	json_object *arr = json_object_new_array();
	struct policy_decision d;
	char reason[256];

	for (size_t i = 0; ctx->claims && i < claims_count(ctx->claims); i++) {
		const struct claim_entry *e = claims_at(ctx->claims, i);

		if (policyctl_conflict(ctx, e, &d, reason, sizeof(reason)))
			json_object_array_add(arr, conflict(e, &d, reason));
	}
	return arr;
}
