/* watch: hostdevd's events as they happen, until told to stop.  A stream,
 * not one reply: its own loop, printed through cmd_print like the rest. */
#include "client/cmd.h"
#include "client/format.h"
#include "client/hdclient.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>

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
	struct cmd_run *run;
	long long count; /* stop after this many events; 0: never */
	long long seen;
	int64_t last_seq;
};

static int check_count(const char *arg)
{
	char *end;
	long long count;

	errno = 0;
	count = strtoll(arg, &end, 10);
	if (errno || end == arg || *end || count < 1)
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
		complain("hostdevd's reply to %s has no sequence number", w->run->entry->method);
		return EXIT_FAILED;
	}
	seq = json_object_get_int64(seq_obj);
	if (!first)
		check_sequence(w, seq);
	w->last_seq = seq;
	/* The first reply only holds the starting sequence: a script keeps it
	 * (--json); a person needs no line for it. */
	if (!first || w->run->ctl.json)
		cmd_print(w->run, reply);
	if (fflush(stdout) != 0 || ferror(stdout))
		return finish_output();
	if (!first && w->count && ++w->seen >= w->count)
		return EXIT_DONE;
	return CONTINUE;
}

static int watch_next(struct watch *w, bool first)
{
	struct hdclient *c = w->run->ctl.client;
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
		return stop_requested ? EXIT_DONE : report_transport_failure(&w->run->ctl);
	if (error)
		return report_varlink_error(w->run->entry->method, error, reply);
	r = watch_print(w, reply, first);
	if (r == CONTINUE && !continues) {
		complain("hostdevd ended the event stream (is it shutting down?)");
		return EXIT_UNREACHABLE;
	}
	return r;
}

static int watch_run(struct watch *w)
{
	struct hdclient *c = w->run->ctl.client;
	int r;

	watch_fd = hdclient_fd(c);
	if (hdclient_call_more(c, w->run->entry->method, NULL) < 0)
		return stop_requested ? EXIT_DONE : report_transport_failure(&w->run->ctl);
	/* The first reply comes at once; only events may take forever. */
	r = watch_next(w, true);
	hdclient_set_timeout(c, -1);
	while (r == CONTINUE)
		r = watch_next(w, false);
	return r;
}

static int watch_exec(struct cmd_run *run)
{
	const char *count = cmd_value(run, "count");
	struct watch w = { .run = run, .count = count ? strtoll(count, NULL, 10) : 0 };
	int r;

	catch_stop_signals();
	if ((r = ctl_connect(&run->ctl)) != CONTINUE)
		return r;
	return watch_run(&w);
}

static const struct cmd_option watch_options[] = {
	{ .name = "count", .short_name = 'n', .arg = "N", .parse = check_count },
	{},
};

const struct cmd_entry cmd_watch_entry = {
	.name = "watch",
	.usage = "[-n|--count N]",
	.text = "Print device events as they happen, one per line; stop\n"
		"after N events (a resync counts as one).  Ctrl-C stops.\n",
	.options = watch_options,
	.flags = CMD_STREAM,
	.method = "io.hostdevd.Watch",
	.exec = watch_exec,
	.render = format_watch_event,
};
