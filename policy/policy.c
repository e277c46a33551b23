/* A loaded policy as an object: its names, its life, and what it holds.
 * Loading is load.c, deciding decide.c and index.c, clients clients.c. */
#include "policy/internal.h"
#include "common/util.h"

#include <stdlib.h>

const char *const policy_action_names[POLICY_ACTION__COUNT] = {
	[POLICY_ALLOW] = "allow",   [POLICY_REFUSE] = "refuse", [POLICY_DETACH] = "detach",
	[POLICY_ASSIGN] = "assign", [POLICY_IGNORE] = "ignore",
};

const char *const policy_when_names[POLICY_ON_HOTPLUG + 1] = {
	[POLICY_ALWAYS] = "always", [POLICY_AT_START] = "startup", [POLICY_ON_HOTPLUG] = "hotplug",
};

const char *policy_action_name(enum policy_action a)
{
	return a < POLICY_ACTION__COUNT ? policy_action_names[a] : "invalid";
}

size_t policy_rule_count(const struct policy *p)
{
	return p->n_rules;
}

const char *policy_rule_driver(const struct policy *p, size_t i, const char **file, int *line)
{
	if (i >= p->n_rules)
		return NULL;
	*file = p->rules[i].file;
	*line = p->rules[i].line;
	return p->rules[i].stub;
}

size_t policy_client_count(const struct policy *p)
{
	return p->n_clients;
}

size_t policy_warning_count(const struct policy *p)
{
	return p->n_warnings;
}

const char *policy_warning(const struct policy *p, size_t i)
{
	return i < p->n_warnings ? p->warnings[i] : NULL;
}

bool policy_socket_group(const struct policy *p, gid_t *gid)
{
	if (p->have_socket_group)
		*gid = p->socket_gid;
	return p->have_socket_group;
}

enum policy_orphans policy_orphans(const struct policy *p)
{
	return p->orphans;
}

void policy_rule_free(struct rule *r)
{
	free(r->file);
	free(r->stub);
	free(r->owner_driver);
	free(r->owner_domain);
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	policy_index_free(p->index);
	for (size_t i = 0; i < p->n_rules; i++)
		policy_rule_free(&p->rules[i]);
	free(p->rules);
	conditions_free(p->conds, p->n_conds);
	for (size_t i = 0; i < p->n_clients; i++)
		policy_client_free(&p->clients[i]);
	free(p->clients);
	for (size_t i = 0; i < p->n_warnings; i++)
		free(p->warnings[i]);
	free(p->warnings);
	for (size_t i = 0; i < p->n_files; i++)
		free(p->files[i]);
	free(p->files);
	free(p->dflt_file);
	free(p);
}

struct policy *policy_default(void)
{
	struct policy *p = xcalloc(1, sizeof(*p));

	p->dflt = POLICY_ALLOW;
	return p;
}
