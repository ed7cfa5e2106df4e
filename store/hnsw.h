/* store/hnsw.h - a hierarchical navigable small world graph (Malkov and
 * Yashunin; the algorithm of hnswlib) over unit vectors, for approximate
 * cosine top-k.
 *
 * Each node lives in a slot: a stable number, never reused, that holds the
 * node's key (a string, e.g. the node id), its vector normalised to unit
 * length (a copy: the graph does not depend on where the caller keeps its
 * rows), a 64-bit tag the caller chooses (ann.c keeps a hash of the raw
 * vector there) and its links. Removing a key marks its slot deleted (a
 * tombstone): the slot still routes searches but is never a result. Slots
 * only grow; to drop tombstones, build a new graph from the live slots.
 *
 * Distances are 1 - dot(a, b) with a vectorised dot (AVX2+FMA when the CPU
 * has it, chosen at run time; scalar otherwise).
 *
 * Concurrency: any number of searches may run at once, and at the same time
 * as one mutator (add, remove, save). Mutations must be serialised by the
 * caller (one builder thread). The mutator does its neighbour searches
 * without a lock and takes an internal write lock only to publish a node's
 * links, so searches wait microseconds, not the length of an insert.
 *
 * Persistence: hnsw_save writes one file (a header with a CRC-32 of itself
 * and one of the body; then the vectors, links, levels, flags, tags, upper
 * links and keys as flat arrays) to a temporary name and renames it over the
 * target. hnsw_load maps the file (MAP_PRIVATE: later inserts copy the pages
 * they change) and checks everything before use: magic, version, sizes,
 * both CRCs, parameters, and every link, level and key offset in range, so a
 * damaged or foreign file is refused, never followed.
 */
#ifndef STORE_HNSW_H
#define STORE_HNSW_H

#include <stddef.h>
#include <stdint.h>

#define HNSW_DEFAULT_M 32
#define HNSW_DEFAULT_EF_CONSTRUCTION 200
#define HNSW_MAX_M 128
#define HNSW_IDENT_MAX 64

struct hnsw;

struct hnsw_params {
	uint32_t dim;             /* >= 1 */
	uint32_t m;               /* links per node above level 0 (2m at level 0); 0 = 32 */
	uint32_t ef_construction; /* candidates kept while inserting; 0 = 200 */
	uint64_t seed;            /* level draws; 0 = a fixed default */
};

struct hnsw_hit {
	const char *key; /* the slot's key: valid until hnsw_free */
	uint32_t slot;
	float dist;      /* 1 - cosine of the unit vectors (float) */
};

/* Called for a live slot that could enter the results; 1 keeps it. Runs at
 * most once per slot per search, on the searching thread. */
typedef int (*hnsw_filter_fn)(void *ctx, uint32_t slot, const char *key);

/* 0, -EINVAL (dim 0, m > HNSW_MAX_M), -ENOMEM. */
int hnsw_new(const struct hnsw_params *p, struct hnsw **out);
void hnsw_free(struct hnsw *h);

void hnsw_get_params(const struct hnsw *h, struct hnsw_params *p);
size_t hnsw_count(struct hnsw *h);   /* live slots */
size_t hnsw_deleted(struct hnsw *h); /* tombstones */
size_t hnsw_slots(struct hnsw *h);   /* live + deleted */

/* --- the mutator (one thread at a time) ---------------------------------- */

/* Add n keys with their vectors (n * dim floats, any norm; copied and
 * normalised) and tags. A key that is live already is -EEXIST (remove it
 * first); nothing is added then. threads > 1 runs the neighbour searches of
 * a batch in parallel (a graph of a few thousand nodes or more). NaN/Inf in
 * a vector is -EINVAL. 0, -EINVAL, -EEXIST, -ENOMEM. */
int hnsw_add(struct hnsw *h, size_t n, const char *const *keys, const float *vecs,
	     const uint64_t *tags, unsigned threads);
/* Mark key's slot deleted. 0 or -ENOENT. */
int hnsw_remove(struct hnsw *h, const char *key);
/* The live slot of key, or -ENOENT. */
long hnsw_find(struct hnsw *h, const char *key);

/* Read a slot (any thread; a slot's vector and key never change). vec gets
 * the unit vector (borrowed, dim floats). -ENOENT past the last slot. */
int hnsw_slot(struct hnsw *h, uint32_t slot, const char **key, const float **vec,
	      uint64_t *tag, int *deleted);

/* --- searching (any thread) ---------------------------------------------- */

/* The k nearest live slots to q (any norm; a zero q is -EINVAL since it has
 * no direction), nearest first, found with a candidate list of
 * max(ef, k). filter may be NULL. At most budget distance computations (0:
 * no limit); *truncated (may be NULL) is set when the budget ran out before
 * the search converged. *nhits = number found (< k when fewer pass).
 * 0, -EINVAL, -ENOMEM. */
int hnsw_search(struct hnsw *h, const float *q, size_t k, size_t ef, hnsw_filter_fn filter,
		void *ctx, size_t budget, struct hnsw_hit *hits, size_t *nhits, int *truncated);

/* --- persistence --------------------------------------------------------- */

/* Write the graph to path (via path.tmp.<pid> + rename; no fsync: a torn
 * file fails its CRC and is rebuilt). ident (< HNSW_IDENT_MAX bytes) names
 * what the graph indexes; hnsw_load wants the same. 0 or -errno. */
int hnsw_save(struct hnsw *h, const char *path, const char *ident);
/* Map and check the file at path. It must have been saved with the same
 * ident and dim, m, ef_construction. -ENOENT (no file), -EBADMSG (damaged:
 * why says what), -ESTALE (another ident or parameters), -ENOMEM. */
int hnsw_load(const char *path, const struct hnsw_params *p, const char *ident,
	      struct hnsw **out, char *why, size_t whylen);

/* Which dot kernel runs: "avx2" or "scalar". */
const char *hnsw_isa(void);

#endif
