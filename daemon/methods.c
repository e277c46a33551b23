/* All the families' methods as one table, and what the families share. */
#include "daemon/methods.h"
#include "common/util.h"
#include "common/stub.h"
#include "daemon/policyctl.h"
#include "engine/detach.h"
#include "state/claims.h"
#include "state/selector.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

static const struct method_def *const families[] = {
	service_methods, device_methods, node_methods,
	claim_methods,   policy_methods, status_methods,
	open_methods,
};

static struct method_def *all;
static size_t n_all;

static void gather(void)
{
	for (size_t f = 0; f < ARRAY_SIZE(families); f++)
		for (const struct method_def *m = families[f]; m->name; m++) {
			all = xrealloc(all, (n_all + 1) * sizeof(*all));
			all[n_all++] = *m;
		}
}

const struct method_def *methods_table(size_t *n)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, gather);
	*n = n_all;
	return all;
}

const struct policy *methods_policy(const struct methods_ctx *ctx)
{
	return ctx ? policyctl_policy(ctx->policy) : NULL;
}

struct device *methods_resolve(struct methods_ctx *ctx, struct server_call *call,
			       const char *sel, const char *param)
{
	struct device *dev;
	char **matches;
	struct hd_err e;

	switch (selector_resolve(ctx->devices, sel, &dev, &matches)) {
	case SELECTOR_FOUND:
		return dev;
	case SELECTOR_NOT_FOUND:
		err_set(&e, HDE_DEVICE_NOT_FOUND, sel);
		server_call_err(call, &e);
		break;
	case SELECTOR_AMBIGUOUS:
		err_set(&e, HDE_AMBIGUOUS_DEVICE, sel);
		e.members = matches;
		server_call_err(call, &e);
		selector_matches_free(matches);
		break;
	default:
		reply_invalid_parameter(call, param);
		break;
	}
	return NULL;
}

/* The parameter InvalidParameter names for one of the owner's fields. */
static const char *owner_param(const char *field)
{
	return streq(field, "driver") ? "owner.driver"
	       : streq(field, "domain") ? "owner.domain"
					: "owner.uuid";
}

const char *methods_owner(json_object *params, struct claim_owner *owner)
{
	json_object *o;
	const char *bad;

	*owner = (struct claim_owner){ 0 };
	if (!json_object_object_get_ex(params, "owner", &o))
		return "owner";
	json_object_object_foreach(o, key, val) {
		const char **field = streq(key, "driver") ? &owner->driver
				   : streq(key, "domain") ? &owner->domain
				   : streq(key, "uuid")	  ? &owner->uuid
							  : NULL;

		if (!field || (val && !json_object_is_type(val, json_type_string)))
			return "owner";
		*field = val ? json_object_get_string(val) : NULL;
		/* "\u0000" inside: the C string would be a shorter name. */
		if (val && strlen(*field) != (size_t)json_object_get_string_len(val))
			return owner_param(key);
	}
	if (!owner->driver || !*owner->driver || !owner->domain || !*owner->domain)
		return "owner";
	bad = claim_owner_invalid(owner);
	return bad ? owner_param(bad) : NULL;
}

bool methods_driver(struct methods_ctx *ctx, struct server_call *call, json_object *params,
		    const char **stub)
{
	_cleanup_free_ char **accepted = NULL;
	const char *name = NULL;
	struct hd_err e;
	int named = vl_param_string(params, "driver", &name);

	*stub = NULL;
	if (named == 0)
		return true;
	if (named < 0 || !stub_name_valid(name)) {
		reply_invalid_parameter(call, "driver");
		return false;
	}
	if ((*stub = detach_stub_target(ctx->detach, name)))
		return true;
	detach_unknown_driver(ctx->detach, name, &e, &accepted);
	server_call_err(call, &e);
	return false;
}

void methods_add_count(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v));
}
