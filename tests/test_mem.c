/* Unit tests: store/bigmem.c (arrays that grow in place) and
 * store/mapfile.c (mapped files with drop-behind). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store/bigmem.h"
#include "store/mapfile.h"
#include "tests/tap.h"

/* Fill [from, to) of p with a pattern of its offsets; check it. */
static void fill(unsigned char *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		p[i] = (unsigned char)(i * 131 >> 3);
}

static int same(const unsigned char *p, size_t to)
{
	for (size_t i = 0; i < to; i++)
		if (p[i] != (unsigned char)(i * 131 >> 3))
			return 0;
	return 1;
}

/* Pages of [p, p + len) resident in this process. */
static size_t resident(const void *p, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (len + page - 1) / page, in = 0;
	unsigned char *v = malloc(n);
	if (!v || mincore((void *)p, len, v)) {
		free(v);
		return (size_t)-1;
	}
	for (size_t i = 0; i < n; i++)
		in += v[i] & 1;
	free(v);
	return in;
}

/* This process's resident memory in KiB (VmRSS: file pages included). */
static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = atol(line + 6);
	if (f)
		fclose(f);
	return kb;
}

static void test_bigmem(void)
{
	struct bigmem m = { .align = 64 };
	ok(bigmem_grow(&m, 1000) == 0 && m.data && m.size >= 1000 && !m.reserved,
	   "small: posix_memalign");
	ok((uintptr_t)m.data % 64 == 0, "small: 64-byte aligned");
	fill(m.data, 0, 1000);
	ok(bigmem_grow(&m, 500) == 0 && m.size >= 1000, "growing to less is a no-op");
	ok(bigmem_grow(&m, BIGMEM_MIN) == 0 && m.reserved >= BIGMEM_MIN && m.size >= BIGMEM_MIN,
	   "past BIGMEM_MIN: a reservation");
	ok((uintptr_t)m.data % (2u << 20) == 0, "the reservation is 2 MiB aligned");
	ok(same(m.data, 1000), "moving into the reservation kept the contents");
	fill(m.data, 0, m.size);
	void *base = m.data;
	size_t was = m.size;
	int grew = 1;
	for (size_t want = was; want <= 64 * BIGMEM_MIN; want *= 2)
		grew &= bigmem_grow(&m, want) == 0;
	ok(grew && m.data == base, "growing to 256 MiB stays in place (no copy)");
	ok(same(m.data, was), "in-place growth kept the contents");
	ok(resident(m.data, m.size) * (size_t)sysconf(_SC_PAGESIZE) <= was + (4u << 20),
	   "untouched growth costs no memory");
	fill(m.data, was, m.size);
	ok(same(m.data, m.size), "all of it is writable");
	bigmem_free(&m);
	ok(!m.data && !m.size && !m.reserved && m.align == 64, "freed");
	bigmem_free(&m);
	ok(1, "freeing twice is harmless");
}

/* The VmFlags line of the mapping that holds p ("" when not found). */
static void vm_flags(const void *p, char *out, size_t len)
{
	char line[512];
	int in = 0;
	out[0] = 0;
	FILE *f = fopen("/proc/self/smaps", "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) /* a mapping's first line */
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
		else if (in && !strncmp(line, "VmFlags:", 8))
			snprintf(out, len, "%s", line + 8);
	}
	if (f)
		fclose(f);
}

/* A bulk load commits without the huge page hint (VmFlags nh), and its
 * end hands the filled part back to huge pages (hg); contents survive. */
static void test_bulk(void)
{
	struct bigmem m = { .align = 64 };
	char fl[512];
	bigmem_set_small_pages(&m, 1);
	ok(bigmem_grow(&m, 64u << 20) == 0 && m.reserved, "bulk: a 64 MiB reservation");
	fill(m.data, 0, 64u << 20);
	vm_flags(m.data, fl, sizeof(fl));
	ok(strstr(fl, " nh") && !strstr(fl, " hg"), "bulk: no huge page hint (VmFlags:%s)",
	   strtok(fl, "\n"));
	bigmem_set_small_pages(&m, 0);
	vm_flags(m.data, fl, sizeof(fl));
	ok(strstr(fl, " hg") && !strstr(fl, " nh"), "after: huge pages hinted (VmFlags:%s)",
	   strtok(fl, "\n"));
	ok(same(m.data, 64u << 20), "the bulk load's contents survive the switch");
	ok(bigmem_grow(&m, 128u << 20) == 0 && same(m.data, 64u << 20), "and growth after it");
	bigmem_free(&m);
	ok(!m.small_pages, "small_pages is kept by free (off here)");
}

static void test_mapfile(void)
{
	char path[] = "/tmp/ragfs-test-mem.XXXXXX";
	int fd = mkstemp(path);
	size_t len = 64u << 20;
	unsigned char *data = malloc(len);
	if (fd < 0 || !data) {
		ok(0, "temporary file");
		return;
	}
	fill(data, 0, len);
	ok(write(fd, data, len) == (ssize_t)len, "a 64 MiB file");
	close(fd);
	struct mapfile m;
	ok(mapfile_open(path, &m) == 0 && m.len == len && !memcmp(m.data, data, len),
	   "mapped whole, the same bytes");
	long before = rss_kb();
	mapfile_done_before(&m, m.data + len / 2);
	long after = rss_kb();
	ok(m.dropped > 0 && m.dropped <= len / 2 && after <= before - 16 * 1024,
	   "done_before hands pages back (RSS %ld -> %ld KiB)", before, after);
	ok(!memcmp(m.data, data, len), "dropped pages read back the same");
	mapfile_done_before(&m, data); /* not inside the mapping */
	ok(1, "a pointer outside the mapping is ignored");
	mapfile_close(&m);
	ok(!m.data && !m.len && !m.dropped, "closed");
	unlink(path);
	ok(mapfile_open(path, &m) == -ENOENT && !m.data, "a missing file: ENOENT");
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	ok(mapfile_open(path, &m) == 0 && !m.data && m.len == 0, "an empty file maps to nothing");
	mapfile_close(&m);
	unlink(path);
	ok(mapfile_open("/tmp", &m) == -EINVAL, "a directory: EINVAL");
	free(data);
}

int main(void)
{
	test_bigmem();
	test_bulk();
	test_mapfile();
	return tap_done();
}
