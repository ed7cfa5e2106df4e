/* store/pdftext.c - ragfs-pdftext, the PDF text extractor that
 * store/reader_pdf.c runs in its own process for each PDF, so that poppler
 * (C++ parsing hostile input: crashes, aborts on failed allocations,
 * g_error, runaway loops) can never take the mount down, and no lock or
 * memory of the daemon is shared with it. The only file using poppler-glib
 * and GLib.
 *
 *   ragfs-pdftext [--mem BYTES] [--cpu SECONDS] < file.pdf > records
 *
 * stdin must be a regular file or memfd (it is mapped). Before parsing, the
 * process closes every descriptor above 2, dies with its parent, becomes
 * the OOM killer's first pick, drops core dumps and limits its CPU time and
 * (except under ASan, which reserves terabytes of shadow) its address
 * space to what it has mapped plus --mem.
 *
 * Records on stdout: a type byte, a u32 length (host order), the payload.
 * 'T' title, 'A' author, 'N' page count (u32), 'L' the label of the next
 * page, 'P' a page's text (UTF-8 from poppler), 'E' failure (u32 errno,
 * message), 'Z' the end. Exit status 0 whenever a record stream was
 * written; the reader trusts the records, not the status.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <poppler.h>

static void put_all(const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(1, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(3); /* the reader is gone or gave up */
		c += w;
		n -= (size_t)w;
	}
}

static void put(char type, const void *p, size_t n)
{
	uint32_t n32 = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	put_all(&type, 1);
	put_all(&n32, sizeof(n32));
	put_all(p, n32);
}

static void put_str(char type, const char *s)
{
	if (s && *s)
		put(type, s, strlen(s));
}

static int put_fail(int err, const char *msg)
{
	char rec[200];
	uint32_t e = (uint32_t)err;
	size_t n = strlen(msg) < sizeof(rec) - sizeof(e) ? strlen(msg) : sizeof(rec) - sizeof(e);
	memcpy(rec, &e, sizeof(e));
	memcpy(rec + sizeof(e), msg, n);
	put('E', rec, sizeof(e) + n);
	return 0;
}

/* What is mapped now (libraries, the input) plus the budget. */
static void limit_memory(unsigned long long budget)
{
#ifndef __SANITIZE_ADDRESS__
	char line[128] = "";
	unsigned long long pages = 0;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, line, sizeof(line) - 1);
		close(fd);
		if (n > 0)
			pages = strtoull(line, NULL, 10);
	}
	if (pages) {
		rlim_t as = (rlim_t)(pages * (unsigned long long)sysconf(_SC_PAGESIZE) + budget);
		struct rlimit rl = { as, as };
		setrlimit(RLIMIT_AS, &rl);
	}
#else
	(void)budget;
#endif
}

static void harden(unsigned long cpu_s)
{
	struct rlimit core = { 0, 0 }, cpu = { cpu_s, cpu_s + 5 };
	/* Descriptors the daemon forgot to mark close-on-exec: not ours. */
	close_range(3, ~0U, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1000", 4) < 0) {
			/* not fatal: the limits below still hold */
		}
		close(fd);
	}
	setrlimit(RLIMIT_CORE, &core);
	setrlimit(RLIMIT_CPU, &cpu);
}

static int extract(const char *data, size_t len)
{
	GError *err = NULL;
	GBytes *bytes = g_bytes_new_static(data, len);
	PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, &err);
	if (!doc) {
		int encrypted = err && err->domain == POPPLER_ERROR &&
				err->code == POPPLER_ERROR_ENCRYPTED;
		put_fail(encrypted ? EACCES : EINVAL,
			 encrypted ? "PDF is encrypted (a password is needed)"
				   : err && err->message ? err->message : "not a readable PDF");
		g_clear_error(&err);
		g_bytes_unref(bytes);
		return 0;
	}
	gchar *s = poppler_document_get_title(doc);
	put_str('T', s);
	g_free(s);
	s = poppler_document_get_author(doc);
	put_str('A', s);
	g_free(s);
	int n = poppler_document_get_n_pages(doc);
	uint32_t n32 = n > 0 ? (uint32_t)n : 0;
	put('N', &n32, sizeof(n32));
	for (int i = 0; i < n; i++) {
		PopplerPage *page = poppler_document_get_page(doc, i);
		if (!page)
			continue;
		s = poppler_page_get_label(page);
		put_str('L', s);
		g_free(s);
		s = poppler_page_get_text(page);
		put('P', s ? s : "", s ? strlen(s) : 0);
		g_free(s);
		g_object_unref(page);
	}
	g_object_unref(doc);
	g_bytes_unref(bytes);
	put('Z', "", 0);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long mem = 1ULL << 30;
	unsigned long cpu = 120;
	struct stat st;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--mem"))
			mem = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--cpu"))
			cpu = strtoul(argv[i + 1], NULL, 10);
	}
	harden(cpu);
	if (fstat(0, &st) || !S_ISREG(st.st_mode))
		return put_fail(EINVAL, "ragfs-pdftext: stdin is not a file");
	if (st.st_size <= 0)
		return put_fail(EINVAL, "empty file");
	void *data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, 0, 0);
	if (data == MAP_FAILED)
		return put_fail(errno, "cannot map the PDF");
	limit_memory(mem);
	extract(data, (size_t)st.st_size);
	munmap(data, (size_t)st.st_size);
	return 0;
}
