/*
 * ocsp.h - the OCSP status of client certificates (RFC 6960): the settings,
 * the request ktproxy sends, how an answer is judged, and each worker's
 * cache of answers.  The exchange with the responder, which must never
 * block a worker, is in ocsp_query.h; how a handshake waits for it is in
 * conn_ocsp.c.
 *
 * Only the client's own certificate is asked about, not the CAs above it
 * (their revocation is for the CRL files).
 */
#ifndef KTPROXY_OCSP_H
#define KTPROXY_OCSP_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#define OCSP_TIMEOUT_DEFAULT	3	/* s for one query */
#define OCSP_CACHE_DEFAULT	10000	/* answers per worker */
#define OCSP_TTL_DEFAULT	3600	/* s an answer is kept at most */
#define OCSP_ERROR_TTL		10	/* s a failed query stands for the certificate */
#define OCSP_SKEW		300	/* s of clock skew allowed on an answer's times */
#define OCSP_RESPONSE_MAX	(64 * 1024)

enum ocsp_mode {
	OCSP_OFF = 0,		/* no OCSP (default) */
	OCSP_SOFT,		/* revoked: refused; no answer or unknown: let in */
	OCSP_HARD,		/* only good lets in */
};

struct ocsp_conf {
	enum ocsp_mode	 oc_mode;
	const char	*oc_responder;	/* --ocsp-responder URL; NULL: the one in
					 * the certificate (authorityInfoAccess) */
	unsigned	 oc_timeout;	/* --ocsp-timeout, s */
	unsigned	 oc_cache;	/* --ocsp-cache, answers per worker (0: none) */
	unsigned	 oc_ttl;	/* --ocsp-cache-ttl, s */
};

enum ocsp_status {
	OCSP_STATUS_NONE = 0,
	OCSP_STATUS_GOOD,
	OCSP_STATUS_REVOKED,
	OCSP_STATUS_UNKNOWN,	/* the responder does not know the certificate */
	OCSP_STATUS_ERROR,	/* no usable answer; oa_why says why */
};

/* What is known of one certificate's status, and till when. */
struct ocsp_answer {
	enum ocsp_status	 oa_status;
	time_t			 oa_until;	/* stands until then */
	const char		*oa_why;	/* static log token: "good", "revoked",
						 * "unknown", or what failed */
};

void		 ocsp_conf_init(struct ocsp_conf *oc);
/* --ocsp off|soft|hard, --ocsp-responder URL: 0, or -1 after saying why. */
int		 ocsp_parse_mode(struct ocsp_conf *oc, const char *arg);
int		 ocsp_parse_responder(struct ocsp_conf *oc, const char *url);

/* Split an http:// URL (https is refused) into what the request needs;
 * *path includes a query string.  0 (free the three) or -1. */
int		 ocsp_url_split(const char *url, char **host, char **port, char **path);
/* The responder to ask about leaf: --ocsp-responder, else the first http
 * OCSP URL of its authorityInfoAccess.  NULL: none (or out of memory). */
char		*ocsp_responder_url(const struct ocsp_conf *oc, X509 *leaf);

/* A request about id, with a nonce.  NULL: out of memory. */
OCSP_REQUEST	*ocsp_request_new(const OCSP_CERTID *id);

/*
 * Judge resp, the answer to req (for its nonce; NULL: none asked) about
 * id: a successful response, signed by the certificate's issuer or a
 * responder it delegated to (OCSPSigning) that chains to store (chain:
 * the client's verified chain, which may hold the issuer), with a status
 * for id whose thisUpdate/nextUpdate hold now (OCSP_SKEW).  Such a status
 * stands until its nextUpdate, and at most ttl seconds; anything else is
 * OCSP_STATUS_ERROR for OCSP_ERROR_TTL.  Leaves OpenSSL's error queue empty.
 */
void		 ocsp_response_judge(OCSP_RESPONSE *resp, OCSP_REQUEST *req,
		    OCSP_CERTID *id, STACK_OF(X509) *chain, X509_STORE *store,
		    time_t now, unsigned ttl, struct ocsp_answer *out);
/* An error answer: why, for OCSP_ERROR_TTL from now. */
void		 ocsp_answer_error(struct ocsp_answer *out, const char *why, time_t now);

/*
 * Each worker's answers, by certificate (issuer name and key hashes and
 * serial: the CertID), at most `max`, the least recently used going first.
 * Errors are kept too, for OCSP_ERROR_TTL, so a responder that is down
 * costs each certificate one timeout per OCSP_ERROR_TTL, not one per
 * handshake.
 */
struct ocsp_cache;

struct ocsp_cache *ocsp_cache_new(unsigned max);
void		 ocsp_cache_free(struct ocsp_cache *oc);
/* The cache key of a CertID.  0 or -1. */
int		 ocsp_cache_key(const OCSP_CERTID *id, uint8_t key[32]);
/* The answer kept for key if it still stands at now. */
bool		 ocsp_cache_get(struct ocsp_cache *oc, const uint8_t key[32], time_t now,
		    struct ocsp_answer *out);
void		 ocsp_cache_put(struct ocsp_cache *oc, const uint8_t key[32],
		    const struct ocsp_answer *a);

#endif
