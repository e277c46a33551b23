/* A policy decision as the PolicyRefused error (common/errors.h): the one
 * place a refusal's where and why are laid out, for claims and detaches
 * alike. */
#pragma once

#include "common/errors.h"
#include "policy/policy.h"

/* e becomes PolicyRefused about `device`: d's action, its rule (from 1)
 * and file:line when a rule decided, and `reason` in words (NULL: "the
 * policy says ACTION").  The file is borrowed from the policy. */
void policy_refusal(const struct policy_decision *d, const char *device, const char *reason,
		    struct hd_err *e);
