/* store/jsonutil.c - see jsonutil.h */
#include "jsonutil.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void uuid4(char out[37])
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof(b)) != 1) {
		/* RAND_bytes only fails without entropy; fall back to time+rand. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		srand((unsigned)(ts.tv_nsec ^ ts.tv_sec));
		for (int i = 0; i < 16; i++)
			b[i] = (unsigned char)rand();
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
		 b[12], b[13], b[14], b[15]);
}

void sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void date_ymd(int64_t t_ns, char out[11])
{
	time_t t = (time_t)(t_ns / 1000000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* cJSON recurses per nesting level; refuse deep input before parsing. */
static int too_deep(const char *p, size_t n)
{
	int depth = 0, in_str = 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > JSON_MAX_DEPTH)
				return 1;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return 0;
}

cJSON *json_parse(const char *p, size_t n)
{
	const char *end = NULL;
	if (!p || too_deep(p, n))
		return NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(p, n, &end, 0);
	/* One value and nothing after it but white space (cJSON stops at the
	 * end of the first value). */
	while (j && end && (size_t)(end - p) < n && strchr(" \t\r\n", *end) && *end)
		end++;
	if (j && end && (size_t)(end - p) < n && *end) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

int json_print(const cJSON *j, struct buf *out)
{
	char *s = cJSON_PrintUnformatted(j);
	if (!s)
		return -ENOMEM;
	int rc = buf_adds(out, s);
	cJSON_free(s);
	return rc;
}

const char *json_str(const cJSON *obj, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static int py_repr_str(const char *s, struct buf *out)
{
	char q = (strchr(s, '\'') && !strchr(s, '"')) ? '"' : '\'';
	int rc = buf_addc(out, q);
	for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
		if (*p == '\\' || *p == (unsigned char)q)
			rc = buf_addf(out, "\\%c", *p);
		else if (*p == '\n')
			rc = buf_adds(out, "\\n");
		else if (*p == '\r')
			rc = buf_adds(out, "\\r");
		else if (*p == '\t')
			rc = buf_adds(out, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			rc = buf_addf(out, "\\x%02x", *p);
		else
			rc = buf_addc(out, (char)*p);
	}
	return rc ? rc : buf_addc(out, q);
}

static int py_repr_num(double d, struct buf *out)
{
	if (isnan(d))
		return buf_adds(out, "nan");
	if (isinf(d))
		return buf_adds(out, d < 0 ? "-inf" : "inf");
	if (d == floor(d) && fabs(d) < 1e16)
		return buf_addf(out, "%.0f", d);
	/* Python's repr is the shortest string that round-trips. */
	char tmp[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	return buf_adds(out, tmp);
}

int py_repr(const cJSON *j, struct buf *out)
{
	int rc = 0;
	const cJSON *it;
	if (cJSON_IsString(j))
		return py_repr_str(j->valuestring, out);
	if (cJSON_IsNumber(j))
		return py_repr_num(j->valuedouble, out);
	if (cJSON_IsBool(j))
		return buf_adds(out, cJSON_IsTrue(j) ? "True" : "False");
	if (cJSON_IsNull(j) || !j)
		return buf_adds(out, "None");
	int obj = cJSON_IsObject(j);
	rc = buf_addc(out, obj ? '{' : '[');
	cJSON_ArrayForEach(it, j) {
		if (rc)
			break;
		if (it != j->child)
			rc = buf_adds(out, ", ");
		if (!rc && obj) {
			rc = py_repr_str(it->string, out);
			if (!rc)
				rc = buf_adds(out, ": ");
		}
		if (!rc)
			rc = py_repr(it, out);
	}
	return rc ? rc : buf_addc(out, obj ? '}' : ']');
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0. */
static size_t utf8_seq_len(const unsigned char *p)
{
	size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
	if (!n || (n == 3 && p[0] > 0xef))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
		return 0; /* overlong, surrogate, above U+10FFFF */
	return n;
}

int json_str_out(const char *str, struct buf *out)
{
	int rc = buf_addc(out, '"');
	for (const unsigned char *p = (const unsigned char *)str; *p && !rc; p++) {
		switch (*p) {
		case '"':
			rc = buf_adds(out, "\\\"");
			break;
		case '\\':
			rc = buf_adds(out, "\\\\");
			break;
		case '\n':
			rc = buf_adds(out, "\\n");
			break;
		case '\r':
			rc = buf_adds(out, "\\r");
			break;
		case '\t':
			rc = buf_adds(out, "\\t");
			break;
		default:
			if (*p < 0x20) {
				rc = buf_addf(out, "\\u%04x", *p);
			} else if (*p < 0x80) {
				rc = buf_addc(out, (char)*p);
			} else {
				/* Names and texts may hold any bytes: JSON must be UTF-8. */
				size_t n = utf8_seq_len(p);
				rc = n ? buf_add(out, p, n) : buf_adds(out, "\xef\xbf\xbd");
				p += n ? n - 1 : 0;
			}
		}
	}
	return rc ? rc : buf_addc(out, '"');
}

static int json_num_out(double d, struct buf *out)
{
	if (!isfinite(d))
		return buf_adds(out, "null"); /* JSON has no NaN/Infinity */
	return py_repr_num(d, out);
}

int json_print_spaced(const cJSON *j, struct buf *out)
{
	int rc = 0;
	const cJSON *it;
	if (cJSON_IsString(j))
		return json_str_out(j->valuestring, out);
	if (cJSON_IsNumber(j))
		return json_num_out(j->valuedouble, out);
	if (cJSON_IsBool(j))
		return buf_adds(out, cJSON_IsTrue(j) ? "true" : "false");
	if (cJSON_IsRaw(j))
		return buf_adds(out, j->valuestring);
	if (!cJSON_IsObject(j) && !cJSON_IsArray(j))
		return buf_adds(out, "null");
	int obj = cJSON_IsObject(j);
	rc = buf_addc(out, obj ? '{' : '[');
	cJSON_ArrayForEach(it, j) {
		if (!rc && it != j->child)
			rc = buf_adds(out, ", ");
		if (!rc && obj) {
			rc = json_str_out(it->string, out);
			if (!rc)
				rc = buf_adds(out, ": ");
		}
		if (!rc)
			rc = json_print_spaced(it, out);
	}
	return rc ? rc : buf_addc(out, obj ? '}' : ']');
}
