/* The stub drivers: what holds a device while it is away from the host.
 *
 * One table says which drivers are stubs and which of them hostdevd can
 * detach a device to; the daemon, the policy loader and hostdevctl all ask
 * it, so they cannot disagree. */
#pragma once

#include <stdbool.h>

#define STUB_DEFAULT "vfio-pci"

/* A driver hostdevd detaches to when asked: vfio-pci, pci-stub,
 * xen-pciback. */
bool stub_is_target(const char *driver);

/* A driver that holds a device for a guest, as seen bound: the targets and
 * pciback (xen-pciback's name on older kernels). */
bool driver_is_stub(const char *driver);

/* The targets in words, for messages: "vfio-pci, pci-stub or xen-pciback". */
const char *stub_targets_text(void);
