/* store/embed_hash.c - the built-in embedders of embed.h: "hash" (lexical
 * feature hashing) and "none". */
#include "embed.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Feature kinds live in the low two bits of a feature key, so equal text
 * of different kinds counts separately and a key is never 0 (= empty). */
enum { F_WORD = 1, F_BIGRAM = 2, F_TRIGRAM = 3 };

/* Sub-word features are many per word: keep them from drowning words. */
static const double kind_weight[4] = { 0.0, 1.0, 0.5, 0.25 };

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* Open-addressing counter of feature keys; per call, so no locking. */
struct ftab {
	uint64_t *key;
	uint32_t *cnt;
	size_t cap, n; /* cap is a power of two */
};

/* One code point of a word: a byte range of the text, or a pad char. */
struct cp {
	size_t off, len; /* len 0: pad, off holds the char */
};

static int is_word(unsigned char c)
{
	/* '_' separates words so that snake_case names match their parts. */
	return c >= 0x80 || (c >= '0' && c <= '9') ||
	       ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

static uint64_t fnv_byte(uint64_t h, unsigned char c)
{
	return (h ^ c) * FNV_PRIME;
}

static uint64_t fnv_text(uint64_t h, const unsigned char *t, size_t len)
{
	for (size_t i = 0; i < len; i++)
		h = fnv_byte(h, lower(t[i]));
	return h;
}

/* FNV-1a mixes its low bits poorly; a final avalanche (murmur3 fmix64)
 * spreads features evenly over the dimensions. */
static uint64_t fmix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static int ftab_grow(struct ftab *f)
{
	size_t cap = f->cap ? f->cap * 2 : 1024;
	uint64_t *key = calloc(cap, sizeof(*key));
	uint32_t *cnt = calloc(cap, sizeof(*cnt));

	if (!key || !cnt) {
		free(key);
		free(cnt);
		return -ENOMEM;
	}
	for (size_t i = 0; i < f->cap; i++) {
		size_t j;

		if (!f->key[i])
			continue;
		for (j = f->key[i] & (cap - 1); key[j]; j = (j + 1) & (cap - 1))
			;
		key[j] = f->key[i];
		cnt[j] = f->cnt[i];
	}
	free(f->key);
	free(f->cnt);
	f->key = key;
	f->cnt = cnt;
	f->cap = cap;
	return 0;
}

static int ftab_add(struct ftab *f, uint64_t h, int kind)
{
	uint64_t k = (fmix(h) & ~(uint64_t)3) | (uint64_t)kind;
	size_t j;

	if (2 * (f->n + 1) > f->cap && ftab_grow(f))
		return -ENOMEM;
	for (j = k & (f->cap - 1); f->key[j] && f->key[j] != k; j = (j + 1) & (f->cap - 1))
		;
	if (!f->key[j]) {
		f->key[j] = k;
		f->n++;
	}
	if (f->cnt[j] < UINT32_MAX)
		f->cnt[j]++;
	return 0;
}

static void ftab_clear(struct ftab *f)
{
	if (f->n) {
		memset(f->key, 0, f->cap * sizeof(*f->key));
		memset(f->cnt, 0, f->cap * sizeof(*f->cnt));
	}
	f->n = 0;
}

static void ftab_release(struct ftab *f)
{
	free(f->key);
	free(f->cnt);
}

static uint64_t fnv_cp(uint64_t h, const unsigned char *t, const struct cp *c)
{
	return c->len ? fnv_text(h, t + c->off, c->len) : fnv_byte(h, (unsigned char)c->off);
}

/* Code point length at t[i] (for trigram boundaries); stays in [i, end). */
static size_t cp_len(const unsigned char *t, size_t i, size_t end)
{
	size_t n = 1;

	if (t[i] >= 0xc0)
		while (i + n < end && n < 4 && (t[i + n] & 0xc0) == 0x80)
			n++;
	return n;
}

/* Character trigrams of "<word>", on code points. */
static int add_trigrams(struct ftab *f, const unsigned char *t, size_t s, size_t e)
{
	struct cp w[3] = { { '<', 0 } };
	size_t have = 1, i = s;
	uint64_t h;

	while (have < 3 || i <= e) {
		struct cp c = { '>', 0 };

		if (i < e)
			c = (struct cp){ i, cp_len(t, i, e) };
		i += c.len ? c.len : 1;
		if (have < 3) {
			w[have++] = c;
			if (have < 3)
				continue;
		} else {
			w[0] = w[1];
			w[1] = w[2];
			w[2] = c;
		}
		h = fnv_byte(FNV_OFFSET, 't');
		for (int k = 0; k < 3; k++)
			h = fnv_cp(h, t, &w[k]);
		if (ftab_add(f, h, F_TRIGRAM))
			return -ENOMEM;
	}
	return 0;
}

static int add_word(struct ftab *f, const unsigned char *t, size_t s, size_t e,
		    size_t ps, size_t pe)
{
	uint64_t h = fnv_text(fnv_byte(FNV_OFFSET, 'w'), t + s, e - s);

	if (ftab_add(f, h, F_WORD))
		return -ENOMEM;
	if (pe > ps) {
		h = fnv_text(fnv_byte(FNV_OFFSET, 'b'), t + ps, pe - ps);
		h = fnv_text(fnv_byte(h, ' '), t + s, e - s);
		if (ftab_add(f, h, F_BIGRAM))
			return -ENOMEM;
	}
	return add_trigrams(f, t, s, e);
}

static int collect(struct ftab *f, const unsigned char *t, size_t len)
{
	size_t i = 0, s, ps = 0, pe = 0;

	while (i < len) {
		if (!is_word(t[i])) {
			i++;
			continue;
		}
		for (s = i; i < len && is_word(t[i]); i++)
			;
		if (add_word(f, t, s, i, ps, pe))
			return -ENOMEM;
		ps = s;
		pe = i;
	}
	return 0;
}

/* Scatter the weighted features into v[dim] and L2-normalise. */
static void project(const struct ftab *f, uint32_t dim, double *acc, float *v)
{
	double norm = 0;

	memset(acc, 0, dim * sizeof(*acc));
	for (size_t i = 0; i < f->cap; i++) {
		uint64_t k = f->key[i];
		double w;

		if (!k)
			continue;
		w = (1.0 + log((double)f->cnt[i])) * kind_weight[k & 3];
		acc[(k >> 32) % dim] += (k >> 31) & 1 ? -w : w;
	}
	for (uint32_t d = 0; d < dim; d++)
		norm += acc[d] * acc[d];
	norm = sqrt(norm);
	for (uint32_t d = 0; d < dim; d++)
		v[d] = norm > 0 ? (float)(acc[d] / norm) : 0.0f;
}

static int hash_embed(struct embedder *e, const char *const *texts, const size_t *lens,
		      size_t n, float *out)
{
	struct ftab f = { NULL, NULL, 0, 0 };
	double *acc = malloc(e->dim * sizeof(*acc));
	int rc = acc ? ftab_grow(&f) : -ENOMEM;

	for (size_t i = 0; i < n && !rc; i++) {
		ftab_clear(&f);
		rc = collect(&f, (const unsigned char *)texts[i], lens[i]);
		if (!rc)
			project(&f, e->dim, acc, out + i * e->dim);
	}
	ftab_release(&f);
	free(acc);
	return rc;
}

static int none_embed(struct embedder *e, const char *const *texts, const size_t *lens,
		      size_t n, float *out)
{
	return -ENOTSUP;
}

static void embedder_release(struct embedder *e)
{
	free(e);
}

static const struct embedder_ops hash_ops = { hash_embed, embedder_release };
static const struct embedder_ops none_ops = { none_embed, embedder_release };

static int new_embedder(const struct embedder_ops *ops, const char *name, uint32_t dim,
			struct embedder **out)
{
	struct embedder *e = calloc(1, sizeof(*e));

	*out = NULL;
	if (!e)
		return -ENOMEM;
	e->ops = ops;
	e->dim = dim;
	e->name = name;
	e->remote = 0;
	*out = e;
	return 0;
}

int embed_hash_new(uint32_t dim, struct embedder **out)
{
	if (dim < 8 || dim > 65536) {
		*out = NULL;
		return -EINVAL;
	}
	return new_embedder(&hash_ops, "hash", dim, out);
}

int embed_none_new(uint32_t dim, struct embedder **out)
{
	/* Vectors come from users, so any dimension the manifest allows. */
	if (dim < 1 || dim > 65536) {
		*out = NULL;
		return -EINVAL;
	}
	return new_embedder(&none_ops, "none", dim, out);
}
