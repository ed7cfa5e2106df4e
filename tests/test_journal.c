/* Unit tests: store/journal.c - append, replay, torn tails, rotation, locking. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/journal.h"
#include "store/log.h"
#include "tests/tap.h"

static int count_op(void *ctx, uint64_t seq, const struct frame_op *op)
{
	(void)seq;
	(void)op;
	(*(int *)ctx)++;
	return 0;
}

static void frame_of(struct buf *b, uint64_t seq, const char *key)
{
	struct frame_op op = { .type = FRAME_PUT, .coll = "c", .coll_len = 1, .key = key,
			       .key_len = strlen(key), .val = "value", .val_len = 5 };
	frame_encode(b, seq, &op, 1);
}

int main(void)
{
	char tmpl[] = "/tmp/ragfs-journal-XXXXXX";
	char *dir = mkdtemp(tmpl);
	struct journal *j, *j2;
	struct buf b = BUF_INIT;
	int n = 0;

	ok(journal_open(dir, &j) == 0, "open a new journal");
	is_int(journal_open(dir, &j2), -EBUSY, "a second open of one journal is -EBUSY");
	for (int i = 1; i <= 10; i++) {
		buf_reset(&b);
		frame_of(&b, (uint64_t)i, "k");
		journal_append(j, b.data, b.len);
	}
	ok(journal_pending_bytes(j) == 10 * b.len, "pending bytes count appends");
	journal_close(j);

	ok(journal_open(dir, &j) == 0, "reopen after a 'crash' (no flush)");
	ok(journal_replay(j, count_op, &n) == 0 && n == 10, "replay sees all 10 frames");

	/* Tear the tail of the newest sealed file: replay keeps whole frames. */
	journal_close(j);
	char path[512];
	snprintf(path, sizeof(path), "%s/journal.0000000000000001.log", dir);
	int fd = open(path, O_WRONLY | O_APPEND);
	buf_reset(&b);
	frame_of(&b, 11, "torn");
	ok(fd >= 0 && write(fd, b.data, b.len / 2) == (ssize_t)(b.len / 2), "write half a frame");
	close(fd);
	log_setup(0, 0);
	ok(journal_open(dir, &j) == 0, "reopen with a torn tail");
	n = 0;
	ok(journal_replay(j, count_op, &n) == 0 && n == 10, "torn frame is dropped, 10 kept");

	/* New appends go to a new file; rotate + read_sealed + drop_sealed. */
	buf_reset(&b);
	frame_of(&b, 12, "new");
	journal_append(j, b.data, b.len);
	ok(journal_rotate(j) == 0, "rotate");
	struct buf sealed = BUF_INIT;
	ok(journal_read_sealed(j, &sealed) == 0, "read sealed files");
	size_t off = 0, frames = 0, used;
	uint64_t seq;
	while (off < sealed.len && !frame_decode(sealed.data + off, sealed.len - off, &used, &seq,
						 NULL, NULL)) {
		off += used;
		frames++;
	}
	ok(frames == 11 && off == sealed.len, "sealed bytes are 11 whole frames");
	ok(journal_drop_sealed(j) == 0 && journal_pending_bytes(j) == 0, "drop sealed files");
	journal_close(j);
	ok(journal_open(dir, &j) == 0, "reopen after drop");
	n = 0;
	ok(journal_replay(j, count_op, &n) == 0 && n == 0, "nothing left to replay");
	journal_close(j);

	buf_release(&b);
	buf_release(&sealed);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		diag("cleanup failed");
	return tap_done();
}
