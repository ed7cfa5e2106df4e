/* store/filter_index.c - see filter_index.h
 *
 * A posting is an unordered array of rows; a row keeps, per posting it is
 * in, the position it holds there. Removing a row from a posting swaps the
 * posting's last entry into its slot and fixes that entry's back
 * reference. Empty postings are freed and their ids reused. Map keys are
 * "<key length>:<key>" then 's' + the string, or 'n' + the 16 hex digits
 * of the double, so no two (key, value) pairs share one.
 */
#include "filter_index.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

#define ENC_MAX (FIDX_MAX_KEY + FIDX_MAX_VALUE + 32)

struct posting {
	char *key;		/* the map key (a copy), NULL when free */
	uint32_t *rows;
	size_t len, cap;
};

struct rowent {
	uint32_t pid, pos;	/* posting id, position in its rows */
};

struct rowlist {
	struct rowent *e;
	size_t n, cap;
};

struct fidx {
	struct map *by_key;	/* encoded key -> (void *)(pid + 1) */
	struct posting *post;
	size_t npost, cap_post;
	uint32_t *free_pid;	/* room for npost ids: a release never fails */
	size_t nfree, cap_free;
	struct rowlist *rows;
	size_t nrows, cap_rows;
	size_t entries;
	int broken;		/* out of memory once: answer nothing */
};

int fidx_new(struct fidx **out)
{
	struct fidx *fx = calloc(1, sizeof(*fx));
	*out = NULL;
	if (!fx || !(fx->by_key = map_new())) {
		free(fx);
		return -ENOMEM;
	}
	*out = fx;
	return 0;
}

void fidx_free(struct fidx *fx)
{
	if (!fx)
		return;
	map_free(fx->by_key, NULL);
	for (size_t i = 0; i < fx->npost; i++) {
		free(fx->post[i].key);
		free(fx->post[i].rows);
	}
	free(fx->post);
	free(fx->free_pid);
	for (size_t r = 0; r < fx->cap_rows; r++)
		free(fx->rows[r].e);
	free(fx->rows);
	free(fx);
}

/* The map key of (key, value), or 0 when not indexable. */
static int encode(char *buf, const char *key, int is_num, double num, const char *str)
{
	size_t kl = strlen(key);
	if (kl > FIDX_MAX_KEY)
		return 0;
	if (is_num) {
		uint64_t bits;
		if (num == 0)
			num = 0;	/* -0 == 0 */
		memcpy(&bits, &num, sizeof(bits));
		snprintf(buf, ENC_MAX, "%zu:%sn%016" PRIx64, kl, key, bits);
		return 1;
	}
	if (!str || strlen(str) > FIDX_MAX_VALUE)
		return 0;
	snprintf(buf, ENC_MAX, "%zu:%ss%s", kl, key, str);
	return 1;
}

static int encode_json(char *buf, const char *key, const cJSON *v)
{
	if (cJSON_IsBool(v))
		return encode(buf, key, 1, cJSON_IsTrue(v), NULL);
	if (cJSON_IsNumber(v))
		return encode(buf, key, 1, v->valuedouble, NULL);
	if (cJSON_IsString(v))
		return encode(buf, key, 0, 0, v->valuestring);
	return 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 8;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static int posting_for(struct fidx *fx, const char *enc, uint32_t *pid)
{
	uintptr_t v = (uintptr_t)map_get(fx->by_key, enc);
	if (v) {
		*pid = (uint32_t)(v - 1);
		return 0;
	}
	char *key = strdup(enc);
	if (!key)
		return -ENOMEM;
	if (fx->nfree) {
		*pid = fx->free_pid[--fx->nfree];
	} else {
		if (fx->npost >= UINT32_MAX - 1 ||
		    grow((void **)&fx->post, &fx->cap_post, fx->npost + 1, sizeof(*fx->post)) ||
		    grow((void **)&fx->free_pid, &fx->cap_free, fx->npost + 1,
			 sizeof(*fx->free_pid))) {
			free(key);
			return -ENOMEM;
		}
		*pid = (uint32_t)fx->npost++;
		fx->post[*pid] = (struct posting){ 0 };
	}
	if (map_put(fx->by_key, enc, (void *)(uintptr_t)(*pid + 1), NULL)) {
		free(key);
		fx->free_pid[fx->nfree++] = *pid;
		return -ENOMEM;
	}
	fx->post[*pid].key = key;
	return 0;
}

static void release_posting(struct fidx *fx, uint32_t pid)
{
	struct posting *p = &fx->post[pid];
	map_del(fx->by_key, p->key);
	free(p->key);
	free(p->rows);
	*p = (struct posting){ 0 };
	fx->free_pid[fx->nfree++] = pid;
}

static int add(struct fidx *fx, size_t row, const char *enc)
{
	uint32_t pid;
	int rc = posting_for(fx, enc, &pid);
	if (rc)
		return rc;
	struct posting *p = &fx->post[pid];
	struct rowlist *rl = &fx->rows[row];
	if (grow((void **)&p->rows, &p->cap, p->len + 1, sizeof(*p->rows)) ||
	    grow((void **)&rl->e, &rl->cap, rl->n + 1, sizeof(*rl->e))) {
		if (!p->len)
			release_posting(fx, pid);
		return -ENOMEM;
	}
	rl->e[rl->n++] = (struct rowent){ pid, (uint32_t)p->len };
	p->rows[p->len++] = (uint32_t)row;
	fx->entries++;
	return 0;
}

/* Take row out of every posting it is in. */
static void clear_row(struct fidx *fx, size_t row)
{
	struct rowlist *rl = &fx->rows[row];
	for (size_t i = 0; i < rl->n; i++) {
		struct rowent e = rl->e[i];
		struct posting *p = &fx->post[e.pid];
		uint32_t moved = p->rows[--p->len];
		if (e.pos != p->len) {
			p->rows[e.pos] = moved;
			struct rowlist *ml = &fx->rows[moved];
			for (size_t j = 0; j < ml->n; j++)
				if (ml->e[j].pid == e.pid) {
					ml->e[j].pos = e.pos;
					break;
				}
		}
		fx->entries--;
		if (!p->len)
			release_posting(fx, e.pid);
	}
	rl->n = 0;
}

void fidx_set_row(struct fidx *fx, size_t row, const cJSON *meta)
{
	if (!fx || fx->broken)
		return;
	if (row > fx->nrows || row >= UINT32_MAX)
		goto broken;
	if (row == fx->nrows) {
		size_t cap = fx->cap_rows;
		if (grow((void **)&fx->rows, &cap, row + 1, sizeof(*fx->rows)))
			goto broken;
		for (size_t r = fx->cap_rows; r < cap; r++)
			fx->rows[r] = (struct rowlist){ 0 };
		fx->cap_rows = cap;
		fx->nrows++;
	} else {
		clear_row(fx, row);
	}
	const cJSON *it;
	char enc[ENC_MAX];
	if (!cJSON_IsObject(meta))
		return;
	cJSON_ArrayForEach(it, meta) {
		if (!it->string || cJSON_GetObjectItemCaseSensitive(meta, it->string) != it)
			continue;	/* filters see the first of duplicated keys */
		if (encode_json(enc, it->string, it) && add(fx, row, enc))
			goto broken;
	}
	return;
broken:
	fx->broken = 1;
}

void fidx_remove_row(struct fidx *fx, size_t row, size_t last)
{
	if (!fx || fx->broken)
		return;
	if (row >= fx->nrows || last != fx->nrows - 1) {
		fx->broken = 1;
		return;
	}
	clear_row(fx, row);
	if (row != last) {
		struct rowlist *from = &fx->rows[last];
		for (size_t i = 0; i < from->n; i++)
			fx->post[from->e[i].pid].rows[from->e[i].pos] = (uint32_t)row;
		struct rowlist t = fx->rows[row];
		fx->rows[row] = *from;
		*from = t;	/* empty, keeps its buffer */
	}
	fx->nrows--;
}

/* ---- candidates ---- */

static int posting_bits(const struct fidx *fx, const char *key, const struct filter_scalar *v,
			uint64_t *bits, int *indexable)
{
	char enc[ENC_MAX];
	if (!encode(enc, key, v->is_num, v->num, v->str)) {
		*indexable = 0;
		return 0;
	}
	uintptr_t pid = (uintptr_t)map_get(fx->by_key, enc);
	if (!pid)
		return 0;
	const struct posting *p = &fx->post[pid - 1];
	for (size_t i = 0; i < p->len; i++)
		bits[p->rows[i] >> 6] |= 1ull << (p->rows[i] & 63);
	return 0;
}

/* *out: NULL (no restriction) or a bitmap of words words. */
static int eval(const struct fidx *fx, const struct filter *f, size_t words, uint64_t **out)
{
	enum filter_shape sh = filter_shape(f);
	*out = NULL;
	if (sh == FILTER_EQ || sh == FILTER_IN) {
		uint64_t *b = calloc(words ? words : 1, sizeof(*b));
		int indexable = 1;
		if (!b)
			return -ENOMEM;
		for (size_t i = 0; i < filter_nvalues(f) && indexable; i++) {
			struct filter_scalar v;
			filter_value(f, i, &v);
			posting_bits(fx, filter_key(f), &v, b, &indexable);
		}
		if (indexable)
			*out = b;
		else
			free(b);
		return 0;
	}
	if (sh == FILTER_OTHER)
		return 0;
	uint64_t *acc = NULL;
	for (size_t i = 0; i < filter_nkids(f); i++) {
		uint64_t *kid;
		int rc = eval(fx, filter_kid(f, i), words, &kid);
		if (rc) {
			free(acc);
			return rc;
		}
		if (sh == FILTER_OR && !kid) {
			free(acc);	/* one unrestricted branch: everything */
			return 0;
		}
		if (!kid)
			continue;
		if (!acc) {
			acc = kid;
			continue;
		}
		for (size_t w = 0; w < words; w++)
			acc[w] = sh == FILTER_AND ? acc[w] & kid[w] : acc[w] | kid[w];
		free(kid);
	}
	*out = acc;
	return 0;
}

int fidx_candidates(const struct fidx *fx, const struct filter *f, size_t nrows,
		    uint64_t **bits, size_t *count)
{
	*bits = NULL;
	*count = nrows;
	if (!f || !fx || fx->broken || nrows != fx->nrows)
		return 0;
	size_t words = (nrows + 63) / 64;
	int rc = eval(fx, f, words, bits);
	if (rc || !*bits)
		return rc;
	size_t c = 0;
	for (size_t w = 0; w < words; w++)
		c += (size_t)__builtin_popcountll((*bits)[w]);
	*count = c;
	return 0;
}

void fidx_counts(const struct fidx *fx, size_t *postings, size_t *entries, size_t *rows)
{
	*postings = fx->npost - fx->nfree;
	*entries = fx->entries;
	*rows = fx->nrows;
}

int fidx_check(const struct fidx *fx, char *err, size_t errlen)
{
	size_t entries = 0;
	if (fx->broken) {
		snprintf(err, errlen, "index marked broken");
		return -EIO;
	}
	for (size_t r = 0; r < fx->nrows; r++) {
		const struct rowlist *rl = &fx->rows[r];
		for (size_t i = 0; i < rl->n; i++) {
			const struct rowent *e = &rl->e[i];
			if (e->pid >= fx->npost || !fx->post[e->pid].key ||
			    e->pos >= fx->post[e->pid].len || fx->post[e->pid].rows[e->pos] != r) {
				snprintf(err, errlen, "row %zu entry %zu does not point back", r, i);
				return -EIO;
			}
			entries++;
		}
	}
	for (size_t r = fx->nrows; r < fx->cap_rows; r++)
		if (fx->rows[r].n) {
			snprintf(err, errlen, "row %zu past the end has entries", r);
			return -EIO;
		}
	for (size_t pid = 0; pid < fx->npost; pid++) {
		const struct posting *p = &fx->post[pid];
		if (!p->key)
			continue;
		if (!p->len || (uintptr_t)map_get(fx->by_key, p->key) != pid + 1) {
			snprintf(err, errlen, "posting %zu empty or not in the map", pid);
			return -EIO;
		}
		for (size_t i = 0; i < p->len; i++)
			if (p->rows[i] >= fx->nrows) {
				snprintf(err, errlen, "posting %zu holds row %u past the end", pid,
					 p->rows[i]);
				return -EIO;
			}
	}
	if (entries != fx->entries || map_count(fx->by_key) != fx->npost - fx->nfree) {
		snprintf(err, errlen, "counts disagree");
		return -EIO;
	}
	return 0;
}
