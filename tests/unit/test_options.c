/* hostdevd's command line and environment (daemon/options.c): the flag
 * wins over the variable, the variable over the default, and a value out
 * of the range --help states is a usage error. */
#include "daemon/options.h"
#include "common/varlink.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static enum options_result parse(struct daemon_options *o, const char *first, ...)
{
	char *argv[16] = { "hostdevd" };
	int argc = 1;
	va_list ap;
	enum options_result r;

	va_start(ap, first);
	for (const char *a = first; a && argc < 15; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	r = options_parse(o, argc, argv);
	return r;
}

static void test_max_message_flag_env_default(void **state)
{
	struct daemon_options o;

	unsetenv("HOSTDEVD_MAX_MESSAGE");
	assert_int_equal(parse(&o, NULL), OPTIONS_OK);
	assert_int_equal(o.max_message, VL_DEFAULT_MAX_MESSAGE);
	options_free(&o);

	setenv("HOSTDEVD_MAX_MESSAGE", "4096", 1);
	assert_int_equal(parse(&o, NULL), OPTIONS_OK);
	assert_int_equal(o.max_message, 4096);
	options_free(&o);

	assert_int_equal(parse(&o, "--max-message", "8192", NULL), OPTIONS_OK);
	assert_int_equal(o.max_message, 8192);
	options_free(&o);

	/* Set but empty: as if unset, like the other variables. */
	setenv("HOSTDEVD_MAX_MESSAGE", "", 1);
	assert_int_equal(parse(&o, NULL), OPTIONS_OK);
	assert_int_equal(o.max_message, VL_DEFAULT_MAX_MESSAGE);
	options_free(&o);
	unsetenv("HOSTDEVD_MAX_MESSAGE");
}

/* The ranges --help gives, at both ends and one past. */
static void test_ranges_as_help_states(void **state)
{
	static const struct {
		const char *flag, *ok_low, *ok_high, *bad_low, *bad_high;
	} cases[] = {
		{ "--max-message", "64", "1073741824", "63", "1073741825" },
		{ "--max-connections", "1", "1000000", "0", "1000001" },
		{ "--max-connections-per-uid", "1", "1000000", "0", "1000001" },
		{ "--partial-timeout", "0.001", "3600", "0.0001", "3601" },
		{ "--idle-timeout", "0.001", "3600", "0", "3600.5" },
		{ "--memory-budget", "1048576", "1073741824", "1048575", "1073741825" },
		{ "--step-timeout", "0.001", "3600", "0", "3601" },
	};
	struct daemon_options o;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(&o, cases[i].flag, cases[i].ok_low, NULL), OPTIONS_OK);
		options_free(&o);
		assert_int_equal(parse(&o, cases[i].flag, cases[i].ok_high, NULL), OPTIONS_OK);
		options_free(&o);
		assert_int_equal(parse(&o, cases[i].flag, cases[i].bad_low, NULL),
				 OPTIONS_USAGE_ERROR);
		options_free(&o);
		assert_int_equal(parse(&o, cases[i].flag, cases[i].bad_high, NULL),
				 OPTIONS_USAGE_ERROR);
		options_free(&o);
	}
}

/* OpenDevice's /dev: flag over variable over default, absolute only. */
static void test_dev_root(void **state)
{
	struct daemon_options o;

	unsetenv("HOSTDEVD_DEV_ROOT");
	assert_int_equal(parse(&o, NULL), OPTIONS_OK);
	assert_string_equal(o.dev_root, "/dev");
	options_free(&o);
	setenv("HOSTDEVD_DEV_ROOT", "/tmp/devroot", 1);
	assert_int_equal(parse(&o, NULL), OPTIONS_OK);
	assert_string_equal(o.dev_root, "/tmp/devroot");
	options_free(&o);
	assert_int_equal(parse(&o, "--dev-root", "/tmp/other", NULL), OPTIONS_OK);
	assert_string_equal(o.dev_root, "/tmp/other");
	options_free(&o);
	assert_int_equal(parse(&o, "--dev-root", "dev", NULL), OPTIONS_USAGE_ERROR);
	options_free(&o);
	unsetenv("HOSTDEVD_DEV_ROOT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_max_message_flag_env_default),
		cmocka_unit_test(test_ranges_as_help_states),
		cmocka_unit_test(test_dev_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
