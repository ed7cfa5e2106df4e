/* tests/test_s3_xml.c - the S3 XML replies parser (backends/s3_xml.c):
 * real-shaped fixtures from AWS and Ceph RGW, entities, CDATA, and a
 * catalogue of malformed and truncated documents that must give -EBADMSG.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/s3_xml.h"
#include "tests/tap.h"

static const char list_xml[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	"<Name>bkt</Name><Prefix>p/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>"
	"<IsTruncated>true</IsTruncated>"
	"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
	"</NextContinuationToken>"
	"<Contents><Key>p/a &amp; b&lt;c&gt;&quot;d&quot;&apos;e&apos;</Key>"
	"<LastModified>2013-05-24T00:00:01.500Z</LastModified>"
	"<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size>"
	"<StorageClass>STANDARD</StorageClass></Contents>\n"
	"  <Contents>\n    <Key>p/&#252;&#x20AC;&#x1F600;</Key>\n"
	"    <LastModified>2024-02-29T23:59:59Z</LastModified>\n"
	"    <ETag>\"abc-2\"</ETag>\n    <Size>18446744073709551615</Size>\n"
	"    <Owner><ID>x</ID><DisplayName>y</DisplayName></Owner>\n  </Contents>\n"
	"<Contents><Key><![CDATA[p/<raw> & ]]></Key><Size>7</Size></Contents>"
	"<!-- a comment --></ListBucketResult>\n";

static void test_list(void)
{
	struct s3_list_result r;

	is_int(s3_xml_parse_list(list_xml, strlen(list_xml), &r), 0, "list parses");
	is_int(r.n, 3, "three Contents");
	ok(r.truncated, "IsTruncated");
	ok(r.next_token && !strcmp(r.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="),
	   "NextContinuationToken");
	ok(r.n == 3 && !strcmp(r.ents[0].key, "p/a & b<c>\"d\"'e'"), "named entities decoded");
	ok(r.n == 3 && !strcmp(r.ents[0].etag, "d41d8cd98f00b204e9800998ecf8427e") &&
	   r.ents[0].size == 0, "etag unquoted, size 0");
	ok(r.n == 3 && r.ents[0].mtime_ns == 1369353601500000000LL, "LastModified with ms");
	ok(r.n == 3 && !strcmp(r.ents[1].key, "p/\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80"),
	   "numeric entities to UTF-8 (2, 3 and 4 bytes)");
	ok(r.n == 3 && r.ents[1].size == UINT64_MAX && !strcmp(r.ents[1].etag, "abc-2"),
	   "max size, multipart etag");
	ok(r.n == 3 && r.ents[1].mtime_ns == 1709251199000000000LL, "LastModified without ms");
	ok(r.n == 3 && !strcmp(r.ents[2].key, "p/<raw> & ") && r.ents[2].size == 7 &&
	   r.ents[2].mtime_ns == 0 && !strcmp(r.ents[2].etag, ""), "CDATA key, absent fields");
	s3_list_result_free(&r);
	s3_list_result_free(&r); /* zeroed: a second free is harmless */

	const char *empty = "<ListBucketResult><IsTruncated>false</IsTruncated>"
			    "<KeyCount>0</KeyCount></ListBucketResult>";
	is_int(s3_xml_parse_list(empty, strlen(empty), &r), 0, "empty list parses");
	ok(r.n == 0 && !r.truncated && !r.next_token, "no keys, not truncated");
	s3_list_result_free(&r);
	const char *selfclosing = "<ListBucketResult/>";
	is_int(s3_xml_parse_list(selfclosing, strlen(selfclosing), &r), 0,
	       "self-closing root");
	s3_list_result_free(&r);
	const char *pfx = "<s3:ListBucketResult xmlns:s3=\"u\"><s3:Contents><s3:Key>k</s3:Key>"
			  "<s3:Size>1</s3:Size></s3:Contents></s3:ListBucketResult>";
	ok(s3_xml_parse_list(pfx, strlen(pfx), &r) == 0 && r.n == 1 && !strcmp(r.ents[0].key, "k"),
	   "namespace prefixes dropped");
	s3_list_result_free(&r);
}

static void test_error(void)
{
	char code[32], msg[64], region[32];
	const char *e = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code>"
			"<Message>The specified key does not exist.</Message>"
			"<Key>a</Key><RequestId>tx1</RequestId></Error>";
	is_int(s3_xml_parse_error(e, strlen(e), code, sizeof(code), msg, sizeof(msg), region,
				  sizeof(region)), 0, "Error parses");
	ok(!strcmp(code, "NoSuchKey") && !strcmp(msg, "The specified key does not exist.") &&
	   !region[0], "Code and Message");
	const char *w = "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region "
			"&apos;us-east-1&apos; is wrong; expecting &apos;eu-west-1&apos;</Message>"
			"<Region>eu-west-1</Region></Error>";
	ok(s3_xml_parse_error(w, strlen(w), code, 8, msg, sizeof(msg), region,
			      sizeof(region)) == 0 && !strcmp(code, "Authori") &&
	   !strcmp(region, "eu-west-1") && strstr(msg, "'us-east-1'"),
	   "truncated copies, Region, entities");
	const char *notes = "<ListBucketResult/>";
	is_int(s3_xml_parse_error(notes, strlen(notes), code, sizeof(code), msg, sizeof(msg),
				  NULL, 0), -EBADMSG, "non-Error root is -EBADMSG");
}

static void test_multipart_and_delete(void)
{
	char *id = NULL, etag[64], key[64], code[32];
	size_t nerr;
	const char *init = "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
			   "<UploadId>2~abc.DEF_ghi-jkl</UploadId></InitiateMultipartUploadResult>";
	ok(s3_xml_parse_upload_id(init, strlen(init), &id) == 0 && id &&
	   !strcmp(id, "2~abc.DEF_ghi-jkl"), "UploadId");
	free(id);
	const char *noid = "<InitiateMultipartUploadResult><UploadId></UploadId>"
			   "</InitiateMultipartUploadResult>";
	ok(s3_xml_parse_upload_id(noid, strlen(noid), &id) == -EBADMSG && !id,
	   "empty UploadId is -EBADMSG");
	const char *done = "<CompleteMultipartUploadResult><Location>x</Location><ETag>"
			   "&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag>"
			   "</CompleteMultipartUploadResult>";
	ok(s3_xml_parse_complete(done, strlen(done), etag, sizeof(etag)) == 0 &&
	   !strcmp(etag, "3858f62230ac3c915f300c664312c11f-9"), "Complete etag");
	const char *cerr = "<Error><Code>InternalError</Code></Error>";
	ok(s3_xml_parse_complete(cerr, strlen(cerr), etag, sizeof(etag)) == -EREMOTEIO &&
	   !strcmp(etag, "InternalError"), "Complete answered with an Error body");

	const char *del = "<DeleteResult><Deleted><Key>a</Key></Deleted>"
			  "<Error><Key>b</Key><Code>NoSuchKey</Code></Error>"
			  "<Error><Key>c&amp;d</Key><Code>AccessDenied</Code><Message>no</Message>"
			  "</Error><Error><Key>e</Key><Code>InternalError</Code></Error>"
			  "</DeleteResult>";
	ok(s3_xml_parse_delete(del, strlen(del), &nerr, key, sizeof(key), code,
			       sizeof(code)) == 0 && nerr == 2 && !strcmp(key, "c&d") &&
	   !strcmp(code, "AccessDenied"), "DeleteResult errors (NoSuchKey ignored)");
	const char *quiet = "<DeleteResult/>";
	ok(s3_xml_parse_delete(quiet, strlen(quiet), &nerr, NULL, 0, NULL, 0) == 0 && nerr == 0,
	   "quiet DeleteResult");

	struct buf b = BUF_INIT;
	s3_xml_escape(&b, "a&b<c>\"d'e\xc3\xbc");
	ok(!strcmp(b.data, "a&amp;b&lt;c&gt;&quot;d&apos;e\xc3\xbc"), "escape");
	buf_release(&b);
}

static void test_malformed(void)
{
	static const char *const bad[] = {
		"",
		"   ",
		"not xml",
		"<ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key>",
		"<ListBucketResult><Contents><Key>a</Contents></ListBucketResult>",
		"<ListBucketResult></ListBucketResul>",
		"<ListBucketResult></ListBucketResult><Another/>",
		"<ListBucketResult></ListBucketResult>trailing",
		"text<ListBucketResult/>",
		"<ListBucketResult><Contents><Key>a &amp b</Key><Size>1</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>&nbsp;</Key><Size>1</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>&#0;</Key><Size>1</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>&#xD800;</Key><Size>1</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>&#x110000;</Key><Size>1</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>&#12a;</Key><Size>1</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>&#99999999999999999999;</Key></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>&#;</Key></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>&;</Key></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><Size>12x</Size></Contents>"
		"</ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><Size>18446744073709551616</Size>"
		"</Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
		"<ListBucketResult><![CDATA[x</ListBucketResult>",
		"<!DOCTYPE x [<!ENTITY a \"b\">]><ListBucketResult/>",
		"<ListBucketResult a=\"1></ListBucketResult>",
		"<ListBucketResult a=1></ListBucketResult>",
		"<ListBucketResult a=\"1\"b=\"2\"></ListBucketResult>",
		"<ListBucketResult a=\"<\"></ListBucketResult>",
		"<ListBucketResult><!-- unterminated </ListBucketResult>",
		"<?xml version=\"1.0\"",
		"<1abc/>",
		"< ListBucketResult/>",
		"<ListBucketResult></ ListBucketResult>",
		"<Error><Code>x</Code></Error>",
		NULL,
	};
	int all = 1;
	for (int i = 0; bad[i]; i++) {
		struct s3_list_result r;
		int rc = s3_xml_parse_list(bad[i], strlen(bad[i]), &r);
		if (rc != -EBADMSG) {
			all = 0;
			diag("accepted (%d): %s", rc, bad[i]);
		}
		if (!rc)
			s3_list_result_free(&r);
	}
	ok(all, "malformed documents give -EBADMSG");

	/* every truncation of a good document is refused, never read past */
	size_t n = strlen(list_xml), trunc_ok = 1;
	for (size_t i = 0; i + 1 < n; i++) {
		char *cut = malloc(i ? i : 1); /* exact size: ASan sees any overread */
		memcpy(cut, list_xml, i);
		struct s3_list_result r;
		int rc = s3_xml_parse_list(cut, i, &r);
		/* Only the final "\n" may go: a cut before the root closes is bad. */
		if (rc != -EBADMSG) {
			trunc_ok = 0;
			diag("truncation at %zu: rc %d", i, rc);
			if (!rc)
				s3_list_result_free(&r);
		}
		free(cut);
	}
	ok(trunc_ok, "all %zu truncations of the list fixture give -EBADMSG", n - 1);

	/* embedded NUL, deep nesting, NULL input */
	static const char nul[] = "<ListBucketResult><Contents><Key>a\0b</Key><Size>1</Size>"
				  "</Contents></ListBucketResult>";
	struct s3_list_result r;
	is_int(s3_xml_parse_list(nul, sizeof(nul) - 1, &r), -EBADMSG, "NUL byte in text");
	struct buf deep = BUF_INIT;
	for (int i = 0; i < 100; i++)
		buf_adds(&deep, "<a>");
	for (int i = 0; i < 100; i++)
		buf_adds(&deep, "</a>");
	is_int(s3_xml_parse_list(deep.data, deep.len, &r), -EBADMSG, "nesting deeper than 64");
	buf_release(&deep);
	is_int(s3_xml_parse_list(NULL, 0, &r), -EBADMSG, "NULL input");

	/* bytes of noise: no crash (ASan/valgrind watch), any of 0 / -EBADMSG */
	unsigned seed = 1;
	int noise_ok = 1;
	char alphabet[] = "<>/&;#x\"'=!?[]-abcKeyContents ListBucketResult0123456789\n";
	for (int t = 0; t < 2000; t++) {
		size_t len = (size_t)(rand_r(&seed) % 200);
		char *s = malloc(len ? len : 1);
		for (size_t i = 0; i < len; i++)
			s[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		int rc = s3_xml_parse_list(s, len, &r);
		if (rc == 0)
			s3_list_result_free(&r);
		else if (rc != -EBADMSG)
			noise_ok = 0;
		free(s);
	}
	ok(noise_ok, "random noise: 0 or -EBADMSG, no crash");
}

int main(void)
{
	test_list();
	test_error();
	test_multipart_and_delete();
	test_malformed();
	return tap_done();
}
