/* store/ingest.c - see ingest.h */
#include "ingest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "node.h"

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

int ingest_build(const struct ingest_doc *doc, const struct splitter_opts *so,
		 struct embedder *emb, struct ingest_result *r)
{
	struct split_chunk *sp = NULL;
	struct node_chunk *ch = NULL;
	size_t n = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	sha256_hex(doc->data, doc->len, r->doc_hash);
	r->doc_meta = node_doc_metadata(doc->path, doc->len, doc->ctime_ns, doc->mtime_ns);
	if (!r->doc_meta)
		return -ENOMEM;
	r->is_text = text_is_probably_text(doc->data, doc->len);
	if (!r->is_text)
		return 0;
	rc = splitter_split(so, doc->data, doc->len, &sp, &n);
	if (rc || !n)
		goto out;
	ch = calloc(n, sizeof(*ch));
	r->nodes = calloc(n, sizeof(*r->nodes));
	if (!ch || !r->nodes) {
		rc = -ENOMEM;
		goto out;
	}
	/* Chunk starts and ends only move forward: count code points
	 * incrementally instead of from the start of the text each time. */
	struct char_cursor start = { 0, 0 }, end = { 0, 0 };
	for (size_t i = 0; i < n; i++) {
		uuid4(ch[i].id);
		ch[i].text = doc->data + sp[i].start;
		ch[i].text_len = sp[i].end - sp[i].start;
		ch[i].start_char = cursor_advance(&start, doc->data, sp[i].start);
		ch[i].end_char = cursor_advance(&end, doc->data, sp[i].end);
	}
	rc = node_build_doc_nodes(ch, n, doc->path, r->doc_hash, r->doc_meta, r->nodes);
	if (rc)
		goto out;
	r->n = n;
	if (emb)
		rc = embed_chunks(emb, ch, n, r);
out:
	free(sp);
	free(ch);
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
