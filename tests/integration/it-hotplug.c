/* Hotplug and driver changes on the mock machine, seen by the real hostdevd:
 * each uevent becomes one Watch event with the next sequence number and the
 * record after the change, and ListDevices/GetDevice agree with it.
 *
 * The testbed is paced: after each uevent the test waits for its Watch event
 * before sysfs changes again, so the daemon sees every step on its own. */
#include "tests/integration/itest.h"
#include "tests/integration/stdmachine.h"
#include "tests/integration/vlc.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

#define MAX_SEEN 32

struct seen {
	char event[16];
	char id[32];
	char iface[32]; /* "" when the event is about the whole device */
	json_object *device;
};

struct fixture {
	struct testbed *tb;
	struct hdproc daemon;
	struct vlc *watch;  /* the Watch stream */
	struct vlc *query;  /* everything else */
	int64_t sequence;   /* the last one seen */
	struct seen seen[MAX_SEEN];
	size_t n_seen;
};

static int64_t get_int(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		fail_msg("no integer %s in %s", key, json_object_to_json_string(o));
	return json_object_get_int64(v);
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static json_object *get_device(struct fixture *f, const char *id)
{
	json_object *params = json_object_new_object();
	json_object *reply, *dev = NULL;

	json_object_object_add(params, "device", json_object_new_string(id));
	reply = vlc_call(f->query, "io.hostdevd.GetDevice", params);
	json_object_put(params);
	if (!vlc_error(reply)) {
		assert_true(json_object_object_get_ex(vlc_params(reply), "device", &dev));
		json_object_get(dev);
	} else {
		assert_string_equal(vlc_error(reply), "io.hostdevd.DeviceNotFound");
	}
	json_object_put(reply);
	return dev;
}

/* The next Watch reply carries the next sequence number and one event. */
static void take_event(struct fixture *f)
{
	json_object *reply = vlc_recv(f->watch);
	json_object *p = vlc_params(reply), *ev, *dev;
	struct seen *s;

	assert_int_equal(get_int(p, "sequence"), f->sequence + 1);
	f->sequence++;
	if (!json_object_object_get_ex(p, "event", &ev))
		fail_msg("a Watch reply without an event: %s", json_object_to_json_string(reply));
	assert_true(f->n_seen < MAX_SEEN);
	s = &f->seen[f->n_seen++];
	snprintf(s->event, sizeof(s->event), "%s", get_str(ev, "event"));
	snprintf(s->id, sizeof(s->id), "%s", get_str(ev, "id"));
	snprintf(s->iface, sizeof(s->iface), "%s",
		 get_str(ev, "interface") ? get_str(ev, "interface") : "");
	assert_true(json_object_object_get_ex(ev, "device", &dev));
	s->device = json_object_get(dev);
	json_object_put(reply);
}

/* After every uevent: its Watch event, whose record must be what the daemon
 * now answers for the device (or, once it is gone, nothing). */
static void on_uevent(const char *id, const char *action, void *ctx)
{
	struct fixture *f = ctx;
	struct seen *s;
	json_object *now;

	take_event(f);
	s = &f->seen[f->n_seen - 1];
	now = get_device(f, s->id);
	if (streq(s->event, "remove") && !s->iface[0])
		assert_null(now);
	else
		vlc_assert_json_equal(now, s->device, s->id);
	json_object_put(now);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	json_object *reply;

	if (!stdm_try_start(&f->tb, &f->daemon)) {
		free(f);
		fail_msg("hostdevd did not start");
	}
	f->watch = vlc_connect(f->daemon.socket_path);
	f->query = vlc_connect(f->daemon.socket_path);
	vlc_send(f->watch, "io.hostdevd.Watch", NULL, true);
	reply = vlc_recv(f->watch);
	f->sequence = get_int(vlc_params(reply), "sequence");
	assert_null(json_object_object_get(vlc_params(reply), "event"));
	json_object_put(reply);
	tb_set_uevent_hook(f->tb, on_uevent, f);
	*state = f;
	return 0;
}

static void forget_seen(struct fixture *f)
{
	for (size_t i = 0; i < f->n_seen; i++)
		json_object_put(f->seen[i].device);
	f->n_seen = 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	/* A failed setup leaves no fixture. */
	if (!f)
		return 0;
	forget_seen(f);
	vlc_free(f->watch);
	vlc_free(f->query);
	stdm_stop(f->tb, &f->daemon);
	free(f);
	return 0;
}

/* Exactly these events were seen, in order ("event id [interface]"), and no
 * other was broadcast: every uevent's handling was confirmed by its own
 * event, so the daemon's sequence number proves there is nothing more. */
static void expect_seen(struct fixture *f, const char *const *want)
{
	json_object *reply;
	size_t n = 0;

	for (; want[n]; n++) {
		char got[96];

		if (n >= f->n_seen)
			fail_msg("event %zu: expected \"%s\", saw nothing more", n, want[n]);
		snprintf(got, sizeof(got), "%s %s%s%s", f->seen[n].event, f->seen[n].id,
			 f->seen[n].iface[0] ? " " : "", f->seen[n].iface);
		if (!streq(got, want[n]))
			fail_msg("event %zu: expected \"%s\", saw \"%s\"", n, want[n], got);
	}
	assert_int_equal(f->n_seen, n);
	reply = vlc_call(f->query, "io.hostdevd.GetStatus", NULL);
	assert_int_equal(get_int(vlc_params(reply), "sequence"), f->sequence);
	json_object_put(reply);
}

static json_object *seen_device(struct fixture *f, size_t i)
{
	assert_true(i < f->n_seen);
	return f->seen[i].device;
}

static void assert_ids(struct fixture *f, const char *params_json, const char *const *ids)
{
	json_object *params = vlc_json(params_json);
	json_object *reply = vlc_call(f->query, "io.hostdevd.ListDevices", params);
	json_object *devs;
	size_t n = 0;

	assert_true(json_object_object_get_ex(vlc_params(reply), "devices", &devs));
	for (; ids[n]; n++) {
		json_object *d = json_object_array_get_idx(devs, n);

		if (!d || !streq(get_str(d, "id"), ids[n]))
			fail_msg("%s: device %zu is %s, expected %s", params_json, n,
				 d ? get_str(d, "id") : "missing", ids[n]);
	}
	assert_int_equal(json_object_array_length(devs), n);
	json_object_put(reply);
	json_object_put(params);
}

static json_object *path(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no %s in %s", key, json_object_to_json_string(o));
	return v;
}

static void assert_json(json_object *actual, const char *expected_json, const char *what)
{
	json_object *expected = vlc_json(expected_json);

	vlc_assert_json_equal(expected, actual, what);
	json_object_put(expected);
}

/* ---- PCI ---------------------------------------------------------------- */

static void test_pci_unbind_and_bind(void **state)
{
	struct fixture *f = *state;

	tb_unbind(f->tb, "0000:02:00.0");
	tb_bind(f->tb, "0000:02:00.0", "vfio-pci");
	tb_unbind(f->tb, "0000:06:10.2");
	expect_seen(f, (const char *[]){ "unbind 0000:02:00.0", "bind 0000:02:00.0",
					 "unbind 0000:06:10.2", NULL });
	assert_null(json_object_object_get(seen_device(f, 0), "driver"));
	assert_string_equal(get_str(seen_device(f, 0), "state"), "host");
	assert_string_equal(get_str(seen_device(f, 1), "driver"), "vfio-pci");
	assert_string_equal(get_str(seen_device(f, 1), "state"), "detached");
	assert_string_equal(get_str(seen_device(f, 2), "state"), "host");
	assert_ids(f, "{\"state\":\"detached\"}", (const char *[]){ "0000:02:00.0", NULL });
	assert_ids(f, "{\"driver\":\"e1000e\"}", (const char *[]){ "0000:03:00.0", NULL });
}

static void test_pci_plug_and_unplug(void **state)
{
	struct fixture *f = *state;
	json_object *port;

	tb_plug(f->tb, "0000:07:00.0");
	expect_seen(f, (const char *[]){ "add 0000:07:00.0", "bind 0000:07:00.0", NULL });
	assert_json(seen_device(f, 1),
		    "{\"bus\":\"pci\",\"id\":\"0000:07:00.0\",\"syspath\":"
		    "\"/sys/devices/pci0000:00/0000:00:1c.4/0000:07:00.0\",\"state\":\"host\","
		    "\"vendor\":\"8086\",\"product\":\"10d3\",\"driver\":\"e1000e\","
		    "\"parent\":\"0000:00:1c.4\",\"children\":[],\"pci\":{"
		    "\"subsystem_vendor\":\"8086\",\"subsystem_device\":\"a01f\",\"class\":\"020000\","
		    "\"revision\":\"00\",\"iommu_group\":16,\"iommu_group_members\":"
		    "[\"0000:07:00.0\"],\"virtfns\":[],\"reset_methods\":[\"flr\",\"pm\",\"bus\"],"
		    "\"resettable\":true,\"boot_vga\":false,\"bridge\":false}}",
		    "the plugged NIC");
	assert_null(json_object_object_get(seen_device(f, 0), "driver"));
	port = get_device(f, "0000:00:1c.4");
	assert_json(path(port, "children"), "[\"0000:07:00.0\"]", "the slot's children");
	json_object_put(port);
	forget_seen(f);

	tb_unplug(f->tb, "0000:05:02.0");
	expect_seen(f, (const char *[]){ "unbind 0000:05:02.0", "remove 0000:05:02.0", NULL });
	/* The remove carries the last record known. */
	vlc_assert_json_equal(seen_device(f, 0), seen_device(f, 1), "the removed device");
	port = get_device(f, "0000:04:00.0");
	assert_json(path(path(port, "pci"), "iommu_group_members"),
		    "[\"0000:04:00.0\",\"0000:05:00.0\",\"0000:05:01.0\"]", "group 10 after unplug");
	assert_json(path(port, "children"), "[\"0000:05:00.0\",\"0000:05:01.0\"]",
		    "the bridge's children");
	json_object_put(port);
	assert_ids(f, "{\"iommu_group\":10}",
		   (const char *[]){ "0000:04:00.0", "0000:05:00.0", "0000:05:01.0", NULL });
}

/* A bridge goes with everything behind it, deepest first. */
static void test_pci_bridge_unplug_and_replug(void **state)
{
	struct fixture *f = *state;

	tb_unplug(f->tb, "0000:04:00.0");
	expect_seen(f, (const char *[]){ "unbind 0000:05:02.0", "remove 0000:05:02.0",
					 "unbind 0000:05:01.0", "remove 0000:05:01.0",
					 "unbind 0000:05:00.0", "remove 0000:05:00.0",
					 "remove 0000:04:00.0", NULL });
	assert_ids(f, "{\"iommu_group\":10}", (const char *[]){ NULL });
	forget_seen(f);

	tb_plug(f->tb, "0000:04:00.0");
	expect_seen(f, (const char *[]){ "add 0000:04:00.0", "add 0000:05:00.0",
					 "bind 0000:05:00.0", "add 0000:05:01.0",
					 "bind 0000:05:01.0", "add 0000:05:02.0",
					 "bind 0000:05:02.0", NULL });
	assert_ids(f, "{\"iommu_group\":10}",
		   (const char *[]){ "0000:04:00.0", "0000:05:00.0", "0000:05:01.0", "0000:05:02.0",
				     NULL });
}

/* ---- USB ---------------------------------------------------------------- */

static void test_usb_interface_unbind_and_bind(void **state)
{
	struct fixture *f = *state;

	tb_unbind(f->tb, "1-2.1:1.0");
	tb_bind(f->tb, "1-2.1:1.0", "usbhid");
	expect_seen(f, (const char *[]){ "unbind 1-2.1 1-2.1:1.0", "bind 1-2.1 1-2.1:1.0", NULL });
	assert_json(path(path(seen_device(f, 0), "usb"), "interfaces"),
		    "[{\"id\":\"1-2.1:1.0\",\"class\":\"03\",\"subclass\":\"01\",\"protocol\":\"01\"},"
		    "{\"id\":\"1-2.1:1.1\",\"class\":\"03\",\"subclass\":\"00\",\"protocol\":\"00\","
		    "\"driver\":\"usbhid\"}]",
		    "interfaces after unbind");
	assert_string_equal(get_str(seen_device(f, 0), "driver"), "usb");
	assert_json(path(path(seen_device(f, 1), "usb"), "interfaces"),
		    "[{\"id\":\"1-2.1:1.0\",\"class\":\"03\",\"subclass\":\"01\",\"protocol\":\"01\","
		    "\"driver\":\"usbhid\"},{\"id\":\"1-2.1:1.1\",\"class\":\"03\",\"subclass\":\"00\","
		    "\"protocol\":\"00\",\"driver\":\"usbhid\"}]",
		    "interfaces after bind");
}

static const char kingston_json[] =
	"{\"bus\":\"usb\",\"id\":\"1-2.4\",\"syspath\":"
	"\"/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.4\",\"state\":\"host\","
	"\"vendor\":\"0951\",\"product\":\"1666\",\"driver\":\"usb\",\"parent\":\"1-2\","
	"\"children\":[],\"usb\":{\"busnum\":1,\"devnum\":6,\"device_class\":\"00\","
	"\"bcd_device\":\"0110\",\"manufacturer\":\"Kingston\",\"product_name\":"
	"\"DataTraveler 3.0\",\"serial\":\"E0D55EA574E1F4B0C9A8002B\",\"speed\":\"480\","
	"\"authorized\":true,\"root_hub\":false,\"interfaces\":[{\"id\":\"1-2.4:1.0\","
	"\"class\":\"08\",\"subclass\":\"06\",\"protocol\":\"50\",\"driver\":\"usb-storage\"}]}}";

static void test_usb_plug(void **state)
{
	struct fixture *f = *state;
	json_object *hub, *dev;

	tb_plug(f->tb, "1-2.4");
	expect_seen(f, (const char *[]){ "add 1-2.4", "add 1-2.4 1-2.4:1.0", "bind 1-2.4 1-2.4:1.0",
					 "bind 1-2.4", NULL });
	assert_json(seen_device(f, 3), kingston_json, "the plugged drive");
	assert_null(json_object_object_get(seen_device(f, 0), "driver"));
	assert_json(path(path(seen_device(f, 0), "usb"), "interfaces"), "[]", "before its interface");
	assert_json(path(path(seen_device(f, 1), "usb"), "interfaces"),
		    "[{\"id\":\"1-2.4:1.0\",\"class\":\"08\",\"subclass\":\"06\",\"protocol\":\"50\"}]",
		    "its interface, unbound");
	hub = get_device(f, "1-2");
	assert_json(path(hub, "children"), "[\"1-2.1\",\"1-2.2\",\"1-2.3\",\"1-2.4\"]",
		    "the hub's children");
	json_object_put(hub);
	dev = get_device(f, "usb:1.6");
	assert_json(dev, kingston_json, "usb:1.6");
	json_object_put(dev);
	dev = get_device(f, "id:0951:1666:E0D55EA574E1F4B0C9A8002B");
	assert_json(dev, kingston_json, "by serial");
	json_object_put(dev);
}

/* Unplugging one of the two identical drives makes id:VVVV:PPPP name the
 * other one alone. */
static void test_usb_unplug(void **state)
{
	struct fixture *f = *state;
	json_object *before = get_device(f, "1-2.2"), *dev;

	tb_unplug(f->tb, "1-2.2");
	expect_seen(f, (const char *[]){ "unbind 1-2.2 1-2.2:1.0", "remove 1-2.2 1-2.2:1.0",
					 "unbind 1-2.2", "remove 1-2.2", NULL });
	assert_json(path(path(seen_device(f, 1), "usb"), "interfaces"), "[]", "after iface remove");
	assert_null(json_object_object_get(seen_device(f, 3), "driver"));
	assert_string_equal(get_str(seen_device(f, 3), "id"), "1-2.2");
	assert_string_equal(get_str(before, "driver"), "usb");
	json_object_put(before);
	dev = get_device(f, "id:0781:5567");
	assert_non_null(dev);
	assert_string_equal(get_str(dev, "id"), "1-2.3");
	json_object_put(dev);
	assert_null(get_device(f, "usb:1.4"));
	assert_ids(f, "{\"bus\":\"usb\"}",
		   (const char *[]){ "1-2", "1-2.1", "1-2.3", "usb1", "usb2", NULL });
}

/* A hub takes its devices with it; they come back when it does. */
static void test_usb_hub_unplug_and_replug(void **state)
{
	struct fixture *f = *state;

	tb_unplug(f->tb, "1-2");
	expect_seen(f, (const char *[]){
			       "unbind 1-2.3 1-2.3:1.0", "remove 1-2.3 1-2.3:1.0", "unbind 1-2.3",
			       "remove 1-2.3", "unbind 1-2.2 1-2.2:1.0", "remove 1-2.2 1-2.2:1.0",
			       "unbind 1-2.2", "remove 1-2.2", "unbind 1-2.1 1-2.1:1.1",
			       "remove 1-2.1 1-2.1:1.1", "unbind 1-2.1 1-2.1:1.0",
			       "remove 1-2.1 1-2.1:1.0", "unbind 1-2.1", "remove 1-2.1",
			       "unbind 1-2 1-2:1.0", "remove 1-2 1-2:1.0", "unbind 1-2", "remove 1-2",
			       NULL });
	assert_ids(f, "{\"bus\":\"usb\"}", (const char *[]){ "usb1", "usb2", NULL });
	forget_seen(f);

	tb_plug(f->tb, "1-2");
	assert_int_equal(f->n_seen, 4 + 4 * 3 + 2);
	assert_ids(f, "{\"bus\":\"usb\"}",
		   (const char *[]){ "1-2", "1-2.1", "1-2.2", "1-2.3", "usb1", "usb2", NULL });
}

/* ---- Watch itself ------------------------------------------------------- */

static void test_watchers_share_sequence_numbers(void **state)
{
	struct fixture *f = *state;
	struct vlc *late = vlc_connect(f->daemon.socket_path);
	json_object *reply, *p;

	tb_unbind(f->tb, "0000:03:00.0");
	vlc_send(late, "io.hostdevd.Watch", NULL, true);
	reply = vlc_recv(late);
	/* The first reply gives the current number: the unbind's. */
	assert_int_equal(get_int(vlc_params(reply), "sequence"), f->sequence);
	json_object_put(reply);
	tb_bind(f->tb, "0000:03:00.0", "e1000e");
	reply = vlc_recv(late);
	p = vlc_params(reply);
	assert_int_equal(get_int(p, "sequence"), f->sequence);
	vlc_assert_json_equal(seen_device(f, 1), path(path(p, "event"), "device"), "both watchers");
	json_object_put(reply);
	reply = vlc_call(f->query, "io.hostdevd.GetStatus", NULL);
	assert_int_equal(get_int(vlc_params(reply), "watchers"), 2);
	assert_int_equal(get_int(vlc_params(reply), "events_received"), 2);
	json_object_put(reply);
	vlc_free(late);
	expect_seen(f, (const char *[]){ "unbind 0000:03:00.0", "bind 0000:03:00.0", NULL });
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pci_unbind_and_bind),
		T(test_pci_plug_and_unplug),
		T(test_pci_bridge_unplug_and_replug),
		T(test_usb_interface_unbind_and_bind),
		T(test_usb_plug),
		T(test_usb_unplug),
		T(test_usb_hub_unplug_and_replug),
		T(test_watchers_share_sequence_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
