/* Unit tests: store/store*.c on a local backend in a temp dir - ingest,
 * query, rename, delete, refused input, remount, crash recovery (journal
 * replay), compaction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "store/store.h"
#include "store/vecindex.h"
#include "tests/storetest.h"
#include "tests/tap.h"

static char dir[64];

static struct store *open_store(void)
{
	struct store *s = NULL;
	char err[512];
	struct store_opts o = { .store = dir, .dim = 384, .chunk_size = 40, .chunk_overlap = 8,
				.top_k = 3 };
	if (store_open(&o, &s, err, sizeof(err)))
		diag("store_open: %s", err);
	return s;
}

/* The ref_doc_id of the best hit for text, malloc'd ("" if none). */
static char *best_doc(struct store *s, const char *text)
{
	struct buf out = BUF_INIT;
	store_query(s, "q", text, strlen(text), 0, &out);
	cJSON *r = cJSON_Parse(out.data);
	cJSON *hits = cJSON_GetObjectItem(r, "results");
	cJSON *first = cJSON_GetArrayItem(hits, 0);
	cJSON *ref = cJSON_GetObjectItem(first, "ref_doc_id");
	char *doc = strdup(cJSON_IsString(ref) ? ref->valuestring : "");
	cJSON_Delete(r);
	buf_release(&out);
	return doc;
}

static int best_is(struct store *s, const char *text, const char *want)
{
	char *d = best_doc(s, text);
	int okk = !strcmp(d, want);
	if (!okk)
		diag("best for \"%s\": \"%s\", want \"%s\"", text, d, want);
	free(d);
	return okk;
}

static const char *docs[][2] = {
	{ "astro/planets.txt", "Jupiter is the largest planet. Saturn has rings of ice. "
			       "Mars is red and dusty. Venus is hot." },
	{ "cook/bread.md", "# Bread\n\nKnead the dough with flour, water, yeast and salt. "
			   "Let the dough rise, then bake the loaf in a hot oven." },
	{ "code/c.txt", "A pointer holds an address. Dereference the pointer with an "
			"asterisk. Free what malloc returned." },
};

static void write_docs(struct store *s)
{
	for (size_t i = 0; i < 3; i++)
		store_doc_write(s, docs[i][0], docs[i][1], strlen(docs[i][1]), 0, 0);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ragfs-store-XXXXXX");
	if (!mkdtemp(dir))
		tap_skip_all("no temp dir");
	struct store *s = open_store();
	ok(s != NULL, "open a new store");
	if (!s)
		return tap_done();
	write_docs(s);
	is_int(coll_n(s, COLL_DOCS), 3, "three docs stored");
	ok(coll_n(s, COLL_NODES) >= 3, "nodes made");
	is_int(vec_n(s), coll_n(s, COLL_NODES), "one vector per node");
	ok(best_is(s, "dough yeast oven", "cook/bread.md"), "query finds the bread doc");
	ok(best_is(s, "pointer malloc", "code/c.txt"), "query finds the C doc");
	ok(best_is(s, "Saturn rings", "astro/planets.txt"), "query finds the planets doc");

	size_t nodes = coll_n(s, COLL_NODES);
	ok(store_doc_write(s, docs[0][0], docs[0][1], strlen(docs[0][1]), 0, 0) == 0 &&
	   coll_n(s, COLL_NODES) == nodes, "unchanged rewrite keeps the nodes");

	ok(store_doc_rename(s, "cook/bread.md", "baking/bread.md") == 0, "rename a doc");
	ok(best_is(s, "dough yeast oven", "baking/bread.md"), "query sees the new doc id");
	is_int(vec_n(s), nodes, "rename keeps the vectors");

	ok(store_doc_delete(s, "code/c.txt") == 0, "delete a doc");
	ok(coll_n(s, COLL_NODES) < nodes && vec_n(s) == coll_n(s, COLL_NODES),
	   "delete removes its nodes and vectors");
	is_int(store_doc_delete(s, "code/c.txt"), -ENOENT, "delete of a missing doc: -ENOENT");

	/* Refused input changes nothing and is logged. */
	unsigned long errs = errlog_count(store_errlog(s), NULL, 0);
	size_t before = coll_n(s, COLL_NODES);
	is_int(store_node_write(s, "n1", "{bad", 4), -EINVAL, "invalid node JSON: -EINVAL");
	is_int(store_node_write(s, "n1", "[1]", 3), -EINVAL, "non-object node: -EINVAL");
	const char *mism = "{\"id_\": \"other\", \"text\": \"x\"}";
	is_int(store_node_write(s, "n1", mism, strlen(mism)), -EINVAL, "id mismatch: -EINVAL");
	float bad[384] = { 0 };
	is_int(store_vector_write(s, "v", bad, 10), -EINVAL, "wrong vector size: -EINVAL");
	bad[3] = 0.0f / 0.0f;
	is_int(store_vector_write(s, "v", bad, sizeof(bad)), -EINVAL, "NaN vector: -EINVAL");
	is_int(coll_n(s, COLL_NODES), before, "refused writes changed nothing");
	is_int(errlog_count(store_errlog(s), NULL, 0), errs + 5, "each refusal logged once");

	/* A node with its own embedding. */
	char node[4096];
	int len = snprintf(node, sizeof(node), "{\"id_\": \"mine\", \"text\": \"custom\", "
					       "\"embedding\": [");
	for (int i = 0; i < 384; i++)
		len += snprintf(node + len, sizeof(node) - (size_t)len, "%s%d", i ? "," : "", i == 5);
	len += snprintf(node + len, sizeof(node) - (size_t)len, "]}");
	ok(store_node_write(s, "mine", node, (size_t)len) == 0, "node with an embedding");
	is_int(vec_n(s), coll_n(s, COLL_NODES), "its vector was stored");

	/* Remount: the same state. */
	size_t n_nodes = coll_n(s, COLL_NODES), n_docs = coll_n(s, COLL_DOCS);
	ok(store_close(s) == 0, "close flushes");
	s = open_store();
	ok(s && coll_n(s, COLL_NODES) == n_nodes && coll_n(s, COLL_DOCS) == n_docs,
	   "remount restores docs and nodes");
	ok(best_is(s, "dough yeast oven", "baking/bread.md"), "remount: queries work");
	store_close(s);

	/* Crash: a child writes and dies without closing; the journal replays. */
	pid_t pid = fork();
	if (pid == 0) {
		struct store *c = open_store();
		const char *t = "Penguins waddle across the Antarctic ice in winter.";
		store_doc_write(c, "birds/penguin.txt", t, strlen(t), 0, 0);
		_exit(c ? 0 : 1);
	}
	int wst;
	waitpid(pid, &wst, 0);
	s = open_store();
	ok(s && coll_n(s, COLL_DOCS) == n_docs + 1, "after a crash the journal replays the doc");
	ok(best_is(s, "penguins antarctic", "birds/penguin.txt"), "replayed doc is queryable");

	/* Many flushes compact the segments; state survives. */
	for (int i = 0; i < 20; i++) {
		char p[32], t[64];
		snprintf(p, sizeof(p), "many/%d.txt", i);
		snprintf(t, sizeof(t), "document number %d about topic%d", i, i);
		store_doc_write(s, p, t, strlen(t), 0, 0);
		store_sync(s);
	}
	struct buf st = BUF_INIT;
	store_render_status(s, &st);
	cJSON *js = cJSON_Parse(st.data);
	ok(cJSON_GetObjectItem(js, "segments")->valuedouble <= 17, "segments were compacted");
	cJSON_Delete(js);
	buf_release(&st);
	n_docs = coll_n(s, COLL_DOCS);
	store_close(s);
	s = open_store();
	ok(s && coll_n(s, COLL_DOCS) == n_docs, "compacted store reopens whole");
	ok(best_is(s, "topic17", "many/17.txt"), "compacted store answers queries");
	store_close(s);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		diag("cleanup failed");
	return tap_done();
}
