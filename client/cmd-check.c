/* check: can this host pass devices through?  What libvirt's
 * virt-host-validate does, for passthrough.
 *
 * The host checks only read sysfs, procfs, the kernel's module lists and
 * /dev, so they work before hostdevd is installed or running, which is when
 * an administrator needs them most.  Every root can be moved by an
 * environment variable so that tests run on fake trees (and so that nothing
 * here is tempted to look elsewhere).  Nothing is ever written. */
#include "client/cmd.h"
#include "client/format.h"
#include "client/hdclient.h"
#include "common/jsonget.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

/* A stuck daemon should not hold up a check for the default 30 s. */
#define CHECK_DAEMON_TIMEOUT_MS 5000

struct host {
	const char *sysfs, *proc, *dev;
	char *modules; /* /lib/modules/<release> unless moved */
	char release[256];
	bool iommu; /* check 1 passed: the groups mean something */
};

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

static void host_init(struct host *h)
{
	struct utsname u;
	const char *rel = getenv("HOSTDEVD_KERNEL_RELEASE");

	h->sysfs = env_or("HOSTDEVD_SYSFS_ROOT", "/sys");
	h->proc = env_or("HOSTDEVD_PROC_ROOT", "/proc");
	h->dev = env_or("HOSTDEVD_DEV_ROOT", "/dev");
	if (rel && *rel)
		snprintf(h->release, sizeof(h->release), "%s", rel);
	else if (uname(&u) == 0)
		snprintf(h->release, sizeof(h->release), "%s", u.release);
	rel = getenv("HOSTDEVD_MODULES_DIR");
	h->modules = rel && *rel ? xstrdup(rel) : xasprintf("/lib/modules/%s", h->release);
}

/* ---- reading ---- */

/* Entries of a directory other than . and ..; -1 when it cannot be read. */
static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* The whole file, NUL-terminated; NULL when it cannot be read.  procfs
 * files report size 0, so read until the end. */
static char *read_all(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (cap - len < 4096)
			buf = xrealloc(buf, cap = cap ? cap * 2 : 8192);
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* ---- results ---- */

static void add(json_object *results, const char *check, const char *result, const char *detail,
		const char *advice)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "check", json_object_new_string(check));
	json_object_object_add(o, "result", json_object_new_string(result));
	json_object_object_add(o, "detail", json_object_new_string(detail));
	json_object_object_add(o, "advice", advice ? json_object_new_string(advice) : NULL);
	json_object_array_add(results, o);
}

/* ---- 1. the IOMMU ---- */

enum cpu_vendor { CPU_OTHER, CPU_INTEL, CPU_AMD };

static enum cpu_vendor cpu_vendor(const struct host *h)
{
	_cleanup_free_ char *path = xasprintf("%s/cpuinfo", h->proc);
	_cleanup_free_ char *text = read_all(path);

	if (text && strstr(text, "GenuineIntel"))
		return CPU_INTEL;
	if (text && strstr(text, "AuthenticAMD"))
		return CPU_AMD;
	return CPU_OTHER;
}

/* The kernel parameter already given means the kernel tried and found
 * nothing: then only the firmware setting is left to change. */
static bool cmdline_has(const struct host *h, const char *param)
{
	_cleanup_free_ char *path = xasprintf("%s/cmdline", h->proc);
	_cleanup_free_ char *text = read_all(path);

	return text && strstr(text, param);
}

static void check_iommu(struct host *h, json_object *results)
{
	_cleanup_free_ char *cls = xasprintf("%s/class/iommu", h->sysfs);
	_cleanup_free_ char *grp = xasprintf("%s/kernel/iommu_groups", h->sysfs);
	_cleanup_free_ char *detail = NULL, *advice = NULL;
	int units = count_entries(cls), groups = count_entries(grp);
	enum cpu_vendor v;
	const char *param, *firmware;

	if (units > 0 && groups > 0) {
		h->iommu = true;
		detail = xasprintf("%d IOMMU unit%s, %d IOMMU group%s", units,
				   units == 1 ? "" : "s", groups, groups == 1 ? "" : "s");
		add(results, "iommu", "PASS", detail, NULL);
		return;
	}
	v = cpu_vendor(h);
	param = v == CPU_INTEL ? "intel_iommu=on"
		: v == CPU_AMD ? "amd_iommu=on"
			       : "intel_iommu=on (Intel) or amd_iommu=on (AMD)";
	firmware = v == CPU_INTEL ? "VT-d" : v == CPU_AMD ? "AMD-Vi (IOMMU)" : "VT-d or AMD-Vi";
	detail = units > 0 ? xasprintf("%s has %d unit%s but %s has no groups: the IOMMU is not "
				       "enabled",
				       cls, units, units == 1 ? "" : "s", grp)
			   : xasprintf("no IOMMU: %s is empty or missing, so no device can be "
				       "passed through",
				       cls);
	if (v != CPU_OTHER && cmdline_has(h, param))
		advice = xasprintf("The kernel was booted with %s and still found no IOMMU: "
				   "enable %s in the firmware setup",
				   param, firmware);
	else
		advice = xasprintf("Add %s to the kernel command line (with iommu=pt to leave "
				   "the host's own devices untranslated), e.g. in "
				   "GRUB_CMDLINE_LINUX, and reboot; the firmware's %s must be "
				   "enabled too",
				   param, firmware);
	add(results, "iommu", "FAIL", detail, advice);
}

/* ---- 2. interrupt remapping ---- */

static void check_interrupt_remapping(const struct host *h, json_object *results)
{
	_cleanup_free_ char *path = xasprintf("%s/interrupts", h->proc);
	_cleanup_free_ char *text = read_all(path);
	_cleanup_free_ char *detail = NULL;
	static const char advice[] =
		"Without it vfio refuses devices unless vfio_iommu_type1's "
		"allow_unsafe_interrupts=1 is set, which lets a guest forge interrupts; "
		"enable interrupt remapping in the firmware (it comes with VT-d/AMD-Vi)";

	if (!text) {
		detail = xasprintf("cannot read %s: %s", path, strerror(errno));
		add(results, "interrupt-remapping", "WARN", detail, advice);
	} else if (strstr(text, "IR-PCI-MSI") || strstr(text, "IR-IO-APIC")) {
		add(results, "interrupt-remapping", "PASS",
		    "interrupts are remapped (IR- in /proc/interrupts)", NULL);
	} else {
		detail = xasprintf("no remapped interrupts (IR-PCI-MSI, IR-IO-APIC) in %s", path);
		add(results, "interrupt-remapping", "WARN", detail, advice);
	}
}

/* ---- 3. vfio-pci ---- */

/* A line of modules.dep ("kernel/drivers/vfio/pci/vfio-pci.ko.zst: deps")
 * or modules.builtin ("kernel/drivers/vfio/pci/vfio-pci.ko") names the
 * module want ("vfio_pci.ko"): kmod treats '-' and '_' as one. */
static bool names_module(const char *line, size_t len, const char *want)
{
	const char *end = memchr(line, ':', len), *base = line;
	size_t n, w = strlen(want);

	if (!end)
		end = line + len;
	for (const char *p = line; p < end; p++)
		if (*p == '/')
			base = p + 1;
	n = (size_t)(end - base);
	if (n < w)
		return false;
	for (size_t i = 0; i < w; i++)
		if ((base[i] == '-' ? '_' : base[i]) != want[i])
			return false;
	/* Exactly .ko, or .ko followed by a compression suffix. */
	return n == w || base[w] == '.';
}

static bool list_has_module(const char *path, const char *want)
{
	_cleanup_free_ char *text = read_all(path);

	for (const char *line = text, *nl; line && *line; line = *nl ? nl + 1 : nl) {
		nl = strchrnul(line, '\n');
		if (names_module(line, (size_t)(nl - line), want))
			return true;
	}
	return false;
}

/* Loaded, built in, or a module of this kernel. */
static bool kernel_has_module(const struct host *h, const char *name, const char *ko)
{
	_cleanup_free_ char *loaded = xasprintf("%s/module/%s", h->sysfs, name);
	_cleanup_free_ char *dep = xasprintf("%s/modules.dep", h->modules);
	_cleanup_free_ char *builtin = xasprintf("%s/modules.builtin", h->modules);

	return exists(loaded) || list_has_module(builtin, ko) || list_has_module(dep, ko);
}

static void check_vfio_pci(const struct host *h, json_object *results)
{
	_cleanup_free_ char *drv = xasprintf("%s/bus/pci/drivers/vfio-pci", h->sysfs);
	_cleanup_free_ char *dep = xasprintf("%s/modules.dep", h->modules);
	_cleanup_free_ char *builtin = xasprintf("%s/modules.builtin", h->modules);
	_cleanup_free_ char *detail = NULL, *advice = NULL;

	if (exists(drv)) {
		add(results, "vfio-pci", "PASS", "vfio-pci is loaded", NULL);
	} else if (list_has_module(builtin, "vfio_pci.ko")) {
		add(results, "vfio-pci", "PASS", "vfio-pci is built into the kernel", NULL);
	} else if (list_has_module(dep, "vfio_pci.ko")) {
		add(results, "vfio-pci", "PASS",
		    "vfio-pci is available as a module (hostdevd loads it when a device is "
		    "detached)",
		    NULL);
	} else {
		detail = xasprintf("vfio-pci is not loaded, nor listed in %s or %s", dep, builtin);
		advice = xasprintf("Install the modules of kernel %s that hold vfio-pci (e.g. "
				   "linux-modules-extra-%s on Ubuntu) or build the kernel with "
				   "CONFIG_VFIO_PCI",
				   h->release, h->release);
		add(results, "vfio-pci", "FAIL", detail, advice);
	}
}

/* ---- 4. VFIO cdev ---- */

static bool release_at_least(const char *release, int major, int minor)
{
	int a = 0, b = 0;

	if (sscanf(release, "%d.%d", &a, &b) < 2)
		return false;
	return a > major || (a == major && b >= minor);
}

/* VFIO cdev needs the kernel's iommufd (CONFIG_IOMMUFD): a kernel of 6.6 or
 * later without it has no cdev.  Debian builds its kernels so (6.12 and 7.3
 * too), hence the module lists are read rather than the release trusted. */
static void check_vfio_cdev(const struct host *h, json_object *results)
{
	_cleanup_free_ char *devices = xasprintf("%s/vfio/devices", h->dev);
	_cleanup_free_ char *detail = NULL;
	static const char group_only[] =
		"Guests use /dev/vfio/GROUP, which works; VFIO cdev (/dev/vfio/devices, "
		"iommufd) needs kernel 6.6 or later built with CONFIG_IOMMUFD and "
		"CONFIG_VFIO_DEVICE_CDEV";

	if (exists(devices)) {
		detail = xasprintf("%s exists", devices);
		add(results, "vfio-cdev", "PASS", detail, NULL);
	} else if (!release_at_least(h->release, 6, 6)) {
		detail = xasprintf("kernel %s, no %s: group interface only", h->release, devices);
		add(results, "vfio-cdev", "WARN", detail, group_only);
	} else if (kernel_has_module(h, "iommufd", "iommufd.ko")) {
		/* The directory appears with the first device bound to vfio. */
		detail = xasprintf("kernel %s has iommufd: VFIO cdev nodes appear in %s as "
				   "devices are bound to vfio-pci",
				   h->release, devices);
		add(results, "vfio-cdev", "PASS", detail, NULL);
	} else {
		detail = xasprintf("kernel %s was built without iommufd (not loaded, nor in "
				   "modules.dep or modules.builtin), so without VFIO cdev: group "
				   "interface only",
				   h->release);
		add(results, "vfio-cdev", "WARN", detail, group_only);
	}
}

/* ---- 5. shared IOMMU groups ---- */

static int cmp_group_names(const void *a, const void *b)
{
	long x = strtol(*(char *const *)a, NULL, 10), y = strtol(*(char *const *)b, NULL, 10);

	return (x > y) - (x < y);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory, sorted by cmp, up to NULL; NULL when unreadable. */
static char **dir_names(const char *path, int (*cmp)(const void *, const void *), size_t *n)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **names = NULL;

	*n = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		names = xrealloc(names, (*n + 2) * sizeof(*names));
		names[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (names) {
		names[*n] = NULL;
		qsort(names, *n, sizeof(*names), cmp);
	}
	return names;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* PCI-to-PCI bridges (class 0x0604) sit in their devices' groups without
 * going to a guest; only endpoints count as sharing. */
static bool is_bridge(const char *devdir)
{
	_cleanup_free_ char *path = xasprintf("%s/class", devdir);
	_cleanup_free_ char *text = read_all(path);

	return text && (strtoul(text, NULL, 16) >> 8) == 0x0604;
}

/* Appends a, b and c to *s. */
static void append(char **s, const char *a, const char *b, const char *c)
{
	char *longer = xasprintf("%s%s%s%s", *s ? *s : "", a, b, c);

	free(*s);
	*s = longer;
}

static void check_groups(const struct host *h, json_object *results)
{
	_cleanup_free_ char *root = xasprintf("%s/kernel/iommu_groups", h->sysfs);
	_cleanup_free_ char *list = NULL, *detail = NULL;
	size_t n_groups, n_dev;
	char **groups;
	int shared_groups = 0, shared_devices = 0;

	if (!h->iommu) {
		add(results, "iommu-groups", "SKIP", "no IOMMU, so no groups to look at", NULL);
		return;
	}
	groups = dir_names(root, cmp_group_names, &n_groups);
	for (size_t g = 0; g < n_groups; g++) {
		_cleanup_free_ char *gdir = xasprintf("%s/%s/devices", root, groups[g]);
		char **devs = dir_names(gdir, cmp_names, &n_dev);
		_cleanup_free_ char *members = NULL;
		int endpoints = 0;

		for (size_t i = 0; i < n_dev; i++) {
			_cleanup_free_ char *ddir = xasprintf("%s/%s", gdir, devs[i]);

			if (is_bridge(ddir))
				continue;
			append(&members, endpoints ? ", " : "", devs[i], "");
			endpoints++;
		}
		if (endpoints > 1) {
			shared_groups++;
			shared_devices += endpoints;
			append(&list, list ? "; " : "", "group ", groups[g]);
			append(&list, " (", members, ")");
		}
		free_names(devs, n_dev);
	}
	free_names(groups, n_groups);
	if (!shared_groups) {
		add(results, "iommu-groups", "PASS",
		    "every IOMMU group holds one device (bridges aside)", NULL);
		return;
	}
	detail = xasprintf("%d device%s share%s %d IOMMU group%s with others: %s", shared_devices,
			   shared_devices == 1 ? "" : "s", shared_devices == 1 ? "s" : "",
			   shared_groups, shared_groups == 1 ? "" : "s", list);
	add(results, "iommu-groups", "WARN", detail,
	    "A device goes to a guest only with every device of its group (functions of one "
	    "card, e.g. a GPU and its audio, go together as a matter of course); for others, "
	    "use a slot behind ACS-capable ports (pcie_acs_override=... only hides the "
	    "problem)");
}

/* ---- 6. hostdevd ---- */

static void check_daemon(const struct ctl *ctl, json_object *results)
{
	struct hdclient_error err;
	struct hdclient *c = hdclient_connect(ctl->socket_path, &err);
	_cleanup_free_ char *detail = NULL, *advice = NULL;
	json_object *reply, *version;
	const char *error;

	if (!c) {
		bool absent = err.errnum == ENOENT || err.errnum == ECONNREFUSED;
		bool denied = err.errnum == EACCES || err.errnum == EPERM;

		detail = xasprintf("%s (%s)",
				   absent   ? "hostdevd is not running"
				   : denied ? "no permission on hostdevd's socket"
					    : "cannot reach hostdevd",
				   err.message);
		advice = xasprintf("%s; the host checks above do not need it",
				   absent   ? "Start it: systemctl enable --now hostdevd, or "
					      "hostdevd --foreground (or point --socket / "
					      "HOSTDEVD_SOCKET at it)"
				   : denied ? "Run as root or as a member of the socket's group"
					    : "See hostdevd's log");
		add(results, "hostdevd", "WARN", detail, advice);
		return;
	}
	hdclient_set_timeout(c, ctl->timeout_given ? ctl->timeout_ms : CHECK_DAEMON_TIMEOUT_MS);
	if (hdclient_call(c, "io.hostdevd.GetStatus", NULL, &reply, &error) < 0) {
		detail = xasprintf("hostdevd on %s does not answer: %s", ctl->socket_path,
				   hdclient_last_error(c)->message);
		add(results, "hostdevd", "WARN", detail, "See hostdevd's log (journalctl -u hostdevd)");
	} else if (error) {
		detail = xasprintf("hostdevd on %s answered GetStatus with %s", ctl->socket_path,
				   error);
		add(results, "hostdevd", "WARN", detail, "See hostdevd's log (journalctl -u hostdevd)");
	} else {
		detail = xasprintf("hostdevd %s answers on %s",
				   json_object_object_get_ex(reply, "version", &version)
					   ? json_object_get_string(version)
					   : "(no version)",
				   ctl->socket_path);
		add(results, "hostdevd", "PASS", detail, NULL);
	}
	hdclient_free(c);
}

/* ---- the command ---- */

static void put_safe(FILE *out, const char *s)
{
	_cleanup_free_ char *clean = text_sanitized(s, "");

	fputs(clean, out);
}

static void render_checks(FILE *out, json_object *results)
{
	for (size_t i = 0; i < json_object_array_length(results); i++) {
		json_object *o = json_object_array_get_idx(results, i), *v;
		const char *advice = json_object_object_get_ex(o, "advice", &v) && v
					     ? json_object_get_string(v)
					     : NULL;

		json_object_object_get_ex(o, "result", &v);
		fprintf(out, "%-4s  ", json_object_get_string(v));
		json_object_object_get_ex(o, "check", &v);
		fprintf(out, "%-19s  ", json_object_get_string(v));
		json_object_object_get_ex(o, "detail", &v);
		/* Module and socket paths come from the environment: keep the
		 * terminal safe as everything else hostdevctl prints is. */
		put_safe(out, json_object_get_string(v));
		if (advice) {
			fputs(". ", out);
			put_safe(out, advice);
		}
		fputc('\n', out);
	}
}

static int check_exec(struct cmd_run *run)
{
	struct host h = {};
	json_object *results = json_object_new_array();
	bool failed = false;
	int r;

	host_init(&h);
	check_iommu(&h, results);
	check_interrupt_remapping(&h, results);
	check_vfio_pci(&h, results);
	check_vfio_cdev(&h, results);
	check_groups(&h, results);
	check_daemon(&run->ctl, results);
	for (size_t i = 0; i < json_object_array_length(results); i++) {
		json_object *v;

		json_object_object_get_ex(json_object_array_get_idx(results, i), "result", &v);
		failed |= streq(json_object_get_string(v), "FAIL");
	}
	/* Printed through the run, so that --json is the common option. */
	cmd_print(run, results);
	r = finish_output();
	json_object_put(results);
	free(h.modules);
	return r != EXIT_DONE ? r : failed ? EXIT_FAILED : EXIT_DONE;
}

const struct cmd_entry cmd_check_entry = {
	.name = "check",
	.text = "Whether this host can pass devices through, without\n"
		"hostdevd: IOMMU, interrupt remapping, vfio-pci, VFIO\n"
		"cdev, shared IOMMU groups; then whether hostdevd\n"
		"answers.  PASS, WARN, FAIL (exit 1) or SKIP, each with\n"
		"what to do.\n",
	.exec = check_exec,
	.render = render_checks,
};
