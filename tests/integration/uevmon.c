#include "tests/integration/uevmon.h"
#include "tests/integration/itest.h"

#include <poll.h>

struct udev_monitor *uevmon_new(struct udev *udev, const char *name, const char *subsystem,
				const char *devtype)
{
	struct udev_monitor *m = udev_monitor_new_from_netlink(udev, name);

	assert_non_null(m);
	if (subsystem)
		assert_int_equal(
			udev_monitor_filter_add_match_subsystem_devtype(m, subsystem, devtype), 0);
	assert_int_equal(udev_monitor_enable_receiving(m), 0);
	return m;
}

struct udev_device *uevmon_next(struct udev_monitor *m, int timeout_ms)
{
	struct pollfd p = { .fd = udev_monitor_get_fd(m), .events = POLLIN };

	if (poll(&p, 1, timeout_ms) != 1)
		return NULL;
	return udev_monitor_receive_device(m);
}

struct udev_device *uevmon_expect(struct udev_monitor *m, const char *action, const char *sysname,
				  const char *driver)
{
	struct udev_device *d = uevmon_next(m, IT_TIMEOUT_MS);

	assert_non_null(d);
	assert_string_equal(udev_device_get_action(d), action);
	assert_string_equal(udev_device_get_sysname(d), sysname);
	if (driver)
		assert_string_equal(udev_device_get_property_value(d, "DRIVER"), driver);
	else
		assert_null(udev_device_get_property_value(d, "DRIVER"));
	return d;
}
