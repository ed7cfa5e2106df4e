/* backends/backends.h - constructors of the backends and the STORE URI parser.
 *
 * Each constructor sets *out to a new backend (free with backend_close) or to
 * NULL on failure, returning 0 or a negative errno.
 */
#ifndef BACKENDS_BACKENDS_H
#define BACKENDS_BACKENDS_H

#include <stddef.h>

#include "../store/backend.h"

/* A directory on local disk, created (with parents, mode 0700) if missing.
 * Keys map to files below root; puts are write-temp + fsync + rename, so a
 * reader never sees a partial object. Conditional puts are serialised with
 * an flock on root/.lock. Etags are "<size hex>-<mtime_ns hex>-<ino hex>".
 * Caps: RANGE_GET | COND_PUT | LOCAL_FILES | DURABLE. */
int local_backend_open(const char *root, struct backend **out);

/* Everything in memory (unit tests). Caps: RANGE_GET | COND_PUT.
 * Etags are a per-put counter in decimal. */
int mem_backend_open(struct backend **out);

enum store_scheme { STORE_LOCAL, STORE_S3, STORE_R2, STORE_MEM };

/* The parsed form of a STORE argument. */
struct store_uri {
	enum store_scheme scheme;
	char path[4096];   /* STORE_LOCAL: absolute directory path */
	char bucket[256];  /* STORE_S3/R2 */
	char prefix[1024]; /* STORE_S3/R2: without leading/trailing '/' */
};

/* Parse "/dir", "dir" (made absolute against the cwd), "file:///dir",
 * "s3://bucket[/prefix]", "r2://bucket[/prefix]" or "mem:". On error returns
 * -EINVAL and writes a one-line reason to err. */
int store_uri_parse(const char *s, struct store_uri *u, char *err, size_t errlen);

#endif
