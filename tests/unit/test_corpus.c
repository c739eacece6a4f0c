/*
 * test_corpus.c - a forged certificate for every shape of the corpus of
 * client certificates (tests/lib/mkcorpus) carries the client's identity
 * byte for byte and is one a strict verifier accepts.
 *
 *   test_corpus [DIR ...]
 *
 * For each certificate listed in DIR/SHAPES, forge_mint() with the test
 * PKI's delegation CA (signing in-process with forge_sign_local) must give
 * a certificate whose subject Name has the original's DER, whose
 * subjectAltName extension is the original's (criticality and value; see
 * same_san for the two exceptions), whose validity lies within the
 * original's, that is issued by the delegation CA, and that
 * X509_verify_cert() accepts against that CA alone with
 * X509_V_FLAG_X509_STRICT for the SSL client purpose - or, for a
 * certificate that names nobody (empty subject, no SAN names), none.
 *
 * DIR defaults to $KTP_PKI/corpus, KTP_PKI to build/test-pki (the paths
 * tests/lib/mkpki and mkcorpus use, from the repository's root, where
 * tests/run-unit runs).  Without that corpus the program skips (exit 77):
 * tests/integration/15-corpus.sh makes it and runs this program on it.
 * With KTP_CORPUS_OUT set, each forged certificate is also written there
 * as NAME.pem, for that script's `openssl verify`.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "forge.h"

#define SKIP	77

static X509	*load_cert(const char *);
static EVP_PKEY	*load_key(const char *);
static bool	 same_subject(X509 *, X509 *);
static int	 san_names(X509 *);
static bool	 empty_subject(X509 *);
static bool	 same_san(X509 *, X509 *);
static bool	 within_validity(X509 *, X509 *);
static bool	 strict_verify(X509_STORE *, X509 *, const char *);
static void	 write_pem(const char *, const char *, X509 *);
static int	 corpus_dir(struct forge *, X509_STORE *, X509 *, const char *);

static X509 *
load_cert(const char *path)
{
	FILE	*fp;
	X509	*x;

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	return x;
}

static EVP_PKEY *
load_key(const char *path)
{
	FILE		*fp;
	EVP_PKEY	*k;

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	return k;
}

/* The subject Name as encoded, not as compared by X509_NAME_cmp() (which
 * would call a PrintableString and a UTF8String with the same letters
 * equal). */
static bool
same_subject(X509 *a, X509 *b)
{
	const unsigned char	*da, *db;
	size_t			 la, lb;

	if (X509_NAME_get0_der(X509_get_subject_name(a), &da, &la) != 1 ||
	    X509_NAME_get0_der(X509_get_subject_name(b), &db, &lb) != 1)
		return false;
	return la == lb && memcmp(da, db, la) == 0;
}

/* How many names the certificate's subjectAltName holds; -1 without one. */
static int
san_names(X509 *x)
{
	GENERAL_NAMES	*gens;
	int		 n;

	if ((gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL)) == NULL)
		return -1;
	n = sk_GENERAL_NAME_num(gens);
	GENERAL_NAMES_free(gens);
	return n;
}

static bool
empty_subject(X509 *x)
{
	return X509_NAME_entry_count(X509_get_subject_name(x)) == 0;
}

/*
 * The same subjectAltName extension (criticality and extnValue), or none
 * in either; and only one in the forged certificate.  Two differences are
 * the forge's on purpose, for strict verifiers (RFC 5280 4.2.1.6): a SAN
 * that names nobody is left out, and with an empty subject the SAN is
 * critical.
 */
static bool
same_san(X509 *orig, X509 *forged)
{
	X509_EXTENSION	*a, *b;
	int		 i, j;

	i = X509_get_ext_by_NID(orig, NID_subject_alt_name, -1);
	j = X509_get_ext_by_NID(forged, NID_subject_alt_name, -1);
	if (i >= 0 && san_names(orig) == 0)
		return j < 0;
	if (i < 0 || j < 0)
		return i < 0 && j < 0;
	if (X509_get_ext_by_NID(forged, NID_subject_alt_name, j) != -1)
		return false;
	a = X509_get_ext(orig, i);
	b = X509_get_ext(forged, j);
	return (X509_EXTENSION_get_critical(a) || empty_subject(orig)) ==
	    X509_EXTENSION_get_critical(b) &&
	    ASN1_OCTET_STRING_cmp(X509_EXTENSION_get_data(a),
	    X509_EXTENSION_get_data(b)) == 0;
}

static bool
within_validity(X509 *orig, X509 *forged)
{
	return ASN1_TIME_compare(X509_get0_notBefore(forged), X509_get0_notBefore(orig)) >= 0 &&
	    ASN1_TIME_compare(X509_get0_notAfter(forged), X509_get0_notAfter(orig)) <= 0;
}

/* What `openssl verify -x509_strict -purpose sslclient -CAfile CA` does. */
static bool
strict_verify(X509_STORE *store, X509 *x, const char *name)
{
	X509_STORE_CTX	*ctx;
	int		 rc = 0, err = X509_V_ERR_UNSPECIFIED;

	if ((ctx = X509_STORE_CTX_new()) != NULL &&
	    X509_STORE_CTX_init(ctx, store, x, NULL) == 1) {
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
		X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
		rc = X509_verify_cert(ctx);
		err = X509_STORE_CTX_get_error(ctx);
	}
	X509_STORE_CTX_free(ctx);
	if (rc != 1)
		fprintf(stderr, "  %s: verify: %s\n", name, X509_verify_cert_error_string(err));
	return rc == 1;
}

static void
write_pem(const char *dir, const char *name, X509 *x)
{
	char	 path[PATH_MAX];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	if ((fp = fopen(path, "w")) == NULL || PEM_write_X509(fp, x) != 1) {
		fprintf(stderr, "  %s: cannot write %s\n", name, path);
		check_failed++;
	}
	if (fp != NULL)
		fclose(fp);
}

/* Every certificate DIR/SHAPES names; the number of certificates. */
static int
corpus_dir(struct forge *f, X509_STORE *store, X509 *ca, const char *dir)
{
	char		 path[PATH_MAX], line[1024], *name;
	const char	*out = getenv("KTP_CORPUS_OUT");
	FILE		*shapes;
	X509		*orig, *fx;
	int		 n = 0, failed;

	snprintf(path, sizeof(path), "%s/SHAPES", dir);
	if ((shapes = fopen(path, "r")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		check_failed++;
		return 0;
	}
	while (fgets(line, sizeof(line), shapes) != NULL) {
		name = strtok(line, "\t\n");
		if (name == NULL || *name == '\0')
			continue;
		n++;
		failed = check_failed;
		snprintf(path, sizeof(path), "%s/%s.crt", dir, name);
		orig = load_cert(path);
		CHECK(orig != NULL);
		if (orig == NULL) {
			fprintf(stderr, "  %s: cannot read %s\n", name, path);
			continue;
		}
		fx = forge_mint(f, orig, NULL);
		if (empty_subject(orig) && san_names(orig) <= 0) {
			/* names nobody: nothing to delegate */
			CHECK(fx == NULL);
		} else if (fx == NULL) {
			CHECK(fx != NULL);
			ERR_print_errors_fp(stderr);
		} else {
			CHECK(same_subject(orig, fx));
			CHECK(same_san(orig, fx));
			CHECK(within_validity(orig, fx));
			CHECK(X509_NAME_cmp(X509_get_issuer_name(fx),
			    X509_get_subject_name(ca)) == 0);
			CHECK(strict_verify(store, fx, name));
			if (out != NULL)
				write_pem(out, name, fx);
		}
		if (check_failed != failed)
			fprintf(stderr, "  %s: FAILED (above)\n", name);
		X509_free(fx);
		X509_free(orig);
	}
	fclose(shapes);
	return n;
}

int
main(int argc, char **argv)
{
	const char	*pki = getenv("KTP_PKI");
	char		 ca_path[PATH_MAX], key_path[PATH_MAX], dflt[PATH_MAX];
	char		*dflt_argv[] = { dflt };
	struct stat	 st;
	struct forge	*f;
	X509_STORE	*store;
	X509		*ca;
	EVP_PKEY	*key;
	char		**dirs = argv + 1;
	int		 ndirs = argc - 1, n = 0;

	if (pki == NULL)
		pki = "build/test-pki";
	if (ndirs == 0) {
		snprintf(dflt, sizeof(dflt), "%s/corpus/SHAPES", pki);
		if (stat(dflt, &st) == -1) {
			printf("test_corpus: skipped: no corpus at %s (tests/lib/mkcorpus "
			    "makes it; tests/integration/15-corpus.sh runs this)\n", dflt);
			return SKIP;
		}
		snprintf(dflt, sizeof(dflt), "%s/corpus", pki);
		dirs = dflt_argv;
		ndirs = 1;
	}

	snprintf(ca_path, sizeof(ca_path), "%s/delegation-ca.crt", pki);
	snprintf(key_path, sizeof(key_path), "%s/delegation-ca.key", pki);
	if ((ca = load_cert(ca_path)) == NULL || (key = load_key(key_path)) == NULL) {
		fprintf(stderr, "test_corpus: cannot read %s and %s\n", ca_path, key_path);
		return 2;
	}
	/* No cache: every certificate minted afresh. */
	if ((f = forge_new(ca, NULL, NULL, forge_sign_local, key, 0)) == NULL ||
	    (store = X509_STORE_new()) == NULL || X509_STORE_add_cert(store, ca) != 1) {
		ERR_print_errors_fp(stderr);
		return 2;
	}
	for (int i = 0; i < ndirs; i++)
		n += corpus_dir(f, store, ca, dirs[i]);
	printf("test_corpus: %d certificates\n", n);
	CHECK(n > 0);

	X509_STORE_free(store);
	forge_free(f);
	EVP_PKEY_free(key);
	X509_free(ca);
	return CHECK_DONE();
}
