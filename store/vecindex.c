/* store/vecindex.c - see vecindex.h
 *
 * Search is two-pass per block: cblas_sgemv screens every row in float, and
 * only rows whose screening score could reach the current top k are scored
 * again with a scalar double loop. The reported score is always the double
 * one, so equal vectors get bit-equal scores wherever they sit in the matrix
 * (OpenBLAS kernels sum tail rows in a different order than the body, which
 * would otherwise break the "ties by id" rule).
 */
#include "vecindex.h"

#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

#define VI_ALIGN 64
/* Rows scored per sgemv call: bounds the per-search scratch to 64 KiB. */
#define VI_BLOCK 16384
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
	/* BLAS takes int sizes. */
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
	if (posix_memalign(&mat, VI_ALIGN, cap * rowb))
		return -ENOMEM;
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
 * build with -ffast-math), so the result depends only on the two vectors. */
static float exact_cos(const float *r, const float *q, uint32_t dim, double qnorm)
{
	double dot = 0, rr = 0;
	for (uint32_t i = 0; i < dim; i++) {
		dot += (double)r[i] * q[i];
		rr += (double)r[i] * r[i];
	}
	if (rr == 0 || qnorm == 0)
		return 0;
	return (float)(dot / (sqrt(rr) * qnorm));
}

struct search {
	const struct vecindex *vi;
	const float *q;
	double qnorm;
	size_t k;
	vecindex_filter_fn filter;
	void *ctx;
	struct vec_hit *heap;	/* min-heap: the worst kept hit on top */
	size_t len;
};

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

static int keep(struct search *s, size_t row)
{
	return !s->filter || s->filter(s->ctx, row, s->vi->ids[row]);
}

/* Offer a row whose screening score is approx (NAN: unknown). */
static void offer(struct search *s, size_t row, float approx, float margin)
{
	const struct vecindex *vi = s->vi;
	const float *r = vi->mat + row * vi->dim;
	struct vec_hit h = { 0, (uint32_t)row };
	if (s->len < s->k) {
		/* Filter first: a rejected row then costs no exact scoring. */
		if (!keep(s, row))
			return;
		h.score = exact_cos(r, s->q, vi->dim, s->qnorm);
		s->heap[s->len] = h;
		sift_up(vi, s->heap, s->len++);
		return;
	}
	if (isfinite(approx) && approx < s->heap[0].score - margin)
		return;
	h.score = exact_cos(r, s->q, vi->dim, s->qnorm);
	/* The filter last: it may be the costliest step. */
	if (!worse(vi, &s->heap[0], &h) || !keep(s, row))
		return;
	s->heap[0] = h;
	sift_down(vi, s->heap, s->len, 0);
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
	struct search s = { .vi = vi, .q = q, .qnorm = norm_d(q, dim), .k = k,
			    .filter = filter, .ctx = ctx, .heap = hits };
	if (s.qnorm == 0) {
		/* Everything scores 0: the order is by id alone. */
		for (size_t row = 0; row < vi->n; row++)
			offer(&s, row, 0, 0);
	} else {
		/* Screening error bound: sgemv's n*u on |r||q| (Cauchy-Schwarz),
		 * plus rounding of the unit query, doubled for safety. */
		float margin = (float)((dim + 8.0) * 0x1p-23);
		size_t blk = vi->n < VI_BLOCK ? vi->n : VI_BLOCK;
		float *unit = malloc((size_t)dim * sizeof(*unit));
		float *scores = malloc(blk * sizeof(*scores));
		if (!unit || !scores) {
			free(unit);
			free(scores);
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < dim; i++)
			unit[i] = (float)(q[i] / s.qnorm);
		for (size_t base = 0; base < vi->n; base += blk) {
			size_t m = vi->n - base < blk ? vi->n - base : blk;
			cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)dim, 1.0f,
				    vi->mat + base * dim, (int)dim, unit, 1, 0.0f, scores, 1);
			for (size_t i = 0; i < m; i++) {
				double inv = vi->inv_norm[base + i];
				/* NaN inv (extreme norm) forces the exact path. */
				offer(&s, base + i, (float)(scores[i] * inv), margin);
			}
		}
		free(unit);
		free(scores);
	}
	/* Heap sort: pop the worst to the back, leaving best first. */
	size_t len = s.len;
	while (len > 1) {
		struct vec_hit t = hits[0];
		hits[0] = hits[--len];
		hits[len] = t;
		sift_down(vi, hits, len, 0);
	}
	*nhits = s.len;
	return 0;
}
