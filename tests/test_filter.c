/* Unit tests: store/filter.c */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "store/buf.h"
#include "store/filter.h"
#include "tests/tap.h"

static const char *meta_json =
	"{\"author\": \"Alice Smith\", \"year\": 2021, \"score\": 1.0, \"price\": 9.5,"
	" \"tags\": [\"db\", \"c\", \"fuse\"], \"nums\": [1, 2, 3], \"empty_s\": \"\","
	" \"empty_l\": [], \"nothing\": null, \"flag\": true, \"off\": false,"
	" \"obj\": {\"a\": 1}, \"num_s\": \"10\"}";

/* 1/0 for the match, -1 when the filter does not parse. */
static int eval(const char *filter, const char *meta)
{
	cJSON *fj = cJSON_Parse(filter), *mj = meta ? cJSON_Parse(meta) : NULL;
	struct filter *f;
	char err[256];
	int r = -1;
	if (!fj || (meta && !mj)) {
		diag("bad test JSON: %s", filter);
	} else if (filter_parse(fj, &f, err, sizeof(err)) == 0) {
		r = filter_match(f, mj);
		filter_free(f);
	} else {
		diag("parse failed: %s", err);
	}
	cJSON_Delete(fj);
	cJSON_Delete(mj);
	return r;
}

/* One leaf against the fixture metadata; value is JSON text. */
static int leaf(const char *key, const char *op, const char *value)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "{\"filters\": [{\"key\": \"%s\", \"operator\": \"%s\","
		 " \"value\": %s}]}", key, op, value);
	return eval(buf, meta_json);
}

#define T(key, op, value, want) \
	is_int(leaf(key, op, value), want, key " " op " " value)

static void test_operators(void)
{
	/* == and != */
	T("author", "==", "\"Alice Smith\"", 1);
	T("author", "==", "\"alice smith\"", 0);
	T("year", "==", "2021", 1);
	T("year", "==", "2021.0", 1);
	T("score", "==", "1", 1);
	T("year", "==", "\"2021\"", 0);
	T("num_s", "==", "10", 0);
	T("num_s", "==", "\"10\"", 1);
	T("flag", "==", "true", 1);
	T("flag", "==", "1", 1);	/* Python: True == 1 */
	T("off", "==", "false", 1);
	T("tags", "==", "[\"db\", \"c\", \"fuse\"]", 1);
	T("tags", "==", "[\"db\", \"c\"]", 0);
	T("nums", "==", "[1.0, 2, 3]", 1);
	T("author", "!=", "\"Bob\"", 1);
	T("author", "!=", "\"Alice Smith\"", 0);
	T("year", "!=", "2021.0", 0);
	T("year", "!=", "\"2021\"", 1);	/* different types are unequal */
	T("obj", "!=", "1", 1);
	/* ordering */
	T("year", ">", "2020", 1);
	T("year", ">", "2021", 0);
	T("year", ">=", "2021", 1);
	T("year", "<", "2021.5", 1);
	T("year", "<=", "2020", 0);
	T("price", "<=", "9.5", 1);
	T("author", ">", "\"Alice\"", 1);
	T("author", "<", "\"B\"", 1);
	T("author", "<", "\"A\"", 0);
	T("num_s", ">", "5", 0);	/* string vs number: false */
	T("year", "<", "\"9999\"", 0);
	T("year", ">=", "\"0\"", 0);
	T("flag", ">", "0", 1);
	/* in / nin */
	T("year", "in", "[2020, 2021]", 1);
	T("year", "in", "[2021.0]", 1);
	T("year", "in", "[\"2021\"]", 0);
	T("author", "in", "[\"Bob\", \"Alice Smith\"]", 1);
	T("author", "in", "[]", 0);
	T("year", "nin", "[2020, 2022]", 1);
	T("year", "nin", "[2021]", 0);
	T("author", "nin", "[]", 1);
	/* contains: list membership or substring */
	T("tags", "contains", "\"c\"", 1);
	T("tags", "contains", "\"cc\"", 0);
	T("nums", "contains", "2", 1);
	T("nums", "contains", "2.0", 1);
	T("nums", "contains", "\"2\"", 0);
	T("author", "contains", "\"ce Sm\"", 1);
	T("author", "contains", "\"ce sm\"", 0);
	T("author", "contains", "1", 0);
	T("year", "contains", "2", 0);
	/* text_match: ASCII case-insensitive substring */
	T("author", "text_match", "\"ALICE\"", 1);
	T("author", "text_match", "\"e sMi\"", 1);
	T("author", "text_match", "\"\"", 1);
	T("author", "text_match", "\"bob\"", 0);
	T("author", "text_match", "\"smithy\"", 0);
	T("year", "text_match", "\"20\"", 0);
	/* any / all */
	T("tags", "any", "[\"x\", \"fuse\"]", 1);
	T("tags", "any", "[\"x\", \"y\"]", 0);
	T("tags", "any", "[]", 0);
	T("tags", "all", "[\"db\", \"fuse\"]", 1);
	T("tags", "all", "[\"db\", \"x\"]", 0);
	T("tags", "all", "[]", 1);
	T("nums", "all", "[1, 3.0]", 1);
	T("author", "any", "[\"zzz\", \"Smith\"]", 1);
	T("author", "all", "[\"Alice\", \"Smith\"]", 1);
	T("author", "all", "[\"Alice\", \"smith\"]", 0);
	T("year", "any", "[2021]", 0);
	T("year", "all", "[]", 0);
	/* is_empty: missing, null, "" and [] */
	T("missing", "is_empty", "null", 1);
	T("nothing", "is_empty", "null", 1);
	T("empty_s", "is_empty", "null", 1);
	T("empty_l", "is_empty", "null", 1);
	T("author", "is_empty", "null", 0);
	T("year", "is_empty", "0", 0);
	T("off", "is_empty", "null", 0);
	T("obj", "is_empty", "null", 0);
	is_int(eval("{\"filters\": [{\"key\": \"missing\", \"operator\": \"is_empty\"}]}",
		    meta_json), 1, "is_empty without a value");
}

static void test_missing(void)
{
	/* A missing or null value fails everything but is_empty, even != and nin. */
	static const char *const cases[][2] = {
		{ "==", "1" }, { "!=", "1" }, { ">", "1" }, { ">=", "1" }, { "<", "1" },
		{ "<=", "1" }, { "in", "[1]" }, { "nin", "[1]" }, { "contains", "1" },
		{ "text_match", "\"a\"" }, { "any", "[1]" }, { "all", "[]" },
	};
	int good_missing = 1, good_null = 1, good_nometa = 1;
	char buf[256];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		good_missing &= leaf("missing", cases[i][0], cases[i][1]) == 0;
		good_null &= leaf("nothing", cases[i][0], cases[i][1]) == 0;
		snprintf(buf, sizeof(buf), "[{\"key\": \"k\", \"operator\": \"%s\", "
			 "\"value\": %s}]", cases[i][0], cases[i][1]);
		good_nometa &= eval(buf, NULL) == 0 && eval(buf, "[1]") == 0;
	}
	ok(good_missing, "a missing key fails every operator but is_empty");
	ok(good_null, "a null value fails every operator but is_empty");
	ok(good_nometa, "no metadata (or not an object) fails them too");
	is_int(eval("[{\"key\": \"k\", \"operator\": \"is_empty\"}]", NULL), 1,
	       "no metadata: is_empty");
}

static void test_groups(void)
{
	const char *m = meta_json;
	is_int(eval("{\"filters\": []}", m), 1, "empty group is true");
	is_int(eval("{\"filters\": [], \"condition\": \"or\"}", m), 1, "empty or group is true");
	is_int(eval("[]", m), 1, "empty bare list is true");
	is_int(eval("{\"filters\": [{\"key\": \"year\", \"value\": 2021}]}", m), 1,
	       "operator defaults to ==");
	is_int(eval("{\"filters\": [{\"key\": \"year\", \"value\": 2021, \"operator\": null}],"
		    " \"condition\": null}", m), 1, "null operator and condition: defaults");
	is_int(eval("{\"filters\": [{\"key\": \"year\", \"value\": 2021},"
		    " {\"key\": \"author\", \"value\": \"Bob\"}]}", m), 0, "and: one false");
	is_int(eval("{\"filters\": [{\"key\": \"year\", \"value\": 2021},"
		    " {\"key\": \"author\", \"value\": \"Alice Smith\"}], \"condition\": \"and\"}",
		    m), 1, "and: both true");
	is_int(eval("{\"filters\": [{\"key\": \"year\", \"value\": 1999},"
		    " {\"key\": \"author\", \"value\": \"Alice Smith\"}], \"condition\": \"or\"}",
		    m), 1, "or: one true");
	is_int(eval("{\"filters\": [{\"key\": \"year\", \"value\": 1999},"
		    " {\"key\": \"author\", \"value\": \"Bob\"}], \"condition\": \"or\"}", m), 0,
	       "or: none true");
	is_int(eval("{\"filters\": [{\"key\": \"year\", \"value\": 1999},"
		    " {\"key\": \"author\", \"value\": \"Alice Smith\"}], \"condition\": \"OR\"}",
		    m), 1, "condition is case-insensitive");
	is_int(eval("[{\"key\": \"year\", \"operator\": \">\", \"value\": 2000},"
		    " {\"key\": \"tags\", \"operator\": \"contains\", \"value\": \"c\"}]", m), 1,
	       "bare list is an and group");
	is_int(eval("[{\"key\": \"year\", \"operator\": \">\", \"value\": 2000},"
		    " {\"key\": \"tags\", \"operator\": \"contains\", \"value\": \"x\"}]", m), 0,
	       "bare list: and, not or");
	/* (year < 2000 or (author text_match "alice" and price > 5)) and flag == true */
	const char *nested =
		"{\"condition\": \"and\", \"filters\": ["
		" {\"condition\": \"or\", \"filters\": ["
		"  {\"key\": \"year\", \"operator\": \"<\", \"value\": 2000},"
		"  {\"filters\": ["
		"   {\"key\": \"author\", \"operator\": \"text_match\", \"value\": \"alice\"},"
		"   {\"key\": \"price\", \"operator\": \">\", \"value\": %s}]}]},"
		" {\"key\": \"flag\", \"value\": true}]}";
	char buf[1024];
	snprintf(buf, sizeof(buf), nested, "5");
	is_int(eval(buf, m), 1, "nested groups: true");
	snprintf(buf, sizeof(buf), nested, "50");
	is_int(eval(buf, m), 0, "nested groups: inner and false");
	is_int(eval("{\"filters\": [[{\"key\": \"year\", \"value\": 1}],"
		    " {\"key\": \"year\", \"value\": 2021}], \"condition\": \"or\"}", m), 1,
	       "a bare list nested in a group");
	is_int(eval("{\"key\": \"year\", \"value\": 2021}", m), 1, "a lone filter object");
}

/* Parse must fail with -EINVAL and a one-line message containing want. */
static void parse_err(const char *json, const char *want)
{
	cJSON *j = cJSON_Parse(json);
	struct filter *f = (struct filter *)1;
	char err[200] = "unset";
	int rc = filter_parse(j, &f, err, sizeof(err));
	ok(rc == -EINVAL && f == NULL && strstr(err, want) && !strchr(err, '\n'),
	   "refused %s: \"%s\"", json, err);
	cJSON_Delete(j);
}

static void test_parse_errors(void)
{
	parse_err("[{\"key\": \"a\", \"operator\": \"~=\", \"value\": 1}]",
		  "unknown operator \"~=\"");
	parse_err("[{\"key\": \"a\", \"operator\": \"EQ\", \"value\": 1}]", "unknown operator");
	parse_err("[{\"key\": \"a\", \"operator\": \"=\\n=\", \"value\": 1}]",
		  "unknown operator \"= =\"");
	parse_err("[{\"key\": \"a\", \"operator\": 3, \"value\": 1}]", "\"operator\" is not");
	parse_err("{\"filters\": [], \"condition\": \"xor\"}", "bad condition \"xor\"");
	parse_err("{\"filters\": [], \"condition\": \"not\"}", "bad condition");
	parse_err("{\"filters\": [], \"condition\": 1}", "\"condition\" is not a string");
	parse_err("[{\"operator\": \"==\", \"value\": 1}]", "no \"key\"");
	parse_err("[{\"key\": 5, \"value\": 1}]", "\"key\" is not a string");
	parse_err("[{\"key\": \"a\", \"operator\": \"==\"}]", "no \"value\"");
	parse_err("[{\"key\": \"a\", \"value\": null}]", "null \"value\"");
	parse_err("[{\"key\": \"a\", \"value\": {\"x\": 1}}]", "\"value\" must be");
	parse_err("[{\"key\": \"a\", \"operator\": \"in\", \"value\": 1}]", "needs a list");
	parse_err("[{\"key\": \"a\", \"operator\": \"any\", \"value\": \"x\"}]", "needs a list");
	parse_err("[{\"key\": \"a\", \"operator\": \">\", \"value\": [1]}]",
		  "needs a single value");
	parse_err("[{\"key\": \"a\", \"operator\": \"contains\", \"value\": [1]}]",
		  "needs a single value");
	parse_err("[{\"key\": \"a\", \"operator\": \"text_match\", \"value\": 1}]",
		  "needs a string");
	parse_err("[{\"key\": \"a\", \"operator\": \"in\", \"value\": [1, [2]]}]",
		  "list items must be");
	parse_err("[{\"key\": \"a\", \"operator\": \"in\", \"value\": [1, null]}]",
		  "list items must be");
	parse_err("{\"filters\": {\"key\": \"a\"}}", "\"filters\" is not a list");
	parse_err("[1]", "must be an object or a list");
	parse_err("\"year\"", "must be an object or a list");
	parse_err("{\"condition\": \"and\"}", "no \"key\"");
	/* The error deep inside a group still surfaces, and nothing leaks. */
	parse_err("[{\"filters\": [{\"key\": \"a\", \"value\": 1},"
		  " {\"key\": \"b\", \"operator\": \"like\", \"value\": 1}]}]",
		  "unknown operator \"like\"");

	char err[8];
	struct filter *f;
	is_int(filter_parse(NULL, &f, err, sizeof(err)), -EINVAL, "NULL json refused");
	cJSON *j = cJSON_Parse("[{\"key\": \"a\", \"operator\": \"~=\", \"value\": 1}]");
	is_int(filter_parse(j, &f, err, sizeof(err)), -EINVAL, "short err buffer");
	ok(strlen(err) == sizeof(err) - 1, "message truncated into a short buffer");
	is_int(filter_parse(j, &f, NULL, 0), -EINVAL, "NULL err buffer");
	cJSON_Delete(j);
}

static char *nest(int depth)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < depth; i++)
		buf_adds(&b, "{\"filters\": [");
	buf_adds(&b, "{\"key\": \"year\", \"value\": 2021}");
	for (int i = 0; i < depth; i++)
		buf_adds(&b, "]}");
	return buf_detach(&b, NULL);
}

static void test_depth(void)
{
	char *ok32 = nest(32), *bad33 = nest(33);
	is_int(eval(ok32, meta_json), 1, "32 levels of groups are fine");
	parse_err(bad33, "nested deeper than 32");
	free(ok32);
	free(bad33);
	char *deep = nest(400);
	parse_err(deep, "nested deeper");
	free(deep);
}

static void test_copies(void)
{
	/* The filter keeps its own copies: the JSON can go away. */
	cJSON *j = cJSON_Parse("[{\"key\": \"author\", \"operator\": \"in\","
			       " \"value\": [\"x\", \"Alice Smith\"]},"
			       " {\"key\": \"tags\", \"operator\": \"contains\", \"value\": \"db\"}]");
	cJSON *m = cJSON_Parse(meta_json);
	struct filter *f;
	char err[128];
	is_int(filter_parse(j, &f, err, sizeof(err)), 0, "parse");
	cJSON_Delete(j);
	is_int(filter_match(f, m), 1, "matches after the JSON is freed");
	is_int(filter_match(f, m), 1, "matching twice gives the same answer");
	cJSON_Delete(m);
	filter_free(f);
	filter_free(NULL);
}

int main(void)
{
	test_operators();
	test_missing();
	test_groups();
	test_parse_errors();
	test_depth();
	test_copies();
	return tap_done();
}
