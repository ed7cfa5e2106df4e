/* store/splitter.h - split text into overlapping chunks, in the spirit of
 * LlamaIndex's SentenceSplitter.
 *
 * Sizes are in approximate tokens: a token is counted per run of word
 * characters (letters, digits, '_' and any byte >= 0x80) as
 * max(1, ceil(utf8_chars / 4)), plus one per punctuation character; white
 * space is free. (LlamaIndex counts tiktoken cl100k tokens; on English prose
 * this approximation lands within ~15% of it.)
 *
 * Algorithm (as SentenceSplitter): the text is cut into splits by paragraph
 * (a white-space run holding two or more newlines, so CRLF and lines of
 * spaces count), then sentences (after '.', '!', '?' optionally followed by a
 * closing quote or bracket, then white space; or a newline), then words, then
 * one-token pieces (up to 4 code points, or one punctuation character),
 * until each split fits chunk_size;
 * splits are merged greedily into chunks of at most chunk_size tokens; the
 * next chunk starts with the trailing splits of the previous one totalling at
 * most chunk_overlap tokens (whole splits, as LlamaIndex: no overlap when the
 * last split is bigger than chunk_overlap; the overlap is shortened when it
 * plus the next split would not fit). Chunks are trimmed of leading/trailing white
 * space; empty chunks are dropped. Every chunk is a contiguous byte range of
 * the input, never splitting a UTF-8 sequence.
 */
#ifndef STORE_SPLITTER_H
#define STORE_SPLITTER_H

#include <stddef.h>

struct splitter_opts {
	size_t chunk_size;    /* tokens, >= 1; LlamaIndex default 1024 */
	size_t chunk_overlap; /* tokens, < chunk_size; LlamaIndex default 200 */
};

struct split_chunk {
	size_t start; /* byte offset of the first byte */
	size_t end;   /* byte offset one past the last byte */
};

/* Approximate token count of text[0..len) (see above). */
size_t splitter_count_tokens(const char *text, size_t len);

/* Split text[0..len). *out gets a malloc'd array (free()) of *n chunks in
 * order (NULL and 0 for empty or all-white-space text). 0, -EINVAL for bad
 * options (chunk_size 0 or overlap >= chunk_size), or -ENOMEM. */
int splitter_split(const struct splitter_opts *o, const char *text, size_t len,
		   struct split_chunk **out, size_t *n);

/* Number of UTF-8 code points in text[0..byte_off): converts byte offsets to
 * the character indices LlamaIndex stores (start_char_idx/end_char_idx).
 * Invalid bytes count one each. */
size_t utf8_char_index(const char *text, size_t byte_off);

/* 1 when text[0..len) looks like text: valid UTF-8 with no NUL and at most
 * len/32 control characters (other than \t \n \r \f; DEL counts). 0 for
 * binary. Empty text is text. */
int text_is_probably_text(const char *text, size_t len);

#endif
