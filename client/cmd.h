/* hostdevctl's commands as a table, after tmux's cmd_entry.
 *
 * An entry says everything hostdevctl knows about one command: its name (and
 * sub-command), its options and arguments, its lines in --help, the hostdevd
 * method it calls, what the reply must hold and how a person sees it.  What
 * all commands share is done once, from the entry (hostdevctl.c): the options
 * (the common ones included), usage errors, the call, and the choice between
 * --json and the entry's renderer.  A command's own code turns its arguments
 * into the call's parameters; the two that are not one call (watch streams,
 * policy check reads a file) do their own work in exec.
 *
 * Entries do not carry the permission their method needs: hostdevd decides
 * that from its own table (daemon/methods.c), and a copy here could only
 * drift from it; its PermissionDenied reply names the permission. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>

struct hdclient;

/* Exit codes are part of the interface (SPEC): scripts rely on them. */
enum exit_code {
	EXIT_DONE = 0,
	EXIT_FAILED = 1,      /* hostdevd refused, or the request failed */
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3, /* no daemon, no permission, or it stopped answering */
	CONTINUE = -1,        /* internal: nothing to stop for yet */
};

enum cmd_option_flags {
	CMD_OPT_REQUIRED = 1u << 0, /* the command cannot go without it */
	CMD_OPT_NUMBER = 1u << 1,   /* its parameter is a number, not the string */
};

struct cmd_option {
	const char *name; /* --name */
	char short_name;  /* -c; 0 for long only */
	const char *arg;  /* its argument as --help names it; NULL: a switch */
	/* Runs as the option is read, so that problems are told in the order
	 * of the command line: checks the argument (returns a usage error) or
	 * acts at once (--help, --version return EXIT_DONE).  CONTINUE goes on. */
	int (*parse)(const char *arg);
	/* The call's parameter it sets (cmd_add_option_params); NULL when the
	 * command's build makes the parameter itself. */
	const char *param;
	unsigned flags;
	const char *example; /* a CMD_OPT_REQUIRED one's argument, for the usage error */
	/* --help's lines, for the common options.  A command's own options
	 * are explained in its entry's text, where --help has always put them. */
	const char *help;
};

/* Positional arguments: how many, and what to say when they do not fit.
 * Left out of an entry: none. */
struct cmd_args_spec {
	int min, max;     /* max -1: any number */
	const char *name; /* what each one is: DEVICE, PATH */
	const char *hint; /* what one looks like, when one is missing */
};

enum cmd_flags {
	/* The call waits for the kernel: the long timeout, and if its answer
	 * does not come, a pointer to where the user can see how it ended:
	 * the device (the first argument) or the owner's claims (--owner). */
	CMD_WAITS_DEVICE = 1u << 0,
	CMD_WAITS_OWNER = 1u << 1,
	/* Replies keep coming: --json prints each on one line. */
	CMD_STREAM = 1u << 2,
	/* Options come before the positional arguments, which are taken as
	 * they are from the first one on ("--" included): run's COMMAND has
	 * options of its own. */
	CMD_OPTIONS_FIRST = 1u << 3,
};

struct cmd_run;

/* Shows a reply to a person (client/format.h).  --json is common to all. */
typedef void cmd_render_fn(FILE *out, json_object *obj);

struct cmd_entry {
	const char *name;
	const char *sub;   /* a family's sub-command (policy check); NULL */
	const char *usage; /* --help's synopsis after the name; "\n" goes on aligned; NULL: none */
	const char *text;  /* --help's description, each line ending in "\n" */
	const struct cmd_option *options; /* its own, up to an empty one; NULL: none */
	struct cmd_args_spec args;
	unsigned flags; /* CMD_* */

	const char *method; /* the hostdevd method it calls */
	/* The reply must hold member, of member_type (NULL: anything goes);
	 * print_member shows that member alone instead of the whole reply. */
	const char *member;
	json_type member_type;
	bool print_member;
	/* Turns the arguments into the call's parameters; a usage error stops
	 * the command before anything is sent.  The options that name a
	 * parameter follow what it adds.  NULL: those options only. */
	int (*build)(const struct cmd_run *run, json_object *params);
	/* Instead of the one call above: a command with work of its own. */
	int (*exec)(struct cmd_run *run);
	cmd_render_fn *render;
	/* What an empty array says, without and with parameters (filters) sent. */
	const char *none, *none_filtered;
};

/* Where hostdevctl stands with hostdevd: set from the common options. */
struct ctl {
	const char *socket_path;
	bool json;
	bool tty; /* stdout is a terminal */
	int timeout_ms;
	bool timeout_given; /* --timeout: it wins over a command's own default */
	/* What to look at when the answer to a running operation does not
	 * come (it may go on without us): a device to show, or for claims the
	 * owner whose claims to list. */
	const char *operation_device;
	const char *operation_owner;
	struct hdclient *client;
};

/* One option as the command line gave it. */
struct cmd_given {
	const struct cmd_option *option;
	const char *value; /* "" for a switch */
};

/* One invocation: the entry, what the command line gave it, the call. */
struct cmd_run {
	const struct cmd_entry *entry;
	struct cmd_given *given; /* in command-line order */
	int n_given;
	int argc; /* what is left after options: the positional arguments */
	char **argv;
	json_object *params; /* the call's, once built; owned by the run */
	struct ctl ctl;
};

/* ---- the table (cmd.c) ---- */

/* Every command, in --help's order, up to NULL. */
extern const struct cmd_entry *const cmd_table[];
/* --socket, --json, --timeout, --help, --version, up to an empty one. */
extern const struct cmd_option cmd_common_options[];

extern const struct cmd_entry cmd_list_entry, cmd_show_entry, cmd_status_entry;
extern const struct cmd_entry cmd_watch_entry;
extern const struct cmd_entry cmd_detach_entry, cmd_reattach_entry, cmd_reset_entry,
	cmd_repair_entry;
extern const struct cmd_entry cmd_claim_entry, cmd_release_entry, cmd_claims_entry,
	cmd_run_entry;
extern const struct cmd_entry cmd_policy_explain_entry, cmd_policy_check_entry,
	cmd_policy_reload_entry;
extern const struct cmd_entry cmd_rules_generate_entry;
extern const struct cmd_entry cmd_check_entry;

/* The entry named name (and sub, for a family); NULL when there is none.
 * With sub NULL, a family's first entry. */
const struct cmd_entry *cmd_find(const char *name, const char *sub);

/* Reads the options of argv[1..] (argv[0] is the command, or the program):
 * entry's own (NULL: none) and the common ones, into run->given.  With stop,
 * stops at the first word that is not an option and leaves it and what
 * follows in run->argc/argv; otherwise takes options anywhere and leaves the
 * positional arguments there.  Returns CONTINUE, or the exit code a usage
 * error, --help or --version calls for. */
int cmd_parse(struct cmd_run *run, const struct cmd_entry *entry, int argc, char **argv,
	      bool stop);
/* The entry's required options and positional arguments are all there. */
int cmd_check_args(const struct cmd_run *run);

/* The last value given for the option called name (common or the entry's),
 * "" for a switch, NULL when it was not given. */
const char *cmd_value(const struct cmd_run *run, const char *name);
static inline bool cmd_has(const struct cmd_run *run, const char *name)
{
	return cmd_value(run, name) != NULL;
}
/* Adds every given option that names a parameter, in command-line order (a
 * repeated one keeps its first place and takes its last value). */
void cmd_add_option_params(const struct cmd_run *run, json_object *params);

int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- --help (cmd-help.c) ---- */

void cmd_help_print(FILE *out);

/* ---- calling hostdevd and printing (cmd-call.c) ---- */

void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ctl_connect(struct ctl *ctl);
/* Calls method and hands back the whole reply (borrowed from the
 * connection), or returns the exit code for what went wrong, told. */
int ctl_call(struct ctl *ctl, const char *method, json_object *params, json_object **reply);
int reply_member(const char *method, json_object *reply, const char *member, json_type type,
		 json_object **out);
int report_transport_failure(const struct ctl *ctl);
int report_varlink_error(const char *method, const char *error, json_object *params);
/* The one place that chooses: --json, or the entry's renderer. */
void cmd_print(const struct cmd_run *run, json_object *obj);
/* EXIT_DONE once stdout took everything (or its reader left). */
int finish_output(void);

/* ---- arguments several families check ---- */

/* claim's options and the Claim parameters they make from run's options
 * and arguments (every argument a DEVICE): run claims the same way. */
extern const struct cmd_option cmd_claim_options[];
int cmd_claim_build(const struct cmd_run *run, json_object *params);

int check_stub(const char *arg);                        /* cmd-node.c */
int check_owner(const char *arg);                       /* cmd-claim.c */
/* {"driver": .., "domain": ..} of a checked DRIVER/DOMAIN. */
json_object *owner_object(const char *owner);           /* cmd-claim.c */
/* The first argument as the "device" parameter. */
int add_device_param(const struct cmd_run *run, json_object *params); /* cmd-node.c */
/* --driver's stub, as its kernel driver name (xen-pciback is pciback). */
void add_stub_param(const struct cmd_run *run, json_object *params); /* cmd-node.c */
