#include "engine/claim.h"
#include "common/log.h"
#include "common/util.h"
#include "engine/bus.h"
#include "engine/failpoint.h"
#include "engine/lease.h"
#include "engine/nodeowner.h"
#include "policy/refusal.h"
#include "state/bus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct claim_engine {
	struct devtable *devices;
	struct claims *claims;
	struct detach_engine *detach;
	void (*save)(void *ctx, claim_saved_fn done, void *arg);
	void *save_ctx;
	const struct policy *policy;
	struct leases *leases;
	struct nodeowner *nodes;
	bool stopping;
};

/* One Claim or Release in flight. */
struct claim_op {
	struct claim_engine *ce;
	char *driver, *domain, *uuid; /* the owner */
	char **ids;
	size_t n, next;
	bool *skip;          /* claim: already held by this owner */
	bool *detached_here; /* claim: this request moved it */
	bool *managed;       /* claim: per device */
	struct claim_lease lease; /* claim: the entries' lease (pid 0: none) */
	uid_t uid;                /* claim: the caller's, who gets the VFIO nodes */
	struct node_plan *plan;   /* claim: the nodes being handed over */
	claim_done_fn done;
	void *ctx;
	/* The operation's failure, kept across the rollback. */
	struct hd_err_store failure;
	/* A claim whose acknowledgement could not be saved: rolled back, and
	 * this is the answer. */
	int state_err;
	char state_msg[512];
};

struct claim_engine *claim_engine_new(struct devtable *t, struct claims *c,
				      struct detach_engine *detach)
{
	struct claim_engine *ce = xcalloc(1, sizeof(*ce));

	ce->devices = t;
	ce->claims = c;
	ce->detach = detach;
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
static void state_failed(struct hd_err *e, const char *device, int rc, const char *err)
{
	err_set(e, HDE_STATE_UNAVAILABLE, device);
	op_error_set(&e->failure, -rc, NULL, NULL, "%s", err);
}

void claim_engine_set_policy(struct claim_engine *ce, const struct policy *p)
{
	ce->policy = p;
}

/* What the policy says of claiming dev for this owner: false with *e
 * filled when it refuses.  *lifted: a rule lifts the host-critical check. */
static bool policy_allows(struct claim_engine *ce, const struct claim_request *req,
			  const struct device *dev, struct hd_err *e, bool *lifted)
{
	struct policy_decision d;
	char reason[sizeof(e->reason)];

	*lifted = false;
	if (!ce->policy)
		return true;
	policy_decide(ce->policy, dev, POLICY_MOMENT_CLAIM, &d);
	*lifted = d.host_critical_ok;
	if (!policy_refuses_claim(&d, req->owner.driver, req->owner.domain, reason,
				  sizeof(reason)))
		return true;
	policy_refusal(&d, dev->id, reason, e);
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
	devtable_set_state(ce->devices, dev, to, why);
}

static void finish(struct claim_op *op, struct claim_result *r)
{
	op->done(r, op->ctx);
	nodeowner_plan_free(op->plan);
	for (size_t i = 0; i < op->n; i++)
		free(op->ids[i]);
	free(op->ids);
	free(op->skip);
	free(op->detached_here);
	free(op->managed);
	free(op->driver);
	free(op->domain);
	free(op->uuid);
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
	op->managed = xcalloc(n + 1, sizeof(*op->managed));
	op->done = done;
	op->ctx = ctx;
	return op;
}

static const char *phase_operation(enum claim_phase phase)
{
	return phase == CLAIM_RELEASING ? "Release" : "Claim";
}

/* A Claim or Release owns the entry: DeviceBusy naming its owner, so a
 * racer is told whose operation it lost to, as DeviceInUse tells it once
 * the claim is held. */
static void busy_with(struct hd_err *e, const char *device, const struct claim_entry *c)
{
	err_set(e, HDE_DEVICE_BUSY, device);
	e->operation = phase_operation(c->phase);
	e->driver = c->driver;
	e->domain = c->domain;
}

static void in_use(struct hd_err *e, const char *device, const struct claim_entry *holder)
{
	err_set(e, HDE_DEVICE_IN_USE, device);
	e->driver = holder->driver;
	e->domain = holder->domain;
}

bool claim_blocks(const struct claim_engine *ce, const char *device,
		  const struct claim_entry **entry, struct hd_err *err)
{
	const struct claim_entry *e = claims_find(ce->claims, device);

	*entry = e;
	if (!e)
		return false;
	if (e->phase == CLAIM_HELD)
		in_use(err, e->device, e);
	else
		busy_with(err, device, e);
	return true;
}

/* ---- Acting as an owner ------------------------------------------------- */

/* "uid 1000", or "another user" to a caller that may not list claims. */
static const char *claim_holder_text(const struct claim_entry *e,
				     const struct claim_actor *actor, char *buf, size_t size)
{
	if (!actor->may_list)
		return "another user";
	snprintf(buf, size, "uid %u", (unsigned)e->cred.uid);
	return buf;
}

bool claim_may_act(const struct claim_entry *e, uid_t uid, const struct claim_actor *actor,
		   const char *method, struct hd_err *err)
{
	char who[32];

	if (actor->admin || e->cred.uid == uid)
		return true;
	err_reason(err, HDE_PERMISSION_DENIED, e->device,
		   "the claim of %s for %s/%s was made by %s; acting on another user's claim "
		   "needs admin",
		   e->device, e->driver, e->domain, claim_holder_text(e, actor, who, sizeof(who)));
	err->method = method;
	err->permission = policy_permission_name(POLICY_PERM_ADMIN);
	return false;
}

/* The owner name is another uid's: refused before anything is looked at,
 * so the answer never echoes that uid's claims either. */
static bool check_owner_uid(struct claim_engine *ce, const struct claim_request *req,
			    struct hd_err *err)
{
	const struct claim_entry *e =
		claims_owner_other_uid(ce->claims, &req->owner, req->cred.uid);
	char who[32];

	if (!e)
		return true;
	err_reason(err, HDE_PERMISSION_DENIED, NULL,
		   "owner %s/%s is held by the claims of %s; an owner name belongs to the "
		   "user whose claims hold it until they are all released",
		   req->owner.driver, req->owner.domain,
		   claim_holder_text(e, &req->actor, who, sizeof(who)));
	err->method = "io.hostdevd.Claim";
	err->permission = policy_permission_name(POLICY_PERM_CLAIM);
	return false;
}

/* ---- Claim: checks ------------------------------------------------------ */

/* The device's own entry and state; returns false with *e filled when the
 * claim cannot go ahead, sets *held when this owner holds it already. */
static bool check_device(struct claim_engine *ce, const struct claim_request *req,
			 const struct device *dev, bool managed, bool *held, struct hd_err *e)
{
	const struct claim_entry *c = claims_find(ce->claims, dev->id);
	bool lifted;

	*held = false;
	if (c && c->phase != CLAIM_HELD) {
		busy_with(e, dev->id, c);
	} else if (c && !claim_owned_by(c, &req->owner)) {
		in_use(e, dev->id, c);
	} else if (req->stub_named && driver_is_stub(dev->driver) &&
		   !streq(dev->driver, req->stub)) {
		log_dev_info(dev->id, "on %s, not on the %s the claim names", dev->driver,
			     req->stub);
		err_set(e, HDE_INVALID_DEVICE_STATE, dev->id);
		e->state = dev_state_name(dev->state);
	} else if (c) {
		*held = true;
		return true;
	} else if (dev->state == DEV_DETACHING || dev->state == DEV_RELEASING) {
		err_set(e, HDE_DEVICE_BUSY, dev->id);
		e->operation = dev->state == DEV_DETACHING ? "Detach" : "Reattach";
	} else if (!bus_engine_of(dev)->claimable(dev, managed)) {
		err_set(e, HDE_INVALID_DEVICE_STATE, dev->id);
		e->state = dev_state_name(dev->state);
	} else if (!policy_allows(ce, req, dev, e, &lifted)) {
		return false;
	} else if (!lifted && !driver_is_stub(dev->driver)) {
		/* Before the group: a bridge is refused as a bridge. */
		err_set(e, HDE_HOST_CRITICAL, dev->id);
		return !detach_host_critical(ce->detach, dev, e->reason, sizeof(e->reason));
	} else {
		return true;
	}
	return false;
}

static bool check_group(struct claim_engine *ce, const struct claim_request *req,
			const struct device *dev, struct hd_err *e)
{
	const struct claim_entry *holder;
	char **members;

	switch (claims_check_group(ce->claims, ce->devices, dev, &req->owner, req->devices,
				   req->n_devices, &holder, &members)) {
	case CLAIM_GROUP_VIABLE:
		return true;
	case CLAIM_GROUP_IN_USE:
		in_use(e, holder->device, holder);
		return false;
	default:
		err_set(e, HDE_GROUP_NOT_VIABLE, dev->id);
		e->group = device_iommu_group(dev);
		e->members = members;
		return false;
	}
}

static void log_refusal(const struct claim_request *req, const struct hd_err *e)
{
	const char *who = req->owner.driver, *what = req->owner.domain;

	if (e->code == HDE_DEVICE_IN_USE)
		log_dev_info(e->device, "claim by %s/%s refused: %s is in use by driver %s, domain %s",
			     who, what, e->device, e->driver, e->domain);
	else if (e->code == HDE_HOST_CRITICAL || e->code == HDE_POLICY_REFUSED ||
		 e->code == HDE_PERMISSION_DENIED)
		log_dev_info(e->device, "claim by %s/%s refused: %s", who, what, e->reason);
	else if (e->code == HDE_GROUP_NOT_VIABLE)
		log_dev_info(e->device, "claim by %s/%s refused: IOMMU group %d has members "
			     "on host drivers", who, what, e->group);
	else
		log_dev_info(e->device, "claim by %s/%s refused: %s", who, what, err_name(e->code));
}

static bool request_managed(const struct claim_request *req, size_t i)
{
	return req->managed_each ? req->managed_each[i] : req->managed;
}

/* The lease's process: alive (InvalidParameter lease.pid otherwise), and
 * when the request named it, the caller's own unless the caller is admin:
 * else any peer could tie its claim to a process it does not own.  *lease
 * gets its start time. */
static bool check_lease(struct claim_engine *ce, const struct claim_request *req,
			struct claim_lease *lease, struct hd_err *e)
{
	uid_t uid;
	int r = ce->leases ? leases_identify(ce->leases, req->lease.pid, &lease->start, &uid)
			   : -ENOSYS;

	if (ce->leases && leases_unavailable(ce->leases)) {
		err_reason(e, HDE_INVALID_PARAMETER, NULL,
			   "this system cannot watch processes (pidfd_open: %s; it needs Linux 5.3 "
			   "or later, unfiltered): claim without a lease",
			   strerror(leases_unavailable(ce->leases)));
		e->name = "lease";
		return false;
	}
	if (r < 0) {
		err_reason(e, HDE_INVALID_PARAMETER, NULL, "no live process %ld to tie the claim to: %s",
			   (long)req->lease.pid, strerror(-r));
		e->name = "lease.pid";
		return false;
	}
	if (req->lease_named && uid != req->cred.uid && !req->actor.admin) {
		err_reason(e, HDE_PERMISSION_DENIED, NULL,
			   "process %ld runs as another user; a claim may be tied to another user's "
			   "process only with admin",
			   (long)req->lease.pid);
		e->method = "io.hostdevd.Claim";
		e->permission = policy_permission_name(POLICY_PERM_ADMIN);
		return false;
	}
	lease->pid = req->lease.pid;
	lease->keep = req->lease.keep;
	return true;
}

/* Every check, for every device, before anything is reserved. */
static bool claim_check(struct claim_engine *ce, const struct claim_request *req, bool *skip,
			struct claim_lease *lease, struct hd_err *e)
{
	if (!check_owner_uid(ce, req, e)) {
		log_refusal(req, e);
		return false;
	}
	if (req->lease.pid && !check_lease(ce, req, lease, e)) {
		log_refusal(req, e);
		return false;
	}
	for (size_t i = 0; i < req->n_devices; i++) {
		struct device *dev = devtable_get(ce->devices, req->devices[i]);

		if (!dev)
			fatal("%s: claim of a device the handler did not resolve",
			      req->devices[i]);
		if (!check_device(ce, req, dev, request_managed(req, i), &skip[i], e) ||
		    (!skip[i] && !check_group(ce, req, dev, e))) {
			log_refusal(req, e);
			return false;
		}
	}
	return true;
}

/* ---- Claim: steps ------------------------------------------------------- */

static void claim_next(struct claim_op *op);
static void claim_nodes(struct claim_op *op);
static void rollback_next(struct claim_op *op);
static void on_commit_saved(int rc, const char *err, void *arg);

static void keep_failure(struct claim_op *op, const struct hd_err *e)
{
	err_keep(&op->failure, e);
}

/* Held on disk first, then acknowledged: a claim the store cannot hold is
 * rolled back like any other failure. */
static void claim_commit(struct claim_op *op)
{
	struct claim_engine *ce = op->ce;

	for (size_t i = 0; i < op->n; i++) {
		struct claim_entry *e = claims_find(ce->claims, op->ids[i]);

		if (!op->skip[i]) {
			claim_set_phase(e, CLAIM_HELD, "claimed");
			e->since = (int64_t)time(NULL);
		}
	}
	save_then(ce, on_commit_saved, op);
}

static void on_commit_saved(int rc, const char *err, void *arg)
{
	struct claim_op *op = arg;
	struct claim_engine *ce = op->ce;
	struct claim_result r = { .devices = op->ids, .n_devices = op->n };
	struct claim_lease lease = op->lease;
	char why[160];

	if (rc < 0) {
		for (size_t i = 0; i < op->n; i++)
			if (!op->skip[i])
				claim_set_phase(claims_find(ce->claims, op->ids[i]), CLAIM_RESERVED,
						"acknowledgement not saved");
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
	/* Watched from the moment it is held; a process that ended while the
	 * claim was under way ends it now, after its answer. */
	if (lease.pid && leases_watch(ce->leases, lease.pid, lease.start) < 0)
		claim_engine_lease_ended(lease.pid, lease.start, ce);
}

static void drop_reservations(struct claim_op *op)
{
	for (size_t i = 0; i < op->n; i++)
		if (!op->skip[i])
			claims_remove(op->ce->claims, op->ids[i]);
}

static void claim_failed(void *arg)
{
	struct claim_op *op = arg;
	struct claim_result r = { .err = op->failure.err };

	if (op->state_err)
		state_failed(&r.err, op->ids[0], -op->state_err, op->state_msg);
	drop_reservations(op);
	save_then(op->ce, NULL, NULL); /* the reservations are gone from disk too */
	finish(op, &r);
}

/* An entry this claim reserved. */
static bool reserved_by(const struct claim_entry *e, void *arg)
{
	const struct claim_op *op = arg;

	for (size_t i = 0; i < op->n; i++)
		if (!op->skip[i] && streq(op->ids[i], e->device))
			return true;
	return false;
}

/* VFIO nodes handed over are given back before the reservations, which
 * record them, go. */
static void claim_fail(struct claim_op *op)
{
	nodeowner_plan_free(steal_ptr(op->plan));
	nodeowner_give_back(op->ce->nodes, reserved_by, op, claim_failed, op);
}

static void on_rolled_back(const struct detach_result *r, void *arg)
{
	struct claim_op *op = arg;

	if (r->err.code != HDE_OK)
		log_dev_warn(r->device, "claim rollback: reattach failed (%s)", err_text(&r->err));
	rollback_next(op);
}

/* Undoes, newest first, every move this request made. */
static void rollback_next(struct claim_op *op)
{
	while (op->next > 0) {
		size_t i = --op->next;
		const struct claim_entry *e;
		const struct device *dev;

		if (!op->detached_here[i] || op->ce->stopping)
			continue;
		e = claims_find(op->ce->claims, op->ids[i]);
		dev = devtable_get(op->ce->devices, op->ids[i]);
		log_dev_info(op->ids[i], "claim failed: reattaching");
		if (!dev) {
			log_dev_warn(op->ids[i], "claim rollback: reattach failed (%s)",
				     err_name(HDE_DEVICE_NOT_FOUND));
			continue;
		}
		bus_engine_of(dev)->untake(op->ce->detach, dev, e, on_rolled_back, op);
		return;
	}
	claim_fail(op);
}

static void on_claim_detached(const struct detach_result *r, void *arg)
{
	struct claim_op *op = arg;

	if (r->err.code != HDE_OK) {
		keep_failure(op, &r->err);
		rollback_next(op);
		return;
	}
	/* "bound" (to the stub) or "unbound" (USB interfaces): something moved
	 * that a rollback must move back; "already": nothing did. */
	op->detached_here[op->next] = streq(r->outcome, "bound") || streq(r->outcome, "unbound");
	op->next++;
	claim_next(op);
}

static void on_nodes_handed(void *arg)
{
	failpoint("claim.nodes_given");
	claim_commit(arg);
}

static void on_nodes_intent_saved(int rc, const char *err, void *arg)
{
	struct claim_op *op = arg;

	if (rc < 0) {
		op->state_err = -rc;
		snprintf(op->state_msg, sizeof(op->state_msg), "%s", err);
		rollback_next(op);
		return;
	}
	failpoint("claim.nodes_saved");
	nodeowner_hand_over(op->ce->nodes, steal_ptr(op->plan), on_nodes_handed, op);
}

/* Every device where the claim wants it: an unprivileged caller gets
 * their VFIO nodes (engine/nodeowner.h).  Their owners now are saved
 * first, so that a crash at any point can give them back. */
static void claim_nodes(struct claim_op *op)
{
	op->plan = nodeowner_plan(op->ce->nodes, op->ce->devices, op->uid, op->ids, op->skip,
				  op->n);
	if (!op->plan) {
		claim_commit(op);
		return;
	}
	save_then(op->ce, on_nodes_intent_saved, op);
}

static void claim_bad_state(struct claim_op *op, const struct device *dev)
{
	struct hd_err e;

	err_set(&e, HDE_INVALID_DEVICE_STATE, dev->id);
	e.state = dev_state_name(dev->state);
	keep_failure(op, &e);
	rollback_next(op);
}

/* Each device in turn, through its bus: a device already where the claim
 * wants it is taken as it is. */
static void claim_next(struct claim_op *op)
{
	const struct claim_entry *e;
	struct device *dev;

	while (op->next < op->n && op->skip[op->next])
		op->next++;
	if (op->next == op->n) {
		claim_nodes(op);
		return;
	}
	dev = devtable_get(op->ce->devices, op->ids[op->next]);
	if (!dev) {
		struct hd_err gone;

		err_set(&gone, HDE_DEVICE_NOT_FOUND, op->ids[op->next]);
		keep_failure(op, &gone);
		rollback_next(op);
		return;
	}
	e = claims_find(op->ce->claims, dev->id);
	/* check_device applied the host-critical rules (and any lift). */
	switch (bus_engine_of(dev)->take(op->ce->detach, dev, e, op->managed[op->next],
					 on_claim_detached,
					 op)) {
	case BUS_TAKE_BAD_STATE:
		/* Something else rebound it since the checks. */
		claim_bad_state(op, dev);
		break;
	case BUS_TAKE_NOTHING:
		op->next++;
		claim_next(op);
		break;
	case BUS_TAKE_STARTED:
		break;
	}
}

/* Whether the claim will write to sysfs: the intent is saved first. */
static bool claim_writes(struct claim_engine *ce, const struct claim_op *op)
{
	for (size_t i = 0; i < op->n; i++) {
		const struct device *dev = devtable_get(ce->devices, op->ids[i]);

		if (!op->skip[i] && dev &&
		    bus_engine_of(dev)->take_writes(claims_find(ce->claims, op->ids[i]), dev,
						    op->managed[i]))
			return true;
	}
	return false;
}

/* Whether a release will write: the intent is saved first. */
static bool release_writes(struct claim_engine *ce, char *const *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct device *dev = devtable_get(ce->devices, ids[i]);
		const struct claim_entry *e = claims_find(ce->claims, ids[i]);

		/* VFIO nodes to give back are written too. */
		if ((e && e->n_nodes) || (dev && bus_engine_of(dev)->give_back_writes(e)))
			return true;
	}
	return false;
}

static void reserve(struct claim_engine *ce, const struct claim_request *req,
		    const struct device *dev, bool managed, const struct claim_lease *lease)
{
	struct claim_entry *e =
		claims_reserve(ce->claims, dev->id, &req->owner, managed, &req->cred);

	e->vendor = dev->vendor;
	e->product = dev->product;
	e->serial = xstrdup(device_serial(dev));
	e->lease = *lease;
	e->from_pool = dev->state == DEV_DETACHED && dev->pooled;
	bus_engine_of(dev)->reserve(e, dev, req);
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
	state_failed(&r.err, op->ids[0], rc, err);
	finish(op, &r);
}

void claim_start(struct claim_engine *ce, const struct claim_request *req, claim_done_fn done,
		 void *ctx)
{
	struct claim_op *op = op_new(ce, &req->owner, req->devices, req->n_devices, done, ctx);
	struct claim_result r = { 0 };

	op->uid = req->cred.uid;
	for (size_t i = 0; i < op->n; i++)
		op->managed[i] = request_managed(req, i);
	if (!claim_check(ce, req, op->skip, &op->lease, &r.err)) {
		char **members = (char **)r.err.members;

		finish(op, &r);
		claims_members_free(members);
		return;
	}
	for (size_t i = 0; i < op->n; i++)
		if (!op->skip[i])
			reserve(ce, req, devtable_get(ce->devices, op->ids[i]), op->managed[i], &op->lease);
	/* The intent, before any write: after a crash the restart knows what
	 * this claim was doing and undoes it.  A claim that writes nothing
	 * (devices already on their stubs, record-only USB) has no intent to
	 * record: its one save comes before the acknowledgement. */
	log_info("claim by %s/%s of %zu device(s), %s", req->owner.driver, req->owner.domain,
		 op->n, req->managed_each ? "managed per device" : req->managed ? "managed"
										  : "unmanaged");
	failpoint("claim.reserved");
	if (claim_writes(ce, op))
		save_then(ce, on_intent_saved, op);
	else
		claim_next(op);
}

/* ---- Release ------------------------------------------------------------ */

static bool release_check_entry(const struct release_request *req,
				const struct claim_entry *e, const char *id, struct hd_err *err)
{
	if (!e || !claim_owned_by(e, &req->owner)) {
		err_set(err, HDE_NOT_CLAIMED, id);
	} else if (e->phase != CLAIM_HELD) {
		busy_with(err, id, e);
	} else if (!claim_may_act(e, req->cred.uid, &req->actor, "io.hostdevd.Release", err)) {
		return false;
	} else {
		return true;
	}
	return false;
}

/* The devices to release, all checked; NULL with *err filled on a refusal. */
static char **release_collect(struct claim_engine *ce, const struct release_request *req,
			      size_t *n, struct hd_err *err)
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
		if (!release_check_entry(req, e, id, err)) {
			free(ids);
			return NULL;
		}
		ids[(*n)++] = (char *)id;
	}
	return ids;
}

static void release_next(struct claim_op *op);
static void prune_leases(struct claim_engine *ce);

static void on_given_back(const struct detach_result *r, void *arg)
{
	struct claim_op *op = arg;
	struct claim_result res = { .err = r->err };

	/* The claim is over whatever the kernel did: the device is where the
	 * engine left it (its original driver, the pool, or error). */
	claims_remove(op->ce->claims, r->device);
	if (r->err.code == HDE_OK) {
		op->next++;
		release_next(op);
		return;
	}
	for (size_t i = op->next + 1; i < op->n; i++)
		claim_set_phase(claims_find(op->ce->claims, op->ids[i]), CLAIM_HELD,
				"release stopped");
	save_then(op->ce, NULL, NULL);
	prune_leases(op->ce);
	finish(op, &res);
}

static bool is_entry(const struct claim_entry *e, void *arg)
{
	return e == arg;
}

static void release_resume(void *arg)
{
	release_next(arg);
}

static void release_next(struct claim_op *op)
{
	struct claim_engine *ce = op->ce;

	for (; op->next < op->n; op->next++) {
		const char *id = op->ids[op->next];
		struct claim_entry *e = claims_find(ce->claims, id);
		struct device *dev = devtable_get(ce->devices, id);

		/* Its VFIO nodes first, while they exist: the unbind removes
		 * them, not so a device that stays on its stub.  The records
		 * go, and the release resumes here. */
		if (e && e->n_nodes && ce->nodes) {
			nodeowner_give_back(ce->nodes, is_entry, e, release_resume, op);
			return;
		}
		if (dev && bus_engine_of(dev)->give_back(ce->detach, ce->devices, dev, e,
							  on_given_back, op))
			return;
		claims_remove(ce->claims, id);
	}
	/* The release happened whatever the disk says; a failed save is
	 * logged, and a restart then finds the devices back with the host. */
	save_then(ce, NULL, NULL);
	prune_leases(ce);
	finish(op, &(struct claim_result){ .devices = op->ids, .n_devices = op->n });
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
		claim_set_phase(claims_find(op->ce->claims, op->ids[i]), CLAIM_HELD,
				"release not saved");
	state_failed(&r.err, op->ids[0], rc, err);
	finish(op, &r);
}

void release_start(struct claim_engine *ce, const struct release_request *req,
		   claim_done_fn done, void *ctx)
{
	struct claim_result r = { 0 };
	size_t n;
	_cleanup_free_ char **ids = release_collect(ce, req, &n, &r.err);
	struct claim_op *op;

	if (!ids) {
		op = op_new(ce, &req->owner, NULL, 0, done, ctx);
		finish(op, &r);
		return;
	}
	op = op_new(ce, &req->owner, ids, n, done, ctx);
	for (size_t i = 0; i < n; i++)
		claim_set_phase(claims_find(ce->claims, ids[i]), CLAIM_RELEASING, "release");
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

static void reconcile(struct claim_engine *ce, struct claim_entry *e, struct device *dev);

static void on_reconciled(const struct detach_result *r, void *arg)
{
	struct reconcile *rc = arg;
	struct claim_entry *e = claims_find(rc->ce->claims, rc->id);
	struct device *dev = devtable_get(rc->ce->devices, rc->id);

	if (e)
		e->reconciling = false;
	if (e && dev && r->err.code == HDE_OK) {
		e->reconcile_tries = 0;
		device_move(rc->ce, dev, DEV_CLAIMED, "claimed device returned");
		log_dev_info(rc->id, "back on %s for %s/%s", dev->driver, e->driver, e->domain);
	} else if (e) {
		log_dev_warn(rc->id, "returned, but could not be put back on its stub for %s/%s: %s",
			     e->driver, e->domain, err_text(&r->err));
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

/* Puts a returned device back where its claim had it, as its bus says:
 * claimed as it is, or moved first (a managed PCI function detached to its
 * stub again), or left as it is (logged). */
static void reconcile(struct claim_engine *ce, struct claim_entry *e, struct device *dev)
{
	const struct bus_engine *b = bus_engine_of(dev);
	struct reconcile *rc;
	bool move;
	const char *why = b->returned(e, dev, &move);

	if (why) {
		device_move(ce, dev, DEV_CLAIMED, why);
		return;
	}
	if (!move)
		return;
	rc = xcalloc(1, sizeof(*rc));
	rc->ce = ce;
	rc->id = xstrdup(dev->id);
	e->reconciling = true;
	b->put_back(ce->detach, dev, e, on_reconciled, rc);
}

void claim_engine_device_event(struct claim_engine *ce, enum dev_event ev, struct device *dev)
{
	struct claim_entry *e;

	if (ce->stopping || (ev != DEV_EVENT_ADD && ev != DEV_EVENT_BIND))
		return;
	e = claims_find(ce->claims, dev->id);
	if (!e || e->phase != CLAIM_HELD || e->reconciling || dev->state == DEV_CLAIMED)
		return;
	if (!device_is(dev, e->vendor, e->product, e->serial)) {
		log_dev_warn(dev->id, "came back as %04x:%04x, not the %04x:%04x that %s/%s "
				      "claimed: another device, which inherits nothing; claim dropped",
			     dev->vendor, dev->product, e->vendor, e->product, e->driver, e->domain);
		/* Nobody waits: the node of a group that keeps other members. */
		nodeowner_give_back(ce->nodes, is_entry, e, NULL, NULL);
		claims_remove(ce->claims, dev->id);
		save_then(ce, NULL, NULL);
		devtable_touch(ce->devices, dev);
		return;
	}
	reconcile(ce, e, dev);
}

void claim_engine_listener(enum dev_event ev, const struct device *dev, const char *detail,
			   void *arg)
{
	struct claim_engine *ce = arg;
	/* The table's own record: the engine may move it to another state. */
	struct device *rec = ev == DEV_EVENT_ADD || ev == DEV_EVENT_BIND
				     ? devtable_get(ce->devices, dev->id)
				     : NULL;

	if (rec)
		claim_engine_device_event(ce, ev, rec);
}

/* ---- Leases ------------------------------------------------------------- */

void claim_engine_set_leases(struct claim_engine *ce, struct leases *l)
{
	ce->leases = l;
}

void claim_engine_set_nodeowner(struct claim_engine *ce, struct nodeowner *no)
{
	ce->nodes = no;
}

static bool tied_to(const struct claim_entry *e, pid_t pid, uint64_t start)
{
	return e->lease.pid == pid && e->lease.start == start;
}

static bool lease_needed(pid_t pid, uint64_t start, void *arg)
{
	struct claim_engine *ce = arg;

	for (size_t i = 0; i < claims_count(ce->claims); i++)
		if (tied_to(claims_at(ce->claims, i), pid, start))
			return true;
	return false;
}

/* A process that no claim is tied to any more is not watched. */
static void prune_leases(struct claim_engine *ce)
{
	if (ce->leases)
		leases_prune(ce->leases, lease_needed, ce);
}

struct lease_release {
	pid_t pid;
	uint64_t t0;
};

static void on_lease_released(const struct claim_result *r, void *arg)
{
	struct lease_release *lr = arg;

	if (r->err.code == HDE_OK)
		log_info("lease: process %ld ended: released %zu device(s) in %.1f ms", (long)lr->pid,
			 r->n_devices, (double)(now_ns() - lr->t0) / 1e6);
	else
		log_warn("lease: process %ld ended, but its claim's release failed: %s",
			 (long)lr->pid, err_text(&r->err));
	free(lr);
}

/* Releases, as their owner's Release would, the held claims of the owner of
 * `first` that are tied to the process. */
static void release_owner_leased(struct claim_engine *ce, const struct claim_entry *first,
				 pid_t pid, uint64_t start)
{
	struct claim_owner owner = { first->driver, first->domain, first->uuid };
	struct release_request req = {
		.owner = owner,
		.cred = first->cred,
		/* The lease acts for the claim's own uid. */
		.actor = { .admin = false, .may_list = true },
	};
	_cleanup_free_ char **ids = xcalloc(claims_count(ce->claims) + 1, sizeof(*ids));
	struct lease_release *lr = xcalloc(1, sizeof(*lr));
	size_t n = 0;

	for (size_t i = 0; i < claims_count(ce->claims); i++) {
		struct claim_entry *e = claims_at(ce->claims, i);

		if (e->phase == CLAIM_HELD && tied_to(e, pid, start) && claim_owned_by(e, &owner) &&
		    e->cred.uid == first->cred.uid)
			ids[n++] = e->device;
	}
	req.devices = ids;
	req.n_devices = n;
	lr->pid = pid;
	lr->t0 = now_ns();
	log_info("lease: process %ld ended: releasing %zu device(s) of %s/%s", (long)pid, n,
		 owner.driver, owner.domain);
	/* The owner strings are copied by the operation before the entries go. */
	release_start(ce, &req, on_lease_released, lr);
}

void claim_engine_lease_ended(pid_t pid, uint64_t start, void *arg)
{
	struct claim_engine *ce = arg;
	bool kept = false;

	if (ce->stopping)
		return;
	for (size_t i = 0; i < claims_count(ce->claims); i++) {
		struct claim_entry *e = claims_at(ce->claims, i);

		if (e->phase != CLAIM_HELD || !tied_to(e, pid, start) || !e->lease.keep ||
		    e->lease_ended)
			continue;
		e->lease_ended = true;
		kept = true;
		log_dev_warn(e->device, "lease: process %ld ended; the claim of %s/%s is kept "
					"(on_exit keep) until released",
			     (long)pid, e->driver, e->domain);
	}
	if (kept)
		save_then(ce, NULL, NULL);
	/* One release per owner; each started release moves its entries to
	 * releasing, so the scan finds the next owner's. */
	for (;;) {
		const struct claim_entry *first = NULL;

		for (size_t i = 0; i < claims_count(ce->claims) && !first; i++) {
			const struct claim_entry *e = claims_at(ce->claims, i);

			if (e->phase == CLAIM_HELD && tied_to(e, pid, start) && !e->lease.keep)
				first = e;
		}
		if (!first)
			break;
		release_owner_leased(ce, first, pid, start);
	}
}

void claim_engine_watch_leases(struct claim_engine *ce)
{
	for (size_t i = 0; ce->leases && i < claims_count(ce->claims); i++) {
		const struct claim_entry *e = claims_at(ce->claims, i);

		int r;

		if (e->phase != CLAIM_HELD || !e->lease.pid || e->lease_ended)
			continue;
		r = leases_watch(ce->leases, e->lease.pid, e->lease.start);
		if (r == -ENOSYS || r == -EPERM) {
			/* Not an end: nothing can be known of the process. */
			log_dev_warn(e->device, "restart: its claim is tied to process %ld, which "
						"this system cannot watch: the claim stays until "
						"released",
				     (long)e->lease.pid);
			continue;
		}
		if (r == 0)
			continue;
		log_dev_info(e->device, "restart: the process %ld its claim was tied to ended "
					"while hostdevd was down",
			     (long)e->lease.pid);
		claim_engine_lease_ended(e->lease.pid, e->lease.start, ce);
		i = (size_t)-1; /* the table may have changed: from the start */
	}
}
