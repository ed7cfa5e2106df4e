/* store/ann.h - the store's approximate nearest-neighbour index: an HNSW
 * graph (hnsw.h) over the active vectors, kept up to date by a background
 * builder thread and persisted in a file in cache_dir.
 *
 * Life cycle. The graph is off for small stores. It is switched on when the
 * store reaches `threshold` vectors, when a query asks for "mode": "ann",
 * or at mount when its file exists; then the builder maps the file (or
 * starts an empty graph), reconciles it with the state and catches up.
 * Every change of a vector reaches ann through a state hook (under the
 * store's write lock) as a dirty id; the builder applies dirty ids in
 * batches: it copies the current rows under the store's read lock, then
 * inserts/tombstones them in the graph without it. A graph with too many
 * tombstones is rebuilt on the side and swapped in. The file is rewritten
 * when the builder is idle and enough has changed, and at close.
 *
 * Reconciling uses the per-node tag: a 64-bit hash of the raw float row, so
 * a mapped file from an earlier mount is checked node by node (present,
 * same vector) and only the difference is applied: a remount does not
 * rebuild. A damaged file (header, CRC, structure), one of another store,
 * dim or M/ef_construction is rebuilt.
 *
 * Searching (ann_search, under the store's read lock) is exact about
 * everything the graph cannot vouch for: the ids still dirty are scored by
 * brute force and merged with the graph's hits, and every hit is re-scored
 * from the state's float row with the exact cosine of vecindex_search, so
 * scores are identical to exact search. -EAGAIN sends the caller to the
 * exact scan: graph off or still loading, more than ANN_MAX_PENDING ids
 * behind, a filter the metadata index already narrowed to a small set, or a
 * filtered search that found fewer than k.
 *
 * Locks: store lock -> a->mu (the hook, the dirty scan) -> nothing; store
 * lock -> a->glock (read: the graph pointer during a search) -> hnsw's own.
 * The builder never holds a->mu or a->glock while taking the store lock.
 */
#ifndef STORE_ANN_H
#define STORE_ANN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "hnsw.h"
#include "state.h"
#include "vecindex.h"

#define ANN_DEFAULT_THRESHOLD 200000
#define ANN_DEFAULT_EF 64
#define ANN_MAX_EF 10000
/* More dirty ids than this and searches use the exact scan. */
#define ANN_MAX_PENDING 2048

struct ann_opts {
	const char *path;	/* the graph file; NULL: memory only */
	const char *ident;	/* the store id: a file of another store is rebuilt */
	size_t threshold;	/* vectors from which default queries use it; 0: 200000 */
	uint32_t m, ef_construction, ef; /* 0: 32, 200, 64 */
	unsigned threads;	/* builder threads; 0: online CPUs */
};

struct ann_hit {
	const char *id; /* borrowed from the state's vecindex (read lock) */
	float score;
};

struct ann;

/* lock and *stp are the store's rwlock and state pointer (the state may be
 * replaced under the write lock; call ann_attach then). */
int ann_new(const struct ann_opts *o, pthread_rwlock_t *lock, struct state *const *stp,
	    struct ann **out);
/* Hook st's vector changes up (caller holds the write lock, or is alone).
 * A state that replaces another is reconciled in full. */
void ann_attach(struct ann *a, struct state *st);
/* Start the builder thread (after any fork). */
int ann_start(struct ann *a);
/* Stop the builder and write the file if the graph changed. */
void ann_stop(struct ann *a);
void ann_free(struct ann *a);

/* The k best ids for q (dim floats), best first, ties by id; scores as
 * vecindex_search. forced: the query asked for "mode": "ann" (switches the
 * graph on; otherwise it is used only at or above the threshold). ef 0:
 * the default. filter as for vecindex_search; cand/ncand: the metadata
 * index's candidate bitmap or NULL. 0, -EAGAIN (use the exact scan),
 * -ENOMEM. */
int ann_search(struct ann *a, const struct state *st, const float *q, size_t k, size_t ef,
	       int forced, vecindex_filter_fn filter, void *ctx, const uint64_t *cand,
	       size_t ncand, struct ann_hit *hits, size_t *n);

/* status.json's "ann" object (a new cJSON object, NULL on ENOMEM). */
cJSON *ann_status(struct ann *a);

#endif
