/* store/splitter.c - see splitter.h */
#include "splitter.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* Split levels, coarsest first. A piece found at one level holds no
 * boundary of a coarser level, so recursion resumes one level down. */
enum {
	LVL_PARAGRAPH,
	LVL_SENTENCE,
	LVL_WORD,
	LVL_TOKEN, /* one token: a punctuation char or <= 4 word code points */
};

struct split {
	size_t start, end, tokens;
};

struct split_ctx {
	const unsigned char *t;
	size_t chunk_size, overlap;
	struct split *sp;
	size_t nsp, capsp;
};

static int is_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static int is_word(unsigned char c)
{
	return c >= 0x80 || c == '_' || (c >= '0' && c <= '9') ||
	       ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static int is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/* Length of the valid UTF-8 sequence at p (avail >= 1 bytes), or 1 for an
 * invalid byte: overlongs, surrogates and > U+10FFFF are invalid. */
static size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 1;
	if (avail < n)
		return 1;
	for (size_t i = 1; i < n; i++)
		if (!is_cont(p[i]))
			return 1;
	if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
	    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
		return 1;
	return n;
}

size_t utf8_char_index(const char *text, size_t byte_off)
{
	const unsigned char *t = (const unsigned char *)text;
	size_t i = 0, n = 0;

	while (i < byte_off) {
		i += t[i] < 0x80 ? 1 : utf8_seq_len(t + i, byte_off - i);
		n++;
	}
	return n;
}

static int is_control(unsigned char c)
{
	return (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') || c == 0x7f;
}

int text_is_probably_text(const char *text, size_t len)
{
	const unsigned char *t = (const unsigned char *)text;
	size_t i = 0, ctl = 0;

	while (i < len) {
		unsigned char c = t[i];
		size_t n;

		if (c == 0)
			return 0;
		ctl += is_control(c);
		if (c < 0x80) {
			i++;
			continue;
		}
		n = utf8_seq_len(t + i, len - i);
		if (n == 1)
			return 0; /* invalid UTF-8 */
		i += n;
	}
	/* Some control bytes (ESC in logs, form feeds) are fine; many are not. */
	return ctl <= len / 32;
}

/* Tokens of the word run starting at t[i] (i < end); *next gets its end. */
static size_t word_tokens(const unsigned char *t, size_t i, size_t end, size_t *next)
{
	size_t chars = 0;

	while (i < end && is_word(t[i])) {
		i += t[i] < 0x80 ? 1 : utf8_seq_len(t + i, end - i);
		chars++;
	}
	*next = i;
	return (chars + 3) / 4;
}

static size_t count_range(const unsigned char *t, size_t i, size_t end)
{
	size_t tokens = 0;

	while (i < end) {
		if (is_space(t[i])) {
			i++;
		} else if (is_word(t[i])) {
			tokens += word_tokens(t, i, end, &i);
		} else {
			tokens++;
			i++;
		}
	}
	return tokens;
}

size_t splitter_count_tokens(const char *text, size_t len)
{
	return count_range((const unsigned char *)text, 0, len);
}

static int is_terminator(unsigned char c)
{
	return c == '.' || c == '!' || c == '?';
}

static int is_closer(unsigned char c)
{
	return c == '"' || c == '\'' || c == ')' || c == ']';
}

/* Does the white space run t[ws..we) (ws > 0) end a piece at this level? */
static int is_boundary(const unsigned char *t, size_t ws, size_t we, int level)
{
	size_t nl = 0;

	if (level == LVL_WORD)
		return 1;
	for (size_t i = ws; i < we && nl < 2; i++)
		nl += t[i] == '\n';
	if (level == LVL_PARAGRAPH)
		return nl >= 2; /* "\n\n+", also "\r\n\r\n" and blank lines */
	if (nl)
		return 1;
	/* Sentence end: ". ", also '." ' and '.) '. */
	if (is_closer(t[ws - 1]) && ws >= 2)
		ws--;
	return is_terminator(t[ws - 1]);
}

static size_t skip_space(const unsigned char *t, size_t i, size_t end)
{
	while (i < end && is_space(t[i]))
		i++;
	return i;
}

/* End of the one-token piece starting at i: leading white space (only at
 * the start of a range), one token, then trailing white space. */
static size_t token_piece_end(const unsigned char *t, size_t i, size_t end)
{
	i = skip_space(t, i, end);
	if (i < end && is_word(t[i])) {
		for (int k = 0; k < 4 && i < end && is_word(t[i]); k++)
			i += t[i] < 0x80 ? 1 : utf8_seq_len(t + i, end - i);
	} else if (i < end) {
		i++;
	}
	return skip_space(t, i, end);
}

/* End of the piece of [i, end) starting at i. A piece owns the white space
 * after it, so pieces tile the range and each holds a non-space byte. */
static size_t piece_end(const unsigned char *t, size_t i, size_t end, int level)
{
	size_t ws, we;

	if (level == LVL_TOKEN)
		return token_piece_end(t, i, end);
	i = skip_space(t, i, end);
	while (i < end) {
		while (i < end && !is_space(t[i]))
			i++;
		ws = i;
		we = skip_space(t, i, end);
		if (we < end && is_boundary(t, ws, we, level))
			return we;
		i = we;
	}
	return end;
}

static int push_split(struct split_ctx *c, size_t start, size_t end, size_t tokens)
{
	if (c->nsp == c->capsp) {
		size_t cap = c->capsp ? c->capsp * 2 : 64;
		struct split *p = realloc(c->sp, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->sp = p;
		c->capsp = cap;
	}
	c->sp[c->nsp++] = (struct split){ start, end, tokens };
	return 0;
}

/* Cut [start, end) (more than chunk_size tokens) into splits that fit,
 * using the coarsest level from 'level' on that yields several pieces. */
static int split_range(struct split_ctx *c, size_t start, size_t end, int level)
{
	size_t i, e, tokens;
	int rc;

	while (level < LVL_TOKEN && piece_end(c->t, start, end, level) == end)
		level++;
	for (i = start; i < end; i = e) {
		e = piece_end(c->t, i, end, level);
		tokens = count_range(c->t, i, e);
		if (tokens <= c->chunk_size || level == LVL_TOKEN)
			rc = push_split(c, i, e, tokens);
		else
			rc = split_range(c, i, e, level + 1);
		if (rc)
			return rc;
	}
	return 0;
}

struct chunk_list {
	struct split_chunk *v;
	size_t n, cap;
};

/* Emit splits [lo, hi) as one chunk, trimmed of white space. */
static int emit_chunk(struct split_ctx *c, size_t lo, size_t hi, struct chunk_list *out)
{
	size_t s = c->sp[lo].start, e = c->sp[hi - 1].end;

	s = skip_space(c->t, s, e);
	while (e > s && is_space(c->t[e - 1]))
		e--;
	if (s == e)
		return 0;
	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 16;
		struct split_chunk *p = realloc(out->v, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		out->v = p;
		out->cap = cap;
	}
	out->v[out->n++] = (struct split_chunk){ s, e };
	return 0;
}

/* First split of the overlap carried from chunk [lo, hi) into the next:
 * the trailing splits totalling at most chunk_overlap tokens. */
static size_t overlap_start(const struct split_ctx *c, size_t lo, size_t hi, size_t *len)
{
	*len = 0;
	while (hi > lo && *len + c->sp[hi - 1].tokens <= c->overlap)
		*len += c->sp[--hi].tokens;
	return hi;
}

/* Greedy merge as SentenceSplitter._merge. Unlike it, the carried overlap
 * is shortened when it would push the next chunk past chunk_size. */
static int merge_splits(struct split_ctx *c, struct chunk_list *out)
{
	size_t lo = 0, len = 0, i = 0;
	int fresh = 1, rc;

	while (i < c->nsp) {
		size_t tk = c->sp[i].tokens;

		if (len + tk > c->chunk_size && !fresh) {
			rc = emit_chunk(c, lo, i, out);
			if (rc)
				return rc;
			lo = overlap_start(c, lo, i, &len);
			fresh = 1;
			continue;
		}
		while (lo < i && len + tk > c->chunk_size)
			len -= c->sp[lo++].tokens;
		len += tk;
		i++;
		fresh = 0;
	}
	return fresh ? 0 : emit_chunk(c, lo, i, out);
}

int splitter_split(const struct splitter_opts *o, const char *text, size_t len,
		   struct split_chunk **out, size_t *n)
{
	struct split_ctx c = { (const unsigned char *)text, o->chunk_size, o->chunk_overlap,
			       NULL, 0, 0 };
	struct chunk_list cl = { NULL, 0, 0 };
	size_t tokens;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (!o->chunk_size || o->chunk_overlap >= o->chunk_size)
		return -EINVAL;
	tokens = count_range(c.t, 0, len);
	if (!tokens)
		return 0;
	if (tokens <= c.chunk_size)
		rc = push_split(&c, 0, len, tokens);
	else
		rc = split_range(&c, 0, len, LVL_PARAGRAPH);
	if (!rc)
		rc = merge_splits(&c, &cl);
	free(c.sp);
	if (rc) {
		free(cl.v);
		return rc;
	}
	*out = cl.v;
	*n = cl.n;
	return 0;
}
