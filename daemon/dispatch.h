/* Protocol dispatch: a method table and the checks common to every method.
 *
 * Each entry names a method, the permission a peer needs to call it, the
 * parameters it takes and its handler.  The dispatcher does every check
 * that is common to all methods, once, before a handler runs: the interface
 * and method exist, the peer holds the permission, "more" is set where a
 * method streams, every parameter is known and of its declared type,
 * required ones are present.  Handlers only do their own work and reply.
 * The tables themselves are the method families' (daemon/methods.h). */
#pragma once

#include "common/varlink.h"
#include "daemon/server.h"
#include "policy/policy.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct methods_ctx;

/* The permissions the policy's clients section grants (policy.h). */
enum hd_permission {
	PERM_LIST = POLICY_PERM_LIST,
	PERM_WATCH = POLICY_PERM_WATCH,
	PERM_CLAIM = POLICY_PERM_CLAIM,
	PERM_RELEASE = POLICY_PERM_RELEASE,
	PERM_DETACH = POLICY_PERM_DETACH,
	PERM_RESET = POLICY_PERM_RESET,
	PERM_ADMIN = POLICY_PERM_ADMIN,
	PERM__COUNT = POLICY_PERM__COUNT
};

const char *permission_name(enum hd_permission perm);

/* The one place that decides what a peer may do: the policy's clients
 * (policy_permissions), the built-in default when ctx has no policy. */
bool peer_has_permission(const struct methods_ctx *ctx, const struct hd_peer *peer,
			 enum hd_permission perm);
/* The same peer as the policy module sees it. */
struct policy_peer peer_for_policy(const struct hd_peer *peer);

enum param_type {
	PARAM_STRING,
	PARAM_INT,
	PARAM_BOOL,
	/* Structured: the dispatcher checks the JSON type, the handler the
	 * contents. */
	PARAM_OBJECT,
	PARAM_ARRAY,
};

struct param_def {
	const char *name;
	enum param_type type;
	bool required;
};

enum method_flags {
	METHOD_NEEDS_MORE = 1u << 0, /* streams replies: refuse a call without "more" */
	METHOD_ANY_PEER = 1u << 1,   /* introspection: needs no permission */
};

/* A handler must answer through server_call_reply() or server_call_error()
 * before it returns (the server drops the answer to a oneway call), or
 * keep the call with server_call_defer(). */
typedef void (*method_handler)(struct methods_ctx *ctx, struct server_call *call,
			       json_object *params);

struct method_def {
	const char *name; /* fully qualified: "io.hostdevd.ListDevices" */
	method_handler handler;
	enum hd_permission perm;
	unsigned flags;
	const struct param_def *params; /* ends with { NULL }; NULL for none */
};

/* A table and the context its handlers run with: what the server calls
 * (dispatch_call is a server_dispatch_fn, with a struct dispatcher). */
struct dispatcher {
	const struct method_def *methods;
	size_t n_methods;
	struct methods_ctx *ctx;
};

void dispatch_call(void *dispatcher, struct server_call *call, const struct vl_call *vc);

/* Error replies the handlers of several families share. */
void reply_invalid_parameter(struct server_call *call, const char *parameter);
