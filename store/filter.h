/* store/filter.h - LlamaIndex MetadataFilters: parse and evaluate.
 *
 * Accepted JSON (LlamaIndex's MetadataFilters.dict() shape):
 *   {"filters": [F, ...], "condition": "and" | "or"}   (condition default "and")
 * where each F is either a filter {"key": K, "value": V, "operator": OP}
 * (operator default "==") or a nested MetadataFilters object. A bare list
 * [F, ...] is taken as {"filters": [...], "condition": "and"}.
 * Operators: == != > >= < <= in nin contains text_match any all is_empty.
 * Values: string, number, bool, or a list of those; null only for is_empty.
 *
 * Semantics follow Python SimpleVectorStore: a missing or null metadata value
 * fails every operator except is_empty (which is true for missing, null, ""
 * and []); == / != compare numbers numerically (1 == 1.0) and strings
 * exactly; ordering operators compare number with number or string with
 * string (bytewise), mixed types are false; in/nin test m in v (v a list);
 * contains is list membership when m is a list and substring when m is a
 * string; text_match is case-insensitive (ASCII) substring; any/all test
 * whether any/all elements of v are in m (m a list, or a string: substring).
 * An empty group is true.
 */
#ifndef STORE_FILTER_H
#define STORE_FILTER_H

#include <stddef.h>

#include <cjson/cJSON.h>

struct filter;

/* Parse json (not consumed; the filter keeps its own copies). On error
 * returns -EINVAL and writes a one-line reason (e.g. "unknown operator
 * \"~=\"") to err. Nesting deeper than 32 levels is refused. */
int filter_parse(const cJSON *json, struct filter **out, char *err, size_t errlen);
void filter_free(struct filter *f);

/* 1 if metadata (a JSON object, or NULL = no metadata) passes. */
int filter_match(const struct filter *f, const cJSON *metadata);

/* The tree's shape, for candidate indexes (filter_index.c): groups, and
 * leaves an index can answer. EQ is "==" with a scalar value (one value);
 * IN is "in" (its list's values); GT, GE, LT, LE are ">", ">=", "<", "<="
 * with a number (or boolean) bound (one value: filter_value); anything else
 * is OTHER. */
enum filter_shape { FILTER_AND, FILTER_OR, FILTER_EQ, FILTER_IN, FILTER_GT, FILTER_GE,
		    FILTER_LT, FILTER_LE, FILTER_OTHER };
struct filter_scalar {
	int is_num;		/* numbers and booleans (as 0 / 1) */
	double num;
	const char *str;	/* borrowed from the filter */
};
enum filter_shape filter_shape(const struct filter *f);
size_t filter_nkids(const struct filter *f);
const struct filter *filter_kid(const struct filter *f, size_t i);
const char *filter_key(const struct filter *f);
/* EQ and the ranges: 1; IN: the list's length; else 0. */
size_t filter_nvalues(const struct filter *f);
void filter_value(const struct filter *f, size_t i, struct filter_scalar *v);

#endif
