/* The protocol's records as JSON (docs/io.hostdevd.varlink): Device,
 * DeviceEvent, ClaimEntry, and a policy decision's where.
 *
 * Hex ids are printed as lower-case fixed-width strings (vendor and product
 * 4 digits, PCI class 6, revision 2, USB class 2, bcdDevice 4).  Optional
 * fields the kernel did not provide are omitted.  Relations (children, IOMMU
 * group members, virtual functions) come from the table's indexes and are
 * sorted by id.  Each bus writes its own part (state/bus.h).
 *
 * ListDevices sends one of these per device and Watch one per event, so the
 * records are written straight as JSON text (common/jsonbuf.h).  The
 * json_object builders parse that same text, so there is one definition of
 * the format. */
#pragma once

#include "common/jsonbuf.h"
#include "monitor/hwdb.h"
#include "policy/policy.h"
#include "state/claims.h"
#include "state/devtable.h"

#include <json-c/json.h>
#include <stddef.h>

/* The state a client is shown: the table's, except that a device held by a
 * settled claim but back with the host (rebound behind hostdevd's back
 * while it was down, or an unmanaged claim's device bound by someone) is
 * `claimed` — the claim stands, nobody else may take it — with *drifted
 * set: the kernel disagrees, and `driver` says where it is. */
enum dev_state devjson_state(const struct claims *c, const struct device *dev, bool *drifted);
/* Appends the schema's Device; `c` (may be NULL) gives its `claim`, and
 * `drifted: true` as devjson_state() says; `names` (may be NULL) its
 * vendor_name and product_name. */
void devjson_append_device(struct jsonbuf *b, const struct devtable *t, const struct claims *c,
			   struct hwdb *names, const struct device *dev);
/* Appends the schema's DeviceEvent: `detail` is the USB interface the event
 * concerned, or NULL. */
void devjson_append_event(struct jsonbuf *b, const struct devtable *t, const struct claims *c,
			  struct hwdb *names, enum dev_event ev, const struct device *dev, const char *detail);
/* Appends the schema's ClaimEntry. */
void devjson_append_claim(struct jsonbuf *b, const struct claim_entry *e,
			  const struct device *dev);

/* The same as json-c objects; the caller owns the returned reference. */
json_object *devjson_device(const struct devtable *t, const struct claims *c, struct hwdb *names,
			    const struct device *dev);
json_object *devjson_event(const struct devtable *t, const struct claims *c, struct hwdb *names,
			   enum dev_event ev, const struct device *dev, const char *detail);

/* A policy decision's where and what, added to o: action, and for a rule
 * its number (from 1), file and line.  The one layout CheckPolicy,
 * ReloadPolicy's conflicts and Watch's policy notices share. */
void devjson_add_decision(json_object *o, const struct policy_decision *d);
