/* run: a command holding devices for as long as it runs.  The claim is tied
 * to the command's process by a lease (docs/claims.md "Leases"), so it is
 * hostdevd that ends it when the command ends, whatever becomes of
 * hostdevctl (SIGKILL included). */
#include "client/cmd.h"
#include "client/hdclient.h"
#include "common/jsonget.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


/* The child: waits until the claim is answered (a byte: go; end of file:
 * the claim failed and hostdevctl is gone), then becomes the command.  Its
 * pid exists before the claim names it, so the lease covers it from its
 * first instruction. */
static void child_wait_and_exec(int go, char **argv)
{
	char c;
	ssize_t n;

	while ((n = read(go, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		_exit(127);
	close(go);
	execvp(argv[0], argv);
	fprintf(stderr, "hostdevctl: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* What claim would send for the DEVICEs (the arguments before "--"), and
 * the lease on the command's process. */
static json_object *run_params(const struct cmd_run *run, int n_devices, pid_t pid)
{
	struct cmd_run devices_only = *run;
	json_object *p = json_object_new_object(), *lease = json_object_new_object();

	devices_only.argc = n_devices;
	cmd_claim_build(&devices_only, p);
	json_object_object_add(lease, "pid", json_object_new_int64(pid));
	json_object_object_add(p, "lease", lease);
	return p;
}

/* Whether `device` is still the owner's, or on its way back: its state is
 * claimed (by this owner, or while the release runs, by nobody shown) or
 * releasing.  A device gone is not. */
static bool still_held(struct cmd_run *run, const char *device, const char *driver,
		       const char *domain)
{
	json_object *p = json_object_new_object(), *reply, *dev, *claim, *owner;
	const char *error = NULL, *state;
	bool held = false;

	json_object_object_add(p, "device", json_object_new_string(device));
	if (hdclient_call(run->ctl.client, "io.hostdevd.GetDevice", p, &reply, &error) == 0 &&
	    !error && json_object_object_get_ex(reply, "device", &dev)) {
		state = json_get_str(dev, "state");
		held = streq(state, "releasing") || streq(state, "claimed");
		/* Claimed by someone else already: ours ended. */
		if (held && json_object_object_get_ex(dev, "claim", &claim) &&
		    json_object_object_get_ex(claim, "owner", &owner))
			held = streq(json_get_str(owner, "driver"), driver) &&
			       streq(json_get_str(owner, "domain"), domain);
	}
	json_object_put(p);
	return held;
}

/* The lease releases the claim as the command ends; waiting for it here
 * means that when run returns the devices are back (a script's next
 * command finds them free).  `watch` was opened before the command
 * started: each event is a reason to look again, so nothing is polled and
 * no change can slip between a look and the wait. */
static void wait_released(struct cmd_run *run, struct hdclient *watch, json_object *claims)
{
	const char *error;
	json_object *reply;
	bool more;

	for (;;) {
		bool held = false;

		for (size_t i = 0; !held && i < json_object_array_length(claims); i++) {
			json_object *e = json_object_array_get_idx(claims, i), *owner;

			if (json_object_object_get_ex(e, "owner", &owner))
				held = still_held(run, json_get_str(e, "device"),
						  json_get_str(owner, "driver"),
						  json_get_str(owner, "domain"));
		}
		if (!held)
			return;
		if (!watch || hdclient_next(watch, &reply, &error, &more) < 0 || error || !more) {
			complain("%s", "the devices were not seen released; 'hostdevctl claims' "
				       "tells where they are");
			return;
		}
	}
}

/* A Watch on its own connection, its first reply (the sequence) read;
 * NULL when it cannot be had (run still works, without waiting). */
static struct hdclient *watch_open(struct cmd_run *run)
{
	struct hdclient_error err;
	struct hdclient *w = hdclient_connect(run->ctl.socket_path, &err);
	json_object *reply;
	const char *error = NULL;
	bool more;

	if (!w)
		return NULL;
	hdclient_set_timeout(w, run->ctl.timeout_ms);
	if (hdclient_call_more(w, "io.hostdevd.Watch", NULL) < 0 ||
	    hdclient_next(w, &reply, &error, &more) < 0 || error || !more) {
		hdclient_free(w);
		return NULL;
	}
	return w;
}

static int run_exec(struct cmd_run *run)
{
	int n_devices = 0, go[2], status, r;
	json_object *reply, *claims;
	struct hdclient *watch;
	pid_t pid;

	while (n_devices < run->argc && !streq(run->argv[n_devices], "--"))
		n_devices++;
	if (n_devices == 0)
		return usage_error("'run' needs at least one DEVICE before '--'");
	if (n_devices >= run->argc - 1)
		return usage_error("'run' needs '-- COMMAND [ARGS]' after the devices");
	if (pipe2(go, O_CLOEXEC) < 0) {
		complain("cannot make a pipe: %s", strerror(errno));
		return EXIT_FAILED;
	}
	pid = fork();
	if (pid < 0) {
		complain("cannot fork: %s", strerror(errno));
		return EXIT_FAILED;
	}
	if (pid == 0) {
		close(go[1]);
		child_wait_and_exec(go[0], run->argv + n_devices + 1);
	}
	close(go[0]);
	run->params = run_params(run, n_devices, pid);
	r = ctl_call(&run->ctl, "io.hostdevd.Claim", run->params, &reply);
	if (r != CONTINUE) {
		kill(pid, SIGKILL);
		close(go[1]);
		waitpid(pid, NULL, 0);
		return EXIT_FAILED;
	}
	/* Ours: the reply lives only until the connection's next call. */
	claims = json_object_object_get_ex(reply, "claims", &claims) ? json_object_get(claims) : NULL;
	/* Before the command runs: its end cannot come before the watch. */
	watch = watch_open(run);
	if (write(go[1], "g", 1) != 1) {
		complain("cannot start %s: %s", run->argv[n_devices + 1], strerror(errno));
		kill(pid, SIGKILL);
	}
	close(go[1]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			complain("waiting for %s: %s", run->argv[n_devices + 1], strerror(errno));
			return EXIT_FAILED;
		}
	if (claims)
		wait_released(run, watch, claims);
	json_object_put(claims);
	hdclient_free(watch);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

const struct cmd_entry cmd_run_entry = {
	.name = "run",
	.usage = "--owner DRIVER/DOMAIN [--uuid UUID] [--unmanaged] [--whole-group]\n"
		 "[--driver STUB] [--unbind-interfaces] DEVICE[=unmanaged|=managed]...\n"
		 "-- COMMAND [ARG...]",
	.text = "Claim DEVICEs as 'claim' does, run COMMAND, and exit\n"
		"with its status (128+N when signal N ended it).  The\n"
		"claim is tied to COMMAND's process by a lease: hostdevd\n"
		"releases it when the command ends, even if hostdevctl\n"
		"and the command are killed (SIGKILL).  If the claim\n"
		"fails, COMMAND never starts and run exits 1.  Options\n"
		"go before the DEVICEs.\n",
	.options = cmd_claim_options,
	.args = { .min = 3, .max = -1, .name = "DEVICE",
		  .hint = "DEVICE... -- COMMAND, e.g. 0000:03:00.0 -- qemu-system-x86_64 ..." },
	.flags = CMD_WAITS_OWNER | CMD_OPTIONS_FIRST,
	.exec = run_exec,
};
