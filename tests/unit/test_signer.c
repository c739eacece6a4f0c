/*
 * test_signer.c - the signer process: it signs forged client certificates
 * of its CA and nothing else, refuses to start with a key that is not the
 * CA's, fails closed when it is dead or silent, and works again once
 * restarted.
 *
 * The signer runs in a forked child (signer_conf.sc_exec NULL), with a CA
 * built here and written to a temporary directory.  As root it drops to
 * "nobody" as the daemon's would.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "testcert.h"
#include "forge.h"
#include "clock.h"
#include "signer.h"

#define DAY	(24 * 3600)

static char	 dir[64];

static X509_NAME *
name(const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	name_add(n, "O", V_ASN1_UTF8STRING, "ktproxy tests", -1, 0);
	name_add(n, "CN", V_ASN1_UTF8STRING, cn, -1, 0);
	return n;
}

/* An unsigned certificate: subject cn, issuer `issuer`, key `key`. */
static X509 *
mk_base(const char *cn, X509_NAME *issuer, EVP_PKEY *key, time_t nb, time_t na)
{
	X509		*x = X509_new();
	X509_NAME	*n = name(cn);

	if (x == NULL)
		fatal("X509_new");
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer != NULL ? issuer : n);
	ASN1_TIME_set(X509_getm_notBefore(x), nb);
	ASN1_TIME_set(X509_getm_notAfter(x), na);
	X509_set_pubkey(x, key);
	X509_NAME_free(n);
	return x;
}

static X509 *
mk_ca(const char *cn, EVP_PKEY *key)
{
	time_t	 now = time(NULL);
	X509	*x = mk_base(cn, NULL, key, now - DAY, now + 3650 * DAY);

	add_ext(x, NULL, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(x, NULL, NID_key_usage, "critical,keyCertSign,cRLSign");
	add_ext(x, NULL, NID_subject_key_identifier, "hash");
	if (X509_sign(x, key, EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256()) <= 0)
		fatal("X509_sign");
	return x;
}

static void
write_pem(const char *file, X509 *x, EVP_PKEY *k)
{
	char	 path[128];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((fp = fopen(path, "w")) == NULL)
		fatal(path);
	if ((x != NULL && PEM_write_X509(fp, x) != 1) ||
	    (k != NULL && PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL) != 1))
		fatal(path);
	fclose(fp);
}

static char *
path(const char *file)
{
	static char	 p[4][128];
	static int	 i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, file);
	return p[i];
}

static int
start(struct signer *s, const char *key, const char *ca, unsigned n)
{
	struct signer_conf cf = { 0 };

	cf.sc_key = path(key);
	cf.sc_ca = path(ca);
	cf.sc_user = geteuid() == 0 ? "nobody" : NULL;
	cf.sc_exec = NULL;
	return signer_start(s, &cf, n);
}

/* Mint through the signer and check the result against the CA's key. */
static void
mint_ok(struct forge *f, X509 *ca, X509 *client, const char *what)
{
	X509	*x = forge_mint(f, client, NULL);
	int	 ok = x != NULL && X509_verify(x, X509_get0_pubkey(ca)) == 1 &&
		    X509_check_issued(ca, x) == X509_V_OK;

	if (!ok)
		fprintf(stderr, "mint through the signer failed: %s (forge error %d)\n", what,
		    forge_last_error(f));
	CHECK(ok);
	X509_free(x);
	ERR_clear_error();
}

/* What a worker might send: a TBSCertificate as forge builds one, then
 * spoiled by `spoil` - or shaped as a policy of forge.c's makes it. */
enum spoil {
	GOOD, CA_TRUE, SERVER_AUTH, CLIENT_AND_SERVER, NO_EKU, KEY_CERT_SIGN,
	OTHER_ISSUER, LONG_LIFE, OTHER_ALG, BACKDATED,
	EKU_COPIED, EKU_NO_CLIENT, EKU_CODE, EKU_ANY, EKU_OCSP, CRL_SIGN, DAY_AND_HOUR,
	NO_BC, PRIVATE_EXT, SPOIL_END
};

static const struct {
	const char	*name;
	bool		 signed_;
} spoils[SPOIL_END] = {
	[GOOD] = { "a forged client certificate", true },
	[CA_TRUE] = { "CA:TRUE", false },
	[SERVER_AUTH] = { "serverAuth only", false },
	[CLIENT_AND_SERVER] = { "clientAuth and serverAuth", false },
	[NO_EKU] = { "no extendedKeyUsage", false },
	[KEY_CERT_SIGN] = { "keyCertSign", false },
	[OTHER_ISSUER] = { "another issuer", false },
	[LONG_LIFE] = { "a 30-day lifetime", false },
	[OTHER_ALG] = { "another algorithm", false },
	[BACKDATED] = { "notBefore a month ago", false },
	[EKU_COPIED] = { "clientAuth and emailProtection (a copied EKU)", true },
	[EKU_NO_CLIENT] = { "emailProtection without clientAuth", false },
	[EKU_CODE] = { "clientAuth and codeSigning", false },
	[EKU_ANY] = { "clientAuth and anyExtendedKeyUsage", false },
	[EKU_OCSP] = { "clientAuth and OCSPSigning", false },
	[CRL_SIGN] = { "cRLSign", false },
	[DAY_AND_HOUR] = { "25 hours with the default lifetime", false },
	[NO_BC] = { "no basicConstraints (not a CA all the same)", true },
	[PRIVATE_EXT] = { "a non-critical private extension (origin, copied OIDs)", true },
};

static unsigned char *
mk_tbs(X509 *ca, EVP_PKEY *key, enum spoil spoil, int *len)
{
	time_t		 now = time(NULL);
	X509_NAME	*other = name("Another CA");
	X509		*x;
	unsigned char	*der = NULL;
	const char	*eku = "clientAuth";

	x = mk_base("evil", spoil == OTHER_ISSUER ? other : X509_get_subject_name(ca), key,
	    spoil == BACKDATED ? now - 30 * DAY : now - 300,
	    spoil == LONG_LIFE ? now + 30 * DAY : spoil == DAY_AND_HOUR ? now + DAY + 3600 :
	    now + DAY);
	if (spoil != NO_BC)
		add_ext(x, ca, NID_basic_constraints, spoil == CA_TRUE ? "critical,CA:TRUE" :
		    "critical,CA:FALSE");
	add_ext(x, ca, NID_key_usage, spoil == KEY_CERT_SIGN ?
	    "critical,digitalSignature,keyCertSign" : spoil == CRL_SIGN ?
	    "critical,digitalSignature,cRLSign" : "critical,digitalSignature");
	switch (spoil) {
	case SERVER_AUTH:	eku = "serverAuth"; break;
	case CLIENT_AND_SERVER:	eku = "clientAuth,serverAuth"; break;
	case EKU_COPIED:	eku = "critical,clientAuth,emailProtection"; break;
	case EKU_NO_CLIENT:	eku = "emailProtection"; break;
	case EKU_CODE:		eku = "clientAuth,codeSigning"; break;
	case EKU_ANY:		eku = "clientAuth,anyExtendedKeyUsage"; break;
	case EKU_OCSP:		eku = "clientAuth,OCSPSigning"; break;
	default:		break;
	}
	if (spoil != NO_EKU)
		add_ext(x, ca, NID_ext_key_usage, eku);
	if (spoil == PRIVATE_EXT) {
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
		ASN1_OBJECT *obj = OBJ_txt2obj(FORGE_ORIGIN_OID, 1);
		X509_EXTENSION *ext;

		if (os == NULL || obj == NULL || ASN1_OCTET_STRING_set(os,
		    (const unsigned char *)"\x30\x03\x02\x01\x05", 5) != 1 ||
		    (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) == NULL ||
		    X509_add_ext(x, ext, -1) != 1)
			fatal("private extension");
		X509_EXTENSION_free(ext);
		ASN1_OBJECT_free(obj);
		ASN1_OCTET_STRING_free(os);
	}
	if (forge_algor_set((X509_ALGOR *)X509_get0_tbs_sigalg(x),
	    spoil == OTHER_ALG ? NID_ecdsa_with_SHA384 : NID_ecdsa_with_SHA256) == -1)
		fatal("forge_algor_set");
	if ((*len = i2d_re_X509_tbs(x, &der)) <= 0)
		fatal("i2d_re_X509_tbs");
	X509_free(x);
	X509_NAME_free(other);
	return der;
}

static enum forge_err
sign(struct signer *s, unsigned chan, const unsigned char *tbs, int len)
{
	uint8_t	 sig[FORGE_SIG_MAX];
	size_t	 siglen = sizeof(sig);

	return signer_sign(signer_chan(s, chan), tbs, (size_t)len, sig, &siglen);
}

static void
test_policy(struct signer *s, X509 *ca, EVP_PKEY *key)
{
	unsigned char	*tbs, junk[64];
	int		 len;
	enum forge_err	 e, want;

	for (int sp = GOOD; sp < SPOIL_END; sp++) {
		tbs = mk_tbs(ca, key, sp, &len);
		e = sign(s, sp % 2, tbs, len);
		want = spoils[sp].signed_ ? FORGE_OK : FORGE_ERR_SIGNER_REFUSED;
		if (e != want)
			fprintf(stderr, "policy: %s: got %d\n", spoils[sp].name, e);
		CHECK(e == want);
		/* cut short: not a TBSCertificate */
		if (sp == GOOD)
			CHECK(sign(s, 0, tbs, len - 7) == FORGE_ERR_SIGNER_REFUSED);
		OPENSSL_free(tbs);
	}
	memset(junk, 0x30, sizeof(junk));
	CHECK(sign(s, 1, junk, sizeof(junk)) == FORGE_ERR_SIGNER_REFUSED);
	/* the direct check, for the record */
	tbs = mk_tbs(ca, key, CA_TRUE, &len);
	{
		const char *why = NULL;

		CHECK(signerd_check(ca, NID_ecdsa_with_SHA256, 0, tbs, len, time(NULL), &why) == -1);
		CHECK(why != NULL && strstr(why, "CA") != NULL);
	}
	OPENSSL_free(tbs);
	/* the lifetime bound is the configured one (--forge-lifetime) */
	tbs = mk_tbs(ca, key, DAY_AND_HOUR, &len);
	{
		const char *why = NULL;

		CHECK(signerd_check(ca, NID_ecdsa_with_SHA256, 2 * DAY, tbs, len, time(NULL),
		    &why) == 0 && why == NULL);
		CHECK(signerd_check(ca, NID_ecdsa_with_SHA256, DAY, tbs, len, time(NULL),
		    &why) == -1 && why != NULL && strstr(why, "validity") != NULL);
	}
	OPENSSL_free(tbs);
	tbs = mk_tbs(ca, key, GOOD, &len);
	{
		const char *why = NULL;

		CHECK(signerd_check(ca, NID_ecdsa_with_SHA256, 3600, tbs, len, time(NULL),
		    &why) == -1);
		CHECK(signerd_check(ca, NID_ecdsa_with_SHA256, 0, tbs, len, time(NULL),
		    &why) == 0);
	}
	OPENSSL_free(tbs);
}

/*
 * What forge.c makes under each policy, signed through a real signer
 * whose lifetime bound is the policy's: every extension copied (EKU with
 * emailProtection, a private OID), the origin extension, the client's
 * serial, three days of life, every key type.
 */
static void
test_policies_signed(X509 *ca)
{
	static const char *types[] = { "p256", "p384", "rsa2048", "rsa3072", "ed25519" };
	struct signer_conf cf = { 0 };
	struct forge_policy p;
	struct signer	 s;
	struct forge	*f;
	EVP_PKEY	*ckey = EVP_EC_gen("P-256");
	time_t		 now = time(NULL);
	X509		*client = mk_base("carol", NULL, ckey, now - DAY, now + 30 * DAY);

	add_ext(client, NULL, NID_basic_constraints, "critical,CA:FALSE");
	add_ext(client, NULL, NID_key_usage, "critical,digitalSignature,keyEncipherment");
	add_ext(client, NULL, NID_ext_key_usage, "clientAuth,serverAuth,emailProtection");
	add_ext(client, NULL, NID_subject_alt_name, "URI:spiffe://example.org/carol");
	if (X509_sign(client, ckey, EVP_sha256()) <= 0)
		fatal("X509_sign");

	forge_policy_init(&p);
	CHECK(forge_policy_set_lifetime(&p, "3d") == 0);
	CHECK(forge_policy_set_serial(&p, "copy") == 0);
	CHECK(forge_policy_add_oid(&p, "1.3.6.1.4.1.99999.7") == 0);
	CHECK(forge_policy_add_oid(&p, "certificatePolicies") == 0);
	p.fp_origin = true;
	cf.sc_key = path("key.pem");
	cf.sc_ca = path("ca.pem");
	cf.sc_user = geteuid() == 0 ? "nobody" : NULL;
	cf.sc_lifetime = p.fp_lifetime;
	CHECK(signer_start(&s, &cf, 1) == 0);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		X509 *x;

		CHECK(forge_policy_set_key_type(&p, types[i]) == 0);
		CHECK((f = forge_new(ca, NULL, &p, signer_sign, signer_chan(&s, 0), 2)) != NULL);
		if (f == NULL)
			continue;
		mint_ok(f, ca, client, types[i]);
		x = forge_mint(f, client, NULL);
		CHECK(x != NULL && X509_cmp_time(X509_get0_notAfter(x), &(time_t){ time(NULL) +
		    2 * DAY }) > 0);
		CHECK(x != NULL && ASN1_INTEGER_cmp(X509_get0_serialNumber(x),
		    X509_get0_serialNumber(client)) == 0);
		X509_free(x);
		forge_free(f);
	}
	signer_stop(&s);

	/* the same policy, a signer that keeps the default bound: refused */
	cf.sc_lifetime = 0;
	CHECK(signer_start(&s, &cf, 1) == 0);
	CHECK((f = forge_new(ca, NULL, &p, signer_sign, signer_chan(&s, 0), 2)) != NULL);
	CHECK(forge_mint(f, client, NULL) == NULL &&
	    forge_last_error(f) == FORGE_ERR_SIGNER_REFUSED);
	ERR_clear_error();
	forge_free(f);
	signer_stop(&s);
	forge_policy_free(&p);
	X509_free(client);
	EVP_PKEY_free(ckey);
}

/* The process: its name, and its user when we are root. */
/* /proc/PID/what of the signer into buf, NUL-terminated; false if absent. */
static bool
proc_read(pid_t pid, const char *what, char *buf, size_t cap)
{
	char	 p[64];
	FILE	*fp;
	size_t	 n;

	snprintf(p, sizeof(p), "/proc/%d/%s", (int)pid, what);
	if ((fp = fopen(p, "r")) == NULL)
		return false;
	n = fread(buf, 1, cap - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return true;
}

static void
test_process(struct signer *s)
{
	char	 buf[4096];

	CHECK(proc_read(s->s_pid, "comm", buf, sizeof(buf)));
	CHECK(strncmp(buf, SIGNER_COMM, strlen(SIGNER_COMM)) == 0);
	CHECK(proc_read(s->s_pid, "status", buf, sizeof(buf)));
	CHECK(strstr(buf, "NoNewPrivs:\t1") != NULL);
	if (geteuid() == 0)
		CHECK(strstr(buf, "Uid:\t65534\t65534\t65534\t65534") != NULL);
}

static bool
reaped(struct signer *s)
{
	char	 why[160];

	for (int i = 0; i < 200; i++) {
		if (signer_reap(s, why, sizeof(why)))
			return true;
		usleep(10000);
	}
	return false;
}

static void
test_death(struct signer *s, struct forge *f, X509 *ca, X509 *client)
{
	uint64_t	 t0;
	pid_t		 old;
	enum forge_err	 e;
	X509		*x;

	/* silent (stopped): the wait is bounded, fails closed, and the hung
	 * signer is killed so that it gets restarted */
	signer_chan(s, 0)->sc_timeout_ms = 300;
	old = s->s_pid;
	kill(s->s_pid, SIGSTOP);
	t0 = clock_ms();
	x = forge_mint(f, client, NULL);
	CHECK(x == NULL && forge_last_error(f) == FORGE_ERR_SIGNER_DOWN);
	CHECK(clock_ms() - t0 >= 250 && clock_ms() - t0 < 2000);
	ERR_clear_error();
	CHECK(reaped(s));
	CHECK(signer_restart(s) == 0);
	CHECK(s->s_pid > 0 && s->s_pid != old);
	mint_ok(f, ca, client, "after a hung signer was replaced");

	/* dead: fails closed at once, not after the timeout */
	old = s->s_pid;
	kill(s->s_pid, SIGKILL);
	CHECK(reaped(s));
	signer_chan(s, 0)->sc_timeout_ms = SIGNER_TIMEOUT_MS;
	t0 = clock_ms();
	x = forge_mint(f, client, NULL);
	e = forge_last_error(f);
	CHECK(x == NULL && e == FORGE_ERR_SIGNER_DOWN);
	CHECK(clock_ms() - t0 < 500);
	X509_free(x);
	ERR_clear_error();

	/* restarted: new process, new sockets, works again */
	CHECK(signer_restart(s) == 0);
	CHECK(s->s_pid > 0 && s->s_pid != old);
	mint_ok(f, ca, client, "after a restart");
}

/* RSA and Ed25519 delegation CAs sign through the signer too. */
static void
test_key_types(X509 *client)
{
	EVP_PKEY	*keys[2] = { EVP_RSA_gen(2048), EVP_PKEY_Q_keygen(NULL, NULL, "ED25519") };
	const char	*names[2] = { "RSA", "Ed25519" };

	for (int i = 0; i < 2; i++) {
		struct signer	 s;
		struct forge	*f;
		X509		*ca = mk_ca(names[i], keys[i]);

		write_pem("t-ca.pem", ca, NULL);
		write_pem("t-key.pem", NULL, keys[i]);
		CHECK(start(&s, "t-key.pem", "t-ca.pem", 1) == 0);
		CHECK((f = forge_new(ca, NULL, NULL, signer_sign, signer_chan(&s, 0), 2)) != NULL);
		if (f != NULL)
			mint_ok(f, ca, client, names[i]);
		forge_free(f);
		signer_stop(&s);
		X509_free(ca);
		EVP_PKEY_free(keys[i]);
	}
}

int
main(void)
{
	EVP_PKEY	*ca_key, *other_key, *client_key;
	X509		*ca, *client;
	GENERAL_NAMES	*san;
	struct signer	 s;
	struct forge	*f;
	time_t		 now = time(NULL);
	pid_t		 pid;

	snprintf(dir, sizeof(dir), "/tmp/test_signer.XXXXXX");
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	ca_key = EVP_EC_gen("P-256");
	other_key = EVP_EC_gen("P-256");
	client_key = EVP_EC_gen("P-256");
	ca = mk_ca("Delegation CA", ca_key);
	client = mk_base("alice", NULL, client_key, now - DAY, now + 30 * DAY);
	san = sk_GENERAL_NAME_new_null();
	san_add(san, GEN_URI, "spiffe://example.org/ns/a/sa/alice", -1);
	if (X509_add1_ext_i2d(client, NID_subject_alt_name, san, 0, X509V3_ADD_DEFAULT) != 1)
		fatal("subjectAltName");
	GENERAL_NAMES_free(san);
	if (X509_sign(client, client_key, EVP_sha256()) <= 0)
		fatal("X509_sign");
	write_pem("ca.pem", ca, NULL);
	write_pem("key.pem", NULL, ca_key);
	write_pem("other.pem", NULL, other_key);

	/* refuses to start with a key that is not the CA's, or none */
	fprintf(stderr, "(two start-up errors expected)\n");
	CHECK(start(&s, "other.pem", "ca.pem", 1) == -1);
	CHECK(start(&s, "absent.pem", "ca.pem", 1) == -1);

	CHECK(start(&s, "key.pem", "ca.pem", 2) == 0);
	test_process(&s);
	CHECK((f = forge_new(ca, NULL, NULL, signer_sign, signer_chan(&s, 0), 4)) != NULL);
	mint_ok(f, ca, client, "first");
	test_policy(&s, ca, ca_key);
	test_death(&s, f, ca, client);
	forge_free(f);
	pid = s.s_pid;
	signer_stop(&s);
	CHECK(kill(pid, 0) == -1 && errno == ESRCH);

	test_key_types(client);
	test_policies_signed(ca);

	unlink(path("ca.pem"));
	unlink(path("key.pem"));
	unlink(path("other.pem"));
	unlink(path("t-ca.pem"));
	unlink(path("t-key.pem"));
	rmdir(dir);
	X509_free(client);
	X509_free(ca);
	EVP_PKEY_free(client_key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(ca_key);
	return CHECK_DONE();
}
