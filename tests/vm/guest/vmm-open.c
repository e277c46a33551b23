/* vmm-open: an unprivileged VMM, inside the test VM (tests/vm).  It drops
 * to the uid it is given, claims a PCI function through libhostdev with a
 * lease on itself, has hostdevd pass it the device's VFIO node
 * (io.hostdevd.OpenDevice) and reaches the device through that descriptor
 * alone, as Cloud Hypervisor does with a pre-opened cdev:
 *
 *   cdev   bind it to an iommufd of its own (/dev/iommu), attach it to a
 *          new IO address space, VFIO_DEVICE_GET_INFO;
 *   group  set the group into a container of its own (/dev/vfio/vfio), take
 *          the device descriptor from the group, VFIO_DEVICE_GET_INFO.
 *
 *   vmm-open --owner DRIVER/DOMAIN [--uid N --gid N [--group N]...]
 *            [--expect cdev|group] [--no-access] [--hold [--ready-file PATH]]
 *            [--socket PATH] [--dev-root DIR] PCI_ADDRESS
 *
 * --no-access first proves the point: the node hostdevd opened must not be
 * readable and writable by this uid (access(2), which opens nothing: a
 * group node admits one opener at a time).  Prints one line once the
 * device is open; with --hold it then waits for SIGTERM, SIGINT or the end
 * of stdin.  Its exit ends the lease, and hostdevd releases the claim.
 *
 * Exit status: 0 done, 1 a step failed (stderr names it), 2 usage. */
#include "libhostdev/hostdev.h"
#include "tests/vm/guest/guestutil.h"
#include "tests/vm/guest/hold.h"
#include "tests/vm/guest/vfiodev.h"

#define PROG "vmm-open"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_GROUPS 8

struct options {
	const char *addr;
	const char *socket;
	const char *dev_root;
	const char *expect;
	const char *ready_file;
	char driver[64], domain[128];
	long uid, gid;
	gid_t groups[MAX_GROUPS];
	size_t n_groups;
	bool no_access, hold;
};

struct vmm {
	int node, iommufd, container, device;
	bool cdev;
	char *path;
	unsigned group_nr;
	uint32_t ioas;
	struct vfio_device_info info;
};

static const char usage_text[] =
	"usage: vmm-open --owner DRIVER/DOMAIN [--uid N --gid N [--group N]...]\n"
	"                [--expect cdev|group] [--no-access] [--hold [--ready-file PATH]]\n"
	"                [--socket PATH] [--dev-root DIR] PCI_ADDRESS\n"
	"Claims the PCI function with a lease on itself, has hostdevd pass its VFIO\n"
	"node (OpenDevice) and opens the device through that descriptor.\n"
	"  --uid, --gid, --group  drop to this uid, gid and supplementary groups first\n"
	"  --expect KIND          fail unless hostdevd passes a cdev or a group node\n"
	"  --no-access            fail if this uid could open the node itself\n"
	"  --hold                 keep the device until SIGTERM, SIGINT or end of stdin\n"
	"  --ready-file PATH      with --hold: write \"ready\" to PATH once open\n"
	"  --socket PATH          hostdevd's socket (default: libhostdev's)\n"
	"  --dev-root DIR         where iommu and vfio/vfio are (default /dev)\n";

__attribute__((format(printf, 3, 4))) static int fail(const struct options *o, const char *step,
						      const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": %s: %s: ", o->addr, step);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static int hd_failed(const struct options *o, const char *step, struct hd_error *err)
{
	fail(o, step, "%s (%s)", hd_error_message(err), hd_error_name(err));
	hd_error_free(err);
	return -1;
}

static bool parse_id(const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return *s && !*end && !errno && *out >= 0 && *out < 0x7fffffff;
}

static bool parse_owner(const char *s, struct options *o)
{
	const char *slash = strchr(s, '/');

	if (!slash || slash == s || !slash[1] || (size_t)(slash - s) >= sizeof(o->driver) ||
	    strlen(slash + 1) >= sizeof(o->domain))
		return false;
	memcpy(o->driver, s, (size_t)(slash - s));
	o->driver[slash - s] = '\0';
	strcpy(o->domain, slash + 1);
	return true;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "owner", required_argument, NULL, 'o' },
		{ "uid", required_argument, NULL, 'u' },
		{ "gid", required_argument, NULL, 'g' },
		{ "group", required_argument, NULL, 'G' },
		{ "expect", required_argument, NULL, 'e' },
		{ "no-access", no_argument, NULL, 'n' },
		{ "hold", no_argument, NULL, 'H' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "socket", required_argument, NULL, 's' },
		{ "dev-root", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (!parse_owner(optarg, o))
				return guest_usage_error(PROG, usage_text,
							 "'%s' is not DRIVER/DOMAIN", optarg);
			break;
		case 'u':
		case 'g':
		case 'G':
			if (!parse_id(optarg, &v))
				return guest_usage_error(PROG, usage_text, "'%s' is not an id", optarg);
			if (c == 'u')
				o->uid = v;
			else if (c == 'g')
				o->gid = v;
			else if (o->n_groups == MAX_GROUPS)
				return guest_usage_error(PROG, usage_text, "more than %d groups",
							 MAX_GROUPS);
			else
				o->groups[o->n_groups++] = (gid_t)v;
			break;
		case 'e':
			if (strcmp(optarg, "cdev") && strcmp(optarg, "group"))
				return guest_usage_error(PROG, usage_text,
							 "--expect takes cdev or group, not '%s'", optarg);
			o->expect = optarg;
			break;
		case 'n': o->no_access = true; break;
		case 'H': o->hold = true; break;
		case 'r': o->ready_file = optarg; break;
		case 's': o->socket = optarg; break;
		case 'd': o->dev_root = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return guest_usage_error(PROG, usage_text, "bad option '%s'", argv[optind - 1]);
		}
	}
	if ((r = guest_pci_address_operand(PROG, usage_text, argc, argv, &o->addr)) >= 0)
		return r;
	if (!o->driver[0])
		return guest_usage_error(PROG, usage_text, "%s", "--owner is required");
	if ((o->uid < 0) != (o->gid < 0))
		return guest_usage_error(PROG, usage_text, "%s", "--uid and --gid go together");
	if (o->n_groups && o->uid < 0)
		return guest_usage_error(PROG, usage_text, "%s", "--group needs --uid and --gid");
	if (o->ready_file && !o->hold)
		return guest_usage_error(PROG, usage_text, "%s", "--ready-file needs --hold");
	return -1;
}

/* Groups first, the uid last: after setuid nothing else may change. */
static int drop_privileges(const struct options *o)
{
	if (o->uid < 0)
		return 0;
	if (setgroups(o->n_groups, o->groups) < 0)
		return fail(o, "setgroups", "%s", strerror(errno));
	if (setgid((gid_t)o->gid) < 0)
		return fail(o, "setgid", "%s", strerror(errno));
	if (setuid((uid_t)o->uid) < 0)
		return fail(o, "setuid", "%s", strerror(errno));
	if (geteuid() != (uid_t)o->uid || getuid() != (uid_t)o->uid)
		return fail(o, "setuid", "still uid %u/%u", getuid(), geteuid());
	return 0;
}

static int open_under(const struct options *o, const char *name, const char *step, int *fd)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", o->dev_root, name);
	*fd = open(path, O_RDWR | O_CLOEXEC);
	return *fd < 0 ? fail(o, step, "%s: %s", path, strerror(errno)) : 0;
}

/* Claim with a lease on this process, then OpenDevice. */
static int claim_and_receive(const struct options *o, struct hd_manager *mgr, struct vmm *v)
{
	const struct hd_owner owner = { .driver = o->driver, .domain = o->domain };
	const char *ids[] = { o->addr };
	struct hd_error *err = NULL;

	if (hd_prepare_pci_devices(mgr, &owner, ids, 1, HD_LEASE, NULL, &err) < 0)
		return hd_failed(o, "claim", err);
	if (hd_open_device(mgr, &owner, o->addr, &v->node, &v->cdev, &v->path, &err) < 0)
		return hd_failed(o, "OpenDevice", err);
	if (o->expect && strcmp(o->expect, v->cdev ? "cdev" : "group"))
		return fail(o, "OpenDevice", "passed a %s (%s), expected a %s",
			    v->cdev ? "cdev" : "group node", v->path, o->expect);
	if (o->no_access && access(v->path, R_OK | W_OK) == 0)
		return fail(o, "no access", "uid %u could open %s itself", getuid(), v->path);
	return 0;
}

static int use_cdev(const struct options *o, struct vmm *v)
{
	struct vfio_step_error e;

	if (open_under(o, "iommu", "open iommufd", &v->iommufd) < 0)
		return -1;
	if (vfio_cdev_attach(v->node, v->iommufd, &v->ioas, &e) < 0 ||
	    vfio_device_info(v->node, &v->info, &e) < 0)
		return fail(o, e.step, "%s", e.what);
	return 0;
}

static int use_group(const struct options *o, struct vmm *v)
{
	const char *base = strrchr(v->path, '/');
	struct vfio_step_error e;

	v->group_nr = (unsigned)strtoul(base ? base + 1 : v->path, NULL, 10);
	if (open_under(o, "vfio/vfio", "open container", &v->container) < 0)
		return -1;
	if (vfio_container_check(v->container, &e) < 0 ||
	    vfio_group_attach(v->node, v->group_nr, v->container, &e) < 0 ||
	    (v->device = vfio_group_device(v->node, o->addr, &e)) < 0 ||
	    vfio_device_info(v->device, &v->info, &e) < 0)
		return fail(o, e.step, "%s", e.what);
	return 0;
}


/* The device before what it was reached through. */
static void vmm_close(struct vmm *v)
{
	if (v->device >= 0)
		close(v->device);
	if (v->node >= 0)
		close(v->node);
	if (v->iommufd >= 0)
		close(v->iommufd);
	if (v->container >= 0)
		close(v->container);
	free(v->path);
}

int main(int argc, char **argv)
{
	struct options o = { .dev_root = "/dev", .uid = -1, .gid = -1 };
	struct vmm v = { .node = -1, .iommufd = -1, .container = -1, .device = -1 };
	struct hd_manager *mgr = NULL;
	struct hd_error *err = NULL;
	int sigfd = -1, input = -1, r;

	if ((r = parse_args(argc, argv, &o)) >= 0)
		return r;
	if (o.hold) {
		input = fcntl(STDIN_FILENO, F_GETFD) >= 0 ? STDIN_FILENO : -1;
		if ((sigfd = hold_signals_block()) < 0) {
			fail(&o, "signalfd", "%s", strerror(-sigfd));
			return 1;
		}
	}
	r = drop_privileges(&o);
	if (r == 0) {
		mgr = o.socket ? hd_manager_open(o.socket, &err) : hd_manager_get_default(&err);
		if (!mgr)
			r = hd_failed(&o, "connect", err);
	}
	if (r == 0)
		r = claim_and_receive(&o, mgr, &v);
	if (r == 0)
		r = v.cdev ? use_cdev(&o, &v) : use_group(&o, &v);
	if (r == 0) {
		printf(PROG ": %s: uid %u: %s %s passed by hostdevd: device open, %u regions, "
		       "%u irqs, flags 0x%x\n",
		       o.addr, getuid(), v.cdev ? "cdev" : "group", v.path, v.info.num_regions,
		       v.info.num_irqs, v.info.flags);
		fflush(stdout);
		if (o.hold)
			r = hold_device(PROG, o.addr, o.ready_file, sigfd, input);
	}
	vmm_close(&v);
	hd_manager_free(mgr);
	if (sigfd >= 0)
		close(sigfd);
	return r == 0 ? 0 : 1;
}
