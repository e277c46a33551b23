/* rules generate: the policy's udev rules (policy/udevgen.h, docs/udev.md),
 * written without hostdevd, as policy check reads a file. */
#include "client/cmd.h"
#include "common/util.h"
#include "policy/policy.h"
#include "policy/udevgen.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct cmd_option rules_generate_options[] = {
	{ .name = "policy", .arg = "PATH" },
	{ .name = "output", .short_name = 'o', .arg = "FILE" },
	{},
};

/* The daemon's: --policy, else $HOSTDEVD_POLICY, else the default
 * directory, where nothing at all means the built-in default.  A path
 * someone named must exist (a typo is not "no rules"). */
static struct policy *load_policy(const char *named, const char **path)
{
	const char *env = getenv("HOSTDEVD_POLICY");
	char err[1024];
	struct policy *p;
	struct stat st;

	bool named_somewhere = named || (env && *env);

	*path = named ? named : env && *env ? env : POLICY_DEFAULT_PATH;
	if (!named_somewhere && stat(*path, &st) < 0 && errno == ENOENT)
		return policy_default();
	p = policy_load(*path, err, sizeof(err));
	if (!p)
		complain("%s", err);
	return p;
}

static int close_and_fail(int fd, const char *tmp, const char *file)
{
	complain("cannot write %s: %s", file, strerror(errno));
	close(fd);
	unlink(tmp);
	return EXIT_FAILED;
}

/* A temporary file beside FILE, synced, renamed over it, the directory
 * synced: a reader (udevd reloading its rules) sees the old file or the
 * new one whole, never a part. */
static int write_atomic(const char *file, const char *text, size_t len)
{
	_cleanup_free_ char *tmp = xasprintf("%s.XXXXXX", file);
	_cleanup_free_ char *dir_buf = xstrdup(file);
	int fd = mkstemp(tmp), dfd;

	if (fd < 0) {
		complain("cannot write %s: %s", file, strerror(errno));
		return EXIT_FAILED;
	}
	/* udev reads rules as any user would: 0644, as packages install them. */
	if (fchmod(fd, 0644) < 0)
		return close_and_fail(fd, tmp, file);
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return close_and_fail(fd, tmp, file);
		done += (size_t)n;
	}
	if (fsync(fd) < 0)
		return close_and_fail(fd, tmp, file);
	if (close(fd) < 0 || rename(tmp, file) < 0) {
		complain("cannot write %s: %s", file, strerror(errno));
		unlink(tmp);
		return EXIT_FAILED;
	}
	dfd = open(dirname(dir_buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return EXIT_DONE;
}

static json_object *generated_json(const struct udevgen *g)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < udevgen_line_count(g); i++) {
		const struct udevgen_line *l = udevgen_line(g, i);
		json_object *o = json_object_new_object();

		json_object_object_add(o, "file", json_object_new_string(l->file));
		json_object_object_add(o, "line", json_object_new_int(l->line));
		json_object_object_add(o, "bus", json_object_new_string(hd_bus_name(l->bus)));
		json_object_object_add(o, "action",
				       json_object_new_string(policy_action_name(l->action)));
		json_object_object_add(o, "acts", json_object_new_boolean(l->acts));
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *not_generated_json(const struct udevgen *g)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < udevgen_skip_count(g); i++) {
		const struct udevgen_skip *s = udevgen_skip(g, i);
		json_object *o = json_object_new_object();

		json_object_object_add(o, "file", s->file ? json_object_new_string(s->file) : NULL);
		json_object_object_add(o, "line", json_object_new_int(s->line));
		json_object_object_add(o, "reason", json_object_new_string(s->reason));
		json_object_array_add(a, o);
	}
	return a;
}

/* What udev leaves to hostdevd, for the administrator: stderr, so that
 * stdout stays the rules file. */
static void tell_not_generated(const struct udevgen *g)
{
	size_t n = udevgen_skip_count(g);

	fflush(stdout);
	for (size_t i = 0; i < n; i++) {
		const struct udevgen_skip *s = udevgen_skip(g, i);

		if (s->file)
			fprintf(stderr, "%s:%d: not generated: %s\n", s->file, s->line, s->reason);
		else
			fprintf(stderr, "the built-in default: not generated: %s\n", s->reason);
	}
	fprintf(stderr, "hostdevctl: %zu line(s) generated, %zu not generated%s\n",
		udevgen_line_count(g), n, n ? " (hostdevd decides those devices when it starts)" : "");
}

static int rules_generate_exec(struct cmd_run *run)
{
	const char *output = cmd_value(run, "output"), *path;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	struct policy *p = load_policy(cmd_value(run, "policy"), &path);
	struct udevgen *g;
	FILE *f;
	int r = EXIT_DONE;

	if (!p)
		return EXIT_FAILED;
	g = udevgen_new(p);
	f = open_memstream(&text, &len);
	udevgen_write(g, path, f);
	fclose(f);
	if (output)
		r = write_atomic(output, text, len);
	if (r == EXIT_DONE && run->ctl.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "policy", json_object_new_string(path));
		json_object_object_add(o, "output", output ? json_object_new_string(output) : NULL);
		json_object_object_add(o, "rules", json_object_new_string_len(text, (int)len));
		json_object_object_add(o, "generated", generated_json(g));
		json_object_object_add(o, "not_generated", not_generated_json(g));
		cmd_print(run, o);
		json_object_put(o);
	} else if (r == EXIT_DONE && !output) {
		fwrite(text, 1, len, stdout);
	}
	if (r == EXIT_DONE) {
		tell_not_generated(g);
		r = finish_output();
	}
	udevgen_free(g);
	policy_free(p);
	return r;
}

const struct cmd_entry cmd_rules_generate_entry = {
	.name = "rules",
	.sub = "generate",
	.usage = "[--policy PATH] [-o|--output FILE]",
	.text = "Write the policy's udev rules, without hostdevd: on a\n"
		"device's add event they set a detach or assign rule's\n"
		"stub as driver_override before the host driver's\n"
		"module loads.  Rules udev cannot decide exactly as\n"
		"hostdevd does are listed on stderr, not generated.\n"
		"--policy PATH as hostdevd's (default $HOSTDEVD_POLICY,\n"
		"else /etc/hostdevd); -o FILE: written atomically,\n"
		"mode 0644, instead of stdout.  Install it as\n"
		"/etc/udev/rules.d/60-hostdevd-policy.rules.\n",
	.options = rules_generate_options,
	.exec = rules_generate_exec,
};
