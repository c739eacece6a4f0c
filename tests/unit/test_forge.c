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
 * `client`, minted by `f` with the delegation CA `ca`.  `strict`: the CA
 * is fit for X509_V_FLAG_X509_STRICT (it has an SKI).
 */
static void
check_forged(struct forge *f, X509 *ca, X509 *client, X509 *fx, int sig_nid,
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
	CHECK(EVP_PKEY_eq(X509_get0_pubkey(x), forge_key(f)) == 1);
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
	CHECK(asn1_time(X509_get0_notAfter(x)) <= now + FORGE_LIFETIME_MAX);

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

/* ---- tests ---- */

static void
test_shapes(void)
{
	EVP_PKEY	*ca_key;
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
	CHECK((f = forge_new(ca, forge_sign_local, ca_key, 16)) != NULL);

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
		fx = forge_mint(f, clients[i]);
		check_forged(f, ca, clients[i], fx, NID_ecdsa_with_SHA256, true);
		fy = forge_mint(f, clients[i]);
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
	fx = forge_mint(f, clients[9]);
	CHECK(fx != NULL && ASN1_TIME_compare(X509_get0_notBefore(fx),
	    X509_get0_notBefore(clients[9])) == 0);
	X509_free(fx);
	/* the lifetime cap */
	fx = forge_mint(f, clients[0]);
	CHECK(fx != NULL && asn1_time(X509_get0_notAfter(fx)) -
	    asn1_time(X509_get0_notBefore(fx)) <= FORGE_LIFETIME_MAX + FORGE_BACKDATE);
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

	CHECK((f = forge_new(ca, forge_sign_local, ca_key, 0)) != NULL);

	/* empty subject, SAN not critical: copied, and made critical */
	g = sk_GENERAL_NAME_new_null();
	san_add(g, GEN_URI, "spiffe://example.org/ns/x/sa/careless", -1);
	client = mk_client(X509_NAME_new(), client_ec, g, 0, NULL, now - DAY, now + DAY);
	fx = forge_mint(f, client);
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
	fx = forge_mint(f, client);
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
	CHECK(forge_mint(f, client) == NULL && forge_last_error(f) == FORGE_ERR_MINT);
	X509_free(client);
	client = mk_client(X509_NAME_new(), client_ec, sk_GENERAL_NAME_new_null(), 1,
	    NULL, now - DAY, now + DAY);
	CHECK(forge_mint(f, client) == NULL && forge_last_error(f) == FORGE_ERR_MINT);
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
	struct forge	*f = forge_new(ca, forge_sign_local, ca_key, 4);
	uint8_t		 sha[32];
	unsigned int	 len;
	bool		 hit = true;
	time_t		 now = time(NULL);

	/* expiring in an hour: the forged one expires with it */
	soon = mk_client(n_simple("soon"), client_ec, NULL, 0, NULL,
	    now - DAY, now + 3600);
	fx = forge_mint(f, soon);
	CHECK(fx != NULL && ASN1_TIME_compare(X509_get0_notAfter(fx),
	    X509_get0_notAfter(soon)) == 0);
	check_forged(f, ca, soon, fx, NID_ecdsa_with_SHA256, true);
	X509_free(fx);

	/* expired a minute ago: refused, by mint and by get */
	gone = mk_client(n_simple("gone"), client_ec, NULL, 0, NULL,
	    now - DAY, now - 60);
	CHECK(forge_mint(f, gone) == NULL);
	X509_digest(gone, EVP_sha256(), sha, &len);
	CHECK(forge_get(f, gone, sha, &hit) == NULL && !hit);

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
	EVP_PKEY	*keys[2], *wrong;
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
		CHECK((f = forge_new(ca, forge_sign_local, keys[i], 2)) != NULL);
		fx = forge_mint(f, client);
		check_forged(f, ca, client, fx, nids[i], true);
		X509_free(fx);
		forge_free(f);
		X509_free(ca);
	}

	/* forge knows only the CA's public key: a signer with another key
	 * yields a certificate nobody can verify (the signer process checks
	 * its key against the CA at start, test_signer) */
	wrong = EVP_RSA_gen(2048);
	ca = mk_ca("delegation CA (RSA)", keys[0], false);
	CHECK((f = forge_new(ca, forge_sign_local, wrong, 2)) != NULL);
	fx = forge_mint(f, client);
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
		CHECK(forge_new(odd, forge_sign_local, wrong, 2) == NULL);
		ERR_clear_error();
		X509_free(odd);
	}
	EVP_PKEY_free(wrong);

	/* a CA without an SKI extension: AKI is the computed key hash */
	ca = mk_ca("delegation CA (no SKI)", keys[0], true);
	CHECK(X509_get0_subject_key_id(ca) == NULL);
	CHECK((f = forge_new(ca, forge_sign_local, keys[0], 2)) != NULL);
	fx = forge_mint(f, client);
	check_forged(f, ca, client, fx, NID_sha256WithRSAEncryption, false);
	X509_free(fx);
	forge_free(f);
	X509_free(ca);

	X509_free(client);
	EVP_PKEY_free(keys[0]);
	EVP_PKEY_free(keys[1]);
}

static X509 *
get(struct forge *f, X509 *client, bool *hit)
{
	uint8_t		 sha[32];
	unsigned int	 len;

	X509_digest(client, EVP_sha256(), sha, &len);
	return forge_get(f, client, sha, hit);
}

static void
test_cache(void)
{
	EVP_PKEY	*ca_key = EVP_EC_gen("P-256");
	X509		*ca = mk_ca("delegation CA (EC)", ca_key, false);
	X509		*c[5], *x[5], *y, *held;
	struct forge	*f;
	bool		 hit;
	time_t		 now = time(NULL);
	const char	*names[5] = { "a", "b", "c", "d", "e" };
	uint8_t		 sha[4][32];
	int		 i;

	for (i = 0; i < 5; i++)
		c[i] = mk_client(n_simple(names[i]), client_ec, NULL, 0, NULL,
		    now - DAY, now + 30 * DAY);
	f = forge_new(ca, forge_sign_local, ca_key, 3);

	x[0] = get(f, c[0], &hit);
	CHECK(x[0] != NULL && !hit);
	check_forged(f, ca, c[0], x[0], NID_ecdsa_with_SHA256, true);
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
	y = get(f, c[0], &hit);
	CHECK(y != NULL && y != x[0] && !hit);	/* a was evicted */
	X509_free(y);
	for (i = 0; i < 4; i++)
		X509_free(x[i]);
	forge_free(f);

	/* colliding buckets: digests equal in the bytes the table hashes */
	f = forge_new(ca, forge_sign_local, ca_key, 3);
	for (i = 0; i < 4; i++) {
		memset(sha[i], 0x5a, 32);
		sha[i][31] = (uint8_t)i;
	}
	for (i = 0; i < 3; i++) {
		x[i] = forge_get(f, c[i], sha[i], &hit);
		CHECK(x[i] != NULL && !hit);
	}
	for (i = 0; i < 3; i++) {
		y = forge_get(f, c[i], sha[i], &hit);
		CHECK(y == x[i] && hit);
		X509_free(y);
	}
	x[3] = forge_get(f, c[3], sha[3], &hit);	/* evicts sha[0] */
	CHECK(x[3] != NULL && !hit);
	y = forge_get(f, c[2], sha[2], &hit);
	CHECK(y == x[2] && hit);
	X509_free(y);
	y = forge_get(f, c[0], sha[0], &hit);		/* evicts sha[1] */
	CHECK(y != NULL && y != x[0] && !hit);
	X509_free(y);
	y = forge_get(f, c[3], sha[3], &hit);
	CHECK(y == x[3] && hit);
	X509_free(y);
	for (i = 0; i < 4; i++)
		X509_free(x[i]);
	forge_free(f);

	/* no cache at all */
	f = forge_new(ca, forge_sign_local, ca_key, 0);
	x[0] = get(f, c[0], &hit);
	y = get(f, c[0], &hit);
	CHECK(x[0] != NULL && y != NULL && x[0] != y && !hit);
	X509_free(x[0]);
	X509_free(y);
	forge_free(f);

	/* freeing a forge with entries, and a NULL one */
	f = forge_new(ca, forge_sign_local, ca_key, 100);
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
	struct forge	*f = forge_new(ca, forge_sign_local, ca_key, 8);
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
	CHECK(x1 != NULL && asn1_time(X509_get0_notAfter(x1)) == t0 + FORGE_LIFETIME_MAX);
	fake_now = t0 + FORGE_LIFETIME_MAX / 2;
	y = get(f, lng, &hit);
	CHECK(y == x1 && hit);
	X509_free(y);
	/* past 90%: a new one, valid from now */
	fake_now = t0 + FORGE_LIFETIME_MAX * 95 / 100;
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
sess_get(struct forge *f, X509 *client, X509 *forged, const uint8_t dest[32])
{
	uint8_t		 sha[32];
	unsigned int	 len;

	X509_digest(client, EVP_sha256(), sha, &len);
	return forge_session_get(f, sha, forged, dest);
}

static bool
is_cached(struct forge *f, X509 *client, X509 *forged)
{
	uint8_t		 sha[32];
	unsigned int	 len;

	X509_digest(client, EVP_sha256(), sha, &len);
	return forge_is_cached(f, sha, forged);
}

static bool
sess_put(struct forge *f, X509 *client, X509 *forged, const uint8_t dest[32], SSL_SESSION *s)
{
	uint8_t		 sha[32];
	unsigned int	 len;

	X509_digest(client, EVP_sha256(), sha, &len);
	return forge_session_put(f, sha, forged, dest, s);
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
 * forged certificate that established them is the cached one. */
static void
test_sessions(void)
{
	EVP_PKEY	*ca_key = EVP_EC_gen("P-256");
	X509		*ca = mk_ca("delegation CA (EC)", ca_key, false);
	X509		*a, *b, *c, *xa, *xb, *xc, *y;
	SSL_SESSION	*s1, *s2, *got;
	struct forge	*f = forge_new(ca, forge_sign_local, ca_key, 2);
	uint8_t		 d1[32], d2[32], d[FORGE_SESSIONS + 1][32];
	time_t		 t0 = time(NULL);
	bool		 hit;
	int		 i;

	forge_set_clock(f, fake_clock);
	fake_now = t0;
	memset(d1, 1, sizeof(d1));
	memset(d2, 2, sizeof(d2));
	a = mk_client(n_simple("a"), client_ec, NULL, 0, NULL, t0 - DAY, t0 + 30 * DAY);
	b = mk_client(n_simple("b"), client_ec, NULL, 0, NULL, t0 - DAY, t0 + 30 * DAY);
	c = mk_client(n_simple("c"), client_ec, NULL, 0, NULL, t0 - DAY, t0 + 30 * DAY);
	xa = get(f, a, &hit);
	xb = get(f, b, &hit);

	CHECK(is_cached(f, a, xa) && is_cached(f, b, xb));
	CHECK(!is_cached(f, a, xb) && !is_cached(f, b, xa));
	CHECK(sess_get(f, a, xa, d1) == NULL);		/* nothing yet */
	s1 = mk_session(1, t0, 300);
	CHECK(sess_put(f, a, xa, d1, s1));		/* the cache owns s1 now */
	got = sess_get(f, a, xa, d1);
	CHECK(got != s1 && sess_is(got, 1));		/* a copy of it */
	CHECK(sess_is(sess_get(f, a, xa, d1), 1));	/* kept for reuse */
	CHECK(sess_get(f, a, xa, d2) == NULL);		/* another destination */
	CHECK(sess_get(f, b, xb, d1) == NULL);		/* another identity */
	CHECK(sess_get(f, b, xa, d1) == NULL);		/* a's certificate, b's key */
	CHECK(sess_get(f, a, xb, d1) == NULL);		/* not a's certificate */
	s2 = mk_session(2, t0, 300);
	CHECK(!sess_put(f, a, xb, d1, s2));		/* refused: the reference stays ours */
	CHECK(sess_put(f, a, xa, d1, s2));		/* newest replaces */
	CHECK(sess_is(sess_get(f, a, xa, d1), 2));

	/* FORGE_SESSIONS destinations per identity; one more takes the
	 * oldest slot */
	for (i = 0; i <= FORGE_SESSIONS; i++) {
		memset(d[i], 0x40 + i, sizeof(d[i]));
		CHECK(sess_put(f, b, xb, d[i], mk_session(0x40 + i, t0, 300)));
	}
	CHECK(sess_get(f, b, xb, d[0]) == NULL);
	for (i = 1; i <= FORGE_SESSIONS; i++)
		CHECK(sess_is(sess_get(f, b, xb, d[i]), 0x40 + i));

	/* expired: gone */
	fake_now = t0 + 301;
	CHECK(sess_get(f, a, xa, d1) == NULL);
	fake_now = t0;
	CHECK(sess_get(f, a, xa, d1) == NULL);

	/* the certificate evicted (cache of 2: a, b; c evicts the older) */
	CHECK(sess_put(f, a, xa, d1, mk_session(3, t0, 300)));
	y = get(f, a, &hit);				/* a is the newest now */
	X509_free(y);
	xc = get(f, c, &hit);				/* evicts b, and b's sessions */
	y = get(f, b, &hit);
	CHECK(y != NULL && y != xb && !hit);
	CHECK(sess_get(f, b, y, d[1]) == NULL);
	CHECK(sess_get(f, b, xb, d[1]) == NULL);
	CHECK(is_cached(f, b, y) && !is_cached(f, b, xb));	/* re-minted */
	X509_free(y);
	CHECK(sess_get(f, a, xa, d1) == NULL);		/* a went when b came back */

	forge_set_clock(f, NULL);
	X509_free(xa);
	X509_free(xb);
	X509_free(xc);
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
	struct forge	*f = forge_new(ca, forge_sign_local, ca_key, 1);
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

	X509_free(client_ca);
	EVP_PKEY_free(client_ca_key);
	EVP_PKEY_free(client_ec);
	EVP_PKEY_free(client_rsa);
	return CHECK_DONE();
}
