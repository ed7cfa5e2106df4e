/* store/vecpool.c - see vecpool.h */
#include "vecpool.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#define POOL_MAX 64

struct job {
	vecpool_fn fn;
	void *arg;
	unsigned want;		/* helpers still wanted; under pool.lock */
	unsigned active;	/* helpers inside fn; under pool.lock */
	unsigned nslots;	/* slots handed out (0 is the caller's) */
	pthread_cond_t done;	/* active reached 0 */
	struct job *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;	/* a job was queued, or stop */
	struct job *head;
	pthread_t *tids;
	unsigned n;
	int stop;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER };
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void *pool_worker(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (!pool.head && !pool.stop)
			pthread_cond_wait(&pool.work, &pool.lock);
		struct job *j = pool.head;
		if (!j)
			break;
		unsigned slot = j->nslots++;
		j->active++;
		if (--j->want == 0)
			pool.head = j->next;
		pthread_mutex_unlock(&pool.lock);
		j->fn(j->arg, slot);
		pthread_mutex_lock(&pool.lock);
		if (--j->active == 0)
			pthread_cond_signal(&j->done);
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

static void pool_init(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = cpus <= 1 ? 0 : cpus > POOL_MAX ? POOL_MAX - 1 : (unsigned)cpus - 1;
	if (!want)
		return;
	pool.tids = calloc(want, sizeof(*pool.tids));
	if (!pool.tids)
		return;
	/* Helpers take no signals: they belong to whoever called us (FUSE
	 * handles SIGINT/SIGTERM on its own threads). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	while (pool.n < want && !pthread_create(&pool.tids[pool.n], NULL, pool_worker, NULL))
		pool.n++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Join the helpers at exit so leak checkers see nothing. A job queued after
 * this is simply run by its caller alone. */
__attribute__((destructor)) static void pool_fini(void)
{
	pthread_mutex_lock(&pool.lock);
	pool.stop = 1;
	pthread_cond_broadcast(&pool.work);
	unsigned n = pool.n;
	pool.n = 0;
	pthread_mutex_unlock(&pool.lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(pool.tids[i], NULL);
	free(pool.tids);
	pool.tids = NULL;
}

unsigned vecpool_size(void)
{
	pthread_once(&pool_once, pool_init);
	pthread_mutex_lock(&pool.lock);
	unsigned n = pool.n + 1;
	pthread_mutex_unlock(&pool.lock);
	return n;
}

unsigned vecpool_run(unsigned nt, vecpool_fn fn, void *arg)
{
	pthread_once(&pool_once, pool_init);
	pthread_mutex_lock(&pool.lock);
	unsigned helpers = pool.n;
	pthread_mutex_unlock(&pool.lock);
	if (nt > helpers + 1)
		nt = helpers + 1;
	if (nt <= 1) {
		fn(arg, 0);
		return 1;
	}
	struct job j = { .fn = fn, .arg = arg, .want = nt - 1, .nslots = 1 };
	pthread_cond_init(&j.done, NULL);
	pthread_mutex_lock(&pool.lock);
	struct job **pp = &pool.head;
	while (*pp)
		pp = &(*pp)->next;
	*pp = &j;
	if (nt > 2)
		pthread_cond_broadcast(&pool.work);
	else
		pthread_cond_signal(&pool.work);
	pthread_mutex_unlock(&pool.lock);

	fn(arg, 0);

	/* Unqueue if helpers never came, then wait for those that did. */
	pthread_mutex_lock(&pool.lock);
	for (pp = &pool.head; *pp; pp = &(*pp)->next) {
		if (*pp == &j) {
			*pp = j.next;
			break;
		}
	}
	while (j.active)
		pthread_cond_wait(&j.done, &pool.lock);
	unsigned used = j.nslots;
	pthread_mutex_unlock(&pool.lock);
	pthread_cond_destroy(&j.done);
	return used;
}
