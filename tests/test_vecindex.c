/* Unit tests: store/vecindex.c */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/vecindex.h"
#include "tests/tap.h"

#define VECTEST_SEED 0x9e3779b97f4a7c15ULL
#include "tests/vectest.h"

static void rand_vec(float *v, uint32_t dim)
{
	for (uint32_t i = 0; i < dim; i++)
		v[i] = frand();
}

static double ref_cos(const float *a, const float *b, uint32_t dim)
{
	double d = 0, na = 0, nb = 0;
	for (uint32_t i = 0; i < dim; i++) {
		d += (double)a[i] * b[i];
		na += (double)a[i] * a[i];
		nb += (double)b[i] * b[i];
	}
	return na == 0 || nb == 0 ? 0 : d / (sqrt(na) * sqrt(nb));
}

/* A reference hit by row, scored in double: compared within 1e-5 (the
 * exact struct ref of tests/vectest.h is for bit-equal scores). */
struct dref {
	double score;
	size_t row;
};

static int cmp_dref(const void *a, const void *b)
{
	const struct dref *x = a, *y = b;
	return x->score < y->score ? 1 : x->score > y->score ? -1 : 0;
}

/* Keep rows whose id ends in an even digit; counts calls. */
struct even_ctx {
	size_t calls;
};

static int keep_even(void *ctx, size_t row, const char *id)
{
	struct even_ctx *c = ctx;
	c->calls++;
	return (id[strlen(id) - 1] - '0') % 2 == 0;
}

static int keep_none(void *ctx, size_t row, const char *id)
{
	return 0;
}

/* Random n x dim index against a double brute force. */
static void check_random(size_t n, uint32_t dim, size_t k, int filtered)
{
	struct vecindex *vi;
	char id[32];
	float *data = malloc((n ? n : 1) * dim * sizeof(float));
	float *q = malloc(dim * sizeof(float));
	struct vec_hit *hits = malloc((k ? k : 1) * sizeof(*hits));
	struct dref *ref = malloc((n ? n : 1) * sizeof(*ref));
	int rc = vecindex_new(dim, &vi), good = 1;
	for (size_t i = 0; i < n && !rc; i++) {
		rand_vec(data + i * dim, dim);
		snprintf(id, sizeof(id), "n%zu", i);
		rc = vecindex_set(vi, id, data + i * dim);
	}
	ok(!rc && vecindex_count(vi) == n, "n=%zu dim=%u: built", n, dim);
	rand_vec(q, dim);
	size_t cand = 0;
	for (size_t i = 0; i < n; i++) {
		if (filtered && i % 2)
			continue;
		ref[cand].score = ref_cos(data + i * dim, q, dim);
		ref[cand++].row = i;
	}
	qsort(ref, cand, sizeof(*ref), cmp_dref);
	struct even_ctx ec = { 0 };
	size_t nh = 12345;
	rc = vecindex_search(vi, q, k, filtered ? keep_even : NULL, &ec, hits, &nh);
	size_t want = k < cand ? k : cand;
	ok(rc == 0 && nh == want, "n=%zu dim=%u k=%zu%s: %zu hits (want %zu)", n, dim, k,
	   filtered ? " filtered" : "", nh, want);
	for (size_t i = 0; i < nh && i < want; i++) {
		const char *hid = vecindex_id(vi, hits[i].row);
		size_t orig = strtoul(hid + 1, NULL, 10);
		double truth = ref_cos(data + orig * dim, q, dim);
		/* The i-th hit must score like the i-th reference (near-ties may
		 * swap rows, never scores) and like its own row. */
		if (fabs(hits[i].score - ref[i].score) > 1e-5 ||
		    fabs(hits[i].score - truth) > 1e-5 || (filtered && orig % 2)) {
			diag("hit %zu: %s %.9g, ref %zu %.9g, truth %.9g", i, hid,
			     hits[i].score, ref[i].row, ref[i].score, truth);
			good = 0;
		}
		if (i && hits[i].score > hits[i - 1].score)
			good = 0;
		for (size_t j = 0; j < i; j++)
			if (hits[j].row == hits[i].row)
				good = 0;
	}
	ok(good, "n=%zu dim=%u k=%zu%s: matches brute force", n, dim, k,
	   filtered ? " filtered" : "");
	if (filtered)
		ok(ec.calls <= n, "filter called at most once per row (%zu calls)", ec.calls);
	vecindex_free(vi);
	free(data);
	free(q);
	free(hits);
	free(ref);
}

static void test_random(void)
{
	check_random(0, 3, 5, 0);
	check_random(1, 3, 5, 0);
	check_random(1, 384, 1, 0);
	check_random(7, 3, 10, 0);
	check_random(7, 3, 10, 1);
	check_random(100, 3, 10, 0);
	check_random(100, 384, 0, 0);
	check_random(1000, 384, 10, 0);
	check_random(1000, 17, 50, 1);
	check_random(16384, 8, 5, 0);
	check_random(16384 * 2 + 123, 3, 10, 0);
	check_random(16384 + 7, 384, 20, 1);
	check_random(40000, 1, 3, 0);
}

static void test_ties(void)
{
	struct vecindex *vi;
	enum { TD = 384 };
	float v[TD], w[TD], q[TD], f[TD];
	const char *names[] = { "m", "c", "x", "a", "q", "b", "zz", "d", "e" };
	struct vec_hit hits[64];
	size_t nh;
	char id[16];
	rand_vec(v, TD);
	rand_vec(w, TD);
	for (int i = 0; i < TD; i++)
		q[i] = v[i] + 0.01f * frand();
	vecindex_new(TD, &vi);
	/* Copies at many positions (between random fillers), so some land in
	 * the rows BLAS kernels sum in a different order. */
	for (int i = 0; i < 9; i++) {
		vecindex_set(vi, names[i], v);
		for (int j = 0; j < 3; j++) {
			rand_vec(f, TD);
			snprintf(id, sizeof(id), "f%d.%d", i, j);
			vecindex_set(vi, id, f);
		}
	}
	for (int i = 0; i < 40; i++) {
		snprintf(id, sizeof(id), "w%02d", i);
		vecindex_set(vi, id, w);
	}
	is_int(vecindex_search(vi, q, 9, NULL, NULL, hits, &nh), 0, "ties: search");
	const char *want[] = { "a", "b", "c", "d", "e", "m", "q", "x", "zz" };
	int good = nh == 9;
	for (size_t i = 0; i < nh && good; i++)
		good = !strcmp(vecindex_id(vi, hits[i].row), want[i]) &&
		       hits[i].score == hits[0].score;
	ok(good, "equal vectors: equal scores, ids ascending");
	is_int(vecindex_search(vi, q, 3, NULL, NULL, hits, &nh), 0, "ties, k < ties");
	ok(nh == 3 && !strcmp(vecindex_id(vi, hits[0].row), "a") &&
	   !strcmp(vecindex_id(vi, hits[2].row), "c"), "a tie cut by k keeps the smallest ids");
	is_int(vecindex_search(vi, w, 45, NULL, NULL, hits, &nh), 0, "ties over 40 rows");
	good = nh == 45;
	for (size_t i = 0; i < 40 && good; i++) {
		snprintf(id, sizeof(id), "w%02zu", i);
		good = !strcmp(vecindex_id(vi, hits[i].row), id) &&
		       hits[i].score == hits[0].score;
	}
	ok(good, "40 identical rows score the same and order by id");
	ok(good && hits[40].score < hits[39].score, "then the rest");
	vecindex_free(vi);
}

static void test_filter_cb(void)
{
	struct vecindex *vi;
	float v[3];
	char id[16];
	struct vec_hit hits[8];
	size_t nh;
	vecindex_new(3, &vi);
	for (int i = 0; i < 50; i++) {
		rand_vec(v, 3);
		snprintf(id, sizeof(id), "r%d", i);
		vecindex_set(vi, id, v);
	}
	rand_vec(v, 3);
	is_int(vecindex_search(vi, v, 8, keep_none, NULL, hits, &nh), 0, "filter rejects all");
	is_int(nh, 0, "no hits when the filter keeps nothing");
	struct even_ctx ec = { 0 };
	is_int(vecindex_search(vi, v, 8, keep_even, &ec, hits, &nh), 0, "filter even");
	int good = nh == 8;
	for (size_t i = 0; i < nh; i++) {
		const char *s = vecindex_id(vi, hits[i].row);
		good &= (s[strlen(s) - 1] - '0') % 2 == 0;
	}
	ok(good, "only rows the filter keeps come back");
	ok(ec.calls >= 8 && ec.calls <= 50, "filter calls in range (%zu)", ec.calls);
	vecindex_free(vi);
}

static void test_mutations(void)
{
	struct vecindex *vi;
	float a[4] = { 1, 0, 0, 0 }, b[4] = { 0, 1, 0, 0 }, c[4] = { 0, 0, 1, 0 };
	float d[4] = { 0, 0, 0, 1 }, q[4] = { 0, 0, 0, 0 };
	struct vec_hit hits[4];
	size_t nh;
	is_int(vecindex_new(0, &vi), -EINVAL, "dim 0 refused");
	is_int(vecindex_new(4, &vi), 0, "new");
	is_int(vecindex_dim(vi), 4, "dim");
	is_int(vecindex_count(vi), 0, "empty");
	is_int(vecindex_find(vi, "a"), -ENOENT, "find on empty");
	ok(vecindex_id(vi, 0) == NULL && vecindex_row(vi, 0) == NULL, "out of range rows: NULL");
	is_int(vecindex_remove(vi, "a"), -ENOENT, "remove missing");
	vecindex_set(vi, "a", a);
	vecindex_set(vi, "b", b);
	vecindex_set(vi, "c", c);
	vecindex_set(vi, "d", d);
	is_int(vecindex_count(vi), 4, "four rows");
	is_int(vecindex_find(vi, "c"), 2, "rows in insert order");
	/* Replace keeps the row and count. */
	is_int(vecindex_set(vi, "b", a), 0, "replace");
	is_int(vecindex_count(vi), 4, "replace keeps count");
	ok(!memcmp(vecindex_row(vi, 1), a, sizeof(a)), "replace changes the vector");
	/* Remove a middle row: the last moves into the hole. */
	is_int(vecindex_remove(vi, "b"), 0, "remove b");
	is_int(vecindex_count(vi), 3, "three rows");
	is_int(vecindex_find(vi, "b"), -ENOENT, "b gone");
	is_int(vecindex_find(vi, "d"), 1, "d moved into b's row");
	ok(!strcmp(vecindex_id(vi, 1), "d") && !memcmp(vecindex_row(vi, 1), d, sizeof(d)),
	   "moved row keeps id and vector");
	is_int(vecindex_remove(vi, "c"), 0, "remove the last row");
	is_int(vecindex_find(vi, "d"), 1, "d stays");
	is_int(vecindex_rename(vi, "x", "y"), -ENOENT, "rename missing");
	is_int(vecindex_rename(vi, "a", "d"), -EEXIST, "rename onto existing");
	is_int(vecindex_rename(vi, "a", "a"), 0, "rename to itself");
	is_int(vecindex_rename(vi, "a", "z"), 0, "rename a -> z");
	is_int(vecindex_find(vi, "a"), -ENOENT, "a gone after rename");
	is_int(vecindex_find(vi, "z"), 0, "z has a's row");
	ok(!strcmp(vecindex_id(vi, 0), "z") && !memcmp(vecindex_row(vi, 0), a, sizeof(a)),
	   "rename keeps the vector");
	q[3] = 2;
	is_int(vecindex_search(vi, q, 4, NULL, NULL, hits, &nh), 0, "search after edits");
	ok(nh == 2 && !strcmp(vecindex_id(vi, hits[0].row), "d") && hits[0].score == 1.0f &&
	   !strcmp(vecindex_id(vi, hits[1].row), "z") && hits[1].score == 0.0f,
	   "search sees renamed and moved rows");
	is_int(vecindex_remove(vi, "z"), 0, "remove z");
	is_int(vecindex_remove(vi, "d"), 0, "remove d");
	is_int(vecindex_count(vi), 0, "empty again");
	is_int(vecindex_search(vi, q, 4, NULL, NULL, hits, &nh), 0, "search empty");
	is_int(nh, 0, "no hits");
	/* Reuse after emptying, and many rows through growth. */
	char id[16];
	int good = 1;
	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "g%d", i);
		q[0] = (float)i;
		good &= vecindex_set(vi, id, q) == 0;
	}
	for (int i = 0; i < 1000; i += 3) {
		snprintf(id, sizeof(id), "g%d", i);
		good &= vecindex_remove(vi, id) == 0;
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "g%d", i);
		long r = vecindex_find(vi, id);
		if (i % 3 == 0) {
			good &= r == -ENOENT;
		} else {
			good &= r >= 0 && !strcmp(vecindex_id(vi, (size_t)r), id) &&
				vecindex_row(vi, (size_t)r)[0] == (float)i;
		}
	}
	ok(good && vecindex_count(vi) == 666, "1000 inserts, 334 removes: map and rows agree");
	ok(((uintptr_t)vecindex_row(vi, 0) & 63) == 0, "matrix is 64-byte aligned");
	vecindex_free(vi);
}

static void test_bad_values(void)
{
	struct vecindex *vi;
	float v[3] = { 1, 2, 3 }, z[3] = { 0, 0, 0 };
	struct vec_hit hits[4];
	size_t nh;
	vecindex_new(3, &vi);
	v[1] = NAN;
	is_int(vecindex_set(vi, "a", v), -EINVAL, "NaN refused");
	v[1] = INFINITY;
	is_int(vecindex_set(vi, "a", v), -EINVAL, "Inf refused");
	v[1] = -INFINITY;
	is_int(vecindex_set(vi, "a", v), -EINVAL, "-Inf refused");
	is_int(vecindex_count(vi), 0, "nothing stored");
	v[1] = 2;
	vecindex_set(vi, "a", v);
	v[2] = NAN;
	is_int(vecindex_set(vi, "a", v), -EINVAL, "NaN replace refused");
	ok(vecindex_row(vi, 0)[2] == 3.0f, "refused replace keeps the old vector");
	is_int(vecindex_search(vi, v, 4, NULL, NULL, hits, &nh), -EINVAL, "NaN query refused");
	v[2] = INFINITY;
	is_int(vecindex_search(vi, v, 4, NULL, NULL, hits, &nh), -EINVAL, "Inf query refused");
	/* Zero vectors: a zero row scores 0, a zero query scores 0 everywhere. */
	is_int(vecindex_set(vi, "b", z), 0, "zero vector stored");
	v[2] = 3;
	is_int(vecindex_search(vi, v, 4, NULL, NULL, hits, &nh), 0, "search with a zero row");
	ok(nh == 2 && !strcmp(vecindex_id(vi, hits[0].row), "a") &&
	   fabsf(hits[0].score - 1) < 1e-6 && hits[1].score == 0, "zero row scores 0");
	is_int(vecindex_search(vi, z, 4, NULL, NULL, hits, &nh), 0, "zero query");
	ok(nh == 2 && hits[0].score == 0 && hits[1].score == 0 &&
	   !strcmp(vecindex_id(vi, hits[0].row), "a"), "zero query: all 0, by id");
	/* Extreme but finite magnitudes still give sane cosines. */
	float big[3] = { 3e38f, 3e38f, 0 }, tiny[3] = { 1e-44f, 1e-44f, 0 };
	float qq[3] = { 1, 1, 0 };
	vecindex_set(vi, "big", big);
	vecindex_set(vi, "tiny", tiny);
	is_int(vecindex_search(vi, qq, 4, NULL, NULL, hits, &nh), 0, "extreme magnitudes");
	ok(nh == 4 && fabsf(hits[0].score - 1) < 1e-6 && fabsf(hits[1].score - 1) < 1e-6 &&
	   !strcmp(vecindex_id(vi, hits[0].row), "big") &&
	   !strcmp(vecindex_id(vi, hits[1].row), "tiny"), "huge and tiny rows score 1");
	float tq[3] = { 1e-40f, 1e-40f, 0 };
	is_int(vecindex_search(vi, tq, 1, NULL, NULL, hits, &nh), 0, "denormal query");
	ok(nh == 1 && fabsf(hits[0].score - 1) < 1e-6, "denormal query scores 1 (%g)",
	   nh ? hits[0].score : -9);
	vecindex_free(vi);
}

static void test_roundtrip(void)
{
	struct vecindex *vi;
	uint32_t dim = 384;
	float v[384];
	uint32_t bits[384];
	/* Awkward bit patterns: -0, denormals, extremes, odd mantissas. */
	for (uint32_t i = 0; i < dim; i++)
		bits[i] = rng() & 0xff7fffffu; /* exponent never all ones */
	bits[0] = 0x80000000u;
	bits[1] = 0x00000001u;
	bits[2] = 0x7f7fffffu;
	bits[3] = 0xff7fffffu;
	memcpy(v, bits, sizeof(v));
	vecindex_new(dim, &vi);
	is_int(vecindex_set(vi, "rt", v), 0, "set awkward bits");
	ok(!memcmp(vecindex_row(vi, 0), bits, sizeof(bits)), "row reads back byte-exact");
	float w[384];
	rand_vec(w, dim);
	vecindex_set(vi, "other", w);
	vecindex_remove(vi, "rt");
	ok(!memcmp(vecindex_row(vi, 0), w, sizeof(w)), "moved row is byte-exact");
	vecindex_free(vi);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Timing only with RAGFS_BENCH set: unit tests stay fast. */
static void bench(void)
{
	if (!getenv("RAGFS_BENCH"))
		return;
	size_t n = 100000;
	uint32_t dim = 384;
	struct vecindex *vi;
	float v[384];
	char id[32];
	struct vec_hit hits[10];
	size_t nh;
	openblas_set_num_threads(1);
	vecindex_new(dim, &vi);
	for (size_t i = 0; i < n; i++) {
		rand_vec(v, dim);
		snprintf(id, sizeof(id), "node-%zu", i);
		vecindex_set(vi, id, v);
	}
	double best = 1e9, sum = 0;
	int runs = 20;
	for (int r = 0; r < runs; r++) {
		rand_vec(v, dim);
		double t0 = now();
		vecindex_search(vi, v, 10, NULL, NULL, hits, &nh);
		double t = now() - t0;
		sum += t;
		if (t < best)
			best = t;
	}
	diag("bench 100000 x 384 top-10, 1 thread: best %.2f ms, mean %.2f ms", best * 1e3,
	     sum / runs * 1e3);
	vecindex_free(vi);
}

/* The id -> row table (rowmap.c) under random inserts, replacements,
 * removals (which move the last row) and renames, against a plain model:
 * every id of the universe must be found exactly where its vector is, or
 * not at all. 3000 ids cycle in and out, so runs wrap around the table and
 * backward-shift deletion meets every case. */
#define RM_IDS 3000
static void test_rowmap_random(void)
{
	struct vecindex *vi;
	vecindex_new(2, &vi);
	static int present[RM_IDS];
	static float val[RM_IDS];
	char id[16], to[16];
	int good = 1, checks = 0;
	size_t n = 0;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (int op = 0; op < 60000 && good; op++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int i = (int)(x % RM_IDS), kind = (int)(x >> 32) % 10;
		snprintf(id, sizeof(id), "n%d", i);
		if (kind < 5) {				/* insert or replace */
			float v[2] = { (float)op, 1 };
			good &= vecindex_set(vi, id, v) == 0;
			n += !present[i];
			present[i] = 1;
			val[i] = (float)op;
		} else if (kind < 8) {			/* remove */
			good &= vecindex_remove(vi, id) == (present[i] ? 0 : -ENOENT);
			n -= present[i];
			present[i] = 0;
		} else {				/* rename to another id */
			int j = (int)((x >> 20) % RM_IDS);
			snprintf(to, sizeof(to), "n%d", j);
			int want = !present[i] ? -ENOENT : i == j ? 0 : present[j] ? -EEXIST : 0;
			good &= vecindex_rename(vi, id, to) == want;
			if (!want && i != j) {
				present[j] = 1, val[j] = val[i];
				present[i] = 0;
			}
		}
		if (op % 1000 != 999)
			continue;
		checks++;
		good &= vecindex_count(vi) == n;
		for (int k = 0; k < RM_IDS && good; k++) {
			snprintf(id, sizeof(id), "n%d", k);
			long r = vecindex_find(vi, id);
			good &= present[k] ? r >= 0 && !strcmp(vecindex_id(vi, (size_t)r), id) &&
						   vecindex_row(vi, (size_t)r)[0] == val[k]
					   : r == -ENOENT;
		}
	}
	ok(good && checks == 60, "60,000 random sets, removes and renames: every id found at "
	   "its vector's row, or not at all (%d checks)", checks);
	vecindex_free(vi);
}

int main(void)
{
	test_rowmap_random();
	test_random();
	test_ties();
	test_filter_cb();
	test_mutations();
	test_bad_values();
	test_roundtrip();
	bench();
	return tap_done();
}
