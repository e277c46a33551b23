/* What the files of policy/ share and nothing outside sees: the layout of a
 * loaded policy, the loader's error reporting, and the calls between the
 * loader (load.c), the match keys (keys.c), the clients (clients.c), the
 * index (index.c) and the decisions (decide.c).  policy.h is the API. */
#pragma once

#include "policy/keys.h"
#include "policy/policy.h"

#include <libconfig.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

extern const char *const policy_action_names[POLICY_ACTION__COUNT];
extern const char *const policy_when_names[POLICY_ON_HOTPLUG + 1];

struct rule {
	char *file;
	int line;
	uint32_t n_conds;  /* at most one per match key */
	size_t first_cond; /* rule_conditions() */
	enum policy_action action;
	enum policy_when when;
	char *stub, *owner_driver, *owner_domain;
	bool deauthorize, host_critical_ok;
};

/* Who may do what over the socket. */
struct client {
	char *file;
	int line;
	bool by_group;  /* id is a gid (gid/group) or a uid (uid/user) */
	uint32_t id;
	unsigned perms; /* bit per enum policy_permission */
	char **drivers; /* NULL: any owner driver */
	size_t n_drivers;
	char **domains; /* fnmatch patterns; NULL: any domain */
	size_t n_domains;
	bool inert;     /* names a user or group the system does not have */
};

struct policy_index;

struct policy {
	struct rule *rules;
	size_t n_rules;
	/* Every rule's conditions, rule after rule, so that trying the rules
	 * in order reads memory in order. */
	struct condition *conds;
	size_t n_conds;
	enum policy_action dflt;
	char *dflt_file;
	int dflt_line;
	struct client *clients;
	size_t n_clients;
	bool have_clients;
	bool have_socket_group;
	gid_t socket_gid;
	enum policy_orphans orphans;
	char **warnings; /* "file:line: ..." */
	size_t n_warnings;
	struct policy_index *index; /* built at load; NULL: decide linearly */
	char **files;   /* the files read, in order (includes are named by their rules) */
	size_t n_files;
};

/* In match_keys order, whatever the file's. */
static inline const struct condition *rule_conditions(const struct policy *p,
						      const struct rule *r)
{
	return p->conds + r->first_cond;
}

void policy_rule_free(struct rule *r);

/* ---- loading (load.c) --------------------------------------------------- */

struct loader {
	struct policy *p;
	const char *file; /* the file being read, as the errors name it */
	char dir[PATH_MAX];  /* its directory: where @include looks */
	char path[PATH_MAX]; /* loader_file_of()'s answer for an included file */
	struct policy_error *e;
	bool failed;
};

/* The file a setting was read from, as errors and warnings name it. */
const char *loader_file_of(struct loader *l, const config_setting_t *s);
/* Records the first error only, and returns false for the caller to pass on. */
bool loader_bad(struct loader *l, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "file:line: sentence" among the policy's warnings. */
void loader_warn(struct loader *l, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool loader_string(struct loader *l, const config_setting_t *s, const char **out);
bool loader_int(struct loader *l, const config_setting_t *s, int *out);
bool loader_bool(struct loader *l, const config_setting_t *s, bool *out);

/* ---- clients (clients.c) ------------------------------------------------ */

/* One entry of the clients section, appended to l->p->clients. */
bool policy_client_parse(struct loader *l, const config_setting_t *g);
void policy_client_free(struct client *c);

/* ---- deciding (decide.c, index.c) --------------------------------------- */

static inline bool rule_applies_at(const struct rule *r, enum policy_moment m)
{
	return !(r->when == POLICY_AT_START && m == POLICY_MOMENT_HOTPLUG) &&
	       !(r->when == POLICY_ON_HOTPLUG && m == POLICY_MOMENT_START);
}

/* Whether rule i decides dev at moment m.  Inline: deciding runs it for
 * every candidate, and the explanation's words (decide.c) are kept out of
 * its way. */
static inline bool policy_rule_matches(const struct policy *p, size_t i,
				       const struct device *dev, enum policy_moment m)
{
	const struct rule *r = &p->rules[i];

	return rule_applies_at(r, m) && conditions_met(rule_conditions(p, r), r->n_conds, dev);
}

/* Rule i as --check-policy lists it ("rule 2 (policy.conf:9): detach if
 * vendor, device"), without a newline. */
void policy_rule_describe(const struct policy *p, size_t i, FILE *out);

void policy_index_build(struct policy *p);
void policy_index_free(struct policy_index *ix);
/* The first rule that matches, as trying every rule in order would find
 * it, or -1 for the default. */
int policy_index_first(const struct policy *p, const struct device *dev, enum policy_moment when);
