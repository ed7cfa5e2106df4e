/* tests/test_backend.c - conformance tests for store/backend.h implementations
 * (backends/mem.c, backends/local.c) and the STORE URI parser (backends/uri.c).
 *
 * The same body runs against every backend; local-only checks (files on disk,
 * modes, temp files, local_path) follow it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/backends.h"
#include "tests/tap.h"

/* ------------------------------------------------------------ helpers */

static int put_str(struct backend *be, const char *key, const char *s)
{
	return backend_put(be, key, s, strlen(s), NULL, NULL);
}

/* get into a fresh buffer and compare with want (wlen bytes). */
static int get_is(struct backend *be, const char *key, uint64_t off, uint64_t len,
		  const void *want, size_t wlen)
{
	struct buf b = BUF_INIT;
	int rc = backend_get(be, key, off, len, &b, NULL);
	int same = rc == 0 && b.len == wlen && (!wlen || !memcmp(b.data, want, wlen));
	if (!same)
		diag("get %s [%llu,+%llu]: rc %d len %zu", key, (unsigned long long)off,
		     (unsigned long long)len, rc, b.len);
	buf_release(&b);
	return same;
}

struct list_rec {
	char keys[32][BACKEND_KEY_MAX + 1];
	uint64_t sizes[32];
	int n;
	int stop_after; /* 0: never */
	int etags_ok;
};

static int rec_fn(const char *key, const struct obj_meta *meta, void *ctx)
{
	struct list_rec *r = ctx;
	if (r->n < 32) {
		snprintf(r->keys[r->n], sizeof(r->keys[r->n]), "%s", key);
		r->sizes[r->n] = meta->size;
	}
	if (!meta->etag[0])
		r->etags_ok = 0;
	r->n++;
	if (r->stop_after && r->n >= r->stop_after)
		return 42;
	return 0;
}

/* List prefix and compare with the NULL-terminated want[]. */
static int list_is(struct backend *be, const char *prefix, const char *const *want)
{
	struct list_rec *r = calloc(1, sizeof(*r));
	r->etags_ok = 1;
	int rc = backend_list(be, prefix, rec_fn, r);
	int good = rc == 0 && r->etags_ok;
	int i = 0;
	for (; want[i]; i++)
		if (i >= r->n || strcmp(r->keys[i], want[i]))
			good = 0;
	if (i != r->n)
		good = 0;
	if (!good) {
		diag("list \"%s\": rc %d, %d keys:", prefix, rc, r->n);
		for (int j = 0; j < r->n && j < 32; j++)
			diag("  %s", r->keys[j]);
	}
	free(r);
	return good;
}

/* ------------------------------------------------------------ races */

#define RACE_THREADS 8
#define RACE_ROUNDS 25

struct race {
	struct backend *be[RACE_THREADS]; /* per thread (local: own lock fd) */
	pthread_barrier_t bar;
	int round;
	int match; /* 0: IF_NONE_MATCH on a new key, 1: IF_MATCH on etag */
	char etag[BACKEND_ETAG_MAX];
	int rc[RACE_THREADS];
};

struct race_arg {
	struct race *r;
	int id;
};

static void *race_thread(void *p)
{
	struct race_arg *a = p;
	struct race *r = a->r;
	char key[64], val[32];
	for (int round = 0; round < RACE_ROUNDS; round++) {
		pthread_barrier_wait(&r->bar); /* main set up the round */
		snprintf(key, sizeof(key), "race/%d/k", round);
		snprintf(val, sizeof(val), "thread %d", a->id);
		struct put_cond c = { r->match ? PUT_IF_MATCH : PUT_IF_NONE_MATCH, r->etag };
		r->rc[a->id] = backend_put(r->be[a->id], key, val, strlen(val), &c, NULL);
		pthread_barrier_wait(&r->bar); /* main checks */
	}
	return NULL;
}

static void test_races(struct backend **bes, const char *name, int match)
{
	struct race *r = calloc(1, sizeof(*r));
	struct race_arg args[RACE_THREADS];
	pthread_t th[RACE_THREADS];
	int all_one = 1, all_value = 1, all_lost = 1;

	r->match = match;
	pthread_barrier_init(&r->bar, NULL, RACE_THREADS + 1);
	for (int i = 0; i < RACE_THREADS; i++) {
		r->be[i] = bes[i];
		args[i] = (struct race_arg){ r, i };
		pthread_create(&th[i], NULL, race_thread, &args[i]);
	}
	for (int round = 0; round < RACE_ROUNDS; round++) {
		char key[64], val[32];
		struct obj_meta m;
		snprintf(key, sizeof(key), "race/%d/k", round);
		if (match) {
			put_str(bes[0], key, "base");
			backend_head(bes[0], key, &m);
			snprintf(r->etag, sizeof(r->etag), "%s", m.etag);
		} else {
			backend_del(bes[0], key);
		}
		pthread_barrier_wait(&r->bar);
		pthread_barrier_wait(&r->bar);
		int winners = 0, winner = -1;
		for (int i = 0; i < RACE_THREADS; i++) {
			if (r->rc[i] == 0) {
				winners++;
				winner = i;
			} else if (r->rc[i] != -ECANCELED) {
				all_lost = 0;
				diag("%s round %d thread %d: rc %d", name, round, i, r->rc[i]);
			}
		}
		if (winners != 1) {
			all_one = 0;
			diag("%s round %d: %d winners", name, round, winners);
			continue;
		}
		snprintf(val, sizeof(val), "thread %d", winner);
		if (!get_is(bes[0], key, 0, BACKEND_RANGE_ALL, val, strlen(val)))
			all_value = 0;
	}
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&r->bar);
	free(r);
	ok(all_one, "%s: %s race, exactly one winner in each of %d rounds", name,
	   match ? "if-match" : "if-none-match", RACE_ROUNDS);
	ok(all_lost, "%s: %s race, losers get -ECANCELED", name,
	   match ? "if-match" : "if-none-match");
	ok(all_value, "%s: %s race, stored value is the winner's", name,
	   match ? "if-match" : "if-none-match");
}

/* ------------------------------------------------------------ conformance */

/* open_more gives other handles on the same store (NULL for mem: reuse). */
static void conformance(struct backend *be, const char *name,
			struct backend *(*open_more)(void *), void *more_ctx)
{
	struct buf b = BUF_INIT;
	struct obj_meta m, m2;
	int rc;

	/* missing keys */
	is_int(backend_get(be, "nope", 0, BACKEND_RANGE_ALL, &b, NULL), -ENOENT,
	       "missing key: get -ENOENT");
	is_int(backend_head(be, "nope", &m), -ENOENT, "missing key: head -ENOENT");
	is_int(backend_get(be, "no/such/dir", 0, BACKEND_RANGE_ALL, &b, NULL), -ENOENT,
	       "missing nested key: get -ENOENT");
	is_int(backend_del(be, "nope"), 0, "missing key: del is 0");
	is_int(b.len, 0, "failed get leaves the buffer alone");

	/* round trip */
	memset(&m, 0, sizeof(m));
	rc = backend_put(be, "k1", "hello", 5, NULL, &m);
	is_int(rc, 0, "put k1");
	is_int(m.size, 5, "put meta_out size");
	ok(m.etag[0], "%s: put meta_out etag \"%s\"", name, m.etag);
	memset(&m2, 0, sizeof(m2));
	rc = backend_get(be, "k1", 0, BACKEND_RANGE_ALL, &b, &m2);
	ok(rc == 0 && b.len == 5 && !memcmp(b.data, "hello", 5), "%s: get k1 round trip",
	   name);
	ok(b.data && b.data[b.len] == '\0', "%s: get NUL-terminates the buffer", name);
	ok(m2.size == 5 && !strcmp(m2.etag, m.etag), "%s: get meta matches put meta", name);
	ok(m2.mtime_ns > 0, "%s: mtime set", name);
	memset(&m2, 0, sizeof(m2));
	ok(backend_head(be, "k1", &m2) == 0 && m2.size == 5 && !strcmp(m2.etag, m.etag),
	   "%s: head matches put", name);
	buf_reset(&b);

	/* get appends */
	buf_adds(&b, "X");
	rc = backend_get(be, "k1", 1, 3, &b, NULL);
	ok(rc == 0 && b.len == 4 && !memcmp(b.data, "Xell", 4), "%s: get appends to out",
	   name);
	buf_release(&b);

	/* empty value */
	is_int(backend_put(be, "empty", NULL, 0, NULL, &m2), 0, "put empty value");
	is_int(m2.size, 0, "empty value meta size 0");
	ok(get_is(be, "empty", 0, BACKEND_RANGE_ALL, "", 0), "%s: get empty value", name);
	ok(get_is(be, "empty", 0, 0, "", 0), "%s: zero-length range of empty value", name);
	memset(&m2, 0xff, sizeof(m2));
	ok(backend_head(be, "empty", &m2) == 0 && m2.size == 0, "%s: head empty value", name);

	/* binary bytes, including NULs */
	unsigned char bin[1024];
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 7 + (i >> 8));
	bin[0] = 0;
	is_int(backend_put(be, "bin/blob", bin, sizeof(bin), NULL, NULL), 0, "put binary");
	ok(get_is(be, "bin/blob", 0, BACKEND_RANGE_ALL, bin, sizeof(bin)),
	   "%s: binary round trip", name);

	/* overwrite */
	is_int(backend_put(be, "k1", "world!!", 7, NULL, &m2), 0, "overwrite k1");
	ok(get_is(be, "k1", 0, BACKEND_RANGE_ALL, "world!!", 7), "%s: overwrite visible",
	   name);
	ok(strcmp(m.etag, m2.etag), "%s: overwrite changes etag (%s -> %s)", name, m.etag,
	   m2.etag);
	is_int(backend_put(be, "k1", "hi", 2, NULL, NULL), 0, "overwrite with shorter");
	ok(get_is(be, "k1", 0, BACKEND_RANGE_ALL, "hi", 2), "%s: shorter overwrite truncates",
	   name);

	/* ranges */
	put_str(be, "r", "0123456789");
	ok(get_is(be, "r", 2, 3, "234", 3), "%s: range in the middle", name);
	ok(get_is(be, "r", 0, 1, "0", 1), "%s: range at the start", name);
	ok(get_is(be, "r", 7, 100, "789", 3), "%s: range past the end is clipped", name);
	ok(get_is(be, "r", 7, BACKEND_RANGE_ALL, "789", 3), "%s: off + RANGE_ALL", name);
	ok(get_is(be, "r", 9, UINT64_MAX - 3, "9", 1), "%s: off + len overflow is clipped",
	   name);
	ok(get_is(be, "r", 10, 5, "", 0), "%s: off == size gives empty, rc 0", name);
	ok(get_is(be, "r", 4, 0, "", 0), "%s: len 0 gives empty", name);
	memset(&m2, 0, sizeof(m2));
	rc = backend_get(be, "r", 2, 3, &b, &m2);
	ok(rc == 0 && m2.size == 10, "%s: ranged get meta has the full size", name);
	buf_release(&b);
	rc = backend_get(be, "r", 11, 1, &b, NULL);
	ok(rc < 0 && rc != -ENOENT && b.len == 0, "%s: off > size is an error (%d)", name, rc);

	/* out->max */
	b.max = 4;
	is_int(backend_get(be, "r", 0, BACKEND_RANGE_ALL, &b, NULL), -EFBIG,
	       "get over out->max is -EFBIG");
	is_int(b.len, 0, "-EFBIG leaves the buffer unchanged");
	is_int(backend_get(be, "r", 3, 4, &b, NULL), 0, "range within out->max");
	ok(b.len == 4 && !memcmp(b.data, "3456", 4), "%s: capped range bytes", name);
	is_int(backend_get(be, "r", 0, 1, &b, NULL), -EFBIG, "append past out->max -EFBIG");
	buf_release(&b);
	b.max = 0;

	/* list: order and prefix isolation */
	static const char *const lkeys[] = { "l/ab", "l/a/bc", "l/a/b", "l/a-b", "l/a/c/d",
					     "l/b", "l/a/b.x", NULL };
	for (int i = 0; lkeys[i]; i++)
		backend_put(be, lkeys[i], lkeys[i], strlen(lkeys[i]), NULL, NULL);
	ok(list_is(be, "l/", (const char *const[]){ "l/a-b", "l/a/b", "l/a/b.x", "l/a/bc",
						     "l/a/c/d", "l/ab", "l/b", NULL }),
	   "%s: list l/ in strcmp order", name);
	ok(list_is(be, "l/a/b", (const char *const[]){ "l/a/b", "l/a/b.x", "l/a/bc", NULL }),
	   "%s: list l/a/b (string prefix, not a directory)", name);
	ok(list_is(be, "l/a/b/", (const char *const[]){ NULL }),
	   "%s: list l/a/b/ is empty", name);
	ok(list_is(be, "l/a", (const char *const[]){ "l/a-b", "l/a/b", "l/a/b.x", "l/a/bc",
						      "l/a/c/d", "l/ab", NULL }),
	   "%s: list l/a", name);
	ok(list_is(be, "l/a/", (const char *const[]){ "l/a/b", "l/a/b.x", "l/a/bc",
						       "l/a/c/d", NULL }),
	   "%s: list l/a/", name);
	ok(list_is(be, "l/a/c", (const char *const[]){ "l/a/c/d", NULL }),
	   "%s: list l/a/c", name);
	ok(list_is(be, "l/ab", (const char *const[]){ "l/ab", NULL }), "%s: list l/ab", name);
	ok(list_is(be, "l/zz", (const char *const[]){ NULL }), "%s: list no match", name);
	ok(list_is(be, "l/a//", (const char *const[]){ NULL }), "%s: list l/a// is empty",
	   name);
	ok(list_is(be, "l/../l/", (const char *const[]){ NULL }),
	   "%s: list with .. matches nothing", name);
	ok(list_is(be, "bin", (const char *const[]){ "bin/blob", NULL }), "%s: list bin",
	   name);
	ok(list_is(be, "", (const char *const[]){ "bin/blob", "empty", "k1", "l/a-b", "l/a/b",
						   "l/a/b.x", "l/a/bc", "l/a/c/d", "l/ab",
						   "l/b", "r", NULL }),
	   "%s: list everything (no internal files)", name);
	{
		struct list_rec *r = calloc(1, sizeof(*r));
		backend_list(be, "l/a/", rec_fn, r);
		ok(r->n == 4 && r->sizes[0] == 5 && r->sizes[3] == 7,
		   "%s: list passes sizes", name);
		memset(r, 0, sizeof(*r));
		r->stop_after = 2;
		rc = backend_list(be, "l/", rec_fn, r);
		is_int(rc, 42, "list returns fn's non-zero value");
		is_int(r->n, 2, "list stops after fn returns non-zero");
		free(r);
	}

	/* del */
	is_int(backend_del(be, "l/a/c/d"), 0, "del l/a/c/d");
	is_int(backend_del(be, "l/a/c/d"), 0, "del again is 0");
	is_int(backend_get(be, "l/a/c/d", 0, BACKEND_RANGE_ALL, &b, NULL), -ENOENT,
	       "deleted key: get -ENOENT");
	is_int(backend_head(be, "l/a/c/d", NULL), -ENOENT, "deleted key: head -ENOENT");
	ok(list_is(be, "l/a/", (const char *const[]){ "l/a/b", "l/a/b.x", "l/a/bc", NULL }),
	   "%s: del leaves siblings", name);
	is_int(backend_del(be, "l/a"), 0, "del of a 'directory' key is 0");
	ok(get_is(be, "l/a/b", 0, BACKEND_RANGE_ALL, "l/a/b", 5), "%s: and removes nothing",
	   name);
	is_int(backend_put(be, "l/a/c/d", "again", 5, NULL, NULL), 0,
	       "put again under a removed directory");
	for (int i = 0; lkeys[i]; i++)
		backend_del(be, lkeys[i]);
	ok(list_is(be, "l", (const char *const[]){ NULL }), "%s: all l/ keys deleted", name);

	/* conditional puts */
	struct put_cond none = { PUT_IF_NONE_MATCH, NULL };
	is_int(backend_put(be, "c1", "one", 3, &none, &m), 0, "if-none-match creates");
	is_int(backend_put(be, "c1", "two", 3, &none, NULL), -ECANCELED,
	       "if-none-match on existing key -ECANCELED");
	ok(get_is(be, "c1", 0, BACKEND_RANGE_ALL, "one", 3), "%s: failed put changed nothing",
	   name);
	struct put_cond match = { PUT_IF_MATCH, m.etag };
	is_int(backend_put(be, "c1", "two", 3, &match, &m2), 0, "if-match right etag");
	ok(get_is(be, "c1", 0, BACKEND_RANGE_ALL, "two", 3), "%s: if-match put visible", name);
	ok(strcmp(m.etag, m2.etag), "%s: if-match put gives a new etag", name);
	is_int(backend_put(be, "c1", "three", 5, &match, NULL), -ECANCELED,
	       "if-match stale etag -ECANCELED");
	struct put_cond bogus = { PUT_IF_MATCH, "bogus" };
	is_int(backend_put(be, "c1", "three", 5, &bogus, NULL), -ECANCELED,
	       "if-match wrong etag -ECANCELED");
	ok(get_is(be, "c1", 0, BACKEND_RANGE_ALL, "two", 3), "%s: failed if-match changed "
	   "nothing", name);
	is_int(backend_put(be, "c-missing", "x", 1, &match, NULL), -ECANCELED,
	       "if-match on missing key -ECANCELED");
	is_int(backend_head(be, "c-missing", NULL), -ENOENT, "and did not create it");
	struct put_cond noetag = { PUT_IF_MATCH, NULL };
	is_int(backend_put(be, "c1", "x", 1, &noetag, NULL), -EINVAL,
	       "if-match without etag -EINVAL");
	struct put_cond always = { PUT_ALWAYS, NULL };
	is_int(backend_put(be, "c1", "four", 4, &always, &m), 0, "PUT_ALWAYS cond");
	match.etag = m.etag;
	is_int(backend_put(be, "c1", "five", 4, &match, NULL), 0,
	       "if-match with the etag PUT_ALWAYS returned");
	backend_del(be, "c1");
	is_int(backend_put(be, "c1", "six", 3, &none, NULL), 0,
	       "if-none-match after del creates");
	backend_del(be, "c1");

	/* concurrent conditional puts */
	struct backend *bes[RACE_THREADS];
	bes[0] = be;
	for (int i = 1; i < RACE_THREADS; i++) {
		bes[i] = open_more ? open_more(more_ctx) : be;
		if (!bes[i])
			bes[i] = be;
	}
	test_races(bes, name, 0);
	test_races(bes, name, 1);
	for (int i = 1; i < RACE_THREADS; i++)
		if (bes[i] != be)
			backend_close(bes[i]);
	for (int i = 0; i < RACE_ROUNDS; i++) {
		char key[64];
		snprintf(key, sizeof(key), "race/%d/k", i);
		backend_del(be, key);
	}
	ok(list_is(be, "race", (const char *const[]){ NULL }), "%s: race keys deleted", name);

	/* invalid keys */
	static const char *const bad[] = { "", "/a", "a/", "a//b", ".", "..", "./a", "a/.",
					   "a/./b", "../a", "a/..", "a/../b", "/", NULL };
	int all_inval = 1;
	for (int i = 0; bad[i]; i++) {
		int r1 = backend_put(be, bad[i], "x", 1, NULL, NULL);
		int r2 = backend_get(be, bad[i], 0, BACKEND_RANGE_ALL, &b, NULL);
		int r3 = backend_head(be, bad[i], NULL);
		int r4 = backend_del(be, bad[i]);
		if (r1 != -EINVAL || r2 != -EINVAL || r3 != -EINVAL || r4 != -EINVAL) {
			all_inval = 0;
			diag("key \"%s\": put %d get %d head %d del %d", bad[i], r1, r2, r3, r4);
		}
	}
	ok(all_inval, "%s: invalid keys give -EINVAL for put/get/head/del", name);
	char *longkey = malloc(BACKEND_KEY_MAX + 2);
	/* components of 99 chars + '/', so local file names stay < NAME_MAX */
	for (size_t i = 0; i < BACKEND_KEY_MAX + 1; i++)
		longkey[i] = i % 100 == 99 ? '/' : 'a' + (char)(i % 26);
	longkey[BACKEND_KEY_MAX + 1] = '\0';
	is_int(backend_put(be, longkey, "x", 1, NULL, NULL), -EINVAL,
	       "key longer than BACKEND_KEY_MAX -EINVAL");
	longkey[BACKEND_KEY_MAX] = '\0';
	is_int(backend_put(be, longkey, "max", 3, NULL, NULL), 0,
	       "key of exactly BACKEND_KEY_MAX bytes");
	ok(get_is(be, longkey, 0, BACKEND_RANGE_ALL, "max", 3), "%s: long key round trip",
	   name);
	is_int(backend_del(be, longkey), 0, "del long key");
	free(longkey);
	is_int(backend_put(be, "sp ace/ünï €", "u", 1, NULL, NULL), 0,
	       "spaces and UTF-8 in keys");
	ok(get_is(be, "sp ace/ünï €", 0, 1, "u", 1), "%s: UTF-8 key round trip", name);
	backend_del(be, "sp ace/ünï €");
	buf_release(&b);

	/* stats: the dispatchers count, backends must not double count */
	struct backend_stats s0 = be->stats;
	put_str(be, "st", "12345");
	backend_get(be, "st", 0, BACKEND_RANGE_ALL, &b, NULL);
	backend_get(be, "st", 1, 2, &b, NULL);
	backend_head(be, "st", NULL);
	backend_list(be, "st", rec_fn, &(struct list_rec){ 0 });
	backend_del(be, "st");
	backend_get(be, "st", 0, BACKEND_RANGE_ALL, &b, NULL); /* ENOENT: no error */
	backend_put(be, "st", "x", 1, &match, NULL);          /* ECANCELED: no error */
	buf_release(&b);
	is_int(be->stats.puts - s0.puts, 2, "stats puts");
	is_int(be->stats.gets - s0.gets, 3, "stats gets");
	is_int(be->stats.heads - s0.heads, 1, "stats heads");
	is_int(be->stats.lists - s0.lists, 1, "stats lists");
	is_int(be->stats.dels - s0.dels, 1, "stats dels");
	is_int(be->stats.bytes_out - s0.bytes_out, 5, "stats bytes_out");
	is_int(be->stats.bytes_in - s0.bytes_in, 7, "stats bytes_in");
	is_int(be->stats.errors - s0.errors, 0, "ENOENT/ECANCELED are not errors");
	backend_get(be, "../x", 0, BACKEND_RANGE_ALL, &b, NULL);
	backend_put(be, "../x", "x", 1, NULL, NULL);
	is_int(be->stats.errors - s0.errors, 2, "stats errors");

	ok(list_is(be, "", (const char *const[]){ "bin/blob", "empty", "k1", "r", NULL }),
	   "%s: only the expected keys are left", name);
}

/* ------------------------------------------------------------ local only */

static const char *local_root;

static struct backend *open_local_again(void *ctx)
{
	struct backend *be = NULL;
	if (local_backend_open(ctx, &be))
		return NULL;
	return be;
}

static int bad_tmp, bad_file_mode, bad_dir_mode, n_files;

static int scan_fn(const char *path, const struct stat *st, int type, struct FTW *f)
{
	const char *base = path + f->base;
	if (!strncmp(base, ".tmp.", 5)) {
		bad_tmp++;
		diag("temp file left: %s", path);
	}
	if (type == FTW_F) {
		n_files++;
		if ((st->st_mode & 07777) != 0600) {
			bad_file_mode++;
			diag("mode %o: %s", st->st_mode & 07777, path);
		}
	} else if (type == FTW_D && f->level > 0 && (st->st_mode & 07777) != 0700) {
		bad_dir_mode++;
		diag("mode %o: %s", st->st_mode & 07777, path);
	}
	return 0;
}

static int rm_fn(const char *path, const struct stat *st, int type, struct FTW *f)
{
	return remove(path);
}

static void local_checks(struct backend *be, const char *root)
{
	struct obj_meta m;

	ok(be->caps == (BACKEND_CAP_RANGE_GET | BACKEND_CAP_COND_PUT |
			BACKEND_CAP_LOCAL_FILES | BACKEND_CAP_DURABLE),
	   "local: caps");
	ok(!strcmp(be->ops->name, "local"), "local: ops name");

	bad_tmp = bad_file_mode = bad_dir_mode = n_files = 0;
	nftw(root, scan_fn, 16, FTW_PHYS);
	is_int(bad_tmp, 0, "local: no temp files left behind");
	is_int(bad_file_mode, 0, "local: object files are 0600");
	is_int(bad_dir_mode, 0, "local: directories are 0700");
	is_int(n_files, 5, "local: 4 objects + .lock on disk");

	char *p = backend_local_path(be, "bin/blob");
	char *want = NULL;
	ok(asprintf(&want, "%s/bin/blob", root) > 0 && p && !strcmp(p, want),
	   "local: local_path is root/key (%s)", p ? p : "NULL");
	free(want);
	char data[16] = { 0 };
	int fd = p ? open(p, O_RDONLY) : -1;
	ok(fd >= 0 && read(fd, data, sizeof(data)) == 16 && data[0] == 0 &&
	   data[1] == 7, "local: local_path file holds the bytes");
	if (fd >= 0)
		close(fd);
	free(p);
	p = backend_local_path(be, "k1");
	ok(p != NULL, "local: local_path of k1");
	free(p);
	ok(backend_local_path(be, "nope") == NULL, "local: local_path of missing key is NULL");
	ok(backend_local_path(be, "../x") == NULL, "local: local_path of bad key is NULL");

	backend_head(be, "k1", &m);
	unsigned long long a, b2, c;
	char tail;
	ok(sscanf(m.etag, "%llx-%llx-%llx%c", &a, &b2, &c, &tail) == 3 && a == m.size &&
	   (long long)b2 == m.mtime_ns, "local: etag is size-mtime-ino in hex (%s)", m.etag);

	/* names the backend keeps for itself */
	is_int(backend_put(be, ".lock", "x", 1, NULL, NULL), -EINVAL, "local: .lock key");
	is_int(backend_put(be, ".lock/x", "x", 1, NULL, NULL), -EINVAL, "local: .lock/ key");
	is_int(backend_put(be, "a/.tmp.1", "x", 1, NULL, NULL), -EINVAL, "local: .tmp. key");
	is_int(backend_put(be, "a/.lock", "x", 1, NULL, NULL), 0, "local: nested .lock ok");
	ok(list_is(be, "a/", (const char *const[]){ "a/.lock", NULL }),
	   "local: nested .lock is listed");
	backend_del(be, "a/.lock");

	/* stray temp files (a crashed writer) and foreign entries stay hidden */
	char *tp = NULL;
	if (asprintf(&tp, "%s/bin/.tmp.123.4", root) > 0) {
		int tfd = open(tp, O_WRONLY | O_CREAT, 0600);
		if (tfd >= 0)
			close(tfd);
	}
	ok(list_is(be, "bin/", (const char *const[]){ "bin/blob", NULL }),
	   "local: stray .tmp. files are not listed");
	if (tp)
		unlink(tp);
	free(tp);

	/* another handle sees the same data; del prunes empty directories */
	struct backend *be2 = open_local_again((void *)root);
	ok(be2 && get_is(be2, "k1", 0, BACKEND_RANGE_ALL, "hi", 2),
	   "local: a second handle on the root sees the data");
	backend_put(be, "deep/er/still/k", "d", 1, NULL, NULL);
	backend_del(be2, "deep/er/still/k");
	char *dp = NULL;
	struct stat st;
	ok(asprintf(&dp, "%s/deep", root) > 0 && stat(dp, &st) && errno == ENOENT,
	   "local: del removes emptied parent directories");
	free(dp);
	backend_close(be2);

	/* file vs directory clash is refused, not silently merged */
	ok(backend_put(be, "k1/sub", "x", 1, NULL, NULL) < 0,
	   "local: put under an existing object key fails");
	is_int(backend_get(be, "k1/sub", 0, BACKEND_RANGE_ALL,
			   &(struct buf)BUF_INIT, NULL), -ENOENT,
	       "local: get below an object key is -ENOENT");

	/* root created with parents, trailing '/' tolerated */
	char *nested = NULL;
	struct backend *be3 = NULL;
	if (asprintf(&nested, "%s/x/y/z/", root) > 0) {
		is_int(local_backend_open(nested, &be3), 0, "local: open creates missing parents");
		ok(be3 && put_str(be3, "k", "v") == 0 && list_is(be3, "", (const char *const[]){
			"k", NULL }), "local: nested root works");
		backend_close(be3);
	}
	free(nested);
	ok(list_is(be, "x", (const char *const[]){ "x/y/z/.lock", "x/y/z/k", NULL }),
	   "local: parent root lists nested root's files (only root/.lock is hidden)");
	backend_del(be, "x/y/z/k");
	backend_del(be, "x/y/z/.lock");

	char *file_root = NULL;
	if (asprintf(&file_root, "%s/k1", root) > 0) {
		be3 = (struct backend *)1;
		ok(local_backend_open(file_root, &be3) == -ENOTDIR && be3 == NULL,
		   "local: open on a file fails with -ENOTDIR and *out NULL");
	}
	free(file_root);
	backend_close(NULL);
	ok(1, "backend_close(NULL) is a no-op");
}

/* ------------------------------------------------------------ URIs */

static void uri_ok(const char *s, enum store_scheme scheme, const char *path,
		   const char *bucket, const char *prefix)
{
	struct store_uri u;
	char err[256] = "";
	int rc = store_uri_parse(s, &u, err, sizeof(err));
	int good = rc == 0 && u.scheme == scheme && !strcmp(u.path, path) &&
		   !strcmp(u.bucket, bucket) && !strcmp(u.prefix, prefix);
	ok(good, "uri \"%s\" parses", s);
	if (!good)
		diag("rc %d err \"%s\" scheme %d path \"%s\" bucket \"%s\" prefix \"%s\"", rc,
		     err, u.scheme, u.path, u.bucket, u.prefix);
}

static void uri_bad(const char *s, const char *want_in_err)
{
	struct store_uri u;
	char err[256] = "";
	int rc = store_uri_parse(s, &u, err, sizeof(err));
	ok(rc == -EINVAL && err[0] && !strchr(err, '\n') && strstr(err, want_in_err),
	   "uri \"%s\" rejected: %s", s ? s : "(null)", err);
}

static void test_uri(void)
{
	char cwd[4096], want[4200];
	if (!getcwd(cwd, sizeof(cwd)))
		strcpy(cwd, "/");

	uri_ok("/var/lib/ragfs", STORE_LOCAL, "/var/lib/ragfs", "", "");
	uri_ok("/var/lib/ragfs///", STORE_LOCAL, "/var/lib/ragfs", "", "");
	uri_ok("/", STORE_LOCAL, "/", "", "");
	snprintf(want, sizeof(want), "%s/data", cwd);
	uri_ok("data", STORE_LOCAL, want, "", "");
	uri_ok("data/", STORE_LOCAL, want, "", "");
	uri_ok("./data", STORE_LOCAL, want, "", "");
	uri_ok(".", STORE_LOCAL, cwd, "", "");
	snprintf(want, sizeof(want), "%s/a:b", cwd);
	uri_ok("a:b", STORE_LOCAL, want, "", "");
	uri_ok("file:///srv/store", STORE_LOCAL, "/srv/store", "", "");
	uri_ok("file:///srv/store/", STORE_LOCAL, "/srv/store", "", "");
	uri_ok("file:///", STORE_LOCAL, "/", "", "");
	uri_ok("s3://my-bucket", STORE_S3, "", "my-bucket", "");
	uri_ok("s3://my-bucket/", STORE_S3, "", "my-bucket", "");
	uri_ok("s3://my.bucket.1/some/prefix", STORE_S3, "", "my.bucket.1", "some/prefix");
	uri_ok("s3://abc/some/prefix//", STORE_S3, "", "abc", "some/prefix");
	uri_ok("r2://bkt/p", STORE_R2, "", "bkt", "p");
	uri_ok("r2://bkt", STORE_R2, "", "bkt", "");
	uri_ok("mem:", STORE_MEM, "", "", "");

	uri_bad("foo://x", "unknown store scheme \"foo://\" (use a directory, file://, s3:// "
		"or r2://)");
	uri_bad("http://example.com/x", "unknown store scheme \"http://\"");
	uri_bad("file://relative/dir", "absolute path");
	uri_bad("file://", "absolute path");
	uri_bad("s3://", "missing bucket");
	uri_bad("s3:///prefix", "missing bucket");
	uri_bad("r2://", "missing bucket");
	uri_bad("s3://ab", "invalid bucket");
	uri_bad("s3://MyBucket", "invalid bucket");
	uri_bad("s3://my_bucket", "invalid bucket");
	uri_bad("s3://-bucket", "invalid bucket");
	uri_bad("s3://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"invalid bucket"); /* 64 chars */
	uri_ok("s3://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", STORE_S3,
	       "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "");
	uri_bad("s3://bucket/a//b", "invalid prefix");
	uri_bad("s3://bucket/a/../b", "invalid prefix");
	uri_bad("", "empty store");
	uri_bad(NULL, "empty store");

	char *huge = malloc(5000);
	memset(huge, 'a', 4999);
	huge[0] = '/';
	huge[4999] = '\0';
	uri_bad(huge, "too long");
	free(huge);

	/* err may be tiny; the result still parses or fails the same way */
	struct store_uri u;
	char small[8];
	ok(store_uri_parse("foo://x", &u, small, sizeof(small)) == -EINVAL &&
	   strlen(small) == 7, "uri: error is truncated to errlen");
	ok(store_uri_parse("s3://", &u, NULL, 0) == -EINVAL, "uri: err may be NULL");
}

/* ------------------------------------------------------------ main */

int main(void)
{
	struct backend *be = NULL;

	diag("mem backend");
	ok(mem_backend_open(&be) == 0 && be, "mem: open");
	ok(be->caps == (BACKEND_CAP_RANGE_GET | BACKEND_CAP_COND_PUT), "mem: caps");
	ok(backend_local_path(be, "k") == NULL, "mem: no local_path");
	conformance(be, "mem", NULL, NULL);
	struct obj_meta m;
	backend_head(be, "k1", &m);
	char *end;
	strtoull(m.etag, &end, 10);
	ok(m.etag[0] && !*end, "mem: etag is a decimal counter (%s)", m.etag);
	backend_close(be);

	diag("local backend");
	char tmpl[] = "/tmp/ragfs-test-backend-XXXXXX";
	if (!mkdtemp(tmpl)) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return tap_done();
	}
	char *root = NULL;
	if (asprintf(&root, "%s/store", tmpl) < 0)
		return 1;
	local_root = root;
	be = NULL;
	ok(local_backend_open(root, &be) == 0 && be, "local: open %s", root);
	if (be) {
		conformance(be, "local", open_local_again, root);
		local_checks(be, root);
		backend_close(be);
	}
	nftw(tmpl, rm_fn, 16, FTW_DEPTH | FTW_PHYS);
	free(root);

	diag("store_uri_parse");
	test_uri();
	return tap_done();
}
