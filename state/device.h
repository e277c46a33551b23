/* A device record: what hostdevd knows about one PCI function or USB device.
 *
 * Records are plain data built by monitor/record.c from sysfs and owned by the
 * device table (state/devtable.h).  Hex ids are kept as numbers; the protocol
 * prints them as 4 (or 6, for the PCI class) lower-case hex digits.  Strings
 * that the kernel may not provide are NULL.  Relations (parent, PF/VF, IOMMU
 * group members, children) are stored as ids here and indexed by the table, so
 * a record never points at another record and order of arrival does not
 * matter. */
#pragma once

#include "common/stub.h"

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

enum hd_bus {
	HD_BUS_PCI = 0,
	HD_BUS_USB,
	HD_BUS__COUNT
};

/* The device state machine (SPEC "Devices").  Only device_set_state() moves a
 * device from one state to another (the engines go through the table's
 * devtable_set_state(), which tells its subscribers); it validates and logs
 * old -> new. */
enum dev_state {
	DEV_HOST = 0,   /* host driver or none */
	DEV_DETACHING,  /* being moved to a stub */
	DEV_DETACHED,   /* on a stub, unclaimed: the detached pool */
	DEV_CLAIMED,    /* in use by an owner */
	DEV_RELEASING,  /* being handed back to its host driver */
	DEV_ERROR,      /* an operation failed; needs an administrator (Repair) */
	DEV_STATE__COUNT
};

#define HD_NO_GROUP (-1)
#define HD_NO_NUMA (-1)

struct usb_iface {
	char *id;        /* "1-2.3:1.0" */
	uint8_t cls, subcls, proto;
	char *driver;    /* NULL when unbound */
};

/* An interface and the driver it had: what a USB claim that unbinds
 * interface drivers must bind again at release. */
struct iface_binding {
	char *iface;  /* "1-2.2:1.0" */
	char *driver; /* "usb-storage" */
};

struct pci_info {
	uint32_t subsystem_vendor, subsystem_device;
	uint32_t class_code; /* 24 bits: class, subclass, prog-if */
	uint32_t revision;
	char *driver_override; /* NULL when not set ("(null)" in sysfs) */
	int iommu_group;       /* HD_NO_GROUP without an IOMMU */
	char *physfn;          /* id of the PF when this is a VF */
	int sriov_totalvfs;    /* -1 when not SR-IOV capable */
	int sriov_numvfs;
	char **reset_methods;  /* NULL-terminated, one allocation (device_words());
				* from reset_method */
	bool has_reset;        /* the reset attribute exists */
	bool boot_vga;
};

struct usb_info {
	int busnum, devnum;
	uint32_t device_class; /* bDeviceClass */
	uint32_t bcd_device;
	char *manufacturer, *product, *serial;
	char *speed;           /* Mbit/s as the kernel prints it */
	bool authorized;
	bool root_hub;         /* "usbN": the host controller's root hub */
	struct usb_iface *ifaces;
	size_t n_ifaces;
};

struct device {
	/* A lookup and a bind or unbind touch only this first cache line. */
	uint64_t id_hash;  /* str_hash(id), kept by the table */
	struct device *hash_next;
	char *id;          /* canonical id: "0000:03:00.0" or "1-2.3" (root hub "usb1");
			    * points into id_inline or just past the record; never reassigned */
	enum hd_bus bus;
	enum dev_state state;
	const char *driver; /* NULL when unbound; interned (device_intern), so equal
			     * drivers are one pointer: compared without a cache miss */
	char id_inline[16];
	char *syspath;
	uint32_t vendor, product; /* PCI vendor/device or USB idVendor/idProduct */
	char *parent;      /* id of the nearest PCI/USB ancestor, NULL at a root */
	int numa_node;
	/* The driver a PCI function had before hostdevd detached it, kept
	 * while it is detached so Reattach can confirm it came back; NULL when
	 * it was unbound or hostdevd did not detach it (engine/detach.h). */
	char *original_driver;
	/* In hostdevd's detached pool while on a stub: hostdevd detached it
	 * (from a host driver or from none), or the policy took it as found
	 * at start (put on its stub by the generated udev rules).  A device on
	 * a stub without it is an orphan (docs/state.md).  Changed only by
	 * device_pool_enter() and device_pool_leave(). */
	bool pooled;
	/* In `error`: the state the failed operation started from (host, or
	 * detached for the pool), where Repair and a bind uevent return it. */
	enum dev_state error_home;
	union {
		struct pci_info pci;
		struct usb_info usb;
	};

	/* Owned by the device table: index links.  Do not touch outside state/. */
	size_t slot;       /* position in the table's dense array */
	uint64_t seen_gen; /* last resync generation that saw this device */
	struct device *group_prev, *group_next;
	struct device *child_prev, *child_next;
	struct device *vf_prev, *vf_next;
	struct devtable_bucket *group_head, *child_head, *vf_head;
};

/* A NULL-terminated vector of the blank-separated words of s, pointers and
 * text in one allocation: free() it whole.  One block keeps a record's
 * fields few and close together, which the event pipeline's cache-miss
 * budget at 10,000 devices needs. */
char **device_words(const char *s);

/* The one copy of a driver name (NULL in, NULL out).  Driver names are a
 * small set that the kernel bounds, so the copies live as long as the
 * process.  For the event loop's thread only. */
const char *device_intern(const char *name);

const char *dev_state_name(enum dev_state state);
int dev_state_from_name(const char *name);
const char *hd_bus_name(enum hd_bus bus);
int hd_bus_from_name(const char *name);

struct device *device_new(enum hd_bus bus, const char *id);
void device_free(struct device *dev);

/* dev joins the pool with `original` (NULL: none known) as the driver a
 * Reattach brings back; leaving forgets both. */
void device_pool_enter(struct device *dev, const char *original);
void device_pool_leave(struct device *dev);
/* Moves dev to `to`, logging "old -> new (why)".  Returns false and logs a
 * warning when the transition is not one the state machine allows. */
bool device_set_state(struct device *dev, enum dev_state to, const char *why);
/* For any bus; devices of a bus without stubs (USB) may also go host ->
 * claimed (device_set_state). */
bool dev_state_transition_allowed(enum dev_state from, enum dev_state to);


/* PCI class helpers (state/pci.c). */
bool pci_is_bridge(const struct device *dev);      /* class 0x0604 */
bool pci_is_host_bridge(const struct device *dev); /* class 0x0600 */

/* What the device's bus says (state/bus.h), for code that must not branch
 * on the bus: whether it is a bridge, the serial that tells it from a twin
 * (NULL: none).  Its IOMMU group and PF: device_iommu_group() and
 * device_physfn() in state/bus.h. */
bool device_is_bridge(const struct device *dev);
const char *device_serial(const struct device *dev);
/* Whether dev is the device with these ids (and serial, where its bus has
 * one): a device that comes back with others is another device. */
bool device_is(const struct device *dev, uint32_t vendor, uint32_t product, const char *serial);

/* The state a device should have from its driver alone, when no claim or
 * policy says otherwise: on a stub -> detached, otherwise host. */
enum dev_state device_observed_state(const struct device *dev);

/* Copies the sysfs-derived fields of src into dst (same bus and id), keeping
 * dst's state and index links.  Returns true if anything changed. */
bool device_update_from(struct device *dst, const struct device *src);

/* Assigns a scalar field, noting in `changed` whether it changed. */
#define DEVICE_SET(changed, field, value)                                      \
	do {                                                                   \
		if ((field) != (value)) {                                      \
			(field) = (value);                                     \
			(changed) = true;                                      \
		}                                                              \
	} while (0)

/* USB interfaces (state/usb.c). */
struct usb_iface *device_usb_iface(struct device *dev, const char *iface_id);
/* Adds or replaces an interface (copied); keeps the list sorted by id. */
void device_usb_iface_set(struct device *dev, const struct usb_iface *iface);
bool device_usb_iface_remove(struct device *dev, const char *iface_id);
