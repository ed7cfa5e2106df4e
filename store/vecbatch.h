/* store/vecbatch.h - concurrent vector searches scored together.
 *
 * vecbatch_search keeps vecindex_search_q's contract and results (the same
 * rows, order and bit-equal scores), but searches that arrive while another
 * one runs are coalesced: when the running search ends, one waiting caller
 * becomes the leader and runs every waiting search on the same index (up to
 * VECBATCH_MAX) as one batch, then wakes their callers. A search that finds
 * nothing running runs at once, alone, on the single-query kernel: there is
 * no batching window to wait out, so single-query latency does not change.
 *
 * A batch streams the matrix once. From VB_SGEMM_MIN (24) queries: blocks
 * of rows X (about 1/4 MiB of scores a block) times the queries' transposed
 * unit vectors Q^T with cblas_sgemm (X.Q^T: the faster orientation here);
 * below that a fused AVX2 kernel scores each row against the queries four
 * at a time while the row is in L1 (sgemm is slower than single searches
 * for a few queries). Then one top-k heap per query and participant, the
 * same screening margin and the same exact double re-score (vi_offer) as
 * the single path, so each query's result is the one it would get alone.
 * With a compressed copy (vec_compress) a batch below VB_SGEMM_MIN scans
 * the codes instead, once for all its queries (vecquant_search_many), each
 * query exactly as it would alone. Blocks are shared out over the vecpool
 * threads, with OpenBLAS kept at one thread (set on every batch) so its
 * threads do not fight the pool. A query with a sparse candidate bitmap is
 * never batched: it reads so few rows that it runs alone at once.
 *
 * The leader runs the other callers' filter callbacks on its own and the
 * pool's threads (one query's filter never runs concurrently with itself),
 * while those callers wait inside vecbatch_search: each caller must keep
 * its index unchanged until its call returns (the store's read lock).
 * RAGFS_VEC_BATCH=0 in the environment (read once) turns coalescing off.
 */
#ifndef STORE_VECBATCH_H
#define STORE_VECBATCH_H

#include <stddef.h>
#include <stdint.h>

#include "vecindex.h"

#define VECBATCH_MAX 64

/* vecindex_search_q, coalesced with concurrent callers. */
int vecbatch_search(const struct vecindex *vi, const struct vec_query *q, struct vec_hit *hits,
		    size_t *nhits);

/* The batch kernel: nq searches in one pass over vi (the sgemm path even
 * for one query). rcs[i], hits[i] (room for qs[i].k) and nhits[i] as
 * vecindex_search_q would give. 0 or -ENOMEM (then nothing is valid). */
int vecbatch_run(const struct vecindex *vi, size_t nq, const struct vec_query *qs,
		 struct vec_hit **hits, size_t *nhits, int *rcs);

/* Coalescing on (1, the default) or off (0: every call runs alone). */
void vecbatch_set_enabled(int on);

struct vecbatch_stats {
	uint64_t searches;	/* vecbatch_search calls */
	uint64_t batches;	/* sgemm batches run (2 or more queries) */
	uint64_t batched;	/* queries answered by those batches */
	uint64_t max_batch;	/* the largest batch */
};
void vecbatch_get_stats(struct vecbatch_stats *st);

#endif
