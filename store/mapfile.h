/* store/mapfile.h - a whole file mapped read-only.
 *
 * Replay reads every segment once, front to back; mapping the file instead
 * of reading it into a buffer saves a copy and, at 1M x 384, a buffer as
 * large as each segment (fresh pages the kernel must zero). A mapping stays
 * valid after the file is unlinked (a compaction, a cache eviction); it is
 * only held while one segment is applied. A file truncated under the
 * mapping by something outside ragfs would fault: the store's own files
 * and the cache's are never truncated (written once, renamed into place).
 */
#ifndef STORE_MAPFILE_H
#define STORE_MAPFILE_H

#include <stddef.h>

struct mapfile {
	const char *data; /* NULL for an empty file */
	size_t len;
	size_t dropped;   /* bytes at the front handed back (mapfile_done_before) */
	int fd;           /* the file, open while data != NULL (mapping parts of
			   * it elsewhere: vecindex_map_rows) */
};

/* Map path. 0, or -errno (-ENOENT for a missing file). */
int mapfile_open(const char *path, struct mapfile *m);
/* The caller is done with the bytes before p (inside the mapping): their
 * pages leave this process's memory (they stay in the page cache; touching
 * them again reads them back). Replay calls it as it goes, so a segment as
 * large as the matrix is not resident beside the matrix it builds. Acts
 * in steps of a few MiB. */
void mapfile_done_before(struct mapfile *m, const void *p);
/* Unmap and close; m is all zero again. Accepts a zeroed m. */
void mapfile_close(struct mapfile *m);

#endif
