/* fs/hidden.c - see hidden.h */
#include "hidden.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIDDEN_PREFIX ".fuse_hidden"

int hidden_is_name(const char *path)
{
	if (!path)
		return 0;
	const char *name = strrchr(path, '/');
	name = name ? name + 1 : path;
	size_t n = strlen(HIDDEN_PREFIX);
	if (strncmp(name, HIDDEN_PREFIX, n) || strlen(name) != n + 16)
		return 0;
	for (name += n; *name; name++)
		if (!isxdigit((unsigned char)*name))
			return 0;
	return 1;
}

int hidden_add_locked(struct fsctx *fc, const char *path, const struct stat *st)
{
	struct stat *copy = malloc(sizeof(*copy)), *old = NULL;
	if (!copy)
		return -ENOMEM;
	*copy = *st;
	copy->st_nlink = 1;
	int rc = map_put(fc->hidden, path, copy, (void **)&old);
	if (rc)
		free(copy);
	free(old);
	return rc;
}

int hidden_get(struct fsctx *fc, const char *path, struct stat *st)
{
	pthread_mutex_lock(&fc->lock);
	const struct stat *h = map_get(fc->hidden, path);
	if (h)
		*st = *h;
	pthread_mutex_unlock(&fc->lock);
	return h ? 0 : -ENOENT;
}

int hidden_del(struct fsctx *fc, const char *path)
{
	pthread_mutex_lock(&fc->lock);
	struct stat *h = map_del(fc->hidden, path);
	pthread_mutex_unlock(&fc->lock);
	int rc = h ? 0 : -ENOENT;
	free(h);
	return rc;
}

void hidden_rename_locked(struct fsctx *fc, const char *from, const char *to)
{
	size_t n, flen = strlen(from);
	if (!map_count(fc->hidden))
		return;
	const char **keys = map_keys_sorted(fc->hidden, &n);
	for (size_t i = 0; keys && i < n; i++) {
		if (strncmp(keys[i], from, flen) || keys[i][flen] != '/')
			continue;
		size_t len = strlen(to) + strlen(keys[i] + flen) + 1;
		char *nkey = malloc(len);
		if (!nkey)
			break;
		snprintf(nkey, len, "%s%s", to, keys[i] + flen);
		struct stat *st = map_del(fc->hidden, keys[i]), *old = NULL;
		if (map_put(fc->hidden, nkey, st, (void **)&old)) /* keys[i] is gone now */
			free(st);
		free(old);
		free(nkey);
	}
	free(keys);
}
