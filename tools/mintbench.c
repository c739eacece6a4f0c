/*
 * mintbench - forged certificates minted per second, on one core, for
 * each --forge-key-type.
 *
 * What a forge-cache miss costs a worker: forge_mint() builds the
 * certificate for a client (subject and SANs copied, extensions, serial)
 * and has it signed by the delegation CA.  Three ways, each per key type:
 *
 *   local     signed in this process (forge_sign_local): the CPU work of
 *             building plus the CA's signature
 *   signer    signed by a real signer process over its socket, as the
 *             daemon does (the round trip included; two processes busy)
 *   identity  like local, plus a new subject key per certificate
 *             (--forge-key-reuse identity): what a new identity costs then
 *
 * The delegation CA is made here (--ca p256|p384|rsa2048|rsa3072|ed25519,
 * default p256), and so is the client certificate (EC P-256, a subject of
 * three RDNs and four SANs).  Each measurement runs for --seconds (default
 * 1) and at least 10 mints.  Prints one line per measurement, or with
 * --json one JSON object for tools/bench.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "clock.h"
#include "forge.h"
#include "signer.h"

#define MB_MIN_MINTS	10

static const char *mb_types[] = { "p256", "p384", "rsa2048", "rsa3072", "ed25519" };
#define MB_NTYPES	(sizeof(mb_types) / sizeof(mb_types[0]))

static void
mb_fatal(const char *what)
{
	fprintf(stderr, "mintbench: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static enum forge_key_type
mb_type(const char *name)
{
	struct forge_policy	 p;

	forge_policy_init(&p);
	if (forge_policy_set_key_type(&p, name) == -1)
		exit(2);
	return p.fp_key_type;
}

static void
mb_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value)) == NULL ||
	    X509_add_ext(x, ext, -1) != 1)
		mb_fatal(value);
	X509_EXTENSION_free(ext);
}

/* A certificate for cn with key, issued by issuer/issuer_key (NULL:
 * self-signed), a CA or a TLS client. */
static X509 *
mb_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca)
{
	X509		*x = X509_new();
	X509_NAME	*n = X509_NAME_new();
	time_t		 now = time(NULL);
	EVP_PKEY	*signer = issuer_key != NULL ? issuer_key : key;

	if (x == NULL || n == NULL ||
	    X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const unsigned char *)"US", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"mintbench", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) != 1)
		mb_fatal("name");
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 0x4b54);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
	ASN1_TIME_set(X509_getm_notBefore(x), now - 3600);
	ASN1_TIME_set(X509_getm_notAfter(x), now + 30 * 86400);
	X509_set_pubkey(x, key);
	if (ca) {
		mb_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		mb_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
		mb_ext(x, x, NID_subject_key_identifier, "hash");
	} else {
		mb_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		mb_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
		mb_ext(x, issuer, NID_ext_key_usage, "clientAuth");
		mb_ext(x, issuer, NID_subject_alt_name, "URI:spiffe://example.org/ns/prod/sa/api,"
		    "DNS:api.example.org,DNS:api.internal,email:api@example.org");
	}
	if (X509_sign(x, signer, EVP_PKEY_is_a(signer, "ED25519") ? NULL : EVP_sha256()) <= 0)
		mb_fatal("X509_sign");
	X509_NAME_free(n);
	return x;
}

static void
mb_write(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE	*fp = fopen(path, "w");

	if (fp == NULL || (x != NULL && PEM_write_X509(fp, x) != 1) ||
	    (k != NULL && PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL) != 1))
		mb_fatal(path);
	fclose(fp);
}

/* Mint for at least `secs` and MB_MIN_MINTS; mints per second. */
static double
mb_run(struct forge *f, X509 *client, double secs, unsigned long *count)
{
	uint64_t	 t0 = clock_ms(), t;
	unsigned long	 n = 0;

	do {
		X509 *x = forge_mint(f, client, NULL);

		if (x == NULL)
			mb_fatal("forge_mint");
		X509_free(x);
		n++;
		t = clock_ms();
	} while (n < MB_MIN_MINTS || (double)(t - t0) < secs * 1000);
	*count = n;
	return t > t0 ? n * 1000.0 / (double)(t - t0) : 0;
}

static void
mb_usage(FILE *fp)
{
	fputs("usage: mintbench [--ca TYPE] [--seconds S] [--no-signer] [--json]\n"
	    "  forged certificates minted per second on one core, per --forge-key-type\n"
	    "  (p256, p384, rsa2048, rsa3072, ed25519): signed in process (local), by a\n"
	    "  signer process (signer), and with a new key each (identity).\n"
	    "  --ca TYPE      the delegation CA's key type (default p256)\n"
	    "  --seconds S    time per measurement (default 1)\n", fp);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ca", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ "no-signer", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char		*ca_type = "p256", *modes[3] = { "local", "signer", "identity" };
	char			 dir[] = "/tmp/mintbench.XXXXXX", ca_path[64], key_path[64];
	struct forge_policy	 p;
	struct signer		 s;
	struct signer_conf	 sc = { 0 };
	bool			 use_signer = true, json = false, first = true;
	double			 secs = 1;
	EVP_PKEY		*ca_key, *client_key;
	X509			*ca, *client_ca, *client;
	int			 c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': ca_type = optarg; break;
		case 's': secs = atof(optarg); break;
		case 'n': use_signer = false; break;
		case 'j': json = true; break;
		case 'h': mb_usage(stdout); return 0;
		default: mb_usage(stderr); return 2;
		}
	}
	if (secs <= 0 || optind != argc) {
		mb_usage(stderr);
		return 2;
	}
	if ((ca_key = forge_policy_keygen(mb_type(ca_type))) == NULL ||
	    (client_key = EVP_EC_gen("P-256")) == NULL)
		mb_fatal("keygen");
	ca = mb_cert("mintbench delegation CA", ca_key, NULL, NULL, true);
	client_ca = mb_cert("mintbench client CA", client_key, NULL, NULL, true);
	client = mb_cert("api", client_key, client_ca, client_key, false);

	if (use_signer) {
		if (mkdtemp(dir) == NULL)
			mb_fatal("mkdtemp");
		snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", dir);
		snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
		mb_write(ca_path, ca, NULL);
		mb_write(key_path, NULL, ca_key);
		sc.sc_ca = ca_path;
		sc.sc_key = key_path;
		sc.sc_user = NULL;	/* stays who we are */
		sc.sc_exec = NULL;	/* a forked signer: this program is single-threaded */
		if (signer_start(&s, &sc, 1) == -1)
			mb_fatal("signer_start");
	}

	if (json)
		printf("{\"ca\":\"%s\",\"seconds\":%.2f,\"results\":[", ca_type, secs);
	for (size_t t = 0; t < MB_NTYPES; t++) {
		for (int m = 0; m < 3; m++) {
			struct forge	*f;
			unsigned long	 n;
			double		 rate;

			if (m == 1 && !use_signer)
				continue;
			forge_policy_init(&p);
			if (forge_policy_set_key_type(&p, mb_types[t]) == -1 ||
			    (m == 2 && forge_policy_set_key_reuse(&p, "identity") == -1))
				return 2;
			f = m == 1 ? forge_new(ca, NULL, &p, signer_sign, signer_chan(&s, 0), 0) :
			    forge_new(ca, NULL, &p, forge_sign_local, ca_key, 0);
			if (f == NULL)
				mb_fatal("forge_new");
			rate = mb_run(f, client, secs, &n);
			forge_free(f);
			forge_policy_free(&p);
			if (json) {
				printf("%s{\"key\":\"%s\",\"mode\":\"%s\",\"mints\":%lu,"
				    "\"per_second\":%.1f}", first ? "" : ",", mb_types[t], modes[m],
				    n, rate);
				first = false;
			} else {
				printf("ca=%s key=%-8s mode=%-8s mints=%-6lu per_second=%.1f\n",
				    ca_type, mb_types[t], modes[m], n, rate);
			}
			fflush(stdout);
		}
	}
	if (json)
		printf("]}\n");

	if (use_signer) {
		signer_stop(&s);
		unlink(ca_path);
		unlink(key_path);
		rmdir(dir);
	}
	X509_free(client);
	X509_free(client_ca);
	X509_free(ca);
	EVP_PKEY_free(client_key);
	EVP_PKEY_free(ca_key);
	return 0;
}
