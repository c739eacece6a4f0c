/*
 * steering.c - --steer sk_lookup, as the daemon runs it (steering.h).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "stats.h"
#include "steer.h"
#include "steer_route.h"
#include "steering.h"
#include "worker.h"

/* Worker i on the i-th CPU this process may run on, round-robin: with as
 * many workers as CPUs each CPU has its own worker. */
static int
steering_pin(struct worker *workers, unsigned n, int *cpu_of)
{
	cpu_set_t set;
	int cpus[CPU_SETSIZE], ncpus = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == -1)
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			cpus[ncpus++] = c;
	if (ncpus == 0)
		return -1;
	for (unsigned i = 0; i < n; i++)
		workers[i].w_cpu = cpu_of[i] = cpus[i % (unsigned)ncpus];
	return 0;
}

int
steering_start(struct steering *sg, struct config *cf, struct worker *workers, unsigned n)
{
	struct intercept_conf *ic = &cf->cf_intercept;
	int cpu_of[STEER_MAX_WORKERS];
	char err[512];
	unsigned stale;

	memset(sg, 0, sizeof(*sg));
	for (unsigned i = 0; i < n; i++)
		workers[i].w_cpu = -1;
	if (ic->ic_steer != STEER_SK_LOOKUP)
		return 0;
	if ((sg->sg_bpf = steer_open(n, err, sizeof(err))) == NULL) {
		fprintf(stderr, "ktproxy: --steer sk_lookup: %s\n", err);
		return -1;
	}
	if (steering_pin(workers, n, cpu_of) == -1) {
		fprintf(stderr, "ktproxy: --steer sk_lookup: sched_getaffinity: %s; workers "
		    "not placed\n", strerror(errno));
		for (unsigned i = 0; i < n; i++)
			workers[i].w_cpu = cpu_of[i] = -1;
	}
	for (unsigned i = 0; i < n; i++)
		if (steer_set_listener(sg->sg_bpf, i, workers[i].w_lis[0].wl_fd, err,
		    sizeof(err)) == -1)
			goto fail;
	if (steer_place(sg->sg_bpf, cpu_of, n, err, sizeof(err)) == -1)
		goto fail;
	/* Routes a killed ktproxy left, other than ours now, go first. */
	if (steer_routes_prune(ic, &stale, err, sizeof(err)) == -1 ||
	    steer_routes_install(ic, err, sizeof(err)) == -1 ||
	    steer_configure(sg->sg_bpf, ic, err, sizeof(err)) == -1)
		goto fail;
	if (stale > 0)
		fprintf(stderr, "ktproxy: --steer sk_lookup: removed %u local route%s an earlier "
		    "ktproxy left\n", stale, stale == 1 ? "" : "s");
	fprintf(stderr, "ktproxy: --steer sk_lookup: program %u attached; ports %s, %u "
	    "prefix%s (local routes); workers pinned one per CPU\n",
	    steer_prog_id(sg->sg_bpf), ic->ic_ports_str, ic->ic_nprefixes,
	    ic->ic_nprefixes == 1 ? "" : "es");
	return 0;
fail:
	fprintf(stderr, "ktproxy: --steer sk_lookup: %s\n", err);
	steering_stop(sg);
	return -1;
}

int
steering_reload(struct steering *sg, const struct config *old, struct config *cf)
{
	struct intercept_conf *ic = &cf->cf_intercept;
	char err[512];
	unsigned removed;

	if (sg->sg_bpf == NULL)
		return 0;
	if (steer_routes_install(ic, err, sizeof(err)) == -1 ||
	    steer_configure(sg->sg_bpf, ic, err, sizeof(err)) == -1 ||
	    steer_routes_prune(ic, &removed, err, sizeof(err)) == -1) {
		char err2[512];
		struct intercept_conf back = old->cf_intercept;

		fprintf(stderr, "ktproxy: SIGHUP: --steer sk_lookup: %s\n", err);
		if (steer_routes_install(&back, err2, sizeof(err2)) == -1 ||
		    steer_configure(sg->sg_bpf, &back, err2, sizeof(err2)) == -1 ||
		    steer_routes_prune(&back, &removed, err2, sizeof(err2)) == -1)
			fprintf(stderr, "ktproxy: SIGHUP: --steer sk_lookup: and going back to "
			    "the running prefixes failed too: %s\n", err2);
		return -1;
	}
	fprintf(stderr, "ktproxy: SIGHUP: --steer sk_lookup: ports %s, %u prefix%s, in place "
	    "(program %u kept)\n", ic->ic_ports_str, ic->ic_nprefixes,
	    ic->ic_nprefixes == 1 ? "" : "es", steer_prog_id(sg->sg_bpf));
	return 0;
}

void
steering_publish(struct steering *sg, uint64_t *slab)
{
	static const enum stat_id ids[STEER_STAT__COUNT] = {
		[STEER_STAT_LOOKUPS] = STAT_sk_lookup_lookups,
		[STEER_STAT_STEERED] = STAT_sk_lookup_steered,
		[STEER_STAT_MISSES] = STAT_sk_lookup_misses,
		[STEER_STAT_ERRORS] = STAT_sk_lookup_errors,
	};
	uint64_t v[STEER_STAT__COUNT];

	if (sg->sg_bpf == NULL)
		return;
	steer_counters(sg->sg_bpf, v);
	for (int i = 0; i < STEER_STAT__COUNT; i++)
		__atomic_store_n(&slab[ids[i]], v[i], __ATOMIC_RELAXED);
}

int
steering_stop(struct steering *sg)
{
	char err[512];
	unsigned removed;

	if (sg->sg_bpf == NULL)
		return 0;
	steer_close(sg->sg_bpf);
	sg->sg_bpf = NULL;
	if (steer_routes_prune(NULL, &removed, err, sizeof(err)) == -1) {
		fprintf(stderr, "ktproxy: --steer sk_lookup: %s\n", err);
		return -1;
	}
	fprintf(stderr, "ktproxy: --steer sk_lookup: program detached, %u local route%s "
	    "removed\n", removed, removed == 1 ? "" : "s");
	return 0;
}

int
steering_remove_stale(void)
{
	char err[512];
	unsigned removed;

	if (steer_routes_prune(NULL, &removed, err, sizeof(err)) == -1) {
		fprintf(stderr, "ktproxy: --intercept-remove: %s\n", err);
		return -1;
	}
	if (removed > 0)
		fprintf(stderr, "ktproxy: --intercept-remove: removed %u local route%s of "
		    "--steer sk_lookup\n", removed, removed == 1 ? "" : "s");
	return 0;
}
