/* store/store_items.c - mutations of docstore/, vector_store/, index_store/
 * and kvstore/. See store.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "node.h"
#include "store_int.h"

static int refuse(struct store *s, const char *what, const char *id, int rc,
		  const char *reason)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", what, id);
	store_refuse(s, path, rc, reason);
	__atomic_add_fetch(&s->refused, 1, __ATOMIC_RELAXED);
	return rc;
}

/* Add id to (add=1) or drop it from (add=0) ref_doc_info[doc].node_ids. */
static int ref_doc_link(struct store *s, struct txn *t, const char *doc, const char *id,
			int add, const cJSON *meta)
{
	const struct entry *e = state_get(s->st, COLL_REFDOC, doc);
	cJSON *info = e ? json_parse(e->val, e->len) : NULL;
	if (!info && !add)
		return 0;
	if (!info)
		info = cJSON_CreateObject();
	cJSON *ids = cJSON_GetObjectItemCaseSensitive(info, "node_ids");
	if (!cJSON_IsArray(ids)) {
		cJSON_DeleteItemFromObjectCaseSensitive(info, "node_ids");
		ids = cJSON_AddArrayToObject(info, "node_ids");
	}
	if (!cJSON_GetObjectItemCaseSensitive(info, "metadata"))
		cJSON_AddItemToObject(info, "metadata",
				      meta ? cJSON_Duplicate(meta, 1) : cJSON_CreateObject());
	int found = -1, i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, ids) {
		if (cJSON_IsString(it) && !strcmp(it->valuestring, id))
			found = i;
		i++;
	}
	int rc = 0;
	if (add && found < 0)
		cJSON_AddItemToArray(ids, cJSON_CreateString(id));
	else if (!add && found >= 0)
		cJSON_DeleteItemFromArray(ids, found);
	if (!add && !cJSON_GetArraySize(ids))
		rc = txn_del(t, COLL_REFDOC, doc);
	else
		rc = txn_put_json(t, COLL_REFDOC, doc, info);
	cJSON_Delete(info);
	return rc;
}

/* Vector for a node written without one: embed its text (outside the lock). */
static int embed_node(struct embedder *e, const cJSON *node, float **v)
{
	const char *text = node_text(node);
	*v = NULL;
	if (!text || !strcmp(e->name, "none") || e->remote)
		return 0; /* remote embedders run in the background */
	*v = malloc(e->dim * sizeof(float));
	if (!*v)
		return -ENOMEM;
	size_t len = strlen(text);
	int rc = embedder_embed(e, &text, &len, 1, *v);
	if (rc) {
		free(*v);
		*v = NULL;
	}
	return rc;
}

int store_node_write(struct store *s, const char *id, const char *json, size_t len)
{
	cJSON *node = NULL;
	float *emb = NULL;
	size_t emb_len = 0;
	char err[256];
	struct txn t = { 0 };
	if (s->opts.read_only)
		return -EROFS;
	int rc = node_parse_user(json, len, id, &node, &emb, &emb_len, err, sizeof(err));
	if (rc)
		return refuse(s, "docstore", id, rc, err);
	int given = emb != NULL, tried = 0;
	struct embedder *e = NULL;
	/* Embed outside the lock with the store's embedder; again if a
	 * re-embedding switched it meanwhile. */
	store_write_begin(s);
	while (!given && (!tried || e != s->emb)) {
		e = s->emb;
		pthread_rwlock_unlock(&s->lock);
		free(emb);
		if (embed_node(e, node, &emb))
			errlog_add(s->errs, id, 0, "embedding failed; stored without a vector");
		emb_len = emb ? e->dim : 0;
		tried = 1;
		store_write_begin(s);
	}
	if (emb && emb_len != state_dim(s->st) && !given) { /* another mount re-embedded */
		free(emb);
		emb = NULL;
	} else if (emb && emb_len != state_dim(s->st)) {
		uint32_t dim = state_dim(s->st);
		pthread_rwlock_unlock(&s->lock);
		snprintf(err, sizeof(err), "\"embedding\" has %zu values, the store has dim %u",
			 emb_len, dim);
		rc = refuse(s, "docstore", id, -EINVAL, err);
		goto out;
	}
	const char *doc = node_ref_doc_id(node);
	const struct entry *old = state_get(s->st, COLL_NODES, id);
	cJSON *old_node = old ? json_parse(old->val, old->len) : NULL;
	const char *old_doc = node_ref_doc_id(old_node);
	if (old_doc && (!doc || strcmp(old_doc, doc)))
		rc = ref_doc_link(s, &t, old_doc, id, 0, NULL);
	if (!rc)
		rc = txn_put_json(&t, COLL_NODES, id, node);
	if (!rc && emb)
		rc = txn_add(&t, FRAME_PUT, COLL_VECS, id, emb, emb_len * sizeof(float), 0, 0);
	if (!rc)
		rc = txn_put_node_meta(&t, node);
	if (!rc && doc)
		rc = ref_doc_link(s, &t, doc, id, 1, node_metadata(node));
	cJSON_Delete(old_node);
	rc = store_write_end(s, &t, rc);
	if (!rc && !emb && node_text(node))
		store_embed_enqueue(s, id);
	if (!rc)
		__atomic_add_fetch(&s->nodes_written, 1, __ATOMIC_RELAXED);
out:
	cJSON_Delete(node);
	free(emb);
	return rc;
}

int store_node_delete(struct store *s, const char *id)
{
	struct txn t = { 0 };
	int rc = store_write_begin(s);
	if (rc)
		return rc;
	const struct entry *e = state_get(s->st, COLL_NODES, id);
	cJSON *node = e ? json_parse(e->val, e->len) : NULL;
	const char *doc = node_ref_doc_id(node);
	if (!e)
		rc = -ENOENT;
	if (!rc)
		rc = txn_del(&t, COLL_NODES, id);
	if (!rc)
		rc = txn_del(&t, COLL_VECS, id);
	if (!rc)
		rc = txn_del(&t, COLL_DOCMETA, id);
	if (!rc && doc)
		rc = ref_doc_link(s, &t, doc, id, 0, NULL);
	cJSON_Delete(node);
	return store_write_end(s, &t, rc);
}

int store_vector_write(struct store *s, const char *id, const void *data, size_t len)
{
	struct txn t = { 0 };
	char err[200];
	if (s->opts.read_only)
		return -EROFS;
	uint32_t dim = store_dim(s);
	for (int locked = 0; locked < 2; locked++) {
		/* Checked again under the lock: a re-embedding may switch dims. */
		if (len != (size_t)dim * sizeof(float)) {
			if (locked)
				pthread_rwlock_unlock(&s->lock);
			snprintf(err, sizeof(err), "%zu bytes, want %u (dim %u x 4-byte float32)",
				 len, dim * 4, dim);
			return refuse(s, "vector_store", id, -EINVAL, err);
		}
		for (size_t i = 0; i < dim && !locked; i++) {
			float f;
			memcpy(&f, (const char *)data + i * sizeof(f), sizeof(f));
			if (!isfinite(f)) {
				snprintf(err, sizeof(err), "value %zu is NaN or infinite", i);
				return refuse(s, "vector_store", id, -EINVAL, err);
			}
		}
		if (!locked) {
			store_write_begin(s);
			dim = state_dim(s->st);
		}
	}
	int rc = txn_add(&t, FRAME_PUT, COLL_VECS, id, data, len, 0, 0);
	return store_write_end(s, &t, rc);
}

int store_vector_delete(struct store *s, const char *id)
{
	struct txn t = { 0 };
	int rc = store_write_begin(s);
	if (rc)
		return rc;
	if (vecindex_find(state_vectors(s->st), id) < 0)
		rc = -ENOENT;
	if (!rc)
		rc = txn_del(&t, COLL_VECS, id);
	return store_write_end(s, &t, rc);
}

/* Validate a JSON object written by a user; logs and returns -EINVAL. */
static int check_object(struct store *s, const char *what, const char *id,
			const char *json, size_t len)
{
	cJSON *j = json_parse(json, len);
	int rc = 0;
	if (!j)
		rc = refuse(s, what, id, -EINVAL, "not valid JSON");
	else if (!cJSON_IsObject(j))
		rc = refuse(s, what, id, -EINVAL, "not a JSON object");
	cJSON_Delete(j);
	return rc;
}

static int put_value(struct store *s, const char *coll, const char *key, const char *json,
		     size_t len)
{
	struct txn t = { 0 };
	int rc = store_write_begin(s);
	if (rc)
		return rc;
	rc = txn_add(&t, FRAME_PUT, coll, key, json, len, 0, 0);
	return store_write_end(s, &t, rc);
}

static int del_value(struct store *s, const char *coll, const char *key)
{
	struct txn t = { 0 };
	int rc = store_write_begin(s);
	if (rc)
		return rc;
	rc = state_get(s->st, coll, key) ? txn_del(&t, coll, key) : -ENOENT;
	return store_write_end(s, &t, rc);
}

int store_index_write(struct store *s, const char *id, const char *json, size_t len)
{
	if (s->opts.read_only)
		return -EROFS;
	if (!strcmp(id, store_index_id(s)))
		return refuse(s, "index_store", id, -EPERM,
			      "the default vector index struct is maintained by ragfs");
	int rc = check_object(s, "index_store", id, json, len);
	return rc ? rc : put_value(s, COLL_INDEX, id, json, len);
}

int store_index_delete(struct store *s, const char *id)
{
	if (!strcmp(id, store_index_id(s)))
		return refuse(s, "index_store", id, -EPERM,
			      "the default vector index struct is maintained by ragfs");
	return del_value(s, COLL_INDEX, id);
}

int store_kv_write(struct store *s, const char *coll, const char *key, const char *json,
		   size_t len)
{
	if (s->opts.read_only)
		return -EROFS;
	int rc = check_object(s, "kvstore", key, json, len);
	return rc ? rc : put_value(s, coll, key, json, len);
}

int store_kv_delete(struct store *s, const char *coll, const char *key)
{
	return del_value(s, coll, key);
}

int store_kv_mkcoll(struct store *s, const char *coll)
{
	return put_value(s, COLL_KVDIRS, coll, "", 0);
}

int store_kv_rmcoll(struct store *s, const char *coll)
{
	struct txn t = { 0 };
	int rc = store_write_begin(s);
	if (rc)
		return rc;
	const struct map *c = state_coll(s->st, coll);
	if (c && map_count(c))
		rc = -ENOTEMPTY;
	else if (!state_get(s->st, COLL_KVDIRS, coll))
		rc = -ENOENT;
	else
		rc = txn_del(&t, COLL_KVDIRS, coll);
	return store_write_end(s, &t, rc);
}
