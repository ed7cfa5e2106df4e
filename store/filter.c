/* store/filter.c - see filter.h
 *
 * The JSON is parsed once into a tree of groups and leaves holding copied
 * values; filter_match walks it against the metadata object without
 * allocating. Booleans compare as the numbers 0 and 1, as in Python
 * (True == 1), so a bool in the metadata matches a numeric filter value.
 */
#include "filter.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FILTER_MAX_DEPTH 32

enum fop {
	OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE, OP_IN, OP_NIN, OP_CONTAINS,
	OP_TEXT_MATCH, OP_ANY, OP_ALL, OP_IS_EMPTY,
};

static const char *const op_names[] = {
	[OP_EQ] = "==", [OP_NE] = "!=", [OP_GT] = ">", [OP_GE] = ">=", [OP_LT] = "<",
	[OP_LE] = "<=", [OP_IN] = "in", [OP_NIN] = "nin", [OP_CONTAINS] = "contains",
	[OP_TEXT_MATCH] = "text_match", [OP_ANY] = "any", [OP_ALL] = "all",
	[OP_IS_EMPTY] = "is_empty",
};

enum fv_type { FV_NONE, FV_NUM, FV_STR, FV_LIST };

struct fval {
	enum fv_type type;
	double num;		/* FV_NUM (bools are 0 / 1) */
	char *str;		/* FV_STR */
	struct fval *items;	/* FV_LIST: scalars only */
	size_t n;
};

struct filter {
	int group;
	/* group */
	int any_of;		/* "or" */
	struct filter *kids;
	size_t n;
	/* leaf */
	char *key;
	enum fop op;
	struct fval val;
};

static void fval_release(struct fval *v)
{
	for (size_t i = 0; i < v->n; i++)
		fval_release(&v->items[i]);
	free(v->items);
	free(v->str);
}

static void node_release(struct filter *f)
{
	for (size_t i = 0; i < f->n; i++)
		node_release(&f->kids[i]);
	free(f->kids);
	free(f->key);
	fval_release(&f->val);
}

void filter_free(struct filter *f)
{
	if (!f)
		return;
	node_release(f);
	free(f);
}

static __attribute__((format(printf, 3, 4))) int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		/* Keys and operators are user text: keep the message one line. */
		for (char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = ' ';
	}
	return -EINVAL;
}

static int scalar_copy(const cJSON *j, struct fval *v)
{
	if (cJSON_IsNumber(j)) {
		v->type = FV_NUM;
		v->num = j->valuedouble;
	} else if (cJSON_IsBool(j)) {
		v->type = FV_NUM;
		v->num = cJSON_IsTrue(j);
	} else if (cJSON_IsString(j)) {
		v->type = FV_STR;
		v->str = strdup(j->valuestring);
		if (!v->str)
			return -ENOMEM;
	} else {
		return -EINVAL;
	}
	return 0;
}

/* Which value shapes each operator takes. */
#define NEED_SCALAR 1
#define NEED_LIST 2
#define NEED_STRING 4

static int op_needs(enum fop op)
{
	switch (op) {
	case OP_EQ:
	case OP_NE:
		return NEED_SCALAR | NEED_LIST;
	case OP_IN:
	case OP_NIN:
	case OP_ANY:
	case OP_ALL:
		return NEED_LIST;
	case OP_TEXT_MATCH:
		return NEED_STRING;
	default:
		return NEED_SCALAR;
	}
}

static int parse_value(const cJSON *j, const char *key, enum fop op, struct fval *v,
		       char *err, size_t errlen)
{
	int needs = op_needs(op);
	if (op == OP_IS_EMPTY)
		return 0; /* the value is not used */
	if (!j)
		return fail(err, errlen, "filter on \"%.40s\": no \"value\"", key);
	if (cJSON_IsNull(j))
		return fail(err, errlen, "filter on \"%.40s\": null \"value\" (only is_empty "
			    "takes no value)", key);
	if (cJSON_IsArray(j)) {
		if (!(needs & NEED_LIST))
			return fail(err, errlen, "filter on \"%.40s\": operator \"%s\" needs a "
				    "single value, not a list", key, op_names[op]);
		size_t n = (size_t)cJSON_GetArraySize(j), i = 0;
		v->type = FV_LIST;
		v->items = calloc(n ? n : 1, sizeof(*v->items));
		if (!v->items)
			return -ENOMEM;
		const cJSON *e;
		cJSON_ArrayForEach(e, j) {
			int rc = scalar_copy(e, &v->items[i]);
			if (rc == -EINVAL)
				return fail(err, errlen, "filter on \"%.40s\": list items must be "
					    "strings, numbers or booleans", key);
			if (rc)
				return rc;
			v->n = ++i;
		}
		return 0;
	}
	if (needs == NEED_LIST)
		return fail(err, errlen, "filter on \"%.40s\": operator \"%s\" needs a list "
			    "value", key, op_names[op]);
	if (needs == NEED_STRING && !cJSON_IsString(j))
		return fail(err, errlen, "filter on \"%.40s\": operator \"%s\" needs a string "
			    "value", key, op_names[op]);
	int rc = scalar_copy(j, v);
	if (rc == -EINVAL)
		return fail(err, errlen, "filter on \"%.40s\": \"value\" must be a string, "
			    "number, boolean or list", key);
	return rc;
}

static int parse_leaf(const cJSON *j, struct filter *f, char *err, size_t errlen)
{
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key");
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(j, "operator");
	if (!key)
		return fail(err, errlen, "filter has no \"key\"");
	if (!cJSON_IsString(key))
		return fail(err, errlen, "filter \"key\" is not a string");
	f->op = OP_EQ;
	if (op && !cJSON_IsNull(op)) {
		size_t i, nops = sizeof(op_names) / sizeof(op_names[0]);
		if (!cJSON_IsString(op))
			return fail(err, errlen, "filter on \"%.40s\": \"operator\" is not a "
				    "string", key->valuestring);
		for (i = 0; i < nops; i++)
			if (!strcmp(op->valuestring, op_names[i]))
				break;
		if (i == nops)
			return fail(err, errlen, "unknown operator \"%.40s\"", op->valuestring);
		f->op = (enum fop)i;
	}
	f->key = strdup(key->valuestring);
	if (!f->key)
		return -ENOMEM;
	return parse_value(cJSON_GetObjectItemCaseSensitive(j, "value"), f->key, f->op,
			   &f->val, err, errlen);
}

static int parse_node(const cJSON *j, struct filter *f, int depth, char *err, size_t errlen);

/* list is the "filters" array; cond the "condition" item or NULL. */
static int parse_group(const cJSON *list, const cJSON *cond, struct filter *f, int depth,
		       char *err, size_t errlen)
{
	f->group = 1;
	if (depth > FILTER_MAX_DEPTH)
		return fail(err, errlen, "filters nested deeper than %d levels",
			    FILTER_MAX_DEPTH);
	if (cond && !cJSON_IsNull(cond)) {
		if (!cJSON_IsString(cond))
			return fail(err, errlen, "\"condition\" is not a string");
		if (!strcasecmp(cond->valuestring, "or"))
			f->any_of = 1;
		else if (strcasecmp(cond->valuestring, "and"))
			return fail(err, errlen, "bad condition \"%.40s\" (want \"and\" or "
				    "\"or\")", cond->valuestring);
	}
	if (!cJSON_IsArray(list))
		return fail(err, errlen, "\"filters\" is not a list");
	size_t n = (size_t)cJSON_GetArraySize(list), i = 0;
	f->kids = calloc(n ? n : 1, sizeof(*f->kids));
	if (!f->kids)
		return -ENOMEM;
	const cJSON *e;
	cJSON_ArrayForEach(e, list) {
		/* Count it first so a half-parsed kid is released too. */
		f->n = ++i;
		int rc = parse_node(e, &f->kids[i - 1], depth + 1, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

/* A filter, a nested {"filters": ...} group, or a bare list group. */
static int parse_node(const cJSON *j, struct filter *f, int depth, char *err, size_t errlen)
{
	if (cJSON_IsArray(j))
		return parse_group(j, NULL, f, depth, err, errlen);
	if (!cJSON_IsObject(j))
		return fail(err, errlen, "a filter must be an object or a list");
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "filters");
	if (list)
		return parse_group(list, cJSON_GetObjectItemCaseSensitive(j, "condition"), f,
				   depth, err, errlen);
	return parse_leaf(j, f, err, errlen);
}

int filter_parse(const cJSON *json, struct filter **out, char *err, size_t errlen)
{
	*out = NULL;
	if (err && errlen)
		*err = '\0';
	if (!json)
		return fail(err, errlen, "no filters");
	struct filter *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	int rc = parse_node(json, f, 1, err, errlen);
	if (rc) {
		if (rc == -ENOMEM && err && errlen)
			snprintf(err, errlen, "out of memory");
		filter_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

/* Evaluation. m is never NULL or JSON null here. */

static int is_num(const cJSON *m)
{
	return cJSON_IsNumber(m) || cJSON_IsBool(m);
}

static double num_of(const cJSON *m)
{
	return cJSON_IsBool(m) ? (double)cJSON_IsTrue(m) : m->valuedouble;
}

static int scalar_eq(const cJSON *m, const struct fval *v)
{
	if (v->type == FV_NUM)
		return is_num(m) && num_of(m) == v->num;
	if (v->type == FV_STR)
		return cJSON_IsString(m) && !strcmp(m->valuestring, v->str);
	return 0;
}

/* Python's m == v, with lists compared item by item. */
static int val_eq(const cJSON *m, const struct fval *v)
{
	if (v->type != FV_LIST)
		return scalar_eq(m, v);
	if (!cJSON_IsArray(m))
		return 0;
	size_t i = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, m) {
		if (i == v->n || !scalar_eq(e, &v->items[i]))
			return 0;
		i++;
	}
	return i == v->n;
}

/* 1 with *cmp set, or 0 when the types do not order (Python would raise). */
static int order(const cJSON *m, const struct fval *v, int *cmp)
{
	if (v->type == FV_NUM && is_num(m)) {
		double a = num_of(m);
		*cmp = (a > v->num) - (a < v->num);
		return 1;
	}
	if (v->type == FV_STR && cJSON_IsString(m)) {
		*cmp = strcmp(m->valuestring, v->str);
		return 1;
	}
	return 0;
}

static int in_list(const struct fval *list, const cJSON *m)
{
	for (size_t i = 0; i < list->n; i++)
		if (scalar_eq(m, &list->items[i]))
			return 1;
	return 0;
}

/* Python's v in m for a scalar v: membership in a list, substring of a string. */
static int m_has(const cJSON *m, const struct fval *v)
{
	if (cJSON_IsArray(m)) {
		const cJSON *e;
		cJSON_ArrayForEach(e, m)
			if (scalar_eq(e, v))
				return 1;
		return 0;
	}
	if (cJSON_IsString(m))
		return v->type == FV_STR && strstr(m->valuestring, v->str) != NULL;
	return 0;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int has_icase(const char *hay, const char *needle)
{
	if (!*needle)
		return 1;
	for (; *hay; hay++) {
		size_t i = 0;
		while (needle[i] && hay[i] && lower((unsigned char)hay[i]) ==
					      lower((unsigned char)needle[i]))
			i++;
		if (!needle[i])
			return 1;
	}
	return 0;
}

static int is_empty(const cJSON *m)
{
	return !m || cJSON_IsNull(m) || (cJSON_IsString(m) && !*m->valuestring) ||
	       (cJSON_IsArray(m) && !m->child);
}

static int leaf_match(const struct filter *f, const cJSON *meta)
{
	const cJSON *m = cJSON_IsObject(meta) ?
			 cJSON_GetObjectItemCaseSensitive(meta, f->key) : NULL;
	const struct fval *v = &f->val;
	int cmp;
	if (f->op == OP_IS_EMPTY)
		return is_empty(m);
	if (!m || cJSON_IsNull(m))
		return 0;
	switch (f->op) {
	case OP_EQ:
		return val_eq(m, v);
	case OP_NE:
		return !val_eq(m, v);
	case OP_GT:
		return order(m, v, &cmp) && cmp > 0;
	case OP_GE:
		return order(m, v, &cmp) && cmp >= 0;
	case OP_LT:
		return order(m, v, &cmp) && cmp < 0;
	case OP_LE:
		return order(m, v, &cmp) && cmp <= 0;
	case OP_IN:
		return in_list(v, m);
	case OP_NIN:
		return !in_list(v, m);
	case OP_CONTAINS:
		return m_has(m, v);
	case OP_TEXT_MATCH:
		return cJSON_IsString(m) && has_icase(m->valuestring, v->str);
	case OP_ANY:
		for (size_t i = 0; i < v->n; i++)
			if (m_has(m, &v->items[i]))
				return 1;
		return 0;
	case OP_ALL:
		if (!cJSON_IsArray(m) && !cJSON_IsString(m))
			return 0;
		for (size_t i = 0; i < v->n; i++)
			if (!m_has(m, &v->items[i]))
				return 0;
		return 1;
	default:
		return 0;
	}
}

static int node_match(const struct filter *f, const cJSON *meta)
{
	if (!f->group)
		return leaf_match(f, meta);
	if (!f->n)
		return 1;
	for (size_t i = 0; i < f->n; i++) {
		int r = node_match(&f->kids[i], meta);
		if (r == f->any_of)
			return r;
	}
	return !f->any_of;
}

int filter_match(const struct filter *f, const cJSON *metadata)
{
	return node_match(f, metadata);
}

/* Introspection (filter_index.c). */

enum filter_shape filter_shape(const struct filter *f)
{
	if (f->group)
		return f->any_of ? FILTER_OR : FILTER_AND;
	if (f->op == OP_EQ && (f->val.type == FV_NUM || f->val.type == FV_STR))
		return FILTER_EQ;
	if (f->op == OP_IN && f->val.type == FV_LIST)
		return FILTER_IN;
	if (f->val.type == FV_NUM) {
		switch (f->op) {
		case OP_GT: return FILTER_GT;
		case OP_GE: return FILTER_GE;
		case OP_LT: return FILTER_LT;
		case OP_LE: return FILTER_LE;
		default: break;
		}
	}
	return FILTER_OTHER;
}

size_t filter_nkids(const struct filter *f)
{
	return f->group ? f->n : 0;
}

const struct filter *filter_kid(const struct filter *f, size_t i)
{
	return &f->kids[i];
}

const char *filter_key(const struct filter *f)
{
	return f->key;
}

size_t filter_nvalues(const struct filter *f)
{
	enum filter_shape sh = filter_shape(f);
	return sh == FILTER_IN ? f->val.n : sh == FILTER_OTHER || sh <= FILTER_OR ? 0 : 1;
}

void filter_value(const struct filter *f, size_t i, struct filter_scalar *v)
{
	const struct fval *x = f->val.type == FV_LIST ? &f->val.items[i] : &f->val;
	v->is_num = x->type == FV_NUM;
	v->num = x->num;
	v->str = x->type == FV_STR ? x->str : NULL;
}
