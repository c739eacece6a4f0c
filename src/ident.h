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
	/* Certificates as the headers carry them: needed only until the
	 * header lines are built (ident_free_certs()). */
	char	*id_pem_urlenc;		/* URL-encoded PEM of the leaf */
	char	*id_der_b64;		/* base64 DER of the leaf */
	char	*id_chain_pem_urlenc;	/* leaf and chain, URL-encoded PEM;
					 * NULL until ident_set_chain() */
	char	**id_chain_b64; size_t id_nchain; /* base64 DER of each
					 * certificate the client sent after
					 * its leaf, in order */
};

/* A growing string; an allocation failure sticks until the end
 * (ident_str_done() then returns NULL).  Shared with headers.c. */
struct ident_str {
	char	*is_s;
	size_t	 is_len;
	size_t	 is_cap;
	int	 is_err;
};

void	 ident_str_add(struct ident_str *, const void *, size_t);
void	 ident_str_adds(struct ident_str *, const char *);
void	 ident_str_hex(struct ident_str *, const char *prefix, unsigned char);
char	*ident_str_done(struct ident_str *, size_t *);

/* Fill id from a verified leaf certificate.  0 or -1 (out of memory or an
 * unparsable field; id is then freed). */
int	 ident_from_cert(struct ident *id, X509 *leaf);
/* Add the chain the client sent (SSL_get_peer_cert_chain(): on a server,
 * without the leaf; a leading copy of the leaf is skipped either way).
 * 0 or -1 (out of memory; id stays valid, ident_free() frees it). */
int	 ident_set_chain(struct ident *id, X509 *leaf, STACK_OF(X509) *chain);
void	 ident_free_certs(struct ident *id);	/* the id_*pem*, id_*b64* */
/* A name as id_subject writes it (RFC 2253, made safe); free() it.  NULL:
 * out of memory. */
char	*ident_dn(const X509_NAME *name);
void	 ident_free(struct ident *id);

#endif
