/* The detach/reattach engine against a fake kernel, with a real event loop
 * and real worker threads.
 *
 * The fake kernel (struct fake) implements the engine's ops with the
 * kernel's semantics for driver_override, unbind and drivers_probe, records
 * every write in order, and can fail one step once, never bind, bind only
 * later (the test then delivers the bind event), or block a step until the
 * test releases it.  The loop is stepped until a condition holds, with a
 * deadline: no sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/log.h"
#include "common/stub.h"
#include "common/util.h"
#include "engine/detach.h"
#include "engine/sysfs.h"
#include "state/devtable.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define DEADLINE_S 10
#define SHORT_TIMEOUT_MS 200
#define NIC "0000:01:00.0"
#define NIC2 "0000:03:00.0"
#define IF0 "1-2:1.0"
#define IF1 "1-2:1.1"

/* ---- the fake kernel ---------------------------------------------------- */

struct fake_dev {
	const char *id;
	char *driver, *override;
	const char *native;
	bool never_bind, bind_later;
};

struct fake {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fake_dev devs[8];
	size_t n_devs;
	const char *present[8]; /* driver directories that exist */
	char log[32][192];      /* "path=value", "!" appended when it failed */
	size_t n_log;
	char fail_step[32];     /* fails the next write of this step */
	int fail_err;
	char block_step[32];    /* blocks the next write of this step */
	bool blocked, released;
	unsigned module_loads;
	char module[32];           /* the last module loaded */
	const char *module_driver; /* the driver its load makes present */
	int module_err;
	int wake_fd; /* an eventfd that wakes the test's loop when a write blocks */
};

static struct fake fk;

static struct fake_dev *fake_dev(const char *id)
{
	for (size_t i = 0; i < fk.n_devs; i++)
		if (streq(fk.devs[i].id, id))
			return &fk.devs[i];
	return NULL;
}

static bool fake_present(const char *driver)
{
	for (size_t i = 0; i < ARRAY_SIZE(fk.present) && fk.present[i]; i++)
		if (streq(fk.present[i], driver))
			return true;
	return false;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && streq(s + n - m, suffix);
}

/* Applies one write as the kernel would; called with the lock held. */
static int fake_apply(const char *path, const char *value)
{
	char drv[64], id[32];
	struct fake_dev *d;

	if (sscanf(path, "/sys/bus/pci/devices/%31[^/]/driver_override", id) == 1) {
		d = fake_dev(id);
		free(d->override);
		d->override = strcmp(value, "\n") ? xstrdup(value) : NULL;
		return 0;
	}
	if (sscanf(path, "/sys/bus/pci/drivers/%63[^/]/unbind", drv) == 1) {
		d = fake_dev(value);
		if (!d || !streq(d->driver, drv))
			return -ENODEV;
		free(d->driver);
		d->driver = NULL;
		return 0;
	}
	/* sscanf stops matching silently after the last conversion: the
	 * suffix is checked apart. */
	if (ends_with(path, "/reset") &&
	    sscanf(path, "/sys/bus/pci/devices/%31[^/]/reset", id) == 1)
		return fake_dev(id) ? 0 : -ENODEV;
	if (ends_with(path, "/unbind") &&
	    sscanf(path, "/sys/bus/usb/drivers/%63[^/]/unbind", drv) == 1) {
		d = fake_dev(value);
		if (!d || !streq(d->driver, drv))
			return -ENODEV;
		free(d->driver);
		d->driver = NULL;
		return 0;
	}
	/* bind_later here: the write "succeeds" and nothing binds. */
	if (ends_with(path, "/bind") && sscanf(path, "/sys/bus/usb/drivers/%63[^/]/bind", drv) == 1) {
		d = fake_dev(value);
		if (!d || d->never_bind)
			return -ENODEV;
		if (d->driver)
			return -EBUSY;
		if (!d->bind_later)
			d->driver = xstrdup(drv);
		return 0;
	}
	if (streq(path, "/sys/bus/pci/drivers_probe")) {
		const char *want;

		d = fake_dev(value);
		if (!d)
			return -ENODEV;
		want = d->override ? d->override : d->native;
		if (!d->driver && want && fake_present(want) && !d->never_bind && !d->bind_later)
			d->driver = xstrdup(want);
		return 0;
	}
	return -EINVAL;
}

static int fake_write(void *ctx, const char *step, const char *path, const char *value,
		      struct op_error *err)
{
	size_t n;
	int r = 0;

	pthread_mutex_lock(&fk.lock);
	if (streq(fk.block_step, step)) {
		fk.block_step[0] = '\0';
		fk.blocked = true;
		pthread_cond_broadcast(&fk.cond);
		/* Another thread's news: the loop must hear it, not sleep on. */
		if (eventfd_write(fk.wake_fd, 1) < 0)
			abort();
		while (!fk.released)
			pthread_cond_wait(&fk.cond, &fk.lock);
		fk.blocked = false;
	}
	if (streq(fk.fail_step, step)) {
		fk.fail_step[0] = '\0';
		r = -fk.fail_err;
	} else {
		r = fake_apply(path, value);
	}
	n = fk.n_log++;
	snprintf(fk.log[n], sizeof(fk.log[n]), "%s=%s%s", path,
		 streq(value, "\n") ? "\\n" : value ? value : "", r < 0 ? "!" : "");
	pthread_mutex_unlock(&fk.lock);
	if (r < 0)
		op_error_set(err, -r, step, path, "write %s: %s", path, strerror(-r));
	return r;
}

/* The driver a loaded module registered: module_driver, once loaded. */
static char *fake_driver_of_module(void *ctx, const char *subsystem, const char *module)
{
	char *driver = NULL;

	pthread_mutex_lock(&fk.lock);
	if (fk.module_loads && !fk.module_err && streq(fk.module, module))
		driver = xstrdup(fk.module_driver);
	pthread_mutex_unlock(&fk.lock);
	return driver;
}

static int fake_module_load(void *ctx, const char *name, struct op_error *err)
{
	pthread_mutex_lock(&fk.lock);
	fk.module_loads++;
	snprintf(fk.module, sizeof(fk.module), "%s", name);
	for (size_t i = 0; !fk.module_err && i < ARRAY_SIZE(fk.present); i++)
		if (!fk.present[i]) {
			fk.present[i] = fk.module_driver;
			break;
		}
	pthread_mutex_unlock(&fk.lock);
	if (fk.module_err)
		op_error_set(err, fk.module_err, "load_module", name, "cannot load %s", name);
	return -fk.module_err;
}

static bool fake_read_driver(void *ctx, const char *id, char **driver)
{
	struct fake_dev *d;

	pthread_mutex_lock(&fk.lock);
	d = fake_dev(id);
	*driver = d ? xstrdup(d->driver) : NULL;
	pthread_mutex_unlock(&fk.lock);
	return d != NULL;
}

static bool fake_driver_present(void *ctx, const char *subsystem, const char *driver)
{
	bool r;

	pthread_mutex_lock(&fk.lock);
	r = fake_present(driver);
	pthread_mutex_unlock(&fk.lock);
	return r;
}

static const struct detach_ops fake_ops = {
	.write = fake_write,
	.module_load = fake_module_load,
	.driver_of_module = fake_driver_of_module,
	.read_driver = fake_read_driver,
	.driver_present = fake_driver_present,
};

static void fake_add(const char *id, const char *driver, const char *native)
{
	fk.devs[fk.n_devs++] = (struct fake_dev){ .id = id, .driver = xstrdup(driver),
						  .native = native };
}

/* The lock and condition variable live for the whole run: a test that
 * failed may have left a thread blocked in fake_write. */
static void fake_reset(void)
{
	pthread_mutex_lock(&fk.lock);
	fk.released = true;
	pthread_cond_broadcast(&fk.cond);
	for (size_t i = 0; i < fk.n_devs; i++) {
		free(fk.devs[i].driver);
		free(fk.devs[i].override);
	}
	memset(fk.devs, 0, sizeof(fk.devs));
	memset(fk.present, 0, sizeof(fk.present));
	fk.n_devs = fk.n_log = 0;
	fk.fail_step[0] = fk.block_step[0] = '\0';
	fk.fail_err = fk.module_err = 0;
	fk.module_loads = 0;
	fk.module[0] = '\0';
	fk.module_driver = "vfio-pci";
	fk.blocked = fk.released = false;
	pthread_mutex_unlock(&fk.lock);
	fk.present[0] = "e1000e";
	fk.present[1] = "igb";
	fk.present[2] = "vfio-pci";
}

static void fake_release(void)
{
	pthread_mutex_lock(&fk.lock);
	fk.released = true;
	pthread_cond_broadcast(&fk.cond);
	pthread_mutex_unlock(&fk.lock);
}

static bool fake_is_blocked(void)
{
	bool b;

	pthread_mutex_lock(&fk.lock);
	b = fk.blocked;
	pthread_mutex_unlock(&fk.lock);
	return b;
}

/* The writes so far, in order, against a NULL-terminated list. */
static void expect_writes(const char *const *want)
{
	size_t n = 0;

	pthread_mutex_lock(&fk.lock);
	for (; want[n]; n++) {
		if (n >= fk.n_log)
			fail_msg("write %zu missing: want %s", n, want[n]);
		if (strcmp(fk.log[n], want[n]))
			fail_msg("write %zu: got %s, want %s", n, fk.log[n], want[n]);
	}
	if (fk.n_log != n)
		fail_msg("%zu writes, want %zu (extra: %s)", fk.n_log, n, fk.log[n]);
	pthread_mutex_unlock(&fk.lock);
}

/* ---- fixture ------------------------------------------------------------ */

struct outcome {
	int calls;
	enum hd_errcode status;
	char error[64], reason[512], step[32], message[512], driver[32], result[16];
	int err;
	double seconds;
};

struct fixture {
	struct event_base *base;
	struct event *wake_ev;
	struct devtable *t;
	struct detach_engine *e;
	unsigned state_changes;
};

/* A state change is a `change` on the table's channel (the tests add no
 * device twice, so no other change comes). */
static void on_event(enum dev_event ev, const struct device *dev, const char *detail, void *arg)
{
	struct fixture *f = arg;

	if (ev == DEV_EVENT_CHANGE)
		f->state_changes++;
	if (f->e)
		detach_engine_device_event(f->e, ev, dev);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	eventfd_t v;

	if (eventfd_read(fd, &v) < 0)
		abort();
}

static void add_pci(struct fixture *f, const char *id, uint32_t cls, const char *driver)
{
	struct device *d = device_new(HD_BUS_PCI, id);

	d->syspath = xstrdup("/sys/devices/pci0000:00/x");
	d->pci.class_code = cls;
	d->driver = device_intern(driver);
	/* The IOMMU on: each function its own group (vfio-pci needs one). */
	d->pci.iommu_group = (int)devtable_count(f->t);
	devtable_upsert(f->t, d, DEV_EVENT_ADD, NULL);
}

/* Where the next fixture's engine reads modules.alias; NULL: no variants. */
static const char *fixture_modules_dir;

static struct fixture *fixture_new_with(unsigned timeout_ms, const struct detach_ops *ops)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct device *gpu, *usb;

	f->base = event_base_new();
	f->wake_ev = event_new(f->base, fk.wake_fd, EV_READ | EV_PERSIST, on_wake, NULL);
	event_add(f->wake_ev, NULL);
	f->t = devtable_new();
	devtable_subscribe(f->t, on_event, f);
	add_pci(f, "0000:00:00.0", 0x060000, NULL);
	add_pci(f, "0000:00:1c.0", 0x060400, "pcieport");
	add_pci(f, NIC, 0x020000, "e1000e");
	add_pci(f, NIC2, 0x020000, "igb");
	add_pci(f, "0000:02:00.0", 0x030000, "i915");
	gpu = devtable_get(f->t, "0000:02:00.0");
	gpu->pci.boot_vga = true;
	usb = device_new(HD_BUS_USB, "1-2");
	usb->driver = device_intern("usb");
	devtable_upsert(f->t, usb, DEV_EVENT_ADD, NULL);
	fake_reset();
	fake_add(NIC, "e1000e", "e1000e");
	fake_add(NIC2, "igb", "igb");
	fake_add(IF0, "usbhid", "usbhid");
	fake_add(IF1, "usbhid", "usbhid");
	f->e = detach_engine_new(f->base, f->t,
				 &(struct detach_config){ .step_timeout_ms = timeout_ms,
							  .ops = ops,
							  .modules_dir = fixture_modules_dir,
							  });
	return f;
}

static struct fixture *fixture_new(unsigned timeout_ms)
{
	return fixture_new_with(timeout_ms, &fake_ops);
}

static void fixture_free(struct fixture *f)
{
	detach_engine_free(f->e);
	f->e = NULL;
	devtable_free(f->t);
	event_free(f->wake_ev);
	event_base_free(f->base);
	free(f);
}

static void record(const struct detach_result *r, void *arg)
{
	struct outcome *o = arg;

	o->calls++;
	o->status = r->err.code;
	snprintf(o->error, sizeof(o->error), "%s", err_name(r->err.code) ? err_name(r->err.code) : "");
	/* The refusal's word: the operation running, the state, or the reason. */
	snprintf(o->reason, sizeof(o->reason), "%s",
		 r->err.operation ? r->err.operation : r->err.state ? r->err.state : r->err.reason);
	snprintf(o->step, sizeof(o->step), "%s", r->err.failure.step);
	snprintf(o->message, sizeof(o->message), "%s", r->err.failure.message);
	snprintf(o->driver, sizeof(o->driver), "%s", r->driver ? r->driver : "");
	snprintf(o->result, sizeof(o->result), "%s", r->outcome ? r->outcome : "");
	o->err = r->err.failure.err;
	o->seconds = r->err.seconds;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	fail_msg("deadline passed while waiting");
}

/* Steps the loop until cond(arg) holds; fails the test at the deadline. */
static void pump_until(struct fixture *f, bool (*cond)(struct fixture *, void *), void *arg)
{
	struct timeval tv = { .tv_sec = DEADLINE_S };
	struct event *deadline = evtimer_new(f->base, on_deadline, NULL);

	evtimer_add(deadline, &tv);
	while (!cond(f, arg))
		event_base_loop(f->base, EVLOOP_ONCE);
	event_free(deadline);
}

static bool answered(struct fixture *f, void *arg)
{
	return ((struct outcome *)arg)->calls > 0;
}

static bool idle(struct fixture *f, void *arg)
{
	return detach_engine_active(f->e) == 0;
}

static bool blocked(struct fixture *f, void *arg)
{
	return fake_is_blocked();
}

static bool waiting(struct fixture *f, void *arg)
{
	return detach_engine_waiting(f->e, arg);
}

static struct device *dev(struct fixture *f, const char *id)
{
	struct device *d = devtable_get(f->t, id);

	assert_non_null(d);
	return d;
}

static void run_detach(struct fixture *f, const char *id, const char *stub, struct outcome *o)
{
	*o = (struct outcome){ 0 };
	detach_start(f->e, id, stub, record, o);
	pump_until(f, answered, o);
	pump_until(f, idle, NULL);
	assert_int_equal(o->calls, 1);
}

static void run_reattach(struct fixture *f, const char *id, struct outcome *o)
{
	*o = (struct outcome){ 0 };
	reattach_start(f->e, id, record, o);
	pump_until(f, answered, o);
	pump_until(f, idle, NULL);
	assert_int_equal(o->calls, 1);
}

static void assert_on(struct fixture *f, const char *id, enum dev_state st, const char *driver)
{
	struct device *d = dev(f, id);

	assert_string_equal(dev_state_name(d->state), dev_state_name(st));
	if (driver)
		assert_string_equal(d->driver, driver);
	else
		assert_null(d->driver);
	pthread_mutex_lock(&fk.lock);
	if (driver)
		assert_string_equal(fake_dev(id)->driver, driver);
	else
		assert_null(fake_dev(id)->driver);
	pthread_mutex_unlock(&fk.lock);
}

#define OVR(v) "/sys/bus/pci/devices/" NIC "/driver_override=" v
#define UNBIND(drv) "/sys/bus/pci/drivers/" drv "/unbind=" NIC
#define PROBE "/sys/bus/pci/drivers_probe=" NIC

/* ---- the sequences ------------------------------------------------------ */

static void test_detach_and_reattach(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	run_detach(f, NIC, "vfio-pci", &o);
	assert_int_equal(o.status, HDE_OK);
	assert_string_equal(o.result, "bound");
	assert_string_equal(o.driver, "vfio-pci");
	expect_writes((const char *[]){ OVR("vfio-pci"), UNBIND("e1000e"), PROBE, NULL });
	assert_on(f, NIC, DEV_DETACHED, "vfio-pci");
	assert_string_equal(dev(f, NIC)->original_driver, "e1000e");
	assert_string_equal(dev(f, NIC)->pci.driver_override, "vfio-pci");
	assert_int_equal(fk.module_loads, 0);
	/* host -> detaching -> detached, each told to the watchers */
	assert_int_equal(f->state_changes, 2);

	run_reattach(f, NIC, &o);
	assert_int_equal(o.status, HDE_OK);
	assert_string_equal(o.result, "original");
	assert_string_equal(o.driver, "e1000e");
	expect_writes((const char *[]){ OVR("vfio-pci"), UNBIND("e1000e"), PROBE, OVR("\\n"),
					UNBIND("vfio-pci"), PROBE, NULL });
	assert_on(f, NIC, DEV_HOST, "e1000e");
	assert_null(dev(f, NIC)->original_driver);
	assert_null(dev(f, NIC)->pci.driver_override);
	assert_int_equal(f->state_changes, 4);
	fixture_free(f);
}

static void test_already_on_stub(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o = { 0 };

	devtable_update_binding(f->t, NIC, "vfio-pci", NULL, DEV_EVENT_BIND);
	assert_int_equal(dev(f, NIC)->state, DEV_DETACHED);
	/* Answered before detach_start returns, and nothing written. */
	detach_start(f->e, NIC, "vfio-pci", record, &o);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.status, HDE_OK);
	assert_string_equal(o.result, "already");
	assert_string_equal(o.driver, "vfio-pci");
	assert_int_equal(fk.n_log, 0);
	assert_int_equal(detach_engine_active(f->e), 0);
	assert_int_equal(dev(f, NIC)->state, DEV_DETACHED);
	fixture_free(f);
}

static void test_stub_module_loaded(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	fk.present[2] = NULL;
	run_detach(f, NIC, "vfio-pci", &o);
	assert_int_equal(o.status, HDE_OK);
	assert_int_equal(fk.module_loads, 1);
	assert_string_equal(fk.module, "vfio_pci");
	assert_on(f, NIC, DEV_DETACHED, "vfio-pci");
	fixture_free(f);
}

/* Xen's stub is the driver pciback, in the module xen_pciback: the load
 * names the module, the override the driver. */
static void test_stub_module_of_pciback(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	fk.module_driver = "pciback";
	run_detach(f, NIC, "pciback", &o);
	assert_int_equal(o.status, HDE_OK);
	assert_int_equal(fk.module_loads, 1);
	assert_string_equal(fk.module, "xen_pciback");
	expect_writes((const char *[]){ OVR("pciback"), UNBIND("e1000e"), PROBE, NULL });
	assert_on(f, NIC, DEV_DETACHED, "pciback");
	assert_string_equal(dev(f, NIC)->pci.driver_override, "pciback");
	fixture_free(f);
}

static void test_stub_module_fails(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	fk.present[2] = NULL;
	fk.module_err = ENOENT;
	run_detach(f, NIC, "vfio-pci", &o);
	assert_int_equal(o.status, HDE_OPERATION_FAILED);
	assert_string_equal(o.error, "io.hostdevd.OperationFailed");
	assert_string_equal(o.step, "load_module");
	assert_int_equal(o.err, ENOENT);
	expect_writes((const char *[]){ NULL });
	assert_on(f, NIC, DEV_HOST, "e1000e");
	assert_null(dev(f, NIC)->original_driver);
	fixture_free(f);
}

/* ---- vfio-pci variants ---------------------------------------------------- */

static char variant_dir[] = "/tmp/hd-td-variant-XXXXXX";

/* An engine whose modules.alias names e1000e_vfio_pci for NIC (8086:10d3,
 * class 02), a module not loaded yet. */
static struct fixture *variant_fixture(void)
{
	_cleanup_free_ char *path = NULL;
	struct fixture *f;
	FILE *fp;

	strcpy(variant_dir, "/tmp/hd-td-variant-XXXXXX");
	assert_non_null(mkdtemp(variant_dir));
	path = xasprintf("%s/modules.alias", variant_dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("alias vfio_pci:v00008086d000010D3sv*sd*bc02sc*i* e1000e_vfio_pci\n", fp);
	fclose(fp);
	fixture_modules_dir = variant_dir;
	f = fixture_new(5000);
	fixture_modules_dir = NULL;
	unlink(path);
	rmdir(variant_dir);
	dev(f, NIC)->vendor = 0x8086;
	dev(f, NIC)->product = 0x10d3;
	return f;
}

/* No stub named: the variant's module is loaded, and the driver it
 * registered (another name than the module's) is what driver_override
 * gets; NIC2 (igb, no alias) goes to vfio-pci. */
static void test_variant_module_loaded(void **state)
{
	struct fixture *f = variant_fixture();
	struct outcome o;

	fk.module_driver = "e1000e-vfio";
	run_detach(f, NIC, NULL, &o);
	assert_int_equal(o.status, HDE_OK);
	assert_string_equal(o.driver, "e1000e-vfio");
	assert_int_equal(fk.module_loads, 1);
	assert_string_equal(fk.module, "e1000e_vfio_pci");
	expect_writes((const char *[]){ OVR("e1000e-vfio"), UNBIND("e1000e"), PROBE, NULL });
	assert_on(f, NIC, DEV_DETACHED, "e1000e-vfio");
	assert_true(driver_is_stub("e1000e-vfio"));
	run_detach(f, NIC2, NULL, &o);
	assert_int_equal(o.status, HDE_OK);
	assert_string_equal(o.driver, "vfio-pci");
	fixture_free(f);
}

/* A module that loads but registers no driver with it as its module: the
 * detach fails at load_module, nothing written. */
static void test_variant_module_registers_nothing(void **state)
{
	struct fixture *f = variant_fixture();
	struct outcome o;

	fk.module_driver = NULL;
	run_detach(f, NIC, NULL, &o);
	assert_int_equal(o.status, HDE_OPERATION_FAILED);
	assert_string_equal(o.step, "load_module");
	assert_int_equal(o.err, ENOENT);
	assert_non_null(strstr(o.message, "e1000e_vfio_pci"));
	expect_writes((const char *[]){ NULL });
	assert_on(f, NIC, DEV_HOST, "e1000e");
	fixture_free(f);
}

/* A variant named by its module, not loaded yet: taken (the module's name
 * kept until then), loaded at the detach, and the driver it registers is
 * what driver_override gets; named by that driver afterwards, the same. */
static void test_variant_named_by_module_not_loaded(void **state)
{
	struct fixture *f = variant_fixture();
	struct detach_choice c;
	struct outcome o;

	fk.module_driver = "e1000e-vfio";
	assert_true(detach_choose(f->e, dev(f, NIC), "e1000e_vfio_pci", &c));
	assert_null(c.driver);
	assert_string_equal(c.module, "e1000e_vfio_pci");
	assert_true(c.variant);
	assert_false(c.picked);
	assert_string_equal(detach_stub_target(f->e, "e1000e_vfio_pci"), "e1000e_vfio_pci");
	run_detach(f, NIC, detach_stub_target(f->e, "e1000e_vfio_pci"), &o);
	assert_int_equal(o.status, HDE_OK);
	assert_string_equal(o.driver, "e1000e-vfio");
	assert_int_equal(fk.module_loads, 1);
	assert_string_equal(fk.module, "e1000e_vfio_pci");
	expect_writes((const char *[]){ OVR("e1000e-vfio"), UNBIND("e1000e"), PROBE, NULL });
	assert_on(f, NIC, DEV_DETACHED, "e1000e-vfio");
	/* Registered now: by either name, its driver. */
	assert_string_equal(detach_stub_target(f->e, "e1000e_vfio_pci"), "e1000e-vfio");
	assert_true(detach_choose(f->e, dev(f, NIC), "e1000e_vfio_pci", &c));
	assert_string_equal(c.driver, "e1000e-vfio");
	assert_string_equal(detach_stub_target(f->e, "e1000e-vfio"), "e1000e-vfio");
	/* The plain one stays itself. */
	assert_true(detach_choose(f->e, dev(f, NIC), "vfio-pci", &c));
	assert_string_equal(c.driver, "vfio-pci");
	assert_false(c.variant);
	fixture_free(f);
}

/* A name that is no stub and no variant of this host: UnknownDriver before
 * anything is written or loaded, the names taken in its reason and list
 * (stubs first, each name once); never plain vfio-pci in its place. */
static void test_unknown_driver_refused(void **state)
{
	struct fixture *f = variant_fixture();
	_cleanup_free_ char **accepted = detach_drivers_accepted(f->e);
	struct detach_choice c;
	struct outcome o;
	size_t n = 0;

	run_detach(f, NIC, "mlx5_vfio_pci", &o);
	assert_int_equal(o.status, HDE_UNKNOWN_DRIVER);
	assert_string_equal(o.error, "io.hostdevd.UnknownDriver");
	assert_non_null(strstr(o.reason, "\"mlx5_vfio_pci\" is no stub driver and no vfio-pci "
					 "variant of this host; it takes vfio-pci, pci-stub, "
					 "pciback, xen-pciback, "));
	assert_non_null(strstr(o.reason, "e1000e_vfio_pci"));
	assert_int_equal(fk.module_loads, 0);
	expect_writes((const char *[]){ NULL });
	assert_on(f, NIC, DEV_HOST, "e1000e");
	assert_string_equal(accepted[0], "vfio-pci");
	assert_string_equal(accepted[1], "pci-stub");
	assert_string_equal(accepted[2], "pciback");
	assert_string_equal(accepted[3], "xen-pciback");
	for (; accepted[n]; n++)
		for (size_t j = 0; j < n; j++)
			assert_string_not_equal(accepted[j], accepted[n]);
	assert_string_equal(accepted[n - 1], "e1000e_vfio_pci");
	/* vfio-pci's module, and what is no name at all, are none either. */
	assert_false(detach_choose(f->e, dev(f, NIC), "vfio_pci", &c));
	assert_false(detach_choose(f->e, dev(f, NIC), "../vfio-pci", &c));
	assert_false(detach_choose(f->e, dev(f, NIC), "", &c));
	assert_null(detach_stub_target(f->e, "mlx5_vfio_pci"));
	fixture_free(f);
}

/* ---- each step failing, rolled back in reverse -------------------------- */

static void detach_fails_at(const char *step, int err, const char *const *writes)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	snprintf(fk.fail_step, sizeof(fk.fail_step), "%s", step);
	fk.fail_err = err;
	run_detach(f, NIC, "vfio-pci", &o);
	assert_int_equal(o.status, HDE_OPERATION_FAILED);
	assert_string_equal(o.error, "io.hostdevd.OperationFailed");
	assert_string_equal(o.step, step);
	assert_int_equal(o.err, err);
	assert_non_null(strstr(o.message, strerror(err)));
	expect_writes(writes);
	assert_on(f, NIC, DEV_HOST, "e1000e");
	assert_null(fake_dev(NIC)->override);
	assert_null(dev(f, NIC)->pci.driver_override);
	assert_null(dev(f, NIC)->original_driver);
	fixture_free(f);
}

static void test_detach_step_failures(void **state)
{
	detach_fails_at("driver_override", EIO, (const char *[]){ OVR("vfio-pci!"), NULL });
	detach_fails_at("unbind", EBUSY,
			(const char *[]){ OVR("vfio-pci"), UNBIND("e1000e") "!", OVR("\\n"),
					  NULL });
	detach_fails_at("drivers_probe", ENODEV,
			(const char *[]){ OVR("vfio-pci"), UNBIND("e1000e"), PROBE "!", OVR("\\n"),
					  PROBE, NULL });
}

static void test_confirm_timeout(void **state)
{
	struct fixture *f = fixture_new(SHORT_TIMEOUT_MS);
	struct outcome o;

	fk.devs[0].never_bind = true;
	run_detach(f, NIC, "vfio-pci", &o);
	assert_int_equal(o.status, HDE_TIMEOUT);
	assert_string_equal(o.error, "io.hostdevd.Timeout");
	assert_string_equal(o.step, "confirm_bind");
	assert_true(o.seconds > 0.19 && o.seconds < 0.21);
	/* never_bind holds for the reprobe too: the rollback cannot bring
	 * e1000e back, and says so. */
	expect_writes((const char *[]){ OVR("vfio-pci"), UNBIND("e1000e"), PROBE, OVR("\\n"), PROBE,
					NULL });
	assert_on(f, NIC, DEV_ERROR, NULL);
	assert_non_null(strstr(o.message, "rollback left it on no driver, not e1000e"));
	fixture_free(f);
}

static void run_repair(struct fixture *f, const char *id, struct outcome *o)
{
	*o = (struct outcome){ 0 };
	repair_start(f->e, id, record, o);
	pump_until(f, answered, o);
	pump_until(f, idle, NULL);
	assert_int_equal(o->calls, 1);
}

/* A detach left in `error` (its rollback could not bind e1000e again):
 * Detach and Reattach refuse it; once the kernel binds again, Repair reads
 * the link and probes it back to its original driver. */
static void test_repair_to_host(void **state)
{
	struct fixture *f = fixture_new(SHORT_TIMEOUT_MS);
	struct outcome o;

	fk.devs[0].never_bind = true;
	run_detach(f, NIC, "vfio-pci", &o);
	assert_on(f, NIC, DEV_ERROR, NULL);
	run_reattach(f, NIC, &o);
	assert_string_equal(o.error, "io.hostdevd.InvalidDeviceState");
	fk.devs[0].never_bind = false;
	fk.n_log = 0;
	run_repair(f, NIC, &o);
	assert_int_equal(o.status, HDE_OK);
	assert_string_equal(o.result, "original");
	assert_string_equal(o.driver, "e1000e");
	expect_writes((const char *[]){ OVR("\\n"), PROBE, NULL });
	assert_on(f, NIC, DEV_HOST, "e1000e");
	assert_null(dev(f, NIC)->original_driver);
	/* Settled: a second Repair writes nothing and says so. */
	fk.n_log = 0;
	run_repair(f, NIC, &o);
	assert_string_equal(o.result, "host");
	expect_writes((const char *[]){ NULL });
	fixture_free(f);
}

/* A reattach from the pool left in `error` goes back to the pool: bound
 * to its stub again when unbound, or taken as it is when a bind event
 * shows it on the stub. */
static void test_repair_to_pool(void **state)
{
	struct fixture *f = fixture_new(SHORT_TIMEOUT_MS);
	struct outcome o;

	run_detach(f, NIC, "vfio-pci", &o);
	fk.devs[0].never_bind = true;
	run_reattach(f, NIC, &o);
	assert_int_equal(o.status, HDE_TIMEOUT);
	assert_on(f, NIC, DEV_ERROR, NULL);
	assert_int_equal(dev(f, NIC)->error_home, DEV_DETACHED);
	fk.devs[0].never_bind = false;
	fk.n_log = 0;
	run_repair(f, NIC, &o);
	assert_int_equal(o.status, HDE_OK);
	assert_string_equal(o.result, "rebound");
	assert_string_equal(o.driver, "vfio-pci");
	expect_writes((const char *[]){ OVR("vfio-pci"), PROBE, NULL });
	assert_on(f, NIC, DEV_DETACHED, "vfio-pci");
	assert_string_equal(dev(f, NIC)->original_driver, "e1000e");
	run_reattach(f, NIC, &o);
	assert_string_equal(o.result, "original");
	assert_on(f, NIC, DEV_HOST, "e1000e");
	fixture_free(f);
}

/* A device in `error` that something binds: the bind says where it is. */
static void test_error_left_by_a_bind(void **state)
{
	struct fixture *f = fixture_new(SHORT_TIMEOUT_MS);
	struct outcome o;

	fk.devs[0].never_bind = true;
	run_detach(f, NIC, "vfio-pci", &o);
	assert_on(f, NIC, DEV_ERROR, NULL);
	devtable_update_binding(f->t, NIC, "e1000e", NULL, DEV_EVENT_BIND);
	assert_string_equal(dev_state_name(dev(f, NIC)->state), "host");
	assert_null(dev(f, NIC)->original_driver);
	fixture_free(f);
}

/* After a restart a function unbound by a failure reads `host` with no
 * driver: Reattach probes it instead of calling it reattached. */
static void test_reattach_of_a_driverless_host_device(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	free(fake_dev(NIC)->driver);
	fake_dev(NIC)->driver = NULL;
	devtable_update_binding(f->t, NIC, NULL, NULL, DEV_EVENT_UNBIND);
	assert_on(f, NIC, DEV_HOST, NULL);
	run_reattach(f, NIC, &o);
	assert_int_equal(o.status, HDE_OK);
	assert_string_equal(o.result, "native");
	assert_string_equal(o.driver, "e1000e");
	expect_writes((const char *[]){ OVR("\\n"), PROBE, NULL });
	assert_on(f, NIC, DEV_HOST, "e1000e");
	/* With a driver it is with the host already. */
	run_reattach(f, NIC, &o);
	assert_string_equal(o.error, "io.hostdevd.InvalidDeviceState");
	fixture_free(f);
}

static bool noiommu_on(void *ctx)
{
	return true;
}

/* No IOMMU group: vfio-pci is refused before any write, unless vfio's
 * unsafe no-IOMMU mode is on; pci-stub needs no group. */
static void test_no_iommu(void **state)
{
	struct detach_ops unsafe = fake_ops;
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	dev(f, NIC)->pci.iommu_group = HD_NO_GROUP;
	run_detach(f, NIC, "vfio-pci", &o);
	assert_int_equal(o.status, HDE_NO_IOMMU);
	assert_string_equal(o.error, "io.hostdevd.NoIommu");
	expect_writes((const char *[]){ NULL });
	assert_int_equal(fk.module_loads, 0);
	assert_on(f, NIC, DEV_HOST, "e1000e");
	assert_null(dev(f, NIC)->original_driver);
	fixture_free(f);

	unsafe.unsafe_noiommu = noiommu_on;
	f = fixture_new_with(5000, &unsafe);
	dev(f, NIC)->pci.iommu_group = HD_NO_GROUP;
	run_detach(f, NIC, "vfio-pci", &o);
	assert_int_equal(o.status, HDE_OK);
	assert_on(f, NIC, DEV_DETACHED, "vfio-pci");
	fixture_free(f);
}

static void test_confirm_by_bind_event(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o = { 0 };

	fk.devs[0].bind_later = true;
	detach_start(f->e, NIC, "vfio-pci", record, &o);
	pump_until(f, waiting, NIC);
	assert_int_equal(o.calls, 0);
	assert_int_equal(dev(f, NIC)->state, DEV_DETACHING);
	/* The kernel binds; the monitor applies the uevent. */
	pthread_mutex_lock(&fk.lock);
	fk.devs[0].driver = xstrdup("vfio-pci");
	pthread_mutex_unlock(&fk.lock);
	devtable_update_binding(f->t, NIC, "vfio-pci", "vfio-pci", DEV_EVENT_BIND);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.status, HDE_OK);
	assert_string_equal(o.result, "bound");
	assert_on(f, NIC, DEV_DETACHED, "vfio-pci");
	assert_int_equal(detach_engine_active(f->e), 0);
	fixture_free(f);
}

static void test_removed_while_waiting(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o = { 0 };

	fk.devs[0].bind_later = true;
	detach_start(f->e, NIC, "vfio-pci", record, &o);
	pump_until(f, waiting, NIC);
	devtable_remove(f->t, NIC);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.status, HDE_OPERATION_FAILED);
	assert_int_equal(o.err, ENODEV);
	assert_string_equal(o.step, "confirm_bind");
	assert_int_equal(detach_engine_active(f->e), 0);
	fixture_free(f);
}

/* ---- a step stuck in the kernel ----------------------------------------- */

static void test_blocked_step_times_out(void **state)
{
	struct fixture *f = fixture_new(SHORT_TIMEOUT_MS);
	struct outcome o = { 0 }, other;

	snprintf(fk.block_step, sizeof(fk.block_step), "unbind");
	detach_start(f->e, NIC, "vfio-pci", record, &o);
	pump_until(f, answered, &o);
	assert_int_equal(o.status, HDE_TIMEOUT);
	assert_string_equal(o.step, "unbind");
	assert_true(fake_is_blocked());
	assert_int_equal(dev(f, NIC)->state, DEV_ERROR);
	assert_int_equal(detach_engine_active(f->e), 1);

	/* The loop keeps serving: another device detaches meanwhile. */
	other = (struct outcome){ 0 };
	detach_start(f->e, NIC2, "vfio-pci", record, &other);
	pump_until(f, answered, &other);
	assert_int_equal(o.calls, 1);
	assert_true(fake_is_blocked());
	assert_int_equal(other.status, HDE_OK);
	assert_on(f, NIC2, DEV_DETACHED, "vfio-pci");
	assert_int_equal(detach_engine_active(f->e), 1);

	/* The stuck unbind returns: rolled back, the device leaves error. */
	fake_release();
	pump_until(f, idle, NULL);
	assert_int_equal(o.calls, 1);
	assert_on(f, NIC, DEV_HOST, "e1000e");
	assert_null(fake_dev(NIC)->override);
	assert_null(dev(f, NIC)->original_driver);
	fixture_free(f);
}

static void test_device_busy(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o = { 0 }, busy = { 0 }, busy2 = { 0 };

	snprintf(fk.block_step, sizeof(fk.block_step), "unbind");
	detach_start(f->e, NIC, "vfio-pci", record, &o);
	pump_until(f, blocked, NULL);
	detach_start(f->e, NIC, "vfio-pci", record, &busy);
	assert_int_equal(busy.calls, 1);
	assert_int_equal(busy.status, HDE_DEVICE_BUSY);
	assert_string_equal(busy.error, "io.hostdevd.DeviceBusy");
	assert_string_equal(busy.reason, "Detach");
	reattach_start(f->e, NIC, record, &busy2);
	assert_int_equal(busy2.status, HDE_DEVICE_BUSY);
	fake_release();
	pump_until(f, answered, &o);
	pump_until(f, idle, NULL);
	if (o.status != HDE_OK)
		fail_msg("%s: %s", o.error, o.message);
	assert_on(f, NIC, DEV_DETACHED, "vfio-pci");
	fixture_free(f);
}

/* ---- Reset -------------------------------------------------------------- */

static void run_reset(struct fixture *f, const char *id, struct outcome *o)
{
	*o = (struct outcome){ 0 };
	reset_start(f->e, id, record, o);
	pump_until(f, answered, o);
	pump_until(f, idle, NULL);
	assert_int_equal(o->calls, 1);
}

/* One write of "1"; binding and state untouched. */
static void test_reset(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	dev(f, NIC)->pci.has_reset = true;
	run_reset(f, NIC, &o);
	assert_int_equal(o.status, HDE_OK);
	assert_string_equal(o.result, "reset");
	expect_writes((const char *const[]){ "/sys/bus/pci/devices/" NIC "/reset=1", NULL });
	assert_on(f, NIC, DEV_HOST, "e1000e");
	assert_int_equal(f->state_changes, 0);
	fixture_free(f);
}

static void test_reset_refusals(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	/* No reset attribute: the kernel has no method for it. */
	run_reset(f, NIC, &o);
	assert_int_equal(o.status, HDE_OPERATION_FAILED);
	assert_string_equal(o.step, "reset");
	assert_int_equal(o.err, ENOTTY);
	dev(f, "0000:02:00.0")->pci.has_reset = true;
	run_reset(f, "0000:02:00.0", &o);
	assert_int_equal(o.status, HDE_HOST_CRITICAL);
	assert_non_null(strstr(o.reason, "boot VGA"));
	run_reset(f, "1-2", &o);
	assert_int_equal(o.status, HDE_OPERATION_FAILED);
	assert_int_equal(o.err, EOPNOTSUPP);
	run_reset(f, "0000:09:00.0", &o);
	assert_int_equal(o.status, HDE_DEVICE_NOT_FOUND);
	assert_int_equal(fk.n_log, 0);
	fixture_free(f);
}

static void test_reset_fails(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	dev(f, NIC)->pci.has_reset = true;
	snprintf(fk.fail_step, sizeof(fk.fail_step), "reset");
	fk.fail_err = EIO;
	run_reset(f, NIC, &o);
	assert_int_equal(o.status, HDE_OPERATION_FAILED);
	assert_string_equal(o.error, "io.hostdevd.OperationFailed");
	assert_string_equal(o.step, "reset");
	assert_int_equal(o.err, EIO);
	/* Nothing to roll back: a failed reset leaves the binding alone. */
	assert_on(f, NIC, DEV_HOST, "e1000e");
	fixture_free(f);
}

/* A reset stuck in the kernel: answered Timeout at the deadline, the
 * device busy (not error: no binding changed) until the write returns. */
static void test_reset_stuck(void **state)
{
	struct fixture *f = fixture_new(SHORT_TIMEOUT_MS);
	struct outcome o = { 0 }, busy = { 0 };

	dev(f, NIC)->pci.has_reset = true;
	snprintf(fk.block_step, sizeof(fk.block_step), "reset");
	reset_start(f->e, NIC, record, &o);
	pump_until(f, answered, &o);
	assert_int_equal(o.status, HDE_TIMEOUT);
	assert_string_equal(o.step, "reset");
	assert_int_equal(dev(f, NIC)->state, DEV_HOST);
	detach_start(f->e, NIC, "vfio-pci", record, &busy);
	assert_int_equal(busy.status, HDE_DEVICE_BUSY);
	assert_string_equal(busy.reason, "Reset");
	fake_release();
	pump_until(f, idle, NULL);
	assert_int_equal(o.calls, 1);
	assert_on(f, NIC, DEV_HOST, "e1000e");
	fixture_free(f);
}

/* ---- USB interface drivers ---------------------------------------------- */

static const struct iface_binding kbd_ifaces[] = {
	{ .iface = (char *)IF0, .driver = (char *)"usbhid" },
	{ .iface = (char *)IF1, .driver = (char *)"usbhid" },
};

static void run_usb(struct fixture *f, bool unbind, struct outcome *o)
{
	*o = (struct outcome){ 0 };
	usb_interfaces_start(f->e, "1-2", unbind, kbd_ifaces, ARRAY_SIZE(kbd_ifaces), record, o);
	pump_until(f, answered, o);
	pump_until(f, idle, NULL);
	assert_int_equal(o->calls, 1);
}

static const char *fake_driver_of(const char *id)
{
	return fake_dev(id)->driver;
}

static void test_usb_unbind_and_bind(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	run_usb(f, true, &o);
	assert_int_equal(o.status, HDE_OK);
	assert_string_equal(o.result, "unbound");
	assert_null(fake_driver_of(IF0));
	assert_null(fake_driver_of(IF1));
	/* The claim engine moves it on from here. */
	assert_int_equal(dev(f, "1-2")->state, DEV_DETACHING);
	run_usb(f, false, &o);
	assert_int_equal(o.status, HDE_OK);
	assert_string_equal(o.result, "bound");
	expect_writes((const char *const[]){
		"/sys/bus/usb/drivers/usbhid/unbind=" IF0, "/sys/bus/usb/drivers/usbhid/unbind=" IF1,
		"/sys/bus/usb/drivers/usbhid/bind=" IF0, "/sys/bus/usb/drivers/usbhid/bind=" IF1,
		NULL });
	assert_string_equal(fake_driver_of(IF0), "usbhid");
	assert_int_equal(dev(f, "1-2")->state, DEV_HOST);
	fixture_free(f);
}

/* The second unbind fails: the first interface is bound back. */
static void test_usb_unbind_fails(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	/* The second interface is bound to another driver than planned, so
	 * its unbind is refused as the kernel refuses it. */
	pthread_mutex_lock(&fk.lock);
	free(fake_dev(IF1)->driver);
	fake_dev(IF1)->driver = xstrdup("usb-storage");
	pthread_mutex_unlock(&fk.lock);
	run_usb(f, true, &o);
	assert_int_equal(o.status, HDE_OPERATION_FAILED);
	assert_string_equal(o.step, "unbind_interface");
	assert_int_equal(o.err, ENODEV);
	assert_non_null(strstr(o.message, IF1));
	expect_writes((const char *const[]){ "/sys/bus/usb/drivers/usbhid/unbind=" IF0,
					     "/sys/bus/usb/drivers/usbhid/unbind=" IF1 "!",
					     "/sys/bus/usb/drivers/usbhid/bind=" IF0, NULL });
	assert_string_equal(fake_driver_of(IF0), "usbhid");
	assert_int_equal(dev(f, "1-2")->state, DEV_HOST);
	fixture_free(f);
}

/* The undo fails too: the device is in error and the message says both. */
static void test_usb_unbind_undo_fails(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	fake_dev(IF0)->never_bind = true;
	snprintf(fk.fail_step, sizeof(fk.fail_step), "unbind_interface");
	fk.fail_err = EBUSY;
	/* The first unbind fails at once: nothing to undo, device host. */
	run_usb(f, true, &o);
	assert_int_equal(o.status, HDE_OPERATION_FAILED);
	assert_int_equal(o.err, EBUSY);
	assert_int_equal(dev(f, "1-2")->state, DEV_HOST);
	/* Now the second fails, and binding the first back fails too. */
	pthread_mutex_lock(&fk.lock);
	fk.n_log = 0;
	free(fake_dev(IF1)->driver);
	fake_dev(IF1)->driver = NULL;
	pthread_mutex_unlock(&fk.lock);
	run_usb(f, true, &o);
	assert_int_equal(o.status, HDE_OPERATION_FAILED);
	assert_non_null(strstr(o.message, "binding back failed"));
	assert_null(fake_driver_of(IF0));
	assert_int_equal(dev(f, "1-2")->state, DEV_ERROR);
	fixture_free(f);
}

/* Binding back at release: every interface is tried, the first failure
 * reported, the device left in error. */
static void test_usb_bind_fails(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	run_usb(f, true, &o);
	assert_int_equal(o.status, HDE_OK);
	fake_dev(IF0)->never_bind = true;
	fake_dev(IF1)->bind_later = true; /* "succeeds", binds nothing */
	run_usb(f, false, &o);
	assert_int_equal(o.status, HDE_OPERATION_FAILED);
	assert_string_equal(o.step, "bind_interface");
	assert_int_equal(o.err, ENODEV);
	assert_non_null(strstr(o.message, IF0));
	assert_int_equal(fk.n_log, 4); /* both binds were tried */
	assert_int_equal(dev(f, "1-2")->state, DEV_ERROR);
	/* The second one's silent failure is caught by reading the link. */
	fake_dev(IF0)->never_bind = false;
	devtable_get(f->t, "1-2")->state = DEV_RELEASING;
	run_usb(f, false, &o);
	assert_int_equal(o.status, HDE_OPERATION_FAILED);
	assert_int_equal(o.err, EIO);
	assert_non_null(strstr(o.message, "is on no driver"));
	fixture_free(f);
}

/* An unbind stuck in the kernel: Timeout at once, and when it returns the
 * interfaces are bound again and the device leaves error. */
static void test_usb_unbind_stuck(void **state)
{
	struct fixture *f = fixture_new(SHORT_TIMEOUT_MS);
	struct outcome o = { 0 };

	snprintf(fk.block_step, sizeof(fk.block_step), "unbind_interface");
	usb_interfaces_start(f->e, "1-2", true, kbd_ifaces, ARRAY_SIZE(kbd_ifaces), record, &o);
	pump_until(f, answered, &o);
	assert_int_equal(o.status, HDE_TIMEOUT);
	assert_string_equal(o.error, "io.hostdevd.Timeout");
	assert_int_equal(dev(f, "1-2")->state, DEV_ERROR);
	fake_release();
	pump_until(f, idle, NULL);
	assert_int_equal(o.calls, 1);
	assert_string_equal(fake_driver_of(IF0), "usbhid");
	assert_string_equal(fake_driver_of(IF1), "usbhid");
	assert_int_equal(dev(f, "1-2")->state, DEV_HOST);
	fixture_free(f);
}

static void test_usb_refusals(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o = { 0 };

	/* Bind needs a device being claimed or released. */
	run_usb(f, false, &o);
	assert_int_equal(o.status, HDE_INVALID_DEVICE_STATE);
	assert_string_equal(o.reason, "host");
	o = (struct outcome){ 0 };
	usb_interfaces_start(f->e, NIC, true, kbd_ifaces, 1, record, &o);
	assert_int_equal(o.status, HDE_OPERATION_FAILED);
	assert_int_equal(o.err, EOPNOTSUPP);
	assert_int_equal(fk.n_log, 0);
	fixture_free(f);
}

/* ---- refusals ----------------------------------------------------------- */

static void expect_refused(struct fixture *f, const char *id, enum hd_errcode st,
			   const char *error, const char *reason)
{
	struct outcome o = { 0 };

	detach_start(f->e, id, "vfio-pci", record, &o);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.status, st);
	assert_string_equal(o.error, error);
	if (reason)
		assert_non_null(strstr(o.reason, reason));
}

static void test_host_critical(void **state)
{
	struct fixture *f = fixture_new(5000);

	expect_refused(f, "0000:00:00.0", HDE_HOST_CRITICAL, "io.hostdevd.HostCritical",
		       "host bridge");
	expect_refused(f, "0000:00:1c.0", HDE_HOST_CRITICAL, "io.hostdevd.HostCritical",
		       "PCI bridge");
	expect_refused(f, "0000:02:00.0", HDE_HOST_CRITICAL, "io.hostdevd.HostCritical",
		       "boot VGA");
	assert_int_equal(fk.n_log, 0);
	assert_int_equal(dev(f, "0000:02:00.0")->state, DEV_HOST);
	assert_int_equal(f->state_changes, 0);
	fixture_free(f);
}

static void test_refusals(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o = { 0 };

	expect_refused(f, "0000:09:00.0", HDE_DEVICE_NOT_FOUND, "io.hostdevd.DeviceNotFound", NULL);
	expect_refused(f, "1-2", HDE_OPERATION_FAILED, "io.hostdevd.OperationFailed", NULL);
	reattach_start(f->e, NIC, record, &o);
	assert_int_equal(o.status, HDE_INVALID_DEVICE_STATE);
	assert_string_equal(o.error, "io.hostdevd.InvalidDeviceState");
	assert_string_equal(o.reason, "host");
	/* Detached to pci-stub, a detach to vfio-pci is refused by state. */
	devtable_update_binding(f->t, NIC, "pci-stub", NULL, DEV_EVENT_BIND);
	expect_refused(f, NIC, HDE_INVALID_DEVICE_STATE, "io.hostdevd.InvalidDeviceState", "detached");
	assert_int_equal(fk.n_log, 0);
	fixture_free(f);
}

/* ---- reattach without a recorded driver, and its rollback --------------- */

static void test_reattach_without_original(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	/* On vfio-pci since before hostdevd: no original driver recorded. */
	devtable_update_binding(f->t, NIC, "vfio-pci", "vfio-pci", DEV_EVENT_BIND);
	free(fk.devs[0].driver);
	fk.devs[0].driver = xstrdup("vfio-pci");
	fk.devs[0].override = xstrdup("vfio-pci");
	run_reattach(f, NIC, &o);
	assert_int_equal(o.status, HDE_OK);
	assert_string_equal(o.result, "native");
	assert_string_equal(o.driver, "e1000e");
	assert_on(f, NIC, DEV_HOST, "e1000e");

	/* No native driver at all: it ends unbound, and the reply says so. */
	run_detach(f, NIC, "vfio-pci", &o);
	assert_int_equal(o.status, HDE_OK);
	free(dev(f, NIC)->original_driver);
	dev(f, NIC)->original_driver = NULL;
	fk.devs[0].native = NULL;
	run_reattach(f, NIC, &o);
	assert_int_equal(o.status, HDE_OK);
	assert_string_equal(o.result, "unbound");
	assert_string_equal(o.driver, "");
	assert_on(f, NIC, DEV_HOST, NULL);
	fixture_free(f);
}

static void test_reattach_rollback(void **state)
{
	struct fixture *f = fixture_new(5000);
	struct outcome o;

	run_detach(f, NIC, "vfio-pci", &o);
	fk.n_log = 0;
	snprintf(fk.fail_step, sizeof(fk.fail_step), "unbind");
	fk.fail_err = EBUSY;
	run_reattach(f, NIC, &o);
	assert_int_equal(o.status, HDE_OPERATION_FAILED);
	assert_string_equal(o.step, "unbind");
	assert_int_equal(o.err, EBUSY);
	expect_writes((const char *[]){ OVR("\\n"), UNBIND("vfio-pci") "!", OVR("vfio-pci"),
					NULL });
	assert_on(f, NIC, DEV_DETACHED, "vfio-pci");
	assert_string_equal(dev(f, NIC)->original_driver, "e1000e");
	assert_string_equal(fake_dev(NIC)->override, "vfio-pci");
	fixture_free(f);
}

/* ---- the guarded seam --------------------------------------------------- */

static void test_guard_refuses_outside_testbed(void **state)
{
	struct op_error err = { 0 };

	setenv("HOSTDEVD_REQUIRE_MOCK", "1", 1);
	unsetenv("UMOCKDEV_DIR");
	assert_int_equal(sysfs_guard_check(), -EPERM);
	assert_int_equal(sysfs_write("drivers_probe", "/sys/bus/pci/drivers_probe", "0000:77:00.0",
				     &err),
			 -EPERM);
	assert_int_equal(err.err, EPERM);
	assert_string_equal(err.step, "drivers_probe");
	assert_string_equal(err.path, "/sys/bus/pci/drivers_probe");
	/* The variable alone proves nothing: the marker must be visible. */
	setenv("UMOCKDEV_DIR", "/nonexistent-testbed", 1);
	assert_int_equal(sysfs_guard_check(), -EPERM);
	assert_int_equal(sysfs_write("unbind", "/sys/bus/pci/drivers/e1000e/unbind",
				     "0000:77:00.0", &err),
			 -EPERM);
	assert_int_equal(sysfs_module_load("vfio-pci", &err), -ENOENT);
	assert_string_equal(err.step, "load_module");
	assert_non_null(strstr(err.message, "module vfio-pci is not loaded"));
	/* Not a sysfs path at all: refused whatever the environment. */
	assert_int_equal(sysfs_write("x", "/tmp/hostdevd-not-sysfs", "1", &err), -EINVAL);
	assert_int_equal(sysfs_module_load_attempts(), 0);
	unsetenv("UMOCKDEV_DIR");
}

/* The engine with the real seam under the guard: whatever it tries is
 * refused (the stub is absent -> no module load; present -> EPERM), the
 * device is not left detaching, and no module load is ever attempted. */
static void test_engine_real_seam_guarded(void **state)
{
	struct fixture *f;
	struct outcome o;

	setenv("HOSTDEVD_REQUIRE_MOCK", "1", 1);
	unsetenv("UMOCKDEV_DIR");
	f = fixture_new_with(5000, NULL);
	add_pci(f, "0000:77:00.0", 0x020000, "e1000e");
	run_detach(f, "0000:77:00.0", "vfio-pci", &o);
	assert_int_equal(o.status, HDE_OPERATION_FAILED);
	if (streq(o.step, "load_module"))
		assert_int_equal(o.err, ENOENT);
	else
		assert_true(streq(o.step, "driver_override") && o.err == EPERM);
	assert_int_not_equal(dev(f, "0000:77:00.0")->state, DEV_DETACHING);
	assert_int_equal(sysfs_module_load_attempts(), 0);
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detach_and_reattach),
		cmocka_unit_test(test_already_on_stub),
		cmocka_unit_test(test_stub_module_loaded),
		cmocka_unit_test(test_stub_module_of_pciback),
		cmocka_unit_test(test_variant_module_loaded),
		cmocka_unit_test(test_variant_named_by_module_not_loaded),
		cmocka_unit_test(test_unknown_driver_refused),
		cmocka_unit_test(test_variant_module_registers_nothing),
		cmocka_unit_test(test_stub_module_fails),
		cmocka_unit_test(test_detach_step_failures),
		cmocka_unit_test(test_confirm_timeout),
		cmocka_unit_test(test_confirm_by_bind_event),
		cmocka_unit_test(test_removed_while_waiting),
		cmocka_unit_test(test_blocked_step_times_out),
		cmocka_unit_test(test_device_busy),
		cmocka_unit_test(test_host_critical),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_reattach_without_original),
		cmocka_unit_test(test_reattach_rollback),
		cmocka_unit_test(test_repair_to_host),
		cmocka_unit_test(test_repair_to_pool),
		cmocka_unit_test(test_error_left_by_a_bind),
		cmocka_unit_test(test_reattach_of_a_driverless_host_device),
		cmocka_unit_test(test_no_iommu),
		cmocka_unit_test(test_guard_refuses_outside_testbed),
		cmocka_unit_test(test_engine_real_seam_guarded),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_reset_refusals),
		cmocka_unit_test(test_reset_fails),
		cmocka_unit_test(test_reset_stuck),
		cmocka_unit_test(test_usb_unbind_and_bind),
		cmocka_unit_test(test_usb_unbind_fails),
		cmocka_unit_test(test_usb_unbind_undo_fails),
		cmocka_unit_test(test_usb_bind_fails),
		cmocka_unit_test(test_usb_unbind_stuck),
		cmocka_unit_test(test_usb_refusals),
	};

	log_set_level(getenv("TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	pthread_mutex_init(&fk.lock, NULL);
	pthread_cond_init(&fk.cond, NULL);
	fk.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fk.wake_fd < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
