/* store/segcache.h - a bounded local cache of segment objects.
 *
 * For stores on an object store (s3://, r2://): segments are immutable once
 * written, so a copy kept in cache_dir/segments/ stays valid for as long as
 * the key exists, and a remount (or a merge of other writers' segments)
 * reads it instead of making a GET. Segments this mount writes go in as they
 * are uploaded. The cache holds at most max_bytes; when a put would pass
 * that, the least recently used files (by mtime, which a hit refreshes) are
 * removed first. A file that does not decode (checked by the caller, who
 * then calls segcache_drop) or cannot be read is simply a miss.
 *
 * Files are 0600 in a 0700 directory (cache_dir's rules). Thread safe: one
 * mutex guards the size accounting; file I/O is outside it.
 */
#ifndef STORE_SEGCACHE_H
#define STORE_SEGCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mapfile.h"

struct segcache;

/* Open (creating dir, mode 0700) with a bound of max_bytes (0: cache
 * nothing). Existing files count towards the bound and are trimmed at once.
 * 0 or -errno. */
int segcache_open(const char *dir, uint64_t max_bytes, struct segcache **out);
void segcache_close(struct segcache *c);

/* Raise the bound to at least bytes (never lowers it). */
void segcache_reserve(struct segcache *c, uint64_t bytes);

/* Read key's copy into out (reset first). 0, or -ENOENT on a miss. */
int segcache_get(struct segcache *c, const char *key, struct buf *out);
/* Map key's copy (mapfile.h; close it with mapfile_close). 0, or -ENOENT
 * on a miss. Counts and refreshes like segcache_get. */
int segcache_map(struct segcache *c, const char *key, struct mapfile *out);
/* Keep a copy of key (written to a temporary name, then renamed). Objects
 * larger than the bound are not kept. Failures are logged, never fatal. */
void segcache_put(struct segcache *c, const char *key, const void *data, size_t len);
/* Map the copy of key that segcache_put just kept from len bytes (not
 * counted as a hit: the caller fetched it). -ENOENT when none was kept
 * (larger than the bound, a write failure) or it is not len bytes. */
int segcache_map_kept(struct segcache *c, const char *key, size_t len, struct mapfile *out);
/* Forget key (a corrupt copy, or a segment compaction removed). */
void segcache_drop(struct segcache *c, const char *key);

struct segcache_stats {
	uint64_t hits, misses, bytes, files, evictions;
};
void segcache_stats(struct segcache *c, struct segcache_stats *st);

#endif
