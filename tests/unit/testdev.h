/* Synthetic device records for the unit tests: the one builder the test
 * programs share instead of each keeping its own copy.  Fields not given
 * keep device_new()'s defaults (no IOMMU group, no NUMA node). */
#pragma once

#include "state/device.h"

#include <stdint.h>

/* A PCI function; driver and parent may be NULL; syspath is
 * /sys/devices/pci0000:00/ID. */
struct device *testdev_pci(const char *id, uint32_t vendor, uint32_t product, uint32_t cls,
			   int group, const char *driver, const char *parent);
/* A USB device at bus 1 address devnum, unbound; syspath under the xHCI
 * controller 0000:00:14.0. */
struct device *testdev_usb(const char *id, uint32_t vendor, uint32_t product, int devnum,
			   const char *parent);
/* A fixed-seed generator for the randomized tests (an LCG): the same
 * policies and devices on every run, from testdev_seed(). */
void testdev_seed(uint64_t seed);
unsigned testdev_rnd(unsigned n); /* 0 .. n-1 */
#define TESTDEV_PICK(a) ((a)[testdev_rnd(sizeof(a) / sizeof((a)[0]))])

/* Adds an interface to a USB record (copied). */
void testdev_iface(struct device *d, const char *id, uint8_t cls, uint8_t sub, uint8_t proto,
		   const char *driver);
