/* The record builder (monitor/record.c record_build) on a hostile
 * sysfs-like directory made from the input, in a scratch directory: never
 * /sys.
 *
 * The input is lines, readable so that seeds can be written by hand:
 *
 *   pci 0000:01:00.0           the device: its bus and its directory, under
 *   usb 1-2                    <scratch>/devices/ (nested with '/', e.g.
 *                              pci0000:00/0000:00:1c.0/0000:01:00.0)
 *   f NAME VALUE               a file; VALUE unescaped (\n \t \\ \0 \xNN)
 *   F NAME COUNT VALUE         a file of VALUE repeated COUNT times
 *   l NAME TARGET              a symbolic link
 *   L NAME COUNT TARGET        a link to TARGET repeated COUNT times
 *   d NAME                     a directory
 *
 * NAME is relative to the device's directory, or to the scratch tree's top
 * with a leading '/'; "." and ".." are refused in it.  A link target is
 * kept as written (loops, dangling, very long), except that an absolute one
 * is moved under the scratch tree, and any link that resolves outside the
 * tree is pointed at <tree>/outside instead: links leave the device's
 * directory, never the scratch directory.
 *
 * Whatever the builder makes of it must be a record the protocol can write:
 * its Device (daemon/devjson.c) must parse as JSON.  Unless FUZZ_RECORD_UTF8=0
 * in the environment the JSON must also be valid UTF-8 (issue 12, item 6:
 * attributes cut mid-character; off by default until that fix is in). */
#include "common/jsonbuf.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/devjson.h"
#include "monitor/record.h"
#include "state/devtable.h"
#include "tests/fuzz/fuzzutil.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ENTRIES 96
#define MAX_REPEAT_BYTES 16384

static char top[PATH_MAX]; /* the scratch tree, emptied at each run */
static bool strict_utf8;
static bool print; /* FUZZ_PRINT=1: each record's JSON to stderr */

struct tree {
	char devdir[PATH_MAX];
	char links[MAX_ENTRIES][PATH_MAX]; /* those whose target has a ".." */
	size_t n_links;
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *env = getenv("FUZZ_RECORD_UTF8");

	log_set_level(LOG_LVL_ERROR);
	snprintf(top, sizeof(top), "%s/tree", fuzz_scratch_dir("record"));
	strict_utf8 = !env || strcmp(env, "0") != 0;
	print = getenv("FUZZ_PRINT") && strcmp(getenv("FUZZ_PRINT"), "1") == 0;
	return 0;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Unescapes s[0..len) into out; returns the length. */
static size_t unescape(const char *s, size_t len, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] != '\\' || i + 1 == len) {
			out[n++] = s[i];
			continue;
		}
		switch (s[++i]) {
		case 'n': out[n++] = '\n'; break;
		case 't': out[n++] = '\t'; break;
		case '0': out[n++] = '\0'; break;
		case 'x':
			if (i + 2 < len && unhex(s[i + 1]) >= 0 && unhex(s[i + 2]) >= 0) {
				out[n++] = (char)(unhex(s[i + 1]) << 4 | unhex(s[i + 2]));
				i += 2;
				break;
			}
			out[n++] = 'x';
			break;
		default: out[n++] = s[i]; break;
		}
	}
	return n;
}

/* A name made safe: no empty, "." or ".." component, no NUL. */
static bool safe_name(const char *name)
{
	const char *p = name;

	if (!*name)
		return false;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);

		if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p = *end ? end + 1 : end;
	}
	return p[-1] != '/';
}

static bool inside(const char *resolved)
{
	size_t n = strlen(top);

	return strncmp(resolved, top, n) == 0 && (resolved[n] == '\0' || resolved[n] == '/');
}

/* Whether directory `dir` is, physically, inside the tree: an earlier
 * entry may have made a link that leads out, and nothing may be created
 * through it.  `resolved` receives the real path. */
static bool dir_inside(const char *dir, char *resolved)
{
	return realpath(dir, resolved) && inside(resolved);
}

/* Where NAME goes, its parent directories made, all of them inside the
 * tree; the path returned has its parent resolved, so that creating the
 * last component (O_NOFOLLOW, mkdir, symlink: none follows it) cannot
 * leave the tree either. */
static bool place(const struct tree *t, const char *name, char *out, size_t size)
{
	bool from_top = name[0] == '/';
	const char *rel = from_top ? name + 1 : name;
	char raw[PATH_MAX], real[PATH_MAX], *comp, *slash;
	int n;

	if (!safe_name(rel))
		return false;
	n = snprintf(raw, sizeof(raw), "%s/%s", from_top ? top : t->devdir, rel);
	if (n < 0 || (size_t)n >= sizeof(raw))
		return false;
	comp = raw + strlen(from_top ? top : t->devdir) + 1;
	while ((slash = strchr(comp, '/'))) {
		comp[-1] = '\0';
		if (!dir_inside(raw, real))
			return false;
		comp[-1] = '/';
		*slash = '\0';
		mkdir(raw, 0700); /* an existing file or link here fails a later step */
		*slash = '/';
		comp = slash + 1;
	}
	comp[-1] = '\0';
	if (!dir_inside(raw, real))
		return false;
	n = snprintf(out, size, "%s/%s", real, comp);
	return n >= 0 && (size_t)n < size;
}

static void make_link(struct tree *t, const char *path, const char *target)
{
	char abs[PATH_MAX * 2];

	if (target[0] == '/') {
		snprintf(abs, sizeof(abs), "%s%s", top, target);
		target = abs;
	}
	/* Without a ".." a target stays inside: an absolute one was moved in,
	 * a relative one descends from a directory inside, through links that
	 * are themselves confined.  Only the others need resolving (a realpath
	 * for each is most of a run's time). */
	if (symlink(target, path) < 0 || !strstr(target, ".."))
		return;
	if (t->n_links == MAX_ENTRIES)
		unlink(path);
	else
		snprintf(t->links[t->n_links++], PATH_MAX, "%s", path);
}

/* Every link that leads out of the tree is pointed back in, until none
 * does (moving one can change where another leads). */
static void confine_links(const struct tree *t)
{
	char outside[PATH_MAX + 16], resolved[PATH_MAX];
	bool moved = true;

	snprintf(outside, sizeof(outside), "%s/outside", top);
	for (size_t round = 0; moved && round <= t->n_links; round++) {
		moved = false;
		for (size_t i = 0; i < t->n_links; i++) {
			if (!realpath(t->links[i], resolved) || inside(resolved))
				continue;
			if (unlink(t->links[i]) < 0 || symlink(outside, t->links[i]) < 0)
				abort(); /* a link we cannot confine must not be read */
			moved = true;
		}
	}
	for (size_t i = 0; i < t->n_links; i++)
		FUZZ_CHECK(!realpath(t->links[i], resolved) || inside(resolved),
			   "%s still leads to %s", t->links[i], resolved);
}

/* One line: "op NAME [COUNT] VALUE". */
static void entry(struct tree *t, char *line, size_t len, char *val)
{
	char op = line[0], path[PATH_MAX], *name, *rest, *end;
	size_t vlen, count = 1;

	if (len < 3 || line[1] != ' ')
		return;
	name = line + 2;
	rest = memchr(name, ' ', len - 2);
	if (rest)
		*rest++ = '\0';
	else if (op != 'd')
		return;
	if (strlen(name) != (size_t)((rest ? rest - 1 : line + len) - name) ||
	    !place(t, name, path, sizeof(path)))
		return;
	if (op == 'd') {
		mkdir(path, 0700);
		return;
	}
	if (op == 'F' || op == 'L') {
		count = strtoul(rest, &end, 10);
		if (end == rest || *end != ' ')
			return;
		rest = end + 1;
	}
	vlen = unescape(rest, (size_t)(line + len - rest), val);
	if (count == 0 || count > MAX_REPEAT_BYTES || vlen * count > MAX_REPEAT_BYTES)
		count = vlen && vlen <= MAX_REPEAT_BYTES ? MAX_REPEAT_BYTES / vlen : 1;
	for (size_t i = 1; i < count; i++)
		memmove(val + i * vlen, val, vlen);
	vlen *= count;
	if (op == 'f' || op == 'F') {
		fuzz_try_write_file(path, val, vlen); /* a name too long, a directory there */
	} else if (op == 'l' || op == 'L') {
		val[vlen] = '\0'; /* a target ends at its first NUL */
		make_link(t, path, val);
	}
}

/* The device line, if any, and the device's directory. */
static enum hd_bus device_line(struct tree *t, char *line, size_t len)
{
	enum hd_bus bus = HD_BUS_PCI;
	const char *name = "pci0000:00/0000:01:00.0";
	char path[PATH_MAX];

	if (len > 4 && (!strncmp(line, "pci ", 4) || !strncmp(line, "usb ", 4)) &&
	    strlen(line) == len && safe_name(line + 4)) {
		bus = line[0] == 'u' ? HD_BUS_USB : HD_BUS_PCI;
		name = line + 4;
	}
	snprintf(t->devdir, sizeof(t->devdir), "%s/devices", top);
	mkdir(t->devdir, 0700);
	/* The device's parents, under devices/; then the device itself. */
	if (place(t, name, path, sizeof(path))) {
		snprintf(t->devdir, sizeof(t->devdir), "%s", path);
		mkdir(t->devdir, 0700);
	}
	return bus;
}

static void check_record(const struct device *dev, enum hd_bus bus, const char *syspath)
{
	struct devtable *table = devtable_new();
	struct device *rec = (struct device *)dev;
	struct jsonbuf b = { 0 };
	struct json_tokener *tok;
	json_object *o;

	FUZZ_CHECK(dev->bus == bus, "bus %d, built for %d", (int)dev->bus, (int)bus);
	FUZZ_CHECK(strcmp(dev->syspath, syspath) == 0, "syspath %s", dev->syspath);
	FUZZ_CHECK(strcmp(dev->id, strrchr(syspath, '/') + 1) == 0, "id %s", dev->id);
	rec = devtable_upsert(table, rec, DEV_EVENT_ADD, NULL);
	devjson_append_device(&b, table, NULL, NULL, rec);
	if (print)
		fprintf(stderr, "record: %.*s\n", (int)b.len, b.data);
	tok = json_tokener_new();
	if (strict_utf8)
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, b.data, (int)b.len);
	FUZZ_CHECK(o && json_tokener_get_parse_end(tok) == b.len &&
			   json_object_is_type(o, json_type_object),
		   "the record's Device is not %s JSON (%s): %.*s", strict_utf8 ? "UTF-8" : "valid",
		   json_tokener_error_desc(json_tokener_get_error(tok)), (int)b.len, b.data);
	json_object_put(o);
	json_tokener_free(tok);
	free(b.data);
	devtable_free(table);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tree t;
	char *text = xrealloc(NULL, size + 1), *val = xrealloc(NULL, MAX_REPEAT_BYTES + size + 1);
	char *line = text, *end;
	enum hd_bus bus;
	struct device *dev;
	size_t n = 0;

	memcpy(text, data, size);
	text[size] = '\0';
	t.n_links = 0;
	fuzz_empty_dir(top);
	end = memchr(line, '\n', size);
	if (end)
		*end = '\0';
	bus = device_line(&t, line, end ? (size_t)(end - line) : size);
	while (end && n++ < MAX_ENTRIES) {
		size_t left = size - (size_t)(end + 1 - text);

		line = end + 1;
		end = memchr(line, '\n', left);
		if (end)
			*end = '\0';
		entry(&t, line, end ? (size_t)(end - line) : left, val);
	}
	confine_links(&t);

	dev = record_build(bus, t.devdir);
	/* No record is a fine answer to a broken directory. */
	if (dev)
		check_record(dev, bus, t.devdir);
	free(text);
	free(val);
	return 0;
}
