/* Unit tests: query modes text (BM25), mmr and hybrid against brute-force
 * references written the plain way, filtered and unfiltered. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/bm25.h"
#include "store/query.h"
#include "store/state.h"
#include "tests/tap.h"

#define DIM 8
#define NDOCS 60

static const char *words[] = { "alpha", "beta", "gamma", "delta", "fox", "penguin",
			       "river", "stone", "cloud", "pointer" };
static char texts[NDOCS][200];
static float vecs[NDOCS][DIM];
static char ids[NDOCS][16];

static void put(struct state *st, const char *coll, const char *key, const void *val,
		size_t len)
{
	struct frame_op op = { .type = FRAME_PUT, .coll = coll, .coll_len = strlen(coll),
			       .key = key, .key_len = strlen(key), .val = val, .val_len = len };
	state_apply(st, &op);
}

static struct state *build(void)
{
	struct state *st;
	state_new(DIM, &st);
	srand(7);
	for (int i = 0; i < NDOCS; i++) {
		snprintf(ids[i], sizeof(ids[i]), "n%02d", i);
		int nw = 3 + rand() % 8, len = 0;
		for (int w = 0; w < nw; w++)
			len += snprintf(texts[i] + len, sizeof(texts[i]) - (size_t)len, "%s%s",
					w ? " " : "", words[rand() % 10]);
		struct buf json = BUF_INIT;
		buf_addf(&json, "{\"id_\": \"%s\", \"text\": \"%s\", \"metadata\": {\"even\": %s}}",
			 ids[i], texts[i], i % 2 ? "false" : "true");
		put(st, COLL_NODES, ids[i], json.data, json.len);
		buf_release(&json);
		for (int d = 0; d < DIM; d++)
			vecs[i][d] = (float)(rand() % 2000 - 1000) / 1000.0f;
		put(st, COLL_VECS, ids[i], vecs[i], sizeof(vecs[i]));
	}
	return st;
}

/* ---- BM25 the plain way ---- */
struct tcount {
	const char *q;
	int n;
	int len;
};

static void count_q(const char *term, size_t len, void *ctx)
{
	struct tcount *c = ctx;
	(void)len;
	c->len++;
	if (!strcmp(term, c->q))
		c->n++;
}

static double bm25_ref(int doc, const char *query)
{
	char q[200];
	snprintf(q, sizeof(q), "%s", query);
	double avg = 0, score = 0;
	int lens[NDOCS];
	for (int i = 0; i < NDOCS; i++) {
		struct tcount c = { "", 0, 0 };
		bm25_terms(texts[i], count_q, &c);
		lens[i] = c.len;
		avg += c.len;
	}
	avg /= NDOCS;
	const char *seen[16];
	int nseen = 0;
	for (char *tok = strtok(q, " "); tok; tok = strtok(NULL, " ")) {
		int dup = 0;
		for (int s = 0; s < nseen; s++)
			dup |= !strcmp(seen[s], tok);
		if (dup)
			continue;
		seen[nseen++] = tok;
		int df = 0, tf = 0;
		for (int i = 0; i < NDOCS; i++) {
			struct tcount c = { tok, 0, 0 };
			bm25_terms(texts[i], count_q, &c);
			df += c.n > 0;
			if (i == doc)
				tf = c.n;
		}
		double idf = log(1 + (NDOCS - df + 0.5) / (df + 0.5));
		score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * lens[doc] / avg));
	}
	return score;
}

static int run(struct state *st, const char *req, const float *qv, struct query_result *res)
{
	struct query_req q;
	char err[200];
	int rc = query_parse(req, strlen(req), 5, &q, err, sizeof(err));
	if (rc) {
		diag("parse: %s", err);
		return rc;
	}
	rc = query_run(st, &q, qv, res);
	query_req_free(&q);
	return rc;
}

static int idx_of(const char *id)
{
	return atoi(id + 1);
}

static void test_text(struct state *st)
{
	struct query_result res;
	ok(run(st, "{\"query\": \"fox penguin fox\", \"mode\": \"text\", \"top_k\": 10}", NULL,
	       &res) == 0, "text query runs");
	int good = res.n == 10;
	double prev = INFINITY;
	for (size_t i = 0; i < res.n; i++) {
		double want = bm25_ref(idx_of(res.hits[i].node_id), "fox penguin");
		good &= fabs(want - res.hits[i].score) < 1e-4 && res.hits[i].score <= prev;
		prev = res.hits[i].score;
	}
	/* Nothing left out scores higher than the last hit. */
	for (int i = 0; i < NDOCS && res.n; i++) {
		int in = 0;
		for (size_t j = 0; j < res.n; j++)
			in |= idx_of(res.hits[j].node_id) == i;
		if (!in)
			good &= bm25_ref(i, "fox penguin") <= res.hits[res.n - 1].score + 1e-6;
	}
	ok(good, "BM25 scores and order match the plain computation");
	query_result_free(&res);

	ok(run(st, "{\"query\": \"fox\", \"mode\": \"text\", \"top_k\": 50, \"filters\": "
		   "{\"filters\": [{\"key\": \"even\", \"value\": true}]}}", NULL, &res) == 0,
	   "filtered text query runs");
	good = res.n > 0;
	for (size_t i = 0; i < res.n; i++)
		good &= idx_of(res.hits[i].node_id) % 2 == 0 && strstr(res.hits[i].text, "fox");
	ok(good, "filtered text query keeps only matching nodes that contain the word");
	query_result_free(&res);
	ok(run(st, "{\"query\": \"zebra\", \"mode\": \"text\"}", NULL, &res) == 0 && res.n == 0,
	   "a word no node has finds nothing");
	query_result_free(&res);
}

static double cosd(const float *a, const float *b)
{
	double d = 0, na = 0, nb = 0;
	for (int i = 0; i < DIM; i++) {
		d += (double)a[i] * b[i];
		na += (double)a[i] * a[i];
		nb += (double)b[i] * b[i];
	}
	return d / sqrt(na) / sqrt(nb);
}

static void test_mmr(struct state *st, int filtered)
{
	float qv[DIM] = { 1, 0.5f, 0, -0.2f, 0.1f, 0, 0.3f, 0 };
	struct query_result res;
	char req[300];
	snprintf(req, sizeof(req), "{\"embedding\": [1,0.5,0,-0.2,0.1,0,0.3,0], \"mode\": "
		 "\"mmr\", \"top_k\": 6, \"mmr_threshold\": 0.3%s}",
		 filtered ? ", \"filters\": [{\"key\": \"even\", \"value\": false}]" : "");
	ok(run(st, req, qv, &res) == 0 && res.n == 6, "mmr query runs%s",
	   filtered ? " (filtered)" : "");
	/* Reference: LlamaIndex's algorithm over the candidates in id order
	 * (ties cannot happen with these random vectors). */
	int taken[NDOCS] = { 0 }, good = 1;
	double t = 0.3, score = -INFINITY;
	int high = -1;
	for (int i = 0; i < NDOCS; i++) {
		if (filtered && i % 2 == 0)
			continue;
		if (cosd(qv, vecs[i]) * t > score) {
			score = cosd(qv, vecs[i]) * t;
			high = i;
		}
	}
	for (size_t k = 0; k < res.n; k++) {
		good &= idx_of(res.hits[k].node_id) == high && fabs(res.hits[k].score - score) < 1e-5;
		taken[high] = 1;
		int recent = high;
		score = -INFINITY;
		for (int i = 0; i < NDOCS; i++) {
			if (taken[i] || (filtered && i % 2 == 0))
				continue;
			double v = t * cosd(qv, vecs[i]) - (1 - t) * cosd(vecs[i], vecs[recent]);
			if (v > score) {
				score = v;
				high = i;
			}
		}
	}
	ok(good, "mmr picks and scores match LlamaIndex's algorithm%s",
	   filtered ? " (filtered)" : "");
	query_result_free(&res);
}

static void test_hybrid(struct state *st)
{
	float qv[DIM] = { 0.2f, -1, 0.4f, 0, 0.5f, 0.1f, 0, 0.3f };
	struct query_result h, v, t;
	const char *emb = "[0.2,-1,0.4,0,0.5,0.1,0,0.3]";
	char req[300];
	snprintf(req, sizeof(req), "{\"query\": \"river stone\", \"embedding\": %s, \"mode\": "
		 "\"hybrid\", \"top_k\": 5, \"weights\": {\"vector\": 1, \"text\": 2}}", emb);
	ok(run(st, req, qv, &h) == 0 && h.n == 5, "hybrid query runs");
	snprintf(req, sizeof(req), "{\"embedding\": %s, \"top_k\": 50}", emb);
	run(st, req, qv, &v);
	run(st, "{\"query\": \"river stone\", \"mode\": \"text\", \"top_k\": 50}", NULL, &t);
	/* Reference RRF over the two full rankings (pool 50 covers them). */
	double fused[NDOCS] = { 0 };
	for (size_t i = 0; i < v.n; i++)
		fused[idx_of(v.hits[i].node_id)] += 1.0 / (60 + (double)(i + 1));
	for (size_t i = 0; i < t.n; i++)
		fused[idx_of(t.hits[i].node_id)] += 2.0 / (60 + (double)(i + 1));
	int good = 1;
	for (size_t i = 0; i < h.n; i++) {
		good &= fabs(fused[idx_of(h.hits[i].node_id)] - h.hits[i].score) < 1e-6;
		for (int d = 0; d < NDOCS; d++) {
			int in = 0;
			for (size_t j = 0; j < h.n; j++)
				in |= idx_of(h.hits[j].node_id) == d;
			if (!in)
				good &= fused[d] <= h.hits[h.n - 1].score + 1e-9;
		}
	}
	ok(good, "hybrid = reciprocal rank fusion of the vector and BM25 rankings");
	query_result_free(&h);
	query_result_free(&v);
	query_result_free(&t);
}

int main(void)
{
	struct state *st = build();
	test_text(st);
	test_mmr(st, 0);
	test_mmr(st, 1);
	test_hybrid(st);
	struct query_req q;
	char err[200];
	is_int(query_parse("{\"query\": \"x\", \"mode\": \"mmr\", \"mmr_threshold\": 2}", 46, 5, &q,
			   err, sizeof(err)), -EINVAL, "mmr_threshold out of range");
	is_int(query_parse("{\"embedding\": [1], \"mode\": \"text\"}", 35, 5, &q, err, sizeof(err)),
	       -EINVAL, "text mode without text");
	/* Removing a node takes it out of the keyword index. */
	struct frame_op del = { .type = FRAME_DEL, .coll = COLL_NODES, .coll_len = strlen(COLL_NODES),
				.key = "n03", .key_len = 3 };
	size_t before = bm25_count(state_text_index(st));
	state_apply(st, &del);
	is_int(bm25_count(state_text_index(st)), before - 1, "deleted node leaves the text index");
	state_free(st);
	return tap_done();
}
