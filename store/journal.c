/* store/journal.c - see journal.h */
#include "journal.h"

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
#include <unistd.h>

#include "log.h"

struct journal {
	pthread_mutex_t lock;
	char *dir;
	int lock_fd;
	int fd;            /* active file */
	uint64_t active_id;
	uint64_t active_len;
	uint64_t *sealed;  /* ids of sealed files, ascending */
	size_t nsealed;
	uint64_t sealed_bytes;
};

static char *file_name(const struct journal *j, uint64_t id)
{
	char *p = NULL;
	if (asprintf(&p, "%s/journal.%016" PRIx64 ".log", j->dir, id) < 0)
		return NULL;
	return p;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Collect the ids of existing journal files as sealed. */
static int scan(struct journal *j)
{
	DIR *d = opendir(j->dir);
	if (!d)
		return -errno;
	struct dirent *de;
	size_t cap = 0;
	while ((de = readdir(d))) {
		uint64_t id;
		char tail[8];
		if (sscanf(de->d_name, "journal.%16" SCNx64 ".%4s", &id, tail) != 2 ||
		    strcmp(tail, "log"))
			continue;
		if (j->nsealed == cap) {
			cap = cap ? cap * 2 : 8;
			uint64_t *n = realloc(j->sealed, cap * sizeof(*n));
			if (!n) {
				closedir(d);
				return -ENOMEM;
			}
			j->sealed = n;
		}
		j->sealed[j->nsealed++] = id;
	}
	closedir(d);
	if (j->nsealed) /* qsort(NULL, 0) is undefined */
		qsort(j->sealed, j->nsealed, sizeof(*j->sealed), cmp_u64);
	return 0;
}

static int open_active(struct journal *j, uint64_t id)
{
	char *name = file_name(j, id);
	if (!name)
		return -ENOMEM;
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	free(name);
	if (fd < 0)
		return -errno;
	j->fd = fd;
	j->active_id = id;
	j->active_len = 0;
	return 0;
}

int journal_open(const char *dir, struct journal **out)
{
	int rc;
	struct journal *j = calloc(1, sizeof(*j));
	*out = NULL;
	if (!j)
		return -ENOMEM;
	pthread_mutex_init(&j->lock, NULL);
	j->fd = j->lock_fd = -1;
	j->dir = strdup(dir);
	if (!j->dir) {
		rc = -ENOMEM;
		goto fail;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	char *lock = NULL;
	if (asprintf(&lock, "%s/lock", dir) < 0) {
		rc = -ENOMEM;
		goto fail;
	}
	j->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(lock);
	if (j->lock_fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (flock(j->lock_fd, LOCK_EX | LOCK_NB)) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto fail;
	}
	rc = scan(j);
	if (rc)
		goto fail;
	for (size_t i = 0; i < j->nsealed; i++) {
		struct stat st;
		char *name = file_name(j, j->sealed[i]);
		if (name && !stat(name, &st))
			j->sealed_bytes += (uint64_t)st.st_size;
		free(name);
	}
	rc = open_active(j, j->nsealed ? j->sealed[j->nsealed - 1] + 1 : 1);
	if (rc)
		goto fail;
	*out = j;
	return 0;
fail:
	journal_close(j);
	return rc;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0) {
		close(j->fd);
		/* An empty active file carries nothing: do not leave it behind. */
		if (j->active_len == 0) {
			char *name = file_name(j, j->active_id);
			if (name)
				unlink(name);
			free(name);
		}
	}
	if (j->lock_fd >= 0)
		close(j->lock_fd);
	pthread_mutex_destroy(&j->lock);
	free(j->sealed);
	free(j->dir);
	free(j);
}

static int read_file(const char *name, struct buf *out)
{
	int fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	struct stat st;
	int rc = fstat(fd, &st) ? -errno : buf_grow(out, (size_t)st.st_size);
	for (off_t off = 0; !rc && off < st.st_size;) {
		ssize_t n = pread(fd, out->data + out->len, (size_t)(st.st_size - off), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break;
		}
		off += n;
		out->len += (size_t)n;
	}
	if (out->data)
		out->data[out->len] = '\0';
	close(fd);
	return rc;
}

/* Length of the longest prefix of p[0..len) made of whole, valid frames. */
static size_t whole_frames(const char *p, size_t len, int *torn)
{
	size_t off = 0;
	*torn = 0;
	while (off < len) {
		size_t used;
		uint64_t seq;
		if (frame_decode(p + off, len - off, &used, &seq, NULL, NULL)) {
			*torn = 1;
			break;
		}
		off += used;
	}
	return off;
}

static int sealed_bytes(struct journal *j, struct buf *out)
{
	for (size_t i = 0; i < j->nsealed; i++) {
		char *name = file_name(j, j->sealed[i]);
		if (!name)
			return -ENOMEM;
		size_t start = out->len;
		int torn, rc = read_file(name, out);
		if (!rc) {
			size_t keep = whole_frames(out->data + start, out->len - start, &torn);
			if (torn)
				LOG_WARN("journal %s: cut a torn tail of %zu bytes", name,
					 out->len - start - keep);
			out->len = start + keep;
		}
		free(name);
		if (rc)
			return rc;
	}
	return 0;
}

int journal_read_sealed(struct journal *j, struct buf *out)
{
	pthread_mutex_lock(&j->lock);
	int rc = sealed_bytes(j, out);
	pthread_mutex_unlock(&j->lock);
	return rc;
}

int journal_read_all(struct journal *j, struct buf *out)
{
	pthread_mutex_lock(&j->lock);
	int rc = sealed_bytes(j, out);
	char *name = rc ? NULL : file_name(j, j->active_id);
	if (!rc && !name)
		rc = -ENOMEM;
	if (!rc) {
		size_t start = out->len;
		int torn;
		rc = read_file(name, out);
		if (!rc)
			out->len = start + whole_frames(out->data + start, out->len - start, &torn);
	}
	free(name);
	pthread_mutex_unlock(&j->lock);
	return rc;
}

int journal_replay(struct journal *j, frame_op_fn fn, void *ctx)
{
	struct buf all = BUF_INIT;
	int rc = journal_read_sealed(j, &all);
	for (size_t off = 0; !rc && off < all.len;) {
		size_t used;
		uint64_t seq;
		rc = frame_decode(all.data + off, all.len - off, &used, &seq, fn, ctx);
		off += used;
	}
	buf_release(&all);
	return rc;
}

int journal_append(struct journal *j, const void *frames, size_t len)
{
	int rc = 0;
	const char *p = frames;
	size_t done = 0;

	pthread_mutex_lock(&j->lock);
	while (done < len) {
		ssize_t n = write(j->fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		done += (size_t)n;
	}
	if (rc) {
		/* Never leave half a frame: replay would stop there. */
		if (ftruncate(j->fd, (off_t)j->active_len))
			LOG_ERR("journal: cannot cut a failed append: %s", strerror(errno));
	} else {
		j->active_len += len;
	}
	pthread_mutex_unlock(&j->lock);
	return rc;
}

int journal_sync(struct journal *j)
{
	pthread_mutex_lock(&j->lock);
	int rc = fdatasync(j->fd) ? -errno : 0;
	pthread_mutex_unlock(&j->lock);
	return rc;
}

int journal_rotate(struct journal *j)
{
	int rc = 0;
	pthread_mutex_lock(&j->lock);
	if (j->active_len == 0)
		goto out;
	uint64_t *n = realloc(j->sealed, (j->nsealed + 1) * sizeof(*n));
	if (!n) {
		rc = -ENOMEM;
		goto out;
	}
	j->sealed = n;
	int old_fd = j->fd;
	uint64_t old_id = j->active_id, old_len = j->active_len;
	rc = open_active(j, old_id + 1);
	if (rc)
		goto out;
	close(old_fd);
	j->sealed[j->nsealed++] = old_id;
	j->sealed_bytes += old_len;
out:
	pthread_mutex_unlock(&j->lock);
	return rc;
}

int journal_drop_sealed(struct journal *j)
{
	int rc = 0;
	pthread_mutex_lock(&j->lock);
	for (size_t i = 0; i < j->nsealed; i++) {
		char *name = file_name(j, j->sealed[i]);
		if (!name || (unlink(name) && errno != ENOENT))
			rc = name ? -errno : -ENOMEM;
		free(name);
	}
	if (!rc) {
		j->nsealed = 0;
		j->sealed_bytes = 0;
	}
	pthread_mutex_unlock(&j->lock);
	return rc;
}

uint64_t journal_pending_bytes(struct journal *j)
{
	pthread_mutex_lock(&j->lock);
	uint64_t n = j->sealed_bytes + j->active_len;
	pthread_mutex_unlock(&j->lock);
	return n;
}
