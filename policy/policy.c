#include "policy/policy.h"
#include "common/log.h"
#include "common/util.h"

#include <dirent.h>
#include <fnmatch.h>
#include <libgen.h>
#include <limits.h>
#include <grp.h>
#include <pwd.h>
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const action_names[POLICY_ACTION__COUNT] = {
	[POLICY_ALLOW] = "allow",   [POLICY_REFUSE] = "refuse", [POLICY_DETACH] = "detach",
	[POLICY_ASSIGN] = "assign", [POLICY_IGNORE] = "ignore",
};

static const char *const when_names[] = {
	[POLICY_ALWAYS] = "always", [POLICY_AT_START] = "startup", [POLICY_ON_HOTPLUG] = "hotplug",
};

/* One condition of a rule's match. */
enum key {
	K_BUS, K_ADDRESS, K_VENDOR, K_DEVICE, K_SUBVENDOR, K_SUBDEVICE, K_CLASS, K_DRIVER,
	K_GROUP, K_PORT, K_SERIAL, K_IFCLASS, K_NUMA, K__COUNT
};

static const char *const key_names[K__COUNT] = {
	[K_BUS] = "bus", [K_ADDRESS] = "address", [K_VENDOR] = "vendor", [K_DEVICE] = "device",
	[K_SUBVENDOR] = "subsystem_vendor", [K_SUBDEVICE] = "subsystem_device",
	[K_CLASS] = "class", [K_DRIVER] = "driver", [K_GROUP] = "iommu_group", [K_PORT] = "port",
	[K_SERIAL] = "serial", [K_IFCLASS] = "interface_class", [K_NUMA] = "numa_node",
};

struct rule {
	char *file;
	int line;
	unsigned keys;      /* bit per enum key present */
	enum hd_bus bus;
	char *address, *driver, *port, *serial;
	uint32_t vendor, device, subvendor, subdevice, class_code, class_mask, ifclass;
	int group, numa;
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

struct policy {
	struct rule *rules;
	size_t n_rules;
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
	struct policy_index *index; /* built by index_build (deciding); NULL: decide linearly */
};

struct policy_index;
static void index_build(struct policy *p);
static void index_free(struct policy_index *ix);

const char *policy_action_name(enum policy_action a)
{
	return a < POLICY_ACTION__COUNT ? action_names[a] : "invalid";
}

size_t policy_rule_count(const struct policy *p)
{
	return p->n_rules;
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

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void client_free(struct client *c)
{
	free(c->file);
	strv_free(c->drivers);
	strv_free(c->domains);
}

static void rule_free(struct rule *r)
{
	free(r->file);
	free(r->address);
	free(r->driver);
	free(r->port);
	free(r->serial);
	free(r->stub);
	free(r->owner_driver);
	free(r->owner_domain);
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	index_free(p->index);
	for (size_t i = 0; i < p->n_rules; i++)
		rule_free(&p->rules[i]);
	free(p->rules);
	for (size_t i = 0; i < p->n_clients; i++)
		client_free(&p->clients[i]);
	free(p->clients);
	for (size_t i = 0; i < p->n_warnings; i++)
		free(p->warnings[i]);
	free(p->warnings);
	free(p->dflt_file);
	free(p);
}

struct policy *policy_default(void)
{
	struct policy *p = xcalloc(1, sizeof(*p));

	p->dflt = POLICY_ALLOW;
	return p;
}

/* ---- loading ------------------------------------------------------------ */

struct loader {
	struct policy *p;
	const char *file; /* the file being read, as the errors name it */
	char dir[PATH_MAX];  /* its directory: where @include looks */
	char path[PATH_MAX]; /* file_of()'s answer for an included file */
	struct policy_error *e;
	bool failed;
};

/* The file a setting was read from: an @include'd one names itself, by
 * its path from the including file's directory.  The result is valid
 * until the next call. */
static const char *resolve(struct loader *l, const char *f)
{
	if (!f || streq(f, l->file))
		return l->file;
	if (f[0] == '/' || snprintf(l->path, sizeof(l->path), "%s/%s", l->dir, f) >=
				   (int)sizeof(l->path))
		return f;
	return l->path;
}

static const char *file_of(struct loader *l, const config_setting_t *s)
{
	return resolve(l, s ? config_setting_source_file(s) : NULL);
}

static bool bad(struct loader *l, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first error only: the one a person fixes first. */
static bool bad(struct loader *l, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;

	if (l->failed)
		return false;
	l->failed = true;
	snprintf(l->e->file, sizeof(l->e->file), "%s", file_of(l, s));
	l->e->line = s ? (int)config_setting_source_line(s) : 0;
	va_start(ap, fmt);
	vsnprintf(l->e->message, sizeof(l->e->message), fmt, ap);
	va_end(ap);
	return false;
}

static bool get_string(struct loader *l, const config_setting_t *s, const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return bad(l, s, "'%s' must be a string", config_setting_name(s));
	*out = config_setting_get_string(s);
	return true;
}

/* Hex ids are strings ("10de"), as lspci prints them: an int 0300 would be
 * read as octal by some, decimal by others. */
static bool get_hex(struct loader *l, const config_setting_t *s, unsigned digits_max,
		    uint32_t *out, unsigned *digits)
{
	const char *v;
	char *end;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return bad(l, s, "'%s' must be up to %u hex digits in quotes (\"10de\")",
			   config_setting_name(s), digits_max);
	v = config_setting_get_string(s);
	*digits = (unsigned)strlen(v);
	errno = 0;
	*out = (uint32_t)strtoul(v, &end, 16);
	/* Digits only: strtoul would also take "0x1", "+1" and " -1". */
	if (!*v || *end || errno || *digits > digits_max || v[strspn(v, "0123456789abcdefABCDEF")])
		return bad(l, s, "'%s' must be up to %u hex digits in quotes (\"10de\"), not \"%s\"",
			   config_setting_name(s), digits_max, v);
	return true;
}

static bool get_int(struct loader *l, const config_setting_t *s, int *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_INT)
		return bad(l, s, "'%s' must be a number", config_setting_name(s));
	*out = config_setting_get_int(s);
	return true;
}

static bool get_bool(struct loader *l, const config_setting_t *s, bool *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return bad(l, s, "'%s' must be true or false", config_setting_name(s));
	*out = config_setting_get_bool(s);
	return true;
}

/* class "03" (class), "0300" (class and subclass), "030000" (and
 * prog-if): the digits given are what must match. */
static bool parse_class(struct loader *l, const config_setting_t *s, struct rule *r)
{
	unsigned digits;

	if (!get_hex(l, s, 6, &r->class_code, &digits))
		return false;
	if (digits % 2)
		return bad(l, s, "'class' takes 2, 4 or 6 hex digits, not %u", digits);
	r->class_mask = 0xffffffu >> (24 - 4 * digits) << (24 - 4 * digits);
	r->class_code <<= 24 - 4 * digits;
	return true;
}

static bool parse_match_key(struct loader *l, const config_setting_t *s, struct rule *r, int k)
{
	const char *v = NULL;
	unsigned digits;

	switch (k) {
	case K_BUS:
		if (!get_string(l, s, &v))
			return false;
		if (hd_bus_from_name(v) < 0)
			return bad(l, s, "'bus' is \"pci\" or \"usb\", not \"%s\"", v);
		r->bus = (enum hd_bus)hd_bus_from_name(v);
		return true;
	case K_ADDRESS:
	case K_DRIVER:
	case K_PORT:
	case K_SERIAL:
		if (!get_string(l, s, &v))
			return false;
		*(k == K_ADDRESS ? &r->address : k == K_DRIVER ? &r->driver
				   : k == K_PORT	    ? &r->port
							    : &r->serial) = xstrdup(v);
		return true;
	case K_VENDOR:
		return get_hex(l, s, 4, &r->vendor, &digits);
	case K_DEVICE:
		return get_hex(l, s, 4, &r->device, &digits);
	case K_SUBVENDOR:
		return get_hex(l, s, 4, &r->subvendor, &digits);
	case K_SUBDEVICE:
		return get_hex(l, s, 4, &r->subdevice, &digits);
	case K_CLASS:
		return parse_class(l, s, r);
	case K_IFCLASS:
		return get_hex(l, s, 2, &r->ifclass, &digits);
	case K_GROUP:
		return get_int(l, s, &r->group);
	default:
		return get_int(l, s, &r->numa);
	}
}

static bool parse_match(struct loader *l, const config_setting_t *m, struct rule *r)
{
	if (!m || config_setting_type(m) != CONFIG_TYPE_GROUP)
		return bad(l, m, "%s", "a rule needs 'match = { ... };' (use {} to match every device)");
	for (int i = 0; i < config_setting_length(m); i++) {
		const config_setting_t *s = config_setting_get_elem(m, (unsigned)i);
		int k = name_index(key_names, K__COUNT, config_setting_name(s));

		if (k < 0)
			return bad(l, s, "unknown match key '%s'", config_setting_name(s));
		if (!parse_match_key(l, s, r, k))
			return false;
		r->keys |= 1u << k;
	}
	return true;
}

static bool parse_owner(struct loader *l, const config_setting_t *o, struct rule *r)
{
	const char *drv = NULL, *dom = NULL;

	if (config_setting_type(o) != CONFIG_TYPE_GROUP ||
	    !config_setting_lookup_string(o, "driver", &drv) ||
	    !config_setting_lookup_string(o, "domain", &dom) || !*drv || !*dom)
		return bad(l, o, "%s", "'owner' is { driver = \"qemu\"; domain = \"vm1\"; }");
	/* A key the daemon would ignore (a uuid, say) would be read as
	 * narrowing the reservation when it does not. */
	if (config_setting_length(o) != 2)
		return bad(l, o, "%s", "'owner' has exactly driver and domain");
	r->owner_driver = xstrdup(drv);
	r->owner_domain = xstrdup(dom);
	return true;
}

static bool rule_consistent(struct loader *l, const config_setting_t *g, const struct rule *r)
{
	if (r->action == POLICY_ASSIGN && !r->owner_driver)
		return bad(l, g, "%s", "action \"assign\" needs an 'owner'");
	if (r->action != POLICY_ASSIGN && r->owner_driver)
		return bad(l, g, "'owner' is only for action \"assign\", not \"%s\"",
			   action_names[r->action]);
	if (r->stub && r->action != POLICY_DETACH && r->action != POLICY_ASSIGN)
		return bad(l, g, "%s", "'driver' (the stub) is only for \"detach\" and \"assign\"");
	if (r->stub && !stub_is_target(r->stub))
		return bad(l, g, "'driver' is %s, not \"%s\"", stub_targets_text(), r->stub);
	if (r->deauthorize && r->action != POLICY_REFUSE)
		return bad(l, g, "%s", "'deauthorize' is only for action \"refuse\"");
	/* SPEC: lifted for one device, by address only — never by a class or
	 * vendor, which could take the host's disk or network with it. */
	if (r->host_critical_ok && r->keys != 1u << K_ADDRESS)
		return bad(l, g, "%s",
			   "'host_critical = true' needs a match on 'address' and nothing else");
	return true;
}

static bool parse_rule_key(struct loader *l, const config_setting_t *s, struct rule *r)
{
	const char *name = config_setting_name(s), *v = NULL;
	int i;

	if (streq(name, "match"))
		return parse_match(l, s, r);
	if (streq(name, "owner"))
		return parse_owner(l, s, r);
	if (streq(name, "deauthorize"))
		return get_bool(l, s, &r->deauthorize);
	if (streq(name, "host_critical"))
		return get_bool(l, s, &r->host_critical_ok);
	if (!streq(name, "action") && !streq(name, "when") && !streq(name, "driver"))
		return bad(l, s, "unknown rule key '%s'", name);
	if (!get_string(l, s, &v))
		return false;
	if (streq(name, "driver")) {
		r->stub = xstrdup(v);
		return true;
	}
	if (streq(name, "action")) {
		if ((i = name_index(action_names, POLICY_ACTION__COUNT, v)) < 0)
			return bad(l, s, "unknown action \"%s\" (allow, refuse, detach, assign, ignore)",
				   v);
		r->action = (enum policy_action)i;
		return true;
	}
	if ((i = name_index(when_names, ARRAY_SIZE(when_names), v)) < 0)
		return bad(l, s, "'when' is \"always\", \"startup\" or \"hotplug\", not \"%s\"", v);
	r->when = (enum policy_when)i;
	return true;
}

static bool parse_rule(struct loader *l, const config_setting_t *g)
{
	struct rule r = { .file = xstrdup(file_of(l, g)), .line = (int)config_setting_source_line(g),
			  .group = -1, .numa = -1 };
	bool have_action = false, have_match = false;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		rule_free(&r);
		return bad(l, g, "%s", "each rule is a group: { match = { ... }; action = \"...\"; }");
	}
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);

		have_action |= streq(config_setting_name(s), "action");
		have_match |= streq(config_setting_name(s), "match");
		if (!parse_rule_key(l, s, &r)) {
			rule_free(&r);
			return false;
		}
	}
	if (!have_match || !have_action || !rule_consistent(l, g, &r)) {
		rule_free(&r);
		return have_match && have_action ? false
		       : bad(l, g, "%s", "a rule needs both 'match' and 'action'");
	}
	l->p->rules = xrealloc(l->p->rules, (l->p->n_rules + 1) * sizeof(*l->p->rules));
	l->p->rules[l->p->n_rules++] = r;
	return true;
}

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

/* A list of strings, kept (out != NULL) or only checked. */
static bool parse_strings(struct loader *l, const config_setting_t *s, char ***out, size_t *n_out)
{
	int n;

	if (config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST)
		return bad(l, s, "'%s' is a list of strings: [\"...\", ...]", config_setting_name(s));
	n = config_setting_length(s);
	for (int i = 0; i < n; i++)
		if (!config_setting_get_string_elem(s, (unsigned)i))
			return bad(l, s, "'%s' holds strings only", config_setting_name(s));
	*out = xcalloc((size_t)n + 1, sizeof(**out));
	for (int i = 0; i < n; i++)
		(*out)[i] = xstrdup(config_setting_get_string_elem(s, (unsigned)i));
	*n_out = (size_t)n;
	return true;
}

static bool parse_permissions(struct loader *l, const config_setting_t *s, unsigned *perms)
{
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST)
		return bad(l, s, "%s", "'permissions' is a list of strings: [\"list\", \"claim\"]");
	for (int i = 0; i < config_setting_length(s); i++) {
		const char *v = config_setting_get_string_elem(s, (unsigned)i);
		int k = v ? name_index(permission_names, POLICY_PERM__COUNT, v) : -1;

		if (k < 0)
			return bad(l, s, "unknown permission \"%s\" (list, watch, claim, release, "
					 "detach, reset, admin)",
				   v ? v : "(not a string)");
		*perms |= 1u << k;
	}
	return true;
}

/* A name the system does not know (yet: the package creating the user may
 * come later) makes an entry that matches nobody: it fails closed, and the
 * loader says so as a warning naming the line rather than refusing the
 * whole policy. */
static void warn(struct loader *l, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void warn(struct loader *l, const config_setting_t *s, const char *fmt, ...)
{
	struct policy *p = l->p;
	_cleanup_free_ char *what = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) < 0)
		fatal("out of memory");
	va_end(ap);
	p->warnings = xrealloc(p->warnings, (p->n_warnings + 1) * sizeof(*p->warnings));
	p->warnings[p->n_warnings++] =
		xasprintf("%s:%d: %s", file_of(l, s), (int)config_setting_source_line(s), what);
}

/* Names become numbers once, here. */
static bool client_who(struct loader *l, const config_setting_t *s, struct client *c)
{
	const char *name = config_setting_name(s), *v = NULL;
	int id = 0;

	c->by_group = streq(name, "gid") || streq(name, "group");
	if (streq(name, "uid") || streq(name, "gid")) {
		if (!get_int(l, s, &id))
			return false;
		if (id < 0)
			return bad(l, s, "'%s' is a number from 0, not %d", name, id);
		c->id = (uint32_t)id;
		return true;
	}
	if (!get_string(l, s, &v))
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
		warn(l, s, "no %s \"%s\" on this system: this entry grants nothing until there is",
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
	return bad(l, s, "unknown client key '%s' (uid, user, gid, group, permissions, drivers, "
			 "domains)",
		   name);
}

static bool parse_client(struct loader *l, const config_setting_t *g)
{
	struct client c = { .file = xstrdup(file_of(l, g)), .line = (int)config_setting_source_line(g) };
	int who = 0;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		client_free(&c);
		return bad(l, g, "%s", "each client is a group: { group = \"kvm\"; permissions = [...]; }");
	}
	for (int i = 0; i < config_setting_length(g); i++)
		if (!parse_client_key(l, config_setting_get_elem(g, (unsigned)i), &c, &who)) {
			client_free(&c);
			return false;
		}
	if (who != 1) {
		client_free(&c);
		return bad(l, g, "%s", "a client names exactly one of uid, user, gid or group");
	}
	/* admin is every permission: one word for "trusted". */
	if (c.perms & (1u << POLICY_PERM_ADMIN))
		c.perms = (1u << POLICY_PERM__COUNT) - 1;
	l->p->clients = xrealloc(l->p->clients, (l->p->n_clients + 1) * sizeof(*l->p->clients));
	l->p->clients[l->p->n_clients++] = c;
	l->p->have_clients = true;
	return true;
}

static bool parse_list(struct loader *l, const config_setting_t *s,
		       bool (*item)(struct loader *, const config_setting_t *))
{
	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return bad(l, s, "'%s' is a list: ( { ... }, { ... } )", config_setting_name(s));
	for (int i = 0; i < config_setting_length(s); i++)
		if (!item(l, config_setting_get_elem(s, (unsigned)i)))
			return false;
	return true;
}

static bool parse_top(struct loader *l, const config_setting_t *s)
{
	const char *name = config_setting_name(s), *v = NULL;
	int a;

	if (streq(name, "rules"))
		return parse_list(l, s, parse_rule);
	if (streq(name, "clients")) {
		/* Even empty, a clients section means "only these": an empty
		 * one leaves everything to root. */
		l->p->have_clients = true;
		return parse_list(l, s, parse_client);
	}
	if (streq(name, "default")) {
		if (!get_string(l, s, &v))
			return false;
		a = name_index(action_names, POLICY_ACTION__COUNT, v);
		/* Detaching every device by default would take the host's. */
		if (a != POLICY_ALLOW && a != POLICY_REFUSE && a != POLICY_IGNORE)
			return bad(l, s, "'default' is \"allow\", \"refuse\" or \"ignore\", not \"%s\"",
				   v);
		l->p->dflt = (enum policy_action)a;
		free(l->p->dflt_file);
		l->p->dflt_file = xstrdup(file_of(l, s));
		l->p->dflt_line = (int)config_setting_source_line(s);
		return true;
	}
	if (streq(name, "socket_group")) {
		struct group *g;

		if (!get_string(l, s, &v))
			return false;
		if (!(g = getgrnam(v))) {
			/* Over an earlier file's group too: the last setting wins,
			 * and it names no group. */
			l->p->have_socket_group = false;
			warn(l, s, "no group \"%s\" on this system: the socket stays with root's "
				   "group",
			     v);
			return true;
		}
		l->p->socket_gid = g->gr_gid;
		l->p->have_socket_group = true;
		return true;
	}
	if (streq(name, "orphans")) {
		if (!get_string(l, s, &v))
			return false;
		if (!streq(v, "keep") && !streq(v, "reattach"))
			return bad(l, s, "'orphans' is \"keep\" or \"reattach\", not \"%s\"", v);
		l->p->orphans = streq(v, "reattach") ? POLICY_ORPHANS_REATTACH : POLICY_ORPHANS_KEEP;
		return true;
	}
	return bad(l, s, "unknown setting '%s' (rules, clients, default, socket_group, orphans)",
		   name);
}

static bool load_file(struct loader *l, const char *path)
{
	config_t cfg;
	config_setting_t *root;
	bool ok = true;

	l->file = path;
	config_init(&cfg);
	/* @include "x.conf" is found next to the including file, not in
	 * whatever directory the daemon runs from. */
	snprintf(l->path, sizeof(l->path), "%s", path);
	snprintf(l->dir, sizeof(l->dir), "%s", dirname(l->path));
	config_set_include_dir(&cfg, l->dir);
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		snprintf(l->e->file, sizeof(l->e->file), "%s", resolve(l, config_error_file(&cfg)));
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO) {
			l->e->line = 0;
			snprintf(l->e->message, sizeof(l->e->message), "cannot read it: %s",
				 strerror(errno));
		} else {
			l->e->line = config_error_line(&cfg);
			snprintf(l->e->message, sizeof(l->e->message), "%s",
				 config_error_text(&cfg));
		}
		l->failed = true;
		config_destroy(&cfg);
		return false;
	}
	root = config_root_setting(&cfg);
	for (int i = 0; ok && i < config_setting_length(root); i++)
		ok = parse_top(l, config_setting_get_elem(root, (unsigned)i));
	config_destroy(&cfg);
	return ok;
}

static int conf_only(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 && streq(d->d_name + n - 5, ".conf");
}

/* policy.conf, then the .conf files of policy.d in name order. */
static bool load_dir(struct loader *l, const char *dir)
{
	_cleanup_free_ char *main_file = xasprintf("%s/policy.conf", dir);
	_cleanup_free_ char *dropins = xasprintf("%s/policy.d", dir);
	struct dirent **names = NULL;
	struct stat st;
	bool ok = true;
	int n;

	if (stat(main_file, &st) == 0 && !load_file(l, main_file))
		return false;
	n = scandir(dropins, &names, conf_only, alphasort);
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *f = xasprintf("%s/%s", dropins, names[i]->d_name);

		if (ok)
			ok = load_file(l, f);
		free(names[i]);
	}
	free(names);
	return ok;
}

struct policy *policy_load_checked(const char *path, struct policy_error *e)
{
	struct loader l = { .p = policy_default(), .e = e };
	struct stat st;

	*e = (struct policy_error){ 0 };
	if (stat(path, &st) < 0) {
		snprintf(e->file, sizeof(e->file), "%s", path);
		snprintf(e->message, sizeof(e->message), "%s", strerror(errno));
		policy_free(l.p);
		return NULL;
	}
	if (!(S_ISDIR(st.st_mode) ? load_dir(&l, path) : load_file(&l, path))) {
		policy_free(l.p);
		return NULL;
	}
	index_build(l.p);
	return l.p;
}

void policy_error_format(const struct policy_error *e, char *buf, size_t size)
{
	if (e->line > 0)
		snprintf(buf, size, "%s:%d: %s", e->file, e->line, e->message);
	else
		snprintf(buf, size, "%s: %s", e->file, e->message);
}

struct policy *policy_load(const char *path, char *err, size_t size)
{
	struct policy_error e;
	struct policy *p = policy_load_checked(path, &e);

	if (!p)
		policy_error_format(&e, err, size);
	return p;
}

/* ---- clients ------------------------------------------------------------ */

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

bool policy_refuses_claim(const struct policy_decision *d, const char *driver,
			  const char *domain, char *reason, size_t size)
{
	switch (d->action) {
	case POLICY_REFUSE:
	case POLICY_IGNORE:
		snprintf(reason, size, "the policy says %s", policy_action_name(d->action));
		return true;
	case POLICY_ASSIGN:
		if (streq(d->owner_driver, driver) && streq(d->owner_domain, domain))
			return false;
		snprintf(reason, size, "the policy reserves it for driver %s, domain %s",
			 d->owner_driver, d->owner_domain);
		return true;
	default:
		return false;
	}
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

/* ---- deciding ----------------------------------------------------------- */

static bool has(const struct rule *r, enum key k)
{
	return r->keys & (1u << k);
}

static bool usb_ifclass(const struct device *dev, uint32_t cls)
{
	for (size_t i = 0; i < dev->usb.n_ifaces; i++)
		if (dev->usb.ifaces[i].cls == cls)
			return true;
	return false;
}

/* NULL when the rule matches the device; else the first condition that
 * does not, in words written to why (when why is not NULL). */
static const char *mismatch(const struct rule *r, const struct device *dev,
			    enum policy_moment m, char *why, size_t size)
{
	bool pci = dev->bus == HD_BUS_PCI;

	/* Deciding needs only whether; the words cost more than the test, so
	 * they are made only for an explanation (why != NULL). */
#define MISS(...) (why ? (snprintf(why, size, __VA_ARGS__), why) : "")
	if ((r->when == POLICY_AT_START && m == POLICY_MOMENT_HOTPLUG) ||
	    (r->when == POLICY_ON_HOTPLUG && m == POLICY_MOMENT_START))
		return MISS("applies %s only", r->when == POLICY_AT_START ? "at start-up"
									 : "to hot-plugged devices");
	if (has(r, K_BUS) && dev->bus != r->bus)
		return MISS("bus is %s, not %s", hd_bus_name(dev->bus), hd_bus_name(r->bus));
	if (has(r, K_ADDRESS) && !streq(dev->id, r->address))
		return MISS("address is %s, not %s", dev->id, r->address);
	if (has(r, K_VENDOR) && dev->vendor != r->vendor)
		return MISS("vendor is %04x, not %04x", dev->vendor, r->vendor);
	if (has(r, K_DEVICE) && dev->product != r->device)
		return MISS("device is %04x, not %04x", dev->product, r->device);
	if (has(r, K_SUBVENDOR) && (!pci || dev->pci.subsystem_vendor != r->subvendor))
		return MISS("subsystem vendor differs (want %04x)", r->subvendor);
	if (has(r, K_SUBDEVICE) && (!pci || dev->pci.subsystem_device != r->subdevice))
		return MISS("subsystem device differs (want %04x)", r->subdevice);
	if (has(r, K_CLASS) && (!pci || (dev->pci.class_code & r->class_mask) != r->class_code))
		return MISS("class is %06x, not %06x under mask %06x", pci ? dev->pci.class_code : 0,
			    r->class_code, r->class_mask);
	if (has(r, K_DRIVER) && !streq(dev->driver, r->driver))
		return MISS("driver is %s, not %s", dev->driver ? dev->driver : "none", r->driver);
	if (has(r, K_GROUP) && (!pci || dev->pci.iommu_group != r->group))
		return MISS("IOMMU group is %d, not %d", pci ? dev->pci.iommu_group : -1, r->group);
	if (has(r, K_PORT) && (pci || !streq(dev->id, r->port)))
		return MISS("port is %s, not %s", pci ? "none (PCI)" : dev->id, r->port);
	if (has(r, K_SERIAL) && (pci || !streq(dev->usb.serial, r->serial)))
		return MISS("serial is %s, not %s", !pci && dev->usb.serial ? dev->usb.serial : "none",
			    r->serial);
	if (has(r, K_IFCLASS) && (pci || !usb_ifclass(dev, r->ifclass)))
		return MISS("no interface of class %02x", r->ifclass);
	if (has(r, K_NUMA) && dev->numa_node != r->numa)
		return MISS("NUMA node is %d, not %d", dev->numa_node, r->numa);
#undef MISS
	return NULL;
}

static void decide_by(const struct policy *p, int i, struct policy_decision *out)
{
	const struct rule *r = &p->rules[i];

	*out = (struct policy_decision){
		.action = r->action, .rule = i, .file = r->file, .line = r->line,
		.stub = r->stub ? r->stub : STUB_DEFAULT, .owner_driver = r->owner_driver,
		.owner_domain = r->owner_domain, .deauthorize = r->deauthorize,
		.host_critical_ok = r->host_critical_ok,
	};
}

static void decide_default(const struct policy *p, struct policy_decision *out)
{
	*out = (struct policy_decision){ .action = p->dflt, .rule = -1, .file = p->dflt_file,
					 .line = p->dflt_line };
}

void policy_decide_linear(const struct policy *p, const struct device *dev,
			  enum policy_moment when, struct policy_decision *out)
{
	for (size_t i = 0; i < p->n_rules; i++)
		if (!mismatch(&p->rules[i], dev, when, NULL, 0)) {
			decide_by(p, (int)i, out);
			return;
		}
	decide_default(p, out);
}

/* ---- the index ----------------------------------------------------------
 *
 * Trying every rule costs ~3 µs at 1,000 rules, three times the SPEC's
 * budget for a whole event.  The policy is immutable, so at load each rule
 * is filed once under its most selective exact key (an address, a serial,
 * a vendor and device, ...) and a decision tries only the rules filed under
 * one of the device's keys, plus those filed under none, merged in rule
 * order: the first that matches is the linear scan's answer, as every rule
 * it skips has a key the device does not have.  mismatch() still checks
 * every condition of a candidate, `when` included. */

/* In order of preference: a rule is filed under the first it has. */
enum ikind {
	IX_ID,            /* address, or a USB port path: both are dev->id */
	IX_SERIAL,
	IX_VENDOR_DEVICE,
	IX_VENDOR,
	IX_DEVICE,
	IX_GROUP,
	IX_CLASS,         /* the class byte: every class rule names it */
	IX_DRIVER,
	IX_BUS,
	IX__COUNT
};

struct ix_key {
	enum ikind kind;
	uint64_t num;    /* the value, or str_hash(str) */
	const char *str; /* string kinds; NULL otherwise */
};

/* The rules filed under one key: order[first .. first + n), ascending. */
struct ix_bucket {
	struct ix_key key;
	uint32_t first, n;
	bool used;
};

struct policy_index {
	struct ix_bucket *slots; /* open addressing, at most half full */
	size_t mask;
	struct ix_bucket always; /* rules with none of the keys */
	uint32_t *order;         /* every rule number, bucket by bucket */
	unsigned kinds;          /* bit per ikind some rule is filed under */
};

/* A stretch of one bucket's rule numbers still to try. */
struct ix_run {
	const uint32_t *at, *end;
};

static bool key_num(struct ix_key *k, enum ikind kind, uint64_t num)
{
	*k = (struct ix_key){ .kind = kind, .num = num };
	return true;
}

static bool key_str(struct ix_key *k, enum ikind kind, const char *str)
{
	*k = (struct ix_key){ .kind = kind, .num = str_hash(str), .str = str };
	return true;
}

/* The class byte: a rule's class has 2, 4 or 6 digits, so its mask always
 * covers the first two. */
static uint64_t class_byte(uint32_t class_code)
{
	return class_code >> 16 & 0xff;
}

static bool rule_key(const struct rule *r, struct ix_key *k)
{
	if (has(r, K_ADDRESS) || has(r, K_PORT))
		return key_str(k, IX_ID, has(r, K_ADDRESS) ? r->address : r->port);
	if (has(r, K_SERIAL))
		return key_str(k, IX_SERIAL, r->serial);
	if (has(r, K_VENDOR) && has(r, K_DEVICE))
		return key_num(k, IX_VENDOR_DEVICE, (uint64_t)r->vendor << 32 | r->device);
	if (has(r, K_VENDOR))
		return key_num(k, IX_VENDOR, r->vendor);
	if (has(r, K_DEVICE))
		return key_num(k, IX_DEVICE, r->device);
	if (has(r, K_GROUP))
		return key_num(k, IX_GROUP, (uint32_t)r->group);
	if (has(r, K_CLASS) && r->class_mask >> 16 == 0xff)
		return key_num(k, IX_CLASS, class_byte(r->class_code));
	if (has(r, K_DRIVER))
		return key_str(k, IX_DRIVER, r->driver);
	if (has(r, K_BUS))
		return key_num(k, IX_BUS, r->bus);
	return false;
}

/* The device's key of that kind, if it has one that a matching rule could
 * be filed under: mismatch() fails a serial, group or class rule on the
 * other bus, and a driver rule on an unbound device. */
static bool device_key(const struct device *dev, enum ikind kind, struct ix_key *k)
{
	bool pci = dev->bus == HD_BUS_PCI;

	switch (kind) {
	case IX_ID:
		/* A record in the device table carries its id's hash already. */
		*k = (struct ix_key){ .kind = kind, .str = dev->id,
				      .num = dev->id_hash ? dev->id_hash : str_hash(dev->id) };
		return true;
	case IX_SERIAL:
		return !pci && dev->usb.serial && key_str(k, kind, dev->usb.serial);
	case IX_VENDOR_DEVICE:
		return key_num(k, kind, (uint64_t)dev->vendor << 32 | dev->product);
	case IX_VENDOR:
		return key_num(k, kind, dev->vendor);
	case IX_DEVICE:
		return key_num(k, kind, dev->product);
	case IX_GROUP:
		return pci && key_num(k, kind, (uint32_t)dev->pci.iommu_group);
	case IX_CLASS:
		return pci && key_num(k, kind, class_byte(dev->pci.class_code));
	case IX_DRIVER:
		return dev->driver && key_str(k, kind, dev->driver);
	default:
		return key_num(k, kind, dev->bus);
	}
}

static size_t key_slot(const struct ix_key *k, size_t mask)
{
	uint64_t h = k->num ^ ((uint64_t)k->kind + 1) * 0x9e3779b97f4a7c15u;

	h ^= h >> 31; /* the low bits index the table: fold the high ones in */
	h *= 0xbf58476d1ce4e5b9u;
	return (size_t)(h ^ h >> 29) & mask;
}

static bool key_eq(const struct ix_key *a, const struct ix_key *b)
{
	return a->kind == b->kind && a->num == b->num && streq(a->str, b->str);
}

/* The bucket for k; a new one when add, else NULL when there is none. */
static struct ix_bucket *ix_bucket(const struct policy_index *ix, const struct ix_key *k, bool add)
{
	for (size_t h = key_slot(k, ix->mask);; h = (h + 1) & ix->mask) {
		struct ix_bucket *b = &ix->slots[h];

		if (!b->used) {
			if (!add)
				return NULL;
			*b = (struct ix_bucket){ .key = *k, .used = true };
			return b;
		}
		if (key_eq(&b->key, k))
			return b;
	}
}

/* Lays the buckets out one after the other in order[]: counted first, then
 * filled in rule order, so each bucket's numbers ascend. */
static void index_layout(struct policy_index *ix, struct ix_bucket **filed, size_t n_rules)
{
	uint32_t at = 0;

	for (size_t h = 0; h <= ix->mask; h++)
		if (ix->slots[h].used) {
			ix->slots[h].first = at;
			at += ix->slots[h].n;
			ix->slots[h].n = 0;
		}
	ix->always.first = at;
	ix->always.n = 0;
	ix->order = xcalloc(n_rules ? n_rules : 1, sizeof(*ix->order));
	for (size_t i = 0; i < n_rules; i++)
		ix->order[filed[i]->first + filed[i]->n++] = (uint32_t)i;
}

static void index_build(struct policy *p)
{
	struct policy_index *ix = xcalloc(1, sizeof(*ix));
	_cleanup_free_ struct ix_bucket **filed = xcalloc(p->n_rules ? p->n_rules : 1,
							   sizeof(*filed));
	size_t n_slots = 16;
	struct ix_key k;

	if (p->n_rules > UINT32_MAX / 2)
		fatal("policy: %zu rules is more than the index can hold", p->n_rules);
	while (n_slots < 2 * p->n_rules)
		n_slots *= 2;
	ix->slots = xcalloc(n_slots, sizeof(*ix->slots));
	ix->mask = n_slots - 1;
	for (size_t i = 0; i < p->n_rules; i++) {
		bool keyed = rule_key(&p->rules[i], &k);

		filed[i] = keyed ? ix_bucket(ix, &k, true) : &ix->always;
		filed[i]->n++;
		if (keyed)
			ix->kinds |= 1u << k.kind;
	}
	index_layout(ix, filed, p->n_rules);
	p->index = ix;
}

static void index_free(struct policy_index *ix)
{
	if (!ix)
		return;
	free(ix->slots);
	free(ix->order);
	free(ix);
}

/* The runs of the buckets the device's keys name, and of `always`. */
static size_t index_runs(const struct policy_index *ix, const struct device *dev,
			 struct ix_run *runs)
{
	const struct ix_bucket *b;
	struct ix_key k;
	size_t n = 0;

	for (int kind = 0; kind < IX__COUNT; kind++)
		if ((ix->kinds & 1u << kind) && device_key(dev, (enum ikind)kind, &k) &&
		    (b = ix_bucket(ix, &k, false)))
			runs[n++] = (struct ix_run){ ix->order + b->first, ix->order + b->first + b->n };
	if (ix->always.n)
		runs[n++] = (struct ix_run){ ix->order + ix->always.first,
					     ix->order + ix->always.first + ix->always.n };
	return n;
}

/* The lowest-numbered candidate that matches, or -1: the runs are merged
 * by always trying the smallest head next. */
static int index_first_match(const struct policy *p, const struct device *dev,
			     enum policy_moment when, struct ix_run *runs, size_t n)
{
	while (n) {
		size_t low = 0;
		uint32_t i;

		for (size_t j = 1; j < n; j++)
			if (*runs[j].at < *runs[low].at)
				low = j;
		i = *runs[low].at++;
		if (runs[low].at == runs[low].end)
			runs[low] = runs[--n];
		if (!mismatch(&p->rules[i], dev, when, NULL, 0))
			return (int)i;
	}
	return -1;
}

void policy_decide(const struct policy *p, const struct device *dev, enum policy_moment when,
		   struct policy_decision *out)
{
	struct ix_run runs[IX__COUNT + 1];
	int i;

	/* Only a policy that policy_load() did not build (the built-in
	 * default, no rules) lacks the index. */
	if (!p->index) {
		policy_decide_linear(p, dev, when, out);
		return;
	}
	i = index_first_match(p, dev, when, runs, index_runs(p->index, dev, runs));
	if (i < 0)
		decide_default(p, out);
	else
		decide_by(p, i, out);
}

static void rule_place(const struct policy *p, int i, char *buf, size_t size)
{
	if (i < 0 && !p->dflt_file)
		snprintf(buf, size, "the built-in default");
	else if (i < 0)
		snprintf(buf, size, "the default (%s:%d)", p->dflt_file, p->dflt_line);
	else
		snprintf(buf, size, "rule %d (%s:%d)", i + 1, p->rules[i].file, p->rules[i].line);
}

void policy_explain(const struct policy *p, const struct device *dev, enum policy_moment when,
		    FILE *out)
{
	struct policy_decision d;
	char why[160], place[PATH_MAX + 64];

	policy_decide(p, dev, when, &d);
	for (int i = 0; i < (d.rule < 0 ? (int)p->n_rules : d.rule); i++) {
		rule_place(p, i, place, sizeof(place));
		fprintf(out, "%s: no match: %s\n", place,
			mismatch(&p->rules[i], dev, when, why, sizeof(why)));
	}
	rule_place(p, d.rule, place, sizeof(place));
	fprintf(out, "%s decides: %s %s", place, policy_action_name(d.action), dev->id);
	if (d.action == POLICY_ASSIGN)
		fprintf(out, " to %s/%s", d.owner_driver, d.owner_domain);
	if (d.action == POLICY_DETACH || d.action == POLICY_ASSIGN)
		fprintf(out, " (on %s)", d.stub);
	fputc('\n', out);
}

void policy_describe(const struct policy *p, FILE *out)
{
	char place[PATH_MAX + 64];

	for (size_t i = 0; i < p->n_rules; i++) {
		const struct rule *r = &p->rules[i];
		bool first = true;

		rule_place(p, (int)i, place, sizeof(place));
		fprintf(out, "%s: %s", place, action_names[r->action]);
		if (r->action == POLICY_ASSIGN)
			fprintf(out, " to %s/%s", r->owner_driver, r->owner_domain);
		fputs(" if", out);
		for (int k = 0; k < K__COUNT; k++)
			if (has(r, (enum key)k)) {
				fprintf(out, "%s %s", first ? "" : ",", key_names[k]);
				first = false;
			}
		if (first)
			fputs(" any device", out);
		if (r->when != POLICY_ALWAYS)
			fprintf(out, " (%s only)", when_names[r->when]);
		fputc('\n', out);
	}
	rule_place(p, -1, place, sizeof(place));
	fprintf(out, "%s: %s\n", place, action_names[p->dflt]);
	fprintf(out, "%zu rule(s), %zu client(s); first match wins, then the default\n",
		p->n_rules, p->n_clients);
	for (size_t i = 0; i < p->n_warnings; i++)
		fprintf(out, "warning: %s\n", p->warnings[i]);
}
