#include "daemon/server.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define READ_CHUNK 65536
#define ACCEPT_BATCH 64
#define ACCEPT_BACKOFF_S 1

struct conn {
	struct server *server;
	int fd;
	struct hd_peer peer;
	struct event *read_ev, *write_ev;
	struct event *drain_ev; /* only while draining */
	struct event *resume_ev; /* reads the held calls once a deferred one is answered */
	struct server_call *pending; /* a deferred call not answered yet */
	unsigned call_refs; /* deferred calls still referenced: they keep the memory */
	struct evbuffer *in, *out;
	size_t scanned;   /* leading bytes of `in` known to hold no NUL */
	bool watching;    /* a Watch call owns the connection */
	bool draining;    /* no further calls: close once the output is flushed */
	bool write_shut;  /* output flushed and shut; waiting for the peer to hang up */
	bool eof;         /* the peer will send nothing more */
	bool dispatching; /* a handler runs: freeing waits until it returns */
	bool dead;
	struct conn *prev, *next;
	struct conn *watch_prev, *watch_next;
};

struct server {
	struct event_base *base;
	server_dispatch_fn dispatch;
	void *dispatch_ctx;
	char *socket_path;
	size_t max_message, max_outbuf, watch_limit;
	unsigned socket_mode;
	struct timeval drain_timeout;
	int listen_fd;
	ino_t socket_ino; /* of the socket file we bound, to remove only ours */
	bool have_gid;    /* server_set_group() was called */
	gid_t socket_gid;
	struct event *accept_ev, *backoff_ev;
	struct conn *conns, *watchers;
	size_t n_conns, n_watchers;
};

struct server_call {
	struct conn *conn;
	const char *method;
	bool more, oneway;
	bool replied;
	bool deferred;  /* the handler kept it: the answer comes later */
	unsigned refs;  /* a deferred handle's references; 0 on the stack */
	char *method_copy;
};

static void conn_flush(struct conn *c);

/* ---- connection lifetime ---------------------------------------------- */

static void watcher_unlink(struct conn *c)
{
	struct server *s = c->server;

	if (!c->watching)
		return;
	if (c->watch_prev)
		c->watch_prev->watch_next = c->watch_next;
	else
		s->watchers = c->watch_next;
	if (c->watch_next)
		c->watch_next->watch_prev = c->watch_prev;
	c->watch_prev = c->watch_next = NULL;
	c->watching = false;
	s->n_watchers--;
}

static void conn_destroy(struct conn *c)
{
	event_free(c->read_ev);
	event_free(c->resume_ev);
	event_free(c->write_ev);
	if (c->drain_ev)
		event_free(c->drain_ev);
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	free(c);
}

/* Unhooks the connection at once; the memory goes when no handler is
 * running on it any more. */
static void conn_free(struct conn *c)
{
	struct server *s = c->server;

	if (c->dead)
		return;
	c->dead = true;
	watcher_unlink(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	event_del(c->read_ev);
	event_del(c->write_ev);
	event_del(c->resume_ev);
	if (c->drain_ev)
		event_del(c->drain_ev);
	close(c->fd);
	c->fd = -1;
	log_debug("client pid %d uid %d disconnected", (int)c->peer.pid, (int)c->peer.uid);
	if (!c->dispatching && !c->call_refs)
		conn_destroy(c);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	log_info("client pid %d uid %d did not read its last reply in time: closing",
		 (int)c->peer.pid, (int)c->peer.uid);
	conn_free(c);
}

/* Stops taking calls from c; it is closed once its output is read (or the
 * drain timeout passes), so its last reply, an error, gets through.  The
 * next flush of the output finishes the job. */
static void conn_start_drain(struct conn *c)
{
	struct server *s = c->server;

	if (c->draining || c->dead)
		return;
	c->draining = true;
	watcher_unlink(c);
	c->drain_ev = evtimer_new(s->base, on_drain_timeout, c);
	if (!c->drain_ev)
		fatal("out of memory");
	evtimer_add(c->drain_ev, &s->drain_timeout);
}

/* The last reply has left: hang up our side, then wait for the peer to do
 * the same so that closing does not reset the connection under a reply it
 * has not read yet. */
static void conn_drained(struct conn *c)
{
	if (c->eof) {
		conn_free(c);
		return;
	}
	if (!c->write_shut) {
		shutdown(c->fd, SHUT_WR);
		c->write_shut = true;
	}
}

/* ---- output ----------------------------------------------------------- */

static void conn_flush(struct conn *c)
{
	while (evbuffer_get_length(c->out) > 0) {
		struct evbuffer_iovec vec[16];
		int nvec = evbuffer_peek(c->out, -1, NULL, vec, (int)ARRAY_SIZE(vec));
		/* evbuffer_iovec is struct iovec on POSIX systems. */
		struct msghdr mh = { .msg_iov = (struct iovec *)vec,
				     .msg_iovlen = (size_t)(nvec < 16 ? nvec : 16) };
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(c->write_ev, NULL);
			return;
		}
		if (n < 0) {
			log_debug("client pid %d: write: %s", (int)c->peer.pid, strerror(errno));
			conn_free(c);
			return;
		}
		evbuffer_drain(c->out, (size_t)n);
	}
	event_del(c->write_ev);
	if (c->draining)
		conn_drained(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	conn_flush(arg);
}

static void free_reply(const void *data, size_t len, void *arg)
{
	free((void *)data);
}

/* A client that left more than max_outbuf unread is not reading: it is
 * dropped rather than buffered for.  The cap counts what was pending before
 * a message, so one large reply to a client that reads is fine. */
static bool conn_may_send(struct conn *c)
{
	size_t pending = evbuffer_get_length(c->out);

	if (pending <= c->server->max_outbuf)
		return true;
	log_warn("client pid %d uid %d left %zu bytes of replies unread (limit %zu): dropping it",
		 (int)c->peer.pid, (int)c->peer.uid, pending, c->server->max_outbuf);
	conn_free(c);
	return false;
}

static void out_add(struct conn *c, const void *data, size_t len)
{
	if (evbuffer_add(c->out, data, len) < 0)
		fatal("out of memory");
}

/* Hands `buf` (malloc'd) to the output without copying it. */
static void out_add_owned(struct conn *c, char *buf, size_t len)
{
	if (evbuffer_add_reference(c->out, buf, len, free_reply, NULL) < 0)
		fatal("out of memory");
}

static void conn_kick(struct conn *c)
{
	/* A pending write event means the socket was full: no use trying now. */
	if (!event_pending(c->write_ev, EV_WRITE, NULL))
		conn_flush(c);
}

/* Queues one whole message, taking `buf`. */
static void conn_send(struct conn *c, char *buf, size_t len)
{
	if (!conn_may_send(c)) {
		free(buf);
		return;
	}
	out_add_owned(c, buf, len);
	conn_kick(c);
}

static void conn_send_error(struct conn *c, const char *error, json_object *params)
{
	size_t len;
	char *buf = vl_format_error(error, params, &len);

	json_object_put(params);
	conn_send(c, buf, len);
}

/* The transport's own errors, through the error table like every other. */
static void conn_send_err(struct conn *c, const struct hd_err *e)
{
	conn_send_error(c, err_name(e->code), err_params(e));
}

/* ---- input ------------------------------------------------------------ */

static void conn_refuse_too_large(struct conn *c)
{
	struct hd_err e;

	log_info("client pid %d uid %d sent a message over %zu bytes: closing", (int)c->peer.pid,
		 (int)c->peer.uid, c->server->max_message);
	err_set(&e, HDE_REQUEST_TOO_LARGE, NULL);
	e.number = (int64_t)c->server->max_message;
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	conn_start_drain(c);
	conn_send_err(c, &e);
}

static void conn_handle_message(struct conn *c, size_t len)
{
	struct server *s = c->server;
	const char *msg = (const char *)evbuffer_pullup(c->in, (ev_ssize_t)len + 1);
	json_object *root;
	struct vl_call vc;
	const char *reason;

	if (vl_parse_call(msg, len, &root, &vc, &reason) < 0) {
		struct hd_err e;

		log_debug("client pid %d: invalid request: %s", (int)c->peer.pid, reason);
		err_reason(&e, HDE_INVALID_REQUEST, NULL, "%s", reason);
		conn_send_err(c, &e);
	} else {
		struct server_call call = {
			.conn = c, .method = vc.method, .more = vc.more, .oneway = vc.oneway
		};

		s->dispatch(s->dispatch_ctx, &call, &vc);
		if (!call.replied && !call.oneway && !call.deferred)
			fatal("method %s returned without replying", vc.method);
		json_object_put(root);
	}
	evbuffer_drain(c->in, len + 1);
}

/* Runs every complete message in the input, in order.  A watcher's further
 * input is held, not run: its connection belongs to the Watch stream. */
static void conn_process(struct conn *c)
{
	size_t max = c->server->max_message;

	c->dispatching = true;
	while (!c->dead && !c->draining && !c->watching && !c->pending) {
		struct evbuffer_ptr p;

		evbuffer_ptr_set(c->in, &p, c->scanned, EVBUFFER_PTR_SET);
		p = evbuffer_search(c->in, "", 1, &p);
		if (p.pos < 0) {
			c->scanned = evbuffer_get_length(c->in);
			if (c->scanned > max)
				conn_refuse_too_large(c);
			break;
		}
		c->scanned = 0;
		if ((size_t)p.pos > max) {
			conn_refuse_too_large(c);
			break;
		}
		conn_handle_message(c, (size_t)p.pos);
	}
	if (!c->dead && c->watching && evbuffer_get_length(c->in) > max)
		conn_refuse_too_large(c);
	/* The peer hung up while a deferred call held its input: now that
	 * everything it sent is answered, finish as conn_eof() would have. */
	if (!c->dead && c->eof && !c->pending && !c->draining) {
		if (evbuffer_get_length(c->out) == 0)
			conn_free(c);
		else
			conn_start_drain(c);
	}
	c->dispatching = false;
	if (c->dead && !c->call_refs)
		conn_destroy(c);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	conn_process(arg);
}

static void conn_eof(struct conn *c)
{
	c->eof = true;
	event_del(c->read_ev);
	/* A call still being worked on is answered first (conn_process). */
	if (c->pending)
		return;
	/* A watcher that hangs up is gone; a caller may have replies to read. */
	if (c->watching || evbuffer_get_length(c->out) == 0) {
		conn_free(c);
		return;
	}
	/* Output left means the socket is full: the write event flushes it. */
	conn_start_drain(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	int n = evbuffer_read(c->in, fd, READ_CHUNK);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n < 0) {
		log_debug("client pid %d: read: %s", (int)c->peer.pid, strerror(errno));
		conn_free(c);
	} else if (n == 0) {
		conn_eof(c);
	} else if (c->draining) {
		/* Closing: what the client still sends is read only to be dropped. */
		evbuffer_drain(c->in, evbuffer_get_length(c->in));
	} else {
		conn_process(c);
	}
}

/* ---- accepting -------------------------------------------------------- */

/* The peer's supplementary groups as they were at connect (Linux 4.13):
 * a client entry may name a group the peer is in but not its primary.
 * A peer in more groups than fit gets the rights of its uid and primary
 * group only, and the log says so. */
static void peer_groups(int fd, struct hd_peer *peer)
{
	socklen_t len = sizeof(peer->groups);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, peer->groups, &len) == 0) {
		peer->n_groups = len / sizeof(gid_t);
		return;
	}
	if (errno == ERANGE) {
		log_warn("client pid %d is in more than %d groups: only its uid and primary "
			 "group count",
			 (int)peer->pid, HD_PEER_MAX_GROUPS);
		peer->n_groups = 0;
		return;
	}
	log_debug("client pid %d: SO_PEERGROUPS: %s", (int)peer->pid, strerror(errno));
}

static void conn_new(struct server *s, int fd)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	struct ucred cred;
	socklen_t len = sizeof(cred);

	c->server = s;
	c->fd = fd;
	/* A peer the kernel cannot name gets no more than anyone else. */
	c->peer = (struct hd_peer){ .uid = (uid_t)-1, .gid = (gid_t)-1, .pid = 0 };
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		c->peer = (struct hd_peer){ .uid = cred.uid, .gid = cred.gid, .pid = cred.pid };
		peer_groups(fd, &c->peer);
	} else {
		log_warn("client on fd %d: SO_PEERCRED: %s", fd, strerror(errno));
	}
	c->read_ev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->write_ev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->resume_ev = event_new(s->base, -1, 0, on_resume, c);
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	if (!c->read_ev || !c->write_ev || !c->resume_ev || !c->in || !c->out)
		fatal("out of memory");
	event_add(c->read_ev, NULL);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	log_debug("client pid %d uid %d connected", (int)c->peer.pid, (int)c->peer.uid);
}

static void on_backoff_over(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	event_add(s->accept_ev, NULL);
}

/* Out of descriptors: the pending connection would wake us forever, so stop
 * listening for a while instead of spinning. */
static void accept_backoff(struct server *s, int err)
{
	struct timeval tv = { .tv_sec = ACCEPT_BACKOFF_S };

	log_warn("accept: %s: not accepting clients for %d s", strerror(err), ACCEPT_BACKOFF_S);
	event_del(s->accept_ev);
	evtimer_add(s->backoff_ev, &tv);
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (cfd >= 0) {
			conn_new(s, cfd);
		} else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			   errno == ENOMEM) {
			accept_backoff(s, errno);
			return;
		} else if (errno != EINTR && errno != ECONNABORTED) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("accept: %s", strerror(errno));
			return;
		}
	}
}

/* ---- binding ---------------------------------------------------------- */

/* Someone answers on the socket file: it is live and not ours to take. */
static bool socket_is_live(const struct sockaddr_un *sa)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return true; /* cannot tell: do not remove it */
	return connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN;
}

static int bind_under_umask(int fd, const struct sockaddr_un *sa, unsigned mode)
{
	mode_t old = umask(~(mode_t)mode & 0777);
	int r = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int err = errno;

	umask(old);
	return r < 0 ? -err : 0;
}

static int bind_socket(struct server *s, int fd, const struct sockaddr_un *sa)
{
	struct stat st;
	int r = bind_under_umask(fd, sa, s->socket_mode);

	if (r == -EADDRINUSE) {
		if (lstat(s->socket_path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
			log_error("%s exists and is not a socket: not replacing it", s->socket_path);
			return -EEXIST;
		}
		if (socket_is_live(sa)) {
			log_error("%s: another server is listening there", s->socket_path);
			return -EADDRINUSE;
		}
		log_info("%s: removing a stale socket", s->socket_path);
		unlink(s->socket_path);
		r = bind_under_umask(fd, sa, s->socket_mode);
	}
	if (r < 0) {
		log_error("bind %s: %s", s->socket_path, strerror(-r));
		return r;
	}
	if (stat(s->socket_path, &st) == 0)
		s->socket_ino = st.st_ino;
	return 0;
}

static void apply_group(struct server *s)
{
	/* lchown: the path is ours (bound just now); never follow a link
	 * someone put in its place. */
	if (lchown(s->socket_path, (uid_t)-1, s->socket_gid) < 0)
		log_warn("cannot give %s to group %d: %s", s->socket_path, (int)s->socket_gid,
			 strerror(errno));
}

void server_set_group(struct server *s, gid_t gid)
{
	s->socket_gid = gid;
	s->have_gid = true;
	if (s->listen_fd >= 0)
		apply_group(s);
}

int server_start(struct server *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int r;

	if (strlen(s->socket_path) >= sizeof(sa.sun_path)) {
		log_error("socket path too long (%zu bytes, at most %zu): %s",
			  strlen(s->socket_path), sizeof(sa.sun_path) - 1, s->socket_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, s->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		log_error("socket: %s", strerror(errno));
		return r;
	}
	r = bind_socket(s, fd, &sa);
	if (r < 0)
		return r;
	if (listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		log_error("listen %s: %s", s->socket_path, strerror(errno));
		unlink(s->socket_path);
		return r;
	}
	s->accept_ev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_accept, s);
	s->backoff_ev = evtimer_new(s->base, on_backoff_over, s);
	if (!s->accept_ev || !s->backoff_ev)
		fatal("out of memory");
	event_add(s->accept_ev, NULL);
	s->listen_fd = fd;
	fd = -1;
	if (s->have_gid)
		apply_group(s);
	log_info("listening on %s", s->socket_path);
	return 0;
}

/* ---- the server ------------------------------------------------------- */

struct server *server_new(struct event_base *base, const struct server_config *cfg)
{
	struct server *s = xcalloc(1, sizeof(*s));
	unsigned drain_ms = cfg->drain_timeout_ms ? cfg->drain_timeout_ms
						  : SERVER_DEFAULT_DRAIN_TIMEOUT_MS;

	if (!cfg->socket_path || !*cfg->socket_path)
		fatal("server_new: no socket path");
	if (!cfg->dispatch)
		fatal("server_new: nothing to dispatch calls to");
	s->base = base;
	s->dispatch = cfg->dispatch;
	s->dispatch_ctx = cfg->dispatch_ctx;
	s->socket_path = xstrdup(cfg->socket_path);
	s->max_message = cfg->max_message ? cfg->max_message : VL_DEFAULT_MAX_MESSAGE;
	s->max_outbuf = cfg->max_outbuf ? cfg->max_outbuf : SERVER_DEFAULT_MAX_OUTBUF;
	/* Watchers get half: a slow one is told so while there is room to. */
	s->watch_limit = s->max_outbuf / 2;
	s->socket_mode = cfg->socket_mode ? cfg->socket_mode : SERVER_DEFAULT_SOCKET_MODE;
	s->drain_timeout = (struct timeval){ .tv_sec = drain_ms / 1000,
					     .tv_usec = (drain_ms % 1000) * 1000 };
	s->listen_fd = -1;
	return s;
}

void server_free(struct server *s)
{
	struct stat st;

	if (!s)
		return;
	while (s->conns) {
		/* Only a handler running on a connection could defer its
		 * freeing, and none may run while the server is torn down. */
		if (s->conns->dispatching)
			fatal("server_free from inside a method handler");
		conn_free(s->conns);
	}
	if (s->accept_ev)
		event_free(s->accept_ev);
	if (s->backoff_ev)
		event_free(s->backoff_ev);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		/* Another daemon may have replaced the file since: keep theirs. */
		if (stat(s->socket_path, &st) == 0 && st.st_ino == s->socket_ino)
			unlink(s->socket_path);
	}
	free(s->socket_path);
	free(s);
}

size_t server_client_count(const struct server *s)
{
	return s->n_conns;
}

size_t server_watcher_count(const struct server *s)
{
	return s->n_watchers;
}

/* ---- watchers --------------------------------------------------------- */

/* The watcher holds more unread events than it may: tell it which event it
 * got last and close it, rather than let it grow without bound. */
static void watcher_too_slow(struct conn *c, uint64_t last_sent)
{
	struct hd_err e;

	log_warn("watcher pid %d uid %d left %zu bytes unread: dropping it", (int)c->peer.pid,
		 (int)c->peer.uid, evbuffer_get_length(c->out));
	err_set(&e, HDE_WATCHER_TOO_SLOW, NULL);
	e.number = (int64_t)last_sent;
	conn_start_drain(c);
	conn_send_err(c, &e);
}

void server_broadcast(struct server *s, const char *msg, size_t len, uint64_t last_sent)
{
	struct conn *next;

	for (struct conn *c = s->watchers; c; c = next) {
		next = c->watch_next;
		if (evbuffer_get_length(c->out) > s->watch_limit) {
			watcher_too_slow(c, last_sent);
			continue;
		}
		out_add(c, msg, len);
		conn_kick(c);
	}
}

/* ---- calls ------------------------------------------------------------ */

const struct hd_peer *server_call_peer(const struct server_call *call)
{
	return &call->conn->peer;
}

struct server *server_call_server(const struct server_call *call)
{
	return call->conn->server;
}

static void call_answered(struct server_call *call)
{
	struct conn *c = call->conn;

	if (call->replied)
		fatal("%s: a second answer to one call", call->method);
	if (call->deferred && !call->refs)
		fatal("%s: answered on the handler's copy after server_call_defer()", call->method);
	call->replied = true;
	if (c->pending != call)
		return;
	/* The calls held behind this one may run now, from the loop rather
	 * than from inside whatever answered. */
	c->pending = NULL;
	if (!c->dead)
		event_active(c->resume_ev, EV_TIMEOUT, 1);
}

void server_call_reply(struct server_call *call, json_object *params, bool continues)
{
	size_t len;
	char *buf;

	call_answered(call);
	if (call->oneway || call->conn->dead) {
		json_object_put(params);
		return;
	}
	buf = vl_format_reply(params, continues && call->more, &len);
	json_object_put(params);
	conn_send(call->conn, buf, len);
}

void server_call_reply_text(struct server_call *call, char *params, size_t len, bool continues)
{
	static const char head[] = "{\"parameters\":";
	static const char end[] = "}";                         /* and its NUL */
	static const char end_more[] = ",\"continues\":true}"; /* and its NUL */
	struct conn *c = call->conn;

	call_answered(call);
	if (call->oneway || c->dead || !conn_may_send(c)) {
		free(params);
		return;
	}
	out_add(c, head, sizeof(head) - 1);
	out_add_owned(c, params, len);
	if (continues && call->more)
		out_add(c, end_more, sizeof(end_more));
	else
		out_add(c, end, sizeof(end));
	conn_kick(c);
}

void server_call_error(struct server_call *call, const char *error, json_object *params)
{
	call_answered(call);
	if (call->oneway || call->conn->dead) {
		json_object_put(params);
		return;
	}
	conn_send_error(call->conn, error, params);
}

void server_call_err(struct server_call *call, const struct hd_err *e)
{
	server_call_error(call, err_name(e->code), err_params(e));
}

void server_call_watch(struct server_call *call)
{
	struct conn *c = call->conn;
	struct server *s = c->server;

	if (!c->watching && !c->dead) {
		c->watching = true;
		c->watch_next = s->watchers;
		if (s->watchers)
			s->watchers->watch_prev = c;
		s->watchers = c;
		s->n_watchers++;
	}
}

struct server_call *server_call_defer(struct server_call *call)
{
	struct conn *c = call->conn;
	struct server_call *d;

	if (call->replied || call->deferred || call->refs)
		fatal("%s: server_call_defer on an answered or deferred call", call->method);
	d = xcalloc(1, sizeof(*d));
	d->conn = c;
	d->method_copy = xstrdup(call->method);
	d->method = d->method_copy;
	d->more = call->more;
	d->oneway = call->oneway;
	d->refs = 1;
	call->deferred = true;
	c->call_refs++;
	/* Replies go out in the order the calls came: hold the rest. */
	if (!call->oneway)
		c->pending = d;
	return d;
}

struct server_call *server_call_ref(struct server_call *call)
{
	if (!call->refs)
		fatal("%s: server_call_ref on a call that was not deferred", call->method);
	call->refs++;
	return call;
}

void server_call_unref(struct server_call *call)
{
	struct conn *c;

	if (!call)
		return;
	if (!call->refs)
		fatal("%s: server_call_unref on a call that was not deferred", call->method);
	if (--call->refs)
		return;
	c = call->conn;
	/* Dropped unanswered (the daemon is stopping): the peer gets no
	 * answer, and must not wait forever for one. */
	if (!call->replied && !call->oneway && !c->dead) {
		log_warn("client pid %d: %s dropped without an answer: closing", (int)c->peer.pid,
			 call->method);
		conn_free(c);
	}
	if (c->pending == call)
		c->pending = NULL;
	free(call->method_copy);
	free(call);
	if (--c->call_refs == 0 && c->dead && !c->dispatching)
		conn_destroy(c);
}
