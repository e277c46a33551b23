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
