/* store/pyjson.h - JSON writers in the two dialects LlamaIndex writes:
 *
 *   JSON_PY  Python's json.dumps defaults: ", " and ": " separators on one
 *            line, ensure_ascii (\uXXXX with lowercase hex, astral
 *            characters as surrogate pairs, DEL and up escaped), floats by
 *            repr() (shortest round-trip; exponent below 1e-4 and from 1e16
 *            on as "1e-05" / "1e+16"; whole floats keep ".0"), NaN,
 *            Infinity and -Infinity as bare tokens (allow_nan=True).
 *   JSON_JS  JSON.stringify: compact, raw UTF-8 (only '"', '\', control
 *            characters and lone surrogates escaped), numbers by JS
 *            Number::toString (shortest round-trip, no ".0", exponent below
 *            1e-6 and from 1e21 on as "1e-7" / "1e+21"), NaN/Infinity as null.
 *
 * Two inputs are supported:
 *
 *   - JSON text (json_transcode): emulates json.dumps(json.loads(text)) or
 *     JSON.stringify(JSON.parse(text)) token by token, without building a
 *     tree. This keeps what cJSON loses: in the Python dialect an integer
 *     lexeme ("3", "-0" -> "0", any length) stays an int and a lexeme with
 *     '.' or an exponent is a float ("1.0" stays "1.0", "1e-5" -> "1e-05"),
 *     exactly as Python would re-emit it. Use it for stored node JSON so
 *     that re-export is byte-stable.
 *   - cJSON trees (json_write_value): cJSON keeps only a double, so in the
 *     Python dialect a number that is integral and below 2^63 in magnitude
 *     prints as an int ("2021", "0"), everything else by float repr. A value
 *     known to be a float (an embedding component) must go through
 *     json_write_double instead ("0.0"). cJSON_Raw items are copied verbatim
 *     (a caller can keep a lexeme that way).
 *
 * Strings: raw bytes are decoded as UTF-8; an invalid sequence becomes
 * U+FFFD (Python could not hold it; Node's Buffer.toString does the same).
 * A "\uXXXX" escape of a lone surrogate is kept as that code unit and
 * re-escaped in both dialects, as Python and JS keep it.
 * Duplicate object keys are passed through as they are (Python's dict would
 * keep one); the store refuses nothing of the kind, so this is a known gap.
 *
 * Output goes to a struct jw: a small buffered sink with a sticky error, so
 * renderers can write in pieces without checking every call. With a NULL
 * write function it only counts bytes (an exact size without any copy).
 */
#ifndef STORE_PYJSON_H
#define STORE_PYJSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"

enum json_dialect {
	JSON_PY,
	JSON_JS,
};

/* Receives consecutive pieces of output. 0 or -errno (stops the render). */
typedef int (*jw_write_fn)(void *ctx, const void *p, size_t n);

#define JW_BUF_SIZE 8192

struct jw {
	jw_write_fn fn; /* NULL: count only */
	void *ctx;
	uint64_t bytes; /* bytes emitted so far (flushed or not) */
	int err;        /* first error, sticky; later writes are dropped */
	int quoted;     /* escape '"' and '\' (a JSON document inside a string) */
	size_t len;
	char buf[JW_BUF_SIZE];
};

void jw_init(struct jw *w, jw_write_fn fn, void *ctx);
void jw_write(struct jw *w, const void *p, size_t n);
void jw_puts(struct jw *w, const char *s);
/* Flush what is buffered; returns w->err (0 or -errno). */
int jw_finish(struct jw *w);
/* A jw_write_fn appending to a struct buf (ctx). */
int jw_buf_sink(void *ctx, const void *p, size_t n);

/* Longest number token produced below, with the NUL. */
#define JSON_NUM_MAX 32

/* The shortest digits that round-trip d (finite, non-zero): digits gets them
 * (NUL-terminated, no sign), *decpt the exponent such that
 * |d| = 0.DIGITS x 10^decpt. Returns the digit count (1..17). */
int json_shortest_digits(double d, char digits[20], int *decpt);
/* The same by snprintf/strtod round trips: the reference, and the path for
 * values that are not float32s (json_shortest_digits has a fast one). */
int json_shortest_digits_printf(double d, char digits[20], int *decpt);
/* Python repr(float) of d, as json.dumps writes it (NaN, Infinity,
 * -Infinity for the non-finite). Returns the length. */
size_t py_float_repr(double d, char out[JSON_NUM_MAX]);
/* JS String(d): NaN, Infinity, -Infinity for the non-finite, "0" for -0. */
size_t js_number_str(double d, char out[JSON_NUM_MAX]);

/* Writers of one token or value in the dialect. */
void json_write_double(struct jw *w, enum json_dialect d, double v); /* as a float */
void json_write_string(struct jw *w, enum json_dialect d, const char *s, size_t n);
void json_write_value(struct jw *w, enum json_dialect d, const cJSON *j);
/* Separators: ", " / ": " in JSON_PY, "," / ":" in JSON_JS. */
void json_write_comma(struct jw *w, enum json_dialect d);
void json_write_colon(struct jw *w, enum json_dialect d);

/* Re-emit the JSON text p[0..n) (one value, surrounding whitespace allowed;
 * NaN/Infinity/-Infinity accepted) in the dialect. The text is checked first,
 * so on -EINVAL nothing was written. 0, -EINVAL, or w->err. */
int json_transcode(struct jw *w, enum json_dialect d, const char *p, size_t n);
/* 1 when p[0..n) is one JSON value as json_transcode accepts it. */
int json_text_valid(const char *p, size_t n);

/* Scanning JSON text without a tree. */
/* Called per member of an object: key decoded (UTF-8, NUL-terminated),
 * the value's text span. A non-zero return stops the walk and is returned. */
typedef int (*json_member_fn)(void *ctx, const char *key, const char *val, size_t val_len);
/* Walk the members of the object p[0..n). 0, -EINVAL (not an object), -ENOMEM,
 * or fn's return. */
int json_text_members(const char *p, size_t n, json_member_fn fn, void *ctx);
/* The span of member key of object p[0..n) (the last one, as a Python dict
 * keeps). 0 or -ENOENT / -EINVAL. */
int json_text_member(const char *p, size_t n, const char *key, const char **val,
		     size_t *val_len);
/* Decode the string token p[0..n) (with its quotes) into out as UTF-8
 * (lone surrogates as U+FFFD). 0, -EINVAL (not a string), -ENOMEM. */
int json_text_string(const char *p, size_t n, struct buf *out);

#endif
