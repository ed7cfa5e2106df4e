/* store/manifest.h - the store's root object, "manifest.json" (SPEC §5).
 *
 * The manifest names the immutable segments that make up the store, in
 * apply order, and for each writer (a mount's cache dir) the highest frame
 * sequence number of its that they contain. It is
 * the only object ever overwritten, and always with a conditional put
 * (If-None-Match on creation, If-Match on the etag read before), so two
 * writers never silently lose each other's commits.
 *
 *   {"format": "ragfs-store", "version": 1, "generation": 7,
 *    "last_seq": 1234, "store_id": "<uuid>", "index_id": "<uuid>",
 *    "dim": 384, "embed": "hash",
 *    "writers": [{"id": "<uuid>", "last_seq": 1234}, ...],
 *    "segments": [{"key": "segments/<writer8>-<first>-<last>.seg", "size": 4096,
 *                  "first_seq": 1, "last_seq": 900, "writer": "<uuid>"
 *                  [, "vector_block": true]}, ...]}
 * "last_seq" is the highest of all writers (layout version 1 stores written
 * before "writers" existed have only it: it belongs to their one writer).
 */
#ifndef STORE_MANIFEST_H
#define STORE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define MANIFEST_KEY "manifest.json"
/* Written as 2 when a segment has a vector block, else 1 (a version-1
 * ragfs can mount it). */
#define MANIFEST_VERSION 2

struct manifest_seg {
	char key[96];
	uint64_t size;
	uint64_t first_seq;
	uint64_t last_seq;
	char writer[40]; /* "" in stores from before "writers" */
	int vector_block; /* ends in a vector block (vecblock.h): layout version 2 */
};

struct manifest_writer {
	char id[40];
	uint64_t last_seq;
};

struct manifest {
	uint64_t generation;
	uint64_t last_seq;
	char store_id[40];
	char index_id[40];
	uint32_t dim;
	char embed[32];
	struct manifest_seg *segs; /* malloc'd, owned */
	size_t nsegs;
	struct manifest_writer *writers; /* malloc'd, owned */
	size_t nwriters;
};

/* Parse JSON text into m (zeroed first). -EBADMSG with a reason in err for
 * anything malformed or of a newer version. */
int manifest_parse(const char *json, size_t len, struct manifest *m, char *err,
		   size_t errlen);
int manifest_render(const struct manifest *m, struct buf *out);
/* Append a segment. 0 or -ENOMEM. */
int manifest_add_seg(struct manifest *m, const struct manifest_seg *s);
/* Deep copy. 0 or -ENOMEM. */
int manifest_copy(struct manifest *dst, const struct manifest *src);
void manifest_clear(struct manifest *m);

/* The segment key for a frame range of one writer. */
void manifest_seg_key(char *key, size_t len, const char *writer, uint64_t first_seq,
		      uint64_t last_seq);
/* The highest sequence number of writer's frames in the segments: its
 * "writers" entry, else (an old single-writer store) "last_seq", else 0. */
uint64_t manifest_writer_seq(const struct manifest *m, const char *writer);
/* Record writer's highest sequence number (and raise last_seq). */
int manifest_set_writer_seq(struct manifest *m, const char *writer, uint64_t seq);
/* The segment called key, or NULL. */
const struct manifest_seg *manifest_find_seg(const struct manifest *m, const char *key);

#endif
