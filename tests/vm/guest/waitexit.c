#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/vm/guest/waitexit.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int guest_wait_exit(pid_t pid, int timeout_ms, const char *what)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), status;
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	assert_true(pidfd >= 0);
	if (poll(&p, 1, timeout_ms) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		close(pidfd);
		fail_msg("%s did not finish within %d ms", what, timeout_ms);
	}
	close(pidfd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}
