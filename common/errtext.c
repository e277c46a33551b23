/* hostdevctl's sentences for hostdevd's errors (common/errors.h's table
 * points at them): what happened, in words, and what to do about it.  They
 * read the reply's parameters, which come over the socket and are not
 * trusted: a missing or mistyped one prints as "?". */
#include "common/errtext.h"
#include "common/jsonget.h"
#include "common/util.h"

#include <string.h>


char *errtext_device_not_found(const char *method, json_object *p)
{
	return xasprintf("no device matches '%s'", json_param_text(p, "device"));
}

char *errtext_ambiguous(const char *method, json_object *p)
{
	json_object *matches = json_get_array(p, "matches");
	_cleanup_free_ char *list = json_join_strings(matches, "-");
	size_t n = matches ? json_object_array_length(matches) : 0;

	return xasprintf("'%s' matches %zu devices: %s; name one of them by its port path "
			 "(or PCI address) instead",
			 json_param_text(p, "device"), n, list);
}

/* A device parameter is rejected when it is not a selector of any kind,
 * a driver when it is not a name at all (a name this host lacks is
 * UnknownDriver): say what one looks like. */
char *errtext_invalid_parameter(const char *method, json_object *p)
{
	const char *param = json_param_text(p, "parameter");
	bool selector = streq(param, "device") || streq(param, "devices");

	return xasprintf("hostdevd rejected the parameter '%s' of %s%s", param, method,
			 selector ? ": name a device by its PCI address (0000:03:00.0, or 03:00.0 "
				    "in domain 0000), USB port path (1-2.3), id:VVVV:PPPP[:SERIAL] "
				    "or usb:BUS.DEV"
			 : streq(param, "driver")
				 ? ": name a stub or a vfio-pci variant by its driver's or its "
				   "module's name (letters, digits, '-' and '_', at most 63)"
				 : "");
}

char *errtext_method_not_found(const char *method, json_object *p)
{
	return xasprintf("hostdevd does not know the method %s; it may be older than this "
			 "hostdevctl",
			 json_param_text(p, "method"));
}

char *errtext_interface_not_found(const char *method, json_object *p)
{
	return xasprintf("hostdevd does not serve the interface %s; it may be older than this "
			 "hostdevctl",
			 json_param_text(p, "interface"));
}

/* The methods that change a device: the verb a person would use, the
 * permission the schema says they need, and the state they start from. */
static const struct operation {
	const char *method, *verb, *permission, *needs;
} operations[] = {
	{ "io.hostdevd.Detach", "detach", "detach", "host" },
	{ "io.hostdevd.Reattach", "reattach", "detach", "detached" },
	{ "io.hostdevd.Claim", "claim", "claim",
	  "host or detached (an unmanaged claim: detached)" },
	{ "io.hostdevd.Release", "release", "release", "claimed" },
	{ "io.hostdevd.Repair", "repair", "detach",
	  "error, host or detached, with no operation or claim on it" },
	/* No state needed: Reset never answers InvalidDeviceState. */
	{ "io.hostdevd.Reset", "reset", "reset", NULL },
};

static const struct operation *find_operation(const char *method)
{
	for (size_t i = 0; i < ARRAY_SIZE(operations); i++)
		if (streq(method, operations[i].method))
			return &operations[i];
	return NULL;
}

/* The verb for one of the methods that change a device, or NULL. */
static const char *operation_verb(const char *method)
{
	const struct operation *op = find_operation(method);

	return op ? op->verb : NULL;
}

/* The daemon names the permission and why (io.hostdevd.PermissionDenied);
 * the standard error names nothing, so the method's usual one is given. */
char *errtext_permission_denied(const char *method, json_object *p)
{
	const struct operation *op = find_operation(method);
	const char *needed = json_object_object_get_ex(p, "permission", NULL)
				     ? json_param_text(p, "permission")
			     : op ? op->permission
				  : NULL;
	_cleanup_free_ char *perm =
		needed ? xasprintf(" (it needs the '%s' permission)", needed) : xstrdup("");
	_cleanup_free_ char *why = json_object_object_get_ex(p, "reason", NULL)
					   ? xasprintf(": %s", json_param_text(p, "reason"))
					   : xstrdup("");

	return xasprintf("hostdevd refused %s: permission denied%s%s; run as root or ask the "
			 "administrator to grant this user the permission in hostdevd's policy",
			 method, perm, why);
}

char *errtext_policy_invalid(const char *method, json_object *p)
{
	const char *line = json_param_text(p, "line");

	return xasprintf("hostdevd kept its policy: %s%s%s: %s (fix the file, check it with "
			 "'hostdevctl policy check', then reload)",
			 json_param_text(p, "file"), streq(line, "0") ? "" : ":",
			 streq(line, "0") ? "" : line, json_param_text(p, "message"));
}

char *errtext_invalid_request(const char *method, json_object *p)
{
	return xasprintf("hostdevd could not read the request for %s: %s", method,
			 json_param_text(p, "reason"));
}

char *errtext_request_too_large(const char *method, json_object *p)
{
	return xasprintf("the request for %s is larger than hostdevd's limit of %s bytes",
			 method, json_param_text(p, "limit"));
}

char *errtext_watcher_too_slow(const char *method, json_object *p)
{
	return xasprintf("hostdevd dropped this watcher because it fell behind after event %s; "
			 "watch again and run 'hostdevctl list' to catch up",
			 json_param_text(p, "sequence"));
}

char *errtext_too_many_connections(const char *method, json_object *p)
{
	return xasprintf("hostdevd refused the connection: %s (limit %s); close some of them and "
			 "try again",
			 json_param_text(p, "reason"), json_param_text(p, "limit"));
}

char *errtext_device_busy(const char *method, json_object *p)
{
	if (json_object_object_get_ex(p, "driver", NULL) &&
	    json_object_object_get_ex(p, "domain", NULL))
		return xasprintf("hostdevd is already running a %s of %s for driver %s, domain %s; "
				 "try again when it has finished",
				 json_param_text(p, "operation"), json_param_text(p, "device"),
				 json_param_text(p, "driver"), json_param_text(p, "domain"));
	return xasprintf("hostdevd is already running a %s of %s; try again when it has "
			 "finished (a device in state error waits for a stuck write to return "
			 "first: 'hostdevctl watch' shows when its state changes)",
			 json_param_text(p, "operation"), json_param_text(p, "device"));
}

char *errtext_host_critical(const char *method, json_object *p)
{
	const char *verb = operation_verb(method), *dev = json_param_text(p, "device");

	if (!verb)
		return xasprintf("%s must stay with the host, so hostdevd refused %s (%s)", dev,
				 method, json_param_text(p, "reason"));
	return xasprintf("%s must stay with the host, so hostdevd will not %s it (%s)", dev, verb,
			 json_param_text(p, "reason"));
}

/* What to do about a device in `state` that `method` does not act on. */
static const char *state_advice(const char *method, const char *state)
{
	static const struct {
		const char *method, *state, *advice;
	} advice[] = {
		{ "io.hostdevd.Detach", "detached",
		  "it is on another stub: reattach it first, then detach it to this one" },
		{ "io.hostdevd.Reattach", "host", "it is with the host already" },
		{ "io.hostdevd.Claim", "detached",
		  "reattach it first, or claim it for the stub it is on" },
		{ "io.hostdevd.Claim", "host",
		  "an unmanaged claim takes only a device already on a stub: detach it first, "
		  "or claim it without --unmanaged" },
		{ "io.hostdevd.Release", "host", "it is with the host already" },
		{ "io.hostdevd.Release", "detached", "nobody holds it: it is in the detached pool" },
		{ NULL, "detaching", "an operation is moving it: wait until it has finished" },
		{ NULL, "releasing", "an operation is moving it: wait until it has finished" },
		{ NULL, "claimed", "a guest holds it: release it first" },
		/* States earlier schemas listed (no daemon entered them): any answer is explained. */
		{ NULL, "missing", "the device is gone from the system" },
		{ NULL, "refused", "hostdevd's policy keeps it with the host" },
		{ NULL, "error",
		  "an earlier operation failed or is stuck in the kernel; hostdevd's log says "
		  "which; once the fault is cleared, 'hostdevctl repair DEVICE' puts it back" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(advice); i++)
		if ((!advice[i].method || streq(advice[i].method, method)) &&
		    streq(advice[i].state, state))
			return advice[i].advice;
	return NULL;
}

char *errtext_invalid_state(const char *method, json_object *p)
{
	const struct operation *op = find_operation(method);
	const char *state = json_param_text(p, "state");
	const char *advice = state_advice(method, state);
	_cleanup_free_ char *head = NULL;

	if (streq(method, "io.hostdevd.Claim") && streq(state, "detached"))
		/* The one detached device a claim refuses: on another stub than
		 * the one the claim names. */
		head = xasprintf("cannot claim %s: it is detached on another stub than the one "
				 "named",
				 json_param_text(p, "device"));
	else if (!op || !op->needs)
		head = xasprintf("hostdevd refused %s on %s: it is in state %s", method,
				 json_param_text(p, "device"), state);
	else
		head = xasprintf("cannot %s %s: it is in state %s, and %s needs state %s",
				 op->verb, json_param_text(p, "device"), state, op->verb, op->needs);
	return xasprintf("%s%s%s", head, advice ? "; " : "", advice ? advice : "");
}

/* errno as the daemon's machine words it; the daemon and hostdevctl share
 * the kernel, so its numbers are ours. */
static char *errno_text(json_object *p)
{
	int64_t err;

	if (!json_get_int(p, "errno", &err) || err <= 0 || err > 4095)
		return xasprintf("error %s", json_param_text(p, "errno"));
	return xstrdup(strerror((int)err));
}

/* What was undone after `step` failed, per detach.md's table. */
static const char *undo_text(const char *step)
{
	if (streq(step, "check") || streq(step, "load_module"))
		return "nothing was changed";
	/* A reset has nothing to undo; the kernel alone knows how far it got. */
	if (streq(step, "reset"))
		return "the device keeps its driver and state";
	return "hostdevd undid the steps before it; if that failed too, the message says so "
	       "and the device is in state error";
}

/* What became of the other devices of a request naming several: a claim
 * is all or nothing (SPEC); a release stops at the first failure and keeps
 * what it released (the schema). */
static const char *batch_undo_text(const char *method)
{
	if (streq(method, "io.hostdevd.Claim"))
		return "; nothing was claimed: the devices this claim had already detached went "
		       "back to their host drivers";
	if (streq(method, "io.hostdevd.Release"))
		return "; the devices released before it stay released ('hostdevctl claims' "
		       "shows what the owner still holds)";
	return "";
}

char *errtext_operation_failed(const char *method, json_object *p)
{
	const char *verb = operation_verb(method), *step = json_param_text(p, "step");
	_cleanup_free_ char *why = errno_text(p);

	return xasprintf("%s of %s failed at step %s: %s (%s); %s%s", verb ? verb : method,
			 json_param_text(p, "device"), step, why, json_param_text(p, "message"),
			 undo_text(step), batch_undo_text(method));
}

char *errtext_timeout(const char *method, json_object *p)
{
	const char *verb = operation_verb(method), *step = json_param_text(p, "step");
	const char *dev = json_param_text(p, "device");

	/* A bind that never came was rolled back before the answer; a write
	 * still inside the kernel could not be. */
	if (streq(step, "reset"))
		return xasprintf("reset of %s timed out: the kernel's reset did not return within "
				 "%s s; hostdevd answers DeviceBusy for %s until it does (its "
				 "driver and state are left as they were)",
				 dev, json_param_text(p, "seconds"), dev);
	if (streq(step, "confirm_bind"))
		return xasprintf("%s of %s timed out: no driver bound within %s s; hostdevd undid "
				 "the steps (if that failed, the device is in state error: see "
				 "'hostdevctl show %s')%s",
				 verb ? verb : method, dev, json_param_text(p, "seconds"), dev,
				 batch_undo_text(method));
	return xasprintf("%s of %s timed out: the %s write did not return within %s s; the "
			 "device is left in state error until the kernel finishes the write and "
			 "hostdevd re-reads it and rolls it back ('hostdevctl watch' shows when; "
			 "whatever uses the device may be holding it)%s",
			 verb ? verb : method, dev, step, json_param_text(p, "seconds"),
			 batch_undo_text(method));
}

char *errtext_device_in_use(const char *method, json_object *p)
{
	if (streq(method, "io.hostdevd.Reset"))
		return xasprintf("%s is in use by driver %s, domain %s; only its owner may reset "
				 "it (hostdevctl reset %s --owner %s/%s)",
				 json_param_text(p, "device"), json_param_text(p, "driver"),
				 json_param_text(p, "domain"), json_param_text(p, "device"),
				 json_param_text(p, "driver"), json_param_text(p, "domain"));
	return xasprintf("%s is in use by driver %s, domain %s; it stays theirs until they "
			 "release it ('hostdevctl claims' lists who holds what)",
			 json_param_text(p, "device"), json_param_text(p, "driver"), json_param_text(p, "domain"));
}

char *errtext_group_not_viable(const char *method, json_object *p)
{
	_cleanup_free_ char *members = json_join_strings(json_get_array(p, "members"), "-");

	return xasprintf("cannot claim %s: IOMMU group %s is not viable, as these members are "
			 "not on a stub driver: %s; detach them first, or claim the whole group "
			 "with --whole-group",
			 json_param_text(p, "device"), json_param_text(p, "group"), members);
}

char *errtext_policy_refused(const char *method, json_object *p)
{
	const struct operation *op = find_operation(method);
	_cleanup_free_ char *where =
		json_object_object_get_ex(p, "file", NULL)
			? xasprintf("rule %s at %s:%s", json_param_text(p, "rule"), json_param_text(p, "file"),
				    json_param_text(p, "line"))
			: xstrdup("its default");

	return xasprintf("hostdevd's policy does not let you %s %s: %s (%s; 'hostdevctl "
			 "policy explain %s' says why)",
			 op ? op->verb : "use", json_param_text(p, "device"), json_param_text(p, "reason"),
			 where, json_param_text(p, "device"));
}

char *errtext_state_unavailable(const char *method, json_object *p)
{
	const struct operation *op = find_operation(method);

	return xasprintf("hostdevd could not save its state, so it did not %s %s: %s; free space "
			 "in or make writable its state directory (--state-dir) and try again",
			 op ? op->verb : "act on", json_param_text(p, "device"),
			 json_param_text(p, "message"));
}

char *errtext_no_iommu(const char *method, json_object *p)
{
	const struct operation *op = find_operation(method);

	return xasprintf("cannot %s %s: it has no IOMMU group, because the IOMMU is off, and %s "
			 "needs one; turn the IOMMU on with intel_iommu=on (Intel) or amd_iommu=on "
			 "(AMD), and iommu=pt, on the kernel command line and reboot (or use "
			 "--driver pci-stub, which needs none)",
			 op ? op->verb : "move", json_param_text(p, "device"),
			 json_param_text(p, "driver"));
}

/* The daemon alone knows its host's variants: the list is its. */
char *errtext_unknown_driver(const char *method, json_object *p)
{
	_cleanup_free_ char *accepted = json_join_strings(json_get_array(p, "accepted"), "none");

	return xasprintf("hostdevd has no driver '%s' to detach to: it takes %s (a stub, or a "
			 "vfio-pci variant of this host by its driver's or its module's name); "
			 "leave --driver out for the device's own vfio-pci variant, or vfio-pci "
			 "when it has none ('hostdevctl show DEVICE' names it)",
			 json_param_text(p, "driver"), accepted);
}

char *errtext_not_claimed(const char *method, json_object *p)
{
	/* Release and OpenDevice both answer it: say what did not happen. */
	bool release = method && strstr(method, "Release");

	return xasprintf("%s is not claimed by that owner, so %s ('hostdevctl claims' lists who "
			 "holds what)",
			 json_param_text(p, "device"),
			 release ? "nothing was released" : "it was not opened for them");
}

/* Errors without a sentence of their own: name every parameter. */
char *errtext_generic(const char *method, json_object *p)
{
	char *params = NULL;

	if (p && json_object_is_type(p, json_type_object)) {
		json_object_object_foreach(p, key, val)
		{
			(void)val;
			char *next = xasprintf("%s%s%s: %s", params ? params : "", params ? ", " : "",
					       key, json_param_text(p, key));

			free(params);
			params = next;
		}
	}
	if (!params)
		return xasprintf("%s failed", method);
	char *r = xasprintf("%s failed: %s", method, params);

	free(params);
	return r;
}

