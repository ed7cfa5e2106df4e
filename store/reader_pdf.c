/* store/reader_pdf.c - PDF text, one section per page, extracted by
 * ragfs-pdftext (store/pdftext.c: poppler-glib) in a process of its own.
 * See reader_int.h.
 *
 * Why a process: poppler parses hostile input in C++, and a crash there, an
 * abort on a failed allocation (poppler's gmem aborts), a g_error or a
 * runaway loop must not take the mount down. The helper is started with
 * posix_spawn (vfork + exec: nothing of the daemon's threads, locks or
 * memory is inherited), reads the document from a memfd on stdin, limits
 * itself (address space, CPU, core, OOM score) and writes records to a
 * pipe. This side reads them with a wall-clock deadline (the helper is
 * killed past it) and trusts nothing it reads: record lengths are checked
 * against what arrived and text is cleaned to valid UTF-8 without control
 * characters. No GLib here: the daemon does not even link poppler.
 *
 * The helper is $RAGFS_PDFTEXT, else the one in the build tree, else the
 * installed one (libexecdir).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reader_int.h"

#ifndef RAGFS_PDFTEXT_BUILD /* set by meson */
#define RAGFS_PDFTEXT_BUILD ""
#endif
#ifndef RAGFS_PDFTEXT_INSTALLED
#define RAGFS_PDFTEXT_INSTALLED "/usr/local/libexec/ragfs-pdftext"
#endif

#define PDF_TIMEOUT_MS 120000           /* per document, wall clock */
#define PDF_MEM_BYTES ((size_t)1 << 30) /* helper address space beyond its mappings */
#define PDF_CPU_S 120                   /* helper CPU seconds (SIGXCPU, then SIGKILL) */
#define PDF_MAX_STREAM (READER_MAX_TEXT + ((size_t)4 << 20)) /* text + record overhead */

static unsigned timeout_ms = PDF_TIMEOUT_MS;
static size_t mem_bytes = PDF_MEM_BYTES;

void reader_pdf_set_limits(unsigned t_ms, size_t mem)
{
	timeout_ms = t_ms ? t_ms : PDF_TIMEOUT_MS;
	mem_bytes = mem ? mem : PDF_MEM_BYTES;
}

int reader_pdf_is(const char *ext, const char *data, size_t len)
{
	/* Only at the start: a text that mentions "%PDF-" is not a PDF. */
	return (ext && !strcasecmp(ext, "pdf")) || (len >= 5 && !memcmp(data, "%PDF-", 5));
}

/* ------------------------------------------------------------ parent */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read the helper's records into raw until EOF, the deadline or the cap.
 * 0, or a positive errno with why set. */
static int collect(int rfd, struct buf *raw, char *why, size_t whylen)
{
	int64_t deadline = now_ms() + timeout_ms;
	char chunk[65536];
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			snprintf(why, whylen, "PDF reader timed out after %u ms", timeout_ms);
			return ETIMEDOUT;
		}
		struct pollfd pfd = { .fd = rfd, .events = POLLIN };
		int r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			continue; /* the deadline check above ends it */
		ssize_t n = r < 0 ? -1 : read(rfd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, whylen, "reading the PDF reader: %s", strerror(errno));
			return EIO;
		}
		if (n == 0)
			return 0;
		int rc = buf_add(raw, chunk, (size_t)n);
		if (rc) {
			snprintf(why, whylen, "PDF text over %zu MiB", READER_MAX_TEXT >> 20);
			return rc == -EFBIG ? EFBIG : ENOMEM;
		}
	}
}

/* Append p[0..n) as valid UTF-8: bad bytes become U+FFFD, control
 * characters but tab and newline become spaces (form feeds end pages). */
static int add_clean(struct buf *b, const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	int rc = buf_grow(b, n);
	for (size_t i = 0; i < n && !rc;) {
		unsigned char c = u[i];
		size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		int good = k && i + k <= n;
		for (size_t j = 1; good && j < k; j++)
			good = (u[i + j] & 0xc0) == 0x80;
		if (good && k > 1) { /* no overlongs, surrogates or > U+10FFFF */
			uint32_t cp = k == 2 ? (c & 0x1fu) : k == 3 ? (c & 0x0fu) : (c & 0x07u);
			for (size_t j = 1; j < k; j++)
				cp = cp << 6 | (u[i + j] & 0x3fu);
			good = cp >= (k == 2 ? 0x80u : k == 3 ? 0x800u : 0x10000u) &&
			       cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
		}
		if (!good) {
			rc = buf_add(b, "\xef\xbf\xbd", 3);
			i++;
		} else if (k == 1) {
			rc = buf_addc(b, (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? ' ' : (char)c);
			i++;
		} else {
			rc = buf_add(b, p + i, k);
			i += k;
		}
	}
	return rc;
}

/* A string payload as a cleaned C string (malloc'd), or NULL. */
static char *clean_str(const char *p, size_t n)
{
	struct buf b = BUF_INIT;
	if (add_clean(&b, p, n)) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

static int add_meta_str(cJSON *meta, const char *key, const char *p, size_t n)
{
	char *s = clean_str(p, n);
	int rc = s && cJSON_AddStringToObject(meta, key, s) ? 0 : -ENOMEM;
	free(s);
	return rc;
}

/* One page: its text, then a blank line; a section with its page. */
static int add_page(struct reader_out *o, uint32_t page, const char *label, size_t label_len,
		    const char *p, size_t n)
{
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\n' || p[n - 1] == '\t' || p[n - 1] == '\r'))
		n--;
	if (!n)
		return 0; /* an image-only page: nothing to index */
	size_t at = o->text.len;
	cJSON *m = cJSON_CreateObject();
	char num[16];
	snprintf(num, sizeof(num), "%u", page);
	int rc = m ? 0 : -ENOMEM;
	if (!rc)
		rc = label_len ? add_meta_str(m, "page_label", label, label_len)
			       : add_meta_str(m, "page_label", num, strlen(num));
	if (!rc && !cJSON_AddNumberToObject(m, "page", page))
		rc = -ENOMEM;
	if (rc) {
		cJSON_Delete(m);
		return rc;
	}
	rc = reader_section_meta(o, at, m);
	if (!rc)
		rc = add_clean(&o->text, p, n);
	if (!rc)
		rc = buf_add(&o->text, "\n\n", 2);
	return rc;
}

/* Turn the record stream into text, sections and metadata. */
static int decode(const struct buf *raw, struct reader_out *o)
{
	const char *p = raw->data, *label = NULL;
	size_t left = raw->len, label_len = 0;
	uint32_t page = 0, npages = 0;
	int rc = 0;
	while (!rc && left >= 5) {
		char type = p[0];
		uint32_t n;
		memcpy(&n, p + 1, sizeof(n));
		if (n > left - 5)
			break;
		const char *v = p + 5;
		p += 5 + n;
		left -= 5 + n;
		switch (type) {
		case 'T':
			rc = add_meta_str(o->meta, "title", v, n);
			break;
		case 'A':
			rc = add_meta_str(o->meta, "author", v, n);
			break;
		case 'N':
			if (n == sizeof(npages))
				memcpy(&npages, v, sizeof(npages));
			if (!cJSON_AddNumberToObject(o->meta, "total_pages", npages))
				rc = -ENOMEM;
			break;
		case 'L':
			label = v;
			label_len = n;
			break;
		case 'P':
			rc = add_page(o, ++page, label, label_len, v, n);
			label = NULL;
			label_len = 0;
			break;
		case 'E': {
			uint32_t e = EINVAL;
			if (n >= sizeof(e))
				memcpy(&e, v, sizeof(e));
			int len = n >= sizeof(e) ? (int)(n - sizeof(e)) : 0;
			return reader_fail(o, e > 0 && e < 4096 ? (int)e : EINVAL, "%.*s", len,
					   len ? v + sizeof(e) : "");
		}
		case 'Z':
			if (!o->text.len)
				return reader_fail(o, ENODATA,
						   "PDF has no text on any of its %u pages (scanned images?)",
						   npages);
			return 0;
		default:
			left = 0;
			break;
		}
	}
	if (rc == -EFBIG)
		return reader_fail(o, EFBIG, "PDF text over %zu MiB", READER_MAX_TEXT >> 20);
	return rc ? rc : 1; /* 1: the stream ended early */
}

static void reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

static const char *helper_path(void)
{
	const char *env = getenv("RAGFS_PDFTEXT");
	if (env && *env)
		return env;
	if (!access(RAGFS_PDFTEXT_BUILD, X_OK))
		return RAGFS_PDFTEXT_BUILD;
	return RAGFS_PDFTEXT_INSTALLED;
}

/* The document into a memfd, the helper's stdin. -1 with errno set. */
static int input_fd(const char *data, size_t len)
{
	int fd = memfd_create("ragfs-pdf", MFD_CLOEXEC);
	while (fd >= 0 && len) {
		ssize_t w = write(fd, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			close(fd);
			errno = e;
			return -1;
		}
		data += w;
		len -= (size_t)w;
	}
	return fd;
}

/* Start the helper on in, its records to out. 0 or a positive errno. */
static int spawn(int in, int out, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	char mem[32], cpu[32];
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC), rc;

	if (null < 0)
		return errno;
	snprintf(mem, sizeof(mem), "%zu", mem_bytes);
	snprintf(cpu, sizeof(cpu), "%d", PDF_CPU_S);
	char name[] = "ragfs-pdftext", o_mem[] = "--mem", o_cpu[] = "--cpu";
	char *const argv[] = { name, o_mem, mem, o_cpu, cpu, NULL };
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	/* stderr is dropped: poppler and GLib may chatter about bad input. */
	rc = posix_spawn_file_actions_adddup2(&fa, in, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, out, 1);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, null, 2);
	if (!rc)
		rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!rc)
		rc = posix_spawnattr_setsigmask(&at, &none);
	if (!rc)
		rc = posix_spawnattr_setsigdefault(&at, &all);
	if (!rc)
		rc = posix_spawn(pid, helper_path(), &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(null);
	return rc;
}

int reader_pdf(const char *data, size_t len, struct reader_out *o)
{
	struct buf raw = BUF_INIT;
	int pfd[2], status = 0;
	char why[sizeof(o->why)];
	pid_t pid;

	int in = input_fd(data, len);
	if (in < 0)
		return reader_fail(o, errno, "cannot hand the PDF to its reader: %s", strerror(errno));
	if (pipe2(pfd, O_CLOEXEC)) {
		int e = errno;
		close(in);
		return reader_fail(o, e, "cannot start the PDF reader: %s", strerror(e));
	}
	int err = spawn(in, pfd[1], &pid);
	close(in);
	close(pfd[1]);
	if (err) {
		close(pfd[0]);
		return reader_fail(o, err, "cannot start the PDF reader %s: %s", helper_path(),
				   strerror(err));
	}
	raw.max = PDF_MAX_STREAM;
	err = collect(pfd[0], &raw, why, sizeof(why));
	if (err)
		kill(pid, SIGKILL);
	close(pfd[0]);
	reap(pid, &status);
	o->text.max = READER_MAX_TEXT;
	int rc = err ? 0 : decode(&raw, o);
	o->text.max = 0;
	buf_release(&raw);
	if (err)
		return reader_fail(o, err, "%s", why);
	if (rc <= 0)
		return rc;
	/* The stream ended without 'Z' or 'E': the helper died. */
	if (WIFSIGNALED(status))
		return reader_fail(o, EIO, "PDF reader died of SIG%s (damaged or hostile PDF)",
				   sigabbrev_np(WTERMSIG(status)) ?: "?");
	return reader_fail(o, EIO, "PDF reader exited with status %d", WEXITSTATUS(status));
}
