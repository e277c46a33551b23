/* The vfio_pci: alias table (common/variant.h): what it reads, and which
 * variant it picks for a device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "common/variant.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct variant_table *parse(const char *text)
{
	FILE *fp = fmemopen((void *)text, strlen(text), "r");
	struct variant_table *t = variant_table_parse(fp);

	fclose(fp);
	return t;
}

/* ConnectX-7 VF 15b3:101e, subsystem 15b3:0001, Ethernet controller. */
static void cx7(char buf[VARIANT_MODALIAS_MAX])
{
	variant_modalias(buf, 0x15b3, 0x101e, 0x15b3, 0x0001, 0x020000);
}

static void test_modalias_format(void **state)
{
	char m[VARIANT_MODALIAS_MAX];

	cx7(m);
	assert_string_equal(m, "vfio_pci:v000015B3d0000101Esv000015B3sd00000001bc02sc00i00");
}

static void test_only_vfio_pci_lines(void **state)
{
	struct variant_table *t = parse("# Aliases extracted from modules themselves.\n"
					"alias pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_core\n"
					"alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n"
					"alias usb:v*p*d*dc*dsc*dp*ic09isc*ip*in* usbcore\n");
	char m[VARIANT_MODALIAS_MAX];

	assert_int_equal(variant_table_count(t), 1);
	cx7(m);
	assert_string_equal(variant_choose(t, m), "mlx5_vfio_pci");
	assert_true(variant_table_has_module(t, "mlx5_vfio_pci"));
	assert_false(variant_table_has_module(t, "mlx5_core"));
	variant_table_free(t);
}

/* libvirt's rule: the fewest wildcards wins, wherever it is in the file. */
static void test_fewest_wildcards_wins(void **state)
{
	struct variant_table *t = parse("alias vfio_pci:v000015B3d*sv*sd*bc*sc*i* any_mlx\n"
					"alias vfio_pci:v000015B3d0000101Esv000015B3sd*bc*sc*i* exact\n"
					"alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* by_id\n");
	char m[VARIANT_MODALIAS_MAX];

	cx7(m);
	assert_string_equal(variant_choose(t, m), "exact");
	variant_table_free(t);
}

static void test_tie_goes_to_the_first(void **state)
{
	struct variant_table *t = parse("alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* first\n"
					"alias vfio_pci:v*d0000101Esv000015B3sd*bc*sc*i* second\n");
	char m[VARIANT_MODALIAS_MAX];

	cx7(m);
	assert_string_equal(variant_choose(t, m), "first");
	variant_table_free(t);
}

/* The class bytes count: an alias for a 3D controller (bc03sc02) does not
 * take the same ids in another class. */
static void test_class_matching(void **state)
{
	struct variant_table *t =
		parse("alias vfio_pci:v000010DEd*sv*sd*bc03sc02i00 nvgrace_gpu_vfio_pci\n");
	char m[VARIANT_MODALIAS_MAX];

	variant_modalias(m, 0x10de, 0x2342, 0x10de, 0x16eb, 0x030200);
	assert_string_equal(variant_choose(t, m), "nvgrace_gpu_vfio_pci");
	variant_modalias(m, 0x10de, 0x2342, 0x10de, 0x16eb, 0x030000);
	assert_null(variant_choose(t, m));
	variant_table_free(t);
}

static void test_no_match_is_plain_vfio_pci(void **state)
{
	struct variant_table *t = parse("alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n");
	char m[VARIANT_MODALIAS_MAX];

	variant_modalias(m, 0x8086, 0x10d3, 0x8086, 0xa01f, 0x020000);
	assert_null(variant_choose(t, m));
	assert_null(variant_choose(t, NULL));
	assert_null(variant_choose(NULL, m));
	variant_table_free(t);
}

/* vfio_pci declares a catch-all vfio_pci: alias of its own (Linux 6.0
 * on): it is the plain driver, no variant, and never "the variant" of a
 * function no variant serves. */
static void test_plain_vfio_pci_is_no_variant(void **state)
{
	struct variant_table *t = parse("alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n"
					"alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n");
	const char *mods[4];
	char m[VARIANT_MODALIAS_MAX];

	assert_int_equal(variant_table_count(t), 1);
	assert_false(variant_table_has_module(t, "vfio_pci"));
	variant_modalias(m, 0x8086, 0x10d3, 0x8086, 0xa01f, 0x020000);
	assert_null(variant_choose(t, m));
	cx7(m);
	assert_string_equal(variant_choose(t, m), "mlx5_vfio_pci");
	assert_int_equal(variant_table_modules(t, mods, ARRAY_SIZE(mods)), 1);
	assert_string_equal(mods[0], "mlx5_vfio_pci");
	variant_table_free(t);
}

/* Each module once, in file order, as the table's own strings. */
static void test_modules_listed_once(void **state)
{
	struct variant_table *t = parse("alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n"
					"alias vfio_pci:v000010DEd*sv*sd*bc03sc02i00 nvgrace_gpu_vfio_pci\n"
					"alias vfio_pci:v000015B3d0000101Fsv*sd*bc*sc*i* mlx5_vfio_pci\n");
	const char *mods[4];

	assert_int_equal(variant_table_modules(t, mods, ARRAY_SIZE(mods)), 2);
	assert_string_equal(mods[0], "mlx5_vfio_pci");
	assert_string_equal(mods[1], "nvgrace_gpu_vfio_pci");
	assert_ptr_equal(variant_table_module(t, "nvgrace_gpu_vfio_pci"), mods[1]);
	assert_null(variant_table_module(t, "nvgrace"));
	/* A short buffer takes what fits. */
	assert_int_equal(variant_table_modules(t, mods, 1), 1);
	assert_int_equal(variant_table_modules(NULL, mods, 4), 0);
	variant_table_free(t);
}

static void test_malformed_lines_ignored(void **state)
{
	struct variant_table *t = parse("alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*\n" /* no module */
					"alias vfio_pci: orphan\n"                            /* empty pattern */
					"alias vfio_pci:v* two modules here\n"
					"alias\n"
					"aliasvfio_pci:v* glued\n"
					"\n"
					"alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* good\n");
	char m[VARIANT_MODALIAS_MAX];

	assert_int_equal(variant_table_count(t), 1);
	cx7(m);
	assert_string_equal(variant_choose(t, m), "good");
	variant_table_free(t);
}

static void test_missing_file_is_empty(void **state)
{
	struct variant_table *t = variant_table_load("/nonexistent/modules/dir");

	assert_int_equal(variant_table_count(t), 0);
	variant_table_free(t);
	t = variant_table_load(NULL);
	assert_int_equal(variant_table_count(t), 0);
	variant_table_free(t);
}

/* A distribution's file: 50 000 other aliases and 200 vfio_pci ones, the
 * match last; read and chosen from quickly. */
static void test_huge_file(void **state)
{
	char dir[] = "/tmp/hd-variant-XXXXXX";
	char m[VARIANT_MODALIAS_MAX];
	struct variant_table *t;
	struct timespec a, b;
	FILE *fp;
	double ms;

	assert_non_null(mkdtemp(dir));
	_cleanup_free_ char *path = xasprintf("%s/modules.alias", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 50000; i++)
		fprintf(fp, "alias pci:v%08Xd%08Xsv*sd*bc*sc*i* mod%d\n", i, i, i);
	for (int i = 0; i < 199; i++)
		fprintf(fp, "alias vfio_pci:v0000ABCDd%08Xsv*sd*bc*sc*i* var%d\n", i, i);
	fprintf(fp, "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n");
	fclose(fp);
	clock_gettime(CLOCK_MONOTONIC, &a);
	t = variant_table_load(dir);
	cx7(m);
	assert_string_equal(variant_choose(t, m), "mlx5_vfio_pci");
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
	print_message("50200 lines read and chosen from in %.1f ms\n", ms);
	assert_int_equal(variant_table_count(t), 200);
	assert_true(ms < 2000);
	variant_table_free(t);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modalias_format),
		cmocka_unit_test(test_only_vfio_pci_lines),
		cmocka_unit_test(test_fewest_wildcards_wins),
		cmocka_unit_test(test_tie_goes_to_the_first),
		cmocka_unit_test(test_class_matching),
		cmocka_unit_test(test_no_match_is_plain_vfio_pci),
		cmocka_unit_test(test_plain_vfio_pci_is_no_variant),
		cmocka_unit_test(test_modules_listed_once),
		cmocka_unit_test(test_malformed_lines_ignored),
		cmocka_unit_test(test_missing_file_is_empty),
		cmocka_unit_test(test_huge_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
