/* store/bigmem.h - a growable, aligned array that grows in place.
 *
 * The vector matrix (and its compressed copy) grows one row at a time to
 * millions of rows. Doubling with malloc + memcpy would copy it log(n)
 * times and, at each doubling, hold the old and the new copy at once: a
 * mount over 1M x 384 peaked at twice the matrix. Here a large array lives
 * in its own reservation of address space (PROT_NONE, no memory committed)
 * and grows by making more of it readable and writable: no copy, no second
 * copy, and the base is 2 MiB aligned with MADV_HUGEPAGE (fewer TLB misses
 * for the scan), except during a bulk load (bigmem_set_small_pages): on
 * this VM kind a fresh 2 MiB page takes about 2 ms to fault in (1 GB/s)
 * against 0.3 s/GB for small pages, and a mount over 1M x 384 spent 1.4
 * of its 3.2 s doing so (bench/coldstart.md); the scan is within 3%
 * either way. Small arrays (below BIGMEM_MIN bytes) use posix_memalign,
 * so many small indexes do not each reserve address space.
 *
 * Invariants: data is NULL (nothing allocated) or aligned to at least
 * `align` bytes; the first `size` bytes are usable; growing keeps the
 * contents and moves data only when a reservation is exhausted (64 GiB,
 * or less where the address space is limited: RLIMIT_AS, valgrind) or
 * when an array passes BIGMEM_MIN. Not thread
 * safe: the owner locks.
 */
#ifndef STORE_BIGMEM_H
#define STORE_BIGMEM_H

#include <stddef.h>
#include <stdint.h>

#define BIGMEM_MIN (4u << 20)

struct bigmem {
	void *data;
	size_t size;     /* usable bytes */
	size_t reserved; /* bytes of address space (0: posix_memalign) */
	size_t align;    /* set before the first grow; 0 means 64 */
	int small_pages; /* a bulk load: no huge page hint (bigmem_set_small_pages) */
};

/* Make at least bytes usable, keeping the first m->size bytes. 0 or
 * -ENOMEM (m unchanged). */
int bigmem_grow(struct bigmem *m, size_t bytes);
/* A bulk load starts (1: memory committed from now on gets small pages)
 * or ends (0: huge pages again, and what the load filled is handed to
 * khugepaged to collapse in the background). */
void bigmem_set_small_pages(struct bigmem *m, int on);
/* Make an empty m (data NULL) the bytes at off of fd (off a multiple of
 * the page size), mapped copy-on-write at the start of a reservation:
 * reads come from the page cache (no copy, no zeroed pages), writes copy
 * the page they touch, and the array grows as any other. The file must
 * not shrink while mapped (a page past its end would fault); the mapping
 * keeps it alive after it is unlinked. 0, -EINVAL (m not empty, off not
 * aligned), -ENOMEM, or mmap's -errno. */
int bigmem_map_file(struct bigmem *m, int fd, uint64_t off, size_t bytes);
/* Free everything; m is all zero again (align and small_pages kept). */
void bigmem_free(struct bigmem *m);

#endif
