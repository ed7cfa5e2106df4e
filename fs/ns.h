/* fs/ns.h - the mount's namespace: which path means what, its attributes,
 * its directory listing and its content. Path based and FUSE-free, so the
 * FUSE glue (ops.c) stays thin.
 *
 *   /docs/<path...>                 documents (COLL_DOCS) and folders
 *   /docstore/<node_id>.json        nodes
 *   /index_store/<index_id>.json    index structs (the default one rendered)
 *   /vector_store/<node_id>.f32     vectors; meta.json, matrix.f32, ids.txt
 *   /kvstore/<coll...>/<key>.json   key-value collections
 *   /query/<name>                   query files (kept in memory per mount)
 *   /search/<query text>            one-line queries (never listed)
 *   /.ragfs/{status,stats,config}.json, errors.log
 *   /persist/, /persist-ts/          LlamaIndex persist dirs (rendered)
 */
#ifndef FS_NS_H
#define FS_NS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../store/buf.h"
#include "../store/map.h"
#include "../store/store.h"

struct handle;

enum ns_top {
	TOP_NONE, TOP_DOCS, TOP_DOCSTORE, TOP_INDEX, TOP_VECTOR, TOP_KV, TOP_QUERY,
	TOP_SEARCH, TOP_RAGFS, TOP_PERSIST, TOP_PERSIST_TS,
};

enum ns_kind {
	NS_ROOT,
	NS_TOPDIR,     /* one of the folders above */
	NS_DOC,        /* docs/: a file or folder, decided by lookup */
	NS_NODE,       /* docstore/<id>.json */
	NS_INDEX,      /* index_store/<id>.json */
	NS_VECTOR,     /* vector_store/<id>.f32 */
	NS_VEC_META,   /* vector_store/meta.json */
	NS_VEC_MATRIX, /* vector_store/matrix.f32 */
	NS_VEC_IDS,    /* vector_store/ids.txt */
	NS_KV,         /* kvstore/...: a collection folder or <key>.json */
	NS_QUERY,      /* query/<name> */
	NS_SEARCH,     /* search/<text> */
	NS_RAGFS,      /* .ragfs/<file> */
	NS_PERSIST,    /* persist/<file>, persist-ts/<file>: rendered views */
	NS_BAD,        /* a name that cannot exist here (e.g. docstore/x.txt) */
};

struct ns_path {
	enum ns_top top;
	enum ns_kind kind;
	char rel[4096]; /* path below the top folder ("" for the folder) */
	char id[4096];  /* id/key: rel without the suffix (.json/.f32) */
	char coll[4096];/* NS_KV: the collection part of a key path */
	int as_text;    /* query/search rendering: name ends in ".txt" */
	int pfile;      /* NS_PERSIST: enum persist_file */
};

/* Per-mount context shared by the FUSE handlers. */
struct fsctx {
	struct store *store;
	uid_t uid;
	gid_t gid;
	struct timespec started;
	pthread_mutex_t lock;  /* guards queries, pending */
	struct map *queries;   /* query/ name -> struct query_file * */
	struct map *pending;   /* path -> the handle of a created, uncommitted file */
	size_t max_file_size;
	struct handle *handles; /* every open file (handle.c), guarded by lock */
	struct map *hidden;    /* files unlinked while open: hidden.h */
	/* persist/ file sizes cost a render: kept per state version
	 * (indexed by enum persist_file). */
	struct {
		uint64_t version;
		uint64_t size;
		int valid;
	} psize[16];
};

struct query_file {
	char *text;       /* the written request */
	size_t len;
	size_t result_len;/* size of the last rendered result (for stat) */
	struct timespec mtime;
};

/* Free a struct query_file (map_free callback). */
void ns_query_free(void *q);

/* Classify path ("/..."). */
void ns_parse(const char *path, struct ns_path *p);

/* stat of p: 0 or -ENOENT. */
int ns_getattr(struct fsctx *fc, const struct ns_path *p, struct stat *st);

typedef int (*ns_fill_fn)(void *ctx, const char *name, const struct stat *st);
/* List a folder ("." and ".." included). -ENOTDIR / -ENOENT. */
int ns_readdir(struct fsctx *fc, const struct ns_path *p, ns_fill_fn fill, void *ctx);

/* Whole content of a file, as reading it now gives. -ENOENT, -EISDIR. */
int ns_read(struct fsctx *fc, const struct ns_path *p, struct buf *out);

/* Commit the written content of a file (on close). Errors are the errno
 * the close() gets (-EINVAL for refused content, logged). mode (0 =
 * default) and mtime_ns (0 = now) apply to documents. */
int ns_write(struct fsctx *fc, const struct ns_path *p, const char *data, size_t len,
	     uint32_t mode, int64_t mtime_ns);

/* 1 when p is a file that a run of its content as a query answers on read
 * (query/ and search/). */
int ns_is_query(const struct ns_path *p);
/* 1 when the content is generated and its size is not known in advance:
 * opened with direct I/O. */
int ns_is_generated(const struct ns_path *p);

/* Remember the size of a query file's last result (its stat size). */
void ns_query_note_result(struct fsctx *fc, const struct ns_path *p, size_t len);

int ns_unlink(struct fsctx *fc, const struct ns_path *p);
int ns_mkdir(struct fsctx *fc, const struct ns_path *p);
int ns_rmdir(struct fsctx *fc, const struct ns_path *p);
int ns_rename(struct fsctx *fc, const struct ns_path *from, const struct ns_path *to,
	      unsigned flags);
int ns_set_times(struct fsctx *fc, const struct ns_path *p, const struct timespec *mtime);
int ns_chmod(struct fsctx *fc, const struct ns_path *p, mode_t mode);
/* May a file be created at p? 0 or -EINVAL/-EPERM/-EEXIST (logged when the
 * name is what is wrong). */
int ns_may_create(struct fsctx *fc, const struct ns_path *p);
/* Log a refusal of p in errors.log; returns err. */
int ns_refuse(struct fsctx *fc, const struct ns_path *p, int err, const char *why);

/* Pending (created, not yet committed) files, so stat, chmod and utimens
 * see them: path -> its open handle (opaque here). */
void ns_pending_add(struct fsctx *fc, const struct ns_path *p, void *handle);
void ns_pending_del(struct fsctx *fc, const struct ns_path *p, void *handle);
void ns_pending_del_locked(struct fsctx *fc, const struct ns_path *p, void *handle);
/* The handle of a pending file, or NULL. Valid while fc->lock is held. */
void *ns_pending_get_locked(struct fsctx *fc, const struct ns_path *p);
/* After a rename from -> to (same top folder): the pending entry of from,
 * and of every path below it (a folder), moves to the new name; an entry
 * it lands on is dropped. Caller holds fc->lock. */
void ns_pending_rename_locked(struct fsctx *fc, const struct ns_path *from,
			      const struct ns_path *to);

#endif
