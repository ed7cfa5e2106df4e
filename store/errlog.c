/* store/errlog.c - see errlog.h */
#include "errlog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct errlog {
	pthread_mutex_t lock;
	FILE *file;
	char *lines[ERRLOG_KEEP];
	unsigned long total;
};

int errlog_open(const char *file, struct errlog **out)
{
	struct errlog *el = calloc(1, sizeof(*el));
	*out = NULL;
	if (!el)
		return -ENOMEM;
	pthread_mutex_init(&el->lock, NULL);
	if (file) {
		/* 0600: errors name paths of the user's documents. */
		int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		el->file = fd >= 0 ? fdopen(fd, "a") : NULL;
		if (!el->file && fd >= 0)
			close(fd);
		if (el->file)
			setvbuf(el->file, NULL, _IOLBF, 0);
	}
	*out = el;
	return 0;
}

void errlog_close(struct errlog *el)
{
	if (!el)
		return;
	for (int i = 0; i < ERRLOG_KEEP; i++)
		free(el->lines[i]);
	if (el->file)
		fclose(el->file);
	pthread_mutex_destroy(&el->lock);
	free(el);
}

static void flatten(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

void errlog_add(struct errlog *el, const char *path, int err, const char *fmt, ...)
{
	char reason[1024], when[32];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);

	struct buf line = BUF_INIT;
	buf_addf(&line, "%s %s", when, path && *path ? path : "-");
	if (err)
		buf_addf(&line, " %s", strerrorname_np(err < 0 ? -err : err) ?: "E?");
	buf_addf(&line, ": %s", reason);
	if (!line.data)
		return;
	flatten(line.data);

	pthread_mutex_lock(&el->lock);
	size_t slot = el->total % ERRLOG_KEEP;
	free(el->lines[slot]);
	el->lines[slot] = line.data;
	el->total++;
	if (el->file)
		fprintf(el->file, "%s\n", line.data);
	pthread_mutex_unlock(&el->lock);
}

int errlog_render(struct errlog *el, struct buf *out)
{
	int rc = 0;
	pthread_mutex_lock(&el->lock);
	unsigned long n = el->total < ERRLOG_KEEP ? el->total : ERRLOG_KEEP;
	for (unsigned long i = el->total - n; i < el->total && !rc; i++)
		rc = buf_addf(out, "%s\n", el->lines[i % ERRLOG_KEEP]);
	pthread_mutex_unlock(&el->lock);
	return rc;
}

unsigned long errlog_count(struct errlog *el, char *last, size_t lastlen)
{
	pthread_mutex_lock(&el->lock);
	unsigned long n = el->total;
	if (last && lastlen) {
		const char *l = n ? el->lines[(n - 1) % ERRLOG_KEEP] : "";
		snprintf(last, lastlen, "%s", l);
	}
	pthread_mutex_unlock(&el->lock);
	return n;
}
