/* Unit tests: store/filter_index.c - the metadata index over vector rows.
 *
 * A state is built and mutated through state_apply (nodes with metadata,
 * vectors added, replaced and removed so rows move, metadata rewritten,
 * nodes deleted). After every round the index's cross references must hold
 * (fidx_check); for many filters its candidate bitmap must hold every row
 * the filter matches (brute force with filter_match), and exactly those
 * rows when the filter is all "=="/"in" and ranges with a number bound;
 * and query_run with those filters (the sparse row walk, the masked scan,
 * MMR) must return exactly the brute-force top k.
 *
 * Then ranges on an index alone, beside a model of its rows' metadata:
 * every operator on keys holding ints, fractions, -0, NaN, +-inf, 1e300,
 * booleans, strings, lists, null, objects and duplicates, over number,
 * boolean, string, NaN and infinite bounds, and filters that look like
 * ranges on numbers but are not; rows appended, their metadata changed,
 * rows removed (the last moves into the hole), checked after every batch.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/buf.h"
#include "store/filter.h"
#include "store/filter_index.h"
#include "store/jsonutil.h"
#include "store/query.h"
#include "store/state.h"
#include "tests/tap.h"

#define DIM 24
#define NODES 4000

#define VECTEST_SEED 0xda942042e4dd58b5ULL
#include "tests/vectest.h"

static void op(struct state *st, int type, const char *coll, const char *key, const void *val,
	       size_t len)
{
	struct frame_op o = { .type = (uint8_t)type, .coll = coll, .coll_len = strlen(coll),
			      .key = key, .key_len = strlen(key), .val = val, .val_len = len };
	state_apply(st, &o);
}

static const char *colors[] = { "red", "green", "blue", "Red", "" };

/* A node whose metadata exercises the index's rules. */
static void put_node(struct state *st, const char *id)
{
	struct buf b = BUF_INIT;
	uint32_t r = rng();
	buf_addf(&b, "{\"id_\": \"%s\", \"text\": \"t\", \"metadata\": {", id);
	buf_addf(&b, "\"color\": \"%s\"", colors[r % 5]);
	switch (r / 5 % 4) { /* n: int, the same as float, a bool, or a string */
	case 0:
		buf_addf(&b, ", \"n\": %u", rng() % 10);
		break;
	case 1:
		buf_addf(&b, ", \"n\": %u.0", rng() % 10);
		break;
	case 2:
		buf_addf(&b, ", \"n\": %s", rng() % 2 ? "true" : "false");
		break;
	default:
		buf_addf(&b, ", \"n\": \"%u\"", rng() % 10);
	}
	if (rng() % 100 == 0)
		buf_adds(&b, ", \"tag\": \"rare\"");
	if (rng() % 7 == 0)
		buf_adds(&b, ", \"color\": \"shadowed\""); /* a duplicate key: the first counts */
	if (rng() % 5 == 0)
		buf_adds(&b, ", \"z\": -0.0");
	if (rng() % 3 == 0)
		buf_addf(&b, ", \"list\": [\"red\", %u]", rng() % 3);
	if (rng() % 9 == 0) {
		buf_adds(&b, ", \"long\": \"");
		for (int i = 0; i < 300; i++)
			buf_addc(&b, 'x');
		buf_adds(&b, "\"");
	}
	if (rng() % 11 == 0)
		buf_adds(&b, ", \"nul\": null");
	switch (rng() % 8) { /* x: for ranges, negative and fractional */
	case 0:
		break;
	case 1:
		buf_addf(&b, ", \"x\": \"%d\"", (int)(rng() % 9) - 4);
		break;
	case 2:
		buf_addf(&b, ", \"x\": %s", rng() % 2 ? "-0.0" : "0");
		break;
	default:
		buf_addf(&b, ", \"x\": %g", ((int)(rng() % 81) - 40) / 4.0);
	}
	buf_adds(&b, "}}");
	op(st, FRAME_PUT, COLL_NODES, id, b.data, b.len);
	buf_release(&b);
}

static void put_vec(struct state *st, const char *id)
{
	float v[DIM];
	for (int d = 0; d < DIM; d++)
		v[d] = frand();
	if (rng() % 50 == 0) /* exact ties between nodes */
		for (int d = 0; d < DIM; d++)
			v[d] = (float)(d % 3) - 1;
	op(st, FRAME_PUT, COLL_VECS, id, v, sizeof(v));
}

static void mutate(struct state *st, int rounds)
{
	char id[32];
	for (int i = 0; i < rounds; i++) {
		snprintf(id, sizeof(id), "n%04u", rng() % NODES);
		switch (rng() % 6) {
		case 0: /* rows move: the last fills the hole */
			op(st, FRAME_DEL, COLL_VECS, id, NULL, 0);
			break;
		case 1:
			op(st, FRAME_DEL, COLL_NODES, id, NULL, 0);
			break;
		case 2:
		case 3:
			put_node(st, id);
			break;
		default:
			put_vec(st, id);
		}
	}
}

/* exact: the candidates must be exactly the matching rows (ranges with a
 * number bound; all-==/in filters are found by all_indexed). */
static const struct {
	const char *json;
	int exact;
} filters[] = {
	{ "[{\"key\": \"color\", \"value\": \"red\"}]", 0 },
	{ "[{\"key\": \"tag\", \"value\": \"rare\"}]", 0 },
	{ "[{\"key\": \"n\", \"value\": 1}]", 0 },			/* 1, 1.0 and true */
	{ "[{\"key\": \"n\", \"value\": true}]", 0 },
	{ "[{\"key\": \"n\", \"value\": \"3\"}]", 0 },
	{ "[{\"key\": \"z\", \"value\": 0}]", 0 },			/* -0.0 == 0 */
	{ "[{\"key\": \"color\", \"value\": \"\"}]", 0 },
	{ "[{\"key\": \"color\", \"value\": \"shadowed\"}]", 0 },	/* never the first */
	{ "[{\"key\": \"n\", \"operator\": \"in\", \"value\": [0, 2.0, \"5\", false]}]", 0 },
	{ "{\"filters\": [{\"key\": \"color\", \"value\": \"red\"}, {\"key\": \"n\", \"value\": 4}],"
	" \"condition\": \"and\"}", 0 },
	{ "{\"filters\": [{\"key\": \"color\", \"value\": \"blue\"}, {\"key\": \"tag\", \"value\":"
	" \"rare\"}], \"condition\": \"or\"}", 0 },
	{ "{\"filters\": [{\"key\": \"tag\", \"value\": \"rare\"}, {\"key\": \"n\", \"operator\": "
	"\">\", \"value\": 4}], \"condition\": \"and\"}", 1 },		/* == and a range */
	{ "{\"filters\": [{\"key\": \"color\", \"value\": \"red\"}, {\"key\": \"n\", \"operator\": "
	"\"<\", \"value\": 3}], \"condition\": \"or\"}", 1 },		/* == or a range */
	{ "{\"filters\": [{\"filters\": [{\"key\": \"color\", \"value\": \"green\"}, {\"key\": \"n\","
	" \"value\": 2}], \"condition\": \"or\"}, {\"key\": \"color\", \"operator\": \"!=\", "
	"\"value\": \"red\"}], \"condition\": \"and\"}", 0 },
	{ "[{\"key\": \"list\", \"value\": [\"red\", 1]}]", 0 },	/* a list value: not indexed */
	{ "[{\"key\": \"list\", \"operator\": \"contains\", \"value\": \"red\"}]", 0 },
	{ "[{\"key\": \"long\", \"operator\": \"text_match\", \"value\": \"xx\"}]", 0 },
	{ "[{\"key\": \"nul\", \"operator\": \"is_empty\"}]", 0 },
	{ "{\"filters\": [], \"condition\": \"or\"}", 0 },
	{ "[{\"key\": \"missing\", \"value\": 1}]", 0 },
	/* ranges: n holds ints, the same as floats, booleans and strings */
	{ "[{\"key\": \"n\", \"operator\": \">\", \"value\": 4}]", 1 },
	{ "[{\"key\": \"n\", \"operator\": \">=\", \"value\": 4.0}]", 1 },
	{ "[{\"key\": \"n\", \"operator\": \"<\", \"value\": 1}]", 1 },	/* false too */
	{ "[{\"key\": \"n\", \"operator\": \"<=\", \"value\": true}]", 1 },
	{ "[{\"key\": \"n\", \"operator\": \">=\", \"value\": \"5\"}]", 0 },	/* strings */
	{ "[{\"key\": \"x\", \"operator\": \">=\", \"value\": -2.5}]", 1 },
	{ "[{\"key\": \"x\", \"operator\": \"<\", \"value\": -0.0}]", 1 },
	{ "[{\"key\": \"x\", \"operator\": \"<=\", \"value\": 0}]", 1 },
	{ "[{\"key\": \"x\", \"operator\": \">\", \"value\": 1}, {\"key\": \"x\", \"operator\": "
	  "\"<=\", \"value\": 7.25}]", 1 },					/* one pass */
	{ "[{\"key\": \"x\", \"operator\": \">=\", \"value\": 2}, {\"key\": \"x\", \"operator\": "
	  "\"<=\", \"value\": 2}, {\"key\": \"n\", \"operator\": \">\", \"value\": 0}]", 1 },
	{ "[{\"key\": \"x\", \"operator\": \">\", \"value\": 3}, {\"key\": \"x\", \"operator\": "
	  "\"!=\", \"value\": 4}, {\"key\": \"color\", \"value\": \"red\"}]", 0 },
	{ "{\"filters\": [{\"key\": \"x\", \"operator\": \"<\", \"value\": -9}, {\"key\": \"n\", "
	  "\"operator\": \">=\", \"value\": 8}], \"condition\": \"or\"}", 1 },
	{ "{\"filters\": [{\"key\": \"x\", \"operator\": \"<\", \"value\": -9}, {\"key\": \"x\", "
	  "\"operator\": \"!=\", \"value\": 1}], \"condition\": \"or\"}", 0 },	/* unrestricted */
	{ "{\"filters\": [{\"filters\": [{\"key\": \"x\", \"operator\": \">\", \"value\": 1.5}, "
	  "{\"key\": \"x\", \"operator\": \"<\", \"value\": 2.5}]}, {\"key\": \"tag\", \"value\": "
	  "\"rare\"}], \"condition\": \"or\"}", 1 },
	{ "[{\"key\": \"color\", \"operator\": \">\", \"value\": 0}]", 1 },	/* no numbers: none */
	{ "[{\"key\": \"list\", \"operator\": \"<\", \"value\": 9}]", 1 },	/* lists: none */
	{ "[{\"key\": \"missing\", \"operator\": \">=\", \"value\": -1}]", 1 },
	{ "[{\"key\": \"z\", \"operator\": \">=\", \"value\": 0}]", 1 },		/* -0.0 >= 0 */
};
#define NFILTERS (sizeof(filters) / sizeof(filters[0]))

/* 1 when every leaf is ==/in with an indexable scalar: the bitmap is exact. */
static int all_indexed(const struct filter *f)
{
	enum filter_shape sh = filter_shape(f);
	if (sh == FILTER_EQ || sh == FILTER_IN)
		return 1;
	if (sh == FILTER_OTHER || !filter_nkids(f))
		return 0;
	for (size_t i = 0; i < filter_nkids(f); i++)
		if (!all_indexed(filter_kid(f, i)))
			return 0;
	return 1;
}

static void check_candidates(const struct state *st, int round)
{
	const struct vecindex *vi = state_vectors(st);
	size_t n = vecindex_count(vi);
	int superset = 1, exact = 1, counted = 1, restricted = 0;
	for (size_t fi = 0; fi < NFILTERS; fi++) {
		cJSON *j = json_parse(filters[fi].json, strlen(filters[fi].json));
		struct filter *f;
		char err[200];
		if (filter_parse(j, &f, err, sizeof(err))) {
			diag("filter %zu: %s", fi, err);
			superset = 0;
			cJSON_Delete(j);
			continue;
		}
		uint64_t *bits;
		size_t count;
		fidx_candidates(state_filter_index(st), f, n, &bits, &count);
		int want_exact = filters[fi].exact || all_indexed(f);
		size_t pop = 0;
		if (want_exact && !bits) {
			diag("round %d filter %zu: not restricted", round, fi);
			exact = 0;
		}
		for (size_t r = 0; r < n; r++) {
			int match = filter_match(f, state_node_meta(st, vecindex_id(vi, r)));
			int in = !bits || (bits[r >> 6] >> (r & 63) & 1);
			pop += in;
			if (match && !in) {
				diag("round %d filter %zu: row %zu matches but is no candidate",
				     round, fi, r);
				superset = 0;
			}
			if (bits && want_exact && match != in) {
				if (exact)
					diag("round %d filter %zu: row %zu: match %d, candidate %d",
					     round, fi, r, match, in);
				exact = 0;
			}
		}
		if (pop != count)
			counted = 0;
		restricted += bits != NULL;
		free(bits);
		filter_free(f);
		cJSON_Delete(j);
	}
	ok(superset, "round %d (%zu rows): every matching row is a candidate", round, n);
	ok(exact, "round %d: ==/in and number range filters get exactly their rows", round);
	ok(counted, "round %d: counts equal the bitmaps' bits", round);
	ok(restricted >= 31, "round %d: %d of %zu filters answered by the index", round,
	   restricted, NFILTERS);
}

/* ---- query_run against a brute force ---- */

static void check_queries(const struct state *st, int round)
{
	const struct vecindex *vi = state_vectors(st);
	size_t n = vecindex_count(vi);
	struct ref *ref = malloc((n ? n : 1) * sizeof(*ref));
	int good = 1, runs = 0;
	for (size_t fi = 0; fi < NFILTERS; fi++) {
		for (int variant = 0; variant < 3; variant++) {
			float q[DIM];
			struct buf req = BUF_INIT;
			for (int d = 0; d < DIM; d++)
				q[d] = variant == 2 ? (float)(d % 3) - 1 : frand(); /* 2: the ties */
			buf_adds(&req, "{\"embedding\": [");
			for (int d = 0; d < DIM; d++)
				buf_addf(&req, "%s%.9g", d ? ", " : "", q[d]);
			buf_addf(&req, "], \"top_k\": %d, \"filters\": %s%s}", 7 + variant * 10,
				 filters[fi].json, variant == 1 ? ", \"node_ids\": [\"n0001\", \"n0002\","
				 " \"n0100\", \"n0200\", \"n0300\", \"n3999\", \"nope\"]" : "");
			struct query_req qr;
			char err[200];
			if (query_parse(req.data, req.len, 5, &qr, err, sizeof(err))) {
				diag("parse: %s", err);
				good = 0;
				buf_release(&req);
				continue;
			}
			struct query_result res;
			int rc = query_run(st, &qr, q, &res);
			size_t m = 0;
			for (size_t r = 0; r < n; r++) {
				const char *id = vecindex_id(vi, r);
				if (!filter_match(qr.filter, state_node_meta(st, id)) ||
				    (qr.node_ids && !map_get(qr.node_ids, id)))
					continue;
				ref[m].score = ref_score(vecindex_row(vi, r), q, DIM);
				ref[m++].id = id;
			}
			qsort(ref, m, sizeof(*ref), cmp_ref);
			size_t want = m < qr.top_k ? m : qr.top_k;
			int g = rc == 0 && res.n == want;
			for (size_t i = 0; g && i < want; i++)
				g = res.hits[i].score == ref[i].score &&
				    !strcmp(res.hits[i].node_id, ref[i].id);
			if (!g) {
				diag("round %d filter %zu variant %d: %zu hits, want %zu", round, fi,
				     variant, res.n, want);
				good = 0;
			}
			runs++;
			query_result_free(&res);
			query_req_free(&qr);
			buf_release(&req);
		}
	}
	ok(good, "round %d: %d filtered queries equal the brute-force top k", round, runs);
	free(ref);
}

/* MMR with an indexed filter picks the same as MMR with the plain filter. */
static void check_mmr(const struct state *st)
{
	const char *with = "{\"embedding\": [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,"
			   " 0, 0, 0, 0, 0, 1], \"mode\": \"mmr\", \"top_k\": 6, \"filters\": "
			   "[{\"key\": \"color\", \"value\": \"blue\"}]}";
	const char *plain = "{\"embedding\": [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,"
			    " 0, 0, 0, 0, 0, 1], \"mode\": \"mmr\", \"top_k\": 6, \"filters\": "
			    "[{\"key\": \"color\", \"operator\": \"text_match\", \"value\": \"blue\"}]}";
	struct query_req a, b;
	struct query_result ra, rb;
	char err[200];
	float q[DIM] = { 1 };
	q[DIM - 1] = 1;
	query_parse(with, strlen(with), 5, &a, err, sizeof(err));
	query_parse(plain, strlen(plain), 5, &b, err, sizeof(err));
	query_run(st, &a, q, &ra);
	query_run(st, &b, q, &rb);
	int g = ra.n == rb.n && ra.n == 6;
	for (size_t i = 0; g && i < ra.n; i++)
		g = !strcmp(ra.hits[i].node_id, rb.hits[i].node_id) &&
		    ra.hits[i].score == rb.hits[i].score;
	ok(g, "mmr: the indexed filter picks what the scanned filter picks (%zu)", ra.n);
	query_result_free(&ra);
	query_result_free(&rb);
	query_req_free(&a);
	query_req_free(&b);
}

/* ---- ranges on the index alone, with values JSON text cannot spell ---- */

static char longkey[FIDX_MAX_KEY + 2];	/* one byte too long to index */

/* A number cJSON holds as is (cJSON_CreateNumber casts NaN to int). */
static cJSON *number(double v)
{
	cJSON *j = cJSON_CreateNumber(0);
	j->valuedouble = v;
	return j;
}

static const double edges[] = { -3, -2.5, -1, -0.0, 0, 0.5, 1, 2, 2.5, 3, 7, 1e300, -1e300,
				DBL_MAX, -DBL_MAX, INFINITY, -INFINITY, NAN };
#define NEDGES (sizeof(edges) / sizeof(edges[0]))

/* A value under a range key: numbers (edges, quarters from -5 to 5),
 * booleans, strings, a list, null, an object. */
static cJSON *rvalue(void)
{
	cJSON *l;
	switch (rng() % 12) {
	case 0:
		return cJSON_CreateBool(rng() % 2);
	case 1:
		return cJSON_CreateString(rng() % 2 ? "2" : "b");
	case 2:
		l = cJSON_CreateArray();
		cJSON_AddItemToArray(l, number(2));
		return l;
	case 3:
		return cJSON_CreateNull();
	case 4:
		return cJSON_CreateObject();
	case 5:
	case 6:
		return number(edges[rng() % NEDGES]);
	default:
		return number(((int)(rng() % 41) - 20) / 4.0);
	}
}

/* Row metadata: "r" mixed, "f" negative fractions, "s" strings only, the
 * long key numbers; sometimes none at all, sometimes "r" twice. */
static cJSON *rmeta(void)
{
	if (rng() % 20 == 0)
		return NULL;
	cJSON *m = cJSON_CreateObject();
	if (rng() % 6)
		cJSON_AddItemToObject(m, "r", rvalue());
	if (rng() % 10 == 0)
		cJSON_AddItemToObject(m, "r", number(5)); /* a duplicate: the first counts */
	if (rng() % 3 == 0)
		cJSON_AddItemToObject(m, "f", number(-(double)(rng() % 1000) / 7));
	if (rng() % 4 == 0)
		cJSON_AddStringToObject(m, "s", rng() % 2 ? "a" : "b");
	if (rng() % 5 == 0)
		cJSON_AddItemToObject(m, longkey, number(rng() % 3));
	return m;
}

struct rfilter {
	struct filter *f;
	int exact;	/* restricted, and to exactly its rows */
};

static const char *const range_groups[] = {
	"[{\"key\": \"r\", \"operator\": \">=\", \"value\": -1}, {\"key\": \"r\", \"operator\": "
	"\"<=\", \"value\": 2.5}]",
	"[{\"key\": \"r\", \"operator\": \">\", \"value\": 0}, {\"key\": \"r\", \"operator\": "
	"\"<\", \"value\": 0}]",
	"[{\"key\": \"r\", \"operator\": \">=\", \"value\": 1}, {\"key\": \"f\", \"operator\": "
	"\"<\", \"value\": -10}]",
	"[{\"key\": \"r\", \"operator\": \">=\", \"value\": 2}, {\"key\": \"r\", \"operator\": "
	"\"in\", \"value\": [2, 3, \"2\", true]}]",
	"{\"filters\": [{\"key\": \"r\", \"operator\": \"<\", \"value\": 0}, {\"key\": \"s\", "
	"\"value\": \"a\"}], \"condition\": \"or\"}",
	"{\"filters\": [{\"key\": \"r\", \"operator\": \"<\", \"value\": 0}, {\"key\": \"r\", "
	"\"value\": 2}], \"condition\": \"or\"}",
	"[{\"key\": \"r\", \"operator\": \">\", \"value\": 1}, {\"filters\": [{\"key\": \"r\", "
	"\"operator\": \"<\", \"value\": 3}, {\"key\": \"f\", \"operator\": \">\", \"value\": -5}], "
	"\"condition\": \"or\"}]",
};

static const char *const lookalikes[] = {
	"[{\"key\": \"r\", \"operator\": \"nin\", \"value\": [2, 2.0000000000000004, 1e999]}]",
	"[{\"key\": \"r\", \"operator\": \"nin\", \"value\": [-1e999, 1.9999999999999998, 2]}]",
	"[{\"key\": \"r\", \"operator\": \"!=\", \"value\": 2}]",
	"[{\"key\": \"r\", \"operator\": \"!=\", \"value\": [2]}]",
	"[{\"key\": \"r\", \"value\": [2]}]",
	"[{\"key\": \"r\", \"operator\": \"contains\", \"value\": 2}]",
	"[{\"key\": \"r\", \"operator\": \"any\", \"value\": [2, 3]}]",
	"[{\"key\": \"r\", \"operator\": \"all\", \"value\": [2]}]",
	"[{\"key\": \"r\", \"operator\": \"all\", \"value\": []}]",
	"[{\"key\": \"r\", \"operator\": \"is_empty\"}]",
	"[{\"key\": \"s\", \"operator\": \"text_match\", \"value\": \"A\"}]",
	"[{\"key\": \"r\", \"operator\": \">=\", \"value\": 1}, {\"key\": \"r\", "
	"\"operator\": \"!=\", \"value\": 2}]",
};

/* Every operator on every key over bounds of each kind, and groups. */
static size_t make_rfilters(struct rfilter *out)
{
	static const char *ops[] = { ">", ">=", "<", "<=" };
	const char *keys[] = { "r", "f", "s", "missing", longkey };
	size_t n = 0;
	char err[200];
	for (size_t k = 0; k < 5; k++)
		for (size_t o = 0; o < 4; o++)
			for (size_t b = 0; b < NEDGES + 3; b++) {
				cJSON *leaf = cJSON_CreateObject();
				int num = 1;
				cJSON_AddStringToObject(leaf, "key", keys[k]);
				cJSON_AddStringToObject(leaf, "operator", ops[o]);
				if (b < NEDGES) {
					cJSON_AddItemToObject(leaf, "value", number(edges[b]));
					num = isfinite(edges[b]);
				} else if (b == NEDGES + 2) {
					cJSON_AddStringToObject(leaf, "value", "2");
					num = 0;
				} else {
					cJSON_AddBoolToObject(leaf, "value", b == NEDGES);
				}
				filter_parse(leaf, &out[n].f, err, sizeof(err));
				out[n++].exact = num && k < 4;
				cJSON_Delete(leaf);
			}
	for (size_t g = 0; g < sizeof(range_groups) / sizeof(range_groups[0]); g++) {
		cJSON *j = json_parse(range_groups[g], strlen(range_groups[g]));
		filter_parse(j, &out[n].f, err, sizeof(err));
		out[n++].exact = 1;
		cJSON_Delete(j);
	}
	/* Not ranges, though some look alike (the first nin answers every
	 * number probe as "< 2" would: true below 2 and at -inf, false at 2,
	 * just above and at +inf, 1e999 being inf; but it is true on 3): the
	 * index must not take them for ranges. "!=" restricts nothing, so an
	 * "and" is narrowed by its range only. */
	for (size_t g = 0; g < sizeof(lookalikes) / sizeof(lookalikes[0]); g++) {
		cJSON *j = json_parse(lookalikes[g], strlen(lookalikes[g]));
		filter_parse(j, &out[n].f, err, sizeof(err));
		out[n++].exact = 0;
		cJSON_Delete(j);
	}
	return n;
}

static void check_ranges(const struct fidx *fx, cJSON **meta, size_t n, const struct rfilter *rf,
			 size_t nrf, int round)
{
	int superset = 1, exact = 1, counted = 1;
	size_t restricted = 0, nexact = 0;
	char err[200];
	int rc = fidx_check(fx, err, sizeof(err));
	ok(rc == 0, "ranges round %d (%zu rows): cross references hold%s%s", round, n,
	   rc ? ": " : "", rc ? err : "");
	for (size_t i = 0; i < nrf; i++) {
		uint64_t *bits;
		size_t count, pop = 0;
		if (!rf[i].f || fidx_candidates(fx, rf[i].f, n, &bits, &count)) {
			superset = 0;
			continue;
		}
		if (rf[i].exact && !bits) {
			diag("ranges round %d filter %zu: not restricted", round, i);
			exact = 0;
		}
		int said = 0;	/* one line per filter */
		for (size_t r = 0; r < n; r++) {
			int match = filter_match(rf[i].f, meta[r]);
			int in = !bits || (bits[r >> 6] >> (r & 63) & 1);
			pop += in;
			if (match && !in) {
				if (!said++)
					diag("ranges round %d filter %zu: row %zu matches, no "
					     "candidate", round, i, r);
				superset = 0;
			}
			if (bits && rf[i].exact && match != in) {
				if (!said++)
					diag("ranges round %d filter %zu: row %zu is a candidate, "
					     "no match", round, i, r);
				exact = 0;
			}
		}
		counted &= pop == count;
		restricted += bits != NULL;
		nexact += rf[i].exact;
		free(bits);
	}
	ok(superset, "ranges round %d: every matching row is a candidate (%zu filters, %zu "
	   "restricted)", round, nrf, restricted);
	ok(exact, "ranges round %d: %zu filters with number bounds get exactly their rows", round,
	   nexact);
	ok(counted, "ranges round %d: counts equal the bitmaps' bits", round);
}

/* A model of the rows' metadata beside an index: rows appended, their
 * metadata changed (or dropped), rows removed with the last moving into the
 * hole; the candidates checked against filter_match on every row. */
static void check_range_index(void)
{
	struct fidx *fx;
	size_t cap = 4096, n = 0, nrf;
	cJSON **meta = calloc(cap, sizeof(*meta));
	struct rfilter *rf = calloc(5 * 4 * (NEDGES + 3) + 32, sizeof(*rf));
	memset(longkey, 'k', FIDX_MAX_KEY + 1);
	nrf = make_rfilters(rf);
	fidx_new(&fx);
	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < (round ? 400 : 1500); i++) {
			uint32_t what = n && round ? rng() % 20 : 0;
			size_t r = n ? rng() % n : 0;
			if (what < 9 && n < cap) { /* append */
				meta[n] = rmeta();
				fidx_set_row(fx, n, meta[n]);
				n++;
			} else if (what < 14) { /* new metadata for a row */
				cJSON_Delete(meta[r]);
				meta[r] = what == 13 ? NULL : rmeta();
				fidx_set_row(fx, r, meta[r]);
			} else { /* remove: the last row moves into the hole */
				fidx_remove_row(fx, r, n - 1);
				cJSON_Delete(meta[r]);
				meta[r] = meta[n - 1];
				meta[--n] = NULL;
			}
		}
		check_ranges(fx, meta, n, rf, nrf, round);
	}
	while (n) {
		size_t r = rng() % n;
		fidx_remove_row(fx, r, n - 1);
		cJSON_Delete(meta[r]);
		meta[r] = meta[n - 1];
		meta[--n] = NULL;
	}
	size_t postings, entries, rows;
	char err[200];
	fidx_counts(fx, &postings, &entries, &rows);
	ok(postings == 0 && entries == 0 && rows == 0 && !fidx_check(fx, err, sizeof(err)),
	   "ranges: every row removed, the index is empty");
	fidx_free(fx);
	for (size_t i = 0; i < nrf; i++)
		filter_free(rf[i].f);
	free(rf);
	free(meta);
}

/* A range over many values that holds on most rows restricts nothing (its
 * bitmap would cost a good part of the scan it cannot shorten); selective
 * ranges on the same key, and dense ones over few values, restrict. */
static void check_dense_ranges(void)
{
	static const struct {
		const char *json;
		size_t rows;	/* 0: no restriction */
	} cases[] = {
		{ "[{\"key\": \"u\", \"operator\": \">=\", \"value\": 0}]", 0 },
		{ "[{\"key\": \"u\", \"operator\": \"<\", \"value\": 400}]", 400 },
		{ "[{\"key\": \"u\", \"operator\": \">=\", \"value\": 20000}, {\"key\": \"u\", "
		  "\"operator\": \"<\", \"value\": 20400}]", 400 },
		{ "[{\"key\": \"u\", \"operator\": \">=\", \"value\": 0}, {\"key\": \"b\", "
		  "\"value\": 7}]", 400 },
		{ "[{\"key\": \"b\", \"operator\": \">=\", \"value\": 7}]", 37200 },
	};
	struct fidx *fx;
	size_t n = 40000, good = 0;
	char err[200];
	fidx_new(&fx);
	for (size_t i = 0; i < n; i++) {
		cJSON *m = cJSON_CreateObject();
		cJSON_AddNumberToObject(m, "u", (double)(i * 7919 % n)); /* each row its own */
		cJSON_AddNumberToObject(m, "b", (double)(i % 100));
		fidx_set_row(fx, i, m);
		cJSON_Delete(m);
	}
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		cJSON *j = json_parse(cases[c].json, strlen(cases[c].json));
		struct filter *f;
		uint64_t *bits;
		size_t count;
		filter_parse(j, &f, err, sizeof(err));
		fidx_candidates(fx, f, n, &bits, &count);
		if (cases[c].rows ? bits && count == cases[c].rows : !bits && count == n)
			good++;
		else
			diag("dense case %zu: %s, %zu rows", c, bits ? "restricted" : "unrestricted",
			     count);
		free(bits);
		filter_free(f);
		cJSON_Delete(j);
	}
	ok(good == sizeof(cases) / sizeof(cases[0]) && !fidx_check(fx, err, sizeof(err)),
	   "40000 rows, a number each: a range on most of them restricts nothing, the "
	   "selective ones and one over few values do (%zu of %zu)", good,
	   sizeof(cases) / sizeof(cases[0]));
	fidx_free(fx);
}

int main(void)
{
	struct state *st;
	char id[32], err[200];
	state_new(DIM, &st);
	for (int i = 0; i < NODES; i++) {
		snprintf(id, sizeof(id), "n%04d", i);
		if (i % 13) /* some vectors have no node (no metadata) */
			put_node(st, id);
		if (i % 17) /* some nodes have no vector */
			put_vec(st, id);
	}
	size_t postings, entries, rows;
	fidx_counts(state_filter_index(st), &postings, &entries, &rows);
	ok(rows == vecindex_count(state_vectors(st)) && postings > 20 && entries > rows,
	   "built: %zu rows, %zu postings, %zu entries", rows, postings, entries);
	for (int round = 0; round < 6; round++) {
		int rc = fidx_check(state_filter_index(st), err, sizeof(err));
		ok(rc == 0, "round %d: cross references hold%s%s", round, rc ? ": " : "",
		   rc ? err : "");
		check_candidates(st, round);
		if (round % 2 == 0)
			check_queries(st, round);
		mutate(st, 3000);
	}
	check_mmr(st);
	check_range_index();
	check_dense_ranges();
	/* Remove everything: the index empties. */
	for (int i = 0; i < NODES; i++) {
		snprintf(id, sizeof(id), "n%04d", i);
		op(st, FRAME_DEL, COLL_VECS, id, NULL, 0);
	}
	fidx_counts(state_filter_index(st), &postings, &entries, &rows);
	ok(postings == 0 && entries == 0 && rows == 0 &&
	   !fidx_check(state_filter_index(st), err, sizeof(err)),
	   "every vector removed: no postings, no entries, no rows");
	state_free(st);
	return tap_done();
}
