/* What every integration test program includes: cmocka, and the deadline
 * for anything a test waits on (an event, a reply, a daemon's readiness).
 * Nothing sleeps for a fixed time; a wait that hits the deadline fails. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* 10 s, or 120 s when HOSTDEVD_TEST_WRAPPER runs the daemon under a tool
 * such as valgrind that slows it down twenty-fold. */
int it_timeout_ms(void);
#define IT_TIMEOUT_MS it_timeout_ms()
