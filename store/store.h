/* store/store.h - a mounted store: the state image, the journal, the backing
 * store and the embedder behind one lock. This is the API the FUSE driver
 * uses; nothing here knows about FUSE.
 *
 * Write path (SPEC §4): every mutation is one transaction: its frame is
 * appended to the local journal, then applied to the in-memory state, both
 * under the write lock, so readers see all of it or none. store_sync (and
 * the background flusher every flush_interval seconds) seals the journal,
 * writes its frames as a new immutable segment, swaps the manifest with a
 * conditional put, and drops the sealed journal files.
 *
 * Ingest (split + embed) runs before the write lock is taken, so queries
 * are not blocked by embedding. With a remote embedder (embedder->remote),
 * a write commits the document and its nodes without vectors and a
 * background worker embeds them in batches, retrying with backoff; nodes
 * with text and no vector are the pending work, also after a restart.
 *
 * Locking: s->lock (rwlock) guards the state; the journal and errlog have
 * their own locks, always taken after s->lock. Readers that walk the state
 * (directory listings, file renders) use store_read_begin/end.
 *
 * Errors: every function returns 0 or a negative errno. Refused user input
 * returns -EINVAL (etc.) and adds a line to the error log naming the path.
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errlog.h"
#include "state.h"

struct store_opts {
	const char *store;     /* STORE argument */
	const char *cache_dir; /* NULL: <dir>/.ragfs-local for a local store,
				* $XDG_CACHE_HOME (~/.cache)/ragfs/<scheme>-<bucket>-<hash>
				* for s3:// and r2:// */
	/* The embedder: "hash", "glove", "none" (built here) or a name for
	 * embedder; NULL: the store's own (hash for a new store). When it (or
	 * embed_model, or dim) differs from what the store's vectors were made
	 * with, the store re-embeds in the background (store_reembed.c). */
	const char *embed;
	struct embedder *embedder; /* when set, used (and freed by the store) */
	const char *embed_model, *embed_url; /* of embedder (http), recorded */
	/* Builds an embedder the store cannot build itself (http: libcurl is in
	 * backends/) from a recorded identity, dim known (so nothing is sent):
	 * the old embedder while re-embedding, or the store's own when embed
	 * is not given. NULL: such stores need an injected embedder. */
	int (*make_embedder)(const char *name, const char *model, const char *url, uint32_t dim,
			     struct embedder **out, char *err, size_t errlen);
	uint32_t dim;          /* 0: the store's, or 384 for a new store */
	size_t chunk_size;     /* tokens; 0 = 1024 */
	size_t chunk_overlap;  /* tokens; default 200 (clamped below chunk_size) */
	size_t top_k;          /* default for queries; 0 = 5 */
	unsigned flush_interval; /* seconds; 0 = 5 */
	unsigned cache_mb;     /* s3/r2: segment cache bound in cache_dir, MiB; 0 = 1024
				* plus twice the snapshot (store_cache_fit) */
	int read_only;
	/* s3:// and r2:// stores (NULL: defaults, environment, ~/.aws). */
	const char *endpoint, *region, *account, *profile;
	const char *addressing; /* "auto" (NULL), "path" or "virtual" */
	/* "none" (NULL), "int8" or "fp16": keep a compressed copy of the
	 * vectors that searches scan first (vecquant.h; results unchanged). */
	const char *vec_compress;
	/* The HNSW graph (ann.h): default queries use it from ann_threshold
	 * vectors on (0: 200000), "mode": "ann" at any size. ann_m (2..128),
	 * ann_ef_construction, ann_ef (1..10000): 0 = 32, 200, 64. */
	size_t ann_threshold;
	unsigned ann_m, ann_ef_construction, ann_ef;
};

struct store;

/* Open (and recover) the store. On failure returns a negative errno with a
 * one-line cause in err. */
int store_open(const struct store_opts *o, struct store **out, char *err, size_t errlen);
/* Start background work (the flusher, which first sends what the
 * journal's replay recovered). Call after any fork (daemonize): threads do
 * not survive it. Does not wait for the backing store. */
int store_start(struct store *s);
/* Flush and close. Returns the result of the final flush. */
int store_close(struct store *s);
/* Make everything committed so far durable on the backing store. */
int store_sync(struct store *s);

/* --- docs/ ------------------------------------------------------------ */
/* Store and index a document (path is relative to docs/). Unchanged content
 * does no indexing work. mtime_ns 0 = now; mode 0 = keep the current mode
 * (0644 for a new document). */
int store_doc_write(struct store *s, const char *path, const char *data, size_t len,
		    int64_t mtime_ns, uint32_t mode);
int store_doc_delete(struct store *s, const char *path);
/* Re-key a document (and its nodes) without re-embedding; replaces to. */
int store_doc_rename(struct store *s, const char *from, const char *to);
int store_doc_setattr(struct store *s, const char *path, int64_t mtime_ns, uint32_t mode);
int store_dir_make(struct store *s, const char *path);
/* Set the mtime of an explicit (mkdir-made) folder: -ENOENT for others. */
int store_dir_setattr(struct store *s, const char *path, int64_t mtime_ns);
/* -ENOTEMPTY when anything lies below. */
int store_dir_remove(struct store *s, const char *path);
/* Rename a folder and everything below it. */
int store_dir_rename(struct store *s, const char *from, const char *to);

/* --- docstore/, vector_store/, index_store/, kvstore/ -------------------- */
int store_node_write(struct store *s, const char *id, const char *json, size_t len);
int store_node_delete(struct store *s, const char *id);
int store_vector_write(struct store *s, const char *id, const void *data, size_t len);
int store_vector_delete(struct store *s, const char *id);
int store_index_write(struct store *s, const char *id, const char *json, size_t len);
int store_index_delete(struct store *s, const char *id);
int store_kv_write(struct store *s, const char *coll, const char *key, const char *json,
		   size_t len);
int store_kv_delete(struct store *s, const char *coll, const char *key);
int store_kv_mkcoll(struct store *s, const char *coll);
int store_kv_rmcoll(struct store *s, const char *coll);

/* --- persist/ ----------------------------------------------------------- */
/* Import one LlamaIndex (Python) persist file written into persist/ (name is
 * its file name): verbatim entries, no re-embedding, one transaction. An
 * empty or malformed file, a wrong dimension or an unknown name is refused
 * (-EINVAL/-ENOTSUP, logged) and changes nothing. */
int store_import_persist(struct store *s, const char *name, const char *data, size_t len);
int store_import_persist_ts(struct store *s, const char *name, const char *data, size_t len);

/* --- reading ------------------------------------------------------------ */
/* Hold the read lock while using the returned state. */
const struct state *store_read_begin(struct store *s);
void store_read_end(struct store *s);
/* The default VectorStoreIndex struct id (always present). */
const char *store_index_id(const struct store *s);
/* Render the default index struct (LlamaIndex kvstore form) under the read
 * lock the caller holds. */
int store_render_default_index(struct store *s, const struct state *st, struct buf *out);

/* Run a query (plain text or JSON request) and render it; a bad request
 * renders as an error object (and is logged with path). Returns 0 unless
 * out of memory. */
int store_query(struct store *s, const char *path, const char *req, size_t len,
		int as_text, struct buf *out);

/* .ragfs/ files. */
int store_render_status(struct store *s, struct buf *out);
int store_render_stats(struct store *s, struct buf *out);
int store_render_config(struct store *s, struct buf *out);
struct errlog *store_errlog(struct store *s);
int store_read_only(const struct store *s);
/* The dimension of the vectors queries search (it changes when a
 * re-embedding switches over). */
uint32_t store_dim(const struct store *s);

#endif
