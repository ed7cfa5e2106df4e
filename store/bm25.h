/* store/bm25.h - an incremental BM25 keyword index over node texts (the
 * "text" and "hybrid" query modes).
 *
 * Terms are lower-cased runs of ASCII letters and digits and bytes >= 0x80
 * (so UTF-8 words stay whole); everything else separates (as the hash
 * embedder's words). Scoring is Okapi BM25 with k1 = 1.2, b = 0.75 and
 * idf = ln(1 + (N - df + 0.5) / (df + 0.5)) (Lucene's, never negative).
 *
 * Not thread safe: the owner's lock guards it (searches may run in parallel
 * under a read lock: they do not modify the index).
 */
#ifndef STORE_BM25_H
#define STORE_BM25_H

#include <stddef.h>

struct bm25;

struct bm25_hit {
	const char *id; /* borrowed: valid until the next mutation */
	double score;
};

int bm25_new(struct bm25 **out);
void bm25_free(struct bm25 *b);

/* Index id's text, replacing what id had. 0 or -ENOMEM. */
int bm25_set(struct bm25 *b, const char *id, const char *text);
/* Forget id (no-op when absent). */
void bm25_remove(struct bm25 *b, const char *id);
size_t bm25_count(const struct bm25 *b);

/* Return 1 to keep a candidate id. */
typedef int (*bm25_filter_fn)(void *ctx, const char *id);

/* The k best documents for query with a score > 0, best first (ties by id).
 * hits must hold k; *n gets the number found. 0 or -ENOMEM. */
int bm25_search(const struct bm25 *b, const char *query, size_t k, bm25_filter_fn filter,
		void *ctx, struct bm25_hit *hits, size_t *n);

/* Call fn(term, ctx) for each term of text, in order (duplicates included). */
void bm25_terms(const char *text, void (*fn)(const char *term, size_t len, void *ctx),
		void *ctx);

#endif
