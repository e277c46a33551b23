/* Devices: ListDevices, GetDevice and Watch. */
#include "daemon/methods.h"
#include "common/jsonbuf.h"
#include "common/util.h"
#include "daemon/devjson.h"
#include "daemon/watch.h"
#include "engine/detach.h"
#include "state/bus.h"

#include <limits.h>

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

static bool device_filter_match(const struct device_filter *f, const struct claims *c,
				const struct device *dev)
{
	bool drifted;

	if (f->bus >= 0 && (int)dev->bus != f->bus)
		return false;
	/* The state as shown: a drifted device is listed as claimed. */
	if (f->state >= 0 && (int)devjson_state(c, dev, &drifted) != f->state)
		return false;
	if (f->driver && !streq(f->driver, dev->driver))
		return false;
	return f->group < 0 || device_iommu_group(dev) == f->group;
}

static void method_list_devices(struct methods_ctx *ctx, struct server_call *call,
				json_object *params)
{
	struct device_filter f;
	const char *bad = NULL;
	_cleanup_free_ struct device **devs = NULL;
	struct jsonbuf b = { 0 };
	size_t n, listed = 0;

	if (!device_filter_parse(params, &f, &bad)) {
		reply_invalid_parameter(call, bad);
		return;
	}
	n = devtable_sorted(ctx->devices, &devs);
	JSONBUF_LIT(&b, "{\"devices\":[");
	for (size_t i = 0; i < n; i++) {
		if (!device_filter_match(&f, ctx->claims, devs[i]))
			continue;
		if (listed++)
			JSONBUF_LIT(&b, ",");
		devjson_append_device(&b, ctx->devices, ctx->claims, ctx->names, devs[i]);
	}
	JSONBUF_LIT(&b, "]}");
	server_call_reply_text(call, b.data, b.len, false);
}

static void method_get_device(struct methods_ctx *ctx, struct server_call *call, json_object *params)
{
	const char *sel = NULL, *variant;
	struct device *dev;
	struct jsonbuf b = { 0 };

	vl_param_string(params, "device", &sel);
	dev = methods_resolve(ctx, call, sel, "device");
	if (!dev)
		return;
	JSONBUF_LIT(&b, "{\"device\":");
	devjson_append_device(&b, ctx->devices, ctx->claims, ctx->names, dev);
	/* Here only, not in every record a list or event carries: matching
	 * the aliases is a walk with fnmatch. */
	variant = ctx->detach ? detach_variant_of(ctx->detach, dev) : NULL;
	if (variant) {
		b.len--; /* the device's closing brace */
		JSONBUF_LIT(&b, ",\"vfio_variant\":");
		jsonbuf_string(&b, variant);
		JSONBUF_LIT(&b, "}");
	}
	JSONBUF_LIT(&b, "}");
	server_call_reply_text(call, b.data, b.len, false);
}

static void method_watch(struct methods_ctx *ctx, struct server_call *call, json_object *params)
{
	json_object *r = json_object_new_object();

	server_call_watch(call);
	json_object_object_add(r, "sequence",
			       json_object_new_int64((int64_t)watch_sequence(ctx->watch)));
	server_call_reply(call, r, true);
}


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

const struct method_def device_methods[] = {
	{ "io.hostdevd.ListDevices", method_list_devices, PERM_LIST, 0, list_params },
	{ "io.hostdevd.GetDevice", method_get_device, PERM_LIST, 0, device_params },
	{ "io.hostdevd.Watch", method_watch, PERM_WATCH, METHOD_NEEDS_MORE, NULL },
	{ NULL },
};
