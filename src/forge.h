/*
 * forge.h - client certificates minted by the delegation CA (C3D).
 *
 * For each verified client certificate the upstream gets a certificate for
 * the same identity, signed by a CA it trusts: the subject DN copied as
 * encoded (RDN order, multi-valued RDNs, string types), subjectAltName copied
 * entry for entry (critical when the subject is empty, as RFC 5280 wants;
 * left out when it names nobody), basicConstraints CA:FALSE, keyUsage
 * digitalSignature, EKU clientAuth, SKI/AKI, a random serial, and a notAfter
 * never later than the client certificate's.  One struct forge per worker
 * (no locks): it holds the worker's ECDSA P-256 key (the forged
 * certificates' subject key, not the CA's) and a bounded cache keyed by the
 * client certificate's SHA-256, so a returning client costs no signature.
 * With each cached certificate go the upstream TLS sessions it
 * authenticated, per destination, so a returning client's upstream
 * handshake is a resumption: no certificate, no signature, no chain to
 * verify.
 *
 * The CA key is not here.  forge builds the to-be-signed certificate and
 * hands its DER to a signing callback: in the daemon that is the signer
 * process (signer.h), which alone holds the key; tests and benchmarks may
 * sign in-process with forge_sign_local().
 */
#ifndef KTPROXY_FORGE_H
#define KTPROXY_FORGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define FORGE_LIFETIME_MAX	(24 * 3600)	/* seconds; capped by the client cert */
#define FORGE_BACKDATE		300		/* notBefore = now - this, for clock skew */
#define FORGE_SESSIONS		4		/* upstream destinations kept per identity */
#define FORGE_SIG_MAX		1024		/* bytes: RSA 8192, ECDSA P-521, EdDSA */

struct forge;

/* Why the last mint failed (forge_last_error), and what a signing callback
 * answers. */
enum forge_err {
	FORGE_OK = 0,
	FORGE_ERR_MINT,			/* here: expired client, OpenSSL error */
	FORGE_ERR_SIGNER_DOWN,		/* the signer is dead, restarting or silent */
	FORGE_ERR_SIGNER_REFUSED,	/* the signer would not sign this */
};

/*
 * Sign `tbs` (the DER of a TBSCertificate whose signature algorithm is the
 * one forge_sig_nid() gives for the CA's key) with the delegation CA key;
 * *siglen is the room at sig (FORGE_SIG_MAX) and becomes the signature's
 * length.  FORGE_OK or why not.
 */
typedef enum forge_err (*forge_sign_fn)(void *arg, const uint8_t *tbs, size_t len,
		    uint8_t *sig, size_t *siglen);

/* A forge_sign_fn that signs in this process with arg, an EVP_PKEY * (unit
 * tests, benchmarks, and the signer process itself). */
enum forge_err	 forge_sign_local(void *key, const uint8_t *tbs, size_t len,
		    uint8_t *sig, size_t *siglen);

/* The signature algorithm (NID) a CA key of this type signs forged
 * certificates with, and its digest (NULL for EdDSA, which hashes itself).
 * NID_undef for a key type forge does not sign with (EC, RSA, Ed25519 and
 * Ed448 it does).  Works on public and private keys alike. */
int		 forge_sig_nid(const EVP_PKEY *key, const EVP_MD **md);
/* Set an AlgorithmIdentifier to that NID, with the parameters RFC 5754 /
 * RFC 4055 / RFC 8410 want (NULL for RSA, absent for the others). */
int		 forge_algor_set(X509_ALGOR *alg, int nid);

/* Takes its own reference to ca_cert; sign(sign_arg, ...) signs.  NULL on
 * failure (an OpenSSL error is queued). */
struct forge	*forge_new(X509 *ca_cert, forge_sign_fn sign, void *sign_arg, size_t cache_max);
void		 forge_free(struct forge *f);

/* Why the last forge_get() or forge_mint() that returned NULL failed. */
enum forge_err	 forge_last_error(const struct forge *f);

/* The worker key every forged certificate of this forge carries. */
EVP_PKEY	*forge_key(struct forge *f);

/*
 * A forged certificate for `client` whose DER hashes to `sha256`; the
 * caller gets a reference (X509_free it).  *hit is set when it came from
 * the cache.  A cached certificate past 90% of its lifetime is re-minted
 * (unless it already ends when the client certificate does: a new one could
 * not live longer).  NULL on failure, for a client certificate that has
 * expired, and for one that names nobody (empty subject, no SAN names).
 */
X509		*forge_get(struct forge *f, X509 *client, const uint8_t sha256[32], bool *hit);

/* Mint without the cache (tests, benchmarks). */
X509		*forge_mint(struct forge *f, X509 *client);

/*
 * Upstream sessions for the identity whose certificate hashes to sha256,
 * while `forged` is still its cached certificate; `dest` names the
 * destination (address, port and SNI, hashed by the caller).  get: a copy
 * of the session (SSL_SESSION_free it) or NULL; expired ones go.  put:
 * keeps sess (takes the caller's reference; pass a copy, never a session
 * an SSL uses) and returns true, or false when `forged` is no longer the
 * cached certificate (the reference stays the caller's).
 */
SSL_SESSION	*forge_session_get(struct forge *f, const uint8_t sha256[32], X509 *forged,
		    const uint8_t dest[32]);
bool		 forge_session_put(struct forge *f, const uint8_t sha256[32], X509 *forged,
		    const uint8_t dest[32], SSL_SESSION *sess);

/* Is `forged` still the cached certificate of the client certificate
 * hashing to sha256?  (Nothing presented with an older one is kept.) */
bool		 forge_is_cached(struct forge *f, const uint8_t sha256[32], X509 *forged);

/*
 * A verified client chain, remembered with its certificate's entry: put
 * after a successful verification (chain: a hash of the certificates the
 * client presented; until: when the verdict lapses), get before the next:
 * true while it holds for this very chain.  Nothing is remembered for a
 * certificate that is not cached.
 */
void		 forge_verified_put(struct forge *f, const uint8_t sha256[32],
		    const uint8_t chain[32], time_t until);
bool		 forge_verified_get(struct forge *f, const uint8_t sha256[32],
		    const uint8_t chain[32]);

/* The clock validity and cache freshness are computed from; time(NULL)
 * unless a test sets another (NULL restores it). */
void		 forge_set_clock(struct forge *f, time_t (*now)(void));

#endif
