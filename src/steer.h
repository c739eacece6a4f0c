/*
 * steer.h - --steer sk_lookup: ktproxy's BPF steering (bpf/steer.bpf.c).
 *
 * The daemon loads the sk_lookup program into its network namespace and
 * keeps it attached through a link it alone holds: nothing is pinned, so
 * when ktproxy exits, or dies, the kernel detaches the program with it.
 * What keeps a dead ktproxy's ports closed is routing, not BPF: the
 * intercepted prefixes stay local routes (steer_route.c), and a SYN for an
 * address delivered locally that no socket takes is answered with a reset,
 * never forwarded around the proxy.
 *
 * Prefixes, ports, listening sockets and CPU placement are map contents
 * that steer_configure and steer_place change while the program runs.
 */
#ifndef KTPROXY_STEER_H
#define KTPROXY_STEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../bpf/steer.h"
#include "intercept.h"

struct steer;

/*
 * Load the program and attach it to the calling thread's network
 * namespace, for nworkers listening sockets.  NULL with the reason in err
 * (no BPF in the kernel, no CAP_BPF/CAP_SYS_ADMIN, no sk_lookup).
 */
struct steer	*steer_open(unsigned nworkers, char *err, size_t errlen);
/* Detach the program and free everything (NULL: nothing). */
void		 steer_close(struct steer *s);
/* The listening socket of worker; 0, or -1 with err. */
int		 steer_set_listener(struct steer *s, unsigned worker, int fd, char *err,
		    size_t errlen);
/* Placement: connections arriving on CPU cpu go to worker (several workers
 * on one CPU share it).  Unplaced CPUs spread by hash.  0, or -1 with err. */
int		 steer_place(struct steer *s, const int *worker_cpu, unsigned nworkers,
		    char *err, size_t errlen);
/* Make the maps say ic's ports and prefixes: entries not in ic go, new
 * ones come; connections already accepted are not touched.  0, or -1 with
 * err (then the maps may hold a part of ic: the caller says so). */
int		 steer_configure(struct steer *s, const struct intercept_conf *ic, char *err,
		    size_t errlen);
/* The program's counters, summed over CPUs (enum steer_stat order). */
void		 steer_counters(struct steer *s, uint64_t out[STEER_STAT__COUNT]);
/* The kernel's id of the attached program (bpftool prog show id N). */
uint32_t	 steer_prog_id(const struct steer *s);

#endif
