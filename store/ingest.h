/* store/ingest.h - turn a document into LlamaIndex nodes and vectors:
 * detect text, split, build node JSON, embed. Pure: it touches no store
 * state, so it runs outside the store lock.
 */
#ifndef STORE_INGEST_H
#define STORE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "embed.h"
#include "splitter.h"

struct ingest_doc {
	const char *path; /* doc id: the path under docs/ */
	const char *data;
	size_t len;
	int64_t ctime_ns, mtime_ns;
};

struct ingest_result {
	char doc_hash[65]; /* sha256 of the bytes */
	int is_text;       /* 0: stored, not indexed */
	int read_err;      /* a PDF/DOCX/ODT reader could not read it: a positive
			    * errno, the reason in read_why (is_text 0) */
	char read_why[240];
	cJSON *doc_meta;   /* owned */
	size_t n;          /* nodes */
	cJSON **nodes;     /* owned, n of them */
	float *vectors;    /* owned, n*dim, or NULL when the embedder has none */
	int embed_err;     /* 0 or the embedder's negative errno */
};

/* Build r from doc. emb may be NULL (no vectors). 0 or -ENOMEM/-EINVAL
 * (bad splitter options). An embedder failure is not an error: it is
 * reported in r->embed_err with r->vectors NULL. */
int ingest_build(const struct ingest_doc *doc, const struct splitter_opts *so,
		 struct embedder *emb, struct ingest_result *r);
void ingest_result_free(struct ingest_result *r);

#endif
