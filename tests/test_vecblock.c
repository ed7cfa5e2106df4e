/* Unit tests: store/vecblock.c and the mapped matrix (layout version 2).
 *
 * A state with 20,000 x 64 vectors (5 MiB: large enough to be mapped) and
 * some records is snapshotted with a vector block, written to a file, and
 * applied to fresh states three ways: mapped from the file, from a buffer,
 * and as the frames-only snapshot of layout version 1. All must equal the
 * original, row for row and search for search; the mapped one must really
 * be a mapping of the file (/proc/self/maps), must keep working after the
 * file is unlinked, and changes to it (overwrite, append, remove) must
 * leave the file as it was. Damaged trailers, rows and ids are refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/frame.h"
#include "store/mapfile.h"
#include "store/state.h"
#include "store/vecblock.h"
#include "store/vecindex.h"
#include "tests/tap.h"

#define VECTEST_SEED 0x243f6a8885a308d3ULL
#include "tests/vectest.h"

#define DIM 64
#define N 20000

static int put(struct state *st, const char *coll, const char *key, const void *val, size_t len)
{
	struct frame_op op = { .type = FRAME_PUT, .coll = coll, .coll_len = strlen(coll),
			       .key = key, .key_len = strlen(key), .val = val, .val_len = len };
	return state_apply(st, &op);
}

static int del(struct state *st, const char *coll, const char *key)
{
	struct frame_op op = { .type = FRAME_DEL, .coll = coll, .coll_len = strlen(coll),
			       .key = key, .key_len = strlen(key) };
	return state_apply(st, &op);
}

static int put_vec(struct state *st, const char *id)
{
	float v[DIM];
	for (int i = 0; i < DIM; i++)
		v[i] = frand();
	return put(st, COLL_VECS, id, v, sizeof(v));
}

static int apply_op(void *ctx, uint64_t seq, const struct frame_op *op)
{
	(void)seq;
	return state_apply(ctx, op);
}

/* The segment's frames (all of p[0..len) when b is NULL), then its block. */
static int apply_segment(struct state *st, const char *p, size_t len, const struct vecblock *b,
			 int fd)
{
	size_t flen = b ? (size_t)b->frames_len : len, used;
	int rc = 0;
	for (size_t off = 0; !rc && off < flen; off += used) {
		uint64_t seq;
		rc = frame_decode(p + off, flen - off, &used, &seq, apply_op, st);
	}
	return rc || !b ? rc : state_apply_block(st, p, b, fd);
}

/* Same ids with bit-equal rows (any row order). */
static int same_vectors(const struct vecindex *a, const struct vecindex *b)
{
	if (vecindex_count(a) != vecindex_count(b))
		return 0;
	for (size_t r = 0; r < vecindex_count(a); r++) {
		long rb = vecindex_find(b, vecindex_id(a, r));
		if (rb < 0 || memcmp(vecindex_row(a, r), vecindex_row(b, (size_t)rb), DIM * 4))
			return 0;
	}
	return 1;
}

/* 20 random queries give the same ids and bit-equal scores. */
static int same_searches(const struct vecindex *a, const struct vecindex *b)
{
	struct vec_hit ha[10], hb[10];
	for (int q = 0; q < 20; q++) {
		float v[DIM];
		size_t na, nb;
		for (int i = 0; i < DIM; i++)
			v[i] = frand();
		if (vecindex_search(a, v, 10, NULL, NULL, ha, &na) ||
		    vecindex_search(b, v, 10, NULL, NULL, hb, &nb) || na != nb)
			return 0;
		for (size_t i = 0; i < na; i++)
			if (ha[i].score != hb[i].score ||
			    strcmp(vecindex_id(a, ha[i].row), vecindex_id(b, hb[i].row)))
				return 0;
	}
	return 1;
}

/* The line of /proc/self/maps whose range holds p names path. */
static int mapped_from(const void *p, const char *path)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4200];
	int found = 0;
	while (f && !found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && (uintptr_t)p >= lo &&
		    (uintptr_t)p < hi)
			found = strstr(line, path) ? 1 : -1;
	}
	if (f)
		fclose(f);
	return found == 1;
}

static int write_file(const char *path, const char *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int ok = fd >= 0 && write(fd, p, len) == (ssize_t)len;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int file_equals(const char *path, const char *p, size_t len)
{
	struct mapfile m;
	int same = !mapfile_open(path, &m) && m.len == len && !memcmp(m.data, p, len);
	mapfile_close(&m);
	return same;
}

/* The block parses, and a damaged copy of seg is refused: by the trailer's
 * checksum, by its bounds, by the rows' checksum, or by the ids. */
static void test_damage(const char *seg, size_t len, const struct vecblock *b)
{
	struct vecblock d;
	char *copy = malloc(len);
	memcpy(copy, seg, len);
	copy[len - 30] ^= 1;
	ok(vecblock_parse(copy, len, &d) == -EBADMSG, "a flipped trailer byte: EBADMSG");
	memcpy(copy, seg, len);
	ok(vecblock_parse(copy, len - 1, &d) == -EBADMSG, "a cut segment: EBADMSG");
	ok(vecblock_parse(copy, 10, &d) == -EBADMSG, "shorter than a trailer: EBADMSG");
	copy[b->rows_off + 5] ^= 0x40;
	ok(!vecblock_parse(copy, len, &d) && !vecblock_rows_ok(copy, &d),
	   "a flipped row byte: the trailer parses, the rows' checksum fails");
	memcpy(copy, seg, len);
	copy[b->ids_off + b->ids_len - 1] = 'x'; /* the last id loses its NUL */
	struct state *st = NULL;
	state_new(DIM, &st);
	ok(state_apply_block(st, copy, b, -1) == -EBADMSG, "ids that are not n strings: EBADMSG");
	state_free(st);
	free(copy);
}

int main(void)
{
	char dir[] = "/tmp/ragfs-vecblock-XXXXXX", path[64];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/snap.seg", dir);

	struct state *st = NULL;
	ok(!state_new(DIM, &st), "state_new");
	char id[32];
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "node-%05d", i);
		put_vec(st, id);
	}
	for (int i = 0; i < N; i += 7) { /* holes: the last rows move into them */
		snprintf(id, sizeof(id), "node-%05d", i);
		del(st, COLL_VECS, id);
	}
	put(st, "user", "k1", "{\"a\": 1}", 8);
	put(st, COLL_DOCS, "d.txt", "hello", 5);
	struct vecindex *vi = state_vectors(st);
	size_t n = vecindex_count(vi);

	uint64_t seq = 1;
	struct buf seg = BUF_INIT, v1 = BUF_INIT;
	ok(!state_snapshot(st, &seq, &seg, 1), "snapshot with a vector block");
	seq = 1;
	ok(!state_snapshot(st, &seq, &v1, 0), "snapshot as frames only (layout 1)");
	struct vecblock b;
	ok(!vecblock_parse(seg.data, seg.len, &b), "the block's trailer parses");
	ok(b.n == n && b.dim == DIM && b.rows_off % VECBLOCK_ALIGN == 0 &&
	   b.ids_off == b.rows_off + n * DIM * 4 && vecblock_rows_ok(seg.data, &b),
	   "n, dim, page-aligned rows, ids after them, checksum good");
	ok(seg.len < v1.len, "the block is smaller than the same vectors as frames (%zu < %zu)",
	   seg.len, v1.len);
	ok(!memcmp(seg.data + b.rows_off, vecindex_row(vi, 0), DIM * 4),
	   "row 0 of the block is row 0 of the index");
	test_damage(seg.data, seg.len, &b);

	/* Mapped from a file. */
	ok(write_file(path, seg.data, seg.len), "segment written to %s", path);
	struct mapfile m;
	ok(!mapfile_open(path, &m) && m.fd >= 0, "mapfile keeps the file open while mapped");
	struct state *mapped = NULL;
	state_new(DIM, &mapped);
	ok(!apply_segment(mapped, m.data, m.len, &b, m.fd), "frames + block applied, mapped");
	mapfile_close(&m);
	struct vecindex *mv = state_vectors(mapped);
	ok(mapped_from(vecindex_row(mv, 0), path) && mapped_from(vecindex_row(mv, n - 1), path),
	   "the matrix is a mapping of the segment file (first and last row)");
	ok(same_vectors(vi, mv) && same_searches(vi, mv), "mapped: the same rows and searches");
	ok(state_get(mapped, COLL_DOCS, "d.txt") && state_get(mapped, "user", "k1"),
	   "mapped: the records came with the frames");
	ok(!unlink(path), "the file unlinked (a compaction or cache eviction)");
	ok(same_searches(vi, mv), "mapped: searches still work after the unlink");

	/* Changes to a mapped matrix: copy-on-write, equal to the same changes
	 * made to the original. */
	/* Two rows under one id (the second id made equal to the first, same
	 * length): the mapped path refuses the block, the set stays empty. */
	char *dup = malloc(seg.len);
	memcpy(dup, seg.data, seg.len);
	const char *id0 = dup + b.ids_off;
	memcpy(dup + b.ids_off + strlen(id0) + 1, id0, strlen(id0));
	struct state *twice = NULL;
	state_new(DIM, &twice);
	ok(write_file(path, dup, seg.len) && !mapfile_open(path, &m) &&
	   state_apply_block(twice, m.data, &b, m.fd) == -EBADMSG &&
	   vecindex_count(state_vectors(twice)) == 0,
	   "an id twice in a mapped block: EBADMSG, nothing kept");
	mapfile_close(&m);
	state_free(twice);
	free(dup);

	ok(write_file(path, seg.data, seg.len), "segment written again");
	struct state *cow = NULL;
	state_new(DIM, &cow);
	ok(!mapfile_open(path, &m) && !apply_segment(cow, m.data, m.len, &b, m.fd),
	   "a second mapped state");
	mapfile_close(&m);
	for (int i = 1; i < N; i += 11) {
		snprintf(id, sizeof(id), "node-%05d", i);
		uint64_t save = rng_state;
		put_vec(st, id);
		rng_state = save;
		put_vec(cow, id);
	}
	for (int i = 2; i < N; i += 13) {
		snprintf(id, sizeof(id), "node-%05d", i);
		del(st, COLL_VECS, id);
		del(cow, COLL_VECS, id);
	}
	for (int i = 0; i < 3000; i++) { /* past the mapped pages: anonymous growth */
		snprintf(id, sizeof(id), "new-%05d", i);
		uint64_t save = rng_state;
		put_vec(st, id);
		rng_state = save;
		put_vec(cow, id);
	}
	ok(same_vectors(vi, state_vectors(cow)) && same_searches(vi, state_vectors(cow)),
	   "overwrite, remove and append on a mapped matrix: equal to the same on the original");
	ok(file_equals(path, seg.data, seg.len), "and the segment file is unchanged");

	/* From a buffer (a fetched segment), and from layout 1's frames. */
	struct state *copied = NULL, *old = NULL;
	state_new(DIM, &copied);
	state_new(DIM, &old);
	ok(!apply_segment(copied, seg.data, seg.len, &b, -1), "block applied from a buffer");
	ok(!apply_segment(old, v1.data, v1.len, NULL, -1), "layout 1 snapshot applied");
	ok(same_vectors(mv, state_vectors(copied)) && same_vectors(mv, state_vectors(old)),
	   "buffer, layout 1 and mapped states hold the same vectors");
	ok(!mapped_from(vecindex_row(state_vectors(copied), 0), path),
	   "from a buffer the rows are copied");

	/* An fd mmap refuses (a pipe: ENODEV): the rows are copied instead. */
	int pfd[2];
	struct state *unmappable = NULL;
	state_new(DIM, &unmappable);
	ok(!pipe(pfd) && !apply_segment(unmappable, seg.data, seg.len, &b, pfd[0]),
	   "a block whose file cannot be mapped applies");
	ok(same_vectors(mv, state_vectors(unmappable)), "by copying its rows");
	close(pfd[0]);
	close(pfd[1]);
	state_free(unmappable);

	/* A block on a set that already has rows: applied as puts over them. */
	struct state *onto = NULL;
	state_new(DIM, &onto);
	put_vec(onto, "node-00001");
	put_vec(onto, "elsewhere");
	ok(!mapfile_open(path, &m) && !apply_segment(onto, m.data, m.len, &b, m.fd),
	   "a block onto a set with rows");
	mapfile_close(&m);
	struct vecindex *ov = state_vectors(onto);
	ok(vecindex_count(ov) == n + 1 && vecindex_find(ov, "elsewhere") >= 0 &&
	   !memcmp(vecindex_row(ov, (size_t)vecindex_find(ov, "node-00001")),
		   vecindex_row(mv, (size_t)vecindex_find(mv, "node-00001")), DIM * 4),
	   "the block's rows replace, the others stay");

	/* A compressed copy built over mapped rows. */
	struct state *q8 = NULL;
	state_new(DIM, &q8);
	state_set_compress(q8, VEC_COMPRESS_INT8);
	ok(!mapfile_open(path, &m) && !apply_segment(q8, m.data, m.len, &b, m.fd),
	   "int8 state, mapped");
	mapfile_close(&m);
	ok(same_searches(mv, state_vectors(q8)), "int8 over mapped rows: the same searches");

	state_free(q8);
	state_free(onto);
	state_free(copied);
	state_free(old);
	state_free(cow);
	state_free(mapped);
	state_free(st);
	buf_release(&seg);
	buf_release(&v1);
	unlink(path);
	rmdir(dir);
	return tap_done();
}
