/* store/ingest.c - see ingest.h */
#include "ingest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "node.h"
#include "reader.h"

static int embed_chunks(struct embedder *emb, const struct node_chunk *ch, size_t n,
			struct ingest_result *r)
{
	const char **texts = malloc(n * sizeof(*texts));
	size_t *lens = malloc(n * sizeof(*lens));
	float *v = malloc((size_t)n * emb->dim * sizeof(*v));
	int rc = -ENOMEM;
	if (texts && lens && v) {
		for (size_t i = 0; i < n; i++) {
			texts[i] = ch[i].text;
			lens[i] = ch[i].text_len;
		}
		rc = embedder_embed(emb, texts, lens, n, v);
	}
	free(texts);
	free(lens);
	if (rc) {
		free(v);
		r->embed_err = rc;
		return rc == -ENOMEM ? rc : 0;
	}
	r->vectors = v;
	return 0;
}

struct char_cursor {
	size_t byte, chars;
};

static size_t cursor_advance(struct char_cursor *c, const char *text, size_t byte)
{
	if (byte < c->byte) /* not expected; stay correct anyway */
		*c = (struct char_cursor){ 0, 0 };
	c->chars += utf8_char_index(text + c->byte, byte - c->byte);
	c->byte = byte;
	return c->chars;
}

/* Reader metadata joins the document's (file_* keys stay the reader's
 * only when the document does not set them). */
static void merge_meta(cJSON *doc_meta, const cJSON *extra)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, extra) {
		if (!cJSON_GetObjectItemCaseSensitive(doc_meta, it->string))
			cJSON_AddItemToObject(doc_meta, it->string, cJSON_Duplicate(it, 1));
	}
}

/* Per-node metadata for chunks inside a section: a heading path, and the
 * section's own metadata (a PDF page). */
static int section_meta(const struct reader_out *ro, const cJSON *doc_meta,
			struct node_chunk *ch, size_t start, cJSON **owned)
{
	const struct reader_section *sec = reader_section_find(ro, start);
	const cJSON *it;
	*owned = NULL;
	if (!sec || (!sec->heading && !sec->meta))
		return 0;
	*owned = cJSON_Duplicate(doc_meta, 1);
	if (!*owned || (sec->heading && !cJSON_AddStringToObject(*owned, "section", sec->heading)))
		return -ENOMEM;
	cJSON_ArrayForEach(it, sec->meta) {
		cJSON *dup = cJSON_Duplicate(it, 1);
		if (!dup)
			return -ENOMEM;
		cJSON_DeleteItemFromObjectCaseSensitive(*owned, it->string);
		cJSON_AddItemToObject(*owned, it->string, dup);
	}
	ch->meta = *owned;
	return 0;
}

/* Split each section (the text between headings) on its own, so that no
 * chunk spans a heading: the Markdown/HTML-aware mode. Without sections
 * this is one plain split. */
static int split_sections(const struct splitter_opts *so, const struct reader_out *ro,
			  struct split_chunk **out, size_t *n)
{
	size_t nb = ro->nsections + 1, total = 0;
	*out = NULL;
	*n = 0;
	for (size_t b = 0; b < nb; b++) {
		size_t start = b ? ro->sections[b - 1].start : 0;
		size_t end = b < ro->nsections ? ro->sections[b].start : ro->text.len;
		struct split_chunk *part;
		size_t np;
		if (end <= start)
			continue;
		int rc = splitter_split(so, ro->text.data + start, end - start, &part, &np);
		if (rc)
			return rc;
		struct split_chunk *all = np ? realloc(*out, (total + np) * sizeof(*all)) : *out;
		if (!all) {
			free(part);
			return -ENOMEM;
		}
		for (size_t i = 0; i < np; i++)
			all[total + i] = (struct split_chunk){ part[i].start + start,
							       part[i].end + start };
		free(part);
		*out = all;
		total += np;
	}
	*n = total;
	return 0;
}

int ingest_build(const struct ingest_doc *doc, const struct splitter_opts *so,
		 struct embedder *emb, struct ingest_result *r)
{
	struct split_chunk *sp = NULL;
	struct node_chunk *ch = NULL;
	struct reader_out ro = { .text = BUF_INIT };
	cJSON **metas = NULL;
	size_t n = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	sha256_hex(doc->data, doc->len, r->doc_hash);
	r->doc_meta = node_doc_metadata(doc->path, doc->len, doc->ctime_ns, doc->mtime_ns);
	if (!r->doc_meta)
		return -ENOMEM;
	/* PDF, DOCX, ODT: binary, yet a reader extracts their text. */
	r->is_text = reader_is_document(doc->path, doc->data, doc->len) ||
		     text_is_probably_text(doc->data, doc->len);
	if (!r->is_text)
		return 0;
	rc = reader_extract(doc->path, doc->data, doc->len, &ro);
	if (rc)
		goto out;
	if (ro.fail) { /* stored, not indexed; the caller logs why */
		r->is_text = 0;
		r->read_err = ro.fail;
		snprintf(r->read_why, sizeof(r->read_why), "%s", ro.why);
		goto out;
	}
	merge_meta(r->doc_meta, ro.meta);
	rc = split_sections(so, &ro, &sp, &n);
	if (rc || !n)
		goto out;
	ch = calloc(n, sizeof(*ch));
	metas = calloc(n, sizeof(*metas));
	r->nodes = calloc(n, sizeof(*r->nodes));
	if (!ch || !metas || !r->nodes) {
		rc = -ENOMEM;
		goto out;
	}
	/* Chunk starts and ends only move forward: count code points
	 * incrementally instead of from the start of the text each time. */
	struct char_cursor start = { 0, 0 }, end = { 0, 0 };
	const char *text = ro.text.data;
	for (size_t i = 0; i < n && !rc; i++) {
		uuid4(ch[i].id);
		ch[i].text = text + sp[i].start;
		ch[i].text_len = sp[i].end - sp[i].start;
		ch[i].start_char = cursor_advance(&start, text, sp[i].start);
		ch[i].end_char = cursor_advance(&end, text, sp[i].end);
		rc = section_meta(&ro, r->doc_meta, &ch[i], sp[i].start, &metas[i]);
	}
	if (rc)
		goto out;
	rc = node_build_doc_nodes(ch, n, doc->path, r->doc_hash, r->doc_meta, r->nodes);
	if (rc)
		goto out;
	r->n = n;
	if (emb)
		rc = embed_chunks(emb, ch, n, r);
out:
	for (size_t i = 0; metas && i < n; i++)
		cJSON_Delete(metas[i]);
	free(metas);
	free(sp);
	free(ch);
	reader_out_free(&ro);
	if (rc)
		ingest_result_free(r);
	return rc;
}

void ingest_result_free(struct ingest_result *r)
{
	if (r->nodes)
		for (size_t i = 0; i < r->n; i++)
			cJSON_Delete(r->nodes[i]);
	free(r->nodes);
	free(r->vectors);
	cJSON_Delete(r->doc_meta);
	memset(r, 0, sizeof(*r));
}
