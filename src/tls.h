/*
 * tls.h - OpenSSL contexts for both legs, and what their failures mean.
 */
#ifndef KTPROXY_TLS_H
#define KTPROXY_TLS_H

#include <stdatomic.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "counters.h"
#include "headers.h"

struct config;

/*
 * One generation of loaded material: what the files named by the config
 * held when they were read.  SIGHUP loads a new generation beside the old
 * (main.c); every connection holds a reference to the one it began with,
 * so a reload never changes anything under an established connection and
 * the old generation goes when its last connection does.
 */
struct tls_contexts {
	atomic_uint	 tc_refs;
	unsigned	 tc_gen;	/* 1 at start, one more per reload */
	const struct config *tc_cf;	/* the settings it was loaded with */
	struct config	*tc_cf_owned;	/* the same, when it is this generation's
					 * own (a reload's): freed with it */
	SSL_CTX		*tc_server;	/* client-facing: our certificate, mTLS required */
	SSL_CTX		*tc_upstream;	/* upstream-facing: verifies the upstream */
	time_t		 tc_crl_until;	/* earliest nextUpdate of the CRLs, 0: none */
	X509_STORE	*tc_ocsp_store;	/* --client-ca, to verify OCSP answers by
					 * (no CRL flags); NULL: --ocsp off */
	X509		*tc_deleg_ca;	/* signs forged client certificates; its key
					 * is the signer process's alone (signer.h) */
	uint8_t		 tc_deleg_sha256[32];	/* of tc_deleg_ca and tc_deleg_chain */
	struct hdr_conf	 tc_hdr;	/* cf_hdr, with By= from this tc_server's
					 * certificate */
	STACK_OF(X509)	*tc_deleg_chain;	/* --delegation-chain, NULL: none */
	/*
	 * Listeners: each one's client leg (tc_server, tc_crl_until,
	 * tc_ocsp_store, tc_hdr, and its settings in tc_cf), by the index of
	 * its listener block.  tc_lis[0] is this set itself, which also holds
	 * the generation's upstream leg and delegation CA; the others hold no
	 * reference and go with it (a connection holds the generation, and
	 * points at its listener's set).
	 */
	struct tls_contexts *tc_lis[CONFIG_LISTENERS_MAX];
	unsigned	 tc_nlis;	/* 1 without listener blocks, or with one */
	unsigned	 tc_lis_idx;	/* this set's index in tc_lis */
	const char	*tc_lis_name;	/* its block's NAME; NULL: no blocks */
};

/* Load and check every file the config names: a generation with one
 * reference.  Prints what is wrong, with the OpenSSL reason, and returns
 * NULL. */
struct tls_contexts *tls_load(const struct config *cf, unsigned gen);
/* Take and drop a reference (any thread); the last one frees. */
struct tls_contexts *tls_hold(struct tls_contexts *tc);
void		 tls_release(struct tls_contexts *tc);
/* Does any listener of the generation ask OCSP responders? */
bool		 tls_any_ocsp(const struct tls_contexts *tc);
/* Let OpenSSL put keys into the kernel (SSL_OP_ENABLE_KTLS) and capture the
 * TLS 1.3 traffic secrets it will not install itself. */
void		 tls_enable_ktls(struct tls_contexts *tc);

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
