/* Device selectors: how users and clients name a device (SPEC "Interfaces
 * and defaults").
 *
 *   0000:03:00.0          canonical PCI id (hex in either case; the domain
 *                         may have more than 4 digits, as behind Intel VMD)
 *   03:00.0               lspci's short form: the same in domain 0000
 *   1-2.3, usb1           canonical USB id: the port path, or a root hub
 *   id:VVVV:PPPP          USB idVendor and idProduct, 4 hex digits each,
 *   id:VVVV:PPPP:SERIAL   case-insensitive; the serial is compared exactly
 *   usb:BUS.DEV           USB bus and device number, decimal
 *
 * A selector names exactly one device or fails: never a guess. */
#pragma once

#include "state/devtable.h"

enum selector_result {
	SELECTOR_FOUND = 0,
	SELECTOR_NOT_FOUND,
	SELECTOR_AMBIGUOUS, /* *matches lists every device that matched */
	SELECTOR_INVALID,   /* not a selector of any kind */
};

/* Resolves `sel` against the table.  Returns an enum selector_result.
 * SELECTOR_FOUND sets *out.  SELECTOR_AMBIGUOUS sets *matches to a
 * NULL-terminated array of the matching ids sorted like devtable_sorted()
 * (free it with selector_matches_free()); otherwise *matches is NULL. */
int selector_resolve(const struct devtable *t, const char *sel, struct device **out,
		     char ***matches);

void selector_matches_free(char **matches);
