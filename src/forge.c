/*
 * forge.c - client certificates minted by the delegation CA (C3D).
 *
 * The upstream is to see the client's identity, not ours, so the forged
 * certificate repeats what identifies the client byte for byte (subject DN
 * and subjectAltName as encoded) and replaces everything that is the
 * client CA's business: issuer, key, serial, extensions, validity.
 *
 * Signing costs far more than relaying a small request, and a client
 * reconnects with the same certificate, so each worker keeps the minted
 * certificates in a small cache: a hash table on the client certificate's
 * SHA-256 plus a list in use order to drop the least recently used.
 *
 * Signing is the one step done elsewhere: the TBSCertificate goes to a
 * callback (the signer process in the daemon) and the signature it returns
 * is attached here.  The CA key never enters this file's process.
 */
#include <sys/queue.h>

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
#define FORGE_BUCKETS_MAX	(1U << 20)	/* beyond that, longer chains */

/* An upstream TLS session the forged certificate authenticated, for one
 * destination (forge_session_put). */
struct forge_session {
	uint8_t			 fs_dest[32];
	SSL_SESSION		*fs_sess;	/* NULL: slot free */
};

struct forge_entry {
	uint8_t			 fe_sha256[32];	/* of the client certificate */
	X509			*fe_cert;
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
	forge_sign_fn		 f_sign;	/* holds the CA key, elsewhere */
	void			*f_sign_arg;
	int			 f_sig_nid;	/* the CA key's signature algorithm */
	enum forge_err		 f_err;		/* why the last mint failed */
	ASN1_OCTET_STRING	*f_ca_keyid;	/* the CA's SKI, our AKI */
	EVP_PKEY		*f_key;		/* every forged cert's key */
	ASN1_OCTET_STRING	*f_keyid;	/* its SKI */
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
static X509_EXTENSION *forge_client_san(X509 *);
static int	 forge_extensions(struct forge *, X509 *, X509 *);
static X509	*forge_sign(struct forge *, X509 *);
static struct forge_entry **forge_slot(struct forge *, const uint8_t [32]);
static void	 forge_drop(struct forge *, struct forge_entry *);
static void	 forge_entry_free(struct forge_entry *);
static struct forge_entry *forge_find(struct forge *, const uint8_t [32]);
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
forge_new(X509 *ca_cert, forge_sign_fn sign, void *sign_arg, size_t cache_max)
{
	struct forge		*f;
	const ASN1_OCTET_STRING	*skid;
	X509_PUBKEY		*xpk = NULL;
	size_t			 n;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	TAILQ_INIT(&f->f_lru);

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
	f->f_sign = sign;
	f->f_sign_arg = sign_arg;

	if ((skid = X509_get0_subject_key_id(ca_cert)) != NULL)
		f->f_ca_keyid = ASN1_OCTET_STRING_dup(skid);
	else
		f->f_ca_keyid = forge_keyid(X509_get_X509_PUBKEY(ca_cert));
	if (f->f_ca_keyid == NULL)
		goto fail;

	if ((f->f_key = EVP_EC_gen("P-256")) == NULL)
		goto fail;
	if (X509_PUBKEY_set(&xpk, f->f_key) != 1)
		goto fail;
	if ((f->f_keyid = forge_keyid(xpk)) == NULL)
		goto fail;
	X509_PUBKEY_free(xpk);
	xpk = NULL;

	f->f_max = cache_max;
	for (n = 1; n < cache_max && n < FORGE_BUCKETS_MAX; n <<= 1)
		;
	if ((f->f_buckets = calloc(n, sizeof(*f->f_buckets))) == NULL)
		goto fail;
	f->f_mask = n - 1;
	return f;
 fail:
	X509_PUBKEY_free(xpk);
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
	ASN1_OCTET_STRING_free(f->f_keyid);
	EVP_PKEY_free(f->f_key);
	ASN1_OCTET_STRING_free(f->f_ca_keyid);
	X509_free(f->f_ca);
	free(f);
}

EVP_PKEY *
forge_key(struct forge *f)
{
	return f->f_key;
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
 * What makes it a client certificate of our CA: end entity, signatures
 * only, TLS client auth, key identifiers for path building (and for
 * X509_V_FLAG_X509_STRICT verifiers, which insist on the AKI).  The
 * client's subjectAltName goes over as the same extension, same DER and
 * criticality - except that it is made critical when the subject is
 * empty, as RFC 5280 wants, and left out when it names nobody.
 */
static int
forge_extensions(struct forge *f, X509 *x, X509 *client)
{
	BASIC_CONSTRAINTS	*bc = NULL;
	ASN1_BIT_STRING		*ku = NULL;
	EXTENDED_KEY_USAGE	*eku = NULL;
	AUTHORITY_KEYID		*akid = NULL;
	ASN1_OBJECT		*obj;
	X509_EXTENSION		*san;
	int			 rc = -1;

	if ((bc = BASIC_CONSTRAINTS_new()) == NULL)
		goto fail;
	bc->ca = 0;
	if (X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1,
	    X509V3_ADD_DEFAULT) != 1)
		goto fail;

	if ((ku = ASN1_BIT_STRING_new()) == NULL ||
	    ASN1_BIT_STRING_set_bit(ku, 0, 1) != 1)	/* digitalSignature */
		goto fail;
	if (X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) != 1)
		goto fail;

	if ((eku = sk_ASN1_OBJECT_new_null()) == NULL)
		goto fail;
	if ((obj = OBJ_nid2obj(NID_client_auth)) == NULL ||
	    sk_ASN1_OBJECT_push(eku, obj) <= 0)
		goto fail;
	if (X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0,
	    X509V3_ADD_DEFAULT) != 1)
		goto fail;

	if (X509_add1_ext_i2d(x, NID_subject_key_identifier, f->f_keyid, 0,
	    X509V3_ADD_DEFAULT) != 1)
		goto fail;

	if ((akid = AUTHORITY_KEYID_new()) == NULL ||
	    (akid->keyid = ASN1_OCTET_STRING_dup(f->f_ca_keyid)) == NULL)
		goto fail;
	if (X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0,
	    X509V3_ADD_DEFAULT) != 1)
		goto fail;

	if ((san = forge_client_san(client)) != NULL) {
		/* X509_add_ext() adds a copy */
		if (X509_add_ext(x, san, -1) != 1)
			goto fail;
		/* With an empty subject the SAN is the identity and must be
		 * critical (RFC 5280 4.2.1.6; strict verifiers insist): a
		 * client CA that left it non-critical gets it marked here,
		 * its names unchanged. */
		if (X509_NAME_entry_count(X509_get_subject_name(client)) == 0 &&
		    X509_EXTENSION_set_critical(X509_get_ext(x,
		    X509_get_ext_count(x) - 1), 1) != 1)
			goto fail;
	}
	rc = 0;
 fail:
	AUTHORITY_KEYID_free(akid);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	ASN1_BIT_STRING_free(ku);
	BASIC_CONSTRAINTS_free(bc);
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

X509 *
forge_mint(struct forge *f, X509 *client)
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
	na = now + FORGE_LIFETIME_MAX;
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
	if (forge_serial(x) == -1)
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
	if (X509_set_pubkey(x, f->f_key) != 1)
		goto fail;
	if (forge_extensions(f, x, client) == -1)
		goto fail;
	f->f_err = FORGE_OK;
	return forge_sign(f, x);
 fail:
	X509_free(x);
	return NULL;
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
	free(fe);
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

X509 *
forge_get(struct forge *f, X509 *client, const uint8_t sha256[32], bool *hit)
{
	struct forge_entry	*fe, **slot;
	X509			*x;
	time_t			 now = forge_now(f);

	*hit = false;
	slot = forge_slot(f, sha256);
	if ((fe = forge_find(f, sha256)) != NULL) {
		if (forge_fresh(fe, now) && X509_up_ref(fe->fe_cert) == 1) {
			TAILQ_REMOVE(&f->f_lru, fe, fe_lru);
			TAILQ_INSERT_HEAD(&f->f_lru, fe, fe_lru);
			*hit = true;
			return fe->fe_cert;
		}
		forge_drop(f, fe);
	}

	if ((x = forge_mint(f, client)) == NULL)
		return NULL;
	if (f->f_max == 0)
		return x;
	if (f->f_count >= f->f_max)
		forge_drop(f, TAILQ_LAST(&f->f_lru, forge_lru));
	/* Not being able to cache is no reason to fail the connection. */
	if ((fe = calloc(1, sizeof(*fe))) == NULL)
		return x;
	if (forge_time(X509_get0_notBefore(x), &fe->fe_not_before) == -1 ||
	    forge_time(X509_get0_notAfter(x), &fe->fe_not_after) == -1 ||
	    forge_time(X509_get0_notAfter(client),
	    &fe->fe_client_not_after) == -1 ||
	    X509_up_ref(x) != 1) {
		free(fe);
		return x;
	}
	memcpy(fe->fe_sha256, sha256, sizeof(fe->fe_sha256));
	fe->fe_cert = x;
	fe->fe_hnext = *slot;
	*slot = fe;
	TAILQ_INSERT_HEAD(&f->f_lru, fe, fe_lru);
	f->f_count++;
	return x;
}

/*
 * Upstream sessions live in the entry of the forged certificate that
 * authenticated them: a resumed session presents that certificate's
 * identity again without showing it, so it must not outlive it.  When the
 * certificate is re-minted or evicted, its sessions go with it.  No SSL
 * ever holds a kept session itself, only copies (OpenSSL changes the
 * session of a connection that ends without close_notify).
 */
SSL_SESSION *
forge_session_get(struct forge *f, const uint8_t sha256[32], X509 *forged,
    const uint8_t dest[32])
{
	struct forge_entry	*fe;
	struct forge_session	*fs;
	time_t			 now = forge_now(f);

	if ((fe = forge_find(f, sha256)) == NULL || fe->fe_cert != forged)
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
forge_is_cached(struct forge *f, const uint8_t sha256[32], X509 *forged)
{
	struct forge_entry	*fe;

	return (fe = forge_find(f, sha256)) != NULL && fe->fe_cert == forged;
}

bool
forge_session_put(struct forge *f, const uint8_t sha256[32], X509 *forged,
    const uint8_t dest[32], SSL_SESSION *sess)
{
	struct forge_entry	*fe;
	struct forge_session	*fs = NULL;

	if ((fe = forge_find(f, sha256)) == NULL || fe->fe_cert != forged)
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
