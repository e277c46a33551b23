/* Policy files (SPEC "Policy (libconfig)", docs/policy.md): rules that say
 * what hostdevd does with a device — allow, refuse, detach, assign,
 * ignore — first match wins, then the default.
 *
 * A policy is loaded from a file, or from a directory holding policy.conf
 * and the .conf files of policy.d (read in name order, rules appended).
 * Loading validates everything: an unknown key, a wrong type, an action
 * that needs what it lacks, a host-critical override on anything but one
 * address — each is an error naming the file, the line and the problem,
 * and nothing is returned.  A loaded policy is immutable; a reload builds
 * a new one and swaps.
 *
 * This module decides; it does not act.  Not yet wired into the daemon's
 * claim and hotplug paths (issue 6 continues): `hostdevd --check-policy`
 * uses it today. */
#pragma once

#include "state/device.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum policy_action {
	POLICY_ALLOW = 0, /* claimable */
	POLICY_REFUSE,    /* never claimable (USB: optionally deauthorized) */
	POLICY_DETACH,    /* detached to a stub as it appears, kept in the pool */
	POLICY_ASSIGN,    /* detached and reserved for an owner */
	POLICY_IGNORE,    /* not hostdevd's business: not claimable, not acted on */
	POLICY_ACTION__COUNT
};

/* When a rule applies: to devices present when hostdevd starts, to those
 * that appear later, or both. */
enum policy_when { POLICY_ALWAYS = 0, POLICY_AT_START, POLICY_ON_HOTPLUG };

/* What is being decided: a device found at start, one that appeared, or a
 * claim (every rule counts, whatever its `when`: a device refused when it
 * appeared is refused to a claim too). */
enum policy_moment { POLICY_MOMENT_START = 0, POLICY_MOMENT_HOTPLUG, POLICY_MOMENT_CLAIM };

struct policy;

/* What decided, for one device. */
struct policy_decision {
	enum policy_action action;
	int rule;           /* index of the deciding rule, -1 for the default */
	const char *file;   /* where the rule (or the default) is; NULL: built in */
	int line;
	const char *stub;   /* detach/assign: the driver (vfio-pci unless set) */
	const char *owner_driver, *owner_domain; /* assign */
	bool deauthorize;   /* refuse, USB */
	bool host_critical_ok; /* the rule lifts the host-critical refusal */
};

/* Loads `path` (a file, or a directory with policy.conf and policy.d/).
 * NULL with a sentence in err ("policy.d/10-gpu.conf:12: unknown match key
 * 'vendr'") when anything is wrong.  A directory without policy.conf and
 * without policy.d gives the built-in default. */
struct policy *policy_load(const char *path, char *err, size_t size);
/* The built-in policy when there is no file: observe, allow claims by root,
 * detach nothing (SPEC). */
struct policy *policy_default(void);
void policy_free(struct policy *p);

size_t policy_rule_count(const struct policy *p);
const char *policy_action_name(enum policy_action a);

/* First match wins; rules limited by `when` skip the other moment. */
void policy_decide(const struct policy *p, const struct device *dev, enum policy_moment when,
		   struct policy_decision *out);
/* For tests and the benchmark: the same decision without the index (every
 * rule tried in order). */
void policy_decide_linear(const struct policy *p, const struct device *dev,
			  enum policy_moment when, struct policy_decision *out);

/* The decision and why: for every rule before the deciding one, the first
 * condition that did not match ("rule 1 (policy.conf:4): vendor is 8086,
 * not 10de"), then the deciding rule or the default. */
void policy_explain(const struct policy *p, const struct device *dev, enum policy_moment when,
		    FILE *out);

/* One line per rule and the default, for --check-policy. */
void policy_describe(const struct policy *p, FILE *out);
