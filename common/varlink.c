#include "common/varlink.h"
#include "common/util.h"

#include <string.h>

static json_object *parse_object(const char *msg, size_t len, const char **reason)
{
	json_tokener *tok;
	json_object *obj;

	if (len == 0) {
		*reason = "empty message";
		return NULL;
	}
	if (memchr(msg, '\0', len)) {
		*reason = "message contains a NUL byte";
		return NULL;
	}
	tok = json_tokener_new_ex(64);
	if (!tok) {
		*reason = "out of memory";
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, msg, (int)len);
	/* The whole message must be one JSON value, nothing after it. */
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(obj);
		json_tokener_free(tok);
		*reason = "message is not valid JSON";
		return NULL;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		*reason = "message is not a JSON object";
		return NULL;
	}
	return obj;
}

static int get_optional_bool(json_object *root, const char *key, bool *out, const char **reason)
{
	json_object *v;

	*out = false;
	if (!json_object_object_get_ex(root, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		*reason = "a flag (more, oneway, upgrade, continues) is not a boolean";
		return -1;
	}
	*out = json_object_get_boolean(v);
	return 0;
}

/* Makes sure root holds an object under "parameters" and returns it. */
static json_object *ensure_parameters(json_object *root, const char **reason)
{
	json_object *params;

	if (json_object_object_get_ex(root, "parameters", &params) &&
	    !json_object_is_type(params, json_type_null)) {
		if (!json_object_is_type(params, json_type_object)) {
			*reason = "\"parameters\" is not an object";
			return NULL;
		}
		return params;
	}
	params = json_object_new_object();
	json_object_object_add(root, "parameters", params);
	return params;
}

int vl_parse_call(const char *msg, size_t len, json_object **root, struct vl_call *call,
		  const char **reason)
{
	json_object *obj, *method;

	memset(call, 0, sizeof(*call));
	*root = NULL;
	obj = parse_object(msg, len, reason);
	if (!obj)
		return -1;
	if (!json_object_object_get_ex(obj, "method", &method) ||
	    !json_object_is_type(method, json_type_string)) {
		*reason = "message has no \"method\" string";
		goto fail;
	}
	call->method = json_object_get_string(method);
	if (!*call->method) {
		*reason = "\"method\" is empty";
		goto fail;
	}
	call->parameters = ensure_parameters(obj, reason);
	if (!call->parameters)
		goto fail;
	if (get_optional_bool(obj, "more", &call->more, reason) < 0 ||
	    get_optional_bool(obj, "oneway", &call->oneway, reason) < 0 ||
	    get_optional_bool(obj, "upgrade", &call->upgrade, reason) < 0)
		goto fail;
	*root = obj;
	return 0;
fail:
	json_object_put(obj);
	return -1;
}

int vl_parse_reply(const char *msg, size_t len, json_object **root, struct vl_reply *reply,
		   const char **reason)
{
	json_object *obj, *err;

	memset(reply, 0, sizeof(*reply));
	*root = NULL;
	obj = parse_object(msg, len, reason);
	if (!obj)
		return -1;
	if (json_object_object_get_ex(obj, "error", &err)) {
		if (!json_object_is_type(err, json_type_string)) {
			*reason = "\"error\" is not a string";
			goto fail;
		}
		reply->error = json_object_get_string(err);
	}
	reply->parameters = ensure_parameters(obj, reason);
	if (!reply->parameters)
		goto fail;
	if (get_optional_bool(obj, "continues", &reply->continues, reason) < 0)
		goto fail;
	*root = obj;
	return 0;
fail:
	json_object_put(obj);
	return -1;
}

static char *finish(json_object *root, size_t *len)
{
	size_t n;
	const char *text = json_object_to_json_string_length(
		root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	char *buf = xcalloc(1, n + 1);

	memcpy(buf, text, n);
	buf[n] = '\0';
	*len = n + 1;
	json_object_put(root);
	return buf;
}

static void add_parameters(json_object *root, json_object *parameters)
{
	json_object_object_add(root, "parameters",
			       parameters ? json_object_get(parameters) : json_object_new_object());
}

char *vl_format_call(const char *method, json_object *parameters, bool more, size_t *len)
{
	json_object *root = json_object_new_object();

	json_object_object_add(root, "method", json_object_new_string(method));
	add_parameters(root, parameters);
	if (more)
		json_object_object_add(root, "more", json_object_new_boolean(1));
	return finish(root, len);
}

char *vl_format_reply(json_object *parameters, bool continues, size_t *len)
{
	json_object *root = json_object_new_object();

	add_parameters(root, parameters);
	if (continues)
		json_object_object_add(root, "continues", json_object_new_boolean(1));
	return finish(root, len);
}

char *vl_format_error(const char *error, json_object *parameters, size_t *len)
{
	json_object *root = json_object_new_object();

	json_object_object_add(root, "error", json_object_new_string(error));
	add_parameters(root, parameters);
	return finish(root, len);
}

static int get_field(json_object *params, const char *name, json_type type, json_object **out)
{
	json_object *v;

	if (!params || !json_object_object_get_ex(params, name, &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, type))
		return -1;
	*out = v;
	return 1;
}

int vl_param_string(json_object *params, const char *name, const char **out)
{
	json_object *v;
	int r = get_field(params, name, json_type_string, &v);

	if (r == 1)
		*out = json_object_get_string(v);
	return r;
}

int vl_param_int(json_object *params, const char *name, long long *out)
{
	json_object *v;
	int r = get_field(params, name, json_type_int, &v);

	if (r == 1)
		*out = (long long)json_object_get_int64(v);
	return r;
}

int vl_param_bool(json_object *params, const char *name, bool *out)
{
	json_object *v;
	int r = get_field(params, name, json_type_boolean, &v);

	if (r == 1)
		*out = json_object_get_boolean(v);
	return r;
}
