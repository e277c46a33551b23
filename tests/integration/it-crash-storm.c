/* kill -9 storm (issue 5): four clients claim and release devices at
 * random for random owners while the daemon is killed with SIGKILL at
 * random moments and started again on the same state directory, round
 * after round (HOSTDEVD_STORM_ROUNDS, default 300; STORM_DEBUG=1 prints
 * the daemon's log on a failure).  After each restart:
 *   - every claim acknowledged to a client and not released since is
 *     present, with the same owner;
 *   - no device is in two claims;
 *   - no device sits on a stub without a record (a claim or the pool);
 *   - every device without a claim is on its original driver, or listed in
 *     GetStatus's attention.
 * A request whose answer was lost with the daemon has an unknown outcome:
 * the restart decides, and the model takes what ListClaims then says. */
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "client/hdclient.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENTS 4
#define OWNERS 3
#define DEFAULT_ROUNDS 300

static const char *const devs[] = { "0000:02:00.0", "0000:03:00.0", "0000:00:17.0" };
static const char *const natives[] = { "e1000e", "e1000e", "ahci" };
#define NDEVS ARRAY_SIZE(devs)

/* What the clients were told.  owner[i]: the domain index holding devs[i]
 * by an acknowledged claim, -1 when free; unsure[i]: a request on it lost
 * its answer, so the restart decides. */
struct model {
	pthread_mutex_t lock;
	int owner[NDEVS];
	bool unsure[NDEVS];
};

struct storm {
	const char *socket;
	struct model m;
	/* One request per device at a time: two clients' answers about one
	 * device, taken by their threads in the other order, would leave the
	 * model with the earlier outcome.  Devices still race each other;
	 * it-claim-race covers clients racing for one device. */
	pthread_mutex_t dev_lock[NDEVS];
	pthread_cond_t answered; /* under m.lock: acked grew, or a client ended */
	int acked, ended;        /* this round, under m.lock */
	atomic_bool stop;
	unsigned seed;
};

static struct hdproc dead[2];
static size_t n_dead;

static json_object *request(int dev, int owner)
{
	char domain[16];

	snprintf(domain, sizeof(domain), "vm%d", owner);
	return kfix_owner_params("qemu", domain, devs[dev]);
}

/* One client's loop: no cmocka here, only the model under its lock. */
static void *client_main(void *arg)
{
	struct storm *st = arg;
	struct hdclient_error cerr;
	struct hdclient *c = hdclient_connect(st->socket, &cerr);
	unsigned seed = __atomic_add_fetch(&st->seed, 7919, __ATOMIC_RELAXED);

	while (c && !atomic_load(&st->stop)) {
		int dev = (int)(rand_r(&seed) % NDEVS), owner = (int)(rand_r(&seed) % OWNERS);
		bool claim = rand_r(&seed) % 2;
		json_object *p = request(dev, owner), *reply;
		const char *error;
		int r;

		pthread_mutex_lock(&st->dev_lock[dev]);
		r = hdclient_call(c, claim ? "io.hostdevd.Claim" : "io.hostdevd.Release", p, &reply,
				  &error);
		json_object_put(p);
		pthread_mutex_lock(&st->m.lock);
		if (r < 0) {
			/* The daemon died with the request: it may or may not
			 * have happened. */
			st->m.unsure[dev] = true;
		} else {
			if (!error)
				st->m.owner[dev] = claim ? owner : -1;
			st->acked++;
			pthread_cond_signal(&st->answered);
		}
		pthread_mutex_unlock(&st->m.lock);
		pthread_mutex_unlock(&st->dev_lock[dev]);
		if (r < 0)
			break;
	}
	hdclient_free(c);
	pthread_mutex_lock(&st->m.lock);
	st->ended++;
	pthread_cond_signal(&st->answered);
	pthread_mutex_unlock(&st->m.lock);
	return NULL;
}

/* The first daemon's state directory, which every later one uses; copied,
 * since that daemon's directory strings go with its cleanup. */
static char state_dir[PATH_MAX];

/* Kills the daemon, keeps its directory (the state lives there), starts
 * another on the same state. */
static void kill_and_restart(struct fixture *f)
{
	struct hdproc gone;

	kfix_crash(f, &gone);
	/* The first daemon's directory holds the state: it stays; of the
	 * later ones only the last is kept. */
	if (n_dead == ARRAY_SIZE(dead))
		hdproc_cleanup(&dead[--n_dead]);
	dead[n_dead++] = gone;
	kfix_start_on(f, state_dir);
}

/* Until no device of ours is moving (a restart may reattach some). */
static void wait_settled(struct fixture *f)
{
	for (int tries = 0; tries < 100000; tries++) {
		json_object *reply = vlc_call(f->c, "io.hostdevd.ListDevices", NULL), *list;
		bool moving = false;

		assert_true(json_object_object_get_ex(vlc_params(reply), "devices", &list));
		for (size_t i = 0; i < json_object_array_length(list); i++) {
			const char *state = kfix_str_at(json_object_array_get_idx(list, i), "state", NULL);

			moving |= streq(state, "detaching") || streq(state, "releasing");
		}
		json_object_put(reply);
		if (!moving)
			return;
	}
	fail_msg("devices kept moving after the restart");
}

static int claim_owner(json_object *claims, const char *id)
{
	int owner = -1, seen = 0;

	for (size_t i = 0; i < json_object_array_length(claims); i++) {
		json_object *e = json_object_array_get_idx(claims, i);

		if (streq(kfix_str_at(e, "device", NULL), id)) {
			seen++;
			owner = atoi(kfix_str_at(e, "owner", "domain") + 2);
		}
	}
	if (seen > 1)
		fail_msg("%s is in %d claims", id, seen);
	return owner;
}

static bool attention_lists(json_object *att, const char *id)
{
	for (size_t i = 0; i < json_object_array_length(att); i++)
		if (streq(kfix_str_at(json_object_array_get_idx(att, i), "device", NULL), id))
			return true;
	return false;
}

static void check_invariants(struct fixture *f, struct model *m, int round)
{
	json_object *lc = vlc_call(f->c, "io.hostdevd.ListClaims", NULL), *claims;
	json_object *gs = vlc_call(f->c, "io.hostdevd.GetStatus", NULL), *att;

	assert_true(json_object_object_get_ex(vlc_params(lc), "claims", &claims));
	assert_true(json_object_object_get_ex(vlc_params(gs), "attention", &att));
	for (size_t i = 0; i < NDEVS; i++) {
		int held = claim_owner(claims, devs[i]);
		const char *drv = kfix_kernel_driver(f, devs[i]);

		if (!m->unsure[i] && held != m->owner[i])
			fail_msg("round %d: %s acknowledged for vm%d, now held by %d", round, devs[i],
				 m->owner[i], held);
		if (streq(drv, "vfio-pci") && held < 0) {
			json_object *reply = kfix_call_dev(f, "io.hostdevd.GetDevice", devs[i], NULL);
			const char *orig = kfix_str_at(vlc_params(reply), "device", "original_driver");

			if (!orig && !attention_lists(att, devs[i]))
				fail_msg("round %d: %s on vfio-pci with no record", round, devs[i]);
			json_object_put(reply);
		}
		if (held < 0 && !streq(drv, natives[i]) && !streq(drv, "vfio-pci") &&
		    !attention_lists(att, devs[i]) && getenv("STORM_DEBUG")) {
			char *log = hdproc_log(&f->daemon);

			fprintf(stderr, "%s\n", log);
			free(log);
		}
		if (held < 0 && !streq(drv, natives[i]) && !streq(drv, "vfio-pci") &&
		    !attention_lists(att, devs[i]))
			fail_msg("round %d: %s unclaimed on '%s', not %s, and not reported", round,
				 devs[i], drv, natives[i]);
		/* The restart decided: the model takes its answer. */
		m->owner[i] = held;
		m->unsure[i] = false;
	}
	json_object_put(lc);
	json_object_put(gs);
}

static void test_storm(void **state)
{
	struct fixture *f = *state;
	const char *env = getenv("HOSTDEVD_STORM_ROUNDS");
	int rounds = env ? atoi(env) : DEFAULT_ROUNDS;
	struct storm st = { .seed = 12345 };
	unsigned seed = 4242;

	snprintf(state_dir, sizeof(state_dir), "%s", f->daemon.state_dir);
	pthread_mutex_init(&st.m.lock, NULL);
	pthread_cond_init(&st.answered, NULL);
	for (size_t i = 0; i < NDEVS; i++) {
		st.m.owner[i] = -1;
		pthread_mutex_init(&st.dev_lock[i], NULL);
	}
	for (int round = 0; round < rounds; round++) {
		pthread_t t[CLIENTS];
		int target = 1 + (int)(rand_r(&seed) % 12);

		st.socket = f->daemon.socket_path;
		st.acked = st.ended = 0;
		atomic_store(&st.stop, false);
		for (int i = 0; i < CLIENTS; i++)
			assert_int_equal(pthread_create(&t[i], NULL, client_main, &st), 0);
		/* A random moment: after a random number of answers, with the
		 * other clients' requests in flight. */
		pthread_mutex_lock(&st.m.lock);
		while (st.acked < target && st.ended < CLIENTS)
			pthread_cond_wait(&st.answered, &st.m.lock);
		pthread_mutex_unlock(&st.m.lock);
		kill_and_restart(f);
		atomic_store(&st.stop, true);
		for (int i = 0; i < CLIENTS; i++)
			pthread_join(t[i], NULL);
		wait_settled(f);
		check_invariants(f, &st.m, round);
	}
	printf("# %d rounds, each killed after 1-12 answers with %d clients in flight\n", rounds,
	       CLIENTS);
	pthread_cond_destroy(&st.answered);
	pthread_mutex_destroy(&st.m.lock);
	for (size_t i = 0; i < NDEVS; i++)
		pthread_mutex_destroy(&st.dev_lock[i]);
}

static int teardown(void **state)
{
	kfix_teardown(state);
	while (n_dead > 0)
		hdproc_cleanup(&dead[--n_dead]);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_storm, kfix_setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
