/* JSON written straight as text into a growing buffer.
 *
 * The daemon's large and frequent documents (ListDevices, every Watch
 * event, the state file on every claim) are written this way: building
 * json-c objects for 10,000 devices and printing them costs tens of
 * milliseconds, writing the text a few.  Strings are escaped as JSON
 * requires and made valid UTF-8; everything else is the caller's layout. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Zero-initialise; free `data` when done (or hand it on). */
struct jsonbuf {
	char *data;
	size_t len, cap;
};

void jsonbuf_add(struct jsonbuf *b, const char *text, size_t len);
/* A string literal, without counting it at run time. */
#define JSONBUF_LIT(b, lit) jsonbuf_add(b, lit, sizeof(lit) - 1)

/* s as a JSON string literal, quoted and escaped; a byte of s that does not
 * begin a well-formed UTF-8 character is written as U+FFFD. */
void jsonbuf_string(struct jsonbuf *b, const char *s);
void jsonbuf_int(struct jsonbuf *b, int64_t v);
void jsonbuf_bool(struct jsonbuf *b, bool v);
/* `width` lower-case hex digits, quoted ("8086").  A value wider than that
 * is printed whole rather than cut, so a bad record shows as such. */
void jsonbuf_hex(struct jsonbuf *b, uint32_t v, int width);
/* An array of strings. */
void jsonbuf_strings(struct jsonbuf *b, const char *const *v, size_t n);

/* `,"name":` before every member but an object's first, `name` a literal;
 * JSONBUF_OPT_STRING writes the member only when s is not NULL. */
#define JSONBUF_KEY(b, name) JSONBUF_LIT(b, ",\"" name "\":")
#define JSONBUF_OPT_STRING(b, name, s) \
	jsonbuf_opt_string(b, ",\"" name "\":", sizeof(name) + 3, s)
void jsonbuf_opt_string(struct jsonbuf *b, const char *key, size_t key_len, const char *s);
