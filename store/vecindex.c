/* store/vecindex.c - see vecindex.h
 *
 * Search is two-pass per row, fused: a float dot product of the row with the
 * unit query (AVX2+FMA when the CPU has it, chosen at run time; a portable
 * scalar loop otherwise) times the row's inverse norm screens every row as
 * the matrix streams past, and only rows whose screening score could reach
 * the current k-th best are scored again with a scalar double loop. The
 * reported score is always the double one, so equal vectors get bit-equal
 * scores wherever they sit in the matrix and whichever kernel or thread
 * screened them ("ties by id" depends on that).
 *
 * Rows are read strictly in order, one row at a time (the access pattern
 * that reaches memory bandwidth; sgemv's 4-rows-at-once reaches half), in
 * tiles of VI_TILE rows whose screening scores stay in L1.
 *
 * Large matrices are split into chunks scanned by the caller plus helpers
 * from one persistent pthread pool (online CPUs - 1 threads, made on first
 * use). Each participant keeps its own top-k heap; the heaps are merged at
 * the end under the same total order, so results do not depend on the split.
 * The filter is still called only for rows that would enter a top-k (now:
 * that participant's), at most once per row; with a split it may run on a
 * pool thread, but never concurrently with itself within one search (calls
 * are serialised by a per-search mutex).
 */
#include "vecindex.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define VI_HAVE_AVX2 1
#else
#define VI_HAVE_AVX2 0
#endif

#include "map.h"
#include "vecscan.h"

#define VI_ALIGN 64
/* Matrices this big get 2 MiB alignment and MADV_HUGEPAGE: fewer TLB
 * misses make the scan about 1.3x faster on the VMs we run on. */
#define VI_HUGE (4u << 20)
#define VI_HUGE_ALIGN (2u << 20)
/* Rows screened per kernel call; their scores stay in L1. */
#define VI_TILE 32
/* Bytes of matrix per chunk handed to a thread. */
#define VI_CHUNK (2u << 20)
/* Default: matrices from this size up are split across threads. */
#define VI_PAR_BYTES (8u << 20)
#define VI_MAX_THREADS 64
/* Rows with a norm outside this range are always scored exactly: float
 * screening could underflow or overflow on them. */
#define VI_NORM_MIN 1e-30
#define VI_NORM_MAX 1e30

struct vecindex {
	uint32_t dim;
	size_t n, cap;
	float *mat;		/* cap * dim floats, VI_ALIGN aligned */
	double *inv_norm;	/* 0 for the zero vector, NaN for "always exact" */
	char **ids;		/* owned copies, one per row */
	struct map *rows;	/* id -> (void *)(row + 1) */
};

static void *row_val(size_t row)
{
	return (void *)(uintptr_t)(row + 1);
}

int vecindex_new(uint32_t dim, struct vecindex **out)
{
	*out = NULL;
	/* int-sized dims, as when search went through BLAS. */
	if (dim < 1 || dim > INT_MAX)
		return -EINVAL;
	struct vecindex *vi = calloc(1, sizeof(*vi));
	if (!vi)
		return -ENOMEM;
	vi->dim = dim;
	vi->rows = map_new();
	if (!vi->rows) {
		free(vi);
		return -ENOMEM;
	}
	*out = vi;
	return 0;
}

void vecindex_free(struct vecindex *vi)
{
	if (!vi)
		return;
	for (size_t i = 0; i < vi->n; i++)
		free(vi->ids[i]);
	free(vi->ids);
	free(vi->inv_norm);
	free(vi->mat);
	map_free(vi->rows, NULL);
	free(vi);
}

uint32_t vecindex_dim(const struct vecindex *vi)
{
	return vi->dim;
}

size_t vecindex_count(const struct vecindex *vi)
{
	return vi->n;
}

static int grow(struct vecindex *vi)
{
	size_t cap = vi->cap ? vi->cap * 2 : 16;
	size_t rowb = (size_t)vi->dim * sizeof(float);
	if (cap > SIZE_MAX / rowb || cap > SIZE_MAX / sizeof(double))
		return -ENOMEM;
	void *mat;
	size_t bytes = cap * rowb;
	int huge = bytes >= VI_HUGE;
	if (posix_memalign(&mat, huge ? VI_HUGE_ALIGN : VI_ALIGN, bytes))
		return -ENOMEM;
	/* Best effort: without THP the scan is just slower. */
	if (huge)
		madvise(mat, bytes & ~(size_t)(VI_HUGE_ALIGN - 1), MADV_HUGEPAGE);
	double *inv = realloc(vi->inv_norm, cap * sizeof(*inv));
	if (!inv) {
		free(mat);
		return -ENOMEM;
	}
	vi->inv_norm = inv;
	char **ids = realloc(vi->ids, cap * sizeof(*ids));
	if (!ids) {
		free(mat);
		return -ENOMEM;
	}
	vi->ids = ids;
	if (vi->n)
		memcpy(mat, vi->mat, vi->n * rowb);
	free(vi->mat);
	vi->mat = mat;
	vi->cap = cap;
	return 0;
}

static int all_finite(const float *v, uint32_t dim)
{
	for (uint32_t i = 0; i < dim; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

static double norm_d(const float *v, uint32_t dim)
{
	double s = 0;
	for (uint32_t i = 0; i < dim; i++)
		s += (double)v[i] * v[i];
	return sqrt(s);
}

static void put_row(struct vecindex *vi, size_t row, const float *v)
{
	memcpy(vi->mat + row * vi->dim, v, (size_t)vi->dim * sizeof(float));
	double nrm = norm_d(v, vi->dim);
	if (nrm == 0)
		vi->inv_norm[row] = 0;
	else if (nrm < VI_NORM_MIN || nrm > VI_NORM_MAX)
		vi->inv_norm[row] = NAN;
	else
		vi->inv_norm[row] = 1.0 / nrm;
}

int vecindex_set(struct vecindex *vi, const char *id, const float *v)
{
	if (!all_finite(v, vi->dim))
		return -EINVAL;
	void *cur = map_get(vi->rows, id);
	if (cur) {
		put_row(vi, (uintptr_t)cur - 1, v);
		return 0;
	}
	if (vi->n == vi->cap) {
		int rc = grow(vi);
		if (rc)
			return rc;
	}
	char *copy = strdup(id);
	if (!copy)
		return -ENOMEM;
	int rc = map_put(vi->rows, id, row_val(vi->n), NULL);
	if (rc) {
		free(copy);
		return rc;
	}
	vi->ids[vi->n] = copy;
	put_row(vi, vi->n, v);
	vi->n++;
	return 0;
}

int vecindex_remove(struct vecindex *vi, const char *id)
{
	void *cur = map_del(vi->rows, id);
	if (!cur)
		return -ENOENT;
	size_t row = (uintptr_t)cur - 1, last = vi->n - 1;
	free(vi->ids[row]);
	if (row != last) {
		memcpy(vi->mat + row * vi->dim, vi->mat + last * vi->dim,
		       (size_t)vi->dim * sizeof(float));
		vi->inv_norm[row] = vi->inv_norm[last];
		vi->ids[row] = vi->ids[last];
		/* Replacing an existing key does not allocate. */
		map_put(vi->rows, vi->ids[row], row_val(row), NULL);
	}
	vi->n--;
	return 0;
}

int vecindex_rename(struct vecindex *vi, const char *from, const char *to)
{
	void *cur = map_get(vi->rows, from);
	if (!cur)
		return -ENOENT;
	if (!strcmp(from, to))
		return 0;
	if (map_get(vi->rows, to))
		return -EEXIST;
	size_t row = (uintptr_t)cur - 1;
	char *copy = strdup(to);
	if (!copy)
		return -ENOMEM;
	int rc = map_put(vi->rows, to, cur, NULL);
	if (rc) {
		free(copy);
		return rc;
	}
	map_del(vi->rows, from);
	free(vi->ids[row]);
	vi->ids[row] = copy;
	return 0;
}

long vecindex_find(const struct vecindex *vi, const char *id)
{
	void *cur = map_get(vi->rows, id);
	return cur ? (long)((uintptr_t)cur - 1) : -ENOENT;
}

const char *vecindex_id(const struct vecindex *vi, size_t row)
{
	return row < vi->n ? vi->ids[row] : NULL;
}

const float *vecindex_row(const struct vecindex *vi, size_t row)
{
	return row < vi->n ? vi->mat + row * vi->dim : NULL;
}

/* The reference score. Plain scalar double loops: no reassociation (do not
 * build with -ffast-math), so the result depends only on the two vectors.
 * Never called from a target("fma") function, so no contraction either. */
static float exact_cos(const float *r, const float *q, uint32_t dim, double qnorm)
{
	if (qnorm == 0)
		return 0;
	double dot = 0, rr = 0;
	for (uint32_t i = 0; i < dim; i++) {
		dot += (double)r[i] * q[i];
		rr += (double)r[i] * r[i];
	}
	if (rr == 0)
		return 0;
	return (float)(dot / (sqrt(rr) * qnorm));
}

/* ---- screening kernels: out[i] = dot(row i, u) for n rows ---- */

typedef void (*dots_fn)(const float *m, size_t n, uint32_t dim, const float *u,
			float *out);

/* Eight partial sums so the compiler may vectorise without -ffast-math. */
static void dots_scalar(const float *m, size_t n, uint32_t dim, const float *u,
			float *out)
{
	for (size_t r = 0; r < n; r++, m += dim) {
		float a[8] = { 0 }, t = 0;
		uint32_t i = 0;
		for (; i + 8 <= dim; i += 8)
			for (int j = 0; j < 8; j++)
				a[j] += m[i + j] * u[i + j];
		for (; i < dim; i++)
			t += m[i] * u[i];
		out[r] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + t;
	}
}

#if VI_HAVE_AVX2
/* One row at a time, four accumulators: sequential addresses keep the
 * hardware prefetcher streaming at full bandwidth. */
__attribute__((target("avx2,fma")))
static void dots_avx2(const float *m, size_t n, uint32_t dim, const float *u,
		      float *out)
{
	for (size_t r = 0; r < n; r++, m += dim) {
		__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
		__m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
		uint32_t i = 0;
		for (; i + 32 <= dim; i += 32) {
			a0 = _mm256_fmadd_ps(_mm256_loadu_ps(m + i), _mm256_loadu_ps(u + i), a0);
			a1 = _mm256_fmadd_ps(_mm256_loadu_ps(m + i + 8),
					     _mm256_loadu_ps(u + i + 8), a1);
			a2 = _mm256_fmadd_ps(_mm256_loadu_ps(m + i + 16),
					     _mm256_loadu_ps(u + i + 16), a2);
			a3 = _mm256_fmadd_ps(_mm256_loadu_ps(m + i + 24),
					     _mm256_loadu_ps(u + i + 24), a3);
		}
		for (; i + 8 <= dim; i += 8)
			a0 = _mm256_fmadd_ps(_mm256_loadu_ps(m + i), _mm256_loadu_ps(u + i), a0);
		a0 = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
		__m128 h = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
		h = _mm_add_ps(h, _mm_movehl_ps(h, h));
		h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
		float s = _mm_cvtss_f32(h);
		for (; i < dim; i++)
			s += m[i] * u[i];
		out[r] = s;
	}
}
#endif

/* ---- settings (vecscan.h) ---- */

static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;
static int cpu_avx2;			/* the CPU runs dots_avx2 */
static atomic_int cfg_isa;		/* enum vecscan_isa */
static atomic_uint cfg_threads;		/* 0: online CPUs */
static atomic_size_t cfg_par_bytes;	/* 0: VI_PAR_BYTES */
static unsigned online_cpus = 1;

static void cfg_init(void)
{
#if VI_HAVE_AVX2
	__builtin_cpu_init();
	cpu_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
	const char *e = getenv("RAGFS_VEC_SCALAR");
	if (e && *e && strcmp(e, "0"))
		atomic_store(&cfg_isa, VECSCAN_SCALAR);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	online_cpus = n < 1 ? 1 : n > VI_MAX_THREADS ? VI_MAX_THREADS : (unsigned)n;
}

int vecscan_set_isa(enum vecscan_isa isa)
{
	pthread_once(&cfg_once, cfg_init);
	if (isa != VECSCAN_AUTO && isa != VECSCAN_SCALAR && isa != VECSCAN_AVX2)
		return -EINVAL;
	if (isa == VECSCAN_AVX2 && !cpu_avx2)
		return -ENOTSUP;
	atomic_store(&cfg_isa, isa);
	return 0;
}

static dots_fn pick_dots(void)
{
	pthread_once(&cfg_once, cfg_init);
#if VI_HAVE_AVX2
	if (cpu_avx2 && atomic_load_explicit(&cfg_isa, memory_order_relaxed) != VECSCAN_SCALAR)
		return dots_avx2;
#endif
	return dots_scalar;
}

const char *vecscan_isa_name(void)
{
	return pick_dots() == dots_scalar ? "scalar" : "avx2";
}

void vecscan_set_threads(unsigned n)
{
	atomic_store(&cfg_threads, n);
}

void vecscan_set_par_bytes(size_t bytes)
{
	atomic_store(&cfg_par_bytes, bytes);
}

/* ---- the thread pool ---- */

struct search {
	const struct vecindex *vi;
	const float *q, *unit;
	double qnorm;
	float margin;
	size_t k;
	dots_fn dots;
	vecindex_filter_fn filter;
	void *ctx;
	pthread_mutex_t *flock;	/* serialises filter calls when split */
};

/* One participant's top k: a min-heap, the worst kept hit on top. */
struct part {
	struct vec_hit *heap;
	size_t len;
	float thr;		/* rows screening below this cannot enter */
};

/* One split search: chunks of rows handed out by an atomic cursor. */
struct job {
	struct search *s;
	size_t n, chunk;
	atomic_size_t next;
	unsigned want;		/* helpers still wanted; under pool.lock */
	unsigned active;	/* helpers inside; under pool.lock */
	unsigned nparts;	/* parts handed out (0 is the caller's) */
	struct part *parts;
	pthread_cond_t done;	/* active reached 0 */
	struct job *next_job;
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

static void run_job(struct job *j, struct part *p);

static void *pool_worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (!pool.head && !pool.stop)
			pthread_cond_wait(&pool.work, &pool.lock);
		struct job *j = pool.head;
		if (!j)
			break;
		struct part *p = &j->parts[j->nparts++];
		j->active++;
		if (--j->want == 0)
			pool.head = j->next_job;
		pthread_mutex_unlock(&pool.lock);
		run_job(j, p);
		pthread_mutex_lock(&pool.lock);
		if (--j->active == 0)
			pthread_cond_signal(&j->done);
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

static void pool_init(void)
{
	pthread_once(&cfg_once, cfg_init);
	unsigned want = online_cpus - 1;
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
 * this is simply scanned by its caller alone. */
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

unsigned vecscan_threads(void)
{
	pthread_once(&pool_once, pool_init);
	unsigned t = atomic_load(&cfg_threads);
	pthread_mutex_lock(&pool.lock);
	unsigned cap = pool.n + 1;
	pthread_mutex_unlock(&pool.lock);
	if (!t)
		t = online_cpus;
	return t < cap ? t : cap;
}

/* ---- search ---- */

/* a ranks below b: lower score, or equal score and greater id. */
static int worse(const struct vecindex *vi, const struct vec_hit *a, const struct vec_hit *b)
{
	if (a->score != b->score)
		return a->score < b->score;
	return strcmp(vi->ids[a->row], vi->ids[b->row]) > 0;
}

static void sift_down(const struct vecindex *vi, struct vec_hit *h, size_t len, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < len && worse(vi, &h[l], &h[m]))
			m = l;
		if (l + 1 < len && worse(vi, &h[l + 1], &h[m]))
			m = l + 1;
		if (m == i)
			return;
		struct vec_hit t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void sift_up(const struct vecindex *vi, struct vec_hit *h, size_t i)
{
	while (i) {
		size_t p = (i - 1) / 2;
		if (!worse(vi, &h[i], &h[p]))
			return;
		struct vec_hit t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

/* Push h into a bounded heap of k (the merge step). */
static void heap_offer(const struct vecindex *vi, struct vec_hit *heap, size_t *len,
		       size_t k, struct vec_hit h)
{
	if (*len < k) {
		heap[*len] = h;
		sift_up(vi, heap, (*len)++);
	} else if (worse(vi, &heap[0], &h)) {
		heap[0] = h;
		sift_down(vi, heap, *len, 0);
	}
}

static int keep(struct search *s, size_t row)
{
	if (!s->filter)
		return 1;
	if (!s->flock)
		return s->filter(s->ctx, row, s->vi->ids[row]);
	pthread_mutex_lock(s->flock);
	int r = s->filter(s->ctx, row, s->vi->ids[row]);
	pthread_mutex_unlock(s->flock);
	return r;
}

/* A row that screened at or above p->thr (or could not be screened). */
static void offer(struct search *s, struct part *p, size_t row)
{
	const struct vecindex *vi = s->vi;
	const float *r = vi->mat + row * vi->dim;
	struct vec_hit h = { 0, (uint32_t)row };
	if (p->len < s->k) {
		/* Filter first: a rejected row then costs no exact scoring. */
		if (!keep(s, row))
			return;
		h.score = exact_cos(r, s->q, vi->dim, s->qnorm);
		p->heap[p->len] = h;
		sift_up(vi, p->heap, p->len++);
		if (p->len == s->k)
			p->thr = p->heap[0].score - s->margin;
		return;
	}
	h.score = exact_cos(r, s->q, vi->dim, s->qnorm);
	/* The filter last: it may be the costliest step. */
	if (!worse(vi, &p->heap[0], &h) || !keep(s, row))
		return;
	p->heap[0] = h;
	sift_down(vi, p->heap, p->len, 0);
	p->thr = p->heap[0].score - s->margin;
}

static void scan_range(struct search *s, struct part *p, size_t lo, size_t hi)
{
	const struct vecindex *vi = s->vi;
	uint32_t dim = vi->dim;
	float sc[VI_TILE];
	for (size_t base = lo; base < hi; base += VI_TILE) {
		size_t m = hi - base < VI_TILE ? hi - base : VI_TILE;
		s->dots(vi->mat + base * dim, m, dim, s->unit, sc);
		for (size_t i = 0; i < m; i++) {
			/* NaN (extreme-norm rows) fails the test: scored exactly. */
			float approx = (float)(sc[i] * vi->inv_norm[base + i]);
			if (!(approx < p->thr))
				offer(s, p, base + i);
		}
	}
}

static void run_job(struct job *j, struct part *p)
{
	for (;;) {
		size_t lo = atomic_fetch_add_explicit(&j->next, j->chunk, memory_order_relaxed);
		if (lo >= j->n)
			return;
		scan_range(j->s, p, lo, j->n - lo < j->chunk ? j->n : lo + j->chunk);
	}
}

/* Split the scan over nt threads (caller included); merge into hits. */
static int scan_split(struct search *s, unsigned nt, struct vec_hit *hits, size_t *len)
{
	const struct vecindex *vi = s->vi;
	size_t k = s->k;
	struct part parts[VI_MAX_THREADS];
	struct vec_hit *heaps = malloc((size_t)nt * k * sizeof(*heaps));
	if (!heaps)
		return -ENOMEM;
	for (unsigned i = 0; i < nt; i++)
		parts[i] = (struct part){ heaps + (size_t)i * k, 0, -INFINITY };
	pthread_mutex_t flock = PTHREAD_MUTEX_INITIALIZER;
	s->flock = &flock;
	size_t chunk = VI_CHUNK / ((size_t)vi->dim * sizeof(float));
	struct job j = { .s = s, .n = vi->n, .chunk = chunk ? chunk : 1, .want = nt - 1,
			 .nparts = 1, .parts = parts };
	atomic_init(&j.next, 0);
	pthread_cond_init(&j.done, NULL);
	pthread_mutex_lock(&pool.lock);
	struct job **pp = &pool.head;
	while (*pp)
		pp = &(*pp)->next_job;
	*pp = &j;
	if (nt > 2)
		pthread_cond_broadcast(&pool.work);
	else
		pthread_cond_signal(&pool.work);
	pthread_mutex_unlock(&pool.lock);

	run_job(&j, &parts[0]);

	/* Unqueue if helpers never came, then wait for those that did. */
	pthread_mutex_lock(&pool.lock);
	for (pp = &pool.head; *pp; pp = &(*pp)->next_job) {
		if (*pp == &j) {
			*pp = j.next_job;
			break;
		}
	}
	while (j.active)
		pthread_cond_wait(&j.done, &pool.lock);
	pthread_mutex_unlock(&pool.lock);
	pthread_cond_destroy(&j.done);
	pthread_mutex_destroy(&flock);
	s->flock = NULL;

	for (unsigned i = 0; i < j.nparts; i++)
		for (size_t h = 0; h < parts[i].len; h++)
			heap_offer(vi, hits, len, k, parts[i].heap[h]);
	free(heaps);
	return 0;
}

int vecindex_search(const struct vecindex *vi, const float *q, size_t k,
		    vecindex_filter_fn filter, void *ctx, struct vec_hit *hits,
		    size_t *nhits)
{
	uint32_t dim = vi->dim;
	*nhits = 0;
	if (!all_finite(q, dim))
		return -EINVAL;
	if (!k || !vi->n)
		return 0;
	if (k > vi->n)
		k = vi->n;
	float *unit = malloc((size_t)dim * sizeof(*unit));
	if (!unit)
		return -ENOMEM;
	/* Screening error bound: a float dot's n*u on |r||q| (Cauchy-Schwarz),
	 * plus rounding of the unit query, doubled for safety. A zero query
	 * screens 0 everywhere with no margin: all rows go to exact (= 0). */
	struct search s = { .vi = vi, .q = q, .unit = unit, .qnorm = norm_d(q, dim),
			    .margin = (float)((dim + 8.0) * 0x1p-23), .k = k,
			    .dots = pick_dots(), .filter = filter, .ctx = ctx };
	for (uint32_t i = 0; i < dim; i++)
		unit[i] = s.qnorm == 0 ? 0 : (float)(q[i] / s.qnorm);
	if (s.qnorm == 0)
		s.margin = 0;
	size_t len = 0;
	int rc = 0;
	size_t par = atomic_load_explicit(&cfg_par_bytes, memory_order_relaxed);
	unsigned nt = 1;
	if ((size_t)dim * sizeof(float) * vi->n >= (par ? par : VI_PAR_BYTES))
		nt = vecscan_threads();
	if (nt > 1) {
		rc = scan_split(&s, nt, hits, &len);
	} else {
		struct part p = { hits, 0, -INFINITY };
		scan_range(&s, &p, 0, vi->n);
		len = p.len;
	}
	free(unit);
	if (rc)
		return rc;
	/* Heap sort: pop the worst to the back, leaving best first. */
	*nhits = len;
	while (len > 1) {
		struct vec_hit t = hits[0];
		hits[0] = hits[--len];
		hits[len] = t;
		sift_down(vi, hits, len, 0);
	}
	return 0;
}
