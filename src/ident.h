/*
 * ident.h - a verified client certificate as the upstream gets to see it.
 *
 * Extracted once per connection after the client certificate verified, then
 * used for the connection log and for the identity headers injected into
 * every request head.
 */
#ifndef KTPROXY_IDENT_H
#define KTPROXY_IDENT_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

enum header_format {
	HEADERS_XFCC = 0,	/* Envoy X-Forwarded-Client-Cert (default) */
	HEADERS_AMZN,		/* AWS ALB verify mode X-Amzn-Mtls-Clientcert-* */
	HEADERS_NONE,		/* strip client identity headers, inject none */
};

struct ident {
	char	*id_subject;		/* RFC 2253, e.g. "CN=alice,O=Example" */
	char	*id_issuer;		/* RFC 2253 */
	char	*id_serial;		/* upper-case hex, no separators */
	uint8_t	 id_sha256[32];		/* of the leaf's DER */
	char	 id_sha256_hex[65];	/* lower-case hex */
	char	 id_not_before[21];	/* "2026-01-02T03:04:05Z" */
	char	 id_not_after[21];
	char	**id_uri;  size_t id_nuri;	/* subjectAltName entries, in order */
	char	**id_dns;  size_t id_ndns;
	char	**id_email; size_t id_nemail;
	char	**id_ip;   size_t id_nip;	/* textual, v4 or v6 */
	char	*id_pem_urlenc;		/* URL-encoded PEM of the leaf */
};

/* Fill id from a verified leaf certificate.  0 or -1 (out of memory or an
 * unparsable field; id is then freed). */
int	 ident_from_cert(struct ident *id, X509 *leaf);
void	 ident_free(struct ident *id);

/* The header lines to inject, "Name: value\r\n" each, NUL-terminated, in
 * a malloc'd string (*len excludes the NUL).  HEADERS_NONE gives "". */
char	*ident_headers(const struct ident *id, enum header_format fmt, size_t *len);

int	 ident_parse_format(const char *s, enum header_format *fmt);	/* "xfcc"... */

#endif
