/* Unit tests: background embedding with a remote embedder that fails, then
 * recovers - nothing is lost, status shows the pending work, and a restart
 * picks up nodes that never got a vector. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "store/embed.h"
#include "store/store.h"
#include "store/vecindex.h"
#include "tests/tap.h"

#define DIM 64

/* A "remote" embedder: the hash embedder behind a switchable failure. */
struct flaky {
	struct embedder base;
	struct embedder *inner;
	int fail_left; /* calls to fail; -1 = fail forever */
	int calls;
};

static int flaky_embed(struct embedder *e, const char *const *t, const size_t *l, size_t n,
		       float *out)
{
	struct flaky *f = (struct flaky *)e;
	__atomic_add_fetch(&f->calls, 1, __ATOMIC_RELAXED);
	if (f->fail_left) {
		if (f->fail_left > 0)
			f->fail_left--;
		return -EIO;
	}
	return embedder_embed(f->inner, t, l, n, out);
}

static void flaky_free(struct embedder *e)
{
	struct flaky *f = (struct flaky *)e;
	embedder_free(f->inner);
	free(f);
}

static const struct embedder_ops flaky_ops = { flaky_embed, flaky_free };

static struct flaky *flaky_new(int fail)
{
	struct flaky *f = calloc(1, sizeof(*f));
	embed_hash_new(DIM, &f->inner);
	f->base = (struct embedder){ &flaky_ops, DIM, "flaky", 1 };
	f->fail_left = fail;
	return f;
}

static char dir[64];

static struct store *open_with(struct flaky *f)
{
	struct store *s = NULL;
	char err[300];
	struct store_opts o = { .store = dir, .dim = DIM, .embedder = &f->base, .chunk_size = 30,
				.chunk_overlap = 5 };
	if (store_open(&o, &s, err, sizeof(err)))
		diag("open: %s", err);
	else
		store_start(s);
	return s;
}

static double status_num(struct store *s, const char *key)
{
	struct buf b = BUF_INIT;
	store_render_status(s, &b);
	cJSON *j = cJSON_Parse(b.data);
	double v = cJSON_GetObjectItem(j, key) ? cJSON_GetObjectItem(j, key)->valuedouble : -1;
	cJSON_Delete(j);
	buf_release(&b);
	return v;
}

static size_t counts(struct store *s, size_t *nodes)
{
	const struct state *st = store_read_begin(s);
	const struct map *c = state_coll(st, COLL_NODES);
	*nodes = c ? map_count(c) : 0;
	size_t v = vecindex_count(state_vectors(st));
	store_read_end(s);
	return v;
}

static int wait_vectors(struct store *s, int seconds)
{
	for (int i = 0; i < seconds * 20; i++) {
		size_t nodes, v = counts(s, &nodes);
		if (nodes && v == nodes && status_num(s, "pending") == 0)
			return 1;
		usleep(50000);
	}
	return 0;
}

static int best_is(struct store *s, const char *q, const char *doc)
{
	struct buf b = BUF_INIT;
	store_query(s, "q", q, strlen(q), 0, &b);
	int okk = b.data && strstr(b.data, doc) != NULL;
	buf_release(&b);
	return okk;
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ragfs-embedbg-XXXXXX");
	if (!mkdtemp(dir))
		tap_skip_all("no temp dir");
	struct flaky *f = flaky_new(3);
	struct store *s = open_with(f);
	ok(s != NULL, "open with a remote embedder");
	const char *t1 = "Glaciers carve valleys slowly. Ice moves downhill under its own weight.";
	ok(store_doc_write(s, "geo/glacier.txt", t1, strlen(t1), 0, 0) == 0,
	   "close() returns while the embedder is failing");
	size_t nodes;
	counts(s, &nodes);
	ok(nodes > 0, "the document's nodes are stored at once");
	ok(wait_vectors(s, 20), "every node gets its vector after the failures");
	ok(f->calls > 3, "failed batches were retried (%d calls)", f->calls);
	ok(best_is(s, "glaciers ice", "geo/glacier.txt"), "the document is queryable by vector");
	ok(errlog_count(store_errlog(s), NULL, 0) >= 3, "each failed batch is in errors.log");

	/* Down for good: the work waits; the status shows it. */
	__atomic_store_n(&f->fail_left, -1, __ATOMIC_RELAXED);
	const char *t2 = "Volcanoes erupt lava and ash when magma rises through the crust.";
	store_doc_write(s, "geo/volcano.txt", t2, strlen(t2), 0, 0);
	usleep(600000);
	ok(status_num(s, "pending") > 0 && status_num(s, "failed") > 0,
	   "status.json shows pending and failed work");
	store_close(s);

	/* A restart with a working embedder finishes the work. */
	f = flaky_new(0);
	s = open_with(f);
	ok(s && wait_vectors(s, 20), "after a restart the pending nodes are embedded");
	ok(best_is(s, "magma lava", "geo/volcano.txt"), "and the document is queryable");
	store_close(s);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		diag("cleanup failed");
	return tap_done();
}
