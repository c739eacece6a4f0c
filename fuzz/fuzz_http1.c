/*
 * fuzz_http1.c - libFuzzer target for the HTTP/1 rewriter and tracker.
 *
 * Input layout: two bytes pick where the request stream ends and the
 * response stream starts, one byte seeds the slicing (its low bit also
 * says whether a client's "Connection: close" is ours, h_own_close); the
 * rest is data.  Bits 1-2 of that byte pick the identity set-up: the
 * standard names only, a renamed header stripped too, XFCC append-forward
 * (merged with ours) or forward-only (merged, nothing of ours).
 *
 * Besides memory safety (ASan/UBSan) it checks, with abort():
 *  - consumed <= given, outlen <= outcap, a failing call produces nothing;
 *  - the request direction gives the same output, verdict and counters
 *    whether fed at once, byte by byte with tiny output buffers, or in
 *    random slices with body bytes taken through passthrough/skip;
 *  - passthrough/skip agree with what the rewriter would do with the same
 *    bytes (copy them verbatim, end in the same state);
 *  - the response tracker reaches the same state however its input is cut;
 *  - interleaving both directions never breaks the invariants.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

#define INJECT	"X-Forwarded-Client-Cert: Hash=fuzz\r\n"
#define MERGE	"Hash=ours"
#define BIGCAP	(HTTP1_MAX_HEAD + sizeof(INJECT) + sizeof(MERGE) + 64)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
rnd(uint32_t *s)
{
	/* xorshift32: reproducible from the input, good enough for slicing */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static bool own_close;	/* h_own_close for every http1 of this input */
static unsigned ident_mode;	/* http1_set_identity() for every http1 */
static const char *const strip_names[] = { "X-Renamed" };

/* http1_init() as the daemon does it. */
static void
init(struct http1 *h)
{
	http1_init(h, INJECT, strlen(INJECT));
	h->h_own_close = own_close;
	switch (ident_mode) {
	case 1:
		http1_set_identity(h, strip_names, 1, NULL, NULL, 0);
		break;
	case 2:
		http1_set_identity(h, strip_names, 1, "X-Forwarded-Client-Cert",
		    MERGE, strlen(MERGE));
		break;
	case 3:
		http1_set_identity(h, NULL, 0, "X-Renamed", NULL, 0);
		break;
	}
}

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

struct result {
	uint8_t		*out;
	size_t		 outlen;
	size_t		 consumed;
	int		 rc;
	enum http1_error err;
	uint64_t	 requests, stripped;
	unsigned	 outstanding;
	bool		 last, client_last;
};

static void
append(struct result *r, const uint8_t *p, size_t n)
{
	if (n == 0)
		return;
	r->out = realloc(r->out, r->outlen + n);
	ASSERT(r->out != NULL);
	memcpy(r->out + r->outlen, p, n);
	r->outlen += n;
}

/* One checked rewrite call. */
static ssize_t
rewrite(struct http1 *h, const uint8_t *in, size_t inlen, uint8_t *ob, size_t cap,
    struct result *r)
{
	size_t ol = SIZE_MAX;
	ssize_t n = http1_req_rewrite(h, in, inlen, ob, cap, &ol);

	ASSERT(n >= -1);
	if (n < 0) {
		ASSERT(ol == 0);
		ASSERT(h->h_error != HTTP1_ERR_NONE);
		ASSERT(http1_req_passthrough(h) == 0 || h->h_opaque);
		return -1;
	}
	ASSERT((size_t)n <= inlen);
	ASSERT(ol <= cap);
	append(r, ob, ol);
	return n;
}

/*
 * Passthrough must describe bytes the rewriter would copy verbatim: run
 * the rewriter on a copy of the state over them and compare with skip().
 */
static void
check_skip(struct http1 *h, const uint8_t *in, size_t k)
{
	struct http1 c = *h;
	uint8_t *ob = malloc(k ? k : 1);
	size_t ol = 0;
	ssize_t n;

	c.h_resp_head = NULL;		/* the copy must not share it */
	n = http1_req_rewrite(&c, in, k, ob, k, &ol);
	ASSERT(n == (ssize_t)k && ol == k && memcmp(ob, in, k) == 0);
	http1_req_skip(h, k);
	ASSERT(h->h_req_state == c.h_req_state && h->h_req_left == c.h_req_left &&
	    h->h_chunk_state == c.h_chunk_state && h->h_chunk_line == c.h_chunk_line);
	free(ob);
}

static void
finish(struct http1 *h, struct result *r, size_t consumed, int rc)
{
	r->consumed = consumed;
	r->rc = rc;
	r->err = rc < 0 ? h->h_error : HTTP1_ERR_NONE;
	r->requests = h->h_requests;
	r->stripped = h->h_stripped;
	r->outstanding = http1_outstanding(h);
	r->last = h->h_last;
	r->client_last = h->h_client_last;
	/* Nothing is forwarded after a request whose close is ours. */
	ASSERT(!h->h_client_last || own_close);
}

/* Everything at once. */
static void
run_oneshot(const uint8_t *in, size_t len, struct http1 *h, struct result *r)
{
	uint8_t *ob = malloc(BIGCAP);
	size_t pos = 0;
	int rc = 0;

	init(h);
	for (;;) {
		ssize_t n = rewrite(h, in + pos, len - pos, ob, BIGCAP, r);

		if (n < 0) {
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		pos += (size_t)n;
	}
	free(ob);
	finish(h, r, pos, rc);
}

/*
 * Input arrives in slices (1 byte when `bytewise`), output buffers are
 * small; a head that does not fit gets a big buffer.  When `skip` is set,
 * body bytes are sometimes taken through passthrough/skip instead.
 */
static void
run_sliced(const uint8_t *in, size_t len, bool bytewise, bool skip, uint32_t seed,
    struct result *r)
{
	struct http1 h;
	uint8_t *ob = malloc(BIGCAP);
	size_t pos = 0, given = 0;
	int rc = 0;

	init(&h);
	for (;;) {
		size_t cap = 1 + rnd(&seed) % 24, p;
		ssize_t n;

		p = http1_req_passthrough(&h);
		if (skip && p != 0 && p != HTTP1_OPAQUE && given > pos && (rnd(&seed) & 1)) {
			size_t k = given - pos < p ? given - pos : p;

			k = 1 + rnd(&seed) % k;
			check_skip(&h, in + pos, k);
			append(r, in + pos, k);
			pos += k;
			continue;
		}
		n = rewrite(&h, in + pos, given - pos, ob, cap, r);
		if (n == 0)
			n = rewrite(&h, in + pos, given - pos, ob, BIGCAP, r);
		if (n < 0) {
			rc = -1;
			break;
		}
		if (n > 0) {
			pos += (size_t)n;
			continue;
		}
		if (given == len)
			break;
		given += bytewise ? 1 : 1 + rnd(&seed) % 64;
		if (given > len)
			given = len;
	}
	free(ob);
	finish(&h, r, pos, rc);
	http1_reset(&h);
}

static void
same(const struct result *a, const struct result *b)
{
	ASSERT(a->rc == b->rc);
	ASSERT(a->err == b->err);
	ASSERT(a->consumed == b->consumed);
	ASSERT(a->outlen == b->outlen);
	ASSERT(a->outlen == 0 || memcmp(a->out, b->out, a->outlen) == 0);
	ASSERT(a->requests == b->requests && a->stripped == b->stripped);
	ASSERT(a->outstanding == b->outstanding);
	ASSERT(a->last == b->last && a->client_last == b->client_last);
}

struct rstate {
	int		 rc;
	uint64_t	 responses;
	unsigned	 outstanding;
	bool		 idle, opaque, started;
	bool		 last, client_done, reusable;
};

/* Skipping passthrough bytes must leave the same state as observing them. */
static void
check_resp_skip(struct http1 *h, const uint8_t *p, size_t k)
{
	struct http1 c = *h;

	c.h_resp_head = NULL;		/* no partial head here: passthrough > 0 */
	ASSERT(h->h_resp_head == NULL);
	ASSERT(http1_resp_observe(&c, p, k) == 0);
	http1_resp_skip(h, k);
	ASSERT(h->h_resp_state == c.h_resp_state && h->h_resp_left == c.h_resp_left &&
	    h->h_resp_chunk_state == c.h_resp_chunk_state && h->h_responses == c.h_responses &&
	    h->h_pipe_count == c.h_pipe_count && h->h_resp_started == c.h_resp_started);
	ASSERT(h->h_last == c.h_last && h->h_client_done == c.h_client_done);
	ASSERT(c.h_resp_head == NULL);
}

static void
same_rstate(const struct rstate *a, const struct rstate *b)
{
	ASSERT(a->rc == b->rc && a->responses == b->responses);
	ASSERT(a->outstanding == b->outstanding && a->idle == b->idle);
	ASSERT(a->opaque == b->opaque && a->started == b->started);
	ASSERT(a->last == b->last && a->client_done == b->client_done &&
	    a->reusable == b->reusable);
}

/* Observe `len` response bytes in slices, starting from a copy of `base`. */
static struct rstate
observe(const struct http1 *base, const uint8_t *p, size_t len, int mode, uint32_t seed)
{
	struct http1 h = *base;
	struct rstate s = { 0 };
	size_t off = 0;

	h.h_resp_head = NULL;
	while (off < len && s.rc == 0) {
		size_t k = mode == 0 ? len - off : mode == 1 ? 1 : 1 + rnd(&seed) % 32;
		size_t pass = http1_resp_passthrough(&h);

		if (k > len - off)
			k = len - off;
		if (mode == 2 && pass != 0 && (rnd(&seed) & 1)) {
			/* splice instead of observing, as the kTLS relay does */
			if (pass != HTTP1_OPAQUE && k > pass)
				k = pass;
			check_resp_skip(&h, p + off, k);
			off += k;
			continue;
		}
		s.rc = http1_resp_observe(&h, p + off, k);
		ASSERT(s.rc == 0 || s.rc == -1);
		if (s.rc < 0)
			ASSERT(h.h_error == HTTP1_ERR_RESPONSE && h.h_resp_head == NULL);
		ASSERT(h.h_resp_head_len <= HTTP1_MAX_HEAD);
		ASSERT(h.h_pipe_count <= HTTP1_MAX_PIPELINE);
		if (http1_resp_idle(&h))
			ASSERT(h.h_resp_head == NULL);
		off += k;
	}
	s.responses = h.h_responses;
	s.outstanding = http1_outstanding(&h);
	s.idle = http1_resp_idle(&h);
	s.opaque = h.h_opaque;
	s.started = h.h_resp_started;
	s.last = h.h_last;
	s.client_done = h.h_client_done;
	s.reusable = http1_reusable(&h);
	/* Reusable means between exchanges, nothing ended the keep-alive. */
	if (s.reusable)
		ASSERT(s.idle && s.outstanding == 0 && !s.opaque && !s.last && s.rc == 0);
	http1_reset(&h);
	return s;
}

/* Both directions interleaved, the way a relay sees them. */
static void
run_relay(const uint8_t *req, size_t reqlen, const uint8_t *resp, size_t resplen,
    uint32_t seed)
{
	struct http1 h;
	struct result r = { 0 };
	uint8_t *ob = malloc(BIGCAP);
	size_t qpos = 0, qgiven = 0, spos = 0;
	bool qdead = false, sdead = false;

	init(&h);
	while (!(qdead || qpos == reqlen) || !(sdead || spos == resplen)) {
		bool progress = false;

		if (!qdead && qpos < reqlen) {
			size_t cap = (rnd(&seed) & 3) ? BIGCAP : 1 + rnd(&seed) % 64;
			ssize_t n;

			qgiven += 1 + rnd(&seed) % 128;
			if (qgiven > reqlen)
				qgiven = reqlen;
			n = rewrite(&h, req + qpos, qgiven - qpos, ob, cap, &r);
			if (n < 0)
				qdead = true;
			else if (n > 0)
				progress = true;
			qpos += n > 0 ? (size_t)n : 0;
			r.outlen = 0;	/* "sent" */
		}
		if (!sdead && spos < resplen) {
			size_t k = 1 + rnd(&seed) % 48;

			if (k > resplen - spos)
				k = resplen - spos;
			if (http1_resp_observe(&h, resp + spos, k) < 0)
				sdead = true;
			spos += k;
			progress = true;
		}
		ASSERT(h.h_pipe_count <= HTTP1_MAX_PIPELINE);
		ASSERT(!h.h_opaque || http1_req_passthrough(&h) == HTTP1_OPAQUE);
		ASSERT(!(h.h_opaque && http1_req_waiting_upgrade(&h)));
		if (!progress && (qdead || qgiven == reqlen))
			break;	/* request side held or starved, responses done */
	}
	free(ob);
	free(r.out);
	http1_reset(&h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result a = { 0 }, b = { 0 }, c = { 0 };
	struct rstate s0, s1, s2;
	struct http1 base;
	const uint8_t *req, *resp;
	size_t split, reqlen, resplen;
	uint32_t seed;

	if (size < 3)
		return 0;
	split = (size_t)data[0] | (size_t)data[1] << 8;
	seed = 0x9e3779b9u ^ data[2];
	own_close = data[2] & 1;
	ident_mode = (data[2] >> 1) & 3;
	data += 3;
	size -= 3;
	if (split > size)
		split = size;
	req = data;
	reqlen = split;
	resp = data + split;
	resplen = size - split;

	/* request direction: three ways of feeding must agree */
	run_oneshot(req, reqlen, &base, &a);
	run_sliced(req, reqlen, true, false, seed, &b);
	same(&a, &b);
	run_sliced(req, reqlen, false, true, seed * 7 + 1, &c);
	same(&a, &c);

	/* response direction against the requests forwarded above */
	s0 = observe(&base, resp, resplen, 0, seed);
	s1 = observe(&base, resp, resplen, 1, seed);
	s2 = observe(&base, resp, resplen, 2, seed);
	same_rstate(&s0, &s1);
	same_rstate(&s0, &s2);
	http1_reset(&base);

	run_relay(req, reqlen, resp, resplen, seed);

	free(a.out);
	free(b.out);
	free(c.out);
	return 0;
}
