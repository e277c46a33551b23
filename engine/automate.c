#include "engine/automate.h"
#include "daemon/context.h"
#include "engine/detach.h"
#include "daemon/server.h"
#include "common/log.h"
#include "common/util.h"
#include "policy/policy.h"
#include "state/claims.h"

#include <json-c/json.h>
#include <string.h>

/* How often the daemon tried to move one device since it appeared. */
struct tries {
	char *id;
	unsigned n;
	bool busy; /* an action is under way: later events wait for its answer */
};

struct automate {
	struct hd_context *ctx;
	bool started;
	struct tries *tries;
	size_t n_tries;
	size_t pending;
};

/* One action under way.  The decision is copied: a reload may free the
 * policy it came from before the action is answered. */
struct act {
	struct automate *a;
	enum policy_action action;
	char *device, *file, *owner_driver, *owner_domain;
	int rule, line;
};

struct automate *automate_new(struct hd_context *ctx)
{
	struct automate *a = xcalloc(1, sizeof(*a));

	a->ctx = ctx;
	return a;
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

static void add_str(json_object *o, const char *key, const char *v)
{
	if (v)
		json_object_object_add(o, key, json_object_new_string(v));
}

/* The Watch notice: what the policy did with a device and how it went. */
static void tell(struct act *x, const struct detach_result *r)
{
	json_object *o = json_object_new_object();

	add_str(o, "action", policy_action_name(x->action));
	add_str(o, "device", x->device);
	if (x->action == POLICY_ASSIGN) {
		json_object *owner = json_object_new_object();

		add_str(owner, "driver", x->owner_driver);
		add_str(owner, "domain", x->owner_domain);
		json_object_object_add(o, "owner", owner);
	}
	if (x->rule >= 0)
		json_object_object_add(o, "rule", json_object_new_int(x->rule + 1));
	if (x->file) {
		add_str(o, "file", x->file);
		json_object_object_add(o, "line", json_object_new_int(x->line));
	}
	add_str(o, "outcome", r->status == DETACH_OK ? "done" : "failed");
	if (r->status != DETACH_OK) {
		add_str(o, "error", r->error);
		add_str(o, "reason", r->reason ? r->reason : r->failure.message);
	}
	if (x->a->ctx->server)
		server_broadcast_policy_event(x->a->ctx->server, o);
	json_object_put(o);
}

static void act_free(struct act *x)
{
	free(x->device);
	free(x->file);
	free(x->owner_driver);
	free(x->owner_domain);
	free(x);
}

static void on_done(const struct detach_result *r, void *arg)
{
	struct act *x = arg;
	struct automate *a = x->a;
	struct device *dev;
	struct tries *t;

	a->pending--;
	if ((t = tries_of(a, x->device, false)))
		t->busy = false;
	if (r->status == DETACH_OK) {
		tries_forget(a, x->device);
		log_dev_info(x->device, "policy %s (%s:%d): %s", policy_action_name(x->action),
			     x->file ? x->file : "default", x->line, r->outcome);
		if (r->kind == DETACH_KIND_USB_AUTHORIZE &&
		    (dev = devtable_get(a->ctx->devices, x->device))) {
			/* The kernel tells no event for the attribute itself. */
			dev->usb.authorized = false;
			if (a->ctx->server)
				server_broadcast_device_event(a->ctx->server, DEV_EVENT_CHANGE, dev,
							      NULL);
		}
	} else {
		log_dev_warn(x->device, "policy %s (%s:%d) not done: %s: %s",
			     policy_action_name(x->action), x->file ? x->file : "default", x->line,
			     r->error, r->reason ? r->reason : r->failure.message);
	}
	tell(x, r);
	act_free(x);
}

static struct act *act_new(struct automate *a, const struct device *dev,
			   const struct policy_decision *d)
{
	struct act *x = xcalloc(1, sizeof(*x));

	x->a = a;
	x->action = d->action;
	x->device = xstrdup(dev->id);
	x->file = d->file ? xstrdup(d->file) : NULL;
	x->line = d->line;
	x->rule = d->rule;
	x->owner_driver = d->owner_driver ? xstrdup(d->owner_driver) : NULL;
	x->owner_domain = d->owner_domain ? xstrdup(d->owner_domain) : NULL;
	a->pending++;
	return x;
}

/* What the decision asks of this device now, if anything: the kind of
 * operation, or -1. */
static int wanted(const struct device *dev, const struct policy_decision *d)
{
	switch (d->action) {
	case POLICY_DETACH:
	case POLICY_ASSIGN:
		/* USB devices have no stub: a claim of one records it, and QEMU
		 * takes it from the host drivers itself. */
		if (dev->bus != HD_BUS_PCI || driver_is_stub(dev->driver))
			return -1;
		return DETACH_KIND_DETACH;
	case POLICY_REFUSE:
		if (!d->deauthorize || dev->bus != HD_BUS_USB || !dev->usb.authorized)
			return -1;
		return DETACH_KIND_USB_AUTHORIZE;
	default:
		return -1;
	}
}

/* arm: the device has just appeared (or the daemon just started), so the
 * policy may act on it; a bind afterwards acts only on a device still
 * armed: one the policy has not yet moved.  Once moved, a device the user
 * reattaches or a claim releases stays where they put it. */
static void consider(struct automate *a, const struct device *dev, enum policy_moment m,
		     bool arm)
{
	struct hd_context *ctx = a->ctx;
	struct policy_decision d;
	struct tries *t;
	struct act *x;
	int kind;

	if (!ctx->policy || dev->state != DEV_HOST || (ctx->claims && claims_find(ctx->claims, dev->id)))
		return;
	policy_decide(ctx->policy, dev, m, &d);
	kind = wanted(dev, &d);
	if (kind < 0)
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
	if (kind == DETACH_KIND_USB_AUTHORIZE)
		usb_authorize_start(ctx->detach, dev->id, false, on_done, x);
	else if (d.host_critical_ok)
		detach_start_checked(ctx->detach, dev->id, d.stub, on_done, x);
	else
		detach_start(ctx->detach, dev->id, d.stub, on_done, x);
}

void automate_start(struct automate *a)
{
	struct devtable *t = a->ctx->devices;
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
	if (dev->bus == HD_BUS_USB) {
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
