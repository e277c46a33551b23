/* The stub drivers: what holds a device while it is away from the host.
 *
 * One list says which drivers are stubs and which of them hostdevd can
 * detach a device to; the daemon, the policy loader and hostdevctl all ask
 * it, so they cannot disagree. */
#pragma once

#include "common/util.h"

#include <stdbool.h>

#define STUB_DEFAULT "vfio-pci"

/* Each stub: its name, and whether hostdevd detaches to it when asked.
 * pciback is xen-pciback's name on older kernels: a stub when seen bound,
 * never one to ask for. */
#define STUB_DRIVERS(X)                                                        \
	X("vfio-pci", true)                                                    \
	X("pci-stub", true)                                                    \
	X("xen-pciback", true)                                                 \
	X("pciback", false)

/* A driver hostdevd detaches to when asked: vfio-pci, pci-stub,
 * xen-pciback. */
bool stub_is_target(const char *driver);

/* A driver that holds a device for a guest, as seen bound.  On the event
 * pipeline's path (every bind decides a device's state by it), so the
 * names are compared as the constants they are. */
static inline bool driver_is_stub(const char *driver)
{
#define STUB_IS(name, target) streq(driver, name) ||
	return STUB_DRIVERS(STUB_IS) false;
#undef STUB_IS
}

/* The targets in words, for messages: "vfio-pci, pci-stub or xen-pciback". */
const char *stub_targets_text(void);
