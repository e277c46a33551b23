/* A tiny synchronous Varlink client for the tests, on common/varlink.h's
 * framing.  Kept apart from client/hdclient so that a daemon test does not
 * depend on the client library it is meant to check against.
 *
 * Every wait has the test deadline; a reply that is not a valid Varlink
 * reply fails the test.  Replies are the whole message object
 * ({"parameters": ..., "continues": ..., "error": ...}), owned by the caller. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct vlc;

struct vlc *vlc_connect(const char *socket_path);
void vlc_free(struct vlc *c);

/* Sends a call.  `params` (may be NULL) is not consumed. */
void vlc_send(struct vlc *c, const char *method, json_object *params, bool more);

/* The next reply; fails the test at the deadline or on a closed connection. */
json_object *vlc_recv(struct vlc *c);
/* The oldest descriptor received (SCM_RIGHTS) and not yet taken, now the
 * caller's; -1 when none came.  vlc_free closes those left. */
int vlc_take_fd(struct vlc *c);

/* Whether a complete reply is already buffered or arrives within
 * timeout_ms; for asserting that a stream stays quiet. */
bool vlc_pending(struct vlc *c, int timeout_ms);

/* Send and wait for the single reply. */
json_object *vlc_call(struct vlc *c, const char *method, json_object *params);

/* Parameters of a successful reply (borrowed); fails on an error reply,
 * printing it. */
json_object *vlc_params(json_object *reply);
/* The error name of a reply, NULL for success (borrowed). */
const char *vlc_error(json_object *reply);
/* Frees a reply that must be a success; fails on an error reply, printing
 * it. */
void vlc_expect_ok(json_object *reply);

/* Parameters of any reply, an error's too (borrowed); fails when there are
 * none. */
json_object *vlc_reply_params(json_object *reply);
/* One parameter of any reply, which must be there (borrowed), and the same
 * as a string. */
json_object *vlc_param(json_object *reply, const char *key);
const char *vlc_param_str(json_object *reply, const char *key);

/* json_object_equal, printing both sides when they differ. */
void vlc_assert_json_equal(json_object *expected, json_object *actual, const char *what);

/* Parses a JSON text into an object (fails the test on bad JSON). */
json_object *vlc_json(const char *text);
