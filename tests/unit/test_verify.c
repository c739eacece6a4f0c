/*
 * test_verify.c - the client leg's verification settings (verify.c): the
 * --allow list (each kind, globs, case, NULs in names), and what
 * verify_setup_client makes OpenSSL accept: chains up to --verify-depth
 * intermediates, the clientAuth purpose (--require-client-eku), and
 * several CRL files.
 *
 * Chains are verified the way libssl verifies a client's (ssl_verify_cert_chain
 * in OpenSSL 3.0): the "ssl_client" defaults, then the context's parameters.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "testcert.h"
#include "testpki.h"
#include "verify.h"

static EVP_PKEY	*key;
static X509	*root, *int1, *int2;
static char	 tmpdir[] = "/tmp/test_verify.XXXXXX";

/* A client certificate CN=cn under issuer, with exts (pki_client_exts if
 * NULL) and the subjectAltName gens (taken; NULL: none). */
static X509 *
client(const char *cn, X509 *issuer, long serial, const char *const *exts, GENERAL_NAMES *gens)
{
	X509 *x = pki_cert(cn, key, issuer, key, serial, -3600, 86400,
	    exts != NULL ? exts : pki_client_exts);

	if (gens != NULL) {
		if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1 ||
		    X509_sign(x, key, EVP_sha256()) <= 0)
			fatal("san");
		GENERAL_NAMES_free(gens);
	}
	return x;
}

static GENERAL_NAMES *
sans(void)
{
	GENERAL_NAMES *g = GENERAL_NAMES_new();

	san_add(g, GEN_URI, "spiffe://example.test/ns/prod/alice", -1);
	san_add(g, GEN_DNS, "Alice.Example.Test", -1);
	san_add(g, GEN_EMAIL, "alice@Example.Test", -1);
	san_add(g, GEN_IPADD, "10.77.1.2", -1);
	return g;
}

/* Does leaf pass an --allow list of these patterns? */
static bool
allowed(X509 *leaf, const char *const *pats)
{
	struct allow_list al = { .al_n = 0 };

	for (int i = 0; pats[i] != NULL; i++)
		if (allow_add(&al, pats[i]) == -1)
			fatal(pats[i]);
	return allow_match(&al, leaf);
}

#define ALLOWED(leaf, ...) allowed(leaf, (const char *const []){ __VA_ARGS__, NULL })

static void
test_allow_parse(void)
{
	struct allow_list al = { .al_n = 0 };
	static char many[ALLOW_MAX][32];

	CHECK(allow_add(&al, "uri:spiffe://example.test/*") == 0);
	CHECK(allow_add(&al, "DNS:*.example.test") == 0);
	CHECK(allow_add(&al, "email:*@example.test") == 0);
	CHECK(allow_add(&al, "subject:CN=alice,*") == 0);
	CHECK(al.al_n == 4);
	CHECK(al.al_pat[0].ap_kind == ALLOW_URI);
	CHECK_STREQ(al.al_pat[0].ap_glob, "spiffe://example.test/*");
	CHECK(al.al_pat[1].ap_kind == ALLOW_DNS);
	CHECK(al.al_pat[2].ap_kind == ALLOW_EMAIL);
	CHECK(al.al_pat[3].ap_kind == ALLOW_SUBJECT);
	CHECK_STREQ(al.al_pat[3].ap_glob, "CN=alice,*");
	CHECK(allow_add(&al, "spiffe://example.test/x") == -1);	/* kind "spiffe" */
	CHECK(allow_add(&al, "ip:10.0.0.1") == -1);
	CHECK(allow_add(&al, "uri:") == -1);
	CHECK(allow_add(&al, ":x") == -1);
	CHECK(allow_add(&al, "alice") == -1);
	CHECK(al.al_n == 4);
	for (int i = 4; i < ALLOW_MAX; i++) {
		snprintf(many[i], sizeof(many[i]), "dns:h%d", i);
		if (allow_add(&al, many[i]) != 0)
			fatal("allow_add");
	}
	CHECK(allow_add(&al, "dns:one-too-many") == -1);
	CHECK(al.al_n == ALLOW_MAX);
}

static void
test_allow_match(void)
{
	X509 *alice = client("alice", root, 10, NULL, sans());
	X509 *bare = client("bare", root, 11, NULL, NULL);
	GENERAL_NAMES *g = GENERAL_NAMES_new();
	X509 *nul;
	struct allow_list none = { .al_n = 0 };

	CHECK(allow_match(&none, alice));	/* no list: everybody verified */
	CHECK(allow_match(&none, bare));

	/* uri: case matters, '*' spans '/' */
	CHECK(ALLOWED(alice, "uri:spiffe://example.test/*"));
	CHECK(ALLOWED(alice, "uri:spiffe://example.test/ns/*/alice"));
	CHECK(ALLOWED(alice, "uri:spiffe://example.test/ns/prod/alice"));
	CHECK(!ALLOWED(alice, "uri:spiffe://example.test/ns/prod/bob"));
	CHECK(!ALLOWED(alice, "uri:SPIFFE://example.test/*"));
	CHECK(!ALLOWED(alice, "uri:spiffe://example.test/ns/prod/alic"));	/* whole value */
	/* dns and email: case folded; '*' spans dots */
	CHECK(ALLOWED(alice, "dns:*.example.test"));
	CHECK(ALLOWED(alice, "dns:alice.example.test"));
	CHECK(ALLOWED(alice, "dns:*.test"));
	CHECK(ALLOWED(alice, "dns:alic?.example.test"));
	CHECK(ALLOWED(alice, "dns:[a-c]lice.example.test"));
	CHECK(!ALLOWED(alice, "dns:*.example.org"));
	CHECK(ALLOWED(alice, "email:*@example.test"));
	CHECK(ALLOWED(alice, "email:ALICE@EXAMPLE.TEST"));
	CHECK(!ALLOWED(alice, "email:bob@*"));
	/* subject: RFC 2253 as logged, case matters */
	CHECK(ALLOWED(alice, "subject:CN=alice,O=Example"));
	CHECK(ALLOWED(alice, "subject:CN=alice,*"));
	CHECK(ALLOWED(alice, "subject:*,O=Example"));
	CHECK(!ALLOWED(alice, "subject:cn=alice,*"));
	CHECK(!ALLOWED(alice, "subject:CN=bob,*"));
	/* a kind matches only its own entries */
	CHECK(!ALLOWED(alice, "uri:alice.example.test"));
	CHECK(!ALLOWED(alice, "dns:spiffe://example.test/ns/prod/alice"));
	CHECK(!ALLOWED(alice, "email:*.example.test"));
	CHECK(!ALLOWED(alice, "dns:10.77.1.2"));
	/* any pattern will do */
	CHECK(ALLOWED(alice, "uri:spiffe://other/*", "dns:nope", "email:alice@*"));
	CHECK(!ALLOWED(alice, "uri:spiffe://other/*", "dns:nope", "subject:CN=bob*"));
	/* no SANs: only the subject can match */
	CHECK(!ALLOWED(bare, "uri:*", "dns:*", "email:*"));
	CHECK(ALLOWED(bare, "uri:*", "subject:CN=bare,*"));

	/* a NUL inside a name would let the part after it pass */
	san_add(g, GEN_DNS, "evil.test\0.example.test", 23);
	san_add(g, GEN_URI, "spiffe://evil\0spiffe://example.test/x", 37);
	nul = client("nul", root, 12, NULL, g);
	CHECK(!ALLOWED(nul, "dns:*.example.test"));
	CHECK(!ALLOWED(nul, "dns:*"));
	CHECK(!ALLOWED(nul, "uri:*example.test/x"));
	CHECK(ALLOWED(nul, "subject:CN=nul,*"));

	X509_free(alice);
	X509_free(bare);
	X509_free(nul);
}

/* ---- chains, as libssl verifies a client's ---- */

static SSL_CTX *
server_ctx(const struct verify_conf *vc, time_t *crl_until)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	time_t until;

	if (ctx == NULL || X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), root) != 1)
		fatal("SSL_CTX");
	if (verify_setup_client(ctx, vc, crl_until != NULL ? crl_until : &until) == -1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* X509_V_OK or the error a client sending leaf and chain gets. */
static int
verify(SSL_CTX *ctx, X509 *leaf, X509 *c1, X509 *c2)
{
	STACK_OF(X509) *sent = sk_X509_new_null();
	X509_STORE_CTX *xs = X509_STORE_CTX_new();
	int ok, err;

	sk_X509_push(sent, leaf);
	if (c1 != NULL)
		sk_X509_push(sent, c1);
	if (c2 != NULL)
		sk_X509_push(sent, c2);
	if (xs == NULL || X509_STORE_CTX_init(xs, SSL_CTX_get_cert_store(ctx), leaf, sent) != 1)
		fatal("X509_STORE_CTX_init");
	X509_STORE_CTX_set_default(xs, "ssl_client");
	X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(xs), SSL_CTX_get0_param(ctx));
	ok = X509_verify_cert(xs);
	err = X509_STORE_CTX_get_error(xs);
	X509_STORE_CTX_free(xs);
	sk_X509_free(sent);
	ERR_clear_error();
	return ok == 1 ? X509_V_OK : err == X509_V_OK ? -1 : err;
}

static void
test_depth(void)
{
	struct verify_conf vc;
	X509 *deep = client("deep", int2, 20, NULL, NULL);
	X509 *shallow = client("shallow", root, 21, NULL, NULL);
	X509 *mid = client("mid", int1, 22, NULL, NULL);
	SSL_CTX *ctx;

	verify_conf_init(&vc);
	CHECK(vc.vc_depth == VERIFY_DEPTH_DEFAULT && vc.vc_client_eku && vc.vc_ncrl == 0);
	ctx = server_ctx(&vc, NULL);
	CHECK(verify(ctx, deep, int2, int1) == X509_V_OK);
	CHECK(verify(ctx, shallow, NULL, NULL) == X509_V_OK);
	CHECK(verify(ctx, deep, int2, NULL) == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	SSL_CTX_free(ctx);

	/* --verify-depth counts the intermediates */
	vc.vc_depth = 2;
	ctx = server_ctx(&vc, NULL);
	CHECK(verify(ctx, deep, int2, int1) == X509_V_OK);
	SSL_CTX_free(ctx);
	vc.vc_depth = 1;
	ctx = server_ctx(&vc, NULL);
	CHECK(verify(ctx, deep, int2, int1) == X509_V_ERR_CERT_CHAIN_TOO_LONG);
	CHECK(verify(ctx, mid, int1, NULL) == X509_V_OK);
	SSL_CTX_free(ctx);
	vc.vc_depth = 0;
	ctx = server_ctx(&vc, NULL);
	CHECK(verify(ctx, mid, int1, NULL) == X509_V_ERR_CERT_CHAIN_TOO_LONG);
	CHECK(verify(ctx, shallow, NULL, NULL) == X509_V_OK);
	SSL_CTX_free(ctx);
	X509_free(deep);
	X509_free(shallow);
	X509_free(mid);
}

static void
test_eku(void)
{
	static const char *const server_eku[] = {
		"basicConstraints", "critical,CA:FALSE",
		"keyUsage", "critical,digitalSignature",
		"extendedKeyUsage", "serverAuth",
		NULL
	};
	static const char *const any_eku[] = {
		"extendedKeyUsage", "anyExtendedKeyUsage",
		NULL
	};
	static const char *const both_eku[] = {
		"extendedKeyUsage", "serverAuth,clientAuth",
		NULL
	};
	static const char *const no_eku[] = {
		"basicConstraints", "critical,CA:FALSE",
		"keyUsage", "critical,digitalSignature",
		NULL
	};
	static const char *const no_ext[] = { NULL };
	static const char *const encipher_only[] = {
		"keyUsage", "critical,keyEncipherment",
		"extendedKeyUsage", "clientAuth",
		NULL
	};
	static const char *const ca_server_eku[] = {
		"basicConstraints", "critical,CA:TRUE",
		"keyUsage", "critical,keyCertSign,cRLSign",
		"extendedKeyUsage", "serverAuth",
		"subjectKeyIdentifier", "hash",
		NULL
	};
	X509 *good = client("good", root, 30, NULL, NULL);
	X509 *srv = client("server-eku", root, 31, server_eku, NULL);
	X509 *any = client("any-eku", root, 32, any_eku, NULL);
	X509 *both = client("both", root, 33, both_eku, NULL);
	X509 *none = client("no-eku", root, 34, no_eku, NULL);
	X509 *bare = client("no-extensions", root, 35, no_ext, NULL);
	X509 *enc = client("encipher-only", root, 36, encipher_only, NULL);
	X509 *sca = pki_cert("Server-only CA", key, root, key, 37, -3600, 86400, ca_server_eku);
	X509 *under = client("under-server-ca", sca, 38, NULL, NULL);
	struct verify_conf vc;
	SSL_CTX *ctx;

	verify_conf_init(&vc);
	ctx = server_ctx(&vc, NULL);
	CHECK(verify(ctx, good, NULL, NULL) == X509_V_OK);
	CHECK(verify(ctx, both, NULL, NULL) == X509_V_OK);
	CHECK(verify(ctx, none, NULL, NULL) == X509_V_OK);	/* RFC 5280: any use */
	CHECK(verify(ctx, bare, NULL, NULL) == X509_V_OK);
	CHECK(verify(ctx, srv, NULL, NULL) == X509_V_ERR_INVALID_PURPOSE);
	CHECK(verify(ctx, any, NULL, NULL) == X509_V_ERR_INVALID_PURPOSE);
	CHECK(verify(ctx, enc, NULL, NULL) == X509_V_ERR_INVALID_PURPOSE);
	CHECK(verify(ctx, under, sca, NULL) == X509_V_ERR_INVALID_PURPOSE);
	SSL_CTX_free(ctx);

	vc.vc_client_eku = false;
	ctx = server_ctx(&vc, NULL);
	CHECK(verify(ctx, good, NULL, NULL) == X509_V_OK);
	CHECK(verify(ctx, srv, NULL, NULL) == X509_V_OK);
	CHECK(verify(ctx, any, NULL, NULL) == X509_V_OK);
	CHECK(verify(ctx, enc, NULL, NULL) == X509_V_OK);
	CHECK(verify(ctx, under, sca, NULL) == X509_V_OK);
	SSL_CTX_free(ctx);

	X509_free(good); X509_free(srv); X509_free(any); X509_free(both);
	X509_free(none); X509_free(bare); X509_free(enc); X509_free(sca); X509_free(under);
}

/* A CRL of issuer, due in next_s, revoking `serial` (0: nothing), written
 * to tmpdir/name; returns the path (static buffer per call site). */
static const char *
crl_file(const char *name, X509 *issuer, long next_s, long serial)
{
	static char paths[8][256];
	static int n;
	char *path = paths[n++ % 8];
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t;
	FILE *fp;

	X509_CRL_set_version(crl, X509_CRL_VERSION_2);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
	t = X509_gmtime_adj(NULL, -3600);
	X509_CRL_set1_lastUpdate(crl, t);
	ASN1_TIME_free(t);
	t = X509_gmtime_adj(NULL, next_s);
	X509_CRL_set1_nextUpdate(crl, t);
	ASN1_TIME_free(t);
	if (serial != 0) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_INTEGER *s = ASN1_INTEGER_new();

		ASN1_INTEGER_set(s, serial);
		X509_REVOKED_set_serialNumber(r, s);
		t = X509_gmtime_adj(NULL, -600);
		X509_REVOKED_set_revocationDate(r, t);
		ASN1_TIME_free(t);
		ASN1_INTEGER_free(s);
		X509_CRL_add0_revoked(crl, r);
	}
	if (X509_CRL_sign(crl, key, EVP_sha256()) <= 0)
		fatal("X509_CRL_sign");
	snprintf(path, 256, "%s/%s", tmpdir, name);
	if ((fp = fopen(path, "w")) == NULL || PEM_write_X509_CRL(fp, crl) != 1)
		fatal(path);
	fclose(fp);
	X509_CRL_free(crl);
	return path;
}

static void
test_crls(void)
{
	X509 *leaf = client("leaf", int2, 40, NULL, NULL);
	X509 *gone = client("gone", int2, 41, NULL, NULL);
	X509 *top = client("top", root, 42, NULL, NULL);
	X509 *topgone = client("top-gone", root, 43, NULL, NULL);
	const char *root_crl = crl_file("root.crl", root, 2 * 86400, 43);
	const char *int2_crl = crl_file("int2.crl", int2, 86400, 41);
	const char *stale_crl = crl_file("stale.crl", int2, -60, 0);
	struct verify_conf vc;
	time_t until, now = time(NULL);
	SSL_CTX *ctx;
	char bad[300];
	FILE *fp;

	/* both files: each client is checked against its issuer's */
	verify_conf_init(&vc);
	CHECK(verify_add_crl(&vc, root_crl) == 0 && verify_add_crl(&vc, int2_crl) == 0);
	ctx = server_ctx(&vc, &until);
	CHECK(ctx != NULL);
	CHECK(verify(ctx, top, NULL, NULL) == X509_V_OK);
	CHECK(verify(ctx, topgone, NULL, NULL) == X509_V_ERR_CERT_REVOKED);
	CHECK(verify(ctx, leaf, int2, int1) == X509_V_OK);
	CHECK(verify(ctx, gone, int2, int1) == X509_V_ERR_CERT_REVOKED);
	/* the earliest nextUpdate bounds remembered verdicts */
	CHECK(until >= now + 86400 - 5 && until <= now + 86400 + 5);
	SSL_CTX_free(ctx);

	/* int2's CRL missing: its clients cannot be checked */
	verify_conf_init(&vc);
	verify_add_crl(&vc, root_crl);
	ctx = server_ctx(&vc, &until);
	CHECK(verify(ctx, top, NULL, NULL) == X509_V_OK);
	CHECK(verify(ctx, leaf, int2, int1) == X509_V_ERR_UNABLE_TO_GET_CRL);
	CHECK(until >= now + 2 * 86400 - 5 && until <= now + 2 * 86400 + 5);
	SSL_CTX_free(ctx);

	/* an expired CRL refuses its CA's clients */
	verify_conf_init(&vc);
	verify_add_crl(&vc, root_crl);
	verify_add_crl(&vc, stale_crl);
	ctx = server_ctx(&vc, &until);
	CHECK(verify(ctx, leaf, int2, int1) == X509_V_ERR_CRL_HAS_EXPIRED);
	SSL_CTX_free(ctx);

	/* no CRL files: no CRL check at all */
	verify_conf_init(&vc);
	ctx = server_ctx(&vc, &until);
	CHECK(until == 0);
	CHECK(verify(ctx, gone, int2, int1) == X509_V_OK);
	SSL_CTX_free(ctx);

	/* a file that is not a CRL, one that is not there, too many */
	snprintf(bad, sizeof(bad), "%s/bad.crl", tmpdir);
	if ((fp = fopen(bad, "w")) == NULL)
		fatal(bad);
	fputs("not a CRL\n", fp);
	fclose(fp);
	verify_conf_init(&vc);
	verify_add_crl(&vc, root_crl);
	verify_add_crl(&vc, bad);
	CHECK(server_ctx(&vc, &until) == NULL);
	verify_conf_init(&vc);
	verify_add_crl(&vc, "/nonexistent/ktproxy.crl");
	CHECK(server_ctx(&vc, &until) == NULL);
	verify_conf_init(&vc);
	for (int i = 0; i < VERIFY_CRL_MAX; i++)
		CHECK(verify_add_crl(&vc, root_crl) == 0);
	CHECK(verify_add_crl(&vc, root_crl) == -1);
	CHECK(vc.vc_ncrl == VERIFY_CRL_MAX);
	ERR_clear_error();

	unlink(root_crl);
	unlink(int2_crl);
	unlink(stale_crl);
	unlink(bad);
	X509_free(leaf); X509_free(gone); X509_free(top); X509_free(topgone);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		fatal("mkdtemp");
	key = pki_key();
	root = pki_cert("Root CA", key, NULL, NULL, 1, -3600, 86400 * 30, pki_ca_exts);
	int1 = pki_cert("Intermediate 1", key, root, key, 2, -3600, 86400 * 30, pki_ca_exts);
	int2 = pki_cert("Intermediate 2", key, int1, key, 3, -3600, 86400 * 30, pki_ca_exts);

	test_allow_parse();
	test_allow_match();
	test_depth();
	test_eku();
	test_crls();

	rmdir(tmpdir);
	X509_free(root);
	X509_free(int1);
	X509_free(int2);
	EVP_PKEY_free(key);
	return CHECK_DONE();
}
