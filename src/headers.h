/*
 * headers.h - the identity headers the upstream receives: which format,
 * which XFCC keys, under which names, and what happens to the client's own.
 *
 * Settled once at start-up (struct hdr_conf, read-only afterwards); the
 * lines themselves are built once per connection from its struct ident.
 */
#ifndef KTPROXY_HEADERS_H
#define KTPROXY_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/x509.h>

#include "ident.h"

enum header_format {
	HEADERS_XFCC = 0,		/* Envoy X-Forwarded-Client-Cert (default) */
	HEADERS_AMZN,			/* AWS ALB verify mode X-Amzn-Mtls-Clientcert-* */
	HEADERS_AMZN_PASSTHROUGH,	/* AWS ALB passthrough X-Amzn-Mtls-Clientcert */
	HEADERS_RFC9440,		/* Client-Cert, Client-Cert-Chain */
	HEADERS_NONE,			/* strip client identity headers, inject none */
};

/* Envoy's forward_client_cert_details, for the XFCC header only. */
enum xfcc_mode {
	XFCC_SANITIZE_SET = 0,	/* drop the client's XFCC, send ours (default) */
	XFCC_SANITIZE,		/* drop the client's XFCC, send none */
	XFCC_APPEND_FORWARD,	/* keep the client's, append ours after a ',' */
	XFCC_FORWARD_ONLY,	/* keep the client's, add nothing */
};

/* XFCC keys, one bit each; emitted in this (Envoy's) order. */
#define XFCC_BY		0x01	/* URI SANs of our own --server-cert */
#define XFCC_HASH	0x02	/* SHA-256 of the client leaf's DER, hex */
#define XFCC_CERT	0x04	/* the leaf, URL-encoded PEM */
#define XFCC_CHAIN	0x08	/* leaf and the chain the client sent, same */
#define XFCC_SUBJECT	0x10
#define XFCC_URI	0x20
#define XFCC_DNS	0x40
#define XFCC_DEFAULT	(XFCC_BY | XFCC_HASH | XFCC_CERT | XFCC_SUBJECT | XFCC_URI | XFCC_DNS)

/* Every header name ktproxy can emit, renameable with --header-name. */
enum hdr_id {
	HDR_XFCC = 0,
	HDR_AMZN_SERIAL,
	HDR_AMZN_ISSUER,
	HDR_AMZN_SUBJECT,
	HDR_AMZN_VALIDITY,
	HDR_AMZN_LEAF,
	HDR_AMZN_CLIENTCERT,
	HDR_CLIENT_CERT,
	HDR_CLIENT_CERT_CHAIN,
	HDR__COUNT
};

struct hdr_conf {
	enum header_format	 hc_format;
	enum xfcc_mode		 hc_xfcc_mode;
	unsigned		 hc_xfcc_fields;	/* XFCC_* bits */
	const char		*hc_name[HDR__COUNT];	/* as emitted */
	const char		*hc_strip[HDR__COUNT];	/* renamed names: stripped
							 * from clients as well */
	size_t			 hc_nstrip;
	char			**hc_by;		/* XFCC By= values */
	size_t			 hc_nby;
};

/* Defaults: xfcc, sanitize-set, XFCC_DEFAULT, canonical names. */
void	 hdr_conf_init(struct hdr_conf *hc);
void	 hdr_conf_free(struct hdr_conf *hc);	/* frees hc_by */

/* Option parsers: 0, or -1 after printing what is wrong to stderr. */
int	 hdr_parse_format(struct hdr_conf *hc, const char *s);
int	 hdr_parse_xfcc_mode(struct hdr_conf *hc, const char *s);
int	 hdr_parse_xfcc_fields(struct hdr_conf *hc, const char *list);
int	 hdr_parse_name(struct hdr_conf *hc, const char *canonical_eq_name);
/* Options that only make sense together; after all are parsed. */
int	 hdr_conf_check(const struct hdr_conf *hc);

/* XFCC By=: the URI SANs of our own certificate.  0 or -1 (no memory). */
int	 hdr_set_by(struct hdr_conf *hc, X509 *server_leaf);

/* Is `name` (len bytes) a valid header name, not one HTTP framing or
 * routing depends on? */
bool	 hdr_name_ok(const char *name, size_t len);

/*
 * The header lines to insert, "Name: value\r\n" each, in a malloc'd
 * NUL-terminated string (*len excludes the NUL); "" when there are none.
 * NULL when out of memory.  With an XFCC mode that keeps the client's
 * header (hdr_xfcc_merge()), the XFCC line is not among them: the caller
 * gives hdr_xfcc_element() to the request rewriter to merge.
 */
char	*hdr_lines(const struct ident *id, const struct hdr_conf *hc, size_t *len);
/* Our XFCC element alone, no name, no CRLF; "" for forward-only. */
char	*hdr_xfcc_element(const struct ident *id, const struct hdr_conf *hc, size_t *len);
/* Does the client's XFCC header go upstream (append-forward, forward-only)? */
bool	 hdr_xfcc_merge(const struct hdr_conf *hc);

#endif
