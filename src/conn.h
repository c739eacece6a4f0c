/*
 * conn.h - one intercepted connection: two legs and the state machine that
 * drives them.
 *
 * The life of a connection:
 *
 *   accept ──▶ CLIENT_HANDSHAKE   server-role TLS with the client, client
 *                  │              certificate required and verified
 *                  ▼              (identity extracted, its forge entry found
 *              UPSTREAM_CONNECT   or made)
 *                  │              TCP connect to the original destination;
 *                  ▼              client bytes are already read and rewritten
 *              UPSTREAM_HANDSHAKE client-role TLS, upstream verified against
 *                  │              --upstream-ca; if it sends a
 *                  │              CertificateRequest, the forged cert is
 *                  │              taken from the cache or minted then
 *                  │              (conn_upstream_cert), and presented
 *                  ▼
 *              RELAY              payload both ways; request heads pass the
 *                  │              HTTP/1.1 rewrite; relay mode USERSPACE
 *                  │              (OpenSSL read/write) or KTLS (keys in the
 *                  │              kernel, splice) - chosen per connection
 *                  ▼
 *              LINGER             our last bytes are out and FIN is sent; the
 *                  │              client's leftovers are read and dropped so
 *                  │              the close does not turn into a reset that
 *                  │              destroys an error answer in flight
 *                  ▼
 *              CLOSING            sockets closed, waiting for the io_uring
 *                                 requests still in flight to complete
 *
 * A returning client certificate may skip UPSTREAM_CONNECT and
 * UPSTREAM_HANDSHAKE: an upstream connection that the same certificate's
 * earlier connection left between responses (upool.h) goes straight to
 * RELAY.  When a client closes between requests, its upstream connection
 * goes to that pool rather than being closed; so does the upstream of a
 * relay idle for CONN_TRIM_MS, and that client's next request sets off
 * again (a kept connection, or UPSTREAM_CONNECT) with its client leg
 * relaying as before.
 *
 * CLIENT_HANDSHAKE may wait for the client certificate's OCSP status
 * (--ocsp): OpenSSL's handshake is paused in the verification callback
 * while the connection's own query talks to the responder (conn_ocsp.c);
 * the handshake timeout keeps running.
 *
 * UPSTREAM_FAILED is a side road: the upstream could not be reached, and we
 * wait briefly for the client's request head so it can be answered 502
 * instead of seeing a bare close.
 *
 * Every transition happens in conn.c on an io_uring completion; no call
 * blocks.  A failure anywhere closes the connection with a counted reason.
 */
#ifndef KTPROXY_CONN_H
#define KTPROXY_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "counters.h"
#include "forge.h"
#include "http1.h"
#include "ident.h"
#include "worker.h"

struct worker;
struct conn_ocsp;

enum conn_state {
	CONN_CLIENT_HANDSHAKE = 1,
	CONN_UPSTREAM_CONNECT,
	CONN_UPSTREAM_HANDSHAKE,
	CONN_UPSTREAM_FAILED,
	CONN_RELAY,
	CONN_LINGER,
	CONN_CLOSING,
};

enum relay_mode {
	RELAY_USERSPACE = 0,	/* OpenSSL SSL_read/SSL_write through buffers */
	RELAY_KTLS,		/* keys in the kernel, payload spliced */
};

/* Relay buffer sizes.  The client input buffer must hold a whole request
 * head (HTTP1_MAX_HEAD) before it can be rewritten. */
#define CONN_IN_BUF		(2 * HTTP1_MAX_HEAD)
#define CONN_OUT_BUF		(64 * 1024)
#define CONN_LINGER_MS		2000	/* lingering close, and the 502 grace */
#define CONN_TRIM_MS		1000	/* idle this long: buffers go (conn_trim) */
#define CONN_VERDICT_MAX_S	60	/* a client chain's verdict is remembered */

/* One side of the connection. */
struct leg {
	int		 l_fd;
	SSL		*l_ssl;
	short		 l_want;	/* POLLIN/POLLOUT the last drive needs */
	bool		 l_eof;		/* the peer finished sending */
	bool		 l_eof_clean;	/* ... with close_notify, not bare FIN */
	bool		 l_shut;	/* we finished sending (close_notify, FIN) */
	bool		 l_drained;	/* OpenSSL's last recv came back short */
	/* kTLS: the TLS 1.3 traffic secret of the peer (our RX key), and the
	 * state of a handshake message that spans records. */
	uint8_t		 l_rx_secret[48];
	uint8_t		 l_rx_secret_len;
	uint8_t		 l_hs_hdr[4];
	uint8_t		 l_hs_hdr_len;
	uint32_t	 l_hs_left;
	/* kTLS, TLS 1.3 upstream: OpenSSL still reads this leg (its TX is in
	 * the kernel) until the records before the first response - the
	 * session tickets - are read; then the RX key goes in at the record
	 * sequence number OpenSSL reached (ktls_install_rx_late). */
	bool		 l_rx_user;
	bool		 l_rx_stay;	/* ... for good: the late install failed */
	bool		 l_rx_rekeyed;	/* OpenSSL followed a KeyUpdate */
	uint64_t	 l_rx_records;	/* records read since the handshake */
};

/*
 * One direction's splice state in RELAY_KTLS mode.  A pipe is taken from the
 * worker's pool only while bytes are in flight through it, so an idle
 * connection holds none.  blocked_in / blocked_out: the last splice found
 * the source empty / the destination full; a poll clears them.
 */
struct splice_dir {
	int		 sd_pipe[2];
	size_t		 sd_piped;	/* bytes in the pipe */
	bool		 sd_blocked_in;
	bool		 sd_blocked_out;
	bool		 sd_control;	/* a non-data record heads the source */
};

struct conn {
	struct worker		*c_worker;
	struct tls_contexts	*c_tls;		/* the generation it began with (held) */
	const struct tls_contexts *c_lis;	/* its listener's set in c_tls: every
						 * verification, policy and header
						 * decision about the client is its */
	TAILQ_ENTRY(conn)	 c_entry;
	enum conn_state		 c_state;
	enum relay_mode		 c_mode;
	unsigned		 c_inflight;	/* bit per enum uring_op in flight */

	struct leg		 c_client;
	struct leg		 c_up;
	struct sockaddr_storage	 c_peer;	/* the client */
	struct sockaddr_storage	 c_dst;		/* original destination */
	socklen_t		 c_dst_len;
	char			*c_sni;
	uint8_t			 c_up_dest[32];	/* SHA-256 of dst and SNI: session key */
	uint8_t			 c_chain_hash[32];	/* the client's chain as sent */
	time_t			 c_verified_until;	/* OpenSSL's verdict on it holds till */
	struct conn_ocsp	*c_ocsp;	/* the handshake waits for OCSP (conn_ocsp.c) */
	char			 c_ocsp_log[40];	/* ocsp= in the log; "": not asked */
	X509			*c_refused;	/* a refused client's certificate, for the log */

	char			 c_client_tls[64];	/* "TLSv1.3/TLS_AES_128_GCM_SHA256" */
	char			 c_up_tls[64];
	bool			 c_up_resumed;	/* the upstream handshake resumed a session */
	bool			 c_up_reused;	/* the upstream is a kept connection (upool) */
	bool			 c_up_kept;	/* the last upstream went back to the pool */
	bool			 c_up_detached;	/* idle: upstream in the pool until the
						 * next request (conn_upstream_resume) */
	bool			 c_relaying;	/* relay_start chose the client leg's path */
	unsigned char		*c_client_der;	/* the verified client certificate,
						 * minted from on a forge-cache miss:
						 * DER, as a parsed X509 would cost
						 * an idle kTLS connection ~8 KiB */
	int			 c_client_der_len;
	uint64_t		 c_forge_gen;	/* its identity's forge generation */
	X509			*c_forged_x509;	/* what the upstream was shown (referenced) */
	EVP_PKEY		*c_forged_key;	/* its key (referenced) */
	bool			 c_forge_asked;	/* this upstream handshake asked for a
						 * certificate */
	enum forge_err		 c_forge_err;	/* ... and none could be had */
	struct ident		 c_ident;
	bool			 c_have_ident;
	const char		*c_forged;	/* "minted", "cached", "not_requested",
						 * NULL: no full upstream handshake */
	char			*c_inject;	/* identity header lines */
	size_t			 c_inject_len;
	char			*c_xfcc;	/* our XFCC element, merged with the
						 * client's (append-forward) */
	size_t			 c_xfcc_len;
	size_t			 c_c2u_out_cap;	/* room a rewritten request head may need */
	struct http1		 c_http;

	struct buf		 c_c2u_in;	/* client bytes not yet rewritten */
	struct buf		 c_c2u_out;	/* rewritten, to the upstream */
	struct buf		 c_u2c;		/* upstream bytes to the client */
	struct splice_dir	 c_splice[2];	/* SPLICE_C2U, SPLICE_U2C */
	bool			 c_ktls_candidate;	/* may go to kTLS: no read-ahead */
	const char		*c_ktls_fallback;	/* why not kTLS, for the log */
	uint64_t		 c_bytes_c2u;
	uint64_t		 c_bytes_u2c;
	uint64_t		 c_requests_counted;

	int			 c_pending_status;	/* 400/502 owed to the client */
	bool			 c_answering;	/* error answer queued; close after it */
	bool			 c_yield;	/* relay had more to do: resume via a NOP */
	uint64_t		 c_start_ms;
	uint64_t		 c_ready_ms;	/* both handshakes done */
	uint64_t		 c_deadline_ms;
	uint64_t		 c_last_read_ms;	/* bytes last came in */
	bool			 c_trimmed;	/* buffers handed back since */

	bool			 c_failed;	/* result=error in the log */
	const char		*c_reason;	/* log token for how it ended */
};

/* A connection accepted on the worker's socket of listener (its index in
 * tc_lis), NULL: out of memory. */
struct conn *conn_accept(struct worker *w, int fd, unsigned listener);
/* Free c if it is closed and nothing is in flight; worker loop only. */
void	 conn_reap(struct conn *c);
/* An io_uring completion for this connection. */
void	 conn_complete(struct conn *c, int op, int res);	/* op: enum uring_op */
/* The worker's 1 s tick: enforce deadlines. */
void	 conn_tick(struct conn *c);
/* OpenSSL's certificate verification callback for the client leg (arg: the
 * struct tls_contexts): X509_verify_cert(), or a remembered verdict. */
int	 conn_client_chain_verify(X509_STORE_CTX *xs, void *arg);
/* The client certificate hashing to leaf_sha256 is revoked: drop its
 * forged certificate, sessions and kept upstream connections. */
void	 conn_forget_revoked(struct worker *w, const uint8_t leaf_sha256[32]);
/* OpenSSL's new-session callback for the upstream context: keep the
 * session for this identity and destination (1: taken). */
int	 conn_upstream_session(SSL *ssl, SSL_SESSION *sess);
/* The client closed between requests: keep the upstream connection for
 * the same client certificate's next connection (true if it was kept; the
 * leg is then marked ended). */
bool	 conn_upstream_park(struct conn *c);
/* A request arrived while the upstream was detached: take a kept
 * connection or make a new one. */
void	 conn_upstream_resume(struct conn *c);
/* The same tick: an idle relay hands its buffers back (true if it did). */
bool	 conn_trim(struct conn *c);
/* Close for shutdown of the worker; timed_out: at the drain's end. */
void	 conn_shutdown(struct conn *c, bool timed_out);
/* The worker drains (SIGTERM): close c if it is idle between requests. */
void	 conn_drain_idle(struct conn *c);

#define SPLICE_C2U	0
#define SPLICE_U2C	1

/* relay.c: move bytes in RELAY (and read ahead before it).  Returns -1 if
 * the connection was closed. */
int	 relay_pump(struct conn *c);
/* relay.c: try to move the connection to kTLS once both handshakes are
 * done (or the client's is, and the upstream is a kept one).  Returns -1
 * if the connection was closed, 1 if the kept upstream (kTLS) cannot be
 * paired with this client leg (the caller connects a new one), else 0. */
int	 relay_start(struct conn *c);
/* relay.c: watch the recvs OpenSSL makes on a leg's socket (l_drained). */
void	 relay_watch_reads(struct leg *l);
/* relay.c: a poll completed: what it unblocks. */
void	 relay_poll_done(struct conn *c, int op);
/* relay.c: hand the connection's pipes back (all, or one direction's). */
void	 relay_release(struct conn *c);
void	 relay_release_dir(struct conn *c, int dir);

/* conn_ocsp.c: the client certificate's OCSP status, in the verification
 * callback: 1 lets it in (*until, the verdict's end, capped by the
 * answer's), 0 refuses it with xs's error set.  May pause the handshake's
 * ASYNC job until the answer is in. */
int	 conn_ocsp_verify(struct conn *c, X509_STORE_CTX *xs, time_t *until);
/* The handshake's job waits for an answer not yet in: do not drive it. */
bool	 conn_ocsp_waiting(const struct conn *c);
/* Start or step the query (after SSL_ERROR_WANT_ASYNC, or a poll of
 * OP_OCSP_POLL_*): true once the answer is in (drive the handshake). */
bool	 conn_ocsp_run(struct conn *c);
/* The worker's tick: --ocsp-timeout passed (the answer is then in: an
 * error).  True if so. */
bool	 conn_ocsp_expired(struct conn *c);
/* The handshake is over, or the connection closes: let a paused job end
 * (refused) and forget the query. */
void	 conn_ocsp_end(struct conn *c);

/* conn.c helpers the relay and conn_ocsp.c use. */
void	 conn_submit(struct conn *c, enum uring_op op, struct io_uring_sqe *sqe);
void	 conn_cancel(struct conn *c, enum uring_op op);
void	 conn_fail(struct conn *c, enum stat_id why, const char *token);
void	 conn_answer_error(struct conn *c, int status);
void	 conn_upstream_broken(struct conn *c, enum stat_id why, const char *token);
void	 conn_done(struct conn *c);
void	 conn_close_error(struct conn *c);
void	 conn_close_gracefully(struct conn *c);
void	 conn_finish_answer(struct conn *c);
void	 conn_client_done(struct conn *c);
void	 conn_activity(struct conn *c);

/* connlog.c */
void	 connlog_write(struct conn *c);

#endif
