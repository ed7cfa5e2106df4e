/* store/query.c - see query.h */
#include "query.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "node.h"
#include "bm25.h"
#include "ann.h"
#include "filter_index.h"
#include "vecbatch.h"
#include "vecindex.h"

static struct map *id_set(const cJSON *arr, const char *name, char *err, size_t errlen,
			  int *rc)
{
	const cJSON *it;
	*rc = 0;
	if (!arr || cJSON_IsNull(arr))
		return NULL;
	if (!cJSON_IsArray(arr)) {
		snprintf(err, errlen, "\"%s\" is not a list of strings", name);
		*rc = -EINVAL;
		return NULL;
	}
	struct map *m = map_new();
	if (!m) {
		*rc = -ENOMEM;
		return NULL;
	}
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it)) {
			snprintf(err, errlen, "\"%s\" is not a list of strings", name);
			*rc = -EINVAL;
		} else if (map_put(m, it->valuestring, m, NULL)) {
			*rc = -ENOMEM;
		}
		if (*rc) {
			map_free(m, NULL);
			return NULL;
		}
	}
	return m;
}

static int parse_embedding(const cJSON *e, struct query_req *q, char *err, size_t errlen)
{
	const cJSON *it;
	size_t i = 0;
	if (!e || cJSON_IsNull(e))
		return 0;
	if (!cJSON_IsArray(e) || !cJSON_GetArraySize(e)) {
		snprintf(err, errlen, "\"embedding\" is not a non-empty list of numbers");
		return -EINVAL;
	}
	q->emb_len = (size_t)cJSON_GetArraySize(e);
	q->embedding = malloc(q->emb_len * sizeof(float));
	if (!q->embedding)
		return -ENOMEM;
	cJSON_ArrayForEach(it, e) {
		if (!cJSON_IsNumber(it) || !isfinite((float)it->valuedouble)) {
			snprintf(err, errlen, "\"embedding\" value %zu is not a finite number", i);
			return -EINVAL;
		}
		q->embedding[i++] = (float)it->valuedouble;
	}
	return 0;
}

static int parse_top_k(const cJSON *k, struct query_req *q, char *err, size_t errlen)
{
	if (!k)
		return 0;
	if (!cJSON_IsNumber(k) || k->valuedouble < 0 || k->valuedouble > QUERY_MAX_TOP_K ||
	    k->valuedouble != floor(k->valuedouble)) {
		snprintf(err, errlen, "\"top_k\" must be an integer from 0 to %d",
			 QUERY_MAX_TOP_K);
		return -EINVAL;
	}
	q->top_k = (size_t)k->valuedouble;
	return 0;
}

static int parse_mode(const cJSON *m, struct query_req *q, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		enum query_mode kind;
	} modes[] = { { "default", QUERY_DEFAULT }, { "mmr", QUERY_MMR },
		      { "text", QUERY_TEXT }, { "hybrid", QUERY_HYBRID }, { "ann", QUERY_ANN } };
	if (!m)
		return 0;
	if (!cJSON_IsString(m)) {
		snprintf(err, errlen, "\"mode\" is not a string");
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(m->valuestring, modes[i].name)) {
			q->kind = modes[i].kind;
			snprintf(q->mode, sizeof(q->mode), "%s", modes[i].name);
			return 0;
		}
	snprintf(err, errlen, "unknown mode \"%.40s\" (default, ann, mmr, hybrid, text)",
		 m->valuestring);
	return -EINVAL;
}

/* An optional number member within [lo, hi]. */
static int parse_num(const cJSON *obj, const char *name, double lo, double hi, double *v,
		     char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!it)
		return 0;
	if (!cJSON_IsNumber(it) || !(it->valuedouble >= lo && it->valuedouble <= hi)) {
		snprintf(err, errlen, "\"%s\" must be a number from %g to %g", name, lo, hi);
		return -EINVAL;
	}
	*v = it->valuedouble;
	return 0;
}

static int parse_mode_options(const cJSON *root, struct query_req *q, char *err,
			      size_t errlen)
{
	int rc = parse_num(root, "mmr_threshold", 0, 1, &q->mmr_threshold, err, errlen);
	if (!rc)
		rc = parse_num(root, "rrf_k", 0, 1e6, &q->rrf_k, err, errlen);
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(root, "weights");
	if (!rc && w && !cJSON_IsObject(w)) {
		snprintf(err, errlen, "\"weights\" must be {\"vector\": w, \"text\": w}");
		rc = -EINVAL;
	}
	if (!rc && w)
		rc = parse_num(w, "vector", 0, 1e6, &q->w_vector, err, errlen);
	if (!rc && w)
		rc = parse_num(w, "text", 0, 1e6, &q->w_text, err, errlen);
	double ef = 0;
	if (!rc)
		rc = parse_num(root, "ef", 1, ANN_MAX_EF, &ef, err, errlen);
	if (!rc && ef != floor(ef)) {
		snprintf(err, errlen, "\"ef\" must be an integer from 1 to %d", ANN_MAX_EF);
		rc = -EINVAL;
	}
	q->ef = (unsigned)ef;
	if (!rc && q->kind == QUERY_TEXT && !q->text) {
		snprintf(err, errlen, "mode \"text\" needs \"query\" text");
		rc = -EINVAL;
	}
	if (!rc && q->kind == QUERY_HYBRID && !q->text) {
		snprintf(err, errlen, "mode \"hybrid\" needs \"query\" text");
		rc = -EINVAL;
	}
	return rc;
}

static int parse_json(const cJSON *root, struct query_req *q, char *err, size_t errlen)
{
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "query");
	int rc;
	if (text && !cJSON_IsString(text) && !cJSON_IsNull(text)) {
		snprintf(err, errlen, "\"query\" is not a string");
		return -EINVAL;
	}
	if (cJSON_IsString(text) && !(q->text = strdup(text->valuestring)))
		return -ENOMEM;
	rc = parse_top_k(cJSON_GetObjectItemCaseSensitive(root, "top_k"), q, err, errlen);
	if (!rc)
		rc = parse_mode(cJSON_GetObjectItemCaseSensitive(root, "mode"), q, err, errlen);
	if (!rc)
		rc = parse_embedding(cJSON_GetObjectItemCaseSensitive(root, "embedding"), q,
				     err, errlen);
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "filters");
	if (!rc && f && !cJSON_IsNull(f))
		rc = filter_parse(f, &q->filter, err, errlen);
	if (!rc)
		q->node_ids = id_set(cJSON_GetObjectItemCaseSensitive(root, "node_ids"),
				     "node_ids", err, errlen, &rc);
	if (!rc)
		q->doc_ids = id_set(cJSON_GetObjectItemCaseSensitive(root, "doc_ids"), "doc_ids",
				    err, errlen, &rc);
	if (!rc && !q->text && !q->embedding) {
		snprintf(err, errlen, "the request has neither \"query\" nor \"embedding\"");
		rc = -EINVAL;
	}
	if (!rc)
		rc = parse_mode_options(root, q, err, errlen);
	return rc;
}

/* Trim white space (a trailing newline from echo, mostly). */
static char *trimmed_dup(const char *s, size_t len)
{
	while (len && strchr(" \t\r\n", s[len - 1]))
		len--;
	while (len && strchr(" \t\r\n", *s)) {
		s++;
		len--;
	}
	return strndup(s, len);
}

int query_parse(const char *req, size_t len, size_t default_k, struct query_req *q,
		char *err, size_t errlen)
{
	int rc = 0;
	memset(q, 0, sizeof(*q));
	q->top_k = default_k;
	snprintf(q->mode, sizeof(q->mode), "default");
	q->mmr_threshold = 0.5;
	q->w_vector = q->w_text = 1;
	q->rrf_k = 60;
	size_t i = 0;
	while (i < len && strchr(" \t\r\n", req[i]))
		i++;
	if (i < len && req[i] == '{') {
		cJSON *root = json_parse(req, len);
		if (!root) {
			snprintf(err, errlen, "the request starts with '{' but is not valid JSON");
			return -EINVAL;
		}
		rc = parse_json(root, q, err, errlen);
		cJSON_Delete(root);
	} else {
		q->text = trimmed_dup(req, len);
		if (!q->text)
			rc = -ENOMEM;
		else if (!*q->text) {
			snprintf(err, errlen, "empty query");
			rc = -EINVAL;
		}
	}
	if (rc)
		query_req_free(q);
	return rc;
}

void query_req_free(struct query_req *q)
{
	free(q->text);
	filter_free(q->filter);
	free(q->embedding);
	map_free(q->node_ids, NULL);
	map_free(q->doc_ids, NULL);
	memset(q, 0, sizeof(*q));
}

struct run_ctx {
	const struct state *st;
	const struct query_req *q;
	const char *index; /* query_result.index */
};

static int keep_row(void *ctx, size_t row, const char *id)
{
	struct run_ctx *c = ctx;
	(void)row;
	if (c->q->node_ids && !map_get(c->q->node_ids, id))
		return 0;
	if (c->q->doc_ids) {
		const struct entry *e = state_get(c->st, COLL_DOCMETA, id);
		cJSON *m = e ? json_parse(e->val, e->len) : NULL;
		const char *ref = json_str(m, "ref_doc_id");
		int ok = ref && map_get(c->q->doc_ids, ref);
		cJSON_Delete(m);
		if (!ok)
			return 0;
	}
	if (c->q->filter)
		return filter_match(c->q->filter, state_node_meta(c->st, id));
	return 1;
}

static int fill_hit(const struct state *st, const char *id, float score,
		    struct query_hit *h)
{
	const struct entry *e = state_get(st, COLL_NODES, id);
	cJSON *node = e ? json_parse(e->val, e->len) : NULL;
	const char *text = node_text(node), *ref = node_ref_doc_id(node);
	const cJSON *meta = node_metadata(node);
	h->score = score;
	h->node_id = strdup(id);
	h->text = strdup(text ? text : "");
	h->ref_doc_id = ref ? strdup(ref) : NULL;
	h->metadata = meta ? cJSON_Duplicate(meta, 1) : cJSON_CreateObject();
	cJSON_Delete(node);
	return h->node_id && h->text && h->metadata && (!ref || h->ref_doc_id) ? 0 : -ENOMEM;
}

/* A ranking before hits are filled: ids borrowed from the state. */
struct ranked {
	const char *id;
	double score;
};

static int keep_id(void *ctx, const char *id)
{
	return keep_row(ctx, 0, id);
}

static int has_filter(const struct query_req *q)
{
	return q->filter || q->node_ids || q->doc_ids;
}

struct id_rows {
	const struct vecindex *vi;
	uint64_t *bits;
};

static int mark_id(const char *id, void *val, void *ctx)
{
	struct id_rows *ir = ctx;
	long row = vecindex_find(ir->vi, id);
	(void)val;
	if (row >= 0)
		ir->bits[row >> 6] |= 1ull << (row & 63);
	return 0;
}

/* A superset of the rows the request can keep (*bits NULL: all of them):
 * the metadata index answers ==/in filters, node_ids name rows. */
static int candidates(struct run_ctx *c, uint64_t **bits, size_t *count)
{
	const struct vecindex *vi = state_vectors(c->st);
	size_t n = vecindex_count(vi), words = (n + 63) / 64;
	int rc = fidx_candidates(state_filter_index(c->st), c->q->filter, n, bits, count);
	if (rc || !c->q->node_ids)
		return rc;
	struct id_rows ir = { vi, calloc(words ? words : 1, sizeof(uint64_t)) };
	if (!ir.bits) {
		free(*bits);
		*bits = NULL;
		return -ENOMEM;
	}
	map_each(c->q->node_ids, mark_id, &ir);
	*count = 0;
	for (size_t w = 0; w < words; w++) {
		ir.bits[w] &= *bits ? (*bits)[w] : ~0ull;
		*count += (size_t)__builtin_popcountll(ir.bits[w]);
	}
	free(*bits);
	*bits = ir.bits;
	return 0;
}

/* The HNSW graph (ann.h), for "mode": "ann" and for large stores.
 * -EAGAIN: it cannot answer (building, or a filter left fewer than k). */
static int rank_ann(struct run_ctx *c, const float *qv, size_t k, const uint64_t *cand,
		    size_t ncand, struct ranked *out, size_t *n)
{
	int forced = c->q->kind == QUERY_ANN;
	struct ann_hit *h = malloc(k * sizeof(*h));
	if (!h)
		return -ENOMEM;
	int rc = ann_search(c->q->ann, c->st, qv, k, c->q->ef, forced,
			    has_filter(c->q) ? keep_row : NULL, c, cand, ncand, h, n);
	for (size_t i = 0; !rc && i < *n; i++)
		out[i] = (struct ranked){ h[i].id, h[i].score };
	free(h);
	if (forced || !rc)
		c->index = rc ? "exact" : "hnsw";
	return rc;
}

static int rank_vector(struct run_ctx *c, const float *qv, size_t k, struct ranked *out,
		       size_t *n)
{
	struct vecindex *vi = state_vectors(c->st);
	struct vec_hit *hits = malloc(k * sizeof(*hits));
	uint64_t *cand = NULL;
	size_t ncand = 0;
	*n = 0;
	if (!hits)
		return -ENOMEM;
	int rc = has_filter(c->q) ? candidates(c, &cand, &ncand) : 0;
	if (!rc && c->q->ann) {
		rc = rank_ann(c, qv, k, cand, ncand, out, n);
		if (rc != -EAGAIN) {
			free(hits);
			free(cand);
			return rc;
		}
		rc = 0; /* the exact scan */
	}
	struct vec_query vq = { .q = qv, .k = k, .filter = has_filter(c->q) ? keep_row : NULL,
				.ctx = c, .cand = cand, .ncand = ncand };
	/* Concurrent queries are scored together (vecbatch.h). */
	if (!rc)
		rc = vecbatch_search(vi, &vq, hits, n);
	for (size_t i = 0; !rc && i < *n; i++)
		out[i] = (struct ranked){ vecindex_id(vi, hits[i].row), hits[i].score };
	free(hits);
	free(cand);
	return rc;
}

static int rank_text(struct run_ctx *c, size_t k, struct ranked *out, size_t *n)
{
	struct bm25_hit *hits = malloc(k * sizeof(*hits));
	if (!hits)
		return -ENOMEM;
	int rc = bm25_search(state_text_index(c->st), c->q->text, k,
			     has_filter(c->q) ? keep_id : NULL, c, hits, n);
	for (size_t i = 0; !rc && i < *n; i++)
		out[i] = (struct ranked){ hits[i].id, hits[i].score };
	free(hits);
	return rc;
}

static double cosine(const float *a, const float *b, size_t dim)
{
	double dot = 0, na = 0, nb = 0;
	for (size_t i = 0; i < dim; i++) {
		dot += (double)a[i] * b[i];
		na += (double)a[i] * a[i];
		nb += (double)b[i] * b[i];
	}
	return na > 0 && nb > 0 ? dot / (sqrt(na) * sqrt(nb)) : 0;
}

/* LlamaIndex's get_top_k_mmr_embeddings, transliterated: note that the
 * overlap term is with the most recent pick only, as there. */
static int rank_mmr(struct run_ctx *c, const float *qv, struct ranked *out, size_t *n)
{
	struct vecindex *vi = state_vectors(c->st);
	size_t rows = vecindex_count(vi), dim = vecindex_dim(vi), m = 0;
	size_t *cand = malloc((rows + 1) * sizeof(*cand));
	double *sim = malloc((rows + 1) * sizeof(*sim));
	char *taken = calloc(rows + 1, 1);
	double t = c->q->mmr_threshold;
	uint64_t *bits = NULL;
	size_t nbits;
	if (!cand || !sim || !taken || (has_filter(c->q) && candidates(c, &bits, &nbits))) {
		free(cand);
		free(sim);
		free(taken);
		return -ENOMEM;
	}
	for (size_t r = 0; r < rows; r++) {
		if (bits && !(bits[r >> 6] >> (r & 63) & 1))
			continue; /* the metadata index rules it out */
		if (!has_filter(c->q) || keep_row(c, r, vecindex_id(vi, r))) {
			cand[m] = r;
			sim[m++] = cosine(qv, vecindex_row(vi, r), dim);
		}
	}
	double score = -INFINITY;
	size_t high = 0;
	for (size_t i = 0; i < m; i++)
		if (sim[i] * t > score) {
			score = sim[i] * t;
			high = i;
		}
	size_t want = c->q->top_k < m ? c->q->top_k : m;
	for (*n = 0; *n < want;) {
		out[(*n)++] = (struct ranked){ vecindex_id(vi, cand[high]), score };
		taken[high] = 1;
		const float *recent = vecindex_row(vi, cand[high]);
		score = -INFINITY;
		for (size_t i = 0; i < m; i++) {
			if (taken[i])
				continue;
			double v = t * sim[i] -
				   (1 - t) * cosine(vecindex_row(vi, cand[i]), recent, dim);
			if (v > score) {
				score = v;
				high = i;
			}
		}
	}
	free(cand);
	free(sim);
	free(taken);
	free(bits);
	return 0;
}

static int cmp_ranked(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return strcmp(x->id, y->id);
}

/* Reciprocal rank fusion of the vector and BM25 rankings. */
static int rank_hybrid(struct run_ctx *c, const float *qv, struct ranked *out, size_t *n)
{
	size_t pool = c->q->top_k * 4 > 50 ? c->q->top_k * 4 : 50, nv = 0, nt = 0, nf = 0;
	struct ranked *v = malloc(pool * sizeof(*v)), *t = malloc(pool * sizeof(*t));
	struct ranked *fused = malloc(2 * pool * sizeof(*fused));
	struct map *at = map_new(); /* id -> index in fused + 1 */
	int rc = v && t && fused && at ? 0 : -ENOMEM;
	if (!rc)
		rc = rank_vector(c, qv, pool, v, &nv);
	if (!rc)
		rc = rank_text(c, pool, t, &nt);
	for (int list = 0; !rc && list < 2; list++) {
		const struct ranked *r = list ? t : v;
		double w = list ? c->q->w_text : c->q->w_vector;
		for (size_t i = 0; i < (list ? nt : nv); i++) {
			uintptr_t k = (uintptr_t)map_get(at, r[i].id);
			if (!k) {
				fused[nf] = (struct ranked){ r[i].id, 0 };
				k = ++nf;
				map_put(at, r[i].id, (void *)k, NULL);
			}
			fused[k - 1].score += w / (c->q->rrf_k + (double)(i + 1));
		}
	}
	if (!rc) {
		qsort(fused, nf, sizeof(*fused), cmp_ranked);
		*n = nf < c->q->top_k ? nf : c->q->top_k;
		memcpy(out, fused, *n * sizeof(*out));
	}
	free(v);
	free(t);
	free(fused);
	map_free(at, NULL);
	return rc;
}

int query_needs_vector(const struct query_req *q)
{
	return q->kind != QUERY_TEXT;
}

int query_run(const struct state *st, const struct query_req *q, const float *qv,
	      struct query_result *res)
{
	struct run_ctx ctx = { st, q, NULL };
	size_t n = 0;
	int rc;
	memset(res, 0, sizeof(*res));
	if (!q->top_k)
		return 0;
	struct ranked *r = malloc(q->top_k * sizeof(*r));
	res->hits = calloc(q->top_k, sizeof(*res->hits));
	if (!r || !res->hits) {
		free(r);
		return -ENOMEM;
	}
	switch (q->kind) {
	case QUERY_MMR:
		rc = rank_mmr(&ctx, qv, r, &n);
		break;
	case QUERY_TEXT:
		rc = rank_text(&ctx, q->top_k, r, &n);
		break;
	case QUERY_HYBRID:
		rc = rank_hybrid(&ctx, qv, r, &n);
		break;
	default:
		rc = rank_vector(&ctx, qv, q->top_k, r, &n);
	}
	res->index = ctx.index;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = fill_hit(st, r[i].id, (float)r[i].score, &res->hits[i]);
		res->n = i + 1;
	}
	free(r);
	return rc;
}

void query_result_free(struct query_result *res)
{
	for (size_t i = 0; i < res->n; i++) {
		free(res->hits[i].node_id);
		free(res->hits[i].text);
		free(res->hits[i].ref_doc_id);
		cJSON_Delete(res->hits[i].metadata);
	}
	free(res->hits);
	memset(res, 0, sizeof(*res));
}

static cJSON *hit_json(const struct query_hit *h)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "node_id", h->node_id);
	cJSON_AddNumberToObject(o, "score", h->score);
	cJSON_AddStringToObject(o, "text", h->text);
	cJSON_AddItemToObject(o, "metadata", cJSON_Duplicate(h->metadata, 1));
	if (h->ref_doc_id)
		cJSON_AddStringToObject(o, "ref_doc_id", h->ref_doc_id);
	else
		cJSON_AddNullToObject(o, "ref_doc_id");
	return o;
}

/* One object per line: the header fields, then one line per hit, so that
 * both json.load and grep work on the result. */
static int render_json(const struct query_req *q, const struct query_result *res,
		       struct buf *out)
{
	cJSON *head = cJSON_CreateObject();
	int rc = head ? 0 : -ENOMEM;
	if (q->text)
		cJSON_AddStringToObject(head, "query", q->text);
	else
		cJSON_AddNullToObject(head, "query");
	cJSON_AddNumberToObject(head, "top_k", (double)q->top_k);
	cJSON_AddStringToObject(head, "mode", q->mode);
	if (res->index)
		cJSON_AddStringToObject(head, "index", res->index);
	cJSON_AddNumberToObject(head, "took_ms", round(res->took_ms * 1000) / 1000);
	if (!rc)
		rc = json_print_spaced(head, out);
	cJSON_Delete(head);
	if (!rc) {
		out->len--; /* reopen the object for "results" */
		rc = buf_adds(out, ", \"results\": [");
	}
	for (size_t i = 0; i < res->n && !rc; i++) {
		cJSON *h = hit_json(&res->hits[i]);
		rc = h ? buf_adds(out, i ? ",\n  " : "\n  ") : -ENOMEM;
		if (!rc)
			rc = json_print_spaced(h, out);
		cJSON_Delete(h);
	}
	return rc ? rc : buf_adds(out, res->n ? "\n]}\n" : "]}\n");
}

/* One line of text, white space collapsed, at most max bytes (UTF-8 safe). */
static int add_excerpt(struct buf *out, const char *s, size_t max)
{
	int rc = 0, space = 0;
	size_t n = 0;
	for (; *s && !rc; s++) {
		unsigned char c = (unsigned char)*s;
		if (n >= max && (c & 0xc0) != 0x80) {
			rc = buf_adds(out, "...");
			break;
		}
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			space = n > 0;
			continue;
		}
		if (space)
			rc = buf_addc(out, ' ');
		space = 0;
		if (!rc)
			rc = buf_addc(out, (char)c);
		n++;
	}
	return rc;
}

static int render_text(const struct query_req *q, const struct query_result *res,
		       struct buf *out)
{
	int rc = buf_addf(out, "query: %s\n%zu result%s in %.2f ms\n",
			  q->text ? q->text : "(embedding)", res->n, res->n == 1 ? "" : "s",
			  res->took_ms);
	for (size_t i = 0; i < res->n && !rc; i++) {
		const struct query_hit *h = &res->hits[i];
		rc = buf_addf(out, "\n%zu. %.4f  %s  (node %s)\n   ", i + 1, h->score,
			      h->ref_doc_id ? h->ref_doc_id : "-", h->node_id);
		if (!rc)
			rc = add_excerpt(out, h->text, 400);
		if (!rc)
			rc = buf_addc(out, '\n');
	}
	return rc;
}

int query_render(const struct query_req *q, const struct query_result *res, int as_text,
		 struct buf *out)
{
	return as_text ? render_text(q, res, out) : render_json(q, res, out);
}

int query_render_error(const char *req, size_t len, int err, const char *msg, int as_text,
		       struct buf *out)
{
	const char *name = strerrorname_np(err < 0 ? -err : err);
	if (as_text)
		return buf_addf(out, "error: %s: %s\n", name ? name : "E?", msg);
	cJSON *o = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(o, "error");
	char *r = strndup(req ? req : "", len);
	int rc = -ENOMEM;
	if (o && e && r) {
		cJSON_AddStringToObject(e, "errno", name ? name : "E?");
		cJSON_AddStringToObject(e, "message", msg);
		cJSON_AddStringToObject(o, "request", r);
		rc = json_print_spaced(o, out);
		if (!rc)
			rc = buf_addc(out, '\n');
	}
	free(r);
	cJSON_Delete(o);
	return rc;
}
