/* Claim + release round trips over the socket, unmanaged (the devices are
 * already on vfio-pci, so no sysfs write is involved: this measures the
 * daemon's claim path and the protocol).  SPEC targets: p50 <= 100 us,
 * p99 <= 1 ms; >= 10,000 round trips/s with 32 clients.  The SPEC figure is
 * "state on tmpfs with fsync": durable state does not exist yet (issue 5),
 * so these figures are without it.
 *
 * Runs the real hostdevd on a umockdev testbed with the kernel emulator:
 *   LD_PRELOAD=build/tests/kemu/libhdkemu.so:libumockdev-preload.so.0 \
 *     TMPDIR=/dev/shm build/bench/bench_claims */
#include "bench/benchutil.h"
#include "client/hdclient.h"
#include "tests/integration/hdproc.h"
#include "tests/integration/testbed.h"
#include "common/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENTS 32
#define SINGLE_ROUNDS 5000
#define ROUNDS_PER_CLIENT 1000

static const char *socket_path;
static char ids[CLIENTS][16];

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "bench_claims: %s: %s\n", what, detail ? detail : "");
	exit(1);
}

static struct hdclient *connect_or_die(void)
{
	struct hdclient_error err;
	struct hdclient *c = hdclient_connect(socket_path, &err);

	if (!c)
		die("connect", err.message);
	return c;
}

static void call_or_die(struct hdclient *c, const char *method, json_object *params)
{
	json_object *reply;
	const char *error;

	if (hdclient_call(c, method, params, &reply, &error) < 0)
		die(method, hdclient_last_error(c)->message);
	if (error)
		die(method, error);
}

static json_object *owner_params(int k, const char *device)
{
	json_object *p = json_object_new_object(), *owner = json_object_new_object();
	char domain[16];

	snprintf(domain, sizeof(domain), "vm%d", k);
	json_object_object_add(owner, "driver", json_object_new_string("qemu"));
	json_object_object_add(owner, "domain", json_object_new_string(domain));
	json_object_object_add(p, "owner", owner);
	if (device) {
		json_object *devices = json_object_new_array();

		json_object_array_add(devices, json_object_new_string(device));
		json_object_object_add(p, "devices", devices);
		json_object_object_add(p, "managed", json_object_new_boolean(0));
	}
	return p;
}

/* One client's loop: claim and release its own device, `rounds` times;
 * each round trip's latency in us into lat (may be NULL). */
static void round_trips(int k, size_t rounds, double *lat)
{
	struct hdclient *c = connect_or_die();
	json_object *claim = owner_params(k, ids[k]), *release = owner_params(k, NULL);

	for (size_t i = 0; i < rounds; i++) {
		uint64_t t0 = now_ns();

		call_or_die(c, "io.hostdevd.Claim", claim);
		call_or_die(c, "io.hostdevd.Release", release);
		if (lat)
			lat[i] = (double)(now_ns() - t0) / 1e3;
	}
	json_object_put(claim);
	json_object_put(release);
	hdclient_free(c);
}

static void *client_thread(void *arg)
{
	round_trips((int)(intptr_t)arg, ROUNDS_PER_CLIENT, NULL);
	return NULL;
}

/* Puts the first CLIENTS e1000e functions on vfio-pci through the daemon. */
static void prepare_devices(void)
{
	struct hdclient *c = connect_or_die();
	json_object *p = json_object_new_object(), *reply, *devices;
	const char *error;

	json_object_object_add(p, "driver", json_object_new_string("e1000e"));
	if (hdclient_call(c, "io.hostdevd.ListDevices", p, &reply, &error) < 0 || error)
		die("ListDevices", error);
	json_object_put(p);
	if (!json_object_object_get_ex(reply, "devices", &devices) ||
	    json_object_array_length(devices) < CLIENTS)
		die("ListDevices", "fewer e1000e functions than clients");
	for (int k = 0; k < CLIENTS; k++) {
		json_object *id;

		json_object_object_get_ex(json_object_array_get_idx(devices, (size_t)k), "id", &id);
		snprintf(ids[k], sizeof(ids[k]), "%s", json_object_get_string(id));
	}
	for (int k = 0; k < CLIENTS; k++) {
		p = json_object_new_object();
		json_object_object_add(p, "device", json_object_new_string(ids[k]));
		call_or_die(c, "io.hostdevd.Detach", p);
		json_object_put(p);
	}
	hdclient_free(c);
}

int main(void)
{
	static double lat[SINGLE_ROUNDS];
	struct hdproc_config cfg = { .log_level = "warn" };
	pthread_t threads[CLIENTS];
	struct testbed *tb;
	struct hdproc p;
	uint64_t t0;
	double secs;

	bench_print_machine("claims");
	tb = tb_new(); /* aborts outside umockdev */
	tb_build_large(tb, 64);
	setenv("HOSTDEVD_REQUIRE_MOCK", "1", 1);
	if (hdproc_start(&p, &cfg) != 0)
		die("hostdevd", "did not become ready");
	socket_path = p.socket_path;
	prepare_devices();

	/* The floor: one trivial call's round trip in the same environment. */
	{
		struct hdclient *c = connect_or_die();

		for (int i = 0; i < SINGLE_ROUNDS; i++) {
			uint64_t t1 = now_ns();

			call_or_die(c, "org.varlink.service.GetInfo", NULL);
			lat[i] = (double)(now_ns() - t1) / 1e3;
		}
		hdclient_free(c);
		bench_sort(lat, SINGLE_ROUNDS);
		printf("{\"bench\":\"claims\",\"baseline\":\"GetInfo\",\"p50_us\":%.1f,"
		       "\"p99_us\":%.1f}\n",
		       bench_percentile(lat, SINGLE_ROUNDS, 50), bench_percentile(lat, SINGLE_ROUNDS, 99));
	}
	round_trips(0, 200, NULL); /* warm-up */
	round_trips(0, SINGLE_ROUNDS, lat);
	bench_sort(lat, SINGLE_ROUNDS);
	printf("{\"bench\":\"claims\",\"clients\":1,\"round_trips\":%d,\"p50_us\":%.1f,"
	       "\"p99_us\":%.1f,\"max_us\":%.1f,\"target_p50_us\":100,\"target_p99_us\":1000,"
	       "\"meets_target\":%s}\n",
	       SINGLE_ROUNDS, bench_percentile(lat, SINGLE_ROUNDS, 50),
	       bench_percentile(lat, SINGLE_ROUNDS, 99), lat[SINGLE_ROUNDS - 1],
	       bench_percentile(lat, SINGLE_ROUNDS, 50) <= 100 &&
			       bench_percentile(lat, SINGLE_ROUNDS, 99) <= 1000
		       ? "true"
		       : "false");

	t0 = now_ns();
	for (int k = 0; k < CLIENTS; k++)
		pthread_create(&threads[k], NULL, client_thread, (void *)(intptr_t)k);
	for (int k = 0; k < CLIENTS; k++)
		pthread_join(threads[k], NULL);
	secs = (double)(now_ns() - t0) / 1e9;
	printf("{\"bench\":\"claims\",\"clients\":%d,\"round_trips\":%d,\"seconds\":%.2f,"
	       "\"round_trips_per_s\":%.0f,\"target_per_s\":10000,\"meets_target\":%s}\n",
	       CLIENTS, CLIENTS * ROUNDS_PER_CLIENT, secs, CLIENTS * ROUNDS_PER_CLIENT / secs,
	       CLIENTS * ROUNDS_PER_CLIENT / secs >= 10000 ? "true" : "false");
	if (hdproc_stop(&p) != 0)
		die("hostdevd", "did not stop cleanly");
	hdproc_cleanup(&p);
	tb_free(tb);
	return 0;
}
