/*
 * headers.c - identity header lines from a verified client certificate.
 *
 * Formats: Envoy's X-Forwarded-Client-Cert, AWS ALB's verify-mode and
 * passthrough-mode X-Amzn-Mtls-Clientcert*, RFC 9440 Client-Cert and
 * Client-Cert-Chain.  The values come from ident.c, which already made
 * every certificate string free of control bytes; the writers here escape
 * them again so that no struct ident, however filled, can end a line.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_msg.h"
#include "headers.h"

static const char *const hdr_canonical[HDR__COUNT] = {
	[HDR_XFCC]		= "X-Forwarded-Client-Cert",
	[HDR_AMZN_SERIAL]	= "X-Amzn-Mtls-Clientcert-Serial-Number",
	[HDR_AMZN_ISSUER]	= "X-Amzn-Mtls-Clientcert-Issuer",
	[HDR_AMZN_SUBJECT]	= "X-Amzn-Mtls-Clientcert-Subject",
	[HDR_AMZN_VALIDITY]	= "X-Amzn-Mtls-Clientcert-Validity",
	[HDR_AMZN_LEAF]		= "X-Amzn-Mtls-Clientcert-Leaf",
	[HDR_AMZN_CLIENTCERT]	= "X-Amzn-Mtls-Clientcert",
	[HDR_CLIENT_CERT]	= "Client-Cert",
	[HDR_CLIENT_CERT_CHAIN]	= "Client-Cert-Chain",
};

static const struct {
	const char	*name;
	enum header_format fmt;
} hdr_formats[] = {
	{ "xfcc", HEADERS_XFCC },
	{ "amzn", HEADERS_AMZN },
	{ "amzn-passthrough", HEADERS_AMZN_PASSTHROUGH },
	{ "rfc9440", HEADERS_RFC9440 },
	{ "none", HEADERS_NONE },
};

static const struct {
	const char	*name;
	enum xfcc_mode	 mode;
} hdr_modes[] = {
	{ "sanitize-set", XFCC_SANITIZE_SET },
	{ "sanitize", XFCC_SANITIZE },
	{ "append-forward", XFCC_APPEND_FORWARD },
	{ "forward-only", XFCC_FORWARD_ONLY },
};

static const char *const hdr_keys[] = {	/* bit i: XFCC key i */
	"By", "Hash", "Cert", "Chain", "Subject", "URI", "DNS",
};

/* Names a rename must not take: the rewriter strips what we emit from
 * clients, and these carry framing, routing or hop-by-hop meaning. */
static const char *const hdr_reserved[] = {
	"host", "content-length", "transfer-encoding", "connection", "upgrade",
	"te", "trailer", "keep-alive", "proxy-connection", "expect",
};

static void	 hdr_value(struct ident_str *, const char *);
static void	 hdr_xfcc_value(struct ident_str *, const char *, bool);
static void	 hdr_amzn_pem(struct ident_str *, const char *);
static void	 hdr_xfcc(struct ident_str *, const struct ident *, const struct hdr_conf *);
static void	 hdr_line(struct ident_str *, const struct hdr_conf *, enum hdr_id);

void
hdr_conf_init(struct hdr_conf *hc)
{
	int	 i;

	memset(hc, 0, sizeof(*hc));
	hc->hc_format = HEADERS_XFCC;
	hc->hc_xfcc_mode = XFCC_SANITIZE_SET;
	hc->hc_xfcc_fields = XFCC_DEFAULT;
	for (i = 0; i < HDR__COUNT; i++)
		hc->hc_name[i] = hdr_canonical[i];
}

void
hdr_conf_free(struct hdr_conf *hc)
{
	size_t	 i;

	for (i = 0; i < hc->hc_nby; i++)
		free(hc->hc_by[i]);
	free(hc->hc_by);
	hc->hc_by = NULL;
	hc->hc_nby = 0;
}

int
hdr_parse_format(struct hdr_conf *hc, const char *s)
{
	size_t	 i;

	for (i = 0; i < sizeof(hdr_formats) / sizeof(hdr_formats[0]); i++)
		if (strcmp(s, hdr_formats[i].name) == 0) {
			hc->hc_format = hdr_formats[i].fmt;
			return 0;
		}
	config_error("--headers: \"%s\" is not one of xfcc, amzn, "
	    "amzn-passthrough, rfc9440, none\n", s);
	return -1;
}

int
hdr_parse_xfcc_mode(struct hdr_conf *hc, const char *s)
{
	size_t	 i;

	for (i = 0; i < sizeof(hdr_modes) / sizeof(hdr_modes[0]); i++)
		if (strcmp(s, hdr_modes[i].name) == 0) {
			hc->hc_xfcc_mode = hdr_modes[i].mode;
			return 0;
		}
	config_error("--xfcc-mode: \"%s\" is not one of sanitize-set, "
	    "sanitize, append-forward, forward-only\n", s);
	return -1;
}

int
hdr_parse_xfcc_fields(struct hdr_conf *hc, const char *list)
{
	const char	*p = list, *e;
	unsigned	 bits = 0;
	size_t		 i, n;

	for (;;) {
		e = strchr(p, ',');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		for (i = 0; i < sizeof(hdr_keys) / sizeof(hdr_keys[0]); i++)
			if (strlen(hdr_keys[i]) == n && strncasecmp(p, hdr_keys[i], n) == 0)
				break;
		if (i == sizeof(hdr_keys) / sizeof(hdr_keys[0])) {
			config_error("--xfcc-fields: \"%.*s\" is not one of "
			    "By, Hash, Cert, Chain, Subject, URI, DNS\n", (int)n, p);
			return -1;
		}
		bits |= 1u << i;
		if (e == NULL)
			break;
		p = e + 1;
	}
	hc->hc_xfcc_fields = bits;
	return 0;
}

bool
hdr_name_ok(const char *name, size_t len)
{
	size_t	 i;

	if (len == 0 || len > 128)
		return false;
	for (i = 0; i < len; i++)	/* RFC 9110 tchar */
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') ||
		    (name[i] != '\0' && strchr("!#$%&'*+-.^_`|~", name[i]) != NULL)))
			return false;
	for (i = 0; i < sizeof(hdr_reserved) / sizeof(hdr_reserved[0]); i++)
		if (strlen(hdr_reserved[i]) == len &&
		    strncasecmp(name, hdr_reserved[i], len) == 0)
			return false;
	return true;
}

int
hdr_parse_name(struct hdr_conf *hc, const char *arg)
{
	const char	*eq = strchr(arg, '='), *name;
	size_t		 clen;
	int		 i, id = -1;

	if (eq == NULL) {
		config_error("--header-name: \"%s\" is not CANONICAL=NAME\n", arg);
		return -1;
	}
	clen = (size_t)(eq - arg);
	name = eq + 1;
	for (i = 0; i < HDR__COUNT; i++)
		if (strlen(hdr_canonical[i]) == clen &&
		    strncasecmp(arg, hdr_canonical[i], clen) == 0)
			id = i;
	if (id == -1) {
		config_error("--header-name: \"%.*s\" is not a header ktproxy "
		    "sends (X-Forwarded-Client-Cert, X-Amzn-Mtls-Clientcert[-Serial-Number"
		    "|-Issuer|-Subject|-Validity|-Leaf], Client-Cert, Client-Cert-Chain)\n",
		    (int)clen, arg);
		return -1;
	}
	if (!hdr_name_ok(name, strlen(name))) {
		config_error("--header-name: \"%s\" is not a usable header name "
		    "(letters, digits and !#$%%&'*+-.^_`|~ only; not Host, Connection or "
		    "another framing header)\n", name);
		return -1;
	}
	for (i = 0; i < HDR__COUNT; i++)
		if (i != id && strcasecmp(hc->hc_name[i], name) == 0) {
			config_error("--header-name: \"%s\" is already the name "
			    "of %s\n", name, hdr_canonical[i]);
			return -1;
		}
	if (hc->hc_name[id] != hdr_canonical[id]) {
		config_error("--header-name: %s renamed twice\n", hdr_canonical[id]);
		return -1;
	}
	hc->hc_name[id] = name;
	hc->hc_strip[hc->hc_nstrip++] = name;
	return 0;
}

int
hdr_conf_check(const struct hdr_conf *hc)
{
	if (hc->hc_format != HEADERS_XFCC && hc->hc_xfcc_mode != XFCC_SANITIZE_SET) {
		config_error("--xfcc-mode needs --headers xfcc\n");
		return -1;
	}
	if (hc->hc_format != HEADERS_XFCC && hc->hc_xfcc_fields != XFCC_DEFAULT) {
		config_error("--xfcc-fields needs --headers xfcc\n");
		return -1;
	}
	return 0;
}

int
hdr_set_by(struct hdr_conf *hc, X509 *server_leaf)
{
	struct ident	 id;

	hdr_conf_free(hc);
	if (server_leaf == NULL)
		return 0;
	if (ident_from_cert(&id, server_leaf) == -1)
		return -1;
	hc->hc_by = id.id_uri;
	hc->hc_nby = id.id_nuri;
	id.id_uri = NULL;
	id.id_nuri = 0;
	ident_free(&id);
	return 0;
}

bool
hdr_xfcc_merge(const struct hdr_conf *hc)
{
	return hc->hc_format == HEADERS_XFCC &&
	    (hc->hc_xfcc_mode == XFCC_APPEND_FORWARD || hc->hc_xfcc_mode == XFCC_FORWARD_ONLY);
}

/*
 * Header value bytes.  ident_from_cert() already removed control bytes;
 * this does it again so that no struct ident, however filled, can end a
 * header line early.
 */
static void
hdr_value(struct ident_str *is, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;

	for (; p != NULL && *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			ident_str_hex(is, "\\x", *p);
		else
			ident_str_add(is, p, 1);
	}
}

/*
 * An XFCC value.  Envoy's rule: a value holding ',' ';' or '=' is
 * double-quoted and '"' inside becomes '\"'.  Backslash is escaped as
 * well ('\\'): Envoy's own XFCC parser decides whether a quote ends the
 * value by counting the backslashes before it and unescapes both, and
 * RFC 2253 subjects are full of backslashes ("O=a\,b", "CN=x\\").
 */
static void
hdr_xfcc_value(struct ident_str *is, const char *s, bool quote)
{
	char	 cc[2] = { '\\', 0 };

	if (s == NULL)
		s = "";
	if (!quote)
		quote = strpbrk(s, ",;=\"\\ ") != NULL;
	if (!quote) {
		hdr_value(is, s);
		return;
	}
	ident_str_add(is, "\"", 1);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\') {
			cc[1] = *s;
			ident_str_add(is, cc, 2);
		} else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			ident_str_hex(is, "\\x", (unsigned char)*s);
		else
			ident_str_add(is, s, 1);
	}
	ident_str_add(is, "\"", 1);
}

/*
 * ALB sends the leaf "URL-encoded ... with +=/ as safe characters" (AWS
 * ELB mutual TLS docs): same as ours except that '+', '=' and '/' stay.
 */
static void
hdr_amzn_pem(struct ident_str *is, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		if (s[0] == '%' && s[1] == '2' && s[2] == 'B') {
			ident_str_add(is, "+", 1);
			s += 2;
		} else if (s[0] == '%' && s[1] == '3' && s[2] == 'D') {
			ident_str_add(is, "=", 1);
			s += 2;
		} else if (s[0] == '%' && s[1] == '2' && s[2] == 'F') {
			ident_str_add(is, "/", 1);
			s += 2;
		} else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			ident_str_hex(is, "%", (unsigned char)*s);
		else
			ident_str_add(is, s, 1);
	}
}


/* "Name: " of header id, as configured. */
static void
hdr_line(struct ident_str *is, const struct hdr_conf *hc, enum hdr_id id)
{
	ident_str_adds(is, hc->hc_name[id]);
	ident_str_adds(is, ": ");
}

/*
 * One XFCC element, keys in Envoy's order: By (one per URI SAN of our
 * certificate), Hash, Cert, Chain, Subject (always quoted, present even if
 * empty), URI (one per URI SAN, "URI=" if there is none), DNS (one per DNS
 * SAN).  Only the keys selected in hc_xfcc_fields.
 */
static void
hdr_xfcc(struct ident_str *is, const struct ident *id, const struct hdr_conf *hc)
{
	unsigned	 f = hc->hc_xfcc_fields;
	const char	*sep = "";
	size_t		 i;

#define HDR_KEY(k)	do {				\
	ident_str_adds(is, sep);			\
	ident_str_adds(is, k "=");			\
	sep = ";";					\
} while (0)
	for (i = 0; (f & XFCC_BY) && i < hc->hc_nby; i++) {
		HDR_KEY("By");
		hdr_xfcc_value(is, hc->hc_by[i], false);
	}
	if (f & XFCC_HASH) {
		HDR_KEY("Hash");
		hdr_value(is, id->id_sha256_hex);
	}
	if (f & XFCC_CERT) {
		HDR_KEY("Cert");
		hdr_xfcc_value(is, id->id_pem_urlenc, true);
	}
	if (f & XFCC_CHAIN) {
		HDR_KEY("Chain");
		hdr_xfcc_value(is, id->id_chain_pem_urlenc != NULL ?
		    id->id_chain_pem_urlenc : id->id_pem_urlenc, true);
	}
	if (f & XFCC_SUBJECT) {
		HDR_KEY("Subject");
		hdr_xfcc_value(is, id->id_subject, true);
	}
	if ((f & XFCC_URI) && id->id_nuri == 0)
		HDR_KEY("URI");
	for (i = 0; (f & XFCC_URI) && i < id->id_nuri; i++) {
		HDR_KEY("URI");
		hdr_xfcc_value(is, id->id_uri[i], false);
	}
	for (i = 0; (f & XFCC_DNS) && i < id->id_ndns; i++) {
		HDR_KEY("DNS");
		hdr_xfcc_value(is, id->id_dns[i], false);
	}
#undef HDR_KEY
}

char *
hdr_xfcc_element(const struct ident *id, const struct hdr_conf *hc, size_t *len)
{
	struct ident_str	 is = { 0 };

	if (hc->hc_xfcc_mode != XFCC_FORWARD_ONLY && hc->hc_xfcc_mode != XFCC_SANITIZE)
		hdr_xfcc(&is, id, hc);
	return ident_str_done(&is, len);
}

char *
hdr_lines(const struct ident *id, const struct hdr_conf *hc, size_t *len)
{
	struct ident_str	 is = { 0 };
	size_t			 i, mark;

	switch (hc->hc_format) {
	case HEADERS_XFCC:
		if (hc->hc_xfcc_mode != XFCC_SANITIZE_SET)
			break;
		hdr_line(&is, hc, HDR_XFCC);
		mark = is.is_len;
		hdr_xfcc(&is, id, hc);
		if (is.is_len == mark)	/* no key selected has a value */
			is.is_len = 0;
		else
			ident_str_adds(&is, "\r\n");
		break;
	case HEADERS_AMZN:
		hdr_line(&is, hc, HDR_AMZN_SERIAL);
		hdr_value(&is, id->id_serial);
		ident_str_adds(&is, "\r\n");
		hdr_line(&is, hc, HDR_AMZN_ISSUER);
		hdr_value(&is, id->id_issuer);
		ident_str_adds(&is, "\r\n");
		hdr_line(&is, hc, HDR_AMZN_SUBJECT);
		hdr_value(&is, id->id_subject);
		ident_str_adds(&is, "\r\n");
		hdr_line(&is, hc, HDR_AMZN_VALIDITY);
		ident_str_adds(&is, "NotBefore=");
		hdr_value(&is, id->id_not_before);
		ident_str_adds(&is, ";NotAfter=");
		hdr_value(&is, id->id_not_after);
		ident_str_adds(&is, "\r\n");
		hdr_line(&is, hc, HDR_AMZN_LEAF);
		hdr_amzn_pem(&is, id->id_pem_urlenc);
		ident_str_adds(&is, "\r\n");
		break;
	case HEADERS_AMZN_PASSTHROUGH:
		/* the whole chain the client sent, leaf first */
		hdr_line(&is, hc, HDR_AMZN_CLIENTCERT);
		hdr_amzn_pem(&is, id->id_chain_pem_urlenc != NULL ?
		    id->id_chain_pem_urlenc : id->id_pem_urlenc);
		ident_str_adds(&is, "\r\n");
		break;
	case HEADERS_RFC9440:
		/* RFC 9440 2.2: sf-binary of the DER; 2.3: an sf-list of them,
		 * the certificates after the leaf, omitted when there are none */
		hdr_line(&is, hc, HDR_CLIENT_CERT);
		ident_str_adds(&is, ":");
		hdr_value(&is, id->id_der_b64);
		ident_str_adds(&is, ":\r\n");
		if (id->id_nchain == 0)
			break;
		hdr_line(&is, hc, HDR_CLIENT_CERT_CHAIN);
		for (i = 0; i < id->id_nchain; i++) {
			ident_str_adds(&is, i == 0 ? ":" : ", :");
			hdr_value(&is, id->id_chain_b64[i]);
			ident_str_adds(&is, ":");
		}
		ident_str_adds(&is, "\r\n");
		break;
	case HEADERS_NONE:
		break;
	default:
		free(is.is_s);
		return NULL;
	}
	if (is.is_s != NULL && !is.is_err)
		is.is_s[is.is_len] = '\0';
	return ident_str_done(&is, len);
}
