/* store/embed_glove.c - the "glove" word-vector embedder of embed_glove.h. */
#include "embed_glove.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(struct glove_hdr) == 128, "glove header layout");
_Static_assert(sizeof(struct glove_ent) == 16, "glove entry layout");

struct glove {
	struct embedder e;
	const unsigned char *map; /* read-only for the life of the embedder */
	size_t map_len;
	const struct glove_ent *ent;
	const int8_t *vec;
	const char *str;
	uint32_t count;
};

/* The word rules of the hash embedder (embed.h), so both split alike. */
static int is_word(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') ||
	       ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

static int word_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

/* Index of the lower-cased word w[len] in the sorted table, or -1. */
static long lookup(const struct glove *g, const char *w, size_t len)
{
	size_t lo = 0, hi = g->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct glove_ent *m = &g->ent[mid];
		int c = word_cmp(g->str + m->off, m->len, w, len);

		if (!c)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* acc[dim] = weighted sum of the known words of t; then v = acc / |acc|. */
static void embed_one(const struct glove *g, const unsigned char *t, size_t len,
		      double *acc, float *v)
{
	uint32_t dim = g->e.dim;
	char w[GLOVE_MAX_WORD];
	double norm = 0;
	size_t i = 0;

	memset(acc, 0, dim * sizeof(*acc));
	while (i < len) {
		size_t s, n;
		long k;

		if (!is_word(t[i])) {
			i++;
			continue;
		}
		for (s = i; i < len && is_word(t[i]); i++)
			;
		n = i - s;
		if (n > GLOVE_MAX_WORD)
			continue; /* never in the table */
		for (size_t j = 0; j < n; j++)
			w[j] = (char)lower(t[s + j]);
		k = lookup(g, w, n);
		if (k < 0)
			continue;
		const struct glove_ent *en = &g->ent[k];
		const int8_t *row = g->vec + (size_t)k * dim;
		double f = (double)en->weight * en->scale;

		for (uint32_t d = 0; d < dim; d++)
			acc[d] += f * row[d];
	}
	for (uint32_t d = 0; d < dim; d++)
		norm += acc[d] * acc[d];
	norm = sqrt(norm);
	for (uint32_t d = 0; d < dim; d++)
		v[d] = norm > 0 ? (float)(acc[d] / norm) : 0.0f;
}

/* The table is read-only and each call has its own accumulator: no locks. */
static int glove_embed(struct embedder *e, const char *const *texts, const size_t *lens,
		       size_t n, float *out)
{
	const struct glove *g = (const struct glove *)e;
	double *acc = malloc(e->dim * sizeof(*acc));

	if (!acc)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		embed_one(g, (const unsigned char *)texts[i], lens[i], acc, out + i * e->dim);
	free(acc);
	return 0;
}

static void glove_free(struct embedder *e)
{
	struct glove *g = (struct glove *)e;

	munmap((void *)g->map, g->map_len);
	free(g);
}

static const struct embedder_ops glove_ops = { glove_embed, glove_free };

/* Every offset in bounds and the words sorted and unique, so a damaged or
 * hostile table cannot make lookups read outside the mapping. */
static int check_table(const struct glove_hdr *h, size_t size)
{
	const struct glove_ent *ent = (const void *)(h + 1);
	const char *str = (const char *)h + h->str_off;
	uint64_t ents = (uint64_t)h->count * sizeof(*ent);

	if (memcmp(h->magic, GLOVE_MAGIC, 8) || h->version != GLOVE_VERSION ||
	    h->ent_size != sizeof(*ent) || h->dim < 1 || h->dim > 65536 ||
	    h->file_size != size)
		return -EINVAL;
	if (h->vec_off < sizeof(*h) + ents || h->vec_off > size ||
	    (uint64_t)h->count * h->dim > size - h->vec_off ||
	    h->str_off < h->vec_off + (uint64_t)h->count * h->dim ||
	    h->str_off > size || h->str_len > size - h->str_off)
		return -EINVAL;
	for (uint32_t i = 0; i < h->count; i++) {
		const struct glove_ent *e = &ent[i];

		if (!e->len || e->len > GLOVE_MAX_WORD || e->off > h->str_len ||
		    e->len > h->str_len - e->off || !(e->weight > 0) || !isfinite(e->scale))
			return -EINVAL;
		if (i && word_cmp(str + ent[i - 1].off, ent[i - 1].len, str + e->off, e->len) >= 0)
			return -EINVAL;
	}
	return 0;
}

int embed_glove_new(const char *table_path, struct embedder **out)
{
	struct glove *g;
	struct stat st;
	void *map;
	int fd, rc;

	*out = NULL;
	fd = open(table_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < sizeof(struct glove_hdr)) {
		close(fd);
		return -EINVAL;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	rc = map == MAP_FAILED ? -errno : 0;
	close(fd); /* the mapping keeps the file */
	if (rc)
		return rc;
	const struct glove_hdr *h = map;

	rc = check_table(h, (size_t)st.st_size);
	g = rc ? NULL : calloc(1, sizeof(*g));
	if (!g) {
		munmap(map, (size_t)st.st_size);
		return rc ? rc : -ENOMEM;
	}
	g->e.ops = &glove_ops;
	g->e.dim = h->dim;
	g->e.name = "glove";
	g->e.remote = 0;
	g->map = map;
	g->map_len = (size_t)st.st_size;
	g->ent = (const void *)(h + 1);
	g->vec = (const int8_t *)((const char *)map + h->vec_off);
	g->str = (const char *)map + h->str_off;
	g->count = h->count;
	*out = &g->e;
	return 0;
}

const char *embed_glove_path(char *buf, size_t len)
{
	const char *p = getenv("RAGFS_GLOVE");
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");

	if (p && *p)
		snprintf(buf, len, "%s", p);
	else if (xdg && *xdg)
		snprintf(buf, len, "%s/ragfs/glove-100d.bin", xdg);
	else
		snprintf(buf, len, "%s/.local/share/ragfs/glove-100d.bin", home ? home : "");
	return buf;
}
