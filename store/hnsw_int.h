/* store/hnsw_int.h - the HNSW graph's insides, shared by hnsw.c (the graph)
 * and hnsw_file.c (its file). Nothing else includes this.
 *
 * Slots live in blocks of HB slots. A block holds the unit vectors and the
 * level-0 link lists (count, then up to m0 = 2m slot numbers) of its slots
 * as two flat arrays, which for a loaded graph point straight into the file
 * mapping (only the last, partial block is copied), plus small per-slot
 * arrays: level, flags, tag, upper links (levels 1..level, 1 + m each:
 * malloc'd or inside the mapping) and key (malloc'd or inside the mapping).
 * Growing appends blocks, so nothing already published ever moves. Slots
 * below n are published (reachable by links, readable under the lock);
 * slots from n to nres are being filled by the mutator.
 */
#ifndef STORE_HNSW_INT_H
#define STORE_HNSW_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "hnsw.h"
#include "map.h"

#define HB_SHIFT 10
#define HB (1u << HB_SHIFT)
#define HB_MASK (HB - 1)
#define MAX_LEVEL 16
#define F_DELETED 1
#define NONE UINT32_MAX

struct hblock {
	float *vec;	/* HB * dim */
	uint32_t *l0;	/* HB * (1 + m0) */
	int owned;	/* vec and l0 malloc'd (else in the mapping) */
	uint8_t level[HB];
	uint8_t flags[HB];
	uint64_t tag[HB];
	uint32_t *up[HB];	/* level * (1 + m), or NULL at level 0 */
	const char *key[HB];
};

struct vlist {
	struct vlist *next;
	uint16_t *tag;
	size_t cap;
	uint16_t cur;
};

struct hnsw {
	uint32_t dim, m, m0, efc;
	double ml;
	uint64_t rng;
	size_t n;		/* published slots */
	size_t nres;		/* reserved slots (n <= nres), written by the mutator */
	struct hblock **blk;
	size_t nblk, capblk;
	size_t ndeleted;
	uint32_t entry;
	int maxlevel;
	struct map *keys;	/* live key -> slot + 1 */
	pthread_rwlock_t lock;
	char *map;		/* the loaded file, or NULL */
	size_t maplen;
	pthread_mutex_t vlock;
	struct vlist *vpool;
};

static inline struct hblock *blk_of(const struct hnsw *h, uint32_t s)
{
	return h->blk[s >> HB_SHIFT];
}

static inline const float *vec_of(const struct hnsw *h, uint32_t s)
{
	return blk_of(h, s)->vec + (size_t)(s & HB_MASK) * h->dim;
}

static inline uint32_t *links_of(const struct hnsw *h, uint32_t s, int level)
{
	struct hblock *b = blk_of(h, s);
	if (!level)
		return b->l0 + (size_t)(s & HB_MASK) * (1 + h->m0);
	return b->up[s & HB_MASK] + (size_t)(level - 1) * (1 + h->m);
}

#endif
