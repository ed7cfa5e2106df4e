/* store/state.c - see state.h */
#include "state.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "bm25.h"
#include "filter_index.h"
#include "jsonutil.h"
#include "log.h"
#include "vecblock.h"

struct state {
	struct map *colls;     /* name -> struct map * of struct entry * */
	struct vecindex *vecs;
	struct vecindex *next; /* a re-embedding's target vectors, or NULL */
	struct map *node_meta; /* node id -> cJSON * (metadata object) */
	struct bm25 *text;     /* keyword index over node texts */
	struct fidx *fidx;     /* node metadata -> rows of vecs (filter_index.h) */
	enum vec_compress compress; /* kept on vecs, also after it is replaced */
	uint64_t version;      /* bumped by every applied op */
	uint64_t puts;         /* entries' first-put counter (struct entry.order) */
	uint32_t dim;
	state_vec_hook vec_hook; /* told of active-vector changes (ann.c), or NULL */
	void *vec_hook_ctx;
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
	    bm25_new(&st->text) || fidx_new(&st->fidx)) {
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
	vecindex_free(st->next);
	bm25_free(st->text);
	fidx_free(st->fidx);
	free(st);
}

/* An op on ragfs.vectors (vi: the active set) or ragfs.vectors.next. */
static int apply_vector(struct vecindex *vi, const struct frame_op *op)
{
	if (op->type == FRAME_DEL) {
		int rc = vi ? vecindex_remove(vi, op->key) : 0;
		return rc == -ENOENT ? 0 : rc;
	}
	if (op->type == FRAME_ATTR)
		return 0;
	uint32_t dim = vi ? vecindex_dim(vi) : 0;
	if (op->val_len != (uint64_t)dim * sizeof(float)) {
		LOG_WARN("%s %s: %llu bytes, want %u: skipped", op->coll, op->key,
			 (unsigned long long)op->val_len, dim * 4);
		return -EINVAL;
	}
	/* Frame payloads are not float-aligned: copy out (on the stack for
	 * common dims: replay does this a million times). */
	float small[1024];
	float *v = op->val_len <= sizeof(small) ? small : malloc(op->val_len);
	if (!v)
		return -ENOMEM;
	memcpy(v, op->val, op->val_len);
	int rc = vecindex_set(vi, op->key, v);
	if (v != small)
		free(v);
	return rc;
}

/* The active set: the filter index follows its rows (a removal moves the
 * last row into the hole; an insert appends). */
static int apply_active_vector(struct state *st, const struct frame_op *op)
{
	/* Only a removal needs the row first (a put that adds one appends). */
	long row = op->type == FRAME_DEL ? vecindex_find(st->vecs, op->key) : -1;
	size_t n = vecindex_count(st->vecs);
	int rc = apply_vector(st->vecs, op);
	if (!rc && row >= 0 && vecindex_count(st->vecs) < n)
		fidx_remove_row(st->fidx, (size_t)row, n - 1);
	else if (!rc && row < 0 && vecindex_count(st->vecs) > n)
		fidx_set_row(st->fidx, n, map_get(st->node_meta, op->key));
	if (!rc && op->type != FRAME_ATTR && st->vec_hook)
		st->vec_hook(st->vec_hook_ctx, st, op->key);
	return rc;
}

/* st->vecs is a new set: index its rows afresh, compress it as the old. */
static void vectors_replaced(struct state *st)
{
	struct fidx *fx = NULL;
	size_t n = vecindex_count(st->vecs);
	if (fidx_new(&fx))
		LOG_ERR("out of memory for the filter index: filters scan every row");
	for (size_t r = 0; fx && r < n; r++)
		fidx_set_row(fx, r, map_get(st->node_meta, vecindex_id(st->vecs, r)));
	fidx_free(st->fidx);
	st->fidx = fx;
	if (vecindex_set_compress(st->vecs, st->compress))
		LOG_ERR("out of memory for the compressed vectors: float scans only");
}

/* The "dim" of a ragfs.embedder record, 0 when it has none. */
static uint32_t record_dim(const void *val, size_t len)
{
	cJSON *j = json_parse(val, len);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "dim");
	uint32_t dim = cJSON_IsNumber(d) && d->valuedouble >= 1 && d->valuedouble <= 65536 ?
		(uint32_t)d->valuedouble : 0;
	cJSON_Delete(j);
	return dim;
}

static int same_value(const struct entry *e, const struct frame_op *op)
{
	return e && e->len == op->val_len && !memcmp(e->val, op->val, op->val_len);
}

static struct vecindex *new_set(uint32_t dim)
{
	struct vecindex *vi = NULL;
	if (dim && vecindex_new(dim, &vi))
		LOG_ERR("out of memory for a vector set of dim %u", dim);
	return vi;
}

/* ragfs.embedder records move the vector sets (rules in state.h). Runs
 * before the record itself is stored. */
static void embed_record(struct state *st, const struct frame_op *op)
{
	const struct entry *target = state_get(st, COLL_EMBEDDER, EMBED_TARGET);
	if (op->type == FRAME_ATTR)
		return;
	if (!strcmp(op->key, EMBED_TARGET)) {
		if (op->type == FRAME_PUT && st->next && same_value(target, op))
			return; /* the same target again: a resume keeps its vectors */
		vecindex_free(st->next);
		st->next = op->type == FRAME_PUT ? new_set(record_dim(op->val, op->val_len)) : NULL;
		return;
	}
	if (strcmp(op->key, EMBED_ACTIVE) || op->type != FRAME_PUT)
		return;
	if (st->next && same_value(target, op)) { /* the switch-over */
		vecindex_free(st->vecs);
		st->vecs = st->next;
		st->next = NULL;
		st->dim = vecindex_dim(st->vecs);
		entry_free(map_del(map_get(st->colls, COLL_EMBEDDER), EMBED_TARGET));
		return;
	}
	uint32_t dim = record_dim(op->val, op->val_len);
	struct vecindex *vi = dim && dim != st->dim ? new_set(dim) : NULL;
	if (!vi)
		return;
	if (vecindex_count(st->vecs))
		LOG_WARN("the embedder record says dim %u: %zu vectors of dim %u dropped", dim,
			 vecindex_count(st->vecs), st->dim);
	vecindex_free(st->vecs);
	st->vecs = vi;
	st->dim = dim;
}

/* Keep the parsed metadata of nodes for filtering, and their text in the
 * keyword index. */
static void track_node(struct state *st, const struct frame_op *op)
{
	cJSON *meta = NULL;
	if (op->type == FRAME_ATTR)
		return;
	bm25_remove(st->text, op->key);
	/* A re-embedded vector is for the text it was made from. */
	int drop_next = st->next && vecindex_find(st->next, op->key) >= 0;
	if (op->type == FRAME_PUT) {
		cJSON *node = json_parse(op->val, op->val_len);
		cJSON *m = cJSON_GetObjectItemCaseSensitive(node, "metadata");
		const cJSON *text = cJSON_GetObjectItemCaseSensitive(node, "text");
		if (cJSON_IsObject(m))
			meta = cJSON_DetachItemViaPointer(node, m);
		if (cJSON_IsString(text) && bm25_set(st->text, op->key, text->valuestring))
			LOG_ERR("node %s: out of memory for the keyword index", op->key);
		if (drop_next && cJSON_IsString(text)) {
			const struct entry *e = state_get(st, COLL_NODES, op->key);
			cJSON *was = e ? json_parse(e->val, e->len) : NULL;
			const cJSON *t = cJSON_GetObjectItemCaseSensitive(was, "text");
			drop_next = !cJSON_IsString(t) || strcmp(t->valuestring, text->valuestring);
			cJSON_Delete(was);
		}
		cJSON_Delete(node);
	}
	if (drop_next)
		vecindex_remove(st->next, op->key);
	cJSON *old = map_del(st->node_meta, op->key);
	cJSON_Delete(old);
	if (meta && map_put(st->node_meta, op->key, meta, NULL))
		cJSON_Delete(meta);
	long row = vecindex_find(st->vecs, op->key);
	if (row >= 0)
		fidx_set_row(st->fidx, (size_t)row, map_get(st->node_meta, op->key));
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

static int apply_put(struct state *st, struct map *c, const struct frame_op *op)
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
	e->order = old ? old->order : ++st->puts;
	entry_free(old);
	return 0;
}

int state_apply(struct state *st, const struct frame_op *op)
{
	st->version++;
	if (!strcmp(op->coll, COLL_VECS))
		return apply_active_vector(st, op);
	if (!strcmp(op->coll, COLL_VECS_NEXT))
		return apply_vector(st->next, op);
	if (!strcmp(op->coll, COLL_NODES))
		track_node(st, op);
	if (!strcmp(op->coll, COLL_EMBEDDER)) {
		/* A new set is made while the old one lives: a new address. */
		const struct vecindex *was = st->vecs;
		embed_record(st, op);
		if (st->vecs != was)
			vectors_replaced(st);
		if (st->vecs != was && st->vec_hook)
			st->vec_hook(st->vec_hook_ctx, st, NULL);
	}

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
		return apply_put(st, c, op);
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

struct keyed {
	const char *key;
	uint64_t order;
};

static int keyed_put(const char *key, void *val, void *ctx)
{
	struct keyed **next = ctx;
	*(*next)++ = (struct keyed){ key, ((const struct entry *)val)->order };
	return 0;
}

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	return (x->order > y->order) - (x->order < y->order);
}

const char **state_keys_in_order(const struct state *st, const char *coll, size_t *n)
{
	const struct map *c = map_get(st->colls, coll);
	*n = c ? map_count(c) : 0;
	if (!*n)
		return NULL;
	struct keyed *k = malloc(*n * sizeof(*k)), *next = k;
	const char **keys = malloc(*n * sizeof(*keys));
	if (k && keys) {
		map_each(c, keyed_put, &next);
		qsort(k, *n, sizeof(*k), keyed_cmp);
		for (size_t i = 0; i < *n; i++)
			keys[i] = k[i].key;
	} else {
		free(keys);
		keys = NULL;
	}
	free(k);
	return keys;
}

static int min_order(const char *key, void *val, void *ctx)
{
	uint64_t *min = ctx, o = ((const struct entry *)val)->order;
	(void)key;
	if (o < *min)
		*min = o;
	return 0;
}

uint64_t state_coll_first(const struct state *st, const char *coll)
{
	const struct map *c = map_get(st->colls, coll);
	uint64_t min = UINT64_MAX;
	if (c)
		map_each(c, min_order, &min);
	return min;
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

struct vecindex *state_next_vectors(const struct state *st)
{
	return st->next;
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

static int snap_entry(struct snap *s, const char *key, const struct entry *e)
{
	struct frame_op op = { .type = FRAME_PUT, .coll = s->coll, .coll_len = strlen(s->coll),
			       .key = key, .key_len = strlen(key), .val = e->val,
			       .val_len = e->len, .mtime_ns = e->mtime_ns, .mode = e->mode };
	return snap_add(s, &op);
}

static int snap_vectors(struct snap *s, struct vecindex *vi, const char *coll)
{
	size_t n = vecindex_count(vi);
	int rc = 0;
	for (size_t row = 0; row < n && !rc; row++) {
		const char *id = vecindex_id(vi, row);
		struct frame_op op = { .type = FRAME_PUT, .coll = coll, .coll_len = strlen(coll),
				       .key = id, .key_len = strlen(id), .val = vecindex_row(vi, row),
				       .val_len = (uint64_t)vecindex_dim(vi) * sizeof(float) };
		rc = snap_add(s, &op);
	}
	return rc;
}

int state_snapshot(const struct state *st, uint64_t *seq, struct buf *out, int vector_block)
{
	struct snap s = { .seq = seq, .out = out };
	size_t ncolls;
	const char **colls = state_coll_names(st, &ncolls);
	int rc = ncolls && !colls ? -ENOMEM : 0;
	for (size_t i = 0; i < ncolls && !rc; i++) {
		size_t n;
		const char **keys = state_keys_in_order(st, colls[i], &n);
		if (n && !keys)
			rc = -ENOMEM;
		s.coll = colls[i];
		for (size_t j = 0; j < n && !rc; j++)
			rc = snap_entry(&s, keys[j], state_get(st, colls[i], keys[j]));
		free(keys);
	}
	free(colls);
	/* Vectors after the records and nodes they depend on. */
	if (!rc && !vector_block)
		rc = snap_vectors(&s, st->vecs, COLL_VECS);
	if (!rc && st->next)
		rc = snap_vectors(&s, st->next, COLL_VECS_NEXT);
	if (!rc)
		rc = snap_flush(&s);
	free(s.ops);
	return rc || !vector_block ? rc : vecblock_append(out, st->vecs);
}

/* ctx: the array of the block's ids vecindex_map_rows takes. */
static int collect_id(void *ctx, uint64_t row, const char *id)
{
	char **ids = ctx;
	return (ids[row] = strdup(id)) ? 0 : -ENOMEM;
}

/* Map the block's rows as the (empty) active set's matrix. -EBUSY: not
 * mappable here; -EBADMSG: the block is damaged; any other error left the
 * set empty, and the rows can still be copied. */
static int map_block(struct state *st, const char *seg, const struct vecblock *b, int fd)
{
	uint64_t bytes = b->n * b->dim * sizeof(float);
	if (fd < 0 || b->dim != vecindex_dim(st->vecs) || vecindex_count(st->vecs) ||
	    bytes < BIGMEM_MIN || bytes > SIZE_MAX)
		return -EBUSY;
	char **ids = calloc((size_t)b->n, sizeof(char *));
	int rc = ids ? vecblock_each_id(seg, b, collect_id, ids) : -ENOMEM;
	if (rc) {
		for (uint64_t r = 0; ids && r < b->n; r++)
			free(ids[r]);
		free(ids);
		return rc;
	}
	rc = vecindex_map_rows(st->vecs, fd, b->rows_off, (size_t)b->n, ids);
	for (size_t r = 0; !rc && r < b->n; r++) {
		const char *id = vecindex_id(st->vecs, r);
		fidx_set_row(st->fidx, r, map_get(st->node_meta, id));
		if (st->vec_hook)
			st->vec_hook(st->vec_hook_ctx, st, id);
	}
	return rc;
}

struct block_put {
	struct state *st;
	const char *rows;
	size_t rowb;
};

static int put_block_row(void *ctx, uint64_t row, const char *id)
{
	struct block_put *p = ctx;
	struct frame_op op = { .type = FRAME_PUT, .coll = COLL_VECS, .coll_len = strlen(COLL_VECS),
			       .key = id, .key_len = strlen(id),
			       .val = p->rows + row * p->rowb, .val_len = p->rowb };
	int rc = state_apply(p->st, &op);
	return rc == -EINVAL ? 0 : rc; /* as replay: a bad vector is logged, skipped */
}

int state_apply_block(struct state *st, const char *seg, const struct vecblock *b, int fd)
{
	st->version++;
	int rc = map_block(st, seg, b, fd);
	if (!rc || rc == -EBADMSG)
		return rc;
	/* Not mappable here (or mmap refused: the set is empty again): copy. */
	if (rc != -EBUSY)
		LOG_WARN("vector block: cannot map its rows (%s): copying them", strerror(-rc));
	struct block_put p = { st, seg + b->rows_off, (size_t)b->dim * sizeof(float) };
	return vecblock_each_id(seg, b, put_block_row, &p);
}

const struct fidx *state_filter_index(const struct state *st)
{
	return st->fidx;
}

int state_set_compress(struct state *st, enum vec_compress c)
{
	int rc = vecindex_set_compress(st->vecs, c);
	if (!rc)
		st->compress = c;
	return rc;
}

void state_set_bulk(struct state *st, int on)
{
	vecindex_set_bulk(st->vecs, on);
}

void state_set_vec_hook(struct state *st, state_vec_hook fn, void *ctx)
{
	st->vec_hook = fn;
	st->vec_hook_ctx = ctx;
}
