/* Small helpers used everywhere: cleanup attributes and string utilities.
 *
 * The cleanup helpers make ownership visible at the declaration: a local
 * declared `_cleanup_free_ char *s` is freed on every return path. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

/* Returns its argument; hands ownership to the caller and disarms cleanup. */
#define steal_ptr(p)                                                           \
	({                                                                     \
		__typeof__(p) _tmp = (p);                                      \
		(p) = NULL;                                                    \
		_tmp;                                                          \
	})

static inline bool streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return __builtin_strcmp(a, b) == 0;
}

/* strdup that aborts on allocation failure; NULL in, NULL out. */
char *xstrdup(const char *s);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The index of name in a table of n names (entries may be NULL), or -1:
 * the reverse of every enum's name table. */
int name_index(const char *const *names, size_t n, const char *name);

/* Joins dir and a (symlink) target, unless the target is absolute, and
 * folds ".", ".." and "//" as text, without asking the file system: under
 * umockdev realpath() would name the testbed's directory, not /sys.
 * /sys/bus/pci/devices + ../../../devices/pci0000:00/X gives
 * /sys/devices/pci0000:00/X.  dir must be absolute; false when the result
 * does not fit in len. */
bool path_fold(const char *dir, const char *target, char *out, size_t len);

/* Replaces *dst with a copy of src (NULL allowed); returns true if it changed. */
bool str_replace(char **dst, const char *src);

/* FNV-1a: cheap, good enough for device ids of a dozen characters. */
uint64_t str_hash(const char *s);

/* Parses a sysfs hex value such as "0x8086" or "8086" into *out. */
bool parse_hex_u32(const char *s, uint32_t *out);

/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);
