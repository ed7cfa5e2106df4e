/* store/reader.h - turn a document's bytes into the text that is split and
 * indexed, plus metadata, by content and extension (LlamaIndex's file
 * readers, in spirit):
 *
 *   .md .markdown   text as is; each ATX heading ("# ...") opens a section
 *                   whose path ("Intro > Setup") goes into node metadata
 *                   "section"
 *   .html .htm (or content starting with <!doctype html / <html)
 *                   tags dropped, script/style/noscript/head content skipped,
 *                   block tags become line breaks, entities decoded;
 *                   <title> -> metadata "title"; <h1>..<h6> open sections
 *   .json           a LlamaIndex Document ({"text": ..., "metadata": {...}})
 *                   gives its text and metadata; any other JSON is text
 *   .csv            one line per row, "header: value, header: value"
 *   source code     text as is, metadata "language" (by extension)
 *   .pdf (or content starting %PDF-)
 *                   text per page (reader_pdf.c: ragfs-pdftext, poppler in
 *                   a process of its own); each page is a section with node metadata
 *                   "page_label" and "page"; "title", "author", "total_pages"
 *   .docx .odt (or a zip holding word/document.xml / an ODF text package)
 *                   text by paragraph (reader_office.c); headings open
 *                   sections as in Markdown; "title", "author"
 *   anything else   text as is
 *
 * Every document also gets metadata "reader" naming the reader used.
 * Ingest splits each section on its own, so no chunk spans a heading.
 * A PDF/DOCX/ODT that cannot be read (damaged, encrypted, too big) sets
 * fail and why: the document is stored, not indexed, and why is logged.
 * Pure functions; thread safe.
 */
#ifndef STORE_READER_H
#define STORE_READER_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "buf.h"

struct reader_section {
	size_t start;  /* byte offset in text where the section begins */
	char *heading; /* "H1 > H2 > H3" (owned), or NULL */
	cJSON *meta;   /* extra node metadata, e.g. a PDF page (owned), or NULL */
};

struct reader_out {
	struct buf text;   /* what to split and embed */
	cJSON *meta;       /* extra document metadata (owned object) */
	struct reader_section *sections; /* ascending start (owned) */
	size_t nsections;
	int fail;          /* 0, or a positive errno: unreadable, not indexed */
	char why[240];     /* the reason when fail */
};

/* 1 when the document is a binary format a reader extracts text from (PDF,
 * DOCX, ODT), by content or extension: it is read though it is not text. */
int reader_is_document(const char *path, const char *data, size_t len);

/* Extract from data[0..len) of document path. The caller has already checked
 * that the bytes are text, or reader_is_document. 0 or -ENOMEM (an
 * unreadable document is 0 with out->fail set and no text). */
int reader_extract(const char *path, const char *data, size_t len, struct reader_out *out);
void reader_out_free(struct reader_out *out);

/* The heading path in force at byte offset off, or NULL. */
const char *reader_section_at(const struct reader_out *out, size_t off);
/* The section holding byte offset off, or NULL before the first. */
const struct reader_section *reader_section_find(const struct reader_out *out, size_t off);

#endif
