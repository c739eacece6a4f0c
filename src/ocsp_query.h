/*
 * ocsp_query.h - one OCSP exchange with a responder over HTTP, that never
 * blocks: the caller polls the descriptor it names and steps it again.
 *
 *   START ──▶ RESOLVING ──▶ CONNECTING ──▶ EXCHANGE ──▶ DONE
 *     │     (a host name:    (next address   (POST, read the
 *     │      getaddrinfo_a,   on failure)     response: OpenSSL's
 *     └───────▶ an eventfd)                   HTTP client)
 *       numeric address
 *
 * Timeouts are the caller's: it frees a query that took too long.
 */
#ifndef KTPROXY_OCSP_QUERY_H
#define KTPROXY_OCSP_QUERY_H

#include <openssl/ocsp.h>

#include "intercept.h"

struct ocsp_query;

enum ocsp_wait {
	OCSP_WAIT_DONE = 0,	/* finished: ocsp_query_response() */
	OCSP_WAIT_READ,		/* step again when ocsp_query_fd() is readable */
	OCSP_WAIT_WRITE,	/* ... writable */
};

/* Ask the responder at url (http://) with req, which stays the caller's
 * and must outlive the query.  NULL: out of memory. */
struct ocsp_query *ocsp_query_new(const char *url, OCSP_REQUEST *req);
/* A responder in a prefix --steer sk_lookup steers is reached through the
 * prefix's egress interface (intercept_bind_egress); ic outlives q. */
void		 ocsp_query_steering(struct ocsp_query *q, const struct intercept_conf *ic);
/* Go as far as possible without blocking. */
enum ocsp_wait	 ocsp_query_step(struct ocsp_query *q);
int		 ocsp_query_fd(const struct ocsp_query *q);
/* Once done: the response (the query's), or NULL and *why, a static log
 * token (bad_url, dns_failed, connect_failed, http_failed, ...). */
OCSP_RESPONSE	*ocsp_query_response(struct ocsp_query *q, const char **why);
void		 ocsp_query_free(struct ocsp_query *q);

#endif
