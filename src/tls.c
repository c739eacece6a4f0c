/*
 * tls.c - OpenSSL contexts for the client leg (server role, mutual TLS) and
 * the upstream leg (client role, presenting forged certificates).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/async.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "config_msg.h"
#include "ktls.h"
#include "conn.h"
#include "tls.h"

static const unsigned char tls_alpn_http11[] = "\x08http/1.1";

static int
tls_print_error_line(const char *str, size_t len, void *u)
{
	fprintf(stderr, "%s%.*s", (const char *)u, (int)len, str);
	return 1;
}

void
tls_print_errors(const char *prefix)
{
	ERR_print_errors_cb(tls_print_error_line, (void *)prefix);
}

/*
 * Only ALPN http/1.1 is spoken on the client leg: the request-head rewrite
 * is what guarantees the identity headers, so h2 must never be negotiated.
 * A client that offers no http/1.1 gets no ALPN (it then speaks HTTP/1.1 or
 * fails), rather than a handshake failure.
 */
static int
tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned char *sel;

	if (SSL_select_next_proto(&sel, outlen, tls_alpn_http11, sizeof(tls_alpn_http11) - 1,
	    in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int
tls_fail(const char *what, const char *file)
{
	fprintf(stderr, "ktproxy: %s %s:\n", what, file);
	tls_print_errors("ktproxy:   ");
	return -1;
}

/*
 * What is wrong with the file a key names, said where the operator set the
 * key: "ktproxy: FILE:LINE: server-key ..." for the config file's,
 * "ktproxy: --server-key ..." for a flag's; OpenSSL's reasons, if it gave
 * any, below.  fmt follows the key: ": cannot load ..." or " FILE is ...".
 */
static int
tls_key_fail(const struct config *cf, const char *key, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	config_msg_key(cf, key);
	if (cf->cf_lis_name != NULL)
		config_error("--%s%s (listener \"%s\")\n", key, msg, cf->cf_lis_name);
	else
		config_error("--%s%s\n", key, msg);
	config_msg_at(NULL, 0);
	tls_print_errors("ktproxy:   ");
	return -1;
}

/* An ASN1_TIME as "2021-01-01 00:00:00 UTC", for messages. */
static const char *
tls_time_str(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "(unreadable time)");
	return buf;
}

/*
 * --server-cert: what clients would refuse, or what is not meant to be
 * presented at all, found now rather than as every handshake failing: a
 * leaf that has expired or is not valid yet, or a CA certificate
 * (basicConstraints CA:TRUE) in the leaf's place.
 */
static int
tls_check_server_cert(const struct config *cf, SSL_CTX *ctx)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	char when[64];

	if (x == NULL)
		return tls_key_fail(cf, "server-cert", ": no certificate in %s", cf->cf_server_cert);
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		return tls_key_fail(cf, "server-cert", " %s has expired (notAfter %s): "
		    "clients would refuse it", cf->cf_server_cert,
		    tls_time_str(X509_get0_notAfter(x), when, sizeof(when)));
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		return tls_key_fail(cf, "server-cert", " %s is not valid yet (notBefore %s): "
		    "clients would refuse it", cf->cf_server_cert,
		    tls_time_str(X509_get0_notBefore(x), when, sizeof(when)));
	if (X509_get_extension_flags(x) & EXFLAG_CA)
		return tls_key_fail(cf, "server-cert", " %s is a CA certificate (basicConstraints "
		    "CA:TRUE): the file must start with the proxy's own certificate, its chain "
		    "after it", cf->cf_server_cert);
	return 0;
}

/*
 * --client-ca, --upstream-ca: every certificate in the file is trusted to
 * issue, so each must be a CA.  A leaf there would make OpenSSL refuse
 * every peer that is not that very certificate (a chain needs an issuer),
 * which is almost certainly the wrong file: say which certificate it is.
 */
static int
tls_check_ca_file(const struct config *cf, const char *key, const char *file, X509_STORE *st)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);
	char subject[256];
	int ncert = 0;

	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));

		if (x == NULL)
			continue;
		ncert++;
		if (X509_check_ca(x) != 0)
			continue;
		X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
		return tls_key_fail(cf, key, " %s holds a certificate that is not a CA "
		    "certificate (%s; basicConstraints CA:TRUE needed): every certificate "
		    "in it is trusted to issue", file, subject);
	}
	if (ncert == 0)
		return tls_key_fail(cf, key, ": no CA certificates in %s", file);
	return 0;
}

static void
tls_common_options(SSL_CTX *ctx)
{
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* The relay retries SSL_write from a buffer that may have been
	 * compacted, and is happy with partial writes.  No
	 * SSL_MODE_RELEASE_BUFFERS: it frees and reallocates a record buffer
	 * per read and write; idle connections give theirs back instead
	 * (conn_trim). */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
}

/*
 * --ocsp: the client leg's handshakes run as OpenSSL ASYNC jobs, which the
 * verification callback pauses while the responder is asked (conn_ocsp.c);
 * answers are verified against the client CAs, in a store of their own
 * without the CRL flags (a responder certificate is not the client's).
 */
static int
tls_setup_ocsp(struct tls_contexts *tc, const struct config *cf)
{
	if (!ASYNC_is_capable()) {
		fprintf(stderr, "ktproxy: --ocsp: this OpenSSL cannot pause a handshake "
		    "(no ASYNC support)\n");
		return -1;
	}
	SSL_CTX_set_mode(tc->tc_server, SSL_MODE_ASYNC);
	if ((tc->tc_ocsp_store = X509_STORE_new()) == NULL ||
	    X509_STORE_load_file(tc->tc_ocsp_store, cf->cf_client_ca) != 1)
		return tls_key_fail(cf, "client-ca", ": cannot load CA certificates from %s:",
		    cf->cf_client_ca);
	return 0;
}

static int
tls_setup_server(struct tls_contexts *tc, const struct config *cf)
{
	STACK_OF(X509_NAME) *names;
	SSL_CTX *ctx;

	if ((ctx = tc->tc_server = SSL_CTX_new(TLS_server_method())) == NULL)
		return tls_fail("cannot create a TLS context for", "the client leg");
	tls_common_options(ctx);
	if (SSL_CTX_use_certificate_chain_file(ctx, cf->cf_server_cert) != 1)
		return tls_key_fail(cf, "server-cert", ": cannot load the certificate chain in %s:",
		    cf->cf_server_cert);
	if (tls_check_server_cert(cf, ctx) == -1)
		return -1;
	if (SSL_CTX_use_PrivateKey_file(ctx, cf->cf_server_key, SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
			tls_clear_errors();
			return tls_key_fail(cf, "server-key", " %s does not match the certificate "
			    "in %s", cf->cf_server_key, cf->cf_server_cert);
		}
		return tls_key_fail(cf, "server-key", ": cannot load the private key in %s:",
		    cf->cf_server_key);
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
		return tls_key_fail(cf, "server-key", " %s does not match the certificate in %s:",
		    cf->cf_server_key, cf->cf_server_cert);

	if (SSL_CTX_load_verify_file(ctx, cf->cf_client_ca) != 1)
		return tls_key_fail(cf, "client-ca", ": cannot load CA certificates from %s:",
		    cf->cf_client_ca);
	if (tls_check_ca_file(cf, "client-ca", cf->cf_client_ca, SSL_CTX_get_cert_store(ctx)) == -1)
		return -1;
	if ((names = SSL_load_client_CA_file(cf->cf_client_ca)) == NULL)
		return tls_key_fail(cf, "client-ca", ": no CA certificates in %s:", cf->cf_client_ca);
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	/* CRL files, depth, purpose (verify.c) */
	if (verify_setup_client(ctx, &cf->cf_verify, &tc->tc_crl_until) == -1)
		return -1;
	if (cf->cf_ocsp.oc_mode != OCSP_OFF && tls_setup_ocsp(tc, cf) == -1)
		return -1;
	/* OpenSSL's chain verification, remembered per certificate and chain
	 * (conn_client_chain_verify). */
	SSL_CTX_set_cert_verify_callback(ctx, conn_client_chain_verify, tc);

	/* No resumption on the client leg for now: a resumed session would
	 * skip the CRL check of the certificate it carries. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, NULL);
	return 0;
}

static int
tls_setup_upstream(struct tls_contexts *tc, const struct config *cf)
{
	SSL_CTX *ctx;

	if ((ctx = tc->tc_upstream = SSL_CTX_new(TLS_client_method())) == NULL)
		return tls_fail("cannot create a TLS context for", "the upstream leg");
	tls_common_options(ctx);
	if (SSL_CTX_load_verify_file(ctx, cf->cf_upstream_ca) != 1)
		return tls_key_fail(cf, "upstream-ca", ": cannot load CA certificates from %s:",
		    cf->cf_upstream_ca);
	if (tls_check_ca_file(cf, "upstream-ca", cf->cf_upstream_ca,
	    SSL_CTX_get_cert_store(ctx)) == -1)
		return -1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_verify_depth(ctx, 8);
	/* Sessions the upstream gives us are kept per identity and
	 * destination with the forged certificate (conn_upstream_session),
	 * never in OpenSSL's own cache, which knows neither. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, conn_upstream_session);
	if (SSL_CTX_set_alpn_protos(ctx, tls_alpn_http11, sizeof(tls_alpn_http11) - 1) != 0)
		return tls_fail("cannot set ALPN for", "the upstream leg");
	return 0;
}

/*
 * --delegation-chain: what goes after each forged certificate, for an
 * upstream that trusts only a root above the delegation CA: the delegation
 * CA itself, then the certificates in the file (its issuer first, upwards;
 * a file that starts with the delegation CA, or is only that, is fine
 * too).  Each must have issued the one before and be a CA: a file in the
 * wrong order, or for another CA, would only show as upstreams refusing
 * everybody.
 */
static int
tls_setup_deleg_chain(struct tls_contexts *tc, const struct config *cf)
{
	const char *file = cf->cf_delegation_chain;
	X509 *x, *below = tc->tc_deleg_ca;
	int n = 0;
	FILE *fp;

	if ((fp = fopen(file, "r")) == NULL) {
		fprintf(stderr, "ktproxy: --delegation-chain %s: %s\n", file, strerror(errno));
		return -1;
	}
	ERR_clear_error();
	if ((tc->tc_deleg_chain = sk_X509_new_null()) == NULL ||
	    X509_up_ref(tc->tc_deleg_ca) != 1) {
		fclose(fp);
		return tls_fail("--delegation-chain: out of memory for", file);
	}
	if (sk_X509_push(tc->tc_deleg_chain, tc->tc_deleg_ca) <= 0) {
		X509_free(tc->tc_deleg_ca);
		fclose(fp);
		return tls_fail("--delegation-chain: out of memory for", file);
	}
	while ((x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL) {
		n++;
		if (n == 1 && X509_cmp(x, tc->tc_deleg_ca) == 0) {
			X509_free(x);
			continue;
		}
		if (sk_X509_push(tc->tc_deleg_chain, x) <= 0) {
			X509_free(x);
			fclose(fp);
			return tls_fail("--delegation-chain: out of memory for", file);
		}
		if (X509_check_issued(x, below) != X509_V_OK || X509_check_ca(x) == 0) {
			fclose(fp);
			fprintf(stderr, "ktproxy: --delegation-chain %s: certificate %d is not a CA "
			    "that issued the %s before it (the file goes from the issuer of "
			    "--delegation-ca upwards)\n", file, n,
			    below == tc->tc_deleg_ca ? "--delegation-ca" : "certificate");
			return -1;
		}
		below = x;
	}
	fclose(fp);
	/* the end of the file, not a broken certificate in it */
	if (ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE)
		ERR_clear_error();
	if (ERR_peek_error() != 0 || n == 0)
		return tls_fail("--delegation-chain: no PEM certificates (or a broken one) in", file);
	return 0;
}

static int
tls_setup_delegation(struct tls_contexts *tc, const struct config *cf)
{
	FILE *fp;

	if ((fp = fopen(cf->cf_delegation_ca, "r")) == NULL)
		return tls_key_fail(cf, "delegation-ca", " %s: %s", cf->cf_delegation_ca,
		    strerror(errno));
	tc->tc_deleg_ca = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (tc->tc_deleg_ca == NULL)
		return tls_key_fail(cf, "delegation-ca", ": no PEM certificate in %s:",
		    cf->cf_delegation_ca);
	if (X509_check_ca(tc->tc_deleg_ca) == 0)
		return tls_key_fail(cf, "delegation-ca", " %s is not a CA certificate "
		    "(basicConstraints CA:TRUE and keyCertSign needed)", cf->cf_delegation_ca);
	/* The key is never read here: the signer process loads it and
	 * checks it against this certificate (signerd.c). */
	return cf->cf_delegation_chain != NULL ? tls_setup_deleg_chain(tc, cf) : 0;
}

static void
tls_free(struct tls_contexts *tc)
{
	/* The other listeners' sets are this generation's: they go with it. */
	for (unsigned i = 1; i < tc->tc_nlis; i++)
		if (tc->tc_lis[i] != NULL)
			tls_free(tc->tc_lis[i]);
	SSL_CTX_free(tc->tc_server);
	SSL_CTX_free(tc->tc_upstream);
	X509_free(tc->tc_deleg_ca);
	X509_STORE_free(tc->tc_ocsp_store);
	sk_X509_pop_free(tc->tc_deleg_chain, X509_free);
	hdr_conf_free(&tc->tc_hdr);
	if (tc->tc_cf_owned != NULL) {
		config_free(tc->tc_cf_owned);
		free(tc->tc_cf_owned);
	}
	free(tc);
}

/* What a reload compares to tell whether forging must start over: the
 * delegation CA and the chain sent with forged certificates. */
static int
tls_deleg_hash(struct tls_contexts *tc)
{
	EVP_MD_CTX *md;
	unsigned char *der = NULL;
	int n, ok;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    (n = i2d_X509(tc->tc_deleg_ca, &der)) > 0 && EVP_DigestUpdate(md, der, n) == 1;
	OPENSSL_free(der);
	for (int i = 0; ok && i < sk_X509_num(tc->tc_deleg_chain); i++) {
		der = NULL;
		ok = (n = i2d_X509(sk_X509_value(tc->tc_deleg_chain, i), &der)) > 0 &&
		    EVP_DigestUpdate(md, der, n) == 1;
		OPENSSL_free(der);
	}
	ok = ok && EVP_DigestFinal_ex(md, tc->tc_deleg_sha256, NULL) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/* One listener's set (full: with the upstream leg and the delegation CA,
 * which listener 0's set carries for the generation). */
static struct tls_contexts *
tls_load_one(const struct config *cf, unsigned gen, bool full)
{
	struct tls_contexts *tc;

	if ((tc = calloc(1, sizeof(*tc))) == NULL) {
		fprintf(stderr, "ktproxy: out of memory\n");
		return NULL;
	}
	atomic_init(&tc->tc_refs, 1);
	tc->tc_gen = gen;
	tc->tc_cf = cf;
	tc->tc_lis[0] = tc;
	tc->tc_nlis = 1;
	/* A copy that owns only its By= list (hdr_conf_free frees no more). */
	tc->tc_hdr = cf->cf_hdr;
	tc->tc_hdr.hc_by = NULL;
	tc->tc_hdr.hc_nby = 0;
	if (tls_setup_server(tc, cf) == -1)
		goto fail;
	if (full && (tls_setup_upstream(tc, cf) == -1 || tls_setup_delegation(tc, cf) == -1))
		goto fail;
	if (full && tls_deleg_hash(tc) == -1) {
		tls_fail("--delegation-ca: cannot hash", cf->cf_delegation_ca);
		goto fail;
	}
	if (hdr_set_by(&tc->tc_hdr, SSL_CTX_get0_certificate(tc->tc_server)) == -1) {
		fprintf(stderr, "ktproxy: --server-cert: cannot read its URI SANs\n");
		goto fail;
	}
	return tc;
fail:
	tls_free(tc);
	return NULL;
}

struct tls_contexts *
tls_load(const struct config *cf, unsigned gen)
{
	struct tls_contexts *tc, *lt;
	unsigned bad = 0;

	if (cf->cf_nlis <= 1) {
		if ((tc = tls_load_one(cf, gen, true)) != NULL && cf->cf_nlis == 1)
			tc->tc_lis_name = cf->cf_lis[0]->cf_lis_name;
		return tc;
	}
	/* Several listeners: every one loaded, so that each mistake is said. */
	if ((tc = tls_load_one(cf->cf_lis[0], gen, true)) != NULL) {
		tc->tc_lis_name = cf->cf_lis[0]->cf_lis_name;
		tc->tc_nlis = cf->cf_nlis;
	}
	for (unsigned i = 1; i < cf->cf_nlis; i++) {
		if ((lt = tls_load_one(cf->cf_lis[i], gen, false)) == NULL) {
			bad++;
			continue;
		}
		lt->tc_lis_name = cf->cf_lis[i]->cf_lis_name;
		lt->tc_lis_idx = i;
		if (tc != NULL)
			tc->tc_lis[i] = lt;
		else
			tls_free(lt);
	}
	if (tc != NULL && bad > 0) {
		tls_free(tc);
		tc = NULL;
	}
	return tc;
}

bool
tls_any_ocsp(const struct tls_contexts *tc)
{
	for (unsigned i = 0; i < tc->tc_nlis; i++)
		if (tc->tc_lis[i]->tc_cf->cf_ocsp.oc_mode != OCSP_OFF)
			return true;
	return false;
}

struct tls_contexts *
tls_hold(struct tls_contexts *tc)
{
	atomic_fetch_add_explicit(&tc->tc_refs, 1, memory_order_relaxed);
	return tc;
}

void
tls_release(struct tls_contexts *tc)
{
	if (tc != NULL && atomic_fetch_sub_explicit(&tc->tc_refs, 1, memory_order_acq_rel) == 1)
		tls_free(tc);
}

void
tls_enable_ktls(struct tls_contexts *tc)
{
	SSL_CTX *ctxs[CONFIG_LISTENERS_MAX + 1];
	unsigned n = 0;

	ctxs[n++] = tc->tc_upstream;
	for (unsigned i = 0; i < tc->tc_nlis; i++)
		ctxs[n++] = tc->tc_lis[i]->tc_server;
	for (unsigned i = 0; i < n; i++) {
		SSL_CTX_set_options(ctxs[i], SSL_OP_ENABLE_KTLS);
		SSL_CTX_set_keylog_callback(ctxs[i], ktls_keylog);
	}
}

/* The peer went away mid-handshake, as opposed to a TLS-level failure. */
static int
tls_is_eof(int ssl_err)
{
	unsigned long e = ERR_peek_error();

	if (ssl_err == SSL_ERROR_ZERO_RETURN)
		return 1;
	if (ssl_err == SSL_ERROR_SYSCALL && e == 0)
		return 1;
	return ssl_err == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

enum stat_id
tls_client_failure(SSL *ssl, int ssl_err, const char **token)
{
	long v = SSL_get_verify_result(ssl);
	unsigned long e = ERR_peek_error();

	switch (v) {
	case X509_V_OK:
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		*token = "client_cert_expired";
		return STAT_hs_fail_expired;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		*token = "client_cert_not_yet_valid";
		return STAT_hs_fail_not_yet_valid;
	case X509_V_ERR_CERT_REVOKED:
		*token = "client_cert_revoked";
		return STAT_hs_fail_revoked;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		*token = "client_cert_unknown_ca";
		return STAT_hs_fail_unknown_ca;
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
		*token = "client_cert_chain_too_long";
		return STAT_hs_fail_chain_too_long;
	case X509_V_ERR_INVALID_PURPOSE:
		*token = "client_cert_wrong_purpose";
		return STAT_hs_fail_purpose;
	case X509_V_ERR_APPLICATION_VERIFICATION:	/* conn_client_allowed */
		*token = "client_not_allowed";
		return STAT_hs_fail_not_allowed;
	case X509_V_ERR_OCSP_CERT_UNKNOWN:		/* conn_ocsp.c, --ocsp hard */
		*token = "client_ocsp_unknown";
		return STAT_hs_fail_ocsp_unknown;
	case X509_V_ERR_OCSP_VERIFY_FAILED:
		*token = "client_ocsp_unavailable";
		return STAT_hs_fail_ocsp_unavailable;
	case X509_V_ERR_UNABLE_TO_GET_CRL:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
	case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
	case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
		*token = "client_crl_unusable";
		return STAT_hs_fail_crl;
	default:
		*token = "client_cert_invalid";
		return STAT_hs_fail_bad_cert;
	}
	if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
		*token = "client_cert_missing";
		return STAT_hs_fail_no_cert;
	}
	if (tls_is_eof(ssl_err)) {
		*token = "client_closed_in_handshake";
		return STAT_hs_fail_eof;
	}
	*token = "client_tls_error";
	return STAT_hs_fail_protocol;
}

enum stat_id
tls_upstream_failure(SSL *ssl, int ssl_err, const char **token)
{
	if (SSL_get_verify_result(ssl) != X509_V_OK) {
		*token = "upstream_cert_invalid";
		return STAT_up_fail_verify;
	}
	*token = tls_is_eof(ssl_err) ? "upstream_closed_in_handshake" : "upstream_tls_error";
	return STAT_up_fail_tls;
}
