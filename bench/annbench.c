/* bench/annbench.c - ragfs's HNSW graph (store/hnsw.c) on the benchmark's
 * clustered embeddings, beside the exact scan.
 *
 * annbench N DIM OUTDIR [SECONDS] [M] [EF_CONSTRUCTION]
 *
 * Generates the same N rows as bench/vecbench.c (bench/benchdata.h: 1000
 * Gaussian centres, rank-64 within-cluster variation, noise, normalised)
 * and NQ = 1000 queries from the same mixture, finds their exact
 * top-10 with vecindex_search, and writes OUTDIR/ann_data.f32,
 * ann_queries.f32, ann_truth.i32 for the peers (bench/peers.py hnswlib,
 * faiss_hnsw). Then builds the graph (M=32, ef_construction=200 unless
 * given; all CPUs), and measures per ef in 64/128/256 the single-thread
 * latency (median over the 1000 queries) and recall@10, the throughput of
 * one search thread per CPU at ef=64 for SECONDS, the exact scan on the same
 * queries, and saving and loading the graph file. One TSV line each:
 *   ann METHOD N build_s ef median_ms qps recall
 *   annfile N bytes save_s load_s
 *   noise N percent-of-CPU-used-by-others
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/hnsw.h"
#include "store/vecindex.h"

#include "bench/benchdata.h"

#define NQ 1000
#define K 10

static size_t n;
static uint32_t dim;
static float *queries;
static uint32_t (*truth)[K];

/* ---- measurements ---- */

static size_t row_of(const char *key)
{
	return (size_t)strtoul(key + 5, NULL, 10);
}

static double recall_of(const struct hnsw_hit *h, size_t nh, int qi)
{
	int hit = 0;
	for (size_t i = 0; i < nh; i++)
		for (int j = 0; j < K; j++)
			hit += row_of(h[i].key) == truth[qi][j];
	return hit / (double)K;
}

struct qjob {
	struct hnsw *h;
	size_t ef;
	double until;
	long done;
	int first;
};

static void *qloop(void *arg)
{
	struct qjob *j = arg;
	struct hnsw_hit hits[K];
	size_t nh;
	int qi = j->first;
	do {
		hnsw_search(j->h, queries + (size_t)qi * dim, K, j->ef, NULL, NULL, 0, hits, &nh,
			    NULL);
		qi = (qi + 1) % NQ;
		j->done++;
	} while (now() < j->until);
	return NULL;
}

static double qps(struct hnsw *h, size_t ef, int threads, double secs)
{
	pthread_t tid[16];
	struct qjob j[16];
	double t0 = now();
	for (int t = 0; t < threads; t++) {
		j[t] = (struct qjob){ h, ef, t0 + secs, 0, t * 97 };
		pthread_create(&tid[t], NULL, qloop, &j[t]);
	}
	long done = 0;
	for (int t = 0; t < threads; t++) {
		pthread_join(tid[t], NULL);
		done += j[t].done;
	}
	return done / (now() - t0);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: annbench N DIM OUTDIR [SECONDS] [M] [EF_CONSTRUCTION]\n");
		return 2;
	}
	n = strtoul(argv[1], NULL, 10);
	dim = (uint32_t)strtoul(argv[2], NULL, 10);
	const char *outdir = argv[3];
	double secs = argc > 4 ? atof(argv[4]) : 3;
	uint32_t m = argc > 5 ? (uint32_t)atoi(argv[5]) : 32;
	uint32_t efc = argc > 6 ? (uint32_t)atoi(argv[6]) : 200;
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > 16)
		ncpu = 16;
	if (n < K || !dim) {
		fprintf(stderr, "annbench: N >= %d and DIM >= 1\n", K);
		return 2;
	}

	float *data = malloc(n * dim * sizeof(float));
	queries = malloc((size_t)NQ * dim * sizeof(float));
	bench_generate(data, n, queries, NQ, dim);

	/* Exact truth (and the exact scan's latency on these queries). */
	struct vecindex *vi;
	char id[32];
	if (vecindex_new(dim, &vi))
		return 1;
	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "node-%07zu", i);
		if (vecindex_set(vi, id, data + i * dim))
			return 1;
	}
	truth = calloc(NQ, sizeof(*truth));
	double *t = malloc(NQ * sizeof(double));
	double busy0, self0, busy1, self1, tb0 = now();
	cpu_sample(&busy0, &self0);
	for (int qi = 0; qi < NQ; qi++) {
		struct vec_hit h[K];
		size_t nh;
		double s = now();
		vecindex_search(vi, queries + (size_t)qi * dim, K, NULL, NULL, h, &nh);
		t[qi] = (now() - s) * 1e3;
		for (size_t i = 0; i < nh; i++)
			truth[qi][i] = (uint32_t)row_of(vecindex_id(vi, h[i].row));
	}
	qsort(t, NQ, sizeof(double), cmp_d);
	printf("ann\tragfs-exact\t%zu\t-\t-\t%.3f\t%.1f\t1.000\n", n, t[NQ / 2], 1e3 / t[NQ / 2]);
	fflush(stdout);
	write_file(outdir, "ann_data.f32", data, n * dim * sizeof(float));
	write_file(outdir, "ann_queries.f32", queries, (size_t)NQ * dim * sizeof(float));
	write_file(outdir, "ann_truth.i32", truth, (size_t)NQ * sizeof(*truth));
	vecindex_free(vi);

	/* Build. */
	char **keys = malloc(n * sizeof(*keys));
	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "node-%07zu", i);
		keys[i] = strdup(id);
	}
	struct hnsw_params p = { .dim = dim, .m = m, .ef_construction = efc };
	struct hnsw *h;
	if (hnsw_new(&p, &h))
		return 1;
	double s = now();
	for (size_t i = 0; i < n; i += 4096) {
		size_t cnt = n - i < 4096 ? n - i : 4096;
		if (hnsw_add(h, cnt, (const char *const *)keys + i, data + i * dim, NULL,
			     (unsigned)ncpu))
			return 1;
	}
	double build = now() - s;
	fprintf(stderr, "annbench: built %zu x %u (M=%u, ef_construction=%u, %d threads, %s) in %.1f s\n",
		n, dim, m, efc, ncpu, hnsw_isa(), build);

	size_t efs[] = { 64, 128, 256 };
	for (int e = 0; e < 3; e++) {
		double rec = 0;
		struct hnsw_hit hits[K];
		size_t nh;
		for (int qi = 0; qi < NQ; qi++) {
			double q0 = now();
			hnsw_search(h, queries + (size_t)qi * dim, K, efs[e], NULL, NULL, 0, hits, &nh,
				    NULL);
			t[qi] = (now() - q0) * 1e3;
			rec += recall_of(hits, nh, qi);
		}
		qsort(t, NQ, sizeof(double), cmp_d);
		double q = e == 0 ? qps(h, efs[e], ncpu, secs) : 0;
		char qs[32] = "-";
		if (q)
			snprintf(qs, sizeof(qs), "%.1f", q);
		printf("ann\tragfs-hnsw\t%zu\t%.1f\t%zu\t%.3f\t%s\t%.4f\n", n, build, efs[e],
		       t[NQ / 2], qs, rec / NQ);
		fflush(stdout);
	}

	/* The file: save, then map and check it again. */
	char path[4096], why[200];
	snprintf(path, sizeof(path), "%s/ann_graph.bin", outdir);
	s = now();
	int rc = hnsw_save(h, path, "annbench");
	double save = now() - s;
	struct stat st;
	struct hnsw *g = NULL;
	s = now();
	if (!rc)
		rc = hnsw_load(path, &p, "annbench", &g, why, sizeof(why));
	double load = now() - s;
	if (!rc && !stat(path, &st))
		printf("annfile\t%zu\t%lld\t%.2f\t%.2f\n", n, (long long)st.st_size, save, load);
	unlink(path);
	cpu_sample(&busy1, &self1);
	double cap = (double)sysconf(_SC_CLK_TCK) * (now() - tb0) * ncpu;
	double other = (busy1 - busy0) - (self1 - self0);
	printf("noise\t%zu\t%.1f\n", n, other < 0 ? 0 : 100 * other / cap);
	hnsw_free(g);
	hnsw_free(h);
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(data);
	free(queries);
	free(truth);
	free(t);
	return rc ? 1 : 0;
}
