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

int
conntab_create(struct conntab *t, const char *path, unsigned nworkers)
{
	size_t size = conntab_size(nworkers);
	char tmp[4096];
	void *map;
	int fd;

	/* As the stats segment: built aside, renamed into place.  The file
	 * is sparse; pages are touched only as regions fill. */
	if (snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* 0640: subjects and addresses are not for every local user. */
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) == -1)
		return -1;
	if (ftruncate(fd, size) == -1)
		goto fail;
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		goto fail;
	t->ct_hdr = map;
	t->ct_size = size;
	memcpy(t->ct_hdr->ch_magic, CONNTAB_MAGIC, 8);
	t->ct_hdr->ch_version = CONNTAB_VERSION;
	t->ct_hdr->ch_nworkers = nworkers;
	t->ct_hdr->ch_slots = CONNTAB_SLOTS;
	t->ct_hdr->ch_entry_size = sizeof(struct conntab_entry);
	t->ct_hdr->ch_pid = getpid();
	if (rename(tmp, path) == -1) {
		munmap(map, size);
		t->ct_hdr = NULL;
		goto fail;
	}
	close(fd);
	return 0;
fail:
	unlink(tmp);
	close(fd);
	return -1;
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
	struct stat st;
	void *map;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s (is ktproxy running, with this --stats? "
		    "--conns needs a ktproxy that publishes its connections)", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || (size_t)st.st_size < sizeof(*h)) {
		snprintf(err, errlen, "%s: not a ktproxy connection table (too small)", path);
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
	if (memcmp(h->ch_magic, CONNTAB_MAGIC, 8) != 0 || h->ch_version != CONNTAB_VERSION ||
	    h->ch_slots != CONNTAB_SLOTS || h->ch_entry_size != sizeof(struct conntab_entry) ||
	    conntab_size(h->ch_nworkers) > (size_t)st.st_size) {
		snprintf(err, errlen, "%s: not a connection table of this ktproxy version", path);
		munmap(map, st.st_size);
		return -1;
	}
	t->ct_hdr = h;
	t->ct_size = st.st_size;
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
