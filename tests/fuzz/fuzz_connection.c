/* One connection fed arbitrary bytes, through the daemon's real transport
 * (daemon/server.c: accept, framing, caps), dispatch (daemon/dispatch.c:
 * the checks every method shares) and method table (daemon/method-*.c), on
 * an in-process event loop with a small table of synthetic devices.
 *
 * Per input: a client connects to the server's socket in a scratch
 * directory, sends the input and hangs up its sending side; the loop runs
 * until the server has answered and closed (a deadline far below
 * libFuzzer's -timeout makes a connection that never ends a failure).
 * Every reply must be a NUL-terminated JSON object; nothing may follow the
 * last NUL; the server must hold no connection afterwards.
 *
 * Nothing here can write to /sys: no engine exists (the context's claim,
 * detach and persist engines are NULL), and the peer is served as uid
 * FUZZ_UID, whom the policy grants only list and watch (the test runs as
 * root, whom the policy cannot restrict).  The handler of every method
 * needing more is replaced by one that aborts: if the permission check
 * ever let such a call through, the run fails here.  Replies must be
 * valid UTF-8 (issue 12, item 6: what a request names may be echoed back
 * as it came); FUZZ_CONNECTION_UTF8=0 lifts that check. */
#include "common/log.h"
#include "common/util.h"
#include "daemon/dispatch.h"
#include "daemon/methods.h"
#include "daemon/policyctl.h"
#include "daemon/server.h"
#include "daemon/watch.h"
#include "state/claims.h"
#include "state/devtable.h"
#include "tests/fuzz/fuzzutil.h"
#include "tests/unit/testdev.h"

#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FUZZ_UID 65534
#define FUZZ_MAX_MESSAGE 2048
#define FUZZ_MAX_OUTBUF (64 * 1024)
#define DEADLINE_MS 5000
#define METHODS_MAX 64

static const char policy_text[] =
	"default = \"allow\";\n"
	"rules = (\n"
	"  { match = { bus = \"pci\"; vendor = \"8086\"; class = \"02\"; }; action = \"detach\"; },\n"
	"  { match = { address = \"0000:00:02.0\"; }; action = \"refuse\"; },\n"
	"  { match = { bus = \"usb\"; interface_class = \"08\"; }; action = \"refuse\";\n"
	"    deauthorize = true; when = \"hotplug\"; }\n"
	");\n"
	"clients = ( { uid = 65534; permissions = [ \"list\", \"watch\" ]; } );\n";

static struct {
	char path[512];
	struct event_base *base;
	struct devtable *devices;
	struct claims *claims; /* empty: no Claim can run */
	struct policyctl *policy;
	struct watch *watch;
	struct methods_ctx ctx;
	struct method_def methods[METHODS_MAX];
	struct dispatcher dispatcher;
	struct server *server;
	const char *method; /* of the call being dispatched */
	bool strict_utf8;
	bool print; /* FUZZ_PRINT=1: each reply to stderr, to see what an input does */
} fz;

struct client {
	int fd;
	const uint8_t *in;
	size_t in_len, sent;
	char *out;
	size_t out_len, out_cap;
	bool eof;
	struct event *ev;
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the daemon's side ----------------------------------------------- */

static void forbidden(struct methods_ctx *ctx, struct server_call *call, json_object *params)
{
	fuzz_fail(__FILE__, __LINE__, "permission", "%s ran for uid %d, who may only list and watch",
		  fz.method ? fz.method : "?", (int)server_call_peer(call)->uid);
}

/* The real table; what needs more than list or watch aborts if reached. */
static void build_methods(void)
{
	size_t n;
	const struct method_def *all = methods_table(&n);

	FUZZ_CHECK(n <= METHODS_MAX, "%zu methods", n);
	for (size_t i = 0; i < n; i++) {
		fz.methods[i] = all[i];
		if (!(all[i].flags & METHOD_ANY_PEER) && all[i].perm != PERM_LIST &&
		    all[i].perm != PERM_WATCH)
			fz.methods[i].handler = forbidden;
	}
	fz.dispatcher = (struct dispatcher){ .methods = fz.methods, .n_methods = n,
					     .ctx = &fz.ctx };
}

/* The peer as an unprivileged one: the kernel reported root (the fuzzer's
 * uid), and root may do anything whatever the policy says. */
static void dispatch_as_unprivileged(void *arg, struct server_call *call, const struct vl_call *vc)
{
	struct hd_peer *peer = (struct hd_peer *)server_call_peer(call);

	peer->uid = FUZZ_UID;
	peer->gid = FUZZ_UID;
	peer->n_groups = 0;
	fz.method = vc->method;
	dispatch_call(arg, call, vc);
	fz.method = NULL;
}

static void add_devices(struct devtable *t)
{
	struct device *d;

	devtable_upsert(t, testdev_pci("0000:00:1c.0", 0x8086, 0x2940, 0x060400, 1, "pcieport", NULL),
			DEV_EVENT_ADD, NULL);
	d = testdev_pci("0000:01:00.0", 0x8086, 0x10c9, 0x020000, 5, "igb", "0000:00:1c.0");
	d->pci.sriov_totalvfs = 7;
	d->pci.sriov_numvfs = 1;
	d->pci.reset_methods = device_words("flr bus");
	devtable_upsert(t, d, DEV_EVENT_ADD, NULL);
	d = testdev_pci("0000:01:10.0", 0x8086, 0x10ca, 0x020000, 12, "vfio-pci", "0000:00:1c.0");
	d->pci.physfn = xstrdup("0000:01:00.0");
	devtable_upsert(t, d, DEV_EVENT_ADD, NULL);
	d = testdev_pci("0000:00:02.0", 0x8086, 0x3e92, 0x030000, 2, "i915", NULL);
	d->pci.boot_vga = true;
	devtable_upsert(t, d, DEV_EVENT_ADD, NULL);
	devtable_upsert(t, testdev_pci("0000:00:14.0", 0x8086, 0xa36d, 0x0c0330, 3, "xhci_hcd", NULL),
			DEV_EVENT_ADD, NULL);
	d = testdev_usb("1-2", 0x046d, 0xc52b, 3, "0000:00:14.0");
	d->usb.authorized = true;
	d->driver = device_intern("usb");
	d->usb.manufacturer = xstrdup("Logitech");
	d->usb.product = xstrdup("USB Receiver");
	testdev_iface(d, "1-2:1.0", 0x03, 0x01, 0x01, "usbhid");
	devtable_upsert(t, d, DEV_EVENT_ADD, NULL);
	d = testdev_usb("1-3", 0x0781, 0x5567, 4, "0000:00:14.0");
	d->usb.serial = xstrdup("4C530001");
	testdev_iface(d, "1-3:1.0", 0x08, 0x06, 0x50, NULL);
	devtable_upsert(t, d, DEV_EVENT_ADD, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = fuzz_scratch_dir("connection");
	const char *env = getenv("FUZZ_CONNECTION_UTF8");
	char policy_path[512];
	struct policy_error e;
	struct server_config cfg = {
		.max_message = FUZZ_MAX_MESSAGE,
		.max_outbuf = FUZZ_MAX_OUTBUF,
		.drain_timeout_ms = 1000,
		.dispatch = dispatch_as_unprivileged,
		.dispatch_ctx = &fz.dispatcher,
	};

	log_set_level(LOG_LVL_ERROR);
	fz.strict_utf8 = !env || strcmp(env, "0") != 0;
	fz.print = getenv("FUZZ_PRINT") && strcmp(getenv("FUZZ_PRINT"), "1") == 0;
	snprintf(policy_path, sizeof(policy_path), "%s/policy.conf", dir);
	fuzz_write_file(policy_path, policy_text, sizeof(policy_text) - 1);
	snprintf(fz.path, sizeof(fz.path), "%s/hostdevd.sock", dir);

	fz.base = event_base_new();
	fz.devices = devtable_new();
	add_devices(fz.devices);
	fz.policy = policyctl_new(policy_path, true);
	FUZZ_CHECK(policyctl_load(fz.policy, &e) == 0, "the fuzzer's policy: %s", e.message);
	fz.claims = claims_new();
	fz.watch = watch_new(fz.devices, fz.claims, NULL);
	fz.ctx = (struct methods_ctx){ .devices = fz.devices, .claims = fz.claims,
				       .policy = fz.policy,
				       .watch = fz.watch, .start_ns = now_ns() };
	build_methods();
	cfg.socket_path = fz.path;
	fz.server = server_new(fz.base, &cfg);
	watch_set_server(fz.watch, fz.server);
	devtable_subscribe(fz.devices, watch_listener, fz.watch);
	FUZZ_CHECK(server_start(fz.server) == 0, "server_start on %s", fz.path);
	return 0;
}

/* ---- the client's side ----------------------------------------------- */

static void client_io(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	if (what & EV_WRITE) {
		if (c->sent < c->in_len) {
			ssize_t n = send(fd, c->in + c->sent, c->in_len - c->sent, MSG_NOSIGNAL);

			if (n > 0)
				c->sent += (size_t)n;
			else if (errno != EAGAIN && errno != EINTR)
				c->sent = c->in_len; /* the server hung up: stop sending */
		}
		if (c->sent == c->in_len) {
			shutdown(fd, SHUT_WR);
			event_del(c->ev);
			event_assign(c->ev, fz.base, fd, EV_READ | EV_PERSIST, client_io, c);
			event_add(c->ev, NULL);
		}
	}
	if (what & EV_READ) {
		ssize_t n;

		if (c->out_cap - c->out_len < 65536) {
			c->out_cap = c->out_cap * 2 + 65536;
			c->out = xrealloc(c->out, c->out_cap);
		}
		n = recv(fd, c->out + c->out_len, c->out_cap - c->out_len, 0);
		if (n > 0)
			c->out_len += (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			c->eof = true; /* closed, or reset under an unread request */
	}
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

/* Steps the loop until cond holds; false if the deadline came first. */
static bool pump(bool (*cond)(const void *), const void *arg)
{
	struct timeval tv = { .tv_sec = DEADLINE_MS / 1000, .tv_usec = (DEADLINE_MS % 1000) * 1000 };
	bool expired = false, ok;
	struct event *deadline = evtimer_new(fz.base, on_deadline, &expired);

	evtimer_add(deadline, &tv);
	while (!(ok = cond(arg)) && !expired)
		event_base_loop(fz.base, EVLOOP_ONCE);
	event_free(deadline);
	return ok;
}

static bool client_done(const void *arg)
{
	return ((const struct client *)arg)->eof;
}

static bool no_clients(const void *arg)
{
	return server_client_count(fz.server) == 0;
}

static void check_replies(const struct client *c)
{
	const char *p = c->out, *end = c->out + c->out_len;
	struct json_tokener *tok = json_tokener_new();

	if (fz.strict_utf8)
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	while (p < end) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		json_object *o, *v;

		FUZZ_CHECK(nul, "%zu bytes after the last reply: %.*s", (size_t)(end - p),
			   (int)(end - p), p);
		if (fz.print)
			fprintf(stderr, "reply: %.*s\n", (int)(nul - p), p);
		json_tokener_reset(tok);
		o = json_tokener_parse_ex(tok, p, (int)(nul - p));
		FUZZ_CHECK(o && json_tokener_get_parse_end(tok) == (size_t)(nul - p) &&
				   json_object_is_type(o, json_type_object),
			   "a reply is not %s JSON (%s): %.*s", fz.strict_utf8 ? "UTF-8" : "valid",
			   json_tokener_error_desc(json_tokener_get_error(tok)), (int)(nul - p), p);
		if (json_object_object_get_ex(o, "error", &v))
			FUZZ_CHECK(json_object_is_type(v, json_type_string), "error is not a string: %s",
				   json_object_to_json_string(o));
		if (json_object_object_get_ex(o, "parameters", &v))
			FUZZ_CHECK(json_object_is_type(v, json_type_object),
				   "parameters is not an object: %s", json_object_to_json_string(o));
		json_object_put(o);
		p = nul + 1;
	}
	json_tokener_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct client c = { .in = data, .in_len = size };

	c.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	FUZZ_CHECK(c.fd >= 0, "socket: %s", strerror(errno));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fz.path);
	FUZZ_CHECK(connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s",
		   strerror(errno));
	c.ev = event_new(fz.base, c.fd, EV_READ | EV_WRITE | EV_PERSIST, client_io, &c);
	event_add(c.ev, NULL);
	FUZZ_CHECK(pump(client_done, &c),
		   "no end of the replies after %d ms (%zu of %zu bytes sent, %zu received)",
		   DEADLINE_MS, c.sent, c.in_len, c.out_len);
	event_free(c.ev);
	close(c.fd);
	check_replies(&c);
	free(c.out);
	/* The server lets go of the connection once the client has. */
	FUZZ_CHECK(pump(no_clients, NULL), "the server still holds %zu connections",
		   server_client_count(fz.server));
	return 0;
}
