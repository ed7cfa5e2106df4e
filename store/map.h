/* store/map.h - a string-keyed hash map (open hashing with chains).
 *
 * Keys are copied in (the map owns its key copies); values are opaque
 * pointers owned by the caller. Not thread safe: the owner locks.
 * Iteration order is unspecified; map_keys_sorted gives a sorted view.
 */
#ifndef STORE_MAP_H
#define STORE_MAP_H

#include <stddef.h>
#include <stdint.h>

struct map;

struct map *map_new(void);
/* Free the map and its key copies; free_val (may be NULL) is called per value. */
void map_free(struct map *m, void (*free_val)(void *));

/* Value for key, or NULL when absent. */
void *map_get(const struct map *m, const char *key);
/* Insert or replace. *old (if old != NULL) gets the replaced value or NULL.
 * 0 or -ENOMEM. */
int map_put(struct map *m, const char *key, void *val, void **old);
/* Remove key; returns its value or NULL when absent. */
void *map_del(struct map *m, const char *key);
size_t map_count(const struct map *m);
/* The 64-bit FNV-1a hash the map uses for its keys (rowmap.c too). */
uint64_t map_hash(const char *s);

/* Call fn(key, val, ctx) for every entry; a non-zero return stops and is
 * returned. The map must not be modified during the walk. */
int map_each(const struct map *m, int (*fn)(const char *key, void *val, void *ctx),
	     void *ctx);

/* A malloc'd array of the map's keys (borrowed pointers, valid until the
 * entry is removed), sorted by strcmp. *n gets the count. NULL on ENOMEM. */
const char **map_keys_sorted(const struct map *m, size_t *n);

#endif
