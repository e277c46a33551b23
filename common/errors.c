#include "common/errors.h"
#include "common/errtext.h"
#include "common/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define IFACE "io.hostdevd."
#define SERVICE "org.varlink.service."

/* The rows follow docs/io.hostdevd.varlink and the standard service
 * interface; tests/unit/test_errors.c checks the two against each other. */
static const struct hd_errdef defs[HDE__COUNT] = {
	[HDE_DEVICE_NOT_FOUND] = { IFACE "DeviceNotFound", { HDP_DEVICE }, ENODEV, { "device" },
				   "no device matches '%1'", errtext_device_not_found },
	[HDE_AMBIGUOUS_DEVICE] = { IFACE "AmbiguousDevice", { HDP_DEVICE, HDP_MATCHES }, ENOTUNIQ,
				   { "device", "matches" },
				   "'%1' matches several devices (%2); name one by its port path or "
				   "PCI address",
				   errtext_ambiguous },
	[HDE_INVALID_REQUEST] = { IFACE "InvalidRequest", { HDP_REASON }, EPROTO, { "reason" },
				  "hostdevd could not read the request for %m: %1",
				  errtext_invalid_request },
	[HDE_REQUEST_TOO_LARGE] = { IFACE "RequestTooLarge", { HDP_LIMIT }, EMSGSIZE, { "limit" },
				    "the request for %m is larger than hostdevd's limit of %1 bytes",
				    errtext_request_too_large },
	[HDE_WATCHER_TOO_SLOW] = { IFACE "WatcherTooSlow", { HDP_SEQUENCE }, EIO, { NULL },
				   NULL, errtext_watcher_too_slow },
	[HDE_DEVICE_BUSY] = { IFACE "DeviceBusy",
			      { HDP_DEVICE, HDP_OPERATION, HDP_DRIVER, HDP_DOMAIN }, EAGAIN,
			      { "operation", "device" },
			      "hostdevd is already running a %1 of %2; try again when it has "
			      "finished",
			      errtext_device_busy },
	[HDE_HOST_CRITICAL] = { IFACE "HostCritical", { HDP_DEVICE, HDP_REASON }, EPERM,
				{ "device", "reason" },
				"%1 must stay with the host, so hostdevd refused the %v (%2)",
				errtext_host_critical },
	[HDE_INVALID_DEVICE_STATE] = { IFACE "InvalidDeviceState", { HDP_DEVICE, HDP_STATE },
				       EINVAL, { "device", "state" },
				       "the %v of %1 was refused: it is in state %2",
				       errtext_invalid_state },
	[HDE_OPERATION_FAILED] = { IFACE "OperationFailed",
				   { HDP_DEVICE, HDP_STEP, HDP_ERRNO, HDP_MESSAGE }, 0,
				   { "device", "step", "message" },
				   "%v of %1 failed at step %2: %e (%3)", errtext_operation_failed },
	[HDE_TIMEOUT] = { IFACE "Timeout", { HDP_DEVICE, HDP_STEP, HDP_SECONDS }, ETIMEDOUT,
			  { "device", "step", "seconds" },
			  "%v of %1 timed out at step %2 after %3 s", errtext_timeout },
	[HDE_DEVICE_IN_USE] = { IFACE "DeviceInUse", { HDP_DEVICE, HDP_DRIVER, HDP_DOMAIN }, EBUSY,
				{ "device", "driver", "domain" },
				"%1 is in use by driver %2, domain %3", errtext_device_in_use },
	[HDE_GROUP_NOT_VIABLE] = { IFACE "GroupNotViable", { HDP_DEVICE, HDP_GROUP, HDP_MEMBERS },
				   EBUSY, { "device", "group", "members" },
				   "cannot prepare %1: IOMMU group %2 is not viable, as these members "
				   "are not on a stub driver: %3; detach them first, or prepare with "
				   "HD_WHOLE_GROUP",
				   errtext_group_not_viable },
	[HDE_NOT_CLAIMED] = { IFACE "NotClaimed", { HDP_DEVICE }, ENOENT, { "device" },
			      "%1 is not claimed by that owner",
			      errtext_not_claimed },
	[HDE_POLICY_REFUSED] = { IFACE "PolicyRefused",
				 { HDP_DEVICE, HDP_ACTION, HDP_RULE, HDP_FILE, HDP_LINE, HDP_REASON },
				 EPERM, { "device", "reason" },
				 "hostdevd's policy refused the %v of %1: %2", errtext_policy_refused },
	[HDE_PERMISSION_DENIED] = { IFACE "PermissionDenied",
				    { HDP_METHOD, HDP_PERMISSION, HDP_REASON }, EACCES, { NULL },
				    "hostdevd refused the %v: permission denied",
				    errtext_permission_denied },
	[HDE_POLICY_INVALID] = { IFACE "PolicyInvalid", { HDP_FILE, HDP_LINE, HDP_MESSAGE }, EINVAL,
				 { NULL }, NULL, errtext_policy_invalid },
	[HDE_STATE_UNAVAILABLE] = { IFACE "StateUnavailable", { HDP_DEVICE, HDP_ERRNO, HDP_MESSAGE },
				    ENOSPC, { "device", "message" },
				    "hostdevd could not save its state, so the %v of %1 did not "
				    "happen: %2",
				    errtext_state_unavailable },
	[HDE_NO_IOMMU] = { IFACE "NoIommu", { HDP_DEVICE, HDP_DRIVER }, ENXIO, { "device", "driver" },
			   "%1 has no IOMMU group, so %2 cannot take it: the IOMMU is off; turn it "
			   "on with intel_iommu=on or amd_iommu=on (and iommu=pt) on the kernel "
			   "command line and reboot",
			   errtext_no_iommu },
	[HDE_UNKNOWN_DRIVER] = { IFACE "UnknownDriver", { HDP_DRIVER, HDP_ACCEPTED }, EINVAL,
				 { "driver", "accepted" },
				 "hostdevd has no driver '%1' to detach to; it takes %2, or no "
				 "driver named for the device's vfio-pci variant (else vfio-pci)",
				 errtext_unknown_driver },
	[HDE_TOO_MANY_CONNECTIONS] = { IFACE "TooManyConnections", { HDP_LIMIT, HDP_REASON },
				       EMFILE, { "reason" },
				       "hostdevd refused the connection: %1; close some and try again",
				       errtext_too_many_connections },
	[HDE_INTERFACE_NOT_FOUND] = { SERVICE "InterfaceNotFound", { HDP_INTERFACE }, EOPNOTSUPP,
				      { "interface" }, "hostdevd does not serve the interface %1",
				      errtext_interface_not_found },
	[HDE_METHOD_NOT_FOUND] = { SERVICE "MethodNotFound", { HDP_METHOD }, EOPNOTSUPP,
				   { "method" },
				   "hostdevd does not know the method %1; it is older than this "
				   "libhostdev",
				   errtext_method_not_found },
	[HDE_METHOD_NOT_IMPLEMENTED] = { SERVICE "MethodNotImplemented", { HDP_METHOD }, EOPNOTSUPP,
					 { "method" },
					 "hostdevd does not implement the method %1; it is older "
					 "than this libhostdev",
					 errtext_method_not_found },
	[HDE_INVALID_PARAMETER] = { SERVICE "InvalidParameter", { HDP_PARAMETER }, EINVAL,
				    { "parameter" }, "hostdevd rejected the parameter '%1' of %m",
				    errtext_invalid_parameter },
	[HDE_VARLINK_PERMISSION_DENIED] = { SERVICE "PermissionDenied", { HDP_NONE }, EACCES,
					    { NULL }, "hostdevd refused the %v: permission denied",
					    errtext_permission_denied },
	[HDE_EXPECTED_MORE] = { SERVICE "ExpectedMore", { HDP_NONE }, EINVAL, { NULL }, NULL,
				NULL },
};

static const char *const param_names[HDP__COUNT] = {
	[HDP_DEVICE] = "device",       [HDP_MATCHES] = "matches",
	[HDP_REASON] = "reason",       [HDP_LIMIT] = "limit",
	[HDP_SEQUENCE] = "sequence",   [HDP_OPERATION] = "operation",
	[HDP_STATE] = "state",         [HDP_STEP] = "step",
	[HDP_ERRNO] = "errno",         [HDP_MESSAGE] = "message",
	[HDP_SECONDS] = "seconds",     [HDP_DRIVER] = "driver",
	[HDP_DOMAIN] = "domain",       [HDP_GROUP] = "group",
	[HDP_MEMBERS] = "members",     [HDP_ACTION] = "action",
	[HDP_RULE] = "rule",           [HDP_FILE] = "file",
	[HDP_LINE] = "line",           [HDP_METHOD] = "method",
	[HDP_PERMISSION] = "permission", [HDP_INTERFACE] = "interface",
	[HDP_PARAMETER] = "parameter", [HDP_ACCEPTED] = "accepted",
};

const struct hd_errdef *err_def(enum hd_errcode code)
{
	return code > HDE_OK && code < HDE__COUNT ? &defs[code] : NULL;
}

const struct hd_errdef *err_find(const char *name, enum hd_errcode *code)
{
	for (int i = HDE_OK + 1; i < HDE__COUNT; i++)
		if (streq(defs[i].name, name)) {
			if (code)
				*code = (enum hd_errcode)i;
			return &defs[i];
		}
	if (code)
		*code = HDE__COUNT;
	return NULL;
}

const char *err_name(enum hd_errcode code)
{
	const struct hd_errdef *d = err_def(code);

	return d ? d->name : NULL;
}

const char *err_param_name(enum hd_param p)
{
	return p > HDP_NONE && p < HDP__COUNT ? param_names[p] : NULL;
}

/* ---- op_error ------------------------------------------------------------ */

void op_error_set(struct op_error *e, int err, const char *step, const char *path,
		  const char *fmt, ...)
{
	va_list ap;

	e->err = err;
	snprintf(e->step, sizeof(e->step), "%s", step ? step : "");
	snprintf(e->path, sizeof(e->path), "%s", path ? path : "");
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

void op_error_append(struct op_error *e, const char *fmt, ...)
{
	size_t len = strlen(e->message);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->message + len, sizeof(e->message) - len, fmt, ap);
	va_end(ap);
}

/* ---- to the wire --------------------------------------------------------- */

static json_object *strings_json(char *const *v)
{
	json_object *arr = json_object_new_array();

	for (; v && *v; v++)
		json_object_array_add(arr, json_object_new_string(*v));
	return arr;
}

/* json-c would print 0.2 as 0.20000000000000001. */
static json_object *seconds_json(double seconds)
{
	char text[32];

	snprintf(text, sizeof(text), "%g", seconds);
	return json_object_new_double_s(seconds, text);
}

static json_object *str_json(const char *s)
{
	return json_object_new_string(s ? s : "");
}

/* One parameter's value, or NULL when an optional one is absent. */
static json_object *param_json(const struct hd_err *e, enum hd_param p)
{
	switch (p) {
	case HDP_DEVICE:
		return str_json(e->device);
	case HDP_MATCHES:
	case HDP_MEMBERS:
	case HDP_ACCEPTED:
		return strings_json(e->members);
	case HDP_REASON:
		return str_json(e->reason);
	case HDP_LIMIT:
	case HDP_SEQUENCE:
		return json_object_new_int64(e->number);
	case HDP_OPERATION:
		return str_json(e->operation);
	case HDP_STATE:
		return str_json(e->state);
	case HDP_STEP:
		return str_json(e->failure.step);
	case HDP_ERRNO:
		return json_object_new_int(e->failure.err);
	case HDP_MESSAGE:
		return str_json(e->failure.message);
	case HDP_SECONDS:
		return seconds_json(e->seconds);
	case HDP_DRIVER:
	case HDP_DOMAIN:
		/* DeviceBusy names the owner only when a Claim or Release
		 * holds the device (a Detach has none). */
		if (e->code == HDE_DEVICE_BUSY && !e->driver)
			return NULL;
		return str_json(p == HDP_DRIVER ? e->driver : e->domain);
	case HDP_GROUP:
		return json_object_new_int(e->group);
	case HDP_ACTION:
		return str_json(e->action);
	case HDP_RULE:
		return e->rule > 0 ? json_object_new_int(e->rule) : NULL;
	case HDP_FILE:
		/* PolicyRefused by the built-in default names no file. */
		return e->file ? json_object_new_string(e->file)
		       : e->code == HDE_POLICY_INVALID ? str_json(NULL)
						       : NULL;
	case HDP_LINE:
		return e->file || e->code == HDE_POLICY_INVALID ? json_object_new_int(e->line)
								 : NULL;
	case HDP_METHOD:
		return str_json(e->method);
	case HDP_INTERFACE:
	case HDP_PARAMETER:
		return str_json(e->name);
	case HDP_PERMISSION:
		return str_json(e->permission);
	default:
		return NULL;
	}
}

json_object *err_params(const struct hd_err *e)
{
	const struct hd_errdef *d = err_def(e->code);
	json_object *o = json_object_new_object();

	for (size_t i = 0; d && i < HD_ERR_MAX_PARAMS && d->params[i] != HDP_NONE; i++) {
		json_object *v = param_json(e, d->params[i]);

		if (v)
			json_object_object_add(o, param_names[d->params[i]], v);
	}
	return o;
}

const char *err_text(const struct hd_err *e)
{
	if (e->failure.message[0])
		return e->failure.message;
	if (e->reason[0])
		return e->reason;
	return err_name(e->code) ? err_name(e->code) : "no error";
}

const char *err_detail(const struct hd_err *e)
{
	if (e->reason[0])
		return e->reason;
	if (e->operation)
		return e->operation;
	if (e->state)
		return e->state;
	return e->failure.message;
}

void err_set(struct hd_err *e, enum hd_errcode code, const char *device)
{
	*e = (struct hd_err){ .code = code, .device = device };
}

void err_reason(struct hd_err *e, enum hd_errcode code, const char *device, const char *fmt,
		   ...)
{
	va_list ap;

	err_set(e, code, device);
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);
}

static const char *keep(char *buf, size_t size, const char *s)
{
	if (!s)
		return NULL;
	snprintf(buf, size, "%s", s);
	return buf;
}

void err_keep(struct hd_err_store *store, const struct hd_err *e)
{
	struct hd_err *k = &store->err;

	*k = *e;
	k->device = keep(store->device, sizeof(store->device), e->device);
	k->operation = keep(store->operation, sizeof(store->operation), e->operation);
	k->state = keep(store->state, sizeof(store->state), e->state);
	k->driver = keep(store->driver, sizeof(store->driver), e->driver);
	k->domain = keep(store->domain, sizeof(store->domain), e->domain);
	/* What no kept error carries (they come from a detach). */
	k->members = NULL;
	k->file = k->action = k->method = k->permission = k->name = NULL;
}
