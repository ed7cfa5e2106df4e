/* store/reader_int.h - what reader.c shares with the readers of binary
 * document formats (reader_pdf.c: PDF; reader_office.c: DOCX and ODT).
 *
 * A format reader fills a reader_out (reader.h) that reader_extract has
 * zeroed and given a metadata object: text, sections (a heading path and/or
 * extra node metadata such as a PDF page), document metadata. A document
 * it cannot read is not an error of the call: it sets o->fail and o->why
 * with reader_fail and returns 0, and the document is stored, not indexed.
 * Only a failed allocation is returned (-ENOMEM).
 */
#ifndef STORE_READER_INT_H
#define STORE_READER_INT_H

#include <stddef.h>

#include "reader.h"

/* The most text a format reader extracts from one document, and the most
 * uncompressed bytes it reads from one part of a zip archive (zip bombs). */
#define READER_MAX_TEXT ((size_t)64 << 20)

#define READER_DEPTH 6 /* heading levels */

/* The heading path in force while a document is read. */
struct reader_heads {
	char *h[READER_DEPTH];
};

/* Set the heading at level (1-based, clamped to READER_DEPTH), drop deeper
 * ones and open a section at text offset at. 0 or -ENOMEM. */
int reader_heading(struct reader_out *o, struct reader_heads *hs, int level,
		   const char *title, size_t tlen, size_t at);
void reader_heads_clear(struct reader_heads *hs);

/* Open a section at text offset at with extra node metadata meta (taken
 * over, freed on error). 0 or -ENOMEM. */
int reader_section_meta(struct reader_out *o, size_t at, cJSON *meta);

/* Mark the document unreadable: err is a positive errno, the reason goes to
 * errors.log. The text read so far is dropped. Returns 0. */
int reader_fail(struct reader_out *o, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ------------------------------------------------ reader_pdf.c */

/* 1 when the document is a PDF: it starts "%PDF-", or has a .pdf
 * extension (ext may be NULL). */
int reader_pdf_is(const char *ext, const char *data, size_t len);
/* One section per page with node metadata page_label and page; text from
 * ragfs-pdftext run in a process of its own. */
int reader_pdf(const char *data, size_t len, struct reader_out *o);
/* Limits of the PDF reader's process (ragfs-pdftext): wall-clock time and
 * address space beyond what it has mapped (0: the defaults, 120 s and
 * 1 GiB). For tests. */
void reader_pdf_set_limits(unsigned timeout_ms, size_t mem_bytes);

/* ------------------------------------------------ reader_office.c */

enum office_kind { OFFICE_NONE, OFFICE_DOCX, OFFICE_ODT };

/* By extension (.docx, .odt), else by content (a zip holding
 * word/document.xml, or an ODF package whose mimetype is text). */
enum office_kind reader_office_kind(const char *ext, const char *data, size_t len);
/* Paragraph text; headings open sections; title and author from
 * docProps/core.xml or meta.xml. */
int reader_office(enum office_kind kind, const char *data, size_t len, struct reader_out *o);

#endif
