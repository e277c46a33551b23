/* Claim and Release on top of the detach engine (SPEC "The claim protocol").
 *
 * A claim is checked and its devices reserved in the claim table at once,
 * on the loop, before any write: two claims racing for a device cannot both
 * pass.  Then each device not already on a stub is detached, one after the
 * other in request order (managed claims; for an unmanaged one, already on
 * its stub, the engine writes nothing).  Any failure reattaches, in reverse, every device this request
 * detached and drops the reservations: all or nothing.  Success moves every
 * device to `claimed`.
 *
 * What taking a device and giving it back mean is its bus's (engine/bus.h):
 * a PCI function is detached to its stub; a USB device is only recorded
 * unless the request asks to unbind its interface drivers, which are then
 * kept in the entry and bound again at release.  The entry's `managed`
 * says whether hostdevd changed any binding.
 *
 * Every device not on a stub is checked against the host-critical rules
 * (policy/hostcrit.h, through the detach engine) before its IOMMU group:
 * a disk's controller, a NIC in use, a USB stick with a mounted filesystem,
 * a hub, a bridge are refused with HostCritical and the reason.
 *
 * An owner name ({driver, domain}) belongs to the uid whose claims hold it:
 * a Claim for it by another uid is refused (PermissionDenied) before any
 * device is looked at, admin included — a claim records its caller's uid,
 * and an owner whose claims had two could not be released by either.
 *
 * A release checks every device first (all the owner's, or those named),
 * then hands them back one by one: managed ones are reattached through the
 * engine (releasing -> host), unmanaged ones return to the detached pool.
 * Lives on the event loop. */
#pragma once

#include "engine/detach.h"
#include "policy/policy.h"
#include "state/claims.h"

#include <stdbool.h>
#include <stddef.h>

struct claim_engine;

/* What a Claim or Release came to.  Everything is valid during the callback
 * only. */
struct claim_result {
	/* HDE_OK, or why not: DeviceInUse (the holder), GroupNotViable (group,
	 * members), DeviceBusy, InvalidDeviceState, NotClaimed,
	 * PermissionDenied (Release: another uid's claim; Claim: an owner name
	 * another uid's claims hold), HostCritical,
	 * StateUnavailable, PolicyRefused, or the failed operation's error. */
	struct hd_err err;
	/* OK: the devices claimed (with their entries) or released, in order. */
	char **devices;
	size_t n_devices;
};

typedef void (*claim_done_fn)(const struct claim_result *r, void *ctx);

/* Who asks to act as an owner, beyond its credentials: acting on a claim
 * is proven by the claim's uid or by admin, never by knowing the owner's
 * name (SPEC "Claims").  may_list: the caller may read ListClaims, so an
 * error may name the uid holding a claim (ListClaims shows it); otherwise
 * it says "another user". */
struct claim_actor {
	bool admin;
	bool may_list;
};

struct claim_request {
	struct claim_owner owner;
	struct claim_cred cred;
	struct claim_actor actor;
	char **devices; /* canonical ids, no duplicates */
	size_t n_devices;
	bool managed;
	/* Per device, parallel to `devices` (libvirt mixes managed and
	 * unmanaged hostdevs in one domain, all or nothing); NULL: `managed`
	 * for every one. */
	const bool *managed_each;
	const char *stub; /* managed: the driver to detach to; NULL: the engine picks */
	/* The request named `stub`: the device must end on it.  One already on
	 * another stub is refused (InvalidDeviceState), as Detach refuses it:
	 * moving between stubs is a Reattach and a Claim. */
	bool stub_named;
	bool unbind_interfaces; /* USB: unbind interface drivers until release */
	/* The lease (pid 0: none): the claim ends with that process (or, keep,
	 * is reported).  The engine reads its start time; a pid that names no
	 * live process is InvalidParameter lease.pid.  lease_named: the request
	 * named the pid (not the peer's own), which must then run under the
	 * caller's uid unless the caller has admin (PermissionDenied). */
	struct claim_lease lease;
	bool lease_named;
};

struct release_request {
	struct claim_owner owner;
	struct claim_cred cred;
	struct claim_actor actor; /* admin: may release claims another uid made */
	char **devices; /* canonical ids; NULL: every claim of the owner */
	size_t n_devices;
};

/* State changes go through the table (devtable_set_state), whose
 * subscribers hear of them. */
struct claim_engine *claim_engine_new(struct devtable *t, struct claims *c,
				      struct detach_engine *detach);
/* Shutdown: stop() before the detach engine is freed (which answers the
 * operations in flight: a claim then fails without starting a rollback the
 * freed engine could not run), free() after. */
void claim_engine_stop(struct claim_engine *ce);

/* The policy claims obey (borrowed; NULL: allow everything): a device whose
 * deciding rule says refuse or ignore, or assign to another owner, is
 * refused with PolicyRefused naming the rule; a rule that lifts the
 * host-critical refusal for one address lets that device through. */
void claim_engine_set_policy(struct claim_engine *ce, const struct policy *p);

/* Durability (engine/persist.h): `save` asks for the claim table as it is
 * then to be written, and calls `done` (when not NULL) with 0 or -errno and
 * a sentence once it is — later, on the loop: saves are shared by the
 * operations of one turn of the loop.  The engine saves after reserving a
 * claim's devices and before any write (a claim that cannot be saved is
 * refused with StateUnavailable and nothing moves), before it acknowledges a
 * claim (if that save fails, the claim is rolled back and refused) or
 * starts a release, and after either ends.  NULL: no store. */
typedef void (*claim_saved_fn)(int r, const char *err, void *arg);
void claim_engine_set_save(struct claim_engine *ce,
			   void (*save)(void *ctx, claim_saved_fn done, void *arg), void *ctx);

/* Feed of the device table's events (after the detach engine's).  A
 * claimed device that was unplugged keeps its claim; when it is added (or
 * bound) again with the same vendor and product (USB: and serial) it is put
 * back where the claim had it — a managed PCI function is detached to its
 * stub again, a record-only USB claim is simply claimed again.  With other
 * ids it is another device: the claim is dropped and it stays with the
 * host. */
void claim_engine_device_event(struct claim_engine *ce, enum dev_event ev, struct device *dev);
/* The same as a devtable subscriber (ctx: the engine). */
void claim_engine_listener(enum dev_event ev, const struct device *dev, const char *detail,
			   void *ctx);
void claim_engine_free(struct claim_engine *ce);

/* The VFIO nodes' owner (engine/nodeowner.h, borrowed; NULL: nodes are
 * never handed over).  A claim by a uid other than 0 gets its devices'
 * VFIO nodes once they are on their stubs and before it is acknowledged
 * (their owners then saved first); a failed claim, a release (each device
 * before it is given back), a lease's end and a claim dropped give them
 * back.  Never a reason to fail: the entries' node_owner says how it went. */
struct nodeowner;
void claim_engine_set_nodeowner(struct claim_engine *ce, struct nodeowner *no);

/* Leases (engine/lease.h, borrowed; NULL: a claim asking for one is
 * refused).  The watch is made when a claim is held; when its process ends
 * (claim_engine_lease_ended, the leases' callback with the engine as ctx)
 * each held claim tied to it is released as its owner's Release would, by
 * owner, or (keep) marked lease_ended, logged and saved. */
struct leases;
void claim_engine_set_leases(struct claim_engine *ce, struct leases *l);
void claim_engine_lease_ended(pid_t pid, uint64_t start, void *ctx);
/* At start, after the state is restored: watches every held claim's
 * lease, and acts at once on those whose process ended meanwhile (gone, or
 * its pid now another process's). */
void claim_engine_watch_leases(struct claim_engine *ce);

/* `done` runs exactly once, on the loop, possibly before these return. */
void claim_start(struct claim_engine *ce, const struct claim_request *req, claim_done_fn done,
		 void *ctx);
void release_start(struct claim_engine *ce, const struct release_request *req,
		   claim_done_fn done, void *ctx);

/* Whether a claim keeps Detach, Reattach or Reset away from `device`, which
 * must not touch a claimed device: false when none does; true with *err
 * filled, DeviceBusy while a Claim or Release owns its entry, DeviceInUse
 * (naming the holder) once held.  *entry: the claim, if there is one. */
bool claim_blocks(const struct claim_engine *ce, const char *device,
		  const struct claim_entry **entry, struct hd_err *err);

/* Whether the caller (uid, actor) may act as the owner of the claim e
 * (Release, Reset): it made the claim, or it has admin.  False with *err
 * filled: PermissionDenied for `method`, permission admin. */
bool claim_may_act(const struct claim_entry *e, uid_t uid, const struct claim_actor *actor,
		   const char *method, struct hd_err *err);
