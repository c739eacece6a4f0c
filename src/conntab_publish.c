/*
 * conntab_publish.c - a worker writes its live connections into its region
 * of the connection table (conntab.h), once a second from its tick.
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "conn.h"
#include "conntab.h"
#include "worker.h"

/* Address and port of a sockaddr_storage; 0 if it is neither v4 nor v6. */
static int
conntab_addr(const struct sockaddr_storage *ss, uint8_t *family, uint8_t addr[16], uint16_t *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		memcpy(addr, &sin->sin_addr, 4);
		*port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		memcpy(addr, &sin6->sin6_addr, 16);
		*port = ntohs(sin6->sin6_port);
	} else {
		return 0;
	}
	if (family != NULL)
		*family = ss->ss_family;
	return 1;
}

static void
conntab_str(char *dst, size_t len, const char *src)
{
	if (src == NULL)
		src = "";
	/* Cut, never leave a torn UTF-8 sequence at the end. */
	size_t n = strnlen(src, len - 1);
	if (n == len - 1)
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
conntab_fill(struct conntab_entry *e, const struct conn *c, uint64_t now_unix_ms, uint64_t now_ms)
{
	struct sockaddr_storage up;
	socklen_t uplen = sizeof(up);
	const struct ident *id = &c->c_ident;
	const char *san = NULL;

	memset(e, 0, sizeof(*e));
	conntab_addr(&c->c_peer, &e->ce_family, e->ce_peer, &e->ce_peer_port);
	conntab_addr(&c->c_dst, NULL, e->ce_dst, &e->ce_dst_port);
	/* The upstream socket's own address: the kernel's key for that leg.
	 * One getsockname per connection per second. */
	if (c->c_up.l_fd >= 0 && getsockname(c->c_up.l_fd, (struct sockaddr *)&up, &uplen) == 0)
		e->ce_has_up = conntab_addr(&up, NULL, e->ce_up_local, &e->ce_up_port);
	e->ce_up_state = c->c_up_detached ? CONNTAB_UP_KEPT_IDLE :
	    c->c_up.l_fd >= 0 ? CONNTAB_UP_CONNECTED : CONNTAB_UP_NONE;
	e->ce_state = c->c_state;
	if (c->c_relaying)
		e->ce_path = c->c_mode == RELAY_KTLS ? CONNTAB_PATH_KTLS : CONNTAB_PATH_USERSPACE;
	e->ce_start_ms = now_unix_ms - (now_ms - c->c_start_ms);
	e->ce_bytes_c2u = c->c_bytes_c2u;
	e->ce_bytes_u2c = c->c_bytes_u2c;
	e->ce_requests = c->c_http.h_requests;
	if (c->c_have_ident) {
		conntab_str(e->ce_subject, sizeof(e->ce_subject), id->id_subject);
		if (id->id_nuri > 0)
			san = id->id_uri[0];
		else if (id->id_ndns > 0)
			san = id->id_dns[0];
		else if (id->id_nemail > 0)
			san = id->id_email[0];
		conntab_str(e->ce_san, sizeof(e->ce_san), san);
	}
	if (e->ce_path == CONNTAB_PATH_USERSPACE)
		conntab_str(e->ce_fallback, sizeof(e->ce_fallback), c->c_ktls_fallback);
	conntab_str(e->ce_client_tls, sizeof(e->ce_client_tls), c->c_client_tls);
}

void
conntab_publish(struct worker *w)
{
	struct conntab_region *r = w->w_conntab;
	struct timespec ts;
	uint64_t now_unix_ms;
	uint32_t n = 0, total = 0;
	struct conn *c;

	if (r == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	now_unix_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	conntab_write_begin(r);
	TAILQ_FOREACH(c, &w->w_conns, c_entry) {
		if (c->c_state == CONN_CLOSING)
			continue;	/* gone but for requests in flight */
		total++;
		if (n < CONNTAB_SLOTS)
			conntab_fill(&r->cr_entries[n++], c, now_unix_ms, w->w_now_ms);
	}
	conntab_write_end(r, n, total, now_unix_ms);
}
