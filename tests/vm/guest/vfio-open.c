/* vfio-open: opens a PCI function through VFIO the way a hypervisor does,
 * inside the test VM (tests/vm), so that a scenario can prove that a device
 * hostdevd detached is usable: its IOMMU group viable, the group and the
 * device fd obtainable (the kernel's uAPI, <linux/vfio.h>).
 *
 *   vfio-open [--hold] [--ready-file PATH] PCI_ADDRESS
 *
 * Prints one line and exits 0 once the device fd is open.  With --hold it
 * keeps everything open, writes "ready\n" to the ready file, and waits for
 * SIGTERM, SIGINT or end of file on stdin: while the device fd is open, the
 * kernel's unbind of the device blocks (scenario 8).  A shell gives a
 * background job /dev/null as stdin, i.e. an immediate end of file: give
 * such a job a pipe or a FIFO, or end it with a signal and close stdin
 * (`<&-`), which leaves nothing to watch there.
 *
 * --sys-root and --dev-root (default /sys and /dev) let the host tests run
 * it on a directory tree; nothing else reads or opens outside them.
 *
 * Exit status: 0 done, 1 a step failed (stderr names it, with the kernel's
 * error), 2 usage. */
#include "tests/vm/guest/hold.h"

#include "tests/vm/guest/guestutil.h"
#include "tests/vm/guest/vfiodev.h"

#define PROG "vfio-open"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/vfio.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct options {
	const char *addr;
	const char *ready_file;
	const char *sys_root;
	const char *dev_root;
	bool hold;
};

struct vfio {
	int container, group, device;
	unsigned group_nr;
	struct vfio_device_info info;
};

static const char usage_text[] =
	"usage: vfio-open [--hold] [--ready-file PATH] [--sys-root DIR] [--dev-root DIR] "
	"PCI_ADDRESS\n"
	"Opens the PCI function's VFIO group and device; prints one line.\n"
	"  --hold             keep them open until SIGTERM, SIGINT or end of stdin\n"
	"  --ready-file PATH  with --hold: write \"ready\" to PATH once open\n"
	"  --sys-root DIR     read sysfs under DIR (default /sys)\n"
	"  --dev-root DIR     open the VFIO nodes under DIR/vfio (default /dev)\n";

/* Prints "vfio-open: ADDR: STEP: ..." and returns -1. */
__attribute__((format(printf, 3, 4))) static int fail(const struct options *o, const char *step,
						      const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vfio-open: %s: %s: ", o->addr, step);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "hold", no_argument, NULL, 'H' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "sys-root", required_argument, NULL, 's' },
		{ "dev-root", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'H': o->hold = true; break;
		case 'r': o->ready_file = optarg; break;
		case 's': o->sys_root = optarg; break;
		case 'd': o->dev_root = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return guest_usage_error(PROG, usage_text, "bad option '%s'", argv[optind - 1]);
		}
	}
	if ((r = guest_pci_address_operand(PROG, usage_text, argc, argv, &o->addr)) >= 0)
		return r;
	if (o->ready_file && !o->hold)
		return guest_usage_error(PROG, usage_text, "%s", "--ready-file needs --hold");
	return -1;
}

/* The group number from the device's iommu_group link. */
static int find_group(const struct options *o, unsigned *group)
{
	char dev[PATH_MAX], link[PATH_MAX + 16], target[PATH_MAX], *end;
	const char *base;
	unsigned long v;
	ssize_t n;

	snprintf(dev, sizeof(dev), "%s/bus/pci/devices/%s", o->sys_root, o->addr);
	if (access(dev, F_OK) < 0)
		return fail(o, "iommu_group", "%s: %s (no such PCI device)", dev, strerror(errno));
	snprintf(link, sizeof(link), "%s/iommu_group", dev);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return fail(o, "iommu_group", "%s: %s%s", link, strerror(errno),
			    errno == ENOENT ? " (no IOMMU group: is the IOMMU on?)" : "");
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	errno = 0;
	v = strtoul(base, &end, 10);
	if (!isdigit((unsigned char)*base) || *end || errno || v > UINT_MAX)
		return fail(o, "iommu_group", "%s points to %s, not an IOMMU group", link, target);
	*group = (unsigned)v;
	return 0;
}

static int open_node(const struct options *o, const char *name, const char *step, int *fd)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/vfio/%s", o->dev_root, name);
	*fd = open(path, O_RDWR | O_CLOEXEC);
	return *fd < 0 ? fail(o, step, "%s: %s", path, strerror(errno)) : 0;
}

/* Reports a shared step's failure in this program's words. */
static int step_failed(const struct options *o, const struct vfio_step_error *e)
{
	return fail(o, e->step, "%s", e->what);
}

/* The group node is opened before the container: a device that is not on
 * vfio-pci has none, the likeliest failure, and it is reported as such
 * (QEMU opens them in the same order). */
static int vfio_open_device(const struct options *o, struct vfio *v)
{
	struct vfio_step_error e;
	char name[16];

	if (find_group(o, &v->group_nr) < 0)
		return -1;
	snprintf(name, sizeof(name), "%u", v->group_nr);
	if (open_node(o, name, "open group", &v->group) < 0 ||
	    open_node(o, "vfio", "open container", &v->container) < 0)
		return -1;
	if (vfio_container_check(v->container, &e) < 0 ||
	    vfio_group_attach(v->group, v->group_nr, v->container, &e) < 0 ||
	    (v->device = vfio_group_device(v->group, o->addr, &e)) < 0 ||
	    vfio_device_info(v->device, &v->info, &e) < 0)
		return step_failed(o, &e);
	return 0;
}

/* The device first: closing the group then takes it out of the container. */
static void vfio_close(struct vfio *v)
{
	if (v->device >= 0)
		close(v->device);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
}


int main(int argc, char **argv)
{
	struct options o = { .sys_root = "/sys", .dev_root = "/dev" };
	struct vfio v = { .container = -1, .group = -1, .device = -1 };
	int sigfd = -1, input = -1, r;

	if ((r = parse_args(argc, argv, &o)) >= 0)
		return r;
	if (o.hold) {
		/* Decided before anything is opened: a closed stdin's number
		 * would go to one of our own descriptors. */
		input = fcntl(STDIN_FILENO, F_GETFD) >= 0 ? STDIN_FILENO : -1;
		if ((sigfd = hold_signals_block()) < 0) {
			fail(&o, "signalfd", "%s", strerror(-sigfd));
			return 1;
		}
	}
	r = vfio_open_device(&o, &v);
	if (r == 0) {
		printf("vfio-open: %s group %u: device fd open, %u regions, %u irqs, flags 0x%x\n",
		       o.addr, v.group_nr, v.info.num_regions, v.info.num_irqs, v.info.flags);
		fflush(stdout);
		if (o.hold)
			r = hold_device(PROG, o.addr, o.ready_file, sigfd, input);
	}
	vfio_close(&v);
	if (sigfd >= 0)
		close(sigfd);
	return r == 0 ? 0 : 1;
}
