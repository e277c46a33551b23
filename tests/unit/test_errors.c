/* The one error table (common/errors.c): every io.hostdevd error of the
 * schema is in it with the schema's parameters in the schema's order, and
 * the daemon writes an error's parameters exactly as its row lists them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/errors.h"
#include "common/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#ifndef HOSTDEVD_IDL_PATH
#error "HOSTDEVD_IDL_PATH names docs/io.hostdevd.varlink"
#endif

/* The schema's "error Name (a: t, b: ?t, ...)" declarations, which may wrap. */
static char *read_idl(void)
{
	FILE *f = fopen(HOSTDEVD_IDL_PATH, "r");
	char *text = NULL;
	size_t len = 0;
	ssize_t n;
	char *line = NULL;
	size_t cap = 0;

	assert_non_null(f);
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[0] == '#')
			continue;
		text = xrealloc(text, len + (size_t)n + 1);
		memcpy(text + len, line, (size_t)n);
		len += (size_t)n;
		text[len] = '\0';
	}
	free(line);
	fclose(f);
	return text;
}

/* The parameter names of one declaration, space-separated. */
static void decl_params(const char *open, char *out, size_t size)
{
	const char *p = open + 1;

	out[0] = '\0';
	while (*p && *p != ')') {
		const char *name;

		while (*p && (isspace((unsigned char)*p) || *p == ','))
			p++;
		name = p;
		while (*p && *p != ':' && *p != ')')
			p++;
		if (*p != ':')
			break;
		if (out[0])
			strncat(out, " ", size - strlen(out) - 1);
		strncat(out, name, (size_t)(p - name) < size - strlen(out) - 1 ? (size_t)(p - name)
									      : size - strlen(out) - 1);
		/* Skip the type, which may hold parentheses of its own (enums). */
		for (int depth = 0; *p && (depth > 0 || (*p != ',' && *p != ')')); p++)
			depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
	}
}

static void row_params(const struct hd_errdef *d, char *out, size_t size)
{
	out[0] = '\0';
	for (size_t i = 0; i < HD_ERR_MAX_PARAMS && d->params[i] != HDP_NONE; i++) {
		if (out[0])
			strncat(out, " ", size - strlen(out) - 1);
		strncat(out, err_param_name(d->params[i]), size - strlen(out) - 1);
	}
}

static void test_schema_errors_in_table(void **state)
{
	char *idl = read_idl();
	size_t seen = 0;

	for (char *p = strstr(idl, "\nerror "); p; p = strstr(p + 1, "\nerror ")) {
		char name[128], full[160], want[256], have[256];
		const char *open = strchr(p, '(');
		const struct hd_errdef *d;
		size_t n = strcspn(p + 7, " (");

		snprintf(name, sizeof(name), "%.*s", (int)n, p + 7);
		snprintf(full, sizeof(full), "io.hostdevd.%s", name);
		d = err_find(full, NULL);
		if (!d)
			fail_msg("the schema's error %s is not in the table", full);
		decl_params(open, want, sizeof(want));
		row_params(d, have, sizeof(have));
		if (strcmp(want, have) != 0)
			fail_msg("%s: the schema says (%s), the table (%s)", full, want, have);
		seen++;
	}
	free(idl);
	/* Every io.hostdevd row is the schema's. */
	for (int c = HDE_OK + 1; c < HDE__COUNT; c++)
		if (strncmp(err_name((enum hd_errcode)c), "io.hostdevd.", 12) == 0 && seen-- == 0)
			fail_msg("the table has more io.hostdevd errors than the schema");
}

static void test_params_follow_row(void **state)
{
	char *members[] = { "0000:01:00.1", "0000:01:00.2", NULL };
	struct hd_err e;
	json_object *p;

	err_set(&e, HDE_GROUP_NOT_VIABLE, "0000:01:00.0");
	e.group = 7;
	e.members = members;
	p = err_params(&e);
	assert_string_equal(json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN),
			    "{\"device\":\"0000:01:00.0\",\"group\":7,"
			    "\"members\":[\"0000:01:00.1\",\"0000:01:00.2\"]}");
	json_object_put(p);

	/* PolicyRefused by the default: no rule, file or line. */
	err_reason(&e, HDE_POLICY_REFUSED, "1-2", "the policy says %s", "refuse");
	e.action = "refuse";
	p = err_params(&e);
	assert_string_equal(json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN),
			    "{\"device\":\"1-2\",\"action\":\"refuse\","
			    "\"reason\":\"the policy says refuse\"}");
	json_object_put(p);

	err_set(&e, HDE_TIMEOUT, "0000:01:00.0");
	op_error_set(&e.failure, 110, "unbind", "/sys/x", "no");
	e.seconds = 0.2;
	p = err_params(&e);
	assert_string_equal(json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN),
			    "{\"device\":\"0000:01:00.0\",\"step\":\"unbind\",\"seconds\":0.2}");
	json_object_put(p);
}

static void test_names_round_trip(void **state)
{
	for (int c = HDE_OK + 1; c < HDE__COUNT; c++) {
		enum hd_errcode back;

		assert_non_null(err_find(err_name((enum hd_errcode)c), &back));
		assert_int_equal(back, c);
	}
	assert_null(err_find("io.hostdevd.NoSuchError", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_errors_in_table),
		cmocka_unit_test(test_params_follow_row),
		cmocka_unit_test(test_names_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
