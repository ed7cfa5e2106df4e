/* backends/s3.h - the S3 / R2 backend: store/backend.h over libcurl, signed
 * with the project's own SigV4 (backends/sigv4.h).
 *
 * Keys live under cfg->prefix ("prefix/key"); list strips it again.
 * Errors are mapped to errno once, in s3.c: 404/NoSuchKey -> -ENOENT,
 * 412 -> -ECANCELED, 403 -> -EACCES, 416 -> -ERANGE, 400 -> -EINVAL,
 * 5xx / SlowDown / resets / cut bodies after the retries -> -EIO, timeouts
 * -> -ETIMEDOUT, unreachable endpoint -> -EHOSTUNREACH.
 *
 * libcurl: the caller must call curl_global_init(CURL_GLOBAL_DEFAULT) once
 * before the first s3_* call, while the process has one thread, and
 * curl_global_cleanup() after the last backend is closed. Each backend keeps
 * a locked pool of easy handles, so connections are reused across calls and
 * threads; handles use CURLOPT_NOSIGNAL (safe in a threaded FUSE daemon).
 *
 * Ownership: s3_backend_open copies *cfg (the caller may wipe it); the
 * backend wipes its copy of the secrets on close. Thread-safety: every
 * method of the backend is callable from several threads at once; the
 * s3_config_* helpers are reentrant but read the environment.
 * Secrets (secret key, session token) never appear in err strings; this
 * backend logs nothing.
 */
#ifndef BACKENDS_S3_H
#define BACKENDS_S3_H

#include <stddef.h>
#include <stdint.h>

#include "backends.h"

enum s3_addressing {
	S3_ADDR_AUTO = 0, /* virtual-host for *.amazonaws.com when the bucket allows, else path */
	S3_ADDR_PATH,     /* https://endpoint/bucket/key */
	S3_ADDR_VHOST,    /* https://bucket.endpoint/key */
};

struct s3_config {
	char bucket[256];
	char prefix[1024];      /* without leading/trailing '/'; "" for the whole bucket */
	char endpoint[512];     /* "scheme://host[:port]"; TLS is verified for https */
	char region[64];        /* signing region: "us-east-1", "auto" for R2 */
	enum s3_addressing addressing;
	char access_key[256];   /* empty: resolved at open (env, then ~/.aws/credentials) */
	char secret_key[256];
	char session_token[4096];
	char profile[128];      /* ~/.aws/credentials section; "" = $AWS_PROFILE or default */
	int verify_tls;         /* 1: verify certificate and host name (default) */
	long connect_timeout_ms;/* default 5000 */
	long io_timeout_ms;     /* no byte moved for this long -> timeout; default 30000 */
	int max_retries;        /* retries after the first attempt; default 5 */
	long retry_base_ms;     /* backoff base (doubles per retry, full jitter); default 100 */
	size_t multipart_threshold; /* puts larger than this use multipart; default 16 MiB */
	size_t part_size;       /* default 8 MiB (S3 minimum 5 MiB) */
	int upload_threads;     /* parts in flight per put; default 4 */
	int list_max_keys;      /* max-keys per ListObjectsV2 page; 0 = server default (1000) */
};

/* Defaults for everything; strings empty. */
void s3_config_init(struct s3_config *cfg);

/* Fill cfg from a parsed s3:// or r2:// STORE plus mount options (each may
 * be NULL or ""): s3:// uses endpoint, else $AWS_ENDPOINT_URL_S3 or
 * $AWS_ENDPOINT_URL, else https://s3.<region>.amazonaws.com; region, else
 * $AWS_REGION / $AWS_DEFAULT_REGION, else us-east-1. r2:// uses
 * https://<account>.r2.cloudflarestorage.com with the account from the
 * option or $R2_ACCOUNT_ID (unless an endpoint is given), region "auto".
 * Credentials are not read here (see s3_backend_open). Returns 0 or -EINVAL
 * with a one-line reason in err. */
int s3_config_from_uri(const struct store_uri *u, const char *endpoint, const char *region,
		       const char *account, const char *profile, struct s3_config *cfg,
		       char *err, size_t errlen);

/* When cfg->access_key is empty: with cfg->profile set, that profile of
 * ~/.aws/credentials (or $AWS_SHARED_CREDENTIALS_FILE); else
 * $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY / $AWS_SESSION_TOKEN; else
 * the $AWS_PROFILE (or "default") profile. -ENOKEY with err when none. */
int s3_config_load_credentials(struct s3_config *cfg, char *err, size_t errlen);

/* Open the backend and check that the bucket answers (a one-key list under
 * the prefix). On failure *out is NULL and err holds one line naming the
 * cause: unreachable endpoint (-EHOSTUNREACH / -ETIMEDOUT), bad credentials
 * (-EACCES), unknown bucket (-ENOENT), wrong region (-EINVAL), ...
 * Caps: RANGE_GET | COND_PUT | DURABLE. */
int s3_backend_open(const struct s3_config *cfg, struct backend **out, char *err,
		    size_t errlen);

/* Delete up to any number of keys (relative to the prefix) with
 * multi-object Delete, 1000 per request. Missing keys are not errors. */
int s3_backend_del_many(struct backend *be, const char *const *keys, size_t n);

/* Create / delete cfg->bucket (tests, tooling). Creating a bucket the
 * caller already owns is 0. */
int s3_bucket_create(const struct s3_config *cfg, char *err, size_t errlen);
int s3_bucket_delete(const struct s3_config *cfg, char *err, size_t errlen);

/* HTTP-level counters of one backend (monotonic, relaxed atomics). */
struct s3_counters {
	uint64_t requests;   /* HTTP attempts, retries included */
	uint64_t retries;
	uint64_t list_pages;
	uint64_t multipart_uploads;
	uint64_t parts;
};
void s3_backend_counters(struct backend *be, struct s3_counters *c);

#endif
