/* store/hnsw_file.c - the HNSW graph's file: hnsw_save and hnsw_load (see
 * hnsw.h for the contract).
 *
 * Layout (little-endian host arrays, mapped in place): a HDR_LEN header
 * (struct hdr: magic, version, parameters, entry point, counts, the
 * level-draw state, a section table, the caller's ident, a CRC-32 of the
 * body and one of the header itself), then the sections of layout(), each
 * 64-byte aligned: unit vectors (n x dim float), level-0 lists (n x (1 + m0)
 * u32), levels (u8), flags (u8), tags (u64), upper-list offsets (u64 in u32
 * units, UINT64_MAX at level 0), upper lists (u32), key offsets (u64), keys
 * (NUL-terminated; "" for tombstones). A load trusts nothing: the section
 * table must be exactly what the counts imply, both CRCs must match, and
 * every level, link (in range, to a slot whose level reaches the list's),
 * key offset and the entry point are checked before the graph is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "hnsw_int.h"

#define FILE_MAGIC "RAGHNSW\0"
#define FILE_VERSION 1
#define HDR_LEN 4096
enum { S_VEC, S_L0, S_LEVEL, S_FLAGS, S_TAG, S_UPOFF, S_UPPER, S_KEYOFF, S_KEYS, NSECT };

/* ------------------------------------------------------------ save */

struct hdr {
	char magic[8];
	uint32_t version, hdr_len;
	uint32_t dim, m, m0, efc;
	uint32_t entry;
	int32_t maxlevel;
	uint64_t n, ndeleted, rng, file_len;
	uint64_t off[NSECT], len[NSECT];
	char ident[HNSW_IDENT_MAX];
	uint32_t body_crc, hdr_crc;
};

_Static_assert(sizeof(struct hdr) <= HDR_LEN, "header fits its page");
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the graph file is little-endian host arrays"
#endif

static uint32_t crc_of(uint32_t c, const void *p, size_t n)
{
	const unsigned char *b = p;
	while (n) {
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
		c = (uint32_t)crc32(c, b, k);
		b += k;
		n -= k;
	}
	return c;
}

struct wbuf {
	int fd;
	char *buf;
	size_t len;
	uint64_t pos;
	uint32_t crc;
	int err;
};

#define WBUF_CAP (1u << 20)

static void wb_flush(struct wbuf *w)
{
	size_t off = 0;
	while (!w->err && off < w->len) {
		ssize_t k = write(w->fd, w->buf + off, w->len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			w->err = k < 0 ? -errno : -EIO;
		else
			off += (size_t)k;
	}
	w->len = 0;
}

static void wb_put(struct wbuf *w, const void *p, size_t n)
{
	const char *b = p;
	w->crc = crc_of(w->crc, p, n);
	w->pos += n;
	while (n && !w->err) {
		size_t k = WBUF_CAP - w->len < n ? WBUF_CAP - w->len : n;
		memcpy(w->buf + w->len, b, k);
		w->len += k;
		b += k;
		n -= k;
		if (w->len == WBUF_CAP)
			wb_flush(w);
	}
}

static void wb_pad(struct wbuf *w, uint64_t to)
{
	static const char zero[64];
	while (w->pos < to) {
		size_t k = to - w->pos < sizeof(zero) ? (size_t)(to - w->pos) : sizeof(zero);
		wb_put(w, zero, k);
	}
}

static uint64_t align64(uint64_t x)
{
	return (x + 63) & ~(uint64_t)63;
}

/* Section sizes for n slots, the upper-link count and the key bytes. */
static void layout(struct hdr *hd, uint64_t nup, uint64_t nkeyb)
{
	uint64_t n = hd->n;
	hd->len[S_VEC] = n * hd->dim * sizeof(float);
	hd->len[S_L0] = n * (1 + hd->m0) * sizeof(uint32_t);
	hd->len[S_LEVEL] = n;
	hd->len[S_FLAGS] = n;
	hd->len[S_TAG] = n * 8;
	hd->len[S_UPOFF] = n * 8;
	hd->len[S_UPPER] = nup * sizeof(uint32_t);
	hd->len[S_KEYOFF] = n * 8;
	hd->len[S_KEYS] = nkeyb;
	uint64_t off = HDR_LEN;
	for (int i = 0; i < NSECT; i++) {
		hd->off[i] = off;
		off = align64(off + hd->len[i]);
	}
	hd->file_len = hd->off[S_KEYS] + hd->len[S_KEYS];
}

int hnsw_save(struct hnsw *h, const char *path, const char *ident)
{
	/* The mutator calls this: nothing changes under it, no lock needed. */
	if (strlen(ident) >= HNSW_IDENT_MAX)
		return -EINVAL;
	struct hdr hd = { .version = FILE_VERSION, .hdr_len = HDR_LEN, .dim = h->dim, .m = h->m,
			  .m0 = h->m0, .efc = h->efc, .entry = h->entry, .maxlevel = h->maxlevel,
			  .n = h->n, .ndeleted = h->ndeleted, .rng = h->rng };
	memcpy(hd.magic, FILE_MAGIC, 8);
	snprintf(hd.ident, sizeof(hd.ident), "%s", ident);
	uint64_t nup = 0, nkeyb = 0;
	for (uint32_t s = 0; s < h->n; s++) {
		const struct hblock *b = blk_of(h, s);
		nup += (uint64_t)b->level[s & HB_MASK] * (1 + h->m);
		nkeyb += (b->flags[s & HB_MASK] & F_DELETED ? 0 : strlen(b->key[s & HB_MASK])) + 1;
	}
	layout(&hd, nup, nkeyb);

	char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return -ENOMEM;
	struct wbuf w = { .buf = malloc(WBUF_CAP), .pos = HDR_LEN };
	w.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w.fd < 0 || !w.buf) {
		int rc = w.fd < 0 ? -errno : -ENOMEM;
		if (w.fd >= 0)
			close(w.fd);
		free(w.buf);
		free(tmp);
		return rc;
	}
	if (lseek(w.fd, HDR_LEN, SEEK_SET) < 0)
		w.err = -errno;
	w.crc = (uint32_t)crc32(0L, Z_NULL, 0);
	size_t row = (size_t)h->dim * sizeof(float), l0 = (size_t)(1 + h->m0) * sizeof(uint32_t);
	for (size_t b = 0; b * HB < h->n; b++) {
		size_t cnt = h->n - b * HB < HB ? h->n - b * HB : HB;
		wb_put(&w, h->blk[b]->vec, cnt * row);
	}
	wb_pad(&w, hd.off[S_L0]);
	for (size_t b = 0; b * HB < h->n; b++) {
		size_t cnt = h->n - b * HB < HB ? h->n - b * HB : HB;
		wb_put(&w, h->blk[b]->l0, cnt * l0);
	}
	wb_pad(&w, hd.off[S_LEVEL]);
	for (size_t b = 0; b * HB < h->n; b++)
		wb_put(&w, h->blk[b]->level, h->n - b * HB < HB ? h->n - b * HB : HB);
	wb_pad(&w, hd.off[S_FLAGS]);
	for (size_t b = 0; b * HB < h->n; b++)
		wb_put(&w, h->blk[b]->flags, h->n - b * HB < HB ? h->n - b * HB : HB);
	wb_pad(&w, hd.off[S_TAG]);
	for (size_t b = 0; b * HB < h->n; b++)
		wb_put(&w, h->blk[b]->tag, (h->n - b * HB < HB ? h->n - b * HB : HB) * 8);
	wb_pad(&w, hd.off[S_UPOFF]);
	uint64_t o = 0;
	for (uint32_t s = 0; s < h->n; s++) {
		uint8_t lv = blk_of(h, s)->level[s & HB_MASK];
		uint64_t v = lv ? o : UINT64_MAX;
		wb_put(&w, &v, 8);
		o += (uint64_t)lv * (1 + h->m);
	}
	wb_pad(&w, hd.off[S_UPPER]);
	for (uint32_t s = 0; s < h->n; s++) {
		const struct hblock *b = blk_of(h, s);
		uint8_t lv = b->level[s & HB_MASK];
		if (lv)
			wb_put(&w, b->up[s & HB_MASK], (size_t)lv * (1 + h->m) * sizeof(uint32_t));
	}
	wb_pad(&w, hd.off[S_KEYOFF]);
	o = 0;
	for (uint32_t s = 0; s < h->n; s++) {
		const struct hblock *b = blk_of(h, s);
		wb_put(&w, &o, 8);
		o += (b->flags[s & HB_MASK] & F_DELETED ? 0 : strlen(b->key[s & HB_MASK])) + 1;
	}
	wb_pad(&w, hd.off[S_KEYS]);
	for (uint32_t s = 0; s < h->n; s++) {
		const struct hblock *b = blk_of(h, s);
		const char *k = b->flags[s & HB_MASK] & F_DELETED ? "" : b->key[s & HB_MASK];
		wb_put(&w, k, strlen(k) + 1);
	}
	wb_flush(&w);
	hd.body_crc = w.crc;
	hd.hdr_crc = 0;
	hd.hdr_crc = crc_of((uint32_t)crc32(0L, Z_NULL, 0), &hd, sizeof(hd));
	char page[HDR_LEN] = { 0 };
	memcpy(page, &hd, sizeof(hd));
	if (!w.err && pwrite(w.fd, page, HDR_LEN, 0) != HDR_LEN)
		w.err = -EIO;
	if (close(w.fd) && !w.err)
		w.err = -errno;
	if (!w.err && rename(tmp, path))
		w.err = -errno;
	if (w.err)
		unlink(tmp);
	free(w.buf);
	free(tmp);
	return w.err;
}

/* ------------------------------------------------------------ load */

#define BAD(...) do { snprintf(why, whylen, __VA_ARGS__); rc = -EBADMSG; goto fail; } while (0)

static int check_list(const struct hnsw *h, const uint32_t *l, uint32_t max, int level,
		      const uint8_t *levels)
{
	if (l[0] > max)
		return -1;
	for (uint32_t j = 1; j <= l[0]; j++)
		if (l[j] >= h->n || levels[l[j]] < level)
			return -1;
	return 0;
}

int hnsw_load(const char *path, const struct hnsw_params *p, const char *ident,
	      struct hnsw **out, char *why, size_t whylen)
{
	struct hnsw *h = NULL;
	struct hdr hd;
	struct stat st;
	int rc;
	*out = NULL;
	snprintf(why, whylen, "ok");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) || st.st_size < HDR_LEN) {
		close(fd);
		snprintf(why, whylen, "shorter than its header");
		return -EBADMSG;
	}
	size_t len = (size_t)st.st_size;
	char *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(why, whylen, "mmap: %s", strerror(errno));
		return -ENOMEM;
	}
	memcpy(&hd, map, sizeof(hd));
	uint32_t want_crc = hd.hdr_crc;
	hd.hdr_crc = 0;
	if (memcmp(hd.magic, FILE_MAGIC, 8)) {
		snprintf(why, whylen, "not a ragfs HNSW file");
		rc = -EBADMSG;
		munmap(map, len);
		return rc;
	}
	if (hd.version != FILE_VERSION || hd.hdr_len != HDR_LEN ||
	    want_crc != crc_of((uint32_t)crc32(0L, Z_NULL, 0), &hd, sizeof(hd))) {
		snprintf(why, whylen, "header: version %u or checksum mismatch", hd.version);
		munmap(map, len);
		return -EBADMSG;
	}
	struct hnsw_params want = *p;
	if (!want.m)
		want.m = HNSW_DEFAULT_M;
	if (!want.ef_construction)
		want.ef_construction = HNSW_DEFAULT_EF_CONSTRUCTION;
	if (want.ef_construction < want.m)
		want.ef_construction = want.m;
	hd.ident[HNSW_IDENT_MAX - 1] = '\0';
	if (hd.dim != want.dim || hd.m != want.m || hd.efc != want.ef_construction ||
	    strcmp(hd.ident, ident)) {
		snprintf(why, whylen, "made for %.40s dim %u m %u ef_construction %u", hd.ident,
			 hd.dim, hd.m, hd.efc);
		munmap(map, len);
		return -ESTALE;
	}
	rc = hnsw_new(&want, &h);
	if (rc) {
		munmap(map, len);
		return rc;
	}
	h->map = map;
	h->maplen = len;
	if (hd.m0 != 2 * hd.m || hd.n >= NONE || hd.ndeleted > hd.n || hd.file_len != len)
		BAD("header: sizes do not add up (%llu bytes, file %zu)",
		    (unsigned long long)hd.file_len, len);
	struct hdr chk = hd;
	const uint64_t *upoff = (const uint64_t *)(map + hd.off[S_UPOFF]);
	if (hd.off[S_UPPER] % 4 || hd.len[S_UPPER] % 4)
		BAD("header: bad upper links section");
	layout(&chk, hd.len[S_UPPER] / 4, hd.len[S_KEYS]);
	if (memcmp(chk.off, hd.off, sizeof(hd.off)) || memcmp(chk.len, hd.len, sizeof(hd.len)) ||
	    chk.file_len != len)
		BAD("header: section table does not match %llu slots", (unsigned long long)hd.n);
	if (hd.body_crc != crc_of((uint32_t)crc32(0L, Z_NULL, 0), map + HDR_LEN, len - HDR_LEN))
		BAD("checksum mismatch (damaged or torn file)");

	h->n = h->nres = 0;
	h->rng = hd.rng ? hd.rng : h->rng;
	size_t n = hd.n;
	const uint8_t *lev = (const uint8_t *)(map + hd.off[S_LEVEL]);
	const uint8_t *flg = (const uint8_t *)(map + hd.off[S_FLAGS]);
	const uint64_t *tag = (const uint64_t *)(map + hd.off[S_TAG]);
	const uint64_t *keyoff = (const uint64_t *)(map + hd.off[S_KEYOFF]);
	uint32_t *upper = (uint32_t *)(map + hd.off[S_UPPER]);
	const char *keys = map + hd.off[S_KEYS];
	uint64_t nup = hd.len[S_UPPER] / 4, nkeyb = hd.len[S_KEYS];
	size_t row = (size_t)h->dim, l0w = 1 + h->m0;
	h->n = n; /* for check_list */
	h->capblk = (n + HB - 1) / HB + 16;
	h->blk = calloc(h->capblk, sizeof(*h->blk));
	for (size_t b = 0; b * HB < n; b++) {
		struct hblock *bk = h->blk ? calloc(1, sizeof(*bk)) : NULL;
		if (!bk) {
			h->n = 0;
			rc = -ENOMEM;
			snprintf(why, whylen, "out of memory");
			goto fail;
		}
		h->blk[h->nblk++] = bk;
		size_t cnt = n - b * HB < HB ? n - b * HB : HB;
		float *vsrc = (float *)(map + hd.off[S_VEC]) + b * HB * row;
		uint32_t *lsrc = (uint32_t *)(map + hd.off[S_L0]) + b * HB * l0w;
		if (cnt == HB) {
			bk->vec = vsrc;
			bk->l0 = lsrc;
		} else {
			/* The last block grows: a copy of its own. */
			void *v = NULL;
			bk->owned = 1;
			if (posix_memalign(&v, 64, (size_t)HB * row * sizeof(float)) ||
			    !(bk->l0 = calloc((size_t)HB * l0w, sizeof(uint32_t)))) {
				free(v);
				bk->owned = 0;
				bk->l0 = NULL;
				h->n = 0;
				rc = -ENOMEM;
				snprintf(why, whylen, "out of memory");
				goto fail;
			}
			bk->vec = v;
			memcpy(bk->vec, vsrc, cnt * row * sizeof(float));
			memcpy(bk->l0, lsrc, cnt * l0w * sizeof(uint32_t));
		}
		for (size_t i = 0; i < cnt; i++) {
			size_t s = b * HB + i;
			bk->level[i] = lev[s];
			bk->flags[i] = flg[s];
			bk->tag[i] = tag[s];
			bk->up[i] = NULL;
			bk->key[i] = NULL;
		}
	}
	h->nres = n;
	size_t ndel = 0;
	for (size_t s = 0; s < n; s++) {
		struct hblock *bk = blk_of(h, (uint32_t)s);
		uint32_t i = s & HB_MASK;
		if (lev[s] > MAX_LEVEL || (int)lev[s] > hd.maxlevel || flg[s] > F_DELETED)
			BAD("slot %zu: level %u or flags %u out of range", s, lev[s], flg[s]);
		if (lev[s] ? upoff[s] > nup || nup - upoff[s] < (uint64_t)lev[s] * (1 + h->m)
			   : upoff[s] != UINT64_MAX)
			BAD("slot %zu: upper links out of range", s);
		if (lev[s])
			bk->up[i] = upper + upoff[s];
		if (keyoff[s] >= nkeyb || !memchr(keys + keyoff[s], '\0', nkeyb - keyoff[s]))
			BAD("slot %zu: key out of range", s);
		bk->key[i] = keys + keyoff[s];
		if (check_list(h, links_of(h, (uint32_t)s, 0), h->m0, 0, lev))
			BAD("slot %zu: level-0 links out of range", s);
		for (int l = 1; l <= lev[s]; l++)
			if (check_list(h, links_of(h, (uint32_t)s, l), h->m, l, lev))
				BAD("slot %zu: level-%d links out of range", s, l);
		if (flg[s] & F_DELETED) {
			ndel++;
			continue;
		}
		if (!bk->key[i][0] || map_get(h->keys, bk->key[i]))
			BAD("slot %zu: empty or repeated key", s);
		if (map_put(h->keys, bk->key[i], (void *)(uintptr_t)(s + 1), NULL)) {
			rc = -ENOMEM;
			snprintf(why, whylen, "out of memory");
			goto fail;
		}
	}
	if (ndel != hd.ndeleted)
		BAD("tombstone count %zu, header says %llu", ndel, (unsigned long long)hd.ndeleted);
	if (n ? hd.entry >= n || lev[hd.entry] != hd.maxlevel
	      : hd.entry != NONE || hd.maxlevel != -1)
		BAD("entry point out of range");
	h->ndeleted = ndel;
	h->entry = hd.entry;
	h->maxlevel = hd.maxlevel;
	*out = h;
	return 0;
fail:
	hnsw_free(h);
	return rc;
}
