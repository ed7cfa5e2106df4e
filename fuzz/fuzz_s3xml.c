/* fuzz/fuzz_s3xml.c - libFuzzer target: the S3 XML reply parsers
 * (backends/s3_xml.h) on arbitrary bytes, and s3_xml_escape.
 *
 * Input: byte 0 picks the function (modulo 6: parse_list, parse_error,
 * parse_upload_id, parse_complete, parse_delete, escape), byte 1 the size
 * of each output buffer (0: NULL buffers where the function allows them);
 * the rest is the document.
 * Properties: a parser returns 0 or -EBADMSG (-ENOMEM; -EREMOTEIO from
 * parse_complete on an <Error> root); output buffers are malloc'd to their
 * exact size (ASan sees any write past them) and hold a NUL-terminated
 * string afterwards, "" on failure; a refused list or upload id leaves
 * nothing allocated, an accepted list has a non-empty key and an etag per
 * entry, and any token or upload id it gives is non-empty (the parser
 * refuses empty ones); results are freed (LSan). escape: the text up to
 * the first NUL, escaped, holds none of & < > " ' raw, and as the UploadId
 * of an InitiateMultipartUploadResult parses back to the same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../backends/s3_xml.h"
#include "../store/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_setup(0, 1);
	return 0;
}

/* An output buffer of exactly n bytes (NULL for 0), filled with garbage. */
static char *out_buf(size_t n)
{
	char *b = n ? malloc(n) : NULL;
	if (b)
		memset(b, 0xa5, n);
	return b;
}

/* b[0..n) holds a NUL-terminated string; "" when empty is set. */
static void check_out(const char *b, size_t n, int empty)
{
	if (!b)
		return;
	if (!memchr(b, '\0', n) || (empty && b[0]))
		abort();
}

static int bad_rc(int rc)
{
	return rc && rc != -EBADMSG && rc != -ENOMEM;
}

static void try_list(const char *p, size_t len)
{
	struct s3_list_result r;
	int rc = s3_xml_parse_list(p, len, &r);
	if (bad_rc(rc))
		abort();
	if (rc && (r.ents || r.n || r.next_token || r.truncated))
		abort(); /* nothing left to free */
	for (size_t i = 0; i < r.n; i++)
		if (!r.ents[i].key || !r.ents[i].key[0] || !r.ents[i].etag ||
		    strlen(r.ents[i].etag) >= len)
			abort();
	if (r.next_token && !r.next_token[0])
		abort();
	s3_list_result_free(&r);
	s3_list_result_free(&r); /* zeroed: a second free is harmless */
}

static void try_error(const char *p, size_t len, size_t n)
{
	char *code = out_buf(n), *msg = out_buf(n), *region = out_buf(n);
	int rc = s3_xml_parse_error(p, len, code, n, msg, n, region, n);
	if (bad_rc(rc))
		abort();
	check_out(code, n, rc);
	check_out(msg, n, rc);
	check_out(region, n, rc);
	free(code);
	free(msg);
	free(region);
}

static void try_upload_id(const char *p, size_t len)
{
	char *id = (char *)p; /* must be overwritten */
	int rc = s3_xml_parse_upload_id(p, len, &id);
	if (bad_rc(rc) || (rc && id) || (!rc && (!id || !id[0])))
		abort();
	free(id);
}

static void try_complete(const char *p, size_t len, size_t n)
{
	char *etag = out_buf(n);
	int rc = s3_xml_parse_complete(p, len, etag, n);
	if (bad_rc(rc) && rc != -EREMOTEIO)
		abort();
	check_out(etag, n, rc && rc != -EREMOTEIO);
	free(etag);
}

static void try_delete(const char *p, size_t len, size_t n)
{
	char *key = out_buf(n), *code = out_buf(n);
	size_t nerr = 12345;
	int rc = s3_xml_parse_delete(p, len, &nerr, key, n, code, n);
	if (bad_rc(rc) || (rc && nerr))
		abort();
	check_out(key, n, !nerr);
	check_out(code, n, !nerr);
	free(key);
	free(code);
}

/* Every '&' in s starts one of the five entities s3_xml_escape writes. */
static int entities_only(const char *s)
{
	static const char *const ent[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
	for (s = strchr(s, '&'); s; s = strchr(s + 1, '&')) {
		size_t i = 0;
		while (i < 5 && strncmp(s, ent[i], strlen(ent[i])))
			i++;
		if (i == 5)
			return 0;
	}
	return 1;
}

static void try_escape(const uint8_t *data, size_t len)
{
	const uint8_t *nul = memchr(data, '\0', len);
	size_t n = nul ? (size_t)(nul - data) : len;
	char *s = malloc(n + 1), *id = NULL;
	struct buf e = BUF_INIT, doc = BUF_INIT;
	if (!s)
		return;
	memcpy(s, data, n);
	s[n] = '\0';
	if (s3_xml_escape(&e, s) || buf_adds(&doc, "<InitiateMultipartUploadResult><UploadId>") ||
	    buf_add(&doc, e.data, e.len) ||
	    buf_adds(&doc, "</UploadId></InitiateMultipartUploadResult>"))
		goto out;
	if (e.data && (strpbrk(e.data, "<>\"'") || !entities_only(e.data)))
		abort(); /* a special character left raw */
	int rc = s3_xml_parse_upload_id(doc.data, doc.len, &id);
	if (n ? rc || strcmp(id, s) : rc != -EBADMSG)
		abort();
out:
	free(id);
	buf_release(&e);
	buf_release(&doc);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned which = data[0] % 6;
	size_t n = data[1], len = size - 2;
	/* Copy without a terminating NUL so reads past len are caught. */
	char *p = malloc(len ? len : 1);
	if (!p)
		return 0;
	memcpy(p, data + 2, len);
	switch (which) {
	case 0:
		try_list(p, len);
		break;
	case 1:
		try_error(p, len, n);
		break;
	case 2:
		try_upload_id(p, len);
		break;
	case 3:
		try_complete(p, len, n);
		break;
	case 4:
		try_delete(p, len, n);
		break;
	default:
		try_escape(data + 2, len);
	}
	free(p);
	return 0;
}
