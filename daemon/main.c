/* hostdevd: the host device manager daemon.  Everything lives in the
 * hostdevd-core library; this only wires the command line to it. */
#include "daemon/daemon.h"
#include "common/log.h"

#include <stdlib.h>

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
