/*
 * connlog.c - one line per connection, written when it closes.
 *
 * key=value pairs, values quoted when they hold spaces or quotes and with
 * control bytes escaped, so a certificate subject can never forge a line:
 *
 *   time=... client=IP:PORT dst=IP:PORT [listener=NAME] sni=NAME subject="..." issuer="..."
 *   serial=HEX ocsp=STATUS[,cached] client_tls=VER/CIPHER upstream_tls=VER/CIPHER path=userspace
 *   forged=minted|cached|held|not_requested requests=N bytes_in=N bytes_out=N handshake_ms=N
 *   duration_ms=N result=ok|error reason=TOKEN
 *
 * listener= is there when the config file has listener blocks: the
 * block's NAME.
 *
 * or, with --log-format json, one JSON object a line with the same keys in
 * the same order, counts as numbers, strings escaped by json.c (invalid
 * UTF-8 from a certificate becomes U+FFFD), "-" where the text says "-":
 *
 *   {"time":"...","client":"IP:PORT",...,"requests":1,...,"reason":"ok"}
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "json.h"
#include "tls.h"
#include "tproxy.h"
#include "worker.h"

struct line {
	char	 buf[8192];
	size_t	 len;
	bool	 json;
};

/* A JSON string value's escaped bytes at most: with the fixed keys, the
 * longest fields (subject, issuer, sni) still fit the buffer, so a line is
 * always a whole object.  A longer value is cut at a character. */
#define LINE_JSON_VALUE_MAX	2048

static void
line_raw(struct line *l, const char *s, size_t n)
{
	if (n > sizeof(l->buf) - 1 - l->len)
		n = sizeof(l->buf) - 1 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
line_field(struct line *l, const char *key, const char *value)
{
	bool quote = false;

	if (value == NULL || *value == '\0')
		value = "-";
	if (l->json) {
		char esc[LINE_JSON_VALUE_MAX + 1];
		size_t n = json_escape(esc, sizeof(esc), value);

		line_raw(l, l->len > 0 ? ",\"" : "{\"", 2);
		line_raw(l, key, strlen(key));
		line_raw(l, "\":\"", 3);
		line_raw(l, esc, n < sizeof(esc) ? n : strlen(esc));
		line_raw(l, "\"", 1);
		return;
	}
	for (const char *p = value; *p; p++)
		if (*p == ' ' || *p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f)
			quote = true;
	if (l->len > 0)
		line_raw(l, " ", 1);
	line_raw(l, key, strlen(key));
	line_raw(l, "=", 1);
	if (!quote) {
		line_raw(l, value, strlen(value));
		return;
	}
	line_raw(l, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		char esc[5];

		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = *p;
			line_raw(l, esc, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", *p);
			line_raw(l, esc, 4);
		} else {
			line_raw(l, (const char *)p, 1);
		}
	}
	line_raw(l, "\"", 1);
}

static void
line_u64(struct line *l, const char *key, unsigned long long v)
{
	char num[24];

	snprintf(num, sizeof(num), "%llu", v);
	if (!l->json) {
		line_field(l, key, num);
		return;
	}
	line_raw(l, l->len > 0 ? ",\"" : "{\"", 2);
	line_raw(l, key, strlen(key));
	line_raw(l, "\":", 2);
	line_raw(l, num, strlen(num));
}

void
connlog_write(struct conn *c)
{
	struct worker *w = c->c_worker;
	struct line l = { .len = 0, .json = w->w_cf->cf_log_json };
	char addr[64], now[40];
	struct timespec ts;
	struct tm tm;

	if (w->w_log_fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(now + strlen(now), sizeof(now) - strlen(now), ".%03ldZ", ts.tv_nsec / 1000000);
	line_field(&l, "time", now);
	line_field(&l, "client", tproxy_addr_str(&c->c_peer, addr, sizeof(addr)));
	line_field(&l, "dst", tproxy_addr_str(&c->c_dst, addr, sizeof(addr)));
	/* Only with listener blocks: without, there is one listener, and
	 * the lines stay as they were. */
	if (c->c_lis != NULL && c->c_lis->tc_lis_name != NULL)
		line_field(&l, "listener", c->c_lis->tc_lis_name);
	line_field(&l, "sni", c->c_sni);
	line_field(&l, "subject", c->c_have_ident ? c->c_ident.id_subject : NULL);
	line_field(&l, "issuer", c->c_have_ident ? c->c_ident.id_issuer : NULL);
	line_field(&l, "serial", c->c_have_ident ? c->c_ident.id_serial : NULL);
	line_field(&l, "ocsp", c->c_ocsp_log);
	line_field(&l, "client_tls", c->c_client_tls);
	line_field(&l, "upstream_tls", c->c_up_tls);
	line_field(&l, "upstream_session", c->c_up_tls[0] == '\0' ? NULL :
	    c->c_up_reused ? "reused" : c->c_up_resumed ? "resumed" : "new");
	line_field(&l, "upstream_kept", c->c_up_tls[0] == '\0' ? NULL :
	    c->c_up_kept ? "yes" : "no");
	line_field(&l, "path", c->c_ready_ms == 0 ? NULL :
	    c->c_mode == RELAY_KTLS ? "ktls" : "userspace");
	line_field(&l, "ktls_fallback", c->c_mode == RELAY_KTLS ? NULL : c->c_ktls_fallback);
	line_field(&l, "forged", c->c_forged);
	line_u64(&l, "requests", c->c_http.h_requests);
	line_u64(&l, "bytes_in", c->c_bytes_c2u);
	line_u64(&l, "bytes_out", c->c_bytes_u2c);
	line_u64(&l, "handshake_ms", c->c_ready_ms ? c->c_ready_ms - c->c_start_ms : 0);
	line_u64(&l, "duration_ms", w->w_now_ms - c->c_start_ms);
	line_field(&l, "result", c->c_failed ? "error" : "ok");
	line_field(&l, "reason", c->c_reason);
	if (l.json)
		line_raw(&l, "}", 1);
	l.buf[l.len++] = '\n';
	/* One write per line: with O_APPEND (or a pipe, up to PIPE_BUF) lines
	 * from different workers do not interleave. */
	if (write(w->w_log_fd, l.buf, l.len) < 0) {
		/* Nowhere better to say it; the counters still count. */
	}
}
