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
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyjson.h"
#include "store_int.h"

struct import_ctx {
	struct store *s;
	struct txn *t;
	const char *coll; /* target collection for a members walk */
	char err[256];
	size_t n;
};

static int put_text(struct import_ctx *c, const char *coll, const char *key, const char *val,
		    size_t len)
{
	c->n++;
	return txn_add(c->t, FRAME_PUT, coll, key, val, len, 0, 0);
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

/* index_store/data: keep structs that are not vector_store ones. */
static int import_struct(void *ctx, const char *key, const char *val, size_t len)
{
	struct import_ctx *c = ctx;
	const char *type;
	size_t tlen;
	struct buf t = BUF_INIT;
	int vector = !json_text_member(val, len, "__type__", &type, &tlen) &&
		     !json_text_string(type, tlen, &t) && t.data && !strcmp(t.data, "vector_store");
	buf_release(&t);
	if (vector)
		return 0;
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
	uint32_t dim = c->s->man.dim;
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
	if (rc) {
		char path[300];
		snprintf(path, sizeof(path), "persist/%s", name);
		errlog_add(s->errs, path, rc, "import refused: %s",
			   c.err[0] ? c.err : "malformed JSON");
		txn_free(&t);
		return rc;
	}
	rc = store_write_begin(s);
	if (rc) {
		txn_free(&t);
		return rc;
	}
	return store_write_end(s, &t, 0);
}
