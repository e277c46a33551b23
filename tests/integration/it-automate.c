/* The policy acting on its own (engine/automate.h, docs/policy.md "Acting
 * as devices appear"): detach and assign at start-up and on hotplug, the
 * repair when the host driver bound first, USB refuse with deauthorize,
 * host-critical devices left alone, the bound on tries, and devices the
 * administrator moves back left where they put them. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NIC "0000:03:00.0"  /* e1000e */
#define NIC2 "0000:02:00.0" /* e1000e */
#define GPU "0000:01:00.0"  /* boot VGA: host-critical */
#define STICK "1-2.2"       /* SanDisk Cruzer, usb-storage */
#define STICK2 "1-2.3"      /* another */
#define KINGSTON "1-2.4"    /* usb-storage, another vendor */

static const char policy_text[] =
	"rules = (\n"
	"  { match = { address = \"" NIC "\"; }; action = \"assign\";\n"
	"    owner = { driver = \"qemu\"; domain = \"router\"; }; },\n"
	"  { match = { address = \"" NIC2 "\"; }; action = \"detach\"; when = \"hotplug\"; },\n"
	"  { match = { address = \"" GPU "\"; }; action = \"detach\"; },\n"
	"  { match = { vendor = \"0781\"; interface_class = \"08\"; }; action = \"refuse\";\n"
	"    deauthorize = true; }\n"
	");\n";

static int setup(void **state)
{
	return kfix_setup_policy(state, policy_text);
}

/* The kernel's `authorized` of a USB device. */
static int authorized(struct fixture *f, const char *id)
{
	char path[PATH_MAX], buf[8] = "";
	FILE *fp;

	snprintf(path, sizeof(path), "%s%s/authorized", f->root, tb_syspath(f->tb, id));
	fp = fopen(path, "r");
	if (!fp)
		return 1; /* absent: authorized, as the kernel's default */
	if (!fgets(buf, sizeof(buf), fp))
		buf[0] = '1';
	fclose(fp);
	return atoi(buf);
}

static bool deauthorized(struct fixture *f, const void *id)
{
	return authorized(f, id) == 0;
}

/* The next `policy` reply about `id` of a watcher, skipping the rest. */
static json_object *next_policy(struct vlc *watch, const char *id)
{
	for (;;) {
		json_object *reply = vlc_recv(watch), *p;

		if (json_object_object_get_ex(vlc_params(reply), "policy", &p) &&
		    streq(kfix_str_at(p, "device", NULL), id)) {
			json_object_get(p);
			json_object_put(reply);
			return p;
		}
		json_object_put(reply);
	}
}

/* At start-up: assign and detach rules act on the devices present; the
 * hotplug-only rule does not; the USB stick of the refuse rule is
 * deauthorized, the other vendor's is not. */
static void test_startup(void **state)
{
	struct fixture *f = *state;

	kfix_wait_state(f, NIC, "detached");
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	assert_string_equal(kfix_kernel_override(f, NIC), "vfio-pci");
	assert_string_equal(kfix_kernel_driver(f, NIC2), "e1000e");
	kfix_wait_until(f, deauthorized, STICK, "the stick deauthorized");
	kfix_wait_until(f, deauthorized, STICK2, "the second stick deauthorized");
	assert_string_equal(kfix_kernel_driver(f, STICK ":1.0"), "");
	/* Another vendor's stick, plugged now: left alone. */
	tb_plug(f->tb, KINGSTON);
	kfix_wait_state(f, KINGSTON, "host");
	json_object_put(vlc_call(f->c, "org.varlink.service.GetInfo", NULL));
	assert_int_equal(authorized(f, KINGSTON), 1);
	assert_string_equal(kfix_kernel_driver(f, KINGSTON ":1.0"), "usb-storage");
	/* The host-critical GPU is refused, not moved, and the log says why. */
	kfix_wait_log(f, "policy detach");
	kfix_wait_log(f, "io.hostdevd.HostCritical");
	assert_string_equal(kfix_kernel_driver(f, GPU), "nouveau");
}

/* Hotplug: the kernel binds e1000e as the card appears; the daemon moves
 * it to vfio-pci and tells watchers. */
static void test_hotplug_detach(void **state)
{
	struct fixture *f = *state;
	struct vlc *watch = vlc_connect(f->daemon.socket_path);
	json_object *p;

	vlc_send(watch, "io.hostdevd.Watch", NULL, true);
	json_object_put(vlc_recv(watch));
	tb_unplug(f->tb, NIC2);
	tb_plug(f->tb, NIC2);
	p = next_policy(watch, NIC2);
	assert_string_equal(kfix_str_at(p, "action", NULL), "detach");
	assert_string_equal(kfix_str_at(p, "device", NULL), NIC2);
	assert_string_equal(kfix_str_at(p, "outcome", NULL), "done");
	assert_string_equal(kfix_str_at(p, "file", NULL), f->policy_path);
	json_object_put(p);
	vlc_free(watch);
	kfix_wait_state(f, NIC2, "detached");
	assert_string_equal(kfix_kernel_driver(f, NIC2), "vfio-pci");
	/* Reattached by the administrator: it stays with e1000e. */
	json_object_put(kfix_call_dev(f, "io.hostdevd.Reattach", NIC2, NULL));
	kfix_wait_state(f, NIC2, "host");
	json_object_put(vlc_call(f->c, "org.varlink.service.GetInfo", NULL));
	assert_string_equal(kfix_kernel_driver(f, NIC2), "e1000e");
	kfix_wait_state(f, NIC2, "host");
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* The daemon has answered `n` automatic tries on NIC2 (each failed). */
static bool tries_failed(struct fixture *f, const void *arg)
{
	char *log = hdproc_log(&f->daemon);
	size_t n = log ? count(log, NIC2 ": policy detach (") : 0;

	free(log);
	return n >= (size_t)(uintptr_t)arg;
}

/* The daemon's record of NIC2 has no driver. */
static bool unbound_seen(struct fixture *f, const void *arg)
{
	json_object *reply = kfix_call_dev(f, "io.hostdevd.GetDevice", NIC2, NULL);
	bool none = !kfix_str_at(vlc_params(reply), "device", "driver");

	(void)arg;
	json_object_put(reply);
	return none;
}

/* A stub that will not take the card: the rollback gives it back to
 * e1000e, and each later bind of a host driver (someone else's: a udev
 * rule, a person) is another try, up to three; then the daemon stops
 * fighting and says so. */
static void test_gives_up(void **state)
{
	struct fixture *f = *state;
	char *log;

	kemu_refuse_driver(f->root, NIC2, "vfio-pci");
	tb_unplug(f->tb, NIC2);
	tb_plug(f->tb, NIC2);
	for (uintptr_t i = 1; i <= 3; i++) {
		kfix_wait_until(f, tries_failed, (const void *)i, "a failed try");
		kfix_wait_state(f, NIC2, "host");
		/* One step at a time: a monitor that reads sysfs after both
		 * would see no change.  The rollback's reprobe may have found
		 * the card still claimed by the kernel's own probe of the add
		 * (which the override sent to vfio-pci, which refuses): then
		 * nothing is bound, and the bind alone is the host driver's. */
		if (tb_driver(f->tb, NIC2)) {
			tb_unbind(f->tb, NIC2);
			kfix_wait_until(f, unbound_seen, NULL, "the unbind seen");
		}
		tb_bind(f->tb, NIC2, "e1000e");
	}
	kfix_wait_log(f, "gave up after 3 tries");
	kfix_wait_state(f, NIC2, "host");
	assert_string_equal(kfix_kernel_driver(f, NIC2), "e1000e");
	log = hdproc_log(&f->daemon);
	assert_int_equal(count(log, NIC2 ": policy detach ("), 3);
	free(log);
	/* Each try wrote the override and cleared it in the rollback. */
	assert_int_equal(kemu_writes(f->root, "driver_override", NIC2), 6);
}

/* A refused stick plugged again is deauthorized again; its interface
 * appears after it, so the interface_class rule decides on that event. */
static void test_hotplug_deauthorize(void **state)
{
	struct fixture *f = *state;
	struct vlc *watch;
	json_object *p, *reply;

	kfix_wait_until(f, deauthorized, STICK, "the stick deauthorized");
	watch = vlc_connect(f->daemon.socket_path);
	vlc_send(watch, "io.hostdevd.Watch", NULL, true);
	json_object_put(vlc_recv(watch));
	tb_unplug(f->tb, STICK);
	tb_plug(f->tb, STICK); /* a new device: authorized, usb-storage bound */
	p = next_policy(watch, STICK);
	assert_string_equal(kfix_str_at(p, "action", NULL), "refuse");
	assert_string_equal(kfix_str_at(p, "device", NULL), STICK);
	assert_string_equal(kfix_str_at(p, "outcome", NULL), "done");
	json_object_put(p);
	vlc_free(watch);
	assert_int_equal(authorized(f, STICK), 0);
	reply = kfix_call_dev(f, "io.hostdevd.GetDevice", STICK, NULL);
	assert_string_equal(json_object_to_json_string(
				    json_object_object_get(json_object_object_get(
								   json_object_object_get(
									   vlc_params(reply), "device"),
								   "usb"),
							   "authorized")),
			    "false");
	json_object_put(reply);
	/* A claim of it is refused by the same rule. */
	reply = kfix_owner_call(f, "io.hostdevd.Claim", STICK);
	assert_string_equal(vlc_error(reply), "io.hostdevd.PolicyRefused");
	json_object_put(reply);
}

/* ---- vfio-pci variants named by a rule (kfix.h's variant machine) ------- */

/* NIC by the variant's module name, at start-up; NIC2 by its driver's
 * name, as it appears. */
static const char variant_policy[] =
	"rules = (\n"
	"  { match = { address = \"" NIC "\"; }; action = \"assign\";\n"
	"    owner = { driver = \"qemu\"; domain = \"router\"; }; driver = \"" KFIX_VARIANT_MODULE
	"\"; },\n"
	"  { match = { address = \"" NIC2 "\"; }; action = \"detach\"; when = \"hotplug\";\n"
	"    driver = \"" KFIX_VARIANT_DRIVER "\"; }\n"
	");\n";

static int variant_setup(void **state)
{
	return kfix_setup_variants(state, variant_policy);
}

/* A rule naming the variant, by its module's name or its driver's,
 * detaches onto the driver the module registered (the override names it),
 * at start-up and on hotplug alike; the assign's owner claims it there. */
static void test_variant_named_by_rules(void **state)
{
	struct fixture *f = *state;
	struct vlc *watch;
	json_object *p, *reply, *params = kfix_owner_params("qemu", "router", NIC);

	kfix_wait_state(f, NIC, "detached");
	assert_string_equal(kfix_kernel_driver(f, NIC), KFIX_VARIANT_DRIVER);
	assert_string_equal(kfix_kernel_override(f, NIC), KFIX_VARIANT_DRIVER);
	assert_string_equal(kfix_kernel_driver(f, NIC2), "e1000e");
	reply = vlc_call(f->c, "io.hostdevd.Claim", params);
	json_object_put(params);
	assert_string_equal(kfix_str_at(json_object_array_get_idx(
						json_object_object_get(vlc_params(reply), "claims"), 0),
					"driver", NULL),
			    KFIX_VARIANT_DRIVER);
	json_object_put(reply);

	watch = vlc_connect(f->daemon.socket_path);
	vlc_send(watch, "io.hostdevd.Watch", NULL, true);
	json_object_put(vlc_recv(watch));
	tb_unplug(f->tb, NIC2);
	tb_plug(f->tb, NIC2);
	p = next_policy(watch, NIC2);
	assert_string_equal(kfix_str_at(p, "action", NULL), "detach");
	assert_string_equal(kfix_str_at(p, "outcome", NULL), "done");
	json_object_put(p);
	vlc_free(watch);
	kfix_wait_state(f, NIC2, "detached");
	assert_string_equal(kfix_kernel_driver(f, NIC2), KFIX_VARIANT_DRIVER);
	assert_string_equal(kfix_kernel_override(f, NIC2), KFIX_VARIANT_DRIVER);
}

/* driver = "auto" takes the variant modules.alias picks; a rule with no
 * driver keeps plain vfio-pci, as the generated udev rules do. */
static const char auto_policy[] =
	"rules = (\n"
	"  { match = { address = \"" NIC "\"; }; action = \"detach\"; driver = \"auto\"; },\n"
	"  { match = { address = \"" NIC2 "\"; }; action = \"detach\"; }\n"
	");\n";

static int auto_setup(void **state)
{
	return kfix_setup_variants(state, auto_policy);
}

static void test_auto_opts_in(void **state)
{
	struct fixture *f = *state;

	kfix_wait_state(f, NIC, "detached");
	kfix_wait_state(f, NIC2, "detached");
	assert_string_equal(kfix_kernel_driver(f, NIC), KFIX_VARIANT_DRIVER);
	assert_string_equal(kfix_kernel_override(f, NIC), KFIX_VARIANT_DRIVER);
	assert_string_equal(kfix_kernel_driver(f, NIC2), "vfio-pci");
	assert_string_equal(kfix_kernel_override(f, NIC2), "vfio-pci");
}

/* A rule naming a variant whose module does not load (modules.alias has
 * it; in the mock nothing loads), or one this host does not have at all:
 * the action fails, the device stays on e1000e with nothing written, and
 * the log and Watch say why; never plain vfio-pci instead. */
static const char absent_policy[] =
	"rules = (\n"
	"  { match = { address = \"" NIC "\"; }; action = \"detach\"; driver = \""
	KFIX_VARIANT_ABSENT "\"; },\n"
	"  { match = { address = \"" NIC2 "\"; }; action = \"detach\";\n"
	"    driver = \"mlx5_vfio_pci\"; }\n"
	");\n";

static int absent_setup(void **state)
{
	return kfix_setup_variants(state, absent_policy);
}

static void test_variant_absent_stays_with_the_host(void **state)
{
	struct fixture *f = *state;
	struct vlc *watch;
	json_object *p;
	char *log;

	/* Said as the policy is installed, before it acts. */
	kfix_wait_log(f, "policy: rule 2 (");
	kfix_wait_log(f, "): driver \"mlx5_vfio_pci\" is no stub driver and no vfio-pci variant "
			 "of this host: its detach will fail, and the devices it matches stay with "
			 "the host");
	kfix_wait_log(f, NIC ": policy detach (");
	kfix_wait_log(f, NIC2 ": policy detach (");
	kfix_wait_log(f, "not done: io.hostdevd.OperationFailed: module " KFIX_VARIANT_ABSENT
			 " is not loaded");
	kfix_wait_log(f, "not done: io.hostdevd.UnknownDriver: \"mlx5_vfio_pci\" is no stub "
			 "driver and no vfio-pci variant of this host; it takes vfio-pci, pci-stub, "
			 "pciback, xen-pciback, " KFIX_VARIANT_DRIVER);
	kfix_wait_state(f, NIC, "host");
	kfix_wait_state(f, NIC2, "host");
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_string_equal(kfix_kernel_driver(f, NIC2), "e1000e");
	assert_int_equal(kemu_writes(f->root, "driver_override", NULL), 0);
	/* A variant modules.alias has is not called unknown: only its load
	 * can tell. */
	log = hdproc_log(&f->daemon);
	assert_null(strstr(log, "\"" KFIX_VARIANT_ABSENT "\" is no stub"));
	free(log);

	/* As it appears: a watcher is told the failure and why. */
	watch = vlc_connect(f->daemon.socket_path);
	vlc_send(watch, "io.hostdevd.Watch", NULL, true);
	json_object_put(vlc_recv(watch));
	tb_unplug(f->tb, NIC2);
	tb_plug(f->tb, NIC2);
	p = next_policy(watch, NIC2);
	assert_string_equal(kfix_str_at(p, "outcome", NULL), "failed");
	assert_string_equal(kfix_str_at(p, "error", NULL), "io.hostdevd.UnknownDriver");
	assert_non_null(strstr(kfix_str_at(p, "reason", NULL),
			       "\"mlx5_vfio_pci\" is no stub driver and no vfio-pci variant"));
	json_object_put(p);
	vlc_free(watch);
	kfix_wait_state(f, NIC2, "host");
	assert_string_equal(kfix_kernel_driver(f, NIC2), "e1000e");
	assert_int_equal(kemu_writes(f->root, "driver_override", NULL), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, kfix_teardown)
	const struct CMUnitTest tests[] = {
		T(test_startup),
		T(test_hotplug_detach),
		T(test_gives_up),
		T(test_hotplug_deauthorize),
		cmocka_unit_test_setup_teardown(test_variant_named_by_rules, variant_setup,
						kfix_teardown),
		cmocka_unit_test_setup_teardown(test_auto_opts_in, auto_setup, kfix_teardown),
		cmocka_unit_test_setup_teardown(test_variant_absent_stays_with_the_host,
						absent_setup, kfix_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
