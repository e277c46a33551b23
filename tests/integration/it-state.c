/* Durable state end to end (docs/state.md): the real daemon on the kernel
 * emulator, killed with SIGKILL and started again on the same state
 * directory.  Acknowledged claims and the detached pool survive; a device
 * gone while the daemon was down keeps its claim; one that drifted back to
 * its host driver keeps its claim and is reported; a claim never
 * acknowledged is rolled back; a state file that cannot be read stops the
 * start; a full state directory refuses claims and leaves no partial
 * record. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define NIC "0000:03:00.0"  /* e1000e */
#define NIC2 "0000:02:00.0" /* e1000e */

/* Daemons killed by a test: their directories hold the state directory the
 * next one uses, so they are cleaned up only at the end. */
static struct hdproc dead[4];
static size_t n_dead;

static int teardown(void **state)
{
	kfix_teardown(state);
	while (n_dead > 0)
		hdproc_cleanup(&dead[--n_dead]);
	return 0;
}

#define claim(f, id) kfix_owner_call(f, "io.hostdevd.Claim", id)
#define release(f, id) kfix_owner_call(f, "io.hostdevd.Release", id)

static const char *state_dir(struct fixture *f)
{
	return f->daemon.state_dir;
}

static void crash(struct fixture *f)
{
	struct hdproc gone;

	kfix_crash(f, &gone);
	assert_true(n_dead < ARRAY_SIZE(dead));
	dead[n_dead++] = gone;
}

static void restart(struct fixture *f)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", state_dir(f));
	crash(f);
	kfix_start_on(f, dir);
}

static json_object *device(struct fixture *f, const char *id, json_object **reply)
{
	json_object *d;

	*reply = kfix_call_dev(f, "io.hostdevd.GetDevice", id, NULL);
	assert_true(json_object_object_get_ex(vlc_params(*reply), "device", &d));
	return d;
}

/* GetStatus lists `id` as needing attention for `what`. */
static void assert_attention(struct fixture *f, const char *id, const char *what)
{
	json_object *reply = vlc_call(f->c, "io.hostdevd.GetStatus", NULL), *att;
	bool found = false;

	assert_true(json_object_object_get_ex(vlc_params(reply), "attention", &att));
	for (size_t i = 0; i < json_object_array_length(att); i++) {
		json_object *a = json_object_array_get_idx(att, i);

		found |= streq(kfix_str_at(a, "device", NULL), id) &&
			 streq(kfix_str_at(a, "what", NULL), what);
	}
	if (!found)
		fail_msg("%s not listed as %s: %s", id, what, json_object_to_json_string(att));
	json_object_put(reply);
}

static void test_claim_survives_a_crash(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *d;

	vlc_expect_ok(claim(f, NIC));
	restart(f);
	assert_int_equal(kfix_claims(f), 1);
	d = device(f, NIC, &reply);
	assert_string_equal(kfix_str_at(d, "state", NULL), "claimed");
	assert_string_equal(kfix_str_at(d, "claim", "domain"), "vm1");
	assert_string_equal(kfix_str_at(d, "original_driver", NULL), "e1000e");
	json_object_put(reply);
	/* Another owner is still refused, and the release restores e1000e:
	 * the original driver came from the state file. */
	reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL);
	assert_string_equal(vlc_error(reply), "io.hostdevd.DeviceInUse");
	json_object_put(reply);
	vlc_expect_ok(release(f, NIC));
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	restart(f);
	assert_int_equal(kfix_claims(f), 0);
}

static void test_pool_survives_a_crash(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *d;

	vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Detach", NIC2, NULL));
	restart(f);
	d = device(f, NIC2, &reply);
	assert_string_equal(kfix_str_at(d, "state", NULL), "detached");
	assert_string_equal(kfix_str_at(d, "original_driver", NULL), "e1000e");
	json_object_put(reply);
	reply = kfix_call_dev(f, "io.hostdevd.Reattach", NIC2, NULL);
	assert_null(vlc_error(reply));
	assert_string_equal(kfix_str_at(vlc_params(reply), "outcome", NULL), "original");
	json_object_put(reply);
}

/* Gone while the daemon was down: the claim stays until the device
 * returns (then it is claimed again) or is released. */
static void test_missing_device_keeps_its_claim(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX];

	vlc_expect_ok(claim(f, NIC));
	snprintf(dir, sizeof(dir), "%s", state_dir(f));
	crash(f);
	tb_unplug(f->tb, NIC);
	kfix_start_on(f, dir);
	assert_int_equal(kfix_claims(f), 1);
	assert_attention(f, NIC, "missing");
	tb_plug(f->tb, NIC);
	kfix_wait_state(f, NIC, "claimed");
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
}

/* Another card in the slot while the daemon was down: it inherits
 * nothing; the claim is dropped and the card stays with the host. */
static void test_other_device_inherits_nothing(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX];
	char *log;

	vlc_expect_ok(claim(f, NIC));
	snprintf(dir, sizeof(dir), "%s", state_dir(f));
	crash(f);
	tb_unplug(f->tb, NIC);
	tb_set_pci_ids(f->tb, NIC, 0x8086, 0x1533);
	tb_plug(f->tb, NIC);
	kfix_start_on(f, dir);
	assert_int_equal(kfix_claims(f), 0);
	kfix_wait_state(f, NIC, "host");
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	log = hdproc_log(&f->daemon);
	assert_non_null(strstr(log, "inherits nothing"));
	free(log);
}

/* Rebound to its host driver behind hostdevd's back: the claim is kept
 * (its owner still thinks it holds the device) and the drift reported. */
static void test_drifted_device(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *d;
	char dir[PATH_MAX];
	char *log;

	vlc_expect_ok(claim(f, NIC));
	snprintf(dir, sizeof(dir), "%s", state_dir(f));
	crash(f);
	tb_unbind(f->tb, NIC);
	tb_bind(f->tb, NIC, "e1000e");
	kfix_start_on(f, dir);
	assert_int_equal(kfix_claims(f), 1);
	d = device(f, NIC, &reply);
	assert_string_equal(kfix_str_at(d, "driver", NULL), "e1000e");
	json_object_put(reply);
	log = hdproc_log(&f->daemon);
	assert_non_null(strstr(log, "drifted back to the host"));
	free(log);
	assert_attention(f, NIC, "drifted");
}

/* A claim the daemon died before acknowledging: the state file says
 * "reserved" and the device is on vfio-pci; the restart reattaches it to
 * its original driver and forgets the claim. */
static void test_unacknowledged_claim_rolled_back(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX], path[PATH_MAX + 16];
	char *log;
	FILE *fp;

	vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL));
	snprintf(dir, sizeof(dir), "%s", state_dir(f));
	crash(f);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "{ \"format\": \"hostdevd-state\", \"version\": 1, \"claims\": [ { "
		    "\"device\": \"" NIC "\", \"phase\": \"reserved\", \"owner\": { \"driver\": "
		    "\"qemu\", \"domain\": \"vm1\" }, \"vendor\": \"8086\", \"product\": \"10d3\", "
		    "\"managed\": true, \"stub\": \"vfio-pci\", \"original_driver\": \"e1000e\" } ], "
		    "\"pool\": [] }\n");
	fclose(fp);
	kfix_start_on(f, dir);
	kfix_wait_state(f, NIC, "host");
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_int_equal(kfix_claims(f), 0);
	log = hdproc_log(&f->daemon);
	assert_non_null(strstr(log, "never acknowledged"));
	free(log);
}

static bool on_pciback(struct fixture *f, const void *id)
{
	return streq(kfix_kernel_driver(f, id), "pciback");
}

/* A state file from before the stub table named Xen's stub by its driver:
 * a managed claim whose stub reads "xen-pciback".  It loads, as pciback:
 * the device, unbound while the daemon was down and bound to its host
 * driver after, is put on pciback again (an override "xen-pciback" would
 * bind nothing). */
static void test_claim_on_xen_pciback_loads_as_pciback(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX], path[PATH_MAX + 16];
	FILE *fp;

	tb_add_driver(f->tb, "pci", "pciback");
	snprintf(dir, sizeof(dir), "%s", state_dir(f));
	crash(f);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "{ \"format\": \"hostdevd-state\", \"version\": 1, \"claims\": [ { "
		    "\"device\": \"" NIC "\", \"phase\": \"held\", \"owner\": { \"driver\": "
		    "\"libxl\", \"domain\": \"vm1\" }, \"vendor\": \"8086\", \"product\": \"10d3\", "
		    "\"managed\": true, \"stub\": \"xen-pciback\", \"original_driver\": "
		    "\"e1000e\" } ], \"pool\": [] }\n");
	fclose(fp);
	tb_unbind(f->tb, NIC);
	kfix_start_on(f, dir);
	assert_int_equal(kfix_claims(f), 1);
	assert_attention(f, NIC, "drifted");
	tb_bind(f->tb, NIC, "e1000e");
	kfix_wait_until(f, on_pciback, NIC, NIC " back on pciback");
	assert_string_equal(kfix_kernel_override(f, NIC), "pciback");
	kfix_wait_state(f, NIC, "claimed");
	assert_int_equal(kfix_claims(f), 1);
}

/* --orphans reattach: the standard machine's VF, on vfio-pci before
 * hostdevd knew it, goes to its host driver at start; by default it stays
 * and is reported. */
static void test_orphans(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX];

	assert_attention(f, "0000:06:10.2", "orphan");
	assert_string_equal(kfix_kernel_driver(f, "0000:06:10.2"), "vfio-pci");
	snprintf(dir, sizeof(dir), "%s", state_dir(f));
	crash(f);
	setenv("HOSTDEVD_ORPHANS", "reattach", 1);
	kfix_start_on(f, dir);
	unsetenv("HOSTDEVD_ORPHANS");
	kfix_wait_state(f, "0000:06:10.2", "host");
	assert_string_equal(kfix_kernel_driver(f, "0000:06:10.2"), "igbvf");
	assert_string_equal(kfix_kernel_override(f, "0000:06:10.2"), "(null)");
}

/* A first start (no state file: every boot, as it lives under /run) is
 * when vfio-pci.ids and driverctl have put devices on a stub: the orphan is
 * reported and kept by default, and reattached with --orphans reattach. */
static void test_orphans_on_a_first_start(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX], file[PATH_MAX + 16];

	kfix_wait_log(f, "a first start");
	kfix_wait_log(f, "0000:06:10.2: on vfio-pci with no record of hostdevd's");
	assert_attention(f, "0000:06:10.2", "orphan");
	assert_string_equal(kfix_kernel_driver(f, "0000:06:10.2"), "vfio-pci");
	kfix_wait_state(f, "0000:06:10.2", "detached");
	snprintf(dir, sizeof(dir), "%s", state_dir(f));
	crash(f);
	snprintf(file, sizeof(file), "%s/state.json", dir);
	assert_int_equal(unlink(file), 0);
	setenv("HOSTDEVD_ORPHANS", "reattach", 1);
	kfix_start_on(f, dir);
	unsetenv("HOSTDEVD_ORPHANS");
	kfix_wait_log(f, "a first start");
	kfix_wait_state(f, "0000:06:10.2", "host");
	assert_string_equal(kfix_kernel_driver(f, "0000:06:10.2"), "igbvf");
	assert_string_equal(kfix_kernel_override(f, "0000:06:10.2"), "(null)");
}

/* No GetStatus attention of kind `what` for `id`. */
static void assert_no_attention(struct fixture *f, const char *id, const char *what)
{
	json_object *reply = vlc_call(f->c, "io.hostdevd.GetStatus", NULL), *att;

	assert_true(json_object_object_get_ex(vlc_params(reply), "attention", &att));
	for (size_t i = 0; i < json_object_array_length(att); i++) {
		json_object *a = json_object_array_get_idx(att, i);

		if (streq(kfix_str_at(a, "device", NULL), id) &&
		    streq(kfix_str_at(a, "what", NULL), what))
			fail_msg("%s listed as %s: %s", id, what, json_object_to_json_string(att));
	}
	json_object_put(reply);
}

static bool file_has(const char *path, const char *needle)
{
	char text[65536];
	FILE *fp = fopen(path, "r");
	size_t n;

	if (!fp)
		return false;
	n = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	text[n] = '\0';
	return strstr(text, needle);
}

#define VF "0000:06:10.2" /* igbvf's VF, on vfio-pci before hostdevd started */

static int adopt_setup(void **state)
{
	return kfix_setup_policy(state, "rules = ( { match = { address = \"" VF "\"; };\n"
					"            action = \"detach\"; } );\n");
}

/* A device on the stub a detach rule names, found at start with no record
 * (the generated udev rules put it there at boot), is the policy's: in
 * the pool, not an orphan, kept there by --orphans reattach, and given to
 * its host driver by a Reattach. */
static void test_policy_adopts_at_start(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX], file[PATH_MAX + 16];
	json_object *reply;

	kfix_wait_log(f, VF ": policy detach by ");
	kfix_wait_log(f, "found on vfio-pci");
	assert_no_attention(f, VF, "orphan");
	kfix_wait_state(f, VF, "detached");
	snprintf(dir, sizeof(dir), "%s", state_dir(f));
	snprintf(file, sizeof(file), "%s/state.json", dir);
	assert_true(file_has(file, "\"device\": \"" VF "\""));
	/* Every boot is a first start: --orphans reattach leaves it too. */
	crash(f);
	assert_int_equal(unlink(file), 0);
	setenv("HOSTDEVD_ORPHANS", "reattach", 1);
	kfix_start_on(f, dir);
	unsetenv("HOSTDEVD_ORPHANS");
	kfix_wait_log(f, "found on vfio-pci");
	assert_no_attention(f, VF, "orphan");
	assert_string_equal(kfix_kernel_driver(f, VF), "vfio-pci");
	/* And after a restart with the state file, from the pool record. */
	restart(f);
	kfix_wait_state(f, VF, "detached");
	assert_no_attention(f, VF, "orphan");
	reply = kfix_call_dev(f, "io.hostdevd.Reattach", VF, NULL);
	if (vlc_error(reply))
		fail_msg("Reattach: %s", json_object_to_json_string(reply));
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, VF), "igbvf");
}

static int adopt_other_stub_setup(void **state)
{
	return kfix_setup_policy(state, "rules = ( { match = { address = \"" VF "\"; };\n"
					"            action = \"detach\"; driver = \"pci-stub\"; } );\n");
}

/* A rule that wants it on another stub does not make it the policy's. */
static void test_policy_on_another_stub_is_an_orphan(void **state)
{
	struct fixture *f = *state;

	kfix_wait_log(f, VF ": on vfio-pci with no record of hostdevd's");
	assert_attention(f, VF, "orphan");
	assert_string_equal(kfix_kernel_driver(f, VF), "vfio-pci");
}

/* kfix.h's variant machine: NIC's rule names the variant by its module,
 * NIC2's names no driver (vfio-pci). */
static int adopt_variant_setup(void **state)
{
	return kfix_setup_variants(state,
				   "rules = (\n"
				   "  { match = { address = \"" NIC "\"; }; action = \"detach\";\n"
				   "    driver = \"" KFIX_VARIANT_MODULE "\"; },\n"
				   "  { match = { address = \"" NIC2 "\"; }; action = \"detach\"; }\n"
				   ");\n");
}

/* At a first start, a function found on the driver its rule would detach
 * it to, the variant's by the rule's module name, is the policy's (in the
 * pool); one found on that variant when its rule means vfio-pci is an
 * orphan. */
static void test_policy_adopts_on_the_variant(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX], file[PATH_MAX + 16];
	json_object *reply;

	kfix_wait_state(f, NIC, "detached");
	kfix_wait_state(f, NIC2, "detached");
	assert_string_equal(kfix_kernel_driver(f, NIC), KFIX_VARIANT_DRIVER);
	assert_string_equal(kfix_kernel_driver(f, NIC2), "vfio-pci");
	/* NIC2 moved to the variant by hand. */
	vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Reattach", NIC2, NULL));
	vlc_expect_ok(kfix_call_dev(f, "io.hostdevd.Detach", NIC2, KFIX_VARIANT_DRIVER));
	assert_string_equal(kfix_kernel_driver(f, NIC2), KFIX_VARIANT_DRIVER);
	snprintf(dir, sizeof(dir), "%s", state_dir(f));
	snprintf(file, sizeof(file), "%s/state.json", dir);
	crash(f);
	assert_int_equal(unlink(file), 0);
	kfix_start_on(f, dir);
	kfix_wait_log(f, NIC ": policy detach by ");
	kfix_wait_log(f, "found on " KFIX_VARIANT_DRIVER);
	kfix_wait_state(f, NIC, "detached");
	assert_no_attention(f, NIC, "orphan");
	assert_attention(f, NIC2, "orphan");
	assert_string_equal(kfix_kernel_driver(f, NIC), KFIX_VARIANT_DRIVER);
	assert_string_equal(kfix_kernel_driver(f, NIC2), KFIX_VARIANT_DRIVER);
	/* In the pool: an unmanaged claim takes it where it is. */
	reply = claim(f, NIC);
	if (vlc_error(reply))
		fail_msg("Claim: %s", json_object_to_json_string(reply));
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), KFIX_VARIANT_DRIVER);
}

/* A function a failure left unbound reads `host` with no driver after a
 * restart (an error is not saved): Reattach probes it for a host driver
 * rather than call it with the host already. */
static void test_reattach_of_an_unbound_function_after_a_restart(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *p;

	kemu_never_bind(f->root, NIC);
	json_object_put(kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL));
	kfix_wait_state(f, NIC, "error");
	restart(f);
	kemu_never_bind_clear(f->root, NIC);
	kfix_wait_state(f, NIC, "host");
	assert_string_equal(kfix_kernel_driver(f, NIC), "");
	reply = kfix_call_dev(f, "io.hostdevd.Reattach", NIC, NULL);
	if (vlc_error(reply))
		fail_msg("Reattach: %s", json_object_to_json_string(reply));
	p = vlc_params(reply);
	assert_string_equal(kfix_str_at(p, "outcome", NULL), "native");
	assert_string_equal(kfix_str_at(p, "driver", NULL), "e1000e");
	assert_string_equal(kfix_str_at(p, "device", "state"), "host");
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
}

/* A state file that cannot be understood stops the start, naming it. */
static void test_bad_state_file(void **state)
{
	static const char *const docs[] = {
		"{ not json",
		"{ \"format\": \"hostdevd-state\", \"version\": 99, \"claims\": [] }",
		"{ \"format\": \"something-else\", \"version\": 1 }",
	};
	static const char *const says[] = { "not JSON", "version 99", "\"format\"" };
	struct fixture *f = *state;
	char dir[PATH_MAX], path[PATH_MAX + 16];

	snprintf(dir, sizeof(dir), "%s", state_dir(f));
	crash(f);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	for (size_t i = 0; i < ARRAY_SIZE(docs); i++) {
		struct hdproc_config cfg = { .state_dir = dir };
		struct hdproc p;
		char *log;
		FILE *fp = fopen(path, "w");

		assert_non_null(fp);
		fputs(docs[i], fp);
		fclose(fp);
		assert_int_equal(hdproc_start(&p, &cfg), -ECHILD);
		assert_true(WIFEXITED(p.status) && WEXITSTATUS(p.status) != 0);
		log = hdproc_log(&p);
		assert_non_null(strstr(log, path));
		assert_non_null(strstr(log, says[i]));
		free(log);
		hdproc_cleanup(&p);
	}
	unlink(path);
	kfix_start_on(f, dir); /* without a state file: a first start */
	assert_int_equal(kfix_claims(f), 0);
}

/* The state file may not grow (the daemon runs with a file-size limit, as
 * on a full disk): a claim is refused before anything moves, and the file
 * is whole and claim-free afterwards. */
static void test_full_state_directory(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, small = { .rlim_cur = 200, .rlim_max = RLIM_INFINITY };
	char dir[PATH_MAX], path[PATH_MAX + 16];
	json_object *reply;
	char *text;
	FILE *fp;
	long len;

	/* The limit would bind valgrind's own files too. */
	if (getenv("HOSTDEVD_TEST_WRAPPER"))
		skip();
	snprintf(dir, sizeof(dir), "%s", state_dir(f));
	crash(f);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	kfix_start_on(f, dir);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	reply = claim(f, NIC);
	assert_non_null(vlc_error(reply));
	assert_string_equal(vlc_error(reply), "io.hostdevd.StateUnavailable");
	assert_int_equal(json_object_get_int(json_object_object_get(
				 json_object_object_get(reply, "parameters"), "errno")),
			 EFBIG);
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "driver_override", NIC), 0);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	assert_int_equal(kfix_claims(f), 0);
	snprintf(path, sizeof(path), "%s/state.json.tmp", dir);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	text = xcalloc(1, (size_t)len + 1);
	assert_int_equal(fread(text, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	json_object_put(vlc_json(text)); /* parses: whole */
	assert_null(strstr(text, NIC));
	free(text);
}

/* ---- kill -9 at every failpoint in turn (engine/failpoint.h) ------------- */

struct crash_row {
	const char *failpoint;
	bool during_release; /* the failpoint is on the release's path */
	bool claimed_after;  /* what the restart must show */
};

static const struct crash_row crash_rows[] = {
	{ "claim.reserved", false, false },
	{ "claim.intent_saved", false, false },
	{ "detach.driver_override", false, false },
	{ "detach.unbind", false, false },
	{ "detach.drivers_probe", false, false },
	/* Saved before the answer: durable, whether or not the answer left. */
	{ "claim.before_ack", false, true },
	{ "claim.after_ack", false, true },
	{ "release.intent_saved", true, false },
	{ "reattach.driver_override", true, false },
	{ "reattach.unbind", true, false },
	{ "reattach.drivers_probe", true, false },
	{ "release.after_ack", true, false },
};

static const struct crash_row *crash_row;

static int crash_setup(void **state)
{
	int r;

	crash_row = *state;
	if (!crash_row->during_release)
		setenv("HOSTDEVD_FAILPOINT", crash_row->failpoint, 1);
	r = kfix_setup(state);
	unsetenv("HOSTDEVD_FAILPOINT");
	return r;
}

/* The daemon dies at the failpoint; started again (without it) on the
 * same state directory, the device must be wholly claimed or wholly back
 * on e1000e, and nothing else may need attention but the standard
 * machine's own orphan (a VF put on vfio-pci before hostdevd). */
static void test_crash_at_failpoint(void **state)
{
	struct fixture *f = *state;
	const struct crash_row *row = crash_row;
	json_object *p = kfix_owner_params("qemu", "vm1", NIC), *reply, *att;
	char dir[PATH_MAX];

	if (row->during_release) {
		char fp[128];

		vlc_expect_ok(claim(f, NIC));
		/* Armed in a restarted daemon: the claim is on disk. */
		snprintf(fp, sizeof(fp), "%s", row->failpoint);
		setenv("HOSTDEVD_FAILPOINT", fp, 1);
		restart(f);
		unsetenv("HOSTDEVD_FAILPOINT");
	}
	vlc_send(f->c, row->during_release ? "io.hostdevd.Release" : "io.hostdevd.Claim", p, false);
	json_object_put(p);
	assert_true(hdproc_wait(&f->daemon, 20000) >= 0);
	assert_true(WIFSIGNALED(f->daemon.status) && WTERMSIG(f->daemon.status) == SIGKILL);

	snprintf(dir, sizeof(dir), "%s", state_dir(f));
	crash(f); /* dead already: only the bookkeeping */
	kfix_start_on(f, dir);
	if (row->claimed_after) {
		kfix_wait_state(f, NIC, "claimed");
		assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
		assert_int_equal(kfix_claims(f), 1);
	} else {
		kfix_wait_state(f, NIC, "host");
		assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
		assert_string_equal(kfix_kernel_override(f, NIC), "(null)");
		assert_int_equal(kfix_claims(f), 0);
	}
	reply = vlc_call(f->c, "io.hostdevd.GetStatus", NULL);
	assert_true(json_object_object_get_ex(vlc_params(reply), "attention", &att));
	if (json_object_array_length(att) != 1 ||
	    !streq(kfix_str_at(json_object_array_get_idx(att, 0), "device", NULL), "0000:06:10.2"))
		fail_msg("after %s: %s", row->failpoint, json_object_to_json_string(att));
	json_object_put(reply);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, kfix_setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_claim_survives_a_crash),
		T(test_pool_survives_a_crash),
		T(test_missing_device_keeps_its_claim),
		T(test_other_device_inherits_nothing),
		T(test_drifted_device),
		T(test_unacknowledged_claim_rolled_back),
		T(test_claim_on_xen_pciback_loads_as_pciback),
		T(test_orphans),
		T(test_orphans_on_a_first_start),
		cmocka_unit_test_setup_teardown(test_policy_adopts_at_start, adopt_setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_adopts_on_the_variant,
						adopt_variant_setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_on_another_stub_is_an_orphan,
						adopt_other_stub_setup, teardown),
		T(test_reattach_of_an_unbound_function_after_a_restart),
		T(test_bad_state_file),
		T(test_full_state_directory),
	};

	struct CMUnitTest crashes[ARRAY_SIZE(crash_rows)];
	char names[ARRAY_SIZE(crash_rows)][96];
	int failed;

	for (size_t i = 0; i < ARRAY_SIZE(crash_rows); i++) {
		snprintf(names[i], sizeof(names[i]), "kill -9 at %s", crash_rows[i].failpoint);
		crashes[i] = (struct CMUnitTest){ .name = names[i], .test_func = test_crash_at_failpoint,
						  .setup_func = crash_setup, .teardown_func = teardown,
						  .initial_state = (void *)&crash_rows[i] };
	}
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + _cmocka_run_group_tests("crashes", crashes, ARRAY_SIZE(crashes), NULL, NULL);
}
