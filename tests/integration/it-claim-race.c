/* 16 clients race to claim the same devices, 1,000 rounds (issue 3): in
 * every round each client, on its own thread and connection, sends its
 * Claim at the same moment (a barrier releases them together); exactly one
 * must win, every other must be told DeviceInUse or DeviceBusy, and the
 * claim table and the kernel must agree with the winner.  Even rounds race
 * for one e1000e (managed: detached to vfio-pci), odd rounds for the shared
 * IOMMU group behind the PCIe-to-PCI bridge with whole_group (three
 * functions at once).  The winner's devices are released before the next
 * round and must be back on their host drivers.
 *
 * HOSTDEVD_RACE_ROUNDS overrides the number of rounds. */
#include "tests/integration/kfix.h"
#include "client/hdclient.h"
#include "common/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RACERS 16
#define DEFAULT_ROUNDS 1000

#define NIC "0000:03:00.0"
static const char *const group[] = { "0000:05:00.0", "0000:05:01.0", "0000:05:02.0" };
static const char *const group_drivers[] = { "r8169", "serial", "snd_emu10k1" };

enum outcome { WON, IN_USE, BUSY, OTHER };

struct race {
	const char *socket;
	pthread_barrier_t start, done;
	int round;
	bool stop;
	enum outcome outcome[RACERS];
	char other[RACERS][600]; /* what an unexpected answer was */
};

struct racer {
	struct race *race;
	int index;
};

static json_object *claim_params(int index, int round)
{
	json_object *p;
	char domain[16];

	snprintf(domain, sizeof(domain), "vm%d", index);
	p = kfix_owner_params("qemu", domain, round % 2 ? group[index % 3] : NIC);
	if (round % 2)
		json_object_object_add(p, "whole_group", json_object_new_boolean(1));
	return p;
}

/* No cmocka here: assertions belong to the main thread, which reads the
 * outcomes after the round's barrier. */
static void *racer_main(void *arg)
{
	struct racer *r = arg;
	struct race *race = r->race;
	struct hdclient_error cerr;
	struct hdclient *c = hdclient_connect(race->socket, &cerr);

	for (;;) {
		json_object *p, *reply;
		const char *error = NULL;
		enum outcome *out = &race->outcome[r->index];

		pthread_barrier_wait(&race->start);
		if (race->stop)
			break;
		p = claim_params(r->index, race->round);
		if (!c) {
			*out = OTHER;
			snprintf(race->other[r->index], sizeof(race->other[0]), "connect: %s",
				 cerr.message);
		} else if (hdclient_call(c, "io.hostdevd.Claim", p, &reply, &error) < 0) {
			*out = OTHER;
			snprintf(race->other[r->index], sizeof(race->other[0]), "%s",
				 hdclient_last_error(c)->message);
		} else {
			*out = !error				      ? WON
			       : streq(error, "io.hostdevd.DeviceInUse") ? IN_USE
			       : streq(error, "io.hostdevd.DeviceBusy")  ? BUSY
									 : OTHER;
			if (*out == OTHER)
				snprintf(race->other[r->index], sizeof(race->other[0]), "%s", error);
		}
		json_object_put(p);
		pthread_barrier_wait(&race->done);
	}
	hdclient_free(c);
	return NULL;
}

/* The claim table holds exactly `n` entries, all the winner's. */
static void assert_table(struct fixture *f, size_t n, int winner)
{
	json_object *reply = vlc_call(f->c, "io.hostdevd.ListClaims", NULL), *v;
	char domain[16];

	snprintf(domain, sizeof(domain), "vm%d", winner);
	assert_true(json_object_object_get_ex(vlc_params(reply), "claims", &v));
	assert_int_equal(json_object_array_length(v), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(kfix_str_at(json_object_array_get_idx(v, i), "owner", "domain"),
				    domain);
	json_object_put(reply);
}

static void release(struct fixture *f, int winner)
{
	json_object *p, *reply;
	char domain[16];

	snprintf(domain, sizeof(domain), "vm%d", winner);
	p = kfix_owner_params("qemu", domain, NULL);
	reply = vlc_call(f->c, "io.hostdevd.Release", p);
	assert_null(vlc_error(reply));
	json_object_put(reply);
	json_object_put(p);
}

static int judge_round(struct race *race)
{
	int winners = 0, winner = -1;

	for (int i = 0; i < RACERS; i++) {
		if (race->outcome[i] == OTHER)
			fail_msg("round %d, client %d: %s", race->round, i, race->other[i]);
		if (race->outcome[i] == WON) {
			winners++;
			winner = i;
		}
	}
	if (winners != 1)
		fail_msg("round %d: %d winners", race->round, winners);
	return winner;
}

static void check_round(struct fixture *f, int round, int winner)
{
	bool grouped = round % 2;

	assert_table(f, grouped ? ARRAY_SIZE(group) : 1, winner);
	if (grouped)
		for (size_t i = 0; i < ARRAY_SIZE(group); i++)
			assert_string_equal(kfix_kernel_driver(f, group[i]), "vfio-pci");
	else
		assert_string_equal(kfix_kernel_driver(f, NIC), "vfio-pci");
	release(f, winner);
	assert_table(f, 0, winner);
	if (grouped)
		for (size_t i = 0; i < ARRAY_SIZE(group); i++)
			assert_string_equal(kfix_kernel_driver(f, group[i]), group_drivers[i]);
	else
		assert_string_equal(kfix_kernel_driver(f, NIC), "e1000e");
}

static void test_race(void **state)
{
	struct fixture *f = *state;
	const char *env = getenv("HOSTDEVD_RACE_ROUNDS");
	int rounds = env ? atoi(env) : DEFAULT_ROUNDS, busy = 0, in_use = 0;
	struct race race = { .socket = f->daemon.socket_path };
	struct racer racers[RACERS];
	pthread_t threads[RACERS];

	pthread_barrier_init(&race.start, NULL, RACERS + 1);
	pthread_barrier_init(&race.done, NULL, RACERS + 1);
	for (int i = 0; i < RACERS; i++) {
		racers[i] = (struct racer){ &race, i };
		assert_int_equal(pthread_create(&threads[i], NULL, racer_main, &racers[i]), 0);
	}
	for (race.round = 0; race.round < rounds; race.round++) {
		pthread_barrier_wait(&race.start);
		pthread_barrier_wait(&race.done);
		for (int i = 0; i < RACERS; i++) {
			busy += race.outcome[i] == BUSY;
			in_use += race.outcome[i] == IN_USE;
		}
		check_round(f, race.round, judge_round(&race));
	}
	race.stop = true;
	pthread_barrier_wait(&race.start);
	for (int i = 0; i < RACERS; i++)
		pthread_join(threads[i], NULL);
	pthread_barrier_destroy(&race.start);
	pthread_barrier_destroy(&race.done);
	/* Every loser was told why: DeviceBusy while the winner's detach was
	 * under way, DeviceInUse after it. */
	printf("# %d rounds, %d clients: %d DeviceBusy, %d DeviceInUse\n", rounds, RACERS, busy,
	       in_use);
	assert_int_equal(busy + in_use, rounds * (RACERS - 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_race, kfix_setup, kfix_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
