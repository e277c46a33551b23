/* hostdevctl's sentences for hostdevd's errors: the `explain` column of
 * the error table (common/errors.h).  Each returns a malloc'd sentence
 * about the error answering `method`, from the reply's parameters. */
#pragma once

#include <json-c/json.h>

char *errtext_device_not_found(const char *method, json_object *p);
char *errtext_ambiguous(const char *method, json_object *p);
char *errtext_invalid_parameter(const char *method, json_object *p);
char *errtext_method_not_found(const char *method, json_object *p);
char *errtext_interface_not_found(const char *method, json_object *p);
char *errtext_permission_denied(const char *method, json_object *p);
char *errtext_policy_invalid(const char *method, json_object *p);
char *errtext_invalid_request(const char *method, json_object *p);
char *errtext_request_too_large(const char *method, json_object *p);
char *errtext_watcher_too_slow(const char *method, json_object *p);
char *errtext_device_busy(const char *method, json_object *p);
char *errtext_host_critical(const char *method, json_object *p);
char *errtext_invalid_state(const char *method, json_object *p);
char *errtext_operation_failed(const char *method, json_object *p);
char *errtext_timeout(const char *method, json_object *p);
char *errtext_device_in_use(const char *method, json_object *p);
char *errtext_group_not_viable(const char *method, json_object *p);
char *errtext_policy_refused(const char *method, json_object *p);
char *errtext_state_unavailable(const char *method, json_object *p);
char *errtext_not_claimed(const char *method, json_object *p);
char *errtext_no_iommu(const char *method, json_object *p);
char *errtext_unknown_driver(const char *method, json_object *p);
char *errtext_too_many_connections(const char *method, json_object *p);
/* Errors without a sentence of their own: every parameter named. */
char *errtext_generic(const char *method, json_object *p);
