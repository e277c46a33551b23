/* Policy matching cost (SPEC: the event pipeline at >= 1,000,000 events/s
 * "with policy matching of 1,000 rules"), with the index policy_load()
 * builds and without it (policy_decide_linear, every rule in order):
 *   worst_case: 1,000 rules that each name a vendor and device no test
 *               device has, then a catch-all: without the index, every
 *               rule is tried for every device;
 *   mixed:      500 address rules, 400 vendor+device and 100 class rules,
 *               interleaved, against 10,000 devices of which some match
 *               each kind and some none (the default decides).
 * Then, for the mixed policy, the whole pipeline step: a bind or unbind of
 * a known PCI function through the device table (as bench_events) whose
 * listener decides the device, against the same step without a decision.
 * Prints the median of 7 runs, as JSON lines. */
#include "bench/benchutil.h"
#include "common/log.h"
#include "common/util.h"
#include "policy/policy.h"
#include "state/devtable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUNS 7
#define DECISIONS_INDEX 1000000
#define DECISIONS_LINEAR 20000
#define PIPELINE_EVENTS 1000000

typedef void (*decide_fn)(const struct policy *, const struct device *, enum policy_moment,
			  struct policy_decision *);

/* A fixed-seed generator: the same policy and devices on every run. */
static uint64_t rnd_state = 20261125;

static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 6364136223846793005u + 1442695040888963407u;
	return (unsigned)(rnd_state >> 33) % n;
}

static struct policy *load_text(const char *text)
{
	char path[] = "/tmp/bench_policy.XXXXXX", err[512];
	int fd = mkstemp(path);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
	struct policy *p;

	if (!f)
		fatal("bench_policy: cannot write %s", path);
	fputs(text, f);
	fclose(f);
	p = policy_load(path, err, sizeof(err));
	unlink(path);
	if (!p)
		fatal("bench_policy: %s", err);
	return p;
}

/* "0000:BB:DD.F", unique for i < 65,536. */
static struct device *pci_device(size_t i, uint32_t vendor, uint32_t product, uint32_t cls)
{
	char id[16];
	struct device *d;

	snprintf(id, sizeof(id), "0000:%02x:%02x.%u", (unsigned)(i / 256 % 256), (unsigned)(i / 8 % 32),
		 (unsigned)(i % 8));
	d = device_new(HD_BUS_PCI, id);
	d->vendor = vendor;
	d->product = product;
	d->pci.class_code = cls;
	d->driver = device_intern("e1000e");
	return d;
}

static struct policy *worst_case(struct device **devs, size_t n_devices)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct policy *p;

	fputs("rules = (\n", f);
	for (int i = 0; i < 1000; i++)
		fprintf(f, "  { match = { bus = \"pci\"; vendor = \"%04x\"; device = \"%04x\"; }; "
			   "action = \"detach\"; },\n",
			0x1000 + i, 0x2000 + i);
	fputs("  { match = {}; action = \"allow\"; }\n);\n", f);
	fclose(f);
	p = load_text(text);
	free(text);
	for (size_t i = 0; i < n_devices; i++)
		devs[i] = pci_device(i, 0x8086, (uint32_t)i, 0x020000);
	return p;
}

/* Rule kinds in a shuffled order: 0-499 address, 500-899 vendor+device,
 * 900-999 class. */
static void mixed_rule(FILE *f, unsigned kind)
{
	static const char *const actions[] = { "allow", "refuse", "detach", "ignore" };

	fputs("  { match = { ", f);
	if (kind < 500) /* every 20th device, by address */
		fprintf(f, "address = \"0000:%02x:%02x.%u\"; ", kind * 20 / 256, kind * 20 / 8 % 32,
			kind * 20 % 8);
	else if (kind < 900) /* 8 of the 16 vendors, devices 0-49 */
		fprintf(f, "bus = \"pci\"; vendor = \"%04x\"; device = \"%04x\"; ",
			0x1000 + (kind - 500) / 50, (kind - 500) % 50);
	else /* classes 00-13, subclasses 00-04 */
		fprintf(f, "class = \"%02x%02x\"; ", (kind - 900) / 5, (kind - 900) % 5);
	fprintf(f, "}; action = \"%s\"; }", actions[kind % 4]);
}

static struct policy *mixed(struct device **devs, size_t n_devices)
{
	unsigned kinds[1000];
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct policy *p;

	for (unsigned i = 0; i < 1000; i++)
		kinds[i] = i;
	for (unsigned i = 999; i > 0; i--) {
		unsigned j = rnd(i + 1), t = kinds[i];

		kinds[i] = kinds[j];
		kinds[j] = t;
	}
	fputs("default = \"allow\";\nrules = (\n", f);
	for (unsigned i = 0; i < 1000; i++) {
		fputs(i ? ",\n" : "", f); /* libconfig takes no comma after the last */
		mixed_rule(f, kinds[i]);
	}
	fputs("\n);\n", f);
	fclose(f);
	p = load_text(text);
	free(text);
	for (size_t i = 0; i < n_devices; i++)
		devs[i] = pci_device(i, 0x1000 + rnd(16), rnd(100),
				     rnd(0x40) << 16 | rnd(8) << 8);
	return p;
}

/* ns per decision over `decisions` decisions, devices visited in a stride
 * that defeats the cache as real traffic would. */
static double time_decisions(const struct policy *p, struct device **devs, size_t n_devices,
			     decide_fn decide, size_t decisions)
{
	struct policy_decision d;
	uint64_t start = now_ns();
	unsigned sink = 0;

	for (size_t e = 0; e < decisions; e++) {
		decide(p, devs[e * 7919 % n_devices], POLICY_MOMENT_HOTPLUG, &d);
		sink += (unsigned)d.rule;
	}
	__asm__ volatile("" : : "r"(sink));
	return (double)(now_ns() - start) / (double)decisions;
}

static double median(double *v, size_t n)
{
	bench_sort(v, n);
	return v[n / 2];
}

/* Both matchers must decide every device alike, or the figures compare
 * nothing; counts what decided, for the report. */
static void check_same(const struct policy *p, struct device **devs, size_t n_devices,
		       size_t *by_rule)
{
	struct policy_decision a, b;

	*by_rule = 0;
	for (size_t i = 0; i < n_devices; i++) {
		policy_decide(p, devs[i], POLICY_MOMENT_HOTPLUG, &a);
		policy_decide_linear(p, devs[i], POLICY_MOMENT_HOTPLUG, &b);
		if (a.rule != b.rule)
			fatal("bench_policy: %s: rule %d with the index, %d without", devs[i]->id,
			      a.rule, b.rule);
		*by_rule += a.rule >= 0;
	}
}

static void report(const char *scenario, const struct policy *p, struct device **devs,
		   size_t n_devices)
{
	static const char *const names[] = { "index", "linear" };
	static const decide_fn fns[] = { policy_decide, policy_decide_linear };
	static const size_t decisions[] = { DECISIONS_INDEX, DECISIONS_LINEAR };
	size_t by_rule;

	check_same(p, devs, n_devices, &by_rule);
	for (size_t m = 0; m < ARRAY_SIZE(fns); m++) {
		double v[RUNS], ns;

		for (size_t r = 0; r < RUNS; r++)
			v[r] = time_decisions(p, devs, n_devices, fns[m], decisions[m]);
		ns = median(v, RUNS);
		printf("{\"bench\":\"policy\",\"scenario\":\"%s\",\"matcher\":\"%s\",\"rules\":%zu,"
		       "\"devices\":%zu,\"decided_by_a_rule\":%zu,\"ns_per_decision\":%.1f,"
		       "\"decisions_per_s\":%.0f}\n",
		       scenario, names[m], policy_rule_count(p), n_devices, by_rule, ns, 1e9 / ns);
	}
}

struct pipeline {
	const struct policy *p;
	unsigned sink;
};

/* The listener is where the daemon hears a device changed: deciding there
 * is the pipeline step with policy. */
static void decide_on_event(enum dev_event ev, const struct device *dev, const char *detail,
			    void *ctx)
{
	struct pipeline *pl = ctx;
	struct policy_decision d;

	if (pl->p) {
		policy_decide(pl->p, dev, POLICY_MOMENT_HOTPLUG, &d);
		pl->sink += (unsigned)d.rule;
	}
	pl->sink++;
}

/* ns per bind/unbind event through the table, deciding each device when
 * p is not NULL. */
static double time_pipeline(const struct policy *p, struct device **devs, size_t n_devices)
{
	struct devtable *t = devtable_new();
	struct pipeline pl = { .p = p };
	uint64_t start;

	for (size_t i = 0; i < n_devices; i++)
		devtable_upsert(t, pci_device(i, devs[i]->vendor, devs[i]->product,
					      devs[i]->pci.class_code),
				DEV_EVENT_ADD, NULL);
	devtable_subscribe(t, decide_on_event, &pl);
	start = now_ns();
	for (size_t e = 0; e < PIPELINE_EVENTS; e++) {
		bool to_stub = e / n_devices % 2 == 0;
		char *driver = xstrdup(to_stub ? "vfio-pci" : "e1000e");

		devtable_update_binding(t, devs[e * 7919 % n_devices]->id, driver, NULL,
					to_stub ? DEV_EVENT_BIND : DEV_EVENT_UNBIND);
		free(driver);
	}
	start = now_ns() - start;
	if (pl.sink < PIPELINE_EVENTS)
		fatal("bench_policy: %u events heard of %d", pl.sink, PIPELINE_EVENTS);
	devtable_free(t);
	return (double)start / PIPELINE_EVENTS;
}

static void report_pipeline(const struct policy *p, struct device **devs, size_t n_devices)
{
	double with[RUNS], without[RUNS], a, b;

	for (size_t r = 0; r < RUNS; r++) {
		without[r] = time_pipeline(NULL, devs, n_devices);
		with[r] = time_pipeline(p, devs, n_devices);
	}
	a = median(without, RUNS);
	b = median(with, RUNS);
	printf("{\"bench\":\"policy\",\"scenario\":\"mixed\",\"step\":\"binding_event\","
	       "\"devices\":%zu,\"ns_per_event\":%.1f,\"events_per_s\":%.0f}\n",
	       n_devices, a, 1e9 / a);
	printf("{\"bench\":\"policy\",\"scenario\":\"mixed\",\"step\":\"binding_event_and_decision\","
	       "\"rules\":%zu,\"devices\":%zu,\"ns_per_event\":%.1f,\"events_per_s\":%.0f,"
	       "\"target_events_per_s\":1000000,\"meets_target\":%s}\n",
	       policy_rule_count(p), n_devices, b, 1e9 / b, 1e9 / b >= 1e6 ? "true" : "false");
}

static void free_all(struct policy *p, struct device **devs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		device_free(devs[i]);
	policy_free(p);
}

int main(void)
{
	static struct device *devs[10000];
	struct policy *p;

	log_set_level(LOG_LVL_ERROR);
	bench_print_machine("policy");
	p = worst_case(devs, 1000);
	report("worst_case", p, devs, 1000);
	free_all(p, devs, 1000);
	p = mixed(devs, 10000);
	report("mixed", p, devs, 10000);
	report_pipeline(p, devs, 10000);
	free_all(p, devs, 10000);
	return 0;
}
