#include "engine/persist.h"
#include "common/jsonbuf.h"
#include "common/log.h"
#include "common/util.h"
#include "state/snapshot.h"
#include "state/store.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

struct waiter {
	persist_done_fn done;
	void *arg;
};

struct persist {
	struct devtable *devices;
	struct claims *claims;
	struct store *store;
	struct event *ev;       /* runs the requested saves */
	struct waiter *waiters; /* requests since the last save */
	size_t n_waiters;
	bool scheduled;
	/* The pool's candidates (detached, with an original driver), found by
	 * a walk of the whole table only after a device changed: a save is on
	 * every claim's path, and at 10,000 devices the walk costs more than
	 * the write. */
	char **pool_ids;
	size_t n_pool;
	bool pool_stale;
};

/* One save for every request so far; requests made by the callbacks go to
 * the next one. */
static void run_saves(struct persist *p)
{
	struct waiter *w = p->waiters;
	size_t n = p->n_waiters;
	char err[512] = "";
	int r;

	p->waiters = NULL;
	p->n_waiters = 0;
	p->scheduled = false;
	r = persist_save(p, err, sizeof(err));
	for (size_t i = 0; i < n; i++)
		if (w[i].done)
			w[i].done(r, err, w[i].arg);
	free(w);
}

static void on_save_event(evutil_socket_t fd, short what, void *arg)
{
	run_saves(arg);
}

void persist_request(struct persist *p, persist_done_fn done, void *arg)
{
	p->waiters = xrealloc(p->waiters, (p->n_waiters + 1) * sizeof(*p->waiters));
	p->waiters[p->n_waiters++] = (struct waiter){ done, arg };
	if (!p->scheduled) {
		p->scheduled = true;
		event_active(p->ev, EV_TIMEOUT, 0);
	}
}

void persist_flush(struct persist *p)
{
	while (p->n_waiters > 0) {
		event_del(p->ev);
		run_saves(p);
	}
}

struct persist *persist_new(struct event_base *base, struct devtable *t, struct claims *c,
			    const char *state_dir)
{
	struct persist *p = xcalloc(1, sizeof(*p));

	p->devices = t;
	p->claims = c;
	p->pool_stale = true;
	p->store = store_new(state_dir);
	p->ev = event_new(base, -1, 0, on_save_event, p);
	if (!p->ev)
		fatal("out of memory");
	return p;
}

void persist_free(struct persist *p)
{
	if (!p)
		return;
	persist_flush(p);
	event_free(p->ev);
	for (size_t i = 0; i < p->n_pool; i++)
		free(p->pool_ids[i]);
	free(p->pool_ids);
	store_free(p->store);
	free(p);
}

const char *persist_path(const struct persist *p)
{
	return store_path(p->store);
}

int persist_read(struct persist *p, json_object **body, char *err, size_t size)
{
	return store_read(p->store, body, err, size);
}

/* Devices of the pool that nobody holds: their original driver is what a
 * later Reattach must bring back (none: whichever wants it). */
static bool in_pool(const struct device *dev)
{
	return dev && dev->state == DEV_DETACHED && dev->pooled;
}

void persist_listener(enum dev_event ev, const struct device *dev, const char *detail,
		      void *arg)
{
	struct persist *p = arg;

	p->pool_stale = true;
}

static void pool_refresh(struct persist *p)
{
	const struct devtable *t = p->devices;

	for (size_t i = 0; i < p->n_pool; i++)
		free(p->pool_ids[i]);
	p->n_pool = 0;
	for (size_t i = 0; i < devtable_count(t); i++) {
		const struct device *dev = devtable_at(t, i);

		if (!in_pool(dev))
			continue;
		p->pool_ids = xrealloc(p->pool_ids, (p->n_pool + 1) * sizeof(*p->pool_ids));
		p->pool_ids[p->n_pool++] = xstrdup(dev->id);
	}
	p->pool_stale = false;
}

/* The pool now.  Candidates are checked again: a claim takes one without a
 * device change (the claim table decides).  The caller frees the array. */
static const struct device **pool_now(struct persist *p, size_t *n)
{
	const struct device **v;

	if (p->pool_stale)
		pool_refresh(p);
	v = xcalloc(p->n_pool + 1, sizeof(*v));
	*n = 0;
	for (size_t i = 0; i < p->n_pool; i++) {
		const struct device *dev = devtable_get(p->devices, p->pool_ids[i]);

		if (in_pool(dev) && !claims_find(p->claims, dev->id))
			v[(*n)++] = dev;
	}
	return v;
}

int persist_save(struct persist *p, char *err, size_t size)
{
	struct jsonbuf b = { 0 };
	size_t n_pool;
	_cleanup_free_ const struct device **pool = pool_now(p, &n_pool);
	int r;

	snapshot_write(&b, p->claims, p->devices, pool, n_pool);
	r = store_write(p->store, b.data, b.len, err, size);
	free(b.data);
	if (r < 0)
		log_error("state not saved: %s", err);
	return r;
}
