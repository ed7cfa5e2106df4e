/* backends/mem.c - the in-memory backend (see backends.h and store/backend.h).
 *
 * One mutex guards a map of key -> object. Objects are immutable once
 * stored: a put swaps in a new one, so get copies under the lock and list
 * snapshots the metadata before calling back (fn may re-enter the backend).
 */
#include "backends.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../store/map.h"

struct mem_obj {
	uint64_t gen; /* the etag */
	int64_t mtime_ns;
	size_t len;
	char data[];
};

struct mem_backend {
	struct backend base; /* first: backend_close casts back */
	pthread_mutex_t lock;
	struct map *objs;
	uint64_t next_gen;
};

static struct mem_backend *to_mem(struct backend *be)
{
	return (struct mem_backend *)be;
}

static int check_key(const char *key)
{
	if (!key || !*key || *key == '/')
		return -EINVAL;
	size_t n = strlen(key);
	if (n > BACKEND_KEY_MAX)
		return -EINVAL;
	const char *p = key;
	while (*p) {
		const char *e = strchrnul(p, '/');
		size_t c = (size_t)(e - p);
		if (c == 0 || (c == 1 && p[0] == '.') || (c == 2 && p[0] == '.' && p[1] == '.'))
			return -EINVAL;
		if (!*e)
			break;
		p = e + 1;
		if (!*p) /* trailing '/' is an empty last component */
			return -EINVAL;
	}
	return 0;
}

static void fill_meta(const struct mem_obj *o, struct obj_meta *meta)
{
	meta->size = o->len;
	meta->mtime_ns = o->mtime_ns;
	snprintf(meta->etag, sizeof(meta->etag), "%" PRIu64, o->gen);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int mem_get(struct backend *be, const char *key, uint64_t off, uint64_t len,
		   struct buf *out, struct obj_meta *meta)
{
	struct mem_backend *m = to_mem(be);
	int rc = check_key(key);
	if (rc)
		return rc;
	pthread_mutex_lock(&m->lock);
	struct mem_obj *o = map_get(m->objs, key);
	if (!o) {
		rc = -ENOENT;
		goto out;
	}
	if (off > o->len) {
		rc = -ERANGE;
		goto out;
	}
	uint64_t n = o->len - off;
	if (len < n)
		n = len;
	rc = buf_add(out, o->data + off, (size_t)n);
	if (!rc && meta)
		fill_meta(o, meta);
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int mem_head(struct backend *be, const char *key, struct obj_meta *meta)
{
	struct mem_backend *m = to_mem(be);
	int rc = check_key(key);
	if (rc)
		return rc;
	pthread_mutex_lock(&m->lock);
	struct mem_obj *o = map_get(m->objs, key);
	if (!o)
		rc = -ENOENT;
	else if (meta)
		fill_meta(o, meta);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int cond_ok(const struct mem_obj *cur, const struct put_cond *cond)
{
	char etag[BACKEND_ETAG_MAX];

	if (!cond || cond->kind == PUT_ALWAYS)
		return 0;
	if (cond->kind == PUT_IF_NONE_MATCH)
		return cur ? -ECANCELED : 0;
	if (cond->kind != PUT_IF_MATCH || !cond->etag)
		return -EINVAL;
	if (!cur)
		return -ECANCELED;
	snprintf(etag, sizeof(etag), "%" PRIu64, cur->gen);
	return strcmp(etag, cond->etag) ? -ECANCELED : 0;
}

static int mem_put(struct backend *be, const char *key, const void *data, size_t len,
		   const struct put_cond *cond, struct obj_meta *meta_out)
{
	struct mem_backend *m = to_mem(be);
	int rc = check_key(key);
	if (rc)
		return rc;
	if (len && !data)
		return -EINVAL;
	if (len > SIZE_MAX - sizeof(struct mem_obj))
		return -EFBIG;
	/* Copy outside the lock; a failed condition just throws it away. */
	struct mem_obj *o = malloc(sizeof(*o) + len);
	if (!o)
		return -ENOMEM;
	o->len = len;
	if (len)
		memcpy(o->data, data, len);
	o->mtime_ns = now_ns();

	void *old = NULL;
	pthread_mutex_lock(&m->lock);
	rc = cond_ok(map_get(m->objs, key), cond);
	if (!rc) {
		o->gen = ++m->next_gen;
		rc = map_put(m->objs, key, o, &old);
	}
	if (!rc && meta_out)
		fill_meta(o, meta_out);
	pthread_mutex_unlock(&m->lock);
	if (rc)
		free(o);
	free(old);
	return rc;
}

static int mem_del(struct backend *be, const char *key)
{
	struct mem_backend *m = to_mem(be);
	int rc = check_key(key);
	if (rc)
		return rc;
	pthread_mutex_lock(&m->lock);
	void *old = map_del(m->objs, key);
	pthread_mutex_unlock(&m->lock);
	free(old);
	return 0;
}

struct list_ent {
	char *key;
	struct obj_meta meta;
};

static int mem_list(struct backend *be, const char *prefix, backend_list_fn fn, void *ctx)
{
	struct mem_backend *m = to_mem(be);
	struct list_ent *ents = NULL;
	size_t nkeys = 0, n = 0;
	int rc = 0;

	if (!prefix)
		prefix = "";
	size_t plen = strlen(prefix);

	pthread_mutex_lock(&m->lock);
	const char **keys = map_keys_sorted(m->objs, &nkeys);
	if (!keys && map_count(m->objs)) {
		rc = -ENOMEM;
		goto unlock;
	}
	ents = calloc(nkeys ? nkeys : 1, sizeof(*ents));
	if (!ents) {
		rc = -ENOMEM;
		goto unlock;
	}
	for (size_t i = 0; i < nkeys; i++) {
		if (strncmp(keys[i], prefix, plen))
			continue;
		ents[n].key = strdup(keys[i]);
		if (!ents[n].key) {
			rc = -ENOMEM;
			break;
		}
		fill_meta(map_get(m->objs, keys[i]), &ents[n].meta);
		n++;
	}
unlock:
	pthread_mutex_unlock(&m->lock);
	free(keys);

	/* Called without the lock so fn may use the backend. */
	for (size_t i = 0; i < n && !rc; i++)
		rc = fn(ents[i].key, &ents[i].meta, ctx);
	for (size_t i = 0; i < n; i++)
		free(ents[i].key);
	free(ents);
	return rc;
}

static void mem_close(struct backend *be)
{
	struct mem_backend *m = to_mem(be);
	map_free(m->objs, free);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static const struct backend_ops mem_ops = {
	.name = "mem",
	.get = mem_get,
	.head = mem_head,
	.put = mem_put,
	.del = mem_del,
	.list = mem_list,
	.local_path = NULL,
	.close = mem_close,
};

int mem_backend_open(struct backend **out)
{
	*out = NULL;
	struct mem_backend *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->objs = map_new();
	if (!m->objs) {
		free(m);
		return -ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->base.ops = &mem_ops;
	m->base.caps = BACKEND_CAP_RANGE_GET | BACKEND_CAP_COND_PUT;
	*out = &m->base;
	return 0;
}
