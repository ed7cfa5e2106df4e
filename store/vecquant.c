/* store/vecquant.c - see vecquant.h
 *
 * Layout: codes are one block of cap * stride codes (stride = dim rounded
 * up to 32), so a row starts 32-byte aligned (int8) or 64-byte aligned
 * (fp16) and the padding codes are 0 (they add nothing to a dot). mul and
 * del are float arrays of cap.
 *
 * The scan splits into chunks of whole 64-row words (so the per-search
 * filter bitmaps are written by one thread per word) over vecpool. Each
 * participant keeps, per query, an approximate heap of C candidates, the
 * bound U of the rows it did not keep, and an exact heap for forced rows
 * (phase 1) or re-offered rows (phase 2). A batch of queries shares the
 * pass: each block of codes is scanned by every query while it is in L2,
 * so memory is read once per batch; phase 2 re-reads only for the queries
 * that need it.
 */
#include "vecquant.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define VQ_HAVE_X86 1
#else
#define VQ_HAVE_X86 0
#endif

#include "bigmem.h"
#include "vecpool.h"
#include "vecscan.h"

#define VQ_ALIGN 64
#define VQ_PAD 32
/* Rows whose relative error bound exceeds this are always scored exactly. */
#define VQ_DEL_FORCE 0.25f
#define VQ_CAND_MULT 8
#define VQ_CAND_MIN 64
#define VQ_MAX_THREADS 64
/* Rows a batch's queries scan in turn while they sit in L2 (whole tiles). */
#define VQ_BLOCK_ROWS (8 * VI_TILE)

struct vecquant {
	enum vec_compress kind;
	uint32_t dim, stride;	/* codes per row: dim rounded up to VQ_PAD */
	size_t cap;
	void *codes;		/* int8_t or uint16_t (half) codes: mem.data */
	struct bigmem mem;
	float *mul;		/* int8: scale * inv_norm; fp16: inv_norm */
	float *del;		/* bound on the relative encoding error; > VQ_DEL_FORCE
				 * (or NaN): forced */
};

static size_t code_size(const struct vecquant *vq)
{
	return vq->kind == VEC_COMPRESS_INT8 ? 1 : 2;
}

int vecquant_new(enum vec_compress c, uint32_t dim, size_t cap, struct vecquant **out)
{
	*out = NULL;
	if (c != VEC_COMPRESS_INT8 && c != VEC_COMPRESS_FP16)
		return -EINVAL;
	struct vecquant *vq = calloc(1, sizeof(*vq));
	if (!vq)
		return -ENOMEM;
	vq->kind = c;
	vq->dim = dim;
	vq->stride = (dim + VQ_PAD - 1) / VQ_PAD * VQ_PAD;
	vq->mem.align = VQ_ALIGN;
	if (vecquant_reserve(vq, cap ? cap : 16)) {
		vecquant_free(vq);
		return -ENOMEM;
	}
	*out = vq;
	return 0;
}

void vecquant_free(struct vecquant *vq)
{
	if (!vq)
		return;
	bigmem_free(&vq->mem);
	free(vq->mul);
	free(vq->del);
	free(vq);
}

enum vec_compress vecquant_kind(const struct vecquant *vq)
{
	return vq->kind;
}

int vecquant_reserve(struct vecquant *vq, size_t cap)
{
	if (cap <= vq->cap)
		return 0;
	size_t rowb = (size_t)vq->stride * code_size(vq);
	if (cap > SIZE_MAX / rowb)
		return -ENOMEM;
	/* In place when large (bigmem.h); a bigger block alone changes nothing. */
	if (bigmem_grow(&vq->mem, cap * rowb))
		return -ENOMEM;
	vq->codes = vq->mem.data;
	float *mul = realloc(vq->mul, cap * sizeof(*mul));
	if (!mul)
		return -ENOMEM;
	vq->mul = mul;
	float *del = realloc(vq->del, cap * sizeof(*del));
	if (!del)
		return -ENOMEM;
	vq->del = del;
	vq->cap = cap;
	return 0;
}

void vecquant_set_small_pages(struct vecquant *vq, int on)
{
	bigmem_set_small_pages(&vq->mem, on);
}

size_t vecquant_bytes(const struct vecquant *vq, size_t rows)
{
	return rows * ((size_t)vq->stride * code_size(vq) + 2 * sizeof(float));
}

size_t vecquant_cands(size_t k)
{
	return k * VQ_CAND_MULT > VQ_CAND_MIN ? k * VQ_CAND_MULT : VQ_CAND_MIN;
}

/* ---- encoding ---- */

uint16_t vecquant_f2h(float f)
{
	uint32_t x;
	memcpy(&x, &f, sizeof(x));
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
	uint32_t ax = x & 0x7fffffff;
	if (ax > 0x7f800000)
		return sign | 0x7e00;			/* NaN */
	if (ax >= 0x477ff000)
		return sign | 0x7c00;			/* rounds to Inf */
	if (ax < 0x38800000) {				/* below 2^-14: subnormal */
		float a;
		memcpy(&a, &ax, sizeof(a));
		return sign | (uint16_t)lrintf(a * 0x1p24f); /* exact scaling, RNE */
	}
	uint32_t h = ((ax >> 23) - 112) << 10 | (ax & 0x7fffff) >> 13;
	uint32_t rem = ax & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
		h++;					/* a carry rolls into the exponent */
	return sign | (uint16_t)h;
}

float vecquant_h2f(uint16_t h)
{
	uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
	float f;
	if (e == 0) {
		f = (float)m * 0x1p-24f;
	} else if (e == 31) {
		f = m ? NAN : INFINITY;
	} else {
		uint32_t x = (e + 112) << 23 | m << 13;
		memcpy(&f, &x, sizeof(f));
	}
	return h & 0x8000 ? -f : f;
}

/* delta rounded up to a float, so the stored bound stays a bound. */
static float up(double delta)
{
	float d = (float)delta;
	return (double)d < delta ? nextafterf(d, INFINITY) : d;
}

static void put_int8(struct vecquant *vq, size_t row, const float *v, double inv_norm)
{
	int8_t *c = (int8_t *)vq->codes + row * vq->stride;
	double amax = 0, err = 0;
	memset(c, 0, vq->stride);
	for (uint32_t i = 0; i < vq->dim; i++)
		amax = fmax(amax, fabs(v[i]));
	if (amax == 0 || !(inv_norm > 0)) {
		/* The zero row scores 0 exactly; extreme rows (NaN) are forced. */
		vq->mul[row] = 0;
		vq->del[row] = inv_norm == 0 ? 0 : NAN;
		return;
	}
	double scale = amax / 127;
	for (uint32_t i = 0; i < vq->dim; i++) {
		long q = lrint(v[i] / scale);
		q = q > 127 ? 127 : q < -127 ? -127 : q;
		c[i] = (int8_t)q;
		double e = v[i] - (double)q * scale;
		err += e * e;
	}
	vq->mul[row] = (float)(scale * inv_norm);
	vq->del[row] = up(sqrt(err) * inv_norm);
}

static void put_fp16(struct vecquant *vq, size_t row, const float *v, double inv_norm)
{
	uint16_t *c = (uint16_t *)vq->codes + row * vq->stride;
	double err = 0;
	memset(c, 0, vq->stride * sizeof(*c));
	for (uint32_t i = 0; i < vq->dim; i++) {
		c[i] = vecquant_f2h(v[i]);
		double e = v[i] - (double)vecquant_h2f(c[i]);
		err += e * e;			/* Inf on overflow: forced */
	}
	vq->mul[row] = (float)inv_norm;
	vq->del[row] = inv_norm > 0 ? up(sqrt(err) * inv_norm) : inv_norm == 0 ? 0 : NAN;
}

void vecquant_put(struct vecquant *vq, size_t row, const float *v, double inv_norm)
{
	if (vq->kind == VEC_COMPRESS_INT8)
		put_int8(vq, row, v, inv_norm);
	else
		put_fp16(vq, row, v, inv_norm);
}

void vecquant_move(struct vecquant *vq, size_t to, size_t from)
{
	size_t rowb = (size_t)vq->stride * code_size(vq);
	memcpy((char *)vq->codes + to * rowb, (char *)vq->codes + from * rowb, rowb);
	vq->mul[to] = vq->mul[from];
	vq->del[to] = vq->del[from];
}

/* ---- approximate dot kernels: out[i] = dot(code row i, query) ---- */

static void idots_scalar(const int8_t *m, size_t n, uint32_t stride, const int16_t *u,
			 float *out)
{
	for (size_t r = 0; r < n; r++, m += stride) {
		int64_t s = 0;
		for (uint32_t i = 0; i < stride; i++)
			s += (int32_t)m[i] * u[i];
		out[r] = (float)s;
	}
}

static void hdots_scalar(const uint16_t *m, size_t n, uint32_t stride, const float *u,
			 float *out)
{
	for (size_t r = 0; r < n; r++, m += stride) {
		float a[8] = { 0 };
		for (uint32_t i = 0; i < stride; i += 8)
			for (int j = 0; j < 8; j++)
				a[j] += vecquant_h2f(m[i + j]) * u[i + j];
		out[r] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
	}
}

#if VQ_HAVE_X86
/* The sum stays below 2^31: the query's int16 range is chosen for it. */
__attribute__((target("avx2")))
static void idots_avx2(const int8_t *m, size_t n, uint32_t stride, const int16_t *u,
		       float *out)
{
	for (size_t r = 0; r < n; r++, m += stride) {
		__m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
		for (uint32_t i = 0; i < stride; i += 32) {
			__m256i x0 = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(m + i)));
			__m256i x1 = _mm256_cvtepi8_epi16(
				_mm_load_si128((const __m128i *)(m + i + 16)));
			a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(
				x0, _mm256_load_si256((const __m256i *)(u + i))));
			a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(
				x1, _mm256_load_si256((const __m256i *)(u + i + 16))));
		}
		a0 = _mm256_add_epi32(a0, a1);
		__m128i h = _mm_add_epi32(_mm256_castsi256_si128(a0),
					  _mm256_extracti128_si256(a0, 1));
		h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
		h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
		out[r] = (float)_mm_cvtsi128_si32(h);
	}
}

__attribute__((target("avx2,fma,f16c")))
static void hdots_avx2(const uint16_t *m, size_t n, uint32_t stride, const float *u,
		       float *out)
{
	for (size_t r = 0; r < n; r++, m += stride) {
		__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
		__m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
		for (uint32_t i = 0; i < stride; i += 32) {
			const __m128i *p = (const __m128i *)(m + i);
			a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_load_si128(p)),
					     _mm256_load_ps(u + i), a0);
			a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_load_si128(p + 1)),
					     _mm256_load_ps(u + i + 8), a1);
			a2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_load_si128(p + 2)),
					     _mm256_load_ps(u + i + 16), a2);
			a3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_load_si128(p + 3)),
					     _mm256_load_ps(u + i + 24), a3);
		}
		a0 = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
		__m128 h = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
		h = _mm_add_ps(h, _mm_movehl_ps(h, h));
		h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
		out[r] = _mm_cvtss_f32(h);
	}
}
#endif

/* ---- the search ---- */

struct ahit {
	float a, d;		/* approximate score, its error bound */
	uint32_t row;
};

struct qpart {
	struct ahit *h;		/* min-heap of up to C by a */
	size_t len;
	float hthr;		/* the heap is full: its smallest a */
	float u;		/* max a + d of rows this participant did not keep */
	struct part ex;		/* exact heap: forced rows, then phase 2 rows */
	uint64_t rescored;
};

/* One query's compressed search. */
struct qsearch {
	struct search *s;
	const struct vecquant *vq;
	const int16_t *qi;	/* int8: the query in int16, stride values */
	const float *qf;	/* fp16: the unit query, stride floats */
	void *qbuf;		/* owns qi or qf */
	float qmul;		/* int8: 1 / the query's scale */
	float slack;		/* (1 + del) eps_q + float rounding, del <= 1/4 */
	size_t c;		/* candidates per participant */
	int avx2;
	/* 1 in phase 1; then 2 if it needs (and ran) phase 2, else 0 */
	int phase;
	float t;		/* phase 2: the k-th best exact score */
	uint32_t *kept;		/* phase 1's candidates (sorted for phase 2) */
	size_t nkept;
	/* With a filter: its verdicts in phase 1 (one bit per row). */
	uint64_t *passed, *rejected;
	struct qpart *parts;	/* one per participant */
	struct ahit *ah;	/* the parts' approximate heaps */
	struct vec_hit *ex;	/* the parts' exact heaps */
	pthread_mutex_t flock;
	struct part fin;	/* the result heap (the caller's hits) */
	uint64_t rescored;
};

/* The queries scanned together: each chunk of rows is read from memory
 * once and scanned by every query still in the pass, in blocks small
 * enough to stay in L2 between queries. */
struct qbatch {
	struct qsearch *q;
	size_t nq, n, chunk;
	int phase;		/* queries with this phase take part */
	atomic_size_t next;
};

static void approx(const struct qsearch *q, size_t base, size_t m, float *out)
{
	const struct vecquant *vq = q->vq;
	if (vq->kind == VEC_COMPRESS_INT8) {
		const int8_t *c = (const int8_t *)vq->codes + base * vq->stride;
#if VQ_HAVE_X86
		if (q->avx2) {
			idots_avx2(c, m, vq->stride, q->qi, out);
			return;
		}
#endif
		idots_scalar(c, m, vq->stride, q->qi, out);
	} else {
		const uint16_t *c = (const uint16_t *)vq->codes + base * vq->stride;
#if VQ_HAVE_X86
		if (q->avx2) {
			hdots_avx2(c, m, vq->stride, q->qf, out);
			return;
		}
#endif
		hdots_scalar(c, m, vq->stride, q->qf, out);
	}
}

static void ah_down(struct ahit *h, size_t len, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < len && h[l].a < h[m].a)
			m = l;
		if (l + 1 < len && h[l + 1].a < h[m].a)
			m = l + 1;
		if (m == i)
			return;
		struct ahit t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void ah_push(struct qsearch *q, struct qpart *p, struct ahit x)
{
	if (p->len < q->c) {
		size_t i = p->len++;
		p->h[i] = x;
		while (i && p->h[(i - 1) / 2].a > p->h[i].a) {
			struct ahit t = p->h[i];
			p->h[i] = p->h[(i - 1) / 2];
			p->h[(i - 1) / 2] = t;
			i = (i - 1) / 2;
		}
	} else {
		p->u = fmaxf(p->u, p->h[0].a + p->h[0].d);
		p->h[0] = x;
		ah_down(p->h, p->len, 0);
	}
	if (p->len == q->c)
		p->hthr = p->h[0].a;
}

static void set_bit(uint64_t *bits, size_t row)
{
	bits[row >> 6] |= 1ull << (row & 63);
}

static int has_bit(const uint64_t *bits, size_t row)
{
	return bits[row >> 6] >> (row & 63) & 1;
}

static int is_kept(const struct qsearch *q, uint32_t row)
{
	size_t lo = 0, hi = q->nkept;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (q->kept[mid] < row)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < q->nkept && q->kept[lo] == row;
}

static void phase1_row(struct qsearch *q, struct qpart *p, size_t row, float a, float d)
{
	struct search *s = q->s;
	if (!(d <= VQ_DEL_FORCE)) {
		p->rescored++;
		vi_offer(s, &p->ex, row, 0);	/* forced: exact, filtered inside */
		return;
	}
	if (a < p->hthr) {
		p->u = fmaxf(p->u, a + d);
		return;
	}
	if (s->filter) {
		if (!vi_keep(s, row)) {
			set_bit(q->rejected, row);
			return;
		}
		set_bit(q->passed, row);
	}
	ah_push(q, p, (struct ahit){ a, d, (uint32_t)row });
}

static void phase2_row(struct qsearch *q, struct qpart *p, size_t row, float a, float d)
{
	struct search *s = q->s;
	if (!(d <= VQ_DEL_FORCE))
		return;				/* forced rows were offered in phase 1 */
	float ub = a + d + q->slack;
	if (ub < q->t || ub < p->ex.thr || is_kept(q, (uint32_t)row))
		return;
	if (s->filter && has_bit(q->rejected, row))
		return;
	p->rescored++;
	vi_offer(s, &p->ex, row, s->filter && has_bit(q->passed, row));
}

static void scan(struct qsearch *q, struct qpart *p, size_t lo, size_t hi)
{
	const struct vecquant *vq = q->vq;
	const uint64_t *cand = q->s->cand;
	float sc[VI_TILE];
	for (size_t base = lo; base < hi; base += VI_TILE) {
		size_t m = hi - base < VI_TILE ? hi - base : VI_TILE;
		approx(q, base, m, sc);
		for (size_t i = 0; i < m; i++) {
			size_t row = base + i;
			if (!vi_cand(cand, row))
				continue;
			float a = vq->kind == VEC_COMPRESS_INT8 ? sc[i] * vq->mul[row] * q->qmul :
				  sc[i] * vq->mul[row];
			if (q->phase == 1)
				phase1_row(q, p, row, a, vq->del[row]);
			else
				phase2_row(q, p, row, a, vq->del[row]);
		}
	}
}

static void run_part(void *arg, unsigned slot)
{
	struct qbatch *b = arg;
	for (;;) {
		size_t lo = atomic_fetch_add_explicit(&b->next, b->chunk, memory_order_relaxed);
		if (lo >= b->n)
			return;
		size_t hi = b->n - lo < b->chunk ? b->n : lo + b->chunk;
		for (size_t blo = lo; blo < hi; blo += VQ_BLOCK_ROWS) {
			size_t bhi = hi - blo < VQ_BLOCK_ROWS ? hi : blo + VQ_BLOCK_ROWS;
			for (size_t j = 0; j < b->nq; j++)
				if (b->q[j].phase == b->phase)
					scan(&b->q[j], &b->q[j].parts[slot], blo, bhi);
		}
	}
}

static unsigned run_phase(struct qbatch *b, int phase, unsigned nt)
{
	b->phase = phase;
	atomic_store(&b->next, 0);
	return vecpool_run(nt, run_part, b);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static pthread_once_t isa_once = PTHREAD_ONCE_INIT;
static int cpu_avx2_f16c;
static atomic_uint_fast64_t st_searches, st_second, st_rescored;

static void isa_init(void)
{
#if VQ_HAVE_X86
	__builtin_cpu_init();
	cpu_avx2_f16c = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
			__builtin_cpu_supports("f16c");
#endif
}

void vecquant_get_stats(struct vecquant_stats *st)
{
	st->searches = atomic_load(&st_searches);
	st->second_pass = atomic_load(&st_second);
	st->rescored = atomic_load(&st_rescored);
}

/* The query in the copy's terms: int16 codes (int8) or padded floats. */
static int prepare_query(struct qsearch *q, void **buf)
{
	const struct vecquant *vq = q->vq;
	const float *u = q->s->unit;
	uint32_t dim = vq->dim;
	/* Float rounding anywhere in a screening score, with room to spare. */
	double m = (dim + 16.0) * 0x1p-22, eps = 0;
	if (vq->kind == VEC_COMPRESS_INT8) {
		int16_t *qi;
		if (posix_memalign(buf, VQ_ALIGN, vq->stride * sizeof(*qi)))
			return -ENOMEM;
		qi = *buf;
		memset(qi, 0, vq->stride * sizeof(*qi));
		double umax = 0;
		for (uint32_t i = 0; i < dim; i++)
			umax = fmax(umax, fabs(u[i]));
		/* 127 * top * dim < 2^31: the int32 sums cannot overflow. */
		double top = floor(2147483647.0 / (127.0 * dim));
		top = top > 32767 ? 32767 : top;
		double qs = umax > 0 ? top / umax : 0, e2 = 0;
		for (uint32_t i = 0; i < dim; i++) {
			long c = lrint(u[i] * qs);
			qi[i] = (int16_t)c;
			double e = u[i] - (qs > 0 ? c / qs : 0);
			e2 += e * e;
		}
		eps = sqrt(e2);
		q->qi = qi;
		q->qmul = qs > 0 ? (float)(1 / qs) : 0;
	} else {
		float *qf;
		if (posix_memalign(buf, VQ_ALIGN, vq->stride * sizeof(*qf)))
			return -ENOMEM;
		qf = *buf;
		memset(qf, 0, vq->stride * sizeof(*qf));
		memcpy(qf, u, dim * sizeof(*qf));
		q->qf = qf;
	}
	q->slack = up((1 + VQ_DEL_FORCE) * eps + m);
	return 0;
}

/* Set q up for s (hits: room for s->k) with nt participants. 0 or
 * -ENOMEM (then qsearch_free is still due). */
static int qsearch_init(struct qsearch *q, struct search *s, struct vec_hit *hits, unsigned nt,
			size_t n)
{
	const struct vecquant *vq = s->vi->vq;
	size_t k = s->k, words = (n + 63) / 64;
	*q = (struct qsearch){ .s = s, .vq = vq, .c = vecquant_cands(k), .phase = 1,
			       .fin = { hits, 0, -INFINITY } };
	q->avx2 = cpu_avx2_f16c && strcmp(vecscan_isa_name(), "scalar");
	pthread_mutex_init(&q->flock, NULL);
	if (prepare_query(q, &q->qbuf))
		return -ENOMEM;
	q->parts = malloc((size_t)nt * sizeof(*q->parts));
	q->ah = malloc((size_t)nt * q->c * sizeof(*q->ah));
	q->ex = malloc((size_t)nt * k * sizeof(*q->ex));
	q->kept = malloc((size_t)nt * q->c * sizeof(*q->kept));
	if (s->filter) {
		q->passed = calloc(2 * words, sizeof(uint64_t));
		q->rejected = q->passed ? q->passed + words : NULL;
	}
	if (!q->parts || !q->ah || !q->ex || !q->kept || (s->filter && !q->passed))
		return -ENOMEM;
	for (unsigned i = 0; i < nt; i++)
		q->parts[i] = (struct qpart){ .h = q->ah + (size_t)i * q->c, .hthr = -INFINITY,
					      .u = -INFINITY,
					      .ex = { q->ex + (size_t)i * k, 0, -INFINITY } };
	if (nt > 1)
		s->flock = &q->flock;
	return 0;
}

static void qsearch_free(struct qsearch *q)
{
	q->s->flock = NULL;
	pthread_mutex_destroy(&q->flock);
	free(q->qbuf);
	free(q->parts);
	free(q->ah);
	free(q->ex);
	free(q->kept);
	free(q->passed);
}

/* After phase 1: merge the participants, score their candidates exactly
 * and decide whether phase 2 is needed (then set up for it). */
static void phase1_end(struct qsearch *q, unsigned used, unsigned nt)
{
	const struct vecindex *vi = q->s->vi;
	size_t k = q->s->k;
	float u = -INFINITY;
	for (unsigned i = 0; i < used; i++) {
		struct qpart *p = &q->parts[i];
		u = fmaxf(u, p->u);
		q->rescored += p->rescored + p->len;
		for (size_t h = 0; h < p->ex.len; h++)
			vi_heap_offer(vi, q->fin.heap, &q->fin.len, k, p->ex.heap[h]);
		for (size_t h = 0; h < p->len; h++)
			q->kept[q->nkept++] = p->h[h].row;
	}
	for (size_t i = 0; i < q->nkept; i++)
		vi_offer(q->s, &q->fin, q->kept[i], 1);
	float t = q->fin.len == k ? q->fin.heap[0].score : -INFINITY;
	q->phase = u != -INFINITY && !(u + q->slack < t) ? 2 : 0;
	if (!q->phase)
		return;
	qsort(q->kept, q->nkept, sizeof(*q->kept), cmp_u32);
	q->t = t;
	for (unsigned i = 0; i < nt; i++) {
		q->parts[i].ex.len = 0;
		q->parts[i].ex.thr = -INFINITY;
		q->parts[i].rescored = 0;
	}
}

static void phase2_end(struct qsearch *q, unsigned used)
{
	for (unsigned i = 0; i < used; i++) {
		q->rescored += q->parts[i].rescored;
		for (size_t h = 0; h < q->parts[i].ex.len; h++)
			vi_heap_offer(q->s->vi, q->fin.heap, &q->fin.len, q->s->k,
				      q->parts[i].ex.heap[h]);
	}
}

int vecquant_search_many(struct search **ss, size_t nq, struct vec_hit **hits, size_t *nhits)
{
	if (!nq)
		return 0;
	const struct vecindex *vi = ss[0]->vi;
	size_t n = vi->n;
	pthread_once(&isa_once, isa_init);
	/* Split as the float scan would (the int8 scan is compute-bound). */
	unsigned nt = vi_threads_for(n * vi->dim * sizeof(float));
	nt = nt > VQ_MAX_THREADS ? VQ_MAX_THREADS : nt;
	/* Whole 64-row words per chunk: the filter bitmaps need no atomics. */
	size_t chunk = VI_CHUNK / ((size_t)vi->dim * sizeof(float)) / 64 * 64;
	struct qbatch b = { .nq = nq, .n = n, .chunk = chunk ? chunk : 64 };
	b.q = calloc(nq, sizeof(*b.q));
	if (!b.q)
		return -ENOMEM;
	size_t ready = 0;
	int rc = 0;
	for (; ready < nq && !rc; ready++)
		rc = qsearch_init(&b.q[ready], ss[ready], hits[ready], nt, n);
	if (!rc) {
		/* Phase 1: the C best by approximation per participant, exactly. */
		unsigned used = run_phase(&b, 1, nt);
		size_t again = 0;
		for (size_t j = 0; j < nq; j++) {
			phase1_end(&b.q[j], used, nt);
			again += b.q[j].phase == 2;
		}
		/* Phase 2: every other row whose upper bound reaches the k-th best. */
		if (again) {
			used = run_phase(&b, 2, nt);
			for (size_t j = 0; j < nq; j++)
				if (b.q[j].phase == 2)
					phase2_end(&b.q[j], used);
		}
		for (size_t j = 0; j < nq; j++) {
			nhits[j] = b.q[j].fin.len;
			atomic_fetch_add(&st_second, (uint64_t)(b.q[j].phase == 2));
			atomic_fetch_add(&st_rescored, b.q[j].rescored);
		}
		atomic_fetch_add(&st_searches, nq);
	}
	for (size_t j = 0; j < ready; j++)
		qsearch_free(&b.q[j]);
	free(b.q);
	return rc;
}

int vecquant_search(struct search *s, struct vec_hit *hits, size_t *nhits)
{
	return vecquant_search_many(&s, 1, &hits, nhits);
}
