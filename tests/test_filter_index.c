/* Unit tests: store/filter_index.c - the metadata index over vector rows.
 *
 * A state is built and mutated through state_apply (nodes with metadata,
 * vectors added, replaced and removed so rows move, metadata rewritten,
 * nodes deleted). After every round the index's cross references must hold
 * (fidx_check); for many filters its candidate bitmap must hold every row
 * the filter matches (brute force with filter_match), and exactly those
 * rows when the filter is all "=="/"in"; and query_run with those filters
 * (the sparse row walk, the masked scan, MMR) must return exactly the
 * brute-force top k.
 */
#include <errno.h>
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

static const char *filters[] = {
	"[{\"key\": \"color\", \"value\": \"red\"}]",
	"[{\"key\": \"tag\", \"value\": \"rare\"}]",
	"[{\"key\": \"n\", \"value\": 1}]",			/* 1, 1.0 and true */
	"[{\"key\": \"n\", \"value\": true}]",
	"[{\"key\": \"n\", \"value\": \"3\"}]",
	"[{\"key\": \"z\", \"value\": 0}]",			/* -0.0 == 0 */
	"[{\"key\": \"color\", \"value\": \"\"}]",
	"[{\"key\": \"color\", \"value\": \"shadowed\"}]",	/* never the first */
	"[{\"key\": \"n\", \"operator\": \"in\", \"value\": [0, 2.0, \"5\", false]}]",
	"{\"filters\": [{\"key\": \"color\", \"value\": \"red\"}, {\"key\": \"n\", \"value\": 4}],"
	" \"condition\": \"and\"}",
	"{\"filters\": [{\"key\": \"color\", \"value\": \"blue\"}, {\"key\": \"tag\", \"value\":"
	" \"rare\"}], \"condition\": \"or\"}",
	"{\"filters\": [{\"key\": \"tag\", \"value\": \"rare\"}, {\"key\": \"n\", \"operator\": "
	"\">\", \"value\": 4}], \"condition\": \"and\"}",		/* == narrows a range */
	"{\"filters\": [{\"key\": \"color\", \"value\": \"red\"}, {\"key\": \"n\", \"operator\": "
	"\"<\", \"value\": 3}], \"condition\": \"or\"}",		/* unrestricted branch */
	"{\"filters\": [{\"filters\": [{\"key\": \"color\", \"value\": \"green\"}, {\"key\": \"n\","
	" \"value\": 2}], \"condition\": \"or\"}, {\"key\": \"color\", \"operator\": \"!=\", "
	"\"value\": \"red\"}], \"condition\": \"and\"}",
	"[{\"key\": \"list\", \"value\": [\"red\", 1]}]",	/* a list value: not indexed */
	"[{\"key\": \"list\", \"operator\": \"contains\", \"value\": \"red\"}]",
	"[{\"key\": \"long\", \"operator\": \"text_match\", \"value\": \"xx\"}]",
	"[{\"key\": \"nul\", \"operator\": \"is_empty\"}]",
	"{\"filters\": [], \"condition\": \"or\"}",
	"[{\"key\": \"missing\", \"value\": 1}]",
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
		cJSON *j = json_parse(filters[fi], strlen(filters[fi]));
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
		size_t pop = 0;
		for (size_t r = 0; r < n; r++) {
			int match = filter_match(f, state_node_meta(st, vecindex_id(vi, r)));
			int in = !bits || (bits[r >> 6] >> (r & 63) & 1);
			pop += in;
			if (match && !in) {
				diag("round %d filter %zu: row %zu matches but is no candidate",
				     round, fi, r);
				superset = 0;
			}
			if (bits && all_indexed(f) && match != in)
				exact = 0;
		}
		if (pop != count)
			counted = 0;
		restricted += bits != NULL;
		free(bits);
		filter_free(f);
		cJSON_Delete(j);
	}
	ok(superset, "round %d (%zu rows): every matching row is a candidate", round, n);
	ok(exact, "round %d: ==/in filters get exactly their rows", round);
	ok(counted, "round %d: counts equal the bitmaps' bits", round);
	ok(restricted >= 10, "round %d: %d of %zu filters answered by the index", round,
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
				 filters[fi], variant == 1 ? ", \"node_ids\": [\"n0001\", \"n0002\","
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
