/* store/frame.h - the record format shared by the local journal and the
 * segments on the backing store.
 *
 * A frame is one atomic transaction: it is applied whole or not at all.
 * Layout (all integers little-endian):
 *
 *   header (32 bytes)
 *     u32 magic      "RGF1" (0x31464752)
 *     u32 nops
 *     u64 seq        strictly increasing per store
 *     u64 payload_len
 *     u32 crc32      zlib crc32 of the payload
 *     u32 hcrc       zlib crc32 of the 28 bytes before it
 *   payload: nops ops, each
 *     u8  type       FRAME_PUT, FRAME_DEL, FRAME_ATTR
 *     u8  reserved   0
 *     u16 coll_len
 *     u32 key_len
 *     u64 val_len
 *     i64 mtime_ns
 *     u32 mode       permission bits (0 = default)
 *     u32 reserved   0
 *     coll bytes, NUL
 *     key bytes, NUL
 *     val bytes
 *
 * A segment object is a plain concatenation of frames; a journal file is
 * too, except that its tail may be torn by a crash. Decoding stops at the
 * first frame whose header is incomplete (-EAGAIN: a torn tail) or whose
 * checksums disagree (-EBADMSG).
 */
#ifndef STORE_FRAME_H
#define STORE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define FRAME_MAGIC 0x31464752u
#define FRAME_HDR_LEN 32
#define FRAME_OP_HDR_LEN 32

enum frame_op_type {
	FRAME_PUT = 1,  /* set coll/key to val (mtime, mode) */
	FRAME_DEL = 2,  /* remove coll/key */
	FRAME_ATTR = 3, /* change mtime/mode of coll/key, val ignored */
};

struct frame_op {
	uint8_t type;
	const char *coll; /* NUL-terminated when decoded */
	size_t coll_len;
	const char *key;  /* NUL-terminated when decoded */
	size_t key_len;
	const void *val;
	uint64_t val_len;
	int64_t mtime_ns;
	uint32_t mode;
};

/* zlib's CRC-32 of p[0..n), for any n (zlib takes 32-bit lengths). */
uint32_t frame_crc32(const void *p, size_t n);

/* Append one frame holding ops[0..n) to out. 0, -EINVAL (a name too long),
 * -ENOMEM/-EFBIG. */
int frame_encode(struct buf *out, uint64_t seq, const struct frame_op *ops, size_t n);

/* Called per op of a verified frame; a non-zero return stops decoding and
 * is returned by frame_decode. Pointers borrow from the input buffer. */
typedef int (*frame_op_fn)(void *ctx, uint64_t seq, const struct frame_op *op);

/* Decode the frame at p[0..len). On success *used = its length, *seq its
 * sequence number, and fn was called for each op (after the checksums were
 * verified, so a bad frame calls fn never). -EAGAIN: p holds less than a
 * whole frame; -EBADMSG: corrupt. */
int frame_decode(const void *p, size_t len, size_t *used, uint64_t *seq, frame_op_fn fn,
		 void *ctx);
/* frame_decode without the payload checksum (the header's is checked; ops
 * are still bounds-checked, so garbage cannot make it read outside p). For
 * a caller that verifies the payloads on another thread at the same time
 * and throws away everything applied when that fails (mount-time replay). */
int frame_decode_unverified(const void *p, size_t len, size_t *used, uint64_t *seq,
			    frame_op_fn fn, void *ctx);

#endif
