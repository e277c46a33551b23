/* The command table and the one option parser every command goes through. */
#include "client/cmd.h"
#include "client/hdclient.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

const struct cmd_entry *const cmd_table[] = {
	&cmd_list_entry,
	&cmd_show_entry,
	&cmd_watch_entry,
	&cmd_status_entry,
	&cmd_policy_explain_entry,
	&cmd_policy_check_entry,
	&cmd_policy_reload_entry,
	&cmd_rules_generate_entry,
	&cmd_detach_entry,
	&cmd_reattach_entry,
	&cmd_reset_entry,
	&cmd_repair_entry,
	&cmd_claim_entry,
	&cmd_release_entry,
	&cmd_claims_entry,
	&cmd_run_entry,
	&cmd_check_entry,
	NULL,
};

int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("hostdevctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'hostdevctl --help' for more information.\n", stderr);
	return EXIT_USAGE;
}

/* ---- the common options ---- */

static int check_timeout(const char *arg)
{
	char *end;
	double secs;

	errno = 0;
	secs = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(secs) || secs <= 0 || secs > 86400)
		return usage_error("--timeout wants a number of seconds up to 86400, not '%s'",
				   arg);
	return CONTINUE;
}

static int show_help(const char *arg)
{
	cmd_help_print(stdout);
	return EXIT_DONE;
}

static int show_version(const char *arg)
{
	printf("hostdevctl %s\n", HOSTDEVD_VERSION);
	return EXIT_DONE;
}

const struct cmd_option cmd_common_options[] = {
	{ .name = "socket", .short_name = 's', .arg = "PATH",
	  .help = "hostdevd's socket; default $HOSTDEVD_SOCKET, else\n"
		  HDCLIENT_DEFAULT_SOCKET "\n" },
	{ .name = "json", .short_name = 'j',
	  .help = "print hostdevd's reply as JSON (watch: one object per\n"
		  "line, the first holding the starting sequence number)\n" },
	{ .name = "timeout", .short_name = 't', .arg = "SECS", .parse = check_timeout,
	  .help = "give up waiting for a reply after SECS seconds\n"
		  "(default 30; detach, reattach, reset, repair, claim and\n"
		  "release 120, as they wait for the kernel; watch waits\n"
		  "for events forever)\n" },
	{ .name = "help", .short_name = 'h', .parse = show_help, .help = "show this help\n" },
	{ .name = "version", .short_name = 'V', .parse = show_version,
	  .help = "show the version\n" },
	{},
};

/* ---- finding the entry ---- */

const struct cmd_entry *cmd_find(const char *name, const char *sub)
{
	for (const struct cmd_entry *const *e = cmd_table; *e; e++)
		if (streq((*e)->name, name) && (!sub || streq((*e)->sub, sub)))
			return *e;
	return NULL;
}

/* ---- options ---- */

/* getopt_long's tables for the common options followed by the entry's: a
 * long option's val is its short name, or past every char when it has none,
 * so that the index comes back from either. */
struct option_set {
	const struct cmd_option *by_index[64];
	struct option longopts[64];
	char shortopts[2 + 3 * 64 + 1];
	int n;
};

#define LONG_ONLY_BASE 256

static void option_set_add(struct option_set *set, const struct cmd_option *o)
{
	size_t len = strlen(set->shortopts);

	if (set->n + 1 >= (int)ARRAY_SIZE(set->longopts))
		fatal("more options than the parser has room for");
	set->by_index[set->n] = o;
	set->longopts[set->n] = (struct option){
		.name = o->name,
		.has_arg = o->arg ? required_argument : no_argument,
		.val = o->short_name ? o->short_name : LONG_ONLY_BASE + set->n,
	};
	if (o->short_name)
		snprintf(set->shortopts + len, sizeof(set->shortopts) - len, "%c%s",
			 o->short_name, o->arg ? ":" : "");
	set->n++;
}

static void option_set_init(struct option_set *set, const struct cmd_entry *entry, bool stop)
{
	*set = (struct option_set){};
	/* '+': stop at the first word that is not an option.  ':': getopt
	 * reports, we word it, so that every usage error ends with one hint. */
	strcpy(set->shortopts, stop ? "+:" : ":");
	for (const struct cmd_option *o = cmd_common_options; o->name; o++)
		option_set_add(set, o);
	for (const struct cmd_option *o = entry ? entry->options : NULL; o && o->name; o++)
		option_set_add(set, o);
}

static const struct cmd_option *option_set_find(const struct option_set *set, int val)
{
	for (int i = 0; i < set->n; i++)
		if (set->longopts[i].val == val)
			return set->by_index[i];
	return NULL;
}

static int bad_option(const struct option_set *set, int opt, char **argv)
{
	const char *arg = argv[optind - 1];
	const struct cmd_option *known = option_set_find(set, optopt);

	if (opt == ':')
		return usage_error("option '%s' needs an argument", arg);
	/* getopt names the option in optopt when a switch was given a value
	 * (--json=1), and the letter when -x is not an option at all. */
	if (known)
		return usage_error("option '--%s' takes no argument", known->name);
	if (optopt)
		return usage_error("unknown option '-%c'", optopt);
	return usage_error("unknown option '%s'", arg);
}

static int take_option(struct cmd_run *run, const struct cmd_option *o, const char *value)
{
	int r = o->parse ? o->parse(value) : CONTINUE;

	if (r != CONTINUE)
		return r;
	run->given[run->n_given++] = (struct cmd_given){ o, value ? value : "" };
	return CONTINUE;
}

int cmd_parse(struct cmd_run *run, const struct cmd_entry *entry, int argc, char **argv,
	      bool stop)
{
	struct option_set set;
	int opt, r;

	option_set_init(&set, entry, stop);
	/* Every option is at most one word: room for all of them. */
	run->given = xrealloc(run->given, (size_t)(run->n_given + argc) * sizeof(*run->given));
	optind = 0; /* glibc: start afresh on these words */
	while ((opt = getopt_long(argc, argv, set.shortopts, set.longopts, NULL)) != -1) {
		const struct cmd_option *o = opt == '?' || opt == ':' ? NULL
							      : option_set_find(&set, opt);

		if (!o)
			return bad_option(&set, opt, argv);
		if ((r = take_option(run, o, optarg)) != CONTINUE)
			return r;
	}
	run->argc = argc - optind;
	run->argv = argv + optind;
	return CONTINUE;
}

/* ---- the arguments as a whole ---- */

static const char *full_name(const struct cmd_entry *e, char *buf, size_t size)
{
	if (!e->sub)
		return e->name;
	snprintf(buf, size, "%s %s", e->name, e->sub);
	return buf;
}

static int check_required(const struct cmd_run *run)
{
	const struct cmd_entry *e = run->entry;
	char buf[64];

	for (const struct cmd_option *o = e->options; o && o->name; o++)
		if ((o->flags & CMD_OPT_REQUIRED) && !cmd_has(run, o->name))
			return usage_error("'%s' needs --%s %s (e.g. %s)",
					   full_name(e, buf, sizeof(buf)), o->name, o->arg,
					   o->example);
	return CONTINUE;
}

/* A sub-command's wording is terser than a command's: it says what it takes
 * and leaves the extra word out. */
static int check_arity(const struct cmd_run *run)
{
	const struct cmd_entry *e = run->entry;
	const struct cmd_args_spec *a = &e->args;
	char buf[64];
	const char *name = full_name(e, buf, sizeof(buf));

	if (run->argc >= a->min && (a->max < 0 || run->argc <= a->max))
		return CONTINUE;
	if (e->sub)
		return a->max == 0 ? usage_error("'%s' takes no argument", name)
				   : usage_error("'%s' takes one %s", name, a->name);
	if (run->argc < a->min)
		return usage_error("'%s' needs %s %s (%s)", name,
				   a->max == 1 ? "a" : "at least one", a->name, a->hint);
	if (a->max == 0)
		return usage_error("'%s' takes no argument '%s'", name, run->argv[0]);
	return usage_error("'%s' takes one %s, not also '%s'", name, a->name,
			   run->argv[a->max]);
}

int cmd_check_args(const struct cmd_run *run)
{
	int r = check_required(run);

	return r != CONTINUE ? r : check_arity(run);
}

/* ---- what a command reads ---- */

static bool declared(const struct cmd_option *list, const char *name)
{
	for (const struct cmd_option *o = list; o && o->name; o++)
		if (streq(o->name, name))
			return true;
	return false;
}

const char *cmd_value(const struct cmd_run *run, const char *name)
{
	for (int i = run->n_given - 1; i >= 0; i--)
		if (streq(run->given[i].option->name, name))
			return run->given[i].value;
	/* A typo here would read as "not given" forever: refuse it. */
	if (!declared(cmd_common_options, name) &&
	    !(run->entry && declared(run->entry->options, name)))
		fatal("'%s' has no option --%s", run->entry ? run->entry->name : "", name);
	return NULL;
}

void cmd_add_option_params(const struct cmd_run *run, json_object *params)
{
	for (int i = 0; i < run->n_given; i++) {
		const struct cmd_option *o = run->given[i].option;
		const char *v = run->given[i].value;

		if (!o->param)
			continue;
		/* json-c replaces a key in place: the first place, the last value. */
		json_object_object_add(params, o->param,
				       o->flags & CMD_OPT_NUMBER
					       ? json_object_new_int64(strtoll(v, NULL, 10))
					       : json_object_new_string(v));
	}
}
