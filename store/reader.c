/* store/reader.c - see reader.h */
#include "reader.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsonutil.h"
#include "reader_int.h"

#define MAX_DEPTH READER_DEPTH

/* ------------------------------------------------------------ sections */

void reader_heads_clear(struct reader_heads *hs)
{
	for (int i = 0; i < MAX_DEPTH; i++) {
		free(hs->h[i]);
		hs->h[i] = NULL;
	}
}

static struct reader_section *new_section(struct reader_out *o, size_t at)
{
	struct reader_section *s = realloc(o->sections, (o->nsections + 1) * sizeof(*s));
	if (!s)
		return NULL;
	o->sections = s;
	s += o->nsections++;
	*s = (struct reader_section){ .start = at };
	return s;
}

/* Set the heading at level (1-based), drop deeper ones, record a section. */
int reader_heading(struct reader_out *o, struct reader_heads *hs, int level,
		   const char *title, size_t tlen, size_t at)
{
	if (level < 1)
		level = 1;
	if (level > MAX_DEPTH)
		level = MAX_DEPTH;
	for (int i = level - 1; i < MAX_DEPTH; i++) {
		free(hs->h[i]);
		hs->h[i] = NULL;
	}
	hs->h[level - 1] = strndup(title, tlen);
	struct buf path = BUF_INIT;
	for (int i = 0; i < MAX_DEPTH; i++)
		if (hs->h[i])
			buf_addf(&path, "%s%s", path.len ? " > " : "", hs->h[i]);
	struct reader_section *s = hs->h[level - 1] ? new_section(o, at) : NULL;
	if (!s) {
		buf_release(&path);
		return -ENOMEM;
	}
	s->heading = buf_detach(&path, NULL);
	return 0;
}

int reader_section_meta(struct reader_out *o, size_t at, cJSON *meta)
{
	struct reader_section *s = meta ? new_section(o, at) : NULL;
	if (!s) {
		cJSON_Delete(meta);
		return -ENOMEM;
	}
	s->meta = meta;
	return 0;
}

int reader_fail(struct reader_out *o, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(o->why, sizeof(o->why), fmt, ap);
	va_end(ap);
	o->fail = err;
	buf_reset(&o->text);
	return 0;
}

const struct reader_section *reader_section_find(const struct reader_out *out, size_t off)
{
	const struct reader_section *s = NULL;
	for (size_t i = 0; i < out->nsections && out->sections[i].start <= off; i++)
		s = &out->sections[i];
	return s;
}

const char *reader_section_at(const struct reader_out *out, size_t off)
{
	const struct reader_section *s = reader_section_find(out, off);
	return s ? s->heading : NULL;
}

/* ------------------------------------------------------------ markdown */

static int read_markdown(const char *p, size_t len, struct reader_out *o)
{
	struct reader_heads hs = { { 0 } };
	int rc = buf_add(&o->text, p, len), fence = 0;
	for (size_t i = 0; i < len && !rc;) {
		size_t eol = i;
		while (eol < len && p[eol] != '\n')
			eol++;
		if (eol - i >= 3 && (!strncmp(p + i, "```", 3) || !strncmp(p + i, "~~~", 3)))
			fence = !fence; /* '#' inside code is not a heading */
		int level = 0;
		while (!fence && i + level < eol && p[i + level] == '#')
			level++;
		if (level >= 1 && level <= MAX_DEPTH && i + level < eol && p[i + level] == ' ') {
			size_t s = i + level + 1, e = eol;
			while (e > s && (p[e - 1] == ' ' || p[e - 1] == '#' || p[e - 1] == '\r'))
				e--;
			rc = reader_heading(o, &hs, level, p + s, e - s, i);
		}
		i = eol + 1;
	}
	reader_heads_clear(&hs);
	return rc;
}

/* ------------------------------------------------------------ html */

static const struct {
	const char *name;
	const char *text;
} entities[] = {
	{ "amp", "&" }, { "lt", "<" }, { "gt", ">" }, { "quot", "\"" }, { "apos", "'" },
	{ "nbsp", " " }, { "mdash", "\xe2\x80\x94" }, { "ndash", "\xe2\x80\x93" },
	{ "hellip", "\xe2\x80\xa6" }, { "copy", "\xc2\xa9" },
};

static int add_utf8(struct buf *b, unsigned long cp)
{
	char u[4];
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp < 0x80)
		return buf_addc(b, (char)cp);
	if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		return buf_add(b, u, 2);
	}
	if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		return buf_add(b, u, 3);
	}
	u[0] = (char)(0xf0 | cp >> 18);
	u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	u[3] = (char)(0x80 | (cp & 0x3f));
	return buf_add(b, u, 4);
}

/* Decode the entity at p ("&...;"); *used gets its length (0: not one). */
static int add_entity(struct buf *b, const char *p, size_t len, size_t *used)
{
	const char *semi = memchr(p, ';', len < 12 ? len : 12);
	*used = 0;
	if (!semi)
		return 0;
	size_t n = (size_t)(semi - p - 1);
	if (n >= 2 && p[1] == '#') {
		char *end;
		unsigned long cp = (p[2] == 'x' || p[2] == 'X') ? strtoul(p + 3, &end, 16)
								 : strtoul(p + 2, &end, 10);
		if (end != semi)
			return 0;
		*used = n + 2;
		return add_utf8(b, cp);
	}
	for (size_t i = 0; i < sizeof(entities) / sizeof(entities[0]); i++)
		if (strlen(entities[i].name) == n && !strncmp(p + 1, entities[i].name, n)) {
			*used = n + 2;
			return buf_adds(b, entities[i].text);
		}
	return 0;
}

static int tag_is(const char *tag, size_t n, const char *name)
{
	return strlen(name) == n && !strncasecmp(tag, name, n);
}

static int is_block(const char *tag, size_t n)
{
	static const char *const blocks[] = { "p", "div", "br", "li", "ul", "ol", "tr",
					      "table", "section", "article", "h1", "h2", "h3",
					      "h4", "h5", "h6", "pre", "blockquote", "hr",
					      "header", "footer", "td", "th", "title" };
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
		if (tag_is(tag, n, blocks[i]))
			return 1;
	return 0;
}

struct html {
	const char *p;
	size_t len, i;
	struct reader_out *o;
	struct reader_heads hs;
	int heading;        /* level of an open <hN>, 0 when none */
	size_t heading_at;  /* text offset where it began */
	int in_title;
	struct buf title;
};

/* Skip to the end of the element named tag (for script/style). */
static void skip_element(struct html *h, const char *tag, size_t n)
{
	while (h->i < h->len) {
		const char *lt = memchr(h->p + h->i, '<', h->len - h->i);
		if (!lt) {
			h->i = h->len;
			return;
		}
		h->i = (size_t)(lt - h->p) + 1;
		if (h->i < h->len && h->p[h->i] == '/' && h->len - h->i > n &&
		    !strncasecmp(h->p + h->i + 1, tag, n)) {
			const char *gt = memchr(h->p + h->i, '>', h->len - h->i);
			h->i = gt ? (size_t)(gt - h->p) + 1 : h->len;
			return;
		}
	}
}

static int on_tag(struct html *h, const char *tag, size_t n, int closing)
{
	struct buf *t = &h->o->text;
	int rc = 0;
	if (!closing && (tag_is(tag, n, "script") || tag_is(tag, n, "style") ||
			 tag_is(tag, n, "noscript") || tag_is(tag, n, "template"))) {
		skip_element(h, tag, n);
		return 0;
	}
	if (tag_is(tag, n, "title"))
		h->in_title = !closing;
	if (n == 2 && (tag[0] == 'h' || tag[0] == 'H') && tag[1] >= '1' && tag[1] <= '6') {
		if (!closing) {
			h->heading = tag[1] - '0';
			h->heading_at = t->len;
		} else if (h->heading) {
			size_t s = h->heading_at;
			while (s < t->len && isspace((unsigned char)t->data[s]))
				s++;
			rc = reader_heading(h->o, &h->hs, h->heading, t->data + s, t->len - s,
					    h->heading_at);
			h->heading = 0;
		}
	}
	if (!rc && is_block(tag, n) && t->len && t->data[t->len - 1] != '\n')
		rc = buf_addc(t, '\n');
	return rc;
}

/* Parse "<...>" at h->i; a comment or doctype is skipped whole. */
static int on_markup(struct html *h)
{
	const char *p = h->p + h->i;
	size_t left = h->len - h->i;
	if (left >= 4 && !strncmp(p, "<!--", 4)) {
		const char *end = memmem(p, left, "-->", 3);
		h->i = end ? (size_t)(end - h->p) + 3 : h->len;
		return 0;
	}
	const char *gt = memchr(p, '>', left);
	if (!gt) {
		h->i = h->len;
		return 0;
	}
	h->i = (size_t)(gt - h->p) + 1;
	int closing = p[1] == '/';
	const char *tag = p + 1 + closing;
	size_t n = 0;
	while (tag + n < gt && (isalnum((unsigned char)tag[n])))
		n++;
	return n ? on_tag(h, tag, n, closing) : 0;
}

static int read_html(const char *p, size_t len, struct reader_out *o)
{
	struct html h = { .p = p, .len = len, .o = o };
	int rc = 0, space = 0;
	while (h.i < len && !rc) {
		char c = p[h.i];
		if (c == '<') {
			rc = on_markup(&h);
			continue;
		}
		struct buf *out = h.in_title ? &h.title : &o->text;
		if (isspace((unsigned char)c)) {
			space = 1;
			h.i++;
			continue;
		}
		/* Runs of white space in HTML are one space. */
		if (space && out->len && !isspace((unsigned char)out->data[out->len - 1]))
			rc = buf_addc(out, ' ');
		space = 0;
		size_t used = 0;
		if (!rc && c == '&')
			rc = add_entity(out, p + h.i, len - h.i, &used);
		if (!rc && !used)
			rc = buf_addc(out, c);
		h.i += used ? used : 1;
	}
	if (!rc && h.title.len)
		cJSON_AddStringToObject(o->meta, "title", h.title.data);
	buf_release(&h.title);
	reader_heads_clear(&h.hs);
	return rc;
}

static int looks_like_html(const char *p, size_t len)
{
	while (len && isspace((unsigned char)*p)) {
		p++;
		len--;
	}
	return (len >= 9 && !strncasecmp(p, "<!doctype", 9)) ||
	       (len >= 5 && !strncasecmp(p, "<html", 5));
}

/* ------------------------------------------------------------ json */

/* A LlamaIndex Document gives its text and metadata; other JSON is text. */
static int read_json(const char *p, size_t len, struct reader_out *o)
{
	cJSON *j = json_parse(p, len);
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(j, "metadata");
	int rc;
	if (cJSON_IsObject(j) && cJSON_IsString(text)) {
		rc = buf_adds(&o->text, text->valuestring);
		const cJSON *it, *m = cJSON_IsObject(meta) ? meta : NULL;
		cJSON_ArrayForEach(it, m)
			cJSON_AddItemToObject(o->meta, it->string, cJSON_Duplicate(it, 1));
		cJSON_AddStringToObject(o->meta, "reader", "llamaindex-document");
	} else {
		rc = buf_add(&o->text, p, len);
		cJSON_AddStringToObject(o->meta, "reader", "json");
	}
	cJSON_Delete(j);
	return rc;
}

/* ------------------------------------------------------------ csv */

/* Parse one RFC 4180 field at p[*i]; appends it to f. Returns 1 at the end
 * of a record (newline or end of input). */
static int csv_field(const char *p, size_t len, size_t *i, struct buf *f)
{
	buf_reset(f);
	if (*i < len && p[*i] == '"') {
		for ((*i)++; *i < len; (*i)++) {
			if (p[*i] == '"' && *i + 1 < len && p[*i + 1] == '"')
				buf_addc(f, p[++(*i)]);
			else if (p[*i] == '"')
				break;
			else
				buf_addc(f, p[*i]);
		}
		(*i)++;
	}
	while (*i < len && p[*i] != ',' && p[*i] != '\n') {
		if (p[*i] != '\r')
			buf_addc(f, p[*i]);
		(*i)++;
	}
	int end = *i >= len || p[*i] == '\n';
	(*i)++;
	return end;
}

static int read_csv(const char *p, size_t len, struct reader_out *o)
{
	struct buf f = BUF_INIT;
	char **head = NULL;
	size_t nhead = 0, i = 0;
	int rc = 0, end = 0;
	while (i < len && !end && !rc) { /* the header row */
		end = csv_field(p, len, &i, &f);
		char **h = realloc(head, (nhead + 1) * sizeof(*head));
		if (!h)
			rc = -ENOMEM;
		else
			head = h;
		if (!rc)
			head[nhead++] = buf_detach(&f, NULL);
	}
	size_t col = 0;
	while (i < len && !rc) {
		end = csv_field(p, len, &i, &f);
		if (f.len) {
			if (col)
				rc = buf_adds(&o->text, ", ");
			if (!rc && col < nhead && head[col][0])
				rc = buf_addf(&o->text, "%s: ", head[col]);
			if (!rc)
				rc = buf_add(&o->text, f.data, f.len);
		}
		col++;
		if (end && !rc) {
			rc = buf_addc(&o->text, '\n');
			col = 0;
		}
	}
	for (size_t k = 0; k < nhead; k++)
		free(head[k]);
	free(head);
	buf_release(&f);
	if (!rc)
		cJSON_AddNumberToObject(o->meta, "csv_columns", (double)nhead);
	return rc;
}

/* ------------------------------------------------------------ dispatch */

static const char *language_of(const char *ext)
{
	static const struct {
		const char *ext, *lang;
	} langs[] = {
		{ "c", "c" },	       { "h", "c" },	      { "cc", "cpp" },
		{ "cpp", "cpp" },      { "hpp", "cpp" },      { "py", "python" },
		{ "js", "javascript" }, { "mjs", "javascript" }, { "ts", "typescript" },
		{ "tsx", "typescript" }, { "rs", "rust" },     { "go", "go" },
		{ "java", "java" },    { "kt", "kotlin" },    { "rb", "ruby" },
		{ "sh", "shell" },     { "bash", "shell" },   { "sql", "sql" },
		{ "php", "php" },      { "cs", "csharp" },    { "swift", "swift" },
		{ "lua", "lua" },      { "pl", "perl" },      { "r", "r" },
		{ "scala", "scala" },  { "hs", "haskell" },   { "ml", "ocaml" },
	};
	for (size_t i = 0; ext && i < sizeof(langs) / sizeof(langs[0]); i++)
		if (!strcasecmp(ext, langs[i].ext))
			return langs[i].lang;
	return NULL;
}

static const char *ext_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash : path, '.');
	return dot ? dot + 1 : NULL;
}

int reader_is_document(const char *path, const char *data, size_t len)
{
	const char *ext = ext_of(path);
	return reader_pdf_is(ext, data, len) || reader_office_kind(ext, data, len) != OFFICE_NONE;
}

int reader_extract(const char *path, const char *data, size_t len, struct reader_out *o)
{
	const char *ext = ext_of(path);
	const char *lang = language_of(ext);
	const char *name = "text";
	enum office_kind office;
	int rc;

	memset(o, 0, sizeof(*o));
	o->meta = cJSON_CreateObject();
	if (!o->meta)
		return -ENOMEM;
	if (reader_pdf_is(ext, data, len)) {
		name = "pdf";
		rc = reader_pdf(data, len, o);
	} else if ((office = reader_office_kind(ext, data, len)) != OFFICE_NONE) {
		name = office == OFFICE_DOCX ? "docx" : "odt";
		rc = reader_office(office, data, len, o);
	} else if (ext && (!strcasecmp(ext, "md") || !strcasecmp(ext, "markdown"))) {
		name = "markdown";
		rc = read_markdown(data, len, o);
	} else if ((ext && (!strcasecmp(ext, "html") || !strcasecmp(ext, "htm"))) ||
		   looks_like_html(data, len)) {
		name = "html";
		rc = read_html(data, len, o);
	} else if (ext && !strcasecmp(ext, "json")) {
		name = NULL; /* read_json names itself */
		rc = read_json(data, len, o);
	} else if (ext && !strcasecmp(ext, "csv")) {
		name = "csv";
		rc = read_csv(data, len, o);
	} else {
		if (lang) {
			name = "code";
			cJSON_AddStringToObject(o->meta, "language", lang);
		}
		rc = buf_add(&o->text, data, len);
	}
	if (!rc && name)
		cJSON_AddStringToObject(o->meta, "reader", name);
	if (!rc && !o->text.data)
		rc = buf_adds(&o->text, "");
	if (rc)
		reader_out_free(o);
	return rc;
}

void reader_out_free(struct reader_out *o)
{
	for (size_t i = 0; i < o->nsections; i++) {
		free(o->sections[i].heading);
		cJSON_Delete(o->sections[i].meta);
	}
	free(o->sections);
	cJSON_Delete(o->meta);
	buf_release(&o->text);
	memset(o, 0, sizeof(*o));
}
