#include "tests/kemu/kstate.h"
#include "tests/kemu/kfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const op_names[KOP__COUNT] = {
	[KOP_DRIVER_OVERRIDE] = "driver_override", [KOP_UNBIND] = "unbind",
	[KOP_BIND] = "bind",			   [KOP_DRIVERS_PROBE] = "drivers_probe",
	[KOP_RESET] = "reset",			   [KOP_REMOVE] = "remove",
	[KOP_AUTHORIZED] = "authorized",
};

static const char *const state_dirs[] = { "native", "fault",	  "block",
					  "blocked", "never_bind", "count" };

const char *kstate_op_name(enum kstate_op op)
{
	return op < KOP__COUNT ? op_names[op] : NULL;
}

int kstate_op_from_name(const char *name)
{
	for (int i = 0; name && i < KOP__COUNT; i++)
		if (strcmp(op_names[i], name) == 0)
			return i;
	return -1;
}

int kstate_file(char *buf, const char *root, const char *dir, const char *op, const char *id)
{
	char safe[NAME_MAX];
	size_t n = 0;

	for (const char *p = id ? id : "*"; *p && n < sizeof(safe) - 1; p++)
		safe[n++] = *p == '/' ? '_' : *p;
	safe[n] = '\0';
	if (op)
		return kfs_path(buf, "%s/kemu/%s/%s@%s", root, dir, op, safe);
	return kfs_path(buf, "%s/kemu/%s/%s", root, dir, safe);
}

int kstate_ensure_dirs(const char *root)
{
	char path[PATH_MAX];

	/* Made together, the last one last: its presence says all are. */
	if (kfs_path(path, "%s/kemu/count", root) == 0 && kfs_is_dir(path))
		return 0;
	for (size_t i = 0; i < sizeof(state_dirs) / sizeof(state_dirs[0]); i++) {
		int r = kfs_path(path, "%s/kemu/%s", root, state_dirs[i]);

		if (r < 0 || (r = kfs_mkdir_p(path)) < 0)
			return r;
	}
	return 0;
}

int kstate_lock(const char *root)
{
	char path[PATH_MAX];
	int r = kfs_path(path, "%s/kemu/lock", root);

	if (r < 0)
		return r;
	return kfs_open_locked(path);
}

void kstate_unlock(int fd)
{
	kfs_close(fd);
}

static int append(const char *path, const char *data, size_t len)
{
	int fd = kfs_open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, data, len); /* one append: atomic against other writers */
	err = errno;
	kfs_close(fd);
	return n < 0 ? -err : 0;
}

int kstate_count(const char *root, const char *op, const char *id)
{
	char path[PATH_MAX];
	int r = kstate_file(path, root, "count", op, id);

	if (r < 0 || (r = append(path, "x", 1)) < 0)
		return r;
	if ((r = kstate_file(path, root, "count", op, NULL)) < 0)
		return r;
	return append(path, "x", 1);
}

unsigned kstate_count_get(const char *root, const char *op, const char *id)
{
	char path[PATH_MAX];
	struct stat st;

	if (kstate_file(path, root, "count", op, id) < 0 || stat(path, &st) < 0)
		return 0;
	return (unsigned)st.st_size;
}

static bool block_set(const char *exact, const char *any)
{
	return kfs_exists(exact) || kfs_exists(any);
}

/* Waits on the block directory for the release: a deletion (or the
 * testbed's removal, which takes the directory) wakes us to look again. */
static int wait_release(const char *dir, const char *exact, const char *any)
{
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int fd = inotify_init1(IN_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (inotify_add_watch(fd, dir, IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF) < 0)
		r = -errno;
	while (r == 0 && block_set(exact, any)) {
		ssize_t n = read(fd, events, sizeof(events));

		if (n < 0 && errno != EINTR)
			r = -errno;
		for (ssize_t off = 0; n > 0 && off < n;) {
			const struct inotify_event *ev = (const void *)(events + off);

			if (ev->mask & IN_IGNORED)
				r = -ENOENT; /* the directory went away */
			off += (ssize_t)(sizeof(*ev) + ev->len);
		}
	}
	kfs_close(fd);
	return r;
}

int kstate_block_wait(const char *root, const char *op, const char *id)
{
	char exact[PATH_MAX], any[PATH_MAX], dir[PATH_MAX], marker[PATH_MAX], mine[PATH_MAX];
	int r;

	if ((r = kstate_file(exact, root, "block", op, id)) < 0 ||
	    (r = kstate_file(any, root, "block", op, NULL)) < 0)
		return r;
	if (!block_set(exact, any))
		return 0;
	if ((r = kfs_path(dir, "%s/kemu/block", root)) < 0 ||
	    (r = kstate_file(marker, root, "blocked", op, id)) < 0 ||
	    (r = kfs_path(mine, "%s@%ld.%ld", marker, (long)getpid(), (long)gettid())) < 0)
		return r;
	/* The marker tells the test we are inside the write; its creation
	 * may race with the release, which the loop below then sees. */
	if ((r = kfs_write(mine, "", 0, 0644)) < 0)
		return r;
	r = wait_release(dir, exact, any);
	unlink(mine);
	return r;
}

int kstate_fault_take(const char *root, const char *op, const char *id)
{
	char path[PATH_MAX], buf[64];
	int err = 0, times = -1, r;

	if ((r = kstate_file(path, root, "fault", op, id)) < 0)
		return 0;
	if (kfs_read(path, buf, sizeof(buf)) < 0) {
		if (kstate_file(path, root, "fault", op, NULL) < 0 ||
		    kfs_read(path, buf, sizeof(buf)) < 0)
			return 0;
	}
	if (sscanf(buf, "%d %d", &err, &times) < 1 || err <= 0)
		return 0;
	if (times == 1) {
		unlink(path);
	} else if (times > 1) {
		int n = snprintf(buf, sizeof(buf), "%d %d\n", err, times - 1);

		kfs_write(path, buf, (size_t)n, 0644);
	}
	return err;
}

bool kstate_never_bind(const char *root, const char *id, const char *driver)
{
	char path[PATH_MAX], only[NAME_MAX + 1];

	if (kstate_file(path, root, "never_bind", NULL, id) < 0 || !kfs_exists(path))
		return false;
	if (kfs_read(path, only, sizeof(only)) < 0 || !only[0] || !driver)
		return true;
	return strcmp(only, driver) == 0;
}

int kstate_native(const char *root, const char *id, char *buf, size_t len)
{
	char path[PATH_MAX];
	int r = kstate_file(path, root, "native", NULL, id);

	if (r < 0 || (r = kfs_read(path, buf, len)) < 0)
		return r;
	return buf[0] ? 0 : -ENOENT;
}

void kstate_log(const char *root, const char *op, const char *id, const char *value,
		size_t len, int err)
{
	char path[PATH_MAX], line[512], shown[128];
	size_t n = 0;
	int k;

	for (size_t i = 0; i < len && n < sizeof(shown) - 1; i++)
		shown[n++] = (unsigned char)value[i] <= ' ' ? '_' : value[i];
	shown[n] = '\0';
	k = snprintf(line, sizeof(line), "%s %s %s = %s\n", op, id, n ? shown : "_",
		     err == 0 ? "0" : strerrorname_np(err) ? strerrorname_np(err) : "E?");
	if (kfs_path(path, "%s/kemu/log", root) == 0 && k > 0)
		append(path, line, (size_t)k < sizeof(line) ? (size_t)k : sizeof(line) - 1);
}
