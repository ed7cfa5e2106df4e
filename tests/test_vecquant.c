/* Unit tests: store/vecquant.c - the int8 / fp16 scan copy.
 *
 * The compressed search must return exactly what the float search returns
 * (same rows, order, bit-equal scores, the brute-force reference) on
 * random, clustered, tied, filtered and masked data, on rows that defeat
 * the encodings (huge and tiny norms, fp16 overflow, zero rows), with the
 * scalar and AVX2 kernels, on one thread and split; it must stay in step
 * through inserts, replacements and removals (rows move); and on clustered
 * embedding-like data its recall@10 against a double brute force is 1.000.
 * The half conversions are checked against F16C and by round trips.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "store/vecindex.h"
#include "store/vecquant.h"
#include "store/vecscan.h"
#include "tests/tap.h"

#define VECTEST_SEED 0x853c49e6748fea9bULL
#include "tests/vectest.h"

/* ---- half conversions ---- */

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("f16c"))) static uint16_t f2h_hw(float f)
{
	return (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT),
					   0);
}

__attribute__((target("f16c"))) static float h2f_hw(uint16_t h)
{
	return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}
#endif

static void test_half(void)
{
	int round_trip = 1;
	for (uint32_t h = 0; h < 65536; h++) {
		float f = vecquant_h2f((uint16_t)h);
		if (!isnan(f) && vecquant_f2h(f) != h)
			round_trip = 0;
	}
	ok(round_trip, "every half survives h2f then f2h");
	ok(vecquant_f2h(65504.0f) == 0x7bff && vecquant_f2h(65520.0f) == 0x7c00 &&
	   vecquant_f2h(65519.99f) == 0x7bff && vecquant_f2h(-1e9f) == 0xfc00 &&
	   vecquant_f2h(0x1p-25f) == 0 && vecquant_f2h(0x1.8p-25f) == 1 &&
	   vecquant_f2h(-0.0f) == 0x8000 && isnan(vecquant_h2f(vecquant_f2h(NAN))),
	   "edges: max, overflow to Inf, halfway subnormals, -0, NaN");
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("f16c")) {
		diag("no F16C: hardware comparison skipped");
		return;
	}
	int same = 1;
	for (uint32_t i = 0; i < 2000000 && same; i++) {
		uint32_t bits = rng();
		if (i < 65536)
			bits = (i << 13) | (rng() & 0x1fff); /* every half and its neighbours */
		float f;
		memcpy(&f, &bits, sizeof(f));
		if (isnan(f))
			continue;
		if (vecquant_f2h(f) != f2h_hw(f)) {
			diag("f2h(%a) = %04x, F16C %04x", f, vecquant_f2h(f), f2h_hw(f));
			same = 0;
		}
	}
	for (uint32_t h = 0; h < 65536 && same; h++) {
		float a = vecquant_h2f((uint16_t)h), b = h2f_hw((uint16_t)h);
		if (!(isnan(a) && isnan(b)) && memcmp(&a, &b, sizeof(a)))
			same = 0;
	}
	ok(same, "f2h and h2f agree with F16C bit for bit (2M floats, every half)");
#endif
}

/* ---- exactness against the float search ---- */

/* kind 0: random; 1: clustered; 2: hostile rows (see below). */
static void fixture_make(struct fixture *fx, size_t n, uint32_t dim, int kind)
{
	char id[32];
	struct mixture mx;
	fx->n = n;
	fx->dim = dim;
	fx->data = malloc((n ? n : 1) * dim * sizeof(float));
	vecindex_new(dim, &fx->vi);
	if (kind == 1)
		mixture_make(&mx, dim, 40, 8);
	for (size_t i = 0; i < n; i++) {
		float *v = fx->data + i * dim;
		if (kind == 1)
			mixture_draw(&mx, v);
		else
			for (uint32_t d = 0; d < dim; d++)
				v[d] = frand();
		if (kind == 2) {
			switch (i % 11) {
			case 1: /* fp16 overflow */
				v[i % dim] = 70000.0f * (i % 2 ? 1 : -1);
				break;
			case 2: /* tiny: fp16 subnormals, int8 fine */
				for (uint32_t d = 0; d < dim; d++)
					v[d] *= 1e-7f;
				break;
			case 3: /* extreme norms: always exact */
				for (uint32_t d = 0; d < dim; d++)
					v[d] *= i % 2 ? 1e31f : 1e-32f;
				break;
			case 4:
				memset(v, 0, dim * sizeof(float));
				break;
			case 5: /* one spike: int8 rounds the rest to 0 */
				for (uint32_t d = 0; d < dim; d++)
					v[d] *= 1e-3f;
				v[0] = 1;
				break;
			}
		}
		if (i > 3 && i % 53 == 0) /* exact ties with row 3 */
			memcpy(v, fx->data + 3 * dim, dim * sizeof(float));
		snprintf(id, sizeof(id), "r%zu", i);
		vecindex_set(fx->vi, id, v);
	}
	if (kind == 1)
		mixture_free(&mx);
}

static int have_avx2;

/* q through every encoding, kernel and split: all equal the float search
 * and the reference. */
static void check(struct fixture *fx, const float *q, size_t k, unsigned mod, int masked,
		  const char *what)
{
	size_t words = (fx->n + 63) / 64, ncand = 0;
	uint64_t *cand = NULL;
	if (masked) {
		cand = calloc(words ? words : 1, sizeof(*cand));
		for (size_t i = 0; i < fx->n; i++)
			if (i % 5 != 2) {
				cand[i >> 6] |= 1ull << (i & 63);
				ncand++;
			}
	}
	struct ref *ref = malloc((fx->n ? fx->n : 1) * sizeof(*ref));
	size_t want = reference(fx, q, k, mod, cand, ref);
	struct vec_hit *hits = malloc((k ? k : 1) * sizeof(*hits));
	struct vec_hit *flt = malloc((k ? k : 1) * sizeof(*hits));
	size_t nflt = 0;
	struct flt f = { mod ? mod : 1, 0 };
	struct vec_query vq = { .q = q, .k = k, .filter = mod ? keep_mod : NULL, .ctx = &f,
				.cand = cand, .ncand = ncand };
	vecindex_set_compress(fx->vi, VEC_COMPRESS_NONE);
	vecindex_search_q(fx->vi, &vq, flt, &nflt);
	int good = nflt == want;
	for (size_t i = 0; good && i < want; i++)
		good = flt[i].score == ref[i].score &&
		       !strcmp(vecindex_id(fx->vi, flt[i].row), ref[i].id);
	ok(good, "%s n=%zu dim=%u k=%zu%s%s: the float search equals the reference", what,
	   fx->n, fx->dim, k, mod ? " filtered" : "", masked ? " masked" : "");
	static const enum vec_compress kinds[] = { VEC_COMPRESS_INT8, VEC_COMPRESS_FP16 };
	for (int ki = 0; ki < 2; ki++) {
		vecindex_set_compress(fx->vi, kinds[ki]);
		for (int mode = 0; mode < 4; mode++) {
			if (mode >= 2 && !have_avx2)
				continue;
			vecscan_set_isa(mode < 2 ? VECSCAN_SCALAR : VECSCAN_AVX2);
			vecscan_set_par_bytes(mode % 2 ? 1 : 0);
			f.calls = 0;
			size_t nh = 12345;
			int rc = vecindex_search_q(fx->vi, &vq, hits, &nh);
			ok(rc == 0 && nh == nflt && !memcmp(hits, flt, nh * sizeof(*hits)) &&
			   f.calls <= fx->n,
			   "%s [%s %s%s]: same rows, order and scores as the float search "
			   "(%zu hits, %zu filter calls)", what, vec_compress_name(kinds[ki]),
			   mode < 2 ? "scalar" : "avx2", mode % 2 ? " split" : "", nh, f.calls);
		}
	}
	vecscan_set_isa(VECSCAN_AUTO);
	vecscan_set_par_bytes(0);
	vecindex_set_compress(fx->vi, VEC_COMPRESS_NONE);
	free(ref);
	free(hits);
	free(flt);
	free(cand);
}

static void run(size_t n, uint32_t dim, int kind, size_t k)
{
	static const char *names[] = { "random", "clustered", "hostile" };
	struct fixture fx;
	fixture_make(&fx, n, dim, kind);
	float *q = malloc(dim * sizeof(float));
	for (uint32_t i = 0; i < dim; i++)
		q[i] = frand();
	check(&fx, q, k, 0, 0, names[kind]);
	check(&fx, q, k, 3, 0, names[kind]);
	check(&fx, q, k, 0, 1, names[kind]);
	if (n > 3) {
		memcpy(q, fx.data + 3 * dim, dim * sizeof(float)); /* hits its copies */
		check(&fx, q, k, 0, 0, "stored row");
	}
	memset(q, 0, dim * sizeof(float));
	check(&fx, q, k, 2, 0, "zero query");
	free(q);
	fixture_free(&fx);
}

/* Many exact ties at the top: phase 1 cannot settle it, phase 2 must. */
static void test_phase2(void)
{
	struct fixture fx;
	fixture_make(&fx, 3000, 40, 0);
	for (size_t i = 10; i < 400; i++) {
		memcpy(fx.data + i * 40, fx.data + 7 * 40, 40 * sizeof(float));
		vecindex_set(fx.vi, vecindex_id(fx.vi, i), fx.data + i * 40);
	}
	struct vecquant_stats s0, s1;
	vecquant_get_stats(&s0);
	float q[40];
	memcpy(q, fx.data + 7 * 40, sizeof(q));
	check(&fx, q, 10, 0, 0, "391 tied rows");
	vecquant_get_stats(&s1);
	ok(s1.second_pass > s0.second_pass, "phase 2 ran for the ties (%llu of %llu searches)",
	   (unsigned long long)(s1.second_pass - s0.second_pass),
	   (unsigned long long)(s1.searches - s0.searches));
	fixture_free(&fx);
}

/* Inserts, replacements and removals with the copy on: it follows. */
static void test_mutations(void)
{
	enum { N = 4000, DIM = 48 };
	struct vecindex *vi, *plain;
	char id[32];
	float *v = malloc(DIM * sizeof(float)), q[DIM];
	vecindex_new(DIM, &vi);
	vecindex_new(DIM, &plain);
	vecindex_set_compress(vi, VEC_COMPRESS_INT8);
	for (int step = 0; step < 3 * N; step++) {
		snprintf(id, sizeof(id), "m%u", rng() % N);
		if (rng() % 4 == 0) {
			vecindex_remove(vi, id);
			vecindex_remove(plain, id);
		} else {
			for (int d = 0; d < DIM; d++)
				v[d] = frand();
			vecindex_set(vi, id, v);
			vecindex_set(plain, id, v);
		}
		if (step == N)
			vecindex_set_compress(vi, VEC_COMPRESS_FP16); /* re-encodes */
	}
	ok(vecindex_compress(vi) == VEC_COMPRESS_FP16 &&
	   vecindex_count(vi) == vecindex_count(plain), "%zu rows after %d mutations",
	   vecindex_count(vi), 3 * N);
	int good = 1;
	for (int t = 0; t < 20 && good; t++) {
		struct vec_hit a[25], b[25];
		size_t na, nb;
		for (int d = 0; d < DIM; d++)
			q[d] = frand();
		vecindex_search(vi, q, 25, NULL, NULL, a, &na);
		vecindex_search(plain, q, 25, NULL, NULL, b, &nb);
		good = na == nb;
		for (size_t i = 0; good && i < na; i++)
			good = a[i].score == b[i].score &&
			       !strcmp(vecindex_id(vi, a[i].row), vecindex_id(plain, b[i].row));
	}
	ok(good, "searches after the mutations equal an uncompressed twin");
	size_t n = vecindex_count(vi);
	is_int(vecindex_compressed_bytes(vi), n * (64 * 2 + 8), "fp16 copy: (2 x 64 + 8) bytes a row");
	vecindex_set_compress(vi, VEC_COMPRESS_INT8);
	is_int(vecindex_compressed_bytes(vi), n * (64 + 8), "int8 copy: (64 + 8) bytes a row");
	vecindex_set_compress(vi, VEC_COMPRESS_NONE);
	is_int(vecindex_compressed_bytes(vi), 0, "no copy");
	enum vec_compress c;
	ok(!vec_compress_parse("int8", &c) && c == VEC_COMPRESS_INT8 &&
	   !vec_compress_parse("fp16", &c) && c == VEC_COMPRESS_FP16 &&
	   !vec_compress_parse("none", &c) && c == VEC_COMPRESS_NONE &&
	   vec_compress_parse("int4", &c) == -EINVAL && vec_compress_parse(NULL, &c) == -EINVAL,
	   "vec_compress names");
	vecindex_free(vi);
	vecindex_free(plain);
	free(v);
}

/* recall@10 on clustered 384-d data against a double brute force. */
static void test_recall(void)
{
	enum { N = 40000, DIM = 384, NQ = 40, K = 10 };
	struct mixture mx;
	struct vecindex *vi;
	char id[32];
	float *data = malloc((size_t)N * DIM * sizeof(float));
	float *qs = malloc((size_t)NQ * DIM * sizeof(float));
	mixture_make(&mx, DIM, 400, 64);
	vecindex_new(DIM, &vi);
	for (size_t i = 0; i < N; i++) {
		mixture_draw(&mx, data + i * DIM);
		snprintf(id, sizeof(id), "c%06zu", i);
		vecindex_set(vi, id, data + i * DIM);
	}
	for (size_t i = 0; i < NQ; i++)
		mixture_draw(&mx, qs + i * DIM);
	/* The truth: top 10 by double cosine (rows are unit vectors). */
	uint32_t truth[NQ][K];
	for (size_t qi = 0; qi < NQ; qi++) {
		double best[K];
		int len = 0;
		for (size_t r = 0; r < N; r++) {
			double d = 0;
			for (int i = 0; i < DIM; i++)
				d += (double)data[r * DIM + i] * qs[qi * DIM + i];
			if (len == K && d <= best[K - 1])
				continue;
			int i = len < K ? len++ : K - 1;
			while (i > 0 && best[i - 1] < d) {
				best[i] = best[i - 1];
				truth[qi][i] = truth[qi][i - 1];
				i--;
			}
			best[i] = d;
			truth[qi][i] = (uint32_t)r;
		}
	}
	static const enum vec_compress kinds[] = { VEC_COMPRESS_INT8, VEC_COMPRESS_FP16 };
	for (int ki = 0; ki < 2; ki++) {
		vecindex_set_compress(vi, kinds[ki]);
		struct vecquant_stats s0, s1;
		vecquant_get_stats(&s0);
		int hit = 0;
		for (size_t qi = 0; qi < NQ; qi++) {
			struct vec_hit h[K];
			size_t nh;
			vecindex_search(vi, qs + qi * DIM, K, NULL, NULL, h, &nh);
			for (size_t i = 0; i < nh; i++)
				for (int j = 0; j < K; j++)
					hit += h[i].row == truth[qi][j];
		}
		vecquant_get_stats(&s1);
		double recall = hit / (double)(NQ * K);
		ok(recall == 1.0, "%s, %d x %d clustered: recall@10 = %.3f over %d queries",
		   vec_compress_name(kinds[ki]), N, DIM, recall, NQ);
		diag("%s: phase 2 in %llu of %llu searches, %.1f rows re-scored a search",
		     vec_compress_name(kinds[ki]), (unsigned long long)(s1.second_pass - s0.second_pass),
		     (unsigned long long)(s1.searches - s0.searches),
		     (double)(s1.rescored - s0.rescored) / (double)(s1.searches - s0.searches));
	}
	vecindex_set_compress(vi, VEC_COMPRESS_INT8);
	is_int(vecindex_compressed_bytes(vi), (size_t)N * (DIM + 8),
	       "int8 copy of 384-d rows: 392 bytes beside 1536 (+25.5%)");
	mixture_free(&mx);
	vecindex_free(vi);
	free(data);
	free(qs);
}

int main(void)
{
	have_avx2 = vecscan_set_isa(VECSCAN_AVX2) == 0;
	vecscan_set_isa(VECSCAN_AUTO);
	test_half();
	run(0, 3, 0, 5);
	run(5, 7, 0, 10);
	run(300, 17, 1, 10);
	run(3000, 33, 0, 25);
	run(5000, 384, 1, 10);
	run(4000, 96, 2, 10);
	run(20000, 64, 1, 5);
	test_phase2();
	test_mutations();
	test_recall();
	return tap_done();
}
