/* store/state.h - the in-memory image of a store: named collections of
 * key -> value entries, plus the indexes derived from them.
 *
 * Every change arrives as a frame op (frame.h), whether replayed from a
 * segment or the journal at mount, or committed live, so the image after a
 * remount equals the image before it. Collections:
 *
 *   ragfs.docs              doc path (under docs/) -> original bytes
 *   ragfs.dirs              explicit folders under docs/ -> empty
 *   ragfs.kvdirs            explicit kvstore/ collections -> empty
 *   ragfs.vectors           node id -> dim float32 (held by the vecindex only)
 *   ragfs.embedder          "active": {"embed", "model", "dim"[, "url"]}, the
 *                           embedder the vectors were made with (absent: the
 *                           manifest's embed and dim); "target": the one a
 *                           re-embedding is building vectors for
 *   ragfs.vectors.next      node id -> target-dim float32 (a second vecindex,
 *                           present while "target" is; store_reembed.c)
 *   ragfs.index             "default" -> the vector index id, once one was
 *                           imported (else the manifest's index_id)
 *   docstore/data           node id -> node JSON
 *   docstore/metadata       node or doc id -> {"doc_hash", "ref_doc_id"}
 *   docstore/ref_doc_info   doc id -> {"node_ids": [...], "metadata": {...}}
 *   index_store/data        index id -> index struct (user-written ones)
 *   anything else           user kvstore/ collections -> JSON objects
 *
 * Derived: the vecindex over ragfs.vectors, each node's parsed metadata
 * (for filters) with an inverted index of it over the vector rows
 * (filter_index.h), and a BM25 index over node texts. Not thread safe: the store's rwlock guards it.
 */
#ifndef STORE_STATE_H
#define STORE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "frame.h"
#include "map.h"
#include "vecindex.h"

#define COLL_DOCS "ragfs.docs"
#define COLL_DIRS "ragfs.dirs"
#define COLL_KVDIRS "ragfs.kvdirs"
#define COLL_VECS "ragfs.vectors"
#define COLL_NODES "docstore/data"
#define COLL_DOCMETA "docstore/metadata"
#define COLL_REFDOC "docstore/ref_doc_info"
#define COLL_INDEX "index_store/data"
#define COLL_INDEX_ID "ragfs.index" /* key "default": the vector index's id */
#define COLL_INTERNAL_PREFIX "ragfs."
#define COLL_EMBEDDER "ragfs.embedder"
#define COLL_VECS_NEXT "ragfs.vectors.next"
#define EMBED_ACTIVE "active"
#define EMBED_TARGET "target"

struct entry {
	char *val; /* malloc'd, NUL-terminated after len bytes */
	size_t len;
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint32_t mode; /* permission bits; 0 = default */
	uint64_t order; /* when the key was first put (kept by overwrites): exports
			 * list entries in this order, as LlamaIndex's dicts do */
};

struct state;

int state_new(uint32_t dim, struct state **out);
void state_free(struct state *st);

/* Apply one op. Ops on ragfs.vectors with a wrong size are skipped with -EINVAL
 * (the caller validated live writes; this protects replay). 0 or -errno. */
int state_apply(struct state *st, const struct frame_op *op);

/* Lookups (borrowed; valid until the next state_apply). */
const struct entry *state_get(const struct state *st, const char *coll, const char *key);
/* The collection's map (key -> struct entry *), or NULL when empty/absent. */
const struct map *state_coll(const struct state *st, const char *coll);
/* The collection's keys in first-put order (malloc'd array of borrowed
 * strings; NULL with *n == 0 when empty or absent, NULL with *n > 0 on ENOMEM). */
const char **state_keys_in_order(const struct state *st, const char *coll, size_t *n);
/* The smallest first-put order among the collection's entries (roughly when
 * the collection was first touched); UINT64_MAX when empty or absent. */
uint64_t state_coll_first(const struct state *st, const char *coll);
/* All collection names, sorted (malloc'd array of borrowed strings). */
const char **state_coll_names(const struct state *st, size_t *n);
struct vecindex *state_vectors(const struct state *st);
/* The vectors a re-embedding is building (NULL when none is). Rules: a PUT
 * of ragfs.embedder/target with a new value starts an empty set of its dim
 * (the same value again keeps it: a resume); a DEL drops it; a node whose
 * text changes or that is deleted loses its vector there; a PUT of
 * ragfs.embedder/active equal to the target makes the set the active
 * vectors in one step (the old ones are freed, the target record goes); a
 * PUT of "active" with another dim (a snapshot, a new store) starts an empty
 * active set of that dim. */
struct vecindex *state_next_vectors(const struct state *st);
/* Parsed metadata of a node (NULL when the node has none). */
const cJSON *state_node_meta(const struct state *st, const char *node_id);
uint32_t state_dim(const struct state *st);
/* A counter bumped by every applied op: equal versions, equal image. */
uint64_t state_version(const struct state *st);
/* The BM25 index over node texts (docstore/data "text"). */
struct bm25 *state_text_index(const struct state *st);
struct fidx;
/* The metadata index over the active vector rows (filter_index.h). */
const struct fidx *state_filter_index(const struct state *st);
/* Keep a compressed copy of the active vectors (also of a set that later
 * replaces them). 0 or -ENOMEM (unchanged). */
int state_set_compress(struct state *st, enum vec_compress c);
/* The replay at mount starts (1) or ends (0): vecindex_set_bulk. */
void state_set_bulk(struct state *st, int on);
/* Called after each change of an active vector (id), or with id NULL when
 * the active set was replaced (a re-embedding switched over); under the
 * lock of whoever applies ops. ann.c keeps its graph in step with it. */
typedef void (*state_vec_hook)(void *ctx, const struct state *st, const char *id);
void state_set_vec_hook(struct state *st, state_vec_hook fn, void *ctx);

/* Encode the whole image as frames numbered from *seq (incremented per
 * frame) into out: a compacted segment, each collection in first-put order
 * (so a replay keeps the order). With vector_block the active vectors are
 * not frames but a vector block after them (vecblock.h). 0 or -ENOMEM. */
int state_snapshot(const struct state *st, uint64_t *seq, struct buf *out, int vector_block);

struct vecblock;
/* Apply a segment's vector block (seg: the segment's bytes; its frames
 * applied first): a PUT of each row into the active set. fd >= 0: seg is
 * mapped from that file, and an empty active set maps the rows in place.
 * 0, -EBADMSG (ids or rows not what the trailer says), -ENOMEM. */
int state_apply_block(struct state *st, const char *seg, const struct vecblock *b, int fd);

#endif
