/* backends/s3.c - the S3 / R2 backend (see s3.h and store/backend.h).
 *
 * Every call is one or more HTTP requests made by s3_do(): it signs the
 * request (sigv4.c), sends it on a pooled curl easy handle (so keep-alive
 * connections are reused), and retries with exponential backoff and full
 * jitter on 5xx, 429/SlowDown, timeouts, resets and cut bodies. The callers
 * then map the final HTTP status to an errno, once, in map_status().
 *
 * Objects at or below multipart_threshold are one PUT; larger ones (only
 * unconditional puts: the manifest, which is conditional, is small) are a
 * multipart upload whose parts go up on several threads at once.
 */
#include "s3.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "s3_xml.h"
#include "sigv4.h"

#define S3_POOL_MAX 32
#define S3_ERRBODY_MAX (64 * 1024)
#define S3_FULLKEY_MAX (sizeof(((struct s3_config *)0)->prefix) + BACKEND_KEY_MAX + 2)
#define S3_MAX_PARTS 10000
#define S3_DELETE_BATCH 1000
#define S3_BACKOFF_CAP_MS 5000

struct s3_backend {
	struct backend base; /* first: backend_close casts back */
	struct s3_config cfg;
	char scheme[8];      /* "http" or "https" */
	char host[320];      /* endpoint host[:port], default port dropped */
	int vhost;           /* bucket in the host name */
	pthread_mutex_t pool_lock;
	CURL *pool[S3_POOL_MAX];
	int npool;
	/* Learned once: Ceph RGW 16 only matches an unquoted If-Match etag. */
	int ifmatch_unquoted;
	struct s3_counters ctr;
};

static struct s3_backend *to_s3(struct backend *be)
{
	return (struct s3_backend *)be;
}

static void ctr_add(uint64_t *c, uint64_t n)
{
	__atomic_add_fetch(c, n, __ATOMIC_RELAXED);
}

static __attribute__((format(printf, 3, 4))) void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	for (char *p = err; *p; p++) /* one line, always */
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------ keys */

static int check_key(const char *key)
{
	if (!key || !*key || *key == '/')
		return -EINVAL;
	if (strlen(key) > BACKEND_KEY_MAX)
		return -EINVAL;
	const char *p = key;
	for (;;) {
		const char *e = strchrnul(p, '/');
		size_t c = (size_t)(e - p);
		if (c == 0 || (c == 1 && p[0] == '.') || (c == 2 && p[0] == '.' && p[1] == '.'))
			return -EINVAL;
		if (!*e)
			return 0;
		p = e + 1;
		if (!*p)
			return -EINVAL; /* trailing '/' */
	}
}

/* prefix + "/" + key into full (S3_FULLKEY_MAX bytes). */
static void full_key(const struct s3_backend *s, const char *key, char *full)
{
	if (s->cfg.prefix[0])
		snprintf(full, S3_FULLKEY_MAX, "%s/%s", s->cfg.prefix, key);
	else
		snprintf(full, S3_FULLKEY_MAX, "%s", key);
}

/* ------------------------------------------------------------ curl pool */

static CURL *pool_get(struct s3_backend *s)
{
	CURL *h = NULL;
	pthread_mutex_lock(&s->pool_lock);
	if (s->npool)
		h = s->pool[--s->npool];
	pthread_mutex_unlock(&s->pool_lock);
	return h ? h : curl_easy_init();
}

static void pool_put(struct s3_backend *s, CURL *h)
{
	pthread_mutex_lock(&s->pool_lock);
	if (s->npool < S3_POOL_MAX) {
		s->pool[s->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&s->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

/* ------------------------------------------------------------ one request */

struct s3_req {
	/* in */
	const char *method;
	const char *key;                  /* full object key; NULL: the bucket */
	const struct sigv4_param *query;
	size_t nquery;
	struct sigv4_header hdrs[6];
	size_t nhdrs;
	const void *body;
	size_t body_len;
	const char *payload_hash;         /* NULL: computed from body once */
	struct buf *out;                  /* 2xx body; NULL: discarded */
	int ranged;                       /* a Range header was sent */
	uint64_t range_off, range_len;    /* to cut a 200 reply to a ranged GET */
	int connect_retries;              /* -1: cfg.max_retries */
	/* out */
	long status;
	CURLcode curl_rc;
	char curl_err[CURL_ERROR_SIZE];
	struct buf errbody;               /* non-2xx body (capped) */
	char etag[BACKEND_ETAG_MAX];
	uint64_t content_length, range_total;
	int has_cl, has_range_total;
	int64_t mtime_ns;
	char code[64], msg[256], region[64];
	int ambiguous;                    /* an earlier attempt may have been applied */
	int efbig;
	/* per attempt */
	size_t read_pos, out_before;
	uint64_t seen;
	char hash[SIGV4_HEX_LEN + 1];
};

static void req_release(struct s3_req *r)
{
	buf_release(&r->errbody);
}

static void out_truncate(struct buf *b, size_t len)
{
	if (!b)
		return;
	b->len = len;
	if (b->data)
		b->data[len] = '\0';
}

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* "Fri, 24 May 2013 00:00:00 GMT" -> ns; 0 when unparsable. Own parser:
 * strptime's %b depends on the locale. */
static int64_t parse_http_date(const char *v)
{
	struct tm tm;
	char mon[4] = "";
	memset(&tm, 0, sizeof(tm));
	const char *c = strchr(v, ',');
	if (!c || sscanf(c + 1, " %2d %3s %4d %2d:%2d:%2d", &tm.tm_mday, mon, &tm.tm_year,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_mon = -1;
	for (int i = 0; i < 12; i++)
		if (!strcasecmp(mon, months[i]))
			tm.tm_mon = i;
	if (tm.tm_mon < 0)
		return 0;
	tm.tm_year -= 1900;
	time_t t = timegm(&tm);
	return t == (time_t)-1 ? 0 : (int64_t)t * 1000000000;
}

static void copy_etag(char *dst, const char *v)
{
	size_t n = strlen(v);
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	if (n >= BACKEND_ETAG_MAX)
		n = BACKEND_ETAG_MAX - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *r = ud;
	size_t n = size * nmemb;
	char line[512];

	if (n >= sizeof(line)) /* long headers are none we read */
		return n;
	memcpy(line, p, n);
	line[n] = '\0';
	while (n && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		line[--n] = '\0';
	if (!strncmp(line, "HTTP/", 5)) {
		/* A new response (also after 100 Continue): forget the last one. */
		const char *sp = strchr(line, ' ');
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		r->has_cl = r->has_range_total = 0;
		r->etag[0] = '\0';
		r->mtime_ns = 0;
		return size * nmemb;
	}
	char *colon = strchr(line, ':');
	if (!colon)
		return size * nmemb;
	*colon = '\0';
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (!strcasecmp(line, "etag")) {
		copy_etag(r->etag, v);
	} else if (!strcasecmp(line, "content-length")) {
		r->content_length = strtoull(v, NULL, 10);
		r->has_cl = 1;
	} else if (!strcasecmp(line, "content-range")) {
		const char *slash = strchr(v, '/');
		if (slash && slash[1] != '*') {
			r->range_total = strtoull(slash + 1, NULL, 10);
			r->has_range_total = 1;
		}
	} else if (!strcasecmp(line, "last-modified")) {
		r->mtime_ns = parse_http_date(v);
	} else if (!strcasecmp(line, "x-amz-bucket-region")) {
		snprintf(r->region, sizeof(r->region), "%s", v);
	}
	return size * nmemb;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *r = ud;
	size_t n = size * nmemb;
	uint64_t at = r->seen;

	r->seen += n;
	if (r->status < 200 || r->status >= 300) {
		if (r->errbody.len + n <= S3_ERRBODY_MAX && buf_add(&r->errbody, p, n))
			return 0;
		return n;
	}
	if (!r->out)
		return n;
	if (r->ranged && r->status == 200) {
		/* The server ignored Range: keep only [off, off + len). */
		uint64_t lo = r->range_off, hi = r->range_off + r->range_len;
		if (hi < lo)
			hi = UINT64_MAX;
		uint64_t a = at < lo ? lo : at, b = at + n > hi ? hi : at + n;
		if (a >= b)
			return n;
		p += a - at;
		n = (size_t)(b - a);
	}
	int rc = buf_add(r->out, p, n);
	if (rc) {
		r->efbig = rc == -EFBIG;
		return 0; /* aborts the transfer */
	}
	return size * nmemb;
}

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *r = ud;
	size_t n = size * nmemb, left = r->body_len - r->read_pos;
	if (n > left)
		n = left;
	if (n)
		memcpy(dst, (const char *)r->body + r->read_pos, n);
	r->read_pos += n;
	return n;
}

static int seek_cb(void *ud, curl_off_t off, int origin)
{
	struct s3_req *r = ud;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
		return CURL_SEEKFUNC_FAIL;
	r->read_pos = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static int add_header(struct curl_slist **l, const char *name, const char *value)
{
	char *h;
	if (asprintf(&h, "%s: %s", name, value) < 0)
		return -ENOMEM;
	struct curl_slist *n = curl_slist_append(*l, h);
	OPENSSL_cleanse(h, strlen(h)); /* may be the session token */
	free(h);
	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

static void free_headers(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p; p = p->next)
		OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* One attempt. Returns 0 when an HTTP response came back (any status),
 * else a negative errno with r->curl_rc set. */
static int perform_once(struct s3_backend *s, struct s3_req *r)
{
	const struct s3_config *c = &s->cfg;
	struct buf path = BUF_INIT, url = BUF_INIT;
	struct curl_slist *hl = NULL;
	struct sigv4_out sig = { 0 };
	char host[sizeof(s->host) + 260];
	int rc;

	if (s->vhost)
		snprintf(host, sizeof(host), "%s.%s", c->bucket, s->host);
	else
		snprintf(host, sizeof(host), "%s", s->host);
	/* Decoded path: signed and sent encoded exactly once. */
	if (!s->vhost)
		rc = buf_addf(&path, "/%s%s%s", c->bucket, r->key ? "/" : "", r->key ? r->key : "");
	else
		rc = buf_addf(&path, "/%s", r->key ? r->key : "");
	if (rc)
		goto out;

	struct sigv4_creds cr = { c->access_key, c->secret_key, c->session_token, c->region,
				  "s3" };
	struct sigv4_request sr = {
		.method = r->method, .host = host, .path = path.data, .query = r->query,
		.nquery = r->nquery, .headers = r->hdrs, .nheaders = r->nhdrs,
		.payload_hash = r->hash, .now = time(NULL),
	};
	if ((rc = sigv4_sign(&cr, &sr, &sig, NULL, NULL)))
		goto out;

	if ((rc = buf_addf(&url, "%s://%s", s->scheme, host)) ||
	    (rc = sigv4_uri_encode(&url, path.data, path.len, 1)))
		goto out;
	if (r->nquery && ((rc = buf_addc(&url, '?')) ||
			  (rc = sigv4_canonical_query(&url, r->query, r->nquery))))
		goto out;

	for (size_t i = 0; i < r->nhdrs && !rc; i++)
		rc = add_header(&hl, r->hdrs[i].name, r->hdrs[i].value);
	if (rc || (rc = add_header(&hl, "Host", host)) ||
	    (rc = add_header(&hl, "x-amz-date", sig.amz_date)) ||
	    (rc = add_header(&hl, "x-amz-content-sha256", sig.payload_hash)) ||
	    (c->session_token[0] &&
	     (rc = add_header(&hl, "x-amz-security-token", c->session_token))) ||
	    (rc = add_header(&hl, "Authorization", sig.authorization)))
		goto out;
	/* No 100-continue round trip, no unsigned Accept or Content-Type. */
	int has_ctype = 0;
	for (size_t i = 0; i < r->nhdrs; i++)
		has_ctype |= !strcasecmp(r->hdrs[i].name, "Content-Type");
	struct curl_slist *n;
	if (!(n = curl_slist_append(hl, "Expect:")) || !(hl = n) ||
	    !(n = curl_slist_append(hl, "Accept:")) || !(hl = n) ||
	    (!has_ctype && (!(n = curl_slist_append(hl, "Content-Type:")) || !(hl = n)))) {
		rc = -ENOMEM;
		goto out;
	}

	CURL *h = pool_get(s);
	if (!h) {
		rc = -ENOMEM;
		goto out;
	}
	curl_easy_reset(h); /* keeps the connection cache */
	r->status = 0;
	r->seen = 0;
	r->read_pos = 0;
	r->curl_err[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url.data);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->curl_err);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	/* A stall (no byte for io_timeout_ms) is a timeout; big bodies are not. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (c->io_timeout_ms + 999) / 1000);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->verify_tls ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->verify_tls ? 2L : 0L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect breaks the signature */
	if (!strcmp(r->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "PUT")) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, r);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
	} else if (!strcmp(r->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? r->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	}
	ctr_add(&s->ctr.requests, 1);
	ctr_add(&s->base.stats.http_requests, 1);
	r->curl_rc = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	pool_put(s, h);
	if (r->curl_rc == CURLE_OK && strcmp(r->method, "HEAD") && r->has_cl &&
	    r->seen != r->content_length)
		r->curl_rc = CURLE_PARTIAL_FILE; /* cut body the server did not flag */
	if (r->curl_rc != CURLE_OK) {
		if (!r->curl_err[0])
			snprintf(r->curl_err, sizeof(r->curl_err), "%s",
				 curl_easy_strerror(r->curl_rc));
		rc = r->efbig ? -EFBIG : -EIO;
	}
out:
	free_headers(hl);
	sigv4_out_free(&sig);
	buf_release(&path);
	buf_release(&url);
	return rc;
}

static int curl_connect_failed(CURLcode c)
{
	return c == CURLE_COULDNT_RESOLVE_HOST || c == CURLE_COULDNT_CONNECT ||
	       c == CURLE_COULDNT_RESOLVE_PROXY;
}

static int curl_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static int status_retryable(const struct s3_req *r)
{
	if ((r->status >= 500 && r->status != 501) || r->status == 429)
		return 1; /* 501 NotImplemented will not get better */
	return !strcmp(r->code, "SlowDown") || !strcmp(r->code, "RequestTimeout") ||
	       !strcmp(r->code, "InternalError") ||
	       !strcmp(r->code, "ConditionalRequestConflict");
}

static void backoff(const struct s3_backend *s, int attempt)
{
	static __thread unsigned seed;
	if (!seed)
		seed = (unsigned)now_ns() ^ (unsigned)(uintptr_t)&seed;
	long cap = s->cfg.retry_base_ms;
	for (int i = 0; i < attempt && cap < S3_BACKOFF_CAP_MS; i++)
		cap *= 2;
	if (cap > S3_BACKOFF_CAP_MS)
		cap = S3_BACKOFF_CAP_MS;
	long ms = cap > 0 ? rand_r(&seed) % (cap + 1) : 0; /* full jitter */
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* Send r with retries. 0: r->status holds the final HTTP status (the body
 * of a 2xx is in r->out, the error code of others in r->code); else a
 * transport failure: -ETIMEDOUT, -EHOSTUNREACH, -EFBIG, -ENOMEM or -EIO. */
static int s3_do(struct s3_backend *s, struct s3_req *r)
{
	int rc = 0;
	int max = s->cfg.max_retries, connect_max = r->connect_retries;

	if (connect_max < 0 || connect_max > max)
		connect_max = max;
	if (!r->payload_hash && (rc = sigv4_sha256_hex(r->body, r->body_len, r->hash)))
		return rc;
	if (r->payload_hash)
		snprintf(r->hash, sizeof(r->hash), "%s", r->payload_hash);
	r->out_before = r->out ? r->out->len : 0;
	for (int attempt = 0;; attempt++) {
		out_truncate(r->out, r->out_before);
		buf_reset(&r->errbody);
		r->code[0] = r->msg[0] = '\0';
		r->efbig = 0;
		rc = perform_once(s, r);
		int retry;
		if (rc == -EIO) {
			retry = curl_retryable(r->curl_rc) &&
				attempt < (curl_connect_failed(r->curl_rc) ? connect_max : max);
			/* Sent but unanswered: the server may have applied it. */
			if (!curl_connect_failed(r->curl_rc))
				r->ambiguous = 1;
		} else if (rc) {
			break;
		} else {
			if ((r->status < 200 || r->status >= 300) && r->errbody.len)
				s3_xml_parse_error(r->errbody.data, r->errbody.len, r->code,
						   sizeof(r->code), r->msg, sizeof(r->msg),
						   r->region, sizeof(r->region));
			retry = status_retryable(r) && attempt < max;
			if (retry && r->status != 503 && r->status != 429 &&
			    strcmp(r->code, "SlowDown"))
				r->ambiguous = 1;
		}
		if (!retry)
			break;
		ctr_add(&s->ctr.retries, 1);
		ctr_add(&s->base.stats.retries, 1);
		backoff(s, attempt);
	}
	if (rc)
		out_truncate(r->out, r->out_before);
	if (rc == -EIO) {
		if (r->curl_rc == CURLE_OPERATION_TIMEDOUT)
			rc = -ETIMEDOUT;
		else if (curl_connect_failed(r->curl_rc))
			rc = -EHOSTUNREACH;
	}
	return rc;
}

/* The errno for a final HTTP status. */
static int map_status(const struct s3_req *r)
{
	long st = r->status;
	if (st >= 200 && st < 300)
		return 0;
	if (st == 404)
		return -ENOENT;
	if (st == 412)
		return -ECANCELED;
	if (st == 403 || st == 401)
		return -EACCES;
	if (st == 416)
		return -ERANGE;
	if (st == 501 || st == 405)
		return -EOPNOTSUPP;
	if (st == 400 || st == 411 || st == 413 || st == 301 || st == 307)
		return -EINVAL;
	if (st == 409)
		return -EBUSY;
	return -EIO;
}

static void fill_meta(const struct s3_req *r, struct obj_meta *m)
{
	m->size = r->has_range_total ? r->range_total : r->has_cl ? r->content_length : 0;
	m->mtime_ns = r->mtime_ns;
	snprintf(m->etag, sizeof(m->etag), "%s", r->etag);
}

/* ------------------------------------------------------------ methods */

static int s3_head(struct backend *be, const char *key, struct obj_meta *meta)
{
	struct s3_backend *s = to_s3(be);
	struct s3_req r = { .method = "HEAD", .connect_retries = -1 };
	char fk[S3_FULLKEY_MAX];
	int rc = check_key(key);
	if (rc)
		return rc;
	full_key(s, key, fk);
	r.key = fk;
	rc = s3_do(s, &r);
	if (!rc)
		rc = map_status(&r);
	if (!rc && meta)
		fill_meta(&r, meta);
	req_release(&r);
	return rc;
}

static int s3_get(struct backend *be, const char *key, uint64_t off, uint64_t len,
		  struct buf *out, struct obj_meta *meta)
{
	struct s3_backend *s = to_s3(be);
	struct s3_req r = { .method = "GET", .connect_retries = -1 };
	struct obj_meta hm;
	char fk[S3_FULLKEY_MAX], range[64];
	int rc = check_key(key);
	if (rc)
		return rc;

	if (len == 0) { /* no such thing as an empty Range: ask for the size */
		rc = s3_head(be, key, &hm);
		if (!rc && off > hm.size)
			rc = -ERANGE;
		if (!rc && meta)
			*meta = hm;
		return rc;
	}
	full_key(s, key, fk);
	r.key = fk;
	r.out = out;
	if (off || len != BACKEND_RANGE_ALL) {
		if (len > UINT64_MAX - off)
			snprintf(range, sizeof(range), "bytes=%" PRIu64 "-", off);
		else
			snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off,
				 off + len - 1);
		r.hdrs[r.nhdrs++] = (struct sigv4_header){ "Range", range };
		r.ranged = 1;
		r.range_off = off;
		r.range_len = len;
	}
	rc = s3_do(s, &r);
	if (!rc)
		rc = map_status(&r);
	if (rc == -ERANGE) {
		/* Past the end, or exactly at it (which is an empty read). */
		rc = s3_head(be, key, &hm);
		if (!rc && off != hm.size)
			rc = -ERANGE;
		if (!rc && meta)
			*meta = hm;
	} else if (!rc && meta) {
		fill_meta(&r, meta);
	}
	if (rc)
		out_truncate(out, r.out_before);
	req_release(&r);
	return rc;
}

static int md5_b64(const void *data, size_t len, char *b64, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!EVP_Digest(data ? data : "", len, md, &n, EVP_md5(), NULL) || n != 16)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)b64, md, 16);
	for (unsigned i = 0; hex && i < 16; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	return 0;
}

/* Relative key of a full key (for s3_head). */
static const char *rel_key(const struct s3_backend *s, const char *fk)
{
	return fk + (s->cfg.prefix[0] ? strlen(s->cfg.prefix) + 1 : 0);
}

/* One conditional or plain PUT; etag_out gets the new etag. *conflict is
 * set when the server reported a concurrent conditional write. */
static int put_once(struct s3_backend *s, const char *fk, const void *data, size_t len,
		    const char *md5, const char *md5hex, const struct put_cond *cond,
		    const char *if_match, char *etag_out, int *conflict)
{
	struct s3_req r = { .method = "PUT", .key = fk, .body = data, .body_len = len,
			    .connect_retries = -1 };
	int rc;

	r.hdrs[r.nhdrs++] = (struct sigv4_header){ "Content-MD5", md5 };
	if (cond && cond->kind == PUT_IF_NONE_MATCH)
		r.hdrs[r.nhdrs++] = (struct sigv4_header){ "If-None-Match", "*" };
	else if (cond && cond->kind == PUT_IF_MATCH)
		r.hdrs[r.nhdrs++] = (struct sigv4_header){ "If-Match", if_match };
	rc = s3_do(s, &r);
	if (!rc)
		rc = map_status(&r);
	*conflict = !strcmp(r.code, "ConditionalRequestConflict");
	if (cond && cond->kind == PUT_IF_MATCH && rc == -ENOENT)
		rc = -ECANCELED; /* AWS: If-Match on a missing key is 404 */
	if (cond && cond->kind != PUT_ALWAYS && rc == -EBUSY && *conflict)
		rc = -ECANCELED; /* a concurrent conditional write won */
	if (rc == -ECANCELED && r.ambiguous) {
		/* An earlier attempt whose reply was lost may have been ours:
		 * then the object holds our bytes (same MD5). */
		struct obj_meta hm;
		if (!s3_head(&s->base, rel_key(s, fk), &hm) && !strcmp(hm.etag, md5hex)) {
			rc = 0;
			snprintf(r.etag, sizeof(r.etag), "%s", hm.etag);
		}
	}
	if (!rc)
		copy_etag(etag_out, r.etag[0] ? r.etag : md5hex);
	req_release(&r);
	return rc;
}

static int put_single(struct s3_backend *s, const char *fk, const void *data, size_t len,
		      const struct put_cond *cond, struct obj_meta *meta_out)
{
	char md5[32], md5hex[33], etagq[BACKEND_ETAG_MAX + 2], etag[BACKEND_ETAG_MAX];
	int unquoted = __atomic_load_n(&s->ifmatch_unquoted, __ATOMIC_RELAXED);
	int conflict = 0, rc;

	if ((rc = md5_b64(data, len, md5, md5hex)))
		return rc;
	if (cond && cond->kind == PUT_IF_MATCH)
		snprintf(etagq, sizeof(etagq), unquoted ? "%s" : "\"%s\"", cond->etag);
	rc = put_once(s, fk, data, len, md5, md5hex, cond, etagq, etag, &conflict);
	if (rc == -ECANCELED && cond && cond->kind == PUT_IF_MATCH && !unquoted && !conflict) {
		/* Ceph RGW 16 never matches a quoted etag: try the bare form
		 * once, still conditional, and remember it if that works. */
		snprintf(etagq, sizeof(etagq), "%s", cond->etag);
		rc = put_once(s, fk, data, len, md5, md5hex, cond, etagq, etag, &conflict);
		if (!rc)
			__atomic_store_n(&s->ifmatch_unquoted, 1, __ATOMIC_RELAXED);
	}
	if (!rc && meta_out) {
		meta_out->size = len;
		meta_out->mtime_ns = now_ns();
		snprintf(meta_out->etag, sizeof(meta_out->etag), "%s", etag);
	}
	return rc;
}

/* ---- multipart */

struct mp_part {
	char etag[BACKEND_ETAG_MAX];
};

struct mp_upload {
	struct s3_backend *s;
	const char *fk;
	const char *upload_id;
	const char *data;
	size_t len, part_size, nparts;
	struct mp_part *parts;
	pthread_mutex_t lock;
	size_t next; /* next part index to send */
	int rc;      /* first failure */
};

static int mp_send_part(struct mp_upload *u, size_t i)
{
	char num[24], md5[32];
	size_t off = i * u->part_size;
	size_t n = i + 1 == u->nparts ? u->len - off : u->part_size;
	int rc;

	snprintf(num, sizeof(num), "%zu", i + 1);
	if ((rc = md5_b64(u->data + off, n, md5, NULL)))
		return rc;
	struct sigv4_param q[] = { { "partNumber", num }, { "uploadId", u->upload_id } };
	struct s3_req r = { .method = "PUT", .key = u->fk, .query = q, .nquery = 2,
			    .body = u->data + off, .body_len = n, .connect_retries = -1 };
	r.hdrs[r.nhdrs++] = (struct sigv4_header){ "Content-MD5", md5 };
	rc = s3_do(u->s, &r);
	if (!rc)
		rc = map_status(&r);
	if (!rc && !r.etag[0])
		rc = -EIO;
	if (!rc)
		snprintf(u->parts[i].etag, sizeof(u->parts[i].etag), "%s", r.etag);
	ctr_add(&u->s->ctr.parts, 1);
	req_release(&r);
	return rc;
}

static void *mp_worker(void *arg)
{
	struct mp_upload *u = arg;
	for (;;) {
		pthread_mutex_lock(&u->lock);
		size_t i = u->next++;
		int stop = u->rc || i >= u->nparts;
		pthread_mutex_unlock(&u->lock);
		if (stop)
			break;
		int rc = mp_send_part(u, i);
		if (rc) {
			pthread_mutex_lock(&u->lock);
			if (!u->rc)
				u->rc = rc;
			pthread_mutex_unlock(&u->lock);
		}
	}
	return NULL;
}

static int put_multipart(struct s3_backend *s, const char *fk, const void *data, size_t len,
			 struct obj_meta *meta_out)
{
	struct mp_upload u = { .s = s, .fk = fk, .data = data, .len = len };
	struct buf xml = BUF_INIT, body = BUF_INIT;
	char *upload_id = NULL;
	char etag[BACKEND_ETAG_MAX];
	int rc;

	u.part_size = s->cfg.part_size;
	u.nparts = (len + u.part_size - 1) / u.part_size;
	if (u.nparts > S3_MAX_PARTS) { /* grow parts rather than fail */
		u.part_size = (len + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
		u.nparts = (len + u.part_size - 1) / u.part_size;
	}
	struct sigv4_param q_init[] = { { "uploads", "" } };
	struct s3_req r = { .method = "POST", .key = fk, .query = q_init, .nquery = 1,
			    .out = &xml, .connect_retries = -1 };
	rc = s3_do(s, &r);
	if (!rc)
		rc = map_status(&r);
	req_release(&r);
	if (!rc && s3_xml_parse_upload_id(xml.data, xml.len, &upload_id))
		rc = -EIO;
	buf_release(&xml);
	if (rc)
		return rc;
	ctr_add(&s->ctr.multipart_uploads, 1);

	u.upload_id = upload_id;
	u.parts = calloc(u.nparts, sizeof(*u.parts));
	if (!u.parts) {
		rc = -ENOMEM;
		goto abort;
	}
	pthread_mutex_init(&u.lock, NULL);
	int nthreads = s->cfg.upload_threads > 0 ? s->cfg.upload_threads : 1;
	if ((size_t)nthreads > u.nparts)
		nthreads = (int)u.nparts;
	pthread_t th[64];
	int started = 0;
	for (int i = 1; i < nthreads && i < 64; i++) /* this thread is worker 0 */
		if (!pthread_create(&th[started], NULL, mp_worker, &u))
			started++;
	mp_worker(&u);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&u.lock);
	if ((rc = u.rc))
		goto abort;

	rc = buf_adds(&body, "<CompleteMultipartUpload>");
	for (size_t i = 0; i < u.nparts && !rc; i++)
		rc = buf_addf(&body, "<Part><PartNumber>%zu</PartNumber><ETag>\"%s\"</ETag></Part>",
			      i + 1, u.parts[i].etag);
	if (rc || (rc = buf_adds(&body, "</CompleteMultipartUpload>")))
		goto abort;
	/* Complete may answer 200 with an <Error> body: retry that too. */
	for (int attempt = 0;; attempt++) {
		struct sigv4_param q_done[] = { { "uploadId", upload_id } };
		struct s3_req rc_req = { .method = "POST", .key = fk, .query = q_done,
					 .nquery = 1, .body = body.data, .body_len = body.len,
					 .out = &xml, .connect_retries = -1 };
		rc_req.hdrs[rc_req.nhdrs++] =
			(struct sigv4_header){ "Content-Type", "application/xml" };
		buf_reset(&xml);
		rc = s3_do(s, &rc_req);
		if (!rc)
			rc = map_status(&rc_req);
		int ambiguous = rc_req.ambiguous;
		req_release(&rc_req);
		if (!rc) {
			rc = s3_xml_parse_complete(xml.data, xml.len, etag, sizeof(etag));
			if (rc == -EREMOTEIO && attempt < s->cfg.max_retries) {
				backoff(s, attempt);
				continue;
			}
			if (rc)
				rc = -EIO;
		} else if (rc == -ENOENT && ambiguous) {
			/* NoSuchUpload after a lost reply: it completed if the
			 * object now has our size and a multipart etag. */
			struct obj_meta hm;
			if (!s3_head(&s->base, rel_key(s, fk), &hm) && hm.size == len &&
			    strchr(hm.etag, '-')) {
				snprintf(etag, sizeof(etag), "%s", hm.etag);
				rc = 0;
			}
		}
		break;
	}
	if (rc)
		goto abort;
	if (!etag[0]) { /* Ceph RGW 16 answers <ETag></ETag>: ask for it */
		struct obj_meta hm;
		if (!s3_head(&s->base, rel_key(s, fk), &hm))
			snprintf(etag, sizeof(etag), "%s", hm.etag);
	}
	if (meta_out) {
		meta_out->size = len;
		meta_out->mtime_ns = now_ns();
		copy_etag(meta_out->etag, etag);
	}
	goto out;
abort:;
	/* Best effort: an abandoned upload costs storage until a lifecycle rule. */
	struct sigv4_param q_abort[] = { { "uploadId", upload_id } };
	struct s3_req ra = { .method = "DELETE", .key = fk, .query = q_abort, .nquery = 1,
			     .connect_retries = -1 };
	s3_do(s, &ra);
	req_release(&ra);
out:
	free(u.parts);
	free(upload_id);
	buf_release(&xml);
	buf_release(&body);
	return rc;
}

static int s3_put(struct backend *be, const char *key, const void *data, size_t len,
		  const struct put_cond *cond, struct obj_meta *meta_out)
{
	struct s3_backend *s = to_s3(be);
	char fk[S3_FULLKEY_MAX];
	int rc = check_key(key);
	if (rc)
		return rc;
	if (len && !data)
		return -EINVAL;
	if (cond && (cond->kind < PUT_ALWAYS || cond->kind > PUT_IF_MATCH ||
		     (cond->kind == PUT_IF_MATCH && (!cond->etag || !cond->etag[0] ||
						     strlen(cond->etag) >= BACKEND_ETAG_MAX ||
						     strpbrk(cond->etag, "\r\n\"")))))
		return -EINVAL;
	full_key(s, key, fk);
	/* Conditional puts stay single requests: multipart has no portable
	 * conditional form, and the objects that need one are small. */
	if ((!cond || cond->kind == PUT_ALWAYS) && len > s->cfg.multipart_threshold)
		return put_multipart(s, fk, data, len, meta_out);
	return put_single(s, fk, data, len, cond, meta_out);
}

static int s3_del(struct backend *be, const char *key)
{
	struct s3_backend *s = to_s3(be);
	struct s3_req r = { .method = "DELETE", .connect_retries = -1 };
	char fk[S3_FULLKEY_MAX];
	int rc = check_key(key);
	if (rc)
		return rc;
	full_key(s, key, fk);
	r.key = fk;
	rc = s3_do(s, &r);
	if (!rc)
		rc = map_status(&r);
	if (rc == -ENOENT && strcmp(r.code, "NoSuchBucket"))
		rc = 0; /* deletes are idempotent */
	req_release(&r);
	return rc;
}

static int s3_list(struct backend *be, const char *prefix, backend_list_fn fn, void *ctx)
{
	struct s3_backend *s = to_s3(be);
	struct buf xml = BUF_INIT;
	struct s3_list_result res = { 0 };
	char fp[S3_FULLKEY_MAX], maxkeys[16], *token = NULL;
	size_t base = s->cfg.prefix[0] ? strlen(s->cfg.prefix) + 1 : 0;
	int rc = 0;

	if (!prefix)
		prefix = "";
	if (strlen(prefix) > BACKEND_KEY_MAX)
		return -EINVAL;
	if (s->cfg.prefix[0])
		snprintf(fp, sizeof(fp), "%s/%s", s->cfg.prefix, prefix);
	else
		snprintf(fp, sizeof(fp), "%s", prefix);
	snprintf(maxkeys, sizeof(maxkeys), "%d", s->cfg.list_max_keys);

	do {
		struct sigv4_param q[4];
		size_t nq = 0;
		q[nq++] = (struct sigv4_param){ "list-type", "2" };
		if (fp[0])
			q[nq++] = (struct sigv4_param){ "prefix", fp };
		if (s->cfg.list_max_keys > 0)
			q[nq++] = (struct sigv4_param){ "max-keys", maxkeys };
		if (token)
			q[nq++] = (struct sigv4_param){ "continuation-token", token };
		struct s3_req r = { .method = "GET", .query = q, .nquery = nq, .out = &xml,
				    .connect_retries = -1 };
		buf_reset(&xml);
		rc = s3_do(s, &r);
		if (!rc)
			rc = map_status(&r);
		req_release(&r);
		if (rc)
			break;
		ctr_add(&s->ctr.list_pages, 1);
		if (s3_xml_parse_list(xml.data, xml.len, &res)) {
			rc = -EIO;
			break;
		}
		for (size_t i = 0; i < res.n && !rc; i++) {
			const char *k = res.ents[i].key;
			/* Skip what is not ours or not a valid key here
			 * ("dir/" markers made by other tools). */
			if (strlen(k) < base || strncmp(k, fp, strlen(fp)) || check_key(k + base))
				continue;
			struct obj_meta m = { .size = res.ents[i].size,
					      .mtime_ns = res.ents[i].mtime_ns };
			snprintf(m.etag, sizeof(m.etag), "%s", res.ents[i].etag);
			rc = fn(k + base, &m, ctx);
		}
		free(token);
		token = NULL;
		if (!rc && res.truncated) {
			if (!res.next_token)
				rc = -EIO; /* would loop forever */
			else
				token = res.next_token;
			res.next_token = NULL;
		}
		s3_list_result_free(&res);
	} while (!rc && token);
	free(token);
	buf_release(&xml);
	return rc;
}

static void wipe_secrets(struct s3_config *c)
{
	OPENSSL_cleanse(c->secret_key, sizeof(c->secret_key));
	OPENSSL_cleanse(c->session_token, sizeof(c->session_token));
}

static void s3_close(struct backend *be)
{
	struct s3_backend *s = to_s3(be);
	for (int i = 0; i < s->npool; i++)
		curl_easy_cleanup(s->pool[i]);
	pthread_mutex_destroy(&s->pool_lock);
	wipe_secrets(&s->cfg);
	free(s);
}

static const struct backend_ops s3_ops = {
	.name = "s3",
	.get = s3_get,
	.head = s3_head,
	.put = s3_put,
	.del = s3_del,
	.list = s3_list,
	.local_path = NULL,
	.close = s3_close,
};

/* ------------------------------------------------------------ batch delete */

int s3_backend_del_many(struct backend *be, const char *const *keys, size_t n)
{
	struct s3_backend *s = to_s3(be);
	struct buf body = BUF_INIT, xml = BUF_INIT;
	char fk[S3_FULLKEY_MAX], md5[32], ekey[BACKEND_KEY_MAX + 1], ecode[64];
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		if ((rc = check_key(keys[i])))
			return rc;
	for (size_t at = 0; at < n && !rc; at += S3_DELETE_BATCH) {
		size_t end = n - at > S3_DELETE_BATCH ? at + S3_DELETE_BATCH : n;
		buf_reset(&body);
		rc = buf_adds(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
				     "<Delete><Quiet>true</Quiet>");
		for (size_t i = at; i < end && !rc; i++) {
			full_key(s, keys[i], fk);
			if (!(rc = buf_adds(&body, "<Object><Key>")) &&
			    !(rc = s3_xml_escape(&body, fk)))
				rc = buf_adds(&body, "</Key></Object>");
		}
		if (rc || (rc = buf_adds(&body, "</Delete>")) ||
		    (rc = md5_b64(body.data, body.len, md5, NULL)))
			break;
		struct sigv4_param q[] = { { "delete", "" } };
		struct s3_req r = { .method = "POST", .query = q, .nquery = 1, .body = body.data,
				    .body_len = body.len, .out = &xml, .connect_retries = -1 };
		r.hdrs[r.nhdrs++] = (struct sigv4_header){ "Content-MD5", md5 };
		r.hdrs[r.nhdrs++] = (struct sigv4_header){ "Content-Type", "application/xml" };
		buf_reset(&xml);
		rc = s3_do(s, &r);
		if (!rc)
			rc = map_status(&r);
		req_release(&r);
		if (rc)
			break;
		size_t nerr = 0;
		if (s3_xml_parse_delete(xml.data, xml.len, &nerr, ekey, sizeof(ekey), ecode,
					sizeof(ecode)) || nerr)
			rc = -EIO;
		__atomic_add_fetch(&be->stats.dels, end - at, __ATOMIC_RELAXED);
	}
	buf_release(&body);
	buf_release(&xml);
	return rc;
}

void s3_backend_counters(struct backend *be, struct s3_counters *c)
{
	struct s3_backend *s = to_s3(be);
	c->requests = __atomic_load_n(&s->ctr.requests, __ATOMIC_RELAXED);
	c->retries = __atomic_load_n(&s->ctr.retries, __ATOMIC_RELAXED);
	c->list_pages = __atomic_load_n(&s->ctr.list_pages, __ATOMIC_RELAXED);
	c->multipart_uploads = __atomic_load_n(&s->ctr.multipart_uploads, __ATOMIC_RELAXED);
	c->parts = __atomic_load_n(&s->ctr.parts, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ config */

void s3_config_init(struct s3_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->verify_tls = 1;
	cfg->connect_timeout_ms = 5000;
	cfg->io_timeout_ms = 30000;
	cfg->max_retries = 5;
	cfg->retry_base_ms = 100;
	cfg->multipart_threshold = 16u << 20;
	cfg->part_size = 8u << 20;
	cfg->upload_threads = 4;
}

static int copy_str(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);
	if (n >= dstlen)
		return -ENAMETOOLONG;
	memcpy(dst, src, n + 1);
	return 0;
}

static const char *first_set(const char *a, const char *b, const char *c)
{
	if (a && *a)
		return a;
	if (b && *b)
		return b;
	return c && *c ? c : NULL;
}

int s3_config_from_uri(const struct store_uri *u, const char *endpoint, const char *region,
		       const char *account, const char *profile, struct s3_config *cfg,
		       char *err, size_t errlen)
{
	char ep[sizeof(cfg->endpoint)];

	s3_config_init(cfg);
	if (!u || (u->scheme != STORE_S3 && u->scheme != STORE_R2)) {
		set_err(err, errlen, "not an s3:// or r2:// store");
		return -EINVAL;
	}
	if (copy_str(cfg->bucket, sizeof(cfg->bucket), u->bucket) ||
	    copy_str(cfg->prefix, sizeof(cfg->prefix), u->prefix) ||
	    (profile && copy_str(cfg->profile, sizeof(cfg->profile), profile))) {
		set_err(err, errlen, "bucket, prefix or profile name too long");
		return -EINVAL;
	}
	if (u->scheme == STORE_R2) {
		const char *acct = first_set(account, getenv("R2_ACCOUNT_ID"), NULL);
		const char *reg = first_set(region, "auto", NULL);
		if (endpoint && *endpoint) {
			snprintf(ep, sizeof(ep), "%s", endpoint);
		} else if (!acct) {
			set_err(err, errlen, "r2:// needs the Cloudflare account id: -o account=ID "
				"or R2_ACCOUNT_ID");
			return -EINVAL;
		} else {
			for (const char *p = acct; *p; p++)
				if (!isalnum((unsigned char)*p)) {
					set_err(err, errlen, "invalid R2 account id \"%.64s\" "
						"(letters and digits only)", acct);
					return -EINVAL;
				}
			if (snprintf(ep, sizeof(ep), "https://%s.r2.cloudflarestorage.com", acct) >=
			    (int)sizeof(ep)) {
				set_err(err, errlen, "R2 account id too long");
				return -EINVAL;
			}
		}
		if (copy_str(cfg->region, sizeof(cfg->region), reg)) {
			set_err(err, errlen, "region name too long");
			return -EINVAL;
		}
		cfg->addressing = S3_ADDR_PATH;
	} else {
		const char *reg = first_set(region, getenv("AWS_REGION"),
					    getenv("AWS_DEFAULT_REGION"));
		if (!reg)
			reg = "us-east-1";
		if (copy_str(cfg->region, sizeof(cfg->region), reg)) {
			set_err(err, errlen, "region name too long");
			return -EINVAL;
		}
		const char *e = first_set(endpoint, getenv("AWS_ENDPOINT_URL_S3"),
					  getenv("AWS_ENDPOINT_URL"));
		if (e)
			snprintf(ep, sizeof(ep), "%s", e);
		else
			snprintf(ep, sizeof(ep), "https://s3.%s.amazonaws.com", cfg->region);
		cfg->addressing = S3_ADDR_AUTO;
	}
	for (const char *p = cfg->region; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-') {
			set_err(err, errlen, "invalid region \"%s\"", cfg->region);
			return -EINVAL;
		}
	if (copy_str(cfg->endpoint, sizeof(cfg->endpoint), ep)) {
		set_err(err, errlen, "endpoint too long");
		return -EINVAL;
	}
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* 1: profile found with both keys, 0: not found, <0: error. */
static int read_profile(const char *file, const char *profile, struct s3_config *cfg)
{
	FILE *f = fopen(file, "re");
	char *line = NULL;
	size_t cap = 0;
	int in = 0, found = 0;
	char ak[sizeof(cfg->access_key)] = "", sk[sizeof(cfg->secret_key)] = "";

	if (!f)
		return 0;
	cfg->session_token[0] = '\0';
	while (getline(&line, &cap, f) > 0) {
		char *l = trim(line);
		if (!*l || *l == '#' || *l == ';')
			continue;
		if (*l == '[') {
			char *e = strchr(l, ']');
			if (!e)
				continue;
			*e = '\0';
			char *name = trim(l + 1);
			if (!strncmp(name, "profile ", 8)) /* the ~/.aws/config spelling */
				name = trim(name + 8);
			in = !strcmp(name, profile);
			found |= in;
			continue;
		}
		char *eq = strchr(l, '=');
		if (!in || !eq)
			continue;
		*eq = '\0';
		char *k = trim(l), *v = trim(eq + 1);
		if (!strcmp(k, "aws_access_key_id"))
			snprintf(ak, sizeof(ak), "%s", v);
		else if (!strcmp(k, "aws_secret_access_key"))
			snprintf(sk, sizeof(sk), "%s", v);
		else if (!strcmp(k, "aws_session_token"))
			snprintf(cfg->session_token, sizeof(cfg->session_token), "%s", v);
	}
	if (line) {
		OPENSSL_cleanse(line, cap);
		free(line);
	}
	fclose(f);
	int rc = 0;
	if (found && ak[0] && sk[0]) {
		snprintf(cfg->access_key, sizeof(cfg->access_key), "%s", ak);
		snprintf(cfg->secret_key, sizeof(cfg->secret_key), "%s", sk);
		rc = 1;
	} else {
		cfg->session_token[0] = '\0';
	}
	OPENSSL_cleanse(sk, sizeof(sk));
	return rc;
}

static void credentials_path(char *path, size_t len)
{
	const char *f = getenv("AWS_SHARED_CREDENTIALS_FILE");
	if (f && *f) {
		snprintf(path, len, "%s", f);
		return;
	}
	const char *home = getenv("HOME");
	struct passwd pw, *pwp = NULL;
	char pwbuf[1024];
	if ((!home || !*home) && !getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &pwp) && pwp)
		home = pw.pw_dir;
	snprintf(path, len, "%s/.aws/credentials", home ? home : "");
}

int s3_config_load_credentials(struct s3_config *cfg, char *err, size_t errlen)
{
	char path[4096];

	if (cfg->access_key[0] && cfg->secret_key[0])
		return 0;
	credentials_path(path, sizeof(path));
	if (cfg->profile[0]) {
		if (read_profile(path, cfg->profile, cfg) == 1)
			return 0;
		set_err(err, errlen, "no credentials for profile \"%s\" in %s", cfg->profile,
			path);
		return -ENOKEY;
	}
	const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
	if (ak && *ak && sk && *sk) {
		const char *tok = getenv("AWS_SESSION_TOKEN");
		if (copy_str(cfg->access_key, sizeof(cfg->access_key), ak) ||
		    copy_str(cfg->secret_key, sizeof(cfg->secret_key), sk) ||
		    copy_str(cfg->session_token, sizeof(cfg->session_token), tok ? tok : "")) {
			wipe_secrets(cfg);
			set_err(err, errlen, "AWS credentials in the environment are too long");
			return -EINVAL;
		}
		return 0;
	}
	const char *prof = getenv("AWS_PROFILE");
	if (read_profile(path, prof && *prof ? prof : "default", cfg) == 1)
		return 0;
	set_err(err, errlen, "no S3 credentials: set AWS_ACCESS_KEY_ID and "
		"AWS_SECRET_ACCESS_KEY, or add a [%s] profile to %s",
		prof && *prof ? prof : "default", path);
	return -ENOKEY;
}

/* ------------------------------------------------------------ open */

/* "scheme://host[:port][/]" -> s->scheme, s->host (default port dropped). */
static int parse_endpoint(struct s3_backend *s, char *err, size_t errlen)
{
	const char *ep = s->cfg.endpoint, *rest;
	if (!strncmp(ep, "https://", 8)) {
		strcpy(s->scheme, "https");
		rest = ep + 8;
	} else if (!strncmp(ep, "http://", 7)) {
		strcpy(s->scheme, "http");
		rest = ep + 7;
	} else {
		set_err(err, errlen, "invalid S3 endpoint \"%s\" (use http://host[:port] or "
			"https://host[:port])", ep);
		return -EINVAL;
	}
	size_t n = strlen(rest);
	while (n && rest[n - 1] == '/')
		n--;
	if (!n || n >= sizeof(s->host) || memchr(rest, '/', n) || memchr(rest, '@', n) ||
	    memchr(rest, '?', n) || memchr(rest, '#', n) || memchr(rest, ' ', n)) {
		set_err(err, errlen, "invalid S3 endpoint \"%s\" (use %s://host[:port], no path)",
			ep, s->scheme);
		return -EINVAL;
	}
	memcpy(s->host, rest, n);
	s->host[n] = '\0';
	const char *dflt = !strcmp(s->scheme, "https") ? ":443" : ":80";
	size_t dl = strlen(dflt);
	if (n > dl && !strcmp(s->host + n - dl, dflt) && s->host[0] != '[')
		s->host[n - dl] = '\0';
	return 0;
}

static int bucket_dns_ok(const char *b)
{
	for (const char *p = b; *p; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-')
			return 0; /* dots break TLS wildcard certificates */
	return *b != '\0';
}

static int s3_new(const struct s3_config *cfg, struct s3_backend **out, char *err,
		  size_t errlen)
{
	*out = NULL;
	if (!cfg || !cfg->bucket[0]) {
		set_err(err, errlen, "no S3 bucket given");
		return -EINVAL;
	}
	struct s3_backend *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->cfg.endpoint[sizeof(s->cfg.endpoint) - 1] = '\0';
	int rc = parse_endpoint(s, err, errlen);
	if (!rc && !s->cfg.region[0])
		snprintf(s->cfg.region, sizeof(s->cfg.region), "us-east-1");
	if (!rc)
		rc = s3_config_load_credentials(&s->cfg, err, errlen);
	if (rc) {
		wipe_secrets(&s->cfg);
		free(s);
		return rc;
	}
	if (s->cfg.part_size < (5u << 20))
		s->cfg.part_size = 5u << 20;
	if (s->cfg.multipart_threshold < s->cfg.part_size)
		s->cfg.multipart_threshold = s->cfg.part_size;
	if (s->cfg.max_retries < 0)
		s->cfg.max_retries = 0;
	if (s->cfg.connect_timeout_ms <= 0)
		s->cfg.connect_timeout_ms = 5000;
	if (s->cfg.io_timeout_ms <= 0)
		s->cfg.io_timeout_ms = 30000;
	size_t hl = strlen(s->host);
	if (s->cfg.addressing == S3_ADDR_VHOST)
		s->vhost = 1;
	else if (s->cfg.addressing == S3_ADDR_AUTO)
		s->vhost = bucket_dns_ok(s->cfg.bucket) && hl > 14 &&
			   !strcmp(s->host + hl - 14, ".amazonaws.com");
	pthread_mutex_init(&s->pool_lock, NULL);
	s->base.ops = &s3_ops;
	s->base.caps = BACKEND_CAP_RANGE_GET | BACKEND_CAP_COND_PUT | BACKEND_CAP_DURABLE;
	*out = s;
	return 0;
}

/* One line naming the cause of a failed bucket-level request. */
static int explain(const struct s3_backend *s, const struct s3_req *r, int rc,
		   const char *what, char *err, size_t errlen)
{
	const char *ep = s->cfg.endpoint, *b = s->cfg.bucket;

	if (rc == -EHOSTUNREACH) {
		set_err(err, errlen, "unreachable S3 endpoint %s: %s", ep, r->curl_err);
		return rc;
	}
	if (rc == -ETIMEDOUT) {
		set_err(err, errlen, "S3 endpoint %s timed out: %s", ep, r->curl_err);
		return rc;
	}
	if (rc) {
		set_err(err, errlen, "S3 endpoint %s failed: %s", ep,
			r->curl_err[0] ? r->curl_err : strerror(-rc));
		return rc;
	}
	const char *code = r->code[0] ? r->code : "no error code";
	if (!strcmp(r->code, "InvalidAccessKeyId")) {
		set_err(err, errlen, "bad credentials: the access key id is unknown to %s "
			"(InvalidAccessKeyId)", ep);
		return -EACCES;
	}
	if (!strcmp(r->code, "SignatureDoesNotMatch")) {
		set_err(err, errlen, "bad credentials: the secret key does not match the access "
			"key (SignatureDoesNotMatch from %s)", ep);
		return -EACCES;
	}
	if (!strcmp(r->code, "RequestTimeTooSkewed")) {
		set_err(err, errlen, "the local clock is too far from %s's "
			"(RequestTimeTooSkewed): fix the system time", ep);
		return -EACCES;
	}
	if (!strcmp(r->code, "NoSuchBucket") || (r->status == 404 && !r->code[0])) {
		set_err(err, errlen, "bucket \"%s\" does not exist at %s (NoSuchBucket)", b, ep);
		return -ENOENT;
	}
	if (r->status == 301 || r->status == 307 ||
	    !strcmp(r->code, "AuthorizationHeaderMalformed") ||
	    !strcmp(r->code, "PermanentRedirect") ||
	    !strcmp(r->code, "IllegalLocationConstraintException") ||
	    (r->region[0] && strcmp(r->region, s->cfg.region) && r->status >= 300)) {
		if (r->region[0])
			set_err(err, errlen, "wrong region \"%s\" for bucket \"%s\": it is in "
				"\"%s\" (use -o region=%s)", s->cfg.region, b, r->region,
				r->region);
		else
			set_err(err, errlen, "wrong region \"%s\" or endpoint for bucket \"%s\" "
				"(%s from %s)", s->cfg.region, b, code, ep);
		return -EINVAL;
	}
	if (r->status == 403) {
		set_err(err, errlen, "access denied to bucket \"%s\" at %s (%s): check the "
			"credentials and the bucket policy", b, ep, code);
		return -EACCES;
	}
	set_err(err, errlen, "%s bucket \"%s\" at %s failed: HTTP %ld %s%s%.160s", what, b, ep,
		r->status, code, r->msg[0] ? ": " : "", r->msg);
	rc = map_status(r);
	return rc ? rc : -EIO;
}

int s3_backend_open(const struct s3_config *cfg, struct backend **out, char *err,
		    size_t errlen)
{
	struct s3_backend *s;
	struct buf xml = BUF_INIT;
	int rc;

	*out = NULL;
	if ((rc = s3_new(cfg, &s, err, errlen)))
		return rc;
	/* A one-key list under the prefix: checks endpoint, credentials,
	 * bucket and region in one request, with an error code to explain. */
	struct sigv4_param q[3];
	size_t nq = 0;
	q[nq++] = (struct sigv4_param){ "list-type", "2" };
	q[nq++] = (struct sigv4_param){ "max-keys", "1" };
	if (s->cfg.prefix[0])
		q[nq++] = (struct sigv4_param){ "prefix", s->cfg.prefix };
	struct s3_req r = { .method = "GET", .query = q, .nquery = nq, .out = &xml,
			    .connect_retries = 1 };
	rc = s3_do(s, &r);
	if (rc || r.status != 200)
		rc = explain(s, &r, rc, "listing", err, errlen);
	req_release(&r);
	buf_release(&xml);
	if (rc) {
		s3_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return 0;
}

int s3_bucket_create(const struct s3_config *cfg, char *err, size_t errlen)
{
	struct s3_backend *s;
	struct buf body = BUF_INIT;
	int rc;

	if ((rc = s3_new(cfg, &s, err, errlen)))
		return rc;
	if (strcmp(s->cfg.region, "us-east-1") && strcmp(s->cfg.region, "auto"))
		rc = buf_addf(&body, "<CreateBucketConfiguration><LocationConstraint>%s"
			      "</LocationConstraint></CreateBucketConfiguration>", s->cfg.region);
	struct s3_req r = { .method = "PUT", .body = body.data, .body_len = body.len,
			    .connect_retries = 1 };
	if (!rc)
		rc = s3_do(s, &r);
	if (!rc && r.status != 200 && strcmp(r.code, "BucketAlreadyOwnedByYou"))
		rc = explain(s, &r, rc, "creating", err, errlen);
	else if (rc)
		rc = explain(s, &r, rc, "creating", err, errlen);
	req_release(&r);
	buf_release(&body);
	s3_close(&s->base);
	return rc;
}

int s3_bucket_delete(const struct s3_config *cfg, char *err, size_t errlen)
{
	struct s3_backend *s;
	int rc;

	if ((rc = s3_new(cfg, &s, err, errlen)))
		return rc;
	struct s3_req r = { .method = "DELETE", .connect_retries = 1 };
	rc = s3_do(s, &r);
	if (rc || (r.status != 204 && r.status != 200))
		rc = explain(s, &r, rc, "deleting", err, errlen);
	req_release(&r);
	s3_close(&s->base);
	return rc;
}
