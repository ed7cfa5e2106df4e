/* store/pyjson.c - see pyjson.h */
#include "pyjson.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"

/* ---- the sink ---- */

void jw_init(struct jw *w, jw_write_fn fn, void *ctx)
{
	w->fn = fn;
	w->ctx = ctx;
	w->bytes = 0;
	w->err = 0;
	w->quoted = 0;
	w->len = 0;
}

static void jw_flush(struct jw *w)
{
	if (w->len && !w->err && w->fn)
		w->err = w->fn(w->ctx, w->buf, w->len);
	w->len = 0;
}

static void jw_raw(struct jw *w, const void *p, size_t n)
{
	if (w->err || !n)
		return;
	w->bytes += n;
	if (!w->fn)
		return;
	if (w->len + n > JW_BUF_SIZE) {
		jw_flush(w);
		if (n >= JW_BUF_SIZE) {
			if (!w->err)
				w->err = w->fn(w->ctx, p, n);
			return;
		}
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void jw_write(struct jw *w, const void *p, size_t n)
{
	if (!w->quoted) {
		jw_raw(w, p, n);
		return;
	}
	/* A document inside a JSON string: its own escapes are ASCII and it
	 * holds no raw control characters, so only '"' and '\' need a '\'. */
	const char *s = p, *e = s + n, *q = s;
	for (; s < e; s++) {
		if (*s == '"' || *s == '\\') {
			jw_raw(w, q, (size_t)(s - q));
			jw_raw(w, "\\", 1);
			q = s;
		}
	}
	jw_raw(w, q, (size_t)(e - q));
}

void jw_puts(struct jw *w, const char *s)
{
	jw_write(w, s, strlen(s));
}

int jw_finish(struct jw *w)
{
	jw_flush(w);
	return w->err;
}

int jw_buf_sink(void *ctx, const void *p, size_t n)
{
	return buf_add(ctx, p, n);
}

/* ---- numbers ---- */

/* Parse snprintf("%.*e") output into digits and decpt. */
static int parse_e(const char *tmp, char digits[20], int *decpt)
{
	int nd = 0;
	const char *s = tmp;
	for (; *s && *s != 'e'; s++)
		if (*s >= '0' && *s <= '9' && nd < 19)
			digits[nd++] = *s;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	*decpt = (*s == 'e' ? atoi(s + 1) : 0) + 1;
	return nd;
}

/* Does the p-digit rounding of d (> 0) read back as d? */
static int try_prec(double d, int p, int pow2, char digits[20], int *decpt, int *nd)
{
	char tmp[48];
	snprintf(tmp, sizeof(tmp), "%.*e", p - 1, d);
	if (strtod(tmp, NULL) == d) {
		*nd = parse_e(tmp, digits, decpt);
		return 1;
	}
	if (!pow2 || strtod(tmp, NULL) > d)
		return 0;
	/* At a power of two the gap above d is twice the gap below, so the
	 * next p-digit number up may round-trip when the nearest does not
	 * (dtoa's shortest mode finds it too). */
	char dig[20];
	int dp, n = parse_e(tmp, dig, &dp);
	while (n < p)
		dig[n++] = '0';
	int i = n - 1;
	while (i >= 0 && dig[i] == '9')
		dig[i--] = '0';
	if (i < 0) {
		memmove(dig + 1, dig, (size_t)n - 1);
		dig[0] = '1';
		dp++;
	} else {
		dig[i]++;
	}
	dig[n] = '\0';
	snprintf(tmp, sizeof(tmp), "0.%se%d", dig, dp);
	if (strtod(tmp, NULL) != d)
		return 0;
	while (n > 1 && dig[n - 1] == '0')
		n--;
	dig[n] = '\0';
	memcpy(digits, dig, (size_t)n + 1);
	*decpt = dp;
	*nd = n;
	return 1;
}

/* The p-digit rounding of d, derived from its 17-digit rounding d17 (which
 * saves a printf per try): exact unless the dropped tail is "50...0", where
 * the 17-digit rounding hides which way the true value lies; then printf. */
static int cand(double d, const char *d17, int dp17, int p, char digits[20], int *decpt,
		int *nd)
{
	char dig[20], tmp[48];
	int dp = dp17, n = p, up;
	if (p >= 17)
		up = 0;
	else if (d17[p] != '5')
		up = d17[p] > '5';
	else {
		int rest = 0;
		for (int i = p + 1; i < 17; i++)
			rest |= d17[i] != '0';
		if (!rest)
			return try_prec(d, p, 0, digits, decpt, nd);
		up = 1;
	}
	memcpy(dig, d17, (size_t)p);
	if (up) {
		int i = p - 1;
		while (i >= 0 && dig[i] == '9')
			dig[i--] = '0';
		if (i < 0) {
			dig[0] = '1';
			dp++;
		} else {
			dig[i]++;
		}
	}
	while (n > 1 && dig[n - 1] == '0')
		n--;
	dig[n] = '\0';
	snprintf(tmp, sizeof(tmp), "0.%se%d", dig, dp);
	if (strtod(tmp, NULL) != d)
		return 0;
	memcpy(digits, dig, (size_t)n + 1);
	*decpt = dp;
	*nd = n;
	return 1;
}

/* ---- the fast path: doubles that are float32 values (embeddings) ----
 *
 * Such a d is m * 2^-k exactly (m < 2^24), so N = m * 5^k is d * 10^k as an
 * integer: for 2^-21 <= |d| < 2^24 it fits in 128 bits. As a double, d's
 * mantissa is m << 29 (even), so every decimal within half a double ulp of
 * d, ends included, reads back as d; in units of 10^-k that half ulp is
 * 5^k / 2^30. Rounding N to a multiple of 10^j stays within it for every j
 * up to some j* (a multiple of 10^j is one of 10^(j-1)), and the nearest
 * multiple of 10^j* is the shortest round-trip, nearest to d: what dtoa's
 * shortest mode gives. Powers of two (a lopsided interval) and exact ties
 * between two candidates are left to the printf path. About 4x faster;
 * tests/test_persist.c compares both on 200,000 values and the edges of
 * every exponent (5 M random values when this was written). */

typedef unsigned __int128 u128;

#define F32_MAX_K 44

static u128 pow5_tab[F32_MAX_K + 1], pow10_tab[39];
static pthread_once_t pow_once = PTHREAD_ONCE_INIT;

static void pow_init(void)
{
	pow5_tab[0] = pow10_tab[0] = 1;
	for (int i = 1; i <= F32_MAX_K; i++)
		pow5_tab[i] = pow5_tab[i - 1] * 5;
	for (int i = 1; i < 39; i++)
		pow10_tab[i] = pow10_tab[i - 1] * 10;
}

/* Decimal digits of v (> 0, < 10^38) into out (no NUL); returns their
 * count. Two 128-bit divisions, the rest in 64 bits. */
static int u128_digits(u128 v, char out[40])
{
	const uint64_t e19 = 10000000000000000000ull;
	uint64_t part[3];
	int np = 0, n = 0;
	do {
		part[np++] = (uint64_t)(v % e19);
		v /= e19;
	} while (v);
	for (int i = np - 1; i >= 0; i--) {
		char tmp[20];
		int t = 0;
		for (uint64_t x = part[i]; x || (i < np - 1 && t < 19) || !t; x /= 10)
			tmp[t++] = (char)('0' + (int)(x % 10));
		while (i < np - 1 && t < 19)
			tmp[t++] = '0';
		while (t)
			out[n++] = tmp[--t];
	}
	return n;
}

/* 0 when d is not for this path. */
static int shortest_f32(double d, char digits[20], int *decpt)
{
	int x;
	double f = frexp(d, &x); /* d = f * 2^x, f in [0.5, 1) */
	if (d == 0 || (double)(float)d != d || f == 0.5 || x > 24 || x < 24 - F32_MAX_K)
		return 0;
	pthread_once(&pow_once, pow_init);
	int k = 24 - x;
	uint32_t m = (uint32_t)ldexp(f, 24); /* exact: d is a float32 */
	u128 n = (u128)m * pow5_tab[k], half = pow5_tab[k]; /* half ulp = half / 2^30 */
	u128 r = 0;
	int j = 0, up = 0, tie = 0;
	char nd[40];
	int len = u128_digits(n, nd);
	/* Grow j while the nearest multiple of 10^(j+1) is still in range;
	 * r = n mod 10^j. */
	while (j + 1 < len) {
		u128 p1 = pow10_tab[j + 1], r1 = r + (u128)(nd[len - 1 - j] - '0') * pow10_tab[j];
		u128 dist = r1 * 2 < p1 ? r1 : p1 - r1;
		if (dist >> 98 || (dist << 30) > half)
			break;
		r = r1;
		j++;
		up = r * 2 > p1;
		tie = r * 2 == p1;
	}
	if (tie)
		return 0; /* two nearest candidates: printf decides */
	/* The kept digits, plus one in the last place when rounding up. */
	int olen = len - j;
	char out[41];
	memcpy(out + 1, nd, (size_t)olen);
	out[0] = '0';
	for (int i = olen; up && i >= 0; i--) {
		up = out[i] == '9';
		out[i] = up ? '0' : (char)(out[i] + 1);
	}
	char *o = out + 1;
	if (out[0] != '0') { /* 99..9 rounded up to 10..0 */
		o = out;
		olen++;
	}
	*decpt = olen + j - k;
	while (olen > 1 && o[olen - 1] == '0')
		olen--;
	if (olen > 17)
		return 0;
	memcpy(digits, o, (size_t)olen);
	digits[olen] = '\0';
	return olen;
}

int json_shortest_digits(double d, char digits[20], int *decpt)
{
	int nd = shortest_f32(fabs(d), digits, decpt);
	return nd ? nd : json_shortest_digits_printf(d, digits, decpt);
}

int json_shortest_digits_printf(double d, char digits[20], int *decpt)
{
	int e, nd = 0, dp17;
	char tmp[48], d17[20];
	d = fabs(d);
	if (frexp(d, &e) == 0.5) {
		/* powers of two have a lopsided rounding interval: the slow path */
		for (int p = 1; p < 17; p++)
			if (try_prec(d, p, 1, digits, decpt, &nd))
				return nd;
		try_prec(d, 17, 1, digits, decpt, &nd);
		return nd;
	}
	snprintf(tmp, sizeof(tmp), "%.16e", d);
	int k = 0;
	for (const char *s = tmp; *s && *s != 'e'; s++)
		if (*s >= '0' && *s <= '9')
			d17[k++] = *s;
	d17[k] = '\0';
	dp17 = atoi(strchr(tmp, 'e') + 1) + 1;
	/* Most values worth printing (float32 widened, measured data) need 16
	 * or 17 digits: test those first, then search up from 1. */
	if (!cand(d, d17, dp17, 16, digits, decpt, &nd)) {
		cand(d, d17, dp17, 17, digits, decpt, &nd);
		return nd;
	}
	char d16[20];
	int dp16 = *decpt, n16 = nd;
	memcpy(d16, digits, sizeof(d16));
	if (!cand(d, d17, dp17, 15, digits, decpt, &nd)) {
		memcpy(digits, d16, sizeof(d16));
		*decpt = dp16;
		return n16;
	}
	for (int p = 1; p < 15; p++)
		if (cand(d, d17, dp17, p, digits, decpt, &nd))
			return nd;
	cand(d, d17, dp17, 15, digits, decpt, &nd);
	return nd;
}

size_t py_float_repr(double d, char out[JSON_NUM_MAX])
{
	if (isnan(d))
		return (size_t)snprintf(out, JSON_NUM_MAX, "NaN");
	if (isinf(d))
		return (size_t)snprintf(out, JSON_NUM_MAX, d < 0 ? "-Infinity" : "Infinity");
	char *o = out;
	if (signbit(d))
		*o++ = '-';
	if (d == 0) {
		strcpy(o, "0.0");
		return (size_t)(o - out) + 3;
	}
	char dig[20];
	int dp, nd = json_shortest_digits(d, dig, &dp);
	if (dp <= -4 || dp > 16) {
		/* repr's exponent form: d[.ddd]e[+-]XX */
		*o++ = dig[0];
		if (nd > 1) {
			*o++ = '.';
			memcpy(o, dig + 1, (size_t)nd - 1);
			o += nd - 1;
		}
		o += sprintf(o, "e%c%02d", dp - 1 < 0 ? '-' : '+', abs(dp - 1));
	} else if (dp <= 0) {
		*o++ = '0';
		*o++ = '.';
		for (int i = 0; i < -dp; i++)
			*o++ = '0';
		memcpy(o, dig, (size_t)nd);
		o += nd;
	} else if (dp >= nd) {
		memcpy(o, dig, (size_t)nd);
		o += nd;
		for (int i = nd; i < dp; i++)
			*o++ = '0';
		*o++ = '.';
		*o++ = '0';
	} else {
		memcpy(o, dig, (size_t)dp);
		o += dp;
		*o++ = '.';
		memcpy(o, dig + dp, (size_t)(nd - dp));
		o += nd - dp;
	}
	*o = '\0';
	return (size_t)(o - out);
}

size_t js_number_str(double d, char out[JSON_NUM_MAX])
{
	if (isnan(d))
		return (size_t)snprintf(out, JSON_NUM_MAX, "NaN");
	if (isinf(d))
		return (size_t)snprintf(out, JSON_NUM_MAX, d < 0 ? "-Infinity" : "Infinity");
	if (d == 0) {
		strcpy(out, "0");
		return 1;
	}
	char *o = out;
	if (d < 0)
		*o++ = '-';
	char dig[20];
	int n, k = json_shortest_digits(d, dig, &n);
	/* ECMA-262 Number::toString with k digits and exponent n. */
	if (k <= n && n <= 21) {
		memcpy(o, dig, (size_t)k);
		o += k;
		for (int i = k; i < n; i++)
			*o++ = '0';
	} else if (0 < n && n <= 21) {
		memcpy(o, dig, (size_t)n);
		o += n;
		*o++ = '.';
		memcpy(o, dig + n, (size_t)(k - n));
		o += k - n;
	} else if (-6 < n && n <= 0) {
		*o++ = '0';
		*o++ = '.';
		for (int i = 0; i < -n; i++)
			*o++ = '0';
		memcpy(o, dig, (size_t)k);
		o += k;
	} else {
		*o++ = dig[0];
		if (k > 1) {
			*o++ = '.';
			memcpy(o, dig + 1, (size_t)k - 1);
			o += k - 1;
		}
		o += sprintf(o, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
	}
	*o = '\0';
	return (size_t)(o - out);
}

void json_write_double(struct jw *w, enum json_dialect d, double v)
{
	char tmp[JSON_NUM_MAX];
	size_t n;
	if (d == JSON_JS && !isfinite(v))
		n = (size_t)snprintf(tmp, sizeof(tmp), "null");
	else
		n = d == JSON_PY ? py_float_repr(v, tmp) : js_number_str(v, tmp);
	jw_write(w, tmp, n);
}

/* A cJSON number in the Python dialect: see the header on int vs float. */
static void write_cjson_number(struct jw *w, enum json_dialect d, double v)
{
	if (d == JSON_PY && isfinite(v) && v == floor(v) && fabs(v) < 9.2e18) {
		char tmp[JSON_NUM_MAX];
		int n = snprintf(tmp, sizeof(tmp), "%.0f", v == 0 ? 0.0 : v);
		jw_write(w, tmp, (size_t)n);
		return;
	}
	json_write_double(w, d, v);
}

void json_write_comma(struct jw *w, enum json_dialect d)
{
	jw_write(w, d == JSON_PY ? ", " : ",", d == JSON_PY ? 2 : 1);
}

void json_write_colon(struct jw *w, enum json_dialect d)
{
	jw_write(w, d == JSON_PY ? ": " : ":", d == JSON_PY ? 2 : 1);
}

/* ---- strings ---- */

#define CP_BAD 0xfffdu

/* One UTF-8 sequence at *pp (< end); an invalid one gives U+FFFD and
 * consumes one byte. */
static uint32_t utf8_next(const unsigned char **pp, const unsigned char *end)
{
	const unsigned char *p = *pp;
	uint32_t c = p[0], cp, min;
	int n;
	if (c < 0x80) {
		*pp = p + 1;
		return c;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 1, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3, cp = c & 0x07, min = 0x10000;
	} else {
		*pp = p + 1;
		return CP_BAD;
	}
	if (end - p <= n) {
		*pp = p + 1;
		return CP_BAD;
	}
	for (int i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*pp = p + 1;
			return CP_BAD;
		}
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		*pp = p + 1;
		return CP_BAD;
	}
	*pp = p + n + 1;
	return cp;
}

static size_t utf8_put(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* ASCII that both dialects copy as is. */
static inline int plain_ascii(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* Emit one code point inside a string (cp may be a lone surrogate). */
static void put_cp(struct jw *w, enum json_dialect d, uint32_t cp)
{
	char tmp[16];
	size_t n;
	switch (cp) {
	case '"':
		jw_write(w, "\\\"", 2);
		return;
	case '\\':
		jw_write(w, "\\\\", 2);
		return;
	case '\n':
		jw_write(w, "\\n", 2);
		return;
	case '\r':
		jw_write(w, "\\r", 2);
		return;
	case '\t':
		jw_write(w, "\\t", 2);
		return;
	case '\b':
		jw_write(w, "\\b", 2);
		return;
	case '\f':
		jw_write(w, "\\f", 2);
		return;
	}
	if (cp < 0x20 || (cp >= 0xd800 && cp <= 0xdfff) || (d == JSON_PY && cp >= 0x7f)) {
		if (cp >= 0x10000) {
			uint32_t v = cp - 0x10000;
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x\\u%04x",
					     0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
		} else {
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", cp);
		}
		jw_write(w, tmp, n);
		return;
	}
	n = utf8_put(tmp, cp);
	jw_write(w, tmp, n);
}

void json_write_string(struct jw *w, enum json_dialect d, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	jw_write(w, "\"", 1);
	while (p < end) {
		const unsigned char *q = p;
		while (q < end && plain_ascii(*q))
			q++;
		jw_write(w, p, (size_t)(q - p));
		if (q == end)
			break;
		p = q;
		put_cp(w, d, utf8_next(&p, end));
	}
	jw_write(w, "\"", 1);
}

/* ---- cJSON trees ---- */

void json_write_value(struct jw *w, enum json_dialect d, const cJSON *j)
{
	const cJSON *it;
	if (!j || cJSON_IsNull(j) || cJSON_IsInvalid(j)) {
		jw_write(w, "null", 4);
	} else if (cJSON_IsFalse(j)) {
		jw_write(w, "false", 5);
	} else if (cJSON_IsTrue(j)) {
		jw_write(w, "true", 4);
	} else if (cJSON_IsNumber(j)) {
		write_cjson_number(w, d, j->valuedouble);
	} else if (cJSON_IsString(j)) {
		json_write_string(w, d, j->valuestring, strlen(j->valuestring));
	} else if (cJSON_IsRaw(j)) {
		jw_puts(w, j->valuestring);
	} else {
		int obj = cJSON_IsObject(j);
		jw_write(w, obj ? "{" : "[", 1);
		cJSON_ArrayForEach(it, j) {
			if (it != j->child)
				json_write_comma(w, d);
			if (obj) {
				json_write_string(w, d, it->string, strlen(it->string));
				json_write_colon(w, d);
			}
			json_write_value(w, d, it);
		}
		jw_write(w, obj ? "}" : "]", 1);
	}
}

/* ---- JSON text: check, transcode, scan ---- */

struct tc {
	const unsigned char *p, *end;
	struct jw *w; /* NULL: check only */
	enum json_dialect d;
};

static void tc_ws(struct tc *t)
{
	while (t->p < t->end &&
	       (*t->p == ' ' || *t->p == '\t' || *t->p == '\n' || *t->p == '\r'))
		t->p++;
}

static int hex4(const unsigned char *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned c = p[i];
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			*v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			*v |= c - 'A' + 10;
		else
			return -EINVAL;
	}
	return 0;
}

/* The next code point of a string body at t->p; *cp gets it (lone surrogates
 * kept), or -1 at the closing quote (consumed). */
static int str_next(struct tc *t, int32_t *cp)
{
	if (t->p >= t->end)
		return -EINVAL;
	unsigned char c = *t->p;
	if (c == '"') {
		t->p++;
		*cp = -1;
		return 0;
	}
	if (c < 0x20)
		return -EINVAL; /* json.loads(strict=True) refuses raw controls */
	if (c != '\\') {
		*cp = (int32_t)utf8_next(&t->p, t->end);
		return 0;
	}
	if (t->end - t->p < 2)
		return -EINVAL;
	c = t->p[1];
	t->p += 2;
	switch (c) {
	case '"': *cp = '"'; return 0;
	case '\\': *cp = '\\'; return 0;
	case '/': *cp = '/'; return 0;
	case 'b': *cp = '\b'; return 0;
	case 'f': *cp = '\f'; return 0;
	case 'n': *cp = '\n'; return 0;
	case 'r': *cp = '\r'; return 0;
	case 't': *cp = '\t'; return 0;
	case 'u': break;
	default: return -EINVAL;
	}
	uint32_t v, lo;
	if (t->end - t->p < 4 || hex4(t->p, &v))
		return -EINVAL;
	t->p += 4;
	if (v >= 0xd800 && v <= 0xdbff && t->end - t->p >= 6 && t->p[0] == '\\' &&
	    t->p[1] == 'u' && !hex4(t->p + 2, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
		t->p += 6;
		v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
	}
	*cp = (int32_t)v;
	return 0;
}

static int tc_string(struct tc *t)
{
	int32_t cp;
	int rc;
	t->p++; /* the opening quote */
	if (t->w)
		jw_write(t->w, "\"", 1);
	for (;;) {
		const unsigned char *q = t->p;
		while (q < t->end && plain_ascii(*q))
			q++;
		if (t->w)
			jw_write(t->w, t->p, (size_t)(q - t->p));
		t->p = q;
		rc = str_next(t, &cp);
		if (rc)
			return rc;
		if (cp < 0)
			break;
		if (t->w)
			put_cp(t->w, t->d, (uint32_t)cp);
	}
	if (t->w)
		jw_write(t->w, "\"", 1);
	return 0;
}

static int lit(struct tc *t, const char *s)
{
	size_t n = strlen(s);
	if ((size_t)(t->end - t->p) < n || memcmp(t->p, s, n))
		return 0;
	t->p += n;
	return 1;
}

static int tc_number(struct tc *t)
{
	const unsigned char *s = t->p, *p = s, *e = t->end;
	int is_float = 0;
	if (p < e && *p == '-')
		p++;
	if (lit(&(struct tc){ .p = p, .end = e }, "Infinity")) {
		t->p = p + 8;
		if (t->w)
			jw_puts(t->w, t->d == JSON_JS ? "null" : s[0] == '-' ? "-Infinity"
									 : "Infinity");
		return 0;
	}
	if (p >= e || *p < '0' || *p > '9')
		return -EINVAL;
	if (*p == '0')
		p++;
	else
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	if (p < e && *p == '.') {
		is_float = 1;
		if (++p >= e || *p < '0' || *p > '9')
			return -EINVAL;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		is_float = 1;
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || *p < '0' || *p > '9')
			return -EINVAL;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	t->p = p;
	if (!t->w)
		return 0;
	size_t n = (size_t)(p - s);
	if (t->d == JSON_PY && !is_float) {
		/* Python int: arbitrary size, printed back as is ("-0" is 0). */
		if (n == 2 && s[0] == '-' && s[1] == '0')
			jw_write(t->w, "0", 1);
		else
			jw_write(t->w, s, n);
		return 0;
	}
	char small[64], *tmp = n < sizeof(small) ? small : malloc(n + 1);
	if (!tmp) {
		t->w->err = t->w->err ? t->w->err : -ENOMEM;
		return 0;
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	json_write_double(t->w, t->d, strtod(tmp, NULL));
	if (tmp != small)
		free(tmp);
	return 0;
}

static int tc_value(struct tc *t, int depth)
{
	int rc;
	tc_ws(t);
	if (t->p >= t->end)
		return -EINVAL;
	switch (*t->p) {
	case '"':
		return tc_string(t);
	case '{':
	case '[': {
		int obj = *t->p == '{';
		if (depth >= JSON_MAX_DEPTH)
			return -EINVAL;
		t->p++;
		if (t->w)
			jw_write(t->w, obj ? "{" : "[", 1);
		tc_ws(t);
		if (t->p < t->end && *t->p == (obj ? '}' : ']')) {
			t->p++;
			if (t->w)
				jw_write(t->w, obj ? "}" : "]", 1);
			return 0;
		}
		for (;;) {
			if (obj) {
				tc_ws(t);
				if (t->p >= t->end || *t->p != '"')
					return -EINVAL;
				rc = tc_string(t);
				if (rc)
					return rc;
				tc_ws(t);
				if (t->p >= t->end || *t->p != ':')
					return -EINVAL;
				t->p++;
				if (t->w)
					json_write_colon(t->w, t->d);
			}
			rc = tc_value(t, depth + 1);
			if (rc)
				return rc;
			tc_ws(t);
			if (t->p >= t->end)
				return -EINVAL;
			if (*t->p == ',') {
				t->p++;
				if (t->w)
					json_write_comma(t->w, t->d);
				continue;
			}
			if (*t->p != (obj ? '}' : ']'))
				return -EINVAL;
			t->p++;
			if (t->w)
				jw_write(t->w, obj ? "}" : "]", 1);
			return 0;
		}
	}
	case 't':
		if (!lit(t, "true"))
			return -EINVAL;
		if (t->w)
			jw_write(t->w, "true", 4);
		return 0;
	case 'f':
		if (!lit(t, "false"))
			return -EINVAL;
		if (t->w)
			jw_write(t->w, "false", 5);
		return 0;
	case 'n':
		if (!lit(t, "null"))
			return -EINVAL;
		if (t->w)
			jw_write(t->w, "null", 4);
		return 0;
	case 'N':
		if (!lit(t, "NaN"))
			return -EINVAL;
		if (t->w)
			jw_puts(t->w, t->d == JSON_JS ? "null" : "NaN");
		return 0;
	default:
		return tc_number(t);
	}
}

/* One value spanning the whole of p[0..n) but whitespace. */
static int tc_run(struct jw *w, enum json_dialect d, const char *p, size_t n)
{
	struct tc t = { (const unsigned char *)p, (const unsigned char *)p + n, w, d };
	if (!p)
		return -EINVAL;
	int rc = tc_value(&t, 0);
	if (rc)
		return rc;
	tc_ws(&t);
	return t.p == t.end ? 0 : -EINVAL;
}

int json_text_valid(const char *p, size_t n)
{
	return tc_run(NULL, JSON_PY, p, n) == 0;
}

int json_transcode(struct jw *w, enum json_dialect d, const char *p, size_t n)
{
	if (!json_text_valid(p, n))
		return -EINVAL;
	tc_run(w, d, p, n);
	return w->err;
}

int json_text_string(const char *p, size_t n, struct buf *out)
{
	struct tc t = { (const unsigned char *)p, (const unsigned char *)p + n, NULL, JSON_PY };
	int32_t cp;
	int rc;
	if (!p || !n || *p != '"')
		return -EINVAL;
	t.p++;
	for (;;) {
		rc = str_next(&t, &cp);
		if (rc)
			return rc;
		if (cp < 0)
			break;
		char tmp[4];
		if (cp >= 0xd800 && cp <= 0xdfff)
			cp = CP_BAD;
		rc = buf_add(out, tmp, utf8_put(tmp, (uint32_t)cp));
		if (rc)
			return rc;
	}
	tc_ws(&t);
	return t.p == t.end ? 0 : -EINVAL;
}

int json_text_members(const char *p, size_t n, json_member_fn fn, void *ctx)
{
	struct tc t = { (const unsigned char *)p, (const unsigned char *)p + n, NULL, JSON_PY };
	struct buf key = BUF_INIT;
	int rc = 0;
	if (!p)
		return -EINVAL;
	tc_ws(&t);
	if (t.p >= t.end || *t.p != '{')
		return -EINVAL;
	t.p++;
	tc_ws(&t);
	if (t.p < t.end && *t.p == '}')
		return 0;
	for (;;) {
		tc_ws(&t);
		const unsigned char *k = t.p;
		if (t.p >= t.end || *t.p != '"' || (rc = tc_string(&t)))
			break;
		buf_reset(&key);
		rc = json_text_string((const char *)k, (size_t)(t.p - k), &key);
		if (!rc && !key.data)
			rc = buf_adds(&key, "");
		if (rc)
			break;
		tc_ws(&t);
		if (t.p >= t.end || *t.p != ':') {
			rc = -EINVAL;
			break;
		}
		t.p++;
		tc_ws(&t);
		const unsigned char *v = t.p;
		rc = tc_value(&t, 1);
		if (rc)
			break;
		rc = fn(ctx, key.data, (const char *)v, (size_t)(t.p - v));
		if (rc)
			break;
		tc_ws(&t);
		if (t.p < t.end && *t.p == ',') {
			t.p++;
			continue;
		}
		if (t.p >= t.end || *t.p != '}')
			rc = -EINVAL;
		break;
	}
	buf_release(&key);
	return rc;
}

struct find_ctx {
	const char *key;
	const char *val;
	size_t len;
};

static int find_member(void *ctx, const char *key, const char *val, size_t len)
{
	struct find_ctx *f = ctx;
	if (!strcmp(key, f->key)) {
		f->val = val;
		f->len = len;
	}
	return 0;
}

int json_text_member(const char *p, size_t n, const char *key, const char **val,
		     size_t *val_len)
{
	struct find_ctx f = { key, NULL, 0 };
	int rc = json_text_members(p, n, find_member, &f);
	if (rc)
		return rc;
	if (!f.val)
		return -ENOENT;
	*val = f.val;
	*val_len = f.len;
	return 0;
}
