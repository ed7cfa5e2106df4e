/* store/vecblock.c - see vecblock.h */
#include "vecblock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "frame.h"
#include "le.h"
#include "vecindex.h"

int vecblock_append(struct buf *out, const struct vecindex *vi)
{
	uint32_t dim = vecindex_dim(vi);
	size_t n = vecindex_count(vi), rowb = (size_t)dim * sizeof(float);
	struct vecblock b = { .dim = dim, .n = n, .frames_len = out->len };
	b.rows_off = (out->len + VECBLOCK_ALIGN - 1) / VECBLOCK_ALIGN * VECBLOCK_ALIGN;
	b.ids_off = b.rows_off + n * rowb;
	for (size_t r = 0; r < n; r++)
		b.ids_len += strlen(vecindex_id(vi, r)) + 1;
	int rc = buf_grow(out, (size_t)(b.ids_off + b.ids_len - out->len) + VECBLOCK_TRAILER_LEN);
	if (rc)
		return rc;
	memset(out->data + out->len, 0, (size_t)(b.rows_off - out->len));
	out->len = (size_t)b.rows_off;
	for (size_t r = 0; r < n; r++) {
		memcpy(out->data + out->len, vecindex_row(vi, r), rowb);
		out->len += rowb;
	}
	for (size_t r = 0; r < n; r++) {
		const char *id = vecindex_id(vi, r);
		size_t l = strlen(id) + 1;
		memcpy(out->data + out->len, id, l);
		out->len += l;
	}
	b.crc = frame_crc32(out->data + b.rows_off, (size_t)(b.ids_off + b.ids_len - b.rows_off));
	unsigned char *t = (unsigned char *)out->data + out->len;
	memset(t, 0, VECBLOCK_TRAILER_LEN);
	le_put_u32(t, VECBLOCK_MAGIC);
	le_put_u32(t + 4, b.dim);
	le_put_u64(t + 8, b.n);
	le_put_u64(t + 16, b.frames_len);
	le_put_u64(t + 24, b.rows_off);
	le_put_u64(t + 32, b.ids_off);
	le_put_u64(t + 40, b.ids_len);
	le_put_u32(t + 48, b.crc);
	le_put_u32(t + 60, frame_crc32(t, 60));
	out->len += VECBLOCK_TRAILER_LEN;
	out->data[out->len] = '\0';
	return 0;
}

int vecblock_parse(const char *p, size_t len, struct vecblock *b)
{
	memset(b, 0, sizeof(*b));
	if (len < VECBLOCK_TRAILER_LEN)
		return -EBADMSG;
	const unsigned char *t = (const unsigned char *)p + len - VECBLOCK_TRAILER_LEN;
	if (le_get_u32(t) != VECBLOCK_MAGIC || le_get_u32(t + 60) != frame_crc32(t, 60))
		return -EBADMSG;
	b->dim = le_get_u32(t + 4);
	b->n = le_get_u64(t + 8);
	b->frames_len = le_get_u64(t + 16);
	b->rows_off = le_get_u64(t + 24);
	b->ids_off = le_get_u64(t + 32);
	b->ids_len = le_get_u64(t + 40);
	b->crc = le_get_u32(t + 48);
	uint64_t body = len - VECBLOCK_TRAILER_LEN;
	/* Each bound before it is used in the next (no overflow: all <= body). */
	if (!b->dim || b->frames_len > b->rows_off || b->rows_off % VECBLOCK_ALIGN ||
	    b->rows_off > body || b->ids_off < b->rows_off || b->ids_off > body ||
	    b->ids_len != body - b->ids_off || b->n > b->ids_len ||
	    (b->ids_off - b->rows_off) / sizeof(float) / b->dim != b->n ||
	    (b->ids_off - b->rows_off) % ((uint64_t)b->dim * sizeof(float)))
		return -EBADMSG;
	return 0;
}

int vecblock_rows_ok(const char *p, const struct vecblock *b)
{
	return frame_crc32(p + b->rows_off, (size_t)(b->ids_off + b->ids_len - b->rows_off)) ==
	       b->crc;
}

int vecblock_rows_ok_fd(int fd, const struct vecblock *b)
{
	enum { CHUNK = 4 << 20 };
	char *chunk = malloc(CHUNK);
	uLong c = crc32(0L, Z_NULL, 0);
	uint64_t off = b->rows_off, end = b->ids_off + b->ids_len;
	while (chunk && off < end) {
		size_t want = end - off < CHUNK ? (size_t)(end - off) : CHUNK;
		ssize_t got = pread(fd, chunk, want, (off_t)off);
		if (got <= 0)
			break;
		c = crc32(c, (const unsigned char *)chunk, (uInt)got);
		off += (uint64_t)got;
	}
	free(chunk);
	return off == end && (uint32_t)c == b->crc;
}

int vecblock_each_id(const char *p, const struct vecblock *b,
		     int (*fn)(void *ctx, uint64_t row, const char *id), void *ctx)
{
	const char *id = p + b->ids_off, *end = id + b->ids_len;
	for (uint64_t r = 0; r < b->n; r++) {
		const char *nul = memchr(id, '\0', (size_t)(end - id));
		if (!nul || nul == id)
			return -EBADMSG;
		int rc = fn(ctx, r, id);
		if (rc)
			return rc;
		id = nul + 1;
	}
	return id == end ? 0 : -EBADMSG;
}
