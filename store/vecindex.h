/* store/vecindex.h - exact cosine top-k over a contiguous float32 matrix.
 *
 * Rows are stored raw (as written, so vector_store/<id>.f32 reads back the
 * exact bytes) in one 64-byte aligned row-major matrix (2 MiB aligned and
 * madvised for huge pages when large), with each row's inverse L2 norm kept
 * beside it (0 for the zero vector). A search streams the matrix once with a
 * fused dot + top-k kernel (AVX2+FMA when the CPU has it, chosen at run
 * time; scalar otherwise), split across a small persistent thread pool for
 * large matrices, and re-scores the rows near the k-th best in double
 * precision: score = cosine(q, row), bit-identical for equal vectors.
 * Removal moves the last row into the hole, so row numbers are not stable
 * across mutations; ids are.
 *
 * Optionally (vecindex_set_compress) the index also keeps a compressed copy
 * of every row (int8 with a per-row scale: +25% memory at 384-d; or fp16:
 * +50%) that a search scans first; the float rows stay (they are the data,
 * vector_store/ reads them, and the re-rank scores them). Results are the
 * same either way: see vecquant.h for why the compressed scan is exact.
 * A search may also carry a candidate bitmap (struct vec_query): rows
 * outside it are skipped unread; a sparse one is walked row by row.
 *
 * Not thread safe: the owner holds a rwlock (searches under the read side may
 * run in parallel; they do not modify the index).
 */
#ifndef STORE_VECINDEX_H
#define STORE_VECINDEX_H

#include <stddef.h>
#include <stdint.h>

struct vecindex;

struct vec_hit {
	float score;
	uint32_t row;
};

/* dim >= 1. 0 or -EINVAL / -ENOMEM. */
int vecindex_new(uint32_t dim, struct vecindex **out);
void vecindex_free(struct vecindex *vi);

uint32_t vecindex_dim(const struct vecindex *vi);
size_t vecindex_count(const struct vecindex *vi);

/* Insert or replace id's vector (copied). -EINVAL if any value is NaN/Inf. */
int vecindex_set(struct vecindex *vi, const char *id, const float *v);
/* An empty index takes n rows stored at byte off of fd (page aligned; a
 * segment's vector block, vecblock.h) as its matrix, mapped copy-on-write
 * (bigmem_map_file), and ids: n malloc'd strings in a malloc'd array, row
 * order, which it owns from the call on, whatever it returns. Each row's
 * norm is computed (every page is read once). 0; -EBUSY: the index was
 * not empty, or n is 0; -EBADMSG: a row not finite or an id twice; or
 * -ENOMEM / mmap's error. On an error the index is empty. */
int vecindex_map_rows(struct vecindex *vi, int fd, uint64_t off, size_t n, char **ids);
/* Remove id. 0 or -ENOENT. */
int vecindex_remove(struct vecindex *vi, const char *id);
/* Re-key a row without touching its vector. 0, -ENOENT, -EEXIST. */
int vecindex_rename(struct vecindex *vi, const char *from, const char *to);

/* Row of id or -ENOENT (as a negative long). */
long vecindex_find(const struct vecindex *vi, const char *id);
/* Borrowed: valid until the next mutation. */
const char *vecindex_id(const struct vecindex *vi, size_t row);
const float *vecindex_row(const struct vecindex *vi, size_t row);

/* The score every search reports: cosine(row, q) in double, as a float,
 * qnorm = |q| in double (0 scores 0). Anything that reports scores beside
 * a search (ann.c) calls this, so equal rows get bit-equal scores. */
float vecindex_cosine(const float *row, const float *q, uint32_t dim, double qnorm);

/* Called per candidate row; return 1 to keep it, 0 to skip it. */
typedef int (*vecindex_filter_fn)(void *ctx, size_t row, const char *id);

/* The k best rows by cosine with q (dim floats), best first; equal scores
 * order by id ascending. filter may be NULL (all rows). hits must hold k;
 * *nhits gets min(k, candidates). A zero query vector scores 0 everywhere.
 * 0, -EINVAL (NaN in q), -ENOMEM. */
int vecindex_search(const struct vecindex *vi, const float *q, size_t k,
		    vecindex_filter_fn filter, void *ctx, struct vec_hit *hits,
		    size_t *nhits);

/* A search request (vecindex_search_q, vecbatch_search). */
struct vec_query {
	const float *q;			/* dim floats */
	size_t k;
	vecindex_filter_fn filter;	/* NULL: every row is a candidate */
	void *ctx;
	/* NULL, or a bitmap of vecindex_count rows (bit r%64 of word r/64;
	 * no bits past the last row) that must hold every row filter could
	 * keep: rows outside it are never read, scored or filtered. */
	const uint64_t *cand;
	size_t ncand;			/* bits set in cand */
};

/* vecindex_search with a request: the same result for the same rows. */
int vecindex_search_q(const struct vecindex *vi, const struct vec_query *vq,
		      struct vec_hit *hits, size_t *nhits);
/* 1 when vq's candidate bitmap is sparse enough that the search walks its
 * rows one by one instead of streaming the matrix. */
int vecindex_sparse_query(const struct vecindex *vi, const struct vec_query *vq);

enum vec_compress { VEC_COMPRESS_NONE = 0, VEC_COMPRESS_INT8, VEC_COMPRESS_FP16 };

/* "none", "int8", "fp16": 0 or -EINVAL. */
int vec_compress_parse(const char *name, enum vec_compress *out);
const char *vec_compress_name(enum vec_compress c);
/* Keep (or drop, with NONE) a compressed copy of every row, encoded now for
 * the rows present and on every later set. 0 or -ENOMEM (nothing changed). */
int vecindex_set_compress(struct vecindex *vi, enum vec_compress c);
enum vec_compress vecindex_compress(const struct vecindex *vi);
/* A bulk load (the replay at mount) starts (1) or ends (0): meanwhile the
 * matrix and its copy grow with small pages, which fault in several times
 * faster on VMs; afterwards huge pages again (bigmem.h). Results never
 * depend on it. */
void vecindex_set_bulk(struct vecindex *vi, int on);
/* Bytes of the float rows and of the compressed copy (0 without one). */
size_t vecindex_bytes(const struct vecindex *vi);
size_t vecindex_compressed_bytes(const struct vecindex *vi);

#endif
