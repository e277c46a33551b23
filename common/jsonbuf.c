#include "common/jsonbuf.h"
#include "common/util.h"

#include <string.h>

static void reserve(struct jsonbuf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 4096;

	if (b->cap - b->len >= n)
		return;
	while (cap - b->len < n)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void jsonbuf_add(struct jsonbuf *b, const char *text, size_t len)
{
	reserve(b, len);
	memcpy(b->data + b->len, text, len);
	b->len += len;
}

/* Escapes what JSON requires and passes every other byte through, as json-c
 * does: the kernel's strings are UTF-8 already. */
void jsonbuf_string(struct jsonbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char *p;

	reserve(b, strlen(s) * 6 + 2);
	p = b->data + b->len;
	*p++ = '"';
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\') {
			*p++ = '\\';
			*p++ = (char)*c;
		} else if (*c < 0x20) {
			memcpy(p, "\\u00", 4);
			p[4] = hex[*c >> 4];
			p[5] = hex[*c & 15];
			p += 6;
		} else {
			*p++ = (char)*c;
		}
	}
	*p++ = '"';
	b->len = (size_t)(p - b->data);
}

void jsonbuf_int(struct jsonbuf *b, int64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	jsonbuf_add(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

void jsonbuf_bool(struct jsonbuf *b, bool v)
{
	if (v)
		JSONBUF_LIT(b, "true");
	else
		JSONBUF_LIT(b, "false");
}

void jsonbuf_hex(struct jsonbuf *b, uint32_t v, int width)
{
	static const char digits[] = "0123456789abcdef";
	char buf[10];
	int n = width;

	while (n < 8 && (v >> (4 * n)))
		n++;
	buf[0] = buf[n + 1] = '"';
	for (int i = n; i > 0; i--, v >>= 4)
		buf[i] = digits[v & 15];
	jsonbuf_add(b, buf, (size_t)n + 2);
}

void jsonbuf_strings(struct jsonbuf *b, const char *const *v, size_t n)
{
	JSONBUF_LIT(b, "[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			JSONBUF_LIT(b, ",");
		jsonbuf_string(b, v[i]);
	}
	JSONBUF_LIT(b, "]");
}

void jsonbuf_opt_string(struct jsonbuf *b, const char *key, size_t key_len, const char *s)
{
	if (!s)
		return;
	jsonbuf_add(b, key, key_len);
	jsonbuf_string(b, s);
}
