/* store/persist.c - see persist.h */
#include "persist.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "map.h"
#include "vecindex.h"

static const char *const file_names[PERSIST_NFILES] = {
	[PERSIST_PY_DOCSTORE] = "docstore.json",
	[PERSIST_PY_INDEX] = "index_store.json",
	[PERSIST_PY_VECTORS] = "default__vector_store.json",
	[PERSIST_PY_IMAGE_VECTORS] = "image__vector_store.json",
	[PERSIST_PY_GRAPH] = "graph_store.json",
	[PERSIST_TS_DOCSTORE] = "doc_store.json",
	[PERSIST_TS_INDEX] = "index_store.json",
	[PERSIST_TS_VECTORS] = "vector_store.json",
};

const char *persist_file_name(enum persist_file f)
{
	return (unsigned)f < PERSIST_NFILES ? file_names[f] : NULL;
}

int persist_file_is_ts(enum persist_file f)
{
	return f >= PERSIST_TS_DOCSTORE;
}

int persist_file_lookup(int ts, const char *name)
{
	for (int f = 0; f < PERSIST_NFILES; f++)
		if (!!persist_file_is_ts(f) == !!ts && !strcmp(name, file_names[f]))
			return f;
	return -ENOENT;
}

struct pctx {
	const struct state *st;
	const char *index_id;
	struct vecindex *vi;
	struct jw *w;
	enum json_dialect d;
};

/* ---- helpers ---- */

static void put_key(struct pctx *c, int *first, const char *key)
{
	if (!*first)
		json_write_comma(c->w, c->d);
	*first = 0;
	json_write_string(c->w, c->d, key, strlen(key));
	json_write_colon(c->w, c->d);
}

/* Entries are written in first-put order (state_keys_in_order): the order
 * LlamaIndex's own dicts keep, so a persist dir copied in comes back out in
 * its own order. */

struct row_key {
	uint64_t order; /* the node's first-put order; UINT64_MAX: no node */
	const char *id;
	size_t row;
};

static int row_key_cmp(const void *a, const void *b)
{
	const struct row_key *x = a, *y = b;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* Vector rows in their nodes' order, vectors without a node last by id
 * (malloc'd; NULL with n == 0 when empty). */
static int ordered_rows(const struct pctx *c, size_t **rows, size_t *n)
{
	*n = vecindex_count(c->vi);
	*rows = NULL;
	if (!*n)
		return 0;
	struct row_key *k = malloc(*n * sizeof(*k));
	*rows = malloc(*n * sizeof(**rows));
	if (!k || !*rows) {
		free(k);
		free(*rows);
		*rows = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < *n; i++) {
		const char *id = vecindex_id(c->vi, i);
		const struct entry *e = state_get(c->st, COLL_NODES, id);
		k[i] = (struct row_key){ e ? e->order : UINT64_MAX, id, i };
	}
	qsort(k, *n, sizeof(*k), row_key_cmp);
	for (size_t i = 0; i < *n; i++)
		(*rows)[i] = k[i].row;
	free(k);
	return 0;
}

/* The parts of a stored node the vector stores need. */
struct node_view {
	const char *meta, *cls, *rels; /* value spans, or NULL */
	size_t meta_len, cls_len, rels_len;
};

static int view_member(void *ctx, const char *key, const char *val, size_t len)
{
	struct node_view *v = ctx;
	if (!strcmp(key, "metadata"))
		v->meta = val, v->meta_len = len;
	else if (!strcmp(key, "class_name"))
		v->cls = val, v->cls_len = len;
	else if (!strcmp(key, "relationships"))
		v->rels = val, v->rels_len = len;
	return 0;
}

/* Fill v from the stored node text, and cls/ref with its class name
 * ("TextNode" by default) and ref doc id (empty without a SOURCE).
 * 0, -EINVAL (not a node object), -ENOMEM. */
static int node_view_get(const struct entry *e, struct node_view *v, struct buf *cls,
			 struct buf *ref, int *has_ref)
{
	const char *src, *id;
	size_t src_len, id_len;
	int rc;
	memset(v, 0, sizeof(*v));
	buf_reset(cls);
	buf_reset(ref);
	*has_ref = 0;
	rc = json_text_members(e->val, e->len, view_member, v);
	if (rc)
		return rc;
	if (v->cls && v->cls[0] == '"')
		rc = json_text_string(v->cls, v->cls_len, cls);
	else
		rc = buf_adds(cls, "TextNode");
	if (!rc && !cls->data)
		rc = buf_adds(cls, "");
	if (rc || !v->rels || json_text_member(v->rels, v->rels_len, "1", &src, &src_len))
		return rc;
	/* SOURCE is a RelatedNodeInfo, or a bare id in the 0.6 schema. */
	if (src[0] == '{' && !json_text_member(src, src_len, "node_id", &id, &id_len) &&
	    id[0] == '"')
		rc = json_text_string(id, id_len, ref);
	else if (src[0] == '"')
		rc = json_text_string(src, src_len, ref);
	else
		return 0;
	if (!rc && ref->data)
		*has_ref = 1;
	return rc;
}

/* ---- metadata_dict entries ---- */

static const char *const special_keys[] = { "_node_type", "document_id", "doc_id",
					    "ref_doc_id" };

struct meta_ctx {
	struct pctx *c;
	const char *vals[4];
	int done[4];
	int first;
};

static int meta_member(void *ctx, const char *key, const char *val, size_t len)
{
	struct meta_ctx *m = ctx;
	if (!strcmp(key, "_node_content"))
		return 0; /* computed, then popped by SimpleVectorStore.add */
	put_key(m->c, &m->first, key);
	for (int i = 0; i < 4; i++) {
		if (!strcmp(key, special_keys[i])) {
			/* dict assignment keeps the key's position */
			json_write_string(m->c->w, m->c->d, m->vals[i], strlen(m->vals[i]));
			m->done[i] = 1;
			return 0;
		}
	}
	return json_transcode(m->c->w, m->c->d, val, len);
}

static int write_meta_entry(struct pctx *c, const struct node_view *v, const char *cls,
			    const char *ref)
{
	struct meta_ctx m = { c, { cls, ref, ref, ref }, { 0 }, 1 };
	int rc = 0;
	jw_write(c->w, "{", 1);
	if (v && v->meta && v->meta[0] == '{')
		rc = json_text_members(v->meta, v->meta_len, meta_member, &m);
	for (int i = 0; i < 4 && !rc; i++) {
		if (m.done[i])
			continue;
		put_key(c, &m.first, special_keys[i]);
		json_write_string(c->w, c->d, m.vals[i], strlen(m.vals[i]));
	}
	jw_write(c->w, "}", 1);
	return rc;
}

/* ---- vector stores (both dialects) ---- */

static void write_row(struct pctx *c, const float *row, uint32_t dim)
{
	jw_write(c->w, "[", 1);
	for (uint32_t j = 0; j < dim; j++) {
		if (j)
			json_write_comma(c->w, c->d);
		json_write_double(c->w, c->d, (double)row[j]);
	}
	jw_write(c->w, "]", 1);
}

static int render_vectors(struct pctx *c)
{
	int ts = c->d == JSON_JS;
	size_t *rows, n;
	struct buf cls = BUF_INIT, ref = BUF_INIT;
	struct node_view v;
	int rc = ordered_rows(c, &rows, &n), first, has_ref;
	uint32_t dim = vecindex_dim(c->vi);
	if (rc)
		return rc;

	jw_puts(c->w, ts ? "{\"embeddingDict\":{" : "{\"embedding_dict\": {");
	first = 1;
	for (size_t i = 0; i < n && !c->w->err; i++) {
		put_key(c, &first, vecindex_id(c->vi, rows[i]));
		write_row(c, vecindex_row(c->vi, rows[i]), dim);
	}

	/* Each node is scanned twice (ref ids, then metadata) rather than
	 * keeping N views around. */
	jw_puts(c->w, ts ? "},\"textIdToRefDocId\":{" : "}, \"text_id_to_ref_doc_id\": {");
	first = 1;
	for (size_t i = 0; i < n && !rc && !c->w->err; i++) {
		const char *id = vecindex_id(c->vi, rows[i]);
		const struct entry *e = state_get(c->st, COLL_NODES, id);
		has_ref = 0;
		if (e && node_view_get(e, &v, &cls, &ref, &has_ref) == -ENOMEM)
			rc = -ENOMEM;
		if (ts && !has_ref)
			continue;
		put_key(c, &first, id);
		json_write_string(c->w, c->d, has_ref ? ref.data : "None",
				  has_ref ? ref.len : 4);
	}

	jw_puts(c->w, ts ? "},\"metadataDict\":{" : "}, \"metadata_dict\": {");
	first = 1;
	for (size_t i = 0; i < n && !rc && !c->w->err; i++) {
		const char *id = vecindex_id(c->vi, rows[i]);
		const struct entry *e = state_get(c->st, COLL_NODES, id);
		int have = 0;
		has_ref = 0;
		if (e) {
			rc = node_view_get(e, &v, &cls, &ref, &has_ref);
			have = !rc;
			if (rc == -EINVAL)
				rc = 0;
		}
		if (rc || (ts && !has_ref))
			continue;
		put_key(c, &first, id);
		rc = write_meta_entry(c, have ? &v : NULL, have ? cls.data : "TextNode",
				      has_ref ? ref.data : "None");
	}
	jw_puts(c->w, "}}");
	buf_release(&cls);
	buf_release(&ref);
	free(rows);
	return rc;
}

/* ---- Python docstore.json and index_store.json ---- */

static const char *py_type_code(const char *cls)
{
	if (!strcmp(cls, "ImageNode"))
		return "2";
	if (!strcmp(cls, "IndexNode"))
		return "3";
	if (!strcmp(cls, "Document") || !strcmp(cls, "ImageDocument"))
		return "4";
	return "1";
}

/* A collection as an object of its entries re-emitted; nodes wrapped. */
static int py_coll(struct pctx *c, const char *coll, int wrap_nodes, const char *skip)
{
	size_t n;
	const char **keys = state_keys_in_order(c->st, coll, &n);
	struct buf cls = BUF_INIT, ref = BUF_INIT;
	struct node_view v;
	int first = 1, rc = 0, has_ref;
	if (n && !keys)
		return -ENOMEM;
	jw_write(c->w, "{", 1);
	for (size_t i = 0; i < n && !rc && !c->w->err; i++) {
		const struct entry *e = state_get(c->st, coll, keys[i]);
		if ((skip && !strcmp(keys[i], skip)) || !json_text_valid(e->val, e->len))
			continue;
		if (wrap_nodes && node_view_get(e, &v, &cls, &ref, &has_ref))
			continue; /* not an object */
		put_key(c, &first, keys[i]);
		if (wrap_nodes)
			jw_puts(c->w, "{\"__data__\": ");
		rc = json_transcode(c->w, JSON_PY, e->val, e->len);
		if (wrap_nodes) {
			jw_puts(c->w, ", \"__type__\": \"");
			jw_puts(c->w, py_type_code(cls.data));
			jw_puts(c->w, "\"}");
		}
	}
	jw_write(c->w, "}", 1);
	buf_release(&cls);
	buf_release(&ref);
	free(keys);
	return rc;
}

/* Python's SimpleKVStore keeps collections in the order they were first
 * touched: the three come in their first entries' order (a file copied in
 * keeps its own), empty ones in the order a real file has them. */
static int render_py_docstore(struct pctx *c)
{
	const char *colls[3] = { COLL_DOCMETA, COLL_REFDOC, COLL_NODES };
	uint64_t first[3];
	int rc = 0;
	for (int i = 0; i < 3; i++)
		first[i] = state_coll_first(c->st, colls[i]);
	for (int i = 1; i < 3; i++) /* insertion sort: stable, three items */
		for (int j = i; j > 0 && first[j] < first[j - 1]; j--) {
			uint64_t f = first[j];
			const char *n = colls[j];
			first[j] = first[j - 1];
			colls[j] = colls[j - 1];
			first[j - 1] = f;
			colls[j - 1] = n;
		}
	for (int i = 0; i < 3 && !rc; i++) {
		jw_puts(c->w, i ? ", " : "{");
		json_write_string(c->w, JSON_PY, colls[i], strlen(colls[i]));
		jw_puts(c->w, ": ");
		rc = py_coll(c, colls[i], !strcmp(colls[i], COLL_NODES), NULL);
	}
	jw_write(c->w, "}", 1);
	return rc;
}

/* The default IndexDict's fields in dataclass order: nodes_dict maps each
 * vector id to itself. Python writes it with to_json(), so the same
 * dialect, then stores that text as a string. */
static int py_default_struct(struct pctx *c)
{
	size_t *rows, n;
	int first = 1, rc = ordered_rows(c, &rows, &n);
	if (rc)
		return rc;
	jw_puts(c->w, "{\"__type__\": \"vector_store\", \"__data__\": \"");
	c->w->quoted = 1;
	jw_puts(c->w, "{\"index_id\": ");
	json_write_string(c->w, JSON_PY, c->index_id, strlen(c->index_id));
	jw_puts(c->w, ", \"summary\": null, \"nodes_dict\": {");
	for (size_t i = 0; i < n && !c->w->err; i++) {
		const char *id = vecindex_id(c->vi, rows[i]);
		put_key(c, &first, id);
		json_write_string(c->w, JSON_PY, id, strlen(id));
	}
	jw_puts(c->w, "}, \"doc_id_dict\": {}, \"embeddings_dict\": {}}");
	c->w->quoted = 0;
	jw_puts(c->w, "\"}");
	free(rows);
	return 0;
}

static int render_py_index(struct pctx *c)
{
	size_t n;
	const char **keys = state_keys_in_order(c->st, COLL_INDEX, &n);
	int first = 1, rc;
	if (n && !keys)
		return -ENOMEM;
	jw_puts(c->w, "{\"index_store/data\": {");
	put_key(c, &first, c->index_id);
	rc = py_default_struct(c);
	for (size_t i = 0; i < n && !rc && !c->w->err; i++) {
		const struct entry *e = state_get(c->st, COLL_INDEX, keys[i]);
		const char *tv;
		size_t tl;
		/* only kvstore-wrapped structs: json_to_index_struct needs __type__ */
		if (!strcmp(keys[i], c->index_id) || !json_text_valid(e->val, e->len) ||
		    json_text_member(e->val, e->len, "__type__", &tv, &tl))
			continue;
		put_key(c, &first, keys[i]);
		rc = json_transcode(c->w, JSON_PY, e->val, e->len);
	}
	jw_puts(c->w, "}}");
	free(keys);
	return rc;
}

/* ---- LlamaIndex.TS: node conversion ---- */

static const char *ts_type(const char *cls)
{
	if (!strcmp(cls, "ImageNode"))
		return "IMAGE";
	if (!strcmp(cls, "IndexNode"))
		return "INDEX";
	if (!strcmp(cls, "Document"))
		return "DOCUMENT";
	if (!strcmp(cls, "ImageDocument"))
		return "IMAGE_DOCUMENT";
	return "TEXT";
}

static cJSON *parse_entry(const struct entry *e)
{
	cJSON *j = e ? json_parse(e->val, e->len) : NULL;
	if (j && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

/* JS String(v) as Array.prototype.join and template strings use it. */
static int js_str(const cJSON *v, int in_array, struct buf *out)
{
	char tmp[JSON_NUM_MAX];
	const cJSON *it;
	int rc = 0;
	if (!v || cJSON_IsNull(v))
		return in_array ? 0 : buf_adds(out, "null"); /* [null].join() is "" */
	if (cJSON_IsBool(v))
		return buf_adds(out, cJSON_IsTrue(v) ? "true" : "false");
	if (cJSON_IsNumber(v))
		return buf_add(out, tmp, js_number_str(v->valuedouble, tmp));
	if (cJSON_IsString(v))
		return buf_adds(out, v->valuestring);
	if (cJSON_IsObject(v))
		return buf_adds(out, "[object Object]");
	cJSON_ArrayForEach(it, v) {
		if (!rc && it != v->child)
			rc = buf_addc(out, ',');
		if (!rc)
			rc = js_str(it, 1, out);
	}
	return rc;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *ws_chars = " \t\n\r\v\f";

/* LlamaIndex.TS TextNode.generateHash: base64(sha256("type=T" +
 * "startCharIdx=S endCharIdx=E" + getContent(ALL))), where the content is
 * the metadata lines with keys sorted, "\n\n", the text, trimmed. */
static int ts_hash(const char *type, const cJSON *start, const cJSON *end, const char *text,
		   const cJSON *meta, const char *sep, char out[48])
{
	struct buf m = BUF_INIT, s = BUF_INIT;
	const cJSON *it;
	size_t nk = 0, i = 0;
	int rc = 0;
	char tmp[JSON_NUM_MAX];
	cJSON_ArrayForEach(it, meta)
		nk++;
	const char **keys = nk ? malloc(nk * sizeof(*keys)) : NULL;
	if (nk && !keys)
		return -ENOMEM;
	cJSON_ArrayForEach(it, meta)
		keys[i++] = it->string;
	if (nk)
		qsort(keys, nk, sizeof(*keys), str_cmp);
	for (i = 0; i < nk && !rc; i++) {
		if (i)
			rc = buf_adds(&m, sep);
		if (!rc)
			rc = buf_addf(&m, "%s: ", keys[i]);
		if (!rc)
			rc = js_str(cJSON_GetObjectItemCaseSensitive(meta, keys[i]), 0, &m);
	}
	free(keys);
	/* (meta.trim() + "\n\n" + text).trim() */
	const char *mp = m.data ? m.data : "";
	size_t ml = m.len;
	while (ml && strchr(ws_chars, *mp))
		mp++, ml--;
	while (ml && strchr(ws_chars, mp[ml - 1]))
		ml--;
	struct buf content = BUF_INIT;
	if (!rc)
		rc = buf_add(&content, mp, ml);
	if (!rc)
		rc = buf_adds(&content, "\n\n");
	if (!rc)
		rc = buf_adds(&content, text);
	const char *cp = content.data ? content.data : "";
	size_t cl = content.len;
	while (cl && strchr(ws_chars, *cp))
		cp++, cl--;
	while (cl && strchr(ws_chars, cp[cl - 1]))
		cl--;
	if (!rc)
		rc = buf_addf(&s, "type=%sstartCharIdx=", type);
	if (!rc) {
		int has = cJSON_IsNumber(start) && start->valuedouble != 0;
		rc = buf_adds(&s, has ? (js_number_str(start->valuedouble, tmp), tmp)
				      : "undefined");
	}
	if (!rc)
		rc = buf_adds(&s, " endCharIdx=");
	if (!rc) /* any type: the node keeps whatever endCharIdx it was given */
		rc = end && !cJSON_IsNull(end) ? js_str(end, 0, &s) : buf_adds(&s, "undefined");
	if (!rc)
		rc = buf_add(&s, cp, cl);
	if (!rc) {
		unsigned char md[32];
		unsigned int mdlen = 0;
		EVP_Digest(s.data, s.len, md, &mdlen, EVP_sha256(), NULL);
		EVP_EncodeBlock((unsigned char *)out, md, 32);
	}
	buf_release(&m);
	buf_release(&s);
	buf_release(&content);
	return rc;
}

static const cJSON *get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* The fields TS's hash uses, from a Python node; hash into out. */
static int ts_node_hash(const cJSON *py, char out[48])
{
	const char *cls = json_str(py, "class_name");
	const cJSON *meta = get(py, "metadata");
	const cJSON *sep = get(py, "metadata_separator");
	const char *text = json_str(py, "text");
	if (!meta)
		meta = get(py, "extra_info");
	if (!sep)
		sep = get(py, "metadata_seperator");
	if (!text) {
		const cJSON *tr = get(py, "text_resource");
		text = tr ? json_str(tr, "text") : NULL;
	}
	return ts_hash(ts_type(cls ? cls : ""), get(py, "start_char_idx"),
		       get(py, "end_char_idx"), text ? text : "",
		       cJSON_IsObject(meta) ? meta : NULL,
		       cJSON_IsString(sep) ? sep->valuestring : "\n", out);
}

/* The TS hash of stored node id, or the doc_hash of doc id, into out
 * ("" when neither). */
/* TS hashes are base64 of a SHA-256; ragfs's document hashes are the hex
 * of one: the same digest, re-encoded (h is rewritten in place). */
static void hex_to_ts_hash(char *h, size_t len)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char d[33] = { 0 };
	if (strlen(h) != 64 || strspn(h, "0123456789abcdef") != 64 || len < 45)
		return;
	for (int i = 0; i < 32; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		d[i] = (unsigned char)v;
	}
	size_t o = 0;
	for (int i = 0; i < 33; i += 3) {
		unsigned v = (unsigned)d[i] << 16 | (i + 1 < 33 ? d[i + 1] : 0) << 8 |
			     (i + 2 < 33 ? d[i + 2] : 0);
		h[o++] = b64[(v >> 18) & 63];
		h[o++] = b64[(v >> 12) & 63];
		h[o++] = i + 1 < 32 ? b64[(v >> 6) & 63] : '=';
		h[o++] = i + 2 < 32 ? b64[v & 63] : '=';
	}
	h[44] = '\0';
}

/* A hash already in TS form (44 base64 characters ending in '='). */
static int is_ts_hash(const char *h)
{
	return h && strlen(h) == 44 && h[43] == '=';
}

static void target_hash(const struct state *st, const char *id, const char *stored,
			char out[72])
{
	/* Keep what LlamaIndex.TS wrote: relationship hashes are snapshots. */
	if (is_ts_hash(stored)) {
		snprintf(out, 72, "%s", stored);
		return;
	}
	cJSON *t = parse_entry(state_get(st, COLL_NODES, id));
	out[0] = '\0';
	if (t && !ts_node_hash(t, out)) {
		cJSON_Delete(t);
		return;
	}
	cJSON_Delete(t);
	out[0] = '\0';
	if (stored && *stored) {
		snprintf(out, 72, "%s", stored);
		hex_to_ts_hash(out, 72);
		return;
	}
	cJSON *m = parse_entry(state_get(st, COLL_DOCMETA, id));
	const char *h = m ? json_str(m, "doc_hash") : NULL;
	if (h)
		snprintf(out, 72, "%s", h);
	cJSON_Delete(m);
	hex_to_ts_hash(out, 72);
}

static const char *const rel_names[] = { NULL, "SOURCE", "PREVIOUS", "NEXT", "PARENT",
					 "CHILD" };

static cJSON *ts_rel(const struct state *st, const cJSON *r)
{
	char h[72];
	cJSON *o = cJSON_CreateObject();
	const char *id = cJSON_IsString(r) ? r->valuestring : json_str(r, "node_id");
	const cJSON *meta = cJSON_IsObject(r) ? get(r, "metadata") : NULL;
	target_hash(st, id ? id : "", cJSON_IsObject(r) ? json_str(r, "hash") : NULL, h);
	if (!o || !cJSON_AddStringToObject(o, "nodeId", id ? id : "") ||
	    !cJSON_AddItemToObject(o, "metadata", meta ? cJSON_Duplicate(meta, 1)
							 : cJSON_CreateObject()) ||
	    !cJSON_AddStringToObject(o, "hash", h)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int add_copy(cJSON *o, const char *k, const cJSON *v, cJSON *dflt)
{
	cJSON *x = v ? cJSON_Duplicate(v, 1) : dflt;
	if (v)
		cJSON_Delete(dflt);
	return x && cJSON_AddItemToObject(o, k, x);
}

/* py2ts's node_py2ts: the TS node of a Python node (caller frees). */
static cJSON *ts_node(const struct state *st, const cJSON *py, const char **type)
{
	const char *cls = json_str(py, "class_name");
	const cJSON *id = get(py, "id_"), *meta = get(py, "metadata"), *rels, *it;
	const cJSON *sep = get(py, "metadata_separator");
	const cJSON *start = get(py, "start_char_idx"), *end = get(py, "end_char_idx");
	const char *text = json_str(py, "text");
	char h[48];
	int ok;
	*type = ts_type(cls ? cls : "");
	if (!id)
		id = get(py, "doc_id");
	if (!meta)
		meta = get(py, "extra_info");
	if (!cJSON_IsObject(meta))
		meta = NULL;
	if (!sep)
		sep = get(py, "metadata_seperator");
	if (!text) {
		const cJSON *tr = get(py, "text_resource");
		text = tr ? json_str(tr, "text") : NULL;
	}
	cJSON *o = cJSON_CreateObject(), *r = cJSON_CreateObject();
	ok = o && r && add_copy(o, "id_", id, cJSON_CreateNull()) &&
	     add_copy(o, "metadata", meta, cJSON_CreateObject()) &&
	     add_copy(o, "excludedEmbedMetadataKeys", get(py, "excluded_embed_metadata_keys"),
		      cJSON_CreateArray()) &&
	     add_copy(o, "excludedLlmMetadataKeys", get(py, "excluded_llm_metadata_keys"),
		      cJSON_CreateArray());
	if (ok) {
		ok = cJSON_AddItemToObject(o, "relationships", r);
		if (!ok)
			cJSON_Delete(r);
	} else {
		cJSON_Delete(r);
	}
	rels = get(py, "relationships");
	if (!cJSON_IsObject(rels))
		rels = NULL; /* an array's items have no names */
	cJSON_ArrayForEach(it, rels) {
		if (!ok)
			break;
		int k = atoi(it->string);
		const char *name = k >= 1 && k <= 5 ? rel_names[k] : it->string;
		cJSON *x;
		if (cJSON_IsArray(it)) {
			const cJSON *e;
			x = cJSON_CreateArray();
			cJSON_ArrayForEach(e, it) {
				cJSON *y = x ? ts_rel(st, e) : NULL;
				if (!y || !cJSON_AddItemToArray(x, y)) {
					cJSON_Delete(y);
					cJSON_Delete(x);
					x = NULL;
					break;
				}
			}
		} else {
			x = ts_rel(st, it);
		}
		ok = x && cJSON_AddItemToObject(r, name, x);
		if (!ok)
			cJSON_Delete(x);
	}
	ok = ok && cJSON_AddStringToObject(o, "text", text ? text : "") &&
	     cJSON_AddStringToObject(o, "textTemplate", "");
	/* TS drops startCharIdx when it is 0 (a truthiness test) */
	if (ok && cJSON_IsNumber(start) && start->valuedouble != 0)
		ok = add_copy(o, "startCharIdx", start, NULL);
	if (ok && end && !cJSON_IsNull(end))
		ok = add_copy(o, "endCharIdx", end, NULL);
	ok = ok && cJSON_AddStringToObject(o, "metadataSeparator",
					   cJSON_IsString(sep) ? sep->valuestring : "\n");
	if (ok && !strcmp(*type, "INDEX")) {
		const char *ix = json_str(py, "index_id");
		ok = cJSON_AddStringToObject(o, "indexId", ix ? ix : "") != NULL;
	}
	ok = ok && cJSON_AddStringToObject(o, "type", *type) && !ts_node_hash(py, h) &&
	     cJSON_AddStringToObject(o, "hash", h);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* The TS node for stored node id (caller frees), or NULL when it is absent
 * or cJSON cannot parse it (NaN in metadata): *rc gets -ENOMEM on failure. */
static cJSON *ts_node_of(struct pctx *c, const char *id, const char **type, int *rc)
{
	cJSON *py = parse_entry(state_get(c->st, COLL_NODES, id));
	if (!py)
		return NULL;
	cJSON *t = ts_node(c->st, py, type);
	cJSON_Delete(py);
	if (!t)
		*rc = -ENOMEM;
	return t;
}

static int render_ts_docstore(struct pctx *c)
{
	size_t n;
	const char **keys = state_keys_in_order(c->st, COLL_DOCMETA, &n);
	int first = 1, rc = 0;
	char h[72];
	if (n && !keys)
		return -ENOMEM;
	jw_puts(c->w, "{\"docstore/metadata\":{");
	for (size_t i = 0; i < n && !rc && !c->w->err; i++) {
		cJSON *m = parse_entry(state_get(c->st, COLL_DOCMETA, keys[i]));
		if (!m)
			continue;
		const char *ref = json_str(m, "ref_doc_id");
		cJSON *py = parse_entry(state_get(c->st, COLL_NODES, keys[i]));
		if (!py || ts_node_hash(py, h)) {
			const char *dh = json_str(m, "doc_hash");
			snprintf(h, sizeof(h), "%s", dh ? dh : "");
			hex_to_ts_hash(h, sizeof(h));
		}
		cJSON_Delete(py);
		put_key(c, &first, keys[i]);
		jw_puts(c->w, "{\"docHash\":");
		json_write_string(c->w, JSON_JS, h, strlen(h));
		if (ref) {
			jw_puts(c->w, ",\"refDocId\":");
			json_write_string(c->w, JSON_JS, ref, strlen(ref));
		}
		jw_write(c->w, "}", 1);
		cJSON_Delete(m);
	}
	free(keys);

	keys = state_keys_in_order(c->st, COLL_NODES, &n);
	if (n && !keys)
		return -ENOMEM;
	jw_puts(c->w, "},\"docstore/data\":{");
	first = 1;
	for (size_t i = 0; i < n && !rc && !c->w->err; i++) {
		const char *type = "TEXT";
		cJSON *t = ts_node_of(c, keys[i], &type, &rc);
		if (!t)
			continue;
		put_key(c, &first, keys[i]);
		/* TS's __data__ is the node's JSON as a string */
		jw_puts(c->w, "{\"__data__\":\"");
		c->w->quoted = 1;
		json_write_value(c->w, JSON_JS, t);
		c->w->quoted = 0;
		jw_write(c->w, "\"", 1);
		cJSON_Delete(t);
		jw_puts(c->w, ",\"__type__\":\"");
		jw_puts(c->w, type);
		jw_puts(c->w, "\"}");
	}
	free(keys);

	keys = state_keys_in_order(c->st, COLL_REFDOC, &n);
	if (n && !keys)
		return -ENOMEM;
	jw_puts(c->w, "},\"docstore/ref_doc_info\":{");
	first = 1;
	for (size_t i = 0; i < n && !rc && !c->w->err; i++) {
		cJSON *r = parse_entry(state_get(c->st, COLL_REFDOC, keys[i]));
		if (!r)
			continue;
		const cJSON *ids = get(r, "node_ids");
		if (!cJSON_IsArray(ids))
			ids = get(r, "doc_ids");
		put_key(c, &first, keys[i]);
		jw_puts(c->w, "{\"nodeIds\":");
		if (cJSON_IsArray(ids))
			json_write_value(c->w, JSON_JS, ids);
		else
			jw_puts(c->w, "[]");
		jw_puts(c->w, ",\"extraInfo\":{}}");
		cJSON_Delete(r);
	}
	free(keys);
	jw_puts(c->w, "}}");
	return rc;
}

static int render_ts_index(struct pctx *c)
{
	size_t *rows, n, nk;
	int first = 1, rc = ordered_rows(c, &rows, &n);
	const char *type;
	if (rc)
		return rc;
	jw_puts(c->w, "{\"docstore/data\":{");
	put_key(c, &first, c->index_id);
	jw_puts(c->w, "{\"indexId\":");
	json_write_string(c->w, JSON_JS, c->index_id, strlen(c->index_id));
	jw_puts(c->w, ",\"nodesDict\":{");
	int nfirst = 1;
	for (size_t i = 0; i < n && !rc && !c->w->err; i++) {
		const char *id = vecindex_id(c->vi, rows[i]);
		cJSON *t = ts_node_of(c, id, &type, &rc);
		if (!t)
			continue; /* py2ts drops ids whose node is missing */
		put_key(c, &nfirst, id);
		json_write_value(c->w, JSON_JS, t);
		cJSON_Delete(t);
	}
	free(rows);
	jw_puts(c->w, "},\"type\":\"simple_dict\"}");

	const char **keys = state_keys_in_order(c->st, COLL_INDEX, &nk);
	if (nk && !keys)
		return -ENOMEM;
	for (size_t i = 0; i < nk && !rc && !c->w->err; i++) {
		const struct entry *e = state_get(c->st, COLL_INDEX, keys[i]);
		const char *tv;
		size_t tl;
		if (!strcmp(keys[i], c->index_id) || !json_text_valid(e->val, e->len) ||
		    json_text_member(e->val, e->len, "type", &tv, &tl) ||
		    (strncmp(tv, "\"simple_dict\"", tl) && strncmp(tv, "\"list\"", tl)))
			continue;
		put_key(c, &first, keys[i]);
		rc = json_transcode(c->w, JSON_JS, e->val, e->len);
	}
	free(keys);
	jw_puts(c->w, "}}");
	return rc;
}

/* ---- entry points ---- */

static int render(const struct state *st, const char *index_id, uint32_t dim,
		  enum persist_file f, struct jw *w)
{
	struct pctx c = { st, index_id ? index_id : "", state_vectors(st), w, JSON_PY };
	int rc = 0;
	if ((unsigned)f >= PERSIST_NFILES || !c.vi || vecindex_dim(c.vi) != dim)
		return -EINVAL;
	if (persist_file_is_ts(f))
		c.d = JSON_JS;
	switch (f) {
	case PERSIST_PY_DOCSTORE:
		rc = render_py_docstore(&c);
		break;
	case PERSIST_PY_INDEX:
		rc = render_py_index(&c);
		break;
	case PERSIST_PY_VECTORS:
	case PERSIST_TS_VECTORS:
		rc = render_vectors(&c);
		break;
	case PERSIST_PY_IMAGE_VECTORS:
		jw_puts(w, "{\"embedding_dict\": {}, \"text_id_to_ref_doc_id\": {}, "
			   "\"metadata_dict\": {}}");
		break;
	case PERSIST_PY_GRAPH:
		jw_puts(w, "{\"graph_dict\": {}}");
		break;
	case PERSIST_TS_DOCSTORE:
		rc = render_ts_docstore(&c);
		break;
	case PERSIST_TS_INDEX:
		rc = render_ts_index(&c);
		break;
	default:
		rc = -EINVAL;
	}
	int wrc = jw_finish(w);
	return rc ? rc : wrc;
}

int persist_render(const struct state *st, const char *index_id, uint32_t dim,
		   enum persist_file f, jw_write_fn fn, void *ctx)
{
	/* heap, not stack: the writer holds JW_BUF_SIZE bytes */
	struct jw *w = malloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	jw_init(w, fn, ctx);
	int rc = render(st, index_id, dim, f, w);
	free(w);
	return rc;
}

int persist_render_buf(const struct state *st, const char *index_id, uint32_t dim,
		       enum persist_file f, struct buf *out)
{
	return persist_render(st, index_id, dim, f, jw_buf_sink, out);
}

int persist_size(const struct state *st, const char *index_id, uint32_t dim,
		 enum persist_file f, uint64_t *size)
{
	struct jw *w = malloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	jw_init(w, NULL, NULL); /* count only */
	int rc = render(st, index_id, dim, f, w);
	*size = rc ? 0 : w->bytes;
	free(w);
	return rc;
}
