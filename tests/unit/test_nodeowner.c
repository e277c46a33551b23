/* The claim engine's side of the VFIO nodes' owner (engine/nodeowner.c),
 * on a claim table and device records of its own and real character
 * device nodes in a scratch directory, with the worker on a real loop: a
 * group's node given back and handed over again before the worker ran
 * takes the original owner, not the one read meanwhile; a group's node
 * another uid holds stays with it; a node someone else changed is not
 * given back; a plan for uid 0 is none.  mknod and chown need root: the
 * tests skip otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/util.h"
#include "engine/nodeowner.h"
#include "tests/common/rmtree.h"
#include "tests/unit/testdev.h"

#include <event2/event.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define DEADLINE_S 10
#define G10_A "0000:05:00.0"
#define G10_B "0000:05:01.0"
#define ORIG_GID 7

static const struct claim_owner qemu_vm1 = { .driver = "qemu", .domain = "vm1" };

/* Holds the worker until released. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
};

static void gate_wait(void *arg)
{
	struct gate *g = arg;

	pthread_mutex_lock(&g->lock);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}


struct fixture {
	char root[64];
	struct event_base *base;
	struct devtable *t;
	struct claims *c;
	struct nodeowner *no;
	unsigned thens;
	struct gate gate; /* opened at teardown too: a failed test never leaves the worker held */
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char path[PATH_MAX];

	strcpy(f->root, "/tmp/hd-nodeowner.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(path, sizeof(path), "%s/vfio", f->root);
	assert_int_equal(mkdir(path, 0755), 0);
	f->base = event_base_new();
	f->t = devtable_new();
	f->c = claims_new();
	f->no = nodeowner_new(f->base, f->root, f->c);
	pthread_mutex_init(&f->gate.lock, NULL);
	pthread_cond_init(&f->gate.cond, NULL);
	/* Two functions of group 10 on vfio-pci, no cdev (their sysfs
	 * directories are the scratch directory's, without vfio-dev/). */
	for (int i = 0; i < 2; i++) {
		struct device *d = testdev_pci(i ? G10_B : G10_A, 0x10ec, 0x8168, 0x020000, 10,
					       "vfio-pci", NULL);

		free(d->syspath);
		d->syspath = xstrdup(f->root);
		devtable_upsert(f->t, d, DEV_EVENT_ADD, NULL);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	gate_open(&f->gate);
	nodeowner_free(f->no);
	pthread_cond_destroy(&f->gate.cond);
	pthread_mutex_destroy(&f->gate.lock);
	claims_free(f->c);
	devtable_free(f->t);
	event_base_free(f->base);
	assert_int_equal(rmtree(f->root), 0);
	free(f);
	return 0;
}

static void put_node(struct fixture *f, const char *rel, uid_t uid, gid_t gid)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	assert_int_equal(mknod(path, S_IFCHR | 0600, makedev(1, 3)), 0);
	assert_int_equal(chown(path, uid, gid), 0);
}

static void expect_owner(struct fixture *f, const char *rel, uid_t uid, gid_t gid)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	assert_int_equal(lstat(path, &st), 0);
	if (st.st_uid != uid || st.st_gid != gid)
		fail_msg("%s is %u:%u, expected %u:%u", path, (unsigned)st.st_uid,
			 (unsigned)st.st_gid, (unsigned)uid, (unsigned)gid);
}

static struct claim_entry *reserve(struct fixture *f, const char *id, uid_t uid)
{
	const struct claim_cred cred = { .uid = uid, .gid = uid, .pid = 42 };

	return claims_reserve(f->c, id, &qemu_vm1, true, &cred);
}

static void on_then(void *arg)
{
	((struct fixture *)arg)->thens++;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	fail_msg("deadline passed while waiting for the worker");
}

static void pump_until_thens(struct fixture *f, unsigned n)
{
	struct timeval tv = { .tv_sec = DEADLINE_S };
	struct event *deadline = evtimer_new(f->base, on_deadline, NULL);

	evtimer_add(deadline, &tv);
	while (f->thens < n)
		event_base_loop(f->base, EVLOOP_ONCE);
	event_free(deadline);
}

static bool is_ctx(const struct claim_entry *e, void *ctx)
{
	return e == ctx;
}

/* Hands the node of `id`'s group over to uid through a plan. */
static void hand_over(struct fixture *f, const char *id, uid_t uid)
{
	char *ids[] = { (char *)id };
	bool skip[] = { false };
	struct node_plan *p = nodeowner_plan(f->no, f->t, uid, ids, skip, 1);

	assert_non_null(p);
	nodeowner_hand_over(f->no, p, on_then, f);
	pump_until_thens(f, f->thens + 1);
}

/* A's release gives vfio/10 back while B's claim hands it over again,
 * before the worker made the first change (held at a gate): B records the
 * owner the node will have (0:7), not the 1000 read on the loop meanwhile,
 * and the node ends 1000's. */
static void test_give_back_then_hand_over(void **state)
{
	struct fixture *f = *state;
	struct claim_entry *a, *b;
	char *ids[] = { G10_B };
	bool skip[] = { false };
	struct node_plan *p;

	if (geteuid() != 0)
		skip();
	put_node(f, "vfio/10", 0, ORIG_GID);
	a = reserve(f, G10_A, 1000);
	hand_over(f, G10_A, 1000);
	expect_owner(f, "vfio/10", 1000, ORIG_GID);
	assert_string_equal(a->node_owner, "set");
	assert_int_equal(claim_node_find(a, "vfio/10")->orig_uid, 0);

	vfionodes_set_job_hook(nodeowner_nodes(f->no), gate_wait, &f->gate);
	nodeowner_give_back(f->no, is_ctx, a, on_then, f);
	assert_int_equal(a->n_nodes, 0);
	assert_true(claims_remove(f->c, G10_A));
	/* Not given back yet: the worker waits at the gate. */
	expect_owner(f, "vfio/10", 1000, ORIG_GID);
	b = reserve(f, G10_B, 1000);
	p = nodeowner_plan(f->no, f->t, 1000, ids, skip, 1);
	assert_non_null(p);
	assert_int_equal(claim_node_find(b, "vfio/10")->orig_uid, 0);
	assert_int_equal(claim_node_find(b, "vfio/10")->orig_gid, ORIG_GID);
	nodeowner_hand_over(f->no, p, on_then, f);
	gate_open(&f->gate);
	pump_until_thens(f, 3);
	expect_owner(f, "vfio/10", 1000, ORIG_GID);
	assert_string_equal(b->node_owner, "set");

	/* And back with B. */
	nodeowner_give_back(f->no, is_ctx, b, on_then, f);
	pump_until_thens(f, 4);
	expect_owner(f, "vfio/10", 0, ORIG_GID);
}

/* The group's node recorded for uid 1000 by A: B's claim by uid 2000 does
 * not take it (the first keeps it) and says so; B's release leaves it. */
static void test_group_node_keeps_first_uid(void **state)
{
	struct fixture *f = *state;
	struct claim_entry *a, *b;
	char *ids[] = { G10_B };
	bool skip[] = { false };

	if (geteuid() != 0)
		skip();
	put_node(f, "vfio/10", 0, ORIG_GID);
	a = reserve(f, G10_A, 1000);
	hand_over(f, G10_A, 1000);
	b = reserve(f, G10_B, 2000);
	assert_null(nodeowner_plan(f->no, f->t, 2000, ids, skip, 1));
	assert_non_null(b->node_owner);
	assert_non_null(strstr(b->node_owner, "is uid 1000's"));
	assert_int_equal(b->n_nodes, 0);
	expect_owner(f, "vfio/10", 1000, ORIG_GID);
	nodeowner_give_back(f->no, is_ctx, b, on_then, f);
	assert_int_equal(f->thens, 2); /* nothing to change: at once */
	expect_owner(f, "vfio/10", 1000, ORIG_GID);
	nodeowner_give_back(f->no, is_ctx, a, on_then, f);
	pump_until_thens(f, 3);
	expect_owner(f, "vfio/10", 0, ORIG_GID);
}

/* An administrator gave the node to uid 3000 meanwhile: the release
 * leaves it with 3000. */
static void test_changed_node_left_alone(void **state)
{
	struct fixture *f = *state;
	struct claim_entry *a;
	char path[PATH_MAX];

	if (geteuid() != 0)
		skip();
	put_node(f, "vfio/10", 0, ORIG_GID);
	a = reserve(f, G10_A, 1000);
	hand_over(f, G10_A, 1000);
	snprintf(path, sizeof(path), "%s/vfio/10", f->root);
	assert_int_equal(chown(path, 3000, ORIG_GID), 0);
	nodeowner_give_back(f->no, is_ctx, a, on_then, f);
	pump_until_thens(f, 2);
	expect_owner(f, "vfio/10", 3000, ORIG_GID);
}

/* uid 0: no plan, no record, no node_owner. */
static void test_root_plans_nothing(void **state)
{
	struct fixture *f = *state;
	struct claim_entry *a;
	char *ids[] = { G10_A };
	bool skip[] = { false };

	if (geteuid() != 0)
		skip();
	put_node(f, "vfio/10", 0, ORIG_GID);
	a = reserve(f, G10_A, 0);
	assert_null(nodeowner_plan(f->no, f->t, 0, ids, skip, 1));
	assert_int_equal(a->n_nodes, 0);
	assert_null(a->node_owner);
	expect_owner(f, "vfio/10", 0, ORIG_GID);
}

/* The state file's records of claims that are gone: given back at once,
 * except a node a kept claim records, and never a name hostdevd does not
 * make. */
static void test_give_back_now(void **state)
{
	struct fixture *f = *state;
	struct claim_entry *kept;
	const struct claim_node recs[] = {
		{ .name = "vfio/10", .uid = 1000, .orig_uid = 0, .orig_gid = ORIG_GID },
		{ .name = "vfio/11", .uid = 1000, .orig_uid = 0, .orig_gid = ORIG_GID },
		{ .name = "vfio/../vfio/11", .uid = 1000, .orig_uid = 5, .orig_gid = 5 },
	};

	if (geteuid() != 0)
		skip();
	put_node(f, "vfio/10", 1000, ORIG_GID);
	put_node(f, "vfio/11", 1000, ORIG_GID);
	kept = reserve(f, G10_A, 1000);
	claim_node_add(kept, &recs[0]);
	nodeowner_give_back_now(f->no, recs, 3);
	expect_owner(f, "vfio/10", 1000, ORIG_GID);
	expect_owner(f, "vfio/11", 0, ORIG_GID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_give_back_then_hand_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_node_keeps_first_uid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_node_left_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_plans_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_give_back_now, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
