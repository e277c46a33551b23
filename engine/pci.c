/* PCI functions' operations (engine/detach.h): detach to a stub and back
 * through driver_override, unbind and drivers_probe, with the rollback
 * that undoes whatever took effect; Reset; and the undo at start of a
 * detach a crash cut short.  The machine they run on is
 * engine/operation.c. */
#include "engine/operation.h"
#include "engine/bus.h"
#include "engine/claim.h"
#include "common/log.h"
#include "common/stub.h"
#include "common/util.h"
#include "common/variant.h"
#include "state/bus.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#define PCI_DEVICES "/sys/bus/pci/devices"
#define PCI_DRIVERS "/sys/bus/pci/drivers"
#define PCI_DRIVERS_PROBE "/sys/bus/pci/drivers_probe"

static void op_next(struct op *op);

/* ---- rollback ----------------------------------------------------------- */

static void rollback_write(struct op *op, const char *step, const char *path, const char *value)
{
	const struct detach_ops *ops = &op->e->ops;
	struct op_error err = { 0 };

	if (ops->write(ops->ctx, step, path, value, &err) < 0 && !op->rb.failed) {
		op->rb.failed = true;
		op->rb.err = err;
	}
}

static bool rollback_read(struct op *op)
{
	const struct detach_ops *ops = &op->e->ops;

	free(op->rb.driver);
	op->rb.driver = NULL;
	op->rb.gone = !ops->read_driver(ops->ctx, op->id, &op->rb.driver);
	return !op->rb.gone;
}

/* In a worker: back to the binding the operation started from.  Whatever
 * is bound that is not the original driver goes; the override is restored
 * if it was written; an unbound device is reprobed for its original
 * driver.  The result is read from the link, not assumed. */
static void run_rollback(void *arg)
{
	struct op *op = arg;
	char path[PATH_MAX];

	if (!rollback_read(op))
		return;
	if (op->rb.driver && !streq(op->rb.driver, op->from_driver)) {
		snprintf(path, sizeof(path), PCI_DRIVERS "/%s/unbind", op->rb.driver);
		rollback_write(op, "unbind", path, op->id);
	}
	if (op->rb.undo[PH_OVERRIDE]) {
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver_override", op->id);
		rollback_write(op, "driver_override", path,
			       op->from_override ? op->from_override : "\n");
	}
	if (!rollback_read(op))
		return;
	if (!op->rb.driver && op->from_driver) {
		rollback_write(op, "drivers_probe", PCI_DRIVERS_PROBE, op->id);
		rollback_read(op);
	}
}

static bool rollback_ok(const struct op *op)
{
	return !op->rb.failed && !op->rb.gone && streq(op->rb.driver, op->from_driver);
}

static void rollback_finish(struct op *op)
{
	struct detach_engine *e = op->e;
	struct device *dev = devtable_get(e->devices, op->id);
	struct op_error *f = &op->res.err.failure;
	bool ok = rollback_ok(op);

	if (!dev || op->rb.gone) {
		op_vanished(op);
		return;
	}
	devtable_update_binding(e->devices, op->id, op->rb.driver, op->from_override,
				op->rb.driver ? DEV_EVENT_BIND : DEV_EVENT_UNBIND);
	/* A repair's rebind to the stub keeps the pool's record. */
	if (ok && op->kind == DETACH_KIND_DETACH && op->from_state == DEV_HOST)
		device_pool_leave(dev);
	op_move(op, dev, ok ? op->from_state : DEV_ERROR, ok ? "rolled back" : "rollback failed");
	if (!ok && op->rb.failed)
		op_error_append(f, "; rollback failed: %s", op->rb.err.message);
	else if (!ok)
		op_error_append(f, "; rollback left it on %s, not %s",
				op->rb.driver ? op->rb.driver : "no driver",
				op->from_driver ? op->from_driver : "no driver");
	op_finish(op);
}

static void rollback_job_done(void *arg, enum worker_outcome outcome)
{
	struct op *op = arg;
	struct device *dev;

	if (outcome != WORKER_TIMED_OUT) {
		rollback_finish(op);
		return;
	}
	/* Answer now; the late result may still restore the device. */
	dev = devtable_get(op->e->devices, op->id);
	if (dev)
		op_move(op, dev, DEV_ERROR, "rollback timed out");
	op_error_append(&op->res.err.failure, "; the rollback did not finish within %u ms",
			op->e->step_timeout_ms * 3);
	op_reply(op);
}

static void op_start_rollback(struct op *op)
{
	if (op->confirm_timer)
		evtimer_del(op->confirm_timer);
	op_enter(op, PH_ROLLBACK);
	memcpy(op->rb.undo, op->done_steps, sizeof(op->rb.undo));
	/* Up to three writes, each with its own step's allowance. */
	worker_submit(op->e->workers, op->e->step_timeout_ms * 3, run_rollback, rollback_job_done,
		      op);
}

static void op_fail(struct op *op, enum hd_errcode code, const struct op_error *err)
{
	op_set_failure(op, code, err);
	op_start_rollback(op);
}

/* ---- forward steps ------------------------------------------------------ */

/* Whether `driver` is where the operation wants the device; `after_probe`
 * says the link was read right after drivers_probe returned, when an
 * unbound device means no driver wants it. */
static const char *op_confirms(const struct op *op, const char *driver, bool after_probe)
{
	if (op->kind == DETACH_KIND_DETACH)
		return streq(driver, op->stub) ? "bound" : NULL;
	if (op->target)
		return streq(driver, op->target) ? "original" : NULL;
	if (driver)
		return driver_is_stub(driver) ? NULL : "native";
	return after_probe ? "unbound" : NULL;
}

static void op_succeed(struct op *op, const char *driver, const char *outcome)
{
	struct detach_engine *e = op->e;
	struct device *dev = devtable_get(e->devices, op->id);
	bool detach = op->kind == DETACH_KIND_DETACH;

	if (!dev) {
		op_vanished(op);
		return;
	}
	if (op->confirm_timer)
		evtimer_del(op->confirm_timer);
	op_enter(op, PH_DONE);
	op->res_driver = xstrdup(driver);
	op->res.driver = op->res_driver;
	op->res.outcome = outcome;
	/* The record follows the link now; the uevent, when it comes, then
	 * changes nothing.  PH_DONE keeps this from re-entering the op. */
	devtable_update_binding(e->devices, op->id, driver, detach ? op->stub : NULL,
				driver ? DEV_EVENT_BIND : DEV_EVENT_UNBIND);
	if (!detach)
		device_pool_leave(dev);
	op_move(op, dev, detach ? DEV_DETACHED : DEV_HOST, detach ? "detached" : "reattached");
	op_reply(op);
	op_free(op);
}

static void step_job_done(void *arg, enum worker_outcome outcome)
{
	struct op *op = arg;

	switch (outcome) {
	case WORKER_TIMED_OUT:
		op_timed_out(op, true);
		break;
	case WORKER_LATE:
		log_dev_info(op->id, "%s returned %d after its timeout: rolling back",
			     op_phase_name(op->io.phase), op->io.r);
		op->done_steps[op->io.phase] = op->io.r == 0;
		op_start_rollback(op);
		break;
	case WORKER_DONE:
		if (op->io.r < 0) {
			op_fail(op, HDE_OPERATION_FAILED, &op->io.err);
			break;
		}
		op->done_steps[op->io.phase] = true;
		op_next(op);
		break;
	}
}

static void on_confirm_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct op *op = arg;
	struct op_error err;

	op_error_set(&err, ETIMEDOUT, op_phase_name(PH_CONFIRM), op->id,
		     "%s: no %s bound within %u ms", op->id,
		     op->kind == DETACH_KIND_DETACH ? op->stub
		     : op->target		     ? op->target
						     : "host driver",
		     op->e->step_timeout_ms);
	op_fail(op, HDE_TIMEOUT, &err);
}

/* drivers_probe returned: the link says whether the bind happened; if not
 * yet, the bind uevent or the deadline decides. */
static void op_confirm(struct op *op)
{
	const char *outcome = op_confirms(op, op->io.driver, true);
	unsigned ms = op->e->step_timeout_ms;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	if (op->io.gone) {
		op_vanished(op);
		return;
	}
	op_enter(op, PH_CONFIRM);
	if (outcome) {
		op_succeed(op, op->io.driver, outcome);
		return;
	}
	log_dev_debug(op->id, "nothing bound yet (link: %s): waiting for the bind event",
		      op->io.driver ? op->io.driver : "none");
	if (!op->confirm_timer)
		op->confirm_timer = evtimer_new(op->e->base, on_confirm_timeout, op);
	if (!op->confirm_timer || evtimer_add(op->confirm_timer, &tv) < 0)
		fatal("out of memory");
}

/* A variant's module is loaded: the driver it registered becomes the
 * stub written to driver_override, and a stub from now on. */
static bool variant_registered(struct op *op)
{
	const struct detach_ops *ops = &op->e->ops;

	op->stub = ops->driver_of_module
			   ? ops->driver_of_module(ops->ctx, "pci", op->variant_module)
			   : NULL;
	if (!op->stub)
		return false;
	stub_learn_variant(op->stub);
	log_dev_info(op->id, "variant module %s registers the driver %s", op->variant_module,
		     op->stub);
	return true;
}

/* The forward sequence: after each step, the next one. */
static void op_next(struct op *op)
{
	struct device *dev = devtable_get(op->e->devices, op->id);
	char path[PATH_MAX];

	if (!dev) {
		op_vanished(op);
		return;
	}
	switch (op->phase) {
	case PH_CHECK:
		if (op->kind == DETACH_KIND_DETACH &&
		    (!op->stub || !op->e->ops.driver_present(op->e->ops.ctx,
							     bus_of(dev)->subsystem, op->stub))) {
			op_submit(op, PH_LOAD_STUB, NULL, NULL, false, step_job_done);
			break;
		}
		/* The stub is there. */
		__attribute__((fallthrough));
	case PH_LOAD_STUB:
		if (op->variant_module && !op->stub && !variant_registered(op)) {
			struct op_error err;

			op_error_set(&err, ENOENT, op_phase_name(PH_LOAD_STUB), op->variant_module,
				     "module %s is loaded, but no driver in " PCI_DRIVERS
				     " has it as its module",
				     op->variant_module);
			op_fail(op, HDE_OPERATION_FAILED, &err);
			break;
		}
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver_override", op->id);
		op_submit(op, PH_OVERRIDE, path, op->kind == DETACH_KIND_DETACH ? op->stub : "\n",
			  true, step_job_done);
		break;
	case PH_OVERRIDE:
		if (op->io.gone) {
			op_vanished(op);
			break;
		}
		if (op->io.driver) {
			/* The driver the link names now, not the record's: a
			 * device just plugged in may have been bound by the
			 * kernel's own probe after its add event, before our
			 * record heard of it; and someone may have rebound
			 * it since the operation started. */
			snprintf(path, sizeof(path), PCI_DRIVERS "/%s/unbind", op->io.driver);
			op_submit(op, PH_UNBIND, path, op->id, false, step_job_done);
			break;
		}
		/* Nothing to unbind. */
		__attribute__((fallthrough));
	case PH_UNBIND:
		op_submit(op, PH_PROBE, PCI_DRIVERS_PROBE, op->id, true, step_job_done);
		break;
	case PH_PROBE:
		op_confirm(op);
		break;
	default:
		fatal("%s: op_next in phase %s", op->id, op_phase_name(op->phase));
	}
}

/* A bind or remove while the operation waits for its driver. */
void pci_op_device_event(struct op *op, enum dev_event ev, const struct device *dev)
{
	const char *outcome;

	if (ev == DEV_EVENT_REMOVE) {
		evtimer_del(op->confirm_timer);
		op_vanished(op);
		return;
	}
	outcome = op_confirms(op, dev->driver, false);
	if (outcome) {
		_cleanup_free_ char *driver = xstrdup(dev->driver);

		log_dev_debug(dev->id, "%s event confirms %s", dev_event_name(ev),
			      driver ? driver : "no driver");
		op_succeed(op, driver, outcome);
	}
}

/* ---- starting ----------------------------------------------------------- */

static struct op *pci_op_new(struct detach_engine *e, enum detach_kind kind, struct device *dev,
			     detach_done_fn done, void *ctx)
{
	struct op *op = op_new(e, kind, dev, done, ctx);

	op->from_override = xstrdup(dev->pci.driver_override);
	return op;
}

/* vfio-pci takes a function only through its IOMMU group (unless vfio's
 * unsafe no-IOMMU mode makes one up); without a group the probe fails
 * after the host driver is gone.  Said before anything is written, with
 * how to turn the IOMMU on.  Answers and returns true when refused. */
static bool refuse_no_iommu(struct detach_engine *e, const struct device *dev,
			    const struct detach_choice *c, detach_done_fn done, void *ctx)
{
	const struct detach_ops *ops = &e->ops;
	struct hd_err err;
	/* A variant is vfio-pci too: it needs the group as much. */
	bool vfio = c->variant || streq(c->driver, STUB_DEFAULT);

	if (!vfio || device_iommu_group(dev) != HD_NO_GROUP)
		return false;
	if (ops->unsafe_noiommu && ops->unsafe_noiommu(ops->ctx)) {
		log_dev_warn(dev->id, "no IOMMU group: vfio's unsafe no-IOMMU mode is on, so "
				      "vfio-pci may take it without isolation");
		return false;
	}
	err_set(&err, HDE_NO_IOMMU, dev->id);
	err.driver = c->driver ? c->driver : c->module;
	op_answer_now(DETACH_KIND_DETACH, dev->id, &err, done, ctx);
	return true;
}

const char *detach_variant_of(const struct detach_engine *e, const struct device *dev)
{
	char m[VARIANT_MODALIAS_MAX];

	if (!dev || dev->bus != HD_BUS_PCI || !variant_table_count(e->variants))
		return NULL;
	variant_modalias(m, dev->vendor, dev->product, dev->pci.subsystem_vendor,
			 dev->pci.subsystem_device, dev->pci.class_code);
	return variant_choose(e->variants, m);
}

/* The driver a registered variant module has, learned as a stub. */
static const char *variant_driver(struct detach_engine *e, const char *module)
{
	_cleanup_free_ char *driver =
		e->ops.driver_of_module ? e->ops.driver_of_module(e->ops.ctx, "pci", module) : NULL;

	if (!driver)
		return NULL;
	stub_learn_variant(driver);
	return stub_target(driver);
}

/* The module of registered PCI driver `name` as modules.alias names it
 * (the table's copy), when it is a variant's; else NULL. */
static const char *variant_module_of_driver(struct detach_engine *e, const char *name)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	if (!stub_name_valid(name))
		return NULL;
	snprintf(path, sizeof(path), PCI_DRIVERS "/%s/module", name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return NULL;
	link[n] = '\0';
	return variant_table_module(e->variants, strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
}

const char *detach_variant_named(struct detach_engine *e, const char *name)
{
	if (!stub_name_valid(name))
		return NULL;
	if (variant_table_has_module(e->variants, name))
		return variant_driver(e, name);
	if (stub_is_variant(name))
		return stub_target(name);
	/* A driver's name: its module must be a variant's. */
	if (!variant_module_of_driver(e, name))
		return NULL;
	stub_learn_variant(name);
	return stub_target(name);
}

void pci_learn_variants(struct detach_engine *e)
{
	DIR *d = variant_table_count(e->variants) ? opendir(PCI_DRIVERS) : NULL;
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			detach_variant_named(e, de->d_name);
	if (d)
		closedir(d);
}

bool detach_choose(struct detach_engine *e, const struct device *dev, const char *name,
		   struct detach_choice *c)
{
	const char *stub;

	*c = (struct detach_choice){ 0 };
	if (!name) {
		c->picked = true;
		c->module = detach_variant_of(e, dev);
		c->variant = c->module != NULL;
		c->driver = c->module ? variant_driver(e, c->module) : STUB_DEFAULT;
		return true;
	}
	if (!stub_name_valid(name))
		return false;
	/* A variant module by its name: its driver once it registered one. */
	if ((c->module = variant_table_module(e->variants, name))) {
		c->variant = true;
		c->driver = variant_driver(e, c->module);
		return true;
	}
	if ((stub = stub_target(name)) && !stub_is_variant(stub)) {
		c->driver = stub;
		return true;
	}
	/* A registered variant driver by its name (learned or not yet). */
	if ((c->driver = detach_variant_named(e, name))) {
		c->variant = true;
		c->module = variant_module_of_driver(e, c->driver);
		return true;
	}
	return false;
}

const char *detach_stub_target(struct detach_engine *e, const char *name)
{
	struct detach_choice c;

	if (!name || !detach_choose(e, NULL, name, &c))
		return NULL;
	return c.driver ? c.driver : c.module;
}

char **detach_drivers_accepted(struct detach_engine *e)
{
	size_t max = 3 * 2 + STUB_VARIANTS_MAX + variant_table_count(e->variants);
	const char **names = xcalloc(max + 1, sizeof(*names));
	size_t n = stub_names(names, max), kept = 0;

	n += variant_table_modules(e->variants, names + n, max - n);
	/* A module named like its driver is listed once, where it came first. */
	for (size_t i = 0; i < n; i++) {
		bool seen = false;

		for (size_t j = 0; j < kept && !seen; j++)
			seen = streq(names[j], names[i]);
		if (!seen)
			names[kept++] = names[i];
	}
	names[kept] = NULL;
	return (char **)names;
}

void detach_unknown_driver(struct detach_engine *e, const char *name, struct hd_err *err,
			   char ***accepted)
{
	_cleanup_free_ char *list = NULL;

	*accepted = detach_drivers_accepted(e);
	for (char **a = *accepted; *a; a++) {
		char *next = xasprintf("%s%s%s", list ? list : "", list ? ", " : "", *a);

		free(list);
		list = next;
	}
	err_reason(err, HDE_UNKNOWN_DRIVER, NULL,
		   "\"%s\" is no stub driver and no vfio-pci variant of this host; it takes %s",
		   name, list ? list : "none");
	err->driver = name;
	err->members = *accepted;
}

static void start_detach(struct detach_engine *e, const char *id, const char *stub,
			 bool check_critical, detach_done_fn done, void *ctx)
{
	struct device *dev = devtable_get(e->devices, id);
	struct detach_choice c;
	struct hd_err err;
	struct op *op;

	if (op_refuse_common(e, DETACH_KIND_DETACH, id, dev, done, ctx))
		return;
	/* None named: the best variant, by the driver it registered if it
	 * has; by its module (loaded first) if not; else plain vfio-pci.
	 * Named: that stub or variant, never plain vfio-pci in its place. */
	if (!detach_choose(e, dev, stub, &c)) {
		_cleanup_free_ char **accepted = NULL;

		detach_unknown_driver(e, stub, &err, &accepted);
		op_answer_now(DETACH_KIND_DETACH, id, &err, done, ctx);
		return;
	}
	/* On the stub already, the host has nothing on it to lose: no
	 * host-critical scan (an unmanaged claim comes this way every time). */
	if (c.driver && streq(dev->driver, c.driver) &&
	    (dev->state == DEV_HOST || dev->state == DEV_DETACHED)) {
		struct detach_result r = { .kind = DETACH_KIND_DETACH, .device = id,
					   .driver = dev->driver, .outcome = "already" };

		log_dev_debug(id, "already on %s: nothing to do", c.driver);
		done(&r, ctx);
		return;
	}
	if (check_critical && op_refuse_critical(e, DETACH_KIND_DETACH, dev, done, ctx))
		return;
	if (dev->state != DEV_HOST) {
		err_set(&err, HDE_INVALID_DEVICE_STATE, id);
		err.state = dev_state_name(dev->state);
		op_answer_now(DETACH_KIND_DETACH, id, &err, done, ctx);
		return;
	}
	if (refuse_no_iommu(e, dev, &c, done, ctx))
		return;
	op = pci_op_new(e, DETACH_KIND_DETACH, dev, done, ctx);
	op->stub = xstrdup(c.driver);
	op->variant_module = c.driver ? NULL : xstrdup(c.module);
	device_pool_enter(dev, dev->driver);
	log_dev_info(id, "detaching from %s to %s%s", dev->driver ? dev->driver : "no driver",
		     c.driver ? c.driver : c.module,
		     c.driver ? "" : " (variant module, to be loaded)");
	op_move(op, dev, DEV_DETACHING, "detach");
	op_next(op);
}

void detach_start(struct detach_engine *e, const char *id, const char *stub, detach_done_fn done,
		  void *ctx)
{
	start_detach(e, id, stub, true, done, ctx);
}

void detach_start_checked(struct detach_engine *e, const char *id, const char *stub,
			  detach_done_fn done, void *ctx)
{
	start_detach(e, id, stub, false, done, ctx);
}

/* Reattach's sequence from where dev is: `releasing` while it runs when
 * it leaves the pool (move), else the state stays until it succeeds. */
static void start_reattach_op(struct detach_engine *e, struct device *dev, bool move,
			      detach_done_fn done, void *ctx)
{
	struct op *op = pci_op_new(e, DETACH_KIND_REATTACH, dev, done, ctx);

	op->stub = xstrdup(dev->driver);
	op->target = xstrdup(dev->original_driver);
	if (move)
		op_move(op, dev, DEV_RELEASING, "reattach");
	op_next(op);
}

void reattach_start(struct detach_engine *e, const char *id, detach_done_fn done, void *ctx)
{
	struct device *dev = devtable_get(e->devices, id);
	struct hd_err err;

	if (op_refuse_common(e, DETACH_KIND_REATTACH, id, dev, done, ctx))
		return;
	/* In `host` with no driver (a crash or a failure left it unbound):
	 * nothing holds it, so it is only probed, and stays `host`. */
	if (dev->state == DEV_HOST && !dev->driver) {
		log_dev_info(id, "in host with no driver: probing for %s",
			     dev->original_driver ? dev->original_driver : "its host driver");
		start_reattach_op(e, dev, false, done, ctx);
		return;
	}
	if (dev->state != DEV_DETACHED) {
		err_set(&err, HDE_INVALID_DEVICE_STATE, id);
		err.state = dev_state_name(dev->state);
		op_answer_now(DETACH_KIND_REATTACH, id, &err, done, ctx);
		return;
	}
	log_dev_info(id, "reattaching from %s to %s", dev->driver ? dev->driver : "no driver",
		     dev->original_driver ? dev->original_driver : "whichever host driver wants it");
	start_reattach_op(e, dev, true, done, ctx);
}

/* ---- Repair ------------------------------------------------------------- */

struct repair {
	detach_done_fn done;
	void *ctx;
};

/* The move Repair ran answers as Repair. */
static void on_repair_moved(const struct detach_result *r, void *arg)
{
	struct repair rp = *(struct repair *)arg;
	struct detach_result out = *r;

	free(arg);
	out.kind = DETACH_KIND_REPAIR;
	if (r->err.code == HDE_OK && r->kind == DETACH_KIND_DETACH)
		out.outcome = "rebound";
	rp.done(&out, rp.ctx);
}

static struct repair *repair_new(detach_done_fn done, void *ctx)
{
	struct repair *rp = xcalloc(1, sizeof(*rp));

	rp->done = done;
	rp->ctx = ctx;
	return rp;
}

/* Where the device belongs when Repair finds it: the pool if it is in it
 * or its failed operation started there. */
static bool repair_to_pool(const struct device *dev)
{
	return dev->state == DEV_DETACHED ||
	       (dev->state == DEV_ERROR && dev->error_home == DEV_DETACHED);
}

/* The stub to bind a pool device to again: the one its override names,
 * else the default. */
static const char *repair_stub(const struct device *dev)
{
	const char *stub = stub_target(dev->pci.driver_override);

	return stub ? stub : STUB_DEFAULT;
}

/* The kernel's view, read again: the record follows the driver link. */
static bool repair_read(struct detach_engine *e, struct device *dev)
{
	const struct detach_ops *ops = &e->ops;
	_cleanup_free_ char *driver = NULL;

	if (!ops->read_driver(ops->ctx, dev->id, &driver))
		return false;
	devtable_update_binding(e->devices, dev->id, driver, dev->pci.driver_override,
				driver ? DEV_EVENT_BIND : DEV_EVENT_UNBIND);
	return true;
}

static void repair_pci(struct detach_engine *e, struct device *dev, detach_done_fn done,
		       void *ctx)
{
	bool pool = repair_to_pool(dev);
	struct op *op;

	if (dev->driver && !driver_is_stub(dev->driver)) {
		device_pool_leave(dev);
		devtable_set_state(e->devices, dev, DEV_HOST, "repair: on its host driver");
		op_repair_answer(dev, "host", done, ctx);
	} else if (dev->driver && pool) {
		devtable_set_state(e->devices, dev, DEV_DETACHED, "repair: on its stub");
		op_repair_answer(dev, "pool", done, ctx);
	} else if (pool) {
		log_dev_info(dev->id, "repair: unbound, from the pool: binding it to %s again",
			     repair_stub(dev));
		op = pci_op_new(e, DETACH_KIND_DETACH, dev, on_repair_moved, repair_new(done, ctx));
		op->stub = xstrdup(repair_stub(dev));
		op_next(op);
	} else {
		log_dev_info(dev->id, "repair: on %s: back to %s", dev->driver ? dev->driver : "no driver",
			     dev->original_driver ? dev->original_driver : "its host driver");
		start_reattach_op(e, dev, false, on_repair_moved, repair_new(done, ctx));
	}
}

/* The kernel's view first: Repair acts on the driver link as it is now. */
static void pci_repair(struct detach_engine *e, struct device *dev, detach_done_fn done, void *ctx)
{
	struct hd_err err;

	if (!repair_read(e, dev)) {
		err_set(&err, HDE_DEVICE_NOT_FOUND, dev->id);
		op_answer_now(DETACH_KIND_REPAIR, dev->id, &err, done, ctx);
		return;
	}
	repair_pci(e, dev, done, ctx);
}

void pci_error_rebound(struct detach_engine *e, struct device *dev)
{
	if (!dev || !bus_of(dev)->stub_drivers || !dev->driver)
		return;
	if (!driver_is_stub(dev->driver))
		device_pool_leave(dev);
	log_dev_info(dev->id, "bound to %s while in error: %s now", dev->driver,
		     driver_is_stub(dev->driver) ? "detached" : "host");
	devtable_set_state(e->devices, dev, device_observed_state(dev), "bound while in error");
}

/* ---- after a crash ------------------------------------------------------ */

/* Stopped between the writes of a detach: the override may still name the
 * stub, and the host driver may be unbound.  Both are quick attribute
 * writes; they run here, through the engine's seam, at start, before the
 * loop serves anyone, so that the first client finds the device settled
 * (the only writes the engine makes on the calling thread). */
void detach_undo_interrupted(struct detach_engine *e, struct device *dev, const char *stub,
			     const char *why)
{
	const struct detach_ops *ops = &e->ops;
	char path[PATH_MAX];
	struct op_error err;

	/* A claim that named no stub recorded none, and one that named a
	 * variant by its module recorded the module: any stub's override is
	 * the one its detach wrote. */
	if (stub && stub_target(stub) ? streq(dev->pci.driver_override, stub)
				      : stub_target(dev->pci.driver_override) != NULL) {
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver_override", dev->id);
		if (ops->write(ops->ctx, "driver_override", path, "\n", &err) < 0)
			log_dev_warn(dev->id, "restart: %s: %s", why, err.message);
		else
			log_dev_info(dev->id, "restart: %s: driver_override %s cleared", why, stub);
	}
	if (!dev->driver) {
		if (ops->write(ops->ctx, "drivers_probe", PCI_DRIVERS_PROBE, dev->id, &err) < 0)
			log_dev_warn(dev->id, "restart: %s: %s", why, err.message);
		else
			log_dev_info(dev->id, "restart: %s: unbound, probed for its host driver", why);
	}
	if (dev->driver)
		log_dev_info(dev->id, "restart: %s; still on %s", why, dev->driver);
}

/* ---- Reset -------------------------------------------------------------- */

static void reset_written(struct op *op)
{
	struct device *dev = devtable_get(op->e->devices, op->id);

	op->res.outcome = "reset";
	op->res.methods = dev ? dev->pci.reset_methods : NULL;
}

void reset_start(struct detach_engine *e, const char *id, detach_done_fn done, void *ctx)
{
	struct device *dev = devtable_get(e->devices, id);
	char path[PATH_MAX];
	struct hd_err err;
	struct op *op;

	if (op_refuse_common(e, DETACH_KIND_RESET, id, dev, done, ctx) ||
	    op_refuse_critical(e, DETACH_KIND_RESET, dev, done, ctx))
		return;
	if (!dev->pci.has_reset) {
		err_set(&err, HDE_OPERATION_FAILED, id);
		op_error_set(&err.failure, ENOTTY, op_phase_name(PH_RESET), id,
			     "%s: the kernel offers no reset method for it (no reset attribute)",
			     id);
		op_answer_now(DETACH_KIND_RESET, id, &err, done, ctx);
		return;
	}
	op = pci_op_new(e, DETACH_KIND_RESET, dev, done, ctx);
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/reset", id);
	log_dev_info(id, "resetting");
	op_single_write(op, PH_RESET, path, "1", reset_written);
}

/* ---- claims, restart and policy (engine/bus.h) --------------------------- */

/* Unmanaged: the caller detached it before; it must be in the pool. */
static bool pci_claimable(const struct device *dev, bool managed)
{
	return dev->state == DEV_DETACHED || (managed && dev->state == DEV_HOST);
}

/* No stub named: none recorded, so each detach of the claim (the take, a
 * put_back) makes the engine's choice: the device's variant or vfio-pci. */
static void pci_reserve(struct claim_entry *e, const struct device *dev,
			const struct claim_request *req)
{
	e->stub = xstrdup(req->stub);
}

static bool pci_take_writes(const struct claim_entry *e, const struct device *dev, bool managed)
{
	return managed && !driver_is_stub(dev->driver);
}

static bool pci_give_back_writes(const struct claim_entry *e)
{
	return e->managed && !e->from_pool;
}

/* A function already on a stub stays on it: the engine answers "already"
 * and writes nothing. */
static enum bus_take pci_take(struct detach_engine *de, const struct device *dev,
			      const struct claim_entry *e, bool managed, detach_done_fn done,
			      void *ctx)
{
	if (!managed && dev->state != DEV_DETACHED)
		return BUS_TAKE_BAD_STATE;
	detach_start_checked(de, dev->id, dev->state == DEV_DETACHED ? dev->driver : e->stub, done,
			     ctx);
	return BUS_TAKE_STARTED;
}

static void pci_untake(struct detach_engine *de, const struct device *dev,
		       const struct claim_entry *e, detach_done_fn done, void *ctx)
{
	reattach_start(de, dev->id, done, ctx);
}

/* Managed: reattached (releasing -> host); unmanaged, or taken from the
 * detached pool: back to the pool, where an administrator's Detach put it. */
static bool pci_give_back(struct detach_engine *de, struct devtable *t, struct device *dev,
			  const struct claim_entry *e, detach_done_fn done, void *ctx)
{
	devtable_set_state(t, dev, DEV_DETACHED, "released");
	if (!e->managed || e->from_pool)
		return false;
	reattach_start(de, dev->id, done, ctx);
	return true;
}

static bool pci_in_place(const struct claim_entry *e, const struct device *dev)
{
	return driver_is_stub(dev->driver);
}

static const char *pci_returned(const struct claim_entry *e, const struct device *dev,
				bool *move)
{
	*move = false;
	if (driver_is_stub(dev->driver))
		return "claimed device returned on a stub";
	if (!e->managed) {
		log_dev_warn(dev->id, "returned on %s, not on a stub; the unmanaged claim of %s/%s "
				      "stays, and so does the driver",
			     dev->driver ? dev->driver : "no driver", e->driver, e->domain);
		return NULL;
	}
	*move = true;
	return NULL;
}

static void pci_put_back(struct detach_engine *de, const struct device *dev,
			 const struct claim_entry *e, detach_done_fn done, void *ctx)
{
	log_dev_info(dev->id, "claimed by %s/%s and back: detaching it to %s again", e->driver,
		     e->domain, e->stub);
	detach_start(de, dev->id, e->stub, done, ctx);
}

/* On a stub: reattached to the original driver; otherwise the writes a
 * detach had made so far are undone. */
static bool pci_undo(struct detach_engine *de, struct device *dev, const char *stub,
		     const char *original, const char *why, detach_done_fn done, void *ctx)
{
	if (!driver_is_stub(dev->driver)) {
		detach_undo_interrupted(de, dev, stub, why);
		return true;
	}
	log_dev_info(dev->id, "restart: %s: reattaching it to %s", why,
		     original ? original : "its host driver");
	device_pool_enter(dev, original);
	reattach_start(de, dev->id, done, ctx);
	return true;
}

static bool pci_policy_wants(const struct device *dev, const struct policy_decision *d)
{
	return (d->action == POLICY_DETACH || d->action == POLICY_ASSIGN) &&
	       !driver_is_stub(dev->driver);
}

/* A rule that lifts the host-critical refusal for its one address lets
 * the detach skip the scan.  Its driver goes as named, resolved as
 * Detach's: a variant whose module does not load, or a name this host has
 * no driver for, fails the action (the device stays with its host driver),
 * never falling back to plain vfio-pci; "auto" is none named, the
 * engine's choice. */
static void pci_policy_act(struct detach_engine *de, const struct device *dev,
			   const struct policy_decision *d, detach_done_fn done, void *ctx)
{
	const char *stub = streq(d->stub, POLICY_STUB_AUTO) ? NULL : d->stub;

	if (d->host_critical_ok)
		detach_start_checked(de, dev->id, stub, done, ctx);
	else
		detach_start(de, dev->id, stub, done, ctx);
}

const struct bus_engine bus_engine_pci = {
	.claimable = pci_claimable,
	.reserve = pci_reserve,
	.take_writes = pci_take_writes,
	.give_back_writes = pci_give_back_writes,
	.take = pci_take,
	.untake = pci_untake,
	.give_back = pci_give_back,
	.in_place = pci_in_place,
	.returned = pci_returned,
	.put_back = pci_put_back,
	.undo = pci_undo,
	.policy_wants = pci_policy_wants,
	.repair = pci_repair,
	.policy_act = pci_policy_act,
};
