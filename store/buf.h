/* store/buf.h - a growable byte buffer (git strbuf semantics, curl-style cap).
 *
 * Invariants: data is NULL or malloc'd with cap bytes; len <= cap; when
 * data != NULL, data[len] == '\0' (so text can be used as a C string).
 * max == 0 means no cap; an append that would pass max fails with -EFBIG
 * and leaves the buffer unchanged.
 * Ownership: the buffer owns data; buf_release frees it and leaves the
 * buffer reusable; buf_detach hands data to the caller (free() it).
 */
#ifndef STORE_BUF_H
#define STORE_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

#define BUF_INIT { NULL, 0, 0, 0 }

/* Make room for at least extra more bytes (plus the NUL). 0 or -ENOMEM/-EFBIG. */
int buf_grow(struct buf *b, size_t extra);
/* Append bytes. 0 or -ENOMEM/-EFBIG. */
int buf_add(struct buf *b, const void *p, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
/* printf-style append. */
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* Set len to 0, keep memory. */
void buf_reset(struct buf *b);
/* Free memory; the buffer is BUF_INIT again (max kept). */
void buf_release(struct buf *b);
/* Return the malloc'd data (never NULL: an empty buffer gives "") and reset b. */
char *buf_detach(struct buf *b, size_t *len);

#endif
