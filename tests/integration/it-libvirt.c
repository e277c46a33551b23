/* libvirt's own hostdev semantics (issue 14) end to end on the kernel
 * emulator: a managed claim of a device in the detached pool goes back to
 * the pool at release, also across a restart; managed per device in one
 * atomic Claim; a racer told whose Claim holds the device; libhostdev
 * surviving a daemon restart between two calls, listing the pool and
 * watching. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"
#include "libhostdev/hostdev.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NIC "0000:03:00.0"  /* e1000e */
#define NIC2 "0000:02:00.0" /* e1000e */
#define VF "0000:06:10.2"   /* already on vfio-pci */

static struct hdproc dead[4];
static size_t n_dead;

static int teardown(void **state)
{
	kfix_teardown(state);
	while (n_dead > 0)
		hdproc_cleanup(&dead[--n_dead]);
	return 0;
}

/* kill -9 and a new daemon on the same state directory and socket path,
 * as systemd would restart it. */
static void restart(struct fixture *f)
{
	char dir[PATH_MAX], sock[PATH_MAX];
	struct hdproc_config cfg = { .state_dir = dir, .socket_path = sock };

	snprintf(dir, sizeof(dir), "%s", f->daemon.state_dir);
	snprintf(sock, sizeof(sock), "%s", f->daemon.socket_path);
	assert_true(n_dead < ARRAY_SIZE(dead));
	kfix_crash(f, &dead[n_dead++]);
	hdproc_start_ok(&f->daemon, &cfg);
	f->c = vlc_connect(f->daemon.socket_path);
}

/* {owner: qemu/vm1, hostdevs: [{device, managed}...]} claim; managed < 0
 * leaves it out of the entry. */
static json_object *claim_hostdevs(struct fixture *f, const char *const *ids, const int *managed,
				   size_t n)
{
	json_object *p = kfix_owner_params("qemu", "vm1", NULL), *arr = json_object_new_array();
	json_object *reply;

	for (size_t i = 0; i < n; i++) {
		json_object *h = json_object_new_object();

		json_object_object_add(h, "device", json_object_new_string(ids[i]));
		if (managed[i] >= 0)
			json_object_object_add(h, "managed", json_object_new_boolean(managed[i]));
		json_object_array_add(arr, h);
	}
	json_object_object_add(p, "hostdevs", arr);
	reply = vlc_call(f->c, "io.hostdevd.Claim", p);
	json_object_put(p);
	return reply;
}

static const char *state_of(struct fixture *f, const char *id, char *buf, size_t size)
{
	json_object *reply = kfix_call_dev(f, "io.hostdevd.GetDevice", id, NULL);

	snprintf(buf, size, "%s", kfix_str_at(vlc_params(reply), "device", "state"));
	json_object_put(reply);
	return buf;
}

static bool bool_at(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

/* ---- (a) the detached pool outlives a managed claim ---------------------- */

static void test_pool_device_returns_to_pool(void **state)
{
	struct fixture *f = *state;
	struct vlc *w = vlc_connect(f->daemon.socket_path);
	json_object *reply, *v, *ev;
	char buf[32];
	bool nic_left_pool = false, saw_nic = false;

	vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL));
	assert_int_equal(kemu_writes(f->root, "unbind", NIC), 1);
	/* A managed claim (the default) of a device the administrator detached. */
	reply = kfix_owner_call(f, "io.hostdevd.Claim", NIC);
	assert_null(vlc_error(reply));
	assert_true(json_object_object_get_ex(vlc_params(reply), "claims", &v));
	assert_true(bool_at(json_object_array_get_idx(v, 0), "managed"));
	assert_true(bool_at(json_object_array_get_idx(v, 0), "from_pool"));
	json_object_put(reply);
	assert_string_equal(state_of(f, NIC, buf, sizeof(buf)), "claimed");

	vlc_send(w, "io.hostdevd.Watch", NULL, true);
	json_object_put(vlc_recv(w)); /* the sequence */
	reply = kfix_owner_call(f, "io.hostdevd.Release", NIC);
	assert_null(vlc_error(reply));
	assert_true(json_object_object_get_ex(vlc_params(reply), "outcomes", &v));
	assert_int_equal(json_object_array_length(v), 1);
	assert_string_equal(kfix_str_at(json_object_array_get_idx(v, 0), "device", NULL), NIC);
	assert_string_equal(kfix_str_at(json_object_array_get_idx(v, 0), "to", NULL), "pool");
	assert_string_equal(kfix_str_at(json_object_array_get_idx(v, 0), "driver", NULL),
			    "vfio-pci");
	json_object_put(reply);
	/* Still the administrator's: on vfio-pci, in the pool, nothing written. */
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	assert_int_equal(kemu_writes(f->root, "unbind", NIC), 1);
	reply = kfix_call_dev(f, "io.hostdevd.GetDevice", NIC, NULL);
	assert_string_equal(kfix_str_at(vlc_params(reply), "device", "state"), "detached");
	assert_string_equal(kfix_str_at(vlc_params(reply), "device", "original_driver"), "e1000e");
	json_object_put(reply);

	/* Watch: the NIC went claimed -> detached and no further; the detach
	 * of NIC2 after it closes the window (events come in order). */
	vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Detach", NIC2, NULL));
	for (;;) {
		const char *id, *st;

		ev = vlc_recv(w);
		assert_null(vlc_error(ev));
		id = kfix_str_at(vlc_params(ev), "event", "id");
		json_object_object_get_ex(vlc_params(ev), "event", &v);
		st = kfix_str_at(v, "device", "state");
		if (id && streq(id, NIC)) {
			saw_nic = true;
			nic_left_pool |= !streq(st, "detached");
		}
		if (id && streq(id, NIC2) && streq(st, "detached")) {
			json_object_put(ev);
			break;
		}
		json_object_put(ev);
	}
	assert_true(saw_nic);
	assert_false(nic_left_pool);
	vlc_free(w);

	/* The administrator's Reattach hands it back. */
	reply = kfix_call_dev(f, "io.hostdevd.Reattach", NIC, NULL);
	assert_string_equal(kfix_str_at(vlc_params(reply), "outcome", NULL), "original");
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");

	/* A managed claim of a device on its host driver still goes back there. */
	vlc_expect_ok(kfix_owner_call(f, "io.hostdevd.Claim", NIC));
	reply = kfix_owner_call(f, "io.hostdevd.Release", NIC);
	assert_true(json_object_object_get_ex(vlc_params(reply), "outcomes", &v));
	assert_string_equal(kfix_str_at(json_object_array_get_idx(v, 0), "to", NULL), "host");
	assert_string_equal(kfix_str_at(json_object_array_get_idx(v, 0), "driver", NULL),
			    "e1000e");
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
}

static void test_pool_claim_survives_a_restart(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *v;
	char buf[32];

	vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL));
	vlc_expect_ok(kfix_owner_call(f, "io.hostdevd.Claim", NIC));
	restart(f);
	reply = vlc_call(f->c, "io.hostdevd.ListClaims", NULL);
	assert_true(json_object_object_get_ex(vlc_params(reply), "claims", &v));
	assert_int_equal(json_object_array_length(v), 1);
	assert_true(bool_at(json_object_array_get_idx(v, 0), "from_pool"));
	json_object_put(reply);
	reply = kfix_owner_call(f, "io.hostdevd.Release", NIC);
	assert_true(json_object_object_get_ex(vlc_params(reply), "outcomes", &v));
	assert_string_equal(kfix_str_at(json_object_array_get_idx(v, 0), "to", NULL), "pool");
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	assert_string_equal(state_of(f, NIC, buf, sizeof(buf)), "detached");
	assert_int_equal(kemu_writes(f->root, "unbind", NIC), 1);
}

/* ---- (b) managed per device, all or nothing ------------------------------ */

static void test_managed_per_device(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *v;
	char buf[32];

	reply = claim_hostdevs(f, (const char *const[]){ NIC, VF }, (const int[]){ -1, 0 }, 2);
	assert_null(vlc_error(reply));
	assert_true(json_object_object_get_ex(vlc_params(reply), "claims", &v));
	assert_int_equal(json_object_array_length(v), 2);
	assert_string_equal(kfix_str_at(json_object_array_get_idx(v, 0), "device", NULL), NIC);
	assert_true(bool_at(json_object_array_get_idx(v, 0), "managed"));
	assert_string_equal(kfix_str_at(json_object_array_get_idx(v, 1), "device", NULL), VF);
	assert_false(bool_at(json_object_array_get_idx(v, 1), "managed"));
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	assert_string_equal(kfix_kernel_driver(f, VF), "vfio-pci");

	reply = kfix_owner_call(f, "io.hostdevd.Release", NULL);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_driver(f, VF), "vfio-pci");
	assert_string_equal(state_of(f, VF, buf, sizeof(buf)), "detached");
	assert_string_equal(state_of(f, NIC, buf, sizeof(buf)), "host");
}

static void test_managed_per_device_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *p;

	/* NIC2 unmanaged but on its host driver: refused before any write. */
	reply = claim_hostdevs(f, (const char *const[]){ NIC, NIC2 }, (const int[]){ 1, 0 }, 2);
	assert_string_equal(vlc_error(reply), "io.hostdevd.InvalidDeviceState");
	assert_string_equal(vlc_param_str(reply, "device"), NIC2);
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "unbind", NIC), 0);
	assert_int_equal(kfix_claims(f), 0);

	/* The second managed device fails in the kernel: the first, detached
	 * by this claim, goes back, the unmanaged one stays, nothing is held. */
	kemu_fault(f->root, "unbind", NIC2, EBUSY);
	reply = claim_hostdevs(f, (const char *const[]){ VF, NIC, NIC2 },
			       (const int[]){ 0, 1, 1 }, 3);
	assert_string_equal(vlc_error(reply), "io.hostdevd.OperationFailed");
	assert_string_equal(vlc_param_str(reply, "device"), NIC2);
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_driver(f, NIC2), "e1000e");
	assert_string_equal(kfix_kernel_driver(f, VF), "vfio-pci");
	assert_int_equal(kfix_claims(f), 0);
	kfix_wait_state(f, NIC, "host");
	kfix_wait_state(f, VF, "detached");

	/* One device asked managed and unmanaged at once. */
	p = kfix_owner_params("qemu", "vm1", NIC);
	json_object_object_add(p, "hostdevs", vlc_json("[{\"device\":\"" NIC "\","
						       "\"managed\":false}]"));
	reply = vlc_call(f->c, "io.hostdevd.Claim", p);
	json_object_put(p);
	assert_string_equal(vlc_error(reply), "org.varlink.service.InvalidParameter");
	assert_string_equal(vlc_param_str(reply, "parameter"), "hostdevs");
	json_object_put(reply);
	/* An entry with a field the schema does not have. */
	p = kfix_owner_params("qemu", "vm1", NULL);
	json_object_object_add(p, "hostdevs", vlc_json("[{\"device\":\"" NIC "\","
						       "\"managd\":false}]"));
	reply = vlc_call(f->c, "io.hostdevd.Claim", p);
	json_object_put(p);
	assert_string_equal(vlc_param_str(reply, "parameter"), "hostdevs");
	json_object_put(reply);
	assert_int_equal(kfix_claims(f), 0);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
}

/* ---- (d) whose claim is in progress ---------------------------------------- */

static void test_racer_told_whose_claim(void **state)
{
	struct fixture *f = *state;
	struct vlc *first = vlc_connect(f->daemon.socket_path);
	json_object *p = kfix_owner_params("qemu", "vm1", NIC), *reply;

	kemu_block(f->root, "unbind", NIC);
	vlc_send(first, "io.hostdevd.Claim", p, false);
	json_object_put(p);
	assert_true(kemu_wait_blocked(f->root, "unbind", NIC, IT_TIMEOUT_MS));

	p = kfix_owner_params("libxl", "vm2", NIC);
	reply = vlc_call(f->c, "io.hostdevd.Claim", p);
	json_object_put(p);
	assert_string_equal(vlc_error(reply), "io.hostdevd.DeviceBusy");
	assert_string_equal(vlc_param_str(reply, "device"), NIC);
	assert_string_equal(vlc_param_str(reply, "operation"), "Claim");
	assert_string_equal(vlc_param_str(reply, "driver"), "qemu");
	assert_string_equal(vlc_param_str(reply, "domain"), "vm1");
	json_object_put(reply);
	/* A node-level Detach is told the same. */
	reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL);
	assert_string_equal(vlc_error(reply), "io.hostdevd.DeviceBusy");
	assert_string_equal(vlc_param_str(reply, "driver"), "qemu");
	assert_string_equal(vlc_param_str(reply, "domain"), "vm1");
	json_object_put(reply);

	kemu_release(f->root, "unbind", NIC);
	vlc_expect_ok(vlc_recv(first));
	vlc_free(first);
	/* A Detach running on its own names no owner. */
	vlc_expect_ok(kfix_owner_call(f, "io.hostdevd.Release", NIC));
	kemu_block(f->root, "unbind", NIC2);
	first = vlc_connect(f->daemon.socket_path);
	p = kfix_dev_params(NIC2, NULL);
	vlc_send(first, "io.hostdevd.Detach", p, false);
	json_object_put(p);
	assert_true(kemu_wait_blocked(f->root, "unbind", NIC2, IT_TIMEOUT_MS));
	reply = kfix_owner_call(f, "io.hostdevd.Claim", NIC2);
	assert_string_equal(vlc_error(reply), "io.hostdevd.DeviceBusy");
	assert_string_equal(vlc_param_str(reply, "operation"), "Detach");
	assert_false(json_object_object_get_ex(vlc_reply_params(reply), "driver", NULL));
	json_object_put(reply);
	kemu_release(f->root, "unbind", NIC2);
	vlc_expect_ok(vlc_recv(first));
	vlc_free(first);
}

/* ---- (c) libhostdev across a restart; the pool; Watch --------------------- */

static void test_libhostdev_survives_a_restart(void **state)
{
	struct fixture *f = *state;
	struct hd_owner owner = { .driver = "qemu", .domain = "vm1" };
	struct hd_error *err = NULL;
	struct hd_manager *mgr = hd_manager_open(f->daemon.socket_path, &err);
	struct hd_claim_list *claims = NULL;
	struct hd_device_list *pool = NULL;
	const char *ids[] = { NIC };

	assert_non_null(mgr);
	assert_int_equal(hd_list_active(mgr, NULL, NULL, &claims, &err), 0);
	hd_claim_list_free(claims);

	/* A read right after a restart. */
	restart(f);
	assert_int_equal(hd_list_active(mgr, NULL, NULL, &claims, &err), 0);
	assert_null(err);
	assert_int_equal(hd_claim_list_count(claims), 0);
	hd_claim_list_free(claims);

	/* A Claim right after a restart: the old connection was closed, so
	 * the claim never left; it goes on a new one. */
	restart(f);
	assert_int_equal(hd_node_detach(mgr, NIC, NULL, &err), 0);
	restart(f);
	assert_int_equal(hd_prepare_pci_devices(mgr, &owner, ids, 1, 0, NULL, &err), 0);
	assert_null(err);
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	restart(f);
	assert_int_equal(hd_reattach_pci_devices(mgr, &owner, ids, 1, 0, &err), 0);
	/* Claimed from the pool: back in it. */
	assert_int_equal(hd_list_detached(mgr, &pool, &err), 0);
	{
		bool found = false;

		for (size_t i = 0; i < hd_device_list_count(pool); i++) {
			const struct hd_device *d = hd_device_list_at(pool, i);

			if (streq(hd_device_id(d), NIC)) {
				found = true;
				assert_string_equal(hd_device_state(d), "detached");
				assert_string_equal(hd_device_driver(d), "vfio-pci");
				assert_string_equal(hd_device_original_driver(d), "e1000e");
				assert_string_equal(hd_device_bus(d), "pci");
				assert_null(hd_device_claim_driver(d));
			}
		}
		assert_true(found);
	}
	hd_device_list_free(pool);
	assert_int_equal(hd_list_devices(mgr, "pci", "claimed", &pool, &err), 0);
	assert_int_equal(hd_device_list_count(pool), 0);
	hd_device_list_free(pool);
	hd_manager_free(mgr);
}

/* The next event of w for `id` (others skipped). */
static struct hd_device_event *next_for(struct hd_watch *w, const char *id)
{
	struct hd_error *err = NULL;

	for (;;) {
		struct hd_device_event *ev = NULL;
		int r = hd_watch_next(w, IT_TIMEOUT_MS, &ev, &err);

		if (r <= 0)
			fail_msg("no event for %s: %d %s", id, r, err ? hd_error_message(err) : "");
		if (streq(hd_device_event_kind(ev), "resync") ||
		    (hd_device_event_device(ev) &&
		     streq(hd_device_id(hd_device_event_device(ev)), id)))
			return ev;
		hd_device_event_free(ev);
	}
}

static void test_libhostdev_watch(void **state)
{
	struct fixture *f = *state;
	struct hd_error *err = NULL;
	struct hd_manager *mgr = hd_manager_open(f->daemon.socket_path, &err);
	struct hd_watch *w = hd_watch_open(mgr, &err);
	struct hd_device_event *ev = NULL;
	int64_t seq;

	assert_non_null(w);
	assert_true(hd_watch_fd(w) >= 0);
	/* Nothing yet: the call comes back without waiting. */
	assert_int_equal(hd_watch_next(w, 0, &ev, &err), 0);
	assert_null(ev);
	assert_int_equal(hd_node_detach(mgr, NIC, NULL, &err), 0);
	do {
		hd_device_event_free(ev);
		ev = next_for(w, NIC);
	} while (!streq(hd_device_state(hd_device_event_device(ev)), "detached"));
	seq = hd_device_event_sequence(ev);
	assert_true(seq > 0);
	assert_non_null(strstr(hd_device_event_json(ev), NIC));
	hd_device_event_free(ev);

	/* hostdevd restarts: the watch says resync, then goes on. */
	restart(f);
	ev = next_for(w, NIC);
	assert_string_equal(hd_device_event_kind(ev), "resync");
	assert_null(hd_device_event_device(ev));
	hd_device_event_free(ev);
	assert_int_equal(hd_node_reattach(mgr, NIC, NULL, &err), 0);
	ev = NULL;
	do {
		hd_device_event_free(ev);
		ev = next_for(w, NIC);
	} while (!streq(hd_device_state(hd_device_event_device(ev)), "host"));
	hd_device_event_free(ev);
	hd_watch_free(w);
	hd_manager_free(mgr);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, kfix_setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pool_device_returns_to_pool),
		T(test_pool_claim_survives_a_restart),
		T(test_managed_per_device),
		T(test_managed_per_device_all_or_nothing),
		T(test_racer_told_whose_claim),
		T(test_libhostdev_survives_a_restart),
		T(test_libhostdev_watch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
