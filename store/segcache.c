/* store/segcache.c - see segcache.h */
#include "segcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

struct segcache {
	char *dir;
	uint64_t max;
	pthread_mutex_t lock; /* guards everything below */
	uint64_t bytes, files;
	uint64_t hits, misses, evictions, tmp_seq;
};

/* The file name of key: '/' and '%' escaped, so names never nest or clash. */
static int file_name(const struct segcache *c, const char *key, char *out, size_t n)
{
	size_t o = (size_t)snprintf(out, n, "%s/", c->dir);
	for (const char *p = key; *p && o + 4 < n; p++) {
		if (*p == '/' || *p == '%')
			o += (size_t)snprintf(out + o, n - o, "%%%02X", (unsigned char)*p);
		else
			out[o++] = *p;
	}
	if (o + 4 >= n)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return 0;
}

/* One file of size bytes left the cache. Caller holds the lock; the counts
 * never go below zero (a file removed behind our back). */
static void uncount_locked(struct segcache *c, off_t size)
{
	c->bytes -= (uint64_t)size < c->bytes ? (uint64_t)size : c->bytes;
	c->files -= c->files ? 1 : 0;
}

/* Remove the least recently used files until the total fits. Caller holds
 * the lock. */
static void trim_locked(struct segcache *c)
{
	while (c->bytes > c->max) {
		DIR *d = opendir(c->dir);
		if (!d)
			return;
		char oldest[NAME_MAX + 1] = "";
		struct timespec om = { 0 };
		struct dirent *de;
		while ((de = readdir(d))) {
			struct stat st;
			if (de->d_name[0] == '.' ||
			    fstatat(dirfd(d), de->d_name, &st, 0) || !S_ISREG(st.st_mode))
				continue;
			if (!oldest[0] || st.st_mtim.tv_sec < om.tv_sec ||
			    (st.st_mtim.tv_sec == om.tv_sec && st.st_mtim.tv_nsec < om.tv_nsec)) {
				snprintf(oldest, sizeof(oldest), "%s", de->d_name);
				om = st.st_mtim;
			}
		}
		struct stat st;
		int gone = oldest[0] && !fstatat(dirfd(d), oldest, &st, 0) &&
			   !unlinkat(dirfd(d), oldest, 0);
		closedir(d);
		if (!gone) { /* nothing left to remove: the count was off */
			c->bytes = 0;
			c->files = 0;
			return;
		}
		uncount_locked(c, st.st_size);
		c->evictions++;
	}
}

int segcache_open(const char *dir, uint64_t max_bytes, struct segcache **out)
{
	struct segcache *c = calloc(1, sizeof(*c));
	if (!c || !(c->dir = strdup(dir))) {
		free(c);
		return -ENOMEM;
	}
	c->max = max_bytes;
	pthread_mutex_init(&c->lock, NULL);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		int rc = -errno;
		segcache_close(c);
		return rc;
	}
	DIR *d = opendir(dir);
	if (!d) {
		int rc = -errno;
		segcache_close(c);
		return rc;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_name[0] == '.') { /* a temporary a crash left */
			unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (!fstatat(dirfd(d), de->d_name, &st, 0) && S_ISREG(st.st_mode)) {
			c->bytes += (uint64_t)st.st_size;
			c->files++;
		}
	}
	closedir(d);
	trim_locked(c);
	*out = c;
	return 0;
}

void segcache_close(struct segcache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c->dir);
	free(c);
}

static void count(struct segcache *c, uint64_t *n)
{
	pthread_mutex_lock(&c->lock);
	(*n)++;
	pthread_mutex_unlock(&c->lock);
}

int segcache_get(struct segcache *c, const char *key, struct buf *out)
{
	char path[PATH_MAX];
	struct stat st;
	buf_reset(out);
	if (!c || file_name(c, key, path, sizeof(path)))
		return -ENOENT;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || buf_grow(out, (size_t)st.st_size + 1)) {
		if (fd >= 0)
			close(fd);
		count(c, &c->misses);
		return -ENOENT;
	}
	size_t got = 0, want = (size_t)st.st_size;
	while (got < want) {
		ssize_t r = read(fd, out->data + got, want - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got == want)
		futimens(fd, NULL); /* recently used: last to be evicted */
	close(fd);
	if (got != want) {
		buf_reset(out);
		count(c, &c->misses);
		return -ENOENT;
	}
	out->len = got;
	out->data[got] = '\0';
	count(c, &c->hits);
	return 0;
}

int segcache_map(struct segcache *c, const char *key, struct mapfile *out)
{
	char path[PATH_MAX];
	out->data = NULL;
	out->len = 0;
	if (!c || file_name(c, key, path, sizeof(path)) || mapfile_open(path, out)) {
		if (c)
			count(c, &c->misses);
		return -ENOENT;
	}
	utimensat(AT_FDCWD, path, NULL, 0); /* recently used: last to be evicted */
	count(c, &c->hits);
	return 0;
}

void segcache_reserve(struct segcache *c, uint64_t bytes)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	if (bytes > c->max)
		c->max = bytes;
	pthread_mutex_unlock(&c->lock);
}

int segcache_map_kept(struct segcache *c, const char *key, size_t len, struct mapfile *out)
{
	char path[PATH_MAX];
	out->data = NULL;
	out->len = 0;
	if (!c || file_name(c, key, path, sizeof(path)) || mapfile_open(path, out))
		return -ENOENT;
	if (out->len != len) {
		mapfile_close(out);
		return -ENOENT;
	}
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

void segcache_put(struct segcache *c, const char *key, const void *data, size_t len)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	if (!c || len > c->max || file_name(c, key, path, sizeof(path)))
		return;
	pthread_mutex_lock(&c->lock);
	uint64_t n = ++c->tmp_seq;
	pthread_mutex_unlock(&c->lock);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.tmp-%d-%llu", c->dir, (int)getpid(),
			     (unsigned long long)n) >= sizeof(tmp))
		return;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc = fd < 0 ? -errno : write_all(fd, data, len);
	if (fd >= 0 && close(fd) && !rc)
		rc = -errno;
	struct stat old;
	pthread_mutex_lock(&c->lock);
	int replaced = !rc && !stat(path, &old);
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (!rc) {
		if (replaced)
			uncount_locked(c, old.st_size);
		c->bytes += len;
		c->files++;
		trim_locked(c);
	}
	pthread_mutex_unlock(&c->lock);
	if (rc) {
		unlink(tmp);
		LOG_WARN("segment cache: cannot keep %s: %s", key, strerror(-rc));
	}
}

void segcache_drop(struct segcache *c, const char *key)
{
	char path[PATH_MAX];
	struct stat st;
	if (!c || file_name(c, key, path, sizeof(path)))
		return;
	pthread_mutex_lock(&c->lock);
	if (!stat(path, &st) && !unlink(path))
		uncount_locked(c, st.st_size);
	pthread_mutex_unlock(&c->lock);
}

void segcache_stats(struct segcache *c, struct segcache_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	*st = (struct segcache_stats){ c->hits, c->misses, c->bytes, c->files, c->evictions };
	pthread_mutex_unlock(&c->lock);
}
