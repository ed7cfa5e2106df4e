/* fs/handle.h - an open file: its content buffer and what close() does.
 *
 * Files are read and written whole: open renders or loads the content into
 * the handle (so one open sees one consistent snapshot at any offset), writes
 * edit the buffer, and flush (every close) commits a changed buffer through
 * ns_write, whose errno close() returns. Query files keep two buffers: the
 * request written and the result rendered on the first read after it.
 * Thread safe per handle (FUSE may run reads and writes of one handle at once).
 * Every writable handle is listed in the ns pending map under its path, so
 * that stat(2) of a file being written shows the size a read would see.
 */
#ifndef FS_HANDLE_H
#define FS_HANDLE_H

#include <pthread.h>
#include <sys/types.h>

#include "ns.h"

struct handle {
	pthread_mutex_t lock;
	struct ns_path path;
	struct buf data;   /* content (for query files: the request) */
	struct buf result; /* query files: rendered results */
	int result_valid;
	int loaded;        /* data holds the current content */
	int writable;
	int dirty;         /* data changed since the last commit */
	int created;       /* made by create(): not in the store until committed */
	size_t size_now;   /* data.len, readable without the lock (atomic) */
	int unlinked;      /* removed before its first commit: never commit (atomic) */
	struct handle *prev, *next; /* fc->handles, under fc->lock */
	int written;       /* a write or truncate happened */
	int too_big;       /* a write passed max_file_mb: close refuses (EFBIG) */
	uint32_t mode;     /* chmod before the first commit (0 = default) */
	int64_t mtime_ns;  /* utimens before the first commit (0 = now) */
	int64_t opened_ns; /* when it was opened: a new file's times until its commit */
};

/* Open p. flags are open(2) flags. 0 or -errno. An open that loads the
 * content while another descriptor has the file open for writing with
 * changes not committed yet takes that writer's buffer, as a local file
 * system shows other descriptors' writes: what stat(2) reports and a read
 * returns agree, also between a close() and the release the kernel sends
 * after it returned (an O_TRUNC closed unwritten commits only then). */
int handle_open(struct fsctx *fc, const struct ns_path *p, int flags, int created,
		struct handle **out);
int handle_read(struct fsctx *fc, struct handle *h, char *dst, size_t size, off_t off,
		size_t *n);
int handle_write(struct fsctx *fc, struct handle *h, const char *src, size_t size,
		 off_t off);
int handle_truncate(struct fsctx *fc, struct handle *h, off_t size);
/* The same with h->lock held. */
int handle_truncate_locked(struct handle *h, off_t size);
/* Commit a changed buffer (close). A created or truncated file that no
 * write touched yet is left for handle_release: shells dup2 and close the
 * descriptor before writing, and an empty commit then would index twice. */
int handle_flush(struct fsctx *fc, struct handle *h);
/* Commit what flush deferred (errors are logged: release has no caller). */
void handle_release(struct fsctx *fc, struct handle *h);
/* Record attributes for a file not yet committed (atomic: no lock taken). */
void handle_set_attr(struct handle *h, uint32_t mode, int64_t mtime_ns);
/* path is the file's name now, as libfuse passes it to flush and release:
 * after a rename the handle commits under the new name; NULL or a hidden
 * name (hidden.h) means the file was unlinked while open, and it never
 * commits again (POSIX: the data of an unlinked file goes nowhere). */
void handle_follow(struct handle *h, const char *path);
/* The mtime a file not committed yet shows: its utimens, else its open
 * time (atomic: no lock taken). */
int64_t handle_mtime(struct handle *h);
/* Current size (for fstat of an open file). */
size_t handle_size(struct handle *h);
void handle_free(struct fsctx *fc, struct handle *h);
/* fn(h, arg) with the newest handle open for writing under p's name locked
 * (h NULL when there is none); returns fn's result. fc->lock keeps a listed
 * handle alive but is never taken before a handle lock: this tries the
 * handle's lock and backs off. fn runs under fc->lock: it must not take it. */
int handle_with_writer(struct fsctx *fc, const struct ns_path *p,
		       int (*fn)(struct handle *h, void *arg), void *arg);
/* At unmount: release and free the handles the kernel never released (a
 * RELEASE still in flight when the session ended). */
void handle_free_all(struct fsctx *fc);

#endif
