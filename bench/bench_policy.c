/* Policy matching cost (SPEC: the event pipeline at >= 1,000,000 events/s
 * "with policy matching of 1,000 rules").  1,000 rules that each name a
 * vendor and device no test device has, then a last catch-all: the worst
 * case of first match wins, every rule tried for every device.  Prints the
 * cost of one decision. */
#include "bench/benchutil.h"
#include "common/util.h"
#include "policy/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define RULES 1000
#define DEVICES 1000
#define PASSES 20

static double now_ns_d(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(void)
{
	char path[] = "/tmp/bench_policy.XXXXXX", err[512];
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct device *devs[DEVICES];
	struct policy_decision d;
	struct policy *p;
	double t0, ns;
	unsigned sink = 0;

	fputs("rules = (\n", f);
	for (int i = 0; i < RULES; i++)
		fprintf(f, "  { match = { bus = \"pci\"; vendor = \"%04x\"; device = \"%04x\"; }; "
			   "action = \"detach\"; },\n",
			0x1000 + i, 0x2000 + i);
	fputs("  { match = {}; action = \"allow\"; }\n);\n", f);
	fclose(f);
	p = policy_load(path, err, sizeof(err));
	unlink(path);
	if (!p) {
		fprintf(stderr, "bench_policy: %s\n", err);
		return 1;
	}
	for (int i = 0; i < DEVICES; i++) {
		char id[16];

		snprintf(id, sizeof(id), "0000:%02x:%02x.0", i / 32, i % 32);
		devs[i] = device_new(HD_BUS_PCI, id);
		devs[i]->vendor = 0x8086;
		devs[i]->product = (uint32_t)i;
	}
	bench_print_machine("policy");
	t0 = now_ns_d();
	for (int pass = 0; pass < PASSES; pass++)
		for (int i = 0; i < DEVICES; i++) {
			policy_decide(p, devs[i], POLICY_MOMENT_HOTPLUG, &d);
			sink += (unsigned)d.rule;
		}
	ns = (now_ns_d() - t0) / (PASSES * DEVICES);
	printf("{\"bench\":\"policy\",\"rules\":%d,\"decisions\":%d,\"ns_per_decision\":%.0f,"
	       "\"decisions_per_s\":%.0f,\"deciding_rule\":%u}\n",
	       RULES + 1, PASSES * DEVICES, ns, 1e9 / ns, sink / (PASSES * DEVICES));
	for (int i = 0; i < DEVICES; i++)
		device_free(devs[i]);
	policy_free(p);
	return 0;
}
