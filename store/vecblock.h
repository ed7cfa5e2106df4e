/* store/vecblock.h - a segment's vector block: the active vectors of a
 * snapshot as one page-aligned float32 matrix that a mount maps as it is.
 *
 * Layout version 2 (SPEC §5: "the vector matrix is laid out so it can be
 * memory-mapped from the local cache"). A compaction writes the snapshot
 * segment as
 *
 *   frames        every record, node and ragfs.vectors.next vector (frame.h)
 *   zero padding  to a multiple of VECBLOCK_ALIGN from the object's start
 *   rows          n x dim float32, row-major: the ragfs.vectors set in row order
 *   ids           n NUL-terminated ids, row order
 *   trailer       VECBLOCK_TRAILER_LEN bytes (all little-endian):
 *                   u32 magic "RGV2", u32 dim, u64 n, u64 frames_len,
 *                   u64 rows_off, u64 ids_off, u64 ids_len,
 *                   u32 crc32 of rows and ids, u32 reserved 0,
 *                   u32 reserved 0, u32 crc32 of the 60 bytes before it
 *
 * The manifest marks such a segment ("vector_block": true), so a reader
 * never guesses. Applying it means: the frames, then a PUT of every row of
 * the block (the block holds the set's final state; the frames before it
 * hold no ragfs.vectors op). A mount whose vector set is still empty maps
 * the rows copy-on-write as its matrix (vecindex_map_rows) instead of
 * copying them; anything else applies them as puts.
 */
#ifndef STORE_VECBLOCK_H
#define STORE_VECBLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define VECBLOCK_MAGIC 0x32564752u /* "RGV2" */
#define VECBLOCK_ALIGN 4096u
#define VECBLOCK_TRAILER_LEN 64u

struct vecindex;

/* A parsed block; offsets are from the segment's first byte. */
struct vecblock {
	uint32_t dim;
	uint64_t n;
	uint64_t frames_len; /* bytes of frames before the padding */
	uint64_t rows_off;   /* VECBLOCK_ALIGN aligned */
	uint64_t ids_off, ids_len;
	uint32_t crc;        /* of [rows_off, ids_off + ids_len) */
};

/* Append the padding, vi's rows, ids and the trailer to out, which holds
 * the segment's frames (out->len of them). 0 or -ENOMEM. */
int vecblock_append(struct buf *out, const struct vecindex *vi);

/* Find and check the trailer of the segment p[0..len): its own checksum,
 * and offsets and sizes that fit. 0 or -EBADMSG. Does not read the rows. */
int vecblock_parse(const char *p, size_t len, struct vecblock *b);

/* 1 when the rows and ids match the trailer's checksum (reads them all). */
int vecblock_rows_ok(const char *p, const struct vecblock *b);

/* The same, reading the segment file fd instead of a mapping of it: the
 * rows are mapped once more as the matrix, and a second mapping read
 * whole would count them twice in the daemon's resident memory. */
int vecblock_rows_ok_fd(int fd, const struct vecblock *b);

/* Call fn(ctx, row, id) for each id in row order; stops at a non-zero
 * return (returned). -EBADMSG when the ids are not n strings. */
int vecblock_each_id(const char *p, const struct vecblock *b,
		     int (*fn)(void *ctx, uint64_t row, const char *id), void *ctx);

#endif
