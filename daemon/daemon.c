#include "daemon/daemon.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/dispatch.h"
#include "daemon/lock.h"
#include "daemon/methods.h"
#include "daemon/policyctl.h"
#include "daemon/server.h"
#include "daemon/watch.h"
#include "engine/automate.h"
#include "engine/claim.h"
#include "engine/detach.h"
#include "engine/lease.h"
#include "engine/nodeowner.h"
#include "engine/persist.h"
#include "engine/restore.h"
#include "monitor/hwdb.h"
#include "state/claims.h"
#include "state/devtable.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The composition root: every long-lived object, made and wired here and
 * nowhere else.  The engines know the device table, the claim table and
 * each other through their constructors; the protocol reaches them through
 * the handlers' context. */
struct hostdevd {
	struct daemon_options opts; /* borrowed strings */
	struct monitor_hooks hooks;
	bool have_hooks;
	struct event_base *base;
	struct devtable *devices;
	struct claims *claims;
	struct detach_engine *detach;
	struct claim_engine *claim;
	struct leases *leases;
	struct nodeowner *nodes;
	struct persist *persist;
	struct automate *automate;
	struct policyctl *policy;
	struct monitor *monitor;
	struct watch *watch;
	struct hwdb *names;
	struct server *server;
	struct methods_ctx ctx;
	struct dispatcher dispatcher;
	int lock_fd;
	struct event *sig_term, *sig_int, *sig_usr1, *sig_usr2, *sig_hup;
};

struct hostdevd *hostdevd_new(const struct daemon_options *o, const struct monitor_hooks *hooks)
{
	struct hostdevd *d = xcalloc(1, sizeof(*d));

	d->opts = *o;
	if (hooks) {
		d->hooks = *hooks;
		d->have_hooks = true;
	}
	d->lock_fd = -1;
	d->base = event_base_new();
	/* Two priorities: 0 for the worker pool's completions (engine/worker.c),
	 * 1, the default, for everything else: sockets, uevents, timers. */
	if (!d->base || event_base_priority_init(d->base, 2) < 0)
		fatal("cannot create the event loop");
	d->devices = devtable_new();
	d->claims = claims_new();
	d->ctx.start_ns = now_ns();
	return d;
}

void hostdevd_free(struct hostdevd *d)
{
	if (!d)
		return;
	/* Operations in flight are answered (cancelled) while their clients
	 * are still connected; then the server, which holds views of the
	 * table. */
	claim_engine_stop(d->claim);
	/* Owner changes asked for are made, and their claims and releases
	 * go on, while the engine can still answer them; claims the engine
	 * then cancels give their nodes back at once. */
	nodeowner_stop(d->nodes);
	detach_engine_free(d->detach);
	/* After the engine: its cancelled operations answer the automation. */
	automate_free(d->automate);
	/* Claims cancelled just now may wait for a save: the loop is gone. */
	if (d->persist)
		persist_flush(d->persist);
	/* After the saves: a claim whose acknowledgement could not be saved
	 * gives its nodes back. */
	nodeowner_free(d->nodes);
	claim_engine_free(d->claim);
	leases_free(d->leases);
	persist_free(d->persist);
	policyctl_free(d->policy);
	server_free(d->server);
	watch_free(d->watch);
	hwdb_free(d->names);
	monitor_free(d->monitor);
	claims_free(d->claims);
	devtable_free(d->devices);
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->sig_usr1)
		event_free(d->sig_usr1);
	if (d->sig_usr2)
		event_free(d->sig_usr2);
	if (d->sig_hup)
		event_free(d->sig_hup);
	event_base_free(d->base);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	free(d);
}

struct event_base *hostdevd_base(struct hostdevd *d)
{
	return d->base;
}

struct methods_ctx *hostdevd_context(struct hostdevd *d)
{
	return &d->ctx;
}

/* Whoever obeys the policy is handed each one installed. */
static void on_policy(const struct policy *p, void *arg)
{
	struct hostdevd *d = arg;
	gid_t gid = getegid();

	claim_engine_set_policy(d->claim, p);
	automate_set_policy(d->automate, p);
	/* The socket's group, or the daemon's own when the policy names none. */
	policy_socket_group(p, &gid);
	if (d->server)
		server_set_group(d->server, gid);
}

/* The policy at --policy; none there is the built-in default.  A policy
 * that does not load stops the start: running without the rules the
 * administrator wrote could hand out what they refuse. */
static int load_policy(struct hostdevd *d)
{
	char msg[2048];
	struct policy_error e;

	d->policy = policyctl_new(d->opts.policy_path, d->opts.policy_named);
	policyctl_subscribe(d->policy, on_policy, d);
	if (policyctl_load(d->policy, &e) < 0) {
		policy_error_format(&e, msg, sizeof(msg));
		log_error("policy not loaded: %s", msg);
		return -EINVAL;
	}
	return 0;
}

/* SIGHUP: read the policy again; a bad one is logged and changes nothing. */
static void on_reload_signal(evutil_socket_t sig, short what, void *arg)
{
	struct hostdevd *d = arg;
	struct policy_error e;

	log_info("%s: reloading the policy from %s", strsignal((int)sig), d->opts.policy_path);
	policyctl_reload(d->policy, d->claims, d->devices, &e);
}

static bool reattach_orphans(const struct hostdevd *d)
{
	if (d->opts.orphans_set)
		return d->opts.reattach_orphans;
	return policy_orphans(policyctl_policy(d->policy)) == POLICY_ORPHANS_REATTACH;
}

static void save_state(void *arg, claim_saved_fn done, void *done_arg)
{
	struct hostdevd *d = arg;

	persist_request(d->persist, done, done_arg);
}

/* The devices the resync changed were told on the channel; watchers are
 * told besides that they may have missed events, and should list again. */
static void on_resync(void *arg)
{
	struct hostdevd *d = arg;

	watch_resync(d->watch);
}

/* The engines, and the subscribers of "a device changed", in the order
 * they hear it: what is saved, what watchers see, the operation waiting
 * for a bind, a claimed device returning, and last the policy (a device
 * the engines took is no longer the policy's to move).  A change one of
 * them makes is told to all once this event has been. */
static void wire(struct hostdevd *d)
{
	d->detach = detach_engine_new(d->base, d->devices,
				      &(struct detach_config){
					      .step_timeout_ms = d->opts.step_timeout_ms,
					      .proc_root = d->opts.proc_root,
					      .modules_dir = d->opts.modules_dir,
				      });
	d->claim = claim_engine_new(d->devices, d->claims, d->detach);
	d->leases = leases_new(d->base, d->opts.proc_root, claim_engine_lease_ended, d->claim);
	claim_engine_set_leases(d->claim, d->leases);
	d->nodes = nodeowner_new(d->base, d->opts.dev_root, d->claims);
	nodeowner_set_hand_over(d->nodes, !d->opts.no_node_owner);
	claim_engine_set_nodeowner(d->claim, d->nodes);
	d->persist = persist_new(d->base, d->devices, d->claims, d->opts.state_dir);
	claim_engine_set_save(d->claim, save_state, d);
	d->names = hwdb_new(!d->opts.no_hwdb);
	d->watch = watch_new(d->devices, d->claims, d->names);
	d->automate = automate_new(d->devices, d->claims, d->detach, watch_policy_notice, d->watch);
	devtable_subscribe(d->devices, persist_listener, d->persist);
	devtable_subscribe(d->devices, watch_listener, d->watch);
	devtable_subscribe(d->devices, detach_engine_listener, d->detach);
	devtable_subscribe(d->devices, claim_engine_listener, d->claim);
	devtable_subscribe(d->devices, automate_listener, d->automate);
	d->ctx = (struct methods_ctx){
		.devices = d->devices,
		.claims = d->claims,
		.claim = d->claim,
		.detach = d->detach,
		.persist = d->persist,
		.watch = d->watch,
		.names = d->names,
		.start_ns = d->ctx.start_ns,
		.dev_root = d->opts.dev_root,
	};
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct hostdevd *d = arg;

	log_info("%s: shutting down", strsignal((int)sig));
	hostdevd_stop(d);
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET.  An
 * address starting with '@' is in the abstract namespace. */
static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static const char msg[] = "READY=1";
	socklen_t len;
	_cleanup_close_ int fd = -1;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		log_warn("cannot notify readiness on %s: %s", path, strerror(errno));
}

static int take_lock(struct hostdevd *d)
{
	pid_t holder;
	int fd = lock_acquire(d->opts.state_dir, &holder);

	if (fd == -EWOULDBLOCK) {
		if (holder > 0)
			log_error("another hostdevd (pid %ld) is running with state directory %s; "
				  "stop it first or pick another --state-dir",
				  (long)holder, d->opts.state_dir);
		else
			log_error("another hostdevd is running with state directory %s; "
				  "stop it first or pick another --state-dir",
				  d->opts.state_dir);
		return fd;
	}
	if (fd < 0) {
		log_error("cannot lock state directory %s: %s%s", d->opts.state_dir, strerror(-fd),
			  fd == -EACCES || fd == -EROFS ? " (run as root or pick another --state-dir)"
							: "");
		return fd;
	}
	d->lock_fd = fd;
	return 0;
}

/* Debug logging on demand, without a restart that would lose the state
 * being debugged: SIGUSR1 turns it on, SIGUSR2 restores the configured level. */
static void on_log_signal(evutil_socket_t sig, short what, void *arg)
{
	struct hostdevd *d = arg;
	enum log_level level = sig == SIGUSR1 ? LOG_LVL_DEBUG : d->opts.log_level;

	log_set_level(level);
	log_msg(LOG_LVL_INFO, NULL, "%s: log level now %s", strsignal((int)sig),
		log_level_name(level));
}

static int add_signal(struct hostdevd *d, int sig, struct event **out)
{
	*out = evsignal_new(d->base, sig,
			    sig == SIGUSR1 || sig == SIGUSR2 ? on_log_signal
			    : sig == SIGHUP		     ? on_reload_signal
							     : on_stop_signal,
			    d);
	return *out && evsignal_add(*out, NULL) == 0 ? 0 : -ENOMEM;
}

/* systemd's soft limit is 1,024 descriptors, too few for the clients the
 * server admits; the hard limit is the administrator's word. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t soft;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max) {
		log_info("descriptor limit %llu", (unsigned long long)rl.rlim_cur);
		return;
	}
	soft = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("cannot raise the descriptor limit from %llu to %llu: %s",
			 (unsigned long long)soft, (unsigned long long)rl.rlim_max, strerror(errno));
	else
		log_info("descriptor limit raised from %llu to %llu", (unsigned long long)soft,
			 (unsigned long long)rl.rlim_max);
}

int hostdevd_start(struct hostdevd *d)
{
	struct server_config cfg = {
		.socket_path = d->opts.socket_path,
		.max_message = d->opts.max_message,
		.max_outbuf = d->opts.max_outbuf,
		.socket_mode = d->opts.socket_mode,
		.max_conns = d->opts.max_conns,
		.max_conns_per_uid = d->opts.max_conns_per_uid,
		.partial_timeout_ms = d->opts.partial_timeout_ms,
		.idle_timeout_ms = d->opts.idle_timeout_ms,
		.memory_budget = d->opts.memory_budget,
		.dispatch = dispatch_call,
		.dispatch_ctx = &d->dispatcher,
	};
	int r;

	/* A client that disconnects mid-write must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit reached while saving state is an error to report
	 * (EFBIG, like a full disk), not a reason to die. */
	signal(SIGXFSZ, SIG_IGN);
	raise_fd_limit();
	r = take_lock(d);
	if (r < 0)
		return r;
	if ((r = add_signal(d, SIGTERM, &d->sig_term)) < 0 ||
	    (r = add_signal(d, SIGINT, &d->sig_int)) < 0 ||
	    (r = add_signal(d, SIGUSR1, &d->sig_usr1)) < 0 ||
	    (r = add_signal(d, SIGUSR2, &d->sig_usr2)) < 0 ||
	    (r = add_signal(d, SIGHUP, &d->sig_hup)) < 0)
		return r;
	wire(d);
	r = load_policy(d);
	if (r < 0)
		return r;
	d->ctx.policy = d->policy;
	d->monitor = monitor_new(d->base, d->devices, d->opts.source,
				 d->have_hooks ? &d->hooks : NULL);
	d->ctx.monitor = d->monitor;
	monitor_set_resync_callback(d->monitor, on_resync, d);
	r = monitor_start(d->monitor);
	if (r < 0)
		return r;
	/* The table is whole now: what the state file says is reconciled
	 * with it before anyone can ask. */
	r = restore_state(&(struct restore_config){
		.persist = d->persist,
		.devices = d->devices,
		.claims = d->claims,
		.detach = d->detach,
		.reattach_orphans = reattach_orphans(d),
		.adopt = automate_adopt,
		.adopt_ctx = d->automate,
		.nodes = d->nodes,
	});
	if (r < 0)
		return r;
	/* A lease whose process ended while hostdevd was down ends now. */
	claim_engine_watch_leases(d->claim);
	d->dispatcher = (struct dispatcher){ .ctx = &d->ctx };
	d->dispatcher.methods = methods_table(&d->dispatcher.n_methods);
	d->server = server_new(d->base, &cfg);
	watch_set_server(d->watch, d->server);
	/* The socket's group, now that there is a socket. */
	on_policy(policyctl_policy(d->policy), d);
	r = server_start(d->server);
	if (r < 0) {
		log_error("cannot listen on %s: %s", d->opts.socket_path, strerror(-r));
		return r;
	}
	/* The policy's own moves start once clients can watch them. */
	automate_start(d->automate);
	log_info("ready on %s (pid %ld)", d->opts.socket_path, (long)getpid());
	notify_ready();
	return 0;
}

int hostdevd_daemonize(struct hostdevd *d)
{
	int handshake[2], fd, r;
	pid_t pid;
	char c;

	/* The first process exits only once the lock file names the daemon,
	 * so whoever started it finds the right pid there. */
	if (pipe2(handshake, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(handshake[0]);
		close(handshake[1]);
		return r;
	}
	if (pid > 0) {
		close(handshake[1]);
		/* EOF once the child wrote its pid (or died trying). */
		while (read(handshake[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(handshake[0]);
	r = lock_write_pid(d->lock_fd);
	close(handshake[1]);
	if (r < 0)
		return r;
	setsid();
	if (chdir("/") < 0)
		return -errno;
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	log_use_syslog(true);
	/* libevent's backends hold kernel state that a fork does not carry. */
	return event_reinit(d->base) < 0 ? -EINVAL : 0;
}

int hostdevd_run(struct hostdevd *d)
{
	return event_base_dispatch(d->base) < 0 ? -EIO : 0;
}

void hostdevd_stop(struct hostdevd *d)
{
	event_base_loopexit(d->base, NULL);
}
