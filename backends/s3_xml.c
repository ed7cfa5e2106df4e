/* backends/s3_xml.c - S3 XML replies (see s3_xml.h).
 *
 * The document is first parsed into a small tree (S3 replies are at most a
 * few hundred KiB: 1000 keys per list page), then queried by element name.
 * Building the tree first means every well-formedness check happens in one
 * place and the extractors cannot walk off a truncated document.
 */
#include "s3_xml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XML_MAX_DEPTH 64

struct xnode {
	char *name;        /* qualified name as written */
	const char *local; /* after the last ':' */
	struct buf text;   /* decoded character data directly inside */
	struct xnode *child, *last_child, *next, *parent;
};

static void xnode_free(struct xnode *n)
{
	while (n) {
		struct xnode *next = n->next;
		xnode_free(n->child);
		free(n->name);
		buf_release(&n->text);
		free(n);
		n = next;
	}
}

struct xparser {
	const char *s;
	size_t n, pos;
};

static int at(const struct xparser *p, const char *lit)
{
	size_t l = strlen(lit);
	return p->n - p->pos >= l && !memcmp(p->s + p->pos, lit, l);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_space(struct xparser *p)
{
	while (p->pos < p->n && is_space(p->s[p->pos]))
		p->pos++;
}

/* Move past the next occurrence of end; -EBADMSG if there is none. */
static int skip_past(struct xparser *p, const char *end, size_t *start_of_end)
{
	size_t l = strlen(end);
	for (size_t i = p->pos; i + l <= p->n; i++) {
		if (!memcmp(p->s + i, end, l)) {
			if (start_of_end)
				*start_of_end = i;
			p->pos = i + l;
			return 0;
		}
	}
	return -EBADMSG;
}

static int name_start(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' ||
	       c >= 0x80;
}

static int name_char(unsigned char c)
{
	return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static int parse_name(struct xparser *p, size_t *start, size_t *len)
{
	if (p->pos >= p->n || !name_start((unsigned char)p->s[p->pos]))
		return -EBADMSG;
	*start = p->pos;
	while (p->pos < p->n && name_char((unsigned char)p->s[p->pos]))
		p->pos++;
	*len = p->pos - *start;
	return 0;
}

static int add_utf8(struct buf *b, unsigned long cp)
{
	char u[4];
	size_t n;

	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return -EBADMSG;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_add(b, u, n);
}

/* p->pos is at '&'. */
static int parse_entity(struct xparser *p, struct buf *b)
{
	static const struct {
		const char *name;
		char c;
	} named[] = { { "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' },
		      { "apos", '\'' } };
	size_t start = p->pos + 1, end = start;

	while (end < p->n && end - start <= 10 && p->s[end] != ';')
		end++;
	if (end >= p->n || p->s[end] != ';' || end == start)
		return -EBADMSG;
	const char *e = p->s + start;
	size_t el = end - start;
	p->pos = end + 1;
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (strlen(named[i].name) == el && !memcmp(e, named[i].name, el))
			return buf_addc(b, named[i].c);
	if (e[0] != '#' || el < 2)
		return -EBADMSG; /* no DTD, so no other named entities */
	int hex = e[1] == 'x';
	size_t i = hex ? 2 : 1;
	unsigned long cp = 0;
	if (i >= el)
		return -EBADMSG;
	for (; i < el; i++) {
		char c = e[i];
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (hex && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (hex && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -EBADMSG;
		cp = cp * (hex ? 16 : 10) + (unsigned long)d;
		if (cp > 0x10ffff)
			return -EBADMSG;
	}
	return add_utf8(b, cp);
}

static int parse_text(struct xparser *p, struct xnode *cur)
{
	while (p->pos < p->n && p->s[p->pos] != '<') {
		size_t run = p->pos;
		while (run < p->n && p->s[run] != '<' && p->s[run] != '&' && p->s[run])
			run++;
		if (run > p->pos) {
			int rc = buf_add(&cur->text, p->s + p->pos, run - p->pos);
			if (rc)
				return rc;
			p->pos = run;
			continue;
		}
		if (p->s[p->pos] == '\0')
			return -EBADMSG;
		int rc = parse_entity(p, &cur->text); /* at '&' */
		if (rc)
			return rc;
	}
	return 0;
}

/* Attributes are checked for form and skipped. Returns 1 for "/>". */
static int parse_attrs(struct xparser *p)
{
	for (;;) {
		size_t before = p->pos, ns, nl;
		skip_space(p);
		if (p->pos >= p->n)
			return -EBADMSG;
		if (p->s[p->pos] == '>') {
			p->pos++;
			return 0;
		}
		if (at(p, "/>")) {
			p->pos += 2;
			return 1;
		}
		if (p->pos == before) /* attributes must be separated by blanks */
			return -EBADMSG;
		if (parse_name(p, &ns, &nl))
			return -EBADMSG;
		skip_space(p);
		if (p->pos >= p->n || p->s[p->pos] != '=')
			return -EBADMSG;
		p->pos++;
		skip_space(p);
		if (p->pos >= p->n || (p->s[p->pos] != '"' && p->s[p->pos] != '\''))
			return -EBADMSG;
		char q = p->s[p->pos++];
		while (p->pos < p->n && p->s[p->pos] != q) {
			if (p->s[p->pos] == '<' || p->s[p->pos] == '\0')
				return -EBADMSG;
			p->pos++;
		}
		if (p->pos >= p->n)
			return -EBADMSG;
		p->pos++;
	}
}

static int xml_parse(const char *s, size_t n, struct xnode **rootp)
{
	struct xparser p = { s, n, 0 };
	struct xnode *root = NULL, *cur = NULL;
	int depth = 0, rc = 0;

	*rootp = NULL;
	if (!s)
		return -EBADMSG;
	if (at(&p, "\xef\xbb\xbf"))
		p.pos += 3;
	for (;;) {
		if (!cur) {
			skip_space(&p);
			if (p.pos >= p.n)
				break;
		}
		if (p.pos >= p.n) {
			rc = -EBADMSG; /* truncated inside an element */
			goto fail;
		}
		if (p.s[p.pos] != '<') {
			if (!cur) {
				rc = -EBADMSG; /* text outside the root */
				goto fail;
			}
			if ((rc = parse_text(&p, cur)))
				goto fail;
			continue;
		}
		if (at(&p, "<!--")) {
			p.pos += 4;
			if ((rc = skip_past(&p, "-->", NULL)))
				goto fail;
		} else if (at(&p, "<?")) {
			p.pos += 2;
			if ((rc = skip_past(&p, "?>", NULL)))
				goto fail;
		} else if (at(&p, "<![CDATA[")) {
			size_t start = p.pos + 9, end;
			p.pos = start;
			/* no NUL, as in text: it would cut the string short */
			if (!cur || (rc = skip_past(&p, "]]>", &end)) ||
			    memchr(p.s + start, '\0', end - start) ||
			    (rc = buf_add(&cur->text, p.s + start, end - start)))
				goto fail_badmsg;
		} else if (at(&p, "<!")) {
			rc = -EBADMSG; /* DOCTYPE and friends: refused */
			goto fail;
		} else if (at(&p, "</")) {
			size_t ns, nl;
			p.pos += 2;
			if (!cur || parse_name(&p, &ns, &nl))
				goto fail_badmsg;
			skip_space(&p);
			if (p.pos >= p.n || p.s[p.pos] != '>' || strlen(cur->name) != nl ||
			    memcmp(cur->name, p.s + ns, nl))
				goto fail_badmsg;
			p.pos++;
			cur = cur->parent;
			depth--;
		} else {
			size_t ns, nl;
			p.pos++;
			if ((!cur && root) || depth >= XML_MAX_DEPTH || parse_name(&p, &ns, &nl))
				goto fail_badmsg;
			struct xnode *e = calloc(1, sizeof(*e));
			if (!e) {
				rc = -ENOMEM;
				goto fail;
			}
			e->name = strndup(p.s + ns, nl);
			if (!e->name) {
				free(e);
				rc = -ENOMEM;
				goto fail;
			}
			const char *colon = strrchr(e->name, ':');
			e->local = colon ? colon + 1 : e->name;
			e->parent = cur;
			if (!cur)
				root = e;
			else if (cur->last_child)
				cur->last_child = cur->last_child->next = e;
			else
				cur->child = cur->last_child = e;
			rc = parse_attrs(&p);
			if (rc < 0)
				goto fail;
			if (rc == 0) { /* not self-closing */
				cur = e;
				depth++;
			}
			rc = 0;
		}
	}
	if (!root)
		return -EBADMSG;
	*rootp = root;
	return 0;
fail_badmsg:
	if (rc != -ENOMEM)
		rc = -EBADMSG;
fail:
	xnode_free(root);
	return rc;
}

static struct xnode *child(const struct xnode *n, const char *local)
{
	for (struct xnode *c = n ? n->child : NULL; c; c = c->next)
		if (!strcmp(c->local, local))
			return c;
	return NULL;
}

static const char *text_of(const struct xnode *n)
{
	return n && n->text.data ? n->text.data : "";
}

static void copy_text(const struct xnode *n, char *dst, size_t dstlen)
{
	if (dst && dstlen)
		snprintf(dst, dstlen, "%s", text_of(n));
}

static char *strip_quotes_dup(const char *s)
{
	size_t n = strlen(s);
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
		return strndup(s + 1, n - 2);
	return strdup(s);
}

static int parse_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	while (is_space(*s))
		s++;
	if (!*s)
		return -EBADMSG;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -EBADMSG;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	while (is_space(*s))
		s++;
	if (*s)
		return -EBADMSG;
	*v = x;
	return 0;
}

/* "2013-05-24T00:00:00.000Z" -> ns since the epoch; 0 when unparsable or
 * outside what int64_t nanoseconds hold (years 1678 to 2261). */
static int64_t parse_iso8601(const char *s)
{
	struct tm tm;
	int n = 0;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return 0;
	int64_t frac = 0, scale = 100000000;
	const char *p = s + n;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += (*p - '0') * scale;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || t <= INT64_MIN / 1000000000 || t >= INT64_MAX / 1000000000)
		return 0;
	return (int64_t)t * 1000000000 + frac;
}

void s3_list_result_free(struct s3_list_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->n; i++) {
		free(res->ents[i].key);
		free(res->ents[i].etag);
	}
	free(res->ents);
	free(res->next_token);
	memset(res, 0, sizeof(*res));
}

int s3_xml_parse_list(const char *xml, size_t len, struct s3_list_result *res)
{
	struct xnode *root;
	size_t cnt = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = xml_parse(xml, len, &root)))
		return rc;
	if (strcmp(root->local, "ListBucketResult")) {
		rc = -EBADMSG;
		goto out;
	}
	for (struct xnode *c = root->child; c; c = c->next)
		cnt += !strcmp(c->local, "Contents");
	res->ents = calloc(cnt ? cnt : 1, sizeof(*res->ents));
	if (!res->ents) {
		rc = -ENOMEM;
		goto out;
	}
	for (struct xnode *c = root->child; c; c = c->next) {
		if (strcmp(c->local, "Contents"))
			continue;
		struct s3_list_entry *e = &res->ents[res->n];
		struct xnode *k = child(c, "Key"), *sz = child(c, "Size");
		if (!k || !k->text.len || !sz || parse_u64(text_of(sz), &e->size)) {
			rc = -EBADMSG;
			goto out;
		}
		e->key = strdup(text_of(k));
		e->etag = strip_quotes_dup(text_of(child(c, "ETag")));
		e->mtime_ns = parse_iso8601(text_of(child(c, "LastModified")));
		res->n++;
		if (!e->key || !e->etag) {
			rc = -ENOMEM;
			goto out;
		}
	}
	const char *tr = text_of(child(root, "IsTruncated"));
	res->truncated = !strcmp(tr, "true");
	if (!res->truncated && *tr && strcmp(tr, "false")) {
		rc = -EBADMSG;
		goto out;
	}
	struct xnode *tok = child(root, "NextContinuationToken");
	if (tok && tok->text.len && !(res->next_token = strdup(text_of(tok))))
		rc = -ENOMEM;
out:
	if (rc)
		s3_list_result_free(res);
	xnode_free(root);
	return rc;
}

int s3_xml_parse_error(const char *xml, size_t len, char *code, size_t codelen, char *msg,
		       size_t msglen, char *region, size_t regionlen)
{
	struct xnode *root;
	int rc;

	copy_text(NULL, code, codelen);
	copy_text(NULL, msg, msglen);
	copy_text(NULL, region, regionlen);
	if ((rc = xml_parse(xml, len, &root)))
		return rc;
	if (strcmp(root->local, "Error")) {
		rc = -EBADMSG;
	} else {
		copy_text(child(root, "Code"), code, codelen);
		copy_text(child(root, "Message"), msg, msglen);
		copy_text(child(root, "Region"), region, regionlen);
	}
	xnode_free(root);
	return rc;
}

int s3_xml_parse_upload_id(const char *xml, size_t len, char **upload_id)
{
	struct xnode *root, *id;
	int rc;

	*upload_id = NULL;
	if ((rc = xml_parse(xml, len, &root)))
		return rc;
	id = child(root, "UploadId");
	if (strcmp(root->local, "InitiateMultipartUploadResult") || !id || !id->text.len)
		rc = -EBADMSG;
	else if (!(*upload_id = strdup(text_of(id))))
		rc = -ENOMEM;
	xnode_free(root);
	return rc;
}

int s3_xml_parse_complete(const char *xml, size_t len, char *etag, size_t etaglen)
{
	struct xnode *root;
	int rc;

	copy_text(NULL, etag, etaglen);
	if ((rc = xml_parse(xml, len, &root)))
		return rc;
	if (!strcmp(root->local, "Error")) {
		copy_text(child(root, "Code"), etag, etaglen);
		rc = -EREMOTEIO;
	} else if (strcmp(root->local, "CompleteMultipartUploadResult")) {
		rc = -EBADMSG;
	} else {
		char *e = strip_quotes_dup(text_of(child(root, "ETag")));
		if (!e)
			rc = -ENOMEM;
		else if (etag && etaglen)
			snprintf(etag, etaglen, "%s", e);
		free(e);
	}
	xnode_free(root);
	return rc;
}

int s3_xml_parse_delete(const char *xml, size_t len, size_t *nerrors, char *first_key,
			size_t keylen, char *first_code, size_t codelen)
{
	struct xnode *root;
	int rc;

	*nerrors = 0;
	copy_text(NULL, first_key, keylen);
	copy_text(NULL, first_code, codelen);
	if ((rc = xml_parse(xml, len, &root)))
		return rc;
	if (strcmp(root->local, "DeleteResult")) {
		rc = -EBADMSG;
		goto out;
	}
	for (struct xnode *c = root->child; c; c = c->next) {
		if (strcmp(c->local, "Error"))
			continue;
		const char *code = text_of(child(c, "Code"));
		if (!strcmp(code, "NoSuchKey")) /* deletes are idempotent */
			continue;
		if (!*nerrors) {
			copy_text(child(c, "Key"), first_key, keylen);
			copy_text(child(c, "Code"), first_code, codelen);
		}
		(*nerrors)++;
	}
out:
	xnode_free(root);
	return rc;
}

int s3_xml_escape(struct buf *out, const char *s)
{
	int rc = 0;
	for (; *s && !rc; s++) {
		switch (*s) {
		case '&': rc = buf_adds(out, "&amp;"); break;
		case '<': rc = buf_adds(out, "&lt;"); break;
		case '>': rc = buf_adds(out, "&gt;"); break;
		case '"': rc = buf_adds(out, "&quot;"); break;
		case '\'': rc = buf_adds(out, "&apos;"); break;
		default: rc = buf_addc(out, *s); break;
		}
	}
	return rc;
}
