#include "common/varlink.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- strictness json-c does not give --------------------------------------
 *
 * json-c 0.16 keeps the last of a key given twice, silently, and passes any
 * bytes in strings.  A second reader in front of the daemon (a proxy, an
 * audit log) may take the first key, or choke on the bytes: both are
 * refused here, by one more pass over a text json-c has already accepted
 * (so it is well-formed and nested at most as deep as the tokener allows).
 * Linear: every byte is looked at once, and the keys of one object are
 * compared pairwise only while they are few, sorted when many. */

/* A key as written between its quotes. */
struct key_ref {
	const char *p;
	size_t n;
};

struct strict_scan {
	const char *t;
	size_t len, pos;
	struct key_ref *keys; /* the keys of the objects open, innermost last */
	size_t n_keys, cap_keys;
	struct key_ref small[64];
	char *reason;         /* room for a reason naming a key */
	size_t reason_size;
	const char *error;
};

static bool strict_fail(struct strict_scan *s, const char *why)
{
	s->error = why;
	return false;
}

/* From \uXXXX, its four hex digits' value, or -1. */
static long hex4(const char *p)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* The byte at i, or NUL past the end: the message holds no NUL, so a NUL
 * here means the text ended where JSON says it cannot. */
static char strict_at(const struct strict_scan *s, size_t i)
{
	return i < s->len ? s->t[i] : '\0';
}

/* Past a string whose opening quote is at s->pos: its bytes UTF-8 and no
 * raw control character, its \\u escapes whole characters (no lone
 * surrogate half).  json-c also takes 'single-quoted' strings: not JSON. */
static bool strict_string(struct strict_scan *s, struct key_ref *out)
{
	size_t i = s->pos + 1;

	if (strict_at(s, s->pos) != '"')
		return strict_fail(s, "message is not valid JSON (a string not in double quotes)");
	for (;;) {
		unsigned char c = (unsigned char)strict_at(s, i);

		if (c == '"')
			break;
		if (c == '\\') {
			long u;

			if (strict_at(s, i + 1) != 'u') {
				i += 2;
				continue;
			}
			u = i + 6 <= s->len ? hex4(s->t + i + 2) : -1;
			i += 6;
			if (u < 0 || (u >= 0xdc00 && u <= 0xdfff))
				return strict_fail(s, "a string holds a lone \\u surrogate escape");
			if (u >= 0xd800 && u <= 0xdbff) {
				long lo = strict_at(s, i) == '\\' && strict_at(s, i + 1) == 'u' &&
						  i + 6 <= s->len
					  ? hex4(s->t + i + 2)
					  : -1;

				if (lo < 0xdc00 || lo > 0xdfff)
					return strict_fail(s, "a string holds a lone \\u surrogate escape");
				i += 6;
			}
		} else if (c >= 0x20 && c < 0x80) {
			i++;
		} else if (c < 0x20) {
			return strict_fail(s, c ? "a string holds a raw control character"
						: "message is not valid JSON");
		} else {
			size_t n = utf8_char_len(s->t + i, s->len - i);

			if (!n)
				return strict_fail(s, "a string is not valid UTF-8");
			i += n;
		}
	}
	if (out)
		*out = (struct key_ref){ s->t + s->pos + 1, i - s->pos - 1 };
	s->pos = i + 1;
	return true;
}

/* A key's text with its escapes undone, for comparing: only keys written
 * with a backslash need it.  Malloc'd. */
static char *key_decode(const struct key_ref *k, size_t *len)
{
	_cleanup_free_ char *quoted = xcalloc(1, k->n + 3);
	json_object *o;
	char *r;

	quoted[0] = '"';
	memcpy(quoted + 1, k->p, k->n);
	quoted[k->n + 1] = '"';
	o = json_tokener_parse(quoted);
	*len = o ? (size_t)json_object_get_string_len(o) : 0;
	r = xcalloc(1, *len + 1);
	if (o)
		memcpy(r, json_object_get_string(o), *len);
	json_object_put(o);
	return r;
}

static int key_cmp(const void *a, const void *b)
{
	const struct key_ref *x = a, *y = b;
	int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);

	return c ? c : (x->n > y->n) - (x->n < y->n);
}

static bool key_same(const struct key_ref *a, const struct key_ref *b)
{
	return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

static bool strict_duplicate(struct strict_scan *s, const struct key_ref *k)
{
	size_t n = utf8_cut(k->p, k->n, 64);

	snprintf(s->reason, s->reason_size, "the key \"%.*s%s\" appears twice in one object",
		 (int)n, k->p, n < k->n ? "..." : "");
	s->error = s->reason;
	return false;
}

/* The keys of one object, keys[0..n): escapes undone where there are any,
 * then compared pairwise while few, sorted when many. */
static bool strict_unique(struct strict_scan *s, struct key_ref *keys, size_t n)
{
	_cleanup_free_ struct key_ref *sorted = NULL;
	_cleanup_free_ char **decoded = NULL;
	size_t nd = 0;
	bool ok = true;

	for (size_t i = 0; i < n; i++) {
		if (!memchr(keys[i].p, '\\', keys[i].n))
			continue;
		if (!decoded)
			decoded = xcalloc(n, sizeof(*decoded));
		decoded[nd] = key_decode(&keys[i], &keys[i].n);
		keys[i].p = decoded[nd++];
	}
	if (n <= 16) {
		for (size_t i = 1; ok && i < n; i++)
			for (size_t j = 0; ok && j < i; j++)
				if (key_same(&keys[i], &keys[j]))
					ok = strict_duplicate(s, &keys[i]);
	} else {
		sorted = xcalloc(n, sizeof(*sorted));
		memcpy(sorted, keys, n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), key_cmp);
		for (size_t i = 1; ok && i < n; i++)
			if (key_same(&sorted[i], &sorted[i - 1]))
				ok = strict_duplicate(s, &sorted[i]);
	}
	for (size_t i = 0; i < nd; i++)
		free(decoded[i]);
	return ok;
}

static void strict_ws(struct strict_scan *s)
{
	while (s->pos < s->len && (s->t[s->pos] == ' ' || s->t[s->pos] == '\t' ||
				   s->t[s->pos] == '\n' || s->t[s->pos] == '\r'))
		s->pos++;
}

static void strict_push_key(struct strict_scan *s, const struct key_ref *k)
{
	if (s->n_keys == s->cap_keys) {
		size_t cap = s->cap_keys * 2;
		struct key_ref *keys = xcalloc(cap, sizeof(*keys));

		memcpy(keys, s->keys, s->n_keys * sizeof(*keys));
		if (s->keys != s->small)
			free(s->keys);
		s->keys = keys;
		s->cap_keys = cap;
	}
	s->keys[s->n_keys++] = *k;
}

static bool strict_value(struct strict_scan *s);

/* The text is well-formed JSON: after a key comes ':', after a member ','
 * or '}', after an element ',' or ']'. */
static bool strict_object(struct strict_scan *s)
{
	size_t base = s->n_keys;
	bool ok = true;
	char c;

	s->pos++;
	strict_ws(s);
	if (strict_at(s, s->pos) == '}') {
		s->pos++;
		return true;
	}
	while (ok) {
		struct key_ref k;

		strict_ws(s);
		if (!strict_string(s, &k))
			return false;
		strict_push_key(s, &k);
		strict_ws(s);
		if (strict_at(s, s->pos++) != ':')
			return strict_fail(s, "message is not valid JSON");
		if (!strict_value(s))
			return false;
		strict_ws(s);
		c = strict_at(s, s->pos++);
		if (c == '}')
			break;
		if (c != ',')
			return strict_fail(s, "message is not valid JSON");
	}
	ok = strict_unique(s, s->keys + base, s->n_keys - base);
	s->n_keys = base;
	return ok;
}

static bool strict_array(struct strict_scan *s)
{
	s->pos++;
	strict_ws(s);
	if (strict_at(s, s->pos) == ']') {
		s->pos++;
		return true;
	}
	for (;;) {
		char c;

		if (!strict_value(s))
			return false;
		strict_ws(s);
		c = strict_at(s, s->pos++);
		if (c == ']')
			return true;
		if (c != ',')
			return strict_fail(s, "message is not valid JSON");
	}
}

static bool strict_value(struct strict_scan *s)
{
	char c;

	strict_ws(s);
	c = strict_at(s, s->pos);
	switch (c) {
	case '"':
		return strict_string(s, NULL);
	case '{':
		return strict_object(s);
	case '[':
		return strict_array(s);
	default:
		/* A number, true, false or null, to a delimiter; json-c also
		 * takes NaN and Infinity, which JSON has not. */
		if (c != '-' && !(c >= '0' && c <= '9') && c != 't' && c != 'f' && c != 'n')
			return strict_fail(s, "message is not valid JSON (NaN, Infinity or a quote "
					      "that is not a double quote)");
		if (c == '-' && strict_at(s, s->pos + 1) == 'I')
			return strict_fail(s, "message is not valid JSON (-Infinity)");
		while (s->pos < s->len && !memchr(",]} \t\r\n", s->t[s->pos], 7))
			s->pos++;
		return true;
	}
}

/* Whether json-c's accepted text has no key twice in an object and no
 * string that is not UTF-8; *reason otherwise (valid until the next call in
 * this thread). */
static bool strict_check(const char *msg, size_t len, const char **reason)
{
	static _Thread_local char why[160];
	struct strict_scan s = { .t = msg, .len = len, .reason = why, .reason_size = sizeof(why) };
	bool ok;

	s.keys = s.small;
	s.cap_keys = ARRAY_SIZE(s.small);
	ok = strict_value(&s);
	if (s.keys != s.small)
		free(s.keys);
	if (!ok)
		*reason = s.error;
	return ok;
}

static json_object *parse_object(const char *msg, size_t len, const char **reason)
{
	json_tokener *tok;
	json_object *obj;

	if (len == 0) {
		*reason = "empty message";
		return NULL;
	}
	if (memchr(msg, '\0', len)) {
		*reason = "message contains a NUL byte";
		return NULL;
	}
	tok = json_tokener_new_ex(64);
	if (!tok) {
		*reason = "out of memory";
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, msg, (int)len);
	/* The whole message must be one JSON value, nothing after it. */
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(obj);
		json_tokener_free(tok);
		*reason = "message is not valid JSON";
		return NULL;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		*reason = "message is not a JSON object";
		return NULL;
	}
	if (!strict_check(msg, len, reason)) {
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

static int get_optional_bool(json_object *root, const char *key, bool *out, const char **reason)
{
	json_object *v;

	*out = false;
	if (!json_object_object_get_ex(root, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		*reason = "a flag (more, oneway, upgrade, continues) is not a boolean";
		return -1;
	}
	*out = json_object_get_boolean(v);
	return 0;
}

/* Makes sure root holds an object under "parameters" and returns it. */
static json_object *ensure_parameters(json_object *root, const char **reason)
{
	json_object *params;

	if (json_object_object_get_ex(root, "parameters", &params) &&
	    !json_object_is_type(params, json_type_null)) {
		if (!json_object_is_type(params, json_type_object)) {
			*reason = "\"parameters\" is not an object";
			return NULL;
		}
		return params;
	}
	params = json_object_new_object();
	json_object_object_add(root, "parameters", params);
	return params;
}

int vl_parse_call(const char *msg, size_t len, json_object **root, struct vl_call *call,
		  const char **reason)
{
	json_object *obj, *method;

	memset(call, 0, sizeof(*call));
	*root = NULL;
	obj = parse_object(msg, len, reason);
	if (!obj)
		return -1;
	if (!json_object_object_get_ex(obj, "method", &method) ||
	    !json_object_is_type(method, json_type_string)) {
		*reason = "message has no \"method\" string";
		goto fail;
	}
	call->method = json_object_get_string(method);
	if (!*call->method) {
		*reason = "\"method\" is empty";
		goto fail;
	}
	call->parameters = ensure_parameters(obj, reason);
	if (!call->parameters)
		goto fail;
	if (get_optional_bool(obj, "more", &call->more, reason) < 0 ||
	    get_optional_bool(obj, "oneway", &call->oneway, reason) < 0 ||
	    get_optional_bool(obj, "upgrade", &call->upgrade, reason) < 0)
		goto fail;
	*root = obj;
	return 0;
fail:
	json_object_put(obj);
	return -1;
}

int vl_parse_reply(const char *msg, size_t len, json_object **root, struct vl_reply *reply,
		   const char **reason)
{
	json_object *obj, *err;

	memset(reply, 0, sizeof(*reply));
	*root = NULL;
	obj = parse_object(msg, len, reason);
	if (!obj)
		return -1;
	if (json_object_object_get_ex(obj, "error", &err)) {
		if (!json_object_is_type(err, json_type_string)) {
			*reason = "\"error\" is not a string";
			goto fail;
		}
		reply->error = json_object_get_string(err);
	}
	reply->parameters = ensure_parameters(obj, reason);
	if (!reply->parameters)
		goto fail;
	if (get_optional_bool(obj, "continues", &reply->continues, reason) < 0)
		goto fail;
	*root = obj;
	return 0;
fail:
	json_object_put(obj);
	return -1;
}

/* json-c escapes control characters but passes any other byte: a string
 * that is not UTF-8 (from a policy file, a path) would make the message
 * one no strict client reads.  Bytes >= 0x80 only occur inside strings, so
 * putting U+FFFD for each invalid one keeps the JSON what it was. */
static char *finish(json_object *root, size_t *len)
{
	size_t n;
	const char *text = json_object_to_json_string_length(
		root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	char *buf;

	if (utf8_valid(text, n)) {
		buf = xcalloc(1, n + 1);
		memcpy(buf, text, n);
	} else {
		buf = utf8_sanitize(text, n);
		n = strlen(buf);
	}
	*len = n + 1;
	json_object_put(root);
	return buf;
}

static void add_parameters(json_object *root, json_object *parameters)
{
	json_object_object_add(root, "parameters",
			       parameters ? json_object_get(parameters) : json_object_new_object());
}

char *vl_format_call(const char *method, json_object *parameters, bool more, size_t *len)
{
	json_object *root = json_object_new_object();

	json_object_object_add(root, "method", json_object_new_string(method));
	add_parameters(root, parameters);
	if (more)
		json_object_object_add(root, "more", json_object_new_boolean(1));
	return finish(root, len);
}

char *vl_format_reply(json_object *parameters, bool continues, size_t *len)
{
	json_object *root = json_object_new_object();

	add_parameters(root, parameters);
	if (continues)
		json_object_object_add(root, "continues", json_object_new_boolean(1));
	return finish(root, len);
}

char *vl_format_error(const char *error, json_object *parameters, size_t *len)
{
	json_object *root = json_object_new_object();

	json_object_object_add(root, "error", json_object_new_string(error));
	add_parameters(root, parameters);
	return finish(root, len);
}

static int get_field(json_object *params, const char *name, json_type type, json_object **out)
{
	json_object *v;

	if (!params || !json_object_object_get_ex(params, name, &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, type))
		return -1;
	*out = v;
	return 1;
}

int vl_param_string(json_object *params, const char *name, const char **out)
{
	json_object *v;
	int r = get_field(params, name, json_type_string, &v);

	if (r == 1)
		*out = json_object_get_string(v);
	return r;
}

int vl_param_int(json_object *params, const char *name, long long *out)
{
	json_object *v;
	int r = get_field(params, name, json_type_int, &v);

	if (r == 1)
		*out = (long long)json_object_get_int64(v);
	return r;
}

int vl_param_bool(json_object *params, const char *name, bool *out)
{
	json_object *v;
	int r = get_field(params, name, json_type_boolean, &v);

	if (r == 1)
		*out = json_object_get_boolean(v);
	return r;
}
