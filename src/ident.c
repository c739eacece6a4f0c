/*
 * ident.c - what the upstream learns about a verified client certificate.
 *
 * Everything here ends up in HTTP header values that the upstream trusts,
 * and the certificate fields are chosen by whoever the client CA signed: a
 * subject or a SAN may carry CR, LF, NUL or quotes.  So every string taken
 * from the certificate is made safe once, when it is extracted (no control
 * bytes, valid UTF-8), and the header writer escapes control bytes again
 * as a last line of defence.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ident.h"

static size_t	 ident_utf8_len(const unsigned char *, size_t);
static char	*ident_name(const X509_NAME *);
static char	*ident_text(const unsigned char *, size_t);
static int	 ident_time(const ASN1_TIME *, char [21]);
static char	*ident_serial(const ASN1_INTEGER *);
static int	 ident_pem(struct ident_str *, X509 *);
static char	*ident_b64(X509 *);
static int	 ident_push(char ***, size_t *, char *);
static int	 ident_sans(struct ident *, X509 *);
static void	 ident_freev(char **, size_t);
static bool	 ident_unreserved(unsigned char);

static const char ident_hexdigits[] = "0123456789ABCDEF";

void
ident_str_add(struct ident_str *is, const void *p, size_t n)
{
	char	*s;
	size_t	 cap;

	if (is->is_err)
		return;
	if (is->is_cap - is->is_len <= n) {
		cap = is->is_cap ? is->is_cap : 256;
		while (cap - is->is_len <= n)
			cap *= 2;
		if ((s = realloc(is->is_s, cap)) == NULL) {
			is->is_err = 1;
			return;
		}
		is->is_s = s;
		is->is_cap = cap;
	}
	memcpy(is->is_s + is->is_len, p, n);
	is->is_len += n;
	is->is_s[is->is_len] = '\0';
}

void
ident_str_adds(struct ident_str *is, const char *s)
{
	ident_str_add(is, s, strlen(s));
}

/* prefix ("\\", "\\x" or "%") and two upper-case hex digits */
void
ident_str_hex(struct ident_str *is, const char *prefix, unsigned char c)
{
	char	 hex[2] = { ident_hexdigits[c >> 4], ident_hexdigits[c & 0xf] };

	ident_str_adds(is, prefix);
	ident_str_add(is, hex, sizeof(hex));
}

char *
ident_str_done(struct ident_str *is, size_t *len)
{
	if (is->is_err) {
		free(is->is_s);
		return NULL;
	}
	if (is->is_s == NULL)	/* nothing added: still a string */
		ident_str_add(is, "", 0);
	if (is->is_err)
		return NULL;
	if (len != NULL)
		*len = is->is_len;
	return is->is_s;
}

/*
 * Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 if there is none.
 */
static size_t
ident_utf8_len(const unsigned char *p, size_t n)
{
	size_t		 len, i;
	unsigned int	 cp, min;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2; cp = p[0] & 0x1f; min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3; cp = p[0] & 0x0f; min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4; cp = p[0] & 0x07; min = 0x10000;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * A distinguished name as RFC 2253 text.  XN_FLAG_RFC2253 would escape
 * every byte above 0x7f (ESC_MSB), turning "Zoë" into "Zo\C3\AB"; without
 * it OpenSSL still converts every string type to UTF-8 and escapes control
 * characters as \XX, but a UTF8String is copied as is, invalid or not.
 * Hence the second pass: what is not well-formed UTF-8, and any control
 * byte OpenSSL left alone, becomes an RFC 4514 \XX hex pair.
 */
static char *
ident_name(const X509_NAME *name)
{
	struct ident_str	 is = { 0 };
	BIO			*bio = NULL;
	char			*text, *ret = NULL;
	const unsigned char	*p;
	long			 n;
	size_t			 i, len;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		goto fail;
	if (X509_NAME_print_ex(bio, name, 0,
	    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0)
		goto fail;
	if ((n = BIO_get_mem_data(bio, &text)) < 0)
		goto fail;
	p = (const unsigned char *)text;
	for (i = 0; i < (size_t)n; i += len) {
		if (p[i] < 0x20 || p[i] == 0x7f) {
			ident_str_hex(&is, "\\", p[i]);
			len = 1;
		} else if ((len = ident_utf8_len(p + i, (size_t)n - i)) == 0) {
			ident_str_hex(&is, "\\", p[i]);
			len = 1;
		} else
			ident_str_add(&is, p + i, len);
	}
	ret = ident_str_done(&is, NULL);
	is.is_s = NULL;
 fail:
	free(is.is_s);
	BIO_free(bio);
	return ret;
}

char *
ident_dn(const X509_NAME *name)
{
	return ident_name(name);
}

/*
 * A subjectAltName string (IA5String: 7-bit by definition).  Anything
 * outside printable ASCII is written as \xNN so it can neither end a
 * header line nor pass for something else.
 */
static char *
ident_text(const unsigned char *p, size_t n)
{
	struct ident_str	 is = { 0 };
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] >= 0x7f)
			ident_str_hex(&is, "\\x", p[i]);
		else
			ident_str_add(&is, p + i, 1);
	}
	return ident_str_done(&is, NULL);
}

static int
ident_time(const ASN1_TIME *t, char out[21])
{
	struct tm	 tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	if (snprintf(out, 21, "%04d-%02d-%02dT%02d:%02d:%02dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	    tm.tm_hour, tm.tm_min, tm.tm_sec) != 20)
		return -1;
	return 0;
}

/* Upper-case hex without separators; BN_bn2hex writes whole bytes. */
static char *
ident_serial(const ASN1_INTEGER *serial)
{
	BIGNUM	*bn = NULL;
	char	*hex = NULL, *ret = NULL;

	if ((bn = ASN1_INTEGER_to_BN(serial, NULL)) == NULL)
		goto fail;
	if ((hex = BN_bn2hex(bn)) == NULL)
		goto fail;
	ret = strdup(hex);
 fail:
	OPENSSL_free(hex);
	BN_free(bn);
	return ret;
}

/* RFC 3986 unreserved characters, the only ones never percent-encoded. */
static bool
ident_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

/* One certificate as PEM, percent-encoded as Envoy does for XFCC Cert=,
 * appended to is. */
static int
ident_pem(struct ident_str *is, X509 *x)
{
	BIO	*bio;
	char	*pem;
	long	 n, i;
	int	 rc = -1;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	if (PEM_write_bio_X509(bio, x) != 1)
		goto fail;
	if ((n = BIO_get_mem_data(bio, &pem)) <= 0)
		goto fail;
	for (i = 0; i < n; i++) {
		if (ident_unreserved((unsigned char)pem[i]))
			ident_str_add(is, pem + i, 1);
		else
			ident_str_hex(is, "%", (unsigned char)pem[i]);
	}
	rc = 0;
 fail:
	BIO_free(bio);
	return rc;
}

/* The DER of x in standard base64 with padding (RFC 9440 sf-binary). */
static char *
ident_b64(X509 *x)
{
	unsigned char	*der = NULL, *b64;
	int		 n;

	if ((n = i2d_X509(x, &der)) <= 0)
		return NULL;
	if ((b64 = malloc(4 * (((size_t)n + 2) / 3) + 1)) != NULL)
		EVP_EncodeBlock(b64, der, n);
	OPENSSL_free(der);
	return (char *)b64;
}

/* Append s to a malloc'd vector; s is freed if that fails. */
static int
ident_push(char ***v, size_t *n, char *s)
{
	char	**nv;

	if (s == NULL)
		return -1;
	if ((nv = reallocarray(*v, *n + 1, sizeof(*nv))) == NULL) {
		free(s);
		return -1;
	}
	nv[(*n)++] = s;
	*v = nv;
	return 0;
}

/*
 * subjectAltName entries, in certificate order.  Other name forms
 * (otherName, directoryName, registeredID) have no header to go to; an
 * iPAddress that is neither 4 nor 16 bytes is not an address and skipped.
 */
static int
ident_sans(struct ident *id, X509 *leaf)
{
	GENERAL_NAMES		*gens;
	const GENERAL_NAME	*gen;
	const ASN1_STRING	*s;
	char			 addr[INET6_ADDRSTRLEN];
	int			 i, crit = -1, rc = -1;

	gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL)
		/* -1: no extension; anything else: it does not parse */
		return crit == -1 ? 0 : -1;
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		gen = sk_GENERAL_NAME_value(gens, i);
		switch (gen->type) {
		case GEN_URI:
			s = gen->d.uniformResourceIdentifier;
			if (ident_push(&id->id_uri, &id->id_nuri,
			    ident_text(s->data, s->length)) == -1)
				goto fail;
			break;
		case GEN_DNS:
			s = gen->d.dNSName;
			if (ident_push(&id->id_dns, &id->id_ndns,
			    ident_text(s->data, s->length)) == -1)
				goto fail;
			break;
		case GEN_EMAIL:
			s = gen->d.rfc822Name;
			if (ident_push(&id->id_email, &id->id_nemail,
			    ident_text(s->data, s->length)) == -1)
				goto fail;
			break;
		case GEN_IPADD:
			s = gen->d.iPAddress;
			if (s->length == 4) {
				if (inet_ntop(AF_INET, s->data, addr,
				    sizeof(addr)) == NULL)
					goto fail;
			} else if (s->length == 16) {
				if (inet_ntop(AF_INET6, s->data, addr,
				    sizeof(addr)) == NULL)
					goto fail;
			} else
				break;
			if (ident_push(&id->id_ip, &id->id_nip,
			    strdup(addr)) == -1)
				goto fail;
			break;
		default:
			break;
		}
	}
	rc = 0;
 fail:
	GENERAL_NAMES_free(gens);
	return rc;
}

int
ident_from_cert(struct ident *id, X509 *leaf)
{
	static const char lower[] = "0123456789abcdef";
	const ASN1_INTEGER *serial = X509_get0_serialNumber(leaf);
	struct ident_str is = { 0 };
	unsigned int	 mdlen = 0;
	size_t		 i;

	memset(id, 0, sizeof(*id));
	if ((id->id_subject = ident_name(X509_get_subject_name(leaf))) == NULL)
		goto fail;
	if ((id->id_issuer = ident_name(X509_get_issuer_name(leaf))) == NULL)
		goto fail;
	if ((id->id_serial = ident_serial(serial)) == NULL)
		goto fail;
	if (X509_digest(leaf, EVP_sha256(), id->id_sha256, &mdlen) != 1 ||
	    mdlen != sizeof(id->id_sha256))
		goto fail;
	for (i = 0; i < sizeof(id->id_sha256); i++) {
		/* lower case, as Envoy's Hash= */
		id->id_sha256_hex[2 * i] = lower[id->id_sha256[i] >> 4];
		id->id_sha256_hex[2 * i + 1] = lower[id->id_sha256[i] & 0xf];
	}
	id->id_sha256_hex[64] = '\0';
	if (ident_time(X509_get0_notBefore(leaf), id->id_not_before) == -1 ||
	    ident_time(X509_get0_notAfter(leaf), id->id_not_after) == -1)
		goto fail;
	if (ident_sans(id, leaf) == -1)
		goto fail;
	if (ident_pem(&is, leaf) == -1 ||
	    (id->id_pem_urlenc = ident_str_done(&is, NULL)) == NULL)
		goto fail;
	is.is_s = NULL;
	if ((id->id_der_b64 = ident_b64(leaf)) == NULL)
		goto fail;
	return 0;
 fail:
	free(is.is_s);
	ident_free(id);
	return -1;
}

int
ident_set_chain(struct ident *id, X509 *leaf, STACK_OF(X509) *chain)
{
	struct ident_str	 is = { 0 };
	X509			*x;
	int			 i;

	if (ident_pem(&is, leaf) == -1)
		goto fail;
	for (i = 0; i < sk_X509_num(chain); i++) {
		x = sk_X509_value(chain, i);
		/* a client leg's chain excludes the leaf; a client one's not */
		if (i == 0 && X509_cmp(x, leaf) == 0)
			continue;
		if (ident_pem(&is, x) == -1 ||
		    ident_push(&id->id_chain_b64, &id->id_nchain, ident_b64(x)) == -1)
			goto fail;
	}
	if ((id->id_chain_pem_urlenc = ident_str_done(&is, NULL)) == NULL)
		return -1;
	return 0;
 fail:
	free(is.is_s);
	return -1;
}

void
ident_free_certs(struct ident *id)
{
	free(id->id_pem_urlenc);
	free(id->id_der_b64);
	free(id->id_chain_pem_urlenc);
	ident_freev(id->id_chain_b64, id->id_nchain);
	id->id_pem_urlenc = id->id_der_b64 = id->id_chain_pem_urlenc = NULL;
	id->id_chain_b64 = NULL;
	id->id_nchain = 0;
}

static void
ident_freev(char **v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
ident_free(struct ident *id)
{
	free(id->id_subject);
	free(id->id_issuer);
	free(id->id_serial);
	ident_freev(id->id_uri, id->id_nuri);
	ident_freev(id->id_dns, id->id_ndns);
	ident_freev(id->id_email, id->id_nemail);
	ident_freev(id->id_ip, id->id_nip);
	ident_free_certs(id);
	memset(id, 0, sizeof(*id));
}

