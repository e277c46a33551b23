#include "common/jsonget.h"
#include "common/util.h"

json_object *json_get_typed(json_object *obj, const char *key, json_type type)
{
	json_object *v;

	if (!obj || !json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

const char *json_get_str(json_object *obj, const char *key)
{
	json_object *v = json_get_typed(obj, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

bool json_get_int(json_object *obj, const char *key, int64_t *out)
{
	json_object *v = json_get_typed(obj, key, json_type_int);

	if (!v)
		return false;
	*out = json_object_get_int64(v);
	return true;
}

json_object *json_get_obj(json_object *obj, const char *key)
{
	return json_get_typed(obj, key, json_type_object);
}

json_object *json_get_array(json_object *obj, const char *key)
{
	return json_get_typed(obj, key, json_type_array);
}

char *json_join_strings(json_object *array, const char *none)
{
	char *r = NULL;
	size_t n = array ? json_object_array_length(array) : 0;

	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(array, i);
		const char *s = json_object_is_type(e, json_type_string) ? json_object_get_string(e)
									 : "?";
		char *next = r ? xasprintf("%s, %s", r, s) : xstrdup(s);

		free(r);
		r = next;
	}
	return r ? r : xstrdup(none);
}

const char *json_param_text(json_object *params, const char *key)
{
	json_object *v;

	if (!params || !json_object_is_type(params, json_type_object) ||
	    !json_object_object_get_ex(params, key, &v))
		return "?";
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
}

char *text_sanitized(const char *s, const char *none)
{
	char *r = xstrdup(s ? s : none);

	for (char *p = r; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return r;
}
