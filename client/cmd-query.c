/* list, show, status: what hostdevd knows, asked without changing it. */
#include "client/cmd.h"
#include "client/format.h"
#include "common/util.h"
#include "state/bus.h"
#include "state/device.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

/* The names are the daemon's own (state/device.h, state/bus.h). */
static int check_bus(const char *arg)
{
	char names[128] = "";
	size_t len = 0;

	if (hd_bus_from_name(arg) >= 0)
		return CONTINUE;
	for (int i = 0; i < HD_BUS__COUNT && len < sizeof(names); i++)
		len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
					i == 0 ? "" : i + 1 == HD_BUS__COUNT ? " or " : ", ",
					hd_bus_name((enum hd_bus)i));
	return usage_error("--bus is %s, not '%s'", names, arg);
}

static int check_group(const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 0 || v > INT32_MAX)
		return usage_error("--group wants an IOMMU group number, not '%s'", arg);
	return CONTINUE;
}

static int check_state(const char *arg)
{
	if (dev_state_from_name(arg) < 0)
		return usage_error("--state '%s' is not a device state (see --help)", arg);
	return CONTINUE;
}

static int terminal_width(FILE *out)
{
	struct winsize ws;

	if (!isatty(fileno(out)) || ioctl(fileno(out), TIOCGWINSZ, &ws) < 0)
		return 0;
	return ws.ws_col;
}

static void render_device_table(FILE *out, json_object *devices)
{
	format_device_table(out, devices, terminal_width(out));
}

/* Each option is a filter, the ListDevices parameter of its name. */
static const struct cmd_option list_options[] = {
	{ .name = "bus", .short_name = 'b', .arg = "pci|usb", .parse = check_bus, .param = "bus" },
	{ .name = "driver", .short_name = 'd', .arg = "NAME", .param = "driver" },
	{ .name = "group", .short_name = 'g', .arg = "N", .parse = check_group,
	  .param = "iommu_group", .flags = CMD_OPT_NUMBER },
	{ .name = "state", .short_name = 'S', .arg = "STATE", .parse = check_state,
	  .param = "state" },
	{},
};

const struct cmd_entry cmd_list_entry = {
	.name = "list",
	.usage = "[-b|--bus pci|usb] [-d|--driver NAME] [-g|--group N]\n"
		 "[-S|--state STATE]",
	.text = "List devices sorted by bus and id; every filter given\n"
		"must match.  --group is the IOMMU group.\n",
	.options = list_options,
	.method = "io.hostdevd.ListDevices",
	.member = "devices",
	.member_type = json_type_array,
	.print_member = true,
	.render = render_device_table,
	.none = "No devices.",
	.none_filtered = "No device matches the filters.",
};

const struct cmd_entry cmd_show_entry = {
	.name = "show",
	.usage = "DEVICE",
	.text = "Every field of one device.\n",
	.args = { .min = 1, .max = 1, .name = "DEVICE",
		  .hint = "a PCI address, USB port path, id:VVVV:PPPP or usb:BUS.DEV" },
	.method = "io.hostdevd.GetDevice",
	.member = "device",
	.member_type = json_type_object,
	.print_member = true,
	.build = add_device_param,
	.render = format_device_show,
};

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.text = "Version, uptime, device counts, event counters, clients.\n",
	.method = "io.hostdevd.GetStatus",
	.render = format_status,
};
