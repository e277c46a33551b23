#include "tests/integration/kfix.h"
#include "tests/integration/stdmachine.h"
#include "tests/kemu/kemu.h"
#include "tests/kemu/kfs.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void mkdir_p(const char *dir)
{
	int r = kfs_mkdir_p(dir);

	if (r < 0)
		fail_msg("mkdir -p %s: %s", dir, strerror(-r));
}

void kfix_put(struct fixture *f, const char *rel, const char *content)
{
	char path[PATH_MAX], dir[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	mkdir_p(dir);
	fp = fopen(path, "w");
	if (!fp || fputs(content, fp) < 0 || fclose(fp) != 0)
		fail_msg("writing %s: %s", path, strerror(errno));
}

void kfix_link(struct fixture *f, const char *rel, const char *target)
{
	char path[PATH_MAX], dir[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	mkdir_p(dir);
	if (symlink(target, path) < 0)
		fail_msg("symlink %s -> %s: %s", path, target, strerror(errno));
}

/* The daemon's host-critical checks read this /proc (HOSTDEVD_PROC_ROOT),
 * not the machine's: its real mounts and routes (8:1, eth0) would match
 * testbed devices by number and name.  Inside the testbed's root, whose
 * paths umockdev leaves alone.  Empty: nothing mounted, no swap, no
 * routes; tests add what they need. */
static void fake_proc(struct fixture *f)
{
	static char env[PATH_MAX];

	kfix_put(f, "proc/self/mountinfo", "");
	kfix_put(f, "proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
	kfix_put(f, "proc/net/route",
		 "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\t"
		 "Window\tIRTT\n");
	kfix_put(f, "proc/net/ipv6_route", "");
	kfix_put(f, "proc/net/if_inet6", "");
	snprintf(env, sizeof(env), "%s/proc", f->root);
	setenv("HOSTDEVD_PROC_ROOT", env, 1);
}

/* The standard machine, its fake /proc and the daemon's environment; the
 * daemon not started yet. */
static struct fixture *fixture_new(void)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	if (!kemu_loaded()) {
		fprintf(stderr, "%s needs libhdkemu.so first in LD_PRELOAD\n",
			program_invocation_short_name);
		abort();
	}
	f->tb = tb_new(); /* aborts outside umockdev */
	tb_build_standard(f->tb);
	f->root = tb_root(f->tb);
	fake_proc(f);
	/* The daemon refuses every write unless it proves it is in the mock;
	 * a short step timeout keeps the timeout cases quick.  Under valgrind
	 * (a wrapper) on a loaded machine one driver_override write was seen
	 * to take over a second: there the steps get 5 s. */
	setenv("HOSTDEVD_REQUIRE_MOCK", "1", 1);
	setenv("HOSTDEVD_STEP_TIMEOUT", getenv("HOSTDEVD_TEST_WRAPPER") ? "5" : "1", 1);
	return f;
}

static int fixture_start(void **state, struct fixture *f)
{
	if (!hdproc_try_start(&f->daemon, NULL)) {
		tb_free(f->tb);
		free(f);
		fail_msg("hostdevd did not start");
	}
	f->c = vlc_connect(f->daemon.socket_path);
	*state = f;
	return 0;
}

int kfix_setup(void **state)
{
	return fixture_start(state, fixture_new());
}

void kfix_write_policy(char path[64], const char *text)
{
	FILE *fp;
	int fd;

	snprintf(path, 64, "/tmp/hostdevd-policy.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* The daemon started on a policy file holding text (none: NULL). */
static int fixture_start_policy(void **state, struct fixture *f, const char *text)
{
	char path[64];
	int r;

	if (!text)
		return fixture_start(state, f);
	kfix_write_policy(path, text);
	setenv("HOSTDEVD_POLICY", path, 1);
	r = fixture_start(state, f);
	unsetenv("HOSTDEVD_POLICY");
	if (r != 0) {
		unlink(path);
		return r;
	}
	memcpy(((struct fixture *)*state)->policy_path, path, sizeof(path));
	return 0;
}

int kfix_setup_policy(void **state, const char *text)
{
	return fixture_start_policy(state, fixture_new(), text);
}

/* modules.alias as kfix.h's variant machine has it. */
static void variant_modules_dir(struct fixture *f)
{
	_cleanup_free_ char *path = NULL;
	FILE *fp;

	snprintf(f->modules_dir, sizeof(f->modules_dir), "/tmp/hd-it-variant-XXXXXX");
	if (!mkdtemp(f->modules_dir))
		fail_msg("mkdtemp: %s", strerror(errno));
	path = xasprintf("%s/modules.alias", f->modules_dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("# Aliases extracted from modules themselves.\n"
	      "alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e\n"
	      /* vfio_pci's own catch-all (Linux 6.0 on): no variant. */
	      "alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n"
	      "alias vfio_pci:v00008086d000010D3sv*sd*bc*sc*i* " KFIX_VARIANT_ABSENT "\n"
	      "alias vfio_pci:v00008086d000010D3sv00008086sd0000A01Fbc*sc*i* " KFIX_VARIANT_MODULE
	      "\n"
	      "alias vfio_pci:v00008086d*sv*sd*bc03sc*i* intel_gpu_vfio\n",
	      fp);
	fclose(fp);
	setenv("HOSTDEVD_MODULES_DIR", f->modules_dir, 1);
}

int kfix_setup_variants(void **state, const char *policy_text)
{
	struct fixture *f = fixture_new();

	variant_modules_dir(f);
	/* Loaded: its driver registers as e1000e-vfio, not as its module's
	 * name.  A driver directory named like the module, with no module
	 * link, is there to catch a guess by name. */
	tb_add_module(f->tb, KFIX_VARIANT_MODULE);
	tb_add_driver(f->tb, "pci", KFIX_VARIANT_DRIVER);
	kfix_link(f, "sys/bus/pci/drivers/" KFIX_VARIANT_DRIVER "/module",
		  "../../../../module/" KFIX_VARIANT_MODULE);
	tb_add_driver(f->tb, "pci", KFIX_VARIANT_MODULE);
	return fixture_start_policy(state, f, policy_text);
}

int kfix_teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	if (f->policy_path[0])
		unlink(f->policy_path);
	if (f->modules_dir[0]) {
		_cleanup_free_ char *path = xasprintf("%s/modules.alias", f->modules_dir);

		unsetenv("HOSTDEVD_MODULES_DIR");
		unlink(path);
		rmdir(f->modules_dir);
	}
	vlc_free(f->c);
	stdm_stop(f->tb, &f->daemon);
	free(f);
	return 0;
}

void kfix_crash(struct fixture *f, struct hdproc *dead)
{
	if (!f->daemon.reaped) {
		assert_int_equal(kill(f->daemon.pid, SIGKILL), 0);
		assert_true(hdproc_wait(&f->daemon, 10000) >= 0);
	}
	vlc_free(f->c);
	f->c = NULL;
	*dead = f->daemon;
	memset(&f->daemon, 0, sizeof(f->daemon));
}

void kfix_start_on(struct fixture *f, const char *state_dir)
{
	struct hdproc_config cfg = { .state_dir = state_dir };

	/* A daemon started again keeps the fixture's policy. */
	if (f->policy_path[0])
		setenv("HOSTDEVD_POLICY", f->policy_path, 1);
	hdproc_start_ok(&f->daemon, &cfg);
	if (f->policy_path[0])
		unsetenv("HOSTDEVD_POLICY");
	f->c = vlc_connect(f->daemon.socket_path);
}

/* The kernel's view: the driver a device is bound to now ("" if none). */
const char *kfix_kernel_driver(struct fixture *f, const char *id)
{
	static char name[64];
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	/* A PCI function, or a USB device or interface. */
	snprintf(path, sizeof(path), "%s/sys/bus/%s/devices/%s/driver", f->root,
		 strchr(id, '-') || strncmp(id, "usb", 3) == 0 ? "usb" : "pci", id);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return "";
	target[n] = '\0';
	snprintf(name, sizeof(name), "%s", strrchr(target, '/') + 1);
	return name;
}

const char *kfix_kernel_override(struct fixture *f, const char *id)
{
	static char value[64];
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/driver_override", f->root, id);
	fp = fopen(path, "r");
	assert_non_null(fp);
	if (!fgets(value, sizeof(value), fp))
		value[0] = '\0';
	fclose(fp);
	value[strcspn(value, "\n")] = '\0';
	return value;
}

json_object *kfix_dev_params(const char *id, const char *driver)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "device", json_object_new_string(id));
	if (driver)
		json_object_object_add(p, "driver", json_object_new_string(driver));
	return p;
}

json_object *kfix_call_dev(struct fixture *f, const char *method, const char *id,
			   const char *driver)
{
	json_object *p = kfix_dev_params(id, driver), *reply;

	reply = vlc_call(f->c, method, p);
	json_object_put(p);
	return reply;
}

const char *kfix_str_at(json_object *o, const char *k1, const char *k2)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k1, &v))
		return NULL;
	if (k2 && !json_object_object_get_ex(v, k2, &v))
		return NULL;
	return json_object_get_string(v);
}

/* A wait that timed out shows what the daemon did meanwhile: on CI the
 * log is the only witness of a failure that does not reproduce here. */
static void dump_daemon_log(struct fixture *f)
{
	char *log = hdproc_log(&f->daemon);

	fprintf(stderr, "--- hostdevd's log:\n%s---\n", log ? log : "(none)\n");
	free(log);
}

/* The daemon's state for a device, asked until it is `want` or the
 * deadline passes (a late completion is applied on the daemon's loop). */
void kfix_wait_until(struct fixture *f, bool (*cond)(struct fixture *f, const void *arg),
		     const void *arg, const char *what)
{
	uint64_t deadline = now_ns() + (uint64_t)IT_TIMEOUT_MS * 1000000;

	while (now_ns() < deadline) {
		if (cond(f, arg))
			return;
		json_object_put(vlc_call(f->c, "org.varlink.service.GetInfo", NULL));
	}
	if (!cond(f, arg)) {
		dump_daemon_log(f);
		fail_msg("waited %d ms for %s", IT_TIMEOUT_MS, what);
	}
}

static bool log_has(struct fixture *f, const void *arg)
{
	char *log = hdproc_log(&f->daemon);
	bool has = log && strstr(log, arg);

	free(log);
	return has;
}

void kfix_wait_log(struct fixture *f, const char *text)
{
	kfix_wait_until(f, log_has, text, text);
}

size_t kfix_log_count(struct fixture *f, const char *text)
{
	char *log = hdproc_log(&f->daemon);
	size_t n = 0;

	for (const char *p = log; (p = strstr(p, text)); p++)
		n++;
	free(log);
	return n;
}

void kfix_wait_state(struct fixture *f, const char *id, const char *want)
{
	uint64_t deadline = now_ns() + (uint64_t)IT_TIMEOUT_MS * 1000000;
	char last[32] = "";

	while (now_ns() < deadline) {
		json_object *reply = kfix_call_dev(f, "io.hostdevd.GetDevice", id, NULL);

		/* A device just plugged may not be in the table yet. */
		if (vlc_error(reply) && streq(vlc_error(reply), "io.hostdevd.DeviceNotFound"))
			snprintf(last, sizeof(last), "absent");
		else
			snprintf(last, sizeof(last), "%s",
				 kfix_str_at(vlc_params(reply), "device", "state"));
		json_object_put(reply);
		if (streq(last, want))
			return;
		/* Each round trip is a turn of the daemon's loop: no sleep. */
	}
	dump_daemon_log(f);
	fail_msg("%s stayed %s, never %s", id, last, want);
}

json_object *kfix_owner(const char *driver, const char *domain)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "driver", json_object_new_string(driver));
	json_object_object_add(o, "domain", json_object_new_string(domain));
	return o;
}

size_t kfix_claims(struct fixture *f)
{
	json_object *reply = vlc_call(f->c, "io.hostdevd.ListClaims", NULL), *v;
	size_t n;

	assert_true(json_object_object_get_ex(vlc_params(reply), "claims", &v));
	n = json_object_array_length(v);
	json_object_put(reply);
	return n;
}

json_object *kfix_owner_params(const char *driver, const char *domain, const char *id)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "owner", kfix_owner(driver, domain));
	if (id) {
		json_object *arr = json_object_new_array();

		json_object_array_add(arr, json_object_new_string(id));
		json_object_object_add(p, "devices", arr);
	}
	return p;
}

json_object *kfix_owner_call(struct fixture *f, const char *method, const char *id)
{
	json_object *p = kfix_owner_params("qemu", "vm1", id), *reply;

	reply = vlc_call(f->c, method, p);
	json_object_put(p);
	return reply;
}

struct vlc *kfix_connect_as(struct fixture *f, uid_t uid, gid_t gid)
{
	struct vlc *c;

	assert_int_equal(setegid(gid), 0);
	assert_int_equal(seteuid(uid), 0);
	c = vlc_connect(f->daemon.socket_path);
	assert_int_equal(seteuid(0), 0);
	assert_int_equal(setegid(0), 0);
	return c;
}

bool kfix_leases_available(void)
{
	const char *wrapper = getenv("HOSTDEVD_TEST_WRAPPER");

	return !wrapper || !strstr(wrapper, "valgrind");
}
