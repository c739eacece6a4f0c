/*
 * testpki.h - whole certificates for unit tests, in-process: CAs,
 * intermediates and leaves with the extensions a test names, valid
 * relative to now.  Needs testcert.h (fatal, add_ext) first.
 */
#ifndef KTPROXY_TESTPKI_H
#define KTPROXY_TESTPKI_H

#include <openssl/evp.h>
#include <openssl/x509v3.h>

static EVP_PKEY *
pki_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	if (k == NULL)
		fatal("EVP_EC_gen");
	return k;
}

/*
 * CN=cn (and O=Example), key's public key, signed by issuer_key as issuer
 * (NULL: self-signed), valid from now + from_s to now + to_s, serial as
 * given; exts: pairs of extension name and OpenSSL config value, NULL
 * ended (subjectKeyIdentifier before authorityKeyIdentifier).
 */
static X509 *
pki_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
    long serial, long from_s, long to_s, const char *const *exts)
{
	X509 *x;
	X509_NAME *n;

	if ((x = X509_new()) == NULL)
		fatal("X509_new");
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	n = X509_get_subject_name(x);
	name_add(n, "O", MBSTRING_ASC, "Example", -1, 0);
	name_add(n, "CN", MBSTRING_ASC, cn, -1, 0);
	if (X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n) != 1)
		fatal("issuer name");
	X509_gmtime_adj(X509_getm_notBefore(x), from_s);
	X509_gmtime_adj(X509_getm_notAfter(x), to_s);
	X509_set_pubkey(x, key);
	for (int i = 0; exts != NULL && exts[i] != NULL; i += 2)
		add_ext(x, issuer, OBJ_txt2nid(exts[i]), exts[i + 1]);
	if (X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) <= 0)
		fatal("X509_sign");
	return x;
}

static const char *const pki_ca_exts[] = {
	"basicConstraints", "critical,CA:TRUE",
	"keyUsage", "critical,keyCertSign,cRLSign",
	"subjectKeyIdentifier", "hash",
	"authorityKeyIdentifier", "keyid:always",
	NULL
};

static const char *const pki_client_exts[] = {
	"basicConstraints", "critical,CA:FALSE",
	"keyUsage", "critical,digitalSignature",
	"extendedKeyUsage", "clientAuth",
	"subjectKeyIdentifier", "hash",
	"authorityKeyIdentifier", "keyid",
	NULL
};

#endif
