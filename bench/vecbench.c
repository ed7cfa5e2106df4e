/* bench/vecbench.c - exact top-10 search against the machine's limits.
 *
 * vecbench N DIM OUTDIR [SECONDS]
 * VECBENCH_FILTERS=1 vecbench ...   (only the filt* rows; nothing written)
 *
 * Generates N clustered, embedding-like rows (1000 Gaussian centres plus
 * low-rank within-cluster variation plus isotropic noise, normalised), loads
 * them into a vecindex, and measures on that same matrix:
 *   dot      a plain row-sequential AVX2 dot pass, no selection: the
 *            bandwidth limit for this memory and thread count
 *   ragfs    vecindex_search, 1 thread and the default split
 *   sgemv    cblas_sgemv into a score array + a top-10 heap (OpenBLAS)
 *   qps      vecindex_search from R = 1, 8, 64 concurrent readers (under a
 *            read lock), each search alone
 *   bqps     the same through vecbatch_search (what the daemon does):
 *            concurrent searches coalesce into sgemm batches
 *   batch64  vecbatch_run over 64 queries (blocked sgemm), per query
 *   int8     vecindex_search with the int8 copy (vec_compress=int8), and
 *   fp16     with the fp16 copy; "qinfo" lines: copy bytes, phase-2 share;
 *            with each copy also batch64_<kind> (the batch of 64 scans the
 *            codes once) and bqps_<kind> (1/8/64 readers, coalesced)
 *   filt0    query_run (the daemon's query path) without a filter,
 *   filt1    with a 1% filter answered by the metadata index
 *            ({"bucket": 7}: rows are nodes with "bucket" = row % 100),
 *   filt1s   with the same 1% as a range (>= 7, <= 7: the index's
 *            number postings of "bucket")
 * and recall@10 of the exact methods against a double brute force. Writes
 * OUTDIR/data.f32, queries.f32 and truth.i32 for the peers (bench/peers.py)
 * and prints one TSV line per measurement:
 *   method N threads median_ms best_ms GB/s qps recall
 * plus "noise <percent>": CPU used by other processes during the run.
 */
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/query.h"
#include "store/state.h"
#include "store/vecbatch.h"
#include "store/vecindex.h"
#include "store/vecquant.h"
#include "store/vecscan.h"

#include "bench/benchdata.h"

#define NQ 64		/* queries */
#define NT 8		/* queries with a brute-force truth */
#define K 10
#define ROUNDS 3

static size_t n;
static uint32_t dim;
static struct vecindex *vi;
static float *queries;
static uint32_t truth[NT][K];
static uint32_t truthf[NT][K];	/* among rows with row % 100 == 7 */
static struct state *gst;	/* vi is its vector set; nodes carry "bucket" */
static pthread_rwlock_t vi_lock = PTHREAD_RWLOCK_INITIALIZER;

/* ---- top-10 helpers ---- */

struct top {
	float s[K];
	uint32_t r[K];
	int len;
};

static inline void top_push(struct top *t, float s, uint32_t r)
{
	if (t->len == K && s <= t->s[K - 1])
		return;
	int i = t->len < K ? t->len++ : K - 1;
	while (i > 0 && t->s[i - 1] < s) {
		t->s[i] = t->s[i - 1];
		t->r[i] = t->r[i - 1];
		i--;
	}
	t->s[i] = s;
	t->r[i] = r;
}

static double recall(const uint32_t *got, size_t ngot, int qi)
{
	int hit = 0;
	for (int i = 0; i < K; i++)
		for (size_t j = 0; j < ngot; j++)
			if (got[j] == truth[qi][i]) {
				hit++;
				break;
			}
	return hit / (double)K;
}

static void *truth_worker(void *arg)
{
	int qi = (int)(intptr_t)arg % NT, filtered = (int)(intptr_t)arg >= NT;
	const float *q = queries + (size_t)qi * dim;
	struct top t = { .len = 0 };
	double best[K];
	int len = 0;
	for (size_t r = filtered ? 7 : 0; r < n; r += filtered ? 100 : 1) {
		const float *x = vecindex_row(vi, r);
		double d = 0, rr = 0;
		for (uint32_t i = 0; i < dim; i++) {
			d += (double)x[i] * q[i];
			rr += (double)x[i] * x[i];
		}
		d = rr > 0 ? d / sqrt(rr) : 0;
		if (len == K && d <= best[K - 1])
			continue;
		int i = len < K ? len++ : K - 1;
		while (i > 0 && best[i - 1] < d) {
			best[i] = best[i - 1];
			t.r[i] = t.r[i - 1];
			i--;
		}
		best[i] = d;
		t.r[i] = (uint32_t)r;
	}
	memcpy(filtered ? truthf[qi] : truth[qi], t.r, sizeof(truth[qi]));
	return NULL;
}

/* ---- the plain dot pass: the bandwidth limit ---- */

struct dotjob {
	const float *q;
	size_t lo, hi;
	float sum;
};

static void *dot_worker(void *arg)
{
	struct dotjob *j = arg;
	const float *m = vecindex_row(vi, 0);
	__m256 acc = _mm256_setzero_ps();
	for (size_t r = j->lo; r < j->hi; r++) {
		const float *x = m + r * dim;
		__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		for (uint32_t i = 0; i + 32 <= dim; i += 32) {
			a0 = _mm256_fmadd_ps(_mm256_load_ps(x + i), _mm256_loadu_ps(j->q + i), a0);
			a1 = _mm256_fmadd_ps(_mm256_load_ps(x + i + 8),
					     _mm256_loadu_ps(j->q + i + 8), a1);
			a2 = _mm256_fmadd_ps(_mm256_load_ps(x + i + 16),
					     _mm256_loadu_ps(j->q + i + 16), a2);
			a3 = _mm256_fmadd_ps(_mm256_load_ps(x + i + 24),
					     _mm256_loadu_ps(j->q + i + 24), a3);
		}
		acc = _mm256_add_ps(acc, _mm256_add_ps(_mm256_add_ps(a0, a1),
						       _mm256_add_ps(a2, a3)));
	}
	float t[8];
	_mm256_storeu_ps(t, acc);
	j->sum = t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
	return NULL;
}

/* Threads are made per pass: that cost counts against the limit, not us. */
static float dot_pass(const float *q, int nt)
{
	pthread_t tid[8];
	struct dotjob j[8];
	for (int t = 0; t < nt; t++) {
		j[t] = (struct dotjob){ q, n * t / nt, n * (t + 1) / nt, 0 };
		if (t)
			pthread_create(&tid[t], NULL, dot_worker, &j[t]);
	}
	dot_worker(&j[0]);
	float s = j[0].sum;
	for (int t = 1; t < nt; t++) {
		pthread_join(tid[t], NULL);
		s += j[t].sum;
	}
	return s;
}

/* ---- methods ---- */

static volatile float sink;

static void run_dot(int qi, int nt)
{
	sink += dot_pass(queries + (size_t)qi * dim, nt);
}

static double ragfs_recall;
static double sgemv_recall;

static void run_ragfs(int qi, int nt)
{
	struct vec_hit h[K];
	size_t nh;
	vecscan_set_threads((unsigned)nt);
	vecindex_search(vi, queries + (size_t)qi * dim, K, NULL, NULL, h, &nh);
	if (qi < NT) {
		uint32_t got[K];
		for (size_t i = 0; i < nh; i++)
			got[i] = h[i].row;
		ragfs_recall += recall(got, nh, qi);
	}
}

static float *scores;

static void run_sgemv(int qi, int nt)
{
	const float *q = queries + (size_t)qi * dim;
	openblas_set_num_threads(nt);
	/* The rows are unit vectors: inner product = cosine. */
	cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)dim, 1.0f, vecindex_row(vi, 0),
		    (int)dim, q, 1, 0.0f, scores, 1);
	struct top t = { .len = 0 };
	for (size_t r = 0; r < n; r++)
		top_push(&t, scores[r], (uint32_t)r);
	if (qi < NT)
		sgemv_recall += recall(t.r, (size_t)t.len, qi);
}

static double median(double *v, int m)
{
	qsort(v, (size_t)m, sizeof(*v), cmp_d);
	return m % 2 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2;
}

struct method {
	const char *name;
	void (*run)(int qi, int nt);
	int nt;
	double rmed[ROUNDS], best;
};

static double readers_deadline;
static long readers_done;
static int readers_coalesce;	/* vecbatch_search, as the daemon does */
static pthread_mutex_t readers_mu = PTHREAD_MUTEX_INITIALIZER;

static void *reader(void *arg)
{
	int qi = (int)(intptr_t)arg % NQ;
	long done = 0;
	struct vec_hit h[K];
	size_t nh;
	do {
		struct vec_query vq = { .q = queries + (size_t)qi * dim, .k = K };
		pthread_rwlock_rdlock(&vi_lock);
		if (readers_coalesce)
			vecbatch_search(vi, &vq, h, &nh);
		else
			vecindex_search_q(vi, &vq, h, &nh);
		pthread_rwlock_unlock(&vi_lock);
		done++;
		qi = (qi + 1) % NQ;
	} while (now() < readers_deadline);
	pthread_mutex_lock(&readers_mu);
	readers_done += done;
	pthread_mutex_unlock(&readers_mu);
	return NULL;
}

/* Searches done by readers threads in secs; *elapsed gets the time. */
static long qps_window(int readers, double secs, double *elapsed)
{
	pthread_t tid[64];
	vecscan_set_threads(0);
	readers_done = 0;
	double t0 = now();
	readers_deadline = t0 + secs;
	for (int i = 0; i < readers; i++)
		pthread_create(&tid[i], NULL, reader, (void *)(intptr_t)(i * 7));
	for (int i = 0; i < readers; i++)
		pthread_join(tid[i], NULL);
	*elapsed = now() - t0;
	return readers_done;
}

/* The store image the daemon would hold: node i with metadata
 * {"bucket": i % 100} and its vector, applied as frames. */
static int build_state(const float *data)
{
	char id[32], json[160];
	if (state_new(dim, &gst))
		return -1;
	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "node-%07zu", i);
		int len = snprintf(json, sizeof(json), "{\"id_\": \"%s\", \"metadata\": "
				   "{\"bucket\": %zu}}", id, i % 100);
		struct frame_op node = { .type = FRAME_PUT, .coll = COLL_NODES,
					 .coll_len = strlen(COLL_NODES), .key = id,
					 .key_len = strlen(id), .val = json, .val_len = (size_t)len };
		struct frame_op vec = { .type = FRAME_PUT, .coll = COLL_VECS,
					.coll_len = strlen(COLL_VECS), .key = id, .key_len = strlen(id),
					.val = data + i * dim, .val_len = dim * sizeof(float) };
		if (state_apply(gst, &node) || state_apply(gst, &vec))
			return -1;
	}
	vi = state_vectors(gst);
	return 0;
}

static double recall_of(const uint32_t *got, size_t ngot, const uint32_t *want)
{
	int hit = 0;
	for (int i = 0; i < K; i++)
		for (size_t j = 0; j < ngot; j++)
			if (got[j] == want[i]) {
				hit++;
				break;
			}
	return hit / (double)K;
}

/* A method measured on its own (not interleaved): ROUNDS rounds of per
 * calls; prints the TSV line. run returns ms per query of one call and
 * adds recall to *rec_sum / *rec_n for truth queries. */
static double rec_sum;
static int rec_n;

static void measure(const char *name, int nt, double (*run)(int qi, int nt), int per,
		    int stride)
{
	double rmed[ROUNDS], best = 1e9, t[NQ];
	run(0, nt); /* warm up */
	rec_sum = 0;
	rec_n = 0;
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < per; i++) {
			t[i] = run((r * per + i) * stride % NQ, nt);
			if (t[i] < best)
				best = t[i];
		}
		rmed[r] = median(t, per);
	}
	double med = median(rmed, ROUNDS), gb = (double)n * dim * sizeof(float) / 1e9;
	printf("%s\t%zu\t%d\t%.3f\t%.3f\t%.2f\t%.1f\t%.3f\n", name, n, nt, med, best,
	       gb / (med / 1e3), 1e3 / med, rec_n ? rec_sum / rec_n : -1.0);
	fflush(stdout);
}

/* 64 queries in one sgemm batch; ms per query. */
static double run_batch64(int qi, int nt)
{
	struct vec_query qs[NQ];
	static struct vec_hit hbuf[NQ][K];
	struct vec_hit *hits[NQ];
	size_t nh[NQ];
	int rcs[NQ];
	vecscan_set_threads((unsigned)nt);
	for (int i = 0; i < NQ; i++) {
		qs[i] = (struct vec_query){ .q = queries + (size_t)i * dim, .k = K };
		hits[i] = hbuf[i];
	}
	double s = now();
	vecbatch_run(vi, NQ, qs, hits, nh, rcs);
	double ms = (now() - s) * 1e3 / NQ;
	for (int i = 0; i < NT; i++) {
		uint32_t got[K];
		for (size_t j = 0; j < nh[i]; j++)
			got[j] = hits[i][j].row;
		rec_sum += recall_of(got, nh[i], truth[i]);
		rec_n++;
	}
	(void)qi;
	return ms;
}

/* With a copy set: the batch of 64 on it, and coalesced readers
 * ("batch64_int8", "bqps_int8" ...; alone = the kind's own rows). */
static void copy_batches(const char *kind, double secs, int ncpu)
{
	char name[32];
	snprintf(name, sizeof(name), "batch64_%s", kind);
	measure(name, 1, run_batch64, n >= 500000 ? 2 : 4, 1);
	measure(name, ncpu, run_batch64, n >= 500000 ? 2 : 4, 1);
	readers_coalesce = 1;
	for (int r = 1; r <= 64; r *= 8) {
		double e;
		double q = qps_window(r, secs / 2, &e) / e;
		printf("bqps_%s\t%zu\t%d\t%.3f\t-\t%.2f\t%.1f\t-\n", kind, n, r, 1e3 / q * r,
		       (double)n * dim * sizeof(float) / 1e9 * q, q);
	}
	fflush(stdout);
}

/* One single-query search (the compressed copy when set). */
static double run_single(int qi, int nt)
{
	struct vec_hit h[K];
	size_t nh;
	vecscan_set_threads((unsigned)nt);
	double s = now();
	vecindex_search(vi, queries + (size_t)qi * dim, K, NULL, NULL, h, &nh);
	double ms = (now() - s) * 1e3;
	if (qi < NT) {
		uint32_t got[K];
		for (size_t j = 0; j < nh; j++)
			got[j] = h[j].row;
		rec_sum += recall_of(got, nh, truth[qi]);
		rec_n++;
	}
	return ms;
}

/* query_run requests: 0 no filter, 1 the indexed 1% filter, 2 the same
 * rows as a range. */
static struct query_req freq[3][NQ];
static int fvariant;

static void make_filter_reqs(void)
{
	static const char *flt[3] = { "", ", \"filters\": [{\"key\": \"bucket\", \"value\": 7}]",
		", \"filters\": [{\"key\": \"bucket\", \"operator\": \">=\", \"value\": 7}, "
		"{\"key\": \"bucket\", \"operator\": \"<=\", \"value\": 7}]" };
	char *req = malloc((size_t)dim * 24 + 512), err[200];
	for (int v = 0; v < 3; v++)
		for (int i = 0; i < NQ; i++) {
			int len = sprintf(req, "{\"top_k\": %d%s, \"embedding\": [", K, flt[v]);
			for (uint32_t d = 0; d < dim; d++)
				len += sprintf(req + len, "%s%.9g", d ? "," : "",
					       queries[(size_t)i * dim + d]);
			len += sprintf(req + len, "]}");
			if (query_parse(req, (size_t)len, K, &freq[v][i], err, sizeof(err))) {
				fprintf(stderr, "vecbench: %s\n", err);
				exit(1);
			}
		}
	free(req);
}

static double run_query(int qi, int nt)
{
	struct query_result res;
	vecscan_set_threads((unsigned)nt);
	const struct query_req *q = &freq[fvariant][qi];
	double s = now();
	query_run(gst, q, q->embedding, &res);
	double ms = (now() - s) * 1e3;
	if (qi < NT) {
		uint32_t got[K];
		for (size_t j = 0; j < res.n; j++)
			got[j] = (uint32_t)strtoul(res.hits[j].node_id + 5, NULL, 10);
		rec_sum += recall_of(got, res.n, fvariant ? truthf[qi] : truth[qi]);
		rec_n++;
	}
	query_result_free(&res);
	return ms;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: vecbench N DIM OUTDIR [SECONDS]\n");
		return 2;
	}
	n = strtoul(argv[1], NULL, 10);
	dim = (uint32_t)strtoul(argv[2], NULL, 10);
	const char *outdir = argv[3];
	double secs = argc > 4 ? atof(argv[4]) : 3;
	const char *fo = getenv("VECBENCH_FILTERS");
	int only_filters = fo && atoi(fo);
	if (dim % 32 || n < K) {
		fprintf(stderr, "vecbench: DIM must be a multiple of 32, N >= %d\n", K);
		return 2;
	}
	double t0 = now();
	float *data = malloc(n * dim * sizeof(float));
	queries = malloc((size_t)NQ * dim * sizeof(float));
	bench_generate(data, n, queries, NQ, dim);
	if (build_state(data))
		return 1;
	free(data);
	pthread_t tt[2 * NT];
	for (int i = 0; i < 2 * NT; i++)
		pthread_create(&tt[i], NULL, truth_worker, (void *)(intptr_t)i);
	for (int i = 0; i < 2 * NT; i++)
		pthread_join(tt[i], NULL);
	if (!only_filters) {
		write_file(outdir, "data.f32", vecindex_row(vi, 0), n * dim * sizeof(float));
		write_file(outdir, "queries.f32", queries, (size_t)NQ * dim * sizeof(float));
		write_file(outdir, "truth.i32", truth, sizeof(truth));
	}
	fprintf(stderr, "vecbench: %zu x %u ready in %.1f s (kernel %s, %u threads)\n", n, dim,
		now() - t0, vecscan_isa_name(), vecscan_threads());
	scores = malloc(n * sizeof(float));

	int ncpu = (int)vecscan_threads();
	struct method ms[] = {
		{ .name = "dot", .run = run_dot, .nt = 1 },
		{ .name = "ragfs", .run = run_ragfs, .nt = 1 },
		{ .name = "sgemv", .run = run_sgemv, .nt = 1 },
		{ .name = "dot", .run = run_dot, .nt = ncpu },
		{ .name = "ragfs", .run = run_ragfs, .nt = ncpu },
		{ .name = "sgemv", .run = run_sgemv, .nt = ncpu },
	};
	int nm = only_filters ? 0 : ncpu > 1 ? 6 : 3;
	/* Queries per round: about secs/3 of the slowest method (sgemv). */
	double busy0, self0, busy1, self1;
	cpu_sample(&busy0, &self0);
	double tb0 = now();
	for (int m = 0; m < nm; m++) {
		ms[m].best = 1e9;
		ms[m].run(0, ms[m].nt); /* warm up */
	}
	ragfs_recall = sgemv_recall = 0;
	int per = n >= 500000 ? 21 : NQ;
	/* Rounds interleave the methods so host noise hits all of them. */
	for (int r = 0; r < ROUNDS; r++) {
		for (int m = 0; m < nm; m++) {
			double t[NQ];
			for (int i = 0; i < per; i++) {
				int qi = (r * per + i) % NQ;
				double s = now();
				ms[m].run(qi, ms[m].nt);
				t[i] = (now() - s) * 1e3;
				if (t[i] < ms[m].best)
					ms[m].best = t[i];
			}
			ms[m].rmed[r] = median(t, per);
		}
	}
	vecscan_set_threads(0);
	openblas_set_num_threads(1); /* as vecbatch keeps it */
	/* Every query index < NT ran once per (method, threads) pair per full
	 * cycle of NQ; count how many truth queries each method saw. */
	int truth_runs = 0;
	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < per; i++)
			truth_runs += (r * per + i) % NQ < NT;
	double gb = (double)n * dim * sizeof(float) / 1e9;
	for (int m = 0; m < nm; m++) {
		double med = median(ms[m].rmed, ROUNDS);
		double rec = -1;
		if (ms[m].run == run_ragfs)
			rec = ragfs_recall / (truth_runs * (nm / 3));
		else if (ms[m].run == run_sgemv)
			rec = sgemv_recall / (truth_runs * (nm / 3));
		printf("%s\t%zu\t%d\t%.3f\t%.3f\t%.2f\t%.1f\t%.3f\n", ms[m].name, n, ms[m].nt, med,
		       ms[m].best, gb / (med / 1e3), 1e3 / med, rec);
	}
	int rd[] = { 1, 8, 64 };
	/* Alone and coalesced alternate in six windows per reader count, so
	 * the host's drift hits both alike. */
	for (int i = 0; i < (only_filters ? 0 : 3); i++) {
		long done[2] = { 0, 0 };
		double el[2] = { 0, 0 };
		struct vecbatch_stats b0, b1;
		vecbatch_get_stats(&b0);
		for (int w = 0; w < 6; w++) {
			double e;
			readers_coalesce = w % 2;
			done[w % 2] += qps_window(rd[i], secs / 3, &e);
			el[w % 2] += e;
		}
		vecbatch_get_stats(&b1);
		for (int co = 0; co < 2; co++) {
			double q = done[co] / el[co];
			printf("%s\t%zu\t%d\t%.3f\t-\t%.2f\t%.1f\t-\n", co ? "bqps" : "qps", n,
			       rd[i], 1e3 / q * rd[i], gb * q, q);
		}
		printf("binfo\t%zu\t%d\t%.1f\n", n, rd[i],
		       b1.batches > b0.batches ? (double)(b1.batched - b0.batched) /
		       (double)(b1.batches - b0.batches) : 1.0);
	}
	fflush(stdout);
	int per2 = n >= 500000 ? 21 : NQ;
	if (!only_filters) {
		measure("batch64", 1, run_batch64, n >= 500000 ? 2 : 4, 1);
		measure("batch64", ncpu, run_batch64, n >= 500000 ? 2 : 4, 1);
	}
	static const enum vec_compress kinds[] = { VEC_COMPRESS_INT8, VEC_COMPRESS_FP16 };
	for (int ki = 0; ki < (only_filters ? 0 : 2); ki++) {
		double s0 = now();
		vecindex_set_compress(vi, kinds[ki]);
		double enc = now() - s0;
		struct vecquant_stats q0, q1;
		vecquant_get_stats(&q0);
		measure(vec_compress_name(kinds[ki]), 1, run_single, per2, 1);
		measure(vec_compress_name(kinds[ki]), ncpu, run_single, per2, 1);
		vecquant_get_stats(&q1);
		copy_batches(vec_compress_name(kinds[ki]), secs, ncpu);
		/* qinfo kind N copy-bytes float-bytes phase-2-share rescored encode-s */
		printf("qinfo\t%s\t%zu\t%zu\t%zu\t%.4f\t%.1f\t%.2f\n",
		       vec_compress_name(kinds[ki]), n, vecindex_compressed_bytes(vi),
		       vecindex_bytes(vi),
		       (double)(q1.second_pass - q0.second_pass) / (double)(q1.searches - q0.searches),
		       (double)(q1.rescored - q0.rescored) / (double)(q1.searches - q0.searches),
		       enc);
		vecindex_set_compress(vi, VEC_COMPRESS_NONE);
	}
	make_filter_reqs();
	static const char *fnames[3] = { "filt0", "filt1", "filt1s" };
	for (fvariant = 0; fvariant < 3; fvariant++)
		measure(fnames[fvariant], ncpu, run_query, per2, 1);
	for (int v = 0; v < 3; v++)
		for (int i = 0; i < NQ; i++)
			query_req_free(&freq[v][i]);
	cpu_sample(&busy1, &self1);
	double cap = (double)sysconf(_SC_CLK_TCK) * (now() - tb0) * sysconf(_SC_NPROCESSORS_ONLN);
	double other = (busy1 - busy0) - (self1 - self0);
	printf("noise\t%zu\t%.1f\n", n, other < 0 ? 0 : 100 * other / cap);
	free(scores);
	free(queries);
	state_free(gst);
	return 0;
}
