/* Host-critical checks: whether a device must stay with the host, and why
 * (SPEC "Claims": a device behind a mounted filesystem, active swap or a
 * dm/md/LVM holder; a network interface that is up with addresses or routes;
 * the console and the boot VGA device; a vsock transport; host bridges and
 * bridges).  The rules, what each reads and its wording are in
 * docs/host-critical.md.
 *
 * "Behind a device" means anything whose sysfs directory lies under the
 * device's: a disk on a SATA controller, on a USB stick, or on the xHCI
 * controller above that stick.  It is decided without walking the device's
 * subtree: the class directories (class/block, class/net, class/tty,
 * class/graphics) are listed and each entry's link is resolved textually
 * and compared with dev->syspath.  Textually, because under umockdev
 * realpath() names the testbed directory, not the /sys the records use.
 *
 * Called once per device that a claim or a detach is about to move, not per
 * event.  It reads sysfs and /proc (cheap, never blocking on a device) and
 * keeps no state between calls, so concurrent calls are safe as long as
 * hostcrit_set_ipv4_source() is not called meanwhile. */
#pragma once

#include <netinet/in.h>
#include <stddef.h>

struct device;
struct hostcrit;

/* One IPv4 address of an interface. */
struct hostcrit_ipv4 {
	struct in_addr addr;
	unsigned prefix;
};

/* Where IPv4 addresses come from: they are not in /proc.  Stores up to max
 * addresses of ifname in out and returns how many the interface has (which
 * may exceed max), or -1 with errno set. */
typedef int (*hostcrit_ipv4_fn)(void *ctx, const char *ifname, struct hostcrit_ipv4 *out,
				size_t max);

/* $HOSTDEVD_PROC_ROOT when set and not empty, otherwise "/proc". */
const char *hostcrit_default_proc_root(void);

/* sys_root replaces the leading "/sys" of every path read (NULL: "/sys");
 * device syspaths must start with it.  proc_root likewise for "/proc" (NULL:
 * hostcrit_default_proc_root()).  Both must be absolute: NULL with errno
 * EINVAL otherwise.  The IPv4 source is the system's (getifaddrs(3)) only
 * when proc_root is exactly "/proc": with a redirected proc root the
 * machine's real interfaces must not leak into a fake one, so IPv4 is then
 * judged by routes only unless hostcrit_set_ipv4_source() supplies one. */
struct hostcrit *hostcrit_new(const char *sys_root, const char *proc_root);
void hostcrit_free(struct hostcrit *hc);

/* Replaces the IPv4 source; fn NULL: no IPv4 addresses at all. */
void hostcrit_set_ipv4_source(struct hostcrit *hc, hostcrit_ipv4_fn fn, void *ctx);

/* The system's IPv4 addresses through getifaddrs(3): the default source. */
int hostcrit_ipv4_system(void *ctx, const char *ifname, struct hostcrit_ipv4 *out, size_t max);

/* NULL when dev may leave the host; otherwise buf (size > 0), holding a
 * one-line reason such as "sda2 (under this device) is mounted at /" or
 * "eth0 is up with address 192.0.2.10/24".  When what it must read cannot
 * be read (the mount table, the console list) the answer is critical: a
 * wrong "no" there costs the host its disk or console. */
const char *hostcrit_reason(struct hostcrit *hc, const struct device *dev, char *buf, size_t size);
