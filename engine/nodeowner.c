#include "engine/nodeowner.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

/* A give-back in flight: what the node's owner will be once the worker
 * has made it, for a hand-over planned meanwhile (the worker makes them in
 * order), which must not take the owner read now for the original. */
struct returning {
	char name[VFIONODE_NAME_MAX];
	uid_t uid;
	gid_t gid;
	unsigned jobs;
};

struct nodeowner {
	struct vfionodes *nodes;
	struct claims *claims;
	struct returning *ret;
	size_t n_ret;
	bool hand_over_off; /* --node-owner off: give back only */
};

/* One entry of a hand-over. */
struct plan_entry {
	char *device;
	bool considered; /* the device has VFIO nodes */
	char *failure;   /* the first node that could not be handed over, why */
};

struct node_plan {
	struct nodeowner *no;
	uid_t uid;
	struct plan_entry *ents;
	size_t n_ents;
	struct vfionode_change *changes;
	char **change_dev; /* the device each change is for, for the log */
	size_t n_changes;
	void (*then)(void *arg);
	void *arg;
};

struct nodeowner *nodeowner_new(struct event_base *base, const char *dev_root,
				struct claims *claims)
{
	struct nodeowner *no = xcalloc(1, sizeof(*no));

	no->nodes = vfionodes_new(base, dev_root);
	no->claims = claims;
	return no;
}

void nodeowner_set_hand_over(struct nodeowner *no, bool on)
{
	no->hand_over_off = !on;
}

void nodeowner_stop(struct nodeowner *no)
{
	if (no)
		vfionodes_stop(no->nodes);
}

void nodeowner_free(struct nodeowner *no)
{
	if (!no)
		return;
	/* Its answers still use the returning list. */
	vfionodes_free(no->nodes);
	free(no->ret);
	free(no);
}

const char *nodeowner_dev_root(const struct nodeowner *no)
{
	return vfionodes_dev_root(no->nodes);
}

struct vfionodes *nodeowner_nodes(struct nodeowner *no)
{
	return no->nodes;
}

/* ---- give-backs in flight ----------------------------------------------- */

static struct returning *returning_find(const struct nodeowner *no, const char *name)
{
	for (size_t i = 0; i < no->n_ret; i++)
		if (streq(no->ret[i].name, name))
			return &no->ret[i];
	return NULL;
}

static void returning_add(struct nodeowner *no, const struct vfionode_change *c)
{
	struct returning *r = returning_find(no, c->name);

	if (!r) {
		no->ret = xrealloc(no->ret, (no->n_ret + 1) * sizeof(*no->ret));
		r = &no->ret[no->n_ret++];
		*r = (struct returning){ .jobs = 0 };
		snprintf(r->name, sizeof(r->name), "%s", c->name);
	}
	r->uid = c->uid;
	r->gid = c->gid;
	r->jobs++;
}

static void returning_drop(struct nodeowner *no, const char *name)
{
	struct returning *r = returning_find(no, name);

	if (r && --r->jobs == 0)
		*r = no->ret[--no->n_ret];
}

/* ---- the log ------------------------------------------------------------ */

static enum log_level outcome_level(enum vfionode_outcome o)
{
	switch (o) {
	case VFIONODE_CHANGED:
	case VFIONODE_MOVED:
		return LOG_LVL_INFO;
	case VFIONODE_ALREADY:
	case VFIONODE_MISSING:
		return LOG_LVL_DEBUG;
	default:
		return LOG_LVL_WARN;
	}
}

/* ---- hand-over ---------------------------------------------------------- */

static void add_change(struct node_plan *p, const struct plan_entry *pe, const char *name,
		       uid_t expect, dev_t rdev)
{
	struct vfionode_change *c;

	p->changes = xrealloc(p->changes, (p->n_changes + 1) * sizeof(*p->changes));
	p->change_dev = xrealloc(p->change_dev, (p->n_changes + 1) * sizeof(*p->change_dev));
	c = &p->changes[p->n_changes];
	*c = (struct vfionode_change){ .expect_uid = expect, .uid = p->uid, .gid = (gid_t)-1,
				       .rdev = rdev };
	snprintf(c->name, sizeof(c->name), "%s", name);
	p->change_dev[p->n_changes++] = pe->device;
}

static void note_failure(struct plan_entry *pe, const char *why)
{
	if (!pe->failure)
		pe->failure = xasprintf("failed: %s", why);
}

static void record(struct claim_entry *e, const char *name, uid_t uid, uid_t orig_uid,
		   gid_t orig_gid)
{
	claim_node_add(e, &(struct claim_node){ .name = (char *)name, .uid = uid,
						.orig_uid = orig_uid, .orig_gid = orig_gid });
}

/* A group's node another entry records: recorded again with its original
 * owner if it went to this uid, else it stays with the first. */
static void plan_held(struct nodeowner *no, struct node_plan *p, struct plan_entry *pe,
		      struct claim_entry *e, const struct claim_entry *holder, const char *name)
{
	const struct claim_node *rec = claim_node_find(holder, name);
	char why[256];

	if (rec->uid == p->uid) {
		record(e, name, p->uid, rec->orig_uid, rec->orig_gid);
		log_dev_debug(pe->device, "%s/%s: uid %u's already, with the claim of %s",
			      nodeowner_dev_root(no), name, (unsigned)p->uid, holder->device);
		return;
	}
	snprintf(why, sizeof(why), "%s/%s is uid %u's, with the claim of %s: a group's node has one "
				   "owner, the first",
		 nodeowner_dev_root(no), name, (unsigned)rec->uid, holder->device);
	log_dev_warn(pe->device, "VFIO node not given to uid %u: %s", (unsigned)p->uid, why);
	note_failure(pe, why);
}

static void plan_node(struct nodeowner *no, struct node_plan *p, struct plan_entry *pe,
		      struct claim_entry *e, const char *name)
{
	const struct claim_entry *holder = claims_node_holder(no->claims, name, e, NULL, NULL);
	const struct returning *r;
	struct vfionode_stat st;
	char why[160];

	if (holder) {
		plan_held(no, p, pe, e, holder, name);
		return;
	}
	if ((r = returning_find(no, name))) {
		record(e, name, p->uid, r->uid, r->gid);
		add_change(p, pe, name, r->uid, 0);
		return;
	}
	switch (vfionode_stat(nodeowner_dev_root(no), name, &st, why, sizeof(why))) {
	case VFIONODE_ALREADY:
		record(e, name, p->uid, st.uid, st.gid);
		add_change(p, pe, name, st.uid, st.rdev);
		return;
	case VFIONODE_MISSING:
		log_dev_debug(pe->device, "%s: not there (yet), not given to uid %u", why,
			      (unsigned)p->uid);
		return;
	default:
		log_dev_warn(pe->device, "VFIO node not given to uid %u: %s", (unsigned)p->uid, why);
		note_failure(pe, why);
		return;
	}
}

/* Each entry's node_owner: its first failure, "set" once it records a
 * node, "none" when its nodes were not there. */
static void settle(struct nodeowner *no, struct node_plan *p)
{
	for (size_t i = 0; i < p->n_ents; i++) {
		struct plan_entry *pe = &p->ents[i];
		struct claim_entry *e = claims_find(no->claims, pe->device);

		if (!e || !pe->considered)
			continue;
		free(e->node_owner);
		e->node_owner = pe->failure ? xstrdup(pe->failure)
				: e->n_nodes ? xstrdup("set")
					     : xstrdup("none");
	}
}

void nodeowner_plan_free(struct node_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_ents; i++) {
		free(p->ents[i].device);
		free(p->ents[i].failure);
	}
	free(p->ents);
	free(p->changes);
	free(p->change_dev);
	free(p);
}

struct node_plan *nodeowner_plan(struct nodeowner *no, const struct devtable *t, uid_t uid,
				 char *const *ids, const bool *skip, size_t n)
{
	struct node_plan *p;

	if (!no || uid == 0 || no->hand_over_off)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->no = no;
	p->uid = uid;
	p->ents = xcalloc(n + 1, sizeof(*p->ents));
	for (size_t i = 0; i < n; i++) {
		char names[2][VFIONODE_NAME_MAX];
		const struct device *dev = devtable_get(t, ids[i]);
		struct claim_entry *e = claims_find(no->claims, ids[i]);
		struct plan_entry *pe;
		size_t k;

		if (skip[i] || !dev || !e)
			continue;
		pe = &p->ents[p->n_ents++];
		pe->device = xstrdup(ids[i]);
		k = vfionode_names(dev, names);
		pe->considered = k > 0;
		for (size_t j = 0; j < k; j++)
			plan_node(no, p, pe, e, names[j]);
	}
	if (p->n_changes)
		return p;
	settle(no, p);
	nodeowner_plan_free(p);
	return NULL;
}

/* A node that was not handed over: no entry of the plan records it. */
static void plan_forget(struct nodeowner *no, struct node_plan *p, const char *name,
			const char *failure)
{
	for (size_t i = 0; i < p->n_ents; i++) {
		struct claim_entry *e = claims_find(no->claims, p->ents[i].device);

		if (!e || !claim_node_find(e, name))
			continue;
		claim_node_remove(e, name);
		if (failure)
			note_failure(&p->ents[i], failure);
	}
}

static void on_handed_over(const struct vfionode_change *v, size_t count, void *arg)
{
	struct node_plan *p = arg;

	for (size_t i = 0; i < count; i++) {
		const struct vfionode_change *c = &v[i];
		enum vfionode_outcome o = c->outcome;
		bool given = o == VFIONODE_CHANGED || o == VFIONODE_ALREADY;

		log_at(outcome_level(o), p->change_dev[i], "VFIO node %s uid %u: %s",
		       given ? "given to" : "not given to", (unsigned)p->uid, c->why);
		if (!given)
			plan_forget(p->no, p, c->name, o == VFIONODE_MISSING ? NULL : c->why);
	}
	settle(p->no, p);
	p->then(p->arg);
	nodeowner_plan_free(p);
}

void nodeowner_hand_over(struct nodeowner *no, struct node_plan *p, void (*then)(void *arg),
			 void *arg)
{
	p->then = then;
	p->arg = arg;
	vfionodes_apply(no->nodes, p->changes, p->n_changes, on_handed_over, p);
}

/* ---- give-back ---------------------------------------------------------- */

struct give_back {
	struct nodeowner *no;
	struct vfionode_change *changes;
	char **devs; /* the device each change is for, for the log */
	size_t n;
	void (*then)(void *arg);
	void *arg;
};

static void give_back_free(struct give_back *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->devs[i]);
	free(g->devs);
	free(g->changes);
	free(g);
}

/* Adds the change giving `rec` back, once per node. */
static void give_back_add(struct give_back *g, const char *device, const struct claim_node *rec)
{
	struct vfionode_change *c;

	for (size_t i = 0; i < g->n; i++)
		if (streq(g->changes[i].name, rec->name))
			return;
	g->changes = xrealloc(g->changes, (g->n + 1) * sizeof(*g->changes));
	g->devs = xrealloc(g->devs, (g->n + 1) * sizeof(*g->devs));
	c = &g->changes[g->n];
	*c = (struct vfionode_change){ .expect_uid = rec->uid, .uid = rec->orig_uid,
				       .gid = rec->orig_gid };
	snprintf(c->name, sizeof(c->name), "%s", rec->name);
	g->devs[g->n++] = xstrdup(device);
}

static void log_given_back(const struct vfionode_change *c, const char *device)
{
	log_at(outcome_level(c->outcome), device, "VFIO node %s: %s",
	       c->outcome == VFIONODE_CHANGED || c->outcome == VFIONODE_ALREADY
		       ? "given back"
		       : "not given back",
	       c->why);
}

static void on_given_back(const struct vfionode_change *v, size_t count, void *arg)
{
	struct give_back *g = arg;

	for (size_t i = 0; i < count; i++) {
		log_given_back(&v[i], g->devs[i]);
		returning_drop(g->no, v[i].name);
	}
	if (g->then)
		g->then(g->arg);
	give_back_free(g);
}

void nodeowner_give_back(struct nodeowner *no, nodeowner_pick_fn pick, void *pick_ctx,
			 void (*then)(void *arg), void *arg)
{
	struct give_back *g = xcalloc(1, sizeof(*g));

	g->no = no;
	g->then = then;
	g->arg = arg;
	for (size_t i = 0; no && i < claims_count(no->claims); i++) {
		struct claim_entry *e = claims_at(no->claims, i);

		if (!pick(e, pick_ctx))
			continue;
		for (size_t j = 0; j < e->n_nodes; j++) {
			const struct claim_node *rec = &e->nodes[j];
			const struct claim_entry *holder =
				claims_node_holder(no->claims, rec->name, NULL, pick, pick_ctx);

			if (holder)
				log_dev_debug(e->device, "%s/%s stays with uid %u: the claim of %s "
							 "holds it still",
					      nodeowner_dev_root(no), rec->name, (unsigned)rec->uid,
					      holder->device);
			else
				give_back_add(g, e->device, rec);
		}
		claim_nodes_clear(e);
	}
	if (!g->n) {
		if (then)
			then(arg);
		give_back_free(g);
		return;
	}
	for (size_t i = 0; i < g->n; i++)
		returning_add(no, &g->changes[i]);
	vfionodes_apply(no->nodes, g->changes, g->n, on_given_back, g);
}

void nodeowner_give_back_now(struct nodeowner *no, const struct claim_node *recs, size_t n)
{
	struct give_back *g = xcalloc(1, sizeof(*g));

	for (size_t i = 0; no && i < n; i++) {
		if (!vfionode_name_valid(recs[i].name)) {
			log_warn("restart: a VFIO node named \"%s\" in the state file is not one hostdevd "
				 "hands over: left alone",
				 recs[i].name ? recs[i].name : "");
			continue;
		}
		if (claims_node_holder(no->claims, recs[i].name, NULL, NULL, NULL))
			continue;
		give_back_add(g, "restart", &recs[i]);
	}
	if (g->n)
		vfionodes_apply_now(no->nodes, g->changes, g->n);
	for (size_t i = 0; i < g->n; i++)
		log_given_back(&g->changes[i], g->devs[i]);
	give_back_free(g);
}
