/* store/vecindex_int.h - the vecindex's insides, shared by the search
 * kernels: vecindex.c (storage, the float scan), vecquant.c (the compressed
 * scan) and vecbatch.c (batches). Nothing else includes this.
 *
 * The invariant every kernel keeps: a row enters a result only through
 * vi_offer, which scores it with vecindex_cosine in vecindex.c (scalar double,
 * reported as float) and orders hits by (score desc, id asc), and the
 * filter says yes. Kernels differ only in how
 * they screen rows before offering them, and screening may only skip a row
 * whose exact score provably cannot reach the current k-th best. So every
 * kernel returns the same rows, in the same order, with bit-equal scores.
 */
#ifndef STORE_VECINDEX_INT_H
#define STORE_VECINDEX_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "bigmem.h"
#include "rowmap.h"
#include "vecindex.h"

struct vecquant;

struct vecindex {
	uint32_t dim;
	size_t n, cap;
	float *mat;		/* cap * dim floats: matmem.data, VI_ALIGN aligned */
	struct bigmem matmem;	/* 2 MiB aligned, huge pages, when large */
	double *inv_norm;	/* 0 for the zero vector, NaN for "always exact" */
	char **ids;		/* owned copies, one per row */
	struct rowmap rows;	/* id -> row; the keys are ids[] */
	struct vecquant *vq;	/* compressed copy, or NULL */
};

/* Rows screened per kernel call; their scores stay in L1. */
#define VI_TILE 32
/* Bytes of (float) matrix per chunk handed to a thread. */
#define VI_CHUNK (2u << 20)
/* A candidate bitmap with at most 1/VI_SPARSE_DIV of the rows set is walked
 * row by row (random rows cost about twice a streamed one, and the bitmap
 * walk is cheap), otherwise the matrix is streamed and masked. */
#define VI_SPARSE_DIV 8

/* out[i] = dot(row i, u) for n rows of m (row stride dim). */
typedef void (*vi_dots_fn)(const float *m, size_t n, uint32_t dim, const float *u,
			   float *out);

/* One search's fixed inputs. */
struct search {
	const struct vecindex *vi;
	const float *q, *unit;	/* the query, and q / |q| in float */
	double qnorm;
	float margin;		/* bound on a float screening score's error */
	size_t k;
	vi_dots_fn dots;
	vecindex_filter_fn filter;
	void *ctx;
	const uint64_t *cand;	/* NULL or the candidate bitmap */
	pthread_mutex_t *flock;	/* serialises filter calls when split */
};

/* One participant's top k: a min-heap, the worst kept hit on top. */
struct part {
	struct vec_hit *heap;
	size_t len;
	float thr;		/* rows screening below this cannot enter */
};

static inline int vi_cand(const uint64_t *cand, size_t row)
{
	return !cand || (cand[row >> 6] >> (row & 63) & 1);
}

/* Fill s for vq (unit must hold dim floats). -EINVAL for NaN/Inf in q. */
int vi_search_init(struct search *s, const struct vecindex *vi, const struct vec_query *vq,
		   float *unit);
/* The filter for row (serialised by s->flock when set): 1 keep, 0 skip. */
int vi_keep(struct search *s, size_t row);
/* Offer a row that screened at or above p->thr: scored exactly, filtered
 * (unless kept says it already passed), kept if among the k best. */
void vi_offer(struct search *s, struct part *p, size_t row, int kept);
/* Merge one hit into a bounded heap of k. */
void vi_heap_offer(const struct vecindex *vi, struct vec_hit *heap, size_t *len, size_t k,
		   struct vec_hit h);
/* Heap-sort a heap of len hits into best-first order. */
void vi_heap_sort(const struct vecindex *vi, struct vec_hit *heap, size_t len);
/* The dots kernel in use (vecscan_set_isa). */
vi_dots_fn vi_pick_dots(void);
/* Threads for a scan of this many bytes (1 below the split threshold). */
unsigned vi_threads_for(size_t bytes);

#endif
