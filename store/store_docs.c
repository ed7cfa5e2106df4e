/* store/store_docs.c - mutations of docs/: write (ingest), delete, rename,
 * attributes and folders. See store.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest.h"
#include "jsonutil.h"
#include "log.h"
#include "node.h"
#include "store_int.h"

/* The node ids recorded for doc id (ref_doc_info), as a cJSON array owned
 * by *holder (free it), or NULL. */
static const cJSON *doc_node_ids(const struct state *st, const char *doc, cJSON **holder)
{
	const struct entry *e = state_get(st, COLL_REFDOC, doc);
	*holder = e ? json_parse(e->val, e->len) : NULL;
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(*holder, "node_ids");
	return cJSON_IsArray(ids) ? ids : NULL;
}

/* Delete a node with its vector and docstore metadata. */
static int del_node(struct txn *t, const char *id)
{
	int rc = txn_del(t, COLL_NODES, id);
	if (!rc)
		rc = txn_del(t, COLL_VECS, id);
	if (!rc)
		rc = txn_del(t, COLL_DOCMETA, id);
	return rc;
}

/* Delete everything indexed from doc (not the bytes). */
static int del_doc_index(struct store *s, struct txn *t, const char *doc)
{
	cJSON *holder;
	const cJSON *ids = doc_node_ids(s->st, doc, &holder), *it;
	int rc = 0;
	cJSON_ArrayForEach(it, ids) {
		if (cJSON_IsString(it) && (rc = del_node(t, it->valuestring)))
			break;
	}
	cJSON_Delete(holder);
	if (!rc && state_get(s->st, COLL_REFDOC, doc))
		rc = txn_del(t, COLL_REFDOC, doc);
	if (!rc && state_get(s->st, COLL_DOCMETA, doc))
		rc = txn_del(t, COLL_DOCMETA, doc);
	return rc;
}

static int put_ref_doc(struct txn *t, const char *doc, cJSON *node_ids, const cJSON *meta)
{
	cJSON *info = cJSON_CreateObject();
	cJSON_AddItemToObject(info, "node_ids", node_ids);
	cJSON_AddItemToObject(info, "metadata", cJSON_Duplicate(meta, 1));
	int rc = info ? txn_put_json(t, COLL_REFDOC, doc, info) : -ENOMEM;
	cJSON_Delete(info);
	return rc;
}

static int put_doc_hash(struct txn *t, const char *doc, const char *hash)
{
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "doc_hash", hash);
	int rc = m ? txn_put_json(t, COLL_DOCMETA, doc, m) : -ENOMEM;
	cJSON_Delete(m);
	return rc;
}

/* Add the nodes and vectors (of dim floats) of an ingest result for doc.
 * Depends on nothing in the state: store_doc_write builds it before it
 * takes the write lock (printing a big document's nodes takes seconds). */
static int add_doc_index(struct txn *t, const char *doc, const struct ingest_result *r,
			 size_t dim)
{
	int rc = put_doc_hash(t, doc, r->doc_hash);
	if (rc || !r->n)
		return rc;
	cJSON *ids = cJSON_CreateArray();
	size_t vbytes = dim * sizeof(float);
	for (size_t i = 0; i < r->n && !rc; i++) {
		const char *id = node_id(r->nodes[i]);
		cJSON_AddItemToArray(ids, cJSON_CreateString(id));
		rc = txn_put_json(t, COLL_NODES, id, r->nodes[i]);
		if (!rc && r->vectors)
			rc = txn_add(t, FRAME_PUT, COLL_VECS, id, r->vectors + i * dim, vbytes, 0,
				     0);
		if (!rc)
			rc = txn_put_node_meta(t, r->nodes[i]);
	}
	if (rc) {
		cJSON_Delete(ids);
		return rc;
	}
	return put_ref_doc(t, doc, ids, node_metadata(r->nodes[0]));
}

/* Local embedders run in the writer; remote ones in the background
 * (store_embed.c), "none" not at all. */
static int embeds_here(const struct embedder *emb)
{
	return !emb->remote && strcmp(emb->name, "none");
}

/* r's vectors again, from emb: a re-embedding switched the store's
 * embedder after r was built (rare). No vectors when emb does not embed
 * here, or fails (the nodes are then stored without, as on any failure). */
static void embed_nodes_again(struct embedder *emb, struct ingest_result *r)
{
	const char **texts = malloc((r->n + 1) * sizeof(*texts));
	size_t *lens = malloc((r->n + 1) * sizeof(*lens));
	float *v = embeds_here(emb) ? malloc((r->n + 1) * emb->dim * sizeof(float)) : NULL;
	free(r->vectors);
	r->vectors = NULL;
	for (size_t i = 0; texts && lens && i < r->n; i++) {
		texts[i] = node_text(r->nodes[i]) ? node_text(r->nodes[i]) : "";
		lens[i] = strlen(texts[i]);
	}
	if (texts && lens && v && r->n && !embedder_embed(emb, texts, lens, r->n, v)) {
		r->vectors = v;
		v = NULL;
	}
	free(texts);
	free(lens);
	free(v);
}

/* 1 when doc already holds exactly these bytes. */
static int doc_unchanged(struct store *s, const char *path, const char *data, size_t len,
			 int64_t *ctime_ns, uint32_t *mode)
{
	const struct state *st = store_read_begin(s);
	const struct entry *e = state_get(st, COLL_DOCS, path);
	int same = e && e->len == len && !memcmp(e->val, data, len);
	if (e) {
		*ctime_ns = e->ctime_ns;
		if (!*mode) /* a rewrite keeps the mode chmod gave */
			*mode = e->mode;
	}
	store_read_end(s);
	return same;
}

int store_doc_write(struct store *s, const char *path, const char *data, size_t len,
		    int64_t mtime_ns, uint32_t mode)
{
	struct ingest_result r;
	struct txn t = { 0 }, add = { 0 };
	struct timespec t0;
	int64_t ctime_ns = 0;
	int rc;

	if (s->opts.read_only)
		return -EROFS;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!mtime_ns)
		mtime_ns = now_ns();
	if (doc_unchanged(s, path, data, len, &ctime_ns, &mode)) {
		__atomic_add_fetch(&s->ingest_skips, 1, __ATOMIC_RELAXED);
		return store_doc_setattr(s, path, mtime_ns, mode);
	}
	struct ingest_doc doc = { path, data, len, ctime_ns ? ctime_ns : mtime_ns, mtime_ns };
	struct splitter_opts so = { s->opts.chunk_size, s->opts.chunk_overlap };
	struct embedder *emb = store_emb(s);
	rc = ingest_build(&doc, &so, embeds_here(emb) ? emb : NULL, &r);
	if (rc)
		return rc;
	if (r.embed_err) {
		__atomic_add_fetch(&s->embed_errors, 1, __ATOMIC_RELAXED);
		errlog_add(s->errs, path, r.embed_err, "embedding failed; stored without vectors");
	}
	if (r.read_err)
		errlog_add(s->errs, path, r.read_err, "%s; stored, not indexed", r.read_why);
	rc = add_doc_index(&add, path, &r, emb->dim);
	if (!rc)
		rc = store_write_begin(s);
	while (!rc && s->emb != emb) { /* re-embedding switched over meanwhile */
		emb = s->emb;
		pthread_rwlock_unlock(&s->lock);
		embed_nodes_again(emb, &r);
		txn_free(&add);
		rc = add_doc_index(&add, path, &r, emb->dim);
		if (!rc)
			rc = store_write_begin(s);
	}
	if (rc)
		goto out;
	if (r.vectors && emb->dim != state_dim(s->st)) { /* another mount re-embedded */
		free(r.vectors);
		r.vectors = NULL;
		txn_free(&add);
		rc = add_doc_index(&add, path, &r, 0);
	}
	if (!rc)
		rc = txn_add(&t, FRAME_PUT, COLL_DOCS, path, data, len, mtime_ns, mode);
	if (!rc)
		rc = del_doc_index(s, &t, path);
	if (!rc)
		rc = txn_append(&t, &add);
	rc = store_write_end(s, &t, rc);
	for (size_t i = 0; !rc && !r.vectors && i < r.n; i++)
		store_embed_enqueue(s, node_id(r.nodes[i]));
	if (!rc) {
		__atomic_add_fetch(&s->ingests, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&s->ingest_bytes, len, __ATOMIC_RELAXED);
		store_note_ingest(s, &t0);
	}
out:
	txn_free(&t);
	txn_free(&add);
	ingest_result_free(&r);
	return rc;
}

int store_doc_delete(struct store *s, const char *path)
{
	struct txn t = { 0 };
	int rc = store_write_begin(s);
	if (rc)
		return rc;
	if (!state_get(s->st, COLL_DOCS, path))
		rc = -ENOENT;
	if (!rc)
		rc = txn_del(&t, COLL_DOCS, path);
	if (!rc)
		rc = del_doc_index(s, &t, path);
	rc = store_write_end(s, &t, rc);
	if (!rc)
		__atomic_add_fetch(&s->deletes, 1, __ATOMIC_RELAXED);
	return rc;
}

/* Re-point doc from's nodes at to, with metadata for the new path. */
static int rekey_nodes(struct store *s, struct txn *t, const char *from, const char *to,
		       const cJSON *meta)
{
	cJSON *holder;
	const cJSON *ids = doc_node_ids(s->st, from, &holder), *it;
	cJSON *new_ids = cJSON_CreateArray();
	cJSON *first_meta = NULL;
	int rc = new_ids ? 0 : -ENOMEM;
	cJSON_ArrayForEach(it, ids) {
		const struct entry *e = cJSON_IsString(it) ?
			state_get(s->st, COLL_NODES, it->valuestring) : NULL;
		cJSON *node = e ? json_parse(e->val, e->len) : NULL;
		if (rc || !node) {
			cJSON_Delete(node);
			continue;
		}
		rc = node_set_source(node, to, meta);
		if (!rc)
			rc = txn_put_json(t, COLL_NODES, it->valuestring, node);
		if (!rc)
			rc = txn_put_node_meta(t, node);
		cJSON_AddItemToArray(new_ids, cJSON_CreateString(it->valuestring));
		if (!first_meta)
			first_meta = cJSON_Duplicate(node_metadata(node), 1);
		cJSON_Delete(node);
	}
	if (!rc && ids)
		rc = put_ref_doc(t, to, new_ids, first_meta ? first_meta : meta);
	else
		cJSON_Delete(new_ids);
	cJSON_Delete(first_meta);
	cJSON_Delete(holder);
	return rc;
}

/* Move one document; caller holds the write lock. */
static int rename_doc_locked(struct store *s, struct txn *t, const char *from,
			     const char *to)
{
	const struct entry *e = state_get(s->st, COLL_DOCS, from);
	if (!e)
		return -ENOENT;
	if (!strcmp(from, to))
		return 0;
	cJSON *meta = node_doc_metadata(to, e->len, e->ctime_ns, e->mtime_ns);
	const struct entry *hash = state_get(s->st, COLL_DOCMETA, from);
	int rc = meta ? 0 : -ENOMEM;
	if (!rc && state_get(s->st, COLL_DOCS, to))
		rc = del_doc_index(s, t, to);
	if (!rc)
		rc = txn_add(t, FRAME_PUT, COLL_DOCS, to, e->val, e->len, e->mtime_ns, e->mode);
	if (!rc)
		rc = rekey_nodes(s, t, from, to, meta);
	if (!rc && hash)
		rc = txn_add(t, FRAME_PUT, COLL_DOCMETA, to, hash->val, hash->len, 0, 0);
	if (!rc)
		rc = txn_del(t, COLL_DOCS, from);
	if (!rc && state_get(s->st, COLL_REFDOC, from))
		rc = txn_del(t, COLL_REFDOC, from);
	if (!rc && hash)
		rc = txn_del(t, COLL_DOCMETA, from);
	cJSON_Delete(meta);
	return rc;
}

int store_doc_rename(struct store *s, const char *from, const char *to)
{
	struct txn t = { 0 };
	int rc = store_write_begin(s);
	if (rc)
		return rc;
	rc = rename_doc_locked(s, &t, from, to);
	rc = store_write_end(s, &t, rc);
	if (!rc)
		__atomic_add_fetch(&s->renames, 1, __ATOMIC_RELAXED);
	return rc;
}

static int setattr_in(struct store *s, const char *coll, const char *path, int64_t mtime_ns,
		      uint32_t mode)
{
	struct txn t = { 0 };
	int rc = store_write_begin(s);
	if (rc)
		return rc;
	const struct entry *e = state_get(s->st, coll, path);
	if (!e)
		rc = -ENOENT;
	else if (e->mtime_ns != mtime_ns || e->mode != mode)
		rc = txn_add(&t, FRAME_ATTR, coll, path, NULL, 0,
			     mtime_ns ? mtime_ns : e->mtime_ns, mode);
	rc = store_write_end(s, &t, rc);
	return rc;
}

int store_doc_setattr(struct store *s, const char *path, int64_t mtime_ns, uint32_t mode)
{
	return setattr_in(s, COLL_DOCS, path, mtime_ns, mode);
}

int store_dir_setattr(struct store *s, const char *path, int64_t mtime_ns)
{
	return setattr_in(s, COLL_DIRS, path, mtime_ns, 0);
}

int store_dir_make(struct store *s, const char *path)
{
	struct txn t = { 0 };
	int rc = store_write_begin(s);
	if (rc)
		return rc;
	rc = txn_add(&t, FRAME_PUT, COLL_DIRS, path, NULL, 0, 0, 0);
	rc = store_write_end(s, &t, rc);
	return rc;
}

struct prefix_walk {
	const char *prefix; /* "dir/" */
	size_t plen;
	const char **keys;
	size_t n, cap;
};

static int collect_prefixed(const char *key, void *val, void *ctx)
{
	struct prefix_walk *w = ctx;
	(void)val;
	if (strncmp(key, w->prefix, w->plen))
		return 0;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 32;
		const char **k = realloc(w->keys, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		w->keys = k;
		w->cap = cap;
	}
	w->keys[w->n++] = key;
	return 0;
}

/* Keys of coll starting with prefix (borrowed; free w->keys). */
static int keys_below(const struct state *st, const char *coll, struct prefix_walk *w,
		      const char *prefix)
{
	const struct map *c = state_coll(st, coll);
	w->n = 0;
	w->prefix = prefix;
	w->plen = strlen(prefix);
	return c ? map_each(c, collect_prefixed, w) : 0;
}

int store_dir_remove(struct store *s, const char *path)
{
	struct txn t = { 0 };
	struct prefix_walk w = { 0 };
	char *prefix = NULL;
	int rc = store_write_begin(s);
	if (rc)
		return rc;
	if (asprintf(&prefix, "%s/", path) < 0) {
		prefix = NULL;
		rc = -ENOMEM;
	}
	if (!rc)
		rc = keys_below(s->st, COLL_DOCS, &w, prefix);
	if (!rc && !w.n)
		rc = keys_below(s->st, COLL_DIRS, &w, prefix);
	if (!rc && w.n)
		rc = -ENOTEMPTY;
	if (!rc && state_get(s->st, COLL_DIRS, path))
		rc = txn_del(&t, COLL_DIRS, path);
	rc = store_write_end(s, &t, rc);
	free(w.keys);
	free(prefix);
	return rc;
}

/* to + (key minus the from prefix). */
static char *moved_key(const char *key, size_t from_len, const char *to)
{
	char *k = NULL;
	return asprintf(&k, "%s%s", to, key + from_len) < 0 ? NULL : k;
}

static int rename_dir_locked(struct store *s, struct txn *t, const char *from,
			     const char *to, char *prefix)
{
	struct prefix_walk w = { 0 };
	size_t flen = strlen(from);
	int rc = keys_below(s->st, COLL_DOCS, &w, prefix);
	for (size_t i = 0; i < w.n && !rc; i++) {
		char *k = moved_key(w.keys[i], flen, to);
		rc = k ? rename_doc_locked(s, t, w.keys[i], k) : -ENOMEM;
		free(k);
	}
	if (!rc)
		rc = keys_below(s->st, COLL_DIRS, &w, prefix);
	for (size_t i = 0; i < w.n && !rc; i++) {
		char *k = moved_key(w.keys[i], flen, to);
		rc = k ? txn_add(t, FRAME_PUT, COLL_DIRS, k, NULL, 0, 0, 0) : -ENOMEM;
		if (!rc)
			rc = txn_del(t, COLL_DIRS, w.keys[i]);
		free(k);
	}
	if (!rc && state_get(s->st, COLL_DIRS, from))
		rc = txn_del(t, COLL_DIRS, from);
	if (!rc)
		rc = txn_add(t, FRAME_PUT, COLL_DIRS, to, NULL, 0, 0, 0);
	free(w.keys);
	return rc;
}

int store_dir_rename(struct store *s, const char *from, const char *to)
{
	struct txn t = { 0 };
	char *prefix = NULL;
	int rc = store_write_begin(s);
	if (rc)
		return rc;
	if (asprintf(&prefix, "%s/", from) < 0) {
		prefix = NULL;
		rc = -ENOMEM;
	}
	if (!rc && !strncmp(to, prefix, strlen(prefix)))
		rc = -EINVAL; /* into itself */
	if (!rc)
		rc = rename_dir_locked(s, &t, from, to, prefix);
	rc = store_write_end(s, &t, rc);
	free(prefix);
	return rc;
}
