/* Small file-system helpers for the kernel emulator and the testbed: every
 * path here is a real path inside a testbed ("<root>/sys/..."), never one of
 * the program's "/sys/..." paths.  Errors come back as -errno; nothing here
 * aborts, since the emulator runs inside the program under test. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* open() and close() as raw system calls, for the emulator's own files:
 * umockdev's open() connects an ioctl socket for every path under /dev/
 * (the testbed lives in /dev/shm) and, in 0.17, leaks it when the open
 * fails; the emulator opens many files that may not exist. */
int kfs_open(const char *path, int flags, mode_t mode);
/* Opens (creating) a file and takes an exclusive flock on it: returns the
 * fd, or -errno.  Each call opens its own description, so threads of one
 * process exclude each other too. */
int kfs_open_locked(const char *path);
void kfs_close(int fd);

/* snprintf into a PATH_MAX buffer; -ENAMETOOLONG when it does not fit. */
int kfs_path(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads a small file whole, without its trailing newline; -errno. */
int kfs_read(const char *path, char *buf, size_t len);
/* Replaces a file's content (created with `mode` if missing); -errno. */
int kfs_write(const char *path, const char *data, size_t len, mode_t mode);

/* The last component of a symlink's target ("e1000e" for a driver link);
 * -errno (-ENOENT when there is no link). */
int kfs_link_name(const char *path, char *buf, size_t len);
bool kfs_exists(const char *path);
bool kfs_is_dir(const char *path);

int kfs_mkdir_p(const char *path);
/* rm -rf; a missing tree is not an error. */
int kfs_rm_tree(const char *path);

/* The relative target of a link in directory `from` pointing at `to`, both
 * relative to the same top ("devices/pci0000:00/0000:00:1c.1/0000:03:00.0"
 * to "bus/pci/drivers/e1000e" gives "../../../../bus/pci/drivers/e1000e"),
 * as the kernel writes sysfs links; -ENAMETOOLONG. */
int kfs_relative_target(const char *from, const char *to, char *out, size_t len);
/* Creates <top>/<dir>/<name> pointing at <top>/<to> with a relative target,
 * replacing any link of that name. */
int kfs_put_link(const char *top, const char *dir, const char *name, const char *to);

/* The canonical form of an existing directory, resolved by the kernel
 * (through /proc/self/fd, not through any preloaded wrapper); -errno. */
int kfs_canonical_dir(const char *path, char *buf, size_t len);
/* Where an open descriptor really points; -errno. */
int kfs_fd_path(int fd, char *buf, size_t len);
