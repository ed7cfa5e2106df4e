/* tests/storetest.h - what the store-level tests share: reading whole
 * files, finding the fixtures in tests/fixtures/ (test_persist,
 * test_import_ts), counting what an open store holds (test_store,
 * test_import_ts), and rendering a persist file of an open store
 * (test_import_ts, test_regress).
 */
#ifndef TESTS_STORETEST_H
#define TESTS_STORETEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/buf.h"
#include "store/map.h"
#include "store/persist.h"
#include "store/state.h"
#include "store/store.h"
#include "store/vecindex.h"

/* Persist file f of s, rendered into out (reset first). */
static inline int render(struct store *s, enum persist_file f, struct buf *out)
{
	buf_reset(out);
	const struct state *st = store_read_begin(s);
	int rc = persist_render_buf(st, store_index_id(s), store_dim(s), f, out);
	store_read_end(s);
	return rc;
}

/* The whole file at path, malloc'd; NULL if it cannot be opened. */
static inline char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b = BUF_INIT;
	char tmp[65536];
	size_t n;
	if (!f)
		return NULL;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(&b, tmp, n);
	fclose(f);
	return buf_detach(&b, len);
}

static char fixdir[4096];

/* fixdir := tests/fixtures/<sub>, under $SRCDIR when set, else beside this
 * header (the unit tests run without $SRCDIR, from the build directory). */
static inline void fixture_dir(const char *sub)
{
	const char *src = getenv("SRCDIR");
	if (src) {
		snprintf(fixdir, sizeof(fixdir), "%s/tests/fixtures/%s", src, sub);
		return;
	}
	snprintf(fixdir, sizeof(fixdir), "%s", __FILE__);
	char *slash = strrchr(fixdir, '/');
	if (slash)
		snprintf(slash, sizeof(fixdir) - (size_t)(slash - fixdir), "/fixtures/%s", sub);
	else
		snprintf(fixdir, sizeof(fixdir), "fixtures/%s", sub);
}

/* The fixture file fixdir/name, as slurp. */
static inline char *fixture(const char *name, size_t *len)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/%s", fixdir, name);
	return slurp(p, len);
}

/* Entries of collection coll in s. */
static inline size_t coll_n(struct store *s, const char *coll)
{
	const struct state *st = store_read_begin(s);
	const struct map *m = state_coll(st, coll);
	size_t n = m ? map_count(m) : 0;
	store_read_end(s);
	return n;
}

/* Vectors in s. */
static inline size_t vec_n(struct store *s)
{
	const struct state *st = store_read_begin(s);
	size_t n = vecindex_count(state_vectors(st));
	store_read_end(s);
	return n;
}

#endif
