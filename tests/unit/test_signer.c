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
 * spoiled by `spoil`. */
enum spoil {
	GOOD, CA_TRUE, SERVER_AUTH, CLIENT_AND_SERVER, NO_EKU, KEY_CERT_SIGN,
	OTHER_ISSUER, LONG_LIFE, OTHER_ALG, BACKDATED,
};

static unsigned char *
mk_tbs(X509 *ca, EVP_PKEY *key, enum spoil spoil, int *len)
{
	time_t		 now = time(NULL);
	X509_NAME	*other = name("Another CA");
	X509		*x;
	unsigned char	*der = NULL;

	x = mk_base("evil", spoil == OTHER_ISSUER ? other : X509_get_subject_name(ca), key,
	    spoil == BACKDATED ? now - 30 * DAY : now - 300,
	    spoil == LONG_LIFE ? now + 30 * DAY : now + DAY);
	add_ext(x, ca, NID_basic_constraints, spoil == CA_TRUE ? "critical,CA:TRUE" :
	    "critical,CA:FALSE");
	add_ext(x, ca, NID_key_usage, spoil == KEY_CERT_SIGN ?
	    "critical,digitalSignature,keyCertSign" : "critical,digitalSignature");
	if (spoil == SERVER_AUTH)
		add_ext(x, ca, NID_ext_key_usage, "serverAuth");
	else if (spoil == CLIENT_AND_SERVER)
		add_ext(x, ca, NID_ext_key_usage, "clientAuth,serverAuth");
	else if (spoil != NO_EKU)
		add_ext(x, ca, NID_ext_key_usage, "clientAuth");
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
	static const char *names[] = { "a forged client certificate", "CA:TRUE",
	    "serverAuth only", "clientAuth and serverAuth", "no extendedKeyUsage",
	    "keyCertSign", "another issuer", "a 30-day lifetime", "another algorithm",
	    "notBefore a month ago" };
	unsigned char	*tbs, junk[64];
	int		 len;
	enum forge_err	 e;

	for (int sp = GOOD; sp <= BACKDATED; sp++) {
		tbs = mk_tbs(ca, key, sp, &len);
		e = sign(s, sp % 2, tbs, len);
		if (e != (sp == GOOD ? FORGE_OK : FORGE_ERR_SIGNER_REFUSED))
			fprintf(stderr, "policy: %s: got %d\n", names[sp], e);
		CHECK(e == (sp == GOOD ? FORGE_OK : FORGE_ERR_SIGNER_REFUSED));
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
