/*
 * conn_ocsp.c - a client handshake waiting for its certificate's OCSP
 * status, without the worker waiting with it.
 *
 * OpenSSL verifies the client's certificate inside SSL_do_handshake(),
 * in conn_client_chain_verify.  With --ocsp on, the client leg's handshake
 * runs as an OpenSSL ASYNC job (SSL_MODE_ASYNC, set by tls.c).  When the
 * worker's cache has no answer for the certificate, the callback records
 * what to ask and pauses the job (ASYNC_pause_job): SSL_do_handshake
 * returns SSL_ERROR_WANT_ASYNC and the worker goes on with its other
 * connections.  The query (ocsp_query.h) is stepped on completions of
 * polls armed in the worker's io_uring (OP_OCSP_POLL_IN/OUT).  When its
 * answer is in, or it failed, or --ocsp-timeout passed, the handshake is
 * driven again: the job resumes in the callback, which applies the policy,
 * and OpenSSL ends the handshake or refuses it with the alert that fits
 * (certificate_revoked, certificate_unknown), as it does for a CRL.
 * (OpenSSL 3.0's SSL_set_retry_verify() only suspends a client verifying
 * a server, not a server verifying its client.)
 *
 *   callback: cache? ──yes──▶ policy
 *       │ no
 *       ▼
 *   pause job ──▶ WANT_ASYNC ──▶ conn_ocsp_run: query ⇄ polls ──▶ answer
 *                                                                   │
 *   policy ◀── job resumes ◀── SSL_do_handshake ◀── conn_drive ◀────┘
 *
 * A connection closed while its job is paused (handshake timeout,
 * shutdown) resumes it once so that it ends: a job left paused would keep
 * its stack.  The handshake timeout goes on running during the wait.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/async.h>
#include <openssl/err.h>

#include "config.h"
#include "conn.h"
#include "ocsp.h"
#include "ocsp_query.h"
#include "stats.h"
#include "tls.h"
#include "worker.h"

struct conn_ocsp {
	OCSP_CERTID		*co_id;
	uint8_t			 co_key[32];	/* in the worker's cache */
	STACK_OF(X509)		*co_chain;	/* verified chain, referenced */
	OCSP_REQUEST		*co_req;
	struct ocsp_query	*co_query;	/* NULL: not started, or over */
	uint64_t		 co_deadline_ms;
	bool			 co_done;	/* co_answer is in */
	bool			 co_paused;	/* the handshake's job waits for it */
	bool			 co_cancelled;	/* the connection is closing */
	struct ocsp_answer	 co_answer;
};

static void	 conn_ocsp_wait(struct conn *, OCSP_CERTID *, const uint8_t [32],
		    STACK_OF(X509) *, struct ocsp_answer *);
static int	 conn_ocsp_policy(struct conn *, X509_STORE_CTX *,
		    const struct ocsp_answer *, time_t *);
static void	 conn_ocsp_note(struct conn *, const struct ocsp_answer *, bool);
static bool	 conn_ocsp_start(struct conn *, struct conn_ocsp *);
static void	 conn_ocsp_answered(struct conn *, struct conn_ocsp *);
static void	 conn_ocsp_settle(struct conn *, struct conn_ocsp *);
static void	 conn_ocsp_free(struct conn_ocsp *);

int
conn_ocsp_verify(struct conn *c, X509_STORE_CTX *xs, time_t *until)
{
	struct worker *w = c->c_worker;
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(xs);
	struct ocsp_answer a;
	OCSP_CERTID *id;
	uint8_t key[32];
	time_t now = time(NULL);
	bool cached = false;

	/* A client certificate that is itself a --client-ca has no issuer
	 * to ask about it. */
	if (c->c_lis->tc_cf->cf_ocsp.oc_mode == OCSP_OFF || sk_X509_num(chain) < 2)
		return 1;
	id = OCSP_cert_to_id(NULL, sk_X509_value(chain, 0), sk_X509_value(chain, 1));
	if (id == NULL || ocsp_cache_key(id, key) == -1) {
		OCSP_CERTID_free(id);
		ERR_clear_error();
		ocsp_answer_error(&a, "out_of_memory", now);
		stats_inc(w->w_stats, STAT_ocsp_error);
	} else if (ocsp_cache_get(w->w_ocsp, key, now, &a)) {
		OCSP_CERTID_free(id);
		stats_inc(w->w_stats, STAT_ocsp_cache_hit);
		cached = true;
	} else {
		conn_ocsp_wait(c, id, key, chain, &a);
	}
	conn_ocsp_note(c, &a, cached);
	return conn_ocsp_policy(c, xs, &a, until);
}

/*
 * In the handshake's job: hand the question to the worker (conn_ocsp_run,
 * outside the job) and pause until the answer is in.  id is taken.
 */
static void
conn_ocsp_wait(struct conn *c, OCSP_CERTID *id, const uint8_t key[32],
    STACK_OF(X509) *chain, struct ocsp_answer *a)
{
	struct worker *w = c->c_worker;
	struct conn_ocsp *co;

	if (ASYNC_get_current_job() == NULL || c->c_ocsp != NULL ||
	    (co = calloc(1, sizeof(*co))) == NULL) {
		OCSP_CERTID_free(id);
		ocsp_answer_error(a, "cannot_wait", time(NULL));
		stats_inc(w->w_stats, STAT_ocsp_error);
		return;
	}
	co->co_id = id;
	memcpy(co->co_key, key, sizeof(co->co_key));
	co->co_chain = X509_chain_up_ref(chain);
	co->co_deadline_ms = w->w_now_ms + c->c_lis->tc_cf->cf_ocsp.oc_timeout * 1000ULL;
	c->c_ocsp = co;
	co->co_paused = true;
	while (!co->co_done) {
		if (ASYNC_pause_job() != 1) {
			ocsp_answer_error(&co->co_answer, "cannot_wait", time(NULL));
			break;
		}
	}
	co->co_paused = false;
	*a = co->co_answer;
}

/* ocsp= in the connection log: the status or what failed, and whether the
 * cache said it. */
static void
conn_ocsp_note(struct conn *c, const struct ocsp_answer *a, bool cached)
{
	snprintf(c->c_ocsp_log, sizeof(c->c_ocsp_log), "%s%s%s",
	    a->oa_status == OCSP_STATUS_ERROR ? "error:" : "", a->oa_why,
	    cached ? ",cached" : "");
}

/*
 * revoked: refused, whatever the mode.  unknown, or no usable answer:
 * refused by --ocsp hard, let in by soft (counted).  What lets the client
 * in also bounds how long the chain's verdict may be remembered.
 */
static int
conn_ocsp_policy(struct conn *c, X509_STORE_CTX *xs, const struct ocsp_answer *a,
    time_t *until)
{
	struct worker *w = c->c_worker;
	bool hard = c->c_lis->tc_cf->cf_ocsp.oc_mode == OCSP_HARD;

	if (c->c_ocsp != NULL && c->c_ocsp->co_cancelled) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_OCSP_VERIFY_FAILED);
		return 0;
	}
	switch (a->oa_status) {
	case OCSP_STATUS_GOOD:
		break;
	case OCSP_STATUS_REVOKED:
		X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REVOKED);
		return 0;
	case OCSP_STATUS_UNKNOWN:
		if (hard) {
			X509_STORE_CTX_set_error(xs, X509_V_ERR_OCSP_CERT_UNKNOWN);
			return 0;
		}
		stats_inc(w->w_stats, STAT_ocsp_soft_allowed);
		break;
	default:
		if (hard) {
			X509_STORE_CTX_set_error(xs, X509_V_ERR_OCSP_VERIFY_FAILED);
			return 0;
		}
		stats_inc(w->w_stats, STAT_ocsp_soft_allowed);
		break;
	}
	if (a->oa_until < *until)
		*until = a->oa_until;
	return 1;
}

bool
conn_ocsp_waiting(const struct conn *c)
{
	return c->c_ocsp != NULL && c->c_ocsp->co_paused && !c->c_ocsp->co_done;
}

/*
 * Outside the job: start the query, or step it after a poll completed,
 * and arm the poll it waits for.  Returns true once the answer is in (the
 * handshake is then to be driven again).
 */
bool
conn_ocsp_run(struct conn *c)
{
	struct conn_ocsp *co = c->c_ocsp;
	struct io_uring_sqe *sqe;
	enum uring_op op;
	enum ocsp_wait wait;

	if (co == NULL || co->co_done)
		return co != NULL;
	if (co->co_query == NULL && !conn_ocsp_start(c, co))
		return true;
	if ((wait = ocsp_query_step(co->co_query)) == OCSP_WAIT_DONE) {
		conn_ocsp_answered(c, co);
		return true;
	}
	op = wait == OCSP_WAIT_READ ? OP_OCSP_POLL_IN : OP_OCSP_POLL_OUT;
	if (!(c->c_inflight & (1u << op))) {
		sqe = worker_sqe(c->c_worker);
		io_uring_prep_poll_add(sqe, ocsp_query_fd(co->co_query),
		    wait == OCSP_WAIT_READ ? POLLIN : POLLOUT);
		conn_submit(c, op, sqe);
	}
	return false;
}

/* The request and the responder to send it to; false if there is none to
 * ask (the answer is then in: an error). */
static bool
conn_ocsp_start(struct conn *c, struct conn_ocsp *co)
{
	char *url;

	if ((url = ocsp_responder_url(&c->c_lis->tc_cf->cf_ocsp,
	    sk_X509_value(co->co_chain, 0))) == NULL) {
		ocsp_answer_error(&co->co_answer, "no_responder", time(NULL));
		conn_ocsp_settle(c, co);
		return false;
	}
	if ((co->co_req = ocsp_request_new(co->co_id)) == NULL ||
	    (co->co_query = ocsp_query_new(url, co->co_req)) == NULL) {
		free(url);
		ERR_clear_error();
		ocsp_answer_error(&co->co_answer, "out_of_memory", time(NULL));
		conn_ocsp_settle(c, co);
		return false;
	}
	ocsp_query_steering(co->co_query, &c->c_tls->tc_cf->cf_intercept);
	free(url);
	return true;
}

/* The query is over: judge what came back. */
static void
conn_ocsp_answered(struct conn *c, struct conn_ocsp *co)
{
	OCSP_RESPONSE *resp;
	const char *why;
	time_t now = time(NULL);

	if ((resp = ocsp_query_response(co->co_query, &why)) != NULL)
		ocsp_response_judge(resp, co->co_req, co->co_id, co->co_chain,
		    c->c_lis->tc_ocsp_store, now, c->c_lis->tc_cf->cf_ocsp.oc_ttl, &co->co_answer);
	else
		ocsp_answer_error(&co->co_answer, why, now);
	conn_ocsp_settle(c, co);
}

/* The answer is in: count it, keep it for the next handshakes, let the
 * paused job go on. */
static void
conn_ocsp_settle(struct conn *c, struct conn_ocsp *co)
{
	struct worker *w = c->c_worker;
	static const enum stat_id by_status[] = {
		[OCSP_STATUS_NONE] = STAT_ocsp_error,
		[OCSP_STATUS_GOOD] = STAT_ocsp_good,
		[OCSP_STATUS_REVOKED] = STAT_ocsp_revoked,
		[OCSP_STATUS_UNKNOWN] = STAT_ocsp_unknown,
		[OCSP_STATUS_ERROR] = STAT_ocsp_error,
	};

	stats_inc(w->w_stats, by_status[co->co_answer.oa_status]);
	ocsp_cache_put(w->w_ocsp, co->co_key, &co->co_answer);
	ocsp_query_free(co->co_query);
	co->co_query = NULL;
	co->co_done = true;
}

bool
conn_ocsp_expired(struct conn *c)
{
	struct conn_ocsp *co = c->c_ocsp;

	if (co == NULL || co->co_done || c->c_worker->w_now_ms < co->co_deadline_ms)
		return false;
	conn_cancel(c, OP_OCSP_POLL_IN);
	conn_cancel(c, OP_OCSP_POLL_OUT);
	ocsp_answer_error(&co->co_answer, "timeout", time(NULL));
	conn_ocsp_settle(c, co);
	return true;
}

void
conn_ocsp_end(struct conn *c)
{
	struct conn_ocsp *co = c->c_ocsp;

	if (co == NULL)
		return;
	conn_cancel(c, OP_OCSP_POLL_IN);
	conn_cancel(c, OP_OCSP_POLL_OUT);
	if (co->co_paused) {
		/* Let the job end in the callback, refused. */
		co->co_cancelled = true;
		if (!co->co_done) {
			ocsp_query_free(co->co_query);
			co->co_query = NULL;
			ocsp_answer_error(&co->co_answer, "cancelled", time(NULL));
			co->co_done = true;
		}
		tls_clear_errors();
		SSL_do_handshake(c->c_client.l_ssl);
		tls_clear_errors();
	}
	c->c_ocsp = NULL;
	conn_ocsp_free(co);
}

static void
conn_ocsp_free(struct conn_ocsp *co)
{
	ocsp_query_free(co->co_query);
	OCSP_REQUEST_free(co->co_req);
	OCSP_CERTID_free(co->co_id);
	sk_X509_pop_free(co->co_chain, X509_free);
	free(co);
}
