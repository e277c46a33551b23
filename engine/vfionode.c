#include "engine/vfionode.h"
#include "common/log.h"
#include "common/stub.h"
#include "common/util.h"
#include "engine/worker.h"
#include "state/bus.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A sentence or a name into a buffer that is large enough for what
 * hostdevd names (a longer one is cut, and said cut by its end). */
static void say(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

/* ---- names -------------------------------------------------------------- */

bool vfionode_driver_is_vfio(const char *driver)
{
	return driver && (streq(driver, STUB_DEFAULT) || stub_is_variant(driver));
}

static bool all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

bool vfionode_cdev_name(const struct device *dev, char *name, size_t size)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;
	bool found = false;

	if (!dev->syspath)
		return false;
	snprintf(dir, sizeof(dir), "%s/vfio-dev", dev->syspath);
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		const char *p = de->d_name;

		char attr[PATH_MAX];

		if (strncmp(p, "vfio", 4) != 0 || !all_digits(p + 4) ||
		    strlen(p) >= VFIONODE_NAME_MAX - sizeof("vfio/devices/"))
			continue;
		if ((size_t)snprintf(attr, sizeof(attr), "%s/%s/dev", dir, p) >= sizeof(attr) ||
		    access(attr, F_OK) < 0)
			continue;
		snprintf(name, size, "%s", p);
		found = true;
	}
	closedir(d);
	return found;
}

size_t vfionode_names(const struct device *dev, char names[2][VFIONODE_NAME_MAX])
{
	char cdev[NAME_MAX + 1];
	size_t n = 0;

	if (dev->bus != HD_BUS_PCI || !vfionode_driver_is_vfio(dev->driver))
		return 0;
	if (device_iommu_group(dev) != HD_NO_GROUP)
		say(names[n++], VFIONODE_NAME_MAX, "vfio/%d", device_iommu_group(dev));
	if (vfionode_cdev_name(dev, cdev, sizeof(cdev)))
		say(names[n++], VFIONODE_NAME_MAX, "vfio/devices/%s", cdev);
	return n;
}

bool vfionode_open_name(const struct device *dev, char *name, size_t size, const char **kind)
{
	char cdev[NAME_MAX + 1];

	if (vfionode_cdev_name(dev, cdev, sizeof(cdev))) {
		say(name, size, "vfio/devices/%s", cdev);
		*kind = "cdev";
		return true;
	}
	if (device_iommu_group(dev) == HD_NO_GROUP)
		return false;
	snprintf(name, size, "vfio/%d", device_iommu_group(dev));
	*kind = "group";
	return true;
}

bool vfionode_name_valid(const char *name)
{
	if (!name || strlen(name) >= VFIONODE_NAME_MAX)
		return false;
	if (strncmp(name, "vfio/devices/vfio", 17) == 0)
		return all_digits(name + 17);
	return strncmp(name, "vfio/", 5) == 0 && all_digits(name + 5);
}

void vfionode_path(const char *dev_root, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", dev_root, name);
}

/* ---- reaching a node without following links ---------------------------- */

/* An O_PATH descriptor of the node, reached from the dev root one
 * component at a time, none of them followed if it is a symbolic link: a
 * link at the end is opened as itself (and refused by the caller), one on
 * the way is refused here.  -errno, with a sentence in why. */
static int open_node(const char *dev_root, const char *name, char *why, size_t size)
{
	char rest[VFIONODE_NAME_MAX], *save = NULL, *comp, *next;
	int dir = open(dev_root, O_PATH | O_DIRECTORY | O_CLOEXEC), fd;

	if (dir < 0) {
		int e = errno;

		say(why, size, "%s: %s", dev_root, strerror(e));
		return -e;
	}
	snprintf(rest, sizeof(rest), "%s", name);
	for (comp = strtok_r(rest, "/", &save); comp; comp = next) {
		next = strtok_r(NULL, "/", &save);
		fd = openat(dir, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC | (next ? O_DIRECTORY : 0));
		if (fd < 0) {
			int e = errno;

			close(dir);
			if (e == ENOTDIR || e == ELOOP)
				say(why, size, "%s/%s: %s is not a directory (a symbolic link is "
						    "not followed)",
					 dev_root, name, comp);
			else
				say(why, size, "%s/%s: %s", dev_root, name, strerror(e));
			return e == ELOOP ? -ENOTDIR : -e;
		}
		close(dir);
		dir = fd;
	}
	return dir;
}

static enum vfionode_outcome stat_fd(int fd, const char *path, struct stat *st, char *why,
				     size_t size, int *err)
{
	if (fstat(fd, st) < 0) {
		*err = errno;
		say(why, size, "%s: %s", path, strerror(*err));
		return VFIONODE_FAILED;
	}
	if (S_ISLNK(st->st_mode)) {
		*err = ELOOP;
		say(why, size, "%s is a symbolic link: not followed", path);
		return VFIONODE_REFUSED;
	}
	if (!S_ISCHR(st->st_mode)) {
		*err = ENODEV;
		say(why, size, "%s is not a character device", path);
		return VFIONODE_REFUSED;
	}
	return VFIONODE_ALREADY;
}

/* An open that failed: missing, refused (a link or a file on the way) or
 * failed. */
static enum vfionode_outcome open_failed(int r, int *err)
{
	*err = -r;
	if (r == -ENOENT)
		return VFIONODE_MISSING;
	return r == -ENOTDIR ? VFIONODE_REFUSED : VFIONODE_FAILED;
}

enum vfionode_outcome vfionode_stat(const char *dev_root, const char *name,
				    struct vfionode_stat *out, char *why, size_t size)
{
	char path[PATH_MAX], sink[160];
	_cleanup_close_ int fd = -1;
	enum vfionode_outcome o;
	struct stat st;
	int err = 0;

	if (!why) {
		why = sink;
		size = sizeof(sink);
	}
	vfionode_path(dev_root, name, path, sizeof(path));
	fd = open_node(dev_root, name, why, size);
	if (fd < 0)
		return open_failed(fd, &err);
	o = stat_fd(fd, path, &st, why, size, &err);
	if (o != VFIONODE_ALREADY)
		return o;
	*out = (struct vfionode_stat){ st.st_uid, st.st_gid, st.st_mode & 07777, st.st_rdev };
	return VFIONODE_ALREADY;
}

/* The test harnesses' guard (HOSTDEVD_REQUIRE_MOCK=1, engine/sysfs.h):
 * owners change only under a dev root a test redirected, never under the
 * machine's /dev, by its name or by where it leads.  umockdev's
 * redirection of /dev is not relied on: a daemon under test gets
 * --dev-root. */
static bool dev_root_refused(const char *dev_root)
{
	const char *v = getenv("HOSTDEVD_REQUIRE_MOCK");
	char real[PATH_MAX];

	if (!v || !streq(v, "1"))
		return false;
	if (!realpath(dev_root, real))
		snprintf(real, sizeof(real), "%s", dev_root);
	return streq(dev_root, "/dev") || streq(dev_root, "/dev/") || streq(real, "/dev");
}

/* One change, by the rules of struct vfionode_change. */
static void change_one(const char *dev_root, struct vfionode_change *c)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	struct stat st;

	c->err = 0;
	c->why[0] = '\0';
	vfionode_path(dev_root, c->name, path, sizeof(path));
	if (dev_root_refused(dev_root)) {
		c->outcome = VFIONODE_FAILED;
		c->err = EPERM;
		say(c->why, sizeof(c->why),
		    "REFUSING to change %s: HOSTDEVD_REQUIRE_MOCK=1 and the dev root is the "
		    "machine's /dev (a test gives --dev-root)",
		    path);
		return;
	}
	fd = open_node(dev_root, c->name, c->why, sizeof(c->why));
	if (fd < 0) {
		c->outcome = open_failed(fd, &c->err);
		return;
	}
	c->outcome = stat_fd(fd, path, &st, c->why, sizeof(c->why), &c->err);
	if (c->outcome != VFIONODE_ALREADY)
		return;
	if (st.st_uid == c->uid && (c->gid == (gid_t)-1 || st.st_gid == c->gid)) {
		say(c->why, sizeof(c->why), "%s is owned by uid %u already", path,
			 (unsigned)c->uid);
		return;
	}
	if (st.st_uid != c->expect_uid || (c->rdev && st.st_rdev != c->rdev)) {
		c->outcome = VFIONODE_MOVED;
		say(c->why, sizeof(c->why),
			 "%s is owned by uid %u, not uid %u as expected (or is another node): left "
			 "as it is",
			 path, (unsigned)st.st_uid, (unsigned)c->expect_uid);
		return;
	}
	if (fchownat(fd, "", c->uid, c->gid, AT_EMPTY_PATH) < 0) {
		c->err = errno;
		c->outcome = VFIONODE_FAILED;
		say(c->why, sizeof(c->why), "chown %s to uid %u: %s", path, (unsigned)c->uid,
			 strerror(c->err));
		return;
	}
	c->outcome = VFIONODE_CHANGED;
	if (c->gid == (gid_t)-1)
		say(c->why, sizeof(c->why), "%s: owner uid %u -> %u", path,
			 (unsigned)st.st_uid, (unsigned)c->uid);
	else
		say(c->why, sizeof(c->why), "%s: owner %u:%u -> %u:%u", path,
			 (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)c->uid,
			 (unsigned)c->gid);
}

/* ---- the worker --------------------------------------------------------- */

struct nodes_job {
	struct vfionodes *n;
	struct vfionode_change *v;
	size_t count;
	vfionodes_done_fn done;
	void *ctx;
	void (*hook)(void *ctx); /* the test's, run first in the worker */
	void *hook_ctx;
	bool ran; /* set by the worker; read on the loop after delivery or join */
	struct nodes_job *next;
};

struct vfionodes {
	char *dev_root;
	struct worker_pool *pool;
	/* Asked and not answered, oldest first. */
	struct nodes_job *head, *tail;
	bool stopping;
	void (*hook)(void *ctx);
	void *hook_ctx;
};

struct vfionodes *vfionodes_new(struct event_base *base, const char *dev_root)
{
	struct vfionodes *n = xcalloc(1, sizeof(*n));

	n->dev_root = xstrdup(dev_root ? dev_root : "/dev");
	/* One thread: the changes are made in the order they were asked. */
	n->pool = worker_pool_new(base, 1);
	return n;
}

const char *vfionodes_dev_root(const struct vfionodes *n)
{
	return n->dev_root;
}

void vfionodes_apply_now(const struct vfionodes *n, struct vfionode_change *v, size_t count)
{
	for (size_t i = 0; i < count; i++)
		change_one(n->dev_root, &v[i]);
}

void vfionodes_set_job_hook(struct vfionodes *n, void (*hook)(void *ctx), void *ctx)
{
	n->hook = hook;
	n->hook_ctx = ctx;
}

static void job_run(void *arg)
{
	struct nodes_job *j = arg;

	if (j->hook)
		j->hook(j->hook_ctx);
	vfionodes_apply_now(j->n, j->v, j->count);
	j->ran = true;
}

static void job_unlink(struct vfionodes *n, struct nodes_job *j)
{
	for (struct nodes_job **p = &n->head; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			if (n->tail == j) {
				n->tail = NULL;
				for (struct nodes_job *t = n->head; t; t = t->next)
					n->tail = t;
			}
			return;
		}
}

static void job_answer(struct nodes_job *j)
{
	j->done(j->v, j->count, j->ctx);
	free(j->v);
	free(j);
}

static void job_done(void *arg, enum worker_outcome outcome)
{
	struct nodes_job *j = arg;

	job_unlink(j->n, j);
	job_answer(j);
}

void vfionodes_apply(struct vfionodes *n, const struct vfionode_change *v, size_t count,
		     vfionodes_done_fn done, void *ctx)
{
	struct nodes_job *j = xcalloc(1, sizeof(*j));

	j->n = n;
	j->v = xcalloc(count + 1, sizeof(*j->v));
	memcpy(j->v, v, count * sizeof(*v));
	j->count = count;
	j->done = done;
	j->ctx = ctx;
	if (n->stopping) {
		job_run(j);
		job_answer(j);
		return;
	}
	if (n->tail)
		n->tail->next = j;
	else
		n->head = j;
	n->tail = j;
	j->hook = n->hook;
	j->hook_ctx = n->hook_ctx;
	worker_submit(n->pool, 0, job_run, job_done, j);
}

void vfionodes_stop(struct vfionodes *n)
{
	struct nodes_job *j;

	if (!n || n->stopping)
		return;
	/* The thread finishes the job it runs; the rest is made here. */
	n->stopping = true;
	worker_pool_free(n->pool);
	n->pool = NULL;
	while ((j = n->head)) {
		n->head = j->next;
		if (!n->head)
			n->tail = NULL;
		if (!j->ran)
			job_run(j);
		job_answer(j);
	}
}

void vfionodes_free(struct vfionodes *n)
{
	if (!n)
		return;
	vfionodes_stop(n);
	free(n->dev_root);
	free(n);
}
