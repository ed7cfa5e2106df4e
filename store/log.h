/* store/log.h - diagnostic logging to stderr (foreground) or syslog (daemon).
 *
 * LOG_ERR/LOG_WARN mean something really went wrong (integration tests scan
 * the daemon log for them); expected conditions are LOG_DBG at most.
 */
#ifndef STORE_LOG_H
#define STORE_LOG_H

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DBG };

/* Call once before threads start. use_syslog: send to syslog instead. */
void log_setup(int debug, int use_syslog);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int log_debug_enabled(void);

#define LOG_ERR(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define LOG_WARN(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define LOG_INFO(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define LOG_DBG(...) \
	do { \
		if (log_debug_enabled()) \
			log_msg(LOG_LVL_DBG, __VA_ARGS__); \
	} while (0)

#endif
