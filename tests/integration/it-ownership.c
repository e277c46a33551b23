/* Owners as the daemon takes them in and shows them (issue 12): an owner's
 * strings are checked where they come in, from a request and from the
 * state file; a claimed device that drifted back to the host is shown
 * claimed and drifted; a claim that names a stub ends on that stub or is
 * refused.  (Who may act as an owner: it-permissions.c, which needs other
 * uids.)  The real daemon on the kernel emulator. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIC "0000:03:00.0"  /* e1000e */
#define NIC2 "0000:02:00.0" /* e1000e */

static struct hdproc dead[2];
static size_t n_dead;

static int teardown(void **state)
{
	kfix_teardown(state);
	while (n_dead > 0)
		hdproc_cleanup(&dead[--n_dead]);
	return 0;
}

/* kill -9; the state directory it leaves goes to dir. */
static void crash(struct fixture *f, char dir[PATH_MAX])
{
	snprintf(dir, PATH_MAX, "%s", f->daemon.state_dir);
	assert_true(n_dead < ARRAY_SIZE(dead));
	kfix_crash(f, &dead[n_dead++]);
}

static json_object *owner_of(const char *driver, const char *domain, const char *uuid)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "driver", json_object_new_string(driver));
	json_object_object_add(o, "domain", json_object_new_string(domain));
	if (uuid)
		json_object_object_add(o, "uuid", json_object_new_string(uuid));
	return o;
}

/* {owner, devices: [NIC]} (or {owner, device: NIC} for Reset). */
static json_object *params_for(const char *method, json_object *owner)
{
	json_object *p = json_object_new_object(), *arr = json_object_new_array();

	json_object_object_add(p, "owner", owner);
	if (streq(method, "io.hostdevd.Reset")) {
		json_object_object_add(p, "device", json_object_new_string(NIC));
		json_object_put(arr);
	} else {
		json_object_array_add(arr, json_object_new_string(NIC));
		json_object_object_add(p, "devices", arr);
	}
	return p;
}

static void expect_invalid_parameter(json_object *reply, const char *param)
{
	assert_non_null(vlc_error(reply));
	assert_string_equal(vlc_error(reply), "org.varlink.service.InvalidParameter");
	assert_string_equal(kfix_str_at(vlc_reply_params(reply), "parameter", NULL), param);
	json_object_put(reply);
}

/* Issue 12 item 6: owner strings with a newline, control characters or
 * invalid UTF-8 were stored, served to every client and logged raw.  Every
 * method taking an owner refuses them, naming the field; nothing moves. */
static void test_owner_strings_refused(void **state)
{
	static const struct {
		const char *driver, *domain, *uuid, *param;
	} rows[] = {
		{ "qemu", "vm1\nhostdevd[1]: forged line", NULL, "owner.domain" },
		{ "qemu", "vm1\x1b[2J", NULL, "owner.domain" },
		/* Bytes that are not UTF-8 cannot be sent from here (the Varlink
		 * writer puts U+FFFD for them); the daemon refuses such a request
		 * as a whole (it-daemon test_strict_json_both_ways), and
		 * test_claims test_owner_strings checks the owner rule itself. */
		{ "qemu", "vm\xc2\x9b" "31m", NULL, "owner.domain" },
		{ "qe mu", "vm1", NULL, "owner.driver" },
		{ "qemu\t", "vm1", NULL, "owner.driver" },
		{ "qemu", "vm1", "not-a-uuid", "owner.uuid" },
		{ "qemu", "vm1", "6f1c2a4e-0000-4000-8000-00000000000a\n", "owner.uuid" },
	};
	static const char *const methods[] = { "io.hostdevd.Claim", "io.hostdevd.Release",
					       "io.hostdevd.Reset" };
	struct fixture *f = *state;
	char long_domain[300];
	json_object *p;
	char *log;

	for (size_t m = 0; m < ARRAY_SIZE(methods); m++)
		for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
			p = params_for(methods[m],
				       owner_of(rows[i].driver, rows[i].domain, rows[i].uuid));
			expect_invalid_parameter(vlc_call(f->c, methods[m], p), rows[i].param);
			json_object_put(p);
		}
	/* Too long; and a NUL inside, which C would read as a shorter name. */
	memset(long_domain, 'v', sizeof(long_domain) - 1);
	long_domain[sizeof(long_domain) - 1] = '\0';
	p = params_for("io.hostdevd.Claim", owner_of("qemu", long_domain, NULL));
	expect_invalid_parameter(vlc_call(f->c, "io.hostdevd.Claim", p), "owner.domain");
	json_object_put(p);
	p = params_for("io.hostdevd.Claim", json_object_new_object());
	json_object_object_add(json_object_object_get(p, "owner"), "driver",
			       json_object_new_string("qemu"));
	json_object_object_add(json_object_object_get(p, "owner"), "domain",
			       json_object_new_string_len("vm1\0x", 5));
	expect_invalid_parameter(vlc_call(f->c, "io.hostdevd.Claim", p), "owner.domain");
	json_object_put(p);
	assert_int_equal(kemu_writes(f->root, "driver_override", NULL), 0);
	assert_int_equal(kemu_writes(f->root, "reset", NULL), 0);
	assert_int_equal(kfix_claims(f), 0);
	log = hdproc_log(&f->daemon);
	assert_null(strstr(log, "forged line"));
	free(log);
	/* A domain in any script is fine, and served back as it came. */
	p = params_for("io.hostdevd.Claim",
		       owner_of("qemu", "\xe4\xbb\xae\xe6\x83\xb3-1", "6F1C2A4E-0000-4000-8000-00000000000A"));
	vlc_expect_ok(vlc_call(f->c, "io.hostdevd.Claim", p));
	json_object_put(p);
	p = vlc_call(f->c, "io.hostdevd.ListClaims", NULL);
	assert_string_equal(
		json_object_get_string(json_object_object_get(
			json_object_object_get(
				json_object_array_get_idx(
					json_object_object_get(vlc_reply_params(p), "claims"), 0),
				"owner"),
			"domain")),
		"\xe4\xbb\xae\xe6\x83\xb3-1");
	json_object_put(p);
}

/* The same rule for a hand-edited state file: a held claim whose owner is
 * not valid is forgotten (its device, on its stub, joins the pool) and the
 * owner is not logged; a record written before the uid was checked, or
 * without one, loads, as uid 0's (root's, which only admin may act on). */
static void test_state_file_owner_checked(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX], path[PATH_MAX + 16];
	json_object *reply, *claims;
	char *log;
	FILE *fp;

	vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL));
	vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Detach", NIC2, NULL));
	crash(f, dir);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "{ \"format\": \"hostdevd-state\", \"version\": 1, \"claims\": [ "
		    "{ \"device\": \"" NIC2 "\", \"phase\": \"held\", \"owner\": { \"driver\": "
		    "\"qemu\", \"domain\": \"old\" }, \"vendor\": \"8086\", \"product\": \"10d3\", "
		    "\"managed\": true, \"stub\": \"vfio-pci\", \"original_driver\": \"e1000e\", "
		    "\"since\": 1795571520 }, "
		    "{ \"device\": \"" NIC "\", \"phase\": \"held\", \"owner\": { \"driver\": "
		    "\"qemu\", \"domain\": \"vm1\\nhostdevd: forged line\" }, \"vendor\": \"8086\", "
		    "\"product\": \"10d3\", \"managed\": true, \"stub\": \"vfio-pci\", "
		    "\"original_driver\": \"e1000e\", \"uid\": 0, \"gid\": 0, \"pid\": 1, "
		    "\"since\": 1795571520 } ], \"pool\": [] }\n");
	fclose(fp);
	kfix_start_on(f, dir);
	reply = vlc_call(f->c, "io.hostdevd.ListClaims", NULL);
	claims = json_object_object_get(vlc_reply_params(reply), "claims");
	assert_int_equal(json_object_array_length(claims), 1);
	assert_string_equal(
		json_object_get_string(json_object_object_get(json_object_array_get_idx(claims, 0),
							      "device")),
		NIC2);
	assert_int_equal(json_object_get_int(json_object_object_get(
				 json_object_array_get_idx(claims, 0), "uid")),
			 0);
	json_object_put(reply);
	log = hdproc_log(&f->daemon);
	assert_non_null(strstr(log, "owner domain in the state file is not valid"));
	assert_null(strstr(log, "forged line"));
	free(log);
	/* In the pool: a Reattach gives it back to e1000e. */
	kfix_wait_state(f, NIC, "detached");
	reply = kfix_call_dev(f, "io.hostdevd.GetDevice", NIC, NULL);
	assert_string_equal(kfix_str_at(vlc_params(reply), "device", "original_driver"), "e1000e");
	json_object_put(reply);
	vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Reattach", NIC, NULL));
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
}

static json_object *get_device(struct fixture *f, const char *id, json_object **reply)
{
	*reply = kfix_call_dev(f, "io.hostdevd.GetDevice", id, NULL);
	return json_object_object_get(vlc_params(*reply), "device");
}

/* Whether ListDevices {state} lists id. */
static bool listed_in_state(struct fixture *f, const char *id, const char *state)
{
	json_object *p = json_object_new_object(), *reply, *devs;
	bool found = false;

	json_object_object_add(p, "state", json_object_new_string(state));
	reply = vlc_call(f->c, "io.hostdevd.ListDevices", p);
	json_object_put(p);
	devs = json_object_object_get(vlc_params(reply), "devices");
	for (size_t i = 0; i < json_object_array_length(devs); i++)
		found |= streq(kfix_str_at(json_object_array_get_idx(devs, i), "id", NULL), id);
	json_object_put(reply);
	return found;
}

/* Issue 12 item 13: a claimed device rebound to its host driver while the
 * daemon was down showed `state: host` while ListClaims listed it.  It is
 * shown claimed (nobody else may take it) and drifted, on its host driver;
 * ListDevices' state filter agrees. */
static void test_drifted_shown_claimed(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX];
	json_object *reply, *d, *v;

	vlc_expect_ok(kfix_owner_call(f, "io.hostdevd.Claim", NIC));
	d = get_device(f, NIC, &reply);
	assert_false(json_object_object_get_ex(d, "drifted", NULL));
	json_object_put(reply);
	crash(f, dir);
	tb_unbind(f->tb, NIC);
	tb_bind(f->tb, NIC, "e1000e");
	kfix_start_on(f, dir);
	assert_int_equal(kfix_claims(f), 1);
	d = get_device(f, NIC, &reply);
	assert_string_equal(kfix_str_at(d, "state", NULL), "claimed");
	assert_true(json_object_object_get_ex(d, "drifted", &v));
	assert_true(json_object_get_boolean(v));
	assert_string_equal(kfix_str_at(d, "driver", NULL), "e1000e");
	assert_string_equal(kfix_str_at(d, "claim", "domain"), "vm1");
	json_object_put(reply);
	assert_true(listed_in_state(f, NIC, "claimed"));
	assert_false(listed_in_state(f, NIC, "host"));
	/* Its owner can still end the claim; then it is plainly the host's. */
	vlc_expect_ok(kfix_owner_call(f, "io.hostdevd.Release", NIC));
	d = get_device(f, NIC, &reply);
	assert_string_equal(kfix_str_at(d, "state", NULL), "host");
	assert_false(json_object_object_get_ex(d, "drifted", NULL));
	json_object_put(reply);
}

static json_object *claim_on(struct fixture *f, const char *id, const char *stub)
{
	json_object *p = kfix_owner_params("qemu", "vm1", id), *reply;

	json_object_object_add(p, "driver", json_object_new_string(stub));
	reply = vlc_call(f->c, "io.hostdevd.Claim", p);
	json_object_put(p);
	return reply;
}

static void expect_invalid_state(json_object *reply, const char *state)
{
	assert_non_null(vlc_error(reply));
	assert_string_equal(vlc_error(reply), "io.hostdevd.InvalidDeviceState");
	assert_string_equal(kfix_str_at(vlc_reply_params(reply), "state", NULL), state);
	json_object_put(reply);
}

/* Issue 12 item 13: `claim --driver pci-stub` of a device on Xen's pciback
 * succeeded and left it there.  A claim naming a stub ends on it or is
 * refused, as Detach is: moving between stubs is a Reattach and a Claim.
 * Without a driver named, a device on any stub is taken as it is.  Xen's
 * stub is named by its driver, pciback, or its module, xen-pciback. */
static void test_claim_names_the_stub(void **state)
{
	struct fixture *f = *state;

	tb_unbind(f->tb, NIC);
	tb_bind(f->tb, NIC, "pciback");
	kfix_wait_state(f, NIC, "detached");
	expect_invalid_state(claim_on(f, NIC, "pci-stub"), "detached");
	expect_invalid_state(claim_on(f, NIC, "vfio-pci"), "detached");
	assert_string_equal(kfix_kernel_driver(f, NIC), "pciback");
	assert_int_equal(kemu_writes(f->root, "driver_override", NIC), 0);
	assert_int_equal(kfix_claims(f), 0);
	vlc_expect_ok(claim_on(f, NIC, "xen-pciback"));
	assert_int_equal(kfix_claims(f), 1);
	/* Re-declared for another stub: refused too, the claim unchanged. */
	expect_invalid_state(claim_on(f, NIC, "pci-stub"), "claimed");
	assert_string_equal(kfix_kernel_driver(f, NIC), "pciback");
	assert_int_equal(kfix_claims(f), 1);
	vlc_expect_ok(claim_on(f, NIC, "pciback"));
	vlc_expect_ok(claim_on(f, NIC, "xen-pciback"));
	/* Named nothing: taken on the stub it is on. */
	vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Detach", NIC2, "pci-stub"));
	vlc_expect_ok(kfix_owner_call(f, "io.hostdevd.Claim", NIC2));
	assert_string_equal(kfix_kernel_driver(f, NIC2), "pci-stub");
}

/* A managed claim to xen-pciback (the module's name) detaches the device
 * to the driver pciback, with the override "pciback": before, the override
 * said "xen-pciback", which no driver matches, and nothing ever bound. */
static void test_managed_claim_to_xen_pciback(void **state)
{
	struct fixture *f = *state;

	tb_add_driver(f->tb, "pci", "pciback");
	vlc_expect_ok(claim_on(f, NIC, "xen-pciback"));
	assert_string_equal(kfix_kernel_driver(f, NIC), "pciback");
	assert_string_equal(kfix_kernel_override(f, NIC), "pciback");
	assert_int_equal(kfix_claims(f), 1);
	vlc_expect_ok(kfix_owner_call(f, "io.hostdevd.Release", NIC));
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, kfix_setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_owner_strings_refused),
		T(test_state_file_owner_checked),
		T(test_drifted_shown_claimed),
		T(test_claim_names_the_stub),
		T(test_managed_claim_to_xen_pciback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
