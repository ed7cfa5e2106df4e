/* store/node.c - see node.h */
#include "node.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"

static const char *mime_of(const char *name)
{
	static const struct {
		const char *ext, *mime;
	} map[] = {
		{ ".txt", "text/plain" },    { ".md", "text/markdown" },
		{ ".markdown", "text/markdown" }, { ".html", "text/html" },
		{ ".htm", "text/html" },     { ".json", "application/json" },
		{ ".csv", "text/csv" },      { ".xml", "application/xml" },
		{ ".c", "text/x-c" },        { ".h", "text/x-c" },
		{ ".py", "text/x-python" },  { ".js", "text/javascript" },
		{ ".ts", "text/x-typescript" }, { ".rs", "text/x-rust" },
		{ ".go", "text/x-go" },      { ".java", "text/x-java" },
		{ ".sh", "text/x-shellscript" }, { ".yaml", "application/yaml" },
		{ ".yml", "application/yaml" }, { ".rst", "text/x-rst" },
		{ ".pdf", "application/pdf" },
		{ ".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
		{ ".odt", "application/vnd.oasis.opendocument.text" },
	};
	const char *dot = strrchr(name, '.');
	for (size_t i = 0; dot && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcasecmp(dot, map[i].ext))
			return map[i].mime;
	return "text/plain";
}

cJSON *node_doc_metadata(const char *path, uint64_t size, int64_t ctime_ns,
			 int64_t mtime_ns)
{
	char c[11], m[11];
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	cJSON *o = cJSON_CreateObject();
	date_ymd(ctime_ns, c);
	date_ymd(mtime_ns, m);
	if (!o || !cJSON_AddStringToObject(o, "file_path", path) ||
	    !cJSON_AddStringToObject(o, "file_name", name) ||
	    !cJSON_AddStringToObject(o, "file_type", mime_of(name)) ||
	    !cJSON_AddNumberToObject(o, "file_size", (double)size) ||
	    !cJSON_AddStringToObject(o, "creation_date", c) ||
	    !cJSON_AddStringToObject(o, "last_modified_date", m)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

void node_hash(const char *text, const cJSON *metadata, char out[65])
{
	struct buf b = BUF_INIT;
	buf_adds(&b, text);
	py_repr(metadata, &b);
	sha256_hex(b.data ? b.data : "", b.len, out);
	buf_release(&b);
}

/* RelatedNodeInfo {node_id, node_type, metadata, hash, class_name}. */
static cJSON *related(const char *id, const char *type, const cJSON *meta, const char *hash)
{
	cJSON *r = cJSON_CreateObject();
	if (!r)
		return NULL;
	cJSON_AddStringToObject(r, "node_id", id);
	cJSON_AddStringToObject(r, "node_type", type);
	cJSON_AddItemToObject(r, "metadata",
			      meta ? cJSON_Duplicate(meta, 1) : cJSON_CreateObject());
	cJSON_AddStringToObject(r, "hash", hash);
	cJSON_AddStringToObject(r, "class_name", "RelatedNodeInfo");
	return r;
}

static cJSON *excluded_keys(void)
{
	static const char *const keys[] = { "file_name", "file_type", "file_size",
					    "creation_date", "last_modified_date",
					    "last_accessed_date" };
	return cJSON_CreateStringArray(keys, 6);
}

static cJSON *build_one(const struct node_chunk *ch, const struct node_chunk *prev,
			const struct node_chunk *next, const char *doc_id,
			const char *doc_hash, const cJSON *doc_meta)
{
	cJSON *n = cJSON_CreateObject();
	cJSON *rel = cJSON_CreateObject();
	if (!n || !rel)
		goto fail;
	cJSON_AddStringToObject(n, "id_", ch->id);
	cJSON_AddNullToObject(n, "embedding");
	cJSON_AddItemToObject(n, "metadata", cJSON_Duplicate(ch->meta ? ch->meta : doc_meta, 1));
	cJSON_AddItemToObject(n, "excluded_embed_metadata_keys", excluded_keys());
	cJSON_AddItemToObject(n, "excluded_llm_metadata_keys", excluded_keys());
	cJSON_AddItemToObject(rel, "1", related(doc_id, "4", doc_meta, doc_hash));
	if (prev)
		cJSON_AddItemToObject(rel, "2", related(prev->id, "1", doc_meta, prev->hash));
	if (next)
		cJSON_AddItemToObject(rel, "3", related(next->id, "1", NULL, next->hash));
	cJSON_AddItemToObject(n, "relationships", rel);
	rel = NULL;
	cJSON_AddStringToObject(n, "metadata_template", "{key}: {value}");
	cJSON_AddStringToObject(n, "metadata_separator", "\n");
	char *text = strndup(ch->text, ch->text_len);
	if (!text)
		goto fail;
	cJSON_AddStringToObject(n, "text", text);
	free(text);
	cJSON_AddStringToObject(n, "mimetype", "text/plain");
	cJSON_AddNumberToObject(n, "start_char_idx", (double)ch->start_char);
	cJSON_AddNumberToObject(n, "end_char_idx", (double)ch->end_char);
	cJSON_AddStringToObject(n, "metadata_seperator", "\n");
	cJSON_AddStringToObject(n, "text_template", "{metadata_str}\n\n{content}");
	if (!cJSON_AddStringToObject(n, "class_name", "TextNode"))
		goto fail;
	return n;
fail:
	cJSON_Delete(rel);
	cJSON_Delete(n);
	return NULL;
}

int node_build_doc_nodes(struct node_chunk *chunks, size_t n, const char *doc_id,
			 const char *doc_hash, const cJSON *doc_meta, cJSON **out)
{
	for (size_t i = 0; i < n; i++) {
		char *text = strndup(chunks[i].text, chunks[i].text_len);
		if (!text)
			return -ENOMEM;
		node_hash(text, chunks[i].meta ? chunks[i].meta : doc_meta, chunks[i].hash);
		free(text);
	}
	for (size_t i = 0; i < n; i++) {
		out[i] = build_one(&chunks[i], i ? &chunks[i - 1] : NULL,
				   i + 1 < n ? &chunks[i + 1] : NULL, doc_id, doc_hash, doc_meta);
		if (!out[i]) {
			while (i--)
				cJSON_Delete(out[i]);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Set every key of from in obj's object member name (made when missing). */
static int set_keys(cJSON *obj, const char *name, const cJSON *from)
{
	cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
	const cJSON *it;
	if (!cJSON_IsObject(m)) {
		cJSON *dup = cJSON_Duplicate(from, 1);
		if (!dup)
			return -ENOMEM;
		if (m)
			cJSON_ReplaceItemInObjectCaseSensitive(obj, name, dup);
		else
			cJSON_AddItemToObject(obj, name, dup);
		return 0;
	}
	cJSON_ArrayForEach(it, from) {
		cJSON *v = cJSON_Duplicate(it, 1);
		if (!v)
			return -ENOMEM;
		if (cJSON_GetObjectItemCaseSensitive(m, it->string))
			cJSON_ReplaceItemInObjectCaseSensitive(m, it->string, v);
		else
			cJSON_AddItemToObject(m, it->string, v);
	}
	return 0;
}

int node_set_source(cJSON *node, const char *doc_id, const cJSON *new_meta)
{
	if (set_keys(node, "metadata", new_meta))
		return -ENOMEM;
	cJSON *rel = cJSON_GetObjectItemCaseSensitive(node, "relationships");
	cJSON *src = cJSON_GetObjectItemCaseSensitive(rel, "1");
	if (!cJSON_IsObject(src))
		return 0;
	cJSON *id = cJSON_CreateString(doc_id);
	if (!id)
		return -ENOMEM;
	if (cJSON_GetObjectItemCaseSensitive(src, "node_id"))
		cJSON_ReplaceItemInObjectCaseSensitive(src, "node_id", id);
	else
		cJSON_AddItemToObject(src, "node_id", id);
	return set_keys(src, "metadata", new_meta);
}

int node_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	return n >= 1 && n <= 200 && !strchr(id, '/') && strcmp(id, ".") && strcmp(id, "..");
}

static int take_embedding(cJSON *node, float **emb, size_t *emb_len, char *err,
			  size_t errlen)
{
	cJSON *e = cJSON_GetObjectItemCaseSensitive(node, "embedding");
	const cJSON *it;
	size_t i = 0;
	*emb = NULL;
	*emb_len = 0;
	if (!e || cJSON_IsNull(e))
		return 0;
	if (!cJSON_IsArray(e)) {
		snprintf(err, errlen, "\"embedding\" is not a list of numbers");
		return -EINVAL;
	}
	size_t n = (size_t)cJSON_GetArraySize(e);
	float *v = malloc((n ? n : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	cJSON_ArrayForEach(it, e) {
		if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) ||
		    !isfinite((float)it->valuedouble)) {
			free(v);
			snprintf(err, errlen, "\"embedding\" value %zu is not a finite number", i);
			return -EINVAL;
		}
		v[i++] = (float)it->valuedouble;
	}
	cJSON_ReplaceItemInObjectCaseSensitive(node, "embedding", cJSON_CreateNull());
	*emb = v;
	*emb_len = n;
	return 0;
}

int node_too_deep(const char *p, size_t n)
{
	int depth = 0, in_str = 0;
	for (size_t i = 0; i < n; i++) {
		if (in_str) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				in_str = 0;
		} else if (p[i] == '"') {
			in_str = 1;
		} else if ((p[i] == '{' || p[i] == '[') && ++depth > NODE_MAX_DEPTH) {
			return 1;
		} else if (p[i] == '}' || p[i] == ']') {
			depth--;
		}
	}
	return 0;
}

int node_parse_user(const char *json, size_t len, const char *expect_id, cJSON **node,
		    float **emb, size_t *emb_len, char *err, size_t errlen)
{
	*node = NULL;
	if (node_too_deep(json, len)) {
		snprintf(err, errlen, "nests deeper than %d levels (its exports could not "
			 "be read back)", NODE_MAX_DEPTH);
		return -EINVAL;
	}
	cJSON *root = json_parse(json, len);
	if (!root) {
		snprintf(err, errlen, "not valid JSON");
		return -EINVAL;
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "not a JSON object");
		goto bad;
	}
	cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "__data__");
	if (cJSON_IsObject(data)) {
		cJSON *inner = cJSON_DetachItemViaPointer(root, data);
		cJSON_Delete(root);
		root = inner;
	}
	const char *id = json_str(root, "id_");
	if (!id) {
		snprintf(err, errlen, "node has no string \"id_\"");
		goto bad;
	}
	if (strcmp(id, expect_id)) {
		snprintf(err, errlen, "node id \"%.100s\" does not match the file name", id);
		goto bad;
	}
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text");
	if (text && !cJSON_IsString(text) && !cJSON_IsNull(text)) {
		snprintf(err, errlen, "\"text\" is not a string");
		goto bad;
	}
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
	if (meta && !cJSON_IsObject(meta)) {
		snprintf(err, errlen, "\"metadata\" is not an object");
		goto bad;
	}
	int rc = take_embedding(root, emb, emb_len, err, errlen);
	if (rc) {
		cJSON_Delete(root);
		return rc;
	}
	*node = root;
	return 0;
bad:
	cJSON_Delete(root);
	return -EINVAL;
}

const char *node_id(const cJSON *node)
{
	return json_str(node, "id_");
}

const char *node_text(const cJSON *node)
{
	return json_str(node, "text");
}

const char *node_ref_doc_id(const cJSON *node)
{
	const cJSON *rel = cJSON_GetObjectItemCaseSensitive(node, "relationships");
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(rel, "1");
	return json_str(src, "node_id");
}

const cJSON *node_metadata(const cJSON *node)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(node, "metadata");
	return cJSON_IsObject(m) ? m : NULL;
}
