/* store/store_flush.c - moving changes between this mount and the backing
 * store (SPEC §4, §5): the journal's frames go out as immutable segments
 * committed by a conditional manifest write; other writers' segments come
 * in when the manifest changes under us (a failed If-Match, or the poll
 * every flush_interval). See store.h for the model.
 *
 * Several writers (mounts with their own cache dirs) may share a store.
 * Each numbers its frames in its own sequence; the manifest keeps every
 * writer's highest committed number, which is what journal replay after a
 * crash compares against. Segments apply in manifest order, so the last
 * committed write of a key wins. After merging other writers' segments,
 * this mount re-applies its own not-yet-committed frames on top, so that it
 * shows what a fresh mount will show once they are committed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ann.h"
#include "jsonutil.h"
#include "log.h"
#include "mapfile.h"
#include "store_int.h"
#include "vecblock.h"

#define COMMIT_ATTEMPTS 8

struct replay_ctx {
	struct store *s;
	struct state *st;
	uint64_t after; /* apply frames with seq > after */
	uint64_t ops;
	int own;        /* frames are this writer's: keep next_seq above them */
	struct mapfile *map; /* the mapped segment being applied, or NULL */
};

static int replay_op(void *ctx, uint64_t seq, const struct frame_op *op)
{
	struct replay_ctx *r = ctx;
	if (seq <= r->after)
		return 0;
	if (r->own && seq >= r->s->next_seq)
		r->s->next_seq = seq + 1;
	r->ops++;
	int rc = state_apply(r->st, op);
	if (r->map) /* state_apply copied what it keeps */
		mapfile_done_before(r->map, (const char *)op->val + op->val_len);
	return rc == -EINVAL ? 0 : rc; /* a skipped bad vector is logged, not fatal */
}

/* Apply every frame of p[0..len); verified: 0 when the caller checks the
 * payload checksums itself (frames_ok on another thread). */
static int apply_frames(struct replay_ctx *r, const char *p, size_t len, int verified)
{
	int rc = 0;
	for (size_t off = 0; !rc && off < len;) {
		size_t used;
		uint64_t seq;
		rc = (verified ? frame_decode : frame_decode_unverified)(p + off, len - off, &used,
									&seq, replay_op, r);
		off += used;
	}
	return rc;
}

static int frame_ok(void *ctx, uint64_t seq, const struct frame_op *op)
{
	(void)ctx, (void)seq, (void)op;
	return 0;
}

/* Every frame of p[0..len) decodes (checksums included). */
static int frames_ok(const char *p, size_t len)
{
	for (size_t off = 0, used; off < len; off += used) {
		uint64_t seq;
		if (frame_decode(p + off, len - off, &used, &seq, frame_ok, NULL))
			return 0;
	}
	return 1;
}

/* A vector block's rows and ids check out, read from fd when p is a
 * mapping of that file (fd >= 0). */
static int block_ok(const char *p, const struct vecblock *b, int fd)
{
	return fd >= 0 ? vecblock_rows_ok_fd(fd, b) : vecblock_rows_ok(p, b);
}

/* A whole segment checks out: its frames and, when it has one (vb: the
 * manifest says so), its vector block. */
static int segment_ok(const char *p, size_t len, int vb, int fd)
{
	struct vecblock b;
	if (!vb)
		return frames_ok(p, len);
	return !vecblock_parse(p, len, &b) && frames_ok(p, (size_t)b.frames_len) &&
	       block_ok(p, &b, fd);
}

/* Apply a segment: its frames, then its vector block when it has one. fd:
 * the file p is mapped from, or -1. */
static int apply_segment(struct replay_ctx *r, const char *p, size_t len, int vb, int verified,
			 int fd)
{
	struct vecblock b;
	if (!vb)
		return apply_frames(r, p, len, verified);
	int rc = vecblock_parse(p, len, &b);
	if (!rc)
		rc = apply_frames(r, p, (size_t)b.frames_len, verified);
	if (!rc && verified && !block_ok(p, &b, fd))
		rc = -EBADMSG;
	return rc ? rc : state_apply_block(r->st, p, &b, fd);
}

/* A segment's bytes by GET (a copy is kept in the segment cache). */
static int fetch_remote(struct store *s, const char *key, struct buf *b)
{
	int rc = backend_get(s->be, key, 0, BACKEND_RANGE_ALL, b, NULL);
	if (rc)
		LOG_WARN("segment %s: %s", key, strerror(-rc));
	else
		segcache_put(s->segs, key, b->data, b->len);
	return rc;
}

/* A segment's bytes: the local copy when it is whole, else a GET (kept). */
static int fetch(struct store *s, const struct manifest_seg *sg, struct buf *b)
{
	const char *key = sg->key;
	if (!segcache_get(s->segs, key, b)) {
		if (segment_ok(b->data, b->len, sg->vector_block, -1))
			return 0;
		LOG_WARN("segment cache: the copy of %s is damaged; fetching it again", key);
		segcache_drop(s->segs, key);
		buf_reset(b);
	}
	return fetch_remote(s, key, b);
}

/* A segment's bytes for replay: the mapped local file when there is one
 * (the store's own on local disk, or a whole copy in the segment cache),
 * else fetched. Mapping saves a copy of every segment at mount. */
struct seg_view {
	const char *data;
	size_t len;
	struct mapfile map;
	struct buf b;
	int verified; /* its checksums were checked here (a cached copy) */
};

static int view_open(struct store *s, const struct manifest_seg *sg, struct seg_view *v)
{
	const char *key = sg->key;
	*v = (struct seg_view){ .b = BUF_INIT };
	char *path = backend_local_path(s->be, key);
	if (path) {
		int rc = mapfile_open(path, &v->map);
		free(path);
		if (!rc) {
			/* Counted as the read it replaces. */
			__atomic_add_fetch(&s->be->stats.gets, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&s->be->stats.bytes_in, v->map.len, __ATOMIC_RELAXED);
		}
	} else if (!segcache_map(s->segs, key, &v->map)) {
		v->verified = segment_ok(v->map.data, v->map.len, sg->vector_block, v->map.fd);
		if (!v->verified) {
			LOG_WARN("segment cache: the copy of %s is damaged; fetching it again", key);
			mapfile_close(&v->map);
			segcache_drop(s->segs, key);
		}
	}
	if (v->map.data) {
		v->data = v->map.data;
		v->len = v->map.len;
		return 0;
	}
	int rc = fetch_remote(s, key, &v->b);
	/* A vector block's rows become the matrix when mapped: map the copy
	 * just kept, and let the fetched bytes go at once. */
	if (!rc && sg->vector_block && !segcache_map_kept(s->segs, key, v->b.len, &v->map)) {
		buf_release(&v->b);
		v->data = v->map.data;
		v->len = v->map.len;
		return 0;
	}
	v->data = v->b.data;
	v->len = v->b.len;
	return rc;
}

static void view_close(struct seg_view *v)
{
	mapfile_close(&v->map);
	buf_release(&v->b);
}

/* A segment's checksums, verified on a thread of their own while the
 * mount applies it (the CRC32 of a million vectors' frames is a tenth of a
 * mount's CPU time). */
struct verify_job {
	const char *data;
	size_t len;
	int vector_block;
	int fd;
	int ok;
};

static void *verify_main(void *arg)
{
	struct verify_job *j = arg;
	j->ok = segment_ok(j->data, j->len, j->vector_block, j->fd);
	return NULL;
}

/* Apply the segments of m to st (at mount: a failure fails the mount, so
 * a segment may be applied before its checksums are known good). */
static int apply_segments(struct store *s, struct state *st, const struct manifest *m,
			  char *err, size_t errlen)
{
	int rc = 0;
	for (size_t i = 0; i < m->nsegs && !rc; i++) {
		const struct manifest_seg *sg = &m->segs[i];
		struct seg_view v;
		struct replay_ctx r = { .s = s, .st = st, .own = !strcmp(sg->writer, s->writer_id) };
		rc = view_open(s, sg, &v);
		r.map = v.map.data ? &v.map : NULL;
		struct verify_job job = { v.data, v.len, sg->vector_block, r.map ? v.map.fd : -1, 0 };
		pthread_t th;
		/* Cached copies were verified by view_open; big local files here. */
		int parallel = !rc && r.map && !v.verified && v.len >= (1u << 20) &&
			       !pthread_create(&th, NULL, verify_main, &job);
		if (!rc)
			rc = apply_segment(&r, v.data, v.len, sg->vector_block,
					   !parallel && !v.verified, r.map ? v.map.fd : -1);
		if (parallel) {
			pthread_join(th, NULL);
			if (!rc && !job.ok)
				rc = -EBADMSG;
		}
		if (rc && err)
			snprintf(err, errlen, "segment %s is unreadable: %s", sg->key, strerror(-rc));
		view_close(&v);
	}
	return rc;
}

int store_load_segments(struct store *s, char *err, size_t errlen)
{
	int rc = apply_segments(s, s->st, &s->man, err, errlen);
	uint64_t mine = manifest_writer_seq(&s->man, s->writer_id);
	if (s->next_seq <= mine)
		s->next_seq = mine + 1;
	return rc;
}

int store_replay_journal(struct store *s, char *err, size_t errlen)
{
	struct replay_ctx r = { .s = s, .st = s->st, .own = 1,
				.after = manifest_writer_seq(&s->man, s->writer_id) };
	int rc = journal_replay(s->jn, replay_op, &r);
	if (rc)
		snprintf(err, errlen, "journal replay failed: %s", strerror(-rc));
	else if (r.ops)
		LOG_INFO("journal: replayed %" PRIu64 " operations", r.ops);
	s->replayed_ops = r.ops;
	return rc;
}

/* ------------------------------------------------------------ manifest */

int store_put_manifest(struct store *s, struct manifest *m)
{
	struct buf b = BUF_INIT;
	struct put_cond cond = { .kind = s->man_etag[0] ? PUT_IF_MATCH : PUT_IF_NONE_MATCH,
				 .etag = s->man_etag };
	struct obj_meta meta = { 0 };
	int rc = manifest_render(m, &b);
	if (!rc)
		rc = backend_put(s->be, MANIFEST_KEY, b.data, b.len, &cond, &meta);
	buf_release(&b);
	if (rc == -ECANCELED)
		LOG_DBG("manifest: another writer committed first");
	if (!rc)
		snprintf(s->man_etag, sizeof(s->man_etag), "%s", meta.etag);
	return rc;
}

static int read_manifest(struct store *s, struct manifest *m, char *etag, size_t etaglen)
{
	struct buf b = BUF_INIT;
	struct obj_meta meta = { 0 };
	char why[200];
	int rc = backend_get(s->be, MANIFEST_KEY, 0, BACKEND_RANGE_ALL, &b, &meta);
	if (!rc)
		rc = manifest_parse(b.data, b.len, m, why, sizeof(why));
	if (rc == -EBADMSG)
		LOG_ERR("manifest: %s", why);
	if (!rc)
		snprintf(etag, etaglen, "%s", meta.etag);
	buf_release(&b);
	return rc;
}

/* 1 when remote still lists every segment we applied (only appends). */
static int is_superset(const struct manifest *remote, const struct manifest *have)
{
	for (size_t i = 0; i < have->nsegs; i++)
		if (!manifest_find_seg(remote, have->segs[i].key))
			return 0;
	return 1;
}

/* The segments of remote that we have not applied, fetched in order. */
struct fetched {
	struct buf b;
	int vector_block;
};

static int fetch_new(struct store *s, const struct manifest *remote,
		     const struct manifest *have, struct fetched **bufs, size_t *n)
{
	*bufs = calloc(remote->nsegs + 1, sizeof(**bufs));
	*n = 0;
	if (!*bufs)
		return -ENOMEM;
	for (size_t i = 0; i < remote->nsegs; i++) {
		if (have && manifest_find_seg(have, remote->segs[i].key))
			continue;
		int rc = fetch(s, &remote->segs[i], &(*bufs)[*n].b);
		(*bufs)[*n].vector_block = remote->segs[i].vector_block;
		(*n)++;
		if (rc)
			return rc;
	}
	return 0;
}

/* Merge the remote manifest's changes into this mount. Caller holds
 * flush_lock. Segments are fetched before the write lock is taken; when
 * another writer compacted (segments we applied are gone), the image is
 * rebuilt from the remote segments. Our own uncommitted frames go on top. */
static int merge_remote(struct store *s)
{
	struct manifest remote = { 0 };
	struct buf mine = BUF_INIT;
	struct fetched *bufs = NULL;
	size_t nbufs = 0;
	char etag[BACKEND_ETAG_MAX];
	struct state *fresh = NULL;
	int rc = read_manifest(s, &remote, etag, sizeof(etag));
	if (rc || !strcmp(etag, s->man_etag))
		goto out;
	int rebuild = !is_superset(&remote, &s->man);
	store_cache_fit(s, &remote, 0); /* another writer's snapshot */
	rc = fetch_new(s, &remote, rebuild ? NULL : &s->man, &bufs, &nbufs);
	if (!rc)
		rc = journal_read_all(s->jn, &mine);
	if (!rc && rebuild)
		rc = state_new(s->man.dim, &fresh);
	if (!rc && rebuild)
		rc = state_set_compress(fresh, s->vec_compress);
	if (rc)
		goto out;
	pthread_rwlock_wrlock(&s->lock);
	if (rebuild) {
		struct state *old = s->st;
		s->st = fresh;
		fresh = old;
		ann_attach(s->ann, s->st); /* a new image: the graph is reconciled */
	}
	for (size_t i = 0; i < nbufs && !rc; i++) {
		struct replay_ctx r = { .s = s, .st = s->st };
		rc = apply_segment(&r, bufs[i].b.data, bufs[i].b.len, bufs[i].vector_block, 1, -1);
	}
	struct replay_ctx r = { .s = s, .st = s->st, .own = 1,
				.after = manifest_writer_seq(&remote, s->writer_id) };
	if (!rc)
		rc = apply_frames(&r, mine.data, mine.len, 1);
	store_sync_index_id(s);
	store_reembed_after_merge(s); /* another writer may have switched embedders */
	manifest_clear(&s->man); /* under the write lock: see man_replace */
	s->man = remote;
	memset(&remote, 0, sizeof(remote));
	pthread_rwlock_unlock(&s->lock);
	snprintf(s->man_etag, sizeof(s->man_etag), "%s", etag);
	s->merges++;
out:
	for (size_t i = 0; bufs && i < nbufs; i++)
		buf_release(&bufs[i].b);
	free(bufs);
	state_free(fresh);
	manifest_clear(&remote);
	buf_release(&mine);
	return rc;
}

/* Replace s->man with *next (taken over, zeroed). Caller holds flush_lock.
 * Under the state's write lock too: readers holding only the read lock
 * (store_index_id, config.json) must never see it cleared half-way. */
static void man_replace(struct store *s, struct manifest *next)
{
	pthread_rwlock_wrlock(&s->lock);
	manifest_clear(&s->man);
	s->man = *next;
	pthread_rwlock_unlock(&s->lock);
	memset(next, 0, sizeof(*next));
}

/* Commit a segment already written: retry the conditional manifest write,
 * merging what other writers committed in between. */
static int commit_segment(struct store *s, const struct manifest_seg *ms, uint64_t last)
{
	int rc = -EAGAIN;
	for (int attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
		struct manifest next = { 0 };
		rc = manifest_copy(&next, &s->man);
		if (!rc)
			rc = manifest_add_seg(&next, ms);
		if (!rc)
			rc = manifest_set_writer_seq(&next, s->writer_id, last);
		next.generation++;
		if (!rc)
			rc = store_put_manifest(s, &next);
		if (!rc) {
			man_replace(s, &next);
			return 0;
		}
		manifest_clear(&next);
		if (rc != -ECANCELED)
			return rc;
		rc = merge_remote(s);
		if (rc)
			return rc;
	}
	LOG_ERR("manifest: gave up after %d conflicting commits", COMMIT_ATTEMPTS);
	return -EIO;
}

/* ------------------------------------------------------------ flush */

struct seg_filter {
	uint64_t after; /* keep frames with seq > after */
	uint64_t first, last;
	struct buf *out;
};

/* Copy the frames of raw[] not yet committed into f->out. */
static int filter_frames(const char *raw, size_t len, struct seg_filter *f)
{
	for (size_t off = 0; off < len;) {
		size_t used;
		uint64_t seq;
		int rc = frame_decode(raw + off, len - off, &used, &seq, NULL, NULL);
		if (rc)
			return rc;
		if (seq > f->after) {
			if (!f->first)
				f->first = seq;
			f->last = seq;
			rc = buf_add(f->out, raw + off, used);
			if (rc)
				return rc;
		}
		off += used;
	}
	return 0;
}

/* Upload the sealed journal as one segment and commit it to the manifest. */
static int flush_sealed(struct store *s)
{
	struct buf raw = BUF_INIT, seg = BUF_INIT;
	struct seg_filter f = { .after = manifest_writer_seq(&s->man, s->writer_id),
				.out = &seg };
	int rc = journal_read_sealed(s->jn, &raw);
	if (!rc)
		rc = filter_frames(raw.data, raw.len, &f);
	buf_release(&raw);
	if (!rc && seg.len) {
		struct manifest_seg ms = { .size = seg.len, .first_seq = f.first,
					   .last_seq = f.last };
		snprintf(ms.writer, sizeof(ms.writer), "%s", s->writer_id);
		manifest_seg_key(ms.key, sizeof(ms.key), s->writer_id, f.first, f.last);
		rc = backend_put(s->be, ms.key, seg.data, seg.len, NULL, NULL);
		if (!rc)
			segcache_put(s->segs, ms.key, seg.data, seg.len);
		if (!rc)
			rc = commit_segment(s, &ms, f.last);
	}
	buf_release(&seg);
	if (!rc)
		rc = journal_drop_sealed(s->jn);
	return rc;
}

/* Replace all segments by one snapshot of the state. When another writer
 * commits meanwhile, the compaction is dropped (their next poll or ours
 * merges instead); the snapshot object is then deleted. */
static int compact(struct store *s)
{
	struct buf snap = BUF_INIT;
	struct manifest next = { 0 };
	store_read_begin(s);
	uint64_t upto = s->next_seq - 1, seq = upto;
	int rc = state_snapshot(s->st, &seq, &snap, 1);
	store_read_end(s);
	struct manifest_seg ms = { .size = snap.len, .first_seq = upto, .last_seq = upto,
				   .vector_block = 1 };
	snprintf(ms.writer, sizeof(ms.writer), "%s", s->writer_id);
	manifest_seg_key(ms.key, sizeof(ms.key), s->writer_id, upto, upto);
	if (!rc)
		rc = backend_put(s->be, ms.key, snap.data, snap.len, NULL, NULL);
	if (!rc) {
		store_cache_fit(s, &s->man, snap.len);
		segcache_put(s->segs, ms.key, snap.data, snap.len);
	}
	buf_release(&snap);
	if (!rc)
		rc = manifest_copy(&next, &s->man);
	if (rc)
		goto out;
	next.nsegs = 0;
	rc = manifest_add_seg(&next, &ms);
	if (!rc)
		rc = manifest_set_writer_seq(&next, s->writer_id, upto);
	next.generation++;
	if (!rc)
		rc = store_put_manifest(s, &next);
	if (rc == -ECANCELED) {
		backend_del(s->be, ms.key);
		segcache_drop(s->segs, ms.key);
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	for (size_t i = 0; i < s->man.nsegs; i++)
		if (strcmp(s->man.segs[i].key, ms.key)) {
			backend_del(s->be, s->man.segs[i].key);
			segcache_drop(s->segs, s->man.segs[i].key);
		}
	man_replace(s, &next);
	__atomic_add_fetch(&s->compactions, 1, __ATOMIC_RELAXED);
out:
	manifest_clear(&next);
	return rc;
}

int store_sync(struct store *s)
{
	if (s->opts.read_only)
		return 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_lock(&s->flush_lock);
	int rc = journal_rotate(s->jn);
	if (!rc)
		rc = flush_sealed(s);
	if (!rc && s->man.nsegs > COMPACT_SEGMENTS)
		rc = compact(s);
	/* Counters are read without flush_lock (stats.json, status.json). */
	if (rc) {
		__atomic_add_fetch(&s->flush_errors, 1, __ATOMIC_RELAXED);
		errlog_add(s->errs, "(flush)", rc, "cannot write to the backing store");
	} else {
		__atomic_store_n(&s->last_flush_ns, now_ns(), __ATOMIC_RELAXED);
		__atomic_add_fetch(&s->flushes, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&s->flush_lock);
	store_lat_add(&s->lat_flush, store_elapsed_ms(&t0));
	return rc;
}

/* Other writers' commits: a HEAD of the manifest, and a merge when its etag
 * moved. */
static void refresh(struct store *s)
{
	struct obj_meta meta = { 0 };
	if (backend_head(s->be, MANIFEST_KEY, &meta))
		return;
	pthread_mutex_lock(&s->flush_lock);
	if (strcmp(meta.etag, s->man_etag)) {
		int rc = merge_remote(s);
		if (rc)
			errlog_add(s->errs, "(merge)", rc, "cannot read other writers' commits");
	}
	pthread_mutex_unlock(&s->flush_lock);
}

void *store_flusher_main(void *arg)
{
	struct store *s = arg;
	/* Recovered work goes to the backing store at once, here and not in
	 * store_start: the mount is already up and must answer meanwhile (a
	 * slow or unreachable S3 would otherwise hang every access to it). */
	if (s->replayed_ops)
		store_sync(s);
	pthread_mutex_lock(&s->stop_lock);
	while (!s->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += s->opts.flush_interval;
		pthread_cond_timedwait(&s->stop_cond, &s->stop_lock, &until);
		if (s->stopping)
			break;
		pthread_mutex_unlock(&s->stop_lock);
		if (journal_pending_bytes(s->jn))
			store_sync(s);
		else
			refresh(s);
		pthread_mutex_lock(&s->stop_lock);
	}
	pthread_mutex_unlock(&s->stop_lock);
	return NULL;
}
