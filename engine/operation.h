/* Inside the operation engine (engine/detach.h): what the generic machine
 * (engine/operation.c) and the per-bus operations (engine/pci.c,
 * engine/usb.c) share.  Not for use outside engine/.
 *
 * An operation is a state machine: one phase at a time, entered only
 * through op_enter(), which validates the transition against the table in
 * operation.c and logs old -> new.  A phase's name is the step an error
 * names.  Work that may block (every sysfs write) runs in a worker thread
 * (engine/worker.h); the loop side fills an operation's io before the
 * submit and reads it only once the job is delivered. */
#pragma once

#include "engine/detach.h"
#include "engine/worker.h"

#include <limits.h>

enum op_phase {
	PH_CHECK = 0,
	/* PCI detach and reattach, in order; ROLLBACK undoes them. */
	PH_LOAD_STUB,
	PH_OVERRIDE,
	PH_UNBIND,
	PH_PROBE,
	PH_CONFIRM,
	PH_RESET,      /* PCI Reset's one write; never rolled back */
	PH_USB_UNBIND, /* a USB device's interface drivers, one job */
	PH_USB_BIND,
	PH_AUTHORIZE,  /* a USB device's `authorized`: one write, like reset */
	PH_ROLLBACK,
	PH_LATE, /* replied Timeout; waiting for the stuck write to return */
	PH_DONE,
	PH__COUNT
};

/* One step's input and output, shared with the worker thread. */
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

/* A rollback's input and output, likewise. */
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
	/* detach to a variant whose driver is not registered yet: its module,
	 * loaded first; `stub` is NULL until the driver it registers is found. */
	char *variant_module;
	bool done_steps[PH__COUNT];
	struct step_io io;
	struct rollback_io rb;
	struct usb_io usb;
	struct event *confirm_timer;
	struct detach_result res;
	char *res_driver;
	void (*written)(struct op *op); /* a one-write operation's success */
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
	struct op *ops_head;
	size_t n_ops;
	struct hostcrit *hostcrit;
	struct variant_table *variants; /* modules.alias's vfio_pci: lines */
};

const char *op_phase_name(enum op_phase phase);
/* The variant drivers registered already (their module loaded before the
 * daemon started), learned as stubs before the first device is read: a
 * function found bound to one is detached, not on a host driver. */
void pci_learn_variants(struct detach_engine *e);
/* The one place an operation changes phase; a transition the table does
 * not allow is a broken invariant. */
void op_enter(struct op *op, enum op_phase to);

struct op *op_find(const struct detach_engine *e, const char *id);
struct op *op_new(struct detach_engine *e, enum detach_kind kind, struct device *dev,
		  detach_done_fn done, void *ctx);
void op_free(struct op *op);
/* Moves the device through the table, which tells its subscribers. */
void op_move(struct op *op, struct device *dev, enum dev_state to, const char *why);

/* Answers (once); then op_finish() frees, unless it waits for a late write. */
void op_reply(struct op *op);
void op_finish(struct op *op);
/* The device left the table while no job was in flight: nothing is left
 * to roll back. */
void op_vanished(struct op *op);
/* Answers a refusal or a no-op at once, without an operation. */
void op_answer_now(enum detach_kind kind, const char *id, const struct hd_err *err,
		   detach_done_fn done, void *ctx);
/* The refusals every operation shares (not found, busy, on another bus
 * than the operation's); true when answered. */
bool op_refuse_common(struct detach_engine *e, enum detach_kind kind, const char *id,
		      const struct device *dev, detach_done_fn done, void *ctx);
/* Repair's answer when it found the device where it belongs: outcome is
 * "host", "pool", ... (docs/detach.md). */
void op_repair_answer(const struct device *dev, const char *outcome, detach_done_fn done,
		      void *ctx);
/* HostCritical for dev, if the rules keep it with the host; true when
 * answered. */
bool op_refuse_critical(struct detach_engine *e, enum detach_kind kind, const struct device *dev,
			detach_done_fn done, void *ctx);

/* A failure of the operation: Timeout (with the step timeout) or
 * OperationFailed, from err. */
void op_set_failure(struct op *op, enum hd_errcode code, const struct op_error *err);

/* In a worker: one write (or, with io.module, a module load), its
 * failpoint, and the driver link read back when asked. */
void op_run_step(void *arg);
/* Fills op->io for one step and hands it to a worker with the step
 * timeout; `done` gets the outcome on the loop. */
void op_submit(struct op *op, enum op_phase phase, const char *path, const char *value,
	       bool read_back, worker_done_fn done);
/* A write that did not return in time: answered Timeout now; with
 * binding_unknown the device goes to `error` (what it is bound to is
 * unknown until the write returns). */
void op_timed_out(struct op *op, bool binding_unknown);
/* A one-write operation (Reset, Authorize): answered when the write
 * returns, `written` filling the answer; at the step timeout answered
 * Timeout, the operation staying (the device busy) until the write
 * returns.  Nothing is rolled back. */
void op_single_write(struct op *op, enum op_phase phase, const char *path, const char *value,
		     void (*written)(struct op *op));

/* The per-bus halves (engine/pci.c, engine/usb.c). */
void pci_op_device_event(struct op *op, enum dev_event ev, const struct device *dev);
/* A bind of a device in `error` with no operation on it: the kernel says
 * where it is now (PCI only: a USB device's interfaces say nothing of the
 * whole). */
void pci_error_rebound(struct detach_engine *e, struct device *dev);
