/* store/embed.h - the embedder interface and the built-in embedders.
 *
 * An embedder turns n texts into n vectors of dim floats. Implementations
 * are thread safe (embed may run from several threads at once).
 */
#ifndef STORE_EMBED_H
#define STORE_EMBED_H

#include <stddef.h>
#include <stdint.h>

struct embedder;

struct embedder_ops {
	/* Write n*dim floats to out (row i = texts[i]). 0 or a negative errno
	 * (-EIO, -ETIMEDOUT... for remote embedders). */
	int (*embed)(struct embedder *e, const char *const *texts, const size_t *lens,
		     size_t n, float *out);
	void (*free)(struct embedder *e);
};

struct embedder {
	const struct embedder_ops *ops;
	uint32_t dim;
	const char *name; /* "hash", "none", ... (static string) */
	int remote;       /* 1: slow/fallible, ingest in the background */
};

static inline int embedder_embed(struct embedder *e, const char *const *texts,
				 const size_t *lens, size_t n, float *out)
{
	return e->ops->embed(e, texts, lens, n, out);
}

static inline void embedder_free(struct embedder *e)
{
	if (e)
		e->ops->free(e);
}

/* The built-in lexical embedder "hash" (v1): deterministic, offline.
 * Features are lower-cased words (ASCII case folding; bytes >= 0x80 are word
 * characters; '_' separates words so snake_case matches its parts), word
 * bigrams, and code-point trigrams of "<word>" padded with '<' '>'. Each
 * feature is hashed (FNV-1a 64, then the murmur3 finaliser for well-spread
 * low bits) to a dimension and a sign, weighted by 1 + ln(tf) times 1.0
 * (word), 0.5 (bigram) or 0.25 (trigram), and the vector is L2-normalised.
 * Texts with no features give the zero vector. dim: 8..65536.
 * Stored vectors depend on every rule here: a change is a new version. */
int embed_hash_new(uint32_t dim, struct embedder **out);

/* An embedder that refuses to embed (-ENOTSUP): vectors come only from what
 * users write. dim: 1..65536. */
int embed_none_new(uint32_t dim, struct embedder **out);

#endif
