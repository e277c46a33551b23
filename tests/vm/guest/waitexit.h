/* For the guest programs' host tests: waiting for a child with a deadline. */
#pragma once

#include <sys/types.h>

/* Waits for pid to exit (pidfd + poll, no sleep); at timeout_ms kills it
 * and fails the test naming `what`.  Returns the wait status. */
int guest_wait_exit(pid_t pid, int timeout_ms, const char *what);
