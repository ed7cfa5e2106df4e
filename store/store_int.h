/* store/store_int.h - the store's internals, shared by store*.c only.
 *
 * Lock order: s->lock (state), then s->flush_lock is never taken while
 * holding s->lock; journal and errlog locks are leaves.
 */
#ifndef STORE_STORE_INT_H
#define STORE_STORE_INT_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "backend.h"
#include "embed.h"
#include "errlog.h"
#include "frame.h"
#include "journal.h"
#include "manifest.h"
#include "segcache.h"
#include "state.h"
#include "store.h"

#define DEFAULT_DIM 384
#define DEFAULT_CACHE_MB 1024 /* s3/r2 segment cache, plus twice the snapshot */
#define COMPACT_SEGMENTS 16 /* compact when the manifest lists more segments */
#define LAT_KEEP 1024

struct lat_ring {
	pthread_mutex_t lock;
	double ms[LAT_KEEP];
	uint64_t n;
};

struct store {
	pthread_rwlock_t lock; /* guards st, next_seq */
	struct state *st;
	uint64_t next_seq;
	int opened; /* recovery finished: flushing is allowed */

	struct store_opts opts; /* strings owned: store, embed */
	char *cache_dir;
	struct backend *be;
	struct journal *jn;
	/* The embedder of the active vectors (queries, ingest). Replaced only
	 * at a re-embedding's switch-over, under the write lock; read it with
	 * store_emb() when not holding s->lock. */
	struct embedder *emb;
	uint32_t dim; /* the active vectors' dim (atomic): store_dim() */
	struct errlog *errs;
	struct segcache *segs; /* s3/r2: segment copies in cache_dir (NULL: none) */

	pthread_mutex_t flush_lock; /* one flush at a time; guards man */
	struct manifest man;
	char man_etag[BACKEND_ETAG_MAX];
	char writer_id[40]; /* this cache dir's writer id (cache_dir/writer) */
	uint64_t merges;    /* other writers' commits merged in */
	/* The vector index id once one was imported (COLL_INDEX_ID), published
	 * atomically for readers that hold no lock; every string published is
	 * kept until close, so a reader's pointer stays valid. */
	const char *index_id;
	char **index_ids;
	size_t n_index_ids;

	pthread_t flusher;
	int flusher_running;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	int stopping;

	/* counters (atomic) */
	uint64_t ingests, ingest_skips, ingest_bytes, deletes, renames, nodes_written;
	uint64_t query_errors, refused, flushes, flush_errors, compactions, embed_errors;
	uint64_t replayed_ops;
	int64_t last_flush_ns, mounted_ns;
	struct lat_ring lat_query, lat_ingest, lat_flush;
	enum vec_compress vec_compress; /* opts.vec_compress, parsed */
	struct ann *ann; /* the HNSW graph and its builder (ann.h) */

	/* Background embedding (remote embedders only): store_embed.c. */
	struct {
		pthread_mutex_t lock; /* guards pending, last_err, failures */
		pthread_cond_t cond;
		struct map *pending;  /* node id -> struct pending * */
		pthread_t thread;
		int running, stopping;
		int last_err;
		uint64_t failures, embedded;
	} eq;

	/* Re-embedding (store_reembed.c). target and the vector sets change
	 * under s->lock; lock guards the progress counters below it. */
	struct {
		struct embedder *target;   /* NULL: not re-embedding */
		struct embedder *stand_in; /* s->emb when the old embedder is missing */
		struct embedder **retired; /* replaced at the switch, freed at close */
		size_t nretired;
		char from[320], to[320];   /* identities, for status.json */
		pthread_t thread;
		int running, inited;
		pthread_mutex_t lock;
		pthread_cond_t cond;
		int stopping, last_err;
		size_t queued;            /* nodes still to embed (last scan - since) */
		uint64_t embedded, failures, scans;
		int64_t first_ns, done_ns;
	} re;
};

static inline struct embedder *store_emb(struct store *s)
{
	return __atomic_load_n(&s->emb, __ATOMIC_ACQUIRE);
}

/* Publish the state's imported index id, if it changed. Caller holds the
 * write lock. */
void store_sync_index_id(struct store *s);

/* A transaction being built: ops own copies of their strings and values. */
struct txn {
	struct frame_op *ops;
	size_t n, cap;
};

int txn_add(struct txn *t, uint8_t type, const char *coll, const char *key, const void *val,
	    size_t len, int64_t mtime_ns, uint32_t mode);
int txn_put_json(struct txn *t, const char *coll, const char *key, const cJSON *j);
/* Move from's ops to the end of to (from is left empty). 0 or -ENOMEM
 * (nothing moved). */
int txn_append(struct txn *to, struct txn *from);
int txn_del(struct txn *t, const char *coll, const char *key);
void txn_free(struct txn *t);
/* docstore/metadata[node id] = {"doc_hash": node hash, "ref_doc_id": SOURCE}. */
int txn_put_node_meta(struct txn *t, const cJSON *node);
/* Take the write lock (-EROFS on a read-only store, lock not taken). */
int store_write_begin(struct store *s);
/* Commit t when rc is 0, release the lock, free t; returns the result. */
int store_write_end(struct store *s, struct txn *t, int rc);
/* Journal + apply; caller holds s->lock for writing. */
int store_commit_locked(struct store *s, struct txn *t);
/* Log a refused input (errors.log) and count it. */
void store_refuse(struct store *s, const char *path, int err, const char *reason);
void store_note_ingest(struct store *s, const struct timespec *t0);
void store_lat_add(struct lat_ring *r, double ms);
double store_elapsed_ms(const struct timespec *t0);

/* store_flush.c: segments, the manifest, other writers, the flusher. */
int store_put_manifest(struct store *s, struct manifest *m);
/* The default segment cache bound (cache_mb not given) for manifest m and
 * a snapshot of that many bytes about to be cached: DEFAULT_CACHE_MB plus
 * twice the largest snapshot (its vector block is mapped as the matrix
 * from the cache, and a compaction caches the next one before the old one
 * goes). Raises the open cache's bound to it when cache_mb was not given;
 * returns it. */
uint64_t store_cache_fit(struct store *s, const struct manifest *m, uint64_t snapshot);
int store_load_segments(struct store *s, char *err, size_t errlen);
int store_replay_journal(struct store *s, char *err, size_t errlen);
void *store_flusher_main(void *arg);

/* store_embed.c: nodes waiting for a remote embedder. */
int store_embed_init(struct store *s);
int store_embed_start(struct store *s);
void store_embed_stop(struct store *s);
void store_embed_destroy(struct store *s);
/* Queue a node for embedding (a no-op for local embedders). */
int store_embed_enqueue(struct store *s, const char *node_id);
void store_embed_status(struct store *s, size_t *pending, size_t *failed, int *last_err);

/* store_reembed.c: the embedder identity, re-embedding. */
/* Choose s->emb from the options and the store's record; start recording
 * a re-embedding when they differ. A one-line reason in err on failure. */
int store_reembed_open(struct store *s, const struct store_opts *o, char *err, size_t errlen);
int store_reembed_start(struct store *s);
void store_reembed_stop(struct store *s);
void store_reembed_destroy(struct store *s);
/* After other writers' frames were applied (caller holds the write lock). */
void store_reembed_after_merge(struct store *s);
/* Adds "reembed" (null, or progress) to status.json's object. */
void store_reembed_status(struct store *s, cJSON *o);

#endif
