/*
 * metrics_http.h - the daemon's own Prometheus endpoint (--metrics).
 *
 * A thread of its own serves GET /metrics over plain HTTP/1.1 on a loopback
 * address (config.c refuses others): the exposition of metrics.c, read
 * from the same stats segment ktproxy-stat reads.  The workers never wait
 * for it; it reads their counters as any reader does.  One request per
 * connection, one connection at a time, each bounded by a 2 s deadline, so
 * a stuck scraper delays only the next scrape.
 */
#ifndef KTPROXY_METRICS_HTTP_H
#define KTPROXY_METRICS_HTTP_H

#include <sys/socket.h>

#include "stats.h"

struct metrics_http;

/* Bind and listen on addr, start the thread.  NULL after saying why on
 * stderr.  stats must outlive the server. */
struct metrics_http *metrics_http_start(const struct sockaddr_storage *addr, socklen_t len,
	    const char *addr_str, const struct stats_segment *stats);
/* Stop the thread, close the socket, free; NULL is fine. */
void	 metrics_http_stop(struct metrics_http *m);

/* The answer to one request head (for tests): fills *resp (malloc'd, to
 * free) and *resp_len. */
void	 metrics_http_answer(const struct stats_segment *stats, const char *req, size_t len,
	    char **resp, size_t *resp_len);

#endif
