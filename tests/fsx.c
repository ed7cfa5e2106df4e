/* tests/fsx.c - a seeded random file I/O exerciser checked against a model.
 *
 *   fsx [-N ops] [-S seed] [-l maxlen] [-o maxop] [-c reopen_every] [-t]
 *       [-M] [-s] [-q] PATH
 *
 * Does random pread, pwrite, truncate (grow and shrink), append (write with
 * O_APPEND), mmap reads (MAP_SHARED, PROT_READ; no mmap writes) and
 * close/reopen cycles on PATH, keeping the expected contents in memory.
 * Every read is compared with the model, the size is checked with fstat
 * after every operation, and the whole file is read back and compared after
 * every reopen and at the end. -t writes printable text only (ragfs indexes
 * text on close); -M turns mmap reads off; -s skips the fstat size checks
 * (sizes are then checked through reads only). On the first difference it
 * prints the seed, the operation number, the offset and the last 20
 * operations, and exits 1. Output is TAP.
 *
 * The file is created (O_CREAT|O_TRUNC) at the start. Written for ragfs,
 * whose files are whole buffers committed at close, but it checks any
 * filesystem (the integration test runs it on a plain directory too).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum op_kind { OP_READ, OP_WRITE, OP_TRUNC, OP_APPEND, OP_MAPREAD, OP_REOPEN, OP_KINDS };

static const char *const op_names[OP_KINDS] = { "read", "write", "truncate", "append",
						 "mapread", "reopen" };

struct op_rec {
	long n;
	enum op_kind kind;
	size_t off, len;
	size_t size_before, size_after;
};

#define HISTORY 20

static struct {
	const char *path;
	uint64_t seed;
	long nops;
	size_t maxlen;
	size_t maxop;
	long reopen_every;
	int text;
	int use_mmap;
	int no_fstat;
	int quiet;
	int fd;
	unsigned char *model; /* maxlen + maxop bytes */
	size_t size;
	unsigned char *scratch;
	uint64_t rng;
	struct op_rec hist[HISTORY];
	long nhist;
	long cur;
	long counts[OP_KINDS];
	size_t pagesize;
} g;

static uint64_t rnd(void)
{
	/* xorshift64* */
	g.rng ^= g.rng >> 12;
	g.rng ^= g.rng << 25;
	g.rng ^= g.rng >> 27;
	return g.rng * 0x2545F4914F6CDD1DULL;
}

static size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static void record(enum op_kind kind, size_t off, size_t len, size_t before)
{
	struct op_rec *r = &g.hist[g.nhist % HISTORY];
	r->n = g.cur;
	r->kind = kind;
	r->off = off;
	r->len = len;
	r->size_before = before;
	r->size_after = g.size;
	g.nhist++;
	g.counts[kind]++;
}

static void print_history(void)
{
	long first = g.nhist > HISTORY ? g.nhist - HISTORY : 0;
	printf("# last %ld operations (op: kind offset length size-before -> size-after):\n",
	       g.nhist - first);
	for (long i = first; i < g.nhist; i++) {
		const struct op_rec *r = &g.hist[i % HISTORY];
		printf("#   %6ld: %-8s off=%-7zu len=%-6zu size %zu -> %zu\n", r->n,
		       op_names[r->kind], r->off, r->len, r->size_before, r->size_after);
	}
}

static __attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...)
{
	va_list ap;
	printf("not ok 1 - fsx %s: seed %" PRIu64 " failed at op %ld\n", g.path, g.seed, g.cur);
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n# reproduce: fsx -N %ld -S %" PRIu64 " -l %zu -o %zu -c %ld%s%s%s %s\n",
	       g.cur + 1, g.seed, g.maxlen, g.maxop, g.reopen_every, g.text ? " -t" : "",
	       g.use_mmap ? "" : " -M", g.no_fstat ? " -s" : "", g.path);
	print_history();
	printf("1..1\n");
	fflush(stdout);
	exit(1);
}

/* Compare got[0..n) with the model at off; fail at the first difference. */
static void compare(const unsigned char *got, size_t off, size_t n, const char *what)
{
	if (!memcmp(got, g.model + off, n))
		return;
	size_t i = 0;
	while (got[i] == g.model[off + i])
		i++;
	size_t bad = i, end = i;
	while (end < n && got[end] != g.model[off + end])
		end++;
	fail("%s: byte %zu differs (got 0x%02x, want 0x%02x); %zu bad bytes from there, file size %zu",
	     what, off + bad, got[bad], g.model[off + bad], end - bad, g.size);
}

static void fill(unsigned char *p, size_t n)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,\n";
	/* Data depends on the op number and position, so misplaced writes show. */
	uint64_t base = rnd();
	for (size_t i = 0; i < n; i++) {
		uint64_t v = base + i * 0x9E3779B97F4A7C15ULL + (uint64_t)g.cur;
		v ^= v >> 29;
		if (g.text)
			p[i] = (unsigned char)alpha[v % (sizeof(alpha) - 1)];
		else
			p[i] = (unsigned char)(v >> 7);
	}
}

static void check_size(const char *what)
{
	struct stat st;
	if (g.no_fstat)
		return;
	if (fstat(g.fd, &st))
		fail("%s: fstat: %s", what, strerror(errno));
	if ((size_t)st.st_size != g.size)
		fail("%s: fstat size %jd, want %zu", what, (intmax_t)st.st_size, g.size);
}

static void do_open(int flags)
{
	g.fd = open(g.path, O_RDWR | flags, 0644);
	if (g.fd < 0)
		fail("open(%s): %s", g.path, strerror(errno));
}

static void do_close(void)
{
	/* ragfs commits at close: a refused commit is reported here. */
	if (close(g.fd))
		fail("close: %s", strerror(errno));
	g.fd = -1;
}

/* Read the whole file (and a little past it) and compare. */
static void check_all(const char *what)
{
	size_t want = g.size + 4096, got = 0;
	while (got < want) {
		ssize_t n = pread(g.fd, g.scratch + got, want - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("%s: pread at %zu: %s", what, got, strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != g.size)
		fail("%s: read %zu bytes of the whole file, want %zu", what, got, g.size);
	compare(g.scratch, 0, got, what);
	check_size(what);
}

static void op_read(void)
{
	size_t off = rnd_below(g.size + g.size / 8 + 1);
	size_t len = rnd_below(g.maxop) + 1;
	size_t want = off >= g.size ? 0 : (g.size - off < len ? g.size - off : len);
	ssize_t n = pread(g.fd, g.scratch, len, (off_t)off);
	if (n < 0)
		fail("pread(off=%zu, len=%zu): %s", off, len, strerror(errno));
	/* Regular files give whole reads short of EOF. */
	if ((size_t)n != want)
		fail("pread(off=%zu, len=%zu) returned %zd, want %zu (size %zu)", off, len, n,
		     want, g.size);
	compare(g.scratch, off, (size_t)n, "pread");
	record(OP_READ, off, len, g.size);
}

static void model_write(size_t off, const unsigned char *p, size_t len)
{
	if (off > g.size)
		memset(g.model + g.size, 0, off - g.size);
	memcpy(g.model + off, p, len);
	if (off + len > g.size)
		g.size = off + len;
}

static void op_write(void)
{
	size_t off = rnd_below(g.maxlen);
	size_t len = rnd_below(g.maxop) + 1;
	size_t before = g.size;
	if (off + len > g.maxlen)
		len = g.maxlen - off;
	fill(g.scratch, len);
	ssize_t n = pwrite(g.fd, g.scratch, len, (off_t)off);
	if (n != (ssize_t)len)
		fail("pwrite(off=%zu, len=%zu) returned %zd: %s", off, len, n,
		     n < 0 ? strerror(errno) : "short write");
	model_write(off, g.scratch, len);
	record(OP_WRITE, off, len, before);
}

static void op_append(void)
{
	size_t before = g.size;
	size_t len = rnd_below(g.maxop / 4) + 1;
	if (g.size + len > g.maxlen) {
		/* Full: shrink instead (recorded as a truncate). */
		if (ftruncate(g.fd, (off_t)(g.maxlen / 2)))
			fail("ftruncate(%zu): %s", g.maxlen / 2, strerror(errno));
		g.size = g.maxlen / 2;
		record(OP_TRUNC, g.size, 0, before);
		return;
	}
	int fl = fcntl(g.fd, F_GETFL);
	if (fl < 0 || fcntl(g.fd, F_SETFL, fl | O_APPEND))
		fail("fcntl(O_APPEND): %s", strerror(errno));
	fill(g.scratch, len);
	/* With O_APPEND the offset given to pwrite is ignored on Linux; use write. */
	if (lseek(g.fd, 0, SEEK_SET) < 0)
		fail("lseek: %s", strerror(errno));
	ssize_t n = write(g.fd, g.scratch, len);
	if (n != (ssize_t)len)
		fail("append write(len=%zu) returned %zd: %s", len, n,
		     n < 0 ? strerror(errno) : "short write");
	off_t pos = lseek(g.fd, 0, SEEK_CUR);
	if (fcntl(g.fd, F_SETFL, fl))
		fail("fcntl(~O_APPEND): %s", strerror(errno));
	model_write(g.size, g.scratch, len);
	if (pos != (off_t)g.size)
		fail("append: file offset %jd after the write, want %zu", (intmax_t)pos, g.size);
	record(OP_APPEND, before, len, before);
}

static void op_trunc(void)
{
	size_t before = g.size;
	/* Half grow, half shrink (relative to the current size). */
	size_t n = (rnd() & 1) ? g.size + rnd_below(g.maxlen - g.size + 1)
			       : rnd_below(g.size + 1);
	if (n > g.maxlen)
		n = g.maxlen;
	if (ftruncate(g.fd, (off_t)n))
		fail("ftruncate(%zu): %s", n, strerror(errno));
	if (n > g.size)
		memset(g.model + g.size, 0, n - g.size);
	g.size = n;
	record(OP_TRUNC, n, 0, before);
}

static void op_mapread(void)
{
	if (!g.size) {
		op_read();
		return;
	}
	size_t off = rnd_below(g.size);
	size_t len = rnd_below(g.maxop) + 1;
	if (off + len > g.size)
		len = g.size - off;
	size_t pg = off - off % g.pagesize;
	size_t maplen = len + (off - pg);
	void *m = mmap(NULL, maplen, PROT_READ, MAP_SHARED, g.fd, (off_t)pg);
	if (m == MAP_FAILED) {
		if (errno == ENODEV || errno == EACCES || errno == EINVAL) {
			printf("# mmap unsupported here (%s): mmap reads off\n", strerror(errno));
			g.use_mmap = 0;
			op_read();
			return;
		}
		fail("mmap(off=%zu, len=%zu): %s", pg, maplen, strerror(errno));
	}
	memcpy(g.scratch, (unsigned char *)m + (off - pg), len);
	if (munmap(m, maplen))
		fail("munmap: %s", strerror(errno));
	compare(g.scratch, off, len, "mmap read");
	record(OP_MAPREAD, off, len, g.size);
}

static void op_reopen(void)
{
	do_close();
	do_open(0);
	check_all("after reopen");
	record(OP_REOPEN, 0, g.size, g.size);
}

static void usage(void)
{
	fprintf(stderr, "usage: fsx [-N ops] [-S seed] [-l maxlen] [-o maxop] [-c reopen_every]"
			" [-t] [-M] [-s] [-q] PATH\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int c;
	g.nops = 10000;
	g.seed = 1;
	g.maxlen = 256 * 1024;
	g.maxop = 64 * 1024;
	g.reopen_every = 200;
	g.use_mmap = 1;
	g.fd = -1;
	while ((c = getopt(argc, argv, "N:S:l:o:c:tMsq")) != -1) {
		switch (c) {
		case 'N':
			g.nops = strtol(optarg, NULL, 0);
			break;
		case 'S':
			g.seed = strtoull(optarg, NULL, 0);
			break;
		case 'l':
			g.maxlen = strtoul(optarg, NULL, 0);
			break;
		case 'o':
			g.maxop = strtoul(optarg, NULL, 0);
			break;
		case 'c':
			g.reopen_every = strtol(optarg, NULL, 0);
			break;
		case 't':
			g.text = 1;
			break;
		case 'M':
			g.use_mmap = 0;
			break;
		case 's':
			g.no_fstat = 1;
			break;
		case 'q':
			g.quiet = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || g.maxlen < 2 || g.maxop < 4 || g.nops < 0)
		usage();
	g.path = argv[optind];
	g.rng = g.seed * 0x9E3779B97F4A7C15ULL + 0x1234567;
	if (!g.rng)
		g.rng = 1;
	long ps = sysconf(_SC_PAGESIZE);
	g.pagesize = ps > 0 ? (size_t)ps : 4096;
	g.model = calloc(1, g.maxlen + g.maxop + 1);
	g.scratch = calloc(1, g.maxlen + g.maxop + 8192);
	if (!g.model || !g.scratch) {
		printf("Bail out! out of memory\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# fsx %s: seed %" PRIu64 ", %ld ops, maxlen %zu, maxop %zu, reopen every %ld%s\n",
	       g.path, g.seed, g.nops, g.maxlen, g.maxop, g.reopen_every,
	       g.text ? ", text" : "");

	do_open(O_CREAT | O_TRUNC);
	check_size("after create");
	for (g.cur = 0; g.cur < g.nops; g.cur++) {
		unsigned r = (unsigned)rnd_below(100);
		if (g.reopen_every > 0 && g.cur && g.cur % g.reopen_every == 0)
			op_reopen();
		else if (r < 30)
			op_read();
		else if (r < 58)
			op_write();
		else if (r < 68)
			op_trunc();
		else if (r < 80)
			op_append();
		else if (r < 95 && g.use_mmap)
			op_mapread();
		else
			op_read();
		check_size(op_names[g.hist[(g.nhist - 1) % HISTORY].kind]);
		if (!g.quiet && g.cur && g.cur % 5000 == 0)
			printf("# %ld ops, size %zu\n", g.cur, g.size);
	}
	/* Final: close, reopen read-only, compare everything. */
	do_close();
	g.fd = open(g.path, O_RDONLY);
	if (g.fd < 0)
		fail("final open: %s", strerror(errno));
	check_all("final check");
	close(g.fd);
	printf("ok 1 - fsx %s: seed %" PRIu64 ", %ld ops (read %ld, write %ld, truncate %ld, "
	       "append %ld, mapread %ld, reopen %ld), final size %zu\n",
	       g.path, g.seed, g.nops, g.counts[OP_READ], g.counts[OP_WRITE], g.counts[OP_TRUNC],
	       g.counts[OP_APPEND], g.counts[OP_MAPREAD], g.counts[OP_REOPEN], g.size);
	printf("1..1\n");
	free(g.model);
	free(g.scratch);
	return 0;
}
