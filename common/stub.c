#include "common/stub.h"
#include "common/util.h"

#include <pthread.h>
#include <string.h>

static char *variants[STUB_VARIANTS_MAX];
static size_t n_variants;

/* The learned copy: it outlives the caller's string. */
static const char *variant_find(const char *driver)
{
	for (size_t i = 0; driver && i < n_variants; i++)
		if (streq(variants[i], driver))
			return variants[i];
	return NULL;
}

bool stub_is_variant(const char *driver)
{
	return n_variants && variant_find(driver);
}

static const struct {
	const char *name;   /* the kernel's driver name */
	const char *module; /* the module it lives in */
	const char *alias;  /* another name given for it, or NULL */
} stubs[] = {
#define STUB_ROW(name, module, alias) { name, module, alias },
	STUB_DRIVERS(STUB_ROW)
#undef STUB_ROW
};

const char *stub_target(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(stubs); i++)
		if (streq(stubs[i].name, name) || (stubs[i].alias && streq(stubs[i].alias, name)))
			return stubs[i].name;
	return variant_find(name);
}

void stub_learn_variant(const char *driver)
{
	if (!driver || stub_is_variant(driver) || n_variants == STUB_VARIANTS_MAX)
		return;
	variants[n_variants++] = xstrdup(driver);
}

const char *stub_module(const char *driver)
{
	for (size_t i = 0; driver && i < ARRAY_SIZE(stubs); i++)
		if (streq(stubs[i].name, driver))
			return stubs[i].module;
	return NULL;
}

const char *stub_of_module(const char *module)
{
	for (size_t i = 0; module && i < ARRAY_SIZE(stubs); i++)
		if (streq(stubs[i].module, module))
			return stubs[i].name;
	return NULL;
}

bool stub_name_valid(const char *name)
{
	size_t n = name ? strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "0123456789-_")
			: 0;

	return n && n <= STUB_NAME_MAX && !name[n] && name[0] != '-' && name[0] != '_';
}

size_t stub_names(const char **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(stubs) && n < max; i++) {
		out[n++] = stubs[i].name;
		if (stubs[i].alias && n < max)
			out[n++] = stubs[i].alias;
	}
	for (size_t i = 0; i < n_variants && n < max; i++)
		out[n++] = variants[i];
	return n;
}

static char targets_text[128];

static void targets_text_build(void)
{
	size_t n = ARRAY_SIZE(stubs);

	for (size_t i = 0; i < n; i++) {
		strcat(targets_text, stubs[i].name);
		if (i + 2 < n)
			strcat(targets_text, ", ");
		else if (i + 2 == n)
			strcat(targets_text, " or ");
	}
}

const char *stub_targets_text(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, targets_text_build);
	return targets_text;
}
