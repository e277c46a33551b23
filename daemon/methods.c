#include "daemon/methods.h"
#include "common/log.h"
#include "common/util.h"
#include "engine/claim.h"
#include "engine/persist.h"
#include "daemon/policyctl.h"
#include "policy/policy.h"
#include "daemon/context.h"
#include "engine/detach.h"
#include "daemon/devjson.h"
#include "daemon/server.h"
#include "monitor/monitor.h"
#include "state/devtable.h"
#include "state/selector.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#ifndef HOSTDEVD_URL
/* The build may name the project's home page; GetInfo requires a string. */
#define HOSTDEVD_URL ""
#endif

#define APPEND_LIT(b, lit) devjson_append(b, lit, sizeof(lit) - 1)

#define SERVICE_INTERFACE "org.varlink.service"
#define HOSTDEVD_INTERFACE "io.hostdevd"

/* The standard service interface every Varlink service implements. */
static const char service_description[] =
	"# The Varlink Service Interface is provided by every varlink service. It\n"
	"# describes the service and the interfaces it implements.\n"
	"interface org.varlink.service\n"
	"\n"
	"# Get a list of all the interfaces a service provides and information\n"
	"# about the implementation.\n"
	"method GetInfo() -> (\n"
	"  vendor: string,\n"
	"  product: string,\n"
	"  version: string,\n"
	"  url: string,\n"
	"  interfaces: []string\n"
	")\n"
	"\n"
	"# Get the description of an interface that is implemented by this service.\n"
	"method GetInterfaceDescription(interface: string) -> (description: string)\n"
	"\n"
	"# The requested interface was not found.\n"
	"error InterfaceNotFound (interface: string)\n"
	"\n"
	"# The requested method was not found\n"
	"error MethodNotFound (method: string)\n"
	"\n"
	"# The interface defines the requested method, but the service does not\n"
	"# implement it.\n"
	"error MethodNotImplemented (method: string)\n"
	"\n"
	"# One of the passed parameters is invalid.\n"
	"error InvalidParameter (parameter: string)\n"
	"\n"
	"# Client is denied access\n"
	"error PermissionDenied ()\n"
	"\n"
	"# Method is expected to be called with 'more' set to true, but wasn't\n"
	"error ExpectedMore ()\n";

const char *permission_name(enum hd_permission perm)
{
	return policy_permission_name((enum policy_permission)perm);
}

struct policy_peer peer_for_policy(const struct hd_peer *peer)
{
	return (struct policy_peer){ .uid = peer->uid, .gid = peer->gid, .groups = peer->groups,
				     .n_groups = peer->n_groups };
}

bool peer_has_permission(const struct hd_context *ctx, const struct hd_peer *peer,
			 enum hd_permission perm)
{
	struct policy_peer pp = peer_for_policy(peer);

	return policy_permissions(ctx->policy, &pp) & (1u << perm);
}

/* ---- replies ---------------------------------------------------------- */

static void reply_error_string(struct server_call *call, const char *error, const char *key,
			       const char *value)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, key, json_object_new_string(value));
	server_call_error(call, error, p);
}

void reply_invalid_parameter(struct server_call *call, const char *parameter)
{
	reply_error_string(call, "org.varlink.service.InvalidParameter", "parameter", parameter);
}

/* io.hostdevd.PolicyInvalid: where (file, line from 1; 0 for the file as a
 * whole) and what. */
static json_object *policy_error_params(const struct policy_error *e)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "file", json_object_new_string(e->file));
	json_object_object_add(p, "line", json_object_new_int(e->line));
	json_object_object_add(p, "message", json_object_new_string(e->message));
	return p;
}

/* io.hostdevd.PermissionDenied: what was called, the permission it needs
 * and, in words, why the peer does not have it. */
static json_object *permission_denied_params(const char *method, enum hd_permission perm,
					     const char *reason)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "method", json_object_new_string(method));
	json_object_object_add(p, "permission", json_object_new_string(permission_name(perm)));
	json_object_object_add(p, "reason", json_object_new_string(reason));
	return p;
}

static json_object *string_array(const char *const *v, size_t n)
{
	json_object *arr = json_object_new_array_ext((int)n);

	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_string(v[i]));
	return arr;
}

/* ---- org.varlink.service ---------------------------------------------- */

struct interface_def {
	const char *name;
	const char *description;
	const size_t *length;
};

static const size_t service_description_len = sizeof(service_description) - 1;

static const struct interface_def interfaces[] = {
	{ SERVICE_INTERFACE, service_description, &service_description_len },
	{ HOSTDEVD_INTERFACE, hostdevd_idl, &hostdevd_idl_len },
};

static const struct interface_def *interface_find(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(interfaces); i++)
		if (strlen(interfaces[i].name) == len && memcmp(interfaces[i].name, name, len) == 0)
			return &interfaces[i];
	return NULL;
}

static void method_get_info(struct hd_context *ctx, struct server_call *call, json_object *params)
{
	const char *names[ARRAY_SIZE(interfaces)];
	json_object *r = json_object_new_object();

	for (size_t i = 0; i < ARRAY_SIZE(interfaces); i++)
		names[i] = interfaces[i].name;
	json_object_object_add(r, "vendor", json_object_new_string("hostdevd"));
	json_object_object_add(r, "product", json_object_new_string("hostdevd"));
	json_object_object_add(r, "version", json_object_new_string(HOSTDEVD_VERSION));
	json_object_object_add(r, "url", json_object_new_string(HOSTDEVD_URL));
	json_object_object_add(r, "interfaces", string_array(names, ARRAY_SIZE(names)));
	server_call_reply(call, r, false);
}

static void method_get_interface_description(struct hd_context *ctx, struct server_call *call,
					     json_object *params)
{
	const char *name = NULL;
	const struct interface_def *iface;
	json_object *r;

	vl_param_string(params, "interface", &name);
	iface = interface_find(name, strlen(name));
	if (!iface) {
		reply_error_string(call, "org.varlink.service.InterfaceNotFound", "interface", name);
		return;
	}
	r = json_object_new_object();
	json_object_object_add(r, "description",
			       json_object_new_string_len(iface->description, (int)*iface->length));
	server_call_reply(call, r, false);
}

/* ---- io.hostdevd ------------------------------------------------------ */

struct device_filter {
	int bus;         /* -1: any */
	const char *driver;
	long long group; /* -1: any */
	int state;       /* -1: any */
};

/* Reads the ListDevices filters; on a bad value names it in *bad. */
static bool device_filter_parse(json_object *params, struct device_filter *f, const char **bad)
{
	const char *bus = NULL, *state = NULL;

	*f = (struct device_filter){ .bus = -1, .group = -1, .state = -1 };
	vl_param_string(params, "driver", &f->driver);
	if (vl_param_string(params, "bus", &bus) == 1 && (f->bus = hd_bus_from_name(bus)) < 0)
		*bad = "bus";
	else if (vl_param_string(params, "state", &state) == 1 &&
		 (f->state = dev_state_from_name(state)) < 0)
		*bad = "state";
	else if (vl_param_int(params, "iommu_group", &f->group) == 1 &&
		 (f->group < 0 || f->group > INT_MAX))
		*bad = "iommu_group";
	else
		return true;
	return false;
}

static bool device_filter_match(const struct device_filter *f, const struct device *dev)
{
	if (f->bus >= 0 && (int)dev->bus != f->bus)
		return false;
	if (f->state >= 0 && (int)dev->state != f->state)
		return false;
	if (f->driver && !streq(f->driver, dev->driver))
		return false;
	return f->group < 0 || (dev->bus == HD_BUS_PCI && dev->pci.iommu_group == f->group);
}

static void method_list_devices(struct hd_context *ctx, struct server_call *call,
				json_object *params)
{
	struct device_filter f;
	const char *bad = NULL;
	_cleanup_free_ struct device **devs = NULL;
	struct devjson_buf b = { 0 };
	size_t n, listed = 0;

	if (!device_filter_parse(params, &f, &bad)) {
		reply_invalid_parameter(call, bad);
		return;
	}
	n = devtable_sorted(ctx->devices, &devs);
	APPEND_LIT(&b, "{\"devices\":[");
	for (size_t i = 0; i < n; i++) {
		if (!device_filter_match(&f, devs[i]))
			continue;
		if (listed++)
			APPEND_LIT(&b, ",");
		devjson_append_device(&b, ctx->devices, ctx->claims, devs[i]);
	}
	APPEND_LIT(&b, "]}");
	server_call_reply_text(call, b.data, b.len, false);
}

static void reply_ambiguous(struct server_call *call, const char *sel, char **matches)
{
	json_object *p = json_object_new_object();
	json_object *arr = json_object_new_array();

	for (char **m = matches; *m; m++)
		json_object_array_add(arr, json_object_new_string(*m));
	json_object_object_add(p, "device", json_object_new_string(sel));
	json_object_object_add(p, "matches", arr);
	server_call_error(call, "io.hostdevd.AmbiguousDevice", p);
}

/* Resolves the "device" parameter; answers the call and returns NULL when
 * it names no single device. */
/* `param` names the parameter an invalid selector came in. */
static struct device *resolve_selector(struct hd_context *ctx, struct server_call *call,
				       const char *sel, const char *param)
{
	struct device *dev;
	char **matches;

	switch (selector_resolve(ctx->devices, sel, &dev, &matches)) {
	case SELECTOR_FOUND:
		return dev;
	case SELECTOR_NOT_FOUND:
		reply_error_string(call, "io.hostdevd.DeviceNotFound", "device", sel);
		break;
	case SELECTOR_AMBIGUOUS:
		reply_ambiguous(call, sel, matches);
		selector_matches_free(matches);
		break;
	default:
		reply_invalid_parameter(call, param);
		break;
	}
	return NULL;
}

static struct device *resolve_device(struct hd_context *ctx, struct server_call *call,
				     const char *sel)
{
	return resolve_selector(ctx, call, sel, "device");
}

static void method_get_device(struct hd_context *ctx, struct server_call *call, json_object *params)
{
	const char *sel = NULL;
	struct device *dev;
	struct devjson_buf b = { 0 };

	vl_param_string(params, "device", &sel);
	dev = resolve_device(ctx, call, sel);
	if (!dev)
		return;
	APPEND_LIT(&b, "{\"device\":");
	devjson_append_device(&b, ctx->devices, ctx->claims, dev);
	APPEND_LIT(&b, "}");
	server_call_reply_text(call, b.data, b.len, false);
}

/* ---- Detach and Reattach ---------------------------------------------- */

struct detach_call {
	struct hd_context *ctx;
	struct server_call *call; /* deferred */
	/* The answer, held until the state is saved: the reply's parameters
	 * as text, or an error and its parameters. */
	char *text;
	size_t len;
	const char *error;
	json_object *error_params;
};

/* json-c would print 0.2 as 0.20000000000000001. */
static json_object *seconds_json(double seconds)
{
	char text[32];

	snprintf(text, sizeof(text), "%g", seconds);
	return json_object_new_double_s(seconds, text);
}

static json_object *detach_error_params(const struct detach_result *r)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "device", json_object_new_string(r->device));
	switch (r->status) {
	case DETACH_BUSY:
		json_object_object_add(p, "operation", json_object_new_string(r->reason));
		break;
	case DETACH_HOST_CRITICAL:
		json_object_object_add(p, "reason", json_object_new_string(r->reason));
		break;
	case DETACH_BAD_STATE:
		json_object_object_add(p, "state", json_object_new_string(r->reason));
		break;
	case DETACH_FAILED:
		json_object_object_add(p, "step", json_object_new_string(r->failure.step));
		json_object_object_add(p, "errno", json_object_new_int(r->failure.err));
		json_object_object_add(p, "message", json_object_new_string(r->failure.message));
		break;
	case DETACH_TIMEOUT:
		json_object_object_add(p, "step", json_object_new_string(r->failure.step));
		json_object_object_add(p, "seconds", seconds_json(r->seconds));
		break;
	default:
		break;
	}
	return p;
}

/* The reply's parameters, as text (the caller owns b.data). */
static void detach_reply(struct hd_context *ctx, struct devjson_buf *out,
			 const struct detach_result *r)
{
	const struct device *dev = devtable_get(ctx->devices, r->device);
	struct devjson_buf b = { 0 };

	APPEND_LIT(&b, "{\"device\":");
	devjson_append_device(&b, ctx->devices, ctx->claims, dev);
	if (r->kind == DETACH_KIND_REATTACH) {
		APPEND_LIT(&b, ",\"driver\":");
		if (r->driver)
			devjson_append_string(&b, r->driver);
		else
			APPEND_LIT(&b, "null");
		APPEND_LIT(&b, ",\"outcome\":");
		devjson_append_string(&b, r->outcome);
	}
	APPEND_LIT(&b, "}");
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

	/* The device may have vanished with the operation's success. */
	if (r->status == DETACH_OK && devtable_get(dc->ctx->devices, r->device)) {
		struct devjson_buf b;

		detach_reply(dc->ctx, &b, r);
		dc->text = b.data;
		dc->len = b.len;
	} else if (r->status == DETACH_OK) {
		dc->error = "io.hostdevd.DeviceNotFound";
		dc->error_params = json_object_new_object();
		json_object_object_add(dc->error_params, "device",
				       json_object_new_string(r->device));
	} else {
		dc->error = r->error;
		dc->error_params = detach_error_params(r);
	}
	/* The pool changed (or may have): its original drivers are on disk
	 * before the answer.  A failed save is logged; the kernel's state
	 * stands, so the answer does not change. */
	if (dc->ctx->persist)
		persist_request(dc->ctx->persist, detach_answer, dc);
	else
		detach_answer(0, NULL, dc);
}

static struct detach_call *detach_call_new(struct hd_context *ctx, struct server_call *call)
{
	struct detach_call *dc = xcalloc(1, sizeof(*dc));

	dc->ctx = ctx;
	dc->call = server_call_defer(call);
	return dc;
}

static void reply_in_use(struct server_call *call, const struct claim_entry *e)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "device", json_object_new_string(e->device));
	json_object_object_add(p, "driver", json_object_new_string(e->driver));
	json_object_object_add(p, "domain", json_object_new_string(e->domain));
	server_call_error(call, "io.hostdevd.DeviceInUse", p);
}

static void reply_busy(struct server_call *call, const char *device, const char *operation)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "device", json_object_new_string(device));
	json_object_object_add(p, "operation", json_object_new_string(operation));
	server_call_error(call, "io.hostdevd.DeviceBusy", p);
}

/* In use means in use: Detach and Reattach leave a claimed device alone,
 * whoever asks.  Answers the call and returns true when it is claimed. */
static bool refuse_claimed(struct hd_context *ctx, struct server_call *call, const char *id)
{
	const struct claim_entry *e;

	switch (claim_blocks(ctx->claim, id, &e)) {
	case CLAIM_IN_USE:
		reply_in_use(call, e);
		return true;
	case CLAIM_BUSY:
		reply_busy(call, id, e->phase == CLAIM_RELEASING ? "Release" : "Claim");
		return true;
	default:
		return false;
	}
}

static void reply_policy_refused(struct server_call *call, const char *id,
				 const struct policy_decision *d);

static void method_detach(struct hd_context *ctx, struct server_call *call, json_object *params)
{
	const char *sel = NULL, *stub = STUB_DEFAULT;
	struct device *dev;

	vl_param_string(params, "device", &sel);
	vl_param_string(params, "driver", &stub);
	if (!stub_is_target(stub)) {
		reply_invalid_parameter(call, "driver");
		return;
	}
	dev = resolve_device(ctx, call, sel);
	if (!dev || refuse_claimed(ctx, call, dev->id))
		return;
	/* The policy speaks to a detach as to a claim: a device it refuses
	 * or ignores stays with the host; a lone-address rule may lift the
	 * host-critical refusal. */
	if (ctx->policy) {
		struct policy_decision d;

		policy_decide(ctx->policy, dev, POLICY_MOMENT_CLAIM, &d);
		if (d.action == POLICY_REFUSE || d.action == POLICY_IGNORE) {
			reply_policy_refused(call, dev->id, &d);
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

static void method_reattach(struct hd_context *ctx, struct server_call *call,
			    json_object *params)
{
	const char *sel = NULL;
	struct device *dev;

	vl_param_string(params, "device", &sel);
	dev = resolve_device(ctx, call, sel);
	if (dev && !refuse_claimed(ctx, call, dev->id))
		reattach_start(ctx->detach, dev->id, on_detach_done, detach_call_new(ctx, call));
}

/* ---- Claim, Release, ListClaims ---------------------------------------- */

struct claim_call {
	struct hd_context *ctx;
	struct server_call *call; /* deferred */
};

/* The schema's Owner: driver and domain non-empty strings, uuid optional. */
static bool owner_parse(json_object *params, struct claim_owner *owner)
{
	json_object *o;

	*owner = (struct claim_owner){ 0 };
	if (!json_object_object_get_ex(params, "owner", &o))
		return false;
	json_object_object_foreach(o, key, val) {
		const char **field = streq(key, "driver") ? &owner->driver
				   : streq(key, "domain") ? &owner->domain
				   : streq(key, "uuid")	  ? &owner->uuid
							  : NULL;

		if (!field || (val && !json_object_is_type(val, json_type_string)))
			return false;
		*field = val ? json_object_get_string(val) : NULL;
	}
	return owner->driver && *owner->driver && owner->domain && *owner->domain;
}

/* Adds `id` to the request unless it is there already. */
static void ids_add(char ***ids, size_t *n, const char *id)
{
	for (size_t i = 0; i < *n; i++)
		if (streq((*ids)[i], id))
			return;
	*ids = xrealloc(*ids, (*n + 2) * sizeof(**ids));
	(*ids)[(*n)++] = (char *)id;
	(*ids)[*n] = NULL;
}

/* Resolves the "devices" selectors into canonical ids (borrowed from the
 * table, or from the claim table for a claimed device that left it).  On
 * failure the call is answered and NULL returned. */
static char **devices_resolve(struct hd_context *ctx, struct server_call *call, json_object *arr,
			      size_t *n)
{
	size_t len = json_object_array_length(arr);
	char **ids = xcalloc(1, sizeof(*ids));

	*n = 0;
	for (size_t i = 0; i < len; i++) {
		json_object *v = json_object_array_get_idx(arr, i);
		const struct claim_entry *gone;
		struct device *dev;

		if (!json_object_is_type(v, json_type_string)) {
			reply_invalid_parameter(call, "devices");
			free(ids);
			return NULL;
		}
		gone = claims_find(ctx->claims, json_object_get_string(v));
		if (gone && !devtable_get(ctx->devices, gone->device)) {
			ids_add(&ids, n, gone->device);
			continue;
		}
		dev = resolve_selector(ctx, call, json_object_get_string(v), "devices");
		if (!dev) {
			free(ids);
			return NULL;
		}
		ids_add(&ids, n, dev->id);
	}
	return ids;
}

/* whole_group: every endpoint sharing an IOMMU group with a requested
 * device joins the request; bridges stay with the host. */
static void ids_add_groups(const struct devtable *t, char ***ids, size_t *n)
{
	size_t asked = *n;

	for (size_t i = 0; i < asked; i++) {
		const struct device *dev = devtable_get(t, (*ids)[i]);

		if (!dev || dev->bus != HD_BUS_PCI || dev->pci.iommu_group == HD_NO_GROUP)
			continue;
		for (struct device *m = devtable_group_first(t, dev->pci.iommu_group); m;
		     m = m->group_next)
			if (!pci_is_bridge(m) && !pci_is_host_bridge(m))
				ids_add(ids, n, m->id);
	}
}

static void append_since(struct devjson_buf *b, int64_t since)
{
	time_t t = (time_t)since;
	struct tm tm;
	char text[32];

	gmtime_r(&t, &tm);
	strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
	devjson_append_string(b, text);
}

/* The schema's ClaimEntry. */
static void append_claim(struct devjson_buf *b, const struct claim_entry *e)
{
	APPEND_LIT(b, "{\"device\":");
	devjson_append_string(b, e->device);
	APPEND_LIT(b, ",\"owner\":{\"driver\":");
	devjson_append_string(b, e->driver);
	APPEND_LIT(b, ",\"domain\":");
	devjson_append_string(b, e->domain);
	if (e->uuid) {
		APPEND_LIT(b, ",\"uuid\":");
		devjson_append_string(b, e->uuid);
	}
	APPEND_LIT(b, "},\"managed\":");
	if (e->managed)
		APPEND_LIT(b, "true");
	else
		APPEND_LIT(b, "false");
	if (e->n_unbound) {
		APPEND_LIT(b, ",\"unbound_interfaces\":[");
		for (size_t i = 0; i < e->n_unbound; i++) {
			if (i)
				APPEND_LIT(b, ",");
			APPEND_LIT(b, "{\"interface\":");
			devjson_append_string(b, e->unbound[i].iface);
			APPEND_LIT(b, ",\"driver\":");
			devjson_append_string(b, e->unbound[i].driver);
			APPEND_LIT(b, "}");
		}
		APPEND_LIT(b, "]");
	}
	APPEND_LIT(b, ",\"uid\":");
	devjson_append_int(b, (int64_t)e->cred.uid);
	APPEND_LIT(b, ",\"gid\":");
	devjson_append_int(b, (int64_t)e->cred.gid);
	APPEND_LIT(b, ",\"pid\":");
	devjson_append_int(b, (int64_t)e->cred.pid);
	APPEND_LIT(b, ",\"since\":");
	append_since(b, e->since);
	APPEND_LIT(b, "}");
}

/* A policy decision's where and what: action, and for a rule its number
 * (from 1), file and line. */
static void add_decision(json_object *p, const struct policy_decision *d)
{
	json_object_object_add(p, "action",
			       json_object_new_string(policy_action_name(d->action)));
	if (d->rule >= 0)
		json_object_object_add(p, "rule", json_object_new_int(d->rule + 1));
	if (d->file) {
		json_object_object_add(p, "file", json_object_new_string(d->file));
		json_object_object_add(p, "line", json_object_new_int(d->line));
	}
}

static void reply_policy_refused(struct server_call *call, const char *id,
				 const struct policy_decision *d)
{
	json_object *p = json_object_new_object();
	char reason[64];

	snprintf(reason, sizeof(reason), "the policy says %s", policy_action_name(d->action));
	json_object_object_add(p, "device", json_object_new_string(id));
	add_decision(p, d);
	json_object_object_add(p, "reason", json_object_new_string(reason));
	server_call_error(call, "io.hostdevd.PolicyRefused", p);
}

static json_object *claim_error_params(const struct claim_result *r)
{
	json_object *p, *arr;

	if (r->status == CLAIM_ENGINE_ERROR)
		return detach_error_params(r->detach);
	if (r->status == CLAIM_NOT_PERMITTED)
		return permission_denied_params("io.hostdevd.Release", PERM_ADMIN,
						"the claim was made by another user");
	p = json_object_new_object();
	json_object_object_add(p, "device", json_object_new_string(r->device));
	switch (r->status) {
	case CLAIM_IN_USE:
		json_object_object_add(p, "driver", json_object_new_string(r->holder->driver));
		json_object_object_add(p, "domain", json_object_new_string(r->holder->domain));
		break;
	case CLAIM_NOT_VIABLE:
		arr = json_object_new_array();
		for (char **m = r->members; *m; m++)
			json_object_array_add(arr, json_object_new_string(*m));
		json_object_object_add(p, "group", json_object_new_int(r->group));
		json_object_object_add(p, "members", arr);
		break;
	case CLAIM_BUSY:
		json_object_object_add(p, "operation", json_object_new_string(r->operation));
		break;
	case CLAIM_BAD_STATE:
		json_object_object_add(p, "state", json_object_new_string(r->state));
		break;
	case CLAIM_HOST_CRITICAL:
		json_object_object_add(p, "reason", json_object_new_string(r->reason));
		break;
	case CLAIM_POLICY_REFUSED:
		add_decision(p, &r->policy);
		json_object_object_add(p, "reason", json_object_new_string(r->reason_buf));
		break;
	case CLAIM_STATE_FAILED:
		json_object_object_add(p, "errno", json_object_new_int(r->state_err));
		json_object_object_add(p, "message", json_object_new_string(r->reason_buf));
		break;
	default:
		break;
	}
	return p;
}

static void on_claim_done(const struct claim_result *r, void *arg)
{
	struct claim_call *cc = arg;
	struct devjson_buf b = { 0 };

	if (r->status != CLAIM_OK) {
		server_call_error(cc->call, r->error, claim_error_params(r));
	} else {
		APPEND_LIT(&b, "{\"claims\":[");
		for (size_t i = 0; i < r->n_devices; i++) {
			if (i)
				APPEND_LIT(&b, ",");
			append_claim(&b, claims_find(cc->ctx->claims, r->devices[i]));
		}
		APPEND_LIT(&b, "]}");
		server_call_reply_text(cc->call, b.data, b.len, false);
	}
	server_call_unref(cc->call);
	free(cc);
}

static void on_release_done(const struct claim_result *r, void *arg)
{
	struct claim_call *cc = arg;

	if (r->status != CLAIM_OK) {
		server_call_error(cc->call, r->error, claim_error_params(r));
	} else {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "released",
				       string_array((const char *const *)r->devices, r->n_devices));
		server_call_reply(cc->call, p, false);
	}
	server_call_unref(cc->call);
	free(cc);
}

static struct claim_call *claim_call_new(struct hd_context *ctx, struct server_call *call)
{
	struct claim_call *cc = xcalloc(1, sizeof(*cc));

	cc->ctx = ctx;
	cc->call = server_call_defer(call);
	return cc;
}

/* A client's entry may limit the owners it claims for (drivers, domain
 * patterns): checked before anything is resolved or moved. */
static bool claim_within_grant(struct hd_context *ctx, struct server_call *call,
			       const struct claim_owner *owner)
{
	struct policy_peer pp = peer_for_policy(server_call_peer(call));
	_cleanup_free_ char *reason = NULL;

	if (policy_may_claim_for(ctx->policy, &pp, owner->driver, owner->domain))
		return true;
	reason = xasprintf("no client entry for uid %d lets it claim for driver %s, domain %s",
			   (int)pp.uid, owner->driver, owner->domain);
	log_info("client pid %d: %s", (int)server_call_peer(call)->pid, reason);
	server_call_error(call, "io.hostdevd.PermissionDenied",
			  permission_denied_params("io.hostdevd.Claim", PERM_CLAIM, reason));
	return false;
}

static struct claim_cred peer_cred(struct server_call *call)
{
	const struct hd_peer *peer = server_call_peer(call);

	return (struct claim_cred){ peer->uid, peer->gid, peer->pid };
}

static void method_claim(struct hd_context *ctx, struct server_call *call, json_object *params)
{
	struct claim_request req = { .managed = true, .stub = STUB_DEFAULT };
	bool whole_group = false;
	json_object *arr;
	_cleanup_free_ char **ids = NULL;
	size_t n;

	if (!owner_parse(params, &req.owner)) {
		reply_invalid_parameter(call, "owner");
		return;
	}
	json_object_object_get_ex(params, "devices", &arr);
	vl_param_bool(params, "managed", &req.managed);
	vl_param_bool(params, "whole_group", &whole_group);
	vl_param_bool(params, "unbind_interfaces", &req.unbind_interfaces);
	vl_param_string(params, "driver", &req.stub);
	if (!stub_is_target(req.stub)) {
		reply_invalid_parameter(call, "driver");
		return;
	}
	if (json_object_array_length(arr) == 0) {
		reply_invalid_parameter(call, "devices");
		return;
	}
	if (!claim_within_grant(ctx, call, &req.owner))
		return;
	ids = devices_resolve(ctx, call, arr, &n);
	if (!ids)
		return;
	if (whole_group)
		ids_add_groups(ctx->devices, &ids, &n);
	req.cred = peer_cred(call);
	req.devices = ids;
	req.n_devices = n;
	claim_start(ctx->claim, &req, on_claim_done, claim_call_new(ctx, call));
}

static void method_release(struct hd_context *ctx, struct server_call *call, json_object *params)
{
	struct release_request req = { .admin = peer_has_permission(
					       ctx, server_call_peer(call), PERM_ADMIN) };
	json_object *arr = NULL;
	_cleanup_free_ char **ids = NULL;

	if (!owner_parse(params, &req.owner)) {
		reply_invalid_parameter(call, "owner");
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

static void method_list_claims(struct hd_context *ctx, struct server_call *call,
			       json_object *params)
{
	const char *driver = NULL, *domain = NULL;
	struct devjson_buf b = { 0 };
	size_t listed = 0;

	vl_param_string(params, "driver", &driver);
	vl_param_string(params, "domain", &domain);
	APPEND_LIT(&b, "{\"claims\":[");
	for (size_t i = 0; i < claims_count(ctx->claims); i++) {
		const struct claim_entry *e = claims_at(ctx->claims, i);

		/* Only settled claims: one in flight may still fail. */
		if (e->phase == CLAIM_RESERVED || (driver && !streq(driver, e->driver)) ||
		    (domain && !streq(domain, e->domain)))
			continue;
		if (listed++)
			APPEND_LIT(&b, ",");
		append_claim(&b, e);
	}
	APPEND_LIT(&b, "]}");
	server_call_reply_text(call, b.data, b.len, false);
}

static void method_watch(struct hd_context *ctx, struct server_call *call, json_object *params)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "sequence",
			       json_object_new_int64((int64_t)server_call_watch(call)));
	server_call_reply(call, r, true);
}

static json_object *device_counts(const struct devtable *t)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "total", json_object_new_int64((int64_t)devtable_count(t)));
	json_object_object_add(o, "pci",
			       json_object_new_int64((int64_t)devtable_count_bus(t, HD_BUS_PCI)));
	json_object_object_add(o, "usb",
			       json_object_new_int64((int64_t)devtable_count_bus(t, HD_BUS_USB)));
	json_object_object_add(o, "host",
			       json_object_new_int64((int64_t)devtable_count_state(t, DEV_HOST)));
	json_object_object_add(
		o, "detached", json_object_new_int64((int64_t)devtable_count_state(t, DEV_DETACHED)));
	return o;
}

static void add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v));
}

/* Milliseconds are plenty; json-c would print 17 digits of a double. */
static json_object *uptime(const struct hd_context *ctx)
{
	double seconds = (double)(now_ns() - ctx->start_ns) / 1e9;
	char text[32];

	snprintf(text, sizeof(text), "%.3f", seconds);
	return json_object_new_double_s(seconds, text);
}

static int attention_cmp(const void *a, const void *b)
{
	json_object *x = *(json_object *const *)a, *y = *(json_object *const *)b;

	return strcmp(json_object_get_string(json_object_object_get(x, "device")),
		      json_object_get_string(json_object_object_get(y, "device")));
}

static void add_attention(json_object *arr, const char *id, const char *what, const char *detail)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "device", json_object_new_string(id));
	json_object_object_add(o, "what", json_object_new_string(what));
	json_object_object_add(o, "detail", json_object_new_string(detail));
	json_object_array_add(arr, o);
}

/* A claim granted before a reload that the policy now refuses: kept (a
 * guest is using the device) and shown until released. */
static void add_policy_conflict(struct hd_context *ctx, const struct claim_entry *e,
				json_object *att)
{
	struct policy_decision d;
	char reason[160], detail[PATH_MAX + 256];

	if (!policyctl_conflict(ctx, e, &d, reason, sizeof(reason)))
		return;
	if (d.file)
		snprintf(detail, sizeof(detail), "claimed by %s/%s; %s (%s:%d)", e->driver,
			 e->domain, reason, d.file, d.line);
	else
		snprintf(detail, sizeof(detail), "claimed by %s/%s; %s", e->driver, e->domain,
			 reason);
	add_attention(att, e->device, "policy", detail);
}

/* Claims, and where the claim table, the pool and the kernel disagree.
 * Claims are sorted by device and so is the device table's walk below;
 * the two lists are merged by id. */
static void add_claims_status(struct hd_context *ctx, json_object *r)
{
	json_object *att = json_object_new_array();
	size_t held = 0;
	char detail[256];

	/* A context without claims (server tests) has nothing to say. */
	for (size_t i = 0; ctx->claims && i < claims_count(ctx->claims); i++) {
		const struct claim_entry *e = claims_at(ctx->claims, i);
		const struct device *dev = devtable_get(ctx->devices, e->device);

		if (e->phase != CLAIM_HELD)
			continue;
		held++;
		if (!dev) {
			snprintf(detail, sizeof(detail), "claimed by %s/%s, not present", e->driver,
				 e->domain);
			add_attention(att, e->device, "missing", detail);
		} else if (dev->bus == HD_BUS_PCI && e->managed && !driver_is_stub(dev->driver)) {
			snprintf(detail, sizeof(detail), "claimed by %s/%s, but on %s", e->driver,
				 e->domain, dev->driver ? dev->driver : "no driver");
			add_attention(att, e->device, "drifted", detail);
		}
		add_policy_conflict(ctx, e, att);
	}
	for (size_t i = 0; i < devtable_count(ctx->devices); i++) {
		const struct device *dev = devtable_at(ctx->devices, i);

		if (dev->state == DEV_ERROR) {
			add_attention(att, dev->id, "error",
				      "an operation failed and left it in between; the log says where");
			continue;
		}
		if (dev->bus != HD_BUS_PCI || !driver_is_stub(dev->driver) || dev->original_driver ||
		    !ctx->claims || claims_find(ctx->claims, dev->id))
			continue;
		snprintf(detail, sizeof(detail), "on %s with no record of hostdevd's", dev->driver);
		add_attention(att, dev->id, "orphan", detail);
	}
	json_object_array_sort(att, attention_cmp);
	add_u64(r, "claims", held);
	json_object_object_add(r, "attention", att);
	json_object_object_add(r, "state_file",
			       json_object_new_string(ctx->persist ? persist_path(ctx->persist) : ""));
}

/* ReloadPolicy: what SIGHUP does, with the outcome in the reply. */
static void method_reload_policy(struct hd_context *ctx, struct server_call *call,
				 json_object *params)
{
	struct policy_error e;
	json_object *r, *warnings;

	if (!ctx->policy_path) {
		server_call_error(call, "io.hostdevd.PolicyInvalid",
				  policy_error_params(&(struct policy_error){
					  .message = "this daemon has no policy path to read" }));
		return;
	}
	if (policyctl_reload(ctx, &e) < 0) {
		server_call_error(call, "io.hostdevd.PolicyInvalid", policy_error_params(&e));
		return;
	}
	r = json_object_new_object();
	json_object_object_add(r, "path", json_object_new_string(ctx->policy_path));
	add_u64(r, "rules", policy_rule_count(ctx->policy));
	add_u64(r, "clients", policy_client_count(ctx->policy));
	warnings = json_object_new_array();
	for (size_t i = 0; i < policy_warning_count(ctx->policy); i++)
		json_object_array_add(warnings,
				      json_object_new_string(policy_warning(ctx->policy, i)));
	json_object_object_add(r, "warnings", warnings);
	json_object_object_add(r, "conflicts", policyctl_conflicts(ctx));
	server_call_reply(call, r, false);
}

static void method_get_status(struct hd_context *ctx, struct server_call *call,
			      json_object *params)
{
	struct monitor_stats st = { 0 };
	json_object *r = json_object_new_object();
	struct server *s = server_call_server(call);

	if (ctx->monitor)
		monitor_get_stats(ctx->monitor, &st);
	json_object_object_add(r, "version", json_object_new_string(HOSTDEVD_VERSION));
	json_object_object_add(r, "uptime_seconds", uptime(ctx));
	json_object_object_add(r, "devices", device_counts(ctx->devices));
	json_object_object_add(r, "event_source",
			       json_object_new_string(ctx->monitor ? monitor_source_name(st.source)
								   : "none"));
	add_u64(r, "events_received", st.events_received);
	add_u64(r, "overflows", st.overflows);
	add_u64(r, "resyncs", st.resyncs);
	add_u64(r, "sequence", server_sequence(s));
	add_u64(r, "clients", server_client_count(s));
	add_u64(r, "watchers", server_watcher_count(s));
	json_object_object_add(r, "log_level",
			       json_object_new_string(log_level_name(log_current_level)));
	add_claims_status(ctx, r);
	server_call_reply(call, r, false);
}

/* ---- CheckPolicy ------------------------------------------------------ */

/* What the policy says of a device for a claim, and why: every rule
 * before the deciding one with the condition that did not fit. */
static void method_check_policy(struct hd_context *ctx, struct server_call *call,
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
	dev = resolve_device(ctx, call, sel);
	if (!dev) {
		json_object_put(lines);
		return;
	}
	pol = ctx->policy ? ctx->policy : (fallback = policy_default());
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
	add_decision(r, &d);
	json_object_object_add(r, "explanation", lines);
	server_call_reply(call, r, false);
	free(text);
	policy_free(fallback);
}

/* ---- Reset ------------------------------------------------------------ */

static void on_reset_done(const struct detach_result *r, void *arg)
{
	struct detach_call *dc = arg;
	const struct device *dev = devtable_get(dc->ctx->devices, r->device);

	if (r->status != DETACH_OK) {
		server_call_error(dc->call, r->error, detach_error_params(r));
	} else if (!dev) {
		reply_error_string(dc->call, "io.hostdevd.DeviceNotFound", "device", r->device);
	} else {
		char *const *m = dev->pci.reset_methods;
		json_object *p = json_object_new_object();
		size_t n = 0;

		while (m && m[n])
			n++;
		json_object_object_add(p, "device", json_object_new_string(r->device));
		json_object_object_add(p, "methods", string_array((const char *const *)m, n));
		server_call_reply(dc->call, p, false);
	}
	server_call_unref(dc->call);
	free(dc);
}

/* A claimed device belongs to its owner: only a call naming that owner may
 * reset it (a hypervisor resetting its own guest's device).  Answers the call
 * and returns true when refused. */
static bool refuse_reset_claimed(struct hd_context *ctx, struct server_call *call,
				 const char *id, const struct claim_owner *owner)
{
	const struct claim_entry *e;

	switch (claim_blocks(ctx->claim, id, &e)) {
	case CLAIM_IN_USE:
		if (owner && claim_owned_by(e, owner))
			return false;
		reply_in_use(call, e);
		return true;
	case CLAIM_BUSY:
		reply_busy(call, id, e->phase == CLAIM_RELEASING ? "Release" : "Claim");
		return true;
	default:
		return false;
	}
}

static void method_reset(struct hd_context *ctx, struct server_call *call, json_object *params)
{
	struct claim_owner owner;
	json_object *o = NULL;
	const char *sel = NULL;
	struct device *dev;

	json_object_object_get_ex(params, "owner", &o);
	if (o && !owner_parse(params, &owner)) {
		reply_invalid_parameter(call, "owner");
		return;
	}
	vl_param_string(params, "device", &sel);
	dev = resolve_device(ctx, call, sel);
	if (dev && !refuse_reset_claimed(ctx, call, dev->id, o ? &owner : NULL))
		reset_start(ctx->detach, dev->id, on_reset_done, detach_call_new(ctx, call));
}

/* ---- the table -------------------------------------------------------- */

static const struct param_def interface_params[] = {
	{ "interface", PARAM_STRING, true },
	{ NULL },
};

static const struct param_def list_params[] = {
	{ "bus", PARAM_STRING, false },
	{ "driver", PARAM_STRING, false },
	{ "iommu_group", PARAM_INT, false },
	{ "state", PARAM_STRING, false },
	{ NULL },
};

static const struct param_def device_params[] = {
	{ "device", PARAM_STRING, true },
	{ NULL },
};

static const struct param_def detach_params[] = {
	{ "device", PARAM_STRING, true },
	{ "driver", PARAM_STRING, false },
	{ NULL },
};

static const struct param_def claim_params[] = {
	{ "owner", PARAM_OBJECT, true },
	{ "devices", PARAM_ARRAY, true },
	{ "managed", PARAM_BOOL, false },
	{ "whole_group", PARAM_BOOL, false },
	{ "driver", PARAM_STRING, false },
	{ "unbind_interfaces", PARAM_BOOL, false },
	{ NULL },
};

static const struct param_def release_params[] = {
	{ "owner", PARAM_OBJECT, true },
	{ "devices", PARAM_ARRAY, false },
	{ NULL },
};

static const struct param_def reset_params[] = {
	{ "device", PARAM_STRING, true },
	{ "owner", PARAM_OBJECT, false },
	{ NULL },
};

static const struct param_def list_claims_params[] = {
	{ "driver", PARAM_STRING, false },
	{ "domain", PARAM_STRING, false },
	{ NULL },
};

static const struct method_def builtin_methods[] = {
	{ SERVICE_INTERFACE ".GetInfo", method_get_info, PERM_LIST, METHOD_ANY_PEER, NULL },
	{ SERVICE_INTERFACE ".GetInterfaceDescription", method_get_interface_description,
	  PERM_LIST, METHOD_ANY_PEER, interface_params },
	{ HOSTDEVD_INTERFACE ".ListDevices", method_list_devices, PERM_LIST, 0, list_params },
	{ HOSTDEVD_INTERFACE ".GetDevice", method_get_device, PERM_LIST, 0, device_params },
	{ HOSTDEVD_INTERFACE ".Watch", method_watch, PERM_WATCH, METHOD_NEEDS_MORE, NULL },
	{ HOSTDEVD_INTERFACE ".GetStatus", method_get_status, PERM_LIST, 0, NULL },
	{ HOSTDEVD_INTERFACE ".CheckPolicy", method_check_policy, PERM_LIST, 0, device_params },
	{ HOSTDEVD_INTERFACE ".ReloadPolicy", method_reload_policy, PERM_ADMIN, 0, NULL },
	{ HOSTDEVD_INTERFACE ".Detach", method_detach, PERM_DETACH, 0, detach_params },
	{ HOSTDEVD_INTERFACE ".Reattach", method_reattach, PERM_DETACH, 0, device_params },
	{ HOSTDEVD_INTERFACE ".Claim", method_claim, PERM_CLAIM, 0, claim_params },
	{ HOSTDEVD_INTERFACE ".Release", method_release, PERM_RELEASE, 0, release_params },
	{ HOSTDEVD_INTERFACE ".ListClaims", method_list_claims, PERM_LIST, 0, list_claims_params },
	{ HOSTDEVD_INTERFACE ".Reset", method_reset, PERM_RESET, 0, reset_params },
};

const struct method_def *methods_table(size_t *n)
{
	*n = ARRAY_SIZE(builtin_methods);
	return builtin_methods;
}

/* ---- dispatch --------------------------------------------------------- */

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

	if (!dot || dot == method || !dot[1]) {
		reply_error_string(call, "io.hostdevd.InvalidRequest", "reason",
				   "the method is not named interface.Method");
		return;
	}
	if (!interface_find(method, (size_t)(dot - method))) {
		_cleanup_free_ char *iface = strndup(method, (size_t)(dot - method));

		reply_error_string(call, "org.varlink.service.InterfaceNotFound", "interface",
				   iface ? iface : "");
		return;
	}
	reply_error_string(call, "org.varlink.service.MethodNotFound", "method", method);
}

static bool permitted(struct hd_context *ctx, const struct method_def *m,
		      struct server_call *call)
{
	const struct hd_peer *peer = server_call_peer(call);
	_cleanup_free_ char *reason = NULL;

	if ((m->flags & METHOD_ANY_PEER) || peer_has_permission(ctx, peer, m->perm))
		return true;
	reason = xasprintf("uid %d lacks permission %s", (int)peer->uid,
			   permission_name(m->perm));
	log_info("client pid %d: %s for %s", (int)peer->pid, reason, m->name);
	server_call_error(call, "io.hostdevd.PermissionDenied",
			  permission_denied_params(m->name, m->perm, reason));
	return false;
}

void methods_dispatch(const struct method_def *table, size_t n, struct hd_context *ctx,
		      struct server_call *call, const struct vl_call *vc)
{
	const struct method_def *m = method_find(table, n, vc->method);
	const char *bad;

	if (!m) {
		reply_unknown_method(call, vc->method);
	} else if (!permitted(ctx, m, call)) {
		/* answered */
	} else if ((m->flags & METHOD_NEEDS_MORE) && (!vc->more || vc->oneway)) {
		server_call_error(call, "org.varlink.service.ExpectedMore", NULL);
	} else if (vc->upgrade) {
		/* No method of ours hands the connection over to another protocol. */
		reply_invalid_parameter(call, "upgrade");
	} else if ((bad = params_check(m->params, vc->parameters))) {
		reply_invalid_parameter(call, bad);
	} else {
		log_debug("client pid %d: %s", (int)server_call_peer(call)->pid, m->name);
		m->handler(ctx, call, vc->parameters);
	}
}
