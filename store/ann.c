/* store/ann.c - see ann.h
 *
 * Distinct vectors. The graph holds one node per distinct raw vector, keyed
 * by the 64-bit hash of its bytes (16 hex digits); an index (struct dup)
 * maps each node to the ids that hold exactly that vector. Document stores
 * repeat text (licence headers, disclaimers, empty chunks), and a graph of
 * many identical points both routes badly (the neighbour heuristic prunes
 * links between equal points) and cannot honour the exact search's tie rule
 * (among equal scores, smallest ids first): a hit on a node expands to all
 * its ids, so ties come out exactly as vecindex_search orders them.
 *
 * The builder is the graph's and the dup index's only writer (hnsw.h's
 * rule; searches read the index under dlock). Its loop, in order of
 * priority: open the graph (map the file or start empty), reconcile it with
 * the state (rebuild the dup index by hashing every row, mark rows whose
 * vector has no node dirty, drop nodes no row holds), apply dirty ids in
 * batches, rebuild when a third of the slots are tombstones, write the file
 * when idle.
 *
 * Readiness: searches use the graph only when it is open, reconciled, of
 * the state's dim, and at most ANN_MAX_PENDING ids behind; the pending ids
 * are scored by brute force in each search. An id leaves the dirty set only
 * after the graph and index reflect it (its generation is compared, so a
 * change that arrives while it is being applied keeps it dirty).
 */
#include "ann.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hnsw.h"
#include "log.h"
#include "map.h"

#define BATCH 1024		/* dirty ids applied per round */
#define SAVE_IDLE_NS (30LL * 1000000000)
#define SAVE_RETRY_NS (60LL * 1000000000)
#define KEYLEN 17		/* 16 hex digits + NUL */

enum { PH_OFF, PH_LOAD, PH_RUN };

/* The ids holding one distinct vector (one graph node). */
struct dup {
	uint64_t h;
	size_t n, cap;
	char **ids;		/* owned */
};

struct ann {
	struct ann_opts o;		/* path and ident owned */
	pthread_rwlock_t *slock;	/* the store's lock */
	struct state *const *stp;	/* the store's state pointer */

	pthread_mutex_t mu;		/* everything below up to glock */
	pthread_cond_t cond;
	int phase, resync, reconciling, broken, stopping;
	struct map *dirty;		/* id -> (void *)generation */
	uint64_t gen;
	uint32_t gdim;			/* dim of the graph in use */
	size_t ids, distinct, tombstones; /* as of the builder's last change */
	uint64_t rebuilds, searches, fallbacks;
	int64_t saved_ns, changed_ns, save_after_ns;
	char note[200];			/* what happened to the file */

	pthread_rwlock_t glock;		/* the pointer g (read: a search uses it) */
	struct hnsw *g;
	pthread_rwlock_t dlock;		/* byid, byhash (read: a search expands) */
	struct map *byid;		/* id -> struct dup * (ids the graph covers) */
	struct map *byhash;		/* node key -> struct dup * */

	/* the builder's own */
	pthread_t thread;
	int running;
	size_t unsaved;			/* changes since the file was written */
	unsigned threads;
};

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* A 64-bit hash of a raw row (murmur3's mixing): equal rows, equal node. */
static uint64_t row_hash(const float *v, uint32_t dim)
{
	const unsigned char *p = (const unsigned char *)v;
	size_t len = (size_t)dim * sizeof(float), i = 0;
	uint64_t h = 0x9E3779B97F4A7C15ULL ^ len;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		w *= 0x87c37b91114253d5ULL;
		w = (w << 31) | (w >> 33);
		w *= 0x4cf5ad432745937fULL;
		h ^= w;
		h = ((h << 27) | (h >> 37)) * 5 + 0x52dce729;
	}
	if (i < len) {
		uint32_t t;
		memcpy(&t, p + i, 4);
		h ^= t * 0x87c37b91114253d5ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

static void hkey(uint64_t h, char out[KEYLEN])
{
	snprintf(out, KEYLEN, "%016" PRIx64, h);
}

static double norm_d(const float *v, uint32_t dim)
{
	double s = 0;
	for (uint32_t i = 0; i < dim; i++)
		s += (double)v[i] * v[i];
	return sqrt(s);
}

/* ------------------------------------------------------------ the dup index */

static void dup_free(void *p)
{
	struct dup *d = p;
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->ids[i]);
	free(d->ids);
	free(d);
}

static int dup_add(struct dup *d, const char *id)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 2;
		char **ids = realloc(d->ids, cap * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		d->ids = ids;
		d->cap = cap;
	}
	return (d->ids[d->n] = strdup(id)) ? (d->n++, 0) : -ENOMEM;
}

static void dup_del(struct dup *d, const char *id)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->ids[i], id)) {
			free(d->ids[i]);
			d->ids[i] = d->ids[--d->n];
			return;
		}
}

/* Register id under hash h (caller holds dlock for writing). *made: the
 * hash had no ids before. */
static int index_put(struct ann *a, const char *id, uint64_t h, int *made)
{
	char k[KEYLEN];
	hkey(h, k);
	struct dup *d = map_get(a->byhash, k);
	*made = !d;
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d || map_put(a->byhash, k, d, NULL)) {
			free(d);
			return -ENOMEM;
		}
		d->h = h;
	}
	int rc = dup_add(d, id);
	if (!rc && map_put(a->byid, id, d, NULL)) {
		dup_del(d, id);
		rc = -ENOMEM;
	}
	return rc;
}

/* Unregister id (caller holds dlock for writing). Returns the hash whose
 * last id it was (its node should go), via *gone. */
static int index_del(struct ann *a, const char *id, uint64_t *gone)
{
	struct dup *d = map_del(a->byid, id);
	if (!d)
		return 0;
	dup_del(d, id);
	if (d->n)
		return 0;
	char k[KEYLEN];
	hkey(d->h, k);
	map_del(a->byhash, k);
	*gone = d->h;
	dup_free(d);
	return 1;
}

/* ------------------------------------------------------------ setup */

int ann_new(const struct ann_opts *o, pthread_rwlock_t *lock, struct state *const *stp,
	    struct ann **out)
{
	struct ann *a = calloc(1, sizeof(*a));
	*out = NULL;
	if (!a)
		return -ENOMEM;
	a->o = *o;
	a->o.path = o->path ? strdup(o->path) : NULL;
	a->o.ident = strdup(o->ident ? o->ident : "");
	if (!a->o.threshold)
		a->o.threshold = ANN_DEFAULT_THRESHOLD;
	if (!a->o.m)
		a->o.m = HNSW_DEFAULT_M;
	if (!a->o.ef_construction)
		a->o.ef_construction = HNSW_DEFAULT_EF_CONSTRUCTION;
	if (!a->o.ef)
		a->o.ef = ANN_DEFAULT_EF;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	a->threads = o->threads ? o->threads : cpus < 1 ? 1 : cpus > 8 ? 8 : (unsigned)cpus;
	a->slock = lock;
	a->stp = stp;
	a->dirty = map_new();
	a->byid = map_new();
	a->byhash = map_new();
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cond, NULL);
	pthread_rwlock_init(&a->glock, NULL);
	pthread_rwlock_init(&a->dlock, NULL);
	snprintf(a->note, sizeof(a->note), "none");
	int rc = 0;
	if (!a->dirty || !a->byid || !a->byhash || (o->path && !a->o.path) || !a->o.ident)
		rc = -ENOMEM;
	else if (strlen(a->o.ident) >= HNSW_IDENT_MAX)
		rc = -EINVAL;
	if (rc) {
		ann_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void ann_free(struct ann *a)
{
	if (!a)
		return;
	map_free(a->dirty, NULL);
	map_free(a->byid, NULL);
	map_free(a->byhash, dup_free);
	hnsw_free(a->g);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cond);
	pthread_rwlock_destroy(&a->glock);
	pthread_rwlock_destroy(&a->dlock);
	free((void *)a->o.path);
	free((void *)a->o.ident);
	free(a);
}

/* Caller holds a->mu. */
static void activate(struct ann *a)
{
	if (a->phase != PH_OFF)
		return;
	a->phase = PH_LOAD;
	pthread_cond_signal(&a->cond);
}

/* The state hook: under the store's write lock. */
static void on_vector(void *ctx, const struct state *st, const char *id)
{
	struct ann *a = ctx;
	pthread_mutex_lock(&a->mu);
	if (a->phase == PH_OFF) {
		if (vecindex_count(state_vectors(st)) >= a->o.threshold)
			activate(a); /* the reconcile after opening picks everything up */
	} else if (a->broken) {
		/* searches use the exact scan for good: nothing to remember */
	} else if (!id || map_put(a->dirty, id, (void *)(uintptr_t)++a->gen, NULL)) {
		a->resync = 1; /* a new vector set, or no memory to remember one id */
		pthread_cond_signal(&a->cond);
	} else {
		pthread_cond_signal(&a->cond);
	}
	pthread_mutex_unlock(&a->mu);
}

void ann_attach(struct ann *a, struct state *st)
{
	state_set_vec_hook(st, on_vector, a);
	pthread_mutex_lock(&a->mu);
	a->resync = 1;
	if (vecindex_count(state_vectors(st)) >= a->o.threshold ||
	    (a->o.path && !access(a->o.path, F_OK)))
		activate(a);
	pthread_mutex_unlock(&a->mu);
}

/* ------------------------------------------------------------ the builder */

static void note(struct ann *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct ann *a, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&a->mu);
	va_start(ap, fmt);
	vsnprintf(a->note, sizeof(a->note), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&a->mu);
}

/* Caller holds a->mu and is the builder (the index's only writer). */
static void refresh_counts(struct ann *a)
{
	a->ids = map_count(a->byid);
	a->distinct = a->g ? hnsw_count(a->g) : 0;
	a->tombstones = a->g ? hnsw_deleted(a->g) : 0;
}

static void fail(struct ann *a, int rc, const char *what)
{
	LOG_ERR("ann: %s: %s: searches use the exact scan", what, strerror(-rc));
	pthread_mutex_lock(&a->mu);
	a->broken = 1;
	snprintf(a->note, sizeof(a->note), "%s: %s", what, strerror(-rc));
	pthread_mutex_unlock(&a->mu);
}

/* Put g in use (the old graph is freed once no search holds it). */
static void install(struct ann *a, struct hnsw *g, uint32_t dim)
{
	pthread_rwlock_wrlock(&a->glock);
	struct hnsw *old = a->g;
	a->g = g;
	pthread_rwlock_unlock(&a->glock);
	hnsw_free(old);
	pthread_mutex_lock(&a->mu);
	a->gdim = dim;
	refresh_counts(a);
	a->changed_ns = now_ns();
	pthread_mutex_unlock(&a->mu);
}

static int fresh_graph(struct ann *a, uint32_t dim)
{
	struct hnsw_params p = { .dim = dim, .m = a->o.m, .ef_construction = a->o.ef_construction };
	struct hnsw *g;
	int rc = hnsw_new(&p, &g);
	if (rc)
		return rc;
	install(a, g, dim);
	a->unsaved = 1; /* whatever the file holds, it is not this */
	return 0;
}

/* Map the file, or start empty. */
static int open_graph(struct ann *a)
{
	pthread_rwlock_rdlock(a->slock);
	uint32_t dim = state_dim(*a->stp);
	pthread_rwlock_unlock(a->slock);
	struct hnsw_params p = { .dim = dim, .m = a->o.m, .ef_construction = a->o.ef_construction };
	struct hnsw *g = NULL;
	char why[200];
	if (a->o.path) {
		int64_t t0 = now_ns();
		int rc = hnsw_load(a->o.path, &p, a->o.ident, &g, why, sizeof(why));
		if (!rc) {
			LOG_INFO("ann: mapped %s: %zu nodes in %.1f ms", a->o.path, hnsw_count(g),
				 (now_ns() - t0) / 1e6);
			note(a, "mapped %zu nodes from the file", hnsw_count(g));
			install(a, g, dim);
			a->unsaved = 0;
			return 0;
		}
		if (rc == -ENOENT) {
			note(a, "no file yet: building");
		} else {
			LOG_WARN("ann: %s refused (%s): rebuilding the graph", a->o.path, why);
			note(a, "file refused (%s): rebuilt", why);
		}
	}
	return fresh_graph(a, dim);
}

/* Caller holds a->mu. */
static void dirty_put(struct ann *a, const char *id)
{
	if (map_put(a->dirty, id, (void *)(uintptr_t)++a->gen, NULL))
		a->resync = 1; /* try again later */
}

struct idlist {
	char **ids;
	size_t n, cap;
};

static int idlist_add(struct idlist *l, const char *id)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		char **ids = realloc(l->ids, cap * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		l->ids = ids;
		l->cap = cap;
	}
	return (l->ids[l->n] = strdup(id)) ? (l->n++, 0) : -ENOMEM;
}

static void idlist_free(struct idlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->ids[i]);
	free(l->ids);
}

/* Make graph and index the state's: hash every row; a row whose vector has
 * a node joins its ids, the others become dirty; nodes no row holds go.
 * One read-lock hold (rows move on removal, so the walk must not be split):
 * about 0.3 s per million 384-d rows. */
static int reconcile(struct ann *a)
{
	pthread_rwlock_rdlock(a->slock);
	uint32_t dim = state_dim(*a->stp);
	pthread_rwlock_unlock(a->slock);
	if (!a->g || dim != a->gdim) {
		LOG_INFO("ann: the vectors have dim %u now: a new graph", dim);
		note(a, "the vectors changed to dim %u: rebuilt", dim);
		int rc = fresh_graph(a, dim);
		if (rc)
			return rc;
	}
	struct idlist todo = { 0 };
	struct map *byid = map_new(), *byhash = map_new();
	int rc = byid && byhash ? 0 : -ENOMEM;
	pthread_rwlock_rdlock(a->slock);
	const struct vecindex *vi = state_vectors(*a->stp);
	size_t n = vecindex_count(vi), joined = 0;
	if (vecindex_dim(vi) != a->gdim)
		rc = -EAGAIN;
	pthread_rwlock_wrlock(&a->dlock);
	map_free(a->byid, NULL);
	map_free(a->byhash, dup_free);
	a->byid = byid;
	a->byhash = byhash;
	for (size_t r = 0; !rc && r < n; r++) {
		const char *id = vecindex_id(vi, r);
		uint64_t h = row_hash(vecindex_row(vi, r), dim);
		char k[KEYLEN];
		hkey(h, k);
		int made;
		if (!map_get(a->byhash, k) && hnsw_find(a->g, k) < 0) {
			rc = idlist_add(&todo, id);
			continue;
		}
		rc = index_put(a, id, h, &made);
		joined++;
	}
	pthread_rwlock_unlock(&a->dlock);
	pthread_rwlock_unlock(a->slock);
	if (rc) {
		idlist_free(&todo);
		return rc;
	}
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < todo.n; i++)
		dirty_put(a, todo.ids[i]);
	pthread_mutex_unlock(&a->mu);
	idlist_free(&todo);
	/* Nodes no row holds any more (the builder alone writes the index:
	 * reading it here needs no lock). */
	size_t slots = hnsw_slots(a->g), gone = 0;
	for (size_t s = 0; s < slots; s++) {
		const char *key;
		int del;
		if (!hnsw_slot(a->g, (uint32_t)s, &key, NULL, NULL, &del) && !del &&
		    !map_get(a->byhash, key)) {
			hnsw_remove(a->g, key);
			gone++;
		}
	}
	a->unsaved += gone;
	LOG_INFO("ann: reconciled: %zu vectors in the graph, %zu to add, %zu nodes dropped",
		 joined, todo.n, gone);
	return 0;
}

struct batch {
	char **ids;
	uint64_t *gens;
	size_t n, max;
};

static int take_one(const char *key, void *val, void *ctx)
{
	struct batch *b = ctx;
	char *id = strdup(key);
	if (!id)
		return 1;
	b->ids[b->n] = id;
	b->gens[b->n++] = (uintptr_t)val;
	return b->n >= b->max;
}

/* Apply b: copy the rows under the store's read lock, update the index,
 * then the graph. 0, -EAGAIN (the dim changed: reconcile), -errno. */
static int apply(struct ann *a, struct batch *b)
{
	uint32_t dim = a->gdim;
	size_t n = b->n;
	float *vecs = malloc(n * (size_t)dim * sizeof(float));
	uint64_t *hs = malloc(n * sizeof(*hs)), *rems = malloc(n * sizeof(*rems));
	char *present = calloc(n, 1), (*keys)[KEYLEN] = malloc(n * sizeof(*keys));
	const char **kp = malloc(n * sizeof(*kp));
	int rc = vecs && hs && rems && present && keys && kp ? 0 : -ENOMEM;
	if (!rc) {
		pthread_rwlock_rdlock(a->slock);
		const struct vecindex *vi = state_vectors(*a->stp);
		if (vecindex_dim(vi) != dim)
			rc = -EAGAIN;
		for (size_t i = 0; !rc && i < n; i++) {
			long row = vecindex_find(vi, b->ids[i]);
			if (row < 0)
				continue;
			present[i] = 1;
			memcpy(vecs + i * dim, vecindex_row(vi, (size_t)row), dim * sizeof(float));
			hs[i] = row_hash(vecs + i * dim, dim);
		}
		pthread_rwlock_unlock(a->slock);
	}
	size_t nadd = 0, nrem = 0, changes = 0;
	pthread_rwlock_wrlock(&a->dlock);
	for (size_t i = 0; !rc && i < n; i++) {
		struct dup *old = map_get(a->byid, b->ids[i]);
		if (present[i] && old && old->h == hs[i])
			continue; /* the graph has it already */
		uint64_t gone;
		if (old && index_del(a, b->ids[i], &gone))
			rems[nrem++] = gone;
		changes++;
		if (!present[i])
			continue;
		int made;
		rc = index_put(a, b->ids[i], hs[i], &made);
		if (rc || !made)
			continue;
		/* A new distinct vector: a node, unless this batch just emptied it. */
		size_t j = 0;
		while (j < nrem && rems[j] != hs[i])
			j++;
		if (j < nrem) {
			rems[j] = rems[--nrem];
			continue;
		}
		hkey(hs[i], keys[nadd]);
		kp[nadd] = keys[nadd];
		if (nadd != i)
			memcpy(vecs + nadd * dim, vecs + i * dim, dim * sizeof(float));
		hs[nadd++] = hs[i]; /* i >= nadd: compacting to the front */
	}
	pthread_rwlock_unlock(&a->dlock);
	for (size_t j = 0; !rc && j < nrem; j++) {
		char k[KEYLEN];
		hkey(rems[j], k);
		hnsw_remove(a->g, k);
	}
	if (!rc && nadd)
		rc = hnsw_add(a->g, nadd, kp, vecs, hs, a->threads);
	if (!rc)
		a->unsaved += changes;
	free(vecs);
	free(hs);
	free(rems);
	free(present);
	free(keys);
	free(kp);
	return rc;
}

/* A graph of the live nodes only, swapped in whole. Nothing else changes
 * the old graph meanwhile (the builder is busy here); what changed in the
 * state waits in the dirty set. */
static int rebuild(struct ann *a)
{
	int64_t t0 = now_ns();
	struct hnsw_params p;
	hnsw_get_params(a->g, &p);
	struct hnsw *g;
	int rc = hnsw_new(&p, &g);
	if (rc)
		return rc;
	size_t slots = hnsw_slots(a->g), n = 0, cap = BATCH;
	const char **keys = malloc(cap * sizeof(*keys));
	float *vecs = malloc(cap * (size_t)p.dim * sizeof(float));
	uint64_t *tags = malloc(cap * sizeof(*tags));
	rc = keys && vecs && tags ? 0 : -ENOMEM;
	for (size_t s = 0; !rc && s <= slots; s++) {
		const char *key;
		const float *v;
		int del = 1;
		if (s < slots)
			hnsw_slot(a->g, (uint32_t)s, &key, &v, &tags[n], &del);
		if (!del) {
			keys[n] = key;
			memcpy(vecs + n * p.dim, v, p.dim * sizeof(float));
			n++;
		}
		if (n == cap || (s == slots && n)) {
			rc = hnsw_add(g, n, keys, vecs, tags, a->threads);
			n = 0;
			pthread_mutex_lock(&a->mu);
			if (a->stopping)
				rc = -ECANCELED; /* unmounting: the old graph is saved */
			pthread_mutex_unlock(&a->mu);
		}
	}
	free(keys);
	free(vecs);
	free(tags);
	if (rc) {
		hnsw_free(g);
		return rc;
	}
	LOG_INFO("ann: rebuilt without %zu tombstones: %zu nodes in %.1f s", hnsw_deleted(a->g),
		 hnsw_count(g), (now_ns() - t0) / 1e9);
	install(a, g, p.dim);
	a->unsaved = 1;
	pthread_mutex_lock(&a->mu);
	a->rebuilds++;
	pthread_mutex_unlock(&a->mu);
	return 0;
}

static void save(struct ann *a)
{
	int64_t t0 = now_ns();
	int rc = a->o.path ? hnsw_save(a->g, a->o.path, a->o.ident) : 0;
	pthread_mutex_lock(&a->mu);
	if (rc) {
		/* Not fatal: the graph lives on in memory; try again later. */
		a->save_after_ns = now_ns() + SAVE_RETRY_NS;
		snprintf(a->note, sizeof(a->note), "cannot write the file: %s", strerror(-rc));
	} else {
		a->saved_ns = now_ns();
		a->unsaved = 0;
	}
	pthread_mutex_unlock(&a->mu);
	if (rc)
		LOG_WARN("ann: cannot write %s: %s", a->o.path, strerror(-rc));
	else if (a->o.path)
		LOG_INFO("ann: wrote %s: %zu nodes in %.2f s", a->o.path, hnsw_count(a->g),
			 (now_ns() - t0) / 1e9);
}

/* Caller holds a->mu. Write the file when idle and enough changed. */
static int save_due(struct ann *a)
{
	if (!a->unsaved || !a->o.path || now_ns() < a->save_after_ns)
		return 0;
	size_t big = a->distinct / 10 > 1000 ? a->distinct / 10 : 1000;
	return a->unsaved >= big || now_ns() - a->changed_ns >= SAVE_IDLE_NS;
}

/* Caller holds a->mu; runs step with it released; a failure stops the
 * graph for good (searches scan). */
static void step(struct ann *a, int (*fn)(struct ann *), const char *what)
{
	pthread_mutex_unlock(&a->mu);
	int rc = fn(a);
	if (rc && rc != -EAGAIN && rc != -ECANCELED)
		fail(a, rc, what);
	pthread_mutex_lock(&a->mu);
	if (rc == -EAGAIN)
		a->resync = 1;
	refresh_counts(a);
}

static int apply_some(struct ann *a)
{
	struct batch b = { .max = BATCH };
	b.ids = calloc(BATCH, sizeof(*b.ids));
	b.gens = calloc(BATCH, sizeof(*b.gens));
	pthread_mutex_lock(&a->mu);
	if (b.ids && b.gens)
		map_each(a->dirty, take_one, &b);
	pthread_mutex_unlock(&a->mu);
	int rc = b.ids && b.gens ? apply(a, &b) : -ENOMEM;
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < b.n; i++) {
		if (!rc && (uintptr_t)map_get(a->dirty, b.ids[i]) == b.gens[i])
			map_del(a->dirty, b.ids[i]);
		free(b.ids[i]);
	}
	a->changed_ns = now_ns();
	pthread_mutex_unlock(&a->mu);
	free(b.ids);
	free(b.gens);
	return rc;
}

static int reconcile_step(struct ann *a)
{
	int rc = reconcile(a);
	pthread_mutex_lock(&a->mu);
	a->reconciling = 0;
	pthread_mutex_unlock(&a->mu);
	return rc;
}

static void *builder_main(void *arg)
{
	struct ann *a = arg;
	pthread_mutex_lock(&a->mu);
	while (!a->stopping) {
		if (a->phase == PH_OFF || a->broken) {
			pthread_cond_wait(&a->cond, &a->mu);
		} else if (a->phase == PH_LOAD) {
			step(a, open_graph, "cannot make the graph");
			a->phase = PH_RUN;
			a->resync = 1;
		} else if (a->resync) {
			a->resync = 0;
			a->reconciling = 1;
			step(a, reconcile_step, "cannot reconcile the graph");
		} else if (map_count(a->dirty)) {
			step(a, apply_some, "cannot add to the graph");
		} else if (a->tombstones > 64 && a->tombstones > a->distinct / 3) {
			step(a, rebuild, "cannot rebuild the graph");
		} else if (save_due(a)) {
			pthread_mutex_unlock(&a->mu);
			save(a);
			pthread_mutex_lock(&a->mu);
		} else {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 2;
			pthread_cond_timedwait(&a->cond, &a->mu, &until);
		}
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

int ann_start(struct ann *a)
{
	if (a->running)
		return 0;
	/* The builder takes no signals: they are the FUSE threads' business. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&a->thread, NULL, builder_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return -rc;
	a->running = 1;
	return 0;
}

void ann_stop(struct ann *a)
{
	if (!a || !a->running)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = 1;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	a->running = 0;
	/* Even a half-built graph is worth keeping: the next mount continues. */
	if (a->g && a->unsaved && a->o.path && !a->broken)
		save(a);
}

/* ------------------------------------------------------------ search */

struct cand {
	const char *id;
	float score;
};

struct scan {
	struct ann *a;
	const struct vecindex *vi;
	const float *q;
	double qnorm;
	vecindex_filter_fn filter;
	void *ctx;
	const uint64_t *cand;
	struct cand *out;
	size_t n, cap;
	int err;
};

static int row_ok(struct scan *s, long row, const char *id)
{
	if (row < 0)
		return 0;
	if (s->cand && !(s->cand[row >> 6] >> (row & 63) & 1))
		return 0;
	return !s->filter || s->filter(s->ctx, (size_t)row, id);
}

/* Score id if the request keeps it. */
static void offer(struct scan *s, const char *id)
{
	long row = vecindex_find(s->vi, id);
	if (!row_ok(s, row, id))
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct cand *o = realloc(s->out, cap * sizeof(*o));
		if (!o) {
			s->err = -ENOMEM;
			return;
		}
		s->out = o;
		s->cap = cap;
	}
	s->out[s->n++] = (struct cand){ vecindex_id(s->vi, (size_t)row),
					vecindex_cosine(vecindex_row(s->vi, (size_t)row), s->q,
						  vecindex_dim(s->vi), s->qnorm) };
}

/* A pending id, scored by brute force. */
static int score_dirty(const char *key, void *val, void *ctx)
{
	(void)val;
	offer(ctx, key);
	return 0;
}

/* The graph's filter: a node whose ids are all gone from the state (a
 * removal not yet applied) or excluded by the request never takes a
 * result's place. The caller holds dlock. */
static int graph_keep(void *ctx, uint32_t slot, const char *key)
{
	struct scan *s = ctx;
	const struct dup *d = map_get(s->a->byhash, key);
	(void)slot;
	for (size_t i = 0; d && i < d->n; i++)
		if (row_ok(s, vecindex_find(s->vi, d->ids[i]), d->ids[i]))
			return 1;
	return 0;
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return strcmp(x->id, y->id);
}

int ann_search(struct ann *a, const struct state *st, const float *q, size_t k, size_t ef,
	       int forced, vecindex_filter_fn filter, void *ctx, const uint64_t *cand,
	       size_t ncand, struct ann_hit *hits, size_t *n)
{
	const struct vecindex *vi = state_vectors(st);
	size_t count = vecindex_count(vi);
	uint32_t dim = vecindex_dim(vi);
	*n = 0;
	pthread_mutex_lock(&a->mu);
	if (!forced && (a->phase == PH_OFF || count < a->o.threshold)) {
		pthread_mutex_unlock(&a->mu);
		return -EAGAIN;
	}
	activate(a);
	int ready = a->phase == PH_RUN && !a->resync && !a->reconciling && !a->broken && a->g &&
		    a->gdim == dim && map_count(a->dirty) <= ANN_MAX_PENDING;
	/* A filter the metadata index narrowed to a few rows: the exact scan
	 * reads only those, which beats walking the graph past the others. */
	double qnorm = norm_d(q, dim);
	if (!ready || !k || (cand && ncand <= count / 8) || qnorm == 0) {
		a->fallbacks += !ready;
		pthread_mutex_unlock(&a->mu);
		return -EAGAIN;
	}
	struct scan s = { .a = a, .vi = vi, .q = q, .qnorm = qnorm, .filter = filter, .ctx = ctx,
			  .cand = cand };
	struct hnsw_hit *gh = malloc(k * sizeof(*gh));
	/* First what the graph may not know yet, then the graph: an id leaves
	 * the dirty set only after graph and index have it. */
	map_each(a->dirty, score_dirty, &s);
	pthread_rwlock_rdlock(&a->glock);
	pthread_rwlock_rdlock(&a->dlock);
	struct hnsw *g = a->g;
	if (!ef)
		ef = a->o.ef;
	pthread_mutex_unlock(&a->mu);

	/* A filter that rejects most nodes would walk most of the graph: stop
	 * at a quarter of the rows' worth of distances and scan instead. */
	size_t budget = 0, ng = 0;
	if (filter || cand)
		budget = count / 4 > 64 * ef ? count / 4 : 64 * ef;
	int truncated = 0;
	int rc = gh ? s.err : -ENOMEM;
	if (!rc)
		rc = hnsw_search(g, q, k, ef, graph_keep, &s, budget, gh, &ng, &truncated);
	for (size_t i = 0; !rc && i < ng; i++) {
		const struct dup *d = map_get(a->byhash, gh[i].key);
		for (size_t j = 0; d && j < d->n; j++)
			offer(&s, d->ids[j]);
		rc = s.err;
	}
	pthread_rwlock_unlock(&a->dlock);
	pthread_rwlock_unlock(&a->glock);
	free(gh);
	if (rc) {
		free(s.out);
		return rc == -EINVAL ? -EAGAIN : rc;
	}
	qsort(s.out, s.n, sizeof(*s.out), cmp_cand);
	size_t m = 0;
	for (size_t i = 0; i < s.n; i++)
		if (!m || strcmp(s.out[i].id, s.out[m - 1].id))
			s.out[m++] = s.out[i];
	/* Fewer than k while more may exist: not the graph's to decide. */
	int short_ = m < k && (filter || cand || truncated || m < count);
	if (!short_) {
		*n = m < k ? m : k;
		for (size_t i = 0; i < *n; i++)
			hits[i] = (struct ann_hit){ s.out[i].id, s.out[i].score };
	}
	free(s.out);
	pthread_mutex_lock(&a->mu);
	if (short_)
		a->fallbacks++;
	else
		a->searches++;
	pthread_mutex_unlock(&a->mu);
	return short_ ? -EAGAIN : 0;
}

/* ------------------------------------------------------------ status */

cJSON *ann_status(struct ann *a)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	pthread_mutex_lock(&a->mu);
	size_t pending = map_count(a->dirty);
	const char *state = a->phase == PH_OFF ? "off" : a->broken ? "error" :
			    a->phase == PH_LOAD ? "loading" :
			    a->resync || a->reconciling || pending > ANN_MAX_PENDING ? "building" :
			    "ready";
	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddNumberToObject(o, "nodes", (double)a->ids);
	cJSON_AddNumberToObject(o, "distinct", (double)a->distinct);
	cJSON_AddNumberToObject(o, "deleted", (double)a->tombstones);
	cJSON_AddNumberToObject(o, "pending", (double)pending);
	cJSON_AddNumberToObject(o, "threshold", (double)a->o.threshold);
	cJSON_AddNumberToObject(o, "m", a->o.m);
	cJSON_AddNumberToObject(o, "ef_construction", a->o.ef_construction);
	cJSON_AddNumberToObject(o, "ef", a->o.ef);
	if (a->o.path)
		cJSON_AddStringToObject(o, "file", a->o.path);
	else
		cJSON_AddNullToObject(o, "file");
	cJSON_AddStringToObject(o, "file_note", a->note);
	if (a->saved_ns)
		cJSON_AddNumberToObject(o, "saved_s_ago", round((now_ns() - a->saved_ns) / 1e8) / 10);
	else
		cJSON_AddNullToObject(o, "saved_s_ago");
	cJSON_AddNumberToObject(o, "rebuilds", (double)a->rebuilds);
	cJSON_AddNumberToObject(o, "searches", (double)a->searches);
	cJSON_AddNumberToObject(o, "exact_fallbacks", (double)a->fallbacks);
	pthread_mutex_unlock(&a->mu);
	return o;
}
