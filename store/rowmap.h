/* store/rowmap.h - id -> row for an array of ids the owner keeps.
 *
 * The vecindex holds its ids in an array (ids[row]) and needs the reverse:
 * which row an id is in. A general string map would copy every key again
 * and allocate a chain entry per row (a million mallocs at mount, the
 * largest part of a replay's CPU after the rows themselves). Here the
 * table holds only row numbers and 32-bit hashes, in open addressing with
 * linear probing (load at most 1/2, deletion by backward shift: no
 * tombstones), and compares keys through the owner's ids[].
 *
 * Invariants: every entry's row r has ids[r] set by the owner, and entries
 * are unique by id. The owner calls rowmap_remove/rowmap_relabel while
 * ids[row] still holds the id the entry was inserted with. Rows fit in
 * 32 bits (RAGFS never holds 4 billion vectors). Not thread safe: the
 * owner locks.
 */
#ifndef STORE_ROWMAP_H
#define STORE_ROWMAP_H

#include <stddef.h>
#include <stdint.h>

struct rowmap_slot {
	uint32_t row1;	/* row + 1; 0: empty */
	uint32_t hash;
};

struct rowmap {
	struct rowmap_slot *slots;
	size_t mask;	/* slots - 1 (a power of two), or 0 before the first insert */
	size_t count;
};

#define ROWMAP_MAX_ROWS (UINT32_MAX - 1)

/* The row of id, or -1. */
long rowmap_find(const struct rowmap *m, char *const *ids, const char *id);
/* Add row (ids[row] set). 0; -EEXIST when an entry already has that id;
 * -ENOMEM. Either error adds nothing. */
int rowmap_insert(struct rowmap *m, char *const *ids, size_t row);
/* Drop row's entry (ids[row] still its id). */
void rowmap_remove(struct rowmap *m, char *const *ids, size_t row);
/* The entry of row from (ids[from] its id) now names row to. */
void rowmap_relabel(struct rowmap *m, char *const *ids, size_t from, size_t to);
void rowmap_free(struct rowmap *m);

#endif
