/* Policy acting on its own (SPEC "udev rules and hotplug automation",
 * docs/policy.md "Acting as devices appear"): a device that matches
 * `detach` or `assign` is detached to the rule's stub as it appears, and
 * those present at start-up are, for rules whose `when` allows it; a USB
 * device that matches `refuse` with `deauthorize` is deauthorized.  What a
 * decision asks of a device is its bus's (engine/bus.h).  When the host
 * driver's module was loaded and bound the device first, the bind event
 * repairs it.  Host-critical devices are refused as always, unless a rule
 * lifts that for its one address.
 *
 * Claimed devices are the claim engine's; devices being moved by an
 * operation, in error, or already on a stub are left alone.  A device the
 * daemon could not move is tried again on its next bind, at most
 * AUTOMATE_MAX_TRIES times per appearance: a host driver that keeps
 * winning is reported, not fought forever.  Once moved, a device is left
 * alone until it appears again: one an administrator reattaches, or a
 * released claim gives back, stays where they put it.
 *
 * Every action and its outcome goes to the log and to the notice callback
 * (the daemon tells Watch clients: a `policy` reply), which is how an
 * assign's owner is told its device is ready. */
#pragma once

#include "engine/detach.h"
#include "policy/policy.h"
#include "state/claims.h"
#include "state/devtable.h"

#include <stdbool.h>

struct automate;

#define AUTOMATE_MAX_TRIES 3

/* What the policy did with a device and how it went.  Valid during the
 * callback. */
struct automate_notice {
	const char *device;
	/* The decision: action, rule (-1: the default), file:line (file NULL:
	 * built in), the owner of an assign. */
	const struct policy_decision *decision;
	const struct detach_result *result;
};

typedef void (*automate_notice_fn)(const struct automate_notice *n, void *ctx);

struct automate *automate_new(struct devtable *t, struct claims *c, struct detach_engine *de,
			      automate_notice_fn notice, void *ctx);
void automate_free(struct automate *a);

/* The policy to act on (borrowed; NULL: nothing is acted on). */
void automate_set_policy(struct automate *a, const struct policy *p);

/* Whether dev, found on a stub at start with no record of hostdevd's, is
 * the policy's: a detach or assign rule for the start-up moment that names
 * the stub it is on (the generated udev rules put it there at boot,
 * docs/udev.md).  Then it joins the detached pool, with no original driver
 * known, and true; else false: an orphan.  For restore_config.adopt. */
bool automate_adopt(struct device *dev, void *automate);

/* Acts on every device in the table for the start-up moment, then on
 * every later event (until then events are ignored: the table being filled
 * at start is not hotplug). */
void automate_start(struct automate *a);

/* The device table's events, after the engines have seen them; iface names
 * the USB interface an event concerned (or NULL).  automate_listener is the
 * same as a devtable subscriber (ctx: the automation). */
void automate_device_event(struct automate *a, enum dev_event ev, const struct device *dev,
			   const char *iface);
void automate_listener(enum dev_event ev, const struct device *dev, const char *detail,
		       void *ctx);

/* Actions started and not yet answered. */
size_t automate_pending(const struct automate *a);
