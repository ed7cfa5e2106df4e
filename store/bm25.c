/* store/bm25.c - see bm25.h */
#include "bm25.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

#define BM25_K1 1.2
#define BM25_B 0.75
#define TERM_MAX 64 /* longer runs are cut: they are ids or noise, not words */

struct posting {
	uint32_t slot;
	uint32_t tf;
};

struct term {
	struct posting *p;
	size_t n, cap;
};

struct bdoc {
	char *id;
	uint32_t len;     /* terms in the text */
	char **terms;     /* distinct terms, for removal */
	size_t nterms;
};

struct bm25 {
	struct map *terms; /* term -> struct term * */
	struct map *ids;   /* id -> slot + 1 (as a pointer) */
	struct bdoc *docs; /* by slot; id == NULL for a free slot */
	size_t nslots, cap;
	uint32_t *free_slots;
	size_t nfree;
	size_t count;
	uint64_t total_len;
};

static int is_term_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c >= 0x80;
}

void bm25_terms(const char *text, void (*fn)(const char *, size_t, void *), void *ctx)
{
	char term[TERM_MAX + 1];
	const unsigned char *p = (const unsigned char *)text;
	while (*p) {
		while (*p && !is_term_char(*p))
			p++;
		size_t n = 0;
		for (; *p && is_term_char(*p); p++)
			if (n < TERM_MAX)
				term[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		if (n) {
			term[n] = '\0';
			fn(term, n, ctx);
		}
	}
}

int bm25_new(struct bm25 **out)
{
	struct bm25 *b = calloc(1, sizeof(*b));
	*out = NULL;
	if (!b)
		return -ENOMEM;
	b->terms = map_new();
	b->ids = map_new();
	if (!b->terms || !b->ids) {
		bm25_free(b);
		return -ENOMEM;
	}
	*out = b;
	return 0;
}

static void term_free(void *p)
{
	struct term *t = p;
	if (t)
		free(t->p);
	free(t);
}

static void bdoc_clear(struct bdoc *d)
{
	for (size_t i = 0; i < d->nterms; i++)
		free(d->terms[i]);
	free(d->terms);
	free(d->id);
	memset(d, 0, sizeof(*d));
}

void bm25_free(struct bm25 *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->nslots; i++)
		bdoc_clear(&b->docs[i]);
	free(b->docs);
	free(b->free_slots);
	map_free(b->terms, term_free);
	map_free(b->ids, NULL);
	free(b);
}

size_t bm25_count(const struct bm25 *b)
{
	return b->count;
}

/* Drop slot from a term's postings (order does not matter). */
static void unpost(struct bm25 *b, const char *term, uint32_t slot)
{
	struct term *t = map_get(b->terms, term);
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		if (t->p[i].slot == slot) {
			t->p[i] = t->p[--t->n];
			break;
		}
	if (!t->n)
		term_free(map_del(b->terms, term));
}

void bm25_remove(struct bm25 *b, const char *id)
{
	uintptr_t v = (uintptr_t)map_del(b->ids, id);
	if (!v)
		return;
	uint32_t slot = (uint32_t)(v - 1);
	struct bdoc *d = &b->docs[slot];
	for (size_t i = 0; i < d->nterms; i++)
		unpost(b, d->terms[i], slot);
	b->total_len -= d->len;
	b->count--;
	bdoc_clear(d);
	b->free_slots[b->nfree++] = slot;
}

/* Term frequencies of one text. */
struct tf_ctx {
	struct map *tf; /* term -> count */
	uint32_t len;
};

static void count_term(const char *term, size_t len, void *ctx)
{
	struct tf_ctx *c = ctx;
	(void)len;
	uintptr_t n = (uintptr_t)map_get(c->tf, term);
	map_put(c->tf, term, (void *)(n + 1), NULL);
	c->len++;
}

static int alloc_slot(struct bm25 *b, uint32_t *slot)
{
	if (b->nfree) {
		*slot = b->free_slots[--b->nfree];
		return 0;
	}
	if (b->nslots == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		struct bdoc *d = realloc(b->docs, cap * sizeof(*d));
		uint32_t *f = d ? realloc(b->free_slots, cap * sizeof(*f)) : NULL;
		if (d)
			b->docs = d;
		if (!f)
			return -ENOMEM;
		b->free_slots = f;
		b->cap = cap;
	}
	*slot = (uint32_t)b->nslots++;
	memset(&b->docs[*slot], 0, sizeof(b->docs[*slot]));
	return 0;
}

static int post(struct bm25 *b, const char *term, uint32_t slot, uint32_t tf)
{
	struct term *t = map_get(b->terms, term);
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t || map_put(b->terms, term, t, NULL)) {
			free(t);
			return -ENOMEM;
		}
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4;
		struct posting *p = realloc(t->p, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		t->p = p;
		t->cap = cap;
	}
	t->p[t->n++] = (struct posting){ slot, tf };
	return 0;
}

struct add_ctx {
	struct bm25 *b;
	struct bdoc *d;
	uint32_t slot;
	int rc;
};

static int add_term(const char *term, void *val, void *ctx)
{
	struct add_ctx *a = ctx;
	char *copy = strdup(term);
	if (!copy || post(a->b, term, a->slot, (uint32_t)(uintptr_t)val)) {
		free(copy);
		return a->rc = -ENOMEM;
	}
	a->d->terms[a->d->nterms++] = copy;
	return 0;
}

int bm25_set(struct bm25 *b, const char *id, const char *text)
{
	struct tf_ctx c = { map_new(), 0 };
	uint32_t slot;
	bm25_remove(b, id);
	if (!c.tf || alloc_slot(b, &slot)) {
		map_free(c.tf, NULL);
		return -ENOMEM;
	}
	bm25_terms(text, count_term, &c);
	struct bdoc *d = &b->docs[slot];
	d->id = strdup(id);
	d->terms = malloc((map_count(c.tf) + 1) * sizeof(*d->terms));
	d->len = c.len;
	struct add_ctx a = { b, d, slot, 0 };
	if (!d->id || !d->terms ||
	    map_put(b->ids, id, (void *)(uintptr_t)(slot + 1), NULL))
		a.rc = -ENOMEM;
	if (!a.rc)
		map_each(c.tf, add_term, &a);
	map_free(c.tf, NULL);
	b->count++;
	b->total_len += d->len;
	if (a.rc)
		bm25_remove(b, id);
	return a.rc;
}

/* Query terms, deduplicated. */
struct qterms {
	struct map *seen;
};

static void add_qterm(const char *term, size_t len, void *ctx)
{
	struct qterms *q = ctx;
	(void)len;
	map_put(q->seen, term, q, NULL);
}

struct score_ctx {
	const struct bm25 *b;
	double *scores;
	double avgdl;
};

static int score_term(const char *term, void *val, void *ctx)
{
	struct score_ctx *s = ctx;
	const struct term *t = map_get(s->b->terms, term);
	(void)val;
	if (!t)
		return 0;
	double n = (double)s->b->count, df = (double)t->n;
	double idf = log(1.0 + (n - df + 0.5) / (df + 0.5));
	for (size_t i = 0; i < t->n; i++) {
		double tf = t->p[i].tf;
		double dl = s->b->docs[t->p[i].slot].len;
		s->scores[t->p[i].slot] +=
			idf * tf * (BM25_K1 + 1) /
			(tf + BM25_K1 * (1 - BM25_B + BM25_B * dl / s->avgdl));
	}
	return 0;
}

static int hit_worse(const struct bm25_hit *a, const struct bm25_hit *b)
{
	return a->score < b->score || (a->score == b->score && strcmp(a->id, b->id) > 0);
}

/* Insert into a best-first list of at most k hits. */
static void keep_best(struct bm25_hit *hits, size_t *n, size_t k, struct bm25_hit h)
{
	if (*n == k && !hit_worse(&hits[k - 1], &h))
		return;
	size_t i = *n < k ? (*n)++ : k - 1;
	while (i > 0 && hit_worse(&hits[i - 1], &h)) {
		hits[i] = hits[i - 1];
		i--;
	}
	hits[i] = h;
}

int bm25_search(const struct bm25 *b, const char *query, size_t k, bm25_filter_fn filter,
		void *ctx, struct bm25_hit *hits, size_t *n)
{
	struct qterms q = { map_new() };
	struct score_ctx s = { b, calloc(b->nslots + 1, sizeof(double)), 0 };
	*n = 0;
	if (!q.seen || !s.scores) {
		map_free(q.seen, NULL);
		free(s.scores);
		return -ENOMEM;
	}
	s.avgdl = b->count ? (double)b->total_len / (double)b->count : 1;
	if (s.avgdl <= 0)
		s.avgdl = 1;
	bm25_terms(query, add_qterm, &q);
	map_each(q.seen, score_term, &s);
	for (size_t i = 0; k && i < b->nslots; i++) {
		if (s.scores[i] <= 0 || !b->docs[i].id)
			continue;
		if (filter && !filter(ctx, b->docs[i].id))
			continue;
		keep_best(hits, n, k, (struct bm25_hit){ b->docs[i].id, s.scores[i] });
	}
	map_free(q.seen, NULL);
	free(s.scores);
	return 0;
}
