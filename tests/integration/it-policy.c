/* Policy in the daemon (docs/policy.md): loaded at start from --policy
 * (HOSTDEVD_POLICY), obeyed by Claim, explained by CheckPolicy; a policy
 * that does not load stops the start. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static char policy_path[64];

static void write_policy(const char *text)
{
	FILE *f;

	snprintf(policy_path, sizeof(policy_path), "/tmp/it-policy.XXXXXX");
	assert_true(mkstemp(policy_path) >= 0);
	f = fopen(policy_path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	int r;

	write_policy(policy_text);
	setenv("HOSTDEVD_POLICY", policy_path, 1);
	r = kfix_setup(state);
	unsetenv("HOSTDEVD_POLICY");
	return r;
}

static int teardown(void **state)
{
	unlink(policy_path);
	return kfix_teardown(state);
}

static json_object *claim_for(struct fixture *f, const char *domain, const char *id)
{
	json_object *p = json_object_new_object(), *arr = json_object_new_array(), *reply;

	json_object_object_add(p, "owner", kfix_owner("qemu", domain));
	json_object_array_add(arr, json_object_new_string(id));
	json_object_object_add(p, "devices", arr);
	reply = vlc_call(f->c, "io.hostdevd.Claim", p);
	json_object_put(p);
	return reply;
}

static json_object *params_of(json_object *reply)
{
	json_object *p;

	assert_true(json_object_object_get_ex(reply, "parameters", &p));
	return p;
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
	p = params_of(reply);
	assert_string_equal(kfix_str_at(p, "device", NULL), NIC);
	assert_string_equal(kfix_str_at(p, "action", NULL), "refuse");
	assert_int_equal(int_at(p, "rule"), 1);
	assert_int_equal(int_at(p, "line"), 3);
	assert_string_equal(kfix_str_at(p, "file", NULL), policy_path);
	json_object_put(reply);
	assert_int_equal(kemu_writes(f->root, "driver_override", NULL), 0);
	/* ignore refuses too. */
	reply = claim_for(f, "vm1", AHCI);
	assert_string_equal(vlc_error(reply), "io.hostdevd.PolicyRefused");
	assert_string_equal(kfix_str_at(params_of(reply), "action", NULL), "ignore");
	json_object_put(reply);
}

static void test_assign(void **state)
{
	struct fixture *f = *state;
	json_object *reply = claim_for(f, "vm1", NIC2);

	assert_string_equal(vlc_error(reply), "io.hostdevd.PolicyRefused");
	assert_non_null(strstr(kfix_str_at(params_of(reply), "reason", NULL),
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
	json_object *reply = claim_for(f, "vm1", GPU), *p, *arr;

	assert_string_equal(vlc_error(reply), "io.hostdevd.GroupNotViable");
	json_object_put(reply);
	p = json_object_new_object();
	arr = json_object_new_array();
	json_object_object_add(p, "owner", kfix_owner("qemu", "vm1"));
	json_object_array_add(arr, json_object_new_string(GPU));
	json_object_object_add(p, "devices", arr);
	json_object_object_add(p, "whole_group", json_object_new_boolean(1));
	reply = vlc_call(f->c, "io.hostdevd.Claim", p);
	json_object_put(p);
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
	assert_int_equal(json_object_array_length(lines), 2);
	assert_non_null(strstr(json_object_get_string(json_object_array_get_idx(lines, 0)),
			       "no match: address is " NIC2 ", not " NIC));
	json_object_put(reply);
	/* A device no rule names: the default, with every rule's reason. */
	reply = kfix_call_dev(f, "io.hostdevd.CheckPolicy", "0000:00:14.0", NULL);
	p = vlc_params(reply);
	assert_string_equal(kfix_str_at(p, "action", NULL), "allow");
	assert_false(json_object_object_get_ex(p, "rule", NULL));
	assert_true(json_object_object_get_ex(p, "explanation", &lines));
	assert_int_equal(json_object_array_length(lines), 5);
	json_object_put(reply);
}

/* A policy that does not load: the daemon does not start, and says why. */
static void test_bad_policy_stops_the_start(void **state)
{
	struct hdproc p;
	char *log;

	(void)state;
	write_policy("rules = (\n { match = { vendr = \"10de\"; }; action = \"detach\"; }\n);\n");
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

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_refuse),
		T(test_assign),
		T(test_host_critical_lifted),
		T(test_check_policy),
		cmocka_unit_test(test_bad_policy_stops_the_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
