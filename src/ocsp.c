/*
 * ocsp.c - OCSP settings, requests, the judging of answers and the
 * per-worker cache of them (see ocsp.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/http.h>
#include <openssl/x509v3.h>

#include "config_msg.h"
#include "ocsp.h"

#define OCSP_BUCKETS_MAX	(1u << 20)

struct ocsp_entry {
	uint8_t			 oe_key[32];
	struct ocsp_answer	 oe_answer;
	struct ocsp_entry	*oe_hnext;	/* hash chain */
	TAILQ_ENTRY(ocsp_entry)	 oe_lru;	/* most recently used first */
};
TAILQ_HEAD(ocsp_lru, ocsp_entry);

struct ocsp_cache {
	unsigned		 oc_max;
	unsigned		 oc_count;
	struct ocsp_entry	**oc_buckets;
	size_t			 oc_mask;	/* buckets - 1 (a power of 2) */
	struct ocsp_lru		 oc_lru;
};

static time_t		 ocsp_time(const ASN1_GENERALIZEDTIME *);
static struct ocsp_entry **ocsp_slot(struct ocsp_cache *, const uint8_t [32]);
static struct ocsp_entry *ocsp_find(struct ocsp_cache *, const uint8_t [32]);
static void		 ocsp_drop(struct ocsp_cache *, struct ocsp_entry *);

void
ocsp_conf_init(struct ocsp_conf *oc)
{
	memset(oc, 0, sizeof(*oc));
	oc->oc_mode = OCSP_OFF;
	oc->oc_timeout = OCSP_TIMEOUT_DEFAULT;
	oc->oc_cache = OCSP_CACHE_DEFAULT;
	oc->oc_ttl = OCSP_TTL_DEFAULT;
}

int
ocsp_parse_mode(struct ocsp_conf *oc, const char *arg)
{
	if (strcmp(arg, "off") == 0)
		oc->oc_mode = OCSP_OFF;
	else if (strcmp(arg, "soft") == 0)
		oc->oc_mode = OCSP_SOFT;
	else if (strcmp(arg, "hard") == 0)
		oc->oc_mode = OCSP_HARD;
	else {
		config_error("--ocsp: \"%s\" is not off, soft or hard\n", arg);
		return -1;
	}
	return 0;
}

int
ocsp_parse_responder(struct ocsp_conf *oc, const char *url)
{
	char *host, *port, *path;

	if (ocsp_url_split(url, &host, &port, &path) == -1) {
		config_error("--ocsp-responder: \"%s\" is not an http:// URL "
		    "(e.g. http://ocsp.example.test:8080/)\n", url);
		return -1;
	}
	free(host);
	free(port);
	free(path);
	oc->oc_responder = url;
	return 0;
}

int
ocsp_url_split(const char *url, char **host, char **port, char **path)
{
	char *h = NULL, *po = NULL, *pa = NULL, *query = NULL;
	int ssl = 0, ok = 0;

	*host = *port = *path = NULL;
	if (strncasecmp(url, "http://", 7) != 0)
		return -1;
	if (OSSL_HTTP_parse_url(url, &ssl, NULL, &h, &po, NULL, &pa, &query, NULL) != 1) {
		ERR_clear_error();
		return -1;
	}
	/* OpenSSL's strings go back to OpenSSL; the caller's are malloc'd.
	 * An IPv6 address comes in brackets, which getaddrinfo() does not
	 * take. */
	if (!ssl && *h != '\0' && (*host = h[0] == '[' ? strndup(h + 1, strlen(h) - 2) :
	    strdup(h)) != NULL && (*port = strdup(po)) != NULL) {
		bool q = query != NULL && *query != '\0';

		if (asprintf(path, "%s%s%s", pa, q ? "?" : "", q ? query : "") != -1)
			ok = 1;
		else
			*path = NULL;
	}
	OPENSSL_free(h);
	OPENSSL_free(po);
	OPENSSL_free(pa);
	OPENSSL_free(query);
	if (!ok) {
		free(*host);
		free(*port);
		*host = *port = *path = NULL;
		return -1;
	}
	return 0;
}

char *
ocsp_responder_url(const struct ocsp_conf *oc, X509 *leaf)
{
	STACK_OF(OPENSSL_STRING) *urls;
	char *url = NULL;

	if (oc->oc_responder != NULL)
		return strdup(oc->oc_responder);
	if ((urls = X509_get1_ocsp(leaf)) == NULL)
		return NULL;
	for (int i = 0; i < sk_OPENSSL_STRING_num(urls) && url == NULL; i++) {
		const char *u = sk_OPENSSL_STRING_value(urls, i);

		if (strncasecmp(u, "http://", 7) == 0)
			url = strdup(u);
	}
	X509_email_free(urls);	/* frees any OPENSSL_STRING stack */
	return url;
}

OCSP_REQUEST *
ocsp_request_new(const OCSP_CERTID *id)
{
	OCSP_REQUEST *req;
	OCSP_CERTID *copy;

	if ((req = OCSP_REQUEST_new()) == NULL)
		return NULL;
	if ((copy = OCSP_CERTID_dup(id)) == NULL)
		goto fail;
	if (OCSP_request_add0_id(req, copy) == NULL) {
		OCSP_CERTID_free(copy);
		goto fail;
	}
	/* A nonce proves the answer is fresh, if the responder echoes it;
	 * many that sign answers ahead of time do not (ocsp_response_judge). */
	if (OCSP_request_add1_nonce(req, NULL, -1) != 1)
		goto fail;
	return req;
 fail:
	OCSP_REQUEST_free(req);
	return NULL;
}

void
ocsp_answer_error(struct ocsp_answer *out, const char *why, time_t now)
{
	out->oa_status = OCSP_STATUS_ERROR;
	out->oa_until = now + OCSP_ERROR_TTL;
	out->oa_why = why;
}

/* An answer's GeneralizedTime as seconds since the epoch (0: unreadable). */
static time_t
ocsp_time(const ASN1_GENERALIZEDTIME *t)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

void
ocsp_response_judge(OCSP_RESPONSE *resp, OCSP_REQUEST *req, OCSP_CERTID *id,
    STACK_OF(X509) *chain, X509_STORE *store, time_t now, unsigned ttl,
    struct ocsp_answer *out)
{
	ASN1_GENERALIZEDTIME *this_upd, *next_upd;
	OCSP_BASICRESP *bs = NULL;
	int status, reason;
	time_t next;

	switch (OCSP_response_status(resp)) {
	case OCSP_RESPONSE_STATUS_SUCCESSFUL:
		break;
	case OCSP_RESPONSE_STATUS_UNAUTHORIZED:
		/* The usual answer of a responder that does not serve this CA. */
		ocsp_answer_error(out, "responder_unauthorized", now);
		goto done;
	default:
		ocsp_answer_error(out, "responder_error", now);
		goto done;
	}
	if ((bs = OCSP_response_get1_basic(resp)) == NULL) {
		ocsp_answer_error(out, "bad_response", now);
		goto done;
	}
	/* 1: echoed; 2: none asked nor given; -1: the responder gave none,
	 * which a responder with pre-signed answers may; 0: another nonce. */
	if (req != NULL && OCSP_check_nonce(req, bs) == 0) {
		ocsp_answer_error(out, "nonce_mismatch", now);
		goto done;
	}
	/* The signer must chain to the client CAs and be the issuer itself
	 * or a responder the issuer delegated to (OCSPSigning); the client's
	 * chain may provide the issuer. */
	if (OCSP_basic_verify(bs, chain, store, 0) <= 0) {
		ocsp_answer_error(out, "bad_signature", now);
		goto done;
	}
	if (OCSP_resp_find_status(bs, id, &status, &reason, NULL, &this_upd, &next_upd) != 1) {
		ocsp_answer_error(out, "no_status", now);
		goto done;
	}
	if (OCSP_check_validity(this_upd, next_upd, OCSP_SKEW, -1) != 1) {
		ocsp_answer_error(out, "stale", now);
		goto done;
	}
	switch (status) {
	case V_OCSP_CERTSTATUS_GOOD:
		out->oa_status = OCSP_STATUS_GOOD;
		out->oa_why = "good";
		break;
	case V_OCSP_CERTSTATUS_REVOKED:
		out->oa_status = OCSP_STATUS_REVOKED;
		out->oa_why = "revoked";
		break;
	default:
		out->oa_status = OCSP_STATUS_UNKNOWN;
		out->oa_why = "unknown";
		break;
	}
	/* Until the responder promises news (nextUpdate), and never longer
	 * than ttl: without nextUpdate, news may come at any time. */
	out->oa_until = now + ttl;
	if (next_upd != NULL && (next = ocsp_time(next_upd)) != 0 && next < out->oa_until)
		out->oa_until = next > now ? next : now;
 done:
	OCSP_BASICRESP_free(bs);
	ERR_clear_error();
}

struct ocsp_cache *
ocsp_cache_new(unsigned max)
{
	struct ocsp_cache *oc;
	size_t n;

	if ((oc = calloc(1, sizeof(*oc))) == NULL)
		return NULL;
	TAILQ_INIT(&oc->oc_lru);
	oc->oc_max = max;
	for (n = 1; n < max && n < OCSP_BUCKETS_MAX; n <<= 1)
		;
	if ((oc->oc_buckets = calloc(n, sizeof(*oc->oc_buckets))) == NULL) {
		free(oc);
		return NULL;
	}
	oc->oc_mask = n - 1;
	return oc;
}

void
ocsp_cache_free(struct ocsp_cache *oc)
{
	struct ocsp_entry *oe;

	if (oc == NULL)
		return;
	while ((oe = TAILQ_FIRST(&oc->oc_lru)) != NULL) {
		TAILQ_REMOVE(&oc->oc_lru, oe, oe_lru);
		free(oe);
	}
	free(oc->oc_buckets);
	free(oc);
}

int
ocsp_cache_key(const OCSP_CERTID *id, uint8_t key[32])
{
	unsigned char *der = NULL;
	int len, ok;

	if ((len = i2d_OCSP_CERTID((OCSP_CERTID *)id, &der)) <= 0)
		return -1;
	ok = EVP_Digest(der, len, key, NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	return ok == 1 ? 0 : -1;
}

static struct ocsp_entry **
ocsp_slot(struct ocsp_cache *oc, const uint8_t key[32])
{
	uint64_t h;

	memcpy(&h, key, sizeof(h));	/* a SHA-256 is hash enough */
	return &oc->oc_buckets[h & oc->oc_mask];
}

static struct ocsp_entry *
ocsp_find(struct ocsp_cache *oc, const uint8_t key[32])
{
	struct ocsp_entry *oe;

	for (oe = *ocsp_slot(oc, key); oe != NULL; oe = oe->oe_hnext)
		if (memcmp(oe->oe_key, key, sizeof(oe->oe_key)) == 0)
			break;
	return oe;
}

static void
ocsp_drop(struct ocsp_cache *oc, struct ocsp_entry *oe)
{
	struct ocsp_entry **pp;

	for (pp = ocsp_slot(oc, oe->oe_key); *pp != NULL; pp = &(*pp)->oe_hnext) {
		if (*pp == oe) {
			*pp = oe->oe_hnext;
			break;
		}
	}
	TAILQ_REMOVE(&oc->oc_lru, oe, oe_lru);
	oc->oc_count--;
	free(oe);
}

bool
ocsp_cache_get(struct ocsp_cache *oc, const uint8_t key[32], time_t now,
    struct ocsp_answer *out)
{
	struct ocsp_entry *oe;

	if (oc == NULL || (oe = ocsp_find(oc, key)) == NULL)
		return false;
	if (now >= oe->oe_answer.oa_until) {
		ocsp_drop(oc, oe);
		return false;
	}
	TAILQ_REMOVE(&oc->oc_lru, oe, oe_lru);
	TAILQ_INSERT_HEAD(&oc->oc_lru, oe, oe_lru);
	*out = oe->oe_answer;
	return true;
}

void
ocsp_cache_put(struct ocsp_cache *oc, const uint8_t key[32], const struct ocsp_answer *a)
{
	struct ocsp_entry *oe, **slot;

	if (oc == NULL)
		return;		/* no cache: OCSP switched on by a reload, out of memory */
	if ((oe = ocsp_find(oc, key)) != NULL) {
		oe->oe_answer = *a;
		TAILQ_REMOVE(&oc->oc_lru, oe, oe_lru);
		TAILQ_INSERT_HEAD(&oc->oc_lru, oe, oe_lru);
		return;
	}
	if (oc->oc_max == 0)
		return;
	if (oc->oc_count >= oc->oc_max)
		ocsp_drop(oc, TAILQ_LAST(&oc->oc_lru, ocsp_lru));
	if ((oe = calloc(1, sizeof(*oe))) == NULL)
		return;		/* not kept: asked again next time */
	memcpy(oe->oe_key, key, sizeof(oe->oe_key));
	oe->oe_answer = *a;
	slot = ocsp_slot(oc, key);
	oe->oe_hnext = *slot;
	*slot = oe;
	TAILQ_INSERT_HEAD(&oc->oc_lru, oe, oe_lru);
	oc->oc_count++;
}
