/* Host-critical checks on hand-built trees: each test makes a fresh temp
 * directory holding sys/ and proc/, with the class links relative as the
 * kernel (and umockdev) makes them, and asks about devices whose syspaths
 * lie in it.  Nothing here reads this machine's /sys; the IPv4 default
 * source test reads its interfaces through getifaddrs(3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/util.h"
#include "policy/hostcrit.h"
#include "state/device.h"
#include "tests/common/rmtree.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define SATA "devices/pci0000:00/0000:00:1f.2"
#define SATA_DISK SATA "/ata1/host0/target0:0:0/0:0:0:0/block/sda"
#define NVME "devices/pci0000:00/0000:00:1d.0/0000:04:00.0"
#define NVME_DISK NVME "/nvme/nvme0/nvme0n1"
#define XHCI "devices/pci0000:00/0000:00:14.0"
#define STICK XHCI "/usb1/1-2"
#define STICK_DISK STICK "/1-2:1.0/host6/target6:0:0/6:0:0:0/block/sdb"
#define NIC "devices/pci0000:00/0000:00:1c.0/0000:03:00.0"
#define NIC2 "devices/pci0000:00/0000:00:1c.1/0000:05:00.0"
#define SERIAL "devices/pci0000:00/0000:00:1e.0"
#define GPU "devices/pci0000:00/0000:00:02.0"
#define VIRT "devices/virtual"
#define EMPTY_SWAPS "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
#define IF_INET6_LINK_LOCAL "fe80000000000000021122fffe334455 02 40 20 80     eth0\n"
#define ROUTE_HEADER                                                                     \
	"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
/* A /proc/net/route line: the kernel prints the network-order words raw. */
#define ROUTE4(ifname, dest, gw, flags, mask) \
	ifname "\t" dest "\t" gw "\t" flags "\t0\t0\t0\t" mask "\t0\t0\t0\n"

struct fx {
	char root[64], sys[96], proc[96];
	struct hostcrit *hc;
	struct device *devs[8];
	size_t n_devs;
	char buf[512];
	/* what the IPv4 seam answers */
	const char *v4_ifname;
	struct hostcrit_ipv4 v4[2];
	int v4_n;
	unsigned v4_calls;
};

static struct fx *F;

/* ---- building the tree --------------------------------------------------- */

static void mkdirs(const char *path)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
		*s = '/';
	}
	assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
}

static void parent_dirs(const char *path)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", path);
	*strrchr(p, '/') = '\0';
	mkdirs(p);
}

/* Writes a file at root/rel, creating its directories. */
static void put(const char *rel, const char *content)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", F->root, rel);
	parent_dirs(path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(content, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* /proc/net/route with its header line and these lines. */
static void put_route4(const char *lines)
{
	char text[1024];

	snprintf(text, sizeof(text), ROUTE_HEADER "%s", lines);
	put("proc/net/route", text);
}

static void put_link(const char *rel, const char *target)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", F->root, rel);
	parent_dirs(path);
	assert_int_equal(symlink(target, path), 0);
}

static void mkdir_rel(const char *rel)
{
	char path[2 * PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", F->root, rel);
	mkdirs(path);
}

/* sys/class/<cls>/<name> -> ../../<devpath>, as the kernel links it. */
static void add_class(const char *cls, const char *name, const char *devpath)
{
	char link[PATH_MAX], target[PATH_MAX];

	snprintf(link, sizeof(link), "sys/%s", devpath);
	mkdir_rel(link);
	snprintf(link, sizeof(link), "sys/class/%s/%s", cls, name);
	snprintf(target, sizeof(target), "../../%s", devpath);
	put_link(link, target);
}

static void add_block(const char *name, const char *devpath, const char *majmin)
{
	char rel[PATH_MAX];

	add_class("block", name, devpath);
	snprintf(rel, sizeof(rel), "sys/%s/dev", devpath);
	put(rel, majmin);
}

/* A dm device: its dev, dm/name and dm/uuid, as device-mapper fills them. */
static void add_dm(const char *name, const char *majmin, const char *dm_name, const char *uuid)
{
	char rel[PATH_MAX], devpath[256];

	snprintf(devpath, sizeof(devpath), VIRT "/block/%s", name);
	add_block(name, devpath, majmin);
	snprintf(rel, sizeof(rel), "sys/%s/dm/name", devpath);
	put(rel, dm_name);
	snprintf(rel, sizeof(rel), "sys/%s/dm/uuid", devpath);
	put(rel, uuid);
}

static void add_md(const char *name, const char *majmin)
{
	char rel[PATH_MAX], devpath[256];

	snprintf(devpath, sizeof(devpath), VIRT "/block/%s", name);
	add_block(name, devpath, majmin);
	snprintf(rel, sizeof(rel), "sys/%s/md/level", devpath);
	put(rel, "raid1\n");
}

/* holder appears in <devpath>/holders, as the kernel's bd_link_disk_holder
 * makes it. */
static void add_holder(const char *devpath, const char *holder)
{
	char rel[PATH_MAX], target[PATH_MAX];

	snprintf(rel, sizeof(rel), "sys/%s/holders/%s", devpath, holder);
	snprintf(target, sizeof(target), "%s/sys/" VIRT "/block/%s", F->root, holder);
	put_link(rel, target);
}

static void add_net(const char *name, const char *devpath, const char *flags)
{
	char rel[2 * PATH_MAX];

	add_class("net", name, devpath);
	snprintf(rel, sizeof(rel), "sys/%s/flags", devpath);
	put(rel, flags);
}

static void set_master(const char *devpath, const char *master)
{
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "sys/%s/master", devpath);
	put_link(rel, master);
}

static struct device *add_dev(enum hd_bus bus, const char *id, const char *devpath)
{
	struct device *d = device_new(bus, id);
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", F->sys, devpath);
	d->syspath = xstrdup(path);
	mkdirs(path);
	assert_true(F->n_devs < ARRAY_SIZE(F->devs));
	F->devs[F->n_devs++] = d;
	return d;
}

static struct device *pci(const char *devpath)
{
	return add_dev(HD_BUS_PCI, strrchr(devpath, '/') + 1, devpath);
}

static const char *reason(const struct device *d)
{
	return hostcrit_reason(F->hc, d, F->buf, sizeof(F->buf));
}

static void assert_reason(const struct device *d, const char *want)
{
	const char *r = reason(d);

	assert_non_null(r);
	assert_ptr_equal(r, F->buf);
	assert_string_equal(r, want);
}

/* ---- fixture ------------------------------------------------------------- */

static int setup(void **state)
{
	F = xcalloc(1, sizeof(*F));
	snprintf(F->root, sizeof(F->root), "/tmp/hostcrit.XXXXXX");
	assert_non_null(mkdtemp(F->root));
	snprintf(F->sys, sizeof(F->sys), "%s/sys", F->root);
	snprintf(F->proc, sizeof(F->proc), "%s/proc", F->root);
	mkdirs(F->sys);
	put("proc/self/mountinfo", "");
	F->hc = hostcrit_new(F->sys, F->proc);
	assert_non_null(F->hc);
	*state = F;
	return 0;
}

static int teardown(void **state)
{
	hostcrit_free(F->hc);
	for (size_t i = 0; i < F->n_devs; i++)
		device_free(F->devs[i]);
	rmtree(F->root);
	free(F);
	F = NULL;
	return 0;
}

/* ---- general ------------------------------------------------------------- */

static void test_nothing_critical(void **state)
{
	struct device *nic = pci(NIC), *sata = pci(SATA);

	add_block("sda", SATA_DISK, "8:0\n");
	add_block("sda1", SATA_DISK "/sda1", "8:1\n");
	add_net("eth0", NIC "/net/eth0", "0x1003\n");
	put("proc/self/mountinfo", "22 1 0:21 / /proc rw - proc proc rw\n");
	put("proc/swaps", EMPTY_SWAPS);
	put("proc/net/if_inet6", IF_INET6_LINK_LOCAL);
	put_route4("");
	put("sys/class/tty/console/active", "tty0 ttyS0\n");
	add_class("tty", "ttyS0", "devices/pnp0/00:05/tty/ttyS0");
	assert_null(reason(nic));
	assert_null(reason(sata));
}

static void test_missing_class_dirs_are_fine(void **state)
{
	struct device *nic = pci(NIC);

	assert_null(reason(nic));
}

static void test_unknown_syspath_is_critical(void **state)
{
	struct device *d = pci(NIC);

	free(d->syspath);
	d->syspath = NULL;
	assert_reason(d, "its sysfs path is unknown; refusing to be sure");
	d->syspath = xstrdup("relative/path");
	assert_reason(d, "its sysfs path is unknown; refusing to be sure");
	free(d->syspath);
	d->syspath = xcalloc(1, PATH_MAX + 2);
	memset(d->syspath, 'x', PATH_MAX + 1);
	d->syspath[0] = '/';
	assert_reason(d, "its sysfs path is unknown; refusing to be sure");
}

/* A class entry that is a directory rather than a link (a hand-built tree)
 * is judged where it stands, and by its device link. */
static void test_class_entry_not_a_link(void **state)
{
	struct device *nic = pci(NIC);

	mkdir_rel("sys/class/net/eth7");
	put("sys/class/net/eth7/flags", "0x1003\n");
	put_link("sys/class/net/eth7/device", "../../../" NIC);
	put_route4(ROUTE4("eth7", "0000000A", "00000000", "0001", "000000FF"));
	assert_reason(nic, "eth7 is up with a route to 10.0.0.0/8");
	assert_int_equal(unlink(strcat(strcpy(F->buf, F->sys), "/class/net/eth7/device")), 0);
	assert_null(reason(nic));
}

static void test_new_rejects_relative_roots(void **state)
{
	errno = 0;
	assert_null(hostcrit_new("sys", "/proc"));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(hostcrit_new("/sys", "proc"));
	assert_int_equal(errno, EINVAL);
	hostcrit_free(NULL);
}

static void test_default_proc_root(void **state)
{
	assert_int_equal(setenv("HOSTDEVD_PROC_ROOT", "/tmp/fakeproc", 1), 0);
	assert_string_equal(hostcrit_default_proc_root(), "/tmp/fakeproc");
	assert_int_equal(setenv("HOSTDEVD_PROC_ROOT", "", 1), 0);
	assert_string_equal(hostcrit_default_proc_root(), "/proc");
	assert_int_equal(unsetenv("HOSTDEVD_PROC_ROOT"), 0);
	assert_string_equal(hostcrit_default_proc_root(), "/proc");
}

/* A root spelled with a trailing "/" and "//" is the same tree. */
static void test_roots_are_normalised(void **state)
{
	char sys[128], proc[128];
	struct device *sata = pci(SATA);
	struct hostcrit *hc;

	add_block("sda", SATA_DISK, "8:0\n");
	put("proc/self/mountinfo", "30 1 8:0 / / rw - ext4 /dev/sda rw\n");
	snprintf(sys, sizeof(sys), "%s//sys/", F->root);
	snprintf(proc, sizeof(proc), "%s/./proc/", F->root);
	hc = hostcrit_new(sys, proc);
	assert_non_null(hc);
	assert_string_equal(hostcrit_reason(hc, sata, F->buf, sizeof(F->buf)),
			    "sda (under this device) is mounted at /");
	hostcrit_free(hc);
}

/* ---- fixed rules ----------------------------------------------------------- */

static void test_fixed_rules(void **state)
{
	struct device *host = pci("devices/pci0000:00/0000:00:00.0");
	struct device *bridge = pci("devices/pci0000:00/0000:00:1c.0");
	struct device *vga = pci(GPU);

	host->pci.class_code = 0x060000;
	bridge->pci.class_code = 0x060400;
	vga->pci.class_code = 0x030000;
	vga->pci.boot_vga = true;
	assert_reason(host, "host bridge");
	assert_reason(bridge, "PCI bridge: its devices stay with the host");
	assert_reason(vga, "boot VGA device: the console may be on it");
	vga->pci.boot_vga = false;
	assert_null(reason(vga));
}

/* ---- block ----------------------------------------------------------------- */

static void test_partition_mounted(void **state)
{
	struct device *sata = pci(SATA), *nic = pci(NIC);

	add_block("sda", SATA_DISK, "8:0\n");
	add_block("sda1", SATA_DISK "/sda1", "8:1\n");
	add_block("sda2", SATA_DISK "/sda2", "8:2\n");
	put("proc/self/mountinfo", "22 1 0:21 / /proc rw - proc proc rw\n"
				   "30 1 8:2 / / rw,relatime shared:1 - ext4 /dev/root rw\n");
	assert_reason(sata, "sda2 (under this device) is mounted at /");
	assert_null(reason(nic));
}

/* The stick, and the xHCI controller above it, hold the mounted disk; a
 * device whose directory name merely starts the same does not. */
static void test_disk_under_usb_and_xhci(void **state)
{
	struct device *stick = add_dev(HD_BUS_USB, "1-2", STICK);
	struct device *xhci = pci(XHCI);
	struct device *other = add_dev(HD_BUS_USB, "1-2.3", XHCI "/usb1/1-2.3");

	add_block("sdb", STICK_DISK, "8:16\n");
	add_block("sdb1", STICK_DISK "/sdb1", "8:17\n");
	put("proc/self/mountinfo", "40 30 8:17 / /media/stick rw - vfat /dev/sdb1 rw\n");
	assert_reason(stick, "sdb1 (under this device) is mounted at /media/stick");
	assert_reason(xhci, "sdb1 (under this device) is mounted at /media/stick");
	assert_null(reason(other));
}

/* btrfs puts an anonymous 0:N in field 3: the source names the partition. */
static void test_btrfs_matched_by_source(void **state)
{
	struct device *sata = pci(SATA);

	add_block("sda", SATA_DISK, "8:0\n");
	add_block("sda3", SATA_DISK "/sda3", "8:3\n");
	put("proc/self/mountinfo", "41 1 0:35 /@home /home rw - btrfs /dev/sda3 rw,space_cache\n");
	assert_reason(sata, "sda3 (under this device) is mounted at /home");
}

/* A two-disk btrfs: the mount table names sda only; sysfs lists both. */
static void test_btrfs_second_member(void **state)
{
	struct device *stick = add_dev(HD_BUS_USB, "1-2", STICK);
#define FSID "sys/fs/btrfs/5b1c2f3e-aaaa-4bbb-8ccc-0123456789ab"

	add_block("sda", SATA_DISK, "8:0\n");
	add_block("sdb", STICK_DISK, "8:16\n");
	mkdir_rel("sys/fs/btrfs/features");
	put_link(FSID "/devices/sda", "../../../../devices/" SATA_DISK);
	put_link(FSID "/devices/sdb", "../../../../devices/" STICK_DISK);
	put("proc/self/mountinfo", "60 1 0:48 / /data rw - btrfs /dev/sda rw\n");
	assert_reason(stick, "sdb is part of the btrfs mounted at /data");
	put("proc/self/mountinfo", "");
	assert_reason(stick,
		      "sdb is part of a mounted btrfs (5b1c2f3e-aaaa-4bbb-8ccc-0123456789ab)");
#undef FSID
}

static void test_mount_point_escapes_decoded(void **state)
{
	struct device *sata = pci(SATA);

	add_block("sda", SATA_DISK, "8:0\n");
	put("proc/self/mountinfo", "41 1 8:0 / /mnt/my\\040disk rw - ext4 /dev/sda rw\n");
	assert_reason(sata, "sda (under this device) is mounted at /mnt/my disk");
}

static void test_malformed_mount_line_skipped(void **state)
{
	struct device *sata = pci(SATA);

	add_block("sda", SATA_DISK, "8:0\n");
	put("proc/self/mountinfo", "garbage without the separator\n"
				   "1 2 3 4 5 6 - ext4\n"
				   "41 1 8:0 / /data rw - ext4 /dev/sda rw\n");
	assert_reason(sata, "sda (under this device) is mounted at /data");
}

static void test_dm_holder_mounted_by_mapper_name(void **state)
{
	struct device *sata = pci(SATA);

	add_block("sda", SATA_DISK, "8:0\n");
	add_block("sda1", SATA_DISK "/sda1", "8:1\n");
	add_dm("dm-0", "254:0\n", "vg-home\n", "LVM-Xy3kW0aQ\n");
	add_holder(SATA_DISK "/sda1", "dm-0");
	/* Field 3 does not match dm-0's 254:0: only /dev/mapper/vg-home can. */
	put("proc/self/mountinfo", "50 1 0:44 / /home rw - xfs /dev/mapper/vg-home rw\n");
	assert_reason(sata, "sda1 is held by dm-0 (LVM vg-home), which is mounted at /home");
}

static void test_md_holder_mounted(void **state)
{
	struct device *stick = add_dev(HD_BUS_USB, "1-2", STICK);

	add_block("sdb", STICK_DISK, "8:16\n");
	add_md("md0", "9:0\n");
	add_holder(STICK_DISK, "md0");
	put("proc/self/mountinfo", "51 1 9:0 / /srv rw - ext4 /dev/md0 rw\n");
	assert_reason(stick, "sdb is held by md0 (md), which is mounted at /srv");
}

static void test_md_holder_not_mounted(void **state)
{
	struct device *sata = pci(SATA);

	add_block("sda", SATA_DISK, "8:0\n");
	add_block("sda1", SATA_DISK "/sda1", "8:1\n");
	add_md("md0", "9:0\n");
	add_holder(SATA_DISK "/sda1", "md0");
	assert_reason(sata, "sda1 is held by md0 (md): taking sda1 away degrades or breaks md0");
}

/* A holder of unknown kind (bcache) is named bare; a used holder is
 * preferred over an idle one listed first. */
static void test_holder_kinds_and_choice(void **state)
{
	struct device *sata = pci(SATA);

	add_block("sda", SATA_DISK, "8:0\n");
	add_block("bcache0", VIRT "/block/bcache0", "252:0\n");
	add_dm("dm-3", "254:3\n", "cryptdata\n", "CRYPT-LUKS2-abc-cryptdata\n");
	add_holder(SATA_DISK, "bcache0");
	add_holder(SATA_DISK, "dm-3");
	put("proc/self/mountinfo", "52 1 254:3 / /data rw - ext4 /dev/mapper/cryptdata rw\n");
	assert_reason(sata, "sda is held by dm-3 (dm-crypt cryptdata), which is mounted at /data");
	put("proc/self/mountinfo", "");
	assert_reason(sata, "sda is held by bcache0: taking sda away degrades or breaks bcache0");
}

static void test_nested_holders(void **state)
{
	struct device *sata = pci(SATA);

	add_block("sda", SATA_DISK, "8:0\n");
	add_block("sda2", SATA_DISK "/sda2", "8:2\n");
	add_md("md0", "9:0\n");
	add_dm("dm-1", "254:1\n", "vg-data\n", "LVM-abc\n");
	add_holder(SATA_DISK "/sda2", "md0");
	add_holder(VIRT "/block/md0", "dm-1");
	put("proc/self/mountinfo", "53 1 254:1 / /data rw - ext4 /dev/mapper/vg-data rw\n");
	assert_reason(sata, "sda2 is held by md0 (md), which is held by dm-1 (LVM vg-data), "
			    "which is mounted at /data");
}

/* A loop of holders cannot occur in a real tree; it must still end. */
static void test_holder_loop_ends(void **state)
{
	struct device *sata = pci(SATA);

	add_block("sda", SATA_DISK, "8:0\n");
	add_md("md0", "9:0\n");
	add_dm("dm-0", "254:0\n", "\n", "\n");
	add_holder(SATA_DISK, "md0");
	add_holder(VIRT "/block/md0", "dm-0");
	add_holder(VIRT "/block/dm-0", "md0");
	assert_reason(sata, "sda is held by md0 (md): taking sda away degrades or breaks md0");
}

/* With NVMe multipath the namespace head lives under nvme-subsystem; the
 * controller holds only its hidden path, linked from the head. */
static void test_nvme_multipath_head(void **state)
{
	struct device *nvme = pci(NVME);
	struct device *other = pci("devices/pci0000:00/0000:00:1d.1/0000:06:00.0");

#define HEAD VIRT "/nvme-subsystem/nvme-subsys0/nvme0n1"
	add_block("nvme0c0n1", NVME "/nvme/nvme0/nvme0c0n1", "259:1\n");
	add_block("nvme0n1", HEAD, "259:0\n");
	add_block("nvme0n1p2", HEAD "/nvme0n1p2", "259:2\n");
	put_link("sys/" HEAD "/multipath/nvme0c0n1",
		 "../../../../../pci0000:00/0000:00:1d.0/0000:04:00.0/nvme/nvme0/nvme0c0n1");
	put("proc/self/mountinfo", "30 1 259:2 / / rw - ext4 /dev/nvme0n1p2 rw\n");
	assert_reason(nvme, "nvme0n1p2 (under this device) is mounted at /");
	assert_null(reason(other));
	put("proc/self/mountinfo", "30 1 259:0 / /scratch rw - xfs /dev/nvme0n1 rw\n");
	assert_reason(nvme, "nvme0n1 (under this device) is mounted at /scratch");
#undef HEAD
}

static void test_swap_partition(void **state)
{
	struct device *nvme = pci(NVME);

	add_block("nvme0n1", NVME_DISK, "259:0\n");
	add_block("nvme0n1p3", NVME_DISK "/nvme0n1p3", "259:3\n");
	put("proc/swaps", EMPTY_SWAPS "/dev/nvme0n1p3                          partition\t"
				      "8388604\t\t0\t\t-2\n");
	assert_reason(nvme, "nvme0n1p3 is active swap");
}

static void test_swap_on_dm(void **state)
{
	struct device *nvme = pci(NVME);

	add_block("nvme0n1", NVME_DISK, "259:0\n");
	add_dm("dm-2", "254:2\n", "vg-swap\n", "LVM-q\n");
	add_holder(NVME_DISK, "dm-2");
	put("proc/swaps", EMPTY_SWAPS "/dev/mapper/vg-swap\tpartition\t8388604\t0\t-2\n");
	assert_reason(nvme, "nvme0n1 is held by dm-2 (LVM vg-swap), which is active swap");
}

/* A swap file belongs to the device of its file system, nothing else. */
static void test_swap_file(void **state)
{
	struct device *nvme = pci(NVME);

	add_block("nvme0n1", NVME_DISK, "259:0\n");
	add_block("nvme0n1p2", NVME_DISK "/nvme0n1p2", "259:2\n");
	put("proc/swaps", EMPTY_SWAPS "/swapfile                               file\t\t"
				      "2097148\t\t0\t\t-2\n");
	assert_null(reason(nvme));
	put("proc/self/mountinfo", "30 1 259:2 / / rw - ext4 /dev/nvme0n1p2 rw\n");
	assert_reason(nvme, "nvme0n1p2 (under this device) is mounted at /");
}

static void test_missing_mountinfo_is_critical(void **state)
{
	struct device *sata = pci(SATA), *nic = pci(NIC);
	char want[512];

	add_block("sda", SATA_DISK, "8:0\n");
	assert_int_equal(unlink(strcat(strcpy(want, F->proc), "/self/mountinfo")), 0);
	snprintf(want, sizeof(want),
		 "cannot read the mount table: %s/self/mountinfo: No such file or directory; "
		 "refusing to be sure", F->proc);
	assert_reason(sata, want);
	/* Nothing block-shaped under the NIC: the mount table does not matter. */
	assert_null(reason(nic));
}

static void test_unreadable_mountinfo_is_critical(void **state)
{
	struct device *sata = pci(SATA);
	char path[256], want[512];

	add_block("sda", SATA_DISK, "8:0\n");
	snprintf(path, sizeof(path), "%s/self/mountinfo", F->proc);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0755), 0); /* open works, read says EISDIR */
	snprintf(want, sizeof(want),
		 "cannot read the mount table: %s: Is a directory; refusing to be sure", path);
	assert_reason(sata, want);
}

/* ---- network ----------------------------------------------------------------- */

static int fake_ipv4(void *ctx, const char *ifname, struct hostcrit_ipv4 *out, size_t max)
{
	struct fx *f = ctx;

	f->v4_calls++;
	if (f->v4_n < 0) {
		errno = EMFILE;
		return -1;
	}
	if (!streq(ifname, f->v4_ifname))
		return 0;
	for (int i = 0; i < f->v4_n && (size_t)i < max; i++)
		out[i] = f->v4[i];
	return f->v4_n;
}

static void fake_v4(const char *ifname, int n, const char *a0, unsigned p0, const char *a1,
		    unsigned p1)
{
	F->v4_ifname = ifname;
	F->v4_n = n;
	if (a0)
		assert_int_equal(inet_pton(AF_INET, a0, &F->v4[0].addr), 1);
	if (a1)
		assert_int_equal(inet_pton(AF_INET, a1, &F->v4[1].addr), 1);
	F->v4[0].prefix = p0;
	F->v4[1].prefix = p1;
	hostcrit_set_ipv4_source(F->hc, fake_ipv4, F);
}

/* Every up interface has its link-local address and fe80::/64 and ff00::/8
 * routes: none of that makes it critical. */
static void test_nic_up_link_local_only(void **state)
{
	struct device *nic = pci(NIC);

	add_net("eth0", NIC "/net/eth0", "0x1003\n");
	put("proc/net/if_inet6", IF_INET6_LINK_LOCAL
	    "zz010db8000000000000000000000010 02 40 00 80     eth0\n"
	    "2001 02 40 00 80     eth0\n");
	put_route4("");
	put("proc/net/ipv6_route",
	    "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
	    "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
	    "fe80000000000000021122fffe334455 80 00000000000000000000000000000000 00 "
	    "00000000000000000000000000000000 00000000 00000002 00000000 80200001     eth0\n"
	    "ff000000000000000000000000000000 08 00000000000000000000000000000000 00 "
	    "00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0\n");
	fake_v4("eth0", 1, "169.254.7.1", 16, NULL, 0);
	assert_null(reason(nic));
	assert_int_equal(F->v4_calls, 1);
}

/* The kernel drops a down link's routes; whatever the file says, the flags
 * decide. */
static void test_nic_down_with_route(void **state)
{
	struct device *nic = pci(NIC);

	add_net("eth0", NIC "/net/eth0", "0x1002\n");
	put_route4(ROUTE4("eth0", "0000000A", "00000000", "0001", "000000FF"));
	fake_v4("eth0", 1, "192.0.2.10", 24, NULL, 0);
	assert_null(reason(nic));
	/* No flags at all: not known to be up. */
	assert_int_equal(unlink(strcat(strcpy(F->buf, F->sys), "/" NIC "/net/eth0/flags")), 0);
	assert_null(reason(nic));
	assert_int_equal(F->v4_calls, 0);
}

static void test_nic_v6_global_address(void **state)
{
	struct device *nic = pci(NIC);

	add_net("eth0", NIC "/net/eth0", "0x1003\n");
	put("proc/net/if_inet6", IF_INET6_LINK_LOCAL
	    "20010db8000000000000000000000010 02 40 00 80     eth0\n");
	assert_reason(nic, "eth0 is up with address 2001:db8::10/64");
}

static void test_nic_v4_from_the_seam(void **state)
{
	struct device *nic = pci(NIC);

	add_net("eth0", NIC "/net/eth0", "0x1003\n");
	/* A link-local address first must not hide the real one. */
	fake_v4("eth0", 2, "169.254.3.3", 16, "192.0.2.10", 24);
	assert_reason(nic, "eth0 is up with address 192.0.2.10/24");
}

/* With a fake proc root and no seam, IPv4 addresses are not seen at all:
 * the interface is judged by its routes. */
static void test_nic_v4_without_a_source(void **state)
{
	struct device *nic = pci(NIC);

	add_net("eth0", NIC "/net/eth0", "0x1003\n");
	assert_null(reason(nic));
	fake_v4("eth0", 1, "192.0.2.10", 24, NULL, 0);
	hostcrit_set_ipv4_source(F->hc, NULL, NULL);
	assert_null(reason(nic));
	assert_int_equal(F->v4_calls, 0);
}

static void test_nic_v4_source_fails(void **state)
{
	struct device *nic = pci(NIC);

	add_net("eth0", NIC "/net/eth0", "0x1003\n");
	fake_v4("eth0", -1, NULL, 0, NULL, 0);
	assert_null(reason(nic));
	put_route4(ROUTE4("eth0", "000200C0", "00000000", "0001", "00FFFFFF"));
	assert_reason(nic, "eth0 is up with a route to 192.0.2.0/24");
	assert_int_equal(F->v4_calls, 2);
}

static void test_nic_routes(void **state)
{
	struct device *nic = pci(NIC2);

	add_net("eth1", NIC2 "/net/eth1", "0x1003\n");
	put_route4(
	    ROUTE4("eth0", "00000000", "010200C0", "0003", "00000000")
	    ROUTE4("eth1", "0000FEA9", "00000000", "0001", "0000FFFF")
	    ROUTE4("eth1", "0000000A", "00000000", "0001", "000000FF"));
	assert_reason(nic, "eth1 is up with a route to 10.0.0.0/8");
	put_route4(ROUTE4("eth1", "00000000", "010200C0", "0003", "00000000"));
	assert_reason(nic, "eth1 is up with a default route");
	put_route4("");
	put("proc/net/ipv6_route",
	    "20010db8000100000000000000000000 30 00000000000000000000000000000000 00 "
	    "00000000000000000000000000000000 00000400 00000001 00000000 00000001     eth1\n");
	assert_reason(nic, "eth1 is up with a route to 2001:db8:1::/48");
	put("proc/net/ipv6_route",
	    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
	    "fe800000000000000000000000000001 00000400 00000003 00000000 00000003     eth1\n");
	assert_reason(nic, "eth1 is up with a default route");
}

static void test_nic_enslaved_to_up_bridge(void **state)
{
	struct device *nic = pci(NIC);

	add_net("eth0", NIC "/net/eth0", "0x1003\n");
	add_net("br0", VIRT "/net/br0", "0x1003\n");
	set_master(NIC "/net/eth0", "../../../../../virtual/net/br0");
	fake_v4("br0", 1, "192.0.2.10", 24, NULL, 0);
	assert_reason(nic, "eth0 is enslaved to br0, which is up with address 192.0.2.10/24");
	/* A bond in a bridge: the chain is followed. */
	add_net("bond0", VIRT "/net/bond0", "0x1403\n");
	set_master(VIRT "/net/bond0", "../br0");
	assert_int_equal(unlink(strcat(strcpy(F->buf, F->sys), "/" NIC "/net/eth0/master")), 0);
	set_master(NIC "/net/eth0", "../../../../../virtual/net/bond0");
	assert_reason(nic, "eth0 is enslaved to bond0, which is enslaved to br0, which is up with "
			   "address 192.0.2.10/24");
}

static void test_nic_enslaved_to_idle_bridge(void **state)
{
	struct device *nic = pci(NIC);

	add_net("eth0", NIC "/net/eth0", "0x1003\n");
	add_net("br0", VIRT "/net/br0", "0x1002\n");
	set_master(NIC "/net/eth0", "../../../../../virtual/net/br0");
	put_route4(ROUTE4("br0", "000200C0", "00000000", "0001", "00FFFFFF"));
	assert_null(reason(nic));
}

/* A VLAN (or macvlan) on the NIC is linked as upper_NAME. */
static void test_nic_carries_vlan(void **state)
{
	struct device *nic = pci(NIC);

	add_net("eth0", NIC "/net/eth0", "0x1003\n");
	add_net("eth0.100", VIRT "/net/eth0.100", "0x1002\n");
	put_link("sys/" NIC "/net/eth0/upper_eth0.100", "../../../../../virtual/net/eth0.100");
	put_route4(ROUTE4("eth0.100", "0000010A", "00000000", "0001", "0000FFFF"));
	assert_null(reason(nic));
	put("sys/" VIRT "/net/eth0.100/flags", "0x1003\n");
	assert_reason(nic, "eth0 carries eth0.100, which is up with a route to 10.1.0.0/16");
}

/* "lo" is never a device's, even in a tree that says so. */
static void test_lo_skipped(void **state)
{
	struct device *nic = pci(NIC);

	add_net("lo", NIC "/net/lo", "0x9\n");
	fake_v4("lo", 1, "127.0.0.1", 8, NULL, 0);
	assert_null(reason(nic));
}

static void test_ipv4_system_source(void **state)
{
	struct hostcrit_ipv4 a[4];
	char text[INET_ADDRSTRLEN];
	int n = hostcrit_ipv4_system(NULL, "lo", a, ARRAY_SIZE(a));

	assert_true(n >= 1);
	assert_string_equal(inet_ntop(AF_INET, &a[0].addr, text, sizeof(text)), "127.0.0.1");
	assert_int_equal(a[0].prefix, 8);
	assert_int_equal(hostcrit_ipv4_system(NULL, "hostcrit-none0", a, ARRAY_SIZE(a)), 0);
	/* More addresses than room: counted, not stored past max. */
	assert_int_equal(hostcrit_ipv4_system(NULL, "lo", a, 0), n);
}

/* getifaddrs() needs a socket: with no descriptor left it fails, and so
 * does the source. */
static void test_ipv4_system_source_fails(void **state)
{
	struct hostcrit_ipv4 a[4];
	struct rlimit old, none = { 0, 0 };

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	none.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
	errno = 0;
	assert_int_equal(hostcrit_ipv4_system(NULL, "lo", a, ARRAY_SIZE(a)), -1);
	assert_int_equal(errno, EMFILE);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

/* Some real interface of this machine with an IPv4 address other than lo,
 * or false. */
static bool real_ipv4_interface(char *name, size_t size, char *addr, size_t asize)
{
	struct ifaddrs *list;
	bool found = false;

	assert_int_equal(getifaddrs(&list), 0);
	for (struct ifaddrs *i = list; i && !found; i = i->ifa_next) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)i->ifa_addr;

		if (!a || a->sin_family != AF_INET || streq(i->ifa_name, "lo"))
			continue;
		snprintf(name, size, "%s", i->ifa_name);
		inet_ntop(AF_INET, &a->sin_addr, addr, (socklen_t)asize);
		found = true;
	}
	freeifaddrs(list);
	return found;
}

/* The system's addresses are used with the real /proc only: a fake
 * interface named like a real one must not inherit its address. */
static void test_ipv4_system_only_with_real_proc(void **state)
{
	char name[IFNAMSIZ + 1], addr[INET_ADDRSTRLEN], devpath[PATH_MAX], want[128];
	struct device *nic = pci(NIC);
	struct hostcrit *real;

	if (!real_ipv4_interface(name, sizeof(name), addr, sizeof(addr)))
		skip();
	snprintf(devpath, sizeof(devpath), NIC "/net/%s", name);
	add_net(name, devpath, "0x1003\n");
	assert_null(reason(nic));
	real = hostcrit_new(F->sys, "/proc");
	assert_non_null(real);
	assert_non_null(hostcrit_reason(real, nic, F->buf, sizeof(F->buf)));
	snprintf(want, sizeof(want), "%s is up with address %s/", name, addr);
	assert_memory_equal(F->buf, want, strlen(want));
	hostcrit_free(real);
}

/* ---- console ------------------------------------------------------------- */

static void test_console_on_pci_serial_card(void **state)
{
	struct device *card = pci(SERIAL), *nic = pci(NIC);

	add_class("tty", "ttyS0", "devices/pnp0/00:05/tty/ttyS0");
	add_class("tty", "ttyS4", SERIAL "/tty/ttyS4");
	add_class("tty", "ttyS5", SERIAL "/tty/ttyS5");
	put("sys/class/tty/console/active", "tty0 ttyS4\n");
	assert_reason(card, "ttyS4 is a system console");
	assert_null(reason(nic));
	put("sys/class/tty/console/active", "tty0 ttyS0\n");
	assert_null(reason(card));
}

static void test_console_on_usb_serial(void **state)
{
	struct device *adapter = add_dev(HD_BUS_USB, "1-2", STICK);

	add_class("tty", "ttyUSB0", STICK "/1-2:1.0/ttyUSB0/tty/ttyUSB0");
	put("sys/class/tty/console/active", "ttyUSB0\n");
	assert_reason(adapter, "ttyUSB0 is a system console");
}

/* A class entry placed elsewhere still counts through its device link. */
static void test_console_by_device_link(void **state)
{
	struct device *card = pci(SERIAL);

	add_class("tty", "ttyX0", VIRT "/tty/ttyX0");
	put_link("sys/" VIRT "/tty/ttyX0/device", "../../../pci0000:00/0000:00:1e.0");
	put("sys/class/tty/console/active", "ttyX0\n");
	assert_reason(card, "ttyX0 is a system console");
}

/* hvc0 lives in devices/virtual: the virtio console function carries it. */
static void test_console_hvc_on_virtio(void **state)
{
	struct device *serial = pci("devices/pci0000:00/0000:00:05.0");
	struct device *net = pci("devices/pci0000:00/0000:00:06.0");

	add_class("tty", "hvc0", VIRT "/tty/hvc0");
	put_link("sys/devices/pci0000:00/0000:00:05.0/virtio3/driver",
		 "../../../../bus/virtio/drivers/virtio_console");
	put_link("sys/devices/pci0000:00/0000:00:06.0/virtio4/driver",
		 "../../../../bus/virtio/drivers/virtio_net");
	put("sys/class/tty/console/active", "hvc0\n");
	assert_reason(serial, "hvc0 is a system console (virtio console)");
	assert_null(reason(net));
	put("sys/class/tty/console/active", "ttyS0\n");
	assert_null(reason(serial));
}

static void test_fb_with_vt_console(void **state)
{
	struct device *gpu = pci(GPU);

	gpu->pci.class_code = 0x030000;
	add_class("graphics", "fbcon", VIRT "/graphics/fbcon");
	add_class("graphics", "fb0", GPU "/graphics/fb0");
	put("sys/class/tty/console/active", "ttyS0 tty0\n");
	assert_reason(gpu, "fb0 shows the console");
	put("sys/class/tty/console/active", "ttyS0\n");
	assert_null(reason(gpu));
	put("sys/class/tty/console/active", "tty64\n");
	assert_null(reason(gpu));
}

static void test_console_list_unreadable(void **state)
{
	struct device *card = pci(SERIAL), *gpu = pci(GPU), *nic = pci(NIC);
	char want[512];

	add_class("tty", "ttyS4", SERIAL "/tty/ttyS4");
	add_class("graphics", "fb0", GPU "/graphics/fb0");
	snprintf(want, sizeof(want),
		 "cannot read the console list: %s/class/tty/console/active: No such file or "
		 "directory; ttyS4 is under this device: refusing to be sure", F->sys);
	assert_reason(card, want);
	snprintf(want, sizeof(want),
		 "cannot read the console list: %s/class/tty/console/active: No such file or "
		 "directory; fb0 is under this device: refusing to be sure", F->sys);
	assert_reason(gpu, want);
	assert_null(reason(nic));
}

/* ---- vsock --------------------------------------------------------------- */

static void test_vsock_vmci_driver(void **state)
{
	struct device *vmci = pci("devices/pci0000:00/0000:00:07.7");

	vmci->driver = device_intern("vmw_vmci");
	assert_reason(vmci, "vsock transport (VMCI)");
}

static void test_vsock_virtio_pci_id(void **state)
{
	struct device *v = pci("devices/pci0000:00/0000:00:06.0");

	v->vendor = 0x1af4;
	v->product = 0x1053;
	assert_reason(v, "vsock transport (virtio)");
	v->product = 0x1041; /* virtio-net */
	assert_null(reason(v));
}

static void test_vsock_virtio_child_driver(void **state)
{
	struct device *v = pci("devices/pci0000:00/0000:00:06.0");

	v->vendor = 0x1af4;
	v->product = 0x1012; /* transitional: the id does not say vsock */
	put_link("sys/devices/pci0000:00/0000:00:06.0/virtio3/driver",
		 "../../../../bus/virtio/drivers/virtio_net");
	assert_null(reason(v));
	put_link("sys/devices/pci0000:00/0000:00:06.0/virtio4/driver",
		 "../../../../bus/virtio/drivers/vmw_vsock_virtio_transport");
	assert_reason(v, "vsock transport (virtio)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
		T(test_nothing_critical),
		T(test_missing_class_dirs_are_fine),
		T(test_unknown_syspath_is_critical),
		T(test_class_entry_not_a_link),
		T(test_new_rejects_relative_roots),
		T(test_default_proc_root),
		T(test_roots_are_normalised),
		T(test_fixed_rules),
		T(test_partition_mounted),
		T(test_disk_under_usb_and_xhci),
		T(test_btrfs_matched_by_source),
		T(test_btrfs_second_member),
		T(test_mount_point_escapes_decoded),
		T(test_malformed_mount_line_skipped),
		T(test_dm_holder_mounted_by_mapper_name),
		T(test_md_holder_mounted),
		T(test_md_holder_not_mounted),
		T(test_holder_kinds_and_choice),
		T(test_nested_holders),
		T(test_holder_loop_ends),
		T(test_nvme_multipath_head),
		T(test_swap_partition),
		T(test_swap_on_dm),
		T(test_swap_file),
		T(test_missing_mountinfo_is_critical),
		T(test_unreadable_mountinfo_is_critical),
		T(test_nic_up_link_local_only),
		T(test_nic_down_with_route),
		T(test_nic_v6_global_address),
		T(test_nic_v4_from_the_seam),
		T(test_nic_v4_without_a_source),
		T(test_nic_v4_source_fails),
		T(test_nic_routes),
		T(test_nic_enslaved_to_up_bridge),
		T(test_nic_enslaved_to_idle_bridge),
		T(test_nic_carries_vlan),
		T(test_lo_skipped),
		T(test_ipv4_system_source),
		T(test_ipv4_system_source_fails),
		T(test_ipv4_system_only_with_real_proc),
		T(test_console_on_pci_serial_card),
		T(test_console_on_usb_serial),
		T(test_console_by_device_link),
		T(test_console_hvc_on_virtio),
		T(test_fb_with_vt_console),
		T(test_console_list_unreadable),
		T(test_vsock_vmci_driver),
		T(test_vsock_virtio_pci_id),
		T(test_vsock_virtio_child_driver),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
