/*
 * test_http1.c - the request rewriter and the response tracker.
 *
 * The request direction is checked for what it forwards byte for byte, and
 * every case that drives it is also driven split at every byte and with
 * small output buffers: a parser that answers differently depending on how
 * TCP cut the stream is a smuggling bug in waiting.
 */
#include <stdlib.h>
#include <string.h>

#include "http1.h"
#include "check.h"

#define INJECT	"X-Forwarded-Client-Cert: Hash=good\r\n" \
		"X-Amzn-Mtls-Clientcert-Subject: CN=good\r\n"

struct run {
	char	*out;		/* everything forwarded, NUL-terminated */
	size_t	 outlen;
	size_t	 consumed;
	int	 rc;		/* 0, or -1 when the rewriter refused */
};

static void
run_free(struct run *r)
{
	free(r->out);
	r->out = NULL;
}

/*
 * Drive the rewriter the way a relay does: input arrives `step` bytes at a
 * time and stays buffered until consumed, the output buffer holds `cap`
 * bytes and is drained after every call.
 */
static struct run
drive(struct http1 *h, const char *in, size_t len, size_t step, size_t cap)
{
	struct run r = { .out = malloc(1), .outlen = 0, .consumed = 0, .rc = 0 };
	uint8_t *ob = malloc(cap ? cap : 1);
	size_t given = step < len ? step : len;
	bool sane = true;	/* consumed <= given, outlen <= cap, -1 empty */

	for (;;) {
		size_t ol = 0;
		ssize_t n = http1_req_rewrite(h, (const uint8_t *)in + r.consumed,
		    given - r.consumed, ob, cap, &ol);

		if (n < 0) {
			sane = sane && ol == 0;
			r.rc = -1;
			break;
		}
		sane = sane && (size_t)n <= given - r.consumed && ol <= cap;
		r.out = realloc(r.out, r.outlen + ol + 1);
		memcpy(r.out + r.outlen, ob, ol);
		r.outlen += ol;
		r.consumed += (size_t)n;
		if (n == 0 && ol == 0) {
			if (given == len)
				break;
			given = given + step < len ? given + step : len;
		}
	}
	r.out[r.outlen] = '\0';
	free(ob);
	CHECK(sane);
	return r;
}

static struct run
drive_new(struct http1 *h, const char *in, size_t step, size_t cap)
{
	http1_init(h, INJECT, strlen(INJECT));
	return drive(h, in, strlen(in), step, cap);
}

static size_t
count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* ------------------------------------------------------------ requests */

static void
test_simple_get(void)
{
	struct http1 h;
	struct run r = drive_new(&h,
	    "GET /x?a=b HTTP/1.1\r\n"
	    "Host: api.example\r\n"
	    "X-Forwarded-Client-Cert: By=evil\r\n"
	    "x-amzn-mtls-clientcert-subject: CN=admin\r\n"
	    "Accept: */*\r\n"
	    "client-cert: :ZXZpbA==:\r\n"
	    "CLIENT-Cert-Chain: :ZXZpbA==:\r\n"
	    "X-AMZN-MTLS-CLIENTCERT-LEAF: x\r\n"
	    "User-Agent: t\r\n"
	    "\r\n", 1 << 20, 1 << 16);

	CHECK(r.rc == 0);
	CHECK_STREQ(r.out,
	    "GET /x?a=b HTTP/1.1\r\n"
	    "Host: api.example\r\n"
	    "Accept: */*\r\n"
	    "User-Agent: t\r\n"
	    INJECT
	    "\r\n");
	CHECK(count_of(r.out, "X-Forwarded-Client-Cert") == 1);
	CHECK(count_of(r.out, "evil") == 0);
	CHECK(h.h_requests == 1);
	CHECK(h.h_stripped == 5);
	CHECK(http1_outstanding(&h) == 1);
	CHECK(http1_req_passthrough(&h) == 0);
	CHECK(http1_resp_idle(&h));
	run_free(&r);
	http1_reset(&h);
}

static void
test_empty_inject(void)
{
	struct http1 h;
	struct run r;
	const char *in = "GET / HTTP/1.0\r\nClient-Cert: x\r\n\r\n";

	http1_init(&h, NULL, 0);
	r = drive(&h, in, strlen(in), 1 << 20, 4096);
	CHECK(r.rc == 0);
	CHECK_STREQ(r.out, "GET / HTTP/1.0\r\n\r\n");
	run_free(&r);
	http1_reset(&h);
}

static void
test_pipelined(void)
{
	struct http1 h;
	struct run r = drive_new(&h,
	    "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
	    "HEAD /2 HTTP/1.1\r\nHost: a\r\nclient-cert: x\r\n\r\n"
	    "GET /3 HTTP/1.1\r\nHost: a\r\n\r\n", 1 << 20, 1 << 16);

	CHECK(r.rc == 0);
	CHECK_STREQ(r.out,
	    "GET /1 HTTP/1.1\r\nHost: a\r\n" INJECT "\r\n"
	    "HEAD /2 HTTP/1.1\r\nHost: a\r\n" INJECT "\r\n"
	    "GET /3 HTTP/1.1\r\nHost: a\r\n" INJECT "\r\n");
	CHECK(h.h_requests == 3);
	CHECK(h.h_stripped == 1);
	CHECK(http1_outstanding(&h) == 3);
	CHECK(h.h_pipe[(h.h_pipe_head + 1) % HTTP1_MAX_PIPELINE] == HTTP1_PIPE_HEAD);
	run_free(&r);
	http1_reset(&h);
}

static void
test_cl_body(void)
{
	struct http1 h;
	struct run r;
	/* the body looks like a request with a spoofed header, and holds a
	 * NUL and CTLs: it must pass as data, and the real next request be
	 * rewritten */
	static const char in[] =
	    "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\n\r\n"
	    "GET / HTTP/1.1\r\nClient-Cert: body\r\n\r\n\0\r\n\x01\xff"
	    "GET /n HTTP/1.1\r\nContent-Length: 005, 5\r\ncontent-length: 5\r\n\r\nabcde"
	    "GET /z HTTP/1.1\r\n\r\n";
	static const char want[] =
	    "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\n" INJECT "\r\n"
	    "GET / HTTP/1.1\r\nClient-Cert: body\r\n\r\n\0\r\n\x01\xff"
	    "GET /n HTTP/1.1\r\nContent-Length: 005, 5\r\ncontent-length: 5\r\n" INJECT "\r\nabcde"
	    "GET /z HTTP/1.1\r\n" INJECT "\r\n";

	http1_init(&h, INJECT, strlen(INJECT));
	r = drive(&h, in, sizeof(in) - 1, 1 << 20, 1 << 16);
	CHECK(r.rc == 0);
	CHECK(r.outlen == sizeof(want) - 1 && memcmp(r.out, want, r.outlen) == 0);
	CHECK(h.h_requests == 3);
	CHECK(h.h_stripped == 0);
	run_free(&r);
	http1_reset(&h);
}

static void
test_chunked(void)
{
	struct http1 h;
	struct run r = drive_new(&h,
	    "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  Chunked \r\n\r\n"
	    "5;name=\"quoted; \\\" value\";x\r\nhello\r\n"
	    "A \t;ext\r\n0123456789\r\n"
	    "00000000000000F\r\n0123456789abcde\r\n"
	    "0;last\r\n"
	    "X-Checksum: 1\r\n"
	    "x-forwarded-client-cert: By=evil\r\n"
	    "X-Amzn-Mtls-Foo: evil\r\n"
	    "Trailer-Two: ok\r\n"
	    "\r\n"
	    "GET /after HTTP/1.1\r\n\r\n", 1 << 20, 1 << 16);

	CHECK(r.rc == 0);
	CHECK_STREQ(r.out,
	    "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  Chunked \r\n" INJECT "\r\n"
	    "5;name=\"quoted; \\\" value\";x\r\nhello\r\n"
	    "A \t;ext\r\n0123456789\r\n"
	    "00000000000000F\r\n0123456789abcde\r\n"
	    "0;last\r\n"
	    "X-Checksum: 1\r\n"
	    "Trailer-Two: ok\r\n"
	    "\r\n"
	    "GET /after HTTP/1.1\r\n" INJECT "\r\n");
	CHECK(h.h_requests == 2);
	CHECK(h.h_stripped == 2);
	CHECK(count_of(r.out, "evil") == 0);
	run_free(&r);
	http1_reset(&h);

	/* the largest Content-Length we take, 2^62 */
	r = drive_new(&h, "POST / HTTP/1.1\r\nContent-Length: 4611686018427387904\r\n\r\nab",
	    1 << 20, 4096);
	CHECK(r.rc == 0);
	CHECK(http1_req_passthrough(&h) == (UINT64_C(1) << 62) - 2);
	run_free(&r);
	http1_reset(&h);

	/* the shortest chunked body */
	r = drive_new(&h, "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	    1 << 20, 4096);
	CHECK(r.rc == 0);
	CHECK(h.h_req_state == 0 && r.consumed == strlen(r.out) - strlen(INJECT));
	run_free(&r);
	http1_reset(&h);
}

struct bad {
	const char	*in;
	size_t		 len;		/* inputs may hold a NUL */
	enum http1_error err;
};

#define BAD(s, e)	{ s, sizeof(s) - 1, e }

static const struct bad bad_requests[] = {
	/* request line */
	BAD("GET /\r\n\r\n", HTTP1_ERR_REQUEST_LINE),
	BAD("GET  / HTTP/1.1\r\n\r\n", HTTP1_ERR_REQUEST_LINE),
	BAD("GET / HTTP/1.1 \r\n\r\n", HTTP1_ERR_REQUEST_LINE),
	BAD("GET /a b HTTP/1.1\r\n\r\n", HTTP1_ERR_REQUEST_LINE),
	BAD(" GET / HTTP/1.1\r\n\r\n", HTTP1_ERR_REQUEST_LINE),
	BAD("GET\t/ HTTP/1.1\r\n\r\n", HTTP1_ERR_REQUEST_LINE),
	BAD("G(T / HTTP/1.1\r\n\r\n", HTTP1_ERR_REQUEST_LINE),
	BAD("GET /\t HTTP/1.1\r\n\r\n", HTTP1_ERR_REQUEST_LINE),
	BAD("GET / http/1.1\r\n\r\n", HTTP1_ERR_REQUEST_LINE),
	BAD("GET / HTTP/1.10\r\n\r\n", HTTP1_ERR_REQUEST_LINE),
	BAD("GET / HTTP/2.0\r\n\r\n", HTTP1_ERR_VERSION),
	BAD("GET / HTTP/1.2\r\n\r\n", HTTP1_ERR_VERSION),
	BAD("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HTTP1_ERR_VERSION),
	BAD("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", HTTP1_ERR_METHOD),
	BAD("connect a:443 HTTP/1.1\r\n\r\n", HTTP1_ERR_METHOD),
	/* line endings and bytes */
	BAD("GET / HTTP/1.1\nHost: a\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\r\nHost: a\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\r\nHost: a\r\n\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\rHost: a\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET /\x01 HTTP/1.1\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("\nGET / HTTP/1.1\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("\r\rGET / HTTP/1.1\r\n\r\n", HTTP1_ERR_HEADER),
	/* fields */
	BAD("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\r\n Host: a\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\r\nHost : a\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\r\n: a\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\r\nno colon\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\r\nNoColon\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\r\nA\"b: c\r\n\r\n", HTTP1_ERR_HEADER),
	BAD("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", HTTP1_ERR_HEADER),
	/* Content-Length */
	BAD("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", HTTP1_ERR_CONTENT_LENGTH),
	BAD("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", HTTP1_ERR_CONTENT_LENGTH),
	BAD("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", HTTP1_ERR_CONTENT_LENGTH),
	BAD("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", HTTP1_ERR_CONTENT_LENGTH),
	BAD("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", HTTP1_ERR_CONTENT_LENGTH),
	BAD("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", HTTP1_ERR_CONTENT_LENGTH),
	BAD("POST / HTTP/1.1\r\nContent-Length: 5,,5\r\n\r\n", HTTP1_ERR_CONTENT_LENGTH),
	BAD("POST / HTTP/1.1\r\nContent-Length: 5,\r\n\r\n", HTTP1_ERR_CONTENT_LENGTH),
	BAD("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", HTTP1_ERR_CONTENT_LENGTH),
	BAD("POST / HTTP/1.1\r\nContent-Length: 4611686018427387905\r\n\r\n", HTTP1_ERR_CONTENT_LENGTH),
	BAD("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", HTTP1_ERR_CONTENT_LENGTH),
	/* Transfer-Encoding */
	BAD("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP1_ERR_CL_TE),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", HTTP1_ERR_CL_TE),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", HTTP1_ERR_TRANSFER_ENCODING),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", HTTP1_ERR_TRANSFER_ENCODING),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP1_ERR_TRANSFER_ENCODING),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", HTTP1_ERR_TRANSFER_ENCODING),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", HTTP1_ERR_TRANSFER_ENCODING),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", HTTP1_ERR_TRANSFER_ENCODING),
	BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP1_ERR_TRANSFER_ENCODING),
	/* chunk framing */
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\rhello\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a\x01\r\nhello\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n folded: x\r\n\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: b\n\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n", HTTP1_ERR_CHUNK),
	BAD("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nHost: b\r\n\r\n", HTTP1_ERR_CHUNK),
};

static void
test_errors(void)
{
	for (size_t i = 0; i < sizeof(bad_requests) / sizeof(bad_requests[0]); i++) {
		const struct bad *b = &bad_requests[i];
		size_t len = b->len;

		/* one shot, byte by byte, and every other step in between
		 * must agree on the error class */
		for (size_t step = 1; step <= len; step++) {
			struct http1 h;
			struct run r;

			http1_init(&h, INJECT, strlen(INJECT));
			r = drive(&h, b->in, len, step, 1 << 16);
			if (r.rc != -1 || h.h_error != b->err) {
				fprintf(stderr, "case %zu step %zu: rc %d error %s, want %s\n",
				    i, step, r.rc, http1_error_str(h.h_error),
				    http1_error_str(b->err));
				CHECK(r.rc == -1 && h.h_error == b->err);
				run_free(&r);
				http1_reset(&h);
				break;
			}
			if (step == len) {
				CHECK(r.rc == -1);
				CHECK(h.h_error == b->err);
			}
			/* refused for good */
			{
				uint8_t ob[64];
				size_t ol = 1;

				CHECK(http1_req_rewrite(&h, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n",
				    18, ob, sizeof(ob), &ol) == -1 || step != len);
			}
			run_free(&r);
			http1_reset(&h);
		}
	}
}

/* Limits that are too long to spell out in the table above. */
static void
test_long_errors(void)
{
	struct http1 h;
	char in[8192];
	const char *pre = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;";
	size_t pl = strlen(pre);
	struct run r;

	/* a chunk-size line with 4 KiB of extensions */
	memcpy(in, pre, pl);
	memset(in + pl, 'e', sizeof(in) - pl - 1);
	in[sizeof(in) - 1] = '\0';
	http1_init(&h, "", 0);
	r = drive(&h, in, sizeof(in) - 1, 1000, 4096);
	CHECK(r.rc == -1 && h.h_error == HTTP1_ERR_CHUNK);
	/* forwarded up to the limit, not beyond */
	CHECK(r.outlen < pl + 4096 + 1);
	run_free(&r);
	http1_reset(&h);

	/* 15 hex digits are the most a chunk size may have */
	http1_init(&h, "", 0);
	r = drive(&h, "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000001\r\n",
	    64, 1, 4096);
	CHECK(r.rc == -1 && h.h_error == HTTP1_ERR_CHUNK);
	run_free(&r);
	http1_reset(&h);
}

static void
test_error_after_progress(void)
{
	struct http1 h;
	const char *in = "GET /ok HTTP/1.1\r\n\r\nGET /bad HTTP/1.1\r\nA : b\r\n\r\n";
	uint8_t out[4096];
	size_t ol = 0;
	ssize_t n;

	http1_init(&h, "", 0);
	n = http1_req_rewrite(&h, (const uint8_t *)in, strlen(in), out, sizeof(out), &ol);
	/* the good request comes first, on its own */
	CHECK(n == 20);
	CHECK(ol == 20 && memcmp(out, in, 20) == 0);
	CHECK(h.h_error == HTTP1_ERR_NONE);
	n = http1_req_rewrite(&h, (const uint8_t *)in + 20, strlen(in) - 20, out,
	    sizeof(out), &ol);
	CHECK(n == -1);
	CHECK(ol == 0);
	CHECK(h.h_error == HTTP1_ERR_HEADER);
	CHECK_STREQ(http1_error_str(h.h_error), "header");
	http1_reset(&h);
}

static void
test_head_too_large(void)
{
	struct http1 h;
	size_t len = HTTP1_MAX_HEAD + 100, i;
	char *big = malloc(len + 1);
	uint8_t out[256];
	size_t ol;
	ssize_t n;

	memcpy(big, "GET / HTTP/1.1\r\nX-Big: ", 23);
	for (i = 23; i < len; i++)
		big[i] = 'a';
	big[len] = '\0';

	http1_init(&h, "", 0);
	/* just short of the limit: wait for more */
	n = http1_req_rewrite(&h, (uint8_t *)big, HTTP1_MAX_HEAD - 1, out, sizeof(out), &ol);
	CHECK(n == 0 && ol == 0);
	n = http1_req_rewrite(&h, (uint8_t *)big, HTTP1_MAX_HEAD, out, sizeof(out), &ol);
	CHECK(n == -1);
	CHECK(h.h_error == HTTP1_ERR_HEAD_TOO_LARGE);
	http1_reset(&h);

	/* a complete head one byte over the limit is refused too */
	memcpy(big + HTTP1_MAX_HEAD - 3, "\r\n\r\n", 4);
	http1_init(&h, "", 0);
	n = http1_req_rewrite(&h, (uint8_t *)big, len, out, sizeof(out), &ol);
	CHECK(n == -1 && h.h_error == HTTP1_ERR_HEAD_TOO_LARGE);
	http1_reset(&h);

	/* exactly at the limit it is accepted */
	memcpy(big + HTTP1_MAX_HEAD - 4, "\r\n\r\n", 4);
	{
		uint8_t *o = malloc(HTTP1_MAX_HEAD);

		http1_init(&h, "", 0);
		n = http1_req_rewrite(&h, (uint8_t *)big, HTTP1_MAX_HEAD, o, HTTP1_MAX_HEAD, &ol);
		CHECK(n == HTTP1_MAX_HEAD && ol == HTTP1_MAX_HEAD);
		free(o);
		http1_reset(&h);
	}

	/* trickled byte by byte: the same verdict, without rescanning */
	memset(big + 23, 'a', len - 23);
	{
		struct run r;

		http1_init(&h, "", 0);
		r = drive(&h, big, len, 1, 4096);
		CHECK(r.rc == -1 && h.h_error == HTTP1_ERR_HEAD_TOO_LARGE);
		CHECK(r.outlen == 0);
		run_free(&r);
		http1_reset(&h);
	}

	/* a trailer section that never ends */
	{
		size_t tl = HTTP1_MAX_HEAD + 200;
		char *t = malloc(tl + 1);
		const char *pre = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
		struct run r;

		memset(t, 'a', tl);
		memcpy(t, pre, strlen(pre));
		for (i = strlen(pre) + 50; i + 2 < tl; i += 50)
			memcpy(t + i, ":\r\n", 3);
		t[tl] = '\0';
		http1_init(&h, "", 0);
		r = drive(&h, t, tl, 7, 4096);
		CHECK(r.rc == -1 && h.h_error == HTTP1_ERR_CHUNK);
		run_free(&r);
		http1_reset(&h);
		free(t);
	}
	free(big);
}

/* A stream mixing everything the request side knows, cut every way. */
static const char mixed_stream[] =
    "\r\n"
    "GET /1 HTTP/1.1\r\nHost: a\r\nX-Forwarded-Client-Cert: evil\r\n\r\n"
    "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nclient-cert: x\r\n\r\nhello world"
    "PUT /3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    "3;a=b\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\nClient-Cert-Chain: y\r\n\r\n"
    "\r\n"
    "HEAD /4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    "DELETE /5 HTTP/1.1\r\nContent-Length: 0\r\nX-Amzn-Mtls-Clientcert: z\r\n\r\n"
    "OPTIONS * HTTP/1.1\r\n\r\n";

static void
test_split_everywhere(void)
{
	struct http1 h;
	size_t len = sizeof(mixed_stream) - 1;
	struct run ref = drive_new(&h, mixed_stream, len, 1 << 16);
	/* heads are emitted whole: a cap below the largest one stalls */
	static const size_t caps[] = { 160, 161, 200, 333, 4096 };

	CHECK(ref.rc == 0);
	CHECK(ref.consumed == len);
	CHECK(h.h_requests == 6);
	CHECK(h.h_stripped == 4);
	CHECK(count_of(ref.out, "Hash=good") == 6);
	CHECK(count_of(ref.out, "evil") == 0);
	http1_reset(&h);

	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		for (size_t step = 1; step <= len; step++) {
			struct run r = drive_new(&h, mixed_stream, step, caps[c]);
			bool same = r.rc == 0 && r.outlen == ref.outlen &&
			    memcmp(r.out, ref.out, r.outlen) == 0 && h.h_requests == 6;

			if (!same)
				fprintf(stderr, "split: cap %zu step %zu differs\n", caps[c], step);
			CHECK(same);
			run_free(&r);
			http1_reset(&h);
			if (!same)
				return;
		}
	}

	/* and split at one arbitrary point, both halves at once */
	for (size_t cut = 0; cut <= len; cut++) {
		uint8_t out[8192];
		size_t ol, total = 0, used = 0;
		char acc[8192];
		ssize_t n;

		http1_init(&h, INJECT, strlen(INJECT));
		n = http1_req_rewrite(&h, (const uint8_t *)mixed_stream, cut, out, sizeof(out), &ol);
		CHECK(n >= 0);
		memcpy(acc, out, ol);
		total = ol;
		used = (size_t)n;
		n = http1_req_rewrite(&h, (const uint8_t *)mixed_stream + used, len - used, out,
		    sizeof(out), &ol);
		CHECK(n >= 0 && used + (size_t)n == len);
		memcpy(acc + total, out, ol);
		total += ol;
		CHECK(total == ref.outlen && memcmp(acc, ref.out, total) == 0);
		http1_reset(&h);
	}
	run_free(&ref);
}

static void
test_pipeline_full(void)
{
	struct http1 h;
	const char *one = "GET / HTTP/1.1\r\n\r\n";
	size_t olen = strlen(one), total = olen * (HTTP1_MAX_PIPELINE + 2);
	char *in = malloc(total + 1);
	uint8_t *out = malloc(total * 2);
	size_t ol;
	ssize_t n;

	for (size_t i = 0; i < HTTP1_MAX_PIPELINE + 2; i++)
		memcpy(in + i * olen, one, olen);
	in[total] = '\0';
	http1_init(&h, "", 0);
	n = http1_req_rewrite(&h, (uint8_t *)in, total, out, total * 2, &ol);
	CHECK(n == (ssize_t)(olen * HTTP1_MAX_PIPELINE));
	CHECK(ol == olen * HTTP1_MAX_PIPELINE);
	CHECK(http1_outstanding(&h) == HTTP1_MAX_PIPELINE);
	/* full: nothing more until a response completes */
	n = http1_req_rewrite(&h, (uint8_t *)in + olen * HTTP1_MAX_PIPELINE, olen * 2, out,
	    total * 2, &ol);
	CHECK(n == 0 && ol == 0);
	CHECK(http1_resp_observe(&h, (const uint8_t *)"HTTP/1.1 204 No Content\r\n\r\n", 27) == 0);
	CHECK(http1_outstanding(&h) == HTTP1_MAX_PIPELINE - 1);
	n = http1_req_rewrite(&h, (uint8_t *)in + olen * HTTP1_MAX_PIPELINE, olen * 2, out,
	    total * 2, &ol);
	CHECK(n == (ssize_t)olen);
	CHECK(http1_outstanding(&h) == HTTP1_MAX_PIPELINE);
	/* the ring wraps: answer everything */
	for (unsigned i = 0; i < HTTP1_MAX_PIPELINE; i++)
		CHECK(http1_resp_observe(&h, (const uint8_t *)"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38) == 0);
	CHECK(http1_outstanding(&h) == 0);
	CHECK(h.h_responses == HTTP1_MAX_PIPELINE + 1);
	n = http1_req_rewrite(&h, (uint8_t *)in, olen, out, total * 2, &ol);
	CHECK(n == (ssize_t)olen && http1_outstanding(&h) == 1);
	free(in);
	free(out);
	http1_reset(&h);
}

static void
test_upgrade(void)
{
	struct http1 h;
	static const char req[] =
	    "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
	    "Connection: keep-alive, Upgrade\r\n\r\n";
	/* what follows the upgrade is not HTTP; it must not be rewritten */
	static const char after[] = "GET / HTTP/1.1\r\nClient-Cert: raw\r\n\r\n\x81\x05hello";
	static const char resp101[] =
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	    "\x81\x02hi";
	char in[512];
	uint8_t out[1024];
	size_t ol, rl = strlen(req), al = strlen(after);
	ssize_t n;

	memcpy(in, req, rl);
	memcpy(in + rl, after, al);
	http1_init(&h, "", 0);
	n = http1_req_rewrite(&h, (uint8_t *)in, rl + al, out, sizeof(out), &ol);
	CHECK(n == (ssize_t)rl);
	CHECK(ol == rl && memcmp(out, req, rl) == 0);
	CHECK(http1_req_waiting_upgrade(&h));
	CHECK(h.h_pipe[h.h_pipe_head] == HTTP1_PIPE_UPGRADE);
	/* held */
	n = http1_req_rewrite(&h, (uint8_t *)in + rl, al, out, sizeof(out), &ol);
	CHECK(n == 0 && ol == 0);
	CHECK(http1_req_passthrough(&h) == 0);
	/* the 101 arrives split */
	CHECK(http1_resp_observe(&h, (const uint8_t *)resp101, 10) == 0);
	CHECK(!h.h_opaque && !http1_resp_idle(&h));
	CHECK(h.h_resp_head != NULL);
	CHECK(http1_resp_observe(&h, (const uint8_t *)resp101 + 10, sizeof(resp101) - 11) == 0);
	CHECK(h.h_opaque);
	CHECK(h.h_resp_head == NULL);
	CHECK(!http1_req_waiting_upgrade(&h));
	CHECK(http1_req_passthrough(&h) == HTTP1_OPAQUE);
	CHECK(http1_outstanding(&h) == 0 && h.h_responses == 1);
	CHECK(!http1_resp_idle(&h));
	n = http1_req_rewrite(&h, (uint8_t *)in + rl, al, out, sizeof(out), &ol);
	CHECK(n == (ssize_t)al && ol == al && memcmp(out, after, al) == 0);
	/* with a small output buffer, opaque bytes flow in pieces */
	n = http1_req_rewrite(&h, (uint8_t *)in + rl, al, out, 5, &ol);
	CHECK(n == 5 && ol == 5);
	http1_req_skip(&h, 1000);
	CHECK(http1_req_passthrough(&h) == HTTP1_OPAQUE);
	CHECK(http1_resp_observe(&h, (const uint8_t *)"anything\r\n", 10) == 0);
	http1_reset(&h);

	/* refused upgrade: parsing resumes after the final response */
	memcpy(in + rl, "GET /next HTTP/1.1\r\nClient-Cert: x\r\n\r\n", 38);
	http1_init(&h, "", 0);
	n = http1_req_rewrite(&h, (uint8_t *)in, rl + 38, out, sizeof(out), &ol);
	CHECK(n == (ssize_t)rl);
	CHECK(http1_resp_observe(&h, (const uint8_t *)"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no", 39) == 0);
	/* response not complete yet: still held */
	CHECK(http1_req_waiting_upgrade(&h));
	n = http1_req_rewrite(&h, (uint8_t *)in + rl, 38, out, sizeof(out), &ol);
	CHECK(n == 0);
	CHECK(http1_resp_observe(&h, (const uint8_t *)"k", 1) == 0);
	CHECK(!http1_req_waiting_upgrade(&h) && !h.h_opaque);
	n = http1_req_rewrite(&h, (uint8_t *)in + rl, 38, out, sizeof(out), &ol);
	CHECK(n == 38);
	CHECK(ol == 22 && memcmp(out, "GET /next HTTP/1.1\r\n\r\n", 22) == 0);
	CHECK(h.h_stripped == 1);
	http1_reset(&h);

	/* Upgrade without "Connection: upgrade" is an ordinary request */
	http1_init(&h, "", 0);
	n = http1_req_rewrite(&h, (const uint8_t *)"GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: close\r\n\r\n"
	    "GET / HTTP/1.1\r\n\r\n", 69, out, sizeof(out), &ol);
	CHECK(n == 69);
	CHECK(!http1_req_waiting_upgrade(&h) && http1_outstanding(&h) == 2);
	/* a 101 to a request that did not ask is a framing error */
	CHECK(http1_resp_observe(&h, (const uint8_t *)"HTTP/1.1 101 Switching Protocols\r\n\r\n", 36) == -1);
	CHECK(h.h_error == HTTP1_ERR_RESPONSE && !h.h_opaque);
	CHECK(http1_resp_observe(&h, (const uint8_t *)"x", 1) == -1);
	http1_reset(&h);

	/* an Upgrade request with a body: the body flows, then bytes wait */
	http1_init(&h, "", 0);
	n = http1_req_rewrite(&h, (const uint8_t *)"POST / HTTP/1.1\r\nUpgrade: x\r\nConnection: upgrade\r\n"
	    "Content-Length: 3\r\n\r\nabcGET", 77, out, sizeof(out), &ol);
	CHECK(n == 74);
	CHECK(http1_req_waiting_upgrade(&h));
	http1_reset(&h);
}

/* ------------------------------------------------------------ passthrough */

static void
test_passthrough(void)
{
	struct http1 h;
	uint8_t out[1024];
	size_t ol;
	ssize_t n;
	const char *head = "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n";

	http1_init(&h, "", 0);
	CHECK(http1_req_passthrough(&h) == 0);
	n = http1_req_rewrite(&h, (const uint8_t *)head, strlen(head), out, sizeof(out), &ol);
	CHECK(n == (ssize_t)strlen(head));
	CHECK(http1_req_passthrough(&h) == 10);
	http1_req_skip(&h, 4);
	CHECK(http1_req_passthrough(&h) == 6);
	/* the rewriter picks up where the splice stopped */
	n = http1_req_rewrite(&h, (const uint8_t *)"456789GET / HTTP/1.1\r\n\r\n", 24, out,
	    sizeof(out), &ol);
	CHECK(n == 24);
	CHECK(ol == 24 && memcmp(out, "456789GET / HTTP/1.1\r\n\r\n", 24) == 0);
	CHECK(http1_req_passthrough(&h) == 0);
	CHECK(h.h_requests == 2);
	http1_reset(&h);

	/* skip the whole body: back to heads */
	http1_init(&h, "", 0);
	n = http1_req_rewrite(&h, (const uint8_t *)head, strlen(head), out, sizeof(out), &ol);
	http1_req_skip(&h, 10);
	CHECK(http1_req_passthrough(&h) == 0);
	n = http1_req_rewrite(&h, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, out, sizeof(out), &ol);
	CHECK(n == 18 && h.h_requests == 2);
	http1_reset(&h);

	/* chunked: only chunk data may be spliced, never the framing */
	head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1a;x=y\r\n";
	http1_init(&h, "", 0);
	n = http1_req_rewrite(&h, (const uint8_t *)head, strlen(head) - 1, out, sizeof(out), &ol);
	CHECK(http1_req_passthrough(&h) == 0);	/* LF of the size line not seen */
	n = http1_req_rewrite(&h, (const uint8_t *)"\n", 1, out, sizeof(out), &ol);
	CHECK(n == 1 && ol == 1);
	CHECK(http1_req_passthrough(&h) == 26);
	http1_req_skip(&h, 20);
	CHECK(http1_req_passthrough(&h) == 6);
	n = http1_req_rewrite(&h, (const uint8_t *)"uvwx", 4, out, sizeof(out), &ol);
	CHECK(n == 4 && http1_req_passthrough(&h) == 2);
	http1_req_skip(&h, 2);
	CHECK(http1_req_passthrough(&h) == 0);
	n = http1_req_rewrite(&h, (const uint8_t *)"\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", 25, out,
	    sizeof(out), &ol);
	CHECK(n == 25 && h.h_requests == 2);
	/* a bad CRLF after skipped data is still caught */
	http1_reset(&h);
	http1_init(&h, "", 0);
	n = http1_req_rewrite(&h, (const uint8_t *)"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n",
	    50, out, sizeof(out), &ol);
	CHECK(n == 50 && http1_req_passthrough(&h) == 2);
	http1_req_skip(&h, 2);
	n = http1_req_rewrite(&h, (const uint8_t *)"XX", 2, out, sizeof(out), &ol);
	CHECK(n == -1 && h.h_error == HTTP1_ERR_CHUNK);
	http1_reset(&h);
}

/* ------------------------------------------------------------ responses */

/* Forward `nreq` plain GETs (or HEADs) so that responses have owners. */
static void
send_requests(struct http1 *h, const char *method, unsigned nreq)
{
	char req[64];
	uint8_t out[256];
	size_t ol;
	int len = snprintf(req, sizeof(req), "%s / HTTP/1.1\r\n\r\n", method);

	for (unsigned i = 0; i < nreq; i++)
		CHECK(http1_req_rewrite(h, (uint8_t *)req, (size_t)len, out, sizeof(out), &ol) == len);
}

struct resp_case {
	const char	*name;
	const char	*method;	/* of every request */
	unsigned	 nreq;
	const char	*resp;
	uint64_t	 responses;	/* completed after all of resp */
	bool		 idle;		/* idle after all of resp */
};

static const struct resp_case resp_cases[] = {
	{ "cl", "GET", 2,
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	    "HTTP/1.1 404 Not Found\r\ncontent-length: 3, 3\r\n\r\nnop", 2, true },
	{ "chunked", "GET", 2,
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5;x=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nT: 1\r\n\r\n"
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 99\r\n\r\n0\r\n\r\n", 2, true },
	{ "head", "HEAD", 2,
	    "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n"
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 2, true },
	{ "204/304", "GET", 2,
	    "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
	    "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", 2, true },
	{ "interim", "GET", 1,
	    "HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1, true },
	{ "no reason", "GET", 1, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 1, true },
	{ "close", "GET", 2,
	    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	    "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody until close HTTP/1.1 200 OK\r\n\r\n", 1, false },
	{ "te not chunked", "GET", 1,
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 0, false },
	{ "partial", "GET", 1, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, false },
	{ "partial head", "GET", 1, "HTTP/1.1 200 OK\r\nContent-Len", 0, false },
};

static void
test_responses(void)
{
	for (size_t i = 0; i < sizeof(resp_cases) / sizeof(resp_cases[0]); i++) {
		const struct resp_case *c = &resp_cases[i];
		size_t len = strlen(c->resp);

		for (size_t step = 1; step <= len; step++) {
			struct http1 h;
			bool ok = true;

			http1_init(&h, "", 0);
			send_requests(&h, c->method, c->nreq);
			for (size_t off = 0; off < len; off += step) {
				size_t k = len - off < step ? len - off : step;

				if (http1_resp_observe(&h, (const uint8_t *)c->resp + off, k) != 0)
					ok = false;
			}
			ok = ok && h.h_responses == c->responses &&
			    http1_resp_idle(&h) == c->idle &&
			    http1_outstanding(&h) == c->nreq - c->responses;
			if (!ok)
				fprintf(stderr, "response case %s step %zu: responses %llu\n",
				    c->name, step, (unsigned long long)h.h_responses);
			CHECK(ok);
			http1_reset(&h);
			if (!ok)
				break;
		}
	}
}

static void
test_response_state(void)
{
	struct http1 h;
	static const char r1[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	/* nothing outstanding */
	http1_init(&h, "", 0);
	CHECK(http1_resp_idle(&h));
	CHECK(http1_resp_observe(&h, (const uint8_t *)"H", 1) == -1);
	CHECK(h.h_error == HTTP1_ERR_RESPONSE);
	CHECK_STREQ(http1_error_str(h.h_error), "response");
	CHECK(!http1_resp_idle(&h));
	http1_reset(&h);

	/* one response too many */
	http1_init(&h, "", 0);
	send_requests(&h, "GET", 1);
	CHECK(http1_resp_observe(&h, (const uint8_t *)r1, sizeof(r1) - 1) == 0);
	CHECK(http1_resp_idle(&h) && h.h_responses == 1);
	CHECK(http1_resp_observe(&h, (const uint8_t *)r1, sizeof(r1) - 1) == -1);
	http1_reset(&h);

	/* started / idle through a response, and after an interim one */
	http1_init(&h, "", 0);
	send_requests(&h, "GET", 1);
	CHECK(http1_resp_observe(&h, (const uint8_t *)"HTTP/1.1 100 Continue\r", 22) == 0);
	CHECK(h.h_resp_started && !http1_resp_idle(&h));
	CHECK(http1_resp_observe(&h, (const uint8_t *)"\n\r\n", 3) == 0);
	CHECK(!h.h_resp_started && http1_resp_idle(&h));
	CHECK(h.h_responses == 0 && http1_outstanding(&h) == 1);
	CHECK(http1_resp_observe(&h, (const uint8_t *)r1, sizeof(r1) - 2) == 0);
	CHECK(h.h_resp_started && !http1_resp_idle(&h));
	CHECK(http1_resp_observe(&h, (const uint8_t *)"k", 1) == 0);
	CHECK(!h.h_resp_started && http1_resp_idle(&h) && h.h_responses == 1);
	http1_reset(&h);

	/* reset frees a partial head */
	http1_init(&h, "", 0);
	send_requests(&h, "GET", 1);
	CHECK(http1_resp_observe(&h, (const uint8_t *)"HTTP/1.1 2", 10) == 0);
	CHECK(h.h_resp_head != NULL && h.h_resp_head_len == 10);
	http1_reset(&h);
	CHECK(h.h_resp_head == NULL);
}

static void
test_resp_passthrough(void)
{
	struct http1 h;
	static const char cl[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
	static const char ch[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n";

	http1_init(&h, "", 0);
	send_requests(&h, "GET", 3);
	CHECK(http1_resp_passthrough(&h) == 0);
	CHECK(http1_resp_observe(&h, (const uint8_t *)cl, sizeof(cl) - 1) == 0);
	CHECK(http1_resp_passthrough(&h) == 10);
	http1_resp_skip(&h, 7);
	CHECK(http1_resp_passthrough(&h) == 3 && h.h_responses == 0);
	http1_resp_skip(&h, 3);
	/* the skip finished the response */
	CHECK(h.h_responses == 1 && http1_resp_idle(&h) && http1_outstanding(&h) == 2);
	CHECK(http1_resp_passthrough(&h) == 0);
	http1_resp_skip(&h, 5);		/* misuse changes nothing */
	CHECK(http1_resp_passthrough(&h) == 0 && h.h_responses == 1);

	/* chunk data only, never the framing */
	CHECK(http1_resp_observe(&h, (const uint8_t *)ch, sizeof(ch) - 2) == 0);
	CHECK(http1_resp_passthrough(&h) == 0);
	http1_resp_skip(&h, 5);
	CHECK(http1_resp_observe(&h, (const uint8_t *)"\n", 1) == 0);
	CHECK(http1_resp_passthrough(&h) == 5);
	http1_resp_skip(&h, 5);
	CHECK(http1_resp_passthrough(&h) == 0);
	CHECK(http1_resp_observe(&h, (const uint8_t *)"\r\n0\r\n\r\n", 7) == 0);
	CHECK(h.h_responses == 2 && http1_resp_idle(&h));

	/* a body to the close: nothing more to look at */
	CHECK(http1_resp_observe(&h, (const uint8_t *)"HTTP/1.0 200 OK\r\n\r\nxyz", 22) == 0);
	CHECK(http1_resp_passthrough(&h) == HTTP1_OPAQUE);
	http1_resp_skip(&h, 1000);
	CHECK(http1_resp_passthrough(&h) == HTTP1_OPAQUE && !http1_resp_idle(&h));
	CHECK(h.h_responses == 2 && http1_outstanding(&h) == 1);
	http1_reset(&h);
}

static const char *const bad_responses[] = {
	"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
	"HTTP/2 200 OK\r\n\r\n",
	"http/1.1 200 OK\r\n\r\n",
	"HTTP/1.1 20 OK\r\n\r\n",
	"HTTP/1.1 2000 OK\r\n\r\n",
	"HTTP/1.1 600 Odd\r\n\r\n",
	"HTTP/1.1 099 Odd\r\n\r\n",
	"HTTP/1.1 200OK\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
	"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
	"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\rX",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n folded\r\n\r\n",
	"\r\nHTTP/1.1 200 OK\r\n\r\n",
	"garbage\r\n\r\n",
};

static void
test_bad_responses(void)
{
	for (size_t i = 0; i < sizeof(bad_responses) / sizeof(bad_responses[0]); i++) {
		const char *s = bad_responses[i];
		size_t len = strlen(s);

		for (size_t step = 1; step <= len; step++) {
			struct http1 h;
			int rc = 0;

			http1_init(&h, "", 0);
			send_requests(&h, "GET", 1);
			for (size_t off = 0; off < len && rc == 0; off += step)
				rc = http1_resp_observe(&h, (const uint8_t *)s + off,
				    len - off < step ? len - off : step);
			if (rc != -1)
				fprintf(stderr, "bad response %zu step %zu accepted\n", i, step);
			CHECK(rc == -1 && h.h_error == HTTP1_ERR_RESPONSE);
			CHECK(h.h_resp_head == NULL);
			http1_reset(&h);
			if (rc != -1)
				break;
		}
	}

	/* trailer sections: too long, or a bare CR */
	{
		struct http1 h;
		size_t len = HTTP1_MAX_HEAD + 200, i;
		char *big = malloc(len);
		const char *pre = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";

		memset(big, 'a', len);
		memcpy(big, pre, strlen(pre));
		for (i = strlen(pre) + 40; i + 2 < len; i += 40)
			memcpy(big + i, ":\r\n", 3);
		http1_init(&h, "", 0);
		send_requests(&h, "GET", 1);
		CHECK(http1_resp_observe(&h, (uint8_t *)big, len) == -1);
		http1_reset(&h);
		http1_init(&h, "", 0);
		send_requests(&h, "GET", 1);
		CHECK(http1_resp_observe(&h, (const uint8_t *)"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "0\r\nT: 1\rX", 56) == -1);
		http1_reset(&h);
		free(big);
	}

	/* a response head that never ends */
	{
		struct http1 h;
		size_t len = HTTP1_MAX_HEAD + 10;
		char *big = malloc(len);
		int rc = 0;

		memset(big, 'a', len);
		memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
		http1_init(&h, "", 0);
		send_requests(&h, "GET", 1);
		for (size_t off = 0; off < len && rc == 0; off += 1000)
			rc = http1_resp_observe(&h, (uint8_t *)big + off, len - off < 1000 ? len - off : 1000);
		CHECK(rc == -1 && h.h_resp_head == NULL);
		http1_reset(&h);
		http1_init(&h, "", 0);
		send_requests(&h, "GET", 1);
		CHECK(http1_resp_observe(&h, (uint8_t *)big, len) == -1);
		http1_reset(&h);
		free(big);
	}
}

/* ------------------------------------------------------------ misc */

static void
test_error_response(void)
{
	char buf[256];
	size_t n = http1_error_response(400, buf, sizeof(buf));

	CHECK(n == strlen(buf));
	CHECK_STREQ(buf, "HTTP/1.1 400 Bad Request\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: 12\r\n"
	    "Connection: close\r\n"
	    "\r\n"
	    "bad request\n");
	n = http1_error_response(502, buf, sizeof(buf));
	CHECK(n == strlen(buf));
	CHECK_STREQ(buf, "HTTP/1.1 502 Bad Gateway\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: 12\r\n"
	    "Connection: close\r\n"
	    "\r\n"
	    "bad gateway\n");
	CHECK(http1_error_response(400, buf, 10) == 0);
	/* anything else is a plain 500, still well-formed */
	n = http1_error_response(418, buf, sizeof(buf));
	CHECK(n == strlen(buf) && strncmp(buf, "HTTP/1.1 500 ", 13) == 0);
	CHECK(strstr(buf, "\r\nConnection: close\r\n") != NULL);
}

static void
test_strings(void)
{
	CHECK_STREQ(http1_error_str(HTTP1_ERR_REQUEST_LINE), "request_line");
	CHECK_STREQ(http1_error_str(HTTP1_ERR_VERSION), "version");
	CHECK_STREQ(http1_error_str(HTTP1_ERR_HEADER), "header");
	CHECK_STREQ(http1_error_str(HTTP1_ERR_HEAD_TOO_LARGE), "head_too_large");
	CHECK_STREQ(http1_error_str(HTTP1_ERR_CL_TE), "cl_te");
	CHECK_STREQ(http1_error_str(HTTP1_ERR_CONTENT_LENGTH), "content_length");
	CHECK_STREQ(http1_error_str(HTTP1_ERR_TRANSFER_ENCODING), "transfer_encoding");
	CHECK_STREQ(http1_error_str(HTTP1_ERR_CHUNK), "chunk");
	CHECK_STREQ(http1_error_str(HTTP1_ERR_METHOD), "method");
	CHECK_STREQ(http1_error_str(HTTP1_ERR_RESPONSE), "response");
	CHECK_STREQ(http1_error_str(HTTP1_ERR__COUNT), "unknown");

	CHECK(http1_is_identity_header("X-Forwarded-Client-Cert", 23));
	CHECK(http1_is_identity_header("x-forwarded-client-cert", 23));
	CHECK(http1_is_identity_header("X-AMZN-MTLS-CLIENTCERT", 22));
	CHECK(http1_is_identity_header("x-amzn-mtls-", 12));
	CHECK(http1_is_identity_header("Client-Cert", 11));
	CHECK(http1_is_identity_header("client-cert-CHAIN", 17));
	CHECK(!http1_is_identity_header("Client-Cert-Chain-X", 19));
	CHECK(!http1_is_identity_header("Client-Cer", 10));
	CHECK(!http1_is_identity_header("X-Amzn-Mtls", 11));
	CHECK(!http1_is_identity_header("X-Forwarded-Client-Certs", 24));
	CHECK(!http1_is_identity_header("Client-Certificate", 18));
	/* the length bounds the name, not a NUL */
	CHECK(http1_is_identity_header("Client-Cert: x", 11));
}

/* ------------------------------------------------------------ keep-alive */

static void
respond(struct http1 *h, const char *resp)
{
	CHECK(http1_resp_observe(h, (const uint8_t *)resp, strlen(resp)) == 0);
}

#define OK_EMPTY	"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

/* A client's plain "Connection: close" is ours: not forwarded, nothing
 * after it is, and the upstream connection stays reusable - however TCP
 * cut the bytes. */
static void
test_own_close(void)
{
	const char *first = "GET / HTTP/1.1\r\nHost: a\r\nconnection:  CLOSE \r\nAccept: */*\r\n\r\n";
	const char *in = "GET / HTTP/1.1\r\nHost: a\r\nconnection:  CLOSE \r\nAccept: */*\r\n\r\n"
	    "GET /after HTTP/1.1\r\nHost: a\r\n\r\n";
	size_t len = strlen(in);

	for (size_t step = 1; step <= len; step++) {
		struct http1 h;
		struct run r;
		bool ok;

		http1_init(&h, INJECT, strlen(INJECT));
		h.h_own_close = true;
		r = drive(&h, in, len, step, 1 << 12);
		ok = r.rc == 0 && r.consumed == strlen(first) &&
		    strcmp(r.out, "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n" INJECT "\r\n") == 0 &&
		    h.h_client_last && !h.h_client_done && !h.h_last && http1_outstanding(&h) == 1 &&
		    !http1_reusable(&h);
		respond(&h, OK_EMPTY);
		ok = ok && h.h_client_done && http1_reusable(&h);
		if (!ok)
			fprintf(stderr, "own close, step %zu: \"%s\"\n", step, r.out);
		CHECK(ok);
		run_free(&r);
		http1_reset(&h);
		if (!ok)
			break;
	}
}

struct ka_case {
	const char	*name;
	bool		 own_close;
	const char	*req;
	const char	*resp;
	bool		 forwarded_close;	/* "close" still in what went up */
	bool		 reusable;		/* after the response */
};

static const struct ka_case ka_cases[] = {
	{ "keep-alive", true, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", OK_EMPTY, false, true },
	{ "close not ours", false, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", OK_EMPTY, true, false },
	{ "close among tokens", true, "GET / HTTP/1.1\r\nConnection: close, x-y\r\n\r\n", OK_EMPTY,
	    true, false },
	{ "HTTP/1.0", true, "GET / HTTP/1.0\r\n\r\n", OK_EMPTY, false, false },
	{ "HTTP/1.0 close", true, "GET / HTTP/1.0\r\nConnection: close\r\n\r\n", OK_EMPTY, true, false },
	{ "response close", true, "GET / HTTP/1.1\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive, close\r\n\r\n", false, false },
	{ "HTTP/1.0 response", true, "GET / HTTP/1.1\r\n\r\n",
	    "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, false },
	{ "body to close", true, "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\nab", false, false },
	{ "response cut short", true, "GET / HTTP/1.1\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", false, false },
	{ "interim only", true, "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 100 Continue\r\n\r\n", false, false },
	{ "request body under way", true, "POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc",
	    OK_EMPTY, false, false },
	{ "next head begun", true, "GET / HTTP/1.1\r\n\r\nGET /2 HT", OK_EMPTY, false, false },
	{ "after 101", true, "GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n",
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, false },
};

static void
test_reusable(void)
{
	for (size_t i = 0; i < sizeof(ka_cases) / sizeof(ka_cases[0]); i++) {
		const struct ka_case *c = &ka_cases[i];
		struct http1 h;
		struct run r;
		bool ok;

		http1_init(&h, "", 0);
		h.h_own_close = c->own_close;
		r = drive(&h, c->req, strlen(c->req), 1 << 20, 1 << 12);
		respond(&h, c->resp);
		ok = r.rc == 0 && (count_of(r.out, "close") > 0) == c->forwarded_close &&
		    http1_reusable(&h) == c->reusable && !h.h_client_done;
		if (!ok)
			fprintf(stderr, "keep-alive case %s: reusable %d, out \"%s\"\n", c->name,
			    http1_reusable(&h), r.out);
		CHECK(ok);
		run_free(&r);
		http1_reset(&h);
	}
}

/* ------------------------------------------------------------ identity modes */

/* A renamed identity header is stripped like the standard ones, in heads
 * and in trailers. */
static void
test_renamed_stripped(void)
{
	static const char *const strip[] = { "X-Client-Identity", "X-Leaf" };
	static const char ours[] = "X-Client-Identity: URI=ours\r\n";
	struct http1 h;
	struct run r;
	const char *in =
	    "POST / HTTP/1.1\r\nHost: a\r\n"
	    "x-client-identity: URI=evil\r\n"
	    "X-Forwarded-Client-Cert: URI=evil\r\n"
	    "X-LEAF:evil\r\n"
	    "X-Client-Identityx: kept\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "0\r\nX-Client-Identity: URI=evil\r\nT: ok\r\n\r\n";
	size_t step;

	for (step = 1; step <= strlen(in); step += strlen(in) - 1) {
		http1_init(&h, ours, strlen(ours));
		http1_set_identity(&h, strip, 2, NULL, NULL, 0);
		r = drive(&h, in, strlen(in), step, 1 << 16);
		CHECK(r.rc == 0);
		CHECK_STREQ(r.out,
		    "POST / HTTP/1.1\r\nHost: a\r\n"
		    "X-Client-Identityx: kept\r\n"
		    "Transfer-Encoding: chunked\r\n"
		    "X-Client-Identity: URI=ours\r\n\r\n"
		    "0\r\nT: ok\r\n\r\n");
		CHECK(count_of(r.out, "evil") == 0);
		CHECK(h.h_stripped == 4);
		run_free(&r);
		http1_reset(&h);
	}
}

/* XFCC append-forward: the client's values first, in order, then ours, on
 * one line after the injected ones; other identity headers still go. */
static void
test_xfcc_append_forward(void)
{
	static const char other[] = "X-Other: 1\r\n";
	struct http1 h;
	struct run r;
	const char *in =
	    "GET /a HTTP/1.1\r\nHost: a\r\n"
	    "X-Forwarded-Client-Cert: By=spiffe://front;Hash=11\r\n"
	    "Client-Cert: :ZXZpbA==:\r\n"
	    "x-forwarded-client-cert:  Hash=22 \r\n"
	    "X-Forwarded-Client-Cert:\r\n"
	    "Accept: */*\r\n\r\n"
	    "GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char want[] =
	    "GET /a HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Other: 1\r\n"
	    "X-Forwarded-Client-Cert: By=spiffe://front;Hash=11,Hash=22,Hash=ours\r\n\r\n"
	    "GET /b HTTP/1.1\r\nHost: a\r\nX-Other: 1\r\n"
	    "X-Forwarded-Client-Cert: Hash=ours\r\n\r\n";
	size_t caps[] = { 1 << 16, 200, 160 };
	size_t i;

	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		http1_init(&h, other, strlen(other));
		http1_set_identity(&h, NULL, 0, "X-Forwarded-Client-Cert", "Hash=ours", 9);
		r = drive(&h, in, strlen(in), i == 0 ? 1 << 20 : 1, caps[i]);
		CHECK(r.rc == 0);
		CHECK_STREQ(r.out, want);
		CHECK(h.h_requests == 2 && h.h_stripped == 1);
		if (r.rc != 0 || strcmp(r.out, want) != 0)
			fprintf(stderr, "  cap %zu\n", caps[i]);
		run_free(&r);
		http1_reset(&h);
	}
}

static struct run
drive_str(struct http1 *h, const char *in)
{
	return drive(h, in, strlen(in), 1 << 20, 1 << 16);
}

/* XFCC forward-only: the client's go up merged, nothing of ours; no line
 * when the client sent none.  Under a renamed XFCC, the standard name is
 * still stripped. */
static void
test_xfcc_forward_only(void)
{
	static const char *const strip[] = { "X-Client-Identity" };
	struct http1 h;
	struct run r;

	http1_init(&h, "", 0);
	http1_set_identity(&h, NULL, 0, "X-Forwarded-Client-Cert", "ignored", 0);
	r = drive_str(&h,
	    "GET / HTTP/1.1\r\nX-Forwarded-Client-Cert: Hash=11\r\nHost: a\r\n"
	    "X-Forwarded-Client-Cert: Hash=22\r\n\r\n"
	    "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK(r.rc == 0);
	CHECK_STREQ(r.out,
	    "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X-Forwarded-Client-Cert: Hash=11,Hash=22\r\n\r\n"
	    "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK(h.h_stripped == 0);
	run_free(&r);
	http1_reset(&h);

	http1_init(&h, "", 0);
	http1_set_identity(&h, strip, 1, "X-Client-Identity", NULL, 0);
	r = drive_str(&h,
	    "GET / HTTP/1.1\r\nX-Forwarded-Client-Cert: Hash=evil\r\nHost: a\r\n"
	    "x-client-identity: Hash=front\r\n\r\n");
	CHECK(r.rc == 0);
	CHECK_STREQ(r.out,
	    "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X-Client-Identity: Hash=front\r\n\r\n");
	CHECK(h.h_stripped == 1);
	run_free(&r);
	http1_reset(&h);
}

int
main(void)
{
	test_simple_get();
	test_empty_inject();
	test_pipelined();
	test_cl_body();
	test_chunked();
	test_errors();
	test_long_errors();
	test_error_after_progress();
	test_head_too_large();
	test_split_everywhere();
	test_pipeline_full();
	test_upgrade();
	test_passthrough();
	test_responses();
	test_response_state();
	test_resp_passthrough();
	test_bad_responses();
	test_error_response();
	test_strings();
	test_own_close();
	test_reusable();
	test_renamed_stripped();
	test_xfcc_append_forward();
	test_xfcc_forward_only();
	return CHECK_DONE();
}
