/* Unit tests: store/reader_pdf.c and store/reader_office.c on real files.
 *
 * PDFs are made here with groff and ps2pdf (pdfmark sets the title, author
 * and page labels); DOCX and ODT with pandoc; hostile archives (a zip bomb,
 * entity expansion, 10001 entries, a bad CRC, hand-written OOXML/ODF
 * structures) with libzip. A test whose tool is missing is skipped
 * (scripts/deps.sh installs groff, ghostscript and pandoc).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zip.h>

#include "store/reader.h"
#include "store/reader_int.h"
#include "tests/tap.h"

static char dir[64];

static int have(const char *tool)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

static void skip(const char *what, const char *tool)
{
	ok(1, "# SKIP %s: no %s", what, tool);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	if (rc)
		diag("command failed (%d): %s", rc, cmd);
	return rc;
}

static char *slurp(const char *name, size_t *len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	*len = 0;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)n + 1);
	if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
		free(data);
		data = NULL;
	}
	fclose(f);
	if (data)
		*len = (size_t)n;
	return data;
}

static void spill(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* Read file name of dir as document path. *len gets the file size. */
static struct reader_out rd_file(const char *name, const char *path)
{
	struct reader_out o;
	size_t len;
	char *data = slurp(name, &len);
	memset(&o, 0, sizeof(o));
	if (!data || reader_extract(path, data, len, &o))
		memset(&o, 0, sizeof(o));
	free(data);
	return o;
}

static const char *meta_str(const cJSON *meta, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(meta, key);
	return cJSON_IsString(it) ? it->valuestring : "";
}

static double meta_num(const cJSON *meta, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(meta, key);
	return cJSON_IsNumber(it) ? it->valuedouble : -1;
}

/* The section holding the first occurrence of word. */
static const struct reader_section *section_of(const struct reader_out *o, const char *word)
{
	const char *at = o->text.data ? strstr(o->text.data, word) : NULL;
	return at ? reader_section_find(o, (size_t)(at - o->text.data)) : NULL;
}

static const char *heading_of(const struct reader_out *o, const char *word)
{
	const struct reader_section *s = section_of(o, word);
	return s && s->heading ? s->heading : "";
}

/* A zip archive from name/body pairs (NULL-terminated). */
static int make_zip(const char *name, const char *const *entries)
{
	char path[256];
	int err = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
	if (!z)
		return -1;
	for (size_t i = 0; entries[i]; i += 2) {
		zip_source_t *s = zip_source_buffer(z, entries[i + 1], strlen(entries[i + 1]), 0);
		if (!s || zip_file_add(z, entries[i], s, ZIP_FL_ENC_UTF_8) < 0) {
			zip_source_free(s);
			zip_discard(z);
			return -1;
		}
	}
	return zip_close(z);
}

#define W_NS "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\""
#define DOCX_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
#define CT "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>"

/* ------------------------------------------------------------ pdf */

static struct reader_out threads_out[4];
static char *thread_pdf;
static size_t thread_pdf_len;

static void *pdf_thread(void *arg)
{
	struct reader_out *o = arg;
	if (reader_extract("t.pdf", thread_pdf, thread_pdf_len, o))
		memset(o, 0, sizeof(*o));
	return NULL;
}

static void test_pdf(void)
{
	if (!have("groff") || !have("ps2pdf")) {
		skip("PDF reader", "groff/ps2pdf");
		return;
	}
	/* Three pages labelled i, 1, 2 (front matter), with a title. */
	spill("t.ms", "\\X'ps: exec [/Title (Aardvark Field Report) /Author (Ann Lee) /DOCINFO pdfmark'\n"
		      "\\X'ps: exec [/Label (i) /PAGELABEL pdfmark'\n"
		      ".PP\nPreface page about aardvarks digging burrows.\n.bp\n"
		      "\\X'ps: exec [/Label (1) /PAGELABEL pdfmark'\n"
		      ".PP\nSecond page about zebras grazing.\n.bp\n"
		      "\\X'ps: exec [/Label (2) /PAGELABEL pdfmark'\n"
		      ".PP\nThird page about pangolins.\n");
	ok(!sh("cd %s && groff -ms -Tps t.ms > t.ps && ps2pdf t.ps t.pdf", dir), "groff + ps2pdf make a PDF");
	struct reader_out o = rd_file("t.pdf", "reports/field.pdf");
	ok(!o.fail && !strcmp(meta_str(o.meta, "reader"), "pdf"), "PDF reader (%s)", o.why);
	ok(!strcmp(meta_str(o.meta, "title"), "Aardvark Field Report") &&
	   !strcmp(meta_str(o.meta, "author"), "Ann Lee"), "PDF title and author into metadata");
	is_int(meta_num(o.meta, "total_pages"), 3, "total_pages");
	is_int(o.nsections, 3, "one section per page");
	const struct reader_section *s = section_of(&o, "zebras");
	ok(s && s->meta && meta_num(s->meta, "page") == 2 && !strcmp(meta_str(s->meta, "page_label"), "1"),
	   "page 2 (labelled 1) holds 'zebras'");
	s = section_of(&o, "aardvarks");
	ok(s && !strcmp(meta_str(s->meta, "page_label"), "i") && meta_num(s->meta, "page") == 1,
	   "page 1 is labelled i");
	s = section_of(&o, "pangolins");
	ok(s && meta_num(s->meta, "page") == 3, "page 3 holds 'pangolins'");
	ok(o.text.data && strstr(o.text.data, "Second page about zebras grazing.") &&
	   !strchr(o.text.data, '\f'), "page text as written, no form feeds");
	reader_out_free(&o);

	/* The same bytes under another name: found by content. */
	o = rd_file("t.pdf", "scan-0001");
	ok(!o.fail && !strcmp(meta_str(o.meta, "reader"), "pdf"), "PDF recognised by %%PDF- magic");
	reader_out_free(&o);
	ok(!reader_is_document("notes.txt", "see %PDF-1.7 headers", 20), "text that mentions %%PDF- later is not a PDF");

#ifndef __SANITIZE_ADDRESS__
	/* 24000 words on one page need megabytes for poppler's text layout:
	 * with 64 KiB of address space to spare, the child dies. (Before any
	 * thread runs here: glibc would fall back to the arenas they reserved.) */
	ok(!sh("cd %s && printf '%%%%!PS\n/Helvetica findfont 2 scalefont setfont\n"
	       "0 1 299 { 2.5 mul 10 add /y exch def 0 1 79 { 7 mul 10 add y moveto (ab) show } for } for\n"
	       "showpage\n' > dense.ps && ps2pdf dense.ps dense.pdf", dir), "ps2pdf makes a dense page");
	size_t dlen;
	char *dense = slurp("dense.pdf", &dlen);
	o = (struct reader_out){ 0 };
	reader_extract("dense.pdf", dense, dlen, &o);
	ok(!o.fail && strstr(o.text.data, "ab\nab\nab"), "the dense page reads with the default limits (%s)", o.why);
	reader_out_free(&o);
	reader_pdf_set_limits(0, 64 << 10);
	reader_extract("dense.pdf", dense, dlen, &o);
	ok(o.fail == EIO && strstr(o.why, "died") && !o.text.len,
	   "a reader out of memory dies; the document fails, not the caller: '%s'", o.why);
	reader_out_free(&o);
	free(dense);
	reader_pdf_set_limits(0, 0);
#else
	skip("RLIMIT_AS on the PDF reader", "RLIMIT_AS under ASan");
#endif

	/* Several threads at once: each forks its own reader. */
	thread_pdf = slurp("t.pdf", &thread_pdf_len);
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, pdf_thread, &threads_out[i]);
	int good = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		good += !threads_out[i].fail && threads_out[i].nsections == 3;
		reader_out_free(&threads_out[i]);
	}
	is_int(good, 4, "four threads read PDFs at once");

	/* Hostile and broken input: stored, not indexed, with the reason. */
	ok(!sh("cd %s && gs -q -dSAFER -dNOPAUSE -dBATCH -sDEVICE=pdfwrite -sOwnerPassword=own "
	       "-sUserPassword=usr -sOutputFile=enc.pdf t.ps", dir), "gs makes an encrypted PDF");
	o = rd_file("enc.pdf", "enc.pdf");
	ok(o.fail == EACCES && strstr(o.why, "encrypted") && !o.text.len,
	   "encrypted PDF: EACCES, '%s'", o.why);
	reader_out_free(&o);
	char garbage[4096] = "%PDF-1.7\n";
	srand(7);
	for (size_t i = 9; i < sizeof(garbage); i++)
		garbage[i] = (char)rand();
	o = (struct reader_out){ 0 };
	ok(!reader_extract("bad.pdf", garbage, sizeof(garbage), &o) && o.fail == EINVAL &&
	   strstr(o.why, "damaged"), "garbage after %%PDF-: EINVAL, '%s'", o.why);
	reader_out_free(&o);
	ok(!reader_extract("empty.pdf", "", 0, &o) && o.fail, "an empty .pdf: '%s'", o.why);
	reader_out_free(&o);
	int rc = reader_extract("x.pdf", thread_pdf, thread_pdf_len / 2, &o);
	ok(!rc && o.fail == EINVAL && !o.text.len, "a PDF cut in half: EINVAL, '%s'", o.why);
	reader_out_free(&o);

	/* An image-only PDF (no text layer). */
	ok(!sh("cd %s && printf '%%%%!PS\\nnewpath 100 100 moveto 200 200 lineto stroke showpage\\n' > img.ps && "
	       "ps2pdf img.ps img.pdf", dir), "ps2pdf makes a PDF without text");
	o = rd_file("img.pdf", "img.pdf");
	ok(o.fail == ENODATA && strstr(o.why, "no text"), "no text layer: ENODATA, '%s'", o.why);
	reader_out_free(&o);

	/* The child's limits: a deadline, and memory. */
	reader_pdf_set_limits(1, 0);
	o = (struct reader_out){ 0 };
	reader_extract("t.pdf", thread_pdf, thread_pdf_len, &o);
	ok(o.fail == ETIMEDOUT && strstr(o.why, "timed out"), "past the deadline the reader is killed: '%s'", o.why);
	reader_out_free(&o);
	reader_pdf_set_limits(0, 0);
	reader_pdf_set_limits(0, 0);
	o = (struct reader_out){ 0 };
	reader_extract("t.pdf", thread_pdf, thread_pdf_len, &o);
	ok(!o.fail && o.nsections == 3, "limits restored: read again");
	reader_out_free(&o);
	free(thread_pdf);
}

/* ------------------------------------------------------------ docx, odt */

static void test_pandoc(void)
{
	if (!have("pandoc")) {
		skip("DOCX/ODT from pandoc", "pandoc");
		return;
	}
	spill("o.md", "---\ntitle: Otter Handbook\nauthor: Bo Lin\n---\n\n"
		      "Intro text before any heading.\n\n# Habitat\n\nOtters live near rivers.\n\n"
		      "## Diet\n\nThey eat *crayfish* and **fish**.\n\n| prey | season |\n|---|---|\n"
		      "| trout | winter |\n\n# Range\n\nFrom Norway to Japan.\n");
	ok(!sh("cd %s && pandoc o.md -o o.docx && pandoc o.md -o o.odt", dir), "pandoc makes DOCX and ODT");
	static const char *const kinds[] = { "o.docx", "docx", "o.odt", "odt" };
	for (int k = 0; k < 4; k += 2) {
		struct reader_out o = rd_file(kinds[k], kinds[k]);
		const char *t = o.text.data ? o.text.data : "";
		ok(!o.fail && !strcmp(meta_str(o.meta, "reader"), kinds[k + 1]), "%s reader (%s)", kinds[k + 1], o.why);
		ok(!strcmp(meta_str(o.meta, "title"), "Otter Handbook") &&
		   !strcmp(meta_str(o.meta, "author"), "Bo Lin"), "%s: title and author from the package", kinds[k + 1]);
		ok(strstr(t, "Otters live near rivers.\n\n") && strstr(t, "They eat crayfish and fish."),
		   "%s: paragraphs, runs joined", kinds[k + 1]);
		ok(strstr(t, "trout") && strstr(t, "winter"), "%s: table cells", kinds[k + 1]);
		ok(!strcmp(heading_of(&o, "crayfish"), "Habitat > Diet"), "%s: heading path of a paragraph ('%s')",
		   kinds[k + 1], heading_of(&o, "crayfish"));
		ok(!strcmp(heading_of(&o, "Norway"), "Range"), "%s: a new top heading resets the path", kinds[k + 1]);
		ok(!section_of(&o, "Intro text"), "%s: text before the first heading has no section", kinds[k + 1]);
		ok(strstr(t, "Habitat\n\n") != NULL, "%s: the heading's own text is kept", kinds[k + 1]);
		reader_out_free(&o);
		/* By content, without the extension. */
		o = rd_file(kinds[k], "upload.bin");
		ok(!o.fail && !strcmp(meta_str(o.meta, "reader"), kinds[k + 1]), "%s recognised by content", kinds[k + 1]);
		reader_out_free(&o);
	}
}

/* Hand-written archives: structures pandoc does not write, and hostile ones. */
static void test_office_structures(void)
{
	/* Localised style ids named "heading N" in styles.xml; a direct
	 * outline level; tracked deletions, moves and the VML fallback skipped. */
	const char *const docx[] = {
		"[Content_Types].xml", CT,
		"word/styles.xml", DOCX_HEAD "<w:styles " W_NS "><w:style w:type=\"paragraph\" w:styleId=\"berschrift1\">"
			"<w:name w:val=\"heading 1\"/></w:style><w:style w:type=\"paragraph\" w:styleId=\"Custom\">"
			"<w:name w:val=\"My Custom\"/><w:pPr><w:outlineLvl w:val=\"1\"/></w:pPr></w:style></w:styles>",
		"word/document.xml", DOCX_HEAD "<w:document " W_NS " xmlns:mc=\"http://schemas.openxmlformats.org/markup-compatibility/2006\"><w:body>"
			"<w:p><w:pPr><w:pStyle w:val=\"berschrift1\"/></w:pPr><w:r><w:t>Einleitung</w:t></w:r></w:p>"
			"<w:p><w:r><w:t xml:space=\"preserve\">Kept </w:t></w:r><w:del><w:r><w:delText>deleted</w:delText></w:r></w:del>"
			"<w:r><w:t>text</w:t><w:tab/><w:t>tabbed</w:t></w:r></w:p>"
			"<w:p><w:pPr><w:pStyle w:val=\"Custom\"/></w:pPr><w:r><w:t>Unterteil</w:t></w:r></w:p>"
			"<w:p><w:r><w:t>Under sub &amp; more</w:t></w:r><w:r><mc:AlternateContent><mc:Choice><w:txbxContent><w:p><w:r><w:t>boxed</w:t></w:r></w:p></w:txbxContent></mc:Choice>"
			"<mc:Fallback><w:p><w:r><w:t>fallbackcopy</w:t></w:r></w:p></mc:Fallback></mc:AlternateContent></w:r></w:p>"
			"<w:p><w:pPr><w:outlineLvl w:val=\"0\"/></w:pPr><w:r><w:t>Direct</w:t></w:r></w:p><w:p/>"
			"<w:p><w:r><w:t>Last words</w:t></w:r></w:p></w:body></w:document>",
		"docProps/core.xml", "<?xml version=\"1.0\"?><cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" "
			"xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title> Bericht </dc:title></cp:coreProperties>",
		NULL,
	};
	ok(!make_zip("h.docx", docx), "libzip writes a DOCX");
	struct reader_out o = rd_file("h.docx", "h.docx");
	const char *t = o.text.data ? o.text.data : "";
	ok(!o.fail && !strcmp(meta_str(o.meta, "title"), "Bericht") && !cJSON_GetObjectItem(o.meta, "author"),
	   "core.xml title trimmed, no author when absent (%s)", o.why);
	ok(strstr(t, "Kept text\ttabbed") && !strstr(t, "deleted"), "tracked deletions skipped, tabs kept");
	ok(!strcmp(heading_of(&o, "Under sub"), "Einleitung > Unterteil"),
	   "headings from styles.xml names and outline levels ('%s')", heading_of(&o, "Under sub"));
	ok(strstr(t, "Under sub & more") && strstr(t, "boxed") && !strstr(t, "fallbackcopy"),
	   "text boxes read once (the VML fallback is skipped)");
	ok(!strcmp(heading_of(&o, "Last words"), "Direct"), "a paragraph's own outline level");
	reader_out_free(&o);

	const char *const odt[] = {
		"mimetype", "application/vnd.oasis.opendocument.text",
		"content.xml", "<?xml version=\"1.0\"?><office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" "
			"xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><office:body><office:text>"
			"<text:tracked-changes><text:changed-region><text:deletion><text:p>gone words</text:p></text:deletion></text:changed-region></text:tracked-changes>"
			"<text:h text:outline-level=\"2\">Deep   heading</text:h>\n  <text:p>one\n   two<text:s text:c=\"3\"/>three<text:tab/>four"
			"<office:annotation><text:p>a comment</text:p></office:annotation>"
			"<text:note><text:note-citation>1</text:note-citation><text:note-body><text:p>footnote body</text:p></text:note-body></text:note></text:p>"
			"<text:list><text:list-item><text:p>listed item</text:p></text:list-item></text:list>"
			"</office:text></office:body></office:document-content>",
		NULL,
	};
	ok(!make_zip("h.odt", odt), "libzip writes an ODT");
	o = rd_file("h.odt", "h.odt");
	t = o.text.data ? o.text.data : "";
	ok(!o.fail && strstr(t, "one two   three\tfour"), "ODT white space collapsed, text:s and text:tab kept (%s)", o.why);
	ok(!strstr(t, "gone") && !strstr(t, "comment") && strstr(t, "footnote body") && !strstr(t, "four1"),
	   "tracked changes, comments, note numbers skipped; note text kept");
	ok(!strcmp(heading_of(&o, "listed"), "Deep heading"), "outline level 2 heading ('%s')", heading_of(&o, "listed"));
	reader_out_free(&o);

	/* Refused archives: the reason is kept, nothing is indexed. */
	const char *const nodoc[] = { "[Content_Types].xml", CT, "word/other.xml", "<a/>", NULL };
	make_zip("nodoc.docx", nodoc);
	o = rd_file("nodoc.docx", "nodoc.docx");
	ok(o.fail == EINVAL && strstr(o.why, "no word/document.xml"), "no document part: '%s'", o.why);
	reader_out_free(&o);

	ok(!reader_extract("bad.docx", "not a zip at all", 16, &o) && o.fail == EINVAL &&
	   strstr(o.why, "not a zip archive"), "garbage .docx: '%s'", o.why);
	reader_out_free(&o);
	ok(!reader_extract("locked.docx", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 rest", 13, &o) &&
	   o.fail == EACCES && strstr(o.why, "encrypted"), "password-protected DOCX (OLE): '%s'", o.why);
	reader_out_free(&o);

	const char *const laughs[] = {
		"[Content_Types].xml", CT,
		"word/document.xml", "<?xml version=\"1.0\"?><!DOCTYPE w:document [<!ENTITY a \"aaaaaaaaaa\">"
			"<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
			"<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
			"<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\"><!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">"
			"<!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\"><!ENTITY i \"&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;\">]>"
			"<w:document " W_NS "><w:body><w:p><w:r><w:t>&i;</w:t></w:r></w:p></w:body></w:document>",
		NULL,
	};
	make_zip("laughs.docx", laughs);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	o = rd_file("laughs.docx", "laughs.docx");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ok(o.fail == EINVAL && strstr(o.why, "DTD") && secs < 2, "entity expansion refused in %.3f s: '%s'", secs, o.why);
	reader_out_free(&o);

	/* A zip bomb: a 66 MiB document.xml (1 MiB text runs outside any
	 * paragraph, cheap to parse) deflated to a few hundred KiB. */
	size_t run = (size_t)1 << 20, bomb_len = 66 * (run + 16) + 256;
	char *bomb = malloc(bomb_len);
	size_t at = (size_t)snprintf(bomb, bomb_len, DOCX_HEAD "<w:document " W_NS "><w:body>");
	for (int i = 0; i < 66; i++) {
		memcpy(bomb + at, "<x>", 3);
		memset(bomb + at + 3, 'a', run);
		memcpy(bomb + at + 3 + run, "</x>", 4);
		at += run + 7;
	}
	bomb[at] = '\0';
	const char *const bombz[] = { "[Content_Types].xml", CT, "word/document.xml", bomb, NULL };
	ok(!make_zip("bomb.docx", bombz), "libzip writes a zip bomb");
	free(bomb);
	size_t blen;
	char *bz = slurp("bomb.docx", &blen);
	diag("zip bomb: %zu bytes on disk", blen);
	o = (struct reader_out){ 0 };
	ok(bz && !reader_extract("bomb.docx", bz, blen, &o) && o.fail == EFBIG && strstr(o.why, "zip bomb"),
	   "a part past 64 MiB uncompressed is refused: '%s'", o.why);
	reader_out_free(&o);
	free(bz);
	/* A damaged part: one byte of document.xml's data flipped. */
	size_t hlen;
	char *hz = slurp("h.docx", &hlen);
	char *part = hz ? memmem(hz, hlen, "word/document.xml", 17) : NULL;
	if (part && part - hz >= 30) {
		const unsigned char *lh = (const unsigned char *)part - 30;
		size_t data_at = (size_t)(part - hz) + 17 + (size_t)(lh[28] | lh[29] << 8);
		hz[data_at + 40] ^= 0x55;
	}
	ok(part && !reader_extract("crc.docx", hz, hlen, &o) && o.fail == EINVAL,
	   "a damaged part: EINVAL, '%s'", o.why);
	reader_out_free(&o);
	free(hz);

	/* An archive claiming more entries than any document has. */
	char path[256];
	int err;
	snprintf(path, sizeof(path), "%s/many.docx", dir);
	zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
	for (int i = 0; z && i < 10001; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%d", i);
		zip_file_add(z, name, zip_source_buffer(z, "", 0, 0), 0);
	}
	ok(z && !zip_close(z), "libzip writes 10001 entries");
	o = rd_file("many.docx", "many.docx");
	ok(o.fail == EINVAL && strstr(o.why, "10001 entries"), "too many entries: '%s'", o.why);
	reader_out_free(&o);

	/* Not every zip is a document. */
	const char *const plain[] = { "a.txt", "hello", NULL };
	make_zip("data.zip", plain);
	size_t plen;
	char *pz = slurp("data.zip", &plen);
	ok(pz && !reader_is_document("data.zip", pz, plen), "a plain zip is not a document");
	ok(pz && reader_office_kind(NULL, pz, plen) == OFFICE_NONE, "... nor an office file");
	free(pz);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ragfs-rdocs.XXXXXX");
	if (!mkdtemp(dir))
		tap_skip_all("no temp dir");
	test_pdf();
	test_pandoc();
	test_office_structures();
	sh("rm -rf %s", dir);
	return tap_done();
}
