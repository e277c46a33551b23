#include "tests/kemu/kfs.h"
#include "tests/common/rmtree.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int kfs_open(const char *path, int flags, mode_t mode)
{
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, mode);
}

void kfs_close(int fd)
{
	if (fd >= 0)
		syscall(SYS_close, fd);
}

int kfs_path(char *buf, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
	return r < 0 || r >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int kfs_read(const char *path, char *buf, size_t len)
{
	int fd = kfs_open(path, O_RDONLY, 0);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	err = errno;
	kfs_close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

int kfs_write(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = kfs_open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, data, len);
	err = errno;
	kfs_close(fd);
	if (n < 0)
		return -err;
	return (size_t)n == len ? 0 : -EIO;
}

int kfs_link_name(const char *path, char *buf, size_t len)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	const char *slash;

	if (n < 0)
		return -errno;
	target[n] = '\0';
	slash = strrchr(target, '/');
	if (snprintf(buf, len, "%s", slash ? slash + 1 : target) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

bool kfs_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

bool kfs_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int kfs_open_locked(const char *path)
{
	int fd = kfs_open(path, O_RDWR | O_CREAT, 0644), r;

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		r = -errno;
		kfs_close(fd);
		return r;
	}
	return fd;
}

int kfs_mkdir_p(const char *path)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int kfs_rm_tree(const char *path)
{
	if (!kfs_exists(path))
		return 0;
	return rmtree(path);
}

static size_t count_components(const char *p)
{
	size_t n = *p ? 1 : 0;

	for (; *p; p++)
		n += *p == '/';
	return n;
}

int kfs_relative_target(const char *from, const char *to, char *out, size_t len)
{
	size_t common = 0, up, off = 0;

	for (size_t i = 0;; i++) {
		bool end_f = from[i] == '\0' || from[i] == '/';
		bool end_t = to[i] == '\0' || to[i] == '/';

		if (end_f && end_t)
			common = i;
		if (from[i] != to[i] || !from[i] || !to[i])
			break;
	}
	if (from[common] == '\0' && to[common] == '/')
		common++; /* `to` lies below `from` */
	else if (common > 0)
		common++;
	up = count_components(from + common);
	for (size_t i = 0; i < up; i++) {
		if (off + 3 >= len)
			return -ENAMETOOLONG;
		memcpy(out + off, "../", 3);
		off += 3;
	}
	if ((size_t)snprintf(out + off, len - off, "%s", to + common) >= len - off)
		return -ENAMETOOLONG;
	return 0;
}

int kfs_put_link(const char *top, const char *dir, const char *name, const char *to)
{
	char path[PATH_MAX], target[PATH_MAX];
	int r = kfs_relative_target(dir, to, target, sizeof(target));

	if (r < 0 || (r = kfs_path(path, "%s/%s/%s", top, dir, name)) < 0)
		return r;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return symlink(target, path) < 0 ? -errno : 0;
}

int kfs_fd_path(int fd, char *buf, size_t len)
{
	char proc[64];
	long n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	/* A raw system call: umockdev's readlink() looks for /proc paths in
	 * the testbed first, and ours must be the kernel's answer. */
	n = syscall(SYS_readlinkat, AT_FDCWD, proc, buf, len - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= len - 1)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return 0;
}

int kfs_canonical_dir(const char *path, char *buf, size_t len)
{
	int fd = kfs_open(path, O_PATH | O_DIRECTORY, 0);
	int r;

	if (fd < 0)
		return -errno;
	r = kfs_fd_path(fd, buf, len);
	kfs_close(fd);
	return r;
}
