/*
 * fuzz_ocsp - what ktproxy reads from outside while it verifies a client:
 * an OCSP responder's answer (DER, judged by ocsp_response_judge against a
 * fixed certificate and trust store), a responder URL (ocsp_url_split: from
 * the client's certificate or --ocsp-responder), and an --allow pattern
 * matched against a certificate with names of every kind.
 *
 * The first input byte picks the target, the rest is its input.  Nothing
 * may crash or leak, and what comes back must be one of the documented
 * answers: a judged status with a reason, a URL split into a host, a port
 * and a path beginning with '/', or -1 with nothing allocated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "ocsp.h"
#include "verify.h"

/* verify.c prints OpenSSL's errors through tls.c, which would pull in the
 * whole daemon: its file loading is not fuzzed here. */
void	tls_print_errors(const char *prefix);

void
tls_print_errors(const char *prefix)
{
	ERR_clear_error();
}

static X509		*fz_ca, *fz_leaf;
static X509_STORE	*fz_store;
static OCSP_CERTID	*fz_id;

static void
fz_name(X509_NAME *n, const char *cn)
{
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
}

static X509 *
fz_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn, const char *san)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), issuer == NULL ? 1 : 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	fz_name(X509_get_subject_name(x), cn);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) :
	    X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	if (san != NULL && (ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
	    san)) != NULL) {
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (issuer == NULL && (ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
	    "critical,CA:TRUE")) != NULL) {
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(x, signer, EVP_sha256());
	return x;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *leaf_key = EVP_EC_gen("P-256");

	fz_ca = fz_cert(ca_key, ca_key, NULL, "Fuzz CA", NULL);
	fz_leaf = fz_cert(leaf_key, ca_key, fz_ca, "fuzz client",
	    "URI:spiffe://example.test/fuzz,DNS:fuzz.example.test,email:fuzz@example.test,"
	    "IP:10.77.1.2");
	fz_store = X509_STORE_new();
	X509_STORE_add_cert(fz_store, fz_ca);
	fz_id = OCSP_cert_to_id(EVP_sha1(), fz_leaf, fz_ca);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(leaf_key);
	return 0;
}

static void
fz_response(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	OCSP_RESPONSE *resp;
	struct ocsp_answer ans;
	time_t now = time(NULL);

	if ((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)size)) == NULL)
		return;
	ocsp_response_judge(resp, NULL, fz_id, NULL, fz_store, now, 3600, &ans);
	if (ans.oa_why == NULL || (ans.oa_status == OCSP_STATUS_ERROR && ans.oa_until > now + 3600))
		abort();
	OCSP_RESPONSE_free(resp);
}

static void
fz_url(const char *s)
{
	char *host, *port, *path;

	if (ocsp_url_split(s, &host, &port, &path) == -1) {
		if (host != NULL || port != NULL || path != NULL)
			abort();
		return;
	}
	if (host == NULL || port == NULL || path == NULL || path[0] != '/')
		abort();
	free(host);
	free(port);
	free(path);
}

static void
fz_allow(const char *s)
{
	struct allow_list al;

	memset(&al, 0, sizeof(al));
	if (allow_add(&al, s) == 0)
		(void)allow_match(&al, fz_leaf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fz_response(data + 1, size - 1);
		break;
	case 1:
	case 2:
		if ((s = malloc(size + 7)) == NULL)
			return 0;
		if (data[0] % 3 == 1) {
			/* mostly http:// URLs, sometimes anything */
			memcpy(s, (data[0] & 0x80) ? "" : "http://", (data[0] & 0x80) ? 0 : 7);
			memcpy(s + ((data[0] & 0x80) ? 0 : 7), data + 1, size - 1);
			s[((data[0] & 0x80) ? 0 : 7) + size - 1] = '\0';
			fz_url(s);
		} else {
			memcpy(s, data + 1, size - 1);
			s[size - 1] = '\0';
			fz_allow(s);
		}
		free(s);
		break;
	}
	return 0;
}
