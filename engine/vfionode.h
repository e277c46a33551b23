/* A PCI function's VFIO nodes, and who owns them (SPEC "Unprivileged
 * hypervisors"; docs/claims.md "The VFIO node's owner").
 *
 * A function on vfio-pci (or one of its variant drivers) has its IOMMU
 * group's node, <dev-root>/vfio/N, shared by every function of the group,
 * and on kernels with VFIO cdev (6.6 and later) a node of its own,
 * <dev-root>/vfio/devices/vfioN, named by the vfioN entry of its sysfs
 * vfio-dev/ directory.  Nodes are named relative to the dev root ("vfio/8",
 * "vfio/devices/vfio3"), which is how the state file records them.
 *
 * For the life of a claim made by an unprivileged uid those nodes are
 * owned by that uid, as libvirt's DAC driver gives them to an unprivileged
 * QEMU: the claim engine (engine/claim.c) decides what to change and
 * records what it changed; this module reads a node's owner (on the loop:
 * an O_PATH open and fstat, no driver is called) and changes owners (in
 * one worker thread, in the order asked, so that giving a group node back
 * and handing it over again never overtake each other).
 *
 * A node is reached from the dev root one component at a time with
 * O_PATH|O_NOFOLLOW: a symbolic link planted anywhere below the dev root is
 * never followed, and the owner changes on the descriptor (fchownat with
 * AT_EMPTY_PATH), so what was checked is what changes.  Anything but a
 * character device is refused.
 *
 * Under the test harnesses' guard (HOSTDEVD_REQUIRE_MOCK=1, engine/sysfs.h)
 * no owner changes under the machine's /dev: only under a --dev-root the
 * test redirected (a change is then FAILED, EPERM, and says so). */
#pragma once

#include "state/devtable.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct vfionodes;

/* "vfio/devices/vfio4294967295" and then some. */
#define VFIONODE_NAME_MAX 48

/* vfio-pci or one of its variant drivers (mlx5_vfio_pci...), which all
 * serve the VFIO device API; the stub table knows the variants. */
bool vfionode_driver_is_vfio(const char *driver);

/* The function's cdev name ("vfio3") from its vfio-dev/ directory in
 * sysfs; false without one (a kernel without VFIO cdev, or not on vfio).
 * Kernels 6.1 to 6.5 list the device there too, but as no character
 * device: only an entry with a `dev` attribute counts (found on Debian
 * 12's 6.1 in the VM tier). */
bool vfionode_cdev_name(const struct device *dev, char *name, size_t size);

/* The nodes of a PCI function on vfio-pci (or a variant): its group's,
 * then its cdev if sysfs names one.  Returns how many (0 to 2). */
size_t vfionode_names(const struct device *dev, char names[2][VFIONODE_NAME_MAX]);

/* The node OpenDevice opens: the cdev if there is one (*kind "cdev"), else
 * the group's ("group"); false when the function has neither. */
bool vfionode_open_name(const struct device *dev, char *name, size_t size, const char **kind);

/* Whether `name` is one this module makes ("vfio/N", "vfio/devices/vfioN"):
 * a name read from the state file is acted on only then. */
bool vfionode_name_valid(const char *name);

/* <dev_root>/<name> into buf. */
void vfionode_path(const char *dev_root, const char *name, char *buf, size_t size);

enum vfionode_outcome {
	VFIONODE_CHANGED = 0, /* the owner is now the one asked */
	VFIONODE_ALREADY,     /* it was already: nothing written */
	VFIONODE_MISSING,     /* no such node (udev has not made it, or it went) */
	VFIONODE_REFUSED,     /* not a character device, or a symbolic link on the way */
	VFIONODE_MOVED,       /* another node, or another owner, than expected: left alone */
	VFIONODE_FAILED,      /* the change failed: err */
};

/* What a node is: its owner, group, mode and device numbers. */
struct vfionode_stat {
	uid_t uid;
	gid_t gid;
	mode_t mode;
	dev_t rdev;
};

/* Reads the node; VFIONODE_ALREADY (read) or MISSING, REFUSED, FAILED, with
 * a sentence in why (may be NULL). */
enum vfionode_outcome vfionode_stat(const char *dev_root, const char *name,
				    struct vfionode_stat *st, char *why, size_t size);

/* One owner change: `name` goes to uid (and gid; (gid_t)-1 leaves it) if
 * it is still the character device `rdev` (0: any) owned by `expect_uid`;
 * a node already owned by uid (and gid) is left as it is.  The outcome,
 * its errno and a sentence are filled in. */
struct vfionode_change {
	char name[VFIONODE_NAME_MAX];
	uid_t expect_uid;
	uid_t uid;
	gid_t gid;
	dev_t rdev;
	enum vfionode_outcome outcome;
	int err;
	char why[160];
};

struct vfionodes *vfionodes_new(struct event_base *base, const char *dev_root);
/* Shutdown: the worker stops; changes asked and not yet answered are made
 * now, on the caller's thread, and answered (the loop no longer runs), so
 * every change asked for happens.  From then on vfionodes_apply makes its
 * changes and answers at once.  free() stops first if stop() was not
 * called. */
void vfionodes_stop(struct vfionodes *n);
void vfionodes_free(struct vfionodes *n);
const char *vfionodes_dev_root(const struct vfionodes *n);

/* Makes the changes in a worker thread, in order, and answers on the loop
 * with them (valid during the call).  `v` is copied. */
typedef void (*vfionodes_done_fn)(const struct vfionode_change *v, size_t count, void *ctx);
void vfionodes_apply(struct vfionodes *n, const struct vfionode_change *v, size_t count,
		     vfionodes_done_fn done, void *ctx);
/* Tests: `hook` runs in the worker before each job asked from now on (not
 * at shutdown), so a test can hold the worker and prove what is decided
 * while a change waits.  NULL: none. */
void vfionodes_set_job_hook(struct vfionodes *n, void (*hook)(void *ctx), void *ctx);
/* The same, at once, on the caller's thread: at start, before the loop
 * serves anyone. */
void vfionodes_apply_now(const struct vfionodes *n, struct vfionode_change *v, size_t count);
