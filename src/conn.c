/*
 * conn.c - the per-connection state machine (see the picture in conn.h).
 *
 * Every entry point is an io_uring completion or the worker's tick.  Each
 * one runs conn_drive(), which advances the handshakes, lets the relay move
 * what it can, and arms exactly the polls that the OpenSSL calls asked for
 * (WANT_READ / WANT_WRITE), as nginx's ngx_ssl_handshake does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "conn.h"
#include "forge.h"
#include "ktls.h"
#include "stats.h"
#include "tls.h"
#include "tproxy.h"
#include "upool.h"
#include "verify.h"
#include "worker.h"

static void	conn_drive(struct conn *c);
static void	conn_close(struct conn *c);

static inline uint64_t *
conn_stats(struct conn *c)
{
	return c->c_worker->w_stats;
}

void
conn_submit(struct conn *c, enum uring_op op, struct io_uring_sqe *sqe)
{
	io_uring_sqe_set_data64(sqe, uring_tag(c, op));
	c->c_inflight |= 1u << op;
}

void
conn_cancel(struct conn *c, enum uring_op op)
{
	struct io_uring_sqe *sqe;

	if (!(c->c_inflight & (1u << op)))
		return;
	sqe = worker_sqe(c->c_worker);
	io_uring_prep_cancel64(sqe, uring_tag(c, op), 0);
	io_uring_sqe_set_data64(sqe, OP_IGNORE);
}

static void
conn_arm_leg(struct conn *c, struct leg *l, enum uring_op op_in, enum uring_op op_out)
{
	struct io_uring_sqe *sqe;

	if (l->l_fd < 0)
		return;
	if ((l->l_want & POLLIN) && !(c->c_inflight & (1u << op_in))) {
		sqe = worker_sqe(c->c_worker);
		io_uring_prep_poll_add(sqe, l->l_fd, POLLIN);
		conn_submit(c, op_in, sqe);
	}
	if ((l->l_want & POLLOUT) && !(c->c_inflight & (1u << op_out))) {
		sqe = worker_sqe(c->c_worker);
		io_uring_prep_poll_add(sqe, l->l_fd, POLLOUT);
		conn_submit(c, op_out, sqe);
	}
}

/* Close one leg at once: its polls are cancelled (their completions still
 * arrive and are counted down), its SSL freed without a close_notify. */
static void
conn_leg_close(struct conn *c, struct leg *l)
{
	if (l == &c->c_client) {
		conn_cancel(c, OP_CLIENT_POLL_IN);
		conn_cancel(c, OP_CLIENT_POLL_OUT);
	} else {
		conn_cancel(c, OP_UP_POLL_IN);
		conn_cancel(c, OP_UP_POLL_OUT);
		conn_cancel(c, OP_UP_CONNECT);
	}
	SSL_free(l->l_ssl);
	l->l_ssl = NULL;
	if (l->l_fd >= 0)
		close(l->l_fd);
	l->l_fd = -1;
	l->l_want = 0;
}

/*
 * Free a closed connection once no io_uring request refers to it.  Only the
 * worker loop calls this, after the entry point it called has returned, so
 * no code path ever touches a connection that was freed under it.
 */
void
conn_reap(struct conn *c)
{
	struct worker *w = c->c_worker;

	if (c->c_state != CONN_CLOSING || c->c_inflight != 0)
		return;
	TAILQ_REMOVE(&w->w_conns, c, c_entry);
	w->w_nconns--;
	tls_release(c->c_tls);
	free(c);
}

static void
conn_close(struct conn *c)
{
	if (c->c_state == CONN_CLOSING)
		return;
	conn_ocsp_end(c);	/* first: a paused handshake ends in the log's terms */
	connlog_write(c);
	stats_dec(conn_stats(c), STAT_conn_active);
	/* conn_shutdown counted its own (shutdown, drain_timeout). */
	if (c->c_failed)
		stats_inc(conn_stats(c), STAT_conn_closed_error);
	else if (c->c_reason == NULL || (strcmp(c->c_reason, "shutdown") != 0 &&
	    strcmp(c->c_reason, "drain_timeout") != 0))
		stats_inc(conn_stats(c), STAT_conn_closed_ok);
	conn_leg_close(c, &c->c_client);
	conn_leg_close(c, &c->c_up);
	relay_release(c);
	http1_reset(&c->c_http);
	if (c->c_have_ident)
		ident_free(&c->c_ident);
	c->c_have_ident = false;
	X509_free(c->c_forged_x509);
	c->c_forged_x509 = NULL;
	EVP_PKEY_free(c->c_forged_key);
	c->c_forged_key = NULL;
	X509_free(c->c_refused);
	c->c_refused = NULL;
	OPENSSL_free(c->c_client_der);
	c->c_client_der = NULL;
	c->c_client_der_len = 0;
	free(c->c_inject);
	free(c->c_xfcc);
	c->c_xfcc = NULL;
	free(c->c_sni);
	c->c_inject = c->c_sni = NULL;
	buf_release(&c->c_c2u_in);
	buf_release(&c->c_c2u_out);
	buf_release(&c->c_u2c);
	c->c_state = CONN_CLOSING;
}

void
conn_fail(struct conn *c, enum stat_id why, const char *token)
{
	stats_inc(conn_stats(c), why);
	c->c_failed = true;
	if (c->c_reason == NULL)
		c->c_reason = token;
	conn_close(c);
}

/* Close on an error already counted by the caller. */
void
conn_close_error(struct conn *c)
{
	c->c_failed = true;
	conn_close(c);
}

void
conn_done(struct conn *c)
{
	if (c->c_reason == NULL)
		c->c_reason = "ok";
	conn_close(c);
}

void
conn_activity(struct conn *c)
{
	c->c_last_read_ms = c->c_worker->w_now_ms;
	c->c_trimmed = false;
	if (c->c_state == CONN_RELAY)
		c->c_deadline_ms = c->c_worker->w_now_ms + c->c_tls->tc_cf->cf_idle_timeout * 1000ULL;
}

/*
 * Queue an error answer (400, 502) to the client and close once it is out.
 * Only called between responses, so it cannot land inside one.  The
 * upstream is of no further use.
 */
void
conn_answer_error(struct conn *c, int status)
{
	char text[256];
	size_t n = http1_error_response(status, text, sizeof(text));

	if (status == 502)
		stats_inc(conn_stats(c), STAT_up_502);
	c->c_pending_status = 0;
	c->c_answering = true;
	c->c_failed = true;
	conn_leg_close(c, &c->c_up);
	relay_release_dir(c, SPLICE_C2U);
	buf_release(&c->c_c2u_in);
	buf_release(&c->c_c2u_out);
	if (buf_append(&c->c_u2c, CONN_OUT_BUF, text, n) == -1) {
		conn_close(c);
		return;
	}
	c->c_state = CONN_RELAY;
	c->c_deadline_ms = c->c_worker->w_now_ms + CONN_LINGER_MS;
}

/*
 * The upstream cannot be used (connect, handshake, forging, or it broke
 * mid-stream).  What the client sees depends on where its requests are:
 * an unanswered request gets 502; a client that has not sent its request
 * yet gets a short grace to send one (then 502) before a clean close; a
 * response already on its way can only be cut off.
 */
void
conn_upstream_broken(struct conn *c, enum stat_id why, const char *token)
{
	stats_inc(conn_stats(c), why);
	c->c_failed = true;
	if (c->c_reason == NULL)
		c->c_reason = token;
	conn_leg_close(c, &c->c_up);
	if (!http1_resp_idle(&c->c_http) || c->c_u2c.b_len > 0) {
		conn_close(c);
	} else if (http1_outstanding(&c->c_http) > 0) {
		conn_answer_error(c, 502);
	} else {
		c->c_state = CONN_UPSTREAM_FAILED;
		c->c_deadline_ms = c->c_worker->w_now_ms + CONN_LINGER_MS;
	}
}

/* Is the original destination one of ktproxy's listeners (a client that
 * connected to ktproxy's port directly)?  Proxying it would connect to
 * ourselves. */
static bool
conn_is_loop(struct conn *c)
{
	struct sockaddr_storage probe = c->c_dst;
	bool local, ours = false;
	int fd;

	for (unsigned i = 0; i < c->c_tls->tc_nlis; i++)
		if (((struct sockaddr_in *)&c->c_dst)->sin_port ==
		    ((const struct sockaddr_in *)&c->c_tls->tc_lis[i]->tc_cf->cf_listen)->sin_port)
			ours = true;
	if (!ours)
		return false;
	/* Same port: it loops if the address is one of ours, which a plain
	 * bind (no IP_TRANSPARENT) tells. */
	((struct sockaddr_in *)&probe)->sin_port = 0;
	if ((fd = socket(probe.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return true;
	local = bind(fd, (struct sockaddr *)&probe, c->c_dst_len) == 0;
	close(fd);
	return local;
}

/* What an upstream session is kept under, besides the identity: where it
 * was established (address, port) and the name it was verified for; with
 * --spoof-source the client's address too, which a kept connection
 * carries as its source. */
static int
conn_upstream_dest(struct conn *c)
{
	const struct sockaddr_storage *d = &c->c_dst;
	EVP_MD_CTX *md;
	int ok;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    (d->ss_family == AF_INET ?
	    EVP_DigestUpdate(md, &((const struct sockaddr_in *)d)->sin_port, 2) == 1 &&
	    EVP_DigestUpdate(md, &((const struct sockaddr_in *)d)->sin_addr, 4) == 1 :
	    EVP_DigestUpdate(md, &((const struct sockaddr_in6 *)d)->sin6_port, 2) == 1 &&
	    EVP_DigestUpdate(md, &((const struct sockaddr_in6 *)d)->sin6_addr, 16) == 1) &&
	    EVP_DigestUpdate(md, c->c_sni ? c->c_sni : "", c->c_sni ? strlen(c->c_sni) + 1 : 0) == 1 &&
	    (!c->c_tls->tc_cf->cf_spoof_source ||
	    (c->c_peer.ss_family == AF_INET ?
	    EVP_DigestUpdate(md, &((const struct sockaddr_in *)&c->c_peer)->sin_addr, 4) == 1 :
	    EVP_DigestUpdate(md, &((const struct sockaddr_in6 *)&c->c_peer)->sin6_addr, 16) == 1)) &&
	    EVP_DigestFinal_ex(md, c->c_up_dest, NULL) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/* The leaf's SHA-256 (the forge cache key) and one over the listener and
 * every certificate the client sent, in order.  The listener is in it
 * because the verdict remembered under this hash was reached with that
 * listener's trust: a client let in on one must never skip the
 * verification of another. */
static int
conn_chain_hash(X509 *leaf, STACK_OF(X509) *sent, unsigned listener, uint8_t leaf_sha[32],
    uint8_t chain[32])
{
	EVP_MD_CTX *md;
	unsigned int len;
	int ok;

	if (X509_digest(leaf, EVP_sha256(), leaf_sha, &len) != 1 || (md = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, &listener, sizeof(listener)) == 1;
	for (int i = 0; ok && i < sk_X509_num(sent); i++) {
		X509 *x = sk_X509_value(sent, i);
		uint8_t d[32];

		/* The leaf comes first in what the client sent: hashed once. */
		if (x == leaf)
			ok = EVP_DigestUpdate(md, leaf_sha, 32) == 1;
		else
			ok = X509_digest(x, EVP_sha256(), d, &len) == 1 &&
			    EVP_DigestUpdate(md, d, sizeof(d)) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(md, chain, NULL) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/* How long OpenSSL's verdict on a chain may stand: until the first
 * certificate in it expires, the CRLs are due, or CONN_VERDICT_MAX_S. */
static time_t
conn_verdict_until(X509_STORE_CTX *xs, time_t crl_until)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(xs);
	time_t now = time(NULL), until = now + CONN_VERDICT_MAX_S;
	int days, secs;

	for (int i = 0; i < sk_X509_num(chain); i++) {
		if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(sk_X509_value(chain, i))) != 1)
			return 0;
		if (now + (time_t)days * 86400 + secs < until)
			until = now + (time_t)days * 86400 + secs;
	}
	if (crl_until != 0 && crl_until < until)
		until = crl_until;
	return until > now ? until : 0;
}

/* Keep a refused client's certificate, so the log says who it was.  One
 * found revoked (CRL or OCSP) loses what it was given while trusted. */
static void
conn_client_refused(struct conn *c, X509_STORE_CTX *xs, X509 *leaf)
{
	uint8_t sha[32];
	unsigned len;

	if (X509_STORE_CTX_get_error(xs) == X509_V_ERR_CERT_REVOKED &&
	    X509_digest(leaf, EVP_sha256(), sha, &len) == 1)
		conn_forget_revoked(c->c_worker, sha);
	if (c->c_refused == NULL && X509_up_ref(leaf) == 1)
		c->c_refused = leaf;
}

/* The connection's listener's --allow list, checked on every handshake,
 * remembered verdict or not. */
static bool
conn_client_allowed(struct conn *c, X509_STORE_CTX *xs, X509 *leaf)
{
	if (allow_match(&c->c_lis->tc_cf->cf_allow, leaf))
		return true;
	X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
	conn_client_refused(c, xs, leaf);
	return false;
}

/*
 * The client's chain is verified by OpenSSL once, and the verdict is
 * remembered with the certificate's forge cache entry: a returning client
 * presenting the same certificate and chain skips chain building, the CRL
 * lookup, the OCSP status and the chain's signatures.  Its CertificateVerify
 * signature, the proof it holds the key, is still checked by OpenSSL every
 * time, and so is the listener's --allow list.  The verdict lapses with the
 * first notAfter in the chain, the CRLs' nextUpdate, the OCSP answer's end
 * or CONN_VERDICT_MAX_S, and goes with the cache entry, or with a reload
 * of the trust it was reached with (worker_adopt).  A certificate found
 * revoked, by CRL or OCSP, loses what was kept for it
 * (conn_forget_revoked).
 */
int
conn_client_chain_verify(X509_STORE_CTX *xs, void *arg)
{
	const struct tls_contexts *tc = arg;
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct conn *c = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	uint8_t leaf_sha[32];
	bool hashed;
	time_t until;

	if (c == NULL || leaf == NULL)
		return X509_verify_cert(xs);	/* not a connection of ours */
	hashed = conn_chain_hash(leaf, X509_STORE_CTX_get0_untrusted(xs), c->c_lis->tc_lis_idx,
	    leaf_sha, c->c_chain_hash) == 0;
	if (hashed && forge_verified_get(c->c_worker->w_forge, leaf_sha, c->c_chain_hash)) {
		if (!conn_client_allowed(c, xs, leaf))
			return 0;
		stats_inc(c->c_worker->w_stats, STAT_hs_chain_remembered);
		X509_STORE_CTX_set_error(xs, X509_V_OK);
		return 1;
	}
	if (X509_verify_cert(xs) != 1) {
		conn_client_refused(c, xs, leaf);
		return 0;
	}
	if (!conn_client_allowed(c, xs, leaf))
		return 0;
	until = conn_verdict_until(xs, tc->tc_crl_until);
	if (conn_ocsp_verify(c, xs, &until) != 1) {
		conn_client_refused(c, xs, leaf);
		return 0;
	}
	if (hashed)
		c->c_verified_until = until;
	return 1;
}

/*
 * A revoked client must never ride on what it was given while it was
 * trusted: its forged certificate, the upstream sessions that certificate
 * resumes, and the upstream connections kept for it all go.
 */
void
conn_forget_revoked(struct worker *w, const uint8_t leaf_sha256[32])
{
	unsigned closed;

	forge_forget(w->w_forge, leaf_sha256);
	if ((closed = upool_forget(w->w_upool, leaf_sha256)) > 0) {
		stats_add(w->w_stats, STAT_up_ka_revoked, closed);
		stats_add(w->w_stats, STAT_up_ka_idle, -(uint64_t)closed);
	}
}

/*
 * A copy is kept, not the connection's own session: OpenSSL marks that one
 * not resumable when the connection is freed without a close_notify sent
 * (a client that just closes, an upstream that drops us), which would
 * spoil the kept one for everybody after.  It is kept under the identity's
 * forge generation: the one whose certificate was presented, or whose
 * upstream asked for none.
 */
int
conn_upstream_session(SSL *ssl, SSL_SESSION *sess)
{
	struct conn *c = SSL_get_app_data(ssl);
	SSL_SESSION *copy;

	if (c == NULL || !c->c_have_ident || c->c_forge_gen == 0 ||
	    (copy = SSL_SESSION_dup(sess)) == NULL)
		return 0;
	if (!forge_session_put(c->c_worker->w_forge, c->c_ident.id_sha256, c->c_forge_gen,
	    c->c_up_dest, copy))
		SSL_SESSION_free(copy);
	return 0;	/* the reference OpenSSL passed stays OpenSSL's */
}

/*
 * Nothing could be minted (the signer is down, or the identity's entry
 * went and the signer would not sign): a connection that already showed
 * an upstream its delegate, and now needs a new upstream connection (its
 * idle upstream went to the pool and expired), shows the same certificate
 * again while it is valid.  An established client connection must not
 * fail because the signer did (issue 5); nothing new is signed.
 */
static int
conn_upstream_cert_held(struct conn *c, SSL *ssl)
{
	struct forge_cert fc = { .fc_cert = c->c_forged_x509, .fc_key = c->c_forged_key };

	if (c->c_forged_x509 == NULL || c->c_forged_key == NULL ||
	    X509_cmp_current_time(X509_get0_notAfter(c->c_forged_x509)) <= 0 ||
	    forge_use(c->c_worker->w_forge, ssl, &fc) == -1)
		return 0;
	c->c_forge_err = FORGE_OK;
	c->c_forged = "held";
	return 1;
}

/*
 * The upstream sent a CertificateRequest (OpenSSL calls a client's cert
 * callback only then): the identity's forged certificate, from the cache
 * or minted now - lazily, so an upstream that never asks costs no
 * signature.  The connection is the SSL's app data, not `arg`: a kept
 * upstream connection changes hands.  0 fails the handshake (OpenSSL
 * sends internal_error); why is kept for conn_upstream_handshake to count.
 */
static int
conn_upstream_cert(SSL *ssl, void *arg)
{
	struct conn *c = SSL_get_app_data(ssl);
	struct worker *w;
	struct forge_cert fc;
	const unsigned char *der;
	X509 *client;
	int r;

	if (c == NULL || c->c_client_der == NULL)
		return 0;
	w = c->c_worker;
	c->c_forge_asked = true;
	if ((r = forge_cached(w->w_forge, c->c_ident.id_sha256, &fc)) == 0) {
		der = c->c_client_der;
		if ((client = d2i_X509(NULL, &der, c->c_client_der_len)) == NULL)
			r = -1;
		else
			r = forge_get(w->w_forge, client, c->c_ident.id_sha256, &fc) == 0 ? 1 : -1;
		X509_free(client);
	}
	if (r == -1) {
		c->c_forge_err = forge_last_error(w->w_forge);
		if (c->c_forge_err == FORGE_OK)
			c->c_forge_err = FORGE_ERR_MINT;
		return conn_upstream_cert_held(c, ssl);
	}
	if (forge_use(w->w_forge, ssl, &fc) == -1) {
		forge_cert_clear(&fc);
		c->c_forge_err = FORGE_ERR_MINT;
		return 0;
	}
	stats_inc(w->w_stats, fc.fc_hit ? STAT_forge_cache_hit : STAT_forge_minted);
	c->c_forged = fc.fc_hit ? "cached" : "minted";
	/* A re-minted certificate is a new generation: what this handshake
	 * establishes belongs to it. */
	c->c_forge_gen = fc.fc_gen;
	X509_free(c->c_forged_x509);
	c->c_forged_x509 = fc.fc_cert;
	fc.fc_cert = NULL;
	EVP_PKEY_free(c->c_forged_key);
	c->c_forged_key = fc.fc_key;
	fc.fc_key = NULL;
	forge_cert_clear(&fc);
	return 1;
}

static int
conn_upstream_prepare(struct conn *c)
{
	struct worker *w = c->c_worker;
	SSL_SESSION *sess;
	SSL *ssl;

	if ((ssl = c->c_up.l_ssl = SSL_new(c->c_tls->tc_upstream)) == NULL)
		return -1;
	SSL_set_app_data(ssl, c);	/* for the keylog, session and cert callbacks */
	c->c_forge_asked = false;
	c->c_forge_err = FORGE_OK;
	SSL_set_cert_cb(ssl, conn_upstream_cert, NULL);
	/* A session this identity established with this destination, while
	 * its generation is current: resume it. */
	if ((sess = forge_session_get(w->w_forge, c->c_ident.id_sha256, c->c_forge_gen,
	    c->c_up_dest)) != NULL) {
		int ok = SSL_set_session(ssl, sess);

		SSL_SESSION_free(sess);
		if (ok != 1)
			return -1;
	}
	if (c->c_sni != NULL) {
		if (SSL_set_tlsext_host_name(ssl, c->c_sni) != 1 || SSL_set1_host(ssl, c->c_sni) != 1)
			return -1;
	} else {
		X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
		int ok;

		if (c->c_dst.ss_family == AF_INET)
			ok = X509_VERIFY_PARAM_set1_ip(param,
			    (unsigned char *)&((struct sockaddr_in *)&c->c_dst)->sin_addr, 4);
		else
			ok = X509_VERIFY_PARAM_set1_ip(param,
			    (unsigned char *)&((struct sockaddr_in6 *)&c->c_dst)->sin6_addr, 16);
		if (ok != 1)
			return -1;
	}
	SSL_set_connect_state(ssl);
	if (!w->w_ktls)
		SSL_set_read_ahead(ssl, 1);		/* see relay_start */
	else
		SSL_set_msg_callback(ssl, ktls_msg_cb);	/* see ktls_install_rx_late */
	return 0;
}

static void
conn_upstream_connect(struct conn *c)
{
	struct io_uring_sqe *sqe;
	int one = 1, fd;

	if (conn_is_loop(c)) {
		conn_upstream_broken(c, STAT_up_fail_connect, "destination_is_ktproxy");
		return;
	}
	fd = socket(c->c_dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		conn_upstream_broken(c, STAT_up_fail_connect, "upstream_socket_failed");
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (intercept_bind_egress(&c->c_tls->tc_cf->cf_intercept, fd,
	    (const struct sockaddr *)&c->c_dst) == -1) {
		close(fd);
		conn_upstream_broken(c, STAT_up_fail_connect, "egress_bind_failed");
		return;
	}
	if (c->c_tls->tc_cf->cf_spoof_source && tproxy_bind_source(fd, &c->c_peer) == -1) {
		close(fd);
		conn_upstream_broken(c, STAT_up_fail_connect, "spoof_source_bind_failed");
		return;
	}
	c->c_up.l_fd = fd;
	sqe = worker_sqe(c->c_worker);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&c->c_dst, c->c_dst_len);
	conn_submit(c, OP_UP_CONNECT, sqe);
	c->c_state = CONN_UPSTREAM_CONNECT;
}

/*
 * A kept upstream connection that this client certificate's earlier
 * connection (or this one, before it went idle) left between responses, to
 * this destination and SNI (upool.h): the connection goes straight to
 * RELAY.  A client leg not yet relaying may take either kind (its path
 * follows the upstream's); one already relaying takes only its own kind.
 * Returns true if one was taken.
 */
static bool
conn_upstream_reuse(struct conn *c)
{
	struct worker *w = c->c_worker;
	struct upool_conn uc;
	unsigned dead, kinds;
	bool got;

	if (!c->c_relaying)
		kinds = UPOOL_USERSPACE | (c->c_ktls_candidate ? UPOOL_KTLS : 0);
	else
		kinds = c->c_mode == RELAY_KTLS ? UPOOL_KTLS : UPOOL_USERSPACE;
	got = upool_take(w->w_upool, c->c_ident.id_sha256, c->c_up_dest, c->c_forge_gen,
	    kinds, &uc, &dead);
	stats_add(w->w_stats, STAT_up_ka_dead, dead);
	stats_add(w->w_stats, STAT_up_ka_idle, -(uint64_t)(dead + got));
	if (!got)
		return false;
	stats_inc(w->w_stats, STAT_up_ka_reused);
	c->c_up.l_fd = uc.uc_fd;
	c->c_up.l_ssl = uc.uc_ssl;
	if (uc.uc_ssl != NULL) {
		SSL_set_app_data(uc.uc_ssl, c);
		relay_watch_reads(&c->c_up);
	}
	memcpy(c->c_up_tls, uc.uc_tls, sizeof(c->c_up_tls));
	c->c_up_reused = true;
	c->c_up_kept = false;
	c->c_state = CONN_RELAY;
	if (c->c_ready_ms == 0)
		c->c_ready_ms = w->w_now_ms;
	conn_activity(c);
	return true;
}

/* Forget an upstream leg that is gone (kept, or closed). */
static void
conn_leg_reset(struct leg *l)
{
	memset(l, 0, sizeof(*l));
	l->l_fd = -1;
}

/* Close an upstream connection we are done with: close_notify the way the
 * leg speaks (OpenSSL, or the kernel's record layer), then close. */
static void
conn_upstream_goodbye(struct conn *c)
{
	struct leg *up = &c->c_up;

	tls_clear_errors();
	if (up->l_ssl != NULL)
		SSL_shutdown(up->l_ssl);
	else
		ktls_send_alert(up->l_fd, 1, 0);
	tls_clear_errors();
	conn_leg_close(c, up);
}

/* Set off for the original destination: over a kept connection of this
 * client certificate if there is one, else connect and handshake. */
static void
conn_upstream_begin(struct conn *c)
{
	if (conn_upstream_reuse(c)) {
		if (relay_start(c) != 1)
			return;
		/* The kept upstream is in the kernel and this client leg
		 * cannot follow it: a new upstream connection instead. */
		conn_upstream_goodbye(c);
		conn_leg_reset(&c->c_up);
		c->c_up_reused = false;
		c->c_up_tls[0] = '\0';
		c->c_state = CONN_UPSTREAM_CONNECT;
	}
	if (conn_upstream_prepare(c) == -1) {
		tls_clear_errors();
		conn_upstream_broken(c, STAT_up_fail_tls, "upstream_setup_failed");
		return;
	}
	conn_upstream_connect(c);
}

/*
 * Hand the upstream connection to the pool if it can carry another
 * client's requests: every request answered, nothing of a next one seen,
 * no message that ended the keep-alive, nothing of the upstream's left
 * half-read.  Returns true if it was kept; the leg is then empty.
 */
static bool
conn_upstream_keep(struct conn *c)
{
	struct worker *w = c->c_worker;
	struct leg *up = &c->c_up;
	struct upool_conn uc;
	int evicted;

	if (c->c_forge_gen == 0 || c->c_state != CONN_RELAY || c->c_failed ||
	    c->c_answering || c->c_pending_status || !http1_reusable(&c->c_http) ||
	    (c->c_c2u_in.b_len > 0 && !c->c_http.h_client_last) || c->c_c2u_out.b_len > 0 ||
	    c->c_splice[SPLICE_C2U].sd_piped > 0 || up->l_fd < 0 || up->l_eof || up->l_shut)
		return false;
	/* Only connections that can be taken again: upool_take wants the
	 * identity's current generation (a client certificate whose entry
	 * was evicted or re-minted would strand it until it expires). */
	if (!forge_is_current(w->w_forge, c->c_ident.id_sha256, c->c_forge_gen))
		return false;
	/* kTLS legs must be wholly in the kernel with no handshake message in
	 * progress; OpenSSL may hold no bytes. */
	if (c->c_mode == RELAY_KTLS ? up->l_ssl != NULL || up->l_hs_left > 0 ||
	    up->l_hs_hdr_len > 0 : SSL_has_pending(up->l_ssl))
		return false;
	uc.uc_fd = up->l_fd;
	uc.uc_ssl = up->l_ssl;
	memcpy(uc.uc_tls, c->c_up_tls, sizeof(uc.uc_tls));
	if (uc.uc_ssl != NULL) {
		SSL_set_app_data(uc.uc_ssl, NULL);
		BIO_set_callback_ex(SSL_get_rbio(uc.uc_ssl), NULL);
	}
	if ((evicted = upool_put(w->w_upool, c->c_ident.id_sha256, c->c_up_dest,
	    c->c_forge_gen, &uc, w->w_now_ms)) == -1) {
		if (uc.uc_ssl != NULL) {
			SSL_set_app_data(uc.uc_ssl, c);
			relay_watch_reads(up);
		}
		return false;
	}
	stats_inc(w->w_stats, STAT_up_ka_kept);
	stats_add(w->w_stats, STAT_up_ka_evicted, evicted);
	stats_add(w->w_stats, STAT_up_ka_idle, 1 - (uint64_t)evicted);
	/* The pool owns the socket and the SSL now; polls still in flight on
	 * it complete for this connection and find the leg gone. */
	conn_cancel(c, OP_UP_POLL_IN);
	conn_cancel(c, OP_UP_POLL_OUT);
	conn_leg_reset(up);
	c->c_up_kept = true;
	relay_release_dir(c, SPLICE_C2U);
	return true;
}

bool
conn_upstream_park(struct conn *c)
{
	struct leg *up = &c->c_up;

	if (!conn_upstream_keep(c))
		return false;
	/* The client is answered as a closing upstream would: its own kind of
	 * end, passed back. */
	up->l_eof = up->l_shut = true;
	up->l_eof_clean = c->c_client.l_eof_clean;
	return true;
}

/*
 * An idle client's upstream connection goes to the pool (as nginx's
 * upstream keepalive does between requests): the client holds only its
 * own leg while it thinks, and its next request takes a kept connection
 * of its certificate again, or a new one (conn_upstream_resume).
 */
static void
conn_upstream_detach(struct conn *c)
{
	if (c->c_up_detached || c->c_client.l_eof || c->c_http.h_client_last ||
	    !conn_upstream_keep(c))
		return;
	c->c_up_detached = true;
}

void
conn_upstream_resume(struct conn *c)
{
	c->c_up_detached = false;
	c->c_up_reused = c->c_up_resumed = false;
	c->c_deadline_ms = c->c_worker->w_now_ms + c->c_tls->tc_cf->cf_handshake_timeout * 1000ULL;
	conn_upstream_begin(c);
}

/*
 * The identity header lines, built once per connection and handed to the
 * request rewriter, which also learns which client headers to strip or
 * merge.  The certificates in transport encodings (several KiB with a
 * chain) are in the lines now and freed.
 */
static int
conn_identity_headers(struct conn *c, X509 *peer)
{
	const struct hdr_conf *hc = &c->c_lis->tc_hdr;
	bool merge = hdr_xfcc_merge(hc);

	/* The chain the client sent: only for the keys that carry it. */
	if ((hc->hc_format == HEADERS_AMZN_PASSTHROUGH || hc->hc_format == HEADERS_RFC9440 ||
	    (hc->hc_format == HEADERS_XFCC && (hc->hc_xfcc_fields & XFCC_CHAIN))) &&
	    ident_set_chain(&c->c_ident, peer, SSL_get_peer_cert_chain(c->c_client.l_ssl)) == -1)
		return -1;
	if ((c->c_inject = hdr_lines(&c->c_ident, hc, &c->c_inject_len)) == NULL)
		return -1;
	if (merge && (c->c_xfcc = hdr_xfcc_element(&c->c_ident, hc, &c->c_xfcc_len)) == NULL)
		return -1;
	ident_free_certs(&c->c_ident);
	/* A head grows by the identity lines (or the merged XFCC element):
	 * with a certificate of many names, more than CONN_OUT_BUF, and a head
	 * that cannot fit is never forwarded. */
	c->c_c2u_out_cap = HTTP1_MAX_HEAD + c->c_inject_len + c->c_xfcc_len +
	    (merge ? strlen(hc->hc_name[HDR_XFCC]) + 5 : 0);
	if (c->c_c2u_out_cap < CONN_OUT_BUF)
		c->c_c2u_out_cap = CONN_OUT_BUF;
	http1_init(&c->c_http, c->c_inject, c->c_inject_len);
	http1_set_identity(&c->c_http, hc->hc_strip, hc->hc_nstrip,
	    merge ? hc->hc_name[HDR_XFCC] : NULL, c->c_xfcc, c->c_xfcc_len);
	c->c_http.h_own_close = c->c_tls->tc_cf->cf_up_keepalive > 0;
	return 0;
}

/* The client's certificate verified: learn who it is, find or make its
 * forge entry (its delegate is minted only if an upstream asks), and set
 * off for the original destination. */
static int
conn_client_verified(struct conn *c)
{
	struct worker *w = c->c_worker;
	SSL *ssl = c->c_client.l_ssl;
	const char *sni;
	X509 *peer;

	stats_inc(w->w_stats, STAT_hs_ok);
	snprintf(c->c_client_tls, sizeof(c->c_client_tls), "%s/%s", SSL_get_version(ssl),
	    SSL_get_cipher_name(ssl));
	if ((sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) != NULL &&
	    (c->c_sni = strdup(sni)) == NULL)
		goto oom;
	peer = SSL_get0_peer_certificate(ssl);
	if (peer == NULL || ident_from_cert(&c->c_ident, peer) == -1) {
		conn_fail(c, STAT_hs_fail_bad_cert, "client_cert_unparsable");
		return -1;
	}
	c->c_have_ident = true;
	if (conn_identity_headers(c, peer) == -1)
		goto oom;
	/* OpenSSL put the client leg's TX key in the kernel: this connection
	 * may go to kTLS, so its records must not be read ahead. */
	c->c_ktls_candidate = w->w_ktls && BIO_get_ktls_send(SSL_get_wbio(ssl));

	/* Kept for the upstream handshakes of this connection, which may
	 * outlive the client leg's SSL (kTLS) and come later (a detached
	 * upstream resumed). */
	c->c_client_der = NULL;
	if ((c->c_client_der_len = i2d_X509(peer, &c->c_client_der)) <= 0)
		goto oom;
	c->c_forge_gen = forge_identity(w->w_forge, c->c_ident.id_sha256);
	if (c->c_verified_until != 0)
		forge_verified_put(w->w_forge, c->c_ident.id_sha256, c->c_chain_hash,
		    c->c_verified_until);
	if (conn_upstream_dest(c) == -1) {
		tls_clear_errors();
		conn_upstream_broken(c, STAT_up_fail_tls, "upstream_setup_failed");
		return 0;
	}
	conn_upstream_begin(c);
	return c->c_state == CONN_CLOSING ? -1 : 0;
oom:
	c->c_reason = "out_of_memory";
	conn_close_error(c);
	return -1;
}

static int
conn_client_handshake(struct conn *c)
{
	SSL *ssl = c->c_client.l_ssl;
	const char *token;
	enum stat_id why;
	int r, err, tries = 0;

	/* Paused for OCSP: the query's completions drive it on. */
	if (conn_ocsp_waiting(c))
		return 0;
	do {
		tls_clear_errors();
		if ((r = SSL_do_handshake(ssl)) == 1) {
			conn_ocsp_end(c);
			SSL_clear_mode(ssl, SSL_MODE_ASYNC);	/* the handshake's only */
			return conn_client_verified(c);
		}
		err = SSL_get_error(ssl, r);
		/* The verification callback waits for the certificate's OCSP
		 * status (conn_ocsp.c); an answer at once (no responder to
		 * ask) resumes it now. */
	} while (err == SSL_ERROR_WANT_ASYNC && ++tries < 3 && conn_ocsp_run(c));
	switch (err) {
	case SSL_ERROR_WANT_READ:
		c->c_client.l_want |= POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->c_client.l_want |= POLLOUT;
		return 0;
	case SSL_ERROR_WANT_ASYNC:
		return 0;
	}
	/* OpenSSL has already sent the alert that fits (certificate_expired,
	 * certificate_revoked, unknown_ca, certificate_required, ...). */
	why = tls_client_failure(ssl, err, &token);
	if (why == STAT_hs_fail_revoked && strncmp(c->c_ocsp_log, "revoked", 7) == 0)
		token = "client_cert_revoked_ocsp";
	tls_clear_errors();
	/* Who was refused, for the log (never for the headers: nothing is
	 * forwarded). */
	if (c->c_refused != NULL && !c->c_have_ident &&
	    ident_from_cert(&c->c_ident, c->c_refused) == 0)
		c->c_have_ident = true;
	conn_fail(c, why, token);
	return -1;
}

static void
conn_upstream_connected(struct conn *c, int res)
{
	if (res < 0) {
		conn_upstream_broken(c, STAT_up_fail_connect, "upstream_connect_failed");
		return;
	}
	if (SSL_set_fd(c->c_up.l_ssl, c->c_up.l_fd) != 1) {
		tls_clear_errors();
		conn_upstream_broken(c, STAT_up_fail_tls, "upstream_setup_failed");
		return;
	}
	relay_watch_reads(&c->c_up);
	c->c_state = CONN_UPSTREAM_HANDSHAKE;
}

static void
conn_upstream_handshake(struct conn *c)
{
	SSL *ssl = c->c_up.l_ssl;
	const char *token;
	enum stat_id why;
	int r, err;

	tls_clear_errors();
	if ((r = SSL_do_handshake(ssl)) == 1) {
		struct worker *w = c->c_worker;

		stats_inc(w->w_stats, STAT_up_ok);
		if ((c->c_up_resumed = SSL_session_reused(ssl))) {
			stats_inc(w->w_stats, STAT_up_resumed);
		} else if (!c->c_forge_asked) {
			/* A full handshake without a CertificateRequest:
			 * nothing was minted for it. */
			stats_inc(w->w_stats, STAT_forge_not_requested);
			c->c_forged = "not_requested";
		}
		snprintf(c->c_up_tls, sizeof(c->c_up_tls), "%s/%s", SSL_get_version(ssl),
		    SSL_get_cipher_name(ssl));
		c->c_up.l_rx_records = 0;	/* application-key records from here */
		c->c_state = CONN_RELAY;
		if (c->c_ready_ms == 0)
			c->c_ready_ms = w->w_now_ms;
		conn_activity(c);
		/* The path is chosen here, per connection: keys into the
		 * kernel and splice, or OpenSSL in userspace. */
		relay_start(c);
		return;
	}
	switch ((err = SSL_get_error(ssl, r))) {
	case SSL_ERROR_WANT_READ:
		c->c_up.l_want |= POLLIN;
		return;
	case SSL_ERROR_WANT_WRITE:
		c->c_up.l_want |= POLLOUT;
		return;
	}
	/* Fail closed, and say whose failure it was: a signer being
	 * restarted is neither a bad certificate nor a TLS error. */
	switch (c->c_forge_err) {
	case FORGE_OK:
		why = tls_upstream_failure(ssl, err, &token);
		break;
	case FORGE_ERR_SIGNER_DOWN:
		why = STAT_up_fail_signer, token = "signer_unavailable";
		break;
	case FORGE_ERR_SIGNER_REFUSED:
		why = STAT_up_fail_signer_refused, token = "signer_refused";
		break;
	default:
		why = STAT_up_fail_forge, token = "forge_failed";
		break;
	}
	tls_clear_errors();
	conn_upstream_broken(c, why, token);
}

/* Lingering close: drop what the client still sends until it closes or
 * the linger time is up, so our FIN is not overtaken by a reset. */
static void
conn_linger(struct conn *c)
{
	char scratch[4096];

	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(c->c_client.l_fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->c_client.l_want = POLLIN;
			return;
		}
		break;
	}
	conn_close(c);
}

static void
conn_drive(struct conn *c)
{
	c->c_client.l_want = c->c_up.l_want = 0;
	switch (c->c_state) {
	case CONN_CLIENT_HANDSHAKE:
		if (conn_client_handshake(c) == -1)
			return;
		break;
	case CONN_UPSTREAM_HANDSHAKE:
		conn_upstream_handshake(c);
		break;
	case CONN_LINGER:
		conn_linger(c);
		break;
	case CONN_CLOSING:
		return;
	default:
		break;
	}
	if (c->c_state >= CONN_UPSTREAM_CONNECT && c->c_state <= CONN_RELAY &&
	    relay_pump(c) == -1)
		return;
	if (c->c_state != CONN_CLOSING) {
		conn_arm_leg(c, &c->c_client, OP_CLIENT_POLL_IN, OP_CLIENT_POLL_OUT);
		conn_arm_leg(c, &c->c_up, OP_UP_POLL_IN, OP_UP_POLL_OUT);
		if (c->c_yield && !(c->c_inflight & (1u << OP_YIELD))) {
			struct io_uring_sqe *sqe = worker_sqe(c->c_worker);

			io_uring_prep_nop(sqe);
			conn_submit(c, OP_YIELD, sqe);
		}
		c->c_yield = false;
	}
}

struct conn *
conn_accept(struct worker *w, int fd, unsigned listener)
{
	socklen_t len;
	int one = 1;
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return NULL;
	}
	c->c_worker = w;
	c->c_tls = tls_hold(w->w_tls);
	/* A reload never changes the listeners (main_keep_fixed), so the
	 * index names the same one in every generation; were it not there,
	 * no other listener's trust may stand in: the client is refused. */
	c->c_lis = listener < c->c_tls->tc_nlis ? c->c_tls->tc_lis[listener] : NULL;
	c->c_c2u_out_cap = CONN_OUT_BUF;
	c->c_client.l_fd = fd;
	c->c_up.l_fd = -1;
	c->c_splice[0].sd_pipe[0] = c->c_splice[0].sd_pipe[1] = -1;
	c->c_splice[1].sd_pipe[0] = c->c_splice[1].sd_pipe[1] = -1;
	TAILQ_INSERT_TAIL(&w->w_conns, c, c_entry);
	w->w_nconns++;
	stats_inc(w->w_stats, STAT_conn_accepted);
	stats_inc(w->w_stats, STAT_conn_active);
	c->c_start_ms = w->w_now_ms;
	c->c_deadline_ms = w->w_now_ms + c->c_tls->tc_cf->cf_handshake_timeout * 1000ULL;
	c->c_state = CONN_CLIENT_HANDSHAKE;

	/* With TPROXY the local address of the accepted socket is where the
	 * client meant to go. */
	len = sizeof(c->c_peer);
	getpeername(fd, (struct sockaddr *)&c->c_peer, &len);
	c->c_dst_len = sizeof(c->c_dst);
	getsockname(fd, (struct sockaddr *)&c->c_dst, &c->c_dst_len);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	if (c->c_lis == NULL || (c->c_client.l_ssl = SSL_new(c->c_lis->tc_server)) == NULL ||
	    SSL_set_fd(c->c_client.l_ssl, fd) != 1) {
		tls_clear_errors();
		conn_fail(c, STAT_hs_fail_protocol, "tls_setup_failed");
		return c;
	}
	SSL_set_app_data(c->c_client.l_ssl, c);	/* for the kTLS keylog callback */
	relay_watch_reads(&c->c_client);
	SSL_set_accept_state(c->c_client.l_ssl);
	if (!w->w_ktls)
		SSL_set_read_ahead(c->c_client.l_ssl, 1);	/* see relay_start */
	conn_drive(c);
	return c;
}

void
conn_complete(struct conn *c, int op, int res)
{
	c->c_inflight &= ~(1u << op);
	if (c->c_state == CONN_CLOSING)
		return;
	switch (op) {
	case OP_UP_CONNECT:
		if (c->c_state != CONN_UPSTREAM_CONNECT)
			return;
		conn_upstream_connected(c, res);
		break;
	case OP_CLIENT_POLL_IN:
	case OP_CLIENT_POLL_OUT:
	case OP_UP_POLL_IN:
	case OP_UP_POLL_OUT:
		relay_poll_done(c, op);
		break;
	case OP_OCSP_POLL_IN:
	case OP_OCSP_POLL_OUT:
		conn_ocsp_run(c);
		break;
	}
	conn_drive(c);
}

/*
 * A relay that has read nothing for CONN_TRIM_MS hands back its buffers:
 * OpenSSL's record buffers (about 17 KiB per leg and direction; an idle
 * leg keeps a read buffer from the read that found nothing) and the
 * relay's own.  A busy connection keeps them, so it does not allocate per
 * request.  Buffers still holding bytes stay (SSL_free_buffers refuses).
 */
bool
conn_trim(struct conn *c)
{
	if (c->c_trimmed || c->c_state != CONN_RELAY ||
	    c->c_worker->w_now_ms - c->c_last_read_ms < CONN_TRIM_MS)
		return false;
	c->c_trimmed = true;
	conn_upstream_detach(c);
	if (c->c_c2u_in.b_len == 0)
		buf_release(&c->c_c2u_in);
	if (c->c_c2u_out.b_len == 0)
		buf_release(&c->c_c2u_out);
	if (c->c_u2c.b_len == 0)
		buf_release(&c->c_u2c);
	if (c->c_client.l_ssl != NULL)
		SSL_free_buffers(c->c_client.l_ssl);
	if (c->c_up.l_ssl != NULL)
		SSL_free_buffers(c->c_up.l_ssl);
	return true;
}

void
conn_tick(struct conn *c)
{
	struct worker *w = c->c_worker;

	/* --ocsp-timeout is shorter than the handshake's: an error answer,
	 * which the handshake then goes on with. */
	if (c->c_state == CONN_CLIENT_HANDSHAKE && conn_ocsp_expired(c)) {
		conn_drive(c);
		return;
	}
	if (c->c_state == CONN_CLOSING || w->w_now_ms < c->c_deadline_ms)
		return;
	switch (c->c_state) {
	case CONN_CLIENT_HANDSHAKE:
		conn_fail(c, STAT_hs_fail_timeout, "client_handshake_timeout");
		return;
	case CONN_UPSTREAM_CONNECT:
	case CONN_UPSTREAM_HANDSHAKE:
		conn_upstream_broken(c, STAT_up_fail_timeout, "upstream_timeout");
		conn_drive(c);
		return;
	case CONN_UPSTREAM_FAILED:
		/* No request came to answer 502: a clean TLS close. */
		conn_close_gracefully(c);
		return;
	case CONN_RELAY:
		if (c->c_answering) {
			conn_close(c);
			return;
		}
		stats_inc(w->w_stats, STAT_close_idle);
		c->c_reason = "idle_timeout";
		conn_close(c);
		return;
	default:
		conn_close(c);
	}
}

/* Make the close of a leg a reset: the kernel drops what it still holds
 * to send instead of delivering it after we are gone (to a slow or stalled
 * peer, that can take minutes).  The peer learns at once that the
 * connection was cut, not ended. */
static void
conn_leg_abort(struct leg *l)
{
	struct linger abort_now = { .l_onoff = 1, .l_linger = 0 };

	if (l->l_fd >= 0)
		(void)setsockopt(l->l_fd, SOL_SOCKET, SO_LINGER, &abort_now, sizeof(abort_now));
}

void
conn_shutdown(struct conn *c, bool timed_out)
{
	if (c->c_state == CONN_CLOSING)
		return;
	conn_leg_abort(&c->c_client);
	conn_leg_abort(&c->c_up);
	stats_inc(conn_stats(c), timed_out ? STAT_close_drain_timeout : STAT_close_shutdown);
	if (c->c_reason == NULL)
		c->c_reason = timed_out ? "drain_timeout" : "shutdown";
	conn_close(c);
}

/*
 * Draining: a connection is done when its client has nothing more to
 * ask.  One that has been answered and waits for its next request, with
 * no byte of one in our buffers, OpenSSL's or the socket's, is closed the
 * way a server ends a keep-alive connection (close_notify, FIN, linger);
 * HTTP clients take that as the end of the connection and send a next
 * request on a new one.  One that has asked nothing yet is let ask.
 */
void
conn_drain_idle(struct conn *c)
{
	struct pollfd pfd;

	if (c->c_state != CONN_RELAY || c->c_answering || c->c_pending_status ||
	    c->c_http.h_requests == 0 || !http1_reusable(&c->c_http) ||
	    c->c_client.l_eof || c->c_c2u_in.b_len > 0 || c->c_c2u_out.b_len > 0 ||
	    c->c_u2c.b_len > 0 || c->c_splice[SPLICE_C2U].sd_piped > 0 ||
	    c->c_splice[SPLICE_U2C].sd_piped > 0)
		return;
	if (c->c_client.l_ssl != NULL && SSL_has_pending(c->c_client.l_ssl))
		return;
	/* A request on its way in: let it be served.  poll(), not FIONREAD:
	 * on a kTLS socket a record may have left TCP's queue for the TLS
	 * layer's, which poll sees and FIONREAD does not. */
	pfd.fd = c->c_client.l_fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) != 0)
		return;
	c->c_reason = "drain_idle";
	conn_client_done(c);
	conn_drive(c);	/* arm the linger's poll */
}

/* close_notify to the client, through OpenSSL or the kernel, as far as the
 * socket takes it without waiting. */
static void
conn_send_close_notify(struct conn *c)
{
	if (c->c_mode == RELAY_KTLS) {
		ktls_send_alert(c->c_client.l_fd, 1, 0);
		return;
	}
	tls_clear_errors();
	SSL_shutdown(c->c_client.l_ssl);
	tls_clear_errors();
}

/* Close with a close_notify to the client: the upstream failed before any
 * request. */
void
conn_close_gracefully(struct conn *c)
{
	conn_send_close_notify(c);
	conn_close(c);
}

/*
 * The client asked to close ("Connection: close", which we took for
 * ourselves) and its last response is out: the upstream connection is kept
 * if it can be, else told we are done, and the client is closed the way a
 * server would (close_notify, FIN, linger).  Bytes it sent after that
 * request were never forwarded and are dropped.
 */
void
conn_client_done(struct conn *c)
{
	struct leg *up = &c->c_up;

	if (!conn_upstream_park(c) && up->l_fd >= 0 && !up->l_shut)
		conn_upstream_goodbye(c);
	if (c->c_reason == NULL)
		c->c_reason = "ok";
	conn_finish_answer(c);
}

/* An error answer is fully written: close_notify, FIN, then linger. */
void
conn_finish_answer(struct conn *c)
{
	conn_send_close_notify(c);
	shutdown(c->c_client.l_fd, SHUT_WR);
	c->c_state = CONN_LINGER;
	c->c_deadline_ms = c->c_worker->w_now_ms + CONN_LINGER_MS;
	conn_linger(c);
}
