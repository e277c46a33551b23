#include "engine/persist.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/context.h"
#include "engine/detach.h"
#include "daemon/devjson.h"
#include "state/store.h"
#include "engine/sysfs.h"
#include "state/claims.h"

#include <errno.h>
#include <limits.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct waiter {
	persist_done_fn done;
	void *arg;
};

struct persist {
	struct hd_context *ctx;
	struct store *store;
	struct event *ev;       /* runs the requested saves */
	struct waiter *waiters; /* requests since the last save */
	size_t n_waiters;
	bool scheduled;
	bool reattach_orphans;
	/* The pool's candidates (detached, with an original driver), found by
	 * a walk of the whole table only after a device changed: a save is on
	 * every claim's path, and at 10,000 devices the walk costs more than
	 * the write. */
	char **pool_ids;
	size_t n_pool;
	bool pool_stale;
};

static const char *const phase_names[] = {
	[CLAIM_RESERVED] = "reserved",
	[CLAIM_HELD] = "held",
	[CLAIM_RELEASING] = "releasing",
};

/* One save for every request so far; requests made by the callbacks go to
 * the next one. */
static void run_saves(struct persist *p)
{
	struct waiter *w = p->waiters;
	size_t n = p->n_waiters;
	char err[512] = "";
	int r;

	p->waiters = NULL;
	p->n_waiters = 0;
	p->scheduled = false;
	r = persist_save(p, err, sizeof(err));
	for (size_t i = 0; i < n; i++)
		if (w[i].done)
			w[i].done(r, err, w[i].arg);
	free(w);
}

static void on_save_event(evutil_socket_t fd, short what, void *arg)
{
	run_saves(arg);
}

void persist_request(struct persist *p, persist_done_fn done, void *arg)
{
	p->waiters = xrealloc(p->waiters, (p->n_waiters + 1) * sizeof(*p->waiters));
	p->waiters[p->n_waiters++] = (struct waiter){ done, arg };
	if (!p->scheduled) {
		p->scheduled = true;
		event_active(p->ev, EV_TIMEOUT, 0);
	}
}

void persist_flush(struct persist *p)
{
	while (p->n_waiters > 0) {
		event_del(p->ev);
		run_saves(p);
	}
}

struct persist *persist_new(struct hd_context *ctx, const char *state_dir, bool reattach_orphans)
{
	struct persist *p = xcalloc(1, sizeof(*p));

	p->ctx = ctx;
	p->reattach_orphans = reattach_orphans;
	p->pool_stale = true;
	p->store = store_new(state_dir);
	p->ev = event_new(ctx->base, -1, 0, on_save_event, p);
	if (!p->ev)
		fatal("out of memory");
	return p;
}

void persist_free(struct persist *p)
{
	if (!p)
		return;
	persist_flush(p);
	event_free(p->ev);
	for (size_t i = 0; i < p->n_pool; i++)
		free(p->pool_ids[i]);
	free(p->pool_ids);
	store_free(p->store);
	free(p);
}

const char *persist_path(const struct persist *p)
{
	return store_path(p->store);
}

/* ---- saving ------------------------------------------------------------- */

/* The document is written as text, one record a line: a save is on the
 * path of every claim, and building json-c objects for it cost more than
 * the write (bench_store).  The reader (store_read, json-c) takes any
 * layout. */
#define LIT(b, s) devjson_append(b, s, sizeof(s) - 1)

static void key_str(struct devjson_buf *b, const char *key, const char *val)
{
	if (!val)
		return;
	LIT(b, ", ");
	devjson_append_string(b, key);
	LIT(b, ": ");
	devjson_append_string(b, val);
}

static void key_int(struct devjson_buf *b, const char *key, int64_t val)
{
	LIT(b, ", ");
	devjson_append_string(b, key);
	LIT(b, ": ");
	devjson_append_int(b, val);
}

static void key_hex(struct devjson_buf *b, const char *key, uint32_t v)
{
	char buf[8];

	snprintf(buf, sizeof(buf), "%04x", v);
	key_str(b, key, buf);
}

static void claim_text(struct devjson_buf *b, const struct claim_entry *e,
		       const struct device *dev)
{
	LIT(b, "    {\"device\": ");
	devjson_append_string(b, e->device);
	key_str(b, "phase", phase_names[e->phase]);
	LIT(b, ", \"owner\": {\"driver\": ");
	devjson_append_string(b, e->driver);
	key_str(b, "domain", e->domain);
	key_str(b, "uuid", e->uuid);
	LIT(b, "}");
	key_hex(b, "vendor", e->vendor);
	key_hex(b, "product", e->product);
	key_str(b, "serial", e->serial);
	if (e->managed)
		LIT(b, ", \"managed\": true");
	else
		LIT(b, ", \"managed\": false");
	key_str(b, "stub", e->stub);
	/* The driver to give it back to: the record's while it is detached. */
	key_str(b, "original_driver", dev ? dev->original_driver : NULL);
	if (e->n_unbound) {
		LIT(b, ", \"unbound_interfaces\": [");
		for (size_t i = 0; i < e->n_unbound; i++) {
			if (i)
				LIT(b, ", ");
			LIT(b, "{\"interface\": ");
			devjson_append_string(b, e->unbound[i].iface);
			key_str(b, "driver", e->unbound[i].driver);
			LIT(b, "}");
		}
		LIT(b, "]");
	}
	key_int(b, "uid", e->cred.uid);
	key_int(b, "gid", e->cred.gid);
	key_int(b, "pid", e->cred.pid);
	key_int(b, "since", e->since);
	LIT(b, "}");
}

/* Devices hostdevd detached that nobody holds: their original driver is
 * what a later Reattach must bring back. */
static bool in_pool(const struct device *dev)
{
	return dev && dev->state == DEV_DETACHED && dev->original_driver;
}

void persist_devices_changed(struct persist *p)
{
	p->pool_stale = true;
}

static void pool_refresh(struct persist *p)
{
	const struct devtable *t = p->ctx->devices;

	for (size_t i = 0; i < p->n_pool; i++)
		free(p->pool_ids[i]);
	p->n_pool = 0;
	for (size_t i = 0; i < devtable_count(t); i++) {
		const struct device *dev = devtable_at(t, i);

		if (!in_pool(dev))
			continue;
		p->pool_ids = xrealloc(p->pool_ids, (p->n_pool + 1) * sizeof(*p->pool_ids));
		p->pool_ids[p->n_pool++] = xstrdup(dev->id);
	}
	p->pool_stale = false;
}

/* Candidates are checked again: a claim takes one without a device
 * change (the claim table decides). */
static void pool_text(struct devjson_buf *b, struct persist *p)
{
	const struct hd_context *ctx = p->ctx;
	bool first = true;

	if (p->pool_stale)
		pool_refresh(p);
	for (size_t i = 0; i < p->n_pool; i++) {
		const struct device *dev = devtable_get(ctx->devices, p->pool_ids[i]);

		if (!in_pool(dev) || claims_find(ctx->claims, dev->id))
			continue;
		if (!first)
			LIT(b, ",");
		first = false;
		LIT(b, "\n    {\"device\": ");
		devjson_append_string(b, dev->id);
		key_hex(b, "vendor", dev->vendor);
		key_hex(b, "product", dev->product);
		key_str(b, "driver", dev->driver);
		key_str(b, "original_driver", dev->original_driver);
		LIT(b, "}");
	}
	if (!first)
		LIT(b, "\n  ");
}

int persist_save(struct persist *p, char *err, size_t size)
{
	struct hd_context *ctx = p->ctx;
	struct devjson_buf b = { 0 };
	size_t n = claims_count(ctx->claims);
	int r;

	LIT(&b, "  \"claims\": [");
	for (size_t i = 0; i < n; i++) {
		const struct claim_entry *e = claims_at(ctx->claims, i);

		LIT(&b, "\n");
		claim_text(&b, e, devtable_get(ctx->devices, e->device));
		if (i + 1 < n)
			LIT(&b, ",");
	}
	if (n)
		LIT(&b, "\n  ");
	LIT(&b, "],\n  \"pool\": [");
	pool_text(&b, p);
	LIT(&b, "]");
	r = store_write(p->store, b.data, b.len, err, size);
	free(b.data);
	if (r < 0)
		log_error("state not saved: %s", err);
	return r;
}

/* ---- restoring ---------------------------------------------------------- */

static const char *str_at(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

static int64_t int_at(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static bool bool_at(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static uint32_t hex_at(json_object *o, const char *key)
{
	const char *s = str_at(o, key);

	return s ? (uint32_t)strtoul(s, NULL, 16) : 0;
}

static bool same_device(json_object *rec, const struct device *dev)
{
	return hex_at(rec, "vendor") == dev->vendor && hex_at(rec, "product") == dev->product &&
	       (dev->bus != HD_BUS_USB || streq(str_at(rec, "serial"), dev->usb.serial));
}

static void on_undone(const struct detach_result *r, void *arg)
{
	if (r->status == DETACH_OK)
		log_dev_info(r->device, "restart: back on %s", r->driver ? r->driver : "no driver");
	else
		log_dev_warn(r->device, "restart: could not reattach it: %s",
			     r->failure.message[0] ? r->failure.message : r->error);
}

/* Stopped between the writes of a detach: the override may still name the
 * stub, and the host driver may be unbound.  Both are quick attribute
 * writes, done here at start before anyone is served. */
static void undo_partial(struct device *dev, const char *stub, const char *why)
{
	char path[PATH_MAX];
	struct op_error err;

	if (stub && streq(dev->pci.driver_override, stub)) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", dev->id);
		if (sysfs_write("driver_override", path, "\n", &err) < 0)
			log_dev_warn(dev->id, "restart: %s: %s", why, err.message);
		else
			log_dev_info(dev->id, "restart: %s: driver_override %s cleared", why, stub);
	}
	if (!dev->driver) {
		if (sysfs_write("drivers_probe", "/sys/bus/pci/drivers_probe", dev->id, &err) < 0)
			log_dev_warn(dev->id, "restart: %s: %s", why, err.message);
		else
			log_dev_info(dev->id, "restart: %s: unbound, probed for its host driver", why);
	}
	if (dev->driver)
		log_dev_info(dev->id, "restart: %s; still on %s", why, dev->driver);
}

/* A claim that was never acknowledged, or a release under way: the device
 * goes back to its host driver if hostdevd had moved it to a stub. */
static void undo(struct persist *p, json_object *rec, struct device *dev, const char *why)
{
	const char *id = str_at(rec, "device"), *orig = str_at(rec, "original_driver");

	if (!dev || dev->bus != HD_BUS_PCI || !bool_at(rec, "managed") || !same_device(rec, dev)) {
		log_dev_info(id, "restart: %s; nothing to undo on the device", why);
		return;
	}
	if (driver_is_stub(dev->driver)) {
		log_dev_info(id, "restart: %s: reattaching it to %s", why,
			     orig ? orig : "its host driver");
		str_replace(&dev->original_driver, orig);
		reattach_start(p->ctx->detach, id, on_undone, NULL);
		return;
	}
	undo_partial(dev, str_at(rec, "stub"), why);
}

static void restore_unbound(struct claim_entry *e, json_object *rec)
{
	json_object *arr;
	size_t n;

	if (!json_object_object_get_ex(rec, "unbound_interfaces", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return;
	n = json_object_array_length(arr);
	e->unbound = xcalloc(n + 1, sizeof(*e->unbound));
	for (size_t i = 0; i < n; i++) {
		json_object *b = json_object_array_get_idx(arr, i);

		e->unbound[i].iface = xstrdup(str_at(b, "interface"));
		e->unbound[i].driver = xstrdup(str_at(b, "driver"));
	}
	e->n_unbound = n;
}

/* A held claim: kept, whatever became of the device, unless another device
 * now sits at its address. */
static void restore_held(struct persist *p, json_object *rec, struct device *dev)
{
	const char *id = str_at(rec, "device");
	json_object *owner_o = NULL;
	struct claim_owner owner;
	struct claim_cred cred;
	struct claim_entry *e;

	if (dev && !same_device(rec, dev)) {
		log_dev_warn(id, "restart: now %04x:%04x, not the %s:%s claimed: another device, "
				 "which inherits nothing; claim dropped",
			     dev->vendor, dev->product, str_at(rec, "vendor"), str_at(rec, "product"));
		return;
	}
	json_object_object_get_ex(rec, "owner", &owner_o);
	owner = (struct claim_owner){ str_at(owner_o, "driver"), str_at(owner_o, "domain"),
				      str_at(owner_o, "uuid") };
	cred = (struct claim_cred){ (uid_t)int_at(rec, "uid"), (gid_t)int_at(rec, "gid"),
				    (pid_t)int_at(rec, "pid") };
	e = claims_reserve(p->ctx->claims, id, &owner, bool_at(rec, "managed"), &cred);
	e->phase = CLAIM_HELD;
	e->since = int_at(rec, "since");
	e->vendor = hex_at(rec, "vendor");
	e->product = hex_at(rec, "product");
	e->serial = xstrdup(str_at(rec, "serial"));
	e->stub = xstrdup(str_at(rec, "stub"));
	restore_unbound(e, rec);
	if (!dev) {
		log_dev_warn(id, "restart: claimed by %s/%s but not present: kept as missing",
			     owner.driver, owner.domain);
		return;
	}
	if (dev->bus == HD_BUS_PCI)
		str_replace(&dev->original_driver, str_at(rec, "original_driver"));
	if (dev->bus == HD_BUS_USB || driver_is_stub(dev->driver)) {
		device_set_state(dev, DEV_CLAIMED, "claim restored");
		log_dev_info(id, "restart: claimed by %s/%s", owner.driver, owner.domain);
	} else {
		log_dev_warn(id, "restart: claimed by %s/%s but on %s, not a stub: drifted back to "
				 "the host; the claim is kept",
			     owner.driver, owner.domain, dev->driver ? dev->driver : "no driver");
	}
}

static void restore_pool(struct persist *p, json_object *rec)
{
	const char *id = str_at(rec, "device");
	struct device *dev = devtable_get(p->ctx->devices, id);

	if (!dev || !same_device(rec, dev) || !driver_is_stub(dev->driver) ||
	    claims_find(p->ctx->claims, id)) {
		log_dev_info(id, "restart: was in the detached pool, is not now: forgotten");
		return;
	}
	str_replace(&dev->original_driver, str_at(rec, "original_driver"));
	log_dev_info(id, "restart: in the detached pool (original driver %s)",
		     dev->original_driver ? dev->original_driver : "none");
}

/* On a stub with no record: put there by someone else or a crash.  Kept
 * and reported (GetStatus), or with --orphans reattach handed to whichever
 * host driver the kernel binds (no original driver is known). */
static void report_orphans(struct persist *p)
{
	for (size_t i = 0; i < devtable_count(p->ctx->devices); i++) {
		const struct device *dev = devtable_at(p->ctx->devices, i);

		if (dev->bus != HD_BUS_PCI || !driver_is_stub(dev->driver) ||
		    dev->original_driver || claims_find(p->ctx->claims, dev->id) ||
		    dev->state != DEV_DETACHED)
			continue;
		if (!p->reattach_orphans) {
			log_dev_info(dev->id, "on %s with no record of hostdevd's (libvirt, "
					      "driverctl, vfio-pci.ids or a crash): kept",
				     dev->driver);
			continue;
		}
		log_dev_info(dev->id, "on %s with no record of hostdevd's: reattaching it "
				      "(--orphans reattach)",
			     dev->driver);
		reattach_start(p->ctx->detach, dev->id, on_undone, NULL);
	}
}

static void restore_array(struct persist *p, json_object *body, const char *key, bool claims)
{
	json_object *arr;

	if (!json_object_object_get_ex(body, key, &arr) || !json_object_is_type(arr, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *rec = json_object_array_get_idx(arr, i);
		const char *id = str_at(rec, "device"), *phase = str_at(rec, "phase");
		struct device *dev = id ? devtable_get(p->ctx->devices, id) : NULL;

		if (!id || claims_find(p->ctx->claims, id))
			continue;
		if (!claims)
			restore_pool(p, rec);
		else if (streq(phase, "held"))
			restore_held(p, rec, dev);
		else if (streq(phase, "releasing"))
			undo(p, rec, dev, "a release was under way");
		else
			undo(p, rec, dev, "a claim was never acknowledged");
	}
}

int persist_restore(struct persist *p)
{
	json_object *body;
	char err[512];
	int r = store_read(p->store, &body, err, sizeof(err));

	if (r == -ENOENT) {
		log_info("no state at %s: a first start", store_path(p->store));
		return persist_save(p, err, sizeof(err));
	}
	if (r < 0) {
		log_error("%s; move it aside to start without it (claims in it are then "
			  "forgotten)",
			  err);
		return r;
	}
	restore_array(p, body, "claims", true);
	restore_array(p, body, "pool", false);
	json_object_put(body);
	report_orphans(p);
	return persist_save(p, err, sizeof(err));
}
