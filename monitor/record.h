/* Builds device records from sysfs, through libudev.
 *
 * record_from_udev() reads everything SPEC "Devices" lists for one PCI
 * function or USB device, the USB device's interfaces included, so a record
 * is always complete and a rebuild replaces it whole. */
#pragma once

#include "state/device.h"

#include <stdbool.h>

struct udev_device;

enum record_kind {
	RECORD_IGNORE = 0, /* not a bus we track, or not a device (e.g. usb_interface is separate) */
	RECORD_PCI,
	RECORD_USB_DEVICE,
	RECORD_USB_INTERFACE,
};

/* What kind of object this udev device is, from subsystem and devtype. */
enum record_kind record_classify(struct udev_device *ud);

/* A new record for a pci or usb_device udev device; NULL (logged at debug)
 * if sysfs no longer holds it or it lacks its identity. */
struct device *record_from_udev(struct udev_device *ud);

/* Just a PCI function's binding: its driver and driver_override (each
 * malloc'd, NULL when none).  False if the device is gone. */
bool record_read_binding(const char *syspath, char **driver, char **driver_override);

/* The same from a sysfs path whose kind is known (enumeration lists each
 * subsystem separately, so no udev device object is needed). */
struct device *record_build(enum record_kind kind, const char *syspath);

/* The canonical id of a device from its kernel name (the sysname).  For both
 * buses the kernel's name is the canonical id; kept as one function so the
 * rule lives in one place. */
const char *record_id_from_sysname(const char *sysname);
