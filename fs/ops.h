/* fs/ops.h - the FUSE operation table (high-level, path-based API). All
 * FUSE types stay inside fs/. */
#ifndef FS_OPS_H
#define FS_OPS_H

#include <fuse.h>

extern const struct fuse_operations ragfs_ops;

#endif
