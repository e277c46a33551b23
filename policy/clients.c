/* The clients section: who may do what over the socket.  Names become
 * numbers once, at load; a decision compares numbers. */
#include "policy/internal.h"
#include "common/util.h"

#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>

static const char *const permission_names[POLICY_PERM__COUNT] = {
	[POLICY_PERM_LIST] = "list",	   [POLICY_PERM_WATCH] = "watch",
	[POLICY_PERM_CLAIM] = "claim",	   [POLICY_PERM_RELEASE] = "release",
	[POLICY_PERM_DETACH] = "detach", [POLICY_PERM_RESET] = "reset",
	[POLICY_PERM_ADMIN] = "admin",
};

const char *policy_permission_name(enum policy_permission perm)
{
	return perm < POLICY_PERM__COUNT ? permission_names[perm] : "invalid";
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void policy_client_free(struct client *c)
{
	free(c->file);
	strv_free(c->drivers);
	strv_free(c->domains);
}

static bool parse_strings(struct loader *l, const config_setting_t *s, char ***out, size_t *n_out)
{
	int n;

	if (config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST)
		return loader_bad(l, s, "'%s' is a list of strings: [\"...\", ...]",
				  config_setting_name(s));
	n = config_setting_length(s);
	for (int i = 0; i < n; i++)
		if (!config_setting_get_string_elem(s, (unsigned)i))
			return loader_bad(l, s, "'%s' holds strings only", config_setting_name(s));
	*out = xcalloc((size_t)n + 1, sizeof(**out));
	for (int i = 0; i < n; i++)
		(*out)[i] = xstrdup(config_setting_get_string_elem(s, (unsigned)i));
	*n_out = (size_t)n;
	return true;
}

static bool parse_permissions(struct loader *l, const config_setting_t *s, unsigned *perms)
{
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST)
		return loader_bad(l, s, "%s", "'permissions' is a list of strings: [\"list\", \"claim\"]");
	for (int i = 0; i < config_setting_length(s); i++) {
		const char *v = config_setting_get_string_elem(s, (unsigned)i);
		int k = v ? name_index(permission_names, POLICY_PERM__COUNT, v) : -1;

		if (k < 0)
			return loader_bad(l, s, "unknown permission \"%s\" (list, watch, claim, release, "
						"detach, reset, admin)",
					  v ? v : "(not a string)");
		*perms |= 1u << k;
	}
	return true;
}

/* Names become numbers once, here. */
static bool client_who(struct loader *l, const config_setting_t *s, struct client *c)
{
	const char *name = config_setting_name(s), *v = NULL;
	int id = 0;

	c->by_group = streq(name, "gid") || streq(name, "group");
	if (streq(name, "uid") || streq(name, "gid")) {
		if (!loader_int(l, s, &id))
			return false;
		if (id < 0)
			return loader_bad(l, s, "'%s' is a number from 0, not %d", name, id);
		c->id = (uint32_t)id;
		return true;
	}
	if (!loader_string(l, s, &v))
		return false;
	if (c->by_group) {
		struct group *g = getgrnam(v);

		c->id = g ? g->gr_gid : 0;
		c->inert = !g;
	} else {
		struct passwd *pw = getpwnam(v);

		c->id = pw ? pw->pw_uid : 0;
		c->inert = !pw;
	}
	if (c->inert)
		loader_warn(l, s, "no %s \"%s\" on this system: this entry grants nothing until there is",
			    c->by_group ? "group" : "user", v);
	return true;
}

static bool parse_client_key(struct loader *l, const config_setting_t *s, struct client *c,
			     int *who)
{
	const char *name = config_setting_name(s);

	if (streq(name, "uid") || streq(name, "gid") || streq(name, "user") ||
	    streq(name, "group")) {
		++*who;
		return client_who(l, s, c);
	}
	if (streq(name, "permissions"))
		return parse_permissions(l, s, &c->perms);
	if (streq(name, "drivers"))
		return parse_strings(l, s, &c->drivers, &c->n_drivers);
	if (streq(name, "domains"))
		return parse_strings(l, s, &c->domains, &c->n_domains);
	return loader_bad(l, s, "unknown client key '%s' (uid, user, gid, group, permissions, drivers, "
				"domains)",
			  name);
}

bool policy_client_parse(struct loader *l, const config_setting_t *g)
{
	struct client c = { .file = xstrdup(loader_file_of(l, g)),
			    .line = (int)config_setting_source_line(g) };
	int who = 0;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		policy_client_free(&c);
		return loader_bad(l, g, "%s",
				  "each client is a group: { group = \"kvm\"; permissions = [...]; }");
	}
	for (int i = 0; i < config_setting_length(g); i++)
		if (!parse_client_key(l, config_setting_get_elem(g, (unsigned)i), &c, &who)) {
			policy_client_free(&c);
			return false;
		}
	if (who != 1) {
		policy_client_free(&c);
		return loader_bad(l, g, "%s", "a client names exactly one of uid, user, gid or group");
	}
	/* admin is every permission: one word for "trusted". */
	if (c.perms & (1u << POLICY_PERM_ADMIN))
		c.perms = (1u << POLICY_PERM__COUNT) - 1;
	l->p->clients = xrealloc(l->p->clients, (l->p->n_clients + 1) * sizeof(*l->p->clients));
	l->p->clients[l->p->n_clients++] = c;
	l->p->have_clients = true;
	return true;
}

static bool client_matches(const struct client *c, const struct policy_peer *peer)
{
	if (c->inert)
		return false;
	if (!c->by_group)
		return peer->uid == c->id;
	if (peer->gid == c->id)
		return true;
	for (size_t i = 0; i < peer->n_groups; i++)
		if (peer->groups[i] == c->id)
			return true;
	return false;
}

unsigned policy_permissions(const struct policy *p, const struct policy_peer *peer)
{
	unsigned perms = 0;

	if (peer->uid == 0)
		return (1u << POLICY_PERM__COUNT) - 1;
	if (!p || !p->have_clients)
		return 1u << POLICY_PERM_LIST | 1u << POLICY_PERM_WATCH;
	for (size_t i = 0; i < p->n_clients; i++)
		if (client_matches(&p->clients[i], peer))
			perms |= p->clients[i].perms;
	return perms;
}

static bool listed(char *const *names, size_t n, const char *v, bool pattern)
{
	if (!names)
		return true;
	for (size_t i = 0; i < n; i++)
		if (pattern ? fnmatch(names[i], v, 0) == 0 : streq(names[i], v))
			return true;
	return false;
}

bool policy_may_claim_for(const struct policy *p, const struct policy_peer *peer,
			  const char *driver, const char *domain)
{
	if (peer->uid == 0)
		return true;
	for (size_t i = 0; p && i < p->n_clients; i++) {
		const struct client *c = &p->clients[i];

		if (client_matches(c, peer) && (c->perms & (1u << POLICY_PERM_CLAIM)) &&
		    listed(c->drivers, c->n_drivers, driver, false) &&
		    listed(c->domains, c->n_domains, domain, true))
			return true;
	}
	/* No clients section: claim rights come from root alone (above). */
	return false;
}
