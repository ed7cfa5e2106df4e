/* store/vecbatch.c - see vecbatch.h
 *
 * The combiner is one mutex, a FIFO of waiting requests and a "running"
 * flag (process-wide, like the pool it feeds). A caller queues its request;
 * while it is not done: if nothing runs, it becomes the leader, takes the
 * oldest request and every other queued one on the same index, runs them
 * unlocked and marks them done; otherwise it sleeps until a run ends.
 */
#include "vecbatch.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define VB_HAVE_AVX2 1
#else
#define VB_HAVE_AVX2 0
#endif

#include "vecindex_int.h"
#include "vecpool.h"
#include "vecquant.h"
#include "vecscan.h"

#define VB_MAX_THREADS 64
/* Scores per block (rows x queries): a quarter MiB, in L2 with the heaps. */
#define VB_BLOCK_SCORES (64u << 10)
#define VB_BLOCK_MIN 256
#define VB_BLOCK_MAX 8192
/* Below this many queries sgemm loses to reading each row once for all of
 * them with a fused kernel (OpenBLAS packs the whole row block and its
 * narrow-N kernels are slow: at 100k x 384 on 1 thread, 2 queries cost
 * 10.7 ms each by sgemm, 2.3 ms fused, 4.2 ms alone). The fused kernel is
 * compute-bound at about 1 ms a query there, so from ~24 queries sgemm's
 * 65 GFLOP/s wins (README "Benchmarks" has the batch rows). */
#define VB_SGEMM_MIN 24

struct bquery {
	struct search s;
	pthread_mutex_t flock;
	size_t k;
	size_t heap_off;	/* this query's heap in a participant's heaps */
};

struct batch {
	const struct vecindex *vi;
	size_t nq;		/* live queries */
	struct bquery *q;
	float *qt;		/* nq x dim unit queries, row-major */
	size_t n, block;	/* rows per cursor step */
	size_t tile;		/* rows per kernel call (the scores buffer) */
	int avx2;		/* the small-batch kernel may use AVX2 */
	atomic_size_t next;
	float **scores;		/* per participant: block x nq */
	struct part **parts;	/* per participant: nq heaps */
};

/* out (n x nq) = rows (n x dim) . qt^T, the small-batch way: each row is
 * read once and scored against the queries four at a time while it sits in
 * L1. Any dot order is fine: the screening margin bounds float error. */
static void dots_multi_scalar(const float *m, size_t n, uint32_t dim, const float *qt,
			      size_t nq, float *out)
{
	vi_dots_fn dots = vi_pick_dots();
	for (size_t r = 0; r < n; r++, m += dim, out += nq)
		for (size_t j = 0; j < nq; j++)
			dots(m, 1, dim, qt + j * dim, &out[j]);
}

#if VB_HAVE_AVX2
__attribute__((target("avx2,fma")))
static float hsum(__m256 a)
{
	__m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	h = _mm_add_ps(h, _mm_movehl_ps(h, h));
	h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
	return _mm_cvtss_f32(h);
}

__attribute__((target("avx2,fma")))
static void dots_multi_avx2(const float *m, size_t n, uint32_t dim, const float *qt, size_t nq,
			    float *out)
{
	for (size_t r = 0; r < n; r++, m += dim, out += nq) {
		for (size_t j = 0; j < nq; j += 4) {
			/* A group of fewer than four repeats its first query. */
			size_t g = nq - j < 4 ? nq - j : 4;
			const float *q0 = qt + j * dim, *q1 = g > 1 ? q0 + dim : q0;
			const float *q2 = g > 2 ? q0 + 2 * dim : q0, *q3 = g > 3 ? q0 + 3 * dim : q0;
			__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
			__m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
			uint32_t i = 0;
			for (; i + 16 <= dim; i += 16) {
				__m256 x = _mm256_loadu_ps(m + i), y = _mm256_loadu_ps(m + i + 8);
				a0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(q0 + i), a0);
				b0 = _mm256_fmadd_ps(y, _mm256_loadu_ps(q0 + i + 8), b0);
				a1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(q1 + i), a1);
				b1 = _mm256_fmadd_ps(y, _mm256_loadu_ps(q1 + i + 8), b1);
				a2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(q2 + i), a2);
				b2 = _mm256_fmadd_ps(y, _mm256_loadu_ps(q2 + i + 8), b2);
				a3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(q3 + i), a3);
				b3 = _mm256_fmadd_ps(y, _mm256_loadu_ps(q3 + i + 8), b3);
			}
			for (; i + 8 <= dim; i += 8) {
				__m256 x = _mm256_loadu_ps(m + i);
				a0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(q0 + i), a0);
				a1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(q1 + i), a1);
				a2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(q2 + i), a2);
				a3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(q3 + i), a3);
			}
			float s[4] = { hsum(_mm256_add_ps(a0, b0)), hsum(_mm256_add_ps(a1, b1)),
				       hsum(_mm256_add_ps(a2, b2)), hsum(_mm256_add_ps(a3, b3)) };
			for (; i < dim; i++) {
				s[0] += m[i] * q0[i];
				s[1] += m[i] * q1[i];
				s[2] += m[i] * q2[i];
				s[3] += m[i] * q3[i];
			}
			for (size_t t = 0; t < g; t++)
				out[j + t] = s[t];
		}
	}
}
#endif

static void score_tile(struct batch *b, unsigned slot, size_t base, size_t m)
{
	const struct vecindex *vi = b->vi;
	size_t nq = b->nq;
	float *c = b->scores[slot];
	struct part *p = b->parts[slot];
	const float *x = vi->mat + base * vi->dim;
	if (nq >= VB_SGEMM_MIN)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nq,
			    (int)vi->dim, 1.0f, x, (int)vi->dim, b->qt, (int)vi->dim, 0.0f, c,
			    (int)nq);
#if VB_HAVE_AVX2
	else if (b->avx2)
		dots_multi_avx2(x, m, vi->dim, b->qt, nq, c);
#endif
	else
		dots_multi_scalar(x, m, vi->dim, b->qt, nq, c);
	for (size_t r = 0; r < m; r++, c += nq) {
		size_t row = base + r;
		double inv = vi->inv_norm[row];
		for (size_t j = 0; j < nq; j++) {
			/* NaN (extreme-norm rows) fails the test: scored exactly. */
			float approx = (float)(c[j] * inv);
			if (!(approx < p[j].thr) && vi_cand(b->q[j].s.cand, row))
				vi_offer(&b->q[j].s, &p[j], row, 0);
		}
	}
}

static void run_part(void *arg, unsigned slot)
{
	struct batch *b = arg;
	for (;;) {
		size_t lo = atomic_fetch_add_explicit(&b->next, b->block, memory_order_relaxed);
		if (lo >= b->n)
			return;
		size_t hi = b->n - lo < b->block ? b->n : lo + b->block;
		for (size_t t = lo; t < hi; t += b->tile)
			score_tile(b, slot, t, hi - t < b->tile ? hi - t : b->tile);
	}
}

/* OpenBLAS runs inside our pool's jobs: one thread of its own, always. */
static void blas_single(void)
{
	if (openblas_get_num_threads() != 1)
		openblas_set_num_threads(1);
}

static atomic_uint_fast64_t st_searches, st_batches, st_batched, st_max;

/* nq live queries (q[i].s set up, heaps of q[i].k). */
static int run_batch(const struct vecindex *vi, struct bquery *q, size_t nq, float *qt,
		     struct vec_hit **hits, size_t *nhits)
{
	unsigned nt = vi_threads_for(vi->n * vi->dim * sizeof(float));
	nt = nt > VB_MAX_THREADS ? VB_MAX_THREADS : nt;
	/* sgemm wants big blocks; the fused kernel L1-sized tiles in chunks
	 * streamed like the single scan's. */
	size_t tile = VB_BLOCK_SCORES / nq / 64 * 64, block;
	if (nq >= VB_SGEMM_MIN) {
		tile = tile < VB_BLOCK_MIN ? VB_BLOCK_MIN : tile > VB_BLOCK_MAX ? VB_BLOCK_MAX : tile;
		block = tile;
	} else {
		tile = VI_TILE;
		block = VI_CHUNK / ((size_t)vi->dim * sizeof(float)) / VI_TILE * VI_TILE;
		block = block ? block : VI_TILE;
	}
	size_t heap_total = 0;
	for (size_t j = 0; j < nq; j++) {
		q[j].heap_off = heap_total;
		heap_total += q[j].k;
	}
	float *scores[VB_MAX_THREADS] = { 0 };
	struct part *parts[VB_MAX_THREADS] = { 0 };
	struct vec_hit *heaps = malloc((size_t)nt * heap_total * sizeof(*heaps));
	int rc = heaps ? 0 : -ENOMEM;
	for (unsigned t = 0; t < nt && !rc; t++) {
		void *p;
		if (posix_memalign(&p, 64, tile * nq * sizeof(float)))
			rc = -ENOMEM;
		else
			scores[t] = p;
		parts[t] = malloc(nq * sizeof(**parts));
		if (!parts[t])
			rc = -ENOMEM;
		for (size_t j = 0; !rc && j < nq; j++)
			parts[t][j] = (struct part){ heaps + t * heap_total + q[j].heap_off, 0,
						     -INFINITY };
	}
	if (!rc) {
		for (size_t j = 0; nt > 1 && j < nq; j++)
			q[j].s.flock = &q[j].flock;
		struct batch b = { .vi = vi, .nq = nq, .q = q, .qt = qt, .n = vi->n,
				   .block = block, .tile = tile, .scores = scores, .parts = parts,
				   .avx2 = strcmp(vecscan_isa_name(), "scalar") != 0 };
		atomic_init(&b.next, 0);
		unsigned used = vecpool_run(nt, run_part, &b);
		for (size_t j = 0; j < nq; j++) {
			size_t len = 0;
			for (unsigned t = 0; t < used; t++)
				for (size_t h = 0; h < parts[t][j].len; h++)
					vi_heap_offer(vi, hits[j], &len, q[j].k, parts[t][j].heap[h]);
			vi_heap_sort(vi, hits[j], len);
			nhits[j] = len;
		}
	}
	for (unsigned t = 0; t < nt; t++) {
		free(scores[t]);
		free(parts[t]);
	}
	free(heaps);
	return rc;
}

/* With a compressed copy a batch below VB_SGEMM_MIN scans it, each query
 * as it would alone (unless it asks for so many rows that its own search
 * would scan the floats). From VB_SGEMM_MIN sgemm on the floats is faster:
 * at 100k x 384 a batch of 64 costs 0.85 ms a query by sgemm, 1.0 on the
 * int8 codes and 1.5 on fp16 (1 thread), while 8 coalesced readers get
 * 1,240 queries/s from the int8 codes and 800 from the fused float kernel. */
static int wants_compressed(const struct vecindex *vi, size_t nq, size_t k)
{
	return vi->vq && nq < VB_SGEMM_MIN && vecquant_cands(k) * 2 < vi->n;
}

/* The batch on the compressed copy: one pass over the codes for all. */
static int run_compressed(const struct vecindex *vi, struct bquery *q, size_t nq,
			  struct vec_hit **hits, size_t *nhits)
{
	struct search *ss[VECBATCH_MAX];
	int rc = 0;
	for (size_t done = 0; !rc && done < nq; done += VECBATCH_MAX) {
		size_t m = nq - done < VECBATCH_MAX ? nq - done : VECBATCH_MAX;
		for (size_t j = 0; j < m; j++)
			ss[j] = &q[done + j].s;
		rc = vecquant_search_many(ss, m, hits + done, nhits + done);
		for (size_t j = 0; !rc && j < m; j++)
			vi_heap_sort(vi, hits[done + j], nhits[done + j]);
	}
	return rc;
}

int vecbatch_run(const struct vecindex *vi, size_t nq, const struct vec_query *qs,
		 struct vec_hit **hits, size_t *nhits, int *rcs)
{
	uint32_t dim = vi->dim;
	struct bquery *q = calloc(nq ? nq : 1, sizeof(*q));
	struct vec_hit **lhits = calloc(nq ? nq : 1, sizeof(*lhits));
	size_t *lnhits = calloc(nq ? nq : 1, sizeof(*lnhits)), *idx = calloc(nq ? nq : 1,
									sizeof(*idx));
	float *qt = NULL;
	void *p;
	int rc = q && lhits && lnhits && idx ? 0 : -ENOMEM;
	blas_single();
	if (!rc && posix_memalign(&p, 64, (nq ? nq : 1) * (size_t)dim * sizeof(float)))
		rc = -ENOMEM;
	else if (!rc)
		qt = p;
	/* Live queries, those for the compressed copy first (pass 0). */
	size_t live = 0, ncomp = 0;
	for (int pass = 0; pass < 2 && !rc; pass++) {
		for (size_t i = 0; i < nq; i++) {
			const struct vec_query *vq = &qs[i];
			size_t k = vq->k < vi->n ? vq->k : vi->n;
			if (wants_compressed(vi, nq, k) != !pass)
				continue;
			nhits[i] = 0;
			rcs[i] = vi_search_init(&q[live].s, vi, vq, qt + live * dim);
			if (rcs[i] || !vq->k || !vi->n || (vq->cand && !vq->ncand))
				continue;
			q[live].k = k;
			q[live].s.k = k;
			pthread_mutex_init(&q[live].flock, NULL);
			lhits[live] = hits[i];
			idx[live++] = i;
		}
		if (!pass)
			ncomp = live;
	}
	if (!rc && ncomp)
		rc = run_compressed(vi, q, ncomp, lhits, lnhits);
	if (!rc && live > ncomp)
		rc = run_batch(vi, q + ncomp, live - ncomp, qt + ncomp * dim, lhits + ncomp,
			       lnhits + ncomp);
	for (size_t j = 0; j < live; j++) {
		pthread_mutex_destroy(&q[j].flock);
		if (!rc)
			nhits[idx[j]] = lnhits[j];
	}
	if (!rc && live > 1) {
		atomic_fetch_add(&st_batches, 1);
		atomic_fetch_add(&st_batched, live);
		uint_fast64_t m = atomic_load(&st_max);
		while (m < live && !atomic_compare_exchange_weak(&st_max, &m, live))
			;
	}
	free(q);
	free(lhits);
	free(lnhits);
	free(idx);
	free(qt);
	return rc;
}

/* ---- the combiner ---- */

struct breq {
	const struct vecindex *vi;
	const struct vec_query *q;
	struct vec_hit *hits;
	size_t *nhits;
	int rc, done;
	struct breq *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;	/* a run ended */
	struct breq *head, **tail;
	int running;
} cb = { .lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
	 .tail = &cb.head };

static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;
static atomic_int enabled = 1;

static void cfg_init(void)
{
	const char *e = getenv("RAGFS_VEC_BATCH");
	if (e && !strcmp(e, "0"))
		atomic_store(&enabled, 0);
}

void vecbatch_set_enabled(int on)
{
	pthread_once(&cfg_once, cfg_init);
	atomic_store(&enabled, !!on);
}

void vecbatch_get_stats(struct vecbatch_stats *st)
{
	st->searches = atomic_load(&st_searches);
	st->batches = atomic_load(&st_batches);
	st->batched = atomic_load(&st_batched);
	st->max_batch = atomic_load(&st_max);
}

/* Unlink the oldest request and up to VECBATCH_MAX - 1 more on its index. */
static size_t take(struct breq **out)
{
	size_t n = 0;
	const struct vecindex *vi = cb.head->vi;
	for (struct breq **pp = &cb.head; *pp && n < VECBATCH_MAX;) {
		if ((*pp)->vi != vi) {
			pp = &(*pp)->next;
			continue;
		}
		out[n++] = *pp;
		*pp = (*pp)->next;
		if (!*pp)
			cb.tail = pp;
	}
	return n;
}

static void run_requests(struct breq **r, size_t n)
{
	if (n == 1) {
		r[0]->rc = vecindex_search_q(r[0]->vi, r[0]->q, r[0]->hits, r[0]->nhits);
		return;
	}
	struct vec_query qs[VECBATCH_MAX];
	struct vec_hit *hits[VECBATCH_MAX];
	size_t nhits[VECBATCH_MAX];
	int rcs[VECBATCH_MAX];
	for (size_t i = 0; i < n; i++) {
		qs[i] = *r[i]->q;
		hits[i] = r[i]->hits;
	}
	int rc = vecbatch_run(r[0]->vi, n, qs, hits, nhits, rcs);
	for (size_t i = 0; i < n; i++) {
		r[i]->rc = rc ? rc : rcs[i];
		*r[i]->nhits = rc ? 0 : nhits[i];
	}
}

int vecbatch_search(const struct vecindex *vi, const struct vec_query *q, struct vec_hit *hits,
		    size_t *nhits)
{
	pthread_once(&cfg_once, cfg_init);
	atomic_fetch_add(&st_searches, 1);
	if (!atomic_load(&enabled) || vecindex_sparse_query(vi, q))
		return vecindex_search_q(vi, q, hits, nhits);
	struct breq me = { .vi = vi, .q = q, .hits = hits, .nhits = nhits };
	pthread_mutex_lock(&cb.lock);
	*cb.tail = &me;
	cb.tail = &me.next;
	while (!me.done) {
		if (cb.running) {
			pthread_cond_wait(&cb.cv, &cb.lock);
			continue;
		}
		struct breq *batch[VECBATCH_MAX];
		size_t n = take(batch);
		cb.running = 1;
		pthread_mutex_unlock(&cb.lock);
		run_requests(batch, n);
		pthread_mutex_lock(&cb.lock);
		for (size_t i = 0; i < n; i++)
			batch[i]->done = 1;
		cb.running = 0;
		pthread_cond_broadcast(&cb.cv);
	}
	pthread_mutex_unlock(&cb.lock);
	return me.rc;
}
