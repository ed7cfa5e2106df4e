/* fs/main.c - the ragfs command: parse options, open the store, mount,
 * serve, unmount cleanly. The composition root: the only file that knows
 * both FUSE and the store.
 */
#include <dirent.h>
#include <errno.h>
#include <fuse.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cblas.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "../backends/embed_http.h"

#include "../store/log.h"
#include "../store/store.h"
#include "handle.h"
#include "ns.h"
#include "ops.h"

struct cli {
	char *store;
	char *mountpoint;
	char *cache_dir, *embed, *embed_url, *embed_model;
	char *endpoint, *region, *account, *profile, *addressing;
	char *vec_compress;
	unsigned dim, chunk_size, chunk_overlap, top_k, flush_interval;
	unsigned max_file_mb, cache_mb;
	unsigned ann_threshold, ann_m, ann_ef_construction, ann_ef;
	int overlap_set;
	int foreground, debug, single, ro, help, version;
	int shared; /* allow_other or allow_root: other users get in */
};

enum { KEY_HELP, KEY_VERSION, KEY_FG, KEY_DEBUG, KEY_SINGLE, KEY_RO, KEY_SHARED };

#define OPT(t, p) { t, offsetof(struct cli, p), 1 }
static const struct fuse_opt cli_opts[] = {
	OPT("cache_dir=%s", cache_dir),
	OPT("embed=%s", embed),
	OPT("embed_url=%s", embed_url),
	OPT("embed_model=%s", embed_model),
	OPT("endpoint=%s", endpoint),
	OPT("region=%s", region),
	OPT("account=%s", account),
	OPT("profile=%s", profile),
	OPT("addressing=%s", addressing),
	OPT("vec_compress=%s", vec_compress),
	OPT("dim=%u", dim),
	OPT("chunk_size=%u", chunk_size),
	OPT("chunk_overlap=%u", chunk_overlap),
	OPT("chunk_overlap=", overlap_set),
	OPT("top_k=%u", top_k),
	OPT("flush_interval=%u", flush_interval),
	OPT("max_file_mb=%u", max_file_mb),
	OPT("cache_mb=%u", cache_mb),
	OPT("ann_threshold=%u", ann_threshold),
	OPT("ann_m=%u", ann_m),
	OPT("ann_ef_construction=%u", ann_ef_construction),
	OPT("ann_ef=%u", ann_ef),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FG),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("-s", KEY_SINGLE),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("allow_other", KEY_SHARED),
	FUSE_OPT_KEY("allow_root", KEY_SHARED),
	FUSE_OPT_END
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ragfs [options] STORE MOUNTPOINT\n"
		"       ragfs status MOUNTPOINT [-w]   indexing progress (-w: until done)\n"
		"\n"
		"STORE: /path/dir, file:///path/dir, s3://bucket[/prefix] or\n"
		"r2://bucket[/prefix] (credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY\n"
		"[/AWS_SESSION_TOKEN], or ~/.aws/credentials with -o profile=)\n"
		"\n"
		"  -f                  stay in the foreground\n"
		"  -d, -o debug        debug output (implies -f)\n"
		"  -s                  single-threaded\n"
		"  -h, --help          this help\n"
		"  -V, --version       print the version\n"
		"  -o embed=NAME       hash, glove, http or none (default: the store's, hash\n"
		"                      for a new one; another re-embeds the store)\n"
		"  -o embed_url=URL    embed=http: an OpenAI-compatible endpoint\n"
		"  -o embed_model=M    embed=http: the model (default text-embedding-3-small)\n"
		"  -o dim=N            embedding dimension (default: the store's, 384 for a\n"
		"                      new one; another re-embeds the store)\n"
		"  -o chunk_size=N     splitter chunk size in tokens (default 1024)\n"
		"  -o chunk_overlap=N  splitter overlap in tokens (default 200)\n"
		"  -o top_k=N          default number of query results (default 5)\n"
		"  -o flush_interval=S seconds between background flushes (default 5)\n"
		"  -o cache_dir=DIR    local state: journal, error log (default STORE/.ragfs-local)\n"
		"  -o max_file_mb=N    largest file accepted, MiB (default 512)\n"
		"  -o cache_mb=N       s3/r2: segment cache bound in cache_dir, MiB\n"
		"                      (default 1024 plus twice the snapshot segment)\n"
		"  -o vec_compress=C   none (default), int8 or fp16: a compressed copy of the\n"
		"                      vectors scanned first (exact results, +25%%/+50%% memory)\n"
		"  -o ann_threshold=N  vectors from which queries use the HNSW graph (default 200000)\n"
		"  -o ann_m=N, ann_ef_construction=N, ann_ef=N  graph links (32), build and\n"
		"                      search candidate lists (200, 64)\n"
		"  -o ro               read-only mount\n"
		"  -o allow_other      let other users access the mount\n"
		"  -o endpoint=URL     S3-compatible endpoint (default AWS for the region)\n"
		"  -o region=R         signing region (default $AWS_REGION or us-east-1)\n"
		"  -o account=ID       R2 account (default $R2_ACCOUNT_ID)\n"
		"  -o profile=P        ~/.aws/credentials profile\n"
		"  -o addressing=A     S3 URL style: auto (default), path or virtual\n");
}

static int cli_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cli *c = data;
	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (!c->store)
			return (c->store = strdup(arg)) ? 0 : -1;
		if (!c->mountpoint)
			return (c->mountpoint = strdup(arg)) ? 0 : -1;
		fprintf(stderr, "ragfs: unexpected argument \"%s\"\n", arg);
		return -1;
	case KEY_HELP:
		c->help = 1;
		return 0;
	case KEY_VERSION:
		c->version = 1;
		return 0;
	case KEY_FG:
		c->foreground = 1;
		return 0;
	case KEY_DEBUG:
		c->debug = c->foreground = 1;
		return 1; /* libfuse wants it too */
	case KEY_SINGLE:
		c->single = 1;
		return 0;
	case KEY_RO:
		c->ro = 1;
		return 1; /* mount read-only in the kernel too */
	case KEY_SHARED:
		c->shared = 1;
		return 1; /* libfuse's option */
	default:
		return 1;
	}
}

/* The mountpoint must be an existing, empty directory. */
static int check_mountpoint(const char *mp)
{
	struct stat st;
	if (stat(mp, &st)) {
		fprintf(stderr, "ragfs: mountpoint %s: %s\n", mp, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "ragfs: mountpoint %s is not a directory\n", mp);
		return -1;
	}
	DIR *d = opendir(mp);
	if (!d) {
		fprintf(stderr, "ragfs: mountpoint %s: %s\n", mp, strerror(errno));
		return -1;
	}
	struct dirent *de;
	int empty = 1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = 0;
	closedir(d);
	if (!empty) {
		fprintf(stderr, "ragfs: mountpoint %s is not empty\n", mp);
		return -1;
	}
	return 0;
}

static void free_cli(struct cli *c)
{
	char **strs[] = { &c->store, &c->mountpoint, &c->cache_dir, &c->embed, &c->embed_url,
			  &c->embed_model, &c->endpoint, &c->region, &c->account, &c->profile,
			  &c->addressing, &c->vec_compress };
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(*strs[i]);
}

static int serve(struct fuse *f, struct cli *c)
{
	if (c->single)
		return fuse_loop(f);
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -1;
	/* Up to 64 queries in flight: the batches coalesced from them reach
	 * the sgemm path (24 and up). 16 gave 8% fewer queries/s at 64 readers. */
	fuse_loop_cfg_set_max_threads(cfg, 64);
	int rc = fuse_loop_mt(f, cfg);
	fuse_loop_cfg_destroy(cfg);
	return rc;
}

/* embed=http: an OpenAI-compatible endpoint. The store retries failed
 * batches itself, in the background, so the client retries only a little. */
static int make_http_embedder(const struct cli *c, struct embedder **out)
{
	struct embed_http_config cfg;
	char err[300];
	if (!c->embed_url) {
		fprintf(stderr, "ragfs: embed=http needs -o embed_url=URL\n");
		return -1;
	}
	embed_http_config_init(&cfg);
	cfg.url = c->embed_url;
	cfg.model = c->embed_model ? c->embed_model : "text-embedding-3-small";
	cfg.dim = c->dim;
	cfg.max_retries = 2;
	if (embed_http_new(&cfg, out, err, sizeof(err))) {
		fprintf(stderr, "ragfs: %s\n", err);
		return -1;
	}
	return 0;
}

/* The store asks for embedders it cannot build (http) from what it
 * recorded about its vectors: the old embedder while re-embedding, or its
 * own when -o embed is not given. The dim is known: nothing is sent now. */
static int embedder_factory(const char *name, const char *model, const char *url, uint32_t dim,
			    struct embedder **out, char *err, size_t errlen)
{
	struct embed_http_config cfg;
	if (strcmp(name, "http") || !url) {
		snprintf(err, errlen, "embed=%s: %s", name, url ? "unknown" : "no embed_url recorded");
		return -EINVAL;
	}
	embed_http_config_init(&cfg);
	cfg.url = url;
	cfg.model = model && *model ? model : "text-embedding-3-small";
	cfg.dim = dim;
	cfg.max_retries = 2;
	return embed_http_new(&cfg, out, err, errlen);
}

static int run(struct cli *c, struct fuse_args *args)
{
	char err[512] = "";
	char mp[PATH_MAX];
	struct store *s = NULL;
	struct fsctx fc = { 0 };
	struct fuse *f = NULL;
	int rc = 1;

	if (check_mountpoint(c->mountpoint) || !realpath(c->mountpoint, mp))
		return 1;
	struct store_opts so = {
		.store = c->store, .cache_dir = c->cache_dir, .embed = c->embed, .dim = c->dim,
		.chunk_size = c->chunk_size, .chunk_overlap = c->overlap_set ? c->chunk_overlap : 200,
		.top_k = c->top_k, .flush_interval = c->flush_interval,
		.cache_mb = c->cache_mb, .read_only = c->ro,
		.endpoint = c->endpoint, .region = c->region, .account = c->account,
		.profile = c->profile, .addressing = c->addressing,
		.vec_compress = c->vec_compress,
		.ann_threshold = c->ann_threshold, .ann_m = c->ann_m,
		.ann_ef_construction = c->ann_ef_construction, .ann_ef = c->ann_ef,
		.make_embedder = embedder_factory,
	};
	if (c->embed && !strcmp(c->embed, "http")) {
		if (make_http_embedder(c, &so.embedder))
			return 1;
		so.dim = so.embedder->dim; /* learned from the server when not given */
		so.embed_model = c->embed_model ? c->embed_model : "text-embedding-3-small";
		so.embed_url = c->embed_url; /* recorded without userinfo and query */
	}
	if (store_open(&so, &s, err, sizeof(err))) {
		fprintf(stderr, "ragfs: %s\n", err);
		return 1;
	}
	fc.store = s;
	fc.uid = getuid();
	fc.gid = getgid();
	clock_gettime(CLOCK_REALTIME, &fc.started);
	pthread_mutex_init(&fc.lock, NULL);
	fc.queries = map_new();
	fc.pending = map_new();
	fc.hidden = map_new();
	fc.max_file_size = (size_t)(c->max_file_mb ? c->max_file_mb : 512) << 20;

	f = fuse_new(args, &ragfs_ops, sizeof(ragfs_ops), &fc);
	if (!f) {
		fprintf(stderr, "ragfs: bad FUSE options\n");
		goto out;
	}
	if (fuse_mount(f, mp)) {
		fprintf(stderr, "ragfs: cannot mount on %s\n", mp);
		goto out_destroy;
	}
	/* libfuse only takes over signals left at their default; a daemon
	 * started in the background by a script inherits SIGINT ignored, yet
	 * SIGINT must still unmount cleanly. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (fuse_set_signal_handlers(fuse_get_session(f)) ||
	    fuse_daemonize(c->foreground)) {
		fprintf(stderr, "ragfs: cannot start the daemon\n");
		goto out_unmount;
	}
	if (!c->foreground)
		log_setup(c->debug, 1);
	/* Threads do not survive fuse_daemonize's fork: start them after it. */
	if (store_start(s)) {
		LOG_ERR("cannot start the background flusher");
		goto out_signals;
	}
	/* A positive result is the signal that ended the loop: a clean exit. */
	rc = serve(f, c) < 0 ? 1 : 0;
out_signals:
	fuse_remove_signal_handlers(fuse_get_session(f));
out_unmount:
	fuse_unmount(f);
out_destroy:
	fuse_destroy(f);
	handle_free_all(&fc);
out:
	if (store_close(s)) {
		LOG_ERR("final flush failed: changes stay in the journal for the next mount");
		rc = 1;
	}
	map_free(fc.queries, ns_query_free);
	map_free(fc.pending, NULL);
	map_free(fc.hidden, free);
	pthread_mutex_destroy(&fc.lock);
	return rc;
}

/* status.json's "reembed": a line with a bar; 1 while it runs. */
static int print_reembed(const cJSON *r)
{
	if (!cJSON_IsObject(r))
		return 0;
	double done = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "done"));
	double queued = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "queued"));
	double eta = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "eta_s"));
	const char *state = cJSON_GetStringValue(cJSON_GetObjectItem(r, "state")) ?: "?";
	int running = strcmp(state, "done") != 0;
	int width = 40, fill = done + queued > 0 ? (int)(width * done / (done + queued)) : width;
	printf("re-embedding %s -> %s: %s\n",
	       cJSON_GetStringValue(cJSON_GetObjectItem(r, "from")) ?: "?",
	       cJSON_GetStringValue(cJSON_GetObjectItem(r, "to")) ?: "?", state);
	printf("re-embedded [%.*s%*s] %.0f/%.0f, %.1f nodes/s", fill,
	       "########################################", width - fill, "", done, done + queued,
	       cJSON_GetNumberValue(cJSON_GetObjectItem(r, "rate")));
	if (running && !isnan(eta)) /* null when not known yet */
		printf(", ETA %.0f s", eta);
	printf("; queries use the %s\n",
	       cJSON_GetStringValue(cJSON_GetObjectItem(r, "queries")) ?: "?");
	return running;
}

/* ragfs status MOUNT [-w]: the mount's .ragfs/status.json for people, with
 * a progress bar of the indexing work; -w repeats every second until no
 * work is pending. */
static int print_status(const char *mnt)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/.ragfs/status.json", mnt);
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "ragfs: %s: %s (is it a ragfs mount?)\n", path, strerror(errno));
		return -1;
	}
	char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	cJSON *j = cJSON_Parse(buf);
	if (!j) {
		fprintf(stderr, "ragfs: %s is not JSON\n", path);
		return -1;
	}
	double nodes = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "nodes"));
	double pending = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "pending"));
	double failed = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "failed"));
	double done = nodes > pending ? nodes - pending : 0;
	int width = 40, fill = nodes > 0 ? (int)(width * done / nodes) : width;
	printf("%s: %.0f docs, %.0f nodes, %.0f vectors (dim %.0f, embed %s), store %s\n",
	       mnt, cJSON_GetNumberValue(cJSON_GetObjectItem(j, "docs")), nodes,
	       cJSON_GetNumberValue(cJSON_GetObjectItem(j, "vectors")),
	       cJSON_GetNumberValue(cJSON_GetObjectItem(j, "dim")),
	       cJSON_GetStringValue(cJSON_GetObjectItem(j, "embedder")) ?: "?",
	       cJSON_GetStringValue(cJSON_GetObjectItem(j, "store")) ?: "?");
	printf("indexed [%.*s%*s] %.0f/%.0f, %.0f pending, %.0f failed\n", fill,
	       "########################################", width - fill, "", done, nodes,
	       pending, failed);
	int busy = pending > 0 || print_reembed(cJSON_GetObjectItem(j, "reembed"));
	const char *last = cJSON_GetStringValue(cJSON_GetObjectItem(j, "last_error"));
	if (last)
		printf("last error: %s\n", last);
	cJSON_Delete(j);
	return busy;
}

static int status_cmd(int argc, char *argv[])
{
	if (argc < 3) {
		fprintf(stderr, "usage: ragfs status MOUNTPOINT [-w]\n");
		return 2;
	}
	int watch = argc > 3 && !strcmp(argv[3], "-w");
	for (;;) {
		int rc = print_status(argv[2]);
		if (rc < 0)
			return 1;
		if (!watch || rc == 0)
			return 0;
		sleep(1);
	}
}

int main(int argc, char *argv[])
{
	if (argc > 1 && !strcmp(argv[1], "status"))
		return status_cmd(argc, argv);
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct cli c = { 0 };
	int rc = 1;

	if (fuse_opt_parse(&args, &c, cli_opts, cli_proc)) {
		usage(stderr);
		goto out;
	}
	if (c.help) {
		usage(stdout);
		rc = 0;
		goto out;
	}
	if (c.version) {
		printf("ragfs %s (libfuse %d)\n", RAGFS_VERSION, fuse_version());
		rc = 0;
		goto out;
	}
	if (!c.store || !c.mountpoint) {
		fprintf(stderr, "ragfs: need STORE and MOUNTPOINT (ragfs -h for help)\n");
		goto out;
	}
	log_setup(c.debug, 0);
	/* Shows as fuse.ragfs in /proc/mounts, as an fstab line would. */
	if (fuse_opt_add_arg(&args, "-osubtype=ragfs"))
		goto out;
	/* default_permissions: the kernel enforces the modes ragfs reports,
	 * which matters once allow_other or allow_root lets other users in.
	 * Without them the kernel admits the mounting user alone, and the
	 * permission checks would cost a GETATTR per path component on
	 * every open (attributes are never cached): 3 of the 13 requests of
	 * a Python open + read + close of a query file. */
	if (c.shared && fuse_opt_add_arg(&args, "-odefault_permissions"))
		goto out;
	/* FUSE runs many threads already; one BLAS thread per query. */
	openblas_set_num_threads(1);
	/* libcurl's global state must exist before any thread starts. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "ragfs: cannot initialise libcurl\n");
		goto out;
	}
	rc = run(&c, &args);
	curl_global_cleanup();
out:
	fuse_opt_free_args(&args);
	free_cli(&c);
	return rc;
}
