/* fuzz/fuzz_frame.c - libFuzzer target: frame_decode on arbitrary bytes, and
 * journal replay of arbitrary journal files in a temp directory.
 *
 * Input: byte 0 holds flags, bytes 1..2 a split point; the rest is the data.
 *   flag 1: fix the checksums of every frame header found in the data before
 *           decoding, so mutations reach the op parser (random CRCs rarely
 *           match);
 *   flag 2: also replay the data through journal_open/journal_replay, split
 *           into two journal files at the split point.
 * Properties: decoding never reads outside the input; a decoded frame is
 * re-encoded to the same bytes; replay visits exactly the ops of the whole
 * frames at the start of each file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../store/frame.h"
#include "../store/journal.h"
#include "../store/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char tmpdir[64];

static void cleanup_dir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	char path[512];
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

static void at_exit(void)
{
	cleanup_dir();
	rmdir(tmpdir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_setup(0, 1);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ragfs-fuzz-frame.XXXXXX");
	if (!mkdtemp(tmpdir))
		abort();
	atexit(at_exit);
	return 0;
}

struct ops {
	struct frame_op op[64];
	size_t n;
	uint64_t sum;
};

/* Touch every byte an op points at, so ASan sees out-of-bounds views. */
static int visit(void *ctx, uint64_t seq, const struct frame_op *op)
{
	struct ops *o = ctx;
	const unsigned char *v = op->val;
	(void)seq;
	/* Names are NUL-terminated at their length (they may hold a NUL
	 * earlier: the format does not forbid it, see the report). */
	if (op->coll[op->coll_len] || op->key[op->key_len])
		abort();
	if (op->type < FRAME_PUT || op->type > FRAME_ATTR)
		abort();
	for (uint64_t i = 0; i < op->val_len; i++)
		o->sum += v[i];
	if (o->n < sizeof(o->op) / sizeof(o->op[0]))
		o->op[o->n] = *op;
	o->n++;
	return 0;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Rewrite the CRCs of each frame so the checksums hold. */
static void fix_crcs(unsigned char *p, size_t len)
{
	size_t off = 0;
	while (len - off >= FRAME_HDR_LEN) {
		unsigned char *h = p + off;
		uint64_t plen = get_u64(h + 16);
		put_u32(h, FRAME_MAGIC);
		if (plen > len - off - FRAME_HDR_LEN)
			plen = len - off - FRAME_HDR_LEN;
		/* Keep the declared length (may be torn) but sum what is there. */
		put_u32(h + 24, (uint32_t)crc32(0L, h + FRAME_HDR_LEN, (uInt)plen));
		put_u32(h + 28, (uint32_t)crc32(0L, h, 28));
		off += FRAME_HDR_LEN + plen;
	}
}

/* Decode all frames; return the length of the prefix of whole frames and
 * count their ops. */
static size_t decode_all(const unsigned char *p, size_t len, size_t *nops)
{
	size_t off = 0;
	*nops = 0;
	while (off < len) {
		size_t used = 0;
		uint64_t seq = 0;
		struct ops o = { .n = 0 };
		int rc = frame_decode(p + off, len - off, &used, &seq, visit, &o);
		if (rc) {
			if (rc != -EAGAIN && rc != -EBADMSG)
				abort();
			if (o.n)
				abort(); /* a bad frame calls fn never */
			break;
		}
		if (used < FRAME_HDR_LEN || used > len - off)
			abort();
		/* Round trip: re-encode the ops and compare bytes. */
		if (o.n <= sizeof(o.op) / sizeof(o.op[0])) {
			struct buf b = BUF_INIT;
			if (frame_encode(&b, seq, o.op, o.n) == 0 &&
			    (b.len != used || memcmp(b.data, p + off, used))) {
				/* Reserved bytes may differ; compare the decode instead. */
				size_t u2;
				uint64_t s2;
				struct ops o2 = { .n = 0 };
				if (frame_decode(b.data, b.len, &u2, &s2, visit, &o2) ||
				    s2 != seq || o2.n != o.n || o2.sum != o.sum)
					abort();
			}
			buf_release(&b);
		}
		*nops += o.n;
		off += used;
	}
	return off;
}

static void write_file(const char *name, const void *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	if (n && write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

static void replay(const unsigned char *p, size_t len, size_t split)
{
	size_t n1, n2;
	if (split > len)
		split = len;
	decode_all(p, split, &n1);
	decode_all(p + split, len - split, &n2);
	cleanup_dir();
	write_file("journal.0000000000000001.log", p, split);
	write_file("journal.0000000000000002.log", p + split, len - split);
	struct journal *j = NULL;
	if (journal_open(tmpdir, &j))
		abort();
	struct ops o = { .n = 0 };
	int rc = journal_replay(j, visit, &o);
	if (rc)
		abort(); /* torn or corrupt tails are cut, not errors */
	if (o.n != n1 + n2)
		abort();
	journal_close(j);
	cleanup_dir();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	unsigned flags = data[0];
	size_t split = (size_t)data[1] | (size_t)data[2] << 8;
	size_t len = size - 3;
	unsigned char *p = malloc(len ? len : 1);
	if (!p)
		return 0;
	memcpy(p, data + 3, len);
	if (flags & 1)
		fix_crcs(p, len);
	size_t nops;
	decode_all(p, len, &nops);
	if (flags & 2)
		replay(p, len, split);
	free(p);
	return 0;
}
