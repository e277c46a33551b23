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
 * It also says who may do what over the socket (the clients section) and
 * holds the daemon-wide settings (socket_group, orphans).
 *
 * This module decides; it does not act: the daemon's claim engine, method
 * dispatch and hotplug automation consult it. */
#pragma once

#include "state/device.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

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

/* Where hostdevd looks for its policy unless --policy or HOSTDEVD_POLICY
 * names another path (SPEC "Interfaces and defaults"). */
#define POLICY_DEFAULT_PATH "/etc/hostdevd"

/* What went wrong loading, for people (file:line: message) and for the
 * protocol (the three apart).  line 0: the file as a whole. */
struct policy_error {
	char file[1024];
	int line;
	char message[512];
};

/* What a client may do (SPEC "Clients").  Same order as the names. */
enum policy_permission {
	POLICY_PERM_LIST = 0,
	POLICY_PERM_WATCH,
	POLICY_PERM_CLAIM,
	POLICY_PERM_RELEASE,
	POLICY_PERM_DETACH,
	POLICY_PERM_RESET,
	POLICY_PERM_ADMIN,
	POLICY_PERM__COUNT
};

/* The peer of a connection as the kernel reported it. */
struct policy_peer {
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups (SO_PEERGROUPS) */
	size_t n_groups;
};

enum policy_orphans { POLICY_ORPHANS_UNSET = 0, POLICY_ORPHANS_KEEP, POLICY_ORPHANS_REATTACH };

/* A detach or assign rule's driver that asks for the device's vfio-pci
 * variant (modules.alias's choice, as Detach without a driver), else
 * vfio-pci.  Opt-in: a rule with no driver means vfio-pci, which is what
 * the generated udev rules can write at boot; a variant's driver name is
 * known only once its module is loaded, so udevgen leaves such rules to
 * the daemon. */
#define POLICY_STUB_AUTO "auto"

/* What decided, for one device. */
struct policy_decision {
	enum policy_action action;
	int rule;           /* index of the deciding rule, -1 for the default */
	const char *file;   /* where the rule (or the default) is; NULL: built in */
	int line;
	/* detach/assign: the driver as the rule names it: a stub's driver
	 * name, POLICY_STUB_AUTO, or a vfio-pci variant's driver or module
	 * name, which the daemon resolves when it acts (engine/detach.h
	 * detach_choose()); vfio-pci when the rule names none (stub_named
	 * false). */
	const char *stub;
	bool stub_named;
	const char *owner_driver, *owner_domain; /* assign */
	bool deauthorize;   /* refuse, USB */
	bool host_critical_ok; /* the rule lifts the host-critical refusal */
};

/* Loads `path` (a file, or a directory with policy.conf and policy.d/).
 * NULL with a sentence in err ("policy.d/10-gpu.conf:12: unknown match key
 * 'vendr'") when anything is wrong.  A directory without policy.conf and
 * without policy.d gives the built-in default. */
struct policy *policy_load(const char *path, char *err, size_t size);
/* The same, with the error in parts. */
struct policy *policy_load_checked(const char *path, struct policy_error *e);
void policy_error_format(const struct policy_error *e, char *buf, size_t size);
/* The built-in policy when there is no file: observe, allow claims by root,
 * detach nothing (SPEC). */
struct policy *policy_default(void);
void policy_free(struct policy *p);

size_t policy_rule_count(const struct policy *p);
/* Rule i's driver as the rule names it (a stub's driver name,
 * POLICY_STUB_AUTO or a vfio-pci variant's name), or NULL when it names
 * none; *file and *line say where the rule is. */
const char *policy_rule_driver(const struct policy *p, size_t i, const char **file, int *line);
size_t policy_client_count(const struct policy *p);
/* What loaded but deserves a look, each "file:line: sentence": a user or
 * group the system does not know (the entry grants nothing; the socket
 * stays with root's group). */
size_t policy_warning_count(const struct policy *p);
const char *policy_warning(const struct policy *p, size_t i);
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

/* The permissions of `peer`, a bit per enum policy_permission.  Root has
 * all, whatever the file says (no lock-out).  Without a clients section
 * anyone who can open the socket may list and watch; with one, a peer has
 * the union of the entries it matches (uid, or a group it is in) — none
 * when it matches none.  admin implies every other permission.  p NULL:
 * the built-in default. */
unsigned policy_permissions(const struct policy *p, const struct policy_peer *peer);
const char *policy_permission_name(enum policy_permission perm);
/* Whether a claim for owner driver/domain is within what an entry granting
 * `claim` to `peer` allows (its drivers list and domain patterns). */
bool policy_may_claim_for(const struct policy *p, const struct policy_peer *peer,
			  const char *driver, const char *domain);
/* Whether decision d (for a claim) refuses owner driver/domain: refuse and
 * ignore refuse everyone, assign everyone but its owner.  The reason in
 * words ("the policy reserves it for driver qemu, domain router"). */
bool policy_refuses_claim(const struct policy_decision *d, const char *driver,
			  const char *domain, char *reason, size_t size);
/* The group the socket belongs to, if the policy names one. */
bool policy_socket_group(const struct policy *p, gid_t *gid);
enum policy_orphans policy_orphans(const struct policy *p);

/* One line per rule and the default, for --check-policy. */
void policy_describe(const struct policy *p, FILE *out);
