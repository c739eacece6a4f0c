/*
 * worker.h - one worker thread: one io_uring, one SO_REUSEPORT listener,
 * and every connection that listener accepted.  Workers share nothing
 * mutable, so nothing here is locked.
 */
#ifndef KTPROXY_WORKER_H
#define KTPROXY_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <liburing.h>

#include "config.h"

struct config;
struct tls_contexts;
struct forge;
struct upool;
struct conn;
struct ocsp_cache;
struct conntab_region;

/*
 * What an io_uring completion is about, kept in the low bits of user_data
 * next to the pointer of the worker or connection it belongs to.  Each
 * connection has at most one request of each kind in flight (conn.c tracks
 * them as a bit mask), which is what lets a close cancel them all.
 */
enum uring_op {
	OP_IGNORE = 0,		/* cancel requests: nothing to do on completion */
	OP_ACCEPT,		/* worker: multishot accept on the listener */
	OP_TICK,		/* worker: 1 s timer for connection deadlines */
	OP_WAKE,		/* worker: eventfd read, the main thread says drain,
				 * stop or hands over a reload (w_drain_asked,
				 * w_stop_asked, w_handover) */
	OP_CLIENT_POLL_IN,	/* conn: client socket readable */
	OP_CLIENT_POLL_OUT,	/* conn: client socket writable */
	OP_UP_POLL_IN,		/* conn: upstream socket readable */
	OP_UP_POLL_OUT,		/* conn: upstream socket writable */
	OP_UP_CONNECT,		/* conn: TCP connect to the original destination */
	OP_YIELD,		/* conn: a NOP, to resume a busy relay after others ran */
	OP_OCSP_POLL_IN,	/* conn: the OCSP query's socket (or lookup) readable */
	OP_OCSP_POLL_OUT,	/* conn: the OCSP query's socket writable */
	OP__COUNT
};
#define OP_MASK		0xfUL
_Static_assert(OP__COUNT <= 16, "uring ops must fit in the alignment bits");

static inline uint64_t
uring_tag(void *p, enum uring_op op)
{
	return (uint64_t)(uintptr_t)p | op;
}

TAILQ_HEAD(conn_list, conn);

/* A reload for one worker, from the main thread (worker_offer). */
struct worker_handover {
	struct tls_contexts	*wh_tls;	/* a reference, for the worker */
	struct forge		*wh_forge;	/* a new forge (delegation CA or signer
						 * changed), or NULL: keep the forge,
						 * drop its remembered verdicts */
};

/* One of the worker's listening sockets: one per listener (config.h),
 * each with its own multishot accept, tagged with this. */
struct worker_listener {
	struct worker		*wl_worker;
	int			 wl_fd;			/* -1: none */
	unsigned		 wl_idx;		/* the listener's index (tc_lis) */
	bool			 wl_accepting;		/* multishot accept armed */
} __attribute__((aligned(16)));

struct worker {
	unsigned		 w_id;
	int			 w_cpu;			/* the CPU it is pinned to; -1:
						 * none (steering.c pins) */
	pthread_t		 w_thread;
	struct io_uring		 w_ring;
	struct worker_listener	 w_lis[CONFIG_LISTENERS_MAX];
	unsigned		 w_nlis;
	int			 w_wake_fd;		/* eventfd */
	uint64_t		 w_wake_buf;
	struct __kernel_timespec w_tick;
	uint64_t		*w_stats;		/* this worker's counter slab */
	struct conntab_region	*w_conntab;		/* its live connections (conntab.h) */
	struct forge		*w_forge;
	struct upool		*w_upool;		/* idle upstream connections */
	struct ocsp_cache	*w_ocsp;		/* OCSP answers (--ocsp; else NULL) */
	const struct config	*w_cf;
	struct tls_contexts	*w_tls;		/* the current generation (held) */
	int			 w_log_fd;
	struct conn_list	 w_conns;		/* open and closing connections */
	unsigned		 w_nconns;
	uint64_t		 w_now_ms;		/* CLOCK_MONOTONIC, per loop turn */
	bool			 w_ktls;		/* kernel TLS usable (probe, --ktls) */
	int			*w_pipes;		/* free pipe pairs, 2 fds each */
	unsigned		 w_npipes, w_pipes_cap;
	bool			 w_stopping;
	bool			 w_draining;		/* listener shut: no more accepts */
	atomic_bool		 w_drain_asked;		/* by worker_drain */
	atomic_bool		 w_stop_asked;		/* by worker_stop */
	atomic_bool		 w_stop_timed_out;	/* ... at the drain's end */
	atomic_uint		 w_open;		/* w_nconns, for the main thread */
	atomic_bool		 w_drain_seen;		/* the drain is taken, and: */
	atomic_uint		 w_drain_open;		/* ... w_nconns then: every
						 * connection accepted before */
	_Atomic(struct worker_handover *) w_handover;	/* pending, from worker_offer */
	atomic_uint		 w_gen;			/* generation w_tls is (for main) */
} __attribute__((aligned(16)));

/* A pipe pair from the worker's pool (made if the pool is empty), and back.
 * 0 or -1. */
int			 worker_pipe_get(struct worker *w, int fds[2]);
void			 worker_pipe_put(struct worker *w, int fds[2]);

/* Get a submission entry, flushing the ring to the kernel when full. */
struct io_uring_sqe	*worker_sqe(struct worker *w);
int			 worker_start(struct worker *w);
/*
 * From the main thread, on SIGTERM: the listener stops listening before
 * this returns (a connection attempt from then on is refused, and those
 * not yet accepted are reset); the connections open go on, those idle
 * between requests are closed, and w_open says how many are left.
 */
void			 worker_drain(struct worker *w);
/* From the main thread: close every connection and end the thread (join
 * it).  timed_out: they are closed because the drain ran out of time
 * (connections_closed{drain_timeout}), else because ktproxy stops at
 * once (connections_closed{shutdown}). */
void			 worker_stop(struct worker *w, bool timed_out);
/* From the main thread: have the worker take a reload's generation at
 * its next loop turn (w_gen says when it has).  A handover not yet taken
 * is replaced and freed. */
void			 worker_offer(struct worker *w, struct worker_handover *ho);
void			 worker_handover_free(struct worker_handover *ho);
void			 worker_join(struct worker *w);

#endif
