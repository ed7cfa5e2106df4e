/* store/log.c - see log.h */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

static int log_debug;
static int log_syslog;

void log_setup(int debug, int use_syslog)
{
	log_debug = debug;
	log_syslog = use_syslog;
	if (use_syslog)
		openlog("ragfs", LOG_PID, LOG_DAEMON);
}

int log_debug_enabled(void)
{
	return log_debug;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "ERR", "WARN", "INFO", "DBG" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	va_list ap;

	if (lvl == LOG_LVL_INFO && !log_debug && !log_syslog)
		return;
	va_start(ap, fmt);
	if (log_syslog) {
		vsyslog(prio[lvl], fmt, ap);
	} else {
		char line[2048];
		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "ragfs: %s: %s\n", names[lvl], line);
	}
	va_end(ap);
}
