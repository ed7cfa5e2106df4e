/* fuzz/fuzz_query.c - libFuzzer target: query_parse (plain text and JSON,
 * filters included) on arbitrary bytes; a parsed filter is evaluated against
 * a few metadata objects, and a parsed request rendered as an empty result.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../store/log.h"
#include "../store/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static cJSON *metas[4];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_setup(0, 1);
	metas[0] = cJSON_Parse("{\"file_path\": \"a/b.txt\", \"file_name\": \"b.txt\", "
			       "\"file_size\": 12, \"n\": 1.5, \"tags\": [\"x\", \"y\", 3], "
			       "\"flag\": true, \"empty\": \"\", \"nil\": null, \"l\": []}");
	metas[1] = cJSON_Parse("{\"key\": \"value\", \"k\": 1, \"v\": [1, 2, 3]}");
	metas[2] = cJSON_Parse("{}");
	metas[3] = NULL; /* no metadata at all */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);
	struct query_req q;
	char err[256] = "";
	int rc = query_parse(p, size, 5, &q, err, sizeof(err));
	if (rc == 0) {
		if (!q.text && !q.embedding)
			abort();
		if (q.top_k > QUERY_MAX_TOP_K)
			abort();
		if (q.filter)
			for (size_t i = 0; i < sizeof(metas) / sizeof(metas[0]); i++)
				(void)filter_match(q.filter, metas[i]);
		struct query_result res = { 0 };
		struct buf out = BUF_INIT;
		(void)query_render(&q, &res, size & 1, &out);
		buf_release(&out);
		query_req_free(&q);
	} else {
		if (!err[0] || (rc != -EINVAL && rc != -ENOTSUP && rc != -ENOMEM))
			abort();
		struct buf out = BUF_INIT;
		(void)query_render_error(p, size, -rc, err, size & 1, &out);
		buf_release(&out);
	}
	free(p);
	return 0;
}
