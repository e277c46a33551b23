/* The stub drivers: what holds a device while it is away from the host.
 *
 * One table says which drivers are stubs, the module each lives in and the
 * other names a user may give for one; the daemon, the policy loader,
 * udevgen and hostdevctl all ask it, so they cannot disagree. */
#pragma once

#include "common/util.h"

#include <stdbool.h>

#define STUB_DEFAULT "vfio-pci"

/* Each stub: its kernel driver name (what driver_override takes and the
 * driver link shows), its module, and another name it is given.  Xen's is
 * the module xen-pciback, whose PCI driver registers as "pciback"
 * (PCISTUB_DRIVER_NAME) and compares driver_override with that: an
 * override "xen-pciback" matches no driver.  hostdevd's docs named it
 * xen-pciback, so that name is still taken, and turned into pciback. */
#define STUB_DRIVERS(X)                                                        \
	X("vfio-pci", "vfio_pci", NULL)                                        \
	X("pci-stub", "pci_stub", NULL)                                        \
	X("pciback", "xen_pciback", "xen-pciback")

/* The kernel driver name of the stub `name` calls for (its driver name,
 * its other name, or a learned variant), or NULL when it names no stub
 * hostdevd detaches to.
 * Every stub a user gives goes through here, once, as it comes in: what is
 * stored, logged, written to sysfs and answered is the driver name. */
const char *stub_target(const char *name);

/* The module holding stub driver `driver` (a kernel driver name), as
 * modprobe names it, or NULL for a driver not in the table. */
const char *stub_module(const char *driver);

/* vfio-pci variant drivers (common/variant.h) are stubs too, but their
 * names are the kernel's to choose: the table learns each one as the
 * engine finds it (the driver whose module link names a module with
 * vfio_pci: aliases).  At most STUB_VARIANTS_MAX; a learned name stays
 * for the process's life.  Called on the event loop only. */
#define STUB_VARIANTS_MAX 16
void stub_learn_variant(const char *driver);
/* Whether `driver` is a learned variant: a short loop over a set that is
 * empty on a host without variants. */
bool stub_is_variant(const char *driver);

/* A driver that holds a device for a guest, as seen bound.  On the event
 * pipeline's path (every bind decides a device's state by it), so the
 * names are compared as the constants they are; only a driver that is
 * none of them looks at the (usually empty) set of learned variants. */
static inline bool driver_is_stub(const char *driver)
{
#define STUB_IS(name, module, alias) streq(driver, name) ||
	return STUB_DRIVERS(STUB_IS) stub_is_variant(driver);
#undef STUB_IS
}

/* The targets in words, for messages: "vfio-pci, pci-stub or pciback". */
const char *stub_targets_text(void);

/* Whether `name` could be a driver's or a module's name: 1 to
 * STUB_NAME_MAX letters, digits, '-' and '_', the first a letter or
 * digit.  What a client or a policy file may name before the daemon says
 * whether this host has it (a variant's name is the kernel's to choose):
 * nothing that could be a path, an option or a pattern gets further. */
#define STUB_NAME_MAX 63
bool stub_name_valid(const char *name);

/* The stub driver whose module is `module` ("xen_pciback": "pciback"),
 * or NULL: a module's name where the driver's is wanted. */
const char *stub_of_module(const char *module);

/* The names stub_target() takes, at most max into out: each stub's
 * driver name and its other name, then the learned variants.  How many. */
size_t stub_names(const char **out, size_t max);
