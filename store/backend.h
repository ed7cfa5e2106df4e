/* store/backend.h - the interface to where the bytes live (local disk, S3, R2,
 * memory). The store owns this header; backends/ implement it (SQLite VFS
 * style: a const ops table plus a base struct embedded first).
 *
 * Keys are '/'-separated relative names of at most BACKEND_KEY_MAX bytes, with
 * no empty, "." or ".." component and no NUL; backends may refuse others with
 * -EINVAL. Values are opaque bytes.
 *
 * Contract for every method:
 *  - returns 0 or a negative errno; never a positive value;
 *  - is callable from several threads at once;
 *  - missing key: -ENOENT (get, del of a missing key returns 0: deletes are
 *    idempotent as on S3);
 *  - a failed conditional put returns -ECANCELED and changes nothing;
 *  - get appends to *out (respecting out->max: -EFBIG) and fills *meta when
 *    meta != NULL; a range past the end is clipped (an empty result is not
 *    an error when off == size).
 * list calls fn once per key under prefix, in strcmp order; a non-zero
 * return from fn stops the walk and is returned by list.
 * Ownership: backend_close frees the backend; it accepts NULL.
 */
#ifndef STORE_BACKEND_H
#define STORE_BACKEND_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define BACKEND_KEY_MAX 1024
#define BACKEND_ETAG_MAX 96
#define BACKEND_RANGE_ALL UINT64_MAX

/* Capability bits. */
#define BACKEND_CAP_RANGE_GET   (1u << 0) /* get honours off/len without reading all */
#define BACKEND_CAP_COND_PUT    (1u << 1) /* PUT_IF_NONE_MATCH / PUT_IF_MATCH work */
#define BACKEND_CAP_LOCAL_FILES (1u << 2) /* backend_local_path() gives a real file */
#define BACKEND_CAP_DURABLE     (1u << 3) /* a returned put survives power loss */

struct obj_meta {
	uint64_t size;
	int64_t mtime_ns;
	char etag[BACKEND_ETAG_MAX];
};

enum put_cond_kind {
	PUT_ALWAYS = 0,
	PUT_IF_NONE_MATCH, /* only if the key does not exist (S3 If-None-Match: *) */
	PUT_IF_MATCH,      /* only if the current etag equals cond.etag */
};

struct put_cond {
	enum put_cond_kind kind;
	const char *etag; /* for PUT_IF_MATCH */
};

struct backend;
typedef int (*backend_list_fn)(const char *key, const struct obj_meta *meta, void *ctx);

struct backend_ops {
	const char *name; /* "local", "mem", "s3" */
	int (*get)(struct backend *be, const char *key, uint64_t off, uint64_t len,
		   struct buf *out, struct obj_meta *meta);
	int (*head)(struct backend *be, const char *key, struct obj_meta *meta);
	/* meta_out (may be NULL) gets the new object's size and etag. */
	int (*put)(struct backend *be, const char *key, const void *data, size_t len,
		   const struct put_cond *cond, struct obj_meta *meta_out);
	int (*del)(struct backend *be, const char *key);
	int (*list)(struct backend *be, const char *prefix, backend_list_fn fn, void *ctx);
	/* Path of a local file holding key's bytes, or NULL (only with
	 * BACKEND_CAP_LOCAL_FILES). The string is malloc'd: free() it. */
	char *(*local_path)(struct backend *be, const char *key);
	void (*close)(struct backend *be);
};

/* Request counters, updated by every backend (atomically). The first
 * group counts operations (by the dispatchers below); a remote backend also
 * counts its wire requests, retries included, in http_requests and
 * retries. */
struct backend_stats {
	uint64_t gets, heads, puts, dels, lists;
	uint64_t bytes_in, bytes_out;
	uint64_t errors;
	uint64_t http_requests, retries;
};

struct backend {
	const struct backend_ops *ops;
	unsigned caps;
	struct backend_stats stats;
};

static inline int backend_get(struct backend *be, const char *key, uint64_t off,
			      uint64_t len, struct buf *out, struct obj_meta *meta)
{
	__atomic_add_fetch(&be->stats.gets, 1, __ATOMIC_RELAXED);
	size_t before = out->len;
	int rc = be->ops->get(be, key, off, len, out, meta);
	if (rc == 0)
		__atomic_add_fetch(&be->stats.bytes_in, out->len - before, __ATOMIC_RELAXED);
	else if (rc != -ENOENT)
		__atomic_add_fetch(&be->stats.errors, 1, __ATOMIC_RELAXED);
	return rc;
}

static inline int backend_head(struct backend *be, const char *key, struct obj_meta *meta)
{
	__atomic_add_fetch(&be->stats.heads, 1, __ATOMIC_RELAXED);
	return be->ops->head(be, key, meta);
}

static inline int backend_put(struct backend *be, const char *key, const void *data,
			      size_t len, const struct put_cond *cond,
			      struct obj_meta *meta_out)
{
	__atomic_add_fetch(&be->stats.puts, 1, __ATOMIC_RELAXED);
	int rc = be->ops->put(be, key, data, len, cond, meta_out);
	if (rc == 0)
		__atomic_add_fetch(&be->stats.bytes_out, len, __ATOMIC_RELAXED);
	else if (rc != -ECANCELED)
		__atomic_add_fetch(&be->stats.errors, 1, __ATOMIC_RELAXED);
	return rc;
}

static inline int backend_del(struct backend *be, const char *key)
{
	__atomic_add_fetch(&be->stats.dels, 1, __ATOMIC_RELAXED);
	return be->ops->del(be, key);
}

static inline int backend_list(struct backend *be, const char *prefix, backend_list_fn fn,
			       void *ctx)
{
	__atomic_add_fetch(&be->stats.lists, 1, __ATOMIC_RELAXED);
	return be->ops->list(be, prefix, fn, ctx);
}

static inline char *backend_local_path(struct backend *be, const char *key)
{
	return be->ops->local_path ? be->ops->local_path(be, key) : NULL;
}

static inline void backend_close(struct backend *be)
{
	if (be)
		be->ops->close(be);
}

#endif
