#include "engine/restore.h"
#include "common/log.h"
#include "common/util.h"
#include "engine/bus.h"
#include "engine/nodeowner.h"
#include "state/bus.h"
#include "state/snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One reading of the document. */
struct restore_run {
	const struct restore_config *cfg;
	/* The VFIO nodes recorded by claims that do not survive the restart:
	 * given back once every claim that does is in the table (a group's
	 * node stays with a claim that still records it).  Names borrowed
	 * from the document. */
	struct claim_node *gone;
	size_t n_gone;
};

static void nodes_gone(struct restore_run *run, const struct snapshot_claim *c)
{
	if (!c->n_nodes)
		return;
	run->gone = xrealloc(run->gone, (run->n_gone + c->n_nodes) * sizeof(*run->gone));
	memcpy(&run->gone[run->n_gone], c->nodes, c->n_nodes * sizeof(*c->nodes));
	run->n_gone += c->n_nodes;
}

/* A kept claim's nodes, those whose names are hostdevd's. */
static void restore_nodes(struct claim_entry *e, const struct snapshot_claim *c)
{
	for (size_t i = 0; i < c->n_nodes; i++) {
		if (vfionode_name_valid(c->nodes[i].name))
			claim_node_add(e, &c->nodes[i]);
		else
			log_dev_warn(c->device, "restart: a VFIO node named \"%s\" in the state file is "
						"not one hostdevd hands over: forgotten",
				     c->nodes[i].name);
	}
	e->node_owner = xstrdup(c->node_owner);
}

static void on_undone(const struct detach_result *r, void *arg)
{
	if (r->err.code == HDE_OK)
		log_dev_info(r->device, "restart: back on %s", r->driver ? r->driver : "no driver");
	else
		log_dev_warn(r->device, "restart: could not reattach it: %s", err_text(&r->err));
}

static bool same_device(const struct snapshot_claim *c, const struct device *dev)
{
	return device_is(dev, c->vendor, c->product, c->serial);
}

/* A claim that was never acknowledged, or a release under way: the device
 * goes back to its host driver if hostdevd had moved it. */
static void undo(const struct restore_config *cfg, const struct snapshot_claim *c,
		 struct device *dev, const char *why)
{
	/* Taken from the pool: hostdevd moved nothing, and it stays there. */
	if (c->from_pool && dev && same_device(c, dev) && driver_is_stub(dev->driver)) {
		device_pool_enter(dev, c->original_driver);
		log_dev_info(c->device, "restart: %s; back in the detached pool", why);
		return;
	}
	if (!dev || !c->managed || !same_device(c, dev) ||
	    !bus_engine_of(dev)->undo(cfg->detach, dev, c->stub, c->original_driver, why,
				      on_undone, NULL))
		log_dev_info(c->device, "restart: %s; nothing to undo on the device", why);
}

static void restore_unbound(struct claim_entry *e, const struct snapshot_claim *c)
{
	if (!c->n_unbound)
		return;
	e->unbound = xcalloc(c->n_unbound + 1, sizeof(*e->unbound));
	for (size_t i = 0; i < c->n_unbound; i++) {
		e->unbound[i].iface = xstrdup(c->unbound[i].iface);
		e->unbound[i].driver = xstrdup(c->unbound[i].driver);
	}
	e->n_unbound = c->n_unbound;
}

/* A held claim: kept, whatever became of the device, unless another device
 * now sits at its address. */
static void restore_held(struct restore_run *run, const struct snapshot_claim *c,
			 struct device *dev)
{
	const struct restore_config *cfg = run->cfg;
	struct claim_entry *e;

	if (dev && !same_device(c, dev)) {
		log_dev_warn(c->device, "restart: now %04x:%04x, not the %04x:%04x claimed: another "
					"device, which inherits nothing; claim dropped",
			     dev->vendor, dev->product, c->vendor, c->product);
		nodes_gone(run, c);
		return;
	}
	e = claims_reserve(cfg->claims, c->device, &c->owner, c->managed, &c->cred);
	claim_set_phase(e, CLAIM_HELD, "restored");
	e->since = c->since;
	e->vendor = c->vendor;
	e->product = c->product;
	e->serial = xstrdup(c->serial);
	e->stub = xstrdup(c->stub);
	e->lease = c->lease;
	e->lease_ended = c->lease_ended;
	e->from_pool = c->from_pool;
	restore_unbound(e, c);
	restore_nodes(e, c);
	if (!dev) {
		log_dev_warn(c->device, "restart: claimed by %s/%s but not present: kept as missing",
			     c->owner.driver, c->owner.domain);
		return;
	}
	/* A managed claim's device was moved by hostdevd, so after the
	 * release it belongs to the pool until reattached; an unmanaged one
	 * did if it had an original driver recorded. */
	if (c->managed || c->original_driver)
		device_pool_enter(dev, c->original_driver);
	if (bus_engine_of(dev)->in_place(e, dev)) {
		devtable_set_state(cfg->devices, dev, DEV_CLAIMED, "claim restored");
		log_dev_info(c->device, "restart: claimed by %s/%s", c->owner.driver,
			     c->owner.domain);
	} else {
		log_dev_warn(c->device, "restart: claimed by %s/%s but on %s, not a stub: drifted "
					"back to the host; the claim is kept",
			     c->owner.driver, c->owner.domain, dev->driver ? dev->driver : "no driver");
	}
}

static void on_claim(const struct snapshot_claim *c, void *arg)
{
	struct restore_run *run = arg;
	const struct restore_config *cfg = run->cfg;
	struct device *dev = devtable_get(cfg->devices, c->device);

	if (claims_find(cfg->claims, c->device))
		return;
	if (c->phase == CLAIM_HELD && claim_owner_invalid(&c->owner)) {
		/* A hand-edited file: the owner is not one a request could give,
		 * and is not logged (it may hold a newline).  The device stays
		 * where it is; on a stub it joins the pool.  An unfinished claim
		 * or release is undone below whatever its owner: that needs
		 * none. */
		log_dev_warn(c->device, "restart: the claim's owner %s in the state file is not "
					"valid: claim forgotten, the device left where it is",
			     claim_owner_invalid(&c->owner));
		if (dev && driver_is_stub(dev->driver) && (c->managed || c->original_driver))
			device_pool_enter(dev, c->original_driver);
		nodes_gone(run, c);
		return;
	}
	if (c->phase == CLAIM_HELD) {
		restore_held(run, c, dev);
		return;
	}
	nodes_gone(run, c);
	if (c->phase == CLAIM_RELEASING)
		undo(cfg, c, dev, "a release was under way");
	else
		undo(cfg, c, dev, "a claim was never acknowledged");
}

static void on_pool(const struct snapshot_pool *p, void *arg)
{
	const struct restore_config *cfg = ((const struct restore_run *)arg)->cfg;
	struct device *dev = devtable_get(cfg->devices, p->device);

	if (claims_find(cfg->claims, p->device))
		return;
	if (!dev || !device_is(dev, p->vendor, p->product, NULL) ||
	    !driver_is_stub(dev->driver)) {
		log_dev_info(p->device, "restart: was in the detached pool, is not now: forgotten");
		return;
	}
	device_pool_enter(dev, p->original_driver);
	log_dev_info(p->device, "restart: in the detached pool (original driver %s)",
		     dev->original_driver ? dev->original_driver : "none");
}

/* On a stub with no record: put there by someone else or a crash.  The
 * policy's, when it would detach it there itself (the generated udev rules
 * did at boot: cfg->adopt); else kept and reported (GetStatus), or with
 * --orphans reattach handed to whichever host driver the kernel binds (no
 * original driver is known). */
static void report_orphans(const struct restore_config *cfg)
{
	for (size_t i = 0; i < devtable_count(cfg->devices); i++) {
		const struct device *dev = devtable_at(cfg->devices, i);

		if (!bus_of(dev)->stub_drivers || !driver_is_stub(dev->driver) || dev->pooled ||
		    claims_find(cfg->claims, dev->id) || dev->state != DEV_DETACHED)
			continue;
		if (cfg->adopt && cfg->adopt((struct device *)dev, cfg->adopt_ctx))
			continue;
		if (!cfg->reattach_orphans) {
			log_dev_info(dev->id, "on %s with no record of hostdevd's (libvirt, "
					      "driverctl, vfio-pci.ids or a crash): kept",
				     dev->driver);
			continue;
		}
		log_dev_info(dev->id, "on %s with no record of hostdevd's: reattaching it "
				      "(--orphans reattach)",
			     dev->driver);
		reattach_start(cfg->detach, dev->id, on_undone, NULL);
	}
}

int restore_state(const struct restore_config *cfg)
{
	struct restore_run run = { .cfg = cfg };
	json_object *body;
	char err[512];
	int r = persist_read(cfg->persist, &body, err, sizeof(err));

	/* A first start is every boot (the file lives under /run): exactly
	 * when vfio-pci.ids or driverctl have put devices on a stub. */
	if (r == -ENOENT) {
		log_info("no state at %s: a first start", persist_path(cfg->persist));
		report_orphans(cfg);
		return persist_save(cfg->persist, err, sizeof(err));
	}
	if (r < 0) {
		log_error("%s; move it aside to start without it (claims in it are then "
			  "forgotten)",
			  err);
		return r;
	}
	snapshot_read(body, on_claim, on_pool, &run);
	/* Before the loop turns: the nodes' owners as they were before the
	 * claims that are gone, while their names are still in the body. */
	nodeowner_give_back_now(cfg->nodes, run.gone, run.n_gone);
	free(run.gone);
	json_object_put(body);
	report_orphans(cfg);
	return persist_save(cfg->persist, err, sizeof(err));
}
