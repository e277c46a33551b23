/* The live device table: every PCI function and USB device on the machine.
 *
 * O(1) lookup by canonical id; indexes by IOMMU group, by parent (children)
 * and by PF (virtual functions).  Indexes are keyed by id or group number, not
 * by pointer, so a child may be inserted before its parent.  Every change is
 * told to the table's subscribers (persistence, watchers, the engines, the
 * policy's automation: devtable_subscribe); a removed device is told before
 * it is freed.
 *
 * Not thread-safe: the table lives on the event loop. */
#pragma once

#include "state/device.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct devtable;

enum dev_event {
	DEV_EVENT_ADD = 0,
	DEV_EVENT_REMOVE,
	DEV_EVENT_BIND,
	DEV_EVENT_UNBIND,
	DEV_EVENT_CHANGE,
	DEV_EVENT_MOVE,
	DEV_EVENT__COUNT
};

const char *dev_event_name(enum dev_event ev);
/* Parses a uevent action; -1 for actions we do not track (online, offline). */
int dev_event_from_action(const char *action);

/* `detail` names the part of the device an event concerned (a USB
 * interface), else NULL. */
typedef void (*devtable_listener_fn)(enum dev_event ev, const struct device *dev,
				     const char *detail, void *ctx);

struct devtable *devtable_new(void);
void devtable_free(struct devtable *t);
/* "A device changed": the one channel.  Every event (add, remove, bind,
 * unbind, change, move, and every state change) goes to every subscriber,
 * in the order they subscribed.  An event raised while subscribers are
 * being told of another (an engine moving a device's state on its bind)
 * waits until all of them have heard that one, then goes out in turn: no
 * subscriber is re-entered, and none hears of a state before the event
 * that caused it. */
void devtable_subscribe(struct devtable *t, devtable_listener_fn fn, void *ctx);

/* Moves dev to `to` (device_set_state: validated, logged old -> new) and
 * tells subscribers `change` when it moved.  False when the state machine
 * refuses the transition. */
bool devtable_set_state(struct devtable *t, struct device *dev, enum dev_state to,
			const char *why);
/* Something subscribers show changed without a uevent (the claim on it, an
 * attribute an engine wrote): tells them `change`. */
void devtable_touch(struct devtable *t, const struct device *dev);

size_t devtable_count(const struct devtable *t);
size_t devtable_count_bus(const struct devtable *t, enum hd_bus bus);
size_t devtable_count_state(const struct devtable *t, enum dev_state state);

struct device *devtable_get(const struct devtable *t, const char *id);

/* Inserts a freshly built record (taking ownership) or, when the id is known,
 * copies its sysfs fields into the existing record and frees `rec`.  Indexes
 * are updated and the observed state (host/detached) follows the driver.
 * Subscribers hear `ev` when the device was added or anything changed
 * (a device's `add` for a known device is reported as `change`, never twice
 * as add; with `detail`, the USB interface it concerned, the event is kept).
 * Returns the record now in the table. */
struct device *devtable_upsert(struct devtable *t, struct device *rec, enum dev_event ev,
			       const char *detail);

/* A bind or unbind changes only a device's binding: its driver and, for a
 * PCI function, driver_override (which has no uevent of its own, so it is
 * read when the binding moves).  Updates just those, so the pipeline does not
 * re-read or compare what cannot have changed; the state follows the driver
 * and subscribers hear `ev` if anything changed.  Returns false when the
 * id is unknown (the caller then builds a whole record). */
bool devtable_update_binding(struct devtable *t, const char *id, const char *driver,
			     const char *driver_override, enum dev_event ev);

/* Removes and frees a device; false if it was not there. */
bool devtable_remove(struct devtable *t, const char *id);

/* Iteration over all devices, in no particular order:
 *   for (size_t i = 0; i < devtable_count(t); i++) dev = devtable_at(t, i);
 * Valid until the table changes. */
struct device *devtable_at(const struct devtable *t, size_t i);

/* Devices sorted by bus then id, for listings.  The caller frees the array
 * (not the devices).  Returns the count. */
size_t devtable_sorted(const struct devtable *t, struct device ***out);

/* Index walks: the first member, then dev->group_next / child_next / vf_next.
 * Members of one list are in insertion order. */
struct device *devtable_group_first(const struct devtable *t, int group);
size_t devtable_group_size(const struct devtable *t, int group);
struct device *devtable_children_first(const struct devtable *t, const char *parent_id);
struct device *devtable_vfs_first(const struct devtable *t, const char *pf_id);

/* Resync after lost events: begin, upsert everything enumerated, end.  end()
 * removes (and reports) every device that the enumeration did not see. */
void devtable_resync_begin(struct devtable *t);
size_t devtable_resync_end(struct devtable *t);
/* Ends a resync whose enumeration failed: nothing is removed. */
void devtable_resync_abort(struct devtable *t);
