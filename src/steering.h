/*
 * steering.h - the daemon's side of --steer sk_lookup: the program
 * (steer.c), its routes (steer_route.c), worker placement and counters,
 * put together at start, reload and exit.  With --steer tproxy all of it
 * does nothing (intercept.c steers).
 */
#ifndef KTPROXY_STEERING_H
#define KTPROXY_STEERING_H

#include <stdint.h>

struct config;
struct worker;
struct steer;

struct steering {
	struct steer	*sg_bpf;		/* NULL: not steering with sk_lookup */
};

/*
 * Before the workers start (w_cpu set here: each is pinned to a CPU) and
 * before privileges are dropped (loading BPF takes CAP_BPF): load and
 * attach the program, give it the first listener's socket of every worker,
 * place the workers, install the routes (cf's egress interfaces filled in)
 * and the ports and prefixes.  0, or -1 after saying why (nothing left).
 */
int	 steering_start(struct steering *sg, struct config *cf, struct worker *workers,
	    unsigned nworkers);
/* SIGHUP: make routes and maps say cf's ports and prefixes (cf's egress
 * filled in), the program untouched; when that fails, back to old's.
 * 0, or -1 after saying why. */
int	 steering_reload(struct steering *sg, const struct config *old, struct config *cf);
/* Copy the program's counters into the main thread's stats slab. */
void	 steering_publish(struct steering *sg, uint64_t *slab);
/* Detach the program, remove the routes (all of ours).  0, or -1 after
 * saying what could not be removed. */
int	 steering_stop(struct steering *sg);
/* --intercept-remove: the routes a killed sk_lookup ktproxy left.  0 or -1. */
int	 steering_remove_stale(void);

#endif
