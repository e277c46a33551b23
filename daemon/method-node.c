/* Node operations (like virsh nodedev-*): Detach, Reattach and Reset, and
 * Repair, the way out of `error`. */
#include "daemon/methods.h"
#include "common/jsonbuf.h"
#include "common/util.h"
#include "daemon/devjson.h"
#include "engine/claim.h"
#include "engine/detach.h"
#include "engine/persist.h"
#include "policy/refusal.h"
#include "state/claims.h"

struct detach_call {
	struct methods_ctx *ctx;
	struct server_call *call; /* deferred */
	/* The answer, held until the state is saved: the reply's parameters
	 * as text, or an error and its parameters. */
	char *text;
	size_t len;
	const char *error;
	json_object *error_params;
};

/* The reply's parameters, as text (the caller owns b.data). */
static void detach_reply(struct methods_ctx *ctx, struct jsonbuf *out,
			 const struct detach_result *r)
{
	const struct device *dev = devtable_get(ctx->devices, r->device);
	struct jsonbuf b = { 0 };

	JSONBUF_LIT(&b, "{\"device\":");
	devjson_append_device(&b, ctx->devices, ctx->claims, ctx->names, dev);
	if (r->kind == DETACH_KIND_REATTACH || r->kind == DETACH_KIND_REPAIR) {
		JSONBUF_LIT(&b, ",\"driver\":");
		if (r->driver)
			jsonbuf_string(&b, r->driver);
		else
			JSONBUF_LIT(&b, "null");
		JSONBUF_LIT(&b, ",\"outcome\":");
		jsonbuf_string(&b, r->outcome);
	}
	JSONBUF_LIT(&b, "}");
	*out = b;
}

static void detach_answer(int rc, const char *err, void *arg)
{
	struct detach_call *dc = arg;

	if (dc->text)
		server_call_reply_text(dc->call, dc->text, dc->len, false);
	else
		server_call_error(dc->call, dc->error, dc->error_params);
	server_call_unref(dc->call);
	free(dc);
}

static void on_detach_done(const struct detach_result *r, void *arg)
{
	struct detach_call *dc = arg;
	struct hd_err gone;

	/* The device may have vanished with the operation's success. */
	if (r->err.code == HDE_OK && devtable_get(dc->ctx->devices, r->device)) {
		struct jsonbuf b;

		detach_reply(dc->ctx, &b, r);
		dc->text = b.data;
		dc->len = b.len;
	} else if (r->err.code == HDE_OK) {
		err_set(&gone, HDE_DEVICE_NOT_FOUND, r->device);
		dc->error = err_name(gone.code);
		dc->error_params = err_params(&gone);
	} else {
		dc->error = err_name(r->err.code);
		dc->error_params = err_params(&r->err);
	}
	/* The pool changed (or may have): its original drivers are on disk
	 * before the answer.  A failed save is logged; the kernel's state
	 * stands, so the answer does not change. */
	if (dc->ctx->persist)
		persist_request(dc->ctx->persist, detach_answer, dc);
	else
		detach_answer(0, NULL, dc);
}

static struct detach_call *detach_call_new(struct methods_ctx *ctx, struct server_call *call)
{
	struct detach_call *dc = xcalloc(1, sizeof(*dc));

	dc->ctx = ctx;
	dc->call = server_call_defer(call);
	return dc;
}

/* In use means in use: Detach and Reattach leave a claimed device alone,
 * whoever asks.  Answers the call and returns true when it is claimed. */
static bool refuse_claimed(struct methods_ctx *ctx, struct server_call *call, const char *id)
{
	const struct claim_entry *e;
	struct hd_err err;

	if (!claim_blocks(ctx->claim, id, &e, &err))
		return false;
	server_call_err(call, &err);
	return true;
}

static void method_detach(struct methods_ctx *ctx, struct server_call *call, json_object *params)
{
	const struct policy *policy = methods_policy(ctx);
	const char *sel = NULL, *stub;
	struct device *dev;

	vl_param_string(params, "device", &sel);
	/* None named (NULL): the engine picks the best variant, or vfio-pci. */
	if (!methods_driver(ctx, call, params, &stub))
		return;
	dev = methods_resolve(ctx, call, sel, "device");
	if (!dev || refuse_claimed(ctx, call, dev->id))
		return;
	/* The policy speaks to a detach as to a claim: a device it refuses
	 * or ignores stays with the host; a lone-address rule may lift the
	 * host-critical refusal. */
	if (policy) {
		struct policy_decision d;
		struct hd_err err;

		policy_decide(policy, dev, POLICY_MOMENT_CLAIM, &d);
		if (d.action == POLICY_REFUSE || d.action == POLICY_IGNORE) {
			policy_refusal(&d, dev->id, NULL, &err);
			server_call_err(call, &err);
			return;
		}
		if (d.host_critical_ok) {
			detach_start_checked(ctx->detach, dev->id, stub, on_detach_done,
					     detach_call_new(ctx, call));
			return;
		}
	}
	detach_start(ctx->detach, dev->id, stub, on_detach_done, detach_call_new(ctx, call));
}

static void method_reattach(struct methods_ctx *ctx, struct server_call *call,
			    json_object *params)
{
	const char *sel = NULL;
	struct device *dev;

	vl_param_string(params, "device", &sel);
	dev = methods_resolve(ctx, call, sel, "device");
	if (dev && !refuse_claimed(ctx, call, dev->id))
		reattach_start(ctx->detach, dev->id, on_detach_done, detach_call_new(ctx, call));
}

/* The administrator's way out of `error` once the fault is cleared (the
 * detach permission: it moves drivers as Detach and Reattach do).  A
 * claimed device stays its owner's, as for Reattach. */
static void method_repair(struct methods_ctx *ctx, struct server_call *call, json_object *params)
{
	const char *sel = NULL;
	struct device *dev;

	vl_param_string(params, "device", &sel);
	dev = methods_resolve(ctx, call, sel, "device");
	if (dev && !refuse_claimed(ctx, call, dev->id))
		repair_start(ctx->detach, dev->id, on_detach_done, detach_call_new(ctx, call));
}

/* ---- Reset ------------------------------------------------------------ */

static void on_reset_done(const struct detach_result *r, void *arg)
{
	struct detach_call *dc = arg;

	if (r->err.code != HDE_OK) {
		server_call_err(dc->call, &r->err);
	} else if (!devtable_get(dc->ctx->devices, r->device)) {
		struct hd_err gone;

		err_set(&gone, HDE_DEVICE_NOT_FOUND, r->device);
		server_call_err(dc->call, &gone);
	} else {
		json_object *p = json_object_new_object(), *m = json_object_new_array();

		for (char *const *w = r->methods; w && *w; w++)
			json_object_array_add(m, json_object_new_string(*w));
		json_object_object_add(p, "device", json_object_new_string(r->device));
		json_object_object_add(p, "methods", m);
		server_call_reply(dc->call, p, false);
	}
	server_call_unref(dc->call);
	free(dc);
}

/* A claimed device belongs to its owner: only a call naming that owner may
 * reset it (a hypervisor resetting its own guest's device), and naming it
 * proves nothing: the caller must be the uid that made the claim, or admin.
 * Answers the call and returns true when refused. */
static bool refuse_reset_claimed(struct methods_ctx *ctx, struct server_call *call,
				 const char *id, const struct claim_owner *owner)
{
	const struct hd_peer *peer = server_call_peer(call);
	const struct claim_entry *e;
	struct claim_actor actor;
	struct hd_err err;

	if (!claim_blocks(ctx->claim, id, &e, &err))
		return false;
	if (err.code == HDE_DEVICE_IN_USE && owner && claim_owned_by(e, owner)) {
		actor = (struct claim_actor){
			.admin = peer_has_permission(ctx, peer, PERM_ADMIN),
			.may_list = peer_has_permission(ctx, peer, PERM_LIST),
		};
		if (claim_may_act(e, peer->uid, &actor, "io.hostdevd.Reset", &err))
			return false;
	}
	server_call_err(call, &err);
	return true;
}

static void method_reset(struct methods_ctx *ctx, struct server_call *call, json_object *params)
{
	struct claim_owner owner;
	json_object *o = NULL;
	const char *sel = NULL, *bad;
	struct device *dev;

	json_object_object_get_ex(params, "owner", &o);
	if (o && (bad = methods_owner(params, &owner))) {
		reply_invalid_parameter(call, bad);
		return;
	}
	vl_param_string(params, "device", &sel);
	dev = methods_resolve(ctx, call, sel, "device");
	if (dev && !refuse_reset_claimed(ctx, call, dev->id, o ? &owner : NULL))
		reset_start(ctx->detach, dev->id, on_reset_done, detach_call_new(ctx, call));
}

static const struct param_def device_params[] = {
	{ "device", PARAM_STRING, true },
	{ NULL },
};

static const struct param_def detach_params[] = {
	{ "device", PARAM_STRING, true },
	{ "driver", PARAM_STRING, false },
	{ NULL },
};

static const struct param_def reset_params[] = {
	{ "device", PARAM_STRING, true },
	{ "owner", PARAM_OBJECT, false },
	{ NULL },
};

const struct method_def node_methods[] = {
	{ "io.hostdevd.Detach", method_detach, PERM_DETACH, 0, detach_params },
	{ "io.hostdevd.Reattach", method_reattach, PERM_DETACH, 0, device_params },
	{ "io.hostdevd.Reset", method_reset, PERM_RESET, 0, reset_params },
	{ "io.hostdevd.Repair", method_repair, PERM_DETACH, 0, device_params },
	{ NULL },
};
