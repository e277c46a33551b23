/* The kernel emulator's control side: what a test tells the emulator, and
 * what it asks it afterwards.
 *
 * The emulator itself (libhdkemu.so, see docs/kernel-emulator.md) is an
 * LD_PRELOAD library placed before umockdev's preload in every process of
 * the test, the daemon included.  It gives writes to the sysfs control files
 * (driver_override, bind, unbind, drivers_probe, reset, remove, authorized)
 * the kernel's effect, synchronously inside write().  Its state lives in
 * files under <root>/kemu, re-read on every write, so that a test steers
 * the emulator in another process through these calls.
 *
 * `root` is the testbed's root ($UMOCKDEV_DIR, tb_root()).  `op` is one of
 * the names above; `id` is the device the write names: the PCI address or
 * USB id written to bind, unbind or drivers_probe, or the device whose
 * attribute is written.  id NULL means "any device".  A misuse (an unknown
 * op, a testbed that cannot be written) aborts with a message: these are
 * test-harness calls. */
#pragma once

#include <stdbool.h>

/* Whether libhdkemu.so is preloaded in this process: a test of the
 * emulator checks it first, since without it writes only change files. */
bool kemu_loaded(void);

/* The driver the device binds when nothing overrides it: what probing with
 * no driver_override, or a bind of that driver, gives.  NULL forgets it.
 * The testbed records it for every device it declares. */
void kemu_set_native(const char *root, const char *id, const char *driver);

/* The next writes of `op` naming `id` fail with `err` (EBUSY, ENODEV,
 * EIO...), after being counted, and change nothing.  kemu_fault() lasts
 * until cleared; kemu_fault_times() for the next `times` writes only. */
void kemu_fault(const char *root, const char *op, const char *id, int err);
void kemu_fault_times(const char *root, const char *op, const char *id, int err, int times);
/* Clears the fault set for exactly (op, id); op NULL clears every fault. */
void kemu_fault_clear(const char *root, const char *op, const char *id);

/* Writes of `op` naming `id` block inside write() until kemu_release(),
 * as a driver's remove() that waits for its user holds an unbind in the
 * kernel.  Only the writing thread waits.  After the release the write goes
 * on (a fault set meanwhile still applies). */
void kemu_block(const char *root, const char *op, const char *id);
void kemu_release(const char *root, const char *op, const char *id);
/* How many writes are held by a block right now; id NULL counts every
 * device. */
int kemu_blocked(const char *root, const char *op, const char *id);
/* Waits (inotify, no polling) until kemu_blocked() > 0; false after
 * timeout_ms. */
bool kemu_wait_blocked(const char *root, const char *op, const char *id, int timeout_ms);

/* drivers_probe of `id` succeeds and binds nothing, and a bind write fails
 * with ENODEV: a driver whose probe() rejects the device.  The classic trap
 * for code that trusts the write's success. */
void kemu_never_bind(const char *root, const char *id);
/* The same for one driver only: its probe() refuses the device (vfio-pci
 * without an IOMMU, say), while every other driver still binds it.  Cleared
 * by kemu_never_bind_clear(). */
void kemu_refuse_driver(const char *root, const char *id, const char *driver);
void kemu_never_bind_clear(const char *root, const char *id);

/* How many writes of `op` naming `id` reached the emulator (failed ones
 * included); id NULL counts every device. */
unsigned kemu_writes(const char *root, const char *op, const char *id);

/* Every write the emulator handled, in order, one line each:
 * "<op> <id> <value> = <0 or errno name>\n", value as written with blanks
 * and control characters shown as '_'.  Free the result. */
char *kemu_log(const char *root);

/* Whether /dev/vfio/<group> exists in the testbed (checked at its real
 * path: a program's stat("/dev/vfio/N") falls through to the machine's own
 * /dev when the testbed has no such node). */
bool kemu_vfio_present(const char *root, const char *group);

/* For the testbed, after it moved a driver link itself: creates or removes
 * /dev/vfio/<group> to match whether any member of the group is bound to
 * vfio-pci, as the kernel does. */
void kemu_vfio_sync(const char *root, const char *group);
