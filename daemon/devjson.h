/* Device records as the protocol's JSON (docs/io.hostdevd.varlink).
 *
 * Hex ids are printed as lower-case fixed-width strings (vendor and product
 * 4 digits, PCI class 6, revision 2, USB class 2, bcdDevice 4).  Optional
 * fields the kernel did not provide are omitted.  Relations (children, IOMMU
 * group members, virtual functions) come from the table's indexes and are
 * sorted by id.
 *
 * ListDevices sends one of these per device and Watch one per event, so the
 * records are written straight as JSON text: building json-c objects for
 * 10,000 devices and printing them costs tens of milliseconds, writing the
 * text a few.  The json_object builders parse that same text, so there is
 * one definition of the format. */
#pragma once

#include "state/claims.h"
#include "state/devtable.h"

#include <json-c/json.h>
#include <stddef.h>

/* A growing buffer of JSON text; zero-initialise, free `data` when done. */
struct devjson_buf {
	char *data;
	size_t len, cap;
};

void devjson_append(struct devjson_buf *b, const char *text, size_t len);
/* Appends s as a JSON string literal, quoted and escaped. */
void devjson_append_string(struct devjson_buf *b, const char *s);
void devjson_append_int(struct devjson_buf *b, int64_t v);

/* Appends the schema's Device; `c` (may be NULL) gives its `claim`. */
void devjson_append_device(struct devjson_buf *b, const struct devtable *t,
			   const struct claims *c, const struct device *dev);
/* Appends the schema's DeviceEvent: `detail` is the USB interface the event
 * concerned, or NULL. */
void devjson_append_event(struct devjson_buf *b, const struct devtable *t,
			  const struct claims *c, enum dev_event ev, const struct device *dev,
			  const char *detail);

/* The same as json-c objects; the caller owns the returned reference. */
json_object *devjson_device(const struct devtable *t, const struct claims *c,
			    const struct device *dev);
json_object *devjson_event(const struct devtable *t, const struct claims *c, enum dev_event ev,
			   const struct device *dev, const char *detail);
