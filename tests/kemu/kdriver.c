#include "tests/kemu/kdriver.h"
#include "tests/kemu/kfs.h"
#include "tests/kemu/kstate.h"
#include "tests/kemu/kuevent.h"
#include "common/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* vfio's group nodes get a dynamic major; any unused one does here. */
#define VFIO_GROUP_MAJOR 243
/* A sysfs store sees at most a page. */
#define PAGE_LEN 4096

struct kdev {
	const char *root;
	char devpath[PATH_MAX]; /* relative to sysfs */
	char dir[PATH_MAX];     /* its real path in the testbed */
	char id[NAME_MAX + 1];
	char bus[32];
};

static bool valid_name(const char *s)
{
	return *s && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..");
}

static int dev_from_devpath(const char *root, const char *devpath, struct kdev *d)
{
	const char *slash = strrchr(devpath, '/');
	char path[PATH_MAX];

	d->root = root;
	if (kfs_path(d->devpath, "%s", devpath) < 0 ||
	    kfs_path(d->dir, "%s/sys/%s", root, devpath) < 0 || !kfs_is_dir(d->dir))
		return -ENODEV;
	snprintf(d->id, sizeof(d->id), "%s", slash ? slash + 1 : devpath);
	if (kfs_path(path, "%s/subsystem", d->dir) < 0 ||
	    kfs_link_name(path, d->bus, sizeof(d->bus)) < 0)
		return -ENODEV;
	return 0;
}

/* Resolves a link to a device directory (bus/<bus>/devices/<id>, virtfnN,
 * physfn) into the device. */
static int dev_from_link(const char *root, const char *link, struct kdev *d)
{
	char canon[PATH_MAX], sys[PATH_MAX];
	size_t n;

	if (kfs_canonical_dir(link, canon, sizeof(canon)) < 0 || kfs_path(sys, "%s/sys/", root) < 0)
		return -ENODEV;
	n = strlen(sys);
	if (strncmp(canon, sys, n) != 0)
		return -ENODEV;
	return dev_from_devpath(root, canon + n, d);
}

static int dev_from_id(const char *root, const char *bus, const char *id, struct kdev *d)
{
	char path[PATH_MAX];

	if (!valid_name(id) || kfs_path(path, "%s/sys/bus/%s/devices/%s", root, bus, id) < 0)
		return -ENODEV;
	return dev_from_link(root, path, d);
}

static int dev_driver(const struct kdev *d, char *buf, size_t len)
{
	char path[PATH_MAX];
	int r = kfs_path(path, "%s/driver", d->dir);

	return r < 0 ? r : kfs_link_name(path, buf, len);
}

static bool dev_attr(const struct kdev *d, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];

	return kfs_path(path, "%s/%s", d->dir, name) == 0 && kfs_read(path, buf, len) == 0;
}

static bool dev_override(const struct kdev *d, char *buf, size_t len)
{
	return streq(d->bus, "pci") && dev_attr(d, "driver_override", buf, len) && buf[0] &&
	       !streq(buf, "(null)");
}

/* ---- the uevent file and the events ------------------------------------ */

/* dev_uevent() puts these before DRIVER=, and the bus's own after it. */
static bool is_head_line(const char *line)
{
	static const char *const head[] = { "MAJOR=",  "MINOR=",  "DEVNAME=", "DEVMODE=",
					    "DEVUID=", "DEVGID=", "DEVTYPE=" };

	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		if (strncmp(line, head[i], strlen(head[i])) == 0)
			return true;
	return false;
}

struct text {
	char buf[PAGE_LEN + NAME_MAX + 16];
	size_t len;
};

static int text_line(struct text *t, const char *prefix, const char *value)
{
	int n = snprintf(t->buf + t->len, sizeof(t->buf) - t->len, "%s%s\n", prefix, value);

	if (n < 0 || (size_t)n >= sizeof(t->buf) - t->len)
		return -E2BIG;
	t->len += (size_t)n;
	return 0;
}

static int uevent_set_driver(const struct kdev *d, const char *driver)
{
	char path[PATH_MAX], old[PAGE_LEN], *save = NULL;
	struct text t = { .len = 0 };
	bool placed = false;
	int r = kfs_path(path, "%s/uevent", d->dir);

	if (r < 0 || (r = kfs_read(path, old, sizeof(old))) < 0)
		return r;
	for (char *line = strtok_r(old, "\n", &save);; line = strtok_r(NULL, "\n", &save)) {
		if (!placed && (!line || !is_head_line(line))) {
			if (driver && (r = text_line(&t, "DRIVER=", driver)) < 0)
				return r;
			placed = true;
		}
		if (!line)
			break;
		if (strncmp(line, "DRIVER=", 7) != 0 && (r = text_line(&t, "", line)) < 0)
			return r;
	}
	return kfs_write(path, t.buf, t.len, 0644);
}

struct props {
	char buf[PAGE_LEN];
	size_t len;
	char devtype[64];
};

/* The event carries what the uevent file holds now, one property a line. */
static void props_read(const struct kdev *d, struct props *p)
{
	const char *dt;

	p->len = 0;
	p->devtype[0] = '\0';
	if (!dev_attr(d, "uevent", p->buf, sizeof(p->buf)) || !p->buf[0])
		return;
	p->len = strlen(p->buf) + 1;
	for (size_t i = 0; i < p->len; i++)
		if (p->buf[i] == '\n')
			p->buf[i] = '\0';
	for (size_t off = 0; off < p->len; off += strlen(p->buf + off) + 1) {
		dt = p->buf + off;
		if (strncmp(dt, "DEVTYPE=", 8) == 0)
			snprintf(p->devtype, sizeof(p->devtype), "%s", dt + 8);
	}
}

/* A uevent that cannot be delivered leaves every monitor believing in a
 * sysfs that is gone: the test would fail later for a reason nobody could
 * find.  Stop here, loudly. */
static void send_or_die(const struct kdev *d, const char *action, const struct props *p)
{
	int r = kuevent_send(d->root, action, d->devpath, d->bus, p->devtype[0] ? p->devtype : NULL,
			     p->buf, p->len);

	if (r < 0) {
		fprintf(stderr, "kemu: cannot send the %s uevent of %s: %s\n", action, d->id,
			strerror(-r));
		abort();
	}
}

static void dev_event(const struct kdev *d, const char *action)
{
	struct props p;

	props_read(d, &p);
	send_or_die(d, action, &p);
}

/* ---- binding ------------------------------------------------------------ */

static void vfio_sync_dev(const struct kdev *d)
{
	char path[PATH_MAX], group[NAME_MAX + 1];

	if (streq(d->bus, "pci") && kfs_path(path, "%s/iommu_group", d->dir) == 0 &&
	    kfs_link_name(path, group, sizeof(group)) == 0)
		kdrv_vfio_sync(d->root, group);
}

static int bind_now(const struct kdev *d, const char *driver)
{
	char sys[PATH_MAX], drv[PATH_MAX];
	int r;

	if ((r = kfs_path(sys, "%s/sys", d->root)) < 0 ||
	    (r = kfs_path(drv, "bus/%s/drivers/%s", d->bus, driver)) < 0 ||
	    (r = kfs_put_link(sys, d->devpath, "driver", drv)) < 0 ||
	    (r = kfs_put_link(sys, drv, d->id, d->devpath)) < 0 ||
	    (r = uevent_set_driver(d, driver)) < 0)
		return r;
	/* The group's node exists before anyone hears of the bind. */
	vfio_sync_dev(d);
	dev_event(d, "bind");
	return 0;
}

static int unbind_now(const struct kdev *d, const char *driver)
{
	char path[PATH_MAX];
	int r;

	if ((r = kfs_path(path, "%s/driver", d->dir)) < 0 || (unlink(path) < 0 && errno != ENOENT))
		return r < 0 ? r : -errno;
	if ((r = kfs_path(path, "%s/sys/bus/%s/drivers/%s/%s", d->root, d->bus, driver,
			  d->id)) < 0 ||
	    (unlink(path) < 0 && errno != ENOENT))
		return r < 0 ? r : -errno;
	if ((r = uevent_set_driver(d, NULL)) < 0)
		return r;
	vfio_sync_dev(d);
	dev_event(d, "unbind");
	return 0;
}

static bool driver_loaded(const struct kdev *d, const char *driver)
{
	char path[PATH_MAX];

	return valid_name(driver) &&
	       kfs_path(path, "%s/sys/bus/%s/drivers/%s", d->root, d->bus, driver) == 0 &&
	       kfs_is_dir(path);
}

/* What pci_match_device() decides: an override names the one driver that
 * may bind; without one, the driver whose id table matches (the native). */
static bool probe_choice(const struct kdev *d, char *buf, size_t len)
{
	if (dev_override(d, buf, len))
		return true;
	return kstate_native(d->root, d->id, buf, len) == 0;
}

int kdrv_bind(const char *root, const char *bus, const char *driver, const char *id)
{
	char want[NAME_MAX + 1], cur[NAME_MAX + 1];
	struct kdev d;

	if (dev_from_id(root, bus, id, &d) < 0 || !probe_choice(&d, want, sizeof(want)) ||
	    !streq(want, driver))
		return -ENODEV;
	if (dev_driver(&d, cur, sizeof(cur)) == 0)
		return -EBUSY;
	if (kstate_never_bind(root, d.id, driver))
		return -ENODEV; /* probe() refused it */
	return bind_now(&d, driver);
}

int kdrv_unbind(const char *root, const char *bus, const char *driver, const char *id)
{
	char cur[NAME_MAX + 1];
	struct kdev d;

	if (dev_from_id(root, bus, id, &d) < 0 || dev_driver(&d, cur, sizeof(cur)) < 0 ||
	    !streq(cur, driver))
		return -ENODEV;
	return unbind_now(&d, driver);
}

/* Succeeds whether or not anything binds, as the kernel's does. */
int kdrv_drivers_probe(const char *root, const char *bus, const char *id)
{
	char want[NAME_MAX + 1], cur[NAME_MAX + 1];
	struct kdev d;

	if (dev_from_id(root, bus, id, &d) < 0)
		return -EINVAL;
	if (dev_driver(&d, cur, sizeof(cur)) == 0)
		return 0;
	if (!probe_choice(&d, want, sizeof(want)) || !driver_loaded(&d, want) ||
	    kstate_never_bind(root, d.id, want))
		return 0;
	return bind_now(&d, want);
}

int kdrv_driver_override(const char *root, const char *devpath, const char *buf, size_t len)
{
	char path[PATH_MAX], val[PAGE_LEN + 1];
	const char *nl;
	struct kdev d;
	size_t n;
	int r;

	if ((r = dev_from_devpath(root, devpath, &d)) < 0)
		return r;
	if (len >= PAGE_LEN - 1)
		return -EINVAL;
	n = strnlen(buf, len);
	nl = memchr(buf, '\n', n);
	if (nl)
		n = (size_t)(nl - buf);
	/* An empty value clears the override; reads then say "(null)". */
	if (n == 0)
		n = (size_t)snprintf(val, sizeof(val), "(null)\n");
	else
		n = (size_t)snprintf(val, sizeof(val), "%.*s\n", (int)n, buf);
	if ((r = kfs_path(path, "%s/driver_override", d.dir)) < 0)
		return r;
	return kfs_write(path, val, n, 0644);
}

/* ---- reset, remove, authorized ----------------------------------------- */

/* kstrtoul(): base 0, an optional '+', at most one trailing newline. */
static int parse_ulong(const char *buf, size_t len, unsigned long *out)
{
	char tmp[64], *end;
	const char *p = tmp;

	if (len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, buf, len);
	tmp[len] = '\0';
	if (tmp[len - 1] == '\n')
		tmp[len - 1] = '\0';
	if (*p == '+')
		p++;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	*out = strtoul(p, &end, 0);
	return errno || *end ? -EINVAL : 0;
}

int kdrv_reset(const char *root, const char *devpath, const char *buf, size_t len)
{
	unsigned long v;
	struct kdev d;
	int r;

	if ((r = dev_from_devpath(root, devpath, &d)) < 0)
		return r;
	if (parse_ulong(buf, len, &v) < 0 || v != 1)
		return -EINVAL;
	return 0;
}

typedef void (*child_fn)(const struct kdev *child, void *ctx);

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The entries of d's directory that `keep` accepts, sorted; collected
 * before anyone acts on them, since acting removes some. */
static char **list_entries(const struct kdev *d,
			   bool (*keep)(const struct kdev *, const struct dirent *), size_t *n)
{
	DIR *dir = opendir(d->dir);
	char **names = NULL;
	struct dirent *e;

	*n = 0;
	if (!dir)
		return NULL;
	while ((e = readdir(dir))) {
		char **grown;

		if (!valid_name(e->d_name) || !keep(d, e))
			continue;
		grown = realloc(names, (*n + 1) * sizeof(*names));
		if (!grown)
			break;
		names = grown;
		if (!(names[*n] = strdup(e->d_name)))
			break;
		(*n)++;
	}
	closedir(dir);
	if (names)
		qsort(names, *n, sizeof(*names), cmp_names);
	return names;
}

/* d_type, or what lstat() says on a file system that does not fill it. */
static unsigned char entry_type(const struct kdev *d, const struct dirent *e)
{
	char path[PATH_MAX];
	struct stat st;

	if (e->d_type != DT_UNKNOWN)
		return e->d_type;
	if (kfs_path(path, "%s/%s", d->dir, e->d_name) < 0 || lstat(path, &st) < 0)
		return DT_UNKNOWN;
	return S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_REG;
}

static bool is_child_device(const struct kdev *d, const struct dirent *e)
{
	char path[PATH_MAX];

	return entry_type(d, e) == DT_DIR &&
	       kfs_path(path, "%s/%s/subsystem", d->dir, e->d_name) == 0 && kfs_exists(path);
}

static bool is_virtfn_link(const struct kdev *d, const struct dirent *e)
{
	return strncmp(e->d_name, "virtfn", 6) == 0 && entry_type(d, e) == DT_LNK;
}

/* The devices right below d in sysfs (directories with a subsystem link),
 * in name order or the reverse. */
static void for_children(const struct kdev *d, bool reverse, child_fn fn, void *ctx)
{
	char path[PATH_MAX];
	size_t n;
	char **names = list_entries(d, is_child_device, &n);

	for (size_t k = 0; k < n; k++) {
		size_t i = reverse ? n - 1 - k : k;
		struct kdev c;

		if (kfs_path(path, "%s/%s", d->devpath, names[i]) == 0 &&
		    dev_from_devpath(d->root, path, &c) == 0)
			fn(&c, ctx);
	}
	free_names(names, n);
}

/* A PF's VFs, through its virtfnN links. */
static void for_vfs(const struct kdev *d, child_fn fn, void *ctx)
{
	char link[PATH_MAX];
	size_t n;
	char **names = list_entries(d, is_virtfn_link, &n);

	for (size_t i = 0; i < n; i++) {
		struct kdev c;

		if (kfs_path(link, "%s/%s", d->dir, names[i]) == 0 &&
		    dev_from_link(d->root, link, &c) == 0)
			fn(&c, ctx);
	}
	free_names(names, n);
}

static bool is_interface(const struct kdev *d)
{
	return streq(d->bus, "usb") && strchr(d->id, ':');
}

static void gone_tree(const struct kdev *d, void *ctx);
static void usb_gone(const struct kdev *d, void *ctx);
static void stop_tree(const struct kdev *d, void *ctx);

/* pci_stop_bus_device(): drivers let go bottom-up, the last device on a
 * bus first; a PF's driver takes its VFs away as it goes (sriov_disable()
 * in its remove()), a host controller's its USB tree (usb_remove_hcd()). */
static void stop_child(const struct kdev *c, void *ctx)
{
	if (streq(c->bus, "usb"))
		usb_gone(c, ctx);
	else
		stop_tree(c, ctx);
}

static void stop_tree(const struct kdev *d, void *ctx)
{
	char cur[NAME_MAX + 1];

	for_children(d, true, stop_child, ctx);
	if (streq(d->bus, "pci"))
		for_vfs(d, gone_tree, ctx);
	if (dev_driver(d, cur, sizeof(cur)) == 0)
		unbind_now(d, cur);
}

static void drop_group_member(const struct kdev *d)
{
	char path[PATH_MAX], group[NAME_MAX + 1];

	if (kfs_path(path, "%s/iommu_group", d->dir) < 0 ||
	    kfs_link_name(path, group, sizeof(group)) < 0 ||
	    kfs_path(path, "%s/sys/kernel/iommu_groups/%s/devices/%s", d->root, group, d->id) < 0)
		return;
	unlink(path);
	/* The last member takes its group along. */
	if (kfs_path(path, "%s/sys/kernel/iommu_groups/%s/devices", d->root, group) == 0 &&
	    rmdir(path) == 0 &&
	    kfs_path(path, "%s/sys/kernel/iommu_groups/%s", d->root, group) == 0)
		kfs_rm_tree(path);
}

static void drop_virtfn_link(const struct kdev *vf)
{
	char path[PATH_MAX], name[NAME_MAX + 1];
	struct kdev pf;
	size_t n;
	char **names;

	if (kfs_path(path, "%s/physfn", vf->dir) < 0 || dev_from_link(vf->root, path, &pf) < 0)
		return;
	names = list_entries(&pf, is_virtfn_link, &n);
	for (size_t i = 0; i < n; i++)
		if (kfs_path(path, "%s/%s", pf.dir, names[i]) == 0 &&
		    kfs_link_name(path, name, sizeof(name)) == 0 && streq(name, vf->id))
			unlink(path);
	free_names(names, n);
}

/* The device's files go before its event, which carries what its uevent
 * file said last. */
static void remove_one(const struct kdev *d)
{
	char path[PATH_MAX];
	struct props p;

	props_read(d, &p);
	if (kfs_path(path, "%s/sys/bus/%s/devices/%s", d->root, d->bus, d->id) == 0)
		unlink(path);
	if (streq(d->bus, "pci")) {
		drop_group_member(d);
		drop_virtfn_link(d);
	}
	kfs_rm_tree(d->dir);
	send_or_die(d, "remove", &p);
}

/* pci_remove_bus_device(): children first, in bus order. */
static void remove_tree(const struct kdev *d, void *ctx)
{
	for_children(d, false, remove_tree, ctx);
	remove_one(d);
}

static void gone_tree(const struct kdev *d, void *ctx)
{
	stop_tree(d, ctx);
	remove_tree(d, ctx);
}

static void unbind_and_remove(const struct kdev *d)
{
	char cur[NAME_MAX + 1];

	if (dev_driver(d, cur, sizeof(cur)) == 0)
		unbind_now(d, cur);
	remove_one(d);
}

static void usb_gone_if_device(const struct kdev *c, void *ctx)
{
	if (!is_interface(c))
		usb_gone(c, ctx);
}

static void usb_gone_if_interface(const struct kdev *c, void *ctx)
{
	if (is_interface(c))
		unbind_and_remove(c);
}

/* usb_disconnect(): the devices behind a hub first, port by port; then the
 * device's interfaces, each unbound and removed (usb_disable_device()); then
 * the device itself. */
static void usb_gone(const struct kdev *d, void *ctx)
{
	for_children(d, false, usb_gone_if_device, ctx);
	for_children(d, false, usb_gone_if_interface, ctx);
	unbind_and_remove(d);
}

int kdrv_remove(const char *root, const char *devpath, const char *buf, size_t len)
{
	unsigned long v;
	struct kdev d;
	int r;

	if ((r = dev_from_devpath(root, devpath, &d)) < 0)
		return r;
	if (parse_ulong(buf, len, &v) < 0)
		return -EINVAL;
	if (v == 0)
		return 0;
	if (streq(d.bus, "usb"))
		usb_gone(&d, NULL);
	else
		gone_tree(&d, NULL);
	return 0;
}

static void iface_unbind(const struct kdev *c, void *ctx)
{
	char cur[NAME_MAX + 1];

	if (is_interface(c) && dev_driver(c, cur, sizeof(cur)) == 0)
		unbind_now(c, cur);
}

static void iface_bind(const struct kdev *c, void *ctx)
{
	char cur[NAME_MAX + 1], want[NAME_MAX + 1];

	if (is_interface(c) && dev_driver(c, cur, sizeof(cur)) < 0 &&
	    kstate_native(c->root, c->id, want, sizeof(want)) == 0 && driver_loaded(c, want))
		bind_now(c, want);
}

/* authorized_store(): sscanf("%u"); 0 lets every interface driver go, any
 * other number brings the native ones back.  (The kernel removes and
 * re-adds the interfaces themselves: see docs/kernel-emulator.md.) */
int kdrv_authorized(const char *root, const char *devpath, const char *buf, size_t len)
{
	char tmp[64], cur[16], path[PATH_MAX], *end;
	unsigned long v;
	struct kdev d;
	int r;

	if ((r = dev_from_devpath(root, devpath, &d)) < 0)
		return r;
	if (!streq(d.bus, "usb") || is_interface(&d) || len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, buf, len);
	tmp[len] = '\0';
	v = strtoul(tmp, &end, 10);
	if (end == tmp || tmp[strspn(tmp, " \t\n")] == '-')
		return -EINVAL;
	if (!dev_attr(&d, "authorized", cur, sizeof(cur)))
		snprintf(cur, sizeof(cur), "1");
	if ((strtoul(cur, NULL, 10) != 0) == (v != 0))
		return 0;
	if ((r = kfs_path(path, "%s/authorized", d.dir)) < 0)
		return r;
	if (v == 0) {
		for_children(&d, false, iface_unbind, NULL);
		return kfs_write(path, "0\n", 2, 0644);
	}
	if ((r = kfs_write(path, "1\n", 2, 0644)) < 0)
		return r;
	for_children(&d, false, iface_bind, NULL);
	return 0;
}

/* ---- /dev/vfio ---------------------------------------------------------- */

static bool group_has_vfio_member(const char *root, const char *group)
{
	char dirpath[PATH_MAX], path[PATH_MAX], drv[NAME_MAX + 1];
	bool any = false;
	struct dirent *e;
	DIR *dir;

	if (kfs_path(dirpath, "%s/sys/kernel/iommu_groups/%s/devices", root, group) < 0 ||
	    !(dir = opendir(dirpath)))
		return false;
	while (!any && (e = readdir(dir)))
		any = valid_name(e->d_name) &&
		      kfs_path(path, "%s/%s/driver", dirpath, e->d_name) == 0 &&
		      kfs_link_name(path, drv, sizeof(drv)) == 0 && streq(drv, "vfio-pci");
	closedir(dir);
	return any;
}

int kdrv_vfio_sync(const char *root, const char *group)
{
	char node[PATH_MAX], link[PATH_MAX], dir[PATH_MAX], target[32];
	int r;

	if (!*group || strspn(group, "0123456789") != strlen(group))
		return -EINVAL;
	if ((r = kfs_path(node, "%s/dev/vfio/%s", root, group)) < 0 ||
	    (r = kfs_path(link, "%s/dev/.node/vfio_%s", root, group)) < 0)
		return r;
	if (!group_has_vfio_member(root, group)) {
		unlink(node);
		unlink(link);
		return 0;
	}
	if (kfs_exists(node))
		return 0;
	/* umockdev shows a testbed /dev file as a character device whose
	 * numbers the .node link gives. */
	snprintf(target, sizeof(target), "%d:%s", VFIO_GROUP_MAJOR, group);
	if ((r = kfs_path(dir, "%s/dev/vfio", root)) < 0 || (r = kfs_mkdir_p(dir)) < 0 ||
	    (r = kfs_path(dir, "%s/dev/.node", root)) < 0 || (r = kfs_mkdir_p(dir)) < 0)
		return r;
	unlink(link);
	if (symlink(target, link) < 0)
		return -errno;
	return kfs_write(node, "", 0, 0600);
}
