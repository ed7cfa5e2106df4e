/* store/vecpool.h - the one thread pool every search kernel shares.
 *
 * One process-wide pool of (online CPUs - 1) helper threads, made on first
 * use and joined at exit. The float scan (vecindex.c), the compressed scan
 * (vecquant.c) and the sgemm batches (vecbatch.c) all split their work on
 * it, so the machine never runs more search threads than it has CPUs;
 * OpenBLAS is kept single-threaded inside those jobs (vecbatch.c sets it),
 * so its own threads do not fight the pool.
 *
 * A job is fn(arg, slot), run by the caller as slot 0 and by up to nt - 1
 * helpers as slots 1, 2, ...: each slot number goes to exactly one thread,
 * so per-slot state (heaps, buffers) needs no lock. fn divides the work
 * itself, usually with an atomic cursor: a helper that arrives late finds
 * nothing left and returns. Jobs queue first come, first served.
 * vecpool_run returns after every participant has left fn, so arg may live
 * on the caller's stack. Helpers block all signals.
 */
#ifndef STORE_VECPOOL_H
#define STORE_VECPOOL_H

typedef void (*vecpool_fn)(void *arg, unsigned slot);

/* Run fn on at most nt threads, the caller included. Returns the number of
 * slots handed out (1..nt): slots [0, result) ran, others did not. */
unsigned vecpool_run(unsigned nt, vecpool_fn fn, void *arg);
/* Threads a job can have at most: helpers + the caller (>= 1). */
unsigned vecpool_size(void);

#endif
