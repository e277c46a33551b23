/* Every error hostdevd answers with, defined once (SPEC "The claim
 * protocol", docs/io.hostdevd.varlink).
 *
 * One table row per error: its Varlink name, the parameters it carries in
 * the schema's order, the errno libhostdev reports for it and the sentences
 * hostdevctl and libhostdev print.  The daemon's engines describe what went
 * wrong as a struct hd_err from the start; the daemon writes it to the wire
 * through the row (err_params), so no module names an error or lays out
 * its parameters on its own.  Clients look a reply's error up by name. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum hd_errcode {
	HDE_OK = 0,
	/* io.hostdevd */
	HDE_DEVICE_NOT_FOUND,
	HDE_AMBIGUOUS_DEVICE,
	HDE_INVALID_REQUEST,
	HDE_REQUEST_TOO_LARGE,
	HDE_WATCHER_TOO_SLOW,
	HDE_DEVICE_BUSY,
	HDE_HOST_CRITICAL,
	HDE_INVALID_DEVICE_STATE,
	HDE_OPERATION_FAILED,
	HDE_TIMEOUT,
	HDE_DEVICE_IN_USE,
	HDE_GROUP_NOT_VIABLE,
	HDE_NOT_CLAIMED,
	HDE_POLICY_REFUSED,
	HDE_PERMISSION_DENIED,
	HDE_POLICY_INVALID,
	HDE_STATE_UNAVAILABLE,
	HDE_NO_IOMMU,
	HDE_UNKNOWN_DRIVER,
	HDE_TOO_MANY_CONNECTIONS,
	/* org.varlink.service */
	HDE_INTERFACE_NOT_FOUND,
	HDE_METHOD_NOT_FOUND,
	HDE_METHOD_NOT_IMPLEMENTED,
	HDE_INVALID_PARAMETER,
	HDE_VARLINK_PERMISSION_DENIED,
	HDE_EXPECTED_MORE,
	HDE__COUNT
};

/* An error's parameters, each written from one field of struct hd_err. */
enum hd_param {
	HDP_NONE = 0, /* ends a row's list */
	HDP_DEVICE,
	HDP_MATCHES,
	HDP_REASON,
	HDP_LIMIT,
	HDP_SEQUENCE,
	HDP_OPERATION,
	HDP_STATE,
	HDP_STEP,
	HDP_ERRNO,
	HDP_MESSAGE,
	HDP_SECONDS,
	HDP_DRIVER,
	HDP_DOMAIN,
	HDP_GROUP,
	HDP_MEMBERS,
	HDP_ACTION,
	HDP_RULE,
	HDP_FILE,
	HDP_LINE,
	HDP_METHOD,
	HDP_PERMISSION,
	HDP_INTERFACE,
	HDP_PARAMETER,
	HDP_ACCEPTED,
	HDP__COUNT
};

#define HD_ERR_MAX_PARAMS 6

/* The parameters a sentence template names, as in libhostdev's: %1..%3
 * are `keys`, %v the method's verb, %m the method, %e strerror(errno). */
struct hd_errdef {
	const char *name;                      /* "io.hostdevd.DeviceInUse" */
	enum hd_param params[HD_ERR_MAX_PARAMS]; /* the schema's order; HDP_NONE ends */
	int errnum;        /* what libhostdev reports; 0: the "errno" parameter */
	const char *lib_keys[3];
	const char *lib_text; /* libhostdev's sentence */
	/* hostdevctl's sentence about the error answering `method` (malloc'd),
	 * from the reply's parameters, which it must not trust. */
	char *(*explain)(const char *method, json_object *params);
};

/* What a step that failed was doing: OperationFailed's step, errno and
 * message (and the file, for the log). */
struct op_error {
	int err;          /* a positive errno; 0 when nothing failed */
	char step[32];    /* "driver_override", "unbind", "load_module"... */
	char path[256];   /* the file or module concerned */
	char message[512];
};

void op_error_set(struct op_error *e, int err, const char *step, const char *path,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Appends to the message (", rollback failed: ..."). */
void op_error_append(struct op_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One error, from where it happens to the wire.  code says which; only the
 * fields its row lists mean anything.  Pointers are borrowed: valid as long
 * as what answers with the error keeps them (hd_err_copy keeps them longer). */
struct hd_err {
	enum hd_errcode code;
	const char *device;
	struct op_error failure; /* OperationFailed: err, step, message; Timeout: step;
				  * StateUnavailable: err, message; PolicyInvalid: message */
	double seconds;          /* Timeout */
	const char *operation;   /* DeviceBusy: "Detach", "Claim"... */
	const char *state;       /* InvalidDeviceState */
	char reason[512];        /* HostCritical, PolicyRefused, PermissionDenied, InvalidRequest */
	const char *driver, *domain; /* DeviceInUse: who holds it; DeviceBusy: whose Claim or
				      * Release runs (NULL: none); NoIommu: the stub;
				      * UnknownDriver: the name given */
	int group;               /* GroupNotViable */
	char *const *members;    /* GroupNotViable, AmbiguousDevice; UnknownDriver: the
				  * names accepted.  NULL-terminated */
	const char *action;      /* PolicyRefused */
	int rule;                /* PolicyRefused: from 1; 0: the default, no rule */
	const char *file;        /* PolicyRefused (NULL: built in), PolicyInvalid */
	int line;                /* PolicyRefused, PolicyInvalid */
	const char *method;      /* PermissionDenied, MethodNotFound */
	const char *permission;  /* PermissionDenied */
	int64_t number;          /* RequestTooLarge, TooManyConnections: limit;
				  * WatcherTooSlow: sequence */
	const char *name;        /* InterfaceNotFound: the interface; InvalidParameter:
				  * the parameter */
};

const struct hd_errdef *err_def(enum hd_errcode code);
/* The row of a Varlink error name; NULL (and *code HDE__COUNT) if unknown. */
const struct hd_errdef *err_find(const char *name, enum hd_errcode *code);
const char *err_name(enum hd_errcode code);
const char *err_param_name(enum hd_param p);

/* The reply's parameters for e, as its row lists them. */
json_object *err_params(const struct hd_err *e);
/* The one-line form for a log: the message, or the reason, or the name. */
const char *err_text(const struct hd_err *e);
/* What stopped something, in words: a refusal's reason, the operation
 * running or the state it is in, else the failed step's message. */
const char *err_detail(const struct hd_err *e);

/* Shorthands for the common shapes. */
void err_set(struct hd_err *e, enum hd_errcode code, const char *device);
void err_reason(struct hd_err *e, enum hd_errcode code, const char *device, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));

/* A copy whose strings live in `store` (the borrowed ones copied there),
 * for an error kept past its callback: a claim's rollback answers with the
 * detach that failed. */
struct hd_err_store {
	struct hd_err err;
	char device[256], operation[32], state[32], driver[64], domain[256];
};
void err_keep(struct hd_err_store *store, const struct hd_err *e);
