/* store/rowmap.c - see rowmap.h */
#include "rowmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

/* map.c's hash, folded to 32 bits: slot index and quick compare. */
static uint32_t hash_id(const char *s)
{
	uint64_t h = map_hash(s);
	return (uint32_t)(h ^ h >> 32);
}

long rowmap_find(const struct rowmap *m, char *const *ids, const char *id)
{
	if (!m->count)
		return -1;
	uint32_t h = hash_id(id);
	for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
		const struct rowmap_slot *s = &m->slots[i];
		if (!s->row1)
			return -1;
		if (s->hash == h && !strcmp(ids[s->row1 - 1], id))
			return (long)s->row1 - 1;
	}
}

/* The slot holding row (present). */
static size_t slot_of(const struct rowmap *m, char *const *ids, size_t row)
{
	size_t i = hash_id(ids[row]) & m->mask;
	while (m->slots[i].row1 != row + 1)
		i = (i + 1) & m->mask;
	return i;
}

static void place(struct rowmap_slot *slots, size_t mask, struct rowmap_slot s)
{
	size_t i = s.hash & mask;
	while (slots[i].row1)
		i = (i + 1) & mask;
	slots[i] = s;
}

/* Twice as many slots (64 at first); the stored hashes place the entries
 * without touching the ids. */
static int grow(struct rowmap *m)
{
	size_t n = m->slots ? (m->mask + 1) * 2 : 64;
	struct rowmap_slot *slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; m->slots && i <= m->mask; i++)
		if (m->slots[i].row1)
			place(slots, n - 1, m->slots[i]);
	free(m->slots);
	m->slots = slots;
	m->mask = n - 1;
	return 0;
}

int rowmap_insert(struct rowmap *m, char *const *ids, size_t row)
{
	if (row >= ROWMAP_MAX_ROWS)
		return -ENOMEM;
	if ((!m->slots || (m->count + 1) * 2 > m->mask + 1) && grow(m))
		return -ENOMEM;
	/* The probe to the free slot passes every entry that could hold the
	 * same id: checking them costs no second lookup. */
	uint32_t h = hash_id(ids[row]);
	size_t i = h & m->mask;
	for (; m->slots[i].row1; i = (i + 1) & m->mask)
		if (m->slots[i].hash == h && !strcmp(ids[m->slots[i].row1 - 1], ids[row]))
			return -EEXIST;
	m->slots[i] = (struct rowmap_slot){ (uint32_t)row + 1, h };
	m->count++;
	return 0;
}

void rowmap_remove(struct rowmap *m, char *const *ids, size_t row)
{
	size_t i = slot_of(m, ids, row), j = i;
	/* Backward shift: pull later entries of the run into the hole unless
	 * their home slot lies cyclically in (i, j]. */
	for (;;) {
		j = (j + 1) & m->mask;
		if (!m->slots[j].row1)
			break;
		size_t k = m->slots[j].hash & m->mask;
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		m->slots[i] = m->slots[j];
		i = j;
	}
	m->slots[i].row1 = 0;
	m->count--;
}

void rowmap_relabel(struct rowmap *m, char *const *ids, size_t from, size_t to)
{
	m->slots[slot_of(m, ids, from)].row1 = (uint32_t)to + 1;
}

void rowmap_free(struct rowmap *m)
{
	free(m->slots);
	*m = (struct rowmap){ 0 };
}
