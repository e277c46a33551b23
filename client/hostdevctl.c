/* hostdevctl: the command-line face of hostdevd.
 *
 * main() finds the command's entry in the table (cmd.h) and does for it what
 * every command shares: the options, the usage errors, the call, and --json
 * or the entry's renderer.  Exit codes are part of the interface (SPEC):
 * scripts rely on them. */
#include "client/cmd.h"
#include "client/hdclient.h"
#include "common/log.h"
#include "common/util.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

/* Detach, Reattach, Reset, Claim and Release wait for the kernel: up to the
 * daemon's step timeout (10 s by default) for each of several steps, and a
 * rollback after a failure.  Their answers are worth waiting for longer than
 * a listing. */
#define OPERATION_TIMEOUT_MS 120000

static size_t family_size(const char *family)
{
	size_t n = 0;

	for (const struct cmd_entry *const *e = cmd_table; *e; e++)
		n += streq((*e)->name, family);
	return n;
}

/* "'explain DEVICE', 'check PATH' or 'reload'": a family's sub-commands as
 * they are typed. */
static char *family_choices(const char *family)
{
	size_t n = family_size(family), i = 0;
	char *text = xstrdup(""), *longer;

	for (const struct cmd_entry *const *e = cmd_table; *e; e++) {
		if (!streq((*e)->name, family))
			continue;
		i++;
		longer = xasprintf("%s%s'%s%s%s'", text, i == 1 ? "" : i == n ? " or " : ", ",
				   (*e)->sub, (*e)->usage ? " " : "", (*e)->usage ? (*e)->usage : "");
		free(text);
		text = longer;
	}
	return text;
}

/* The sub-command is the word after the family's name and any common
 * options before it. */
static int find_family_member(struct cmd_run *run, const struct cmd_entry **out)
{
	const char *family = run->argv[0];
	_cleanup_free_ char *choices = family_choices(family);
	int r = cmd_parse(run, NULL, run->argc, run->argv, true);

	if (r != CONTINUE)
		return r;
	if (run->argc == 0)
		return usage_error("'%s' needs %s", family, choices);
	*out = cmd_find(family, run->argv[0]);
	if (!*out)
		return usage_error("'%s %s' is not a command: %s", family, run->argv[0],
				   choices);
	return CONTINUE;
}

static int find_entry(struct cmd_run *run, const struct cmd_entry **out)
{
	const struct cmd_entry *e = cmd_find(run->argv[0], NULL);

	if (!e)
		return usage_error("unknown command '%s'", run->argv[0]);
	if (e->sub)
		return find_family_member(run, out);
	*out = e;
	return CONTINUE;
}

static void ctl_setup(struct cmd_run *run)
{
	struct ctl *ctl = &run->ctl;
	const char *env = getenv("HOSTDEVD_SOCKET");
	const char *socket = cmd_value(run, "socket"), *timeout = cmd_value(run, "timeout");
	unsigned flags = run->entry->flags;

	ctl->socket_path = socket ? socket : env && *env ? env : HDCLIENT_DEFAULT_SOCKET;
	ctl->json = cmd_has(run, "json");
	ctl->tty = isatty(STDOUT_FILENO);
	/* Checked as it was read (cmd.c): a positive number of seconds. */
	ctl->timeout_given = timeout != NULL;
	ctl->timeout_ms = timeout ? (int)ceil(strtod(timeout, NULL) * 1000)
				  : HDCLIENT_DEFAULT_TIMEOUT_MS;
	if (!(flags & (CMD_WAITS_DEVICE | CMD_WAITS_OWNER)))
		return;
	if (!ctl->timeout_given)
		ctl->timeout_ms = OPERATION_TIMEOUT_MS;
	if (flags & CMD_WAITS_DEVICE)
		ctl->operation_device = run->argv[0];
	if (flags & CMD_WAITS_OWNER)
		ctl->operation_owner = cmd_value(run, "owner");
}

/* What most commands are: one call, its reply checked and printed. */
static int call_and_print(struct cmd_run *run)
{
	const struct cmd_entry *e = run->entry;
	json_object *reply, *member = NULL;
	int r;

	run->params = json_object_new_object();
	if (e->build && (r = e->build(run, run->params)) != CONTINUE)
		return r;
	cmd_add_option_params(run, run->params);
	r = ctl_call(&run->ctl, e->method, run->params, &reply);
	if (r == CONTINUE && e->member)
		r = reply_member(e->method, reply, e->member, e->member_type, &member);
	if (r != CONTINUE)
		return r;
	cmd_print(run, e->print_member ? member : reply);
	return finish_output();
}

static int run_command(struct cmd_run *run, int argc, char **argv)
{
	const struct cmd_entry *e;
	int r;

	/* Before the command only the common options can come. */
	if ((r = cmd_parse(run, NULL, argc, argv, true)) != CONTINUE)
		return r;
	if (run->argc == 0)
		return usage_error("no command given");
	if ((r = find_entry(run, &e)) != CONTINUE)
		return r;
	run->entry = e;
	if ((r = cmd_parse(run, e, run->argc, run->argv, e->flags & CMD_OPTIONS_FIRST)) !=
	    CONTINUE)
		return r;
	if ((r = cmd_check_args(run)) != CONTINUE)
		return r;
	ctl_setup(run);
	return e->exec ? e->exec(run) : call_and_print(run);
}

int main(int argc, char **argv)
{
	struct cmd_run run = {};
	int r;

	/* A closed stdout must end us through EPIPE, quietly, not by SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	log_set_ident("hostdevctl");
	r = run_command(&run, argc, argv);
	hdclient_free(run.ctl.client);
	json_object_put(run.params);
	free(run.given);
	return r;
}
