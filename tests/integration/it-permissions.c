/* Client permissions from the policy (docs/policy.md "Clients"), enforced
 * for every method from the dispatch table: for each permission a client
 * without it gets io.hostdevd.PermissionDenied and one with it succeeds;
 * a client releases only its own claims unless it has admin; the socket
 * belongs to socket_group.  The clients connect under other uids (seteuid
 * around connect: the kernel records the credentials of the connect), so
 * this needs root; it skips otherwise. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NIC "0000:03:00.0"  /* e1000e */
#define NIC2 "0000:02:00.0" /* e1000e */

/* One uid per permission, a group, and a stranger. */
enum {
	U_LIST = 60001, U_WATCH, U_CLAIM, U_RELEASE, U_DETACH, U_RESET, U_ADMIN, U_NONE,
	U_GROUPED,
	/* Hypervisors: claim, release and reset for qemu/vm-*; the first may
	 * list too (and so be told which uid holds a claim). */
	U_HYPER, U_OTHER,
	G_LISTERS = 60100
};

static gid_t sock_gid;

static int setup(void **state)
{
	struct group *g = getgrgid(65534);
	char text[2048];
	int r;

	if (geteuid() != 0 || !g) {
		*state = NULL;
		return 0;
	}
	sock_gid = g->gr_gid;
	snprintf(text, sizeof(text),
		 "socket_group = \"%s\";\n"
		 "clients = (\n"
		 "  { uid = %d; permissions = [\"list\"]; },\n"
		 "  { uid = %d; permissions = [\"watch\"]; },\n"
		 "  { uid = %d; permissions = [\"claim\"]; drivers = [\"qemu\"];\n"
		 "    domains = [\"vm*\"]; },\n"
		 "  { uid = %d; permissions = [\"claim\", \"release\"]; },\n"
		 "  { uid = %d; permissions = [\"detach\"]; },\n"
		 "  { uid = %d; permissions = [\"reset\"]; },\n"
		 "  { uid = %d; permissions = [\"admin\"]; },\n"
		 "  { gid = %d; permissions = [\"list\"]; },\n"
		 "  { uid = %d; permissions = [\"claim\", \"release\", \"reset\", \"list\"];\n"
		 "    drivers = [\"qemu\"]; domains = [\"vm-*\"]; },\n"
		 "  { uid = %d; permissions = [\"claim\", \"release\", \"reset\"];\n"
		 "    drivers = [\"qemu\"]; domains = [\"vm-*\"]; }\n"
		 ");\n",
		 g->gr_name, U_LIST, U_WATCH, U_CLAIM, U_RELEASE, U_DETACH, U_RESET, U_ADMIN,
		 G_LISTERS, U_HYPER, U_OTHER);
	r = kfix_setup_policy(state, text);
	/* Other uids must reach the socket: the daemon's private directory
	 * is root's, mode 0700. */
	if (r == 0)
		assert_int_equal(chmod(((struct fixture *)*state)->daemon.dir, 0755), 0);
	return r;
}

/* A connection as uid (and, when group is set, with it as its only
 * supplementary group), reaching the socket through its group. */
static struct vlc *connect_as(struct fixture *f, uid_t uid, gid_t group)
{
	struct vlc *c;

	if (group)
		assert_int_equal(setgroups(1, &group), 0);
	assert_int_equal(setegid(sock_gid), 0);
	assert_int_equal(seteuid(uid), 0);
	c = vlc_connect(f->daemon.socket_path);
	assert_int_equal(seteuid(0), 0);
	assert_int_equal(setegid(0), 0);
	if (group)
		assert_int_equal(setgroups(0, NULL), 0);
	return c;
}

static json_object *call_as(struct fixture *f, uid_t uid, const char *method, json_object *p)
{
	struct vlc *c = connect_as(f, uid, 0);
	json_object *reply = vlc_call(c, method, p);

	vlc_free(c);
	return reply;
}

/* PermissionDenied naming the method and the permission. */
static void expect_denied(json_object *reply, const char *method, const char *perm)
{
	json_object *p;

	assert_non_null(vlc_error(reply));
	assert_string_equal(vlc_error(reply), "io.hostdevd.PermissionDenied");
	p = vlc_reply_params(reply);
	assert_string_equal(kfix_str_at(p, "method", NULL), method);
	assert_string_equal(kfix_str_at(p, "permission", NULL), perm);
	assert_non_null(kfix_str_at(p, "reason", NULL));
	json_object_put(reply);
}

/* Calls method with params (consumed) as uid, expecting success; then as
 * `without`, expecting PermissionDenied for perm. */
static void check(struct fixture *f, const char *method, json_object *(*params)(void),
		  uid_t with, uid_t without, const char *perm)
{
	json_object *p = params ? params() : NULL;

	expect_denied(call_as(f, without, method, p), method, perm);
	vlc_expect_ok(call_as(f, with, method, p));
	json_object_put(p);
}

static json_object *nic_params(void)
{
	return kfix_dev_params(NIC, NULL);
}

static json_object *no_params(void)
{
	return json_object_new_object();
}

static void test_socket(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	if (!f)
		skip();
	assert_int_equal(stat(f->daemon.socket_path, &st), 0);
	assert_int_equal(st.st_gid, sock_gid);
	assert_int_equal(st.st_mode & 0777, 0660);
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	struct vlc *c;

	if (!f)
		skip();
	check(f, "io.hostdevd.ListDevices", no_params, U_LIST, U_WATCH, "list");
	check(f, "io.hostdevd.GetDevice", nic_params, U_LIST, U_CLAIM, "list");
	check(f, "io.hostdevd.GetStatus", NULL, U_LIST, U_NONE, "list");
	check(f, "io.hostdevd.CheckPolicy", nic_params, U_LIST, U_DETACH, "list");
	check(f, "io.hostdevd.ListClaims", no_params, U_LIST, U_RESET, "list");
	/* Introspection needs nothing. */
	vlc_expect_ok(call_as(f, U_NONE, "org.varlink.service.GetInfo", NULL));
	/* A supplementary group counts. */
	c = connect_as(f, U_GROUPED, G_LISTERS);
	vlc_expect_ok(vlc_call(c, "io.hostdevd.ListDevices", NULL));
	vlc_free(c);
	expect_denied(call_as(f, U_GROUPED, "io.hostdevd.ListDevices", NULL),
		      "io.hostdevd.ListDevices", "list");
}

static void test_watch(void **state)
{
	struct fixture *f = *state;
	struct vlc *c;
	json_object *reply;

	if (!f)
		skip();
	c = connect_as(f, U_LIST, 0);
	vlc_send(c, "io.hostdevd.Watch", NULL, true);
	expect_denied(vlc_recv(c), "io.hostdevd.Watch", "watch");
	vlc_free(c);
	c = connect_as(f, U_WATCH, 0);
	vlc_send(c, "io.hostdevd.Watch", NULL, true);
	reply = vlc_recv(c);
	assert_null(vlc_error(reply));
	assert_non_null(kfix_str_at(reply, "parameters", "sequence"));
	json_object_put(reply);
	vlc_free(c);
}

static void test_claim_and_release(void **state)
{
	struct fixture *f = *state;
	json_object *p;

	if (!f)
		skip();
	p = kfix_owner_params("qemu", "vm1", NIC);
	expect_denied(call_as(f, U_LIST, "io.hostdevd.Claim", p), "io.hostdevd.Claim", "claim");
	/* Outside the client's drivers and domains. */
	json_object_put(p);
	p = kfix_owner_params("libxl", "vm1", NIC);
	expect_denied(call_as(f, U_CLAIM, "io.hostdevd.Claim", p), "io.hostdevd.Claim", "claim");
	json_object_put(p);
	p = kfix_owner_params("qemu", "web", NIC);
	expect_denied(call_as(f, U_CLAIM, "io.hostdevd.Claim", p), "io.hostdevd.Claim", "claim");
	json_object_put(p);
	assert_int_equal(kemu_writes(f->root, "driver_override", NIC), 0);
	/* Within them. */
	p = kfix_owner_params("qemu", "vm1", NIC);
	vlc_expect_ok(call_as(f, U_CLAIM, "io.hostdevd.Claim", p));
	assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	/* Its own claim, but no release permission. */
	expect_denied(call_as(f, U_CLAIM, "io.hostdevd.Release", p), "io.hostdevd.Release",
		      "release");
	/* Release permission, but another uid's claim: admin is needed. */
	expect_denied(call_as(f, U_RELEASE, "io.hostdevd.Release", p), "io.hostdevd.Release",
		      "admin");
	assert_int_equal(kfix_claims(f), 1);
	vlc_expect_ok(call_as(f, U_ADMIN, "io.hostdevd.Release", p));
	assert_int_equal(kfix_claims(f), 0);
	json_object_put(p);
	/* Claim and release of one's own. */
	p = kfix_owner_params("libxl", "dom7", NIC2);
	vlc_expect_ok(call_as(f, U_RELEASE, "io.hostdevd.Claim", p));
	vlc_expect_ok(call_as(f, U_RELEASE, "io.hostdevd.Release", p));
	json_object_put(p);
	assert_string_equal(kfix_kernel_driver(f, NIC2), "e1000e");
}

static void test_detach_reset_admin(void **state)
{
	struct fixture *f = *state;
	json_object *p = kfix_dev_params(NIC, NULL);

	if (!f)
		skip();
	expect_denied(call_as(f, U_CLAIM, "io.hostdevd.Detach", p), "io.hostdevd.Detach",
		      "detach");
	vlc_expect_ok(call_as(f, U_DETACH, "io.hostdevd.Detach", p));
	expect_denied(call_as(f, U_RESET, "io.hostdevd.Reattach", p), "io.hostdevd.Reattach",
		      "detach");
	vlc_expect_ok(call_as(f, U_DETACH, "io.hostdevd.Reattach", p));
	expect_denied(call_as(f, U_DETACH, "io.hostdevd.Reset", p), "io.hostdevd.Reset",
		      "reset");
	vlc_expect_ok(call_as(f, U_RESET, "io.hostdevd.Reset", p));
	json_object_put(p);
	expect_denied(call_as(f, U_RELEASE, "io.hostdevd.ReloadPolicy", NULL),
		      "io.hostdevd.ReloadPolicy", "admin");
	vlc_expect_ok(call_as(f, U_ADMIN, "io.hostdevd.ReloadPolicy", NULL));
	/* admin is every permission. */
	vlc_expect_ok(call_as(f, U_ADMIN, "io.hostdevd.ListDevices", NULL));
}

/* PermissionDenied as expect_denied, whose reason holds `text`. */
static void expect_denied_saying(json_object *reply, const char *method, const char *perm,
				 const char *text)
{
	const char *reason = kfix_str_at(vlc_reply_params(reply), "reason", NULL);

	if (!reason || !strstr(reason, text))
		fail_msg("%s: reason '%s' does not say '%s'", method, reason ? reason : "(none)",
			 text);
	expect_denied(reply, method, perm);
}

/* Issue 12: a peer with reset and a claim grant for qemu/vm-* passed
 * root's owner name {libxl, prod-db} and reset root's device.  Naming an
 * owner proves nothing: the claim's uid or admin does. */
static void test_reset_needs_the_claims_uid(void **state)
{
	struct fixture *f = *state;
	json_object *p, *o;

	if (!f)
		skip();
	p = kfix_owner_params("libxl", "prod-db", NIC);
	vlc_expect_ok(vlc_call(f->c, "io.hostdevd.Claim", p));
	json_object_put(p);
	p = kfix_dev_params(NIC, NULL);
	o = kfix_owner("libxl", "prod-db");
	json_object_object_add(p, "owner", o);
	/* The uid is named to a peer that may list claims, not to others. */
	expect_denied_saying(call_as(f, U_HYPER, "io.hostdevd.Reset", p), "io.hostdevd.Reset",
			     "admin", "uid 0");
	expect_denied_saying(call_as(f, U_OTHER, "io.hostdevd.Reset", p), "io.hostdevd.Reset",
			     "admin", "another user");
	assert_int_equal(kemu_writes(f->root, "reset", NIC), 0);
	/* Nor may it end root's claim by naming it. */
	json_object_object_del(p, "device");
	json_object_object_del(p, "owner");
	json_object_object_add(p, "owner", kfix_owner("libxl", "prod-db"));
	expect_denied(call_as(f, U_HYPER, "io.hostdevd.Release", p), "io.hostdevd.Release",
		      "admin");
	assert_int_equal(kfix_claims(f), 1);
	json_object_put(p);
	/* admin may, and root itself. */
	p = kfix_dev_params(NIC, NULL);
	json_object_object_add(p, "owner", kfix_owner("libxl", "prod-db"));
	vlc_expect_ok(call_as(f, U_ADMIN, "io.hostdevd.Reset", p));
	vlc_expect_ok(vlc_call(f->c, "io.hostdevd.Reset", p));
	assert_int_equal(kemu_writes(f->root, "reset", NIC), 2);
	json_object_put(p);
	/* A hypervisor resets its own claim's device. */
	p = kfix_owner_params("qemu", "vm-7", NIC2);
	vlc_expect_ok(call_as(f, U_HYPER, "io.hostdevd.Claim", p));
	json_object_put(p);
	p = kfix_dev_params(NIC2, NULL);
	json_object_object_add(p, "owner", kfix_owner("qemu", "vm-7"));
	expect_denied(call_as(f, U_OTHER, "io.hostdevd.Reset", p), "io.hostdevd.Reset", "admin");
	vlc_expect_ok(call_as(f, U_HYPER, "io.hostdevd.Reset", p));
	assert_int_equal(kemu_writes(f->root, "reset", NIC2), 1);
	json_object_put(p);
}

/* An owner name belongs to the uid whose claims hold it: another uid may
 * not claim for it (not even admin: the claim would record its uid, and
 * the owner's Release would then fail for both), nor be answered with the
 * other's claim. */
static void test_owner_name_belongs_to_one_uid(void **state)
{
	struct fixture *f = *state;
	json_object *p, *reply;

	if (!f)
		skip();
	p = kfix_owner_params("qemu", "vm-1", NIC);
	vlc_expect_ok(call_as(f, U_HYPER, "io.hostdevd.Claim", p));
	/* Re-declaring the other uid's claim: no success echoing it. */
	reply = call_as(f, U_OTHER, "io.hostdevd.Claim", p);
	assert_false(json_object_object_get_ex(vlc_reply_params(reply), "claims", NULL));
	expect_denied_saying(reply, "io.hostdevd.Claim", "claim", "another user");
	json_object_put(p);
	/* A new device for the same owner name. */
	p = kfix_owner_params("qemu", "vm-1", NIC2);
	expect_denied_saying(call_as(f, U_OTHER, "io.hostdevd.Claim", p), "io.hostdevd.Claim",
			     "claim", "another user");
	expect_denied_saying(vlc_call(f->c, "io.hostdevd.Claim", p), "io.hostdevd.Claim",
			     "claim", "uid 60010");
	assert_string_equal(kfix_kernel_driver(f, NIC2), "e1000e");
	assert_int_equal(kemu_writes(f->root, "driver_override", NIC2), 0);
	assert_int_equal(kfix_claims(f), 1);
	json_object_put(p);
	/* Release of all the owner holds: only its uid (or admin). */
	p = kfix_owner_params("qemu", "vm-1", NULL);
	expect_denied(call_as(f, U_OTHER, "io.hostdevd.Release", p), "io.hostdevd.Release",
		      "admin");
	assert_int_equal(kfix_claims(f), 1);
	vlc_expect_ok(call_as(f, U_HYPER, "io.hostdevd.Release", p));
	assert_int_equal(kfix_claims(f), 0);
	assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
	/* Released, the name is free for another uid. */
	json_object_put(p);
	p = kfix_owner_params("qemu", "vm-1", NIC2);
	vlc_expect_ok(call_as(f, U_OTHER, "io.hostdevd.Claim", p));
	vlc_expect_ok(call_as(f, U_OTHER, "io.hostdevd.Release", p));
	json_object_put(p);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, kfix_teardown)
	const struct CMUnitTest tests[] = {
		T(test_socket), T(test_list), T(test_watch), T(test_claim_and_release),
		T(test_detach_reset_admin), T(test_reset_needs_the_claims_uid),
		T(test_owner_name_belongs_to_one_uid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
