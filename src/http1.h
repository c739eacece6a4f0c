/*
 * http1.h - HTTP/1.1 request-head rewriter and response framing tracker.
 *
 * ktproxy sits between a verified client and an upstream that trusts the
 * identity headers we inject, so the request direction is parsed strictly:
 * every request head on a connection (keep-alive, pipelined) is taken apart,
 * client-sent identity headers are dropped, ours are inserted, and bodies are
 * passed through untouched by their framing (Content-Length or chunked).
 * Anything ambiguous is refused (the caller answers 400 and closes) rather
 * than forwarded with a possibly spoofed identity.
 *
 * The response direction is only observed, never modified: we follow its
 * framing so we know when a response ends (how many requests are answered,
 * whether an error answer may still be sent to the client) and whether an
 * Upgrade request was answered 101 (only then does the stream go opaque;
 * going opaque on the request alone is a known smuggling hole).
 *
 * The parser knows nothing about sockets or TLS: it consumes bytes and
 * produces bytes, so the userspace relay and the kTLS/splice relay drive the
 * same code, and a fuzzer can too.
 */
#ifndef KTPROXY_HTTP1_H
#define KTPROXY_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP1_MAX_HEAD		(32 * 1024)	/* request or response head, bytes */
#define HTTP1_MAX_PIPELINE	64		/* requests forwarded but not answered */
#define HTTP1_OPAQUE		SIZE_MAX	/* http1_req_passthrough(): no more parsing */

/* Why a request was refused; the caller answers 400 and closes. */
enum http1_error {
	HTTP1_ERR_NONE = 0,
	HTTP1_ERR_REQUEST_LINE,		/* not METHOD SP target SP HTTP/1.x CRLF */
	HTTP1_ERR_VERSION,		/* not HTTP/1.0 or HTTP/1.1 */
	HTTP1_ERR_HEADER,		/* bad field name/value, obs-fold, bare CR/LF, NUL */
	HTTP1_ERR_HEAD_TOO_LARGE,	/* no end of head within HTTP1_MAX_HEAD */
	HTTP1_ERR_CL_TE,		/* both Content-Length and Transfer-Encoding */
	HTTP1_ERR_CONTENT_LENGTH,	/* invalid, or duplicates that differ */
	HTTP1_ERR_TRANSFER_ENCODING,	/* anything but a final "chunked" */
	HTTP1_ERR_CHUNK,		/* bad chunk-size line, missing CRLF, trailer */
	HTTP1_ERR_METHOD,		/* CONNECT and the like: not for this proxy */
	HTTP1_ERR_RESPONSE,		/* upstream response framing not followable */
	HTTP1_ERR__COUNT
};

const char *http1_error_str(enum http1_error e);	/* short token for logs */

/* Is `name` (not NUL-terminated) an identity header we strip from clients?
 * X-Forwarded-Client-Cert, X-Amzn-Mtls-*, Client-Cert, Client-Cert-Chain,
 * compared case-insensitively. */
bool	 http1_is_identity_header(const char *name, size_t len);

/*
 * One connection's HTTP/1 state, both directions.  Zero-initialise with
 * http1_init(); nothing to free except with http1_reset() (the response
 * head accumulator is heap-allocated while a response head is incomplete).
 */
struct http1 {
	/* request direction (client -> upstream) */
	int		 h_req_state;		/* private */
	uint64_t	 h_req_left;		/* private: body/chunk bytes left */
	int		 h_chunk_state;		/* private */
	size_t		 h_chunk_line;		/* private: bytes of chunk-size line seen */
	size_t		 h_head_seen;		/* private: bytes of a partial head (or
						 * trailer line) already scanned */
	const char	*h_inject;		/* header lines to insert, "Name: v\r\n"... */
	size_t		 h_inject_len;
	const char *const *h_strip_names;	/* more names stripped from clients
						 * (renamed identity headers) */
	size_t		 h_nstrip_names;
	const char	*h_merge_name;		/* non-NULL: the client's lines of
						 * this name are kept, merged into
						 * one line after h_inject, ... */
	const char	*h_merge_value;		/* ... with this element appended */
	size_t		 h_merge_value_len;
	uint64_t	 h_requests;		/* request heads rewritten */
	uint64_t	 h_stripped;		/* identity header lines dropped */
	enum http1_error h_error;		/* set when a call returns -1 */

	/* pipeline: one entry per forwarded request, oldest first */
	uint8_t		 h_pipe[HTTP1_MAX_PIPELINE];	/* HTTP1_PIPE_* flags */
	unsigned	 h_pipe_head, h_pipe_count;

	/* response direction (upstream -> client) */
	int		 h_resp_state;		/* private */
	uint64_t	 h_resp_left;		/* private */
	int		 h_resp_chunk_state;	/* private */
	size_t		 h_resp_chunk_line;	/* private */
	char		*h_resp_head;		/* private: partial response head */
	size_t		 h_resp_head_len;	/* private */
	size_t		 h_resp_head_cap;	/* private: allocated size of h_resp_head */
	uint64_t	 h_responses;		/* final responses completed */
	bool		 h_resp_started;	/* bytes of the current response seen */
	bool		 h_opaque;		/* 101 Switching Protocols seen */
	bool		 h_last;		/* a message said "Connection: close"
						 * or was HTTP/1.0: the upstream
						 * connection ends with this exchange */
	bool		 h_own_close;		/* set by the caller: a client's
						 * "Connection: close" is ours to
						 * honour, not forwarded */
	bool		 h_client_last;		/* such a request was forwarded:
						 * nothing more is */
	bool		 h_client_done;		/* ... and its response is complete:
						 * close the client */
};

#define HTTP1_PIPE_HEAD		0x01	/* request was HEAD: response has no body */
#define HTTP1_PIPE_UPGRADE	0x02	/* request asked to Upgrade */
#define HTTP1_PIPE_CLOSE	0x04	/* request's "Connection: close" is ours */

void	 http1_init(struct http1 *h, const char *inject, size_t inject_len);
/*
 * After http1_init(): besides the standard identity headers, strip the
 * nstrip names in strip from client requests; and when merge_name is not
 * NULL, keep the client's lines of that name (XFCC append-forward and
 * forward-only) as one line "merge_name: v1,v2,merge_value" after the
 * injected lines, merge_value and its comma left out when merge_len is 0
 * and the line left out when there is nothing to put in it.  Nothing is
 * copied: the strings must outlive h.
 */
void	 http1_set_identity(struct http1 *h, const char *const *strip, size_t nstrip,
	    const char *merge_name, const char *merge_value, size_t merge_len);
void	 http1_reset(struct http1 *h);		/* frees what http1 allocated */

/*
 * Request direction.  Consume client bytes from `in`, append what goes
 * upstream to `out` (at most `outcap` bytes; *outlen is set to the bytes
 * written).  A head is emitted whole or not at all: if the rewritten head
 * would not fit in outcap, nothing of it is consumed and the call returns
 * what it did so far (call again once out has drained).  Body bytes are
 * copied as they are.
 *
 * Returns the input bytes consumed (0 is not an error: more input or more
 * output room is needed, or the stream waits for the answer to an Upgrade,
 * or the pipeline is full), or -1 with h->h_error set.  A call that fails
 * consumes and produces nothing (*outlen = 0): an error found after some
 * progress is left for the next call, which starts at the bad bytes.  Once
 * -1 was returned, every later call returns -1.
 *
 * outcap must allow the largest rewritten head (HTTP1_MAX_HEAD plus
 * h_inject_len, plus h_merge_value_len and the length of h_merge_name plus
 * 5 when merging) or such a head is never forwarded.
 *
 * An incomplete head that already fills HTTP1_MAX_HEAD bytes of `in` is
 * HTTP1_ERR_HEAD_TOO_LARGE; the caller must offer at least that much input
 * buffer.
 */
ssize_t	 http1_req_rewrite(struct http1 *h, const uint8_t *in, size_t inlen,
	    uint8_t *out, size_t outcap, size_t *outlen);

/*
 * Bytes of client input that may be forwarded verbatim right now without
 * calling http1_req_rewrite (the rest of a Content-Length body or of the
 * current chunk's data); HTTP1_OPAQUE once the connection switched
 * protocols; 0 when the next bytes must go through the rewriter.  The
 * kTLS relay splices this many bytes; it then reports them with
 * http1_req_skip().
 */
size_t	 http1_req_passthrough(const struct http1 *h);
void	 http1_req_skip(struct http1 *h, size_t n);	/* n <= passthrough */

/* True while an Upgrade request awaits its answer: client bytes are held. */
bool	 http1_req_waiting_upgrade(const struct http1 *h);

/* Requests forwarded whose final response has not completed. */
static inline unsigned http1_outstanding(const struct http1 *h) { return h->h_pipe_count; }

/*
 * Response direction.  Observe `len` bytes the upstream sent (they are
 * forwarded unchanged by the caller).  Returns 0, or -1 with
 * h_error = HTTP1_ERR_RESPONSE when the framing cannot be followed (a
 * response with no request outstanding, a bad status line, bad framing).
 * Once a response to an Upgrade request is 101, h_opaque becomes true and
 * both directions stop being parsed.  A response whose body runs to the
 * end of the connection keeps the tracker in that state for good.
 */
int	 http1_resp_observe(struct http1 *h, const uint8_t *data, size_t len);

/*
 * Response bytes that may be forwarded right now without being observed
 * (the rest of a Content-Length body or of the current chunk's data);
 * HTTP1_OPAQUE when nothing more will be parsed (after a 101, or inside a
 * body that runs to the end of the connection); 0 when the next bytes must
 * go through http1_resp_observe().  The kTLS relay splices this many bytes
 * and reports them with http1_resp_skip(), which may complete a response.
 */
size_t	 http1_resp_passthrough(const struct http1 *h);
void	 http1_resp_skip(struct http1 *h, size_t n);	/* n <= passthrough */

/*
 * True when the response direction is between responses: nothing of a
 * response has been seen since the last one completed.  An error answer
 * (400, 502) may be sent to the client only then.
 */
bool	 http1_resp_idle(const struct http1 *h);

/*
 * True when the upstream connection could carry another client's requests:
 * every request forwarded is answered, nothing of a next request has been
 * seen or sent, and no message ended the connection's keep-alive (HTTP/1.0,
 * "Connection: close", a body delimited by the close, a 101).
 */
bool	 http1_reusable(const struct http1 *h);

/* Format a complete error response (status 400 or 502) with a short body
 * and "Connection: close" into buf; returns its length. */
size_t	 http1_error_response(int status, char *buf, size_t cap);

#endif
