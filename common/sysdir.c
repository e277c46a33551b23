#include "common/sysdir.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic unsigned long starvations;

unsigned long sysdir_starvations(void)
{
	return starvations;
}

void sysdir_note_errno(int err)
{
	if (err_is_starvation(err))
		starvations++;
}

void sysdir_close(struct sysdir *d)
{
	for (size_t i = 0; i < d->n_names; i++)
		free(d->names[i]);
	free(d->names);
	if (d->fd >= 0)
		close(d->fd);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

bool sysdir_open(struct sysdir *d, const char *syspath)
{
	DIR *dir;
	struct dirent *de;
	size_t cap = 0;
	int lfd;

	memset(d, 0, sizeof(*d));
	d->syspath = syspath;
	d->fd = open(syspath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0) {
		sysdir_note_errno(errno);
		return false;
	}
	lfd = dup(d->fd);
	dir = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (!dir) {
		sysdir_note_errno(errno);
		if (lfd >= 0)
			close(lfd);
		return false;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (d->n_names == cap) {
			cap = cap ? cap * 2 : 64;
			d->names = xrealloc(d->names, cap * sizeof(*d->names));
		}
		d->names[d->n_names++] = xstrdup(de->d_name);
	}
	closedir(dir);
	/* A directory emptied under us (the device leaving) lists nothing:
	 * names is still NULL, which qsort may not be given. */
	if (d->n_names)
		qsort(d->names, d->n_names, sizeof(*d->names), cmp_name);
	d->listed = true;
	return true;
}

/* Whether an attribute may exist: without a listing, or for a path into a
 * subdirectory, the read itself tells. */
bool sysdir_has(const struct sysdir *d, const char *name)
{
	if (!d->listed || strchr(name, '/'))
		return true;
	/* An empty listing's names is NULL, which bsearch may not be given. */
	return d->n_names &&
	       bsearch(&name, d->names, d->n_names, sizeof(*d->names), cmp_name) != NULL;
}

/* Up to `cap` bytes of an attribute, its trailing newline and blanks
 * left out; -1 when absent or unreadable (write-only attributes,
 * attributes of a vanishing device).  A failure for want of a descriptor
 * is counted (sysdir_starvations). */
static ssize_t read_attr(const struct sysdir *d, const char *name, char *buf, size_t cap)
{
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (!sysdir_has(d, name))
		return -1;
	fd = openat(d->fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		sysdir_note_errno(errno);
		return -1;
	}
	n = read_full(fd, buf, cap);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	return n;
}

/* Reads a small attribute, without its trailing newline; false when absent
 * or unreadable. */
bool sysdir_read(const struct sysdir *d, const char *name, char *buf, size_t len)
{
	ssize_t n = read_attr(d, name, buf, len - 1);

	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* A sysfs attribute is at most a page: read whole, it is never cut
 * mid-character.  What it holds is the device's to say (a USB string
 * descriptor, a driver name under a test), so bytes that are not UTF-8
 * become U+FFFD here, where they enter, before any reply or log sees them. */
char *sysdir_str(const struct sysdir *d, const char *name)
{
	/* One byte more than is kept, so a longer value is seen to be and
	 * is cut between characters (larger than a page is not sysfs). */
	char buf[SYSDIR_ATTR_MAX + 1];
	ssize_t r = read_attr(d, name, buf, sizeof(buf));
	size_t n;

	if (r <= 0)
		return NULL;
	n = utf8_cut(buf, (size_t)r, SYSDIR_ATTR_MAX);
	return utf8_valid(buf, n) && !memchr(buf, '\0', n) ? xstrndup(buf, n)
							   : utf8_sanitize(buf, n);
}

bool sysdir_hex(const struct sysdir *d, const char *name, uint32_t *out)
{
	char buf[32];

	return sysdir_read(d, name, buf, sizeof(buf)) && parse_hex_u32(buf, out);
}

int sysdir_int(const struct sysdir *d, const char *name, int fallback)
{
	char buf[32], *end;
	long v;

	if (!sysdir_read(d, name, buf, sizeof(buf)))
		return fallback;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || end == buf || *end || v < INT_MIN || v > INT_MAX)
		return fallback;
	return (int)v;
}

/* The last component of a link's target, e.g. iommu_group -> "12". */
bool sysdir_link_name(const struct sysdir *d, const char *name, char *out, size_t len)
{
	char target[PATH_MAX];
	const char *base;
	ssize_t n;

	if (!sysdir_has(d, name))
		return false;
	n = readlinkat(d->fd, name, target, sizeof(target) - 1);
	if (n < 0) {
		sysdir_note_errno(errno);
		return false;
	}
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return false;
	strcpy(out, base);
	return true;
}

char *sysdir_driver(const struct sysdir *d, const char *sub)
{
	char path[NAME_MAX + 16], name[NAME_MAX + 1];

	snprintf(path, sizeof(path), "%s%sdriver", sub ? sub : "", sub ? "/" : "");
	if (!sysdir_link_name(d, sub ? path : "driver", name, sizeof(name)))
		return NULL;
	/* A link's name may be any bytes; a driver's, in a reply, UTF-8. */
	return utf8_dup(name);
}
