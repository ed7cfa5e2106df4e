/* store/reader_office.c - DOCX (Office Open XML) and ODT (OpenDocument text)
 * by paragraph, with libzip and libxml2's streaming reader. See
 * reader_int.h.
 *
 *   DOCX  word/styles.xml maps style ids to heading levels ("heading N"
 *         names, w:outlineLvl; ids "HeadingN" without it); word/document.xml
 *         gives the w:t text of each w:p, heading paragraphs opening
 *         sections; docProps/core.xml gives dc:title and dc:creator.
 *   ODT   content.xml gives each text:p and text:h (text:outline-level),
 *         white space collapsed as ODF says, text:s/tab/line-break kept;
 *         meta.xml gives dc:title and dc:creator.
 * Skipped: tracked deletions and moves, comments, the VML fallback copy of
 * text boxes, footnote numbers. Footnotes and headers of DOCX (other parts)
 * are not read.
 *
 * Hostile archives: the entry count is checked before libzip reads the
 * central directory (OFFICE_MAX_ENTRIES); each part is streamed and counted
 * while it is inflated, never trusting the sizes the archive states, and
 * refused past READER_MAX_TEXT (zip bombs); libzip checks CRCs. XML is
 * parsed without network access, without DTD loading or entity
 * substitution (XML_PARSE_NONET only) and with libxml2's default limits
 * (no XML_PARSE_HUGE); a document with a DTD is refused outright (neither
 * format uses one), so entity expansion never starts.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/xmlreader.h>
#include <zip.h>

#include "reader_int.h"

#define OFFICE_MAX_ENTRIES 10000
#define META_MAX 4096 /* longest title or author kept */
#define XML_OPTS XML_PARSE_NONET

static const char NS_W[] = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
static const char NS_W_STRICT[] = "http://purl.oclc.org/ooxml/wordprocessingml/main";
static const char NS_MC[] = "http://schemas.openxmlformats.org/markup-compatibility/2006";
static const char NS_DC[] = "http://purl.org/dc/elements/1.1/";
static const char NS_TEXT[] = "urn:oasis:names:tc:opendocument:xmlns:text:1.0";
static const char NS_OFFICE[] = "urn:oasis:names:tc:opendocument:xmlns:office:1.0";
static const char ODT_MIME[] = "application/vnd.oasis.opendocument.text";

/* ------------------------------------------------------------ zip */

static uint64_t le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	while (n--)
		v = v << 8 | p[n];
	return v;
}

static int is_zip(const char *data, size_t len)
{
	return len >= 30 && !memcmp(data, "PK\3\4", 4);
}

/* ODF stores an uncompressed "mimetype" entry first (ODF 1.2 part 3, 3.3). */
static int odt_magic(const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	size_t ml = sizeof(ODT_MIME) - 1;
	if (!is_zip(data, len) || le(p + 8, 2) != 0 || le(p + 26, 2) != 8 ||
	    memcmp(p + 30, "mimetype", 8) || le(p + 18, 4) != ml)
		return 0;
	size_t at = 30 + 8 + (size_t)le(p + 28, 2);
	return len >= at + ml && !memcmp(p + at, ODT_MIME, ml);
}

/* Entries the archive says it holds (end of central directory record, or
 * its zip64 form), or UINT64_MAX without one (libzip then refuses it). */
static uint64_t zip_entries(const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	if (len < 22)
		return UINT64_MAX;
	size_t lo = len > 65535 + 22 ? len - 65535 - 22 : 0;
	for (size_t i = len - 22 + 1; i-- > lo;) {
		if (memcmp(p + i, "PK\5\6", 4))
			continue;
		uint64_t n = le(p + i + 10, 2);
		if (n == 0xffff && i >= 20 && !memcmp(p + i - 20, "PK\6\7", 4)) {
			uint64_t off = le(p + i - 20 + 8, 8);
			if (len >= 56 && off <= len - 56 && !memcmp(p + off, "PK\6\6", 4))
				n = le(p + off + 32, 8);
		}
		return n;
	}
	return UINT64_MAX;
}

/* Open data as an archive, or NULL with why set. */
static zip_t *zip_from(const char *data, size_t len, char *why, size_t whylen)
{
	uint64_t n = zip_entries(data, len);
	if (n != UINT64_MAX && n > OFFICE_MAX_ENTRIES) {
		snprintf(why, whylen, "zip archive of %llu entries (over %d)",
			 (unsigned long long)n, OFFICE_MAX_ENTRIES);
		return NULL;
	}
	zip_error_t ze;
	zip_error_init(&ze);
	zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
	zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
	if (!z) {
		snprintf(why, whylen, "not a zip archive (%s)", zip_error_strerror(&ze));
		zip_source_free(src); /* not taken over when the open fails */
	}
	zip_error_fini(&ze);
	return z;
}

enum office_kind reader_office_kind(const char *ext, const char *data, size_t len)
{
	char why[8];
	if (ext && !strcasecmp(ext, "docx"))
		return OFFICE_DOCX;
	if (ext && !strcasecmp(ext, "odt"))
		return OFFICE_ODT;
	if (!is_zip(data, len))
		return OFFICE_NONE;
	if (odt_magic(data, len))
		return OFFICE_ODT;
	zip_t *z = zip_from(data, len, why, sizeof(why));
	int docx = z && zip_name_locate(z, "word/document.xml", ZIP_FL_NOCASE) >= 0;
	if (z)
		zip_discard(z);
	return docx ? OFFICE_DOCX : OFFICE_NONE;
}

/* ------------------------------------------------------------ xml parts */

struct part {
	zip_file_t *f;
	size_t total;
	int over, zerr, dtd;
	char xml_err[160];
};

/* libxml2 pulls the inflated bytes through here: counted, capped. */
static int part_read(void *ctx, char *buf, int len)
{
	struct part *pt = ctx;
	zip_int64_t n = zip_fread(pt->f, buf, (zip_uint64_t)len);
	if (n < 0) {
		pt->zerr = 1;
		return -1;
	}
	pt->total += (size_t)n;
	if (pt->total > READER_MAX_TEXT) {
		pt->over = 1;
		return -1;
	}
	return (int)n;
}

static void on_xml_error(void *ctx, xmlErrorPtr e)
{
	struct part *pt = ctx;
	if (!e || e->level < XML_ERR_ERROR || pt->xml_err[0])
		return;
	snprintf(pt->xml_err, sizeof(pt->xml_err), "line %d: %s", e->line,
		 e->message ? e->message : "malformed XML");
	size_t n = strlen(pt->xml_err);
	if (n && pt->xml_err[n - 1] == '\n')
		pt->xml_err[n - 1] = '\0';
}

/* Called for every node; 1 skips the element's subtree, <0 stops. */
typedef int (*node_fn)(xmlTextReaderPtr r, void *ctx);

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser(); /* once, before threads parse (libxml2 asks for it) */
}

/* Stream part name of z through fn. 0 (also for a missing optional part),
 * -ENOMEM, or 1 with o->fail set. */
static int walk_part(zip_t *z, const char *name, int required, node_fn fn, void *ctx,
		     struct reader_out *o)
{
	zip_int64_t idx = zip_name_locate(z, name, ZIP_FL_NOCASE);
	if (idx < 0) {
		if (required)
			reader_fail(o, EINVAL, "no %s in the archive", name);
		return required;
	}
	zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)idx, 0);
	if (!f) {
		int ze = zip_error_code_zip(zip_get_error(z));
		reader_fail(o, ze == ZIP_ER_NOPASSWD || ze == ZIP_ER_WRONGPASSWD ? EACCES : EINVAL,
			    "%s: %s", name, zip_strerror(z));
		return 1;
	}
	pthread_once(&xml_once, xml_init);
	struct part pt = { .f = f };
	xmlTextReaderPtr r = xmlReaderForIO(part_read, NULL, &pt, name, NULL, XML_OPTS);
	int ret = -1, rc = 0;
	if (r) {
		xmlTextReaderSetStructuredErrorHandler(r, on_xml_error, &pt);
		ret = xmlTextReaderRead(r);
		while (ret == 1) {
			if (xmlTextReaderNodeType(r) == XML_READER_TYPE_DOCUMENT_TYPE) {
				pt.dtd = 1;
				ret = -1;
				break;
			}
			rc = fn(r, ctx);
			if (rc < 0)
				break;
			ret = rc == 1 ? xmlTextReaderNext(r) : xmlTextReaderRead(r);
			rc = 0;
		}
		xmlFreeTextReader(r);
	} else {
		rc = -ENOMEM;
	}
	if (!rc && ret < 0) {
		if (pt.over)
			reader_fail(o, EFBIG, "%s: over %zu MiB uncompressed (zip bomb?)", name,
				    READER_MAX_TEXT >> 20);
		else if (pt.zerr)
			reader_fail(o, EINVAL, "%s: %s", name, zip_file_strerror(f));
		else if (pt.dtd)
			reader_fail(o, EINVAL, "%s: has a DTD (not allowed in DOCX/ODT)", name);
		else
			reader_fail(o, EINVAL, "%s: %s", name,
				    pt.xml_err[0] ? pt.xml_err : "malformed XML");
		rc = 1;
	}
	if (rc == -EFBIG)
		rc = reader_fail(o, EFBIG, "text over %zu MiB", READER_MAX_TEXT >> 20) + 1;
	zip_fclose(f);
	return rc;
}

static int in_ns(xmlTextReaderPtr r, const char *ns)
{
	const char *uri = (const char *)xmlTextReaderConstNamespaceUri(r);
	return uri && !strcmp(uri, ns);
}

static int is_el(xmlTextReaderPtr r, const char *name)
{
	return !strcmp((const char *)xmlTextReaderConstLocalName(r), name);
}

static int is_text_node(int type)
{
	return type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA ||
	       type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE;
}

static const char *value(xmlTextReaderPtr r)
{
	const char *v = (const char *)xmlTextReaderConstValue(r);
	return v ? v : "";
}

/* ------------------------------------------------------------ paragraphs */

struct style {
	char *id;
	int level;
};

struct para {
	struct reader_out *o;
	struct reader_heads hs;
	struct buf p;     /* the paragraph being read */
	int depth;        /* open paragraphs (text boxes and notes nest them) */
	int level;        /* heading level of the paragraph, 0: body text */
	int in_t;         /* DOCX: inside w:t */
	int space;        /* ODT: white space seen and not yet written */
	int docx_ns;      /* DOCX: which w: namespace the styles use */
	struct style *styles;
	size_t nstyles;
};

static int trimmable(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The paragraph ends: its text and a blank line; a heading opens a section. */
static int end_para(struct para *pa)
{
	struct buf *t = &pa->o->text;
	const char *s = pa->p.data;
	size_t n = pa->p.len;
	int rc = 0;
	while (n && trimmable(*s)) {
		s++;
		n--;
	}
	while (n && trimmable(s[n - 1]))
		n--;
	if (n && pa->level > 0)
		rc = reader_heading(pa->o, &pa->hs, pa->level, s, n, t->len);
	if (n && !rc)
		rc = buf_add(t, s, n);
	if (n && !rc)
		rc = buf_add(t, "\n\n", 2);
	buf_reset(&pa->p);
	pa->level = 0;
	pa->space = 0;
	return rc;
}

static void start_para(struct para *pa)
{
	if (pa->depth++ == 0) {
		buf_reset(&pa->p);
		pa->level = 0;
		pa->space = 0;
	} else {
		pa->space = 1; /* a nested paragraph: keep words apart */
	}
}

static int close_para(struct para *pa)
{
	if (pa->depth <= 0)
		return 0;
	if (--pa->depth == 0)
		return end_para(pa);
	return buf_addc(&pa->p, '\n');
}

/* ------------------------------------------------------------ docx */

static int w_ns(xmlTextReaderPtr r)
{
	return in_ns(r, NS_W) || in_ns(r, NS_W_STRICT);
}

static char *w_attr(xmlTextReaderPtr r, const char *name)
{
	const char *ns = (const char *)xmlTextReaderConstNamespaceUri(r);
	xmlChar *v = xmlTextReaderGetAttributeNs(r, BAD_CAST name, BAD_CAST ns);
	char *s = v ? strdup((const char *)v) : NULL;
	xmlFree(v);
	return s;
}

/* "heading 3" (a style's w:name, case as written by any tool) -> 3. */
static int heading_name_level(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	if (!name || strncasecmp(name, prefix, n))
		return 0;
	char *end;
	long l = strtol(name + n, &end, 10);
	return *end || l < 1 || l > 9 ? 0 : (int)l;
}

static int outline_level(const char *v)
{
	char *end;
	long l = v ? strtol(v, &end, 10) : -1;
	return v && !*end && l >= 0 && l <= 8 ? (int)l + 1 : 0;
}

static int styles_node(xmlTextReaderPtr r, void *ctx)
{
	struct para *pa = ctx;
	if (xmlTextReaderNodeType(r) != XML_READER_TYPE_ELEMENT || !w_ns(r))
		return 0;
	if (is_el(r, "style")) {
		char *id = w_attr(r, "styleId");
		if (!id)
			return 0;
		struct style *s = realloc(pa->styles, (pa->nstyles + 1) * sizeof(*s));
		if (!s) {
			free(id);
			return -ENOMEM;
		}
		pa->styles = s;
		s[pa->nstyles++] = (struct style){ id, 0 };
		return 0;
	}
	if (!pa->nstyles)
		return 0;
	struct style *cur = &pa->styles[pa->nstyles - 1];
	char *v = NULL;
	if (is_el(r, "name") && (v = w_attr(r, "val")) && !cur->level)
		cur->level = heading_name_level(v, "heading ");
	else if (is_el(r, "outlineLvl") && (v = w_attr(r, "val")))
		cur->level = outline_level(v);
	free(v);
	return 0;
}

static int style_level(const struct para *pa, const char *id)
{
	for (size_t i = 0; i < pa->nstyles; i++)
		if (!strcmp(pa->styles[i].id, id) && pa->styles[i].level)
			return pa->styles[i].level;
	return heading_name_level(id, "heading");
}

static int docx_node(xmlTextReaderPtr r, void *ctx)
{
	struct para *pa = ctx;
	int type = xmlTextReaderNodeType(r);
	if (is_text_node(type))
		return pa->in_t && pa->depth ? buf_adds(&pa->p, value(r)) : 0;
	if (type == XML_READER_TYPE_ELEMENT && in_ns(r, NS_MC) && is_el(r, "Fallback"))
		return 1; /* the same text box again, for old readers */
	if (!w_ns(r))
		return 0;
	if (type == XML_READER_TYPE_END_ELEMENT) {
		if (is_el(r, "t"))
			pa->in_t = 0;
		else if (is_el(r, "p"))
			return close_para(pa);
		return 0;
	}
	if (type != XML_READER_TYPE_ELEMENT)
		return 0;
	int empty = xmlTextReaderIsEmptyElement(r);
	if (is_el(r, "p")) {
		start_para(pa);
		return empty ? close_para(pa) : 0;
	}
	if (is_el(r, "pPrChange") || is_el(r, "rPrChange") || is_el(r, "moveFrom") ||
	    is_el(r, "del"))
		return 1; /* tracked changes: what was there before */
	if (!pa->depth)
		return 0;
	if (is_el(r, "t")) {
		pa->in_t = !empty;
	} else if (is_el(r, "tab")) {
		return buf_addc(&pa->p, '\t');
	} else if (is_el(r, "br") || is_el(r, "cr")) {
		return buf_addc(&pa->p, '\n');
	} else if (pa->depth == 1 && (is_el(r, "pStyle") || is_el(r, "outlineLvl"))) {
		char *v = w_attr(r, "val");
		int l = !v ? 0 : is_el(r, "pStyle") ? style_level(pa, v) : outline_level(v);
		if (l)
			pa->level = l;
		free(v);
	}
	return 0;
}

/* ------------------------------------------------------------ odt */

/* ODF collapses white space in paragraphs as HTML does. */
static int add_collapsed(struct para *pa, const char *s)
{
	int rc = 0;
	for (; *s && !rc; s++) {
		if (trimmable(*s)) {
			pa->space = 1;
			continue;
		}
		if (pa->space && pa->p.len)
			rc = buf_addc(&pa->p, ' ');
		pa->space = 0;
		if (!rc)
			rc = buf_addc(&pa->p, *s);
	}
	return rc;
}

static long text_attr_num(xmlTextReaderPtr r, const char *name, long dflt)
{
	xmlChar *v = xmlTextReaderGetAttributeNs(r, BAD_CAST name, BAD_CAST NS_TEXT);
	char *end;
	long n = v ? strtol((const char *)v, &end, 10) : dflt;
	if (v && *end)
		n = dflt;
	xmlFree(v);
	return n;
}

static int odt_node(xmlTextReaderPtr r, void *ctx)
{
	struct para *pa = ctx;
	int type = xmlTextReaderNodeType(r);
	if (is_text_node(type))
		return pa->depth ? add_collapsed(pa, value(r)) : 0;
	if (type == XML_READER_TYPE_ELEMENT && in_ns(r, NS_OFFICE) && is_el(r, "annotation"))
		return 1; /* comments */
	if (!in_ns(r, NS_TEXT))
		return 0;
	if (type == XML_READER_TYPE_END_ELEMENT)
		return is_el(r, "p") || is_el(r, "h") ? close_para(pa) : 0;
	if (type != XML_READER_TYPE_ELEMENT)
		return 0;
	int empty = xmlTextReaderIsEmptyElement(r);
	if (is_el(r, "p") || is_el(r, "h")) {
		int top = !pa->depth;
		start_para(pa);
		if (top && is_el(r, "h")) {
			long l = text_attr_num(r, "outline-level", 1);
			pa->level = l < 1 ? 1 : l > READER_DEPTH ? READER_DEPTH : (int)l;
		}
		return empty ? close_para(pa) : 0;
	}
	if (is_el(r, "tracked-changes") || is_el(r, "note-citation") ||
	    is_el(r, "sequence-decls") || is_el(r, "variable-decls"))
		return 1;
	if (!pa->depth)
		return 0;
	int rc = 0;
	if (is_el(r, "s")) { /* n literal spaces */
		long n = text_attr_num(r, "c", 1);
		for (long i = 0; i < (n < 1 ? 1 : n > 1000 ? 1000 : n) && !rc; i++)
			rc = buf_addc(&pa->p, ' ');
		pa->space = 0;
	} else if (is_el(r, "tab")) {
		rc = buf_addc(&pa->p, '\t');
		pa->space = 0;
	} else if (is_el(r, "line-break")) {
		rc = buf_addc(&pa->p, '\n');
		pa->space = 0;
	}
	return rc;
}

/* ------------------------------------------------------------ metadata */

struct props {
	struct buf title, author;
	struct buf *in; /* the element being read, or NULL */
};

static int props_node(xmlTextReaderPtr r, void *ctx)
{
	struct props *pr = ctx;
	int type = xmlTextReaderNodeType(r);
	if (is_text_node(type) && pr->in) {
		int rc = buf_adds(pr->in, value(r));
		return rc == -EFBIG ? 0 : rc; /* an absurd title is just dropped */
	}
	if (type == XML_READER_TYPE_END_ELEMENT)
		pr->in = NULL;
	if (type != XML_READER_TYPE_ELEMENT || !in_ns(r, NS_DC) || xmlTextReaderIsEmptyElement(r))
		return 0;
	if (is_el(r, "title"))
		pr->in = &pr->title;
	else if (is_el(r, "creator"))
		pr->in = &pr->author;
	if (pr->in)
		buf_reset(pr->in);
	return 0;
}

static int add_prop(cJSON *meta, const char *key, struct buf *b)
{
	const char *s = b->data;
	size_t n = b->len;
	while (n && trimmable(*s)) {
		s++;
		n--;
	}
	while (n && trimmable(s[n - 1]))
		n--;
	if (!n)
		return 0;
	char *v = strndup(s, n);
	int rc = v && cJSON_AddStringToObject(meta, key, v) ? 0 : -ENOMEM;
	free(v);
	return rc;
}

/* ------------------------------------------------------------ entry */

int reader_office(enum office_kind kind, const char *data, size_t len, struct reader_out *o)
{
	char why[200];
	struct para pa = { .o = o, .p = BUF_INIT };
	struct props pr = { .title = BUF_INIT, .author = BUF_INIT };
	int docx = kind == OFFICE_DOCX;
	int rc;

	zip_t *z = zip_from(data, len, why, sizeof(why));
	if (!z) {
		/* Word's password protection wraps the package in an OLE file. */
		int ole = len >= 8 && !memcmp(data, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8);
		return reader_fail(o, ole ? EACCES : EINVAL, "%s: %s", docx ? "DOCX" : "ODT",
				   ole ? "an OLE file: encrypted, or a legacy .doc" : why);
	}
	o->text.max = READER_MAX_TEXT;
	pa.p.max = READER_MAX_TEXT;
	pr.title.max = pr.author.max = META_MAX;
	if (docx) {
		rc = walk_part(z, "word/styles.xml", 0, styles_node, &pa, o);
		if (!rc)
			rc = walk_part(z, "word/document.xml", 1, docx_node, &pa, o);
		if (!rc)
			rc = walk_part(z, "docProps/core.xml", 0, props_node, &pr, o);
	} else {
		rc = walk_part(z, "content.xml", 1, odt_node, &pa, o);
		if (!rc)
			rc = walk_part(z, "meta.xml", 0, props_node, &pr, o);
	}
	if (!rc)
		rc = add_prop(o->meta, "title", &pr.title);
	if (!rc)
		rc = add_prop(o->meta, "author", &pr.author);
	if (!rc && !o->text.len)
		reader_fail(o, ENODATA, "%s has no text", docx ? "DOCX" : "ODT");
	o->text.max = 0;
	zip_discard(z);
	reader_heads_clear(&pa.hs);
	for (size_t i = 0; i < pa.nstyles; i++)
		free(pa.styles[i].id);
	free(pa.styles);
	buf_release(&pa.p);
	buf_release(&pr.title);
	buf_release(&pr.author);
	return rc < 0 ? rc : 0;
}
