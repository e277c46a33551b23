#include "daemon/options.h"
#include "common/util.h"
#include "common/varlink.h"
#include "policy/policy.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

void options_usage(FILE *out)
{
	fprintf(out,
		"Usage: hostdevd [OPTIONS]\n"
		"\n"
		"Keeps the live table of the machine's PCI and USB devices and serves it over\n"
		"a Varlink socket (interface io.hostdevd). With no policy it only observes:\n"
		"it never detaches or rebinds anything on its own; a policy's detach and\n"
		"assign rules move matching devices to a stub as they appear.  SIGHUP reads\n"
		"the policy again (a bad one is logged and changes nothing).\n"
		"\n"
		"Options:\n"
		"  -f, --foreground         stay in the foreground and log to stderr; without it\n"
		"                           hostdevd forks once the socket is ready and logs to syslog\n"
		"  -s, --socket PATH        control socket (env HOSTDEVD_SOCKET;\n"
		"                           default " HOSTDEVD_DEFAULT_SOCKET ")\n"
		"  -d, --state-dir DIR      state directory: the single-instance lock and\n"
		"                           state.json, the claims and detached pool that\n"
		"                           survive a crash (env HOSTDEVD_STATE_DIR, then\n"
		"                           RUNTIME_DIRECTORY; default " HOSTDEVD_DEFAULT_STATE_DIR ")\n"
		"  -l, --log-level LEVEL    error, warn, info or debug (env HOSTDEVD_LOG_LEVEL;\n"
		"                           default info)\n"
		"      --uevent-source SRC  auto, udev or kernel (env HOSTDEVD_UEVENT_SOURCE;\n"
		"                           default auto: udevd's events when udevd runs,\n"
		"                           the kernel's otherwise)\n"
		"      --max-message BYTES  largest request accepted, 64 to 1073741824 (env\n"
		"                           HOSTDEVD_MAX_MESSAGE; default 1048576)\n"
		"      --max-connections N  connections taken from users other than root (env\n"
		"                           HOSTDEVD_MAX_CONNECTIONS; 1 to 1000000; default the\n"
		"                           descriptor limit less 64 for the daemon's own files\n"
		"                           and 32 kept for root); a connection over a limit is\n"
		"                           answered io.hostdevd.TooManyConnections and closed\n"
		"      --max-connections-per-uid N\n"
		"                           connections one uid other than root may have open\n"
		"                           (env HOSTDEVD_MAX_CONNECTIONS_PER_UID; 1 to 1000000;\n"
		"                           default 128)\n"
		"      --partial-timeout SECONDS\n"
		"                           how long part of a message may wait for the rest\n"
		"                           before the connection is closed (env\n"
		"                           HOSTDEVD_PARTIAL_TIMEOUT; 0.001 to 3600; default 10)\n"
		"      --idle-timeout SECONDS\n"
		"                           a connection with no traffic, no call in flight and\n"
		"                           no Watch is closed after this long (env\n"
		"                           HOSTDEVD_IDLE_TIMEOUT; 0.001 to 3600; default 600)\n"
		"      --memory-budget BYTES\n"
		"                           input and output buffered for all clients together;\n"
		"                           over it the clients holding the most wait (env\n"
		"                           HOSTDEVD_MEMORY_BUDGET; 1048576 to 1073741824;\n"
		"                           default 67108864)\n"
		"      --step-timeout SECONDS\n"
		"                           how long each step of a detach or reattach (a sysfs\n"
		"                           write, or waiting for the bind) may take before it is\n"
		"                           an error and rolled back (env HOSTDEVD_STEP_TIMEOUT;\n"
		"                           0.001 to 3600, fractions allowed; default 10)\n"
		"      --orphans keep|reattach\n"
		"                           PCI functions found on a stub at start with no record\n"
		"                           of hostdevd's (put there by libvirt, driverctl,\n"
		"                           vfio-pci.ids or a crash): keep them there and report\n"
		"                           them (default), or reattach them to a host driver\n"
		"                           (env HOSTDEVD_ORPHANS; given, it wins over the\n"
		"                           policy's 'orphans' setting)\n"
		"      --proc-root DIR      where the host-critical checks read the mount table,\n"
		"                           swaps and routes (env HOSTDEVD_PROC_ROOT; default\n"
		"                           /proc; for tests)\n"
		"      --dev-root DIR       where the VFIO nodes are (DIR/vfio/devices/vfioN,\n"
		"                           DIR/vfio/GROUP): OpenDevice opens them, an\n"
		"                           unprivileged claim's uid is made their owner (env\n"
		"                           HOSTDEVD_DEV_ROOT; default /dev; for tests)\n"
		"      --node-owner on|off  on (default): an unprivileged claim's uid owns its\n"
		"                           functions' VFIO nodes until the release; off: it\n"
		"                           reaches them only by OpenDevice's descriptor (env\n"
		"                           HOSTDEVD_NODE_OWNER)\n"
		"      --modules-dir DIR    where modules.alias names the vfio-pci variant drivers\n"
		"                           (env HOSTDEVD_MODULES_DIR; default\n"
		"                           /lib/modules/RELEASE, RELEASE from env\n"
		"                           HOSTDEVD_KERNEL_RELEASE or uname -r)\n"
		"      --policy PATH        the policy: a file, or a directory holding policy.conf\n"
		"                           and policy.d/ (env HOSTDEVD_POLICY; default\n"
		"                           /etc/hostdevd; none there: the built-in default,\n"
		"                           which allows claims by root and detaches nothing;\n"
		"                           a path named here or in HOSTDEVD_POLICY must exist)\n"
		"      --check-policy PATH  read the policy file (or directory holding policy.conf\n"
		"                           and policy.d/) at PATH, print its rules and exit:\n"
		"                           0 when it is valid, 1 with file:line and the\n"
		"                           problem when not (docs/policy.md)\n"
		"  -h, --help               show this help\n"
		"  -V, --version            show the version\n"
		"\n"
		"Environment: HOSTDEVD_HWDB=off names devices by their class alone instead\n"
		"of by udev's hardware database (hwdb.bin: pci.ids, usb.ids; default on).\n"
		"\n"
		"Signals: SIGTERM and SIGINT stop the daemon cleanly; SIGHUP reads the policy\n"
		"again; SIGUSR1 switches the log level to debug, SIGUSR2 back to the one\n"
		"configured.\n"
		"Ready: with NOTIFY_SOCKET set (systemd Type=notify), READY=1 is sent once the\n"
		"socket accepts clients.\n"
		"Query it with: hostdevctl list (hostdevctl --help for more).\n");
}

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

static bool parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < 64 || v > (1ULL << 30))
		return false;
	*out = (size_t)v;
	return true;
}

/* Seconds, fractions allowed, from 1 ms to an hour. */
static bool parse_seconds_ms(const char *s, unsigned *out_ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.001 && v <= 3600))
		return false;
	*out_ms = (unsigned)(v * 1000 + 0.5);
	return true;
}

/* RUNTIME_DIRECTORY may list several directories separated by ':'. */
static char *default_state_dir(void)
{
	const char *v = getenv("HOSTDEVD_STATE_DIR");
	const char *rt = getenv("RUNTIME_DIRECTORY");

	if (v && *v)
		return xstrdup(v);
	if (rt && *rt)
		return strndup(rt, strcspn(rt, ":"));
	return xstrdup(HOSTDEVD_DEFAULT_STATE_DIR);
}

__attribute__((format(printf, 1, 2))) static enum options_result usage_error(const char *fmt,
									     ...)
{
	va_list ap;

	fprintf(stderr, "hostdevd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'hostdevd --help'.\n");
	return OPTIONS_USAGE_ERROR;
}

static bool parse_count(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 1000000)
		return false;
	*out = (size_t)v;
	return true;
}

/* The connection and memory limits; NULL leaves the server's default. */
static enum options_result parse_limits(struct daemon_options *o, const char *max_conns,
					const char *per_uid, const char *partial,
					const char *idle, const char *budget)
{
	if (max_conns && *max_conns && !parse_count(max_conns, &o->max_conns))
		return usage_error("--max-connections wants a count from 1 to 1000000, not '%s'",
				   max_conns);
	if (per_uid && *per_uid && !parse_count(per_uid, &o->max_conns_per_uid))
		return usage_error("--max-connections-per-uid wants a count from 1 to 1000000, "
				   "not '%s'",
				   per_uid);
	if (partial && *partial && !parse_seconds_ms(partial, &o->partial_timeout_ms))
		return usage_error("--partial-timeout wants seconds between 0.001 and 3600, not "
				   "'%s'",
				   partial);
	if (idle && *idle && !parse_seconds_ms(idle, &o->idle_timeout_ms))
		return usage_error("--idle-timeout wants seconds between 0.001 and 3600, not '%s'",
				   idle);
	if (budget && *budget &&
	    (!parse_size(budget, &o->memory_budget) || o->memory_budget < (1u << 20)))
		return usage_error("--memory-budget wants a size in bytes between 1048576 and "
				   "1073741824, not '%s'",
				   budget);
	return OPTIONS_OK;
}

/* As hostdevctl check finds it: HOSTDEVD_MODULES_DIR, else
 * /lib/modules/<HOSTDEVD_KERNEL_RELEASE or the running kernel's>. */
static char *default_modules_dir(void)
{
	const char *dir = getenv("HOSTDEVD_MODULES_DIR");
	const char *rel = getenv("HOSTDEVD_KERNEL_RELEASE");
	struct utsname u;

	if (dir && *dir)
		return xstrdup(dir);
	if (!(rel && *rel))
		rel = uname(&u) == 0 ? u.release : "";
	return xasprintf("/lib/modules/%s", rel);
}

enum options_result options_parse(struct daemon_options *o, int argc, char **argv)
{
	enum {
		OPT_SOURCE = 256,
		OPT_MAX_MESSAGE,
		OPT_STEP_TIMEOUT,
		OPT_PROC_ROOT,
		OPT_DEV_ROOT,
		OPT_NODE_OWNER,
		OPT_MODULES_DIR,
		OPT_ORPHANS,
		OPT_CHECK_POLICY,
		OPT_POLICY,
		OPT_MAX_CONNS,
		OPT_MAX_CONNS_PER_UID,
		OPT_PARTIAL_TIMEOUT,
		OPT_IDLE_TIMEOUT,
		OPT_MEMORY_BUDGET,
	};
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "uevent-source", required_argument, NULL, OPT_SOURCE },
		{ "max-message", required_argument, NULL, OPT_MAX_MESSAGE },
		{ "step-timeout", required_argument, NULL, OPT_STEP_TIMEOUT },
		{ "proc-root", required_argument, NULL, OPT_PROC_ROOT },
		{ "dev-root", required_argument, NULL, OPT_DEV_ROOT },
		{ "node-owner", required_argument, NULL, OPT_NODE_OWNER },
		{ "modules-dir", required_argument, NULL, OPT_MODULES_DIR },
		{ "orphans", required_argument, NULL, OPT_ORPHANS },
		{ "check-policy", required_argument, NULL, OPT_CHECK_POLICY },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "max-connections", required_argument, NULL, OPT_MAX_CONNS },
		{ "max-connections-per-uid", required_argument, NULL, OPT_MAX_CONNS_PER_UID },
		{ "partial-timeout", required_argument, NULL, OPT_PARTIAL_TIMEOUT },
		{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
		{ "memory-budget", required_argument, NULL, OPT_MEMORY_BUDGET },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *level = env_or("HOSTDEVD_LOG_LEVEL", "info");
	const char *source = env_or("HOSTDEVD_UEVENT_SOURCE", "auto");
	const char *step_timeout = env_or("HOSTDEVD_STEP_TIMEOUT", "10");
	const char *orphans = getenv("HOSTDEVD_ORPHANS");
	const char *max_conns = getenv("HOSTDEVD_MAX_CONNECTIONS");
	const char *per_uid = getenv("HOSTDEVD_MAX_CONNECTIONS_PER_UID");
	const char *partial = getenv("HOSTDEVD_PARTIAL_TIMEOUT");
	const char *idle = getenv("HOSTDEVD_IDLE_TIMEOUT");
	const char *budget = getenv("HOSTDEVD_MEMORY_BUDGET");
	const char *max_message = getenv("HOSTDEVD_MAX_MESSAGE");
	const char *hwdb = env_or("HOSTDEVD_HWDB", "on");
	const char *node_owner = env_or("HOSTDEVD_NODE_OWNER", "on");
	int c, v;

	if (orphans && !*orphans)
		orphans = NULL; /* set but empty: as if unset */
	memset(o, 0, sizeof(*o));
	o->socket_path = xstrdup(env_or("HOSTDEVD_SOCKET", HOSTDEVD_DEFAULT_SOCKET));
	o->state_dir = default_state_dir();
	o->proc_root = xstrdup(env_or("HOSTDEVD_PROC_ROOT", "/proc"));
	o->dev_root = xstrdup(env_or("HOSTDEVD_DEV_ROOT", "/dev"));
	o->modules_dir = default_modules_dir();
	o->policy_path = xstrdup(env_or("HOSTDEVD_POLICY", POLICY_DEFAULT_PATH));
	o->policy_named = getenv("HOSTDEVD_POLICY") && *getenv("HOSTDEVD_POLICY");
	o->max_message = VL_DEFAULT_MAX_MESSAGE;
	o->max_outbuf = 16 * 1024 * 1024;
	o->socket_mode = 0660;
	optind = 1;
	while ((c = getopt_long(argc, argv, "fs:d:l:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o->foreground = true;
			break;
		case 's':
			str_replace(&o->socket_path, optarg);
			break;
		case 'd':
			str_replace(&o->state_dir, optarg);
			break;
		case 'l':
			level = optarg;
			break;
		case OPT_SOURCE:
			source = optarg;
			break;
		case OPT_MAX_MESSAGE:
			max_message = optarg;
			break;
		case OPT_STEP_TIMEOUT:
			step_timeout = optarg;
			break;
		case OPT_PROC_ROOT:
			str_replace(&o->proc_root, optarg);
			break;
		case OPT_DEV_ROOT:
			str_replace(&o->dev_root, optarg);
			break;
		case OPT_NODE_OWNER:
			node_owner = optarg;
			break;
		case OPT_MODULES_DIR:
			str_replace(&o->modules_dir, optarg);
			break;
		case OPT_ORPHANS:
			orphans = optarg;
			break;
		case OPT_CHECK_POLICY:
			o->check_policy = optarg;
			break;
		case OPT_POLICY:
			str_replace(&o->policy_path, optarg);
			o->policy_named = true;
			break;
		case OPT_MAX_CONNS:
			max_conns = optarg;
			break;
		case OPT_MAX_CONNS_PER_UID:
			per_uid = optarg;
			break;
		case OPT_PARTIAL_TIMEOUT:
			partial = optarg;
			break;
		case OPT_IDLE_TIMEOUT:
			idle = optarg;
			break;
		case OPT_MEMORY_BUDGET:
			budget = optarg;
			break;
		case 'h':
			options_usage(stdout);
			return OPTIONS_EXIT_SUCCESS;
		case 'V':
			printf("hostdevd %s\n", HOSTDEVD_VERSION);
			return OPTIONS_EXIT_SUCCESS;
		default:
			return usage_error("%s", "unknown option or missing argument");
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (max_message && *max_message && !parse_size(max_message, &o->max_message))
		return usage_error("--max-message wants a size in bytes between 64 and 1073741824, "
				   "not '%s'",
				   max_message);
	if ((v = log_level_from_name(level)) < 0)
		return usage_error("unknown log level '%s' (error, warn, info, debug)", level);
	o->log_level = (enum log_level)v;
	if ((v = monitor_source_from_name(source)) < 0)
		return usage_error("unknown uevent source '%s' (auto, udev, kernel)", source);
	o->source = (enum monitor_source)v;
	if (!parse_seconds_ms(step_timeout, &o->step_timeout_ms))
		return usage_error("--step-timeout wants seconds between 0.001 and 3600, not '%s'",
				   step_timeout);
	if (!*o->socket_path || !*o->state_dir)
		return usage_error("%s", "--socket and --state-dir must not be empty");
	/* Unset here: the policy's orphans setting decides, else keep. */
	if (orphans && !streq(orphans, "keep") && !streq(orphans, "reattach"))
		return usage_error("--orphans is keep or reattach, not '%s'", orphans);
	o->orphans_set = orphans != NULL;
	o->reattach_orphans = orphans && streq(orphans, "reattach");
	if (parse_limits(o, max_conns, per_uid, partial, idle, budget) != OPTIONS_OK)
		return OPTIONS_USAGE_ERROR;
	if (!streq(hwdb, "on") && !streq(hwdb, "off"))
		return usage_error("HOSTDEVD_HWDB is on or off, not '%s'", hwdb);
	o->no_hwdb = streq(hwdb, "off");
	if (!streq(node_owner, "on") && !streq(node_owner, "off"))
		return usage_error("--node-owner is on or off, not '%s'", node_owner);
	o->no_node_owner = streq(node_owner, "off");
	if (o->proc_root[0] != '/')
		return usage_error("--proc-root wants an absolute path, not '%s'", o->proc_root);
	if (o->dev_root[0] != '/')
		return usage_error("--dev-root wants an absolute path, not '%s'", o->dev_root);
	return OPTIONS_OK;
}

void options_free(struct daemon_options *o)
{
	free(o->socket_path);
	free(o->state_dir);
	free(o->proc_root);
	free(o->dev_root);
	free(o->modules_dir);
	free(o->policy_path);
	o->modules_dir = NULL;
	o->socket_path = o->state_dir = o->proc_root = o->dev_root = o->policy_path = NULL;
}
