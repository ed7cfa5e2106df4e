/* store/store.c - see store.h. Open/recover, commit, flush. The mutations
 * live in store_docs.c-style sections below, grouped by folder. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "../backends/backends.h"
#include "../backends/s3.h"
#include "ann.h"
#include "embed.h"
#include "ingest.h"
#include "journal.h"
#include "jsonutil.h"
#include "log.h"
#include "manifest.h"
#include "node.h"
#include "query.h"
#include "store_int.h"

/* ---------------------------------------------------------------- stats */

void store_lat_add(struct lat_ring *r, double ms)
{
	pthread_mutex_lock(&r->lock);
	r->ms[r->n % LAT_KEEP] = ms;
	r->n++;
	pthread_mutex_unlock(&r->lock);
}

double store_elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---------------------------------------------------------------- txn */

void txn_free(struct txn *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free((void *)t->ops[i].coll);
		free((void *)t->ops[i].key);
		free((void *)t->ops[i].val);
	}
	free(t->ops);
	memset(t, 0, sizeof(*t));
}

/* Add an op; coll, key and val are copied. */
int txn_add(struct txn *t, uint8_t type, const char *coll, const char *key, const void *val,
	    size_t len, int64_t mtime_ns, uint32_t mode)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct frame_op *n = realloc(t->ops, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->ops = n;
		t->cap = cap;
	}
	struct frame_op *op = &t->ops[t->n];
	memset(op, 0, sizeof(*op));
	op->type = type;
	op->coll = strdup(coll);
	op->key = strdup(key);
	op->val = len ? malloc(len) : NULL;
	if (!op->coll || !op->key || (len && !op->val)) {
		free((void *)op->coll);
		free((void *)op->key);
		free((void *)op->val);
		return -ENOMEM;
	}
	if (len)
		memcpy((void *)op->val, val, len);
	op->coll_len = strlen(coll);
	op->key_len = strlen(key);
	op->val_len = len;
	op->mtime_ns = mtime_ns ? mtime_ns : now_ns();
	op->mode = mode;
	t->n++;
	return 0;
}

int txn_append(struct txn *to, struct txn *from)
{
	if (to->n + from->n > to->cap) {
		size_t cap = to->n + from->n;
		struct frame_op *n = realloc(to->ops, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		to->ops = n;
		to->cap = cap;
	}
	if (from->n)
		memcpy(to->ops + to->n, from->ops, from->n * sizeof(*from->ops));
	to->n += from->n;
	free(from->ops);
	memset(from, 0, sizeof(*from));
	return 0;
}

int txn_put_json(struct txn *t, const char *coll, const char *key, const cJSON *j)
{
	struct buf b = BUF_INIT;
	int rc = json_print(j, &b);
	if (!rc)
		rc = txn_add(t, FRAME_PUT, coll, key, b.data, b.len, 0, 0);
	buf_release(&b);
	return rc;
}

int txn_del(struct txn *t, const char *coll, const char *key)
{
	return txn_add(t, FRAME_DEL, coll, key, NULL, 0, 0, 0);
}

int txn_put_node_meta(struct txn *t, const cJSON *node)
{
	char hash[65];
	const char *text = node_text(node), *doc = node_ref_doc_id(node);
	node_hash(text ? text : "", node_metadata(node), hash);
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "doc_hash", hash);
	if (doc)
		cJSON_AddStringToObject(m, "ref_doc_id", doc);
	int rc = m ? txn_put_json(t, COLL_DOCMETA, node_id(node), m) : -ENOMEM;
	cJSON_Delete(m);
	return rc;
}

int store_write_begin(struct store *s)
{
	if (s->opts.read_only)
		return -EROFS;
	pthread_rwlock_wrlock(&s->lock);
	return 0;
}

int store_write_end(struct store *s, struct txn *t, int rc)
{
	if (!rc)
		rc = store_commit_locked(s, t);
	pthread_rwlock_unlock(&s->lock);
	txn_free(t);
	return rc;
}

/* Journal and apply t. Caller holds the write lock. */
int store_commit_locked(struct store *s, struct txn *t)
{
	if (!t->n)
		return 0;
	struct buf frame = BUF_INIT;
	int rc = frame_encode(&frame, s->next_seq, t->ops, t->n);
	if (!rc)
		rc = journal_append(s->jn, frame.data, frame.len);
	buf_release(&frame);
	if (rc) {
		errlog_add(s->errs, t->ops[0].key, rc, "cannot record the change in the journal "
			   "(%s): nothing changed", s->cache_dir);
		return rc;
	}
	s->next_seq++;
	for (size_t i = 0; i < t->n; i++) {
		int arc = state_apply(s->st, &t->ops[i]);
		if (arc)
			LOG_ERR("apply %s/%s: %s", t->ops[i].coll, t->ops[i].key, strerror(-arc));
	}
	store_sync_index_id(s);
	return 0;
}

void store_refuse(struct store *s, const char *path, int err, const char *reason)
{
	errlog_add(s->errs, path, err, "%s", reason);
}

/* ---------------------------------------------------------------- open */

static int load_manifest(struct store *s, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	struct obj_meta meta = { 0 };
	int rc = backend_get(s->be, MANIFEST_KEY, 0, BACKEND_RANGE_ALL, &b, &meta);
	if (rc == -ENOENT) {
		buf_release(&b);
		if (s->opts.read_only) {
			snprintf(err, errlen, "%s holds no ragfs store (and ro was given)",
				 s->opts.store);
			return -ENOENT;
		}
		s->man.generation = 1;
		uuid4(s->man.store_id);
		uuid4(s->man.index_id);
		s->man.dim = s->opts.dim ? s->opts.dim : DEFAULT_DIM;
		snprintf(s->man.embed, sizeof(s->man.embed), "%s", s->opts.embed);
		rc = store_put_manifest(s, &s->man);
		if (rc)
			snprintf(err, errlen, "cannot create the store manifest in %s: %s",
				 s->opts.store, strerror(-rc));
		return rc;
	}
	if (rc) {
		snprintf(err, errlen, "cannot read %s/%s: %s", s->opts.store, MANIFEST_KEY,
			 strerror(-rc));
		buf_release(&b);
		return rc;
	}
	char why[200];
	rc = manifest_parse(b.data, b.len, &s->man, why, sizeof(why));
	buf_release(&b);
	if (rc) {
		snprintf(err, errlen, "%s: %s", s->opts.store, why);
		return rc;
	}
	snprintf(s->man_etag, sizeof(s->man_etag), "%s", meta.etag);
	return 0; /* another dim than the store's re-embeds it: store_reembed.c */
}

static int copy_opts(struct store *s, const struct store_opts *o)
{
	s->opts = *o;
	s->opts.embed = strdup(o->embed ? o->embed : o->embedder ? o->embedder->name : "hash");
	s->opts.store = strdup(o->store);
	s->opts.cache_dir = NULL;
	if (!s->opts.chunk_size)
		s->opts.chunk_size = 1024;
	if (s->opts.chunk_overlap >= s->opts.chunk_size)
		s->opts.chunk_overlap = s->opts.chunk_size / 5;
	if (!s->opts.top_k)
		s->opts.top_k = 5;
	if (!s->opts.flush_interval)
		s->opts.flush_interval = 5;
	return s->opts.embed && s->opts.store ? 0 : -ENOMEM;
}

/* Local state of an object store lives in the user's cache: one folder per
 * store, named so that people can tell which is which. */
static char *object_cache_dir(const struct store_uri *u)
{
	char hash[65], *dir = NULL;
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	struct buf id = BUF_INIT;
	buf_addf(&id, "%d:%s/%s", (int)u->scheme, u->bucket, u->prefix);
	sha256_hex(id.data ? id.data : "", id.len, hash);
	buf_release(&id);
	hash[12] = '\0';
	char *base = NULL;
	if (xdg && *xdg)
		base = strdup(xdg);
	else if (asprintf(&base, "%s/.cache", home && *home ? home : "/tmp") < 0)
		base = NULL;
	if (base) {
		mkdir(base, 0700);
		char *r = NULL;
		if (asprintf(&r, "%s/ragfs", base) >= 0) {
			mkdir(r, 0700);
			if (asprintf(&dir, "%s/%s-%s-%s", r, u->scheme == STORE_R2 ? "r2" : "s3",
				     u->bucket, hash) < 0)
				dir = NULL;
		}
		free(r);
	}
	free(base);
	return dir;
}

/* -o addressing=: how the bucket goes into request URLs. */
static int parse_addressing(const char *a, enum s3_addressing *out, char *err, size_t errlen)
{
	if (!a || !strcmp(a, "auto"))
		*out = S3_ADDR_AUTO;
	else if (!strcmp(a, "path"))
		*out = S3_ADDR_PATH;
	else if (!strcmp(a, "virtual"))
		*out = S3_ADDR_VHOST;
	else {
		snprintf(err, errlen, "addressing=%s: want auto, path or virtual", a);
		return -EINVAL;
	}
	return 0;
}

static int open_object_store(struct store *s, const struct store_uri *u,
			     const struct store_opts *o, char *err, size_t errlen)
{
	struct s3_config cfg;
	int rc = s3_config_from_uri(u, o->endpoint, o->region, o->account, o->profile, &cfg,
				    err, errlen);
	if (!rc)
		rc = parse_addressing(o->addressing, &cfg.addressing, err, errlen);
	if (!rc)
		rc = s3_backend_open(&cfg, &s->be, err, errlen);
	memset(&cfg, 0, sizeof(cfg)); /* the secret key was in it */
	return rc;
}

static int open_backend(struct store *s, const struct store_opts *o, char *err,
			size_t errlen)
{
	struct store_uri u;
	int rc = store_uri_parse(o->store, &u, err, errlen);
	if (rc)
		return rc;
	if (u.scheme == STORE_S3 || u.scheme == STORE_R2)
		rc = open_object_store(s, &u, o, err, errlen);
	else if (u.scheme == STORE_MEM)
		rc = mem_backend_open(&s->be);
	else
		rc = local_backend_open(u.path, &s->be);
	if (rc) {
		if (u.scheme != STORE_S3 && u.scheme != STORE_R2)
			snprintf(err, errlen, "cannot open store %s: %s", o->store, strerror(-rc));
		return rc;
	}
	if (o->cache_dir) {
		s->cache_dir = strdup(o->cache_dir);
	} else if (u.scheme == STORE_S3 || u.scheme == STORE_R2) {
		s->cache_dir = object_cache_dir(&u);
	} else if (u.scheme == STORE_MEM) {
		char tmpl[] = "/tmp/ragfs-mem-XXXXXX";
		s->cache_dir = mkdtemp(tmpl) ? strdup(tmpl) : NULL;
	} else if (asprintf(&s->cache_dir, "%s/.ragfs-local", u.path) < 0) {
		s->cache_dir = NULL;
	}
	return s->cache_dir ? 0 : -ENOMEM;
}

/* The writer id names this cache dir's commits in a shared store: made once,
 * kept beside the journal whose frames it numbers. */
static int load_writer_id(struct store *s)
{
	char *path = NULL;
	if (asprintf(&path, "%s/writer", s->cache_dir) < 0)
		return -ENOMEM;
	FILE *f = fopen(path, "re");
	int rc = 0;
	if (f) {
		if (!fgets(s->writer_id, sizeof(s->writer_id), f))
			s->writer_id[0] = '\0';
		s->writer_id[strcspn(s->writer_id, "\n")] = '\0';
		fclose(f);
	}
	if (strlen(s->writer_id) != 36) {
		uuid4(s->writer_id);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!f && fd >= 0)
			close(fd);
		if (!f || fprintf(f, "%s\n", s->writer_id) < 0)
			rc = -EIO;
		if (f && fclose(f))
			rc = -EIO;
	}
	free(path);
	return rc;
}

static int open_local_state(struct store *s, char *err, size_t errlen)
{
	char *jdir = NULL, *elog = NULL;
	int rc;
	if (mkdir(s->cache_dir, 0700) && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "cannot create cache_dir %s: %s", s->cache_dir,
			 strerror(errno));
		return rc;
	}
	chmod(s->cache_dir, 0700);
	if (asprintf(&jdir, "%s/journal", s->cache_dir) < 0 ||
	    asprintf(&elog, "%s/errors.log", s->cache_dir) < 0) {
		free(jdir);
		return -ENOMEM;
	}
	rc = load_writer_id(s);
	if (rc) {
		snprintf(err, errlen, "cannot keep a writer id in %s: %s", s->cache_dir,
			 strerror(-rc));
		free(jdir);
		free(elog);
		return rc;
	}
	rc = journal_open(jdir, &s->jn);
	if (rc == -EBUSY)
		snprintf(err, errlen, "store %s is already mounted by another ragfs process",
			 s->opts.store);
	else if (rc)
		snprintf(err, errlen, "cannot open the journal in %s: %s", jdir, strerror(-rc));
	if (!rc)
		rc = errlog_open(elog, &s->errs);
	free(jdir);
	free(elog);
	return rc;
}

/* Object stores keep a bounded copy of their segments in cache_dir, so a
 * remount or a merge reads them locally (a local store's segments are
 * local files already). */
uint64_t store_cache_fit(struct store *s, const struct manifest *m, uint64_t snapshot)
{
	for (size_t i = 0; i < m->nsegs; i++)
		if (m->segs[i].vector_block && m->segs[i].size > snapshot)
			snapshot = m->segs[i].size;
	uint64_t bytes = ((uint64_t)DEFAULT_CACHE_MB << 20) + 2 * snapshot;
	if (!s->opts.cache_mb)
		segcache_reserve(s->segs, bytes);
	return bytes;
}

static int open_segment_cache(struct store *s, const struct store_opts *o, char *err,
			      size_t errlen)
{
	if (s->be->caps & BACKEND_CAP_LOCAL_FILES)
		return 0;
	char *dir = NULL;
	if (asprintf(&dir, "%s/segments", s->cache_dir) < 0)
		return -ENOMEM;
	/* Before opening: the open trims what is over the bound. */
	uint64_t bytes = o->cache_mb ? (uint64_t)o->cache_mb << 20 : store_cache_fit(s, &s->man, 0);
	int rc = segcache_open(dir, bytes, &s->segs);
	if (rc)
		snprintf(err, errlen, "cannot open the segment cache %s: %s", dir, strerror(-rc));
	free(dir);
	return rc;
}

/* The HNSW graph. Its file is a cache of derived data in cache_dir, not a
 * store segment (README "Storage layout" says why). */
static int open_ann(struct store *s, char *err, size_t errlen)
{
	const struct store_opts *o = &s->opts;
	if ((o->ann_m && (o->ann_m < 2 || o->ann_m > HNSW_MAX_M)) || o->ann_ef > ANN_MAX_EF) {
		snprintf(err, errlen, "ann_m must be 2..%d and ann_ef at most %d", HNSW_MAX_M,
			 ANN_MAX_EF);
		return -EINVAL;
	}
	char *path = NULL;
	if (asprintf(&path, "%s/hnsw.bin", s->cache_dir) < 0)
		return -ENOMEM;
	struct ann_opts ao = { .path = path, .ident = s->man.store_id,
			       .threshold = o->ann_threshold, .m = o->ann_m,
			       .ef_construction = o->ann_ef_construction, .ef = o->ann_ef };
	int rc = ann_new(&ao, &s->lock, &s->st, &s->ann);
	free(path);
	if (!rc)
		ann_attach(s->ann, s->st);
	return rc;
}

int store_open(const struct store_opts *o, struct store **out, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));
	int rc;
	*out = NULL;
	if (!s)
		return -ENOMEM;
	pthread_rwlock_init(&s->lock, NULL);
	pthread_mutex_init(&s->flush_lock, NULL);
	pthread_mutex_init(&s->stop_lock, NULL);
	pthread_cond_init(&s->stop_cond, NULL);
	pthread_mutex_init(&s->lat_query.lock, NULL);
	pthread_mutex_init(&s->lat_ingest.lock, NULL);
	pthread_mutex_init(&s->lat_flush.lock, NULL);
	s->next_seq = 1;
	snprintf(err, errlen, "out of memory");
	rc = copy_opts(s, o);
	if (!rc && o->vec_compress && vec_compress_parse(o->vec_compress, &s->vec_compress)) {
		snprintf(err, errlen, "unknown vec_compress \"%.40s\" (none, int8, fp16)",
			 o->vec_compress);
		rc = -EINVAL;
	}
	if (!rc)
		rc = open_backend(s, o, err, errlen);
	if (!rc)
		rc = open_local_state(s, err, errlen);
	if (!rc)
		rc = load_manifest(s, err, errlen);
	if (!rc) /* after the manifest: its snapshot sizes the default bound */
		rc = open_segment_cache(s, o, err, errlen);
	if (!rc)
		rc = state_new(s->man.dim, &s->st);
	if (!rc)
		rc = state_set_compress(s->st, s->vec_compress);
	if (!rc) {
		state_set_bulk(s->st, 1);
		rc = store_load_segments(s, err, errlen);
	}
	if (!rc)
		rc = store_replay_journal(s, err, errlen);
	if (s->st)
		state_set_bulk(s->st, 0);
	if (!rc)
		store_sync_index_id(s);
	if (!rc) /* the embedder, after the state: it holds the vectors' identity */
		rc = store_reembed_open(s, o, err, errlen);
	if (!rc)
		rc = store_embed_init(s);
	if (!rc)
		rc = open_ann(s, err, errlen);
	if (rc)
		goto fail;
	s->mounted_ns = now_ns();
	s->opened = 1;
	*out = s;
	return 0;
fail:
	store_close(s);
	return rc;
}

int store_start(struct store *s)
{
	if (s->opts.read_only || s->flusher_running)
		return 0;
	int rc = pthread_create(&s->flusher, NULL, store_flusher_main, s);
	if (rc)
		return -rc;
	s->flusher_running = 1;
	rc = store_embed_start(s);
	if (!rc)
		rc = store_reembed_start(s);
	return rc ? rc : ann_start(s->ann);
}

int store_close(struct store *s)
{
	int rc = 0;
	if (!s)
		return 0;
	ann_stop(s->ann); /* writes the graph file when it changed */
	store_reembed_stop(s);
	store_embed_stop(s);
	if (s->flusher_running) {
		pthread_mutex_lock(&s->stop_lock);
		s->stopping = 1;
		pthread_cond_signal(&s->stop_cond);
		pthread_mutex_unlock(&s->stop_lock);
		pthread_join(s->flusher, NULL);
	}
	/* A store that failed to open must not touch the backing store. */
	if (s->opened && !s->opts.read_only)
		rc = store_sync(s);
	if (s->eq.pending)
		store_embed_destroy(s);
	/* An injected embedder is ours once store_open was called. */
	embedder_free(s->emb ? s->emb : s->opts.embedder);
	store_reembed_destroy(s);
	ann_free(s->ann);
	state_free(s->st);
	journal_close(s->jn);
	segcache_close(s->segs);
	errlog_close(s->errs);
	backend_close(s->be);
	manifest_clear(&s->man);
	for (size_t i = 0; i < s->n_index_ids; i++)
		free(s->index_ids[i]);
	free(s->index_ids);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->flush_lock);
	pthread_mutex_destroy(&s->stop_lock);
	pthread_cond_destroy(&s->stop_cond);
	pthread_mutex_destroy(&s->lat_query.lock);
	pthread_mutex_destroy(&s->lat_ingest.lock);
	pthread_mutex_destroy(&s->lat_flush.lock);
	free((void *)s->opts.embed);
	free((void *)s->opts.store);
	free(s->cache_dir);
	free(s);
	return rc;
}

/* ---------------------------------------------------------------- reading */

const struct state *store_read_begin(struct store *s)
{
	pthread_rwlock_rdlock(&s->lock);
	return s->st;
}

void store_read_end(struct store *s)
{
	pthread_rwlock_unlock(&s->lock);
}

const char *store_index_id(const struct store *s)
{
	const char *id = __atomic_load_n(&s->index_id, __ATOMIC_ACQUIRE);
	return id ? id : s->man.index_id;
}

void store_sync_index_id(struct store *s)
{
	const struct entry *e = state_get(s->st, COLL_INDEX_ID, "default");
	const char *now = s->index_id;
	if (!e || (now && !strcmp(now, e->val)))
		return;
	char **ids = realloc(s->index_ids, (s->n_index_ids + 1) * sizeof(*ids));
	char *id = strdup(e->val);
	if (ids)
		s->index_ids = ids;
	if (!ids || !id) {
		free(id);
		LOG_ERR("out of memory for the index id %s", e->val);
		return;
	}
	ids[s->n_index_ids++] = id;
	__atomic_store_n(&s->index_id, id, __ATOMIC_RELEASE);
}

struct errlog *store_errlog(struct store *s)
{
	return s->errs;
}

int store_read_only(const struct store *s)
{
	return s->opts.read_only;
}

uint32_t store_dim(const struct store *s)
{
	return __atomic_load_n(&s->dim, __ATOMIC_ACQUIRE);
}

void store_note_ingest(struct store *s, const struct timespec *t0)
{
	store_lat_add(&s->lat_ingest, store_elapsed_ms(t0));
}

/* ---------------------------------------------------------------- query */

/* The query vector, from the embedder of the vectors it will be compared
 * with (emb: read before; store_query checks it is still theirs). */
static int embed_query(struct embedder *emb, const struct query_req *q, float *qv, char *err,
		       size_t errlen)
{
	if (q->embedding) {
		memcpy(qv, q->embedding, q->emb_len * sizeof(float));
		return 0;
	}
	const char *texts[1] = { q->text };
	size_t lens[1] = { strlen(q->text) };
	int rc = embedder_embed(emb, texts, lens, 1, qv);
	if (rc)
		snprintf(err, errlen, "cannot embed the query: %s (embed=%s)", strerror(-rc),
			 emb->name);
	return rc;
}

/* Embed (outside the lock) and search (under it). A re-embedding may
 * switch the vectors in between: then again with the new embedder. */
static int run_query(struct store *s, struct query_req *q, struct query_result *res,
		     char *err, size_t errlen)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		struct embedder *emb = store_emb(s);
		/* No embedder for the old vectors while re-embedding: BM25. */
		if (emb == s->re.stand_in && q->text && !q->embedding && query_needs_vector(q)) {
			q->kind = QUERY_TEXT;
			snprintf(q->mode, sizeof(q->mode), "text");
		}
		int vec = query_needs_vector(q);
		size_t dim = q->embedding ? q->emb_len : emb->dim;
		float *qv = vec ? malloc(dim * sizeof(float)) : NULL;
		int rc = vec && !qv ? -ENOMEM : vec ? embed_query(emb, q, qv, err, errlen) : 0;
		if (rc) {
			free(qv);
			return rc;
		}
		const struct state *st = store_read_begin(s);
		uint32_t have = state_dim(st);
		if (!vec || (dim == have && (q->embedding || store_emb(s) == emb)))
			rc = query_run(st, q, qv, res);
		else
			rc = q->embedding ? -EINVAL : -EAGAIN;
		store_read_end(s);
		free(qv);
		if (rc == -EINVAL && q->embedding && dim != have)
			snprintf(err, errlen, "\"embedding\" has %zu values, the store has dim %u", dim,
				 have);
		else if (rc && rc != -EAGAIN)
			snprintf(err, errlen, "query failed: %s", strerror(-rc));
		if (rc != -EAGAIN)
			return rc;
	}
	snprintf(err, errlen, "the store's vectors changed under the query (another mount "
		 "re-embedded them?): try again");
	return -EAGAIN;
}

int store_query(struct store *s, const char *path, const char *req, size_t len,
		int as_text, struct buf *out)
{
	struct query_req q;
	struct query_result res = { 0 };
	char err[300];
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = query_parse(req, len, s->opts.top_k, &q, err, sizeof(err));
	q.ann = s->ann; /* not owned: large stores and "mode": "ann" search it */
	if (!rc)
		rc = run_query(s, &q, &res, err, sizeof(err));
	res.took_ms = store_elapsed_ms(&t0);
	if (rc) {
		errlog_add(s->errs, path, rc, "bad query: %s", err);
		__atomic_add_fetch(&s->query_errors, 1, __ATOMIC_RELAXED);
		rc = query_render_error(req, len, rc, err, as_text, out);
	} else {
		rc = query_render(&q, &res, as_text, out);
		store_lat_add(&s->lat_query, res.took_ms);
	}
	query_result_free(&res);
	query_req_free(&q);
	return rc;
}
