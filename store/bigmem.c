/* store/bigmem.c - see bigmem.h */
#include "bigmem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE (2u << 20)
/* Address space reserved for a large array: 64 GiB costs nothing (no
 * memory, no commit charge) and covers any matrix this machine can hold;
 * past it the array moves once to a reservation of twice its size. */
#define BIGMEM_RESERVE ((size_t)64 << 30)

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

/* A PROT_NONE range of len bytes, 2 MiB aligned, or NULL. */
static void *reserve(size_t len)
{
	size_t want = len + HUGE_PAGE;
	char *p = mmap(NULL, want, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	char *base = (char *)round_up((uintptr_t)p, HUGE_PAGE);
	if (base > p)
		munmap(p, (size_t)(base - p));
	size_t tail = (size_t)(p + want - (base + len));
	if (tail)
		munmap(base + len, tail);
	return base;
}

/* Commit [old, new) of a reservation: readable, writable, huge pages
 * unless m is in a bulk load (the hint is best effort either way). */
static int commit(const struct bigmem *m, char *base, size_t old, size_t new)
{
	if (new <= old)
		return 0;
	if (mprotect(base + old, new - old, PROT_READ | PROT_WRITE))
		return -ENOMEM;
	madvise(base + old, new - old, m->small_pages ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
	return 0;
}

void bigmem_set_small_pages(struct bigmem *m, int on)
{
	on = !!on;
	if (m->small_pages == on)
		return;
	m->small_pages = on;
	/* Leaving a bulk load: khugepaged may now collapse what was filled. */
	if (m->reserved && m->size)
		madvise(m->data, m->size, on ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
}

/* A reservation able to hold bytes and grow (*len its size), or NULL. */
static char *reserve_for(size_t bytes, size_t *len)
{
	*len = round_up(bytes * 2 > BIGMEM_RESERVE ? bytes * 2 : BIGMEM_RESERVE, HUGE_PAGE);
	char *base = *len >= bytes ? reserve(*len) : NULL;
	/* Refused (RLIMIT_AS, valgrind's address space): a quarter as much,
	 * down to twice what is needed. */
	while (!base && *len / 4 >= round_up(bytes * 2, HUGE_PAGE) && bytes * 2 > bytes)
		base = reserve(*len /= 4);
	if (!base)
		base = (*len = round_up(bytes * 2, HUGE_PAGE)) >= bytes ? reserve(*len) : NULL;
	return base;
}

/* Move m's contents into a fresh reservation able to hold bytes. */
static int move_to_reservation(struct bigmem *m, size_t bytes)
{
	size_t len;
	char *base = reserve_for(bytes, &len);
	size_t size = round_up(bytes, HUGE_PAGE);
	if (!base || commit(m, base, 0, size)) {
		if (base)
			munmap(base, len);
		return -ENOMEM;
	}
	if (m->size)
		memcpy(base, m->data, m->size);
	bigmem_free(m);
	m->data = base;
	m->size = size;
	m->reserved = len;
	return 0;
}

int bigmem_grow(struct bigmem *m, size_t bytes)
{
	if (bytes <= m->size)
		return 0;
	if (m->reserved) {
		if (bytes <= m->reserved) {
			size_t size = round_up(bytes, HUGE_PAGE);
			if (size > m->reserved)
				size = m->reserved;
			if (commit(m, m->data, m->size, size))
				return -ENOMEM;
			m->size = size;
			return 0;
		}
		return move_to_reservation(m, bytes);
	}
	if (bytes >= BIGMEM_MIN)
		return move_to_reservation(m, bytes);
	void *p;
	if (posix_memalign(&p, m->align ? m->align : 64, bytes))
		return -ENOMEM;
	if (m->size)
		memcpy(p, m->data, m->size);
	free(m->data);
	m->data = p;
	m->size = bytes;
	return 0;
}

int bigmem_map_file(struct bigmem *m, int fd, uint64_t off, size_t bytes)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	if (m->data || !bytes || off % page || off > (uint64_t)INT64_MAX)
		return -EINVAL;
	size_t len, size = round_up(bytes, page);
	char *base = reserve_for(bytes, &len);
	if (!base)
		return -ENOMEM;
	/* Over the start of the reservation: growing later commits the rest
	 * of it as before (anonymous, after the file's last page). */
	if (mmap(base, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
		 (off_t)off) == MAP_FAILED) {
		int rc = -errno;
		munmap(base, len);
		return rc;
	}
	m->data = base;
	m->size = size;
	m->reserved = len;
	return 0;
}

void bigmem_free(struct bigmem *m)
{
	if (m->reserved)
		munmap(m->data, m->reserved);
	else
		free(m->data);
	m->data = NULL;
	m->size = m->reserved = 0;
}
