/* The one guarded seam for every sysfs write and module load hostdevd makes.
 *
 * Unbinding the wrong function kills the machine (its disk, network and
 * vsock are PCI devices), so nothing else in the daemon opens a sysfs file
 * for writing or loads a module.  The guard: with HOSTDEVD_REQUIRE_MOCK=1 in
 * the environment (every test harness sets it) a write is allowed only when
 * the process is proven to run inside a umockdev testbed: UMOCKDEV_DIR is set
 * and /sys/.hostdevd-testbed exists as seen through umockdev's redirection
 * (the testbed creates $UMOCKDEV_DIR/sys/.hostdevd-testbed).  Otherwise the
 * write fails with EPERM and a loud error.  Under the same variable, or inside
 * any umockdev testbed, module loads are never attempted: the kernel emulator
 * provides the drivers, and a missing one is an error.
 *
 * The functions block (a write to `unbind` can take seconds): call them from
 * a worker thread (engine/worker.h), never from the event loop.  They are
 * thread-safe. */
#pragma once

#include "common/errors.h"

#include <stdbool.h>

#define SYSFS_TESTBED_MARKER "/sys/.hostdevd-testbed"

/* 0 when writes may go ahead, -EPERM (logged loudly, with the reason) when
 * HOSTDEVD_REQUIRE_MOCK=1 and the testbed is not proven. */
int sysfs_guard_check(void);

/* Writes `value` to `path` (a file under /sys) as one write, the way the
 * kernel's attribute files want it.  The kernel reports its verdict from
 * write() and sometimes from close(): both are checked.  Returns 0 or -errno
 * with `err` filled (errno, `step`, path). */
int sysfs_write(const char *step, const char *path, const char *value, struct op_error *err);

/* Loads a kernel module by name or alias ("vfio-pci") with libkmod, honouring
 * the blacklist.  Never attempted under HOSTDEVD_REQUIRE_MOCK=1 or inside a
 * umockdev testbed: then it fails with ENOENT, "module X is not loaded".
 * Returns 0 or -errno with `err` filled (step "load_module"). */
int sysfs_module_load(const char *name, struct op_error *err);

/* How many module loads reached libkmod since the process started: proof,
 * for the tests, that the guard never let one through. */
unsigned sysfs_module_load_attempts(void);
