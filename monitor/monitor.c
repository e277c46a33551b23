#include "monitor/monitor.h"
#include "state/bus.h"
#include "monitor/record.h"
#include "common/log.h"
#include "common/sysdir.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <event2/event.h>
#include <libudev.h>
#include <string.h>
#include <unistd.h>

/* Large enough to ride out a burst of thousands of uevents (a PCI rescan, a
 * hub with many devices) while the loop is busy; udevd uses 128 MiB. */
#define MONITOR_RCVBUF (64 * 1024 * 1024)

struct monitor {
	struct event_base *base;
	struct devtable *table;
	enum monitor_source requested;
	struct monitor_hooks hooks;
	struct udev *udev;
	struct udev_monitor *mon;
	struct event *ev;
	struct event *retry_ev; /* re-reads sysfs once descriptors return */
	unsigned retry_ms;      /* 0: not starved */
	struct monitor_stats stats;
	void (*resync_cb)(void *ctx);
	void *resync_ctx;
};

static const char *const source_names[] = {
	[MONITOR_SOURCE_AUTO] = "auto",
	[MONITOR_SOURCE_UDEV] = "udev",
	[MONITOR_SOURCE_KERNEL] = "kernel",
};

int monitor_source_from_name(const char *name)
{
	return name_index(source_names, ARRAY_SIZE(source_names), name);
}

const char *monitor_source_name(enum monitor_source src)
{
	return src < ARRAY_SIZE(source_names) ? source_names[src] : "invalid";
}

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static void on_retry(evutil_socket_t fd, short what, void *arg);

struct monitor *monitor_new(struct event_base *base, struct devtable *table,
			    enum monitor_source source, const struct monitor_hooks *hooks)
{
	struct monitor *m = xcalloc(1, sizeof(*m));

	m->base = base;
	m->table = table;
	m->requested = source;
	if (hooks)
		m->hooks = *hooks;
	m->retry_ev = evtimer_new(base, on_retry, m);
	if (!m->retry_ev)
		fatal("out of memory");
	return m;
}

void monitor_free(struct monitor *m)
{
	if (!m)
		return;
	if (m->ev)
		event_free(m->ev);
	if (m->retry_ev)
		event_free(m->retry_ev);
	if (m->mon)
		udev_monitor_unref(m->mon);
	if (m->udev)
		udev_unref(m->udev);
	free(m);
}

void monitor_set_resync_callback(struct monitor *m, void (*fn)(void *ctx), void *ctx)
{
	m->resync_cb = fn;
	m->resync_ctx = ctx;
}

void monitor_get_stats(const struct monitor *m, struct monitor_stats *out)
{
	*out = m->stats;
}

/* udevd creates its control socket at start; libudev's "udev" monitor hears
 * nothing while udevd is not running, so then the kernel's events are used. */
static enum monitor_source pick_source(enum monitor_source requested)
{
	if (requested != MONITOR_SOURCE_AUTO)
		return requested;
	return access("/run/udev/control", F_OK) == 0 ? MONITOR_SOURCE_UDEV
						      : MONITOR_SOURCE_KERNEL;
}

static void starved(struct monitor *m, const char *what);

/* Rebuilds the record of the device a uevent concerns and files it. */
static void apply_device(struct monitor *m, struct udev_device *ud, enum dev_event ev,
			 const char *detail)
{
	unsigned long mark = sysdir_starvations();
	struct device *rec = record_from_udev(ud);

	if (sysdir_starvations() != mark) {
		/* Some read failed for want of a descriptor: the record may lack
		 * what the device has (or the device may look gone).  File
		 * nothing; the re-read files the truth. */
		if (rec)
			device_free(rec);
		starved(m, udev_device_get_sysname(ud));
		return;
	}
	if (!rec) {
		/* Gone before we could read it: its remove event follows. */
		log_dev_debug(udev_device_get_sysname(ud), "%s for a device no longer in sysfs",
			      dev_event_name(ev));
		return;
	}
	devtable_upsert(m->table, rec, ev, detail);
}

static void apply_child(struct monitor *m, struct udev_device *ud, const struct bus_desc *b,
			enum dev_event ev)
{
	const char *sysname = udev_device_get_sysname(ud);
	struct udev_device *parent =
		udev_device_get_parent_with_subsystem_devtype(ud, b->subsystem, b->devtype);

	/* A child (a USB interface) is part of its device: re-read the device,
	 * which lists its children as sysfs has them now. */
	if (!parent || !devtable_get(m->table, udev_device_get_sysname(parent))) {
		log_dev_debug(sysname, "%s for an interface of an unknown device", dev_event_name(ev));
		return;
	}
	apply_device(m, parent, ev, sysname);
}

/* A bind or unbind of a known device, on a bus where that changes only its
 * binding (PCI): only that is read (two sysfs reads instead of a dozen). */
static bool apply_binding(struct monitor *m, struct udev_device *ud, enum dev_event ev)
{
	const char *id = record_id_from_sysname(udev_device_get_sysname(ud));
	_cleanup_free_ char *driver = NULL, *override = NULL;
	unsigned long mark = sysdir_starvations();
	bool read;

	if (!devtable_get(m->table, id))
		return false;
	read = record_read_binding(udev_device_get_syspath(ud), &driver, &override);
	if (sysdir_starvations() != mark) {
		starved(m, id);
		return true;
	}
	if (!read) {
		log_dev_debug(id, "%s for a device no longer in sysfs", dev_event_name(ev));
		return true;
	}
	return devtable_update_binding(m->table, id, driver, override, ev);
}

/* The whole pipeline for one uevent.  Returns true if it concerned us. */
static bool apply_uevent(struct monitor *m, struct udev_device *ud)
{
	int ev = dev_event_from_action(udev_device_get_action(ud));
	enum hd_bus bus;
	enum record_kind kind = record_classify(ud, &bus);
	const char *sysname = udev_device_get_sysname(ud);

	if (ev < 0 || kind == RECORD_IGNORE || !sysname)
		return false;
	if (kind == RECORD_CHILD) {
		apply_child(m, ud, bus_desc(bus), (enum dev_event)ev);
		return true;
	}
	if (ev == DEV_EVENT_REMOVE) {
		devtable_remove(m->table, record_id_from_sysname(sysname));
		return true;
	}
	if ((ev == DEV_EVENT_BIND || ev == DEV_EVENT_UNBIND) && bus_desc(bus)->binding_events &&
	    apply_binding(m, ud, (enum dev_event)ev))
		return true;
	if (ev == DEV_EVENT_MOVE) {
		/* A rename changes the id: the old one is gone. */
		const char *old = udev_device_get_property_value(ud, "DEVPATH_OLD");
		const char *old_name = old ? strrchr(old, '/') : NULL;

		if (old_name && !streq(old_name + 1, sysname))
			devtable_remove(m->table, record_id_from_sysname(old_name + 1));
	}
	apply_device(m, ud, (enum dev_event)ev, NULL);
	return true;
}

/* Lists one bus's devices from /sys/bus/<bus>/devices and files each record.
 * Read directly rather than through udev_enumerate, which builds a udev
 * device object per entry that we would not use: the bus is known from the
 * directory, and a child's name (a USB interface's, with ':') comes with
 * its device's record. */
static int enumerate_bus(struct monitor *m, enum hd_bus bus, enum dev_event ev)
{
	const struct bus_desc *b = bus_desc(bus);
	char dir[64];
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "/sys/bus/%s/devices", b->subsystem);
	d = opendir(dir);
	if (!d) {
		sysdir_note_errno(errno);
		/* A machine without USB has no /sys/bus/usb at all. */
		return errno == ENOENT ? 0 : -errno;
	}
	while ((de = readdir(d))) {
		char target[PATH_MAX], syspath[PATH_MAX];
		struct device *rec;
		ssize_t n;

		if (de->d_name[0] == '.' || (b->child_sep && strchr(de->d_name, b->child_sep)))
			continue;
		n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (!path_fold(dir, target, syspath, sizeof(syspath)))
			continue;
		rec = record_build(bus, syspath);
		if (rec)
			devtable_upsert(m->table, rec, ev, NULL);
	}
	return 0;
}

/* Reads every device of every bus from sysfs into the table,
 * removing what is no longer there. */
static int enumerate(struct monitor *m, enum dev_event ev)
{
	uint64_t start = now_ns();
	unsigned long mark = sysdir_starvations();
	int r = 0;

	devtable_resync_begin(m->table);
	for (int bus = 0; r == 0 && bus < HD_BUS__COUNT; bus++)
		r = enumerate_bus(m, (enum hd_bus)bus, ev);
	/* A device that could not be read for want of a descriptor is not
	 * gone: such a pass proves nothing about what is missing. */
	if (r == 0 && sysdir_starvations() != mark)
		r = -EMFILE;
	/* A failed listing must not be read as "every device is gone". */
	if (r < 0) {
		devtable_resync_abort(m->table);
		return r;
	}
	devtable_resync_end(m->table);
	m->stats.enumerate_ns = now_ns() - start;
	return 0;
}

static int resync(struct monitor *m)
{
	int r = enumerate(m, DEV_EVENT_CHANGE);

	if (r < 0)
		return r;
	m->stats.resyncs++;
	if (m->resync_cb)
		m->resync_cb(m->resync_ctx);
	return 0;
}

/* A read failed for want of descriptors or memory, or an event was lost
 * for that reason: the table may be stale, and a device that appeared may
 * have an action (policy) waiting on it.  Re-read all of sysfs once
 * resources return, trying at growing intervals meanwhile; the device
 * that appeared is then filed (and announced) as an add. */
static void starved(struct monitor *m, const char *what)
{
	struct timeval tv;

	m->stats.starvations++;
	if (m->retry_ms && evtimer_pending(m->retry_ev, NULL))
		return;
	if (!m->retry_ms)
		log_warn("%s: cannot read sysfs: out of descriptors or memory; sysfs is read again "
			 "once they are back",
			 what ? what : "uevent");
	/* Out of descriptors: re-read at doubling intervals (common/util.h),
	 * until one reads everything. */
	m->retry_ms = starved_retry_next(m->retry_ms);
	tv = (struct timeval){ .tv_sec = m->retry_ms / 1000,
			       .tv_usec = (m->retry_ms % 1000) * 1000 };
	evtimer_add(m->retry_ev, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct monitor *m = arg;
	int r = resync(m);

	if (err_is_starvation(-r)) {
		starved(m, NULL);
		return;
	}
	if (r < 0) {
		log_error("re-reading sysfs failed: %s", strerror(-r));
		return;
	}
	log_info("descriptors are back: sysfs read again (%zu devices)", devtable_count(m->table));
	m->retry_ms = 0;
}

int monitor_resync(struct monitor *m)
{
	int r;

	log_warn("re-reading sysfs: uevents were lost");
	r = resync(m);
	if (err_is_starvation(-r)) {
		starved(m, NULL);
		return r;
	}
	if (r < 0)
		log_error("resync failed: %s", strerror(-r));
	return r;
}

static struct udev_device *receive(struct monitor *m)
{
	if (m->hooks.receive)
		return m->hooks.receive(m->mon, m->hooks.ctx);
	return udev_monitor_receive_device(m->mon);
}

/* One uevent per wake-up.  The socket stays readable while more are
 * queued, so the loop comes straight back, but between two uevents it runs
 * what waits at a higher priority (the worker pool's kernel answers, which
 * a client's Claim is waiting for: issue 15 measured a claim's reply held
 * ~8 ms behind the bind and unbind uevents its own writes caused) and takes
 * turns with socket clients, so that a burst starves neither.  For the same
 * reason an interrupted or failed receive is not retried here: the next
 * turn reads again. */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct monitor *m = arg;
	struct udev_device *ud;

	errno = 0;
	ud = receive(m);
	if (!ud) {
		if (errno == ENOBUFS) {
			/* The kernel dropped events: the table cannot be trusted. */
			m->stats.overflows++;
			monitor_resync(m);
		} else if (err_is_starvation(errno)) {
			/* The event is lost, not merely unread. */
			starved(m, NULL);
		} else if (errno && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			log_debug("uevent receive: %s", strerror(errno));
		}
		return;
	}
	m->stats.events_received++;
	if (apply_uevent(m, ud))
		m->stats.events_applied++;
	udev_device_unref(ud);
}

static int subscribe(struct monitor *m)
{
	const char *name = m->stats.source == MONITOR_SOURCE_UDEV ? "udev" : "kernel";
	int r;

	m->mon = udev_monitor_new_from_netlink(m->udev, name);
	if (!m->mon)
		return errno ? -errno : -ENOMEM;
	for (int bus = 0; bus < HD_BUS__COUNT; bus++) {
		r = udev_monitor_filter_add_match_subsystem_devtype(
			m->mon, bus_desc((enum hd_bus)bus)->subsystem, NULL);
		if (r < 0)
			return r;
	}
	/* Best effort: needs CAP_NET_ADMIN to exceed rmem_max. */
	if (udev_monitor_set_receive_buffer_size(m->mon, MONITOR_RCVBUF) < 0)
		log_debug("could not raise the uevent receive buffer");
	return udev_monitor_enable_receiving(m->mon);
}

/* "10 devices (8 PCI, 2 USB) read in 1.2 ms; listening to udev uevents" */
static void log_ready(const struct monitor *m)
{
	char counts[256] = "";
	size_t len = 0;

	for (int bus = 0; bus < HD_BUS__COUNT && len < sizeof(counts); bus++)
		len += (size_t)snprintf(counts + len, sizeof(counts) - len, "%s%zu %s",
					bus ? ", " : "",
					devtable_count_bus(m->table, (enum hd_bus)bus),
					bus_desc((enum hd_bus)bus)->label);
	log_info("%zu devices (%s) read in %.1f ms; listening to %s uevents",
		 devtable_count(m->table), counts, m->stats.enumerate_ns / 1e6,
		 monitor_source_name(m->stats.source));
}

int monitor_start(struct monitor *m)
{
	int r;

	m->udev = udev_new();
	if (!m->udev)
		return -ENOMEM;
	m->stats.source = pick_source(m->requested);
	/* Subscribe before enumerating: whatever changes meanwhile waits in the
	 * socket and is applied after the enumeration. */
	r = subscribe(m);
	if (r < 0) {
		log_error("cannot subscribe to %s uevents: %s",
			  monitor_source_name(m->stats.source), strerror(-r));
		return r;
	}
	r = enumerate(m, DEV_EVENT_ADD);
	if (r < 0) {
		log_error("cannot enumerate devices: %s", strerror(-r));
		return r;
	}
	log_ready(m);
	if (m->hooks.after_enumerate)
		m->hooks.after_enumerate(m->hooks.ctx);
	m->ev = event_new(m->base, udev_monitor_get_fd(m->mon), EV_READ | EV_PERSIST, on_readable,
			  m);
	if (!m->ev || event_add(m->ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}
