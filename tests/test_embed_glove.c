/* tests/test_embed_glove.c - the "glove" embedder of store/embed_glove.h on a
 * tiny table made by the project's converter (no network). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/embed_glove.h"
#include "tests/tap.h"

/* The converter itself, so the test table is made exactly as glove.sh makes
 * the real one. */
#define GLOVE_CONVERT_NO_MAIN
#include "scripts/glove_convert.c"

#define DIM 4
#define SIZE 1000 /* words in the (pretend) source, for the weights */

/* wink's layout: [v1..vD, l2norm, rank]. Dropped by the converter: "," and
 * "n't" (never a word of a text), the over-long word, and the second "Car"
 * (rank 800: the more frequent "car" wins). "Repair" is lower-cased. */
static const char *const json =
	"{\"precision\":8,\"l2NormIndex\":4,\"wordIndex\":5,\"size\":1000,"
	"\"dimensions\":4,\"words\":[\"the\",\"vectors\"],\"vectors\":{\n"
	"\"the\":[1,0,0,0,1,0],\n"
	"\",\":[0,0,0,1,1,1],\n"
	"\"car\":[0,0,2.5,0,2.5,500],\n"
	"\"automobile\":[0,0.1,0.9,0,1,900],\n"
	"\"fix\":[0,-1,0,0,1,400],\n"
	"\"Repair\":[0,-0.8,0,0.2,1,700],\n"
	"\"n't\":[1,1,1,1,2,30],\n"
	"\"caf\\u00e9\":[0,0,0,-1,1,600],\n"
	"\"Car\":[1,1,1,1,2,800],\n"
	"\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":"
	"[1,0,0,0,1,999]\n"
	"},\"unkVector\":[0,0,0,0,0,-1]}";

static struct embedder *emb;
static char dir[] = "/tmp/test_embed_glove.XXXXXX";
static char table[128];

static int embed1(const char *t, float *v)
{
	size_t len = strlen(t);

	return embedder_embed(emb, &t, &len, 1, v);
}

static double dot(const float *a, const float *b)
{
	double s = 0;

	for (int i = 0; i < DIM; i++)
		s += (double)a[i] * b[i];
	return s;
}

static int same(const char *a, const char *b)
{
	float va[DIM], vb[DIM];

	return !embed1(a, va) && !embed1(b, vb) && !memcmp(va, vb, sizeof(va));
}

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int rc = f && fwrite(data, 1, len, f) == len ? 0 : -1;

	if (f && fclose(f))
		rc = -1;
	return rc;
}

static void test_convert(void)
{
	char err[256] = "";
	struct glove_hdr h;
	FILE *f;
	int rc;

	snprintf(table, sizeof(table), "%s/t.bin", dir);
	rc = glove_convert_buf(json, "test@1", table, err, sizeof(err));
	is_int(rc, 0, "the converter makes a table from hand-made wink JSON");
	if (rc)
		diag("%s", err);
	f = fopen(table, "rb");
	ok(f && fread(&h, sizeof(h), 1, f) == 1, "table header readable");
	if (f)
		fclose(f);
	ok(!memcmp(h.magic, GLOVE_MAGIC, 8) && h.version == GLOVE_VERSION && h.dim == DIM &&
		   !strcmp(h.source, "test@1"),
	   "header: magic, version, dim, source");
	is_int(h.count, 6, "punctuation, n't, over-long and duplicate words dropped");
	rc = glove_convert_buf("{\"dimensions\":4,\"vectors\":{\"a\":[1,2]}}", "x", table, err,
			       sizeof(err));
	is_int(rc, -EINVAL, "a row of the wrong length is refused");
	rc = glove_convert_buf("{\"words\":[]}", "x", table, err, sizeof(err));
	is_int(rc, -EINVAL, "input without vectors is refused");
	f = fopen(table, "rb");
	ok(f && fread(&h, sizeof(h), 1, f) == 1 && h.count == 6, "a refused input leaves the table");
	if (f)
		fclose(f);
}

static void test_open(void)
{
	char path[256], bad[256];
	struct embedder *e = (void *)1;
	struct glove_hdr h;
	FILE *f;
	char *data;
	long len;
	int rc;

	snprintf(path, sizeof(path), "%s/missing.bin", dir);
	rc = embed_glove_new(path, &e);
	is_int(rc, -ENOENT, "a missing table is -ENOENT");
	ok(!e, "no embedder on error");

	f = fopen(table, "rb");
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	data = malloc((size_t)len);
	ok(fread(data, 1, (size_t)len, f) == (size_t)len, "read the table");
	fclose(f);
	snprintf(bad, sizeof(bad), "%s/bad.bin", dir);
	write_file(bad, data, (size_t)len - 1);
	rc = embed_glove_new(bad, &e);
	is_int(rc, -EINVAL, "a truncated table is -EINVAL");
	data[0] ^= 1;
	write_file(bad, data, (size_t)len);
	rc = embed_glove_new(bad, &e);
	is_int(rc, -EINVAL, "a bad magic is -EINVAL");
	data[0] ^= 1;
	memcpy(&h, data, sizeof(h));
	/* swap the first two entries: unsorted, so binary search would lie */
	struct glove_ent t, *ent = (struct glove_ent *)(data + sizeof(h));

	t = ent[0];
	ent[0] = ent[1];
	ent[1] = t;
	write_file(bad, data, (size_t)len);
	rc = embed_glove_new(bad, &e);
	is_int(rc, -EINVAL, "an unsorted table is -EINVAL");
	ent[1] = ent[0];
	ent[0] = t;
	ent[0].off = (uint32_t)h.str_len;
	write_file(bad, data, (size_t)len);
	rc = embed_glove_new(bad, &e);
	is_int(rc, -EINVAL, "a word outside the string table is -EINVAL");
	write_file(bad, "RAGFSGLV", 8);
	rc = embed_glove_new(bad, &e);
	is_int(rc, -EINVAL, "a short file is -EINVAL");
	rc = embed_glove_new(dir, &e);
	ok(rc < 0 && !e, "a directory is refused (%d)", rc);
	free(data);

	rc = embed_glove_new(table, &emb);
	is_int(rc, 0, "the table opens");
	ok(emb && emb->dim == DIM && !strcmp(emb->name, "glove") && !emb->remote,
	   "embedder fields: dim from the table, name glove, local");
	unlink(bad);
}

static void test_lookup(void)
{
	float v[DIM], w[DIM];
	int rc;

	rc = embed1("car", v);
	is_int(rc, 0, "embed a known word");
	ok(fabs(v[2] - 1) < 1e-6 && fabs(v[0]) + fabs(v[1]) + fabs(v[3]) < 1e-6,
	   "its vector, normalised (%f %f %f %f)", v[0], v[1], v[2], v[3]);
	rc = embed1("automobile", w);
	ok(!rc && fabs(dot(v, w) - 0.9 / sqrt(0.82)) < 0.01,
	   "int8 rows keep the cosine (car~automobile %f)", dot(v, w));
	ok(same("CAR", "car") && same("Car!", "car"), "ASCII case folding, punctuation splits");
	ok(same("repair", "REPAIR"), "a word upper-cased in the source is found lower-cased");
	ok(same("Café", "café") && !same("CAFÉ", "café"),
	   "only ASCII is folded (as in the hash embedder)");
	ok(same("car_fix", "car fix") && same("car-fix", "fix, car"),
	   "the hash embedder's word split ('_' separates)");
	ok(same("car zzzz qq", "car"), "unknown words are ignored");
	ok(same("car car car", "car"), "repeats do not change a single-word vector");
	rc = embed1("n't , carfix", v);
	ok(!rc && !v[0] && !v[1] && !v[2] && !v[3], "no known word: the zero vector");
	rc = embed1("", v);
	ok(!rc && !v[0] && !v[1] && !v[2] && !v[3], "empty text: the zero vector");
	char longw[300];

	memset(longw, 'a', sizeof(longw) - 1);
	longw[sizeof(longw) - 1] = 0;
	rc = embed1(longw, v);
	ok(!rc && !v[0] && !v[3], "an over-long word is unknown");
}

static void test_weights(void)
{
	double wthe = gc_weight(0, SIZE), wcar = gc_weight(500, SIZE), wfix = gc_weight(400, SIZE);
	float v[DIM];
	int rc;

	ok(wthe > 0 && wthe < wfix && wfix < wcar && wcar < 1,
	   "weights fall with frequency (the %.4f < fix %.4f < car %.4f)", wthe, wfix, wcar);
	rc = embed1("the car", v);
	ok(!rc && fabs(v[0] / v[2] - wthe / (wcar * 2.5)) < 1e-3,
	   "a sum weighted by IDF proxy (the/car %.4f)", v[0] / v[2]);
	ok(fabs(sqrt(dot(v, v)) - 1) < 1e-6, "L2-normalised");
	rc = embed1("the the car", v);
	ok(!rc && fabs(v[0] / v[2] - 2 * wthe / (wcar * 2.5)) < 1e-3,
	   "each occurrence counts");
	rc = embed1("the", v);
	ok(!rc && fabs(v[0] - 1) < 1e-6, "a frequent word alone still has its direction");
	rc = embed1("car fix", v);
	ok(!rc && fabs(v[2] / -v[1] - wcar * 2.5 / wfix) < 1e-2,
	   "two content words weighted by rank (%f)", v[2] / -v[1]);
}

static void test_batch(void)
{
	const char *t[3] = { "car fix", "nothing known", "automobile repair" };
	size_t l[3] = { 7, 13, 17 };
	float out[3 * DIM], one[DIM];
	int rc = embedder_embed(emb, t, l, 3, out);

	is_int(rc, 0, "batch embed");
	embed1(t[2], one);
	ok(!memcmp(out + 2 * DIM, one, sizeof(one)) && !out[DIM], "batch rows equal single embeds");
	ok(dot(out, out + 2 * DIM) > 0.9, "car fix ~ automobile repair (%f)", dot(out, out + 2 * DIM));
}

struct worker {
	float want[DIM];
	int bad;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	float v[DIM];

	for (int i = 0; i < 20000; i++)
		if (embed1("The automobile repair shop can fix your car", v) ||
		    memcmp(v, w->want, sizeof(v)))
			w->bad++;
	return NULL;
}

static void test_threads(void)
{
	struct worker w[4];
	pthread_t th[4];
	float want[DIM];
	int bad = 0;

	embed1("The automobile repair shop can fix your car", want);
	for (int i = 0; i < 4; i++) {
		memcpy(w[i].want, want, sizeof(want));
		w[i].bad = 0;
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		bad += w[i].bad;
	}
	is_int(bad, 0, "4 threads embedding at once agree with one");
}

static void test_path(void)
{
	char buf[256];

	setenv("RAGFS_GLOVE", "/x/table.bin", 1);
	ok(!strcmp(embed_glove_path(buf, sizeof(buf)), "/x/table.bin"), "$RAGFS_GLOVE wins");
	unsetenv("RAGFS_GLOVE");
	setenv("XDG_DATA_HOME", "/d", 1);
	ok(!strcmp(embed_glove_path(buf, sizeof(buf)), "/d/ragfs/glove-100d.bin"),
	   "else $XDG_DATA_HOME/ragfs/glove-100d.bin");
	unsetenv("XDG_DATA_HOME");
	setenv("HOME", "/h", 1);
	ok(!strcmp(embed_glove_path(buf, sizeof(buf)), "/h/.local/share/ragfs/glove-100d.bin"),
	   "else ~/.local/share/ragfs/glove-100d.bin");
}

int main(void)
{
	if (!mkdtemp(dir))
		tap_skip_all("no temp dir");
	test_convert();
	test_open();
	if (emb) {
		test_lookup();
		test_weights();
		test_batch();
		test_threads();
	}
	embedder_free(emb);
	test_path();
	unlink(table);
	rmdir(dir);
	return tap_done();
}
