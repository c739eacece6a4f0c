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
	OP_WAKE,		/* worker: eventfd read, the main thread says stop or
				 * hands over a reload (w_stop_asked, w_handover) */
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

struct worker {
	unsigned		 w_id;
	pthread_t		 w_thread;
	struct io_uring		 w_ring;
	int			 w_listen_fd;
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
	bool			 w_accepting;		/* multishot accept armed */
	bool			 w_ktls;		/* kernel TLS usable (probe, --ktls) */
	int			*w_pipes;		/* free pipe pairs, 2 fds each */
	unsigned		 w_npipes, w_pipes_cap;
	bool			 w_stopping;
	atomic_bool		 w_stop_asked;		/* by worker_stop */
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
void			 worker_stop(struct worker *w);	/* from the main thread */
/* From the main thread: have the worker take a reload's generation at
 * its next loop turn (w_gen says when it has).  A handover not yet taken
 * is replaced and freed. */
void			 worker_offer(struct worker *w, struct worker_handover *ho);
void			 worker_handover_free(struct worker_handover *ho);
void			 worker_join(struct worker *w);

#endif
