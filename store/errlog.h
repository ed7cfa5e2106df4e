/* store/errlog.h - the user-visible error log (.ragfs/errors.log).
 *
 * Every refused input and every failed background operation adds one line:
 * "<ISO-8601 UTC time> <path> <errno name>: <reason>". The last
 * ERRLOG_KEEP lines are kept in memory for the mount's .ragfs/errors.log; each
 * line is also appended to a file when one was given (the store's local state
 * directory), so the history survives a remount. Thread safe.
 */
#ifndef STORE_ERRLOG_H
#define STORE_ERRLOG_H

#include "buf.h"

#define ERRLOG_KEEP 1000

struct errlog;

/* file may be NULL (memory only). 0 or -ENOMEM. */
int errlog_open(const char *file, struct errlog **out);
void errlog_close(struct errlog *el);

/* Add a line. err is a positive or negative errno (its symbolic name is
 * printed) or 0. Newlines in path/reason are replaced by spaces. */
void errlog_add(struct errlog *el, const char *path, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Append the kept lines, oldest first, to out. */
int errlog_render(struct errlog *el, struct buf *out);
/* Number of lines ever added and the last one (copied into last, may be ""). */
unsigned long errlog_count(struct errlog *el, char *last, size_t lastlen);

#endif
