/* store/store_embed.c - background embedding for remote embedders (SPEC §3,
 * §4): a document is stored, split and journaled when close() returns, and
 * its nodes get vectors here, in batches, with retries and backoff. Nothing
 * is lost: the set of nodes still waiting is derived from the state (nodes
 * with text and no vector), so a restart picks the work up again.
 *
 * Lock order: s->lock before eq.lock is never needed: the worker copies the
 * texts under the read lock, embeds with no lock held, and commits the
 * vectors under the write lock (only for nodes whose text is unchanged).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonutil.h"
#include "log.h"
#include "node.h"
#include "store_int.h"

#define EMBED_BATCH 64
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 60000

struct pending {
	unsigned attempts;
	int64_t next_ns; /* not before */
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int store_embed_enqueue(struct store *s, const char *node_id)
{
	if (!store_emb(s)->remote)
		return 0;
	pthread_mutex_lock(&s->eq.lock);
	int rc = 0;
	if (!map_get(s->eq.pending, node_id)) {
		struct pending *p = calloc(1, sizeof(*p));
		rc = p ? map_put(s->eq.pending, node_id, p, NULL) : -ENOMEM;
		if (rc)
			free(p);
	}
	pthread_cond_signal(&s->eq.cond);
	pthread_mutex_unlock(&s->eq.lock);
	return rc;
}

struct scan_ctx {
	struct store *s;
	int rc;
};

static int scan_node(const char *id, void *val, void *ctx)
{
	struct scan_ctx *c = ctx;
	const struct entry *e = val;
	if (vecindex_find(state_vectors(c->s->st), id) >= 0)
		return 0;
	cJSON *node = json_parse(e->val, e->len);
	if (node_text(node) && !c->rc)
		c->rc = store_embed_enqueue(c->s, id);
	cJSON_Delete(node);
	return 0;
}

/* Nodes with text and no vector are waiting for the embedder. */
static int embed_scan(struct store *s)
{
	struct scan_ctx c = { s, 0 };
	const struct state *st = store_read_begin(s);
	const struct map *nodes = state_coll(st, COLL_NODES);
	if (nodes)
		map_each(nodes, scan_node, &c);
	store_read_end(s);
	return c.rc;
}

struct batch {
	char *ids[EMBED_BATCH];
	char *texts[EMBED_BATCH];
	size_t lens[EMBED_BATCH];
	size_t n;
};

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->ids[i]);
		free(b->texts[i]);
	}
	b->n = 0;
}

struct pick_ctx {
	struct batch *b;
	int64_t now, soonest;
};

static int pick_due(const char *id, void *val, void *ctx)
{
	struct pick_ctx *c = ctx;
	const struct pending *p = val;
	if (p->next_ns > c->now) {
		if (!c->soonest || p->next_ns < c->soonest)
			c->soonest = p->next_ns;
		return 0;
	}
	c->b->ids[c->b->n] = strdup(id);
	if (c->b->ids[c->b->n])
		c->b->n++;
	return c->b->n == EMBED_BATCH;
}

/* Copy the texts of the batch's nodes; drop ids whose node is gone or
 * already has a vector. */
static void load_texts(struct store *s, struct batch *b, struct batch *gone)
{
	size_t keep = 0;
	const struct state *st = store_read_begin(s);
	for (size_t i = 0; i < b->n; i++) {
		const struct entry *e = state_get(st, COLL_NODES, b->ids[i]);
		cJSON *node = e ? json_parse(e->val, e->len) : NULL;
		const char *text = node_text(node);
		int done = vecindex_find(state_vectors(st), b->ids[i]) >= 0;
		if (text && !done && (b->texts[keep] = strdup(text))) {
			b->ids[keep] = b->ids[i];
			b->lens[keep++] = strlen(text);
		} else {
			gone->ids[gone->n++] = b->ids[i];
		}
		cJSON_Delete(node);
	}
	store_read_end(s);
	b->n = keep;
}

/* Commit the vectors of nodes whose text did not change meanwhile, unless
 * a re-embedding replaced the embedder that made them. */
static int commit_vectors(struct store *s, struct batch *b, const float *v,
			  struct embedder *emb)
{
	struct txn t = { 0 };
	size_t dim = emb->dim;
	int rc = store_write_begin(s);
	if (rc)
		return rc;
	if (s->emb != emb || state_dim(s->st) != dim)
		b = &(struct batch){ .n = 0 };
	for (size_t i = 0; i < b->n && !rc; i++) {
		const struct entry *e = state_get(s->st, COLL_NODES, b->ids[i]);
		cJSON *node = e ? json_parse(e->val, e->len) : NULL;
		const char *text = node_text(node);
		if (text && !strcmp(text, b->texts[i]))
			rc = txn_add(&t, FRAME_PUT, COLL_VECS, b->ids[i], v + i * dim,
				     dim * sizeof(float), 0, 0);
		cJSON_Delete(node);
	}
	return store_write_end(s, &t, rc);
}

static void forget(struct store *s, struct batch *b)
{
	pthread_mutex_lock(&s->eq.lock);
	for (size_t i = 0; i < b->n; i++)
		free(map_del(s->eq.pending, b->ids[i]));
	pthread_mutex_unlock(&s->eq.lock);
}

/* Exponential backoff with full jitter. */
static void backoff(struct store *s, struct batch *b, int err)
{
	pthread_mutex_lock(&s->eq.lock);
	for (size_t i = 0; i < b->n; i++) {
		struct pending *p = map_get(s->eq.pending, b->ids[i]);
		if (!p)
			continue;
		p->attempts++;
		double cap = BACKOFF_MIN_MS * pow(2, p->attempts < 20 ? p->attempts : 20);
		if (cap > BACKOFF_MAX_MS)
			cap = BACKOFF_MAX_MS;
		p->next_ns = mono_ns() + (int64_t)((double)rand() / RAND_MAX * cap * 1e6);
	}
	s->eq.last_err = err;
	s->eq.failures++;
	pthread_mutex_unlock(&s->eq.lock);
}

static void run_batch(struct store *s, struct batch *b)
{
	struct batch gone = { .n = 0 };
	load_texts(s, b, &gone);
	forget(s, &gone);
	batch_free(&gone);
	if (!b->n)
		return;
	struct embedder *emb = store_emb(s);
	float *v = malloc(b->n * emb->dim * sizeof(float));
	int rc = v ? embedder_embed(emb, (const char *const *)b->texts, b->lens, b->n, v)
		   : -ENOMEM;
	if (!rc)
		rc = commit_vectors(s, b, v, emb);
	free(v);
	if (rc) {
		errlog_add(s->errs, "(embed)", rc, "embedding %zu nodes failed; retrying", b->n);
		backoff(s, b, rc);
	} else {
		__atomic_add_fetch(&s->eq.embedded, b->n, __ATOMIC_RELAXED);
		forget(s, b);
	}
	batch_free(b);
}

static void *embed_main(void *arg)
{
	struct store *s = arg;
	struct batch b = { .n = 0 };
	pthread_mutex_lock(&s->eq.lock);
	while (!s->eq.stopping) {
		struct pick_ctx c = { &b, mono_ns(), 0 };
		map_each(s->eq.pending, pick_due, &c);
		if (!b.n) {
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			int64_t wait = c.soonest ? c.soonest - c.now : 1000000000;
			until.tv_sec += wait / 1000000000;
			until.tv_nsec += wait % 1000000000;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&s->eq.cond, &s->eq.lock, &until);
			continue;
		}
		pthread_mutex_unlock(&s->eq.lock);
		run_batch(s, &b);
		pthread_mutex_lock(&s->eq.lock);
	}
	pthread_mutex_unlock(&s->eq.lock);
	return NULL;
}

int store_embed_init(struct store *s)
{
	pthread_condattr_t ca;
	pthread_mutex_init(&s->eq.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->eq.cond, &ca);
	pthread_condattr_destroy(&ca);
	s->eq.pending = map_new();
	return s->eq.pending ? 0 : -ENOMEM;
}

int store_embed_start(struct store *s)
{
	/* Needed too when a re-embedding will switch to a remote embedder. */
	if ((!s->emb->remote && !(s->re.target && s->re.target->remote)) ||
	    s->opts.read_only || s->eq.running)
		return 0;
	int rc = embed_scan(s);
	if (!rc)
		rc = -pthread_create(&s->eq.thread, NULL, embed_main, s);
	s->eq.running = !rc;
	return rc;
}

void store_embed_stop(struct store *s)
{
	if (s->eq.running) {
		pthread_mutex_lock(&s->eq.lock);
		s->eq.stopping = 1;
		pthread_cond_signal(&s->eq.cond);
		pthread_mutex_unlock(&s->eq.lock);
		pthread_join(s->eq.thread, NULL);
		s->eq.running = 0;
	}
}

void store_embed_destroy(struct store *s)
{
	map_free(s->eq.pending, free);
	pthread_mutex_destroy(&s->eq.lock);
	pthread_cond_destroy(&s->eq.cond);
}

void store_embed_status(struct store *s, size_t *pending, size_t *failed, int *last_err)
{
	pthread_mutex_lock(&s->eq.lock);
	*pending = map_count(s->eq.pending);
	*failed = 0;
	size_t n;
	const char **keys = map_keys_sorted(s->eq.pending, &n);
	for (size_t i = 0; keys && i < n; i++)
		*failed += ((struct pending *)map_get(s->eq.pending, keys[i]))->attempts > 0;
	free(keys);
	*last_err = s->eq.last_err;
	pthread_mutex_unlock(&s->eq.lock);
}
