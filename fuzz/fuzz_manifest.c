/* fuzz/fuzz_manifest.c - libFuzzer target: manifest_parse on arbitrary bytes.
 * A manifest that parses is rendered, parsed again and must come back equal
 * (the root is swapped on every flush, so render/parse must round-trip).
 * FUZZ_MANIFEST_NO_ROUNDTRIP=1 skips that check, to look past a known
 * render bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../store/log.h"
#include "../store/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static int roundtrip = 1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_setup(0, 1);
	roundtrip = !getenv("FUZZ_MANIFEST_NO_ROUNDTRIP");
	return 0;
}

static int same(const struct manifest *a, const struct manifest *b)
{
	if (a->generation != b->generation || a->last_seq != b->last_seq ||
	    strcmp(a->store_id, b->store_id) || strcmp(a->index_id, b->index_id) ||
	    a->dim != b->dim || strcmp(a->embed, b->embed) || a->nsegs != b->nsegs)
		return 0;
	for (size_t i = 0; i < a->nsegs; i++)
		if (strcmp(a->segs[i].key, b->segs[i].key) || a->segs[i].size != b->segs[i].size ||
		    a->segs[i].first_seq != b->segs[i].first_seq ||
		    a->segs[i].last_seq != b->segs[i].last_seq)
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);
	struct manifest m, m2, m3;
	char err[256] = "";
	int rc = manifest_parse(p, size, &m, err, sizeof(err));
	if (rc == 0 && !roundtrip) {
		manifest_clear(&m);
	} else if (rc == 0) {
		struct buf out = BUF_INIT;
		if (manifest_render(&m, &out))
			abort();
		if (manifest_parse(out.data, out.len, &m2, err, sizeof(err)))
			abort(); /* what we write we must read back */
		if (!same(&m, &m2))
			abort();
		if (manifest_copy(&m3, &m) || !same(&m, &m3))
			abort();
		buf_release(&out);
		manifest_clear(&m);
		manifest_clear(&m2);
		manifest_clear(&m3);
	} else if (!err[0] || m.segs || m.nsegs) {
		abort();
	}
	free(p);
	return 0;
}
