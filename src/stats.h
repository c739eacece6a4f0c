/*
 * stats.h - the shared-memory stats segment.
 *
 * A file (default /run/ktproxy/stats, on tmpfs) mapped by the daemon and by
 * ktproxy-stat.  A header, then one cache-line-aligned slab of 64-bit
 * counters per worker and one for the main thread (the signer's restarts).
 * Each slab has exactly one writer (its thread), so no locks and no atomic
 * read-modify-write: relaxed stores keep values untorn for readers, who sum
 * the slabs.
 */
#ifndef KTPROXY_STATS_H
#define KTPROXY_STATS_H

#include <stdint.h>
#include <sys/types.h>

#include "counters.h"

#define STATS_MAGIC	"KTPSTAT1"
#define STATS_VERSION	2

struct stats_header {
	char		 sh_magic[8];
	uint32_t	 sh_version;
	uint32_t	 sh_nworkers;
	uint32_t	 sh_ncounters;
	uint32_t	 sh_slab_size;		/* bytes per worker slab */
	uint64_t	 sh_start_time;		/* unix seconds */
	int64_t		 sh_pid;
	uint32_t	 sh_nslabs;		/* workers + 1 (the main thread's, last) */
	uint8_t		 sh_pad[20];
};

struct stats_counter_info {
	const char	*sc_group;
	const char	*sc_reason;
	const char	*sc_help;
	int		 sc_gauge;
};

extern const struct stats_counter_info stats_info[STAT__COUNT];

struct stats_segment {
	struct stats_header	*ss_hdr;
	size_t			 ss_size;
};

/* Daemon side: create (or replace) the segment at path for nworkers. */
int		 stats_create(struct stats_segment *s, const char *path, unsigned nworkers);
uint64_t	*stats_slab(struct stats_segment *s, unsigned worker);
/* The main thread's slab. */
uint64_t	*stats_slab_main(struct stats_segment *s);

/* Reader side: map read-only and validate.  On error returns -1 with a
 * message in err. */
int		 stats_open(struct stats_segment *s, const char *path, char *err, size_t errlen);
void		 stats_close(struct stats_segment *s);
/* Sum of a counter over all slabs (the workers' and the main thread's). */
uint64_t	 stats_total(const struct stats_segment *s, enum stat_id id);
/* One slab's value: slab 0 .. sh_nworkers - 1 a worker's, sh_nworkers the
 * main thread's. */
uint64_t	 stats_value(const struct stats_segment *s, unsigned slab, enum stat_id id);

static inline void
stats_add(uint64_t *slab, enum stat_id id, uint64_t n)
{
	__atomic_store_n(&slab[id], slab[id] + n, __ATOMIC_RELAXED);
}
static inline void stats_inc(uint64_t *slab, enum stat_id id) { stats_add(slab, id, 1); }
static inline void stats_dec(uint64_t *slab, enum stat_id id) { stats_add(slab, id, (uint64_t)-1); }

#endif
