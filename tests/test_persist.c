/* Unit tests: store/pyjson.c (the Python and JS JSON dialects) and
 * store/persist.c (the persist/ and persist-ts/ files): dialect goldens from
 * CPython and Node, render shapes on a small state, byte-stability against
 * the LlamaIndex fixtures in tests/fixtures/persist/. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "store/frame.h"
#include "store/jsonutil.h"
#include "store/persist.h"
#include "store/pyjson.h"
#include "store/state.h"
#include "tests/storetest.h"
#include "tests/tap.h"

/* ---- helpers ---- */

static char *py_num(double d)
{
	static char out[JSON_NUM_MAX];
	py_float_repr(d, out);
	return out;
}

static char *js_num(double d)
{
	static char out[JSON_NUM_MAX];
	js_number_str(d, out);
	return out;
}

/* Transcode text in dialect d; malloc'd result or NULL on error. */
static char *tc(enum json_dialect d, const char *text)
{
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, jw_buf_sink, &b);
	int rc = json_transcode(&w, d, text, strlen(text));
	if (!rc)
		rc = jw_finish(&w);
	if (rc) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

static char *write_val(enum json_dialect d, const cJSON *j)
{
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, jw_buf_sink, &b);
	json_write_value(&w, d, j);
	jw_finish(&w);
	return buf_detach(&b, NULL);
}

static void is_str(const char *got, const char *want, const char *msg)
{
	int same = got && !strcmp(got, want);
	ok(same, "%s", msg);
	if (!same)
		diag("got  %s\n# want %s", got ? got : "(null)", want);
}

/* ---- dialect goldens ---- */

static void test_numbers(void)
{
	/* expected values printed by CPython 3.11 repr() */
	is_str(py_num(0.0), "0.0", "py 0.0");
	is_str(py_num(-0.0), "-0.0", "py -0.0");
	is_str(py_num(1.0), "1.0", "py 1.0");
	is_str(py_num(0.1), "0.1", "py 0.1");
	is_str(py_num(1e-05), "1e-05", "py 1e-05");
	is_str(py_num(0.0001), "0.0001", "py 0.0001 stays fixed");
	is_str(py_num(1e16), "1e+16", "py 1e+16");
	is_str(py_num(1e15), "1000000000000000.0", "py 1e15 fixed with .0");
	is_str(py_num(1.5e-7), "1.5e-07", "py 1.5e-07");
	is_str(py_num(123.456), "123.456", "py 123.456");
	is_str(py_num(1e100), "1e+100", "py 1e+100");
	is_str(py_num(5e-324), "5e-324", "py denormal min");
	is_str(py_num(1.7976931348623157e308), "1.7976931348623157e+308", "py max double");
	is_str(py_num(ldexp(1, 60)), "1.152921504606847e+18", "py 2^60");
	is_str(py_num(ldexp(1, -20)), "9.5367431640625e-07", "py 2^-20");
	is_str(py_num(0.30000000000000004), "0.30000000000000004", "py 17 digits");
	is_str(py_num(1234567890123456.0), "1234567890123456.0", "py 16 integer digits");
	is_str(py_num(NAN), "NaN", "py NaN");
	is_str(py_num(INFINITY), "Infinity", "py Infinity");
	is_str(py_num(-INFINITY), "-Infinity", "py -Infinity");
	/* float32 values widened to double, as embeddings are */
	is_str(py_num((double)0.6053898334503174f), "0.6053898334503174", "py f32 0.605..");
	is_str(py_num((double)0.1f), "0.10000000149011612", "py f32 0.1");
	is_str(py_num((double)-0.19245009124279022f), "-0.19245009124279022", "py f32 neg");
	is_str(py_num((double)1e-5f), "9.999999747378752e-06", "py f32 1e-5");
	is_str(py_num((double)3.4e38f), "3.3999999521443642e+38", "py f32 big");

	/* expected values printed by Node 20 String(x) */
	is_str(js_num(0.0), "0", "js 0");
	is_str(js_num(-0.0), "0", "js -0");
	is_str(js_num(1.0), "1", "js 1");
	is_str(js_num(1.5), "1.5", "js 1.5");
	is_str(js_num(1e-7), "1e-7", "js 1e-7");
	is_str(js_num(1e-6), "0.000001", "js 1e-6 fixed");
	is_str(js_num(1e21), "1e+21", "js 1e+21");
	is_str(js_num(1e20), "100000000000000000000", "js 1e20 fixed");
	is_str(js_num(1.23e-18), "1.23e-18", "js 1.23e-18");
	is_str(js_num((double)0.6053898334503174f), "0.6053898334503174", "js f32");
	is_str(js_num(NAN), "NaN", "js String(NaN)");

	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, jw_buf_sink, &b);
	json_write_double(&w, JSON_JS, NAN);
	json_write_double(&w, JSON_PY, 0.0);
	json_write_double(&w, JSON_JS, 0.0);
	jw_finish(&w);
	is_str(b.data, "null0.00", "JSON: NaN is null in JS; floats 0.0 vs 0");
	is_int(w.bytes, 8, "byte count");
	buf_release(&b);
}

/* The float32 fast path of json_shortest_digits against the printf one:
 * every exponent, edges (powers of two and ten, the ends of the fast
 * range, subnormals) and random bit patterns. */
static int same_digits(double d)
{
	char a[20], b[20];
	int da = 0, db = 0;
	int na = json_shortest_digits(d, a, &da), nb = json_shortest_digits_printf(d, b, &db);
	return na == nb && da == db && !strcmp(a, b);
}

static void test_shortest_f32(void)
{
	int bad = 0, n = 0;
	for (int e = -149; e <= 127; e++) /* powers of two, and their neighbours */
		for (int s = -1; s <= 1; s++) {
			float f = nextafterf(ldexpf(1, e), s < 0 ? 0 : s > 0 ? INFINITY : ldexpf(1, e));
			bad += !same_digits(f), n++;
		}
	for (int e = -45; e <= 38; e++) { /* the float32 nearest each power of ten */
		float f = (float)pow(10, e);
		bad += !same_digits(f) + !same_digits(nextafterf(f, 0)) + !same_digits(nextafterf(f, INFINITY));
		n += 3;
	}
	for (int i = 1; i < 1000; i++) /* small integers and simple fractions */
		bad += !same_digits((float)i) + !same_digits((float)i / 1000) + !same_digits(1.0f / (float)i), n += 3;
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint32_t bits = (uint32_t)x;
		if (i % 2) /* embedding-like magnitudes: 2^-27 .. 2^2 */
			bits = (bits & 0x807fffffu) | (uint32_t)(100 + (x >> 40) % 30) << 23;
		float f;
		memcpy(&f, &bits, sizeof(f));
		if (!isfinite(f) || f == 0)
			continue;
		bad += !same_digits(f), n++;
	}
	ok(bad == 0, "float32 shortest digits: fast path = printf path on %d values (%d differ)", n, bad);
	is_str(py_num((double)0.699999988079071f), "0.699999988079071", "py f32 15 digits (fast path)");
	is_str(py_num((double)-1e-6f), "-9.999999974752427e-07", "py f32 -1e-6 (fast path)");
	is_str(py_num((double)16777215.0f), "16777215.0", "py f32 2^24 - 1 (fast path's top)");
}

static void test_strings(void)
{
	/* CPython json.dumps({"s": "é😀\x01\x7f/\"\\\n\r\t\b\f\ud800"}) */
	const char *in = "{\"s\": \"\xc3\xa9\xf0\x9f\x98\x80\\u0001\x7f/\\\"\\\\\\n\\r\\t\\b\\f"
			 "\\ud800\"}";
	char *s = tc(JSON_PY, in);
	is_str(s, "{\"s\": \"\\u00e9\\ud83d\\ude00\\u0001\\u007f/\\\"\\\\\\n\\r\\t\\b\\f\\ud800\"}",
	       "py: ensure_ascii, surrogate pairs, controls, DEL, lone surrogate");
	free(s);
	s = tc(JSON_JS, in);
	is_str(s, "{\"s\":\"\xc3\xa9\xf0\x9f\x98\x80\\u0001\x7f/\\\"\\\\\\n\\r\\t\\b\\f\\ud800\"}",
	       "js: raw UTF-8, controls escaped, lone surrogate escaped");
	free(s);
	s = tc(JSON_JS, "\"\\ud83d\\ude00\\u00E9\\/\"");
	is_str(s, "\"\xf0\x9f\x98\x80\xc3\xa9/\"", "js: escaped pair becomes raw UTF-8");
	free(s);
	s = tc(JSON_PY, "\"\xff\xc3\"");
	is_str(s, "\"\\ufffd\\ufffd\"", "invalid UTF-8 becomes U+FFFD");
	free(s);

	struct buf b = BUF_INIT;
	ok(!json_text_string("\"a\\u00e9\\ud83d\\ude00\"", 21, &b) &&
		   !strcmp(b.data, "a\xc3\xa9\xf0\x9f\x98\x80"),
	   "json_text_string decodes escapes");
	buf_release(&b);
}

static void test_transcode(void)
{
	const char *in = " {\"b\":1,\"a\":[1.0,1e-5,-0,1E+16,NaN,-Infinity,true,null,false],"
			 "\"c\":{},\"d\":[],\"e\":12345678901234567890123, \"f\":2.50}\n";
	char *s = tc(JSON_PY, in);
	is_str(s, "{\"b\": 1, \"a\": [1.0, 1e-05, 0, 1e+16, NaN, -Infinity, true, null, false], "
		  "\"c\": {}, \"d\": [], \"e\": 12345678901234567890123, \"f\": 2.5}",
	       "py transcode: key order, int vs float lexemes, NaN, big ints");
	free(s);
	s = tc(JSON_JS, in);
	is_str(s, "{\"b\":1,\"a\":[1,0.00001,0,10000000000000000,null,null,true,null,false],"
		  "\"c\":{},\"d\":[],\"e\":1.2345678901234568e+22,\"f\":2.5}",
	       "js transcode: JSON.stringify(JSON.parse(x))");
	free(s);

	const char *bad[] = { "{\"a\":}", "[1,]", "\"a\x01\"", "{} x", "01", "1.", "-",
			      "{\"a\" 1}", "[", "\"\\x\"", "nul", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		s = tc(JSON_PY, bad[i]);
		ok(!s && !json_text_valid(bad[i], strlen(bad[i])), "refused: %s", bad[i]);
		free(s);
	}
	/* nesting limit */
	struct buf deep = BUF_INIT;
	for (int i = 0; i < JSON_MAX_DEPTH + 2; i++)
		buf_addc(&deep, '[');
	for (int i = 0; i < JSON_MAX_DEPTH + 2; i++)
		buf_addc(&deep, ']');
	ok(!json_text_valid(deep.data, deep.len), "too deep refused");
	buf_release(&deep);

	const char *val;
	size_t vl;
	const char *obj = "{\"x\": {\"y\": [1, 2]}, \"k\": \"v1\", \"k\": \"v2\"}";
	ok(!json_text_member(obj, strlen(obj), "x", &val, &vl) && vl == 13 &&
		   !strncmp(val, "{\"y\": [1, 2]}", vl),
	   "json_text_member span");
	ok(!json_text_member(obj, strlen(obj), "k", &val, &vl) && !strncmp(val, "\"v2\"", vl),
	   "json_text_member: last duplicate wins (dict semantics)");
	is_int(json_text_member(obj, strlen(obj), "z", &val, &vl), -ENOENT, "absent member");
	is_int(json_text_member("[1]", 3, "z", &val, &vl), -EINVAL, "not an object");
}

static void test_cjson_writer(void)
{
	cJSON *j = cJSON_Parse("{\"n\":2021,\"f\":1.5,\"z\":0,\"neg\":-3,\"big\":1e300,"
			       "\"s\":\"\xc3\xa9\",\"l\":[true,false,null],\"o\":{\"a\":{}}}");
	cJSON_AddItemToObject(j, "raw", cJSON_CreateRaw("1.0"));
	char *s = write_val(JSON_PY, j);
	is_str(s, "{\"n\": 2021, \"f\": 1.5, \"z\": 0, \"neg\": -3, \"big\": 1e+300, "
		  "\"s\": \"\\u00e9\", \"l\": [true, false, null], \"o\": {\"a\": {}}, "
		  "\"raw\": 1.0}",
	       "py cJSON writer: integral numbers as ints, raw kept");
	free(s);
	s = write_val(JSON_JS, j);
	is_str(s, "{\"n\":2021,\"f\":1.5,\"z\":0,\"neg\":-3,\"big\":1e+300,\"s\":\"\xc3\xa9\","
		  "\"l\":[true,false,null],\"o\":{\"a\":{}},\"raw\":1.0}",
	       "js cJSON writer");
	free(s);
	cJSON_Delete(j);

	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, jw_buf_sink, &b);
	jw_write(&w, "\"", 1);
	w.quoted = 1;
	json_write_string(&w, JSON_PY, "a\"\n\xc3\xa9", 5);
	w.quoted = 0;
	jw_write(&w, "\"", 1);
	jw_finish(&w);
	is_str(b.data, "\"\\\"a\\\\\\\"\\\\n\\\\u00e9\\\"\"", "quoted: a document inside a string");
	buf_release(&b);
}

/* ---- a small state ---- */

static int put(struct state *st, const char *coll, const char *key, const void *val,
	       size_t len)
{
	struct frame_op op = { .type = FRAME_PUT, .coll = coll, .coll_len = strlen(coll),
			       .key = key, .key_len = strlen(key), .val = val, .val_len = len };
	return state_apply(st, &op);
}

static int puts_(struct state *st, const char *coll, const char *key, const char *val)
{
	return put(st, coll, key, val, strlen(val));
}

#define DIM 4

static struct state *small_state(void)
{
	struct state *st = NULL;
	if (state_new(DIM, &st))
		return NULL;
	int rc = 0;
	rc |= puts_(st, COLL_NODES, "n1",
		    "{\"id_\":\"n1\",\"embedding\":null,\"metadata\":{\"doc_id\":\"x\","
		    "\"file_name\":\"caf\xc3\xa9.md\",\"score\":1.0,\"n\":3,\"_node_content\":\"z\"},"
		    "\"excluded_embed_metadata_keys\":[],\"excluded_llm_metadata_keys\":[],"
		    "\"relationships\":{\"1\":{\"node_id\":\"d1\",\"node_type\":\"4\","
		    "\"metadata\":{},\"hash\":\"hh\",\"class_name\":\"RelatedNodeInfo\"},"
		    "\"3\":{\"node_id\":\"n2\",\"node_type\":\"1\",\"metadata\":{},\"hash\":null,"
		    "\"class_name\":\"RelatedNodeInfo\"}},\"text\":\"Caf\xc3\xa9 \xf0\x9f\x98\x80\","
		    "\"mimetype\":\"text/plain\",\"start_char_idx\":0,\"end_char_idx\":6,"
		    "\"metadata_seperator\":\"\\n\",\"text_template\":\"{metadata_str}\\n\\n{content}\","
		    "\"class_name\":\"TextNode\"}");
	rc |= puts_(st, COLL_NODES, "n2",
		    "{\"id_\":\"n2\",\"embedding\":null,\"metadata\":{},"
		    "\"relationships\":{\"1\":{\"node_id\":\"d1\",\"node_type\":\"4\","
		    "\"metadata\":{},\"hash\":null,\"class_name\":\"RelatedNodeInfo\"}},"
		    "\"text\":\"two\",\"start_char_idx\":7,\"end_char_idx\":10,"
		    "\"class_name\":\"TextNode\"}");
	rc |= puts_(st, COLL_NODES, "n3",
		    "{\"id_\":\"n3\",\"embedding\":null,\"metadata\":{\"k\":[1,2]},"
		    "\"relationships\":{},\"text\":\"three\",\"index_id\":\"sub\","
		    "\"class_name\":\"IndexNode\"}");
	rc |= puts_(st, COLL_DOCMETA, "d1", "{\"doc_hash\":\"dh1\"}");
	rc |= puts_(st, COLL_DOCMETA, "n1", "{\"doc_hash\":\"a1\",\"ref_doc_id\":\"d1\"}");
	rc |= puts_(st, COLL_DOCMETA, "n2", "{\"doc_hash\":\"a2\",\"ref_doc_id\":\"d1\"}");
	rc |= puts_(st, COLL_DOCMETA, "n3", "{\"doc_hash\":\"a3\"}");
	rc |= puts_(st, COLL_REFDOC, "d1",
		    "{\"node_ids\":[\"n1\",\"n2\"],\"metadata\":{\"file_name\":\"caf\xc3\xa9.md\"}}");
	rc |= puts_(st, COLL_INDEX, "other",
		    "{\"__type__\":\"list\",\"__data__\":\"{\\\"index_id\\\": \\\"other\\\"}\"}");
	rc |= puts_(st, COLL_INDEX, "tsidx", "{\"indexId\":\"tsidx\",\"type\":\"list\"}");
	float v1[DIM] = { 0.6053898334503174f, 0, -1e-5f, 1 };
	float v2[DIM] = { 0.1f, 0.2f, 0.3f, 0.4f };
	float v3[DIM] = { 0, 0, 0, 0 };
	float v4[DIM] = { 1, 2, 3, 4 };
	rc |= put(st, COLL_VECS, "n1", v1, sizeof(v1));
	rc |= put(st, COLL_VECS, "n2", v2, sizeof(v2));
	rc |= put(st, COLL_VECS, "n3", v3, sizeof(v3));
	rc |= put(st, COLL_VECS, "orphan", v4, sizeof(v4));
	if (rc) {
		state_free(st);
		return NULL;
	}
	return st;
}

struct chunks {
	struct buf all;
	size_t max, calls;
};

static int chunk_sink(void *ctx, const void *p, size_t n)
{
	struct chunks *c = ctx;
	c->calls++;
	if (n > c->max)
		c->max = n;
	return buf_add(&c->all, p, n);
}

static int fail_sink(void *ctx, const void *p, size_t n)
{
	return -EIO;
}

static cJSON *render_parse(const struct state *st, enum persist_file f, struct buf *out)
{
	uint64_t size = 0;
	buf_reset(out);
	int rc = persist_render_buf(st, "idx0", DIM, f, out);
	ok(!rc, "render %s: %d", persist_file_name(f), rc);
	ok(!persist_size(st, "idx0", DIM, f, &size) && size == out->len,
	   "%s: persist_size %llu == rendered %zu", persist_file_name(f),
	   (unsigned long long)size, out->len);
	cJSON *j = cJSON_ParseWithLength(out->data, out->len);
	ok(cJSON_IsObject(j), "%s parses", persist_file_name(f));
	return j;
}

static const cJSON *at(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void test_render_small(void)
{
	struct state *st = small_state();
	struct buf out = BUF_INIT;
	ok(st != NULL, "small state built");
	if (!st)
		return;

	cJSON *j = render_parse(st, PERSIST_PY_DOCSTORE, &out);
	/* small_state puts nodes first, then metadata, then ref_doc_info */
	ok(!strncmp(out.data, "{\"docstore/data\": {\"n1\": {\"__data__\": {", 39),
	   "py docstore: nodes first, Python separators");
	const cJSON *c = j ? j->child : NULL;
	ok(c && !strcmp(c->string, "docstore/data") && c->next &&
		   !strcmp(c->next->string, "docstore/metadata") && c->next->next &&
		   !strcmp(c->next->next->string, "docstore/ref_doc_info"),
	   "py docstore collections in the order they were first touched");
	const cJSON *md = at(j, "docstore/metadata");
	ok(md && md->child && !strcmp(md->child->string, "d1") && md->child->next &&
		   !strcmp(md->child->next->string, "n1"),
	   "py docstore entries in the order they were first put");
	const cJSON *n1 = at(at(j, "docstore/data"), "n1");
	ok(n1 && !strcmp(n1->child->string, "__data__") && cJSON_IsObject(at(n1, "__data__")) &&
		   !strcmp(json_str(n1, "__type__"), "1"),
	   "py docstore: {__data__: object, __type__: \"1\"}");
	is_str(json_str(at(at(j, "docstore/data"), "n3"), "__type__"), "3", "IndexNode is \"3\"");
	ok(strstr(out.data, "\"score\": 1.0, \"n\": 3") != NULL, "float 1.0 and int 3 kept");
	ok(strstr(out.data, "\"text\": \"Caf\\u00e9 \\ud83d\\ude00\"") != NULL,
	   "node text ensure_ascii");
	cJSON_Delete(j);

	j = render_parse(st, PERSIST_PY_INDEX, &out);
	const cJSON *isd = at(j, "index_store/data");
	const cJSON *def = at(isd, "idx0");
	ok(def && !strcmp(def->child->string, "__type__") &&
		   !strcmp(json_str(def, "__type__"), "vector_store"),
	   "py index: default struct first, __type__ then __data__");
	const char *data = json_str(def, "__data__");
	cJSON *inner = data ? cJSON_Parse(data) : NULL;
	is_int(cJSON_GetArraySize(at(inner, "nodes_dict")), 4, "nodes_dict maps every vector");
	is_str(json_str(at(inner, "nodes_dict"), "orphan"), "orphan", "nodes_dict id -> id");
	is_str(data, "{\"index_id\": \"idx0\", \"summary\": null, \"nodes_dict\": {\"n1\": \"n1\", "
		     "\"n2\": \"n2\", \"n3\": \"n3\", \"orphan\": \"orphan\"}, \"doc_id_dict\": {}, "
		     "\"embeddings_dict\": {}}",
	       "IndexDict string in dataclass order");
	ok(at(isd, "other") && !at(isd, "tsidx"), "stored kvstore structs follow, TS ones not");
	cJSON_Delete(inner);
	cJSON_Delete(j);

	j = render_parse(st, PERSIST_PY_VECTORS, &out);
	ok(strstr(out.data, "{\"embedding_dict\": {\"n1\": [0.6053898334503174, 0.0, "
			    "-9.999999747378752e-06, 1.0], ") == out.data,
	   "py vectors: float32 repr, 0.0, exponent form");
	is_str(json_str(at(j, "text_id_to_ref_doc_id"), "n3"), "None", "no SOURCE: \"None\"");
	is_str(json_str(at(j, "text_id_to_ref_doc_id"), "n1"), "d1", "ref doc id");
	ok(strstr(out.data, "\"metadata_dict\": {\"n1\": {\"doc_id\": \"d1\", \"file_name\": "
			    "\"caf\\u00e9.md\", \"score\": 1.0, \"n\": 3, \"_node_type\": "
			    "\"TextNode\", \"document_id\": \"d1\", \"ref_doc_id\": \"d1\"}") != NULL,
	   "metadata_dict: doc_id set in place, _node_content dropped, keys appended");
	ok(strstr(out.data, "\"orphan\": {\"_node_type\": \"TextNode\", \"document_id\": "
			    "\"None\", \"doc_id\": \"None\", \"ref_doc_id\": \"None\"}") != NULL,
	   "vector without a node");
	is_str(json_str(at(at(j, "metadata_dict"), "n3"), "_node_type"), "IndexNode",
	       "_node_type is the class name");
	cJSON_Delete(j);

	j = render_parse(st, PERSIST_PY_IMAGE_VECTORS, &out);
	is_str(out.data, "{\"embedding_dict\": {}, \"text_id_to_ref_doc_id\": {}, "
			 "\"metadata_dict\": {}}", "image store");
	cJSON_Delete(j);
	j = render_parse(st, PERSIST_PY_GRAPH, &out);
	is_str(out.data, "{\"graph_dict\": {}}", "graph store");
	cJSON_Delete(j);

	j = render_parse(st, PERSIST_TS_DOCSTORE, &out);
	c = j ? j->child : NULL;
	ok(c && !strcmp(c->string, "docstore/metadata") && c->next &&
		   !strcmp(c->next->string, "docstore/data"),
	   "ts doc_store order");
	const cJSON *t1 = at(at(j, "docstore/data"), "n1");
	const char *t1s = json_str(t1, "__data__");
	cJSON *node = t1s ? cJSON_Parse(t1s) : NULL;
	ok(node && !strcmp(json_str(t1, "__type__"), "TEXT"), "ts __data__ is a JSON string");
	ok(node && !at(node, "startCharIdx") && at(node, "endCharIdx") &&
		   !strcmp(json_str(at(at(node, "relationships"), "SOURCE"), "nodeId"), "d1") &&
		   json_str(node, "hash") && strlen(json_str(node, "hash")) == 44,
	   "ts node: startCharIdx 0 dropped, SOURCE, base64 hash");
	ok(strstr(t1s, "\"text\":\"Caf\xc3\xa9 \xf0\x9f\x98\x80\"") != NULL, "ts: raw UTF-8");
	is_str(json_str(at(at(j, "docstore/metadata"), "n1"), "refDocId"), "d1", "refDocId");
	is_str(json_str(at(at(j, "docstore/metadata"), "n1"), "docHash"), json_str(node, "hash"),
	       "docHash of a node is its TS hash");
	is_str(json_str(at(at(j, "docstore/data"), "n3"), "__type__"), "INDEX", "ts INDEX");
	ok(cJSON_IsArray(at(at(at(j, "docstore/ref_doc_info"), "d1"), "nodeIds")), "nodeIds");
	cJSON_Delete(node);
	cJSON_Delete(j);

	j = render_parse(st, PERSIST_TS_INDEX, &out);
	const cJSON *ti = at(at(j, "docstore/data"), "idx0");
	is_int(cJSON_GetArraySize(at(ti, "nodesDict")), 3, "ts nodesDict: nodes only");
	is_str(json_str(ti, "type"), "simple_dict", "simple_dict");
	ok(at(at(j, "docstore/data"), "tsidx") && !at(at(j, "docstore/data"), "other"),
	   "TS-shaped stored structs kept, Python-shaped left out");
	cJSON_Delete(j);

	j = render_parse(st, PERSIST_TS_VECTORS, &out);
	ok(strstr(out.data, "{\"embeddingDict\":{\"n1\":[0.6053898334503174,0,"
			    "-0.000009999999747378752,1],") == out.data,
	   "ts vectors: JS numbers");
	ok(!at(at(j, "textIdToRefDocId"), "n3") && !at(at(j, "metadataDict"), "n3") &&
		   at(at(j, "metadataDict"), "n1"),
	   "ts: no SOURCE, no textIdToRefDocId/metadataDict entry");
	cJSON_Delete(j);

	/* streaming: pieces are bounded and concatenate to the same bytes */
	struct chunks ch = { BUF_INIT, 0, 0 };
	buf_reset(&out);
	persist_render_buf(st, "idx0", DIM, PERSIST_PY_VECTORS, &out);
	ok(!persist_render(st, "idx0", DIM, PERSIST_PY_VECTORS, chunk_sink, &ch) &&
		   ch.all.len == out.len && !memcmp(ch.all.data, out.data, out.len) &&
		   ch.max <= JW_BUF_SIZE,
	   "callback render: same bytes, pieces <= %d", JW_BUF_SIZE);
	buf_release(&ch.all);
	is_int(persist_render(st, "idx0", DIM, PERSIST_PY_DOCSTORE, fail_sink, NULL), -EIO,
	       "sink error stops the render");
	is_int(persist_render(st, "idx0", DIM + 1, PERSIST_PY_DOCSTORE, fail_sink, NULL),
	       -EINVAL, "wrong dim refused");
	is_int(persist_file_lookup(0, "default__vector_store.json"), PERSIST_PY_VECTORS,
	       "lookup persist/");
	is_int(persist_file_lookup(1, "vector_store.json"), PERSIST_TS_VECTORS, "lookup ts");
	is_int(persist_file_lookup(1, "docstore.json"), -ENOENT, "lookup miss");

	buf_release(&out);
	state_free(st);
}

/* ---- fixtures ---- */

struct fix_ctx {
	int n, same_tc, same_cjson, same_compact;
};

/* Re-serialise one fixture node three ways and compare with its bytes. */
static int fix_node(void *ctx, const char *key, const char *val, size_t len)
{
	struct fix_ctx *f = ctx;
	const char *d;
	size_t dl;
	if (json_text_member(val, len, "__data__", &d, &dl))
		return 0;
	f->n++;
	char *want = strndup(d, dl);
	char *s = tc(JSON_PY, want);
	f->same_tc += s && !strcmp(s, want);
	free(s);
	cJSON *j = cJSON_Parse(want);
	s = write_val(JSON_PY, j);
	f->same_cjson += !strcmp(s, want);
	free(s);
	char *compact = cJSON_PrintUnformatted(j);
	s = tc(JSON_PY, compact);
	f->same_compact += s && !strcmp(s, want);
	free(s);
	cJSON_free(compact);
	cJSON_Delete(j);
	free(want);
	return 0;
}

/* The Python fixture loaded into a state the way ragfs stores things:
 * compact node JSON, float32 vectors. */
static struct state *fixture_state(uint32_t *dim)
{
	size_t len;
	char *ds = fixture("py/docstore.json", &len);
	char *vs = fixture("py/default__vector_store.json", &len);
	cJSON *d = ds ? cJSON_Parse(ds) : NULL, *v = vs ? cJSON_Parse(vs) : NULL, *it;
	struct state *st = NULL;
	free(ds);
	free(vs);
	const cJSON *emb = at(v, "embedding_dict");
	*dim = (uint32_t)cJSON_GetArraySize(emb ? emb->child : NULL);
	if (!d || !v || !*dim || state_new(*dim, &st)) {
		cJSON_Delete(d);
		cJSON_Delete(v);
		return NULL;
	}
	const char *colls[] = { COLL_DOCMETA, COLL_REFDOC, COLL_NODES };
	for (int i = 0; i < 3; i++) {
		cJSON_ArrayForEach(it, at(d, colls[i])) {
			const cJSON *val = i == 2 ? at(it, "__data__") : it;
			char *s = cJSON_PrintUnformatted(val);
			puts_(st, colls[i], it->string, s);
			cJSON_free(s);
		}
	}
	cJSON_ArrayForEach(it, emb) {
		float *f = calloc(*dim, sizeof(float));
		int k = 0;
		const cJSON *x;
		cJSON_ArrayForEach(x, it)
			if (k < (int)*dim)
				f[k++] = (float)x->valuedouble;
		put(st, COLL_VECS, it->string, f, *dim * sizeof(float));
		free(f);
	}
	cJSON_Delete(d);
	cJSON_Delete(v);
	return st;
}

/* The span of top-level member key of file text p. */
static int span(const char *p, size_t n, const char *key, const char **v, size_t *vl)
{
	return json_text_member(p, n, key, v, vl);
}

static void cmp_file(const struct state *st, uint32_t dim, enum persist_file f,
		     const char *fixname)
{
	size_t len;
	char *want = fixture(fixname, &len);
	struct buf out = BUF_INIT;
	int rc = persist_render_buf(st, "fixture-index", dim, f, &out);
	int same = want && !rc && out.len == len && !memcmp(out.data, want, len);
	ok(same, "%s is byte-identical to the fixture %s", persist_file_name(f), fixname);
	if (!same && want && out.data) {
		size_t i = 0;
		while (i < len && i < out.len && want[i] == out.data[i])
			i++;
		diag("differs at %zu: got ...%.60s / want ...%.60s", i, out.data + i, want + i);
	}
	free(want);
	buf_release(&out);
}

static void cmp_member(const struct state *st, uint32_t dim, enum persist_file f,
		       const char *fixname, const char *key)
{
	size_t len;
	char *want = fixture(fixname, &len);
	struct buf out = BUF_INIT;
	const char *a, *b;
	size_t al, bl;
	int rc = persist_render_buf(st, "fixture-index", dim, f, &out);
	ok(want && !rc && !span(out.data, out.len, key, &a, &al) &&
		   !span(want, len, key, &b, &bl) && al == bl && !memcmp(a, b, al),
	   "%s: \"%s\" is byte-identical to the fixture", persist_file_name(f), key);
	free(want);
	buf_release(&out);
}

/* Relationship hashes are stale snapshots in TS (taken at split time) and
 * cannot be recovered from the Python files: blank them before comparing. */
static void strip_rel_hashes(cJSON *node)
{
	cJSON *r, *e;
	cJSON_ArrayForEach(r, at(node, "relationships")) {
		if (cJSON_IsObject(r))
			cJSON_ReplaceItemInObject(r, "hash", cJSON_CreateString(""));
		if (cJSON_IsArray(r))
			cJSON_ArrayForEach(e, r)
				cJSON_ReplaceItemInObject(e, "hash", cJSON_CreateString(""));
	}
}

/* The TS nodes of file f (index_store nodesDict or doc_store __data__),
 * normalised, as one object id -> node. */
static cJSON *ts_nodes(const char *text, int docstore)
{
	cJSON *j = cJSON_Parse(text), *out = cJSON_CreateObject(), *it;
	const cJSON *src = docstore ? at(j, "docstore/data")
				    : at(at(at(j, "docstore/data"), "fixture-index"), "nodesDict");
	cJSON_ArrayForEach(it, src) {
		cJSON *n = docstore ? cJSON_Parse(json_str(it, "__data__")) : cJSON_Duplicate(it, 1);
		strip_rel_hashes(n);
		cJSON_AddItemToObject(out, it->string, n);
	}
	cJSON_Delete(j);
	return out;
}

static void cmp_ts_nodes(const struct state *st, uint32_t dim, enum persist_file f,
			 const char *fixname)
{
	size_t len;
	char *want = fixture(fixname, &len);
	struct buf out = BUF_INIT;
	int rc = persist_render_buf(st, "fixture-index", dim, f, &out);
	int ds = f == PERSIST_TS_DOCSTORE;
	cJSON *a = rc ? NULL : ts_nodes(out.data, ds), *b = want ? ts_nodes(want, ds) : NULL;
	ok(a && b && cJSON_GetArraySize(a) == 12 && cJSON_Compare(a, b, 1),
	   "%s: the 12 TS nodes equal LlamaIndex.TS's but for relationship hashes",
	   persist_file_name(f));
	cJSON_Delete(a);
	cJSON_Delete(b);
	free(want);
	buf_release(&out);
}

static void test_fixtures(void)
{
	size_t len;
	char *ds = fixture("py/docstore.json", &len);
	if (!ds) {
		ok(0, "fixtures found in %s", fixdir);
		return;
	}
	const char *data;
	size_t dl;
	struct fix_ctx f = { 0 };
	ok(!span(ds, len, "docstore/data", &data, &dl) &&
		   !json_text_members(data, dl, fix_node, &f),
	   "fixture docstore/data scanned");
	is_int(f.n, 12, "12 fixture nodes");
	is_int(f.same_tc, 12, "transcoded nodes are byte-identical");
	is_int(f.same_cjson, 12, "cJSON -> Python writer gives the fixture bytes");
	is_int(f.same_compact, 12, "compact (as stored) -> transcode gives the fixture bytes");
	char *s = tc(JSON_PY, ds);
	ok(s && !strcmp(s, ds), "the whole fixture docstore.json transcodes to itself");
	free(s);
	free(ds);
	const char *names[] = { "py/index_store.json", "py/default__vector_store.json",
				"py/graph_store.json", "ts/vector_store.json" };
	for (int i = 0; i < 4; i++) {
		char *p = fixture(names[i], &len);
		enum json_dialect d = i == 3 ? JSON_JS : JSON_PY;
		s = p ? tc(d, p) : NULL;
		ok(s && !strcmp(s, p), "%s transcodes to itself", names[i]);
		free(s);
		free(p);
	}

	uint32_t dim = 0;
	struct state *st = fixture_state(&dim);
	ok(st && dim == 64, "fixture state (dim %u)", dim);
	if (!st)
		return;
	cmp_file(st, dim, PERSIST_PY_VECTORS, "py/default__vector_store.json");
	cmp_file(st, dim, PERSIST_PY_INDEX, "py/index_store.json");
	cmp_file(st, dim, PERSIST_PY_IMAGE_VECTORS, "py/image__vector_store.json");
	cmp_file(st, dim, PERSIST_PY_GRAPH, "py/graph_store.json");
	cmp_member(st, dim, PERSIST_PY_DOCSTORE, "py/docstore.json", "docstore/data");
	cmp_member(st, dim, PERSIST_PY_DOCSTORE, "py/docstore.json", "docstore/ref_doc_info");
	cmp_file(st, dim, PERSIST_TS_VECTORS, "ts/vector_store.json");
	cmp_ts_nodes(st, dim, PERSIST_TS_INDEX, "ts/index_store.json");
	cmp_ts_nodes(st, dim, PERSIST_TS_DOCSTORE, "ts/doc_store.json");
	cmp_member(st, dim, PERSIST_TS_DOCSTORE, "ts/doc_store.json", "docstore/ref_doc_info");

	/* docstore/metadata: same entries (the fixture's order is not sorted) */
	struct buf out = BUF_INIT;
	char *want = fixture("py/docstore.json", &len);
	persist_render_buf(st, "fixture-index", dim, PERSIST_PY_DOCSTORE, &out);
	cJSON *a = cJSON_Parse(out.data), *b = cJSON_Parse(want);
	ok(cJSON_Compare(at(a, "docstore/metadata"), at(b, "docstore/metadata"), 1),
	   "py docstore/metadata equal as JSON");
	cJSON_Delete(a);
	cJSON_Delete(b);
	free(want);
	buf_release(&out);
	want = fixture("ts/doc_store.json", &len);
	persist_render_buf(st, "fixture-index", dim, PERSIST_TS_DOCSTORE, &out);
	a = cJSON_Parse(out.data);
	b = cJSON_Parse(want);
	ok(cJSON_Compare(at(a, "docstore/metadata"), at(b, "docstore/metadata"), 1),
	   "ts docstore/metadata equal as JSON (TS hashes recomputed)");
	cJSON_Delete(a);
	cJSON_Delete(b);
	free(want);
	buf_release(&out);
	state_free(st);
}

/* PERSIST_DUMP=dir: write the rendered files of the fixture state (dir/fix)
 * and of the small state (dir/small) for tests/persist_py_check.py. */
static void dump(const struct state *st, const char *id, uint32_t dim, const char *dir)
{
	char p[4200];
	for (int f = 0; f < PERSIST_NFILES; f++) {
		struct buf out = BUF_INIT;
		snprintf(p, sizeof(p), "%s%s/%s", dir, persist_file_is_ts(f) ? "-ts" : "",
			 persist_file_name(f));
		FILE *fp = fopen(p, "wb");
		if (fp && !persist_render_buf(st, id, dim, f, &out))
			fwrite(out.data, 1, out.len, fp);
		if (fp)
			fclose(fp);
		buf_release(&out);
	}
}

static void dump_all(const char *dir)
{
	char p[4200];
	uint32_t dim;
	struct state *st = fixture_state(&dim);
	snprintf(p, sizeof(p), "%s/fix", dir);
	if (st)
		dump(st, "fixture-index", dim, p);
	state_free(st);
	st = small_state();
	snprintf(p, sizeof(p), "%s/small", dir);
	if (st)
		dump(st, "idx0", DIM, p);
	state_free(st);
}

static int apply_op(void *ctx, uint64_t seq, const struct frame_op *op)
{
	(void)seq;
	return state_apply(ctx, op);
}

/* Export order is first-put order, and a compaction snapshot keeps it; an
 * empty docstore has its collections in a real file's order. */
static void test_order(void)
{
	struct state *st = NULL, *copy = NULL;
	struct buf out = BUF_INIT, snap = BUF_INIT;
	if (state_new(DIM, &st) || state_new(DIM, &copy)) {
		ok(0, "states");
		goto done;
	}
	persist_render_buf(st, "i", DIM, PERSIST_PY_DOCSTORE, &out);
	ok(out.data && !strcmp(out.data, "{\"docstore/metadata\": {}, \"docstore/ref_doc_info\": {}, "
					  "\"docstore/data\": {}}"),
	   "an empty docstore.json: metadata, ref_doc_info, data");
	puts_(st, COLL_DOCMETA, "zeta", "{\"doc_hash\":\"1\"}");
	puts_(st, COLL_DOCMETA, "alpha", "{\"doc_hash\":\"2\"}");
	puts_(st, COLL_DOCMETA, "mid", "{\"doc_hash\":\"3\"}");
	puts_(st, COLL_DOCMETA, "zeta", "{\"doc_hash\":\"4\"}"); /* keeps its place */
	struct frame_op del = { .type = FRAME_DEL, .coll = COLL_DOCMETA, .coll_len = strlen(COLL_DOCMETA),
				.key = "mid", .key_len = 3 };
	state_apply(st, &del);
	puts_(st, COLL_DOCMETA, "mid", "{\"doc_hash\":\"5\"}"); /* deleted: goes last */
	uint64_t seq = 1;
	size_t used, n;
	int rc = state_snapshot(st, &seq, &snap, 0);
	for (size_t off = 0; !rc && off < snap.len; off += used)
		rc = frame_decode(snap.data + off, snap.len - off, &used, &seq, apply_op, copy);
	const char **a = state_keys_in_order(st, COLL_DOCMETA, &n);
	ok(n == 3 && a && !strcmp(a[0], "zeta") && !strcmp(a[1], "alpha") && !strcmp(a[2], "mid"),
	   "keys in first-put order; an overwrite keeps its place, a re-put after a delete goes last");
	free(a);
	a = state_keys_in_order(copy, COLL_DOCMETA, &n);
	ok(!rc && n == 3 && a && !strcmp(a[0], "zeta") && !strcmp(a[1], "alpha") && !strcmp(a[2], "mid"),
	   "a snapshot replays in the same order");
	free(a);
	buf_reset(&out);
	persist_render_buf(copy, "i", DIM, PERSIST_PY_DOCSTORE, &out);
	ok(out.data && !strncmp(out.data, "{\"docstore/metadata\": {\"zeta\": {\"doc_hash\": \"4\"}, \"alpha\"", 54),
	   "docstore.json lists them in that order");
done:
	state_free(st);
	state_free(copy);
	buf_release(&out);
	buf_release(&snap);
}

int main(int argc, char **argv)
{
	fixture_dir("persist");
	test_numbers();
	test_strings();
	test_shortest_f32();
	test_transcode();
	test_cjson_writer();
	test_render_small();
	test_order();
	test_fixtures();
	if (getenv("PERSIST_DUMP"))
		dump_all(getenv("PERSIST_DUMP"));
	return tap_done();
}
