/* detach, reattach, reset: one PCI function, moved between its host driver
 * and a stub, or reset; repair: a device in `error` put back.  Each waits
 * for the kernel (CMD_WAITS_DEVICE). */
#include "client/cmd.h"
#include "client/format.h"
#include "common/jsonget.h"
#include "common/stub.h"
#include "common/util.h"

/* Only the daemon knows its host's vfio-pci variants (their drivers and
 * modules are the kernel's to name): any name goes, and hostdevd says
 * whether it has it (UnknownDriver lists what it takes).  What cannot be a
 * driver's name at all stops here. */
int check_stub(const char *arg)
{
	if (stub_name_valid(arg))
		return CONTINUE;
	return usage_error("--driver takes a driver's or a module's name (%s, or a vfio-pci "
			   "variant's: letters, digits, '-' and '_', at most %d), not '%s'",
			   stub_targets_text(), STUB_NAME_MAX, arg);
}

void add_stub_param(const struct cmd_run *run, json_object *params)
{
	const char *name = cmd_value(run, "driver"), *stub = stub_target(name);

	/* A stub is sent as the kernel names it, as hostdevd answers it
	 * (xen-pciback as pciback); any other name as given. */
	if (name)
		json_object_object_add(params, "driver", json_object_new_string(stub ? stub : name));
}

int add_device_param(const struct cmd_run *run, json_object *params)
{
	json_object_object_add(params, "device", json_object_new_string(run->argv[0]));
	return CONTINUE;
}

#define PCI_FUNCTION \
	{ .min = 1, .max = 1, .name = "DEVICE", .hint = "a PCI address such as 0000:03:00.0" }

/* --driver only: its short form would read like list's -d, which filters
 * instead of acting.  Absent, hostdevd picks: the device's variant, or
 * vfio-pci. */
static const struct cmd_option detach_options[] = {
	{ .name = "driver", .arg = "STUB", .parse = check_stub },
	{},
};

static int detach_build(const struct cmd_run *run, json_object *params)
{
	add_device_param(run, params);
	add_stub_param(run, params);
	return CONTINUE;
}

const struct cmd_entry cmd_detach_entry = {
	.name = "detach",
	.usage = "DEVICE [--driver STUB]",
	.text = "Move a PCI function from its host driver to a stub:\n"
		"by default its vfio-pci variant driver if modules.alias\n"
		"names one, else vfio-pci.  --driver names the stub:\n"
		"vfio-pci (the plain one), pci-stub, pciback (Xen's;\n"
		"xen-pciback, its module's name, is taken too) or a\n"
		"vfio-pci variant by its driver's or module's name;\n"
		"hostdevd says which names its host takes.\n"
		"hostdevd remembers the host driver for reattach.\n",
	.options = detach_options,
	.args = PCI_FUNCTION,
	.flags = CMD_WAITS_DEVICE,
	.method = "io.hostdevd.Detach",
	.member = "device",
	.member_type = json_type_object,
	.build = detach_build,
	.render = format_detach_result,
};

const struct cmd_entry cmd_reattach_entry = {
	.name = "reattach",
	.usage = "DEVICE",
	.text = "Give a detached PCI function back to its host driver.\n",
	.args = PCI_FUNCTION,
	.flags = CMD_WAITS_DEVICE,
	.method = "io.hostdevd.Reattach",
	.member = "device",
	.member_type = json_type_object,
	.build = add_device_param,
	.render = format_reattach_result,
};

/* What Repair did, in words (the outcome words are the schema's). */
static void format_repair_result(FILE *out, json_object *reply)
{
	json_object *device = json_get_obj(reply, "device");
	const char *id = json_get_str(device, "id"), *state = json_get_str(device, "state");
	const char *driver = json_get_str(reply, "driver"), *outcome = json_get_str(reply, "outcome");
	static const struct {
		const char *outcome, *text;
	} words[] = {
		{ "host", "on its host driver already, nothing written" },
		{ "pool", "on its stub in the detached pool already, nothing written" },
		{ "rebound", "bound to its stub again, back in the detached pool" },
		{ "original", "reattached to its original driver" },
		{ "native", "reattached to the driver the kernel chose (none was recorded)" },
		{ "unbound", "probed, but no driver took it" },
	};
	const char *text = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (streq(outcome, words[i].outcome))
			text = words[i].text;
	fprintf(out, "%s: repaired, now %s on %s: %s\n", id ? id : "?", state ? state : "?",
		driver ? driver : "no driver", text ? text : outcome ? outcome : "?");
}

const struct cmd_entry cmd_repair_entry = {
	.name = "repair",
	.usage = "DEVICE",
	.text = "Put a device in state error back, once what made its\n"
		"operation fail is cleared: hostdevd reads the kernel's\n"
		"view again and returns it to its host driver, or to the\n"
		"detached pool if it came from there.\n",
	.args = { .min = 1, .max = 1, .name = "DEVICE",
		  .hint = "a PCI address such as 0000:03:00.0, or a USB device" },
	.flags = CMD_WAITS_DEVICE,
	.method = "io.hostdevd.Repair",
	.member = "device",
	.member_type = json_type_object,
	.build = add_device_param,
	.render = format_repair_result,
};

static const struct cmd_option reset_options[] = {
	{ .name = "owner", .arg = "DRIVER/DOMAIN", .parse = check_owner },
	{},
};

static int reset_build(const struct cmd_run *run, json_object *params)
{
	const char *owner = cmd_value(run, "owner");

	add_device_param(run, params);
	if (owner)
		json_object_object_add(params, "owner", owner_object(owner));
	return CONTINUE;
}

const struct cmd_entry cmd_reset_entry = {
	.name = "reset",
	.usage = "DEVICE [--owner DRIVER/DOMAIN]",
	.text = "Reset a PCI function through the kernel, which tries\n"
		"the methods it has enabled in order (the reply lists\n"
		"them; the kernel does not say which one worked).  A\n"
		"claimed device is reset only with its owner's --owner.\n",
	.options = reset_options,
	.args = PCI_FUNCTION,
	.flags = CMD_WAITS_DEVICE,
	.method = "io.hostdevd.Reset",
	.member = "methods",
	.member_type = json_type_array,
	.build = reset_build,
	.render = format_reset_result,
};
