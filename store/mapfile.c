/* store/mapfile.c - see mapfile.h */
#include "mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int mapfile_open(const char *path, struct mapfile *m)
{
	struct stat st;
	m->data = NULL;
	m->len = m->dropped = 0;
	m->fd = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fstat(fd, &st) ? -errno : !S_ISREG(st.st_mode) ? -EINVAL : 0;
	if (!rc && (uint64_t)st.st_size > SIZE_MAX)
		rc = -EFBIG;
	if (!rc && st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			rc = -errno;
		} else {
			/* Read once, in order: read ahead, drop behind. */
			madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
			m->data = p;
			m->len = (size_t)st.st_size;
			m->fd = fd;
		}
	}
	if (!m->data)
		close(fd);
	return rc;
}

#define DROP_STEP (16u << 20)

void mapfile_done_before(struct mapfile *m, const void *p)
{
	const char *c = p;
	if (!m->data || c < m->data || c > m->data + m->len)
		return;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t upto = (size_t)(c - m->data) / page * page;
	if (upto < m->dropped + DROP_STEP)
		return;
	madvise((char *)m->data + m->dropped, upto - m->dropped, MADV_DONTNEED);
	m->dropped = upto;
}

void mapfile_close(struct mapfile *m)
{
	if (m->data) {
		munmap((void *)m->data, m->len);
		close(m->fd);
	}
	m->data = NULL;
	m->len = m->dropped = 0;
	m->fd = 0;
}
