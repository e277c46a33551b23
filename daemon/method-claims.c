/* Claims: Claim, Release and ListClaims, on the claim engine
 * (engine/claim.h). */
#include "daemon/methods.h"
#include "common/jsonbuf.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/devjson.h"
#include "engine/claim.h"
#include "state/claims.h"
#include "state/bus.h"

struct claim_call {
	struct methods_ctx *ctx;
	struct server_call *call; /* deferred */
};

/* Adds `id` to the request unless it is there already; returns its
 * index. */
static size_t ids_add(char ***ids, size_t *n, const char *id)
{
	for (size_t i = 0; i < *n; i++)
		if (streq((*ids)[i], id))
			return i;
	*ids = xrealloc(*ids, (*n + 2) * sizeof(**ids));
	(*ids)[(*n)++] = (char *)id;
	(*ids)[*n] = NULL;
	return *n - 1;
}

/* One selector as a canonical id (borrowed from the table, or from the
 * claim table for a claimed device that left it); NULL when the call has
 * been answered. */
static const char *device_resolve(struct methods_ctx *ctx, struct server_call *call,
				  const char *selector, const char *param)
{
	const struct claim_entry *gone = claims_find(ctx->claims, selector);
	struct device *dev;

	if (gone && !devtable_get(ctx->devices, gone->device))
		return gone->device;
	dev = methods_resolve(ctx, call, selector, param);
	return dev ? dev->id : NULL;
}

/* Resolves the "devices" selectors into canonical ids (borrowed from the
 * table, or from the claim table for a claimed device that left it).  On
 * failure the call is answered and NULL returned. */
static char **devices_resolve(struct methods_ctx *ctx, struct server_call *call, json_object *arr,
			      size_t *n)
{
	size_t len = json_object_array_length(arr);
	char **ids = xcalloc(1, sizeof(*ids));

	*n = 0;
	for (size_t i = 0; i < len; i++) {
		json_object *v = json_object_array_get_idx(arr, i);
		const char *id;

		if (!json_object_is_type(v, json_type_string)) {
			reply_invalid_parameter(call, "devices");
			free(ids);
			return NULL;
		}
		id = device_resolve(ctx, call, json_object_get_string(v), "devices");
		if (!id) {
			free(ids);
			return NULL;
		}
		ids_add(&ids, n, id);
	}
	return ids;
}

/* A ClaimDevice names only what the schema has: a misspelt "managd"
 * must not silently claim the device managed. */
static bool hostdev_keys_known(json_object *v)
{
	json_object_object_foreach(v, key, val) {
		(void)val;
		if (!streq(key, "device") && !streq(key, "managed"))
			return false;
	}
	return true;
}

/* A Claim's devices: `devices` (selectors, each managed as the call says)
 * then `hostdevs` ({device, managed?}: libvirt's per-hostdev managed), one
 * list in that order, duplicates collapsed.  *managed (parallel to the ids)
 * says each device's.  A device named twice with two managed values is an
 * InvalidParameter (hostdevs): the claim cannot honour both.  NULL when the
 * call has been answered. */
static char **claim_devices_resolve(struct methods_ctx *ctx, struct server_call *call,
				    json_object *params, bool dflt, bool **managed, size_t *n)
{
	json_object *devices = NULL, *hostdevs = NULL;
	char **ids = xcalloc(1, sizeof(*ids));
	size_t nd, nh;

	json_object_object_get_ex(params, "devices", &devices);
	json_object_object_get_ex(params, "hostdevs", &hostdevs);
	nd = devices ? json_object_array_length(devices) : 0;
	nh = hostdevs ? json_object_array_length(hostdevs) : 0;
	*n = 0;
	*managed = xcalloc(nd + nh + 1, sizeof(**managed));
	if (nd + nh == 0) {
		reply_invalid_parameter(call, hostdevs ? "hostdevs" : "devices");
		goto fail;
	}
	for (size_t i = 0; i < nd + nh; i++) {
		json_object *v = json_object_array_get_idx(i < nd ? devices : hostdevs,
							   i < nd ? i : i - nd);
		const char *param = i < nd ? "devices" : "hostdevs", *sel = NULL, *id;
		bool m = dflt;
		size_t before = *n, at;

		if (i < nd && json_object_is_type(v, json_type_string)) {
			sel = json_object_get_string(v);
		} else if (i >= nd && json_object_is_type(v, json_type_object) &&
			   hostdev_keys_known(v) && vl_param_string(v, "device", &sel) == 1 &&
			   vl_param_bool(v, "managed", &m) >= 0) {
			/* sel and m are set */
		} else {
			sel = NULL;
		}
		if (!sel) {
			reply_invalid_parameter(call, param);
			goto fail;
		}
		id = device_resolve(ctx, call, sel, param);
		if (!id)
			goto fail;
		at = ids_add(&ids, n, id);
		if (*n > before) {
			(*managed)[at] = m;
		} else if ((*managed)[at] != m) {
			log_info("claim: %s named both managed and unmanaged", id);
			reply_invalid_parameter(call, "hostdevs");
			goto fail;
		}
	}
	return ids;
fail:
	free(*managed);
	*managed = NULL;
	free(ids);
	return NULL;
}

/* whole_group: every endpoint sharing an IOMMU group with a requested
 * device joins the request; bridges stay with the host. */
static void ids_add_groups(const struct devtable *t, char ***ids, size_t *n)
{
	size_t asked = *n;

	for (size_t i = 0; i < asked; i++) {
		const struct device *dev = devtable_get(t, (*ids)[i]);

		if (!dev || device_iommu_group(dev) == HD_NO_GROUP)
			continue;
		for (struct device *m = devtable_group_first(t, device_iommu_group(dev)); m;
		     m = m->group_next)
			if (!device_is_bridge(m))
				ids_add(ids, n, m->id);
	}
}

static void on_claim_done(const struct claim_result *r, void *arg)
{
	struct claim_call *cc = arg;
	struct jsonbuf b = { 0 };

	if (r->err.code != HDE_OK) {
		server_call_err(cc->call, &r->err);
	} else {
		JSONBUF_LIT(&b, "{\"claims\":[");
		for (size_t i = 0; i < r->n_devices; i++) {
			if (i)
				JSONBUF_LIT(&b, ",");
			devjson_append_claim(&b, claims_find(cc->ctx->claims, r->devices[i]),
					     devtable_get(cc->ctx->devices, r->devices[i]));
		}
		JSONBUF_LIT(&b, "]}");
		server_call_reply_text(cc->call, b.data, b.len, false);
	}
	server_call_unref(cc->call);
	free(cc);
}

/* Where a released device went, read from its record as the release left
 * it: "pool" (detached on its stub: an unmanaged claim's, or one taken from
 * the detached pool), "host", or "gone" (not present). */
static json_object *release_outcome(struct methods_ctx *ctx, const char *id)
{
	const struct device *dev = devtable_get(ctx->devices, id);
	json_object *o = json_object_new_object();

	json_object_object_add(o, "device", json_object_new_string(id));
	json_object_object_add(o, "to",
			       json_object_new_string(!dev ? "gone"
						      : dev->state == DEV_DETACHED ? "pool"
										   : "host"));
	if (dev && dev->driver)
		json_object_object_add(o, "driver", json_object_new_string(dev->driver));
	return o;
}

static void on_release_done(const struct claim_result *r, void *arg)
{
	struct claim_call *cc = arg;

	if (r->err.code != HDE_OK) {
		server_call_err(cc->call, &r->err);
	} else {
		json_object *p = json_object_new_object(), *arr = json_object_new_array(),
			    *out = json_object_new_array();

		for (size_t i = 0; i < r->n_devices; i++) {
			json_object_array_add(arr, json_object_new_string(r->devices[i]));
			json_object_array_add(out, release_outcome(cc->ctx, r->devices[i]));
		}
		json_object_object_add(p, "released", arr);
		json_object_object_add(p, "outcomes", out);
		server_call_reply(cc->call, p, false);
	}
	server_call_unref(cc->call);
	free(cc);
}

static struct claim_call *claim_call_new(struct methods_ctx *ctx, struct server_call *call)
{
	struct claim_call *cc = xcalloc(1, sizeof(*cc));

	cc->ctx = ctx;
	cc->call = server_call_defer(call);
	return cc;
}

/* A client's entry may limit the owners it claims for (drivers, domain
 * patterns): checked before anything is resolved or moved. */
static bool claim_within_grant(struct methods_ctx *ctx, struct server_call *call,
			       const struct claim_owner *owner)
{
	struct policy_peer pp = peer_for_policy(server_call_peer(call));
	struct hd_err e;

	if (policy_may_claim_for(methods_policy(ctx), &pp, owner->driver, owner->domain))
		return true;
	err_reason(&e, HDE_PERMISSION_DENIED, NULL,
		   "no client entry for uid %d lets it claim for driver %s, domain %s", (int)pp.uid,
		   owner->driver, owner->domain);
	e.method = "io.hostdevd.Claim";
	e.permission = permission_name(PERM_CLAIM);
	log_info("client pid %d: %s", (int)server_call_peer(call)->pid, e.reason);
	server_call_err(call, &e);
	return false;
}

static struct claim_cred peer_cred(struct server_call *call)
{
	const struct hd_peer *peer = server_call_peer(call);

	return (struct claim_cred){ peer->uid, peer->gid, peer->pid };
}

static struct claim_actor peer_actor(struct methods_ctx *ctx, struct server_call *call)
{
	const struct hd_peer *peer = server_call_peer(call);

	return (struct claim_actor){ .admin = peer_has_permission(ctx, peer, PERM_ADMIN),
				     .may_list = peer_has_permission(ctx, peer, PERM_LIST) };
}

/* The schema's Lease {pid: ?int, on_exit: ?string}: with no pid, the
 * caller's own (SO_PEERCRED).  NULL when it is one (or absent); else the
 * parameter to name in InvalidParameter. */
static const char *lease_param(json_object *params, pid_t peer_pid, struct claim_request *req)
{
	json_object *lease;
	long long pid = 0;
	const char *on_exit = "release";

	if (!json_object_object_get_ex(params, "lease", &lease))
		return NULL;
	if (!json_object_is_type(lease, json_type_object))
		return "lease";
	json_object_object_foreach(lease, key, val)
	{
		(void)val;
		if (!streq(key, "pid") && !streq(key, "on_exit"))
			return "lease";
	}
	if (vl_param_int(lease, "pid", &pid) < 0 ||
	    (json_object_object_get_ex(lease, "pid", NULL) && (pid <= 0 || pid > INT32_MAX)))
		return "lease.pid";
	if (vl_param_string(lease, "on_exit", &on_exit) < 0 ||
	    (!streq(on_exit, "release") && !streq(on_exit, "keep")))
		return "lease.on_exit";
	req->lease_named = pid > 0;
	req->lease.pid = pid > 0 ? (pid_t)pid : peer_pid;
	req->lease.keep = streq(on_exit, "keep");
	return NULL;
}

static void method_claim(struct methods_ctx *ctx, struct server_call *call, json_object *params)
{
	struct claim_request req = { .managed = true };
	bool whole_group = false;
	_cleanup_free_ char **ids = NULL;
	_cleanup_free_ bool *managed = NULL;
	const char *bad;
	size_t n, asked;

	if ((bad = methods_owner(params, &req.owner)) ||
	    (bad = lease_param(params, server_call_peer(call)->pid, &req))) {
		reply_invalid_parameter(call, bad);
		return;
	}
	vl_param_bool(params, "managed", &req.managed);
	vl_param_bool(params, "whole_group", &whole_group);
	vl_param_bool(params, "unbind_interfaces", &req.unbind_interfaces);
	/* None named: NULL, the engine's choice (a variant, or vfio-pci). */
	if (!methods_driver(ctx, call, params, &req.stub))
		return;
	req.stub_named = req.stub != NULL;
	if (!claim_within_grant(ctx, call, &req.owner))
		return;
	ids = claim_devices_resolve(ctx, call, params, req.managed, &managed, &n);
	if (!ids)
		return;
	asked = n;
	if (whole_group)
		ids_add_groups(ctx->devices, &ids, &n);
	/* A group member the request did not name is managed as the call's
	 * `managed` says. */
	managed = xrealloc(managed, (n + 1) * sizeof(*managed));
	for (size_t i = asked; i < n; i++)
		managed[i] = req.managed;
	req.managed_each = managed;
	req.cred = peer_cred(call);
	req.actor = peer_actor(ctx, call);
	req.devices = ids;
	req.n_devices = n;
	claim_start(ctx->claim, &req, on_claim_done, claim_call_new(ctx, call));
}

static void method_release(struct methods_ctx *ctx, struct server_call *call, json_object *params)
{
	struct release_request req = { .actor = peer_actor(ctx, call) };
	json_object *arr = NULL;
	_cleanup_free_ char **ids = NULL;
	const char *bad;

	if ((bad = methods_owner(params, &req.owner))) {
		reply_invalid_parameter(call, bad);
		return;
	}
	if (json_object_object_get_ex(params, "devices", &arr) && arr) {
		ids = devices_resolve(ctx, call, arr, &req.n_devices);
		if (!ids)
			return;
		req.devices = ids;
	}
	req.cred = peer_cred(call);
	release_start(ctx->claim, &req, on_release_done, claim_call_new(ctx, call));
}

static void method_list_claims(struct methods_ctx *ctx, struct server_call *call,
			       json_object *params)
{
	const char *driver = NULL, *domain = NULL;
	struct jsonbuf b = { 0 };
	size_t listed = 0;

	vl_param_string(params, "driver", &driver);
	vl_param_string(params, "domain", &domain);
	JSONBUF_LIT(&b, "{\"claims\":[");
	for (size_t i = 0; i < claims_count(ctx->claims); i++) {
		const struct claim_entry *e = claims_at(ctx->claims, i);

		/* Only settled claims: one in flight may still fail. */
		if (e->phase == CLAIM_RESERVED || (driver && !streq(driver, e->driver)) ||
		    (domain && !streq(domain, e->domain)))
			continue;
		if (listed++)
			JSONBUF_LIT(&b, ",");
		devjson_append_claim(&b, e, devtable_get(ctx->devices, e->device));
	}
	JSONBUF_LIT(&b, "]}");
	server_call_reply_text(call, b.data, b.len, false);
}


static const struct param_def claim_params[] = {
	{ "owner", PARAM_OBJECT, true },
	{ "devices", PARAM_ARRAY, false },
	{ "hostdevs", PARAM_ARRAY, false },
	{ "managed", PARAM_BOOL, false },
	{ "whole_group", PARAM_BOOL, false },
	{ "driver", PARAM_STRING, false },
	{ "unbind_interfaces", PARAM_BOOL, false },
	{ "lease", PARAM_OBJECT, false },
	{ NULL },
};

static const struct param_def release_params[] = {
	{ "owner", PARAM_OBJECT, true },
	{ "devices", PARAM_ARRAY, false },
	{ NULL },
};

static const struct param_def list_claims_params[] = {
	{ "driver", PARAM_STRING, false },
	{ "domain", PARAM_STRING, false },
	{ NULL },
};

const struct method_def claim_methods[] = {
	{ "io.hostdevd.Claim", method_claim, PERM_CLAIM, 0, claim_params },
	{ "io.hostdevd.Release", method_release, PERM_RELEASE, 0, release_params },
	{ "io.hostdevd.ListClaims", method_list_claims, PERM_LIST, 0, list_claims_params },
	{ NULL },
};
