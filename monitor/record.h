/* Builds device records from sysfs, through libudev.
 *
 * record_from_udev() reads everything SPEC "Devices" lists for one device
 * (its bus's part through state/bus.h: a USB device's interfaces included),
 * so a record is always complete and a rebuild replaces it whole. */
#pragma once

#include "state/device.h"

#include <stdbool.h>

struct udev_device;

enum record_kind {
	RECORD_IGNORE = 0, /* not on a bus we track, or neither a device nor part of one */
	RECORD_DEVICE,     /* a device of one of our buses (state/bus.h) */
	RECORD_CHILD,      /* part of a device (a USB interface): its device is rebuilt */
};

/* What this udev device is to us, from its subsystem and devtype, and (not
 * IGNORE) on which bus. */
enum record_kind record_classify(struct udev_device *ud, enum hd_bus *bus);

/* A new record for a udev device that is one of our buses' devices; NULL
 * (logged at debug) if it is not, if sysfs no longer holds it or if it
 * lacks its identity. */
struct device *record_from_udev(struct udev_device *ud);

/* Just a device's binding: its driver and driver_override (each malloc'd,
 * NULL when none).  False if the device is gone. */
bool record_read_binding(const char *syspath, char **driver, char **driver_override);

/* The same from a sysfs path on a known bus (enumeration lists each bus
 * separately, so no udev device object is needed). */
struct device *record_build(enum hd_bus bus, const char *syspath);

/* The canonical id of a device from its kernel name (the sysname).  For both
 * buses the kernel's name is the canonical id; kept as one function so the
 * rule lives in one place. */
const char *record_id_from_sysname(const char *sysname);
