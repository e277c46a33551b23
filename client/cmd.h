/* What hostdevctl's commands share: exit codes, where hostdevctl stands with
 * hostdevd, and the call with its reports (cmd-call.c). */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

struct hdclient;

/* Exit codes are part of the interface (SPEC): scripts rely on them. */
enum exit_code {
	EXIT_DONE = 0,
	EXIT_FAILED = 1,      /* hostdevd refused, or the request failed */
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3, /* no daemon, no permission, or it stopped answering */
	CONTINUE = -1,        /* internal: option parsing found nothing to stop for */
};

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

void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int ctl_connect(struct ctl *ctl);
/* Calls method and hands back the reply's `member`, which must have `type`;
 * the whole reply when member is NULL.  Otherwise returns the exit code for
 * what went wrong, told. */
int ctl_call(struct ctl *ctl, const char *method, json_object *params, const char *member,
	     json_type type, json_object **out);
int reply_member(const char *method, json_object *reply, const char *member, json_type type,
		 json_object **out);
int report_transport_failure(const struct ctl *ctl);
int report_varlink_error(const char *method, const char *error, json_object *params);
/* EXIT_DONE once stdout took everything (or its reader left). */
int finish_output(void);
