#include "common/variant.h"
#include "common/util.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "vfio_pci:"

struct variant_alias {
	char *pattern; /* "vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*" */
	char *module;
	unsigned wildcards;
};

struct variant_table {
	struct variant_alias *a;
	size_t n, cap;
};

static unsigned wildcards_of(const char *p)
{
	unsigned n = 0;

	for (; *p; p++)
		n += *p == '*' || *p == '?';
	return n;
}

/* The plain driver's own module: since Linux 6.0 vfio_pci declares
 * `alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci` (it takes any device by
 * driver_override).  It is no variant: kept, it would be "the variant"
 * of every function that has none. */
#define PLAIN_MODULE "vfio_pci"

/* "alias vfio_pci:PATTERN MODULE": exactly three words. */
static void parse_line(struct variant_table *t, char *line)
{
	char *save = NULL, *w[4];
	size_t n = 0;

	for (char *tok = strtok_r(line, " \t\r\n", &save); tok && n < 4;
	     tok = strtok_r(NULL, " \t\r\n", &save))
		w[n++] = tok;
	if (n != 3 || !streq(w[0], "alias") || strncmp(w[1], PREFIX, strlen(PREFIX)) != 0 ||
	    !w[1][strlen(PREFIX)] || streq(w[2], PLAIN_MODULE))
		return;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->a = xrealloc(t->a, t->cap * sizeof(*t->a));
	}
	t->a[t->n++] = (struct variant_alias){ .pattern = xstrdup(w[1]),
					       .module = xstrdup(w[2]),
					       .wildcards = wildcards_of(w[1]) };
}

struct variant_table *variant_table_parse(FILE *fp)
{
	struct variant_table *t = xcalloc(1, sizeof(*t));
	char *line = NULL;
	size_t size = 0;

	/* Cheap first test: a distribution's file has tens of thousands of
	 * lines and a handful of vfio_pci ones. */
	while (fp && getline(&line, &size, fp) >= 0)
		if (strstr(line, PREFIX))
			parse_line(t, line);
	free(line);
	return t;
}

struct variant_table *variant_table_load(const char *modules_dir)
{
	_cleanup_free_ char *path = xasprintf("%s/modules.alias", modules_dir ? modules_dir : "");
	FILE *fp = modules_dir ? fopen(path, "re") : NULL;
	struct variant_table *t = variant_table_parse(fp);

	if (fp)
		fclose(fp);
	return t;
}

void variant_table_free(struct variant_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->a[i].pattern);
		free(t->a[i].module);
	}
	free(t->a);
	free(t);
}

size_t variant_table_count(const struct variant_table *t)
{
	return t ? t->n : 0;
}

void variant_modalias(char buf[VARIANT_MODALIAS_MAX], uint32_t vendor, uint32_t device,
		      uint32_t subvendor, uint32_t subdevice, uint32_t class_code)
{
	snprintf(buf, VARIANT_MODALIAS_MAX, PREFIX "v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X",
		 vendor, device, subvendor, subdevice, (class_code >> 16) & 0xff,
		 (class_code >> 8) & 0xff, class_code & 0xff);
}

const char *variant_choose(const struct variant_table *t, const char *modalias)
{
	const struct variant_alias *best = NULL;

	for (size_t i = 0; t && modalias && i < t->n; i++)
		if ((!best || t->a[i].wildcards < best->wildcards) &&
		    fnmatch(t->a[i].pattern, modalias, 0) == 0)
			best = &t->a[i];
	return best ? best->module : NULL;
}

const char *variant_table_module(const struct variant_table *t, const char *module)
{
	for (size_t i = 0; t && module && i < t->n; i++)
		if (streq(t->a[i].module, module))
			return t->a[i].module;
	return NULL;
}

bool variant_table_has_module(const struct variant_table *t, const char *module)
{
	return variant_table_module(t, module) != NULL;
}

size_t variant_table_modules(const struct variant_table *t, const char **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; t && i < t->n && n < max; i++)
		if (variant_table_module(t, t->a[i].module) == t->a[i].module)
			out[n++] = t->a[i].module;
	return n;
}
