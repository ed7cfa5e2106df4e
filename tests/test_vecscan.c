/* Unit tests: the scan kernels and thread split in store/vecindex.c.
 *
 * Every search runs with the scalar and the AVX2 kernel, on one thread and
 * split, and must equal a brute-force reference exactly: the same ids in the
 * same order with bit-equal scores (the reported score is always the exact
 * double re-score, whichever kernel or thread screened the row).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/vecindex.h"
#include "store/vecscan.h"
#include "tests/tap.h"

#define VECTEST_SEED 0x243f6a8885a308d3ULL
#include "tests/vectest.h"

/* Embedding-like: a fresh mixture of 20 centres with low-rank (8)
 * variation for each call. */
static void clustered(float *data, size_t n, uint32_t dim)
{
	struct mixture mx;
	mixture_make(&mx, dim, 20, 8);
	for (size_t r = 0; r < n; r++)
		mixture_draw(&mx, data + r * dim);
	mixture_free(&mx);
}

/* dups: every 997th row copies row 5, so equal vectors straddle chunks. */
static int fixture_make(struct fixture *fx, size_t n, uint32_t dim, int clust, int dups)
{
	char id[32];
	fx->n = n;
	fx->dim = dim;
	fx->data = malloc((n ? n : 1) * dim * sizeof(float));
	int rc = vecindex_new(dim, &fx->vi);
	if (clust)
		clustered(fx->data, n, dim);
	else
		for (size_t i = 0; i < n * dim; i++)
			fx->data[i] = frand();
	for (size_t i = 0; i < n && !rc; i++) {
		if (dups && i > 5 && i % 997 == 0)
			memcpy(fx->data + i * dim, fx->data + 5 * dim, dim * sizeof(float));
		snprintf(id, sizeof(id), "r%zu", i);
		rc = vecindex_set(fx->vi, id, fx->data + i * dim);
	}
	return rc;
}

struct mode {
	enum vecscan_isa isa;
	unsigned threads;
	const char *name;
};

static const struct mode modes[] = {
	{ VECSCAN_SCALAR, 1, "scalar/1T" },
	{ VECSCAN_SCALAR, 0, "scalar/split" },
	{ VECSCAN_AVX2, 1, "avx2/1T" },
	{ VECSCAN_AVX2, 0, "avx2/split" },
};

static int have_avx2;

/* Search q in every mode; each must equal the reference exactly. */
static void check(const struct fixture *fx, const float *q, size_t k, unsigned mod,
		  const char *what)
{
	struct ref *ref = malloc((fx->n ? fx->n : 1) * sizeof(*ref));
	struct vec_hit *hits = malloc((k ? k : 1) * sizeof(*hits));
	struct vec_hit *first = malloc((k ? k : 1) * sizeof(*hits));
	size_t want = reference(fx, q, k, mod, NULL, ref), nfirst = 0;
	for (size_t mi = 0; mi < sizeof(modes) / sizeof(modes[0]); mi++) {
		const struct mode *m = &modes[mi];
		if (m->isa == VECSCAN_AVX2 && !have_avx2)
			continue;
		vecscan_set_isa(m->isa);
		vecscan_set_threads(m->threads);
		struct flt f = { mod ? mod : 1, 0 };
		size_t nh = 12345;
		int rc = vecindex_search(fx->vi, q, k, mod ? keep_mod : NULL, &f, hits, &nh);
		int good = rc == 0 && nh == want;
		for (size_t i = 0; good && i < nh; i++) {
			good = hits[i].score == ref[i].score &&
			       !strcmp(vecindex_id(fx->vi, hits[i].row), ref[i].id);
			if (!good)
				diag("hit %zu: %s %.9g, want %s %.9g", i,
				     vecindex_id(fx->vi, hits[i].row), hits[i].score, ref[i].id,
				     ref[i].score);
		}
		ok(good, "%s n=%zu dim=%u k=%zu%s [%s]: %zu hits equal the reference", what,
		   fx->n, fx->dim, k, mod ? " filtered" : "", m->name, nh);
		if (mod)
			ok(f.calls <= fx->n, "[%s] filter called at most once per row (%zu)",
			   m->name, f.calls);
		if (!mi) {
			memcpy(first, hits, nh * sizeof(*hits));
			nfirst = nh;
		} else {
			ok(nh == nfirst && !memcmp(first, hits, nh * sizeof(*hits)),
			   "[%s] same rows and bit-equal scores as scalar/1T", m->name);
		}
	}
	vecscan_set_isa(VECSCAN_AUTO);
	vecscan_set_threads(0);
	free(ref);
	free(hits);
	free(first);
}

static void run(size_t n, uint32_t dim, int clust, size_t k)
{
	struct fixture fx;
	int rc = fixture_make(&fx, n, dim, clust, 1);
	ok(!rc, "%s n=%zu dim=%u built", clust ? "clustered" : "random", n, dim);
	float *q = malloc(dim * sizeof(float));
	const char *what = clust ? "clustered" : "random";
	/* A fresh query, a stored row (hits itself and its copies), filtered. */
	if (clust)
		clustered(q, 1, dim);
	else
		for (uint32_t i = 0; i < dim; i++)
			q[i] = frand();
	check(&fx, q, k, 0, what);
	check(&fx, q, k, 2, what);
	check(&fx, q, k, 1000, what);
	if (n > 5) {
		memcpy(q, fx.data + 5 * dim, dim * sizeof(float));
		check(&fx, q, k, 0, "stored row");
	}
	memset(q, 0, dim * sizeof(float));
	check(&fx, q, k < 5 ? k : 5, 0, "zero query");
	free(q);
	fixture_free(&fx);
}

static void test_hooks(void)
{
	ok(!strcmp(vecscan_isa_name(), "scalar"), "RAGFS_VEC_SCALAR=1 selects scalar (%s)",
	   vecscan_isa_name());
	have_avx2 = vecscan_set_isa(VECSCAN_AVX2) == 0;
	if (have_avx2)
		ok(!strcmp(vecscan_isa_name(), "avx2"), "AVX2 forced");
	else
		diag("no AVX2+FMA on this CPU: AVX2 cases skipped");
	is_int(vecscan_set_isa(VECSCAN_SCALAR), 0, "scalar forced");
	ok(!strcmp(vecscan_isa_name(), "scalar"), "scalar in use");
	is_int(vecscan_set_isa((enum vecscan_isa)42), -EINVAL, "unknown isa refused");
	vecscan_set_isa(VECSCAN_AUTO);
	vecscan_set_threads(1);
	is_int(vecscan_threads(), 1, "threads capped to 1");
	vecscan_set_threads(0);
	diag("kernel %s, %u threads per large search", vecscan_isa_name(), vecscan_threads());
}

int main(void)
{
	/* Read once, at the first search or hook call. */
	setenv("RAGFS_VEC_SCALAR", "1", 1);
	test_hooks();
	run(0, 3, 0, 5);
	run(1, 384, 0, 3);
	run(7, 3, 0, 10);
	run(100, 17, 1, 10);
	run(1000, 384, 1, 10);
	run(3000, 31, 0, 50);
	/* Above the default split threshold (8 MiB): 15 and 9 chunks. */
	run(20000, 384, 1, 10);
	run(70000, 64, 0, 20);
	/* Everything split, even tiny matrices (one chunk: helpers idle). */
	vecscan_set_par_bytes(1);
	run(500, 40, 1, 7);
	run(5000, 384, 1, 100);
	vecscan_set_par_bytes(0);
	return tap_done();
}
