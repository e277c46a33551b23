/* Host-critical checks (policy/hostcrit.h, docs/host-critical.md).
 *
 * One call builds a `struct scan`: the device's syspath as a prefix, and the
 * /proc tables (mount table, swaps, addresses, routes) loaded at most once
 * and only when an entry under the device makes them matter. */
#include "policy/hostcrit.h"

#include "common/log.h"
#include "common/util.h"
#include "state/bus.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Holder and master chains are a few links deep; a loop (only possible in a
 * broken tree) must still end. */
#define CHAIN_DEPTH_MAX 8
#define IPV4_MAX 32
#define PHRASE_MAX 512

struct hostcrit {
	char *sys_root, *proc_root;
	hostcrit_ipv4_fn ipv4;
	void *ipv4_ctx;
};

struct mount_entry {
	const char *majmin, *target, *source; /* point into mount_text */
};

struct scan {
	const struct hostcrit *hc;
	const struct device *dev;
	char under[PATH_MAX]; /* the device's syspath and "/" */
	size_t under_len;
	char *buf;
	size_t size;
	char note[PATH_MAX + 128]; /* a finding that class_scan's callback completes */

	bool mounts_loaded;
	char *mount_text;
	struct mount_entry *mounts;
	size_t n_mounts;

	bool swaps_loaded;
	char *swap_text;
	const char **swaps;
	size_t n_swaps;

	bool net_loaded;
	char *inet6, *route4, *route6;
};

/* ---- paths and files ---------------------------------------------------- */

static bool __attribute__((format(printf, 3, 4)))
pathf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return false;
	}
	return true;
}

/* Where a class entry (or a `device` link) points, textually.  An entry
 * that is not a link (a plain directory in a hand-built tree) is itself. */
static bool link_resolve(const char *link, char *out, size_t len)
{
	char target[PATH_MAX], dir[PATH_MAX];
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	const char *slash = strrchr(link, '/');

	if (n < 0 && errno == EINVAL)
		return path_fold("/", link, out, len);
	if (n < 0 || !slash)
		return false;
	target[n] = '\0';
	if (!pathf(dir, sizeof(dir), "%.*s", (int)(slash - link), link))
		return false;
	return path_fold(dir[0] ? dir : "/", target, out, len);
}

/* The last component of a link's target: a driver's or a master's name. */
static bool link_basename(const char *link, char *out, size_t size)
{
	char target[PATH_MAX];
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	const char *base;

	if (n < 0)
		return false;
	target[n] = '\0';
	base = strrchr(target, '/');
	return pathf(out, size, "%s", base ? base + 1 : target);
}

/* The whole of a file, NUL-terminated; NULL with errno on failure.  /proc
 * files report a size of 0, so this reads until the end. */
static char *file_read_all(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, len = 0;
	char *text;

	if (fd < 0)
		return NULL;
	text = xrealloc(NULL, cap);
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap)
			text = xrealloc(text, cap *= 2);
		n = read(fd, text + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;

			free(text);
			close(fd);
			errno = err;
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	text[len] = '\0';
	return text;
}

/* The first line of a sysfs attribute; false with errno on failure. */
static bool __attribute__((format(printf, 3, 4)))
attr_read(char *out, size_t size, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	ssize_t n;
	int fd, r;

	va_start(ap, fmt);
	r = vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return false;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, out, size - 1);
	r = errno;
	close(fd);
	if (n < 0) {
		errno = r;
		return false;
	}
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
	return true;
}

/* Copies the next line of *text into line (truncating it) and advances. */
static bool next_line(const char **text, char *line, size_t size)
{
	const char *p = *text, *end;
	size_t n;

	if (!p || !*p)
		return false;
	end = strchrnul(p, '\n');
	n = (size_t)(end - p) < size - 1 ? (size_t)(end - p) : size - 1;
	memcpy(line, p, n);
	line[n] = '\0';
	*text = *end ? end + 1 : end;
	return true;
}

/* Folds the kernel's octal escapes ("\040" for a blank) back in place. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (const char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

static bool __attribute__((format(printf, 2, 3))) say(struct scan *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->buf, s->size, fmt, ap);
	va_end(ap);
	return true;
}

/* ---- what lies under the device ----------------------------------------- */

/* The device itself or anything below it (a `device` link names the
 * device itself). */
static bool path_under(const struct scan *s, const char *path)
{
	return strncmp(path, s->under, s->under_len - 1) == 0 &&
	       (path[s->under_len - 1] == '/' || path[s->under_len - 1] == '\0');
}

/* Where <sys>/class/<cls>/<name> points. */
static bool class_entry_path(const struct scan *s, const char *cls, const char *name, char *path,
			     size_t size)
{
	char link[PATH_MAX];

	return pathf(link, sizeof(link), "%s/class/%s/%s", s->hc->sys_root, cls, name) &&
	       link_resolve(link, path, size);
}

/* A class device's own directory lies under the device, or its `device`
 * link does: the kernel puts class devices below their parent, and the link
 * covers a tree that does not. */
static bool class_path_under(const struct scan *s, const char *path)
{
	char dev_link[PATH_MAX], dev_path[PATH_MAX];

	if (path_under(s, path))
		return true;
	return pathf(dev_link, sizeof(dev_link), "%s/device", path) &&
	       link_resolve(dev_link, dev_path, sizeof(dev_path)) && path_under(s, dev_path);
}

static bool entry_under(const struct scan *s, const char *cls, const char *name)
{
	char path[PATH_MAX];

	return class_entry_path(s, cls, name, path, sizeof(path)) && class_path_under(s, path);
}

static int no_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* NVMe multipath: a namespace head and its partitions live under
 * devices/virtual/nvme-subsystem, not under any controller; the head's
 * multipath directory links its paths, one per controller.  Losing one
 * path degrades the disk at best. */
/* scandir(3) through opendir(3) and readdir(3): glibc's scandir opens the
 * directory by an internal call that an LD_PRELOAD'd opendir never sees, so
 * under umockdev it would list the machine's /sys instead of the testbed's.
 * Same results: -1 with errno, or n entries in *out (free each, then it). */
/* A reason phrase built from nested phrases: cut at `size` when it must be,
 * as a log line would be (vsnprintf, so the compiler does not flag the
 * possible cut of a bounded buffer into a smaller one). */
static void phrase_set(char *phrase, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void phrase_set(char *phrase, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(phrase, size, fmt, ap);
	va_end(ap);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp((*(struct dirent *const *)a)->d_name, (*(struct dirent *const *)b)->d_name);
}

/* Sorted by name, as scandir with alphasort in the C locale. */
static int list_dir(const char *dir, struct dirent ***out, int (*filter)(const struct dirent *))
{
	DIR *d = opendir(dir);
	struct dirent *e, **v = NULL;
	size_t n = 0;

	*out = NULL;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		struct dirent *copy;

		if (filter && !filter(e))
			continue;
		copy = xcalloc(1, sizeof(*copy));
		copy->d_ino = e->d_ino;
		copy->d_type = e->d_type;
		snprintf(copy->d_name, sizeof(copy->d_name), "%s", e->d_name);
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = copy;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), entry_cmp);
	*out = v;
	return (int)n;
}

static bool multipath_under(const struct scan *s, const char *disk)
{
	char dir[PATH_MAX], link[PATH_MAX], path[PATH_MAX];
	struct dirent **paths = NULL;
	bool under = false;
	int n;

	if (!pathf(dir, sizeof(dir), "%s/multipath", disk))
		return false;
	n = list_dir(dir, &paths, no_dots);
	for (int i = 0; i < n; i++) {
		under = under || (pathf(link, sizeof(link), "%s/%s", dir, paths[i]->d_name) &&
				  link_resolve(link, path, sizeof(path)) && path_under(s, path));
		free(paths[i]);
	}
	free(paths);
	return under;
}

static bool block_under(const struct scan *s, const char *cls, const char *name)
{
	char path[PATH_MAX];
	char *slash;

	if (!class_entry_path(s, cls, name, path, sizeof(path)))
		return false;
	if (class_path_under(s, path) || multipath_under(s, path))
		return true;
	/* A partition's disk is its parent directory. */
	slash = strrchr(path, '/');
	if (!slash || slash == path)
		return false;
	*slash = '\0';
	return multipath_under(s, path);
}

typedef bool (*under_fn)(const struct scan *s, const char *cls, const char *name);
typedef bool (*entry_fn)(struct scan *s, const char *name);

/* Calls fn for each entry of <sys>/class/<cls> that `under` places under
 * the device, in name order so that the reason is the same every time,
 * until fn says critical.  A missing class directory has nothing under
 * anything. */
static bool class_scan(struct scan *s, const char *cls, under_fn under, entry_fn fn)
{
	char dir[PATH_MAX];
	struct dirent **names = NULL;
	bool critical = false;
	int n;

	if (!pathf(dir, sizeof(dir), "%s/class/%s", s->hc->sys_root, cls))
		return false;
	n = list_dir(dir, &names, no_dots);
	for (int i = 0; i < n; i++) {
		if (!critical && under(s, cls, names[i]->d_name))
			critical = fn(s, names[i]->d_name);
		free(names[i]);
	}
	free(names);
	return critical;
}

/* ---- block: mounts, swap, holders ---------------------------------------- */

static void mounts_parse(struct scan *s)
{
	char *save = NULL;

	for (char *line = strtok_r(s->mount_text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[64], *fsave = NULL;
		size_t n = 0, sep = 6;

		for (char *t = strtok_r(line, " ", &fsave); t && n < ARRAY_SIZE(f);
		     t = strtok_r(NULL, " ", &fsave))
			f[n++] = t;
		while (sep < n && !streq(f[sep], "-"))
			sep++;
		if (sep + 2 >= n) {
			log_debug("mount table: skipping a line without its fields");
			continue;
		}
		unescape_octal(f[4]);
		unescape_octal(f[sep + 2]);
		s->mounts = xrealloc(s->mounts, (s->n_mounts + 1) * sizeof(*s->mounts));
		s->mounts[s->n_mounts++] = (struct mount_entry){ f[2], f[4], f[sep + 2] };
	}
}

/* The mount table, or a reason: not knowing what is mounted is critical. */
static bool mounts_load(struct scan *s)
{
	char path[PATH_MAX];

	if (s->mounts_loaded)
		return true;
	if (!pathf(path, sizeof(path), "%s/self/mountinfo", s->hc->proc_root) ||
	    !(s->mount_text = file_read_all(path))) {
		say(s, "cannot read the mount table: %s: %s; refusing to be sure", path,
		    strerror(errno));
		return false;
	}
	mounts_parse(s);
	s->mounts_loaded = true;
	return true;
}

/* Swap areas by name; a missing /proc/swaps means no swap. */
static void swaps_load(struct scan *s)
{
	char path[PATH_MAX], *save = NULL;
	bool header = true;

	if (s->swaps_loaded)
		return;
	s->swaps_loaded = true;
	if (!pathf(path, sizeof(path), "%s/swaps", s->hc->proc_root) ||
	    !(s->swap_text = file_read_all(path)))
		return;
	for (char *line = strtok_r(s->swap_text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *lsave = NULL, *name = strtok_r(line, " \t", &lsave);

		if (header || !name) {
			header = false;
			continue;
		}
		unescape_octal(name);
		s->swaps = xrealloc(s->swaps, (s->n_swaps + 1) * sizeof(*s->swaps));
		s->swaps[s->n_swaps++] = name;
	}
}

/* The names a block device goes by in the mount table and /proc/swaps. */
struct blk_names {
	char majmin[32];
	char node[NAME_MAX + 8];    /* /dev/NAME */
	char mapper[NAME_MAX + 16]; /* /dev/mapper/DMNAME, "" if not dm */
};

static void blk_names_read(const struct scan *s, const char *name, struct blk_names *b)
{
	char dm_name[NAME_MAX + 1];

	if (!attr_read(b->majmin, sizeof(b->majmin), "%s/class/block/%s/dev", s->hc->sys_root,
		       name))
		b->majmin[0] = '\0';
	if (!pathf(b->node, sizeof(b->node), "/dev/%s", name))
		b->node[0] = '\0';
	if (!attr_read(dm_name, sizeof(dm_name), "%s/class/block/%s/dm/name", s->hc->sys_root,
		       name) || !dm_name[0] ||
	    !pathf(b->mapper, sizeof(b->mapper), "/dev/mapper/%s", dm_name))
		b->mapper[0] = '\0';
}

static bool blk_named(const struct blk_names *b, const char *source)
{
	return (b->node[0] && streq(source, b->node)) || (b->mapper[0] && streq(source, b->mapper));
}

/* Where name is mounted, or NULL.  Field 3 is enough for most file systems;
 * btrfs reports an anonymous 0:N there, so the source is matched too. */
static const char *blk_mount_point(const struct scan *s, const struct blk_names *b)
{
	for (size_t i = 0; i < s->n_mounts; i++) {
		const struct mount_entry *m = &s->mounts[i];

		if ((b->majmin[0] && streq(m->majmin, b->majmin)) || blk_named(b, m->source))
			return m->target;
	}
	return NULL;
}

static bool blk_is_swap(const struct scan *s, const struct blk_names *b)
{
	for (size_t i = 0; i < s->n_swaps; i++)
		if (blk_named(b, s->swaps[i]))
			return true;
	return false;
}

/* "md0 (md)", "dm-0 (LVM vg-root)", or the bare name when the kind is
 * unknown. */
static void holder_describe(const struct scan *s, const char *h, char *out, size_t size)
{
	static const struct { const char *prefix, *kind; } dm_kinds[] = {
		{ "LVM-", "LVM" }, { "CRYPT-", "dm-crypt" }, { "mpath-", "multipath" },
	};
	char uuid[256] = "", dm_name[NAME_MAX + 1] = "", md[PATH_MAX];
	const char *kind = "dm";
	struct stat st;
	bool dm = attr_read(dm_name, sizeof(dm_name), "%s/class/block/%s/dm/name",
			    s->hc->sys_root, h);

	if (attr_read(uuid, sizeof(uuid), "%s/class/block/%s/dm/uuid", s->hc->sys_root, h))
		dm = true;
	for (size_t i = 0; i < ARRAY_SIZE(dm_kinds); i++)
		if (strncmp(uuid, dm_kinds[i].prefix, strlen(dm_kinds[i].prefix)) == 0)
			kind = dm_kinds[i].kind;
	if (dm) {
		snprintf(out, size, "%s (%s%s%s)", h, kind, dm_name[0] ? " " : "", dm_name);
		return;
	}
	if ((pathf(md, sizeof(md), "%s/class/block/%s/md", s->hc->sys_root, h) &&
	     stat(md, &st) == 0) || strncmp(h, "md", 2) == 0)
		snprintf(out, size, "%s (md)", h);
	else
		snprintf(out, size, "%s", h);
}

enum blk_use {
	BLK_FREE,
	BLK_MOUNTED,   /* phrase: "mounted at M" */
	BLK_SWAP,      /* "active swap" */
	BLK_BTRFS,     /* "part of the btrfs mounted at M" */
	BLK_HELD,      /* "held by H (kind): taking NAME away degrades or breaks H" */
	BLK_HELD_USED, /* "held by H (kind), which is <H's phrase>" */
};

static enum blk_use block_use(struct scan *s, const char *name, int depth, char *phrase,
			      size_t size);

static bool blk_in_use(enum blk_use u)
{
	return u != BLK_FREE && u != BLK_HELD;
}

/* Judges holder h of name, given what the holders before it came to: a
 * holder whose chain ends in a use wins over one that is merely there. */
static enum blk_use holder_judge(struct scan *s, const char *name, const char *h, int depth,
				 enum blk_use so_far, char *phrase, size_t size)
{
	char desc[NAME_MAX + 300], sub[PHRASE_MAX];
	enum blk_use u = depth < CHAIN_DEPTH_MAX ? block_use(s, h, depth + 1, sub, sizeof(sub))
						 : BLK_FREE;

	if (blk_in_use(u)) {
		holder_describe(s, h, desc, sizeof(desc));
		phrase_set(phrase, size, "held by %s, which is %s", desc, sub);
		return BLK_HELD_USED;
	}
	if (so_far == BLK_FREE) {
		holder_describe(s, h, desc, sizeof(desc));
		phrase_set(phrase, size, "held by %s: taking %s away degrades or breaks %s", desc,
			 name, h);
	}
	return BLK_HELD;
}

/* Follows <sys>/class/block/NAME/holders (dm, md, bcache...): any holder at
 * all makes the device critical, since an assembled array or an active PV
 * loses a member; one whose chain ends in a mount or swap is named. */
static enum blk_use block_holders(struct scan *s, const char *name, int depth, char *phrase,
				  size_t size)
{
	char dir[PATH_MAX];
	struct dirent **holders = NULL;
	enum blk_use use = BLK_FREE;
	int n;

	if (!pathf(dir, sizeof(dir), "%s/class/block/%s/holders", s->hc->sys_root, name))
		return BLK_FREE;
	n = list_dir(dir, &holders, no_dots);
	for (int i = 0; i < n; i++) {
		if (use != BLK_HELD_USED)
			use = holder_judge(s, name, holders[i]->d_name, depth, use, phrase, size);
		free(holders[i]);
	}
	free(holders);
	return use;
}

/* Where a mounted btrfs is mounted: the mount table names one of its
 * members, any one. */
static void btrfs_describe(const struct scan *s, const char *fs_dir, char *phrase, size_t size)
{
	char dir[PATH_MAX];
	struct dirent **members = NULL;
	const char *target = NULL;
	int n;

	if (!pathf(dir, sizeof(dir), "%s/devices", fs_dir))
		return;
	n = list_dir(dir, &members, no_dots);
	for (int i = 0; i < n; i++) {
		struct blk_names b;

		if (!target) {
			blk_names_read(s, members[i]->d_name, &b);
			target = blk_mount_point(s, &b);
		}
		free(members[i]);
	}
	free(members);
	if (target)
		snprintf(phrase, size, "part of the btrfs mounted at %s", target);
	else
		snprintf(phrase, size, "part of a mounted btrfs (%s)", strrchr(fs_dir, '/') + 1);
}

/* The mount table names one member of a multi-device btrfs; while it is
 * mounted, <sys>/fs/btrfs/<fsid>/devices lists them all. */
static bool btrfs_member(const struct scan *s, const char *name, char *phrase, size_t size)
{
	char dir[PATH_MAX], fs_dir[PATH_MAX], probe[PATH_MAX];
	struct dirent **fsids = NULL;
	bool found = false;
	int n;

	if (!pathf(dir, sizeof(dir), "%s/fs/btrfs", s->hc->sys_root))
		return false;
	n = list_dir(dir, &fsids, no_dots);
	for (int i = 0; i < n; i++) {
		struct stat st;

		if (!found && pathf(fs_dir, sizeof(fs_dir), "%s/%s", dir, fsids[i]->d_name) &&
		    pathf(probe, sizeof(probe), "%s/devices/%s", fs_dir, name) &&
		    lstat(probe, &st) == 0) {
			btrfs_describe(s, fs_dir, phrase, size);
			found = true;
		}
		free(fsids[i]);
	}
	free(fsids);
	return found;
}

static enum blk_use block_use(struct scan *s, const char *name, int depth, char *phrase,
			      size_t size)
{
	struct blk_names b;
	const char *target;

	blk_names_read(s, name, &b);
	if ((target = blk_mount_point(s, &b))) {
		snprintf(phrase, size, "mounted at %s", target);
		return BLK_MOUNTED;
	}
	swaps_load(s);
	if (blk_is_swap(s, &b)) {
		snprintf(phrase, size, "active swap");
		return BLK_SWAP;
	}
	if (btrfs_member(s, name, phrase, size))
		return BLK_BTRFS;
	return block_holders(s, name, depth, phrase, size);
}

static bool block_entry(struct scan *s, const char *name)
{
	char phrase[PHRASE_MAX];

	if (!mounts_load(s))
		return true;
	switch (block_use(s, name, 0, phrase, sizeof(phrase))) {
	case BLK_FREE:
		return false;
	case BLK_MOUNTED:
		return say(s, "%s (under this device) is %s", name, phrase);
	default:
		return say(s, "%s is %s", name, phrase);
	}
}

/* ---- network: up with addresses or routes -------------------------------- */

static void net_load(struct scan *s)
{
	char path[PATH_MAX];

	if (s->net_loaded)
		return;
	s->net_loaded = true;
	if (pathf(path, sizeof(path), "%s/net/if_inet6", s->hc->proc_root))
		s->inet6 = file_read_all(path);
	if (pathf(path, sizeof(path), "%s/net/route", s->hc->proc_root))
		s->route4 = file_read_all(path);
	if (pathf(path, sizeof(path), "%s/net/ipv6_route", s->hc->proc_root))
		s->route6 = file_read_all(path);
}

static bool net_up(const struct scan *s, const char *ifname)
{
	char flags[32];

	return attr_read(flags, sizeof(flags), "%s/class/net/%s/flags", s->hc->sys_root, ifname) &&
	       (strtoul(flags, NULL, 16) & IFF_UP);
}

static bool ipv4_link_local(struct in_addr a)
{
	return (ntohl(a.s_addr) & 0xffff0000u) == 0xa9fe0000u; /* 169.254.0.0/16 */
}

static bool ipv6_ignored(const struct in6_addr *a)
{
	bool link_local = a->s6_addr[0] == 0xfe && (a->s6_addr[1] & 0xc0) == 0x80;

	return link_local || a->s6_addr[0] == 0xff; /* fe80::/10, multicast */
}

static bool hex_to_in6(const char *hex, struct in6_addr *a)
{
	if (strlen(hex) != 32 || strspn(hex, "0123456789abcdefABCDEF") != 32)
		return false;
	for (int i = 0; i < 16; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return false;
		a->s6_addr[i] = (uint8_t)v;
	}
	return true;
}

static bool net_ipv4_address(const struct scan *s, const char *ifname, char *phrase, size_t size)
{
	struct hostcrit_ipv4 addrs[IPV4_MAX];
	char text[INET_ADDRSTRLEN];
	int n;

	if (!s->hc->ipv4)
		return false;
	n = s->hc->ipv4(s->hc->ipv4_ctx, ifname, addrs, ARRAY_SIZE(addrs));
	if (n < 0) {
		log_warn("cannot list the IPv4 addresses of %s: %s; judging it by routes", ifname,
			 strerror(errno));
		return false;
	}
	for (size_t i = 0; i < (size_t)n && i < ARRAY_SIZE(addrs); i++) {
		if (ipv4_link_local(addrs[i].addr))
			continue;
		inet_ntop(AF_INET, &addrs[i].addr, text, sizeof(text));
		snprintf(phrase, size, "is up with address %s/%u", text, addrs[i].prefix);
		return true;
	}
	return false;
}

/* /proc/net/if_inet6: address, ifindex, prefix, scope, flags, name. */
static bool net_ipv6_address(const struct scan *s, const char *ifname, char *phrase, size_t size)
{
	const char *p = s->inet6;
	char line[256], hex[33], name[IFNAMSIZ + 1], text[INET6_ADDRSTRLEN];
	unsigned idx, prefix, scope, flags;
	struct in6_addr a;

	while (next_line(&p, line, sizeof(line))) {
		if (sscanf(line, "%32s %x %x %x %x %16s", hex, &idx, &prefix, &scope, &flags,
			   name) != 6 || !streq(name, ifname) || scope == 0x20 ||
		    !hex_to_in6(hex, &a) || ipv6_ignored(&a))
			continue;
		inet_ntop(AF_INET6, &a, text, sizeof(text));
		snprintf(phrase, size, "is up with address %s/%u", text, prefix);
		return true;
	}
	return false;
}

/* /proc/net/route: the kernel prints the raw network-order words in hex. */
static bool net_route4(const struct scan *s, const char *ifname, char *phrase, size_t size)
{
	const char *p = s->route4;
	char line[256], name[IFNAMSIZ + 1], text[INET_ADDRSTRLEN];
	unsigned dest, gw, flags, mask;

	while (next_line(&p, line, sizeof(line))) {
		struct in_addr a;

		if (sscanf(line, "%16s %x %x %x %*d %*d %*d %x", name, &dest, &gw, &flags, &mask) !=
			    5 || !streq(name, ifname))
			continue;
		a.s_addr = dest;
		if (ipv4_link_local(a))
			continue;
		if (dest == 0 && mask == 0)
			snprintf(phrase, size, "is up with a default route");
		else
			snprintf(phrase, size, "is up with a route to %s/%d",
				 inet_ntop(AF_INET, &a, text, sizeof(text)),
				 __builtin_popcount(mask));
		return true;
	}
	return false;
}

/* /proc/net/ipv6_route: dest, prefix, src, prefix, next hop, metric,
 * refcnt, use, flags, name.  Every up interface has fe80::/64 and ff00::/8
 * routes of its own; only others count. */
static bool net_route6(const struct scan *s, const char *ifname, char *phrase, size_t size)
{
	const char *p = s->route6;
	char line[256], hex[33], name[IFNAMSIZ + 1], text[INET6_ADDRSTRLEN];
	unsigned prefix;
	struct in6_addr a;

	while (next_line(&p, line, sizeof(line))) {
		if (sscanf(line, "%32s %x %*s %*x %*s %*x %*x %*x %*x %16s", hex, &prefix,
			   name) != 3 ||
		    !streq(name, ifname) || !hex_to_in6(hex, &a) || ipv6_ignored(&a))
			continue;
		if (prefix == 0)
			snprintf(phrase, size, "is up with a default route");
		else
			snprintf(phrase, size, "is up with a route to %s/%u",
				 inet_ntop(AF_INET6, &a, text, sizeof(text)), prefix);
		return true;
	}
	return false;
}

static bool net_phrase(struct scan *s, const char *ifname, int depth, char *phrase,
		       size_t size);

static int is_upper(const struct dirent *d)
{
	return strncmp(d->d_name, "upper_", 6) == 0;
}

/* The devices stacked on ifname (VLANs, macvlans, its master) are linked
 * from it as upper_NAME; skip is the master, already judged. */
static bool net_upper(struct scan *s, const char *ifname, const char *skip, int depth,
		      char *phrase, size_t size)
{
	char dir[PATH_MAX], sub[PHRASE_MAX];
	struct dirent **uppers = NULL;
	bool found = false;
	int n;

	if (!pathf(dir, sizeof(dir), "%s/class/net/%s", s->hc->sys_root, ifname))
		return false;
	n = list_dir(dir, &uppers, is_upper);
	for (int i = 0; i < n; i++) {
		const char *upper = uppers[i]->d_name + strlen("upper_");

		if (!found && !streq(upper, skip) &&
		    net_phrase(s, upper, depth + 1, sub, sizeof(sub))) {
			phrase_set(phrase, size, "carries %s, which %s", upper, sub);
			found = true;
		}
		free(uppers[i]);
	}
	free(uppers);
	return found;
}

/* What makes ifname busy: "is up with ...", "is enslaved to M, which ..."
 * when its bond, bridge or team is, or "carries V, which ..." when a VLAN
 * or macvlan on it is. */
static bool net_phrase(struct scan *s, const char *ifname, int depth, char *phrase, size_t size)
{
	char link[PATH_MAX], master[IFNAMSIZ + 1] = "", sub[PHRASE_MAX];

	if (net_up(s, ifname)) {
		net_load(s);
		if (net_ipv4_address(s, ifname, phrase, size) ||
		    net_ipv6_address(s, ifname, phrase, size) ||
		    net_route4(s, ifname, phrase, size) || net_route6(s, ifname, phrase, size))
			return true;
	}
	if (depth >= CHAIN_DEPTH_MAX)
		return false;
	if (pathf(link, sizeof(link), "%s/class/net/%s/master", s->hc->sys_root, ifname) &&
	    link_basename(link, master, sizeof(master)) &&
	    net_phrase(s, master, depth + 1, sub, sizeof(sub))) {
		phrase_set(phrase, size, "is enslaved to %s, which %s", master, sub);
		return true;
	}
	return net_upper(s, ifname, master, depth, phrase, size);
}

static bool net_entry(struct scan *s, const char *ifname)
{
	char phrase[PHRASE_MAX];

	if (streq(ifname, "lo") || !net_phrase(s, ifname, 0, phrase, sizeof(phrase)))
		return false;
	return say(s, "%s %s", ifname, phrase);
}

/* ---- console ------------------------------------------------------------- */

/* A virtio function's child device (virtioN) is bound to driver: the PCI
 * function is only the transport, the child is what the host uses. */
static bool virtio_child_driver(const struct scan *s, const char *driver)
{
	DIR *d = opendir(s->under);
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		char link[PATH_MAX], name[NAME_MAX + 1];

		found = strncmp(e->d_name, "virtio", 6) == 0 &&
			pathf(link, sizeof(link), "%s%s/driver", s->under, e->d_name) &&
			link_basename(link, name, sizeof(name)) && streq(name, driver);
	}
	closedir(d);
	return found;
}

/* tty0..tty63: a virtual terminal, drawn on a frame buffer. */
static bool tty_is_vt(const char *name)
{
	char *end;
	long n;

	if (strncmp(name, "tty", 3) != 0 || name[3] < '0' || name[3] > '9')
		return false;
	n = strtol(name + 3, &end, 10);
	return *end == '\0' && n >= 0 && n <= 63;
}

static bool fb_entry(struct scan *s, const char *name)
{
	return say(s, "%s shows the console", name);
}

static bool console_unknown_entry(struct scan *s, const char *name)
{
	return say(s, "%s; %s is under this device: refusing to be sure", s->note, name);
}

static bool console_check(struct scan *s)
{
	char active[512], *save = NULL;
	bool vt = false;

	if (!attr_read(active, sizeof(active), "%s/class/tty/console/active", s->hc->sys_root)) {
		/* Matters only when the device carries a terminal or a frame buffer. */
		snprintf(s->note, sizeof(s->note),
			 "cannot read the console list: %s/class/tty/console/active: %s",
			 s->hc->sys_root, strerror(errno));
		return class_scan(s, "tty", entry_under, console_unknown_entry) ||
		       class_scan(s, "graphics", entry_under, console_unknown_entry);
	}
	for (char *w = strtok_r(active, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (tty_is_vt(w))
			vt = true;
		else if (entry_under(s, "tty", w))
			return say(s, "%s is a system console", w);
		/* hvcN sits in devices/virtual, whatever carries it. */
		else if (strncmp(w, "hvc", 3) == 0 && virtio_child_driver(s, "virtio_console"))
			return say(s, "%s is a system console (virtio console)", w);
	}
	return vt && class_scan(s, "graphics", entry_under, fb_entry);
}

/* ---- vsock and the fixed rules ------------------------------------------- */

/* A transport of the device's own (its bus says: a VMCI or virtio vsock
 * PCI function), or the virtio vsock driver on one of its children. */
static bool vsock_check(struct scan *s)
{
	const struct bus_desc *b = bus_of(s->dev);
	const char *own = b->transport_critical ? b->transport_critical(s->dev) : NULL;

	if (own)
		return say(s, "%s", own);
	return virtio_child_driver(s, "vmw_vsock_virtio_transport") &&
	       say(s, "vsock transport (virtio)");
}

/* ---- the API ------------------------------------------------------------- */

const char *hostcrit_default_proc_root(void)
{
	const char *env = getenv("HOSTDEVD_PROC_ROOT");

	return env && *env ? env : "/proc";
}

/* A root with "//", "." or a trailing "/" folded, as resolved links are. */
static char *root_normalise(const char *root)
{
	char out[PATH_MAX];

	if (root[0] != '/' || !path_fold("/", root, out, sizeof(out))) {
		errno = EINVAL;
		return NULL;
	}
	return xstrdup(out);
}

struct hostcrit *hostcrit_new(const char *sys_root, const char *proc_root)
{
	struct hostcrit *hc = xcalloc(1, sizeof(*hc));

	hc->sys_root = root_normalise(sys_root ? sys_root : "/sys");
	hc->proc_root = root_normalise(proc_root ? proc_root : hostcrit_default_proc_root());
	if (!hc->sys_root || !hc->proc_root) {
		hostcrit_free(hc);
		errno = EINVAL;
		return NULL;
	}
	if (streq(hc->proc_root, "/proc"))
		hc->ipv4 = hostcrit_ipv4_system;
	return hc;
}

void hostcrit_free(struct hostcrit *hc)
{
	if (!hc)
		return;
	free(hc->sys_root);
	free(hc->proc_root);
	free(hc);
}

void hostcrit_set_ipv4_source(struct hostcrit *hc, hostcrit_ipv4_fn fn, void *ctx)
{
	hc->ipv4 = fn;
	hc->ipv4_ctx = ctx;
}

int hostcrit_ipv4_system(void *ctx, const char *ifname, struct hostcrit_ipv4 *out, size_t max)
{
	struct ifaddrs *list, *ifa;
	size_t n = 0;

	if (getifaddrs(&list) < 0)
		return -1;
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ifa->ifa_addr;
		const struct sockaddr_in *m = (const struct sockaddr_in *)ifa->ifa_netmask;

		if (!a || a->sin_family != AF_INET || !streq(ifa->ifa_name, ifname))
			continue;
		if (n < max)
			out[n] = (struct hostcrit_ipv4){
				.addr = a->sin_addr,
				.prefix = m ? (unsigned)__builtin_popcount(m->sin_addr.s_addr) : 32,
			};
		n++;
	}
	freeifaddrs(list);
	return (int)n;
}

static void scan_done(struct scan *s)
{
	free(s->mounts);
	free(s->mount_text);
	free(s->swaps);
	free(s->swap_text);
	free(s->inet6);
	free(s->route4);
	free(s->route6);
}

/* The checks that look beyond the record; false when nothing is critical. */
static bool scan_run(struct scan *s)
{
	if (!s->dev->syspath || s->dev->syspath[0] != '/' ||
	    !path_fold("/", s->dev->syspath, s->under, sizeof(s->under) - 1))
		return say(s, "its sysfs path is unknown; refusing to be sure");
	s->under_len = strlen(s->under);
	s->under[s->under_len++] = '/';
	s->under[s->under_len] = '\0';
	return vsock_check(s) || class_scan(s, "block", block_under, block_entry) ||
	       class_scan(s, "net", entry_under, net_entry) || console_check(s);
}

const char *hostcrit_reason(struct hostcrit *hc, const struct device *dev, char *buf, size_t size)
{
	/* Decided from the record alone, by its bus: bridges, the boot VGA
	 * device, hubs. */
	const char *fixed = bus_of(dev)->fixed_critical(dev);
	struct scan s = { .hc = hc, .dev = dev, .buf = buf, .size = size };
	bool critical;

	if (fixed) {
		snprintf(buf, size, "%s", fixed);
		return buf;
	}
	critical = scan_run(&s);
	scan_done(&s);
	if (!critical)
		return NULL;
	log_dev_debug(dev->id, "host-critical: %s", buf);
	return buf;
}
