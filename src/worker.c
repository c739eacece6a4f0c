/*
 * worker.c - a worker thread's io_uring loop.
 *
 * One handle_cqe-style dispatch: the op in the low bits of user_data says
 * what completed, the rest points at the worker or the connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "conn.h"
#include "forge.h"
#include "ocsp.h"
#include "conntab.h"
#include "stats.h"
#include "tls.h"
#include "upool.h"
#include "worker.h"

#define WORKER_RING_ENTRIES	1024

struct io_uring_sqe *
worker_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe;

	while ((sqe = io_uring_get_sqe(&w->w_ring)) == NULL)
		io_uring_submit(&w->w_ring);
	return sqe;
}

/*
 * Pipes for splicing, kept per worker and handed to a connection direction
 * only while bytes are in flight.  Non-blocking, so a splice into a full
 * pipe or out of an empty one returns EAGAIN instead of blocking the worker.
 */
int
worker_pipe_get(struct worker *w, int fds[2])
{
	if (w->w_npipes > 0) {
		w->w_npipes--;
		fds[0] = w->w_pipes[2 * w->w_npipes];
		fds[1] = w->w_pipes[2 * w->w_npipes + 1];
		return 0;
	}
	return pipe2(fds, O_NONBLOCK | O_CLOEXEC);
}

void
worker_pipe_put(struct worker *w, int fds[2])
{
	if (w->w_npipes == w->w_pipes_cap) {
		unsigned cap = w->w_pipes_cap ? 2 * w->w_pipes_cap : 16;
		int *p;

		/* Keep at most what a busy moment needed; past that, close. */
		if (cap > 4096 || (p = realloc(w->w_pipes, 2 * cap * sizeof(int))) == NULL) {
			close(fds[0]);
			close(fds[1]);
			return;
		}
		w->w_pipes = p;
		w->w_pipes_cap = cap;
	}
	w->w_pipes[2 * w->w_npipes] = fds[0];
	w->w_pipes[2 * w->w_npipes + 1] = fds[1];
	w->w_npipes++;
}

static void
worker_arm_accept(struct worker *w, struct worker_listener *wl)
{
	struct io_uring_sqe *sqe = worker_sqe(w);

	io_uring_prep_multishot_accept(sqe, wl->wl_fd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, uring_tag(wl, OP_ACCEPT));
	wl->wl_accepting = true;
}

static void
worker_arm_tick(struct worker *w)
{
	struct io_uring_sqe *sqe = worker_sqe(w);

	w->w_tick.tv_sec = 1;
	w->w_tick.tv_nsec = 0;
	io_uring_prep_timeout(sqe, &w->w_tick, 0, 0);
	io_uring_sqe_set_data64(sqe, uring_tag(w, OP_TICK));
}

static void
worker_arm_wake(struct worker *w)
{
	struct io_uring_sqe *sqe = worker_sqe(w);

	io_uring_prep_read(sqe, w->w_wake_fd, &w->w_wake_buf, sizeof(w->w_wake_buf), 0);
	io_uring_sqe_set_data64(sqe, uring_tag(w, OP_WAKE));
}

/* Not stopping or draining: accept what comes.  The drain flag is read
 * directly, as worker_drain shuts the listener before the worker hears of
 * it: the accept that fails with EINVAL then is no error. */
static bool
worker_listening(struct worker *w)
{
	return !w->w_stopping && !w->w_draining &&
	    !atomic_load_explicit(&w->w_drain_asked, memory_order_acquire);
}

/* A pinned worker counts whether the connection's packets arrive on its
 * own CPU (SO_INCOMING_CPU: where the kernel last processed them), which
 * is what --steer sk_lookup's placement is for. */
static void
worker_count_cpu(struct worker *w, int fd)
{
	int cpu = -1;
	socklen_t len = sizeof(cpu);

	if (w->w_cpu < 0 || getsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &cpu, &len) == -1)
		return;
	stats_inc(w->w_stats, cpu == w->w_cpu ? STAT_accept_cpu_same : STAT_accept_cpu_other);
}

static void
worker_accepted(struct worker *w, struct worker_listener *wl, struct io_uring_cqe *cqe)
{
	struct conn *c;

	if (cqe->res >= 0) {
		worker_count_cpu(w, cqe->res);
		if ((c = conn_accept(w, cqe->res, wl->wl_idx)) != NULL)
			conn_reap(c);
	} else if (cqe->res != -ECANCELED && worker_listening(w)) {
		/* EMFILE, ENOBUFS...: say so; the tick re-arms accept so a
		 * full fd table does not become a busy loop. */
		fprintf(stderr, "ktproxy: worker %u: accept: %s\n", w->w_id, strerror(-cqe->res));
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		wl->wl_accepting = false;
	if (!wl->wl_accepting && cqe->res >= 0 && worker_listening(w))
		worker_arm_accept(w, wl);
}

static void
worker_tick(struct worker *w)
{
	struct conn *c, *next;
	unsigned trimmed = 0, expired;

	for (c = TAILQ_FIRST(&w->w_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_entry);
		trimmed += conn_trim(c);
		conn_tick(c);
		if (w->w_draining)
			conn_drain_idle(c);
		conn_reap(c);
	}
	/* Buffers freed by idle connections lie between the long-lived
	 * objects of others; without this, their pages stay resident. */
	if (trimmed > 0)
		malloc_trim(0);
	conntab_publish(w);
	if ((expired = upool_expire(w->w_upool, w->w_now_ms)) > 0) {
		stats_add(w->w_stats, STAT_up_ka_expired, expired);
		stats_add(w->w_stats, STAT_up_ka_idle, -(uint64_t)expired);
	}
	if (!w->w_stopping) {
		for (unsigned i = 0; i < w->w_nlis; i++)
			if (!w->w_lis[i].wl_accepting && worker_listening(w))
				worker_arm_accept(w, &w->w_lis[i]);
		worker_arm_tick(w);
	}
}

static void
worker_cancel_accept(struct worker *w)
{
	struct io_uring_sqe *sqe;

	for (unsigned i = 0; i < w->w_nlis; i++) {
		if (!w->w_lis[i].wl_accepting)
			continue;
		sqe = worker_sqe(w);
		io_uring_prep_cancel64(sqe, uring_tag(&w->w_lis[i], OP_ACCEPT), 0);
		io_uring_sqe_set_data64(sqe, OP_IGNORE);
	}
}

/*
 * SIGTERM: the listener is shut already (worker_drain).  Connections
 * between requests are closed now, and at every tick from now on the
 * ones that get there; the others go on until they end or the main
 * thread stops the worker.
 */
static void
worker_begin_drain(struct worker *w)
{
	struct conn *c, *next;

	w->w_draining = true;
	worker_cancel_accept(w);
	for (c = TAILQ_FIRST(&w->w_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_entry);
		conn_drain_idle(c);
		conn_reap(c);
	}
}

static void
worker_begin_stop(struct worker *w)
{
	struct conn *c, *next;
	bool timed_out = atomic_load(&w->w_stop_timed_out);

	w->w_stopping = true;
	worker_cancel_accept(w);
	for (c = TAILQ_FIRST(&w->w_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_entry);
		conn_shutdown(c, timed_out);
		conn_reap(c);
	}
}

/*
 * A reload's generation: connections accepted from now on use it;
 * established ones keep the one they began with (conn.c holds it).
 * Verdicts remembered under the old trust go, and with a new delegation CA
 * or signer the whole forge, so the next handshake of every client is
 * verified, and minted, with the new material.  Sessions and kept upstream
 * connections of the old forge are no longer taken (they are tagged with
 * an entry generation no entry of the new forge has) and expire.
 */
static void
worker_adopt(struct worker *w, struct worker_handover *ho)
{
	tls_release(w->w_tls);
	w->w_tls = ho->wh_tls;
	/* OCSP switched on by a reload: this worker's cache, made here (it is
	 * the worker's alone).  Without one, every handshake asks. */
	if (tls_any_ocsp(w->w_tls) && w->w_ocsp == NULL)
		w->w_ocsp = ocsp_cache_new(w->w_tls->tc_cf->cf_ocsp.oc_cache);
	if (ho->wh_forge != NULL) {
		forge_free(w->w_forge);
		w->w_forge = ho->wh_forge;
	} else {
		forge_verified_flush(w->w_forge);
	}
	free(ho);
	atomic_store_explicit(&w->w_gen, w->w_tls->tc_gen, memory_order_release);
}

static void
worker_woken(struct worker *w)
{
	struct worker_handover *ho;

	if ((ho = atomic_exchange(&w->w_handover, NULL)) != NULL)
		worker_adopt(w, ho);
	if (atomic_load(&w->w_drain_asked) && !w->w_draining)
		worker_begin_drain(w);
	if (atomic_load(&w->w_stop_asked))
		worker_begin_stop(w);
	else
		worker_arm_wake(w);
}

static void
worker_dispatch(struct worker *w, struct io_uring_cqe *cqe)
{
	uint64_t data = io_uring_cqe_get_data64(cqe);
	enum uring_op op = data & OP_MASK;
	void *p = (void *)(uintptr_t)(data & ~OP_MASK);

	switch (op) {
	case OP_IGNORE:
		break;
	case OP_ACCEPT:
		worker_accepted(w, p, cqe);
		break;
	case OP_TICK:
		worker_tick(w);
		break;
	case OP_WAKE:
		worker_woken(w);
		break;
	default: {
		struct conn *c = p;

		conn_complete(c, op, cqe->res);
		conn_reap(c);
		break;
	}
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct io_uring_cqe *cqe;
	unsigned head, n;

	w->w_now_ms = clock_ms();
	for (unsigned i = 0; i < w->w_nlis; i++)
		worker_arm_accept(w, &w->w_lis[i]);
	worker_arm_tick(w);
	worker_arm_wake(w);
	while (!w->w_stopping || w->w_nconns > 0) {
		int r = io_uring_submit_and_wait(&w->w_ring, 1);

		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			fprintf(stderr, "ktproxy: worker %u: io_uring_submit_and_wait: %s\n",
			    w->w_id, strerror(-r));
			break;
		}
		w->w_now_ms = clock_ms();
		n = 0;
		io_uring_for_each_cqe(&w->w_ring, head, cqe) {
			worker_dispatch(w, cqe);
			n++;
		}
		io_uring_cq_advance(&w->w_ring, n);
		atomic_store_explicit(&w->w_open, w->w_nconns, memory_order_relaxed);
		/* After the turn that began the drain: its accepts are all in,
		 * and those it closed as idle not yet gone. */
		if (w->w_draining && !atomic_load_explicit(&w->w_drain_seen,
		    memory_order_relaxed)) {
			atomic_store_explicit(&w->w_drain_open, w->w_nconns,
			    memory_order_relaxed);
			atomic_store_explicit(&w->w_drain_seen, true, memory_order_release);
		}
	}
	return NULL;
}

int
worker_start(struct worker *w)
{
	struct io_uring_params p;
	pthread_attr_t attr;
	int r;

	TAILQ_INIT(&w->w_conns);
	if ((w->w_wake_fd = eventfd(0, EFD_CLOEXEC)) == -1) {
		fprintf(stderr, "ktproxy: eventfd: %s\n", strerror(errno));
		return -1;
	}
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
	if ((r = io_uring_queue_init_params(WORKER_RING_ENTRIES, &w->w_ring, &p)) < 0) {
		/* Older kernels lack the flags: they are optimisations only. */
		memset(&p, 0, sizeof(p));
		r = io_uring_queue_init_params(WORKER_RING_ENTRIES, &w->w_ring, &p);
	}
	if (r < 0) {
		fprintf(stderr, "ktproxy: io_uring_queue_init: %s\n", strerror(-r));
		return -1;
	}
	/* --steer sk_lookup places connections by CPU: the worker stays on
	 * the CPU it serves (steering.c chose it). */
	if ((r = pthread_attr_init(&attr)) != 0) {
		fprintf(stderr, "ktproxy: pthread_attr_init: %s\n", strerror(r));
		io_uring_queue_exit(&w->w_ring);
		return -1;
	}
	if (w->w_cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(w->w_cpu, &set);
		if ((r = pthread_attr_setaffinity_np(&attr, sizeof(set), &set)) != 0) {
			fprintf(stderr, "ktproxy: worker %u: pinning to CPU %d: %s\n", w->w_id,
			    w->w_cpu, strerror(r));
			pthread_attr_destroy(&attr);
			io_uring_queue_exit(&w->w_ring);
			return -1;
		}
	}
	r = pthread_create(&w->w_thread, &attr, worker_main, w);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		fprintf(stderr, "ktproxy: pthread_create: %s\n", strerror(r));
		io_uring_queue_exit(&w->w_ring);
		return -1;
	}
	return 0;
}

static void
worker_wake(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->w_wake_fd, &one, sizeof(one)) != sizeof(one))
		fprintf(stderr, "ktproxy: worker %u: wake: %s\n", w->w_id, strerror(errno));
}

void
worker_drain(struct worker *w)
{
	atomic_store_explicit(&w->w_drain_asked, true, memory_order_release);
	/* shutdown(), not close(): the multishot accept holds the socket, so a
	 * close would leave it listening until the cancel went through.  On a
	 * listening socket SHUT_RD stops listening now (Linux: the socket
	 * leaves the SO_REUSEPORT group, its queue is reset) and the accept
	 * completes with EINVAL.  The fd itself is closed by worker_join. */
	for (unsigned i = 0; i < w->w_nlis; i++)
		if (shutdown(w->w_lis[i].wl_fd, SHUT_RD) == -1)
			fprintf(stderr, "ktproxy: worker %u: cannot stop listening: %s\n",
			    w->w_id, strerror(errno));
	worker_wake(w);
}

void
worker_stop(struct worker *w, bool timed_out)
{
	atomic_store(&w->w_stop_timed_out, timed_out);
	atomic_store(&w->w_stop_asked, true);
	worker_wake(w);
}

void
worker_handover_free(struct worker_handover *ho)
{
	if (ho == NULL)
		return;
	tls_release(ho->wh_tls);
	forge_free(ho->wh_forge);
	free(ho);
}

void
worker_offer(struct worker *w, struct worker_handover *ho)
{
	worker_handover_free(atomic_exchange(&w->w_handover, ho));
	worker_wake(w);
}

void
worker_join(struct worker *w)
{
	pthread_join(w->w_thread, NULL);
	io_uring_queue_exit(&w->w_ring);
	close(w->w_wake_fd);
	for (unsigned i = 0; i < w->w_nlis; i++)
		close(w->w_lis[i].wl_fd);
	worker_handover_free(atomic_exchange(&w->w_handover, NULL));
	tls_release(w->w_tls);
	w->w_tls = NULL;
	for (unsigned i = 0; i < 2 * w->w_npipes; i++)
		close(w->w_pipes[i]);
	free(w->w_pipes);
}
