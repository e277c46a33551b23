#include "engine/failpoint.h"
#include "common/log.h"
#include "common/util.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static char armed[64];
static atomic_int remaining;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void arm(void)
{
	const char *env = getenv("HOSTDEVD_FAILPOINT");
	const char *colon;

	if (!env || !*env)
		return;
	colon = strchr(env, ':');
	snprintf(armed, sizeof(armed), "%.*s", colon ? (int)(colon - env) : (int)strlen(env), env);
	atomic_store(&remaining, colon ? atoi(colon + 1) : 1);
	log_warn("failpoint %s armed: hostdevd will kill itself there", armed);
}

/* Any thread: the detach engine's writes pass them in worker threads. */
void failpoint(const char *name)
{
	pthread_once(&once, arm);
	if (!armed[0] || !streq(name, armed) || atomic_fetch_sub(&remaining, 1) != 1)
		return;
	log_warn("failpoint %s: killing myself (SIGKILL)", name);
	raise(SIGKILL);
}
