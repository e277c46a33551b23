/* Names from udev's hardware database (monitor/hwdb.h): what a query of
 * hwdb.bin costs, what the cache makes of it, and what the names add to a
 * ListDevices of a big table (the Device records written as text, as
 * daemon/method-devices.c does, without the sort and the socket).
 *   query:   hwdb_names() on ids it has not seen: the libudev lookup
 *            (known ids and unknown ones);
 *   cached:  hwdb_names() on ids it has seen;
 *   list:    10,000 PCI functions of 16 models: every record written with
 *            names off, with a cold cache (16 queries), with a warm one.
 * Run: build/bench/bench_names (needs /usr/lib/udev/hwdb.bin). */
#include "bench/benchutil.h"
#include "common/jsonbuf.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/devjson.h"
#include "monitor/hwdb.h"
#include "state/devtable.h"

#include <stdio.h>
#include <stdlib.h>

#define DEVICES 10000
#define RUNS 7

/* Models of a big host: Intel NICs and their VFs, NVIDIA GPUs, NVMe. */
static const uint32_t models[16][2] = {
	{ 0x8086, 0x10d3 }, { 0x8086, 0x10c9 }, { 0x8086, 0x10ca }, { 0x8086, 0x1521 },
	{ 0x8086, 0x1520 }, { 0x8086, 0x1572 }, { 0x8086, 0x154c }, { 0x8086, 0x1592 },
	{ 0x8086, 0x1889 }, { 0x10de, 0x1c82 }, { 0x10de, 0x0fb9 }, { 0x10de, 0x20b0 },
	{ 0x144d, 0xa808 }, { 0x15b3, 0x101b }, { 0x15b3, 0x101c }, { 0x1b21, 0x1080 },
};

static struct device *make_device(size_t i)
{
	char id[16];
	struct device *d;

	snprintf(id, sizeof(id), "0000:%02zx:%02zx.%zu", (i / 256) % 256, (i / 8) % 32, i % 8);
	d = device_new(HD_BUS_PCI, id);
	d->syspath = xasprintf("/sys/devices/pci0000:00/0000:00:1c.0/%s", id);
	d->vendor = models[i % 16][0];
	d->product = models[i % 16][1];
	d->driver = device_intern("e1000e");
	d->parent = xstrdup("0000:00:1c.0");
	d->pci.class_code = 0x020000;
	d->pci.iommu_group = (int)(i / 4);
	d->pci.reset_methods = device_words("flr bus");
	return d;
}

static double median(double *v, size_t n)
{
	bench_sort(v, n);
	return bench_percentile(v, n, 50);
}

/* ns per hwdb_names() on n ids never seen (known: vendor 8086's models;
 * else a vendor no database lists). */
static double query_ns(bool known, size_t n, uint64_t *queries)
{
	struct hwdb *h = hwdb_new(true);
	struct device *d = device_new(HD_BUS_PCI, "0000:00:00.0");
	const char *v, *p;
	uint64_t start = now_ns(), elapsed;

	d->vendor = known ? 0x8086 : 0xfff0;
	for (size_t i = 0; i < n; i++) {
		d->product = (uint32_t)i;
		hwdb_names(h, d, &v, &p);
	}
	elapsed = now_ns() - start;
	*queries = hwdb_queries(h);
	device_free(d);
	hwdb_free(h);
	return (double)elapsed / (double)n;
}

static double cached_ns(struct device **devs, size_t n)
{
	struct hwdb *h = hwdb_new(true);
	const char *v, *p;
	uint64_t start, elapsed;
	size_t rounds = 100;

	for (size_t i = 0; i < n; i++)
		hwdb_names(h, devs[i], &v, &p);
	start = now_ns();
	for (size_t r = 0; r < rounds; r++)
		for (size_t i = 0; i < n; i++)
			hwdb_names(h, devs[i], &v, &p);
	elapsed = now_ns() - start;
	hwdb_free(h);
	return (double)elapsed / (double)(rounds * n);
}

enum mode { OFF, COLD, WARM };
static const char *const mode_names[] = { "off", "cold", "warm" };

/* µs to write every record once; *queries: the database's queries then. */
static double list_us(struct devtable *t, struct device **devs, size_t n, enum mode m,
		      struct hwdb *warm, uint64_t *queries, size_t *bytes)
{
	struct hwdb *h = m == OFF ? NULL : m == COLD ? hwdb_new(true) : warm;
	struct jsonbuf b = { 0 };
	uint64_t start = now_ns(), elapsed, before = hwdb_queries(h);

	JSONBUF_LIT(&b, "{\"devices\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			JSONBUF_LIT(&b, ",");
		devjson_append_device(&b, t, NULL, h, devs[i]);
	}
	JSONBUF_LIT(&b, "]}");
	elapsed = now_ns() - start;
	*queries = hwdb_queries(h) - before;
	*bytes = b.len;
	free(b.data);
	if (m == COLD)
		hwdb_free(h);
	return (double)elapsed / 1000.0;
}

int main(void)
{
	struct devtable *t = devtable_new();
	struct device **devs = xcalloc(DEVICES, sizeof(*devs));
	struct hwdb *warm = hwdb_new(true);
	double v[RUNS], lv[3][RUNS];
	uint64_t queries[3] = { 0 }, n_queries = 0;
	size_t bytes[3] = { 0 };

	log_set_level(LOG_LVL_WARN);
	bench_print_machine("bench_names");
	for (size_t i = 0; i < DEVICES; i++)
		devs[i] = devtable_upsert(t, make_device(i), DEV_EVENT_ADD, NULL);
	for (int known = 1; known >= 0; known--) {
		for (size_t r = 0; r < RUNS; r++)
			v[r] = query_ns(known, 2000, &n_queries);
		printf("{\"bench\":\"bench_names\",\"case\":\"query\",\"ids\":\"%s\","
		       "\"queries\":%llu,\"ns_per_lookup\":%.0f}\n",
		       known ? "known vendor" : "unknown vendor", (unsigned long long)n_queries,
		       median(v, RUNS));
	}
	for (size_t r = 0; r < RUNS; r++)
		v[r] = cached_ns(devs, DEVICES);
	printf("{\"bench\":\"bench_names\",\"case\":\"cached\",\"ns_per_lookup\":%.1f}\n",
	       median(v, RUNS));
	/* The modes take turns, so that the allocator and the caches treat
	 * them alike; one unmeasured round first. */
	for (enum mode m = OFF; m <= WARM; m++)
		list_us(t, devs, DEVICES, m, warm, &queries[m], &bytes[m]);
	for (size_t r = 0; r < RUNS; r++)
		for (enum mode m = OFF; m <= WARM; m++)
			lv[m][r] = list_us(t, devs, DEVICES, m, warm, &queries[m], &bytes[m]);
	for (enum mode m = OFF; m <= WARM; m++)
		printf("{\"bench\":\"bench_names\",\"case\":\"list\",\"devices\":%d,"
		       "\"names\":\"%s\",\"queries\":%llu,\"bytes\":%zu,\"us\":%.0f}\n",
		       DEVICES, mode_names[m], (unsigned long long)queries[m], bytes[m],
		       median(lv[m], RUNS));
	hwdb_free(warm);
	free(devs);
	devtable_free(t);
	return 0;
}
