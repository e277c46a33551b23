/* Typed access to JSON that came over the socket and is not trusted: a
 * missing member or one of another type reads as absent, never crashes. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

json_object *json_get_typed(json_object *obj, const char *key, json_type type);
const char *json_get_str(json_object *obj, const char *key);
bool json_get_int(json_object *obj, const char *key, int64_t *out);
json_object *json_get_obj(json_object *obj, const char *key);
json_object *json_get_array(json_object *obj, const char *key);

/* The strings of an array joined by ", " (a non-string member as "?");
 * `none` when it is empty or absent.  malloc'd. */
char *json_join_strings(json_object *array, const char *none);

/* A member as text: strings bare, anything else as JSON; "?" when absent. */
const char *json_param_text(json_object *params, const char *key);

/* A copy safe to print on a terminal (control characters replaced by '?'):
 * a USB device chooses its own strings, and escape sequences in them must
 * not reach the user's terminal.  NULL gives `none`.  malloc'd. */
char *text_sanitized(const char *s, const char *none);
