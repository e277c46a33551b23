/* The kernel's side of the sysfs control files, played on a umockdev
 * testbed: what a store to driver_override, bind, unbind, drivers_probe,
 * reset, remove or authorized does to sysfs, /dev and the uevent stream.
 *
 * `root` is the canonical testbed root; a device is named by its devpath
 * relative to sysfs ("devices/pci0000:00/0000:00:1c.1/0000:03:00.0") or by
 * its bus and id.  Each call changes the files first and then sends the
 * uevents, as the kernel does, and returns 0 or the -errno the kernel's
 * store would return.  The caller holds the emulator's lock. */
#pragma once

#include <stddef.h>

int kdrv_driver_override(const char *root, const char *devpath, const char *buf, size_t len);
int kdrv_bind(const char *root, const char *bus, const char *driver, const char *id);
int kdrv_unbind(const char *root, const char *bus, const char *driver, const char *id);
int kdrv_drivers_probe(const char *root, const char *bus, const char *id);
int kdrv_reset(const char *root, const char *devpath, const char *buf, size_t len);
int kdrv_remove(const char *root, const char *devpath, const char *buf, size_t len);
int kdrv_authorized(const char *root, const char *devpath, const char *buf, size_t len);

/* /dev/vfio/<group> exists exactly while a member of the group is bound to
 * vfio-pci. */
int kdrv_vfio_sync(const char *root, const char *group);
