#include "engine/claim.h"
#include "engine/failpoint.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct claim_engine {
	struct devtable *devices;
	struct claims *claims;
	struct detach_engine *detach;
	void (*state_changed)(const struct device *dev, void *ctx);
	void *ctx;
	void (*save)(void *ctx, claim_saved_fn done, void *arg);
	void *save_ctx;
	const struct policy *policy;
	bool stopping;
};

/* One Claim or Release in flight. */
struct claim_op {
	struct claim_engine *ce;
	char *driver, *domain, *uuid; /* the owner */
	char **ids;
	size_t n, next;
	bool *skip;          /* claim: already held by this owner */
	bool *detached_here; /* claim: this request moved it to the stub */
	bool managed;
	char *stub;
	claim_done_fn done;
	void *ctx;
	/* The engine's failure, kept across the rollback. */
	struct detach_result failure;
	char failure_device[64], failure_reason[64];
	/* A claim whose acknowledgement could not be saved: rolled back, and
	 * this is the answer. */
	int state_err;
	char state_msg[512];
};

static const char *const status_errors[] = {
	[CLAIM_OK] = NULL,
	[CLAIM_IN_USE] = "io.hostdevd.DeviceInUse",
	[CLAIM_NOT_VIABLE] = "io.hostdevd.GroupNotViable",
	[CLAIM_BUSY] = "io.hostdevd.DeviceBusy",
	[CLAIM_BAD_STATE] = "io.hostdevd.InvalidDeviceState",
	[CLAIM_NOT_CLAIMED] = "io.hostdevd.NotClaimed",
	[CLAIM_NOT_PERMITTED] = "io.hostdevd.PermissionDenied",
	[CLAIM_HOST_CRITICAL] = "io.hostdevd.HostCritical",
	[CLAIM_STATE_FAILED] = "io.hostdevd.StateUnavailable",
	[CLAIM_POLICY_REFUSED] = "io.hostdevd.PolicyRefused",
	[CLAIM_ENGINE_ERROR] = NULL, /* the engine's */
};

struct claim_engine *claim_engine_new(struct devtable *t, struct claims *c,
				      struct detach_engine *detach,
				      void (*state_changed)(const struct device *dev, void *ctx),
				      void *ctx)
{
	struct claim_engine *ce = xcalloc(1, sizeof(*ce));

	ce->devices = t;
	ce->claims = c;
	ce->detach = detach;
	ce->state_changed = state_changed;
	ce->ctx = ctx;
	return ce;
}

void claim_engine_set_save(struct claim_engine *ce,
			   void (*save)(void *ctx, claim_saved_fn done, void *arg), void *ctx)
{
	ce->save = save;
	ce->save_ctx = ctx;
}

/* Asks for the table to be saved; `then` (may be NULL) gets the outcome,
 * at once when there is no store. */
static void save_then(struct claim_engine *ce, claim_saved_fn then, void *arg)
{
	if (ce->save)
		ce->save(ce->save_ctx, then, arg);
	else if (then)
		then(0, NULL, arg);
}

/* A save that failed, as the StateUnavailable answer about `device`. */
static void state_failed(struct claim_result *r, const char *device, int rc, const char *err)
{
	r->status = CLAIM_STATE_FAILED;
	r->device = device;
	r->state_err = -rc;
	snprintf(r->reason_buf, sizeof(r->reason_buf), "%s", err);
}

void claim_engine_set_policy(struct claim_engine *ce, const struct policy *p)
{
	ce->policy = p;
}

/* What the policy says of claiming dev for this owner: false with *r
 * filled when it refuses.  *lifted: a rule lifts the host-critical check. */
static bool policy_allows(struct claim_engine *ce, const struct claim_request *req,
			  const struct device *dev, struct claim_result *r, bool *lifted)
{
	struct policy_decision *d = &r->policy;

	*lifted = false;
	if (!ce->policy)
		return true;
	policy_decide(ce->policy, dev, POLICY_MOMENT_CLAIM, d);
	*lifted = d->host_critical_ok;
	if (!policy_refuses_claim(d, req->owner.driver, req->owner.domain, r->reason_buf,
				  sizeof(r->reason_buf)))
		return true;
	r->status = CLAIM_POLICY_REFUSED;
	r->reason = r->reason_buf;
	return false;
}

void claim_engine_stop(struct claim_engine *ce)
{
	if (ce)
		ce->stopping = true;
}

void claim_engine_free(struct claim_engine *ce)
{
	free(ce);
}

static void device_move(struct claim_engine *ce, struct device *dev, enum dev_state to,
			const char *why)
{
	if (dev->state != to && device_set_state(dev, to, why) && ce->state_changed)
		ce->state_changed(dev, ce->ctx);
}

static void finish(struct claim_op *op, struct claim_result *r)
{
	if (!r->error && r->status != CLAIM_ENGINE_ERROR)
		r->error = status_errors[r->status];
	else if (r->status == CLAIM_ENGINE_ERROR)
		r->error = r->detach->error;
	op->done(r, op->ctx);
	for (size_t i = 0; i < op->n; i++)
		free(op->ids[i]);
	free(op->ids);
	free(op->skip);
	free(op->detached_here);
	free(op->driver);
	free(op->domain);
	free(op->uuid);
	free(op->stub);
	free(op);
}

static struct claim_op *op_new(struct claim_engine *ce, const struct claim_owner *owner,
			       char **ids, size_t n, claim_done_fn done, void *ctx)
{
	struct claim_op *op = xcalloc(1, sizeof(*op));

	op->ce = ce;
	op->driver = xstrdup(owner->driver);
	op->domain = xstrdup(owner->domain);
	op->uuid = xstrdup(owner->uuid);
	op->ids = xcalloc(n + 1, sizeof(*op->ids));
	for (size_t i = 0; i < n; i++)
		op->ids[i] = xstrdup(ids[i]);
	op->n = n;
	op->skip = xcalloc(n + 1, sizeof(*op->skip));
	op->detached_here = xcalloc(n + 1, sizeof(*op->detached_here));
	op->done = done;
	op->ctx = ctx;
	return op;
}

static void save_failure(struct claim_op *op, const struct detach_result *r)
{
	op->failure = *r;
	snprintf(op->failure_device, sizeof(op->failure_device), "%s", r->device);
	snprintf(op->failure_reason, sizeof(op->failure_reason), "%s",
		 r->reason ? r->reason : "");
	op->failure.device = op->failure_device;
	op->failure.reason = r->reason ? op->failure_reason : NULL;
	op->failure.driver = NULL;
	op->failure.outcome = NULL;
}

enum claim_status claim_blocks(const struct claim_engine *ce, const char *device,
			       const struct claim_entry **entry)
{
	const struct claim_entry *e = claims_find(ce->claims, device);

	*entry = e;
	if (!e)
		return CLAIM_OK;
	return e->phase == CLAIM_HELD ? CLAIM_IN_USE : CLAIM_BUSY;
}

/* ---- Claim: checks ------------------------------------------------------ */

static const char *phase_operation(enum claim_phase phase)
{
	return phase == CLAIM_RELEASING ? "Release" : "Claim";
}

/* The state a device must be in for this claim to take it. */
static bool state_claimable(const struct claim_request *req, const struct device *dev)
{
	if (dev->bus == HD_BUS_USB)
		return dev->state == DEV_HOST;
	/* Unmanaged: the caller detached it before; it must be in the pool. */
	return dev->state == DEV_DETACHED || (req->managed && dev->state == DEV_HOST);
}

/* The device's own entry and state; returns false with *r filled when the
 * claim cannot go ahead, sets *held when this owner holds it already. */
static bool check_device(struct claim_engine *ce, const struct claim_request *req,
			 const struct device *dev, bool *held, struct claim_result *r)
{
	const struct claim_entry *e = claims_find(ce->claims, dev->id);
	bool lifted;

	*held = false;
	r->device = dev->id;
	if (e && e->phase != CLAIM_HELD) {
		r->status = CLAIM_BUSY;
		r->operation = phase_operation(e->phase);
	} else if (e && !claim_owned_by(e, &req->owner)) {
		r->status = CLAIM_IN_USE;
		r->holder = e;
	} else if (e) {
		*held = true;
		return true;
	} else if (dev->state == DEV_DETACHING || dev->state == DEV_RELEASING) {
		r->status = CLAIM_BUSY;
		r->operation = dev->state == DEV_DETACHING ? "Detach" : "Reattach";
	} else if (!state_claimable(req, dev)) {
		r->status = CLAIM_BAD_STATE;
		r->state = dev_state_name(dev->state);
	} else if (!policy_allows(ce, req, dev, r, &lifted)) {
		return false;
	} else if (!lifted && !driver_is_stub(dev->driver) &&
		   (r->reason = detach_host_critical(ce->detach, dev, r->reason_buf,
						     sizeof(r->reason_buf)))) {
		/* Before the group: a bridge is refused as a bridge. */
		r->status = CLAIM_HOST_CRITICAL;
	} else {
		return true;
	}
	return false;
}

static bool check_group(struct claim_engine *ce, const struct claim_request *req,
			const struct device *dev, struct claim_result *r)
{
	const struct claim_entry *holder;
	char **members;

	switch (claims_check_group(ce->claims, ce->devices, dev, &req->owner, req->devices,
				   req->n_devices, &holder, &members)) {
	case CLAIM_GROUP_VIABLE:
		return true;
	case CLAIM_GROUP_IN_USE:
		r->status = CLAIM_IN_USE;
		r->device = holder->device;
		r->holder = holder;
		return false;
	default:
		r->status = CLAIM_NOT_VIABLE;
		r->device = dev->id;
		r->group = dev->pci.iommu_group;
		r->members = members;
		return false;
	}
}

static void log_refusal(const struct claim_request *req, const struct claim_result *r)
{
	char msg[256];

	if (r->status == CLAIM_IN_USE)
		log_dev_info(r->device, "claim by %s/%s refused: %s", req->owner.driver,
			     req->owner.domain, claim_in_use_message(r->holder, msg, sizeof(msg)));
	else if (r->status == CLAIM_HOST_CRITICAL || r->status == CLAIM_POLICY_REFUSED)
		log_dev_info(r->device, "claim by %s/%s refused: %s", req->owner.driver,
			     req->owner.domain, r->reason);
	else if (r->status == CLAIM_NOT_VIABLE)
		log_dev_info(r->device, "claim by %s/%s refused: IOMMU group %d has members "
			     "on host drivers", req->owner.driver, req->owner.domain, r->group);
	else
		log_dev_info(r->device, "claim by %s/%s refused: %s", req->owner.driver,
			     req->owner.domain, status_errors[r->status]);
}

/* Every check, for every device, before anything is reserved. */
static bool claim_check(struct claim_engine *ce, const struct claim_request *req, bool *skip,
			struct claim_result *r)
{
	for (size_t i = 0; i < req->n_devices; i++) {
		struct device *dev = devtable_get(ce->devices, req->devices[i]);

		if (!dev)
			fatal("%s: claim of a device the handler did not resolve",
			      req->devices[i]);
		if (!check_device(ce, req, dev, &skip[i], r) ||
		    (!skip[i] && !check_group(ce, req, dev, r))) {
			log_refusal(req, r);
			return false;
		}
	}
	return true;
}

/* ---- Claim: steps ------------------------------------------------------- */

static void claim_next(struct claim_op *op);
static void claim_bad_state(struct claim_op *op, const struct device *dev);
static void claim_usb(struct claim_op *op, const struct device *dev);

static void rollback_next(struct claim_op *op);

static void on_commit_saved(int rc, const char *err, void *arg);

/* Held on disk first, then acknowledged: a claim the store cannot hold is
 * rolled back like any other failure. */
static void claim_commit(struct claim_op *op)
{
	struct claim_engine *ce = op->ce;

	for (size_t i = 0; i < op->n; i++) {
		struct claim_entry *e = claims_find(ce->claims, op->ids[i]);

		if (!op->skip[i]) {
			e->phase = CLAIM_HELD;
			e->since = (int64_t)time(NULL);
		}
	}
	save_then(ce, on_commit_saved, op);
}

static void on_commit_saved(int rc, const char *err, void *arg)
{
	struct claim_op *op = arg;
	struct claim_engine *ce = op->ce;
	struct claim_result r = { .status = CLAIM_OK, .devices = op->ids, .n_devices = op->n };
	char why[160];

	if (rc < 0) {
		for (size_t i = 0; i < op->n; i++)
			if (!op->skip[i])
				claims_find(ce->claims, op->ids[i])->phase = CLAIM_RESERVED;
		op->state_err = -rc;
		snprintf(op->state_msg, sizeof(op->state_msg), "%s", err);
		rollback_next(op);
		return;
	}
	failpoint("claim.before_ack");
	snprintf(why, sizeof(why), "claimed by %s/%s", op->driver, op->domain);
	for (size_t i = 0; i < op->n; i++) {
		struct device *dev = devtable_get(ce->devices, op->ids[i]);

		if (!op->skip[i] && dev)
			device_move(ce, dev, DEV_CLAIMED, why);
	}
	finish(op, &r);
	failpoint("claim.after_ack");
}

static void drop_reservations(struct claim_op *op)
{
	for (size_t i = 0; i < op->n; i++)
		if (!op->skip[i])
			claims_remove(op->ce->claims, op->ids[i]);
}

static void claim_fail(struct claim_op *op)
{
	struct claim_result r = { .status = CLAIM_ENGINE_ERROR, .device = op->failure.device,
				  .detach = &op->failure };

	if (op->state_err) {
		r = (struct claim_result){ .status = CLAIM_STATE_FAILED, .device = op->ids[0],
					   .state_err = op->state_err };
		snprintf(r.reason_buf, sizeof(r.reason_buf), "%s", op->state_msg);
	}
	drop_reservations(op);
	save_then(op->ce, NULL, NULL); /* the reservations are gone from disk too */
	finish(op, &r);
}


static void on_rolled_back(const struct detach_result *r, void *arg)
{
	struct claim_op *op = arg;

	if (r->status != DETACH_OK)
		log_dev_warn(r->device, "claim rollback: reattach failed (%s)",
			     r->failure.message[0] ? r->failure.message : r->error);
	rollback_next(op);
}

/* Undoes, newest first, every detach this request made. */
static void rollback_next(struct claim_op *op)
{
	while (op->next > 0) {
		size_t i = --op->next;

		if (op->detached_here[i] && !op->ce->stopping) {
			const struct claim_entry *e = claims_find(op->ce->claims, op->ids[i]);
			const struct device *dev = devtable_get(op->ce->devices, op->ids[i]);

			log_dev_info(op->ids[i], "claim failed: reattaching");
			if (dev && dev->bus == HD_BUS_USB)
				usb_interfaces_start(op->ce->detach, op->ids[i], false, e->unbound,
						     e->n_unbound, on_rolled_back, op);
			else
				reattach_start(op->ce->detach, op->ids[i], on_rolled_back, op);
			return;
		}
	}
	claim_fail(op);
}

static void on_claim_detached(const struct detach_result *r, void *arg)
{
	struct claim_op *op = arg;

	if (r->status != DETACH_OK) {
		save_failure(op, r);
		rollback_next(op);
		return;
	}
	/* "bound" (PCI, to the stub) or "unbound" (USB interfaces): something
	 * moved that a rollback must move back; "already": nothing did. */
	op->detached_here[op->next] = streq(r->outcome, "bound") || streq(r->outcome, "unbound");
	op->next++;
	claim_next(op);
}

static void claim_bad_state(struct claim_op *op, const struct device *dev)
{
	struct detach_result r = { .kind = DETACH_KIND_DETACH, .status = DETACH_BAD_STATE,
				   .device = dev->id, .error = "io.hostdevd.InvalidDeviceState",
				   .reason = dev_state_name(dev->state) };

	save_failure(op, &r);
	rollback_next(op);
}

/* A USB device: its interface drivers go if the request asks and any is
 * bound; otherwise there is nothing to write. */
static void claim_usb(struct claim_op *op, const struct device *dev)
{
	const struct claim_entry *e = claims_find(op->ce->claims, dev->id);

	if (dev->state != DEV_HOST) {
		claim_bad_state(op, dev);
	} else if (e->n_unbound) {
		usb_interfaces_start(op->ce->detach, dev->id, true, e->unbound, e->n_unbound,
				     on_claim_detached, op);
	} else {
		op->next++;
		claim_next(op);
	}
}

/* A device already on a stub stays on it: the engine answers "already"
 * and writes nothing. */
static void claim_next(struct claim_op *op)
{
	struct device *dev;

	while (op->next < op->n && op->skip[op->next])
		op->next++;
	if (op->next == op->n) {
		claim_commit(op);
		return;
	}
	dev = devtable_get(op->ce->devices, op->ids[op->next]);
	if (dev && dev->bus == HD_BUS_USB) {
		claim_usb(op, dev);
		return;
	}
	/* Something else may have rebound it since the checks. */
	if (dev && !op->managed && dev->state != DEV_DETACHED) {
		claim_bad_state(op, dev);
		return;
	}
	/* check_device applied the host-critical rules (and any lift). */
	detach_start_checked(op->ce->detach, op->ids[op->next],
			     dev && dev->state == DEV_DETACHED ? dev->driver : op->stub,
			     on_claim_detached, op);
}

/* The interface drivers a USB claim unbinds: those bound now, except
 * usbfs, which is a user-space program's (a hypervisor's libusb) claim on
 * the interface, not a host driver to restore. */
static void plan_unbind(struct claim_entry *e, const struct device *dev)
{
	e->unbound = xcalloc(dev->usb.n_ifaces + 1, sizeof(*e->unbound));
	for (size_t i = 0; i < dev->usb.n_ifaces; i++) {
		const struct usb_iface *f = &dev->usb.ifaces[i];

		if (!f->driver || streq(f->driver, "usbfs"))
			continue;
		e->unbound[e->n_unbound].iface = xstrdup(f->id);
		e->unbound[e->n_unbound].driver = xstrdup(f->driver);
		e->n_unbound++;
	}
}

/* Whether the claim will write to sysfs: a managed PCI function not on a
 * stub yet, or a USB device whose interface drivers it unbinds. */
static bool claim_writes(struct claim_engine *ce, const struct claim_op *op)
{
	for (size_t i = 0; i < op->n; i++) {
		const struct device *dev = devtable_get(ce->devices, op->ids[i]);
		const struct claim_entry *e = claims_find(ce->claims, op->ids[i]);

		if (op->skip[i] || !dev)
			continue;
		if (dev->bus == HD_BUS_USB ? e->n_unbound > 0
					   : op->managed && !driver_is_stub(dev->driver))
			return true;
	}
	return false;
}

/* Whether a release will write: a managed PCI function or a USB device
 * with interface drivers to bind again. */
static bool release_writes(struct claim_engine *ce, char *const *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct claim_entry *e = claims_find(ce->claims, ids[i]);
		const struct device *dev = devtable_get(ce->devices, ids[i]);

		if (dev && (dev->bus == HD_BUS_USB ? e->n_unbound > 0 : e->managed))
			return true;
	}
	return false;
}

static void reserve(struct claim_engine *ce, const struct claim_request *req,
		    const struct device *dev)
{
	bool usb = dev->bus == HD_BUS_USB;
	struct claim_entry *e = claims_reserve(ce->claims, dev->id, &req->owner,
					       usb ? req->unbind_interfaces : req->managed,
					       &req->cred);

	e->vendor = dev->vendor;
	e->product = dev->product;
	e->serial = usb ? xstrdup(dev->usb.serial) : NULL;
	e->stub = usb ? NULL : xstrdup(req->stub ? req->stub : STUB_DEFAULT);
	if (usb && req->unbind_interfaces)
		plan_unbind(e, dev);
	if (usb && !e->n_unbound)
		e->managed = false; /* nothing bound: nothing will move */
}

static void on_intent_saved(int rc, const char *err, void *arg)
{
	struct claim_op *op = arg;
	struct claim_result r = { 0 };

	if (rc == 0) {
		failpoint("claim.intent_saved");
		claim_next(op);
		return;
	}
	drop_reservations(op);
	log_info("claim by %s/%s refused: %s", op->driver, op->domain, err);
	state_failed(&r, op->ids[0], rc, err);
	finish(op, &r);
}

void claim_start(struct claim_engine *ce, const struct claim_request *req, claim_done_fn done,
		 void *ctx)
{
	struct claim_op *op = op_new(ce, &req->owner, req->devices, req->n_devices, done, ctx);
	struct claim_result r = { 0 };

	op->managed = req->managed;
	op->stub = xstrdup(req->stub ? req->stub : STUB_DEFAULT);
	if (!claim_check(ce, req, op->skip, &r)) {
		char **members = r.members;

		finish(op, &r);
		claims_members_free(members);
		return;
	}
	for (size_t i = 0; i < op->n; i++)
		if (!op->skip[i])
			reserve(ce, req, devtable_get(ce->devices, op->ids[i]));
	/* The intent, before any write: after a crash the restart knows what
	 * this claim was doing and undoes it.  A claim that writes nothing
	 * (devices already on their stubs, record-only USB) has no intent to
	 * record: its one save comes before the acknowledgement. */
	log_info("claim by %s/%s of %zu device(s), %s", req->owner.driver, req->owner.domain,
		 op->n, req->managed ? "managed" : "unmanaged");
	failpoint("claim.reserved");
	if (claim_writes(ce, op))
		save_then(ce, on_intent_saved, op);
	else
		claim_next(op);
}

/* ---- Release ------------------------------------------------------------ */

static bool release_check_entry(const struct release_request *req,
				const struct claim_entry *e, const char *id,
				struct claim_result *r)
{
	r->device = id;
	if (!e || !claim_owned_by(e, &req->owner))
		r->status = CLAIM_NOT_CLAIMED;
	else if (e->phase != CLAIM_HELD)
		r->status = CLAIM_BUSY, r->operation = phase_operation(e->phase);
	else if (!req->admin && e->cred.uid != req->cred.uid)
		r->status = CLAIM_NOT_PERMITTED;
	else
		return true;
	return false;
}

/* The devices to release, all checked; NULL with *r filled on a refusal. */
static char **release_collect(struct claim_engine *ce, const struct release_request *req,
			      size_t *n, struct claim_result *r)
{
	size_t total = req->devices ? req->n_devices : claims_count(ce->claims);
	char **ids = xcalloc(total + 1, sizeof(*ids));

	*n = 0;
	for (size_t i = 0; i < total; i++) {
		const struct claim_entry *e;
		const char *id;

		if (req->devices) {
			id = req->devices[i];
			e = claims_find(ce->claims, id);
		} else {
			e = claims_at(ce->claims, i);
			id = e->device;
			if (!claim_owned_by(e, &req->owner))
				continue;
		}
		if (!release_check_entry(req, e, id, r)) {
			free(ids);
			return NULL;
		}
		ids[(*n)++] = (char *)id;
	}
	return ids;
}

static void release_next(struct claim_op *op);

static void on_reattached(const struct detach_result *r, void *arg)
{
	struct claim_op *op = arg;
	struct claim_result res = { .status = CLAIM_ENGINE_ERROR, .device = r->device,
				    .detach = r };

	/* The claim is over whatever the kernel did: the device is where the
	 * engine left it (its original driver, the pool, or error). */
	claims_remove(op->ce->claims, r->device);
	if (r->status == DETACH_OK) {
		op->next++;
		release_next(op);
		return;
	}
	for (size_t i = op->next + 1; i < op->n; i++)
		claims_find(op->ce->claims, op->ids[i])->phase = CLAIM_HELD;
	save_then(op->ce, NULL, NULL);
	finish(op, &res);
}

static void release_next(struct claim_op *op)
{
	struct claim_engine *ce = op->ce;

	for (; op->next < op->n; op->next++) {
		const char *id = op->ids[op->next];
		struct claim_entry *e = claims_find(ce->claims, id);
		struct device *dev = devtable_get(ce->devices, id);
		bool usb = dev && dev->bus == HD_BUS_USB;

		if (usb && e->n_unbound) {
			device_move(ce, dev, DEV_RELEASING, "released");
			usb_interfaces_start(ce->detach, id, false, e->unbound, e->n_unbound,
					     on_reattached, op);
			return;
		}
		if (usb) {
			device_move(ce, dev, DEV_RELEASING, "released");
			device_move(ce, dev, DEV_HOST, "nothing to restore");
		} else if (dev) {
			device_move(ce, dev, DEV_DETACHED, "released");
		}
		if (!usb && e->managed && dev) {
			reattach_start(ce->detach, id, on_reattached, op);
			return;
		}
		claims_remove(ce->claims, id);
	}
	/* The release happened whatever the disk says; a failed save is
	 * logged, and a restart then finds the devices back with the host. */
	save_then(ce, NULL, NULL);
	finish(op, &(struct claim_result){ .status = CLAIM_OK, .devices = op->ids,
					   .n_devices = op->n });
	failpoint("release.after_ack");
}

static void on_release_intent_saved(int rc, const char *err, void *arg)
{
	struct claim_op *op = arg;
	struct claim_result r = { 0 };

	if (rc == 0) {
		failpoint("release.intent_saved");
		release_next(op);
		return;
	}
	for (size_t i = 0; i < op->n; i++)
		claims_find(op->ce->claims, op->ids[i])->phase = CLAIM_HELD;
	state_failed(&r, op->ids[0], rc, err);
	finish(op, &r);
}

void release_start(struct claim_engine *ce, const struct release_request *req,
		   claim_done_fn done, void *ctx)
{
	struct claim_result r = { 0 };
	size_t n;
	_cleanup_free_ char **ids = release_collect(ce, req, &n, &r);
	struct claim_op *op;

	if (!ids) {
		op = op_new(ce, &req->owner, NULL, 0, done, ctx);
		finish(op, &r);
		return;
	}
	op = op_new(ce, &req->owner, ids, n, done, ctx);
	for (size_t i = 0; i < n; i++)
		claims_find(ce->claims, ids[i])->phase = CLAIM_RELEASING;
	log_info("release by %s/%s of %zu device(s)", req->owner.driver, req->owner.domain, n);
	if (n && release_writes(ce, ids, n))
		save_then(ce, on_release_intent_saved, op);
	else
		release_next(op);
}

/* ---- A claimed device returns ------------------------------------------- */

struct reconcile {
	struct claim_engine *ce;
	char *id;
};

static bool same_device(const struct claim_entry *e, const struct device *dev)
{
	return e->vendor == dev->vendor && e->product == dev->product &&
	       (dev->bus != HD_BUS_USB || streq(e->serial, dev->usb.serial));
}

static void reconcile(struct claim_engine *ce, struct claim_entry *e, struct device *dev);

static void on_reconciled(const struct detach_result *r, void *arg)
{
	struct reconcile *rc = arg;
	struct claim_entry *e = claims_find(rc->ce->claims, rc->id);
	struct device *dev = devtable_get(rc->ce->devices, rc->id);

	if (e)
		e->reconciling = false;
	if (e && dev && r->status == DETACH_OK) {
		e->reconcile_tries = 0;
		device_move(rc->ce, dev, DEV_CLAIMED, "claimed device returned");
		log_dev_info(rc->id, "back on %s for %s/%s", dev->driver, e->driver, e->domain);
	} else if (e) {
		log_dev_warn(rc->id, "returned, but could not be put back on its stub for %s/%s: %s",
			     e->driver, e->domain,
			     r->failure.message[0] ? r->failure.message : r->error);
		/* A device just plugged may still be settling (its host
		 * driver's probe racing ours): a few more tries, then the
		 * next bind event or an administrator. */
		if (dev && ++e->reconcile_tries < 3 && dev->state == DEV_HOST &&
		    !rc->ce->stopping)
			reconcile(rc->ce, e, dev);
	}
	free(rc->id);
	free(rc);
}

/* Puts a returned device back where its claim had it: a managed PCI
 * function on its stub, through the engine; a record-only USB claim just
 * becomes claimed again. */
static void reconcile(struct claim_engine *ce, struct claim_entry *e, struct device *dev)
{
	struct reconcile *rc;

	if (dev->bus == HD_BUS_USB) {
		if (e->n_unbound)
			log_dev_warn(dev->id, "returned with its interface drivers bound; release "
					      "and claim it again to unbind them");
		else
			device_move(ce, dev, DEV_CLAIMED, "claimed device returned");
		return;
	}
	if (driver_is_stub(dev->driver)) {
		device_move(ce, dev, DEV_CLAIMED, "claimed device returned on a stub");
		return;
	}
	if (!e->managed) {
		log_dev_warn(dev->id, "returned on %s, not on a stub; the unmanaged claim of %s/%s "
				      "stays, and so does the driver",
			     dev->driver ? dev->driver : "no driver", e->driver, e->domain);
		return;
	}
	rc = xcalloc(1, sizeof(*rc));
	rc->ce = ce;
	rc->id = xstrdup(dev->id);
	e->reconciling = true;
	log_dev_info(dev->id, "claimed by %s/%s and back: detaching it to %s again", e->driver,
		     e->domain, e->stub);
	detach_start(ce->detach, dev->id, e->stub, on_reconciled, rc);
}

void claim_engine_device_event(struct claim_engine *ce, enum dev_event ev, struct device *dev)
{
	struct claim_entry *e;

	if (ce->stopping || (ev != DEV_EVENT_ADD && ev != DEV_EVENT_BIND))
		return;
	e = claims_find(ce->claims, dev->id);
	if (!e || e->phase != CLAIM_HELD || e->reconciling || dev->state == DEV_CLAIMED)
		return;
	if (!same_device(e, dev)) {
		log_dev_warn(dev->id, "came back as %04x:%04x, not the %04x:%04x that %s/%s "
				      "claimed: another device, which inherits nothing; claim dropped",
			     dev->vendor, dev->product, e->vendor, e->product, e->driver, e->domain);
		claims_remove(ce->claims, dev->id);
		save_then(ce, NULL, NULL);
		if (ce->state_changed)
			ce->state_changed(dev, ce->ctx);
		return;
	}
	reconcile(ce, e, dev);
}
