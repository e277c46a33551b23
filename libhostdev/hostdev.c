/* libhostdev: hostdevd's public C API on top of the Varlink transport in
 * client/hdclient.c.  Every public function takes the manager's lock, runs
 * one operation, and hands its error out or frees it; internally an error is
 * always built, so that an operation can look at the name of a failure
 * (GetDevice's DeviceNotFound during a reattach) whether or not its caller
 * asked for errors. */
#include "libhostdev/hostdev.h"
#include "client/hdclient.h"
#include "common/log.h"
#include "common/errors.h"
#include "common/jsonget.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IFACE "io.hostdevd."

struct hd_error {
	char *name;
	char *message;
	char *params_json;
	json_object *params;
	int errnum;
};

struct hd_manager {
	pthread_mutex_t lock;
	char *path;
	int timeout_ms;
	/* NULL after a transport failure: the next call connects again. */
	struct hdclient *conn;
};

struct unbound_interface {
	const char *interface, *driver;
};

struct hd_claim {
	const char *device, *bus, *driver, *domain, *uuid, *since;
	const char *stub, *node_owner; /* the entry's "driver" and "node_owner" */
	bool managed, from_pool;
	int64_t uid, gid, pid;
	time_t since_time;
	struct unbound_interface *unbound;
	size_t n_unbound;
};

struct hd_claim_list {
	json_object *claims; /* the entries' strings point into it */
	struct hd_claim *entries;
	size_t n;
};

/* ---- Strings ------------------------------------------------------------- */

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *str_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static char *str_vprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		fatal("out of memory");
	return s;
}

static char *str_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = str_vprintf(fmt, ap);
	va_end(ap);
	return s;
}

/* A hypervisor writes messages to its log: device strings come from the
 * daemon (USB descriptors from the device itself) and must not forge lines. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static const char *json_text(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* ---- Errors -------------------------------------------------------------- */

/* Builds *e (which must be NULL) and returns -errnum.  params is consumed
 * (NULL: none) and message taken. */
static int error_take(struct hd_error **e, const char *name, int errnum, json_object *params,
		      char *message)
{
	struct hd_error *r = xcalloc(1, sizeof(*r));

	r->name = xstrdup(name);
	r->errnum = errnum;
	r->params = params ? params : json_object_new_object();
	r->params_json = xstrdup(json_text(r->params));
	sanitize(message);
	r->message = message;
	*e = r;
	return -errnum;
}

/* One string parameter, for the library's own errors. */
static json_object *param1(const char *key, const char *value)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, key, json_object_new_string(value));
	return p;
}

static int invalid_argument(struct hd_error **e, const char *argument, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int invalid_argument(struct hd_error **e, const char *argument, const char *fmt, ...)
{
	_cleanup_free_ char *why = NULL;
	va_list ap;

	va_start(ap, fmt);
	why = str_vprintf(fmt, ap);
	va_end(ap);
	return error_take(e, HD_ERROR_INVALID_ARGUMENT, EINVAL, param1("argument", argument),
			  str_printf("invalid %s: %s; nothing was sent to hostdevd", argument,
				     why));
}

static int protocol_error(struct hd_error **e, const char *method, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int protocol_error(struct hd_error **e, const char *method, const char *fmt, ...)
{
	_cleanup_free_ char *what = NULL;
	va_list ap;

	va_start(ap, fmt);
	what = str_vprintf(fmt, ap);
	va_end(ap);
	return error_take(e, HD_ERROR_PROTOCOL, EPROTO, param1("method", method),
			  str_printf("hostdevd's reply to %s is not what the schema says: %s",
				     method, what));
}

/* Hands the error to the caller, or frees it; returns r. */
static int finish(struct hd_error **err, struct hd_error *e, int r)
{
	if (err)
		*err = e;
	else
		hd_error_free(e);
	return r;
}

HD_EXPORT const char *hd_error_name(const struct hd_error *err)
{
	return err->name;
}

HD_EXPORT const char *hd_error_message(const struct hd_error *err)
{
	return err->message;
}

HD_EXPORT const char *hd_error_parameter_string(const struct hd_error *err, const char *name)
{
	json_object *v;

	if (!name || !json_object_object_get_ex(err->params, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

HD_EXPORT const char *hd_error_parameters_json(const struct hd_error *err)
{
	return err->params_json;
}

HD_EXPORT int hd_error_errno(const struct hd_error *err)
{
	return err->errnum;
}

HD_EXPORT void hd_error_free(struct hd_error *err)
{
	if (!err)
		return;
	free(err->name);
	free(err->message);
	free(err->params_json);
	json_object_put(err->params);
	free(err);
}

/* ---- Sentences for hostdevd's errors ------------------------------------- */

/* A parameter as text: strings as they are, string arrays joined with ", ",
 * anything else as JSON; "?" when absent.  Returns a malloc'd string. */
static char *param_text(json_object *p, const char *key)
{
	json_object *v;
	char *r = NULL;

	if (!json_object_object_get_ex(p, key, &v) || !v)
		return xstrdup("?");
	if (json_object_is_type(v, json_type_string))
		return xstrdup(json_object_get_string(v));
	if (!json_object_is_type(v, json_type_array))
		return xstrdup(json_text(v));
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *m = json_object_array_get_idx(v, i);
		const char *s = json_object_is_type(m, json_type_string) ? json_object_get_string(m)
									 : json_text(m);
		char *next = str_printf("%s%s%s", r ? r : "", r ? ", " : "", s);

		free(r);
		r = next;
	}
	return r ? r : xstrdup("(none)");
}

/* What a person calls each method's work, for sentences. */
static const char *method_verb(const char *method)
{
	static const char *const verbs[][2] = {
		{ IFACE "Claim", "prepare" },	     { IFACE "Release", "reattach" },
		{ IFACE "Detach", "node detach" },   { IFACE "Reattach", "node reattach" },
		{ IFACE "Reset", "reset" },	     { IFACE "ListClaims", "claim listing" },
		{ IFACE "GetDevice", "device lookup" }, { IFACE "OpenDevice", "device open" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (streq(verbs[i][0], method))
			return verbs[i][1];
	return method;
}

/* OperationFailed carries the kernel's errno; anything out of range
 * becomes EIO, so that a failure never returns 0. */
static int errno_param(json_object *p)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(p, "errno", &v) || !json_object_is_type(v, json_type_int))
		return EIO;
	n = json_object_get_int64(v);
	return n > 0 && n < 4096 ? (int)n : EIO;
}

/* The sentence templates are the error table's (common/errors.h): %1..%3
 * stand for the parameters named in `lib_keys`, %v for the method's verb,
 * %m for the method, %e for strerror of "errno". */
static void expand_one(FILE *out, char c, const struct hd_errdef *s, const char *method,
		       json_object *p)
{
	if (c >= '1' && c <= '3' && s->lib_keys[c - '1']) {
		_cleanup_free_ char *v = param_text(p, s->lib_keys[c - '1']);

		fputs(v, out);
	} else if (c == 'v') {
		fputs(method_verb(method), out);
	} else if (c == 'm') {
		fputs(method, out);
	} else if (c == 'e') {
		char buf[128];

		fputs(strerror_r(errno_param(p), buf, sizeof(buf)), out);
	} else {
		fatal("libhostdev: the sentence for %s has no placeholder %%%c", s->name, c);
	}
}

static char *expand(const struct hd_errdef *s, const char *method, json_object *p)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (!out)
		fatal("out of memory");
	for (const char *t = s->lib_text; *t; t++) {
		if (*t == '%' && t[1])
			expand_one(out, *++t, s, method, p);
		else
			fputc(*t, out);
	}
	if (fclose(out) != 0)
		fatal("out of memory");
	return text;
}

/* An error hostdevd answered.  params is borrowed. */
static int varlink_error(struct hd_error **e, const char *method, const char *name,
			 json_object *params)
{
	json_object *p = json_object_get(params);
	const struct hd_errdef *s = err_find(name, NULL);

	if (s && s->lib_text)
		return error_take(e, name, s->errnum ? s->errnum : errno_param(p), p,
				  expand(s, method, p));
	return error_take(e, name, EIO, p,
			  str_printf("hostdevd answered %s with %s %s", method, name,
				     json_text(params)));
}

/* ---- The connection ------------------------------------------------------ */

static const char *const transport_names[] = {
	[HDCLIENT_OK] = HD_ERROR_CONNECTION_LOST,
	[HDCLIENT_CONNECT] = HD_ERROR_UNREACHABLE,
	[HDCLIENT_IO] = HD_ERROR_CONNECTION_LOST,
	[HDCLIENT_TIMEOUT] = HD_ERROR_CLIENT_TIMEOUT,
	[HDCLIENT_PROTOCOL] = HD_ERROR_PROTOCOL,
	[HDCLIENT_USAGE] = HD_ERROR_INVALID_ARGUMENT,
};

static int connect_error(struct hd_error **e, const char *path, const struct hdclient_error *ce)
{
	return error_take(e, HD_ERROR_UNREACHABLE, ce->errnum > 0 ? ce->errnum : ECONNREFUSED,
			  param1("socket", path),
			  str_printf("hostdevd is not reachable: %s; is it running?", ce->message));
}

static int mgr_connect(struct hd_manager *m, struct hd_error **e)
{
	struct hdclient_error ce;

	m->conn = hdclient_connect(m->path, &ce);
	if (!m->conn)
		return connect_error(e, m->path, &ce);
	hdclient_set_timeout(m->conn, m->timeout_ms);
	return 0;
}

/* A transport failure: the connection is dropped, since a late reply would
 * be taken for the answer to the next call. */
static int transport_error(struct hd_manager *m, const char *method, struct hd_error **e)
{
	struct hdclient_error ce = *hdclient_last_error(m->conn);

	hdclient_free(steal_ptr(m->conn));
	return error_take(e, transport_names[ce.failure], ce.errnum > 0 ? ce.errnum : EIO,
			  param1("method", method), xstrdup(ce.message));
}

/* Calls that only read: sending one twice changes nothing, so one whose
 * connection broke under it is sent again once on a new connection. */
static bool call_repeatable(const char *method)
{
	static const char *const reads[] = {
		IFACE "GetDevice", IFACE "ListDevices", IFACE "ListClaims", IFACE "GetStatus",
		IFACE "CheckPolicy",
	};

	for (size_t i = 0; i < ARRAY_SIZE(reads); i++)
		if (streq(reads[i], method))
			return true;
	return false;
}

/* One call.  On success *reply is the reply's parameters, borrowed until
 * the next call.  A connection hostdevd closed while it sat idle (a restart)
 * is replaced before the call: nothing was sent on it, so this is safe for
 * every call, a Claim too.  A connection that breaks once the call is sent
 * is replaced and the call repeated only for a read (call_repeatable): a
 * Claim or Release may have reached the daemon, so its outcome is unknown
 * and the caller is told (ConnectionLost). */
static int mgr_call(struct hd_manager *m, const char *method, json_object *params,
		    json_object **reply, struct hd_error **e)
{
	const char *error_name;
	int r;

	if (m->conn && hdclient_peer_closed(m->conn))
		hdclient_free(steal_ptr(m->conn));
	if (!m->conn && (r = mgr_connect(m, e)) < 0)
		return r;
	if (hdclient_call(m->conn, method, params, reply, &error_name) < 0) {
		if (hdclient_last_error(m->conn)->failure != HDCLIENT_IO ||
		    !call_repeatable(method))
			return transport_error(m, method, e);
		hdclient_free(steal_ptr(m->conn));
		if ((r = mgr_connect(m, e)) < 0)
			return r;
		if (hdclient_call(m->conn, method, params, reply, &error_name) < 0)
			return transport_error(m, method, e);
	}
	if (error_name)
		return varlink_error(e, method, error_name, *reply);
	return 0;
}

/* The shape of every operation on a manager: checked, locked, run.  The
 * lock covers the whole operation, so that the calls of a prepare (its
 * GetDevice lookups, then the Claim) follow each other on the connection. */
typedef int (*mgr_op)(struct hd_manager *m, void *arg, struct hd_error **e);

static int run(struct hd_manager *m, mgr_op op, void *arg, struct hd_error **err)
{
	struct hd_error *e = NULL;
	int r;

	if (!m) {
		r = invalid_argument(&e, "mgr", "no manager given");
		return finish(err, e, r);
	}
	pthread_mutex_lock(&m->lock);
	r = op(m, arg, &e);
	pthread_mutex_unlock(&m->lock);
	return finish(err, e, r);
}

HD_EXPORT const char *hd_version(void)
{
	return HOSTDEVD_VERSION;
}

HD_EXPORT struct hd_manager *hd_manager_open(const char *socket_path, struct hd_error **err)
{
	struct hd_error *e = NULL;
	struct hd_manager *m;

	if (!socket_path || !*socket_path) {
		invalid_argument(&e, "socket_path", "no socket path given");
		finish(err, e, -EINVAL);
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->path = xstrdup(socket_path);
	m->timeout_ms = HD_DEFAULT_TIMEOUT_MS;
	if (mgr_connect(m, &e) < 0)
		hd_manager_free(steal_ptr(m));
	finish(err, e, 0);
	return m;
}

HD_EXPORT struct hd_manager *hd_manager_get_default(struct hd_error **err)
{
	const char *path = secure_getenv("HOSTDEVD_SOCKET");

	return hd_manager_open(path && *path ? path : HD_DEFAULT_SOCKET, err);
}

HD_EXPORT void hd_manager_free(struct hd_manager *mgr)
{
	if (!mgr)
		return;
	hdclient_free(mgr->conn);
	pthread_mutex_destroy(&mgr->lock);
	free(mgr->path);
	free(mgr);
}

HD_EXPORT void hd_manager_set_timeout(struct hd_manager *mgr, int timeout_ms)
{
	if (!mgr)
		return;
	pthread_mutex_lock(&mgr->lock);
	mgr->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
	if (mgr->conn)
		hdclient_set_timeout(mgr->conn, mgr->timeout_ms);
	pthread_mutex_unlock(&mgr->lock);
}

HD_EXPORT const char *hd_manager_socket_path(const struct hd_manager *mgr)
{
	return mgr ? mgr->path : NULL;
}

/* ---- Arguments ----------------------------------------------------------- */

#define STUB_FLAGS (HD_STUB_PCI_STUB | HD_STUB_XEN_PCIBACK)
#define PCI_ONLY_FLAGS (HD_WHOLE_GROUP | STUB_FLAGS)
#define USB_ONLY_FLAGS HD_UNBIND_INTERFACES
#define PREPARE_FLAGS (HD_UNMANAGED | PCI_ONLY_FLAGS | USB_ONLY_FLAGS | HD_LEASE | HD_LEASE_KEEP)

static int check_owner(const struct hd_owner *o, struct hd_error **e)
{
	if (!o || !o->driver || !*o->driver || !o->domain || !*o->domain)
		return invalid_argument(e, "owner", "an owner needs a driver and a domain name");
	return 0;
}

static int check_id(const char *id, const char *argument, struct hd_error **e)
{
	if (!id || !*id)
		return invalid_argument(e, argument, "no device id given");
	return 0;
}

static int check_ids(const char *const *ids, size_t n, const char *argument, struct hd_error **e)
{
	if (n && !ids)
		return invalid_argument(e, argument, "NULL with a count of %zu", n);
	for (size_t i = 0; i < n; i++)
		if (!ids[i] || !*ids[i])
			return invalid_argument(e, argument, "entry %zu is NULL or empty", i);
	return 0;
}

/* pci, usb: whether the call takes devices of that bus. */
static int check_prepare_flags(unsigned flags, bool pci, bool usb, struct hd_error **e)
{
	if (flags & ~(unsigned)PREPARE_FLAGS)
		return invalid_argument(e, "flags", "unknown flags %#x",
					flags & ~(unsigned)PREPARE_FLAGS);
	if (!pci && (flags & PCI_ONLY_FLAGS))
		return invalid_argument(e, "flags",
					"HD_WHOLE_GROUP and the stub flags apply to PCI functions only");
	if (!usb && (flags & USB_ONLY_FLAGS))
		return invalid_argument(e, "flags", "HD_UNBIND_INTERFACES applies to USB devices only");
	if ((flags & STUB_FLAGS) == STUB_FLAGS)
		return invalid_argument(e, "flags", "HD_STUB_PCI_STUB and HD_STUB_XEN_PCIBACK "
						    "exclude each other");
	if ((flags & STUB_FLAGS) && (flags & HD_UNMANAGED))
		return invalid_argument(e, "flags", "a stub flag needs a managed prepare: "
						    "unmanaged devices are not detached");
	return 0;
}

static const char *stub_name(unsigned flags)
{
	if (flags & HD_STUB_PCI_STUB)
		return "pci-stub";
	if (flags & HD_STUB_XEN_PCIBACK)
		return "pciback"; /* the module xen-pciback's PCI driver */
	return NULL;
}

static json_object *owner_json(const struct hd_owner *o)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "driver", json_object_new_string(o->driver));
	json_object_object_add(j, "domain", json_object_new_string(o->domain));
	if (o->uuid)
		json_object_object_add(j, "uuid", json_object_new_string(o->uuid));
	return j;
}

/* ---- Replies ------------------------------------------------------------- */

static bool get_string(json_object *o, const char *key, const char **out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return false;
	*out = json_object_get_string(v);
	return true;
}

/* Absent and null both mean false. */
static bool get_optional_bool(json_object *o, const char *key, bool *out)
{
	json_object *v = NULL;

	*out = false;
	json_object_object_get_ex(o, key, &v);
	if (!v || json_object_is_type(v, json_type_null))
		return true;
	if (!json_object_is_type(v, json_type_boolean))
		return false;
	*out = json_object_get_boolean(v);
	return true;
}

/* Absent and null both mean "none". */
static bool get_optional_string(json_object *o, const char *key, const char **out)
{
	json_object *v = NULL;

	*out = NULL;
	json_object_object_get_ex(o, key, &v);
	return !v || get_string(o, key, out);
}

static bool get_int(json_object *o, const char *key, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return true;
}

static bool get_bool(json_object *o, const char *key, bool *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
		return false;
	*out = json_object_get_boolean(v);
	return true;
}

/* Advances *s over a run of min..max characters passing ok(). */
static bool skip_run(const char **s, int (*ok)(int), size_t min, size_t max)
{
	size_t n = 0;

	while (n < max && ok((unsigned char)(*s)[n]))
		n++;
	if (n < min || ok((unsigned char)(*s)[n]))
		return false;
	*s += n;
	return true;
}

static bool skip_char(const char **s, char c)
{
	if (**s != c)
		return false;
	(*s)++;
	return true;
}

/* "DDDD:BB:DD.F", in either case, as hostdevd's selectors take it. */
static bool is_pci_address(const char *s)
{
	return skip_run(&s, isxdigit, 4, 8) && skip_char(&s, ':') && skip_run(&s, isxdigit, 2, 2) &&
	       skip_char(&s, ':') && skip_run(&s, isxdigit, 2, 2) && skip_char(&s, '.') &&
	       *s >= '0' && *s <= '7' && s[1] == '\0';
}

/* A USB port path "B-P[.P]*", or a root hub "usbN". */
static bool is_usb_port_path(const char *s)
{
	if (strncmp(s, "usb", 3) == 0) {
		s += 3;
		return skip_run(&s, isdigit, 1, 10) && *s == '\0';
	}
	if (!skip_run(&s, isdigit, 1, 10) || !skip_char(&s, '-'))
		return false;
	do {
		if (!skip_run(&s, isdigit, 1, 10))
			return false;
	} while (skip_char(&s, '.'));
	return *s == '\0';
}

/* The bus a canonical id belongs to, from its form alone. */
static const char *id_bus(const char *id)
{
	if (is_pci_address(id))
		return "pci";
	if (is_usb_port_path(id))
		return "usb";
	return NULL;
}

static int two_digits(const char *p)
{
	return isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1])
		       ? (p[0] - '0') * 10 + (p[1] - '0')
		       : -1;
}

/* RFC 3339: "2024-05-01T10:00:00Z", with optional fractions and a numeric
 * offset in place of Z.  hostdevd sends the plain UTC form today. */
static time_t parse_rfc3339(const char *s)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	long offset = 0;
	int h, m;

	if (!p)
		return (time_t)-1;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && (h = two_digits(p + 1)) >= 0 && p[3] == ':' &&
		   (m = two_digits(p + 4)) >= 0) {
		offset = (*p == '-' ? -1 : 1) * (h * 3600L + m * 60L);
		p += 6;
	} else {
		return (time_t)-1;
	}
	if (*p)
		return (time_t)-1;
	return timegm(&tm) - offset;
}

/* A USB claim's unbound_interfaces: absent or null for none. */
static bool unbound_decode(json_object *o, struct hd_claim *c)
{
	json_object *arr = NULL;

	json_object_object_get_ex(o, "unbound_interfaces", &arr);
	if (!arr)
		return true;
	if (!json_object_is_type(arr, json_type_array))
		return false;
	c->n_unbound = json_object_array_length(arr);
	c->unbound = xcalloc(c->n_unbound, sizeof(*c->unbound));
	for (size_t i = 0; i < c->n_unbound; i++) {
		json_object *u = json_object_array_get_idx(arr, i);

		if (!get_string(u, "interface", &c->unbound[i].interface) ||
		    !get_string(u, "driver", &c->unbound[i].driver))
			return false;
	}
	return true;
}

static bool claim_decode(json_object *o, struct hd_claim *c)
{
	json_object *owner;

	if (!get_string(o, "device", &c->device) || !json_object_object_get_ex(o, "owner", &owner) ||
	    !get_string(owner, "driver", &c->driver) || !get_string(owner, "domain", &c->domain) ||
	    !get_optional_string(owner, "uuid", &c->uuid) || !get_bool(o, "managed", &c->managed) ||
	    !get_int(o, "uid", &c->uid) || !get_int(o, "gid", &c->gid) ||
	    !get_int(o, "pid", &c->pid) || !get_string(o, "since", &c->since) ||
	    !get_optional_string(o, "bus", &c->bus) || !get_optional_string(o, "driver", &c->stub) ||
	    !get_optional_string(o, "node_owner", &c->node_owner) ||
	    !get_optional_bool(o, "from_pool", &c->from_pool))
		return false;
	/* A ClaimEntry names no bus today; a later schema may add it. */
	if (!c->bus)
		c->bus = id_bus(c->device);
	c->since_time = parse_rfc3339(c->since);
	return unbound_decode(o, c);
}

/* The reply's "claims" as a list, handed to *out or (out NULL) only
 * checked. */
static int claims_decode(json_object *reply, const char *method, struct hd_claim_list **out,
			 struct hd_error **e)
{
	json_object *arr;
	struct hd_claim_list *l;

	if (!json_object_object_get_ex(reply, "claims", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return protocol_error(e, method, "it has no claims array");
	l = xcalloc(1, sizeof(*l));
	l->claims = json_object_get(arr);
	l->n = json_object_array_length(arr);
	l->entries = xcalloc(l->n, sizeof(*l->entries));
	for (size_t i = 0; i < l->n; i++) {
		if (!claim_decode(json_object_array_get_idx(arr, i), &l->entries[i])) {
			hd_claim_list_free(l);
			return protocol_error(e, method, "claims[%zu] is not a ClaimEntry", i);
		}
	}
	if (out)
		*out = l;
	else
		hd_claim_list_free(l);
	return 0;
}

/* An array of strings as a NULL-terminated copy; NULL if it is not one. */
static char **strv_decode(json_object *arr)
{
	size_t n;
	char **v;

	if (!json_object_is_type(arr, json_type_array))
		return NULL;
	n = json_object_array_length(arr);
	v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(s, json_type_string)) {
			hd_strv_free(v);
			return NULL;
		}
		v[i] = xstrdup(json_object_get_string(s));
	}
	return v;
}

/* ---- Resolving devices and checking their bus ---------------------------- */

/* GetDevice of one selector: the canonical id and bus hostdevd resolved it
 * to, borrowed until the next call. */
static int get_device(struct hd_manager *m, const char *sel, const char **id, const char **bus,
		      struct hd_error **e)
{
	json_object *p = param1("device", sel), *reply, *dev;
	int r = mgr_call(m, IFACE "GetDevice", p, &reply, e);

	json_object_put(p);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(reply, "device", &dev) || !get_string(dev, "id", id) ||
	    !get_string(dev, "bus", bus))
		return protocol_error(e, IFACE "GetDevice", "the device has no id or bus");
	return 0;
}

static const char *bus_label(const char *bus)
{
	return streq(bus, "pci") ? "PCI" : streq(bus, "usb") ? "USB" : bus;
}

static int wrong_bus(struct hd_error **e, const char *sel, const char *id, const char *bus,
		     const char *want)
{
	json_object *p = json_object_new_object();
	_cleanup_free_ char *named = streq(sel, id) ? xstrdup(id) : str_printf("'%s' (%s)", sel, id);

	json_object_object_add(p, "device", json_object_new_string(sel));
	json_object_object_add(p, "bus", json_object_new_string(bus));
	json_object_object_add(p, "expected", json_object_new_string(want));
	return error_take(e, HD_ERROR_WRONG_BUS, EINVAL, p,
			  str_printf("%s is a %s device, but this call takes %s devices only; "
				     "nothing was changed",
				     named, bus_label(bus), bus_label(want)));
}

/* Resolves every selector, checks it is on bus `want`, and appends the
 * canonical ids to `devices`.  A PCI address or a USB port path names its
 * bus by its form, and hostdevd resolves it within the call that follows:
 * no GetDevice round trip first (issue 15: one round trip per prepare).
 * Other selectors (vendor:product, a serial...) are looked up. */
static int resolve_into(struct hd_manager *m, const char *const *ids, size_t n, const char *want,
			json_object *devices, struct hd_error **e)
{
	for (size_t i = 0; i < n; i++) {
		const char *id = NULL, *bus = id_bus(ids[i]);
		int r;

		if (bus) {
			if (!streq(bus, want))
				return wrong_bus(e, ids[i], ids[i], bus, want);
			json_object_array_add(devices, json_object_new_string(ids[i]));
			continue;
		}
		r = get_device(m, ids[i], &id, &bus, e);
		if (r < 0)
			return r;
		if (!streq(bus, want))
			return wrong_bus(e, ids[i], id, bus, want);
		json_object_array_add(devices, json_object_new_string(id));
	}
	return 0;
}

/* ---- Prepare and reattach ------------------------------------------------ */

struct devices_req {
	const struct hd_owner *owner;
	const char *const *pci, *const *usb;
	size_t n_pci, n_usb;
	/* hd_prepare_hostdevs: devices of either bus, managed per device */
	bool per_device;
	const struct hd_hostdev *hostdevs;
	size_t n_hostdevs;
	const char *pci_arg, *usb_arg; /* the caller's names for the arrays */
	const char *driver; /* hd_prepare_hostdevs_driver: the stub or variant named */
	unsigned flags;
	bool pci_call, usb_call; /* the call takes devices of that bus */
	bool all;         /* reattach: every claim of the owner */
	struct hd_claim_list **claimed;
};

static int check_hostdevs(const struct hd_hostdev *devs, size_t n, struct hd_error **e)
{
	if (n && !devs)
		return invalid_argument(e, "devs", "NULL with a count of %zu", n);
	for (size_t i = 0; i < n; i++)
		if (!devs[i].device || !*devs[i].device)
			return invalid_argument(e, "devs", "entry %zu has a NULL or empty device",
						i);
	return 0;
}

static int check_devices_req(const struct devices_req *q, struct hd_error **e)
{
	int r;

	if ((r = check_owner(q->owner, e)) < 0 ||
	    (r = check_ids(q->pci, q->n_pci, q->pci_arg, e)) < 0 ||
	    (r = check_ids(q->usb, q->n_usb, q->usb_arg, e)) < 0)
		return r;
	return check_hostdevs(q->hostdevs, q->n_hostdevs, e);
}

/* The canonical ids of both lists, PCI first; NULL on failure. */
static json_object *resolve_all(struct hd_manager *m, const struct devices_req *q,
				struct hd_error **e)
{
	json_object *devices = json_object_new_array();

	if (resolve_into(m, q->pci, q->n_pci, "pci", devices, e) < 0 ||
	    resolve_into(m, q->usb, q->n_usb, "usb", devices, e) < 0) {
		json_object_put(devices);
		return NULL;
	}
	return devices;
}

/* hd_prepare_hostdevs's entries as the Claim's hostdevs, each with its
 * managed said, never left to the call's default. */
static json_object *hostdevs_json(const struct hd_hostdev *devs, size_t n)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		json_object *h = param1("device", devs[i].device);

		json_object_object_add(h, "managed", json_object_new_boolean(devs[i].managed));
		json_object_array_add(arr, h);
	}
	return arr;
}

/* devices: the resolved ids, or (hd_prepare_hostdevs) the hostdevs
 * entries; consumed. */
static json_object *claim_params(const struct devices_req *q, json_object *devices)
{
	json_object *p = json_object_new_object();
	const char *stub = q->driver ? q->driver : stub_name(q->flags);

	json_object_object_add(p, "owner", owner_json(q->owner));
	json_object_object_add(p, q->per_device ? "hostdevs" : "devices", devices);
	if (q->flags & HD_UNMANAGED)
		json_object_object_add(p, "managed", json_object_new_boolean(false));
	if (q->flags & HD_WHOLE_GROUP)
		json_object_object_add(p, "whole_group", json_object_new_boolean(true));
	if (stub)
		json_object_object_add(p, "driver", json_object_new_string(stub));
	if (q->flags & HD_UNBIND_INTERFACES)
		json_object_object_add(p, "unbind_interfaces", json_object_new_boolean(true));
	/* No pid: the lease is on the peer, this process. */
	if (q->flags & (HD_LEASE | HD_LEASE_KEEP)) {
		json_object *lease = json_object_new_object();

		if (q->flags & HD_LEASE_KEEP)
			json_object_object_add(lease, "on_exit", json_object_new_string("keep"));
		json_object_object_add(p, "lease", lease);
	}
	return p;
}

static struct hd_claim_list *claim_list_empty(void)
{
	struct hd_claim_list *l = xcalloc(1, sizeof(*l));

	l->claims = json_object_new_array();
	return l;
}

static int prepare_op(struct hd_manager *m, void *arg, struct hd_error **e)
{
	const struct devices_req *q = arg;
	json_object *devices, *params, *reply;
	int r;

	if ((r = check_devices_req(q, e)) < 0 || (r = check_prepare_flags(q->flags, q->pci_call, q->usb_call, e)) < 0)
		return r;
	if (q->per_device && (q->flags & HD_UNMANAGED))
		return invalid_argument(e, "flags", "HD_UNMANAGED does not apply to "
						    "hd_prepare_hostdevs: each entry says managed");
	if (q->driver && !*q->driver)
		return invalid_argument(e, "driver", "empty: pass NULL for the default choice");
	if (q->driver && (q->flags & STUB_FLAGS))
		return invalid_argument(e, "flags", "a stub flag and a driver name exclude each "
						    "other: name the one driver");
	if (q->n_pci + q->n_usb + q->n_hostdevs == 0) {
		if (q->claimed)
			*q->claimed = claim_list_empty();
		return 0;
	}
	/* hostdevs name no bus, so there is nothing to check first: hostdevd
	 * resolves them within the Claim. */
	devices = q->per_device ? hostdevs_json(q->hostdevs, q->n_hostdevs)
			      : resolve_all(m, q, e);
	if (!devices)
		return -(*e)->errnum;
	params = claim_params(q, devices);
	r = mgr_call(m, IFACE "Claim", params, &reply, e);
	json_object_put(params);
	if (r < 0)
		return r;
	return claims_decode(reply, IFACE "Claim", q->claimed, e);
}

static int reattach_op(struct hd_manager *m, void *arg, struct hd_error **e)
{
	const struct devices_req *q = arg;
	json_object *params, *devices = NULL, *reply;
	int r;

	if ((r = check_devices_req(q, e)) < 0)
		return r;
	if (q->flags)
		return invalid_argument(e, "flags", "no flags are defined for reattach: pass 0");
	if (!q->all && q->n_pci + q->n_usb == 0)
		return 0;
	if (!q->all && !(devices = resolve_all(m, q, e)))
		return -(*e)->errnum;
	params = json_object_new_object();
	json_object_object_add(params, "owner", owner_json(q->owner));
	if (devices)
		json_object_object_add(params, "devices", devices);
	r = mgr_call(m, IFACE "Release", params, &reply, e);
	json_object_put(params);
	return r;
}

static int prepare(struct hd_manager *mgr, struct devices_req *q, struct hd_error **err)
{
	if (q->claimed)
		*q->claimed = NULL;
	return run(mgr, prepare_op, q, err);
}

HD_EXPORT int hd_prepare_pci_devices(struct hd_manager *mgr, const struct hd_owner *owner,
				     const char *const *ids, size_t n, unsigned flags,
				     struct hd_claim_list **claimed, struct hd_error **err)
{
	struct devices_req q = { .owner = owner, .pci = ids, .n_pci = n, .pci_arg = "ids",
				 .flags = flags, .pci_call = true, .claimed = claimed };

	return prepare(mgr, &q, err);
}

HD_EXPORT int hd_prepare_usb_devices(struct hd_manager *mgr, const struct hd_owner *owner,
				     const char *const *ids, size_t n, unsigned flags,
				     struct hd_claim_list **claimed, struct hd_error **err)
{
	struct devices_req q = { .owner = owner, .usb = ids, .n_usb = n, .usb_arg = "ids",
				 .flags = flags, .usb_call = true, .claimed = claimed };

	return prepare(mgr, &q, err);
}

HD_EXPORT int hd_prepare_domain_devices(struct hd_manager *mgr, const struct hd_owner *owner,
					const char *const *pci_ids, size_t n_pci,
					const char *const *usb_ids, size_t n_usb, unsigned flags,
					struct hd_claim_list **claimed, struct hd_error **err)
{
	struct devices_req q = { .owner = owner, .pci = pci_ids, .n_pci = n_pci,
				 .usb = usb_ids, .n_usb = n_usb, .pci_arg = "pci_ids",
				 .usb_arg = "usb_ids", .flags = flags, .pci_call = true,
				 .usb_call = true, .claimed = claimed };

	return prepare(mgr, &q, err);
}

HD_EXPORT int hd_prepare_hostdevs(struct hd_manager *mgr, const struct hd_owner *owner,
				  const struct hd_hostdev *devs, size_t n, unsigned flags,
				  struct hd_claim_list **claimed, struct hd_error **err)
{
	struct devices_req q = { .owner = owner, .per_device = true, .hostdevs = devs,
				 .n_hostdevs = n, .flags = flags, .pci_call = true,
				 .usb_call = true, .claimed = claimed };

	return prepare(mgr, &q, err);
}

HD_EXPORT int hd_prepare_hostdevs_driver(struct hd_manager *mgr, const struct hd_owner *owner,
					 const struct hd_hostdev *devs, size_t n, const char *driver,
					 unsigned flags, struct hd_claim_list **claimed,
					 struct hd_error **err)
{
	struct devices_req q = { .owner = owner, .per_device = true, .hostdevs = devs,
				 .n_hostdevs = n, .driver = driver, .flags = flags,
				 .pci_call = true, .usb_call = true, .claimed = claimed };

	return prepare(mgr, &q, err);
}

HD_EXPORT int hd_reattach_pci_devices(struct hd_manager *mgr, const struct hd_owner *owner,
				      const char *const *ids, size_t n, unsigned flags,
				      struct hd_error **err)
{
	struct devices_req q = { .owner = owner, .pci = ids, .n_pci = n, .pci_arg = "ids",
				 .flags = flags };

	return run(mgr, reattach_op, &q, err);
}

HD_EXPORT int hd_reattach_usb_devices(struct hd_manager *mgr, const struct hd_owner *owner,
				      const char *const *ids, size_t n, unsigned flags,
				      struct hd_error **err)
{
	struct devices_req q = { .owner = owner, .usb = ids, .n_usb = n, .usb_arg = "ids",
				 .flags = flags };

	return run(mgr, reattach_op, &q, err);
}

HD_EXPORT int hd_reattach_domain_devices(struct hd_manager *mgr, const struct hd_owner *owner,
					 const char *const *pci_ids, size_t n_pci,
					 const char *const *usb_ids, size_t n_usb, unsigned flags,
					 struct hd_error **err)
{
	struct devices_req q = { .owner = owner, .pci = pci_ids, .n_pci = n_pci, .usb = usb_ids,
				 .n_usb = n_usb, .pci_arg = "pci_ids", .usb_arg = "usb_ids",
				 .flags = flags };

	return run(mgr, reattach_op, &q, err);
}

HD_EXPORT int hd_reattach_all_devices(struct hd_manager *mgr, const struct hd_owner *owner,
				      unsigned flags, struct hd_error **err)
{
	struct devices_req q = { .owner = owner, .flags = flags, .all = true };

	return run(mgr, reattach_op, &q, err);
}

/* ---- Node level ---------------------------------------------------------- */

struct node_req {
	const char *id;
	const char *driver;
	const struct hd_owner *owner;
	char **driver_out;
	char ***methods_out;
};

static int node_call(struct hd_manager *m, const char *method, const struct node_req *q,
		     json_object **reply, struct hd_error **e)
{
	json_object *p;
	int r;

	if ((r = check_id(q->id, "id", e)) < 0 || (q->owner && (r = check_owner(q->owner, e)) < 0))
		return r;
	p = param1("device", q->id);
	if (q->driver)
		json_object_object_add(p, "driver", json_object_new_string(q->driver));
	if (q->owner)
		json_object_object_add(p, "owner", owner_json(q->owner));
	r = mgr_call(m, method, p, reply, e);
	json_object_put(p);
	return r;
}

static int node_detach_op(struct hd_manager *m, void *arg, struct hd_error **e)
{
	json_object *reply;

	return node_call(m, IFACE "Detach", arg, &reply, e);
}

static int node_reattach_op(struct hd_manager *m, void *arg, struct hd_error **e)
{
	const struct node_req *q = arg;
	json_object *reply;
	const char *driver;
	int r = node_call(m, IFACE "Reattach", q, &reply, e);

	if (r < 0)
		return r;
	if (!get_optional_string(reply, "driver", &driver))
		return protocol_error(e, IFACE "Reattach", "driver is not a string");
	if (q->driver_out)
		*q->driver_out = xstrdup(driver);
	return 0;
}

static int node_reset_op(struct hd_manager *m, void *arg, struct hd_error **e)
{
	const struct node_req *q = arg;
	json_object *reply, *methods = NULL;
	char **v;
	int r = node_call(m, IFACE "Reset", q, &reply, e);

	if (r < 0)
		return r;
	json_object_object_get_ex(reply, "methods", &methods);
	v = strv_decode(methods);
	if (!v)
		return protocol_error(e, IFACE "Reset", "methods is not an array of strings");
	if (q->methods_out)
		*q->methods_out = v;
	else
		hd_strv_free(v);
	return 0;
}

HD_EXPORT int hd_node_detach(struct hd_manager *mgr, const char *id, const char *driver,
			     struct hd_error **err)
{
	struct node_req q = { .id = id, .driver = driver };

	return run(mgr, node_detach_op, &q, err);
}

HD_EXPORT int hd_node_reattach(struct hd_manager *mgr, const char *id, char **driver_out,
			       struct hd_error **err)
{
	struct node_req q = { .id = id, .driver_out = driver_out };

	if (driver_out)
		*driver_out = NULL;
	return run(mgr, node_reattach_op, &q, err);
}

HD_EXPORT int hd_node_reset(struct hd_manager *mgr, const char *id, const struct hd_owner *owner,
			    char ***methods_out, struct hd_error **err)
{
	struct node_req q = { .id = id, .owner = owner, .methods_out = methods_out };

	if (methods_out)
		*methods_out = NULL;
	return run(mgr, node_reset_op, &q, err);
}

struct open_req {
	const struct hd_owner *owner;
	const char *id;
	int *fd_out;
	bool *cdev_out;
	char **path_out;
};

static int open_device_op(struct hd_manager *m, void *arg, struct hd_error **e)
{
	const struct open_req *q = arg;
	json_object *p, *reply, *idx;
	const char *kind, *path;
	int r, fd;

	if (!q->fd_out)
		return invalid_argument(e, "fd_out", "no place for the descriptor given");
	if ((r = check_owner(q->owner, e)) < 0 || (r = check_id(q->id, "id", e)) < 0)
		return r;
	p = param1("device", q->id);
	json_object_object_add(p, "owner", owner_json(q->owner));
	r = mgr_call(m, IFACE "OpenDevice", p, &reply, e);
	json_object_put(p);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(reply, "fd_index", &idx) ||
	    !json_object_is_type(idx, json_type_int) || json_object_get_int64(idx) < 0 ||
	    !get_string(reply, "kind", &kind) || !get_string(reply, "path", &path))
		return protocol_error(e, IFACE "OpenDevice", "fd_index, kind or path missing");
	fd = hdclient_take_fd(m->conn, (size_t)json_object_get_int64(idx));
	if (fd < 0)
		return protocol_error(e, IFACE "OpenDevice", "no descriptor came with the reply");
	*q->fd_out = fd;
	if (q->cdev_out)
		*q->cdev_out = streq(kind, "cdev");
	if (q->path_out)
		*q->path_out = xstrdup(path);
	return 0;
}

HD_EXPORT int hd_open_device(struct hd_manager *mgr, const struct hd_owner *owner, const char *id,
			     int *fd_out, bool *cdev_out, char **path_out, struct hd_error **err)
{
	struct open_req q = { .owner = owner, .id = id, .fd_out = fd_out, .cdev_out = cdev_out,
			      .path_out = path_out };

	if (fd_out)
		*fd_out = -1;
	if (cdev_out)
		*cdev_out = false;
	if (path_out)
		*path_out = NULL;
	return run(mgr, open_device_op, &q, err);
}

HD_EXPORT void hd_strv_free(char **strv)
{
	if (!strv)
		return;
	for (char **s = strv; *s; s++)
		free(*s);
	free(strv);
}

/* ---- Active lists -------------------------------------------------------- */

struct list_req {
	const char *driver, *domain;
	struct hd_claim_list **out;
};

static int list_op(struct hd_manager *m, void *arg, struct hd_error **e)
{
	const struct list_req *q = arg;
	json_object *p, *reply;
	int r;

	if (!q->out)
		return invalid_argument(e, "out", "no place for the list given");
	p = json_object_new_object();
	if (q->driver)
		json_object_object_add(p, "driver", json_object_new_string(q->driver));
	if (q->domain)
		json_object_object_add(p, "domain", json_object_new_string(q->domain));
	r = mgr_call(m, IFACE "ListClaims", p, &reply, e);
	json_object_put(p);
	if (r < 0)
		return r;
	return claims_decode(reply, IFACE "ListClaims", q->out, e);
}

HD_EXPORT int hd_list_active(struct hd_manager *mgr, const char *driver, const char *domain,
			     struct hd_claim_list **out, struct hd_error **err)
{
	struct list_req q = { .driver = driver, .domain = domain, .out = out };

	if (out)
		*out = NULL;
	return run(mgr, list_op, &q, err);
}

HD_EXPORT size_t hd_claim_list_count(const struct hd_claim_list *list)
{
	return list ? list->n : 0;
}

HD_EXPORT const struct hd_claim *hd_claim_list_at(const struct hd_claim_list *list, size_t i)
{
	return list && i < list->n ? &list->entries[i] : NULL;
}

HD_EXPORT void hd_claim_list_free(struct hd_claim_list *list)
{
	if (!list)
		return;
	json_object_put(list->claims);
	for (size_t i = 0; i < list->n; i++)
		free(list->entries[i].unbound);
	free(list->entries);
	free(list);
}

HD_EXPORT const char *hd_claim_device(const struct hd_claim *c)
{
	return c->device;
}

HD_EXPORT const char *hd_claim_bus(const struct hd_claim *c)
{
	return c->bus;
}

HD_EXPORT const char *hd_claim_owner_driver(const struct hd_claim *c)
{
	return c->driver;
}

HD_EXPORT const char *hd_claim_owner_domain(const struct hd_claim *c)
{
	return c->domain;
}

HD_EXPORT const char *hd_claim_owner_uuid(const struct hd_claim *c)
{
	return c->uuid;
}

HD_EXPORT bool hd_claim_managed(const struct hd_claim *c)
{
	return c->managed;
}

HD_EXPORT size_t hd_claim_unbound_interface_count(const struct hd_claim *c)
{
	return c->n_unbound;
}

HD_EXPORT const char *hd_claim_unbound_interface(const struct hd_claim *c, size_t i,
						 const char **driver)
{
	if (i >= c->n_unbound)
		return NULL;
	if (driver)
		*driver = c->unbound[i].driver;
	return c->unbound[i].interface;
}

HD_EXPORT uid_t hd_claim_uid(const struct hd_claim *c)
{
	return (uid_t)c->uid;
}

HD_EXPORT gid_t hd_claim_gid(const struct hd_claim *c)
{
	return (gid_t)c->gid;
}

HD_EXPORT pid_t hd_claim_pid(const struct hd_claim *c)
{
	return (pid_t)c->pid;
}

HD_EXPORT const char *hd_claim_since(const struct hd_claim *c)
{
	return c->since;
}

HD_EXPORT time_t hd_claim_since_time(const struct hd_claim *c)
{
	return c->since_time;
}

HD_EXPORT const char *hd_claim_stub_driver(const struct hd_claim *c)
{
	return c->stub;
}

HD_EXPORT const char *hd_claim_node_owner(const struct hd_claim *c)
{
	return c->node_owner;
}

HD_EXPORT bool hd_claim_from_pool(const struct hd_claim *c)
{
	return c->from_pool;
}

/* ---- Devices and the detached pool --------------------------------------- */

struct hd_device {
	json_object *rec; /* borrowed from the list or the event */
};

struct hd_device_list {
	json_object *devices;
	struct hd_device *entries;
	size_t n;
};

struct devlist_req {
	const char *bus, *state;
	struct hd_device_list **out;
};

static int devlist_op(struct hd_manager *m, void *arg, struct hd_error **e)
{
	const struct devlist_req *q = arg;
	json_object *p, *reply, *arr;
	struct hd_device_list *l;
	int r;

	if (!q->out)
		return invalid_argument(e, "out", "no place for the list given");
	p = json_object_new_object();
	if (q->bus)
		json_object_object_add(p, "bus", json_object_new_string(q->bus));
	if (q->state)
		json_object_object_add(p, "state", json_object_new_string(q->state));
	r = mgr_call(m, IFACE "ListDevices", p, &reply, e);
	json_object_put(p);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(reply, "devices", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return protocol_error(e, IFACE "ListDevices", "the reply has no devices");
	l = xcalloc(1, sizeof(*l));
	l->devices = json_object_get(arr);
	l->n = json_object_array_length(arr);
	l->entries = xcalloc(l->n + 1, sizeof(*l->entries));
	for (size_t i = 0; i < l->n; i++) {
		l->entries[i].rec = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(l->entries[i].rec, json_type_object) ||
		    !json_get_str(l->entries[i].rec, "id")) {
			hd_device_list_free(l);
			return protocol_error(e, IFACE "ListDevices", "devices[%zu] is not a Device",
					      i);
		}
	}
	*q->out = l;
	return 0;
}

HD_EXPORT int hd_list_devices(struct hd_manager *mgr, const char *bus, const char *state,
			      struct hd_device_list **out, struct hd_error **err)
{
	struct devlist_req q = { .bus = bus, .state = state, .out = out };

	if (out)
		*out = NULL;
	return run(mgr, devlist_op, &q, err);
}

HD_EXPORT int hd_list_detached(struct hd_manager *mgr, struct hd_device_list **out,
			       struct hd_error **err)
{
	return hd_list_devices(mgr, NULL, "detached", out, err);
}

HD_EXPORT size_t hd_device_list_count(const struct hd_device_list *list)
{
	return list ? list->n : 0;
}

HD_EXPORT const struct hd_device *hd_device_list_at(const struct hd_device_list *list, size_t i)
{
	return list && i < list->n ? &list->entries[i] : NULL;
}

HD_EXPORT void hd_device_list_free(struct hd_device_list *list)
{
	if (!list)
		return;
	json_object_put(list->devices);
	free(list->entries);
	free(list);
}

HD_EXPORT const char *hd_device_id(const struct hd_device *d)
{
	return d ? json_get_str(d->rec, "id") : NULL;
}

HD_EXPORT const char *hd_device_bus(const struct hd_device *d)
{
	return d ? json_get_str(d->rec, "bus") : NULL;
}

HD_EXPORT const char *hd_device_state(const struct hd_device *d)
{
	return d ? json_get_str(d->rec, "state") : NULL;
}

HD_EXPORT const char *hd_device_driver(const struct hd_device *d)
{
	return d ? json_get_str(d->rec, "driver") : NULL;
}

HD_EXPORT const char *hd_device_original_driver(const struct hd_device *d)
{
	return d ? json_get_str(d->rec, "original_driver") : NULL;
}

static const char *claim_field(const struct hd_device *d, const char *key)
{
	json_object *c;

	return d && json_object_object_get_ex(d->rec, "claim", &c) ? json_get_str(c, key) : NULL;
}

HD_EXPORT const char *hd_device_claim_driver(const struct hd_device *d)
{
	return claim_field(d, "driver");
}

HD_EXPORT const char *hd_device_claim_domain(const struct hd_device *d)
{
	return claim_field(d, "domain");
}

HD_EXPORT const char *hd_device_json(const struct hd_device *d)
{
	return d ? json_object_to_json_string_ext(d->rec, JSON_C_TO_STRING_PLAIN) : NULL;
}

/* ---- Watch ---------------------------------------------------------------- */

struct hd_watch {
	char *path;
	struct hdclient *conn;
	int64_t sequence; /* the last one handed out */
};

struct hd_device_event {
	json_object *params; /* owned */
	const char *kind;
	int64_t sequence;
	struct hd_device device;
};

/* A transport failure of the stream: the connection is dropped (the next
 * hd_watch_next opens a new one). */
static int watch_failed(struct hd_watch *w, struct hd_error **e)
{
	struct hdclient_error last = *hdclient_last_error(w->conn);

	hdclient_free(steal_ptr(w->conn));
	return error_take(e, transport_names[last.failure], last.errnum > 0 ? last.errnum : EIO,
			  param1("method", IFACE "Watch"), xstrdup(last.message));
}

/* Opens the stream on a new connection and reads its first reply (the
 * current sequence number). */
static int watch_connect(struct hd_watch *w, struct hd_error **e)
{
	struct hdclient_error ce;
	json_object *reply, *v;
	const char *error_name;
	bool more;

	w->conn = hdclient_connect(w->path, &ce);
	if (!w->conn)
		return connect_error(e, w->path, &ce);
	hdclient_set_timeout(w->conn, HD_DEFAULT_TIMEOUT_MS);
	if (hdclient_call_more(w->conn, IFACE "Watch", NULL) < 0 ||
	    hdclient_next(w->conn, &reply, &error_name, &more) < 0)
		goto transport;
	if (error_name) {
		int r = varlink_error(e, IFACE "Watch", error_name, reply);

		hdclient_free(steal_ptr(w->conn));
		return r;
	}
	if (!json_object_object_get_ex(reply, "sequence", &v) || !more) {
		hdclient_free(steal_ptr(w->conn));
		return protocol_error(e, IFACE "Watch", "the first reply has no sequence");
	}
	w->sequence = json_object_get_int64(v);
	/* Events come when devices change: the stream may idle for ever. */
	hdclient_set_timeout(w->conn, -1);
	return 0;
transport:
	return watch_failed(w, e);
}

HD_EXPORT struct hd_watch *hd_watch_open(struct hd_manager *mgr, struct hd_error **err)
{
	struct hd_error *e = NULL;
	struct hd_watch *w;

	if (!mgr) {
		finish(err, e, invalid_argument(&e, "mgr", "no manager given"));
		return NULL;
	}
	w = xcalloc(1, sizeof(*w));
	w->path = xstrdup(mgr->path);
	if (watch_connect(w, &e) < 0)
		hd_watch_free(steal_ptr(w));
	finish(err, e, 0);
	return w;
}

HD_EXPORT int hd_watch_fd(const struct hd_watch *w)
{
	return w && w->conn ? hdclient_fd(w->conn) : -1;
}

static struct hd_device_event *event_new(json_object *params, const char *kind, int64_t seq)
{
	struct hd_device_event *ev = xcalloc(1, sizeof(*ev));

	ev->params = params;
	ev->kind = kind;
	ev->sequence = seq;
	return ev;
}

/* The stream broke (hostdevd restarted): one new stream, and a "resync"
 * event, since what happened in between is not known. */
static int watch_resume(struct hd_watch *w, struct hd_device_event **ev, struct hd_error **e)
{
	int r;

	hdclient_free(steal_ptr(w->conn));
	if ((r = watch_connect(w, e)) < 0)
		return r;
	*ev = event_new(json_object_new_object(), "resync", w->sequence);
	return 1;
}

static int watch_next(struct hd_watch *w, int timeout_ms, struct hd_device_event **ev,
		      struct hd_error **e)
{
	json_object *reply, *event, *v;
	const char *error_name;
	bool more;

	if (!w->conn)
		return watch_resume(w, ev, e);
	if (timeout_ms >= 0 && !hdclient_pending(w->conn)) {
		struct pollfd p = { .fd = hdclient_fd(w->conn), .events = POLLIN };
		int r = poll(&p, 1, timeout_ms);

		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
	}
	if (hdclient_next(w->conn, &reply, &error_name, &more) < 0) {
		if (hdclient_last_error(w->conn)->failure == HDCLIENT_IO)
			return watch_resume(w, ev, e);
		return watch_failed(w, e);
	}
	if (error_name) {
		int r = varlink_error(e, IFACE "Watch", error_name, reply);

		hdclient_free(steal_ptr(w->conn));
		return r;
	}
	if (json_object_object_get_ex(reply, "sequence", &v))
		w->sequence = json_object_get_int64(v);
	if (json_object_object_get_ex(reply, "event", &event)) {
		*ev = event_new(json_object_get(event), json_get_str(event, "event"), w->sequence);
		json_object_object_get_ex(event, "device", &(*ev)->device.rec);
	} else if (json_object_object_get_ex(reply, "resync", NULL)) {
		*ev = event_new(json_object_get(reply), "resync", w->sequence);
	} else {
		*ev = event_new(json_object_get(reply), "policy", w->sequence);
	}
	if (!(*ev)->kind)
		(*ev)->kind = "change";
	return 1;
}

HD_EXPORT int hd_watch_next(struct hd_watch *w, int timeout_ms, struct hd_device_event **ev,
			    struct hd_error **err)
{
	struct hd_error *e = NULL;
	int r;

	if (ev)
		*ev = NULL;
	if (!w || !ev)
		return finish(err, e, invalid_argument(&e, w ? "ev" : "watch", "NULL given"));
	r = watch_next(w, timeout_ms, ev, &e);
	return finish(err, e, r);
}

HD_EXPORT void hd_watch_free(struct hd_watch *w)
{
	if (!w)
		return;
	hdclient_free(w->conn);
	free(w->path);
	free(w);
}

HD_EXPORT const char *hd_device_event_kind(const struct hd_device_event *ev)
{
	return ev ? ev->kind : NULL;
}

HD_EXPORT int64_t hd_device_event_sequence(const struct hd_device_event *ev)
{
	return ev ? ev->sequence : -1;
}

HD_EXPORT const struct hd_device *hd_device_event_device(const struct hd_device_event *ev)
{
	return ev && ev->device.rec ? &ev->device : NULL;
}

HD_EXPORT const char *hd_device_event_json(const struct hd_device_event *ev)
{
	return ev ? json_object_to_json_string_ext(ev->params, JSON_C_TO_STRING_PLAIN) : NULL;
}

HD_EXPORT void hd_device_event_free(struct hd_device_event *ev)
{
	if (!ev)
		return;
	json_object_put(ev->params);
	free(ev);
}
