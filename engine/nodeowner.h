/* The claim's uid owns its devices' VFIO nodes (SPEC "Unprivileged
 * hypervisors"; docs/claims.md "The VFIO node's owner"), as libvirt's DAC
 * security driver gives them to an unprivileged QEMU.  The claim engine's
 * side of engine/vfionode.h: which nodes a claim hands over, the records
 * kept in its entries (struct claim_node, saved with the claim), and giving
 * them back.
 *
 * Hand-over, for a claim made by a uid other than 0, once its devices are
 * on their stubs: every node of each PCI function on vfio-pci (or a
 * variant) is read on the loop and recorded in the entry with its owner
 * then (nodeowner_plan); the claim engine saves that (the intent), then the
 * owners change in the worker (nodeowner_hand_over), and only the owner:
 * the mode and group stay as udev made them.  A group's node already given
 * to this uid for another function of the group is recorded again with the
 * first record's original owner and not changed; one recorded for another
 * uid (which the group rules make impossible: every claimed member of a
 * group has one owner, and an owner name one uid) is left with that uid,
 * the first, and the conflict logged.  A node that is not there is logged at
 * debug and skipped; any other failure is a warning and the entry's
 * node_owner, never a failed claim.
 *
 * Give-back (nodeowner_give_back): the nodes recorded by the entries picked
 * (a release, one device at a time; a failed claim; a claim dropped) get
 * their original owner and group again, a group's node only when no other
 * entry records it, and only if it is still the character device owned by
 * the uid it was given to: one that udev made again, or someone else
 * changed, is left alone.
 *
 * Lives on the event loop. */
#pragma once

#include "engine/vfionode.h"
#include "state/claims.h"
#include "state/devtable.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct nodeowner;
struct node_plan;

struct nodeowner *nodeowner_new(struct event_base *base, const char *dev_root,
				struct claims *claims);
/* Off (--node-owner off): no claim hands nodes over; what earlier runs
 * handed over and the state file records is still given back. */
void nodeowner_set_hand_over(struct nodeowner *no, bool on);
/* Shutdown, in two steps: stop() makes the changes asked for and not yet
 * made, and answers them (vfionodes_stop), so claims and releases waiting
 * for them go on while the operation engine can still take what they ask
 * next; changes asked after that are made at once, until free(). */
void nodeowner_stop(struct nodeowner *no);
void nodeowner_free(struct nodeowner *no);
const char *nodeowner_dev_root(const struct nodeowner *no);
/* The nodes module it changes owners through (tests set its job hook). */
struct vfionodes *nodeowner_nodes(struct nodeowner *no);

/* Which entries a give-back acts on. */
typedef bool (*nodeowner_pick_fn)(const struct claim_entry *e, void *ctx);

/* Records the nodes of the devices ids[i] (skip[i] false, their entries
 * reserved in the table) for `uid` and plans their change.  NULL when
 * nothing is to change: the entries' node_owner is set already.  Nothing
 * for uid 0. */
struct node_plan *nodeowner_plan(struct nodeowner *no, const struct devtable *t, uid_t uid,
				 char *const *ids, const bool *skip, size_t n);
/* Makes the plan's changes in the worker, then settles the records and
 * node_owner of its entries and calls then(arg) on the loop.  Frees p. */
void nodeowner_hand_over(struct nodeowner *no, struct node_plan *p, void (*then)(void *arg),
			 void *arg);
/* A plan not carried out (its claim failed first): its records stay in the
 * entries, for the give-back. */
void nodeowner_plan_free(struct node_plan *p);

/* Gives back what the picked entries record and forgets their records;
 * then(arg) (may be NULL: nobody waits) runs on the loop once done, at
 * once when there is nothing to change. */
void nodeowner_give_back(struct nodeowner *no, nodeowner_pick_fn pick, void *pick_ctx,
			 void (*then)(void *arg), void *arg);

/* At start, before anyone is served: gives back now what the state file's
 * claims that are gone recorded (`recs`, names checked), unless a claim
 * kept in the table records the node. */
void nodeowner_give_back_now(struct nodeowner *no, const struct claim_node *recs, size_t n);
