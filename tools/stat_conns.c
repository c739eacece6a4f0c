/*
 * stat_conns.c - ktproxy-stat --conns (stat_conns.h).
 *
 * Each worker's region of the connection table is copied (seqlock, see
 * conntab.h), then every TCP socket of this network namespace is dumped
 * once through sock_diag, and each connection's two legs are found in it
 * by 4-tuple: the client leg is local = original destination, remote = the
 * client (TPROXY keeps the destination on the accepted socket); the
 * upstream leg is local = the address ktproxy published, remote = the
 * original destination.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "conn.h"
#include "conntab.h"
#include "json.h"
#include "sockdiag.h"
#include "stat_conns.h"

static const char *
stat_conns_state(uint8_t state)
{
	switch (state) {
	case CONN_CLIENT_HANDSHAKE: return "client_handshake";
	case CONN_UPSTREAM_CONNECT: return "upstream_connect";
	case CONN_UPSTREAM_HANDSHAKE: return "upstream_handshake";
	case CONN_UPSTREAM_FAILED: return "upstream_failed";
	case CONN_RELAY: return "relay";
	case CONN_LINGER: return "linger";
	case CONN_CLOSING: return "closing";
	default: return "?";
	}
}

static const char *
stat_conns_upstream(uint8_t up)
{
	return up == CONNTAB_UP_CONNECTED ? "connected" : up == CONNTAB_UP_KEPT_IDLE ? "kept_idle" : "-";
}

static const char *
stat_conns_path(uint8_t path)
{
	return path == CONNTAB_PATH_KTLS ? "ktls" : path == CONNTAB_PATH_USERSPACE ? "userspace" : "-";
}

/* "10.0.0.1:443" or "[2001:db8::1]:443". */
static void
stat_conns_addr(char *buf, size_t len, uint8_t family, const uint8_t *addr, uint16_t port)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(family, addr, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}

/* "45s", "12m03s", "3h07m". */
static void
stat_conns_age(char *buf, size_t len, uint64_t ms)
{
	uint64_t s = ms / 1000;

	if (s < 60)
		snprintf(buf, len, "%" PRIu64 ".%01" PRIu64 "s", s, ms % 1000 / 100);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
}

static void
stat_conns_json_kernel(const char *key, const struct sockdiag_sock *s)
{
	char tls[64];

	printf(",\"%s\":", key);
	if (s == NULL) {
		printf("null");
		return;
	}
	sockdiag_tls_str(s, tls, sizeof(tls));
	/* rtt_us 0: the kernel sent no tcp_info for it. */
	printf("{\"rtt_us\":%u,\"bytes_acked\":%" PRIu64 ",\"bytes_received\":%" PRIu64
	    ",\"ulp\":", s->sd_has_info ? s->sd_rtt_us : 0, s->sd_bytes_acked,
	    s->sd_bytes_received);
	json_put_string(stdout, s->sd_ulp[0] ? s->sd_ulp : "-");
	printf(",\"tls\":");
	json_put_string(stdout, tls);
	printf("}");
}

static void
stat_conns_one(const struct conntab_entry *e, unsigned worker, uint64_t now_ms,
    const struct sockdiag_list *kernel, int json, int first)
{
	const struct sockdiag_sock *kc = NULL, *ku = NULL;
	char client[64], dst[64], age[24], rtt[16], ktc[64], ktu[64];
	uint64_t age_ms = now_ms > e->ce_start_ms ? now_ms - e->ce_start_ms : 0;

	if (kernel != NULL) {
		kc = sockdiag_find(kernel, e->ce_family, e->ce_dst, e->ce_dst_port,
		    e->ce_peer, e->ce_peer_port);
		if (e->ce_has_up)
			ku = sockdiag_find(kernel, e->ce_family, e->ce_up_local, e->ce_up_port,
			    e->ce_dst, e->ce_dst_port);
	}
	stat_conns_addr(client, sizeof(client), e->ce_family, e->ce_peer, e->ce_peer_port);
	stat_conns_addr(dst, sizeof(dst), e->ce_family, e->ce_dst, e->ce_dst_port);
	if (json) {
		printf("%s{\"worker\":%u,\"client\":\"%s\",\"dst\":\"%s\",\"state\":\"%s\",\"path\":\"%s\"",
		    first ? "" : ",", worker, client, dst, stat_conns_state(e->ce_state),
		    stat_conns_path(e->ce_path));
		printf(",\"upstream\":\"%s\",\"ktls_fallback\":", stat_conns_upstream(e->ce_up_state));
		json_put_string(stdout, e->ce_fallback[0] ? e->ce_fallback : "-");
		printf(",\"subject\":");
		json_put_string(stdout, e->ce_subject[0] ? e->ce_subject : "-");
		printf(",\"san\":");
		json_put_string(stdout, e->ce_san[0] ? e->ce_san : "-");
		printf(",\"client_tls\":");
		json_put_string(stdout, e->ce_client_tls[0] ? e->ce_client_tls : "-");
		printf(",\"age_ms\":%" PRIu64 ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
		    ",\"requests\":%" PRIu64, age_ms, e->ce_bytes_c2u, e->ce_bytes_u2c, e->ce_requests);
		stat_conns_json_kernel("kernel_client", kc);
		stat_conns_json_kernel("kernel_upstream", ku);
		printf("}\n");
		return;
	}
	stat_conns_age(age, sizeof(age), age_ms);
	if (kc != NULL && kc->sd_has_info)
		snprintf(rtt, sizeof(rtt), "%.3f", kc->sd_rtt_us / 1000.0);
	else
		snprintf(rtt, sizeof(rtt), "-");
	sockdiag_tls_str(kc, ktc, sizeof(ktc));
	sockdiag_tls_str(ku, ktu, sizeof(ktu));
	/* Between requests the upstream socket is the pool's, not this
	 * connection's: say so rather than "-". */
	if (e->ce_up_state == CONNTAB_UP_KEPT_IDLE)
		snprintf(ktu, sizeof(ktu), "(kept idle)");
	/* The identity last: it is the one column of any length.  Control
	 * bytes would be the terminal's to interpret: shown escaped. */
	char subj[sizeof(e->ce_subject) * 6], san[sizeof(e->ce_san) * 6];
	json_escape(subj, sizeof(subj), e->ce_subject[0] ? e->ce_subject : "-");
	json_escape(san, sizeof(san), e->ce_san);
	printf("%-22s %-22s %-18s %-9s %8s %10" PRIu64 " %10" PRIu64 " %7s  %-28s %-28s %s%s%s%s\n",
	    client, dst, stat_conns_state(e->ce_state), stat_conns_path(e->ce_path), age,
	    e->ce_bytes_c2u, e->ce_bytes_u2c, rtt, ktc, ktu, subj,
	    san[0] ? " (" : "", san, san[0] ? ")" : "");
}

int
stat_conns(const char *stats_path, int json)
{
	struct conntab t = { 0 };
	struct conntab_region *r;
	struct sockdiag_list kernel = { 0 };
	char path[4096], err[512];
	struct timespec ts;
	uint64_t now_ms, listed = 0, total = 0;
	int have_kernel, first = 1;

	if (conntab_path(path, sizeof(path), stats_path) == -1) {
		fprintf(stderr, "ktproxy-stat: --stats %s: path too long\n", stats_path);
		return 1;
	}
	if (conntab_open(&t, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "ktproxy-stat: %s\n", err);
		return 1;
	}
	if ((r = malloc(sizeof(*r))) == NULL) {
		fprintf(stderr, "ktproxy-stat: out of memory\n");
		conntab_close(&t);
		return 1;
	}
	/* The kernel's view is a help, not a need: without it (no
	 * CAP_NET_ADMIN is needed for TCP, but a sandbox may refuse netlink)
	 * its columns say "-". */
	if (!(have_kernel = sockdiag_dump(&kernel, err, sizeof(err)) == 0))
		fprintf(stderr, "ktproxy-stat: no kernel view of the sockets: %s\n", err);
	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (json)
		printf("[");
	else
		printf("%-22s %-22s %-18s %-9s %8s %10s %10s %7s  %-28s %-28s %s\n", "CLIENT",
		    "DESTINATION", "STATE", "PATH", "AGE", "BYTES_IN", "BYTES_OUT", "RTT_MS",
		    "KERNEL_TLS_CLIENT", "KERNEL_TLS_UPSTREAM", "IDENTITY");
	for (unsigned w = 0; w < t.ct_hdr->ch_nworkers; w++) {
		if (conntab_read(&t, w, r) == -1) {
			fprintf(stderr, "ktproxy-stat: worker %u kept rewriting its connections; "
			    "left out\n", w);
			continue;
		}
		for (uint32_t i = 0; i < r->cr_count; i++) {
			stat_conns_one(&r->cr_entries[i], w, now_ms, have_kernel ? &kernel : NULL,
			    json, first);
			first = 0;
		}
		listed += r->cr_count;
		total += r->cr_total;
	}
	if (json)
		printf("]\n");
	else
		printf("%" PRIu64 " connection%s%s (as of the workers' last second)\n", total,
		    total == 1 ? "" : "s", total > listed ? ", the first listed" : "");
	if (total > listed && !json)
		printf("%" PRIu64 " not listed: more than %u on a worker\n", total - listed,
		    CONNTAB_SLOTS);
	sockdiag_free(&kernel);
	free(r);
	conntab_close(&t);
	return 0;
}
