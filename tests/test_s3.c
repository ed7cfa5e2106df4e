/* tests/test_s3.c - the S3 backend (backends/s3.c) against a real server.
 *
 * Needs $RAGFS_S3_ENDPOINT (e.g. from scripts/s3-server.sh: source its env
 * file) and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN,
 * AWS_REGION optional); without an endpoint the whole test is skipped.
 * Runs in a fresh bucket it creates and deletes, so nothing else is touched
 * and the conformance body sees an empty store. When the bucket cannot be
 * created, $RAGFS_S3_BUCKET with a unique prefix is used instead.
 *
 * The conformance body is the one of tests/test_backend.c, included here so
 * the S3 backend is held to exactly the same contract as mem and local.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <curl/curl.h>

#include "backends/s3.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-declarations"
#define main test_backend_main
#include "test_backend.c"
#undef main
#pragma GCC diagnostic pop

static struct s3_config base_cfg; /* endpoint, region, credentials, bucket */

static struct backend *open_cfg(const struct s3_config *c, int *rc_out, char *err,
				size_t errlen)
{
	struct backend *be = NULL;
	int rc = s3_backend_open(c, &be, err, errlen);
	if (rc_out)
		*rc_out = rc;
	return rc ? NULL : be;
}

static struct backend *open_more_s3(void *ctx)
{
	char err[256];
	return open_cfg(ctx, NULL, err, sizeof(err));
}

/* ------------------------------------------------------------ helpers */

struct collect {
	char **keys;
	size_t n, cap;
};

static int collect_fn(const char *key, const struct obj_meta *meta, void *ctx)
{
	struct collect *c = ctx;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->keys = realloc(c->keys, c->cap * sizeof(*c->keys));
	}
	c->keys[c->n++] = strdup(key);
	return 0;
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->keys[i]);
	free(c->keys);
	memset(c, 0, sizeof(*c));
}

/* Delete everything the backend can see (batch delete). */
static int wipe(struct backend *be)
{
	struct collect c = { 0 };
	int rc = backend_list(be, "", collect_fn, &c);
	if (!rc && c.n)
		rc = s3_backend_del_many(be, (const char *const *)c.keys, c.n);
	collect_free(&c);
	return rc;
}

struct put_many {
	struct backend *be;
	int from, to, rc;
};

static void *put_many_thread(void *p)
{
	struct put_many *a = p;
	char key[64];
	for (int i = a->from; i < a->to && !a->rc; i++) {
		snprintf(key, sizeof(key), "page/k%05d", i);
		a->rc = backend_put(a->be, key, key, strlen(key), NULL, NULL);
	}
	return NULL;
}

/* ------------------------------------------------------------ s3 checks */

#define NPAGE 1100

static void test_paging(struct s3_config *cfg)
{
	char err[256];
	struct s3_config c = *cfg;
	struct backend *be = open_cfg(&c, NULL, err, sizeof(err));
	if (!be) {
		ok(0, "paging: open: %s", err);
		return;
	}
	pthread_t th[8];
	struct put_many a[8];
	for (int i = 0; i < 8; i++) {
		a[i] = (struct put_many){ be, i * NPAGE / 8, (i + 1) * NPAGE / 8, 0 };
		pthread_create(&th[i], NULL, put_many_thread, &a[i]);
	}
	int put_ok = 1;
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		if (a[i].rc)
			put_ok = 0;
	}
	ok(put_ok, "paging: %d keys put from 8 threads", NPAGE);

	struct s3_counters c0, c1;
	struct collect got = { 0 };
	s3_backend_counters(be, &c0);
	is_int(backend_list(be, "page/", collect_fn, &got), 0, "paging: list (default pages)");
	s3_backend_counters(be, &c1);
	int order = got.n == NPAGE;
	for (size_t i = 1; order && i < got.n; i++)
		if (strcmp(got.keys[i - 1], got.keys[i]) >= 0)
			order = 0;
	ok(order, "paging: %zu keys, strcmp order, over %llu pages", got.n,
	   (unsigned long long)(c1.list_pages - c0.list_pages));
	is_int(c1.list_pages - c0.list_pages, 2, "paging: 1000-key pages (server default)");
	collect_free(&got);
	backend_close(be);

	c.list_max_keys = 100;
	be = open_cfg(&c, NULL, err, sizeof(err));
	if (!be) {
		ok(0, "paging: open with max-keys: %s", err);
		return;
	}
	s3_backend_counters(be, &c0);
	is_int(backend_list(be, "page/k00", collect_fn, &got), 0, "paging: list max-keys 100");
	s3_backend_counters(be, &c1);
	ok(got.n == 1000 && !strcmp(got.keys[0], "page/k00000") &&
	   !strcmp(got.keys[999], "page/k00999"), "paging: 1000 keys under page/k00 (%zu)",
	   got.n);
	is_int(c1.list_pages - c0.list_pages, 10, "paging: ten pages of 100");
	collect_free(&got);

	struct list_rec *r = calloc(1, sizeof(*r));
	r->stop_after = 150;
	is_int(backend_list(be, "page/", rec_fn, r), 42, "paging: fn stops the walk mid-page 2");
	is_int(r->n, 150, "paging: no call after the stop");
	free(r);

	/* batch delete, more than one request's worth */
	is_int(backend_list(be, "page/", collect_fn, &got), 0, "paging: list all again");
	s3_backend_counters(be, &c0);
	is_int(s3_backend_del_many(be, (const char *const *)got.keys, got.n), 0,
	       "batch delete of 1100 keys");
	s3_backend_counters(be, &c1);
	is_int(c1.requests - c0.requests, 2, "batch delete: two requests");
	collect_free(&got);
	const char *missing[] = { "page/none1", "page/none2" };
	is_int(s3_backend_del_many(be, missing, 2), 0, "batch delete of missing keys is 0");
	const char *invalid[] = { "ok", "../bad" };
	is_int(s3_backend_del_many(be, invalid, 2), -EINVAL, "batch delete checks keys");
	is_int(backend_list(be, "page/", collect_fn, &got), 0, "paging: list after delete");
	is_int(got.n, 0, "paging: all gone");
	collect_free(&got);
	backend_close(be);
}

static void test_multipart(struct backend *be)
{
	size_t n = 20u << 20;
	unsigned char *data = malloc(n);
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < n; i++) { /* xorshift: incompressible, position-dependent */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		data[i] = (unsigned char)x;
	}
	struct s3_counters c0, c1;
	struct obj_meta m, hm;
	s3_backend_counters(be, &c0);
	is_int(backend_put(be, "big/obj", data, n, NULL, &m), 0, "multipart: put 20 MiB");
	s3_backend_counters(be, &c1);
	is_int(c1.multipart_uploads - c0.multipart_uploads, 1, "multipart: one upload");
	is_int(c1.parts - c0.parts, 3, "multipart: three parts of 8 MiB at most");
	ok(m.size == n && strchr(m.etag, '-'), "multipart: meta size and -N etag (%s)", m.etag);
	ok(backend_head(be, "big/obj", &hm) == 0 && hm.size == n && !strcmp(hm.etag, m.etag),
	   "multipart: head agrees");
	struct buf b = BUF_INIT;
	ok(backend_get(be, "big/obj", 0, BACKEND_RANGE_ALL, &b, NULL) == 0 && b.len == n &&
	   !memcmp(b.data, data, n), "multipart: full get round trip");
	buf_release(&b);
	size_t edge = 8u << 20;
	ok(get_is(be, "big/obj", edge - 100, 200, data + edge - 100, 200),
	   "multipart: range across the part boundary");
	ok(get_is(be, "big/obj", n - 10, 100, data + n - 10, 10), "multipart: tail range clipped");
	ok(get_is(be, "big/obj", 12345, 1, data + 12345, 1), "multipart: one byte");
	b.max = 1 << 20;
	is_int(backend_get(be, "big/obj", 0, BACKEND_RANGE_ALL, &b, NULL), -EFBIG,
	       "multipart: get over out->max");
	is_int(b.len, 0, "multipart: -EFBIG leaves the buffer empty");
	buf_release(&b);
	/* conditional puts of a big object stay single requests */
	struct put_cond c = { PUT_IF_MATCH, m.etag };
	data[0] ^= 1;
	is_int(backend_put(be, "big/obj", data, n, &c, &m), 0, "multipart-size if-match put");
	ok(!strchr(m.etag, '-'), "conditional big put is one PUT (etag %s)", m.etag);
	backend_del(be, "big/obj");
	free(data);
}

static void test_prefix(const struct s3_config *cfg, struct backend *root)
{
	char err[256];
	struct s3_config c = *cfg;
	snprintf(c.prefix, sizeof(c.prefix), "pre/fix");
	struct backend *be = open_cfg(&c, NULL, err, sizeof(err));
	if (!be) {
		ok(0, "prefix: open: %s", err);
		return;
	}
	put_str(be, "k", "v");
	put_str(root, "pre/fixnot", "x"); /* shares the string prefix, not the directory */
	ok(get_is(root, "pre/fix/k", 0, BACKEND_RANGE_ALL, "v", 1),
	   "prefix: key stored under prefix/");
	ok(list_is(be, "", (const char *const[]){ "k", NULL }),
	   "prefix: list strips the prefix and sees nothing outside");
	ok(list_is(root, "pre/", (const char *const[]){ "pre/fix/k", "pre/fixnot", NULL }),
	   "prefix: the bucket root sees both");
	backend_del(be, "k");
	backend_del(root, "pre/fixnot");
	backend_close(be);
}

static void test_open_errors(const struct s3_config *cfg)
{
	char err[256];
	int rc;
	struct s3_config c = *cfg;
	struct backend *be;

	snprintf(c.secret_key, sizeof(c.secret_key), "wrong-secret-value-123");
	be = open_cfg(&c, &rc, err, sizeof(err));
	ok(!be && rc == -EACCES && strstr(err, "credentials") &&
	   !strchr(err, '\n') && !strstr(err, "wrong-secret"),
	   "bad secret -> -EACCES, one line (%d: %s)", rc, err);
	c = *cfg;
	snprintf(c.access_key, sizeof(c.access_key), "NOSUCHKEY0000");
	be = open_cfg(&c, &rc, err, sizeof(err));
	ok(!be && rc == -EACCES && strstr(err, "credentials"),
	   "unknown access key -> -EACCES (%d: %s)", rc, err);
	c = *cfg;
	snprintf(c.bucket, sizeof(c.bucket), "ragfs-no-such-bucket-%d", (int)getpid());
	be = open_cfg(&c, &rc, err, sizeof(err));
	ok(!be && rc == -ENOENT &&
	   strstr(err, "does not exist") && strstr(err, c.bucket) && !strchr(err, '\n'),
	   "unknown bucket -> -ENOENT (%d: %s)", rc, err);
	c = *cfg;
	snprintf(c.endpoint, sizeof(c.endpoint), "http://127.0.0.1:1");
	be = open_cfg(&c, &rc, err, sizeof(err));
	ok(!be && rc == -EHOSTUNREACH &&
	   strstr(err, "unreachable"), "unreachable endpoint (%d: %s)", rc, err);

	c = *cfg;
	be = open_cfg(&c, &rc, err, sizeof(err));
	ok(be != NULL, "open for the request count");
	if (be) {
		struct s3_counters k;
		s3_backend_counters(be, &k);
		ok(k.requests - k.retries == 1, "open is one request (%llu, %llu retries)",
		   (unsigned long long)k.requests, (unsigned long long)k.retries);
		backend_close(be);
	}
}

static void test_ranges_more(struct backend *be)
{
	char v[256];
	for (int i = 0; i < 256; i++)
		v[i] = (char)i;
	backend_put(be, "rng", v, sizeof(v), NULL, NULL);
	ok(get_is(be, "rng", 255, 1, v + 255, 1), "range: last byte");
	ok(get_is(be, "rng", 0, 256, v, 256), "range: exactly the object");
	ok(get_is(be, "rng", 0, 257, v, 256), "range: one past");
	ok(get_is(be, "rng", 256, BACKEND_RANGE_ALL, "", 0), "range: at the end, open");
	struct buf b = BUF_INIT;
	struct obj_meta m = { 0 };
	ok(backend_get(be, "rng", 256, 10, &b, &m) == 0 && b.len == 0 && m.size == 256 &&
	   m.etag[0], "range: at the end has meta");
	buf_release(&b);
	ok(backend_get(be, "rng", 1000, 1, &b, NULL) == -ERANGE, "range: far past the end -ERANGE");
	buf_release(&b);
	backend_del(be, "rng");
}

/* Virtual-host addressing: http://<bucket>.localhost:port (curl resolves
 * *.localhost to loopback; scripts/s3-server.sh sets rgw dns name). */
static void test_vhost(const struct s3_config *cfg, struct backend *root)
{
	const char *vep = getenv("RAGFS_S3_VHOST_ENDPOINT");
	char err[256];
	int rc;

	if (!vep || !*vep) {
		diag("no $RAGFS_S3_VHOST_ENDPOINT: virtual-host checks skipped");
		return;
	}
	struct s3_config c = *cfg;
	snprintf(c.endpoint, sizeof(c.endpoint), "%s", vep);
	c.addressing = S3_ADDR_VHOST;
	struct backend *be = open_cfg(&c, &rc, err, sizeof(err));
	ok(be != NULL, "vhost: open at %s (%s)", vep, be ? "ok" : err);
	if (!be)
		return;
	is_int(put_str(be, "vh/a b", "vhost"), 0, "vhost: put");
	ok(get_is(root, "vh/a b", 0, BACKEND_RANGE_ALL, "vhost", 5),
	   "vhost: path-style handle reads what vhost wrote");
	ok(get_is(be, "vh/a b", 1, 3, "hos", 3), "vhost: ranged get");
	ok(list_is(be, "vh/", (const char *const[]){ "vh/a b", NULL }), "vhost: list");
	is_int(backend_del(be, "vh/a b"), 0, "vhost: del");
	backend_close(be);
}

int main(void)
{
	const char *ep = getenv("RAGFS_S3_ENDPOINT");
	char err[256];
	int rc;

	if (!ep || !*ep)
		tap_skip_all("no S3 endpoint");
	curl_global_init(CURL_GLOBAL_DEFAULT);

	s3_config_init(&base_cfg);
	snprintf(base_cfg.endpoint, sizeof(base_cfg.endpoint), "%s", ep);
	const char *region = getenv("AWS_REGION");
	snprintf(base_cfg.region, sizeof(base_cfg.region), "%s",
		 region && *region ? region : "us-east-1");
	base_cfg.addressing = S3_ADDR_PATH;
	base_cfg.max_retries = 3;
	if ((rc = s3_config_load_credentials(&base_cfg, err, sizeof(err)))) {
		ok(0, "credentials: %s", err);
		return tap_done();
	}
	snprintf(base_cfg.bucket, sizeof(base_cfg.bucket), "ragfs-t-%x-%lx", (unsigned)getpid(),
		 (unsigned long)time(NULL));
	int own_bucket = s3_bucket_create(&base_cfg, err, sizeof(err)) == 0;
	if (!own_bucket) {
		const char *b = getenv("RAGFS_S3_BUCKET");
		diag("cannot create a bucket (%s); using $RAGFS_S3_BUCKET", err);
		if (!b || !*b) {
			ok(0, "no bucket to test in");
			return tap_done();
		}
		snprintf(base_cfg.bucket, sizeof(base_cfg.bucket), "%s", b);
		snprintf(base_cfg.prefix, sizeof(base_cfg.prefix), "ragfs-test-%x-%lx",
			 (unsigned)getpid(), (unsigned long)time(NULL));
	}
	diag("s3 backend at %s, bucket %s%s%s", ep, base_cfg.bucket,
	     base_cfg.prefix[0] ? ", prefix " : "", base_cfg.prefix);

	struct backend *be = open_cfg(&base_cfg, &rc, err, sizeof(err));
	ok(be != NULL, "s3: open (%s)", be ? "ok" : err);
	if (!be)
		return tap_done();
	ok(be->caps == (BACKEND_CAP_RANGE_GET | BACKEND_CAP_COND_PUT | BACKEND_CAP_DURABLE),
	   "s3: caps");
	ok(!strcmp(be->ops->name, "s3") && backend_local_path(be, "k") == NULL,
	   "s3: ops name, no local_path");

	diag("conformance");
	conformance(be, "s3", open_more_s3, &base_cfg);
	diag("s3 specifics");
	test_ranges_more(be);
	test_prefix(&base_cfg, be);
	test_vhost(&base_cfg, be);
	test_multipart(be);
	test_paging(&base_cfg);
	test_open_errors(&base_cfg);

	is_int(wipe(be), 0, "cleanup: delete every key");
	backend_close(be);
	if (own_bucket)
		is_int(s3_bucket_delete(&base_cfg, err, sizeof(err)), 0, "cleanup: delete bucket");
	curl_global_cleanup();
	return tap_done();
}
