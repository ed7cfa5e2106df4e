/* store/manifest.c - see manifest.h */
#include "manifest.h"
#include "jsonutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_u64(const cJSON *o, const char *name, uint64_t *v)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
	/* Out-of-range doubles do not convert to uint64_t (undefined
	 * behaviour): refuse them, and fractions, before the cast. */
	if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0) ||
	    it->valuedouble >= 18446744073709551616.0 ||
	    it->valuedouble != floor(it->valuedouble))
		return -EBADMSG;
	*v = (uint64_t)it->valuedouble;
	return 0;
}

/* 1 when s is valid UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF): what the renderer writes back unchanged. */
static int utf8_valid(const unsigned char *s)
{
	while (*s) {
		unsigned c = *s++, n, cp, min;
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07, min = 0x10000;
		else
			return 0;
		for (; n; n--, s++) {
			if ((*s & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (*s & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
	}
	return 1;
}

/* A string field; refused unless it would render back as it is (a segment
 * key that changed on the way out would name another object). */
static int get_str(const cJSON *o, const char *name, char *dst, size_t len)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!cJSON_IsString(it) || strlen(it->valuestring) >= len ||
	    !utf8_valid((const unsigned char *)it->valuestring))
		return -EBADMSG;
	memcpy(dst, it->valuestring, strlen(it->valuestring) + 1);
	return 0;
}

static int parse_segs(const cJSON *arr, struct manifest *m)
{
	const cJSON *it;
	if (!cJSON_IsArray(arr))
		return -EBADMSG;
	cJSON_ArrayForEach(it, arr) {
		struct manifest_seg s = { 0 };
		if (get_str(it, "key", s.key, sizeof(s.key)) || get_u64(it, "size", &s.size) ||
		    get_u64(it, "first_seq", &s.first_seq) ||
		    get_u64(it, "last_seq", &s.last_seq))
			return -EBADMSG;
		if (cJSON_GetObjectItemCaseSensitive(it, "writer") &&
		    get_str(it, "writer", s.writer, sizeof(s.writer)))
			return -EBADMSG;
		const cJSON *vb = cJSON_GetObjectItemCaseSensitive(it, "vector_block");
		if (vb && !cJSON_IsBool(vb))
			return -EBADMSG;
		s.vector_block = cJSON_IsTrue(vb);
		if (manifest_add_seg(m, &s))
			return -ENOMEM;
	}
	return 0;
}

/* "writers" is optional (stores from before it have one writer). */
static int parse_writers(const cJSON *arr, struct manifest *m)
{
	const cJSON *it;
	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr))
		return -EBADMSG;
	cJSON_ArrayForEach(it, arr) {
		struct manifest_writer w = { 0 };
		if (get_str(it, "id", w.id, sizeof(w.id)) || get_u64(it, "last_seq", &w.last_seq))
			return -EBADMSG;
		if (manifest_set_writer_seq(m, w.id, w.last_seq))
			return -ENOMEM;
	}
	return 0;
}

int manifest_parse(const char *json, size_t len, struct manifest *m, char *err,
		   size_t errlen)
{
	uint64_t version, dim;
	int rc = -EBADMSG;
	memset(m, 0, sizeof(*m));
	cJSON *root = cJSON_ParseWithLength(json, len);
	if (!root) {
		snprintf(err, errlen, "manifest is not JSON");
		return -EBADMSG;
	}
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
	if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "ragfs-store")) {
		snprintf(err, errlen, "manifest is not a ragfs store manifest");
		goto out;
	}
	if (get_u64(root, "version", &version) || version > MANIFEST_VERSION) {
		snprintf(err, errlen, "manifest version is newer than this ragfs (%d)",
			 MANIFEST_VERSION);
		goto out;
	}
	if (get_u64(root, "generation", &m->generation) ||
	    get_u64(root, "last_seq", &m->last_seq) ||
	    get_str(root, "store_id", m->store_id, sizeof(m->store_id)) ||
	    get_str(root, "index_id", m->index_id, sizeof(m->index_id)) ||
	    get_u64(root, "dim", &dim) || dim > 65536 ||
	    get_str(root, "embed", m->embed, sizeof(m->embed)) ||
	    parse_segs(cJSON_GetObjectItemCaseSensitive(root, "segments"), m) ||
	    parse_writers(cJSON_GetObjectItemCaseSensitive(root, "writers"), m)) {
		snprintf(err, errlen, "manifest has a missing or malformed field");
		goto out;
	}
	m->dim = (uint32_t)dim;
	rc = 0;
out:
	cJSON_Delete(root);
	if (rc)
		manifest_clear(m);
	return rc;
}

/* "name": "value" with the value escaped (ids come from parsed files). */
static int add_str_field(struct buf *out, const char *name, const char *val)
{
	int rc = buf_addf(out, ", \"%s\": ", name);
	return rc ? rc : json_str_out(val, out);
}

int manifest_render(const struct manifest *m, struct buf *out)
{
	int version = 1;
	for (size_t i = 0; i < m->nsegs; i++)
		if (m->segs[i].vector_block)
			version = 2;
	int rc = buf_addf(out,
			  "{\"format\": \"ragfs-store\", \"version\": %d, \"generation\": %" PRIu64
			  ", \"last_seq\": %" PRIu64, version, m->generation, m->last_seq);
	if (!rc)
		rc = add_str_field(out, "store_id", m->store_id);
	if (!rc)
		rc = add_str_field(out, "index_id", m->index_id);
	if (!rc)
		rc = buf_addf(out, ", \"dim\": %u", m->dim);
	if (!rc)
		rc = add_str_field(out, "embed", m->embed);
	if (!rc)
		rc = buf_adds(out, ", \"writers\": [");
	for (size_t i = 0; i < m->nwriters && !rc; i++) {
		rc = buf_adds(out, i ? ", {\"id\": " : "{\"id\": ");
		if (!rc)
			rc = json_str_out(m->writers[i].id, out);
		if (!rc)
			rc = buf_addf(out, ", \"last_seq\": %" PRIu64 "}", m->writers[i].last_seq);
	}
	if (!rc)
		rc = buf_adds(out, "], \"segments\": [");
	for (size_t i = 0; i < m->nsegs && !rc; i++) {
		const struct manifest_seg *sg = &m->segs[i];
		rc = buf_adds(out, i ? ",\n  {\"key\": " : "\n  {\"key\": ");
		if (!rc)
			rc = json_str_out(sg->key, out);
		if (!rc)
			rc = buf_addf(out,
				      ", \"size\": %" PRIu64 ", \"first_seq\": %" PRIu64
				      ", \"last_seq\": %" PRIu64 ", \"writer\": ",
				      sg->size, sg->first_seq, sg->last_seq);
		if (!rc)
			rc = json_str_out(sg->writer, out);
		if (!rc && sg->vector_block)
			rc = buf_adds(out, ", \"vector_block\": true");
		if (!rc)
			rc = buf_addc(out, '}');
	}
	return rc ? rc : buf_adds(out, "]}\n");
}

int manifest_add_seg(struct manifest *m, const struct manifest_seg *s)
{
	struct manifest_seg *n = realloc(m->segs, (m->nsegs + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	m->segs = n;
	m->segs[m->nsegs++] = *s;
	return 0;
}

int manifest_copy(struct manifest *dst, const struct manifest *src)
{
	*dst = *src;
	dst->segs = NULL;
	dst->writers = NULL;
	if (src->nsegs)
		dst->segs = malloc(src->nsegs * sizeof(*dst->segs));
	if (src->nwriters)
		dst->writers = malloc(src->nwriters * sizeof(*dst->writers));
	if ((src->nsegs && !dst->segs) || (src->nwriters && !dst->writers)) {
		manifest_clear(dst);
		return -ENOMEM;
	}
	if (src->nsegs)
		memcpy(dst->segs, src->segs, src->nsegs * sizeof(*dst->segs));
	if (src->nwriters)
		memcpy(dst->writers, src->writers, src->nwriters * sizeof(*dst->writers));
	return 0;
}

void manifest_clear(struct manifest *m)
{
	free(m->segs);
	free(m->writers);
	memset(m, 0, sizeof(*m));
}

void manifest_seg_key(char *key, size_t len, const char *writer, uint64_t first_seq,
		      uint64_t last_seq)
{
	snprintf(key, len, "segments/%.8s-%016" PRIx64 "-%016" PRIx64 ".seg", writer, first_seq,
		 last_seq);
}

uint64_t manifest_writer_seq(const struct manifest *m, const char *writer)
{
	for (size_t i = 0; i < m->nwriters; i++)
		if (!strcmp(m->writers[i].id, writer))
			return m->writers[i].last_seq;
	return m->nwriters ? 0 : m->last_seq;
}

int manifest_set_writer_seq(struct manifest *m, const char *writer, uint64_t seq)
{
	if (seq > m->last_seq)
		m->last_seq = seq;
	for (size_t i = 0; i < m->nwriters; i++)
		if (!strcmp(m->writers[i].id, writer)) {
			m->writers[i].last_seq = seq;
			return 0;
		}
	struct manifest_writer *w = realloc(m->writers, (m->nwriters + 1) * sizeof(*w));
	if (!w)
		return -ENOMEM;
	m->writers = w;
	memset(&w[m->nwriters], 0, sizeof(*w));
	snprintf(w[m->nwriters].id, sizeof(w->id), "%s", writer);
	w[m->nwriters++].last_seq = seq;
	return 0;
}

const struct manifest_seg *manifest_find_seg(const struct manifest *m, const char *key)
{
	for (size_t i = 0; i < m->nsegs; i++)
		if (!strcmp(m->segs[i].key, key))
			return &m->segs[i];
	return NULL;
}
