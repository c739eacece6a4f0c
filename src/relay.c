/*
 * relay.c - moving payload once the client is verified.
 *
 * Userspace mode: each direction is OpenSSL SSL_read into a bounded buffer
 * and SSL_write out of it.  Client bytes pass the HTTP/1.1 rewriter (every
 * request head gets the identity headers; bodies are copied by their
 * framing); upstream bytes are only observed for response framing.  Each
 * direction stops reading while its buffer is full, which is the
 * backpressure: a slow reader slows its writer, memory stays bounded.
 *
 * Ends are passed on as they came: close_notify becomes close_notify and a
 * bare FIN stays a bare FIN, so a truncation is never laundered into a clean
 * end.  The connection is done when both directions have ended.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "config.h"
#include "conn.h"
#include "stats.h"
#include "worker.h"

enum relay_io { IO_DONE, IO_WANT, IO_EOF, IO_ERROR };

/* Interpret a failed SSL_read/SSL_write/SSL_shutdown. */
static enum relay_io
relay_ssl_result(struct leg *l, int n, short *want)
{
	unsigned long e;

	switch (SSL_get_error(l->l_ssl, n)) {
	case SSL_ERROR_WANT_READ:
		*want |= POLLIN;
		return IO_WANT;
	case SSL_ERROR_WANT_WRITE:
		*want |= POLLOUT;
		return IO_WANT;
	case SSL_ERROR_ZERO_RETURN:
		l->l_eof_clean = true;
		return IO_EOF;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 && (n == 0 || errno == 0))
			return IO_EOF;
		return IO_ERROR;
	case SSL_ERROR_SSL:
		e = ERR_peek_error();
		if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
		    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			return IO_EOF;
		return IO_ERROR;
	default:
		return IO_ERROR;
	}
}

static bool
relay_up_ready(const struct conn *c)
{
	return c->c_state == CONN_RELAY && c->c_up.l_ssl != NULL && !c->c_answering;
}

/*
 * Pass a finished direction on to `to`: close_notify if `from` ended with
 * one, then FIN.  Returns 0 when done, 1 when the socket is full (retry).
 */
static int
relay_shut(struct conn *c, struct leg *to, bool clean, short *want)
{
	if (clean) {
		int r;

		ERR_clear_error();
		if ((r = SSL_shutdown(to->l_ssl)) < 0 &&
		    relay_ssl_result(to, r, want) == IO_WANT && (*want & POLLOUT))
			return 1;
		ERR_clear_error();
	} else {
		stats_inc(c->c_worker->w_stats, STAT_close_truncated);
	}
	shutdown(to->l_fd, SHUT_WR);
	to->l_shut = true;
	return 0;
}

/* An error answer may go out now that every earlier response is complete. */
static void
relay_try_answer(struct conn *c)
{
	if (c->c_pending_status && http1_outstanding(&c->c_http) == 0 &&
	    http1_resp_idle(&c->c_http))
		conn_answer_error(c, c->c_pending_status);
}

/* Client to upstream.  Returns 1 if anything moved or changed, 0 if not,
 * -1 if the connection was closed. */
static int
relay_c2u(struct conn *c, short *cw, short *uw)
{
	struct leg *cl = &c->c_client, *up = &c->c_up;
	struct buf *in = &c->c_c2u_in, *out = &c->c_c2u_out;
	uint64_t *stats = c->c_worker->w_stats;
	int progress = 0, n;

	while (relay_up_ready(c) && out->b_len > 0) {
		ERR_clear_error();
		if ((n = SSL_write(up->l_ssl, buf_rptr(out), out->b_len)) > 0) {
			buf_consume(out, n);
			c->c_bytes_c2u += n;
			stats_add(stats, STAT_bytes_c2u, n);
			progress = 1;
			continue;
		}
		if (relay_ssl_result(up, n, uw) != IO_WANT) {
			ERR_clear_error();
			conn_upstream_broken(c, STAT_up_fail_reset, "upstream_write_failed");
			return c->c_state == CONN_CLOSING ? -1 : 1;
		}
		break;
	}
	if (out->b_len == 0 && in->b_len == 0)
		buf_release(out);

	if (in->b_len > 0 && !c->c_answering && !c->c_pending_status) {
		size_t room = buf_make_room(out, CONN_OUT_BUF), outlen = 0;
		uint64_t before = c->c_http.h_requests;
		ssize_t r;

		r = http1_req_rewrite(&c->c_http, buf_rptr(in), in->b_len,
		    buf_wptr(out), room, &outlen);
		if (r < 0) {
			/* Refuse the request; answer once earlier responses are out. */
			stats_inc(stats, STAT_req_rejected);
			c->c_failed = true;
			c->c_reason = http1_error_str(c->c_http.h_error);
			c->c_pending_status = 400;
			buf_release(in);
			relay_try_answer(c);
			return 1;
		}
		buf_consume(in, r);
		buf_produce(out, outlen);
		stats_add(stats, STAT_req_rewritten, c->c_http.h_requests - before);
		if (r > 0 || outlen > 0)
			progress = 1;
		if (in->b_len == 0)
			buf_release(in);
	}

	if (!cl->l_eof && !c->c_answering && !c->c_pending_status) {
		size_t room = buf_make_room(in, CONN_IN_BUF);

		if (room > 0) {
			ERR_clear_error();
			if ((n = SSL_read(cl->l_ssl, buf_wptr(in), room)) > 0) {
				buf_produce(in, n);
				conn_activity(c);
				return 1;
			}
			switch (relay_ssl_result(cl, n, cw)) {
			case IO_WANT:
				if (in->b_len == 0)
					buf_release(in);
				break;
			case IO_EOF:
				cl->l_eof = true;
				progress = 1;
				break;
			default:
				ERR_clear_error();
				conn_fail(c, STAT_close_client_reset, "client_read_failed");
				return -1;
			}
		}
	}

	if (cl->l_eof && !up->l_shut && out->b_len == 0) {
		if (in->b_len > 0 && http1_outstanding(&c->c_http) == 0 &&
		    !http1_req_waiting_upgrade(&c->c_http)) {
			/* The client stopped inside a request head: it cannot be
			 * forwarded with a trustworthy identity. */
			conn_fail(c, STAT_close_client_partial, "client_partial_request");
			return -1;
		}
		if (c->c_state == CONN_UPSTREAM_FAILED) {
			conn_close_gracefully(c);
			return -1;
		}
		if (in->b_len == 0 && relay_up_ready(c) &&
		    relay_shut(c, up, cl->l_eof_clean, uw) == 0)
			progress = 1;
	}
	return progress;
}

/* Upstream to client; same return values as relay_c2u. */
static int
relay_u2c(struct conn *c, short *cw, short *uw)
{
	struct leg *cl = &c->c_client, *up = &c->c_up;
	struct buf *b = &c->c_u2c;
	uint64_t *stats = c->c_worker->w_stats;
	int progress = 0, n;

	while (b->b_len > 0) {
		ERR_clear_error();
		if ((n = SSL_write(cl->l_ssl, buf_rptr(b), b->b_len)) > 0) {
			buf_consume(b, n);
			c->c_bytes_u2c += n;
			stats_add(stats, STAT_bytes_u2c, n);
			progress = 1;
			continue;
		}
		if (relay_ssl_result(cl, n, cw) != IO_WANT) {
			ERR_clear_error();
			conn_fail(c, STAT_close_client_reset, "client_write_failed");
			return -1;
		}
		break;
	}
	if (b->b_len > 0)
		return progress;
	buf_release(b);
	if (c->c_answering) {
		conn_finish_answer(c);
		return c->c_state == CONN_CLOSING ? -1 : 1;
	}

	if (relay_up_ready(c) && !up->l_eof) {
		size_t room = buf_make_room(b, CONN_OUT_BUF);

		ERR_clear_error();
		if (room > 0 && (n = SSL_read(up->l_ssl, buf_wptr(b), room)) > 0) {
			if (!c->c_http.h_opaque &&
			    http1_resp_observe(&c->c_http, buf_wptr(b), n) == -1) {
				conn_fail(c, STAT_resp_bad, "upstream_bad_response");
				return -1;
			}
			buf_produce(b, n);
			conn_activity(c);
			relay_try_answer(c);
			return 1;
		}
		switch (room > 0 ? relay_ssl_result(up, n, uw) : IO_WANT) {
		case IO_WANT:
			if (b->b_len == 0)
				buf_release(b);
			break;
		case IO_EOF:
			up->l_eof = true;
			if (http1_outstanding(&c->c_http) > 0 && http1_resp_idle(&c->c_http)) {
				/* Closed before answering: like a keep-alive
				 * connection the upstream dropped under us. */
				conn_upstream_broken(c, STAT_up_fail_reset, "upstream_closed_early");
				return c->c_state == CONN_CLOSING ? -1 : 1;
			}
			progress = 1;
			break;
		default:
			ERR_clear_error();
			conn_upstream_broken(c, STAT_up_fail_reset, "upstream_read_failed");
			return c->c_state == CONN_CLOSING ? -1 : 1;
		}
	}

	if (up->l_eof && !cl->l_shut && relay_shut(c, cl, up->l_eof_clean, cw) == 0)
		progress = 1;
	return progress;
}

int
relay_pump(struct conn *c)
{
	short cw, uw;
	int a, b;

	/* Loop until nothing moves; the wants of the last, idle round are the
	 * polls to arm. */
	for (int rounds = 0; ; rounds++) {
		cw = uw = 0;
		if ((a = relay_c2u(c, &cw, &uw)) == -1)
			return -1;
		if (c->c_state == CONN_LINGER)
			return 0;
		if ((b = relay_u2c(c, &cw, &uw)) == -1)
			return -1;
		if (c->c_state == CONN_LINGER)
			return 0;
		if (c->c_state == CONN_UPSTREAM_FAILED && http1_outstanding(&c->c_http) > 0)
			conn_answer_error(c, 502);
		if (!a && !b)
			break;
		/* A fair share for the other connections of this worker: after
		 * a burst, come back on the next completion. */
		if (rounds == 64) {
			c->c_yield = true;
			break;
		}
	}
	c->c_client.l_want |= cw;
	c->c_up.l_want |= uw;
	if (c->c_client.l_eof && c->c_client.l_shut && c->c_up.l_eof && c->c_up.l_shut &&
	    c->c_u2c.b_len == 0 && c->c_c2u_out.b_len == 0) {
		conn_done(c);
		return -1;
	}
	return 0;
}
