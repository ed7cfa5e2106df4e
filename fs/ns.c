/* fs/ns.c - see ns.h */
#include "ns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../store/jsonutil.h"
#include "../store/node.h"
#include "../store/persist.h"
#include "../store/vecindex.h"
#include "handle.h"

static const struct {
	const char *name;
	enum ns_top top;
} tops[] = {
	{ "docs", TOP_DOCS },     { "docstore", TOP_DOCSTORE }, { "index_store", TOP_INDEX },
	{ "vector_store", TOP_VECTOR }, { "kvstore", TOP_KV },  { "query", TOP_QUERY },
	{ "search", TOP_SEARCH }, { ".ragfs", TOP_RAGFS }, { "persist", TOP_PERSIST },
	{ "persist-ts", TOP_PERSIST_TS },
};
#define NTOPS (sizeof(tops) / sizeof(tops[0]))

static const char *const ragfs_files[] = { "status.json", "stats.json", "config.json",
					   "errors.log" };

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && !strcmp(s + n - m, suffix);
}

/* kvstore/ keys may hold '/' (docstore/metadata is keyed by doc path): in
 * file names '%' is written %25 and '/' %2F. */
static void key_to_name(const char *key, char *out, size_t len)
{
	size_t n = 0;
	for (; *key && n + 4 < len; key++) {
		if (*key == '/' || *key == '%')
			n += (size_t)snprintf(out + n, len - n, "%%%02X", (unsigned char)*key);
		else
			out[n++] = *key;
	}
	out[n] = '\0';
}

static void name_to_key(char *s)
{
	char *w = s;
	for (const char *r = s; *r; r++) {
		if (r[0] == '%' && (!strncasecmp(r + 1, "2F", 2) || !strncmp(r + 1, "25", 2))) {
			*w++ = r[2] == '5' ? '%' : '/';
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* id = name minus suffix when name is a single component ending in it. */
static int strip_suffix(const char *name, const char *suffix, char *id, size_t idlen)
{
	if (strchr(name, '/') || !ends_with(name, suffix))
		return 0;
	size_t n = strlen(name) - strlen(suffix);
	if (n >= idlen)
		return 0;
	memcpy(id, name, n);
	id[n] = '\0';
	return 1;
}

static void parse_kv(struct ns_path *p)
{
	char *slash = strrchr(p->rel, '/');
	p->kind = NS_KV;
	if (ends_with(p->rel, ".json")) {
		if (!slash) {
			p->kind = NS_BAD;
			return;
		}
		size_t clen = (size_t)(slash - p->rel);
		memcpy(p->coll, p->rel, clen);
		p->coll[clen] = '\0';
		strip_suffix(slash + 1, ".json", p->id, sizeof(p->id));
		name_to_key(p->id);
	} else {
		snprintf(p->coll, sizeof(p->coll), "%s", p->rel);
	}
}

static void parse_vector(struct ns_path *p)
{
	if (!strcmp(p->rel, "meta.json"))
		p->kind = NS_VEC_META;
	else if (!strcmp(p->rel, "matrix.f32"))
		p->kind = NS_VEC_MATRIX;
	else if (!strcmp(p->rel, "ids.txt"))
		p->kind = NS_VEC_IDS;
	else if (strip_suffix(p->rel, ".f32", p->id, sizeof(p->id)) && node_id_valid(p->id))
		p->kind = NS_VECTOR;
	else
		p->kind = NS_BAD;
}

static void parse_below(struct ns_path *p)
{
	switch (p->top) {
	case TOP_DOCS:
		p->kind = NS_DOC;
		break;
	case TOP_DOCSTORE:
		p->kind = strip_suffix(p->rel, ".json", p->id, sizeof(p->id)) &&
				  node_id_valid(p->id) ? NS_NODE : NS_BAD;
		break;
	case TOP_INDEX:
		p->kind = strip_suffix(p->rel, ".json", p->id, sizeof(p->id)) &&
				  node_id_valid(p->id) ? NS_INDEX : NS_BAD;
		break;
	case TOP_VECTOR:
		parse_vector(p);
		break;
	case TOP_KV:
		parse_kv(p);
		break;
	case TOP_QUERY:
	case TOP_SEARCH:
		p->kind = strchr(p->rel, '/') ? NS_BAD : p->top == TOP_QUERY ? NS_QUERY : NS_SEARCH;
		p->as_text = ends_with(p->rel, ".txt");
		snprintf(p->id, sizeof(p->id), "%s", p->rel);
		if (p->top == TOP_SEARCH && p->as_text)
			p->id[strlen(p->id) - 4] = '\0';
		break;
	case TOP_PERSIST:
	case TOP_PERSIST_TS:
		p->pfile = persist_file_lookup(p->top == TOP_PERSIST_TS, p->rel);
		p->kind = p->pfile >= 0 ? NS_PERSIST : NS_BAD;
		break;
	case TOP_RAGFS:
		p->kind = NS_BAD;
		for (size_t i = 0; i < 4; i++)
			if (!strcmp(p->rel, ragfs_files[i]))
				p->kind = NS_RAGFS;
		break;
	default:
		p->kind = NS_BAD;
	}
}

void ns_parse(const char *path, struct ns_path *p)
{
	memset(p, 0, sizeof(*p));
	p->kind = NS_BAD;
	if (!path) /* an open file whose name is gone (unlinked: hard_remove) */
		return;
	while (*path == '/')
		path++;
	if (!*path) {
		p->kind = NS_ROOT;
		return;
	}
	const char *slash = strchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : strlen(path);
	for (size_t i = 0; i < NTOPS; i++)
		if (strlen(tops[i].name) == n && !strncmp(tops[i].name, path, n))
			p->top = tops[i].top;
	if (p->top == TOP_NONE)
		return;
	if (!slash || !slash[1]) {
		p->kind = NS_TOPDIR;
		return;
	}
	if (strlen(slash + 1) >= sizeof(p->rel))
		return;
	snprintf(p->rel, sizeof(p->rel), "%s", slash + 1);
	parse_below(p);
}

/* ------------------------------------------------------------- stat */

static void ts_from_ns(struct timespec *ts, int64_t ns)
{
	ts->tv_sec = (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
}

static void fill_dir(struct fsctx *fc, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = 2;
	st->st_uid = fc->uid;
	st->st_gid = fc->gid;
	st->st_atim = st->st_mtim = st->st_ctim = fc->started;
}

static void fill_file(struct fsctx *fc, struct stat *st, mode_t perm, size_t size,
		      int64_t mtime_ns)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | perm;
	st->st_nlink = 1;
	st->st_uid = fc->uid;
	st->st_gid = fc->gid;
	st->st_size = (off_t)size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	if (mtime_ns)
		ts_from_ns(&st->st_mtim, mtime_ns);
	else
		st->st_mtim = fc->started;
	st->st_atim = st->st_ctim = st->st_mtim;
}

struct prefix_probe {
	const char *prefix;
	size_t plen;
};

static int has_prefix(const char *key, void *val, void *ctx)
{
	struct prefix_probe *pp = ctx;
	(void)val;
	return !strncmp(key, pp->prefix, pp->plen);
}

/* 1 if some key of coll starts with "dir/". */
static int coll_has_below(const struct state *st, const char *coll, const char *dir)
{
	const struct map *c = state_coll(st, coll);
	char prefix[4200];
	snprintf(prefix, sizeof(prefix), "%s/", dir);
	struct prefix_probe pp = { prefix, strlen(prefix) };
	return c && map_each(c, has_prefix, &pp);
}

static int doc_is_dir(const struct state *st, const char *rel)
{
	return state_get(st, COLL_DIRS, rel) || coll_has_below(st, COLL_DIRS, rel) ||
	       coll_has_below(st, COLL_DOCS, rel);
}

/* Collections visible under kvstore/ (not ragfs.*). */
static int kv_visible(const char *coll)
{
	return strncmp(coll, COLL_INTERNAL_PREFIX, strlen(COLL_INTERNAL_PREFIX)) != 0;
}

struct kv_dir_probe {
	const char *dir;
	size_t len;
	int found;
};

static int kv_dir_match(const char *name, const struct kv_dir_probe *pr)
{
	return kv_visible(name) && !strncmp(name, pr->dir, pr->len) &&
	       (name[pr->len] == '\0' || name[pr->len] == '/');
}

static int kv_is_dir(const struct state *st, const char *dir)
{
	struct kv_dir_probe pr = { dir, strlen(dir), 0 };
	size_t n;
	if (!strcmp(dir, "index_store") || !strcmp(dir, COLL_INDEX))
		return 1;
	const char **names = state_coll_names(st, &n);
	for (size_t i = 0; names && i < n && !pr.found; i++)
		pr.found = kv_dir_match(names[i], &pr);
	free(names);
	const struct map *kd = state_coll(st, COLL_KVDIRS);
	const char **keys = kd ? map_keys_sorted(kd, &n) : NULL;
	for (size_t i = 0; keys && i < n && !pr.found; i++)
		pr.found = kv_dir_match(keys[i], &pr);
	free(keys);
	return pr.found;
}

static void pending_key(const struct ns_path *p, char *key, size_t len)
{
	snprintf(key, len, "%d/%s", (int)p->top, p->rel);
}

/* The mtime a file open for writing and not committed shows (its
 * utimens, else its open time), or 0 when there is no such file. */
static int64_t pending_mtime(struct fsctx *fc, const char *path)
{
	pthread_mutex_lock(&fc->lock);
	struct handle *h = map_get(fc->pending, path);
	int64_t t = h ? handle_mtime(h) : 0;
	pthread_mutex_unlock(&fc->lock);
	return t;
}

static int stat_state(struct fsctx *fc, const struct state *s, const struct ns_path *p,
		      struct stat *st)
{
	const struct entry *e;
	struct vecindex *vi = state_vectors(s);
	size_t vbytes = (size_t)store_dim(fc->store) * sizeof(float);
	switch (p->kind) {
	case NS_DOC:
		if ((e = state_get(s, COLL_DOCS, p->rel))) {
			fill_file(fc, st, e->mode ? e->mode & 07777 : 0644, e->len, e->mtime_ns);
			return 0;
		}
		if (doc_is_dir(s, p->rel)) {
			fill_dir(fc, st);
			if ((e = state_get(s, COLL_DIRS, p->rel)))
				ts_from_ns(&st->st_mtim, e->mtime_ns);
			return 0;
		}
		return -ENOENT;
	case NS_NODE:
		if (!(e = state_get(s, COLL_NODES, p->id)))
			return -ENOENT;
		fill_file(fc, st, 0644, e->len, e->mtime_ns);
		return 0;
	case NS_INDEX:
		if (!strcmp(p->id, store_index_id(fc->store))) {
			fill_file(fc, st, 0444, 0, 0);
			return 1; /* size known only when rendered */
		}
		if (!(e = state_get(s, COLL_INDEX, p->id)))
			return -ENOENT;
		fill_file(fc, st, 0644, e->len, e->mtime_ns);
		return 0;
	case NS_VECTOR:
		if (vecindex_find(vi, p->id) < 0)
			return -ENOENT;
		fill_file(fc, st, 0644, vbytes, 0);
		return 0;
	case NS_VEC_MATRIX:
		fill_file(fc, st, 0444, vecindex_count(vi) * vbytes, 0);
		return 0;
	case NS_KV:
		if (!p->id[0]) {
			if (!kv_is_dir(s, p->coll))
				return -ENOENT;
			fill_dir(fc, st);
			return 0;
		}
		if (!strcmp(p->coll, COLL_INDEX) && !strcmp(p->id, store_index_id(fc->store))) {
			fill_file(fc, st, 0444, 0, 0);
			return 1;
		}
		if (!(e = state_get(s, p->coll, p->id)) || !kv_visible(p->coll))
			return -ENOENT;
		fill_file(fc, st, 0644, e->len, e->mtime_ns);
		return 1; /* docstore/data renders wrapped: size from the render */
	default:
		return 1;
	}
}

/* The size of a rendered file. */
static int stat_rendered(struct fsctx *fc, const struct ns_path *p, struct stat *st)
{
	struct buf b = BUF_INIT;
	int rc = ns_read(fc, p, &b);
	if (!rc) {
		st->st_size = (off_t)b.len;
		st->st_blocks = (blkcnt_t)((b.len + 511) / 512);
	}
	buf_release(&b);
	return rc;
}

static int stat_query(struct fsctx *fc, const struct ns_path *p, struct stat *st)
{
	pthread_mutex_lock(&fc->lock);
	struct query_file *q = map_get(fc->queries, p->rel);
	if (q) {
		fill_file(fc, st, 0644, q->result_len, 0);
		st->st_mtim = st->st_ctim = st->st_atim = q->mtime;
	}
	pthread_mutex_unlock(&fc->lock);
	return q ? 0 : -ENOENT;
}

_Static_assert(PERSIST_NFILES <= sizeof(((struct fsctx *)0)->psize) /
			       sizeof(((struct fsctx *)0)->psize[0]),
	       "fsctx.psize holds every persist file");

/* A persist file's size is a full render: remember it per state version. */
static int stat_persist(struct fsctx *fc, const struct ns_path *p, struct stat *st)
{
	uint64_t size = 0;
	int rc = 0;
	const struct state *s = store_read_begin(fc->store);
	uint64_t version = state_version(s);
	pthread_mutex_lock(&fc->lock);
	int hit = fc->psize[p->pfile].valid && fc->psize[p->pfile].version == version;
	size = fc->psize[p->pfile].size;
	pthread_mutex_unlock(&fc->lock);
	if (!hit)
		rc = persist_size(s, store_index_id(fc->store), store_dim(fc->store), p->pfile,
				  &size);
	store_read_end(fc->store);
	if (rc)
		return rc;
	pthread_mutex_lock(&fc->lock);
	fc->psize[p->pfile].version = version;
	fc->psize[p->pfile].size = size;
	fc->psize[p->pfile].valid = 1;
	pthread_mutex_unlock(&fc->lock);
	fill_file(fc, st, 0644, (size_t)size, 0);
	return 0;
}

int ns_getattr(struct fsctx *fc, const struct ns_path *p, struct stat *st)
{
	char full[4200];
	switch (p->kind) {
	case NS_ROOT:
	case NS_TOPDIR:
		fill_dir(fc, st);
		return 0;
	case NS_BAD:
		return -ENOENT;
	case NS_QUERY:
		return stat_query(fc, p, st);
	case NS_SEARCH:
	case NS_RAGFS:
		fill_file(fc, st, 0444, 0, 0);
		return 0;
	case NS_VEC_META:
	case NS_VEC_IDS:
		fill_file(fc, st, 0444, 0, 0);
		return stat_rendered(fc, p, st);
	case NS_PERSIST:
		return stat_persist(fc, p, st);
	default:
		break;
	}
	const struct state *s = store_read_begin(fc->store);
	int rc = stat_state(fc, s, p, st);
	store_read_end(fc->store);
	if (rc == 1)
		return stat_rendered(fc, p, st);
	if (rc == -ENOENT) {
		pending_key(p, full, sizeof(full));
		int64_t mtime = pending_mtime(fc, full);
		if (mtime) {
			fill_file(fc, st, 0644, 0, mtime);
			return 0;
		}
	}
	return rc;
}

/* ------------------------------------------------------------- readdir */

struct lister {
	struct map *names; /* name -> (void *)1 file, (void *)2 dir */
};

static void add_name(struct lister *l, const char *name, int is_dir)
{
	if (!map_get(l->names, name))
		map_put(l->names, name, (void *)(uintptr_t)(is_dir ? 2 : 1), NULL);
}

/* Add the child of dir ("" = top) that key lies under, if any. */
static void add_child(struct lister *l, const char *dir, const char *key, int key_is_dir)
{
	size_t dlen = strlen(dir);
	if (dlen) {
		if (strncmp(key, dir, dlen) || key[dlen] != '/')
			return;
		key += dlen + 1;
	}
	const char *slash = strchr(key, '/');
	if (!slash) {
		add_name(l, key, key_is_dir);
		return;
	}
	char name[256];
	size_t n = (size_t)(slash - key);
	if (n >= sizeof(name))
		return;
	memcpy(name, key, n);
	name[n] = '\0';
	add_name(l, name, 1);
}

struct child_walk {
	struct lister *l;
	const char *dir;
	int is_dir;
	const char *suffix; /* appended to flat ids (".json") */
	int escape;         /* kvstore: '/' and '%' escaped in names */
};

static int walk_child(const char *key, void *val, void *ctx)
{
	struct child_walk *w = ctx;
	(void)val;
	if (w->suffix) {
		char name[4200], esc[4096];
		if (w->escape)
			key_to_name(key, esc, sizeof(esc));
		snprintf(name, sizeof(name), "%s%s", w->escape ? esc : key, w->suffix);
		add_name(w->l, name, 0);
	} else {
		add_child(w->l, w->dir, key, w->is_dir);
	}
	return 0;
}

static void list_coll(struct lister *l, const struct state *s, const char *coll,
		      const char *dir, int is_dir, const char *suffix)
{
	const struct map *c = state_coll(s, coll);
	struct child_walk w = { l, dir, is_dir, suffix, 0 };
	if (c)
		map_each(c, walk_child, &w);
}

static void list_kv(struct lister *l, const struct state *s, const char *dir)
{
	size_t n;
	const char **names = state_coll_names(s, &n);
	size_t dlen = strlen(dir);
	for (size_t i = 0; names && i < n; i++) {
		if (!kv_visible(names[i]))
			continue;
		if (!strcmp(names[i], dir)) {
			struct child_walk w = { l, "", 0, ".json", 1 };
			map_each(state_coll(s, names[i]), walk_child, &w);
			continue;
		}
		add_child(l, dir, names[i], 1);
	}
	free(names);
	list_coll(l, s, COLL_KVDIRS, dir, 1, NULL);
	(void)dlen;
	add_child(l, dir, COLL_INDEX, 1);
}

static void list_vectors(struct lister *l, const struct state *s)
{
	struct vecindex *vi = state_vectors(s);
	size_t n = vecindex_count(vi);
	char name[300];
	add_name(l, "meta.json", 0);
	add_name(l, "matrix.f32", 0);
	add_name(l, "ids.txt", 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s.f32", vecindex_id(vi, i));
		add_name(l, name, 0);
	}
}

static int list_folder(struct fsctx *fc, const struct ns_path *p, struct lister *l)
{
	char name[100];
	if (p->kind == NS_ROOT) {
		for (size_t i = 0; i < NTOPS; i++)
			add_name(l, tops[i].name, 1);
		return 0;
	}
	if (p->top == TOP_RAGFS) {
		for (size_t i = 0; i < 4; i++)
			add_name(l, ragfs_files[i], 0);
		return 0;
	}
	if (p->top == TOP_QUERY) {
		pthread_mutex_lock(&fc->lock);
		size_t n;
		const char **keys = map_keys_sorted(fc->queries, &n);
		for (size_t i = 0; keys && i < n; i++)
			add_name(l, keys[i], 0);
		free(keys);
		pthread_mutex_unlock(&fc->lock);
		return 0;
	}
	if (p->top == TOP_SEARCH)
		return 0;
	if (p->top == TOP_PERSIST || p->top == TOP_PERSIST_TS) {
		for (int f = 0; f < PERSIST_NFILES; f++)
			if (persist_file_is_ts(f) == (p->top == TOP_PERSIST_TS))
				add_name(l, persist_file_name(f), 0);
		return 0;
	}
	const struct state *s = store_read_begin(fc->store);
	int rc = 0;
	switch (p->top) {
	case TOP_DOCS:
		if (p->kind == NS_DOC && !doc_is_dir(s, p->rel))
			rc = state_get(s, COLL_DOCS, p->rel) ? -ENOTDIR : -ENOENT;
		list_coll(l, s, COLL_DOCS, p->rel, 0, NULL);
		list_coll(l, s, COLL_DIRS, p->rel, 1, NULL);
		break;
	case TOP_DOCSTORE:
		list_coll(l, s, COLL_NODES, "", 0, ".json");
		break;
	case TOP_INDEX:
		list_coll(l, s, COLL_INDEX, "", 0, ".json");
		snprintf(name, sizeof(name), "%s.json", store_index_id(fc->store));
		add_name(l, name, 0);
		break;
	case TOP_VECTOR:
		list_vectors(l, s);
		break;
	case TOP_KV:
		if (p->kind == NS_KV && (p->id[0] || !kv_is_dir(s, p->coll))) {
			rc = p->id[0] ? -ENOTDIR : -ENOENT;
			break;
		}
		list_kv(l, s, p->coll);
		if (!strcmp(p->coll, COLL_INDEX)) {
			snprintf(name, sizeof(name), "%s.json", store_index_id(fc->store));
			add_name(l, name, 0);
		}
		break;
	default:
		rc = -ENOTDIR;
	}
	store_read_end(fc->store);
	return rc;
}

int ns_readdir(struct fsctx *fc, const struct ns_path *p, ns_fill_fn fill, void *ctx)
{
	struct lister l = { map_new() };
	if (!l.names)
		return -ENOMEM;
	int rc = list_folder(fc, p, &l);
	if (!rc) {
		struct stat st;
		size_t n;
		fill_dir(fc, &st);
		fill(ctx, ".", &st);
		fill(ctx, "..", &st);
		const char **keys = map_keys_sorted(l.names, &n);
		for (size_t i = 0; keys && i < n; i++) {
			int is_dir = map_get(l.names, keys[i]) == (void *)2;
			if (is_dir)
				fill_dir(fc, &st);
			else
				fill_file(fc, &st, 0644, 0, 0);
			if (fill(ctx, keys[i], &st))
				break;
		}
		free(keys);
	}
	map_free(l.names, NULL);
	return rc;
}

/* ------------------------------------------------------------- content */

static int read_vec_meta(struct fsctx *fc, const struct state *s, struct buf *out)
{
	return buf_addf(out,
			"{\"dim\": %u, \"metric\": \"cosine\", \"count\": %zu, \"dtype\": "
			"\"float32\", \"byte_order\": \"little\", \"index\": {\"kind\": \"flat\", "
			"\"exact\": true}, \"files\": {\"matrix\": \"matrix.f32\", \"ids\": "
			"\"ids.txt\"}}\n",
			store_dim(fc->store), vecindex_count(state_vectors(s)));
}

static int read_matrix(const struct state *s, int ids, struct buf *out)
{
	struct vecindex *vi = state_vectors(s);
	size_t n = vecindex_count(vi), row = vecindex_dim(vi) * sizeof(float);
	int rc = ids ? 0 : buf_grow(out, n * row);
	for (size_t i = 0; i < n && !rc; i++)
		rc = ids ? buf_addf(out, "%s\n", vecindex_id(vi, i))
			 : buf_add(out, vecindex_row(vi, i), row);
	return rc;
}

static int read_kv(struct fsctx *fc, const struct state *s, const struct ns_path *p,
		   struct buf *out)
{
	if (!strcmp(p->coll, COLL_INDEX) && !strcmp(p->id, store_index_id(fc->store)))
		return store_render_default_index(fc->store, s, out);
	const struct entry *e = kv_visible(p->coll) ? state_get(s, p->coll, p->id) : NULL;
	if (!e)
		return -ENOENT;
	/* The docstore keeps bare nodes; its KV layer wraps them as LlamaIndex does. */
	if (!strcmp(p->coll, COLL_NODES))
		return buf_addf(out, "{\"__data__\": %s, \"__type__\": \"1\"}", e->val);
	return buf_add(out, e->val, e->len);
}

static int read_state(struct fsctx *fc, const struct state *s, const struct ns_path *p,
		      struct buf *out)
{
	const struct entry *e;
	long row;
	switch (p->kind) {
	case NS_DOC:
		e = state_get(s, COLL_DOCS, p->rel);
		if (!e)
			return doc_is_dir(s, p->rel) ? -EISDIR : -ENOENT;
		return buf_add(out, e->val, e->len);
	case NS_NODE:
		e = state_get(s, COLL_NODES, p->id);
		return e ? buf_add(out, e->val, e->len) : -ENOENT;
	case NS_INDEX:
		if (!strcmp(p->id, store_index_id(fc->store)))
			return store_render_default_index(fc->store, s, out);
		e = state_get(s, COLL_INDEX, p->id);
		return e ? buf_add(out, e->val, e->len) : -ENOENT;
	case NS_VECTOR:
		row = vecindex_find(state_vectors(s), p->id);
		if (row < 0)
			return -ENOENT;
		return buf_add(out, vecindex_row(state_vectors(s), (size_t)row),
			       vecindex_dim(state_vectors(s)) * sizeof(float));
	case NS_VEC_META:
		return read_vec_meta(fc, s, out);
	case NS_VEC_MATRIX:
	case NS_VEC_IDS:
		return read_matrix(s, p->kind == NS_VEC_IDS, out);
	case NS_PERSIST:
		return persist_render_buf(s, store_index_id(fc->store), store_dim(fc->store),
					  p->pfile, out);
	case NS_KV:
		return p->id[0] ? read_kv(fc, s, p, out) : -EISDIR;
	default:
		return -ENOENT;
	}
}

static int read_query(struct fsctx *fc, const struct ns_path *p, struct buf *out)
{
	pthread_mutex_lock(&fc->lock);
	struct query_file *q = map_get(fc->queries, p->rel);
	char *text = q ? strndup(q->text, q->len) : NULL;
	size_t len = q ? q->len : 0;
	pthread_mutex_unlock(&fc->lock);
	if (!q)
		return -ENOENT;
	if (!text)
		return -ENOMEM;
	char path[4200];
	snprintf(path, sizeof(path), "query/%s", p->rel);
	int rc = store_query(fc->store, path, text, len, p->as_text, out);
	free(text);
	if (!rc)
		ns_query_note_result(fc, p, out->len);
	return rc;
}

void ns_query_note_result(struct fsctx *fc, const struct ns_path *p, size_t len)
{
	pthread_mutex_lock(&fc->lock);
	struct query_file *q = p->kind == NS_QUERY ? map_get(fc->queries, p->rel) : NULL;
	if (q)
		q->result_len = len;
	pthread_mutex_unlock(&fc->lock);
}

static int read_ragfs(struct fsctx *fc, const struct ns_path *p, struct buf *out)
{
	if (!strcmp(p->rel, "status.json"))
		return store_render_status(fc->store, out);
	if (!strcmp(p->rel, "stats.json"))
		return store_render_stats(fc->store, out);
	if (!strcmp(p->rel, "config.json"))
		return store_render_config(fc->store, out);
	return errlog_render(store_errlog(fc->store), out);
}

int ns_read(struct fsctx *fc, const struct ns_path *p, struct buf *out)
{
	char path[4200];
	switch (p->kind) {
	case NS_ROOT:
	case NS_TOPDIR:
		return -EISDIR;
	case NS_BAD:
		return -ENOENT;
	case NS_QUERY:
		return read_query(fc, p, out);
	case NS_SEARCH:
		snprintf(path, sizeof(path), "search/%s", p->rel);
		return store_query(fc->store, path, p->id, strlen(p->id), p->as_text, out);
	case NS_RAGFS:
		return read_ragfs(fc, p, out);
	default:
		break;
	}
	const struct state *s = store_read_begin(fc->store);
	int rc = read_state(fc, s, p, out);
	store_read_end(fc->store);
	return rc;
}

int ns_is_query(const struct ns_path *p)
{
	return p->kind == NS_QUERY || p->kind == NS_SEARCH;
}

int ns_is_generated(const struct ns_path *p)
{
	return ns_is_query(p) || p->kind == NS_RAGFS;
}

/* ------------------------------------------------------------- writing */

void ns_query_free(void *p)
{
	struct query_file *q = p;
	if (q)
		free(q->text);
	free(q);
}

static int write_query(struct fsctx *fc, const struct ns_path *p, const char *data,
		       size_t len)
{
	struct query_file *q = calloc(1, sizeof(*q));
	if (!q || !(q->text = malloc(len + 1))) {
		free(q);
		return -ENOMEM;
	}
	memcpy(q->text, data, len);
	q->text[len] = '\0';
	q->len = len;
	clock_gettime(CLOCK_REALTIME, &q->mtime);
	struct query_file *old = NULL;
	pthread_mutex_lock(&fc->lock);
	int rc = map_put(fc->queries, p->rel, q, (void **)&old);
	pthread_mutex_unlock(&fc->lock);
	ns_query_free(old);
	if (rc)
		ns_query_free(q);
	return rc;
}

static int kv_protected(const char *coll)
{
	return !strncmp(coll, "docstore/", 9) || !strncmp(coll, "index_store/", 12) ||
	       !kv_visible(coll);
}

static int refuse(struct fsctx *fc, const struct ns_path *p, int err, const char *why)
{
	char path[4300];
	const char *top = "";
	for (size_t i = 0; i < NTOPS; i++)
		if (tops[i].top == p->top)
			top = tops[i].name;
	snprintf(path, sizeof(path), "%s/%s", top, p->rel);
	errlog_add(store_errlog(fc->store), path, err, "%s", why);
	return err;
}

int ns_write(struct fsctx *fc, const struct ns_path *p, const char *data, size_t len,
	     uint32_t mode, int64_t mtime_ns)
{
	struct store *s = fc->store;
	switch (p->kind) {
	case NS_DOC:
		return store_doc_write(s, p->rel, data, len, mtime_ns, mode);
	case NS_NODE:
		return store_node_write(s, p->id, data, len);
	case NS_INDEX:
		return store_index_write(s, p->id, data, len);
	case NS_VECTOR:
		return store_vector_write(s, p->id, data, len);
	case NS_KV:
		if (kv_protected(p->coll))
			return refuse(fc, p, -EPERM,
				      "the docstore and index store collections are written "
				      "through docstore/ and index_store/");
		return store_kv_write(s, p->coll, p->id, data, len);
	case NS_QUERY:
		return write_query(fc, p, data, len);
	case NS_PERSIST:
		if (p->top == TOP_PERSIST_TS)
			return store_import_persist_ts(s, p->rel, data, len);
		return store_import_persist(s, p->rel, data, len);
	default:
		return -EACCES;
	}
}

/* 1 when the folder a docs/ or kvstore/ path would live in exists: for a
 * kvstore key that is its collection. */
static int parent_exists(struct fsctx *fc, const struct ns_path *p)
{
	char dir[4096];
	const char *path = p->top == TOP_KV ? p->coll : p->rel;
	const char *end = p->top == TOP_KV && p->id[0] ? path + strlen(path) : strrchr(path, '/');
	if (!end)
		return 1; /* directly below the top folder */
	size_t n = (size_t)(end - path);
	memcpy(dir, path, n);
	dir[n] = '\0';
	const struct state *s = store_read_begin(fc->store);
	int ok = p->top == TOP_DOCS ? doc_is_dir(s, dir) : kv_is_dir(s, dir);
	store_read_end(fc->store);
	return ok;
}

int ns_may_create(struct fsctx *fc, const struct ns_path *p)
{
	if (store_read_only(fc->store) && p->kind != NS_QUERY)
		return -EROFS;
	switch (p->kind) {
	case NS_DOC:
		return parent_exists(fc, p) ? 0 : -ENOENT;
	case NS_NODE:
	case NS_INDEX:
	case NS_VECTOR:
	case NS_QUERY:
		return 0;
	case NS_KV:
		if (!p->id[0])
			return refuse(fc, p, -EINVAL, "kvstore keys are files named <key>.json "
						      "inside a collection folder");
		if (kv_protected(p->coll))
			return refuse(fc, p, -EPERM, "this collection is written through "
						     "docstore/ and index_store/");
		return parent_exists(fc, p) ? 0 : -ENOENT;
	case NS_PERSIST:
		return store_read_only(fc->store) ? -EROFS : 0;
	case NS_BAD:
		if (p->top == TOP_PERSIST || p->top == TOP_PERSIST_TS)
			return refuse(fc, p, -EINVAL, "a persist dir holds LlamaIndex's files only");
		if (p->top == TOP_DOCSTORE || p->top == TOP_INDEX)
			return refuse(fc, p, -EINVAL, "this folder holds <id>.json files only");
		if (p->top == TOP_VECTOR)
			return refuse(fc, p, -EINVAL, "vector_store/ holds <node_id>.f32 files only");
		if (p->top == TOP_KV)
			return refuse(fc, p, -EINVAL, "kvstore/ keys live in a collection folder");
		return p->top == TOP_NONE ? -EACCES : -EINVAL;
	default:
		return -EACCES;
	}
}

int ns_unlink(struct fsctx *fc, const struct ns_path *p)
{
	struct store *s = fc->store;
	switch (p->kind) {
	case NS_DOC:
		return store_doc_delete(s, p->rel);
	case NS_NODE:
		return store_node_delete(s, p->id);
	case NS_INDEX:
		return store_index_delete(s, p->id);
	case NS_VECTOR:
		return store_vector_delete(s, p->id);
	case NS_KV:
		if (!p->id[0])
			return -EISDIR;
		if (kv_protected(p->coll))
			return -EPERM;
		return store_kv_delete(s, p->coll, p->id);
	case NS_QUERY: {
		pthread_mutex_lock(&fc->lock);
		struct query_file *q = map_del(fc->queries, p->rel);
		pthread_mutex_unlock(&fc->lock);
		if (!q)
			return -ENOENT;
		ns_query_free(q);
		return 0;
	}
	case NS_BAD:
		return -ENOENT;
	default:
		return -EPERM;
	}
}

int ns_mkdir(struct fsctx *fc, const struct ns_path *p)
{
	struct stat st;
	if (ns_getattr(fc, p, &st) == 0)
		return -EEXIST;
	if (store_read_only(fc->store))
		return -EROFS;
	if (p->kind == NS_DOC)
		return parent_exists(fc, p) ? store_dir_make(fc->store, p->rel) : -ENOENT;
	if (p->kind == NS_KV && !p->id[0]) {
		if (kv_protected(p->coll))
			return -EPERM;
		return parent_exists(fc, p) ? store_kv_mkcoll(fc->store, p->coll) : -ENOENT;
	}
	return -EPERM;
}

int ns_rmdir(struct fsctx *fc, const struct ns_path *p)
{
	if (p->kind == NS_DOC) {
		struct stat st;
		int rc = ns_getattr(fc, p, &st);
		if (rc)
			return rc;
		return S_ISDIR(st.st_mode) ? store_dir_remove(fc->store, p->rel) : -ENOTDIR;
	}
	if (p->kind == NS_KV && !p->id[0])
		return kv_protected(p->coll) ? -EPERM : store_kv_rmcoll(fc->store, p->coll);
	if (p->kind == NS_ROOT || p->kind == NS_TOPDIR)
		return -EPERM;
	return p->kind == NS_BAD ? -ENOENT : -ENOTDIR;
}

static int rename_query(struct fsctx *fc, const struct ns_path *from,
			const struct ns_path *to)
{
	pthread_mutex_lock(&fc->lock);
	struct query_file *q = map_del(fc->queries, from->rel), *old = NULL;
	int rc = q ? map_put(fc->queries, to->rel, q, (void **)&old) : -ENOENT;
	pthread_mutex_unlock(&fc->lock);
	ns_query_free(old);
	return rc;
}

static int rename_kv(struct fsctx *fc, const struct ns_path *from, const struct ns_path *to)
{
	struct buf b = BUF_INIT;
	if (kv_protected(from->coll) || kv_protected(to->coll) || !from->id[0] || !to->id[0])
		return -EPERM;
	int rc = ns_read(fc, from, &b);
	if (!rc)
		rc = store_kv_write(fc->store, to->coll, to->id, b.data, b.len);
	if (!rc)
		rc = store_kv_delete(fc->store, from->coll, from->id);
	buf_release(&b);
	return rc;
}

static int rename_doc(struct fsctx *fc, const struct ns_path *from, const struct ns_path *to,
		      unsigned flags)
{
	struct stat sst, tst;
	int rc = ns_getattr(fc, from, &sst);
	if (rc)
		return rc;
	int exists = ns_getattr(fc, to, &tst) == 0;
	if (exists && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (!parent_exists(fc, to))
		return -ENOENT;
	if (S_ISDIR(sst.st_mode)) {
		if (exists && !S_ISDIR(tst.st_mode))
			return -ENOTDIR;
		if (exists && (rc = store_dir_remove(fc->store, to->rel)))
			return rc;
		return store_dir_rename(fc->store, from->rel, to->rel);
	}
	if (exists && S_ISDIR(tst.st_mode))
		return -EISDIR;
	return store_doc_rename(fc->store, from->rel, to->rel);
}

int ns_rename(struct fsctx *fc, const struct ns_path *from, const struct ns_path *to,
	      unsigned flags)
{
	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	if (from->top != to->top)
		return -EXDEV;
	if (store_read_only(fc->store) && from->kind != NS_QUERY)
		return -EROFS;
	if (from->kind == NS_DOC && to->kind == NS_DOC)
		return rename_doc(fc, from, to, flags);
	if (from->kind == NS_QUERY && to->kind == NS_QUERY)
		return rename_query(fc, from, to);
	if (from->kind == NS_KV && to->kind == NS_KV)
		return rename_kv(fc, from, to);
	return -EPERM;
}

int ns_set_times(struct fsctx *fc, const struct ns_path *p, const struct timespec *mtime)
{
	if (p->kind != NS_DOC)
		return 0; /* generated and keyed files keep their own times */
	const struct state *s = store_read_begin(fc->store);
	const struct entry *e = state_get(s, COLL_DOCS, p->rel);
	uint32_t mode = e ? e->mode : 0;
	int explicit_dir = !e && state_get(s, COLL_DIRS, p->rel);
	int is_dir = !e && doc_is_dir(s, p->rel);
	store_read_end(fc->store);
	int64_t ns = (int64_t)mtime->tv_sec * 1000000000 + mtime->tv_nsec;
	if (explicit_dir)
		return store_dir_setattr(fc->store, p->rel, ns);
	if (is_dir)
		return 0; /* implicit folders show the mount time */
	if (!e)
		return -ENOENT;
	return store_doc_setattr(fc->store, p->rel, ns, mode);
}

int ns_chmod(struct fsctx *fc, const struct ns_path *p, mode_t mode)
{
	if (p->kind != NS_DOC)
		return -EPERM;
	const struct state *s = store_read_begin(fc->store);
	const struct entry *e = state_get(s, COLL_DOCS, p->rel);
	int64_t mtime = e ? e->mtime_ns : 0;
	int is_dir = !e && doc_is_dir(s, p->rel);
	store_read_end(fc->store);
	if (is_dir)
		return 0; /* folders are implicit: their mode is fixed at 0755 */
	if (!e)
		return -ENOENT;
	return store_doc_setattr(fc->store, p->rel, mtime, (uint32_t)(mode & 07777));
}

void ns_pending_add(struct fsctx *fc, const struct ns_path *p, void *handle)
{
	char key[4200];
	pending_key(p, key, sizeof(key));
	pthread_mutex_lock(&fc->lock);
	map_put(fc->pending, key, handle, NULL);
	pthread_mutex_unlock(&fc->lock);
}

void ns_pending_del_locked(struct fsctx *fc, const struct ns_path *p, void *handle)
{
	char key[4200];
	pending_key(p, key, sizeof(key));
	if (map_get(fc->pending, key) == handle) /* a newer create keeps its entry */
		map_del(fc->pending, key);
}

void ns_pending_del(struct fsctx *fc, const struct ns_path *p, void *handle)
{
	pthread_mutex_lock(&fc->lock);
	ns_pending_del_locked(fc, p, handle);
	pthread_mutex_unlock(&fc->lock);
}

void *ns_pending_get_locked(struct fsctx *fc, const struct ns_path *p)
{
	char key[4200];
	pending_key(p, key, sizeof(key));
	return map_get(fc->pending, key);
}

void ns_pending_rename_locked(struct fsctx *fc, const struct ns_path *from,
			      const struct ns_path *to)
{
	char fkey[4200], tkey[4200], nkey[8400];
	pending_key(from, fkey, sizeof(fkey));
	pending_key(to, tkey, sizeof(tkey));
	size_t flen = strlen(fkey), n;
	/* Collect first: the map must not change during a walk. */
	const char **keys = map_keys_sorted(fc->pending, &n);
	char **moved = keys ? calloc(n ? n : 1, sizeof(*moved)) : NULL;
	void **vals = moved ? calloc(n ? n : 1, sizeof(*vals)) : NULL;
	size_t m = 0;
	for (size_t i = 0; vals && i < n; i++) {
		if (strncmp(keys[i], fkey, flen) || (keys[i][flen] && keys[i][flen] != '/'))
			continue;
		snprintf(nkey, sizeof(nkey), "%s%s", tkey, keys[i] + flen);
		moved[m] = strdup(nkey);
		vals[m] = moved[m] ? map_del(fc->pending, keys[i]) : NULL;
		if (vals[m])
			m++;
		else
			free(moved[m]);
	}
	free(keys);
	/* The name it lands on was replaced: its own entry goes. */
	map_del(fc->pending, tkey);
	for (size_t i = 0; i < m; i++) {
		map_put(fc->pending, moved[i], vals[i], NULL);
		free(moved[i]);
	}
	free(moved);
	free(vals);
}

int ns_refuse(struct fsctx *fc, const struct ns_path *p, int err, const char *why)
{
	return refuse(fc, p, err, why);
}
