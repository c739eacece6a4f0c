/*
 * forge.h - client certificates minted by the delegation CA (C3D).
 *
 * For each verified client certificate the upstream gets a certificate for
 * the same identity, signed by a CA it trusts: the subject DN copied as
 * encoded (RDN order, multi-valued RDNs, string types), subjectAltName copied
 * entry for entry, basicConstraints CA:FALSE, keyUsage digitalSignature, EKU
 * clientAuth, SKI/AKI, a random serial, and a notAfter never later than the
 * client certificate's.  One struct forge per worker (no locks): it holds the
 * worker's ECDSA P-256 key and a bounded cache keyed by the client
 * certificate's SHA-256, so a returning client costs no signature.  With
 * each cached certificate go the upstream TLS sessions it authenticated,
 * per destination, so a returning client's upstream handshake is a
 * resumption: no certificate, no signature, no chain to verify.
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

struct forge;

/* Takes its own references to ca_cert and ca_key.  NULL on failure (an
 * OpenSSL error is queued). */
struct forge	*forge_new(X509 *ca_cert, EVP_PKEY *ca_key, size_t cache_max);
void		 forge_free(struct forge *f);

/* The worker key every forged certificate of this forge carries. */
EVP_PKEY	*forge_key(struct forge *f);

/*
 * A forged certificate for `client` whose DER hashes to `sha256`; the
 * caller gets a reference (X509_free it).  *hit is set when it came from
 * the cache.  A cached certificate past 90% of its lifetime is re-minted
 * (unless it already ends when the client certificate does: a new one could
 * not live longer).  NULL on failure, and for a client certificate that
 * has expired.
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
