/* fs/hidden.h - files unlinked while open (libfuse's hide mode).
 *
 * The kernel's fstat(2) sends GETATTR without a file handle, and libfuse's
 * high-level API answers it from the inode's path; with hard_remove an
 * unlinked file has none, so fstat failed with ESTALE. In hide mode
 * (hard_remove = 0) libfuse instead renames a file that is unlinked while
 * open to ".fuse_hidden<16 hex digits>" in its folder and unlinks that name
 * at the last release; its GETATTR then reports st_nlink - 1.
 *
 * ragfs makes that rename the unlink (the document, node or key is deleted
 * from the store at once, journaled like any unlink) and remembers here
 * the file's attributes under the hidden path, so that fstat answers with
 * nlink 0 until the last close. Hidden names are never listed and never
 * stored. The map is fc->hidden (path -> struct stat *), under fc->lock.
 */
#ifndef FS_HIDDEN_H
#define FS_HIDDEN_H

#include <sys/stat.h>

#include "ns.h"

/* 1 when the last component of the FUSE path is a name libfuse's hide
 * mode makes: ".fuse_hidden" and 16 hex digits. */
int hidden_is_name(const char *path);
/* Remember st (nlink set to 1: libfuse subtracts the unlink) for path.
 * Caller holds fc->lock. 0 or -ENOMEM. */
int hidden_add_locked(struct fsctx *fc, const char *path, const struct stat *st);
/* The attributes remembered for path: 0, or -ENOENT. */
int hidden_get(struct fsctx *fc, const char *path, struct stat *st);
/* Forget path (its last release): 0, or -ENOENT. */
int hidden_del(struct fsctx *fc, const char *path);
/* A folder was renamed from -> to (FUSE paths): hidden files in it move
 * along, as libfuse's names for them do. Caller holds fc->lock. */
void hidden_rename_locked(struct fsctx *fc, const char *from, const char *to);

#endif
