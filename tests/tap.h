/* tests/tap.h - a tiny TAP producer for meson's 'tap' protocol.
 *
 * Usage: plan is printed at the end ("done_testing" style), so tests need
 * not count themselves. ok(cond, fmt, ...) prints "ok N - msg" or
 * "not ok N - msg" with the file and line. tap_skip_all(reason) prints
 * "1..0 # SKIP reason" and exits 0 (meson treats exit 77 under TAP as an
 * error). tap_done() prints the plan and returns the exit status.
 */
#ifndef TESTS_TAP_H
#define TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

static inline __attribute__((format(printf, 4, 5))) int
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* Evaluates a and b once each (a is often a call with side effects). */
#define is_int(a, b, msg) \
	do { \
		long long tap_a_ = (long long)(a), tap_b_ = (long long)(b); \
		tap_ok(tap_a_ == tap_b_, __FILE__, __LINE__, "%s (got %lld, want %lld)", msg, \
		       tap_a_, tap_b_); \
	} while (0)
#define diag(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))

static inline void tap_skip_all(const char *reason)
{
	printf("1..0 # SKIP %s\n", reason);
	exit(0);
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
