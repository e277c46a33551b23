#include "monitor/record.h"
#include "common/log.h"
#include "common/sysdir.h"
#include "common/util.h"
#include "state/bus.h"

#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *record_id_from_sysname(const char *sysname)
{
	return sysname;
}

static bool is_device_name(const char *s, size_t len)
{
	for (int bus = 0; bus < HD_BUS__COUNT; bus++)
		if (bus_desc((enum hd_bus)bus)->is_device_name(s, len))
			return true;
	return false;
}

/* The nearest ancestor that is itself a record (a PCI function, a USB
 * device), from the path alone: sysfs nests devices by topology and names
 * each bus's devices in forms nothing else uses. */
static char *parent_id_from_path(const char *syspath)
{
	const char *end = strrchr(syspath, '/');

	while (end && end > syspath) {
		const char *start = end - 1;

		while (start > syspath && *start != '/')
			start--;
		if (*start != '/')
			break;
		size_t len = (size_t)(end - start - 1);
		if (is_device_name(start + 1, len))
			return strndup(start + 1, len);
		end = start;
	}
	return NULL;
}

enum record_kind record_classify(struct udev_device *ud, enum hd_bus *bus)
{
	const struct bus_desc *b = bus_by_subsystem(udev_device_get_subsystem(ud), bus);
	const char *devtype = udev_device_get_devtype(ud);

	if (!b)
		return RECORD_IGNORE;
	if (!b->devtype || streq(devtype, b->devtype))
		return RECORD_DEVICE;
	if (b->child_devtype && streq(devtype, b->child_devtype))
		return RECORD_CHILD;
	return RECORD_IGNORE;
}

bool record_read_binding(const char *syspath, char **driver, char **driver_override)
{
	struct sysdir d = { .syspath = syspath };

	*driver = *driver_override = NULL;
	/* Two reads: no directory listing, so look the files up directly. */
	d.fd = open(syspath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d.fd < 0) {
		sysdir_note_errno(errno);
		return false;
	}
	*driver = sysdir_driver(&d, NULL);
	*driver_override = sysdir_str(&d, "driver_override");
	if (streq(*driver_override, "(null)")) {
		free(*driver_override);
		*driver_override = NULL;
	}
	sysdir_close(&d);
	return true;
}

struct device *record_build(enum hd_bus bus, const char *syspath)
{
	const char *sysname = strrchr(syspath, '/');
	_cleanup_free_ char *driver = NULL;
	struct sysdir d;
	struct device *dev;
	bool ok;

	if (bus >= HD_BUS__COUNT || !sysname || !sysname[1])
		return NULL;
	sysname++;
	if (!sysdir_open(&d, syspath)) {
		/* A device removed since its event: its remove event follows. */
		log_dev_debug(sysname, "not in sysfs any more; skipping");
		return NULL;
	}
	dev = device_new(bus, record_id_from_sysname(sysname));
	dev->syspath = xstrdup(syspath);
	driver = sysdir_driver(&d, NULL);
	dev->driver = device_intern(driver);
	dev->parent = parent_id_from_path(syspath);
	ok = bus_of(dev)->fill(dev, &d);
	sysdir_close(&d);
	if (!ok) {
		log_dev_debug(dev->id, "no vendor/product in sysfs; skipping");
		device_free(dev);
		return NULL;
	}
	return dev;
}

struct device *record_from_udev(struct udev_device *ud)
{
	const char *syspath = udev_device_get_syspath(ud);
	enum hd_bus bus;

	if (!syspath || record_classify(ud, &bus) != RECORD_DEVICE)
		return NULL;
	return record_build(bus, syspath);
}
