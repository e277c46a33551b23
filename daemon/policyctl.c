#include "daemon/policyctl.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/devjson.h"

#include <errno.h>
#include <sys/stat.h>

struct subscriber {
	policyctl_fn fn;
	void *ctx;
};

struct policyctl {
	char *path;
	bool required; /* named by the administrator: its absence is an error */
	struct policy *policy;
	struct subscriber *subs;
	size_t n_subs;
};

struct policyctl *policyctl_new(const char *path, bool required)
{
	struct policyctl *pc = xcalloc(1, sizeof(*pc));

	pc->path = xstrdup(path);
	pc->required = required;
	return pc;
}

void policyctl_free(struct policyctl *pc)
{
	if (!pc)
		return;
	policy_free(pc->policy);
	free(pc->subs);
	free(pc->path);
	free(pc);
}

void policyctl_subscribe(struct policyctl *pc, policyctl_fn fn, void *ctx)
{
	pc->subs = xrealloc(pc->subs, (pc->n_subs + 1) * sizeof(*pc->subs));
	pc->subs[pc->n_subs++] = (struct subscriber){ fn, ctx };
	if (pc->policy)
		fn(pc->policy, ctx);
}

const struct policy *policyctl_policy(const struct policyctl *pc)
{
	return pc ? pc->policy : NULL;
}

const char *policyctl_path(const struct policyctl *pc)
{
	return pc ? pc->path : NULL;
}

static struct policy *load(const char *path, bool required, struct policy_error *e)
{
	struct stat st;
	struct policy *p;

	if (stat(path, &st) < 0 && errno == ENOENT) {
		/* A path someone named and mistyped must not turn into "no
		 * rules at all" without a word. */
		if (required) {
			*e = (struct policy_error){ 0 };
			snprintf(e->file, sizeof(e->file), "%s", path);
			snprintf(e->message, sizeof(e->message),
				 "no such file or directory (the policy was named by --policy or "
				 "HOSTDEVD_POLICY; leave both out for the built-in default)");
			return NULL;
		}
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

/* Nothing keeps a pointer into the old policy past this call: claim
 * checks decide and answer within one turn of the loop, and actions copy
 * what they keep. */
static void install(struct policyctl *pc, struct policy *p)
{
	struct policy *old = pc->policy;

	pc->policy = p;
	for (size_t i = 0; i < pc->n_subs; i++)
		pc->subs[i].fn(p, pc->subs[i].ctx);
	policy_free(old);
}

int policyctl_load(struct policyctl *pc, struct policy_error *e)
{
	struct policy *p;

	if (!pc->path) {
		*e = (struct policy_error){ .message = "this daemon has no policy path to read" };
		return -EINVAL;
	}
	p = load(pc->path, pc->required, e);
	if (!p)
		return -EINVAL;
	install(pc, p);
	return 0;
}

bool policyctl_conflict(const struct policy *p, const struct devtable *t,
			const struct claim_entry *e, struct policy_decision *d, char *reason,
			size_t size)
{
	const struct device *dev;

	/* A missing device is decided when it returns; a claim still being
	 * made or released is not yet (or no longer) granted. */
	if (!p || e->phase != CLAIM_HELD || !(dev = devtable_get(t, e->device)))
		return false;
	policy_decide(p, dev, POLICY_MOMENT_CLAIM, d);
	return policy_refuses_claim(d, e->driver, e->domain, reason, size);
}

int policyctl_reload(struct policyctl *pc, const struct claims *c, const struct devtable *t,
		     struct policy_error *e)
{
	char msg[sizeof(e->file) + sizeof(e->message) + 16], reason[256];
	struct policy_decision d;

	if (policyctl_load(pc, e) < 0) {
		policy_error_format(e, msg, sizeof(msg));
		log_error("policy not reloaded, the one before stays in force: %s", msg);
		return -EINVAL;
	}
	for (size_t i = 0; c && i < claims_count(c); i++) {
		const struct claim_entry *h = claims_at(c, i);

		if (policyctl_conflict(pc->policy, t, h, &d, reason, sizeof(reason)))
			log_dev_warn(h->device, "claimed by %s/%s, which the new policy would "
						"refuse (%s): the claim stays until released",
				     h->driver, h->domain, reason);
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
	devjson_add_decision(o, d);
	json_object_object_add(o, "reason", json_object_new_string(reason));
	return o;
}

json_object *policyctl_conflicts(const struct policyctl *pc, const struct claims *c,
				 const struct devtable *t)
{
	json_object *arr = json_object_new_array();
	struct policy_decision d;
	char reason[256];

	for (size_t i = 0; c && i < claims_count(c); i++) {
		const struct claim_entry *e = claims_at(c, i);

		if (policyctl_conflict(policyctl_policy(pc), t, e, &d, reason, sizeof(reason)))
			json_object_array_add(arr, conflict(e, &d, reason));
	}
	return arr;
}
