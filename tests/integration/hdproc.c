#include "tests/integration/hdproc.h"
#include "tests/integration/itest.h"
#include "tests/common/rmtree.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#ifndef HOSTDEVD_BIN
#error "HOSTDEVD_BIN must name the hostdevd binary under test"
#endif

static int elapsed_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int)((now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000);
}

static char *path_in(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	return p;
}

/* argv: the wrapper's words (split on blanks; no quoting), the binary and
 * its options. */
static char **build_argv(const struct hdproc *p, const struct hdproc_config *cfg, char **words)
{
	const char *wrapper = getenv("HOSTDEVD_TEST_WRAPPER");
	char **argv = xcalloc(64, sizeof(*argv));
	size_t n = 0;
	char *save = NULL;

	*words = xstrdup(wrapper ? wrapper : "");
	for (char *w = strtok_r(*words, " \t", &save); w && n < 48; w = strtok_r(NULL, " \t", &save))
		argv[n++] = w;
	argv[n++] = (char *)(cfg->binary ? cfg->binary : HOSTDEVD_BIN);
	if (!cfg->background)
		argv[n++] = (char *)"--foreground";
	argv[n++] = (char *)"--socket";
	argv[n++] = p->socket_path;
	argv[n++] = (char *)"--state-dir";
	argv[n++] = p->state_dir;
	argv[n++] = (char *)"--log-level";
	argv[n++] = (char *)(cfg->log_level ? cfg->log_level : "debug");
	argv[n++] = (char *)"--uevent-source";
	argv[n++] = (char *)(cfg->source		       ? cfg->source
			     : getenv("HOSTDEVD_TEST_UEVENT_SOURCE") ? getenv("HOSTDEVD_TEST_UEVENT_SOURCE")
								     : "udev");
	return argv;
}

/* Our environment (the umockdev preload and UMOCKDEV_DIR included) with
 * NOTIFY_SOCKET pointing at the test. */
static char **build_env(const char *notify_path, char **notify_var)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = xcalloc(n + 2, sizeof(*env));
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) != 0)
			env[k++] = environ[i];
	if (asprintf(notify_var, "NOTIFY_SOCKET=%s", notify_path) < 0)
		abort();
	env[k] = *notify_var;
	return env;
}

static int notify_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		abort();
	memcpy(sa.sun_path, path, strlen(path));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "hdproc: bind %s: %s\n", path, strerror(errno));
		abort();
	}
	return fd;
}

static int spawn(struct hdproc *p, const struct hdproc_config *cfg, const char *notify_path)
{
	posix_spawn_file_actions_t fa;
	_cleanup_free_ char *words = NULL, *notify_var = NULL;
	_cleanup_free_ char **argv = build_argv(p, cfg, &words);
	_cleanup_free_ char **env = build_env(notify_path, &notify_var);
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, p->log_path,
					 O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	r = posix_spawnp(&p->pid, argv[0], &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		fprintf(stderr, "hdproc: cannot run %s: %s\n", argv[0], strerror(r));
		return -r;
	}
	p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pidfd < 0)
		abort();
	return 0;
}

static void reap(struct hdproc *p)
{
	if (p->reaped)
		return;
	if (waitpid(p->pid, &p->status, 0) != p->pid)
		abort();
	p->reaped = true;
}

/* READY=1 on the notify socket, or the child's exit, or the deadline. */
static int wait_ready(struct hdproc *p, int notify_fd, int timeout_ms)
{
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd fds[2] = { { .fd = notify_fd, .events = POLLIN },
					 { .fd = p->pidfd, .events = POLLIN } };
		int left = timeout_ms - elapsed_since(&start);
		char msg[256];
		ssize_t n;

		if (left <= 0 || poll(fds, 2, left) == 0)
			return -ETIMEDOUT;
		/* Read the socket first: a daemon going to the background says
		 * READY=1 and then its first process exits at once. */
		n = recv(notify_fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
		if (n > 0) {
			msg[n] = '\0';
			if (strstr(msg, "READY=1"))
				return 0;
			continue;
		}
		if (fds[1].revents) {
			reap(p);
			return -ECHILD;
		}
	}
}

static void init_paths(struct hdproc *p, const struct hdproc_config *cfg)
{
	const char *tmp = getenv("TMPDIR");
	char *dir;

	if (asprintf(&dir, "%s/hostdevd-test.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0 ||
	    !mkdtemp(dir))
		abort();
	*p = (struct hdproc){ .pid = -1, .pidfd = -1, .dir = dir };
	p->socket_path = cfg->socket_path ? xstrdup(cfg->socket_path)
					  : path_in(dir, "hostdevd.sock");
	p->state_dir = cfg->state_dir ? xstrdup(cfg->state_dir) : path_in(dir, "state");
	p->log_path = path_in(dir, "hostdevd.log");
}

int hdproc_start(struct hdproc *p, const struct hdproc_config *cfg)
{
	static const struct hdproc_config defaults;
	_cleanup_free_ char *notify_path = NULL;
	_cleanup_close_ int notify_fd = -1;
	int r;

	if (!cfg)
		cfg = &defaults;
	init_paths(p, cfg);
	notify_path = path_in(p->dir, "notify");
	notify_fd = notify_socket(notify_path);
	r = spawn(p, cfg, notify_path);
	if (r < 0)
		return r;
	return wait_ready(p, notify_fd, cfg->ready_timeout_ms ? cfg->ready_timeout_ms
							      : IT_TIMEOUT_MS);
}

int hdproc_wait(struct hdproc *p, int timeout_ms)
{
	struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };

	if (p->pid <= 0)
		return -ECHILD;
	if (!p->reaped) {
		if (poll(&pfd, 1, timeout_ms) == 0)
			return -ETIMEDOUT;
		reap(p);
	}
	return p->status;
}

int hdproc_stop(struct hdproc *p)
{
	int r;

	/* Never kill(0) or kill(-1): that would signal everyone. */
	if (p->pid <= 0)
		return -ECHILD;
	if (!p->reaped)
		kill(p->pid, SIGTERM);
	r = hdproc_wait(p, IT_TIMEOUT_MS);
	if (r == -ETIMEDOUT) {
		kill(p->pid, SIGKILL);
		reap(p);
	}
	return r;
}

void hdproc_cleanup(struct hdproc *p)
{
	if (p->pid > 0 && !p->reaped) {
		kill(p->pid, SIGKILL);
		reap(p);
	}
	if (p->pidfd >= 0)
		close(p->pidfd);
	if (p->dir)
		rmtree(p->dir);
	free(p->dir);
	free(p->socket_path);
	free(p->state_dir);
	free(p->log_path);
	*p = (struct hdproc){ .pid = -1, .pidfd = -1 };
}

/* read(2), not stdio: under ASan with the umockdev and kemu preloads,
 * open_memstream's FILE is registered by ASan's interceptor but its fclose
 * may reach libc past it, and the next one at the same address trips an
 * ASan CHECK.  Tests poll the log, so this runs often. */
char *hdproc_log(const struct hdproc *p)
{
	_cleanup_close_ int fd = open(p->log_path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, cap = 4096;
	char *buf = xcalloc(1, cap + 1);
	ssize_t n;

	while (fd >= 0 && (n = read(fd, buf + len, cap - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		len += (size_t)n;
		if (len == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
	}
	buf[len] = '\0';
	return buf;
}

static void dump_log(const struct hdproc *p, const char *why)
{
	_cleanup_free_ char *log = hdproc_log(p);

	fprintf(stderr, "---- hostdevd %s; its log (%s):\n%s---- end of log\n", why, p->log_path,
		log);
}

bool hdproc_try_start(struct hdproc *p, const struct hdproc_config *cfg)
{
	int r = hdproc_start(p, cfg);

	if (r == 0)
		return true;
	dump_log(p, r == -ETIMEDOUT ? "was not ready in time" : "exited before it was ready");
	fprintf(stderr, "hostdevd did not start: %s (wait status %#x)\n", strerror(-r), p->status);
	hdproc_cleanup(p);
	return false;
}

void hdproc_start_ok(struct hdproc *p, const struct hdproc_config *cfg)
{
	if (!hdproc_try_start(p, cfg))
		fail_msg("hostdevd did not start");
}

void hdproc_stop_ok(struct hdproc *p)
{
	int status = hdproc_stop(p);

	if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	dump_log(p, "did not exit cleanly");
	if (status == -ETIMEDOUT)
		fail_msg("hostdevd did not exit within %d ms of SIGTERM", IT_TIMEOUT_MS);
	if (WIFSIGNALED(status))
		fail_msg("hostdevd died of signal %d", WTERMSIG(status));
	fail_msg("hostdevd exited with status %d", WEXITSTATUS(status));
}
