/* store/store_import.c - writing a LlamaIndex (Python) persist file into
 * persist/ imports it (SPEC §2): nodes, metadata, ref-doc info, vectors and
 * index structs, kept verbatim (the JSON text of each entry as the file has
 * it), without re-embedding. One file is one transaction.
 *
 *   docstore.json               every collection: docstore/data entries are
 *                               unwrapped ({"__data__": node, ...} -> node),
 *                               the others stored as they are
 *   index_store.json            index structs other than vector_store ones
 *                               (the store's own default struct stands for
 *                               those: it lists every vector)
 *   default__vector_store.json  embedding_dict -> vectors (dim checked);
 *                               metadata_dict and text_id_to_ref_doc_id are
 *                               derived from the nodes on export
 *   image__vector_store.json, graph_store.json  accepted when empty
 *
 * LlamaIndex.TS files written into persist-ts/ are converted instead: see
 * store_import_persist_ts below.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "map.h"
#include "node.h"
#include "pyjson.h"
#include "store_int.h"

struct import_ctx {
	struct store *s;
	struct txn *t;
	const char *coll; /* target collection for a members walk */
	char err[256];
	size_t n;
	int index_id_seen; /* a vector index struct was met (its id adopted) */
};

static int put_text(struct import_ctx *c, const char *coll, const char *key, const char *val,
		    size_t len)
{
	c->n++;
	return txn_add(c->t, FRAME_PUT, coll, key, val, len, 0, 0);
}

static int node_nests_too_deep(struct import_ctx *c, const char *key, const char *p, size_t n)
{
	if (!node_too_deep(p, n))
		return 0;
	snprintf(c->err, sizeof(c->err), "node \"%.80s\" nests deeper than %d levels", key,
		 NODE_MAX_DEPTH);
	return 1;
}

/* docstore/data: {"__data__": node, "__type__": ...} -> node text. */
static int import_node(void *ctx, const char *key, const char *val, size_t len)
{
	struct import_ctx *c = ctx;
	const char *data;
	size_t dlen;
	if (json_text_member(val, len, "__data__", &data, &dlen) || *data != '{') {
		snprintf(c->err, sizeof(c->err), "docstore/data entry \"%.80s\" has no __data__ object",
			 key);
		return -EINVAL;
	}
	if (node_nests_too_deep(c, key, data, dlen))
		return -EINVAL;
	return put_text(c, COLL_NODES, key, data, dlen);
}

static int import_entry(void *ctx, const char *key, const char *val, size_t len)
{
	struct import_ctx *c = ctx;
	if (*val != '{') {
		snprintf(c->err, sizeof(c->err), "%s entry \"%.80s\" is not an object", c->coll, key);
		return -EINVAL;
	}
	return put_text(c, c->coll, key, val, len);
}

static int import_collection(void *ctx, const char *key, const char *val, size_t len)
{
	struct import_ctx *c = ctx;
	c->coll = key;
	if (!strncmp(key, COLL_INTERNAL_PREFIX, strlen(COLL_INTERNAL_PREFIX))) {
		snprintf(c->err, sizeof(c->err), "collection \"%.80s\" is reserved", key);
		return -EINVAL;
	}
	if (!strcmp(key, COLL_NODES))
		return json_text_members(val, len, import_node, c);
	return json_text_members(val, len, import_entry, c);
}

/* The file's first vector index struct stands for the store's one vector
 * index: its id becomes the store's (so LlamaIndex loads it by the id it
 * saved); later ones are kept verbatim like other structs. The id names
 * index_store/<id>.json, so it must be a usable file name. Returns 1 when the
 * struct was adopted, 0 when it is to be kept, or -EINVAL. */
static int adopt_index_id(struct import_ctx *c, const char *id)
{
	if (c->index_id_seen)
		return 0;
	c->index_id_seen = 1;
	size_t n = strlen(id);
	if (!n || n > 200 || strchr(id, '/') || !strcmp(id, ".") || !strcmp(id, "..")) {
		snprintf(c->err, sizeof(c->err), "index id \"%.80s\" cannot name a file", id);
		return -EINVAL;
	}
	if (strcmp(id, store_index_id(c->s)))
		put_text(c, COLL_INDEX_ID, "default", id, n);
	return 1;
}

/* index_store/data: the vector index struct is the store's own (rendered,
 * not stored); others are kept. */
static int import_struct(void *ctx, const char *key, const char *val, size_t len)
{
	struct import_ctx *c = ctx;
	const char *type;
	size_t tlen;
	struct buf t = BUF_INIT;
	int vector = !json_text_member(val, len, "__type__", &type, &tlen) &&
		     !json_text_string(type, tlen, &t) && t.data && !strcmp(t.data, "vector_store");
	buf_release(&t);
	int rc = vector ? adopt_index_id(c, key) : 0;
	if (rc)
		return rc < 0 ? rc : 0;
	return put_text(c, COLL_INDEX, key, val, len);
}

static int import_index_coll(void *ctx, const char *key, const char *val, size_t len)
{
	return strcmp(key, COLL_INDEX) ? 0 : json_text_members(val, len, import_struct, ctx);
}

/* embedding_dict: id -> [floats]. */
static int import_vector(void *ctx, const char *key, const char *val, size_t len)
{
	struct import_ctx *c = ctx;
	uint32_t dim = store_dim(c->s); /* checked again at commit (state_apply) */
	float *v = malloc(dim * sizeof(float));
	size_t n = 0;
	const char *p = val, *end = val + len;
	int rc = v && *p == '[' ? 0 : -EINVAL;
	if (v && *p == '[')
		p++;
	while (!rc && p < end) {
		while (p < end && (*p == ' ' || *p == ',' || *p == '\n'))
			p++;
		if (p < end && *p == ']')
			break;
		char *next;
		double d = strtod(p, &next);
		if (next == p || n >= dim || !isfinite((float)d))
			rc = -EINVAL;
		else
			v[n++] = (float)d;
		p = next;
	}
	if (!rc && n != dim)
		rc = -EINVAL;
	if (rc)
		snprintf(c->err, sizeof(c->err), "embedding of \"%.80s\" is not %u finite numbers",
			 key, dim);
	else
		rc = txn_add(c->t, FRAME_PUT, COLL_VECS, key, v, dim * sizeof(float), 0, 0);
	c->n += !rc;
	free(v);
	return rc;
}

static int import_vector_store(void *ctx, const char *key, const char *val, size_t len)
{
	return strcmp(key, "embedding_dict") ? 0 : json_text_members(val, len, import_vector, ctx);
}

/* Stores this build does not keep must arrive empty. */
static int check_empty(void *ctx, const char *key, const char *val, size_t len)
{
	struct import_ctx *c = ctx;
	size_t i = 0;
	if (*val != '{' && *val != '[')
		return 0;
	for (i = 1; i < len && (val[i] == ' ' || val[i] == '\n'); i++)
		;
	if (i < len && val[i] != '}' && val[i] != ']') {
		snprintf(c->err, sizeof(c->err), "\"%.60s\" is not empty: this store is not kept",
			 key);
		return -ENOTSUP;
	}
	return 0;
}

/* Commit an import's transaction, or log why it was refused (and drop it:
 * a refused file changes nothing). */
static int import_finish(struct store *s, const char *folder, const char *name,
			 struct txn *t, int rc, const char *err)
{
	if (rc) {
		char path[300];
		snprintf(path, sizeof(path), "%s/%s", folder, name);
		errlog_add(s->errs, path, rc, "import refused: %s", err[0] ? err : "malformed JSON");
	} else {
		rc = store_write_begin(s);
	}
	if (rc) {
		txn_free(t);
		return rc;
	}
	return store_write_end(s, t, 0);
}

int store_import_persist(struct store *s, const char *name, const char *data, size_t len)
{
	struct txn t = { 0 };
	struct import_ctx c = { .s = s, .t = &t };
	json_member_fn fn = NULL;
	if (!strcmp(name, "docstore.json"))
		fn = import_collection;
	else if (!strcmp(name, "index_store.json"))
		fn = import_index_coll;
	else if (!strcmp(name, "default__vector_store.json"))
		fn = import_vector_store;
	else if (!strcmp(name, "image__vector_store.json") || !strcmp(name, "graph_store.json"))
		fn = check_empty;
	int rc = fn ? 0 : -ENOTSUP;
	if (!fn)
		snprintf(c.err, sizeof(c.err), "importing %s is not supported", name);
	size_t lead = 0;
	while (lead < len && strchr(" \t\r\n", data[lead]))
		lead++;
	if (!rc && (lead == len || data[lead] != '{' || !json_text_valid(data, len))) {
		snprintf(c.err, sizeof(c.err), "not a JSON object");
		rc = -EINVAL;
	}
	if (!rc)
		rc = json_text_members(data, len, fn, &c);
	return import_finish(s, "persist", name, &t, rc, c.err);
}

/* ---- LlamaIndex.TS persist dirs (persist-ts/) ----
 *
 *   doc_store.json     docstore/data: each TS node ("__data__" a JSON string,
 *                      camelCase) becomes the Python-shaped node persist.c's
 *                      ts_node() turns back into the same TS object; TS
 *                      relationship hashes (base64) are kept as they are.
 *                      docstore/metadata {docHash, refDocId} -> {doc_hash,
 *                      ref_doc_id} (hashes verbatim), ref_doc_info {nodeIds,
 *                      extraInfo} -> {node_ids, metadata}; other collections
 *                      as they are.
 *   index_store.json   simple_dict structs stand for the store's default
 *                      struct (it lists every vector, with its node); other
 *                      structs ("list") are kept verbatim. Nodes are taken
 *                      from doc_store.json only: a nodesDict copy may be one
 *                      TS reloaded with fields dropped (jsonToDoc).
 *   vector_store.json  embeddingDict -> vectors (dim checked); the rest is
 *                      derived from the nodes on export.
 *
 * LlamaIndex.TS rewrites a whole file after every put, so each import is an
 * upsert of what the file holds: repeating it changes nothing, and entries
 * the file lacks are never deleted (a TS delete does not reach ragfs; delete
 * through docstore/, vector_store/ or docs/).
 */

enum { TV_ID, TV_META, TV_EXEMB, TV_EXLLM, TV_RELS, TV_TEXT, TV_START, TV_END, TV_SEP,
       TV_INDEX, TV_TYPE, TV_N };

/* The value spans of a TS node's fields (NULL when absent). */
struct ts_node_view {
	const char *v[TV_N];
	size_t l[TV_N];
};

static const char *const ts_fields[TV_N] = {
	"id_", "metadata", "excludedEmbedMetadataKeys", "excludedLlmMetadataKeys",
	"relationships", "text", "startCharIdx", "endCharIdx", "metadataSeparator",
	"indexId", "type",
};

static int ts_view_member(void *ctx, const char *key, const char *val, size_t len)
{
	struct ts_node_view *v = ctx;
	for (int i = 0; i < TV_N; i++)
		if (!strcmp(key, ts_fields[i]))
			v->v[i] = val, v->l[i] = len;
	return 0;
}

/* TS node type -> Python class_name and kvstore __type__ code. */
static const struct {
	const char *ts, *cls, *code;
} ts_types[] = {
	{ "TEXT", "TextNode", "1" },
	{ "IMAGE", "ImageNode", "2" },
	{ "INDEX", "IndexNode", "3" },
	{ "DOCUMENT", "Document", "4" },
	{ "IMAGE_DOCUMENT", "ImageDocument", "4" },
};

static int ts_type_index(const char *t)
{
	for (size_t i = 0; i < sizeof(ts_types) / sizeof(ts_types[0]); i++)
		if (!strcmp(t, ts_types[i].ts))
			return (int)i;
	return -1;
}

static const char *const ts_rel_names[] = { "SOURCE", "PREVIOUS", "NEXT", "PARENT", "CHILD" };

struct ts_ctx {
	struct import_ctx c;
	struct map *types; /* node id -> ts_types index + 1 (from docstore/data) */
	struct jw *w;
	struct buf node;   /* the decoded TS node text */
	struct buf tmp;
	int rel_first;
};

static void w_key(struct jw *w, const char *key)
{
	json_write_string(w, JSON_JS, key, strlen(key));
	json_write_colon(w, JSON_JS);
}

/* key: the span, or dflt (raw JSON) when the span is absent or null. */
static int w_span(struct jw *w, const char *key, const char *v, size_t l, const char *dflt)
{
	w_key(w, key);
	if (!v || (l == 4 && !memcmp(v, "null", 4))) {
		jw_puts(w, dflt);
		return 0;
	}
	return json_transcode(w, JSON_JS, v, l);
}

/* One TS {nodeId, metadata, hash} as a Python RelatedNodeInfo. */
static int w_related(struct ts_ctx *x, const char *v, size_t l, int source)
{
	struct jw *w = x->w;
	const char *id = NULL, *meta = NULL, *hash = NULL, *code = source ? "4" : "1";
	size_t il = 0, ml = 0, hl = 0;
	if (*v != '{')
		return json_transcode(w, JSON_JS, v, l); /* a bare id: kept */
	json_text_member(v, l, "nodeId", &id, &il);
	json_text_member(v, l, "metadata", &meta, &ml);
	json_text_member(v, l, "hash", &hash, &hl);
	buf_reset(&x->tmp);
	if (id && *id == '"' && json_text_string(id, il, &x->tmp) == -ENOMEM)
		return -ENOMEM;
	/* node_type only matters to Python: the target's type when this file
	 * has it, else a Document for SOURCE and a text node otherwise */
	uintptr_t t = x->tmp.data ? (uintptr_t)map_get(x->types, x->tmp.data) : 0;
	if (t)
		code = ts_types[t - 1].code;
	jw_write(w, "{", 1);
	int rc = w_span(w, "node_id", id, il, "\"\"");
	jw_write(w, ",", 1);
	w_key(w, "node_type");
	jw_puts(w, "\"");
	jw_puts(w, code);
	jw_puts(w, "\",");
	rc = rc ? rc : w_span(w, "metadata", meta, ml, "{}");
	jw_write(w, ",", 1);
	rc = rc ? rc : w_span(w, "hash", hash, hl, "null");
	jw_puts(w, ",\"class_name\":\"RelatedNodeInfo\"}");
	return rc;
}

static int w_rel_member(void *ctx, const char *key, const char *val, size_t len)
{
	struct ts_ctx *x = ctx;
	const char *name = key;
	char num[2] = "0";
	int rc = 0;
	for (int i = 0; i < 5; i++)
		if (!strcmp(key, ts_rel_names[i]))
			num[0] = (char)('1' + i), name = num;
	if (!x->rel_first)
		jw_write(x->w, ",", 1);
	x->rel_first = 0;
	w_key(x->w, name);
	if (*val != '[')
		return w_related(x, val, len, name == num && num[0] == '1');
	/* CHILD: a list */
	const char *p = val + 1, *end = val + len - 1;
	jw_write(x->w, "[", 1);
	for (int first = 1; !rc && p < end;) {
		while (p < end && strchr(" \t\r\n,", *p))
			p++;
		if (p >= end)
			break;
		const char *q = p;
		int depth = 0, instr = 0;
		for (; q < end; q++) {
			if (instr) {
				if (*q == '\\')
					q++;
				else if (*q == '"')
					instr = 0;
			} else if (*q == '"') {
				instr = 1;
			} else if (*q == '{' || *q == '[') {
				depth++;
			} else if (*q == '}' || *q == ']') {
				depth--;
			} else if (*q == ',' && !depth) {
				break;
			}
		}
		size_t n = (size_t)(q - p);
		while (n && strchr(" \t\r\n", p[n - 1]))
			n--;
		if (!first)
			jw_write(x->w, ",", 1);
		first = 0;
		rc = w_related(x, p, n, 0);
		p = q;
	}
	jw_write(x->w, "]", 1);
	return rc;
}

/* The Python node of a TS node (text t, validated) appended to x->w: the
 * fields persist.c's ts_node() reads, in llama-index-core's layout. */
static int ts_to_py(struct ts_ctx *x, const char *t, size_t len, int *type)
{
	struct ts_node_view v = { 0 };
	struct jw *w = x->w;
	int rc = json_text_members(t, len, ts_view_member, &v);
	if (rc)
		return rc;
	buf_reset(&x->tmp);
	if (!v.v[TV_TYPE])
		return -EINVAL;
	rc = json_text_string(v.v[TV_TYPE], v.l[TV_TYPE], &x->tmp);
	if (rc)
		return rc == -ENOMEM ? rc : -EINVAL;
	*type = ts_type_index(x->tmp.data ? x->tmp.data : "");
	if (*type < 0)
		return -EINVAL;
	int doc = !strcmp(ts_types[*type].cls, "Document") ||
		  !strcmp(ts_types[*type].cls, "ImageDocument");
	const char *sep = v.v[TV_SEP], *text = v.v[TV_TEXT];
	size_t sepl = v.l[TV_SEP], textl = v.l[TV_TEXT];

	jw_write(w, "{", 1);
	rc = w_span(w, "id_", v.v[TV_ID], v.l[TV_ID], "null");
	jw_puts(w, ",\"embedding\":null,");
	rc = rc ? rc : w_span(w, "metadata", v.v[TV_META], v.l[TV_META], "{}");
	jw_write(w, ",", 1);
	rc = rc ? rc : w_span(w, "excluded_embed_metadata_keys", v.v[TV_EXEMB], v.l[TV_EXEMB], "[]");
	jw_write(w, ",", 1);
	rc = rc ? rc : w_span(w, "excluded_llm_metadata_keys", v.v[TV_EXLLM], v.l[TV_EXLLM], "[]");
	jw_puts(w, ",\"relationships\":{");
	x->rel_first = 1;
	if (!rc && v.v[TV_RELS] && *v.v[TV_RELS] == '{')
		rc = json_text_members(v.v[TV_RELS], v.l[TV_RELS], w_rel_member, x);
	jw_puts(w, "},\"metadata_template\":\"{key}: {value}\",");
	rc = rc ? rc : w_span(w, "metadata_separator", sep, sepl, "\"\\n\"");
	if (doc) {
		jw_puts(w, ",\"text_resource\":{\"embeddings\":null,");
		rc = rc ? rc : w_span(w, "text", text, textl, "\"\"");
		jw_puts(w, ",\"path\":null,\"url\":null,\"mimetype\":null},\"image_resource\":null,"
			   "\"audio_resource\":null,\"video_resource\":null");
		/* not Python Document fields, but the TS hash covers them */
		if (!rc && v.v[TV_START]) {
			jw_write(w, ",", 1);
			rc = w_span(w, "start_char_idx", v.v[TV_START], v.l[TV_START], "null");
		}
		if (!rc && v.v[TV_END]) {
			jw_write(w, ",", 1);
			rc = w_span(w, "end_char_idx", v.v[TV_END], v.l[TV_END], "null");
		}
		jw_puts(w, ",\"text_template\":\"{metadata_str}\\n\\n{content}\",\"class_name\":");
		json_write_string(w, JSON_JS, ts_types[*type].cls, strlen(ts_types[*type].cls));
		jw_write(w, ",", 1);
		rc = rc ? rc : w_span(w, "text", text, textl, "\"\"");
		jw_write(w, "}", 1);
		return rc;
	}
	jw_write(w, ",", 1);
	rc = rc ? rc : w_span(w, "text", text, textl, "\"\"");
	jw_puts(w, ",\"mimetype\":\"text/plain\",");
	/* TS drops startCharIdx when it is 0 */
	rc = rc ? rc : w_span(w, "start_char_idx", v.v[TV_START], v.l[TV_START],
			      v.v[TV_END] ? "0" : "null");
	jw_write(w, ",", 1);
	rc = rc ? rc : w_span(w, "end_char_idx", v.v[TV_END], v.l[TV_END], "null");
	jw_write(w, ",", 1);
	rc = rc ? rc : w_span(w, "metadata_seperator", sep, sepl, "\"\\n\"");
	jw_puts(w, ",\"text_template\":\"{metadata_str}\\n\\n{content}\",");
	if (!strcmp(ts_types[*type].ts, "INDEX")) {
		rc = rc ? rc : w_span(w, "index_id", v.v[TV_INDEX], v.l[TV_INDEX], "\"\"");
		jw_puts(w, ",\"obj\":null,");
	}
	jw_puts(w, "\"class_name\":");
	json_write_string(w, JSON_JS, ts_types[*type].cls, strlen(ts_types[*type].cls));
	jw_write(w, "}", 1);
	return rc;
}

/* The TS node text of a docstore/data entry: __data__ is a JSON string
 * (an object is accepted too). Into x->node. */
static int ts_entry_node(struct ts_ctx *x, const char *key, const char *val, size_t len)
{
	const char *d;
	size_t dl;
	buf_reset(&x->node);
	if (*val != '{' || json_text_member(val, len, "__data__", &d, &dl))
		goto bad;
	if (*d == '{')
		return buf_add(&x->node, d, dl);
	int rc = json_text_string(d, dl, &x->node);
	if (rc == -ENOMEM)
		return rc;
	if (!rc && x->node.data && x->node.data[0] == '{' &&
	    json_text_valid(x->node.data, x->node.len))
		return 0;
bad:
	snprintf(x->c.err, sizeof(x->c.err),
		 "docstore/data entry \"%.80s\" has no __data__ node (a JSON string)", key);
	return -EINVAL;
}

/* Pass 1: each node's type, for the node_type of relationships. */
static int ts_note_type(void *ctx, const char *key, const char *val, size_t len)
{
	struct ts_ctx *x = ctx;
	const char *t;
	size_t tl;
	int rc = ts_entry_node(x, key, val, len);
	if (rc)
		return rc;
	buf_reset(&x->tmp);
	if (json_text_member(x->node.data, x->node.len, "type", &t, &tl) ||
	    json_text_string(t, tl, &x->tmp) || ts_type_index(x->tmp.data ? x->tmp.data : "") < 0) {
		snprintf(x->c.err, sizeof(x->c.err), "node \"%.80s\" has no known TS type", key);
		return -EINVAL;
	}
	uintptr_t i = (uintptr_t)ts_type_index(x->tmp.data) + 1;
	return map_put(x->types, key, (void *)i, NULL);
}

static int ts_import_node(void *ctx, const char *key, const char *val, size_t len)
{
	struct ts_ctx *x = ctx;
	struct buf out = BUF_INIT;
	int type, rc = ts_entry_node(x, key, val, len);
	if (rc)
		return rc;
	jw_init(x->w, jw_buf_sink, &out);
	rc = ts_to_py(x, x->node.data, x->node.len, &type);
	int wrc = jw_finish(x->w);
	rc = rc ? rc : wrc;
	if (!rc && !json_text_valid(out.data, out.len))
		rc = -EINVAL; /* cannot happen: every span was valid */
	if (!rc && node_nests_too_deep(&x->c, key, out.data, out.len))
		rc = -EINVAL;
	if (rc == -EINVAL && !x->c.err[0])
		snprintf(x->c.err, sizeof(x->c.err), "node \"%.80s\" is not a TS node", key);
	if (!rc)
		rc = put_text(&x->c, COLL_NODES, key, out.data, out.len);
	buf_release(&out);
	return rc;
}

/* An object entry rebuilt from renamed members: {ts: val} -> {py: val}. */
static int ts_renamed(void *ctx, const char *key, const char *val, size_t len,
		      const char *const (*names)[2], size_t n, const char *const *dflt)
{
	struct ts_ctx *x = ctx;
	struct buf out = BUF_INIT;
	int rc = 0;
	if (*val != '{') {
		snprintf(x->c.err, sizeof(x->c.err), "%s entry \"%.80s\" is not an object",
			 x->c.coll, key);
		return -EINVAL;
	}
	jw_init(x->w, jw_buf_sink, &out);
	jw_write(x->w, "{", 1);
	for (size_t i = 0, first = 1; i < n && !rc; i++) {
		const char *v = NULL;
		size_t vl = 0;
		if (json_text_member(val, len, names[i][0], &v, &vl)) {
			if (!dflt[i])
				continue; /* absent stays absent */
			v = NULL;
		}
		if (!first)
			jw_write(x->w, ",", 1);
		first = 0;
		rc = w_span(x->w, names[i][1], v, vl, dflt[i] ? dflt[i] : "null");
	}
	jw_write(x->w, "}", 1);
	int wrc = jw_finish(x->w);
	rc = rc ? rc : wrc;
	if (!rc)
		rc = put_text(&x->c, x->c.coll, key, out.data, out.len);
	buf_release(&out);
	return rc;
}

static int ts_import_meta(void *ctx, const char *key, const char *val, size_t len)
{
	static const char *const names[][2] = { { "docHash", "doc_hash" },
						{ "refDocId", "ref_doc_id" } };
	static const char *const dflt[] = { NULL, NULL };
	return ts_renamed(ctx, key, val, len, names, 2, dflt);
}

static int ts_import_refdoc(void *ctx, const char *key, const char *val, size_t len)
{
	static const char *const names[][2] = { { "nodeIds", "node_ids" },
						{ "extraInfo", "metadata" } };
	static const char *const dflt[] = { "[]", "{}" };
	return ts_renamed(ctx, key, val, len, names, 2, dflt);
}

static int ts_import_collection(void *ctx, const char *key, const char *val, size_t len)
{
	struct ts_ctx *x = ctx;
	x->c.coll = key;
	if (!strncmp(key, COLL_INTERNAL_PREFIX, strlen(COLL_INTERNAL_PREFIX))) {
		snprintf(x->c.err, sizeof(x->c.err), "collection \"%.80s\" is reserved", key);
		return -EINVAL;
	}
	if (!strcmp(key, COLL_NODES)) {
		int rc = json_text_members(val, len, ts_note_type, x);
		return rc ? rc : json_text_members(val, len, ts_import_node, x);
	}
	if (!strcmp(key, COLL_DOCMETA))
		return json_text_members(val, len, ts_import_meta, x);
	if (!strcmp(key, COLL_REFDOC))
		return json_text_members(val, len, ts_import_refdoc, x);
	return json_text_members(val, len, import_entry, &x->c);
}

/* TS's index store: KVIndexStore's collection is "docstore/data". */
static int ts_import_struct(void *ctx, const char *key, const char *val, size_t len)
{
	struct import_ctx *c = ctx;
	const char *t;
	size_t tl;
	if (*val != '{') {
		snprintf(c->err, sizeof(c->err), "index struct \"%.80s\" is not an object", key);
		return -EINVAL;
	}
	if (!json_text_member(val, len, "type", &t, &tl) && tl == 13 &&
	    !memcmp(t, "\"simple_dict\"", 13)) {
		int rc = adopt_index_id(c, key);
		if (rc)
			return rc < 0 ? rc : 0;
	}
	return put_text(c, COLL_INDEX, key, val, len);
}

static int ts_import_index_coll(void *ctx, const char *key, const char *val, size_t len)
{
	struct ts_ctx *x = ctx;
	if (strcmp(key, COLL_NODES) && strcmp(key, COLL_INDEX))
		return 0;
	return json_text_members(val, len, ts_import_struct, &x->c);
}

static int ts_import_vector_store(void *ctx, const char *key, const char *val, size_t len)
{
	struct ts_ctx *x = ctx;
	return strcmp(key, "embeddingDict") ? 0 : json_text_members(val, len, import_vector, &x->c);
}

int store_import_persist_ts(struct store *s, const char *name, const char *data, size_t len)
{
	struct txn t = { 0 };
	struct ts_ctx x = { .c = { .s = s, .t = &t } };
	json_member_fn fn = NULL;
	int rc = 0;
	if (!strcmp(name, "doc_store.json"))
		fn = ts_import_collection;
	else if (!strcmp(name, "index_store.json"))
		fn = ts_import_index_coll;
	else if (!strcmp(name, "vector_store.json"))
		fn = ts_import_vector_store;
	if (!fn) {
		snprintf(x.c.err, sizeof(x.c.err), "importing %s is not supported", name);
		rc = -ENOTSUP;
	}
	size_t lead = 0;
	while (lead < len && strchr(" \t\r\n", data[lead]))
		lead++;
	if (!rc && (lead == len || data[lead] != '{' || !json_text_valid(data, len))) {
		snprintf(x.c.err, sizeof(x.c.err), "not a JSON object");
		rc = -EINVAL;
	}
	if (!rc) {
		x.types = map_new();
		x.w = malloc(sizeof(*x.w)); /* JW_BUF_SIZE bytes: not on the stack */
		rc = x.types && x.w ? json_text_members(data, len, fn, &x) : -ENOMEM;
	}
	map_free(x.types, NULL);
	free(x.w);
	buf_release(&x.node);
	buf_release(&x.tmp);
	return import_finish(s, "persist-ts", name, &t, rc, x.c.err);
}
