/* store/persist.h - the persist/ (LlamaIndex Python) and persist-ts/
 * (LlamaIndex.TS) views: each file rendered from the current state.
 *
 * Input: the state (read-locked by the caller for the whole render), the id
 * of the default VectorStoreIndex struct (not stored: its nodes_dict maps
 * every vector id to itself) and the dimension. Output goes through a writer
 * callback in pieces of at most JW_BUF_SIZE bytes (larger only for single
 * tokens), so a 100k x 384 vector store never exists in memory whole.
 *
 * Order (no LlamaIndex reader depends on it; chosen to be deterministic so
 * that exporting the same state twice gives the same bytes): every map is
 * written in strcmp order of its keys; vectors in id order too. Python
 * docstore.json has its collections in the order real Python files show:
 * docstore/metadata, docstore/ref_doc_info, docstore/data; the TS
 * doc_store.json uses LlamaIndex.TS's order: metadata, data, ref_doc_info.
 *
 * Python files (JSON_PY dialect, pyjson.h):
 *   docstore.json          stored entries re-emitted token by token (int vs
 *                          float lexemes kept), nodes wrapped as
 *                          {"__data__": node, "__type__": "1".."4"} from
 *                          class_name (TextNode 1, ImageNode 2, IndexNode 3,
 *                          Document/ImageDocument 4, anything else 1).
 *   index_store.json       the default struct as {"__type__": "vector_store",
 *                          "__data__": "<IndexDict JSON as a string>"}, then
 *                          index_store/data entries as stored that have a
 *                          "__type__" (TS-shaped ones are left out: Python's
 *                          loader raises on them).
 *   default__vector_store.json  embedding_dict (float32 widened to double,
 *                          repr), text_id_to_ref_doc_id ("None" without a
 *                          SOURCE), metadata_dict (node metadata with
 *                          _node_type, document_id, doc_id, ref_doc_id set in
 *                          place or appended, _node_content dropped, as
 *                          node_to_metadata_dict + SimpleVectorStore.add do).
 *                          One entry per vector; a vector with no node gets
 *                          "None" and {"_node_type": "TextNode", ...}.
 *   image__vector_store.json, graph_store.json: the empty stores.
 * TS files (JSON_JS dialect):
 *   doc_store.json         nodes converted to TS (camelCase, relationship
 *                          names, TS base64 hash; relationship hashes are the
 *                          target's TS hash when the target is a node, else
 *                          the stored hash, else the target's doc_hash), as a
 *                          string in __data__; docHash/refDocId; nodeIds.
 *   index_store.json       {"docstore/data": {<id>: {indexId, nodesDict: full
 *                          TS nodes, type: "simple_dict"}}} plus stored
 *                          structs already in TS shape ("type" simple_dict or
 *                          list); Python-shaped structs are left out (TS
 *                          cannot load them).
 *   vector_store.json      embeddingDict, textIdToRefDocId and metadataDict
 *                          (the last two only for nodes with a SOURCE).
 * Entries whose stored text is not valid JSON are left out (the store
 * validates writes, so this only guards against a damaged segment).
 */
#ifndef STORE_PERSIST_H
#define STORE_PERSIST_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pyjson.h"
#include "state.h"

enum persist_file {
	PERSIST_PY_DOCSTORE,      /* persist/docstore.json */
	PERSIST_PY_INDEX,         /* persist/index_store.json */
	PERSIST_PY_VECTORS,       /* persist/default__vector_store.json */
	PERSIST_PY_IMAGE_VECTORS, /* persist/image__vector_store.json */
	PERSIST_PY_GRAPH,         /* persist/graph_store.json */
	PERSIST_TS_DOCSTORE,      /* persist-ts/doc_store.json */
	PERSIST_TS_INDEX,         /* persist-ts/index_store.json */
	PERSIST_TS_VECTORS,       /* persist-ts/vector_store.json */
	PERSIST_NFILES
};

/* The file's name within its folder, and whether it belongs to persist-ts/. */
const char *persist_file_name(enum persist_file f);
int persist_file_is_ts(enum persist_file f);
/* The file called name in persist/ (ts = 0) or persist-ts/ (ts = 1), or
 * -ENOENT. */
int persist_file_lookup(int ts, const char *name);

/* Render file f, calling fn(ctx, piece, len) in order. 0, -EINVAL (dim does
 * not match the state), -ENOMEM, or fn's error. */
int persist_render(const struct state *st, const char *index_id, uint32_t dim,
		   enum persist_file f, jw_write_fn fn, void *ctx);
/* Render file f appended to out. */
int persist_render_buf(const struct state *st, const char *index_id, uint32_t dim,
		       enum persist_file f, struct buf *out);
/* The exact size of file f: a render into a byte counter, so it costs the
 * CPU time of a render (dominated by float formatting in the vector
 * stores) but no memory. Cache it per state generation. */
int persist_size(const struct state *st, const char *index_id, uint32_t dim,
		 enum persist_file f, uint64_t *size);

#endif
