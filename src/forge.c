/*
 * forge.c - client certificates minted by the delegation CA (C3D).
 *
 * The upstream is to see the client's identity, not ours, so the forged
 * certificate repeats what identifies the client byte for byte (subject DN,
 * and subjectAltName and other extensions the policy copies, as encoded)
 * and replaces everything that is the client CA's business: issuer, key,
 * key identifiers, validity, and (unless the policy copies it) the serial.
 *
 * Signing costs far more than relaying a small request, and a client
 * reconnects with the same certificate, so each worker keeps its identities
 * in a small cache: a hash table on the client certificate's SHA-256 plus
 * a list in use order to drop the least recently used.  An entry is made
 * when the client is verified and gets its certificate when an upstream
 * first asks for one (lazy minting, see conn.c).
 *
 * Signing is the one step done elsewhere: the TBSCertificate goes to a
 * callback (the signer process in the daemon) and the signature it returns
 * is attached here.  The CA key never enters this file's process.
 */
#include <sys/queue.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "forge.h"

#define FORGE_SERIAL_BYTES	16	/* 128 bits, top bit cleared */
#define FORGE_SERIAL_MAX_BITS	159	/* RFC 5280 4.1.2.2: at most 20 octets */
#define FORGE_BUCKETS_MAX	(1U << 20)	/* beyond that, longer chains */

/* An upstream TLS session the forged certificate authenticated, for one
 * destination (forge_session_put). */
struct forge_session {
	uint8_t			 fs_dest[32];
	SSL_SESSION		*fs_sess;	/* NULL: slot free */
};

/*
 * Entry generations, unique across every forge of the process: a reload
 * replaces a worker's forge, and a session or kept upstream connection
 * tagged in the old one must never match an entry of the new one.
 */
static _Atomic uint64_t forge_next_gen = 1;

/* One identity: a verified client certificate, and what was made for it. */
struct forge_entry {
	uint8_t			 fe_sha256[32];	/* of the client certificate */
	uint64_t		 fe_gen;	/* unique in the process (forge_next_gen) */
	X509			*fe_cert;	/* NULL: no upstream asked yet */
	EVP_PKEY		*fe_key;	/* fe_cert's */
	struct forge_session	 fe_sess[FORGE_SESSIONS];
	uint8_t			 fe_chain[32];	/* the chain verified, hashed */
	time_t			 fe_verified_until;	/* 0: not remembered */
	unsigned		 fe_sess_next;	/* slot the next new destination takes */
	time_t			 fe_not_before;	/* of fe_cert */
	time_t			 fe_not_after;
	time_t			 fe_client_not_after;
	struct forge_entry	*fe_hnext;	/* hash chain */
	TAILQ_ENTRY(forge_entry) fe_lru;	/* most recently used first */
};
TAILQ_HEAD(forge_lru, forge_entry);

struct forge {
	X509			*f_ca;
	STACK_OF(X509)		*f_chain;	/* sent with every forged cert */
	struct forge_policy	 f_pol;		/* our own copy */
	forge_sign_fn		 f_sign;	/* holds the CA key, elsewhere */
	void			*f_sign_arg;
	int			 f_sig_nid;	/* the CA key's signature algorithm */
	enum forge_err		 f_err;		/* why the last mint failed */
	ASN1_OCTET_STRING	*f_ca_keyid;	/* the CA's SKI, our AKI */
	EVP_PKEY		*f_key;		/* FORGE_REUSE_WORKER: every cert's */
	EVP_PKEY		**f_pool;	/* FORGE_REUSE_POOL */
	unsigned		 f_pool_next;
	time_t			(*f_now)(void);

	size_t			 f_max;
	size_t			 f_count;
	struct forge_entry	**f_buckets;
	size_t			 f_mask;	/* buckets - 1 (a power of 2) */
	struct forge_lru	 f_lru;
};

static time_t	 forge_now(const struct forge *);
static int	 forge_time(const ASN1_TIME *, time_t *);
static ASN1_OCTET_STRING *forge_keyid(X509_PUBKEY *);
static int	 forge_serial(X509 *);
static int	 forge_serial_copy(X509 *, X509 *);
static uint32_t	 forge_key_usages(const EVP_PKEY *);
static int	 forge_add_bc(struct forge *, X509 *, X509 *);
static int	 forge_add_ku(struct forge *, X509 *, X509 *, const EVP_PKEY *);
static int	 forge_add_eku(struct forge *, X509 *, X509 *);
static X509_EXTENSION *forge_client_san(X509 *);
static int	 forge_add_copies(struct forge *, X509 *, X509 *);
static ASN1_OCTET_STRING *forge_origin_value(X509 *);
static int	 forge_add_origin(struct forge *, X509 *, X509 *);
static int	 forge_extensions(struct forge *, X509 *, X509 *, EVP_PKEY *);
static X509	*forge_sign(struct forge *, X509 *);
static X509	*forge_mint_with(struct forge *, X509 *, EVP_PKEY *);
static EVP_PKEY	*forge_next_key(struct forge *);
static struct forge_entry **forge_slot(struct forge *, const uint8_t [32]);
static void	 forge_drop(struct forge *, struct forge_entry *);
static void	 forge_entry_free(struct forge_entry *);
static struct forge_entry *forge_find(struct forge *, const uint8_t [32]);
static struct forge_entry *forge_entry_new(struct forge *, const uint8_t [32]);
static void	 forge_touch(struct forge *, struct forge_entry *);
static bool	 forge_fresh(const struct forge_entry *, time_t);

static time_t
forge_now(const struct forge *f)
{
	return f->f_now != NULL ? f->f_now() : time(NULL);
}

static int
forge_time(const ASN1_TIME *t, time_t *out)
{
	struct tm	 tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = timegm(&tm);
	return 0;
}

/*
 * A key identifier by RFC 5280 4.2.1.2 method (1), SHA-1 of the
 * subjectPublicKey bits, as OpenSSL's "hash" computes it: a CA without an
 * SKI extension still gets an AKI that matches what verifiers compute.
 */
static ASN1_OCTET_STRING *
forge_keyid(X509_PUBKEY *xpk)
{
	ASN1_OCTET_STRING	*id = NULL;
	const unsigned char	*pk;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen;
	int			 pklen;

	if (xpk == NULL ||
	    X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, xpk) != 1)
		return NULL;
	if (EVP_Digest(pk, pklen, md, &mdlen, EVP_sha1(), NULL) != 1)
		return NULL;
	if ((id = ASN1_OCTET_STRING_new()) == NULL)
		return NULL;
	if (ASN1_OCTET_STRING_set(id, md, mdlen) != 1) {
		ASN1_OCTET_STRING_free(id);
		return NULL;
	}
	return id;
}

int
forge_sig_nid(const EVP_PKEY *key, const EVP_MD **md)
{
	const EVP_MD	*d = EVP_sha256();
	int		 nid = NID_undef;

	if (key == NULL)
		return NID_undef;
	/* SHA-256 with every curve and modulus, as X509_sign() did here
	 * before the signer existed: what the upstreams already accept. */
	if (EVP_PKEY_is_a(key, "EC"))
		nid = NID_ecdsa_with_SHA256;
	else if (EVP_PKEY_is_a(key, "RSA"))
		nid = NID_sha256WithRSAEncryption;
	else if (EVP_PKEY_is_a(key, "ED25519"))
		nid = NID_ED25519, d = NULL;	/* EdDSA hashes the message itself */
	else if (EVP_PKEY_is_a(key, "ED448"))
		nid = NID_ED448, d = NULL;
	if (md != NULL)
		*md = d;
	return nid;
}

int
forge_algor_set(X509_ALGOR *alg, int nid)
{
	ASN1_OBJECT	*obj;

	/* RFC 4055 2.1: PKCS#1 v1.5 algorithms carry an explicit NULL;
	 * RFC 5758 3.2 and RFC 8410 3: ECDSA and EdDSA carry nothing. */
	if (alg == NULL || (obj = OBJ_nid2obj(nid)) == NULL)
		return -1;
	if (X509_ALGOR_set0(alg, obj, nid == NID_sha256WithRSAEncryption ?
	    V_ASN1_NULL : V_ASN1_UNDEF, NULL) != 1)
		return -1;
	return 0;
}

enum forge_err
forge_sign_local(void *key, const uint8_t *tbs, size_t len, uint8_t *sig, size_t *siglen)
{
	EVP_MD_CTX	*ctx;
	const EVP_MD	*md;
	size_t		 need;
	enum forge_err	 rc = FORGE_ERR_MINT;

	if (forge_sig_nid(key, &md) == NID_undef || (ctx = EVP_MD_CTX_new()) == NULL)
		return FORGE_ERR_MINT;
	if (EVP_DigestSignInit(ctx, NULL, md, NULL, key) == 1 &&
	    EVP_DigestSign(ctx, NULL, &need, tbs, len) == 1 && need <= *siglen &&
	    EVP_DigestSign(ctx, sig, siglen, tbs, len) == 1)
		rc = FORGE_OK;
	EVP_MD_CTX_free(ctx);
	return rc;
}

struct forge *
forge_new(X509 *ca_cert, STACK_OF(X509) *chain, const struct forge_policy *pol,
    forge_sign_fn sign, void *sign_arg, size_t cache_max)
{
	struct forge		*f;
	const ASN1_OCTET_STRING	*skid;
	size_t			 n;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	TAILQ_INIT(&f->f_lru);
	if (pol == NULL)
		forge_policy_init(&f->f_pol);
	else if (forge_policy_copy(&f->f_pol, pol) == -1) {
		free(f);
		return NULL;
	}
	if (f->f_pol.fp_lifetime == 0)
		f->f_pol.fp_lifetime = FORGE_LIFETIME_DEFAULT;
	if (f->f_pol.fp_origin && f->f_pol.fp_origin_oid == NULL &&
	    (f->f_pol.fp_origin_oid = OBJ_txt2obj(FORGE_ORIGIN_OID, 1)) == NULL)
		goto fail;

	/* Whether the key behind `sign` belongs to this CA is the signer's
	 * check (it has the key); here only its type is known. */
	if ((f->f_sig_nid = forge_sig_nid(X509_get0_pubkey(ca_cert), NULL)) == NID_undef) {
		ERR_raise_data(ERR_LIB_X509, X509_R_UNSUPPORTED_ALGORITHM,
		    "delegation CA key type (EC, RSA, Ed25519, Ed448)");
		goto fail;
	}
	if (X509_up_ref(ca_cert) != 1)
		goto fail;
	f->f_ca = ca_cert;
	if (chain != NULL && sk_X509_num(chain) > 0 &&
	    (f->f_chain = X509_chain_up_ref(chain)) == NULL)
		goto fail;
	f->f_sign = sign;
	f->f_sign_arg = sign_arg;

	if ((skid = X509_get0_subject_key_id(ca_cert)) != NULL)
		f->f_ca_keyid = ASN1_OCTET_STRING_dup(skid);
	else
		f->f_ca_keyid = forge_keyid(X509_get_X509_PUBKEY(ca_cert));
	if (f->f_ca_keyid == NULL)
		goto fail;

	/* The subject keys made up front: the worker's one, or the pool. */
	switch (f->f_pol.fp_key_reuse) {
	case FORGE_REUSE_WORKER:
		if ((f->f_key = forge_policy_keygen(f->f_pol.fp_key_type)) == NULL)
			goto fail;
		break;
	case FORGE_REUSE_POOL:
		if (f->f_pol.fp_pool_size == 0 ||
		    (f->f_pool = calloc(f->f_pol.fp_pool_size, sizeof(*f->f_pool))) == NULL)
			goto fail;
		for (unsigned i = 0; i < f->f_pol.fp_pool_size; i++)
			if ((f->f_pool[i] = forge_policy_keygen(f->f_pol.fp_key_type)) == NULL)
				goto fail;
		break;
	case FORGE_REUSE_IDENTITY:
		break;
	}

	f->f_max = cache_max;
	for (n = 1; n < cache_max && n < FORGE_BUCKETS_MAX; n <<= 1)
		;
	if ((f->f_buckets = calloc(n, sizeof(*f->f_buckets))) == NULL)
		goto fail;
	f->f_mask = n - 1;
	return f;
 fail:
	forge_free(f);
	return NULL;
}

void
forge_free(struct forge *f)
{
	struct forge_entry	*fe;

	if (f == NULL)
		return;
	while ((fe = TAILQ_FIRST(&f->f_lru)) != NULL) {
		TAILQ_REMOVE(&f->f_lru, fe, fe_lru);
		forge_entry_free(fe);
	}
	free(f->f_buckets);
	if (f->f_pool != NULL)
		for (unsigned i = 0; i < f->f_pol.fp_pool_size; i++)
			EVP_PKEY_free(f->f_pool[i]);
	free(f->f_pool);
	EVP_PKEY_free(f->f_key);
	ASN1_OCTET_STRING_free(f->f_ca_keyid);
	sk_X509_pop_free(f->f_chain, X509_free);
	X509_free(f->f_ca);
	forge_policy_free(&f->f_pol);
	free(f);
}

STACK_OF(X509) *
forge_chain(const struct forge *f)
{
	return f->f_chain;
}

enum forge_err
forge_last_error(const struct forge *f)
{
	return f->f_err;
}

void
forge_set_clock(struct forge *f, time_t (*now)(void))
{
	f->f_now = now;
}

void
forge_cert_clear(struct forge_cert *fc)
{
	X509_free(fc->fc_cert);
	EVP_PKEY_free(fc->fc_key);
	memset(fc, 0, sizeof(*fc));
}

/* Random, positive, non-zero: RFC 5280 4.1.2.2, CA/B BR 7.1 (64+ bits). */
static int
forge_serial(X509 *x)
{
	unsigned char	 buf[FORGE_SERIAL_BYTES];
	BIGNUM		*bn = NULL;
	int		 rc = -1;

	do {
		if (RAND_bytes(buf, sizeof(buf)) != 1)
			goto fail;
		buf[0] &= 0x7f;
		BN_free(bn);
		if ((bn = BN_bin2bn(buf, sizeof(buf), NULL)) == NULL)
			goto fail;
	} while (BN_is_zero(bn));
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto fail;
	rc = 0;
 fail:
	BN_free(bn);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/*
 * --forge-serial copy: the client's serial, so that logs on both sides
 * name the same number.  It is unique only per client CA, and a re-minted
 * certificate repeats it; the delegation CA publishes no CRL, so nothing
 * relies on its serials being unique.  A serial RFC 5280 forbids (zero,
 * negative, over 20 octets; some CAs issue them) is not repeated: a
 * random one instead.
 */
static int
forge_serial_copy(X509 *x, X509 *client)
{
	const ASN1_INTEGER	*s = X509_get0_serialNumber(client);
	BIGNUM			*bn = ASN1_INTEGER_to_BN(s, NULL);
	bool			 ok;

	ok = bn != NULL && !BN_is_negative(bn) && !BN_is_zero(bn) &&
	    BN_num_bits(bn) <= FORGE_SERIAL_MAX_BITS;
	BN_free(bn);
	if (!ok)
		return forge_serial(x);
	return X509_set_serialNumber(x, (ASN1_INTEGER *)s) == 1 ? 0 : -1;
}

/* The keyUsage bits a subject key of this type can stand for: signing
 * for all; key transport for RSA; key agreement for EC. */
static uint32_t
forge_key_usages(const EVP_PKEY *key)
{
	uint32_t	 ku = KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION;

	if (EVP_PKEY_is_a(key, "RSA"))
		ku |= KU_KEY_ENCIPHERMENT | KU_DATA_ENCIPHERMENT;
	else if (EVP_PKEY_is_a(key, "EC"))
		ku |= KU_KEY_AGREEMENT | KU_ENCIPHER_ONLY | KU_DECIPHER_ONLY;
	return ku;
}

/* basicConstraints CA:FALSE, no pathLen, whatever the client's says;
 * copied, only its criticality is the client's. */
static int
forge_add_bc(struct forge *f, X509 *x, X509 *client)
{
	BASIC_CONSTRAINTS	*bc;
	int			 i, crit = 1, rc = -1;

	if ((f->f_pol.fp_copy & FORGE_COPY_BC) &&
	    (i = X509_get_ext_by_NID(client, NID_basic_constraints, -1)) >= 0)
		crit = X509_EXTENSION_get_critical(X509_get_ext(client, i));
	if ((bc = BASIC_CONSTRAINTS_new()) == NULL)
		return -1;
	bc->ca = 0;
	if (X509_add1_ext_i2d(x, NID_basic_constraints, bc, crit, X509V3_ADD_DEFAULT) == 1)
		rc = 0;
	BASIC_CONSTRAINTS_free(bc);
	return rc;
}

/*
 * keyUsage: ours is digitalSignature, critical.  Copied: the client's
 * usages that our subject key can stand for (forge_key_usages: a P-256
 * key cannot encipher keys like the client's RSA key did), never
 * keyCertSign or cRLSign, always digitalSignature (TLS client
 * authentication signs with it), with the client's criticality.
 */
static int
forge_add_ku(struct forge *f, X509 *x, X509 *client, const EVP_PKEY *key)
{
	static const uint32_t	 bits[] = { KU_DIGITAL_SIGNATURE, KU_NON_REPUDIATION,
	    KU_KEY_ENCIPHERMENT, KU_DATA_ENCIPHERMENT, KU_KEY_AGREEMENT, KU_KEY_CERT_SIGN,
	    KU_CRL_SIGN, KU_ENCIPHER_ONLY, KU_DECIPHER_ONLY };	/* bit 0, 1, ... */
	ASN1_BIT_STRING		*ku;
	uint32_t		 want = KU_DIGITAL_SIGNATURE;
	int			 i, crit = 1, rc = -1;

	if ((f->f_pol.fp_copy & FORGE_COPY_KU) &&
	    (X509_get_extension_flags(client) & EXFLAG_KUSAGE) &&
	    (i = X509_get_ext_by_NID(client, NID_key_usage, -1)) >= 0) {
		crit = X509_EXTENSION_get_critical(X509_get_ext(client, i));
		want |= X509_get_key_usage(client) & forge_key_usages(key);
		want &= ~(KU_KEY_CERT_SIGN | KU_CRL_SIGN);
		if (!(want & KU_KEY_AGREEMENT))
			want &= ~(KU_ENCIPHER_ONLY | KU_DECIPHER_ONLY);
	}
	if ((ku = ASN1_BIT_STRING_new()) == NULL)
		return -1;
	for (i = 0; i < (int)(sizeof(bits) / sizeof(bits[0])); i++)
		if ((want & bits[i]) && ASN1_BIT_STRING_set_bit(ku, i, 1) != 1)
			goto fail;
	if (X509_add1_ext_i2d(x, NID_key_usage, ku, crit, X509V3_ADD_DEFAULT) == 1)
		rc = 0;
 fail:
	ASN1_BIT_STRING_free(ku);
	return rc;
}

bool
forge_eku_forbidden(int nid)
{
	return nid == NID_server_auth || nid == NID_code_sign || nid == NID_OCSP_sign ||
	    nid == NID_time_stamp || nid == NID_anyExtendedKeyUsage;
}

/*
 * extendedKeyUsage: ours is clientAuth, non-critical.  Copied: the
 * client's purposes in its order, less serverAuth, codeSigning,
 * OCSPSigning, timeStamping and anyExtendedKeyUsage, with clientAuth put
 * first if the client's had none (the forged certificate must work for
 * TLS client authentication), with the client's criticality.
 */
static int
forge_add_eku(struct forge *f, X509 *x, X509 *client)
{
	EXTENDED_KEY_USAGE	*ceku = NULL, *eku = NULL;
	ASN1_OBJECT		*obj;
	bool			 client_auth = false;
	int			 i, crit = 0, rc = -1;

	if ((eku = sk_ASN1_OBJECT_new_null()) == NULL)
		return -1;
	if ((f->f_pol.fp_copy & FORGE_COPY_EKU) &&
	    (i = X509_get_ext_by_NID(client, NID_ext_key_usage, -1)) >= 0 &&
	    (ceku = X509V3_EXT_d2i(X509_get_ext(client, i))) != NULL) {
		crit = X509_EXTENSION_get_critical(X509_get_ext(client, i));
		for (i = 0; i < sk_ASN1_OBJECT_num(ceku); i++) {
			int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(ceku, i));

			if (forge_eku_forbidden(nid))
				continue;
			client_auth |= nid == NID_client_auth;
			if ((obj = OBJ_dup(sk_ASN1_OBJECT_value(ceku, i))) == NULL ||
			    sk_ASN1_OBJECT_push(eku, obj) <= 0) {
				ASN1_OBJECT_free(obj);
				goto fail;
			}
		}
	}
	if (!client_auth && ((obj = OBJ_nid2obj(NID_client_auth)) == NULL ||
	    sk_ASN1_OBJECT_insert(eku, obj, 0) <= 0))
		goto fail;
	if (X509_add1_ext_i2d(x, NID_ext_key_usage, eku, crit, X509V3_ADD_DEFAULT) == 1)
		rc = 0;
 fail:
	sk_ASN1_OBJECT_pop_free(ceku, ASN1_OBJECT_free);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return rc;
}

/*
 * The client's subjectAltName, to be copied: NULL when it has none, or one
 * that names nobody (an empty SEQUENCE, which RFC 5280 4.2.1.6 forbids and
 * X509_V_FLAG_X509_STRICT verifiers refuse: leaving it out loses nothing).
 * One OpenSSL cannot parse goes over as it is (the client's verification
 * has refused its certificate already).
 */
static X509_EXTENSION *
forge_client_san(X509 *client)
{
	X509_EXTENSION	*ext;
	GENERAL_NAMES	*gens;
	int		 i, n;

	if ((i = X509_get_ext_by_NID(client, NID_subject_alt_name, -1)) < 0 ||
	    (ext = X509_get_ext(client, i)) == NULL)
		return NULL;
	if ((gens = X509V3_EXT_d2i(ext)) == NULL)
		return ext;
	n = sk_GENERAL_NAME_num(gens);
	GENERAL_NAMES_free(gens);
	return n > 0 ? ext : NULL;
}

/*
 * The extensions copied as they are (same DER, same criticality):
 * subjectAltName when the policy says so - or when the subject is empty,
 * since then the SAN is the identity (RFC 5280 4.1.2.6) - and the
 * policy's further OIDs that the client certificate has.
 */
static int
forge_add_copies(struct forge *f, X509 *x, X509 *client)
{
	X509_EXTENSION	*san;
	bool		 no_subject = X509_NAME_entry_count(X509_get_subject_name(client)) == 0;
	int		 i;

	if (((f->f_pol.fp_copy & FORGE_COPY_SAN) || no_subject) &&
	    (san = forge_client_san(client)) != NULL) {
		if (X509_add_ext(x, san, -1) != 1)	/* adds a copy */
			return -1;
		/* With an empty subject the SAN is the identity and must be
		 * critical (RFC 5280 4.2.1.6; strict verifiers insist): a
		 * client CA that left it non-critical gets it marked here,
		 * its names unchanged. */
		if (no_subject && X509_EXTENSION_set_critical(X509_get_ext(x,
		    X509_get_ext_count(x) - 1), 1) != 1)
			return -1;
	}
	for (unsigned k = 0; k < f->f_pol.fp_noids; k++)
		if ((i = X509_get_ext_by_OBJ(client, f->f_pol.fp_oids[k], -1)) >= 0 &&
		    X509_add_ext(x, X509_get_ext(client, i), -1) != 1)
			return -1;
	return 0;
}

/* DER length octets for len at p; how many. */
static size_t
forge_der_len(unsigned char *p, size_t len)
{
	size_t	 n = 0;

	if (len < 0x80) {
		p[0] = (unsigned char)len;
		return 1;
	}
	for (size_t l = len; l > 0; l >>= 8)
		n++;
	p[0] = 0x80 | (unsigned char)n;
	for (size_t i = 0; i < n; i++)
		p[n - i] = (unsigned char)(len >> (8 * i));
	return n + 1;
}

/* The origin extension's value (forge.h): SEQUENCE { OCTET STRING
 * sha256, Name issuer, INTEGER serial } of the client certificate. */
static ASN1_OCTET_STRING *
forge_origin_value(X509 *client)
{
	ASN1_OCTET_STRING	*os = NULL;
	unsigned char		 md[EVP_MAX_MD_SIZE], *name = NULL, *serial = NULL;
	unsigned char		*der = NULL, *p;
	unsigned int		 mdlen;
	int			 nlen, slen;
	size_t			 body;

	if (X509_digest(client, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32 ||
	    (nlen = i2d_X509_NAME(X509_get_issuer_name(client), &name)) <= 0 ||
	    (slen = i2d_ASN1_INTEGER(X509_get0_serialNumber(client), &serial)) <= 0)
		goto out;
	body = 2 + 32 + (size_t)nlen + (size_t)slen;
	if ((der = malloc(body + 1 + 1 + sizeof(size_t))) == NULL)
		goto out;
	p = der;
	*p++ = 0x30;				/* SEQUENCE */
	p += forge_der_len(p, body);
	*p++ = 0x04;				/* OCTET STRING, 32 bytes */
	*p++ = 32;
	memcpy(p, md, 32);
	p += 32;
	memcpy(p, name, nlen);
	p += nlen;
	memcpy(p, serial, slen);
	p += slen;
	if ((os = ASN1_OCTET_STRING_new()) != NULL &&
	    ASN1_OCTET_STRING_set(os, der, (int)(p - der)) != 1) {
		ASN1_OCTET_STRING_free(os);
		os = NULL;
	}
 out:
	free(der);
	OPENSSL_free(serial);
	OPENSSL_free(name);
	return os;
}

/* --forge-origin-ext: non-critical, so a verifier that does not know the
 * OID accepts the certificate all the same. */
static int
forge_add_origin(struct forge *f, X509 *x, X509 *client)
{
	ASN1_OCTET_STRING	*val;
	X509_EXTENSION		*ext = NULL;
	int			 rc = -1;

	if ((val = forge_origin_value(client)) == NULL)
		return -1;
	if ((ext = X509_EXTENSION_create_by_OBJ(NULL, f->f_pol.fp_origin_oid, 0, val)) != NULL &&
	    X509_add_ext(x, ext, -1) == 1)
		rc = 0;
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(val);
	return rc;
}

/*
 * What makes it a client certificate of our CA: end entity, signatures,
 * TLS client auth, key identifiers for path building (and for
 * X509_V_FLAG_X509_STRICT verifiers, which insist on the AKI), then what
 * the policy copies from the client, then the origin extension.  The
 * client's own SKI, AKI, AIA and CRL distribution points are never
 * copied: they describe the client's CA (forge_policy.c refuses them).
 */
static int
forge_extensions(struct forge *f, X509 *x, X509 *client, EVP_PKEY *key)
{
	AUTHORITY_KEYID		*akid = NULL;
	ASN1_OCTET_STRING	*keyid = NULL;
	int			 rc = -1;

	if (forge_add_bc(f, x, client) == -1 || forge_add_ku(f, x, client, key) == -1 ||
	    forge_add_eku(f, x, client) == -1)
		goto fail;

	if ((keyid = forge_keyid(X509_get_X509_PUBKEY(x))) == NULL ||
	    X509_add1_ext_i2d(x, NID_subject_key_identifier, keyid, 0,
	    X509V3_ADD_DEFAULT) != 1)
		goto fail;
	if ((akid = AUTHORITY_KEYID_new()) == NULL ||
	    (akid->keyid = ASN1_OCTET_STRING_dup(f->f_ca_keyid)) == NULL)
		goto fail;
	if (X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0,
	    X509V3_ADD_DEFAULT) != 1)
		goto fail;

	if (forge_add_copies(f, x, client) == -1)
		goto fail;
	if (f->f_pol.fp_origin && forge_add_origin(f, x, client) == -1)
		goto fail;
	rc = 0;
 fail:
	AUTHORITY_KEYID_free(akid);
	ASN1_OCTET_STRING_free(keyid);
	return rc;
}

/*
 * Have x signed and return the signed certificate (x is freed either way).
 * The TBSCertificate names the algorithm before it goes out, since the
 * signature covers that field too; the signature comes back as bytes and
 * goes into the outer signatureAlgorithm and signatureValue.  The result is
 * parsed again from its DER, so nothing OpenSSL cached about x while it was
 * unsigned (hash, extension flags) describes the certificate presented.
 */
static X509 *
forge_sign(struct forge *f, X509 *x)
{
	const ASN1_BIT_STRING	*cbits;
	const X509_ALGOR	*calg;
	ASN1_BIT_STRING		*bits;
	uint8_t			 sig[FORGE_SIG_MAX];
	unsigned char		*tbs = NULL, *der = NULL;
	const unsigned char	*p;
	size_t			 siglen = sizeof(sig);
	X509			*signed_x = NULL;
	int			 len;

	/* X509_sign() writes these through the same pointers. */
	if (forge_algor_set((X509_ALGOR *)X509_get0_tbs_sigalg(x), f->f_sig_nid) == -1)
		goto fail;
	if ((len = i2d_re_X509_tbs(x, &tbs)) <= 0)
		goto fail;
	if ((f->f_err = f->f_sign(f->f_sign_arg, tbs, len, sig, &siglen)) != FORGE_OK)
		goto fail;
	X509_get0_signature(&cbits, &calg, x);
	bits = (ASN1_BIT_STRING *)cbits;
	if (forge_algor_set((X509_ALGOR *)calg, f->f_sig_nid) == -1 ||
	    ASN1_BIT_STRING_set(bits, sig, (int)siglen) != 1)
		goto fail;
	/* A signature is whole bytes: no unused bits (as ASN1_item_sign). */
	bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	if ((len = i2d_X509(x, &der)) <= 0)
		goto fail;
	p = der;
	signed_x = d2i_X509(NULL, &p, len);
 fail:
	if (signed_x == NULL && f->f_err == FORGE_OK)
		f->f_err = FORGE_ERR_MINT;
	OPENSSL_free(der);
	OPENSSL_free(tbs);
	X509_free(x);
	return signed_x;
}

/* A certificate for `client` with subject key `key` (the caller's). */
static X509 *
forge_mint_with(struct forge *f, X509 *client, EVP_PKEY *key)
{
	X509	*x = NULL;
	time_t	 now, client_nb, client_na, nb, na;

	f->f_err = FORGE_ERR_MINT;
	now = forge_now(f);
	if (forge_time(X509_get0_notBefore(client), &client_nb) == -1 ||
	    forge_time(X509_get0_notAfter(client), &client_na) == -1)
		goto fail;
	/* Never outlive the client's own certificate: the upstream must not
	 * accept this identity a second longer than the client CA does. */
	if (client_na <= now)
		goto fail;
	nb = now - FORGE_BACKDATE;
	if (nb < client_nb)
		nb = client_nb;
	na = now + (time_t)f->f_pol.fp_lifetime;
	if (na > client_na)
		na = client_na;
	if (na <= nb)
		goto fail;
	/* An empty subject and no names: a certificate for nobody, which no
	 * strict verifier takes (RFC 5280 4.1.2.6); nothing to delegate. */
	if (X509_NAME_entry_count(X509_get_subject_name(client)) == 0 &&
	    forge_client_san(client) == NULL)
		goto fail;

	if ((x = X509_new()) == NULL)
		goto fail;
	if (X509_set_version(x, X509_VERSION_3) != 1)
		goto fail;
	if ((f->f_pol.fp_serial == FORGE_SERIAL_COPY ? forge_serial_copy(x, client) :
	    forge_serial(x)) == -1)
		goto fail;
	/* X509_set_subject_name() stores an X509_NAME_dup(), which carries
	 * the original encoding: RDN order, multi-valued RDNs, string
	 * types all stay as the client CA wrote them. */
	if (X509_set_subject_name(x, X509_get_subject_name(client)) != 1)
		goto fail;
	if (X509_set_issuer_name(x, X509_get_subject_name(f->f_ca)) != 1)
		goto fail;
	if (ASN1_TIME_set(X509_getm_notBefore(x), nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), na) == NULL)
		goto fail;
	if (X509_set_pubkey(x, key) != 1)
		goto fail;
	if (forge_extensions(f, x, client, key) == -1)
		goto fail;
	f->f_err = FORGE_OK;
	return forge_sign(f, x);
 fail:
	X509_free(x);
	return NULL;
}

/* The subject key of the next certificate minted (a reference): the
 * worker's, the pool's next, or a new one (--forge-key-reuse). */
static EVP_PKEY *
forge_next_key(struct forge *f)
{
	EVP_PKEY	*k;

	switch (f->f_pol.fp_key_reuse) {
	case FORGE_REUSE_IDENTITY:
		return forge_policy_keygen(f->f_pol.fp_key_type);
	case FORGE_REUSE_POOL:
		k = f->f_pool[f->f_pool_next];
		f->f_pool_next = (f->f_pool_next + 1) % f->f_pol.fp_pool_size;
		break;
	default:
		k = f->f_key;
		break;
	}
	return EVP_PKEY_up_ref(k) == 1 ? k : NULL;
}

X509 *
forge_mint(struct forge *f, X509 *client, EVP_PKEY **keyp)
{
	EVP_PKEY	*key;
	X509		*x;

	if ((key = forge_next_key(f)) == NULL) {
		f->f_err = FORGE_ERR_MINT;
		return NULL;
	}
	if ((x = forge_mint_with(f, client, key)) != NULL && keyp != NULL)
		*keyp = key;
	else
		EVP_PKEY_free(key);
	return x;
}

int
forge_use(struct forge *f, SSL *ssl, const struct forge_cert *fc)
{
	if (SSL_use_certificate(ssl, fc->fc_cert) != 1 ||
	    SSL_use_PrivateKey(ssl, fc->fc_key) != 1)
		return -1;
	/* The intermediates between the delegation CA and what the
	 * upstream trusts: the upstream cannot build the path without. */
	if (f->f_chain != NULL && SSL_set1_chain(ssl, f->f_chain) != 1)
		return -1;
	return 0;
}

static struct forge_entry **
forge_slot(struct forge *f, const uint8_t sha256[32])
{
	uint64_t	 h;

	/* SHA-256 output is as good a hash as any */
	memcpy(&h, sha256, sizeof(h));
	return &f->f_buckets[h & f->f_mask];
}

static struct forge_entry *
forge_find(struct forge *f, const uint8_t sha256[32])
{
	struct forge_entry	*fe;

	for (fe = *forge_slot(f, sha256); fe != NULL; fe = fe->fe_hnext)
		if (memcmp(fe->fe_sha256, sha256, sizeof(fe->fe_sha256)) == 0)
			break;
	return fe;
}

/* Unlink from the table and the list and free. */
static void
forge_drop(struct forge *f, struct forge_entry *fe)
{
	struct forge_entry	**pp;

	for (pp = forge_slot(f, fe->fe_sha256); *pp != NULL;
	    pp = &(*pp)->fe_hnext) {
		if (*pp == fe) {
			*pp = fe->fe_hnext;
			break;
		}
	}
	TAILQ_REMOVE(&f->f_lru, fe, fe_lru);
	f->f_count--;
	forge_entry_free(fe);
}

static void
forge_entry_free(struct forge_entry *fe)
{
	for (size_t i = 0; i < FORGE_SESSIONS; i++)
		SSL_SESSION_free(fe->fe_sess[i].fs_sess);
	X509_free(fe->fe_cert);
	EVP_PKEY_free(fe->fe_key);
	free(fe);
}

/* A new entry for sha256 (which has none), making room; NULL when nothing
 * is cached. */
static struct forge_entry *
forge_entry_new(struct forge *f, const uint8_t sha256[32])
{
	struct forge_entry	*fe, **slot;

	if (f->f_max == 0)
		return NULL;
	if (f->f_count >= f->f_max)
		forge_drop(f, TAILQ_LAST(&f->f_lru, forge_lru));
	if ((fe = calloc(1, sizeof(*fe))) == NULL)
		return NULL;
	memcpy(fe->fe_sha256, sha256, sizeof(fe->fe_sha256));
	fe->fe_gen = atomic_fetch_add_explicit(&forge_next_gen, 1, memory_order_relaxed);
	slot = forge_slot(f, sha256);
	fe->fe_hnext = *slot;
	*slot = fe;
	TAILQ_INSERT_HEAD(&f->f_lru, fe, fe_lru);
	f->f_count++;
	return fe;
}

static void
forge_touch(struct forge *f, struct forge_entry *fe)
{
	TAILQ_REMOVE(&f->f_lru, fe, fe_lru);
	TAILQ_INSERT_HEAD(&f->f_lru, fe, fe_lru);
}

/*
 * Good for another connection: not expired, and not past 90% of its
 * lifetime - unless it already ends with the client certificate, when a
 * new one could not live longer and minting again would only cost a
 * signature per connection for the client's last minutes.
 */
static bool
forge_fresh(const struct forge_entry *fe, time_t now)
{
	time_t	 life = fe->fe_not_after - fe->fe_not_before;

	if (now >= fe->fe_not_after || now < fe->fe_not_before)
		return false;
	if ((now - fe->fe_not_before) * 10 < life * 9)
		return true;
	return fe->fe_not_after >= fe->fe_client_not_after;
}

uint64_t
forge_identity(struct forge *f, const uint8_t sha256[32])
{
	struct forge_entry	*fe;

	/* A certificate due for re-minting takes its entry with it: what
	 * was established with it (sessions, kept connections) goes too. */
	if ((fe = forge_find(f, sha256)) != NULL && fe->fe_cert != NULL &&
	    !forge_fresh(fe, forge_now(f))) {
		forge_drop(f, fe);
		fe = NULL;
	}
	if (fe == NULL && (fe = forge_entry_new(f, sha256)) == NULL)
		return 0;
	forge_touch(f, fe);
	return fe->fe_gen;
}

int
forge_cached(struct forge *f, const uint8_t sha256[32], struct forge_cert *fc)
{
	struct forge_entry	*fe;

	memset(fc, 0, sizeof(*fc));
	if ((fe = forge_find(f, sha256)) == NULL || fe->fe_cert == NULL)
		return 0;
	if (!forge_fresh(fe, forge_now(f))) {
		forge_drop(f, fe);
		return 0;
	}
	if (X509_up_ref(fe->fe_cert) != 1)
		goto fail;
	if (EVP_PKEY_up_ref(fe->fe_key) != 1) {
		X509_free(fe->fe_cert);
		goto fail;
	}
	forge_touch(f, fe);
	fc->fc_cert = fe->fe_cert;
	fc->fc_key = fe->fe_key;
	fc->fc_gen = fe->fe_gen;
	fc->fc_hit = true;
	return 1;
fail:
	f->f_err = FORGE_ERR_MINT;
	return -1;
}

int
forge_get(struct forge *f, X509 *client, const uint8_t sha256[32], struct forge_cert *fc)
{
	struct forge_entry	*fe;
	EVP_PKEY		*key;
	X509			*x;
	int			 r;

	if ((r = forge_cached(f, sha256, fc)) != 0)
		return r == 1 ? 0 : -1;
	/* What is left of the identity: nothing, or an entry without a
	 * certificate (forge_identity, or a stale one just dropped). */
	fe = forge_find(f, sha256);

	if ((x = forge_mint(f, client, &key)) == NULL)
		return -1;
	fc->fc_cert = x;
	fc->fc_key = key;
	/* Not being able to cache is no reason to fail the connection. */
	if (fe == NULL && (fe = forge_entry_new(f, sha256)) == NULL)
		return 0;
	if (forge_time(X509_get0_notBefore(x), &fe->fe_not_before) == -1 ||
	    forge_time(X509_get0_notAfter(x), &fe->fe_not_after) == -1 ||
	    forge_time(X509_get0_notAfter(client), &fe->fe_client_not_after) == -1 ||
	    X509_up_ref(x) != 1)
		return 0;
	if (EVP_PKEY_up_ref(key) != 1) {
		X509_free(x);
		return 0;
	}
	fe->fe_cert = x;
	fe->fe_key = key;
	forge_touch(f, fe);
	fc->fc_gen = fe->fe_gen;
	return 0;
}

/*
 * Upstream sessions live in the entry of the identity whose forged
 * certificate authenticated them (or that no upstream asked a certificate
 * of): a resumed session presents that certificate's identity again
 * without showing it, so it must not outlive it.  When the certificate is
 * re-minted or evicted, the entry goes and its sessions with it.  No SSL
 * ever holds a kept session itself, only copies (OpenSSL changes the
 * session of a connection that ends without close_notify).
 */
SSL_SESSION *
forge_session_get(struct forge *f, const uint8_t sha256[32], uint64_t gen,
    const uint8_t dest[32])
{
	struct forge_entry	*fe;
	struct forge_session	*fs;
	time_t			 now = forge_now(f);

	if (gen == 0 || (fe = forge_find(f, sha256)) == NULL || fe->fe_gen != gen)
		return NULL;
	for (size_t i = 0; i < FORGE_SESSIONS; i++) {
		fs = &fe->fe_sess[i];
		if (fs->fs_sess == NULL || memcmp(fs->fs_dest, dest, sizeof(fs->fs_dest)) != 0)
			continue;
		if (!SSL_SESSION_is_resumable(fs->fs_sess) ||
		    now >= (time_t)(SSL_SESSION_get_time(fs->fs_sess) +
		    SSL_SESSION_get_timeout(fs->fs_sess))) {
			SSL_SESSION_free(fs->fs_sess);
			fs->fs_sess = NULL;
			return NULL;
		}
		/* A copy: the connection's session may be marked not
		 * resumable by OpenSSL when that connection ends badly. */
		return SSL_SESSION_dup(fs->fs_sess);
	}
	return NULL;
}

bool
forge_is_current(struct forge *f, const uint8_t sha256[32], uint64_t gen)
{
	struct forge_entry	*fe;

	return gen != 0 && (fe = forge_find(f, sha256)) != NULL && fe->fe_gen == gen;
}

bool
forge_session_put(struct forge *f, const uint8_t sha256[32], uint64_t gen,
    const uint8_t dest[32], SSL_SESSION *sess)
{
	struct forge_entry	*fe;
	struct forge_session	*fs = NULL;

	if (gen == 0 || (fe = forge_find(f, sha256)) == NULL || fe->fe_gen != gen)
		return false;
	/* The newest session for a destination replaces the one before;
	 * a new destination takes the slots in turn. */
	for (size_t i = 0; i < FORGE_SESSIONS && fs == NULL; i++)
		if (fe->fe_sess[i].fs_sess != NULL &&
		    memcmp(fe->fe_sess[i].fs_dest, dest, sizeof(fe->fe_sess[i].fs_dest)) == 0)
			fs = &fe->fe_sess[i];
	if (fs == NULL) {
		fs = &fe->fe_sess[fe->fe_sess_next];
		fe->fe_sess_next = (fe->fe_sess_next + 1) % FORGE_SESSIONS;
	}
	SSL_SESSION_free(fs->fs_sess);
	memcpy(fs->fs_dest, dest, sizeof(fs->fs_dest));
	fs->fs_sess = sess;
	return true;
}

/*
 * The client's chain verified: remembered in the entry of its certificate,
 * so the same certificate with the same chain skips X509_verify_cert() on
 * its next handshake until `until` (which the caller bounds by every
 * certificate's and CRL's validity).  Dropped with the entry.
 */
void
forge_verified_put(struct forge *f, const uint8_t sha256[32], const uint8_t chain[32],
    time_t until)
{
	struct forge_entry	*fe;

	if ((fe = forge_find(f, sha256)) == NULL)
		return;
	memcpy(fe->fe_chain, chain, sizeof(fe->fe_chain));
	fe->fe_verified_until = until;
}

bool
forge_verified_get(struct forge *f, const uint8_t sha256[32], const uint8_t chain[32])
{
	struct forge_entry	*fe;

	return (fe = forge_find(f, sha256)) != NULL && forge_now(f) < fe->fe_verified_until &&
	    memcmp(fe->fe_chain, chain, sizeof(fe->fe_chain)) == 0;
}

void
forge_verified_flush(struct forge *f)
{
	struct forge_entry	*fe;

	TAILQ_FOREACH(fe, &f->f_lru, fe_lru)
		fe->fe_verified_until = 0;
}

void
forge_forget(struct forge *f, const uint8_t sha256[32])
{
	struct forge_entry	*fe;

	if ((fe = forge_find(f, sha256)) != NULL)
		forge_drop(f, fe);
}
