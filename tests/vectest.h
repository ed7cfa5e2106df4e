/* tests/vectest.h - what the vector tests (test_vecindex, test_vecscan,
 * test_vecbatch, test_vecquant, test_filter_index) share: a seeded
 * xorshift generator, embedding-like clustered data, the exact reference
 * score with its ordering, a counting filter, and an index of numbered rows
 * to search by brute force.
 *
 * A test defines VECTEST_SEED before including this: each keeps its own
 * stream, so its data stay the ones it was written against.
 */
#ifndef TESTS_VECTEST_H
#define TESTS_VECTEST_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/vecindex.h"

#ifndef VECTEST_SEED
#error "define VECTEST_SEED before including tests/vectest.h"
#endif

static uint64_t rng_state = VECTEST_SEED;

static inline uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

/* Uniform in [-1, 1). */
static inline float frand(void)
{
	return (float)rng() / 4294967296.0f * 2.0f - 1.0f;
}

/* Box-Muller: one standard normal from two draws. */
static inline float gauss(void)
{
	float u = ((float)rng() + 1.0f) / 4294967297.0f, v = (float)rng() / 4294967296.0f;
	return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

/* x = normalize(c_j + 0.7 B z / sqrt(rank) + 0.25 g / sqrt(dim)): nc centres,
 * the data of bench/vecbench.c at a smaller scale. */
struct mixture {
	uint32_t dim, nc, rank;	/* rank <= 64 */
	float *c, *b;
};

static inline void mixture_make(struct mixture *mx, uint32_t dim, uint32_t nc, uint32_t rank)
{
	*mx = (struct mixture){ dim, nc, rank, malloc((size_t)nc * dim * sizeof(float)),
				malloc((size_t)rank * dim * sizeof(float)) };
	for (size_t i = 0; i < (size_t)nc * dim; i++)
		mx->c[i] = gauss();
	for (size_t i = 0; i < (size_t)rank * dim; i++)
		mx->b[i] = gauss();
}

static inline void mixture_draw(const struct mixture *mx, float *v)
{
	const float *cj = mx->c + (rng() % mx->nc) * mx->dim;
	float z[64];
	double s = 0;
	for (uint32_t j = 0; j < mx->rank; j++)
		z[j] = gauss() * 0.7f / sqrtf((float)mx->rank);
	for (uint32_t i = 0; i < mx->dim; i++) {
		float x = cj[i] + 0.25f * gauss() / sqrtf((float)mx->dim);
		for (uint32_t j = 0; j < mx->rank; j++)
			x += mx->b[j * mx->dim + i] * z[j];
		v[i] = x;
		s += (double)x * x;
	}
	if (s > 0)
		for (uint32_t i = 0; i < mx->dim; i++)
			v[i] = (float)(v[i] / sqrt(s));
}

static inline void mixture_free(struct mixture *mx)
{
	free(mx->c);
	free(mx->b);
}

/* The formula of exact_cos in vecindex.c: bit-equal scores. */
static inline float ref_score(const float *r, const float *q, uint32_t dim)
{
	double qq = 0, dot = 0, rr = 0;
	for (uint32_t i = 0; i < dim; i++)
		qq += (double)q[i] * q[i];
	double qn = sqrt(qq);
	if (qn == 0)
		return 0;
	for (uint32_t i = 0; i < dim; i++) {
		dot += (double)r[i] * q[i];
		rr += (double)r[i] * r[i];
	}
	return rr == 0 ? 0 : (float)(dot / (sqrt(rr) * qn));
}

struct ref {
	float score;
	const char *id;
};

/* The order of search results: best score first, equal scores by id. */
static inline int cmp_ref(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return strcmp(x->id, y->id);
}

/* Filter: keep rows whose number (after the one-letter prefix) is 0 mod
 * f->mod; counts calls (atomically: split scans call it from helpers). */
struct flt {
	unsigned mod;
	size_t calls;
};

static inline int keep_mod(void *ctx, size_t row, const char *id)
{
	struct flt *f = ctx;
	__atomic_add_fetch(&f->calls, 1, __ATOMIC_RELAXED);
	return strtoul(id + 1, NULL, 10) % f->mod == 0;
}

/* n rows of dim floats, kept beside the index that holds them as "r<i>"
 * (each test fills them its own way). */
struct fixture {
	struct vecindex *vi;
	float *data;
	size_t n;
	uint32_t dim;
};

static inline void fixture_free(struct fixture *fx)
{
	vecindex_free(fx->vi);
	free(fx->data);
}

/* Brute force: the k best rows whose number is 0 mod mod (0: all) and
 * whose bit is set in cand (NULL: all), into out; returns how many. */
static inline size_t reference(const struct fixture *fx, const float *q, size_t k, unsigned mod,
			       const uint64_t *cand, struct ref *out)
{
	size_t m = 0;
	for (size_t i = 0; i < fx->n; i++) {
		if ((mod && i % mod) || (cand && !(cand[i >> 6] >> (i & 63) & 1)))
			continue;
		out[m].score = ref_score(fx->data + i * fx->dim, q, fx->dim);
		out[m++].id = vecindex_id(fx->vi, i);
	}
	qsort(out, m, sizeof(*out), cmp_ref);
	return m < k ? m : k;
}

#endif
