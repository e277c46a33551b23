/* policy explain, check, reload: the family of hostdevd's policy. */
#include "client/cmd.h"
#include "client/format.h"
#include "policy/policy.h"

const struct cmd_entry cmd_policy_explain_entry = {
	.name = "policy",
	.sub = "explain",
	.usage = "DEVICE",
	.text = "Which rule of hostdevd's policy decides a claim of\n"
		"DEVICE, and why each rule before it did not fit; then\n"
		"the driver its action (or a claim) would detach it to,\n"
		"the vfio-pci variant modules.alias picks included.\n",
	.args = { .min = 1, .max = 1, .name = "DEVICE" },
	.method = "io.hostdevd.CheckPolicy",
	.build = add_device_param,
	.render = format_policy_explain,
};

/* Local: a file an administrator is about to install, before any daemon
 * reads it.  Nothing comes back from hostdevd, so --json has nothing to
 * print; the loader describes what it read. */
static int policy_check_exec(struct cmd_run *run)
{
	const char *path = run->argv[0];
	char err[1024];
	struct policy *p = policy_load(path, err, sizeof(err));

	if (!p) {
		complain("%s", err);
		return EXIT_FAILED;
	}
	printf("%s: valid\n", path);
	policy_describe(p, stdout);
	policy_free(p);
	return finish_output();
}

const struct cmd_entry cmd_policy_check_entry = {
	.name = "policy",
	.sub = "check",
	.usage = "PATH",
	.text = "Check a policy file (or a directory holding policy.conf\n"
		"and policy.d/) without hostdevd: its rules, or the\n"
		"file, line and problem (exit 1).\n",
	.args = { .min = 1, .max = 1, .name = "PATH" },
	.exec = policy_check_exec,
};

const struct cmd_entry cmd_policy_reload_entry = {
	.name = "policy",
	.sub = "reload",
	.text = "Make hostdevd read its policy again (as SIGHUP does;\n"
		"needs 'admin').  A bad file changes nothing (exit 1,\n"
		"file, line and problem); claims the new policy would\n"
		"refuse are kept and listed.\n",
	.method = "io.hostdevd.ReloadPolicy",
	.render = format_policy_reload,
};
