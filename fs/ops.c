/* fs/ops.c - FUSE glue: translate each operation into ns/handle calls.
 * Every handler returns 0 or -errno, as the high-level API wants. */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h> /* RENAME_* */
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "../store/log.h"
#include "handle.h"
#include "hidden.h"
#include "ns.h"

static struct fsctx *ctx(void)
{
	return fuse_get_context()->private_data;
}

static struct handle *fh(const struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->use_ino = 0;
	/* No attribute or name caching in the kernel: writing a document makes
	 * and removes node, vector and index files as a side effect, a refused
	 * create leaves no file, and query results change size on every read.
	 * Every stat asks the daemon, which answers from memory. */
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	/* Content changes through this mount only, but the kernel must not
	 * keep pages across opens: overwrite re-renders derived files. */
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	/* Hide mode: a file unlinked while open is renamed to a hidden name
	 * (the unlink, for the store) and keeps a path, so fstat(2) of its
	 * descriptor works and shows nlink 0 (hidden.h). */
	cfg->hard_remove = 0;
	return fuse_get_context()->private_data;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fsctx *fc = ctx();
	struct ns_path p;
	ns_parse(path, &p);
	/* An unlinked open file has a hidden name (hidden.h), or no path at
	 * all (hard_remove): its handle still answers fstat. */
	int rc = !path ? -ESTALE
		 : hidden_is_name(path) && !hidden_get(fc, path, st) ? 0
		 : ns_getattr(fc, &p, st);
	/* A file open for writing has its buffer's size: writes not yet closed
	 * count (the kernel rarely passes fi, so look the path up too). The
	 * size is read without the handle's lock: fc->lock is never taken
	 * before a handle lock (flush takes them the other way round). */
	size_t size = 0;
	int64_t mtime = 0;
	int open_for_write = 0;
	if (fi && fh(fi)) {
		size = handle_size(fh(fi));
		mtime = handle_mtime(fh(fi));
		open_for_write = 1;
	} else {
		pthread_mutex_lock(&fc->lock);
		struct handle *h = ns_pending_get_locked(fc, &p);
		if (h) {
			size = __atomic_load_n(&h->size_now, __ATOMIC_RELAXED);
			mtime = handle_mtime(h);
			open_for_write = 1;
		}
		pthread_mutex_unlock(&fc->lock);
	}
	if (!open_for_write)
		return rc;
	if (rc) {
		memset(st, 0, sizeof(*st));
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		st->st_uid = fc->uid;
		st->st_gid = fc->gid;
		/* Not committed yet: its utimens, else when it was opened. */
		st->st_mtim.tv_sec = mtime / 1000000000;
		st->st_mtim.tv_nsec = mtime % 1000000000;
		st->st_ctim = st->st_atim = st->st_mtim;
	}
	st->st_size = (off_t)size;
	return 0;
}

struct fill_ctx {
	void *buf;
	fuse_fill_dir_t filler;
};

static int fill_one(void *c, const char *name, const struct stat *st)
{
	struct fill_ctx *f = c;
	return f->filler(f->buf, name, st, 0, 0);
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	struct ns_path p;
	struct fill_ctx f = { buf, filler };
	ns_parse(path, &p);
	return ns_readdir(ctx(), &p, fill_one, &f);
}

/* Views rendered from the whole state at each open. The kernel's page
 * cache is shared by every open of a file: pages of two opens that saw
 * different versions would mix (a torn persist/docstore.json under
 * concurrent writes). Direct I/O gives each open its own snapshot. */
static int snapshot_view(const struct ns_path *p)
{
	switch (p->kind) {
	case NS_PERSIST:
	case NS_INDEX:
	case NS_VEC_META:
	case NS_VEC_MATRIX:
	case NS_VEC_IDS:
		return 1;
	default:
		return 0;
	}
}

static int open_common(const char *path, struct fuse_file_info *fi, int created)
{
	struct fsctx *fc = ctx();
	struct ns_path p;
	struct handle *h;
	ns_parse(path, &p);
	int rc = handle_open(fc, &p, fi->flags, created, &h);
	if (rc)
		return rc;
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = ns_is_generated(&p) || snapshot_view(&p);
	fi->keep_cache = 0;
	/* A read-only descriptor has nothing to commit at close(): no FLUSH
	 * round trip (release still comes). */
	fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY;
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct ns_path p;
	struct stat st;
	ns_parse(path, &p);
	if (p.kind != NS_SEARCH) {
		int rc = ns_getattr(ctx(), &p, &st);
		if (rc)
			return rc;
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
	}
	return open_common(path, fi, 0);
}

/* The kernel checks names it looks up, not names it creates through FUSE:
 * a component over NAME_MAX is refused here. */
static int name_too_long(const char *path)
{
	size_t run = 0;
	for (; *path; path++) {
		run = *path == '/' ? 0 : run + 1;
		if (run > NAME_MAX)
			return 1;
	}
	return 0;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)mode;
	if (name_too_long(path))
		return -ENAMETOOLONG;
	struct ns_path p;
	ns_parse(path, &p);
	int rc = ns_may_create(ctx(), &p);
	return rc ? rc : open_common(path, fi, 1);
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	(void)path;
	size_t n;
	int rc = handle_read(ctx(), fh(fi), buf, size, off, &n);
	return rc ? rc : (int)n;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)path;
	int rc = handle_write(ctx(), fh(fi), buf, size, off);
	return rc ? rc : (int)size;
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	handle_follow(fh(fi), path); /* renamed or unlinked since open? */
	return handle_flush(ctx(), fh(fi));
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	handle_follow(fh(fi), path);
	handle_release(ctx(), fh(fi));
	handle_free(ctx(), fh(fi));
	return 0;
}

/* chmod/utimens of a created file not committed yet (rsync's mkstemp +
 * fchmod, cp -p): remember the attributes in its handle. */
static int set_pending_attr(const struct ns_path *p, struct fuse_file_info *fi,
			    uint32_t mode, int64_t mtime_ns)
{
	struct fsctx *fc = ctx();
	if (fi && fh(fi)) {
		handle_set_attr(fh(fi), mode, mtime_ns);
		return 0;
	}
	pthread_mutex_lock(&fc->lock);
	struct handle *h = ns_pending_get_locked(fc, p);
	if (h)
		handle_set_attr(h, mode, mtime_ns);
	pthread_mutex_unlock(&fc->lock);
	return h ? 0 : -ENOENT;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	int rc = fi ? handle_flush(ctx(), fh(fi)) : 0;
	if (rc)
		return rc;
	/* The store's network errors stay in errors.log: fsync(2) reports EIO
	 * (the change is still in the journal and is retried). */
	return store_sync(ctx()->store) ? -EIO : 0;
}

/* truncate(2) by name of a file open for writing: cut its writer's buffer
 * (a commit here would be overwritten by the writer's close). 1: no writer. */
static int truncate_writer(struct handle *h, void *arg)
{
	return h ? handle_truncate_locked(h, *(off_t *)arg) : 1;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct fsctx *fc = ctx();
	if (fi && fh(fi))
		return handle_truncate(fc, fh(fi), size);
	struct ns_path p;
	struct handle *h;
	ns_parse(path, &p);
	int rc = handle_with_writer(fc, &p, truncate_writer, &size);
	if (rc != 1)
		return rc;
	/* truncate(2) on a path: load, cut, commit. */
	rc = handle_open(fc, &p, O_RDWR, 0, &h);
	if (rc)
		return rc;
	rc = handle_truncate(fc, h, size);
	if (!rc)
		rc = handle_flush(fc, h);
	handle_free(fc, h);
	return rc;
}

/* Unlink p; a file open for writing under that name never commits again
 * (a created one not committed yet is only forgotten). With keep_pending
 * its pending entry stays, for the rename to a hidden name that follows. */
static int unlink_path(struct fsctx *fc, const struct ns_path *p, int keep_pending)
{
	int rc = ns_unlink(fc, p);
	if (rc && rc != -ENOENT)
		return rc;
	pthread_mutex_lock(&fc->lock);
	struct handle *h = ns_pending_get_locked(fc, p);
	if (h && (!rc || h->created)) {
		__atomic_store_n(&h->unlinked, 1, __ATOMIC_RELAXED);
		if (!keep_pending)
			ns_pending_del_locked(fc, p, h);
		rc = 0;
	}
	pthread_mutex_unlock(&fc->lock);
	return rc;
}

static int fs_unlink(const char *path)
{
	struct fsctx *fc = ctx();
	/* libfuse unlinking a hidden file at its last release (hidden.h). */
	if (hidden_is_name(path) && !hidden_del(fc, path))
		return 0;
	struct ns_path p;
	ns_parse(path, &p);
	return unlink_path(fc, &p, 0);
}

/* libfuse's hide: rename(from, hidden name) of a file unlinked while open.
 * It is the unlink; the attributes stay for fstat, and the pending entry
 * (a writer's size) moves to the hidden name. */
static int hide(struct fsctx *fc, const char *from, const struct ns_path *a, const char *to,
		const struct ns_path *b)
{
	struct stat st;
	int rc = fs_getattr(from, &st, NULL);
	if (rc)
		return rc;
	rc = unlink_path(fc, a, 1);
	if (rc)
		return rc;
	pthread_mutex_lock(&fc->lock);
	ns_pending_rename_locked(fc, a, b);
	rc = hidden_add_locked(fc, to, &st);
	pthread_mutex_unlock(&fc->lock);
	return rc;
}

static int fs_mkdir(const char *path, mode_t mode)
{
	(void)mode;
	if (name_too_long(path))
		return -ENAMETOOLONG;
	struct ns_path p;
	ns_parse(path, &p);
	return ns_mkdir(ctx(), &p);
}

static int fs_rmdir(const char *path)
{
	struct ns_path p;
	ns_parse(path, &p);
	return ns_rmdir(ctx(), &p);
}

/* rename(2) of a created file not committed yet (only its writer's handle
 * holds it): it commits under the new name at close (handle_follow); the
 * name it replaces goes now. -ENOENT when a is not such a file. */
static int rename_created(struct fsctx *fc, const char *to, const struct ns_path *a,
			  const struct ns_path *b)
{
	pthread_mutex_lock(&fc->lock);
	struct handle *h = ns_pending_get_locked(fc, a);
	int created = h && h->created;
	pthread_mutex_unlock(&fc->lock);
	if (!created)
		return -ENOENT;
	char parent[4200];
	if (strlen(to) >= sizeof(parent))
		return -ENAMETOOLONG;
	strcpy(parent, to);
	*strrchr(parent, '/') = '\0';
	struct ns_path *pp = malloc(sizeof(*pp)); /* 12 KiB: not on the stack */
	if (!pp)
		return -ENOMEM;
	struct stat st;
	ns_parse(parent, pp);
	int rc = ns_getattr(fc, pp, &st) || !S_ISDIR(st.st_mode) ? -ENOENT : 0;
	free(pp);
	if (rc)
		return rc; /* no such folder */
	if (!ns_getattr(fc, b, &st) && S_ISDIR(st.st_mode))
		return -EISDIR;
	rc = unlink_path(fc, b, 0);
	if (rc && rc != -ENOENT)
		return rc;
	pthread_mutex_lock(&fc->lock);
	ns_pending_rename_locked(fc, a, b);
	pthread_mutex_unlock(&fc->lock);
	return 0;
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	if (name_too_long(to))
		return -ENAMETOOLONG;
	struct fsctx *fc = ctx();
	struct ns_path a, b;
	ns_parse(from, &a);
	ns_parse(to, &b);
	struct stat st;
	if (hidden_is_name(to) && !(flags & RENAME_EXCHANGE) && !ns_getattr(fc, &a, &st) &&
	    !S_ISDIR(st.st_mode))
		return hide(fc, from, &a, to, &b);
	int rc = ns_rename(fc, &a, &b, flags);
	if (rc == -ENOENT && a.kind == NS_DOC && b.kind == NS_DOC && !(flags & RENAME_NOREPLACE))
		return rename_created(fc, to, &a, &b);
	/* Open files follow their name: stat of the new one shows a
	 * writer's size, the old name is gone. */
	if (!rc) {
		pthread_mutex_lock(&fc->lock);
		ns_pending_rename_locked(fc, &a, &b);
		hidden_rename_locked(fc, from, to);
		pthread_mutex_unlock(&fc->lock);
	}
	return rc;
}

static int fs_utimens(const char *path, const struct timespec tv[2],
		      struct fuse_file_info *fi)
{
	struct ns_path p;
	struct timespec now;
	ns_parse(path, &p);
	clock_gettime(CLOCK_REALTIME, &now);
	const struct timespec *m = &tv[1];
	if (!tv || tv[1].tv_nsec == UTIME_NOW)
		m = &now;
	else if (tv[1].tv_nsec == UTIME_OMIT)
		return 0;
	int rc = ns_set_times(ctx(), &p, m);
	if (rc == -ENOENT && p.kind == NS_DOC)
		rc = set_pending_attr(&p, fi, 0, (int64_t)m->tv_sec * 1000000000 + m->tv_nsec);
	return rc;
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct ns_path p;
	ns_parse(path, &p);
	int rc = ns_chmod(ctx(), &p, mode);
	if (rc == -ENOENT && p.kind == NS_DOC)
		rc = set_pending_attr(&p, fi, (uint32_t)(mode & 07777), 0);
	return rc;
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	struct fsctx *fc = ctx();
	/* Everything belongs to the mounting user; only a no-op chown passes. */
	if ((uid != (uid_t)-1 && uid != fc->uid) || (gid != (gid_t)-1 && gid != fc->gid))
		return -EPERM;
	return 0;
}

static int fs_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = sv->f_frsize = 4096;
	sv->f_blocks = sv->f_bfree = sv->f_bavail = 1ULL << 30;
	sv->f_files = sv->f_ffree = sv->f_favail = 1ULL << 30;
	sv->f_namemax = 255;
	return 0;
}

static int fs_refuse_link(const char *a, const char *b)
{
	(void)a;
	(void)b;
	return -ENOTSUP;
}

static int fs_mknod(const char *path, mode_t mode, dev_t dev)
{
	(void)path;
	(void)mode;
	(void)dev;
	return -ENOTSUP;
}

const struct fuse_operations ragfs_ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.open = fs_open,
	.create = fs_create,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.truncate = fs_truncate,
	.unlink = fs_unlink,
	.mkdir = fs_mkdir,
	.rmdir = fs_rmdir,
	.rename = fs_rename,
	.utimens = fs_utimens,
	.chmod = fs_chmod,
	.chown = fs_chown,
	.statfs = fs_statfs,
	.symlink = fs_refuse_link,
	.link = fs_refuse_link,
	.mknod = fs_mknod,
};
