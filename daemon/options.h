/* Command line and environment of hostdevd.
 *
 * Precedence: flag, then environment, then the default.  Every path can be
 * redirected, so tests run a private daemon without touching /run. */
#pragma once

#include "common/log.h"
#include "monitor/monitor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define HOSTDEVD_DEFAULT_STATE_DIR "/run/hostdevd"
#define HOSTDEVD_DEFAULT_SOCKET "/run/hostdevd/hostdevd.sock"

struct daemon_options {
	bool foreground;
	char *socket_path;
	char *state_dir;
	enum log_level log_level;
	enum monitor_source source;
	size_t max_message;
	size_t max_outbuf;
	unsigned socket_mode;
	/* Connection and memory limits (daemon/server.h); 0: the default. */
	size_t max_conns;
	size_t max_conns_per_uid;
	unsigned partial_timeout_ms;
	unsigned idle_timeout_ms;
	size_t memory_budget;
	unsigned step_timeout_ms; /* each detach/reattach step's deadline */
	char *proc_root;          /* where the host-critical checks read /proc */
	char *dev_root;           /* where OpenDevice finds /dev/vfio */
	char *modules_dir;        /* where modules.alias is: the vfio-pci variants */
	bool reattach_orphans;    /* --orphans reattach (default keep) */
	bool orphans_set;         /* --orphans or HOSTDEVD_ORPHANS given: over the policy's */
	const char *check_policy; /* --check-policy PATH: check it and exit */
	char *policy_path;        /* --policy: a file or a directory */
	bool policy_named;        /* by --policy or HOSTDEVD_POLICY: it must exist */
	bool no_node_owner;       /* --node-owner off: unprivileged claims get no VFIO node owner */
	bool no_hwdb;             /* HOSTDEVD_HWDB=off: no names from udev's hardware database */
};

enum options_result {
	OPTIONS_OK = 0,
	OPTIONS_EXIT_SUCCESS, /* --help or --version was printed */
	OPTIONS_USAGE_ERROR,  /* the problem was printed to stderr */
};

/* Fills o from argv and the environment (getenv). */
enum options_result options_parse(struct daemon_options *o, int argc, char **argv);
void options_free(struct daemon_options *o);
void options_usage(FILE *out);
