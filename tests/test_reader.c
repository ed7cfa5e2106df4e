/* Unit tests: store/reader.c - markdown sections, HTML text, JSON Documents,
 * CSV rows, source code language. */
#include <string.h>

#include "store/reader.h"
#include "tests/tap.h"

static struct reader_out rd(const char *path, const char *text)
{
	struct reader_out o;
	if (reader_extract(path, text, strlen(text), &o))
		memset(&o, 0, sizeof(o));
	return o;
}

static const char *meta_str(const struct reader_out *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o->meta, key);
	return cJSON_IsString(it) ? it->valuestring : "";
}

int main(void)
{
	struct reader_out o = rd("notes/a.md", "intro\n# Setup\ntext one\n## Keys\n```\n# not a heading\n```\nkeys here\n# Use\nrun it\n");
	ok(o.text.len && !strcmp(meta_str(&o, "reader"), "markdown"), "markdown reader");
	is_int(o.nsections, 3, "three headings, the fenced '#' line is code");
	ok(!reader_section_at(&o, 0), "text before the first heading has no section");
	const char *keys = strstr(o.text.data, "keys here");
	ok(keys && !strcmp(reader_section_at(&o, (size_t)(keys - o.text.data)), "Setup > Keys"),
	   "section path nests headings");
	const char *use = strstr(o.text.data, "run it");
	ok(use && !strcmp(reader_section_at(&o, (size_t)(use - o.text.data)), "Use"),
	   "a new level-1 heading resets the path");
	reader_out_free(&o);

	o = rd("page.html", "<!DOCTYPE html><html><head><title>My &amp; Page</title>"
			    "<style>body{color:red}</style><script>var x = '<p>no</p>';</script>"
			    "</head><body><h1>Top</h1><p>Hello&nbsp;<b>bold</b> &lt;world&gt; &#233;"
			    "&#x263A;</p><!-- hidden --><h2>Sub</h2><div>More   text</div></body></html>");
	ok(!strcmp(meta_str(&o, "title"), "My & Page"), "HTML title into metadata");
	ok(o.text.data && !strstr(o.text.data, "color") && !strstr(o.text.data, "var x") &&
	   !strstr(o.text.data, "hidden"),
	   "scripts, styles and comments dropped");
	ok(o.text.data && strstr(o.text.data, "Hello bold <world> \xc3\xa9\xe2\x98\xba"),
	   "tags dropped, entities decoded, spaces collapsed");
	ok(o.text.data && strstr(o.text.data, "More text"), "runs of white space are one space");
	const char *more = o.text.data ? strstr(o.text.data, "More") : NULL;
	ok(more && reader_section_at(&o, (size_t)(more - o.text.data)) &&
	   !strcmp(reader_section_at(&o, (size_t)(more - o.text.data)), "Top > Sub"),
	   "HTML headings open sections");
	reader_out_free(&o);

	o = rd("x.txt", "  <html><body><p>sniffed</p></body></html>");
	ok(!strcmp(meta_str(&o, "reader"), "html") && strstr(o.text.data, "sniffed") &&
	   !strstr(o.text.data, "<p>"), "HTML is recognised by content too");
	reader_out_free(&o);

	o = rd("doc.json", "{\"id_\": \"d1\", \"text\": \"the body\", \"metadata\": {\"author\": \"ann\", \"year\": 2024}}");
	ok(!strcmp(o.text.data, "the body") && !strcmp(meta_str(&o, "author"), "ann") &&
	   cJSON_GetObjectItem(o.meta, "year")->valuedouble == 2024 &&
	   !strcmp(meta_str(&o, "reader"), "llamaindex-document"), "a LlamaIndex Document JSON");
	reader_out_free(&o);
	o = rd("data.json", "[1, 2, {\"a\": \"b\"}]");
	ok(!strcmp(o.text.data, "[1, 2, {\"a\": \"b\"}]") && !strcmp(meta_str(&o, "reader"), "json"),
	   "other JSON is indexed as text");
	reader_out_free(&o);

	o = rd("t.csv", "name,city,note\r\nAnn,Oslo,\"likes, commas\"\r\nBob,\"New \"\"York\"\"\",\n");
	ok(o.text.data && !strcmp(o.text.data,
				 "name: Ann, city: Oslo, note: likes, commas\n"
				 "name: Bob, city: New \"York\"\n"), "CSV rows as labelled lines");
	reader_out_free(&o);

	o = rd("src/main.rs", "fn main() {}\n");
	ok(!strcmp(meta_str(&o, "language"), "rust") && !strcmp(meta_str(&o, "reader"), "code") &&
	   !strcmp(o.text.data, "fn main() {}\n"), "source code keeps its text, language in metadata");
	reader_out_free(&o);
	o = rd("plain", "");
	ok(o.text.data && !o.text.len && !strcmp(meta_str(&o, "reader"), "text"), "empty text");
	reader_out_free(&o);
	return tap_done();
}
