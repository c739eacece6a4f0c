/*
 * relay.c - moving payload once the client is verified.
 *
 * One pump for both paths.  Every byte the relay must see (request heads,
 * chunk framing, response heads) goes through userspace buffers; what it
 * need not see (bodies, by their framing, and everything after a 101) may
 * bypass it:
 *
 *   RELAY_USERSPACE  reads and writes are SSL_read/SSL_write; bodies are
 *                    copied through the buffers too.
 *   RELAY_KTLS       keys are in the kernel; reads are recvmsg (which also
 *                    yields control records: NewSessionTicket, alerts,
 *                    KeyUpdate), writes are send, and bodies are spliced
 *                    socket -> pipe -> socket by io_uring, never entering
 *                    userspace.
 *
 * Client bytes pass the HTTP/1.1 rewriter (identity headers on every request
 * head); upstream bytes are only observed for response framing.  Each
 * direction stops reading while its buffer is full, which is the
 * backpressure.  Ends are passed on as they came: close_notify becomes
 * close_notify and a bare FIN stays a bare FIN, so a truncation is never
 * laundered into a clean end.  The connection is done when both directions
 * have ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "config.h"
#include "conn.h"
#include "ktls.h"
#include "stats.h"
#include "tls.h"
#include "worker.h"

#define RELAY_PIPE_SIZE		(64 * 1024)	/* default pipe capacity */
#define RELAY_MIN_READ		512		/* room a kTLS read needs */
/* On the kTLS path userspace reads only what it must see (heads, chunk
 * lines, control records): read in small bites so a body behind a head
 * stays in the kernel for the splice.  The kernel keeps the rest of a
 * partly read record. */
#define RELAY_KTLS_READ		4096

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

/*
 * Handshake messages after the handshake, on a kTLS RX socket.  A TLS 1.3
 * NewSessionTicket is dropped (we resume nothing); a KeyUpdate cannot be
 * followed by a kernel that sets TLS_RX once; anything else is a protocol
 * violation.  Messages may span records, so the header is kept per leg.
 */
static int
relay_ktls_handshake(struct conn *c, struct leg *l, const uint8_t *p, size_t n)
{
	uint64_t *stats = c->c_worker->w_stats;

	while (n > 0) {
		size_t take;

		if (l->l_hs_left > 0) {
			take = n < l->l_hs_left ? n : l->l_hs_left;
			l->l_hs_left -= take;
			p += take;
			n -= take;
			continue;
		}
		l->l_hs_hdr[l->l_hs_hdr_len++] = *p++;
		n--;
		if (l->l_hs_hdr_len < 4)
			continue;
		l->l_hs_hdr_len = 0;
		l->l_hs_left = (uint32_t)l->l_hs_hdr[1] << 16 | l->l_hs_hdr[2] << 8 | l->l_hs_hdr[3];
		switch (l->l_hs_hdr[0]) {
		case 4:
			stats_inc(stats, STAT_ktls_rec_nst);
			break;
		case 24:
			stats_inc(stats, STAT_ktls_rec_key_update);
			c->c_reason = "key_update_unsupported";
			return -1;
		default:
			stats_inc(stats, STAT_ktls_rec_other);
			c->c_reason = "unexpected_handshake_record";
			return -1;
		}
	}
	return 0;
}

/*
 * A leg's keys are all in the kernel: OpenSSL has nothing left to do.
 * Marked shut down first, because SSL_free() of a connection that was not
 * would mark its session not resumable - the one kept for resumption.
 */
static void
relay_ssl_done(struct leg *l)
{
	SSL_set_shutdown(l->l_ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(l->l_ssl);
	l->l_ssl = NULL;
}

/*
 * The first response came through OpenSSL, after any tickets the upstream
 * sent: its RX key can go into the kernel now.  If it cannot, OpenSSL
 * keeps reading this leg (the bodies are then copied, not spliced).
 */
static void
relay_rx_late(struct conn *c, struct leg *l)
{
	uint64_t *stats = c->c_worker->w_stats;
	const char *reason;

	if (l->l_rx_stay)
		return;
	if (ktls_install_rx_late(l, &reason) == 0) {
		stats_inc(stats, STAT_ktls_rx_late);
		l->l_rx_user = false;
		relay_ssl_done(l);
		return;
	}
	stats_inc(stats, STAT_ktls_rx_openssl);
	l->l_rx_stay = true;
	c->c_ktls_fallback = reason;
}

/*
 * Read plaintext from a leg.  Returns IO_DONE with *got > 0, IO_WANT (the
 * poll to arm is in *want), IO_EOF (l_eof_clean says how) or IO_ERROR
 * (c_reason may say why).
 */
static enum relay_io
relay_read(struct conn *c, struct leg *l, uint8_t *buf, size_t len, size_t *got, short *want)
{
	uint64_t *stats = c->c_worker->w_stats;
	uint8_t type;
	ssize_t n;
	int r;

	if (c->c_mode == RELAY_USERSPACE || l->l_rx_user) {
		if (l->l_drained && !SSL_has_pending(l->l_ssl)) {
			*want |= POLLIN;
			return IO_WANT;
		}
		tls_clear_errors();
		if ((r = SSL_read(l->l_ssl, buf, len)) > 0) {
			*got = r;
			if (l->l_rx_user && SSL_pending(l->l_ssl) == 0)
				relay_rx_late(c, l);
			return IO_DONE;
		}
		return relay_ssl_result(l, r, want);
	}
	for (int records = 0; records < 64; records++) {
		if ((n = ktls_recv(l->l_fd, buf, len, &type)) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				*want |= POLLIN;
				return IO_WANT;
			}
			if (errno == EKEYEXPIRED) {
				stats_inc(stats, STAT_ktls_rec_key_update);
				c->c_reason = "key_update_unsupported";
			}
			return IO_ERROR;
		}
		if (n == 0)
			return IO_EOF;		/* FIN without close_notify */
		switch (type) {
		case KTLS_REC_DATA:
			*got = n;
			return IO_DONE;
		case KTLS_REC_ALERT:
			if (n >= 2 && buf[1] == 0) {
				stats_inc(stats, STAT_ktls_rec_close_notify);
				l->l_eof_clean = true;
				return IO_EOF;
			}
			stats_inc(stats, STAT_ktls_rec_alert);
			c->c_reason = "peer_sent_alert";
			return IO_ERROR;
		case KTLS_REC_HANDSHAKE:
			if (relay_ktls_handshake(c, l, buf, n) == -1)
				return IO_ERROR;
			continue;
		default:
			stats_inc(stats, STAT_ktls_rec_other);
			c->c_reason = "unexpected_record_type";
			return IO_ERROR;
		}
	}
	*want |= POLLIN;	/* a flood of tickets: let others run first */
	return IO_WANT;
}

static enum relay_io
relay_write(struct conn *c, struct leg *l, const uint8_t *buf, size_t len, size_t *put, short *want)
{
	ssize_t n;

	if (c->c_mode == RELAY_USERSPACE) {
		tls_clear_errors();
		if ((n = SSL_write(l->l_ssl, buf, len)) > 0) {
			*put = n;
			return IO_DONE;
		}
		return relay_ssl_result(l, n, want);
	}
	if ((n = send(l->l_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL)) > 0) {
		*put = n;
		return IO_DONE;
	}
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		*want |= POLLOUT;
		return IO_WANT;
	}
	return IO_ERROR;
}

/*
 * Pass a finished direction on to `to`: close_notify if it ended with one,
 * then FIN.  Returns 0 when done, 1 when the socket is full (retry).
 */
static int
relay_shut(struct conn *c, struct leg *to, bool clean, short *want)
{
	if (clean && c->c_mode == RELAY_USERSPACE) {
		int r;

		tls_clear_errors();
		if ((r = SSL_shutdown(to->l_ssl)) < 0 &&
		    relay_ssl_result(to, r, want) == IO_WANT && (*want & POLLOUT))
			return 1;
		tls_clear_errors();
	} else if (clean) {
		if (ktls_send_alert(to->l_fd, 1, 0) == -1 && errno == EAGAIN) {
			*want |= POLLOUT;
			return 1;
		}
	} else {
		stats_inc(c->c_worker->w_stats, STAT_close_truncated);
	}
	shutdown(to->l_fd, SHUT_WR);
	to->l_shut = true;
	return 0;
}

static bool
relay_up_ready(const struct conn *c)
{
	return c->c_state == CONN_RELAY && c->c_up.l_fd >= 0 && !c->c_answering;
}

/* An error answer may go out now that every earlier response is complete. */
static void
relay_try_answer(struct conn *c)
{
	if (c->c_pending_status && http1_outstanding(&c->c_http) == 0 &&
	    http1_resp_idle(&c->c_http))
		conn_answer_error(c, c->c_pending_status);
}

/* ---------------------------------------------------------------- splice */

static void
relay_count_write(struct conn *c, int dir, size_t n, bool spliced)
{
	uint64_t *stats = c->c_worker->w_stats;

	if (dir == SPLICE_C2U) {
		c->c_bytes_c2u += n;
		stats_add(stats, STAT_bytes_c2u, n);
		stats_add(stats, spliced ? STAT_bytes_spliced_c2u : STAT_bytes_copied_c2u, n);
	} else {
		c->c_bytes_u2c += n;
		stats_add(stats, STAT_bytes_u2c, n);
		stats_add(stats, spliced ? STAT_bytes_spliced_u2c : STAT_bytes_copied_u2c, n);
	}
}

/*
 * Write up to `limit` bytes from the front of b to leg `to`, in order, for
 * as long as it takes them; count them as copied.  *moved says how many
 * went.  Returns IO_DONE (limit reached or b empty), IO_WANT (the poll to
 * arm is in *want) or IO_ERROR/IO_EOF (the leg is broken).  The length
 * offered never shrinks between calls while bytes wait, as a retried
 * SSL_write requires.
 */
static enum relay_io
relay_flush(struct conn *c, int dir, struct leg *to, struct buf *b, size_t limit,
    size_t *moved, short *want)
{
	enum relay_io r = IO_DONE;
	size_t n = 0;

	*moved = 0;
	while (*moved < limit && b->b_len > 0) {
		size_t len = limit - *moved < b->b_len ? limit - *moved : b->b_len;

		if ((r = relay_write(c, to, buf_rptr(b), len, &n, want)) != IO_DONE)
			break;
		buf_consume(b, n);
		relay_count_write(c, dir, n, false);
		*moved += n;
	}
	if (r != IO_DONE && r != IO_WANT)
		tls_clear_errors();
	return r;
}

/* Bytes of this direction that may bypass userspace right now. */
static size_t
relay_passthrough(struct conn *c, int dir)
{
	if (c->c_http.h_opaque)
		return HTTP1_OPAQUE;
	return dir == SPLICE_C2U ? http1_req_passthrough(&c->c_http) :
	    http1_resp_passthrough(&c->c_http);
}

/*
 * Give a direction's pipe back.  Only a pipe that is provably empty goes
 * back to the pool: a stale byte in a pooled pipe would surface in another
 * client's stream.
 */
void
relay_release_dir(struct conn *c, int dir)
{
	struct splice_dir *sd = &c->c_splice[dir];
	int queued = -1;

	if (sd->sd_pipe[0] < 0)
		return;
	if (sd->sd_piped == 0 &&
	    ioctl(sd->sd_pipe[0], FIONREAD, &queued) == 0 && queued == 0)
		worker_pipe_put(c->c_worker, sd->sd_pipe);
	else {
		close(sd->sd_pipe[0]);
		close(sd->sd_pipe[1]);
	}
	sd->sd_pipe[0] = sd->sd_pipe[1] = -1;
	sd->sd_piped = 0;
}

void
relay_release(struct conn *c)
{
	relay_release_dir(c, SPLICE_C2U);
	relay_release_dir(c, SPLICE_U2C);
}

/*
 * What a splice's result means for its direction (res: bytes, or -errno).
 * May close the connection (a write failed).
 */
static void
relay_splice_result(struct conn *c, int dir, bool in, ssize_t res)
{
	struct splice_dir *sd = &c->c_splice[dir];
	struct leg *src = dir == SPLICE_C2U ? &c->c_client : &c->c_up;

	if (in) {
		if (res > 0) {
			sd->sd_piped += res;
			if (!c->c_http.h_opaque) {
				if (dir == SPLICE_C2U)
					http1_req_skip(&c->c_http, res);
				else
					http1_resp_skip(&c->c_http, res);
			}
			conn_activity(c);
		} else if (res == 0) {
			src->l_eof = true;	/* FIN: close_notify would be a record */
		} else if (res == -EAGAIN) {
			sd->sd_blocked_in = true;
		} else if (res == -EINVAL) {
			/* A control record heads the queue: read it as such. */
			sd->sd_control = true;
		} else {
			c->c_reason = dir == SPLICE_C2U ? "client_read_failed" : "upstream_read_failed";
			sd->sd_control = true;	/* let the record reader see the error */
		}
		return;
	}
	if (res > 0) {
		sd->sd_piped -= res;
		relay_count_write(c, dir, res, true);
		conn_activity(c);
	} else if (res == -EAGAIN) {
		sd->sd_blocked_out = true;	/* the destination is full */
	} else if (res != 0) {
		if (dir == SPLICE_C2U)
			conn_upstream_broken(c, STAT_up_fail_reset, "upstream_write_failed");
		else
			conn_fail(c, STAT_close_client_reset, "client_write_failed");
	}
}

/*
 * Move a body by splice, kTLS socket -> pipe -> kTLS socket, in the
 * worker's own thread: both splices are non-blocking, so they cost no more
 * than a read and a write, and the bytes never enter userspace.  (Through
 * io_uring, 6.1 runs every splice in an io-wq thread: two thread hops per
 * record, which cost more than the copies saved.)  A splice from a kTLS
 * socket takes at most one record; the pump calls again while bytes move.
 * SPLICE_F_NONBLOCK is what counts: 6.1's kTLS splice_read ignores the
 * socket's O_NONBLOCK.  Returns 1 if bytes moved, 0 if not (the polls it
 * waits for are in *sw, *dw), -1 if the connection was closed.
 */
static int
relay_splice(struct conn *c, int dir, struct leg *src, struct leg *dst, short *sw, short *dw)
{
	struct splice_dir *sd = &c->c_splice[dir];
	size_t pass = relay_passthrough(c, dir);
	size_t before = sd->sd_piped;
	int moved = 0;
	ssize_t n;

	if (src->l_fd >= 0 && !sd->sd_blocked_in && !sd->sd_control && !src->l_eof &&
	    pass > 0 && sd->sd_piped < RELAY_PIPE_SIZE) {
		size_t len = RELAY_PIPE_SIZE - sd->sd_piped;

		if (sd->sd_pipe[0] < 0 && worker_pipe_get(c->c_worker, sd->sd_pipe) == -1) {
			/* Out of descriptors or pipe memory (fs.pipe-user-pages-*). */
			c->c_reason = "no_pipe";
			conn_close_error(c);
			return -1;
		}
		if (pass < len)
			len = pass;
		n = splice(src->l_fd, NULL, sd->sd_pipe[1], NULL, len,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		relay_splice_result(c, dir, true, n < 0 ? -errno : n);
		moved |= n > 0 || n == 0 || sd->sd_control;
	}
	if (sd->sd_piped > 0 && !sd->sd_blocked_out && dst->l_fd >= 0) {
		n = splice(sd->sd_pipe[0], NULL, dst->l_fd, NULL, sd->sd_piped,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		relay_splice_result(c, dir, false, n < 0 ? -errno : n);
		if (c->c_state == CONN_CLOSING)
			return -1;
		moved |= n > 0;
	}
	if (sd->sd_blocked_in)
		*sw |= POLLIN;
	if (sd->sd_blocked_out)
		*dw |= POLLOUT;
	if (sd->sd_piped == 0 && before == 0 && !moved)
		relay_release_dir(c, dir);
	return moved || sd->sd_piped != before;
}

/*
 * After each recv OpenSSL makes on the socket: one that brought fewer
 * bytes than asked for emptied the socket.  With read-ahead OpenSSL asks
 * for a whole buffer, so that is the usual end of a request or response,
 * and the next SSL_read would only meet EAGAIN: relay_read skips it and
 * polls instead (one syscall less per message and direction).
 */
static long
relay_read_watch(BIO *bio, int oper, const char *argp, size_t len, int argi,
    long argl, int ret, size_t *processed)
{
	struct leg *l = (struct leg *)BIO_get_callback_arg(bio);

	(void)argp;
	(void)argi;
	(void)argl;
	if (oper == (BIO_CB_READ | BIO_CB_RETURN))
		l->l_drained = ret > 0 && *processed < len;
	return ret;
}

void
relay_watch_reads(struct leg *l)
{
	BIO *rbio = SSL_get_rbio(l->l_ssl);

	BIO_set_callback_arg(rbio, (char *)l);
	BIO_set_callback_ex(rbio, relay_read_watch);
}

void
relay_poll_done(struct conn *c, int op)
{
	switch (op) {
	case OP_CLIENT_POLL_IN:
		c->c_client.l_drained = false;
		c->c_splice[SPLICE_C2U].sd_blocked_in = false;
		break;
	case OP_UP_POLL_OUT:     c->c_splice[SPLICE_C2U].sd_blocked_out = false; break;
	case OP_UP_POLL_IN:
		c->c_up.l_drained = false;
		c->c_splice[SPLICE_U2C].sd_blocked_in = false;
		break;
	case OP_CLIENT_POLL_OUT: c->c_splice[SPLICE_U2C].sd_blocked_out = false; break;
	}
}

/* Should this direction read through userspace now?  In kTLS mode only
 * when the bytes must be seen, or a control record waits. */
static bool
relay_wants_userspace_read(struct conn *c, int dir, struct buf *in)
{
	struct splice_dir *sd = &c->c_splice[dir];

	if (c->c_mode == RELAY_USERSPACE || (dir == SPLICE_U2C && c->c_up.l_rx_user))
		return true;
	if (sd->sd_piped > 0)
		return false;
	if (sd->sd_control) {
		sd->sd_control = false;
		return true;
	}
	return in->b_len > 0 || relay_passthrough(c, dir) == 0;
}

/* ---------------------------------------------------------------- pump */

/* Client to upstream.  Returns 1 if anything moved or changed, 0 if not,
 * -1 if the connection was closed. */
static int
relay_c2u(struct conn *c, short *cw, short *uw)
{
	struct leg *cl = &c->c_client, *up = &c->c_up;
	struct buf *in = &c->c_c2u_in, *out = &c->c_c2u_out;
	struct splice_dir *sd = &c->c_splice[SPLICE_C2U];
	uint64_t *stats = c->c_worker->w_stats;
	int progress = 0, sr;
	size_t n;

	/* Spliced bytes go first: userspace bytes wait until the pipe is empty. */
	if (relay_up_ready(c) && sd->sd_piped == 0) {
		enum relay_io r = relay_flush(c, SPLICE_C2U, up, out, SIZE_MAX, &n, uw);
		size_t pass;

		progress |= n > 0;
		/* Body bytes (and everything after a 101) already in the input
		 * buffer go out from there: the rewriter would only copy them.
		 * Once this path has started on some bytes the rewriter leaves
		 * them alone, so an SSL_write retried after WANT_WRITE sees the
		 * same bytes again. */
		if (r == IO_DONE && out->b_len == 0 && in->b_len > 0 && !c->c_pending_status &&
		    (pass = relay_passthrough(c, SPLICE_C2U)) > 0) {
			r = relay_flush(c, SPLICE_C2U, up, in, pass, &n, uw);
			if (n > 0 && !c->c_http.h_opaque)
				http1_req_skip(&c->c_http, n);
			progress |= n > 0;
		}
		if (r != IO_DONE && r != IO_WANT) {
			conn_upstream_broken(c, STAT_up_fail_reset, "upstream_write_failed");
			return c->c_state == CONN_CLOSING ? -1 : 1;
		}
	}
	if (in->b_len > 0 && !c->c_answering && !c->c_pending_status &&
	    !(out->b_len == 0 && relay_passthrough(c, SPLICE_C2U) > 0)) {
		size_t room = buf_make_room(out, c->c_c2u_out_cap), outlen = 0;
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
			if (c->c_http.h_error == HTTP1_ERR_CHUNK) {
				/* Bad bytes inside a body: the upstream already has
				 * this request's head and will never answer it, so
				 * waiting for "earlier responses" would hang.  Answer
				 * now unless a response is half-way out. */
				if (!http1_resp_idle(&c->c_http)) {
					conn_close_error(c);
					return -1;
				}
				conn_answer_error(c, 400);
				return 1;
			}
			relay_try_answer(c);
			return 1;
		}
		buf_consume(in, r);
		buf_produce(out, outlen);
		stats_add(stats, STAT_req_rewritten, c->c_http.h_requests - before);
		if (r > 0 || outlen > 0)
			progress = 1;
	}
	/* A request for an idle client whose upstream went to the pool. */
	if (c->c_up_detached && out->b_len > 0) {
		conn_upstream_resume(c);
		if (c->c_state == CONN_CLOSING)
			return -1;
		progress = 1;
	}

	/* No read-ahead on a connection that may move to kTLS: a record read
	 * by OpenSSL now would be missing from the kernel's sequence.  Once the
	 * upstream failed it never will, and its request is read for the 502. */
	if (!cl->l_eof && !c->c_answering && !c->c_pending_status &&
	    (c->c_state == CONN_RELAY || c->c_state == CONN_UPSTREAM_FAILED ||
	    !c->c_ktls_candidate) &&
	    relay_wants_userspace_read(c, SPLICE_C2U, in)) {
		size_t room = buf_make_room(in, CONN_IN_BUF);

		if (c->c_mode == RELAY_KTLS && room > RELAY_KTLS_READ)
			room = RELAY_KTLS_READ;
		if (room >= (c->c_mode == RELAY_KTLS ? RELAY_MIN_READ : 1)) {
			switch (relay_read(c, cl, buf_wptr(in), room, &n, cw)) {
			case IO_DONE:
				buf_produce(in, n);
				conn_activity(c);
				return 1;
			case IO_WANT:
				break;
			case IO_EOF:
				cl->l_eof = true;
				progress = 1;
				break;
			default:
				tls_clear_errors();
				conn_fail(c, STAT_close_client_reset, c->c_reason ? c->c_reason :
				    "client_read_failed");
				return -1;
			}
		}
	} else if (c->c_mode == RELAY_KTLS && relay_up_ready(c) && !cl->l_eof &&
	    in->b_len == 0 && out->b_len == 0) {
		if ((sr = relay_splice(c, SPLICE_C2U, cl, up, cw, uw)) == -1)
			return -1;
		progress |= sr;
	}
	if (c->c_mode == RELAY_KTLS && sd->sd_piped > 0 && relay_up_ready(c)) {
		if ((sr = relay_splice(c, SPLICE_C2U, cl, up, cw, uw)) == -1)
			return -1;
		progress |= sr;
	}

	if (cl->l_eof && !up->l_shut && out->b_len == 0 && sd->sd_piped == 0) {
		if (in->b_len > 0 && http1_outstanding(&c->c_http) == 0 &&
		    !http1_req_waiting_upgrade(&c->c_http) && !c->c_http.h_client_last) {
			/* The client stopped inside a request head: it cannot be
			 * forwarded with a trustworthy identity. */
			conn_fail(c, STAT_close_client_partial, "client_partial_request");
			return -1;
		}
		if (c->c_state == CONN_UPSTREAM_FAILED) {
			conn_close_gracefully(c);
			return -1;
		}
		if (c->c_up_detached) {
			/* Its upstream is in the pool already: the client is
			 * answered as a closing upstream would. */
			c->c_up_detached = false;
			up->l_eof = up->l_shut = true;
			up->l_eof_clean = cl->l_eof_clean;
			progress = 1;
		}
		/* Between requests, the upstream connection is kept for this
		 * client certificate's next connection instead. */
		if (in->b_len == 0 && relay_up_ready(c) &&
		    (conn_upstream_park(c) || relay_shut(c, up, cl->l_eof_clean, uw) == 0))
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
	struct splice_dir *sd = &c->c_splice[SPLICE_U2C];
	int progress = 0, sr;
	size_t n;

	if (sd->sd_piped == 0) {
		enum relay_io r = relay_flush(c, SPLICE_U2C, cl, b, SIZE_MAX, &n, cw);

		progress |= n > 0;
		if (r != IO_DONE && r != IO_WANT) {
			conn_fail(c, STAT_close_client_reset, "client_write_failed");
			return -1;
		}
	}
	if (b->b_len > 0)
		return progress;
	if (c->c_answering) {
		conn_finish_answer(c);
		return c->c_state == CONN_CLOSING ? -1 : 1;
	}
	if (c->c_http.h_client_done && sd->sd_piped == 0) {
		conn_client_done(c);
		return c->c_state == CONN_CLOSING ? -1 : 1;
	}

	if (relay_up_ready(c) && !up->l_eof && relay_wants_userspace_read(c, SPLICE_U2C, b)) {
		size_t room = buf_make_room(b, CONN_OUT_BUF);
		enum relay_io r = IO_WANT;

		if (c->c_mode == RELAY_KTLS && room > RELAY_KTLS_READ)
			room = RELAY_KTLS_READ;
		if (room > 0)
			r = relay_read(c, up, buf_wptr(b), room, &n, uw);
		switch (r) {
		case IO_DONE:
			if (!c->c_http.h_opaque &&
			    http1_resp_observe(&c->c_http, buf_wptr(b), n) == -1) {
				conn_fail(c, STAT_resp_bad, "upstream_bad_response");
				return -1;
			}
			buf_produce(b, n);
			conn_activity(c);
			relay_try_answer(c);
			return 1;
		case IO_WANT:
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
			tls_clear_errors();
			conn_upstream_broken(c, STAT_up_fail_reset, c->c_reason ? c->c_reason :
			    "upstream_read_failed");
			return c->c_state == CONN_CLOSING ? -1 : 1;
		}
	} else if (c->c_mode == RELAY_KTLS && relay_up_ready(c) && !up->l_eof) {
		if ((sr = relay_splice(c, SPLICE_U2C, up, cl, uw, cw)) == -1)
			return -1;
		progress |= sr;
	}
	if (c->c_mode == RELAY_KTLS && sd->sd_piped > 0) {
		if ((sr = relay_splice(c, SPLICE_U2C, up, cl, uw, cw)) == -1)
			return -1;
		progress |= sr;
	}

	if (up->l_eof && !cl->l_shut && sd->sd_piped == 0 &&
	    relay_shut(c, cl, up->l_eof_clean, cw) == 0)
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

/* Fallback reasons as counted. */
static enum stat_id
relay_fallback_stat(const char *reason)
{
	if (strcmp(reason, "openssl_has_pending_bytes") == 0)
		return STAT_ktls_fb_pending;
	if (strcmp(reason, "tx_not_offloaded") == 0 || strcmp(reason, "rx_not_offloaded") == 0 ||
	    strcmp(reason, "cipher_not_offloadable") == 0)
		return STAT_ktls_fb_cipher;
	return STAT_ktls_fb_install;
}

/*
 * A new upstream for a client leg that has been relaying (its upstream was
 * detached while it was idle): the upstream joins the client's path.  A
 * client leg in the kernel needs a kTLS upstream (a kept one is; a new one
 * gets its keys installed); one in userspace stays there, and so does its
 * new upstream, because a client leg that has been read by OpenSSL cannot
 * move.  Returns -1 if the connection was closed, else 0.
 */
static int
relay_join(struct conn *c)
{
	const char *reason = NULL;

	if (c->c_mode == RELAY_USERSPACE) {
		SSL_set_read_ahead(c->c_up.l_ssl, 1);
		return 0;
	}
	if (c->c_up.l_ssl == NULL)
		return 0;
	if (ktls_install(c, &reason) == 0) {
		if (!c->c_up.l_rx_user)
			relay_ssl_done(&c->c_up);
		return 0;
	}
	/* A path mismatch this kernel has not shown before: the request that
	 * needed the upstream is answered 502. */
	c->c_reason = reason;
	conn_upstream_broken(c, STAT_up_fail_tls, "upstream_ktls_failed");
	return c->c_state == CONN_CLOSING ? -1 : 0;
}

int
relay_start(struct conn *c)
{
	struct worker *w = c->c_worker;
	const char *reason = NULL;
	int r;

	if (c->c_relaying)
		return relay_join(c);
	c->c_relaying = true;
	c->c_splice[0].sd_pipe[0] = c->c_splice[0].sd_pipe[1] = -1;
	c->c_splice[1].sd_pipe[0] = c->c_splice[1].sd_pipe[1] = -1;
	if (c->c_up_reused && c->c_up.l_ssl == NULL) {
		/* A kept upstream whose keys are in the kernel: the client
		 * leg must join it there, or a new upstream is needed. */
		if ((r = ktls_install(c, &reason)) == 0) {
			c->c_mode = RELAY_KTLS;
			stats_inc(w->w_stats, STAT_path_ktls);
			relay_ssl_done(&c->c_client);
			return 0;
		}
		if (r == -2) {
			c->c_reason = reason;
			conn_close_error(c);
			return -1;
		}
		c->c_relaying = false;	/* a new upstream chooses the path */
		return 1;
	}
	if (c->c_up_reused && w->w_ktls) {
		/* A kept upstream relayed in userspace: its keys cannot go to
		 * the kernel half-way through its life (its RX sequence is
		 * OpenSSL's), so this connection stays in userspace too. */
		c->c_ktls_fallback = "reused_userspace_upstream";
		stats_inc(w->w_stats, STAT_ktls_fb_reused);
	} else if (!w->w_ktls) {
		c->c_ktls_fallback = "kernel";
		stats_inc(w->w_stats, STAT_ktls_fb_kernel);
	} else if ((r = ktls_install(c, &reason)) == 0) {
		/* Both legs' keys are in the kernel (a TLS 1.3 upstream's RX key
		 * follows at its first response): OpenSSL has nothing left
		 * to do, and its buffers and objects go. */
		c->c_mode = RELAY_KTLS;
		stats_inc(w->w_stats, STAT_path_ktls);
		relay_ssl_done(&c->c_client);
		if (!c->c_up.l_rx_user)
			relay_ssl_done(&c->c_up);
		return 0;
	} else {
		c->c_ktls_fallback = reason;
		stats_inc(w->w_stats, relay_fallback_stat(reason));
		if (r == -2) {
			c->c_reason = reason;
			conn_close_error(c);
			return -1;
		}
	}
	/* Read-ahead: OpenSSL reads a record with one recv instead of two
	 * (header, then body), and usually several at once.  Only now: a
	 * connection that may still go to kTLS must leave every record it
	 * has not processed in the socket. */
	c->c_mode = RELAY_USERSPACE;
	SSL_set_read_ahead(c->c_client.l_ssl, 1);
	SSL_set_read_ahead(c->c_up.l_ssl, 1);
	stats_inc(w->w_stats, STAT_path_userspace);
	return 0;
}
