/* store/store_reembed.c - which embedder a mount uses, and re-embedding a
 * store whose vectors were made by another one.
 *
 * The embedder identity {embed, model, dim} the vectors were made with is a
 * record in the state, ragfs.embedder/active (state.h); a store without one
 * (made before it existed, or never re-embedded) has the manifest's embed
 * and dim. It travels in frames like any change, so it is exactly as
 * durable as the vectors it describes, and it is atomic with them.
 *
 * At mount (store_reembed_open) the options are resolved against it:
 * options left out keep the store's embedder; a mount asking for the same
 * identity changes nothing; one asking for another (not "none", which never
 * re-embeds) records ragfs.embedder/target, which starts a second, empty
 * vector set (ragfs.vectors.next). A worker thread then embeds every node
 * with text into that set, in batches, retrying failures with backoff,
 * while the old vectors keep answering queries with the old embedder
 * (s->emb). When no node lacks a target vector, one frame that puts the
 * target record as "active" makes the new set the active one (state.c
 * swaps them in the same apply), and s->emb becomes the new embedder, both
 * under the write lock: no query sees a mix. A crash leaves the target
 * record and the vectors made so far in the journal/segments: the next
 * mount with the same options resumes, one with the old options cancels.
 *
 * Ownership: s->emb, s->re.target and s->re.retired[] are the store's.
 * Embedders replaced at the switch are kept until close, because queries
 * and ingests embed outside the lock with the pointer they read.
 * Lock order: s->lock, then s->re.lock (a leaf).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "embed_glove.h"
#include "jsonutil.h"
#include "log.h"
#include "node.h"
#include "store_int.h"

#define BATCH_LOCAL 256
#define BATCH_REMOTE 64
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 60000

struct ident {
	char embed[32];
	char model[256];
	char url[512]; /* where (http): recorded, not part of the identity */
	uint32_t dim;
};

/* ------------------------------------------------------------ identity */

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* The URL without "user:pass@" and "?query": what is safe to record. */
static void safe_url(char *dst, size_t len, const char *url)
{
	const char *p = url ? strstr(url, "://") : NULL;
	copy_str(dst, len, url);
	if (!p)
		return;
	size_t host = (size_t)(p + 3 - url);
	const char *at = strchr(p + 3, '@'), *slash = strchr(p + 3, '/');
	if (at && (!slash || at < slash) && host < len)
		memmove(dst + host, dst + host + (size_t)(at + 1 - (p + 3)),
			strlen(dst + host) - (size_t)(at - (p + 3)));
	dst[strcspn(dst, "?#")] = '\0';
}

static int ident_parse(const struct entry *e, struct ident *id)
{
	cJSON *j = e ? json_parse(e->val, e->len) : NULL;
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "dim");
	const char *name = json_str(j, "embed");
	int rc = name && cJSON_IsNumber(d) && d->valuedouble >= 1 && d->valuedouble <= 65536 ?
		0 : -EBADMSG;
	memset(id, 0, sizeof(*id));
	if (!rc) {
		copy_str(id->embed, sizeof(id->embed), name);
		copy_str(id->model, sizeof(id->model), json_str(j, "model"));
		copy_str(id->url, sizeof(id->url), json_str(j, "url"));
		id->dim = (uint32_t)d->valuedouble;
	}
	cJSON_Delete(j);
	return rc;
}

static int ident_put(struct txn *t, const char *key, const struct ident *id)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "embed", id->embed);
	cJSON_AddStringToObject(j, "model", id->model);
	cJSON_AddNumberToObject(j, "dim", id->dim);
	if (id->url[0])
		cJSON_AddStringToObject(j, "url", id->url);
	int rc = j ? txn_put_json(t, COLL_EMBEDDER, key, j) : -ENOMEM;
	cJSON_Delete(j);
	return rc;
}

static int ident_same(const struct ident *a, const struct ident *b)
{
	return !strcmp(a->embed, b->embed) && !strcmp(a->model, b->model) && a->dim == b->dim;
}

/* "embed=http model=M dim=16", for people. */
static const char *ident_str(const struct ident *id, char *buf, size_t len)
{
	snprintf(buf, len, "embed=%s%s%s dim=%u", id->embed, id->model[0] ? " model=" : "",
		 id->model, id->dim);
	return buf;
}

/* ------------------------------------------------------------ embedders */

/* An embedder for id: the built-ins here, others (http) through the
 * caller's factory. id->dim 0 (glove only): the table's. */
static int build(const struct store_opts *o, const struct ident *id, struct embedder **out,
		 char *err, size_t errlen)
{
	const char *e = id->embed;
	*out = NULL;
	if (!strcmp(e, "hash"))
		return embed_hash_new(id->dim, out);
	if (!strcmp(e, "none"))
		return embed_none_new(id->dim, out);
	if (!strcmp(e, "glove")) { /* $RAGFS_GLOVE, else the table scripts/glove.sh writes */
		char path[4096];
		int rc = embed_glove_new(embed_glove_path(path, sizeof(path)), out);
		if (rc) {
			snprintf(err, errlen, "embed=glove: cannot use the word-vector table %.200s (%s): run scripts/glove.sh",
				 path, strerror(-rc));
			return rc;
		}
		if (id->dim && (*out)->dim != id->dim) {
			snprintf(err, errlen, "embed=glove gives dim=%u, not dim=%u", (*out)->dim,
				 id->dim);
			embedder_free(*out);
			*out = NULL;
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(e, "http") && o->make_embedder)
		return o->make_embedder(e, id->model, id->url[0] ? id->url : NULL, id->dim, out,
					err, errlen);
	snprintf(err, errlen, "unknown embedder \"%s\" (hash, glove, http, none)", e);
	return -EINVAL;
}

/* ------------------------------------------------------------ at mount */

static int commit_now(struct store *s, struct txn *t)
{
	if (!t->n) {
		txn_free(t);
		return 0;
	}
	pthread_rwlock_wrlock(&s->lock);
	return store_write_end(s, t, 0);
}

static int has_nodes_or_vectors(const struct state *st)
{
	return state_coll(st, COLL_NODES) || vecindex_count(state_vectors(st));
}

/* The embedder the mount asks for, and its identity (want). Options left
 * out are the store's. */
static int resolve_target(struct store *s, const struct store_opts *o, const struct ident *active,
			  struct ident *want, struct embedder **target, char *err, size_t errlen)
{
	char why[300] = "";
	int rc = 0;
	memset(want, 0, sizeof(*want));
	*target = o->embedder; /* injected (embed=http, tests): ours now */
	s->opts.embedder = NULL;
	if (*target) {
		copy_str(want->embed, sizeof(want->embed), o->embed ? o->embed : (*target)->name);
		copy_str(want->model, sizeof(want->model), o->embed_model);
		safe_url(want->url, sizeof(want->url), o->embed_url);
		want->dim = (*target)->dim;
		return 0;
	}
	if (!o->embed) {
		*want = *active;
		if (o->dim)
			want->dim = o->dim;
	} else {
		copy_str(want->embed, sizeof(want->embed), o->embed);
		want->dim = o->dim ? o->dim : strcmp(o->embed, "glove") ? active->dim : 0;
	}
	rc = build(o, want, target, why, sizeof(why));
	if (rc && !o->embed && !why[0])
		snprintf(why, sizeof(why), "%s", strerror(-rc));
	if (rc && !o->embed) /* the store's own embedder */
		snprintf(err, errlen, "the store's vectors were made with embed=%s, which this "
			 "mount cannot build (%s): give -o embed=... (and its options)",
			 active->embed, why);
	else if (rc)
		snprintf(err, errlen, "%s", why[0] ? why : strerror(-rc));
	if (!rc)
		want->dim = (*target)->dim;
	return rc;
}

/* Start (or resume) re-embedding from active to want with target. */
static int begin_reembed(struct store *s, const struct store_opts *o, const struct ident *active,
			 const struct ident *want, struct embedder *target)
{
	struct ident rec;
	char why[300] = "", a[400], b[400];
	struct txn t = { 0 };
	struct embedder *old = NULL;
	int rc = strcmp(active->embed, "none") ? build(o, active, &old, why, sizeof(why)) : -ENOTSUP;
	if (rc) { /* queries by text use BM25 until the switch (store.c) */
		rc = embed_none_new(active->dim, &old);
		if (rc)
			return rc;
		s->re.stand_in = old;
		errlog_add(s->errs, "(reembed)", 0, "no embedder for the current vectors (%s): "
			   "queries by text use BM25 until re-embedding finishes",
			   why[0] ? why : "embed=none");
	}
	s->emb = old;
	s->re.target = target;
	ident_str(active, s->re.from, sizeof(s->re.from));
	ident_str(want, s->re.to, sizeof(s->re.to));
	const struct entry *te = state_get(s->st, COLL_EMBEDDER, EMBED_TARGET);
	int resume = state_next_vectors(s->st) && !ident_parse(te, &rec) && ident_same(&rec, want);
	if (!resume)
		rc = ident_put(&t, EMBED_TARGET, want);
	if (!rc)
		rc = commit_now(s, &t);
	LOG_INFO("re-embedding: %s -> %s%s", ident_str(active, a, sizeof(a)),
		 ident_str(want, b, sizeof(b)), resume ? " (resumed)" : "");
	return rc;
}

int store_reembed_open(struct store *s, const struct store_opts *o, char *err, size_t errlen)
{
	struct ident active, want;
	struct embedder *target = NULL;
	struct txn t = { 0 };
	char a[400], b[400];
	pthread_mutex_init(&s->re.lock, NULL);
	pthread_cond_init(&s->re.cond, NULL);
	s->re.inited = 1;
	int recorded = !ident_parse(state_get(s->st, COLL_EMBEDDER, EMBED_ACTIVE), &active);
	if (!recorded) { /* never re-embedded: the manifest says */
		memset(&active, 0, sizeof(active));
		copy_str(active.embed, sizeof(active.embed), s->man.embed);
		active.dim = state_dim(s->st);
	}
	int fresh = !recorded && !has_nodes_or_vectors(s->st);
	int rc = resolve_target(s, o, &active, &want, &target, err, errlen);
	if (rc)
		return rc;
	if (fresh && want.dim != active.dim && !o->dim && !o->embedder) {
		snprintf(err, errlen, "embed=%s gives dim=%u, the store has dim=%u (a new store needs -o dim=%u)",
			 want.embed, want.dim, active.dim, want.dim);
		embedder_free(target);
		return -EINVAL;
	}
	if (fresh && want.dim != active.dim) { /* an empty store: nothing to re-embed */
		s->man.dim = want.dim;
		copy_str(s->man.embed, sizeof(s->man.embed), want.embed);
		active = want;
		recorded = 0;
		fresh = 2; /* record it below */
	}
	char *name = strdup(want.embed); /* config.json shows what is used */
	if (name) {
		free((void *)s->opts.embed);
		s->opts.embed = name;
	}
	/* A store without a record takes the mount's model when the rest agrees. */
	int adopt = !recorded && !strcmp(want.embed, active.embed) && want.dim == active.dim;
	int same = adopt || ident_same(&want, &active);
	if (same || !strcmp(want.embed, "none")) {
		if (!same && want.dim != active.dim) {
			snprintf(err, errlen, "embed=none cannot re-embed: the store has dim=%u, "
				 "dim=%u was given", active.dim, want.dim);
			embedder_free(target);
			return -EINVAL;
		}
		s->emb = target;
		__atomic_store_n(&s->dim, state_dim(s->st), __ATOMIC_RELEASE);
		if (fresh == 2 && s->opts.read_only) { /* (ro never creates a store) */
			snprintf(err, errlen, "a read-only mount cannot change the store's dim");
			return -EROFS;
		}
		if (s->opts.read_only || !same)
			return 0;
		/* Record what only the mount knows (the model, where it is), or
		 * the dim an empty store now has. */
		if ((adopt && (want.model[0] || want.url[0] || fresh == 2)) ||
		    (!adopt && strcmp(want.url, active.url)))
			rc = ident_put(&t, EMBED_ACTIVE, &want);
		if (!rc && state_get(s->st, COLL_EMBEDDER, EMBED_TARGET)) {
			LOG_INFO("re-embedding cancelled: the mount asks for %s again",
				 ident_str(&want, a, sizeof(a)));
			rc = txn_del(&t, COLL_EMBEDDER, EMBED_TARGET);
		}
		rc = rc ? (txn_free(&t), rc) : commit_now(s, &t);
		__atomic_store_n(&s->dim, state_dim(s->st), __ATOMIC_RELEASE);
		if (rc && fresh == 2) {
			snprintf(err, errlen, "cannot record the store's dim: %s", strerror(-rc));
			return rc;
		}
		if (rc) /* the next mount records it */
			errlog_add(s->errs, "(embedder)", rc, "cannot record the embedder: %s",
				   strerror(-rc));
		return 0;
	}
	if (s->opts.read_only) {
		snprintf(err, errlen, "the store's vectors were made with %s; a read-only mount "
			 "cannot re-embed them with %s", ident_str(&active, a, sizeof(a)),
			 ident_str(&want, b, sizeof(b)));
		embedder_free(target);
		return -EROFS;
	}
	rc = begin_reembed(s, o, &active, &want, target);
	__atomic_store_n(&s->dim, state_dim(s->st), __ATOMIC_RELEASE);
	if (rc)
		snprintf(err, errlen, "cannot start re-embedding: %s", strerror(-rc));
	return rc;
}

/* ------------------------------------------------------------ the worker */

struct idlist {
	char **ids;
	size_t n, cap;
};

static void idlist_free(struct idlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->ids[i]);
	free(l->ids);
	memset(l, 0, sizeof(*l));
}

struct scan_ctx {
	const struct state *st;
	struct vecindex *next;
	struct idlist *out; /* NULL: count only */
	size_t missing;
	int rc;
};

static int scan_node(const char *id, void *val, void *ctx)
{
	struct scan_ctx *c = ctx;
	const struct entry *e = val;
	if (c->next && vecindex_find(c->next, id) >= 0)
		return 0;
	cJSON *node = json_parse(e->val, e->len);
	int wanted = node_text(node) != NULL;
	cJSON_Delete(node);
	if (!wanted)
		return 0;
	c->missing++;
	if (!c->out)
		return 0;
	struct idlist *l = c->out;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		char **n = realloc(l->ids, cap * sizeof(*n));
		if (!n)
			return c->rc = -ENOMEM;
		l->ids = n;
		l->cap = cap;
	}
	if (!(l->ids[l->n] = strdup(id)))
		return c->rc = -ENOMEM;
	l->n++;
	return 0;
}

/* Nodes with text and no target vector. Caller holds s->lock. */
static int scan_locked(struct store *s, struct idlist *out, size_t *missing)
{
	struct scan_ctx c = { s->st, state_next_vectors(s->st), out, 0, 0 };
	const struct map *nodes = state_coll(s->st, COLL_NODES);
	if (nodes)
		map_each(nodes, scan_node, &c);
	*missing = c.missing;
	return c.rc;
}

static int stopping(struct store *s)
{
	pthread_mutex_lock(&s->re.lock);
	int st = s->re.stopping;
	pthread_mutex_unlock(&s->re.lock);
	return st;
}

/* Wait ms, or less when stopping. */
static void nap(struct store *s, double ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	int64_t ns = until.tv_nsec + (int64_t)(ms * 1e6);
	until.tv_sec += ns / 1000000000;
	until.tv_nsec = ns % 1000000000;
	pthread_mutex_lock(&s->re.lock);
	if (!s->re.stopping)
		pthread_cond_timedwait(&s->re.cond, &s->re.lock, &until);
	pthread_mutex_unlock(&s->re.lock);
}

/* Embed ids[0..n) with target into the target set. */
static int run_batch(struct store *s, struct embedder *target, char **ids, size_t n)
{
	char **texts = calloc(n, sizeof(*texts));
	size_t *lens = calloc(n, sizeof(*lens)), k = 0;
	char **kept = calloc(n, sizeof(*kept));
	float *v = NULL;
	int rc = texts && lens && kept ? 0 : -ENOMEM;
	store_read_begin(s);
	struct vecindex *next = state_next_vectors(s->st);
	for (size_t i = 0; i < n && !rc; i++) {
		const struct entry *e = state_get(s->st, COLL_NODES, ids[i]);
		cJSON *node = e ? json_parse(e->val, e->len) : NULL;
		const char *text = node_text(node);
		if (text && next && vecindex_find(next, ids[i]) < 0) {
			if ((texts[k] = strdup(text))) {
				lens[k] = strlen(text);
				kept[k++] = ids[i];
			} else {
				rc = -ENOMEM;
			}
		}
		cJSON_Delete(node);
	}
	store_read_end(s);
	if (!rc && k) {
		v = malloc(k * target->dim * sizeof(float));
		rc = v ? embedder_embed(target, (const char *const *)texts, lens, k, v) : -ENOMEM;
	}
	struct txn t = { 0 };
	size_t put = 0;
	if (!rc && k) {
		pthread_rwlock_wrlock(&s->lock);
		next = state_next_vectors(s->st);
		/* Cancelled or replaced meanwhile (another writer): drop the batch. */
		int live = next && vecindex_dim(next) == target->dim && s->re.target == target;
		for (size_t i = 0; i < k && live && !rc; i++) {
			const struct entry *e = state_get(s->st, COLL_NODES, kept[i]);
			cJSON *node = e ? json_parse(e->val, e->len) : NULL;
			const char *text = node_text(node);
			if (text && !strcmp(text, texts[i])) {
				rc = txn_add(&t, FRAME_PUT, COLL_VECS_NEXT, kept[i],
					     v + i * target->dim, target->dim * sizeof(float), 0, 0);
				put++;
			}
			cJSON_Delete(node);
		}
		if (!rc)
			rc = store_commit_locked(s, &t);
		txn_free(&t);
	} else {
		pthread_rwlock_wrlock(&s->lock); /* nothing to commit: the counts, locked */
	}
	/* Still under the write lock: status.json (under the read lock) sees
	 * the new vectors and the smaller queue together. */
	if (!rc) {
		pthread_mutex_lock(&s->re.lock);
		s->re.queued = s->re.queued > n ? s->re.queued - n : 0;
		s->re.embedded += put;
		if (put && !s->re.first_ns)
			s->re.first_ns = now_ns();
		pthread_mutex_unlock(&s->re.lock);
	}
	pthread_rwlock_unlock(&s->lock);
	for (size_t i = 0; texts && i < k; i++)
		free(texts[i]);
	free(texts);
	free(lens);
	free(kept);
	free(v);
	return rc;
}

/* Make the target set the active one when no node lacks a target vector.
 * 1: switched; 0: not complete (rescan); negative: cancelled. */
static int try_switch(struct store *s, struct embedder *target, uint64_t version, int full)
{
	struct txn t = { 0 };
	size_t missing = 0;
	pthread_rwlock_wrlock(&s->lock);
	int rc = 0;
	if (state_version(s->st) != version) {
		/* Something changed since the scan: check again, here when the
		 * store keeps changing (so the switch cannot starve). */
		rc = full ? scan_locked(s, NULL, &missing) : 0;
		if (!full || rc || missing) {
			pthread_rwlock_unlock(&s->lock);
			return rc;
		}
	}
	const struct entry *te = state_get(s->st, COLL_EMBEDDER, EMBED_TARGET);
	if (!te || !state_next_vectors(s->st) || s->re.target != target) {
		pthread_rwlock_unlock(&s->lock);
		LOG_WARN("re-embedding: the target was cancelled by another writer");
		return -ECANCELED;
	}
	rc = txn_add(&t, FRAME_PUT, COLL_EMBEDDER, EMBED_ACTIVE, te->val, te->len, 0, 0);
	if (!rc)
		rc = store_commit_locked(s, &t);
	txn_free(&t);
	if (!rc && state_dim(s->st) == target->dim && !state_next_vectors(s->st)) {
		struct embedder **r = realloc(s->re.retired, (s->re.nretired + 1) * sizeof(*r));
		if (r) { /* else the old one leaks until exit: still correct */
			s->re.retired = r;
			r[s->re.nretired++] = s->emb;
		}
		__atomic_store_n(&s->emb, target, __ATOMIC_RELEASE);
		__atomic_store_n(&s->re.target, NULL, __ATOMIC_RELEASE);
		__atomic_store_n(&s->dim, target->dim, __ATOMIC_RELEASE);
		pthread_mutex_lock(&s->re.lock);
		s->re.done_ns = now_ns();
		s->re.queued = 0;
		pthread_mutex_unlock(&s->re.lock);
	}
	size_t n = vecindex_count(state_vectors(s->st));
	pthread_rwlock_unlock(&s->lock);
	if (rc)
		return rc;
	LOG_INFO("re-embedding done: %zu vectors of %s", n, s->re.to);
	return 1;
}

static void *reembed_main(void *arg)
{
	struct store *s = arg;
	struct embedder *target = s->re.target;
	size_t batch = target->remote ? BATCH_REMOTE : BATCH_LOCAL;
	unsigned failures = 0, rescans = 0;
	while (!stopping(s)) {
		struct idlist todo = { 0 };
		size_t missing;
		store_read_begin(s);
		uint64_t version = state_version(s->st);
		int rc = scan_locked(s, &todo, &missing);
		store_read_end(s);
		pthread_mutex_lock(&s->re.lock);
		s->re.queued = missing;
		s->re.scans++;
		pthread_mutex_unlock(&s->re.lock);
		if (!rc && !todo.n) {
			rc = try_switch(s, target, version, rescans++ >= 2);
			idlist_free(&todo);
			if (rc == 1 || rc == -ECANCELED)
				break;
			if (rc < 0) /* the journal refused the switch: later */
				nap(s, 1000);
			continue;
		}
		for (size_t i = 0; !rc && i < todo.n && !stopping(s);) {
			size_t k = todo.n - i < batch ? todo.n - i : batch;
			rc = run_batch(s, target, todo.ids + i, k);
			if (!rc) {
				i += k;
				failures = 0;
				continue;
			}
			/* Exponential backoff with full jitter; the same batch again. */
			errlog_add(s->errs, "(reembed)", rc, "re-embedding %zu nodes failed; retrying", k);
			pthread_mutex_lock(&s->re.lock);
			s->re.last_err = rc;
			s->re.failures++;
			pthread_mutex_unlock(&s->re.lock);
			double cap = BACKOFF_MIN_MS * pow(2, failures < 20 ? failures : 20);
			failures++;
			nap(s, (double)rand() / RAND_MAX * (cap > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : cap));
			rc = 0;
		}
		if (rc) /* out of memory: wait, then try again */
			nap(s, 1000);
		idlist_free(&todo);
	}
	return NULL;
}

int store_reembed_start(struct store *s)
{
	if (!s->re.target || s->re.running || s->opts.read_only)
		return 0;
	int rc = -pthread_create(&s->re.thread, NULL, reembed_main, s);
	s->re.running = !rc;
	return rc;
}

void store_reembed_stop(struct store *s)
{
	if (!s->re.running)
		return;
	pthread_mutex_lock(&s->re.lock);
	s->re.stopping = 1;
	pthread_cond_broadcast(&s->re.cond);
	pthread_mutex_unlock(&s->re.lock);
	pthread_join(s->re.thread, NULL);
	s->re.running = 0;
}

void store_reembed_destroy(struct store *s)
{
	embedder_free(s->re.target);
	for (size_t i = 0; i < s->re.nretired; i++)
		embedder_free(s->re.retired[i]);
	free(s->re.retired);
	if (s->re.inited) {
		pthread_mutex_destroy(&s->re.lock);
		pthread_cond_destroy(&s->re.cond);
	}
}

void store_reembed_after_merge(struct store *s)
{
	__atomic_store_n(&s->dim, state_dim(s->st), __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------ status */

void store_reembed_status(struct store *s, cJSON *o)
{
	store_read_begin(s);
	struct vecindex *next = state_next_vectors(s->st);
	int active = s->re.target != NULL;
	size_t done = vecindex_count(active ? next : state_vectors(s->st));
	pthread_mutex_lock(&s->re.lock);
	size_t queued = active ? s->re.queued : 0; /* updated with done (run_batch) */
	store_read_end(s);
	if (!active && !s->re.done_ns) { /* not re-embedding, nor done in this mount */
		pthread_mutex_unlock(&s->re.lock);
		cJSON_AddNullToObject(o, "reembed");
		return;
	}
	cJSON *r = cJSON_AddObjectToObject(o, "reembed");
	int64_t first = s->re.first_ns, end = s->re.done_ns ? s->re.done_ns : now_ns();
	double secs = first ? (double)(end - first) / 1e9 : 0;
	double rate = secs > 0 ? (double)s->re.embedded / secs : 0;
	cJSON_AddStringToObject(r, "state", active ? (s->re.scans ? "running" : "starting") : "done");
	cJSON_AddStringToObject(r, "from", s->re.from);
	cJSON_AddStringToObject(r, "to", s->re.to);
	cJSON_AddNumberToObject(r, "done", (double)done);
	cJSON_AddNumberToObject(r, "queued", (double)queued);
	cJSON_AddNumberToObject(r, "embedded_this_mount", (double)s->re.embedded);
	cJSON_AddNumberToObject(r, "rate", round(rate * 10) / 10);
	if (active && rate > 0)
		cJSON_AddNumberToObject(r, "eta_s", ceil((double)queued / rate));
	else
		cJSON_AddNullToObject(r, "eta_s");
	cJSON_AddNumberToObject(r, "failures", (double)s->re.failures);
	if (s->re.last_err)
		cJSON_AddStringToObject(r, "last_error", strerrorname_np(-s->re.last_err) ?: "E?");
	else
		cJSON_AddNullToObject(r, "last_error");
	cJSON_AddStringToObject(r, "queries", !active ? "new vectors" :
				s->re.stand_in ? "text (BM25): no embedder for the old vectors" :
				"old vectors");
	pthread_mutex_unlock(&s->re.lock);
}
