/* A small synchronous Varlink client: one connection to hostdevd's socket.
 *
 * Calls block until the reply arrives or the connection's timeout expires;
 * nothing here hangs forever unless asked to (hdclient_next with timeout -1,
 * for streams that are idle by nature).  Transport failures return a negative
 * errno and leave a sentence saying what happened in hdclient_last_error();
 * a Varlink error reply is not a transport failure: the call returns 0 and
 * sets *error_name.
 *
 * Replies are borrowed: the parameters and error name stay valid until the
 * next call, hdclient_next() or hdclient_free() on the same connection.  Take
 * a reference (json_object_get) to keep parameters longer.
 *
 * This grows into the public libhostdev; keep it free of CLI concerns. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#define HDCLIENT_DEFAULT_SOCKET "/run/hostdevd/hostdevd.sock"
#define HDCLIENT_DEFAULT_TIMEOUT_MS 30000
/* Replies can be large (ListDevices on a big machine); refuse absurd ones. */
#define HDCLIENT_DEFAULT_MAX_REPLY (64 * 1024 * 1024)
/* Descriptors kept per reply (SCM_RIGHTS); more are closed. */
#define HDCLIENT_MAX_FDS 8

struct hdclient;

enum hdclient_failure {
	HDCLIENT_OK = 0,
	HDCLIENT_CONNECT,  /* the socket could not be reached (errnum says why) */
	HDCLIENT_IO,       /* a send or receive failed, or the peer closed */
	HDCLIENT_TIMEOUT,  /* no complete reply before the deadline */
	HDCLIENT_PROTOCOL, /* the peer sent something that is not a Varlink reply */
	HDCLIENT_USAGE,    /* the caller misused the API (e.g. a call during a stream) */
};

struct hdclient_error {
	enum hdclient_failure failure;
	int errnum;          /* positive errno, 0 when none applies */
	char message[512];   /* "connecting to /run/...: No such file or directory" */
};

/* Connects to the Unix socket at path.  On failure returns NULL and fills
 * *err (failure HDCLIENT_CONNECT, errnum from connect(2), e.g. ENOENT,
 * ECONNREFUSED, EACCES). */
struct hdclient *hdclient_connect(const char *path, struct hdclient_error *err);
void hdclient_free(struct hdclient *c);

/* Deadline for one whole call (send and complete reply), in milliseconds;
 * -1 waits forever. */
void hdclient_set_timeout(struct hdclient *c, int timeout_ms);
void hdclient_set_max_reply(struct hdclient *c, size_t max_bytes);

/* The socket, so that a caller can poll it in its own loop or shut it down
 * from a signal handler to end a blocking stream. */
int hdclient_fd(const struct hdclient *c);
/* Whether a whole message waits in the buffer already (the socket's poll
 * would not say so). */
bool hdclient_pending(const struct hdclient *c);
/* Whether hostdevd has closed this idle connection (it restarted, or
 * refused it): nothing is in flight and the socket reads end of file or an
 * error.  A call sent on it could not reach the daemon. */
bool hdclient_peer_closed(const struct hdclient *c);
/* What went wrong in the most recent call (failure HDCLIENT_OK after one
 * that got a reply).  After a transport failure the connection stays broken:
 * every later call returns the same error; connect again. */
const struct hdclient_error *hdclient_last_error(const struct hdclient *c);

/* Calls method with params (NULL for none; not consumed) and waits for the
 * single reply.  Returns 0 when a reply arrived: *reply_params is its
 * parameters (never NULL) and *error_name is NULL for success or the Varlink
 * error.  Returns a negative errno on a transport failure. */
int hdclient_call(struct hdclient *c, const char *method, json_object *params,
		  json_object **reply_params, const char **error_name);

/* Starts a streaming call ("more": true).  Read the replies with
 * hdclient_next() until *continues is false or an error arrives. */
int hdclient_call_more(struct hdclient *c, const char *method, json_object *params);

/* Waits for the next reply of the stream, up to the connection's timeout
 * (streams that may idle, like Watch, set -1 first).  Same results as
 * hdclient_call(), plus *continues.  A signal interrupting the wait returns
 * -EINTR with the stream intact, so the caller decides whether to stop. */
int hdclient_next(struct hdclient *c, json_object **reply_params, const char **error_name,
		  bool *continues);

/* The descriptor the last reply came with at `index` (its "fd_index", as
 * io.hostdevd.OpenDevice names it), now the caller's to close; -EBADF when
 * none came there or it was taken.  Replies' descriptors arrive with their
 * bytes (recvmsg, close-on-exec); those not taken are closed when the next
 * reply is read and by hdclient_free(), so one nobody asked for never
 * stays open. */
int hdclient_take_fd(struct hdclient *c, size_t index);
