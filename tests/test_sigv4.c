/* tests/test_sigv4.c - AWS Signature V4 (backends/sigv4.c) against the worked
 * examples of AWS's S3 documentation ("Signature Calculations for the
 * Authorization Header: Transferring Payload in a Single Chunk"), encoding
 * edge cases, and the offline parts of the S3 backend's configuration
 * (s3_config_from_uri, credentials files, endpoint checks) which decide
 * what gets signed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "backends/s3.h"
#include "backends/sigv4.h"
#include "tests/tap.h"

/* The documentation's credentials and time (Fri, 24 May 2013 00:00:00 GMT). */
#define EX_AK "AKIAIOSFODNN7EXAMPLE"
#define EX_SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EX_TIME ((time_t)1369353600)
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define EX_SCOPE "20130524/us-east-1/s3/aws4_request"

static const struct sigv4_creds ex_creds = { EX_AK, EX_SK, NULL, "us-east-1", "s3" };

static int sig_is(const struct sigv4_out *o, const char *signed_headers, const char *sig)
{
	char want[512];
	snprintf(want, sizeof(want),
		 "AWS4-HMAC-SHA256 Credential=" EX_AK "/" EX_SCOPE ", SignedHeaders=%s, "
		 "Signature=%s", signed_headers, sig);
	int good = o->authorization && !strcmp(o->authorization, want);
	if (!good)
		diag("got  %s\nwant %s", o->authorization ? o->authorization : "(null)", want);
	return good;
}

static int str_is(const struct buf *b, const char *want, const char *what)
{
	int good = b->data && !strcmp(b->data, want);
	if (!good)
		diag("%s:\n--- got\n%s\n--- want\n%s", what, b->data ? b->data : "(null)", want);
	return good;
}

static void test_get_object(void)
{
	struct sigv4_header h[] = { { "Range", "bytes=0-9" } };
	struct sigv4_request r = { .method = "GET", .host = "examplebucket.s3.amazonaws.com",
				   .path = "/test.txt", .headers = h, .nheaders = 1,
				   .now = EX_TIME };
	struct sigv4_out o;
	struct buf canon = BUF_INIT, sts = BUF_INIT;

	is_int(sigv4_sign(&ex_creds, &r, &o, &canon, &sts), 0, "GET object: sign");
	ok(str_is(&canon, "GET\n/test.txt\n\n"
			  "host:examplebucket.s3.amazonaws.com\n"
			  "range:bytes=0-9\n"
			  "x-amz-content-sha256:" EMPTY_SHA "\n"
			  "x-amz-date:20130524T000000Z\n\n"
			  "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA,
		   "canonical request"), "GET object: canonical request");
	ok(str_is(&sts, "AWS4-HMAC-SHA256\n20130524T000000Z\n" EX_SCOPE "\n"
			"7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
		  "string to sign"), "GET object: string to sign");
	ok(sig_is(&o, "host;range;x-amz-content-sha256;x-amz-date",
		  "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
	   "GET object: signature f0e8bdb8...");
	ok(!strcmp(o.amz_date, "20130524T000000Z"), "GET object: x-amz-date");
	ok(!strcmp(o.payload_hash, EMPTY_SHA), "GET object: empty payload hash");
	sigv4_out_free(&o);
	buf_release(&canon);
	buf_release(&sts);
}

static void test_put_object(void)
{
	static const char body[] = "Welcome to Amazon S3.";
	/* Header names in mixed case and odd order: the signer sorts and lowers. */
	struct sigv4_header h[] = { { "x-amz-storage-class", "REDUCED_REDUNDANCY" },
				    { "Date", "Fri, 24 May 2013 00:00:00 GMT" } };
	struct sigv4_request r = { .method = "PUT", .host = "examplebucket.s3.amazonaws.com",
				   .path = "/test$file.text", .headers = h, .nheaders = 2,
				   .payload = body, .payload_len = strlen(body),
				   .now = EX_TIME };
	struct sigv4_out o;
	struct buf canon = BUF_INIT, sts = BUF_INIT;
	const char *ph = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";

	is_int(sigv4_sign(&ex_creds, &r, &o, &canon, &sts), 0, "PUT object: sign");
	ok(!strcmp(o.payload_hash, ph), "PUT object: payload hash");
	char want[1024];
	snprintf(want, sizeof(want),
		 "PUT\n/test%%24file.text\n\n"
		 "date:Fri, 24 May 2013 00:00:00 GMT\n"
		 "host:examplebucket.s3.amazonaws.com\n"
		 "x-amz-content-sha256:%s\n"
		 "x-amz-date:20130524T000000Z\n"
		 "x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
		 "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n%s", ph, ph);
	ok(str_is(&canon, want, "canonical request"), "PUT object: canonical request ($ -> %%24)");
	ok(str_is(&sts, "AWS4-HMAC-SHA256\n20130524T000000Z\n" EX_SCOPE "\n"
			"9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
		  "string to sign"), "PUT object: string to sign");
	ok(sig_is(&o, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
		  "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
	   "PUT object: signature 98ad7217...");
	sigv4_out_free(&o);
	buf_release(&canon);
	buf_release(&sts);
}

static void test_get_lifecycle(void)
{
	struct sigv4_param q[] = { { "lifecycle", NULL } };
	struct sigv4_request r = { .method = "GET", .host = "examplebucket.s3.amazonaws.com",
				   .path = "/", .query = q, .nquery = 1, .now = EX_TIME };
	struct sigv4_out o;
	struct buf canon = BUF_INIT;

	is_int(sigv4_sign(&ex_creds, &r, &o, &canon, NULL), 0, "GET lifecycle: sign");
	ok(str_is(&canon, "GET\n/\nlifecycle=\n"
			  "host:examplebucket.s3.amazonaws.com\n"
			  "x-amz-content-sha256:" EMPTY_SHA "\n"
			  "x-amz-date:20130524T000000Z\n\n"
			  "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA,
		  "canonical request"), "GET lifecycle: valueless parameter gets '='");
	ok(sig_is(&o, "host;x-amz-content-sha256;x-amz-date",
		  "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
	   "GET lifecycle: signature fea454ca...");
	sigv4_out_free(&o);
	buf_release(&canon);
}

static void test_list_objects(void)
{
	/* Given unsorted: the signer sorts. */
	struct sigv4_param q[] = { { "prefix", "J" }, { "max-keys", "2" } };
	struct sigv4_request r = { .method = "GET", .host = "examplebucket.s3.amazonaws.com",
				   .path = "/", .query = q, .nquery = 2, .now = EX_TIME };
	struct sigv4_out o;
	struct buf canon = BUF_INIT, sts = BUF_INIT;

	is_int(sigv4_sign(&ex_creds, &r, &o, &canon, &sts), 0, "list objects: sign");
	ok(str_is(&canon, "GET\n/\nmax-keys=2&prefix=J\n"
			  "host:examplebucket.s3.amazonaws.com\n"
			  "x-amz-content-sha256:" EMPTY_SHA "\n"
			  "x-amz-date:20130524T000000Z\n\n"
			  "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA,
		  "canonical request"), "list objects: canonical request, query sorted");
	ok(str_is(&sts, "AWS4-HMAC-SHA256\n20130524T000000Z\n" EX_SCOPE "\n"
			"df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
		  "string to sign"), "list objects: string to sign");
	ok(sig_is(&o, "host;x-amz-content-sha256;x-amz-date",
		  "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
	   "list objects: signature 34b48302...");
	sigv4_out_free(&o);
	buf_release(&canon);
	buf_release(&sts);
}

/* ------------------------------------------------------------ encoding */

static int enc_is(const char *in, int keep_slash, const char *want)
{
	struct buf b = BUF_INIT;
	int rc = sigv4_uri_encode(&b, in, strlen(in), keep_slash);
	int good = rc == 0 && b.data && !strcmp(b.data, want);
	if (!good)
		diag("encode \"%s\": got \"%s\" want \"%s\"", in, b.data ? b.data : "", want);
	buf_release(&b);
	return good;
}

static int query_is(const struct sigv4_param *q, size_t n, const char *want)
{
	struct buf b = BUF_INIT;
	int rc = sigv4_canonical_query(&b, q, n);
	int good = rc == 0 && !strcmp(b.data ? b.data : "", want);
	if (!good)
		diag("query: rc %d got \"%s\" want \"%s\"", rc, b.data ? b.data : "", want);
	buf_release(&b);
	return good;
}

static void test_encoding(void)
{
	ok(enc_is("AZaz09-_.~", 1, "AZaz09-_.~"), "unreserved characters stay");
	ok(enc_is("a b+c=d&e", 1, "a%20b%2Bc%3Dd%26e"), "space is %%20, + = & encoded");
	ok(enc_is("/bucket/a/b", 1, "/bucket/a/b"), "path keeps '/'");
	ok(enc_is("a/b", 0, "a%2Fb"), "query value encodes '/'");
	ok(enc_is("%41", 1, "%2541"), "'%%' is encoded: a path is never decoded twice");
	ok(enc_is("\xc3\xbc\xe2\x82\xac", 1, "%C3%BC%E2%82%AC"), "UTF-8 bytes, upper-case hex");
	ok(enc_is("a//b/./../c", 1, "a//b/./../c"), "no path normalisation (S3)");
	ok(enc_is("*'()!$,;:@", 1, "%2A%27%28%29%21%24%2C%3B%3A%40"),
	   "sub-delims are encoded");
	ok(enc_is("", 1, ""), "empty string");

	struct sigv4_param q1[] = { { "b", "2" }, { "a", "1" }, { "a", "0" }, { "A", "x" } };
	ok(query_is(q1, 4, "A=x&a=0&a=1&b=2"), "query sorted by name then value (bytes)");
	struct sigv4_param q2[] = { { "prefix", "a b/c" }, { "list-type", "2" },
				    { "continuation-token", "1/2+3=" } };
	ok(query_is(q2, 3, "continuation-token=1%2F2%2B3%3D&list-type=2&prefix=a%20b%2Fc"),
	   "query values encoded once, '/' as %%2F");
	struct sigv4_param q3[] = { { "uploads", "" } };
	ok(query_is(q3, 1, "uploads="), "valueless parameter: name=");
	ok(query_is(NULL, 0, ""), "no query: empty string");
	struct sigv4_param q4[] = { { "", "x" } };
	struct buf b = BUF_INIT;
	is_int(sigv4_canonical_query(&b, q4, 1), -EINVAL, "empty parameter name -EINVAL");
	buf_release(&b);
	/* Encoded sort, not decoded: "a%20" < "a-" ('%' 0x25 < '-' 0x2d) */
	struct sigv4_param q5[] = { { "a-", "1" }, { "a ", "2" } };
	ok(query_is(q5, 2, "a%20=2&a-=1"), "sorting is on the encoded names");
}

static void test_headers_and_token(void)
{
	struct sigv4_creds c = { EX_AK, EX_SK, "TOKEN/with+chars==", "us-east-1", NULL };
	struct sigv4_header h[] = { { "X-Amz-Meta-Foo", "  a   b \t c  " },
				    { "Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==" } };
	struct sigv4_request r = { .method = "PUT", .host = "127.0.0.1:17480",
				   .path = "/bkt/sp ace/\xc3\xbc", .headers = h, .nheaders = 2,
				   .payload_hash = SIGV4_UNSIGNED_PAYLOAD, .now = EX_TIME };
	struct sigv4_out o;
	struct buf canon = BUF_INIT;

	is_int(sigv4_sign(&c, &r, &o, &canon, NULL), 0, "session token: sign");
	ok(strstr(canon.data, "/bkt/sp%20ace/%C3%BC\n") != NULL, "path encoded once");
	ok(strstr(canon.data, "x-amz-meta-foo:a b c\n") != NULL,
	   "header values trimmed, blank runs collapsed, names lower-cased");
	ok(strstr(canon.data, "x-amz-security-token:TOKEN/with+chars==\n") != NULL,
	   "x-amz-security-token is signed");
	ok(strstr(canon.data, "\ncontent-md5;host;x-amz-content-sha256;x-amz-date;"
			      "x-amz-meta-foo;x-amz-security-token\nUNSIGNED-PAYLOAD") != NULL,
	   "signed headers sorted, UNSIGNED-PAYLOAD kept");
	ok(strstr(canon.data, "host:127.0.0.1:17480\n") != NULL, "host keeps the port");
	ok(o.authorization && !strstr(o.authorization, EX_SK) &&
	   !strstr(o.authorization, "TOKEN"), "Authorization holds neither secret nor token");
	sigv4_out_free(&o);
	buf_release(&canon);

	/* Region and date go into the scope (R2 signs with region "auto"). */
	struct sigv4_creds r2 = { EX_AK, EX_SK, NULL, "auto", NULL };
	struct sigv4_request g = { .method = "GET", .host = "h", .path = "/", .now = 0 };
	is_int(sigv4_sign(&r2, &g, &o, NULL, NULL), 0, "region auto: sign");
	ok(o.authorization && strstr(o.authorization, "/19700101/auto/s3/aws4_request,"),
	   "scope has the date and region auto");
	sigv4_out_free(&o);

	/* refused requests */
	struct sigv4_header bad1[] = { { "Host", "x" } };
	struct sigv4_header bad2[] = { { "X-A", "v\r\nInjected: 1" } };
	struct sigv4_header bad3[] = { { "X-A", "1" }, { "x-a", "2" } };
	struct sigv4_request b = { .method = "GET", .host = "h", .path = "/", .now = EX_TIME };
	b.headers = bad1;
	b.nheaders = 1;
	is_int(sigv4_sign(&ex_creds, &b, &o, NULL, NULL), -EINVAL, "Host header is ours");
	b.headers = bad2;
	is_int(sigv4_sign(&ex_creds, &b, &o, NULL, NULL), -EINVAL, "CR/LF in a value refused");
	b.headers = bad3;
	b.nheaders = 2;
	is_int(sigv4_sign(&ex_creds, &b, &o, NULL, NULL), -EINVAL, "duplicate header refused");
	b.nheaders = 0;
	b.path = "no-slash";
	is_int(sigv4_sign(&ex_creds, &b, &o, NULL, NULL), -EINVAL, "path must start with /");
	ok(o.authorization == NULL, "failed sign leaves no allocation");

	char hex[SIGV4_HEX_LEN + 1];
	is_int(sigv4_sha256_hex("abc", 3, hex), 0, "sha256");
	ok(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
	   "sha256(abc)");
	char d[SIGV4_DATE_LEN + 1];
	sigv4_amz_date(EX_TIME, d);
	ok(!strcmp(d, "20130524T000000Z"), "amz date");
}

/* ------------------------------------------------------------ s3 config (offline) */

static void test_config(void)
{
	struct store_uri u;
	struct s3_config c;
	char err[256];

	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("R2_ACCOUNT_ID");

	store_uri_parse("s3://my-bucket/some/prefix", &u, err, sizeof(err));
	is_int(s3_config_from_uri(&u, NULL, NULL, NULL, NULL, &c, err, sizeof(err)), 0,
	       "s3:// config");
	ok(!strcmp(c.bucket, "my-bucket") && !strcmp(c.prefix, "some/prefix") &&
	   !strcmp(c.region, "us-east-1") &&
	   !strcmp(c.endpoint, "https://s3.us-east-1.amazonaws.com") && c.verify_tls &&
	   c.addressing == S3_ADDR_AUTO, "s3:// defaults (%s %s)", c.endpoint, c.region);
	setenv("AWS_REGION", "eu-west-3", 1);
	s3_config_from_uri(&u, NULL, NULL, NULL, NULL, &c, err, sizeof(err));
	ok(!strcmp(c.endpoint, "https://s3.eu-west-3.amazonaws.com") &&
	   !strcmp(c.region, "eu-west-3"), "AWS_REGION picks the endpoint");
	s3_config_from_uri(&u, "http://127.0.0.1:9000", "us-west-2", NULL, "prof", &c, err,
			   sizeof(err));
	ok(!strcmp(c.endpoint, "http://127.0.0.1:9000") && !strcmp(c.region, "us-west-2") &&
	   !strcmp(c.profile, "prof"), "options win over the environment");
	unsetenv("AWS_REGION");
	ok(s3_config_from_uri(&u, NULL, "us east", NULL, NULL, &c, err, sizeof(err)) == -EINVAL &&
	   strstr(err, "invalid region"), "bad region refused: %s", err);

	store_uri_parse("r2://bkt/p", &u, err, sizeof(err));
	err[0] = '\0';
	ok(s3_config_from_uri(&u, NULL, NULL, NULL, NULL, &c, err, sizeof(err)) == -EINVAL &&
	   strstr(err, "R2_ACCOUNT_ID") && !strchr(err, '\n'), "r2:// without account: %s", err);
	is_int(s3_config_from_uri(&u, NULL, NULL, "0123abcd", NULL, &c, err, sizeof(err)), 0,
	       "r2:// with -o account");
	ok(!strcmp(c.endpoint, "https://0123abcd.r2.cloudflarestorage.com") &&
	   !strcmp(c.region, "auto") && !strcmp(c.bucket, "bkt") && !strcmp(c.prefix, "p"),
	   "r2:// endpoint and region auto (%s)", c.endpoint);
	setenv("R2_ACCOUNT_ID", "feedbeef", 1);
	s3_config_from_uri(&u, NULL, NULL, NULL, NULL, &c, err, sizeof(err));
	ok(!strcmp(c.endpoint, "https://feedbeef.r2.cloudflarestorage.com"),
	   "r2:// account from R2_ACCOUNT_ID");
	unsetenv("R2_ACCOUNT_ID");
	ok(s3_config_from_uri(&u, NULL, NULL, "evil.com/x", NULL, &c, err, sizeof(err)) ==
	   -EINVAL, "r2:// account with odd characters refused");

	/* credentials: environment, then the profile file */
	char tmpl[] = "/tmp/ragfs-test-sigv4-XXXXXX";
	int fd = mkstemp(tmpl);
	const char *ini = "# comment\n[default]\naws_access_key_id = AKDEFAULT\n"
			  "aws_secret_access_key = secretdefault\n\n"
			  "[ work ]\n aws_access_key_id=AKWORK\naws_secret_access_key= s/w+rk \n"
			  "aws_session_token = tok123\n[empty]\n";
	ok(fd >= 0 && write(fd, ini, strlen(ini)) == (ssize_t)strlen(ini), "write credentials");
	if (fd >= 0)
		close(fd);
	setenv("AWS_SHARED_CREDENTIALS_FILE", tmpl, 1);
	unsetenv("AWS_PROFILE");
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
	setenv("AWS_SESSION_TOKEN", "tokenv", 1);
	s3_config_init(&c);
	is_int(s3_config_load_credentials(&c, err, sizeof(err)), 0, "credentials from env");
	ok(!strcmp(c.access_key, "AKENV") && !strcmp(c.secret_key, "secretenv") &&
	   !strcmp(c.session_token, "tokenv"), "env keys and session token");
	s3_config_init(&c);
	strcpy(c.profile, "work");
	is_int(s3_config_load_credentials(&c, err, sizeof(err)), 0, "explicit profile");
	ok(!strcmp(c.access_key, "AKWORK") && !strcmp(c.secret_key, "s/w+rk") &&
	   !strcmp(c.session_token, "tok123"), "profile [work] from the file");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	s3_config_init(&c);
	is_int(s3_config_load_credentials(&c, err, sizeof(err)), 0, "default profile");
	ok(!strcmp(c.access_key, "AKDEFAULT") && !c.session_token[0], "profile [default]");
	s3_config_init(&c);
	strcpy(c.profile, "empty");
	ok(s3_config_load_credentials(&c, err, sizeof(err)) == -ENOKEY &&
	   strstr(err, "profile \"empty\""), "profile without keys: %s", err);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
	s3_config_init(&c);
	ok(s3_config_load_credentials(&c, err, sizeof(err)) == -ENOKEY &&
	   strstr(err, "no S3 credentials") && !strchr(err, '\n'), "no credentials: %s", err);
	unlink(tmpl);
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");

	/* open: refused endpoints and an unreachable one, without secrets in err */
	struct backend *be = (struct backend *)1;
	s3_config_init(&c);
	strcpy(c.bucket, "bkt");
	strcpy(c.access_key, "AKIDX");
	strcpy(c.secret_key, "very-secret-value");
	strcpy(c.endpoint, "ftp://127.0.0.1");
	ok(s3_backend_open(&c, &be, err, sizeof(err)) == -EINVAL && !be &&
	   strstr(err, "invalid S3 endpoint"), "ftp:// endpoint refused: %s", err);
	strcpy(c.endpoint, "http://127.0.0.1/path");
	ok(s3_backend_open(&c, &be, err, sizeof(err)) == -EINVAL,
	   "endpoint with a path refused: %s", err);
	strcpy(c.endpoint, "http://127.0.0.1:1");
	c.connect_timeout_ms = 2000;
	int rc = s3_backend_open(&c, &be, err, sizeof(err));
	ok(rc == -EHOSTUNREACH && !be && strstr(err, "unreachable S3 endpoint http://127.0.0.1:1")
	   && !strchr(err, '\n') && !strstr(err, "very-secret"),
	   "unreachable endpoint: one line (%d: %s)", rc, err);
	strcpy(c.endpoint, "http://no-such-host.invalid");
	rc = s3_backend_open(&c, &be, err, sizeof(err));
	ok(rc == -EHOSTUNREACH && strstr(err, "unreachable"), "unresolvable host: %s", err);
}

int main(void)
{
	diag("AWS documentation examples");
	test_get_object();
	test_put_object();
	test_get_lifecycle();
	test_list_objects();
	diag("encoding");
	test_encoding();
	test_headers_and_token();
	diag("s3 configuration (offline)");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_config();
	curl_global_cleanup();
	return tap_done();
}
