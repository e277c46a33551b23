/* GetStatus: the daemon's counters, its claims, and what needs an
 * administrator's attention. */
#include "daemon/methods.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/policyctl.h"
#include "daemon/watch.h"
#include "engine/bus.h"
#include "engine/persist.h"
#include "monitor/monitor.h"
#include "state/bus.h"
#include "state/claims.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static json_object *device_counts(const struct devtable *t)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "total", json_object_new_int64((int64_t)devtable_count(t)));
	for (int bus = 0; bus < HD_BUS__COUNT; bus++)
		json_object_object_add(
			o, bus_desc((enum hd_bus)bus)->name,
			json_object_new_int64((int64_t)devtable_count_bus(t, (enum hd_bus)bus)));
	json_object_object_add(o, "host",
			       json_object_new_int64((int64_t)devtable_count_state(t, DEV_HOST)));
	json_object_object_add(
		o, "detached", json_object_new_int64((int64_t)devtable_count_state(t, DEV_DETACHED)));
	return o;
}

/* Milliseconds are plenty; json-c would print 17 digits of a double. */
static json_object *uptime(const struct methods_ctx *ctx)
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
static void add_policy_conflict(struct methods_ctx *ctx, const struct claim_entry *e,
				json_object *att)
{
	struct policy_decision d;
	char reason[160], detail[PATH_MAX + 256];

	if (!policyctl_conflict(methods_policy(ctx), ctx->devices, e, &d, reason, sizeof(reason)))
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
static void add_claims_status(struct methods_ctx *ctx, json_object *r)
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
		} else if (e->managed && !bus_engine_of(dev)->in_place(e, dev)) {
			snprintf(detail, sizeof(detail), "claimed by %s/%s, but on %s", e->driver,
				 e->domain, dev->driver ? dev->driver : "no driver");
			add_attention(att, e->device, "drifted", detail);
		}
		if (e->lease_ended) {
			snprintf(detail, sizeof(detail),
				 "claimed by %s/%s; the process %ld its claim was tied to ended "
				 "(on_exit keep)",
				 e->driver, e->domain, (long)e->lease.pid);
			add_attention(att, e->device, "lease_ended", detail);
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
		if (!bus_of(dev)->stub_drivers || !driver_is_stub(dev->driver) || dev->pooled ||
		    !ctx->claims || claims_find(ctx->claims, dev->id))
			continue;
		snprintf(detail, sizeof(detail), "on %s with no record of hostdevd's", dev->driver);
		add_attention(att, dev->id, "orphan", detail);
	}
	json_object_array_sort(att, attention_cmp);
	methods_add_count(r, "claims", held);
	json_object_object_add(r, "attention", att);
	json_object_object_add(r, "state_file",
			       json_object_new_string(ctx->persist ? persist_path(ctx->persist) : ""));
}

static void method_get_status(struct methods_ctx *ctx, struct server_call *call,
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
	methods_add_count(r, "events_received", st.events_received);
	methods_add_count(r, "overflows", st.overflows);
	methods_add_count(r, "resyncs", st.resyncs);
	methods_add_count(r, "sequence", ctx->watch ? watch_sequence(ctx->watch) : 0);
	methods_add_count(r, "clients", server_client_count(s));
	methods_add_count(r, "watchers", server_watcher_count(s));
	json_object_object_add(r, "log_level",
			       json_object_new_string(log_level_name(log_current_level)));
	add_claims_status(ctx, r);
	server_call_reply(call, r, false);
}


const struct method_def status_methods[] = {
	{ "io.hostdevd.GetStatus", method_get_status, PERM_LIST, 0, NULL },
	{ NULL },
};
