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
 * from the shared pool (vecpool.h). Each participant keeps its own top-k
 * heap; the heaps are merged at the end under the same total order, so
 * results do not depend on the split. The filter is still called only for
 * rows that would enter a top-k (now: that participant's), at most once per
 * row; with a split it may run on a pool thread, but never concurrently
 * with itself within one search (calls are serialised by a per-search mutex).
 *
 * A candidate bitmap (struct vec_query) masks rows out before screening; a
 * sparse one (<= 1/VI_SPARSE_DIV of the rows) is walked bit by bit, reading
 * only its rows. With a compressed copy (vecquant.c) the full scan runs on
 * it instead; either way rows reach a result only through vi_offer.
 */
#include "vecindex.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define VI_HAVE_AVX2 1
#else
#define VI_HAVE_AVX2 0
#endif

#include "bigmem.h"
#include "vecindex_int.h"
#include "vecpool.h"
#include "vecquant.h"
#include "vecscan.h"

#define VI_ALIGN 64
/* Default: matrices from this size up are split across threads. */
#define VI_PAR_BYTES (8u << 20)
#define VI_MAX_THREADS 64
/* Rows with a norm outside this range are always scored exactly: float
 * screening could underflow or overflow on them. */
#define VI_NORM_MIN 1e-30
#define VI_NORM_MAX 1e30

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
	vi->matmem.align = VI_ALIGN;
	*out = vi;
	return 0;
}

static void clear_rows(struct vecindex *vi);

void vecindex_free(struct vecindex *vi)
{
	if (!vi)
		return;
	clear_rows(vi);
	vecquant_free(vi->vq);
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
	/* The compressed copy first: growing it alone changes nothing. */
	if (vi->vq && vecquant_reserve(vi->vq, cap))
		return -ENOMEM;
	/* Large matrices grow in place (bigmem.h): never two copies. */
	if (bigmem_grow(&vi->matmem, cap * rowb))
		return -ENOMEM;
	vi->mat = vi->matmem.data;
	double *inv = realloc(vi->inv_norm, cap * sizeof(*inv));
	if (!inv)
		return -ENOMEM;
	vi->inv_norm = inv;
	char **ids = realloc(vi->ids, cap * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	vi->ids = ids;
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

/* A row's sum of squares in double, in four partial sums: one chain of
 * dependent adds cost the replay at mount 0.5 us a row. Only screening
 * (inv_norm, with its margin) and the compressed copy's bounds use it;
 * exact scores come from vecindex_cosine. NaN or Inf when a value is
 * (the squares of finite floats cannot overflow a double sum). */
static double row_sumsq(const float *v, uint32_t dim)
{
	double a[4] = { 0 };
	uint32_t i = 0;
	for (; i + 4 <= dim; i += 4)
		for (int j = 0; j < 4; j++)
			a[j] += (double)v[i + j] * v[i + j];
	for (; i < dim; i++)
		a[0] += (double)v[i] * v[i];
	return (a[0] + a[1]) + (a[2] + a[3]);
}

/* The row's inverse norm and compressed copy, from rr = row_sumsq of its
 * values (finite), which are in place. */
static void index_row(struct vecindex *vi, size_t row, double rr)
{
	const float *v = vi->mat + row * vi->dim;
	double nrm = sqrt(rr);
	if (nrm == 0)
		vi->inv_norm[row] = 0;
	else if (nrm < VI_NORM_MIN || nrm > VI_NORM_MAX)
		vi->inv_norm[row] = NAN;
	else
		vi->inv_norm[row] = 1.0 / nrm;
	if (vi->vq)
		vecquant_put(vi->vq, row, v, vi->inv_norm[row]);
}

/* rr: row_sumsq(v), finite. */
static void put_row(struct vecindex *vi, size_t row, const float *v, double rr)
{
	memcpy(vi->mat + row * vi->dim, v, (size_t)vi->dim * sizeof(float));
	index_row(vi, row, rr);
}

static void free_ids(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* Back to no rows, no memory (the compressed copy keeps its room). */
static void clear_rows(struct vecindex *vi)
{
	free_ids(vi->ids, vi->n);
	free(vi->inv_norm);
	bigmem_free(&vi->matmem);
	rowmap_free(&vi->rows);
	vi->ids = NULL;
	vi->inv_norm = NULL;
	vi->mat = NULL;
	vi->n = vi->cap = 0;
}

int vecindex_map_rows(struct vecindex *vi, int fd, uint64_t off, size_t n, char **ids)
{
	size_t rowb = (size_t)vi->dim * sizeof(float);
	int rc = vi->n || vi->cap || !n ? -EBUSY
		 : n > ROWMAP_MAX_ROWS || n > SIZE_MAX / rowb ? -ENOMEM
		 : bigmem_map_file(&vi->matmem, fd, off, n * rowb);
	if (rc) {
		free_ids(ids, n);
		return rc;
	}
	size_t cap = vi->matmem.size / rowb;
	char **grown = realloc(ids, cap * sizeof(*ids));
	if (grown)
		ids = grown;
	vi->inv_norm = grown ? malloc(cap * sizeof(double)) : NULL;
	if (!vi->inv_norm || (vi->vq && vecquant_reserve(vi->vq, cap))) {
		free(vi->inv_norm);
		vi->inv_norm = NULL;
		free_ids(ids, n);
		bigmem_free(&vi->matmem);
		return -ENOMEM;
	}
	vi->mat = vi->matmem.data;
	vi->ids = ids;
	vi->n = n; /* from here clear_rows frees what the index took */
	vi->cap = cap;
	for (size_t r = 0; r < n && !rc; r++) {
		double rr = row_sumsq(vi->mat + r * vi->dim, vi->dim);
		/* The writer only held finite rows and distinct ids. */
		rc = !isfinite(rr) ? -EBADMSG : rowmap_insert(&vi->rows, vi->ids, r);
		rc = rc == -EEXIST ? -EBADMSG : rc;
		if (!rc)
			index_row(vi, r, rr);
	}
	if (rc)
		clear_rows(vi);
	return rc;
}

int vecindex_set(struct vecindex *vi, const char *id, const float *v)
{
	double rr = row_sumsq(v, vi->dim);
	if (!isfinite(rr))
		return -EINVAL;
	long cur = rowmap_find(&vi->rows, vi->ids, id);
	if (cur >= 0) {
		put_row(vi, (size_t)cur, v, rr);
		return 0;
	}
	char *copy = strdup(id);
	int rc = !copy ? -ENOMEM : vi->n == vi->cap ? grow(vi) : 0;
	if (!rc) {
		vi->ids[vi->n] = copy;
		rc = rowmap_insert(&vi->rows, vi->ids, vi->n);
	}
	if (rc) {
		free(copy);
		return rc;
	}
	put_row(vi, vi->n, v, rr);
	vi->n++;
	return 0;
}

int vecindex_remove(struct vecindex *vi, const char *id)
{
	long cur = rowmap_find(&vi->rows, vi->ids, id);
	if (cur < 0)
		return -ENOENT;
	size_t row = (size_t)cur, last = vi->n - 1;
	rowmap_remove(&vi->rows, vi->ids, row);
	free(vi->ids[row]);
	if (row != last) {
		memcpy(vi->mat + row * vi->dim, vi->mat + last * vi->dim,
		       (size_t)vi->dim * sizeof(float));
		vi->inv_norm[row] = vi->inv_norm[last];
		if (vi->vq)
			vecquant_move(vi->vq, row, last);
		rowmap_relabel(&vi->rows, vi->ids, last, row);
		vi->ids[row] = vi->ids[last];
	}
	vi->n--;
	return 0;
}

int vecindex_rename(struct vecindex *vi, const char *from, const char *to)
{
	long cur = rowmap_find(&vi->rows, vi->ids, from);
	if (cur < 0)
		return -ENOENT;
	if (!strcmp(from, to))
		return 0;
	if (rowmap_find(&vi->rows, vi->ids, to) >= 0)
		return -EEXIST;
	size_t row = (size_t)cur;
	char *copy = strdup(to);
	if (!copy)
		return -ENOMEM;
	rowmap_remove(&vi->rows, vi->ids, row);
	free(vi->ids[row]);
	vi->ids[row] = copy;
	/* One entry out, one in: the load is what it was, so the table does
	 * not grow and the insert cannot fail. */
	rowmap_insert(&vi->rows, vi->ids, row);
	return 0;
}

long vecindex_find(const struct vecindex *vi, const char *id)
{
	long cur = rowmap_find(&vi->rows, vi->ids, id);
	return cur >= 0 ? cur : -ENOENT;
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
float vecindex_cosine(const float *r, const float *q, uint32_t dim, double qnorm)
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

vi_dots_fn vi_pick_dots(void)
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
	return vi_pick_dots() == dots_scalar ? "scalar" : "avx2";
}

void vecscan_set_threads(unsigned n)
{
	atomic_store(&cfg_threads, n);
}

void vecscan_set_par_bytes(size_t bytes)
{
	atomic_store(&cfg_par_bytes, bytes);
}

unsigned vecscan_threads(void)
{
	pthread_once(&cfg_once, cfg_init);
	unsigned t = atomic_load(&cfg_threads), cap = vecpool_size();
	if (!t)
		t = online_cpus;
	return t < cap ? t : cap;
}

unsigned vi_threads_for(size_t bytes)
{
	size_t par = atomic_load_explicit(&cfg_par_bytes, memory_order_relaxed);
	return bytes >= (par ? par : VI_PAR_BYTES) ? vecscan_threads() : 1;
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

void vi_heap_offer(const struct vecindex *vi, struct vec_hit *heap, size_t *len, size_t k,
		   struct vec_hit h)
{
	if (*len < k) {
		heap[*len] = h;
		sift_up(vi, heap, (*len)++);
	} else if (worse(vi, &heap[0], &h)) {
		heap[0] = h;
		sift_down(vi, heap, *len, 0);
	}
}

/* Pop the worst to the back until the heap is best first. */
void vi_heap_sort(const struct vecindex *vi, struct vec_hit *heap, size_t len)
{
	while (len > 1) {
		struct vec_hit t = heap[0];
		heap[0] = heap[--len];
		heap[len] = t;
		sift_down(vi, heap, len, 0);
	}
}

int vi_keep(struct search *s, size_t row)
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

void vi_offer(struct search *s, struct part *p, size_t row, int kept)
{
	const struct vecindex *vi = s->vi;
	const float *r = vi->mat + row * vi->dim;
	struct vec_hit h = { 0, (uint32_t)row };
	if (p->len < s->k) {
		/* Filter first: a rejected row then costs no exact scoring. */
		if (!kept && !vi_keep(s, row))
			return;
		h.score = vecindex_cosine(r, s->q, vi->dim, s->qnorm);
		p->heap[p->len] = h;
		sift_up(vi, p->heap, p->len++);
		if (p->len == s->k)
			p->thr = p->heap[0].score - s->margin;
		return;
	}
	h.score = vecindex_cosine(r, s->q, vi->dim, s->qnorm);
	/* The filter last: it may be the costliest step. */
	if (!worse(vi, &p->heap[0], &h) || (!kept && !vi_keep(s, row)))
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
			if (!(approx < p->thr) && vi_cand(s->cand, base + i))
				vi_offer(s, p, base + i, 0);
		}
	}
}

/* A sparse candidate bitmap: only its rows are read. */
static void scan_sparse(struct search *s, struct part *p)
{
	const struct vecindex *vi = s->vi;
	uint32_t dim = vi->dim;
	for (size_t w = 0; w * 64 < vi->n; w++) {
		for (uint64_t b = s->cand[w]; b; b &= b - 1) {
			size_t row = w * 64 + (size_t)__builtin_ctzll(b);
			float sc;
			s->dots(vi->mat + row * dim, 1, dim, s->unit, &sc);
			float approx = (float)(sc * vi->inv_norm[row]);
			if (!(approx < p->thr))
				vi_offer(s, p, row, 0);
		}
	}
}

/* One split search: chunks of rows handed out by an atomic cursor. */
struct job {
	struct search *s;
	size_t n, chunk;
	atomic_size_t next;
	struct part *parts;
};

static void run_job(void *arg, unsigned slot)
{
	struct job *j = arg;
	for (;;) {
		size_t lo = atomic_fetch_add_explicit(&j->next, j->chunk, memory_order_relaxed);
		if (lo >= j->n)
			return;
		scan_range(j->s, &j->parts[slot], lo, j->n - lo < j->chunk ? j->n : lo + j->chunk);
	}
}

/* Split the scan over nt threads (caller included); merge into hits. */
static int scan_split(struct search *s, unsigned nt, struct vec_hit *hits, size_t *len)
{
	const struct vecindex *vi = s->vi;
	size_t k = s->k;
	struct part parts[VI_MAX_THREADS];
	if (nt > VI_MAX_THREADS)
		nt = VI_MAX_THREADS;
	struct vec_hit *heaps = malloc((size_t)nt * k * sizeof(*heaps));
	if (!heaps)
		return -ENOMEM;
	for (unsigned i = 0; i < nt; i++)
		parts[i] = (struct part){ heaps + (size_t)i * k, 0, -INFINITY };
	pthread_mutex_t flock = PTHREAD_MUTEX_INITIALIZER;
	s->flock = &flock;
	size_t chunk = VI_CHUNK / ((size_t)vi->dim * sizeof(float));
	struct job j = { .s = s, .n = vi->n, .chunk = chunk ? chunk : 1, .parts = parts };
	atomic_init(&j.next, 0);
	unsigned used = vecpool_run(nt, run_job, &j);
	pthread_mutex_destroy(&flock);
	s->flock = NULL;

	for (unsigned i = 0; i < used; i++)
		for (size_t h = 0; h < parts[i].len; h++)
			vi_heap_offer(vi, hits, len, k, parts[i].heap[h]);
	free(heaps);
	return 0;
}

int vi_search_init(struct search *s, const struct vecindex *vi, const struct vec_query *vq,
		   float *unit)
{
	uint32_t dim = vi->dim;
	if (!all_finite(vq->q, dim))
		return -EINVAL;
	/* Screening error bound: a float dot's n*u on |r||q| (Cauchy-Schwarz),
	 * plus rounding of the unit query, doubled for safety. A zero query
	 * screens 0 everywhere with no margin: all rows go to exact (= 0). */
	*s = (struct search){ .vi = vi, .q = vq->q, .unit = unit, .qnorm = norm_d(vq->q, dim),
			      .margin = (float)((dim + 8.0) * 0x1p-23), .k = vq->k,
			      .dots = vi_pick_dots(), .filter = vq->filter, .ctx = vq->ctx,
			      .cand = vq->cand };
	for (uint32_t i = 0; i < dim; i++)
		unit[i] = s->qnorm == 0 ? 0 : (float)(vq->q[i] / s->qnorm);
	if (s->qnorm == 0)
		s->margin = 0;
	return 0;
}

int vecindex_sparse_query(const struct vecindex *vi, const struct vec_query *vq)
{
	return vq->cand && vq->ncand <= vi->n / VI_SPARSE_DIV;
}

int vecindex_search_q(const struct vecindex *vi, const struct vec_query *vq,
		      struct vec_hit *hits, size_t *nhits)
{
	uint32_t dim = vi->dim;
	*nhits = 0;
	if (!all_finite(vq->q, dim))
		return -EINVAL;
	size_t k = vq->k;
	if (!k || !vi->n || (vq->cand && !vq->ncand))
		return 0;
	if (k > vi->n)
		k = vi->n;
	float *unit = malloc((size_t)dim * sizeof(*unit));
	if (!unit)
		return -ENOMEM;
	struct search s;
	vi_search_init(&s, vi, vq, unit);
	s.k = k;
	size_t len = 0;
	int rc = 0;
	unsigned nt = vi_threads_for((size_t)dim * sizeof(float) * vi->n);
	if (vecindex_sparse_query(vi, vq)) {
		struct part p = { hits, 0, -INFINITY };
		scan_sparse(&s, &p);
		len = p.len;
	} else if (vi->vq && vecquant_cands(k) * 2 < vi->n) {
		rc = vecquant_search(&s, hits, &len);
	} else if (nt > 1) {
		rc = scan_split(&s, nt, hits, &len);
	} else {
		struct part p = { hits, 0, -INFINITY };
		scan_range(&s, &p, 0, vi->n);
		len = p.len;
	}
	free(unit);
	if (rc)
		return rc;
	*nhits = len;
	vi_heap_sort(vi, hits, len);
	return 0;
}

int vecindex_search(const struct vecindex *vi, const float *q, size_t k,
		    vecindex_filter_fn filter, void *ctx, struct vec_hit *hits,
		    size_t *nhits)
{
	struct vec_query vq = { .q = q, .k = k, .filter = filter, .ctx = ctx };
	return vecindex_search_q(vi, &vq, hits, nhits);
}

/* ---- the compressed copy ---- */

int vec_compress_parse(const char *name, enum vec_compress *out)
{
	static const char *const names[] = { "none", "int8", "fp16" };
	for (int i = 0; i < 3; i++)
		if (name && !strcmp(name, names[i])) {
			*out = (enum vec_compress)i;
			return 0;
		}
	return -EINVAL;
}

const char *vec_compress_name(enum vec_compress c)
{
	return c == VEC_COMPRESS_INT8 ? "int8" : c == VEC_COMPRESS_FP16 ? "fp16" : "none";
}

int vecindex_set_compress(struct vecindex *vi, enum vec_compress c)
{
	if (c == vecindex_compress(vi))
		return 0;
	struct vecquant *vq = NULL;
	if (c != VEC_COMPRESS_NONE) {
		int rc = vecquant_new(c, vi->dim, vi->cap, &vq);
		if (rc)
			return rc;
		vecquant_set_small_pages(vq, vi->matmem.small_pages);
		for (size_t r = 0; r < vi->n; r++)
			vecquant_put(vq, r, vi->mat + r * vi->dim, vi->inv_norm[r]);
	}
	vecquant_free(vi->vq);
	vi->vq = vq;
	return 0;
}

void vecindex_set_bulk(struct vecindex *vi, int on)
{
	bigmem_set_small_pages(&vi->matmem, on);
	if (vi->vq)
		vecquant_set_small_pages(vi->vq, on);
}

enum vec_compress vecindex_compress(const struct vecindex *vi)
{
	return vi->vq ? vecquant_kind(vi->vq) : VEC_COMPRESS_NONE;
}

size_t vecindex_bytes(const struct vecindex *vi)
{
	return vi->n * vi->dim * sizeof(float);
}

size_t vecindex_compressed_bytes(const struct vecindex *vi)
{
	return vi->vq ? vecquant_bytes(vi->vq, vi->n) : 0;
}
