#include "engine/sysfs.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libkmod.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_uint module_load_attempts;

static bool require_mock(void)
{
	const char *v = getenv("HOSTDEVD_REQUIRE_MOCK");

	return v && streq(v, "1");
}

static bool in_umockdev(void)
{
	const char *dir = getenv("UMOCKDEV_DIR");

	return dir && *dir;
}

int sysfs_guard_check(void)
{
	if (!require_mock())
		return 0;
	if (!in_umockdev()) {
		log_error("REFUSING a sysfs write: HOSTDEVD_REQUIRE_MOCK=1 but UMOCKDEV_DIR is not "
			  "set; this process is not inside a umockdev testbed");
		return -EPERM;
	}
	/* Seen through umockdev's redirection, so it proves the redirection
	 * is live, not just that the variable is set. */
	if (access(SYSFS_TESTBED_MARKER, F_OK) < 0) {
		log_error("REFUSING a sysfs write: HOSTDEVD_REQUIRE_MOCK=1 but %s is not visible "
			  "(umockdev's preload is not active or the testbed lacks the marker)",
			  SYSFS_TESTBED_MARKER);
		return -EPERM;
	}
	return 0;
}

/* Only attribute files under /sys: the seam is not a general file writer. */
static bool sysfs_path_ok(const char *path)
{
	return strncmp(path, "/sys/", 5) == 0 && !strstr(path, "/../");
}

static int write_all_then_close(int fd, const char *value, size_t len)
{
	ssize_t n;

	do
		n = write(fd, value, len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	/* Some attributes (and libvirt-style mocks) act when the file is
	 * closed, so the close() result is part of the verdict. */
	if (close(fd) < 0 && errno != EINTR)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int sysfs_write(const char *step, const char *path, const char *value, struct op_error *err)
{
	size_t len = strlen(value);
	int fd, r;

	if (!sysfs_path_ok(path)) {
		op_error_set(err, EINVAL, step, path, "%s: not a sysfs attribute path", path);
		return -EINVAL;
	}
	r = sysfs_guard_check();
	if (r < 0) {
		op_error_set(err, -r, step, path,
			     "%s: refused: HOSTDEVD_REQUIRE_MOCK=1 outside a proven umockdev testbed",
			     path);
		return r;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		op_error_set(err, -r, step, path, "open %s: %s", path, strerror(-r));
		return r;
	}
	r = write_all_then_close(fd, value, len);
	if (r < 0) {
		op_error_set(err, -r, step, path, "write %s: %s", path, strerror(-r));
		return r;
	}
	log_debug("wrote '%.*s' to %s", (int)strcspn(value, "\n"), value, path);
	return 0;
}

static int kmod_insert(const char *name, struct op_error *err)
{
	struct kmod_ctx *ctx = kmod_new(NULL, NULL);
	struct kmod_list *list = NULL, *l;
	int r;

	if (!ctx) {
		op_error_set(err, ENOMEM, "load_module", name, "libkmod: cannot create a context");
		return -ENOMEM;
	}
	r = kmod_module_new_from_lookup(ctx, name, &list);
	if (r >= 0 && !list)
		r = -ENOENT;
	kmod_list_foreach(l, list) {
		struct kmod_module *mod = kmod_module_get_module(l);

		r = kmod_module_probe_insert_module(mod, KMOD_PROBE_APPLY_BLACKLIST, NULL, NULL,
						    NULL, NULL);
		kmod_module_unref(mod);
		if (r == 0)
			break;
	}
	kmod_module_unref_list(list);
	kmod_unref(ctx);
	if (r > 0)
		r = -EPERM; /* blacklisted */
	if (r < 0)
		op_error_set(err, -r, "load_module", name, "cannot load module %s: %s", name,
			     strerror(-r));
	return r < 0 ? r : 0;
}

int sysfs_module_load(const char *name, struct op_error *err)
{
	if (require_mock() || in_umockdev()) {
		log_error("module %s is not loaded, and modules are never loaded %s", name,
			  require_mock() ? "under HOSTDEVD_REQUIRE_MOCK=1" : "inside a umockdev testbed");
		op_error_set(err, ENOENT, "load_module", name,
			     "module %s is not loaded (loading is disabled in a mock environment)",
			     name);
		return -ENOENT;
	}
	atomic_fetch_add(&module_load_attempts, 1);
	log_info("loading module %s", name);
	return kmod_insert(name, err);
}

unsigned sysfs_module_load_attempts(void)
{
	return atomic_load(&module_load_attempts);
}
