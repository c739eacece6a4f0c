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

#include "shmfile.h"
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

/* The header of a new segment (shmfile_create's init). */
static void
stats_init_header(void *map, void *arg)
{
	struct stats_header *h = map;
	unsigned nworkers = *(const unsigned *)arg;

	memcpy(h->sh_magic, STATS_MAGIC, 8);
	h->sh_version = STATS_VERSION;
	h->sh_nworkers = nworkers;
	h->sh_nslabs = nworkers + 1;
	h->sh_ncounters = STAT__COUNT;
	h->sh_slab_size = stats_slab_size();
	h->sh_start_time = time(NULL);
	h->sh_pid = getpid();
}

int
stats_create(struct stats_segment *s, const char *path, unsigned nworkers)
{
	size_t size = sizeof(struct stats_header) + (size_t)(nworkers + 1) * stats_slab_size();

	if (stats_mkdir_parent(path) == -1)
		return -1;
	if ((s->ss_hdr = shmfile_create(path, size, 0644, stats_init_header, &nworkers)) == NULL)
		return -1;
	s->ss_size = size;
	return 0;
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
	char hint[4200];
	size_t size;

	snprintf(hint, sizeof(hint), "is ktproxy running, with --stats %s?", path);
	if ((h = shmfile_map(path, sizeof(*h), &size, "ktproxy stats segment", hint,
	    err, errlen)) == NULL)
		return -1;
	if (memcmp(h->sh_magic, STATS_MAGIC, 8) != 0 || h->sh_version != STATS_VERSION ||
	    h->sh_ncounters != STAT__COUNT || h->sh_nslabs != h->sh_nworkers + 1 ||
	    sizeof(*h) + (size_t)h->sh_nslabs * h->sh_slab_size > size) {
		snprintf(err, errlen, "%s: not a stats segment of this ktproxy version", path);
		munmap(h, size);
		return -1;
	}
	s->ss_hdr = h;
	s->ss_size = size;
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
stats_value(const struct stats_segment *s, unsigned slab, enum stat_id id)
{
	const uint64_t *v = (const uint64_t *)((const char *)(s->ss_hdr + 1) +
	    (size_t)slab * s->ss_hdr->sh_slab_size);

	return __atomic_load_n(&v[id], __ATOMIC_RELAXED);
}

uint64_t
stats_total(const struct stats_segment *s, enum stat_id id)
{
	uint64_t sum = 0;

	for (unsigned w = 0; w < s->ss_hdr->sh_nslabs; w++)
		sum += stats_value(s, w, id);
	return sum;
}
