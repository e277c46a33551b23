#include "state/store.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct store {
	char *dir;
	char *path, *tmp;
	int dir_fd; /* kept open: every save syncs the directory */
};

struct store *store_new(const char *dir)
{
	struct store *s = xcalloc(1, sizeof(*s));

	s->dir = xstrdup(dir);
	s->path = xasprintf("%s/" STORE_FILE, dir);
	s->tmp = xasprintf("%s/" STORE_FILE ".tmp", dir);
	s->dir_fd = -1;
	return s;
}

void store_free(struct store *s)
{
	if (!s)
		return;
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	free(s->dir);
	free(s->path);
	free(s->tmp);
	free(s);
}

const char *store_path(const struct store *s)
{
	return s->path;
}

static int fail(char *err, size_t size, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t size, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return r;
}

static int write_all(int fd, const char *text, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, text, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		text += w;
		len -= (size_t)w;
	}
	return 0;
}

static void now_rfc3339(char *buf, size_t size)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* temp file, fsync, rename, fsync of the directory.  The text is written
 * by hand: json-c's objects cost more than the write itself (a save sits
 * on the path of every claim). */
int store_write(struct store *s, const char *members, size_t len, char *err, size_t size)
{
	char when[32], head[160];
	int fd, dfd, r, n;

	now_rfc3339(when, sizeof(when));
	n = snprintf(head, sizeof(head),
		     "{\n  \"format\": \"" STORE_FORMAT "\",\n  \"version\": %d,\n  \"written\": "
		     "\"%s\",\n",
		     STORE_VERSION, when);
	fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(err, size, -errno, "writing %s: %s", s->tmp, strerror(errno));
	r = write_all(fd, head, (size_t)n);
	if (r == 0)
		r = write_all(fd, members, len);
	if (r == 0)
		r = write_all(fd, "\n}\n", 3);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		unlink(s->tmp);
		return fail(err, size, r, "writing %s: %s", s->tmp, strerror(-r));
	}
	if (rename(s->tmp, s->path) < 0) {
		r = -errno;
		unlink(s->tmp);
		return fail(err, size, r, "renaming %s to %s: %s", s->tmp, s->path, strerror(-r));
	}
	/* The rename is durable only once the directory is. */
	if (s->dir_fd < 0)
		s->dir_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dfd = s->dir_fd;
	if (dfd < 0 || fsync(dfd) < 0)
		return fail(err, size, -errno, "syncing %s: %s", s->dir, strerror(errno));
	return 0;
}

/* Upgrades, one version to the next: upgrades[v] turns a version v body
 * into v + 1.  None yet: version 1 is the first. */
typedef int (*upgrade_fn)(json_object *body, char *err, size_t size);
static const upgrade_fn upgrades[STORE_VERSION] = { NULL };

static int check_envelope(struct store *s, json_object *doc, int *version, char *err,
			  size_t size)
{
	json_object *v;

	if (!json_object_is_type(doc, json_type_object))
		return fail(err, size, -EINVAL, "%s: not a JSON object", s->path);
	if (!json_object_object_get_ex(doc, "format", &v) ||
	    !streq(json_object_get_string(v), STORE_FORMAT))
		return fail(err, size, -EINVAL, "%s: \"format\" is not \"" STORE_FORMAT "\"",
			    s->path);
	if (!json_object_object_get_ex(doc, "version", &v) ||
	    !json_object_is_type(v, json_type_int))
		return fail(err, size, -EINVAL, "%s: no integer \"version\"", s->path);
	*version = json_object_get_int(v);
	if (*version < 1 || *version > STORE_VERSION)
		return fail(err, size, -EINVAL,
			    "%s: version %d, and this hostdevd reads versions 1 to %d: a newer "
			    "hostdevd wrote it",
			    s->path, *version, STORE_VERSION);
	return 0;
}

int store_read(struct store *s, json_object **body, char *err, size_t size)
{
	json_tokener *tok;
	json_object *doc;
	char *text = NULL;
	size_t len = 0;
	int version, r = 0;
	FILE *f;

	*body = NULL;
	f = fopen(s->path, "re");
	if (!f)
		return errno == ENOENT ? -ENOENT
				       : fail(err, size, -errno, "reading %s: %s", s->path,
					      strerror(errno));
	if (getdelim(&text, &len, '\0', f) < 0) {
		/* An empty file, or a read error; getdelim may have allocated
		 * a buffer it never wrote. */
		r = ferror(f) ? -EIO : 0;
		free(text);
		text = NULL;
	}
	fclose(f);
	if (r < 0)
		return fail(err, size, r, "reading %s: %s", s->path, strerror(EIO));
	tok = json_tokener_new();
	doc = json_tokener_parse_ex(tok, text ? text : "", text ? (int)strlen(text) : 0);
	if (!doc) {
		r = fail(err, size, -EINVAL, "%s: not JSON (%s at byte %zu)", s->path,
			 json_tokener_error_desc(json_tokener_get_error(tok)),
			 json_tokener_get_parse_end(tok));
		json_tokener_free(tok);
		free(text);
		return r;
	}
	json_tokener_free(tok);
	free(text);
	r = check_envelope(s, doc, &version, err, size);
	for (int v = version; r == 0 && v < STORE_VERSION; v++)
		if (upgrades[v] && (r = upgrades[v](doc, err, size)) == 0)
			log_info("%s: upgraded from version %d to %d", s->path, v, v + 1);
	if (r < 0) {
		json_object_put(doc);
		return r;
	}
	json_object_object_del(doc, "format");
	json_object_object_del(doc, "version");
	json_object_object_del(doc, "written");
	*body = doc;
	return 0;
}
