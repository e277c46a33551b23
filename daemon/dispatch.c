#include "daemon/dispatch.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/methods.h"

#include <string.h>

const char *permission_name(enum hd_permission perm)
{
	return policy_permission_name((enum policy_permission)perm);
}

struct policy_peer peer_for_policy(const struct hd_peer *peer)
{
	return (struct policy_peer){ .uid = peer->uid, .gid = peer->gid, .groups = peer->groups,
				     .n_groups = peer->n_groups };
}

bool peer_has_permission(const struct methods_ctx *ctx, const struct hd_peer *peer,
			 enum hd_permission perm)
{
	struct policy_peer pp = peer_for_policy(peer);

	return policy_permissions(methods_policy(ctx), &pp) & (1u << perm);
}

void reply_invalid_parameter(struct server_call *call, const char *parameter)
{
	struct hd_err e;

	err_set(&e, HDE_INVALID_PARAMETER, NULL);
	e.name = parameter;
	server_call_err(call, &e);
}

static const struct param_def *param_find(const struct param_def *defs, const char *name)
{
	for (; defs && defs->name; defs++)
		if (streq(defs->name, name))
			return defs;
	return NULL;
}

static bool param_type_ok(const struct param_def *def, json_object *v)
{
	static const json_type types[] = {
		[PARAM_STRING] = json_type_string,
		[PARAM_INT] = json_type_int,
		[PARAM_BOOL] = json_type_boolean,
		[PARAM_OBJECT] = json_type_object,
		[PARAM_ARRAY] = json_type_array,
	};

	/* null stands for an absent optional parameter. */
	return !v || json_object_is_type(v, types[def->type]);
}

/* Every parameter is declared and well typed, every required one present;
 * otherwise returns the name of the first one at fault. */
static const char *params_check(const struct param_def *defs, json_object *params)
{
	json_object_object_foreach(params, key, val) {
		const struct param_def *def = param_find(defs, key);

		if (!def || !param_type_ok(def, val))
			return key;
	}
	for (; defs && defs->name; defs++) {
		json_object *v;

		if (defs->required &&
		    (!json_object_object_get_ex(params, defs->name, &v) || !v))
			return defs->name;
	}
	return NULL;
}

static const struct method_def *method_find(const struct method_def *table, size_t n,
					    const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(table[i].name, name))
			return &table[i];
	return NULL;
}

static void reply_unknown_method(struct server_call *call, const char *method)
{
	const char *dot = strrchr(method, '.');
	_cleanup_free_ char *iface = NULL;
	struct hd_err e;

	if (!dot || dot == method || !dot[1]) {
		err_reason(&e, HDE_INVALID_REQUEST, NULL, "%s",
			   "the method is not named interface.Method");
	} else if (!methods_interface_known(method, (size_t)(dot - method))) {
		iface = strndup(method, (size_t)(dot - method));
		err_set(&e, HDE_INTERFACE_NOT_FOUND, NULL);
		e.name = iface ? iface : "";
	} else {
		err_set(&e, HDE_METHOD_NOT_FOUND, NULL);
		e.method = method;
	}
	server_call_err(call, &e);
}

static bool permitted(struct methods_ctx *ctx, const struct method_def *m,
		      struct server_call *call)
{
	const struct hd_peer *peer = server_call_peer(call);
	struct hd_err e;

	if ((m->flags & METHOD_ANY_PEER) || peer_has_permission(ctx, peer, m->perm))
		return true;
	err_reason(&e, HDE_PERMISSION_DENIED, NULL, "uid %d lacks permission %s", (int)peer->uid,
		   permission_name(m->perm));
	e.method = m->name;
	e.permission = permission_name(m->perm);
	log_info("client pid %d: %s for %s", (int)peer->pid, e.reason, m->name);
	server_call_err(call, &e);
	return false;
}

void dispatch_call(void *arg, struct server_call *call, const struct vl_call *vc)
{
	const struct dispatcher *d = arg;
	const struct method_def *m = method_find(d->methods, d->n_methods, vc->method);
	const char *bad;

	if (!m) {
		reply_unknown_method(call, vc->method);
	} else if (!permitted(d->ctx, m, call)) {
		/* answered */
	} else if ((m->flags & METHOD_NEEDS_MORE) && (!vc->more || vc->oneway)) {
		server_call_err(call, &(struct hd_err){ .code = HDE_EXPECTED_MORE });
	} else if (vc->upgrade) {
		/* No method of ours hands the connection over to another protocol. */
		reply_invalid_parameter(call, "upgrade");
	} else if ((bad = params_check(m->params, vc->parameters))) {
		reply_invalid_parameter(call, bad);
	} else {
		log_debug("client pid %d: %s", (int)server_call_peer(call)->pid, m->name);
		m->handler(d->ctx, call, vc->parameters);
	}
}
