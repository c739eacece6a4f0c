/*
 * tls.h - OpenSSL contexts for both legs, and what their failures mean.
 */
#ifndef KTPROXY_TLS_H
#define KTPROXY_TLS_H

#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "counters.h"

struct config;

struct tls_contexts {
	SSL_CTX		*tc_server;	/* client-facing: our certificate, mTLS required */
	SSL_CTX		*tc_upstream;	/* upstream-facing: verifies the upstream */
	time_t		 tc_crl_until;	/* earliest nextUpdate of the CRLs, 0: none */
	X509		*tc_deleg_ca;	/* signs forged client certificates; its key
					 * is the signer process's alone (signer.h) */
	STACK_OF(X509)	*tc_deleg_chain;	/* --delegation-chain, NULL: none */
};

/* Load and check every file the config names.  Prints what is wrong, with
 * the OpenSSL reason, and returns -1. */
int		 tls_setup(struct tls_contexts *tc, const struct config *cf);
/* Let OpenSSL put keys into the kernel (SSL_OP_ENABLE_KTLS) and capture the
 * TLS 1.3 traffic secrets it will not install itself. */
void		 tls_enable_ktls(struct tls_contexts *tc);
void		 tls_free(struct tls_contexts *tc);

/* Classify a failed client-side handshake (server role) for the counters
 * and the log.  ssl_err is SSL_get_error()'s answer; call before the error
 * queue is cleared. */
enum stat_id	 tls_client_failure(SSL *ssl, int ssl_err, const char **token);
/* Same for the upstream handshake. */
enum stat_id	 tls_upstream_failure(SSL *ssl, int ssl_err, const char **token);

/*
 * Empty OpenSSL's error queue before an SSL call, so SSL_get_error() reads
 * this call's outcome.  ERR_clear_error() itself frees 32 slots per call in
 * OpenSSL 3 (6% of a keep-alive request's CPU, measured): skip it when the
 * queue is already empty, which it nearly always is.
 */
static inline void
tls_clear_errors(void)
{
	if (ERR_peek_error() != 0)
		ERR_clear_error();
}

/* Print the OpenSSL error queue to stderr, each line prefixed, and clear it. */
void		 tls_print_errors(const char *prefix);

#endif
