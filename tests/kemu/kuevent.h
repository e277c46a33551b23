/* Uevents as udevd passes them on, sent to every monitor in a umockdev
 * testbed: the one sender that the testbed (tests/integration/testbed.c)
 * and the kernel emulator share, so that both number their events from one
 * SEQNUM counter and fill the header the same way.
 *
 * umockdev's preload turns every uevent netlink socket into a Unix datagram
 * socket named <root>/event<fd>; libudev reads our messages from there. */
#pragma once

#include <stddef.h>

/* props: the device's properties, NUL-terminated "KEY=VALUE" entries
 * back to back (what its uevent file holds, one per line), without ACTION,
 * DEVPATH, SUBSYSTEM and SEQNUM, which are added here.  devpath is relative
 * to sysfs ("devices/pci0000:00/..."); devtype may be NULL.  A listener
 * that does not read for 30 s makes this fail (-ETIMEDOUT), with a message
 * on stderr.  Returns 0 or -errno. */
int kuevent_send(const char *root, const char *action, const char *devpath,
		 const char *subsystem, const char *devtype, const char *props, size_t len);
