#include "tests/integration/testbed.h"
#include "tests/kemu/kemu.h"
#include "tests/kemu/kfs.h"
#include "tests/kemu/kuevent.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <umockdev.h>
#include <unistd.h>

enum tb_kind { TB_PCI, TB_USB_DEVICE, TB_USB_IFACE };

struct tb_node {
	enum tb_kind kind;
	char *id;
	char *parent;       /* id; for an interface, its device */
	char *devpath;      /* "devices/pci0000:00/...", relative to sysfs */
	char *syspath;      /* "/sys/devices/...": what libudev reports */
	char *driver;       /* bound now */
	char *bind_driver;  /* the driver a plug binds */
	bool present;
	bool absent;        /* stays out when an ancestor is plugged */
	union {
		struct tb_pci pci;
		struct tb_usb usb;
		struct tb_usb_iface iface;
	} spec;             /* strings owned through `owned` */
	char **owned;
	size_t n_owned;
	struct tb_node *hash_next;
};

struct testbed {
	UMockdevTestbed *umockdev;
	char *root;
	char *sys;          /* <root>/sys */
	bool muted;
	tb_uevent_hook hook;
	void *hook_ctx;
	struct tb_node **nodes; /* in declaration order */
	size_t n_nodes, cap_nodes;
	struct tb_node **buckets;
	size_t n_buckets;
};

__attribute__((format(printf, 1, 2), noreturn)) static void tb_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "testbed: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* ---- the model ---------------------------------------------------------- */

static struct tb_node *node_get(const struct testbed *tb, const char *id)
{
	struct tb_node *n;

	for (n = tb->buckets[str_hash(id) & (tb->n_buckets - 1)]; n; n = n->hash_next)
		if (streq(n->id, id))
			return n;
	return NULL;
}

static struct tb_node *node_must(const struct testbed *tb, const char *id)
{
	struct tb_node *n = node_get(tb, id);

	if (!n)
		tb_fail("no device %s was declared", id);
	return n;
}

static void hash_insert(struct tb_node **buckets, size_t n_buckets, struct tb_node *n)
{
	struct tb_node **head = &buckets[str_hash(n->id) & (n_buckets - 1)];

	n->hash_next = *head;
	*head = n;
}

static void node_insert(struct testbed *tb, struct tb_node *n)
{
	if (node_get(tb, n->id))
		tb_fail("device %s declared twice", n->id);
	if (tb->n_nodes == tb->cap_nodes) {
		tb->cap_nodes = tb->cap_nodes ? tb->cap_nodes * 2 : 64;
		tb->nodes = xrealloc(tb->nodes, tb->cap_nodes * sizeof(*tb->nodes));
	}
	tb->nodes[tb->n_nodes++] = n;
	if (tb->n_nodes > tb->n_buckets) {
		size_t nb = tb->n_buckets * 4;
		struct tb_node **b = xcalloc(nb, sizeof(*b));

		for (size_t i = 0; i < tb->n_nodes; i++)
			hash_insert(b, nb, tb->nodes[i]);
		free(tb->buckets);
		tb->buckets = b;
		tb->n_buckets = nb;
	} else {
		hash_insert(tb->buckets, tb->n_buckets, n);
	}
}

/* Specs are copied with their strings, so callers may pass temporaries. */
static const char *keep(struct tb_node *n, const char *s)
{
	if (!s)
		return NULL;
	n->owned = xrealloc(n->owned, (n->n_owned + 1) * sizeof(*n->owned));
	return n->owned[n->n_owned++] = xstrdup(s);
}

static void node_free(struct tb_node *n)
{
	for (size_t i = 0; i < n->n_owned; i++)
		free(n->owned[i]);
	free(n->owned);
	free(n->id);
	free(n->parent);
	free(n->devpath);
	free(n->syspath);
	free(n->driver);
	free(n->bind_driver);
	free(n);
}

static struct tb_node *node_new(struct testbed *tb, enum tb_kind kind, const char *id,
				const char *parent, const char *driver, bool absent)
{
	struct tb_node *n = xcalloc(1, sizeof(*n));
	struct tb_node *p = parent ? node_must(tb, parent) : NULL;
	char buf[PATH_MAX];

	if (!id || !*id)
		tb_fail("a device needs an id");
	n->kind = kind;
	n->id = xstrdup(id);
	n->parent = xstrdup(parent);
	n->bind_driver = xstrdup(driver);
	n->absent = absent;
	if (p)
		snprintf(buf, sizeof(buf), "%s/%s", p->devpath, id);
	else if (kind == TB_PCI)
		/* Root-bus functions sit under the host bridge's bus directory. */
		snprintf(buf, sizeof(buf), "devices/pci%.7s/%s", id, id);
	else
		tb_fail("%s: a USB device needs a parent", id);
	n->devpath = xstrdup(buf);
	snprintf(buf, sizeof(buf), "/sys/%s", n->devpath);
	n->syspath = xstrdup(buf);
	node_insert(tb, n);
	return n;
}

/* ---- files -------------------------------------------------------------- */

static void path_of(const struct testbed *tb, char *buf, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void path_of(const struct testbed *tb, char *buf, const char *fmt, ...)
{
	va_list ap;
	int off = snprintf(buf, PATH_MAX, "%s/", tb->sys);
	int r;

	va_start(ap, fmt);
	r = vsnprintf(buf + off, (size_t)(PATH_MAX - off), fmt, ap);
	va_end(ap);
	if (r < 0 || r >= PATH_MAX - off)
		tb_fail("path too long: %s", buf);
}

static void mkdir_p(const char *path)
{
	int r = kfs_mkdir_p(path);

	if (r < 0)
		tb_fail("mkdir %s: %s", path, strerror(-r));
}

__attribute__((format(printf, 4, 5))) static void put_attr(int dfd, const char *name, mode_t mode,
							  const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int len, fd;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(buf))
		tb_fail("attribute %s too long", name);
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		tb_fail("create %s: %s", name, strerror(errno));
	if (write(fd, buf, (size_t)len) != len)
		tb_fail("write %s: %s", name, strerror(errno));
	close(fd);
}

/* Creates sysfs/<dir>/<name> pointing at sysfs/<to>, replacing any link,
 * with the relative target the kernel writes ("../../../bus/pci"). */
static void put_link(const struct testbed *tb, const char *dir, const char *name, const char *to)
{
	int r = kfs_put_link(tb->sys, dir, name, to);

	if (r < 0)
		tb_fail("link %s/%s -> %s: %s", dir, name, to, strerror(-r));
}

__attribute__((format(printf, 2, 3))) static void drop(const struct testbed *tb, const char *fmt,
							...)
{
	char rel[PATH_MAX], path[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	path_of(tb, path, "%s", rel);
	if (unlink(path) < 0 && errno != ENOENT)
		tb_fail("unlink %s: %s", path, strerror(errno));
}

static void rm_tree(const struct testbed *tb, const char *rel)
{
	char path[PATH_MAX];
	int r;

	path_of(tb, path, "%s", rel);
	if ((r = kfs_rm_tree(path)) < 0)
		tb_fail("remove %s: %s", path, strerror(-r));
}

static int open_dir(const struct testbed *tb, const char *rel)
{
	char path[PATH_MAX];
	int fd;

	path_of(tb, path, "%s", rel);
	fd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		tb_fail("open %s: %s", path, strerror(errno));
	return fd;
}

static const char *bus_of(const struct tb_node *n)
{
	return n->kind == TB_PCI ? "pci" : "usb";
}

/* ---- uevent properties -------------------------------------------------- */

struct props {
	char buf[2048];
	size_t len;        /* bytes used, each property NUL-terminated */
};

__attribute__((format(printf, 2, 3))) static void prop_add(struct props *p, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(p->buf + p->len, sizeof(p->buf) - p->len, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= sizeof(p->buf) - p->len)
		tb_fail("uevent properties too long");
	p->len += (size_t)r + 1;
}

static void pci_props(const struct tb_node *n, struct props *p)
{
	const struct tb_pci *s = &n->spec.pci;

	if (n->driver)
		prop_add(p, "DRIVER=%s", n->driver);
	prop_add(p, "PCI_CLASS=%X", s->class_code);
	prop_add(p, "PCI_ID=%04X:%04X", s->vendor, s->device);
	prop_add(p, "PCI_SUBSYS_ID=%04X:%04X", s->subsystem_vendor, s->subsystem_device);
	prop_add(p, "PCI_SLOT_NAME=%s", n->id);
	prop_add(p, "MODALIAS=pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X", s->vendor, s->device,
		 s->subsystem_vendor, s->subsystem_device, s->class_code >> 16,
		 (s->class_code >> 8) & 0xff, s->class_code & 0xff);
}

static void usb_device_props(const struct tb_node *n, struct props *p)
{
	const struct tb_usb *s = &n->spec.usb;

	prop_add(p, "MAJOR=189");
	prop_add(p, "MINOR=%d", (s->busnum - 1) * 128 + s->devnum - 1);
	prop_add(p, "DEVNAME=bus/usb/%03d/%03d", s->busnum, s->devnum);
	prop_add(p, "DEVTYPE=usb_device");
	if (n->driver)
		prop_add(p, "DRIVER=%s", n->driver);
	prop_add(p, "PRODUCT=%x/%x/%x", s->vendor, s->product, s->bcd_device);
	prop_add(p, "TYPE=%d/0/0", s->device_class);
	prop_add(p, "BUSNUM=%03d", s->busnum);
	prop_add(p, "DEVNUM=%03d", s->devnum);
}

static void usb_iface_props(const struct testbed *tb, const struct tb_node *n, struct props *p)
{
	const struct tb_usb_iface *s = &n->spec.iface;
	const struct tb_usb *d = &node_must(tb, n->parent)->spec.usb;

	prop_add(p, "DEVTYPE=usb_interface");
	if (n->driver)
		prop_add(p, "DRIVER=%s", n->driver);
	prop_add(p, "PRODUCT=%x/%x/%x", d->vendor, d->product, d->bcd_device);
	prop_add(p, "TYPE=%d/0/0", d->device_class);
	prop_add(p, "INTERFACE=%d/%d/%d", s->cls, s->subcls, s->proto);
	prop_add(p, "MODALIAS=usb:v%04Xp%04Xd%04Xdc%02Xdsc00dp00ic%02Xisc%02Xip%02Xin00", d->vendor,
		 d->product, d->bcd_device, d->device_class, s->cls, s->subcls, s->proto);
}

/* What the kernel's dev_uevent() reports for the device now: the content of
 * its uevent file and the body of each uevent it sends.  DRIVER= appears
 * while a driver is bound, so bind events carry it and unbind events not. */
static void node_props(const struct testbed *tb, const struct tb_node *n, struct props *p)
{
	p->len = 0;
	if (n->kind == TB_PCI)
		pci_props(n, p);
	else if (n->kind == TB_USB_DEVICE)
		usb_device_props(n, p);
	else
		usb_iface_props(tb, n, p);
}

static void write_uevent_file(const struct testbed *tb, const struct tb_node *n)
{
	struct props p;
	char path[PATH_MAX];
	FILE *f;

	node_props(tb, n, &p);
	path_of(tb, path, "%s/uevent", n->devpath);
	f = fopen(path, "we");
	if (!f)
		tb_fail("open %s: %s", path, strerror(errno));
	for (size_t off = 0; off < p.len; off += strlen(p.buf + off) + 1)
		fprintf(f, "%s\n", p.buf + off);
	if (fclose(f) != 0)
		tb_fail("write %s: %s", path, strerror(errno));
}

/* ---- sending uevents ---------------------------------------------------- */

/* Through the sender the kernel emulator uses too (tests/kemu/kuevent.c):
 * one SEQNUM counter for the whole testbed. */
static void send_uevent(struct testbed *tb, const struct tb_node *n, const char *action)
{
	struct props body;
	const char *devtype = n->kind == TB_USB_DEVICE  ? "usb_device"
			      : n->kind == TB_USB_IFACE ? "usb_interface"
							: NULL;
	int r;

	if (tb->muted)
		return;
	node_props(tb, n, &body);
	r = kuevent_send(tb->root, action, n->devpath, bus_of(n), devtype, body.buf, body.len);
	if (r < 0)
		tb_fail("%s uevent of %s: %s", action, n->id, strerror(-r));
	if (tb->hook)
		tb->hook(n->id, action, tb->hook_ctx);
}

/* ---- materialising devices ---------------------------------------------- */

/* A driver's directory, as when its module is loaded: bind and unbind
 * take a device's name (the kernel emulator acts on them). */
static void ensure_driver_dir(const struct testbed *tb, const char *bus, const char *driver)
{
	char rel[PATH_MAX], path[PATH_MAX];
	int dfd;

	snprintf(rel, sizeof(rel), "bus/%s/drivers/%s", bus, driver);
	path_of(tb, path, "%s/unbind", rel);
	if (kfs_exists(path))
		return;
	path_of(tb, path, "%s", rel);
	mkdir_p(path);
	dfd = open_dir(tb, rel);
	put_attr(dfd, "bind", 0200, "%s", "");
	put_attr(dfd, "unbind", 0200, "%s", "");
	close(dfd);
}

/* /dev/vfio/<group> follows vfio-pci bindings, whoever moves them. */
static void vfio_sync(const struct testbed *tb, const struct tb_node *n)
{
	if (n->kind == TB_PCI && n->spec.pci.iommu_group && streq(n->driver, "vfio-pci"))
		kemu_vfio_sync(tb->root, n->spec.pci.iommu_group);
}

static void link_driver(const struct testbed *tb, const struct tb_node *n)
{
	char drv[PATH_MAX];

	snprintf(drv, sizeof(drv), "bus/%s/drivers/%s", bus_of(n), n->driver);
	ensure_driver_dir(tb, bus_of(n), n->driver);
	put_link(tb, n->devpath, "driver", drv);
	put_link(tb, drv, n->id, n->devpath);
	vfio_sync(tb, n);
}

static void unlink_driver(const struct testbed *tb, const struct tb_node *n)
{
	char drv[PATH_MAX];

	snprintf(drv, sizeof(drv), "bus/%s/drivers/%s", bus_of(n), n->driver);
	drop(tb, "%s/%s", n->devpath, "driver");
	drop(tb, "%s/%s", drv, n->id);
	vfio_sync(tb, n);
}

static void pci_attrs(int dfd, const struct tb_pci *s)
{
	put_attr(dfd, "vendor", 0444, "0x%04x\n", s->vendor);
	put_attr(dfd, "device", 0444, "0x%04x\n", s->device);
	put_attr(dfd, "subsystem_vendor", 0444, "0x%04x\n", s->subsystem_vendor);
	put_attr(dfd, "subsystem_device", 0444, "0x%04x\n", s->subsystem_device);
	put_attr(dfd, "class", 0444, "0x%06x\n", s->class_code);
	put_attr(dfd, "revision", 0444, "0x%02x\n", s->revision);
	put_attr(dfd, "driver_override", 0644, "%s\n",
		 s->driver_override ? s->driver_override : "(null)");
	put_attr(dfd, "numa_node", 0644, "%s\n", s->numa_node ? s->numa_node : "-1");
	put_attr(dfd, "remove", 0200, "%s", "");
	if (s->reset_method)
		put_attr(dfd, "reset_method", 0644, "%s\n", s->reset_method);
	if (s->reset)
		put_attr(dfd, "reset", 0200, "%s", "");
	/* The kernel offers boot_vga on every VGA-class function. */
	if ((s->class_code >> 8) == 0x0300 || s->boot_vga)
		put_attr(dfd, "boot_vga", 0444, "%d\n", s->boot_vga ? 1 : 0);
	if (s->sriov_totalvfs > 0) {
		put_attr(dfd, "sriov_totalvfs", 0444, "%d\n", s->sriov_totalvfs);
		put_attr(dfd, "sriov_numvfs", 0644, "%d\n", s->sriov_numvfs);
	}
}

/* A PF that comes back finds its VFs still there. */
static void relink_vfs(const struct testbed *tb, const struct tb_node *pf)
{
	for (size_t i = 0; i < tb->n_nodes; i++) {
		const struct tb_node *vf = tb->nodes[i];
		char name[32];

		if (vf->kind != TB_PCI || !vf->present || !streq(vf->spec.pci.physfn, pf->id))
			continue;
		snprintf(name, sizeof(name), "virtfn%d", vf->spec.pci.vf_index);
		put_link(tb, pf->devpath, name, vf->devpath);
	}
}

static void pci_links(const struct testbed *tb, const struct tb_node *n)
{
	const struct tb_pci *s = &n->spec.pci;
	char grp[64], path[PATH_MAX];

	if (s->iommu_group) {
		snprintf(grp, sizeof(grp), "kernel/iommu_groups/%s", s->iommu_group);
		path_of(tb, path, "%s/devices", grp);
		mkdir_p(path);
		put_link(tb, n->devpath, "iommu_group", grp);
		snprintf(path, sizeof(path), "%s/devices", grp);
		put_link(tb, path, n->id, n->devpath);
	}
	if (s->physfn) {
		const struct tb_node *pf = node_must(tb, s->physfn);
		char name[32];

		put_link(tb, n->devpath, "physfn", pf->devpath);
		snprintf(name, sizeof(name), "virtfn%d", s->vf_index);
		if (pf->present)
			put_link(tb, pf->devpath, name, n->devpath);
	}
	if (s->sriov_totalvfs > 0)
		relink_vfs(tb, n);
}

static void usb_device_attrs(int dfd, const struct tb_usb *s)
{
	put_attr(dfd, "idVendor", 0444, "%04x\n", s->vendor);
	put_attr(dfd, "idProduct", 0444, "%04x\n", s->product);
	put_attr(dfd, "bcdDevice", 0444, "%04x\n", s->bcd_device);
	put_attr(dfd, "bDeviceClass", 0444, "%02x\n", s->device_class);
	put_attr(dfd, "bDeviceSubClass", 0444, "00\n");
	put_attr(dfd, "bDeviceProtocol", 0444, "00\n");
	put_attr(dfd, "bConfigurationValue", 0644, "1\n");
	put_attr(dfd, "busnum", 0444, "%d\n", s->busnum);
	put_attr(dfd, "devnum", 0444, "%d\n", s->devnum);
	put_attr(dfd, "speed", 0444, "%s\n", s->speed ? s->speed : "480");
	put_attr(dfd, "authorized", 0644, "%d\n", s->deauthorized ? 0 : 1);
	put_attr(dfd, "remove", 0200, "%s", "");
	if (s->manufacturer)
		put_attr(dfd, "manufacturer", 0444, "%s\n", s->manufacturer);
	if (s->product_name)
		put_attr(dfd, "product", 0444, "%s\n", s->product_name);
	if (s->serial)
		put_attr(dfd, "serial", 0444, "%s\n", s->serial);
}

static void usb_iface_attrs(int dfd, const struct tb_node *n)
{
	const struct tb_usb_iface *s = &n->spec.iface;
	const char *dot = strrchr(n->id, '.');

	put_attr(dfd, "bInterfaceClass", 0444, "%02x\n", s->cls);
	put_attr(dfd, "bInterfaceSubClass", 0444, "%02x\n", s->subcls);
	put_attr(dfd, "bInterfaceProtocol", 0444, "%02x\n", s->proto);
	put_attr(dfd, "bInterfaceNumber", 0444, "%02x\n", dot ? atoi(dot + 1) : 0);
	put_attr(dfd, "bAlternateSetting", 0444, " 0\n");
	put_attr(dfd, "authorized", 0644, "1\n");
}

/* The directory of a root-bus function's bus ("pci0000:00") is a device
 * without a subsystem, as in real sysfs. */
static void ensure_parent_dir(const struct testbed *tb, const struct tb_node *n)
{
	char rel[PATH_MAX], path[PATH_MAX];
	const char *slash = strrchr(n->devpath, '/');
	int dfd;

	if (n->parent)
		return;
	snprintf(rel, sizeof(rel), "%.*s", (int)(slash - n->devpath), n->devpath);
	path_of(tb, path, "%s", rel);
	mkdir_p(path);
	dfd = open_dir(tb, rel);
	put_attr(dfd, "uevent", 0644, "%s", "");
	close(dfd);
}

/* Creates the device's directory, attributes and links; bound to its driver
 * only when asked (a plug binds in a later step, with its own uevent). */
static void materialize(struct testbed *tb, struct tb_node *n, bool bound)
{
	char path[PATH_MAX];
	int dfd;

	if (n->parent && !node_must(tb, n->parent)->present)
		tb_fail("%s: parent %s is not present", n->id, n->parent);
	ensure_parent_dir(tb, n);
	path_of(tb, path, "%s", n->devpath);
	if (mkdir(path, 0755) < 0)
		tb_fail("mkdir %s: %s", path, strerror(errno));
	dfd = open_dir(tb, n->devpath);
	if (n->kind == TB_PCI)
		pci_attrs(dfd, &n->spec.pci);
	else if (n->kind == TB_USB_DEVICE)
		usb_device_attrs(dfd, &n->spec.usb);
	else
		usb_iface_attrs(dfd, n);
	close(dfd);
	snprintf(path, sizeof(path), "bus/%s", bus_of(n));
	put_link(tb, n->devpath, "subsystem", path);
	snprintf(path, sizeof(path), "bus/%s/devices", bus_of(n));
	put_link(tb, path, n->id, n->devpath);
	if (n->kind == TB_PCI)
		pci_links(tb, n);
	str_replace(&n->driver, bound ? n->bind_driver : NULL);
	if (n->driver)
		link_driver(tb, n);
	write_uevent_file(tb, n);
	n->present = true;
}

static void dematerialize(struct testbed *tb, struct tb_node *n)
{
	const struct tb_pci *s = &n->spec.pci;

	if (n->driver)
		unlink_driver(tb, n);
	if (n->kind == TB_PCI && s->iommu_group)
		drop(tb, "kernel/iommu_groups/%s/devices/%s", s->iommu_group, n->id);
	if (n->kind == TB_PCI && s->physfn) {
		const struct tb_node *pf = node_must(tb, s->physfn);
		char name[32];

		snprintf(name, sizeof(name), "virtfn%d", s->vf_index);
		if (pf->present)
			drop(tb, "%s/%s", pf->devpath, name);
	}
	drop(tb, "bus/%s/devices/%s", bus_of(n), n->id);
	rm_tree(tb, n->devpath);
	str_replace(&n->driver, NULL);
	n->present = false;
}

/* ---- the public side ---------------------------------------------------- */

/* What sysfs has before any device. */
static const char *const skeleton[] = {
	"bus/pci/devices", "bus/pci/drivers", "bus/usb/devices",
	"bus/usb/drivers", "kernel/iommu_groups", "devices",
};

struct testbed *tb_new(void)
{
	struct testbed *tb = xcalloc(1, sizeof(*tb));
	char *dir;

	/* umockdev answers from what /sys is, which the preload redirects only
	 * once a testbed set UMOCKDEV_DIR: ask after creating one (creating it
	 * only makes a temporary directory). */
	tb->umockdev = umockdev_testbed_new();
	if (!umockdev_in_mock_environment()) {
		/* The one guard that keeps the tests off this machine's real /sys:
		 * its disk and network are PCI devices. */
		g_object_unref(tb->umockdev);
		fprintf(stderr, "testbed: not running under umockdev-wrapper; refusing to go on, "
				"since sysfs here would be the machine's real one\n");
		abort();
	}
	dir = umockdev_testbed_get_root_dir(tb->umockdev);
	tb->root = xstrdup(dir);
	g_free(dir);
	dir = umockdev_testbed_get_sys_dir(tb->umockdev);
	tb->sys = xstrdup(dir);
	g_free(dir);
	tb->n_buckets = 256;
	tb->buckets = xcalloc(tb->n_buckets, sizeof(*tb->buckets));
	for (size_t i = 0; i < ARRAY_SIZE(skeleton); i++) {
		char path[PATH_MAX];

		path_of(tb, path, "%s", skeleton[i]);
		mkdir_p(path);
	}
	for (size_t i = 0; i < 2; i++) {
		int dfd = open_dir(tb, i == 0 ? "bus/pci" : "bus/usb");

		put_attr(dfd, "drivers_probe", 0200, "%s", "");
		close(dfd);
	}
	/* The daemon's write seam, under HOSTDEVD_REQUIRE_MOCK=1, writes only
	 * where it sees this file: the proof that /sys is a testbed. */
	{
		int dfd = open_dir(tb, "");

		put_attr(dfd, ".hostdevd-testbed", 0444, "%s", "hostdevd test machine\n");
		close(dfd);
	}
	return tb;
}

void tb_free(struct testbed *tb)
{
	if (!tb)
		return;
	for (size_t i = 0; i < tb->n_nodes; i++)
		node_free(tb->nodes[i]);
	free(tb->nodes);
	free(tb->buckets);
	/* Removes the testbed directory. */
	g_object_unref(tb->umockdev);
	free(tb->root);
	free(tb->sys);
	free(tb);
}

const char *tb_root(const struct testbed *tb)
{
	return tb->root;
}

void tb_set_uevent_hook(struct testbed *tb, tb_uevent_hook fn, void *ctx)
{
	tb->hook = fn;
	tb->hook_ctx = ctx;
}

void tb_set_muted(struct testbed *tb, bool muted)
{
	tb->muted = muted;
}

/* The kernel emulator changes sysfs too, from any process (a daemon that
 * detached a device, a remove written by a test): before the model answers
 * for a device or acts on it, it reads whether the device is there and
 * which driver it has. */
static struct tb_node *synced(const struct testbed *tb, struct tb_node *n)
{
	char path[PATH_MAX], drv[NAME_MAX + 1];

	if (!n->present)
		return n; /* only the testbed plugs devices in */
	path_of(tb, path, "%s", n->devpath);
	n->present = kfs_is_dir(path);
	path_of(tb, path, "%s/driver", n->devpath);
	str_replace(&n->driver,
		    n->present && kfs_link_name(path, drv, sizeof(drv)) == 0 ? drv : NULL);
	return n;
}

static bool parent_present(const struct testbed *tb, const struct tb_node *n)
{
	return !n->parent || node_must(tb, n->parent)->present;
}

/* For the kernel emulator; its driver's directory is there, as if the
 * module were loaded. */
static void set_native(struct testbed *tb, const struct tb_node *n, const char *driver)
{
	if (!driver)
		return;
	kemu_set_native(tb->root, n->id, driver);
	ensure_driver_dir(tb, bus_of(n), driver);
}

/* A device whose parent is not there yet waits for the parent's plug. */
static const char *declared(struct testbed *tb, struct tb_node *n)
{
	if (!n->absent && parent_present(tb, n))
		materialize(tb, n, true);
	return n->syspath;
}

const char *tb_add_pci(struct testbed *tb, const struct tb_pci *spec)
{
	struct tb_node *n = node_new(tb, TB_PCI, spec->addr, spec->parent, spec->driver,
				     spec->absent);
	struct tb_pci *s = &n->spec.pci;

	if (n->parent && node_must(tb, n->parent)->kind != TB_PCI)
		tb_fail("%s: the parent of a PCI function is a PCI bridge", n->id);
	*s = *spec;
	s->addr = n->id;
	s->parent = n->parent;
	s->driver = NULL; /* the model's driver fields rule */
	s->driver_override = keep(n, spec->driver_override);
	s->iommu_group = keep(n, spec->iommu_group);
	s->numa_node = keep(n, spec->numa_node);
	s->reset_method = keep(n, spec->reset_method);
	s->physfn = keep(n, spec->physfn);
	s->native_driver = NULL;
	if (s->physfn)
		node_must(tb, s->physfn);
	/* What binds when nothing overrides: the given native driver, else
	 * the bound one unless an override put it there. */
	set_native(tb, n, spec->native_driver   ? spec->native_driver
			  : spec->driver_override ? NULL
						  : spec->driver);
	return declared(tb, n);
}

const char *tb_add_usb_device(struct testbed *tb, const struct tb_usb *spec)
{
	struct tb_node *n = node_new(tb, TB_USB_DEVICE, spec->id, spec->parent, spec->driver,
				     spec->absent);
	struct tb_usb *s = &n->spec.usb;

	*s = *spec;
	s->id = n->id;
	s->parent = n->parent;
	s->driver = NULL;
	s->manufacturer = keep(n, spec->manufacturer);
	s->product_name = keep(n, spec->product_name);
	s->serial = keep(n, spec->serial);
	s->speed = keep(n, spec->speed);
	set_native(tb, n, spec->driver);
	return declared(tb, n);
}

const char *tb_add_usb_interface(struct testbed *tb, const char *device_id,
				 const struct tb_usb_iface *spec)
{
	struct tb_node *n;

	if (node_must(tb, device_id)->kind != TB_USB_DEVICE)
		tb_fail("%s: interfaces belong to USB devices, not %s", spec->id, device_id);
	n = node_new(tb, TB_USB_IFACE, spec->id, device_id, spec->driver, false);
	n->spec.iface = *spec;
	n->spec.iface.id = n->id;
	n->spec.iface.driver = NULL;
	set_native(tb, n, spec->driver);
	return declared(tb, n);
}

static void bind_now(struct testbed *tb, struct tb_node *n, const char *driver)
{
	if (n->driver)
		tb_fail("%s is bound to %s already; unbind it first", n->id, n->driver);
	str_replace(&n->bind_driver, driver);
	str_replace(&n->driver, driver);
	link_driver(tb, n);
	write_uevent_file(tb, n);
	send_uevent(tb, n, "bind");
}

static void unbind_now(struct testbed *tb, struct tb_node *n)
{
	unlink_driver(tb, n);
	str_replace(&n->driver, NULL);
	write_uevent_file(tb, n);
	send_uevent(tb, n, "unbind");
}

static struct tb_node *present_node(const struct testbed *tb, const char *id)
{
	struct tb_node *n = synced(tb, node_must(tb, id));

	if (!n->present)
		tb_fail("%s is not plugged in", id);
	return n;
}

void tb_bind(struct testbed *tb, const char *id, const char *driver)
{
	bind_now(tb, present_node(tb, id), driver);
}

void tb_unbind(struct testbed *tb, const char *id)
{
	struct tb_node *n = present_node(tb, id);

	if (!n->driver)
		tb_fail("%s has no driver to unbind", id);
	unbind_now(tb, n);
}

void tb_uevent(struct testbed *tb, const char *id, const char *action)
{
	send_uevent(tb, present_node(tb, id), action);
}

static bool is_child(const struct tb_node *c, const struct tb_node *n, bool ifaces)
{
	return streq(c->parent, n->id) && (c->kind == TB_USB_IFACE) == ifaces;
}

/* The kernel's probe after an add: a process that acted on the add
 * event (the daemon writing driver_override and drivers_probe through the
 * kernel emulator) may have bound the device already, and an override
 * decides which driver probes it, as in the kernel. */
static void probe_after_add(struct testbed *tb, struct tb_node *n)
{
	char path[PATH_MAX], override[NAME_MAX + 1];
	const char *driver = n->bind_driver;
	_cleanup_free_ char *native = NULL;

	if (n->kind == TB_PCI) {
		synced(tb, n);
		if (n->driver)
			return;
		path_of(tb, path, "%s/driver_override", n->devpath);
		if (kfs_read(path, override, sizeof(override)) == 0 && override[0] &&
		    !streq(override, "(null)"))
			driver = override;
	}
	native = xstrdup(n->bind_driver);
	bind_now(tb, n, driver);
	/* What binds without an override stays the native driver. */
	str_replace(&n->bind_driver, native);
}

static void plug_node(struct testbed *tb, struct tb_node *n)
{
	materialize(tb, n, false);
	send_uevent(tb, n, "add");
	/* A USB device's driver binds after its interfaces came up. */
	for (size_t i = 0; i < tb->n_nodes; i++)
		if (is_child(tb->nodes[i], n, true) && !tb->nodes[i]->absent)
			plug_node(tb, tb->nodes[i]);
	if (n->bind_driver)
		probe_after_add(tb, n);
	for (size_t i = 0; i < tb->n_nodes; i++)
		if (is_child(tb->nodes[i], n, false) && !tb->nodes[i]->absent)
			plug_node(tb, tb->nodes[i]);
}

static void unplug_node(struct testbed *tb, struct tb_node *n)
{
	for (size_t i = tb->n_nodes; i-- > 0;)
		if (is_child(tb->nodes[i], n, false) && synced(tb, tb->nodes[i])->present)
			unplug_node(tb, tb->nodes[i]);
	for (size_t i = tb->n_nodes; i-- > 0;)
		if (is_child(tb->nodes[i], n, true) && synced(tb, tb->nodes[i])->present)
			unplug_node(tb, tb->nodes[i]);
	if (n->driver)
		unbind_now(tb, n);
	dematerialize(tb, n);
	send_uevent(tb, n, "remove");
}

void tb_plug(struct testbed *tb, const char *id)
{
	struct tb_node *n = synced(tb, node_must(tb, id));

	if (n->present)
		tb_fail("%s is plugged in already", id);
	if (n->parent)
		synced(tb, node_must(tb, n->parent));
	if (!parent_present(tb, n))
		tb_fail("%s: plug its parent %s first", id, n->parent);
	n->absent = false;
	plug_node(tb, n);
}

void tb_unplug(struct testbed *tb, const char *id)
{
	struct tb_node *n = present_node(tb, id);

	n->absent = true;
	unplug_node(tb, n);
}

bool tb_present(const struct testbed *tb, const char *id)
{
	struct tb_node *n = node_get(tb, id);

	return n && synced(tb, n)->present;
}

const char *tb_driver(const struct testbed *tb, const char *id)
{
	struct tb_node *n = node_get(tb, id);

	return n ? synced(tb, n)->driver : NULL;
}

const char *tb_syspath(const struct testbed *tb, const char *id)
{
	const struct tb_node *n = node_get(tb, id);

	return n ? n->syspath : NULL;
}

static int cmp_bus_id(const void *a, const void *b)
{
	const struct tb_node *x = *(struct tb_node *const *)a, *y = *(struct tb_node *const *)b;

	if (x->kind != y->kind)
		return x->kind == TB_PCI ? -1 : 1;
	return strcmp(x->id, y->id);
}

const char **tb_present_ids(const struct testbed *tb, size_t *n)
{
	struct tb_node **v = xcalloc(tb->n_nodes + 1, sizeof(*v));
	const char **ids;
	size_t k = 0;

	for (size_t i = 0; i < tb->n_nodes; i++)
		if (synced(tb, tb->nodes[i])->present && tb->nodes[i]->kind != TB_USB_IFACE)
			v[k++] = tb->nodes[i];
	qsort(v, k, sizeof(*v), cmp_bus_id);
	ids = xcalloc(k + 1, sizeof(*ids));
	for (size_t i = 0; i < k; i++)
		ids[i] = v[i]->id;
	free(v);
	*n = k;
	return ids;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **tb_interfaces(const struct testbed *tb, const char *device_id, size_t *n)
{
	const char **ids = xcalloc(tb->n_nodes + 1, sizeof(*ids));
	size_t k = 0;

	for (size_t i = 0; i < tb->n_nodes; i++) {
		struct tb_node *c = tb->nodes[i];

		if (c->kind == TB_USB_IFACE && streq(c->parent, device_id) &&
		    synced(tb, c)->present)
			ids[k++] = c->id;
	}
	qsort(ids, k, sizeof(*ids), cmp_str);
	*n = k;
	return ids;
}

/* ---- machines ----------------------------------------------------------- */

#define ROOT_PORT(a, dev, grp)                                                              \
	{ .addr = a, .vendor = 0x8086, .device = dev, .subsystem_vendor = 0x1043,           \
	  .subsystem_device = 0x8694, .class_code = 0x060400, .revision = 0xf0,              \
	  .driver = "pcieport", .iommu_group = grp }
#define E1000E(a, parent_, grp)                                                             \
	{ .addr = a, .parent = parent_, .vendor = 0x8086, .device = 0x10d3,                 \
	  .subsystem_vendor = 0x8086, .subsystem_device = 0xa01f, .class_code = 0x020000,   \
	  .driver = "e1000e", .iommu_group = grp, .reset_method = "flr pm bus", .reset = true }

/* A desktop board: every root port isolated by ACS, a legacy PCI bridge that
 * cannot isolate what sits behind it, a GPU, an SR-IOV NIC. */
static const struct tb_pci standard_pci[] = {
	{ .addr = "0000:00:00.0", .vendor = 0x8086, .device = 0x3ec2, .subsystem_vendor = 0x1043,
	  .subsystem_device = 0x8694, .class_code = 0x060000, .revision = 0x07,
	  .iommu_group = "0" },
	{ .addr = "0000:00:01.0", .vendor = 0x8086, .device = 0x1901, .subsystem_vendor = 0x1043,
	  .subsystem_device = 0x8694, .class_code = 0x060400, .revision = 0x07,
	  .driver = "pcieport", .iommu_group = "1" },
	{ .addr = "0000:01:00.0", .parent = "0000:00:01.0", .vendor = 0x10de, .device = 0x1c82,
	  .subsystem_vendor = 0x1458, .subsystem_device = 0x3763, .class_code = 0x030000,
	  .revision = 0xa1, .driver = "nouveau", .iommu_group = "2", .reset_method = "bus",
	  .reset = true, .boot_vga = true },
	{ .addr = "0000:01:00.1", .parent = "0000:00:01.0", .vendor = 0x10de, .device = 0x0fb9,
	  .subsystem_vendor = 0x1458, .subsystem_device = 0x3763, .class_code = 0x040300,
	  .revision = 0xa1, .driver = "snd_hda_intel", .iommu_group = "2" },
	{ .addr = "0000:00:14.0", .vendor = 0x8086, .device = 0xa36d, .subsystem_vendor = 0x1043,
	  .subsystem_device = 0x8694, .class_code = 0x0c0330, .revision = 0x10,
	  .driver = "xhci_hcd", .iommu_group = "3", .reset_method = "pm", .reset = true },
	{ .addr = "0000:00:17.0", .vendor = 0x8086, .device = 0xa352, .subsystem_vendor = 0x1043,
	  .subsystem_device = 0x8694, .class_code = 0x010601, .revision = 0x10,
	  .driver = "ahci", .iommu_group = "4" },
	ROOT_PORT("0000:00:1c.0", 0xa338, "5"),
	E1000E("0000:02:00.0", "0000:00:1c.0", "6"),
	ROOT_PORT("0000:00:1c.1", 0xa339, "7"),
	E1000E("0000:03:00.0", "0000:00:1c.1", "8"),
	ROOT_PORT("0000:00:1c.2", 0xa33a, "9"),
	/* PCIe-to-PCI: no ACS below it, so one group for all. */
	{ .addr = "0000:04:00.0", .parent = "0000:00:1c.2", .vendor = 0x1b21, .device = 0x1080,
	  .class_code = 0x060401, .revision = 0x04, .iommu_group = "10" },
	{ .addr = "0000:05:00.0", .parent = "0000:04:00.0", .vendor = 0x10ec, .device = 0x8169,
	  .subsystem_vendor = 0x10ec, .subsystem_device = 0x8169, .class_code = 0x020000,
	  .revision = 0x10, .driver = "r8169", .iommu_group = "10" },
	{ .addr = "0000:05:01.0", .parent = "0000:04:00.0", .vendor = 0x9710, .device = 0x9865,
	  .subsystem_vendor = 0xa000, .subsystem_device = 0x1000, .class_code = 0x070002,
	  .driver = "serial", .iommu_group = "10" },
	{ .addr = "0000:05:02.0", .parent = "0000:04:00.0", .vendor = 0x1102, .device = 0x0002,
	  .subsystem_vendor = 0x1102, .subsystem_device = 0x8064, .class_code = 0x040100,
	  .revision = 0x0a, .driver = "snd_emu10k1", .iommu_group = "10" },
	ROOT_PORT("0000:00:1c.3", 0xa33b, "11"),
	{ .addr = "0000:06:00.0", .parent = "0000:00:1c.3", .vendor = 0x8086, .device = 0x10c9,
	  .subsystem_vendor = 0x8086, .subsystem_device = 0xa03c, .class_code = 0x020000,
	  .revision = 0x01, .driver = "igb", .iommu_group = "12", .numa_node = "0",
	  .reset_method = "flr bus", .reset = true, .sriov_totalvfs = 4, .sriov_numvfs = 2 },
	{ .addr = "0000:06:10.0", .parent = "0000:00:1c.3", .vendor = 0x8086, .device = 0x10ca,
	  .subsystem_vendor = 0x8086, .subsystem_device = 0xa03c, .class_code = 0x020000,
	  .revision = 0x01, .driver = "igbvf", .iommu_group = "13", .numa_node = "0",
	  .reset_method = "flr", .reset = true, .physfn = "0000:06:00.0", .vf_index = 0 },
	{ .addr = "0000:06:10.2", .parent = "0000:00:1c.3", .vendor = 0x8086, .device = 0x10ca,
	  .subsystem_vendor = 0x8086, .subsystem_device = 0xa03c, .class_code = 0x020000,
	  .revision = 0x01, .driver = "vfio-pci", .driver_override = "vfio-pci",
	  .native_driver = "igbvf",
	  .iommu_group = "14", .numa_node = "0", .reset_method = "flr", .reset = true,
	  .physfn = "0000:06:00.0", .vf_index = 1 },
	/* A hotplug slot, empty until a test plugs 0000:07:00.0 into it. */
	ROOT_PORT("0000:00:1c.4", 0xa33c, "15"),
	{ .addr = "0000:07:00.0", .parent = "0000:00:1c.4", .vendor = 0x8086, .device = 0x10d3,
	  .subsystem_vendor = 0x8086, .subsystem_device = 0xa01f, .class_code = 0x020000,
	  .driver = "e1000e", .iommu_group = "16", .reset_method = "flr pm bus", .reset = true,
	  .absent = true },
};

#define SANDISK_CRUZER(id_, devnum_, serial_)                                               \
	{ .id = id_, .parent = "1-2", .vendor = 0x0781, .product = 0x5567, .bcd_device = 0x0100, \
	  .busnum = 1, .devnum = devnum_, .manufacturer = "SanDisk",                          \
	  .product_name = "Cruzer Blade", .serial = serial_, .speed = "480", .driver = "usb" }

static const struct tb_usb standard_usb[] = {
	{ .id = "usb1", .parent = "0000:00:14.0", .vendor = 0x1d6b, .product = 0x0002,
	  .bcd_device = 0x0601, .device_class = 0x09, .busnum = 1, .devnum = 1,
	  .manufacturer = "Linux 6.1.0-18-amd64 xhci-hcd", .product_name = "xHCI Host Controller",
	  .serial = "0000:00:14.0", .speed = "480", .driver = "usb" },
	{ .id = "usb2", .parent = "0000:00:14.0", .vendor = 0x1d6b, .product = 0x0003,
	  .bcd_device = 0x0601, .device_class = 0x09, .busnum = 2, .devnum = 1,
	  .manufacturer = "Linux 6.1.0-18-amd64 xhci-hcd", .product_name = "xHCI Host Controller",
	  .serial = "0000:00:14.0", .speed = "5000", .driver = "usb" },
	{ .id = "1-2", .parent = "usb1", .vendor = 0x05e3, .product = 0x0610, .bcd_device = 0x9226,
	  .device_class = 0x09, .busnum = 1, .devnum = 2, .manufacturer = "GenesysLogic",
	  .product_name = "USB2.1 Hub", .speed = "480", .driver = "usb" },
	{ .id = "1-2.1", .parent = "1-2", .vendor = 0x046d, .product = 0xc31c, .bcd_device = 0x6400,
	  .busnum = 1, .devnum = 3, .manufacturer = "Logitech", .product_name = "USB Keyboard",
	  .speed = "1.5", .driver = "usb" },
	SANDISK_CRUZER("1-2.2", 4, "4C530001230815117394"),
	SANDISK_CRUZER("1-2.3", 5, "4C530001140918105142"),
	{ .id = "1-2.4", .parent = "1-2", .vendor = 0x0951, .product = 0x1666, .bcd_device = 0x0110,
	  .busnum = 1, .devnum = 6, .manufacturer = "Kingston", .product_name = "DataTraveler 3.0",
	  .serial = "E0D55EA574E1F4B0C9A8002B", .speed = "480", .driver = "usb", .absent = true },
};

static const struct {
	const char *device;
	struct tb_usb_iface iface;
} standard_ifaces[] = {
	{ "usb1", { "1-0:1.0", 0x09, 0x00, 0x00, "hub" } },
	{ "usb2", { "2-0:1.0", 0x09, 0x00, 0x00, "hub" } },
	{ "1-2", { "1-2:1.0", 0x09, 0x00, 0x01, "hub" } },
	{ "1-2.1", { "1-2.1:1.0", 0x03, 0x01, 0x01, "usbhid" } },
	{ "1-2.1", { "1-2.1:1.1", 0x03, 0x00, 0x00, "usbhid" } },
	{ "1-2.2", { "1-2.2:1.0", 0x08, 0x06, 0x50, "usb-storage" } },
	{ "1-2.3", { "1-2.3:1.0", 0x08, 0x06, 0x50, "usb-storage" } },
	{ "1-2.4", { "1-2.4:1.0", 0x08, 0x06, 0x50, "usb-storage" } },
};

void tb_build_standard(struct testbed *tb)
{
	/* The stubs' modules are loaded: a detach can bind them. */
	ensure_driver_dir(tb, "pci", "vfio-pci");
	ensure_driver_dir(tb, "pci", "pci-stub");
	for (size_t i = 0; i < ARRAY_SIZE(standard_pci); i++)
		tb_add_pci(tb, &standard_pci[i]);
	for (size_t i = 0; i < ARRAY_SIZE(standard_usb); i++)
		tb_add_usb_device(tb, &standard_usb[i]);
	for (size_t i = 0; i < ARRAY_SIZE(standard_ifaces); i++)
		tb_add_usb_interface(tb, standard_ifaces[i].device, &standard_ifaces[i].iface);
}

/* Root ports go 200 to a PCI domain (each needs its own bus number below
 * it); 32 endpoints sit behind each, one per slot. */
#define LARGE_PER_PORT 32
#define LARGE_PORTS_PER_DOMAIN 200

void tb_build_large(struct testbed *tb, size_t n)
{
	size_t ports = (n + LARGE_PER_PORT - 1) / LARGE_PER_PORT;
	int group = 0;

	/* As on the standard machine, the stubs' modules are loaded. */
	ensure_driver_dir(tb, "pci", "vfio-pci");
	ensure_driver_dir(tb, "pci", "pci-stub");
	for (size_t p = 0; p < ports; p++) {
		unsigned dom = (unsigned)(p / LARGE_PORTS_PER_DOMAIN);
		unsigned idx = (unsigned)(p % LARGE_PORTS_PER_DOMAIN);
		char port[16], grp[16];
		struct tb_pci rp = ROOT_PORT(port, 0xa338, grp);

		snprintf(port, sizeof(port), "%04x:00:%02x.%x", dom, idx / 8, idx % 8);
		snprintf(grp, sizeof(grp), "%d", group++);
		tb_add_pci(tb, &rp);
		for (size_t e = 0; e < LARGE_PER_PORT && p * LARGE_PER_PORT + e < n; e++) {
			char addr[16];
			struct tb_pci ep = E1000E(addr, port, grp);

			snprintf(addr, sizeof(addr), "%04x:%02x:%02zx.0", dom, idx + 1, e);
			snprintf(grp, sizeof(grp), "%d", group++);
			tb_add_pci(tb, &ep);
		}
	}
}

void tb_add_driver(struct testbed *tb, const char *bus, const char *driver)
{
	ensure_driver_dir(tb, bus, driver);
}

void tb_add_module(struct testbed *tb, const char *name)
{
	char path[PATH_MAX];
	int dfd;

	path_of(tb, path, "module/%s", name);
	mkdir_p(path);
	snprintf(path, sizeof(path), "module/%s", name);
	dfd = open_dir(tb, path);
	put_attr(dfd, "initstate", 0444, "%s", "live\n");
	close(dfd);
}

void tb_set_pci_ids(struct testbed *tb, const char *id, uint32_t vendor, uint32_t device)
{
	struct tb_node *n = node_must(tb, id);

	if (n->kind != TB_PCI || tb_present(tb, id))
		tb_fail("%s: only an absent PCI function can change its ids", id);
	n->spec.pci.vendor = vendor;
	n->spec.pci.device = device;
}
