/* store/state.c - see state.h */
#include "state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bm25.h"
#include "jsonutil.h"
#include "log.h"

struct state {
	struct map *colls;     /* name -> struct map * of struct entry * */
	struct vecindex *vecs;
	struct map *node_meta; /* node id -> cJSON * (metadata object) */
	struct bm25 *text;     /* keyword index over node texts */
	uint64_t version;      /* bumped by every applied op */
	uint32_t dim;
};

static void entry_free(void *p)
{
	struct entry *e = p;
	if (e)
		free(e->val);
	free(e);
}

static void coll_free(void *p)
{
	map_free(p, entry_free);
}

static void meta_free(void *p)
{
	cJSON_Delete(p);
}

int state_new(uint32_t dim, struct state **out)
{
	struct state *st = calloc(1, sizeof(*st));
	*out = NULL;
	if (!st)
		return -ENOMEM;
	st->dim = dim;
	st->colls = map_new();
	st->node_meta = map_new();
	if (!st->colls || !st->node_meta || vecindex_new(dim, &st->vecs) ||
	    bm25_new(&st->text)) {
		state_free(st);
		return -ENOMEM;
	}
	*out = st;
	return 0;
}

void state_free(struct state *st)
{
	if (!st)
		return;
	map_free(st->colls, coll_free);
	map_free(st->node_meta, meta_free);
	vecindex_free(st->vecs);
	bm25_free(st->text);
	free(st);
}

static int apply_vector(struct state *st, const struct frame_op *op)
{
	if (op->type == FRAME_DEL) {
		int rc = vecindex_remove(st->vecs, op->key);
		return rc == -ENOENT ? 0 : rc;
	}
	if (op->type == FRAME_ATTR)
		return 0;
	if (op->val_len != (uint64_t)st->dim * sizeof(float)) {
		LOG_WARN("vector %s: %llu bytes, want %u: skipped", op->key,
			 (unsigned long long)op->val_len, st->dim * 4);
		return -EINVAL;
	}
	/* Frame payloads are not float-aligned: copy out. */
	float *v = malloc(op->val_len);
	if (!v)
		return -ENOMEM;
	memcpy(v, op->val, op->val_len);
	int rc = vecindex_set(st->vecs, op->key, v);
	free(v);
	return rc;
}

/* Keep the parsed metadata of nodes for filtering, and their text in the
 * keyword index. */
static void track_node(struct state *st, const struct frame_op *op)
{
	cJSON *meta = NULL;
	if (op->type == FRAME_ATTR)
		return;
	bm25_remove(st->text, op->key);
	if (op->type == FRAME_PUT) {
		cJSON *node = json_parse(op->val, op->val_len);
		cJSON *m = cJSON_GetObjectItemCaseSensitive(node, "metadata");
		const cJSON *text = cJSON_GetObjectItemCaseSensitive(node, "text");
		if (cJSON_IsObject(m))
			meta = cJSON_DetachItemViaPointer(node, m);
		if (cJSON_IsString(text) && bm25_set(st->text, op->key, text->valuestring))
			LOG_ERR("node %s: out of memory for the keyword index", op->key);
		cJSON_Delete(node);
	}
	cJSON *old = map_del(st->node_meta, op->key);
	cJSON_Delete(old);
	if (meta && map_put(st->node_meta, op->key, meta, NULL))
		cJSON_Delete(meta);
}

static struct map *coll_get_or_make(struct state *st, const char *name)
{
	struct map *c = map_get(st->colls, name);
	if (c)
		return c;
	c = map_new();
	if (c && map_put(st->colls, name, c, NULL)) {
		map_free(c, NULL);
		c = NULL;
	}
	return c;
}

static int apply_put(struct map *c, const struct frame_op *op)
{
	struct entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->val = malloc(op->val_len + 1))) {
		free(e);
		return -ENOMEM;
	}
	if (op->val_len) /* empty values may come with a NULL pointer */
		memcpy(e->val, op->val, op->val_len);
	e->val[op->val_len] = '\0';
	e->len = op->val_len;
	e->mtime_ns = e->ctime_ns = op->mtime_ns;
	e->mode = op->mode;
	struct entry *old = NULL;
	if (map_put(c, op->key, e, (void **)&old)) {
		entry_free(e);
		return -ENOMEM;
	}
	entry_free(old);
	return 0;
}

int state_apply(struct state *st, const struct frame_op *op)
{
	st->version++;
	if (!strcmp(op->coll, COLL_VECS))
		return apply_vector(st, op);
	if (!strcmp(op->coll, COLL_NODES))
		track_node(st, op);

	struct map *c;
	if (op->type == FRAME_DEL) {
		c = map_get(st->colls, op->coll);
		if (c)
			entry_free(map_del(c, op->key));
		if (c && !map_count(c))
			coll_free(map_del(st->colls, op->coll));
		return 0;
	}
	c = coll_get_or_make(st, op->coll);
	if (!c)
		return -ENOMEM;
	if (op->type == FRAME_PUT)
		return apply_put(c, op);
	struct entry *e = map_get(c, op->key);
	if (e) { /* FRAME_ATTR */
		e->mtime_ns = op->mtime_ns;
		e->mode = op->mode;
	}
	return 0;
}

const struct entry *state_get(const struct state *st, const char *coll, const char *key)
{
	const struct map *c = map_get(st->colls, coll);
	return c ? map_get(c, key) : NULL;
}

const struct map *state_coll(const struct state *st, const char *coll)
{
	return map_get(st->colls, coll);
}

const char **state_coll_names(const struct state *st, size_t *n)
{
	return map_keys_sorted(st->colls, n);
}

struct vecindex *state_vectors(const struct state *st)
{
	return st->vecs;
}

const cJSON *state_node_meta(const struct state *st, const char *node_id)
{
	return map_get(st->node_meta, node_id);
}

uint64_t state_version(const struct state *st)
{
	return st->version;
}

struct bm25 *state_text_index(const struct state *st)
{
	return st->text;
}

uint32_t state_dim(const struct state *st)
{
	return st->dim;
}

/* Snapshot: ops are batched into frames of about SNAP_FRAME_BYTES. */
#define SNAP_FRAME_BYTES (4u << 20)

struct snap {
	struct frame_op *ops;
	size_t nops, cap, bytes;
	uint64_t *seq;
	struct buf *out;
	const char *coll;
};

static int snap_flush(struct snap *s)
{
	if (!s->nops)
		return 0;
	int rc = frame_encode(s->out, (*s->seq)++, s->ops, s->nops);
	s->nops = 0;
	s->bytes = 0;
	return rc;
}

static int snap_add(struct snap *s, const struct frame_op *op)
{
	if (s->nops == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct frame_op *n = realloc(s->ops, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->ops = n;
		s->cap = cap;
	}
	s->ops[s->nops++] = *op;
	s->bytes += op->val_len + op->key_len + FRAME_OP_HDR_LEN;
	return s->bytes >= SNAP_FRAME_BYTES ? snap_flush(s) : 0;
}

static int snap_entry(const char *key, void *val, void *ctx)
{
	struct snap *s = ctx;
	const struct entry *e = val;
	struct frame_op op = { .type = FRAME_PUT, .coll = s->coll, .coll_len = strlen(s->coll),
			       .key = key, .key_len = strlen(key), .val = e->val,
			       .val_len = e->len, .mtime_ns = e->mtime_ns, .mode = e->mode };
	return snap_add(s, &op);
}

static int snap_coll(const char *name, void *val, void *ctx)
{
	struct snap *s = ctx;
	s->coll = name;
	return map_each(val, snap_entry, s);
}

int state_snapshot(const struct state *st, uint64_t *seq, struct buf *out)
{
	struct snap s = { .seq = seq, .out = out };
	int rc = map_each(st->colls, snap_coll, &s);
	size_t n = vecindex_count(st->vecs);
	for (size_t row = 0; row < n && !rc; row++) {
		const char *id = vecindex_id(st->vecs, row);
		struct frame_op op = { .type = FRAME_PUT, .coll = COLL_VECS,
				       .coll_len = strlen(COLL_VECS), .key = id,
				       .key_len = strlen(id), .val = vecindex_row(st->vecs, row),
				       .val_len = (uint64_t)st->dim * sizeof(float) };
		rc = snap_add(&s, &op);
	}
	if (!rc)
		rc = snap_flush(&s);
	free(s.ops);
	return rc;
}
