/* Unit tests: query parsing and rendering, node JSON round-trips, Python
 * repr for hashes, the manifest format. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "store/jsonutil.h"
#include "store/manifest.h"
#include "store/node.h"
#include "store/query.h"
#include "tests/tap.h"

static int parse_rc(const char *req, struct query_req *q)
{
	char err[256];
	int rc = query_parse(req, strlen(req), 5, q, err, sizeof(err));
	if (rc)
		diag("-> %s", err);
	return rc;
}

static void test_parse(void)
{
	struct query_req q;
	ok(parse_rc("how do I configure R2?\n", &q) == 0 && !strcmp(q.text, "how do I configure R2?") &&
	   q.top_k == 5, "plain text query, trimmed, default top_k");
	query_req_free(&q);
	ok(parse_rc("{\"query\": \"x\", \"top_k\": 2, \"filters\": {\"filters\": [{\"key\": \"a\", "
		    "\"value\": 1, \"operator\": \">=\"}], \"condition\": \"or\"}, "
		    "\"node_ids\": [\"n1\"], \"doc_ids\": [\"d\"]}", &q) == 0 &&
	   q.top_k == 2 && q.filter && map_get(q.node_ids, "n1") && map_get(q.doc_ids, "d"),
	   "JSON query with filters, node_ids, doc_ids");
	query_req_free(&q);
	ok(parse_rc("{\"embedding\": [0.5, 1, -2]}", &q) == 0 && q.emb_len == 3 &&
	   q.embedding[2] == -2.0f && !q.text, "JSON query by embedding");
	query_req_free(&q);
	is_int(parse_rc("{\"query\": ", &q), -EINVAL, "invalid JSON: -EINVAL");
	is_int(parse_rc("{\"top_k\": 3}", &q), -EINVAL, "neither query nor embedding: -EINVAL");
	is_int(parse_rc("{\"query\": \"x\", \"top_k\": -1}", &q), -EINVAL, "negative top_k");
	is_int(parse_rc("{\"query\": \"x\", \"top_k\": 1.5}", &q), -EINVAL, "fractional top_k");
	ok(parse_rc("{\"query\": \"x\", \"mode\": \"mmr\"}", &q) == 0 && q.kind == QUERY_MMR &&
	   q.mmr_threshold == 0.5, "mode mmr with the default threshold");
	query_req_free(&q);
	is_int(parse_rc("{\"query\": \"x\", \"mode\": \"fast\"}", &q), -EINVAL, "unknown mode");
	is_int(parse_rc("{\"query\": \"x\", \"filters\": {\"filters\": [{\"key\": \"a\", "
			"\"value\": 1, \"operator\": \"~\"}]}}", &q), -EINVAL, "unknown operator");
	is_int(parse_rc("{\"embedding\": [1, \"a\"]}", &q), -EINVAL, "non-numeric embedding");
	is_int(parse_rc("   \n", &q), -EINVAL, "empty query");
	is_int(parse_rc("{\"query\": 5}", &q), -EINVAL, "query that is not a string");
}

static void test_render(void)
{
	struct query_req q;
	char err[100];
	query_parse("find \"me\"", 9, 5, &q, err, sizeof(err));
	struct query_hit h = { .node_id = strdup("n1"), .score = 0.5f, .text = strdup("hello\nworld"),
			       .ref_doc_id = strdup("a/b.txt"), .metadata = cJSON_CreateObject() };
	struct query_result res = { .hits = &h, .n = 1, .took_ms = 1.25 };
	struct buf out = BUF_INIT;
	ok(query_render(&q, &res, 0, &out) == 0, "render JSON");
	cJSON *j = cJSON_Parse(out.data);
	cJSON *hit = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "results"), 0);
	ok(j && !strcmp(cJSON_GetObjectItem(j, "query")->valuestring, "find \"me\"") &&
	   !strcmp(cJSON_GetObjectItem(hit, "ref_doc_id")->valuestring, "a/b.txt") &&
	   cJSON_GetObjectItem(hit, "score")->valuedouble == 0.5 &&
	   cJSON_IsNumber(cJSON_GetObjectItem(j, "took_ms")), "JSON result round-trips");
	cJSON_Delete(j);
	buf_reset(&out);
	ok(query_render(&q, &res, 1, &out) == 0 && strstr(out.data, "1. 0.5000  a/b.txt") &&
	   strstr(out.data, "hello world"), "text rendering for people");
	buf_reset(&out);
	query_render_error("{bad", 4, -EINVAL, "not JSON", 0, &out);
	j = cJSON_Parse(out.data);
	ok(j && !strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "errno")->valuestring,
			"EINVAL"), "errors render as a JSON error object");
	cJSON_Delete(j);
	free(h.node_id);
	free(h.text);
	free(h.ref_doc_id);
	cJSON_Delete(h.metadata);
	buf_release(&out);
	query_req_free(&q);
}

static void test_nodes(void)
{
	cJSON *meta = node_doc_metadata("dir/notes.md", 42, 0, 86400LL * 1000000000);
	ok(meta && !strcmp(json_str(meta, "file_name"), "notes.md") &&
	   !strcmp(json_str(meta, "file_type"), "text/markdown") &&
	   !strcmp(json_str(meta, "last_modified_date"), "1970-01-02"), "doc metadata");
	struct node_chunk ch[2] = { { .id = "id-a", .text = "first part", .text_len = 10,
				      .start_char = 0, .end_char = 10 },
				    { .id = "id-b", .text = "second", .text_len = 6,
				      .start_char = 11, .end_char = 17 } };
	cJSON *nodes[2];
	ok(node_build_doc_nodes(ch, 2, "dir/notes.md", "h", meta, nodes) == 0, "build nodes");
	ok(!strcmp(node_ref_doc_id(nodes[0]), "dir/notes.md") &&
	   !strcmp(json_str(cJSON_GetObjectItem(cJSON_GetObjectItem(nodes[0], "relationships"), "3"),
			   "node_id"), "id-b") &&
	   !strcmp(json_str(cJSON_GetObjectItem(cJSON_GetObjectItem(nodes[1], "relationships"), "2"),
			   "node_id"), "id-a"), "SOURCE / NEXT / PREVIOUS relationships");
	char *s = cJSON_PrintUnformatted(nodes[1]);
	cJSON *back = NULL;
	float *emb;
	size_t n;
	char err[200];
	ok(node_parse_user(s, strlen(s), "id-b", &back, &emb, &n, err, sizeof(err)) == 0 &&
	   !strcmp(node_text(back), "second") && !emb, "built node JSON parses back");
	ok(cJSON_Compare(back, nodes[1], 1), "node JSON round-trips exactly");
	cJSON_Delete(back);
	char wrapped[4096];
	snprintf(wrapped, sizeof(wrapped), "{\"__data__\": %s, \"__type__\": \"1\"}", s);
	ok(node_parse_user(wrapped, strlen(wrapped), "id-b", &back, &emb, &n, err, sizeof(err)) == 0,
	   "docstore-wrapped node accepted");
	cJSON_Delete(back);
	is_int(node_parse_user(s, strlen(s), "other", &back, &emb, &n, err, sizeof(err)), -EINVAL,
	       "id/name mismatch refused");
	cJSON_free(s);
	cJSON_Delete(nodes[0]);
	cJSON_Delete(nodes[1]);
	cJSON_Delete(meta);
	/* Python's sha256("a" + str({})) from LlamaIndex's own fixture. */
	char h[65];
	cJSON *empty = cJSON_CreateObject();
	node_hash("a", empty, h);
	ok(!strncmp(h, "5f546eb4", 8), "node hash matches LlamaIndex for text 'a', {}");
	cJSON_Delete(empty);
}

static void test_repr(void)
{
	cJSON *j = cJSON_Parse("{\"k\": \"v\", \"n\": 1, \"f\": 1.5, \"t\": true, \"z\": null, "
			       "\"q\": \"it's\", \"l\": [1, \"a\"]}");
	struct buf b = BUF_INIT;
	py_repr(j, &b);
	is_int(strcmp(b.data, "{'k': 'v', 'n': 1, 'f': 1.5, 't': True, 'z': None, "
			      "'q': \"it's\", 'l': [1, 'a']}"), 0, "Python repr of metadata");
	if (strcmp(b.data, "{'k': 'v', 'n': 1, 'f': 1.5, 't': True, 'z': None, 'q': \"it's\", 'l': [1, 'a']}"))
		diag("got %s", b.data);
	buf_release(&b);
	cJSON_Delete(j);
}

static void test_manifest(void)
{
	struct manifest m = { .generation = 3, .last_seq = 99, .store_id = "s", .index_id = "i",
			      .dim = 384, .embed = "hash" };
	struct manifest_seg seg = { .size = 10, .first_seq = 1, .last_seq = 99, .writer = "writer-a" };
	manifest_seg_key(seg.key, sizeof(seg.key), "writer-a", 1, 99);
	manifest_set_writer_seq(&m, "writer-a", 99);
	manifest_set_writer_seq(&m, "writer-b", 7);
	manifest_add_seg(&m, &seg);
	struct buf b = BUF_INIT;
	struct manifest back;
	char err[100];
	ok(manifest_render(&m, &b) == 0 && manifest_parse(b.data, b.len, &back, err, sizeof(err)) == 0,
	   "manifest renders and parses");
	ok(back.generation == 3 && back.last_seq == 99 && back.nsegs == 1 &&
	   !strcmp(back.segs[0].key, seg.key) && back.dim == 384, "manifest round-trips");
	ok(manifest_writer_seq(&back, "writer-a") == 99 && manifest_writer_seq(&back, "writer-b") == 7 &&
	   manifest_writer_seq(&back, "other") == 0, "per-writer sequence numbers round-trip");
	ok(manifest_find_seg(&back, seg.key) && !manifest_find_seg(&back, "nope"), "segments by key");
	manifest_clear(&back);
	is_int(manifest_parse("{}", 2, &back, err, sizeof(err)), -EBADMSG, "foreign JSON refused");
	const char *newer = "{\"format\": \"ragfs-store\", \"version\": 99}";
	is_int(manifest_parse(newer, strlen(newer), &back, err, sizeof(err)), -EBADMSG,
	       "a newer layout version is refused");
	buf_release(&b);
	manifest_clear(&m);
}

int main(void)
{
	test_parse();
	test_render();
	test_nodes();
	test_repr();
	test_manifest();
	return tap_done();
}
