#include "daemon/server.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define READ_CHUNK 65536
#define ACCEPT_BATCH 64
#define ACCEPT_BACKOFF_S 1
/* Over the memory budget a connection holding no more than this is still
 * read: a small call (root's GetInfo) always gets through. */
#define BUDGET_SMALL (64 * 1024)
/* Memory freed since the last malloc_trim() that is worth returning. */
#define TRIM_AFTER (8u * 1024 * 1024)

struct conn {
	struct server *server;
	int fd;
	struct hd_peer peer;
	struct event *read_ev, *write_ev;
	struct event *drain_ev; /* only while draining */
	struct event *resume_ev; /* reads the held calls once a deferred one is answered */
	struct server_call *pending; /* a deferred call not answered yet */
	unsigned call_refs; /* deferred calls still referenced: they keep the memory */
	struct event *timer_ev; /* the partial-message and idle timeouts */
	struct event *closed_ev; /* the peer hung up while it is not read */
	struct evbuffer *in, *out;
	size_t scanned;   /* leading bytes of `in` known to hold no NUL */
	size_t held;      /* bytes of in + out, as counted in the server's total */
	uint64_t last_active_ns; /* the last byte read or written, the last answer */
	uint64_t partial_since_ns; /* an incomplete message began waiting; 0: none */
	uint64_t last_queued_seq;  /* a watcher's last event queued */
	struct uid_count *uidc;    /* this peer's uid's connection count */
	bool reading;     /* the read event is added */
	bool throttled;   /* over the memory budget: not read, calls wait */
	bool out_blocked; /* calls wait for the peer to read its replies */
	bool watching;    /* a Watch call owns the connection */
	bool draining;    /* no further calls: close once the output is flushed */
	bool write_shut;  /* output flushed and shut; waiting for the peer to hang up */
	bool eof;         /* the peer will send nothing more */
	bool dispatching; /* a handler runs: freeing waits until it returns */
	bool dead;
	struct conn *prev, *next;
	struct conn *watch_prev, *watch_next;
	/* Descriptors to send, each with the first byte of its message
	 * (SCM_RIGHTS), oldest first; out_sent counts the bytes of `out`
	 * written since the connection began, the offsets' origin. */
	struct out_fd *fds, **fds_tail;
	size_t n_fds;
	uint64_t out_sent;
};

/* A descriptor owed to the peer: sent with the byte at stream offset `at`
 * (the start of its reply), closed once sent or when the connection goes. */
struct out_fd {
	uint64_t at;
	size_t len; /* the message's, its NUL included */
	int fd;
	struct out_fd *next;
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
	bool activated;   /* the socket came from systemd (LISTEN_FDS): not ours to remove */
	gid_t socket_gid;
	struct event *accept_ev, *backoff_ev, *trim_ev;
	struct conn *conns, *watchers;
	size_t n_conns, n_watchers;
	size_t n_root; /* connections of uid 0, counted apart from the others */
	size_t max_conns, max_conns_per_uid, root_conns;
	unsigned partial_ms, idle_ms;
	size_t budget, out_high;
	size_t held_total;  /* every connection's `held` */
	size_t released;    /* bytes freed since the last trim */
	size_t n_throttled;
	bool over_budget;   /* logged once per crossing */
	uint64_t refused_logged_ms; /* refusals are logged at most once a second */
	size_t refused_quiet;       /* refusals since, not logged */
	struct uid_count *uids; /* connections per uid, one entry per uid seen */
	size_t n_uids;
};

struct uid_count {
	uid_t uid;
	size_t n;
	struct uid_count *next;
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
static void conn_update_read(struct conn *c);
static void conn_free(struct conn *c);

static uint64_t now_ms(void)
{
	return now_ns() / 1000000;
}

/* Connection deadlines are kept in nanoseconds: counted in whole
 * milliseconds, a timeout could end up to one millisecond short. */
static uint64_t ms_to_ns(unsigned ms)
{
	return (uint64_t)ms * 1000000;
}

/* ---- the memory budget ------------------------------------------------ */

/* Whether the connection's unsent output is too much to run more calls:
 * bytes over out_high, or SERVER_MAX_QUEUED_FDS descriptors waiting (each
 * an open file of the daemon's until the peer reads). */
static bool conn_output_full(const struct conn *c)
{
	return evbuffer_get_length(c->out) > c->server->out_high ||
	       c->n_fds >= SERVER_MAX_QUEUED_FDS;
}

/* Calls wait (and input beyond one message is not read) while one is
 * deferred, while the connection is a watcher's or while its peer has more
 * than out_high of replies (or SERVER_MAX_QUEUED_FDS descriptors) unread. */
static bool conn_held(const struct conn *c)
{
	return c->pending || c->watching || conn_output_full(c);
}

static void conn_throttle(struct conn *c)
{
	if (c->throttled || c->dead)
		return;
	log_debug("client pid %d uid %d holds %zu bytes with the daemon over its memory budget "
		  "(%zu of %zu): not reading it for now",
		 (int)c->peer.pid, (int)c->peer.uid, c->held, c->server->held_total,
		 c->server->budget);
	c->throttled = true;
	c->server->n_throttled++;
	conn_update_read(c);
}

/* Back under three quarters of the budget: everyone is read again, and
 * the calls that waited run (from the loop). */
static void server_unthrottle(struct server *s)
{
	for (struct conn *c = s->conns; c; c = c->next) {
		if (!c->throttled)
			continue;
		c->throttled = false;
		conn_update_read(c);
		event_active(c->resume_ev, EV_TIMEOUT, 1);
	}
	s->n_throttled = 0;
}

/* Over the budget, the connection holding the most is throttled, and so is
 * `c`, the one that just grew, unless it holds little: whoever floods is
 * stopped, a small call still gets through. */
static void server_over_budget(struct server *s, struct conn *c)
{
	struct conn *largest = NULL;

	for (struct conn *o = s->conns; o; o = o->next)
		if (!o->throttled && !o->watching && (!largest || o->held > largest->held))
			largest = o;
	if (largest && largest->held > BUDGET_SMALL)
		conn_throttle(largest);
	if (c && !c->watching && c->held > BUDGET_SMALL)
		conn_throttle(c);
}

/* Counts what c holds now into the server's total and acts on the budget.
 * Never frees anything: callable anywhere. */
static void conn_account(struct conn *c)
{
	struct server *s = c->server;
	size_t now = c->dead ? 0 : evbuffer_get_length(c->in) + evbuffer_get_length(c->out);
	size_t old = c->held;

	if (now >= c->held) {
		s->held_total += now - c->held;
	} else {
		s->held_total -= c->held - now;
		s->released += c->held - now;
	}
	c->held = now;
	if (s->held_total > s->budget && !s->over_budget) {
		s->over_budget = true;
		log_warn("clients' buffers hold %zu bytes, over the memory budget of %zu: the "
			 "largest holders wait",
			 s->held_total, s->budget);
	} else if (s->held_total <= s->budget / 4 * 3) {
		s->over_budget = false;
	}
	if (s->held_total > s->budget && now > old)
		server_over_budget(s, c);
	else if (s->n_throttled && s->held_total <= s->budget / 4 * 3)
		server_unthrottle(s);
	if (s->released >= TRIM_AFTER && !event_pending(s->trim_ev, EV_TIMEOUT, NULL))
		event_active(s->trim_ev, EV_TIMEOUT, 1);
}

/* After big buffers are freed, glibc keeps the pages unless asked: give
 * them back, so a flood that ended leaves the daemon's size as it was. */
static void on_trim(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	s->released = 0;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* Reading stops when the peer may not send more now: it hung up, it is
 * throttled, or its calls wait and it has a whole message's worth unread.
 * The kernel's socket buffer then pushes back on the peer. */
static void conn_update_read(struct conn *c)
{
	struct server *s = c->server;
	bool want;

	if (c->dead)
		return;
	if (c->draining)
		want = !c->eof; /* read only to be dropped */
	else
		want = !c->eof && !c->throttled &&
		       !(conn_held(c) && evbuffer_get_length(c->in) > s->max_message);
	if (want && !c->reading) {
		event_add(c->read_ev, NULL);
		event_del(c->closed_ev);
	} else if (!want && c->reading) {
		event_del(c->read_ev);
		if (!c->eof)
			event_add(c->closed_ev, NULL);
	}
	c->reading = want;
}

/* A peer not read from may still go away: then what it holds goes now,
 * not at a timeout.  A half-close (it still waits for its answers) is
 * seen when reading resumes. */
static void on_peer_closed(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR))) {
		log_debug("client pid %d uid %d hung up while not being read", (int)c->peer.pid,
			  (int)c->peer.uid);
		conn_free(c);
	}
}

/* ---- timeouts --------------------------------------------------------- */

static void conn_arm_timer(struct conn *c)
{
	struct server *s = c->server;
	uint64_t now = now_ns(), due = c->last_active_ns + ms_to_ns(s->idle_ms);
	struct timeval tv;

	if (c->dead)
		return;
	if (c->partial_since_ns && c->partial_since_ns + ms_to_ns(s->partial_ms) < due)
		due = c->partial_since_ns + ms_to_ns(s->partial_ms);
	due = due > now ? due - now : 0;
	/* Rounded up to the microsecond: the timer never fires before the
	 * deadline on_timer checks (if early, on_timer only re-arms). */
	due = (due + 999) / 1000;
	tv = (struct timeval){ .tv_sec = (time_t)(due / 1000000), .tv_usec = (long)(due % 1000000) };
	evtimer_add(c->timer_ev, &tv);
}

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
	event_free(c->timer_ev);
	event_free(c->closed_ev);
	if (c->drain_ev)
		event_free(c->drain_ev);
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	free(c);
}

/* Closes the descriptors whose messages left the output unsent (a slow
 * watcher's dropped backlog). */
static void conn_trim_fds(struct conn *c)
{
	uint64_t end = c->out_sent + evbuffer_get_length(c->out);

	for (struct out_fd **pp = &c->fds; *pp;) {
		struct out_fd *o = *pp;

		if (o->at < end) {
			pp = &o->next;
			continue;
		}
		*pp = o->next;
		close(o->fd);
		free(o);
		c->n_fds--;
	}
	c->fds_tail = &c->fds;
	while (*c->fds_tail)
		c->fds_tail = &(*c->fds_tail)->next;
}

/* Closes the descriptors the peer will never get now. */
static void conn_drop_fds(struct conn *c)
{
	while (c->fds) {
		struct out_fd *o = c->fds;

		c->fds = o->next;
		close(o->fd);
		free(o);
	}
	c->n_fds = 0;
	c->fds_tail = &c->fds;
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
	if (c->uidc)
		c->uidc->n--;
	if (c->peer.uid == 0)
		s->n_root--;
	if (c->throttled)
		s->n_throttled--;
	conn_account(c); /* counts nothing now that it is dead */
	event_del(c->timer_ev);
	event_del(c->closed_ev);
	event_del(c->read_ev);
	event_del(c->write_ev);
	event_del(c->resume_ev);
	if (c->drain_ev)
		event_del(c->drain_ev);
	close(c->fd);
	c->fd = -1;
	conn_drop_fds(c);
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
	event_del(c->timer_ev);
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

/* The peer read enough of its replies: the calls that waited may run. */
static void conn_output_read(struct conn *c)
{
	if (c->out_blocked && !conn_output_full(c)) {
		c->out_blocked = false;
		event_active(c->resume_ev, EV_TIMEOUT, 1);
	}
}

/* A descriptor goes with its message's first byte in a sendmsg of that
 * message alone, and no earlier write reaches into its message: the
 * kernel keeps the bytes of one write that carried descriptors apart (a
 * recvmsg that returns the descriptor ends inside that write's bytes), so
 * the peer finds the descriptor in the read that ends inside its reply,
 * never beside another reply (sd-varlink writes such messages alone too). */
static void conn_flush(struct conn *c)
{
	while (evbuffer_get_length(c->out) > 0) {
		struct evbuffer_iovec vec[16];
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int))];
		} ctl;
		struct out_fd *o = c->fds;
		ssize_t limit = -1, n;
		int nvec;
		struct msghdr mh = { 0 };

		if (o && o->at == c->out_sent) {
			struct cmsghdr *cm;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = sizeof(ctl.buf);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &o->fd, sizeof(int));
			limit = (ssize_t)o->len;
		} else if (o) {
			limit = (ssize_t)(o->at - c->out_sent);
		}
		nvec = evbuffer_peek(c->out, limit, NULL, vec, (int)ARRAY_SIZE(vec));
		/* evbuffer_iovec is struct iovec on POSIX systems. */
		mh.msg_iov = (struct iovec *)vec;
		mh.msg_iovlen = (size_t)(nvec < 16 ? nvec : 16);
		if (limit >= 0) {
			/* evbuffer_peek() hands whole chunks: trim to the limit. */
			size_t total = 0;

			for (size_t i = 0; i < mh.msg_iovlen; i++) {
				if (total + vec[i].iov_len > (size_t)limit)
					vec[i].iov_len = (size_t)limit - total;
				total += vec[i].iov_len;
			}
		}
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
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
		if (mh.msg_control && n > 0) {
			/* Sent: the peer holds its own copy now. */
			c->fds = o->next;
			if (!c->fds)
				c->fds_tail = &c->fds;
			close(o->fd);
			free(o);
			c->n_fds--;
		}
		evbuffer_drain(c->out, (size_t)n);
		c->out_sent += (uint64_t)n;
		c->last_active_ns = now_ns();
		conn_account(c);
		conn_output_read(c);
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
	conn_account(c);
}

/* Hands `buf` (malloc'd) to the output without copying it. */
static void out_add_owned(struct conn *c, char *buf, size_t len)
{
	if (evbuffer_add_reference(c->out, buf, len, free_reply, NULL) < 0)
		fatal("out of memory");
	conn_account(c);
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
	conn_account(c);
	conn_start_drain(c);
	conn_send_err(c, &e);
}

/* Part of a message waited longer than the partial timeout: a peer that
 * trickles (or parks) bytes does not keep a connection and its buffer. */
static void conn_refuse_partial(struct conn *c)
{
	struct hd_err e;
	unsigned ms = c->server->partial_ms;

	log_info("client pid %d uid %d left %zu bytes of an incomplete message for %u ms: closing",
		 (int)c->peer.pid, (int)c->peer.uid, evbuffer_get_length(c->in), ms);
	err_reason(&e, HDE_INVALID_REQUEST, NULL,
		   "the message was not completed (no NUL) within %u.%03u s", ms / 1000, ms % 1000);
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	conn_account(c);
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
	c->partial_since_ns = 0;
	c->last_active_ns = now_ns();
	conn_account(c);
}

/* Runs every complete message in the input, in order.  A watcher's further
 * input is held, not run: its connection belongs to the Watch stream.  So
 * are the calls of a throttled peer, and of one that leaves more than
 * out_high of replies, or SERVER_MAX_QUEUED_FDS descriptors, unread
 * (backpressure: it gets them once it reads). */
static void conn_process(struct conn *c)
{
	struct server *s = c->server;
	size_t max = s->max_message;

	c->dispatching = true;
	while (!c->dead && !c->draining && !c->watching && !c->pending && !c->throttled) {
		struct evbuffer_ptr p;

		if (conn_output_full(c)) {
			c->out_blocked = true;
			break;
		}
		evbuffer_ptr_set(c->in, &p, c->scanned, EVBUFFER_PTR_SET);
		p = evbuffer_search(c->in, "", 1, &p);
		if (p.pos < 0) {
			c->scanned = evbuffer_get_length(c->in);
			if (c->scanned > max) {
				conn_refuse_too_large(c);
			} else if (c->scanned && !c->partial_since_ns) {
				c->partial_since_ns = now_ns();
				conn_arm_timer(c);
			}
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
	/* The peer hung up while its calls waited: now that everything it
	 * sent is answered, finish as conn_eof() would have. */
	if (!c->dead && c->eof && !c->pending && !c->draining && !c->watching &&
	    !c->throttled && !c->out_blocked) {
		if (evbuffer_get_length(c->out) == 0)
			conn_free(c);
		else
			conn_start_drain(c);
	}
	conn_update_read(c);
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
	conn_update_read(c);
	/* A watcher that hangs up is gone; a caller may have replies to read. */
	if (c->watching || (c->draining && evbuffer_get_length(c->out) == 0)) {
		conn_free(c);
		return;
	}
	if (c->draining)
		return; /* the write event flushes the rest */
	/* Calls still held (a deferred one, replies unread, throttled) are
	 * answered first; conn_process() finishes. */
	conn_process(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	size_t have = evbuffer_get_length(c->in), cap = c->server->max_message + 1;
	int n;

	/* Calls that wait leave their input unread beyond one whole message
	 * (and its NUL): no more is taken in than the cap allows. */
	if (!c->draining && conn_held(c)) {
		if (have >= cap) {
			conn_update_read(c);
			return;
		}
		n = evbuffer_read(c->in, fd, (int)(cap - have < READ_CHUNK ? cap - have : READ_CHUNK));
	} else {
		n = evbuffer_read(c->in, fd, READ_CHUNK);
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n < 0) {
		log_debug("client pid %d: read: %s", (int)c->peer.pid, strerror(errno));
		conn_free(c);
		return;
	}
	if (n == 0) {
		conn_eof(c);
		return;
	}
	c->last_active_ns = now_ns();
	if (c->draining) {
		/* Closing: what the client still sends is read only to be dropped. */
		evbuffer_drain(c->in, evbuffer_get_length(c->in));
		return;
	}
	conn_account(c);
	conn_process(c);
}

/* The partial-message and idle timeouts, checked lazily: the timer is
 * pushed back rather than re-added on every byte. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct server *s = c->server;
	uint64_t now = now_ns();

	if (c->dead || c->draining)
		return;
	if (c->partial_since_ns && now >= c->partial_since_ns + ms_to_ns(s->partial_ms)) {
		conn_refuse_partial(c);
		return;
	}
	if (!c->watching && !c->pending && now >= c->last_active_ns + ms_to_ns(s->idle_ms)) {
		log_info("client pid %d uid %d idle for %u ms: closing", (int)c->peer.pid,
			 (int)c->peer.uid, s->idle_ms);
		conn_free(c);
		return;
	}
	if (c->watching || c->pending)
		c->last_active_ns = now; /* not idle: look again a period later */
	conn_arm_timer(c);
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

static struct uid_count *uid_count_of(struct server *s, uid_t uid)
{
	struct uid_count *u;

	for (u = s->uids; u; u = u->next)
		if (u->uid == uid)
			return u;
	u = xcalloc(1, sizeof(*u));
	u->uid = uid;
	u->next = s->uids;
	s->uids = u;
	return u;
}

/* Whether a new connection of `peer` would pass a limit; if not, why.
 * Root is not limited per uid and has root_conns beyond the total, so a
 * flood by others never locks it out. */
static bool conn_admissible(struct server *s, const struct hd_peer *peer, struct uid_count *u,
			    struct hd_err *e)
{
	if (peer->uid == 0) {
		if (s->n_conns < s->max_conns + s->root_conns)
			return true;
		err_reason(e, HDE_TOO_MANY_CONNECTIONS, NULL,
			   "hostdevd has %zu connections open, as many as it takes", s->n_conns);
		e->number = (int64_t)(s->max_conns + s->root_conns);
		return false;
	}
	if (u->n >= s->max_conns_per_uid) {
		err_reason(e, HDE_TOO_MANY_CONNECTIONS, NULL,
			   "uid %d already has %zu connections open", (int)peer->uid, u->n);
		e->number = (int64_t)s->max_conns_per_uid;
		return false;
	}
	if (s->n_conns - s->n_root >= s->max_conns) {
		err_reason(e, HDE_TOO_MANY_CONNECTIONS, NULL,
			   "hostdevd has %zu connections open from users other than root, as many "
			   "as it takes",
			   s->n_conns - s->n_root);
		e->number = (int64_t)s->max_conns;
		return false;
	}
	return true;
}

/* One error, then the door: the peer reads why rather than hanging.  The
 * socket is new and its buffer empty, so the short message fits. */
static void conn_refuse(struct server *s, int fd, const struct hd_peer *peer,
			const struct hd_err *e)
{
	json_object *params = err_params(e);
	size_t len;
	char *buf = vl_format_error(err_name(e->code), params, &len);
	uint64_t now = now_ms();

	json_object_put(params);
	/* A flood must not become a flood of the log as well. */
	if (now >= s->refused_logged_ms + 1000) {
		log_warn("refused a connection from pid %d uid %d: %s (%zu more refused unlogged)",
			 (int)peer->pid, (int)peer->uid, e->reason, s->refused_quiet);
		s->refused_logged_ms = now;
		s->refused_quiet = 0;
	} else {
		s->refused_quiet++;
	}
	if (send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("client pid %d: write: %s", (int)peer->pid, strerror(errno));
	shutdown(fd, SHUT_WR);
	close(fd);
	free(buf);
}

static void conn_new(struct server *s, int fd)
{
	struct conn *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	/* A peer the kernel cannot name gets no more than anyone else. */
	struct hd_peer peer = { .uid = (uid_t)-1, .gid = (gid_t)-1, .pid = 0 };
	struct uid_count *u;
	struct hd_err e;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		peer = (struct hd_peer){ .uid = cred.uid, .gid = cred.gid, .pid = cred.pid };
		peer_groups(fd, &peer);
	} else {
		log_warn("client on fd %d: SO_PEERCRED: %s", fd, strerror(errno));
	}
	u = uid_count_of(s, peer.uid);
	if (!conn_admissible(s, &peer, u, &e)) {
		conn_refuse(s, fd, &peer, &e);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->server = s;
	c->fd = fd;
	c->peer = peer;
	c->uidc = u;
	u->n++;
	s->n_root += peer.uid == 0;
	c->read_ev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->write_ev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->resume_ev = event_new(s->base, -1, 0, on_resume, c);
	c->timer_ev = evtimer_new(s->base, on_timer, c);
	c->closed_ev = event_new(s->base, fd, EV_CLOSED, on_peer_closed, c);
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	c->fds_tail = &c->fds;
	if (!c->read_ev || !c->write_ev || !c->resume_ev || !c->timer_ev || !c->closed_ev ||
	    !c->in || !c->out)
		fatal("out of memory");
	c->last_active_ns = now_ns();
	conn_update_read(c);
	conn_arm_timer(c);
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

/* systemd's socket activation (sd_listen_fds(3), without libsystemd): the
 * listening socket comes as descriptor 3 when LISTEN_PID names us.  The
 * variables are cleared so nothing we start inherits them.  Returns the
 * descriptor, -ENOENT when none was passed, or -EINVAL (logged) when what
 * was passed is not one listening Unix stream socket. */
#define LISTEN_FDS_START 3
static int take_activated_socket(char **path)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char *end;
	long p, n;
	int type = 0, listening = 0;
	struct sockaddr_un sa;
	socklen_t len = sizeof(int), salen = sizeof(sa);

	if (!pid || !fds)
		return -ENOENT;
	errno = 0;
	p = strtol(pid, &end, 10);
	if (errno || *end || p != (long)getpid())
		return -ENOENT; /* meant for another process */
	n = strtol(fds, &end, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (*end || n != 1) {
		log_error("socket activation passed %s sockets; hostdevd listens on exactly one "
			  "(hostdevd.socket has one ListenStream=)",
			  fds);
		return -EINVAL;
	}
	if (getsockopt(LISTEN_FDS_START, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    getsockopt(LISTEN_FDS_START, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 ||
	    getsockname(LISTEN_FDS_START, (struct sockaddr *)&sa, &salen) < 0 ||
	    sa.sun_family != AF_UNIX || type != SOCK_STREAM || !listening) {
		log_error("socket activation passed a descriptor that is not a listening Unix "
			  "stream socket");
		return -EINVAL;
	}
	/* The path systemd bound (ListenStream=), which is the one that
	 * counts for logs and for the policy's socket_group. */
	if (salen > offsetof(struct sockaddr_un, sun_path) && sa.sun_path[0])
		*path = xstrndup(sa.sun_path, salen - offsetof(struct sockaddr_un, sun_path));
	if (fcntl(LISTEN_FDS_START, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(LISTEN_FDS_START, F_SETFL, fcntl(LISTEN_FDS_START, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	return LISTEN_FDS_START;
}

/* Arms the accept event on a listening socket. */
static void listen_on(struct server *s, int fd)
{
	s->accept_ev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_accept, s);
	s->backoff_ev = evtimer_new(s->base, on_backoff_over, s);
	if (!s->accept_ev || !s->backoff_ev)
		fatal("out of memory");
	event_add(s->accept_ev, NULL);
	s->listen_fd = fd;
	if (s->have_gid)
		apply_group(s);
	log_info("listening on %s%s: at most %zu connections (%zu per uid) and %zu more for root, "
		 "%zu bytes buffered in all",
		 s->socket_path, s->activated ? " (socket activation)" : "", s->max_conns,
		 s->max_conns_per_uid, s->root_conns, s->budget);
}

int server_start(struct server *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int r;

	/* The socket systemd holds for us: clients that connected before we
	 * were ready wait in its backlog and are answered now.  The file is
	 * systemd's: we neither bind nor remove it. */
	_cleanup_free_ char *bound = NULL;

	r = take_activated_socket(&bound);
	if (r >= 0) {
		s->activated = true;
		if (bound && !streq(bound, s->socket_path)) {
			log_info("socket activation: listening on %s, not %s", bound, s->socket_path);
			str_replace(&s->socket_path, bound);
		}
		listen_on(s, r);
		return 0;
	}
	if (r != -ENOENT)
		return r;
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
	listen_on(s, fd);
	fd = -1;
	return 0;
}

/* ---- the server ------------------------------------------------------- */

/* Every descriptor the daemon may have, less its own reserve and root's
 * room: non-root peers can never take the last ones. */
static size_t default_max_conns(size_t root_conns)
{
	struct rlimit rl;
	size_t fds = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		fds = (size_t)rl.rlim_cur;
	else if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		fds = 1u << 20;
	if (fds < SERVER_FD_RESERVE + root_conns + 16)
		return 16;
	return fds - SERVER_FD_RESERVE - root_conns;
}

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
	s->max_conns_per_uid = cfg->max_conns_per_uid ? cfg->max_conns_per_uid
						      : SERVER_DEFAULT_MAX_CONNS_PER_UID;
	s->root_conns = cfg->root_conns ? cfg->root_conns : SERVER_DEFAULT_ROOT_CONNS;
	s->max_conns = cfg->max_conns ? cfg->max_conns : default_max_conns(s->root_conns);
	s->partial_ms = cfg->partial_timeout_ms ? cfg->partial_timeout_ms
						: SERVER_DEFAULT_PARTIAL_TIMEOUT_MS;
	s->idle_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : SERVER_DEFAULT_IDLE_TIMEOUT_MS;
	s->budget = cfg->memory_budget ? cfg->memory_budget : SERVER_DEFAULT_MEMORY_BUDGET;
	s->out_high = cfg->out_high ? cfg->out_high : SERVER_DEFAULT_OUT_HIGH;
	s->trim_ev = event_new(base, -1, 0, on_trim, s);
	if (!s->trim_ev)
		fatal("out of memory");
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
	event_free(s->trim_ev);
	while (s->uids) {
		struct uid_count *u = s->uids;

		s->uids = u->next;
		free(u);
	}
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		/* Another daemon may have replaced the file since: keep theirs. */
		if (!s->activated && stat(s->socket_path, &st) == 0 && st.st_ino == s->socket_ino)
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

size_t server_buffered(const struct server *s)
{
	return s->held_total;
}

size_t server_max_conns(const struct server *s)
{
	return s->max_conns;
}

/* ---- watchers --------------------------------------------------------- */

/* Messages (NULs) in the output. */
static size_t out_messages(struct conn *c)
{
	struct evbuffer_ptr p;
	size_t n = 0;

	evbuffer_ptr_set(c->out, &p, 0, EVBUFFER_PTR_SET);
	for (;;) {
		p = evbuffer_search(c->out, "", 1, &p);
		if (p.pos < 0)
			return n;
		n++;
		if (evbuffer_ptr_set(c->out, &p, 1, EVBUFFER_PTR_ADD) < 0)
			return n;
	}
}

/* The watcher holds more unread events than it may: its backlog goes, but
 * for the first message, which may be partly written already (framing
 * stays whole); then it is told the last event it will have got, and
 * closed.  The error comes right behind what it has, not behind megabytes
 * it will never read. */
static void watcher_too_slow(struct conn *c)
{
	struct server *s = c->server;
	struct evbuffer_ptr p = evbuffer_search(c->out, "", 1, NULL);
	size_t unread = evbuffer_get_length(c->out), queued = out_messages(c);
	uint64_t last = c->last_queued_seq;
	struct hd_err e;

	/* The messages queued are the stream's, numbered one after another
	 * up to the last one queued. */
	if (queued > 1) {
		struct evbuffer *kept = evbuffer_new();

		if (!kept)
			fatal("out of memory");
		last -= queued - 1;
		evbuffer_remove_buffer(c->out, kept, (size_t)p.pos + 1);
		evbuffer_free(c->out);
		c->out = kept;
		conn_account(c);
		conn_trim_fds(c);
	}
	log_warn("watcher pid %d uid %d left %zu bytes unread%s: dropping it after event %llu",
		 (int)c->peer.pid, (int)c->peer.uid, unread,
		 s->held_total > s->budget ? " with the daemon over its memory budget" : "",
		 (unsigned long long)last);
	err_set(&e, HDE_WATCHER_TOO_SLOW, NULL);
	e.number = (int64_t)last;
	conn_start_drain(c);
	conn_send_err(c, &e);
}

void server_broadcast(struct server *s, const char *msg, size_t len, uint64_t last_sent)
{
	struct conn *next;

	for (struct conn *c = s->watchers; c; c = next) {
		size_t unread = evbuffer_get_length(c->out);

		next = c->watch_next;
		/* Over the budget, a watcher that fell behind at all is the one
		 * to go: it cannot be throttled. */
		if (unread > s->watch_limit || (s->held_total > s->budget && unread > BUDGET_SMALL)) {
			watcher_too_slow(c);
			continue;
		}
		out_add(c, msg, len);
		c->last_queued_seq = last_sent + 1;
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

void server_call_reply_fd(struct server_call *call, json_object *params, int fd)
{
	struct conn *c = call->conn;
	struct out_fd *o;
	size_t len;
	char *buf;

	call_answered(call);
	if (call->oneway || c->dead || !conn_may_send(c)) {
		json_object_put(params);
		close(fd);
		return;
	}
	buf = vl_format_reply(params, false, &len);
	json_object_put(params);
	o = xcalloc(1, sizeof(*o));
	o->at = c->out_sent + evbuffer_get_length(c->out);
	o->fd = fd;
	o->len = len;
	*c->fds_tail = o;
	c->fds_tail = &o->next;
	c->n_fds++;
	out_add_owned(c, buf, len);
	conn_kick(c);
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
