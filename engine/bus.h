/* What the engine does with a bus's devices beyond the operations
 * themselves: how a claim takes one and gives it back, how a claimed
 * device that returns is put back, what a crash left to undo, how the
 * policy acts on one.  One table per bus, in the bus's operations file
 * (engine/pci.c, engine/usb.c), listed in engine/bus.c; what a bus *is*
 * (records, ids, JSON) is state/bus.h.  The claim engine, the restart and
 * the automation ask the table and never branch on the bus. */
#pragma once

#include "engine/detach.h"
#include "policy/policy.h"
#include "state/claims.h"

struct claim_request;

enum bus_take {
	BUS_TAKE_NOTHING = 0, /* nothing to move: the device is taken as it is */
	BUS_TAKE_STARTED,     /* an operation moves it; its done callback answers */
	BUS_TAKE_BAD_STATE,   /* it is no longer in a state the claim can take */
};

struct bus_engine {
	/* ---- claims (engine/claim.h) ---- */
	/* The state dev must be in for a claim (managed or not) to take it. */
	bool (*claimable)(const struct device *dev, bool managed);
	/* The bus's part of a reserved entry, and whether the claim is
	 * managed (hostdevd moves a binding) on this bus. */
	void (*reserve)(struct claim_entry *e, const struct device *dev,
			const struct claim_request *req);
	/* Whether taking it, or giving it back, writes to sysfs: the claim's
	 * intent is saved first. */
	bool (*take_writes)(const struct claim_entry *e, const struct device *dev, bool managed);
	bool (*give_back_writes)(const struct claim_entry *e);
	/* Moves dev for the claim; `done` gets the operation's result (its
	 * outcome "already" when the engine found nothing to write). */
	enum bus_take (*take)(struct detach_engine *de, const struct device *dev,
			      const struct claim_entry *e, bool managed, detach_done_fn done,
			      void *ctx);
	/* Undoes a take that moved something (a claim's rollback). */
	void (*untake)(struct detach_engine *de, const struct device *dev,
		       const struct claim_entry *e, detach_done_fn done, void *ctx);
	/* At release: moves dev's state and starts the operation that gives
	 * it back (true; `done` answers) or has nothing to write (false). */
	bool (*give_back)(struct detach_engine *de, struct devtable *t, struct device *dev,
			  const struct claim_entry *e, detach_done_fn done, void *ctx);
	/* Whether a held claim's device is where the claim has it (on its
	 * stub); a managed one that is not has drifted. */
	bool (*in_place)(const struct claim_entry *e, const struct device *dev);
	/* A held claim's device came back with the same ids: the reason to
	 * make it claimed as it is, or NULL, with *move saying whether
	 * put_back must move it first (else it stays as it is, logged). */
	const char *(*returned)(const struct claim_entry *e, const struct device *dev, bool *move);
	void (*put_back)(struct detach_engine *de, const struct device *dev,
			 const struct claim_entry *e, detach_done_fn done, void *ctx);

	/* ---- restart (engine/restore.h) ---- */
	/* A claim never acknowledged, or a release under way, when hostdevd
	 * stopped: dev goes back to `original` if hostdevd had moved it.
	 * False when the bus has nothing to undo. */
	bool (*undo)(struct detach_engine *de, struct device *dev, const char *stub,
		     const char *original, const char *why, detach_done_fn done, void *ctx);

	/* ---- Repair (engine/detach.h repair_start) ---- */
	/* Puts dev, found in a state a repair starts from (error, host or
	 * detached) with nothing running on it, where it belongs; `done`
	 * answers as Repair. */
	void (*repair)(struct detach_engine *de, struct device *dev, detach_done_fn done,
		       void *ctx);

	/* ---- the policy acting on its own (engine/automate.h) ---- */
	/* Whether decision d asks an operation of dev now, and starting it. */
	bool (*policy_wants)(const struct device *dev, const struct policy_decision *d);
	void (*policy_act)(struct detach_engine *de, const struct device *dev,
			   const struct policy_decision *d, detach_done_fn done, void *ctx);
};

const struct bus_engine *bus_engine_of(const struct device *dev);
