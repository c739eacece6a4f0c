/*
 * verify.c - the client leg's verification settings (CRL files, depth,
 * purpose) and the per-listener allow-list of identities.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "config_msg.h"
#include "ident.h"
#include "tls.h"
#include "verify.h"

static const struct {
	const char	*name;
	enum allow_kind	 kind;
} allow_kinds[] = {
	{ "uri",	ALLOW_URI },
	{ "dns",	ALLOW_DNS },
	{ "email",	ALLOW_EMAIL },
	{ "subject",	ALLOW_SUBJECT },
};

static bool	 allow_match_sans(const struct allow_list *, const GENERAL_NAMES *);
static bool	 allow_match_one(const struct allow_list *, enum allow_kind, const char *);
static time_t	 verify_crl_until(X509_STORE *);

void
verify_conf_init(struct verify_conf *vc)
{
	memset(vc, 0, sizeof(*vc));
	vc->vc_depth = VERIFY_DEPTH_DEFAULT;
	vc->vc_client_eku = true;
}

int
verify_add_crl(struct verify_conf *vc, const char *file)
{
	if (vc->vc_ncrl == VERIFY_CRL_MAX) {
		config_error("--crl: more than %d files (put several CRLs "
		    "in one PEM file)\n", VERIFY_CRL_MAX);
		return -1;
	}
	vc->vc_crl[vc->vc_ncrl++] = file;
	return 0;
}

int
allow_add(struct allow_list *al, const char *arg)
{
	const char *colon = strchr(arg, ':');
	size_t klen;

	if (al->al_n == ALLOW_MAX) {
		config_error("--allow: more than %d patterns\n", ALLOW_MAX);
		return -1;
	}
	if (colon != NULL && colon[1] != '\0') {
		klen = colon - arg;
		for (size_t i = 0; i < sizeof(allow_kinds) / sizeof(allow_kinds[0]); i++) {
			if (strlen(allow_kinds[i].name) != klen ||
			    strncasecmp(arg, allow_kinds[i].name, klen) != 0)
				continue;
			al->al_pat[al->al_n].ap_kind = allow_kinds[i].kind;
			al->al_pat[al->al_n].ap_glob = colon + 1;
			al->al_n++;
			return 0;
		}
	}
	config_error("--allow: \"%s\" is not KIND:PATTERN with KIND one of "
	    "uri, dns, email, subject (e.g. uri:spiffe://example.test/*)\n", arg);
	return -1;
}

/*
 * fnmatch(3) without flags: '*' and '?' match any character, '/' and '.'
 * included, so "dns:*.example.test" takes a.b.example.test too.  DNS
 * names and mail addresses are compared without regard to case.
 */
static bool
allow_match_one(const struct allow_list *al, enum allow_kind kind, const char *value)
{
	int flags = kind == ALLOW_DNS || kind == ALLOW_EMAIL ? FNM_CASEFOLD : 0;

	for (unsigned i = 0; i < al->al_n; i++)
		if (al->al_pat[i].ap_kind == kind &&
		    fnmatch(al->al_pat[i].ap_glob, value, flags) == 0)
			return true;
	return false;
}

static bool
allow_match_sans(const struct allow_list *al, const GENERAL_NAMES *gens)
{
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *gen = sk_GENERAL_NAME_value(gens, i);
		const ASN1_IA5STRING *s;
		enum allow_kind kind;
		char *value;
		bool hit;
		int type;

		s = GENERAL_NAME_get0_value(gen, &type);
		switch (type) {
		case GEN_URI:	kind = ALLOW_URI; break;
		case GEN_DNS:	kind = ALLOW_DNS; break;
		case GEN_EMAIL:	kind = ALLOW_EMAIL; break;
		default:	continue;
		}
		/* A NUL inside would let "evil.test\0.example.test" pass for
		 * what follows it: such an entry matches nothing. */
		if (s == NULL || memchr(s->data, '\0', s->length) != NULL)
			continue;
		if ((value = strndup((const char *)s->data, s->length)) == NULL)
			return false;
		hit = allow_match_one(al, kind, value);
		free(value);
		if (hit)
			return true;
	}
	return false;
}

bool
allow_match(const struct allow_list *al, X509 *leaf)
{
	bool want_sans = false, want_subject = false, hit = false;
	GENERAL_NAMES *gens;
	char *subject;
	int crit;

	if (al->al_n == 0)
		return true;
	for (unsigned i = 0; i < al->al_n; i++) {
		if (al->al_pat[i].ap_kind == ALLOW_SUBJECT)
			want_subject = true;
		else
			want_sans = true;
	}
	/* Two subjectAltName extensions (crit -2) are a malformed
	 * certificate: nothing in them counts. */
	if (want_sans &&
	    (gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL)) != NULL) {
		hit = allow_match_sans(al, gens);
		GENERAL_NAMES_free(gens);
	}
	if (!hit && want_subject &&
	    (subject = ident_dn(X509_get_subject_name(leaf))) != NULL) {
		hit = allow_match_one(al, ALLOW_SUBJECT, subject);
		free(subject);
	}
	return hit;
}

/* When the first of the loaded CRLs is due for replacement (0: none says):
 * a verdict reached with them must not outlive that. */
static time_t
verify_crl_until(X509_STORE *store)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
	time_t now = time(NULL), until = 0;
	int days, secs;

	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
		const ASN1_TIME *next;
		time_t t;

		if (X509_OBJECT_get_type(o) != X509_LU_CRL ||
		    (next = X509_CRL_get0_nextUpdate(X509_OBJECT_get0_X509_CRL(o))) == NULL ||
		    ASN1_TIME_diff(&days, &secs, NULL, next) != 1)
			continue;
		t = now + (time_t)days * 86400 + secs;
		if (until == 0 || t < until)
			until = t;
	}
	return until;
}

int
verify_setup_client(SSL_CTX *ctx, const struct verify_conf *vc, time_t *crl_until)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	X509_LOOKUP *lookup;

	*crl_until = 0;
	/* OpenSSL's depth: intermediates between the leaf and the anchor,
	 * neither of which counts (CERT_CHAIN_TOO_LONG past it). */
	SSL_CTX_set_verify_depth(ctx, (int)vc->vc_depth);
	/* sslclient: an extendedKeyUsage must list clientAuth (on CAs of the
	 * chain too), a keyUsage digitalSignature or keyAgreement; a
	 * certificate without them may be used for anything (RFC 5280
	 * 4.2.1.12).  Without the check, any purpose passes. */
	if (SSL_CTX_set_purpose(ctx, vc->vc_client_eku ? X509_PURPOSE_SSL_CLIENT :
	    X509_PURPOSE_ANY) != 1) {
		fprintf(stderr, "ktproxy: cannot set the client certificate purpose:\n");
		tls_print_errors("ktproxy:   ");
		return -1;
	}
	if (vc->vc_ncrl == 0)
		return 0;
	if ((lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file())) == NULL) {
		tls_print_errors("ktproxy: ");
		return -1;
	}
	for (unsigned i = 0; i < vc->vc_ncrl; i++) {
		if (X509_load_crl_file(lookup, vc->vc_crl[i], X509_FILETYPE_PEM) <= 0) {
			fprintf(stderr, "ktproxy: --crl: cannot load CRLs from %s:\n", vc->vc_crl[i]);
			tls_print_errors("ktproxy:   ");
			return -1;
		}
	}
	/* The leaf is checked against its issuer's CRL, which must be among
	 * them (a client of a CA without one is refused: crl_error).  The
	 * intermediates are not checked: CRL_CHECK_ALL would refuse every
	 * client of a CA whose parent publishes none. */
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	*crl_until = verify_crl_until(store);
	return 0;
}
