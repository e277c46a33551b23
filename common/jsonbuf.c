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

/* Escapes what JSON requires, and writes U+FFFD for each byte that does not
 * begin a well-formed UTF-8 character: a strict client refuses a reply with
 * one, and strings reach here from sysfs and peers. */
void jsonbuf_string(struct jsonbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = strlen(s);
	char *p;

	/* 6 bytes per control character, 3 per invalid byte: never more. */
	reserve(b, len * 6 + 2);
	p = b->data + b->len;
	*p++ = '"';
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		size_t n;

		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
			i++;
		} else if (c < 0x20) {
			memcpy(p, "\\u00", 4);
			p[4] = hex[c >> 4];
			p[5] = hex[c & 15];
			p += 6;
			i++;
		} else if (c < 0x80) {
			*p++ = (char)c;
			i++;
		} else if ((n = utf8_char_len(s + i, len - i))) {
			memcpy(p, s + i, n);
			p += n;
			i += n;
		} else {
			memcpy(p, "\xef\xbf\xbd", 3);
			p += 3;
			i++;
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
