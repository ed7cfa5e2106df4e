/* store/filter_index.h - an inverted index of node metadata over vecindex
 * rows, so a selective MetadataFilter reads only the rows it can match.
 *
 * For each top-level metadata key (up to FIDX_MAX_KEY bytes) whose value is
 * a string (up to FIDX_MAX_VALUE bytes), a number or a boolean, a posting
 * key=value holds the vecindex rows of the nodes with that value. Numbers
 * and booleans are keyed by their double value (true = 1, -0 = 0), as the
 * filter's comparisons see them; strings byte for byte. Only the first
 * item of a duplicated key counts, as in filter_match. Each key with a
 * number posting also lists its number postings with their values, for
 * range filters.
 *
 * Invariant (kept by state.c, which owns the index beside the vecindex and
 * node metadata): row r is in posting (key, v) exactly when the node
 * vecindex_id(r) has metadata whose key item is indexable and equal to v;
 * a key's number list holds exactly its number postings, each with its
 * value. The owner calls fidx_set_row when a row is appended or its node's
 * metadata changes, and fidx_remove_row when the vecindex removes a row
 * (which moves its last row into the hole: every posting entry and the
 * moved row's back references follow). Each row keeps (posting, position)
 * back references, and each number posting its place in its key's list, so
 * all of this is O(keys of the row).
 *
 * fidx_candidates turns a filter into a bitmap that holds every row the
 * filter can match (a superset: the filter still runs on each candidate):
 * "==" with a scalar, and "in", are answered by postings; ">", ">=", "<"
 * and "<=" with a number (or boolean) bound by the postings of the key's
 * numbers that pass (exactly the rows that match: such a range is false
 * on strings, lists, null and missing keys), several on one key in an
 * "and" by one pass; "and" intersects what its children restrict, "or"
 * unites them when all do; anything else (other operators, string bounds,
 * lists, long keys or values, an index that ran out of memory) restricts
 * nothing. A range costs O(distinct numbers under its key + rows it
 * matches), with no memory per row beyond the postings and no limit on
 * keys; one that would hold over 1/8 of the rows from over 4096 postings
 * (and 1/32 of the row count) restricts nothing, as its bitmap would cost
 * a good part of the full scan it cannot avoid. A NULL index (out of
 * memory when made) is accepted by every call and restricts nothing. Not
 * thread safe: the store's rwlock guards it.
 */
#ifndef STORE_FILTER_INDEX_H
#define STORE_FILTER_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "filter.h"

#define FIDX_MAX_KEY 256
#define FIDX_MAX_VALUE 256

struct fidx;

int fidx_new(struct fidx **out);
void fidx_free(struct fidx *fx);

/* Row's node metadata is now meta (an object, or NULL for none). row is an
 * existing row or the next one (the count). On ENOMEM the index stops
 * answering (candidates restrict nothing) rather than answer wrongly. */
void fidx_set_row(struct fidx *fx, size_t row, const cJSON *meta);
/* The vecindex removed row, moving row last (the old count - 1) into it. */
void fidx_remove_row(struct fidx *fx, size_t row, size_t last);

/* Rows f can match, for an index of nrows rows: *bits NULL (no restriction)
 * or a malloc'd bitmap of nrows bits (bit r%64 of word r/64) holding
 * *count rows. 0 or -ENOMEM. */
int fidx_candidates(const struct fidx *fx, const struct filter *f, size_t nrows,
		    uint64_t **bits, size_t *count);

/* Postings and (row, posting) entries; rows tracked. For stats and tests. */
void fidx_counts(const struct fidx *fx, size_t *postings, size_t *entries, size_t *rows);
/* Check the internal cross references (rows and postings, number postings
 * and their keys' lists, values included); 0, or -EIO naming the first
 * fault in err. For tests. */
int fidx_check(const struct fidx *fx, char *err, size_t errlen);

#endif
