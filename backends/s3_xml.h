/* backends/s3_xml.h - the few S3 XML documents the S3 client reads and writes.
 *
 * A small, strict, non-validating parser (no DTDs, no external entities, no
 * namespaces beyond dropping a "prefix:" from names): enough for the
 * well-formed replies S3, R2 and Ceph RGW send, and safe on anything else.
 * Malformed, truncated or over-deep input returns -EBADMSG, never crashes.
 * Text is entity-decoded (&amp; &lt; &gt; &quot; &apos; &#N; &#xH;) and
 * CDATA sections are kept as text.
 *
 * Ownership: results are malloc'd into caller-provided structs; free them
 * with the matching *_free function (which accept zeroed structs).
 * Thread-safety: all functions are reentrant.
 */
#ifndef BACKENDS_S3_XML_H
#define BACKENDS_S3_XML_H

#include <stddef.h>
#include <stdint.h>

#include "../store/buf.h"

/* ---- ListObjectsV2 (ListBucketResult) */
struct s3_list_entry {
	char *key;
	uint64_t size;
	char *etag;        /* without the surrounding quotes */
	int64_t mtime_ns;  /* from LastModified, 0 if absent */
};

struct s3_list_result {
	struct s3_list_entry *ents;
	size_t n;
	int truncated;        /* IsTruncated was "true" */
	char *next_token;     /* NextContinuationToken or NULL */
};

int s3_xml_parse_list(const char *xml, size_t len, struct s3_list_result *res);
void s3_list_result_free(struct s3_list_result *res);

/* ---- Error: copies Code, Message and (AWS wrong-region replies) Region,
 * truncated to the given sizes; absent elements give "". Returns -EBADMSG
 * when the document is not well-formed or its root is not <Error>. */
int s3_xml_parse_error(const char *xml, size_t len, char *code, size_t codelen, char *msg,
		       size_t msglen, char *region, size_t regionlen);

/* ---- InitiateMultipartUploadResult: *upload_id is malloc'd. */
int s3_xml_parse_upload_id(const char *xml, size_t len, char **upload_id);

/* ---- CompleteMultipartUploadResult: etag (without quotes) into etag.
 * An <Error> root (S3 may send one with status 200) gives -EREMOTEIO and
 * its code in etag. */
int s3_xml_parse_complete(const char *xml, size_t len, char *etag, size_t etaglen);

/* ---- DeleteResult: *nerrors is the number of <Error> entries whose Code is
 * not NoSuchKey; the first one's key and code are copied when non-NULL. */
int s3_xml_parse_delete(const char *xml, size_t len, size_t *nerrors, char *first_key,
			size_t keylen, char *first_code, size_t codelen);

/* ---- writers */
/* Append s with & < > " ' escaped. */
int s3_xml_escape(struct buf *out, const char *s);

#endif
