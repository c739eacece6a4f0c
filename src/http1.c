/*
 * http1.c - HTTP/1.1 request-head rewriter and response framing tracker.
 *
 * See http1.h for the contract.  Two rules shape everything below:
 *
 *  - The request direction is the attack surface (request smuggling, spoofed
 *    identity), so it is strict: one way to frame a message, everything
 *    else is refused.  The response direction comes from the upstream we
 *    trust; it is only followed closely enough to count responses and to
 *    see a 101.
 *
 *  - The result must not depend on how the input is split.  Heads are
 *    parsed only once complete (the caller keeps unconsumed bytes and
 *    offers them again); chunk framing is a byte-at-a-time state machine.
 *    When an error is found after some progress in the same call, the call
 *    returns that progress and the next call reports the error at its first
 *    byte, so a -1 never comes with output the caller must still send.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "http1.h"

#define CHUNK_SIZE_DIGITS	15	/* < 2^60: no overflow, no silly sizes */
#define CHUNK_LINE_MAX		4096	/* chunk-size line with extensions */
#define CL_MAX			(UINT64_C(1) << 62)

enum req_state {
	REQ_HEAD = 0,		/* expecting a request line (or an empty line) */
	REQ_BODY,		/* h_req_left Content-Length bytes to copy */
	REQ_CHUNKED,		/* chunked body, see h_chunk_state */
	REQ_ERROR,		/* -1 was returned; nothing more is parsed */
};

enum resp_state {
	RESP_HEAD = 0,		/* expecting a status line */
	RESP_BODY,		/* h_resp_left Content-Length bytes to skip */
	RESP_CHUNKED,		/* chunked body, see h_resp_chunk_state */
	RESP_CLOSE,		/* body runs to the end of the connection */
	RESP_OPAQUE,		/* 101 seen: no more HTTP */
	RESP_ERROR,
};

/* Chunked framing, shared by both directions. */
enum chunk_state {
	CH_SIZE0 = 0,		/* first hex digit of a chunk-size */
	CH_SIZE,		/* more hex digits */
	CH_SIZE_WS,		/* BWS between chunk-size and ';' */
	CH_EXT,			/* chunk extensions up to CR */
	CH_SIZE_LF,		/* LF ending the chunk-size line */
	CH_DATA,		/* h_*_left data bytes */
	CH_DATA_CR,		/* CRLF after chunk data */
	CH_DATA_LF,
	CH_TRAILER,		/* trailer section: a line starts here */
	CH_TR_LINE,		/* response only: inside a trailer line */
	CH_TR_LF,		/* response only: LF ending a trailer line */
	CH_TR_END_LF,		/* response only: LF of the empty last line */
};

/* Per-byte outcome of the chunk framing machine. */
enum chunk_step {
	STEP_ERR = -1,
	STEP_OK = 0,		/* byte belongs to the framing, state advanced */
	STEP_LINE_DONE,		/* byte was the LF of a chunk-size line */
};

const char *
http1_error_str(enum http1_error e)
{
	static const char *const names[HTTP1_ERR__COUNT] = {
		[HTTP1_ERR_NONE] = "none",
		[HTTP1_ERR_REQUEST_LINE] = "request_line",
		[HTTP1_ERR_VERSION] = "version",
		[HTTP1_ERR_HEADER] = "header",
		[HTTP1_ERR_HEAD_TOO_LARGE] = "head_too_large",
		[HTTP1_ERR_CL_TE] = "cl_te",
		[HTTP1_ERR_CONTENT_LENGTH] = "content_length",
		[HTTP1_ERR_TRANSFER_ENCODING] = "transfer_encoding",
		[HTTP1_ERR_CHUNK] = "chunk",
		[HTTP1_ERR_METHOD] = "method",
		[HTTP1_ERR_RESPONSE] = "response",
	};

	if ((unsigned)e >= HTTP1_ERR__COUNT)
		return "unknown";
	return names[e];
}

/* ------------------------------------------------------------ characters */

/* RFC 9110 tchar: what a method or a field name may be made of. */
static bool
http1_is_tchar(uint8_t c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
http1_is_ctl(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

static bool
http1_is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static int
http1_hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
http1_ieq(const uint8_t *p, size_t n, const char *s)
{
	return strlen(s) == n && strncasecmp((const char *)p, s, n) == 0;
}

static void
http1_trim_ows(const uint8_t **p, size_t *n)
{
	while (*n > 0 && http1_is_ows((*p)[0])) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && http1_is_ows((*p)[*n - 1]))
		(*n)--;
}

bool
http1_is_identity_header(const char *name, size_t len)
{
	static const char amzn[] = "x-amzn-mtls-";

	if (len >= sizeof(amzn) - 1 && strncasecmp(name, amzn, sizeof(amzn) - 1) == 0)
		return true;
	return http1_ieq((const uint8_t *)name, len, "x-forwarded-client-cert") ||
	    http1_ieq((const uint8_t *)name, len, "client-cert") ||
	    http1_ieq((const uint8_t *)name, len, "client-cert-chain");
}

/* What becomes of a client's field line called name[0, nlen). */
enum http1_field {
	FIELD_KEEP = 0,		/* forwarded as it is */
	FIELD_STRIP,		/* an identity header: dropped */
	FIELD_MERGE,		/* the kept XFCC: merged with ours */
};

static enum http1_field
http1_field_fate(const struct http1 *h, const uint8_t *name, size_t nlen)
{
	size_t i;

	if (h->h_merge_name != NULL && http1_ieq(name, nlen, h->h_merge_name))
		return FIELD_MERGE;
	if (http1_is_identity_header((const char *)name, nlen))
		return FIELD_STRIP;
	for (i = 0; i < h->h_nstrip_names; i++)
		if (http1_ieq(name, nlen, h->h_strip_names[i]))
			return FIELD_STRIP;
	return FIELD_KEEP;
}

/* ------------------------------------------------------------ lines */

/*
 * Scan p[from, n) for bytes no HTTP/1 head may contain (bare CR, bare LF,
 * CTLs other than HTAB) and for the end of what we wait for: the empty line
 * ending a head (want_empty) or the end of one line.  Returns 1 with *end
 * just past the terminating CRLF, 0 when p[0, n) holds no terminator, -1 on
 * a bad byte.  `from` lets a caller that was already offered a prefix
 * resume instead of rescanning: byte from-1 is looked at again because a CR
 * there could not be judged until its next byte arrived.
 */
static int
http1_scan(const uint8_t *p, size_t n, size_t from, bool want_empty, size_t *end)
{
	size_t i;

	if (from > n)
		from = 0;
	if (from > 0)
		from--;
	for (i = from; i < n; i++) {
		uint8_t c = p[i];

		if (c == '\r') {
			if (i + 1 < n && p[i + 1] != '\n')
				return -1;
		} else if (c == '\n') {
			if (i == 0 || p[i - 1] != '\r')
				return -1;
			/* LF ends an empty line when the CR before it started
			 * the line (the byte before that CR is an LF). */
			if (!want_empty || i == 1 || (i >= 2 && p[i - 2] == '\n')) {
				*end = i + 1;
				return 1;
			}
		} else if (http1_is_ctl(c) && c != '\t') {
			return -1;
		}
	}
	return 0;
}

/*
 * The resumed scan trusted that the bytes before `from` were the ones seen
 * last time.  Before a head or trailer line is forwarded, vet all of it
 * once more, so that a caller breaking that promise cannot slip a CR or LF
 * into a value we copy upstream.  Once per head, not once per byte.
 */
static bool
http1_rescan(const uint8_t *p, size_t end, bool want_empty)
{
	size_t e;

	return http1_scan(p, end, 0, want_empty, &e) == 1 && e == end;
}

/*
 * Find the end of a head (want_empty: up to the empty line) or of one
 * trailer line in in[0..n), looking at no more than `limit` bytes, and
 * check it.  Returns 1 with *end set, 0 for "need more bytes", -1 for a
 * malformed block, -2 when `limit` bytes hold no end.  How far it looked is
 * kept in h_head_seen: a head trickling in byte by byte is not rescanned
 * from its start every time.
 */
static int
http1_find_end(struct http1 *h, const uint8_t *in, size_t n, size_t limit,
    bool want_empty, size_t *end)
{
	size_t window = n < limit ? n : limit;
	int r = http1_scan(in, window, h->h_head_seen, want_empty, end);

	if (r < 0)
		return -1;
	if (r == 0) {
		h->h_head_seen = window;
		return window == limit ? -2 : 0;
	}
	h->h_head_seen = *end;
	return http1_rescan(in, *end, want_empty) ? 1 : -1;
}

/* Length of the line starting at p, CRLF excluded; the caller knows p holds
 * a CRLF (http1_scan found it). */
static size_t
http1_line_len(const uint8_t *p, size_t n)
{
	const uint8_t *cr = memchr(p, '\r', n);

	return cr ? (size_t)(cr - p) : n;
}

/*
 * Split a header line into name and trimmed value.  The name must be a
 * non-empty token directly followed by ':': this rejects obs-fold (a line
 * starting with whitespace) and whitespace before the colon, both classic
 * ways to make two parsers see different headers.
 */
static bool
http1_split_field(const uint8_t *line, size_t len, const uint8_t **val, size_t *vlen,
    size_t *nlen)
{
	size_t i;

	for (i = 0; i < len && line[i] != ':'; i++)
		if (!http1_is_tchar(line[i]))
			return false;
	if (i == 0 || i == len)
		return false;
	*nlen = i;
	*val = line + i + 1;
	*vlen = len - i - 1;
	http1_trim_ows(val, vlen);
	/* the byte scan let HTAB through; a value may hold it, nothing else */
	return true;
}

/*
 * Content-Length: 1*DIGIT, possibly as a list of identical values ("5, 5"),
 * possibly repeated on several lines; every value must equal *cl once
 * *seen.  No signs, no inner spaces, no empty elements.
 */
static bool
http1_parse_cl(const uint8_t *v, size_t n, bool *seen, uint64_t *cl)
{
	size_t i = 0;

	if (n == 0)
		return false;
	for (;;) {
		const uint8_t *e = v + i;
		size_t elen = 0, j;
		uint64_t x = 0;

		while (i + elen < n && v[i + elen] != ',')
			elen++;
		i += elen;
		http1_trim_ows(&e, &elen);
		if (elen == 0)
			return false;
		for (j = 0; j < elen; j++) {
			if (e[j] < '0' || e[j] > '9')
				return false;
			if (x > (CL_MAX - (uint64_t)(e[j] - '0')) / 10)
				return false;
			x = x * 10 + (uint64_t)(e[j] - '0');
		}
		if (*seen && x != *cl)
			return false;
		*seen = true;
		*cl = x;
		if (i == n)
			return true;
		i++;	/* the comma */
	}
}

/* Does a comma-separated list contain `token` (case-insensitively)? */
static bool
http1_list_has(const uint8_t *v, size_t n, const char *token)
{
	size_t i = 0;

	while (i < n) {
		const uint8_t *e = v + i;
		size_t elen = 0;

		while (i + elen < n && v[i + elen] != ',')
			elen++;
		i += elen + 1;
		http1_trim_ows(&e, &elen);
		if (http1_ieq(e, elen, token))
			return true;
	}
	return false;
}

/* The last non-empty element of a comma-separated list. */
static void
http1_list_last(const uint8_t *v, size_t n, const uint8_t **last, size_t *lastlen)
{
	size_t i = 0;

	while (i < n) {
		const uint8_t *e = v + i;
		size_t elen = 0;

		while (i + elen < n && v[i + elen] != ',')
			elen++;
		i += elen + 1;
		http1_trim_ows(&e, &elen);
		if (elen > 0) {
			*last = e;
			*lastlen = elen;
		}
	}
}

/* ------------------------------------------------------------ pipeline */

static bool
http1_pipe_full(const struct http1 *h)
{
	return h->h_pipe_count >= HTTP1_MAX_PIPELINE;
}

static void
http1_pipe_push(struct http1 *h, uint8_t flags)
{
	h->h_pipe[(h->h_pipe_head + h->h_pipe_count) % HTTP1_MAX_PIPELINE] = flags;
	h->h_pipe_count++;
}

static uint8_t
http1_pipe_oldest(const struct http1 *h)
{
	return h->h_pipe[h->h_pipe_head];
}

static void
http1_pipe_pop(struct http1 *h)
{
	h->h_pipe_head = (h->h_pipe_head + 1) % HTTP1_MAX_PIPELINE;
	h->h_pipe_count--;
}

bool
http1_req_waiting_upgrade(const struct http1 *h)
{
	/* Nothing is forwarded after an Upgrade request until it is answered,
	 * so it is the newest entry for as long as it waits. */
	if (h->h_opaque || h->h_pipe_count == 0)
		return false;
	return h->h_pipe[(h->h_pipe_head + h->h_pipe_count - 1) % HTTP1_MAX_PIPELINE] &
	    HTTP1_PIPE_UPGRADE;
}

/* ------------------------------------------------------------ init */

void
http1_init(struct http1 *h, const char *inject, size_t inject_len)
{
	memset(h, 0, sizeof(*h));
	h->h_inject = inject;
	h->h_inject_len = inject ? inject_len : 0;
}

void
http1_set_identity(struct http1 *h, const char *const *strip, size_t nstrip,
    const char *merge_name, const char *merge_value, size_t merge_len)
{
	h->h_strip_names = strip;
	h->h_nstrip_names = strip != NULL ? nstrip : 0;
	h->h_merge_name = merge_name;
	h->h_merge_value = merge_name != NULL && merge_len > 0 ? merge_value : NULL;
	h->h_merge_value_len = h->h_merge_value != NULL ? merge_len : 0;
}

void
http1_reset(struct http1 *h)
{
	free(h->h_resp_head);
	h->h_resp_head = NULL;
	h->h_resp_head_len = 0;
	h->h_resp_head_cap = 0;
}

/* ------------------------------------------------------------ chunk framing */

/*
 * One byte of chunk framing outside data and trailers: the chunk-size line
 * (1*HEXDIG [BWS ";" ext] CRLF) and the CRLF after chunk data.  *state,
 * *size and *line are only written when the byte is accepted.
 */
static enum chunk_step
http1_chunk_byte(int *state, uint64_t *size, size_t *line, uint8_t c)
{
	int v = http1_hexval(c);

	switch (*state) {
	case CH_SIZE0:
		if (v < 0)
			return STEP_ERR;
		*size = (uint64_t)v;
		*line = 1;
		*state = CH_SIZE;
		return STEP_OK;
	case CH_SIZE:
		if (v >= 0) {
			/* in CH_SIZE every byte of the line so far is a digit */
			if (*line >= CHUNK_SIZE_DIGITS)
				return STEP_ERR;
			*size = *size * 16 + (uint64_t)v;
		} else if (http1_is_ows(c)) {
			*state = CH_SIZE_WS;
		} else if (c == ';') {
			*state = CH_EXT;
		} else if (c == '\r') {
			*state = CH_SIZE_LF;
		} else {
			return STEP_ERR;
		}
		break;
	case CH_SIZE_WS:
		/* whitespace is only allowed as BWS before an extension */
		if (c == ';')
			*state = CH_EXT;
		else if (!http1_is_ows(c))
			return STEP_ERR;
		break;
	case CH_EXT:
		/* extensions are not interpreted; no CTL means no hidden CR/LF */
		if (c == '\r')
			*state = CH_SIZE_LF;
		else if (http1_is_ctl(c) && c != '\t')
			return STEP_ERR;
		break;
	case CH_SIZE_LF:
		if (c != '\n')
			return STEP_ERR;
		return STEP_LINE_DONE;
	case CH_DATA_CR:
		if (c != '\r')
			return STEP_ERR;
		*state = CH_DATA_LF;
		return STEP_OK;
	case CH_DATA_LF:
		if (c != '\n')
			return STEP_ERR;
		*state = CH_SIZE0;
		return STEP_OK;
	default:
		return STEP_ERR;
	}
	if (++*line > CHUNK_LINE_MAX)
		return STEP_ERR;
	return STEP_OK;
}

/* ------------------------------------------------------------ request head */

/* What validating a request head learnt. */
struct req_info {
	bool		 is_head;
	bool		 is_http10;
	bool		 upgrade;		/* Upgrade header present */
	bool		 conn_upgrade;		/* Connection lists "upgrade" */
	bool		 conn_close;		/* Connection lists "close" */
	bool		 conn_other;		/* ... on a line with other tokens */
	size_t		 close_bytes;		/* "Connection: close" lines, CRLF included */
	bool		 cl_seen;
	uint64_t	 cl;
	bool		 te_seen;
	unsigned	 hosts;
	size_t		 strip_bytes;		/* identity lines, CRLF included */
	unsigned	 nstrip;
	size_t		 merge_bytes;		/* values of FIELD_MERGE lines, +1 each */
};

static enum http1_error
http1_check_request_line(const uint8_t *l, size_t len, struct req_info *ri)
{
	const uint8_t *sp1, *tgt, *sp2, *ver;
	size_t mlen, tlen, vlen, i;

	sp1 = memchr(l, ' ', len);
	if (sp1 == NULL || sp1 == l)
		return HTTP1_ERR_REQUEST_LINE;
	mlen = (size_t)(sp1 - l);
	for (i = 0; i < mlen; i++)
		if (!http1_is_tchar(l[i]))
			return HTTP1_ERR_REQUEST_LINE;
	tgt = sp1 + 1;
	sp2 = memchr(tgt, ' ', len - mlen - 1);
	if (sp2 == NULL || sp2 == tgt)
		return HTTP1_ERR_REQUEST_LINE;
	tlen = (size_t)(sp2 - tgt);
	for (i = 0; i < tlen; i++)
		if (tgt[i] <= ' ' || tgt[i] == 0x7f)
			return HTTP1_ERR_REQUEST_LINE;
	ver = sp2 + 1;
	vlen = len - mlen - tlen - 2;
	if (vlen != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' || ver[5] > '9' ||
	    ver[6] != '.' || ver[7] < '0' || ver[7] > '9')
		return HTTP1_ERR_REQUEST_LINE;
	if (ver[5] != '1' || (ver[7] != '0' && ver[7] != '1'))
		return HTTP1_ERR_VERSION;
	/* A tunnel would carry the client's bytes past us unparsed. */
	if (http1_ieq(l, mlen, "CONNECT"))
		return HTTP1_ERR_METHOD;
	ri->is_head = mlen == 4 && memcmp(l, "HEAD", 4) == 0;
	ri->is_http10 = ver[7] == '0';
	return HTTP1_ERR_NONE;
}

static enum http1_error
http1_check_req_field(const struct http1 *h, const uint8_t *line, size_t len,
    struct req_info *ri)
{
	enum http1_field fate;
	const uint8_t *v;
	size_t vlen, nlen;

	if (!http1_split_field(line, len, &v, &vlen, &nlen))
		return HTTP1_ERR_HEADER;
	if ((fate = http1_field_fate(h, line, nlen)) != FIELD_KEEP) {
		ri->strip_bytes += len + 2;
		if (fate == FIELD_STRIP)
			ri->nstrip++;
		else
			ri->merge_bytes += vlen + 1;
	} else if (http1_ieq(line, nlen, "content-length")) {
		if (!http1_parse_cl(v, vlen, &ri->cl_seen, &ri->cl))
			return HTTP1_ERR_CONTENT_LENGTH;
	} else if (http1_ieq(line, nlen, "transfer-encoding")) {
		/* exactly one "chunked": no other coding, no second line */
		if (ri->te_seen || !http1_ieq(v, vlen, "chunked"))
			return HTTP1_ERR_TRANSFER_ENCODING;
		ri->te_seen = true;
	} else if (http1_ieq(line, nlen, "host")) {
		/* two Hosts may route differently here and upstream */
		if (++ri->hosts > 1)
			return HTTP1_ERR_HEADER;
	} else if (http1_ieq(line, nlen, "upgrade")) {
		ri->upgrade = true;
	} else if (http1_ieq(line, nlen, "connection")) {
		if (http1_list_has(v, vlen, "upgrade"))
			ri->conn_upgrade = true;
		if (http1_ieq(v, vlen, "close")) {
			ri->conn_close = true;
			ri->close_bytes += len + 2;
		} else if (http1_list_has(v, vlen, "close")) {
			ri->conn_close = ri->conn_other = true;
		}
	}
	return HTTP1_ERR_NONE;
}

/* Validate a complete head p[0, end) (http1_scan already vetted its bytes). */
static enum http1_error
http1_check_req_head(const struct http1 *h, const uint8_t *p, size_t end,
    struct req_info *ri)
{
	enum http1_error e;
	size_t off, len;

	memset(ri, 0, sizeof(*ri));
	len = http1_line_len(p, end);
	if ((e = http1_check_request_line(p, len, ri)) != HTTP1_ERR_NONE)
		return e;
	for (off = len + 2; off < end; off += len + 2) {
		len = http1_line_len(p + off, end - off);
		if (len == 0)
			break;
		if ((e = http1_check_req_field(h, p + off, len, ri)) != HTTP1_ERR_NONE)
			return e;
	}
	if (ri->cl_seen && ri->te_seen)
		return HTTP1_ERR_CL_TE;
	if (ri->te_seen && ri->is_http10)
		return HTTP1_ERR_TRANSFER_ENCODING;
	return HTTP1_ERR_NONE;
}

/* Is this header line exactly "Connection: close"? */
static bool
http1_is_close_line(const uint8_t *line, size_t len)
{
	const uint8_t *v;
	size_t vlen, nlen;

	return http1_split_field(line, len, &v, &vlen, &nlen) &&
	    http1_ieq(line, nlen, "connection") && http1_ieq(v, vlen, "close");
}

/*
 * The merged XFCC line: the client's values in order, then ours, joined by
 * ','; nothing when all are empty.  At most strlen(name) + 4 + merge_bytes
 * + h_merge_value_len bytes.
 */
static size_t
http1_emit_merge(const struct http1 *h, const uint8_t *p, size_t end, uint8_t *out)
{
	const uint8_t *v;
	size_t off, len, nlen, vlen, o, nname;
	bool any = false;

	nname = strlen(h->h_merge_name);
	o = nname + 2;
	off = http1_line_len(p, end) + 2;
	for (; off < end; off += len + 2) {
		if ((len = http1_line_len(p + off, end - off)) == 0)
			break;
		if (!http1_split_field(p + off, len, &v, &vlen, &nlen) ||
		    http1_field_fate(h, p + off, nlen) != FIELD_MERGE || vlen == 0)
			continue;
		if (any)
			out[o++] = ',';
		memcpy(out + o, v, vlen);
		o += vlen;
		any = true;
	}
	if (h->h_merge_value_len > 0) {
		if (any)
			out[o++] = ',';
		memcpy(out + o, h->h_merge_value, h->h_merge_value_len);
		o += h->h_merge_value_len;
		any = true;
	}
	if (!any)
		return 0;
	memcpy(out, h->h_merge_name, nname);
	memcpy(out + nname, ": ", 2);
	out[o++] = '\r';
	out[o++] = '\n';
	return o;
}

/* Copy the head minus identity lines (and "Connection: close" lines when
 * strip_close), plus our lines; room was checked. */
static size_t
http1_emit_head(const struct http1 *h, const uint8_t *p, size_t end, uint8_t *out,
    bool strip_close)
{
	size_t off, len, o;

	len = http1_line_len(p, end) + 2;
	memcpy(out, p, len);
	o = len;
	for (off = len; off < end; off += len) {
		size_t nlen;

		len = http1_line_len(p + off, end - off);
		if (len == 0)
			break;
		nlen = (size_t)((const uint8_t *)memchr(p + off, ':', len) - (p + off));
		len += 2;
		if (http1_field_fate(h, p + off, nlen) != FIELD_KEEP ||
		    (strip_close && http1_is_close_line(p + off, len - 2)))
			continue;
		memcpy(out + o, p + off, len);
		o += len;
	}
	if (h->h_inject_len > 0) {
		memcpy(out + o, h->h_inject, h->h_inject_len);
		o += h->h_inject_len;
	}
	if (h->h_merge_name != NULL)
		o += http1_emit_merge(h, p, end, out + o);
	out[o++] = '\r';
	out[o++] = '\n';
	return o;
}

/* Set up the body state for a request whose head was just forwarded. */
static void
http1_req_start_body(struct http1 *h, const struct req_info *ri)
{
	h->h_req_left = 0;
	h->h_chunk_line = 0;
	if (ri->te_seen) {
		h->h_req_state = REQ_CHUNKED;
		h->h_chunk_state = CH_SIZE0;
	} else if (ri->cl_seen && ri->cl > 0) {
		h->h_req_state = REQ_BODY;
		h->h_req_left = ri->cl;
	} else {
		h->h_req_state = REQ_HEAD;
	}
}

/*
 * A request head at in[0]: forward it rewritten, whole, or nothing.  Empty
 * lines before a request line are dropped (RFC 9112 2.2 lets a server
 * ignore them; some clients send a CRLF after a body).
 */
static ssize_t
http1_req_head(struct http1 *h, const uint8_t *in, size_t n, uint8_t *out, size_t room,
    size_t *produced, enum http1_error *err)
{
	struct req_info ri;
	size_t end, need;
	bool own_close;
	int r;

	/* After a request that asked us to close, nothing more goes up. */
	if (n == 0 || http1_pipe_full(h) || http1_req_waiting_upgrade(h) || h->h_client_last)
		return 0;
	if (in[0] == '\r') {
		if (n < 2)
			return 0;
		if (in[1] == '\n') {
			h->h_head_seen = 0;
			return 2;
		}
	}
	if ((r = http1_find_end(h, in, n, HTTP1_MAX_HEAD, true, &end)) <= 0) {
		if (r < 0)
			*err = r == -2 ? HTTP1_ERR_HEAD_TOO_LARGE : HTTP1_ERR_HEADER;
		return r < 0 ? -1 : 0;
	}
	if ((*err = http1_check_req_head(h, in, end, &ri)) != HTTP1_ERR_NONE)
		return -1;
	/* An HTTP/1.1 client's plain "Connection: close" is for the hop to
	 * us (RFC 9110 7.6.1): we close after its answer, and the upstream
	 * connection can be kept.  Anything else that ends the keep-alive
	 * goes up as it came. */
	own_close = h->h_own_close && ri.conn_close && !ri.conn_other && !ri.is_http10;
	need = end - ri.strip_bytes - (own_close ? ri.close_bytes : 0) + h->h_inject_len;
	if (h->h_merge_name != NULL)
		need += strlen(h->h_merge_name) + 4 + ri.merge_bytes + h->h_merge_value_len;
	if (need > room)
		return 0;
	*produced = http1_emit_head(h, in, end, out, own_close);
	h->h_head_seen = 0;
	h->h_requests++;
	h->h_stripped += ri.nstrip;
	/* HTTP/1.0 closes by default (a keep-alive token would be a hop
	 * we cannot vouch for upstream): either way, the end. */
	if (own_close)
		h->h_client_last = true;
	else if (ri.is_http10 || ri.conn_close)
		h->h_last = true;
	http1_pipe_push(h, (uint8_t)((ri.is_head ? HTTP1_PIPE_HEAD : 0) |
	    (own_close ? HTTP1_PIPE_CLOSE : 0) |
	    (ri.upgrade && ri.conn_upgrade ? HTTP1_PIPE_UPGRADE : 0)));
	http1_req_start_body(h, &ri);
	return (ssize_t)end;
}

/* Fields that must not hide in a trailer: an upstream merging trailers into
 * the headers would see them as framing or routing. */
static bool
http1_trailer_forbidden(const uint8_t *name, size_t nlen)
{
	return http1_ieq(name, nlen, "content-length") ||
	    http1_ieq(name, nlen, "transfer-encoding") ||
	    http1_ieq(name, nlen, "host");
}

/* One trailer line (or the empty line ending the request) at in[0]. */
static ssize_t
http1_req_trailer(struct http1 *h, const uint8_t *in, size_t n, uint8_t *out, size_t room,
    size_t *produced, enum http1_error *err)
{
	size_t end, len, nlen, vlen;
	const uint8_t *v;
	int r;

	if (n == 0)
		return 0;
	if ((r = http1_find_end(h, in, n, HTTP1_MAX_HEAD - h->h_chunk_line, false, &end)) <= 0) {
		if (r < 0)
			*err = HTTP1_ERR_CHUNK;
		return r < 0 ? -1 : 0;
	}
	len = end - 2;
	if (len == 0) {
		if (room < 2)
			return 0;
		memcpy(out, in, 2);
		*produced = 2;
		h->h_head_seen = 0;
		h->h_req_state = REQ_HEAD;
		return 2;
	}
	if (!http1_split_field(in, len, &v, &vlen, &nlen) ||
	    http1_trailer_forbidden(in, nlen)) {
		*err = HTTP1_ERR_CHUNK;
		return -1;
	}
	if (http1_field_fate(h, in, nlen) != FIELD_KEEP) {
		h->h_stripped++;
	} else {
		if (end > room)
			return 0;
		memcpy(out, in, end);
		*produced = end;
	}
	h->h_head_seen = 0;
	h->h_chunk_line += end;
	return (ssize_t)end;
}

/* Chunked body bytes at in[0]: data by the run, framing by the byte. */
static ssize_t
http1_req_chunk(struct http1 *h, const uint8_t *in, size_t n, uint8_t *out, size_t room,
    size_t *produced, enum http1_error *err)
{
	int state = h->h_chunk_state;
	uint64_t size = h->h_req_left;
	size_t line = h->h_chunk_line;
	enum chunk_step s;

	if (state == CH_TRAILER)
		return http1_req_trailer(h, in, n, out, room, produced, err);
	if (n == 0 || room == 0)
		return 0;
	if (state == CH_DATA) {
		size_t k = n < room ? n : room;

		if (k > h->h_req_left)
			k = (size_t)h->h_req_left;
		memcpy(out, in, k);
		*produced = k;
		if ((h->h_req_left -= k) == 0)
			h->h_chunk_state = CH_DATA_CR;
		return (ssize_t)k;
	}
	s = http1_chunk_byte(&state, &size, &line, in[0]);
	if (s == STEP_ERR) {
		*err = HTTP1_ERR_CHUNK;
		return -1;
	}
	if (s == STEP_LINE_DONE) {
		state = size == 0 ? CH_TRAILER : CH_DATA;
		line = 0;
		h->h_head_seen = 0;
	}
	h->h_chunk_state = state;
	h->h_req_left = size;
	h->h_chunk_line = line;
	out[0] = in[0];
	*produced = 1;
	return 1;
}

/* One step of the request machine at in[0]: >0 consumed, 0 stop, -1 error. */
static ssize_t
http1_req_step(struct http1 *h, const uint8_t *in, size_t n, uint8_t *out, size_t room,
    size_t *produced, enum http1_error *err)
{
	size_t k;

	*produced = 0;
	if (h->h_opaque) {
		k = n < room ? n : room;
		memcpy(out, in, k);
		*produced = k;
		return (ssize_t)k;
	}
	switch (h->h_req_state) {
	case REQ_HEAD:
		return http1_req_head(h, in, n, out, room, produced, err);
	case REQ_BODY:
		k = n < room ? n : room;
		if (k > h->h_req_left)
			k = (size_t)h->h_req_left;
		memcpy(out, in, k);
		*produced = k;
		if ((h->h_req_left -= k) == 0)
			h->h_req_state = REQ_HEAD;
		return (ssize_t)k;
	case REQ_CHUNKED:
		return http1_req_chunk(h, in, n, out, room, produced, err);
	default:
		*err = h->h_error;
		return -1;
	}
}

ssize_t
http1_req_rewrite(struct http1 *h, const uint8_t *in, size_t inlen,
    uint8_t *out, size_t outcap, size_t *outlen)
{
	enum http1_error err = HTTP1_ERR_NONE;
	size_t pos = 0, o = 0;

	for (;;) {
		size_t produced = 0;
		ssize_t r = http1_req_step(h, in + pos, inlen - pos, out + o, outcap - o,
		    &produced, &err);

		if (r < 0) {
			/* Hand back the good prefix first; the next call,
			 * starting at the bad byte, fails with nothing else
			 * to deliver. */
			if (pos > 0)
				break;
			h->h_req_state = REQ_ERROR;
			h->h_error = err;
			*outlen = 0;
			return -1;
		}
		if (r == 0)
			break;
		pos += (size_t)r;
		o += produced;
	}
	*outlen = o;
	return (ssize_t)pos;
}

size_t
http1_req_passthrough(const struct http1 *h)
{
	if (h->h_opaque)
		return HTTP1_OPAQUE;
	if (h->h_req_state == REQ_BODY)
		return h->h_req_left > SIZE_MAX - 1 ? SIZE_MAX - 1 : (size_t)h->h_req_left;
	if (h->h_req_state == REQ_CHUNKED && h->h_chunk_state == CH_DATA)
		return h->h_req_left > SIZE_MAX - 1 ? SIZE_MAX - 1 : (size_t)h->h_req_left;
	return 0;
}

void
http1_req_skip(struct http1 *h, size_t n)
{
	size_t max = http1_req_passthrough(h);

	if (max == HTTP1_OPAQUE || max == 0 || n == 0)
		return;
	if (n > max)
		n = max;	/* a caller bug; never run past the framing */
	h->h_req_left -= n;
	if (h->h_req_left > 0)
		return;
	if (h->h_req_state == REQ_BODY)
		h->h_req_state = REQ_HEAD;
	else
		h->h_chunk_state = CH_DATA_CR;
}

/* ------------------------------------------------------------ responses */

static int
http1_resp_fail(struct http1 *h)
{
	free(h->h_resp_head);
	h->h_resp_head = NULL;
	h->h_resp_head_len = 0;
	h->h_resp_head_cap = 0;
	h->h_resp_state = RESP_ERROR;
	h->h_error = HTTP1_ERR_RESPONSE;
	return -1;
}

/* A final response ended: its request is answered. */
static void
http1_resp_complete(struct http1 *h)
{
	if (http1_pipe_oldest(h) & HTTP1_PIPE_CLOSE)
		h->h_client_done = true;
	http1_pipe_pop(h);
	h->h_responses++;
	h->h_resp_started = false;
	h->h_resp_state = RESP_HEAD;
}

/* What a response head says about the body that follows. */
struct resp_info {
	unsigned	 status;
	bool		 is_http10;
	bool		 conn_close;		/* Connection lists "close" */
	bool		 cl_seen;
	uint64_t	 cl;
	bool		 te_seen;
	bool		 te_chunked;		/* "chunked" is the final coding */
};

static bool
http1_check_status_line(const uint8_t *l, size_t len, struct resp_info *ri)
{
	size_t i;

	/* HTTP/1.x SP 3DIGIT [SP reason]: servers that drop the SP before
	 * an empty reason are common enough to accept */
	if (len < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '9' ||
	    l[8] != ' ')
		return false;
	for (i = 9; i < 12; i++)
		if (l[i] < '0' || l[i] > '9')
			return false;
	if (len > 12 && l[12] != ' ')
		return false;
	ri->status = (unsigned)(l[9] - '0') * 100 + (unsigned)(l[10] - '0') * 10 +
	    (unsigned)(l[11] - '0');
	ri->is_http10 = l[7] == '0';
	return ri->status >= 100 && ri->status <= 599;
}

static bool
http1_check_resp_field(const uint8_t *line, size_t len, struct resp_info *ri)
{
	const uint8_t *v, *last = NULL;
	size_t vlen, nlen, lastlen = 0;

	if (!http1_split_field(line, len, &v, &vlen, &nlen))
		return false;
	if (http1_ieq(line, nlen, "content-length"))
		return http1_parse_cl(v, vlen, &ri->cl_seen, &ri->cl);
	if (http1_ieq(line, nlen, "transfer-encoding")) {
		/* codings accumulate over lines; only the final one counts */
		http1_list_last(v, vlen, &last, &lastlen);
		if (last != NULL) {
			ri->te_seen = true;
			ri->te_chunked = http1_ieq(last, lastlen, "chunked");
		}
	} else if (http1_ieq(line, nlen, "connection") && http1_list_has(v, vlen, "close")) {
		ri->conn_close = true;
	}
	return true;
}

static bool
http1_check_resp_head(const uint8_t *p, size_t end, struct resp_info *ri)
{
	size_t off, len;

	memset(ri, 0, sizeof(*ri));
	len = http1_line_len(p, end);
	if (!http1_check_status_line(p, len, ri))
		return false;
	for (off = len + 2; off < end; off += len + 2) {
		len = http1_line_len(p + off, end - off);
		if (len == 0)
			break;
		if (!http1_check_resp_field(p + off, len, ri))
			return false;
	}
	return true;
}

/* A complete response head p[0, end): decide how its body is framed. */
static int
http1_resp_head_done(struct http1 *h, const uint8_t *p, size_t end)
{
	struct resp_info ri;
	uint8_t flags = http1_pipe_oldest(h);

	if (!http1_rescan(p, end, true) || !http1_check_resp_head(p, end, &ri))
		return -1;
	if (ri.status == 101) {
		/* only an answer to an Upgrade we forwarded may switch */
		if (!(flags & HTTP1_PIPE_UPGRADE))
			return -1;
		http1_resp_complete(h);
		h->h_opaque = true;
		h->h_resp_state = RESP_OPAQUE;
		return 0;
	}
	if (ri.status < 200) {
		/* interim: the request still waits for its final answer,
		 * but the client stream is at a message boundary */
		h->h_resp_started = false;
		return 0;
	}
	if (ri.is_http10 || ri.conn_close)
		h->h_last = true;
	if ((flags & HTTP1_PIPE_HEAD) || ri.status == 204 || ri.status == 304) {
		http1_resp_complete(h);
	} else if (ri.te_seen) {
		/* RFC 9112 6.1: TE in HTTP/1.0 is faulty framing */
		if (ri.is_http10)
			return -1;
		if (ri.te_chunked) {
			h->h_resp_state = RESP_CHUNKED;
			h->h_resp_chunk_state = CH_SIZE0;
			h->h_resp_chunk_line = 0;
			h->h_resp_left = 0;
		} else {
			h->h_resp_state = RESP_CLOSE;
		}
	} else if (ri.cl_seen) {
		if (ri.cl == 0) {
			http1_resp_complete(h);
		} else {
			h->h_resp_state = RESP_BODY;
			h->h_resp_left = ri.cl;
		}
	} else {
		h->h_resp_state = RESP_CLOSE;
	}
	return 0;
}

/* Find the empty line ending a head in p[0, n), looking from `from`. */
static bool
http1_find_head_end(const uint8_t *p, size_t n, size_t from, size_t *end)
{
	const uint8_t *e;

	from = from > 3 ? from - 3 : 0;
	if (n < from + 4)
		return false;
	e = memmem(p + from, n - from, "\r\n\r\n", 4);
	if (e == NULL)
		return false;
	*end = (size_t)(e - p) + 4;
	return true;
}

/* Append to the partial response head, growing it by doubling. */
static bool
http1_resp_append(struct http1 *h, const uint8_t *p, size_t n)
{
	if (h->h_resp_head_len + n > h->h_resp_head_cap) {
		size_t cap = h->h_resp_head_cap ? h->h_resp_head_cap : 512;
		char *nb;

		while (cap < h->h_resp_head_len + n)
			cap *= 2;
		if (cap > HTTP1_MAX_HEAD)
			cap = HTTP1_MAX_HEAD;
		nb = realloc(h->h_resp_head, cap);
		if (nb == NULL)
			return false;
		h->h_resp_head = nb;
		h->h_resp_head_cap = cap;
	}
	memcpy(h->h_resp_head + h->h_resp_head_len, p, n);
	h->h_resp_head_len += n;
	return true;
}

/*
 * Response head bytes at p.  A head that arrives whole is parsed in place;
 * otherwise it is gathered in h_resp_head until its end shows up.  Returns
 * bytes consumed, -1 on error.
 */
static ssize_t
http1_resp_head(struct http1 *h, const uint8_t *p, size_t n)
{
	size_t old = h->h_resp_head_len, take, end;
	int r;

	if (!h->h_resp_started && h->h_pipe_count == 0)
		return -1;
	h->h_resp_started = true;
	if (old == 0) {
		take = n < HTTP1_MAX_HEAD ? n : HTTP1_MAX_HEAD;
		if (http1_find_head_end(p, take, 0, &end)) {
			if (http1_resp_head_done(h, p, end) < 0)
				return -1;
			return (ssize_t)end;
		}
	}
	take = HTTP1_MAX_HEAD - old;
	if (take > n)
		take = n;
	if (!http1_resp_append(h, p, take))
		return -1;
	if (!http1_find_head_end((uint8_t *)h->h_resp_head, h->h_resp_head_len, old, &end)) {
		if (h->h_resp_head_len >= HTTP1_MAX_HEAD)
			return -1;
		return (ssize_t)take;
	}
	r = http1_resp_head_done(h, (uint8_t *)h->h_resp_head, end);
	free(h->h_resp_head);
	h->h_resp_head = NULL;
	h->h_resp_head_len = 0;
	h->h_resp_head_cap = 0;
	if (r < 0)
		return -1;
	return (ssize_t)(end - old);
}

/* Response trailer section, byte by byte: lines are skipped, not read. */
static int
http1_resp_trailer_byte(struct http1 *h, uint8_t c)
{
	if (++h->h_resp_chunk_line > HTTP1_MAX_HEAD)
		return -1;
	switch (h->h_resp_chunk_state) {
	case CH_TRAILER:
		h->h_resp_chunk_state = c == '\r' ? CH_TR_END_LF : CH_TR_LINE;
		if (c != '\r' && (http1_is_ctl(c) || http1_is_ows(c)))
			return -1;
		return 0;
	case CH_TR_LINE:
		if (c == '\r')
			h->h_resp_chunk_state = CH_TR_LF;
		else if (http1_is_ctl(c) && c != '\t')
			return -1;
		return 0;
	case CH_TR_LF:
		if (c != '\n')
			return -1;
		h->h_resp_chunk_state = CH_TRAILER;
		return 0;
	case CH_TR_END_LF:
		if (c != '\n')
			return -1;
		http1_resp_complete(h);
		return 0;
	default:
		return -1;
	}
}

/* Chunked response body bytes at p: returns bytes consumed or -1. */
static ssize_t
http1_resp_chunk(struct http1 *h, const uint8_t *p, size_t n)
{
	int state = h->h_resp_chunk_state;
	enum chunk_step s;

	if (state == CH_DATA) {
		size_t k = n;

		if (k > h->h_resp_left)
			k = (size_t)h->h_resp_left;
		if ((h->h_resp_left -= k) == 0)
			h->h_resp_chunk_state = CH_DATA_CR;
		return (ssize_t)k;
	}
	if (state >= CH_TRAILER)
		return http1_resp_trailer_byte(h, p[0]) < 0 ? -1 : 1;
	s = http1_chunk_byte(&state, &h->h_resp_left, &h->h_resp_chunk_line, p[0]);
	if (s == STEP_ERR)
		return -1;
	if (s == STEP_LINE_DONE) {
		state = h->h_resp_left == 0 ? CH_TRAILER : CH_DATA;
		h->h_resp_chunk_line = 0;
	}
	h->h_resp_chunk_state = state;
	return 1;
}

int
http1_resp_observe(struct http1 *h, const uint8_t *data, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		ssize_t r;
		size_t k;

		switch (h->h_resp_state) {
		case RESP_HEAD:
			r = http1_resp_head(h, data + pos, len - pos);
			break;
		case RESP_BODY:
			k = len - pos;
			if (k > h->h_resp_left)
				k = (size_t)h->h_resp_left;
			if ((h->h_resp_left -= k) == 0)
				http1_resp_complete(h);
			r = (ssize_t)k;
			break;
		case RESP_CHUNKED:
			r = http1_resp_chunk(h, data + pos, len - pos);
			break;
		case RESP_CLOSE:
		case RESP_OPAQUE:
			return 0;
		default:
			return -1;
		}
		if (r < 0)
			return http1_resp_fail(h);
		pos += (size_t)r;
	}
	return 0;
}

size_t
http1_resp_passthrough(const struct http1 *h)
{
	if (h->h_opaque || h->h_resp_state == RESP_CLOSE)
		return HTTP1_OPAQUE;
	if (h->h_resp_state == RESP_BODY ||
	    (h->h_resp_state == RESP_CHUNKED && h->h_resp_chunk_state == CH_DATA))
		return h->h_resp_left > SIZE_MAX - 1 ? SIZE_MAX - 1 : (size_t)h->h_resp_left;
	return 0;
}

void
http1_resp_skip(struct http1 *h, size_t n)
{
	size_t max = http1_resp_passthrough(h);

	if (max == HTTP1_OPAQUE || max == 0 || n == 0)
		return;
	if (n > max)
		n = max;	/* a caller bug; never run past the framing */
	h->h_resp_left -= n;
	if (h->h_resp_left > 0)
		return;
	if (h->h_resp_state == RESP_BODY)
		http1_resp_complete(h);
	else
		h->h_resp_chunk_state = CH_DATA_CR;
}

bool
http1_resp_idle(const struct http1 *h)
{
	return h->h_resp_state == RESP_HEAD && !h->h_resp_started;
}

bool
http1_reusable(const struct http1 *h)
{
	return !h->h_last && !h->h_opaque && h->h_error == HTTP1_ERR_NONE &&
	    h->h_req_state == REQ_HEAD && h->h_head_seen == 0 && h->h_pipe_count == 0 &&
	    http1_resp_idle(h);
}

/* ------------------------------------------------------------ errors */

size_t
http1_error_response(int status, char *buf, size_t cap)
{
	const char *reason, *body;
	int n;

	switch (status) {
	case 400:
		reason = "Bad Request";
		body = "bad request\n";
		break;
	case 502:
		reason = "Bad Gateway";
		body = "bad gateway\n";
		break;
	default:
		status = 500;
		reason = "Internal Server Error";
		body = "internal error\n";
		break;
	}
	n = snprintf(buf, cap,
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n"
	    "\r\n"
	    "%s", status, reason, strlen(body), body);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return (size_t)n;
}
