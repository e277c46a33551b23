/* The monitor in-process on the mock machine: the table it keeps equals
 * sysfs after enumeration, after events that arrived while it enumerated,
 * and after an overflow that lost events (simulated through its `receive`
 * seam, since umockdev cannot overflow a socket). */
#include "tests/integration/itest.h"
#include "tests/integration/testbed.h"
#include "monitor/monitor.h"
#include "state/devtable.h"
#include "common/util.h"

#include <errno.h>
#include <event2/event.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <libudev.h>
#include <stdio.h>
#include <string.h>

#define MAX_HEARD 64

struct heard {
	enum dev_event ev;
	char id[32];
	char detail[32];
};

struct fixture {
	struct testbed *tb;
	struct event_base *base;
	struct devtable *table;
	struct monitor *mon;
	struct heard heard[MAX_HEARD];
	size_t n_heard;
	int overflows_to_inject;
	bool starve_after_receive; /* use up every descriptor once an event is in */
	int *hoard;                /* the descriptors used up */
	size_t n_hoard;
	struct rlimit saved_nofile;
	bool hoard_failed;
	int resync_callbacks;
	void (*during_startup)(struct fixture *f);
};

static void on_event(enum dev_event ev, const struct device *dev, const char *detail, void *ctx)
{
	struct fixture *f = ctx;
	struct heard *h;

	assert_true(f->n_heard < MAX_HEARD);
	h = &f->heard[f->n_heard++];
	h->ev = ev;
	snprintf(h->id, sizeof(h->id), "%s", dev->id);
	snprintf(h->detail, sizeof(h->detail), "%s", detail ? detail : "");
}

/* Uses up the process's descriptors, as a flood of connections would the
 * daemon's; a lower soft limit keeps the count small.  Only in a child
 * process (test_out_of_descriptors_is_not_gone): umockdev's own thread in
 * the test process accepts connections and aborts on EMFILE. */
static bool hoard_descriptors(struct fixture *f)
{
	struct rlimit rl;
	int fd;

	if (getrlimit(RLIMIT_NOFILE, &f->saved_nofile) < 0)
		return false;
	rl = f->saved_nofile;
	rl.rlim_cur = 1024;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return false;
	f->hoard = xcalloc(1024, sizeof(*f->hoard));
	while ((fd = dup(2)) >= 0)
		f->hoard[f->n_hoard++] = fd;
	return errno == EMFILE;
}

static void release_descriptors(struct fixture *f)
{
	for (size_t i = 0; i < f->n_hoard; i++)
		close(f->hoard[i]);
	free(f->hoard);
	f->hoard = NULL;
	f->n_hoard = 0;
	setrlimit(RLIMIT_NOFILE, &f->saved_nofile);
}

static struct udev_device *hook_receive(struct udev_monitor *mon, void *ctx)
{
	struct fixture *f = ctx;
	struct udev_device *ud;

	if (f->overflows_to_inject > 0) {
		f->overflows_to_inject--;
		errno = ENOBUFS;
		return NULL;
	}
	ud = udev_monitor_receive_device(mon);
	if (ud && f->starve_after_receive) {
		f->starve_after_receive = false;
		if (!hoard_descriptors(f))
			f->hoard_failed = true;
	}
	return ud;
}

static void hook_after_enumerate(void *ctx)
{
	struct fixture *f = ctx;

	if (f->during_startup)
		f->during_startup(f);
}

static void on_resync(void *ctx)
{
	struct fixture *f = ctx;

	f->resync_callbacks++;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->tb = tb_new();
	tb_build_standard(f->tb);
	f->base = event_base_new();
	f->table = devtable_new();
	devtable_subscribe(f->table, on_event, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	/* A failed setup leaves no fixture. */
	if (!f)
		return 0;
	monitor_free(f->mon);
	devtable_free(f->table);
	event_base_free(f->base);
	tb_free(f->tb);
	free(f);
	return 0;
}

static void start(struct fixture *f, enum monitor_source source)
{
	struct monitor_hooks hooks = {
		.receive = hook_receive,
		.after_enumerate = hook_after_enumerate,
		.ctx = f,
	};

	f->mon = monitor_new(f->base, f->table, source, &hooks);
	monitor_set_resync_callback(f->mon, on_resync, f);
	assert_int_equal(monitor_start(f->mon), 0);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

/* Runs the loop until cond() holds; fails at the deadline.  EVLOOP_ONCE
 * blocks until something is ready (an event, or the deadline's timer), so
 * this neither sleeps nor spins. */
static void run_until(struct fixture *f, bool (*cond)(struct fixture *f), const char *what)
{
	bool expired = false;
	struct timeval tv = { .tv_sec = IT_TIMEOUT_MS / 1000 };
	struct event *deadline = evtimer_new(f->base, on_deadline, &expired);

	evtimer_add(deadline, &tv);
	while (!cond(f) && !expired)
		assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
	event_free(deadline);
	if (!cond(f))
		fail_msg("timed out waiting for %s", what);
}

/* ---- the truth ---------------------------------------------------------- */

static void assert_ifaces_match(struct testbed *tb, const struct device *dev)
{
	size_t n;
	const char **ids = tb_interfaces(tb, dev->id, &n);

	for (size_t i = 0; i < n || i < dev->usb.n_ifaces; i++) {
		const struct usb_iface *ifc = &dev->usb.ifaces[i];

		if (i >= n || i >= dev->usb.n_ifaces || !streq(ifc->id, ids[i]))
			fail_msg("%s: interface %zu is %s in the table, %s in sysfs", dev->id, i,
				 i < dev->usb.n_ifaces ? ifc->id : "missing",
				 i < n ? ids[i] : "missing");
		if (!streq(ifc->driver, tb_driver(tb, ifc->id)))
			fail_msg("%s: driver %s, sysfs says %s", ifc->id, ifc->driver,
				 tb_driver(tb, ifc->id));
	}
	free(ids);
}

/* The table holds exactly the present devices, each with the driver sysfs
 * shows, and every record equals a fresh read of sysfs. */
static void assert_table_is_truth(struct fixture *f)
{
	struct event_base *base = event_base_new();
	struct devtable *fresh = devtable_new();
	struct monitor *m = monitor_new(base, fresh, MONITOR_SOURCE_UDEV, NULL);
	struct device **devs;
	size_t n_model, n = devtable_sorted(f->table, &devs);
	const char **ids = tb_present_ids(f->tb, &n_model);

	assert_int_equal(monitor_start(m), 0);
	for (size_t i = 0; i < n_model || i < n; i++) {
		if (i >= n || i >= n_model || !streq(devs[i]->id, ids[i]))
			fail_msg("device %zu: table has %s, sysfs has %s", i,
				 i < n ? devs[i]->id : "nothing", i < n_model ? ids[i] : "nothing");
		if (!streq(devs[i]->driver, tb_driver(f->tb, ids[i])))
			fail_msg("%s: driver %s, sysfs says %s", ids[i], devs[i]->driver,
				 tb_driver(f->tb, ids[i]));
		assert_string_equal(devs[i]->syspath, tb_syspath(f->tb, ids[i]));
		if (devs[i]->bus == HD_BUS_USB)
			assert_ifaces_match(f->tb, devs[i]);
		if (device_update_from(devs[i], devtable_get(fresh, ids[i])))
			fail_msg("%s: the record differs from a fresh read of sysfs", ids[i]);
		assert_int_equal(devs[i]->state, devtable_get(fresh, ids[i])->state);
	}
	free(devs);
	free(ids);
	monitor_free(m);
	devtable_free(fresh);
	event_base_free(base);
}

static bool heard(const struct fixture *f, enum dev_event ev, const char *id, const char *detail)
{
	for (size_t i = 0; i < f->n_heard; i++)
		if (f->heard[i].ev == ev && streq(f->heard[i].id, id) &&
		    streq(f->heard[i].detail, detail ? detail : ""))
			return true;
	return false;
}

/* ---- tests -------------------------------------------------------------- */

static void test_enumeration_is_the_truth(void **state)
{
	struct fixture *f = *state;
	struct monitor_stats st;

	start(f, MONITOR_SOURCE_UDEV);
	assert_int_equal(devtable_count(f->table), 26);
	assert_int_equal(devtable_count_bus(f->table, HD_BUS_PCI), 20);
	assert_int_equal(devtable_count_bus(f->table, HD_BUS_USB), 6);
	assert_int_equal(devtable_count_state(f->table, DEV_DETACHED), 1);
	assert_int_equal(devtable_get(f->table, "0000:06:10.2")->state, DEV_DETACHED);
	assert_table_is_truth(f);
	/* Every device was announced once, as an add. */
	assert_int_equal(f->n_heard, 26);
	assert_true(heard(f, DEV_EVENT_ADD, "1-2.3", NULL));
	monitor_get_stats(f->mon, &st);
	assert_int_equal(st.source, MONITOR_SOURCE_UDEV);
	assert_int_equal(st.events_received, 0);
	assert_int_equal(st.overflows, 0);
}

/* Changes made after the enumeration read sysfs but before the loop first
 * reads the socket: a plug (4 uevents) and an unplug (2). */
static void change_during_startup(struct fixture *f)
{
	assert_non_null(devtable_get(f->table, "0000:03:00.0"));
	assert_null(devtable_get(f->table, "1-2.4"));
	tb_plug(f->tb, "1-2.4");
	tb_unplug(f->tb, "0000:03:00.0");
}

static bool startup_changes_applied(struct fixture *f)
{
	struct monitor_stats st;

	monitor_get_stats(f->mon, &st);
	return st.events_received == 6;
}

static void test_events_during_enumeration_are_not_lost(void **state)
{
	struct fixture *f = *state;
	struct device *d;

	f->during_startup = change_during_startup;
	start(f, MONITOR_SOURCE_UDEV);
	f->n_heard = 0;
	run_until(f, startup_changes_applied, "the 6 uevents sent during start-up");
	assert_null(devtable_get(f->table, "0000:03:00.0"));
	d = devtable_get(f->table, "1-2.4");
	assert_non_null(d);
	assert_string_equal(d->driver, "usb");
	assert_int_equal(d->usb.n_ifaces, 1);
	assert_string_equal(d->usb.ifaces[0].driver, "usb-storage");
	assert_table_is_truth(f);
	/* By the time the monitor reads the first uevent sysfs holds the end
	 * state, so the add already carries the bound interface; the later
	 * uevents change nothing and are not reported again. */
	assert_int_equal(f->n_heard, 2);
	assert_true(heard(f, DEV_EVENT_ADD, "1-2.4", NULL));
	assert_true(heard(f, DEV_EVENT_REMOVE, "0000:03:00.0", NULL));
}

static bool resynced(struct fixture *f)
{
	struct monitor_stats st;

	monitor_get_stats(f->mon, &st);
	return st.resyncs == 1 && st.events_received == 1;
}

/* Sysfs changes while the monitor hears nothing, then the socket overflows:
 * the monitor must re-read everything rather than trust its table. */
static void test_overflow_leads_to_resync(void **state)
{
	struct fixture *f = *state;
	struct monitor_stats st;

	start(f, MONITOR_SOURCE_UDEV);
	tb_set_muted(f->tb, true);
	tb_unplug(f->tb, "0000:05:02.0");
	tb_plug(f->tb, "1-2.4");
	tb_unbind(f->tb, "0000:02:00.0");
	tb_bind(f->tb, "0000:02:00.0", "vfio-pci");
	tb_unbind(f->tb, "1-2.1:1.0");
	tb_set_muted(f->tb, false);
	f->overflows_to_inject = 1;
	f->n_heard = 0;
	/* Something to read, so the monitor meets the overflow. */
	tb_uevent(f->tb, "0000:00:17.0", "change");
	run_until(f, resynced, "the resync after the overflow");
	monitor_get_stats(f->mon, &st);
	assert_int_equal(st.overflows, 1);
	assert_int_equal(st.resyncs, 1);
	assert_int_equal(f->resync_callbacks, 1);
	assert_table_is_truth(f);
	assert_null(devtable_get(f->table, "0000:05:02.0"));
	assert_int_equal(devtable_group_size(f->table, 10), 3);
	assert_int_equal(devtable_get(f->table, "0000:02:00.0")->state, DEV_DETACHED);
	assert_true(heard(f, DEV_EVENT_REMOVE, "0000:05:02.0", NULL));
	assert_non_null(devtable_get(f->table, "1-2.4"));
	assert_null(devtable_get(f->table, "1-2.1")->usb.ifaces[0].driver);
}

static bool starved_twice(struct fixture *f)
{
	struct monitor_stats st;

	monitor_get_stats(f->mon, &st);
	return st.starvations >= 2;
}

static bool stick_filed(struct fixture *f)
{
	return devtable_get(f->table, "1-2.4") != NULL;
}

/* Runs the loop until cond() holds or the deadline passes, without cmocka:
 * for the child process below, where a failed assertion would return into
 * cmocka's runner in the child. */
static bool child_run_until(struct fixture *f, bool (*cond)(struct fixture *f))
{
	bool expired = false;
	struct timeval tv = { .tv_sec = IT_TIMEOUT_MS / 1000 };
	struct event *deadline = evtimer_new(f->base, on_deadline, &expired);

	evtimer_add(deadline, &tv);
	while (!cond(f) && !expired && event_base_loop(f->base, EVLOOP_ONCE) >= 0)
		;
	event_free(deadline);
	return cond(f);
}

#define CHILD_CHECK(cond)                                                                  \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "child: %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
			return 1;                                                          \
		}                                                                          \
	} while (0)

/* The child's half: its own monitor and table; tells the parent when it
 * listens, then reads the plug's uevent with every descriptor in use. */
static int starved_monitor(struct testbed *tb, int ready_fd)
{
	struct fixture c = { .tb = tb };
	struct monitor_hooks hooks = { .receive = hook_receive, .ctx = &c };
	struct monitor_stats st;

	c.base = event_base_new();
	c.table = devtable_new();
	devtable_subscribe(c.table, on_event, &c);
	c.mon = monitor_new(c.base, c.table, MONITOR_SOURCE_UDEV, &hooks);
	CHILD_CHECK(monitor_start(c.mon) == 0);
	CHILD_CHECK(devtable_count(c.table) == 26);
	c.n_heard = 0;
	c.starve_after_receive = true;
	CHILD_CHECK(write(ready_fd, "r", 1) == 1);
	/* The event's read fails, and so does the first re-read. */
	CHILD_CHECK(child_run_until(&c, starved_twice));
	CHILD_CHECK(!c.hoard_failed);
	CHILD_CHECK(devtable_get(c.table, "1-2.4") == NULL);
	CHILD_CHECK(devtable_count(c.table) == 26);
	CHILD_CHECK(c.n_heard == 0);
	release_descriptors(&c);
	CHILD_CHECK(child_run_until(&c, stick_filed));
	CHILD_CHECK(heard(&c, DEV_EVENT_ADD, "1-2.4", NULL));
	CHILD_CHECK(c.n_heard == 1);
	CHILD_CHECK(devtable_get(c.table, "1-2.4")->usb.n_ifaces == 1);
	monitor_get_stats(c.mon, &st);
	CHILD_CHECK(st.resyncs == 1);
	return 0;
}

/* A device plugged while the daemon has no descriptor left (a flood of
 * connections): its record cannot be read.  That is not "gone": the
 * monitor re-reads sysfs once descriptors are back, the device is filed
 * and announced as an add (what a policy acts on), and a re-read that is
 * itself starved removes nothing.  The monitor runs in a child, whose
 * descriptors alone run out. */
static void test_out_of_descriptors_is_not_gone(void **state)
{
	struct fixture *f = *state;
	int pipefd[2], status;
	char ready;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pipefd[0]);
		_exit(starved_monitor(f->tb, pipefd[1]));
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &ready, 1), 1);
	close(pipefd[0]);
	tb_set_muted(f->tb, true);
	tb_plug(f->tb, "1-2.4");
	tb_set_muted(f->tb, false);
	tb_uevent(f->tb, "1-2.4", "add");
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Without udevd the monitor listens to the kernel's own events. */
static bool vf_unbound(struct fixture *f)
{
	return devtable_get(f->table, "0000:06:10.2")->driver == NULL;
}

static void test_kernel_source(void **state)
{
	struct fixture *f = *state;
	struct monitor_stats st;
	struct device *d;

	start(f, MONITOR_SOURCE_KERNEL);
	monitor_get_stats(f->mon, &st);
	assert_int_equal(st.source, MONITOR_SOURCE_KERNEL);
	f->n_heard = 0;
	tb_unbind(f->tb, "0000:06:10.2");
	run_until(f, vf_unbound, "the unbind of 0000:06:10.2");
	d = devtable_get(f->table, "0000:06:10.2");
	assert_int_equal(d->state, DEV_HOST);
	assert_int_equal(f->n_heard, 1);
	assert_true(heard(f, DEV_EVENT_UNBIND, "0000:06:10.2", NULL));
	assert_table_is_truth(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enumeration_is_the_truth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_during_enumeration_are_not_lost, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_overflow_leads_to_resync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_descriptors_is_not_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_source, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
