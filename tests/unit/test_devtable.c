/* The device table: lookups, indexes, the state machine and resync. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "state/devtable.h"
#include "tests/unit/testdev.h"
#include "common/stub.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

struct seen {
	int count[DEV_EVENT__COUNT];
	char last_id[64];
	char last_detail[64];
	enum dev_event last;
};

static void listener(enum dev_event ev, const struct device *dev, const char *detail, void *ctx)
{
	struct seen *s = ctx;

	s->count[ev]++;
	s->last = ev;
	snprintf(s->last_id, sizeof(s->last_id), "%s", dev->id);
	snprintf(s->last_detail, sizeof(s->last_detail), "%s", detail ? detail : "");
}

static struct device *pci(const char *id, const char *parent, int group, const char *driver)
{
	return testdev_pci(id, 0x8086, 0x10d3, 0x020000, group, driver, parent);
}

static struct device *usb(const char *id, const char *parent)
{
	return testdev_usb(id, 0x0781, 0x5567, 2, parent);
}

static int group_size_by_walk(struct devtable *t, int group)
{
	int n = 0;

	for (struct device *d = devtable_group_first(t, group); d; d = d->group_next)
		n++;
	return n;
}

static void test_insert_lookup_remove(void **state)
{
	struct devtable *t = devtable_new();
	struct seen s = { 0 };
	char id[32];

	devtable_subscribe(t, listener, &s);
	/* Enough to force the hash and dense array to grow several times. */
	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "0000:%02x:%02x.%d", i / 256, (i / 8) % 32, i % 8);
		devtable_upsert(t, pci(id, NULL, i / 4, "e1000e"), DEV_EVENT_ADD, NULL);
	}
	assert_int_equal(devtable_count(t), 1000);
	assert_int_equal(devtable_count_bus(t, HD_BUS_PCI), 1000);
	assert_int_equal(devtable_count_bus(t, HD_BUS_USB), 0);
	assert_int_equal(s.count[DEV_EVENT_ADD], 1000);
	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "0000:%02x:%02x.%d", i / 256, (i / 8) % 32, i % 8);
		struct device *d = devtable_get(t, id);
		assert_non_null(d);
		assert_string_equal(d->id, id);
		assert_int_equal(d->slot, devtable_at(t, d->slot)->slot);
	}
	assert_null(devtable_get(t, "0000:ff:00.0"));
	assert_true(devtable_remove(t, "0000:00:00.0"));
	assert_false(devtable_remove(t, "0000:00:00.0"));
	assert_int_equal(s.count[DEV_EVENT_REMOVE], 1);
	assert_string_equal(s.last_id, "0000:00:00.0");
	assert_null(devtable_get(t, "0000:00:00.0"));
	assert_int_equal(devtable_count(t), 999);
	/* The dense array stays consistent after swap-removal. */
	for (size_t i = 0; i < devtable_count(t); i++)
		assert_int_equal(devtable_at(t, i)->slot, i);
	assert_null(devtable_at(t, 999));
	devtable_free(t);
}

static void test_upsert_reports_changes_only(void **state)
{
	struct devtable *t = devtable_new();
	struct seen s = { 0 };
	struct device *d;

	devtable_subscribe(t, listener, &s);
	devtable_upsert(t, pci("0000:03:00.0", "0000:00:1c.0", 5, "e1000e"), DEV_EVENT_ADD, NULL);
	/* The same record again (enumeration raced with its add event). */
	d = devtable_upsert(t, pci("0000:03:00.0", "0000:00:1c.0", 5, "e1000e"), DEV_EVENT_ADD,
			    NULL);
	assert_int_equal(s.count[DEV_EVENT_ADD], 1);
	assert_int_equal(s.count[DEV_EVENT_CHANGE], 0);
	assert_int_equal(devtable_count(t), 1);
	/* A driver change is reported with the event that caused it. */
	d = devtable_upsert(t, pci("0000:03:00.0", "0000:00:1c.0", 5, NULL), DEV_EVENT_UNBIND, NULL);
	assert_int_equal(s.count[DEV_EVENT_UNBIND], 1);
	assert_null(d->driver);
	/* A second add of a known device with new content is a change, not an add. */
	devtable_upsert(t, pci("0000:03:00.0", "0000:00:1c.0", 5, "igb"), DEV_EVENT_ADD, NULL);
	assert_int_equal(s.count[DEV_EVENT_ADD], 1);
	assert_int_equal(s.count[DEV_EVENT_CHANGE], 1);
	assert_string_equal(devtable_get(t, "0000:03:00.0")->driver, "igb");
	devtable_free(t);
}

static void test_state_follows_driver(void **state)
{
	struct devtable *t = devtable_new();
	struct device *d;

	d = devtable_upsert(t, pci("0000:03:00.0", NULL, 1, "e1000e"), DEV_EVENT_ADD, NULL);
	assert_int_equal(d->state, DEV_HOST);
	d = devtable_upsert(t, pci("0000:03:00.0", NULL, 1, "vfio-pci"), DEV_EVENT_BIND, NULL);
	assert_int_equal(d->state, DEV_DETACHED);
	assert_int_equal(devtable_count_state(t, DEV_DETACHED), 1);
	d = devtable_upsert(t, pci("0000:03:00.0", NULL, 1, NULL), DEV_EVENT_UNBIND, NULL);
	assert_int_equal(d->state, DEV_HOST);
	/* A claimed device keeps its state whatever the driver does: claims
	 * are decided by the claim engine, not by observation. */
	assert_true(device_set_state(d, DEV_DETACHED, "test"));
	assert_true(device_set_state(d, DEV_CLAIMED, "test"));
	d = devtable_upsert(t, pci("0000:03:00.0", NULL, 1, "e1000e"), DEV_EVENT_BIND, NULL);
	assert_int_equal(d->state, DEV_CLAIMED);
	/* A USB device is never "detached" by its driver alone. */
	d = devtable_upsert(t, usb("1-2", "usb1"), DEV_EVENT_ADD, NULL);
	assert_int_equal(d->state, DEV_HOST);
	devtable_free(t);
}

static void test_update_binding(void **state)
{
	struct devtable *t = devtable_new();
	struct seen s = { 0 };
	struct device *d;

	d = devtable_upsert(t, pci("0000:03:00.0", "0000:00:1c.0", 5, "e1000e"), DEV_EVENT_ADD,
			    NULL);
	devtable_subscribe(t, listener, &s);
	/* Unknown ids are left to a whole-record rebuild. */
	assert_false(devtable_update_binding(t, "0000:09:00.0", "e1000e", NULL, DEV_EVENT_BIND));
	assert_true(devtable_update_binding(t, "0000:03:00.0", NULL, "vfio-pci", DEV_EVENT_UNBIND));
	assert_null(d->driver);
	assert_string_equal(d->pci.driver_override, "vfio-pci");
	assert_int_equal(s.count[DEV_EVENT_UNBIND], 1);
	assert_true(devtable_update_binding(t, "0000:03:00.0", "vfio-pci", "vfio-pci",
					    DEV_EVENT_BIND));
	assert_int_equal(d->state, DEV_DETACHED);
	assert_int_equal(s.count[DEV_EVENT_BIND], 1);
	/* Nothing changed: nothing reported. */
	assert_true(devtable_update_binding(t, "0000:03:00.0", "vfio-pci", "vfio-pci",
					    DEV_EVENT_BIND));
	assert_int_equal(s.count[DEV_EVENT_BIND], 1);
	/* Relations are untouched by a binding. */
	assert_string_equal(d->parent, "0000:00:1c.0");
	assert_int_equal(devtable_group_size(t, 5), 1);
	devtable_free(t);
}

static void test_long_ids(void **state)
{
	static const char long_id[] = "10000:00:01.0-a-very-long-name-for-a-device";
	struct devtable *t = devtable_new();
	struct device *d = devtable_upsert(t, usb(long_id, NULL), DEV_EVENT_ADD, NULL);

	assert_string_equal(d->id, long_id);
	assert_ptr_equal(devtable_get(t, long_id), d);
	/* Short ones live inside the record. */
	d = devtable_upsert(t, usb("1-1", NULL), DEV_EVENT_ADD, NULL);
	assert_ptr_equal(d->id, d->id_inline);
	devtable_free(t);
}

static void test_state_machine(void **state)
{
	struct device *d = device_new(HD_BUS_PCI, "0000:01:00.0");

	assert_string_equal(dev_state_name(DEV_HOST), "host");
	assert_string_equal(dev_state_name(DEV_ERROR), "error");
	assert_string_equal(dev_state_name(DEV_STATE__COUNT), "invalid");
	for (int s = 0; s < DEV_STATE__COUNT; s++)
		assert_int_equal(dev_state_from_name(dev_state_name(s)), s);
	assert_int_equal(dev_state_from_name("bogus"), -1);
	/* The documented path: host -> detaching -> detached -> claimed ->
	 * releasing -> host. */
	assert_true(device_set_state(d, DEV_DETACHING, "t"));
	assert_true(device_set_state(d, DEV_DETACHED, "t"));
	assert_true(device_set_state(d, DEV_CLAIMED, "t"));
	assert_true(device_set_state(d, DEV_RELEASING, "t"));
	assert_true(device_set_state(d, DEV_HOST, "t"));
	/* Skipping the engine is refused and leaves the state alone. */
	assert_false(device_set_state(d, DEV_CLAIMED, "t"));
	assert_int_equal(d->state, DEV_HOST);
	assert_false(device_set_state(d, DEV_RELEASING, "t"));
	assert_true(device_set_state(d, DEV_ERROR, "t"));
	assert_false(device_set_state(d, DEV_RELEASING, "t"));
	assert_true(dev_state_transition_allowed(DEV_ERROR, DEV_HOST));
	assert_false(dev_state_transition_allowed(DEV_ERROR, DEV_CLAIMED));
	assert_false(dev_state_transition_allowed(DEV_STATE__COUNT, DEV_HOST));
	device_free(d);
	/* A USB device is claimed without a stub in between. */
	d = device_new(HD_BUS_USB, "1-2");
	assert_true(device_set_state(d, DEV_CLAIMED, "t"));
	assert_true(device_set_state(d, DEV_RELEASING, "t"));
	assert_true(device_set_state(d, DEV_HOST, "t"));
	device_free(d);
}

static void test_group_index(void **state)
{
	struct devtable *t = devtable_new();
	struct device *d;

	devtable_upsert(t, pci("0000:00:1e.0", NULL, 7, NULL), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, pci("0000:05:01.0", "0000:00:1e.0", 7, "e1000"), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, pci("0000:05:02.0", "0000:00:1e.0", 7, "e1000"), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, pci("0000:03:00.0", NULL, 8, "e1000e"), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, pci("0000:04:00.0", NULL, HD_NO_GROUP, "e1000e"), DEV_EVENT_ADD, NULL);
	assert_int_equal(devtable_group_size(t, 7), 3);
	assert_int_equal(group_size_by_walk(t, 7), 3);
	assert_int_equal(devtable_group_size(t, 8), 1);
	assert_int_equal(devtable_group_size(t, 9), 0);
	assert_null(devtable_group_first(t, HD_NO_GROUP));
	/* Moving a device to another group re-files it. */
	devtable_upsert(t, pci("0000:05:02.0", "0000:00:1e.0", 8, "e1000"), DEV_EVENT_CHANGE, NULL);
	assert_int_equal(devtable_group_size(t, 7), 2);
	assert_int_equal(group_size_by_walk(t, 8), 2);
	devtable_remove(t, "0000:05:01.0");
	devtable_remove(t, "0000:00:1e.0");
	assert_int_equal(devtable_group_size(t, 7), 0);
	assert_null(devtable_group_first(t, 7));
	d = devtable_group_first(t, 8);
	assert_string_equal(d->id, "0000:03:00.0");
	assert_string_equal(d->group_next->id, "0000:05:02.0");
	assert_null(d->group_next->group_next);
	devtable_free(t);
}

static void test_children_and_vfs(void **state)
{
	struct devtable *t = devtable_new();
	struct device *vf;
	int n = 0;

	/* Children may arrive before their parent. */
	devtable_upsert(t, usb("1-2.1", "1-2"), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, usb("1-2.2", "1-2"), DEV_EVENT_ADD, NULL);
	assert_non_null(devtable_children_first(t, "1-2"));
	devtable_upsert(t, usb("1-2", "usb1"), DEV_EVENT_ADD, NULL);
	for (struct device *d = devtable_children_first(t, "1-2"); d; d = d->child_next)
		n++;
	assert_int_equal(n, 2);
	assert_string_equal(devtable_children_first(t, "usb1")->id, "1-2");
	assert_null(devtable_children_first(t, "1-9"));

	devtable_upsert(t, pci("0000:06:00.0", NULL, 20, "ixgbe"), DEV_EVENT_ADD, NULL);
	vf = pci("0000:06:10.0", NULL, 21, "ixgbevf");
	vf->pci.physfn = xstrdup("0000:06:00.0");
	devtable_upsert(t, vf, DEV_EVENT_ADD, NULL);
	vf = pci("0000:06:10.2", NULL, 22, "vfio-pci");
	vf->pci.physfn = xstrdup("0000:06:00.0");
	devtable_upsert(t, vf, DEV_EVENT_ADD, NULL);
	vf = devtable_vfs_first(t, "0000:06:00.0");
	assert_string_equal(vf->id, "0000:06:10.0");
	assert_string_equal(vf->vf_next->id, "0000:06:10.2");
	assert_null(devtable_vfs_first(t, "0000:06:10.0"));
	devtable_remove(t, "0000:06:10.0");
	assert_string_equal(devtable_vfs_first(t, "0000:06:00.0")->id, "0000:06:10.2");
	devtable_free(t);
}

static void test_sorted(void **state)
{
	struct devtable *t = devtable_new();
	struct device **v;
	size_t n;

	devtable_upsert(t, usb("1-2", "usb1"), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, pci("0000:03:00.0", NULL, 1, NULL), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, usb("1-1", "usb1"), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, pci("0000:00:02.0", NULL, 1, NULL), DEV_EVENT_ADD, NULL);
	n = devtable_sorted(t, &v);
	assert_int_equal(n, 4);
	assert_string_equal(v[0]->id, "0000:00:02.0");
	assert_string_equal(v[1]->id, "0000:03:00.0");
	assert_string_equal(v[2]->id, "1-1");
	assert_string_equal(v[3]->id, "1-2");
	free(v);
	devtable_free(t);
}

static void test_resync_removes_unseen(void **state)
{
	struct devtable *t = devtable_new();
	struct seen s = { 0 };

	devtable_upsert(t, pci("0000:01:00.0", NULL, 1, "e1000e"), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, pci("0000:02:00.0", NULL, 2, "e1000e"), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, pci("0000:03:00.0", NULL, 3, "e1000e"), DEV_EVENT_ADD, NULL);
	devtable_subscribe(t, listener, &s);
	devtable_resync_begin(t);
	devtable_upsert(t, pci("0000:02:00.0", NULL, 2, "vfio-pci"), DEV_EVENT_CHANGE, NULL);
	devtable_upsert(t, pci("0000:04:00.0", NULL, 4, "e1000e"), DEV_EVENT_CHANGE, NULL);
	assert_int_equal(devtable_resync_end(t), 2);
	assert_int_equal(devtable_count(t), 2);
	assert_null(devtable_get(t, "0000:01:00.0"));
	assert_null(devtable_get(t, "0000:03:00.0"));
	assert_int_equal(devtable_get(t, "0000:02:00.0")->state, DEV_DETACHED);
	assert_int_equal(s.count[DEV_EVENT_REMOVE], 2);
	assert_int_equal(s.count[DEV_EVENT_ADD], 1);
	assert_int_equal(s.count[DEV_EVENT_CHANGE], 1);
	assert_int_equal(devtable_group_size(t, 1), 0);
	devtable_free(t);
}

static void test_resync_abort_keeps_everything(void **state)
{
	struct devtable *t = devtable_new();

	devtable_upsert(t, pci("0000:01:00.0", NULL, 1, "e1000e"), DEV_EVENT_ADD, NULL);
	devtable_upsert(t, pci("0000:02:00.0", NULL, 2, "e1000e"), DEV_EVENT_ADD, NULL);
	/* An enumeration that failed half-way saw only one device. */
	devtable_resync_begin(t);
	devtable_upsert(t, pci("0000:02:00.0", NULL, 2, "e1000e"), DEV_EVENT_CHANGE, NULL);
	devtable_resync_abort(t);
	assert_int_equal(devtable_count(t), 2);
	/* The next complete resync still works from a clean generation. */
	devtable_resync_begin(t);
	devtable_upsert(t, pci("0000:01:00.0", NULL, 1, "e1000e"), DEV_EVENT_CHANGE, NULL);
	assert_int_equal(devtable_resync_end(t), 1);
	assert_non_null(devtable_get(t, "0000:01:00.0"));
	assert_null(devtable_get(t, "0000:02:00.0"));
	devtable_free(t);
}

static void test_usb_interfaces(void **state)
{
	struct devtable *t = devtable_new();
	struct seen s = { 0 };
	struct device *d = usb("1-2.1", "1-2"), *rec;
	struct usb_iface hid = { .id = "1-2.1:1.0", .cls = 3, .subcls = 1, .proto = 1,
				 .driver = "usbhid" };
	struct usb_iface second = { .id = "1-2.1:1.1", .cls = 3 };

	devtable_subscribe(t, listener, &s);
	device_usb_iface_set(d, &second);
	device_usb_iface_set(d, &hid);
	assert_int_equal(d->usb.n_ifaces, 2);
	/* Kept sorted whatever order they came in. */
	assert_string_equal(d->usb.ifaces[0].id, "1-2.1:1.0");
	d = devtable_upsert(t, d, DEV_EVENT_ADD, NULL);
	/* The interface loses its driver: a rebuilt record says so. */
	rec = usb("1-2.1", "1-2");
	hid.driver = NULL;
	device_usb_iface_set(rec, &hid);
	device_usb_iface_set(rec, &second);
	devtable_upsert(t, rec, DEV_EVENT_UNBIND, "1-2.1:1.0");
	assert_int_equal(s.last, DEV_EVENT_UNBIND);
	assert_string_equal(s.last_detail, "1-2.1:1.0");
	assert_null(device_usb_iface(d, "1-2.1:1.0")->driver);
	/* An interface add on a known device stays an add. */
	rec = usb("1-2.1", "1-2");
	device_usb_iface_set(rec, &hid);
	device_usb_iface_set(rec, &second);
	device_usb_iface_set(rec, &(struct usb_iface){ .id = "1-2.1:1.2", .cls = 8 });
	devtable_upsert(t, rec, DEV_EVENT_ADD, "1-2.1:1.2");
	assert_int_equal(s.last, DEV_EVENT_ADD);
	assert_int_equal(d->usb.n_ifaces, 3);
	assert_true(device_usb_iface_remove(d, "1-2.1:1.1"));
	assert_false(device_usb_iface_remove(d, "1-2.1:1.1"));
	assert_int_equal(d->usb.n_ifaces, 2);
	assert_string_equal(d->usb.ifaces[1].id, "1-2.1:1.2");
	devtable_free(t);
}

/* ---- the channel -------------------------------------------------------- */

/* What subscribers heard, in order, as "ev:id:state" words. */
struct journal {
	struct devtable *t;
	char log[512];
	int depth, max_depth;
};

static void journal_add(struct journal *j, const char *who, enum dev_event ev,
			const struct device *dev)
{
	size_t len = strlen(j->log);

	snprintf(j->log + len, sizeof(j->log) - len, "%s%s:%s:%s:%s", len ? " " : "", who,
		 dev_event_name(ev), dev->id, dev_state_name(dev->state));
}

/* An engine: moves a device's state when it binds to a stub, as the
 * detach engine does when the bind it waited for comes. */
static void mover(enum dev_event ev, const struct device *dev, const char *detail, void *ctx)
{
	struct journal *j = ctx;

	if (++j->depth > j->max_depth)
		j->max_depth = j->depth;
	journal_add(j, "A", ev, dev);
	if (ev == DEV_EVENT_BIND)
		assert_true(devtable_set_state(j->t, devtable_get(j->t, dev->id), DEV_CLAIMED,
					       "test"));
	j->depth--;
}

static void watcher(enum dev_event ev, const struct device *dev, const char *detail, void *ctx)
{
	journal_add(ctx, "B", ev, dev);
}

/* Every subscriber hears the bind before the state change it caused, and
 * nobody is called again while still being told of the bind.  What each
 * is handed is the live record: B, told after A moved it, sees it claimed
 * already (which is why the daemon subscribes Watch before the engines). */
static void test_channel_order(void **state)
{
	struct devtable *t = devtable_new();
	struct journal j = { .t = t };

	devtable_subscribe(t, mover, &j);
	devtable_subscribe(t, watcher, &j);
	devtable_upsert(t, pci("0000:01:00.0", NULL, 1, "e1000e"), DEV_EVENT_ADD, NULL);
	j.log[0] = '\0';
	assert_true(devtable_update_binding(t, "0000:01:00.0", "vfio-pci", "vfio-pci",
					    DEV_EVENT_BIND));
	assert_string_equal(j.log, "A:bind:0000:01:00.0:detached B:bind:0000:01:00.0:claimed "
				   "A:change:0000:01:00.0:claimed B:change:0000:01:00.0:claimed");
	assert_int_equal(j.max_depth, 1);
	devtable_free(t);
}

/* A refused transition changes nothing and tells nobody; touching a device
 * tells a change without moving it. */
static void test_set_state_and_touch(void **state)
{
	struct devtable *t = devtable_new();
	struct seen s = { 0 };
	struct device *d;

	devtable_subscribe(t, listener, &s);
	d = devtable_upsert(t, pci("0000:01:00.0", NULL, 1, "e1000e"), DEV_EVENT_ADD, NULL);
	assert_false(devtable_set_state(t, d, DEV_CLAIMED, "skipping the engine"));
	assert_true(devtable_set_state(t, d, DEV_HOST, "already there"));
	assert_int_equal(s.count[DEV_EVENT_CHANGE], 0);
	assert_true(devtable_set_state(t, d, DEV_DETACHING, "test"));
	assert_int_equal(s.count[DEV_EVENT_CHANGE], 1);
	devtable_touch(t, d);
	assert_int_equal(s.count[DEV_EVENT_CHANGE], 2);
	assert_int_equal(d->state, DEV_DETACHING);
	devtable_free(t);
}

/* One table turns a stub as given into the driver the kernel names: Xen's
 * by its module's name too; a name the kernel would not match is none. */
static void test_stub_names(void **state)
{
	assert_string_equal(stub_target("vfio-pci"), "vfio-pci");
	assert_string_equal(stub_target("pci-stub"), "pci-stub");
	assert_string_equal(stub_target("pciback"), "pciback");
	assert_string_equal(stub_target("xen-pciback"), "pciback");
	assert_null(stub_target("xen_pciback"));
	assert_null(stub_target("vfio_pci"));
	assert_null(stub_target("e1000e"));
	assert_null(stub_target(""));
	assert_null(stub_target(NULL));
	assert_string_equal(stub_module("vfio-pci"), "vfio_pci");
	assert_string_equal(stub_module("pci-stub"), "pci_stub");
	assert_string_equal(stub_module("pciback"), "xen_pciback");
	assert_null(stub_module("xen-pciback")); /* a driver name, not one given */
	assert_null(stub_module("e1000e"));
	assert_string_equal(stub_targets_text(), "vfio-pci, pci-stub or pciback");
}

/* A variant is a stub once learned, by its driver name only; learning it
 * twice keeps one entry, and the set has a bound. */
static void test_stub_variants(void **state)
{
	char name[32];

	assert_false(driver_is_stub("mlx5_vfio_pci"));
	assert_null(stub_target("mlx5_vfio_pci"));
	stub_learn_variant("mlx5_vfio_pci");
	stub_learn_variant("mlx5_vfio_pci");
	assert_true(driver_is_stub("mlx5_vfio_pci"));
	assert_string_equal(stub_target("mlx5_vfio_pci"), "mlx5_vfio_pci");
	assert_null(stub_module("mlx5_vfio_pci")); /* its module is the aliases' */
	assert_false(driver_is_stub("mlx5_core"));
	assert_false(driver_is_stub(NULL));
	for (int i = 0; i < 2 * STUB_VARIANTS_MAX; i++) {
		snprintf(name, sizeof(name), "variant%d", i);
		stub_learn_variant(name);
	}
	assert_true(driver_is_stub("variant0"));
	snprintf(name, sizeof(name), "variant%d", 2 * STUB_VARIANTS_MAX - 1);
	assert_false(driver_is_stub(name));
	assert_true(driver_is_stub("vfio-pci"));
}

static void test_helpers(void **state)
{
	struct device *d = device_new(HD_BUS_PCI, "0000:00:01.0");
	uint32_t v;

	assert_true(driver_is_stub("vfio-pci"));
	assert_true(driver_is_stub("pci-stub"));
	/* Xen's stub as the kernel shows it bound: pciback, never its
	 * module's name. */
	assert_true(driver_is_stub("pciback"));
	assert_false(driver_is_stub("xen-pciback"));
	assert_false(driver_is_stub("e1000e"));
	assert_false(driver_is_stub(NULL));
	d->pci.class_code = 0x060400;
	assert_true(pci_is_bridge(d));
	assert_false(pci_is_host_bridge(d));
	d->pci.class_code = 0x060000;
	assert_true(pci_is_host_bridge(d));
	assert_int_equal(hd_bus_from_name("usb"), HD_BUS_USB);
	assert_int_equal(hd_bus_from_name("scsi"), -1);
	assert_int_equal(dev_event_from_action("bind"), DEV_EVENT_BIND);
	assert_int_equal(dev_event_from_action("online"), -1);
	assert_true(parse_hex_u32("0x8086\n", &v));
	assert_int_equal(v, 0x8086);
	assert_false(parse_hex_u32("zz", &v));
	assert_false(parse_hex_u32("", &v));
	assert_false(parse_hex_u32(NULL, &v));
	device_free(d);
	{
		char **w = device_words("  flr\tbus pm \n");

		assert_string_equal(w[0], "flr");
		assert_string_equal(w[1], "bus");
		assert_string_equal(w[2], "pm");
		assert_null(w[3]);
		free(w);
		w = device_words("");
		assert_null(w[0]);
		free(w);
	}
	/* Reset methods that change are copied whole into the record. */
	{
		struct devtable *t = devtable_new();
		struct device *a = pci("0000:01:00.0", NULL, 1, NULL), *b;

		a->pci.reset_methods = device_words("flr");
		a = devtable_upsert(t, a, DEV_EVENT_ADD, NULL);
		b = pci("0000:01:00.0", NULL, 1, NULL);
		b->pci.reset_methods = device_words("bus pm");
		devtable_upsert(t, b, DEV_EVENT_CHANGE, NULL);
		assert_string_equal(a->pci.reset_methods[0], "bus");
		assert_string_equal(a->pci.reset_methods[1], "pm");
		assert_null(a->pci.reset_methods[2]);
		devtable_free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_lookup_remove),
		cmocka_unit_test(test_upsert_reports_changes_only),
		cmocka_unit_test(test_state_follows_driver),
		cmocka_unit_test(test_update_binding),
		cmocka_unit_test(test_long_ids),
		cmocka_unit_test(test_state_machine),
		cmocka_unit_test(test_group_index),
		cmocka_unit_test(test_children_and_vfs),
		cmocka_unit_test(test_sorted),
		cmocka_unit_test(test_resync_removes_unseen),
		cmocka_unit_test(test_resync_abort_keeps_everything),
		cmocka_unit_test(test_usb_interfaces),
		cmocka_unit_test(test_channel_order),
		cmocka_unit_test(test_set_state_and_touch),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_stub_names),
		cmocka_unit_test(test_stub_variants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
