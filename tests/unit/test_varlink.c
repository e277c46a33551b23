/* Varlink framing and decoding (common/varlink.c): what the daemon accepts
 * from a client and what it sends back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/jsonbuf.h"
#include "common/log.h"
#include "common/util.h"
#include "common/varlink.h"

#include <unistd.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Parses a C string as one message body; returns the status and leaves the
 * reason for the caller. */
static int parse(const char *text, json_object **root, struct vl_call *call, const char **reason)
{
	*reason = NULL;
	return vl_parse_call(text, strlen(text), root, call, reason);
}

static void assert_refused(const char *text, const char *reason_part)
{
	json_object *root = (json_object *)1;
	struct vl_call call;
	const char *reason;

	assert_int_equal(parse(text, &root, &call, &reason), -1);
	assert_null(root);
	assert_non_null(reason);
	if (!strstr(reason, reason_part))
		fail_msg("reason for %s was \"%s\", expected it to mention \"%s\"", text, reason,
			 reason_part);
}

static void test_valid_call(void **state)
{
	json_object *root;
	struct vl_call call;
	const char *reason, *dev = NULL;

	assert_int_equal(parse("{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":"
			       "{\"device\":\"1-2\"},\"more\":true,\"oneway\":false}",
			       &root, &call, &reason),
			 0);
	assert_string_equal(call.method, "io.hostdevd.GetDevice");
	assert_true(call.more);
	assert_false(call.oneway);
	assert_false(call.upgrade);
	assert_int_equal(vl_param_string(call.parameters, "device", &dev), 1);
	assert_string_equal(dev, "1-2");
	json_object_put(root);
}

static void test_parameters_absent_or_null(void **state)
{
	json_object *root;
	struct vl_call call;
	const char *reason;

	assert_int_equal(parse("{\"method\":\"a.B\",\"oneway\":true}", &root, &call, &reason), 0);
	assert_true(json_object_is_type(call.parameters, json_type_object));
	assert_int_equal(json_object_object_length(call.parameters), 0);
	assert_true(call.oneway);
	assert_false(call.more);
	json_object_put(root);

	assert_int_equal(parse("{\"method\":\"a.B\",\"parameters\":null,\"more\":null}", &root, &call,
			       &reason),
			 0);
	assert_true(json_object_is_type(call.parameters, json_type_object));
	assert_false(call.more);
	json_object_put(root);
}

static void test_missing_or_bad_method(void **state)
{
	assert_refused("{\"parameters\":{}}", "method");
	assert_refused("{\"method\":42}", "method");
	assert_refused("{\"method\":null}", "method");
	assert_refused("{\"method\":\"\"}", "empty");
}

static void test_wrong_types(void **state)
{
	assert_refused("{\"method\":\"a.B\",\"parameters\":[1]}", "parameters");
	assert_refused("{\"method\":\"a.B\",\"parameters\":\"x\"}", "parameters");
	assert_refused("{\"method\":\"a.B\",\"more\":\"yes\"}", "boolean");
	assert_refused("{\"method\":\"a.B\",\"oneway\":1}", "boolean");
	assert_refused("{\"method\":\"a.B\",\"upgrade\":{}}", "boolean");
}

static void test_not_json_or_trailing_garbage(void **state)
{
	assert_refused("{\"method\":\"a.B\"} x", "not valid JSON");
	assert_refused("{\"method\":\"a.B\"}{}", "not valid JSON");
	assert_refused("{\"method\":\"a.B\"", "not valid JSON");
	assert_refused("{method:\"a.B\"}", "not valid JSON");
	assert_refused("{\"method\":\"a.B\",}", "not valid JSON");
	assert_refused("{\"method\":'a.B'}", "not valid JSON");
}

static void test_nul_inside(void **state)
{
	static const char msg[] = "{\"method\":\"a.B\"}\0{}";
	json_object *root;
	struct vl_call call;
	const char *reason = NULL;

	assert_int_equal(vl_parse_call(msg, sizeof(msg) - 1, &root, &call, &reason), -1);
	assert_non_null(strstr(reason, "NUL"));
	/* Up to the NUL, the same bytes are a valid call. */
	assert_int_equal(vl_parse_call(msg, strlen(msg), &root, &call, &reason), 0);
	json_object_put(root);
}

static void test_not_an_object(void **state)
{
	assert_refused("[1,2]", "not a JSON object");
	assert_refused("\"io.hostdevd.GetStatus\"", "not a JSON object");
	/* A bare number never ends without a delimiter: refused as unfinished. */
	assert_refused("42", "JSON");
	/* json-c parses null as no object at all. */
	assert_refused("null", "JSON");
	assert_refused("", "empty");
}

static void test_deep_nesting(void **state)
{
	char text[512];
	size_t n = 0;

	n += (size_t)snprintf(text, sizeof(text), "{\"method\":\"a.B\",\"parameters\":{\"x\":");
	for (int i = 0; i < 100; i++)
		text[n++] = '[';
	for (int i = 0; i < 100; i++)
		text[n++] = ']';
	text[n++] = '}';
	text[n++] = '}';
	text[n] = '\0';
	assert_refused(text, "not valid JSON");
}

/* Integers beyond 64 bits saturate rather than wrap, so range checks in the
 * handlers see them as too large. */
static void test_huge_numbers(void **state)
{
	json_object *root;
	struct vl_call call;
	const char *reason;
	long long v = 0;
	bool b;

	assert_int_equal(parse("{\"method\":\"a.B\",\"parameters\":{\"big\":99999999999999999999999,"
			       "\"neg\":-99999999999999999999,\"exp\":1e400,\"flt\":3.0}}",
			       &root, &call, &reason),
			 0);
	assert_int_equal(vl_param_int(call.parameters, "big", &v), 1);
	assert_true(v == INT64_MAX);
	assert_int_equal(vl_param_int(call.parameters, "neg", &v), 1);
	assert_true(v == INT64_MIN);
	assert_int_equal(vl_param_int(call.parameters, "exp", &v), -1);
	assert_int_equal(vl_param_int(call.parameters, "flt", &v), -1);
	assert_int_equal(vl_param_bool(call.parameters, "big", &b), -1);
	json_object_put(root);
}

static void test_param_accessors(void **state)
{
	json_object *root;
	struct vl_call call;
	const char *reason, *s = "untouched";
	long long i = 7;
	bool b = false;

	assert_int_equal(parse("{\"method\":\"a.B\",\"parameters\":{\"s\":\"x\",\"i\":-3,\"b\":true,"
			       "\"n\":null}}",
			       &root, &call, &reason),
			 0);
	assert_int_equal(vl_param_string(call.parameters, "s", &s), 1);
	assert_string_equal(s, "x");
	assert_int_equal(vl_param_int(call.parameters, "i", &i), 1);
	assert_int_equal(i, -3);
	assert_int_equal(vl_param_bool(call.parameters, "b", &b), 1);
	assert_true(b);
	/* Absent and null leave the output alone. */
	s = "untouched";
	assert_int_equal(vl_param_string(call.parameters, "absent", &s), 0);
	assert_int_equal(vl_param_string(call.parameters, "n", &s), 0);
	assert_string_equal(s, "untouched");
	assert_int_equal(vl_param_string(call.parameters, "i", &s), -1);
	assert_int_equal(vl_param_int(call.parameters, "s", &i), -1);
	assert_int_equal(vl_param_bool(call.parameters, "s", &b), -1);
	assert_int_equal(vl_param_string(NULL, "s", &s), 0);
	json_object_put(root);
}

static void test_format_roundtrip(void **state)
{
	json_object *p = json_object_new_object(), *root;
	struct vl_reply reply;
	struct vl_call call;
	const char *reason;
	size_t len;
	char *buf;

	json_object_object_add(p, "path", json_object_new_string("/a/b"));
	buf = vl_format_reply(p, true, &len);
	assert_int_equal(buf[len - 1], '\0');
	assert_int_equal(strlen(buf), len - 1);
	/* No escaped slashes: clients compare paths as text. */
	assert_string_equal(buf, "{\"parameters\":{\"path\":\"/a/b\"},\"continues\":true}");
	assert_int_equal(vl_parse_reply(buf, len - 1, &root, &reply, &reason), 0);
	assert_null(reply.error);
	assert_true(reply.continues);
	json_object_put(root);
	free(buf);

	buf = vl_format_error("io.hostdevd.DeviceNotFound", p, &len);
	assert_string_equal(buf, "{\"error\":\"io.hostdevd.DeviceNotFound\",\"parameters\":"
				 "{\"path\":\"/a/b\"}}");
	assert_int_equal(vl_parse_reply(buf, len - 1, &root, &reply, &reason), 0);
	assert_string_equal(reply.error, "io.hostdevd.DeviceNotFound");
	assert_false(reply.continues);
	json_object_put(root);
	free(buf);

	buf = vl_format_call("io.hostdevd.Watch", NULL, true, &len);
	assert_string_equal(buf, "{\"method\":\"io.hostdevd.Watch\",\"parameters\":{},\"more\":true}");
	assert_int_equal(vl_parse_call(buf, len - 1, &root, &call, &reason), 0);
	assert_true(call.more);
	json_object_put(root);
	free(buf);
	json_object_put(p);
}

static void assert_accepted(const char *text)
{
	json_object *root;
	struct vl_call call;
	const char *reason;

	if (parse(text, &root, &call, &reason) != 0)
		fail_msg("%s refused: %s", text, reason);
	json_object_put(root);
}

/* json-c keeps the last of a key given twice; a strict reader in front of
 * the daemon may take the first.  Refused at any depth, named. */
static void test_duplicate_keys(void **state)
{
	char *big;
	size_t n = 0;

	assert_refused("{\"method\":\"io.hostdevd.A\",\"method\":\"io.hostdevd.B\"}",
		       "the key \"method\" appears twice");
	assert_refused("{\"method\":\"a.B\",\"parameters\":{\"device\":\"1-1\",\"device\":\"1-2\"}}",
		       "\"device\"");
	assert_refused("{\"method\":\"a.B\",\"parameters\":{\"x\":[{\"a\":1},{\"b\":{\"c\":1,\"c\":2}}]}}",
		       "the key \"c\"");
	/* The same key however it is written. */
	assert_refused("{\"method\":\"a.B\",\"\\u006dethod\":\"a.C\"}", "\"method\" appears twice");
	assert_refused("{\"method\":\"a.B\",\"parameters\":{\"\\u00e9\":1,\"\xc3\xa9\":2}}",
		       "appears twice");
	/* Same names in different objects, and keys differing in length only. */
	assert_accepted("{\"method\":\"a.B\",\"parameters\":{\"method\":1,\"o\":{\"method\":2,"
			"\"methods\":3,\"metho\":4}},\"more\":false}");
	assert_accepted("{\"method\":\"a.B\",\"parameters\":{\"a\\\\b\":1,\"a\\\\\\\\b\":2}}");
	/* Many keys in one object take the sorted path: a late duplicate. */
	big = xcalloc(1, 200000);
	n += (size_t)sprintf(big, "{\"method\":\"a.B\",\"parameters\":{");
	for (int i = 0; i < 5000; i++)
		n += (size_t)sprintf(big + n, "\"k%d\":%d,", i, i);
	strcpy(big + n, "\"k17\":0}}");
	assert_refused(big, "the key \"k17\" appears twice");
	strcpy(big + n, "\"k5000\":0}}");
	assert_accepted(big);
	free(big);
}

/* Varlink is UTF-8 JSON: a string that is not, raw or by a lone \u
 * surrogate, is refused; well-formed ones of every length pass. */
static void test_utf8_strings(void **state)
{
	assert_refused("{\"method\":\"a.B\",\"parameters\":{\"owner\":\"\xff\"}}", "not valid UTF-8");
	assert_refused("{\"method\":\"a.B\",\"parameters\":{\"o\":\"ab\xc3\"}}", "not valid UTF-8");
	assert_refused("{\"method\":\"a.B\",\"parameters\":{\"o\":\"\xc0\xaf\"}}", "not valid UTF-8");
	assert_refused("{\"method\":\"a.B\",\"parameters\":{\"o\":\"\xed\xa0\x80\"}}",
		       "not valid UTF-8");
	assert_refused("{\"method\":\"a.B\",\"parameters\":{\"\xfe\":1}}", "not valid UTF-8");
	assert_refused("{\"method\":\"a.B\",\"parameters\":{\"o\":\"\\ud800\"}}", "surrogate");
	assert_refused("{\"method\":\"a.B\",\"parameters\":{\"o\":\"\\udc00x\"}}", "surrogate");
	assert_refused("{\"method\":\"a.B\",\"parameters\":{\"o\":\"\\ud800\\u0041\"}}", "surrogate");
	/* What json-c's strict mode still takes and JSON has not: nothing of
	 * it may get past (nor make the scan read beyond the message). */
	assert_refused("{'method':'a.B'}", "not valid JSON");
	assert_refused("{\"method\":\"a.B\",\"parameters\":{\"o\":'x'}}", "not valid JSON");
	assert_refused("{\"method\":\"a.B\",\"parameters\":{\"o\":NaN}}", "not valid JSON");
	assert_refused("{\"method\":\"a.B\",\"parameters\":{\"o\":[-Infinity]}}",
		       "not valid JSON");
	assert_refused("{\"method\":\"a.B\",\"parameters\":{\"o\":\"a\tb\"}}", "raw control");
	assert_accepted("{\"method\":\"a.B\",\"parameters\":{\"o\":\"\xc3\xa9\xe4\xb8\xad"
			"\xf0\x9f\x94\x91\\ud83d\\udd11\\n\"}}");
}

/* What the daemon writes is UTF-8 JSON whatever a string held: control
 * characters escaped, each byte that is not UTF-8 as U+FFFD, in jsonbuf's
 * text and in json-c's replies alike; both parse back. */
static void test_emitted_json_is_utf8(void **state)
{
	static const char raw[] = "a\x01\n\"\\\xff\xe9\x8d\xb5\xc3|\xed\xa0\x80\x1b[31m";
	static const char clean[] = "a\x01\n\"\\\xef\xbf\xbd\xe9\x8d\xb5\xef\xbf\xbd|"
				    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\x1b[31m";
	struct jsonbuf b = { 0 };
	json_object *o, *params = json_object_new_object(), *root, *v;
	struct vl_reply reply;
	const char *reason;
	char *msg;
	size_t len;

	jsonbuf_string(&b, raw);
	assert_true(utf8_valid(b.data, b.len));
	assert_null(memchr(b.data, '\n', b.len));
	assert_null(memchr(b.data, 0x1b, b.len));
	jsonbuf_add(&b, "", 1);
	o = json_tokener_parse(b.data);
	assert_non_null(o);
	assert_string_equal(json_object_get_string(o), clean);
	json_object_put(o);
	free(b.data);
	/* json-c passes the bytes through; the reply's writer does not. */
	json_object_object_add(params, "owner", json_object_new_string(raw));
	msg = vl_format_reply(params, false, &len);
	json_object_put(params);
	assert_true(utf8_valid(msg, len - 1));
	assert_int_equal(vl_parse_reply(msg, len - 1, &root, &reply, &reason), 0);
	assert_true(json_object_object_get_ex(reply.parameters, "owner", &v));
	assert_string_equal(json_object_get_string(v), clean);
	json_object_put(root);
	free(msg);
}

/* The UTF-8 helpers the writers and readers share. */
static void test_utf8_helpers(void **state)
{
	static const char key[] = "\xe9\x8d\xb5\xe9\x8d\xb5";
	char *s;

	assert_int_equal(utf8_char_len("\xf4\x8f\xbf\xbf", 4), 4);
	assert_int_equal(utf8_char_len("\xf4\x90\x80\x80", 4), 0); /* past U+10FFFF */
	assert_int_equal(utf8_char_len("\xe0\x80\xaf", 3), 0);     /* overlong */
	assert_int_equal(utf8_char_len("\xe9\x8d", 2), 0);         /* cut short */
	assert_true(utf8_valid("plain ascii, sixteen+", 21));
	assert_false(utf8_valid("plain ascii, sixteen\x80", 21));
	assert_int_equal(utf8_cut(key, 6, 5), 3);
	assert_int_equal(utf8_cut(key, 6, 4), 3);
	assert_int_equal(utf8_cut(key, 6, 3), 3);
	assert_int_equal(utf8_cut(key, 6, 6), 6);
	s = utf8_sanitize("a\0b\xff", 4);
	assert_memory_equal(s, "a\xef\xbf\xbd" "b\xef\xbf\xbd", 9); /* and its NUL */
	assert_int_equal(strlen(s), 8);
	free(s);
}

/* A logged value with a newline cannot forge a second line, one with an
 * escape sequence cannot reach the terminal, bytes that are not UTF-8 show
 * as \xNN. */
static void test_log_line_escaped(void **state)
{
	char out[4096] = "";
	int fds[2], saved = dup(STDERR_FILENO);
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
	log_msg(LOG_LVL_ERROR, "1-1\r", "owner %s",
		"vm\nhostdevd[0.0] error: forged\x1b[2J\xff\xe9\x8d\xb5\t.");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fds[1]);
	n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	assert_true(n > 0);
	out[n] = '\0';
	assert_ptr_equal(strchr(out, '\n'), out + n - 1);
	if (!strstr(out, "1-1\\r: owner vm\\nhostdevd[0.0] error: forged\\x1b[2J\\xff\xe9\x8d\xb5\\t."))
		fail_msg("not escaped as expected: %s", out);
}

static void test_bad_replies(void **state)
{
	static const char *const bad[] = {
		"{\"error\":5}",
		"{\"parameters\":[]}",
		"{\"parameters\":{},\"continues\":\"no\"}",
		"[]",
		"{\"parameters\":{}} trailing",
		"{\"parameters\":{},\"error\":\"a.B\",\"error\":\"a.C\"}",
		"{\"parameters\":{\"name\":\"\xff\"}}",
	};
	json_object *root;
	struct vl_reply reply;
	const char *reason;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		reason = NULL;
		assert_int_equal(vl_parse_reply(bad[i], strlen(bad[i]), &root, &reply, &reason), -1);
		assert_non_null(reason);
		assert_null(root);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_call),
		cmocka_unit_test(test_parameters_absent_or_null),
		cmocka_unit_test(test_missing_or_bad_method),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_not_json_or_trailing_garbage),
		cmocka_unit_test(test_nul_inside),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_huge_numbers),
		cmocka_unit_test(test_param_accessors),
		cmocka_unit_test(test_format_roundtrip),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_utf8_strings),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_emitted_json_is_utf8),
		cmocka_unit_test(test_utf8_helpers),
		cmocka_unit_test(test_log_line_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
