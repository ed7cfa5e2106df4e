/* store/filter_index.c - see filter_index.h
 *
 * A posting is an unordered array of rows; a row keeps, per posting it is
 * in, the position it holds there. Removing a row from a posting swaps the
 * posting's last entry into its slot and fixes that entry's back
 * reference. Empty postings are freed and their ids reused. Map keys are
 * "<key length>:<key>" then 's' + the string, or 'n' + the 16 hex digits
 * of the double, so no two (key, value) pairs share one.
 *
 * Range filters: every metadata key with a number (or boolean) posting has
 * a numkey, an unordered array of (value, posting id) over its numeric
 * postings, kept like the postings' rows (a released posting's entry is
 * swapped out, the moved entry's position fixed). A range on the key reads
 * that array (16 bytes per distinct value) and unites the rows of the
 * postings whose value passes: O(distinct values + rows matched), nothing
 * per row beyond the postings, no key limit.
 */
#include "filter_index.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

#define ENC_MAX (FIDX_MAX_KEY + FIDX_MAX_VALUE + 32)

struct numkey;

struct posting {
	char *key;		/* the map key (a copy), NULL when free */
	uint32_t *rows;
	size_t len, cap;
	struct numkey *nk;	/* a number's posting: its key's numkey, else NULL */
	size_t nkpos;		/* this posting's entry there */
};

/* The numeric postings of one metadata key. */
struct nument {
	double num;		/* the posting's value (-0 as 0) */
	uint32_t pid;
};

struct numkey {
	char *name;		/* the metadata key (the by_name map's key) */
	struct nument *e;
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
	struct map *by_name;	/* metadata key -> its struct numkey */
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
	if (!fx || !(fx->by_key = map_new()) || !(fx->by_name = map_new())) {
		if (fx)
			map_free(fx->by_key, NULL);
		free(fx);
		return -ENOMEM;
	}
	*out = fx;
	return 0;
}

static void numkey_free(void *p)
{
	struct numkey *nk = p;
	free(nk->name);
	free(nk->e);
	free(nk);
}

void fidx_free(struct fidx *fx)
{
	if (!fx)
		return;
	map_free(fx->by_key, NULL);
	map_free(fx->by_name, numkey_free);
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

/* *is_num and *num: the value as the filter's comparisons see it. */
static int encode_json(char *buf, const char *key, const cJSON *v, int *is_num, double *num)
{
	*is_num = cJSON_IsBool(v) || cJSON_IsNumber(v);
	*num = cJSON_IsBool(v) ? cJSON_IsTrue(v) : *is_num ? v->valuedouble : 0;
	if (*num == 0)
		*num = 0;	/* -0 == 0 */
	if (*is_num)
		return encode(buf, key, 1, *num, NULL);
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

/* Enter posting pid, of the number num under metadata key name, in the
 * key's numkey (made on its first number). */
static int numkey_add(struct fidx *fx, const char *name, double num, uint32_t pid)
{
	struct numkey *nk = map_get(fx->by_name, name);
	if (!nk) {
		nk = calloc(1, sizeof(*nk));
		if (!nk || !(nk->name = strdup(name)) || map_put(fx->by_name, name, nk, NULL)) {
			if (nk)
				free(nk->name);
			free(nk);
			return -ENOMEM;
		}
	}
	if (grow((void **)&nk->e, &nk->cap, nk->len + 1, sizeof(*nk->e))) {
		if (!nk->len) {
			map_del(fx->by_name, nk->name);
			numkey_free(nk);
		}
		return -ENOMEM;
	}
	nk->e[nk->len] = (struct nument){ num, pid };
	fx->post[pid].nk = nk;
	fx->post[pid].nkpos = nk->len++;
	return 0;
}

/* Take a released number posting out of its numkey; the last numkey entry
 * fills the hole, and a numkey left empty goes. */
static void numkey_drop(struct fidx *fx, const struct posting *p)
{
	struct numkey *nk = p->nk;
	struct nument last = nk->e[--nk->len];
	if (p->nkpos != nk->len) {
		nk->e[p->nkpos] = last;
		fx->post[last.pid].nkpos = p->nkpos;
	}
	if (!nk->len) {
		map_del(fx->by_name, nk->name);
		numkey_free(nk);
	}
}

static void release_posting(struct fidx *fx, uint32_t pid)
{
	struct posting *p = &fx->post[pid];
	if (p->nk)
		numkey_drop(fx, p);
	map_del(fx->by_key, p->key);
	free(p->key);
	free(p->rows);
	*p = (struct posting){ 0 };
	fx->free_pid[fx->nfree++] = pid;
}

/* The posting of enc (name's value: the number num when is_num), made
 * when new. */
static int posting_for(struct fidx *fx, const char *enc, const char *name, int is_num,
		       double num, uint32_t *pid)
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
	if (is_num && numkey_add(fx, name, num, *pid)) {
		release_posting(fx, *pid);
		return -ENOMEM;
	}
	return 0;
}

static int add(struct fidx *fx, size_t row, const char *enc, const char *name, int is_num,
	       double num)
{
	uint32_t pid;
	int rc = posting_for(fx, enc, name, is_num, num, &pid);
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
	int is_num;
	double num;
	if (!cJSON_IsObject(meta))
		return;
	cJSON_ArrayForEach(it, meta) {
		if (!it->string || cJSON_GetObjectItemCaseSensitive(meta, it->string) != it)
			continue;	/* filters see the first of duplicated keys */
		if (encode_json(enc, it->string, it, &is_num, &num) &&
		    add(fx, row, enc, it->string, is_num, num))
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

/* ---- range filters ---- */

/* A range leaf's operator; R_NONE / R_USED mark the other kids of an "and"
 * and the ranges already taken into a pass over their key. */
enum rop { R_GT, R_GE, R_LT, R_LE, R_NONE, R_USED };

struct cond {
	enum rop op;
	double v;
};

/* filter_match on metadata {key: x}, item being that key's number. */
/* 1 when leaf f is a range (> >= < <=) on an indexable key with a number
 * (or boolean) as its bound (filter_shape): *c gets the operator and the
 * bound. A NaN bound restricts nothing (0). */
static int range_leaf(const struct filter *f, struct cond *c)
{
	const char *key = filter_key(f);
	struct filter_scalar s;
	enum rop op;
	switch (filter_shape(f)) {
	case FILTER_GT: op = R_GT; break;
	case FILTER_GE: op = R_GE; break;
	case FILTER_LT: op = R_LT; break;
	case FILTER_LE: op = R_LE; break;
	default: return 0;
	}
	if (!key || strlen(key) > FIDX_MAX_KEY)
		return 0;
	filter_value(f, 0, &s);
	if (!s.is_num || isnan(s.num))
		return 0;
	*c = (struct cond){ op, s.num };
	return 1;
}

/* Whether the number a passes all n conditions, compared as filter.c
 * orders numbers (a NaN compares equal to everything there). */
static int passes(const struct cond *c, size_t n, double a)
{
	for (size_t i = 0; i < n; i++) {
		int cmp = (a > c[i].v) - (a < c[i].v);
		if (!(c[i].op == R_GT ? cmp > 0 : c[i].op == R_GE ? cmp >= 0 :
		      c[i].op == R_LT ? cmp < 0 : cmp <= 0))
			return 0;
	}
	return 1;
}

/* *out: the rows whose number under key passes all n conditions (ranges
 * that filter_match would "and"): the numkey's postings that pass. A key
 * without numbers gives no rows: a range with a number as bound matches
 * numbers (and booleans) only.
 *
 * NULL (no restriction) once the postings that pass hold over
 * 1/RANGE_DENSE of the rows (the search reads every row then anyway) and
 * number over 1/RANGE_SPREAD as many and over RANGE_MANY: each posting is
 * a random access, and such a bitmap costs a good part of the scan it
 * cannot shorten (a number per row, half of them passing: 12-17 ms at 1M
 * rows, a third of a 384-d scan; giving up there, after about 1/8 of the
 * rows, took 1.5-4 ms). A dense range over few values (0.4 ms for 93% of
 * 1M rows in 93 postings) still restricts, for an "and" to intersect. */
#define RANGE_DENSE 8
#define RANGE_SPREAD 32
#define RANGE_MANY 4096
static int range_eval(const struct fidx *fx, const char *key, const struct cond *c, size_t n,
		      size_t words, uint64_t **out)
{
	const struct numkey *nk = map_get(fx->by_name, key);
	size_t rows = 0, postings = 0, nrows = fx->nrows;
	uint64_t *b = calloc(words ? words : 1, sizeof(*b));
	*out = NULL;
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; nk && i < nk->len; i++) {
		if (!passes(c, n, nk->e[i].num))
			continue;
		const struct posting *p = &fx->post[nk->e[i].pid];
		rows += p->len;
		if (++postings > RANGE_MANY && postings > nrows / RANGE_SPREAD &&
		    rows > nrows / RANGE_DENSE) {
			free(b);
			return 0;
		}
		for (size_t j = 0; j < p->len; j++)
			b[p->rows[j] >> 6] |= 1ull << (p->rows[j] & 63);
	}
	*out = b;
	return 0;
}

/* ---- filters to bitmaps ---- */

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
	if (sh >= FILTER_GT && sh <= FILTER_LE) {
		struct cond c;
		return range_leaf(f, &c) ? range_eval(fx, filter_key(f), &c, 1, words, out) : 0;
	}
	if (sh == FILTER_OTHER)
		return 0;
	/* In an "and", the ranges on one key make one pass over its numbers
	 * (">= 7" and "<= 7" read the postings of 7, not of 7 and up and of 7
	 * and down): cs[i] is kid i's range, cs[n..] the pass's conditions. */
	size_t n = filter_nkids(f);
	struct cond *cs = NULL;
	if (sh == FILTER_AND && n > 1) {
		if (!(cs = malloc(2 * n * sizeof(*cs))))
			return -ENOMEM;
		for (size_t i = 0; i < n; i++)
			if (!range_leaf(filter_kid(f, i), &cs[i]))
				cs[i].op = R_NONE;
	}
	uint64_t *acc = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct filter *k = filter_kid(f, i);
		uint64_t *kid = NULL;
		int rc = 0;
		if (!cs) {
			rc = eval(fx, k, words, &kid);
		} else if (cs[i].op < R_NONE) {
			size_t m = 0;
			for (size_t j = i; j < n; j++)
				if (cs[j].op < R_NONE &&
				    !strcmp(filter_key(filter_kid(f, j)), filter_key(k))) {
					cs[n + m++] = cs[j];
					cs[j].op = R_USED;
				}
			rc = range_eval(fx, filter_key(k), cs + n, m, words, &kid);
		} else if (cs[i].op != R_USED) {
			rc = eval(fx, k, words, &kid);
		} /* else a range taken already */
		if (rc) {
			free(acc);
			free(cs);
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
	free(cs);
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

struct numcheck {
	const struct fidx *fx;
	size_t entries;
	const char *bad;	/* the first fault's key */
};

/* A numkey: non-empty, under its own name, each entry's posting pointing
 * back at it. */
static int check_numkey(const char *name, void *val, void *ctx)
{
	const struct numkey *nk = val;
	struct numcheck *c = ctx;
	int ok = nk->len && !strcmp(name, nk->name);
	for (size_t i = 0; ok && i < nk->len; i++)
		ok = nk->e[i].pid < c->fx->npost && c->fx->post[nk->e[i].pid].nk == nk &&
		     c->fx->post[nk->e[i].pid].nkpos == i;
	c->entries += nk->len;
	if (!ok)
		c->bad = name;
	return !ok;
}

int fidx_check(const struct fidx *fx, char *err, size_t errlen)
{
	size_t entries = 0, posted = 0, numbers = 0;
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
		posted += p->len;
		/* "<key length>:<key>n<hex of the double>" or "...s<string>" */
		size_t kl = strtoul(p->key, NULL, 10);
		const char *name = strchr(p->key, ':') + 1;
		const struct numkey *nk = p->nk;
		if (name[kl] != 'n') {
			if (nk) {
				snprintf(err, errlen, "string posting %zu has a number entry", pid);
				return -EIO;
			}
			continue;
		}
		uint64_t bits = strtoull(name + kl + 1, NULL, 16), nbits = ~bits;
		if (nk && map_get(fx->by_name, nk->name) == nk && strlen(nk->name) == kl &&
		    !memcmp(nk->name, name, kl) && p->nkpos < nk->len && nk->e[p->nkpos].pid == pid)
			memcpy(&nbits, &nk->e[p->nkpos].num, sizeof(nbits));
		if (nbits != bits) {
			snprintf(err, errlen, "number posting %zu is not its key's entry", pid);
			return -EIO;
		}
		numbers++;
	}
	if (entries != fx->entries || posted != entries ||
	    map_count(fx->by_key) != fx->npost - fx->nfree) {
		snprintf(err, errlen, "counts disagree");
		return -EIO;
	}
	struct numcheck nc = { fx, 0, NULL };
	if (map_each(fx->by_name, check_numkey, &nc) || nc.entries != numbers) {
		snprintf(err, errlen, "numbers of key \"%.40s\" do not point back",
			 nc.bad ? nc.bad : "(count)");
		return -EIO;
	}
	return 0;
}
