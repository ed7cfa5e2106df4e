/* backends/sigv4.h - AWS Signature Version 4 for S3 (and R2), pure functions.
 *
 * No network code here: the S3 client (backends/s3.c) builds a request
 * description, asks sigv4_sign() for the Authorization header and sends
 * exactly the headers it signed. Hashing and HMAC come from OpenSSL's
 * libcrypto. Written because libcurl 7.88's CURLOPT_AWS_SIGV4 signs S3
 * requests wrongly (raw query, header order, unencoded paths).
 *
 * Encoding rules (the S3 flavour of SigV4):
 *  - the path is given decoded ("/bucket/a b/ü") and encoded exactly once,
 *    every byte but A-Z a-z 0-9 - _ . ~ and '/' as %XX (upper-case hex);
 *    S3 does not normalise "." / ".." / "//" segments, so neither do we;
 *  - query names and values are given decoded, encoded the same way but
 *    with '/' as %2F, sorted by name then value, "name=value" joined with
 *    '&' (a valueless parameter such as "uploads" becomes "uploads=");
 *  - header names are lower-cased, values trimmed with inner runs of
 *    spaces collapsed, sorted by name; host, x-amz-date,
 *    x-amz-content-sha256 and (with a session token) x-amz-security-token
 *    are added by sigv4_sign and must not be passed in.
 *
 * Ownership: the caller owns every input; sigv4_sign writes into the
 * caller's struct sigv4_out, whose authorization string is malloc'd
 * (sigv4_out_free). Thread-safety: all functions are reentrant.
 * Secrets: nothing here logs or keeps the secret key; the signing key is
 * wiped from the stack after use.
 */
#ifndef BACKENDS_SIGV4_H
#define BACKENDS_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "../store/buf.h"

#define SIGV4_HEX_LEN 64        /* a SHA-256 in hex, without the NUL */
#define SIGV4_DATE_LEN 16       /* "20130524T000000Z" */
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

struct sigv4_param {
	const char *name;  /* decoded */
	const char *value; /* decoded; NULL means "" */
};

struct sigv4_header {
	const char *name;  /* any case; sent as given */
	const char *value;
};

struct sigv4_creds {
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL or "" when none */
	const char *region;        /* "us-east-1", "auto" (R2), ... */
	const char *service;       /* NULL means "s3" */
};

struct sigv4_request {
	const char *method;       /* "GET", "PUT", ... */
	const char *host;         /* the Host header exactly as sent ("h" or "h:port") */
	const char *path;         /* decoded, starts with '/' */
	const struct sigv4_param *query;
	size_t nquery;
	const struct sigv4_header *headers; /* extra headers to sign and send */
	size_t nheaders;
	/* Payload: payload_hash if set (hex or SIGV4_UNSIGNED_PAYLOAD), else
	 * the SHA-256 of payload[0..payload_len). */
	const char *payload_hash;
	const void *payload;
	size_t payload_len;
	time_t now;               /* signing time (UTC seconds) */
};

struct sigv4_out {
	char amz_date[SIGV4_DATE_LEN + 1];        /* value of x-amz-date */
	char payload_hash[SIGV4_HEX_LEN + 1];     /* value of x-amz-content-sha256 */
	char *authorization;                      /* value of Authorization, malloc'd */
};

/* Sign req. canon and sts (may be NULL) receive the canonical request and
 * the string to sign, for tests and debugging. Returns 0, -EINVAL on a
 * malformed request, -ENOMEM, or -EIO when libcrypto fails. On error out
 * holds no allocation. */
int sigv4_sign(const struct sigv4_creds *creds, const struct sigv4_request *req,
	       struct sigv4_out *out, struct buf *canon, struct buf *sts);
void sigv4_out_free(struct sigv4_out *out);

/* Append s[0..n) %-encoded per the rules above; keep_slash keeps '/'. */
int sigv4_uri_encode(struct buf *out, const char *s, size_t n, int keep_slash);
/* Append the canonical query string (also what goes on the wire). */
int sigv4_canonical_query(struct buf *out, const struct sigv4_param *q, size_t n);

/* SHA-256 of data in lower-case hex (hex has SIGV4_HEX_LEN + 1 bytes). */
int sigv4_sha256_hex(const void *data, size_t len, char *hex);
/* HMAC-SHA256 (mac has 32 bytes). */
int sigv4_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
		      unsigned char *mac);
/* "20130524T000000Z" for t (date has SIGV4_DATE_LEN + 1 bytes). */
void sigv4_amz_date(time_t t, char *date);

#endif
