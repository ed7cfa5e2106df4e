/* tests/test_regress.c - regression tests for inputs found by the fuzzers in
 * fuzz/ (each input is also kept in fuzz/corpus/<target>/).
 */
#include <errno.h>
#include <string.h>

#include "../store/manifest.h"
#include "tap.h"

#define MANIFEST_HEAD "{\"format\": \"ragfs-store\", "
#define MANIFEST_REST "\"store_id\": \"s\", \"index_id\": \"i\", \"embed\": \"hash\", " \
		      "\"segments\": []}"

static int parse(const char *json, struct manifest *m)
{
	char err[256] = "";
	int rc = manifest_parse(json, strlen(json), m, err, sizeof(err));
	if (rc)
		diag("refused: %s", err);
	return rc;
}

/* fuzz_manifest: numbers beyond uint64_t were cast with (uint64_t)double,
 * which is undefined behaviour (UBSan: "outside the range of representable
 * values", store/manifest.c get_u64); on x86-64 the result is 0, so a huge
 * "version" passed the "newer than this ragfs" check and a huge "dim" the
 * "dim > 65536" check. Such manifests must be refused. */
static void manifest_out_of_range(void)
{
	struct manifest m;
	is_int(parse(MANIFEST_HEAD "\"version\": 1, \"generation\": 1, \"last_seq\": 2, "
				   "\"dim\": 8, " MANIFEST_REST, &m),
	       0, "manifest: a valid manifest parses");
	manifest_clear(&m);
	is_int(parse(MANIFEST_HEAD "\"version\": 1e20, \"generation\": 1, \"last_seq\": 2, "
				   "\"dim\": 8, " MANIFEST_REST, &m),
	       -EBADMSG, "manifest: \"version\": 1e20 is refused (newer than this ragfs)");
	manifest_clear(&m);
	is_int(parse(MANIFEST_HEAD "\"version\": 1, \"generation\": 1, \"last_seq\": 2, "
				   "\"dim\": 1e20, " MANIFEST_REST, &m),
	       -EBADMSG, "manifest: \"dim\": 1e20 is refused (over 65536)");
	manifest_clear(&m);
	is_int(parse(MANIFEST_HEAD "\"version\": 1, \"generation\": 1e30, \"last_seq\": 0, "
				   "\"dim\": 8, " MANIFEST_REST, &m),
	       -EBADMSG, "manifest: \"generation\": 1e30 (beyond uint64) is refused");
	manifest_clear(&m);
	is_int(parse(MANIFEST_HEAD "\"version\": 1, \"generation\": 1, \"last_seq\": 1e300, "
				   "\"dim\": 8, " MANIFEST_REST, &m),
	       -EBADMSG, "manifest: \"last_seq\": 1e300 (beyond uint64) is refused");
	manifest_clear(&m);
}

/* fuzz_manifest: manifest_render printed store_id, index_id, embed and the
 * segment keys with "%s", unescaped (store/manifest.c manifest_render), so a
 * manifest whose strings hold a quote or a backslash parsed, but the
 * manifest written back at the next flush was not JSON: the store would no
 * longer open. What parses must render to something that parses equal. */
static void manifest_render_round_trip(void)
{
	static const char *const cases[] = {
		MANIFEST_HEAD "\"version\": 1, \"generation\": 5, \"last_seq\": 0, "
			      "\"store_id\": \"\", \"index_id\": \"i\\\\\", \"dim\": 8, "
			      "\"embed\": \"\", \"segments\": []}",
		MANIFEST_HEAD "\"version\": 1, \"generation\": 5, \"last_seq\": 0, "
			      "\"store_id\": \"a\\\"b\", \"index_id\": \"i\", \"dim\": 8, "
			      "\"embed\": \"hash\", \"segments\": [{\"key\": \"seg\\nx\", "
			      "\"size\": 1, \"first_seq\": 1, \"last_seq\": 1}]}",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct manifest m, m2;
		struct buf out = BUF_INIT;
		if (!ok(parse(cases[i], &m) == 0, "manifest %zu: parses", i))
			continue;
		ok(manifest_render(&m, &out) == 0, "manifest %zu: renders", i);
		int rc = parse(out.data ? out.data : "", &m2);
		ok(rc == 0, "manifest %zu: the rendered manifest parses again", i);
		if (rc)
			diag("rendered: %s", out.data);
		else
			ok(!strcmp(m.store_id, m2.store_id) && !strcmp(m.index_id, m2.index_id) &&
				   m.nsegs == m2.nsegs &&
				   (!m.nsegs || !strcmp(m.segs[0].key, m2.segs[0].key)),
			   "manifest %zu: and holds the same strings", i);
		buf_release(&out);
		manifest_clear(&m);
		manifest_clear(&m2);
	}
}

int main(void)
{
	manifest_out_of_range();
	manifest_render_round_trip();
	return tap_done();
}
