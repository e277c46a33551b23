/* The operation machine (engine/detach.h, engine/operation.h): bookkeeping,
 * phases, answers, single writes in workers, timeouts.  What each bus's
 * operations do step by step is in engine/pci.c and engine/usb.c. */
#include "engine/operation.h"
#include "common/log.h"
#include "common/stub.h"
#include "common/util.h"
#include "common/variant.h"
#include "engine/bus.h"
#include "engine/failpoint.h"
#include "policy/hostcrit.h"
#include "state/bus.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/* Each kind of operation: its name (the log's and DeviceBusy's), the bus
 * whose devices it moves (HD_BUS__COUNT: any, each bus's table saying
 * how), and what its failpoints are called. */
static const struct {
	const char *name;
	enum hd_bus bus;
	const char *failpoint;
} kinds[] = {
	[DETACH_KIND_DETACH] = { "Detach", HD_BUS_PCI, "detach" },
	[DETACH_KIND_REATTACH] = { "Reattach", HD_BUS_PCI, "reattach" },
	[DETACH_KIND_RESET] = { "Reset", HD_BUS_PCI, "reattach" },
	[DETACH_KIND_USB_UNBIND] = { "UnbindInterfaces", HD_BUS_USB, "reattach" },
	[DETACH_KIND_USB_BIND] = { "BindInterfaces", HD_BUS_USB, "reattach" },
	[DETACH_KIND_USB_AUTHORIZE] = { "Authorize", HD_BUS_USB, "reattach" },
	[DETACH_KIND_REPAIR] = { "Repair", HD_BUS__COUNT, "reattach" },
};

const char *detach_kind_name(enum detach_kind kind)
{
	return kind < ARRAY_SIZE(kinds) ? kinds[kind].name : "invalid";
}

const char *op_phase_name(enum op_phase phase)
{
	return phase < PH__COUNT ? phase_names[phase] : "invalid";
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

/* A device of any of our buses, or a part of one (a USB interface): the
 * kernel files them all under their bus's devices directory. */
static bool sysfs_ops_read_driver(void *ctx, const char *id, char **driver)
{
	char path[PATH_MAX], link[PATH_MAX];
	bool found = false;
	ssize_t n;

	*driver = NULL;
	for (int bus = 0; bus < HD_BUS__COUNT && !found; bus++) {
		snprintf(path, sizeof(path), "/sys/bus/%s/devices/%s",
			 bus_desc((enum hd_bus)bus)->subsystem, id);
		found = access(path, F_OK) == 0;
	}
	if (!found)
		return false;
	strcat(path, "/driver");
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return true; /* no link: unbound */
	link[n] = '\0';
	*driver = xstrdup(strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
	return true;
}

static bool sysfs_ops_driver_present(void *ctx, const char *subsystem, const char *driver)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/%s/drivers/%s", subsystem, driver);
	return access(path, F_OK) == 0;
}

/* One small attribute, read where umockdev's redirection of /sys reaches
 * (a testbed decides it). */
static bool sysfs_ops_unsafe_noiommu(void *ctx)
{
	char buf[8] = "";
	FILE *f = fopen("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "re");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return buf[0] == 'Y' || buf[0] == 'y' || buf[0] == '1';
}

static char *sysfs_ops_driver_of_module(void *ctx, const char *subsystem, const char *module)
{
	char dir[PATH_MAX], path[PATH_MAX + 300], link[PATH_MAX];
	char *found = NULL;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/bus/%s/drivers", subsystem);
	if (!(d = opendir(dir)))
		return NULL;
	while (!found && (de = readdir(d))) {
		const char *base;
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/module", dir, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		base = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
		if (streq(base, module))
			found = xstrdup(de->d_name);
	}
	closedir(d);
	return found;
}

const struct detach_ops *detach_sysfs_ops(void)
{
	static const struct detach_ops ops = {
		.write = sysfs_ops_write,
		.module_load = sysfs_ops_module_load,
		.read_driver = sysfs_ops_read_driver,
		.driver_present = sysfs_ops_driver_present,
		.unsafe_noiommu = sysfs_ops_unsafe_noiommu,
		.driver_of_module = sysfs_ops_driver_of_module,
	};

	return &ops;
}

/* ---- phases ------------------------------------------------------------- */

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

void op_enter(struct op *op, enum op_phase to)
{
	if (!phase_transition_ok(op->phase, to))
		fatal("%s %s: bad phase change %s -> %s", detach_kind_name(op->kind), op->id,
		      phase_names[op->phase], phase_names[to]);
	log_dev_debug(op->id, "%s: %s -> %s", detach_kind_name(op->kind), phase_names[op->phase],
		      phase_names[to]);
	op->phase = to;
}

/* ---- bookkeeping -------------------------------------------------------- */

struct op *op_find(const struct detach_engine *e, const char *id)
{
	for (struct op *op = e->ops_head; op; op = op->next)
		if (streq(op->id, id))
			return op;
	return NULL;
}

/* Entering `error`, the device keeps where the operation started from:
 * Repair and a later bind take it back there (a repair that fails keeps
 * the first one's). */
void op_move(struct op *op, struct device *dev, enum dev_state to, const char *why)
{
	if (to == DEV_ERROR && dev->state != DEV_ERROR)
		dev->error_home = op->from_state == DEV_DETACHED || op->from_state == DEV_CLAIMED
					  ? DEV_DETACHED
					  : DEV_HOST;
	devtable_set_state(op->e->devices, dev, to, why);
}

struct op *op_new(struct detach_engine *e, enum detach_kind kind, struct device *dev,
		  detach_done_fn done, void *ctx)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->e = e;
	op->kind = kind;
	op->phase = PH_CHECK;
	op->id = xstrdup(dev->id);
	op->from_driver = xstrdup(dev->driver);
	op->from_state = dev->state;
	op->done = done;
	op->ctx = ctx;
	op->res = (struct detach_result){ .kind = kind, .device = op->id };
	op->res.err.device = op->id;
	op->next = e->ops_head;
	if (e->ops_head)
		e->ops_head->prev = op;
	e->ops_head = op;
	e->n_ops++;
	return op;
}

void op_free(struct op *op)
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
	free(op->variant_module);
	free(op->target);
	free(op->res_driver);
	for (size_t i = 0; i < op->usb.n; i++) {
		free(op->usb.b[i].iface);
		free(op->usb.b[i].driver);
	}
	free(op->usb.b);
	free(op);
}

void op_reply(struct op *op)
{
	const struct detach_result *r = &op->res;

	if (op->replied)
		return;
	op->replied = true;
	if (r->err.code == HDE_OK && op->kind == DETACH_KIND_RESET)
		log_dev_info(op->id, "Reset done");
	else if (r->err.code == HDE_OK && r->outcome && !r->driver)
		log_dev_info(op->id, "%s done: %s", detach_kind_name(op->kind), r->outcome);
	else if (r->err.code == HDE_OK)
		log_dev_info(op->id, "%s done: %s (driver %s)", detach_kind_name(op->kind),
			     r->outcome, r->driver ? r->driver : "none");
	else
		log_dev_warn(op->id, "%s failed: %s", detach_kind_name(op->kind), err_text(&r->err));
	op->done(r, op->ctx);
}

void op_finish(struct op *op)
{
	op_enter(op, PH_DONE);
	op_reply(op);
	op_free(op);
}

void op_vanished(struct op *op)
{
	struct device *dev = devtable_get(op->e->devices, op->id);

	/* Still in the table (its remove event not applied yet): what it is
	 * bound to is unknown. */
	if (dev)
		op_move(op, dev, DEV_ERROR, "vanished during an operation");
	if (op->res.err.code == HDE_OK)
		op->res.err.code = HDE_OPERATION_FAILED;
	if (!op->res.err.failure.err)
		op_error_set(&op->res.err.failure, ENODEV, phase_names[op->phase], op->id,
			     "%s disappeared during %s", op->id, phase_names[op->phase]);
	op_finish(op);
}

void op_answer_now(enum detach_kind kind, const char *id, const struct hd_err *err,
		   detach_done_fn done, void *ctx)
{
	struct detach_result r = { .kind = kind, .device = id, .err = *err };

	r.err.device = id;
	done(&r, ctx);
}

bool op_refuse_common(struct detach_engine *e, enum detach_kind kind, const char *id,
		      const struct device *dev, detach_done_fn done, void *ctx)
{
	const struct op *busy = op_find(e, id);
	struct hd_err err;

	if (!dev) {
		err_set(&err, HDE_DEVICE_NOT_FOUND, id);
	} else if (busy) {
		err_set(&err, HDE_DEVICE_BUSY, id);
		err.operation = detach_kind_name(busy->kind);
	} else if (kinds[kind].bus != HD_BUS__COUNT && dev->bus != kinds[kind].bus) {
		err_set(&err, HDE_OPERATION_FAILED, id);
		op_error_set(&err.failure, EOPNOTSUPP, phase_names[PH_CHECK], id,
			     "%s is a %s device: %s is for %s", id, bus_of(dev)->name,
			     detach_kind_name(kind), bus_desc(kinds[kind].bus)->plural);
	} else {
		return false;
	}
	op_answer_now(kind, id, &err, done, ctx);
	return true;
}

void op_repair_answer(const struct device *dev, const char *outcome, detach_done_fn done,
		      void *ctx)
{
	struct detach_result r = { .kind = DETACH_KIND_REPAIR, .device = dev->id,
				   .driver = dev->driver, .outcome = outcome };

	log_dev_info(dev->id, "Repair done: %s (driver %s)", outcome,
		     dev->driver ? dev->driver : "none");
	done(&r, ctx);
}

/* What every bus shares: the device is there, nothing runs on it, and it
 * is in a state a repair may start from; the bus's table does the rest. */
void repair_start(struct detach_engine *e, const char *id, detach_done_fn done, void *ctx)
{
	struct device *dev = devtable_get(e->devices, id);
	struct hd_err err;

	if (op_refuse_common(e, DETACH_KIND_REPAIR, id, dev, done, ctx))
		return;
	if (dev->state != DEV_ERROR && dev->state != DEV_HOST && dev->state != DEV_DETACHED) {
		err_set(&err, HDE_INVALID_DEVICE_STATE, id);
		err.state = dev_state_name(dev->state);
		op_answer_now(DETACH_KIND_REPAIR, id, &err, done, ctx);
		return;
	}
	bus_engine_of(dev)->repair(e, dev, done, ctx);
}

bool op_refuse_critical(struct detach_engine *e, enum detach_kind kind, const struct device *dev,
			detach_done_fn done, void *ctx)
{
	struct hd_err err;

	err_set(&err, HDE_HOST_CRITICAL, dev->id);
	if (!hostcrit_reason(e->hostcrit, dev, err.reason, sizeof(err.reason)))
		return false;
	op_answer_now(kind, dev->id, &err, done, ctx);
	return true;
}

const char *detach_host_critical(struct detach_engine *e, const struct device *dev, char *buf,
				 size_t size)
{
	return hostcrit_reason(e->hostcrit, dev, buf, size);
}

void op_set_failure(struct op *op, enum hd_errcode code, const struct op_error *err)
{
	op->res.err.code = code;
	op->res.err.failure = *err;
	if (code == HDE_TIMEOUT)
		op->res.err.seconds = op->e->step_timeout_ms / 1000.0;
}

/* ---- single writes ------------------------------------------------------ */

void op_run_step(void *arg)
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

		snprintf(fp, sizeof(fp), "%s.%s", kinds[op->kind].failpoint, phase_names[io->phase]);
		failpoint(fp);
	}
	if (io->r == 0 && io->read_back)
		io->gone = !ops->read_driver(ops->ctx, op->id, &io->driver);
}

void op_submit(struct op *op, enum op_phase phase, const char *path, const char *value,
	       bool read_back, worker_done_fn done)
{
	free(op->io.driver);
	op->io = (struct step_io){ .phase = phase, .read_back = read_back };
	if (phase == PH_LOAD_STUB) {
		/* Not always the driver's name: pciback lives in xen_pciback;
		 * a variant is known by its module until it registers. */
		const char *module = op->variant_module ? op->variant_module
							: stub_module(op->stub);

		op->io.module = module ? module : op->stub;
	} else {
		snprintf(op->io.path, sizeof(op->io.path), "%s", path);
		snprintf(op->io.value, sizeof(op->io.value), "%s", value);
	}
	op_enter(op, phase);
	worker_submit(op->e->workers, op->e->step_timeout_ms, op_run_step, done, op);
}

void op_timed_out(struct op *op, bool binding_unknown)
{
	struct device *dev = devtable_get(op->e->devices, op->id);
	const char *step = phase_names[op->io.phase];
	struct op_error err;

	op_error_set(&err, ETIMEDOUT, step, op->io.path, "%s: %s did not return within %u ms",
		     op->id, step, op->e->step_timeout_ms);
	op_set_failure(op, HDE_TIMEOUT, &err);
	/* A binding write still inside the kernel: what the device is on is
	 * unknown until it returns. */
	if (dev && binding_unknown)
		op_move(op, dev, DEV_ERROR, "step timed out");
	op_enter(op, PH_LATE);
	op_reply(op);
}

/* ---- one-write operations ----------------------------------------------- */

static void single_job_done(void *arg, enum worker_outcome outcome)
{
	struct op *op = arg;

	switch (outcome) {
	case WORKER_TIMED_OUT:
		/* The operation stays until the write returns: the device is
		 * busy while the kernel still works on it. */
		op_timed_out(op, false);
		break;
	case WORKER_LATE:
		log_dev_info(op->id, "%s returned %d after its timeout", phase_names[op->io.phase],
			     op->io.r);
		op_finish(op);
		break;
	case WORKER_DONE:
		if (op->io.r < 0)
			op_set_failure(op, HDE_OPERATION_FAILED, &op->io.err);
		else
			op->written(op);
		op_finish(op);
		break;
	}
}

void op_single_write(struct op *op, enum op_phase phase, const char *path, const char *value,
		     void (*written)(struct op *op))
{
	op->io = (struct step_io){ .phase = phase };
	snprintf(op->io.path, sizeof(op->io.path), "%s", path);
	snprintf(op->io.value, sizeof(op->io.value), "%s", value);
	op->written = written;
	op_enter(op, phase);
	worker_submit(op->e->workers, op->e->step_timeout_ms, op_run_step, single_job_done, op);
}

/* ---- the engine --------------------------------------------------------- */

void detach_engine_device_event(struct detach_engine *e, enum dev_event ev,
				const struct device *dev)
{
	struct op *op = op_find(e, dev->id);

	/* Only an operation waiting for its bind listens: while a job runs,
	 * its own read of the link decides. */
	if (op && op->phase == PH_CONFIRM)
		pci_op_device_event(op, ev, dev);
	else if (!op && ev == DEV_EVENT_BIND && dev->state == DEV_ERROR)
		pci_error_rebound(e, devtable_get(e->devices, dev->id));
}

void detach_engine_listener(enum dev_event ev, const struct device *dev, const char *detail,
			    void *arg)
{
	detach_engine_device_event(arg, ev, dev);
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
	e->workers = worker_pool_new(base, 0);
	e->hostcrit = hostcrit_new(NULL, cfg ? cfg->proc_root : NULL);
	e->variants = variant_table_load(cfg ? cfg->modules_dir : NULL);
	if (variant_table_count(e->variants))
		log_info("%zu vfio-pci variant aliases in %s/modules.alias",
			 variant_table_count(e->variants), cfg->modules_dir);
	pci_learn_variants(e);
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
			op->res.err.code = HDE_OPERATION_FAILED;
			op_error_set(&op->res.err.failure, ECANCELED, phase_names[op->phase], op->id,
				     "%s: hostdevd stopped during %s", op->id,
				     phase_names[op->phase]);
		}
		op->phase = PH_DONE;
		op_reply(op);
		op_free(op);
	}
	hostcrit_free(e->hostcrit);
	variant_table_free(e->variants);
	free(e);
}
