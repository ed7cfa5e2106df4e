/* store/query.h - query requests: parse (plain text or JSON), run against a
 * state, render results (JSON, or plain text for people).
 *
 * Request JSON: {"query": "...", "top_k": 5, "filters": {...MetadataFilters},
 * "mode": "default", "embedding": [...], "node_ids": [...], "doc_ids": [...],
 * "mmr_threshold": 0.5, "weights": {"vector": 1, "text": 1}, "rrf_k": 60}.
 * Anything that is not a JSON object is taken as the query text. "query" or
 * "embedding" must be given. node_ids/doc_ids restrict the candidates
 * (doc_ids by ref_doc_id). Modes:
 *   default  exact cosine top-k
 *   mmr      LlamaIndex's get_top_k_mmr_embeddings over all candidates:
 *            first pick max sim*t, then repeatedly max t*sim - (1-t)*overlap
 *            with the most recent pick (t = mmr_threshold); scores are those
 *            MMR values, as LlamaIndex returns them
 *   text     BM25 over node texts (needs "query")
 *   hybrid   reciprocal rank fusion of the vector and BM25 rankings (the top
 *            max(4k, 50) of each): sum of w / (rrf_k + rank), rank from 1
 *   ann      default's ranking from the HNSW graph (ann.h) with "ef"
 *            candidates (1..10000); exact scores; the exact scan while the
 *            graph is being built. default and hybrid use the graph too on
 *            stores at or above its threshold.
 */
#ifndef STORE_QUERY_H
#define STORE_QUERY_H

#include <stddef.h>

#include "buf.h"
#include "filter.h"
#include "map.h"
#include "state.h"

#define QUERY_MAX_TOP_K 10000

enum query_mode { QUERY_DEFAULT, QUERY_MMR, QUERY_TEXT, QUERY_HYBRID, QUERY_ANN };
struct ann;

struct query_req {
	char *text;         /* owned; may be NULL when embedding is given */
	size_t top_k;
	char mode[16];
	enum query_mode kind;
	double mmr_threshold; /* mmr: 0..1, default 0.5 */
	double w_vector, w_text; /* hybrid weights, default 1 and 1 */
	double rrf_k;         /* hybrid: default 60 */
	struct filter *filter; /* owned, may be NULL */
	float *embedding;   /* owned, may be NULL */
	size_t emb_len;
	struct map *node_ids; /* owned set, may be NULL */
	struct map *doc_ids;  /* owned set, may be NULL */
	unsigned ef;          /* ann: candidate list size; 0 = the graph's default */
	struct ann *ann;      /* not owned: the store's graph (set by the caller), or NULL */
};

struct query_hit {
	char *node_id;
	float score;
	char *text;
	char *ref_doc_id;
	cJSON *metadata;
};

struct query_result {
	struct query_hit *hits; /* owned */
	size_t n;
	double took_ms;
	const char *index;  /* "hnsw" or "exact" when the graph was asked, else NULL */
};

/* Parse req[0..len). default_k applies when "top_k" is absent. -EINVAL or
 * -ENOTSUP with a one-line reason in err. */
int query_parse(const char *req, size_t len, size_t default_k, struct query_req *q,
		char *err, size_t errlen);
void query_req_free(struct query_req *q);

/* 1 when the mode needs a query vector (all but "text"). */
int query_needs_vector(const struct query_req *q);

/* Search st with the query vector qv (state_dim floats; NULL for "text").
 * Caller holds the store's read lock. 0, -EINVAL, -ENOMEM. */
int query_run(const struct state *st, const struct query_req *q, const float *qv,
	      struct query_result *res);
void query_result_free(struct query_result *res);

/* Render for query/ files: JSON, or text when as_text. */
int query_render(const struct query_req *q, const struct query_result *res, int as_text,
		 struct buf *out);
/* Render an error: {"error": {"errno": "EINVAL", "message": ...}, "request": ...}
 * or "error: ..." as text. */
int query_render_error(const char *req, size_t len, int err, const char *msg, int as_text,
		       struct buf *out);

#endif
