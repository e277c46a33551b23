#include "daemon/watch.h"
#include "common/jsonbuf.h"
#include "common/util.h"
#include "daemon/devjson.h"
#include "daemon/server.h"

struct watch {
	const struct devtable *devices;
	const struct claims *claims;
	struct hwdb *names;
	struct server *server;
	uint64_t sequence;
};

struct watch *watch_new(const struct devtable *t, const struct claims *c, struct hwdb *names)
{
	struct watch *w = xcalloc(1, sizeof(*w));

	w->devices = t;
	w->claims = c;
	w->names = names;
	return w;
}

void watch_free(struct watch *w)
{
	free(w);
}

void watch_set_server(struct watch *w, struct server *s)
{
	w->server = s;
}

uint64_t watch_sequence(const struct watch *w)
{
	return w->sequence;
}

/* Whether anyone listens: the next number is taken either way, so a gap
 * means something was missed, never that nothing was said. */
static bool next_sequence(struct watch *w)
{
	w->sequence++;
	return w->server != NULL;
}

static void send_text(struct watch *w, struct jsonbuf *b)
{
	server_broadcast(w->server, b->data, b->len, w->sequence - 1);
	free(b->data);
}

void watch_device_event(struct watch *w, enum dev_event ev, const struct device *dev,
			const char *detail)
{
	struct jsonbuf b = { 0 };

	if (!next_sequence(w))
		return;
	JSONBUF_LIT(&b, "{\"parameters\":{\"sequence\":");
	jsonbuf_int(&b, (int64_t)w->sequence);
	JSONBUF_LIT(&b, ",\"event\":");
	devjson_append_event(&b, w->devices, w->claims, w->names, ev, dev, detail);
	/* And the message's NUL. */
	jsonbuf_add(&b, "},\"continues\":true}", sizeof("},\"continues\":true}"));
	send_text(w, &b);
}

void watch_listener(enum dev_event ev, const struct device *dev, const char *detail, void *arg)
{
	watch_device_event(arg, ev, dev, detail);
}

/* A reply of {sequence, key: value} to every watcher; value is taken. */
static void send_one(struct watch *w, const char *key, json_object *value)
{
	json_object *p;
	size_t len;
	char *msg;

	if (!next_sequence(w)) {
		json_object_put(value);
		return;
	}
	p = json_object_new_object();
	json_object_object_add(p, "sequence", json_object_new_int64((int64_t)w->sequence));
	json_object_object_add(p, key, value);
	msg = vl_format_reply(p, true, &len);
	json_object_put(p);
	server_broadcast(w->server, msg, len, w->sequence - 1);
	free(msg);
}

void watch_resync(struct watch *w)
{
	send_one(w, "resync", json_object_new_boolean(1));
}

static void add_str(json_object *o, const char *key, const char *v)
{
	if (v)
		json_object_object_add(o, key, json_object_new_string(v));
}

void watch_policy_notice(const struct automate_notice *n, void *arg)
{
	const struct policy_decision *d = n->decision;
	const struct detach_result *r = n->result;
	json_object *o = json_object_new_object();

	devjson_add_decision(o, d);
	add_str(o, "device", n->device);
	if (d->action == POLICY_ASSIGN) {
		json_object *owner = json_object_new_object();

		add_str(owner, "driver", d->owner_driver);
		add_str(owner, "domain", d->owner_domain);
		json_object_object_add(o, "owner", owner);
	}
	add_str(o, "outcome", r->err.code == HDE_OK ? "done" : "failed");
	if (r->err.code != HDE_OK) {
		add_str(o, "error", err_name(r->err.code));
		add_str(o, "reason", err_detail(&r->err));
	}
	send_one(arg, "policy", o);
}
