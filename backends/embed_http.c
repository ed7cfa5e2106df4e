/* backends/embed_http.c - the "http" embedder: OpenAI-compatible
 * /v1/embeddings over libcurl (see embed_http.h for the contract).
 */
#include "embed_http.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "../store/buf.h"
#include "../store/log.h"

#ifndef RAGFS_VERSION
#define RAGFS_VERSION "dev"
#endif

#define MAX_DIM 65536
#define MAX_BATCH 2048        /* OpenAI's limit of inputs per request */
#define MAX_SLOTS 64
#define MAX_RETRIES 100
#define BACKOFF_CAP_MS 30000
#define RETRY_AFTER_CAP_MS 60000
#define CONNECT_CAP_S 10      /* a black-holed host fails fast */
#define WHY_LEN 256
#define PROBE_TEXT "ragfs dimension probe"

/* Kinds of failure, for "log the first one loudly" (bits of logged). */
enum {
	K_UNAVAILABLE = 1 << 0, /* transient, retries exhausted */
	K_AUTH = 1 << 1,
	K_BAD_REQUEST = 1 << 2,
	K_BAD_REPLY = 1 << 3,
	K_WRONG_DIM = 1 << 4,
	K_LOCAL = 1 << 5,       /* out of memory, curl setup */
};

/* One request slot: an easy handle (keeps its connection) and its reply. */
struct slot {
	CURL *h;
	struct buf resp;
	int werr;      /* error of the write callback (reply too big, ENOMEM) */
	int busy;
	char errbuf[CURL_ERROR_SIZE];
};

struct http_embedder {
	struct embedder base; /* first: the store sees only this */
	char *url;            /* full endpoint URL */
	char *url_log;        /* the URL without userinfo and query, for messages */
	char *model;
	char *key_hdr;        /* "Authorization: Bearer ..." or NULL; wiped on free */
	struct curl_slist *hdrs;
	unsigned batch, nslots, timeout_s, retries, backoff_ms;

	pthread_mutex_t lock; /* guards slots[].busy */
	pthread_cond_t cond;  /* a slot was released */
	struct slot *slots;

	int logged;           /* K_* bits already logged loudly (atomic) */
	int quiet;            /* during the constructor's probe: debug logs only */
	uint64_t n_requests, n_retries, n_failures, n_inputs; /* atomic */
};

/* The outcome of one attempt. */
struct attempt {
	int rc;          /* 0 or negative errno */
	int retry;       /* transient: worth another attempt */
	int kind;        /* K_* for logging when rc != 0 */
	long retry_after_ms;
};

static struct http_embedder *to_http(struct embedder *e)
{
	return (struct http_embedder *)e;
}

static void stat_add(uint64_t *c, uint64_t v)
{
	__atomic_add_fetch(c, v, __ATOMIC_RELAXED);
}

static void fmt_why(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fmt_why(char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, WHY_LEN, fmt, ap);
	va_end(ap);
}

/* Log the first failure of a kind at lvl, repeats only at debug level:
 * a down server must not flood the log while the store retries. */
static void note_failure(struct http_embedder *he, int kind, enum log_level lvl,
			 const char *why)
{
	int old = he->quiet ? 0 : __atomic_fetch_or(&he->logged, kind, __ATOMIC_RELAXED);

	if (!(old & kind) && !he->quiet)
		log_msg(lvl, "embedder http: %s: %s", he->url_log, why);
	else
		LOG_DBG("embedder http: %s: %s", he->url_log, why);
}

/* ---- JSON request encoding ---- */

/* Length of the valid UTF-8 sequence at p[0..n), or 0 when invalid
 * (overlong forms, surrogates and code points past U+10FFFF are invalid). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* Append p[0..n) as a JSON string. Any bytes: servers parse the body as
 * UTF-8 JSON, so invalid sequences become U+FFFD (one per byte). */
static int json_add_str(struct buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;
	int rc = buf_addc(b, '"');

	while (!rc && i < n) {
		unsigned char c = p[i];
		size_t l = 1;
		char esc[8];

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
			run++;
			continue;
		}
		if (c >= 0x80 && (l = utf8_len(p + i, n - i))) {
			i += l;
			run += l;
			continue;
		}
		/* Flush the plain run before the escape. */
		rc = buf_add(b, p + i - run, run);
		run = 0;
		if (rc)
			break;
		if (c == '"' || c == '\\')
			esc[0] = '\\', esc[1] = (char)c, esc[2] = 0;
		else if (c == '\n')
			strcpy(esc, "\\n");
		else if (c == '\t')
			strcpy(esc, "\\t");
		else if (c == '\r')
			strcpy(esc, "\\r");
		else if (c < 0x20)
			snprintf(esc, sizeof(esc), "\\u%04x", c);
		else
			strcpy(esc, "\\ufffd");
		rc = buf_adds(b, esc);
		i++;
	}
	if (!rc)
		rc = buf_add(b, p + i - run, run);
	return rc ? rc : buf_addc(b, '"');
}

static int build_body(struct http_embedder *he, const char *const *texts, const size_t *lens,
		      size_t n, struct buf *b)
{
	int rc = buf_adds(b, "{\"model\":");

	if (!rc)
		rc = json_add_str(b, he->model, strlen(he->model));
	if (!rc)
		rc = buf_adds(b, ",\"input\":[");
	for (size_t i = 0; i < n && !rc; i++) {
		if (i)
			rc = buf_addc(b, ',');
		if (!rc)
			rc = json_add_str(b, texts[i], lens[i]);
	}
	return rc ? rc : buf_adds(b, "]}");
}

/* ---- reply decoding ---- */

/* Fill out[n * dim] from a 2xx reply. When he->base.dim is 0 (the probe in
 * the constructor, single-threaded) the first vector sets it. */
static int parse_reply(struct http_embedder *he, const char *p, size_t len, size_t n,
		       float *out, char *why, int *kind)
{
	cJSON *root = cJSON_ParseWithLength(p, len);
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
	char *seen = calloc(n ? n : 1, 1);
	size_t pos = 0;
	int rc = 0;
	const cJSON *item;

	*kind = K_BAD_REPLY;
	if (!seen) {
		*kind = K_LOCAL;
		fmt_why(why, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	if (!cJSON_IsArray(data)) {
		const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");

		fmt_why(why, "reply is not an embeddings list%s", err ? " (it holds an error)" : "");
		rc = -EIO;
		goto out;
	}
	if ((size_t)cJSON_GetArraySize(data) != n) {
		fmt_why(why, "reply holds %d vectors for %zu inputs", cJSON_GetArraySize(data), n);
		rc = -EIO;
		goto out;
	}
	cJSON_ArrayForEach(item, data) {
		const cJSON *idx = cJSON_GetObjectItemCaseSensitive(item, "index");
		const cJSON *emb = cJSON_GetObjectItemCaseSensitive(item, "embedding");
		size_t at = pos++, d = 0;
		const cJSON *v;
		int got;

		/* "index" orders the rows; a server that omits it keeps order. */
		if (idx) {
			double x = cJSON_IsNumber(idx) ? idx->valuedouble : -1;

			if (!(x >= 0 && x < (double)n && x == floor(x))) {
				fmt_why(why, "reply has a bad \"index\"");
				rc = -EIO;
				goto out;
			}
			at = (size_t)x;
		}
		if (seen[at]) {
			fmt_why(why, "reply repeats index %zu", at);
			rc = -EIO;
			goto out;
		}
		seen[at] = 1;
		if (!cJSON_IsArray(emb)) {
			fmt_why(why, "reply \"embedding\" is not a list of floats");
			rc = -EIO;
			goto out;
		}
		got = cJSON_GetArraySize(emb);
		if (!he->base.dim && got >= 1 && got <= MAX_DIM)
			he->base.dim = (uint32_t)got;
		if ((uint32_t)got != he->base.dim) {
			*kind = K_WRONG_DIM;
			if (he->base.dim)
				fmt_why(why, "model \"%s\" returned %d-dimensional vectors, "
					"the store expects %u", he->model, got, he->base.dim);
			else
				fmt_why(why, "model \"%s\" returned %d-dimensional vectors "
					"(want 1..%d)", he->model, got, MAX_DIM);
			rc = -EINVAL;
			goto out;
		}
		cJSON_ArrayForEach(v, emb) {
			double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;

			/* A float that overflows would be Inf in the index. */
			if (!isfinite(x) || fabs(x) > FLT_MAX) {
				fmt_why(why, "reply vector %zu holds a non-finite or out-of-range value", at);
				rc = -EIO;
				goto out;
			}
			out[at * he->base.dim + d++] = (float)x;
		}
	}
out:
	free(seen);
	cJSON_Delete(root);
	return rc;
}

/* ---- slots (the concurrency limit) ---- */

static struct slot *slot_get(struct http_embedder *he)
{
	struct slot *s = NULL;

	pthread_mutex_lock(&he->lock);
	while (!s) {
		for (unsigned i = 0; i < he->nslots && !s; i++)
			if (!he->slots[i].busy)
				s = &he->slots[i];
		if (!s)
			pthread_cond_wait(&he->cond, &he->lock);
	}
	s->busy = 1;
	pthread_mutex_unlock(&he->lock);
	return s;
}

static void slot_put(struct http_embedder *he, struct slot *s)
{
	pthread_mutex_lock(&he->lock);
	s->busy = 0;
	pthread_cond_signal(&he->cond);
	pthread_mutex_unlock(&he->lock);
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct slot *s = arg;
	int rc = buf_add(&s->resp, p, size * nmemb);

	if (rc) {
		s->werr = rc;
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	}
	return size * nmemb;
}

/* ---- one attempt ---- */

/* A short printable excerpt of an error reply (servers say "model not
 * found" there); withheld if it echoes the key. */
static void reply_excerpt(struct http_embedder *he, const struct buf *r, char *out, size_t len)
{
	size_t j = 0;

	for (size_t i = 0; i < r->len && j + 1 < len; i++) {
		unsigned char c = (unsigned char)r->data[i];

		out[j++] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
	}
	out[j] = 0;
	if (he->key_hdr && r->len &&
	    memmem(r->data, r->len, he->key_hdr + 22, strlen(he->key_hdr + 22)))
		snprintf(out, len, "(reply withheld)");
}

static void classify_curl(CURLcode cc, const char *detail, char *why, struct attempt *a)
{
	a->retry = 1;
	a->kind = K_UNAVAILABLE;
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		a->rc = -ETIMEDOUT;
		break;
	case CURLE_COULDNT_CONNECT:
		a->rc = -ECONNREFUSED;
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		a->rc = -EHOSTUNREACH;
		break;
	case CURLE_OUT_OF_MEMORY:
		a->rc = -ENOMEM;
		a->retry = 0;
		a->kind = K_LOCAL;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
#if LIBCURL_VERSION_NUM < 0x073e00
	case CURLE_SSL_CACERT:
#endif
	case CURLE_SSL_CACERT_BADFILE:
		a->rc = -EACCES;
		a->retry = 0;
		a->kind = K_AUTH;
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		a->rc = -EINVAL;
		a->retry = 0;
		a->kind = K_BAD_REQUEST;
		break;
	default: /* resets, cut replies, empty replies, TLS hiccups */
		a->rc = -EIO;
		break;
	}
	fmt_why(why, "%s", detail[0] ? detail : curl_easy_strerror(cc));
}

static void classify_status(struct http_embedder *he, struct slot *s, long status, char *why,
			    struct attempt *a)
{
	char ex[161];
	curl_off_t ra = -1;

	a->retry = 0;
	a->kind = K_BAD_REQUEST;
	if (status == 429 || status == 408 || status >= 500) {
		a->retry = 1;
		a->kind = K_UNAVAILABLE;
		a->rc = status == 408 ? -ETIMEDOUT : -EIO;
		/* curl parses both forms (seconds, HTTP date) into seconds. */
		if ((status == 429 || status == 503) &&
		    curl_easy_getinfo(s->h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
			a->retry_after_ms = ra > RETRY_AFTER_CAP_MS / 1000 ? RETRY_AFTER_CAP_MS
									   : (long)ra * 1000;
		fmt_why(why, "HTTP %ld", status);
		return;
	}
	if (status == 401 || status == 403) {
		a->rc = -EACCES;
		a->kind = K_AUTH;
		fmt_why(why, "HTTP %ld: the API key was refused%s", status,
			he->key_hdr ? "" : " (no key set: OPENAI_API_KEY or RAGFS_EMBED_KEY)");
		return;
	}
	a->rc = -EINVAL;
	reply_excerpt(he, &s->resp, ex, sizeof(ex));
	fmt_why(why, "HTTP %ld (model \"%s\"): %s", status, he->model, ex);
}

/* Send body on slot s once; on 2xx decode n vectors into out. */
static void attempt_once(struct http_embedder *he, struct slot *s, const struct buf *body,
			 size_t n, float *out, char *why, struct attempt *a)
{
	long status = 0;
	CURLcode cc;

	memset(a, 0, sizeof(*a));
	buf_reset(&s->resp);
	/* Cap the reply: ~48 bytes per float is generous for JSON. */
	s->resp.max = ((size_t)1 << 20) + n * (he->base.dim ? he->base.dim : MAX_DIM) * 48;
	s->werr = 0;
	s->errbuf[0] = 0;
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, body->data);
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
	stat_add(&he->n_requests, 1);
	cc = curl_easy_perform(s->h);
	if (cc == CURLE_WRITE_ERROR && s->werr) {
		a->rc = s->werr == -EFBIG ? -EIO : s->werr;
		a->kind = s->werr == -EFBIG ? K_BAD_REPLY : K_LOCAL;
		fmt_why(why, "%s", s->werr == -EFBIG ? "reply too large" : "out of memory");
		return;
	}
	if (cc != CURLE_OK) {
		classify_curl(cc, s->errbuf, why, a);
		return;
	}
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300) {
		a->rc = parse_reply(he, s->resp.data ? s->resp.data : "", s->resp.len, n, out, why,
				    &a->kind);
		return;
	}
	classify_status(he, s, status, why, a);
}

/* ---- backoff ---- */

static uint64_t rnd(void)
{
	static __thread uint64_t x;

	if (!x) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uintptr_t)&x;
		x |= 1;
	}
	/* xorshift64*: only jitter, no need for quality. */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	return x * 0x2545f4914f6cdd1dULL;
}

static void sleep_ms(long ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
		;
}

/* Full jitter: uniform in [0, base * 2^(retry-1)], capped. */
static long backoff_ms(const struct http_embedder *he, unsigned retry, long retry_after_ms)
{
	unsigned shift = retry > 20 ? 20 : retry - 1;
	uint64_t cap = (uint64_t)he->backoff_ms << shift;
	long ms;

	if (cap > BACKOFF_CAP_MS)
		cap = BACKOFF_CAP_MS;
	ms = (long)(rnd() % (cap + 1));
	return retry_after_ms > ms ? retry_after_ms : ms;
}

/* ---- a batch ---- */

static int embed_batch(struct http_embedder *he, const char *const *texts, const size_t *lens,
		       size_t n, float *out, char *why)
{
	struct buf body = BUF_INIT;
	struct attempt a = { 0 };
	struct slot *s;
	int rc = build_body(he, texts, lens, n, &body);

	if (rc) {
		fmt_why(why, "out of memory");
		note_failure(he, K_LOCAL, LOG_LVL_ERR, why);
		return rc;
	}
	for (unsigned try = 0;; try++) {
		/* The slot is held only during the request, not while waiting. */
		s = slot_get(he);
		attempt_once(he, s, &body, n, out, why, &a);
		slot_put(he, s);
		if (!a.rc || !a.retry || try >= he->retries)
			break;
		long ms = backoff_ms(he, try + 1, a.retry_after_ms);

		LOG_DBG("embedder http: %s: %s; retry %u/%u in %ld ms", he->url_log, why, try + 1,
			he->retries, ms);
		stat_add(&he->n_retries, 1);
		sleep_ms(ms);
	}
	buf_release(&body);
	if (!a.rc) {
		/* A recovered server gets its next outage logged again. */
		__atomic_fetch_and(&he->logged, ~K_UNAVAILABLE, __ATOMIC_RELAXED);
		return 0;
	}
	if (a.retry) {
		char tmp[WHY_LEN];

		snprintf(tmp, sizeof(tmp), "%s (after %u retr%s)", why, he->retries,
			 he->retries == 1 ? "y" : "ies");
		memcpy(why, tmp, WHY_LEN);
	}
	note_failure(he, a.kind, a.kind == K_UNAVAILABLE ? LOG_LVL_WARN : LOG_LVL_ERR, why);
	return a.rc;
}

static int http_embed(struct embedder *e, const char *const *texts, const size_t *lens,
		      size_t n, float *out)
{
	struct http_embedder *he = to_http(e);
	char why[WHY_LEN];

	for (size_t i = 0; i < n; i += he->batch) {
		size_t k = n - i < he->batch ? n - i : he->batch;
		int rc = embed_batch(he, texts + i, lens + i, k, out + i * e->dim, why);

		if (rc) {
			stat_add(&he->n_failures, 1);
			return rc;
		}
	}
	stat_add(&he->n_inputs, n);
	return 0;
}

static void http_free(struct embedder *e)
{
	struct http_embedder *he = to_http(e);

	if (!he)
		return;
	for (unsigned i = 0; he->slots && i < he->nslots; i++) {
		if (he->slots[i].h)
			curl_easy_cleanup(he->slots[i].h);
		buf_release(&he->slots[i].resp);
	}
	free(he->slots);
	/* The slist holds a copy of the key: wipe it before freeing. */
	for (struct curl_slist *l = he->hdrs; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(he->hdrs);
	if (he->key_hdr) {
		explicit_bzero(he->key_hdr, strlen(he->key_hdr));
		free(he->key_hdr);
	}
	pthread_cond_destroy(&he->cond);
	pthread_mutex_destroy(&he->lock);
	free(he->url);
	free(he->url_log);
	free(he->model);
	free(he);
}

static const struct embedder_ops http_ops = { http_embed, http_free };

/* ---- construction ---- */

void embed_http_config_init(struct embed_http_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->batch_size = 64;
	cfg->max_concurrent = 4;
	cfg->timeout_s = 30;
	cfg->max_retries = 5;
	cfg->backoff_ms = 200;
}

static int ends_with(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);

	return n >= k && !memcmp(s + n - k, suf, k);
}

/* The endpoint rule of embed_http.h; NULL on ENOMEM. */
static char *endpoint_url(const char *url)
{
	const char *q = strchr(url, '?');
	size_t path_end = q ? (size_t)(q - url) : strlen(url);
	const char *add = "/v1/embeddings";
	struct buf b = BUF_INIT;

	while (path_end > 0 && url[path_end - 1] == '/')
		path_end--;
	if (ends_with(url, path_end, "/embeddings"))
		add = "";
	else if (ends_with(url, path_end, "/v1"))
		add = "/embeddings";
	if (buf_add(&b, url, path_end) || buf_adds(&b, add) || buf_adds(&b, q ? q : "")) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/* scheme://host[:port]/path: no "user:pass@", no query (they may hold secrets). */
static char *loggable_url(const char *url)
{
	const char *host = strstr(url, "://") + 3;
	size_t hl = strcspn(host, "/?");
	const char *at = memchr(host, '@', hl);
	const char *rest = host + hl;
	struct buf b = BUF_INIT;

	if (at)
		host = at + 1;
	if (buf_add(&b, url, (size_t)(strstr(url, "://") + 3 - url)) ||
	    buf_add(&b, host, (size_t)(rest - host)) || buf_add(&b, rest, strcspn(rest, "?"))) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

static int setup_slot(struct http_embedder *he, struct slot *s)
{
	long t = (long)he->timeout_s * 1000;
	long ct = he->timeout_s < CONNECT_CAP_S ? t : CONNECT_CAP_S * 1000L;
	CURL *h = curl_easy_init();

	if (!h)
		return -ENOMEM;
	s->h = h;
	if (curl_easy_setopt(h, CURLOPT_URL, he->url) ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, he->hdrs) ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, "ragfs/" RAGFS_VERSION) ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, t) ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ct) ||
	    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) ||
	    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "") ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write) ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, s) ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf))
		return -ENOMEM;
	return 0;
}

static int new_fail(struct http_embedder *he, int rc, char *err, size_t errlen,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int new_fail(struct http_embedder *he, int rc, char *err, size_t errlen,
		    const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	http_free(&he->base);
	return rc;
}

static const char *pick_key(const char *key)
{
	if (!key)
		key = getenv("OPENAI_API_KEY");
	if (!key || !*key)
		key = getenv("RAGFS_EMBED_KEY");
	return key && *key ? key : NULL;
}

int embed_http_new(const struct embed_http_config *cfg, struct embedder **out, char *err,
		   size_t errlen)
{
	struct http_embedder *he = calloc(1, sizeof(*he));
	const char *key = pick_key(cfg->api_key);
	struct curl_slist *l;
	int rc;

	*out = NULL;
	if (!he)
		return -ENOMEM;
	pthread_mutex_init(&he->lock, NULL);
	pthread_cond_init(&he->cond, NULL);
	he->base.ops = &http_ops;
	he->base.name = "http";
	he->base.remote = 1;
	he->base.dim = cfg->dim;
	he->batch = cfg->batch_size ? cfg->batch_size : 64;
	he->nslots = cfg->max_concurrent ? cfg->max_concurrent : 4;
	he->timeout_s = cfg->timeout_s ? cfg->timeout_s : 30;
	he->retries = cfg->max_retries;
	he->backoff_ms = cfg->backoff_ms;
	if (cfg->api_key && !*cfg->api_key)
		key = NULL; /* "" = explicitly no key */

	if (!cfg->url || (strncmp(cfg->url, "http://", 7) && strncmp(cfg->url, "https://", 8)))
		return new_fail(he, -EINVAL, err, errlen,
				"embedder http: embed_url must start with http:// or https://");
	if (!cfg->model || !*cfg->model)
		return new_fail(he, -EINVAL, err, errlen, "embedder http: embed_model is required");
	if (cfg->dim > MAX_DIM || he->batch > MAX_BATCH || he->nslots > MAX_SLOTS ||
	    he->retries > MAX_RETRIES || he->backoff_ms > BACKOFF_CAP_MS)
		return new_fail(he, -EINVAL, err, errlen,
				"embedder http: a setting is out of range (dim <= %d, batch <= %d, "
				"concurrency <= %d, retries <= %d, backoff <= %d ms)", MAX_DIM,
				MAX_BATCH, MAX_SLOTS, MAX_RETRIES, BACKOFF_CAP_MS);
	if (key && strpbrk(key, "\r\n"))
		return new_fail(he, -EINVAL, err, errlen,
				"embedder http: the API key contains a line break");
	he->url = endpoint_url(cfg->url);
	he->url_log = he->url ? loggable_url(he->url) : NULL;
	he->model = strdup(cfg->model);
	he->slots = calloc(he->nslots, sizeof(*he->slots));
	if (!he->url || !he->url_log || !he->model || !he->slots)
		return new_fail(he, -ENOMEM, err, errlen, "embedder http: out of memory");
	if (key) {
		size_t kl = strlen(key);

		he->key_hdr = malloc(kl + 23);
		if (!he->key_hdr)
			return new_fail(he, -ENOMEM, err, errlen, "embedder http: out of memory");
		memcpy(he->key_hdr, "Authorization: Bearer ", 22);
		memcpy(he->key_hdr + 22, key, kl + 1);
	}
	/* "Expect:" off: no 100-continue round trip for big batches. */
	const char *hdrs[] = { "Content-Type: application/json", "Accept: application/json",
			       "Expect:", he->key_hdr };
	for (size_t i = 0; i < 4; i++) {
		if (!hdrs[i])
			continue;
		l = curl_slist_append(he->hdrs, hdrs[i]);
		if (!l)
			return new_fail(he, -ENOMEM, err, errlen, "embedder http: out of memory");
		he->hdrs = l;
	}
	for (unsigned i = 0; i < he->nslots; i++)
		if (setup_slot(he, &he->slots[i]))
			return new_fail(he, -ENOMEM, err, errlen,
					"embedder http: cannot set up libcurl");
	if (!he->base.dim) {
		const char *t = PROBE_TEXT;
		size_t tl = strlen(t);
		char why[WHY_LEN];
		float *v = malloc(MAX_DIM * sizeof(*v));

		if (!v)
			return new_fail(he, -ENOMEM, err, errlen, "embedder http: out of memory");
		/* The caller reports a failed probe (err): no log line of ours. */
		he->quiet = 1;
		rc = embed_batch(he, &t, &tl, 1, v, why);
		he->quiet = 0;
		free(v);
		if (rc)
			return new_fail(he, rc, err, errlen, "embedder http: %s: %s", he->url_log,
					why);
		LOG_DBG("embedder http: %s: model \"%s\" gives %u dimensions", he->url_log,
			he->model, he->base.dim);
	}
	*out = &he->base;
	return 0;
}

void embed_http_stats(struct embedder *e, struct embed_http_stats *out)
{
	struct http_embedder *he = to_http(e);

	out->requests = __atomic_load_n(&he->n_requests, __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&he->n_retries, __ATOMIC_RELAXED);
	out->failures = __atomic_load_n(&he->n_failures, __ATOMIC_RELAXED);
	out->inputs = __atomic_load_n(&he->n_inputs, __ATOMIC_RELAXED);
}
