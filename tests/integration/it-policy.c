/* Policy in the daemon (docs/policy.md): loaded at start from --policy
 * (HOSTDEVD_POLICY), obeyed by Claim, explained by CheckPolicy, reloaded
 * by ReloadPolicy and SIGHUP; a policy that does not load stops the start,
 * and one that does not reload changes nothing. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NIC "0000:03:00.0"  /* e1000e */
#define NIC2 "0000:02:00.0" /* e1000e */
#define GPU "0000:01:00.0"  /* boot VGA, group 2 with its HDA function */
#define AHCI "0000:00:17.0"

static const char policy_text[] =
	"default = \"allow\";\n"
	"rules = (\n"
	"  { match = { address = \"" NIC "\"; }; action = \"refuse\"; },\n"
	"  { match = { address = \"" NIC2 "\"; }; action = \"assign\";\n"
	"    owner = { driver = \"qemu\"; domain = \"router\"; }; },\n"
	"  { match = { address = \"" GPU "\"; }; action = \"allow\"; host_critical = true; },\n"
	"  { match = { class = \"0106\"; }; action = \"ignore\"; }\n"
	");\n";

static int setup(void **state)
{
	int r = kfix_setup_policy(state, policy_text);

	/* The assign rule acts at start-up: NIC2 goes to vfio-pci on its own. */
	if (r == 0)
		kfix_wait_state(*state, NIC2, "detached");
	return r;
}

static json_object *claim_for(struct fixture *f, const char *domain, const char *id)
{
	json_object *p = kfix_owner_params("qemu", domain, id), *reply;

	reply = vlc_call(f->c, "io.hostdevd.Claim", p);
	json_object_put(p);
	return reply;
}

static int int_at(json_object *o, const char *key)
{
	json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_int(v);
}

static void test_refuse(void **state)
{
	struct fixture *f = *state;
	json_object *reply = claim_for(f, "vm1", NIC), *p;

	assert_non_null(vlc_error(reply));
	assert_string_equal(vlc_error(reply), "io.hostdevd.PolicyRefused");
	p = vlc_reply_params(reply);
	assert_string_equal(kfix_str_at(p, "device", NULL), NIC);
	assert_string_equal(kfix_str_at(p, "action", NULL), "refuse");
	assert_int_equal(int_at(p, "rule"), 1);
	assert_int_equal(int_at(p, "line"), 3);
	assert_string_equal(kfix_str_at(p, "file", NULL), f->policy_path);
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "driver_override", NIC), 0);
	/* ignore refuses too. */
	reply = claim_for(f, "vm1", AHCI);
	assert_string_equal(vlc_error(reply), "io.hostdevd.PolicyRefused");
	assert_string_equal(kfix_str_at(vlc_reply_params(reply), "action", NULL), "ignore");
	json_object_put(reply);
}

static void test_assign(void **state)
{
	struct fixture *f = *state;
	json_object *reply;

	/* Detached at start-up, reserved for its owner. */
	assert_string_equal(kfix_kernel_driver(f, NIC2), "vfio-pci");
	reply = claim_for(f, "vm1", NIC2);

	assert_string_equal(vlc_error(reply), "io.hostdevd.PolicyRefused");
	assert_non_null(strstr(kfix_str_at(vlc_reply_params(reply), "reason", NULL),
			       "reserves it for driver qemu, domain router"));
	json_object_put(reply);
	reply = claim_for(f, "router", NIC2);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC2), "vfio-pci");
}

/* A rule naming one address lifts the host-critical refusal: the boot VGA
 * GPU then meets the next check, its IOMMU group; with the whole group it
 * is detached. */
static void test_host_critical_lifted(void **state)
{
	struct fixture *f = *state;
	json_object *reply = claim_for(f, "vm1", GPU), *p;

	assert_string_equal(vlc_error(reply), "io.hostdevd.GroupNotViable");
	json_object_put(reply);
	p = kfix_owner_params("qemu", "vm1", GPU);
	json_object_object_add(p, "whole_group", json_object_new_boolean(1));
	reply = vlc_call(f->c, "io.hostdevd.Claim", p);
	json_object_put(p);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, GPU), "vfio-pci");
}

/* Detach obeys the policy as Claim does: refused devices stay, a lifted
 * one passes the host-critical check. */
static void test_detach(void **state)
{
	struct fixture *f = *state;
	json_object *reply = kfix_call_dev(f, "io.hostdevd.Detach", NIC, NULL);

	assert_string_equal(vlc_error(reply), "io.hostdevd.PolicyRefused");
	assert_string_equal(kfix_str_at(vlc_reply_params(reply), "action", NULL), "refuse");
	assert_int_equal(int_at(vlc_reply_params(reply), "line"), 3);
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	reply = kfix_call_dev(f, "io.hostdevd.Detach", GPU, NULL);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	assert_string_equal(kfix_kernel_driver(f, GPU), "vfio-pci");
}

static void test_check_policy(void **state)
{
	struct fixture *f = *state;
	json_object *reply = kfix_call_dev(f, "io.hostdevd.CheckPolicy", NIC2, NULL), *p, *lines;

	p = vlc_params(reply);
	assert_string_equal(kfix_str_at(p, "action", NULL), "assign");
	assert_int_equal(int_at(p, "rule"), 2);
	assert_true(json_object_object_get_ex(p, "explanation", &lines));
	assert_int_equal(json_object_array_length(lines), 3);
	assert_non_null(strstr(json_object_get_string(json_object_array_get_idx(lines, 0)),
			       "no match: address is " NIC2 ", not " NIC));
	/* Then the driver its action uses: no variant on this machine. */
	assert_string_equal(json_object_get_string(json_object_array_get_idx(lines, 2)),
			    "driver: vfio-pci, as the rule names none");
	assert_string_equal(kfix_str_at(p, "driver", NULL), "vfio-pci");
	assert_null(kfix_str_at(p, "vfio_variant", NULL));
	json_object_put(reply);
	/* A device no rule names: the default, with every rule's reason. */
	reply = kfix_call_dev(f, "io.hostdevd.CheckPolicy", "0000:00:14.0", NULL);
	p = vlc_params(reply);
	assert_string_equal(kfix_str_at(p, "action", NULL), "allow");
	assert_false(json_object_object_get_ex(p, "rule", NULL));
	assert_true(json_object_object_get_ex(p, "explanation", &lines));
	assert_int_equal(json_object_array_length(lines), 6);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(lines, 5)),
			    "driver: a managed claim naming none detaches it to vfio-pci "
			    "(modules.alias names no vfio-pci variant for it)");
	json_object_put(reply);
	/* A bridge stays with the host, whatever a claim asks; the boot VGA
	 * device too, unless its rule lifts that (this one does). */
	reply = kfix_call_dev(f, "io.hostdevd.CheckPolicy", "0000:00:1c.0", NULL);
	p = vlc_params(reply);
	assert_true(json_object_object_get_ex(p, "explanation", &lines));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
				    lines, json_object_array_length(lines) - 1)),
			    "driver: none: it stays with the host (PCI bridge: its devices stay "
			    "with the host)");
	assert_null(kfix_str_at(p, "driver", NULL));
	json_object_put(reply);
	reply = kfix_call_dev(f, "io.hostdevd.CheckPolicy", GPU, NULL);
	p = vlc_params(reply);
	assert_true(json_object_object_get_ex(p, "explanation", &lines));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
				    lines, json_object_array_length(lines) - 1)),
			    "driver: a managed claim naming none detaches it to vfio-pci "
			    "(modules.alias names no vfio-pci variant for it)");
	json_object_put(reply);
	/* refuse: nothing would move it, no driver. */
	reply = kfix_call_dev(f, "io.hostdevd.CheckPolicy", NIC, NULL);
	p = vlc_params(reply);
	assert_true(json_object_object_get_ex(p, "explanation", &lines));
	assert_int_equal(json_object_array_length(lines), 1);
	assert_null(kfix_str_at(p, "driver", NULL));
	json_object_put(reply);
}

/* ---- the driver line, with kfix.h's variant machine ----------------------- */

#define IGBVF "0000:06:10.0" /* 8086:10ca: no alias names it */

static const char variant_policy[] =
	"rules = (\n"
	"  { match = { address = \"" NIC "\"; }; action = \"detach\"; driver = \"auto\";\n"
	"    when = \"hotplug\"; },\n"
	"  { match = { address = \"" NIC2 "\"; }; action = \"assign\"; when = \"hotplug\";\n"
	"    owner = { driver = \"qemu\"; domain = \"router\"; }; driver = \"" KFIX_VARIANT_ABSENT
	"\"; },\n"
	"  { match = { address = \"" IGBVF "\"; }; action = \"detach\"; when = \"hotplug\";\n"
	"    driver = \"mlx5_vfio_pci\"; }\n"
	");\n";

static int variant_setup(void **state)
{
	return kfix_setup_variants(state, variant_policy);
}

/* The last line of CheckPolicy's explanation and its driver. */
static const char *driver_explained(struct fixture *f, const char *id, json_object **reply)
{
	json_object *lines;

	*reply = kfix_call_dev(f, "io.hostdevd.CheckPolicy", id, NULL);
	assert_true(json_object_object_get_ex(vlc_params(*reply), "explanation", &lines));
	return json_object_get_string(
		json_object_array_get_idx(lines, json_object_array_length(lines) - 1));
}

/* hostdevctl policy explain's driver line: the variant modules.alias
 * picks, by the name its module registered; one not loaded by its module;
 * a variant this host does not have, and that the device would stay. */
static void test_explain_says_the_variant(void **state)
{
	struct fixture *f = *state;
	json_object *reply;
	_cleanup_free_ char *cmd = NULL;
	const char *line;
	char out[4096] = "";
	size_t n;
	FILE *pipe;

	assert_string_equal(driver_explained(f, NIC, &reply),
			    "driver: " KFIX_VARIANT_DRIVER ", its vfio-pci variant (module "
			    KFIX_VARIANT_MODULE ", from modules.alias), as driver = \"auto\" asks");
	assert_string_equal(kfix_str_at(vlc_params(reply), "driver", NULL), KFIX_VARIANT_DRIVER);
	assert_string_equal(kfix_str_at(vlc_params(reply), "vfio_variant", NULL),
			    KFIX_VARIANT_MODULE);
	json_object_put(reply);
	assert_string_equal(driver_explained(f, NIC2, &reply),
			    "driver: the rule's vfio-pci variant, module " KFIX_VARIANT_ABSENT
			    " (not loaded: loaded at the detach, its driver's name is known then)");
	assert_null(kfix_str_at(vlc_params(reply), "driver", NULL));
	assert_string_equal(kfix_str_at(vlc_params(reply), "vfio_variant", NULL),
			    KFIX_VARIANT_ABSENT);
	json_object_put(reply);
	line = driver_explained(f, IGBVF, &reply);
	assert_non_null(strstr(line, "driver: none: \"mlx5_vfio_pci\" is no stub driver and no "
				     "vfio-pci variant of this host; it takes vfio-pci, pci-stub, "
				     "pciback, xen-pciback, " KFIX_VARIANT_DRIVER));
	assert_non_null(strstr(line, "; the detach would fail before anything is written, and "
				     IGBVF " would stay with its host driver"));
	assert_null(kfix_str_at(vlc_params(reply), "driver", NULL));
	json_object_put(reply);
	/* No rule: what a managed claim naming no driver would take. */
	assert_string_equal(driver_explained(f, "0000:00:14.0", &reply),
			    "driver: a managed claim naming none detaches it to vfio-pci "
			    "(modules.alias names no vfio-pci variant for it)");
	json_object_put(reply);

	/* hostdevctl policy explain prints it after the deciding rule. */
	assert_true(asprintf(&cmd, "%s --socket %s policy explain " NIC, HOSTDEVCTL_BIN,
			     f->daemon.socket_path) > 0);
	pipe = popen(cmd, "r");
	assert_non_null(pipe);
	n = fread(out, 1, sizeof(out) - 1, pipe);
	out[n] = '\0';
	assert_int_equal(pclose(pipe), 0);
	assert_non_null(strstr(out, ") decides: detach " NIC " (on its vfio-pci variant, else "
				    "vfio-pci: driver = \"auto\")\n"
				    "driver: " KFIX_VARIANT_DRIVER ", its vfio-pci variant (module "
				    KFIX_VARIANT_MODULE ", from modules.alias), as driver = \"auto\" "
				    "asks\n"));
}

/* A policy path someone named (--policy, HOSTDEVD_POLICY) and mistyped is
 * refused, not taken for "no policy": the start stops and says so. */
static void test_named_policy_missing_stops_the_start(void **state)
{
	_cleanup_free_ char *saved = xstrdup(getenv("HOSTDEVD_POLICY"));
	struct hdproc p;
	char *log;

	(void)state;
	setenv("HOSTDEVD_POLICY", "/typo/hostdevd-policy", 1);
	assert_int_equal(hdproc_start(&p, NULL), -ECHILD);
	if (saved)
		setenv("HOSTDEVD_POLICY", saved, 1);
	else
		unsetenv("HOSTDEVD_POLICY");
	assert_true(WIFEXITED(p.status) && WEXITSTATUS(p.status) != 0);
	log = hdproc_log(&p);
	assert_non_null(strstr(log, "/typo/hostdevd-policy: no such file or directory (the "
				    "policy was named by --policy or HOSTDEVD_POLICY"));
	free(log);
	hdproc_cleanup(&p);
}

/* A policy that does not load: the daemon does not start, and says why. */
static void test_bad_policy_stops_the_start(void **state)
{
	struct hdproc p;
	char *log, policy_path[64];

	(void)state;
	kfix_write_policy(policy_path, "rules = (\n { match = { vendr = \"10de\"; }; action = "
					"\"detach\"; }\n);\n");
	setenv("HOSTDEVD_POLICY", policy_path, 1);
	assert_int_equal(hdproc_start(&p, NULL), -ECHILD);
	unsetenv("HOSTDEVD_POLICY");
	assert_true(WIFEXITED(p.status) && WEXITSTATUS(p.status) != 0);
	log = hdproc_log(&p);
	assert_non_null(strstr(log, ":2: unknown match key 'vendr'"));
	free(log);
	hdproc_cleanup(&p);
	unlink(policy_path);
}

static json_object *reload(struct fixture *f)
{
	return vlc_call(f->c, "io.hostdevd.ReloadPolicy", NULL);
}

static void rewrite_policy(struct fixture *f, const char *text)
{
	FILE *fp = fopen(f->policy_path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static const char *decision(struct fixture *f, const char *id)
{
	static char action[32];
	json_object *reply = kfix_call_dev(f, "io.hostdevd.CheckPolicy", id, NULL);

	snprintf(action, sizeof(action), "%s", kfix_str_at(vlc_params(reply), "action", NULL));
	json_object_put(reply);
	return action;
}

/* ReloadPolicy swaps in a good policy whole; a claim the new one refuses
 * is kept and reported (in the reply and in GetStatus); a bad file changes
 * nothing and names file, line and problem. */
static void test_reload(void **state)
{
	struct fixture *f = *state;
	json_object *reply, *p, *c, *att;
	bool seen = false;

	reply = claim_for(f, "router", NIC2);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	/* NIC no longer refused, NIC2 now refused while router holds it. */
	rewrite_policy(f, "rules = (\n"
		       "  { match = { address = \"" NIC2 "\"; }; action = \"refuse\"; }\n"
		       ");\n");
	reply = reload(f);
	assert_null(vlc_error(reply));
	p = vlc_params(reply);
	assert_int_equal(int_at(p, "rules"), 1);
	assert_int_equal(int_at(p, "clients"), 0);
	assert_string_equal(kfix_str_at(p, "path", NULL), f->policy_path);
	assert_true(json_object_object_get_ex(p, "warnings", &c));
	assert_int_equal(json_object_array_length(c), 0);
	assert_true(json_object_object_get_ex(p, "conflicts", &c));
	assert_int_equal(json_object_array_length(c), 1);
	c = json_object_array_get_idx(c, 0);
	assert_string_equal(kfix_str_at(c, "device", NULL), NIC2);
	assert_string_equal(kfix_str_at(c, "owner", "domain"), "router");
	assert_string_equal(kfix_str_at(c, "action", NULL), "refuse");
	assert_int_equal(int_at(c, "line"), 2);
	json_object_put(reply);
	/* The claim stands; the status points at it. */
	assert_int_equal(kfix_claims(f), 1);
	assert_string_equal(kfix_kernel_driver(f, NIC2), "vfio-pci");
	reply = vlc_call(f->c, "io.hostdevd.GetStatus", NULL);
	assert_true(json_object_object_get_ex(vlc_params(reply), "attention", &att));
	for (size_t i = 0; i < json_object_array_length(att); i++) {
		json_object *a = json_object_array_get_idx(att, i);

		if (streq(kfix_str_at(a, "what", NULL), "policy")) {
			assert_string_equal(kfix_str_at(a, "device", NULL), NIC2);
			seen = true;
		}
	}
	assert_true(seen);
	json_object_put(reply);
	assert_string_equal(decision(f, NIC), "allow");
	/* A bad file: PolicyInvalid with where and what; nothing changes. */
	rewrite_policy(f, "rules = (\n"
		       "  { match = { address = \"" NIC "\"; }; action = \"refuse\"; },\n"
		       "  { match = { vendr = \"8086\"; }; action = \"refuse\"; }\n"
		       ");\n");
	reply = reload(f);
	assert_string_equal(vlc_error(reply), "io.hostdevd.PolicyInvalid");
	p = vlc_reply_params(reply);
	assert_string_equal(kfix_str_at(p, "file", NULL), f->policy_path);
	assert_int_equal(int_at(p, "line"), 3);
	assert_non_null(strstr(kfix_str_at(p, "message", NULL), "unknown match key 'vendr'"));
	json_object_put(reply);
	assert_string_equal(decision(f, NIC), "allow");
	assert_string_equal(decision(f, NIC2), "refuse");
	/* The claim can still be released; releasing it ends the conflict. */
	{
		json_object *rp = kfix_owner_params("qemu", "router", NULL);

		reply = vlc_call(f->c, "io.hostdevd.Release", rp);
		json_object_put(rp);
		assert_null(vlc_error(reply));
		json_object_put(reply);
	}
	assert_int_equal(kfix_claims(f), 0);
	reply = claim_for(f, "router", NIC2);
	assert_string_equal(vlc_error(reply), "io.hostdevd.PolicyRefused");
	json_object_put(reply);
}

/* An @include of a directory ended the daemon (libconfig 1.5's scanner
 * calls exit(2)); of a FIFO, it hung.  Now ReloadPolicy answers
 * PolicyInvalid with the file and line of the include, SIGHUP logs it, and
 * the daemon goes on with the policy it had. */
static void test_reload_bad_include(void **state)
{
	struct fixture *f = *state;
	char incdir[] = "/tmp/hostdevd-incdir.XXXXXX", fifo[64], text[256], where[128];
	json_object *reply, *p;
	const char *bad[] = { incdir, fifo };

	assert_non_null(mkdtemp(incdir));
	snprintf(fifo, sizeof(fifo), "%s.fifo", incdir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(text, sizeof(text), "default = \"refuse\";\n@include \"%s\"\n",
			 strrchr(bad[i], '/') + 1);
		rewrite_policy(f, text);
		reply = reload(f);
		assert_string_equal(vlc_error(reply), "io.hostdevd.PolicyInvalid");
		p = vlc_reply_params(reply);
		assert_string_equal(kfix_str_at(p, "file", NULL), f->policy_path);
		assert_int_equal(int_at(p, "line"), 2);
		assert_non_null(strstr(kfix_str_at(p, "message", NULL), "not a regular file"));
		json_object_put(reply);
		assert_string_equal(decision(f, NIC), "refuse");
		assert_string_equal(decision(f, NIC2), "assign");
	}
	assert_int_equal(kill(f->daemon.pid, SIGHUP), 0);
	snprintf(where, sizeof(where), "%s:2: @include \"%s\"", f->policy_path,
		 strrchr(fifo, '/') + 1);
	kfix_wait_log(f, where);
	assert_string_equal(decision(f, NIC), "refuse");
	assert_int_equal(waitpid(f->daemon.pid, NULL, WNOHANG), 0);
	unlink(fifo);
	rmdir(incdir);
}

static bool ahci_refused(struct fixture *f, const void *arg)
{
	(void)arg;
	return streq(decision(f, AHCI), "refuse");
}

/* SIGHUP does what ReloadPolicy does; a bad file is logged and ignored. */
static void test_sighup(void **state)
{
	struct fixture *f = *state;
	char *log;

	rewrite_policy(f, "rules = ( { match = { address = \"" AHCI "\"; }; action = \"refuse\"; } );\n");
	assert_int_equal(kill(f->daemon.pid, SIGHUP), 0);
	kfix_wait_until(f, ahci_refused, NULL, "the reload to refuse " AHCI);
	assert_string_equal(decision(f, NIC), "allow");
	rewrite_policy(f, "rules = ( { match = { address = 7; }; action = \"allow\"; } );\n");
	assert_int_equal(kill(f->daemon.pid, SIGHUP), 0);
	kfix_wait_log(f, ":1: 'address' must be a string");
	log = hdproc_log(&f->daemon);
	assert_non_null(strstr(log, "policy not reloaded, the one before stays in force"));
	free(log);
	assert_string_equal(decision(f, AHCI), "refuse");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, kfix_teardown)
	const struct CMUnitTest tests[] = {
		T(test_refuse),
		T(test_assign),
		T(test_host_critical_lifted),
		T(test_check_policy),
		cmocka_unit_test_setup_teardown(test_explain_says_the_variant, variant_setup,
						kfix_teardown),
		T(test_detach),
		T(test_reload),
		T(test_sighup),
		T(test_reload_bad_include),
		cmocka_unit_test(test_bad_policy_stops_the_start),
		cmocka_unit_test(test_named_policy_missing_stops_the_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
