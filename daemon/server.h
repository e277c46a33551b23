/* The control socket: Varlink over a Unix stream socket, as a transport.
 *
 * Accepts connections (SOCK_CLOEXEC | SOCK_NONBLOCK), takes each peer's
 * credentials, frames NUL-terminated messages, refuses ones over the size
 * cap, hands every call to the dispatch function it is given
 * (daemon/dispatch.h) and queues what watchers are sent (daemon/watch.h).
 * It knows no method and no device.
 *
 * Limits (docs/protocol.md "Limits"): connections per uid and in total, with
 * room kept for root beyond the total; a refused connection is told
 * TooManyConnections and closed.  A half-sent message is closed after a
 * timeout, an idle connection after a longer one.  Input is never buffered
 * beyond max_message per connection (reading stops instead), calls are not
 * run while a connection's unread output is above out_high, and one budget
 * covers every buffer: over it, the largest holders are throttled. */
#pragma once

#include "common/errors.h"
#include "common/varlink.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct server;
struct server_call;

#define HD_PEER_MAX_GROUPS 64

/* Who is on the other end of a connection, from SO_PEERCRED and
 * SO_PEERGROUPS at accept: what the peer was when it connected. */
struct hd_peer {
	uid_t uid; /* (uid_t)-1 when the kernel would not say */
	gid_t gid;
	pid_t pid;
	size_t n_groups; /* supplementary groups, at most HD_PEER_MAX_GROUPS */
	gid_t groups[HD_PEER_MAX_GROUPS];
};

/* Runs one call: it must answer it (server_call_reply/error/err) before it
 * returns, or keep it (server_call_defer). */
typedef void (*server_dispatch_fn)(void *ctx, struct server_call *call, const struct vl_call *vc);

/* Zero in a field means its default. */
struct server_config {
	const char *socket_path;
	size_t max_message;  /* bytes; larger requests are refused and the connection closed */
	size_t max_outbuf;   /* bytes of unread replies before a client is dropped */
	unsigned socket_mode; /* e.g. 0660 */
	/* How long a connection being closed (after RequestTooLarge or
	 * WatcherTooSlow) may take to read its last reply; default 5000 ms. */
	unsigned drain_timeout_ms;
	/* Connections a non-root peer may open: in total (default: the soft
	 * RLIMIT_NOFILE less SERVER_FD_RESERVE and root_conns) and per uid. */
	size_t max_conns;
	size_t max_conns_per_uid;
	size_t root_conns;         /* root's room beyond max_conns */
	unsigned partial_timeout_ms; /* an incomplete message may wait this long */
	unsigned idle_timeout_ms;  /* no traffic, no call in flight, no watch */
	size_t memory_budget;      /* bytes of input and output over all connections */
	size_t out_high;           /* unread output above which calls wait */
	server_dispatch_fn dispatch; /* required */
	void *dispatch_ctx;
};

#define SERVER_DEFAULT_MAX_OUTBUF (16u * 1024 * 1024)
#define SERVER_DEFAULT_SOCKET_MODE 0660
#define SERVER_DEFAULT_DRAIN_TIMEOUT_MS 5000
#define SERVER_DEFAULT_MAX_CONNS_PER_UID 128
#define SERVER_DEFAULT_ROOT_CONNS 32
/* Descriptors kept for the daemon's own files: the lock and state files
 * (and their temporary copies and directory), sysfs reads of a uevent and of
 * a worker's steps, the udev and kernel monitors, libevent's epoll, signal
 * and wake-up pipes, syslog, the listening socket; about 20 at the busiest,
 * kept threefold. */
#define SERVER_FD_RESERVE 64
#define SERVER_DEFAULT_PARTIAL_TIMEOUT_MS 10000
#define SERVER_DEFAULT_IDLE_TIMEOUT_MS (10u * 60 * 1000)
#define SERVER_DEFAULT_MEMORY_BUDGET (64u * 1024 * 1024)
#define SERVER_DEFAULT_OUT_HIGH (256u * 1024)
/* Descriptors (server_call_reply_fd) a connection may have waiting for
 * the peer to read before its further calls wait too: a client that never
 * reads cannot make the daemon hold its files without bound. */
#define SERVER_MAX_QUEUED_FDS 4

struct server *server_new(struct event_base *base, const struct server_config *cfg);
/* Binds (replacing a stale socket file) and listens.  Returns 0 or -errno. */
int server_start(struct server *s);
void server_free(struct server *s);
/* Gives the socket file to group `gid` (the policy's socket_group), keeping
 * its mode: members of the group may connect.  Logged on failure. */
void server_set_group(struct server *s, gid_t gid);

/* Queues one message (`len` bytes, its NUL included) for every watcher.  A
 * watcher that left too much unread is told WatcherTooSlow, naming
 * `last_sent`, the sequence number of the message before this one, and
 * dropped. */
void server_broadcast(struct server *s, const char *msg, size_t len, uint64_t last_sent);

size_t server_client_count(const struct server *s);
size_t server_watcher_count(const struct server *s);
/* Bytes held in every connection's input and output buffers. */
size_t server_buffered(const struct server *s);
/* The connection limit for peers other than root, after defaults. */
size_t server_max_conns(const struct server *s);

/* One call being answered, handed to the dispatch function.
 * Valid until the handler returns, unless deferred. */
const struct hd_peer *server_call_peer(const struct server_call *call);
struct server *server_call_server(const struct server_call *call);

/* Sends the reply.  `params` (may be NULL) is consumed.  `continues` is
 * honoured only when the caller asked for "more"; nothing is sent for a
 * oneway call. */
void server_call_reply(struct server_call *call, json_object *params, bool continues);
/* Sends the reply with one open descriptor beside it (SCM_RIGHTS, in the
 * same sendmsg as the reply's first byte, as sd-varlink passes them): the
 * reply's parameters name it as index 0.  Takes `fd` in every case: it is
 * closed once sent, or at once when the reply cannot go (oneway, the peer
 * gone or dropped), or with the connection.  Never "continues". */
void server_call_reply_fd(struct server_call *call, json_object *params, int fd);
/* The same with the parameters as JSON text of an object, for replies too
 * large to build as json-c objects (common/jsonbuf.h).  Takes `params`, a
 * malloc'd buffer of `len` bytes (no NUL needed). */
void server_call_reply_text(struct server_call *call, char *params, size_t len, bool continues);
/* Sends an error reply; `params` (may be NULL) is consumed. */
void server_call_error(struct server_call *call, const char *error, json_object *params);
/* The same from the one error type: its name and parameters as the error
 * table lays them out (common/errors.h). */
void server_call_err(struct server_call *call, const struct hd_err *e);
/* Makes the call's connection a watcher: from now on it receives every
 * broadcast and no further calls are read from it. */
void server_call_watch(struct server_call *call);

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
