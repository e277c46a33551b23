/* The operation engine: moves devices on the kernel's terms, one guarded
 * write at a time (SPEC "Detach and reattach (PCI)").  The machine is
 * engine/operation.c; each bus's operations are its file (engine/pci.c:
 * detach, reattach, reset; engine/usb.c: interface drivers, authorized).
 *
 * Detach: checks -> device `detaching` -> the stub driver present (module
 * load through engine/sysfs.h if not) -> stub written to driver_override ->
 * the current driver unbound -> the address written to drivers_probe ->
 * the `driver` link confirmed to name the stub, at once or when the bind
 * uevent arrives, or failure at the step timeout -> `detached`.
 * Reattach: `releasing` -> driver_override cleared -> the stub unbound ->
 * drivers_probe -> the original driver (or, if none was recorded, any
 * non-stub driver, or none) confirmed -> `host`.
 *
 * Each operation is a state machine (one phase at a time, one transition
 * function that logs).  Every write runs in a worker thread with the step
 * timeout; every forward step that took effect is undone in reverse on
 * failure (the override restored, whatever bound unbound, the original
 * driver reprobed), leaving the device where it started, or in `error` when
 * the rollback itself failed.  A write that times out is reported at once
 * (the device is `error`); when it finally returns, the rollback runs and
 * the device leaves `error` if the rollback restores it.
 *
 * One operation per device at a time; operations on different devices run
 * in parallel.  A claim of several devices chains these and undoes
 * completed ones with the opposite operation (engine/claim.h).  Every
 * state change goes through the device table (devtable_set_state), whose
 * subscribers hear of it.  Lives on the event loop. */
#pragma once

#include "common/errors.h"
#include "engine/sysfs.h"
#include "state/devtable.h"

#include <stdbool.h>
#include <stddef.h>

struct detach_engine;
struct event_base;

#define DETACH_DEFAULT_STEP_TIMEOUT_MS 10000

/* The kernel as the engine sees it; tests replace it.  `write` and
 * `module_load` run in worker threads and return 0 or -errno with `err`
 * filled; `read_driver` too: it stores the bound driver's name (malloc'd,
 * NULL when unbound) and returns false when the device is gone.
 * `driver_present` runs on the loop: /sys/bus/SUBSYSTEM/drivers/NAME
 * exists.  `unsafe_noiommu` runs on the loop too: vfio's
 * enable_unsafe_noiommu_mode reads Y, so vfio-pci takes a device that has
 * no IOMMU group (NULL: never). */
struct detach_ops {
	int (*write)(void *ctx, const char *step, const char *path, const char *value,
		     struct op_error *err);
	int (*module_load)(void *ctx, const char *name, struct op_error *err);
	bool (*read_driver)(void *ctx, const char *id, char **driver);
	bool (*driver_present)(void *ctx, const char *subsystem, const char *driver);
	bool (*unsafe_noiommu)(void *ctx);
	/* On the loop: the driver under /sys/bus/SUBSYSTEM/drivers whose
	 * `module` link names /sys/module/MODULE (malloc'd), or NULL.  A
	 * module's name and its driver's may differ (mlx5_vfio_pci registers
	 * mlx5_vfio_pci, nvgrace_gpu_vfio_pci nvgrace-gpu-vfio-pci), so the
	 * name written to driver_override is read here, never made up from the
	 * module's.  NULL: no variant driver is ever found. */
	char *(*driver_of_module)(void *ctx, const char *subsystem, const char *module);
	void *ctx;
};

/* The real kernel, through engine/sysfs.h. */
const struct detach_ops *detach_sysfs_ops(void);

struct detach_config {
	unsigned step_timeout_ms;     /* 0: DETACH_DEFAULT_STEP_TIMEOUT_MS */
	/* Where the host-critical checks read /proc (policy/hostcrit.h);
	 * NULL: hostcrit_default_proc_root(). */
	const char *proc_root;
	const struct detach_ops *ops; /* NULL: detach_sysfs_ops() */
	/* Where modules.alias is (/lib/modules/RELEASE); read once, for the
	 * vfio_pci: aliases of the variant drivers.  NULL: no variants. */
	const char *modules_dir;
};

enum detach_kind {
	DETACH_KIND_DETACH = 0,
	DETACH_KIND_REATTACH,
	DETACH_KIND_RESET,
	DETACH_KIND_USB_UNBIND, /* a USB claim's interface drivers, unbound */
	DETACH_KIND_USB_BIND,   /* ... and bound again */
	DETACH_KIND_USB_AUTHORIZE, /* a USB device's `authorized` written */
	DETACH_KIND_REPAIR,     /* a device put back where it belongs */
};

/* What an operation came to.  Strings are valid during the callback only. */
struct detach_result {
	enum detach_kind kind;
	const char *device;
	/* HDE_OK, or why not: DeviceNotFound, DeviceBusy (operation),
	 * HostCritical (reason), InvalidDeviceState (state), NoIommu (driver:
	 * the stub), OperationFailed (failure), Timeout (failure.step,
	 * seconds). */
	struct hd_err err;
	const char *driver;      /* OK: the driver bound now, NULL when none */
	/* OK: "bound" (detach), "already" (was on the stub: nothing written);
	 * reattach: "original" (the recorded driver is back), "native" (no
	 * driver recorded, a non-stub one bound), "unbound" (no driver took it);
	 * USB: "unbound" / "bound" (every interface named), "deauthorized" /
	 * "authorized"; Reset: "reset"; Repair: "host" or "pool" (where the
	 * kernel had it already: nothing written), "original", "native" or
	 * "unbound" (reattached, as above), "rebound" (back on its stub in
	 * the pool). */
	const char *outcome;
	char *const *methods; /* Reset OK: the methods the kernel has enabled */
};

typedef void (*detach_done_fn)(const struct detach_result *r, void *ctx);

const char *detach_kind_name(enum detach_kind kind);

struct detach_engine *detach_engine_new(struct event_base *base, struct devtable *t,
					const struct detach_config *cfg);
/* Waits for writes in flight (engine/worker.h) and answers every operation
 * still open with OperationFailed (ECANCELED). */
void detach_engine_free(struct detach_engine *e);

/* Starts an operation on the device with canonical id `id`; `done` runs
 * exactly once, on the loop, possibly before these return (refusals and
 * "already on the stub").  A PCI function with no IOMMU group (the IOMMU
 * is off) is refused NoIommu, before anything is written, when the stub
 * needs one: vfio-pci, unless vfio's unsafe no-IOMMU mode is on (pci-stub
 * and pciback need none). */
void detach_start(struct detach_engine *e, const char *id, const char *stub, detach_done_fn done,
		  void *ctx);
/* `stub` NULL in detach_start*(): none named, so the best vfio-pci variant
 * driver for the function (common/variant.h) if its aliases name one, its
 * module loaded if its driver is not registered yet, else plain vfio-pci.
 * Named, it is resolved as detach_choose() says; a name that is no stub
 * and no variant of this host is refused UnknownDriver, nothing written.
 * The result's `driver` says which it ended on.  A variant is a stub from
 * then on (stub_learn_variant()). */

/* The variant module modules.alias picks for dev, or NULL (plain vfio-pci
 * or not a PCI function).  Valid while e lives. */
const char *detach_variant_of(const struct detach_engine *e, const struct device *dev);
/* `name` as a variant a user named: a registered PCI driver whose module
 * has vfio_pci: aliases, or such a module whose driver is registered.
 * Its driver name (learned as a stub), or NULL when it is neither. */
const char *detach_variant_named(struct detach_engine *e, const char *name);

/* Where a detach of a PCI function goes, said before it starts: what
 * Detach, a claim and the policy do, and what CheckPolicy explains.
 * Strings valid while the engine lives. */
struct detach_choice {
	/* The driver written to driver_override; NULL for a variant whose
	 * module is not loaded yet: its driver's name is known once it is. */
	const char *driver;
	/* A vfio-pci variant's module, when known (as modules.alias names it). */
	const char *module;
	bool variant; /* a vfio-pci variant driver (or its module) */
	bool picked;  /* none named: modules.alias's choice, or vfio-pci */
};
/* `name` (NULL: none named, dev's pick) as a detach resolves it: a stub
 * (stub_target()), a registered variant driver, or a variant module by its
 * modules.alias name (registered or not).  false when `name` is none of
 * them (or not a name: stub_name_valid()): a detach refuses it with
 * UnknownDriver.  A registered variant is learned as a stub. */
bool detach_choose(struct detach_engine *e, const struct device *dev, const char *name,
		   struct detach_choice *c);
/* A stub a user named, as a claim keeps it and detach_start() takes it:
 * its driver name, or a variant module's name while its driver is not
 * registered (loaded at the detach); NULL when detach_choose() refuses it. */
const char *detach_stub_target(struct detach_engine *e, const char *name);
/* The names this host takes as a driver, for UnknownDriver: the stubs and
 * their other names, the learned variant drivers, then the variant modules
 * of modules.alias.  NULL-terminated, malloc'd; the strings are borrowed
 * (valid while e lives). */
char **detach_drivers_accepted(struct detach_engine *e);
/* err as UnknownDriver for `name`: its `reason` says what is taken, in
 * words for a log; its list of names is *accepted, which the caller frees
 * (free()) once err is answered. */
void detach_unknown_driver(struct detach_engine *e, const char *name, struct hd_err *err,
			   char ***accepted);
/* The same, for a caller that has applied the host-critical rules itself
 * (a claim: it checks every device before reserving any, and its policy may
 * lift the rules for one address): the scan is not repeated. */
void detach_start_checked(struct detach_engine *e, const char *id, const char *stub,
			  detach_done_fn done, void *ctx);
/* Reattach takes a device in the detached pool, or a PCI function in
 * `host` with no driver (left unbound by a crash or a failure): it is
 * probed, and whichever host driver the kernel binds takes it (outcome
 * "native", or "unbound" when none does). */
void reattach_start(struct detach_engine *e, const char *id, detach_done_fn done, void *ctx);
/* Repair (an administrator's way out of `error`): the driver link is read
 * again and the device put back where its failed operation started.  On a
 * host driver: `host`, nothing written.  On a stub: `detached` (the pool)
 * if it came from the pool (or is in it), else reattached to its recorded
 * original driver (or the kernel's choice).  With no driver: bound to its
 * stub again (driver_override, drivers_probe) if it came from the pool,
 * else probed for its host driver.  A USB device (interfaces are bound by
 * the kernel or a release) is set to `host` as it is.  Refuses what
 * Reattach refuses (not found, busy) and a device in detaching, releasing
 * or claimed (InvalidDeviceState).  The moves are Detach's and Reattach's
 * sequences, with their rollback: a failure leaves the device in `error`
 * again. */
void repair_start(struct detach_engine *e, const char *id, detach_done_fn done, void *ctx);
/* Writes "1" to the function's `reset` (one step, with the step timeout;
 * nothing to roll back, the binding and state are left as they are).
 * Refuses what Detach refuses (not found, busy, not PCI, host-critical) and a
 * device without a `reset` attribute (FAILED, ENOTTY, step "reset").  OK's
 * outcome is "reset".  A timed-out write is answered TIMEOUT; the device stays
 * busy until it returns. */
void reset_start(struct detach_engine *e, const char *id, detach_done_fn done, void *ctx);

/* Writes 0 or 1 to a USB device's `authorized` (policy refuse with
 * deauthorize: the kernel unbinds and removes its interfaces, and no host
 * driver can use it until it is authorized again).  One step with the step
 * timeout, like reset; the device's state is left as it is.  Refuses what
 * Reset refuses, for USB: not found, busy, a PCI device, and (deauthorize)
 * a host-critical one such as a hub.  OK's outcome is "deauthorized" or
 * "authorized". */
void usb_authorize_start(struct detach_engine *e, const char *id, bool authorize,
			 detach_done_fn done, void *ctx);
/* USB interface drivers (SPEC: a USB claim may unbind the interface drivers
 * and restore them at release).  Unbind writes each interface of `b` to
 * /sys/bus/usb/drivers/DRIVER/unbind, bind to .../bind, in one worker job
 * under the step timeout (`n` writes), each confirmed by the interface's
 * driver link (the kernel binds and unbinds USB interfaces inside the
 * write).  Unbind needs the device in `host`, moves it to `detaching` and
 * leaves it there on success (the claim engine moves it on); it stops at
 * the first failure and binds back, newest first, what it unbound, so the
 * device returns to `host` (or `error` if that fails too).  Bind needs
 * `detaching` (a claim's rollback) or `releasing` and tries every interface
 * even after a failure, ending `host`, or `error` naming the first failure.
 * A write that times out is answered TIMEOUT (device `error`); when it
 * returns, an unbind is undone and the device leaves `error` if all is
 * restored.  `b` is copied. */
void usb_interfaces_start(struct detach_engine *e, const char *id, bool unbind,
			  const struct iface_binding *b, size_t n, detach_done_fn done, void *ctx);

/* The host-critical rules (policy/hostcrit.h): NULL when dev may leave the
 * host, else the reason in buf.  Detach and Reset apply them; the claim
 * engine asks before anything of a claim is reserved. */
const char *detach_host_critical(struct detach_engine *e, const struct device *dev, char *buf,
				 size_t size);

/* Feed of the device table's events: a bind may be the confirmation an
 * operation waits for; a remove ends one; a bind of a PCI function in
 * `error` that no operation holds says where it is now (host driver ->
 * `host`, stub -> `detached`).  detach_engine_listener is the
 * same as a devtable subscriber (ctx: the engine). */
void detach_engine_device_event(struct detach_engine *e, enum dev_event ev,
				const struct device *dev);
void detach_engine_listener(enum dev_event ev, const struct device *dev, const char *detail,
			    void *ctx);

/* At start, before the loop serves anyone: a PCI detach that a crash cut
 * between its writes is undone (an override still naming `stub` cleared,
 * an unbound function reprobed), each step logged with `why`. */
void detach_undo_interrupted(struct detach_engine *e, struct device *dev, const char *stub,
			     const char *why);

/* Whether an operation on `id` has written drivers_probe and now waits for
 * the bind (its uevent or the deadline). */
bool detach_engine_waiting(const struct detach_engine *e, const char *id);

/* Operations not finished (including ones whose late write is awaited). */
size_t detach_engine_active(const struct detach_engine *e);
