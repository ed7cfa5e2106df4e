/* bench/benchdata.h - what bench/vecbench.c and bench/annbench.c share:
 * the benchmark's clustered, embedding-like rows and queries (one generator
 * and seed, so both benches and their peers measure the same matrix), the
 * clock, and the small helpers of their reports.
 *
 * Header only (static inline): scripts/bench and scripts/bench-ann.sh build
 * each bench from its one .c file with gcc, bench/meson.build likewise.
 */
#ifndef BENCH_BENCHDATA_H
#define BENCH_BENCHDATA_H

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the generator (change it and every published result moves) ---- */

static uint64_t rs;

static inline uint64_t rng(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

/* Irwin-Hall(4): close enough to Gaussian for data generation, and fast. */
static inline float gauss(void)
{
	uint64_t r = rng();
	float s = (float)(r & 0xffff) + (float)((r >> 16) & 0xffff) +
		  (float)((r >> 32) & 0xffff) + (float)(r >> 48);
	return (s / 65536.0f - 2.0f) * 1.7320508f;
}

enum { BENCH_NC = 1000, BENCH_RANK = 64, BENCH_BLK = 4096 };

/* x = normalize(c_j + 0.7 B z / sqrt(64) + 0.25 g / sqrt(d)), in blocks:
 * rows x d floats into out, centres c (NC x d) and basis b (RANK x d). */
static inline void bench_mixture(float *out, size_t rows, uint32_t d, const float *c,
				 const float *b)
{
	float *z = malloc((size_t)BENCH_BLK * BENCH_RANK * sizeof(float));
	for (size_t base = 0; base < rows; base += BENCH_BLK) {
		size_t m = rows - base < BENCH_BLK ? rows - base : BENCH_BLK;
		float *x = out + base * d;
		for (size_t i = 0; i < m * BENCH_RANK; i++)
			z[i] = gauss();
		for (size_t r = 0; r < m; r++) {
			const float *cj = c + (rng() % BENCH_NC) * d;
			for (uint32_t i = 0; i < d; i++)
				x[r * d + i] = cj[i] + 0.25f * gauss() / sqrtf((float)d);
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)d, BENCH_RANK,
			    0.7f / 8.0f, z, BENCH_RANK, b, (int)d, 1.0f, x, (int)d);
		for (size_t r = 0; r < m; r++) {
			float *v = x + r * d;
			double s = 0;
			for (uint32_t i = 0; i < d; i++)
				s += (double)v[i] * v[i];
			for (uint32_t i = 0; i < d; i++)
				v[i] = (float)(v[i] / sqrt(s));
		}
	}
	free(z);
}

/* n rows into data and nq queries into queries, d floats each: 1000
 * Gaussian centres, rank-64 within-cluster variation, noise, normalised.
 * The queries come from the same mixture under another seed. */
static inline void bench_generate(float *data, size_t n, float *queries, size_t nq, uint32_t d)
{
	float *c = malloc((size_t)BENCH_NC * d * sizeof(float));
	float *b = malloc((size_t)BENCH_RANK * d * sizeof(float));
	rs = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < (size_t)BENCH_NC * d; i++)
		c[i] = gauss();
	for (size_t i = 0; i < (size_t)BENCH_RANK * d; i++)
		b[i] = gauss();
	bench_mixture(data, n, d, c, b);
	rs = 0xdeadbeefcafef00dULL;
	bench_mixture(queries, nq, d, c, b);
	free(c);
	free(b);
}

/* ---- reports ---- */

static inline int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Jiffies busy on the whole machine, and used by this process: the
 * "noise" line is what other processes took during the run. */
static inline void cpu_sample(double *busy, double *self)
{
	unsigned long long u, ni, sy, id, io, irq, sirq, st;
	FILE *f = fopen("/proc/stat", "r");
	*busy = *self = 0;
	if (f && fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &u, &ni, &sy, &id, &io,
			&irq, &sirq, &st) == 8)
		*busy = (double)(u + ni + sy + irq + sirq);
	if (f)
		fclose(f);
	f = fopen("/proc/self/stat", "r");
	char buf[1024];
	if (f && fgets(buf, sizeof(buf), f)) {
		char *p = strrchr(buf, ')');
		unsigned long ut = 0, stt = 0;
		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
				&stt) == 2)
			*self = (double)(ut + stt);
	}
	if (f)
		fclose(f);
}

/* dir/name := p[0, len) for the peers (bench/peers.py, bench/annpeers.py). */
static inline void write_file(const char *dir, const char *name, const void *p, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

#endif
