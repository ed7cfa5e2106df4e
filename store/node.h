/* store/node.h - LlamaIndex node JSON: build nodes for document chunks, and
 * read the fields the store needs out of nodes users write.
 *
 * Built nodes are TextNodes in llama-index-core 0.12's field order (see the
 * README's "Node JSON" section): id_, embedding (always null: the vector
 * lives in the vector store), metadata, excluded_*_metadata_keys,
 * relationships (SOURCE "1", PREVIOUS "2", NEXT "3" as RelatedNodeInfo),
 * metadata_template, metadata_separator, text, mimetype, start_char_idx,
 * end_char_idx (UTF-8 code points, as Python counts), metadata_seperator,
 * text_template, class_name.
 */
#ifndef STORE_NODE_H
#define STORE_NODE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "jsonutil.h"

/* The SimpleDirectoryReader-style metadata of a document at doc path
 * (relative to the docs folder): file_path, file_name, file_type, file_size,
 * creation_date, last_modified_date. NULL on ENOMEM. */
cJSON *node_doc_metadata(const char *path, uint64_t size, int64_t ctime_ns,
			 int64_t mtime_ns);

struct node_chunk {
	char id[40];      /* node id (uuid4) */
	const char *text; /* borrowed, text_len bytes */
	size_t text_len;
	size_t start_char, end_char;
	const cJSON *meta; /* this node's metadata, or NULL for the document's */
	char hash[65];    /* filled by node_build_doc_nodes */
};

/* Build the node JSON of each chunk of document doc_id (whose content hash
 * is doc_hash and metadata doc_meta), linking neighbours with PREVIOUS/NEXT.
 * out[i] gets a new cJSON (caller frees). 0 or -ENOMEM. */
int node_build_doc_nodes(struct node_chunk *chunks, size_t n, const char *doc_id,
			 const char *doc_hash, const cJSON *doc_meta, cJSON **out);

/* Point a node at a new source document (mv in docs/): SOURCE node_id, and
 * each key of new_meta (the file_* metadata) set in the metadata of the node
 * and of its SOURCE entry; other keys (a reader's: section, page...) stay.
 * 0 or -ENOMEM. */
int node_set_source(cJSON *node, const char *doc_id, const cJSON *new_meta);

/* Parse a node file written by a user (bare node JSON, or the docstore's
 * {"__data__": {...}, "__type__": "1"} wrapper). expect_id is the id from
 * the file name. On success *node gets the node object (unwrapped; any
 * "embedding" array is moved out into emb and emb_len, malloc'd, or NULL when
 * absent/null; "embedding" is set to null), -EINVAL with a reason in err
 * otherwise (not JSON, not an object, id_ missing or different, embedding
 * not a list of finite numbers, text not a string). */
int node_parse_user(const char *json, size_t len, const char *expect_id, cJSON **node,
		    float **emb, size_t *emb_len, char *err, size_t errlen);

/* The exports put a node 4 levels down (persist-ts/index_store.json:
 * {"docstore/data": {id: {"nodesDict": {node id: node}}}}) and must import
 * again, so a node may nest NODE_MAX_DEPTH levels (counting its own). */
#define NODE_MAX_DEPTH (JSON_MAX_DEPTH - 4)
/* 1 when the JSON text p[0..n) nests deeper than NODE_MAX_DEPTH. */
int node_too_deep(const char *p, size_t n);

/* Borrowed views into a node (NULL when absent). */
const char *node_id(const cJSON *node);
const char *node_text(const cJSON *node);
const char *node_ref_doc_id(const cJSON *node);
const cJSON *node_metadata(const cJSON *node);

/* sha256(text + repr(metadata)) as LlamaIndex's TextNode.hash. */
void node_hash(const char *text, const cJSON *metadata, char out[65]);

/* A node id usable as a file name: 1..200 bytes, no '/', no NUL, not "."/"..". */
int node_id_valid(const char *id);

#endif
