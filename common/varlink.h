/* Varlink message framing and decoding, shared by the daemon and clients.
 *
 * A Varlink message is one JSON object followed by a NUL byte.  A call is
 * {"method": "iface.Method", "parameters": {...}, "more": bool, "oneway": bool};
 * a reply is {"parameters": {...}, "continues": bool} or, for an error,
 * {"error": "iface.Error", "parameters": {...}}.
 *
 * Decoders check every type before use and never trust the sender. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#define VL_DEFAULT_MAX_MESSAGE (1024 * 1024)

struct vl_call {
	const char *method;      /* points into the parsed object */
	json_object *parameters; /* never NULL: an empty object when absent */
	bool more;
	bool oneway;
	bool upgrade;
};

/* Parses one message body (without its NUL).  On success *root holds the
 * parsed object (the caller puts it) and *call points into it.  On failure
 * returns -1 and sets *reason to a static description. */
int vl_parse_call(const char *msg, size_t len, json_object **root, struct vl_call *call,
		  const char **reason);

struct vl_reply {
	const char *error;       /* NULL for a successful reply */
	json_object *parameters; /* never NULL */
	bool continues;
};

int vl_parse_reply(const char *msg, size_t len, json_object **root, struct vl_reply *reply,
		   const char **reason);

/* Serialisers return a malloc'd buffer holding the JSON text and its
 * terminating NUL; *len counts the NUL.  `parameters` may be NULL; it is not
 * consumed. */
char *vl_format_call(const char *method, json_object *parameters, bool more, size_t *len);
char *vl_format_reply(json_object *parameters, bool continues, size_t *len);
char *vl_format_error(const char *error, json_object *parameters, size_t *len);

/* Parameter accessors for handlers: each returns 0 when the field is absent
 * (leaving *out alone), 1 when present and of the right type, -1 when present
 * with another type (or null for a required field). */
int vl_param_string(json_object *params, const char *name, const char **out);
int vl_param_int(json_object *params, const char *name, long long *out);
int vl_param_bool(json_object *params, const char *name, bool *out);
