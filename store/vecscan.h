/* store/vecscan.h - test and bench hooks for the scan in store/vecindex.c.
 *
 * Not part of the vecindex API: the unit tests use these to force the scalar
 * or AVX2 kernel and to exercise the thread split on small matrices, and
 * bench/vecbench.c to compare thread counts. Settings are process-wide and
 * apply to searches started afterwards. RAGFS_VEC_SCALAR=1 in the
 * environment (read once) makes the scalar kernel the default.
 */
#ifndef STORE_VECSCAN_H
#define STORE_VECSCAN_H

#include <stddef.h>

enum vecscan_isa { VECSCAN_AUTO = 0, VECSCAN_SCALAR, VECSCAN_AVX2 };

/* Force a kernel. 0, or -ENOTSUP if this CPU (or build) lacks it. */
int vecscan_set_isa(enum vecscan_isa isa);
/* The kernel the next search uses: "avx2" or "scalar". */
const char *vecscan_isa_name(void);
/* Threads per search, the caller included; 0 = online CPUs (default). */
void vecscan_set_threads(unsigned n);
/* Smallest matrix (bytes) split across threads; 0 = default (8 MiB). */
void vecscan_set_par_bytes(size_t bytes);
/* Threads a large search would use now (caller included). */
unsigned vecscan_threads(void);

#endif
