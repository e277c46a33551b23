#include "state/snapshot.h"
#include "common/stub.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- writing ------------------------------------------------------------ */

/* The document is written as text, one record a line: a save is on the
 * path of every claim, and building json-c objects for it cost more than
 * the write (bench_store).  The reader (store_read, json-c) takes any
 * layout. */
#define LIT(b, s) JSONBUF_LIT(b, s)

static void key_str(struct jsonbuf *b, const char *key, const char *val)
{
	if (!val)
		return;
	LIT(b, ", ");
	jsonbuf_string(b, key);
	LIT(b, ": ");
	jsonbuf_string(b, val);
}

static void key_int(struct jsonbuf *b, const char *key, int64_t val)
{
	LIT(b, ", ");
	jsonbuf_string(b, key);
	LIT(b, ": ");
	jsonbuf_int(b, val);
}

static void key_hex(struct jsonbuf *b, const char *key, uint32_t v)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%04x", v);
	key_str(b, key, buf);
}

/* The VFIO nodes the claim's uid owns, with the owner each goes back to. */
static void nodes_text(struct jsonbuf *b, const struct claim_entry *e)
{
	if (e->n_nodes) {
		LIT(b, ", \"vfio_nodes\": [");
		for (size_t i = 0; i < e->n_nodes; i++) {
			const struct claim_node *n = &e->nodes[i];

			if (i)
				LIT(b, ", ");
			LIT(b, "{\"node\": ");
			jsonbuf_string(b, n->name);
			key_int(b, "uid", n->uid);
			key_int(b, "original_uid", n->orig_uid);
			key_int(b, "original_gid", n->orig_gid);
			LIT(b, "}");
		}
		LIT(b, "]");
	}
	key_str(b, "node_owner", e->node_owner);
}

static void claim_text(struct jsonbuf *b, const struct claim_entry *e, const struct device *dev)
{
	LIT(b, "    {\"device\": ");
	jsonbuf_string(b, e->device);
	key_str(b, "phase", claim_phase_name(e->phase));
	LIT(b, ", \"owner\": {\"driver\": ");
	jsonbuf_string(b, e->driver);
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
	if (e->from_pool)
		LIT(b, ", \"from_pool\": true");
	/* The driver to give it back to: the record's while it is detached. */
	key_str(b, "original_driver", dev ? dev->original_driver : NULL);
	if (e->n_unbound) {
		LIT(b, ", \"unbound_interfaces\": [");
		for (size_t i = 0; i < e->n_unbound; i++) {
			if (i)
				LIT(b, ", ");
			LIT(b, "{\"interface\": ");
			jsonbuf_string(b, e->unbound[i].iface);
			key_str(b, "driver", e->unbound[i].driver);
			LIT(b, "}");
		}
		LIT(b, "]");
	}
	key_int(b, "uid", e->cred.uid);
	key_int(b, "gid", e->cred.gid);
	key_int(b, "pid", e->cred.pid);
	key_int(b, "since", e->since);
	if (e->lease.pid > 0) {
		LIT(b, ", \"lease\": {\"pid\": ");
		jsonbuf_int(b, e->lease.pid);
		key_int(b, "start", (int64_t)e->lease.start);
		key_str(b, "on_exit", e->lease.keep ? "keep" : "release");
		if (e->lease_ended)
			LIT(b, ", \"ended\": true");
		LIT(b, "}");
	}
	nodes_text(b, e);
	LIT(b, "}");
}

static void pool_text(struct jsonbuf *b, const struct device *const *pool, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct device *dev = pool[i];

		if (i)
			LIT(b, ",");
		LIT(b, "\n    {\"device\": ");
		jsonbuf_string(b, dev->id);
		key_hex(b, "vendor", dev->vendor);
		key_hex(b, "product", dev->product);
		key_str(b, "driver", dev->driver);
		key_str(b, "original_driver", dev->original_driver);
		LIT(b, "}");
	}
	if (n)
		LIT(b, "\n  ");
}

void snapshot_write(struct jsonbuf *b, const struct claims *c, const struct devtable *t,
		    const struct device *const *pool, size_t n_pool)
{
	size_t n = claims_count(c);

	LIT(b, "  \"claims\": [");
	for (size_t i = 0; i < n; i++) {
		const struct claim_entry *e = claims_at(c, i);

		LIT(b, "\n");
		claim_text(b, e, devtable_get(t, e->device));
		if (i + 1 < n)
			LIT(b, ",");
	}
	if (n)
		LIT(b, "\n  ");
	LIT(b, "],\n  \"pool\": [");
	pool_text(b, pool, n_pool);
	LIT(b, "]");
}

/* ---- reading ------------------------------------------------------------ */

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

/* The interfaces a USB claim unbound; NULL when it unbound none. */
static struct iface_binding *unbound_at(json_object *rec, size_t *n)
{
	struct iface_binding *v;
	json_object *arr;

	*n = 0;
	if (!json_object_object_get_ex(rec, "unbound_interfaces", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return NULL;
	*n = json_object_array_length(arr);
	v = xcalloc(*n + 1, sizeof(*v));
	for (size_t i = 0; i < *n; i++) {
		json_object *b = json_object_array_get_idx(arr, i);

		v[i].iface = (char *)str_at(b, "interface");
		v[i].driver = (char *)str_at(b, "driver");
	}
	return v;
}

/* A lease is an optional member: a record without one (every file written
 * before leases) has none. */
static void read_lease(json_object *rec, struct snapshot_claim *c)
{
	json_object *lease;
	const char *on_exit;

	if (!json_object_object_get_ex(rec, "lease", &lease) ||
	    !json_object_is_type(lease, json_type_object) || int_at(lease, "pid") <= 0 ||
	    int_at(lease, "pid") > INT32_MAX)
		return;
	on_exit = str_at(lease, "on_exit");
	c->lease.pid = (pid_t)int_at(lease, "pid");
	c->lease.start = (uint64_t)int_at(lease, "start");
	c->lease.keep = on_exit && streq(on_exit, "keep");
	c->lease_ended = bool_at(lease, "ended");
}

/* The VFIO nodes a claim handed over (optional, like the lease); NULL when
 * none.  A record without a node name or an owner is skipped: a node is
 * given back only to an owner the file names. */
static struct claim_node *nodes_at(json_object *rec, size_t *n)
{
	struct claim_node *v;
	json_object *arr, *o;

	*n = 0;
	if (!json_object_object_get_ex(rec, "vfio_nodes", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return NULL;
	v = xcalloc(json_object_array_length(arr) + 1, sizeof(*v));
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *m = json_object_array_get_idx(arr, i);

		if (!str_at(m, "node") || !json_object_object_get_ex(m, "original_uid", &o) ||
		    !json_object_object_get_ex(m, "original_gid", &o) ||
		    !json_object_object_get_ex(m, "uid", &o))
			continue;
		v[*n] = (struct claim_node){
			.name = (char *)str_at(m, "node"),
			.uid = (uid_t)int_at(m, "uid"),
			.orig_uid = (uid_t)int_at(m, "original_uid"),
			.orig_gid = (gid_t)int_at(m, "original_gid"),
		};
		(*n)++;
	}
	return v;
}

/* A claim's stub as its driver name: older files may say "xen-pciback",
 * which no driver answers to (pciback does).  One hostdevd does not know
 * is kept as written. */
static const char *stub_at(json_object *o)
{
	const char *v = str_at(o, "stub"), *stub = stub_target(v);

	return stub ? stub : v;
}

static void read_claim(json_object *rec, void (*fn)(const struct snapshot_claim *, void *),
		       void *ctx)
{
	json_object *owner = NULL;
	struct snapshot_claim c = {
		.device = str_at(rec, "device"),
		.phase = claim_phase_from_name(str_at(rec, "phase")),
		.vendor = hex_at(rec, "vendor"),
		.product = hex_at(rec, "product"),
		.serial = str_at(rec, "serial"),
		.managed = bool_at(rec, "managed"),
		.from_pool = bool_at(rec, "from_pool"),
		.stub = stub_at(rec),
		.original_driver = str_at(rec, "original_driver"),
		.cred = { (uid_t)int_at(rec, "uid"), (gid_t)int_at(rec, "gid"),
			  (pid_t)int_at(rec, "pid") },
		.since = int_at(rec, "since"),
	};
	_cleanup_free_ struct iface_binding *unbound = unbound_at(rec, &c.n_unbound);
	_cleanup_free_ struct claim_node *nodes = nodes_at(rec, &c.n_nodes);

	json_object_object_get_ex(rec, "owner", &owner);
	c.owner = (struct claim_owner){ str_at(owner, "driver"), str_at(owner, "domain"),
					str_at(owner, "uuid") };
	c.unbound = unbound;
	c.nodes = nodes;
	c.node_owner = str_at(rec, "node_owner");
	read_lease(rec, &c);
	fn(&c, ctx);
}

static void read_pool(json_object *rec, void (*fn)(const struct snapshot_pool *, void *),
		      void *ctx)
{
	struct snapshot_pool p = {
		.device = str_at(rec, "device"),
		.vendor = hex_at(rec, "vendor"),
		.product = hex_at(rec, "product"),
		.original_driver = str_at(rec, "original_driver"),
	};

	fn(&p, ctx);
}

static json_object *array_at(json_object *body, const char *key)
{
	json_object *arr;

	return json_object_object_get_ex(body, key, &arr) &&
			       json_object_is_type(arr, json_type_array)
		       ? arr
		       : NULL;
}

void snapshot_read(json_object *body,
		   void (*on_claim)(const struct snapshot_claim *c, void *ctx),
		   void (*on_pool)(const struct snapshot_pool *p, void *ctx), void *ctx)
{
	json_object *claims = array_at(body, "claims"), *pool = array_at(body, "pool");

	for (size_t i = 0; claims && i < json_object_array_length(claims); i++) {
		json_object *rec = json_object_array_get_idx(claims, i);

		if (str_at(rec, "device"))
			read_claim(rec, on_claim, ctx);
	}
	for (size_t i = 0; pool && i < json_object_array_length(pool); i++) {
		json_object *rec = json_object_array_get_idx(pool, i);

		if (str_at(rec, "device"))
			read_pool(rec, on_pool, ctx);
	}
}
