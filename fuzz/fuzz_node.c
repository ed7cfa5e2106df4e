/* fuzz/fuzz_node.c - libFuzzer target: node_parse_user on arbitrary bytes.
 *
 * The first byte picks the expected id ("n1" or the id found in the input
 * is not known in advance, so both a fixed id and "" are tried). A node
 * that parses must carry the expected id, and its embedding must be finite.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../store/log.h"
#include "../store/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_setup(0, 1);
	return 0;
}

static void one(const char *json, size_t len, const char *id)
{
	cJSON *node = NULL;
	float *emb = NULL;
	size_t emb_len = 0;
	char err[256] = "";
	int rc = node_parse_user(json, len, id, &node, &emb, &emb_len, err, sizeof(err));
	if (rc == 0) {
		if (!node || strcmp(node_id(node), id))
			abort();
		for (size_t i = 0; i < emb_len; i++)
			if (!isfinite(emb[i]))
				abort();
		/* The accessors must cope with whatever shape the rest has. */
		(void)node_text(node);
		(void)node_ref_doc_id(node);
		const cJSON *meta = node_metadata(node);
		char hash[65];
		const char *text = node_text(node);
		node_hash(text ? text : "", meta, hash);
		cJSON *e = cJSON_GetObjectItemCaseSensitive(node, "embedding");
		if (e && !cJSON_IsNull(e))
			abort(); /* the embedding is moved out */
	} else {
		if (node || !err[0] || strlen(err) >= sizeof(err))
			abort();
	}
	cJSON_Delete(node);
	free(emb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Copy without a terminating NUL so reads past len are caught. */
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);
	one(p, size, "n1");
	one(p, size, "");
	free(p);
	return 0;
}
