/*
 * test_metrics.c - the Prometheus exposition is valid text format 0.0.4.
 *
 * The output is parsed back line by line: every sample belongs to a family
 * declared by one HELP and one TYPE line before it, names are legal, label
 * values are quoted, and the values are the segment's sums.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "metrics.h"
#include "metrics_http.h"

static int
name_ok(const char *p, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)p[0]) || p[0] == '_' || p[0] == ':'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)p[i]) || p[i] == '_' || p[i] == ':'))
			return 0;
	return 1;
}

static char *
render(const struct stats_segment *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CHECK(f != NULL);
	CHECK(metrics_write_prometheus(f, s) == 0);
	fclose(f);
	return text;
}

/* Parse the exposition; count samples; check the value of one sample. */
static void
test_exposition_parses(void)
{
	char path[] = "/tmp/ktproxy-test-metrics.XXXXXX";
	struct stats_segment w = { 0 };
	char typed[128][96];
	int ntyped = 0, samples = 0, bad = 0, untyped = 0, dup_type = 0, found_expired = 0;
	int found_bytes = 0, found_accepted = 0;
	char *text, *line, *save = NULL;
	int fd = mkstemp(path);

	CHECK(fd != -1);
	close(fd);
	CHECK(stats_create(&w, path, 2) == 0);
	stats_add(stats_slab(&w, 0), STAT_conn_accepted, 5);
	stats_add(stats_slab(&w, 1), STAT_conn_accepted, 7);
	stats_add(stats_slab(&w, 1), STAT_hs_fail_expired, 3);
	stats_add(stats_slab(&w, 0), STAT_bytes_u2c, 1ULL << 40);
	text = render(&w);
	CHECK(text != NULL && text[strlen(text) - 1] == '\n');
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char name[96], kind[16];

			CHECK(sscanf(line + 7, "%95s %15s", name, kind) == 2);
			CHECK(strcmp(kind, "counter") == 0 || strcmp(kind, "gauge") == 0);
			CHECK(name_ok(name, strlen(name)));
			/* counters end in _total, gauges do not */
			CHECK((strcmp(kind, "counter") == 0) ==
			    (strlen(name) > 6 && strcmp(name + strlen(name) - 6, "_total") == 0));
			for (int i = 0; i < ntyped; i++)
				if (strcmp(typed[i], name) == 0)
					dup_type++;
			if (ntyped < 128)
				snprintf(typed[ntyped++], sizeof(typed[0]), "%s", name);
			continue;
		}
		CHECK(line[0] != '#');
		/* name{label="value",...} value */
		size_t n = strcspn(line, "{ ");
		char name[96];
		const char *p = line + n, *v;

		if (!name_ok(line, n) || n >= sizeof(name)) {
			bad++;
			continue;
		}
		memcpy(name, line, n);
		name[n] = '\0';
		if (ntyped == 0 || strcmp(typed[ntyped - 1], name) != 0)
			untyped++;	/* not right after its own TYPE's family */
		if (*p == '{') {
			p++;
			while (*p != '}') {
				size_t ln = strcspn(p, "=");

				if (!name_ok(p, ln) || p[ln + 1] != '"') {
					bad++;
					break;
				}
				p += ln + 2;
				while (*p && *p != '"')
					p += (*p == '\\' && p[1]) ? 2 : 1;
				if (*p != '"') {
					bad++;
					break;
				}
				p++;
				if (*p == ',')
					p++;
			}
			if (*p == '}')
				p++;
		}
		if (*p != ' ') {
			bad++;
			continue;
		}
		v = p + 1;
		char *end;
		unsigned long long val = strtoull(v, &end, 10);
		if (end == v || *end != '\0')
			bad++;
		samples++;
		if (strcmp(line, "ktproxy_connections_accepted_total 12") == 0)
			found_accepted = 1;
		if (strncmp(line, "ktproxy_client_handshake_failures_total{reason=\"expired\"} ", 58) == 0)
			found_expired = val == 3;
		if (strncmp(line, "ktproxy_bytes_total{direction=\"upstream_to_client\"} ", 52) == 0)
			found_bytes = val == 1ULL << 40;
	}
	CHECK(bad == 0);
	CHECK(untyped == 0);
	CHECK(dup_type == 0);
	CHECK(samples == STAT__COUNT + 2);
	CHECK(found_accepted);
	CHECK(found_expired);
	CHECK(found_bytes);
	free(text);
	stats_close(&w);
	unlink(path);
}

/* One family, one kind: a group must not mix counters and gauges. */
static void
test_group_kinds(void)
{
	for (int i = 1; i < STAT__COUNT; i++)
		if (strcmp(stats_info[i].sc_group, stats_info[i - 1].sc_group) == 0)
			CHECK(stats_info[i].sc_gauge == stats_info[i - 1].sc_gauge);
}

static char *
escaped(void (*put)(FILE *, const char *), const char *in)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	put(f, in);
	fclose(f);
	return text;
}

static void
test_escapers(void)
{
	char *s;

	s = escaped(metrics_put_label_value, "a\\b\"c\nd");
	CHECK_STREQ(s, "a\\\\b\\\"c\\nd");
	free(s);
	/* HELP leaves double quotes alone */
	s = escaped(metrics_put_help, "say \"hi\"\\\n");
	CHECK_STREQ(s, "say \"hi\"\\\\\\n");
	free(s);
	CHECK_STREQ(metrics_label_name("bytes"), "direction");
	CHECK_STREQ(metrics_label_name("client_handshake_failures"), "reason");
}

/* The endpoint's answers, without a socket. */
static void
test_http_answers(void)
{
	char path[] = "/tmp/ktproxy-test-metrics-http.XXXXXX";
	struct stats_segment w = { 0 };
	static const struct {
		const char	*req;
		const char	*status;
		int		 body;		/* has the exposition */
	} cases[] = {
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK\r\n", 1 },
		{ "GET /metrics?name[]=x HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK\r\n", 1 },
		{ "HEAD /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n", 0 },
		{ "GET /metricsx HTTP/1.1\r\n\r\n", "HTTP/1.1 404 ", 0 },
		{ "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 404 ", 0 },
		{ "POST /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 405 ", 0 },
		{ "garbage\r\n\r\n", "HTTP/1.1 400 ", 0 },
		{ "", "HTTP/1.1 400 ", 0 },
	};
	int fd = mkstemp(path);

	CHECK(fd != -1);
	close(fd);
	CHECK(stats_create(&w, path, 1) == 0);
	stats_add(stats_slab(&w, 0), STAT_conn_accepted, 3);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *resp = NULL;
		size_t len = 0;

		metrics_http_answer(&w, cases[i].req, strlen(cases[i].req), &resp, &len);
		CHECK(resp != NULL && len == strlen(resp));
		if (resp == NULL)
			continue;
		CHECK(strncmp(resp, cases[i].status, strlen(cases[i].status)) == 0);
		CHECK(strstr(resp, "\r\nConnection: close\r\n") != NULL);
		CHECK((strstr(resp, "\nktproxy_connections_accepted_total 3\n") != NULL) == cases[i].body);
		if (cases[i].body) {
			const char *body = strstr(resp, "\r\n\r\n") + 4;
			char want[64];

			snprintf(want, sizeof(want), "Content-Length: %zu\r\n", strlen(body));
			CHECK(strstr(resp, want) != NULL);
			CHECK(strstr(resp, "Content-Type: " METRICS_CONTENT_TYPE "\r\n") != NULL);
		}
		free(resp);
	}
	stats_close(&w);
	unlink(path);
}

int
main(void)
{
	test_http_answers();
	test_exposition_parses();
	test_group_kinds();
	test_escapers();
	return CHECK_DONE();
}
