/*
 * ocsp_query.c - a non-blocking OCSP exchange (see ocsp_query.h).
 *
 * Name resolution is the one step the C library only offers blocking or
 * in its own threads: getaddrinfo_a() looks the name up in a thread of
 * glibc's, whose notification writes an eventfd the worker polls.  The
 * lookup may outlive the query that asked (a connection that gave up), so
 * what both share is counted and freed by whichever lets go last.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/http.h>

#include "ocsp.h"
#include "ocsp_query.h"

enum ocsp_query_state {
	OQ_START = 0,
	OQ_RESOLVING,
	OQ_CONNECTING,
	OQ_EXCHANGE,
	OQ_DONE,
};

/* A name lookup, shared by the query and glibc's notification thread. */
struct ocsp_dns {
	struct gaicb		 od_cb;
	struct gaicb		*od_list[1];
	struct addrinfo		 od_hints;
	struct sigevent		 od_sev;
	int			 od_efd;
	atomic_int		 od_refs;
	char			*od_host;
	char			*od_port;
};

struct ocsp_query {
	enum ocsp_query_state	 oq_state;
	char			*oq_host;
	char			*oq_port;
	char			*oq_path;
	OCSP_REQUEST		*oq_req;	/* the caller's */
	struct ocsp_dns		*oq_dns;
	struct addrinfo		*oq_ai;		/* addresses to try */
	struct addrinfo		*oq_next;	/* the next to try */
	int			 oq_fd;
	BIO			*oq_bio;
	OSSL_HTTP_REQ_CTX	*oq_http;
	OCSP_RESPONSE		*oq_resp;
	const char		*oq_why;
	const struct intercept_conf *oq_steering;	/* NULL: connect as is */
};

static enum ocsp_wait	 ocsp_query_fail(struct ocsp_query *, const char *);
static enum ocsp_wait	 ocsp_query_start(struct ocsp_query *);
static enum ocsp_wait	 ocsp_query_resolved(struct ocsp_query *);
static enum ocsp_wait	 ocsp_query_connect(struct ocsp_query *);
static enum ocsp_wait	 ocsp_query_connected(struct ocsp_query *);
static enum ocsp_wait	 ocsp_query_exchange(struct ocsp_query *);
static void		 ocsp_query_close(struct ocsp_query *);
static struct ocsp_dns	*ocsp_dns_start(const char *, const char *);
static void		 ocsp_dns_notify(union sigval);
static void		 ocsp_dns_unref(struct ocsp_dns *);

struct ocsp_query *
ocsp_query_new(const char *url, OCSP_REQUEST *req)
{
	struct ocsp_query *q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->oq_fd = -1;
	q->oq_req = req;
	if (ocsp_url_split(url, &q->oq_host, &q->oq_port, &q->oq_path) == -1)
		ocsp_query_fail(q, "bad_url");
	return q;
}

void
ocsp_query_steering(struct ocsp_query *q, const struct intercept_conf *ic)
{
	q->oq_steering = ic;
}

int
ocsp_query_fd(const struct ocsp_query *q)
{
	return q->oq_state == OQ_RESOLVING ? q->oq_dns->od_efd : q->oq_fd;
}

OCSP_RESPONSE *
ocsp_query_response(struct ocsp_query *q, const char **why)
{
	*why = q->oq_why;
	return q->oq_resp;
}

static enum ocsp_wait
ocsp_query_fail(struct ocsp_query *q, const char *why)
{
	ERR_clear_error();
	ocsp_query_close(q);
	q->oq_why = why;
	q->oq_state = OQ_DONE;
	return OCSP_WAIT_DONE;
}

enum ocsp_wait
ocsp_query_step(struct ocsp_query *q)
{
	switch (q->oq_state) {
	case OQ_START:
		return ocsp_query_start(q);
	case OQ_RESOLVING:
		return ocsp_query_resolved(q);
	case OQ_CONNECTING:
		return ocsp_query_connected(q);
	case OQ_EXCHANGE:
		return ocsp_query_exchange(q);
	case OQ_DONE:
		break;
	}
	return OCSP_WAIT_DONE;
}

/* An address in the URL needs no lookup; a name is looked up aside. */
static enum ocsp_wait
ocsp_query_start(struct ocsp_query *q)
{
	struct addrinfo hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(q->oq_host, q->oq_port, &hints, &q->oq_ai) == 0) {
		q->oq_next = q->oq_ai;
		return ocsp_query_connect(q);
	}
	q->oq_ai = NULL;
	if ((q->oq_dns = ocsp_dns_start(q->oq_host, q->oq_port)) == NULL)
		return ocsp_query_fail(q, "dns_failed");
	q->oq_state = OQ_RESOLVING;
	return OCSP_WAIT_READ;
}

static enum ocsp_wait
ocsp_query_resolved(struct ocsp_query *q)
{
	struct ocsp_dns *d = q->oq_dns;
	uint64_t n;

	if (read(d->od_efd, &n, sizeof(n)) == -1 && errno == EAGAIN)
		return OCSP_WAIT_READ;
	if (gai_error(&d->od_cb) == EAI_INPROGRESS)
		return OCSP_WAIT_READ;
	if (gai_error(&d->od_cb) != 0 || d->od_cb.ar_result == NULL)
		return ocsp_query_fail(q, "dns_failed");
	/* The lookup is over: its notification has run or runs without
	 * touching the result, which is ours now. */
	q->oq_ai = d->od_cb.ar_result;
	d->od_cb.ar_result = NULL;
	ocsp_dns_unref(d);
	q->oq_dns = NULL;
	q->oq_next = q->oq_ai;
	return ocsp_query_connect(q);
}

/* Connect to the next address; one that refuses passes to the one after. */
static enum ocsp_wait
ocsp_query_connect(struct ocsp_query *q)
{
	struct addrinfo *ai;

	while ((ai = q->oq_next) != NULL) {
		q->oq_next = ai->ai_next;
		if (ai->ai_socktype != SOCK_STREAM)
			continue;
		q->oq_fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (q->oq_fd == -1)
			continue;
		if (q->oq_steering != NULL &&
		    intercept_bind_egress(q->oq_steering, q->oq_fd, ai->ai_addr) == -1) {
			close(q->oq_fd);
			q->oq_fd = -1;
			continue;
		}
		if (connect(q->oq_fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			q->oq_state = OQ_EXCHANGE;
			return ocsp_query_exchange(q);
		}
		if (errno == EINPROGRESS) {
			q->oq_state = OQ_CONNECTING;
			return OCSP_WAIT_WRITE;
		}
		close(q->oq_fd);
		q->oq_fd = -1;
	}
	return ocsp_query_fail(q, "connect_failed");
}

static enum ocsp_wait
ocsp_query_connected(struct ocsp_query *q)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(q->oq_fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return OCSP_WAIT_WRITE;
	if (err != 0) {
		close(q->oq_fd);
		q->oq_fd = -1;
		return ocsp_query_connect(q);
	}
	q->oq_state = OQ_EXCHANGE;
	return ocsp_query_exchange(q);
}

/* POST the request and read the answer with OpenSSL's HTTP client, which
 * says whether it waits to read or to write. */
static enum ocsp_wait
ocsp_query_exchange(struct ocsp_query *q)
{
	char hostport[300];
	int r;

	if (q->oq_http == NULL) {
		snprintf(hostport, sizeof(hostport), strchr(q->oq_host, ':') != NULL ?
		    "[%s]:%s" : "%s:%s", q->oq_host, q->oq_port);
		if ((q->oq_bio = BIO_new_socket(q->oq_fd, BIO_NOCLOSE)) == NULL ||
		    (q->oq_http = OSSL_HTTP_REQ_CTX_new(q->oq_bio, q->oq_bio, 0)) == NULL ||
		    OSSL_HTTP_REQ_CTX_set_request_line(q->oq_http, 1, NULL, NULL, q->oq_path) != 1 ||
		    OSSL_HTTP_REQ_CTX_add1_header(q->oq_http, "Host", hostport) != 1 ||
		    OSSL_HTTP_REQ_CTX_set_expected(q->oq_http, NULL, 1, 0, 0) != 1 ||
		    OSSL_HTTP_REQ_CTX_set1_req(q->oq_http, "application/ocsp-request",
		    ASN1_ITEM_rptr(OCSP_REQUEST), (const ASN1_VALUE *)q->oq_req) != 1)
			return ocsp_query_fail(q, "out_of_memory");
		OSSL_HTTP_REQ_CTX_set_max_response_length(q->oq_http, OCSP_RESPONSE_MAX);
	}
	r = OSSL_HTTP_REQ_CTX_nbio_d2i(q->oq_http, (ASN1_VALUE **)&q->oq_resp,
	    ASN1_ITEM_rptr(OCSP_RESPONSE));
	if (r == 1 && q->oq_resp != NULL) {
		ocsp_query_close(q);
		q->oq_state = OQ_DONE;
		return OCSP_WAIT_DONE;
	}
	if (r == -1 && BIO_should_read(q->oq_bio))
		return OCSP_WAIT_READ;
	if (r == -1 && BIO_should_write(q->oq_bio))
		return OCSP_WAIT_WRITE;
	/* Refused, cut off, not HTTP 200, too long, or not an OCSPResponse. */
	return ocsp_query_fail(q, "http_failed");
}

static void
ocsp_query_close(struct ocsp_query *q)
{
	OSSL_HTTP_REQ_CTX_free(q->oq_http);
	q->oq_http = NULL;
	BIO_free(q->oq_bio);
	q->oq_bio = NULL;
	if (q->oq_fd >= 0)
		close(q->oq_fd);
	q->oq_fd = -1;
	if (q->oq_dns != NULL)
		ocsp_dns_unref(q->oq_dns);
	q->oq_dns = NULL;
}

void
ocsp_query_free(struct ocsp_query *q)
{
	if (q == NULL)
		return;
	ocsp_query_close(q);
	if (q->oq_ai != NULL)
		freeaddrinfo(q->oq_ai);
	OCSP_RESPONSE_free(q->oq_resp);
	free(q->oq_host);
	free(q->oq_port);
	free(q->oq_path);
	free(q);
}

static struct ocsp_dns *
ocsp_dns_start(const char *host, const char *port)
{
	struct ocsp_dns *d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->od_efd = -1;
	if ((d->od_host = strdup(host)) == NULL || (d->od_port = strdup(port)) == NULL ||
	    (d->od_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		goto fail;
	d->od_hints.ai_socktype = SOCK_STREAM;
	d->od_hints.ai_flags = AI_NUMERICSERV;
	d->od_cb.ar_name = d->od_host;
	d->od_cb.ar_service = d->od_port;
	d->od_cb.ar_request = &d->od_hints;
	d->od_list[0] = &d->od_cb;
	d->od_sev.sigev_notify = SIGEV_THREAD;
	d->od_sev.sigev_notify_function = ocsp_dns_notify;
	d->od_sev.sigev_value.sival_ptr = d;
	atomic_init(&d->od_refs, 2);	/* the query's and the notification's */
	if (getaddrinfo_a(GAI_NOWAIT, d->od_list, 1, &d->od_sev) != 0)
		goto fail;
	return d;
 fail:
	if (d->od_efd >= 0)
		close(d->od_efd);
	free(d->od_host);
	free(d->od_port);
	free(d);
	return NULL;
}

/* In a thread of glibc's: wake the worker, let go. */
static void
ocsp_dns_notify(union sigval sv)
{
	struct ocsp_dns *d = sv.sival_ptr;
	uint64_t one = 1;

	if (write(d->od_efd, &one, sizeof(one)) == -1) {
		/* the counter cannot overflow from one lookup */
	}
	ocsp_dns_unref(d);
}

static void
ocsp_dns_unref(struct ocsp_dns *d)
{
	if (atomic_fetch_sub(&d->od_refs, 1) != 1)
		return;
	close(d->od_efd);
	if (d->od_cb.ar_result != NULL)
		freeaddrinfo(d->od_cb.ar_result);
	free(d->od_host);
	free(d->od_port);
	free(d);
}
