/* The policy loader on arbitrary text, and the rule index against trying
 * every rule in order.
 *
 * The input is a policy file.  Whatever loads is then asked about devices
 * made from the input itself (the quoted strings it holds become addresses,
 * ids, drivers and serials, so rules written by the fuzzer also match
 * devices made by it): for each device and moment, policy_decide() (the
 * index, policy/index.c) must give exactly what policy_decide_linear()
 * (every rule in order) gives.  A difference aborts.
 *
 * libconfig 1.5's scanner calls exit() on an @include of a directory
 * (issue 12, item 5): an '@' is turned into a comment before loading, so
 * the run fuzzes the loader rather than stopping at that known bug. */
#include "common/log.h"
#include "common/util.h"
#include "policy/policy.h"
#include "tests/fuzz/fuzzutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX 48
#define POOL_STR_MAX 64
#define N_DEVICES 24

struct pool {
	char s[POOL_MAX][POOL_STR_MAX];
	size_t n;
};

static const char *dir;
static char path[512];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_LVL_ERROR);
	dir = fuzz_scratch_dir("policy");
	snprintf(path, sizeof(path), "%s/policy.conf", dir);
	devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	return 0;
}

/* The quoted strings of the input, and its words of digits and hex. */
static void collect(const uint8_t *data, size_t size, struct pool *p)
{
	size_t i = 0;

	p->n = 0;
	while (i < size && p->n < POOL_MAX) {
		size_t start, len;
		bool quoted = data[i] == '"';

		if (!quoted && !(data[i] >= '0' && data[i] <= '9')) {
			i++;
			continue;
		}
		start = quoted ? i + 1 : i;
		for (i = start; i < size; i++) {
			if (quoted ? data[i] == '"'
				   : !((data[i] >= '0' && data[i] <= '9') ||
				       (data[i] >= 'a' && data[i] <= 'f') || data[i] == 'x'))
				break;
		}
		len = i - start;
		if (len > 0 && len < POOL_STR_MAX && !memchr(data + start, 0, len)) {
			memcpy(p->s[p->n], data + start, len);
			p->s[p->n][len] = '\0';
			p->n++;
		}
		i++;
	}
}

static const char *pick(struct fuzz_rng *r, const struct pool *p, const char *fallback)
{
	if (p->n == 0 || fuzz_rng_below(r, 3) == 0)
		return fallback;
	return p->s[fuzz_rng_below(r, p->n)];
}

static uint32_t pick_hex(struct fuzz_rng *r, const struct pool *p, uint32_t fallback)
{
	uint32_t v;

	if (parse_hex_u32(pick(r, p, ""), &v))
		return v;
	return fuzz_rng_below(r, 4) ? fallback : (uint32_t)fuzz_rng_next(r);
}

static int pick_int(struct fuzz_rng *r, const struct pool *p, int fallback)
{
	const char *s = pick(r, p, "");
	char *end;
	long v = strtol(s, &end, 10);

	if (*s && !*end && v >= -1 && v <= 1 << 20)
		return (int)v;
	return fallback;
}

/* A device of either bus whose fields come from the input where it has
 * something that fits, from a plausible default otherwise.  Its driver
 * points into the pool (device_free() never frees a driver: they are
 * interned in the daemon, and interning every fuzzed name would grow for
 * ever). */
static struct device *make_device(struct fuzz_rng *r, const struct pool *p)
{
	bool usb = fuzz_rng_below(r, 2);
	struct device *d = device_new(usb ? HD_BUS_USB : HD_BUS_PCI,
				      pick(r, p, usb ? "1-2" : "0000:01:00.0"));

	d->id_hash = str_hash(d->id);
	d->vendor = pick_hex(r, p, usb ? 0x0781 : 0x10de);
	d->product = pick_hex(r, p, usb ? 0x5567 : 0x1c82);
	d->driver = fuzz_rng_below(r, 4) ? pick(r, p, usb ? "usb" : "nvidia") : NULL;
	d->numa_node = pick_int(r, p, HD_NO_NUMA);
	if (usb) {
		size_t n = fuzz_rng_below(r, 4);

		d->usb.serial = fuzz_rng_below(r, 2) ? xstrdup(pick(r, p, "4C530001")) : NULL;
		d->usb.busnum = 1;
		d->usb.devnum = 2;
		for (size_t i = 0; i < n; i++) {
			char id[96];

			snprintf(id, sizeof(id), "%s:1.%zu", d->id, i);
			device_usb_iface_set(d, &(struct usb_iface){
						     .id = id,
						     .cls = (uint8_t)pick_hex(r, p, 0x08),
						     .driver = i ? NULL : (char *)"usb-storage",
					     });
		}
	} else {
		d->pci.subsystem_vendor = pick_hex(r, p, 0x10de);
		d->pci.subsystem_device = pick_hex(r, p, 0x11d8);
		d->pci.class_code = pick_hex(r, p, 0x030000) & 0xffffff;
		d->pci.iommu_group = pick_int(r, p, 12);
	}
	return d;
}

static bool same_text(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static void check_same(const struct policy *p, const struct device *d, enum policy_moment m)
{
	struct policy_decision fast, slow;

	policy_decide(p, d, m, &fast);
	policy_decide_linear(p, d, m, &slow);
	FUZZ_CHECK(fast.action == slow.action && fast.rule == slow.rule &&
			   fast.line == slow.line && fast.deauthorize == slow.deauthorize &&
			   fast.host_critical_ok == slow.host_critical_ok &&
			   same_text(fast.file, slow.file) && same_text(fast.stub, slow.stub) &&
			   same_text(fast.owner_driver, slow.owner_driver) &&
			   same_text(fast.owner_domain, slow.owner_domain),
		   "device %s (%s) at moment %d: the index decides rule %d (%s), every rule in "
		   "order decides rule %d (%s)",
		   d->id, hd_bus_name(d->bus), (int)m, fast.rule, policy_action_name(fast.action),
		   slow.rule, policy_action_name(slow.action));
	FUZZ_CHECK(slow.rule >= -1 && slow.rule < (int)policy_rule_count(p), "rule %d of %zu",
		   slow.rule, policy_rule_count(p));
}

/* What else a loaded policy answers: permissions, claims, its description,
 * each decision's explanation. */
static void exercise(const struct policy *p, const struct device *d, const struct pool *pool)
{
	static const gid_t groups[] = { 0, 27, 100, 1000 };
	struct policy_peer peer = { .uid = 1000, .gid = 1000, .groups = groups, .n_groups = 4 };
	struct policy_decision dec;
	char reason[256];
	const char *drv = pool->n ? pool->s[0] : "qemu";
	const char *dom = pool->n > 1 ? pool->s[1] : "vm-1";

	policy_permissions(p, &peer);
	policy_may_claim_for(p, &peer, drv, dom);
	policy_decide(p, d, POLICY_MOMENT_CLAIM, &dec);
	policy_refuses_claim(&dec, drv, dom, reason, sizeof(reason));
	policy_explain(p, d, POLICY_MOMENT_CLAIM, devnull);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xrealloc(NULL, size + 1);
	struct policy_error e;
	struct policy *p;
	struct pool pool;
	struct fuzz_rng rng;
	gid_t gid;

	memcpy(text, data, size);
	for (size_t i = 0; i < size; i++)
		if (text[i] == '@')
			text[i] = '#';
	fuzz_write_file(path, text, size);
	free(text);

	p = policy_load_checked(path, &e);
	if (!p) {
		char msg[2048];

		policy_error_format(&e, msg, sizeof(msg));
		FUZZ_CHECK(e.message[0], "a policy refused without a message");
		return 0;
	}
	policy_describe(p, devnull);
	for (size_t i = 0; i < policy_warning_count(p); i++)
		FUZZ_CHECK(policy_warning(p, i), "warning %zu is NULL", i);
	policy_socket_group(p, &gid);
	policy_orphans(p);

	collect(data, size, &pool);
	fuzz_rng_seed(&rng, data, size);
	for (int n = 0; n < N_DEVICES; n++) {
		struct device *d = make_device(&rng, &pool);

		for (int m = POLICY_MOMENT_START; m <= POLICY_MOMENT_CLAIM; m++)
			check_same(p, d, (enum policy_moment)m);
		if (n < 4)
			exercise(p, d, &pool);
		device_free(d);
	}
	policy_free(p);
	return 0;
}
