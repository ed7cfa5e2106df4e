/* store/hnsw.c - see hnsw.h. The slot layout is in hnsw_int.h; the file
 * (save, load and its checks) in hnsw_file.c.
 *
 * Insertion follows hnswlib's addPoint: draw a level (-ln(U)/ln(m)), descend
 * greedily from the entry point, at each level from the node's down to 0
 * search with ef_construction candidates (tombstones route but are never
 * candidates), choose up to m neighbours with the heuristic (a candidate is
 * dropped when it is nearer to a chosen neighbour than to the new node), link
 * both ways, and prune a neighbour whose list overflows with the same
 * heuristic. Here the searches and the pruning are computed without the lock
 * (the mutator is the only writer) into a list of new link lists, which is
 * then published under the write lock in one go.
 *
 * Batches (hnsw_add with threads > 1) run the searches of up to BATCH nodes
 * in parallel against the graph as it was before the batch, then link the
 * nodes one by one; each node also considers the nodes of its batch linked
 * before it, so nodes of one batch still find each other.
 *
 * Searches take the read lock and a visited-tag array from a pool; the
 * filter and tombstones exclude results, not routes (hnswlib's rule: the
 * search only stops early once ef results are held).
 */
#include "hnsw.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HN_HAVE_AVX2 1
#else
#define HN_HAVE_AVX2 0
#endif

#include "hnsw_int.h"
#include "map.h"

#define BATCH 64
/* Batches run in parallel only on a graph this big: on a small one the
 * nodes of a batch would mostly see each other only through the merge. */
#define PAR_MIN_NODES 2048

/* ------------------------------------------------------------ the dot */

typedef float (*dot_fn)(const float *a, const float *b, uint32_t dim);

static float dot_scalar(const float *a, const float *b, uint32_t dim)
{
	float s[8] = { 0 }, t = 0;
	uint32_t i = 0;
	for (; i + 8 <= dim; i += 8)
		for (int j = 0; j < 8; j++)
			s[j] += a[i + j] * b[i + j];
	for (; i < dim; i++)
		t += a[i] * b[i];
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + t;
}

#if HN_HAVE_AVX2
__attribute__((target("avx2,fma")))
static float dot_avx2(const float *a, const float *b, uint32_t dim)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	__m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
	uint32_t i = 0;
	for (; i + 32 <= dim; i += 32) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
	}
	for (; i + 8 <= dim; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
	s0 = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
	__m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
	h = _mm_add_ps(h, _mm_movehl_ps(h, h));
	h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
	float t = _mm_cvtss_f32(h);
	for (; i < dim; i++)
		t += a[i] * b[i];
	return t;
}
#endif

static dot_fn dotf = dot_scalar;
static pthread_once_t dot_once = PTHREAD_ONCE_INIT;

static void dot_init(void)
{
#if HN_HAVE_AVX2
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
		const char *e = getenv("RAGFS_VEC_SCALAR");
		if (!e || !*e || !strcmp(e, "0"))
			dotf = dot_avx2;
	}
#endif
}

const char *hnsw_isa(void)
{
	pthread_once(&dot_once, dot_init);
	return dotf == dot_scalar ? "scalar" : "avx2";
}

/* ------------------------------------------------------------ slots */

static inline float dist_q(const struct hnsw *h, const float *q, uint32_t s)
{
	return 1.0f - dotf(q, vec_of(h, s), h->dim);
}

static inline float dist_ss(const struct hnsw *h, uint32_t a, uint32_t b)
{
	return 1.0f - dotf(vec_of(h, a), vec_of(h, b), h->dim);
}

static int in_map(const struct hnsw *h, const void *p)
{
	return h->map && (const char *)p >= h->map && (const char *)p < h->map + h->maplen;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static int draw_level(struct hnsw *h)
{
	double u = ((double)(rng_next(&h->rng) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
	double l = -log(u) * h->ml;
	return l >= MAX_LEVEL ? MAX_LEVEL : (int)l;
}

int hnsw_new(const struct hnsw_params *p, struct hnsw **out)
{
	*out = NULL;
	uint32_t m = p->m ? p->m : HNSW_DEFAULT_M;
	if (!p->dim || p->dim > (1u << 20) || m < 2 || m > HNSW_MAX_M)
		return -EINVAL;
	pthread_once(&dot_once, dot_init);
	struct hnsw *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->dim = p->dim;
	h->m = m;
	h->m0 = 2 * m;
	h->efc = p->ef_construction ? p->ef_construction : HNSW_DEFAULT_EF_CONSTRUCTION;
	if (h->efc < h->m)
		h->efc = h->m;
	h->ml = 1.0 / log((double)m);
	h->rng = p->seed ? p->seed : 0x9E3779B97F4A7C15ULL;
	h->entry = NONE;
	h->maxlevel = -1;
	h->keys = map_new();
	pthread_rwlockattr_t a;
	pthread_rwlockattr_init(&a);
	/* Publishing takes microseconds; do not let a stream of searches starve it. */
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&h->lock, &a);
	pthread_rwlockattr_destroy(&a);
	pthread_mutex_init(&h->vlock, NULL);
	if (!h->keys) {
		hnsw_free(h);
		return -ENOMEM;
	}
	*out = h;
	return 0;
}

static void free_slot(struct hnsw *h, uint32_t s)
{
	struct hblock *b = blk_of(h, s);
	uint32_t i = s & HB_MASK;
	if (!in_map(h, b->up[i]))
		free(b->up[i]);
	if (!in_map(h, b->key[i]))
		free((void *)b->key[i]);
	b->up[i] = NULL;
	b->key[i] = NULL;
}

void hnsw_free(struct hnsw *h)
{
	if (!h)
		return;
	for (size_t s = 0; s < h->nres; s++)
		free_slot(h, (uint32_t)s);
	for (size_t i = 0; i < h->nblk; i++) {
		if (h->blk[i]->owned) {
			free(h->blk[i]->vec);
			free(h->blk[i]->l0);
		}
		free(h->blk[i]);
	}
	free(h->blk);
	map_free(h->keys, NULL);
	while (h->vpool) {
		struct vlist *v = h->vpool;
		h->vpool = v->next;
		free(v->tag);
		free(v);
	}
	if (h->map)
		munmap(h->map, h->maplen);
	pthread_rwlock_destroy(&h->lock);
	pthread_mutex_destroy(&h->vlock);
	free(h);
}

void hnsw_get_params(const struct hnsw *h, struct hnsw_params *p)
{
	p->dim = h->dim;
	p->m = h->m;
	p->ef_construction = h->efc;
	p->seed = 0;
}

size_t hnsw_count(struct hnsw *h)
{
	pthread_rwlock_rdlock(&h->lock);
	size_t n = map_count(h->keys);
	pthread_rwlock_unlock(&h->lock);
	return n;
}

size_t hnsw_deleted(struct hnsw *h)
{
	pthread_rwlock_rdlock(&h->lock);
	size_t n = h->ndeleted;
	pthread_rwlock_unlock(&h->lock);
	return n;
}

size_t hnsw_slots(struct hnsw *h)
{
	pthread_rwlock_rdlock(&h->lock);
	size_t n = h->n;
	pthread_rwlock_unlock(&h->lock);
	return n;
}

long hnsw_find(struct hnsw *h, const char *key)
{
	pthread_rwlock_rdlock(&h->lock);
	uintptr_t v = (uintptr_t)map_get(h->keys, key);
	pthread_rwlock_unlock(&h->lock);
	return v ? (long)(v - 1) : -ENOENT;
}

int hnsw_slot(struct hnsw *h, uint32_t slot, const char **key, const float **vec,
	      uint64_t *tag, int *deleted)
{
	pthread_rwlock_rdlock(&h->lock);
	int rc = slot < h->n ? 0 : -ENOENT;
	if (!rc) {
		struct hblock *b = blk_of(h, slot);
		uint32_t i = slot & HB_MASK;
		if (key)
			*key = b->key[i];
		if (vec)
			*vec = vec_of(h, slot);
		if (tag)
			*tag = b->tag[i];
		if (deleted)
			*deleted = b->flags[i] & F_DELETED;
	}
	pthread_rwlock_unlock(&h->lock);
	return rc;
}

int hnsw_remove(struct hnsw *h, const char *key)
{
	pthread_rwlock_wrlock(&h->lock);
	uintptr_t v = (uintptr_t)map_del(h->keys, key);
	if (v) {
		uint32_t s = (uint32_t)(v - 1);
		blk_of(h, s)->flags[s & HB_MASK] |= F_DELETED;
		h->ndeleted++;
	}
	pthread_rwlock_unlock(&h->lock);
	return v ? 0 : -ENOENT;
}

/* Room for want slots. New blocks are made outside the lock; only the
 * block table changes under it. */
static int reserve(struct hnsw *h, size_t want)
{
	if (want > (size_t)NONE)
		return -ENOMEM;
	while (h->nblk * HB < want) {
		struct hblock *b = calloc(1, sizeof(*b));
		void *vec = NULL;
		if (!b || posix_memalign(&vec, 64, (size_t)HB * h->dim * sizeof(float))) {
			free(b);
			return -ENOMEM;
		}
		b->vec = vec;
		b->l0 = calloc((size_t)HB * (1 + h->m0), sizeof(uint32_t));
		b->owned = 1;
		if (!b->l0) {
			free(b->vec);
			free(b);
			return -ENOMEM;
		}
		pthread_rwlock_wrlock(&h->lock);
		int rc = 0;
		if (h->nblk == h->capblk) {
			size_t cap = h->capblk ? h->capblk * 2 : 16;
			struct hblock **nb = realloc(h->blk, cap * sizeof(*nb));
			if (nb) {
				h->blk = nb;
				h->capblk = cap;
			} else {
				rc = -ENOMEM;
			}
		}
		if (!rc)
			h->blk[h->nblk++] = b;
		pthread_rwlock_unlock(&h->lock);
		if (rc) {
			free(b->vec);
			free(b->l0);
			free(b);
			return rc;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ heaps */

struct cand {
	float d;
	uint32_t id;
};

struct heap {
	struct cand *a;
	size_t n, cap;
};

static int heap_grow(struct heap *hp)
{
	size_t cap = hp->cap ? hp->cap * 2 : 256;
	struct cand *a = realloc(hp->a, cap * sizeof(*a));
	if (!a)
		return -ENOMEM;
	hp->a = a;
	hp->cap = cap;
	return 0;
}

/* sign = 1: max-heap on d (the worst result on top); -1: min-heap. */
static int heap_push(struct heap *hp, struct cand c, int sign)
{
	if (hp->n == hp->cap && heap_grow(hp))
		return -ENOMEM;
	size_t i = hp->n++;
	while (i) {
		size_t p = (i - 1) / 2;
		if (!(sign * (c.d - hp->a[p].d) > 0))
			break;
		hp->a[i] = hp->a[p];
		i = p;
	}
	hp->a[i] = c;
	return 0;
}

static struct cand heap_pop(struct heap *hp, int sign)
{
	struct cand top = hp->a[0], last = hp->a[--hp->n];
	size_t i = 0, n = hp->n;
	for (;;) {
		size_t l = 2 * i + 1, b = i;
		struct cand *bc = &last;
		if (l < n && sign * (hp->a[l].d - bc->d) > 0) {
			b = l;
			bc = &hp->a[l];
		}
		if (l + 1 < n && sign * (hp->a[l + 1].d - bc->d) > 0)
			b = l + 1;
		if (b == i)
			break;
		hp->a[i] = hp->a[b];
		i = b;
	}
	if (n)
		hp->a[i] = last;
	return top;
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* ------------------------------------------------------------ visited */

static struct vlist *vl_get(struct hnsw *h, size_t n)
{
	pthread_mutex_lock(&h->vlock);
	struct vlist *v = h->vpool;
	if (v)
		h->vpool = v->next;
	pthread_mutex_unlock(&h->vlock);
	if (!v && !(v = calloc(1, sizeof(*v))))
		return NULL;
	if (v->cap < n) {
		size_t cap = n + n / 4 + HB;
		free(v->tag);
		v->tag = calloc(cap, sizeof(*v->tag));
		v->cap = v->tag ? cap : 0;
		v->cur = 0;
		if (!v->tag) {
			free(v);
			return NULL;
		}
	}
	return v;
}

/* A fresh epoch: every slot unvisited again. */
static void vl_next(struct vlist *v)
{
	if (++v->cur == 0) {
		memset(v->tag, 0, v->cap * sizeof(*v->tag));
		v->cur = 1;
	}
}

static void vl_put(struct hnsw *h, struct vlist *v)
{
	pthread_mutex_lock(&h->vlock);
	v->next = h->vpool;
	h->vpool = v;
	pthread_mutex_unlock(&h->vlock);
}

/* ------------------------------------------------------------ search */

struct layer_search {
	const float *q;
	size_t ef;
	int strict;		/* stop only once ef results are held */
	hnsw_filter_fn filter;
	void *ctx;
	size_t budget, ndist;
	int truncated;
	struct vlist *vl;
	struct heap cand, res;
};

static int accept(const struct hnsw *h, struct layer_search *s, uint32_t id)
{
	const struct hblock *b = blk_of(h, id);
	if (b->flags[id & HB_MASK] & F_DELETED)
		return 0;
	return !s->filter || s->filter(s->ctx, id, b->key[id & HB_MASK]);
}

/* hnswlib's searchBaseLayer: best-first from ep, keeping the ef nearest
 * accepted slots in s->res. */
static int search_layer(const struct hnsw *h, struct layer_search *s, uint32_t ep, float epd,
			int level)
{
	float lower = INFINITY;
	vl_next(s->vl);
	uint16_t cur = s->vl->cur, *seen = s->vl->tag;
	s->cand.n = s->res.n = 0;
	seen[ep] = cur;
	if (accept(h, s, ep)) {
		if (heap_push(&s->res, (struct cand){ epd, ep }, 1))
			return -ENOMEM;
		lower = epd;
	}
	if (heap_push(&s->cand, (struct cand){ epd, ep }, -1))
		return -ENOMEM;
	while (s->cand.n) {
		struct cand c = s->cand.a[0];
		if (c.d > lower && (s->res.n >= s->ef || !s->strict))
			break;
		heap_pop(&s->cand, -1);
		const uint32_t *l = links_of(h, c.id, level);
		uint32_t cnt = l[0], todo[2 * HNSW_MAX_M], nt = 0;
		/* Collect the unvisited first and prefetch all their rows: the
		 * misses then overlap instead of queueing one by one. */
		for (uint32_t j = 1; j <= cnt; j++) {
			uint32_t nb = l[j];
			if (seen[nb] == cur)
				continue;
			seen[nb] = cur;
			todo[nt++] = nb;
			const char *v = (const char *)vec_of(h, nb);
			__builtin_prefetch(v);
			__builtin_prefetch(v + 64);
		}
		for (uint32_t j = 0; j < nt; j++) {
			uint32_t nb = todo[j];
			if (s->budget && s->ndist >= s->budget) {
				s->truncated = 1;
				return 0;
			}
			float d = dist_q(h, s->q, nb);
			s->ndist++;
			if (s->res.n < s->ef || lower > d) {
				if (heap_push(&s->cand, (struct cand){ d, nb }, -1))
					return -ENOMEM;
				if (accept(h, s, nb)) {
					if (heap_push(&s->res, (struct cand){ d, nb }, 1))
						return -ENOMEM;
					if (s->res.n > s->ef)
						heap_pop(&s->res, 1);
				}
				if (s->res.n)
					lower = s->res.a[0].d;
			}
		}
	}
	return 0;
}

/* Greedy descent (ef 1) from level `from` down to `to` + 1. */
static uint32_t descend(const struct hnsw *h, const float *q, uint32_t cur, float *curd,
			int from, int to)
{
	for (int l = from; l > to; l--) {
		for (int changed = 1; changed;) {
			changed = 0;
			const uint32_t *lk = links_of(h, cur, l);
			for (uint32_t j = 1; j <= lk[0]; j++) {
				float d = dist_q(h, q, lk[j]);
				if (d < *curd) {
					*curd = d;
					cur = lk[j];
					changed = 1;
				}
			}
		}
	}
	return cur;
}

static void ls_free(struct hnsw *h, struct layer_search *s)
{
	if (s->vl)
		vl_put(h, s->vl);
	free(s->cand.a);
	free(s->res.a);
}

static int normalise(const float *v, uint32_t dim, float *out)
{
	double ss = 0;
	for (uint32_t i = 0; i < dim; i++) {
		if (!isfinite(v[i]))
			return -EINVAL;
		ss += (double)v[i] * v[i];
	}
	double inv = ss > 0 ? 1.0 / sqrt(ss) : 0;
	for (uint32_t i = 0; i < dim; i++)
		out[i] = (float)(v[i] * inv);
	return ss > 0 ? 0 : 1;
}

int hnsw_search(struct hnsw *h, const float *q, size_t k, size_t ef, hnsw_filter_fn filter,
		void *ctx, size_t budget, struct hnsw_hit *hits, size_t *nhits, int *truncated)
{
	*nhits = 0;
	if (truncated)
		*truncated = 0;
	float *u = malloc((size_t)h->dim * sizeof(*u));
	if (!u)
		return -ENOMEM;
	int rc = normalise(q, h->dim, u);
	if (rc) {
		free(u);
		return -EINVAL; /* NaN, or a zero vector: no direction to search */
	}
	struct layer_search s = { .q = u, .ef = ef > k ? ef : k, .filter = filter, .ctx = ctx,
				  .budget = budget };
	pthread_rwlock_rdlock(&h->lock);
	if (!k || h->entry == NONE)
		goto out;
	s.strict = filter || h->ndeleted;
	if (!(s.vl = vl_get(h, h->n))) {
		rc = -ENOMEM;
		goto out;
	}
	float d = dist_q(h, u, h->entry);
	uint32_t ep = descend(h, u, h->entry, &d, h->maxlevel, 0);
	rc = search_layer(h, &s, ep, d, 0);
	if (rc)
		goto out;
	qsort(s.res.a, s.res.n, sizeof(*s.res.a), cmp_cand);
	for (size_t i = 0; i < s.res.n && i < k; i++) {
		uint32_t id = s.res.a[i].id;
		hits[i] = (struct hnsw_hit){ blk_of(h, id)->key[id & HB_MASK], id, s.res.a[i].d };
		(*nhits)++;
	}
	if (truncated)
		*truncated = s.truncated;
out:
	pthread_rwlock_unlock(&h->lock);
	ls_free(h, &s);
	free(u);
	return rc;
}

/* ------------------------------------------------------------ insert */

/* Keep at most max of c[0..n) in place, nearest first: a candidate stays
 * unless it is nearer to one already kept than to the base (hnswlib's
 * getNeighborsByHeuristic2). */
static size_t heuristic(const struct hnsw *h, struct cand *c, size_t n, size_t max)
{
	qsort(c, n, sizeof(*c), cmp_cand);
	if (n < max)
		return n;
	size_t kept = 0;
	for (size_t i = 0; i < n && kept < max; i++) {
		int good = 1;
		for (size_t j = 0; j < kept && good; j++)
			if (dist_ss(h, c[i].id, c[j].id) < c[i].d)
				good = 0;
		if (good)
			c[kept++] = c[i];
	}
	return kept;
}

/* One node on its way in. */
struct item {
	uint32_t slot;
	int level;
	int top;		/* highest level searched (-1: the graph was empty) */
	struct cand *c[MAX_LEVEL + 1];	/* candidates per level (owned) */
	size_t nc[MAX_LEVEL + 1];
	int err;
};

/* A link list to publish. */
struct update {
	uint32_t slot;
	int level;
	uint32_t n;
	uint32_t links[];	/* n of them; the struct is sized for m0 */
};

struct pub {
	char *buf;		/* updates, each upd_size bytes */
	size_t n, cap, upd_size;
};

static struct update *pub_at(struct pub *p, size_t i)
{
	return (struct update *)(p->buf + i * p->upd_size);
}

static struct update *pub_new(struct pub *p)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		char *b = realloc(p->buf, cap * p->upd_size);
		if (!b)
			return NULL;
		p->buf = b;
		p->cap = cap;
	}
	return pub_at(p, p->n++);
}

/* The searches for one item against the graph as published (no lock: the
 * mutator is the only writer, and it is not writing now). */
static void item_search(struct hnsw *h, struct item *it, size_t n, uint32_t entry, int maxlevel)
{
	it->top = -1;
	if (entry == NONE)
		return;
	const float *v = vec_of(h, it->slot);
	struct layer_search s = { .q = v, .ef = h->efc, .strict = 1 };
	if (!(s.vl = vl_get(h, n))) {
		it->err = -ENOMEM;
		return;
	}
	float d = dist_q(h, v, entry);
	uint32_t cur = descend(h, v, entry, &d, maxlevel, it->level);
	it->top = it->level < maxlevel ? it->level : maxlevel;
	for (int l = it->top; l >= 0 && !it->err; l--) {
		if (search_layer(h, &s, cur, d, l)) {
			it->err = -ENOMEM;
			break;
		}
		it->c[l] = malloc((s.res.n + 1) * sizeof(struct cand));
		if (!it->c[l]) {
			it->err = -ENOMEM;
			break;
		}
		memcpy(it->c[l], s.res.a, s.res.n * sizeof(struct cand));
		it->nc[l] = s.res.n;
		/* The next level starts from the nearest found. */
		for (size_t i = 0; i < s.res.n; i++)
			if (s.res.a[i].d < d) {
				d = s.res.a[i].d;
				cur = s.res.a[i].id;
			}
	}
	ls_free(h, &s);
}

/* Compute the links item it adds at every level, given the batch items
 * before it (already published), into p. */
static int item_link(struct hnsw *h, struct item *it, struct item *mates, size_t nmates,
		     struct pub *p, struct cand *scratch)
{
	int top = it->level;
	for (int l = top; l >= 0; l--) {
		size_t n = 0;
		if (l <= it->top)
			for (size_t i = 0; i < it->nc[l]; i++)
				scratch[n++] = it->c[l][i];
		for (size_t i = 0; i < nmates; i++)
			if (mates[i].level >= l)
				scratch[n++] = (struct cand){ dist_ss(h, it->slot, mates[i].slot),
							      mates[i].slot };
		if (!n)
			continue;
		size_t sel = heuristic(h, scratch, n, h->m);
		struct update *u = pub_new(p);
		if (!u)
			return -ENOMEM;
		u->slot = it->slot;
		u->level = l;
		u->n = (uint32_t)sel;
		for (size_t i = 0; i < sel; i++)
			u->links[i] = scratch[i].id;
		uint32_t mmax = l ? h->m : h->m0;
		for (size_t i = 0; i < sel; i++) {
			/* scratch[0..sel) still holds the chosen neighbours. */
			uint32_t nb = scratch[i].id;
			const uint32_t *cur = links_of(h, nb, l);
			struct update *w = pub_new(p);
			if (!w)
				return -ENOMEM;
			w->slot = nb;
			w->level = l;
			if (cur[0] < mmax) {
				memcpy(w->links, cur + 1, cur[0] * sizeof(uint32_t));
				w->links[cur[0]] = it->slot;
				w->n = cur[0] + 1;
				continue;
			}
			struct cand *c = scratch + n; /* past the candidates still in use */
			c[0] = (struct cand){ dist_ss(h, nb, it->slot), it->slot };
			for (uint32_t j = 0; j < cur[0]; j++)
				c[j + 1] = (struct cand){ dist_ss(h, nb, cur[j + 1]), cur[j + 1] };
			size_t keep = heuristic(h, c, cur[0] + 1, mmax);
			w->n = (uint32_t)keep;
			for (size_t j = 0; j < keep; j++)
				w->links[j] = c[j].id;
		}
	}
	return 0;
}

/* Publish item it: its links, its neighbours' new lists, the entry point. */
static int item_publish(struct hnsw *h, struct item *it, const char *key, struct pub *p)
{
	pthread_rwlock_wrlock(&h->lock);
	int rc = map_put(h->keys, key, (void *)(uintptr_t)(it->slot + 1), NULL);
	if (!rc) {
		for (size_t i = 0; i < p->n; i++) {
			struct update *u = pub_at(p, i);
			uint32_t *l = links_of(h, u->slot, u->level);
			memcpy(l + 1, u->links, u->n * sizeof(uint32_t));
			l[0] = u->n;
		}
		if (it->level > h->maxlevel) {
			h->maxlevel = it->level;
			h->entry = it->slot;
		}
		h->n = it->slot + 1;
	}
	pthread_rwlock_unlock(&h->lock);
	return rc;
}

struct par {
	struct hnsw *h;
	struct item *items;
	size_t n, pubn;
	uint32_t entry;
	int maxlevel;
	atomic_size_t next;
};

static void *par_worker(void *arg)
{
	struct par *p = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->n)
			return NULL;
		item_search(p->h, &p->items[i], p->pubn, p->entry, p->maxlevel);
	}
}

/* Search (in parallel when threads > 1), then link and publish in order. */
static int add_batch(struct hnsw *h, struct item *items, size_t n, const char *const *keys,
		     unsigned threads, struct pub *p, struct cand *scratch)
{
	struct par par = { .h = h, .items = items, .n = n, .pubn = h->n, .entry = h->entry,
			   .maxlevel = h->maxlevel };
	atomic_init(&par.next, 0);
	pthread_t tid[16];
	unsigned nt = 0;
	for (unsigned t = 1; t < threads && t < 16 && n > 1; t++)
		if (!pthread_create(&tid[nt], NULL, par_worker, &par))
			nt++;
	par_worker(&par);
	for (unsigned t = 0; t < nt; t++)
		pthread_join(tid[t], NULL);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = items[i].err;
		p->n = 0;
		if (!rc)
			rc = item_link(h, &items[i], items, i, p, scratch);
		if (!rc)
			rc = item_publish(h, &items[i], keys[i], p);
	}
	return rc;
}

int hnsw_add(struct hnsw *h, size_t n, const char *const *keys, const float *vecs,
	     const uint64_t *tags, unsigned threads)
{
	if (!n)
		return 0;
	struct map *seen = map_new();
	int rc = seen ? 0 : -ENOMEM;
	for (size_t i = 0; i < n && !rc; i++) {
		if (map_get(h->keys, keys[i]) || map_get(seen, keys[i]))
			rc = -EEXIST;
		else
			rc = map_put(seen, keys[i], seen, NULL);
		for (uint32_t j = 0; j < h->dim && !rc; j++)
			if (!isfinite(vecs[i * h->dim + j]))
				rc = -EINVAL;
	}
	map_free(seen, NULL);
	if (rc)
		return rc;
	size_t base = h->n;
	rc = reserve(h, base + n);
	if (rc)
		return rc;
	/* Fill the reserved slots: not reachable until published. */
	for (size_t i = 0; i < n && !rc; i++) {
		uint32_t s = (uint32_t)(base + i);
		struct hblock *b = blk_of(h, s);
		uint32_t bi = s & HB_MASK;
		normalise(vecs + i * h->dim, h->dim, b->vec + (size_t)bi * h->dim);
		b->level[bi] = (uint8_t)draw_level(h);
		b->flags[bi] = 0;
		b->tag[bi] = tags ? tags[i] : 0;
		b->l0[(size_t)bi * (1 + h->m0)] = 0;
		b->key[bi] = strdup(keys[i]);
		b->up[bi] = b->level[bi] ? calloc((size_t)b->level[bi] * (1 + h->m),
						  sizeof(uint32_t)) : NULL;
		h->nres = s + 1;
		if (!b->key[bi] || (b->level[bi] && !b->up[bi]))
			rc = -ENOMEM;
	}
	struct item *items = calloc(BATCH, sizeof(*items));
	struct pub p = { .upd_size = sizeof(struct update) + (size_t)h->m0 * sizeof(uint32_t) };
	size_t scap = (size_t)h->efc + BATCH + 2 * (h->m0 + 1);
	struct cand *scratch = malloc(scap * sizeof(*scratch));
	if (!items || !scratch)
		rc = -ENOMEM;
	for (size_t i = 0; i < n && !rc;) {
		/* One at a time until the graph is big enough for parallel batches. */
		size_t bn = threads > 1 && h->n >= PAR_MIN_NODES ? BATCH : 1;
		if (bn > n - i)
			bn = n - i;
		for (size_t j = 0; j < bn; j++) {
			uint32_t s = (uint32_t)(base + i + j);
			items[j] = (struct item){ .slot = s, .level = blk_of(h, s)->level[s & HB_MASK] };
		}
		rc = add_batch(h, items, bn, keys + i, bn > 1 ? threads : 1, &p, scratch);
		for (size_t j = 0; j < bn; j++)
			for (int l = 0; l <= MAX_LEVEL; l++)
				free(items[j].c[l]);
		i += bn;
	}
	free(items);
	free(p.buf);
	free(scratch);
	if (rc) {
		/* Drop what was reserved and not published. */
		for (size_t s = h->n; s < h->nres; s++)
			free_slot(h, (uint32_t)s);
		h->nres = h->n;
	}
	return rc;
}
