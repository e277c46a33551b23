#include "tests/kemu/kemu.h"
#include "tests/kemu/kdriver.h"
#include "tests/kemu/kfs.h"
#include "tests/kemu/kstate.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

__attribute__((format(printf, 1, 2), noreturn)) static void kemu_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kemu: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

bool kemu_loaded(void)
{
	return dlsym(RTLD_DEFAULT, "kemu_preload_marker") != NULL;
}

static void check_op(const char *op)
{
	if (kstate_op_from_name(op) < 0)
		kemu_fail("'%s' is not an operation the emulator knows", op ? op : "(null)");
}

static void ensure_dirs(const char *root)
{
	int r = kstate_ensure_dirs(root);

	if (r < 0)
		kemu_fail("cannot create the state directories under %s/kemu: %s", root,
			  strerror(-r));
}

/* The path of a state file, with the state directories in place. */
static void state_file(char *buf, const char *root, const char *dir, const char *op, const char *id)
{
	int r;

	ensure_dirs(root);
	if ((r = kstate_file(buf, root, dir, op, id)) < 0)
		kemu_fail("state file for %s@%s: %s", op ? op : "", id ? id : "*", strerror(-r));
}

static void state_dir(char *buf, const char *root, const char *dir)
{
	ensure_dirs(root);
	if (kfs_path(buf, "%s/kemu/%s", root, dir) < 0)
		kemu_fail("%s: path too long", root);
}

static void put(const char *path, const char *data)
{
	int r = kfs_write(path, data, strlen(data), 0644);

	if (r < 0)
		kemu_fail("write %s: %s", path, strerror(-r));
}

static void drop(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		kemu_fail("remove %s: %s", path, strerror(errno));
}

void kemu_set_native(const char *root, const char *id, const char *driver)
{
	char path[PATH_MAX];

	if (!id)
		kemu_fail("kemu_set_native() needs a device");
	state_file(path, root, "native", NULL, id);
	if (driver)
		put(path, driver);
	else
		drop(path);
}

void kemu_fault_times(const char *root, const char *op, const char *id, int err, int times)
{
	char path[PATH_MAX], buf[64];

	check_op(op);
	if (err <= 0 || times == 0 || times < -1)
		kemu_fail("a fault needs a positive errno and a count (-1: until cleared)");
	state_file(path, root, "fault", op, id);
	snprintf(buf, sizeof(buf), "%d %d\n", err, times);
	put(path, buf);
}

void kemu_fault(const char *root, const char *op, const char *id, int err)
{
	kemu_fault_times(root, op, id, err, -1);
}

void kemu_fault_clear(const char *root, const char *op, const char *id)
{
	char path[PATH_MAX];
	DIR *dir;
	struct dirent *e;

	if (op) {
		check_op(op);
		state_file(path, root, "fault", op, id);
		drop(path);
		return;
	}
	state_dir(path, root, "fault");
	if (!(dir = opendir(path)))
		kemu_fail("open %s: %s", path, strerror(errno));
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			unlinkat(dirfd(dir), e->d_name, 0);
	closedir(dir);
}

void kemu_block(const char *root, const char *op, const char *id)
{
	char path[PATH_MAX];

	check_op(op);
	state_file(path, root, "block", op, id);
	put(path, "");
}

void kemu_release(const char *root, const char *op, const char *id)
{
	char path[PATH_MAX];

	check_op(op);
	state_file(path, root, "block", op, id);
	drop(path);
}

/* A marker ends in "@<pid>.<tid>"; a writer killed while it waited (a
 * daemon's kill -9) leaves its marker behind, which does not count. */
static bool writer_alive(DIR *dir, const char *name)
{
	const char *at = strrchr(name, '@');
	long pid = at ? strtol(at + 1, NULL, 10) : 0;

	if (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		return true;
	unlinkat(dirfd(dir), name, 0);
	return false;
}

int kemu_blocked(const char *root, const char *op, const char *id)
{
	char path[PATH_MAX], prefix[NAME_MAX + 1];
	const char *slash;
	struct dirent *e;
	DIR *dir;
	int n = 0;

	check_op(op);
	/* Markers are blocked/<op>@<id>@<pid>.<tid>; without an id, any. */
	state_file(path, root, "blocked", op, id);
	slash = strrchr(path, '/');
	snprintf(prefix, sizeof(prefix), "%s", slash + 1);
	if (!id)
		prefix[strlen(prefix) - 1] = '\0';
	else
		strncat(prefix, "@", sizeof(prefix) - strlen(prefix) - 1);
	path[slash - path] = '\0';
	if (!(dir = opendir(path)))
		kemu_fail("open %s: %s", path, strerror(errno));
	while ((e = readdir(dir)))
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0 &&
		     writer_alive(dir, e->d_name);
	closedir(dir);
	return n;
}

static long long ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000LL +
	       (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

bool kemu_wait_blocked(const char *root, const char *op, const char *id, int timeout_ms)
{
	char path[PATH_MAX], events[4096] __attribute__((aligned(8)));
	struct timespec deadline;
	bool found;
	int fd;

	check_op(op);
	state_dir(path, root, "blocked");
	fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0 || inotify_add_watch(fd, path, IN_CREATE | IN_MOVED_TO) < 0)
		kemu_fail("watch %s: %s", path, strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	/* Watch first, then look: a marker made in between is not missed. */
	while (!(found = kemu_blocked(root, op, id) > 0)) {
		long long left = ms_left(&deadline);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		while (read(fd, events, sizeof(events)) > 0)
			;
	}
	close(fd);
	return found || kemu_blocked(root, op, id) > 0;
}

void kemu_never_bind(const char *root, const char *id)
{
	char path[PATH_MAX];

	state_file(path, root, "never_bind", NULL, id);
	put(path, "");
}

void kemu_refuse_driver(const char *root, const char *id, const char *driver)
{
	char path[PATH_MAX];

	state_file(path, root, "never_bind", NULL, id);
	put(path, driver);
}

void kemu_never_bind_clear(const char *root, const char *id)
{
	char path[PATH_MAX];

	state_file(path, root, "never_bind", NULL, id);
	drop(path);
}

unsigned kemu_writes(const char *root, const char *op, const char *id)
{
	check_op(op);
	return kstate_count_get(root, op, id);
}

char *kemu_log(const char *root)
{
	char path[PATH_MAX];
	struct stat st;
	char *buf;
	int fd;
	ssize_t n;

	if (kfs_path(path, "%s/kemu/log", root) < 0)
		kemu_fail("log path too long");
	fd = kfs_open(path, O_RDONLY, 0);
	if (fd < 0 || fstat(fd, &st) < 0) {
		kfs_close(fd);
		return strdup("");
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		kemu_fail("out of memory");
	n = read(fd, buf, (size_t)st.st_size);
	kfs_close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

bool kemu_vfio_present(const char *root, const char *group)
{
	char path[PATH_MAX];

	return kfs_path(path, "%s/dev/vfio/%s", root, group) == 0 && kfs_exists(path);
}

void kemu_vfio_sync(const char *root, const char *group)
{
	char canon[PATH_MAX];
	int r = kfs_canonical_dir(root, canon, sizeof(canon));

	if (r < 0 || (r = kdrv_vfio_sync(canon, group)) < 0)
		kemu_fail("/dev/vfio/%s in %s: %s", group, root, strerror(-r));
}
