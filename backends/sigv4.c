/* backends/sigv4.c - AWS Signature Version 4 (see sigv4.h). */
#include "sigv4.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SIGV4_MAX_HEADERS 32

static const char hexd[] = "0123456789abcdef";

static void to_hex(const unsigned char *p, size_t n, char *hex)
{
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = hexd[p[i] >> 4];
		hex[2 * i + 1] = hexd[p[i] & 15];
	}
	hex[2 * n] = '\0';
}

int sigv4_sha256_hex(const void *data, size_t len, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -EIO;
	to_hex(md, 32, hex);
	return 0;
}

int sigv4_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
		      unsigned char *mac)
{
	unsigned int maclen = 0;

	if (keylen > (size_t)__INT_MAX__)
		return -EINVAL;
	if (!HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, mac, &maclen) || maclen != 32)
		return -EIO;
	return 0;
}

void sigv4_amz_date(time_t t, char *date)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(date, SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

int sigv4_uri_encode(struct buf *out, const char *s, size_t n, int keep_slash)
{
	/* Worst case triples the size: grow once, then write in place. */
	if (n > ((size_t)-1) / 4)
		return -ENOMEM;
	int rc = buf_grow(out, 3 * n);
	if (rc)
		return rc;
	char *p = out->data + out->len;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = "0123456789ABCDEF"[c >> 4];
			*p++ = "0123456789ABCDEF"[c & 15];
		}
	}
	out->len = (size_t)(p - out->data);
	out->data[out->len] = '\0';
	return 0;
}

struct enc_param {
	char *name;
	char *value;
};

static int cmp_param(const void *a, const void *b)
{
	const struct enc_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

static char *encode_dup(const char *s)
{
	struct buf b = BUF_INIT;
	if (!s)
		s = "";
	if (sigv4_uri_encode(&b, s, strlen(s), 0)) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

int sigv4_canonical_query(struct buf *out, const struct sigv4_param *q, size_t n)
{
	int rc = 0;

	if (!n)
		return 0;
	/* Sorted after encoding: AWS sorts the encoded byte strings. */
	struct enc_param *e = calloc(n, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!q[i].name || !q[i].name[0]) {
			rc = -EINVAL;
			goto out;
		}
		e[i].name = encode_dup(q[i].name);
		e[i].value = encode_dup(q[i].value);
		if (!e[i].name || !e[i].value) {
			rc = -ENOMEM;
			goto out;
		}
	}
	qsort(e, n, sizeof(*e), cmp_param);
	for (size_t i = 0; i < n && !rc; i++)
		rc = buf_addf(out, "%s%s=%s", i ? "&" : "", e[i].name, e[i].value);
out:
	for (size_t i = 0; i < n; i++) {
		free(e[i].name);
		free(e[i].value);
	}
	free(e);
	return rc;
}

struct canon_header {
	char *name;  /* lower-case */
	char *value; /* trimmed */
};

static int cmp_header(const void *a, const void *b)
{
	return strcmp(((const struct canon_header *)a)->name,
		      ((const struct canon_header *)b)->name);
}

static int valid_header_text(const char *s)
{
	for (; *s; s++)
		if (*s == '\r' || *s == '\n')
			return 0;
	return 1;
}

static int canon_header_set(struct canon_header *h, const char *name, const char *value)
{
	size_t n = strlen(name);
	if (!n || !valid_header_text(name) || !valid_header_text(value) || strchr(name, ':'))
		return -EINVAL;
	h->name = malloc(n + 1);
	h->value = malloc(strlen(value) + 1);
	if (!h->name || !h->value)
		return -ENOMEM;
	for (size_t i = 0; i <= n; i++)
		h->name[i] = (char)tolower((unsigned char)name[i]);
	/* Trim, and collapse runs of blanks into one space. */
	const char *s = value;
	char *d = h->value;
	while (*s == ' ' || *s == '\t')
		s++;
	while (*s) {
		if (*s == ' ' || *s == '\t') {
			while (*s == ' ' || *s == '\t')
				s++;
			if (*s)
				*d++ = ' ';
		} else {
			*d++ = *s++;
		}
	}
	*d = '\0';
	return 0;
}

static int reserved_header(const char *lname)
{
	return !strcmp(lname, "host") || !strcmp(lname, "x-amz-date") ||
	       !strcmp(lname, "x-amz-content-sha256") ||
	       !strcmp(lname, "x-amz-security-token") || !strcmp(lname, "authorization");
}

/* The signing key: HMAC chain over date, region, service, "aws4_request". */
static int signing_key(const struct sigv4_creds *c, const char *day, const char *service,
		       unsigned char *key)
{
	size_t sl = strlen(c->secret_key);
	char *k0 = malloc(sl + 5);
	int rc;

	if (!k0)
		return -ENOMEM;
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, c->secret_key, sl + 1);
	rc = sigv4_hmac_sha256(k0, sl + 4, day, strlen(day), key);
	OPENSSL_cleanse(k0, sl + 5);
	free(k0);
	if (!rc)
		rc = sigv4_hmac_sha256(key, 32, c->region, strlen(c->region), key);
	if (!rc)
		rc = sigv4_hmac_sha256(key, 32, service, strlen(service), key);
	if (!rc)
		rc = sigv4_hmac_sha256(key, 32, "aws4_request", 12, key);
	return rc;
}

void sigv4_out_free(struct sigv4_out *out)
{
	if (!out)
		return;
	free(out->authorization);
	out->authorization = NULL;
}

int sigv4_sign(const struct sigv4_creds *creds, const struct sigv4_request *req,
	       struct sigv4_out *out, struct buf *canon, struct buf *sts)
{
	struct canon_header h[SIGV4_MAX_HEADERS + 4];
	struct buf cr = BUF_INIT, ss = BUF_INIT, signed_names = BUF_INIT;
	unsigned char key[32], sig[32];
	char day[9], hash[SIGV4_HEX_LEN + 1], sighex[SIGV4_HEX_LEN + 1];
	size_t nh = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(h, 0, sizeof(h));
	if (!creds || !creds->access_key || !creds->secret_key || !creds->region ||
	    !creds->region[0] || !req || !req->method || !req->host || !req->host[0] ||
	    !req->path || req->path[0] != '/' || req->nheaders > SIGV4_MAX_HEADERS ||
	    (req->nquery && !req->query) || (req->nheaders && !req->headers))
		return -EINVAL;
	const char *service = creds->service ? creds->service : "s3";

	sigv4_amz_date(req->now, out->amz_date);
	memcpy(day, out->amz_date, 8);
	day[8] = '\0';
	if (req->payload_hash) {
		if (strlen(req->payload_hash) > SIGV4_HEX_LEN)
			return -EINVAL;
		strcpy(out->payload_hash, req->payload_hash);
	} else if ((rc = sigv4_sha256_hex(req->payload, req->payload_len, out->payload_hash))) {
		return rc;
	}

	/* Headers: the caller's plus the ones SigV4 requires. */
	for (size_t i = 0; i < req->nheaders; i++) {
		if (!req->headers[i].name || !req->headers[i].value) {
			rc = -EINVAL;
			goto out;
		}
		rc = canon_header_set(&h[nh++], req->headers[i].name, req->headers[i].value);
		if (rc)
			goto out;
		if (reserved_header(h[nh - 1].name)) {
			rc = -EINVAL;
			goto out;
		}
		for (size_t j = 0; j + 1 < nh; j++)
			if (!strcmp(h[j].name, h[nh - 1].name)) {
				/* duplicates would need joining; we never send them */
				rc = -EINVAL;
				goto out;
			}
	}
	if ((rc = canon_header_set(&h[nh++], "host", req->host)) ||
	    (rc = canon_header_set(&h[nh++], "x-amz-content-sha256", out->payload_hash)) ||
	    (rc = canon_header_set(&h[nh++], "x-amz-date", out->amz_date)))
		goto out;
	if (creds->session_token && creds->session_token[0] &&
	    (rc = canon_header_set(&h[nh++], "x-amz-security-token", creds->session_token)))
		goto out;
	qsort(h, nh, sizeof(h[0]), cmp_header);

	/* Canonical request. */
	if ((rc = buf_addf(&cr, "%s\n", req->method)) ||
	    (rc = sigv4_uri_encode(&cr, req->path, strlen(req->path), 1)) ||
	    (rc = buf_addc(&cr, '\n')) ||
	    (rc = sigv4_canonical_query(&cr, req->query, req->nquery)) ||
	    (rc = buf_addc(&cr, '\n')))
		goto out;
	for (size_t i = 0; i < nh; i++) {
		if ((rc = buf_addf(&cr, "%s:%s\n", h[i].name, h[i].value)) ||
		    (rc = buf_addf(&signed_names, "%s%s", i ? ";" : "", h[i].name)))
			goto out;
	}
	if ((rc = buf_addf(&cr, "\n%s\n%s", signed_names.data, out->payload_hash)))
		goto out;

	/* String to sign. */
	if ((rc = sigv4_sha256_hex(cr.data, cr.len, hash)))
		goto out;
	if ((rc = buf_addf(&ss, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
			   out->amz_date, day, creds->region, service, hash)))
		goto out;

	if ((rc = signing_key(creds, day, service, key)))
		goto out;
	rc = sigv4_hmac_sha256(key, sizeof(key), ss.data, ss.len, sig);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc)
		goto out;
	to_hex(sig, sizeof(sig), sighex);
	if (asprintf(&out->authorization,
		     "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
		     "Signature=%s", creds->access_key, day, creds->region, service,
		     signed_names.data, sighex) < 0) {
		out->authorization = NULL;
		rc = -ENOMEM;
		goto out;
	}
	if (canon)
		rc = buf_add(canon, cr.data, cr.len);
	if (!rc && sts)
		rc = buf_add(sts, ss.data, ss.len);
	if (rc)
		sigv4_out_free(out);
out:
	for (size_t i = 0; i < nh; i++) {
		free(h[i].name);
		if (h[i].value)
			OPENSSL_cleanse(h[i].value, strlen(h[i].value)); /* may be the token */
		free(h[i].value);
	}
	buf_release(&cr);
	buf_release(&ss);
	buf_release(&signed_names);
	return rc;
}
