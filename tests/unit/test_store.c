/* The state file's envelope and atomic replacement (state/store.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/util.h"
#include "state/store.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct fx {
	char dir[64];
	struct store *s;
	char err[512];
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->s = store_new(f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/state.json", f->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/state.json.tmp", f->dir);
	unlink(path);
	rmdir(f->dir);
	store_free(f->s);
	free(f);
	return 0;
}

static void put(struct fx *f, const char *text)
{
	FILE *fp = fopen(store_path(f->s), "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_round_trip(void **state)
{
	static const char members[] = "  \"claims\": [],\n  \"note\": \"a/b\"";
	struct fx *f = *state;
	json_object *back = NULL, *v;
	char text[4096] = "";
	FILE *fp;

	assert_int_equal(store_write(f->s, members, strlen(members), f->err, sizeof(f->err)), 0);
	/* Human-readable, the envelope first. */
	fp = fopen(store_path(f->s), "r");
	assert_non_null(fp);
	assert_true(fread(text, 1, sizeof(text) - 1, fp) > 0);
	fclose(fp);
	assert_non_null(strstr(text, "\"format\": \"hostdevd-state\""));
	assert_true(strstr(text, "\"format\"") < strstr(text, "\"claims\""));
	assert_non_null(strstr(text, "a/b"));
	assert_int_equal(store_read(f->s, &back, f->err, sizeof(f->err)), 0);
	assert_false(json_object_object_get_ex(back, "format", NULL));
	assert_false(json_object_object_get_ex(back, "version", NULL));
	assert_true(json_object_object_get_ex(back, "note", &v));
	assert_string_equal(json_object_get_string(v), "a/b");
	json_object_put(back);
}

static void test_none(void **state)
{
	struct fx *f = *state;
	json_object *back = (json_object *)1;

	assert_int_equal(store_read(f->s, &back, f->err, sizeof(f->err)), -ENOENT);
	assert_null(back);
}

static void expect_refused(struct fx *f, const char *text, const char *says)
{
	json_object *back;

	put(f, text);
	assert_int_equal(store_read(f->s, &back, f->err, sizeof(f->err)), -EINVAL);
	assert_null(back);
	assert_non_null(strstr(f->err, store_path(f->s)));
	if (!strstr(f->err, says))
		fail_msg("'%s' does not say '%s'", f->err, says);
}

static void test_refusals(void **state)
{
	struct fx *f = *state;

	expect_refused(f, "", "not JSON");
	expect_refused(f, "{ \"format\": \"hostdevd-state\", ", "not JSON");
	expect_refused(f, "[]", "not a JSON object");
	expect_refused(f, "{ \"version\": 1 }", "\"format\"");
	expect_refused(f, "{ \"format\": \"hostdevd-state\" }", "\"version\"");
	expect_refused(f, "{ \"format\": \"hostdevd-state\", \"version\": \"1\" }", "\"version\"");
	expect_refused(f, "{ \"format\": \"hostdevd-state\", \"version\": 2 }",
		       "a newer hostdevd wrote it");
	expect_refused(f, "{ \"format\": \"hostdevd-state\", \"version\": 0 }", "version 0");
}

/* A write that cannot complete (here: a file-size limit, as a full disk)
 * leaves the previous document whole and no temporary file. */
static void test_failed_write_keeps_the_old_document(void **state)
{
	struct fx *f = *state;
	struct rlimit old, small = { .rlim_cur = 200, .rlim_max = RLIM_INFINITY };
	static const char one[] = "  \"n\": 1";
	char big[1024] = "  \"n\": 2, \"big\": \"", tmp[PATH_MAX];
	json_object *back, *v;

	assert_int_equal(store_write(f->s, one, strlen(one), f->err, sizeof(f->err)), 0);
	memset(big + strlen(big), 'x', 600);
	strcat(big, "\"");
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	assert_int_equal(store_write(f->s, big, strlen(big), f->err, sizeof(f->err)), -EFBIG);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_non_null(strstr(f->err, "state.json.tmp"));
	snprintf(tmp, sizeof(tmp), "%s/state.json.tmp", f->dir);
	assert_int_not_equal(access(tmp, F_OK), 0);
	assert_int_equal(store_read(f->s, &back, f->err, sizeof(f->err)), 0);
	assert_true(json_object_object_get_ex(back, "n", &v));
	assert_int_equal(json_object_get_int(v), 1);
	json_object_put(back);
}

static void test_missing_directory(void **state)
{
	struct store *s = store_new("/nonexistent/hostdevd-state");
	char err[512];

	(void)state;
	assert_int_equal(store_write(s, "  \"claims\": []", 15, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/hostdevd-state/state.json.tmp"));
	store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_keeps_the_old_document, setup,
						teardown),
		cmocka_unit_test(test_missing_directory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
