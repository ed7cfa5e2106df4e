/* Unit tests: re-embedding a store whose vectors were made by another
 * embedder (store/store_reembed.c, the ragfs.embedder records in state.c).
 * A gate embedder (the real hash embedder behind a switch that lets N calls
 * through, then blocks or fails) holds a re-embedding half way, so the test
 * can look at the store meanwhile: the old vectors answer queries with the
 * old dim, writes of the new dim are refused, the progress is in
 * status.json; then the switch, a resume after remount (also from a
 * compacted snapshot), no work on a remount with the same settings, a
 * cancel, and BM25 for text queries when the old embedder cannot be built.
 *
 * Remounts need a backend that outlives a store_open, so this runs on the
 * local backend in a temp dir (the mem backend is new for every open). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "store/embed.h"
#include "store/store.h"
#include "store/vecindex.h"
#include "tests/tap.h"

#define NDOCS 12

struct gate {
	struct embedder base;
	struct embedder *inner;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int allow; /* calls let through before blocking; -1: all */
	int fail;  /* 1: every call fails with -EIO (also releases the blocked) */
	int calls, blocked;
};

static int gate_embed(struct embedder *e, const char *const *t, const size_t *l, size_t n,
		      float *out)
{
	struct gate *g = (struct gate *)e;
	pthread_mutex_lock(&g->lock);
	while (!g->fail && g->allow == 0) {
		g->blocked = 1;
		pthread_cond_wait(&g->cond, &g->lock);
	}
	g->blocked = 0;
	int fail = g->fail;
	if (!fail && g->allow > 0)
		g->allow--;
	g->calls++;
	pthread_mutex_unlock(&g->lock);
	return fail ? -EIO : embedder_embed(g->inner, t, l, n, out);
}

static void gate_free(struct embedder *e)
{
	struct gate *g = (struct gate *)e;
	embedder_free(g->inner);
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
	free(g);
}

static const struct embedder_ops gate_ops = { gate_embed, gate_free };

/* A remote-style embedder (batches of 64 in the background) named name
 * whose vectors are exactly the hash embedder's of dim. */
static struct gate *gate_new(const char *name, uint32_t dim, int allow)
{
	struct gate *g = calloc(1, sizeof(*g));
	embed_hash_new(dim, &g->inner);
	g->base = (struct embedder){ &gate_ops, dim, name, 1 };
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->allow = allow;
	return g;
}

static void gate_set(struct gate *g, int allow, int fail)
{
	pthread_mutex_lock(&g->lock);
	g->allow = allow;
	g->fail = fail;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static char dir[64], dir2[64], dir3[64];

static struct store *open_opts(const char *path, const char *embed, uint32_t dim,
			       struct gate *g)
{
	struct store *s = NULL;
	char err[512];
	struct store_opts o = { .store = path, .embed = embed, .dim = dim, .chunk_size = 20,
				.chunk_overlap = 2, .top_k = 3,
				.embedder = g ? &g->base : NULL };
	if (store_open(&o, &s, err, sizeof(err))) {
		diag("store_open: %s", err);
		return NULL;
	}
	store_start(s);
	return s;
}

static cJSON *status(struct store *s)
{
	struct buf b = BUF_INIT;
	store_render_status(s, &b);
	cJSON *j = cJSON_Parse(b.data);
	buf_release(&b);
	return j;
}

/* status.json's reembed.<key> as a number (-1: absent), or its state. */
static double re_num(struct store *s, const char *key)
{
	cJSON *j = status(s);
	const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "reembed"), key);
	double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
	cJSON_Delete(j);
	return d;
}

static char *re_str(struct store *s, const char *key)
{
	cJSON *j = status(s);
	const cJSON *r = cJSON_GetObjectItem(j, "reembed");
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(r, key));
	char *out = strdup(cJSON_IsNull(r) ? "null" : v ? v : "?");
	cJSON_Delete(j);
	return out;
}

static int re_is(struct store *s, const char *key, const char *want)
{
	char *v = re_str(s, key);
	int same = !strcmp(v, want);
	if (!same)
		diag("reembed.%s = %s, want %s", key, v, want);
	free(v);
	return same;
}

static int wait_done(struct store *s, int seconds)
{
	for (int i = 0; i < seconds * 20; i++) {
		char *st = re_str(s, "state");
		int done = !strcmp(st, "done");
		free(st);
		if (done)
			return 1;
		usleep(50000);
	}
	return 0;
}

static int wait_num(struct store *s, const char *key, double want, int seconds)
{
	for (int i = 0; i < seconds * 20; i++) {
		if (re_num(s, key) == want)
			return 1;
		usleep(50000);
	}
	diag("reembed.%s = %g, want %g", key, re_num(s, key), want);
	return 0;
}

/* The first hit of a query: its doc and the mode the result reports. */
static int best_is(struct store *s, const char *q, const char *doc, const char *mode)
{
	struct buf b = BUF_INIT;
	store_query(s, "q", q, strlen(q), 0, &b);
	cJSON *j = cJSON_Parse(b.data);
	const cJSON *hit = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "results"), 0);
	const char *got = cJSON_GetStringValue(cJSON_GetObjectItem(hit, "ref_doc_id"));
	const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(j, "mode"));
	int okk = got && !strcmp(got, doc) && m && !strcmp(m, mode);
	if (!okk)
		diag("query %s: %.300s", q, b.data ? b.data : "(nothing)");
	cJSON_Delete(j);
	buf_release(&b);
	return okk;
}

struct counts {
	size_t nodes, vectors, next;
	uint32_t dim;
};

static struct counts counts(struct store *s)
{
	const struct state *st = store_read_begin(s);
	const struct map *c = state_coll(st, COLL_NODES);
	struct vecindex *next = state_next_vectors(st);
	struct counts n = { c ? map_count(c) : 0, vecindex_count(state_vectors(st)),
			    next ? vecindex_count(next) : 0, state_dim(st) };
	store_read_end(s);
	return n;
}

static const char *topics[NDOCS + 3] = {
	"glaciers ice valleys moraine", "volcanoes lava magma crust",
	"sourdough bread starter flour", "senate elections rome consuls",
	"otters rivers whiskers fish", "telescopes galaxies nebula stars",
	"bicycles gears chains saddles", "violins strings bows orchestra",
	"tomatoes gardens compost seedlings", "submarines sonar periscope depth",
	"chess openings gambits endgames", "beekeeping hives honey queens",
	"kites wind tails spools", "lighthouses keepers lamps coast",
	"cartography maps compass atlas",
};

/* n documents <prefix><i>.txt on topics first, first + 1, ... */
static void write_docs(struct store *s, const char *prefix, int n, int first)
{
	for (int i = 0; i < n; i++) {
		char path[64], text[2048];
		size_t off = 0;
		snprintf(path, sizeof(path), "%s%d.txt", prefix, i);
		for (int k = 0; k < 9; k++)
			off += (size_t)snprintf(text + off, sizeof(text) - off,
						"Sentence %d of this note is about %s, nothing "
						"else at all here. ", k, topics[first + i]);
		store_doc_write(s, path, text, off, 0, 0);
	}
}

static void rm_rf(const char *d)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d);
	if (system(cmd))
		diag("cleanup of %s failed", d);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ragfs-reembed-XXXXXX");
	snprintf(dir2, sizeof(dir2), "/tmp/ragfs-reembed2-XXXXXX");
	snprintf(dir3, sizeof(dir3), "/tmp/ragfs-reembed3-XXXXXX");
	if (!mkdtemp(dir) || !mkdtemp(dir2) || !mkdtemp(dir3))
		tap_skip_all("no temp dir");

	/* A store made with hash, dim 64. */
	struct store *s = open_opts(dir, "hash", 64, NULL);
	ok(s != NULL, "a new store with embed=hash dim=64");
	write_docs(s, "d", NDOCS, 0);
	struct counts c0 = counts(s);
	ok(c0.nodes > 64 && c0.vectors == c0.nodes && c0.dim == 64,
	   "%zu nodes, all with 64-d vectors (more than one batch of 64)", c0.nodes);
	ok(re_is(s, "state", "null"), "no re-embedding on a new store");
	store_close(s);

	/* Remount asking for dim 32: one batch goes through, then the
	 * embedder blocks: the store is half re-embedded. */
	struct gate *g = gate_new("hash", 32, 1);
	s = open_opts(dir, "hash", 32, g);
	ok(s != NULL, "remount with dim=32 (a different dim) opens");
	ok(wait_num(s, "done", 64, 20), "one batch of 64 nodes is re-embedded");
	ok(re_is(s, "state", "running"), "status.json: reembed.state running");
	ok(re_is(s, "from", "embed=hash dim=64") && re_is(s, "to", "embed=hash dim=32"),
	   "status.json: from and to");
	is_int(re_num(s, "queued"), c0.nodes - 64, "status.json: the rest is queued");
	ok(re_is(s, "queries", "old vectors"), "status.json: queries use the old vectors");
	is_int(store_dim(s), 64, "the store's dim is still 64");
	ok(best_is(s, "volcanoes magma", "d1.txt", "default"),
	   "a query meanwhile is answered from the old vectors");
	float v64[64] = { 1 }, v32[32] = { 1 };
	is_int(store_vector_write(s, "bare", v32, sizeof(v32)), -EINVAL,
	       "a vector of the new dim is refused meanwhile (EINVAL)");
	is_int(store_vector_write(s, "bare", v64, sizeof(v64)), 0,
	       "a vector of the old dim is accepted");
	write_docs(s, "late", 2, NDOCS); /* ingested meanwhile: old vectors at once */
	ok(best_is(s, "kites spools", "late0.txt", "default") &&
	   counts(s).vectors == counts(s).nodes + 1,
	   "a document written meanwhile gets old-dim vectors at once");
	/* Compact while half done: the snapshot must keep both sets. */
	store_kv_mkcoll(s, "c");
	for (int i = 0; i < 18; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%d", i);
		store_kv_write(s, "c", key, "{\"a\": 1}", 8);
		store_sync(s);
	}
	struct buf b = BUF_INIT;
	store_render_stats(s, &b);
	ok(b.data && !strstr(b.data, "\"compactions\": 0"), "the store compacted meanwhile");
	buf_release(&b);
	gate_set(g, 0, 1); /* let the blocked call fail, so close can stop it */
	store_close(s);

	/* Remount with the same settings: it resumes from what was made. */
	g = gate_new("hash", 32, 0);
	s = open_opts(dir, "hash", 32, g);
	ok(s != NULL, "remount with dim=32 again");
	struct counts c1 = counts(s);
	is_int(c1.next, 64, "the 64 re-embedded vectors survived (from the compacted segment)");
	is_int(c1.dim, 64, "the old vectors still serve");
	ok(best_is(s, "telescopes nebula", "d5.txt", "default"), "and answer queries");
	gate_set(g, -1, 0);
	ok(wait_done(s, 30), "re-embedding finishes");
	struct counts c2 = counts(s);
	ok(c2.dim == 32 && store_dim(s) == 32 && c2.next == 0, "the store switched to dim 32");
	is_int(c2.vectors, c2.nodes, "every node has a 32-d vector (the bare vector is gone)");
	is_int(re_num(s, "embedded_this_mount"), c2.nodes - 64,
	       "only the nodes without one were embedded after the remount");
	ok(re_is(s, "queries", "new vectors"), "status.json: queries use the new vectors");
	ok(best_is(s, "volcanoes magma", "d1.txt", "default") &&
	   best_is(s, "beekeeping honey", "d11.txt", "default"),
	   "queries find the same documents with the new vectors");
	write_docs(s, "after", 1, NDOCS + 2);
	int embedded = 0; /* the new embedder is remote-style: in the background */
	for (int i = 0; i < 200 && !embedded; i++, usleep(50000))
		embedded = counts(s).vectors == counts(s).nodes;
	ok(embedded && best_is(s, "cartography compass", "after0.txt", "default"),
	   "a document written after the switch is embedded by the new embedder");
	store_close(s);

	/* The same settings again (the built-in hash of dim 32): nothing to do. */
	s = open_opts(dir, "hash", 32, NULL);
	ok(s && re_is(s, "state", "null"), "a remount with the same settings does not re-embed");
	ok(s && counts(s).dim == 32 && best_is(s, "chess gambits", "d10.txt", "default"),
	   "and queries the 32-d vectors");
	store_close(s);
	/* Leaving embed and dim out keeps the store's. */
	s = open_opts(dir, NULL, 0, NULL);
	ok(s && re_is(s, "state", "null") && store_dim(s) == 32,
	   "a remount without embed or dim keeps the store's embedder");
	store_close(s);

	/* Start another re-embedding, then remount with the store's own
	 * settings: it is cancelled, the target set dropped. */
	g = gate_new("hash", 16, 0);
	s = open_opts(dir, "hash", 16, g);
	char *st = s ? re_str(s, "state") : strdup("?");
	ok(!strcmp(st, "running") || !strcmp(st, "starting"), "dim=16: re-embedding starts (%s)", st);
	free(st);
	gate_set(g, 0, 1);
	store_close(s);
	s = open_opts(dir, "hash", 32, NULL);
	ok(s && re_is(s, "state", "null") && counts(s).dim == 32,
	   "remounting with the vectors' own settings cancels it");
	store_close(s);
	s = open_opts(dir, "hash", 32, NULL);
	ok(s && !counts(s).next, "and the target set is gone for good");
	store_close(s);

	/* Vectors made by an embedder this build cannot make: while
	 * re-embedding, text queries run as BM25 (and say so). */
	g = gate_new("custom", 24, -1);
	s = open_opts(dir2, NULL, 24, g);
	ok(s != NULL, "a store made with an injected embedder \"custom\"");
	write_docs(s, "x", 4, 0);
	store_close(s);
	g = gate_new("hash", 24, 0);
	s = open_opts(dir2, "hash", 24, g);
	ok(s && re_is(s, "queries", "text (BM25): no embedder for the old vectors"),
	   "status.json: without the old embedder, queries use BM25");
	ok(best_is(s, "sourdough starter", "x2.txt", "text") &&
	   best_is(s, "senate consuls", "x3.txt", "text"),
	   "a text query is answered by BM25 (mode text)");
	ok(errlog_count(store_errlog(s), NULL, 0) >= 1, "errors.log says why");
	gate_set(g, -1, 0);
	ok(wait_done(s, 30) && best_is(s, "sourdough starter", "x2.txt", "default"),
	   "after the switch, vector queries again");
	store_close(s);

	/* An empty store takes another dim at once: nothing to re-embed. */
	s = open_opts(dir3, "hash", 64, NULL);
	store_close(s);
	s = open_opts(dir3, "hash", 40, NULL);
	ok(s && store_dim(s) == 40 && re_is(s, "state", "null"),
	   "an empty store remounted with dim=40 has dim 40 at once");
	write_docs(s, "e", 2, 0);
	ok(s && counts(s).vectors == counts(s).nodes && counts(s).dim == 40,
	   "and its documents get 40-d vectors");
	store_close(s);
	char mpath[128], mbuf[4096] = "";
	snprintf(mpath, sizeof(mpath), "%s/manifest.json", dir3);
	FILE *mf = fopen(mpath, "r");
	if (mf) {
		mbuf[fread(mbuf, 1, sizeof(mbuf) - 1, mf)] = '\0';
		fclose(mf);
	}
	ok(strstr(mbuf, "\"dim\": 40") != NULL, "the manifest says dim 40");
	s = open_opts(dir3, NULL, 0, NULL);
	ok(s && store_dim(s) == 40 && best_is(s, "volcanoes magma", "e1.txt", "default"),
	   "a remount keeps dim 40");
	store_close(s);

	/* A read-only mount cannot re-embed: a clear error. */
	struct store *ro = NULL;
	char err[512] = "";
	struct store_opts o = { .store = dir, .embed = "hash", .dim = 48, .read_only = 1 };
	int rc = store_open(&o, &ro, err, sizeof(err));
	ok(rc == -EROFS && strstr(err, "read-only") && strstr(err, "dim=48"),
	   "a read-only mount with another dim: EROFS (%s)", err);

	rm_rf(dir);
	rm_rf(dir2);
	rm_rf(dir3);
	return tap_done();
}
