/* Blocking work off the event loop.
 *
 * A small pool of threads runs jobs that may block in the kernel (a write to
 * `unbind` can take seconds while a driver waits for its user); each job's
 * completion is delivered back on the event loop through an eventfd, so the
 * loop never blocks and keeps serving other clients meanwhile.
 *
 * A job may have a deadline.  When it passes first, `done` runs on the loop at
 * once with WORKER_TIMED_OUT; the thread stays inside the job until the
 * kernel lets go, and then `done` runs a second time with WORKER_LATE, so the
 * caller can read the real state again.  `arg` must stay valid until the
 * WORKER_DONE or WORKER_LATE call.
 *
 * Threads are started on demand, up to a limit, so jobs on different devices
 * run in parallel; one stuck job does not hold the others back. */
#pragma once

#include <stdbool.h>

struct event_base;
struct worker_pool;

enum worker_outcome {
	WORKER_DONE = 0,   /* finished within its deadline (or had none) */
	WORKER_TIMED_OUT,  /* the deadline passed; the job is still running */
	WORKER_LATE,       /* finished after WORKER_TIMED_OUT was delivered */
};

const char *worker_outcome_name(enum worker_outcome o);

/* Runs in a worker thread; may block. */
typedef void (*worker_run_fn)(void *arg);
/* Runs on the event loop. */
typedef void (*worker_done_fn)(void *arg, enum worker_outcome outcome);

#define WORKER_DEFAULT_MAX_THREADS 16

/* max_threads 0 means the default. */
struct worker_pool *worker_pool_new(struct event_base *base, unsigned max_threads);

/* Stops the pool: waits for the jobs running now to return (a job stuck in
 * the kernel holds this up), drops the ones not started, and delivers no
 * further `done` calls. */
void worker_pool_free(struct worker_pool *p);

/* Queues a job; timeout_ms 0 means no deadline.  Must be called on the loop. */
void worker_submit(struct worker_pool *p, unsigned timeout_ms, worker_run_fn run,
		   worker_done_fn done, void *arg);

/* Jobs submitted and not yet delivered as WORKER_DONE or WORKER_LATE. */
unsigned worker_pending(const struct worker_pool *p);
