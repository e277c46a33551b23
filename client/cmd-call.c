/* Calling hostdevd, telling what went wrong, and printing what came back. */
#include "client/cmd.h"
#include "client/format.h"
#include "client/hdclient.h"
#include "common/util.h"

#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

void complain(const char *fmt, ...)
{
	va_list ap;

	/* Keep what was printed so far ahead of the complaint. */
	fflush(stdout);
	fputs("hostdevctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void socket_group_hint(const char *path, char *buf, size_t size)
{
	struct stat st;
	struct group *gr;

	buf[0] = '\0';
	if (stat(path, &st) == 0 && (gr = getgrgid(st.st_gid)))
		snprintf(buf, size, " (%s)", gr->gr_name);
}

static int report_unreachable(const struct ctl *ctl, const struct hdclient_error *err)
{
	char group[128];

	switch (err->errnum) {
	case ENOENT:
	case ECONNREFUSED:
		complain("hostdevd is not running (%s %s): start it with `hostdevd --foreground` "
			 "or set HOSTDEVD_SOCKET/--socket",
			 err->errnum == ENOENT ? "no socket at" : "nothing is listening on",
			 ctl->socket_path);
		break;
	case EACCES:
	case EPERM:
		socket_group_hint(ctl->socket_path, group, sizeof(group));
		complain("permission denied on %s: run as root or as a member of the socket's "
			 "group%s",
			 ctl->socket_path, group);
		break;
	default:
		complain("cannot reach hostdevd: %s", err->message);
		break;
	}
	return EXIT_UNREACHABLE;
}

int ctl_connect(struct ctl *ctl)
{
	struct hdclient_error err;

	ctl->client = hdclient_connect(ctl->socket_path, &err);
	if (!ctl->client)
		return report_unreachable(ctl, &err);
	hdclient_set_timeout(ctl->client, ctl->timeout_ms);
	return CONTINUE;
}

int report_transport_failure(const struct ctl *ctl)
{
	const struct hdclient_error *err = hdclient_last_error(ctl->client);

	switch (err->failure) {
	case HDCLIENT_TIMEOUT:
	case HDCLIENT_IO:
		if (ctl->operation_owner)
			complain("%s; the operation may still go on in hostdevd: 'hostdevctl claims "
				 "--owner %s' tells what the owner holds, hostdevd's log what "
				 "happened",
				 err->message, ctl->operation_owner);
		else if (ctl->operation_device)
			complain("%s; the operation may still go on in hostdevd: 'hostdevctl show "
				 "%s' tells where the device is, hostdevd's log what happened",
				 err->message, ctl->operation_device);
		else
			complain("%s; hostdevd's log may say why", err->message);
		return EXIT_UNREACHABLE;
	default:
		complain("%s", err->message);
		return EXIT_FAILED;
	}
}

int report_varlink_error(const char *method, const char *error, json_object *params)
{
	_cleanup_free_ char *sentence = format_varlink_error(method, error, params);

	complain("%s", sentence);
	return EXIT_FAILED;
}

int reply_member(const char *method, json_object *reply, const char *member, json_type type,
		 json_object **out)
{
	if (!json_object_object_get_ex(reply, member, out) || !json_object_is_type(*out, type)) {
		complain("hostdevd's reply to %s lacks '%s' or it has the wrong type", method,
			 member);
		return EXIT_FAILED;
	}
	return CONTINUE;
}

int ctl_call(struct ctl *ctl, const char *method, json_object *params, json_object **reply)
{
	const char *error;
	int r = ctl_connect(ctl);

	if (r != CONTINUE)
		return r;
	if (hdclient_call(ctl->client, method, params, reply, &error) < 0)
		return report_transport_failure(ctl);
	if (error)
		return report_varlink_error(method, error, *reply);
	return CONTINUE;
}

void cmd_print(const struct cmd_run *run, json_object *obj)
{
	const struct cmd_entry *e = run->entry;
	bool filtered = run->params && json_object_object_length(run->params) > 0;

	if (run->ctl.json)
		format_json(stdout, obj, run->ctl.tty && !(e->flags & CMD_STREAM));
	else if (e->none && json_object_is_type(obj, json_type_array) &&
		 json_object_array_length(obj) == 0)
		puts(filtered ? e->none_filtered : e->none);
	else
		e->render(stdout, obj);
}

/* A reader that went away (`| head`) got what it wanted: not an error. */
int finish_output(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return EXIT_DONE;
	if (errno == EPIPE)
		return EXIT_DONE;
	complain("writing the output: %s", strerror(errno));
	return EXIT_FAILED;
}
