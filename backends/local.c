/* backends/local.c - the local-disk backend (see backends.h and store/backend.h).
 *
 * Key "a/b/c" is the file root/a/b/c. A put writes root/a/b/.tmp.<unique>,
 * fsyncs it, renames it over the key and fsyncs the directory, so readers
 * see the old or the new bytes, never a mix, and a returned put is durable.
 * Files are never modified in place, which makes an open fd a stable
 * snapshot and lets the etag be derived from stat (size, mtime, inode).
 */
#include "backends.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define LOCK_NAME ".lock"
#define TMP_PREFIX ".tmp."
#define TMP_PREFIX_LEN (sizeof(TMP_PREFIX) - 1)
/* A concurrent del may rmdir a directory a put just created; retry that. */
#define PUT_DIR_RETRIES 8

struct local_backend {
	struct backend base; /* first: backend_close casts back */
	char *root;
	int lock_fd; /* root/.lock, flock'd around conditional puts */
	/* flock is per open file description, so threads sharing lock_fd
	 * are serialised with this mutex first. */
	pthread_mutex_t cond_lock;
	uint64_t tmp_seq;
};

static struct local_backend *to_local(struct backend *be)
{
	return (struct local_backend *)be;
}

/* The generic key rules, plus names this backend uses for itself. */
static int check_key(const char *key)
{
	if (!key || !*key || *key == '/')
		return -EINVAL;
	size_t n = strlen(key), ln = strlen(LOCK_NAME);
	if (n > BACKEND_KEY_MAX)
		return -EINVAL;
	if (!strncmp(key, LOCK_NAME, ln) && (key[ln] == '\0' || key[ln] == '/'))
		return -EINVAL; /* root/.lock is ours */
	const char *p = key;
	for (;;) {
		const char *e = strchrnul(p, '/');
		size_t c = (size_t)(e - p);
		if (c == 0 || (c == 1 && p[0] == '.') || (c == 2 && p[0] == '.' && p[1] == '.'))
			return -EINVAL;
		if (c >= TMP_PREFIX_LEN && !strncmp(p, TMP_PREFIX, TMP_PREFIX_LEN))
			return -EINVAL; /* list would hide it */
		if (!*e)
			return 0;
		p = e + 1;
		if (!*p)
			return -EINVAL; /* trailing '/' */
	}
}

static char *key_path(const struct local_backend *l, const char *key)
{
	char *p;
	if (asprintf(&p, "%s/%s", l->root, key) < 0)
		return NULL;
	return p;
}

static void stat_meta(const struct stat *st, struct obj_meta *meta)
{
	meta->size = (uint64_t)st->st_size;
	meta->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	snprintf(meta->etag, sizeof(meta->etag), "%" PRIx64 "-%" PRIx64 "-%" PRIx64,
		 (uint64_t)st->st_size, (uint64_t)meta->mtime_ns, (uint64_t)st->st_ino);
}

/* A path component that is a file, or a key that is a directory of other
 * keys, both mean "no such object". */
static int missing_errno(int e)
{
	return e == ENOENT || e == ENOTDIR || e == EISDIR;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

/* Create the parent directories of path below root (path is modified and
 * restored). New directories' parents are fsynced so the entry survives. */
static int make_parents(const struct local_backend *l, char *path)
{
	size_t rootlen = strlen(l->root);
	char *slash = strrchr(path, '/');
	if (!slash || (size_t)(slash - path) <= rootlen)
		return 0;
	*slash = '\0';
	struct stat st;
	int rc = 0;
	if (stat(path, &st) == 0) {
		rc = S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
		goto out;
	}
	rc = make_parents(l, path);
	if (rc)
		goto out;
	if (mkdir(path, 0700) && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	char *up = strrchr(path, '/');
	*up = '\0';
	rc = fsync_dir(path);
	*up = '/';
out:
	*slash = '/';
	return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Make a durable temp file next to path holding data; *tmp gets its name. */
static int write_temp(struct local_backend *l, char *path, const void *data, size_t len,
		      char **tmp, struct obj_meta *meta)
{
	char *slash = strrchr(path, '/');
	int fd = -1, rc = 0;

	*tmp = NULL;
	for (int tries = 0; tries < PUT_DIR_RETRIES; tries++) {
		rc = make_parents(l, path);
		if (rc)
			goto fail;
		uint64_t seq = __atomic_add_fetch(&l->tmp_seq, 1, __ATOMIC_RELAXED);
		free(*tmp);
		if (asprintf(tmp, "%.*s/" TMP_PREFIX "%ld.%" PRIu64, (int)(slash - path), path,
			     (long)getpid(), seq) < 0) {
			*tmp = NULL;
			return -ENOMEM;
		}
		fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		rc = -errno;
		if (errno != ENOENT && errno != EEXIST)
			break;
	}
	if (fd < 0)
		goto fail;
	rc = write_all(fd, data, len);
	if (!rc && fsync(fd))
		rc = -errno;
	struct stat st;
	if (!rc && fstat(fd, &st))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (rc) {
		unlink(*tmp);
		goto fail;
	}
	stat_meta(&st, meta);
	return 0;
fail:
	free(*tmp);
	*tmp = NULL;
	return rc;
}

/* Every rename and unlink happens under the lock, so a conditional put's
 * check and its rename are atomic against all writers, in any process. */
static void write_lock(struct local_backend *l)
{
	pthread_mutex_lock(&l->cond_lock);
	while (flock(l->lock_fd, LOCK_EX) && errno == EINTR)
		;
}

static void write_unlock(struct local_backend *l)
{
	flock(l->lock_fd, LOCK_UN);
	pthread_mutex_unlock(&l->cond_lock);
}

/* The condition, checked under the lock against the key's current stat. */
static int cond_check(const char *path, const struct put_cond *cond)
{
	struct stat st;
	struct obj_meta cur;
	int exists;

	if (stat(path, &st) == 0) {
		exists = S_ISREG(st.st_mode);
	} else if (missing_errno(errno)) {
		exists = 0;
	} else {
		return -errno;
	}
	if (cond->kind == PUT_IF_NONE_MATCH)
		return exists ? -ECANCELED : 0;
	if (!exists)
		return -ECANCELED;
	stat_meta(&st, &cur);
	return strcmp(cur.etag, cond->etag) ? -ECANCELED : 0;
}

static int local_put(struct backend *be, const char *key, const void *data, size_t len,
		     const struct put_cond *cond, struct obj_meta *meta_out)
{
	struct local_backend *l = to_local(be);
	struct obj_meta meta;
	char *tmp = NULL;
	int rc = check_key(key);
	if (rc)
		return rc;
	if (len && !data)
		return -EINVAL;
	if (cond && cond->kind != PUT_ALWAYS && cond->kind != PUT_IF_NONE_MATCH &&
	    !(cond->kind == PUT_IF_MATCH && cond->etag))
		return -EINVAL;
	char *path = key_path(l, key);
	if (!path)
		return -ENOMEM;

	/* The slow part (write + fsync) happens before taking the lock. */
	rc = write_temp(l, path, data, len, &tmp, &meta);
	if (rc)
		goto out;

	write_lock(l);
	if (cond && cond->kind != PUT_ALWAYS)
		rc = cond_check(path, cond);
	if (!rc && rename(tmp, path))
		rc = -errno;
	write_unlock(l);
	if (rc)
		goto out;
	free(tmp);
	tmp = NULL;
	char *slash = strrchr(path, '/');
	*slash = '\0';
	rc = fsync_dir(path);
	*slash = '/';
	if (!rc && meta_out)
		*meta_out = meta;
out:
	if (tmp)
		unlink(tmp);
	free(tmp);
	free(path);
	return rc;
}

static int open_obj(struct local_backend *l, const char *key, struct stat *st)
{
	int rc = check_key(key);
	if (rc)
		return rc;
	char *path = key_path(l, key);
	if (!path)
		return -ENOMEM;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	rc = fd < 0 ? -errno : 0;
	free(path);
	if (fd < 0)
		return missing_errno(-rc) ? -ENOENT : rc;
	if (fstat(fd, st)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

static int local_get(struct backend *be, const char *key, uint64_t off, uint64_t len,
		     struct buf *out, struct obj_meta *meta)
{
	struct stat st;
	int fd = open_obj(to_local(be), key, &st);
	if (fd < 0)
		return fd;
	uint64_t size = (uint64_t)st.st_size;
	int rc = 0;
	if (off > size) {
		rc = -ERANGE;
		goto out;
	}
	uint64_t n = size - off;
	if (len < n)
		n = len;
	if (n > SIZE_MAX / 2) {
		rc = -EFBIG;
		goto out;
	}
	rc = buf_grow(out, (size_t)n);
	if (rc)
		goto out;
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, out->data + out->len + got, (size_t)n - got,
				  (off_t)(off + got));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break; /* cannot happen with rename-only updates; clip */
		got += (size_t)r;
	}
	out->len += got;
	out->data[out->len] = '\0';
	if (meta)
		stat_meta(&st, meta);
out:
	close(fd);
	return rc;
}

static int local_head(struct backend *be, const char *key, struct obj_meta *meta)
{
	struct stat st;
	int fd = open_obj(to_local(be), key, &st);
	if (fd < 0)
		return fd;
	close(fd);
	if (meta)
		stat_meta(&st, meta);
	return 0;
}

static int local_del(struct backend *be, const char *key)
{
	struct local_backend *l = to_local(be);
	int rc = check_key(key);
	if (rc)
		return rc;
	char *path = key_path(l, key);
	if (!path)
		return -ENOMEM;
	write_lock(l);
	if (unlink(path) && !missing_errno(errno) && errno != EPERM) /* EPERM: a dir */
		rc = -errno;
	write_unlock(l);
	if (rc)
		goto out;
	/* Remove emptied parents; stops at the first non-empty one. */
	size_t rootlen = strlen(l->root);
	for (;;) {
		char *slash = strrchr(path, '/');
		if (!slash || (size_t)(slash - path) <= rootlen)
			break;
		*slash = '\0';
		if (rmdir(path))
			break;
	}
out:
	free(path);
	return rc;
}

struct list_ent {
	char *key;
	struct obj_meta meta;
};

struct list_acc {
	const char *prefix;
	size_t plen;
	struct list_ent *ents;
	size_t n, cap;
};

static int acc_add(struct list_acc *a, const char *key, const struct stat *st)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct list_ent *e = realloc(a->ents, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		a->ents = e;
		a->cap = cap;
	}
	a->ents[a->n].key = strdup(key);
	if (!a->ents[a->n].key)
		return -ENOMEM;
	stat_meta(st, &a->ents[a->n].meta);
	a->n++;
	return 0;
}

/* Could keys below directory key dir ("a/b/", or "" for root) match? */
static int dir_may_match(const struct list_acc *a, const char *dir, size_t dlen)
{
	size_t n = dlen < a->plen ? dlen : a->plen;
	return !strncmp(dir, a->prefix, n);
}

/* Walk the directory fd whose keys start with kb (its contents). Takes fd. */
static int walk(struct list_acc *a, int fd, struct buf *kb, int top)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	size_t base = kb->len;
	int rc = 0;
	struct dirent *de;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				rc = -errno;
			break;
		}
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, "..") ||
		    !strncmp(name, TMP_PREFIX, TMP_PREFIX_LEN) || (top && !strcmp(name, LOCK_NAME)))
			continue;
		kb->len = base;
		rc = buf_adds(kb, name);
		if (rc)
			break;
		struct stat st;
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW)) {
			if (errno == ENOENT)
				continue; /* deleted under us */
			rc = -errno;
			break;
		}
		if (S_ISREG(st.st_mode)) {
			if (!strncmp(kb->data, a->prefix, a->plen))
				rc = acc_add(a, kb->data, &st);
		} else if (S_ISDIR(st.st_mode)) {
			rc = buf_addc(kb, '/');
			if (rc)
				break;
			if (!dir_may_match(a, kb->data, kb->len))
				continue;
			int sub = openat(dirfd(d), name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				if (errno == ENOENT)
					continue;
				rc = -errno;
				break;
			}
			rc = walk(a, sub, kb, 0);
		}
		if (rc)
			break;
	}
	kb->len = base;
	closedir(d);
	return rc;
}

static int ent_cmp(const void *x, const void *y)
{
	return strcmp(((const struct list_ent *)x)->key, ((const struct list_ent *)y)->key);
}

static int local_list(struct backend *be, const char *prefix, backend_list_fn fn, void *ctx)
{
	struct local_backend *l = to_local(be);
	struct list_acc a = { .prefix = prefix ? prefix : "" };
	struct buf kb = BUF_INIT;
	a.plen = strlen(a.prefix);

	/* Start at the deepest directory the prefix names ("a/b/c" -> "a/b/"). */
	const char *slash = strrchr(a.prefix, '/');
	int rc = 0;
	if (slash) {
		rc = buf_add(&kb, a.prefix, (size_t)(slash - a.prefix));
		if (rc)
			goto out;
		/* No key lies below an invalid directory (and "../" must not
		 * escape root). */
		if (check_key(kb.data))
			goto out;
		rc = buf_addc(&kb, '/');
	} else {
		rc = buf_adds(&kb, "");
	}
	if (rc)
		goto out;
	char *dir;
	if (asprintf(&dir, "%s/%s", l->root, kb.data) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0) {
		rc = missing_errno(errno) ? 0 : -errno;
		goto out;
	}
	rc = walk(&a, fd, &kb, !slash);
	if (rc)
		goto out;
	if (a.n)
		qsort(a.ents, a.n, sizeof(*a.ents), ent_cmp);
	for (size_t i = 0; i < a.n && !rc; i++)
		rc = fn(a.ents[i].key, &a.ents[i].meta, ctx);
out:
	for (size_t i = 0; i < a.n; i++)
		free(a.ents[i].key);
	free(a.ents);
	buf_release(&kb);
	return rc;
}

static char *local_local_path(struct backend *be, const char *key)
{
	struct local_backend *l = to_local(be);
	struct stat st;
	if (check_key(key))
		return NULL;
	char *path = key_path(l, key);
	if (path && (stat(path, &st) || !S_ISREG(st.st_mode))) {
		free(path);
		path = NULL;
	}
	return path;
}

static void local_close(struct backend *be)
{
	struct local_backend *l = to_local(be);
	if (l->lock_fd >= 0)
		close(l->lock_fd);
	pthread_mutex_destroy(&l->cond_lock);
	free(l->root);
	free(l);
}

static const struct backend_ops local_ops = {
	.name = "local",
	.get = local_get,
	.head = local_head,
	.put = local_put,
	.del = local_del,
	.list = local_list,
	.local_path = local_local_path,
	.close = local_close,
};

/* mkdir -p with mode 0700; path is modified and restored. */
static int mkdir_p(char *path)
{
	struct stat st;
	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (errno != ENOENT)
		return -errno;
	char *slash = strrchr(path, '/');
	if (slash && slash != path) {
		*slash = '\0';
		int rc = mkdir_p(path);
		*slash = '/';
		if (rc)
			return rc;
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int local_backend_open(const char *root, struct backend **out)
{
	*out = NULL;
	if (!root || !*root)
		return -EINVAL;
	struct local_backend *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->lock_fd = -1;
	pthread_mutex_init(&l->cond_lock, NULL);
	int rc = -ENOMEM;
	l->root = strdup(root);
	if (!l->root)
		goto fail;
	/* Trailing slashes would double up in key paths ("/" stays "/" and
	 * yields "//key", which is harmless). */
	size_t n = strlen(l->root);
	while (n > 1 && l->root[n - 1] == '/')
		l->root[--n] = '\0';
	rc = mkdir_p(l->root);
	if (rc)
		goto fail;
	char *lp = key_path(l, LOCK_NAME);
	if (!lp) {
		rc = -ENOMEM;
		goto fail;
	}
	l->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	rc = l->lock_fd < 0 ? -errno : 0;
	free(lp);
	if (rc)
		goto fail;
	l->base.ops = &local_ops;
	l->base.caps = BACKEND_CAP_RANGE_GET | BACKEND_CAP_COND_PUT |
		       BACKEND_CAP_LOCAL_FILES | BACKEND_CAP_DURABLE;
	*out = &l->base;
	return 0;
fail:
	local_close(&l->base);
	return rc;
}
