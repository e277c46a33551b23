#include "common/util.h"
#include "common/log.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

char *xstrdup(const char *s)
{
	char *r;

	if (!s)
		return NULL;
	r = strdup(s);
	if (!r)
		fatal("out of memory");
	return r;
}

char *xstrndup(const char *s, size_t n)
{
	char *r = strndup(s, n);

	if (!r)
		fatal("out of memory");
	return r;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		fatal("out of memory");
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		fatal("out of memory");
	return s;
}

void *xrealloc(void *p, size_t size)
{
	void *r = realloc(p, size ? size : 1);

	if (!r)
		fatal("out of memory");
	return r;
}

int name_index(const char *const *names, size_t n, const char *name)
{
	if (!name)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (names[i] && strcmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

bool str_replace(char **dst, const char *src)
{
	if (streq(*dst, src))
		return false;
	free(*dst);
	*dst = xstrdup(src);
	return true;
}

uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

bool parse_hex_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtoul(s, &end, 16);
	if (errno || end == s || v > UINT32_MAX)
		return false;
	while (*end == '\n' || *end == ' ')
		end++;
	if (*end)
		return false;
	*out = (uint32_t)v;
	return true;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

bool path_fold(const char *dir, const char *target, char *out, size_t len)
{
	char buf[PATH_MAX];
	char *save = NULL;
	size_t n = 0;
	int w = target[0] == '/' ? snprintf(buf, sizeof(buf), "%s", target)
				 : snprintf(buf, sizeof(buf), "%s/%s", dir, target);

	if (w < 0 || (size_t)w >= sizeof(buf))
		return false;
	out[0] = '\0';
	for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		size_t l = strlen(c);

		if (streq(c, "."))
			continue;
		if (streq(c, "..")) {
			char *slash = strrchr(out, '/');

			if (slash)
				*slash = '\0';
			n = strlen(out);
			continue;
		}
		if (n + 1 + l >= len)
			return false;
		out[n++] = '/';
		memcpy(out + n, c, l + 1);
		n += l;
	}
	if (n == 0) {
		if (len < 2)
			return false;
		strcpy(out, "/");
	}
	return true;
}

ssize_t read_full(int fd, void *buf, size_t cap)
{
	size_t n = 0;

	while (n < cap) {
		ssize_t r = read(fd, (char *)buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

size_t utf8_char_len(const char *s, size_t left)
{
	const unsigned char *c = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (left == 0)
		return 0;
	if (c[0] < 0x80)
		return 1;
	if (c[0] < 0xc2 || c[0] > 0xf4)
		return 0;
	n = c[0] < 0xe0 ? 2 : c[0] < 0xf0 ? 3 : 4;
	/* The second byte's range rules out overlong forms, surrogates
	 * (ED A0..BF) and code points past U+10FFFF (F4 90..). */
	if (c[0] == 0xe0)
		lo = 0xa0;
	else if (c[0] == 0xed)
		hi = 0x9f;
	else if (c[0] == 0xf0)
		lo = 0x90;
	else if (c[0] == 0xf4)
		hi = 0x8f;
	if (left < n || c[1] < lo || c[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((c[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

uint32_t utf8_decode(const char *s, size_t n)
{
	const unsigned char *c = (const unsigned char *)s;
	uint32_t v = n == 1 ? c[0] : c[0] & (0x7f >> n);

	for (size_t i = 1; i < n; i++)
		v = v << 6 | (c[i] & 0x3f);
	return v;
}

bool utf8_valid(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t n;

		/* ASCII, the common case, eight bytes at a time. */
		if (len - i >= 8) {
			uint64_t w;

			memcpy(&w, s + i, 8);
			if (!(w & 0x8080808080808080ULL)) {
				i += 8;
				continue;
			}
		}
		n = utf8_char_len(s + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

size_t utf8_cut(const char *s, size_t len, size_t max)
{
	size_t n;

	if (len <= max)
		return len;
	n = max;
	/* Back over continuation bytes to the start of the character that
	 * does not fit: at most three. */
	while (n > 0 && max - n < 3 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return ((unsigned char)s[n] & 0xc0) == 0x80 ? max : n;
}

char *utf8_sanitize(const char *s, size_t len)
{
	char *out = xcalloc(1, len * 3 + 1), *p = out;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_char_len(s + i, len - i);

		if (n && s[i]) {
			memcpy(p, s + i, n);
			p += n;
			i += n;
		} else {
			memcpy(p, "\xef\xbf\xbd", 3);
			p += 3;
			i++;
		}
	}
	*p = '\0';
	return xrealloc(out, (size_t)(p - out) + 1);
}

char *utf8_dup(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (!s)
		return NULL;
	return utf8_valid(s, n) ? xstrndup(s, n) : utf8_sanitize(s, n);
}

bool err_is_starvation(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOMEM;
}

unsigned starved_retry_next(unsigned ms)
{
	if (!ms)
		return STARVED_RETRY_MIN_MS;
	return ms >= STARVED_RETRY_MAX_MS / 2 ? STARVED_RETRY_MAX_MS : ms * 2;
}
