/*
 * metrics_http.c - GET /metrics on a loopback address (metrics_http.h).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "metrics.h"
#include "metrics_http.h"

#define METRICS_HTTP_DEADLINE_MS	2000
#define METRICS_HTTP_MAX_HEAD		4096

struct metrics_http {
	int				 mh_fd;		/* listening */
	int				 mh_stop_fd;	/* eventfd: stop the thread */
	pthread_t			 mh_thread;
	const struct stats_segment	*mh_stats;
};

/* A whole response with a body; HEAD leaves the body out. */
static void
metrics_http_response(char **resp, size_t *resp_len, const char *status, const char *type,
    const char *body, size_t body_len, int head_only)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (f == NULL) {
		*resp = NULL;
		*resp_len = 0;
		return;
	}
	fprintf(f, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nConnection: close\r\n\r\n", status, type, body_len);
	if (!head_only)
		fwrite(body, 1, body_len, f);
	if (fclose(f) != 0) {
		free(out);
		out = NULL;
		len = 0;
	}
	*resp = out;
	*resp_len = len;
}

void
metrics_http_answer(const struct stats_segment *stats, const char *req, size_t len,
    char **resp, size_t *resp_len)
{
	const char *sp1, *sp2, *eol = memchr(req, '\n', len);
	size_t mlen, tlen;
	int head;

	/* "METHOD SP TARGET SP VERSION": only the first line matters. */
	if (eol == NULL || (sp1 = memchr(req, ' ', eol - req)) == NULL ||
	    (sp2 = memchr(sp1 + 1, ' ', eol - sp1 - 1)) == NULL) {
		static const char msg[] = "a request line is METHOD TARGET HTTP/1.1\n";
		metrics_http_response(resp, resp_len, "400 Bad Request", "text/plain",
		    msg, sizeof(msg) - 1, 0);
		return;
	}
	mlen = sp1 - req;
	tlen = sp2 - sp1 - 1;
	head = mlen == 4 && memcmp(req, "HEAD", 4) == 0;
	if (!head && !(mlen == 3 && memcmp(req, "GET", 3) == 0)) {
		static const char msg[] = "only GET and HEAD\n";
		metrics_http_response(resp, resp_len, "405 Method Not Allowed", "text/plain",
		    msg, sizeof(msg) - 1, 0);
		return;
	}
	/* /metrics, with or without a query string (scrapers may add one). */
	if (!(tlen >= 8 && memcmp(sp1 + 1, "/metrics", 8) == 0 && (tlen == 8 || sp1[9] == '?'))) {
		static const char msg[] = "ktproxy serves /metrics only\n";
		metrics_http_response(resp, resp_len, "404 Not Found", "text/plain",
		    msg, sizeof(msg) - 1, head);
		return;
	}
	char *body = NULL;
	size_t body_len = 0;
	FILE *f = open_memstream(&body, &body_len);
	int bad = f == NULL || metrics_write_prometheus(f, stats) == -1;

	if (f != NULL && fclose(f) != 0)
		bad = 1;
	if (bad) {
		static const char msg[] = "out of memory\n";
		metrics_http_response(resp, resp_len, "500 Internal Server Error", "text/plain",
		    msg, sizeof(msg) - 1, head);
	} else {
		metrics_http_response(resp, resp_len, "200 OK", METRICS_CONTENT_TYPE, body,
		    body_len, head);
	}
	free(body);
}

/* Wait until fd is ready for events, the deadline passes (0) or stop is
 * asked (-1). */
static int
metrics_http_wait(struct metrics_http *m, int fd, short events, uint64_t deadline_ms)
{
	struct pollfd p[2] = { { .fd = fd, .events = events }, { .fd = m->mh_stop_fd, .events = POLLIN } };
	uint64_t now = clock_ms();
	int r;

	if (now >= deadline_ms)
		return 0;
	r = poll(p, 2, (int)(deadline_ms - now));
	if (r > 0 && (p[1].revents & POLLIN))
		return -1;
	return r > 0 ? 1 : r == 0 ? 0 : (errno == EINTR ? 1 : 0);
}

/* One connection: read a head, answer, close.  -1: stop asked. */
static int
metrics_http_serve(struct metrics_http *m, int fd)
{
	uint64_t deadline = clock_ms() + METRICS_HTTP_DEADLINE_MS;
	char head[METRICS_HTTP_MAX_HEAD + 1];
	size_t len = 0, off = 0, resp_len;
	char *resp;
	int r;

	/* Up to the blank line that ends the head; a body is not read. */
	while (len < METRICS_HTTP_MAX_HEAD) {
		ssize_t n;

		if ((r = metrics_http_wait(m, fd, POLLIN, deadline)) <= 0)
			return r;
		if ((n = recv(fd, head + len, METRICS_HTTP_MAX_HEAD - len, MSG_DONTWAIT)) < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return 0;
		}
		if (n == 0)
			break;
		len += n;
		head[len] = '\0';
		if (strstr(head, "\r\n\r\n") != NULL || strstr(head, "\n\n") != NULL)
			break;
	}
	metrics_http_answer(m->mh_stats, head, len, &resp, &resp_len);
	while (resp != NULL && off < resp_len) {
		ssize_t n;

		if ((r = metrics_http_wait(m, fd, POLLOUT, deadline)) <= 0) {
			free(resp);
			return r;
		}
		n = send(fd, resp + off, resp_len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
		if (n > 0)
			off += n;
	}
	free(resp);
	return 0;
}

static void *
metrics_http_main(void *arg)
{
	struct metrics_http *m = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = m->mh_fd, .events = POLLIN },
		    { .fd = m->mh_stop_fd, .events = POLLIN } };
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "ktproxy: --metrics: poll: %s; the endpoint stops\n",
			    strerror(errno));
			return NULL;
		}
		if (p[1].revents & POLLIN)
			return NULL;
		if ((fd = accept4(m->mh_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
			continue;	/* ECONNABORTED, EAGAIN...: the next one */
		}
		int r = metrics_http_serve(m, fd);
		close(fd);
		if (r == -1)
			return NULL;
	}
}

struct metrics_http *
metrics_http_start(const struct sockaddr_storage *addr, socklen_t len, const char *addr_str,
    const struct stats_segment *stats)
{
	struct metrics_http *m = calloc(1, sizeof(*m));
	int one = 1, r;

	if (m == NULL) {
		fprintf(stderr, "ktproxy: --metrics: out of memory\n");
		return NULL;
	}
	m->mh_stats = stats;
	m->mh_stop_fd = -1;
	if ((m->mh_fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1 ||
	    setsockopt(m->mh_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(m->mh_fd, (const struct sockaddr *)addr, len) == -1 ||
	    listen(m->mh_fd, 16) == -1) {
		fprintf(stderr, "ktproxy: --metrics %s: %s\n", addr_str, strerror(errno));
		goto fail;
	}
	if ((m->mh_stop_fd = eventfd(0, EFD_CLOEXEC)) == -1) {
		fprintf(stderr, "ktproxy: --metrics: eventfd: %s\n", strerror(errno));
		goto fail;
	}
	if ((r = pthread_create(&m->mh_thread, NULL, metrics_http_main, m)) != 0) {
		fprintf(stderr, "ktproxy: --metrics: pthread_create: %s\n", strerror(r));
		goto fail;
	}
	return m;
fail:
	if (m->mh_fd != -1)
		close(m->mh_fd);
	if (m->mh_stop_fd != -1)
		close(m->mh_stop_fd);
	free(m);
	return NULL;
}

void
metrics_http_stop(struct metrics_http *m)
{
	uint64_t one = 1;

	if (m == NULL)
		return;
	if (write(m->mh_stop_fd, &one, sizeof(one)) != sizeof(one)) {
		/* The thread runs on: leave it what it uses. */
		fprintf(stderr, "ktproxy: --metrics: cannot stop the thread: %s\n", strerror(errno));
		return;
	}
	pthread_join(m->mh_thread, NULL);
	close(m->mh_fd);
	close(m->mh_stop_fd);
	free(m);
}
