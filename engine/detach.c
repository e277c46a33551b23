#include "engine/detach.h"
#include "common/log.h"
#include "common/util.h"
#include "engine/failpoint.h"
#include "policy/hostcrit.h"
#include "engine/worker.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PCI_DEVICES "/sys/bus/pci/devices"
#define PCI_DRIVERS "/sys/bus/pci/drivers"
#define PCI_DRIVERS_PROBE "/sys/bus/pci/drivers_probe"
#define USB_DEVICES "/sys/bus/usb/devices"
#define USB_DRIVERS "/sys/bus/usb/drivers"

/* An operation's phases, in order; a phase's name is the step an error
 * names.  Forward phases are LOAD_STUB..CONFIRM; ROLLBACK undoes them. */
enum op_phase {
	PH_CHECK = 0,
	PH_LOAD_STUB,
	PH_OVERRIDE,
	PH_UNBIND,
	PH_PROBE,
	PH_CONFIRM,
	PH_RESET, /* Reset's one write; never rolled back */
	PH_USB_UNBIND, /* a USB device's interface drivers, one job */
	PH_USB_BIND,
	PH_AUTHORIZE, /* a USB device's `authorized`: one write, like reset */
	PH_ROLLBACK,
	PH_LATE, /* replied Timeout; waiting for the stuck write to return */
	PH_DONE,
	PH__COUNT
};

static const char *const phase_names[PH__COUNT] = {
	[PH_CHECK] = "check",
	[PH_LOAD_STUB] = "load_module",
	[PH_OVERRIDE] = "driver_override",
	[PH_UNBIND] = "unbind",
	[PH_PROBE] = "drivers_probe",
	[PH_CONFIRM] = "confirm_bind",
	[PH_RESET] = "reset",
	[PH_USB_UNBIND] = "unbind_interface",
	[PH_USB_BIND] = "bind_interface",
	[PH_AUTHORIZE] = "authorized",
	[PH_ROLLBACK] = "rollback",
	[PH_LATE] = "late",
	[PH_DONE] = "done",
};

static const char *const kind_names[] = {
	[DETACH_KIND_DETACH] = "Detach",
	[DETACH_KIND_REATTACH] = "Reattach",
	[DETACH_KIND_RESET] = "Reset",
	[DETACH_KIND_USB_UNBIND] = "UnbindInterfaces",
	[DETACH_KIND_USB_BIND] = "BindInterfaces",
	[DETACH_KIND_USB_AUTHORIZE] = "Authorize",
};

static const char *const status_errors[] = {
	[DETACH_OK] = NULL,
	[DETACH_NOT_FOUND] = "io.hostdevd.DeviceNotFound",
	[DETACH_BUSY] = "io.hostdevd.DeviceBusy",
	[DETACH_HOST_CRITICAL] = "io.hostdevd.HostCritical",
	[DETACH_BAD_STATE] = "io.hostdevd.InvalidDeviceState",
	[DETACH_FAILED] = "io.hostdevd.OperationFailed",
	[DETACH_TIMEOUT] = "io.hostdevd.Timeout",
};

/* One step's input and output, shared with the worker thread: the loop
 * fills the input before submitting and reads the output only once the job
 * is delivered as done. */
struct step_io {
	enum op_phase phase;
	char path[PATH_MAX];
	char value[64];
	const char *module;
	int r;
	struct op_error err;
	bool read_back;   /* read the driver link after the write */
	char *driver;     /* the link after the write */
	bool gone;
};

/* The rollback's input and output, likewise. */
struct rollback_io {
	bool undo[PH__COUNT]; /* forward steps that took effect */
	bool failed;
	struct op_error err;
	char *driver; /* bound at the end */
	bool gone;
};

/* A USB interfaces job's input and output, likewise. */
struct usb_io {
	struct iface_binding *b;
	size_t n;
	bool unbind;
	int r;
	struct op_error err;
	bool rb_failed; /* an unbind's own undo failed */
	struct op_error rb_err;
};

struct op {
	struct detach_engine *e;
	enum detach_kind kind;
	enum op_phase phase;
	char *id;
	char *from_driver, *from_override; /* the binding to return to on failure */
	enum dev_state from_state;
	char *stub;   /* detach: the stub; reattach: the one being left */
	char *target; /* reattach: the driver that must come back, NULL for any */
	bool done_steps[PH__COUNT];
	struct step_io io;
	struct rollback_io rb;
	struct usb_io usb;
	struct event *confirm_timer;
	struct detach_result res;
	char *res_driver;
	bool replied;
	detach_done_fn done;
	void *ctx;
	struct op *prev, *next;
};

struct detach_engine {
	struct event_base *base;
	struct devtable *devices;
	struct worker_pool *workers;
	struct detach_ops ops;
	unsigned step_timeout_ms;
	void (*state_changed)(const struct device *dev, void *ctx);
	void *ctx;
	struct op *ops_head;
	size_t n_ops;
	struct hostcrit *hostcrit;
};

static void op_next(struct op *op);
static void op_fail(struct op *op, enum detach_status st, const struct op_error *err);

const char *detach_kind_name(enum detach_kind kind)
{
	return kind < ARRAY_SIZE(kind_names) ? kind_names[kind] : "invalid";
}

/* ---- the real kernel ---------------------------------------------------- */

static int sysfs_ops_write(void *ctx, const char *step, const char *path, const char *value,
			   struct op_error *err)
{
	return sysfs_write(step, path, value, err);
}

static int sysfs_ops_module_load(void *ctx, const char *name, struct op_error *err)
{
	return sysfs_module_load(name, err);
}

static bool sysfs_ops_read_driver(void *ctx, const char *id, char **driver)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	*driver = NULL;
	/* A PCI function, or a USB interface (its id has no PCI form). */
	snprintf(path, sizeof(path), PCI_DEVICES "/%s", id);
	if (access(path, F_OK) < 0) {
		snprintf(path, sizeof(path), USB_DEVICES "/%s", id);
		if (access(path, F_OK) < 0)
			return false;
	}
	strcat(path, "/driver");
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return true; /* no link: unbound */
	link[n] = '\0';
	*driver = xstrdup(strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
	return true;
}

static bool sysfs_ops_driver_present(void *ctx, const char *driver)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DRIVERS "/%s", driver);
	return access(path, F_OK) == 0;
}

const struct detach_ops *detach_sysfs_ops(void)
{
	static const struct detach_ops ops = {
		.write = sysfs_ops_write,
		.module_load = sysfs_ops_module_load,
		.read_driver = sysfs_ops_read_driver,
		.driver_present = sysfs_ops_driver_present,
	};

	return &ops;
}

/* ---- operations: bookkeeping -------------------------------------------- */

static bool phase_transition_ok(enum op_phase from, enum op_phase to)
{
	/* A reset is one write: nothing to undo, nothing after it. */
	if (to == PH_RESET || to == PH_AUTHORIZE)
		return from == PH_CHECK;
	if (from == PH_RESET || from == PH_AUTHORIZE)
		return to == PH_LATE || to == PH_DONE;
	/* USB interfaces: one job; a late unbind is undone by a bind job. */
	if (to == PH_USB_UNBIND)
		return from == PH_CHECK;
	if (to == PH_USB_BIND)
		return from == PH_CHECK || from == PH_LATE;
	if (from == PH_USB_UNBIND || from == PH_USB_BIND)
		return to == PH_LATE || to == PH_DONE;
	if (to == PH_DONE)
		return from != PH_DONE;
	if (to == PH_ROLLBACK)
		return from < PH_ROLLBACK || from == PH_LATE;
	if (to == PH_LATE)
		return from >= PH_LOAD_STUB && from <= PH_PROBE;
	return from < to && to <= PH_CONFIRM;
}

/* The one place an operation changes phase. */
static void op_enter(struct op *op, enum op_phase to)
{
	if (!phase_transition_ok(op->phase, to))
		fatal("%s %s: bad phase change %s -> %s", detach_kind_name(op->kind), op->id,
		      phase_names[op->phase], phase_names[to]);
	log_dev_debug(op->id, "%s: %s -> %s", detach_kind_name(op->kind), phase_names[op->phase],
		      phase_names[to]);
	op->phase = to;
}

static struct op *op_find(const struct detach_engine *e, const char *id)
{
	for (struct op *op = e->ops_head; op; op = op->next)
		if (streq(op->id, id))
			return op;
	return NULL;
}

static void device_move(struct detach_engine *e, struct device *dev, enum dev_state to,
			const char *why)
{
	if (dev->state == to)
		return;
	if (device_set_state(dev, to, why) && e->state_changed)
		e->state_changed(dev, e->ctx);
}

static struct op *op_new(struct detach_engine *e, enum detach_kind kind, struct device *dev,
			 detach_done_fn done, void *ctx)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->e = e;
	op->kind = kind;
	op->phase = PH_CHECK;
	op->id = xstrdup(dev->id);
	op->from_driver = xstrdup(dev->driver);
	if (dev->bus == HD_BUS_PCI)
		op->from_override = xstrdup(dev->pci.driver_override);
	op->from_state = dev->state;
	op->done = done;
	op->ctx = ctx;
	op->res = (struct detach_result){ .kind = kind, .device = op->id };
	op->next = e->ops_head;
	if (e->ops_head)
		e->ops_head->prev = op;
	e->ops_head = op;
	e->n_ops++;
	return op;
}

static void op_free(struct op *op)
{
	struct detach_engine *e = op->e;

	if (op->prev)
		op->prev->next = op->next;
	else
		e->ops_head = op->next;
	if (op->next)
		op->next->prev = op->prev;
	e->n_ops--;
	if (op->confirm_timer)
		event_free(op->confirm_timer);
	free(op->io.driver);
	free(op->rb.driver);
	free(op->id);
	free(op->from_driver);
	free(op->from_override);
	free(op->stub);
	free(op->target);
	free(op->res_driver);
	for (size_t i = 0; i < op->usb.n; i++) {
		free(op->usb.b[i].iface);
		free(op->usb.b[i].driver);
	}
	free(op->usb.b);
	free(op);
}

static void op_reply(struct op *op)
{
	if (op->replied)
		return;
	op->replied = true;
	op->res.error = status_errors[op->res.status];
	if (op->res.status == DETACH_OK && op->kind == DETACH_KIND_RESET)
		log_dev_info(op->id, "Reset done");
	else if (op->res.status == DETACH_OK && op->res.outcome && !op->res.driver)
		log_dev_info(op->id, "%s done: %s", detach_kind_name(op->kind), op->res.outcome);
	else if (op->res.status == DETACH_OK)
		log_dev_info(op->id, "%s done: %s (driver %s)", detach_kind_name(op->kind),
			     op->res.outcome, op->res.driver ? op->res.driver : "none");
	else
		log_dev_warn(op->id, "%s failed: %s", detach_kind_name(op->kind),
			     op->res.failure.message[0] ? op->res.failure.message : op->res.error);
	op->done(&op->res, op->ctx);
}

static void op_finish(struct op *op)
{
	op_enter(op, PH_DONE);
	op_reply(op);
	op_free(op);
}

/* The device left the table (hot-unplugged) while no job was in flight:
 * there is nothing left to roll back. */
static void op_vanished(struct op *op)
{
	struct device *dev = devtable_get(op->e->devices, op->id);

	/* Still in the table (its remove event not applied yet): what it is
	 * bound to is unknown. */
	if (dev)
		device_move(op->e, dev, DEV_ERROR, "vanished during an operation");
	if (op->res.status == DETACH_OK)
		op->res.status = DETACH_FAILED;
	if (!op->res.failure.err)
		op_error_set(&op->res.failure, ENODEV, phase_names[op->phase], op->id,
			     "%s disappeared during %s", op->id, phase_names[op->phase]);
	op_finish(op);
}

/* Answers at once, without an operation: refusals and no-ops. */
static void answer_now(enum detach_kind kind, const char *id, enum detach_status st,
		       const char *reason, const struct op_error *err, detach_done_fn done,
		       void *ctx)
{
	struct detach_result r = { .kind = kind, .status = st, .device = id,
				   .error = status_errors[st], .reason = reason };

	if (err)
		r.failure = *err;
	done(&r, ctx);
}

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

static void append_message(struct op_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void append_message(struct op_error *e, const char *fmt, ...)
{
	size_t len = strlen(e->message);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->message + len, sizeof(e->message) - len, fmt, ap);
	va_end(ap);
}

static bool rollback_ok(const struct op *op)
{
	return !op->rb.failed && !op->rb.gone && streq(op->rb.driver, op->from_driver);
}

static void rollback_finish(struct op *op)
{
	struct detach_engine *e = op->e;
	struct device *dev = devtable_get(e->devices, op->id);
	bool ok = rollback_ok(op);

	if (!dev || op->rb.gone) {
		op_vanished(op);
		return;
	}
	devtable_update_binding(e->devices, op->id, op->rb.driver, op->from_override,
				op->rb.driver ? DEV_EVENT_BIND : DEV_EVENT_UNBIND);
	if (ok && op->kind == DETACH_KIND_DETACH)
		str_replace(&dev->original_driver, NULL);
	device_move(e, dev, ok ? op->from_state : DEV_ERROR,
		    ok ? "rolled back" : "rollback failed");
	if (!ok && op->rb.failed)
		append_message(&op->res.failure, "; rollback failed: %s", op->rb.err.message);
	else if (!ok)
		append_message(&op->res.failure, "; rollback left it on %s, not %s",
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
		device_move(op->e, dev, DEV_ERROR, "rollback timed out");
	append_message(&op->res.failure, "; the rollback did not finish within %u ms",
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

static void op_fail(struct op *op, enum detach_status st, const struct op_error *err)
{
	op->res.status = st;
	op->res.failure = *err;
	if (st == DETACH_TIMEOUT)
		op->res.seconds = op->e->step_timeout_ms / 1000.0;
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
		str_replace(&dev->original_driver, NULL);
	device_move(e, dev, detach ? DEV_DETACHED : DEV_HOST, detach ? "detached" : "reattached");
	op_reply(op);
	op_free(op);
}

static void step_write(struct op *op, const char *path, const char *value)
{
	snprintf(op->io.path, sizeof(op->io.path), "%s", path);
	snprintf(op->io.value, sizeof(op->io.value), "%s", value);
}

static void run_step(void *arg)
{
	struct op *op = arg;
	struct step_io *io = &op->io;
	const struct detach_ops *ops = &op->e->ops;

	if (io->module)
		io->r = ops->module_load(ops->ctx, io->module, &io->err);
	else
		io->r = ops->write(ops->ctx, phase_names[io->phase], io->path, io->value, &io->err);
	if (io->r == 0 && !io->module) {
		char fp[64];

		snprintf(fp, sizeof(fp), "%s.%s",
			 op->kind == DETACH_KIND_DETACH ? "detach" : "reattach",
			 phase_names[io->phase]);
		failpoint(fp);
	}
	if (io->r == 0 && io->read_back)
		io->gone = !ops->read_driver(ops->ctx, op->id, &io->driver);
}

static void op_timed_out(struct op *op)
{
	struct device *dev = devtable_get(op->e->devices, op->id);
	const char *step = phase_names[op->io.phase];

	op->res.status = DETACH_TIMEOUT;
	op->res.seconds = op->e->step_timeout_ms / 1000.0;
	op_error_set(&op->res.failure, ETIMEDOUT, step, op->io.path,
		     "%s: %s did not return within %u ms", op->id, step, op->e->step_timeout_ms);
	/* The write is still inside the kernel: what the device is on is
	 * unknown until it returns. */
	if (dev)
		device_move(op->e, dev, DEV_ERROR, "step timed out");
	op_enter(op, PH_LATE);
	op_reply(op);
}

static void step_job_done(void *arg, enum worker_outcome outcome)
{
	struct op *op = arg;

	switch (outcome) {
	case WORKER_TIMED_OUT:
		op_timed_out(op);
		break;
	case WORKER_LATE:
		log_dev_info(op->id, "%s returned %d after its timeout: rolling back",
			     phase_names[op->io.phase], op->io.r);
		op->done_steps[op->io.phase] = op->io.r == 0;
		op_start_rollback(op);
		break;
	case WORKER_DONE:
		if (op->io.r < 0) {
			op_fail(op, DETACH_FAILED, &op->io.err);
			break;
		}
		op->done_steps[op->io.phase] = true;
		op_next(op);
		break;
	}
}

/* Prepares the step's input, then hands it to a worker: the worker owns
 * op->io from the submit until the job is delivered. */
static void op_submit(struct op *op, enum op_phase phase, const char *path, const char *value,
		      bool read_back)
{
	free(op->io.driver);
	op->io = (struct step_io){ .phase = phase, .read_back = read_back };
	if (phase == PH_LOAD_STUB)
		op->io.module = op->stub;
	else
		step_write(op, path, value);
	op_enter(op, phase);
	worker_submit(op->e->workers, op->e->step_timeout_ms, run_step, step_job_done, op);
}

static void on_confirm_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct op *op = arg;
	struct op_error err;

	op_error_set(&err, ETIMEDOUT, phase_names[PH_CONFIRM], op->id,
		     "%s: no %s bound within %u ms", op->id,
		     op->kind == DETACH_KIND_DETACH ? op->stub
						   : op->target ? op->target : "host driver",
		     op->e->step_timeout_ms);
	op_fail(op, DETACH_TIMEOUT, &err);
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
		    !op->e->ops.driver_present(op->e->ops.ctx, op->stub)) {
			op_submit(op, PH_LOAD_STUB, NULL, NULL, false);
			break;
		}
		/* The stub is there. */
		__attribute__((fallthrough));
	case PH_LOAD_STUB:
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver_override", op->id);
		op_submit(op, PH_OVERRIDE, path, op->kind == DETACH_KIND_DETACH ? op->stub : "\n",
			  true);
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
			op_submit(op, PH_UNBIND, path, op->id, false);
			break;
		}
		/* Nothing to unbind. */
		__attribute__((fallthrough));
	case PH_UNBIND:
		op_submit(op, PH_PROBE, PCI_DRIVERS_PROBE, op->id, true);
		break;
	case PH_PROBE:
		op_confirm(op);
		break;
	default:
		fatal("%s: op_next in phase %s", op->id, phase_names[op->phase]);
	}
}

/* ---- starting ----------------------------------------------------------- */

const char *detach_host_critical(struct detach_engine *e, const struct device *dev, char *buf,
				 size_t size)
{
	return hostcrit_reason(e->hostcrit, dev, buf, size);
}

/* Refusals common to both operations; returns true when answered. */
static bool refuse_common(struct detach_engine *e, enum detach_kind kind, const char *id,
			  const struct device *dev, detach_done_fn done, void *ctx)
{
	const struct op *busy = op_find(e, id);
	struct op_error err;

	if (!dev) {
		answer_now(kind, id, DETACH_NOT_FOUND, NULL, NULL, done, ctx);
	} else if (busy) {
		answer_now(kind, id, DETACH_BUSY, detach_kind_name(busy->kind), NULL, done, ctx);
	} else if ((dev->bus == HD_BUS_USB) !=
		   (kind == DETACH_KIND_USB_UNBIND || kind == DETACH_KIND_USB_BIND ||
		    kind == DETACH_KIND_USB_AUTHORIZE)) {
		op_error_set(&err, EOPNOTSUPP, phase_names[PH_CHECK], id,
			     "%s is a %s device: %s is for %s", id, hd_bus_name(dev->bus),
			     detach_kind_name(kind),
			     dev->bus == HD_BUS_USB ? "PCI functions" : "USB devices");
		answer_now(kind, id, DETACH_FAILED, NULL, &err, done, ctx);
	} else {
		return false;
	}
	return true;
}

static void start_detach(struct detach_engine *e, const char *id, const char *stub,
			 bool check_critical, detach_done_fn done, void *ctx)
{
	struct device *dev = devtable_get(e->devices, id);
	const char *critical;
	char reason[256];
	struct op *op;

	if (refuse_common(e, DETACH_KIND_DETACH, id, dev, done, ctx))
		return;
	/* On the stub already, the host has nothing on it to lose: no
	 * host-critical scan (an unmanaged claim comes this way every time). */
	if (streq(dev->driver, stub) && (dev->state == DEV_HOST || dev->state == DEV_DETACHED)) {
		struct detach_result r = { .kind = DETACH_KIND_DETACH, .device = id,
					   .driver = dev->driver, .outcome = "already" };

		log_dev_debug(id, "already on %s: nothing to do", stub);
		done(&r, ctx);
		return;
	}
	if (check_critical && (critical = detach_host_critical(e, dev, reason, sizeof(reason)))) {
		answer_now(DETACH_KIND_DETACH, id, DETACH_HOST_CRITICAL, critical, NULL, done, ctx);
		return;
	}
	if (dev->state != DEV_HOST) {
		answer_now(DETACH_KIND_DETACH, id, DETACH_BAD_STATE, dev_state_name(dev->state), NULL,
			   done, ctx);
		return;
	}
	op = op_new(e, DETACH_KIND_DETACH, dev, done, ctx);
	op->stub = xstrdup(stub);
	str_replace(&dev->original_driver, dev->driver);
	log_dev_info(id, "detaching from %s to %s", dev->driver ? dev->driver : "no driver", stub);
	device_move(e, dev, DEV_DETACHING, "detach");
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

void reattach_start(struct detach_engine *e, const char *id, detach_done_fn done, void *ctx)
{
	struct device *dev = devtable_get(e->devices, id);
	struct op *op;

	if (refuse_common(e, DETACH_KIND_REATTACH, id, dev, done, ctx))
		return;
	if (dev->state != DEV_DETACHED) {
		answer_now(DETACH_KIND_REATTACH, id, DETACH_BAD_STATE, dev_state_name(dev->state),
			   NULL, done, ctx);
		return;
	}
	op = op_new(e, DETACH_KIND_REATTACH, dev, done, ctx);
	op->stub = xstrdup(dev->driver);
	op->target = xstrdup(dev->original_driver);
	log_dev_info(id, "reattaching from %s to %s", dev->driver ? dev->driver : "no driver",
		     op->target ? op->target : "whichever host driver wants it");
	device_move(e, dev, DEV_RELEASING, "reattach");
	op_next(op);
}

/* ---- Reset -------------------------------------------------------------- */

static void reset_job_done(void *arg, enum worker_outcome outcome)
{
	struct op *op = arg;

	switch (outcome) {
	case WORKER_TIMED_OUT:
		op->res.status = DETACH_TIMEOUT;
		op->res.seconds = op->e->step_timeout_ms / 1000.0;
		op_error_set(&op->res.failure, ETIMEDOUT, phase_names[op->io.phase], op->io.path,
			     "%s: %s did not return within %u ms", op->id,
			     phase_names[op->io.phase], op->e->step_timeout_ms);
		/* The operation stays until the write returns: the device is
		 * busy while the kernel still resets it. */
		op_enter(op, PH_LATE);
		op_reply(op);
		break;
	case WORKER_LATE:
		log_dev_info(op->id, "%s returned %d after its timeout", phase_names[op->io.phase],
			     op->io.r);
		op_finish(op);
		break;
	case WORKER_DONE:
		if (op->io.r < 0) {
			op->res.status = DETACH_FAILED;
			op->res.failure = op->io.err;
		} else {
			op->res.outcome = op->kind == DETACH_KIND_RESET ? "reset"
					  : streq(op->io.value, "0")  ? "deauthorized"
								      : "authorized";
		}
		op_finish(op);
		break;
	}
}

void reset_start(struct detach_engine *e, const char *id, detach_done_fn done, void *ctx)
{
	struct device *dev = devtable_get(e->devices, id);
	const char *critical;
	char reason[256];
	struct op_error err;
	struct op *op;

	if (refuse_common(e, DETACH_KIND_RESET, id, dev, done, ctx))
		return;
	if ((critical = detach_host_critical(e, dev, reason, sizeof(reason)))) {
		answer_now(DETACH_KIND_RESET, id, DETACH_HOST_CRITICAL, critical, NULL, done, ctx);
		return;
	}
	if (!dev->pci.has_reset) {
		op_error_set(&err, ENOTTY, phase_names[PH_RESET], id,
			     "%s: the kernel offers no reset method for it (no reset attribute)",
			     id);
		answer_now(DETACH_KIND_RESET, id, DETACH_FAILED, NULL, &err, done, ctx);
		return;
	}
	op = op_new(e, DETACH_KIND_RESET, dev, done, ctx);
	op->io = (struct step_io){ .phase = PH_RESET };
	snprintf(op->io.path, sizeof(op->io.path), PCI_DEVICES "/%s/reset", id);
	snprintf(op->io.value, sizeof(op->io.value), "1");
	log_dev_info(id, "resetting");
	op_enter(op, PH_RESET);
	worker_submit(e->workers, e->step_timeout_ms, run_step, reset_job_done, op);
}

/* ---- USB authorization ---------------------------------------------------- */

/* One write like a reset, answered when it returns (or at the timeout;
 * the device stays busy until the late write returns). */
void usb_authorize_start(struct detach_engine *e, const char *id, bool authorize,
			 detach_done_fn done, void *ctx)
{
	struct device *dev = devtable_get(e->devices, id);
	const char *critical;
	char reason[256];
	struct op *op;

	if (refuse_common(e, DETACH_KIND_USB_AUTHORIZE, id, dev, done, ctx))
		return;
	/* Deauthorizing a hub cuts off everything behind it. */
	if (!authorize && (critical = detach_host_critical(e, dev, reason, sizeof(reason)))) {
		answer_now(DETACH_KIND_USB_AUTHORIZE, id, DETACH_HOST_CRITICAL, critical, NULL, done,
			   ctx);
		return;
	}
	op = op_new(e, DETACH_KIND_USB_AUTHORIZE, dev, done, ctx);
	op->io = (struct step_io){ .phase = PH_AUTHORIZE };
	snprintf(op->io.path, sizeof(op->io.path), USB_DEVICES "/%s/authorized", id);
	snprintf(op->io.value, sizeof(op->io.value), "%d", authorize);
	log_dev_info(id, "%s", authorize ? "authorizing" : "deauthorizing: no host driver may use it");
	op_enter(op, PH_AUTHORIZE);
	worker_submit(e->workers, e->step_timeout_ms, run_step, reset_job_done, op);
}

/* ---- USB interface drivers ---------------------------------------------- */

/* In a worker: one interface's write, confirmed by its driver link. */
static int usb_iface_write(struct op *op, bool unbind, const struct iface_binding *b,
			   struct op_error *err)
{
	const struct detach_ops *ops = &op->e->ops;
	const char *step = phase_names[unbind ? PH_USB_UNBIND : PH_USB_BIND];
	_cleanup_free_ char *now = NULL;
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), USB_DRIVERS "/%s/%s", b->driver, unbind ? "unbind" : "bind");
	r = ops->write(ops->ctx, step, path, b->iface, err);
	if (r < 0) {
		append_message(err, " (interface %s)", b->iface);
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

static void run_usb(void *arg)
{
	struct op *op = arg;
	struct usb_io *io = &op->usb;
	struct op_error err;
	size_t i;

	io->r = 0;
	if (!io->unbind) {
		/* Restoring: every interface gets its chance. */
		for (i = 0; i < io->n; i++)
			if (usb_iface_write(op, false, &io->b[i], &err) < 0 && !io->r) {
				io->r = -err.err;
				io->err = err;
			}
		return;
	}
	for (i = 0; i < io->n; i++) {
		if (usb_iface_write(op, true, &io->b[i], &io->err) < 0) {
			io->r = -io->err.err;
			break;
		}
	}
	while (io->r < 0 && i-- > 0)
		if (usb_iface_write(op, false, &io->b[i], &err) < 0 && !io->rb_failed) {
			io->rb_failed = true;
			io->rb_err = err;
		}
}

static void usb_job_done(void *arg, enum worker_outcome outcome);

static void usb_submit(struct op *op, bool unbind)
{
	op->usb.unbind = unbind;
	op->usb.rb_failed = false;
	op_enter(op, unbind ? PH_USB_UNBIND : PH_USB_BIND);
	worker_submit(op->e->workers, op->e->step_timeout_ms * (unsigned)op->usb.n, run_usb,
		      usb_job_done, op);
}

/* Where the job left the device: restored (host), still unbound (a claim
 * goes on), or unknown (error). */
static void usb_settle(struct op *op, bool late)
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
		usb_submit(op, false);
		return;
	}
	if (io->unbind && io->r == 0) {
		op->res.outcome = "unbound";
		op_finish(op);
		return;
	}
	if (!late && io->r < 0) {
		op->res.status = DETACH_FAILED;
		op->res.failure = io->err;
		if (io->rb_failed)
			append_message(&op->res.failure, "; binding back failed: %s",
				       io->rb_err.message);
	} else if (!late) {
		op->res.outcome = "bound";
	}
	device_move(op->e, dev, restored ? DEV_HOST : DEV_ERROR,
		    restored ? (io->unbind ? "interfaces bound back" : "interfaces bound")
			     : "interface drivers not restored");
	op_finish(op);
}

static void usb_job_done(void *arg, enum worker_outcome outcome)
{
	struct op *op = arg;
	struct device *dev;
	const char *step = phase_names[op->phase];

	if (outcome != WORKER_TIMED_OUT) {
		usb_settle(op, outcome == WORKER_LATE || op->replied);
		return;
	}
	op->res.status = DETACH_TIMEOUT;
	op->res.seconds = op->e->step_timeout_ms / 1000.0;
	op_error_set(&op->res.failure, ETIMEDOUT, step, op->id,
		     "%s: %s did not return within %u ms", op->id, step,
		     op->e->step_timeout_ms * (unsigned)op->usb.n);
	dev = devtable_get(op->e->devices, op->id);
	if (dev)
		device_move(op->e, dev, DEV_ERROR, "interface write timed out");
	op_enter(op, PH_LATE);
	op_reply(op);
}

void usb_interfaces_start(struct detach_engine *e, const char *id, bool unbind,
			  const struct iface_binding *b, size_t n, detach_done_fn done, void *ctx)
{
	enum detach_kind kind = unbind ? DETACH_KIND_USB_UNBIND : DETACH_KIND_USB_BIND;
	struct device *dev = devtable_get(e->devices, id);
	bool ready;
	struct op *op;

	if (refuse_common(e, kind, id, dev, done, ctx))
		return;
	ready = unbind ? dev->state == DEV_HOST
		       : dev->state == DEV_DETACHING || dev->state == DEV_RELEASING;
	if (!ready || n == 0) {
		answer_now(kind, id, DETACH_BAD_STATE, dev_state_name(dev->state), NULL, done, ctx);
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
		device_move(e, dev, DEV_DETACHING, "unbinding interface drivers");
	usb_submit(op, unbind);
}

void detach_engine_device_event(struct detach_engine *e, enum dev_event ev,
				const struct device *dev)
{
	struct op *op = op_find(e, dev->id);
	const char *outcome;

	/* Only an operation waiting for its bind listens: while a job runs,
	 * its own read of the link decides. */
	if (!op || op->phase != PH_CONFIRM)
		return;
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

bool detach_engine_waiting(const struct detach_engine *e, const char *id)
{
	const struct op *op = op_find(e, id);

	return op && op->phase == PH_CONFIRM;
}

size_t detach_engine_active(const struct detach_engine *e)
{
	return e->n_ops;
}

struct detach_engine *detach_engine_new(struct event_base *base, struct devtable *t,
					const struct detach_config *cfg)
{
	struct detach_engine *e = xcalloc(1, sizeof(*e));

	e->base = base;
	e->devices = t;
	e->ops = cfg && cfg->ops ? *cfg->ops : *detach_sysfs_ops();
	e->step_timeout_ms = cfg && cfg->step_timeout_ms ? cfg->step_timeout_ms
							 : DETACH_DEFAULT_STEP_TIMEOUT_MS;
	if (cfg) {
		e->state_changed = cfg->state_changed;
		e->ctx = cfg->ctx;
	}
	e->workers = worker_pool_new(base, 0);
	e->hostcrit = hostcrit_new(NULL, cfg ? cfg->proc_root : NULL);
	if (!e->hostcrit)
		fatal("host-critical checks: proc root %s is not an absolute path",
		      cfg && cfg->proc_root ? cfg->proc_root : hostcrit_default_proc_root());
	return e;
}

void detach_engine_free(struct detach_engine *e)
{
	if (!e)
		return;
	/* Jobs point at operations: no thread may run one once they go. */
	worker_pool_free(e->workers);
	while (e->ops_head) {
		struct op *op = e->ops_head;

		if (!op->replied) {
			op->res.status = DETACH_FAILED;
			op_error_set(&op->res.failure, ECANCELED, phase_names[op->phase], op->id,
				     "%s: hostdevd stopped during %s", op->id,
				     phase_names[op->phase]);
		}
		op->phase = PH_DONE;
		op_reply(op);
		op_free(op);
	}
	hostcrit_free(e->hostcrit);
	free(e);
}
