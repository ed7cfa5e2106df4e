/* Unit tests: store/vecbatch.c - batches of concurrent searches (sgemm from
 * 24 queries, the fused small-batch kernel below, scalar and AVX2).
 *
 * Every batched result must equal the single-query search of the same
 * request exactly (same rows, same order, bit-equal scores) and a
 * brute-force reference: on random and clustered data, with duplicated
 * rows (exact ties, ordered by id), filters, dense and sparse candidate
 * bitmaps, zero and stored-row queries, mixed k, one thread and split;
 * and over int8 and fp16 copies, where the batch shares one pass over the
 * codes (vecquant_search_many) below 24 queries. Then many threads call
 * vecbatch_search at once: batches must form and every answer must still
 * equal its single-query result.
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/vecbatch.h"
#include "store/vecindex.h"
#include "store/vecquant.h"
#include "store/vecscan.h"
#include "tests/tap.h"

#define VECTEST_SEED 0x2545f4914f6cdd1dULL
#include "tests/vectest.h"

/* Embedding-like: 20 centres, rank-8 variation, normalised. One mixture
 * for the whole run, made 512 wide and read dim wide (dim <= 512): the
 * fixtures of every dim draw from the same centres, the data this test
 * has always had. */
static void clustered(float *data, size_t n, uint32_t dim)
{
	static struct mixture mx;
	if (!mx.c)
		mixture_make(&mx, 512, 20, 8);
	struct mixture m = mx;
	m.dim = dim;
	for (size_t r = 0; r < n; r++)
		mixture_draw(&m, data + r * dim);
}

/* dups: every 97th row copies row 3, so exact ties straddle blocks. */
static void fixture_make(struct fixture *fx, size_t n, uint32_t dim, int clust)
{
	char id[32];
	fx->n = n;
	fx->dim = dim;
	fx->data = malloc((n ? n : 1) * dim * sizeof(float));
	vecindex_new(dim, &fx->vi);
	if (clust)
		clustered(fx->data, n, dim);
	else
		for (size_t i = 0; i < n * dim; i++)
			fx->data[i] = frand();
	for (size_t i = 0; i < n; i++) {
		if (i > 3 && i % 97 == 0)
			memcpy(fx->data + i * dim, fx->data + 3 * dim, dim * sizeof(float));
		snprintf(id, sizeof(id), "r%zu", i);
		vecindex_set(fx->vi, id, fx->data + i * dim);
	}
}

/* One request of a test batch, with what it owns. */
struct req {
	float *q;
	size_t k;
	struct flt flt;
	uint64_t *cand;
	size_t ncand;
	unsigned cand_mod;	/* cand = rows with number % cand_mod != 1 */
};

static void make_cand(const struct fixture *fx, struct req *r, unsigned every, int sparse)
{
	size_t words = (fx->n + 63) / 64;
	r->cand = calloc(words ? words : 1, sizeof(uint64_t));
	r->cand_mod = every;
	for (size_t i = 0; i < fx->n; i++)
		if (sparse ? i % every == 0 : i % every != 1) {
			r->cand[i >> 6] |= 1ull << (i & 63);
			r->ncand++;
		}
}

static struct vec_query as_query(struct req *r)
{
	return (struct vec_query){ .q = r->q, .k = r->k, .filter = r->flt.mod ? keep_mod : NULL,
				   .ctx = &r->flt, .cand = r->cand, .ncand = r->ncand };
}

static int same(const struct vec_hit *a, size_t na, const struct vec_hit *b, size_t nb)
{
	return na == nb && (!na || !memcmp(a, b, na * sizeof(*a)));
}

/* A mixed batch of nq requests over fx (14: the fused small-batch kernel;
 * 40: sgemm): batched == single == reference, per request. */
#define MAXQ 40
static void check_batch(const struct fixture *fx, int nq, const char *what)
{
	const int NQ = nq;
	uint32_t dim = fx->dim;
	struct req r[MAXQ];
	memset(r, 0, sizeof(r));
	for (int i = 0; i < NQ; i++) {
		r[i].q = malloc(dim * sizeof(float));
		if (fx->n && i % 4 == 1 && i % 14 != 13)
			memcpy(r[i].q, fx->data + 3 * dim, dim * sizeof(float)); /* ties */
		else if (i % 14 == 6)
			memset(r[i].q, 0, dim * sizeof(float));
		else
			for (uint32_t d = 0; d < dim; d++)
				r[i].q[d] = frand();
		r[i].k = (size_t[]){ 10, 1, 50, 10, 3, 100, 5, 10, 20, 7, 10, 2, 64, 9 }[i % 14];
		if (i % 3 == 2)
			r[i].flt.mod = i % 14 == 8 ? 1000 : 2;
		if (i % 14 == 4 || i % 14 == 9)
			make_cand(fx, &r[i], 3, 0);
		if (i % 14 == 11)
			make_cand(fx, &r[i], 10, 1);
		if (i % 14 == 13)
			r[i].k = fx->n + 5; /* more than there are rows */
	}

	struct vec_query qs[MAXQ];
	struct vec_hit *hits[MAXQ];
	size_t nhits[MAXQ];
	int rcs[MAXQ];
	for (int i = 0; i < NQ; i++) {
		qs[i] = as_query(&r[i]);
		hits[i] = malloc((r[i].k ? r[i].k : 1) * sizeof(struct vec_hit));
	}
	int rc = vecbatch_run(fx->vi, NQ, qs, hits, nhits, rcs);
	ok(rc == 0, "%s n=%zu dim=%u: batch of %d (%s) ran", what, fx->n, dim, NQ,
	   NQ >= 24 ? "sgemm" : "fused kernel");
	ok(openblas_get_num_threads() == 1, "OpenBLAS kept at one thread (%d)",
	   openblas_get_num_threads());
	int good_single = 1, good_ref = 1, good_calls = 1;
	struct ref *ref = malloc((fx->n ? fx->n : 1) * sizeof(*ref));
	struct vec_hit *one = malloc((fx->n + 5) * sizeof(*one));
	for (int i = 0; i < NQ; i++) {
		size_t n1 = 0;
		if (r[i].flt.calls > fx->n)
			good_calls = 0;
		int rc1 = vecindex_search_q(fx->vi, &qs[i], one, &n1);
		if (rc1 != rcs[i] || !same(one, n1, hits[i], nhits[i])) {
			diag("query %d: single %zu hits rc %d, batch %zu hits rc %d", i, n1, rc1,
			     nhits[i], rcs[i]);
			good_single = 0;
		}
		size_t want = reference(fx, r[i].q, r[i].k, r[i].flt.mod, r[i].cand, ref);
		int g = nhits[i] == want;
		for (size_t h = 0; g && h < want; h++)
			g = hits[i][h].score == ref[h].score &&
			    !strcmp(vecindex_id(fx->vi, hits[i][h].row), ref[h].id);
		if (!g) {
			diag("query %d: %zu hits, reference %zu", i, nhits[i], want);
			good_ref = 0;
		}
	}
	ok(good_single, "%s: every batched result equals its single-query result", what);
	ok(good_ref, "%s: every batched result equals the brute-force reference", what);
	ok(good_calls, "%s: each filter called at most once per row", what);
	for (int i = 0; i < NQ; i++) {
		free(r[i].q);
		free(r[i].cand);
		free(hits[i]);
	}
	free(ref);
	free(one);
}

/* With a compressed copy a small batch scans the codes once for its
 * queries (vecquant_search_many; the few asking for most rows scan the
 * floats), a batch of 24 or more the floats by sgemm. */
static void check_compressed(const struct fixture *fx)
{
	static const enum vec_compress kinds[] = { VEC_COMPRESS_INT8, VEC_COMPRESS_FP16 };
	if (fx->n < 1000)
		return;
	for (size_t c = 0; c < 2; c++) {
		char what[32];
		snprintf(what, sizeof(what), "%s copy", vec_compress_name(kinds[c]));
		ok(vecindex_set_compress(fx->vi, kinds[c]) == 0, "%s made", what);
		for (int split = 0; split < 2; split++) {
			struct vecquant_stats a, b;
			vecscan_set_threads(split ? 0 : 1);
			vecscan_set_par_bytes(split);
			vecquant_get_stats(&a);
			check_batch(fx, 14, what);
			vecquant_get_stats(&b);
			/* In the batch every query but the k = n + 5 one (floats)
			 * scans the copy; alone, the sparse-bitmap one walks its
			 * rows instead: 13 + 12. */
			ok(b.searches - a.searches == 13 + 12, "%s, %s: 13 of 14 queries scanned "
			   "the copy in the batch, 12 alone (%llu)", what, split ? "split" : "1 thread",
			   (unsigned long long)(b.searches - a.searches));
			/* From 24 queries the batch scans the floats (sgemm): only
			 * the single searches count, 40 less the two k = n + 5 and
			 * the three sparse-bitmap queries. */
			vecquant_get_stats(&a);
			check_batch(fx, 40, what);
			vecquant_get_stats(&b);
			ok(b.searches - a.searches == 35, "%s, %s: a batch of 40 scanned the floats, "
			   "35 alone scanned the copy (%llu)", what, split ? "split" : "1 thread",
			   (unsigned long long)(b.searches - a.searches));
		}
		vecscan_set_threads(0);
		vecscan_set_par_bytes(0);
	}
	vecindex_set_compress(fx->vi, VEC_COMPRESS_NONE);
}

static void test_kernel(void)
{
	struct fixture fx;
	struct {
		size_t n;
		uint32_t dim;
		int clust;
	} cases[] = { { 0, 8, 0 }, { 7, 3, 0 }, { 300, 17, 1 }, { 3000, 31, 0 },
		      { 5000, 384, 1 }, { 20000, 64, 0 } };
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		fixture_make(&fx, cases[c].n, cases[c].dim, cases[c].clust);
		const char *what = cases[c].clust ? "clustered" : "random";
		for (int nq = 14; nq <= MAXQ; nq += MAXQ - 14) {
			vecscan_set_threads(1);
			check_batch(&fx, nq, what);
			/* Split even small matrices across the pool. */
			vecscan_set_threads(0);
			vecscan_set_par_bytes(1);
			check_batch(&fx, nq, what);
			vecscan_set_par_bytes(0);
		}
		/* The scalar small-batch kernel. */
		vecscan_set_isa(VECSCAN_SCALAR);
		check_batch(&fx, 9, "scalar");
		vecscan_set_isa(VECSCAN_AUTO);
		check_compressed(&fx);
		fixture_free(&fx);
	}
}

static void test_refused(void)
{
	struct fixture fx;
	fixture_make(&fx, 100, 8, 0);
	float nanq[8] = { 1, 2, NAN, 4, 5, 6, 7, 8 }, okq[8] = { 1, 0, 0, 0, 0, 0, 0, 0 };
	struct vec_query qs[2] = { { .q = nanq, .k = 3 }, { .q = okq, .k = 3 } };
	struct vec_hit h0[3], h1[3], *hits[2] = { h0, h1 };
	size_t nh[2];
	int rcs[2];
	int rc = vecbatch_run(fx.vi, 2, qs, hits, nh, rcs);
	ok(rc == 0 && rcs[0] == -EINVAL && nh[0] == 0 && rcs[1] == 0 && nh[1] == 3,
	   "a NaN query is refused alone; the rest of the batch runs (%d %d %zu)", rcs[0],
	   rcs[1], nh[1]);
	size_t n1;
	ok(vecbatch_search(fx.vi, &qs[0], h0, &n1) == -EINVAL && n1 == 0,
	   "vecbatch_search refuses a NaN query");
	fixture_free(&fx);
}

/* ---- many threads at once ---- */

#define TQ 48		/* distinct requests */
#define THREADS 16
#define ROUNDS 12

static struct fixture cfx;
static struct req creq[TQ];
static struct vec_hit *cwant[TQ];
static size_t cnwant[TQ];
static int cbad;

static void *hammer(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	struct vec_hit hits[64];
	for (int round = 0; round < ROUNDS; round++) {
		int i = (int)((t * 7 + (unsigned)round * 5) % TQ);
		struct vec_query q = as_query(&creq[i]);
		size_t n = 0;
		int rc = vecbatch_search(cfx.vi, &q, hits, &n);
		if (rc || !same(hits, n, cwant[i], cnwant[i]))
			__atomic_add_fetch(&cbad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_concurrent(void)
{
	fixture_make(&cfx, 30000, 128, 1);
	for (int i = 0; i < TQ; i++) {
		creq[i].q = malloc(cfx.dim * sizeof(float));
		clustered(creq[i].q, 1, cfx.dim);
		creq[i].k = 1 + (size_t)i % 40;
		if (i % 5 == 0)
			creq[i].flt.mod = 3;
		if (i % 7 == 0)
			make_cand(&cfx, &creq[i], 4, 0);
		struct vec_query q = as_query(&creq[i]);
		cwant[i] = malloc(creq[i].k * sizeof(struct vec_hit));
		vecindex_search_q(cfx.vi, &q, cwant[i], &cnwant[i]);
	}
	struct vecbatch_stats s0, s1;
	/* Coalescing on, off, then on over an int8 copy (the answers must
	 * still equal the float searches'). */
	static const char *passes[] = { "coalescing on", "coalescing off", "int8 copy" };
	for (int pass = 0; pass < 3; pass++) {
		vecbatch_set_enabled(pass != 1);
		if (pass == 2)
			vecindex_set_compress(cfx.vi, VEC_COMPRESS_INT8);
		vecbatch_get_stats(&s0);
		cbad = 0;
		pthread_t tid[THREADS];
		for (unsigned t = 0; t < THREADS; t++)
			pthread_create(&tid[t], NULL, hammer, (void *)(uintptr_t)t);
		for (unsigned t = 0; t < THREADS; t++)
			pthread_join(tid[t], NULL);
		vecbatch_get_stats(&s1);
		ok(cbad == 0, "%s: %d threads x %d searches, every answer equals the single "
		   "search (%d differ)", passes[pass], THREADS,
		   ROUNDS, cbad);
		ok(s1.searches - s0.searches == THREADS * ROUNDS, "every call counted (%llu)",
		   (unsigned long long)(s1.searches - s0.searches));
		if (pass != 1) {
			ok(s1.batches > s0.batches && s1.max_batch >= 2 &&
			   s1.max_batch <= VECBATCH_MAX,
			   "batches formed: %llu batches answered %llu queries, largest %llu",
			   (unsigned long long)(s1.batches - s0.batches),
			   (unsigned long long)(s1.batched - s0.batched),
			   (unsigned long long)s1.max_batch);
		} else {
			ok(s1.batches == s0.batches, "no batch with coalescing off");
		}
	}
	vecbatch_set_enabled(1);
	for (int i = 0; i < TQ; i++) {
		free(creq[i].q);
		free(creq[i].cand);
		free(cwant[i]);
	}
	fixture_free(&cfx);
}

int main(void)
{
	test_kernel();
	test_refused();
	test_concurrent();
	return tap_done();
}
