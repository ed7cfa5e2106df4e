/* store/frame.c - see frame.h */
#include "frame.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

#include "le.h"

uint32_t frame_crc32(const void *p, size_t n)
{
	uLong c = crc32(0L, Z_NULL, 0);
	const unsigned char *b = p;
	/* zlib takes uInt lengths: feed large payloads in pieces. */
	while (n) {
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
		c = crc32(c, b, k);
		b += k;
		n -= k;
	}
	return (uint32_t)c;
}

static int encode_op(struct buf *out, const struct frame_op *op)
{
	unsigned char h[FRAME_OP_HDR_LEN] = { 0 };
	if (op->coll_len > UINT16_MAX || op->key_len > UINT32_MAX)
		return -EINVAL;
	h[0] = op->type;
	le_put_u16(h + 2, (uint16_t)op->coll_len);
	le_put_u32(h + 4, (uint32_t)op->key_len);
	le_put_u64(h + 8, op->val_len);
	le_put_u64(h + 16, (uint64_t)op->mtime_ns);
	le_put_u32(h + 24, op->mode);
	int rc = buf_add(out, h, sizeof(h));
	if (!rc)
		rc = buf_add(out, op->coll, op->coll_len);
	if (!rc)
		rc = buf_addc(out, '\0');
	if (!rc)
		rc = buf_add(out, op->key, op->key_len);
	if (!rc)
		rc = buf_addc(out, '\0');
	if (!rc && op->val_len)
		rc = buf_add(out, op->val, op->val_len);
	return rc;
}

int frame_encode(struct buf *out, uint64_t seq, const struct frame_op *ops, size_t n)
{
	size_t start = out->len;
	unsigned char h[FRAME_HDR_LEN] = { 0 };
	int rc = buf_add(out, h, sizeof(h));

	for (size_t i = 0; i < n && !rc; i++)
		rc = encode_op(out, &ops[i]);
	if (rc) {
		out->len = start;
		return rc;
	}
	unsigned char *hp = (unsigned char *)out->data + start;
	size_t plen = out->len - start - FRAME_HDR_LEN;
	le_put_u32(hp, FRAME_MAGIC);
	le_put_u32(hp + 4, (uint32_t)n);
	le_put_u64(hp + 8, seq);
	le_put_u64(hp + 16, plen);
	le_put_u32(hp + 24, frame_crc32(hp + FRAME_HDR_LEN, plen));
	le_put_u32(hp + 28, frame_crc32(hp, 28));
	return 0;
}

/* Walk the ops of a verified payload; -EBADMSG if they overrun it. */
static int decode_ops(const unsigned char *p, uint64_t plen, uint32_t nops, uint64_t seq,
		      frame_op_fn fn, void *ctx)
{
	uint64_t off = 0;
	for (uint32_t i = 0; i < nops; i++) {
		if (plen - off < FRAME_OP_HDR_LEN)
			return -EBADMSG;
		const unsigned char *h = p + off;
		struct frame_op op = {
			.type = h[0],
			.coll_len = le_get_u16(h + 2),
			.key_len = le_get_u32(h + 4),
			.val_len = le_get_u64(h + 8),
			.mtime_ns = (int64_t)le_get_u64(h + 16),
			.mode = le_get_u32(h + 24),
		};
		off += FRAME_OP_HDR_LEN;
		uint64_t need = (uint64_t)op.coll_len + 1 + op.key_len + 1;
		if (plen - off < need || plen - off - need < op.val_len)
			return -EBADMSG;
		op.coll = (const char *)p + off;
		op.key = op.coll + op.coll_len + 1;
		op.val = op.key + op.key_len + 1;
		if (op.coll[op.coll_len] || op.key[op.key_len])
			return -EBADMSG;
		if (op.type < FRAME_PUT || op.type > FRAME_ATTR)
			return -EBADMSG;
		off += need + op.val_len;
		if (fn) {
			int rc = fn(ctx, seq, &op);
			if (rc)
				return rc;
		}
	}
	return off == plen ? 0 : -EBADMSG;
}

static int decode(const void *buf, size_t len, size_t *used, uint64_t *seq, frame_op_fn fn,
		  void *ctx, int check_payload)
{
	const unsigned char *p = buf;
	if (len < FRAME_HDR_LEN)
		return -EAGAIN;
	if (le_get_u32(p) != FRAME_MAGIC || le_get_u32(p + 28) != frame_crc32(p, 28))
		return -EBADMSG;
	uint32_t nops = le_get_u32(p + 4);
	uint64_t plen = le_get_u64(p + 16);
	if (plen > len - FRAME_HDR_LEN)
		return -EAGAIN;
	if (check_payload && le_get_u32(p + 24) != frame_crc32(p + FRAME_HDR_LEN, plen))
		return -EBADMSG;
	/* Validate the whole frame before calling fn: all or nothing. */
	int rc = decode_ops(p + FRAME_HDR_LEN, plen, nops, le_get_u64(p + 8), NULL, NULL);
	if (rc)
		return rc;
	*seq = le_get_u64(p + 8);
	*used = FRAME_HDR_LEN + plen;
	return decode_ops(p + FRAME_HDR_LEN, plen, nops, *seq, fn, ctx);
}

int frame_decode(const void *buf, size_t len, size_t *used, uint64_t *seq, frame_op_fn fn,
		 void *ctx)
{
	return decode(buf, len, used, seq, fn, ctx, 1);
}

int frame_decode_unverified(const void *buf, size_t len, size_t *used, uint64_t *seq,
			    frame_op_fn fn, void *ctx)
{
	return decode(buf, len, used, seq, fn, ctx, 0);
}
