/* backends/embed_http.h - the "http" embedder (SPEC §3): any OpenAI-compatible
 * /v1/embeddings endpoint (OpenAI, Ollama, llama.cpp server, vLLM, TEI).
 *
 * Requests are POST {"model": M, "input": [texts...]} with at most
 * batch_size texts each; replies {"data": [{"embedding": [...], "index": i}]}
 * are put back in index order and checked: one vector per input, each of
 * e->dim finite floats. Texts are arbitrary bytes: they are sent as valid
 * JSON strings (control bytes and NUL escaped, each byte of an invalid UTF-8
 * sequence replaced by U+FFFD), so a text that is not UTF-8 gets the vector
 * of its repaired form.
 *
 * Errors are mapped to errno once, here (after the retries):
 *   429, 5xx, resets, cut replies             -> retried; then -EIO
 *   timeouts, 408                             -> retried; then -ETIMEDOUT
 *   connection refused                        -> retried; then -ECONNREFUSED
 *   host not found                            -> retried; then -EHOSTUNREACH
 *   401, 403, TLS verification failure        -> -EACCES (not retried)
 *   other 3xx/4xx (bad model, bad request)    -> -EINVAL (not retried)
 *   a vector of the wrong dimension           -> -EINVAL (not retried)
 *   a 2xx reply that is not the expected JSON,
 *   or holds NaN/Inf/out-of-float-range values -> -EIO (not retried)
 * Retries wait base << attempt ms with full jitter (a uniform random time
 * in [0, that]), capped at 30 s; a Retry-After header (seconds or HTTP
 * date, on 429 or 503) is honoured instead when it is longer, capped at 60 s.
 * The first failure of each kind is logged at LOG_ERR/LOG_WARN, repeats
 * at LOG_DBG; the API key is never logged nor put in err strings.
 *
 * libcurl: the caller calls curl_global_init(CURL_GLOBAL_DEFAULT) once while
 * the process has one thread (as for the S3 backend, backends/s3.h), and
 * curl_global_cleanup() after the last embedder is freed.
 *
 * Thread-safety: embed may be called from several threads at once; at most
 * max_concurrent requests are in flight per embedder (the other callers
 * wait). Each slot owns one curl easy handle, so connections are reused;
 * handles use CURLOPT_NOSIGNAL. A call's batches are sent one after the
 * other. embed_http_stats may run at any time; free must not race embed.
 */
#ifndef BACKENDS_EMBED_HTTP_H
#define BACKENDS_EMBED_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "../store/embed.h"

struct embed_http_config {
	/* Endpoint URL, http:// or https://. Rule: trailing '/' are dropped;
	 * a path ending in "/embeddings" is used as is; one ending in "/v1"
	 * gets "/embeddings"; any other gets "/v1/embeddings" (so
	 * "http://127.0.0.1:11434" and "https://api.openai.com/v1" both work).
	 * A "?query" is kept after the path. */
	const char *url;
	const char *model;     /* sent as "model"; must be non-empty */
	/* Bearer token; NULL: $OPENAI_API_KEY, else $RAGFS_EMBED_KEY, else
	 * none. "" means none (local servers). */
	const char *api_key;
	uint32_t dim;          /* 1..65536; 0: learn it from a probe request */
	unsigned batch_size;   /* inputs per request, 1..2048; default 64 */
	unsigned max_concurrent; /* requests in flight, 1..64; default 4 */
	unsigned timeout_s;    /* per attempt (connect + transfer); default 30 */
	unsigned max_retries;  /* retries after the first attempt; default 5 */
	unsigned backoff_ms;   /* backoff base; default 200; 0: retry at once */
};

/* Defaults for everything; url, model and api_key NULL. */
void embed_http_config_init(struct embed_http_config *cfg);

/* Create the embedder (e->name "http", e->remote 1). The strings of cfg
 * are copied (the caller may free them after). With cfg->dim set nothing
 * is sent; with dim 0 one probe text is embedded to learn the dimension,
 * and an unreachable or refusing server fails the call. On failure *out is
 * NULL, the return is a negative errno and err holds one line (no key). */
int embed_http_new(const struct embed_http_config *cfg, struct embedder **out, char *err,
		   size_t errlen);

/* Monotonic counters of one embedder (relaxed atomics, for stats.json). */
struct embed_http_stats {
	uint64_t requests; /* HTTP attempts, retries included */
	uint64_t retries;  /* attempts after a failed one */
	uint64_t failures; /* embed calls that returned an error */
	uint64_t inputs;   /* texts embedded successfully */
};

/* e must come from embed_http_new. */
void embed_http_stats(struct embedder *e, struct embed_http_stats *out);

#endif
