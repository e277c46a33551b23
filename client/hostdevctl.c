/* hostdevctl: the command-line face of hostdevd.
 *
 * Exit codes are part of the interface (SPEC): scripts rely on them. */
#include "policy/policy.h"
#include "client/cmd.h"
#include "client/format.h"
#include "client/hdclient.h"
#include "common/stub.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/* Detach, Reattach, Reset, Claim and Release wait for the kernel: up to the
 * daemon's step timeout (10 s by default) for each of several steps, and a
 * rollback after a failure.  Their answers are worth waiting for longer than
 * a listing. */
#define OPERATION_TIMEOUT_MS 120000

struct command {
	const char *name;
	int (*run)(struct ctl *ctl, int argc, char **argv);
};

static const char usage_text[] =
	"Usage: hostdevctl [OPTIONS] COMMAND [ARGS]\n"
	"\n"
	"Ask hostdevd, the host device daemon, which PCI and USB devices this machine\n"
	"has, which driver holds each, and what changes.\n"
	"\n"
	"Commands:\n"
	"  list [--bus pci|usb] [--driver NAME] [--group N] [--state STATE]\n"
	"                       List devices sorted by bus and id; every filter given\n"
	"                       must match.  --group is the IOMMU group.\n"
	"  show DEVICE          Every field of one device.\n"
	"  watch [-n|--count N] Print device events as they happen, one per line; stop\n"
	"                       after N events (a resync counts as one).  Ctrl-C stops.\n"
	"  status               Version, uptime, device counts, event counters, clients.\n"
	"  policy explain DEVICE\n"
	"                       Which rule of hostdevd's policy decides a claim of\n"
	"                       DEVICE, and why each rule before it did not fit.\n"
	"  policy check PATH    Check a policy file (or a directory holding policy.conf\n"
	"                       and policy.d/) without hostdevd: its rules, or the\n"
	"                       file, line and problem (exit 1).\n"
	"  policy reload        Make hostdevd read its policy again (as SIGHUP does;\n"
	"                       needs 'admin').  A bad file changes nothing (exit 1,\n"
	"                       file, line and problem); claims the new policy would\n"
	"                       refuse are kept and listed.\n"
	"  detach DEVICE [--driver STUB]\n"
	"                       Move a PCI function from its host driver to a stub:\n"
	"                       vfio-pci (the default), pci-stub or xen-pciback.\n"
	"                       hostdevd remembers the host driver for reattach.\n"
	"  reattach DEVICE      Give a detached PCI function back to its host driver.\n"
	"  reset DEVICE [--owner DRIVER/DOMAIN]\n"
	"                       Reset a PCI function through the kernel, which tries\n"
	"                       the methods it has enabled in order (the reply lists\n"
	"                       them; the kernel does not say which one worked).  A\n"
	"                       claimed device is reset only with its owner's --owner.\n"
	"  claim --owner DRIVER/DOMAIN [--uuid UUID] [--unmanaged] [--whole-group]\n"
	"        [--driver STUB] [--unbind-interfaces] DEVICE...\n"
	"                       Claim PCI functions and USB devices for a guest, all\n"
	"                       or nothing.  PCI, managed (the default): each is\n"
	"                       detached to STUB (vfio-pci by default) and goes back\n"
	"                       to its host driver at release.  --unmanaged: each must\n"
	"                       already be on a stub, and stays there.  Every other\n"
	"                       member of a device's IOMMU group must be on a stub,\n"
	"                       unbound, a bridge or claimed by the same owner;\n"
	"                       --whole-group claims every endpoint of the group too.\n"
	"                       USB: the claim is recorded; --unbind-interfaces also\n"
	"                       unbinds its interface drivers until release.\n"
	"  release --owner DRIVER/DOMAIN [--uuid UUID] [DEVICE...]\n"
	"                       Release the owner's claims on DEVICEs (all of them when\n"
	"                       none is named): managed devices go back to their host\n"
	"                       drivers, unmanaged ones stay on their stubs, unbound\n"
	"                       USB interface drivers are bound again.\n"
	"  claims [--owner DRIVER/DOMAIN | --driver DRIVER --domain NAME]\n"
	"                       List claims: device, owner, managed, pid, uid, since.\n"
	"\n"
	"An owner is the hypervisor driver and the guest's name, e.g. qemu/vm1; the\n"
	"guest's UUID is recorded when given.  claim and release need hostdevd's\n"
	"'claim' and 'release' permissions (root by default).\n"
	"\n"
	"DEVICE is a PCI address (0000:03:00.0), a USB port path (1-2.3, usb1 for a\n"
	"root hub), id:VVVV:PPPP[:SERIAL] (USB vendor, product, serial) or\n"
	"usb:BUS.DEV (USB bus and device number); detach, reattach and reset take\n"
	"PCI functions only; detach and reattach need hostdevd's 'detach' permission,\n"
	"reset its 'reset' permission (root by default).\n"
	"STATE is host, detaching, detached, claimed, releasing, missing, refused or\n"
	"error.\n"
	"\n"
	"Interrupting detach, reattach, reset, claim or release, or giving up waiting,\n"
	"does not stop hostdevd: 'hostdevctl show DEVICE' tells where the device\n"
	"ended, 'hostdevctl claims' what is claimed.\n"
	"\n"
	"Options (before or after the command):\n"
	"  -s, --socket PATH    hostdevd's socket; default $HOSTDEVD_SOCKET, else\n"
	"                       " HDCLIENT_DEFAULT_SOCKET "\n"
	"  -j, --json           print hostdevd's reply as JSON (watch: one object per\n"
	"                       line, the first holding the starting sequence number)\n"
	"  -t, --timeout SECS   give up waiting for a reply after SECS seconds\n"
	"                       (default 30; detach, reattach, reset, claim and release\n"
	"                       120, as they wait for the kernel; watch waits for\n"
	"                       events forever)\n"
	"  -h, --help           show this help\n"
	"  -V, --version        show the version\n"
	"\n"
	"Exit status:\n"
	"  0  done\n"
	"  1  hostdevd refused or the request failed (its error is printed)\n"
	"  2  usage error\n"
	"  3  hostdevd could not be reached: not running, no permission on the socket,\n"
	"     or it stopped answering\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("hostdevctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'hostdevctl --help' for more information.\n", stderr);
	return EXIT_USAGE;
}

static void put_jsonp(json_object **obj)
{
	json_object_put(*obj);
}

/* ---- options shared by every command ---- */

#define COMMON_SHORTOPTS ":s:jt:hV"
#define COMMON_LONGOPTS                                                                       \
	{ "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },         \
		{ "timeout", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' }, \
		{ "version", no_argument, NULL, 'V' }

static int parse_timeout(struct ctl *ctl, const char *arg)
{
	char *end;
	double secs;

	errno = 0;
	secs = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(secs) || secs <= 0 || secs > 86400)
		return usage_error("--timeout wants a number of seconds up to 86400, not '%s'",
				   arg);
	ctl->timeout_ms = (int)ceil(secs * 1000);
	ctl->timeout_given = true;
	return CONTINUE;
}

/* getopt_long with ':' first reports problems as '?' or ':' and leaves the
 * wording to us, so that every usage error ends with the same hint. */
static int bad_option(int opt, char **argv)
{
	const char *arg = argv[optind - 1];

	if (opt == ':')
		return usage_error("option '%s' needs an argument", arg);
	if (optopt)
		return usage_error("unknown option '-%c'", optopt);
	return usage_error("unknown option '%s'", arg);
}

static int common_option(struct ctl *ctl, int opt, char **argv)
{
	switch (opt) {
	case 's':
		ctl->socket_path = optarg;
		return CONTINUE;
	case 'j':
		ctl->json = true;
		return CONTINUE;
	case 't':
		return parse_timeout(ctl, optarg);
	case 'h':
		fputs(usage_text, stdout);
		return EXIT_DONE;
	case 'V':
		printf("hostdevctl %s\n", HOSTDEVD_VERSION);
		return EXIT_DONE;
	default:
		return bad_option(opt, argv);
	}
}

static int no_arguments(const char *command, int argc, char **argv)
{
	if (optind < argc)
		return usage_error("'%s' takes no argument '%s'", command, argv[optind]);
	return CONTINUE;
}

static int terminal_width(const struct ctl *ctl)
{
	struct winsize ws;

	if (!ctl->tty || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0)
		return 0;
	return ws.ws_col;
}

/* ---- list ---- */

static const char *const state_names[] = {
	"host", "detaching", "detached", "claimed", "releasing", "missing", "refused", "error",
};

static bool known_state(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(state_names); i++)
		if (streq(s, state_names[i]))
			return true;
	return false;
}

static int parse_group(const char *arg, json_object *filters)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 0 || v > INT32_MAX)
		return usage_error("--group wants an IOMMU group number, not '%s'", arg);
	json_object_object_add(filters, "iommu_group", json_object_new_int64(v));
	return CONTINUE;
}

static int list_option(struct ctl *ctl, int opt, char **argv, json_object *filters)
{
	switch (opt) {
	case 'b':
		if (!streq(optarg, "pci") && !streq(optarg, "usb"))
			return usage_error("--bus is pci or usb, not '%s'", optarg);
		json_object_object_add(filters, "bus", json_object_new_string(optarg));
		return CONTINUE;
	case 'd':
		json_object_object_add(filters, "driver", json_object_new_string(optarg));
		return CONTINUE;
	case 'g':
		return parse_group(optarg, filters);
	case 'S':
		if (!known_state(optarg))
			return usage_error("--state '%s' is not a device state (see --help)",
					   optarg);
		json_object_object_add(filters, "state", json_object_new_string(optarg));
		return CONTINUE;
	default:
		return common_option(ctl, opt, argv);
	}
}

static int print_devices(const struct ctl *ctl, json_object *devices, bool filtered)
{
	if (ctl->json)
		format_json(stdout, devices, ctl->tty);
	else if (json_object_array_length(devices) == 0)
		puts(filtered ? "No device matches the filters." : "No devices.");
	else
		format_device_table(stdout, devices, terminal_width(ctl));
	return finish_output();
}

static int cmd_list(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_LONGOPTS,
		{ "bus", required_argument, NULL, 'b' },
		{ "driver", required_argument, NULL, 'd' },
		{ "group", required_argument, NULL, 'g' },
		{ "state", required_argument, NULL, 'S' },
		{},
	};
	_cleanup_(put_jsonp) json_object *filters = json_object_new_object();
	json_object *devices;
	int opt, r;

	while ((opt = getopt_long(argc, argv, COMMON_SHORTOPTS "b:d:g:S:", opts, NULL)) != -1)
		if ((r = list_option(ctl, opt, argv, filters)) != CONTINUE)
			return r;
	if ((r = no_arguments("list", argc, argv)) != CONTINUE)
		return r;
	r = ctl_call(ctl, "io.hostdevd.ListDevices", filters, "devices", json_type_array,
		     &devices);
	if (r != CONTINUE)
		return r;
	return print_devices(ctl, devices, json_object_object_length(filters) > 0);
}

/* ---- show ---- */

static int cmd_show(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_LONGOPTS, {} };
	_cleanup_(put_jsonp) json_object *params = json_object_new_object();
	json_object *device;
	int opt, r;

	while ((opt = getopt_long(argc, argv, COMMON_SHORTOPTS, opts, NULL)) != -1)
		if ((r = common_option(ctl, opt, argv)) != CONTINUE)
			return r;
	if (optind >= argc)
		return usage_error("'show' needs a DEVICE (a PCI address, USB port path, "
				   "id:VVVV:PPPP or usb:BUS.DEV)");
	if (optind + 1 < argc)
		return usage_error("'show' takes one DEVICE, not also '%s'", argv[optind + 1]);
	json_object_object_add(params, "device", json_object_new_string(argv[optind]));
	r = ctl_call(ctl, "io.hostdevd.GetDevice", params, "device", json_type_object, &device);
	if (r != CONTINUE)
		return r;
	if (ctl->json)
		format_json(stdout, device, ctl->tty);
	else
		format_device_show(stdout, device);
	return finish_output();
}

/* ---- detach, reattach ---- */

static int parse_stub(const char *arg, const char **stub)
{
	if (stub_is_target(arg)) {
		*stub = arg;
		return CONTINUE;
	}
	return usage_error("--driver is %s, not '%s'", stub_targets_text(), arg);
}

static int one_device(const char *command, int argc, char **argv, json_object *params)
{
	if (optind >= argc)
		return usage_error("'%s' needs a DEVICE (a PCI address such as 0000:03:00.0)",
				   command);
	if (optind + 1 < argc)
		return usage_error("'%s' takes one DEVICE, not also '%s'", command,
				   argv[optind + 1]);
	json_object_object_add(params, "device", json_object_new_string(argv[optind]));
	return CONTINUE;
}

/* Runs Detach or Reattach with the long timeout and prints its reply. */
static int run_operation(struct ctl *ctl, const char *method, json_object *params,
			 void (*print)(FILE *, json_object *))
{
	json_object *reply, *device;
	int r;

	if (!ctl->timeout_given)
		ctl->timeout_ms = OPERATION_TIMEOUT_MS;
	ctl->operation_device = json_object_get_string(json_object_object_get(params, "device"));
	r = ctl_call(ctl, method, params, NULL, json_type_object, &reply);
	if (r == CONTINUE)
		r = reply_member(method, reply, "device", json_type_object, &device);
	if (r != CONTINUE)
		return r;
	if (ctl->json)
		format_json(stdout, reply, ctl->tty);
	else
		print(stdout, reply);
	return finish_output();
}

static int cmd_detach(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_LONGOPTS,
		{ "driver", required_argument, NULL, 'd' },
		{},
	};
	_cleanup_(put_jsonp) json_object *params = json_object_new_object();
	const char *stub = NULL;
	int opt, r;

	/* --driver only: its short form would read like list's -d, which
	 * filters instead of acting. */
	while ((opt = getopt_long(argc, argv, COMMON_SHORTOPTS, opts, NULL)) != -1) {
		r = opt == 'd' ? parse_stub(optarg, &stub) : common_option(ctl, opt, argv);
		if (r != CONTINUE)
			return r;
	}
	if ((r = one_device("detach", argc, argv, params)) != CONTINUE)
		return r;
	/* Absent, hostdevd picks its default stub. */
	if (stub)
		json_object_object_add(params, "driver", json_object_new_string(stub));
	return run_operation(ctl, "io.hostdevd.Detach", params, format_detach_result);
}

static int cmd_reattach(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_LONGOPTS, {} };
	_cleanup_(put_jsonp) json_object *params = json_object_new_object();
	int opt, r;

	while ((opt = getopt_long(argc, argv, COMMON_SHORTOPTS, opts, NULL)) != -1)
		if ((r = common_option(ctl, opt, argv)) != CONTINUE)
			return r;
	if ((r = one_device("reattach", argc, argv, params)) != CONTINUE)
		return r;
	return run_operation(ctl, "io.hostdevd.Reattach", params, format_reattach_result);
}

/* ---- claim, release, claims ---- */

struct claim_opts {
	const char *owner; /* DRIVER/DOMAIN as given */
	const char *uuid;
	const char *stub;
	bool unmanaged, whole_group, unbind_interfaces;
};

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

static int parse_uuid(const char *arg, const char **uuid)
{
	if (!uuid_valid(arg))
		return usage_error("--uuid wants a UUID such as "
				   "c7a5fdbd-cdaf-9455-926a-d65c16db1809, not '%s'",
				   arg);
	*uuid = arg;
	return CONTINUE;
}

/* DRIVER/DOMAIN: split at the first slash, so that the domain may hold
 * one; neither part may be empty. */
static int split_owner(const char *arg, json_object *into)
{
	const char *slash = strchr(arg, '/');

	if (!slash || slash == arg || !slash[1])
		return usage_error("--owner is DRIVER/DOMAIN, the hypervisor driver and the "
				   "guest's name (e.g. qemu/vm1), not '%s'",
				   arg);
	json_object_object_add(into, "driver",
			       json_object_new_string_len(arg, (int)(slash - arg)));
	json_object_object_add(into, "domain", json_object_new_string(slash + 1));
	return CONTINUE;
}

/* Adds the Owner the options name to params. */
static int add_owner(const char *command, const struct claim_opts *o, json_object *params)
{
	json_object *owner;
	int r;

	if (!o->owner)
		return usage_error("'%s' needs --owner DRIVER/DOMAIN (e.g. qemu/vm1)", command);
	owner = json_object_new_object();
	json_object_object_add(params, "owner", owner);
	if ((r = split_owner(o->owner, owner)) != CONTINUE)
		return r;
	if (o->uuid)
		json_object_object_add(owner, "uuid", json_object_new_string(o->uuid));
	return CONTINUE;
}

static int claim_option(struct ctl *ctl, int opt, char **argv, struct claim_opts *o)
{
	switch (opt) {
	case 'o':
		o->owner = optarg;
		return CONTINUE;
	case 'u':
		return parse_uuid(optarg, &o->uuid);
	case 'U':
		o->unmanaged = true;
		return CONTINUE;
	case 'W':
		o->whole_group = true;
		return CONTINUE;
	case 'I':
		o->unbind_interfaces = true;
		return CONTINUE;
	case 'd':
		return parse_stub(optarg, &o->stub);
	default:
		return common_option(ctl, opt, argv);
	}
}

/* The DEVICE arguments as the `devices` parameter. */
static void add_devices(int argc, char **argv, json_object *params)
{
	json_object *devices = json_object_new_array();

	for (int i = optind; i < argc; i++)
		json_object_array_add(devices, json_object_new_string(argv[i]));
	json_object_object_add(params, "devices", devices);
}

/* Runs Claim or Release with the long timeout; the reply's `member` must be
 * an array. */
static int run_owner_operation(struct ctl *ctl, const char *method, json_object *params,
			       const char *owner, const char *member,
			       void (*print)(FILE *, json_object *))
{
	json_object *reply, *array;
	int r;

	if (!ctl->timeout_given)
		ctl->timeout_ms = OPERATION_TIMEOUT_MS;
	ctl->operation_owner = owner;
	r = ctl_call(ctl, method, params, NULL, json_type_object, &reply);
	if (r == CONTINUE)
		r = reply_member(method, reply, member, json_type_array, &array);
	if (r != CONTINUE)
		return r;
	if (ctl->json)
		format_json(stdout, reply, ctl->tty);
	else
		print(stdout, reply);
	return finish_output();
}

static int cmd_claim(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_LONGOPTS,
		{ "owner", required_argument, NULL, 'o' },
		{ "uuid", required_argument, NULL, 'u' },
		{ "unmanaged", no_argument, NULL, 'U' },
		{ "whole-group", no_argument, NULL, 'W' },
		{ "driver", required_argument, NULL, 'd' },
		{ "unbind-interfaces", no_argument, NULL, 'I' },
		{},
	};
	_cleanup_(put_jsonp) json_object *params = json_object_new_object();
	struct claim_opts o = {};
	int opt, r;

	/* Long options only, as for detach: a claim should read as what it does. */
	while ((opt = getopt_long(argc, argv, COMMON_SHORTOPTS, opts, NULL)) != -1)
		if ((r = claim_option(ctl, opt, argv, &o)) != CONTINUE)
			return r;
	if ((r = add_owner("claim", &o, params)) != CONTINUE)
		return r;
	if (optind >= argc)
		return usage_error("'claim' needs at least one DEVICE (a PCI address such as "
				   "0000:03:00.0, or a USB device such as 1-2.3)");
	add_devices(argc, argv, params);
	/* Absent, hostdevd applies its defaults: managed, no whole group, its
	 * default stub. */
	if (o.unmanaged)
		json_object_object_add(params, "managed", json_object_new_boolean(false));
	if (o.whole_group)
		json_object_object_add(params, "whole_group", json_object_new_boolean(true));
	if (o.stub)
		json_object_object_add(params, "driver", json_object_new_string(o.stub));
	if (o.unbind_interfaces)
		json_object_object_add(params, "unbind_interfaces", json_object_new_boolean(true));
	return run_owner_operation(ctl, "io.hostdevd.Claim", params, o.owner, "claims",
				   format_claim_result);
}

static int cmd_release(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_LONGOPTS,
		{ "owner", required_argument, NULL, 'o' },
		{ "uuid", required_argument, NULL, 'u' },
		{},
	};
	_cleanup_(put_jsonp) json_object *params = json_object_new_object();
	struct claim_opts o = {};
	int opt, r;

	while ((opt = getopt_long(argc, argv, COMMON_SHORTOPTS, opts, NULL)) != -1)
		if ((r = claim_option(ctl, opt, argv, &o)) != CONTINUE)
			return r;
	if ((r = add_owner("release", &o, params)) != CONTINUE)
		return r;
	/* No DEVICE: everything the owner holds, which the daemon knows. */
	if (optind < argc)
		add_devices(argc, argv, params);
	return run_owner_operation(ctl, "io.hostdevd.Release", params, o.owner, "released",
				   format_release_result);
}

static int claims_option(struct ctl *ctl, int opt, char **argv, json_object *filters,
			 const char **owner)
{
	switch (opt) {
	case 'o':
		*owner = optarg;
		return split_owner(optarg, filters);
	case 'd':
		json_object_object_add(filters, "driver", json_object_new_string(optarg));
		return CONTINUE;
	case 'D':
		json_object_object_add(filters, "domain", json_object_new_string(optarg));
		return CONTINUE;
	default:
		return common_option(ctl, opt, argv);
	}
}

static int print_claims(const struct ctl *ctl, json_object *claims, bool filtered)
{
	if (ctl->json)
		format_json(stdout, claims, ctl->tty);
	else if (json_object_array_length(claims) == 0)
		puts(filtered ? "No claim matches the filters." : "No device is claimed.");
	else
		format_claim_table(stdout, claims);
	return finish_output();
}

static int cmd_claims(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_LONGOPTS,
		{ "owner", required_argument, NULL, 'o' },
		{ "driver", required_argument, NULL, 'd' },
		{ "domain", required_argument, NULL, 'D' },
		{},
	};
	_cleanup_(put_jsonp) json_object *filters = json_object_new_object();
	const char *owner = NULL;
	json_object *claims;
	bool by_part = false;
	int opt, r;

	while ((opt = getopt_long(argc, argv, COMMON_SHORTOPTS, opts, NULL)) != -1) {
		by_part |= opt == 'd' || opt == 'D';
		if ((r = claims_option(ctl, opt, argv, filters, &owner)) != CONTINUE)
			return r;
	}
	/* --owner is --driver and --domain at once; mixing them would let one
	 * silently override the other. */
	if (owner && by_part)
		return usage_error("give either --owner DRIVER/DOMAIN or --driver and --domain, "
				   "not both");
	if ((r = no_arguments("claims", argc, argv)) != CONTINUE)
		return r;
	r = ctl_call(ctl, "io.hostdevd.ListClaims", filters, "claims", json_type_array, &claims);
	if (r != CONTINUE)
		return r;
	return print_claims(ctl, claims, json_object_object_length(filters) > 0);
}

/* ---- status ---- */

static int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_LONGOPTS, {} };
	json_object *status;
	int opt, r;

	while ((opt = getopt_long(argc, argv, COMMON_SHORTOPTS, opts, NULL)) != -1)
		if ((r = common_option(ctl, opt, argv)) != CONTINUE)
			return r;
	if ((r = no_arguments("status", argc, argv)) != CONTINUE)
		return r;
	r = ctl_call(ctl, "io.hostdevd.GetStatus", NULL, NULL, json_type_object, &status);
	if (r != CONTINUE)
		return r;
	if (ctl->json)
		format_json(stdout, status, ctl->tty);
	else
		format_status(stdout, status);
	return finish_output();
}

/* ---- policy ---- */

/* Local: a file an administrator is about to install, before any daemon
 * reads it. */
static int policy_check(const char *path)
{
	char err[1024];
	struct policy *p = policy_load(path, err, sizeof(err));

	if (!p) {
		fprintf(stderr, "hostdevctl: %s\n", err);
		return EXIT_FAILED;
	}
	printf("%s: valid\n", path);
	policy_describe(p, stdout);
	policy_free(p);
	return finish_output();
}

static int policy_explain_device(struct ctl *ctl, const char *device)
{
	_cleanup_(put_jsonp) json_object *params = json_object_new_object();
	json_object *reply;
	int r;

	json_object_object_add(params, "device", json_object_new_string(device));
	r = ctl_call(ctl, "io.hostdevd.CheckPolicy", params, NULL, json_type_object, &reply);
	if (r != CONTINUE)
		return r;
	if (ctl->json)
		format_json(stdout, reply, ctl->tty);
	else
		format_policy_explain(stdout, reply);
	return finish_output();
}

static int policy_reload(struct ctl *ctl)
{
	json_object *reply;
	int r = ctl_call(ctl, "io.hostdevd.ReloadPolicy", NULL, NULL, json_type_object, &reply);

	if (r != CONTINUE)
		return r;
	if (ctl->json)
		format_json(stdout, reply, ctl->tty);
	else
		format_policy_reload(stdout, reply);
	return finish_output();
}

static int cmd_policy(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_LONGOPTS, {} };
	const char *sub;
	int opt, r;

	while ((opt = getopt_long(argc, argv, COMMON_SHORTOPTS, opts, NULL)) != -1)
		if ((r = common_option(ctl, opt, argv)) != CONTINUE)
			return r;
	if (optind >= argc)
		return usage_error("'policy' needs 'explain DEVICE', 'check PATH' or 'reload'");
	sub = argv[optind];
	if (!streq(sub, "explain") && !streq(sub, "check") && !streq(sub, "reload"))
		return usage_error("'policy %s' is not a command: 'explain DEVICE', 'check PATH' "
				   "or 'reload'",
				   sub);
	if (streq(sub, "reload"))
		return optind + 1 == argc ? policy_reload(ctl)
					  : usage_error("'policy reload' takes no argument");
	if (optind + 2 != argc)
		return usage_error("'policy %s' takes one %s", sub,
				   streq(sub, "check") ? "PATH" : "DEVICE");
	return streq(sub, "check") ? policy_check(argv[optind + 1])
				   : policy_explain_device(ctl, argv[optind + 1]);
}

/* ---- reset ---- */

static int cmd_reset(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_LONGOPTS,
		{ "owner", required_argument, NULL, 'o' },
		{},
	};
	_cleanup_(put_jsonp) json_object *params = json_object_new_object();
	const char *owner = NULL;
	json_object *reply, *methods, *o;
	int opt, r;

	while ((opt = getopt_long(argc, argv, COMMON_SHORTOPTS, opts, NULL)) != -1) {
		if (opt == 'o') {
			owner = optarg;
			continue;
		}
		if ((r = common_option(ctl, opt, argv)) != CONTINUE)
			return r;
	}
	if ((r = one_device("reset", argc, argv, params)) != CONTINUE)
		return r;
	if (owner) {
		o = json_object_new_object();
		json_object_object_add(params, "owner", o);
		if ((r = split_owner(owner, o)) != CONTINUE)
			return r;
	}
	/* A reset waits for the kernel like the other operations. */
	if (!ctl->timeout_given)
		ctl->timeout_ms = OPERATION_TIMEOUT_MS;
	ctl->operation_device = argv[optind];
	r = ctl_call(ctl, "io.hostdevd.Reset", params, NULL, json_type_object, &reply);
	if (r == CONTINUE)
		r = reply_member("io.hostdevd.Reset", reply, "methods", json_type_array, &methods);
	if (r != CONTINUE)
		return r;
	if (ctl->json)
		format_json(stdout, reply, ctl->tty);
	else
		format_reset_result(stdout, reply);
	return finish_output();
}

/* ---- watch ---- */

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t watch_fd = -1;

/* Shutting the socket down wakes a poll() that the signal might have just
 * missed (it arrived between our flag check and the poll), so Ctrl-C always
 * ends the wait. */
static void on_stop_signal(int sig)
{
	stop_requested = 1;
	if (watch_fd >= 0)
		shutdown(watch_fd, SHUT_RDWR);
}

static void catch_stop_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal, .sa_flags = SA_RESETHAND };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

struct watch {
	struct ctl *ctl;
	long long count;    /* stop after this many events; 0: never */
	long long seen;
	int64_t last_seq;
};

static int parse_count(const char *arg, long long *count)
{
	char *end;

	errno = 0;
	*count = strtoll(arg, &end, 10);
	if (errno || end == arg || *end || *count < 1)
		return usage_error("--count wants a positive number of events, not '%s'", arg);
	return CONTINUE;
}

static void check_sequence(struct watch *w, int64_t seq)
{
	if (seq == w->last_seq + 1)
		return;
	if (seq > w->last_seq + 1)
		complain("missed %" PRId64 " event(s), %" PRId64 " to %" PRId64
			 "; run 'hostdevctl list' for the current table",
			 seq - w->last_seq - 1, w->last_seq + 1, seq - 1);
	else
		complain("event sequence went back from %" PRId64 " to %" PRId64
			 "; run 'hostdevctl list' for the current table",
			 w->last_seq, seq);
}

/* Prints one reply; returns CONTINUE to read on, or an exit code. */
static int watch_print(struct watch *w, json_object *reply, bool first)
{
	json_object *seq_obj;
	int64_t seq;

	if (!json_object_object_get_ex(reply, "sequence", &seq_obj) ||
	    !json_object_is_type(seq_obj, json_type_int)) {
		complain("hostdevd's reply to io.hostdevd.Watch has no sequence number");
		return EXIT_FAILED;
	}
	seq = json_object_get_int64(seq_obj);
	if (!first)
		check_sequence(w, seq);
	w->last_seq = seq;
	if (w->ctl->json)
		format_json(stdout, reply, false);
	else if (!first)
		format_watch_event(stdout, reply);
	if (fflush(stdout) != 0 || ferror(stdout))
		return finish_output();
	if (!first && w->count && ++w->seen >= w->count)
		return EXIT_DONE;
	return CONTINUE;
}

static int watch_next(struct watch *w, bool first)
{
	struct hdclient *c = w->ctl->client;
	json_object *reply;
	const char *error;
	bool continues;
	int r;

	do {
		if (stop_requested)
			return EXIT_DONE;
		r = hdclient_next(c, &reply, &error, &continues);
	} while (r == -EINTR);
	if (r < 0)
		return stop_requested ? EXIT_DONE : report_transport_failure(w->ctl);
	if (error)
		return report_varlink_error("io.hostdevd.Watch", error, reply);
	r = watch_print(w, reply, first);
	if (r == CONTINUE && !continues) {
		complain("hostdevd ended the event stream (is it shutting down?)");
		return EXIT_UNREACHABLE;
	}
	return r;
}

static int watch_run(struct watch *w)
{
	struct hdclient *c = w->ctl->client;
	int r;

	watch_fd = hdclient_fd(c);
	if (hdclient_call_more(c, "io.hostdevd.Watch", NULL) < 0)
		return stop_requested ? EXIT_DONE : report_transport_failure(w->ctl);
	/* The first reply comes at once; only events may take forever. */
	r = watch_next(w, true);
	hdclient_set_timeout(c, -1);
	while (r == CONTINUE)
		r = watch_next(w, false);
	return r;
}

static int cmd_watch(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_LONGOPTS,
		{ "count", required_argument, NULL, 'n' },
		{},
	};
	struct watch w = { .ctl = ctl };
	int opt, r;

	while ((opt = getopt_long(argc, argv, COMMON_SHORTOPTS "n:", opts, NULL)) != -1) {
		r = opt == 'n' ? parse_count(optarg, &w.count) : common_option(ctl, opt, argv);
		if (r != CONTINUE)
			return r;
	}
	if ((r = no_arguments("watch", argc, argv)) != CONTINUE)
		return r;
	catch_stop_signals();
	if ((r = ctl_connect(ctl)) != CONTINUE)
		return r;
	return watch_run(&w);
}

/* ---- main ---- */

static const struct command commands[] = {
	{ "list", cmd_list },
	{ "show", cmd_show },
	{ "watch", cmd_watch },
	{ "status", cmd_status },
	{ "detach", cmd_detach },
	{ "reattach", cmd_reattach },
	{ "reset", cmd_reset },
	{ "claim", cmd_claim },
	{ "release", cmd_release },
	{ "claims", cmd_claims },
	{ "policy", cmd_policy },
};

static int parse_global(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_LONGOPTS, {} };
	int opt, r;

	/* '+': stop at the command; its own options are parsed by it. */
	while ((opt = getopt_long(argc, argv, "+" COMMON_SHORTOPTS, opts, NULL)) != -1)
		if ((r = common_option(ctl, opt, argv)) != CONTINUE)
			return r;
	if (optind >= argc)
		return usage_error("no command given");
	return CONTINUE;
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (streq(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	struct ctl ctl = { .timeout_ms = HDCLIENT_DEFAULT_TIMEOUT_MS };
	const struct command *cmd;
	const char *env = getenv("HOSTDEVD_SOCKET");
	int r;

	/* A closed stdout must end us through EPIPE, quietly, not by SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	ctl.socket_path = env && *env ? env : HDCLIENT_DEFAULT_SOCKET;
	ctl.tty = isatty(STDOUT_FILENO);
	r = parse_global(&ctl, argc, argv);
	if (r != CONTINUE)
		return r;
	cmd = find_command(argv[optind]);
	if (!cmd)
		return usage_error("unknown command '%s'", argv[optind]);
	argv += optind;
	argc -= optind;
	optind = 0; /* glibc: start afresh on the command's own arguments */
	r = cmd->run(&ctl, argc, argv);
	hdclient_free(ctl.client);
	return r;
}
