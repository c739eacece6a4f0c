/*
 * test_ocsp.c - OCSP for client certificates (ocsp.c, ocsp_query.c):
 * responder URLs, requests, how answers are judged (good, revoked,
 * unknown, out of date, signed by the wrong key, a responder without the
 * delegation, another nonce, unsuccessful, about another certificate),
 * the per-worker cache, and the non-blocking exchange against a small HTTP
 * server in this process.
 *
 * Answers are built here with OpenSSL's own OCSP_basic_sign.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "testcert.h"
#include "testpki.h"
#include "ocsp.h"
#include "ocsp_query.h"

static EVP_PKEY	*ca_key, *resp_key, *plain_key, *other_key, *leaf_key;
static X509	*ca, *responder, *plain, *other_ca, *leaf, *leaf2;
static X509_STORE *store;

static void
setup(void)
{
	static const char *const responder_exts[] = {
		"basicConstraints", "critical,CA:FALSE",
		"keyUsage", "critical,digitalSignature",
		"extendedKeyUsage", "OCSPSigning",
		"subjectKeyIdentifier", "hash",
		"authorityKeyIdentifier", "keyid",
		NULL
	};
	static const char *const aia_exts[] = {
		"basicConstraints", "critical,CA:FALSE",
		"extendedKeyUsage", "clientAuth",
		"authorityInfoAccess", "OCSP;URI:ldap://ldap.example.test/,"
		    "OCSP;URI:http://ocsp.example.test:8080/status",
		NULL
	};

	ca_key = pki_key();
	resp_key = pki_key();
	plain_key = pki_key();
	other_key = pki_key();
	leaf_key = pki_key();
	ca = pki_cert("Test CA", ca_key, NULL, NULL, 1, -86400, 86400 * 30, pki_ca_exts);
	other_ca = pki_cert("Other CA", other_key, NULL, NULL, 1, -86400, 86400 * 30, pki_ca_exts);
	responder = pki_cert("Test OCSP", resp_key, ca, ca_key, 2, -86400, 86400 * 30, responder_exts);
	/* a client certificate of the same CA: no OCSPSigning */
	plain = pki_cert("not a responder", plain_key, ca, ca_key, 3, -86400, 86400 * 30,
	    pki_client_exts);
	leaf = pki_cert("alice", leaf_key, ca, ca_key, 0x1001, -86400, 86400 * 30, aia_exts);
	leaf2 = pki_cert("bob", leaf_key, ca, ca_key, 0x1002, -86400, 86400 * 30, pki_client_exts);
	if ((store = X509_STORE_new()) == NULL || X509_STORE_add_cert(store, ca) != 1)
		fatal("store");
}

static OCSP_CERTID *
cert_id(X509 *x)
{
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, x, ca);

	if (id == NULL)
		fatal("OCSP_cert_to_id");
	return id;
}

/*
 * An answer about `about` (status, nextUpdate next_s from now, 0: none;
 * thisUpdate this_s from now), signed by signer/key, with signer's
 * certificate included; the nonce of req copied when req is given.
 */
static OCSP_RESPONSE *
answer(X509 *about, int status, long this_s, long next_s, X509 *signer, EVP_PKEY *key,
    OCSP_REQUEST *req)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_CERTID *id = cert_id(about);
	ASN1_TIME *thisupd = X509_gmtime_adj(NULL, this_s);
	ASN1_TIME *nextupd = next_s != 0 ? X509_gmtime_adj(NULL, next_s) : NULL;
	ASN1_TIME *revtime = X509_gmtime_adj(NULL, -3600);
	OCSP_RESPONSE *resp;

	if (bs == NULL || OCSP_basic_add1_status(bs, id, status,
	    status == V_OCSP_CERTSTATUS_REVOKED ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : -1,
	    status == V_OCSP_CERTSTATUS_REVOKED ? revtime : NULL, thisupd, nextupd) == NULL)
		fatal("OCSP_basic_add1_status");
	if (req != NULL && OCSP_copy_nonce(bs, req) != 1)
		fatal("OCSP_copy_nonce");
	if (OCSP_basic_sign(bs, signer, key, EVP_sha256(), NULL, 0) != 1)
		fatal("OCSP_basic_sign");
	if ((resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs)) == NULL)
		fatal("OCSP_response_create");
	OCSP_CERTID_free(id);
	ASN1_TIME_free(thisupd);
	ASN1_TIME_free(nextupd);
	ASN1_TIME_free(revtime);
	OCSP_BASICRESP_free(bs);
	return resp;
}

/* Judge resp (freed) about leaf, asked with req. */
static struct ocsp_answer
judge(OCSP_RESPONSE *resp, OCSP_REQUEST *req, unsigned ttl, time_t now)
{
	struct ocsp_answer a = { 0 };
	OCSP_CERTID *id = cert_id(leaf);

	ocsp_response_judge(resp, req, id, NULL, store, now, ttl, &a);
	OCSP_CERTID_free(id);
	OCSP_RESPONSE_free(resp);
	CHECK(ERR_peek_error() == 0);
	return a;
}

static void
test_urls(void)
{
	struct ocsp_conf oc;
	char *host, *port, *path, *url;

	CHECK(ocsp_url_split("http://ocsp.example.test:8080/a/b?x=1", &host, &port, &path) == 0);
	CHECK_STREQ(host, "ocsp.example.test");
	CHECK_STREQ(port, "8080");
	CHECK_STREQ(path, "/a/b?x=1");
	free(host); free(port); free(path);
	CHECK(ocsp_url_split("http://10.77.2.2", &host, &port, &path) == 0);
	CHECK_STREQ(host, "10.77.2.2");
	CHECK_STREQ(port, "80");
	CHECK_STREQ(path, "/");
	free(host); free(port); free(path);
	CHECK(ocsp_url_split("http://[::1]:8889/", &host, &port, &path) == 0);
	CHECK_STREQ(host, "::1");
	CHECK_STREQ(port, "8889");
	free(host); free(port); free(path);
	CHECK(ocsp_url_split("https://ocsp.example.test/", &host, &port, &path) == -1);
	CHECK(host == NULL && port == NULL && path == NULL);
	CHECK(ocsp_url_split("ocsp.example.test", &host, &port, &path) == -1);
	CHECK(ocsp_url_split("http://", &host, &port, &path) == -1);
	CHECK(ocsp_url_split("http://h:99999/", &host, &port, &path) == -1);
	CHECK(ERR_peek_error() == 0);

	ocsp_conf_init(&oc);
	CHECK(oc.oc_mode == OCSP_OFF && oc.oc_timeout == OCSP_TIMEOUT_DEFAULT &&
	    oc.oc_cache == OCSP_CACHE_DEFAULT && oc.oc_ttl == OCSP_TTL_DEFAULT);
	CHECK(ocsp_parse_mode(&oc, "hard") == 0 && oc.oc_mode == OCSP_HARD);
	CHECK(ocsp_parse_mode(&oc, "soft") == 0 && oc.oc_mode == OCSP_SOFT);
	CHECK(ocsp_parse_mode(&oc, "on") == -1 && oc.oc_mode == OCSP_SOFT);
	CHECK(ocsp_parse_responder(&oc, "https://x/") == -1 && oc.oc_responder == NULL);

	/* The AIA's first http URL (the ldap one is skipped); the override
	 * wins; without AIA there is none. */
	url = ocsp_responder_url(&oc, leaf);
	CHECK_STREQ(url, "http://ocsp.example.test:8080/status");
	free(url);
	CHECK(ocsp_responder_url(&oc, leaf2) == NULL);
	CHECK(ocsp_parse_responder(&oc, "http://127.0.0.1:8890/") == 0);
	url = ocsp_responder_url(&oc, leaf2);
	CHECK_STREQ(url, "http://127.0.0.1:8890/");
	free(url);
	url = ocsp_responder_url(&oc, leaf);
	CHECK_STREQ(url, "http://127.0.0.1:8890/");
	free(url);
}

static void
test_request(void)
{
	OCSP_CERTID *id = cert_id(leaf);
	OCSP_REQUEST *req = ocsp_request_new(id);
	OCSP_ONEREQ *one;

	CHECK(req != NULL);
	CHECK(OCSP_request_onereq_count(req) == 1);
	one = OCSP_request_onereq_get0(req, 0);
	CHECK(OCSP_id_cmp(OCSP_onereq_get0_id(one), id) == 0);
	CHECK(OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1) >= 0);
	OCSP_REQUEST_free(req);
	OCSP_CERTID_free(id);
}

static void
test_judge(void)
{
	time_t now = time(NULL);
	OCSP_CERTID *id = cert_id(leaf);
	OCSP_REQUEST *req = ocsp_request_new(id), *req2 = ocsp_request_new(id);
	struct ocsp_answer a;

	/* good, revoked, unknown, signed by the CA itself */
	a = judge(answer(leaf, V_OCSP_CERTSTATUS_GOOD, -60, 1800, ca, ca_key, req), req, 3600, now);
	CHECK(a.oa_status == OCSP_STATUS_GOOD);
	CHECK_STREQ(a.oa_why, "good");
	CHECK(a.oa_until >= now + 1795 && a.oa_until <= now + 1805);	/* nextUpdate */
	a = judge(answer(leaf, V_OCSP_CERTSTATUS_REVOKED, -60, 1800, ca, ca_key, req), req, 3600, now);
	CHECK(a.oa_status == OCSP_STATUS_REVOKED);
	CHECK_STREQ(a.oa_why, "revoked");
	a = judge(answer(leaf, V_OCSP_CERTSTATUS_UNKNOWN, -60, 1800, ca, ca_key, req), req, 3600, now);
	CHECK(a.oa_status == OCSP_STATUS_UNKNOWN);
	CHECK_STREQ(a.oa_why, "unknown");

	/* by a responder the CA delegated to (OCSPSigning), its certificate
	 * in the answer */
	a = judge(answer(leaf, V_OCSP_CERTSTATUS_GOOD, -60, 1800, responder, resp_key, req),
	    req, 3600, now);
	CHECK(a.oa_status == OCSP_STATUS_GOOD);
	a = judge(answer(leaf, V_OCSP_CERTSTATUS_REVOKED, -60, 1800, responder, resp_key, NULL),
	    req, 3600, now);
	CHECK(a.oa_status == OCSP_STATUS_REVOKED);	/* no nonce echoed: fine */

	/* kept at most ttl; without nextUpdate, ttl */
	a = judge(answer(leaf, V_OCSP_CERTSTATUS_GOOD, -60, 86400, ca, ca_key, req), req, 600, now);
	CHECK(a.oa_status == OCSP_STATUS_GOOD && a.oa_until == now + 600);
	a = judge(answer(leaf, V_OCSP_CERTSTATUS_GOOD, -60, 0, ca, ca_key, req), req, 600, now);
	CHECK(a.oa_status == OCSP_STATUS_GOOD && a.oa_until == now + 600);

	/* out of date: nextUpdate an hour ago; thisUpdate an hour ahead */
	a = judge(answer(leaf, V_OCSP_CERTSTATUS_GOOD, -7200, -3600, ca, ca_key, req), req, 3600, now);
	CHECK(a.oa_status == OCSP_STATUS_ERROR);
	CHECK_STREQ(a.oa_why, "stale");
	CHECK(a.oa_until == now + OCSP_ERROR_TTL);
	a = judge(answer(leaf, V_OCSP_CERTSTATUS_GOOD, 3600, 7200, ca, ca_key, req), req, 3600, now);
	CHECK(a.oa_status == OCSP_STATUS_ERROR);
	CHECK_STREQ(a.oa_why, "stale");
	/* within the allowed skew: fine */
	a = judge(answer(leaf, V_OCSP_CERTSTATUS_GOOD, 60, 1800, ca, ca_key, req), req, 3600, now);
	CHECK(a.oa_status == OCSP_STATUS_GOOD);

	/* signed by a CA that did not issue the certificate, by a key that
	 * is not the named signer's, by a certificate of the CA without
	 * OCSPSigning: none of them may speak for it */
	a = judge(answer(leaf, V_OCSP_CERTSTATUS_GOOD, -60, 1800, other_ca, other_key, req),
	    req, 3600, now);
	CHECK(a.oa_status == OCSP_STATUS_ERROR);
	CHECK_STREQ(a.oa_why, "bad_signature");
	{
		/* the CA's answer with one bit of its signature changed */
		OCSP_RESPONSE *r = answer(leaf, V_OCSP_CERTSTATUS_GOOD, -60, 1800, ca,
		    ca_key, req);
		OCSP_BASICRESP *bs = OCSP_response_get1_basic(r);
		ASN1_OCTET_STRING *sig;
		OCSP_RESPONSE *forged;

		if (bs == NULL || (sig = (ASN1_OCTET_STRING *)OCSP_resp_get0_signature(bs)) == NULL)
			fatal("signature");
		sig->data[sig->length - 1] ^= 1;
		if ((forged = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs)) == NULL)
			fatal("OCSP_response_create");
		OCSP_BASICRESP_free(bs);
		OCSP_RESPONSE_free(r);
		a = judge(forged, req, 3600, now);
		CHECK(a.oa_status == OCSP_STATUS_ERROR);
		CHECK_STREQ(a.oa_why, "bad_signature");
	}
	a = judge(answer(leaf, V_OCSP_CERTSTATUS_GOOD, -60, 1800, plain, plain_key, req),
	    req, 3600, now);
	CHECK(a.oa_status == OCSP_STATUS_ERROR);
	CHECK_STREQ(a.oa_why, "bad_signature");

	/* a replayed answer to another request */
	a = judge(answer(leaf, V_OCSP_CERTSTATUS_GOOD, -60, 1800, ca, ca_key, req2), req, 3600, now);
	CHECK(a.oa_status == OCSP_STATUS_ERROR);
	CHECK_STREQ(a.oa_why, "nonce_mismatch");

	/* about another certificate */
	a = judge(answer(leaf2, V_OCSP_CERTSTATUS_GOOD, -60, 1800, ca, ca_key, req), req, 3600, now);
	CHECK(a.oa_status == OCSP_STATUS_ERROR);
	CHECK_STREQ(a.oa_why, "no_status");

	/* not successful */
	a = judge(OCSP_response_create(OCSP_RESPONSE_STATUS_TRYLATER, NULL), req, 3600, now);
	CHECK(a.oa_status == OCSP_STATUS_ERROR);
	CHECK_STREQ(a.oa_why, "responder_error");
	a = judge(OCSP_response_create(OCSP_RESPONSE_STATUS_UNAUTHORIZED, NULL), req, 3600, now);
	CHECK(a.oa_status == OCSP_STATUS_ERROR);
	CHECK_STREQ(a.oa_why, "responder_unauthorized");

	OCSP_REQUEST_free(req);
	OCSP_REQUEST_free(req2);
	OCSP_CERTID_free(id);
}

static void
test_cache(void)
{
	struct ocsp_cache *oc = ocsp_cache_new(2);
	struct ocsp_answer good = { OCSP_STATUS_GOOD, 1000, "good" };
	struct ocsp_answer revoked = { OCSP_STATUS_REVOKED, 2000, "revoked" };
	struct ocsp_answer a;
	OCSP_CERTID *id1 = cert_id(leaf), *id2 = cert_id(leaf2), *id1b = cert_id(leaf);
	uint8_t k1[32], k2[32], k1b[32], k3[32];

	CHECK(oc != NULL);
	CHECK(ocsp_cache_key(id1, k1) == 0 && ocsp_cache_key(id2, k2) == 0 &&
	    ocsp_cache_key(id1b, k1b) == 0);
	CHECK(memcmp(k1, k1b, 32) == 0);	/* the same certificate */
	CHECK(memcmp(k1, k2, 32) != 0);		/* another serial */
	memset(k3, 0x33, sizeof(k3));

	CHECK(!ocsp_cache_get(oc, k1, 0, &a));
	ocsp_cache_put(oc, k1, &good);
	CHECK(ocsp_cache_get(oc, k1, 999, &a) && a.oa_status == OCSP_STATUS_GOOD &&
	    a.oa_until == 1000);
	CHECK(!ocsp_cache_get(oc, k1, 1000, &a));	/* lapsed, and gone */
	CHECK(!ocsp_cache_get(oc, k1, 0, &a));
	ocsp_cache_put(oc, k1, &good);
	ocsp_cache_put(oc, k1, &revoked);		/* replaced */
	CHECK(ocsp_cache_get(oc, k1, 0, &a) && a.oa_status == OCSP_STATUS_REVOKED);
	/* two at most: the least recently used goes */
	ocsp_cache_put(oc, k2, &good);
	CHECK(ocsp_cache_get(oc, k1, 0, &a));		/* k1 used: k2 is older */
	ocsp_cache_put(oc, k3, &good);
	CHECK(ocsp_cache_get(oc, k1, 0, &a));
	CHECK(!ocsp_cache_get(oc, k2, 0, &a));
	CHECK(ocsp_cache_get(oc, k3, 0, &a));
	ocsp_cache_free(oc);

	oc = ocsp_cache_new(0);				/* keeps nothing */
	ocsp_cache_put(oc, k1, &good);
	CHECK(!ocsp_cache_get(oc, k1, 0, &a));
	ocsp_cache_free(oc);

	ocsp_answer_error(&a, "timeout", 5000);
	CHECK(a.oa_status == OCSP_STATUS_ERROR && a.oa_until == 5000 + OCSP_ERROR_TTL);
	OCSP_CERTID_free(id1);
	OCSP_CERTID_free(id1b);
	OCSP_CERTID_free(id2);
}

/* ---- the exchange, against an HTTP server in a thread ---- */

struct server {
	int		 fd;
	int		 port;
	const char	*reply_head;	/* NULL: send the answer */
	unsigned char	*der;
	int		 der_len;
	char		 request[4096];
	size_t		 request_len;
};

static void *
server_main(void *arg)
{
	struct server *s = arg;
	char head[256];
	int c;
	ssize_t n;

	if ((c = accept(s->fd, NULL, NULL)) == -1)
		return NULL;
	/* the request head and its body (a short one: one read or a few) */
	while (s->request_len < sizeof(s->request) - 1) {
		char *end;

		n = read(c, s->request + s->request_len, sizeof(s->request) - 1 - s->request_len);
		if (n <= 0)
			break;
		s->request_len += n;
		s->request[s->request_len] = '\0';
		if ((end = strstr(s->request, "\r\n\r\n")) != NULL) {
			const char *cl = strcasestr(s->request, "Content-Length:");
			size_t want = cl != NULL ? strtoul(cl + 15, NULL, 10) : 0;

			if (s->request_len - (end + 4 - s->request) >= want)
				break;
		}
	}
	if (s->reply_head != NULL) {
		(void)!write(c, s->reply_head, strlen(s->reply_head));
	} else {
		snprintf(head, sizeof(head), "HTTP/1.0 200 OK\r\nContent-Type: "
		    "application/ocsp-response\r\nContent-Length: %d\r\n\r\n", s->der_len);
		(void)!write(c, head, strlen(head));
		(void)!write(c, s->der, s->der_len);
	}
	close(c);
	return NULL;
}

static int
listen_local(int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 4) == -1 || getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		fatal("listen");
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Step q as its caller would, with poll(2), for at most 12 s (a resolver
 * without network may take two 5 s timeouts to say no). */
static enum ocsp_wait
drive(struct ocsp_query *q)
{
	enum ocsp_wait w = ocsp_query_step(q);

	for (int i = 0; i < 1200 && w != OCSP_WAIT_DONE; i++) {
		struct pollfd pfd = { ocsp_query_fd(q), w == OCSP_WAIT_READ ? POLLIN : POLLOUT, 0 };

		poll(&pfd, 1, 10);
		w = ocsp_query_step(q);
	}
	return w;
}

static void
test_query(const char *host)
{
	OCSP_CERTID *id = cert_id(leaf);
	OCSP_REQUEST *req = ocsp_request_new(id);
	struct server s = { 0 };
	struct ocsp_query *q;
	struct ocsp_answer a;
	OCSP_RESPONSE *resp, *sent;
	pthread_t t;
	const char *why;
	char url[128];

	/* a good answer, through the whole exchange */
	sent = answer(leaf, V_OCSP_CERTSTATUS_GOOD, -60, 1800, responder, resp_key, req);
	s.der_len = i2d_OCSP_RESPONSE(sent, &s.der);
	s.fd = listen_local(&s.port);
	pthread_create(&t, NULL, server_main, &s);
	snprintf(url, sizeof(url), "http://%s:%d/ocsp", host, s.port);
	q = ocsp_query_new(url, req);
	CHECK(drive(q) == OCSP_WAIT_DONE);
	pthread_join(t, NULL);
	resp = ocsp_query_response(q, &why);
	CHECK(resp != NULL);
	if (resp != NULL) {
		ocsp_response_judge(resp, req, id, NULL, store, time(NULL), 3600, &a);
		CHECK(a.oa_status == OCSP_STATUS_GOOD);
	}
	CHECK(strncmp(s.request, "POST /ocsp HTTP/1.", 18) == 0);
	CHECK(strcasestr(s.request, "Content-Type: application/ocsp-request") != NULL);
	{
		char hosthdr[64];

		snprintf(hosthdr, sizeof(hosthdr), "Host: %s:%d", host, s.port);
		CHECK(strstr(s.request, hosthdr) != NULL);
	}
	ocsp_query_free(q);
	OCSP_RESPONSE_free(sent);
	OPENSSL_free(s.der);
	close(s.fd);

	/* an HTTP error */
	memset(&s, 0, sizeof(s));
	s.reply_head = "HTTP/1.0 500 Oops\r\nContent-Length: 0\r\n\r\n";
	s.fd = listen_local(&s.port);
	pthread_create(&t, NULL, server_main, &s);
	snprintf(url, sizeof(url), "http://%s:%d/", host, s.port);
	q = ocsp_query_new(url, req);
	CHECK(drive(q) == OCSP_WAIT_DONE);
	pthread_join(t, NULL);
	CHECK(ocsp_query_response(q, &why) == NULL);
	CHECK_STREQ(why, "http_failed");
	ocsp_query_free(q);
	close(s.fd);

	/* nobody listening */
	s.fd = listen_local(&s.port);
	close(s.fd);
	snprintf(url, sizeof(url), "http://%s:%d/", host, s.port);
	q = ocsp_query_new(url, req);
	CHECK(drive(q) == OCSP_WAIT_DONE);
	CHECK(ocsp_query_response(q, &why) == NULL);
	CHECK_STREQ(why, "connect_failed");
	ocsp_query_free(q);

	OCSP_REQUEST_free(req);
	OCSP_CERTID_free(id);
	CHECK(ERR_peek_error() == 0);
}

static void
test_query_errors(void)
{
	OCSP_CERTID *id = cert_id(leaf);
	OCSP_REQUEST *req = ocsp_request_new(id);
	struct ocsp_query *q;
	const char *why;

	q = ocsp_query_new("ftp://x/", req);
	CHECK(ocsp_query_step(q) == OCSP_WAIT_DONE);
	CHECK(ocsp_query_response(q, &why) == NULL);
	CHECK_STREQ(why, "bad_url");
	ocsp_query_free(q);
	/* .invalid never resolves (RFC 6761) */
	q = ocsp_query_new("http://ocsp.invalid/", req);
	CHECK(drive(q) == OCSP_WAIT_DONE);
	CHECK(ocsp_query_response(q, &why) == NULL);
	CHECK_STREQ(why, "dns_failed");
	ocsp_query_free(q);
	/* a query given up while its lookup runs */
	q = ocsp_query_new("http://ocsp.invalid/", req);
	ocsp_query_step(q);
	ocsp_query_free(q);
	OCSP_REQUEST_free(req);
	OCSP_CERTID_free(id);
}

int
main(void)
{
	(void)san_add;
	setup();
	test_urls();
	test_request();
	test_judge();
	test_cache();
	test_query("127.0.0.1");
	test_query("localhost");	/* looked up with getaddrinfo_a */
	test_query_errors();
	usleep(200 * 1000);	/* the abandoned lookup's notification */
	return CHECK_DONE();
}
