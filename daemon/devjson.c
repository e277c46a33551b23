#include "daemon/devjson.h"
#include "common/log.h"
#include "common/util.h"
#include "state/bus.h"

#include <string.h>
#include <time.h>

static const struct device *next_child(const struct device *dev)
{
	return dev->child_next;
}

/* The schema's Lease, as a member "lease", when the claim has one. */
static void append_lease(struct jsonbuf *b, const struct claim_entry *e)
{
	if (e->lease.pid <= 0)
		return;
	JSONBUF_KEY(b, "lease");
	JSONBUF_LIT(b, "{\"pid\":");
	jsonbuf_int(b, (int64_t)e->lease.pid);
	JSONBUF_LIT(b, ",\"on_exit\":");
	jsonbuf_string(b, e->lease.keep ? "keep" : "release");
	JSONBUF_LIT(b, ",\"ended\":");
	jsonbuf_bool(b, e->lease_ended);
	JSONBUF_LIT(b, "}");
}

/* The owner holding the device, or moving it for a claim or release.  An
 * entry about to go (a release's last state change comes before the entry
 * is dropped) is not shown beside a settled state. */
static void append_holder(struct jsonbuf *b, const struct claims *c, const struct device *dev)
{
	const struct claim_entry *e = c ? claims_find(c, dev->id) : NULL;

	if (!e || (e->phase != CLAIM_HELD && dev->state != DEV_DETACHING &&
		   dev->state != DEV_RELEASING))
		return;
	JSONBUF_KEY(b, "claim");
	JSONBUF_LIT(b, "{\"driver\":");
	jsonbuf_string(b, e->driver);
	JSONBUF_KEY(b, "domain");
	jsonbuf_string(b, e->domain);
	JSONBUF_OPT_STRING(b, "uuid", e->uuid);
	JSONBUF_LIT(b, "}");
	append_lease(b, e);
}

enum dev_state devjson_state(const struct claims *c, const struct device *dev, bool *drifted)
{
	const struct claim_entry *e = c ? claims_find(c, dev->id) : NULL;

	*drifted = e && e->phase == CLAIM_HELD && dev->state == DEV_HOST;
	return *drifted ? DEV_CLAIMED : dev->state;
}

void devjson_append_device(struct jsonbuf *b, const struct devtable *t,
			   const struct claims *c, struct hwdb *names, const struct device *dev)
{
	bool drifted;
	enum dev_state state = devjson_state(c, dev, &drifted);
	const char *vendor_name, *product_name;

	JSONBUF_LIT(b, "{\"bus\":");
	jsonbuf_string(b, bus_of(dev)->name);
	JSONBUF_KEY(b, "id");
	jsonbuf_string(b, dev->id);
	/* Required by the schema: a record built without one still validates. */
	JSONBUF_KEY(b, "syspath");
	jsonbuf_string(b, dev->syspath ? dev->syspath : "");
	JSONBUF_KEY(b, "state");
	jsonbuf_string(b, dev_state_name(state));
	if (drifted)
		JSONBUF_LIT(b, ",\"drifted\":true");
	JSONBUF_KEY(b, "vendor");
	jsonbuf_hex(b, dev->vendor, 4);
	JSONBUF_KEY(b, "product");
	jsonbuf_hex(b, dev->product, 4);
	hwdb_names(names, dev, &vendor_name, &product_name);
	JSONBUF_OPT_STRING(b, "vendor_name", vendor_name);
	JSONBUF_OPT_STRING(b, "product_name", product_name);
	JSONBUF_OPT_STRING(b, "driver", dev->driver);
	JSONBUF_OPT_STRING(b, "original_driver", dev->original_driver);
	append_holder(b, c, dev);
	JSONBUF_OPT_STRING(b, "parent", dev->parent);
	JSONBUF_KEY(b, "children");
	bus_json_sorted_ids(b, devtable_children_first(t, dev->id), next_child);
	if (dev->numa_node != HD_NO_NUMA) {
		JSONBUF_KEY(b, "numa_node");
		jsonbuf_int(b, dev->numa_node);
	}
	/* The bus's own part, under its name. */
	JSONBUF_LIT(b, ",");
	jsonbuf_string(b, bus_of(dev)->name);
	JSONBUF_LIT(b, ":");
	bus_of(dev)->append_json(b, t, dev);
	JSONBUF_LIT(b, "}");
}

void devjson_append_event(struct jsonbuf *b, const struct devtable *t,
			  const struct claims *c, struct hwdb *names, enum dev_event ev, const struct device *dev,
			  const char *detail)
{
	JSONBUF_LIT(b, "{\"event\":");
	jsonbuf_string(b, dev_event_name(ev));
	JSONBUF_KEY(b, "id");
	jsonbuf_string(b, dev->id);
	JSONBUF_OPT_STRING(b, "interface", detail);
	JSONBUF_KEY(b, "device");
	devjson_append_device(b, t, c, names, dev);
	JSONBUF_LIT(b, "}");
}

static json_object *parse_own(struct jsonbuf *b)
{
	json_object *obj;

	jsonbuf_add(b, "", 1);
	obj = json_tokener_parse(b->data);
	if (!obj)
		fatal("devjson wrote JSON that does not parse: %s", b->data);
	free(b->data);
	return obj;
}

json_object *devjson_device(const struct devtable *t, const struct claims *c, struct hwdb *names,
			    const struct device *dev)
{
	struct jsonbuf b = { 0 };

	devjson_append_device(&b, t, c, names, dev);
	return parse_own(&b);
}

json_object *devjson_event(const struct devtable *t, const struct claims *c, struct hwdb *names,
			   enum dev_event ev, const struct device *dev, const char *detail)
{
	struct jsonbuf b = { 0 };

	devjson_append_event(&b, t, c, names, ev, dev, detail);
	return parse_own(&b);
}

static void append_since(struct jsonbuf *b, int64_t since)
{
	time_t t = (time_t)since;
	struct tm tm;
	char text[32];

	gmtime_r(&t, &tm);
	strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
	jsonbuf_string(b, text);
}

/* The schema's ClaimEntry; dev (NULL when absent) gives a PCI function's
 * `driver`: the stub it is on, a variant's name when the engine chose one. */
void devjson_append_claim(struct jsonbuf *b, const struct claim_entry *e,
			  const struct device *dev)
{
	JSONBUF_LIT(b, "{\"device\":");
	jsonbuf_string(b, e->device);
	JSONBUF_LIT(b, ",\"owner\":{\"driver\":");
	jsonbuf_string(b, e->driver);
	JSONBUF_LIT(b, ",\"domain\":");
	jsonbuf_string(b, e->domain);
	if (e->uuid) {
		JSONBUF_LIT(b, ",\"uuid\":");
		jsonbuf_string(b, e->uuid);
	}
	JSONBUF_LIT(b, "},\"managed\":");
	jsonbuf_bool(b, e->managed);
	if (e->from_pool)
		JSONBUF_LIT(b, ",\"from_pool\":true");
	if (dev && dev->bus == HD_BUS_PCI)
		JSONBUF_OPT_STRING(b, "driver", dev->driver);
	if (e->n_unbound) {
		JSONBUF_LIT(b, ",\"unbound_interfaces\":[");
		for (size_t i = 0; i < e->n_unbound; i++) {
			if (i)
				JSONBUF_LIT(b, ",");
			JSONBUF_LIT(b, "{\"interface\":");
			jsonbuf_string(b, e->unbound[i].iface);
			JSONBUF_LIT(b, ",\"driver\":");
			jsonbuf_string(b, e->unbound[i].driver);
			JSONBUF_LIT(b, "}");
		}
		JSONBUF_LIT(b, "]");
	}
	JSONBUF_LIT(b, ",\"uid\":");
	jsonbuf_int(b, (int64_t)e->cred.uid);
	JSONBUF_LIT(b, ",\"gid\":");
	jsonbuf_int(b, (int64_t)e->cred.gid);
	JSONBUF_LIT(b, ",\"pid\":");
	jsonbuf_int(b, (int64_t)e->cred.pid);
	JSONBUF_LIT(b, ",\"since\":");
	append_since(b, e->since);
	append_lease(b, e);
	JSONBUF_OPT_STRING(b, "node_owner", e->node_owner);
	JSONBUF_LIT(b, "}");
}

/* A policy decision's where and what: action, and for a rule its number
 * (from 1), file and line. */
void devjson_add_decision(json_object *p, const struct policy_decision *d)
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

