/* fs/handle.c - see handle.h */
#include "handle.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hidden.h"

static int writable_kind(const struct ns_path *p)
{
	switch (p->kind) {
	case NS_DOC:
	case NS_NODE:
	case NS_INDEX:
	case NS_VECTOR:
	case NS_KV:
	case NS_QUERY:
	case NS_PERSIST:
		return 1;
	default:
		return 0;
	}
}

/* handle_with_writer callback: 1 when the writer w has changes not
 * committed yet and its buffer was appended to arg (a struct buf), 0 when
 * the store has the current content. A refused oversize buffer is not the
 * file's content (its old bytes stay); a query's buffer is its request. */
static int copy_writer(struct handle *w, void *arg)
{
	if (!w || !w->dirty || w->too_big || ns_is_query(&w->path))
		return 0;
	int rc = buf_add(arg, w->data.data ? w->data.data : "", w->data.len);
	return rc ? rc : 1;
}

int handle_open(struct fsctx *fc, const struct ns_path *p, int flags, int created,
		struct handle **out)
{
	int acc = flags & O_ACCMODE;
	int rc = 0;
	*out = NULL;
	if (acc != O_RDONLY && p->kind == NS_PERSIST) {
		rc = ns_may_create(fc, p); /* a refusal is logged there */
		if (rc)
			return rc;
	}
	if (acc != O_RDONLY && !writable_kind(p))
		return -EACCES;
	if (acc != O_RDONLY && store_read_only(fc->store) && p->kind != NS_QUERY)
		return -EROFS;
	struct handle *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	h->path = *p;
	h->data.max = fc->max_file_size;
	h->writable = acc != O_RDONLY;
	h->created = created;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	h->opened_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	if (created || (flags & O_TRUNC)) {
		h->loaded = 1;
		h->dirty = h->writable; /* an empty file is still a file to commit */
	} else if (p->kind != NS_SEARCH && p->kind != NS_QUERY) {
		/* Queries are loaded as their request (below); everything else as
		 * content: an open writer's uncommitted buffer, else the store's. */
		rc = handle_with_writer(fc, p, copy_writer, &h->data);
		rc = rc > 0 ? 0 : rc ? rc : ns_read(fc, p, &h->data);
		h->loaded = 1;
	}
	if (!rc && p->kind == NS_QUERY && !h->loaded) {
		pthread_mutex_lock(&fc->lock);
		struct query_file *q = map_get(fc->queries, p->rel);
		rc = q ? buf_add(&h->data, q->text, q->len) : -ENOENT;
		pthread_mutex_unlock(&fc->lock);
		h->loaded = 1;
	}
	if (rc) {
		handle_free(fc, h);
		return rc;
	}
	h->size_now = h->data.len;
	if (h->writable)
		ns_pending_add(fc, p, h);
	pthread_mutex_lock(&fc->lock);
	h->next = fc->handles;
	if (h->next)
		h->next->prev = h;
	fc->handles = h;
	pthread_mutex_unlock(&fc->lock);
	*out = h;
	return 0;
}

/* Query files answer reads with results computed from the request. */
static int ensure_result(struct fsctx *fc, struct handle *h)
{
	if (h->result_valid)
		return 0;
	buf_reset(&h->result);
	int rc;
	if (h->path.kind == NS_SEARCH) {
		rc = ns_read(fc, &h->path, &h->result);
	} else {
		char path[4200];
		snprintf(path, sizeof(path), "query/%s", h->path.rel);
		rc = store_query(fc->store, path, h->data.data ? h->data.data : "", h->data.len,
				 h->path.as_text, &h->result);
	}
	h->result_valid = !rc;
	if (!rc)
		ns_query_note_result(fc, &h->path, h->result.len);
	return rc;
}

int handle_read(struct fsctx *fc, struct handle *h, char *dst, size_t size, off_t off,
		size_t *n)
{
	int rc = 0;
	*n = 0;
	pthread_mutex_lock(&h->lock);
	const struct buf *src = &h->data;
	if (ns_is_query(&h->path)) {
		rc = ensure_result(fc, h);
		src = &h->result;
	}
	if (!rc && (size_t)off < src->len) {
		*n = src->len - (size_t)off < size ? src->len - (size_t)off : size;
		memcpy(dst, src->data + off, *n);
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* Make data exactly n bytes long; new bytes read as zeros (a hole). */
static int resize_locked(struct handle *h, size_t n)
{
	if (n > h->data.len) {
		int rc = buf_grow(&h->data, n - h->data.len);
		if (rc)
			return rc;
		memset(h->data.data + h->data.len, 0, n - h->data.len);
	}
	if (h->data.data) {
		h->data.len = n;
		h->data.data[n] = '\0';
	}
	return 0;
}

int handle_write(struct fsctx *fc, struct handle *h, const char *src, size_t size,
		 off_t off)
{
	(void)fc;
	if (!h->writable)
		return -EBADF;
	pthread_mutex_lock(&h->lock);
	size_t end = (size_t)off + size;
	int rc = off < 0 || (h->data.max && (size_t)off > h->data.max) ? -EFBIG
		 : end > h->data.len ? resize_locked(h, end) : 0;
	if (rc == -EFBIG) {
		/* The file would be cut at the limit: store none of it (close
		 * gets EFBIG), not a torn prefix. */
		h->too_big = h->dirty = h->written = 1;
	} else if (!rc) {
		memcpy(h->data.data + off, src, size);
		__atomic_store_n(&h->size_now, h->data.len, __ATOMIC_RELAXED);
		h->dirty = h->written = 1;
		h->result_valid = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int handle_truncate_locked(struct handle *h, off_t size)
{
	if (!h->writable)
		return -EBADF;
	if (size < 0)
		return -EINVAL;
	if (h->data.max && (size_t)size > h->data.max)
		return -EFBIG;
	int rc = resize_locked(h, (size_t)size);
	__atomic_store_n(&h->size_now, h->data.len, __ATOMIC_RELAXED);
	h->dirty = h->written = 1;
	h->result_valid = 0;
	return rc;
}

int handle_truncate(struct fsctx *fc, struct handle *h, off_t size)
{
	(void)fc;
	pthread_mutex_lock(&h->lock);
	int rc = handle_truncate_locked(h, size);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static int commit_locked(struct fsctx *fc, struct handle *h)
{
	if (__atomic_load_n(&h->unlinked, __ATOMIC_RELAXED)) {
		h->dirty = 0; /* unlink(2) came first: the file is gone */
		return 0;
	}
	if (h->too_big) {
		h->dirty = 0;
		return ns_refuse(fc, &h->path, -EFBIG, "a write passed max_file_mb: "
				 "nothing of this file was stored");
	}
	int rc = ns_write(fc, &h->path, h->data.data ? h->data.data : "", h->data.len,
			  __atomic_load_n(&h->mode, __ATOMIC_RELAXED),
			  __atomic_load_n(&h->mtime_ns, __ATOMIC_RELAXED));
	/* A refused write stays refused: the next close must not retry it. */
	h->dirty = 0;
	/* A created file that was refused was never stored: its name goes now,
	 * not at release (which the kernel sends after close() returned). */
	if (rc && h->created)
		ns_pending_del(fc, &h->path, h);
	return rc;
}

void handle_release(struct fsctx *fc, struct handle *h)
{
	pthread_mutex_lock(&h->lock);
	if (h->dirty)
		commit_locked(fc, h); /* refusals are in errors.log */
	pthread_mutex_unlock(&h->lock);
}

/* Atomic, without the handle lock: callers hold fc->lock, which is never
 * taken before a handle lock. */
void handle_set_attr(struct handle *h, uint32_t mode, int64_t mtime_ns)
{
	if (mode)
		__atomic_store_n(&h->mode, mode, __ATOMIC_RELAXED);
	if (mtime_ns)
		__atomic_store_n(&h->mtime_ns, mtime_ns, __ATOMIC_RELAXED);
}

int handle_flush(struct fsctx *fc, struct handle *h)
{
	int rc = 0;
	pthread_mutex_lock(&h->lock);
	if (h->dirty && h->written)
		rc = commit_locked(fc, h);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

void handle_follow(struct handle *h, const char *path)
{
	if (!path || hidden_is_name(path))
		__atomic_store_n(&h->unlinked, 1, __ATOMIC_RELAXED);
	if (!path)
		return;
	struct ns_path *p = malloc(sizeof(*p)); /* 12 KiB: not on the stack */
	if (!p)
		return;
	ns_parse(path, p);
	pthread_mutex_lock(&h->lock);
	/* The pending entry moved with the rename (ns_pending_rename_locked):
	 * the handle's path must name it, or handle_free would miss it. */
	if (p->top == h->path.top && strcmp(p->rel, h->path.rel))
		h->path = *p;
	pthread_mutex_unlock(&h->lock);
	free(p);
}

int64_t handle_mtime(struct handle *h)
{
	int64_t t = __atomic_load_n(&h->mtime_ns, __ATOMIC_RELAXED);
	return t ? t : h->opened_ns;
}

size_t handle_size(struct handle *h)
{
	pthread_mutex_lock(&h->lock);
	size_t n = ns_is_query(&h->path) && h->result_valid ? h->result.len : h->data.len;
	pthread_mutex_unlock(&h->lock);
	return n;
}

void handle_free(struct fsctx *fc, struct handle *h)
{
	if (!h)
		return;
	if (h->writable)
		ns_pending_del(fc, &h->path, h);
	pthread_mutex_lock(&fc->lock);
	if (h->prev || fc->handles == h) { /* listed (failed opens are not) */
		if (h->prev)
			h->prev->next = h->next;
		else
			fc->handles = h->next;
		if (h->next)
			h->next->prev = h->prev;
	}
	pthread_mutex_unlock(&fc->lock);
	buf_release(&h->data);
	buf_release(&h->result);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void handle_free_all(struct fsctx *fc)
{
	for (;;) {
		pthread_mutex_lock(&fc->lock);
		struct handle *h = fc->handles;
		pthread_mutex_unlock(&fc->lock);
		if (!h)
			return;
		handle_release(fc, h);
		handle_free(fc, h);
	}
}

int handle_with_writer(struct fsctx *fc, const struct ns_path *p,
		       int (*fn)(struct handle *h, void *arg), void *arg)
{
	for (;;) {
		pthread_mutex_lock(&fc->lock);
		struct handle *h = ns_pending_get_locked(fc, p);
		if (!h || !pthread_mutex_trylock(&h->lock)) {
			int rc = fn(h, arg);
			if (h)
				pthread_mutex_unlock(&h->lock);
			pthread_mutex_unlock(&fc->lock);
			return rc;
		}
		pthread_mutex_unlock(&fc->lock);
		sched_yield();
	}
}
