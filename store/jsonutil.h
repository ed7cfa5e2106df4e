/* store/jsonutil.h - small helpers shared by the store modules: ids, hashes,
 * dates, and cJSON conveniences.
 */
#ifndef STORE_JSONUTIL_H
#define STORE_JSONUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"

/* A random (version 4) UUID in canonical form; out must hold 37 bytes. */
void uuid4(char out[37]);
/* Lower-case hex SHA-256 of p[0..n); out must hold 65 bytes. */
void sha256_hex(const void *p, size_t n, char out[65]);
/* "YYYY-MM-DD" (UTC) of a time in ns; out must hold 11 bytes. */
void date_ymd(int64_t t_ns, char out[11]);
int64_t now_ns(void);

/* Parse p[0..n) as JSON with a nesting limit (JSON_MAX_DEPTH): NULL when it
 * is not JSON or is too deep. Free with cJSON_Delete. */
#define JSON_MAX_DEPTH 512
cJSON *json_parse(const char *p, size_t n);
/* Append the compact rendering of j to out. 0 or -ENOMEM. */
int json_print(const cJSON *j, struct buf *out);
/* Append j on one line with ", " and ": " separators (the spacing Python's
 * json.dumps uses); non-ASCII is written as UTF-8, NaN/Inf as null. */
int json_print_spaced(const cJSON *j, struct buf *out);
/* Append str as a JSON string literal (quotes, escapes; UTF-8 kept). */
int json_str_out(const char *str, struct buf *out);
/* The string member name of obj, or NULL. */
const char *json_str(const cJSON *obj, const char *name);

/* Append Python's repr() of a JSON value as a dict value would print it
 * ('str', 1, 1.5, True, None, [..], {..}): used for LlamaIndex's node hash
 * sha256(text + str(metadata)). */
int py_repr(const cJSON *j, struct buf *out);

#endif
