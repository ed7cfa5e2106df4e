/* Unit tests: store/frame.c (the journal/segment record format) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/frame.h"
#include "tests/tap.h"

struct seen {
	int n;
	char keys[8][32];
	uint64_t lens[8];
	int types[8];
};

static int on_op(void *ctx, uint64_t seq, const struct frame_op *op)
{
	struct seen *s = ctx;
	(void)seq;
	snprintf(s->keys[s->n], 32, "%s/%s", op->coll, op->key);
	s->lens[s->n] = op->val_len;
	s->types[s->n] = op->type;
	s->n++;
	return 0;
}

int main(void)
{
	struct buf b = BUF_INIT;
	char big[5000];
	memset(big, 'x', sizeof(big));
	struct frame_op ops[3] = {
		{ .type = FRAME_PUT, .coll = "docs", .coll_len = 4, .key = "a.txt", .key_len = 5,
		  .val = big, .val_len = sizeof(big), .mtime_ns = 123 },
		{ .type = FRAME_DEL, .coll = "docstore/data", .coll_len = 13, .key = "n1", .key_len = 2 },
		{ .type = FRAME_ATTR, .coll = "docs", .coll_len = 4, .key = "b", .key_len = 1,
		  .mode = 0600 },
	};
	ok(frame_encode(&b, 7, ops, 3) == 0, "encode a frame of 3 ops");
	size_t first = b.len;
	ok(frame_encode(&b, 8, ops + 1, 1) == 0, "encode a second frame");

	struct seen s = { 0 };
	size_t used;
	uint64_t seq;
	ok(frame_decode(b.data, b.len, &used, &seq, on_op, &s) == 0, "decode the first frame");
	ok(used == first && seq == 7, "length and sequence number round-trip");
	ok(s.n == 3 && !strcmp(s.keys[0], "docs/a.txt") && s.lens[0] == 5000 &&
	   !strcmp(s.keys[1], "docstore/data/n1") && s.types[2] == FRAME_ATTR,
	   "ops round-trip in order");
	ok(frame_decode(b.data + used, b.len - used, &used, &seq, NULL, NULL) == 0 && seq == 8,
	   "decode the second frame");

	/* A torn tail: every proper prefix of a frame is -EAGAIN or -EBADMSG,
	 * never a success, and fn is never called. */
	int torn_ok = 1;
	for (size_t cut = 0; cut < first; cut += 97) {
		struct seen t = { 0 };
		int rc = frame_decode(b.data, cut, &used, &seq, on_op, &t);
		torn_ok &= (rc == -EAGAIN || rc == -EBADMSG) && t.n == 0;
	}
	ok(torn_ok, "a cut frame never decodes and applies nothing");

	/* A flipped byte anywhere is caught by the checksums. */
	int flip_ok = 1;
	for (size_t i = 0; i < first; i += 131) {
		b.data[i] ^= 0x40;
		struct seen t = { 0 };
		int rc = frame_decode(b.data, b.len, &used, &seq, on_op, &t);
		flip_ok &= rc == -EBADMSG && t.n == 0;
		b.data[i] ^= 0x40;
	}
	ok(flip_ok, "a corrupt byte is -EBADMSG and applies nothing");
	buf_release(&b);
	return tap_done();
}
