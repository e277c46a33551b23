/* USB devices' operations (engine/detach.h): a claim's interface drivers
 * unbound and bound again, and `authorized` written for the policy's
 * refuse + deauthorize.  The machine they run on is engine/operation.c. */
#include "engine/operation.h"
#include "engine/bus.h"
#include "engine/claim.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define USB_DEVICES "/sys/bus/usb/devices"
#define USB_DRIVERS "/sys/bus/usb/drivers"

/* ---- authorization ------------------------------------------------------ */

/* The kernel tells no event for the attribute itself: the record is
 * brought up to date here, and the table tells its subscribers. */
static void authorize_written(struct op *op)
{
	bool authorized = !streq(op->io.value, "0");
	struct device *dev = devtable_get(op->e->devices, op->id);

	op->res.outcome = authorized ? "authorized" : "deauthorized";
	if (dev && dev->usb.authorized != authorized) {
		dev->usb.authorized = authorized;
		devtable_touch(op->e->devices, dev);
	}
}

/* One write like a reset, answered when it returns (or at the timeout;
 * the device stays busy until the late write returns). */
void usb_authorize_start(struct detach_engine *e, const char *id, bool authorize,
			 detach_done_fn done, void *ctx)
{
	struct device *dev = devtable_get(e->devices, id);
	char path[PATH_MAX];
	struct op *op;

	if (op_refuse_common(e, DETACH_KIND_USB_AUTHORIZE, id, dev, done, ctx))
		return;
	/* Deauthorizing a hub cuts off everything behind it. */
	if (!authorize && op_refuse_critical(e, DETACH_KIND_USB_AUTHORIZE, dev, done, ctx))
		return;
	op = op_new(e, DETACH_KIND_USB_AUTHORIZE, dev, done, ctx);
	snprintf(path, sizeof(path), USB_DEVICES "/%s/authorized", id);
	log_dev_info(id, "%s", authorize ? "authorizing" : "deauthorizing: no host driver may use it");
	op_single_write(op, PH_AUTHORIZE, path, authorize ? "1" : "0", authorize_written);
}

/* ---- interface drivers -------------------------------------------------- */

/* In a worker: one interface's write, confirmed by its driver link. */
static int iface_write(struct op *op, bool unbind, const struct iface_binding *b,
		       struct op_error *err)
{
	const struct detach_ops *ops = &op->e->ops;
	const char *step = op_phase_name(unbind ? PH_USB_UNBIND : PH_USB_BIND);
	_cleanup_free_ char *now = NULL;
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), USB_DRIVERS "/%s/%s", b->driver, unbind ? "unbind" : "bind");
	r = ops->write(ops->ctx, step, path, b->iface, err);
	if (r < 0) {
		op_error_append(err, " (interface %s)", b->iface);
		return r;
	}
	if (!ops->read_driver(ops->ctx, b->iface, &now)) {
		op_error_set(err, ENODEV, step, path, "%s: interface %s disappeared", op->id,
			     b->iface);
		return -ENODEV;
	}
	if (unbind ? now != NULL : !streq(now, b->driver)) {
		op_error_set(err, EIO, step, path, "%s: after writing %s, interface %s is on %s",
			     op->id, path, b->iface, now ? now : "no driver");
		return -EIO;
	}
	return 0;
}

static void run_ifaces(void *arg)
{
	struct op *op = arg;
	struct usb_io *io = &op->usb;
	struct op_error err;
	size_t i;

	io->r = 0;
	if (!io->unbind) {
		/* Restoring: every interface gets its chance. */
		for (i = 0; i < io->n; i++)
			if (iface_write(op, false, &io->b[i], &err) < 0 && !io->r) {
				io->r = -err.err;
				io->err = err;
			}
		return;
	}
	for (i = 0; i < io->n; i++) {
		if (iface_write(op, true, &io->b[i], &io->err) < 0) {
			io->r = -io->err.err;
			break;
		}
	}
	while (io->r < 0 && i-- > 0)
		if (iface_write(op, false, &io->b[i], &err) < 0 && !io->rb_failed) {
			io->rb_failed = true;
			io->rb_err = err;
		}
}

static void ifaces_job_done(void *arg, enum worker_outcome outcome);

static void ifaces_submit(struct op *op, bool unbind)
{
	op->usb.unbind = unbind;
	op->usb.rb_failed = false;
	op_enter(op, unbind ? PH_USB_UNBIND : PH_USB_BIND);
	worker_submit(op->e->workers, op->e->step_timeout_ms * (unsigned)op->usb.n, run_ifaces,
		      ifaces_job_done, op);
}

/* Where the job left the device: restored (host), still unbound (a claim
 * goes on), or unknown (error). */
static void ifaces_settle(struct op *op, bool late)
{
	struct usb_io *io = &op->usb;
	struct device *dev = devtable_get(op->e->devices, op->id);
	bool restored = io->unbind ? io->r < 0 && !io->rb_failed : io->r == 0;

	if (!dev) {
		op_vanished(op);
		return;
	}
	if (io->unbind && io->r == 0 && late) {
		/* Unbound after the claim was told it failed: bind back. */
		log_dev_info(op->id, "interfaces unbound after the timeout: binding them again");
		ifaces_submit(op, false);
		return;
	}
	if (io->unbind && io->r == 0) {
		op->res.outcome = "unbound";
		op_finish(op);
		return;
	}
	if (!late && io->r < 0) {
		op_set_failure(op, HDE_OPERATION_FAILED, &io->err);
		if (io->rb_failed)
			op_error_append(&op->res.err.failure, "; binding back failed: %s",
					io->rb_err.message);
	} else if (!late) {
		op->res.outcome = "bound";
	}
	op_move(op, dev, restored ? DEV_HOST : DEV_ERROR,
		restored ? (io->unbind ? "interfaces bound back" : "interfaces bound")
			 : "interface drivers not restored");
	op_finish(op);
}

static void ifaces_job_done(void *arg, enum worker_outcome outcome)
{
	struct op *op = arg;
	struct device *dev;
	const char *step = op_phase_name(op->phase);
	struct op_error err;

	if (outcome != WORKER_TIMED_OUT) {
		ifaces_settle(op, outcome == WORKER_LATE || op->replied);
		return;
	}
	op_error_set(&err, ETIMEDOUT, step, op->id, "%s: %s did not return within %u ms", op->id,
		     step, op->e->step_timeout_ms * (unsigned)op->usb.n);
	op_set_failure(op, HDE_TIMEOUT, &err);
	dev = devtable_get(op->e->devices, op->id);
	if (dev)
		op_move(op, dev, DEV_ERROR, "interface write timed out");
	op_enter(op, PH_LATE);
	op_reply(op);
}

void usb_interfaces_start(struct detach_engine *e, const char *id, bool unbind,
			  const struct iface_binding *b, size_t n, detach_done_fn done, void *ctx)
{
	enum detach_kind kind = unbind ? DETACH_KIND_USB_UNBIND : DETACH_KIND_USB_BIND;
	struct device *dev = devtable_get(e->devices, id);
	struct hd_err err;
	bool ready;
	struct op *op;

	if (op_refuse_common(e, kind, id, dev, done, ctx))
		return;
	ready = unbind ? dev->state == DEV_HOST
		       : dev->state == DEV_DETACHING || dev->state == DEV_RELEASING;
	if (!ready || n == 0) {
		err_set(&err, HDE_INVALID_DEVICE_STATE, id);
		err.state = dev_state_name(dev->state);
		op_answer_now(kind, id, &err, done, ctx);
		return;
	}
	op = op_new(e, kind, dev, done, ctx);
	op->usb.b = xcalloc(n, sizeof(*op->usb.b));
	op->usb.n = n;
	for (size_t i = 0; i < n; i++) {
		op->usb.b[i].iface = xstrdup(b[i].iface);
		op->usb.b[i].driver = xstrdup(b[i].driver);
	}
	log_dev_info(id, "%s %zu interface driver(s)", unbind ? "unbinding" : "binding", n);
	if (unbind)
		op_move(op, dev, DEV_DETACHING, "unbinding interface drivers");
	ifaces_submit(op, unbind);
}

/* ---- claims, restart and policy (engine/bus.h) --------------------------- */

/* A USB device has no stub: a claim takes it from the host as it is. */
static bool usb_claimable(const struct device *dev, bool managed)
{
	return dev->state == DEV_HOST;
}

/* The interface drivers a claim unbinds: those bound now, except usbfs,
 * which is a user-space program's (a hypervisor's libusb) claim on the
 * interface, not a host driver to restore.  A claim that unbinds nothing
 * moves nothing: it is not managed. */
static void usb_reserve(struct claim_entry *e, const struct device *dev,
			const struct claim_request *req)
{
	e->managed = req->unbind_interfaces;
	if (!req->unbind_interfaces)
		return;
	e->unbound = xcalloc(dev->usb.n_ifaces + 1, sizeof(*e->unbound));
	for (size_t i = 0; i < dev->usb.n_ifaces; i++) {
		const struct usb_iface *f = &dev->usb.ifaces[i];

		if (!f->driver || streq(f->driver, "usbfs"))
			continue;
		e->unbound[e->n_unbound].iface = xstrdup(f->id);
		e->unbound[e->n_unbound].driver = xstrdup(f->driver);
		e->n_unbound++;
	}
	if (!e->n_unbound)
		e->managed = false;
}

static bool usb_take_writes(const struct claim_entry *e, const struct device *dev, bool managed)
{
	return e->n_unbound > 0;
}

static bool usb_give_back_writes(const struct claim_entry *e)
{
	return e->n_unbound > 0;
}

static enum bus_take usb_take(struct detach_engine *de, const struct device *dev,
			      const struct claim_entry *e, bool managed, detach_done_fn done,
			      void *ctx)
{
	if (dev->state != DEV_HOST)
		return BUS_TAKE_BAD_STATE;
	if (!e->n_unbound)
		return BUS_TAKE_NOTHING;
	usb_interfaces_start(de, dev->id, true, e->unbound, e->n_unbound, done, ctx);
	return BUS_TAKE_STARTED;
}

static void usb_untake(struct detach_engine *de, const struct device *dev,
		       const struct claim_entry *e, detach_done_fn done, void *ctx)
{
	usb_interfaces_start(de, dev->id, false, e->unbound, e->n_unbound, done, ctx);
}

static bool usb_give_back(struct detach_engine *de, struct devtable *t, struct device *dev,
			  const struct claim_entry *e, detach_done_fn done, void *ctx)
{
	devtable_set_state(t, dev, DEV_RELEASING, "released");
	if (e->n_unbound) {
		usb_interfaces_start(de, dev->id, false, e->unbound, e->n_unbound, done, ctx);
		return true;
	}
	devtable_set_state(t, dev, DEV_HOST, "nothing to restore");
	return false;
}

static bool usb_in_place(const struct claim_entry *e, const struct device *dev)
{
	return true;
}

static const char *usb_returned(const struct claim_entry *e, const struct device *dev,
				bool *move)
{
	*move = false;
	if (!e->n_unbound)
		return "claimed device returned";
	log_dev_warn(dev->id, "returned with its interface drivers bound; release and claim it "
			      "again to unbind them");
	return NULL;
}

/* Nothing of a USB claim is left half done on the device by a crash. */
static bool usb_undo(struct detach_engine *de, struct device *dev, const char *stub,
		     const char *original, const char *why, detach_done_fn done, void *ctx)
{
	return false;
}

/* The kernel binds a USB device's interfaces itself: nothing to move back,
 * the device is with the host as the kernel has it. */
static void usb_repair(struct detach_engine *de, struct device *dev, detach_done_fn done,
		       void *ctx)
{
	devtable_set_state(de->devices, dev, DEV_HOST, "repair");
	op_repair_answer(dev, "host", done, ctx);
}

static bool usb_policy_wants(const struct device *dev, const struct policy_decision *d)
{
	return d->action == POLICY_REFUSE && d->deauthorize && dev->usb.authorized;
}

static void usb_policy_act(struct detach_engine *de, const struct device *dev,
			   const struct policy_decision *d, detach_done_fn done, void *ctx)
{
	usb_authorize_start(de, dev->id, false, done, ctx);
}

const struct bus_engine bus_engine_usb = {
	.claimable = usb_claimable,
	.reserve = usb_reserve,
	.take_writes = usb_take_writes,
	.give_back_writes = usb_give_back_writes,
	.take = usb_take,
	.untake = usb_untake,
	.give_back = usb_give_back,
	.in_place = usb_in_place,
	.returned = usb_returned,
	.undo = usb_undo,
	.repair = usb_repair,
	.policy_wants = usb_policy_wants,
	.policy_act = usb_policy_act,
};
