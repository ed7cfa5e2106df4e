/* tests/test_hnsw.c - the HNSW graph (store/hnsw.c) against brute force:
 * recall@10 on clustered data, tombstones, filters, the search budget,
 * parallel batches, a search thread running beside inserts, the file
 * (save, map, keep inserting, save again) and damaged files refused.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "store/hnsw.h"
#include "tap.h"

#define K 10

static uint64_t rs = 88172645463325252ULL;

static double urand(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return ((rs >> 11) + 0.5) / 9007199254740992.0;
}

static float gauss(void)
{
	return (float)(sqrt(-2 * log(urand())) * cos(2 * M_PI * urand()));
}

/* Clustered, embedding-like: centre + low-rank variation + noise. */
static float *clustered(size_t n, uint32_t dim, unsigned ncent)
{
	float *c = malloc((size_t)ncent * dim * sizeof(float));
	float *basis = malloc((size_t)8 * dim * sizeof(float));
	float *x = malloc(n * dim * sizeof(float));
	for (size_t i = 0; i < (size_t)ncent * dim; i++)
		c[i] = gauss();
	for (size_t i = 0; i < (size_t)8 * dim; i++)
		basis[i] = gauss();
	for (size_t r = 0; r < n; r++) {
		const float *cj = c + (size_t)(urand() * ncent) % ncent * dim;
		float z[8];
		for (int j = 0; j < 8; j++)
			z[j] = gauss() * 0.7f / sqrtf(8.0f);
		for (uint32_t i = 0; i < dim; i++) {
			float v = cj[i] + 0.35f * gauss();
			for (int j = 0; j < 8; j++)
				v += z[j] * basis[j * dim + i];
			x[r * dim + i] = v;
		}
	}
	free(c);
	free(basis);
	return x;
}

static double cosd(const float *a, const float *b, uint32_t dim)
{
	double d = 0, na = 0, nb = 0;
	for (uint32_t i = 0; i < dim; i++) {
		d += (double)a[i] * b[i];
		na += (double)a[i] * a[i];
		nb += (double)b[i] * b[i];
	}
	return d / sqrt(na * nb);
}

/* Brute-force top K of rows passing keep (NULL: all), as row numbers. */
static size_t brute(const float *x, size_t n, uint32_t dim, const float *q,
		    const char *keep, size_t *out)
{
	double best[K];
	size_t len = 0;
	for (size_t r = 0; r < n; r++) {
		if (keep && !keep[r])
			continue;
		double s = cosd(x + r * dim, q, dim);
		if (len == K && s <= best[K - 1])
			continue;
		size_t i = len < K ? len++ : K - 1;
		while (i > 0 && best[i - 1] < s) {
			best[i] = best[i - 1];
			out[i] = out[i - 1];
			i--;
		}
		best[i] = s;
		out[i] = r;
	}
	return len;
}

static char **make_keys(size_t n, const char *prefix)
{
	char **k = malloc(n * sizeof(*k));
	for (size_t i = 0; i < n; i++)
		if (asprintf(&k[i], "%s%zu", prefix, i) < 0)
			abort();
	return k;
}

static void free_keys(char **k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(k[i]);
	free(k);
}

static size_t key_row(const char *key)
{
	return (size_t)strtoul(strpbrk(key, "0123456789"), NULL, 10);
}

/* Mean recall@K of the graph over nq queries against brute force. */
static double recall(struct hnsw *h, const float *x, size_t n, uint32_t dim, const float *qs,
		     size_t nq, size_t ef, const char *keep, hnsw_filter_fn f, void *ctx)
{
	double sum = 0;
	for (size_t qi = 0; qi < nq; qi++) {
		size_t want[K], nw = brute(x, n, dim, qs + qi * dim, keep, want), nh;
		struct hnsw_hit hits[K];
		if (hnsw_search(h, qs + qi * dim, K, ef, f, ctx, 0, hits, &nh, NULL))
			return -1;
		size_t hit = 0;
		for (size_t i = 0; i < nh; i++)
			for (size_t j = 0; j < nw; j++)
				hit += key_row(hits[i].key) == want[j];
		sum += nw ? (double)hit / nw : 1;
	}
	return sum / nq;
}

static int keep_even(void *ctx, uint32_t slot, const char *key)
{
	(void)ctx;
	(void)slot;
	return key_row(key) % 2 == 0;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

struct searcher {
	struct hnsw *h;
	const float *qs;
	uint32_t dim;
	atomic_int stop;
	int bad;
	size_t runs;
};

static void *search_loop(void *arg)
{
	struct searcher *s = arg;
	struct hnsw_hit hits[K];
	size_t nh;
	while (!atomic_load(&s->stop)) {
		const float *q = s->qs + (s->runs % 50) * s->dim;
		if (hnsw_search(s->h, q, K, 32, NULL, NULL, 0, hits, &nh, NULL))
			s->bad++;
		for (size_t i = 1; i < nh; i++)
			if (hits[i].dist < hits[i - 1].dist || !hits[i].key)
				s->bad++;
		s->runs++;
		usleep(200); /* leave the builder most of the CPU */
	}
	return NULL;
}

/* The file's header as hnsw.c writes it (pinned here on purpose: a change
 * of format must bump the version). */
struct hdr {
	char magic[8];
	uint32_t version, hdr_len;
	uint32_t dim, m, m0, efc;
	uint32_t entry;
	int32_t maxlevel;
	uint64_t n, ndeleted, rng, file_len;
	uint64_t off[9], len[9];
	char ident[64];
	uint32_t body_crc, hdr_crc;
};

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	char *b = malloc(*len);
	if (fread(b, 1, *len, f) != *len)
		abort();
	fclose(f);
	return b;
}

static void spit(const char *path, const char *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	fwrite(b, 1, len, f);
	fclose(f);
}

/* Rewrite both CRCs so only the structural checks can object. */
static void fix_crcs(char *b, size_t len)
{
	struct hdr h;
	memcpy(&h, b, sizeof(h));
	h.body_crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), (const Bytef *)b + 4096, (uInt)(len - 4096));
	h.hdr_crc = 0;
	h.hdr_crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), (const Bytef *)&h, sizeof(h));
	memcpy(b, &h, sizeof(h));
}

static int load_rc(const char *path, const struct hnsw_params *p, const char *ident,
		   char *why, size_t whylen)
{
	struct hnsw *h = NULL;
	int rc = hnsw_load(path, p, ident, &h, why, whylen);
	hnsw_free(h);
	return rc;
}

static int same_results(struct hnsw *a, struct hnsw *b, const float *qs, size_t nq,
			uint32_t dim)
{
	for (size_t qi = 0; qi < nq; qi++) {
		struct hnsw_hit ha[K], hb[K];
		size_t na, nb;
		if (hnsw_search(a, qs + qi * dim, K, 64, NULL, NULL, 0, ha, &na, NULL) ||
		    hnsw_search(b, qs + qi * dim, K, 64, NULL, NULL, 0, hb, &nb, NULL) || na != nb)
			return 0;
		for (size_t i = 0; i < na; i++)
			if (strcmp(ha[i].key, hb[i].key) || ha[i].dist != hb[i].dist)
				return 0;
	}
	return 1;
}

int main(void)
{
	const uint32_t dim = 64;
	const size_t n = 20000, nq = 200;
	char dir[] = "/tmp/test_hnsw.XXXXXX", path[256], why[200];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/g.bin", dir);
	diag("dot kernel: %s", hnsw_isa());

	float *x = clustered(n + nq, dim, 100);
	const float *qs = x + n * dim; /* queries: more rows of the same mixture */
	char **keys = make_keys(n, "node-");
	struct hnsw_params p = { .dim = dim, .m = 16, .ef_construction = 100, .seed = 7 };
	struct hnsw *h;
	is_int(hnsw_new(&p, &h), 0, "new");

	struct hnsw_hit hits[K];
	size_t nh = 99;
	is_int(hnsw_search(h, qs, K, 64, NULL, NULL, 0, hits, &nh, NULL), 0, "search of an empty graph");
	is_int(nh, 0, "finds nothing");

	/* Half one at a time, half in parallel batches, with a searcher running. */
	struct searcher sr = { .h = h, .qs = qs, .dim = dim };
	pthread_t tid;
	pthread_create(&tid, NULL, search_loop, &sr);
	double t0 = now();
	int rc = 0;
	for (size_t i = 0; i < n / 2 && !rc; i += 100)
		rc = hnsw_add(h, 100, (const char *const *)keys + i, x + i * dim, NULL, 1);
	is_int(rc, 0, "add 10k, one thread");
	double t1 = now();
	for (size_t i = n / 2; i < n && !rc; i += 1000)
		rc = hnsw_add(h, 1000, (const char *const *)keys + i, x + i * dim, NULL, 2);
	is_int(rc, 0, "add 10k more, batches on 2 threads");
	double t2 = now();
	atomic_store(&sr.stop, 1);
	pthread_join(tid, NULL);
	diag("build: %.0f nodes/s one thread, %.0f nodes/s two threads; %zu searches ran beside",
	     (n / 2) / (t1 - t0), (n / 2) / (t2 - t1), sr.runs);
	is_int(sr.bad, 0, "searches during inserts stayed well-formed");
	is_int(hnsw_count(h), n, "count");

	double r = recall(h, x, n, dim, qs, nq, 64, NULL, NULL, NULL);
	diag("recall@10 at ef=64: %.4f", r);
	ok(r >= 0.99, "recall@10 >= 0.99 at ef=64 on 20k x 64 clustered (%.4f)", r);
	double r16 = recall(h, x, n, dim, qs, nq, 16, NULL, NULL, NULL);
	ok(r16 <= r + 1e-9, "a smaller ef does not do better (ef=16: %.4f)", r16);

	/* Hits are nearest first with true distances. */
	is_int(hnsw_search(h, qs, K, 64, NULL, NULL, 0, hits, &nh, NULL), 0, "search");
	int sorted = nh == K;
	for (size_t i = 0; i < nh; i++) {
		double want = 1 - cosd(x + key_row(hits[i].key) * dim, qs, dim);
		sorted &= fabs(hits[i].dist - want) < 1e-4 && (!i || hits[i].dist >= hits[i - 1].dist);
	}
	ok(sorted, "hits sorted by distance, distance = 1 - cosine");
	is_int(hnsw_search(h, x, 1, 64, NULL, NULL, 0, hits, &nh, NULL), 0, "search a stored vector");
	ok(nh == 1 && !strcmp(hits[0].key, "node-0"), "a stored vector finds itself");

	/* Refusals. */
	float zero[64] = { 0 }, bad[64];
	memcpy(bad, x, sizeof(bad));
	bad[3] = NAN;
	is_int(hnsw_search(h, zero, K, 64, NULL, NULL, 0, hits, &nh, NULL), -EINVAL, "zero query");
	is_int(hnsw_search(h, bad, K, 64, NULL, NULL, 0, hits, &nh, NULL), -EINVAL, "NaN query");
	const char *k1[] = { "node-5" }, *k2[] = { "fresh" };
	is_int(hnsw_add(h, 1, k1, x, NULL, 1), -EEXIST, "a live key again: EEXIST");
	is_int(hnsw_add(h, 1, k2, bad, NULL, 1), -EINVAL, "NaN vector: EINVAL");
	is_int(hnsw_find(h, "fresh"), -ENOENT, "nothing added by a refused add");

	/* Filters: only even rows come back; recall against filtered brute force. */
	char *even = malloc(n);
	for (size_t i = 0; i < n; i++)
		even[i] = i % 2 == 0;
	r = recall(h, x, n, dim, qs, nq, 64, even, keep_even, NULL);
	diag("filtered (half pass) recall@10 at ef=64: %.4f", r);
	ok(r >= 0.98, "filtered recall@10 >= 0.98 (%.4f)", r);

	/* The budget stops a search early and says so. */
	int trunc = 0;
	is_int(hnsw_search(h, qs, K, 64, NULL, NULL, 20, hits, &nh, &trunc), 0, "budgeted search");
	ok(trunc == 1, "a 20-distance budget truncates");
	is_int(hnsw_search(h, qs, K, 64, NULL, NULL, 0, hits, &nh, &trunc), 0, "unbudgeted");
	ok(trunc == 0, "no budget, not truncated");

	/* Deletes: every third row is a tombstone. */
	char *live = malloc(n);
	size_t ndel = 0;
	rc = 0;
	for (size_t i = 0; i < n; i++) {
		live[i] = i % 3 != 0;
		if (!live[i]) {
			rc |= hnsw_remove(h, keys[i]);
			ndel++;
		}
	}
	is_int(rc, 0, "remove a third");
	is_int(hnsw_remove(h, keys[0]), -ENOENT, "remove twice: ENOENT");
	is_int(hnsw_count(h), n - ndel, "live count");
	is_int(hnsw_deleted(h), ndel, "tombstones");
	is_int(hnsw_find(h, keys[3]), -ENOENT, "a removed key is not found");
	int clean = 1;
	for (size_t qi = 0; qi < nq; qi++) {
		hnsw_search(h, qs + qi * dim, K, 64, NULL, NULL, 0, hits, &nh, NULL);
		for (size_t i = 0; i < nh; i++)
			clean &= live[key_row(hits[i].key)];
		clean &= nh == K;
	}
	ok(clean, "no tombstone is ever a hit, and k hits still come back");
	r = recall(h, x, n, dim, qs, nq, 64, live, NULL, NULL);
	diag("recall@10 with a third deleted: %.4f", r);
	ok(r >= 0.98, "recall@10 >= 0.98 with tombstones (%.4f)", r);
	/* A removed key comes back with another vector in a new slot. */
	const char *k3[] = { keys[3] };
	is_int(hnsw_add(h, 1, k3, qs, NULL, 1), 0, "re-add a removed key");
	is_int(hnsw_search(h, qs, 1, 64, NULL, NULL, 0, hits, &nh, NULL), 0, "search its vector");
	ok(nh == 1 && !strcmp(hits[0].key, keys[3]), "the re-added key is found by its new vector");
	ok(hnsw_find(h, keys[3]) == (long)n, "in a fresh slot");
	live[3] = 1;

	/* Persistence: save, load (mapped), same answers, then keep going. */
	double ts = now();
	is_int(hnsw_save(h, path, "store-1"), 0, "save");
	diag("save: %.3f s", now() - ts);
	struct hnsw *g = NULL;
	ts = now();
	is_int(hnsw_load(path, &p, "store-1", &g, why, sizeof(why)), 0, "load");
	diag("load: %.3f s (%s)", now() - ts, why);
	if (!g)
		return tap_done();
	is_int(hnsw_count(g), hnsw_count(h), "loaded live count");
	is_int(hnsw_deleted(g), hnsw_deleted(h), "loaded tombstones");
	is_int(hnsw_slots(g), hnsw_slots(h), "loaded slots");
	ok(same_results(h, g, qs, nq, dim), "loaded graph answers exactly as the saved one");
	uint64_t tag = 1;
	int del = 0;
	const char *key;
	is_int(hnsw_slot(g, 3, &key, NULL, &tag, &del), 0, "slot 3");
	ok(del && tag == 0, "slot 3 is a tombstone in the file");
	/* Inserting into a mapped graph changes private copies of its pages. */
	char **more = make_keys(3000, "more-");
	float *mx = clustered(3000, dim, 100);
	uint64_t *tags = calloc(3000, sizeof(*tags));
	for (size_t i = 0; i < 3000; i++)
		tags[i] = 1000 + i;
	is_int(hnsw_add(g, 3000, (const char *const *)more, mx, tags, 2), 0, "add 3000 to the loaded graph");
	is_int(hnsw_remove(g, keys[1]), 0, "remove from the loaded graph");
	is_int(hnsw_search(g, mx + 5 * dim, 1, 64, NULL, NULL, 0, hits, &nh, NULL), 0, "search");
	ok(nh == 1 && !strcmp(hits[0].key, "more-5"), "a new node is found in the loaded graph");
	struct hnsw *g2 = NULL;
	is_int(hnsw_load(path, &p, "store-1", &g2, why, sizeof(why)), 0, "the file is unchanged by that");
	is_int(hnsw_count(g2), n - ndel + 1, "its count is as saved");
	hnsw_free(g2);
	is_int(hnsw_save(g, path, "store-1"), 0, "save the grown graph over the mapped file");
	g2 = NULL;
	is_int(hnsw_load(path, &p, "store-1", &g2, why, sizeof(why)), 0, "load it");
	ok(g2 && hnsw_count(g2) == n - ndel + 1 + 3000 - 1, "count after the second round trip");
	ok(g2 && same_results(g, g2, mx, 50, dim), "same answers after the second round trip");
	long s5 = g2 ? hnsw_find(g2, "more-5") : -1;
	is_int(s5 >= 0 && hnsw_slot(g2, (uint32_t)s5, NULL, NULL, &tag, NULL) == 0 ? (long)tag : -1,
	       1005, "tags survive the file");
	hnsw_free(g2);
	hnsw_free(g);

	/* Damaged and foreign files are refused. */
	size_t len;
	char *img = slurp(path, &len), *b = malloc(len);
	char bad_path[300];
	snprintf(bad_path, sizeof(bad_path), "%s/bad.bin", dir);
	struct hnsw_params p2 = p;
	p2.m = 8;
	is_int(load_rc(path, &p, "store-2", why, sizeof(why)), -ESTALE, "another ident: ESTALE");
	is_int(load_rc(path, &p2, "store-1", why, sizeof(why)), -ESTALE, "another m: ESTALE");
	snprintf(bad_path, sizeof(bad_path), "%s/none.bin", dir);
	is_int(load_rc(bad_path, &p, "store-1", why, sizeof(why)), -ENOENT, "no file: ENOENT");
	snprintf(bad_path, sizeof(bad_path), "%s/bad.bin", dir);
	memcpy(b, img, len);
	b[4096 + len / 2 - 2048] ^= 0x40;
	spit(bad_path, b, len);
	is_int(load_rc(bad_path, &p, "store-1", why, sizeof(why)), -EBADMSG, "a flipped body bit: EBADMSG");
	diag("%s", why);
	memcpy(b, img, len);
	b[20] ^= 1;
	spit(bad_path, b, len);
	is_int(load_rc(bad_path, &p, "store-1", why, sizeof(why)), -EBADMSG, "a flipped header bit: EBADMSG");
	spit(bad_path, img, len - 100);
	is_int(load_rc(bad_path, &p, "store-1", why, sizeof(why)), -EBADMSG, "a torn file: EBADMSG");
	spit(bad_path, img, 100);
	is_int(load_rc(bad_path, &p, "store-1", why, sizeof(why)), -EBADMSG, "a stub: EBADMSG");
	memcpy(b, img, len);
	memcpy(b, "NOTHNSW", 8);
	spit(bad_path, b, len);
	is_int(load_rc(bad_path, &p, "store-1", why, sizeof(why)), -EBADMSG, "wrong magic: EBADMSG");
	/* Valid checksums over nonsense: the structural checks catch it. */
	struct hdr hd;
	memcpy(&hd, img, sizeof(hd));
	memcpy(b, img, len);
	uint32_t *l0 = (uint32_t *)(b + hd.off[1]);
	l0[0] = 1;
	l0[1] = 0x7fffffff;
	fix_crcs(b, len);
	spit(bad_path, b, len);
	is_int(load_rc(bad_path, &p, "store-1", why, sizeof(why)), -EBADMSG, "a link past the end: EBADMSG");
	diag("%s", why);
	memcpy(b, img, len);
	((uint64_t *)(b + hd.off[7]))[2] = hd.len[8] + 5;
	fix_crcs(b, len);
	spit(bad_path, b, len);
	is_int(load_rc(bad_path, &p, "store-1", why, sizeof(why)), -EBADMSG, "a key past the end: EBADMSG");
	memcpy(b, img, len);
	((uint8_t *)(b + hd.off[2]))[7] = 40;
	fix_crcs(b, len);
	spit(bad_path, b, len);
	is_int(load_rc(bad_path, &p, "store-1", why, sizeof(why)), -EBADMSG, "a level past the top: EBADMSG");
	memcpy(b, img, len);
	uint64_t n1 = hd.n + 1;
	memcpy(b + offsetof(struct hdr, n), &n1, 8);
	fix_crcs(b, len);
	spit(bad_path, b, len);
	is_int(load_rc(bad_path, &p, "store-1", why, sizeof(why)), -EBADMSG, "a wrong slot count: EBADMSG");
	free(b);
	free(img);

	/* An empty graph round-trips too. */
	struct hnsw *e = NULL;
	hnsw_new(&p, &e);
	is_int(hnsw_save(e, path, "store-1"), 0, "save an empty graph");
	hnsw_free(e);
	e = NULL;
	is_int(hnsw_load(path, &p, "store-1", &e, why, sizeof(why)), 0, "load it");
	ok(e && hnsw_count(e) == 0, "empty after loading");
	const char *k4[] = { "first" };
	is_int(e ? hnsw_add(e, 1, k4, x, NULL, 1) : -1, 0, "add to it");
	hnsw_free(e);

	unlink(path);
	unlink(bad_path);
	rmdir(dir);
	free(even);
	free(live);
	free(tags);
	free(mx);
	free_keys(more, 3000);
	free_keys(keys, n);
	free(x);
	hnsw_free(h);
	return tap_done();
}
