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
 *   anything else   text as is
 *
 * Every document also gets metadata "reader" naming the reader used.
 * Ingest splits each section on its own, so no chunk spans a heading.
 * Pure functions; thread safe.
 */
#ifndef STORE_READER_H
#define STORE_READER_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "buf.h"

struct reader_section {
	size_t start;  /* byte offset in text where the section begins */
	char *heading; /* "H1 > H2 > H3" (owned) */
};

struct reader_out {
	struct buf text;   /* what to split and embed */
	cJSON *meta;       /* extra document metadata (owned object) */
	struct reader_section *sections; /* ascending start (owned) */
	size_t nsections;
};

/* Extract from data[0..len) of document path. The caller has already checked
 * that the bytes are text. 0 or -ENOMEM. */
int reader_extract(const char *path, const char *data, size_t len, struct reader_out *out);
void reader_out_free(struct reader_out *out);

/* The heading path in force at byte offset off, or NULL. */
const char *reader_section_at(const struct reader_out *out, size_t off);

#endif
