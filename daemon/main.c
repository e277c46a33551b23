/* hostdevd: the host device manager daemon.  Everything lives in the
 * hostdevd-core library; this only wires the command line to it. */
#include "daemon/daemon.h"
#include "common/log.h"
#include "policy/policy.h"

#include <stdio.h>
#include <stdlib.h>

/* --check-policy: what hostdevd would load, or why it would refuse it. */
static int check_policy(const char *path)
{
	char err[1024];
	struct policy *p = policy_load(path, err, sizeof(err));

	if (!p) {
		fprintf(stderr, "hostdevd: %s\n", err);
		return EXIT_FAILURE;
	}
	printf("%s: valid\n", path);
	policy_describe(p, stdout);
	policy_free(p);
	return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	struct daemon_options opts;
	struct hostdevd *d;
	int r;

	switch (options_parse(&opts, argc, argv)) {
	case OPTIONS_EXIT_SUCCESS:
		options_free(&opts);
		return EXIT_SUCCESS;
	case OPTIONS_USAGE_ERROR:
		options_free(&opts);
		return 2;
	case OPTIONS_OK:
		break;
	}
	if (opts.check_policy) {
		r = check_policy(opts.check_policy);
		options_free(&opts);
		return r;
	}
	log_set_level(opts.log_level);
	d = hostdevd_new(&opts, NULL);
	r = hostdevd_start(d);
	if (r == 0 && !opts.foreground)
		r = hostdevd_daemonize(d);
	if (r == 0)
		r = hostdevd_run(d);
	hostdevd_free(d);
	options_free(&opts);
	return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
