/* claim, release, claims: devices held for a guest by an owner, the
 * hypervisor driver and the guest's name (DRIVER/DOMAIN). */
#include "client/cmd.h"
#include "client/format.h"
#include "common/util.h"

#include <ctype.h>
#include <string.h>

static bool uuid_valid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

static int check_uuid(const char *arg)
{
	if (!uuid_valid(arg))
		return usage_error("--uuid wants a UUID such as "
				   "c7a5fdbd-cdaf-9455-926a-d65c16db1809, not '%s'",
				   arg);
	return CONTINUE;
}

/* DRIVER/DOMAIN: split at the first slash, so that the domain may hold
 * one; neither part may be empty. */
int check_owner(const char *arg)
{
	const char *slash = strchr(arg, '/');

	if (!slash || slash == arg || !slash[1])
		return usage_error("--owner is DRIVER/DOMAIN, the hypervisor driver and the "
				   "guest's name (e.g. qemu/vm1), not '%s'",
				   arg);
	return CONTINUE;
}

static void add_owner_parts(json_object *into, const char *owner)
{
	const char *slash = strchr(owner, '/');

	json_object_object_add(into, "driver",
			       json_object_new_string_len(owner, (int)(slash - owner)));
	json_object_object_add(into, "domain", json_object_new_string(slash + 1));
}

json_object *owner_object(const char *owner)
{
	json_object *o = json_object_new_object();

	add_owner_parts(o, owner);
	return o;
}

static void add_owner_param(const struct cmd_run *run, json_object *params)
{
	json_object *owner = owner_object(cmd_value(run, "owner"));
	const char *uuid = cmd_value(run, "uuid");

	if (uuid)
		json_object_object_add(owner, "uuid", json_object_new_string(uuid));
	json_object_object_add(params, "owner", owner);
}

static void add_devices_param(const struct cmd_run *run, json_object *params);

/* DEVICE=unmanaged or DEVICE=managed: that device's own managed (libvirt's
 * per-hostdev attribute), sent as a hostdevs entry; *managed -1 when the
 * argument has no such suffix.  No selector ends so. */
static size_t device_arg(const char *arg, int *managed)
{
	static const char *const suffix[] = { "=unmanaged", "=managed" };
	size_t len = strlen(arg);

	for (int i = 0; i < 2; i++) {
		size_t sl = strlen(suffix[i]);

		if (len > sl && streq(arg + len - sl, suffix[i])) {
			*managed = i;
			return len - sl;
		}
	}
	*managed = -1;
	return len;
}

/* Plain DEVICEs go to `devices`, suffixed ones to `hostdevs`: the daemon
 * claims `devices` first, so the request's order is kept only when the
 * suffixed ones come last; a mixed command line sends all as hostdevs. */
static void add_claim_devices_param(const struct cmd_run *run, json_object *params)
{
	bool any = false;
	int managed;
	json_object *hostdevs;

	for (int i = 0; i < run->argc; i++) {
		device_arg(run->argv[i], &managed);
		any |= managed >= 0;
	}
	if (!any) {
		add_devices_param(run, params);
		return;
	}
	hostdevs = json_object_new_array();
	for (int i = 0; i < run->argc; i++) {
		json_object *h = json_object_new_object();
		size_t len = device_arg(run->argv[i], &managed);

		json_object_object_add(h, "device",
				       json_object_new_string_len(run->argv[i], (int)len));
		if (managed >= 0)
			json_object_object_add(h, "managed", json_object_new_boolean(managed));
		json_object_array_add(hostdevs, h);
	}
	json_object_object_add(params, "hostdevs", hostdevs);
}

static void add_devices_param(const struct cmd_run *run, json_object *params)
{
	json_object *devices = json_object_new_array();

	for (int i = 0; i < run->argc; i++)
		json_object_array_add(devices, json_object_new_string(run->argv[i]));
	json_object_object_add(params, "devices", devices);
}

#define OWNER_OPTION                                                                 \
	{ .name = "owner", .arg = "DRIVER/DOMAIN", .parse = check_owner,              \
	  .flags = CMD_OPT_REQUIRED, .example = "qemu/vm1" }

/* Long options only, as for detach: a claim should read as what it does.
 * run takes the same (cmd-run.c). */
const struct cmd_option cmd_claim_options[] = {
	OWNER_OPTION,
	{ .name = "uuid", .arg = "UUID", .parse = check_uuid },
	{ .name = "unmanaged" },
	{ .name = "whole-group" },
	{ .name = "driver", .arg = "STUB", .parse = check_stub },
	{ .name = "unbind-interfaces" },
	{},
};

int cmd_claim_build(const struct cmd_run *run, json_object *params)
{
	add_owner_param(run, params);
	add_claim_devices_param(run, params);
	/* Absent, hostdevd applies its defaults: managed, no whole group, the
	 * device's variant or vfio-pci. */
	if (cmd_has(run, "unmanaged"))
		json_object_object_add(params, "managed", json_object_new_boolean(false));
	if (cmd_has(run, "whole-group"))
		json_object_object_add(params, "whole_group", json_object_new_boolean(true));
	add_stub_param(run, params);
	if (cmd_has(run, "unbind-interfaces"))
		json_object_object_add(params, "unbind_interfaces", json_object_new_boolean(true));
	return CONTINUE;
}

const struct cmd_entry cmd_claim_entry = {
	.name = "claim",
	.usage = "--owner DRIVER/DOMAIN [--uuid UUID] [--unmanaged] [--whole-group]\n"
		 "[--driver STUB] [--unbind-interfaces] DEVICE[=unmanaged|=managed]...",
	.text = "Claim PCI functions and USB devices for a guest, all\n"
		"or nothing.  PCI, managed (the default): each is\n"
		"detached to STUB (as for detach: by default its\n"
		"vfio-pci variant, else vfio-pci) and goes back\n"
		"to its host driver at release.  --unmanaged: each must\n"
		"already be on a stub, and stays there.  DEVICE=unmanaged\n"
		"or DEVICE=managed sets it for that device alone (a\n"
		"domain mixing both, still all or nothing).  A device\n"
		"already in the detached pool goes back to the pool at\n"
		"release, managed or not.  Every other\n"
		"member of a device's IOMMU group must be on a stub,\n"
		"unbound, a bridge or claimed by the same owner;\n"
		"--whole-group claims every endpoint of the group too.\n"
		"USB: the claim is recorded; --unbind-interfaces also\n"
		"unbinds its interface drivers until release.\n",
	.options = cmd_claim_options,
	.args = { .min = 1, .max = -1, .name = "DEVICE",
		  .hint = "a PCI address such as 0000:03:00.0, or a USB device such as 1-2.3" },
	.flags = CMD_WAITS_OWNER,
	.method = "io.hostdevd.Claim",
	.member = "claims",
	.member_type = json_type_array,
	.build = cmd_claim_build,
	.render = format_claim_result,
};

static const struct cmd_option release_options[] = {
	OWNER_OPTION,
	{ .name = "uuid", .arg = "UUID", .parse = check_uuid },
	{},
};

static int release_build(const struct cmd_run *run, json_object *params)
{
	add_owner_param(run, params);
	/* No DEVICE: everything the owner holds, which the daemon knows. */
	if (run->argc > 0)
		add_devices_param(run, params);
	return CONTINUE;
}

const struct cmd_entry cmd_release_entry = {
	.name = "release",
	.usage = "--owner DRIVER/DOMAIN [--uuid UUID] [DEVICE...]",
	.text = "Release the owner's claims on DEVICEs (all of them when\n"
		"none is named): managed devices go back to their host\n"
		"drivers, unmanaged ones and those claimed from the\n"
		"detached pool stay on their stubs, unbound\n"
		"USB interface drivers are bound again.\n",
	.options = release_options,
	.args = { .max = -1, .name = "DEVICE" },
	.flags = CMD_WAITS_OWNER,
	.method = "io.hostdevd.Release",
	.member = "released",
	.member_type = json_type_array,
	.build = release_build,
	.render = format_release_result,
};

/* Filters: --driver and --domain are the ListClaims parameters of their
 * names; --owner is both at once. */
static const struct cmd_option claims_options[] = {
	{ .name = "owner", .arg = "DRIVER/DOMAIN", .parse = check_owner },
	{ .name = "driver", .arg = "DRIVER", .param = "driver" },
	{ .name = "domain", .arg = "NAME", .param = "domain" },
	{},
};

static int claims_build(const struct cmd_run *run, json_object *params)
{
	const char *owner = cmd_value(run, "owner");

	if (!owner)
		return CONTINUE;
	/* Mixed, one would silently override the other. */
	if (cmd_has(run, "driver") || cmd_has(run, "domain"))
		return usage_error("give either --owner DRIVER/DOMAIN or --driver and --domain, "
				   "not both");
	add_owner_parts(params, owner);
	return CONTINUE;
}

const struct cmd_entry cmd_claims_entry = {
	.name = "claims",
	.usage = "[--owner DRIVER/DOMAIN | --driver DRIVER --domain NAME]",
	.text = "List claims: device, owner, managed, pid, uid, since,\n"
		"lease, and whether the claimer was given the VFIO nodes.\n",
	.options = claims_options,
	.method = "io.hostdevd.ListClaims",
	.member = "claims",
	.member_type = json_type_array,
	.print_member = true,
	.build = claims_build,
	.render = format_claim_table,
	.none = "No device is claimed.",
	.none_filtered = "No claim matches the filters.",
};
