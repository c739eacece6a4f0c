/*
 * ktp-load - an HTTP/1.1 load generator that speaks mutual TLS.
 *
 * No packaged tool drives TLS with client certificates at load, and the
 * benchmark compares ktproxy, nginx and HAProxy doing exactly that (mTLS
 * termination plus TLS re-origination), so the project carries its own.
 * The command line and the --json line are a contract with tools/bench:
 * see usage_text and tools/bench/ktp-load.md.
 *
 * One process, --threads workers; each worker runs its own epoll loop over
 * its share of the connections.  Sockets are non-blocking and OpenSSL is
 * driven with WANT_READ/WANT_WRITE the way nginx's ngx_ssl_handshake() is:
 * try the operation, and only on WANT_* arm epoll and come back.  The
 * client shares two cores with the proxy and the upstream under test, so
 * the hot path allocates nothing: request heads are formatted once, reads
 * go through one per-worker buffer, and the response parser keeps a few
 * words of state per connection instead of buffering headers.
 *
 * The life of a connection (struct load_conn, one per slot):
 *
 *   CONN_FREE ---conn_open()---> CONN_CONNECT     TCP connect in progress
 *                                CONN_HANDSHAKE   SSL_connect()
 *   rps, bulk:                   CONN_READY       may start a request once
 *                                                 the token bucket allows
 *                                CONN_SEND        request head, then body
 *                                CONN_RECV        until the response is framed
 *                                CONN_READY ...
 *   "Connection: close": CONN_DRAIN until the server's EOF, then a new
 *               connection.  The server closes first, so it keeps the
 *               TIME_WAIT (no ephemeral port runs out here) and nobody
 *               sends an RST: a close_notify of ours would hit its closed
 *               socket, and its close_notify left unread would make ours.
 *   handshake:  a CONN_READY slot has no socket; starting a request opens
 *               a connection, which asks for "Connection: close" and
 *               drains as above.
 *   idle:       CONN_HANDSHAKE -> CONN_HOLD (after one request with
 *               --idle-request) until the hold is over.
 *   Any error:  counted, the connection closed, and the slot rests in
 *               CONN_BACKOFF for LOAD_BACKOFF so a dead server does not turn
 *               the client into a busy loop (idle mode: the slot is lost).
 *   CONN_DONE:  finished for good (no --requests left to hand out).
 *
 * Every wait is bounded: --duration ends the run, a connection without
 * progress for LOAD_IO_TIMEOUT is an error, and idle mode's set-up phase
 * also ends at --duration.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define NSEC_PER_SEC		1000000000ULL
#define NSEC_PER_MSEC		1000000ULL
#define LOAD_IO_TIMEOUT		(10 * NSEC_PER_SEC)	/* no progress this long: an error */
#define LOAD_BACKOFF		(10 * NSEC_PER_MSEC)	/* rest after an error */
#define LOAD_DRAIN		(200 * NSEC_PER_MSEC)	/* wait for the server's close this long */
#define LOAD_SCAN_EVERY		(50 * NSEC_PER_MSEC)	/* timeouts, backoffs checked this often */
#define LOAD_BURST		(5 * NSEC_PER_MSEC)	/* --rate: tokens saved up at most this long */
#define LOAD_ERRLOG_MAX		10			/* errors printed; later ones only counted */
#define LOAD_EVENTS		256
#define LOAD_RBUF		(64 * 1024)
#define LOAD_BODY_CHUNK		(64 * 1024)
#define LOAD_SAMPLES_FIRST	65536

#define RESP_LINE_MAX		256	/* kept of each line: enough for the headers we read */
#define RESP_LINE_LIMIT		8192	/* a longer line is a malformed response */
#define RESP_HEAD_LIMIT		65536	/* so is a longer status line + headers */

static const char usage_text[] =
"usage: ktp-load --connect IP:PORT --sni NAME --ca FILE --cert FILE --key FILE\n"
"                --mode handshake|rps|bulk|idle [options]\n"
"\n"
"Drive HTTP/1.1 over mutual TLS at load and report rates and latency.\n"
"\n"
"  --connect IP:PORT       server address ([v6]:PORT for IPv6)\n"
"  --sni NAME              server name: sent as SNI and Host, verified in its certificate\n"
"  --ca FILE               CA bundle that verifies the server\n"
"  --cert FILE, --key FILE client certificate (chain) and key\n"
"  --mode MODE             handshake: one request per new connection (no resumption)\n"
"                          rps: keep-alive GETs; bulk: keep-alive GET of --path and,\n"
"                          with --upload, a POST; idle: open and hold connections\n"
"  --concurrency N         parallel connections (default 16); idle: handshakes at a time\n"
"  --duration SEC          stop after SEC seconds (default 10); idle: bounds the set-up\n"
"  --requests N            stop after N requests in all (default: --duration bounds)\n"
"  --path PATH             GET path (default /small; bulk: /big)\n"
"  --upload BYTES          bulk: also POST a body of BYTES (K, M, G suffixes; default 0)\n"
"  --upload-path PATH      where to POST (default /upload)\n"
"  --rate N                at most N requests/s in all (default unlimited)\n"
"  --connections N         idle: connections to open and hold (default 1000)\n"
"  --hold SEC              idle: hold them this long once all are up (default 5)\n"
"  --idle-request          idle: one GET of --path on each connection before holding it\n"
"  --certs-glob PATTERN    rotate through these client certificates (key: same name\n"
"                          with .key), one per new connection\n"
"  --tls13, --tls12        pin the protocol version (default: negotiate)\n"
"  --threads N             worker threads (default 1)\n"
"  --json                  print one JSON object instead of text\n"
"\n"
"Exit status: 0 no errors, 1 errors during the run, 2 usage or set-up error.\n";

enum load_mode {
	MODE_HANDSHAKE = 0,
	MODE_RPS,
	MODE_BULK,
	MODE_IDLE,
};

static const char *const load_mode_names[] = {
	"handshake", "rps", "bulk", "idle",
};

/* What went wrong, for the breakdown printed beside the total. */
enum load_err {
	LERR_CONNECT = 0,	/* socket, connect */
	LERR_TLS,		/* handshake or record layer */
	LERR_STATUS,		/* a complete response, but not 2xx */
	LERR_PROTO,		/* malformed, short, or unexpected data; server closed */
	LERR_TIMEOUT,		/* no progress for LOAD_IO_TIMEOUT, or idle set-up ran out */
	LERR__COUNT,
};

static const char *const load_err_names[] = {
	"connect", "tls", "status", "protocol", "timeout",
};

struct load_conf {
	struct sockaddr_storage	 lc_addr;
	socklen_t		 lc_addrlen;
	const char		*lc_connect;
	const char		*lc_sni;
	const char		*lc_ca;
	const char		*lc_cert;
	const char		*lc_key;
	const char		*lc_certs_glob;
	const char		*lc_path;
	const char		*lc_upload_path;
	enum load_mode		 lc_mode;
	int			 lc_concurrency;
	double			 lc_duration;
	uint64_t		 lc_requests;	/* 0: unbounded */
	uint64_t		 lc_upload;
	double			 lc_rate;	/* 0: unlimited */
	int			 lc_connections;
	double			 lc_hold;
	int			 lc_version;	/* 0: negotiate */
	int			 lc_threads;
	int			 lc_json;
	int			 lc_idle_request;
};

struct load_certpair {
	X509			*cp_cert;
	EVP_PKEY		*cp_key;
};

/* Read-only once the workers run, except the atomics. */
struct load_shared {
	SSL_CTX			*ls_ctx;
	struct load_certpair	*ls_pairs;	/* --certs-glob */
	size_t			 ls_npairs;
	atomic_size_t		 ls_pair_next;
	char			*ls_get;	/* request heads, formatted once */
	size_t			 ls_getlen;
	char			*ls_post;
	size_t			 ls_postlen;
	int			 ls_sni_is_ip;
	uint64_t		 ls_start;
	uint64_t		 ls_deadline;	/* ls_start + --duration */
	atomic_uint_fast64_t	 ls_reserved;	/* requests handed out (--requests) */
	atomic_int		 ls_errlogged;
	atomic_int		 ls_drain_warned;
	/* idle mode */
	atomic_int		 ls_settled;	/* connections up or failed for good */
	atomic_int		 ls_established;
	_Atomic uint64_t	 ls_hold_until;	/* 0 until the marker line is out */
	uint64_t		 ls_setup_end;	/* written before ls_hold_until */
};

/*
 * An HTTP/1.1 response, parsed as it streams by.  Only the status line and
 * the framing headers matter, so lines are kept up to RESP_LINE_MAX and the
 * rest of a longer line is dropped (but bounded).
 */
enum resp_state {
	RESP_STATUS = 0,	/* the status line */
	RESP_HEADER,		/* header lines up to the empty one */
	RESP_BODY,		/* Content-Length body: rp_left to go */
	RESP_BODY_EOF,		/* no framing: the body ends when the server closes */
	RESP_CHUNK_SIZE,	/* chunk-size [; extensions] */
	RESP_CHUNK_DATA,	/* rp_left bytes of chunk data */
	RESP_CHUNK_END,		/* the CRLF after chunk data */
	RESP_TRAILER,		/* trailer lines up to the empty one */
	RESP_DONE,
};

struct resp {
	enum resp_state		 rp_state;
	int			 rp_status;
	int			 rp_chunked;
	int			 rp_have_len;
	int			 rp_close;	/* the server will close after this one */
	uint64_t		 rp_left;
	uint64_t		 rp_body;	/* body bytes seen */
	size_t			 rp_head;	/* status line and header bytes seen */
	size_t			 rp_linelen;	/* bytes kept in rp_line */
	size_t			 rp_linetotal;	/* bytes of the current line, kept or not */
	char			 rp_line[RESP_LINE_MAX];
};

enum conn_state {
	CONN_FREE = 0,
	CONN_CONNECT,
	CONN_HANDSHAKE,
	CONN_READY,
	CONN_SEND,
	CONN_RECV,
	CONN_HOLD,
	CONN_DRAIN,
	CONN_BACKOFF,
	CONN_DONE,
};

static const char *const conn_state_names[] = {
	"free", "connect", "handshake", "ready", "send", "receive", "hold",
	"drain", "backoff", "done",
};

struct load_worker;

struct load_conn {
	struct load_worker	*cn_worker;
	struct load_conn	*cn_qnext;	/* ready queue (--rate) */
	SSL			*cn_ssl;
	int			 cn_fd;
	enum conn_state		 cn_state;
	uint32_t		 cn_events;	/* epoll interest, when cn_registered */
	int			 cn_registered;
	int			 cn_queued;
	int			 cn_upload_next; /* bulk: the next request is the POST */
	uint64_t		 cn_start;	/* the latency sample starts here */
	uint64_t		 cn_deadline;	/* no progress by then: timeout; 0: none */
	uint64_t		 cn_wake;	/* CONN_BACKOFF until then */
	const char		*cn_wbuf;	/* request head being written */
	size_t			 cn_wlen;
	size_t			 cn_woff;
	uint64_t		 cn_body_left;	/* upload bytes still to write */
	struct resp		 cn_resp;
};

struct load_worker {
	int			 lw_id;
	pthread_t		 lw_thread;
	int			 lw_epfd;
	struct load_conn	*lw_conns;
	int			 lw_nconns;
	int			 lw_live;	/* slots not CONN_DONE */
	uint64_t		 lw_now;	/* this loop turn; deadlines only */
	uint64_t		 lw_next_scan;
	uint64_t		 lw_end;
	/* --rate: a token bucket, and the connections waiting for a token */
	uint64_t		 lw_tb_interval;
	uint64_t		 lw_tb_next;
	struct load_conn	*lw_qhead;
	struct load_conn	*lw_qtail;
	/* idle mode */
	int			 lw_inflight_max;
	int			 lw_inflight;
	int			 lw_next_slot;
	int			 lw_idle_failed;
	int			 lw_hold_failed;	/* established, then lost */
	int			 lw_settled;
	/* results */
	uint64_t		 lw_established;
	uint64_t		 lw_handshakes;
	uint64_t		 lw_requests;
	uint64_t		 lw_bytes_in;
	uint64_t		 lw_bytes_out;
	uint64_t		 lw_errors[LERR__COUNT];
	uint32_t		*lw_samples;	/* latency, microseconds */
	size_t			 lw_nsamples;
	size_t			 lw_capsamples;
	uint64_t		 lw_samples_lost;
	unsigned char		 lw_buf[LOAD_RBUF];	/* SSL_read scratch */
};

/* Whether a handler left the connection waiting (or finished) or moved it on. */
enum step {
	STEP_WAIT = 0,
	STEP_NEXT,
};

static struct load_conf conf;
static struct load_shared shared;
static unsigned char load_body[LOAD_BODY_CHUNK];

static enum step conn_open(struct load_conn *);
static enum step conn_ready(struct load_conn *);

static uint64_t
load_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------- response parser */

static void
resp_init(struct resp *rp)
{
	rp->rp_state = RESP_STATUS;
	rp->rp_status = 0;
	rp->rp_chunked = 0;
	rp->rp_have_len = 0;
	rp->rp_close = 0;
	rp->rp_left = 0;
	rp->rp_body = 0;
	rp->rp_head = 0;
	rp->rp_linelen = 0;
	rp->rp_linetotal = 0;
}

/* Does header name [p, p+n) equal name? */
static int
resp_name_is(const char *p, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(p, name, n) == 0;
}

/* The empty line ends the head: decide how the body is framed. */
static int
resp_headers_done(struct resp *rp)
{
	if (rp->rp_status >= 100 && rp->rp_status < 200) {
		/* We never ask to switch protocols; other 1xx precede the real one. */
		if (rp->rp_status == 101)
			return -1;
		rp->rp_state = RESP_STATUS;
		rp->rp_chunked = rp->rp_have_len = rp->rp_close = 0;
		return 0;
	}
	if (rp->rp_status == 204 || rp->rp_status == 304)
		rp->rp_state = RESP_DONE;
	else if (rp->rp_chunked)
		rp->rp_state = RESP_CHUNK_SIZE;
	else if (rp->rp_have_len)
		rp->rp_state = rp->rp_left == 0 ? RESP_DONE : RESP_BODY;
	else {
		rp->rp_state = RESP_BODY_EOF;
		rp->rp_close = 1;
	}
	return 0;
}

static int
resp_header(struct resp *rp, const char *line, size_t len)
{
	const char *colon, *v, *end = line + len;
	uint64_t n = 0;

	if ((colon = memchr(line, ':', len)) == NULL || colon == line)
		return -1;
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (resp_name_is(line, colon - line, "content-length")) {
		if (v == end || end - v > 18)
			return -1;
		for (; v < end; v++) {
			if (*v < '0' || *v > '9')
				return -1;
			n = n * 10 + (uint64_t)(*v - '0');
		}
		/* Two different lengths: no way to frame it (RFC 9112 6.3). */
		if (rp->rp_have_len && rp->rp_left != n)
			return -1;
		rp->rp_have_len = 1;
		rp->rp_left = n;
	} else if (resp_name_is(line, colon - line, "transfer-encoding")) {
		if (strcasestr(v, "chunked") != NULL)
			rp->rp_chunked = 1;
	} else if (resp_name_is(line, colon - line, "connection")) {
		if (strcasestr(v, "close") != NULL)
			rp->rp_close = 1;
	}
	return 0;
}

static int
resp_chunk_size(struct resp *rp, const char *line, size_t len)
{
	uint64_t n = 0;
	size_t i;
	int d;

	for (i = 0; i < len; i++) {
		char c = line[i];

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			break;
		if (i == 15)
			return -1;
		n = n << 4 | (uint64_t)d;
	}
	if (i == 0 || (i < len && line[i] != ';' && line[i] != ' ' && line[i] != '\t'))
		return -1;
	if (n == 0)
		rp->rp_state = RESP_TRAILER;
	else {
		rp->rp_left = n;
		rp->rp_state = RESP_CHUNK_DATA;
	}
	return 0;
}

/* One complete line (CRLF stripped, NUL-terminated) in a line state. */
static int
resp_line(struct resp *rp, const char *line, size_t len)
{
	switch (rp->rp_state) {
	case RESP_STATUS:
		/* "HTTP/1.x NNN reason" */
		if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 ||
		    (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
		    line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' ||
		    line[11] < '0' || line[11] > '9' || (len > 12 && line[12] != ' '))
			return -1;
		rp->rp_status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
		rp->rp_state = RESP_HEADER;
		/* HTTP/1.0 without keep-alive negotiation closes after each response. */
		if (line[7] == '0')
			rp->rp_close = 1;
		return 0;
	case RESP_HEADER:
		if (len == 0)
			return resp_headers_done(rp);
		return resp_header(rp, line, len);
	case RESP_CHUNK_SIZE:
		return resp_chunk_size(rp, line, len);
	case RESP_CHUNK_END:
		if (len != 0)
			return -1;
		rp->rp_state = RESP_CHUNK_SIZE;
		return 0;
	case RESP_TRAILER:
		if (len == 0)
			rp->rp_state = RESP_DONE;
		return 0;
	default:
		return -1;
	}
}

/*
 * Feed n bytes of a response.  Returns 1 once the response is complete,
 * with *used the bytes of p it took; 0 when it needs more; -1 when the
 * response is malformed.  Body bytes are added up in rp_body.
 */
static int
resp_feed(struct resp *rp, const unsigned char *p, size_t n, size_t *used)
{
	size_t i = 0, take;
	unsigned char c;

	while (i < n) {
		switch (rp->rp_state) {
		case RESP_BODY:
		case RESP_CHUNK_DATA:
			take = n - i;
			if (take > rp->rp_left)
				take = (size_t)rp->rp_left;
			rp->rp_body += take;
			rp->rp_left -= take;
			i += take;
			if (rp->rp_left == 0) {
				if (rp->rp_state == RESP_BODY) {
					rp->rp_state = RESP_DONE;
					*used = i;
					return 1;
				}
				rp->rp_state = RESP_CHUNK_END;
			}
			continue;
		case RESP_BODY_EOF:
			rp->rp_body += n - i;
			i = n;
			continue;
		case RESP_DONE:
			*used = i;
			return 1;
		default:
			break;
		}

		c = p[i++];
		if (rp->rp_state == RESP_STATUS || rp->rp_state == RESP_HEADER ||
		    rp->rp_state == RESP_TRAILER) {
			if (++rp->rp_head > RESP_HEAD_LIMIT)
				return -1;
		}
		if (c != '\n') {
			if (++rp->rp_linetotal > RESP_LINE_LIMIT)
				return -1;
			if (rp->rp_linelen < sizeof(rp->rp_line) - 1)
				rp->rp_line[rp->rp_linelen++] = (char)c;
			continue;
		}
		if (rp->rp_linelen > 0 && rp->rp_line[rp->rp_linelen - 1] == '\r')
			rp->rp_linelen--;
		rp->rp_line[rp->rp_linelen] = '\0';
		if (resp_line(rp, rp->rp_line, rp->rp_linelen) == -1)
			return -1;
		rp->rp_linelen = rp->rp_linetotal = 0;
		if (rp->rp_state == RESP_DONE) {
			*used = i;
			return 1;
		}
	}
	*used = i;
	return 0;
}

/* ---------------------------------------------------------------- errors, samples */

static void load_error(struct load_worker *, enum load_err, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Count an error; print the first LOAD_ERRLOG_MAX of the whole run. */
static void
load_error(struct load_worker *w, enum load_err kind, const char *fmt, ...)
{
	char msg[320];
	va_list ap;
	int n;

	w->lw_errors[kind]++;
	n = atomic_fetch_add(&shared.ls_errlogged, 1);
	if (n > LOAD_ERRLOG_MAX)
		return;
	if (n == LOAD_ERRLOG_MAX) {
		fputs("ktp-load: more errors: counted, not printed\n", stderr);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One call, so that lines from two workers do not interleave. */
	fprintf(stderr, "ktp-load: %s error: %s\n", load_err_names[kind], msg);
}

static void
worker_sample(struct load_worker *w, uint64_t ns)
{
	uint64_t us = ns / 1000;

	if (w->lw_nsamples == w->lw_capsamples) {
		size_t cap = w->lw_capsamples ? w->lw_capsamples * 2 : LOAD_SAMPLES_FIRST;
		uint32_t *s = realloc(w->lw_samples, cap * sizeof(*s));

		if (s == NULL) {
			w->lw_samples_lost++;
			return;
		}
		w->lw_samples = s;
		w->lw_capsamples = cap;
	}
	w->lw_samples[w->lw_nsamples++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Hand out one request under --requests; -1 when they are all out. */
static int
load_reserve(void)
{
	if (conf.lc_requests == 0)
		return 0;
	return atomic_fetch_add(&shared.ls_reserved, 1) < conf.lc_requests ? 0 : -1;
}

static int
load_exhausted(void)
{
	return conf.lc_requests > 0 && atomic_load(&shared.ls_reserved) >= conf.lc_requests;
}

/* ---------------------------------------------------------------- connections */

static void
conn_close(struct load_conn *cn, int polite)
{
	if (cn->cn_ssl != NULL) {
		/* close_notify, best effort: the socket is non-blocking. */
		if (polite && SSL_is_init_finished(cn->cn_ssl))
			(void)SSL_shutdown(cn->cn_ssl);
		SSL_free(cn->cn_ssl);
		cn->cn_ssl = NULL;
	}
	if (cn->cn_fd != -1) {
		close(cn->cn_fd);
		cn->cn_fd = -1;
	}
	cn->cn_registered = 0;
	cn->cn_events = 0;
	cn->cn_deadline = 0;
	ERR_clear_error();
}

/* The slot is finished for good. */
static void
conn_finish(struct load_conn *cn)
{
	conn_close(cn, 1);
	cn->cn_state = CONN_DONE;
	cn->cn_worker->lw_live--;
}

static enum step conn_fail(struct load_conn *, enum load_err, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Count an error and close.  Keep-alive and handshake slots rest, then
 * start over (worker_scan); an idle-mode slot is lost, as the benchmark
 * wants to know how many connections the server really holds.
 */
static enum step
conn_fail(struct load_conn *cn, enum load_err kind, const char *fmt, ...)
{
	struct load_worker *w = cn->cn_worker;
	enum conn_state was = cn->cn_state;
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	load_error(w, kind, "%s (%s)", msg, conn_state_names[was]);
	conn_close(cn, 0);

	if (conf.lc_mode == MODE_IDLE) {
		if (was != CONN_HOLD) {
			w->lw_inflight--;
			w->lw_idle_failed++;
		} else
			w->lw_hold_failed++;
		cn->cn_state = CONN_DONE;
		w->lw_live--;
		return STEP_WAIT;
	}
	cn->cn_state = CONN_BACKOFF;
	cn->cn_wake = w->lw_now + LOAD_BACKOFF;
	return STEP_WAIT;
}

/* A failed SSL_* call: say why, from errno, the error queue or the verifier. */
static enum step
conn_fail_ssl(struct load_conn *cn, const char *what, int err)
{
	char reason[200] = "";
	unsigned long e;
	long vr;
	int saved = errno;

	if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		snprintf(reason, sizeof(reason), "%s",
		    saved != 0 ? strerror(saved) : "unexpected EOF");
	else if ((e = ERR_get_error()) != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	else
		snprintf(reason, sizeof(reason), "SSL error %d", err);
	if (cn->cn_ssl != NULL && (vr = SSL_get_verify_result(cn->cn_ssl)) != X509_V_OK)
		return conn_fail(cn, LERR_TLS, "%s: %s: server certificate: %s", what, reason,
		    X509_verify_cert_error_string(vr));
	return conn_fail(cn, LERR_TLS, "%s: %s", what, reason);
}

/* Wait for events (level-triggered); only tell epoll when they change. */
static enum step
conn_wait(struct load_conn *cn, uint32_t events)
{
	struct epoll_event ev;

	if (cn->cn_registered && cn->cn_events == events)
		return STEP_WAIT;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = cn;
	if (epoll_ctl(cn->cn_worker->lw_epfd, cn->cn_registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
	    cn->cn_fd, &ev) == -1)
		return conn_fail(cn, LERR_CONNECT, "epoll_ctl: %s", strerror(errno));
	cn->cn_registered = 1;
	cn->cn_events = events;
	return STEP_WAIT;
}

static enum step
conn_wait_ssl(struct load_conn *cn, int err)
{
	return conn_wait(cn, err == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN);
}

/* Start writing a request; the response parser starts over. */
static enum step
conn_request(struct load_conn *cn, int post)
{
	if (post) {
		cn->cn_wbuf = shared.ls_post;
		cn->cn_wlen = shared.ls_postlen;
		cn->cn_body_left = conf.lc_upload;
	} else {
		cn->cn_wbuf = shared.ls_get;
		cn->cn_wlen = shared.ls_getlen;
		cn->cn_body_left = 0;
	}
	cn->cn_woff = 0;
	resp_init(&cn->cn_resp);
	cn->cn_state = CONN_SEND;
	cn->cn_deadline = cn->cn_worker->lw_now + LOAD_IO_TIMEOUT;
	return STEP_NEXT;
}

/* A CONN_READY slot may start its next request. */
static enum step
conn_begin(struct load_conn *cn)
{
	int post = 0;

	if (load_reserve() == -1) {
		conn_finish(cn);
		return STEP_WAIT;
	}
	switch (conf.lc_mode) {
	case MODE_HANDSHAKE:
		return conn_open(cn);
	case MODE_BULK:
		if (conf.lc_upload > 0) {
			post = cn->cn_upload_next;
			cn->cn_upload_next = !post;
		}
		/* FALLTHROUGH */
	default:
		cn->cn_start = load_now();
		return conn_request(cn, post);
	}
}

/*
 * Keep-alive connections (and handshake-mode slots, which have no socket)
 * wait here for the token bucket, or go straight on without --rate.
 */
static enum step
conn_ready(struct load_conn *cn)
{
	struct load_worker *w = cn->cn_worker;

	cn->cn_state = CONN_READY;
	cn->cn_deadline = 0;
	if (conf.lc_rate <= 0)
		return conn_begin(cn);
	/* Do not wait for a token only to learn there is nothing left to send. */
	if (load_exhausted()) {
		conn_finish(cn);
		return STEP_WAIT;
	}
	if (!cn->cn_queued) {
		cn->cn_queued = 1;
		cn->cn_qnext = NULL;
		if (w->lw_qtail != NULL)
			w->lw_qtail->cn_qnext = cn;
		else
			w->lw_qhead = cn;
		w->lw_qtail = cn;
	}
	if (cn->cn_fd == -1)
		return STEP_WAIT;
	/* Bytes OpenSSL read ahead would never wake epoll: look now. */
	if (SSL_has_pending(cn->cn_ssl))
		return STEP_NEXT;
	/* Readable while waiting: a ticket, or the server closing. */
	return conn_wait(cn, EPOLLIN);
}

static enum step
conn_hold(struct load_conn *cn)
{
	struct load_worker *w = cn->cn_worker;

	w->lw_inflight--;
	w->lw_established++;
	atomic_fetch_add(&shared.ls_established, 1);
	if (!conf.lc_idle_request)
		worker_sample(w, load_now() - cn->cn_start);
	cn->cn_state = CONN_HOLD;
	cn->cn_deadline = 0;
	if (SSL_has_pending(cn->cn_ssl))
		return STEP_NEXT;
	return conn_wait(cn, EPOLLIN);
}

/*
 * Open a TCP connection for the slot.  In handshake and idle mode the
 * latency sample starts here, so it covers connect and handshake.
 */
static enum step
conn_open(struct load_conn *cn)
{
	struct load_worker *w = cn->cn_worker;
	int fd, one = 1;

	if (conf.lc_mode == MODE_HANDSHAKE || conf.lc_mode == MODE_IDLE)
		cn->cn_start = load_now();
	cn->cn_state = CONN_CONNECT;
	cn->cn_deadline = w->lw_now + LOAD_IO_TIMEOUT;
	fd = socket(conf.lc_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return conn_fail(cn, LERR_CONNECT, "socket: %s", strerror(errno));
	cn->cn_fd = fd;
	/* Requests are one write each; Nagle would only add latency. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&conf.lc_addr, conf.lc_addrlen) == -1) {
		if (errno != EINPROGRESS)
			return conn_fail(cn, LERR_CONNECT, "connect: %s", strerror(errno));
		return conn_wait(cn, EPOLLOUT);
	}
	return STEP_NEXT;
}

static int
conn_tls_new(struct load_conn *cn)
{
	struct load_certpair *cp;
	SSL *ssl;

	if ((ssl = SSL_new(shared.ls_ctx)) == NULL)
		return -1;
	cn->cn_ssl = ssl;
	if (SSL_set_fd(ssl, cn->cn_fd) != 1)
		return -1;
	/* RFC 6066: no IP literals in SNI. */
	if (!shared.ls_sni_is_ip && SSL_set_tlsext_host_name(ssl, conf.lc_sni) != 1)
		return -1;
	if (shared.ls_npairs > 0) {
		cp = &shared.ls_pairs[atomic_fetch_add(&shared.ls_pair_next, 1) % shared.ls_npairs];
		if (SSL_use_certificate(ssl, cp->cp_cert) != 1 ||
		    SSL_use_PrivateKey(ssl, cp->cp_key) != 1)
			return -1;
	}
	SSL_set_connect_state(ssl);
	return 0;
}

static enum step
conn_connected(struct load_conn *cn)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(cn->cn_fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0)
		return conn_fail(cn, LERR_CONNECT, "connect: %s", strerror(err));
	if (conn_tls_new(cn) == -1)
		return conn_fail_ssl(cn, "SSL_new", SSL_ERROR_SSL);
	cn->cn_state = CONN_HANDSHAKE;
	cn->cn_deadline = cn->cn_worker->lw_now + LOAD_IO_TIMEOUT;
	return STEP_NEXT;
}

static enum step
conn_handshake(struct load_conn *cn)
{
	int r, err;

	ERR_clear_error();
	if ((r = SSL_connect(cn->cn_ssl)) != 1) {
		err = SSL_get_error(cn->cn_ssl, r);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			return conn_wait_ssl(cn, err);
		return conn_fail_ssl(cn, "handshake", err);
	}
	cn->cn_worker->lw_handshakes++;
	switch (conf.lc_mode) {
	case MODE_HANDSHAKE:
		return conn_request(cn, 0);
	case MODE_IDLE:
		if (conf.lc_idle_request)
			return conn_request(cn, 0);
		return conn_hold(cn);
	default:
		return conn_ready(cn);
	}
}

/*
 * Write the request head, then the body from a static buffer.  Without
 * SSL_MODE_ENABLE_PARTIAL_WRITE, SSL_write() takes all of a call or
 * nothing, and a retry after WANT_WRITE passes the same buffer, as it must.
 */
static enum step
conn_send(struct load_conn *cn)
{
	struct load_worker *w = cn->cn_worker;
	const void *p;
	size_t len;
	int n, err, body;

	while (cn->cn_woff < cn->cn_wlen || cn->cn_body_left > 0) {
		body = cn->cn_woff == cn->cn_wlen;
		if (!body) {
			p = cn->cn_wbuf + cn->cn_woff;
			len = cn->cn_wlen - cn->cn_woff;
		} else {
			p = load_body;
			len = cn->cn_body_left < sizeof(load_body) ?
			    (size_t)cn->cn_body_left : sizeof(load_body);
		}
		ERR_clear_error();
		if ((n = SSL_write(cn->cn_ssl, p, (int)len)) <= 0) {
			err = SSL_get_error(cn->cn_ssl, n);
			if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
				return conn_wait_ssl(cn, err);
			return conn_fail_ssl(cn, "write", err);
		}
		if (body) {
			cn->cn_body_left -= (uint64_t)n;
			w->lw_bytes_out += (uint64_t)n;
		} else
			cn->cn_woff += (size_t)n;
		cn->cn_deadline = w->lw_now + LOAD_IO_TIMEOUT;
	}
	cn->cn_state = CONN_RECV;
	/*
	 * The server cannot have answered yet: wait instead of a read(2) that
	 * would say EAGAIN.  Only what OpenSSL holds would not wake epoll.
	 */
	if (SSL_has_pending(cn->cn_ssl))
		return STEP_NEXT;
	return conn_wait(cn, EPOLLIN);
}

/* A response is complete: sample it, then on to the next request. */
static enum step
conn_response_done(struct load_conn *cn)
{
	struct load_worker *w = cn->cn_worker;
	struct resp *rp = &cn->cn_resp;

	if (rp->rp_status < 200 || rp->rp_status > 299)
		load_error(w, LERR_STATUS, "HTTP status %d", rp->rp_status);
	else {
		w->lw_requests++;
		worker_sample(w, load_now() - cn->cn_start);
	}
	if (conf.lc_mode == MODE_IDLE) {
		if (rp->rp_close)
			return conn_fail(cn, LERR_PROTO, "server closes after the request");
		return conn_hold(cn);
	}
	/* Handshake mode asked for the close; the server may also decide on its own. */
	if (conf.lc_mode == MODE_HANDSHAKE || rp->rp_close) {
		cn->cn_state = CONN_DRAIN;
		cn->cn_deadline = w->lw_now + LOAD_DRAIN;
		return STEP_NEXT;
	}
	return conn_ready(cn);
}

/* The connection is over: the slot goes on with a new one. */
static enum step
conn_next(struct load_conn *cn, int polite)
{
	conn_close(cn, polite);
	if (conf.lc_mode == MODE_HANDSHAKE)
		return conn_ready(cn);
	return conn_open(cn);
}

/*
 * After a response that ends the connection, wait for the server's EOF
 * and close without a close_notify of our own (see the top of the file).
 * The request has succeeded already: only data is an error here.
 */
static enum step
conn_drain(struct load_conn *cn)
{
	struct load_worker *w = cn->cn_worker;
	int n, err;

	/* A close-delimited body saw the EOF already. */
	if (cn->cn_ssl == NULL)
		return conn_next(cn, 0);
	ERR_clear_error();
	if ((n = SSL_read(cn->cn_ssl, w->lw_buf, sizeof(w->lw_buf))) > 0)
		return conn_fail(cn, LERR_PROTO, "%d bytes after the response", n);
	err = SSL_get_error(cn->cn_ssl, n);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return conn_wait_ssl(cn, err);
	return conn_next(cn, 0);
}

static enum step
conn_recv(struct load_conn *cn)
{
	struct load_worker *w = cn->cn_worker;
	struct resp *rp = &cn->cn_resp;
	uint64_t before;
	size_t used;
	int n, r, err;

	for (;;) {
		ERR_clear_error();
		if ((n = SSL_read(cn->cn_ssl, w->lw_buf, sizeof(w->lw_buf))) <= 0) {
			err = SSL_get_error(cn->cn_ssl, n);
			if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
				return conn_wait_ssl(cn, err);
			if (err != SSL_ERROR_ZERO_RETURN)
				return conn_fail_ssl(cn, "read", err);
			/* SSL_OP_IGNORE_UNEXPECTED_EOF: a bare FIN lands here too. */
			if (rp->rp_state == RESP_BODY_EOF) {
				rp->rp_state = RESP_DONE;
				/* The EOF is here already: nothing to drain. */
				conn_close(cn, 0);
				return conn_response_done(cn);
			}
			return conn_fail(cn, LERR_PROTO, "server closed the connection %s",
			    rp->rp_state == RESP_STATUS && rp->rp_head == 0 ?
			    "before responding" : "mid-response");
		}
		before = rp->rp_body;
		r = resp_feed(rp, w->lw_buf, (size_t)n, &used);
		w->lw_bytes_in += rp->rp_body - before;
		cn->cn_deadline = w->lw_now + LOAD_IO_TIMEOUT;
		if (r == -1)
			return conn_fail(cn, LERR_PROTO, "malformed response");
		if (r == 1) {
			/* We never pipeline, so nothing may follow. */
			if (used != (size_t)n)
				return conn_fail(cn, LERR_PROTO, "%zu bytes after the response",
				    (size_t)n - used);
			return conn_response_done(cn);
		}
	}
}

/*
 * A waiting connection (CONN_READY with --rate, CONN_HOLD) became readable:
 * TLS 1.3 tickets are fine, data is not, and EOF means the server closed
 * it.  A keep-alive connection the server closed between requests is simply
 * opened again; a held one is an error.
 */
static enum step
conn_probe(struct load_conn *cn)
{
	struct load_worker *w = cn->cn_worker;
	int n, err;

	ERR_clear_error();
	if ((n = SSL_read(cn->cn_ssl, w->lw_buf, sizeof(w->lw_buf))) > 0)
		return conn_fail(cn, LERR_PROTO, "%d unexpected bytes from the server", n);
	err = SSL_get_error(cn->cn_ssl, n);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return conn_wait_ssl(cn, err);
	if (err != SSL_ERROR_ZERO_RETURN)
		return conn_fail_ssl(cn, "read while idle", err);
	if (cn->cn_state == CONN_HOLD)
		return conn_fail(cn, LERR_PROTO, "server closed a held connection");
	conn_close(cn, 0);
	return conn_open(cn);
}

/* Run the connection until it has to wait. */
static void
conn_run(struct load_conn *cn)
{
	enum step s;

	do {
		switch (cn->cn_state) {
		case CONN_CONNECT:
			s = conn_connected(cn);
			break;
		case CONN_HANDSHAKE:
			s = conn_handshake(cn);
			break;
		case CONN_SEND:
			s = conn_send(cn);
			break;
		case CONN_RECV:
			s = conn_recv(cn);
			break;
		case CONN_READY:
		case CONN_HOLD:
			s = cn->cn_ssl != NULL ? conn_probe(cn) : STEP_WAIT;
			break;
		case CONN_DRAIN:
			s = conn_drain(cn);
			break;
		default:
			s = STEP_WAIT;
			break;
		}
	} while (s == STEP_NEXT);
}

static void
conn_event(struct load_conn *cn, uint32_t events)
{
	/* SO_ERROR reads 0 while a connect is still under way. */
	if (cn->cn_state == CONN_CONNECT && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		return;
	conn_run(cn);
}

/* ---------------------------------------------------------------- workers */

/* --rate: start waiting requests as the bucket fills. */
static void
worker_dispatch(struct load_worker *w)
{
	struct load_conn *cn;
	uint64_t now = w->lw_now;

	while (w->lw_qhead != NULL && (now >= w->lw_tb_next || load_exhausted())) {
		cn = w->lw_qhead;
		w->lw_qhead = cn->cn_qnext;
		if (w->lw_qhead == NULL)
			w->lw_qtail = NULL;
		cn->cn_queued = 0;
		/* It reconnected or failed since it queued; it queues again when ready. */
		if (cn->cn_state != CONN_READY)
			continue;
		/* --requests are all out: the waiting slots finish without a token. */
		if (load_exhausted()) {
			conn_finish(cn);
			continue;
		}
		/*
		 * A bucket LOAD_BURST deep: epoll's millisecond timeout makes
		 * fast rates come in small bursts, yet an idle spell must not
		 * save up a flood.
		 */
		if (now > LOAD_BURST && w->lw_tb_next < now - LOAD_BURST)
			w->lw_tb_next = now - LOAD_BURST;
		w->lw_tb_next += w->lw_tb_interval;
		if (conn_begin(cn) == STEP_NEXT)
			conn_run(cn);
	}
}

/* Timeouts and the end of backoffs: a linear pass every LOAD_SCAN_EVERY. */
static void
worker_scan(struct load_worker *w)
{
	struct load_conn *cn;
	enum step s;
	int i;

	w->lw_next_scan = w->lw_now + LOAD_SCAN_EVERY;
	for (i = 0; i < w->lw_nconns; i++) {
		cn = &w->lw_conns[i];
		if (cn->cn_state == CONN_BACKOFF) {
			if (w->lw_now < cn->cn_wake)
				continue;
			if (conf.lc_mode == MODE_HANDSHAKE)
				s = conn_ready(cn);
			else
				s = conn_open(cn);
			if (s == STEP_NEXT)
				conn_run(cn);
		} else if (cn->cn_deadline != 0 && w->lw_now >= cn->cn_deadline) {
			/*
			 * A server that keeps the connection after all: we
			 * close.  Not an error, but it holds the slot and so
			 * caps the rate: say so once.
			 */
			if (cn->cn_state == CONN_DRAIN) {
				if (atomic_exchange(&shared.ls_drain_warned, 1) == 0)
					fprintf(stderr, "ktp-load: warning: the server kept a "
					    "connection open after \"Connection: close\"; "
					    "closing it after %llu ms\n",
					    (unsigned long long)(LOAD_DRAIN / NSEC_PER_MSEC));
				if (conn_next(cn, 1) == STEP_NEXT)
					conn_run(cn);
				continue;
			}
			conn_fail(cn, LERR_TIMEOUT, "no progress for %llu s",
			    (unsigned long long)(LOAD_IO_TIMEOUT / NSEC_PER_SEC));
		}
	}
}

/* Idle mode: this worker's connections are all up or failed. */
static void
worker_idle_settle(struct load_worker *w)
{
	w->lw_settled = 1;
	if (atomic_fetch_add(&shared.ls_settled, w->lw_nconns) + w->lw_nconns !=
	    conf.lc_connections)
		return;
	/* The last worker to settle starts the hold for all of them. */
	shared.ls_setup_end = w->lw_now;
	fprintf(stderr, "ktp-load: idle: %d connections established\n",
	    atomic_load(&shared.ls_established));
	atomic_store(&shared.ls_hold_until,
	    w->lw_now + (uint64_t)(conf.lc_hold * NSEC_PER_SEC));
}

/* Idle mode, --duration is up: whatever is not established has failed. */
static void
worker_idle_expire(struct load_worker *w)
{
	struct load_conn *cn;
	int i, lost = 0;

	for (i = 0; i < w->lw_next_slot; i++) {
		cn = &w->lw_conns[i];
		if (cn->cn_state == CONN_HOLD || cn->cn_state == CONN_DONE)
			continue;
		conn_close(cn, 0);
		cn->cn_state = CONN_DONE;
		w->lw_live--;
		w->lw_inflight--;
		lost++;
	}
	lost += w->lw_nconns - w->lw_next_slot;
	w->lw_next_slot = w->lw_nconns;
	if (lost == 0)
		return;
	w->lw_idle_failed += lost;
	w->lw_errors[LERR_TIMEOUT] += (uint64_t)lost - 1;
	load_error(w, LERR_TIMEOUT, "%d connections not established within --duration", lost);
}

/* Idle mode, set-up phase: keep --concurrency handshakes going. */
static void
worker_idle_step(struct load_worker *w)
{
	struct load_conn *cn;

	if (w->lw_settled)
		return;
	if (w->lw_now >= shared.ls_deadline)
		worker_idle_expire(w);
	while (w->lw_inflight < w->lw_inflight_max && w->lw_next_slot < w->lw_nconns) {
		cn = &w->lw_conns[w->lw_next_slot++];
		w->lw_inflight++;
		if (conn_open(cn) == STEP_NEXT)
			conn_run(cn);
	}
	if ((int)w->lw_established + w->lw_idle_failed == w->lw_nconns)
		worker_idle_settle(w);
}

static int
worker_over(struct load_worker *w)
{
	uint64_t hold;

	if (conf.lc_mode == MODE_IDLE) {
		hold = atomic_load(&shared.ls_hold_until);
		return hold != 0 && w->lw_now >= hold;
	}
	return w->lw_now >= shared.ls_deadline || w->lw_live == 0;
}

/* Milliseconds epoll may sleep: until the next scan, token or end. */
static int
worker_timeout(struct load_worker *w)
{
	uint64_t until = w->lw_next_scan, hold;

	if (w->lw_qhead != NULL && w->lw_tb_next < until)
		until = w->lw_tb_next;
	if (shared.ls_deadline < until && !(conf.lc_mode == MODE_IDLE && w->lw_settled))
		until = shared.ls_deadline;
	hold = atomic_load(&shared.ls_hold_until);
	if (hold != 0 && hold < until)
		until = hold;
	if (until <= w->lw_now)
		return 0;
	return (int)((until - w->lw_now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC);
}

static void
worker_start(struct load_worker *w)
{
	struct load_conn *cn;
	enum step s;
	int i;

	for (i = 0; i < w->lw_nconns; i++) {
		cn = &w->lw_conns[i];
		switch (conf.lc_mode) {
		case MODE_HANDSHAKE:
			s = conn_ready(cn);
			break;
		case MODE_RPS:
		case MODE_BULK:
			s = conn_open(cn);
			break;
		default:
			/* idle: worker_idle_step() paces the opening */
			return;
		}
		if (s == STEP_NEXT)
			conn_run(cn);
	}
}

static void *
worker_main(void *arg)
{
	struct load_worker *w = arg;
	struct epoll_event evs[LOAD_EVENTS];
	int i, n;

	w->lw_now = load_now();
	w->lw_next_scan = w->lw_now + LOAD_SCAN_EVERY;
	w->lw_tb_next = shared.ls_start;
	worker_start(w);
	for (;;) {
		w->lw_now = load_now();
		if (worker_over(w))
			break;
		if (conf.lc_mode == MODE_IDLE)
			worker_idle_step(w);
		if (w->lw_qhead != NULL)
			worker_dispatch(w);
		if (w->lw_now >= w->lw_next_scan)
			worker_scan(w);
		n = epoll_wait(w->lw_epfd, evs, LOAD_EVENTS, worker_timeout(w));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "ktp-load: epoll_wait: %s\n", strerror(errno));
			break;
		}
		w->lw_now = load_now();
		for (i = 0; i < n; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
	}
	w->lw_end = w->lw_now;
	for (i = 0; i < w->lw_nconns; i++) {
		enum conn_state st = w->lw_conns[i].cn_state;

		conn_close(&w->lw_conns[i], st == CONN_READY || st == CONN_HOLD);
	}
	return NULL;
}

/* ---------------------------------------------------------------- set-up */

static int
load_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("ktp-load: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nktp-load: see ktp-load --help\n", stderr);
	return -1;
}

static int
load_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, int suffix,
    uint64_t *out)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		goto fail;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		goto fail;
	if (suffix && *end != '\0' && end[1] == '\0') {
		switch (*end) {
		case 'k': case 'K': mult = 1ULL << 10; end++; break;
		case 'm': case 'M': mult = 1ULL << 20; end++; break;
		case 'g': case 'G': mult = 1ULL << 30; end++; break;
		}
	}
	if (*end != '\0' || v > max / mult || v * mult < min)
		goto fail;
	*out = v * mult;
	return 0;
fail:
	return load_usage_error("--%s: \"%s\" is not a whole number from %llu to %llu", opt, s,
	    (unsigned long long)min, (unsigned long long)max);
}

static int
load_parse_int(const char *opt, const char *s, int min, int max, int *out)
{
	uint64_t v;

	if (load_parse_u64(opt, s, (uint64_t)min, (uint64_t)max, 0, &v) == -1)
		return -1;
	*out = (int)v;
	return 0;
}

static int
load_parse_secs(const char *opt, const char *s, double min, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= min) || v > 86400 * 365)
		return load_usage_error("--%s: \"%s\" is not a number of seconds", opt, s);
	*out = v;
	return 0;
}

/* A path or name going into the request head must not carry CR, LF or spaces. */
static int
load_check_token(const char *opt, const char *s, int path)
{
	const char *p;

	if (*s == '\0' || (path && *s != '/'))
		return load_usage_error("--%s: \"%s\" must %s", opt, s,
		    path ? "start with /" : "not be empty");
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return load_usage_error("--%s: no spaces or control characters", opt);
	return 0;
}

/* "IP:PORT" or "[IPv6]:PORT", numeric only: no resolver in a benchmark. */
static int
load_parse_addr(const char *s)
{
	struct addrinfo hints, *ai = NULL;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	size_t hlen;
	int r;

	if (colon == NULL || colon == s || colon[1] == '\0')
		return load_usage_error("--connect: \"%s\" is not IP:PORT", s);
	hlen = (size_t)(colon - s);
	if (s[0] == '[' && colon[-1] == ']') {
		s++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return load_usage_error("--connect: \"%s\" is not IP:PORT", s);
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	if ((r = getaddrinfo(host, colon + 1, &hints, &ai)) != 0)
		return load_usage_error("--connect: \"%s\": %s", s, gai_strerror(r));
	memcpy(&conf.lc_addr, ai->ai_addr, ai->ai_addrlen);
	conf.lc_addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

enum {
	OPT_CONNECT = 256, OPT_SNI, OPT_CA, OPT_CERT, OPT_KEY, OPT_MODE, OPT_CONCURRENCY,
	OPT_DURATION, OPT_REQUESTS, OPT_PATH, OPT_UPLOAD, OPT_UPLOAD_PATH, OPT_RATE,
	OPT_CONNECTIONS, OPT_HOLD, OPT_IDLE_REQUEST, OPT_CERTS_GLOB, OPT_TLS13, OPT_TLS12,
	OPT_THREADS, OPT_JSON,
};

/* Returns 0, 1 for --help, -1 on a usage error (already reported). */
static int
load_parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, OPT_CONNECT },
		{ "sni", required_argument, NULL, OPT_SNI },
		{ "ca", required_argument, NULL, OPT_CA },
		{ "cert", required_argument, NULL, OPT_CERT },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "concurrency", required_argument, NULL, OPT_CONCURRENCY },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "requests", required_argument, NULL, OPT_REQUESTS },
		{ "path", required_argument, NULL, OPT_PATH },
		{ "upload", required_argument, NULL, OPT_UPLOAD },
		{ "upload-path", required_argument, NULL, OPT_UPLOAD_PATH },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "connections", required_argument, NULL, OPT_CONNECTIONS },
		{ "hold", required_argument, NULL, OPT_HOLD },
		{ "idle-request", no_argument, NULL, OPT_IDLE_REQUEST },
		{ "certs-glob", required_argument, NULL, OPT_CERTS_GLOB },
		{ "tls13", no_argument, NULL, OPT_TLS13 },
		{ "tls12", no_argument, NULL, OPT_TLS12 },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *mode = NULL;
	int c, i, seen_rate = 0, seen_conns = 0, seen_hold = 0, seen_upload_path = 0;
	uint64_t v;

	conf.lc_concurrency = 16;
	conf.lc_duration = 10;
	conf.lc_upload_path = "/upload";
	conf.lc_connections = 1000;
	conf.lc_hold = 5;
	conf.lc_threads = 1;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_CONNECT: conf.lc_connect = optarg; break;
		case OPT_SNI: conf.lc_sni = optarg; break;
		case OPT_CA: conf.lc_ca = optarg; break;
		case OPT_CERT: conf.lc_cert = optarg; break;
		case OPT_KEY: conf.lc_key = optarg; break;
		case OPT_MODE: mode = optarg; break;
		case OPT_CONCURRENCY:
			if (load_parse_int("concurrency", optarg, 1, 1000000, &conf.lc_concurrency) == -1)
				return -1;
			break;
		case OPT_DURATION:
			if (load_parse_secs("duration", optarg, 0.001, &conf.lc_duration) == -1)
				return -1;
			break;
		case OPT_REQUESTS:
			if (load_parse_u64("requests", optarg, 1, UINT64_MAX / 2, 0,
			    &conf.lc_requests) == -1)
				return -1;
			break;
		case OPT_PATH: conf.lc_path = optarg; break;
		case OPT_UPLOAD:
			if (load_parse_u64("upload", optarg, 0, 1ULL << 50, 1, &conf.lc_upload) == -1)
				return -1;
			break;
		case OPT_UPLOAD_PATH:
			conf.lc_upload_path = optarg;
			seen_upload_path = 1;
			break;
		case OPT_RATE:
			if (load_parse_u64("rate", optarg, 1, 100000000, 0, &v) == -1)
				return -1;
			conf.lc_rate = (double)v;
			seen_rate = 1;
			break;
		case OPT_CONNECTIONS:
			if (load_parse_int("connections", optarg, 1, 10000000, &conf.lc_connections) == -1)
				return -1;
			seen_conns = 1;
			break;
		case OPT_HOLD:
			if (load_parse_secs("hold", optarg, 0, &conf.lc_hold) == -1)
				return -1;
			seen_hold = 1;
			break;
		case OPT_IDLE_REQUEST: conf.lc_idle_request = 1; break;
		case OPT_CERTS_GLOB: conf.lc_certs_glob = optarg; break;
		case OPT_TLS13:
		case OPT_TLS12:
			if (conf.lc_version != 0)
				return load_usage_error("--tls12 and --tls13: pick one");
			conf.lc_version = c == OPT_TLS13 ? TLS1_3_VERSION : TLS1_2_VERSION;
			break;
		case OPT_THREADS:
			if (load_parse_int("threads", optarg, 1, 1024, &conf.lc_threads) == -1)
				return -1;
			break;
		case OPT_JSON: conf.lc_json = 1; break;
		case 'h': return 1;
		default: return load_usage_error("unknown option");
		}
	}
	if (optind < argc)
		return load_usage_error("unexpected argument \"%s\"", argv[optind]);

	if (mode == NULL)
		return load_usage_error("--mode is required (handshake, rps, bulk or idle)");
	for (i = 0; i <= MODE_IDLE; i++)
		if (strcmp(mode, load_mode_names[i]) == 0)
			break;
	if (i > MODE_IDLE)
		return load_usage_error("--mode: \"%s\" is not handshake, rps, bulk or idle", mode);
	conf.lc_mode = (enum load_mode)i;

	if (conf.lc_connect == NULL || conf.lc_sni == NULL || conf.lc_ca == NULL)
		return load_usage_error("--connect, --sni and --ca are required");
	if ((conf.lc_cert == NULL) != (conf.lc_key == NULL))
		return load_usage_error("--cert and --key go together");
	if (conf.lc_cert == NULL && conf.lc_certs_glob == NULL)
		return load_usage_error("--cert and --key (or --certs-glob) are required");
	if (load_parse_addr(conf.lc_connect) == -1 || load_check_token("sni", conf.lc_sni, 0) == -1)
		return -1;
	if (conf.lc_path == NULL)
		conf.lc_path = conf.lc_mode == MODE_BULK ? "/big" : "/small";
	if (load_check_token("path", conf.lc_path, 1) == -1 ||
	    load_check_token("upload-path", conf.lc_upload_path, 1) == -1)
		return -1;

	/* Options of another mode are more likely a mistake than a wish. */
	if (conf.lc_mode != MODE_BULK && (conf.lc_upload > 0 || seen_upload_path))
		return load_usage_error("--upload and --upload-path are for --mode bulk");
	if (conf.lc_mode != MODE_IDLE && (seen_conns || seen_hold || conf.lc_idle_request))
		return load_usage_error("--connections, --hold and --idle-request are for --mode idle");
	if (conf.lc_mode == MODE_IDLE && (seen_rate || conf.lc_requests > 0))
		return load_usage_error("--rate and --requests are not for --mode idle");
	if (conf.lc_threads > conf.lc_concurrency)
		return load_usage_error("--threads %d is more than --concurrency %d",
		    conf.lc_threads, conf.lc_concurrency);
	if (conf.lc_mode == MODE_IDLE && conf.lc_threads > conf.lc_connections)
		return load_usage_error("--threads %d is more than --connections %d",
		    conf.lc_threads, conf.lc_connections);
	return 0;
}

/*
 * Idle mode holds thousands of sockets: take the hard limit, and say so
 * up front if even that is too small.
 */
static int
load_raise_nofile(void)
{
	struct rlimit rl;
	rlim_t need;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 0;
	rl.rlim_cur = rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 0;
	need = (rlim_t)(conf.lc_mode == MODE_IDLE ? conf.lc_connections : conf.lc_concurrency) +
	    (rlim_t)conf.lc_threads + 32;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		fprintf(stderr, "ktp-load: %llu connections need about %llu file descriptors, "
		    "RLIMIT_NOFILE allows %llu (raise the hard limit: ulimit -Hn)\n",
		    (unsigned long long)(need - conf.lc_threads - 32),
		    (unsigned long long)need, (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

static void
load_ssl_errors(void)
{
	char buf[256];
	unsigned long e;

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, "ktp-load:   %s\n", buf);
	}
}

/* The key beside a certificate: "x.crt" or "x.pem" -> "x.key", else "x" + ".key". */
static int
load_key_path(const char *cert, char *buf, size_t len)
{
	size_t n = strlen(cert);
	int r;

	if (n > 4 && (strcmp(cert + n - 4, ".crt") == 0 || strcmp(cert + n - 4, ".pem") == 0))
		n -= 4;
	r = snprintf(buf, len, "%.*s.key", (int)n, cert);
	return r < 0 || (size_t)r >= len ? -1 : 0;
}

/* Preload every pair, so a connection only points at them. */
static int
load_certs_glob(void)
{
	char keypath[4096];
	glob_t g;
	FILE *f = NULL;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	size_t i;
	int r;

	if ((r = glob(conf.lc_certs_glob, 0, NULL, &g)) != 0) {
		fprintf(stderr, "ktp-load: --certs-glob \"%s\": %s\n", conf.lc_certs_glob,
		    r == GLOB_NOMATCH ? "matches no file" : "glob failed");
		return -1;
	}
	if ((shared.ls_pairs = calloc(g.gl_pathc, sizeof(*shared.ls_pairs))) == NULL)
		goto fail;
	for (i = 0; i < g.gl_pathc; i++) {
		const char *path = g.gl_pathv[i];

		if (load_key_path(path, keypath, sizeof(keypath)) == -1)
			goto fail;
		if ((f = fopen(path, "r")) == NULL || (x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
			fprintf(stderr, "ktp-load: %s: no certificate%s%s\n", path, f ? "" : ": ",
			    f ? "" : strerror(errno));
			goto fail;
		}
		fclose(f);
		if ((f = fopen(keypath, "r")) == NULL ||
		    (k = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL) {
			fprintf(stderr, "ktp-load: %s: no key%s%s\n", keypath, f ? "" : ": ",
			    f ? "" : strerror(errno));
			goto fail;
		}
		fclose(f);
		f = NULL;
		if (X509_check_private_key(x, k) != 1) {
			fprintf(stderr, "ktp-load: %s does not match %s\n", keypath, path);
			goto fail;
		}
		shared.ls_pairs[i].cp_cert = x;
		shared.ls_pairs[i].cp_key = k;
		shared.ls_npairs++;
		x = NULL;
		k = NULL;
	}
	globfree(&g);
	return 0;
fail:
	load_ssl_errors();
	if (f != NULL)
		fclose(f);
	X509_free(x);
	EVP_PKEY_free(k);
	globfree(&g);
	return -1;
}

/* One SSL_CTX for every connection of every worker. */
static int
load_tls_init(void)
{
	X509_VERIFY_PARAM *param;
	unsigned char ip[16];
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto fail;
	if (!SSL_CTX_set_min_proto_version(ctx, conf.lc_version ? conf.lc_version : TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, conf.lc_version))
		goto fail;
	/*
	 * Every handshake is a full one: no tickets, no session cache, and we
	 * never call SSL_set_session().  A bare FIN reads as EOF, because
	 * servers closing keep-alive connections often skip close_notify.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* Fewer read(2) calls for bulk bodies; conn_ready() checks what is buffered. */
	SSL_CTX_set_read_ahead(ctx, 1);

	if (SSL_CTX_load_verify_locations(ctx, conf.lc_ca, NULL) != 1) {
		fprintf(stderr, "ktp-load: --ca %s: cannot load\n", conf.lc_ca);
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* Set once here; SSL_new() copies it, as SSL_set1_host() would per connection. */
	param = SSL_CTX_get0_param(ctx);
	shared.ls_sni_is_ip = inet_pton(AF_INET, conf.lc_sni, ip) == 1 ||
	    inet_pton(AF_INET6, conf.lc_sni, ip) == 1;
	if (shared.ls_sni_is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(param, conf.lc_sni) != 1)
			goto fail;
	} else {
		X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (X509_VERIFY_PARAM_set1_host(param, conf.lc_sni, 0) != 1)
			goto fail;
	}

	if (conf.lc_cert != NULL) {
		if (SSL_CTX_use_certificate_chain_file(ctx, conf.lc_cert) != 1) {
			fprintf(stderr, "ktp-load: --cert %s: cannot load\n", conf.lc_cert);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, conf.lc_key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			fprintf(stderr, "ktp-load: --key %s: cannot load, or does not match --cert\n",
			    conf.lc_key);
			goto fail;
		}
	}
	if (conf.lc_certs_glob != NULL && load_certs_glob() == -1)
		goto fail;
	shared.ls_ctx = ctx;
	return 0;
fail:
	load_ssl_errors();
	SSL_CTX_free(ctx);
	return -1;
}

static int
load_requests_init(void)
{
	int n;

	/* Handshake mode says it will close, so the server need not wait for us. */
	n = asprintf(&shared.ls_get, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ktp-load\r\n%s\r\n",
	    conf.lc_path, conf.lc_sni,
	    conf.lc_mode == MODE_HANDSHAKE ? "Connection: close\r\n" : "");
	if (n == -1)
		return -1;
	shared.ls_getlen = (size_t)n;
	if (conf.lc_mode == MODE_BULK && conf.lc_upload > 0) {
		n = asprintf(&shared.ls_post, "POST %s HTTP/1.1\r\nHost: %s\r\n"
		    "User-Agent: ktp-load\r\nContent-Type: application/octet-stream\r\n"
		    "Content-Length: %llu\r\n\r\n", conf.lc_upload_path, conf.lc_sni,
		    (unsigned long long)conf.lc_upload);
		if (n == -1)
			return -1;
		shared.ls_postlen = (size_t)n;
	}
	memset(load_body, 'x', sizeof(load_body));
	return 0;
}

/* ---------------------------------------------------------------- report */

static int
load_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted microsecond samples, in milliseconds. */
static double
load_percentile(const uint32_t *s, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(p * (double)n);
	if ((double)k < p * (double)n)
		k++;
	if (k == 0)
		k = 1;
	return s[k - 1] / 1000.0;
}

static int
load_report(struct load_worker *workers)
{
	uint64_t hs = 0, req = 0, in = 0, out = 0, errs = 0, lost = 0, end = 0;
	uint64_t kinds[LERR__COUNT] = { 0 };
	uint32_t *all = NULL;
	size_t nall = 0, off = 0;
	double secs, p50, p99;
	int i, k, conns, hold_failed = 0;

	for (i = 0; i < conf.lc_threads; i++) {
		struct load_worker *w = &workers[i];

		hs += w->lw_handshakes;
		req += w->lw_requests;
		in += w->lw_bytes_in;
		out += w->lw_bytes_out;
		lost += w->lw_samples_lost;
		for (k = 0; k < LERR__COUNT; k++)
			kinds[k] += w->lw_errors[k];
		nall += w->lw_nsamples;
		hold_failed += w->lw_hold_failed;
		if (w->lw_end > end)
			end = w->lw_end;
	}
	for (k = 0; k < LERR__COUNT; k++)
		errs += kinds[k];
	if (nall > 0 && (all = malloc(nall * sizeof(*all))) == NULL) {
		fprintf(stderr, "ktp-load: no memory to sort %zu samples\n", nall);
		nall = 0;
	}
	for (i = 0; i < conf.lc_threads && all != NULL; i++) {
		memcpy(all + off, workers[i].lw_samples, workers[i].lw_nsamples * sizeof(*all));
		off += workers[i].lw_nsamples;
	}
	if (nall > 0)
		qsort(all, nall, sizeof(*all), load_cmp_u32);
	p50 = load_percentile(all, nall, 0.50);
	p99 = load_percentile(all, nall, 0.99);
	free(all);

	/*
	 * Idle mode's rate is the set-up's; the hold is not work.  Its
	 * connections are those still held at the end: under TLS 1.3 a server
	 * rejects a client certificate only after the client's handshake is
	 * done, so a rejected one was "established" and then lost.
	 */
	if (conf.lc_mode == MODE_IDLE) {
		if (shared.ls_setup_end != 0)
			end = shared.ls_setup_end;
		conns = atomic_load(&shared.ls_established) - hold_failed;
	} else
		conns = conf.lc_concurrency;
	secs = end > shared.ls_start ? (double)(end - shared.ls_start) / NSEC_PER_SEC : 0;
#define RATE(x)	(secs > 0 ? (double)(x) / secs : 0.0)

	if (conf.lc_json) {
		printf("{\"mode\":\"%s\",\"seconds\":%.2f,\"connections\":%d,\"handshakes\":%llu,"
		    "\"requests\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,\"errors\":%llu,"
		    "\"handshakes_per_s\":%.1f,\"requests_per_s\":%.1f,\"bytes_per_s\":%.0f,"
		    "\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n",
		    load_mode_names[conf.lc_mode], secs, conns, (unsigned long long)hs,
		    (unsigned long long)req, (unsigned long long)in, (unsigned long long)out,
		    (unsigned long long)errs, RATE(hs), RATE(req), RATE(in + out), p50, p99);
	} else {
		printf("ktp-load: %s against %s (%s), %d connection%s, %d thread%s, %.2f s%s\n",
		    load_mode_names[conf.lc_mode], conf.lc_connect, conf.lc_sni, conns,
		    conns == 1 ? "" : "s", conf.lc_threads, conf.lc_threads == 1 ? "" : "s", secs,
		    conf.lc_mode == MODE_IDLE ? " to set up" : "");
		printf("  handshakes  %12llu  %12.1f/s\n", (unsigned long long)hs, RATE(hs));
		printf("  requests    %12llu  %12.1f/s\n", (unsigned long long)req, RATE(req));
		printf("  bytes in    %12llu  %12.1f MiB/s\n", (unsigned long long)in,
		    RATE(in) / (1 << 20));
		printf("  bytes out   %12llu  %12.1f MiB/s\n", (unsigned long long)out,
		    RATE(out) / (1 << 20));
		printf("  latency     p50 %.3f ms, p99 %.3f ms (%zu samples%s)\n", p50, p99, nall,
		    conf.lc_mode == MODE_IDLE && !conf.lc_idle_request ? ", handshakes" : "");
		printf("  errors      %12llu\n", (unsigned long long)errs);
	}
#undef RATE
	/* The breakdown goes to stderr, so that --json stays one line on stdout. */
	if (errs > 0) {
		fprintf(stderr, "ktp-load: errors:");
		for (k = 0; k < LERR__COUNT; k++)
			fprintf(stderr, " %s %llu%s", load_err_names[k], (unsigned long long)kinds[k],
			    k + 1 < LERR__COUNT ? "," : "\n");
	}
	if (lost > 0)
		fprintf(stderr, "ktp-load: %llu latency samples lost (no memory)\n",
		    (unsigned long long)lost);
	return errs > 0 ? 1 : 0;
}

/* ---------------------------------------------------------------- main */

/* The i-th of n shares of total, the remainder spread over the first ones. */
static int
load_share(int total, int n, int i)
{
	return total / n + (i < total % n);
}

int
main(int argc, char **argv)
{
	struct load_worker *workers = NULL;
	int i, r, started = 0, rc = 2;

	if ((r = load_parse_args(argc, argv)) != 0) {
		if (r == 1) {
			fputs(usage_text, stdout);
			return 0;
		}
		return 2;
	}
	/* A server closing on us must be an error to count, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (load_raise_nofile() == -1 || load_tls_init() == -1)
		return 2;
	if (load_requests_init() == -1)
		goto fail;
	if ((workers = calloc((size_t)conf.lc_threads, sizeof(*workers))) == NULL)
		goto fail;
	for (i = 0; i < conf.lc_threads; i++) {
		struct load_worker *w = &workers[i];
		int j;

		w->lw_id = i;
		w->lw_epfd = -1;
		w->lw_inflight_max = load_share(conf.lc_concurrency, conf.lc_threads, i);
		w->lw_nconns = conf.lc_mode == MODE_IDLE ?
		    load_share(conf.lc_connections, conf.lc_threads, i) : w->lw_inflight_max;
		w->lw_live = w->lw_nconns;
		if (conf.lc_rate > 0) {
			w->lw_tb_interval = (uint64_t)((double)NSEC_PER_SEC * conf.lc_threads /
			    conf.lc_rate);
			if (w->lw_tb_interval == 0)
				w->lw_tb_interval = 1;
		}
		if ((w->lw_conns = calloc((size_t)w->lw_nconns, sizeof(*w->lw_conns))) == NULL)
			goto fail;
		for (j = 0; j < w->lw_nconns; j++) {
			w->lw_conns[j].cn_worker = w;
			w->lw_conns[j].cn_fd = -1;
		}
		if ((w->lw_epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
			fprintf(stderr, "ktp-load: epoll_create1: %s\n", strerror(errno));
			goto fail;
		}
	}

	shared.ls_start = load_now();
	shared.ls_deadline = shared.ls_start + (uint64_t)(conf.lc_duration * NSEC_PER_SEC);
	for (i = 0; i < conf.lc_threads; i++) {
		if ((r = pthread_create(&workers[i].lw_thread, NULL, worker_main, &workers[i])) != 0) {
			fprintf(stderr, "ktp-load: pthread_create: %s\n", strerror(r));
			/* The ones running stop at --duration; idle mode would wait for this one. */
			if (conf.lc_mode == MODE_IDLE)
				_exit(2);
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(workers[i].lw_thread, NULL);
	if (started < conf.lc_threads)
		goto fail;
	rc = load_report(workers);
fail:
	if (rc == 2 && started == 0)
		fprintf(stderr, "ktp-load: set-up failed\n");
	for (i = 0; workers != NULL && i < conf.lc_threads; i++) {
		free(workers[i].lw_conns);
		free(workers[i].lw_samples);
		if (workers[i].lw_epfd != -1)
			close(workers[i].lw_epfd);
	}
	free(workers);
	for (size_t p = 0; p < shared.ls_npairs; p++) {
		X509_free(shared.ls_pairs[p].cp_cert);
		EVP_PKEY_free(shared.ls_pairs[p].cp_key);
	}
	free(shared.ls_pairs);
	free(shared.ls_get);
	free(shared.ls_post);
	SSL_CTX_free(shared.ls_ctx);
	return rc;
}
