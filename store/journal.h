/* store/journal.h - the local write-ahead journal (SPEC §4).
 *
 * A directory of append-only files "journal.<16 hex id>.log", each a
 * concatenation of frames (frame.h). Exactly one file is active: appends go
 * there with write(2) and no fsync, which survives a crash of the process
 * (the page cache keeps it); journal_sync makes it survive the machine.
 * Flushing to the backing store seals the active file (journal_rotate) and,
 * once the sealed frames are safely in a segment, deletes the sealed files
 * (journal_drop_sealed). On open, files left by an earlier run are sealed:
 * journal_replay reads them; a torn tail of the newest is cut off.
 *
 * The journal takes an exclusive flock on <dir>/lock so that two daemons
 * never share one journal (-EBUSY). Thread safe.
 */
#ifndef STORE_JOURNAL_H
#define STORE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "frame.h"

struct journal;

/* dir is created (0700) if missing. 0, -EBUSY (in use by another process)
 * or another negative errno. */
int journal_open(const char *dir, struct journal **out);
void journal_close(struct journal *j);

/* Decode every sealed file in order, calling fn per op of each whole
 * frame; stops at a torn or corrupt tail (reported with LOG_WARN). */
int journal_replay(struct journal *j, frame_op_fn fn, void *ctx);

/* Append whole frames (len bytes). 0 or a negative errno (-ENOSPC...);
 * on error the file is cut back so no partial frame stays. */
int journal_append(struct journal *j, const void *frames, size_t len);
/* fdatasync the active file. */
int journal_sync(struct journal *j);

/* Seal the active file and start a new one; a no-op when the active file
 * is empty. */
int journal_rotate(struct journal *j);
/* Append the bytes of all sealed files, in order, to out. The whole frames
 * only: a torn tail is left out. */
int journal_read_sealed(struct journal *j, struct buf *out);
/* Append the whole frames of the sealed files and the active one, in
 * order, to out: every change this writer made that may not be in a
 * segment yet. */
int journal_read_all(struct journal *j, struct buf *out);
/* Delete the sealed files (their frames are on the backing store). */
int journal_drop_sealed(struct journal *j);
/* Bytes in sealed + active files. */
uint64_t journal_pending_bytes(struct journal *j);

#endif
