/* tests/test_splitter.c - unit tests for store/splitter.h */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/buf.h"
#include "store/splitter.h"
#include "tests/tap.h"

static int is_ws(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static int all_ws(const char *t, size_t s, size_t e)
{
	for (size_t i = s; i < e; i++)
		if (!is_ws(t[i]))
			return 0;
	return 1;
}

static int is_cont(const char *t, size_t i)
{
	return ((unsigned char)t[i] & 0xc0) == 0x80;
}

/* Check every invariant of splitter.h on one result; 1 when all hold. */
static int chunks_valid(const char *t, size_t len, const struct splitter_opts *o,
			const struct split_chunk *c, size_t n, int want_overlap)
{
	for (size_t i = 0; i < n; i++) {
		size_t s = c[i].start, e = c[i].end;
		size_t prev_end = i ? c[i - 1].end : 0, tokens;

		if (s >= e || e > len || is_ws(t[s]) || is_ws(t[e - 1]))
			return diag("chunk %zu [%zu,%zu) empty or untrimmed", i, s, e), 0;
		if (is_cont(t, s) || (e < len && is_cont(t, e)))
			return diag("chunk %zu [%zu,%zu) cuts a UTF-8 sequence", i, s, e), 0;
		tokens = splitter_count_tokens(t + s, e - s);
		if (tokens > o->chunk_size)
			return diag("chunk %zu has %zu tokens", i, tokens), 0;
		if (i && (s <= c[i - 1].start || e <= c[i - 1].end))
			return diag("chunk %zu does not move forward", i), 0;
		if (s > prev_end && !all_ws(t, prev_end, s))
			return diag("text before chunk %zu [%zu,%zu) is lost", i, prev_end, s), 0;
		if (i && s < prev_end &&
		    splitter_count_tokens(t + s, prev_end - s) > o->chunk_overlap)
			return diag("overlap before chunk %zu too big", i), 0;
		if (i && want_overlap && s >= prev_end)
			return diag("no overlap before chunk %zu", i), 0;
	}
	if (!all_ws(t, n ? c[n - 1].end : 0, len))
		return diag("tail of the text is lost"), 0;
	return 1;
}

static void test_count_tokens(void)
{
	is_int(splitter_count_tokens("", 0), 0, "empty text has no tokens");
	is_int(splitter_count_tokens(" \t\n\r\f ", 6), 0, "white space is free");
	is_int(splitter_count_tokens("a", 1), 1, "one letter is one token");
	is_int(splitter_count_tokens("abcd", 4), 1, "four letters are one token");
	is_int(splitter_count_tokens("hello", 5), 2, "five letters are two tokens");
	is_int(splitter_count_tokens("hi, there!", 10), 5, "punctuation counts one each");
	is_int(splitter_count_tokens("foo_bar1", 8), 2, "'_' and digits are word characters");
	is_int(splitter_count_tokens("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 10), 2,
	       "multibyte words count code points, not bytes");
	is_int(splitter_count_tokens("日本語", strlen("日本語")), 1, "CJK run of 3 is one token");
}

static void test_bad_input(void)
{
	struct splitter_opts bad[] = { { 0, 0 }, { 10, 10 }, { 10, 20 } };
	struct splitter_opts o = { 16, 4 };
	struct split_chunk *c = (void *)1;
	size_t n = 99;
	int rc;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = splitter_split(&bad[i], "abc", 3, &c, &n);
		is_int(rc, -EINVAL, "bad options refused");
		ok(!c && !n, "no output on bad options");
	}
	rc = splitter_split(&o, "", 0, &c, &n);
	is_int(rc, 0, "empty text splits");
	ok(!c && n == 0, "empty text gives no chunks");
	rc = splitter_split(&o, " \n\n\t  \r\n", 8, &c, &n);
	is_int(rc, 0, "white space splits");
	ok(!c && n == 0, "white space gives no chunks");
}

static void test_small(void)
{
	struct splitter_opts o = { 16, 4 };
	const char *t = "  \n hello world \n\n ";
	struct split_chunk *c;
	size_t n;
	int rc;

	rc = splitter_split(&o, t, strlen(t), &c, &n);
	is_int(rc, 0, "small text splits");
	is_int(n, 1, "small text is one chunk");
	ok(n == 1 && c[0].start == 4 && c[0].end == 15, "the chunk is trimmed (%zu,%zu)",
	   n ? c[0].start : 0, n ? c[0].end : 0);
	free(c);
}

/* Short sentences that fit: every chunk is made of whole sentences. */
static void test_sentences(void)
{
	struct splitter_opts o = { 40, 10 };
	struct buf b = BUF_INIT;
	size_t starts[60], ends[60], n, bad = 0;
	struct split_chunk *c;
	int rc;

	for (int i = 0; i < 60; i++) {
		starts[i] = b.len;
		buf_addf(&b, "Sentence number %d is here%c", i, "!?."[i % 3]);
		ends[i] = b.len;
		buf_adds(&b, i % 7 == 6 ? "\n" : "  ");
	}
	rc = splitter_split(&o, b.data, b.len, &c, &n);
	is_int(rc, 0, "sentences split");
	ok(n > 5, "several chunks (%zu)", n);
	ok(chunks_valid(b.data, b.len, &o, c, n, 1), "sentence chunks valid, with overlap");
	for (size_t i = 0; i < n; i++) {
		int s_ok = 0, e_ok = 0;

		for (int k = 0; k < 60; k++) {
			s_ok |= c[i].start == starts[k];
			e_ok |= c[i].end == ends[k];
		}
		bad += !s_ok || !e_ok;
	}
	is_int(bad, 0, "no chunk cuts a sentence");
	free(c);
	buf_release(&b);
}

/* Paragraphs that fit are kept whole: chunks are runs of paragraphs. */
static void test_paragraphs(void)
{
	struct splitter_opts o = { 54, 0 };
	struct buf b = BUF_INIT;
	size_t starts[10], ends[10], n, bad = 0;
	struct split_chunk *c;
	int rc;

	for (int i = 0; i < 10; i++) {
		starts[i] = b.len;
		buf_addf(&b, "Para %d one. Para %d two.\nPara %d three, end.", i, i, i);
		ends[i] = b.len;
		buf_adds(&b, i % 2 ? "\n\n\n" : "\r\n\r\n");
	}
	rc = splitter_split(&o, b.data, b.len, &c, &n);
	is_int(rc, 0, "paragraphs split");
	ok(chunks_valid(b.data, b.len, &o, c, n, 0), "paragraph chunks valid");
	for (size_t i = 0; i < n; i++) {
		int s_ok = 0, e_ok = 0;

		for (int k = 0; k < 10; k++) {
			s_ok |= c[i].start == starts[k];
			e_ok |= c[i].end == ends[k];
		}
		bad += !s_ok || !e_ok;
	}
	is_int(bad, 0, "no chunk cuts a paragraph");
	ok(n > 0 && n < 10, "paragraphs are merged (%zu chunks)", n);
	free(c);
	buf_release(&b);
}

static void test_long_word(void)
{
	struct splitter_opts o = { 10, 3 };
	size_t len = 1000, n;
	char *t = malloc(len);
	struct split_chunk *c;
	int rc;

	memset(t, 'x', len);
	rc = splitter_split(&o, t, len, &c, &n);
	is_int(rc, 0, "one long word splits");
	ok(chunks_valid(t, len, &o, c, n, 1), "long word chunks valid, with overlap");
	ok(n >= 25 && n <= 40, "long word chunks are full (%zu)", n);
	free(c);
	free(t);
}

static void test_utf8(void)
{
	const char *unit = "h\xc3\xa9llo w\xc3\xb6rld 日本語の文章です。 ünïcödé, naïve café! ";
	struct splitter_opts opts[] = { { 5, 2 }, { 1, 0 }, { 3, 1 }, { 64, 16 } };
	struct buf b = BUF_INIT;
	struct buf cjk = BUF_INIT;
	int rc;

	for (int i = 0; i < 20; i++)
		buf_adds(&b, unit);
	for (int i = 0; i < 100; i++)
		buf_adds(&cjk, "日本語");
	for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
		struct split_chunk *c;
		size_t n, bad = 0;

		rc = splitter_split(&opts[k], b.data, b.len, &c, &n);
		is_int(rc, 0, "UTF-8 text splits");
		ok(chunks_valid(b.data, b.len, &opts[k], c, n, 0), "UTF-8 chunks valid (size %zu)",
		   opts[k].chunk_size);
		for (size_t i = 0; i < n; i++)
			bad += !text_is_probably_text(b.data + c[i].start, c[i].end - c[i].start);
		is_int(bad, 0, "every chunk is valid UTF-8");
		free(c);
		rc = splitter_split(&opts[k], cjk.data, cjk.len, &c, &n);
		is_int(rc, 0, "CJK run splits");
		ok(chunks_valid(cjk.data, cjk.len, &opts[k], c, n, 0), "CJK chunks valid");
		free(c);
	}
	buf_release(&b);
	buf_release(&cjk);
}

static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*s >> 33);
}

/* Random texts of words, punctuation, line breaks and multibyte text. */
static void test_fuzz(void)
{
	static const char *const atoms[] = {
		"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog",
		"antidisestablishmentarianism", "x", ".", ",", "!", "?", " ", " ",
		"  ", "\n", "\n\n", "\t", "caf\xc3\xa9", "日本語", "--", "a_b_c",
		"\"quoted.\" ", "(paren) ", "1234567890",
	};
	uint64_t seed = 42;
	size_t failures = 0;

	for (int iter = 0; iter < 300; iter++) {
		struct buf b = BUF_INIT;
		struct splitter_opts o;
		struct split_chunk *c;
		size_t n, words = rnd(&seed) % 400;

		for (size_t i = 0; i < words; i++)
			buf_adds(&b, atoms[rnd(&seed) % (sizeof(atoms) / sizeof(atoms[0]))]);
		o.chunk_size = 1 + rnd(&seed) % 60;
		o.chunk_overlap = rnd(&seed) % o.chunk_size;
		if (splitter_split(&o, b.data ? b.data : "", b.len, &c, &n) ||
		    !chunks_valid(b.data, b.len, &o, c, n, 0)) {
			diag("fuzz iteration %d failed (size %zu, overlap %zu)", iter,
			     o.chunk_size, o.chunk_overlap);
			failures++;
		}
		free(c);
		buf_release(&b);
	}
	is_int(failures, 0, "300 random texts split validly");
}

static void test_char_index(void)
{
	const char *t = "h\xc3\xa9llo 日本語";

	is_int(utf8_char_index(t, 0), 0, "offset 0 is char 0");
	is_int(utf8_char_index(t, 1), 1, "ASCII counts one");
	is_int(utf8_char_index(t, 3), 2, "two-byte sequence counts one");
	is_int(utf8_char_index(t, strlen(t)), 9, "whole text: 9 code points");
	is_int(utf8_char_index("\xff\xfe", 2), 2, "invalid bytes count one each");
	is_int(utf8_char_index("\xe6\x97", 2), 2, "truncated sequence counts per byte");
	is_int(utf8_char_index("\xc0\xaf", 2), 2, "overlong sequence counts per byte");
	is_int(utf8_char_index("\xf0\x9f\x98\x80!", 5), 2, "4-byte sequence counts one");
}

static void test_is_text(void)
{
	static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
	static const char utf[] = "h\xc3\xa9llo 日本語\r\n\t\f";
	struct buf b = BUF_INIT;

	ok(text_is_probably_text("hello\n", 6), "ASCII is text");
	ok(text_is_probably_text("", 0), "empty is text");
	ok(text_is_probably_text(utf, sizeof(utf) - 1), "UTF-8 with tabs and CRLF is text");
	ok(!text_is_probably_text("a\0b", 3), "NUL is binary");
	ok(!text_is_probably_text("abc\xff", 4), "invalid byte is binary");
	ok(!text_is_probably_text("ab\xe6\x97", 4), "truncated sequence is binary");
	ok(!text_is_probably_text("\xc0\xaf", 2), "overlong is binary");
	ok(!text_is_probably_text("\xed\xa0\x80", 3), "surrogate is binary");
	ok(!text_is_probably_text(png, sizeof(png) - 1), "PNG header is binary");
	ok(!text_is_probably_text("\x01\x02\x03\x04 abc", 8), "many controls are binary");
	for (int i = 0; i < 40; i++)
		buf_adds(&b, "a line of log text ");
	buf_adds(&b, "\x1b[1mbold\x1b[0m\n");
	ok(text_is_probably_text(b.data, b.len), "a few escapes in a long text are text");
	buf_release(&b);
}

int main(void)
{
	test_count_tokens();
	test_bad_input();
	test_small();
	test_sentences();
	test_paragraphs();
	test_long_word();
	test_utf8();
	test_fuzz();
	test_char_index();
	test_is_text();
	return tap_done();
}
