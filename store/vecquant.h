/* store/vecquant.h - a compressed copy of the vecindex rows, and the exact
 * search that scans it (vecindex_set_compress, mount option vec_compress).
 *
 * Encodings (one code row per vecindex row, padded to 32 codes, 64-byte
 * aligned), with per row a multiplier and an error bound:
 *   int8  code = round(x / s), s = max|x| / 127 (per-row scale). Scanned
 *         with an int16 copy of the unit query (vpmaddwd: an exact integer
 *         dot). dim + 8 bytes a row: +25% memory beside the floats at 384-d.
 *   fp16  IEEE half, round to nearest even (overflowing rows are "forced").
 *         Scanned with F16C + FMA against the float unit query. 2*dim + 8
 *         bytes a row: +50% at 384-d.
 * The float rows are kept: they are the data (vector_store/ reads them),
 * the re-rank scores them, and the index can drop the copy at any time.
 *
 * Why the result is exact (the same rows, order and scores as the float
 * scan), whatever the data:
 *   del_r = |x_r - decode(code_r)| / |x_r| is computed in double when the
 *   row is encoded (rounded up to float). For a unit query u, Cauchy-Schwarz
 *   gives |cos(x_r, u) - approx_r| <= del_r + (1 + del_r) eps_q + m, where
 *   eps_q = |u - decode(u_int16)| (0 for fp16) and m bounds every float
 *   rounding ((dim + 16) * 2^-22, far above it). So ub_r = approx_r + del_r
 *   + slack is an upper bound of row r's exact score.
 *   Phase 1 streams the codes, keeps the C = max(8k, 64) best rows by
 *   approx (filtered as they enter, like the float scan) and U = the
 *   largest ub_r of every row not kept. Those C rows (per thread) are
 *   scored exactly (vi_offer). If U < the k-th exact score, no other row can
 *   reach the top k: done. Otherwise phase 2 streams the codes again and
 *   offers every other row whose ub_r reaches the k-th best exactly.
 *   Rows whose encoding is useless (extreme norms, fp16 overflow, del_r >
 *   1/4) are "forced": always scored exactly. The filter is still called at
 *   most once per row (phase 2 remembers phase 1's verdicts).
 * Phase 2 is rare on real embeddings with fp16 (del ~ 3e-4) and rarer with
 * more candidates; vecquant_stats counts it.
 *
 * Not thread safe on its own: it lives inside a vecindex and follows its
 * locking (searches read it in parallel; mutations are exclusive).
 */
#ifndef STORE_VECQUANT_H
#define STORE_VECQUANT_H

#include <stddef.h>
#include <stdint.h>

#include "vecindex_int.h"

/* A copy able to hold cap rows. 0, -EINVAL (NONE), -ENOMEM. */
int vecquant_new(enum vec_compress c, uint32_t dim, size_t cap, struct vecquant **out);
void vecquant_free(struct vecquant *vq);
enum vec_compress vecquant_kind(const struct vecquant *vq);
/* Room for cap rows (never shrinks). 0 or -ENOMEM (unchanged). */
int vecquant_reserve(struct vecquant *vq, size_t cap);
/* A bulk load starts or ends (bigmem_set_small_pages). */
void vecquant_set_small_pages(struct vecquant *vq, int on);
/* Encode row (v: dim floats; inv_norm as the vecindex keeps it). */
void vecquant_put(struct vecquant *vq, size_t row, const float *v, double inv_norm);
/* Row from moves to row to (the vecindex's removal). */
void vecquant_move(struct vecquant *vq, size_t to, size_t from);
/* Memory of rows encoded rows. */
size_t vecquant_bytes(const struct vecquant *vq, size_t rows);
/* Approximate candidates phase 1 keeps per thread for a top k. */
size_t vecquant_cands(size_t k);
/* The exact search over the copy: s filled by vi_search_init (s->k <= the
 * row count), hits hold s->k; *nhits set, hits left as a heap (the caller
 * sorts). 0 or -ENOMEM. */
int vecquant_search(struct search *s, struct vec_hit *hits, size_t *nhits);
/* nq searches on the same index in one pass over the copy (vecbatch.c):
 * ss[i], hits[i], nhits[i] as vecquant_search's. The results are the ones
 * each would get alone. 0 or -ENOMEM (then nothing is valid). */
int vecquant_search_many(struct search **ss, size_t nq, struct vec_hit **hits, size_t *nhits);

struct vecquant_stats {
	uint64_t searches;	/* compressed searches run */
	uint64_t second_pass;	/* of which needed phase 2 */
	uint64_t rescored;	/* rows scored exactly, both phases */
};
void vecquant_get_stats(struct vecquant_stats *st);

/* IEEE half conversions, round to nearest even (exposed for the tests). */
uint16_t vecquant_f2h(float f);
float vecquant_h2f(uint16_t h);

#endif
