/* Names people know: what udev's hardware database (hwdb.bin, built from
 * pci.ids and usb.ids, as lspci and lsusb read them) calls a device's vendor
 * and model ("Intel Corporation", "82574L Gigabit Network Connection").
 *
 * One libudev hwdb is opened for the daemon's life (udev_hwdb_new(), which
 * maps the file libudev finds; it cannot be pointed at another one).  Each
 * query is a lookup of the bus's key (bus_desc.hwdb_key: "pci:vVVVVVVVVd
 * PPPPPPPP", "usb:vVVVVpPPPP"), whose matches carry both names, so one
 * query answers both.  Answers are cached by (bus, vendor, product), misses
 * too: a ListDevices of 10,000 devices of a dozen models is a dozen
 * queries, and a record keeps no names of its own (struct device stays
 * lean; its names are looked up as it is serialized).
 *
 * For the event loop's thread only. */
#pragma once

#include "state/device.h"

#include <stdbool.h>
#include <stdint.h>

struct hwdb;

/* enabled false (HOSTDEVD_HWDB=off), or no database on the machine: an
 * object that knows no names and never queries. */
struct hwdb *hwdb_new(bool enabled);
void hwdb_free(struct hwdb *h);

/* The database's vendor and model names of dev's ids, each NULL when it has
 * none (h NULL: none at all).  Returns whether either is known.  The
 * strings are valid until the next hwdb_names() or hwdb_free() on h. */
bool hwdb_names(struct hwdb *h, const struct device *dev, const char **vendor_name,
		const char **product_name);

/* How many times the database itself was asked: what the cache saves, for
 * the tests and the benchmark. */
uint64_t hwdb_queries(const struct hwdb *h);
