/* tests/test_embed_http.c - the "http" embedder (backends/embed_http.h)
 * against tests/fake_embed_server.py, which this test starts itself.
 * Skipped when python3 is missing.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "backends/embed_http.h"
#include "store/buf.h"
#include "tests/tap.h"

#define DIM 16
#define MODEL "test-model"
#define KEY "sk-test-0123456789abcdef" /* a fake key; never printed */

static pid_t srv_pid;
static int srv_port;
static char base_url[128];

/* ---- the server's deterministic vectors, recomputed (see vector() there) ---- */

static void expect_vec(const char *t, size_t len, float *v)
{
	uint64_t base = 0xcbf29ce484222325ULL;
	double x[DIM], norm = 0;

	for (size_t i = 0; i < len; i++)
		base = (base ^ (unsigned char)t[i]) * 0x100000001b3ULL;
	for (uint32_t j = 0; j < DIM; j++) {
		uint64_t h = base;

		for (int k = 0; k < 4; k++)
			h = (h ^ ((j >> (8 * k)) & 0xff)) * 0x100000001b3ULL;
		x[j] = (double)(h >> 11) / 9007199254740992.0 * 2.0 - 1.0;
		norm += x[j] * x[j];
	}
	norm = sqrt(norm);
	for (int j = 0; j < DIM; j++)
		v[j] = (float)(x[j] / norm);
}

static int vec_eq(const float *a, const float *b)
{
	for (int j = 0; j < DIM; j++)
		if (fabsf(a[j] - b[j]) > 1e-6f)
			return 0;
	return 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- talking to the server directly ---- */

static size_t collect(char *p, size_t size, size_t nmemb, void *arg)
{
	return buf_add(arg, p, size * nmemb) ? 0 : size * nmemb;
}

/* GET (json NULL) or POST json to path; the parsed reply or NULL. */
static cJSON *srv_call(const char *path, const char *json)
{
	struct buf b = BUF_INIT;
	char url[256];
	CURL *h = curl_easy_init();
	cJSON *j = NULL;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", srv_port, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (json)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
	if (curl_easy_perform(h) == CURLE_OK && b.data)
		j = cJSON_Parse(b.data);
	curl_easy_cleanup(h);
	buf_release(&b);
	return j;
}

static void control(const char *json)
{
	cJSON *j = srv_call("/control", json);

	if (!j)
		diag("control %s: no answer", json);
	cJSON_Delete(j);
}

/* An integer member of GET /stats. */
static long srv_stat(const char *name)
{
	cJSON *j = srv_call("/stats", NULL);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
	long r = cJSON_IsNumber(v) ? (long)v->valuedouble : -1;

	cJSON_Delete(j);
	return r;
}

/* ---- the server process ---- */

/* SRCDIR, else the directory of __FILE__ (relative paths are relative to
 * the build root, the parent of this binary's directory, or to the cwd). */
static int find_script(char *out, size_t len)
{
	const char *src = getenv("SRCDIR");
	char file[PATH_MAX], exe[PATH_MAX], *dir;
	ssize_t n;

	if (src) {
		snprintf(out, len, "%s/tests/fake_embed_server.py", src);
		if (!access(out, R_OK))
			return 0;
	}
	snprintf(file, sizeof(file), "%s", __FILE__);
	dir = dirname(file);
	if (dir[0] == '/') {
		snprintf(out, len, "%s/fake_embed_server.py", dir);
		return access(out, R_OK) ? -ENOENT : 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		snprintf(out, len, "%s/../../%s/fake_embed_server.py", dirname(exe), dir);
		if (!access(out, R_OK))
			return 0;
	}
	snprintf(out, len, "%s/fake_embed_server.py", dir);
	return access(out, R_OK) ? -ENOENT : 0;
}

static void start_server(void)
{
	char script[PATH_MAX + 64], line[32] = "";
	int fd[2], st;
	FILE *f;

	if (find_script(script, sizeof(script)))
		tap_skip_all("tests/fake_embed_server.py not found (set SRCDIR)");
	if (pipe(fd))
		tap_skip_all("pipe failed");
	fflush(stdout);
	srv_pid = fork();
	if (srv_pid == 0) {
		char dim[16];

		snprintf(dim, sizeof(dim), "%d", DIM);
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		execlp("python3", "python3", script, "--port", "0", "--dim", dim, "--model", MODEL,
		       "--key-env", "FAKE_EMBED_KEY", (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	if (!f || !fgets(line, sizeof(line), f) || atoi(line) <= 0) {
		if (f)
			fclose(f);
		waitpid(srv_pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
			tap_skip_all("python3 not found");
		printf("Bail out! fake_embed_server.py did not start\n");
		exit(1);
	}
	fclose(f);
	srv_port = atoi(line);
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d/v1/embeddings", srv_port);
	diag("fake server on port %d", srv_port);
}

static void stop_server(void)
{
	int st;

	kill(srv_pid, SIGTERM);
	waitpid(srv_pid, &st, 0);
}

/* ---- helpers ---- */

static void cfg_fast(struct embed_http_config *c)
{
	embed_http_config_init(c);
	c->url = base_url;
	c->model = MODEL;
	c->api_key = KEY;
	c->dim = DIM;
	c->timeout_s = 1;
	c->max_retries = 3;
	c->backoff_ms = 10;
}

static struct embedder *make(const struct embed_http_config *c)
{
	struct embedder *e = NULL;
	char err[256] = "";
	int rc = embed_http_new(c, &e, err, sizeof(err));

	if (rc)
		diag("embed_http_new: %d %s", rc, err);
	return e;
}

static int embed1(struct embedder *e, const char *t, float *v)
{
	size_t len = strlen(t);

	return embedder_embed(e, &t, &len, 1, v);
}

/* embed1 and compare with the expected vector. */
static int embed1_ok(struct embedder *e, const char *t)
{
	float v[DIM], want[DIM];

	expect_vec(t, strlen(t), want);
	return !embed1(e, t, v) && vec_eq(v, want);
}

/* ---- tests ---- */

static void test_config(void)
{
	struct embed_http_config c;
	struct embedder *e = (void *)1;
	char err[256] = "";
	int rc;

	cfg_fast(&c);
	c.url = "ftp://x/";
	rc = embed_http_new(&c, &e, err, sizeof(err));
	is_int(rc, -EINVAL, "non-http URL refused");
	ok(!e && err[0], "no embedder, an err line: %s", err);
	cfg_fast(&c);
	c.model = "";
	rc = embed_http_new(&c, &e, err, sizeof(err));
	is_int(rc, -EINVAL, "empty model refused");
	cfg_fast(&c);
	c.api_key = "a\r\nX-Evil: 1";
	rc = embed_http_new(&c, &e, err, sizeof(err));
	is_int(rc, -EINVAL, "key with a line break refused");
	ok(!strstr(err, "Evil"), "err does not echo the key");
	cfg_fast(&c);
	c.dim = 65537;
	rc = embed_http_new(&c, &e, err, sizeof(err));
	is_int(rc, -EINVAL, "dim 65537 refused");

	/* dim given: nothing is sent. */
	control("{\"reset\": true}");
	cfg_fast(&c);
	e = make(&c);
	ok(e && e->remote == 1 && !strcmp(e->name, "http") && e->dim == DIM, "embedder made");
	is_int(srv_stat("requests"), 0, "constructor with dim sends nothing");
	embedder_free(e);
}

static void test_vectors(void)
{
	const char *texts[] = { "hello world", "second text", "" };
	size_t lens[3] = { 11, 11, 0 };
	float v[3 * DIM], want[DIM];
	struct embed_http_config c;
	struct embedder *e;
	cJSON *last;
	const cJSON *auth, *model;
	int rc, same = 1;

	cfg_fast(&c);
	e = make(&c);
	rc = embedder_embed(e, texts, lens, 3, v);
	is_int(rc, 0, "3 texts embedded");
	for (int i = 0; i < 3; i++) {
		expect_vec(texts[i], lens[i], want);
		same &= vec_eq(v + i * DIM, want);
	}
	ok(same, "vectors equal the server's, in input order (server answers reversed)");
	last = srv_call("/last", NULL);
	auth = cJSON_GetObjectItemCaseSensitive(last, "authorization");
	model = cJSON_GetObjectItemCaseSensitive(last, "model");
	ok(cJSON_IsString(auth) && !strcmp(auth->valuestring, "Bearer " KEY),
	   "key sent as Authorization: Bearer");
	ok(cJSON_IsString(model) && !strcmp(model->valuestring, MODEL), "model sent");
	cJSON_Delete(last);

	/* Any bytes: NUL, quotes, controls, UTF-8, invalid UTF-8 (-> U+FFFD). */
	static const char raw[] = "a\0b\"c\\d\n\t\x01 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 "
				  "\xff\xc3( \xed\xa0\x80 \xc0\xaf";
	static const char fixed[] = "a\0b\"c\\d\n\t\x01 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 "
				    "\xef\xbf\xbd\xef\xbf\xbd( "
				    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
				    "\xef\xbf\xbd\xef\xbf\xbd";
	const char *t = raw;
	size_t tl = sizeof(raw) - 1;

	rc = embedder_embed(e, &t, &tl, 1, v);
	is_int(rc, 0, "binary text embedded");
	expect_vec(fixed, sizeof(fixed) - 1, want);
	ok(vec_eq(v, want), "server saw the text with invalid bytes as U+FFFD, the rest intact");
	embedder_free(e);
}

static void test_batching(void)
{
	enum { N = 200 };
	static char store[N][24];
	const char *texts[N];
	size_t lens[N];
	float *v = malloc(N * DIM * sizeof(float)), want[DIM];
	struct embed_http_stats s;
	struct embed_http_config c;
	struct embedder *e;
	cJSON *st;
	const cJSON *bs;
	int rc, same = 1;

	for (int i = 0; i < N; i++) {
		snprintf(store[i], sizeof(store[i]), "text %d", i);
		texts[i] = store[i];
		lens[i] = strlen(store[i]);
	}
	control("{\"reset\": true}");
	cfg_fast(&c);
	e = make(&c);
	rc = embedder_embed(e, texts, lens, N, v);
	is_int(rc, 0, "200 texts embedded");
	for (int i = 0; i < N; i++) {
		expect_vec(texts[i], lens[i], want);
		same &= vec_eq(v + i * DIM, want);
	}
	ok(same, "all 200 vectors right and in order");
	st = srv_call("/stats", NULL);
	bs = cJSON_GetObjectItemCaseSensitive(st, "batch_sizes");
	is_int(cJSON_GetArraySize(bs), 4, "4 requests of at most 64");
	ok(cJSON_GetArraySize(bs) == 4 && cJSON_GetArrayItem(bs, 0)->valueint == 64 &&
	   cJSON_GetArrayItem(bs, 3)->valueint == 8, "batches 64, 64, 64, 8");
	cJSON_Delete(st);
	embed_http_stats(e, &s);
	is_int(s.requests, 4, "stats: 4 requests");
	is_int(s.inputs, N, "stats: 200 inputs");
	is_int(s.retries + s.failures, 0, "stats: no retries, no failures");
	embedder_free(e);
	free(v);
}

struct worker {
	struct embedder *e;
	int id, good;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	char t[32];

	w->good = 1;
	for (int i = 0; i < 3; i++) {
		snprintf(t, sizeof(t), "thread %d text %d", w->id, i);
		w->good &= embed1_ok(w->e, t);
	}
	return NULL;
}

static void test_concurrency(void)
{
	enum { T = 6 };
	struct worker w[T];
	pthread_t th[T];
	struct embed_http_config c;
	struct embedder *e;
	double t0;
	long mx;
	int good = 1;

	control("{\"reset\": true, \"delay_ms\": 100}");
	cfg_fast(&c);
	c.max_concurrent = 2;
	e = make(&c);
	t0 = now_s();
	for (int i = 0; i < T; i++) {
		w[i] = (struct worker){ e, i, 0 };
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		good &= w[i].good;
	}
	t0 = now_s() - t0;
	control("{\"delay_ms\": 0}");
	ok(good, "6 threads x 3 calls: all vectors right");
	mx = srv_stat("max_inflight");
	ok(mx == 2, "at most 2 requests in flight, and 2 reached (max %ld)", mx);
	is_int(srv_stat("requests"), 18, "18 requests");
	ok(t0 >= 0.85, "18 requests of 100 ms over 2 slots took %.2f s (>= 0.9)", t0);
	embedder_free(e);
}

static void test_retries(void)
{
	struct embed_http_stats s;
	struct embed_http_config c;
	struct embedder *e;
	float v[DIM];
	double t;
	int rc;

	cfg_fast(&c);
	e = make(&c);

	control("{\"reset\": true, \"fail_next\": 2, \"status\": 503}");
	t = now_s();
	ok(embed1_ok(e, "retry me"), "503 x2 then success");
	t = now_s() - t;
	embed_http_stats(e, &s);
	is_int(s.requests, 3, "3 attempts");
	is_int(s.retries, 2, "2 retries counted");
	is_int(srv_stat("failures_injected"), 2, "server injected 2");
	diag("503 x2 retried in %.3f s", t);

	control("{\"reset\": true, \"fail_next\": 1, \"status\": 429, \"retry_after\": 1}");
	t = now_s();
	ok(embed1_ok(e, "slow down"), "429 then success");
	t = now_s() - t;
	ok(t >= 0.95 && t < 3, "Retry-After: 1 honoured (%.3f s, backoff base 10 ms)", t);
	diag("429 + Retry-After 1 took %.3f s", t);

	control("{\"reset\": true, \"fail_next\": 1, \"status\": 500}");
	ok(embed1_ok(e, "five hundred"), "500 then success");

	control("{\"reset\": true, \"hang_next\": 1, \"hang_seconds\": 3}");
	t = now_s();
	ok(embed1_ok(e, "hang"), "a hang past the 1 s timeout is retried, then succeeds");
	t = now_s() - t;
	ok(t >= 0.9 && t < 2.5, "hang: %.3f s (timeout 1 s + retry)", t);
	is_int(srv_stat("requests"), 2, "hang: 2 requests");
	diag("hang 3 s with timeout 1 s took %.3f s", t);

	control("{\"reset\": true, \"down\": true}");
	embed_http_stats(e, &s);
	uint64_t f0 = s.failures, r0 = s.requests;
	t = now_s();
	rc = embed1(e, "down", v);
	t = now_s() - t;
	is_int(rc, -EIO, "down for good: -EIO");
	is_int(srv_stat("requests"), 4, "1 + 3 retries sent");
	ok(t < 1.0, "gave up in %.3f s (3 retries, backoff 10 ms)", t);
	embed_http_stats(e, &s);
	is_int(s.failures - f0, 1, "failure counted");
	is_int(s.requests - r0, 4, "4 attempts counted");
	diag("down: -EIO after %.3f s", t);
	control("{\"down\": false}");
	ok(embed1_ok(e, "up again"), "works again once up");

	control("{\"reset\": true, \"wrong_dim_next\": 1}");
	rc = embed1(e, "wrong dim", v);
	is_int(rc, -EINVAL, "wrong dimension: -EINVAL");
	is_int(srv_stat("requests"), 1, "wrong dimension not retried");
	diag("(one LOG_ERR about the dimension above is expected)");
	rc = embed1(e, "wrong dim again", v);
	is_int(rc, 0, "next reply fine again");

	control("{\"reset\": true, \"bad_value_next\": 1}");
	rc = embed1(e, "bad value", v);
	is_int(rc, -EIO, "a value beyond float range: -EIO");
	is_int(srv_stat("requests"), 1, "not retried");
	embedder_free(e);
}

static void test_errors(void)
{
	struct embed_http_config c;
	struct embedder *e;
	float v[DIM];
	int rc, sock;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	char url[128];
	double t;

	cfg_fast(&c);
	c.model = "no-such-model";
	e = make(&c);
	control("{\"reset\": true}");
	rc = embed1(e, "x", v);
	is_int(rc, -EINVAL, "unknown model (404): -EINVAL");
	is_int(srv_stat("requests"), 1, "404 not retried");
	embedder_free(e);

	cfg_fast(&c);
	c.api_key = "sk-wrong";
	e = make(&c);
	control("{\"reset\": true}");
	rc = embed1(e, "x", v);
	is_int(rc, -EACCES, "wrong key (401): -EACCES");
	is_int(srv_stat("requests"), 1, "401 not retried");
	embedder_free(e);

	/* A closed port: connection refused, after the retries. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sock = socket(AF_INET, SOCK_STREAM, 0);
	bind(sock, (struct sockaddr *)&a, sizeof(a));
	getsockname(sock, (struct sockaddr *)&a, &al);
	close(sock);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
	cfg_fast(&c);
	c.url = url;
	e = make(&c);
	t = now_s();
	rc = embed1(e, "x", v);
	is_int(rc, -ECONNREFUSED, "nothing listening: -ECONNREFUSED");
	diag("refused after retries in %.3f s", now_s() - t);
	embedder_free(e);
}

static void test_learn_dim(void)
{
	struct embed_http_config c;
	struct embedder *e = NULL;
	char err[256] = "", url[128];
	int rc;

	cfg_fast(&c);
	c.dim = 0;
	e = make(&c);
	ok(e && e->dim == DIM, "dim 0: learned %u from a probe", e ? e->dim : 0);
	if (e)
		ok(embed1_ok(e, "after probe"), "embeds after learning");
	embedder_free(e);

	/* The URL rule: a bare base URL and ".../v1/" both reach /v1/embeddings. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv_port);
	c.url = url;
	e = make(&c);
	ok(e && e->dim == DIM, "base URL gets /v1/embeddings appended");
	embedder_free(e);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/", srv_port);
	e = make(&c);
	ok(e && e->dim == DIM, "URL ending in /v1/ gets /embeddings appended");
	embedder_free(e);

	control("{\"down\": true}");
	c.url = base_url;
	c.max_retries = 1;
	rc = embed_http_new(&c, &e, err, sizeof(err));
	is_int(rc, -EIO, "probe against a down server fails");
	ok(!e && err[0] && !strchr(err, '\n') && !strstr(err, KEY), "one-line err: %s", err);
	control("{\"down\": false}");

	/* Keys from the environment: OPENAI_API_KEY, then RAGFS_EMBED_KEY. */
	c.api_key = NULL;
	setenv("OPENAI_API_KEY", KEY, 1);
	e = make(&c);
	ok(e != NULL, "key from OPENAI_API_KEY");
	embedder_free(e);
	unsetenv("OPENAI_API_KEY");
	setenv("RAGFS_EMBED_KEY", KEY, 1);
	e = make(&c);
	ok(e != NULL, "key from RAGFS_EMBED_KEY");
	embedder_free(e);
	unsetenv("RAGFS_EMBED_KEY");
	rc = embed_http_new(&c, &e, err, sizeof(err));
	is_int(rc, -EACCES, "no key: the probe gets 401 -> -EACCES");
	ok(strstr(err, "OPENAI_API_KEY") != NULL, "err names the variables: %s", err);
}

int main(void)
{
	unsetenv("OPENAI_API_KEY");
	unsetenv("RAGFS_EMBED_KEY");
	setenv("FAKE_EMBED_KEY", KEY, 1); /* the server requires this key */
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	start_server();
	test_config();
	test_vectors();
	test_batching();
	test_concurrency();
	test_retries();
	test_errors();
	test_learn_dim();
	stop_server();
	curl_global_cleanup();
	return tap_done();
}
