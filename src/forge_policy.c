/*
 * forge_policy.c - the forging policy, from the --forge-* flags.
 *
 * Only parsing and checking here; forge.c applies the policy.  Each setter
 * says what is wrong with its flag's value on stderr, in the daemon's
 * words, and leaves the policy as it was.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

#include "config_msg.h"
#include "forge.h"

#define FORGE_POOL_DEFAULT	16

/*
 * Extensions that are never copied: they describe the client's CA or how
 * to check the client certificate with it (key identifiers, where its
 * issuer and CRLs are, what only a CA certificate may say), or they were
 * signed over the original certificate (SCTs).  A forged certificate
 * carrying them would point verifiers at the wrong CA.
 */
static const int forge_policy_never[] = {
	NID_subject_key_identifier, NID_authority_key_identifier, NID_info_access,
	NID_crl_distribution_points, NID_freshest_crl, NID_issuer_alt_name,
	NID_name_constraints, NID_policy_constraints, NID_policy_mappings,
	NID_inhibit_any_policy, NID_ct_precert_scts,
};

static const char *forge_key_type_names[] = {
	[FORGE_KEY_P256] = "p256", [FORGE_KEY_P384] = "p384",
	[FORGE_KEY_RSA2048] = "rsa2048", [FORGE_KEY_RSA3072] = "rsa3072",
	[FORGE_KEY_ED25519] = "ed25519",
};

static int	 forge_policy_one(struct forge_policy *, const char *, const char *);
static bool	 forge_policy_has(const struct forge_policy *, const ASN1_OBJECT *);
static void	 forge_policy_clear_oids(struct forge_policy *);

void
forge_policy_init(struct forge_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->fp_copy = FORGE_COPY_DEFAULT;
	p->fp_lifetime = FORGE_LIFETIME_DEFAULT;
	p->fp_serial = FORGE_SERIAL_RANDOM;
	p->fp_key_type = FORGE_KEY_P256;
	p->fp_key_reuse = FORGE_REUSE_WORKER;
}

int
forge_policy_copy(struct forge_policy *dst, const struct forge_policy *src)
{
	*dst = *src;
	for (unsigned i = 0; i < FORGE_OIDS_MAX; i++)
		dst->fp_oids[i] = NULL;
	dst->fp_noids = 0;
	dst->fp_origin_oid = NULL;
	for (unsigned i = 0; i < src->fp_noids; i++) {
		if ((dst->fp_oids[i] = OBJ_dup(src->fp_oids[i])) == NULL)
			goto fail;
		dst->fp_noids++;
	}
	if (src->fp_origin_oid != NULL &&
	    (dst->fp_origin_oid = OBJ_dup(src->fp_origin_oid)) == NULL)
		goto fail;
	return 0;
fail:
	forge_policy_free(dst);
	return -1;
}

static bool
forge_oid_eq(const ASN1_OBJECT *a, const ASN1_OBJECT *b)
{
	return a == NULL || b == NULL ? a == b : OBJ_cmp(a, b) == 0;
}

bool
forge_policy_equal(const struct forge_policy *a, const struct forge_policy *b)
{
	if (a->fp_copy != b->fp_copy || a->fp_noids != b->fp_noids ||
	    a->fp_lifetime != b->fp_lifetime || a->fp_serial != b->fp_serial ||
	    a->fp_key_type != b->fp_key_type || a->fp_key_reuse != b->fp_key_reuse ||
	    a->fp_pool_size != b->fp_pool_size || a->fp_origin != b->fp_origin ||
	    !forge_oid_eq(a->fp_origin_oid, b->fp_origin_oid))
		return false;
	for (unsigned i = 0; i < a->fp_noids; i++)
		if (!forge_oid_eq(a->fp_oids[i], b->fp_oids[i]))
			return false;
	return true;
}

static void
forge_policy_clear_oids(struct forge_policy *p)
{
	for (unsigned i = 0; i < p->fp_noids; i++) {
		ASN1_OBJECT_free(p->fp_oids[i]);
		p->fp_oids[i] = NULL;
	}
	p->fp_noids = 0;
}

void
forge_policy_free(struct forge_policy *p)
{
	forge_policy_clear_oids(p);
	ASN1_OBJECT_free(p->fp_origin_oid);
	p->fp_origin_oid = NULL;
}

static bool
forge_policy_has(const struct forge_policy *p, const ASN1_OBJECT *obj)
{
	for (unsigned i = 0; i < p->fp_noids; i++)
		if (OBJ_cmp(p->fp_oids[i], obj) == 0)
			return true;
	return false;
}

/* One extension, by OpenSSL name (keyUsage, certificatePolicies, ...) or
 * dotted OID, added to what is copied. */
static int
forge_policy_one(struct forge_policy *p, const char *flag, const char *name)
{
	ASN1_OBJECT *obj, *origin;
	int nid;

	if ((obj = OBJ_txt2obj(name, 0)) == NULL) {
		ERR_clear_error();
		config_error("--%s: \"%s\" is not an extension name or a dotted "
		    "OID\n", flag, name);
		return -1;
	}
	switch ((nid = OBJ_obj2nid(obj))) {
	case NID_basic_constraints:
		p->fp_copy |= FORGE_COPY_BC;
		break;
	case NID_key_usage:
		p->fp_copy |= FORGE_COPY_KU;
		break;
	case NID_ext_key_usage:
		p->fp_copy |= FORGE_COPY_EKU;
		break;
	case NID_subject_alt_name:
		p->fp_copy |= FORGE_COPY_SAN;
		break;
	default:
		for (size_t i = 0; i < sizeof(forge_policy_never) / sizeof(forge_policy_never[0]); i++) {
			if (nid == forge_policy_never[i]) {
				config_error("--%s: %s is never copied: it describes "
				    "the client's CA, or was signed over the client's own "
				    "certificate\n", flag, name);
				ASN1_OBJECT_free(obj);
				return -1;
			}
		}
		origin = OBJ_txt2obj(FORGE_ORIGIN_OID, 1);
		if (origin == NULL || OBJ_cmp(obj, origin) == 0 ||
		    (p->fp_origin_oid != NULL && OBJ_cmp(obj, p->fp_origin_oid) == 0)) {
			config_error("--%s: %s is the origin extension's OID "
			    "(--forge-origin-ext): ktproxy's own\n", flag, name);
			ASN1_OBJECT_free(origin);
			ASN1_OBJECT_free(obj);
			return -1;
		}
		ASN1_OBJECT_free(origin);
		if (forge_policy_has(p, obj))
			break;
		if (p->fp_noids == FORGE_OIDS_MAX) {
			config_error("--%s: at most %d further extensions\n", flag,
			    FORGE_OIDS_MAX);
			ASN1_OBJECT_free(obj);
			return -1;
		}
		p->fp_oids[p->fp_noids++] = obj;
		return 0;
	}
	ASN1_OBJECT_free(obj);
	return 0;
}

int
forge_policy_set_extensions(struct forge_policy *p, const char *list)
{
	struct forge_policy next = *p;
	char *copy, *tok, *rest;
	int rc = 0;

	/* The new list replaces the old one: built aside, swapped in whole. */
	next.fp_copy = 0;
	next.fp_noids = 0;
	for (unsigned i = 0; i < FORGE_OIDS_MAX; i++)
		next.fp_oids[i] = NULL;
	if (strcmp(list, "none") == 0)
		goto done;
	if ((copy = strdup(list)) == NULL)
		return -1;
	/* strsep, not strtok: "a,,b" is a mistake to report, not to skip */
	for (rest = copy; (tok = strsep(&rest, ",")) != NULL; ) {
		while (*tok == ' ')
			tok++;
		for (char *e = tok + strlen(tok); e > tok && e[-1] == ' '; )
			*--e = '\0';
		if (*tok == '\0') {
			config_error("--forge-extensions: empty name in \"%s\"\n", list);
			rc = -1;
			break;
		}
		if (forge_policy_one(&next, "forge-extensions", tok) == -1) {
			rc = -1;
			break;
		}
	}
	free(copy);
	if (rc == -1) {
		forge_policy_clear_oids(&next);
		return -1;
	}
done:
	forge_policy_clear_oids(p);
	p->fp_copy = next.fp_copy;
	p->fp_noids = next.fp_noids;
	memcpy(p->fp_oids, next.fp_oids, sizeof(p->fp_oids));
	return 0;
}

int
forge_policy_add_oid(struct forge_policy *p, const char *oid)
{
	return forge_policy_one(p, "forge-copy-oid", oid);
}

/* SEC, or a number with s, m, h or d. */
int
forge_policy_set_lifetime(struct forge_policy *p, const char *arg)
{
	unsigned long v, mult = 1;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (end != arg && *arg != '-' && errno == 0) {
		switch (*end) {
		case 's': mult = 1; end++; break;
		case 'm': mult = 60; end++; break;
		case 'h': mult = 3600; end++; break;
		case 'd': mult = 86400; end++; break;
		}
	}
	if (end == arg || *arg == '-' || *end != '\0' || errno != 0 ||
	    v > FORGE_LIFETIME_LIMIT / mult || v * mult < FORGE_LIFETIME_MIN) {
		config_error("--forge-lifetime: \"%s\" is not a lifetime from %ds to "
		    "%dd (SEC, or a number with s, m, h or d)\n", arg, FORGE_LIFETIME_MIN,
		    FORGE_LIFETIME_LIMIT / 86400);
		return -1;
	}
	p->fp_lifetime = (unsigned)(v * mult);
	return 0;
}

int
forge_policy_set_serial(struct forge_policy *p, const char *arg)
{
	if (strcmp(arg, "random") == 0)
		p->fp_serial = FORGE_SERIAL_RANDOM;
	else if (strcmp(arg, "copy") == 0)
		p->fp_serial = FORGE_SERIAL_COPY;
	else {
		config_error("--forge-serial: \"%s\" is not random or copy\n", arg);
		return -1;
	}
	return 0;
}

const char *
forge_key_type_name(enum forge_key_type t)
{
	return (unsigned)t < sizeof(forge_key_type_names) / sizeof(forge_key_type_names[0]) ?
	    forge_key_type_names[t] : "?";
}

int
forge_policy_set_key_type(struct forge_policy *p, const char *arg)
{
	for (size_t i = 0; i < sizeof(forge_key_type_names) / sizeof(forge_key_type_names[0]); i++) {
		if (strcmp(arg, forge_key_type_names[i]) == 0) {
			p->fp_key_type = (enum forge_key_type)i;
			return 0;
		}
	}
	config_error("--forge-key-type: \"%s\" is not p256, p384, rsa2048, rsa3072 "
	    "or ed25519\n", arg);
	return -1;
}

int
forge_policy_set_key_reuse(struct forge_policy *p, const char *arg)
{
	unsigned long n = FORGE_POOL_DEFAULT;
	char *end;

	if (strcmp(arg, "worker") == 0) {
		p->fp_key_reuse = FORGE_REUSE_WORKER;
		return 0;
	}
	if (strcmp(arg, "identity") == 0) {
		p->fp_key_reuse = FORGE_REUSE_IDENTITY;
		return 0;
	}
	if (strncmp(arg, "pool", 4) == 0 && (arg[4] == '\0' || arg[4] == ':')) {
		if (arg[4] == ':') {
			errno = 0;
			n = strtoul(arg + 5, &end, 10);
			if (errno != 0 || end == arg + 5 || *end != '\0' || arg[5] == '-')
				n = 0;
		}
		if (n >= 1 && n <= FORGE_POOL_MAX) {
			p->fp_key_reuse = FORGE_REUSE_POOL;
			p->fp_pool_size = (unsigned)n;
			return 0;
		}
	}
	config_error("--forge-key-reuse: \"%s\" is not worker, identity or pool[:N] "
	    "(N from 1 to %d)\n", arg, FORGE_POOL_MAX);
	return -1;
}

int
forge_policy_set_origin_oid(struct forge_policy *p, const char *arg)
{
	ASN1_OBJECT *obj;

	/* Dotted only, and not an extension OpenSSL knows: a private OID. */
	if ((obj = OBJ_txt2obj(arg, 1)) == NULL || OBJ_obj2nid(obj) != NID_undef ||
	    forge_policy_has(p, obj)) {
		ERR_clear_error();
		config_error("--forge-origin-oid: \"%s\" is not a dotted OID of your "
		    "own (not a known extension, not one copied)\n", arg);
		ASN1_OBJECT_free(obj);
		return -1;
	}
	ASN1_OBJECT_free(p->fp_origin_oid);
	p->fp_origin_oid = obj;
	p->fp_origin = true;
	return 0;
}

EVP_PKEY *
forge_policy_keygen(enum forge_key_type t)
{
	switch (t) {
	case FORGE_KEY_P256:
		return EVP_EC_gen("P-256");
	case FORGE_KEY_P384:
		return EVP_EC_gen("P-384");
	case FORGE_KEY_RSA2048:
		return EVP_RSA_gen(2048);
	case FORGE_KEY_RSA3072:
		return EVP_RSA_gen(3072);
	case FORGE_KEY_ED25519:
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	}
	return NULL;
}
