/*
 * conntab.c - the shared file of live connections (conntab.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conntab.h"
#include "shmfile.h"

_Static_assert(sizeof(struct conntab_entry) == 464, "conntab_entry layout changed: bump CONNTAB_VERSION");
_Static_assert(sizeof(struct conntab_header) == 64, "conntab_header is 64 bytes");

int
conntab_path(char *buf, size_t len, const char *stats_path)
{
	int n = snprintf(buf, len, "%s.conns", stats_path);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static size_t
conntab_size(unsigned nworkers)
{
	return sizeof(struct conntab_header) + (size_t)nworkers * sizeof(struct conntab_region);
}

/* The header of a new table (shmfile_create's init). */
static void
conntab_init_header(void *map, void *arg)
{
	struct conntab_header *h = map;

	memcpy(h->ch_magic, CONNTAB_MAGIC, 8);
	h->ch_version = CONNTAB_VERSION;
	h->ch_nworkers = *(const unsigned *)arg;
	h->ch_slots = CONNTAB_SLOTS;
	h->ch_entry_size = sizeof(struct conntab_entry);
	h->ch_pid = getpid();
}

int
conntab_create(struct conntab *t, const char *path, unsigned nworkers)
{
	size_t size = conntab_size(nworkers);

	/* As the stats segment, but 0640: subjects and addresses are not for
	 * every local user. */
	if ((t->ct_hdr = shmfile_create(path, size, 0640, conntab_init_header, &nworkers)) == NULL)
		return -1;
	t->ct_size = size;
	return 0;
}

struct conntab_region *
conntab_region(struct conntab *t, unsigned worker)
{
	return (struct conntab_region *)(t->ct_hdr + 1) + worker;
}

void
conntab_close(struct conntab *t)
{
	if (t->ct_hdr != NULL)
		munmap(t->ct_hdr, t->ct_size);
	t->ct_hdr = NULL;
}

void
conntab_write_begin(struct conntab_region *r)
{
	__atomic_store_n(&r->cr_seq, r->cr_seq + 1, __ATOMIC_RELAXED);
	/* The odd number is visible before any entry changes. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

void
conntab_write_end(struct conntab_region *r, uint32_t count, uint32_t total, uint64_t now_unix_ms)
{
	r->cr_count = count;
	r->cr_total = total;
	r->cr_published_ms = now_unix_ms;
	__atomic_store_n(&r->cr_seq, r->cr_seq + 1, __ATOMIC_RELEASE);
}

int
conntab_open(struct conntab *t, const char *path, char *err, size_t errlen)
{
	struct conntab_header *h;
	size_t size;

	if ((h = shmfile_map(path, sizeof(*h), &size, "ktproxy connection table",
	    "is ktproxy running, with this --stats? --conns needs a ktproxy that "
	    "publishes its connections", err, errlen)) == NULL)
		return -1;
	if (memcmp(h->ch_magic, CONNTAB_MAGIC, 8) != 0 || h->ch_version != CONNTAB_VERSION ||
	    h->ch_slots != CONNTAB_SLOTS || h->ch_entry_size != sizeof(struct conntab_entry) ||
	    conntab_size(h->ch_nworkers) > size) {
		snprintf(err, errlen, "%s: not a connection table of this ktproxy version", path);
		munmap(h, size);
		return -1;
	}
	t->ct_hdr = h;
	t->ct_size = size;
	return 0;
}

int
conntab_read(const struct conntab *t, unsigned worker, struct conntab_region *out)
{
	const struct conntab_region *r = (const struct conntab_region *)(t->ct_hdr + 1) + worker;

	/* A rewrite takes microseconds; a few tries, a millisecond apart. */
	for (int tries = 0; tries < 50; tries++) {
		uint64_t seq = __atomic_load_n(&r->cr_seq, __ATOMIC_ACQUIRE);
		uint32_t count;

		if (seq & 1) {
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
			continue;
		}
		count = __atomic_load_n(&r->cr_count, __ATOMIC_RELAXED);
		if (count > CONNTAB_SLOTS)
			count = CONNTAB_SLOTS;
		memcpy(out, r, offsetof(struct conntab_region, cr_entries));
		memcpy(out->cr_entries, r->cr_entries, count * sizeof(r->cr_entries[0]));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&r->cr_seq, __ATOMIC_RELAXED) == seq) {
			out->cr_count = count;
			return 0;
		}
	}
	return -1;
}
