/* libudev monitors on the testbed's uevents, for the programs that check
 * what a monitor receives (it-testbed, it-kemu): the testbed and the
 * kernel emulator send to every monitor socket umockdev's preload saw the
 * program open. */
#pragma once

#include <libudev.h>

/* A monitor on netlink group `name` ("udev" or "kernel"), receiving; with
 * `subsystem`, filtered to it and `devtype` (NULL: any). */
struct udev_monitor *uevmon_new(struct udev *udev, const char *name, const char *subsystem,
				const char *devtype);

/* The next event, or NULL when none came within timeout_ms. */
struct udev_device *uevmon_next(struct udev_monitor *m, int timeout_ms);

/* The next event, which must come within the test deadline and be `action`
 * on `sysname` with DRIVER=`driver` (NULL: no DRIVER).  The caller checks
 * the rest and unrefs it. */
struct udev_device *uevmon_expect(struct udev_monitor *m, const char *action, const char *sysname,
				  const char *driver);
