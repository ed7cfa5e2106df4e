/* fuzz/fuzz_vecblock.c - libFuzzer target: a snapshot segment's vector
 * block (store/vecblock.h) on arbitrary bytes.
 *
 * Input: byte 0 holds flags; the rest is the segment.
 *   flag 1: fix the trailer's own CRC, so mutations reach the bounds checks
 *           (a random CRC rarely matches);
 *   flag 2: also fix the rows-and-ids CRC, so a parsed block is applied.
 * Properties: vecblock_parse never reads outside the input and accepts
 * only a block whose rows and ids lie inside it; applying an accepted
 * block (as a mount does after the checksum passed) never reads outside
 * it either, and leaves at most n vectors in an empty state.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../store/frame.h"
#include "../store/le.h"
#include "../store/log.h"
#include "../store/state.h"
#include "../store/vecblock.h"
#include "../store/vecindex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_setup(0, 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0];
	size_t len = size - 1;
	/* An exact-size copy: ASan sees any read past the segment. */
	char *p = malloc(len ? len : 1);
	if (!p)
		return 0;
	memcpy(p, data + 1, len);
	unsigned char *t = len >= VECBLOCK_TRAILER_LEN ?
		(unsigned char *)p + len - VECBLOCK_TRAILER_LEN : NULL;
	if (t && (flags & 1))
		le_put_u32(t + 60, frame_crc32(t, 60));
	struct vecblock b;
	if (vecblock_parse(p, len, &b)) {
		free(p);
		return 0;
	}
	if (b.rows_off % VECBLOCK_ALIGN || b.ids_off + b.ids_len > len ||
	    b.ids_off - b.rows_off != b.n * b.dim * sizeof(float))
		abort();
	if (flags & 2) {
		uint32_t c = frame_crc32(p + b.rows_off, (size_t)(b.ids_off + b.ids_len - b.rows_off));
		le_put_u32(t + 48, c);
		le_put_u32(t + 60, frame_crc32(t, 60));
		if (vecblock_parse(p, len, &b) || !vecblock_rows_ok(p, &b))
			abort();
	}
	if (vecblock_rows_ok(p, &b) && b.dim <= 4096) {
		struct state *st = NULL;
		if (!state_new(b.dim, &st)) {
			int rc = state_apply_block(st, p, &b, -1);
			if (rc && rc != -EBADMSG && rc != -ENOMEM)
				abort();
			if (!rc && vecindex_count(state_vectors(st)) > b.n)
				abort();
			state_free(st);
		}
	}
	free(p);
	return 0;
}
