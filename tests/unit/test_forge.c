/*
 * test_forge.c - forged client certificates: identity copied byte for
 * byte, everything else ours, verifiable by a strict verifier, cached.
 *
 * All certificates are built here with the OpenSSL API: a client CA that
 * issues client certificates of many shapes, and delegation CAs (EC, RSA,
 * Ed25519) that forge.c signs with.  With FORGE_DUMP_DIR set, the EC
 * delegation CA and one forged certificate are written there as ca.pem
 * and forged.pem for `openssl verify -x509_strict -purpose sslclient`.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "testcert.h"
#include "forge.h"

#define DAY	(24 * 3600)

/* ---- building certificates ---- */

struct spec {
	X509_NAME	*subject;
	EVP_PKEY	*key;		/* the subject's */
	X509		*issuer;	/* NULL: self-signed */
	EVP_PKEY	*issuer_key;
	time_t		 not_before;
	time_t		 not_after;
	const char	*serial_hex;	/* NULL: 01 */
	GENERAL_NAMES	*san;		/* NULL: none */
	int		 san_critical;
	bool		 ca;
	bool		 no_skid;	/* CA without subjectKeyIdentifier */
};

static const EVP_MD *
md_for(EVP_PKEY *k)
{
	if (EVP_PKEY_is_a(k, "ED25519") || EVP_PKEY_is_a(k, "ED448"))
		return NULL;
	return EVP_sha256();
}

/* DER out and back in, as a certificate off the wire would be. */
static X509 *
reparse(X509 *x)
{
	unsigned char	*der = NULL;
	const unsigned char *p;
	X509		*y;
	int		 len;

	if ((len = i2d_X509(x, &der)) <= 0)
		fatal("i2d_X509");
	p = der;
	if ((y = d2i_X509(NULL, &p, len)) == NULL)
		fatal("d2i_X509");
	OPENSSL_free(der);
	X509_free(x);
	return y;
}

static X509 *
mk_cert(const struct spec *s)
{
	X509		*x;
	BIGNUM		*bn = NULL;
	X509		*iss = s->issuer;

	if ((x = X509_new()) == NULL)
		fatal("X509_new");
	X509_set_version(x, X509_VERSION_3);
	if (BN_hex2bn(&bn, s->serial_hex ? s->serial_hex : "01") == 0 ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		fatal("serial");
	BN_free(bn);
	if (X509_set_subject_name(x, s->subject) != 1 ||
	    X509_set_issuer_name(x, iss ? X509_get_subject_name(iss) : s->subject) != 1)
		fatal("names");
	ASN1_TIME_set(X509_getm_notBefore(x), s->not_before);
	ASN1_TIME_set(X509_getm_notAfter(x), s->not_after);
	X509_set_pubkey(x, s->key);
	if (s->ca) {
		add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
		if (!s->no_skid)
			add_ext(x, iss, NID_subject_key_identifier, "hash");
		if (iss != NULL)	/* an intermediate: strict verifiers want the AKI */
			add_ext(x, iss, NID_authority_key_identifier, "keyid");
	} else {
		add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, iss, NID_key_usage, "critical,digitalSignature,keyEncipherment");
		add_ext(x, iss, NID_ext_key_usage, "clientAuth");
		add_ext(x, iss, NID_subject_key_identifier, "hash");
		add_ext(x, iss, NID_authority_key_identifier, "keyid");
	}
	if (s->san != NULL &&
	    X509_add1_ext_i2d(x, NID_subject_alt_name, s->san, s->san_critical,
	    X509V3_ADD_DEFAULT) != 1)
		fatal("san");
	if (X509_sign(x, iss ? s->issuer_key : s->key,
	    md_for(iss ? s->issuer_key : s->key)) <= 0)
		fatal("X509_sign");
	return reparse(x);
}

/* ---- checking forged certificates ---- */

static bool
name_der_eq(const X509_NAME *a, const X509_NAME *b)
{
	unsigned char	*da = NULL, *db = NULL;
	int		 la, lb;
	bool		 eq;

	la = i2d_X509_NAME(a, &da);
	lb = i2d_X509_NAME(b, &db);
	eq = la > 0 && la == lb && memcmp(da, db, la) == 0;
	OPENSSL_free(da);
	OPENSSL_free(db);
	return eq;
}

static int
verify_chain(X509 *ca, X509 *leaf, int *err)
{
	X509_STORE	*st;
	X509_STORE_CTX	*ctx;
	int		 rc;

	st = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (st == NULL || ctx == NULL || X509_STORE_add_cert(st, ca) != 1 ||
	    X509_STORE_CTX_init(ctx, st, leaf, NULL) != 1)
		fatal("store");
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	rc = X509_verify_cert(ctx);
	*err = X509_STORE_CTX_get_error(ctx);
	if (rc != 1)
		fprintf(stderr, "  verify: %s\n", X509_verify_cert_error_string(*err));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return rc;
}

static time_t
asn1_time(const ASN1_TIME *t)
{
	struct tm	 tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		fatal("ASN1_TIME_to_tm");
	return timegm(&tm);
}

/*
 * Everything the brief promises about one forged certificate `fx` for
 * `client`, minted with the delegation CA `ca` and subject key `key`, by
 * a forge with the default policy.  `strict`: the CA
 * is fit for X509_V_FLAG_X509_STRICT (it has an SKI).
 */
static void
check_forged(X509 *ca, X509 *client, X509 *fx, EVP_PKEY *key, int sig_nid,
    bool strict)
{
	X509			*x;
	BASIC_CONSTRAINTS	*bc;
	ASN1_BIT_STRING		*ku;
	EXTENDED_KEY_USAGE	*eku;
	X509_EXTENSION		*ce, *fe;
	const ASN1_OCTET_STRING	*aki, *ski, *ca_ski;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen;
	int			 crit, ci, fi, err;
	time_t			 now = time(NULL);

	CHECK(fx != NULL);
	if (fx == NULL)
		return;
	/* look at what goes on the wire */
	X509_up_ref(fx);
	x = reparse(fx);

	CHECK(X509_get_version(x) == X509_VERSION_3);
	CHECK(name_der_eq(X509_get_subject_name(x), X509_get_subject_name(client)));
	CHECK(name_der_eq(X509_get_issuer_name(x), X509_get_subject_name(ca)));
	CHECK(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)) == 0);
	CHECK(key != NULL && EVP_PKEY_eq(X509_get0_pubkey(x), key) == 1);
	CHECK(X509_get_signature_nid(x) == sig_nid);
	CHECK(X509_verify(x, X509_get0_pubkey(ca)) == 1);
	CHECK(X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0) == 1);
	CHECK(X509_check_issued(ca, x) == X509_V_OK);
	if (strict)
		CHECK(verify_chain(ca, x, &err) == 1 && err == X509_V_OK);

	/* serial: positive, at most 128 bits, not the client's */
	CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(x),
	    X509_get0_serialNumber(client)) != 0);
	{
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
		CHECK(bn != NULL && !BN_is_negative(bn) && !BN_is_zero(bn) &&
		    BN_num_bits(bn) <= 127);
		BN_free(bn);
	}

	/* validity inside the client's and inside our lifetime cap */
	CHECK(asn1_time(X509_get0_notBefore(x)) >= asn1_time(X509_get0_notBefore(client)));
	CHECK(asn1_time(X509_get0_notBefore(x)) <= now);
	CHECK(asn1_time(X509_get0_notBefore(x)) >= now - FORGE_BACKDATE - 5);
	CHECK(asn1_time(X509_get0_notAfter(x)) <= asn1_time(X509_get0_notAfter(client)));
	CHECK(asn1_time(X509_get0_notAfter(x)) <= now + FORGE_LIFETIME_DEFAULT);

	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	CHECK(bc != NULL && bc->ca == 0 && bc->pathlen == NULL && crit == 1);
	BASIC_CONSTRAINTS_free(bc);
	CHECK((X509_get_extension_flags(x) & EXFLAG_CA) == 0);

	ku = X509_get_ext_d2i(x, NID_key_usage, &crit, NULL);
	CHECK(ku != NULL && crit == 1 && ASN1_STRING_length(ku) == 1 &&
	    ASN1_STRING_get0_data(ku)[0] == 0x80);
	ASN1_BIT_STRING_free(ku);
	CHECK(X509_get_key_usage(x) == KU_DIGITAL_SIGNATURE);

	eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL);
	CHECK(eku != NULL && crit == 0 && sk_ASN1_OBJECT_num(eku) == 1 &&
	    OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)) == NID_client_auth);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	CHECK(X509_get_extended_key_usage(x) == XKU_SSL_CLIENT);

	/* AKI keyid only, equal to the CA's SKI (or its computed one) */
	aki = X509_get0_authority_key_id(x);
	ca_ski = X509_get0_subject_key_id(ca);
	if (ca_ski != NULL)
		CHECK(aki != NULL && ASN1_OCTET_STRING_cmp(aki, ca_ski) == 0);
	else {
		CHECK(X509_pubkey_digest(ca, EVP_sha1(), md, &mdlen) == 1);
		CHECK(aki != NULL && (unsigned)aki->length == mdlen &&
		    memcmp(aki->data, md, mdlen) == 0);
	}
	CHECK(X509_get0_authority_issuer(x) == NULL);
	CHECK(X509_get0_authority_serial(x) == NULL);
	/* SKI: hash of our own key */
	ski = X509_get0_subject_key_id(x);
	CHECK(X509_pubkey_digest(x, EVP_sha1(), md, &mdlen) == 1);
	CHECK(ski != NULL && (unsigned)ski->length == mdlen &&
	    memcmp(ski->data, md, mdlen) == 0);

	/* subjectAltName: the client's extension, same DER and criticality */
	ci = X509_get_ext_by_NID(client, NID_subject_alt_name, -1);
	fi = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
	CHECK((ci < 0) == (fi < 0));
	if (ci >= 0 && fi >= 0) {
		ce = X509_get_ext(client, ci);
		fe = X509_get_ext(x, fi);
		CHECK(ASN1_OCTET_STRING_cmp(X509_EXTENSION_get_data(ce),
		    X509_EXTENSION_get_data(fe)) == 0);
		CHECK(X509_EXTENSION_get_critical(ce) == X509_EXTENSION_get_critical(fe));
		CHECK(X509_get_ext_by_NID(x, NID_subject_alt_name, fi) == -1);
	}
	CHECK(X509_get_ext_count(x) == 5 + (ci >= 0));
	X509_free(x);
}

/* ---- fixtures ---- */

static EVP_PKEY	*client_rsa, *client_ec;
static X509	*client_ca;
static EVP_PKEY	*client_ca_key;

static X509 *
mk_client(X509_NAME *subject, EVP_PKEY *key, GENERAL_NAMES *san,
    int san_crit, const char *serial, time_t nb, time_t na)
{
	struct spec	 s = { 0 };
	X509		*x;

	s.subject = subject;
	s.key = key;
	s.issuer = client_ca;
	s.issuer_key = client_ca_key;
	s.not_before = nb;
	s.not_after = na;
	s.serial_hex = serial;
	s.san = san;
	s.san_critical = san_crit;
	x = mk_cert(&s);
	X509_NAME_free(subject);
	GENERAL_NAMES_free(san);
	return x;
}

static X509 *
mk_ca(const char *cn, EVP_PKEY *key, bool no_skid)
{
	struct spec	 s = { 0 };
	X509_NAME	*n = X509_NAME_new();
	X509		*x;
	time_t		 now = time(NULL);

	name_add(n, "C", V_ASN1_PRINTABLESTRING, "US", -1, 0);
	name_add(n, "O", V_ASN1_UTF8STRING, "ktproxy tests", -1, 0);
	name_add(n, "CN", V_ASN1_UTF8STRING, cn, -1, 0);
	s.subject = n;
	s.key = key;
	s.not_before = now - DAY;
	s.not_after = now + 3650 * DAY;
	s.serial_hex = "1000";
	s.ca = true;
	s.no_skid = no_skid;
	x = mk_cert(&s);
	X509_NAME_free(n);
	return x;
}

static X509_NAME *
n_simple(const char *cn)
{
	X509_NAME	*n = X509_NAME_new();

	name_add(n, "C", V_ASN1_PRINTABLESTRING, "US", -1, 0);
	name_add(n, "O", V_ASN1_UTF8STRING, "Example Corp", -1, 0);
	name_add(n, "CN", V_ASN1_UTF8STRING, cn, -1, 0);
	return n;
}

static GENERAL_NAMES *
san_rich(void)
{
	GENERAL_NAMES	*g = sk_GENERAL_NAME_new_null();

	san_add(g, GEN_URI, "spiffe://example.org/ns/prod/sa/api", -1);
	san_add(g, GEN_DNS, "api.example.org", -1);
	san_add(g, GEN_DNS, "*.svc.example.org", -1);
	san_add(g, GEN_DNS, "localhost", -1);
	san_add(g, GEN_EMAIL, "alice@example.org", -1);
	san_add(g, GEN_IPADD, "192.0.2.10", -1);
	san_add(g, GEN_IPADD, "2001:db8::1", -1);
	san_add(g, GEN_URI, "https://alice.example.org/id", -1);
	san_add(g, GEN_RID, "1.3.6.1.4.1.99999.1", -1);
	san_add(g, GEN_DIRNAME, "directory name", -1);
	return g;
}

static time_t	 fake_now;

static time_t
fake_clock(void)
{
	return fake_now;
}

static void
dump(const char *dir, const char *file, X509 *x)
{
	char	 path[4096];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((fp = fopen(path, "w")) == NULL || PEM_write_X509(fp, x) != 1)
		fatal(path);
	fclose(fp);
}

/* forge_get for the identity hashing to sha: the certificate (a
 * reference), whether it came from the cache, its generation and key (a
 * reference) when asked for. */
static X509 *
get_sha(struct forge *f, X509 *client, const uint8_t sha[32], bool *hit, uint64_t *gen,
    EVP_PKEY **key)
{
	struct forge_cert fc;

	*hit = false;
	if (forge_get(f, client, sha, &fc) == -1)
		return NULL;
	*hit = fc.fc_hit;
	if (gen != NULL)
		*gen = fc.fc_gen;
	if (key != NULL) {
		*key = fc.fc_key;
		fc.fc_key = NULL;
	}
	EVP_PKEY_free(fc.fc_key);
	return fc.fc_cert;
}

static void
sha_of(X509 *x, uint8_t sha[32])
{
	unsigned int	 len;

	X509_digest(x, EVP_sha256(), sha, &len);
}

static X509 *
get(struct forge *f, X509 *client, bool *hit)
{
	uint8_t		 sha[32];

	sha_of(client, sha);
	return get_sha(f, client, sha, hit, NULL, NULL);
}

/* ---- tests ---- */

static void
test_shapes(void)
{
	EVP_PKEY	*ca_key, *key;
	X509		*ca, *clients[16], *fx, *fy;
	struct forge	*f;
	X509_NAME	*n;
	GENERAL_NAMES	*g;
	time_t		 now = time(NULL);
	char		 longv[80];
	int		 nc = 0, i;
	const char	*dir;

	ca_key = EVP_EC_gen("P-256");
	ca = mk_ca("delegation CA (EC)", ca_key, false);
	CHECK((f = forge_new(ca, NULL, NULL, forge_sign_local, ca_key, 16)) != NULL);

	/* 0: RSA key, plain subject, rich SANs */
	clients[nc++] = mk_client(n_simple("alice"), client_rsa, san_rich(), 0,
	    "0123456789ABCDEF", now - DAY, now + 365 * DAY);
	/* 1: EC key, no SAN at all */
	clients[nc++] = mk_client(n_simple("bob"), client_ec, NULL, 0,
	    NULL, now - DAY, now + 365 * DAY);
	/* 2: long subject */
	n = X509_NAME_new();
	memset(longv, 'x', 64);
	longv[64] = '\0';
	name_add(n, "DC", V_ASN1_IA5STRING, "org", -1, 0);
	name_add(n, "DC", V_ASN1_IA5STRING, "example", -1, 0);
	name_add(n, "C", V_ASN1_PRINTABLESTRING, "DE", -1, 0);
	name_add(n, "ST", V_ASN1_UTF8STRING, "Baden-Wuerttemberg", -1, 0);
	name_add(n, "L", V_ASN1_UTF8STRING, "Karlsruhe", -1, 0);
	name_add(n, "O", V_ASN1_UTF8STRING, "A Rather Long Organisation Name GmbH & Co. KG", -1, 0);
	for (i = 0; i < 6; i++) {
		longv[0] = 'a' + i;
		name_add(n, "OU", V_ASN1_UTF8STRING, longv, -1, 0);
	}
	name_add(n, "serialNumber", V_ASN1_PRINTABLESTRING, "123456789", -1, 0);
	name_add(n, "emailAddress", V_ASN1_IA5STRING, "long@example.org", -1, 0);
	name_add(n, "CN", V_ASN1_UTF8STRING, longv, -1, 0);
	clients[nc++] = mk_client(n, client_ec, san_rich(), 0, NULL,
	    now - DAY, now + 30 * DAY);
	/* 3: UTF-8 subject, CJK organisation */
	n = X509_NAME_new();
	name_add(n, "C", V_ASN1_PRINTABLESTRING, "SE", -1, 0);
	name_add(n, "O", V_ASN1_UTF8STRING, "株式会社テスト", -1, 0);
	name_add(n, "CN", V_ASN1_UTF8STRING, "Zoë Ångström", -1, 0);
	clients[nc++] = mk_client(n, client_rsa, NULL, 0, NULL,
	    now - DAY, now + 30 * DAY);
	/* 4: multi-valued RDN: OU+CN in one RDN */
	n = X509_NAME_new();
	name_add(n, "O", V_ASN1_UTF8STRING, "Example", -1, 0);
	name_add(n, "OU", V_ASN1_UTF8STRING, "eng", -1, 0);
	name_add(n, "CN", V_ASN1_UTF8STRING, "carol", -1, -1);
	CHECK(X509_NAME_entry_count(n) == 3);
	CHECK(X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 1)) ==
	    X509_NAME_ENTRY_set(X509_NAME_get_entry(n, 2)));
	clients[nc++] = mk_client(n, client_ec, NULL, 0, NULL,
	    now - DAY, now + 30 * DAY);
	/* 5: string types side by side: Printable, UTF8, T61, BMP, IA5 */
	n = X509_NAME_new();
	name_add(n, "C", V_ASN1_PRINTABLESTRING, "GB", -1, 0);
	name_add(n, "O", V_ASN1_PRINTABLESTRING, "Printable Org", -1, 0);
	name_add(n, "OU", V_ASN1_UTF8STRING, "UTF8 Unit", -1, 0);
	name_add(n, "L", V_ASN1_T61STRING, "T61 Town", -1, 0);
	name_add(n, "ST", V_ASN1_BMPSTRING, "\0B\0M\0P", 6, 0);
	name_add(n, "CN", V_ASN1_PRINTABLESTRING, "dave", -1, 0);
	clients[nc++] = mk_client(n, client_ec, NULL, 0, NULL,
	    now - DAY, now + 30 * DAY);
	/* 6: serial whose DER has a leading zero byte; SAN critical */
	g = sk_GENERAL_NAME_new_null();
	san_add(g, GEN_URI, "spiffe://example.org/ns/a/sa/b", -1);
	clients[nc++] = mk_client(n_simple("erin"), client_rsa, g, 1,
	    "80112233445566778899AABBCCDDEEFF", now - DAY, now + 30 * DAY);
	/* 7: 20-byte serial, the largest RFC 5280 allows */
	clients[nc++] = mk_client(n_simple("frank"), client_ec, NULL, 0,
	    "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", now - DAY, now + 30 * DAY);
	/* 8: empty subject, identity in a critical SAN (RFC 5280 4.2.1.6) */
	g = sk_GENERAL_NAME_new_null();
	san_add(g, GEN_URI, "spiffe://example.org/ns/x/sa/nameless", -1);
	clients[nc++] = mk_client(X509_NAME_new(), client_ec, g, 1, NULL,
	    now - DAY, now + 30 * DAY);
	/* 9: issued a minute ago (its notBefore is later than our backdate) */
	clients[nc++] = mk_client(n_simple("fresh"), client_ec, NULL, 0, NULL,
	    now - 60, now + 30 * DAY);

	for (i = 0; i < nc; i++) {
		fx = forge_mint(f, clients[i], &key);
		check_forged(ca, clients[i], fx, key, NID_ecdsa_with_SHA256, true);
		EVP_PKEY_free(key);
		fy = forge_mint(f, clients[i], NULL);
		CHECK(fy != NULL && ASN1_INTEGER_cmp(X509_get0_serialNumber(fx),
		    X509_get0_serialNumber(fy)) != 0);
		if (i == 0 && (dir = getenv("FORGE_DUMP_DIR")) != NULL) {
			dump(dir, "ca.pem", ca);
			dump(dir, "forged.pem", fx);
			dump(dir, "client.pem", clients[i]);
		}
		X509_free(fy);
		X509_free(fx);
	}
	/* notBefore is the client's when it is later than now - backdate */
	fx = forge_mint(f, clients[9], NULL);
	CHECK(fx != NULL && ASN1_TIME_compare(X509_get0_notBefore(fx),
	    X509_get0_notBefore(clients[9])) == 0);
	X509_free(fx);
	/* the lifetime cap */
	fx = forge_mint(f, clients[0], NULL);
	CHECK(fx != NULL && asn1_time(X509_get0_notAfter(fx)) -
	    asn1_time(X509_get0_notBefore(fx)) <= FORGE_LIFETIME_DEFAULT + FORGE_BACKDATE);
	X509_free(fx);

	for (i = 0; i < nc; i++)
		X509_free(clients[i]);
	forge_free(f);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

/*
 * A client CA that broke RFC 5280 4.2.1.6 does not make a forged
 * certificate strict verifiers refuse; the names stay the same: with an
 * empty subject the SAN is made critical, a SAN naming nobody is left out,
 * and a certificate that names nobody at all is not forged.
 */
static void
test_san_conformance(void)
{
	EVP_PKEY	*ca_key = EVP_EC_gen("P-256");
	X509		*ca = mk_ca("delegation CA (SAN)", ca_key, false);
	X509		*client, *fx;
	X509_EXTENSION	*ce, *fe;
	GENERAL_NAMES	*g;
	struct forge	*f;
	time_t		 now = time(NULL);
	int		 err;

	CHECK((f = forge_new(ca, NULL, NULL, forge_sign_local, ca_key, 0)) != NULL);

	/* empty subject, SAN not critical: copied, and made critical */
	g = sk_GENERAL_NAME_new_null();
	san_add(g, GEN_URI, "spiffe://example.org/ns/x/sa/careless", -1);
	client = mk_client(X509_NAME_new(), client_ec, g, 0, NULL, now - DAY, now + DAY);
	fx = forge_mint(f, client, NULL);
	CHECK(fx != NULL);
	if (fx != NULL) {
		ce = X509_get_ext(client, X509_get_ext_by_NID(client, NID_subject_alt_name, -1));
		fe = X509_get_ext(fx, X509_get_ext_by_NID(fx, NID_subject_alt_name, -1));
		CHECK(ce != NULL && X509_EXTENSION_get_critical(ce) == 0);
		CHECK(fe != NULL && X509_EXTENSION_get_critical(fe) == 1);
		CHECK(ce != NULL && fe != NULL && ASN1_OCTET_STRING_cmp(
		    X509_EXTENSION_get_data(ce), X509_EXTENSION_get_data(fe)) == 0);
		CHECK(name_der_eq(X509_get_subject_name(fx), X509_get_subject_name(client)));
		CHECK(verify_chain(ca, fx, &err) == 1 && err == X509_V_OK);
	}
	X509_free(fx);
	X509_free(client);

	/* a SAN with no names (DER 30 00): left out */
	client = mk_client(n_simple("empty-san"), client_ec, sk_GENERAL_NAME_new_null(), 0,
	    NULL, now - DAY, now + DAY);
	CHECK(X509_get_ext_by_NID(client, NID_subject_alt_name, -1) >= 0);
	fx = forge_mint(f, client, NULL);
	CHECK(fx != NULL);
	if (fx != NULL) {
		CHECK(X509_get_ext_by_NID(fx, NID_subject_alt_name, -1) < 0);
		CHECK(X509_get_ext_count(fx) == 5);
		CHECK(name_der_eq(X509_get_subject_name(fx), X509_get_subject_name(client)));
		CHECK(verify_chain(ca, fx, &err) == 1 && err == X509_V_OK);
	}
	X509_free(fx);
	X509_free(client);

	/* an empty subject and no names: nobody to forge for */
	client = mk_client(X509_NAME_new(), client_ec, NULL, 0, NULL, now - DAY, now + DAY);
	CHECK(forge_mint(f, client, NULL) == NULL && forge_last_error(f) == FORGE_ERR_MINT);
	X509_free(client);
	client = mk_client(X509_NAME_new(), client_ec, sk_GENERAL_NAME_new_null(), 1,
	    NULL, now - DAY, now + DAY);
	CHECK(forge_mint(f, client, NULL) == NULL && forge_last_error(f) == FORGE_ERR_MINT);
	X509_free(client);

	forge_free(f);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

static void
test_validity(void)
{
	EVP_PKEY	*ca_key = EVP_EC_gen("P-256");
	X509		*ca = mk_ca("delegation CA (EC)", ca_key, false);
	X509		*soon, *gone, *fx;
	EVP_PKEY	*key;
	struct forge	*f = forge_new(ca, NULL, NULL, forge_sign_local, ca_key, 4);
	uint8_t		 sha[32];
	unsigned int	 len;
	bool		 hit = true;
	time_t		 now = time(NULL);

	/* expiring in an hour: the forged one expires with it */
	soon = mk_client(n_simple("soon"), client_ec, NULL, 0, NULL,
	    now - DAY, now + 3600);
	fx = forge_mint(f, soon, &key);
	CHECK(fx != NULL && ASN1_TIME_compare(X509_get0_notAfter(fx),
	    X509_get0_notAfter(soon)) == 0);
	check_forged(ca, soon, fx, key, NID_ecdsa_with_SHA256, true);
	EVP_PKEY_free(key);
	X509_free(fx);

	/* expired a minute ago: refused, by mint and by get */
	gone = mk_client(n_simple("gone"), client_ec, NULL, 0, NULL,
	    now - DAY, now - 60);
	CHECK(forge_mint(f, gone, NULL) == NULL);
	X509_digest(gone, EVP_sha256(), sha, &len);
	CHECK(get_sha(f, gone, sha, &hit, NULL, NULL) == NULL && !hit);

	X509_free(gone);
	X509_free(soon);
	forge_free(f);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

/* Delegation CAs of other key types: RSA signs SHA-256, Ed25519 no digest. */
static void
test_ca_types(void)
{
	EVP_PKEY	*keys[2], *wrong, *key;
	int		 nids[2] = { NID_sha256WithRSAEncryption, NID_ED25519 };
	X509		*ca, *client, *fx;
	struct forge	*f;
	time_t		 now = time(NULL);
	int		 i;

	keys[0] = EVP_RSA_gen(2048);
	keys[1] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	client = mk_client(n_simple("types"), client_rsa, san_rich(), 0, NULL,
	    now - DAY, now + 30 * DAY);
	for (i = 0; i < 2; i++) {
		ca = mk_ca(i == 0 ? "delegation CA (RSA)" : "delegation CA (Ed25519)",
		    keys[i], false);
		CHECK((f = forge_new(ca, NULL, NULL, forge_sign_local, keys[i], 2)) != NULL);
		fx = forge_mint(f, client, &key);
		check_forged(ca, client, fx, key, nids[i], true);
		EVP_PKEY_free(key);
		X509_free(fx);
		forge_free(f);
		X509_free(ca);
	}

	/* forge knows only the CA's public key: a signer with another key
	 * yields a certificate nobody can verify (the signer process checks
	 * its key against the CA at start, test_signer) */
	wrong = EVP_RSA_gen(2048);
	ca = mk_ca("delegation CA (RSA)", keys[0], false);
	CHECK((f = forge_new(ca, NULL, NULL, forge_sign_local, wrong, 2)) != NULL);
	fx = forge_mint(f, client, NULL);
	CHECK(fx != NULL && X509_verify(fx, X509_get0_pubkey(ca)) != 1);
	ERR_clear_error();
	X509_free(fx);
	forge_free(f);
	X509_free(ca);
	EVP_PKEY_free(wrong);

	/* a CA key type forge does not sign with is refused up front */
	wrong = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	{
		X509 *odd = X509_new();

		CHECK(odd != NULL && X509_set_pubkey(odd, wrong) == 1);
		CHECK(forge_new(odd, NULL, NULL, forge_sign_local, wrong, 2) == NULL);
		ERR_clear_error();
		X509_free(odd);
	}
	EVP_PKEY_free(wrong);

	/* a CA without an SKI extension: AKI is the computed key hash */
	ca = mk_ca("delegation CA (no SKI)", keys[0], true);
	CHECK(X509_get0_subject_key_id(ca) == NULL);
	CHECK((f = forge_new(ca, NULL, NULL, forge_sign_local, keys[0], 2)) != NULL);
	fx = forge_mint(f, client, &key);
	check_forged(ca, client, fx, key, NID_sha256WithRSAEncryption, false);
	EVP_PKEY_free(key);
	X509_free(fx);
	forge_free(f);
	X509_free(ca);

	X509_free(client);
	EVP_PKEY_free(keys[0]);
	EVP_PKEY_free(keys[1]);
}

static void
test_cache(void)
{
	EVP_PKEY	*ca_key = EVP_EC_gen("P-256");
	X509		*ca = mk_ca("delegation CA (EC)", ca_key, false);
	X509		*c[5], *x[5], *y, *held;
	EVP_PKEY	*key;
	struct forge	*f;
	struct forge_cert fc;
	bool		 hit;
	time_t		 now = time(NULL);
	const char	*names[5] = { "a", "b", "c", "d", "e" };
	uint8_t		 sha[4][32];
	int		 i;

	for (i = 0; i < 5; i++)
		c[i] = mk_client(n_simple(names[i]), client_ec, NULL, 0, NULL,
		    now - DAY, now + 30 * DAY);
	f = forge_new(ca, NULL, NULL, forge_sign_local, ca_key, 3);

	sha_of(c[0], sha[0]);
	/* forge_cached: what a connection asks before it parses the client
	 * certificate it keeps as DER */
	CHECK(forge_cached(f, sha[0], &fc) == 0 && fc.fc_cert == NULL);
	x[0] = get_sha(f, c[0], sha[0], &hit, NULL, &key);
	CHECK(x[0] != NULL && !hit);
	CHECK(forge_cached(f, sha[0], &fc) == 1 && fc.fc_cert == x[0] && fc.fc_key == key &&
	    fc.fc_hit && fc.fc_gen != 0);
	forge_cert_clear(&fc);
	check_forged(ca, c[0], x[0], key, NID_ecdsa_with_SHA256, true);
	EVP_PKEY_free(key);
	y = get(f, c[0], &hit);
	CHECK(y == x[0] && hit);		/* same certificate, a new reference */
	X509_free(y);
	x[1] = get(f, c[1], &hit);
	CHECK(x[1] != NULL && x[1] != x[0] && !hit);
	x[2] = get(f, c[2], &hit);
	CHECK(x[2] != NULL && !hit);
	/* use order now c, b, a; touching a makes b the oldest */
	y = get(f, c[0], &hit);
	CHECK(y == x[0] && hit);
	X509_free(y);
	held = x[1];				/* caller still holds b's */
	x[3] = get(f, c[3], &hit);		/* evicts b */
	CHECK(x[3] != NULL && !hit);
	y = get(f, c[0], &hit);
	CHECK(y == x[0] && hit);
	X509_free(y);
	y = get(f, c[2], &hit);
	CHECK(y == x[2] && hit);
	X509_free(y);
	y = get(f, c[3], &hit);
	CHECK(y == x[3] && hit);
	X509_free(y);
	/* b is gone: a new certificate, and the held one is still intact */
	y = get(f, c[1], &hit);			/* evicts a (least recent) */
	CHECK(y != NULL && y != held && !hit);
	CHECK(X509_verify(held, X509_get0_pubkey(ca)) == 1);
	X509_free(held);
	x[1] = y;
	CHECK(forge_cached(f, sha[0], &fc) == 0);	/* a was evicted */
	y = get(f, c[0], &hit);
	CHECK(y != NULL && y != x[0] && !hit);
	X509_free(y);
	for (i = 0; i < 4; i++)
		X509_free(x[i]);
	forge_free(f);

	/* colliding buckets: digests equal in the bytes the table hashes */
	f = forge_new(ca, NULL, NULL, forge_sign_local, ca_key, 3);
	for (i = 0; i < 4; i++) {
		memset(sha[i], 0x5a, 32);
		sha[i][31] = (uint8_t)i;
	}
	for (i = 0; i < 3; i++) {
		x[i] = get_sha(f, c[i], sha[i], &hit, NULL, NULL);
		CHECK(x[i] != NULL && !hit);
	}
	for (i = 0; i < 3; i++) {
		y = get_sha(f, c[i], sha[i], &hit, NULL, NULL);
		CHECK(y == x[i] && hit);
		X509_free(y);
	}
	x[3] = get_sha(f, c[3], sha[3], &hit, NULL, NULL);	/* evicts sha[0] */
	CHECK(x[3] != NULL && !hit);
	y = get_sha(f, c[2], sha[2], &hit, NULL, NULL);
	CHECK(y == x[2] && hit);
	X509_free(y);
	y = get_sha(f, c[0], sha[0], &hit, NULL, NULL);		/* evicts sha[1] */
	CHECK(y != NULL && y != x[0] && !hit);
	X509_free(y);
	y = get_sha(f, c[3], sha[3], &hit, NULL, NULL);
	CHECK(y == x[3] && hit);
	X509_free(y);
	for (i = 0; i < 4; i++)
		X509_free(x[i]);
	forge_free(f);

	/* no cache at all */
	f = forge_new(ca, NULL, NULL, forge_sign_local, ca_key, 0);
	x[0] = get(f, c[0], &hit);
	y = get(f, c[0], &hit);
	CHECK(x[0] != NULL && y != NULL && x[0] != y && !hit);
	X509_free(x[0]);
	X509_free(y);
	forge_free(f);

	/* freeing a forge with entries, and a NULL one */
	f = forge_new(ca, NULL, NULL, forge_sign_local, ca_key, 100);
	for (i = 0; i < 5; i++) {
		y = get(f, c[i], &hit);
		X509_free(y);
	}
	forge_free(f);
	forge_free(NULL);

	for (i = 0; i < 5; i++)
		X509_free(c[i]);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

/* Re-minting late in the forged certificate's life, on a fake clock. */
static void
test_refresh(void)
{
	EVP_PKEY	*ca_key = EVP_EC_gen("P-256");
	X509		*ca = mk_ca("delegation CA (EC)", ca_key, false);
	X509		*lng, *shrt, *x1, *x2, *y;
	struct forge	*f = forge_new(ca, NULL, NULL, forge_sign_local, ca_key, 8);
	time_t		 t0 = time(NULL);
	bool		 hit;

	forge_set_clock(f, fake_clock);
	lng = mk_client(n_simple("long"), client_ec, NULL, 0, NULL,
	    t0 - DAY, t0 + 30 * DAY);
	shrt = mk_client(n_simple("short"), client_ec, NULL, 0, NULL,
	    t0 - DAY, t0 + 3600);

	fake_now = t0;
	x1 = get(f, lng, &hit);
	CHECK(x1 != NULL && !hit);
	CHECK(x1 != NULL && asn1_time(X509_get0_notBefore(x1)) == t0 - FORGE_BACKDATE);
	CHECK(x1 != NULL && asn1_time(X509_get0_notAfter(x1)) == t0 + FORGE_LIFETIME_DEFAULT);
	fake_now = t0 + FORGE_LIFETIME_DEFAULT / 2;
	y = get(f, lng, &hit);
	CHECK(y == x1 && hit);
	X509_free(y);
	/* past 90%: a new one, valid from now */
	fake_now = t0 + FORGE_LIFETIME_DEFAULT * 95 / 100;
	x2 = get(f, lng, &hit);
	CHECK(x2 != NULL && x2 != x1 && !hit);
	CHECK(x2 != NULL && asn1_time(X509_get0_notBefore(x2)) == fake_now - FORGE_BACKDATE);
	CHECK(x2 != NULL && ASN1_INTEGER_cmp(X509_get0_serialNumber(x1),
	    X509_get0_serialNumber(x2)) != 0);
	y = get(f, lng, &hit);
	CHECK(y == x2 && hit);
	X509_free(y);
	/* expired in the cache: a new one */
	fake_now = t0 + 3 * DAY;
	y = get(f, lng, &hit);
	CHECK(y != NULL && y != x2 && !hit);
	X509_free(y);
	X509_free(x1);
	X509_free(x2);

	/* capped by the client: past 90%, but a new one could not live
	 * longer, so the cached one serves until it expires */
	fake_now = t0;
	x1 = get(f, shrt, &hit);
	CHECK(x1 != NULL && !hit);
	CHECK(x1 != NULL && ASN1_TIME_compare(X509_get0_notAfter(x1),
	    X509_get0_notAfter(shrt)) == 0);
	fake_now = t0 + 3500;
	y = get(f, shrt, &hit);
	CHECK(y == x1 && hit);
	X509_free(y);
	/* the client certificate expired: nothing, and the entry is gone */
	fake_now = t0 + 3600;
	CHECK(get(f, shrt, &hit) == NULL && !hit);
	fake_now = t0;
	y = get(f, shrt, &hit);
	CHECK(y != NULL && y != x1 && !hit);
	X509_free(y);
	X509_free(x1);

	forge_set_clock(f, NULL);
	X509_free(shrt);
	X509_free(lng);
	forge_free(f);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

/* A resumable session as a TLS client would hold one: an ID, a time and a
 * lifetime. */
static SSL_SESSION *
mk_session(unsigned char id, time_t t, long timeout)
{
	SSL_SESSION	*s = SSL_SESSION_new();
	unsigned char	 sid[32];

	memset(sid, id, sizeof(sid));
	if (s == NULL || SSL_SESSION_set1_id(s, sid, sizeof(sid)) != 1 ||
	    SSL_SESSION_set_protocol_version(s, TLS1_2_VERSION) != 1)
		fatal("SSL_SESSION");
	SSL_SESSION_set_time(s, t);
	SSL_SESSION_set_timeout(s, timeout);
	return s;
}

static SSL_SESSION *
sess_get(struct forge *f, X509 *client, uint64_t gen, const uint8_t dest[32])
{
	uint8_t		 sha[32];

	sha_of(client, sha);
	return forge_session_get(f, sha, gen, dest);
}

static bool
is_current(struct forge *f, X509 *client, uint64_t gen)
{
	uint8_t		 sha[32];

	sha_of(client, sha);
	return forge_is_current(f, sha, gen);
}

static bool
sess_put(struct forge *f, X509 *client, uint64_t gen, const uint8_t dest[32], SSL_SESSION *s)
{
	uint8_t		 sha[32];

	sha_of(client, sha);
	return forge_session_put(f, sha, gen, dest, s);
}

/* The identity's generation, with its certificate minted or taken from
 * the cache (forge_get). */
static uint64_t
gen_of(struct forge *f, X509 *client, X509 **forged)
{
	uint8_t		 sha[32];
	uint64_t	 gen = 0;
	bool		 hit;
	X509		*x;

	sha_of(client, sha);
	x = get_sha(f, client, sha, &hit, &gen, NULL);
	if (forged != NULL)
		*forged = x;
	else
		X509_free(x);
	return gen;
}

/* Is s the session made by mk_session(id)?  Frees s. */
static bool
sess_is(SSL_SESSION *s, unsigned char id)
{
	unsigned int	 len = 0;
	const unsigned char *sid = s ? SSL_SESSION_get_id(s, &len) : NULL;
	bool		 yes = sid != NULL && len == 32 && sid[0] == id && sid[31] == id;

	SSL_SESSION_free(s);
	return yes;
}

/* Upstream sessions are kept per identity and destination, only while the
 * identity's generation (its forged certificate) is the current one. */
static void
test_sessions(void)
{
	EVP_PKEY	*ca_key = EVP_EC_gen("P-256");
	X509		*ca = mk_ca("delegation CA (EC)", ca_key, false);
	X509		*a, *b, *c, *xb, *y;
	SSL_SESSION	*s1, *s2, *got;
	struct forge	*f = forge_new(ca, NULL, NULL, forge_sign_local, ca_key, 2);
	uint8_t		 d1[32], d2[32], d[FORGE_SESSIONS + 1][32], sha[32];
	uint64_t	 ga, gb, gb2, gc;
	time_t		 t0 = time(NULL);
	int		 i;

	forge_set_clock(f, fake_clock);
	fake_now = t0;
	memset(d1, 1, sizeof(d1));
	memset(d2, 2, sizeof(d2));
	a = mk_client(n_simple("a"), client_ec, NULL, 0, NULL, t0 - DAY, t0 + 30 * DAY);
	b = mk_client(n_simple("b"), client_ec, NULL, 0, NULL, t0 - DAY, t0 + 30 * DAY);
	c = mk_client(n_simple("c"), client_ec, NULL, 0, NULL, t0 - DAY, t0 + 30 * DAY);
	ga = gen_of(f, a, NULL);
	gb = gen_of(f, b, &xb);

	CHECK(ga != 0 && gb != 0 && ga != gb);
	CHECK(is_current(f, a, ga) && is_current(f, b, gb));
	CHECK(!is_current(f, a, gb) && !is_current(f, b, ga) && !is_current(f, a, 0));
	CHECK(sess_get(f, a, ga, d1) == NULL);		/* nothing yet */
	s1 = mk_session(1, t0, 300);
	CHECK(sess_put(f, a, ga, d1, s1));		/* the cache owns s1 now */
	got = sess_get(f, a, ga, d1);
	CHECK(got != s1 && sess_is(got, 1));		/* a copy of it */
	CHECK(sess_is(sess_get(f, a, ga, d1), 1));	/* kept for reuse */
	CHECK(sess_get(f, a, ga, d2) == NULL);		/* another destination */
	CHECK(sess_get(f, b, gb, d1) == NULL);		/* another identity */
	CHECK(sess_get(f, b, ga, d1) == NULL);		/* a's generation, b's key */
	CHECK(sess_get(f, a, gb, d1) == NULL);		/* not a's generation */
	s2 = mk_session(2, t0, 300);
	CHECK(!sess_put(f, a, gb, d1, s2));		/* refused: the reference stays ours */
	CHECK(sess_put(f, a, ga, d1, s2));		/* newest replaces */
	CHECK(sess_is(sess_get(f, a, ga, d1), 2));

	/* FORGE_SESSIONS destinations per identity; one more takes the
	 * oldest slot */
	for (i = 0; i <= FORGE_SESSIONS; i++) {
		memset(d[i], 0x40 + i, sizeof(d[i]));
		CHECK(sess_put(f, b, gb, d[i], mk_session(0x40 + i, t0, 300)));
	}
	CHECK(sess_get(f, b, gb, d[0]) == NULL);
	for (i = 1; i <= FORGE_SESSIONS; i++)
		CHECK(sess_is(sess_get(f, b, gb, d[i]), 0x40 + i));

	/* expired: gone */
	fake_now = t0 + 301;
	CHECK(sess_get(f, a, ga, d1) == NULL);
	fake_now = t0;
	CHECK(sess_get(f, a, ga, d1) == NULL);

	/* the certificate evicted (cache of 2: a, b; c evicts the older) */
	CHECK(sess_put(f, a, ga, d1, mk_session(3, t0, 300)));
	CHECK(gen_of(f, a, NULL) == ga);		/* a is the newest now */
	gc = gen_of(f, c, NULL);			/* evicts b, and b's sessions */
	CHECK(gc != 0 && gc != ga && gc != gb);
	gb2 = gen_of(f, b, &y);
	CHECK(y != NULL && y != xb && gb2 != gb);
	CHECK(sess_get(f, b, gb2, d[1]) == NULL);
	CHECK(sess_get(f, b, gb, d[1]) == NULL);
	CHECK(is_current(f, b, gb2) && !is_current(f, b, gb));	/* re-minted */
	X509_free(y);
	CHECK(sess_get(f, a, ga, d1) == NULL);		/* a went when b came back */

	/* An identity whose upstream never asked for a certificate: its
	 * entry (forge_identity) keeps sessions all the same, and its
	 * certificate, minted later, joins the same generation. */
	sha_of(a, sha);
	ga = forge_identity(f, sha);			/* evicts c */
	CHECK(ga != 0 && is_current(f, a, ga) && !is_current(f, c, gc));
	CHECK(forge_identity(f, sha) == ga);		/* found again */
	CHECK(sess_put(f, a, ga, d2, mk_session(4, t0, 300)));
	CHECK(gen_of(f, a, NULL) == ga);		/* minted now, same generation */
	CHECK(sess_is(sess_get(f, a, ga, d2), 4));

	forge_set_clock(f, NULL);
	X509_free(xb);
	X509_free(a);
	X509_free(b);
	X509_free(c);
	forge_free(f);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

/* Verdicts on client chains: only for the chain that earned one, until it
 * lapses, while the certificate is cached. */
static void
test_verdicts(void)
{
	EVP_PKEY	*ca_key = EVP_EC_gen("P-256");
	X509		*ca = mk_ca("delegation CA (EC)", ca_key, false);
	X509		*a, *b, *xa, *xb;
	struct forge	*f = forge_new(ca, NULL, NULL, forge_sign_local, ca_key, 1);
	uint8_t		 sa[32], sb[32], ch1[32], ch2[32];
	unsigned int	 len;
	time_t		 t0 = time(NULL);
	bool		 hit;

	forge_set_clock(f, fake_clock);
	fake_now = t0;
	memset(ch1, 1, sizeof(ch1));
	memset(ch2, 2, sizeof(ch2));
	a = mk_client(n_simple("a"), client_ec, NULL, 0, NULL, t0 - DAY, t0 + 30 * DAY);
	b = mk_client(n_simple("b"), client_ec, NULL, 0, NULL, t0 - DAY, t0 + 30 * DAY);
	X509_digest(a, EVP_sha256(), sa, &len);
	X509_digest(b, EVP_sha256(), sb, &len);

	forge_verified_put(f, sa, ch1, t0 + 60);	/* not cached: not kept */
	CHECK(!forge_verified_get(f, sa, ch1));
	xa = get(f, a, &hit);
	CHECK(!forge_verified_get(f, sa, ch1));		/* cached, no verdict yet */
	forge_verified_put(f, sa, ch1, t0 + 60);
	CHECK(forge_verified_get(f, sa, ch1));
	CHECK(!forge_verified_get(f, sa, ch2));		/* another chain */
	CHECK(!forge_verified_get(f, sb, ch1));		/* another certificate */
	fake_now = t0 + 59;
	CHECK(forge_verified_get(f, sa, ch1));
	fake_now = t0 + 60;
	CHECK(!forge_verified_get(f, sa, ch1));		/* lapsed */
	fake_now = t0;
	forge_verified_put(f, sa, ch2, t0 + 60);	/* the newest chain replaces */
	CHECK(forge_verified_get(f, sa, ch2) && !forge_verified_get(f, sa, ch1));
	xb = get(f, b, &hit);				/* a's entry evicted (cache of 1) */
	CHECK(!forge_verified_get(f, sa, ch2));
	X509_free(xb);
	xb = get(f, a, &hit);				/* minted anew: no verdict */
	CHECK(!hit && !forge_verified_get(f, sa, ch2));

	forge_set_clock(f, NULL);
	X509_free(xa);
	X509_free(xb);
	X509_free(a);
	X509_free(b);
	forge_free(f);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

/* ---- the forging policy (--forge-*) ---- */

/* A client certificate of the client CA with the extensions given as
 * OpenSSL config text, plus raw ones; cn NULL: an empty subject. */
struct ext {
	int		 nid;
	const char	*value;
};

static X509 *
mk_rich(const char *cn, const char *serial, const struct ext *exts, X509_EXTENSION **raw,
    int nraw)
{
	X509		*x = X509_new();
	X509_NAME	*n = cn != NULL ? n_simple(cn) : X509_NAME_new();
	BIGNUM		*bn = NULL;
	time_t		 now = time(NULL);

	if (x == NULL || n == NULL)
		fatal("X509_new");
	X509_set_version(x, X509_VERSION_3);
	if (BN_hex2bn(&bn, serial != NULL ? serial : "4711") == 0 ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		fatal("serial");
	BN_free(bn);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, X509_get_subject_name(client_ca));
	ASN1_TIME_set(X509_getm_notBefore(x), now - DAY);
	ASN1_TIME_set(X509_getm_notAfter(x), now + 30 * DAY);
	X509_set_pubkey(x, client_ec);
	for (; exts != NULL && exts->value != NULL; exts++)
		add_ext(x, client_ca, exts->nid, exts->value);
	for (int i = 0; i < nraw; i++)
		if (X509_add_ext(x, raw[i], -1) != 1)
			fatal("X509_add_ext");
	if (X509_sign(x, client_ca_key, EVP_sha256()) <= 0)
		fatal("X509_sign");
	X509_NAME_free(n);
	return reparse(x);
}

/* A non-critical or critical extension under a private OID, holding the
 * UTF8String `text`. */
static X509_EXTENSION *
mk_private_ext(const char *oid, int crit, const char *text)
{
	unsigned char	 der[64];
	size_t		 len = strlen(text);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	ASN1_OBJECT	*obj = OBJ_txt2obj(oid, 1);
	X509_EXTENSION	*ext;

	if (os == NULL || obj == NULL || len > sizeof(der) - 2)
		fatal("private extension");
	der[0] = 0x0c;				/* UTF8String */
	der[1] = (unsigned char)len;
	memcpy(der + 2, text, len);
	if (ASN1_OCTET_STRING_set(os, der, (int)len + 2) != 1 ||
	    (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, crit, os)) == NULL)
		fatal("X509_EXTENSION_create_by_OBJ");
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	return ext;
}

/* A critical certificatePolicies with one policy (OpenSSL's config text
 * for it needs a config database). */
static X509_EXTENSION *
mk_policies(const char *oid)
{
	CERTIFICATEPOLICIES	*cp = sk_POLICYINFO_new_null();
	POLICYINFO		*pi = POLICYINFO_new();
	X509_EXTENSION		*ext;

	if (cp == NULL || pi == NULL || (pi->policyid = OBJ_txt2obj(oid, 1)) == NULL ||
	    sk_POLICYINFO_push(cp, pi) <= 0 ||
	    (ext = X509V3_EXT_i2d(NID_certificate_policies, 1, cp)) == NULL)
		fatal("certificatePolicies");
	sk_POLICYINFO_pop_free(cp, POLICYINFO_free);
	return ext;
}

/* The extension of x under OID txt, NULL if none. */
static X509_EXTENSION *
ext_of(X509 *x, const char *txt)
{
	ASN1_OBJECT	*obj = OBJ_txt2obj(txt, 0);
	int		 i = obj != NULL ? X509_get_ext_by_OBJ(x, obj, -1) : -1;

	ASN1_OBJECT_free(obj);
	return i >= 0 ? X509_get_ext(x, i) : NULL;
}

/* Is extension `txt` of fx the client's own, byte for byte? */
static bool
same_ext(X509 *client, X509 *fx, const char *txt)
{
	X509_EXTENSION	*ce = ext_of(client, txt), *fe = ext_of(fx, txt);

	return ce != NULL && fe != NULL &&
	    ASN1_OCTET_STRING_cmp(X509_EXTENSION_get_data(ce), X509_EXTENSION_get_data(fe)) == 0 &&
	    X509_EXTENSION_get_critical(ce) == X509_EXTENSION_get_critical(fe);
}

static int
crit_of(X509 *x, const char *txt)
{
	X509_EXTENSION	*e = ext_of(x, txt);

	return e != NULL ? X509_EXTENSION_get_critical(e) : -1;
}

/* The EKU purposes of x as NIDs, in order, into nids (at most 8); how many. */
static int
eku_of(X509 *x, int *nids)
{
	EXTENDED_KEY_USAGE	*eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	int			 n = 0;

	for (int i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku) && n < 8; i++)
		nids[n++] = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return n;
}

static bool
verify_with(X509 *trust, STACK_OF(X509) *untrusted, X509 *leaf, int *err)
{
	X509_STORE	*st = X509_STORE_new();
	X509_STORE_CTX	*ctx = X509_STORE_CTX_new();
	int		 rc;

	if (st == NULL || ctx == NULL || X509_STORE_add_cert(st, trust) != 1 ||
	    X509_STORE_CTX_init(ctx, st, leaf, untrusted) != 1)
		fatal("store");
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	rc = X509_verify_cert(ctx);
	*err = X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return rc == 1;
}

/* A forge of the EC test CA with policy p (NULL: defaults). */
static struct forge *
forge_with(X509 *ca, EVP_PKEY *ca_key, const struct forge_policy *p, size_t cache)
{
	struct forge	*f = forge_new(ca, NULL, p, forge_sign_local, ca_key, cache);

	if (f == NULL)
		fatal("forge_new");
	return f;
}

static const struct ext rich_exts[] = {
	{ NID_basic_constraints, "critical,CA:FALSE" },
	{ NID_key_usage, "digitalSignature,nonRepudiation,keyEncipherment,keyAgreement" },
	{ NID_ext_key_usage, "critical,clientAuth,serverAuth,emailProtection,codeSigning" },
	{ NID_subject_key_identifier, "hash" },
	{ NID_authority_key_identifier, "keyid" },
	{ NID_info_access, "OCSP;URI:http://ocsp.example.org/" },
	{ NID_crl_distribution_points, "URI:http://crl.example.org/client-ca.crl" },
	{ NID_subject_alt_name, "URI:spiffe://example.org/rich,DNS:rich.example.org" },
	{ 0, NULL },
};

/* Which extensions are copied, and how the copied usages are made fit
 * for a client certificate. */
static void
test_policy_extensions(void)
{
	EVP_PKEY		*ca_key = EVP_EC_gen("P-256"), *key;
	X509			*ca = mk_ca("delegation CA (EC)", ca_key, false);
	X509_EXTENSION		*raw[2] = { mk_private_ext("1.3.6.1.4.1.99999.7", 0, "abc"),
				    mk_policies("1.3.6.1.4.1.99999.1.2") };
	X509			*rich, *bare, *odd, *nameless, *fx;
	struct forge_policy	 p;
	struct forge		*f;
	int			 nids[8], n, err;
	const ASN1_OCTET_STRING	*ski;
	static const struct ext bare_exts[] = {
		{ NID_subject_alt_name, "URI:spiffe://example.org/bare" },
		{ 0, NULL },
	};
	static const struct ext odd_exts[] = {
		{ NID_key_usage, "critical,digitalSignature,keyCertSign" },
		{ NID_ext_key_usage, "emailProtection,anyExtendedKeyUsage" },
		{ 0, NULL },
	};
	static const struct ext nameless_exts[] = {
		{ NID_subject_alt_name, "critical,URI:spiffe://example.org/nameless" },
		{ 0, NULL },
	};

	rich = mk_rich("rich", NULL, rich_exts, raw, 2);
	bare = mk_rich("bare", NULL, bare_exts, NULL, 0);
	odd = mk_rich("odd", NULL, odd_exts, NULL, 0);
	nameless = mk_rich(NULL, NULL, nameless_exts, NULL, 0);

	/* The default: basicConstraints, keyUsage, extendedKeyUsage and
	 * subjectAltName copied (P-256 key: no keyEncipherment). */
	f = forge_with(ca, ca_key, NULL, 0);
	fx = forge_mint(f, rich, &key);
	CHECK(fx != NULL && key != NULL);
	CHECK(verify_with(ca, NULL, fx, &err) && err == X509_V_OK);
	CHECK(crit_of(fx, "basicConstraints") == 1);
	CHECK((X509_get_extension_flags(fx) & EXFLAG_CA) == 0 && X509_check_ca(fx) == 0);
	CHECK(crit_of(fx, "keyUsage") == 0);		/* the client's criticality */
	CHECK(X509_get_key_usage(fx) == (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION |
	    KU_KEY_AGREEMENT));
	CHECK(crit_of(fx, "extendedKeyUsage") == 1);
	n = eku_of(fx, nids);				/* serverAuth, codeSigning gone */
	CHECK(n == 2 && nids[0] == NID_client_auth && nids[1] == NID_email_protect);
	CHECK(same_ext(rich, fx, "subjectAltName"));
	CHECK(ext_of(fx, "certificatePolicies") == NULL);
	CHECK(ext_of(fx, "1.3.6.1.4.1.99999.7") == NULL);
	CHECK(ext_of(fx, "authorityInfoAccess") == NULL);
	CHECK(ext_of(fx, "crlDistributionPoints") == NULL);
	ski = X509_get0_subject_key_id(fx);
	CHECK(ski != NULL && ASN1_OCTET_STRING_cmp(ski, X509_get0_subject_key_id(rich)) != 0);
	CHECK(X509_get0_authority_key_id(fx) != NULL && ASN1_OCTET_STRING_cmp(
	    X509_get0_authority_key_id(fx), X509_get0_subject_key_id(ca)) == 0);
	CHECK(X509_get_ext_count(fx) == 6);
	X509_free(fx);
	EVP_PKEY_free(key);

	/* A client without basicConstraints, keyUsage or EKU: ours. */
	fx = forge_mint(f, bare, NULL);
	CHECK(fx != NULL && crit_of(fx, "basicConstraints") == 1 && crit_of(fx, "keyUsage") == 1 &&
	    X509_get_key_usage(fx) == KU_DIGITAL_SIGNATURE && crit_of(fx, "extendedKeyUsage") == 0);
	CHECK(eku_of(fx, nids) == 1 && nids[0] == NID_client_auth);
	CHECK(same_ext(bare, fx, "subjectAltName") && X509_get_ext_count(fx) == 6);
	X509_free(fx);

	/* keyCertSign never, anyExtendedKeyUsage never, clientAuth always
	 * (first, when the client's had none). */
	fx = forge_mint(f, odd, NULL);
	CHECK(fx != NULL && X509_get_key_usage(fx) == KU_DIGITAL_SIGNATURE);
	CHECK(crit_of(fx, "keyUsage") == 1);
	n = eku_of(fx, nids);
	CHECK(n == 2 && nids[0] == NID_client_auth && nids[1] == NID_email_protect);
	CHECK(verify_with(ca, NULL, fx, &err));
	X509_free(fx);
	forge_free(f);

	/* What the key type can stand for: RSA keeps keyEncipherment,
	 * Ed25519 only signs. */
	forge_policy_init(&p);
	CHECK(forge_policy_set_key_type(&p, "rsa2048") == 0);
	f = forge_with(ca, ca_key, &p, 0);
	fx = forge_mint(f, rich, NULL);
	CHECK(fx != NULL && X509_get_key_usage(fx) == (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION |
	    KU_KEY_ENCIPHERMENT));
	X509_free(fx);
	forge_free(f);
	CHECK(forge_policy_set_key_type(&p, "ed25519") == 0);
	f = forge_with(ca, ca_key, &p, 0);
	fx = forge_mint(f, rich, NULL);
	CHECK(fx != NULL && X509_get_key_usage(fx) == (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION));
	CHECK(verify_with(ca, NULL, fx, &err));
	X509_free(fx);
	forge_free(f);

	/* "none": nothing of the client's but its subject - and its SAN
	 * when the subject is empty. */
	forge_policy_init(&p);
	CHECK(forge_policy_set_extensions(&p, "none") == 0 && p.fp_copy == 0);
	f = forge_with(ca, ca_key, &p, 0);
	fx = forge_mint(f, rich, NULL);
	CHECK(fx != NULL && ext_of(fx, "subjectAltName") == NULL && X509_get_ext_count(fx) == 5);
	CHECK(crit_of(fx, "basicConstraints") == 1 && crit_of(fx, "keyUsage") == 1 &&
	    X509_get_key_usage(fx) == KU_DIGITAL_SIGNATURE && crit_of(fx, "extendedKeyUsage") == 0);
	CHECK(eku_of(fx, nids) == 1 && nids[0] == NID_client_auth);
	X509_free(fx);
	fx = forge_mint(f, nameless, NULL);
	CHECK(fx != NULL && same_ext(nameless, fx, "subjectAltName"));
	CHECK(verify_with(ca, NULL, fx, &err));
	X509_free(fx);
	forge_free(f);

	/* Further extensions, by name and by OID, copied as they are; one
	 * the client does not have is simply not there. */
	CHECK(forge_policy_set_extensions(&p, "subjectAltName, certificatePolicies") == 0);
	CHECK(p.fp_copy == FORGE_COPY_SAN && p.fp_noids == 1);
	CHECK(forge_policy_add_oid(&p, "1.3.6.1.4.1.99999.7") == 0);
	CHECK(forge_policy_add_oid(&p, "1.3.6.1.4.1.99999.8") == 0);
	CHECK(forge_policy_add_oid(&p, "1.3.6.1.4.1.99999.7") == 0 && p.fp_noids == 3);
	f = forge_with(ca, ca_key, &p, 0);
	fx = forge_mint(f, rich, NULL);
	CHECK(fx != NULL && same_ext(rich, fx, "certificatePolicies"));
	CHECK(crit_of(fx, "certificatePolicies") == 1);
	CHECK(same_ext(rich, fx, "1.3.6.1.4.1.99999.7") && crit_of(fx, "1.3.6.1.4.1.99999.7") == 0);
	CHECK(ext_of(fx, "1.3.6.1.4.1.99999.8") == NULL);
	CHECK(same_ext(rich, fx, "subjectAltName") && X509_get_ext_count(fx) == 8);
	CHECK(crit_of(fx, "keyUsage") == 1 && X509_get_key_usage(fx) == KU_DIGITAL_SIGNATURE);
	CHECK(verify_with(ca, NULL, fx, &err));
	X509_free(fx);
	forge_free(f);
	forge_policy_free(&p);

	X509_free(rich);
	X509_free(bare);
	X509_free(odd);
	X509_free(nameless);
	X509_EXTENSION_free(raw[0]);
	X509_EXTENSION_free(raw[1]);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

/* The flags' values: what is taken, what is refused (with a message), and
 * a refused value leaves the policy as it was. */
static void
test_policy_parse(void)
{
	struct forge_policy	 p, q;

	fprintf(stderr, "(policy errors expected)\n");
	forge_policy_init(&p);
	CHECK(p.fp_copy == FORGE_COPY_DEFAULT && p.fp_lifetime == FORGE_LIFETIME_DEFAULT &&
	    p.fp_serial == FORGE_SERIAL_RANDOM && p.fp_key_type == FORGE_KEY_P256 &&
	    p.fp_key_reuse == FORGE_REUSE_WORKER && !p.fp_origin);
	CHECK(forge_policy_set_extensions(&p, "authorityKeyIdentifier") == -1);
	CHECK(forge_policy_set_extensions(&p, "subjectAltName,subjectKeyIdentifier") == -1);
	CHECK(forge_policy_set_extensions(&p, "crlDistributionPoints") == -1);
	CHECK(forge_policy_set_extensions(&p, "authorityInfoAccess") == -1);
	CHECK(forge_policy_set_extensions(&p, "2.5.29.35") == -1);	/* AKI by OID */
	CHECK(forge_policy_set_extensions(&p, "nameConstraints") == -1);
	CHECK(forge_policy_set_extensions(&p, "no such extension") == -1);
	CHECK(forge_policy_set_extensions(&p, "keyUsage,,subjectAltName") == -1);
	CHECK(forge_policy_set_extensions(&p, FORGE_ORIGIN_OID) == -1);
	CHECK(forge_policy_add_oid(&p, "issuerAltName") == -1);
	CHECK(p.fp_copy == FORGE_COPY_DEFAULT && p.fp_noids == 0);
	CHECK(forge_policy_set_extensions(&p, "keyUsage, 2.5.29.17") == 0);
	CHECK(p.fp_copy == (FORGE_COPY_KU | FORGE_COPY_SAN) && p.fp_noids == 0);
	CHECK(forge_policy_set_extensions(&p, "basicConstraints,extendedKeyUsage,1.2.3.4") == 0);
	CHECK(p.fp_copy == (FORGE_COPY_BC | FORGE_COPY_EKU) && p.fp_noids == 1);
	for (int i = 0; i < FORGE_OIDS_MAX - 1; i++) {
		char oid[48];

		snprintf(oid, sizeof(oid), "1.3.6.1.4.1.99999.100.%d", i);
		CHECK(forge_policy_add_oid(&p, oid) == 0);
	}
	CHECK(p.fp_noids == FORGE_OIDS_MAX);
	CHECK(forge_policy_add_oid(&p, "1.3.6.1.4.1.99999.200") == -1);
	/* a copy owns its own OIDs */
	CHECK(forge_policy_copy(&q, &p) == 0 && q.fp_noids == p.fp_noids &&
	    q.fp_oids[0] != p.fp_oids[0] && OBJ_cmp(q.fp_oids[0], p.fp_oids[0]) == 0);
	/* equal: what a reload compares to keep or replace the forge */
	CHECK(forge_policy_equal(&p, &q) && forge_policy_equal(&q, &p));
	CHECK(forge_policy_set_lifetime(&q, "2h") == 0 && !forge_policy_equal(&p, &q));
	CHECK(forge_policy_set_lifetime(&q, "24h") == 0 && forge_policy_equal(&p, &q));
	ASN1_OBJECT_free(q.fp_oids[q.fp_noids - 1]);
	CHECK((q.fp_oids[q.fp_noids - 1] = OBJ_txt2obj("1.3.6.1.4.1.99999.300", 1)) != NULL &&
	    !forge_policy_equal(&p, &q));
	CHECK(forge_policy_set_origin_oid(&q, "1.3.6.1.4.1.99999.7") == 0 &&
	    !forge_policy_equal(&p, &q));
	forge_policy_free(&q);
	CHECK(forge_policy_set_extensions(&p, "none") == 0 && p.fp_copy == 0 && p.fp_noids == 0);

	CHECK(forge_policy_set_lifetime(&p, "3600") == 0 && p.fp_lifetime == 3600);
	CHECK(forge_policy_set_lifetime(&p, "90m") == 0 && p.fp_lifetime == 5400);
	CHECK(forge_policy_set_lifetime(&p, "2d") == 0 && p.fp_lifetime == 2 * DAY);
	CHECK(forge_policy_set_lifetime(&p, "60s") == 0 && p.fp_lifetime == 60);
	CHECK(forge_policy_set_lifetime(&p, "7d") == 0 && p.fp_lifetime == 7 * DAY);
	CHECK(forge_policy_set_lifetime(&p, "59") == -1 && forge_policy_set_lifetime(&p, "8d") == -1);
	CHECK(forge_policy_set_lifetime(&p, "1x") == -1 && forge_policy_set_lifetime(&p, "-5") == -1);
	CHECK(forge_policy_set_lifetime(&p, "") == -1 && forge_policy_set_lifetime(&p, "h") == -1);
	CHECK(forge_policy_set_lifetime(&p, "99999999999999999999d") == -1);
	CHECK(p.fp_lifetime == 7 * DAY);

	CHECK(forge_policy_set_serial(&p, "copy") == 0 && p.fp_serial == FORGE_SERIAL_COPY);
	CHECK(forge_policy_set_serial(&p, "sequential") == -1 && p.fp_serial == FORGE_SERIAL_COPY);
	CHECK(forge_policy_set_serial(&p, "random") == 0 && p.fp_serial == FORGE_SERIAL_RANDOM);

	for (int t = FORGE_KEY_P256; t <= FORGE_KEY_ED25519; t++) {
		CHECK(forge_policy_set_key_type(&p, forge_key_type_name(t)) == 0);
		CHECK(p.fp_key_type == (enum forge_key_type)t);
	}
	CHECK(forge_policy_set_key_type(&p, "p521") == -1 && p.fp_key_type == FORGE_KEY_ED25519);

	CHECK(forge_policy_set_key_reuse(&p, "identity") == 0 &&
	    p.fp_key_reuse == FORGE_REUSE_IDENTITY);
	CHECK(forge_policy_set_key_reuse(&p, "pool") == 0 && p.fp_key_reuse == FORGE_REUSE_POOL &&
	    p.fp_pool_size == 16);
	CHECK(forge_policy_set_key_reuse(&p, "pool:3") == 0 && p.fp_pool_size == 3);
	CHECK(forge_policy_set_key_reuse(&p, "pool:0") == -1);
	CHECK(forge_policy_set_key_reuse(&p, "pool:1025") == -1);
	CHECK(forge_policy_set_key_reuse(&p, "pool:") == -1);
	CHECK(forge_policy_set_key_reuse(&p, "pools") == -1);
	CHECK(forge_policy_set_key_reuse(&p, "everybody") == -1);
	CHECK(p.fp_key_reuse == FORGE_REUSE_POOL && p.fp_pool_size == 3);
	CHECK(forge_policy_set_key_reuse(&p, "worker") == 0 && p.fp_key_reuse == FORGE_REUSE_WORKER);

	CHECK(forge_policy_set_origin_oid(&p, "2.5.29.17") == -1);	/* a known one */
	CHECK(forge_policy_set_origin_oid(&p, "origin") == -1 && !p.fp_origin);
	CHECK(forge_policy_set_origin_oid(&p, "1.3.6.1.4.1.99999.42") == 0 && p.fp_origin);
	CHECK(forge_policy_add_oid(&p, "1.3.6.1.4.1.99999.42") == -1);	/* ours now */
	forge_policy_free(&p);
	forge_policy_free(&p);			/* twice is harmless */
}

/* --forge-lifetime: exactly that long from the backdated notBefore, never
 * past the client's notAfter, re-minted after 90% of it. */
static void
test_policy_lifetime(void)
{
	EVP_PKEY		*ca_key = EVP_EC_gen("P-256");
	X509			*ca = mk_ca("delegation CA (EC)", ca_key, false);
	X509			*lng, *shrt, *x1, *y;
	struct forge_policy	 p;
	struct forge		*f;
	time_t			 t0 = time(NULL);
	bool			 hit;

	forge_policy_init(&p);
	CHECK(forge_policy_set_lifetime(&p, "1h") == 0);
	f = forge_with(ca, ca_key, &p, 8);
	forge_set_clock(f, fake_clock);
	lng = mk_client(n_simple("long"), client_ec, NULL, 0, NULL, t0 - DAY, t0 + 30 * DAY);
	shrt = mk_client(n_simple("short"), client_ec, NULL, 0, NULL, t0 - DAY, t0 + 1800);

	fake_now = t0;
	x1 = get(f, lng, &hit);
	CHECK(x1 != NULL && !hit);
	CHECK(x1 != NULL && asn1_time(X509_get0_notBefore(x1)) == t0 - FORGE_BACKDATE);
	CHECK(x1 != NULL && asn1_time(X509_get0_notAfter(x1)) == t0 + 3600);
	/* 3900 s of life in all (backdate included): 90% is 3510 s in */
	fake_now = t0 - FORGE_BACKDATE + 3500;
	y = get(f, lng, &hit);
	CHECK(y == x1 && hit);
	X509_free(y);
	fake_now = t0 - FORGE_BACKDATE + 3520;
	y = get(f, lng, &hit);
	CHECK(y != NULL && y != x1 && !hit);
	CHECK(y != NULL && asn1_time(X509_get0_notAfter(y)) == fake_now + 3600);
	X509_free(y);
	X509_free(x1);

	fake_now = t0;
	x1 = get(f, shrt, &hit);
	CHECK(x1 != NULL && asn1_time(X509_get0_notAfter(x1)) == t0 + 1800);
	X509_free(x1);
	forge_free(f);

	/* longer than the default: 3 days */
	CHECK(forge_policy_set_lifetime(&p, "3d") == 0);
	f = forge_with(ca, ca_key, &p, 8);
	x1 = forge_mint(f, lng, NULL);
	CHECK(x1 != NULL && asn1_time(X509_get0_notAfter(x1)) >= time(NULL) + 3 * DAY - 5 &&
	    asn1_time(X509_get0_notAfter(x1)) <= time(NULL) + 3 * DAY);
	X509_free(x1);
	forge_free(f);

	forge_policy_free(&p);
	X509_free(lng);
	X509_free(shrt);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

/* --forge-serial copy: the client's serial, except one RFC 5280 forbids. */
static void
test_policy_serial(void)
{
	EVP_PKEY		*ca_key = EVP_EC_gen("P-256");
	X509			*ca = mk_ca("delegation CA (EC)", ca_key, false);
	struct forge_policy	 p;
	struct forge		*f;
	static const struct {
		const char	*serial;
		bool		 copied;
	} cases[] = {
		{ "0123456789ABCDEF", true },
		{ "01", true },
		{ "80112233445566778899AABBCCDDEEFF", true },	/* DER: leading 00 */
		{ "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", true },	/* 20 octets */
		{ "80FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", false },	/* 21 octets */
		{ "00", false },
		{ "-05", false },
	};

	forge_policy_init(&p);
	CHECK(forge_policy_set_serial(&p, "copy") == 0);
	f = forge_with(ca, ca_key, &p, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509	*c = mk_rich("serial", cases[i].serial, NULL, NULL, 0);
		X509	*fx = forge_mint(f, c, NULL);
		BIGNUM	*bn = fx != NULL ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(fx), NULL) : NULL;
		int	 err;

		CHECK(fx != NULL);
		if (fx == NULL) {
			X509_free(c);
			continue;
		}
		CHECK((ASN1_INTEGER_cmp(X509_get0_serialNumber(fx), X509_get0_serialNumber(c)) == 0) ==
		    cases[i].copied);
		CHECK(bn != NULL && !BN_is_negative(bn) && !BN_is_zero(bn) && BN_num_bits(bn) <= 159);
		CHECK(verify_with(ca, NULL, fx, &err));
		BN_free(bn);
		X509_free(fx);
		X509_free(c);
	}
	forge_free(f);
	forge_policy_free(&p);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

/* ---- presenting forged certificates over TLS, as conn.c does ---- */

static X509	*tls_srv_cert;
static EVP_PKEY	*tls_srv_key;

struct tls_probe {
	struct forge	*tp_forge;
	X509		*tp_client;
	int		 tp_calls;	/* how often the cert callback ran */
	bool		 tp_hit;
};

/* The client's certificate callback: OpenSSL calls it when the server
 * sends a CertificateRequest, and only then. */
static int
tls_probe_cert(SSL *ssl, void *arg)
{
	struct tls_probe	*tp = arg;
	struct forge_cert	 fc;
	uint8_t			 sha[32];
	int			 ok;

	tp->tp_calls++;
	sha_of(tp->tp_client, sha);
	if (forge_get(tp->tp_forge, tp->tp_client, sha, &fc) == -1)
		return 0;
	tp->tp_hit = fc.fc_hit;
	ok = forge_use(tp->tp_forge, ssl, &fc) == 0;
	forge_cert_clear(&fc);
	return ok;
}

/*
 * One TLS handshake in memory at `version`: the server asks for a client
 * certificate and verifies it against `trust` (NULL: it asks for none);
 * the client presents what tp's forge gives.  True if both sides finished;
 * *peer (if not NULL) gets what the server received, *chain_len how many
 * certificates came after it.
 */
static bool
tls_run(struct tls_probe *tp, X509 *trust, int version, X509 **peer, int *chain_len)
{
	SSL_CTX	*sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
	SSL	*s, *c;
	BIO	*sb, *cb;
	bool	 sdone = false, cdone = false, failed = false;

	if (sctx == NULL || cctx == NULL ||
	    SSL_CTX_use_certificate(sctx, tls_srv_cert) != 1 ||
	    SSL_CTX_use_PrivateKey(sctx, tls_srv_key) != 1)
		fatal("SSL_CTX");
	if (trust != NULL) {
		if (X509_STORE_add_cert(SSL_CTX_get_cert_store(sctx), trust) != 1)
			fatal("X509_STORE_add_cert");
		SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	SSL_CTX_set_min_proto_version(cctx, version);
	SSL_CTX_set_max_proto_version(cctx, version);
	if ((s = SSL_new(sctx)) == NULL || (c = SSL_new(cctx)) == NULL ||
	    BIO_new_bio_pair(&sb, 0, &cb, 0) != 1)
		fatal("SSL_new");
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	SSL_set_cert_cb(c, tls_probe_cert, tp);
	for (int i = 0; i < 64 && !(sdone && cdone) && !failed; i++) {
		int r, e;

		if (!cdone) {
			if ((r = SSL_do_handshake(c)) == 1)
				cdone = true;
			else if ((e = SSL_get_error(c, r)) != SSL_ERROR_WANT_READ &&
			    e != SSL_ERROR_WANT_WRITE)
				failed = true;
		}
		if (!sdone && !failed) {
			if ((r = SSL_do_handshake(s)) == 1)
				sdone = true;
			else if ((e = SSL_get_error(s, r)) != SSL_ERROR_WANT_READ &&
			    e != SSL_ERROR_WANT_WRITE)
				failed = true;
		}
	}
	/* TLS 1.3: the client is done before the server has judged it */
	failed |= sdone && SSL_get_verify_result(s) != X509_V_OK;
	if (peer != NULL)
		*peer = SSL_get1_peer_certificate(s);
	if (chain_len != NULL) {
		STACK_OF(X509) *sent = SSL_get_peer_cert_chain(s);	/* server side: no leaf */

		*chain_len = sent != NULL ? sk_X509_num(sent) : -1;
	}
	ERR_clear_error();
	SSL_free(s);
	SSL_free(c);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	return sdone && cdone && !failed;
}

/* Each key type makes a certificate whose key matches, that a strict
 * verifier and a TLS server (1.2 and 1.3) accept; a server that asks for
 * no certificate gets none and costs no mint. */
static void
test_key_types(void)
{
	EVP_PKEY		*ca_key = EVP_EC_gen("P-256"), *key;
	X509			*ca = mk_ca("delegation CA (EC)", ca_key, false);
	X509			*client, *fx, *peer;
	struct forge_policy	 p;
	struct tls_probe	 tp = { 0 };
	static const struct {
		const char	*type;
		const char	*name;
		int		 bits;
	} types[] = {
		{ "p256", "EC", 256 }, { "p384", "EC", 384 }, { "rsa2048", "RSA", 2048 },
		{ "rsa3072", "RSA", 3072 }, { "ed25519", "ED25519", 0 },
	};
	static const int versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };
	int			 err, len;

	client = mk_client(n_simple("keys"), client_rsa, san_rich(), 0, NULL,
	    time(NULL) - DAY, time(NULL) + 30 * DAY);
	forge_policy_init(&p);
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		CHECK(forge_policy_set_key_type(&p, types[t].type) == 0);
		tp.tp_forge = forge_with(ca, ca_key, &p, 4);
		tp.tp_client = client;

		fx = forge_mint(tp.tp_forge, client, &key);
		CHECK(fx != NULL && key != NULL);
		CHECK(fx != NULL && X509_check_private_key(fx, key) == 1);
		CHECK(EVP_PKEY_is_a(X509_get0_pubkey(fx), types[t].name) && (types[t].bits == 0 ||
		    EVP_PKEY_get_bits(X509_get0_pubkey(fx)) == types[t].bits));
		CHECK(verify_with(ca, NULL, fx, &err) && err == X509_V_OK);
		X509_free(fx);
		EVP_PKEY_free(key);

		for (size_t v = 0; v < 2; v++) {
			tp.tp_calls = 0;
			peer = NULL;
			CHECK(tls_run(&tp, ca, versions[v], &peer, &len));
			if (tp.tp_calls != 1 || peer == NULL)
				fprintf(stderr, "  %s over %s: %d cert callbacks\n", types[t].type,
				    versions[v] == TLS1_2_VERSION ? "TLS 1.2" : "TLS 1.3", tp.tp_calls);
			CHECK(tp.tp_calls == 1 && tp.tp_hit == (v == 1) && len == 0);
			CHECK(peer != NULL && EVP_PKEY_is_a(X509_get0_pubkey(peer), types[t].name) &&
			    X509_NAME_cmp(X509_get_subject_name(peer),
			    X509_get_subject_name(client)) == 0);
			X509_free(peer);

			/* lazy: no CertificateRequest, no callback, no mint */
			tp.tp_calls = 0;
			CHECK(tls_run(&tp, NULL, versions[v], &peer, NULL));
			CHECK(tp.tp_calls == 0 && peer == NULL);
		}
		forge_free(tp.tp_forge);
	}
	forge_policy_free(&p);
	X509_free(client);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

/* --forge-key-reuse: one key for all (worker), one per identity, or a
 * pool handed out in turn. */
static void
test_key_reuse(void)
{
	EVP_PKEY		*ca_key = EVP_EC_gen("P-256");
	X509			*ca = mk_ca("delegation CA (EC)", ca_key, false);
	X509			*c[4], *x;
	EVP_PKEY		*k[4], *again, *k2;
	struct forge_policy	 p;
	struct forge		*f;
	uint8_t			 sha[32];
	time_t			 t0 = time(NULL);
	bool			 hit;
	int			 i;

	for (i = 0; i < 4; i++) {
		char cn[16];

		snprintf(cn, sizeof(cn), "k%d", i);
		c[i] = mk_client(n_simple(cn), client_ec, NULL, 0, NULL, t0 - DAY, t0 + 30 * DAY);
	}
	forge_policy_init(&p);

	/* worker: everybody the same key */
	f = forge_with(ca, ca_key, &p, 8);
	for (i = 0; i < 3; i++) {
		sha_of(c[i], sha);
		X509_free(get_sha(f, c[i], sha, &hit, NULL, &k[i]));
	}
	CHECK(EVP_PKEY_eq(k[0], k[1]) == 1 && EVP_PKEY_eq(k[1], k[2]) == 1);
	for (i = 0; i < 3; i++)
		EVP_PKEY_free(k[i]);
	forge_free(f);

	/* identity: one key each, the same while the entry lives, a new one
	 * when the certificate is minted again */
	CHECK(forge_policy_set_key_reuse(&p, "identity") == 0);
	f = forge_with(ca, ca_key, &p, 8);
	forge_set_clock(f, fake_clock);
	fake_now = t0;
	for (i = 0; i < 3; i++) {
		sha_of(c[i], sha);
		x = get_sha(f, c[i], sha, &hit, NULL, &k[i]);
		CHECK(x != NULL && X509_check_private_key(x, k[i]) == 1);
		X509_free(x);
	}
	CHECK(EVP_PKEY_eq(k[0], k[1]) != 1 && EVP_PKEY_eq(k[1], k[2]) != 1 &&
	    EVP_PKEY_eq(k[0], k[2]) != 1);
	sha_of(c[0], sha);
	X509_free(get_sha(f, c[0], sha, &hit, NULL, &again));
	CHECK(hit && EVP_PKEY_eq(again, k[0]) == 1);
	EVP_PKEY_free(again);
	fake_now = t0 + FORGE_LIFETIME_DEFAULT;		/* past 90%: re-minted */
	x = get_sha(f, c[0], sha, &hit, NULL, &again);
	CHECK(x != NULL && !hit && EVP_PKEY_eq(again, k[0]) != 1 &&
	    X509_check_private_key(x, again) == 1);
	X509_free(x);
	EVP_PKEY_free(again);
	/* uncached mints: a new key every time */
	x = forge_mint(f, c[3], &again);
	X509_free(forge_mint(f, c[3], &k2));
	CHECK(x != NULL && EVP_PKEY_eq(again, k2) != 1);
	X509_free(x);
	EVP_PKEY_free(again);
	EVP_PKEY_free(k2);
	for (i = 0; i < 3; i++)
		EVP_PKEY_free(k[i]);
	forge_free(f);

	/* pool of 2: identities take keys in turn, and keep theirs */
	CHECK(forge_policy_set_key_reuse(&p, "pool:2") == 0);
	f = forge_with(ca, ca_key, &p, 8);
	for (i = 0; i < 4; i++) {
		sha_of(c[i], sha);
		X509_free(get_sha(f, c[i], sha, &hit, NULL, &k[i]));
	}
	CHECK(EVP_PKEY_eq(k[0], k[1]) != 1 && EVP_PKEY_eq(k[0], k[2]) == 1 &&
	    EVP_PKEY_eq(k[1], k[3]) == 1);
	sha_of(c[1], sha);
	X509_free(get_sha(f, c[1], sha, &hit, NULL, &again));
	CHECK(hit && EVP_PKEY_eq(again, k[1]) == 1);
	EVP_PKEY_free(again);
	for (i = 0; i < 4; i++)
		EVP_PKEY_free(k[i]);
	forge_free(f);

	forge_policy_free(&p);
	for (i = 0; i < 4; i++)
		X509_free(c[i]);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

/* The origin extension decodes to the client certificate's SHA-256,
 * issuer and serial (forge.h). */
static void
check_origin(X509 *fx, X509 *client, const char *oid)
{
	X509_EXTENSION		*e = ext_of(fx, oid);
	const ASN1_OCTET_STRING	*v = e != NULL ? X509_EXTENSION_get_data(e) : NULL;
	const unsigned char	*p, *end;
	unsigned char		 sha[32], *name = NULL;
	ASN1_SEQUENCE_ANY	*seq = NULL;
	ASN1_TYPE		*t;
	X509_NAME		*issuer = NULL;
	int			 nlen;

	CHECK(e != NULL && X509_EXTENSION_get_critical(e) == 0);
	if (v == NULL)
		return;
	p = ASN1_STRING_get0_data(v);
	end = p + ASN1_STRING_length(v);
	seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, end - p);
	CHECK(seq != NULL && p == end && sk_ASN1_TYPE_num(seq) == 3);
	if (seq == NULL || sk_ASN1_TYPE_num(seq) != 3)
		goto out;
	sha_of(client, sha);
	t = sk_ASN1_TYPE_value(seq, 0);
	CHECK(ASN1_TYPE_get(t) == V_ASN1_OCTET_STRING &&
	    ASN1_STRING_length(t->value.octet_string) == 32 &&
	    memcmp(ASN1_STRING_get0_data(t->value.octet_string), sha, 32) == 0);
	t = sk_ASN1_TYPE_value(seq, 1);
	nlen = i2d_X509_NAME(X509_get_issuer_name(client), &name);
	CHECK(ASN1_TYPE_get(t) == V_ASN1_SEQUENCE && nlen > 0 &&
	    ASN1_STRING_length(t->value.sequence) == nlen &&
	    memcmp(ASN1_STRING_get0_data(t->value.sequence), name, nlen) == 0);
	p = ASN1_STRING_get0_data(t->value.sequence);
	issuer = d2i_X509_NAME(NULL, &p, ASN1_STRING_length(t->value.sequence));
	CHECK(issuer != NULL && X509_NAME_cmp(issuer, X509_get_issuer_name(client)) == 0);
	t = sk_ASN1_TYPE_value(seq, 2);
	CHECK(ASN1_TYPE_get(t) == V_ASN1_INTEGER &&
	    ASN1_INTEGER_cmp(t->value.integer, X509_get0_serialNumber(client)) == 0);
 out:
	X509_NAME_free(issuer);
	OPENSSL_free(name);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
}

static void
test_origin(void)
{
	EVP_PKEY		*ca_key = EVP_EC_gen("P-256"), *big_key = EVP_EC_gen("P-256");
	X509			*ca = mk_ca("delegation CA (EC)", ca_key, false);
	X509			*c, *big_ca, *big_client, *fx;
	X509_NAME		*n = X509_NAME_new();
	struct forge_policy	 p;
	struct forge		*f;
	struct spec		 s = { 0 };
	char			 ou[70];
	time_t			 now = time(NULL);
	int			 err;

	c = mk_client(n_simple("origin"), client_ec, san_rich(), 0, "00C0FFEE0123456789",
	    now - DAY, now + 30 * DAY);
	/* an issuer name over 255 bytes: two length octets in the DER */
	for (int i = 0; i < 5; i++) {
		memset(ou, 'a' + i, 64);
		ou[64] = '\0';
		name_add(n, "OU", V_ASN1_UTF8STRING, ou, -1, 0);
	}
	name_add(n, "CN", V_ASN1_UTF8STRING, "a client CA with a long name", -1, 0);
	s.subject = n;
	s.key = big_key;
	s.not_before = now - DAY;
	s.not_after = now + 3650 * DAY;
	s.ca = true;
	big_ca = mk_cert(&s);
	memset(&s, 0, sizeof(s));
	s.subject = n_simple("long issuer");
	s.key = client_ec;
	s.issuer = big_ca;
	s.issuer_key = big_key;
	s.not_before = now - DAY;
	s.not_after = now + 30 * DAY;
	s.serial_hex = "0A";
	big_client = mk_cert(&s);
	X509_NAME_free(s.subject);
	X509_NAME_free(n);

	/* off by default */
	f = forge_with(ca, ca_key, NULL, 0);
	fx = forge_mint(f, c, NULL);
	CHECK(fx != NULL && ext_of(fx, FORGE_ORIGIN_OID) == NULL);
	X509_free(fx);
	forge_free(f);

	forge_policy_init(&p);
	p.fp_origin = true;				/* --forge-origin-ext */
	f = forge_with(ca, ca_key, &p, 0);
	fx = forge_mint(f, c, NULL);
	CHECK(fx != NULL);
	check_origin(fx, c, FORGE_ORIGIN_OID);
	CHECK(verify_with(ca, NULL, fx, &err) && err == X509_V_OK);	/* non-critical */
	X509_free(fx);
	fx = forge_mint(f, big_client, NULL);
	check_origin(fx, big_client, FORGE_ORIGIN_OID);
	X509_free(fx);
	forge_free(f);

	CHECK(forge_policy_set_origin_oid(&p, "1.3.6.1.4.1.99999.42") == 0);
	f = forge_with(ca, ca_key, &p, 0);
	fx = forge_mint(f, c, NULL);
	check_origin(fx, c, "1.3.6.1.4.1.99999.42");
	CHECK(ext_of(fx, FORGE_ORIGIN_OID) == NULL);
	X509_free(fx);
	forge_free(f);
	forge_policy_free(&p);

	X509_free(big_client);
	X509_free(big_ca);
	X509_free(c);
	X509_free(ca);
	EVP_PKEY_free(big_key);
	EVP_PKEY_free(ca_key);
}

/* --delegation-chain: a delegation CA below a root the upstream trusts;
 * sent with the forged certificate, the upstream can build the path. */
static void
test_chain(void)
{
	EVP_PKEY		*root_key = EVP_EC_gen("P-256"), *mid_key = EVP_EC_gen("P-256");
	X509			*root = mk_ca("root CA", root_key, false), *mid, *client, *fx;
	X509			*peer;
	STACK_OF(X509)		*chain = sk_X509_new_null();
	struct tls_probe	 tp = { 0 };
	struct spec		 s = { 0 };
	time_t			 now = time(NULL);
	int			 err, len;

	s.subject = n_simple("delegation CA (intermediate)");
	s.key = mid_key;
	s.issuer = root;
	s.issuer_key = root_key;
	s.not_before = now - DAY;
	s.not_after = now + 3650 * DAY;
	s.serial_hex = "2000";
	s.ca = true;
	mid = mk_cert(&s);
	X509_NAME_free(s.subject);
	client = mk_client(n_simple("chained"), client_ec, san_rich(), 0, NULL,
	    now - DAY, now + 30 * DAY);
	if (chain == NULL || sk_X509_push(chain, mid) <= 0)
		fatal("chain");

	tp.tp_client = client;
	tp.tp_forge = forge_new(mid, chain, NULL, forge_sign_local, mid_key, 4);
	CHECK(tp.tp_forge != NULL && forge_chain(tp.tp_forge) != NULL &&
	    sk_X509_num(forge_chain(tp.tp_forge)) == 1 &&
	    X509_cmp(sk_X509_value(forge_chain(tp.tp_forge), 0), mid) == 0);
	fx = forge_mint(tp.tp_forge, client, NULL);
	CHECK(fx != NULL && verify_with(root, forge_chain(tp.tp_forge), fx, &err) &&
	    err == X509_V_OK);
	CHECK(!verify_with(root, NULL, fx, &err) &&
	    err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	X509_free(fx);
	for (int v = TLS1_2_VERSION; v <= TLS1_3_VERSION; v++) {
		peer = NULL;
		CHECK(tls_run(&tp, root, v, &peer, &len) && len == 1);
		X509_free(peer);
	}
	forge_free(tp.tp_forge);

	/* the same without the chain: a server that trusts only the root
	 * refuses it */
	tp.tp_forge = forge_new(mid, NULL, NULL, forge_sign_local, mid_key, 4);
	CHECK(tp.tp_forge != NULL && forge_chain(tp.tp_forge) == NULL);
	for (int v = TLS1_2_VERSION; v <= TLS1_3_VERSION; v++)
		CHECK(!tls_run(&tp, root, v, NULL, NULL));
	forge_free(tp.tp_forge);

	sk_X509_free(chain);
	X509_free(client);
	X509_free(mid);
	X509_free(root);
	EVP_PKEY_free(mid_key);
	EVP_PKEY_free(root_key);
}

int
main(void)
{
	X509_NAME	*n;
	time_t		 now = time(NULL);
	struct spec	 s = { 0 };

	client_rsa = EVP_RSA_gen(2048);
	client_ec = EVP_EC_gen("P-256");
	client_ca_key = EVP_EC_gen("P-384");
	if (client_rsa == NULL || client_ec == NULL || client_ca_key == NULL)
		fatal("keygen");
	n = X509_NAME_new();
	name_add(n, "O", V_ASN1_UTF8STRING, "Client Issuing", -1, 0);
	name_add(n, "CN", V_ASN1_UTF8STRING, "client CA", -1, 0);
	s.subject = n;
	s.key = client_ca_key;
	s.not_before = now - 2 * DAY;
	s.not_after = now + 3650 * DAY;
	s.ca = true;
	client_ca = mk_cert(&s);
	X509_NAME_free(n);

	test_shapes();
	test_san_conformance();
	test_validity();
	test_ca_types();
	test_cache();
	test_refresh();
	test_sessions();
	test_verdicts();

	/* a server certificate that may sign (the CAs here only certify) */
	tls_srv_key = EVP_EC_gen("P-256");
	memset(&s, 0, sizeof(s));
	s.subject = n_simple("tls server");
	s.key = tls_srv_key;
	s.not_before = now - DAY;
	s.not_after = now + DAY;
	tls_srv_cert = mk_cert(&s);
	X509_NAME_free(s.subject);
	test_policy_parse();
	test_policy_extensions();
	test_policy_lifetime();
	test_policy_serial();
	test_key_types();
	test_key_reuse();
	test_origin();
	test_chain();
	X509_free(tls_srv_cert);
	EVP_PKEY_free(tls_srv_key);

	X509_free(client_ca);
	EVP_PKEY_free(client_ca_key);
	EVP_PKEY_free(client_ec);
	EVP_PKEY_free(client_rsa);
	return CHECK_DONE();
}
