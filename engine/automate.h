/* Policy acting on its own (SPEC "udev rules and hotplug automation",
 * docs/policy.md "Acting as devices appear"): a device that matches
 * `detach` or `assign` is detached to the rule's stub as it appears, and
 * those present at start-up are, for rules whose `when` allows it; a USB
 * device that matches `refuse` with `deauthorize` is deauthorized.  When the
 * host driver's module was loaded and bound the device first, the bind
 * event repairs it.  Host-critical devices are refused as always, unless a
 * rule lifts that for its one address.
 *
 * Claimed devices are the claim engine's; devices being moved by an
 * operation, in error, or already on a stub are left alone.  A device the
 * daemon could not move is tried again on its next bind, at most
 * AUTOMATE_MAX_TRIES times per appearance: a host driver that keeps
 * winning is reported, not fought forever.  Once moved, a device is left
 * alone until it appears again: one an administrator reattaches, or a
 * released claim gives back, stays where they put it.
 *
 * Every action and its outcome goes to the log and to Watch clients (a
 * `policy` reply), which is how an assign's owner is told its device is
 * ready. */
#pragma once

#include "state/devtable.h"

#include <stdbool.h>

struct hd_context;
struct automate;

#define AUTOMATE_MAX_TRIES 3

struct automate *automate_new(struct hd_context *ctx);
void automate_free(struct automate *a);

/* Acts on every device in the table for the start-up moment, then on
 * every later event (until then events are ignored: the table being filled
 * at start is not hotplug). */
void automate_start(struct automate *a);

/* The device table's events, after the detach and claim engines have seen
 * them; iface names the USB interface an event concerned (or NULL). */
void automate_device_event(struct automate *a, enum dev_event ev, const struct device *dev,
			   const char *iface);

/* Actions started and not yet answered. */
size_t automate_pending(const struct automate *a);
