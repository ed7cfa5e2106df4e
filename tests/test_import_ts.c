/* Unit tests: store_import_persist_ts (store/store_import.c) - the
 * LlamaIndex.TS fixture in tests/fixtures/persist/ts/ imported into a store,
 * then re-exported as persist-ts/: every node, metadata entry, ref-doc entry
 * and vector comes back byte for byte; repeating an import changes nothing;
 * a partial file deletes nothing; bad files are refused and change nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/map.h"
#include "store/persist.h"
#include "store/pyjson.h"
#include "store/state.h"
#include "store/store.h"
#include "tests/storetest.h"
#include "tests/tap.h"

static char dir[64];
/* The span at path a/b (b may be NULL) of JSON text t. */
static int span2(const char *t, size_t n, const char *a, const char *b, const char **v,
		 size_t *vl)
{
	if (json_text_member(t, n, a, v, vl))
		return -ENOENT;
	return b ? json_text_member(*v, *vl, b, v, vl) : 0;
}

/* Every member of the object want[0..wl) appears byte for byte in got. */
struct same_ctx {
	const char *got;
	size_t glen;
	size_t n, same;
	const char *bad;
};

static int same_member(void *ctx, const char *key, const char *val, size_t len)
{
	struct same_ctx *c = ctx;
	const char *g;
	size_t gl;
	c->n++;
	if (!json_text_member(c->got, c->glen, key, &g, &gl) && gl == len && !memcmp(g, val, len))
		c->same++;
	else if (!c->bad)
		diag("differs: \"%s\"\n#   want %.300s\n#   got  %.300s", key, val,
		     json_text_member(c->got, c->glen, key, &g, &gl) ? "(none)" : g);
	if (!c->bad && c->same != c->n)
		c->bad = "x";
	return 0;
}

static void same_objects(const char *want, size_t wl, const char *wa, const char *wb,
			 const char *got, size_t gl, const char *ga, const char *gb,
			 size_t expect, const char *what)
{
	const char *w, *g;
	size_t wn, gn;
	struct same_ctx c = { 0 };
	if (span2(want, wl, wa, wb, &w, &wn) || span2(got, gl, ga, gb, &g, &gn)) {
		ok(0, "%s: found in both files", what);
		return;
	}
	c.got = g;
	c.glen = gn;
	json_text_members(w, wn, same_member, &c);
	ok(c.n == expect && c.same == c.n, "%s: %zu of %zu objects byte-identical (want %zu)",
	   what, c.same, c.n, expect);
}

int main(void)
{
	fixture_dir("persist/ts");
	size_t dl, il, vl;
	char *ds = fixture("doc_store.json", &dl), *is = fixture("index_store.json", &il),
	     *vs = fixture("vector_store.json", &vl);
	if (!ds || !is || !vs)
		tap_skip_all("fixtures not found");
	snprintf(dir, sizeof(dir), "/tmp/ragfs-import-ts-XXXXXX");
	if (!mkdtemp(dir))
		tap_skip_all("no temp dir");
	struct store *s = NULL;
	char err[512];
	struct store_opts o = { .store = dir, .embed = "none", .dim = 64 };
	if (store_open(&o, &s, err, sizeof(err)))
		diag("store_open: %s", err);
	ok(s != NULL, "open a new store (dim 64, no embedder)");
	if (!s)
		return tap_done();

	is_int(store_import_persist_ts(s, "doc_store.json", ds, dl), 0, "import doc_store.json");
	is_int(store_import_persist_ts(s, "index_store.json", is, il), 0,
	       "import index_store.json");
	is_int(store_import_persist_ts(s, "vector_store.json", vs, vl), 0,
	       "import vector_store.json");
	is_int(coll_n(s, COLL_NODES), 12, "12 nodes");
	is_int(vec_n(s), 12, "12 vectors");
	is_int(coll_n(s, COLL_DOCMETA), 15, "15 docstore/metadata entries (3 docs + 12 nodes)");
	is_int(coll_n(s, COLL_REFDOC), 3, "3 ref_doc_info entries");
	is_int(coll_n(s, COLL_INDEX), 0, "the simple_dict struct is the store's default one");

	/* the Python shape ragfs keeps */
	{
		const struct state *st = store_read_begin(s);
		const struct entry *e = state_get(st, COLL_NODES, "doc-cats-n1");
		cJSON *j = e ? cJSON_Parse(e->val) : NULL;
		const cJSON *r = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "relationships"), "2");
		ok(j && !strcmp(cJSON_GetObjectItem(j, "class_name")->valuestring, "TextNode") &&
			   cJSON_IsNull(cJSON_GetObjectItem(j, "start_char_idx")) == 0 &&
			   !strcmp(cJSON_GetObjectItem(r, "node_id")->valuestring, "doc-cats-n0") &&
			   !strcmp(cJSON_GetObjectItem(r, "node_type")->valuestring, "1") &&
			   !strcmp(cJSON_GetObjectItem(r, "hash")->valuestring,
				   "8Nes97ChDVvXKZvFx2u7zMdCcXiznx1Z1KjP3QO/TQU="),
		   "a node is stored Python-shaped (class_name, relationships \"2\" with the TS "
		   "hash kept)");
		cJSON_Delete(j);
		e = state_get(st, COLL_DOCMETA, "doc-cats-n0");
		ok(e && strstr(e->val, "\"doc_hash\":\"LHjl1zhO") &&
			   strstr(e->val, "\"ref_doc_id\":\"doc-cats\""),
		   "docstore/metadata as {doc_hash, ref_doc_id}");
		e = state_get(st, COLL_REFDOC, "doc-fuse");
		ok(e && !strcmp(e->val, "{\"node_ids\":[\"doc-fuse-n0\",\"doc-fuse-n1\","
					"\"doc-fuse-n2\"],\"metadata\":{}}"),
		   "ref_doc_info as {node_ids, metadata}");
		store_read_end(s);
	}

	/* re-export: the same objects */
	struct buf out = BUF_INIT, again = BUF_INIT;
	is_int(render(s, PERSIST_TS_DOCSTORE, &out), 0, "render doc_store.json");
	same_objects(ds, dl, "docstore/data", NULL, out.data, out.len, "docstore/data", NULL, 12,
		     "docstore/data");
	same_objects(ds, dl, "docstore/metadata", NULL, out.data, out.len, "docstore/metadata",
		     NULL, 15, "docstore/metadata");
	same_objects(ds, dl, "docstore/ref_doc_info", NULL, out.data, out.len,
		     "docstore/ref_doc_info", NULL, 3, "docstore/ref_doc_info");
	ok(out.len == dl, "whole doc_store.json: same size (%zu vs %zu), only key order differs",
	   out.len, dl);
	is_int(render(s, PERSIST_TS_INDEX, &out), 0, "render index_store.json");
	const char *idx = store_index_id(s), *nd, *wd;
	size_t ndl, wdl;
	if (!span2(out.data, out.len, "docstore/data", idx, &nd, &ndl) &&
	    !span2(is, il, "docstore/data", "fixture-index", &wd, &wdl))
		same_objects(wd, wdl, "nodesDict", NULL, nd, ndl, "nodesDict", NULL, 12,
			     "index_store nodesDict");
	else
		ok(0, "index_store has the default struct");
	is_int(render(s, PERSIST_TS_VECTORS, &out), 0, "render vector_store.json");
	same_objects(vs, vl, "embeddingDict", NULL, out.data, out.len, "embeddingDict", NULL, 12,
		     "embeddingDict");
	same_objects(vs, vl, "textIdToRefDocId", NULL, out.data, out.len, "textIdToRefDocId",
		     NULL, 12, "textIdToRefDocId");
	same_objects(vs, vl, "metadataDict", NULL, out.data, out.len, "metadataDict", NULL, 12,
		     "metadataDict");

	/* idempotent: TS rewrites whole files after each put */
	render(s, PERSIST_TS_DOCSTORE, &out);
	for (int i = 0; i < 3; i++)
		store_import_persist_ts(s, "doc_store.json", ds, dl);
	store_import_persist_ts(s, "vector_store.json", vs, vl);
	render(s, PERSIST_TS_DOCSTORE, &again);
	ok(out.len == again.len && !memcmp(out.data, again.data, out.len) &&
		   coll_n(s, COLL_NODES) == 12 && vec_n(s) == 12,
	   "importing the same files again changes nothing");

	/* a file with less deletes nothing */
	const char *one = "{\"docstore/data\":{},\"docstore/metadata\":{},"
			  "\"docstore/ref_doc_info\":{}}";
	is_int(store_import_persist_ts(s, "doc_store.json", one, strlen(one)), 0,
	       "an empty TS docstore imports");
	is_int(coll_n(s, COLL_NODES), 12, "and deletes nothing");

	/* refusals change nothing */
	const char *bad[][2] = {
		{ "doc_store.json", "{\"docstore/data\": {\"x\": " },
		{ "doc_store.json", "{\"docstore/data\": {\"x\": {\"__data__\": \"{not json\"}}}" },
		{ "doc_store.json",
		  "{\"docstore/data\": {\"x\": {\"__data__\": \"{\\\"type\\\":\\\"WHAT\\\"}\"}}}" },
		{ "vector_store.json", "{\"embeddingDict\": {\"x\": [1, 2]}}" },
		{ "docstore.json", "{}" },
		{ "doc_store.json", "{\"ragfs.docs\": {}}" },
	};
	const int want_rc[] = { -EINVAL, -EINVAL, -EINVAL, -EINVAL, -ENOTSUP, -EINVAL };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(store_import_persist_ts(s, bad[i][0], bad[i][1], strlen(bad[i][1])),
		       want_rc[i], bad[i][1]);
	render(s, PERSIST_TS_DOCSTORE, &again);
	ok(coll_n(s, COLL_NODES) == 12 && vec_n(s) == 12 && out.len == again.len &&
		   !memcmp(out.data, again.data, out.len),
	   "refused imports change nothing");

	/* a list struct is kept verbatim */
	const char *lst = "{\"docstore/data\":{\"my-list\":{\"indexId\":\"my-list\","
			  "\"nodes\":[\"doc-cats-n0\"],\"type\":\"list\"}}}";
	is_int(store_import_persist_ts(s, "index_store.json", lst, strlen(lst)), 0,
	       "a list index struct imports");
	render(s, PERSIST_TS_INDEX, &out);
	ok(out.data && strstr(out.data, "\"my-list\":{\"indexId\":\"my-list\",\"nodes\":"
					"[\"doc-cats-n0\"],\"type\":\"list\"}"),
	   "and re-exports verbatim");

	buf_release(&out);
	buf_release(&again);
	store_close(s);
	free(ds);
	free(is);
	free(vs);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		diag("cleanup of %s failed", dir);
	return tap_done();
}
