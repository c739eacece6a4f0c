/*
 * shmfile.c - create and map the shared files of shmfile.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmfile.h"

void *
shmfile_create(const char *path, size_t size, mode_t mode,
    void (*init)(void *map, void *arg), void *arg)
{
	char tmp[4096];
	void *map = MAP_FAILED;
	int fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) == -1)
		return NULL;
	/* ftruncate makes it sparse: pages are touched only as they fill */
	if (ftruncate(fd, size) == -1 ||
	    (map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
		goto fail;
	init(map, arg);
	if (rename(tmp, path) == -1)
		goto fail;
	close(fd);
	return map;
fail:
	saved = errno;
	if (map != MAP_FAILED)
		munmap(map, size);
	unlink(tmp);
	close(fd);
	errno = saved;
	return NULL;
}

void *
shmfile_map(const char *path, size_t min, size_t *sizep, const char *what,
    const char *open_hint, char *err, size_t errlen)
{
	struct stat st;
	void *map;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s (%s)", path, strerror(errno), open_hint);
		return NULL;
	}
	if (fstat(fd, &st) == -1 || (size_t)st.st_size < min) {
		snprintf(err, errlen, "%s: not a %s (too small)", path, what);
		close(fd);
		return NULL;
	}
	map = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
		return NULL;
	}
	*sizep = st.st_size;
	return map;
}
