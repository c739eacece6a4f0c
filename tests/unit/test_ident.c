/*
 * test_ident.c - the client identity as the upstream sees it: fields of
 * the certificate, and the XFCC and AWS ALB header lines built from them.
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
	h = ident_headers(&id, HEADERS_XFCC, &len);
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
	h = ident_headers(&id, HEADERS_AMZN, &len);
	CHECK_STREQ(h, want);
	CHECK(h != NULL && headers_clean(h, len, 5));
	CHECK(strchr(leaf, '/') != NULL || strchr(leaf, '+') != NULL);
	free(h);
	free(want);
	free(leaf);

	h = ident_headers(&id, HEADERS_NONE, &len);
	CHECK(h != NULL && len == 0 && h[0] == '\0');
	free(h);
	CHECK(ident_headers(&id, (enum header_format)42, &len) == NULL);

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
	h = ident_headers(&id, HEADERS_XFCC, &len);
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
	h = ident_headers(&id, HEADERS_XFCC, &len);
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

	h = ident_headers(&id, HEADERS_XFCC, &len);
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

	h = ident_headers(&id, HEADERS_AMZN, &len);
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
	h = ident_headers(&fake, HEADERS_XFCC, &len);
	CHECK(h != NULL && headers_clean(h, len, 1));
	free(h);
	h = ident_headers(&fake, HEADERS_AMZN, &len);
	CHECK(h != NULL && headers_clean(h, len, 5));
	free(h);

	/* nor does an empty one crash */
	memset(&fake, 0, sizeof(fake));
	h = ident_headers(&fake, HEADERS_XFCC, &len);
	CHECK_STREQ(h, "X-Forwarded-Client-Cert: Hash=;Cert=\"\";Subject=\"\";URI=\r\n");
	free(h);
	h = ident_headers(&fake, HEADERS_AMZN, &len);
	CHECK(h != NULL && headers_clean(h, len, 5));
	free(h);
}

static void
test_parse_format(void)
{
	enum header_format	 fmt = HEADERS_NONE;

	CHECK(ident_parse_format("xfcc", &fmt) == 0 && fmt == HEADERS_XFCC);
	CHECK(ident_parse_format("amzn", &fmt) == 0 && fmt == HEADERS_AMZN);
	CHECK(ident_parse_format("none", &fmt) == 0 && fmt == HEADERS_NONE);
	fmt = HEADERS_AMZN;
	CHECK(ident_parse_format("XFCC ", &fmt) == -1 && fmt == HEADERS_AMZN);
	CHECK(ident_parse_format("", &fmt) == -1);
	CHECK(ident_parse_format("envoy", &fmt) == -1);
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
	test_parse_format();

	X509_free(ca);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(ca_key);
	return CHECK_DONE();
}
