/* tests/test_regress.c - regression tests for inputs found by the fuzzers in
 * fuzz/ (each input is also kept in fuzz/corpus/<target>/).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../backends/s3_xml.h"
#include "../store/manifest.h"
#include "../store/node.h"
#include "../store/persist.h"
#include "../store/store.h"
#include "storetest.h"
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
		MANIFEST_HEAD "\"version\": 1, \"generation\": 5, \"last_seq\": 0, "
			      "\"store_id\": \"s\", \"index_id\": \"i\", \"dim\": 8, "
			      "\"embed\": \"hash\", \"segments\": [{\"key\": \"seg\xc3\xa9\xf0\x9f\x98\x80\", "
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

/* fuzz_manifest: a segment key holding invalid UTF-8 (a lone 0xb0) parsed,
 * but manifest_render wrote U+FFFD for it, so the manifest written back at
 * the next flush named another object. Strings that would not render back
 * as they are are refused (store/manifest.c get_str). */
static void manifest_invalid_utf8(void)
{
	static const char *const bad[] = { "seg\xb0x", "seg\xc0\xafx" /* overlong */,
					   "seg\xed\xa0\x80" /* surrogate */, "seg\xf4\x90\x80\x80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[512];
		struct manifest m;
		snprintf(json, sizeof(json),
			 MANIFEST_HEAD "\"version\": 1, \"generation\": 5, \"last_seq\": 0, "
				       "\"store_id\": \"s\", \"index_id\": \"i\", \"dim\": 8, "
				       "\"embed\": \"hash\", \"segments\": [{\"key\": \"%s\", "
				       "\"size\": 1, \"first_seq\": 1, \"last_seq\": 1}]}", bad[i]);
		is_int(parse(json, &m), -EBADMSG, "manifest: a key with invalid UTF-8 is refused");
		manifest_clear(&m);
	}
}

/* fuzz_s3xml: LastModified was turned into ns with (int64_t)t * 1000000000,
 * which overflows (UBSan: signed integer overflow) for a year before 1678
 * or after 2261 (backends/s3_xml.c parse_iso8601). Such dates give 0, as an
 * unparsable one does. */
static void s3_list_mtime_out_of_range(void)
{
	static const char *const dates[] = { "1006-05-24T00:00:01.500Z", "9999-12-31T23:59:59Z",
					     "2024-0-23922T:59:59Z" };
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		char xml[256];
		struct s3_list_result r;
		snprintf(xml, sizeof(xml), "<ListBucketResult><Contents><Key>k</Key><Size>1</Size>"
			 "<LastModified>%s</LastModified></Contents></ListBucketResult>", dates[i]);
		ok(s3_xml_parse_list(xml, strlen(xml), &r) == 0 && r.n == 1 &&
			   r.ents[0].mtime_ns == 0,
		   "s3 list: LastModified %s gives mtime 0", dates[i]);
		s3_list_result_free(&r);
	}
	const char *ok_xml = "<ListBucketResult><Contents><Key>k</Key><Size>1</Size><LastModified>"
			     "2261-12-31T23:59:59.250Z</LastModified></Contents></ListBucketResult>";
	struct s3_list_result r;
	ok(s3_xml_parse_list(ok_xml, strlen(ok_xml), &r) == 0 && r.n == 1 &&
		   r.ents[0].mtime_ns == 9214646399250000000LL,
	   "s3 list: LastModified in 2261 still converts");
	s3_list_result_free(&r);
}

/* fuzz_s3xml: a NUL inside a CDATA section was kept, so a Key of
 * "<![CDATA[\0]]>" (refused as text, "&#0;" too) passed the "Key is not
 * empty" check and came back as "", and "a\0b" as "a". CDATA with a NUL is
 * now -EBADMSG like the rest. */
static void s3_cdata_nul(void)
{
	static const char xml[] = "<ListBucketResult><Contents><Key><![CDATA[\0]]></Key>"
				  "<Size>1</Size></Contents></ListBucketResult>";
	static const char tok[] = "<ListBucketResult><IsTruncated>true</IsTruncated>"
				  "<NextContinuationToken><![CDATA[a\0b]]></NextContinuationToken>"
				  "</ListBucketResult>";
	static const char id[] = "<InitiateMultipartUploadResult><UploadId><![CDATA[\0]]>"
				 "</UploadId></InitiateMultipartUploadResult>";
	struct s3_list_result r;
	char *upload = NULL;
	is_int(s3_xml_parse_list(xml, sizeof(xml) - 1, &r), -EBADMSG,
	       "s3 list: a Key of CDATA with a NUL is refused");
	ok(!r.ents && !r.n, "s3 list: and nothing is left allocated");
	is_int(s3_xml_parse_list(tok, sizeof(tok) - 1, &r), -EBADMSG,
	       "s3 list: a continuation token with a NUL is refused");
	is_int(s3_xml_parse_upload_id(id, sizeof(id) - 1, &upload), -EBADMSG,
	       "s3 upload id: CDATA with a NUL is refused");
	ok(!upload, "s3 upload id: none returned");
	const char *fine = "<ListBucketResult><Contents><Key><![CDATA[a<b]]></Key><Size>1</Size>"
			   "</Contents></ListBucketResult>";
	ok(s3_xml_parse_list(fine, strlen(fine), &r) == 0 && r.n == 1 &&
		   !strcmp(r.ents[0].key, "a<b"),
	   "s3 list: CDATA without a NUL still parses");
	s3_list_result_free(&r);
}

/* ---- fuzz_persist: a store on mem: (dim 4, no embedder) ---- */

static char cache[64];

static struct store *open_store(void)
{
	static int n;
	struct store *s = NULL;
	char err[512], dir[96];
	snprintf(dir, sizeof(dir), "%s/%d", cache, n++); /* a new store each time */
	struct store_opts o = { .store = "mem:", .cache_dir = dir, .embed = "none", .dim = 4 };
	if (store_open(&o, &s, err, sizeof(err)))
		diag("store_open: %s", err);
	return s;
}

/* Every persist file renders, and each render imports again. */
static int renders_import_again(struct store *s)
{
	struct buf out[PERSIST_NFILES];
	int bad = 0;
	for (int f = 0; f < PERSIST_NFILES; f++) {
		out[f] = (struct buf)BUF_INIT;
		if (render(s, f, &out[f])) {
			diag("%s does not render", persist_file_name(f));
			bad = 1;
		}
	}
	for (int f = 0; f < PERSIST_NFILES; f++) {
		const char *name = persist_file_name(f);
		int rc = persist_file_is_ts(f)
				 ? store_import_persist_ts(s, name, out[f].data, out[f].len)
				 : store_import_persist(s, name, out[f].data, out[f].len);
		if (rc) {
			diag("%s%s: the render is refused: %d", persist_file_is_ts(f) ? "persist-ts/"
										: "persist/",
			     name, rc);
			bad = 1;
		}
		buf_release(&out[f]);
	}
	return !bad;
}

/* fuzz_persist (an input written for it after reading persist.c; the
 * fuzzer had not reached it in 5 minutes): ts_node walked "relationships"
 * as an object whatever it was; the importer keeps a node's JSON verbatim,
 * so an array got there and its items' names (NULL) went to atoi: a crash
 * (UBSan: null pointer passed as argument 1) on every render of
 * persist-ts/. An array has no relationship names: the TS node gets none. */
static void persist_relationships_array(void)
{
	struct store *s = open_store();
	struct buf out = BUF_INIT;
	const char *doc = "{\"docstore/data\": {\"x\": {\"__data__\": {\"text\": \"a\", "
			  "\"relationships\": [1, {\"node_id\": \"y\"}]}}}}";
	const char *vec = "{\"embedding_dict\": {\"x\": [1, 2, 3, 4]}}";
	if (!ok(s != NULL, "persist: open a store"))
		return;
	is_int(store_import_persist(s, "docstore.json", doc, strlen(doc)), 0,
	       "persist: a node with \"relationships\": [...] imports");
	is_int(store_import_persist(s, "default__vector_store.json", vec, strlen(vec)), 0,
	       "persist: and its vector");
	ok(render(s, PERSIST_TS_DOCSTORE, &out) == 0 && strstr(out.data, "\\\"relationships\\\":{}"),
	   "persist: persist-ts/doc_store.json renders it with no relationships");
	ok(render(s, PERSIST_TS_INDEX, &out) == 0 && strstr(out.data, "\"relationships\":{}"),
	   "persist: persist-ts/index_store.json too");
	ok(renders_import_again(s), "persist: every file renders and imports again");
	buf_release(&out);
	store_close(s);
}

/* fuzz_persist (its render-twice check, on an input written for it):
 * persist.c ts_hash printed endCharIdx from an uninitialised buffer when it
 * was neither a number nor a string (true, an object, an array): the TS
 * hash changed from one render to the next (and could read past the
 * buffer). It is now JS's String() of the value, as TS's template string
 * gives. */
static void persist_end_char_idx_types(void)
{
	static const char *const cases[][2] = {
		{ "true", "LUJewfkTbJfjcSxd4w/Rk0IxehhxEmYzw4zCQUR2770=" },
		{ "[1, {\"a\": true}]", "JbAnlA4gmv72FbbICa7jFhD1qGL76R0AFxC/bZd8+us=" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct store *s = open_store();
		struct buf a = BUF_INIT, b = BUF_INIT;
		char doc[256], want[80];
		if (!ok(s != NULL, "persist: open a store"))
			return;
		snprintf(doc, sizeof(doc), "{\"docstore/data\": {\"x\": {\"__data__\": {\"text\": "
			 "\"a\", \"end_char_idx\": %s}}}}", cases[i][0]);
		snprintf(want, sizeof(want), "\\\"hash\\\":\\\"%s\\\"", cases[i][1]);
		is_int(store_import_persist(s, "docstore.json", doc, strlen(doc)), 0,
		       "persist: a node with a non-number end_char_idx imports");
		ok(render(s, PERSIST_TS_DOCSTORE, &a) == 0 && render(s, PERSIST_TS_DOCSTORE, &b) == 0 &&
			   a.len == b.len && !memcmp(a.data, b.data, a.len),
		   "persist: end_char_idx %s: persist-ts/doc_store.json is the same twice",
		   cases[i][0]);
		ok(a.data && strstr(a.data, want), "persist: end_char_idx %s: TS hash %s",
		   cases[i][0], cases[i][1]);
		if (a.data && !strstr(a.data, want))
			diag("rendered: %s", a.data);
		buf_release(&a);
		buf_release(&b);
		store_close(s);
	}
}

/* A docstore.json (doc_store.json for ts) whose node nests depth levels: the
 * node and a chain of metadata objects. */
static char *deep_node_file(int ts, int depth)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, ts ? "{\"docstore/data\": {\"x\": {\"__data__\": \"{\\\"type\\\": "
			  "\\\"TEXT\\\", \\\"metadata\\\": "
			: "{\"docstore/data\": {\"x\": {\"__data__\": {\"metadata\": ");
	for (int i = 1; i < depth; i++)
		buf_adds(&b, ts ? "{\\\"a\\\": " : "{\"a\": ");
	buf_adds(&b, "1");
	for (int i = 0; i < depth; i++)
		buf_adds(&b, "}");
	buf_adds(&b, ts ? "\"}}}" : "}}}");
	return buf_detach(&b, NULL);
}

/* fuzz_persist (its re-import check, on an input written for it): a node
 * could nest 509 levels in docstore.json and 512 in a TS __data__ string,
 * but persist-ts/index_store.json puts nodes 4 levels down (docstore.json
 * 3), past the 512 levels ragfs's own JSON reader takes, so ragfs wrote
 * files it refused to read back. Nodes may now nest 508 levels. */
static void persist_node_depth(void)
{
	for (int ts = 0; ts < 2; ts++) {
		const char *dir = ts ? "persist-ts" : "persist";
		const char *name = ts ? "doc_store.json" : "docstore.json";
		const char *vname = ts ? "vector_store.json" : "default__vector_store.json";
		const char *vec = ts ? "{\"embeddingDict\": {\"x\": [1, 2, 3, 4]}}"
				     : "{\"embedding_dict\": {\"x\": [1, 2, 3, 4]}}";
		int (*import)(struct store *, const char *, const char *, size_t) =
			ts ? store_import_persist_ts : store_import_persist;
		struct store *s = open_store();
		if (!ok(s != NULL, "persist: open a store"))
			return;
		char *deep = deep_node_file(ts, 509), *fits = deep_node_file(ts, 508);
		is_int(import(s, name, deep, strlen(deep)), -EINVAL,
		       ts ? "persist-ts: a node nesting 509 levels is refused"
			  : "persist: a node nesting 509 levels is refused");
		is_int(import(s, name, fits, strlen(fits)), 0,
		       ts ? "persist-ts: a node nesting 508 levels imports"
			  : "persist: a node nesting 508 levels imports");
		is_int(import(s, vname, vec, strlen(vec)), 0, "persist: and its vector");
		ok(renders_import_again(s), "%s: every file renders and imports again", dir);
		free(deep);
		free(fits);
		store_close(s);
	}
	/* The same bound for a node written into docstore/. */
	struct store *s = open_store();
	if (!ok(s != NULL, "docstore: open a store"))
		return;
	for (int depth = 508; depth <= 509; depth++) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "{\"id_\": \"d%d\", \"text\": \"t\", \"metadata\": ", depth);
		for (int i = 1; i < depth; i++)
			buf_adds(&b, "{\"a\": ");
		buf_adds(&b, "1");
		for (int i = 0; i < depth; i++)
			buf_adds(&b, "}");
		char id[16];
		snprintf(id, sizeof(id), "d%d", depth);
		is_int(store_node_write(s, id, b.data, b.len), depth <= NODE_MAX_DEPTH ? 0 : -EINVAL,
		       depth <= NODE_MAX_DEPTH ? "docstore: a node nesting 508 levels is stored"
					       : "docstore: a node nesting 509 levels is refused");
		buf_release(&b);
	}
	ok(renders_import_again(s), "docstore: every file renders and imports again");
	store_close(s);
}

int main(void)
{
	manifest_out_of_range();
	manifest_render_round_trip();
	manifest_invalid_utf8();
	s3_list_mtime_out_of_range();
	s3_cdata_nul();
	snprintf(cache, sizeof(cache), "/tmp/ragfs-regress-XXXXXX");
	if (!mkdtemp(cache)) {
		ok(0, "a temp dir");
		return tap_done();
	}
	persist_relationships_array();
	persist_end_char_idx_types();
	persist_node_depth();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cache);
	if (system(cmd))
		diag("cleanup of %s failed", cache);
	return tap_done();
}
