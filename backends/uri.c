/* backends/uri.c - the STORE argument parser (see backends.h). */
#include "backends.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static __attribute__((format(printf, 3, 4))) int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void strip_slashes(char *s)
{
	size_t n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
}

/* Copy an absolute path, dropping trailing '/' ("/" stays "/"). */
static int set_abs_path(struct store_uri *u, const char *p, const char *orig, char *err,
			size_t errlen)
{
	if (strlen(p) >= sizeof(u->path))
		return fail(err, errlen, "store path too long: %.64s...", orig);
	strcpy(u->path, p);
	strip_slashes(u->path);
	return 0;
}

static int parse_path(const char *s, struct store_uri *u, char *err, size_t errlen)
{
	char cwd[sizeof(u->path)];

	u->scheme = STORE_LOCAL;
	if (s[0] == '/')
		return set_abs_path(u, s, s, err, errlen);
	if (!getcwd(cwd, sizeof(cwd)))
		return fail(err, errlen, "cannot resolve relative store path \"%s\": %s", s,
			    strerror(errno));
	while (s[0] == '.' && s[1] == '/') /* "./dir" -> "dir" */
		for (s += 2; *s == '/'; s++)
			;
	if (!*s || !strcmp(s, "."))
		return set_abs_path(u, cwd, s, err, errlen);
	size_t cl = strlen(cwd), sl = strlen(s);
	if (cl + 1 + sl >= sizeof(u->path))
		return fail(err, errlen, "store path too long: %.64s...", s);
	/* Lengths were checked above. */
	memcpy(u->path, cwd, cl);
	if (cwd[cl - 1] != '/')
		u->path[cl++] = '/';
	memcpy(u->path + cl, s, sl + 1);
	strip_slashes(u->path);
	return 0;
}

/* S3 naming rules (also valid for R2): 3-63 of [a-z0-9.-], starting and
 * ending with a letter or digit. */
static int valid_bucket(const char *b, size_t n)
{
	if (n < 3 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)b[i]) && !isdigit((unsigned char)b[i]) &&
		    b[i] != '.' && b[i] != '-')
			return 0;
	return isalnum((unsigned char)b[0]) && isalnum((unsigned char)b[n - 1]);
}

/* Prefix components become key components: no empty, "." or "..". */
static int valid_prefix(const char *p)
{
	while (*p) {
		const char *e = strchrnul(p, '/');
		size_t c = (size_t)(e - p);
		if (c == 0 || (c == 1 && p[0] == '.') || (c == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p = *e ? e + 1 : e;
	}
	return 1;
}

static int parse_bucket(const char *s, const char *rest, enum store_scheme scheme,
			struct store_uri *u, char *err, size_t errlen)
{
	const char *scheme_name = scheme == STORE_S3 ? "s3://" : "r2://";
	size_t bl = strcspn(rest, "/");

	u->scheme = scheme;
	if (!bl)
		return fail(err, errlen, "missing bucket name in store \"%s\" (use %sbucket[/prefix])",
			    s, scheme_name);
	if (!valid_bucket(rest, bl))
		return fail(err, errlen, "invalid bucket name \"%.*s\" in store \"%s\" (3-63 "
			    "characters: lowercase letters, digits, '.' and '-')",
			    (int)(bl > 64 ? 64 : bl), rest, s);
	memcpy(u->bucket, rest, bl);
	u->bucket[bl] = '\0';

	const char *p = rest + bl;
	while (*p == '/')
		p++;
	size_t pl = strlen(p);
	while (pl && p[pl - 1] == '/')
		pl--;
	if (pl >= sizeof(u->prefix))
		return fail(err, errlen, "store prefix too long in \"%.64s...\"", s);
	memcpy(u->prefix, p, pl);
	u->prefix[pl] = '\0';
	if (!valid_prefix(u->prefix))
		return fail(err, errlen, "invalid prefix \"%s\" in store \"%s\" (no empty, '.' or "
			    "'..' components)", u->prefix, s);
	return 0;
}

int store_uri_parse(const char *s, struct store_uri *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof(*u));
	if (err && errlen)
		err[0] = '\0';
	if (!s || !*s)
		return fail(err, errlen, "empty store (use a directory, file://, s3:// or r2://)");
	if (!strcmp(s, "mem:")) {
		u->scheme = STORE_MEM;
		return 0;
	}

	/* A scheme is [A-Za-z][A-Za-z0-9+.-]* followed by "://"; anything
	 * else (including "a:b") is a relative directory name. */
	size_t n = 0;
	if (isalpha((unsigned char)s[0]))
		for (n = 1; s[n] && (isalnum((unsigned char)s[n]) || strchr("+.-", s[n])); n++)
			;
	if (!n || strncmp(s + n, "://", 3))
		return parse_path(s, u, err, errlen);

	const char *rest = s + n + 3;
	if (n == 4 && !strncasecmp(s, "file", 4)) {
		if (rest[0] != '/')
			return fail(err, errlen, "file:// store needs an absolute path, as in "
				    "file:///dir (got \"%s\")", s);
		u->scheme = STORE_LOCAL;
		return set_abs_path(u, rest, s, err, errlen);
	}
	if (n == 2 && !strncasecmp(s, "s3", 2))
		return parse_bucket(s, rest, STORE_S3, u, err, errlen);
	if (n == 2 && !strncasecmp(s, "r2", 2))
		return parse_bucket(s, rest, STORE_R2, u, err, errlen);
	return fail(err, errlen, "unknown store scheme \"%.*s://\" (use a directory, file://, "
		    "s3:// or r2://)", (int)(n > 32 ? 32 : n), s);
}
