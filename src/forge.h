/*
 * forge.h - client certificates minted by the delegation CA (C3D).
 *
 * For each verified client certificate the upstream gets a certificate for
 * the same identity, signed by a CA it trusts: the subject DN copied as
 * encoded (RDN order, multi-valued RDNs, string types), and what the
 * forging policy (struct forge_policy, from the --forge-* flags) says of
 * the rest: which of the client's extensions are copied, the lifetime, the
 * serial, the subject key's type and how keys are shared, an optional
 * extension naming the original certificate, and the CA chain sent with
 * it.  basicConstraints is always CA:FALSE; SKI/AKI are always ours.
 *
 * One struct forge per worker (no locks).  It keeps a bounded cache of
 * identities keyed by the client certificate's SHA-256: an entry is made
 * when a client is verified (forge_identity), and gets its forged
 * certificate only when an upstream asks for one (forge_get, from the
 * upstream TLS handshake's certificate callback): an upstream that never
 * sends a CertificateRequest costs no signature.  With each entry go the
 * upstream TLS sessions it established, per destination, so a returning
 * client's upstream handshake is a resumption: no certificate, no
 * signature, no chain to verify.  Each entry has a generation number; what
 * was established for an identity (sessions here, kept connections in
 * upool.c) is valid only while that generation is the identity's current
 * one, so re-minting or evicting an entry strands all of it.
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

#define FORGE_LIFETIME_DEFAULT	(24 * 3600)	/* seconds; capped by the client cert */
#define FORGE_LIFETIME_MIN	60
#define FORGE_LIFETIME_LIMIT	(7 * 24 * 3600)	/* --forge-lifetime at most */
#define FORGE_BACKDATE		300		/* notBefore = now - this, for clock skew */
#define FORGE_SESSIONS		4		/* upstream destinations kept per identity */
#define FORGE_SIG_MAX		1024		/* bytes: RSA 8192, ECDSA P-521, EdDSA */
#define FORGE_OIDS_MAX		16		/* further extensions copied */
#define FORGE_POOL_MAX		1024		/* keys in a --forge-key-reuse pool */

/*
 * The origin extension (--forge-origin-ext): non-critical, under this OID
 * unless --forge-origin-oid names another.  1.3.6.1.4.1.32473 is IANA's
 * enterprise number for documentation (RFC 5612): a placeholder until
 * ktproxy has an arc of its own.  Its value is the DER of
 *
 *   OriginalCertificate ::= SEQUENCE {
 *       sha256   OCTET STRING (SIZE (32)),  -- of the client certificate's DER
 *       issuer   Name,                      -- the client certificate's, as encoded
 *       serial   INTEGER                    -- the client certificate's
 *   }
 */
#define FORGE_ORIGIN_OID	"1.3.6.1.4.1.32473.5.1"

/* Which of the client certificate's extensions are copied (FORGE_COPY_*
 * bits of forge_policy.fp_copy; the default is all four, as F5's C3D).
 * basicConstraints, keyUsage, extendedKeyUsage: copied means the client's
 * criticality and, for the usages, the client's values made fit for a
 * client certificate (see forge.c); a client without the extension, and
 * a policy that does not copy it, get ktproxy's own (critical CA:FALSE,
 * critical digitalSignature, clientAuth). */
#define FORGE_COPY_BC		0x1	/* basicConstraints, always CA:FALSE */
#define FORGE_COPY_KU		0x2	/* keyUsage */
#define FORGE_COPY_EKU		0x4	/* extendedKeyUsage */
#define FORGE_COPY_SAN		0x8	/* subjectAltName, as encoded */
#define FORGE_COPY_DEFAULT	(FORGE_COPY_BC | FORGE_COPY_KU | FORGE_COPY_EKU | FORGE_COPY_SAN)

enum forge_key_type {
	FORGE_KEY_P256 = 0,		/* ECDSA P-256 (default) */
	FORGE_KEY_P384,
	FORGE_KEY_RSA2048,
	FORGE_KEY_RSA3072,
	FORGE_KEY_ED25519,
};

/* Whose subject key a forged certificate carries. */
enum forge_key_reuse {
	FORGE_REUSE_WORKER = 0,		/* one key per worker (default) */
	FORGE_REUSE_IDENTITY,		/* a fresh key per identity, kept with its entry */
	FORGE_REUSE_POOL,		/* fp_pool_size keys made at start, handed
					 * out in turn, one per identity entry */
};

enum forge_serial_mode {
	FORGE_SERIAL_RANDOM = 0,	/* 127 random bits (default) */
	FORGE_SERIAL_COPY,		/* the client's (random when RFC 5280 forbids it) */
};

/*
 * The forging policy: filled from the flags by forge_policy.c (config
 * parsing), copied by forge_new(), so a new configuration can build new
 * forges while the old ones serve on.  Owns the OIDs (forge_policy_free).
 */
struct forge_policy {
	unsigned		 fp_copy;		/* FORGE_COPY_* */
	ASN1_OBJECT		*fp_oids[FORGE_OIDS_MAX];	/* further extensions
							 * copied as they are */
	unsigned		 fp_noids;
	unsigned		 fp_lifetime;		/* seconds */
	enum forge_serial_mode	 fp_serial;
	enum forge_key_type	 fp_key_type;
	enum forge_key_reuse	 fp_key_reuse;
	unsigned		 fp_pool_size;		/* FORGE_REUSE_POOL */
	bool			 fp_origin;		/* add the origin extension */
	ASN1_OBJECT		*fp_origin_oid;		/* NULL: FORGE_ORIGIN_OID */
};

/* forge_policy.c: the defaults (today's behaviour), parsing of each flag
 * (each prints "ktproxy: --flag: ..." and returns -1 on a bad value), copy
 * and free. */
void		 forge_policy_init(struct forge_policy *p);
int		 forge_policy_copy(struct forge_policy *dst, const struct forge_policy *src);
void		 forge_policy_free(struct forge_policy *p);
/* Would a and b forge the same certificates?  (A reload that changes the
 * policy starts forging over.) */
bool		 forge_policy_equal(const struct forge_policy *a, const struct forge_policy *b);
int		 forge_policy_set_extensions(struct forge_policy *p, const char *list);
int		 forge_policy_add_oid(struct forge_policy *p, const char *oid);
int		 forge_policy_set_lifetime(struct forge_policy *p, const char *arg);
int		 forge_policy_set_serial(struct forge_policy *p, const char *arg);
int		 forge_policy_set_key_type(struct forge_policy *p, const char *arg);
int		 forge_policy_set_key_reuse(struct forge_policy *p, const char *arg);
int		 forge_policy_set_origin_oid(struct forge_policy *p, const char *arg);
/* A key of this type (NULL on failure). */
EVP_PKEY	*forge_policy_keygen(enum forge_key_type t);
const char	*forge_key_type_name(enum forge_key_type t);

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

/* Purposes no forged client certificate has: a certificate with one could
 * act as a server, sign code or OCSP answers, or stamp time.  Dropped from
 * a copied extendedKeyUsage here, refused by the signer (signerd_check). */
bool		 forge_eku_forbidden(int nid);

/*
 * A forge for the delegation CA ca_cert; `chain` (NULL: none) is sent
 * after every forged certificate: the delegation CA and the CAs above it
 * that the upstream lacks (--delegation-chain).  Both are referenced.
 * pol: the policy (copied; NULL: the defaults).  sign(sign_arg, ...)
 * signs.  cache_max identities are cached.  NULL on failure (an OpenSSL
 * error is queued).
 */
struct forge	*forge_new(X509 *ca_cert, STACK_OF(X509) *chain, const struct forge_policy *pol,
		    forge_sign_fn sign, void *sign_arg, size_t cache_max);
void		 forge_free(struct forge *f);

/* Why the last forge_get() or forge_mint() that failed did. */
enum forge_err	 forge_last_error(const struct forge *f);

/* The chain sent with forged certificates (may be NULL). */
STACK_OF(X509)	*forge_chain(const struct forge *f);

/* A forged certificate with its key, as forge_get() hands it out. */
struct forge_cert {
	X509		*fc_cert;	/* referenced */
	EVP_PKEY	*fc_key;	/* its private key, referenced */
	uint64_t	 fc_gen;	/* the identity's generation it is cached
					 * under; 0: not cached */
	bool		 fc_hit;	/* from the cache: no signature */
};
void		 forge_cert_clear(struct forge_cert *fc);

/*
 * The identity of a verified client certificate (hashing to sha256): its
 * cache entry, found or made, without minting anything.  A cached
 * certificate past 90% of its lifetime (unless it already ends when the
 * client certificate does: a new one could not live longer) goes, and with
 * it the entry: a new generation.  Returns the generation, 0 when nothing
 * is cached (no cache).
 */
uint64_t	 forge_identity(struct forge *f, const uint8_t sha256[32]);

/*
 * The identity's cached forged certificate while it is fresh (as above;
 * a stale one goes): 1 and *fc filled, 0 when there is none (mint one with
 * forge_get), -1 on error.  Needs no client certificate, so a connection
 * keeps only its DER and parses it on a miss.
 */
int		 forge_cached(struct forge *f, const uint8_t sha256[32],
		    struct forge_cert *fc);

/*
 * The forged certificate for `client` (whose DER hashes to sha256): the
 * cached one while it is fresh (forge_cached), else a new one, minted now and
 * cached with the identity (whose entry is made anew if it is gone).  0
 * and *fc filled, or -1 (forge_last_error says why; an expired client
 * certificate gets nothing).
 */
int		 forge_get(struct forge *f, X509 *client, const uint8_t sha256[32],
		    struct forge_cert *fc);

/* Present fc on ssl (a client-role SSL, from its certificate callback):
 * certificate, key, and the chain.  0 or -1. */
int		 forge_use(struct forge *f, SSL *ssl, const struct forge_cert *fc);

/* Mint without the cache (tests, benchmarks); *key (if key is not NULL)
 * gets a reference to the certificate's private key. */
X509		*forge_mint(struct forge *f, X509 *client, EVP_PKEY **key);

/*
 * Upstream sessions of the identity whose certificate hashes to sha256,
 * while `gen` is still its generation; `dest` names the destination
 * (address, port and SNI, hashed by the caller).  get: a copy of the
 * session (SSL_SESSION_free it) or NULL; expired ones go.  put: keeps sess
 * (takes the caller's reference; pass a copy, never a session an SSL uses)
 * and returns true, or false when `gen` is no longer current (the
 * reference stays the caller's).
 */
SSL_SESSION	*forge_session_get(struct forge *f, const uint8_t sha256[32], uint64_t gen,
		    const uint8_t dest[32]);
bool		 forge_session_put(struct forge *f, const uint8_t sha256[32], uint64_t gen,
		    const uint8_t dest[32], SSL_SESSION *sess);

/* Is `gen` still the current generation of the client certificate hashing
 * to sha256?  (Nothing established under an older one is kept.) */
bool		 forge_is_current(struct forge *f, const uint8_t sha256[32], uint64_t gen);

/*
 * A verified client chain, remembered with its certificate's entry: put
 * after a successful verification (chain: a hash of the certificates the
 * client presented; until: when the verdict lapses), get before the next:
 * true while it holds for this very chain.  Nothing is remembered for a
 * certificate that has no entry.
 */
void		 forge_verified_put(struct forge *f, const uint8_t sha256[32],
		    const uint8_t chain[32], time_t until);
bool		 forge_verified_get(struct forge *f, const uint8_t sha256[32],
		    const uint8_t chain[32]);

/* Forget every remembered verdict: the trust they were reached with was
 * reloaded (SIGHUP). */
void		 forge_verified_flush(struct forge *f);

/* Drop the certificate, sessions and verdict kept for the client
 * certificate hashing to sha256: it was found revoked, and nothing minted
 * or resumed for it may be used again. */
void		 forge_forget(struct forge *f, const uint8_t sha256[32]);

/* The clock validity and cache freshness are computed from; time(NULL)
 * unless a test sets another (NULL restores it). */
void		 forge_set_clock(struct forge *f, time_t (*now)(void));

#endif
