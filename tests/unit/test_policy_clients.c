/* The clients section of a policy (policy/clients.c): who may do what over
 * the socket, the owners a client may claim for, the socket's group, and
 * the errors and warnings of loading it. */
#include "policy/policy.h"
#include "common/util.h"

#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define ALL ((1u << POLICY_PERM__COUNT) - 1)
#define P(x) (1u << POLICY_PERM_##x)

static char path[] = "/tmp/test_policy_clients.XXXXXX";

static struct policy *load(const char *text)
{
	char err[1024];
	FILE *f = fopen(path, "w");
	struct policy *p;

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	p = policy_load(path, err, sizeof(err));
	if (!p)
		fail_msg("%s", err);
	return p;
}

static void expect_error(const char *text, int line, const char *says)
{
	struct policy_error e;
	FILE *f = fopen(path, "w");
	char whole[2048];

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_null(policy_load_checked(path, &e));
	assert_string_equal(e.file, path);
	assert_int_equal(e.line, line);
	if (!strstr(e.message, says))
		fail_msg("'%s' does not say '%s'", e.message, says);
	policy_error_format(&e, whole, sizeof(whole));
	assert_true(strncmp(whole, path, strlen(path)) == 0);
}

static const char clients[] =
	"clients = (\n"
	"  { uid = 1000; permissions = [\"list\", \"claim\"]; drivers = [\"qemu\"];\n"
	"    domains = [\"web-*\", \"db\"]; },\n"
	"  { gid = 36; permissions = [\"watch\", \"release\"]; },\n"
	"  { uid = 1001; permissions = [\"admin\"]; },\n"
	"  { gid = 37; permissions = [\"claim\"]; }\n"
	");\n";

static void test_root_and_default(void **state)
{
	struct policy *p = policy_default();
	struct policy_peer root = { .uid = 0, .gid = 0 }, user = { .uid = 1000, .gid = 1000 };

	/* No clients: anyone may list and watch, root everything. */
	assert_int_equal(policy_permissions(p, &root), ALL);
	assert_int_equal(policy_permissions(p, &user), P(LIST) | P(WATCH));
	assert_int_equal(policy_permissions(NULL, &user), P(LIST) | P(WATCH));
	assert_true(policy_may_claim_for(p, &root, "anything", "at-all"));
	assert_false(policy_may_claim_for(p, &user, "qemu", "vm1"));
	policy_free(p);
	/* Root keeps everything even when no entry names it: no lock-out. */
	p = load(clients);
	assert_int_equal(policy_permissions(p, &root), ALL);
	assert_true(policy_may_claim_for(p, &root, "xen", "other"));
	assert_int_equal(policy_client_count(p), 4);
	policy_free(p);
}

static void test_union_of_entries(void **state)
{
	struct policy *p = load(clients);
	gid_t kvm[] = { 36 }, both[] = { 5, 36, 37 };
	struct policy_peer alice = { .uid = 1000, .gid = 1000 },
			   alice_kvm = { .uid = 1000, .gid = 1000, .groups = kvm, .n_groups = 1 },
			   primary = { .uid = 2000, .gid = 36 },
			   bob = { .uid = 2001, .gid = 2001, .groups = both, .n_groups = 3 },
			   admin = { .uid = 1001, .gid = 1001 },
			   stranger = { .uid = 3000, .gid = 3000 };

	assert_int_equal(policy_permissions(p, &alice), P(LIST) | P(CLAIM));
	/* A supplementary group counts like the primary one. */
	assert_int_equal(policy_permissions(p, &alice_kvm),
			 P(LIST) | P(CLAIM) | P(WATCH) | P(RELEASE));
	assert_int_equal(policy_permissions(p, &primary), P(WATCH) | P(RELEASE));
	assert_int_equal(policy_permissions(p, &bob), P(WATCH) | P(RELEASE) | P(CLAIM));
	/* admin is every permission. */
	assert_int_equal(policy_permissions(p, &admin), ALL);
	/* With a clients section, matching nothing is nothing. */
	assert_int_equal(policy_permissions(p, &stranger), 0);
	policy_free(p);
}

static void test_claim_limits(void **state)
{
	struct policy *p = load(clients);
	gid_t g37[] = { 37 };
	struct policy_peer alice = { .uid = 1000, .gid = 1000 },
			   alice37 = { .uid = 1000, .gid = 1000, .groups = g37, .n_groups = 1 },
			   primary = { .uid = 2000, .gid = 36 }, admin = { .uid = 1001 };

	assert_true(policy_may_claim_for(p, &alice, "qemu", "web-1"));
	assert_true(policy_may_claim_for(p, &alice, "qemu", "db"));
	assert_false(policy_may_claim_for(p, &alice, "qemu", "db2"));
	assert_false(policy_may_claim_for(p, &alice, "xen", "web-1"));
	/* Another entry granting claim without limits widens it. */
	assert_true(policy_may_claim_for(p, &alice37, "xen", "anything"));
	/* An entry without claim grants no owner at all. */
	assert_false(policy_may_claim_for(p, &primary, "qemu", "web-1"));
	assert_true(policy_may_claim_for(p, &admin, "cloud-hypervisor", "x"));
	policy_free(p);
}

/* Names are resolved at load; one the system lacks grants nothing and is
 * a warning naming its line, not an error. */
static void test_names(void **state)
{
	struct passwd *pw = getpwuid(0);
	struct group *gr = getgrgid(0);
	char text[512];
	struct policy *p;
	gid_t g;
	struct policy_peer root_like = { .uid = 0 }, nobody = { .uid = 65534, .gid = 65534 };

	assert_non_null(pw);
	assert_non_null(gr);
	snprintf(text, sizeof(text),
		 "socket_group = \"%s\";\n"
		 "clients = (\n"
		 "  { user = \"no-such-user-hostdevd\"; permissions = [\"admin\"]; },\n"
		 "  { group = \"no-such-group-hostdevd\"; permissions = [\"admin\"]; },\n"
		 "  { user = \"%s\"; permissions = [\"list\"]; }\n"
		 ");\n",
		 gr->gr_name, pw->pw_name);
	p = load(text);
	assert_true(policy_socket_group(p, &g));
	assert_int_equal(g, 0);
	assert_int_equal(policy_warning_count(p), 2);
	assert_non_null(strstr(policy_warning(p, 0), ":3: no user \"no-such-user-hostdevd\""));
	assert_non_null(strstr(policy_warning(p, 1), ":4: no group \"no-such-group-hostdevd\""));
	assert_null(policy_warning(p, 2));
	/* The inert entries match nobody, whatever its ids. */
	assert_int_equal(policy_permissions(p, &nobody), 0);
	assert_int_equal(policy_permissions(p, &root_like), ALL);
	policy_free(p);

	/* An empty clients section: only root. */
	p = load("clients = ();\n");
	assert_int_equal(policy_permissions(p, &nobody), 0);
	assert_int_equal(policy_permissions(p, &root_like), ALL);
	policy_free(p);

	p = load("socket_group = \"no-such-group-hostdevd\";\n");
	assert_false(policy_socket_group(p, &g));
	assert_int_equal(policy_warning_count(p), 1);
	assert_non_null(strstr(policy_warning(p, 0), "the socket stays with root's group"));
	policy_free(p);
}

static void test_settings(void **state)
{
	struct policy *p = load("orphans = \"reattach\";\n");

	assert_int_equal(policy_orphans(p), POLICY_ORPHANS_REATTACH);
	policy_free(p);
	p = load("orphans = \"keep\";\n");
	assert_int_equal(policy_orphans(p), POLICY_ORPHANS_KEEP);
	policy_free(p);
	p = policy_default();
	assert_int_equal(policy_orphans(p), POLICY_ORPHANS_UNSET);
	assert_int_equal(policy_warning_count(p), 0);
	policy_free(p);
}

static void test_errors(void **state)
{
	expect_error("clients = (\n  { uid = -1; permissions = [\"list\"]; }\n);", 2,
		     "'uid' is a number from 0");
	expect_error("clients = (\n  { uid = 1; gid = 2; }\n);", 2, "exactly one of uid");
	expect_error("clients = (\n  { uid = 1;\n    permissions = [\"list\", \"fly\"]; }\n);", 3,
		     "unknown permission \"fly\"");
	expect_error("clients = ( { uid = 1; drivers = [1, 2]; } );", 1, "holds strings only");
	expect_error("clients = ( { uid = 1; domains = \"vm*\"; } );", 1, "list of strings");
	expect_error("clients = ( { uid = 1; colour = \"red\"; } );", 1,
		     "unknown client key 'colour'");
	expect_error("clients = ( \"root\" );", 1, "each client is a group");
	expect_error("socket_group = 36;", 1, "must be a string");
	expect_error("rules = ( { match = {}; action = \"assign\";\n  owner = { driver = \"q\"; "
		     "domain = \"d\"; uuid = \"x\"; }; } );",
		     2, "exactly driver and domain");
	/* Ids are hex digits and nothing else. */
	expect_error("rules = ( { match = { vendor = \"0x1\"; }; action = \"allow\"; } );", 1,
		     "hex digits");
	expect_error("rules = ( { match = { device = \"+1\"; }; action = \"allow\"; } );", 1,
		     "hex digits");
	/* The file as a whole: line 0. */
	assert_int_equal(unlink(path), 0);
	{
		struct policy_error e;

		assert_null(policy_load_checked(path, &e));
		assert_int_equal(e.line, 0);
		assert_non_null(strstr(e.message, "No such file"));
	}
}

/* Which claims a decision refuses, and why in words. */
static void test_refuses_claim(void **state)
{
	struct policy_decision d = { .action = POLICY_ASSIGN, .owner_driver = "qemu",
				     .owner_domain = "router" };
	char why[128];

	assert_false(policy_refuses_claim(&d, "qemu", "router", why, sizeof(why)));
	assert_true(policy_refuses_claim(&d, "qemu", "web", why, sizeof(why)));
	assert_string_equal(why, "the policy reserves it for driver qemu, domain router");
	d.action = POLICY_REFUSE;
	assert_true(policy_refuses_claim(&d, "qemu", "router", why, sizeof(why)));
	assert_string_equal(why, "the policy says refuse");
	d.action = POLICY_IGNORE;
	assert_true(policy_refuses_claim(&d, "qemu", "router", why, sizeof(why)));
	d.action = POLICY_DETACH;
	assert_false(policy_refuses_claim(&d, "qemu", "router", why, sizeof(why)));
	d.action = POLICY_ALLOW;
	assert_false(policy_refuses_claim(&d, "qemu", "router", why, sizeof(why)));
	assert_string_equal(policy_permission_name(POLICY_PERM_RESET), "reset");
	assert_string_equal(policy_permission_name(POLICY_PERM__COUNT), "invalid");
}

/* @include finds its file next to the including one, and what is wrong
 * in it is named by its own path. */
static void test_include(void **state)
{
	char dir[] = "/tmp/test_policy_include.XXXXXX", main_file[PATH_MAX], inc[PATH_MAX];
	struct policy_error e;
	struct policy *p;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(main_file, sizeof(main_file), "%s/policy.conf", dir);
	snprintf(inc, sizeof(inc), "%s/rules.inc", dir);
	f = fopen(main_file, "w");
	fputs("default = \"refuse\";\n@include \"rules.inc\"\n", f);
	fclose(f);
	f = fopen(inc, "w");
	fputs("rules = (\n  { match = { vendor = \"10de\"; }; action = \"allow\"; }\n);\n", f);
	fclose(f);
	assert_int_equal(chdir("/"), 0);
	p = policy_load_checked(main_file, &e);
	if (!p)
		fail_msg("%s:%d: %s", e.file, e.line, e.message);
	assert_int_equal(policy_rule_count(p), 1);
	policy_free(p);
	f = fopen(inc, "w");
	fputs("rules = (\n  { match = { vendr = \"10de\"; }; action = \"allow\"; }\n);\n", f);
	fclose(f);
	assert_null(policy_load_checked(main_file, &e));
	assert_string_equal(e.file, inc);
	assert_int_equal(e.line, 2);
	unlink(inc);
	unlink(main_file);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_and_default), cmocka_unit_test(test_union_of_entries),
		cmocka_unit_test(test_claim_limits),	 cmocka_unit_test(test_names),
		cmocka_unit_test(test_settings),	 cmocka_unit_test(test_errors),
		cmocka_unit_test(test_refuses_claim),	 cmocka_unit_test(test_include),
	};
	int fd = mkstemp(path), r;

	if (fd < 0)
		return 1;
	close(fd);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(path);
	return r;
}
