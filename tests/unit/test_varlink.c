/* Varlink framing and decoding (common/varlink.c): what the daemon accepts
 * from a client and what it sends back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/util.h"
#include "common/varlink.h"

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

static void test_bad_replies(void **state)
{
	static const char *const bad[] = {
		"{\"error\":5}",
		"{\"parameters\":[]}",
		"{\"parameters\":{},\"continues\":\"no\"}",
		"[]",
		"{\"parameters\":{}} trailing",
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
		cmocka_unit_test(test_bad_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
