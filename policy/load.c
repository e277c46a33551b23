/* Reading policy files: the file or directory, the top-level settings and
 * the rules, each checked as it is read.  The first problem found is the
 * error, with its file and line; nothing of a policy that has one is used. */
#include "policy/internal.h"
#include "common/log.h"
#include "common/stub.h"
#include "common/util.h"

#include <errno.h>
#include <dirent.h>
#include <grp.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

const char *loader_file_of(struct loader *l, const config_setting_t *s)
{
	return resolve(l, s ? config_setting_source_file(s) : NULL);
}

/* A path longer than the error's room is cut: the message still says what
 * is wrong, and the start of the path says where. */
static void set_error_file(struct policy_error *e, const char *file)
{
	if (snprintf(e->file, sizeof(e->file), "%s", file) >= (int)sizeof(e->file))
		memcpy(e->file + sizeof(e->file) - 4, "...", 4);
}

/* The first error only: the one a person fixes first. */
bool loader_bad(struct loader *l, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;

	if (l->failed)
		return false;
	l->failed = true;
	set_error_file(l->e, loader_file_of(l, s));
	l->e->line = s ? (int)config_setting_source_line(s) : 0;
	va_start(ap, fmt);
	vsnprintf(l->e->message, sizeof(l->e->message), fmt, ap);
	va_end(ap);
	return false;
}

bool loader_string(struct loader *l, const config_setting_t *s, const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return loader_bad(l, s, "'%s' must be a string", config_setting_name(s));
	*out = config_setting_get_string(s);
	return true;
}

bool loader_int(struct loader *l, const config_setting_t *s, int *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_INT)
		return loader_bad(l, s, "'%s' must be a number", config_setting_name(s));
	*out = config_setting_get_int(s);
	return true;
}

bool loader_bool(struct loader *l, const config_setting_t *s, bool *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return loader_bad(l, s, "'%s' must be true or false", config_setting_name(s));
	*out = config_setting_get_bool(s);
	return true;
}

/* A name the system does not know (yet: the package creating the user may
 * come later) makes an entry that matches nobody: it fails closed, and the
 * loader says so as a warning naming the line rather than refusing the
 * whole policy. */
void loader_warn(struct loader *l, const config_setting_t *s, const char *fmt, ...)
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
		xasprintf("%s:%d: %s", loader_file_of(l, s), (int)config_setting_source_line(s), what);
}

/* In table order, whatever the file's: an explanation names the first
 * condition in that order that does not fit.  Room was made for it. */
static void add_condition(struct policy *p, struct rule *r, const struct condition *c)
{
	struct condition *conds = p->conds + r->first_cond;
	size_t i = r->n_conds++;

	for (; i > 0 && conds[i - 1].key > c->key; i--)
		conds[i] = conds[i - 1];
	conds[i] = *c;
	p->n_conds++;
}

/* libconfig refuses a setting named twice, so each key comes once. */
static bool parse_match(struct loader *l, const config_setting_t *m, struct rule *r)
{
	int n;

	if (!m || config_setting_type(m) != CONFIG_TYPE_GROUP)
		return loader_bad(l, m, "%s",
				  "a rule needs 'match = { ... };' (use {} to match every device)");
	n = config_setting_length(m);
	l->p->conds = xrealloc(l->p->conds, (l->p->n_conds + (size_t)n) * sizeof(*l->p->conds));
	r->first_cond = l->p->n_conds;
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(m, (unsigned)i);
		struct condition c = { .key = match_key_find(config_setting_name(s)) };

		if (!c.key)
			return loader_bad(l, s, "unknown match key '%s'", config_setting_name(s));
		if (!match_key_read(l, s, c.key, &c.want))
			return false;
		add_condition(l->p, r, &c);
	}
	return true;
}

static bool parse_owner(struct loader *l, const config_setting_t *o, struct rule *r)
{
	const char *drv = NULL, *dom = NULL;

	if (config_setting_type(o) != CONFIG_TYPE_GROUP ||
	    !config_setting_lookup_string(o, "driver", &drv) ||
	    !config_setting_lookup_string(o, "domain", &dom) || !*drv || !*dom)
		return loader_bad(l, o, "%s", "'owner' is { driver = \"qemu\"; domain = \"vm1\"; }");
	/* A key the daemon would ignore (a uuid, say) would be read as
	 * narrowing the reservation when it does not. */
	if (config_setting_length(o) != 2)
		return loader_bad(l, o, "%s", "'owner' has exactly driver and domain");
	r->owner_driver = xstrdup(drv);
	r->owner_domain = xstrdup(dom);
	return true;
}

/* A rule's driver: a stub, "auto", or what may be a vfio-pci variant's
 * driver or module name.  Whether this host has that variant is the
 * daemon's to say when the rule acts (it may be loaded later, or the file
 * checked on another machine); here only what can never be one is
 * refused, and a stub's module named for its driver. */
static bool rule_stub_valid(struct loader *l, const config_setting_t *g, const char *stub)
{
	const char *driver = stub_of_module(stub);

	if (stub_target(stub) || streq(stub, POLICY_STUB_AUTO))
		return true;
	if (driver)
		return loader_bad(l, g, "'driver' \"%s\" is the module of the stub %s: name the "
					"driver, \"%s\"",
				  stub, driver, driver);
	if (!stub_name_valid(stub))
		return loader_bad(l, g,
				  "'driver' is %s, \"" POLICY_STUB_AUTO "\" (the device's vfio-pci "
				  "variant, else vfio-pci) or a vfio-pci variant's driver or module "
				  "name (letters, digits, '-' and '_', at most %d), not \"%s\"",
				  stub_targets_text(), STUB_NAME_MAX, stub);
	return true;
}

static bool rule_consistent(struct loader *l, const config_setting_t *g, const struct rule *r)
{
	const struct condition *c = rule_conditions(l->p, r);

	if (r->action == POLICY_ASSIGN && !r->owner_driver)
		return loader_bad(l, g, "%s", "action \"assign\" needs an 'owner'");
	if (r->action != POLICY_ASSIGN && r->owner_driver)
		return loader_bad(l, g, "'owner' is only for action \"assign\", not \"%s\"",
				  policy_action_names[r->action]);
	if (r->stub && r->action != POLICY_DETACH && r->action != POLICY_ASSIGN)
		return loader_bad(l, g, "%s", "'driver' (the stub) is only for \"detach\" and \"assign\"");
	if (r->stub && !rule_stub_valid(l, g, r->stub))
		return false;
	if (r->deauthorize && r->action != POLICY_REFUSE)
		return loader_bad(l, g, "%s", "'deauthorize' is only for action \"refuse\"");
	/* SPEC: lifted for one device, by address only — never by a class or
	 * vendor, which could take the host's disk or network with it. */
	if (r->host_critical_ok && !(r->n_conds == 1 && c[0].key->lifts_host_critical))
		return loader_bad(l, g, "%s",
				  "'host_critical = true' needs a match on 'address' and nothing else");
	return true;
}

static bool parse_action(struct loader *l, const config_setting_t *s, struct rule *r)
{
	const char *v = NULL;
	int i;

	if (!loader_string(l, s, &v))
		return false;
	if ((i = name_index(policy_action_names, POLICY_ACTION__COUNT, v)) < 0)
		return loader_bad(l, s, "unknown action \"%s\" (allow, refuse, detach, assign, ignore)",
				  v);
	r->action = (enum policy_action)i;
	return true;
}

static bool parse_when(struct loader *l, const config_setting_t *s, struct rule *r)
{
	const char *v = NULL;
	int i;

	if (!loader_string(l, s, &v))
		return false;
	if ((i = name_index(policy_when_names, ARRAY_SIZE(policy_when_names), v)) < 0)
		return loader_bad(l, s, "'when' is \"always\", \"startup\" or \"hotplug\", not \"%s\"", v);
	r->when = (enum policy_when)i;
	return true;
}

/* A rule's `driver` is the stub it detaches to, kept as its driver name
 * (xen-pciback is pciback from here on), or as written ("auto", a
 * variant's name); rule_consistent() checks it once the action is known,
 * quoting a name that is no stub as written. */
static bool parse_stub(struct loader *l, const config_setting_t *s, struct rule *r)
{
	const char *v = NULL, *stub;

	if (!loader_string(l, s, &v))
		return false;
	stub = stub_target(v);
	r->stub = xstrdup(stub ? stub : v);
	return true;
}

static bool parse_deauthorize(struct loader *l, const config_setting_t *s, struct rule *r)
{
	return loader_bool(l, s, &r->deauthorize);
}

static bool parse_host_critical(struct loader *l, const config_setting_t *s, struct rule *r)
{
	return loader_bool(l, s, &r->host_critical_ok);
}

static const struct {
	const char *name;
	bool (*parse)(struct loader *l, const config_setting_t *s, struct rule *r);
} rule_keys[] = {
	{ "match", parse_match },
	{ "action", parse_action },
	{ "when", parse_when },
	{ "owner", parse_owner },
	{ "driver", parse_stub },
	{ "deauthorize", parse_deauthorize },
	{ "host_critical", parse_host_critical },
};

static bool parse_rule_key(struct loader *l, const config_setting_t *s, struct rule *r)
{
	const char *name = config_setting_name(s);

	for (size_t i = 0; i < ARRAY_SIZE(rule_keys); i++)
		if (streq(rule_keys[i].name, name))
			return rule_keys[i].parse(l, s, r);
	return loader_bad(l, s, "unknown rule key '%s'", name);
}

static bool parse_rule(struct loader *l, const config_setting_t *g)
{
	struct rule r = { .file = xstrdup(loader_file_of(l, g)),
			  .line = (int)config_setting_source_line(g) };
	bool have_action = false, have_match = false;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		policy_rule_free(&r);
		return loader_bad(l, g, "%s",
				  "each rule is a group: { match = { ... }; action = \"...\"; }");
	}
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);

		have_action |= streq(config_setting_name(s), "action");
		have_match |= streq(config_setting_name(s), "match");
		if (!parse_rule_key(l, s, &r)) {
			policy_rule_free(&r);
			return false;
		}
	}
	if (!have_match || !have_action || !rule_consistent(l, g, &r)) {
		policy_rule_free(&r);
		return have_match && have_action ? false
		       : loader_bad(l, g, "%s", "a rule needs both 'match' and 'action'");
	}
	l->p->rules = xrealloc(l->p->rules, (l->p->n_rules + 1) * sizeof(*l->p->rules));
	l->p->rules[l->p->n_rules++] = r;
	return true;
}

static bool parse_list(struct loader *l, const config_setting_t *s,
		       bool (*item)(struct loader *, const config_setting_t *))
{
	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return loader_bad(l, s, "'%s' is a list: ( { ... }, { ... } )", config_setting_name(s));
	for (int i = 0; i < config_setting_length(s); i++)
		if (!item(l, config_setting_get_elem(s, (unsigned)i)))
			return false;
	return true;
}

static bool parse_rules(struct loader *l, const config_setting_t *s)
{
	return parse_list(l, s, parse_rule);
}

static bool parse_clients(struct loader *l, const config_setting_t *s)
{
	/* Even empty, a clients section means "only these": an empty one
	 * leaves everything to root. */
	l->p->have_clients = true;
	return parse_list(l, s, policy_client_parse);
}

static bool parse_default(struct loader *l, const config_setting_t *s)
{
	const char *v = NULL;
	int a;

	if (!loader_string(l, s, &v))
		return false;
	a = name_index(policy_action_names, POLICY_ACTION__COUNT, v);
	/* Detaching every device by default would take the host's. */
	if (a != POLICY_ALLOW && a != POLICY_REFUSE && a != POLICY_IGNORE)
		return loader_bad(l, s, "'default' is \"allow\", \"refuse\" or \"ignore\", not \"%s\"",
				  v);
	l->p->dflt = (enum policy_action)a;
	free(l->p->dflt_file);
	l->p->dflt_file = xstrdup(loader_file_of(l, s));
	l->p->dflt_line = (int)config_setting_source_line(s);
	return true;
}

static bool parse_socket_group(struct loader *l, const config_setting_t *s)
{
	const char *v = NULL;
	struct group *g;

	if (!loader_string(l, s, &v))
		return false;
	if (!(g = getgrnam(v))) {
		/* Over an earlier file's group too: the last setting wins, and
		 * it names no group. */
		l->p->have_socket_group = false;
		loader_warn(l, s, "no group \"%s\" on this system: the socket stays with root's group",
			    v);
		return true;
	}
	l->p->socket_gid = g->gr_gid;
	l->p->have_socket_group = true;
	return true;
}

static bool parse_orphans(struct loader *l, const config_setting_t *s)
{
	const char *v = NULL;

	if (!loader_string(l, s, &v))
		return false;
	if (!streq(v, "keep") && !streq(v, "reattach"))
		return loader_bad(l, s, "'orphans' is \"keep\" or \"reattach\", not \"%s\"", v);
	l->p->orphans = streq(v, "reattach") ? POLICY_ORPHANS_REATTACH : POLICY_ORPHANS_KEEP;
	return true;
}

static const struct {
	const char *name;
	bool (*parse)(struct loader *l, const config_setting_t *s);
} settings[] = {
	{ "rules", parse_rules },
	{ "clients", parse_clients },
	{ "default", parse_default },
	{ "socket_group", parse_socket_group },
	{ "orphans", parse_orphans },
};

static bool parse_top(struct loader *l, const config_setting_t *s)
{
	const char *name = config_setting_name(s);

	for (size_t i = 0; i < ARRAY_SIZE(settings); i++)
		if (streq(settings[i].name, name))
			return settings[i].parse(l, s);
	return loader_bad(l, s, "unknown setting '%s' (rules, clients, default, socket_group, orphans)",
			  name);
}

/* ---- @include, checked before libconfig sees it --------------------------
 *
 * libconfig 1.5 opens an @include'd path with fopen() and no check: a
 * directory opens, and the first read fails inside its flex scanner, whose
 * fatal-error handler calls exit(2), ending the daemon on a ReloadPolicy.  A
 * FIFO blocks the open, a device never ends.  1.5 has no include hook
 * (config_set_include_func is 1.7), so every include is found here the way
 * its scanner (lib/scanner.l) finds them, and anything that is not a regular
 * readable file is an error with the including file and line. */

/* libconfig 1.5's MAX_INCLUDE_DEPTH: the 11th nested include is refused. */
#define INCLUDE_DEPTH_MAX 10
/* Far above any policy; a bound on what one file may make us read. */
#define INCLUDE_FILE_MAX (4u << 20)

struct inc_scan {
	struct loader *l;
	const char *file; /* as errors name it */
	const char *text;
	size_t len, pos;
	int line;
	int depth;        /* includes above this file */
};

static bool inc_bad(struct inc_scan *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static bool inc_bad(struct inc_scan *s, const char *fmt, ...)
{
	va_list ap;

	if (s->l->failed)
		return false;
	s->l->failed = true;
	set_error_file(s->l->e, s->file);
	s->l->e->line = s->line;
	va_start(ap, fmt);
	vsnprintf(s->l->e->message, sizeof(s->l->e->message), fmt, ap);
	va_end(ap);
	return false;
}

/* The whole of a regular file, opened so that a FIFO does not block us;
 * NULL with errno (EISDIR, EINVAL for other kinds, EFBIG) otherwise. */
static char *read_regular(const char *path, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	ssize_t r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		return NULL;
	}
	if (st.st_size > (off_t)INCLUDE_FILE_MAX) {
		errno = EFBIG;
		return NULL;
	}
	buf = xcalloc(1, (size_t)st.st_size + 1);
	r = read_full(fd, buf, (size_t)st.st_size);
	if (r < 0)
		return NULL;
	*len = (size_t)r;
	return steal_ptr(buf);
}

static const char *kind_of(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return "not a regular file";
	if (S_ISDIR(st.st_mode))
		return "a directory";
	if (S_ISFIFO(st.st_mode))
		return "a FIFO";
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		return "a device";
	if (S_ISSOCK(st.st_mode))
		return "a socket";
	return "not a regular file";
}

static bool inc_scan_text(struct inc_scan *s);

/* One include: what libconfig 1.5 would open (include_dir "/" name, even
 * for an absolute name), checked and scanned in turn. */
static bool inc_follow(struct inc_scan *s, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", s->l->dir, name);
	_cleanup_free_ char *text = NULL;
	struct inc_scan sub = { .l = s->l, .file = path, .line = 1, .depth = s->depth + 1 };

	if (sub.depth > INCLUDE_DEPTH_MAX)
		return inc_bad(s, "@include \"%s\": includes nested more than %d deep (an include loop?)",
			       name, INCLUDE_DEPTH_MAX);
	text = read_regular(path, &sub.len);
	if (!text && (errno == EISDIR || errno == EINVAL))
		return inc_bad(s, "@include \"%s\": %s is %s, not a regular file", name, path,
			       kind_of(path));
	if (!text)
		return inc_bad(s, "@include \"%s\": cannot read %s: %s", name, path, strerror(errno));
	sub.text = text;
	return inc_scan_text(&sub);
}

/* At the start of a line: `[ \t]*@include[ \t]+"`, scanner.l's
 * include_open; its length, or 0. */
static size_t include_open(const char *t, size_t len)
{
	size_t i = 0, j;

	while (i < len && (t[i] == ' ' || t[i] == '\t'))
		i++;
	if (len - i < 8 || memcmp(t + i, "@include", 8) != 0)
		return 0;
	j = i + 8;
	while (j < len && (t[j] == ' ' || t[j] == '\t'))
		j++;
	return j > i + 8 && j < len && t[j] == '"' ? j + 1 : 0;
}

/* The include's path after its opening quote, with scanner.l's two escapes
 * (\\ and \"); s->pos ends after the closing quote. */
static bool inc_directive(struct inc_scan *s)
{
	_cleanup_free_ char *name = xcalloc(1, s->len - s->pos + 1);
	int line = s->line;
	size_t n = 0;

	for (; s->pos < s->len && s->text[s->pos] != '"'; s->pos++) {
		char c = s->text[s->pos];

		if (c == '\\') {
			char e = s->pos + 1 < s->len ? s->text[s->pos + 1] : '\0';

			if (e != '\\' && e != '"') {
				s->line = line;
				return inc_bad(s, "@include: only \\\\ and \\\" may follow a backslash");
			}
			c = e;
			s->pos++;
		} else if (c == '\n') {
			s->line++;
		}
		name[n++] = c;
	}
	if (s->pos >= s->len) {
		s->line = line;
		return inc_bad(s, "@include without its closing quote");
	}
	s->pos++;
	if (memchr(name, '\0', n)) {
		s->line = line;
		return inc_bad(s, "@include: a NUL byte in the path");
	}
	{
		/* Errors name the line the directive starts on. */
		int end_line = s->line;
		bool ok;

		s->line = line;
		ok = inc_follow(s, name);
		s->line = end_line;
		return ok;
	}
}

/* Past a quoted string or a comment, as scanner.l's STRING and COMMENT
 * states read them: nothing inside either is an include. */
static void inc_skip_to(struct inc_scan *s, const char *end, bool escapes)
{
	size_t elen = strlen(end);

	while (s->pos < s->len) {
		if (escapes && s->text[s->pos] == '\\' && s->pos + 1 < s->len) {
			s->line += s->text[s->pos + 1] == '\n';
			s->pos += 2;
			continue;
		}
		if (s->len - s->pos >= elen && memcmp(s->text + s->pos, end, elen) == 0) {
			s->pos += elen;
			return;
		}
		s->line += s->text[s->pos] == '\n';
		s->pos++;
	}
}

static bool inc_scan_text(struct inc_scan *s)
{
	bool bol = true; /* flex's ^: the last character read was a newline */

	while (s->pos < s->len) {
		const char *t = s->text + s->pos;
		size_t left = s->len - s->pos, open;
		char c = t[0], next = left > 1 ? t[1] : '\0';

		if (bol && (open = include_open(t, left))) {
			s->pos += open;
			if (!inc_directive(s))
				return false;
			bol = false;
			continue;
		}
		bol = c == '\n';
		if (c == '/' && next == '*') {
			s->pos += 2;
			inc_skip_to(s, "*/", false);
			bol = false;
		} else if (c == '"') {
			s->pos++;
			inc_skip_to(s, "\"", true);
		} else if (c == '#' || (c == '/' && next == '/')) {
			/* The comment stops before its newline: that newline
			 * makes the next line's start. */
			const char *nl = memchr(t, '\n', left);

			s->pos = nl ? (size_t)(nl - s->text) : s->len;
		} else {
			s->line += c == '\n';
			s->pos++;
		}
	}
	return true;
}

/* The file itself (a regular file: a FIFO named as the policy would block
 * libconfig's open) and every include it reaches. */
static bool check_includes(struct loader *l, const char *path)
{
	struct inc_scan s = { .l = l, .file = path, .line = 0 };
	_cleanup_free_ char *text = read_regular(path, &s.len);

	if (!text && (errno == EISDIR || errno == EINVAL))
		return inc_bad(&s, "%s, not a regular file", kind_of(path));
	if (!text)
		return inc_bad(&s, "cannot read it: %s", strerror(errno));
	s.text = text;
	s.line = 1;
	return inc_scan_text(&s);
}

static bool load_file(struct loader *l, const char *path)
{
	config_t cfg;
	config_setting_t *root;
	bool ok = true;

	l->file = path;
	l->p->files = xrealloc(l->p->files, (l->p->n_files + 1) * sizeof(*l->p->files));
	l->p->files[l->p->n_files++] = xstrdup(path);
	config_init(&cfg);
	/* @include "x.conf" is found next to the including file, not in
	 * whatever directory the daemon runs from. */
	snprintf(l->path, sizeof(l->path), "%s", path);
	snprintf(l->dir, sizeof(l->dir), "%s", dirname(l->path));
	config_set_include_dir(&cfg, l->dir);
	if (!check_includes(l, path)) {
		config_destroy(&cfg);
		return false;
	}
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		set_error_file(l->e, resolve(l, config_error_file(&cfg)));
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
	policy_index_build(l.p);
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
