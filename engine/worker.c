#include "engine/worker.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>

struct job {
	struct worker_pool *pool;
	worker_run_fn run;
	worker_done_fn done;
	void *arg;
	struct event *timer; /* NULL without a deadline */
	bool finished;       /* under the pool's lock: run() returned */
	bool timed_out;      /* loop only: WORKER_TIMED_OUT was delivered */
	struct job *next;
};

struct job_list {
	struct job *head, *tail;
};

struct worker_pool {
	struct event_base *base;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job_list queued;   /* not started */
	struct job_list finished; /* run() returned, not delivered yet */
	pthread_t *threads;
	unsigned n_threads, max_threads, n_idle, n_queued;
	bool stopping;
	int efd;
	struct event *efd_ev;
	unsigned pending; /* loop only */
};

static const char *const outcome_names[] = {
	[WORKER_DONE] = "done",
	[WORKER_TIMED_OUT] = "timed out",
	[WORKER_LATE] = "late",
};

const char *worker_outcome_name(enum worker_outcome o)
{
	return o < ARRAY_SIZE(outcome_names) ? outcome_names[o] : "invalid";
}

static void list_push(struct job_list *l, struct job *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static struct job *list_pop(struct job_list *l)
{
	struct job *j = l->head;

	if (j) {
		l->head = j->next;
		if (!l->head)
			l->tail = NULL;
	}
	return j;
}

static void job_free(struct job *j)
{
	if (j->timer)
		event_free(j->timer);
	free(j);
}

/* ---- threads ---------------------------------------------------------- */

static void signal_loop(struct worker_pool *p)
{
	uint64_t one = 1;

	/* The counter saturates long before 2^64; a full eventfd still wakes. */
	while (write(p->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void *worker_main(void *arg)
{
	struct worker_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct job *j;

		while (!p->stopping && !p->queued.head)
			pthread_cond_wait(&p->wake, &p->lock);
		if (p->stopping)
			break;
		j = list_pop(&p->queued);
		p->n_queued--;
		p->n_idle--;
		pthread_mutex_unlock(&p->lock);
		j->run(j->arg);
		pthread_mutex_lock(&p->lock);
		j->finished = true;
		list_push(&p->finished, j);
		p->n_idle++;
		signal_loop(p);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Called with the lock held. */
static void maybe_spawn(struct worker_pool *p)
{
	pthread_t t;
	int r;

	/* Idle threads that have not picked their job yet are spoken for. */
	if (p->n_queued <= p->n_idle || p->n_threads >= p->max_threads)
		return;
	r = pthread_create(&t, NULL, worker_main, p);
	if (r != 0) {
		/* The job waits for a busy thread instead. */
		log_warn("cannot start a worker thread: %s", strerror(r));
		if (p->n_threads == 0)
			fatal("no worker thread could be started");
		return;
	}
	p->threads[p->n_threads++] = t;
	p->n_idle++;
}

/* ---- the loop side ---------------------------------------------------- */

static void deliver(struct job *j)
{
	struct worker_pool *p = j->pool;
	enum worker_outcome o = j->timed_out ? WORKER_LATE : WORKER_DONE;

	p->pending--;
	j->done(j->arg, o);
	job_free(j);
}

static void on_finished(evutil_socket_t fd, short what, void *arg)
{
	struct worker_pool *p = arg;
	struct job_list ready;
	uint64_t n;

	while (read(p->efd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&p->lock);
	ready = p->finished;
	p->finished = (struct job_list){ 0 };
	pthread_mutex_unlock(&p->lock);
	for (struct job *j = list_pop(&ready); j; j = list_pop(&ready))
		deliver(j);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	bool finished;

	pthread_mutex_lock(&j->pool->lock);
	finished = j->finished;
	pthread_mutex_unlock(&j->pool->lock);
	/* Done in time, only not delivered yet: the eventfd is about to. */
	if (finished)
		return;
	j->timed_out = true;
	j->done(j->arg, WORKER_TIMED_OUT);
}

struct worker_pool *worker_pool_new(struct event_base *base, unsigned max_threads)
{
	struct worker_pool *p = xcalloc(1, sizeof(*p));

	p->base = base;
	p->max_threads = max_threads ? max_threads : WORKER_DEFAULT_MAX_THREADS;
	p->threads = xcalloc(p->max_threads, sizeof(*p->threads));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0)
		fatal("eventfd: %s", strerror(errno));
	p->efd_ev = event_new(base, p->efd, EV_READ | EV_PERSIST, on_finished, p);
	/* A finished write comes first when the loop has priorities (the
	 * daemon's does): an operation's next step, or its reply, is waiting
	 * on it, and a completion is work the loop already asked for, never a
	 * flood a peer can make. */
	if (p->efd_ev && event_base_get_npriorities(base) > 1)
		event_priority_set(p->efd_ev, 0);
	if (!p->efd_ev || event_add(p->efd_ev, NULL) < 0)
		fatal("out of memory");
	return p;
}

void worker_pool_free(struct worker_pool *p)
{
	struct job *j;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	while ((j = list_pop(&p->queued)))
		job_free(j);
	while ((j = list_pop(&p->finished)))
		job_free(j);
	event_free(p->efd_ev);
	close(p->efd);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p);
}

void worker_submit(struct worker_pool *p, unsigned timeout_ms, worker_run_fn run,
		   worker_done_fn done, void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));

	*j = (struct job){ .pool = p, .run = run, .done = done, .arg = arg };
	if (timeout_ms) {
		struct timeval tv = { .tv_sec = timeout_ms / 1000,
				      .tv_usec = (timeout_ms % 1000) * 1000 };

		j->timer = evtimer_new(p->base, on_deadline, j);
		if (!j->timer || evtimer_add(j->timer, &tv) < 0)
			fatal("out of memory");
	}
	p->pending++;
	pthread_mutex_lock(&p->lock);
	list_push(&p->queued, j);
	p->n_queued++;
	maybe_spawn(p);
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

unsigned worker_pending(const struct worker_pool *p)
{
	return p->pending;
}
