/*
 * stats.c - create, map and read the shared-memory stats segment.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

const struct stats_counter_info stats_info[STAT__COUNT] = {
#define KTP_COUNTER_INFO(id, group, reason, kind, help) \
	[STAT_##id] = { group, reason, help, #kind[0] == 'G' },
	KTP_COUNTERS(KTP_COUNTER_INFO)
#undef KTP_COUNTER_INFO
};

static size_t
stats_slab_size(void)
{
	size_t n = STAT__COUNT * sizeof(uint64_t);
	return (n + 63) & ~(size_t)63;
}

static int
stats_mkdir_parent(const char *path)
{
	char *copy = strdup(path), *dir;
	int rc = 0;

	if (copy == NULL)
		return -1;
	dir = dirname(copy);
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		rc = -1;
	free(copy);
	return rc;
}

int
stats_create(struct stats_segment *s, const char *path, unsigned nworkers)
{
	size_t size = sizeof(struct stats_header) + (nworkers + 1) * stats_slab_size();
	char tmp[4096];
	void *map;
	int fd;

	if (stats_mkdir_parent(path) == -1)
		return -1;
	/* Build the segment under a temporary name and rename it into place, so
	 * a reader never maps a half-initialised file. */
	if (snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) == -1)
		return -1;
	if (ftruncate(fd, size) == -1)
		goto fail;
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		goto fail;
	s->ss_hdr = map;
	s->ss_size = size;
	memcpy(s->ss_hdr->sh_magic, STATS_MAGIC, 8);
	s->ss_hdr->sh_version = STATS_VERSION;
	s->ss_hdr->sh_nworkers = nworkers;
	s->ss_hdr->sh_nslabs = nworkers + 1;
	s->ss_hdr->sh_ncounters = STAT__COUNT;
	s->ss_hdr->sh_slab_size = stats_slab_size();
	s->ss_hdr->sh_start_time = time(NULL);
	s->ss_hdr->sh_pid = getpid();
	if (rename(tmp, path) == -1) {
		munmap(map, size);
		goto fail;
	}
	close(fd);
	return 0;
fail:
	unlink(tmp);
	close(fd);
	return -1;
}

uint64_t *
stats_slab(struct stats_segment *s, unsigned worker)
{
	return (uint64_t *)((char *)(s->ss_hdr + 1) + (size_t)worker * s->ss_hdr->sh_slab_size);
}

uint64_t *
stats_slab_main(struct stats_segment *s)
{
	return stats_slab(s, s->ss_hdr->sh_nworkers);
}

int
stats_open(struct stats_segment *s, const char *path, char *err, size_t errlen)
{
	struct stats_header *h;
	struct stat st;
	void *map;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s (is ktproxy running, with --stats %s?)",
		    path, strerror(errno), path);
		return -1;
	}
	if (fstat(fd, &st) == -1 || (size_t)st.st_size < sizeof(*h)) {
		snprintf(err, errlen, "%s: not a ktproxy stats segment (too small)", path);
		close(fd);
		return -1;
	}
	map = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
		return -1;
	}
	h = map;
	if (memcmp(h->sh_magic, STATS_MAGIC, 8) != 0 || h->sh_version != STATS_VERSION ||
	    h->sh_ncounters != STAT__COUNT || h->sh_nslabs != h->sh_nworkers + 1 ||
	    sizeof(*h) + (size_t)h->sh_nslabs * h->sh_slab_size > (size_t)st.st_size) {
		snprintf(err, errlen, "%s: not a stats segment of this ktproxy version", path);
		munmap(map, st.st_size);
		return -1;
	}
	s->ss_hdr = h;
	s->ss_size = st.st_size;
	return 0;
}

void
stats_close(struct stats_segment *s)
{
	if (s->ss_hdr != NULL)
		munmap(s->ss_hdr, s->ss_size);
	s->ss_hdr = NULL;
}

uint64_t
stats_total(const struct stats_segment *s, enum stat_id id)
{
	uint64_t sum = 0;

	for (unsigned w = 0; w < s->ss_hdr->sh_nslabs; w++) {
		const uint64_t *slab = (const uint64_t *)((const char *)(s->ss_hdr + 1) +
		    (size_t)w * s->ss_hdr->sh_slab_size);
		sum += __atomic_load_n(&slab[id], __ATOMIC_RELAXED);
	}
	return sum;
}
