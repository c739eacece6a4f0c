/*
 * testcert.h - building certificate parts in unit tests, in-process, with
 * no files: subject names and subjectAltName entries of every type.  Any
 * OpenSSL failure here is a broken test set-up, not a test result, so it
 * stops the program (exit 2) with the OpenSSL reason.
 */
#ifndef KTPROXY_TESTCERT_H
#define KTPROXY_TESTCERT_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

static void
fatal(const char *what)
{
	fprintf(stderr, "%s: %s failed\n", program_invocation_short_name, what);
	ERR_print_errors_fp(stderr);
	exit(2);
}

static void
name_add(X509_NAME *n, const char *field, int type, const char *val, int len,
    int set)
{
	if (X509_NAME_add_entry_by_txt(n, field, type,
	    (const unsigned char *)val, len, -1, set) != 1)
		fatal(field);
}

/* One subjectAltName entry; len is the string's length (-1: strlen), for
 * the string types only. */
static void
san_add(GENERAL_NAMES *gens, int type, const char *val, int len)
{
	GENERAL_NAME	*gen;
	ASN1_IA5STRING	*s;
	ASN1_OCTET_STRING *ip;
	X509_NAME	*dn;

	if ((gen = GENERAL_NAME_new()) == NULL)
		fatal("GENERAL_NAME_new");
	if (type == GEN_IPADD) {
		if ((ip = a2i_IPADDRESS(val)) == NULL)
			fatal(val);
		GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
	} else if (type == GEN_RID) {
		GENERAL_NAME_set0_value(gen, GEN_RID, OBJ_txt2obj(val, 1));
	} else if (type == GEN_DIRNAME) {
		dn = X509_NAME_new();
		name_add(dn, "CN", MBSTRING_ASC, val, -1, 0);
		GENERAL_NAME_set0_value(gen, GEN_DIRNAME, dn);
	} else {
		s = ASN1_IA5STRING_new();
		ASN1_STRING_set(s, val, len);
		GENERAL_NAME_set0_value(gen, type, s);
	}
	sk_GENERAL_NAME_push(gens, gen);
}

/* An extension from its OpenSSL config text (issuer NULL: self-issued). */
static inline void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;

	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value)) == NULL)
		fatal(value);
	if (X509_add_ext(x, ext, -1) != 1)
		fatal("X509_add_ext");
	X509_EXTENSION_free(ext);
}

#endif
