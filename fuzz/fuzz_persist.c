/* fuzz/fuzz_persist.c - libFuzzer target: the persist importers,
 * store_import_persist (LlamaIndex Python files written into persist/) and
 * store_import_persist_ts (LlamaIndex.TS files written into persist-ts/),
 * on arbitrary bytes, into a store on the mem: backend (dim 4, no
 * embedder) opened once and opened again empty after every input that
 * changed it (and every 4096 inputs, for its error log), so each input
 * starts from the same empty store. fuzz/fuzz_persist.dict has the names
 * the importers and renderers look for.
 *
 * Input: byte 0 picks the first file (name and dialect, see files[] below;
 * the last two are names the dialect does not know), byte 1 a second file,
 * bytes 2..3 a split point: the data after byte 3 is imported as the first
 * file up to the split point and, when the split point falls inside the
 * data, the rest as the second file (so a file can meet what another put).
 * Properties: an import returns 0 or a negative errno (-ENOTSUP for an
 * unknown name); a refused one changes nothing (the state version stays);
 * after an accepted one every persist file renders without error as valid
 * JSON, the same bytes every time (persist.h: deterministic; persist_size
 * agrees), and each rendered file is accepted again when imported (what the
 * store writes it must read back; FUZZ_PERSIST_NO_ROUNDTRIP=1 skips that
 * check, to look past a known finding).
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../store/log.h"
#include "../store/persist.h"
#include "../store/pyjson.h"
#include "../store/state.h"
#include "../store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const struct {
	const char *name;
	int ts;
} files[] = {
	{ "docstore.json", 0 },
	{ "index_store.json", 0 },
	{ "default__vector_store.json", 0 },
	{ "image__vector_store.json", 0 },
	{ "graph_store.json", 0 },
	{ "doc_store.json", 1 },
	{ "index_store.json", 1 },
	{ "vector_store.json", 1 },
	{ "vector_store.json", 0 }, /* a TS name in persist/: -ENOTSUP */
	{ "docstore.json", 1 },     /* a Python name in persist-ts/: -ENOTSUP */
};
#define NFILES (sizeof(files) / sizeof(files[0]))
#define NKNOWN 8

static char tmpdir[64], cachedir[96];
static struct store *s;
static uint64_t empty_version;
static int roundtrip = 1;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t version(void)
{
	uint64_t v = state_version(store_read_begin(s));
	store_read_end(s);
	return v;
}

/* A new empty store (the old one, if any, closed and its cache dir gone). */
static void reopen(void)
{
	char err[512];
	if (s)
		store_close(s);
	s = NULL;
	rm_tree(cachedir);
	struct store_opts o = { .store = "mem:", .cache_dir = cachedir, .embed = "none",
				.dim = 4 };
	if (store_open(&o, &s, err, sizeof(err))) {
		fprintf(stderr, "fuzz_persist: store_open: %s\n", err);
		abort();
	}
	empty_version = version();
}

static void at_exit(void)
{
	if (s)
		store_close(s);
	rm_tree(tmpdir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_setup(0, 1);
	roundtrip = !getenv("FUZZ_PERSIST_NO_ROUNDTRIP");
	/* tmpfs when there is one: a store is made for every accepted input */
	snprintf(tmpdir, sizeof(tmpdir), "/dev/shm/ragfs-fuzz-persist.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/ragfs-fuzz-persist.XXXXXX");
		if (!mkdtemp(tmpdir))
			abort();
	}
	snprintf(cachedir, sizeof(cachedir), "%s/cache", tmpdir);
	reopen();
	atexit(at_exit);
	return 0;
}

static int import(unsigned sel, const char *p, size_t len)
{
	sel %= NFILES;
	return files[sel].ts ? store_import_persist_ts(s, files[sel].name, p, len)
			     : store_import_persist(s, files[sel].name, p, len);
}

static void fail(enum persist_file f, const char *why, const struct buf *b)
{
	fprintf(stderr, "fuzz_persist: %s%s: %s\n%.*s\n",
		persist_file_is_ts(f) ? "persist-ts/" : "persist/", persist_file_name(f), why,
		(int)(b->len < 2000 ? b->len : 2000), b->data ? b->data : "");
	abort();
}

static void render(const struct state *st, enum persist_file f, struct buf *out)
{
	struct buf again = BUF_INIT;
	uint64_t size = 0;
	*out = (struct buf)BUF_INIT;
	if (persist_render_buf(st, store_index_id(s), store_dim(s), f, out))
		fail(f, "render failed", out);
	if (!json_text_valid(out->data, out->len))
		fail(f, "rendered invalid JSON", out);
	if (persist_render_buf(st, store_index_id(s), store_dim(s), f, &again) ||
	    again.len != out->len || memcmp(again.data, out->data, again.len))
		fail(f, "a second render differs", &again);
	if (persist_size(st, store_index_id(s), store_dim(s), f, &size) || size != out->len)
		fail(f, "persist_size differs from the render", out);
	buf_release(&again);
}

/* Import one file and check the properties. */
static void one(unsigned sel, const uint8_t *data, size_t len)
{
	/* Copy without a terminating NUL so reads past len are caught. */
	char *p = malloc(len ? len : 1);
	if (!p)
		return;
	memcpy(p, data, len);
	uint64_t before = version();
	int rc = import(sel, p, len);
	free(p);
	if (rc > 0 || (sel % NFILES >= NKNOWN && rc != -ENOTSUP))
		abort();
	if (rc) {
		if (version() != before)
			abort(); /* a refused file changes nothing */
		return;
	}

	/* Everything renders, as JSON, the same bytes twice (and as many as
	 * persist_size counts); the renders import again. */
	struct buf out[PERSIST_NFILES];
	const struct state *st = store_read_begin(s);
	for (int f = 0; f < PERSIST_NFILES; f++)
		render(st, f, &out[f]);
	store_read_end(s);
	for (int f = 0; f < PERSIST_NFILES; f++) {
		if (roundtrip) {
			const char *name = persist_file_name(f);
			rc = persist_file_is_ts(f)
				     ? store_import_persist_ts(s, name, out[f].data, out[f].len)
				     : store_import_persist(s, name, out[f].data, out[f].len);
			if (rc)
				fail(f, "the render is refused on import", &out[f]);
		}
		buf_release(&out[f]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned long runs;
	if (size < 4)
		return 0;
	size_t len = size - 4, split = (size_t)data[2] | (size_t)data[3] << 8;
	if (split > len)
		split = len;
	one(data[0], data + 4, split);
	if (split < len)
		one(data[1], data + 4 + split, len - split);
	/* Start every input from the empty store; refusals only add to the
	 * error log, so its file is cut now and then. */
	if (version() != empty_version || ++runs % 4096 == 0)
		reopen();
	return 0;
}
