/* store/map.c - see map.h */
#include "map.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct map_ent {
	struct map_ent *next;
	uint64_t hash;
	void *val;
	char key[];
};

struct map {
	struct map_ent **slots;
	size_t nslots;
	size_t count;
};

uint64_t map_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

struct map *map_new(void)
{
	struct map *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->nslots = 64;
	m->slots = calloc(m->nslots, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return NULL;
	}
	return m;
}

void map_free(struct map *m, void (*free_val)(void *))
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nslots; i++) {
		struct map_ent *e = m->slots[i];
		while (e) {
			struct map_ent *n = e->next;
			if (free_val)
				free_val(e->val);
			free(e);
			e = n;
		}
	}
	free(m->slots);
	free(m);
}

static struct map_ent **find(const struct map *m, const char *key, uint64_t h)
{
	struct map_ent **pp = &m->slots[h & (m->nslots - 1)];
	while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key)))
		pp = &(*pp)->next;
	return pp;
}

void *map_get(const struct map *m, const char *key)
{
	struct map_ent **pp = find(m, key, map_hash(key));
	return *pp ? (*pp)->val : NULL;
}

static int rehash(struct map *m)
{
	size_t n = m->nslots * 2;
	struct map_ent **slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->nslots; i++) {
		struct map_ent *e = m->slots[i];
		while (e) {
			struct map_ent *next = e->next;
			size_t j = e->hash & (n - 1);
			e->next = slots[j];
			slots[j] = e;
			e = next;
		}
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = n;
	return 0;
}

int map_put(struct map *m, const char *key, void *val, void **old)
{
	uint64_t h = map_hash(key);
	struct map_ent **pp = find(m, key, h);
	if (*pp) {
		if (old)
			*old = (*pp)->val;
		(*pp)->val = val;
		return 0;
	}
	if (old)
		*old = NULL;
	size_t klen = strlen(key);
	struct map_ent *e = malloc(sizeof(*e) + klen + 1);
	if (!e)
		return -ENOMEM;
	memcpy(e->key, key, klen + 1);
	e->hash = h;
	e->val = val;
	e->next = NULL;
	*pp = e;
	m->count++;
	if (m->count > m->nslots)
		rehash(m); /* a failed grow only costs speed */
	return 0;
}

void *map_del(struct map *m, const char *key)
{
	struct map_ent **pp = find(m, key, map_hash(key));
	struct map_ent *e = *pp;
	if (!e)
		return NULL;
	*pp = e->next;
	void *v = e->val;
	free(e);
	m->count--;
	return v;
}

size_t map_count(const struct map *m)
{
	return m->count;
}

int map_each(const struct map *m, int (*fn)(const char *, void *, void *), void *ctx)
{
	for (size_t i = 0; i < m->nslots; i++)
		for (struct map_ent *e = m->slots[i]; e; e = e->next) {
			int rc = fn(e->key, e->val, ctx);
			if (rc)
				return rc;
		}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **map_keys_sorted(const struct map *m, size_t *n)
{
	const char **keys = malloc((m->count + 1) * sizeof(*keys));
	if (!keys)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < m->nslots; i++)
		for (struct map_ent *e = m->slots[i]; e; e = e->next)
			keys[k++] = e->key;
	qsort(keys, k, sizeof(*keys), cmp_str);
	*n = k;
	return keys;
}
