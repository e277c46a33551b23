/* libhdkemu.so: the kernel emulator, preloaded before umockdev's preload
 * (LD_PRELOAD=libhdkemu.so:libumockdev-preload.so.0).
 *
 * open() of a sysfs file for writing is passed on (umockdev redirects it
 * into the testbed), then the descriptor's real path says which control
 * file it is; write() to such a descriptor runs the kernel's store on the
 * testbed (kdriver.c) instead of writing the file, and returns what the
 * kernel's would.  Everything else passes through untouched.
 *
 * The guard: a write-open whose target is this machine's real /sys, or a
 * /sys path while no testbed redirects it, fails with EPERM and a loud
 * message, before anything is opened.  Nothing here can reach the real
 * /sys with a write. */
#undef _FORTIFY_SOURCE
#include "tests/kemu/kdriver.h"
#include "tests/kemu/kfs.h"
#include "tests/kemu/kstate.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Entry points glibc's headers declare only under _FORTIFY_SOURCE. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

/* Lets a test check that the emulator is loaded (kemu_loaded()). */
const int kemu_preload_marker = 1;

/* ---- the next definitions (umockdev's, then libc's) ---------------------- */

static struct {
	int (*open)(const char *, int, ...);
	int (*open64)(const char *, int, ...);
	int (*openat)(int, const char *, int, ...);
	int (*openat64)(int, const char *, int, ...);
	int (*open_2)(const char *, int);
	int (*open64_2)(const char *, int);
	ssize_t (*write)(int, const void *, size_t);
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fflush)(FILE *);
	FILE *(*fopen)(const char *, const char *);
	FILE *(*fopen64)(const char *, const char *);
	bool umockdev_follows;
} next;

static pthread_once_t next_once = PTHREAD_ONCE_INIT;

static void *next_symbol(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		fprintf(stderr, "kemu: no next definition of %s\n", name);
		abort();
	}
	return p;
}

static void resolve_next_once(void)
{
	Dl_info info;

	next.open = next_symbol("open");
	next.open64 = next_symbol("open64");
	next.openat = next_symbol("openat");
	next.openat64 = next_symbol("openat64");
	next.open_2 = next_symbol("__open_2");
	next.open64_2 = next_symbol("__open64_2");
	next.write = next_symbol("write");
	next.close = next_symbol("close");
	next.dup = next_symbol("dup");
	next.dup2 = next_symbol("dup2");
	next.dup3 = next_symbol("dup3");
	next.fflush = next_symbol("fflush");
	next.fopen = next_symbol("fopen");
	next.fopen64 = next_symbol("fopen64");
	/* Only umockdev, right after us, turns the program's /sys into the
	 * testbed; if something else is next, /sys is the machine's. */
	next.umockdev_follows = dladdr((void *)next.open, &info) && info.dli_fname &&
				strstr(info.dli_fname, "libumockdev-preload");
}

static void resolve_next(void)
{
	pthread_once(&next_once, resolve_next_once);
}

/* Set while the emulator itself works on the testbed: its own opens and
 * writes go straight through. */
static __thread bool in_kemu;

/* ---- the guard ---------------------------------------------------------- */

static bool is_sys_path(const char *p)
{
	return strncmp(p, "/sys/", 5) == 0 || strcmp(p, "/sys") == 0;
}

static bool mock_active(void)
{
	const char *root = getenv("UMOCKDEV_DIR");
	char path[PATH_MAX];

	if (!root || !*root || !next.umockdev_follows)
		return false;
	/* umockdev_testbed_disable() leaves this file: /sys is real again. */
	return kfs_path(path, "%s/disabled", root) == 0 && !kfs_exists(path);
}

static int refuse(const char *path, const char *why)
{
	fprintf(stderr, "\nkemu: *** REFUSED a write to %s: %s ***\n\n", path, why);
	errno = EPERM;
	return -1;
}

#define NO_TESTBED                                                                         \
	"no umockdev testbed redirects it (UMOCKDEV_DIR unset, testbed disabled, or "      \
	"libumockdev-preload.so.0 not right after libhdkemu.so in LD_PRELOAD); the tests " \
	"never write this machine's /sys"

static int dir_path(int dirfd, char *buf, size_t len)
{
	return dirfd == AT_FDCWD ? kfs_canonical_dir(".", buf, len) : kfs_fd_path(dirfd, buf, len);
}

/* Before opening: would this open for writing reach the real /sys? */
static bool refuse_before(int dirfd, const char *path)
{
	char dir[PATH_MAX], full[PATH_MAX];

	if (path[0] == '/')
		return is_sys_path(path) && !mock_active();
	if (dir_path(dirfd, dir, sizeof(dir)) < 0)
		return false; /* the check after opening still applies */
	/* umockdev redirects nothing relative to a real sysfs directory. */
	if (is_sys_path(dir))
		return true;
	if (kfs_path(full, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, path) < 0)
		return false;
	return is_sys_path(full) && !mock_active();
}

/* ---- which descriptors are control files -------------------------------- */

struct kfile {
	enum kstate_op op;
	char root[PATH_MAX];  /* the canonical testbed root */
	char where[PATH_MAX]; /* the devpath, or the driver for bind/unbind */
	char bus[32];
	dev_t dev;
	ino_t ino;
	bool stand_in; /* a memfd a shell writes instead of the file */
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kfile **table; /* by descriptor */
static size_t table_len;
static atomic_size_t n_tracked;

static void table_put(int fd, struct kfile *kf)
{
	pthread_mutex_lock(&table_lock);
	if ((size_t)fd >= table_len) {
		size_t len = (size_t)fd + 64;
		struct kfile **t = realloc(table, len * sizeof(*t));

		if (!t) {
			pthread_mutex_unlock(&table_lock);
			free(kf);
			return;
		}
		memset(t + table_len, 0, (len - table_len) * sizeof(*t));
		table = t;
		table_len = len;
	}
	if (table[fd])
		free(table[fd]);
	else
		atomic_fetch_add(&n_tracked, 1);
	table[fd] = kf;
	pthread_mutex_unlock(&table_lock);
}

static void table_drop(int fd)
{
	struct kfile *kf = NULL;

	pthread_mutex_lock(&table_lock);
	if (fd >= 0 && (size_t)fd < table_len && table[fd]) {
		kf = table[fd];
		table[fd] = NULL;
		atomic_fetch_sub(&n_tracked, 1);
	}
	pthread_mutex_unlock(&table_lock);
	free(kf);
}

/* A copy, so that a close() in another thread cannot pull it away. */
static struct kfile *table_copy(int fd)
{
	struct kfile *kf = NULL;

	pthread_mutex_lock(&table_lock);
	if (fd >= 0 && (size_t)fd < table_len && table[fd] && (kf = malloc(sizeof(*kf))))
		*kf = *table[fd];
	pthread_mutex_unlock(&table_lock);
	return kf;
}

static void table_atfork_prepare(void)
{
	pthread_mutex_lock(&table_lock);
}

static void table_atfork_release(void)
{
	pthread_mutex_unlock(&table_lock);
}

static bool bus_ok(const char *bus)
{
	return strcmp(bus, "pci") == 0 || strcmp(bus, "usb") == 0;
}

/* "bus/<bus>/drivers_probe", "bus/<bus>/drivers/<drv>/{bind,unbind}". */
static bool classify_bus_file(const char *rel, struct kfile *kf)
{
	char drv[NAME_MAX + 1], file[16];
	int n = 0;

	if (sscanf(rel, "bus/%31[^/]/drivers_probe%n", kf->bus, &n) == 1 && rel[n] == '\0' &&
	    bus_ok(kf->bus)) {
		kf->op = KOP_DRIVERS_PROBE;
		return true;
	}
	n = 0;
	if (sscanf(rel, "bus/%31[^/]/drivers/%255[^/]/%15[^/]%n", kf->bus, drv, file, &n) != 3 ||
	    rel[n] != '\0' || !bus_ok(kf->bus))
		return false;
	if (strcmp(file, "bind") == 0)
		kf->op = KOP_BIND;
	else if (strcmp(file, "unbind") == 0)
		kf->op = KOP_UNBIND;
	else
		return false;
	snprintf(kf->where, sizeof(kf->where), "%s", drv);
	return true;
}

/* "devices/.../<id>/<attribute>", for the attributes and buses that have
 * a store: driver_override and reset on PCI functions, remove on PCI
 * functions and USB devices, authorized on USB devices. */
static bool classify_device_file(const char *root, const char *rel, struct kfile *kf)
{
	const char *slash = strrchr(rel, '/'), *attr, *id;
	char path[PATH_MAX];
	bool pci, usb_device;
	int op;

	if (strncmp(rel, "devices/", 8) != 0 || !slash)
		return false;
	attr = slash + 1;
	op = kstate_op_from_name(attr);
	if (op != KOP_DRIVER_OVERRIDE && op != KOP_RESET && op != KOP_REMOVE &&
	    op != KOP_AUTHORIZED)
		return false;
	snprintf(kf->where, sizeof(kf->where), "%.*s", (int)(slash - rel), rel);
	if (kfs_path(path, "%s/sys/%s/subsystem", root, kf->where) < 0 ||
	    kfs_link_name(path, kf->bus, sizeof(kf->bus)) < 0)
		return false;
	id = strrchr(kf->where, '/');
	pci = strcmp(kf->bus, "pci") == 0;
	usb_device = strcmp(kf->bus, "usb") == 0 && !strchr(id ? id + 1 : kf->where, ':');
	kf->op = (enum kstate_op)op;
	if (op == KOP_DRIVER_OVERRIDE || op == KOP_RESET)
		return pci;
	if (op == KOP_REMOVE)
		return pci || usb_device;
	return usb_device;
}

/* Which control file a real path is, or NULL. */
static struct kfile *classify(const char *real)
{
	const char *env = getenv("UMOCKDEV_DIR");
	char sys[PATH_MAX];
	struct kfile *kf;
	size_t n;

	if (!env || !*env || !(kf = calloc(1, sizeof(*kf))))
		return NULL;
	if (kfs_canonical_dir(env, kf->root, sizeof(kf->root)) < 0 ||
	    kfs_path(sys, "%s/sys/", kf->root) < 0 || strncmp(real, sys, n = strlen(sys)) != 0 ||
	    !(classify_bus_file(real + n, kf) || classify_device_file(kf->root, real + n, kf))) {
		free(kf);
		return NULL;
	}
	return kf;
}

/* Takes kf. */
static bool track_as(int fd, struct kfile *kf)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		free(kf);
		return false;
	}
	kf->dev = st.st_dev;
	kf->ino = st.st_ino;
	table_put(fd, kf);
	return true;
}

static void track(int fd, const char *real)
{
	struct kfile *kf = classify(real);

	if (kf)
		track_as(fd, kf);
}

/* ---- open --------------------------------------------------------------- */

enum opener { VIA_OPEN, VIA_OPEN64, VIA_OPEN_2, VIA_OPEN64_2, VIA_OPENAT, VIA_OPENAT64 };

static int forward(enum opener via, int dirfd, const char *path, int flags, mode_t mode)
{
	switch (via) {
	case VIA_OPEN:
		return next.open(path, flags, mode);
	case VIA_OPEN64:
		return next.open64(path, flags, mode);
	case VIA_OPEN_2:
		return next.open_2(path, flags);
	case VIA_OPEN64_2:
		return next.open64_2(path, flags);
	case VIA_OPENAT:
		return next.openat(dirfd, path, flags, mode);
	case VIA_OPENAT64:
		return next.openat64(dirfd, path, flags, mode);
	}
	errno = EINVAL;
	return -1;
}

static bool opens_for_writing(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_CREAT));
}

static bool is_control_file(const char *path);

/* A shell's `echo ID > unbind`: bash opens with O_CREAT | O_TRUNC, which
 * sysfs ignores on an attribute that exists, moves the descriptor onto 1
 * with dup2() and has echo write through stdio, from inside libc, past our
 * write().  So an existing control file opened that way is opened as the
 * kernel would (no truncation), and the caller gets a memfd standing in for
 * it: what stdio puts there is given to the store when the stream is flushed
 * (bash flushes and checks ferror() after each echo) or the descriptor
 * closed, and never lands in the testbed's file.  Returns the memfd, or -1
 * when this is not an existing control file (the caller then opens as
 * asked: files the harness creates). */
static int open_shell_redirect(enum opener via, int dirfd, const char *path, int flags)
{
	char real[PATH_MAX];
	struct kfile *kf;
	int fd, mfd;

	fd = forward(via, dirfd, path, flags & ~(O_CREAT | O_TRUNC), 0);
	if (fd < 0)
		return -1;
	if (kfs_fd_path(fd, real, sizeof(real)) < 0 || is_sys_path(real) ||
	    !(kf = classify(real))) {
		next.close(fd);
		return -1;
	}
	next.close(fd);
	mfd = memfd_create("kemu-shell-write", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
	if (mfd < 0) {
		free(kf);
		return -1;
	}
	kf->stand_in = true;
	if (!track_as(mfd, kf)) {
		next.close(mfd);
		return -1;
	}
	return mfd;
}

static int open_common(enum opener via, int dirfd, const char *path, int flags, mode_t mode)
{
	char real[PATH_MAX];
	int fd, saved;

	resolve_next();
	if (in_kemu || !opens_for_writing(flags))
		return forward(via, dirfd, path, flags, mode);
	if (refuse_before(dirfd, path))
		return refuse(path, NO_TESTBED);
	/* Only for a control file's name: umockdev leaks a socket for each
	 * failed open under /dev/, where the testbed lives. */
	if ((flags & O_CREAT) && !(flags & O_EXCL) && is_control_file(path) && mock_active()) {
		saved = errno;
		if ((fd = open_shell_redirect(via, dirfd, path, flags)) >= 0)
			return fd;
		errno = saved;
	}
	fd = forward(via, dirfd, path, flags, mode);
	if (fd < 0)
		return fd;
	saved = errno;
	if (kfs_fd_path(fd, real, sizeof(real)) == 0) {
		/* Opened, never written: a path that found its way around
		 * the checks above (a link, /proc/self/root...) ends here. */
		if (is_sys_path(real)) {
			next.close(fd);
			return refuse(real, "it is this machine's own sysfs, which the tests never "
					    "write");
		}
		/* Files the harness creates (O_CREAT) are its own writes. */
		if (!(flags & O_CREAT))
			track(fd, real);
	}
	errno = saved;
	return fd;
}

static bool needs_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

#define MODE_ARG(flags, mode)                                                              \
	do {                                                                               \
		if (needs_mode(flags)) {                                                   \
			va_list ap;                                                        \
			va_start(ap, flags);                                               \
			mode = va_arg(ap, mode_t);                                         \
			va_end(ap);                                                        \
		}                                                                          \
	} while (0)

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	return open_common(VIA_OPEN, AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	return open_common(VIA_OPEN64, AT_FDCWD, path, flags, mode);
}

int __open_2(const char *path, int flags)
{
	return open_common(VIA_OPEN_2, AT_FDCWD, path, flags, 0);
}

int __open64_2(const char *path, int flags)
{
	return open_common(VIA_OPEN64_2, AT_FDCWD, path, flags, 0);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	return open_common(VIA_OPENAT, dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	MODE_ARG(flags, mode);
	return open_common(VIA_OPENAT64, dirfd, path, flags, mode);
}

/* umockdev has no __openat_2 or creat: through its openat and open. */
int __openat_2(int dirfd, const char *path, int flags)
{
	return open_common(VIA_OPENAT, dirfd, path, flags, 0);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	return open_common(VIA_OPENAT64, dirfd, path, flags, 0);
}

int creat(const char *path, mode_t mode)
{
	return open_common(VIA_OPEN, AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode)
{
	return open_common(VIA_OPEN64, AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* ---- stdio: guarded, not emulated --------------------------------------- */

static bool is_control_file(const char *path)
{
	const char *base = strrchr(path, '/');

	return kstate_op_from_name(base ? base + 1 : path) >= 0 ||
	       (base && strcmp(base + 1, "drivers_probe") == 0);
}

static FILE *fopen_common(bool large, const char *path, const char *mode)
{
	char real[PATH_MAX];
	FILE *f;

	resolve_next();
	if (in_kemu || !strpbrk(mode, "wa+"))
		return (large ? next.fopen64 : next.fopen)(path, mode);
	if (is_sys_path(path) && !mock_active()) {
		refuse(path, NO_TESTBED);
		return NULL;
	}
	/* stdio writes from inside libc, past our write(): a control file
	 * written that way would silently not act.  Say so instead. */
	if (is_sys_path(path) && is_control_file(path)) {
		refuse(path, "stdio writes to sysfs control files are not emulated; use open() and "
			     "write()");
		return NULL;
	}
	f = (large ? next.fopen64 : next.fopen)(path, mode);
	if (f && kfs_fd_path(fileno(f), real, sizeof(real)) == 0 && is_sys_path(real)) {
		fclose(f);
		refuse(real, "it is this machine's own sysfs, which the tests never write");
		return NULL;
	}
	return f;
}

FILE *fopen(const char *path, const char *mode)
{
	return fopen_common(false, path, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
	return fopen_common(true, path, mode);
}

/* ---- write and close ---------------------------------------------------- */

/* What bind, unbind and drivers_probe are given: a device name, which
 * sysfs_streq() matches with one trailing newline forgiven. */
static void written_id(const char *buf, size_t len, char *id, size_t size)
{
	size_t n = strnlen(buf, len);

	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(id, buf, n);
	id[n] = '\0';
}

static int dispatch(const struct kfile *kf, const char *id, const char *buf, size_t len)
{
	switch (kf->op) {
	case KOP_DRIVER_OVERRIDE:
		return kdrv_driver_override(kf->root, kf->where, buf, len);
	case KOP_BIND:
		return kdrv_bind(kf->root, kf->bus, kf->where, id);
	case KOP_UNBIND:
		return kdrv_unbind(kf->root, kf->bus, kf->where, id);
	case KOP_DRIVERS_PROBE:
		return kdrv_drivers_probe(kf->root, kf->bus, id);
	case KOP_RESET:
		return kdrv_reset(kf->root, kf->where, buf, len);
	case KOP_REMOVE:
		return kdrv_remove(kf->root, kf->where, buf, len);
	case KOP_AUTHORIZED:
		return kdrv_authorized(kf->root, kf->where, buf, len);
	case KOP__COUNT:
		break;
	}
	return -EINVAL;
}

/* Counted, then held by a block (without the lock: other writers go on),
 * then failed by a fault or carried out, under the lock. */
static int emulate(const struct kfile *kf, const char *buf, size_t len)
{
	const char *op = kstate_op_name(kf->op), *slash;
	char id[NAME_MAX + 1];
	int lock, err, r;

	if (kf->op == KOP_BIND || kf->op == KOP_UNBIND || kf->op == KOP_DRIVERS_PROBE) {
		written_id(buf, len, id, sizeof(id));
	} else {
		slash = strrchr(kf->where, '/');
		slash = slash ? slash + 1 : kf->where;
		if (strlen(slash) >= sizeof(id))
			return -ENAMETOOLONG;
		memcpy(id, slash, strlen(slash) + 1);
	}
	if ((r = kstate_ensure_dirs(kf->root)) < 0)
		return r;
	kstate_count(kf->root, op, id);
	kstate_block_wait(kf->root, op, id);
	lock = kstate_lock(kf->root);
	if (lock < 0)
		return lock;
	err = kstate_fault_take(kf->root, op, id);
	r = err ? -err : dispatch(kf, id, buf, len);
	kstate_log(kf->root, op, id, buf, len, -r);
	kstate_unlock(lock);
	return r;
}

static bool same_file(int fd, const struct kfile *kf)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_dev == kf->dev && st.st_ino == kf->ino;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	struct kfile *kf;
	int r;

	resolve_next();
	/* A write of nothing never reaches a sysfs store. */
	if (in_kemu || len == 0 || atomic_load(&n_tracked) == 0 || !(kf = table_copy(fd)))
		return next.write(fd, buf, len);
	if (!same_file(fd, kf)) {
		/* The descriptor was closed behind our back (fclose,
		 * dup2) and now names something else. */
		table_drop(fd);
		free(kf);
		return next.write(fd, buf, len);
	}
	in_kemu = true;
	r = emulate(kf, buf, len);
	in_kemu = false;
	free(kf);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return (ssize_t)len;
}

/* What stdio wrote into a stand-in since the last time: given to the
 * store now, as one write.  0, or -errno from the store. */
static int settle(int fd)
{
	struct kfile *kf;
	char buf[4096];
	ssize_t n = 0;
	off_t pos;
	int r = 0;

	if (in_kemu || atomic_load(&n_tracked) == 0 || !(kf = table_copy(fd)))
		return 0;
	in_kemu = true;
	if (kf->stand_in && same_file(fd, kf) && (pos = lseek(fd, 0, SEEK_CUR)) > 0) {
		/* The kernel refuses a store of a page or more. */
		n = (size_t)pos < sizeof(buf) ? pread(fd, buf, (size_t)pos, 0) : -1;
		if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0 || n < 0)
			r = -EINVAL;
		else
			r = emulate(kf, buf, (size_t)n);
	}
	in_kemu = false;
	free(kf);
	return r;
}

int fflush(FILE *f)
{
	int r, fd, err;

	resolve_next();
	r = next.fflush(f);
	if (!f || r != 0 || (fd = fileno(f)) < 0 || (err = settle(fd)) == 0)
		return r;
	/* As after a failed write(): ferror() says so, errno says why. */
	f->_flags |= _IO_ERR_SEEN;
	errno = -err;
	return EOF;
}

int close(int fd)
{
	int err;

	resolve_next();
	if (atomic_load(&n_tracked) == 0)
		return next.close(fd);
	err = settle(fd);
	table_drop(fd);
	if (next.close(fd) < 0)
		return -1;
	if (err < 0) {
		errno = -err;
		return -1;
	}
	return 0;
}

/* A copy of a control descriptor is one too (bash's dup2(fd, 1)); the
 * descriptor a dup2() replaces is closed first. */
static void track_copy(int from, int to)
{
	struct kfile *kf = table_copy(from);

	if (kf)
		table_put(to, kf);
}

int dup(int fd)
{
	int r;

	resolve_next();
	r = next.dup(fd);
	if (r >= 0 && atomic_load(&n_tracked) > 0)
		track_copy(fd, r);
	return r;
}

static int dup_onto(int from, int to, int flags, bool three)
{
	int r;

	resolve_next();
	if (atomic_load(&n_tracked) == 0)
		return three ? next.dup3(from, to, flags) : next.dup2(from, to);
	if (from != to) {
		/* dup2() has no way to report a store's error: the write is
		 * done (the kernel's would have been), the verdict dropped. */
		settle(to);
		table_drop(to);
	}
	r = three ? next.dup3(from, to, flags) : next.dup2(from, to);
	if (r >= 0 && from != to)
		track_copy(from, r);
	return r;
}

int dup2(int from, int to)
{
	return dup_onto(from, to, 0, false);
}

int dup3(int from, int to, int flags)
{
	return dup_onto(from, to, flags, true);
}

/* Behind umockdev's preload, the emulator would see the testbed's paths
 * after umockdev rewrote them and its stdio check would miss them: a test
 * set up that way is wrong, and says so before it runs. */
static void check_order(void)
{
	if (next.umockdev_follows || !dlsym(RTLD_DEFAULT, "trap_path_lock"))
		return;
	fprintf(stderr, "kemu: libhdkemu.so must come before libumockdev-preload.so.0 in "
			"LD_PRELOAD (umockdev-wrapper puts umockdev first: set LD_PRELOAD "
			"yourself instead); refusing to run\n");
	abort();
}

__attribute__((constructor)) static void kemu_preload_init(void)
{
	resolve_next();
	check_order();
	pthread_atfork(table_atfork_prepare, table_atfork_release, table_atfork_release);
}
