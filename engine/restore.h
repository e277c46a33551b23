/* Start-up after a stop or a crash (docs/state.md "Restart"): once, after
 * the first enumeration and before the socket opens, the state document is
 * reconciled with the device table.  A held claim whose device is present
 * and where the claim has it is claimed again; one whose device is gone is
 * kept (missing); one whose device came back as another device is dropped;
 * a claim never acknowledged is rolled back and a release under way is
 * completed (what its bus has to undo, engine/bus.h); the pool's original
 * drivers are restored; a device on a stub with no record (an orphan) is
 * reported, or reattached when asked, on a first start (no document) too.
 * The VFIO nodes a claim that is not kept had handed to its uid get their
 * original owner back (engine/nodeowner.h).  Every decision is logged. */
#pragma once

#include "engine/detach.h"
#include "engine/persist.h"

struct nodeowner;

#include <stdbool.h>

struct restore_config {
	struct persist *persist;
	struct devtable *devices;
	struct claims *claims;
	struct detach_engine *detach;
	/* Devices found on a stub at start with no record are reattached to a
	 * host driver instead of kept (--orphans). */
	bool reattach_orphans;
	/* Asked first about each device on a stub with no record: true when
	 * it is the policy's (it joined the pool), so not an orphan.  NULL:
	 * none is. */
	bool (*adopt)(struct device *dev, void *ctx);
	void *adopt_ctx;
	/* The VFIO nodes' owner (NULL: nodes are left as they are): a kept
	 * claim keeps its nodes' records; the nodes of claims that are not
	 * kept are given back at once. */
	struct nodeowner *nodes;
};

/* 0, or -errno when the document exists but cannot be read or understood
 * (the daemon then refuses to start rather than forget claims; the log
 * names the file and the problem).  The reconciled state is saved. */
int restore_state(const struct restore_config *cfg);
