/*
 * test_ident.c - the client identity as the upstream sees it: fields of
 * the certificate, and the XFCC, AWS ALB (verify and passthrough) and
 * RFC 9440 header lines built from them (headers.c), with XFCC key
 * selection, modes and renamed headers.
 *
 * Certificates are built in-process with fixed dates and serials so that
 * whole header lines can be compared; the expected lines are assembled
 * from independently computed parts (X509_digest, PEM_write_bio_X509 and
 * an encoder written here).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "testcert.h"
#include "headers.h"
#include "ident.h"

static EVP_PKEY	*ca_key, *leaf_key;
static X509	*ca;

/* A leaf signed by the test CA; takes subject and san. */
static X509 *
mk_leaf(X509_NAME *subject, GENERAL_NAMES *san, const char *serial_hex,
    const char *nb, const char *na)
{
	X509		*x;
	BIGNUM		*bn = NULL;
	unsigned char	*der = NULL;
	const unsigned char *p;
	int		 len;

	if ((x = X509_new()) == NULL)
		fatal("X509_new");
	X509_set_version(x, X509_VERSION_3);
	if (BN_hex2bn(&bn, serial_hex) == 0 ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		fatal("serial");
	BN_free(bn);
	if (X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1)
		fatal("names");
	if (ASN1_TIME_set_string(X509_getm_notBefore(x), nb) != 1 ||
	    ASN1_TIME_set_string(X509_getm_notAfter(x), na) != 1)
		fatal("validity");
	X509_set_pubkey(x, leaf_key);
	if (san != NULL && X509_add1_ext_i2d(x, NID_subject_alt_name, san, 0,
	    X509V3_ADD_DEFAULT) != 1)
		fatal("san");
	if (X509_sign(x, ca_key, EVP_sha256()) <= 0)
		fatal("X509_sign");
	X509_NAME_free(subject);
	GENERAL_NAMES_free(san);
	/* as it would arrive: parsed from DER */
	if ((len = i2d_X509(x, &der)) <= 0)
		fatal("i2d_X509");
	X509_free(x);
	p = der;
	x = d2i_X509(NULL, &p, len);
	OPENSSL_free(der);
	if (x == NULL)
		fatal("d2i_X509");
	return x;
}

/* ---- independent encoders and checkers ---- */

static char *
pem_of(X509 *x)
{
	BIO	*bio = BIO_new(BIO_s_mem());
	char	*p, *s;
	long	 n;

	if (bio == NULL || PEM_write_bio_X509(bio, x) != 1)
		fatal("PEM_write_bio_X509");
	n = BIO_get_mem_data(bio, &p);
	s = strndup(p, n);
	BIO_free(bio);
	return s;
}

/* Percent-encode all but ALPHA DIGIT - . _ ~ and the extra `safe` set. */
static char *
urlenc(const char *s, const char *safe)
{
	char	*out = malloc(strlen(s) * 3 + 1), *o = out;

	for (; *s; s++) {
		if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~", *s) ||
		    strchr(safe, *s))
			*o++ = *s;
		else
			o += sprintf(o, "%%%02X", (unsigned char)*s);
	}
	*o = '\0';
	return out;
}

static char *
urldec(const char *s)
{
	char		*out = malloc(strlen(s) + 1), *o = out;
	unsigned int	 c;

	for (; *s; s++) {
		if (*s == '%' && sscanf(s + 1, "%2x", &c) == 1) {
			*o++ = (char)c;
			s += 2;
		} else
			*o++ = *s;
	}
	*o = '\0';
	return out;
}

static char *
cat(const char *first, ...)
{
	va_list		 ap;
	const char	*s;
	size_t		 len = 0;
	char		*out;

	va_start(ap, first);
	for (s = first; s != NULL; s = va_arg(ap, const char *))
		len += strlen(s);
	va_end(ap);
	out = malloc(len + 1);
	out[0] = '\0';
	va_start(ap, first);
	for (s = first; s != NULL; s = va_arg(ap, const char *))
		strcat(out, s);
	va_end(ap);
	return out;
}

/* hdr_lines() with everything default but the format. */
static char *
hdrs(const struct ident *id, enum header_format fmt, size_t *len)
{
	struct hdr_conf	 hc;

	hdr_conf_init(&hc);
	hc.hc_format = fmt;
	return hdr_lines(id, &hc, len);
}

/* Standard base64 with padding, written here, not OpenSSL's. */
static char *
b64_of(X509 *x)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char	*der = NULL;
	int		 n = i2d_X509(x, &der), i;
	char		*out = malloc(4 * ((size_t)n / 3 + 1) + 1), *o = out;
	unsigned	 v;

	for (i = 0; i + 2 < n; i += 3) {
		v = der[i] << 16 | der[i + 1] << 8 | der[i + 2];
		*o++ = tab[v >> 18]; *o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63]; *o++ = tab[v & 63];
	}
	if (n - i == 1) {
		v = der[i] << 16;
		*o++ = tab[v >> 18]; *o++ = tab[(v >> 12) & 63]; *o++ = '='; *o++ = '=';
	} else if (n - i == 2) {
		v = der[i] << 16 | der[i + 1] << 8;
		*o++ = tab[v >> 18]; *o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63]; *o++ = '=';
	}
	*o = '\0';
	OPENSSL_free(der);
	return out;
}

/*
 * Header block sanity: `lines` lines, each "Name: value" ending in CRLF,
 * no other CR, LF, NUL or control byte anywhere, length as reported.
 */
static bool
headers_clean(const char *h, size_t len, int lines)
{
	size_t	 i;
	int	 n = 0;

	if (strlen(h) != len)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = h[i];
		if (c == '\r') {
			if (i + 1 >= len || h[i + 1] != '\n')
				return false;
			n++;
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return n == lines && len >= 2 && h[len - 2] == '\r' && h[len - 1] == '\n';
}

/*
 * The value of the n-th `key` in one XFCC element, parsed the way Envoy's
 * parser does: ';' outside quotes separates pairs, quotes are removed,
 * \" and \\ unescaped.  NULL if there is no such key.
 */
static char *
xfcc_get(const char *elem, const char *key, int nth)
{
	const char	*p = elem, *start;
	char		*out, *o;
	size_t		 klen = strlen(key);
	bool		 q;

	while (*p) {
		start = p;
		for (q = false; *p && (q || *p != ';'); p++) {
			if (q && *p == '\\' && p[1])
				p++;
			else if (*p == '"')
				q = !q;
		}
		if ((size_t)(p - start) > klen && strncasecmp(start, key, klen) == 0 &&
		    start[klen] == '=' && nth-- == 0) {
			out = o = malloc(p - start);
			start += klen + 1;
			q = *start == '"';
			if (q)
				start++;
			for (; start < p; start++) {
				if (q && *start == '\\' && start + 1 < p)
					*o++ = *++start;
				else if (q && *start == '"')
					break;
				else
					*o++ = *start;
			}
			*o = '\0';
			return out;
		}
		if (*p == ';')
			p++;
	}
	return NULL;
}

static bool
xfcc_is(const char *elem, const char *key, int nth, const char *want)
{
	char	*v = xfcc_get(elem, key, nth);
	bool	 eq = v != NULL && want != NULL && strcmp(v, want) == 0;

	if (!eq)
		fprintf(stderr, "  xfcc %s[%d]: got \"%s\" want \"%s\"\n", key, nth,
		    v ? v : "(none)", want ? want : "(none)");
	free(v);
	return eq;
}

/* ---- tests ---- */

static void
test_fields_and_headers(void)
{
	X509_NAME	*n = X509_NAME_new();
	GENERAL_NAMES	*g = sk_GENERAL_NAME_new_null();
	X509		*x;
	struct ident	 id;
	unsigned char	 md[32];
	unsigned int	 mdlen;
	char		 hex[65], *pem, *dec, *want, *h, *leaf;
	size_t		 len, i;
	const char	*subj_xfcc;

	name_add(n, "C", V_ASN1_PRINTABLESTRING, "US", -1, 0);
	name_add(n, "O", V_ASN1_UTF8STRING, "Example Corp", -1, 0);
	name_add(n, "CN", V_ASN1_UTF8STRING, "alice", -1, 0);
	san_add(g, GEN_URI, "spiffe://example.org/ns/prod/sa/api", -1);
	san_add(g, GEN_DNS, "api.example.org", -1);
	san_add(g, GEN_RID, "1.3.6.1.4.1.99999.1", -1);
	san_add(g, GEN_DNS, "*.svc.example.org", -1);
	san_add(g, GEN_EMAIL, "alice@example.org", -1);
	san_add(g, GEN_IPADD, "192.0.2.10", -1);
	san_add(g, GEN_DIRNAME, "ignored", -1);
	san_add(g, GEN_IPADD, "2001:0db8:0000:0000:0000:0000:0000:0001", -1);
	san_add(g, GEN_IPADD, "::ffff:192.0.2.1", -1);
	san_add(g, GEN_URI, "https://alice.example.org/id", -1);
	san_add(g, GEN_EMAIL, "alice@corp.example", -1);
	x = mk_leaf(n, g, "0123456789ABCDEF", "260102030405Z", "20510607080910Z");

	CHECK(ident_from_cert(&id, x) == 0);
	CHECK_STREQ(id.id_subject, "CN=alice,O=Example Corp,C=US");
	CHECK_STREQ(id.id_issuer, "CN=Client Issuing CA,O=ktproxy tests");
	CHECK_STREQ(id.id_serial, "0123456789ABCDEF");
	CHECK(X509_digest(x, EVP_sha256(), md, &mdlen) == 1 && mdlen == 32);
	CHECK(memcmp(id.id_sha256, md, 32) == 0);
	for (i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	CHECK_STREQ(id.id_sha256_hex, hex);
	CHECK_STREQ(id.id_not_before, "2026-01-02T03:04:05Z");
	CHECK_STREQ(id.id_not_after, "2051-06-07T08:09:10Z");
	CHECK(id.id_nuri == 2 && id.id_ndns == 2 && id.id_nemail == 2 &&
	    id.id_nip == 3);
	if (id.id_nuri == 2 && id.id_ndns == 2 && id.id_nemail == 2 &&
	    id.id_nip == 3) {
		CHECK_STREQ(id.id_uri[0], "spiffe://example.org/ns/prod/sa/api");
		CHECK_STREQ(id.id_uri[1], "https://alice.example.org/id");
		CHECK_STREQ(id.id_dns[0], "api.example.org");
		CHECK_STREQ(id.id_dns[1], "*.svc.example.org");
		CHECK_STREQ(id.id_email[0], "alice@example.org");
		CHECK_STREQ(id.id_email[1], "alice@corp.example");
		CHECK_STREQ(id.id_ip[0], "192.0.2.10");
		CHECK_STREQ(id.id_ip[1], "2001:db8::1");
		CHECK_STREQ(id.id_ip[2], "::ffff:192.0.2.1");
	}

	/* the URL-encoded PEM: only unreserved bytes and %XX, decodes back */
	pem = pem_of(x);
	CHECK(strspn(id.id_pem_urlenc, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-._~%") == strlen(id.id_pem_urlenc));
	CHECK(strncmp(id.id_pem_urlenc, "-----BEGIN%20CERTIFICATE-----%0A", 32) == 0);
	len = strlen(id.id_pem_urlenc);
	CHECK(len > 30 && strcmp(id.id_pem_urlenc + len - 30,
	    "-----END%20CERTIFICATE-----%0A") == 0);
	dec = urldec(id.id_pem_urlenc);
	CHECK_STREQ(dec, pem);
	free(dec);
	want = urlenc(pem, "");
	CHECK_STREQ(id.id_pem_urlenc, want);
	free(want);

	/* XFCC: the whole line */
	subj_xfcc = "\"CN=alice,O=Example Corp,C=US\"";
	want = cat("X-Forwarded-Client-Cert: Hash=", hex, ";Cert=\"",
	    id.id_pem_urlenc, "\";Subject=", subj_xfcc,
	    ";URI=spiffe://example.org/ns/prod/sa/api"
	    ";URI=https://alice.example.org/id"
	    ";DNS=api.example.org;DNS=*.svc.example.org\r\n", NULL);
	h = hdrs(&id, HEADERS_XFCC, &len);
	CHECK_STREQ(h, want);
	CHECK(h != NULL && headers_clean(h, len, 1));
	if (h != NULL && len > 2) {
		char *elem = strndup(h + strlen("X-Forwarded-Client-Cert: "),
		    len - 2 - strlen("X-Forwarded-Client-Cert: "));
		CHECK(xfcc_is(elem, "Hash", 0, hex));
		dec = xfcc_get(elem, "Cert", 0);
		if (dec != NULL) {
			char *d2 = urldec(dec);
			CHECK_STREQ(d2, pem);
			free(d2);
		} else
			CHECK(dec != NULL);
		free(dec);
		CHECK(xfcc_is(elem, "subject", 0, id.id_subject));
		CHECK(xfcc_is(elem, "URI", 1, "https://alice.example.org/id"));
		CHECK(xfcc_is(elem, "DNS", 1, "*.svc.example.org"));
		free(elem);
	}
	free(h);
	free(want);

	/* AWS ALB: five lines, leaf with +=/ left as they are */
	leaf = urlenc(pem, "+=/");
	want = cat("X-Amzn-Mtls-Clientcert-Serial-Number: 0123456789ABCDEF\r\n",
	    "X-Amzn-Mtls-Clientcert-Issuer: CN=Client Issuing CA,O=ktproxy tests\r\n",
	    "X-Amzn-Mtls-Clientcert-Subject: CN=alice,O=Example Corp,C=US\r\n",
	    "X-Amzn-Mtls-Clientcert-Validity: NotBefore=2026-01-02T03:04:05Z;"
	    "NotAfter=2051-06-07T08:09:10Z\r\n",
	    "X-Amzn-Mtls-Clientcert-Leaf: ", leaf, "\r\n", NULL);
	h = hdrs(&id, HEADERS_AMZN, &len);
	CHECK_STREQ(h, want);
	CHECK(h != NULL && headers_clean(h, len, 5));
	CHECK(strchr(leaf, '/') != NULL || strchr(leaf, '+') != NULL);
	free(h);
	free(want);
	free(leaf);

	h = hdrs(&id, HEADERS_NONE, &len);
	CHECK(h != NULL && len == 0 && h[0] == '\0');
	free(h);
	CHECK(hdrs(&id, (enum header_format)42, &len) == NULL);

	free(pem);
	ident_free(&id);
	CHECK(id.id_subject == NULL && id.id_nuri == 0);
	ident_free(&id);		/* twice is harmless */
	X509_free(x);
}

static void
test_serials(void)
{
	static const struct {
		const char *in, *out;
	} t[] = {
		{ "0A", "0A" },
		{ "01", "01" },
		/* DER 00 80 11 ...: the sign byte is not part of the number */
		{ "80112233445566778899AABBCCDDEEFF", "80112233445566778899AABBCCDDEEFF" },
		{ "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF" },
		{ "00ABCDEF", "ABCDEF" },
	};
	struct ident	 id;
	X509		*x;
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		X509_NAME *n = X509_NAME_new();
		name_add(n, "CN", V_ASN1_UTF8STRING, "serial", -1, 0);
		x = mk_leaf(n, NULL, t[i].in, "260102030405Z", "270102030405Z");
		if (i == 2) {
			/* really has the leading zero byte on the wire */
			unsigned char *der = NULL;
			int len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);
			CHECK(len == 19 && der[1] == 17 && der[2] == 0x00 && der[3] == 0x80);
			OPENSSL_free(der);
		}
		CHECK(ident_from_cert(&id, x) == 0);
		CHECK_STREQ(id.id_serial, t[i].out);
		ident_free(&id);
		X509_free(x);
	}
}

static void
test_names(void)
{
	struct ident	 id;
	X509		*x;
	X509_NAME	*n;
	char		*h;
	size_t		 len;

	/* UTF-8 stays UTF-8 (XN_FLAG_RFC2253 alone would give Zo\C3\AB) */
	n = X509_NAME_new();
	name_add(n, "C", V_ASN1_PRINTABLESTRING, "SE", -1, 0);
	name_add(n, "O", V_ASN1_UTF8STRING, "株式会社テスト", -1, 0);
	name_add(n, "CN", V_ASN1_UTF8STRING, "Zoë Ångström", -1, 0);
	x = mk_leaf(n, NULL, "01", "260102030405Z", "270102030405Z");
	CHECK(ident_from_cert(&id, x) == 0);
	CHECK_STREQ(id.id_subject, "CN=Zoë Ångström,O=株式会社テスト,C=SE");
	h = hdrs(&id, HEADERS_XFCC, &len);
	CHECK(h != NULL && headers_clean(h, len, 1) &&
	    strstr(h, ";Subject=\"CN=Zoë Ångström,O=株式会社テスト,C=SE\";URI=\r\n"));
	free(h);
	ident_free(&id);
	X509_free(x);

	/* other string types are converted: BMP, T61 (Latin-1), IA5 */
	n = X509_NAME_new();
	name_add(n, "O", V_ASN1_T61STRING, "M\xfcller AG", -1, 0);
	name_add(n, "OU", V_ASN1_BMPSTRING, "\0Z\0\xeb\x4e\x2d", 6, 0);
	name_add(n, "CN", V_ASN1_PRINTABLESTRING, "printable", -1, 0);
	name_add(n, "emailAddress", V_ASN1_IA5STRING, "p@example.org", -1, 0);
	x = mk_leaf(n, NULL, "01", "260102030405Z", "270102030405Z");
	CHECK(ident_from_cert(&id, x) == 0);
	CHECK_STREQ(id.id_subject,
	    "emailAddress=p@example.org,CN=printable,OU=Zë中,O=Müller AG");
	ident_free(&id);
	X509_free(x);

	/* a multi-valued RDN keeps its '+' */
	n = X509_NAME_new();
	name_add(n, "O", V_ASN1_UTF8STRING, "Example", -1, 0);
	name_add(n, "OU", V_ASN1_UTF8STRING, "eng", -1, 0);
	name_add(n, "CN", V_ASN1_UTF8STRING, "carol", -1, -1);
	x = mk_leaf(n, NULL, "01", "260102030405Z", "270102030405Z");
	CHECK(ident_from_cert(&id, x) == 0);
	CHECK_STREQ(id.id_subject, "CN=carol+OU=eng,O=Example");
	ident_free(&id);
	X509_free(x);

	/*
	 * Not well-formed UTF-8 cannot be tested from here: OpenSSL refuses
	 * to encode or parse a name holding any (invalid UTF8String bytes, a
	 * lone surrogate in a BMPString), so ident_name()'s check is only a
	 * second line of defence.
	 */

	/* empty subject, no SAN: Subject="" and URI= still there (Envoy) */
	x = mk_leaf(X509_NAME_new(), NULL, "01", "260102030405Z", "270102030405Z");
	CHECK(ident_from_cert(&id, x) == 0);
	CHECK_STREQ(id.id_subject, "");
	CHECK(id.id_nuri == 0 && id.id_ndns == 0 && id.id_nemail == 0 && id.id_nip == 0);
	h = hdrs(&id, HEADERS_XFCC, &len);
	CHECK(h != NULL && strstr(h, "\";Subject=\"\";URI=\r\n") != NULL);
	free(h);
	ident_free(&id);
	X509_free(x);
}

/* Certificate fields that try to end the header line or break quoting. */
static void
test_injection(void)
{
	X509_NAME	*n = X509_NAME_new();
	GENERAL_NAMES	*g = sk_GENERAL_NAME_new_null();
	X509		*x;
	struct ident	 id, fake;
	char		*h, *want, *uri[1], *dns[1];
	size_t		 len;
	char		*elem;

	name_add(n, "O", V_ASN1_UTF8STRING, "a;b,c=d\"e\\f", -1, 0);
	name_add(n, "OU", V_ASN1_UTF8STRING, "nul\0del\x7f" "tab\t", 12, 0);
	name_add(n, "CN", V_ASN1_UTF8STRING, "evil\r\nX-Injected: 1", -1, 0);
	san_add(g, GEN_URI, "spiffe://x/a;b=\"c\"", -1);
	san_add(g, GEN_DNS, "bad\r\nX-Evil: 1", -1);
	san_add(g, GEN_EMAIL, "nul\0@x", 6);
	san_add(g, GEN_DNS, "hi\xc3\xa9.example", -1);
	x = mk_leaf(n, g, "01", "260102030405Z", "270102030405Z");

	CHECK(ident_from_cert(&id, x) == 0);
	CHECK_STREQ(id.id_subject,
	    "CN=evil\\0D\\0AX-Injected: 1,OU=nul\\00del\\7Ftab\\09,O=a\\;b\\,c=d\\\"e\\\\f");
	CHECK(id.id_nuri == 1 && id.id_ndns == 2 && id.id_nemail == 1);
	if (id.id_nuri == 1 && id.id_ndns == 2 && id.id_nemail == 1) {
		CHECK_STREQ(id.id_uri[0], "spiffe://x/a;b=\"c\"");
		CHECK_STREQ(id.id_dns[0], "bad\\x0D\\x0AX-Evil: 1");
		CHECK_STREQ(id.id_dns[1], "hi\\xC3\\xA9.example");
		CHECK_STREQ(id.id_email[0], "nul\\x00@x");
	}

	h = hdrs(&id, HEADERS_XFCC, &len);
	CHECK(h != NULL && headers_clean(h, len, 1));
	want = cat("X-Forwarded-Client-Cert: Hash=", id.id_sha256_hex,
	    ";Cert=\"", id.id_pem_urlenc, "\""
	    ";Subject=\"CN=evil\\\\0D\\\\0AX-Injected: 1,"
	    "OU=nul\\\\00del\\\\7Ftab\\\\09,O=a\\\\;b\\\\,c=d\\\\\\\"e\\\\\\\\f\""
	    ";URI=\"spiffe://x/a;b=\\\"c\\\"\""
	    ";DNS=\"bad\\\\x0D\\\\x0AX-Evil: 1\""
	    ";DNS=\"hi\\\\xC3\\\\xA9.example\"\r\n", NULL);
	CHECK_STREQ(h, want);
	if (h != NULL && len > 2) {
		/* and a parser gets the originals back */
		elem = strndup(h + strlen("X-Forwarded-Client-Cert: "),
		    len - 2 - strlen("X-Forwarded-Client-Cert: "));
		CHECK(xfcc_is(elem, "Subject", 0, id.id_subject));
		CHECK(xfcc_is(elem, "URI", 0, id.id_uri[0]));
		CHECK(xfcc_is(elem, "DNS", 0, id.id_dns[0]));
		CHECK(xfcc_is(elem, "DNS", 1, id.id_dns[1]));
		free(elem);
	}
	free(want);
	free(h);

	h = hdrs(&id, HEADERS_AMZN, &len);
	CHECK(h != NULL && headers_clean(h, len, 5));
	CHECK(h != NULL && strstr(h, "\r\nX-Amzn-Mtls-Clientcert-Subject: CN=evil\\0D\\0AX-Injected: 1,"
	    "OU=nul\\00del\\7Ftab\\09,O=a\\;b\\,c=d\\\"e\\\\f\r\n") != NULL);
	free(h);
	ident_free(&id);
	X509_free(x);

	/* a struct ident not made by ident_from_cert(): still no CTLs out */
	memset(&fake, 0, sizeof(fake));
	fake.id_subject = "CN=x\r\nInjected: 1";
	fake.id_issuer = "CN=y\n";
	fake.id_serial = "01\r";
	strcpy(fake.id_sha256_hex, "00\n");
	strcpy(fake.id_not_before, "2026\r\n");
	strcpy(fake.id_not_after, "2027");
	uri[0] = "u\r\n";
	dns[0] = "d\x01";
	fake.id_uri = uri;
	fake.id_nuri = 1;
	fake.id_dns = dns;
	fake.id_ndns = 1;
	fake.id_pem_urlenc = "ab\ncd";
	h = hdrs(&fake, HEADERS_XFCC, &len);
	CHECK(h != NULL && headers_clean(h, len, 1));
	free(h);
	h = hdrs(&fake, HEADERS_AMZN, &len);
	CHECK(h != NULL && headers_clean(h, len, 5));
	free(h);

	/* nor does an empty one crash */
	memset(&fake, 0, sizeof(fake));
	h = hdrs(&fake, HEADERS_XFCC, &len);
	CHECK_STREQ(h, "X-Forwarded-Client-Cert: Hash=;Cert=\"\";Subject=\"\";URI=\r\n");
	free(h);
	h = hdrs(&fake, HEADERS_AMZN, &len);
	CHECK(h != NULL && headers_clean(h, len, 5));
	free(h);
}

static void
test_parse_options(void)
{
	struct hdr_conf	 hc;

	hdr_conf_init(&hc);
	CHECK(hc.hc_format == HEADERS_XFCC && hc.hc_xfcc_mode == XFCC_SANITIZE_SET &&
	    hc.hc_xfcc_fields == XFCC_DEFAULT && hc.hc_nstrip == 0);
	CHECK(hdr_parse_format(&hc, "amzn") == 0 && hc.hc_format == HEADERS_AMZN);
	CHECK(hdr_parse_format(&hc, "amzn-passthrough") == 0 &&
	    hc.hc_format == HEADERS_AMZN_PASSTHROUGH);
	CHECK(hdr_parse_format(&hc, "rfc9440") == 0 && hc.hc_format == HEADERS_RFC9440);
	CHECK(hdr_parse_format(&hc, "none") == 0 && hc.hc_format == HEADERS_NONE);
	CHECK(hdr_parse_format(&hc, "xfcc") == 0 && hc.hc_format == HEADERS_XFCC);
	CHECK(hdr_parse_format(&hc, "XFCC ") == -1 && hc.hc_format == HEADERS_XFCC);
	CHECK(hdr_parse_format(&hc, "") == -1);
	CHECK(hdr_parse_format(&hc, "envoy") == -1);

	CHECK(hdr_parse_xfcc_mode(&hc, "sanitize") == 0 && hc.hc_xfcc_mode == XFCC_SANITIZE);
	CHECK(hdr_parse_xfcc_mode(&hc, "append-forward") == 0 &&
	    hc.hc_xfcc_mode == XFCC_APPEND_FORWARD && hdr_xfcc_merge(&hc));
	CHECK(hdr_parse_xfcc_mode(&hc, "forward-only") == 0 &&
	    hc.hc_xfcc_mode == XFCC_FORWARD_ONLY && hdr_xfcc_merge(&hc));
	CHECK(hdr_parse_xfcc_mode(&hc, "SANITIZE_SET") == -1);
	/* modes are for xfcc only */
	hc.hc_format = HEADERS_AMZN;
	CHECK(hdr_conf_check(&hc) == -1 && !hdr_xfcc_merge(&hc));
	CHECK(hdr_parse_xfcc_mode(&hc, "sanitize-set") == 0 && hdr_conf_check(&hc) == 0);
	CHECK(hdr_parse_xfcc_fields(&hc, "Hash") == 0 && hdr_conf_check(&hc) == -1);
	hc.hc_format = HEADERS_XFCC;
	CHECK(hdr_conf_check(&hc) == 0);

	CHECK(hdr_parse_xfcc_fields(&hc, "dns,HASH,Chain,by") == 0 &&
	    hc.hc_xfcc_fields == (XFCC_DNS | XFCC_HASH | XFCC_CHAIN | XFCC_BY));
	CHECK(hdr_parse_xfcc_fields(&hc, "Hash,,DNS") == -1);
	CHECK(hdr_parse_xfcc_fields(&hc, "") == -1);
	CHECK(hdr_parse_xfcc_fields(&hc, "Hash,Email") == -1);
	CHECK(hc.hc_xfcc_fields == (XFCC_DNS | XFCC_HASH | XFCC_CHAIN | XFCC_BY));

	/* header names: tokens only, no framing headers, no clashes */
	hdr_conf_init(&hc);
	CHECK(hdr_parse_name(&hc, "x-forwarded-client-cert=X-Client-Identity") == 0);
	CHECK_STREQ(hc.hc_name[HDR_XFCC], "X-Client-Identity");
	CHECK(hc.hc_nstrip == 1 && strcmp(hc.hc_strip[0], "X-Client-Identity") == 0);
	CHECK(hdr_parse_name(&hc, "X-Forwarded-Client-Cert=Other") == -1);	/* twice */
	CHECK(hdr_parse_name(&hc, "Client-Cert=x-client-identity") == -1);	/* taken */
	CHECK(hdr_parse_name(&hc, "Client-Cert=X-Amzn-Mtls-Clientcert") == -1);
	CHECK(hdr_parse_name(&hc, "Client-Cert=Bad Name") == -1);
	CHECK(hdr_parse_name(&hc, "Client-Cert=a\r\nb") == -1);
	CHECK(hdr_parse_name(&hc, "Client-Cert=x:y") == -1);
	CHECK(hdr_parse_name(&hc, "Client-Cert=") == -1);
	CHECK(hdr_parse_name(&hc, "Client-Cert=Host") == -1);
	CHECK(hdr_parse_name(&hc, "Client-Cert=content-length") == -1);
	CHECK(hdr_parse_name(&hc, "Client-Cert=Transfer-Encoding") == -1);
	CHECK(hdr_parse_name(&hc, "Client-Cert=Connection") == -1);
	CHECK(hdr_parse_name(&hc, "Client-Cert") == -1);
	CHECK(hdr_parse_name(&hc, "X-Foo=X-Bar") == -1);
	CHECK(hdr_parse_name(&hc, "Client-Cert=X-Peer_Cert.v1~!") == 0);
	CHECK(hc.hc_nstrip == 2);
	CHECK(hdr_name_ok("X-Ok", 4) && !hdr_name_ok("X\x80", 2) && !hdr_name_ok("", 0));
}

/* A leaf with SANs, and two more certificates to send after it. */
static X509 *
mk_alice(void)
{
	X509_NAME	*n = X509_NAME_new();
	GENERAL_NAMES	*g = sk_GENERAL_NAME_new_null();

	name_add(n, "O", V_ASN1_UTF8STRING, "Example", -1, 0);
	name_add(n, "CN", V_ASN1_UTF8STRING, "alice", -1, 0);
	san_add(g, GEN_URI, "spiffe://example.org/alice", -1);
	san_add(g, GEN_DNS, "alice.example.org", -1);
	return mk_leaf(n, g, "0A", "260102030405Z", "270102030405Z");
}

static void
test_chain_formats(void)
{
	X509		*x = mk_alice(), *mid;
	X509_NAME	*n = X509_NAME_new();
	STACK_OF(X509)	*chain = sk_X509_new_null(), *withleaf = sk_X509_new_null();
	struct hdr_conf	 hc;
	struct ident	 id;
	char		*pem, *pemmid, *pemca, *b64, *b64mid, *b64ca, *all, *want, *h, *enc;
	size_t		 len;

	name_add(n, "CN", V_ASN1_UTF8STRING, "Intermediate", -1, 0);
	mid = mk_leaf(n, NULL, "0B", "260102030405Z", "270102030405Z");
	sk_X509_push(chain, mid);
	sk_X509_push(chain, ca);
	sk_X509_push(withleaf, x);
	sk_X509_push(withleaf, mid);
	pem = pem_of(x);
	pemmid = pem_of(mid);
	pemca = pem_of(ca);
	b64 = b64_of(x);
	b64mid = b64_of(mid);
	b64ca = b64_of(ca);
	hdr_conf_init(&hc);

	/* without ident_set_chain(): the leaf alone */
	CHECK(ident_from_cert(&id, x) == 0);
	CHECK_STREQ(id.id_der_b64, b64);
	CHECK(id.id_chain_pem_urlenc == NULL && id.id_nchain == 0);
	want = cat("Client-Cert: :", b64, ":\r\n", NULL);
	h = hdrs(&id, HEADERS_RFC9440, &len);
	CHECK_STREQ(h, want);
	CHECK(h != NULL && headers_clean(h, len, 1));
	free(h);
	free(want);
	enc = urlenc(pem, "+=/");
	want = cat("X-Amzn-Mtls-Clientcert: ", enc, "\r\n", NULL);
	h = hdrs(&id, HEADERS_AMZN_PASSTHROUGH, &len);
	CHECK_STREQ(h, want);
	free(h);
	free(want);
	free(enc);

	/* the chain as a server sees it (no leaf), then leaf-first */
	CHECK(ident_set_chain(&id, x, chain) == 0);
	CHECK(id.id_nchain == 2);
	all = cat(pem, pemmid, pemca, NULL);
	enc = urlenc(all, "");
	CHECK_STREQ(id.id_chain_pem_urlenc, enc);
	free(enc);

	want = cat("Client-Cert: :", b64, ":\r\nClient-Cert-Chain: :", b64mid, ":, :",
	    b64ca, ":\r\n", NULL);
	h = hdrs(&id, HEADERS_RFC9440, &len);
	CHECK_STREQ(h, want);
	CHECK(h != NULL && headers_clean(h, len, 2));
	free(h);
	free(want);

	enc = urlenc(all, "+=/");
	want = cat("X-Amzn-Mtls-Clientcert: ", enc, "\r\n", NULL);
	h = hdrs(&id, HEADERS_AMZN_PASSTHROUGH, &len);
	CHECK_STREQ(h, want);
	CHECK(h != NULL && headers_clean(h, len, 1));
	free(h);
	free(want);
	free(enc);

	/* XFCC with By and Chain, in Envoy's order */
	hc.hc_by = (char *[]){ "spiffe://example.org/ktproxy" };
	hc.hc_nby = 1;
	CHECK(hdr_parse_xfcc_fields(&hc, "DNS,URI,Subject,Chain,Cert,Hash,By") == 0);
	enc = urlenc(all, "");
	want = cat("X-Forwarded-Client-Cert: By=spiffe://example.org/ktproxy;Hash=",
	    id.id_sha256_hex, ";Cert=\"", id.id_pem_urlenc, "\";Chain=\"", enc,
	    "\";Subject=\"CN=alice,O=Example\";URI=spiffe://example.org/alice"
	    ";DNS=alice.example.org\r\n", NULL);
	h = hdr_lines(&id, &hc, &len);
	CHECK_STREQ(h, want);
	CHECK(h != NULL && headers_clean(h, len, 1));
	free(h);
	free(want);
	free(enc);
	ident_free_certs(&id);
	CHECK(id.id_pem_urlenc == NULL && id.id_der_b64 == NULL &&
	    id.id_chain_pem_urlenc == NULL && id.id_nchain == 0);
	ident_free(&id);

	/* a chain that starts with the leaf (client-side view): skipped once */
	CHECK(ident_from_cert(&id, x) == 0);
	CHECK(ident_set_chain(&id, x, withleaf) == 0);
	CHECK(id.id_nchain == 1 && strcmp(id.id_chain_b64[0], b64mid) == 0);
	free(all);
	all = cat(pem, pemmid, NULL);
	enc = urlenc(all, "");
	CHECK_STREQ(id.id_chain_pem_urlenc, enc);
	free(enc);
	/* and no chain at all (NULL): the leaf alone */
	ident_free(&id);
	CHECK(ident_from_cert(&id, x) == 0);
	CHECK(ident_set_chain(&id, x, NULL) == 0 && id.id_nchain == 0);
	CHECK_STREQ(id.id_chain_pem_urlenc, id.id_pem_urlenc);
	ident_free(&id);

	free(all);
	free(pem); free(pemmid); free(pemca);
	free(b64); free(b64mid); free(b64ca);
	sk_X509_free(chain);
	sk_X509_free(withleaf);
	X509_free(mid);
	X509_free(x);
}

static void
test_xfcc_fields_modes(void)
{
	X509		*x = mk_alice();
	struct hdr_conf	 hc;
	struct ident	 id;
	char		*h, *want;
	size_t		 len;

	CHECK(ident_from_cert(&id, x) == 0);
	hdr_conf_init(&hc);

	/* By from our own certificate: its URI SANs, none without */
	CHECK(hdr_set_by(&hc, x) == 0 && hc.hc_nby == 1 &&
	    strcmp(hc.hc_by[0], "spiffe://example.org/alice") == 0);
	CHECK(hdr_parse_xfcc_fields(&hc, "By,Hash") == 0);
	want = cat("X-Forwarded-Client-Cert: By=spiffe://example.org/alice;Hash=",
	    id.id_sha256_hex, "\r\n", NULL);
	h = hdr_lines(&id, &hc, &len);
	CHECK_STREQ(h, want);
	free(h);
	free(want);
	CHECK(hdr_set_by(&hc, ca) == 0 && hc.hc_nby == 0);
	want = cat("X-Forwarded-Client-Cert: Hash=", id.id_sha256_hex, "\r\n", NULL);
	h = hdr_lines(&id, &hc, &len);
	CHECK_STREQ(h, want);
	free(h);
	free(want);
	/* nothing selected that has a value: no line at all */
	CHECK(hdr_parse_xfcc_fields(&hc, "By") == 0);
	h = hdr_lines(&id, &hc, &len);
	CHECK(h != NULL && len == 0 && *h == '\0');
	free(h);

	CHECK(hdr_parse_xfcc_fields(&hc, "URI,Subject") == 0);
	h = hdr_lines(&id, &hc, &len);
	CHECK_STREQ(h, "X-Forwarded-Client-Cert: Subject=\"CN=alice,O=Example\""
	    ";URI=spiffe://example.org/alice\r\n");
	free(h);
	h = hdr_xfcc_element(&id, &hc, &len);
	CHECK_STREQ(h, "Subject=\"CN=alice,O=Example\";URI=spiffe://example.org/alice");
	CHECK(h != NULL && len == strlen(h));
	free(h);

	/* the modes: only sanitize-set puts the line in hdr_lines(); only
	 * append-forward has an element to append */
	static const struct { const char *mode, *element; } modes[] = {
		{ "sanitize", "" },
		{ "append-forward", "Subject=\"CN=alice,O=Example\";URI=spiffe://example.org/alice" },
		{ "forward-only", "" },
	};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		CHECK(hdr_parse_xfcc_mode(&hc, modes[i].mode) == 0);
		h = hdr_lines(&id, &hc, &len);
		CHECK(h != NULL && len == 0);
		free(h);
		h = hdr_xfcc_element(&id, &hc, &len);
		CHECK_STREQ(h, modes[i].element);
		CHECK(h != NULL && len == strlen(modes[i].element));
		free(h);
	}

	hdr_conf_free(&hc);
	ident_free(&id);
	X509_free(x);
}

static void
test_renames(void)
{
	X509		*x = mk_alice();
	struct hdr_conf	 hc;
	struct ident	 id;
	char		*h;
	size_t		 len;

	CHECK(ident_from_cert(&id, x) == 0);
	hdr_conf_init(&hc);
	CHECK(hdr_parse_name(&hc, "X-Forwarded-Client-Cert=X-Client-Identity") == 0);
	CHECK(hdr_parse_xfcc_fields(&hc, "URI") == 0);
	h = hdr_lines(&id, &hc, &len);
	CHECK_STREQ(h, "X-Client-Identity: URI=spiffe://example.org/alice\r\n");
	free(h);

	CHECK(hdr_parse_name(&hc, "X-Amzn-Mtls-Clientcert-Subject=X-Subject") == 0);
	CHECK(hdr_parse_name(&hc, "x-amzn-mtls-clientcert-leaf=X-Leaf") == 0);
	hc.hc_format = HEADERS_AMZN;
	hc.hc_xfcc_fields = XFCC_DEFAULT;
	h = hdr_lines(&id, &hc, &len);
	CHECK(h != NULL && headers_clean(h, len, 5));
	CHECK(h != NULL && strstr(h, "\r\nX-Subject: CN=alice,O=Example\r\nX-Amzn-Mtls-"
	    "Clientcert-Validity: NotBefore=2026-01-02T03:04:05Z;NotAfter="
	    "2027-01-02T03:04:05Z\r\nX-Leaf: -----BEGIN%20CERTIFICATE-----%0A") != NULL);
	free(h);

	CHECK(hdr_parse_name(&hc, "Client-Cert=X-Cert") == 0);
	CHECK(hdr_parse_name(&hc, "Client-Cert-Chain=X-Chain") == 0);
	CHECK(hdr_parse_name(&hc, "X-Amzn-Mtls-Clientcert=X-Pass") == 0);
	hc.hc_format = HEADERS_RFC9440;
	h = hdr_lines(&id, &hc, &len);
	CHECK(h != NULL && strncmp(h, "X-Cert: :", 9) == 0);
	free(h);
	hc.hc_format = HEADERS_AMZN_PASSTHROUGH;
	h = hdr_lines(&id, &hc, &len);
	CHECK(h != NULL && strncmp(h, "X-Pass: -----BEGIN%20CERTIFICATE-----%0A", 40) == 0);
	free(h);
	CHECK(hc.hc_nstrip == 6);
	ident_free(&id);
	X509_free(x);
}

/* Hostile subjects and SANs through every format, and a hostile struct
 * ident that ident_from_cert() would never make. */
static void
test_hostile_all_formats(void)
{
	static const enum header_format fmts[] = {
		HEADERS_XFCC, HEADERS_AMZN, HEADERS_AMZN_PASSTHROUGH, HEADERS_RFC9440,
	};
	static const int lines[] = { 1, 5, 1, 2 };
	X509_NAME	*n = X509_NAME_new();
	GENERAL_NAMES	*g = sk_GENERAL_NAME_new_null();
	STACK_OF(X509)	*chain = sk_X509_new_null();
	struct hdr_conf	 hc;
	struct ident	 id, fake;
	char		*h, *uri[1] = { "u\"\r\n;,=" }, *dns[1] = { "d\x01\xff" };
	char		*by[1] = { "spiffe://p/\"q\";r,s\r\nX: 1" };
	char		*cb64[2] = { "A\r\nB", ":C:" };
	X509		*x;
	size_t		 i, len;

	name_add(n, "O", V_ASN1_UTF8STRING, "q\"uo,te;semi=eq\\bs", -1, 0);
	name_add(n, "CN", V_ASN1_UTF8STRING, "cr\rlf\nZoë", -1, 0);
	san_add(g, GEN_URI, "spiffe://x/\"a\",b;c=d\re\nf", -1);
	san_add(g, GEN_DNS, "h\xc3\xa9\r\n.example", -1);
	x = mk_leaf(n, g, "01", "260102030405Z", "270102030405Z");
	sk_X509_push(chain, ca);
	CHECK(ident_from_cert(&id, x) == 0 && ident_set_chain(&id, x, chain) == 0);
	hdr_conf_init(&hc);
	hc.hc_by = by;
	hc.hc_nby = 1;
	hc.hc_xfcc_fields = XFCC_BY | XFCC_HASH | XFCC_CERT | XFCC_CHAIN | XFCC_SUBJECT |
	    XFCC_URI | XFCC_DNS;
	for (i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		hc.hc_format = fmts[i];
		h = hdr_lines(&id, &hc, &len);
		CHECK(h != NULL && headers_clean(h, len, lines[i]));
		free(h);
	}
	hc.hc_format = HEADERS_XFCC;
	h = hdr_lines(&id, &hc, &len);
	CHECK(h != NULL && strstr(h, "By=\"spiffe://p/\\\"q\\\";r,s\\x0D\\x0AX: 1\"") != NULL);
	if (h != NULL && len > 2) {
		char *elem = strndup(h + strlen("X-Forwarded-Client-Cert: "),
		    len - 2 - strlen("X-Forwarded-Client-Cert: "));
		CHECK(xfcc_is(elem, "Subject", 0, id.id_subject));
		CHECK(xfcc_is(elem, "URI", 0, id.id_uri[0]));
		CHECK(xfcc_is(elem, "DNS", 0, id.id_dns[0]));
		free(elem);
	}
	free(h);
	ident_free(&id);

	memset(&fake, 0, sizeof(fake));
	fake.id_subject = "CN=x\r\nInjected: 1";
	fake.id_issuer = "CN=y\n";
	fake.id_serial = "01\r";
	fake.id_uri = uri;
	fake.id_nuri = 1;
	fake.id_dns = dns;
	fake.id_ndns = 1;
	fake.id_pem_urlenc = "ab\ncd";
	fake.id_chain_pem_urlenc = "ab\r\ncd\x7f";
	fake.id_der_b64 = "AB\r\nX-Evil: 1";
	fake.id_chain_b64 = cb64;
	fake.id_nchain = 2;
	for (i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		hc.hc_format = fmts[i];
		h = hdr_lines(&fake, &hc, &len);
		CHECK(h != NULL && headers_clean(h, len, lines[i]));
		free(h);
	}
	hc.hc_format = HEADERS_XFCC;
	hc.hc_xfcc_mode = XFCC_APPEND_FORWARD;
	h = hdr_xfcc_element(&fake, &hc, &len);
	CHECK(h != NULL && strpbrk(h, "\r\n") == NULL && strlen(h) == len);
	free(h);
	sk_X509_free(chain);
	X509_free(x);
}

int
main(void)
{
	X509_NAME	*n;
	time_t		 now = time(NULL);

	ca_key = EVP_EC_gen("P-256");
	leaf_key = EVP_RSA_gen(2048);
	if (ca_key == NULL || leaf_key == NULL)
		fatal("keygen");
	n = X509_NAME_new();
	name_add(n, "O", V_ASN1_UTF8STRING, "ktproxy tests", -1, 0);
	name_add(n, "CN", V_ASN1_UTF8STRING, "Client Issuing CA", -1, 0);
	if ((ca = X509_new()) == NULL)
		fatal("X509_new");
	X509_set_version(ca, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(ca), 1);
	X509_set_subject_name(ca, n);
	X509_set_issuer_name(ca, n);
	X509_NAME_free(n);
	ASN1_TIME_set(X509_getm_notBefore(ca), now - 86400);
	ASN1_TIME_set(X509_getm_notAfter(ca), now + 86400 * 3650);
	X509_set_pubkey(ca, ca_key);
	if (X509_sign(ca, ca_key, EVP_sha256()) <= 0)
		fatal("CA");

	test_fields_and_headers();
	test_serials();
	test_names();
	test_injection();
	test_parse_options();
	test_chain_formats();
	test_xfcc_fields_modes();
	test_renames();
	test_hostile_all_formats();

	X509_free(ca);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(ca_key);
	return CHECK_DONE();
}
