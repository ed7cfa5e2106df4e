/* Unit tests: store/buf.c and store/map.c */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/buf.h"
#include "store/map.h"
#include "tests/tap.h"

static int count_fn(const char *k, void *v, void *ctx)
{
	(void)k;
	(void)v;
	(*(int *)ctx)++;
	return 0;
}

int main(void)
{
	struct buf b = BUF_INIT;
	ok(buf_adds(&b, "abc") == 0 && b.len == 3 && !strcmp(b.data, "abc"), "buf_adds");
	ok(buf_addf(&b, "-%d-%s", 42, "x") == 0 && !strcmp(b.data, "abc-42-x"), "buf_addf");
	for (int i = 0; i < 10000; i++)
		buf_addc(&b, 'z');
	is_int(b.len, 8 + 10000, "buf grows");
	is_int(b.data[b.len], 0, "buf stays NUL terminated");
	size_t n;
	char *p = buf_detach(&b, &n);
	ok(n == 10008 && b.data == NULL && b.len == 0, "buf_detach hands over");
	free(p);
	struct buf c = BUF_INIT;
	c.max = 4;
	is_int(buf_adds(&c, "12345"), -EFBIG, "append past max: -EFBIG");
	is_int(c.len, 0, "failed append leaves the buffer unchanged");
	ok(buf_adds(&c, "1234") == 0, "append up to max");
	buf_release(&c);
	p = buf_detach(&c, &n);
	ok(p && *p == 0 && n == 0, "detach of an empty buffer gives \"\"");
	free(p);

	struct map *m = map_new();
	char key[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "k%05d", i);
		map_put(m, key, (void *)(long)(i + 1), NULL);
	}
	is_int(map_count(m), 5000, "map holds 5000 keys");
	ok(map_get(m, "k01234") == (void *)1235L, "map_get after rehash");
	ok(map_get(m, "nope") == NULL, "missing key gives NULL");
	void *old;
	map_put(m, "k00000", (void *)7L, &old);
	ok(old == (void *)1L && map_get(m, "k00000") == (void *)7L, "replace returns the old value");
	ok(map_del(m, "k00001") == (void *)2L && !map_get(m, "k00001"), "map_del");
	int cnt = 0;
	map_each(m, count_fn, &cnt);
	is_int(cnt, 4999, "map_each visits every entry");
	const char **keys = map_keys_sorted(m, &n);
	int sorted = n == 4999;
	for (size_t i = 1; i < n; i++)
		sorted &= strcmp(keys[i - 1], keys[i]) < 0;
	ok(sorted, "map_keys_sorted is sorted");
	free(keys);
	map_free(m, NULL);
	return tap_done();
}
