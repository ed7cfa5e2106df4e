/* tests/test_embed.c - unit tests for the built-in embedders of store/embed.h */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/embed.h"
#include "tests/tap.h"

#define DIM 384

static struct embedder *emb;

/* (is_int() evaluates its arguments twice: calls go through rc.) */

/* Embed one NUL-terminated text into v[DIM]; 0 or negative errno. */
static int embed1(const char *t, float *v)
{
	size_t len = strlen(t);

	return embedder_embed(emb, &t, &len, 1, v);
}

static double dot(const float *a, const float *b)
{
	double s = 0;

	for (int i = 0; i < DIM; i++)
		s += (double)a[i] * b[i];
	return s;
}

/* Cosine of two texts (vectors are unit length). */
static double sim(const char *a, const char *b)
{
	float va[DIM], vb[DIM];

	if (embed1(a, va) || embed1(b, vb))
		return NAN;
	return dot(va, vb);
}

static void test_new(void)
{
	struct embedder *e = (void *)1;
	int rc;

	rc = embed_hash_new(4, &e);
	is_int(rc, -EINVAL, "dim 4 refused");
	ok(!e, "no embedder on error");
	rc = embed_hash_new(65537, &e);
	is_int(rc, -EINVAL, "dim 65537 refused");
	rc = embed_hash_new(0, &e);
	is_int(rc, -EINVAL, "dim 0 refused");
	rc = embed_hash_new(8, &e);
	is_int(rc, 0, "dim 8 accepted");
	embedder_free(e);
	rc = embed_hash_new(DIM, &emb);
	is_int(rc, 0, "hash embedder created");
	ok(emb && emb->dim == DIM && !strcmp(emb->name, "hash") && !emb->remote,
	   "hash embedder fields");
	embedder_free(NULL);
}

static void test_basic(void)
{
	const char *t = "The quick brown fox jumps over the lazy dog.";
	float a[DIM], b[DIM], z[DIM];
	double norm;
	int rc;

	rc = embed1(t, a);
	is_int(rc, 0, "embed succeeds");
	rc = embed1(t, b);
	is_int(rc, 0, "embed again");
	ok(!memcmp(a, b, sizeof(a)), "embedding is deterministic");
	norm = sqrt(dot(a, a));
	ok(fabs(norm - 1.0) < 1e-5, "unit norm (%f)", norm);
	memset(z, 0x7f, sizeof(z));
	rc = embed1("", z);
	is_int(rc, 0, "embed empty text");
	ok(dot(z, z) == 0, "empty text gives the zero vector");
	memset(z, 0x7f, sizeof(z));
	rc = embed1(" ... ,;!? \n\t", z);
	is_int(rc, 0, "embed punctuation only");
	ok(dot(z, z) == 0, "no features gives the zero vector");
}

static void test_batch(void)
{
	const char *texts[3] = { "alpha beta", "", "gamma delta epsilon" };
	size_t lens[3] = { 10, 0, 19 };
	float *v = malloc(3 * DIM * sizeof(*v));
	float one[DIM];
	int same = 1;
	int rc;

	rc = embedder_embed(emb, texts, lens, 3, v);
	is_int(rc, 0, "batch of 3 embeds");
	for (int i = 0; i < 3; i++) {
		embed1(texts[i], one);
		same &= !memcmp(one, v + i * DIM, sizeof(one));
	}
	ok(same, "batch rows equal single embeddings");
	ok(dot(v + DIM, v + DIM) == 0, "empty row in a batch is zero");
	/* Texts need not be NUL-terminated: only lens[i] bytes count. */
	lens[0] = 5;
	embedder_embed(emb, texts, lens, 1, v);
	embed1("alpha", one);
	ok(!memcmp(one, v, sizeof(one)), "only len bytes are read");
	free(v);
}

static void test_similarity(void)
{
	const char *doc_a = "To configure the mount, edit the configuration file and set "
			    "the chunk size and overlap before starting the daemon.";
	const char *doc_b = "Bananas are rich in potassium; the ripe fruit tastes sweet "
			    "and is loved by monkeys in tropical forests.";
	double sa, sb;

	sa = sim("configure chunk size", doc_a);
	sb = sim("configure chunk size", doc_b);
	ok(sa > sb && sa > 0.2, "query finds its document (%.3f vs %.3f)", sa, sb);
	sa = sim("ripe bananas monkeys", doc_a);
	sb = sim("ripe bananas monkeys", doc_b);
	ok(sb > sa && sb > 0.2, "second query finds its document (%.3f vs %.3f)", sb, sa);
	sa = sim("configuring", "configure");
	ok(sa > 0.1, "inflected word still matches via trigrams (%.3f)", sa);
	sb = sim("configuring", "potassium");
	ok(sa > sb + 0.1, "inflection beats an unrelated word (%.3f vs %.3f)", sa, sb);
	sa = sim("how do I configuring chunk sizes", doc_a);
	sb = sim("how do I configuring chunk sizes", doc_b);
	ok(sa > sb, "misspelled query prefers its document (%.3f vs %.3f)", sa, sb);
	sa = sim("HELLO World", "hello world");
	ok(fabs(sa - 1.0) < 1e-5, "ASCII case is folded (%.6f)", sa);
	sa = sim("hello, world!", "hello world");
	ok(fabs(sa - 1.0) < 1e-5, "punctuation is not a feature (%.6f)", sa);
	sa = sim("dog bites man", "man bites dog");
	ok(sa > 0.5 && sa < 0.999, "word order matters through bigrams only (%.3f)", sa);
	sa = sim("caf\xc3\xa9 日本語", "caf\xc3\xa9 日本語 text");
	ok(sa > 0.5, "multibyte words are features (%.3f)", sa);
	sa = sim("日本語", "中文");
	ok(fabs(sa) < 0.3, "different multibyte words differ (%.3f)", sa);
}

/* More occurrences weigh more, but only logarithmically. */
static void test_tf(void)
{
	double once = sim("apple banana", "apple");
	double thrice = sim("apple apple apple banana", "apple");

	ok(thrice > once, "repeated word weighs more (%.3f > %.3f)", thrice, once);
}

struct thr {
	const char *text;
	float v[DIM];
	int rc;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;

	for (int i = 0; i < 200 && !t->rc; i++)
		t->rc = embed1(t->text, t->v);
	return NULL;
}

static void test_threads(void)
{
	static const char text[] = "Threads embed the same text at once and must agree "
				   "on every single float of the vector.";
	struct thr t[2] = { { .text = text }, { .text = text } };
	pthread_t id[2];

	for (int i = 0; i < 2; i++)
		pthread_create(&id[i], NULL, thr_main, &t[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(id[i], NULL);
	ok(!t[0].rc && !t[1].rc, "embedding from two threads succeeds");
	ok(!memcmp(t[0].v, t[1].v, sizeof(t[0].v)), "two threads give identical vectors");
}

static void test_long(void)
{
	size_t len = 200000;
	char *t = malloc(len);
	float v[DIM];
	int rc;

	for (size_t i = 0; i < len; i++)
		t[i] = i % 13 == 12 ? ' ' : "abcdefghijklmnopqrstuvwxyz"[(i * 7 + i / 13) % 26];
	rc = embedder_embed(emb, (const char *const *)&t, &len, 1, v);
	is_int(rc, 0,
	       "long text embeds");
	ok(fabs(dot(v, v) - 1.0) < 1e-4, "long text vector is unit length");
	memset(t, 'z', len);
	rc = embedder_embed(emb, (const char *const *)&t, &len, 1, v);
	is_int(rc, 0,
	       "one huge word embeds");
	ok(fabs(dot(v, v) - 1.0) < 1e-4, "huge word vector is unit length");
	free(t);
}

static void test_none(void)
{
	struct embedder *e;
	const char *t = "text";
	size_t len = 4;
	float v[16];
	int rc;

	rc = embed_none_new(0, &e);
	is_int(rc, -EINVAL, "none: dim 0 refused");
	rc = embed_none_new(16, &e);
	is_int(rc, 0, "none embedder created");
	ok(e && e->dim == 16 && !strcmp(e->name, "none"), "none embedder fields");
	rc = embedder_embed(e, &t, &len, 1, v);
	is_int(rc, -ENOTSUP, "none embedder refuses");
	embedder_free(e);
}

int main(void)
{
	test_new();
	test_basic();
	test_batch();
	test_similarity();
	test_tf();
	test_threads();
	test_long();
	test_none();
	embedder_free(emb);
	return tap_done();
}
