/* The claim table: which owner (a hypervisor driver and domain) holds which
 * device (SPEC "Claims: the in-use table").
 *
 * One entry per device, keyed by canonical id.  An entry is `reserved` from
 * the moment a Claim is accepted until its detaches finish, `held` once the
 * claim is complete, and `releasing` while a Release hands it back: only
 * `held` entries are settled, the others belong to an operation in flight.
 * Entries outlive the device record (a device unplugged while claimed stays
 * claimed).  Lives on the event loop; not thread-safe. */
#pragma once

#include "state/devtable.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct claims;

/* Who holds a claim.  uuid may be NULL. */
struct claim_owner {
	const char *driver; /* "qemu", "libxl" */
	const char *domain; /* "vm1" */
	const char *uuid;
};

/* The process that asked, from SO_PEERCRED. */
struct claim_cred {
	uid_t uid;
	gid_t gid;
	pid_t pid;
};

/* A lease (SPEC "Claims"): the claim lasts as long as a process.  The
 * process is named by its pid and its start time (field 22 of
 * /proc/PID/stat, clock ticks since boot), so that a pid reused by another
 * process is not taken for it.  pid 0: no lease. */
struct claim_lease {
	pid_t pid;
	uint64_t start;
	bool keep; /* on_exit "keep": the claim outlives it, reported */
};

enum claim_phase {
	CLAIM_RESERVED = 0,
	CLAIM_HELD,
	CLAIM_RELEASING,
	CLAIM_PHASE__COUNT
};

const char *claim_phase_name(enum claim_phase phase);
int claim_phase_from_name(const char *name);

/* A VFIO node handed to the claim's uid for the life of the claim (SPEC
 * "Unprivileged hypervisors", docs/claims.md "The VFIO node's owner"):
 * its name under the dev root ("vfio/8", "vfio/devices/vfio3"), the owner
 * and group it had before, which the release gives back, and the uid it
 * was given to.  Recorded (and saved) before the change is made, so a
 * crash at any point can give it back.  A group's node is recorded by
 * every claimed function of the group, all with the first one's original
 * owner; it is given back with the last of them (engine/nodeowner.h). */
struct claim_node {
	char *name;
	uid_t uid; /* given to: the claim's uid */
	uid_t orig_uid;
	gid_t orig_gid;
};

/* Plain data owned by the table. */
struct claim_entry {
	char *device;
	char *driver, *domain, *uuid;
	bool managed;
	enum claim_phase phase; /* claim_set_phase() moves it */
	struct claim_cred cred;
	int64_t since; /* Unix seconds; set when the claim is held */
	/* Who the device was when claimed: one that returns after an unplug
	 * with other ids (or USB serial) is another device and inherits
	 * nothing.  Set by the claim engine. */
	uint32_t vendor, product;
	char *serial;
	char *stub;       /* managed PCI: the stub it was detached to */
	/* The device was in hostdevd's detached pool (on a stub, pooled) when
	 * claimed: a release, managed or not, returns it there instead of to
	 * its host driver, so an administrator's Detach outlives the claim
	 * (libvirt's inactive list).  Set by the claim engine. */
	bool from_pool;
	bool reconciling; /* a returned device is being put back on the stub */
	unsigned reconcile_tries;
	/* USB claims that unbound interface drivers: what to bind again at
	 * release (set by the claim engine, freed with the entry). */
	struct iface_binding *unbound;
	size_t n_unbound;
	struct claim_lease lease; /* set by the claim engine; pid 0: none */
	bool lease_ended;         /* keep: the process ended, the claim stays */
	/* The VFIO nodes the claim's uid owns (claim_nodes_*), and what
	 * became of handing them over, as ClaimEntry.node_owner says it:
	 * "set", "none" (no node existed then), "failed: ...".  NULL: nothing
	 * to hand over (uid 0, not on vfio-pci). */
	struct claim_node *nodes;
	size_t n_nodes;
	char *node_owner;
};

struct claims *claims_new(void);
void claims_free(struct claims *c);

size_t claims_count(const struct claims *c);
/* Entries sorted by device id; valid until the table changes. */
struct claim_entry *claims_at(const struct claims *c, size_t i);
struct claim_entry *claims_find(const struct claims *c, const char *device);

/* Adds a reserved entry; the device must not have one (aborts otherwise). */
struct claim_entry *claims_reserve(struct claims *c, const char *device,
				   const struct claim_owner *owner, bool managed,
				   const struct claim_cred *cred);
bool claims_remove(struct claims *c, const char *device);

/* The entry's record of node `name`, or NULL. */
struct claim_node *claim_node_find(const struct claim_entry *e, const char *name);
/* Records a node (a copy of `n`'s strings); one already recorded is
 * replaced. */
struct claim_node *claim_node_add(struct claim_entry *e, const struct claim_node *n);
/* Forgets the entry's record of node `name`, or every record. */
void claim_node_remove(struct claim_entry *e, const char *name);
void claim_nodes_clear(struct claim_entry *e);
/* Another entry than those `skip` says (NULL: only `except`) that records
 * node `name`, or NULL: whether a group's node is still held by someone. */
const struct claim_entry *claims_node_holder(const struct claims *c, const char *name,
					     const struct claim_entry *except,
					     bool (*skip)(const struct claim_entry *e, void *ctx),
					     void *ctx);

/* The one way an entry changes phase: the transition is validated (a
 * wrong one is a broken invariant: fatal) and logged old -> new. */
void claim_set_phase(struct claim_entry *e, enum claim_phase to, const char *why);

bool claim_owned_by(const struct claim_entry *e, const struct claim_owner *owner);

/* What an owner's strings may be: they are stored, written to state.json,
 * served to every client that may list and logged, so they are checked
 * where they come in (a request, the state file).  driver: 1 to
 * CLAIM_DRIVER_MAX bytes of [A-Za-z0-9._-]; domain: 1 to CLAIM_DOMAIN_MAX
 * bytes of well-formed UTF-8 without control characters (C0, DEL, C1,
 * U+2028, U+2029); uuid: absent or 8-4-4-4-12 hex digits. */
#define CLAIM_DRIVER_MAX 63
#define CLAIM_DOMAIN_MAX 255
/* NULL when owner is one; else the field at fault: "driver", "domain" or
 * "uuid". */
const char *claim_owner_invalid(const struct claim_owner *owner);

/* An owner name ({driver, domain}, whatever the uuid) belongs to the uid
 * whose claims hold it: an entry, in any phase, for that name made under
 * another uid than `uid`, or NULL. */
const struct claim_entry *claims_owner_other_uid(const struct claims *c,
						 const struct claim_owner *owner, uid_t uid);

/* The log's and the error's wording: "0000:03:00.0 is in use by driver
 * qemu, domain vm1".  Writes at most `size` bytes to buf; returns buf. */
const char *claim_in_use_message(const struct claim_entry *e, char *buf, size_t size);

enum claim_group_verdict {
	CLAIM_GROUP_VIABLE = 0,
	CLAIM_GROUP_IN_USE,     /* *holder: another owner's entry on a member */
	CLAIM_GROUP_NOT_VIABLE, /* *members: those on a host driver */
};

/* Whether `dev` can be given to `owner` as far as its IOMMU group goes:
 * every other member must be on a stub, unbound, a bridge, held by the
 * same owner, or among `request` (the `n` ids claimed together).  On
 * NOT_VIABLE *members is a NULL-terminated, sorted vector of ids (free with
 * claims_members_free()); otherwise NULL. */
enum claim_group_verdict claims_check_group(const struct claims *c, const struct devtable *t,
					    const struct device *dev,
					    const struct claim_owner *owner,
					    char *const *request, size_t n,
					    const struct claim_entry **holder, char ***members);
void claims_members_free(char **members);
