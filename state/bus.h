/* What a bus is: one table of operations per bus, as tmux's window modes
 * are one table per mode.  PCI (state/pci.c) and USB (state/usb.c) each
 * fill one; state/bus.c lists them.  Every difference between buses at the
 * level of records lives behind it: how a record is built from sysfs,
 * compared and freed, what its ids look like, its relations (IOMMU group,
 * physical function), what it says about being host-critical, and its part
 * of the protocol's Device.  Code outside the bus files asks the table and
 * never branches on the bus itself.
 *
 * What the engine does with a bus's devices (detach, claims, policy
 * actions) is the engine's own per-bus table, engine/bus.h: the state
 * layer cannot call the engine.  docs/architecture.md "Where to make a
 * change" lists what adding a bus touches. */
#pragma once

#include "state/device.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct devtable;
struct jsonbuf;
struct sysdir;

struct bus_desc {
	const char *name;      /* "pci": the protocol's, the policy's and the selectors' word */
	const char *label;     /* "PCI": for people */
	const char *plural;    /* "PCI functions": its devices, for people */
	const char *subsystem; /* the kernel subsystem its devices are in */
	const char *devtype;   /* the devtype of its devices; NULL: any */
	/* Objects that are part of a device (USB interfaces): an event about
	 * one rebuilds its device.  Their kernel names continue their device's
	 * after child_sep ("1-2:1.0"). */
	const char *child_devtype;
	char child_sep;
	/* A bind or unbind changes only the device's binding, so only that is
	 * read (PCI); otherwise the record is rebuilt. */
	bool binding_events;
	/* Devices leave the host by binding a stub driver (common/stub.h). */
	bool stub_drivers;
	/* "id:VVVV:PPPP[:SERIAL]" selects its devices (state/selector.h). */
	bool selected_by_ids;

	/* ---- records ---- */
	/* The bus's part of a new record (defaults), of a freed one. */
	void (*init)(struct device *dev);
	void (*clear)(struct device *dev);
	/* Reads the bus's attributes from the device's directory; false when
	 * it has no identity (vendor and product). */
	bool (*fill)(struct device *dev, const struct sysdir *d);
	/* Copies the bus's fields of src into dst; true if any changed. */
	bool (*update)(struct device *dst, const struct device *src);

	/* ---- ids ---- */
	/* Whether a kernel name of len bytes is one of its devices' (a parent
	 * is the nearest ancestor directory whose name is a device's). */
	bool (*is_device_name)(const char *s, size_t len);
	/* Whether sel is written as one of its canonical ids; the canonical
	 * form (case folded) in out.  The selectors' fallback for an id the
	 * table does not hold. */
	bool (*canonical_id)(const char *sel, char *out, size_t size);
	/* "<name>:BUS.DEV" selects the device at that bus address; NULL: none. */
	bool (*at_address)(const struct device *dev, int busnum, int devnum);
	/* What tells two devices with the same ids apart (USB: the serial);
	 * NULL for none. */
	const char *(*serial)(const struct device *dev);

	/* ---- relations ---- */
	/* Where its records keep their IOMMU group (an int) and the PF of a
	 * VF (a string), as offsets into struct device; -1: it has none.
	 * Offsets, not functions: the table's indexes read them on every
	 * event that may move a device between index entries. */
	ptrdiff_t group_offset, physfn_offset;
	/* Where they keep driver_override (a string), which has no uevent of
	 * its own and is read on every bind; -1: the bus has none. */
	ptrdiff_t override_offset;
	/* A bridge: it stays with the host, and a group's bridges do not make
	 * it unviable. */
	bool (*is_bridge)(const struct device *dev);

	/* ---- host-critical (policy/hostcrit.h asks) ---- */
	/* What the record alone says must stay with the host (a bridge, the
	 * boot VGA device, a hub), before anything is scanned; NULL: nothing. */
	const char *(*fixed_critical)(const struct device *dev);
	/* The same for a transport the host's services use (vsock), asked
	 * once the device's sysfs path is known; NULL: nothing. */
	const char *(*transport_critical)(const struct device *dev);

	/* ---- protocol (docs/io.hostdevd.varlink) ---- */
	/* The bus's object in a Device: {"pci": {...}} under the key `name`. */
	void (*append_json)(struct jsonbuf *b, const struct devtable *t, const struct device *dev);
	/* The key udev's hardware database knows its ids by ("pci:v%08Xd%08X"),
	 * for the names of monitor/hwdb.h; NULL: the database has none. */
	void (*hwdb_key)(const struct device *dev, char *out, size_t size);
};

/* The bus of a device, by its enum (fatal for one that is not ours). */
const struct bus_desc *bus_desc(enum hd_bus bus);
/* A record's bus: on the event pipeline's path, so without the check (a
 * record's bus is set once, by device_new, from a valid enum). */
extern const struct bus_desc *const bus_table[HD_BUS__COUNT];
static inline const struct bus_desc *bus_of(const struct device *dev)
{
	return bus_table[dev->bus];
}
/* The bus whose devices are in `subsystem`; NULL for none of ours. */
const struct bus_desc *bus_by_subsystem(const char *subsystem, enum hd_bus *bus);

/* A device's IOMMU group (HD_NO_GROUP without one) and the PF it is a VF
 * of (NULL: none), as its bus keeps them. */
static inline int device_iommu_group(const struct device *dev)
{
	ptrdiff_t off = bus_of(dev)->group_offset;

	return off < 0 ? HD_NO_GROUP : *(const int *)((const char *)dev + off);
}

static inline const char *device_physfn(const struct device *dev)
{
	ptrdiff_t off = bus_of(dev)->physfn_offset;

	return off < 0 ? NULL : *(char *const *)((const char *)dev + off);
}

/* For the bus files' JSON: the ids of an index list, sorted. */
typedef const struct device *(*bus_next_fn)(const struct device *dev);
void bus_json_sorted_ids(struct jsonbuf *b, const struct device *first, bus_next_fn next);
void bus_json_words(struct jsonbuf *b, char *const *words);
