#include "tests/vm/guest/hold.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

int hold_signals_block(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int hold_write_ready(const char *path)
{
	static const char ready[] = "ready\n";
	char tmp[PATH_MAX];
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, ready, sizeof(ready) - 1) != (ssize_t)sizeof(ready) - 1)
		err = errno ? -errno : -EIO;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

/* Discards what is readable: 1 at end of file, 0 if not, -1 on an error. */
static int read_input(int fd)
{
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	return n == 0;
}

enum hold_end hold_wait(int sigfd, int input_fd, int *signo)
{
	struct pollfd p[2] = { { .fd = sigfd, .events = POLLIN },
			       { .fd = input_fd, .events = POLLIN } };

	for (;;) {
		struct signalfd_siginfo si;
		int r;

		if (poll(p, 2, -1) < 0) { /* a negative fd is ignored */
			if (errno == EINTR)
				continue;
			return HOLD_ERROR;
		}
		if ((p[0].revents | p[1].revents) & POLLNVAL) {
			errno = EBADF;
			return HOLD_ERROR;
		}
		if (p[0].revents & POLLIN) {
			if (read(sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
				return HOLD_ERROR;
			*signo = (int)si.ssi_signo;
			return HOLD_SIGNAL;
		}
		/* A pipe whose writer went away reports POLLHUP, maybe without
		 * POLLIN: read() tells end of file from data. */
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if ((r = read_input(input_fd)) != 0)
				return r > 0 ? HOLD_EOF : HOLD_ERROR;
		}
	}
}

int hold_device(const char *prog, const char *addr, const char *ready_file, int sigfd, int input)
{
	int signo = 0, r;

	if (ready_file && (r = hold_write_ready(ready_file)) < 0) {
		fprintf(stderr, "%s: %s: ready file: %s: %s\n", prog, addr, ready_file, strerror(-r));
		return -1;
	}
	switch (hold_wait(sigfd, input, &signo)) {
	case HOLD_SIGNAL:
		printf("%s: %s: released on %s\n", prog, addr, signo == SIGTERM ? "SIGTERM" : "SIGINT");
		return 0;
	case HOLD_EOF:
		printf("%s: %s: released at the end of stdin\n", prog, addr);
		return 0;
	case HOLD_ERROR:
		break;
	}
	fprintf(stderr, "%s: %s: hold: %s\n", prog, addr, strerror(errno));
	return -1;
}
