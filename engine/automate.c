#include "engine/automate.h"
#include "common/log.h"
#include "common/util.h"
#include "engine/bus.h"
#include "state/bus.h"

#include <string.h>

/* How often the daemon tried to move one device since it appeared. */
struct tries {
	char *id;
	unsigned n;
	bool busy; /* an action is under way: later events wait for its answer */
};

struct automate {
	struct devtable *devices;
	struct claims *claims;
	struct detach_engine *detach;
	const struct policy *policy;
	automate_notice_fn notice;
	void *notice_ctx;
	bool started;
	struct tries *tries;
	size_t n_tries;
	size_t pending;
};

/* One action under way.  The decision's strings are copied: a reload may
 * free the policy it came from before the action is answered. */
struct act {
	struct automate *a;
	char *device;
	struct policy_decision d;
	char *file, *stub, *owner_driver, *owner_domain;
};

struct automate *automate_new(struct devtable *t, struct claims *c, struct detach_engine *de,
			      automate_notice_fn notice, void *ctx)
{
	struct automate *a = xcalloc(1, sizeof(*a));

	a->devices = t;
	a->claims = c;
	a->detach = de;
	a->notice = notice;
	a->notice_ctx = ctx;
	return a;
}

/* A rule's driver is checked as a name when the policy loads, since this
 * host's variants are not the loader's to know; here they are: one this
 * host has no driver for is said at once, before the rule acts and fails. */
static void warn_unknown_drivers(struct automate *a, const struct policy *p)
{
	for (size_t i = 0; a->detach && p && i < policy_rule_count(p); i++) {
		const char *file = NULL, *stub;
		struct detach_choice c;
		int line = 0;

		stub = policy_rule_driver(p, i, &file, &line);
		if (stub && !streq(stub, POLICY_STUB_AUTO) && !detach_choose(a->detach, NULL, stub, &c))
			log_warn("policy: rule %zu (%s:%d): driver \"%s\" is no stub driver and no "
				 "vfio-pci variant of this host: its detach will fail, and the "
				 "devices it matches stay with the host",
				 i + 1, file, line, stub);
	}
}

void automate_set_policy(struct automate *a, const struct policy *p)
{
	a->policy = p;
	warn_unknown_drivers(a, p);
}

void automate_free(struct automate *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_tries; i++)
		free(a->tries[i].id);
	free(a->tries);
	free(a);
}

size_t automate_pending(const struct automate *a)
{
	return a->pending;
}

static struct tries *tries_of(struct automate *a, const char *id, bool add)
{
	for (size_t i = 0; i < a->n_tries; i++)
		if (streq(a->tries[i].id, id))
			return &a->tries[i];
	if (!add)
		return NULL;
	a->tries = xrealloc(a->tries, (a->n_tries + 1) * sizeof(*a->tries));
	a->tries[a->n_tries] = (struct tries){ .id = xstrdup(id) };
	return &a->tries[a->n_tries++];
}

/* A device that left (or was moved where it belongs) starts afresh. */
static void tries_forget(struct automate *a, const char *id)
{
	struct tries *t = tries_of(a, id, false);

	if (!t)
		return;
	free(t->id);
	*t = a->tries[--a->n_tries];
}

static void act_free(struct act *x)
{
	free(x->device);
	free(x->file);
	free(x->stub);
	free(x->owner_driver);
	free(x->owner_domain);
	free(x);
}

static void on_done(const struct detach_result *r, void *arg)
{
	struct act *x = arg;
	struct automate *a = x->a;
	struct tries *t;

	a->pending--;
	if ((t = tries_of(a, x->device, false)))
		t->busy = false;
	if (r->err.code == HDE_OK) {
		tries_forget(a, x->device);
		log_dev_info(x->device, "policy %s (%s:%d): %s", policy_action_name(x->d.action),
			     x->file ? x->file : "default", x->d.line, r->outcome);
	} else {
		log_dev_warn(x->device, "policy %s (%s:%d) not done: %s: %s",
			     policy_action_name(x->d.action), x->file ? x->file : "default",
			     x->d.line, err_name(r->err.code), err_detail(&r->err));
	}
	if (a->notice)
		a->notice(&(struct automate_notice){ .device = x->device, .decision = &x->d,
						     .result = r },
			  a->notice_ctx);
	act_free(x);
}

static struct act *act_new(struct automate *a, const struct device *dev,
			   const struct policy_decision *d)
{
	struct act *x = xcalloc(1, sizeof(*x));

	x->a = a;
	x->device = xstrdup(dev->id);
	x->d = *d;
	x->d.file = x->file = xstrdup(d->file);
	x->d.stub = x->stub = xstrdup(d->stub);
	x->d.owner_driver = x->owner_driver = xstrdup(d->owner_driver);
	x->d.owner_domain = x->owner_domain = xstrdup(d->owner_domain);
	a->pending++;
	return x;
}

/* arm: the device has just appeared (or the daemon just started), so the
 * policy may act on it; a bind afterwards acts only on a device still
 * armed: one the policy has not yet moved.  Once moved, a device the user
 * reattaches or a claim releases stays where they put it. */
static void consider(struct automate *a, const struct device *dev, enum policy_moment m,
		     bool arm)
{
	const struct bus_engine *b = bus_engine_of(dev);
	struct policy_decision d;
	struct tries *t;
	struct act *x;

	if (!a->policy || dev->state != DEV_HOST || claims_find(a->claims, dev->id))
		return;
	policy_decide(a->policy, dev, m, &d);
	if (!b->policy_wants(dev, &d))
		return;
	t = tries_of(a, dev->id, arm);
	/* A USB device's interface events come while its deauthorization
	 * is under way: that one answers for them. */
	if (!t || t->busy)
		return;
	if (t->n >= AUTOMATE_MAX_TRIES) {
		if (t->n++ == AUTOMATE_MAX_TRIES)
			log_dev_warn(dev->id, "policy %s: gave up after %u tries; 'hostdevctl detach' "
					      "it, or find what binds it back",
				     policy_action_name(d.action), AUTOMATE_MAX_TRIES);
		return;
	}
	t->n++;
	t->busy = true;
	x = act_new(a, dev, &d);
	log_dev_info(dev->id, "policy %s by %s:%d (%s)", policy_action_name(d.action),
		     d.file ? d.file : "default", d.line,
		     m == POLICY_MOMENT_START ? "present at start" : "appeared");
	b->policy_act(a->detach, dev, &x->d, on_done, x);
}

bool automate_adopt(struct device *dev, void *arg)
{
	struct automate *a = arg;
	struct policy_decision d;
	struct detach_choice c;

	if (!a->policy || !dev->driver)
		return false;
	policy_decide(a->policy, dev, POLICY_MOMENT_START, &d);
	if (d.action != POLICY_DETACH && d.action != POLICY_ASSIGN)
		return false;
	/* The driver the rule would detach it to, as its action resolves
	 * it: a variant named, or "auto"'s pick, by its driver's name. */
	if (!detach_choose(a->detach, dev,
			   streq(d.stub, POLICY_STUB_AUTO) ? NULL : d.stub, &c) ||
	    !streq(c.driver, dev->driver))
		return false;
	device_pool_enter(dev, NULL);
	log_dev_info(dev->id, "policy %s by %s:%d: found on %s (the generated udev rules, or "
			      "vfio-pci.ids): in the detached pool",
		     policy_action_name(d.action), d.file ? d.file : "default", d.line, dev->driver);
	return true;
}

void automate_start(struct automate *a)
{
	struct devtable *t = a->devices;
	size_t n = devtable_count(t);
	char **ids = xcalloc(n + 1, sizeof(*ids));

	/* Ids first: an action answered at once may change the table. */
	for (size_t i = 0; i < n; i++)
		ids[i] = xstrdup(devtable_at(t, i)->id);
	for (size_t i = 0; i < n; i++) {
		const struct device *dev = devtable_get(t, ids[i]);

		if (dev)
			consider(a, dev, POLICY_MOMENT_START, true);
		free(ids[i]);
	}
	free(ids);
	a->started = true;
}

void automate_device_event(struct automate *a, enum dev_event ev, const struct device *dev,
			   const char *iface)
{
	if (!a->started)
		return;
	if (bus_of(dev)->child_devtype) {
		/* A USB device's interfaces come after its own add: a rule on
		 * interface_class can only decide once they are there, so
		 * each interface's add and bind is another look. */
		if (ev == DEV_EVENT_REMOVE && !iface)
			tries_forget(a, dev->id);
		else if (ev == DEV_EVENT_ADD || ev == DEV_EVENT_BIND)
			consider(a, dev, POLICY_MOMENT_HOTPLUG, true);
		return;
	}
	switch (ev) {
	case DEV_EVENT_REMOVE:
		tries_forget(a, dev->id);
		break;
	case DEV_EVENT_ADD:
		tries_forget(a, dev->id);
		consider(a, dev, POLICY_MOMENT_HOTPLUG, true);
		break;
	case DEV_EVENT_BIND:
		/* The host driver won the race to a device that appeared (or
		 * bound it again): repair. */
		if (dev->driver && !driver_is_stub(dev->driver))
			consider(a, dev, POLICY_MOMENT_HOTPLUG, false);
		break;
	default:
		break;
	}
}

void automate_listener(enum dev_event ev, const struct device *dev, const char *detail,
		       void *arg)
{
	automate_device_event(arg, ev, dev, detail);
}
