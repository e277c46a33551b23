#include "policy/refusal.h"

#include <stdio.h>

void policy_refusal(const struct policy_decision *d, const char *device, const char *reason,
		    struct hd_err *e)
{
	err_set(e, HDE_POLICY_REFUSED, device);
	e->action = policy_action_name(d->action);
	e->rule = d->rule >= 0 ? d->rule + 1 : 0;
	e->file = d->file;
	e->line = d->line;
	if (reason)
		snprintf(e->reason, sizeof(e->reason), "%s", reason);
	else
		snprintf(e->reason, sizeof(e->reason), "the policy says %s",
			 policy_action_name(d->action));
}
