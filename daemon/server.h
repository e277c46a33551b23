/* The control socket: Varlink over a Unix stream socket.
 *
 * Accepts connections (SOCK_CLOEXEC | SOCK_NONBLOCK), frames NUL-terminated
 * messages, refuses ones over the size cap, dispatches calls through the
 * method table (daemon/methods.h) and streams Watch events.  A client whose
 * unread replies pile up beyond a cap is dropped without slowing the others. */
#pragma once

#include "state/devtable.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hd_context;
struct hd_peer;
struct method_def;
struct server;
struct server_call;

/* Zero in a field means its default. */
struct server_config {
	const char *socket_path;
	size_t max_message;  /* bytes; larger requests are refused and the connection closed */
	size_t max_outbuf;   /* bytes of unread replies before a client is dropped */
	unsigned socket_mode; /* e.g. 0660 */
	/* How long a connection being closed (after RequestTooLarge or
	 * WatcherTooSlow) may take to read its last reply; default 5000 ms. */
	unsigned drain_timeout_ms;
	/* The method table; NULL serves methods_table().  Tests pass their own. */
	const struct method_def *methods;
	size_t n_methods;
};

#define SERVER_DEFAULT_MAX_OUTBUF (16u * 1024 * 1024)
#define SERVER_DEFAULT_SOCKET_MODE 0660
#define SERVER_DEFAULT_DRAIN_TIMEOUT_MS 5000

struct server *server_new(struct hd_context *ctx, const struct server_config *cfg);
/* Binds (replacing a stale socket file) and listens.  Returns 0 or -errno. */
int server_start(struct server *s);
void server_free(struct server *s);
/* Gives the socket file to group `gid` (the policy's socket_group), keeping
 * its mode: members of the group may connect.  Logged on failure. */
void server_set_group(struct server *s, gid_t gid);

/* Sends one device event to every watcher, with the next sequence number. */
void server_broadcast_device_event(struct server *s, enum dev_event ev,
				   const struct device *dev, const char *detail);
/* Tells every watcher that the daemon resynchronised from sysfs. */
void server_broadcast_resync(struct server *s);
/* Tells every watcher what the policy did on its own (engine/automate.h):
 * `policy` is the schema's PolicyAction, borrowed. */
void server_broadcast_policy_event(struct server *s, json_object *policy);

uint64_t server_sequence(const struct server *s);
size_t server_client_count(const struct server *s);
size_t server_watcher_count(const struct server *s);

/* One call being answered, handed to a method handler (daemon/methods.h).
 * Valid until the handler returns, unless deferred. */
const struct hd_peer *server_call_peer(const struct server_call *call);
struct server *server_call_server(const struct server_call *call);

/* Sends the reply.  `params` (may be NULL) is consumed.  `continues` is
 * honoured only when the caller asked for "more"; nothing is sent for a
 * oneway call. */
void server_call_reply(struct server_call *call, json_object *params, bool continues);
/* The same with the parameters as JSON text of an object, for replies too
 * large to build as json-c objects (daemon/devjson.h).  Takes `params`, a
 * malloc'd buffer of `len` bytes (no NUL needed). */
void server_call_reply_text(struct server_call *call, char *params, size_t len, bool continues);
/* Sends an error reply; `params` (may be NULL) is consumed. */
void server_call_error(struct server_call *call, const char *error, json_object *params);
/* Makes the call's connection a watcher: from now on it receives every
 * broadcast and no further calls are read from it.  Returns the current
 * sequence number, which the handler sends as its first reply. */
uint64_t server_call_watch(struct server_call *call);

/* Keeps a call past its handler's return, for an answer that comes later
 * (after a worker thread finishes).  Returns a handle holding one reference;
 * the handler's own `call` must not be used for the answer afterwards.
 * Answer the handle once with server_call_reply()/server_call_error(), from
 * the event loop, then drop it with server_call_unref().  Until it is
 * answered no further calls are read from that connection, so replies keep
 * the order of the calls.  If the client goes away meanwhile, the answer is
 * dropped silently; a handle dropped unanswered closes the connection. */
struct server_call *server_call_defer(struct server_call *call);
struct server_call *server_call_ref(struct server_call *call);
void server_call_unref(struct server_call *call);
