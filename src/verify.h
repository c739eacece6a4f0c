/*
 * verify.h - what a client certificate must be, besides chaining to
 * --client-ca: not revoked by any of the CRL files, no more intermediates
 * than --verify-depth, meant for TLS client authentication, and one of the
 * identities the listener lets in (--allow).
 *
 * The chain itself is OpenSSL's to verify (tls.c sets the store up with
 * verify_setup_client); the allow-list is checked here, after it, on every
 * handshake (conn_client_chain_verify).
 */
#ifndef KTPROXY_VERIFY_H
#define KTPROXY_VERIFY_H

#include <stdbool.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#define VERIFY_CRL_MAX		32	/* --crl files */
#define VERIFY_DEPTH_DEFAULT	8	/* intermediates between leaf and anchor */
#define VERIFY_DEPTH_MAX	32
#define ALLOW_MAX		128	/* --allow patterns per listener */

/* What an --allow pattern is matched against. */
enum allow_kind {
	ALLOW_URI = 1,		/* each subjectAltName URI */
	ALLOW_DNS,		/* each subjectAltName DNS name (case folded) */
	ALLOW_EMAIL,		/* each subjectAltName rfc822Name (case folded) */
	ALLOW_SUBJECT,		/* the subject as RFC 2253 text, as logged */
};

struct allow_pattern {
	enum allow_kind	 ap_kind;
	const char	*ap_glob;	/* fnmatch(3) pattern, points into the argument */
};

/*
 * The identities one listener lets in: a verified client certificate
 * passes if any pattern matches (an empty list lets every verified client
 * in).  Part of the listener's configuration, so each listener can have its
 * own.
 */
struct allow_list {
	struct allow_pattern	 al_pat[ALLOW_MAX];
	unsigned		 al_n;
};

/* How the client leg verifies, from the command line. */
struct verify_conf {
	const char	*vc_crl[VERIFY_CRL_MAX];	/* --crl files; none: no CRL check */
	unsigned	 vc_ncrl;
	unsigned	 vc_depth;	/* --verify-depth: most intermediates allowed */
	bool		 vc_client_eku;	/* --require-client-eku: purpose sslclient */
};

void	 verify_conf_init(struct verify_conf *vc);
/* --crl FILE (repeatable).  0, or -1 after saying what is wrong. */
int	 verify_add_crl(struct verify_conf *vc, const char *file);

/*
 * Add "--allow KIND:GLOB" (KIND: uri, dns, email, subject).  The argument
 * must outlive the list.  0, or -1 after printing what is wrong.
 */
int	 allow_add(struct allow_list *al, const char *arg);
/* Does the leaf match the list (true for an empty list)? */
bool	 allow_match(const struct allow_list *al, X509 *leaf);

/*
 * Set up the client leg's verification on ctx, whose store already holds
 * --client-ca: the CRL files (every one loaded, X509_V_FLAG_CRL_CHECK), the
 * depth and the purpose.  *crl_until: the earliest nextUpdate of the CRLs
 * loaded (0: none says).  0, or -1 after printing what is wrong.
 */
int	 verify_setup_client(SSL_CTX *ctx, const struct verify_conf *vc, time_t *crl_until);

#endif
