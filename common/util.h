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
/* The first n bytes of s (fewer at a NUL), NUL-terminated; aborts on
 * allocation failure. */
char *xstrndup(const char *s, size_t n);
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

/* Reads from fd until end of file or `cap` bytes, retrying on EINTR: the
 * count read, or -1 with errno. */
ssize_t read_full(int fd, void *buf, size_t cap);

/* ---- UTF-8 ----------------------------------------------------------------
 * Everything the daemon emits is UTF-8 (Varlink is UTF-8 JSON), while what
 * sysfs, a peer or a policy file hands it may be any bytes. */

/* The length (1 to 4) of the well-formed UTF-8 character at s, of the
 * `left` bytes there, or 0: a stray continuation byte, an overlong form, a
 * surrogate, beyond U+10FFFF, or cut short. */
size_t utf8_char_len(const char *s, size_t left);
/* The code point of the character at s, whose length utf8_char_len()
 * gave as n (1 to 4). */
uint32_t utf8_decode(const char *s, size_t n);
/* Whether s[0..len) is well-formed UTF-8 throughout. */
bool utf8_valid(const char *s, size_t len);
/* The largest n <= max at which s[0..len) may be cut without splitting a
 * character. */
size_t utf8_cut(const char *s, size_t len, size_t max);
/* A malloc'd, NUL-terminated copy of s[0..len) in which every byte that does
 * not begin a well-formed character (a NUL included) is U+FFFD. */
char *utf8_sanitize(const char *s, size_t len);
/* s as a malloc'd valid UTF-8 string: a plain copy when it is one already;
 * NULL in, NULL out. */
char *utf8_dup(const char *s);

/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);

/* Out of descriptors or memory (EMFILE, ENFILE, ENOMEM): such a failure
 * says nothing about what was asked for (a device, a process), only that
 * it could not be asked now, so it is never taken for an answer ("gone",
 * "ended").  It is asked again once resources may be back: the first
 * retry after STARVED_RETRY_MIN_MS, then at doubling intervals up to
 * STARVED_RETRY_MAX_MS, until one gets through. */
#define STARVED_RETRY_MIN_MS 50
#define STARVED_RETRY_MAX_MS 2000
bool err_is_starvation(int err);
/* The wait before the next retry, after one of `ms` (0: none yet). */
unsigned starved_retry_next(unsigned ms);
