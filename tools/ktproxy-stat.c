/*
 * ktproxy-stat - print the counters of a running ktproxy.
 *
 * Reads the shared-memory stats segment (see src/stats.h) and sums the
 * per-worker slabs.  Counters that share a group (one family split by
 * reason) are printed together, and nested in --json.  -w redraws the
 * counters with their rates every few seconds; --per-worker shows each
 * slab on its own, to see how connections spread over the workers.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "stat_conns.h"
#include "stats.h"

static const char usage_text[] =
"usage: ktproxy-stat [--stats FILE] [--json | --prometheus | -w SEC [-n COUNT]]\n"
"       ktproxy-stat [--stats FILE] --per-worker [--json]\n"
"       ktproxy-stat [--stats FILE] --conns [--json]\n"
"       ktproxy-stat --help\n"
"\n"
"Print the counters of a running ktproxy, summed over its workers (or worker\n"
"by worker, with --per-worker).\n"
"\n"
"  --stats FILE   the segment ktproxy was started with (default /run/ktproxy/stats)\n"
"  --json         one JSON object: plain counters as numbers, counters split by\n"
"                 reason as objects {\"reason\": n}, plus \"workers\", \"pid\" and\n"
"                 \"uptime_seconds\"\n"
"  --prometheus   the Prometheus text exposition format (version 0.0.4), the\n"
"                 same as ktproxy --metrics serves: ktproxy_<name>_total for\n"
"                 counters, ktproxy_<name> for gauges, a family split by\n"
"                 reason labelled reason=\"...\" (direction=\"...\" for bytes,\n"
"                 path=\"...\" for relay_path, result=\"...\" for client_ocsp),\n"
"                 plus ktproxy_workers and ktproxy_start_time_seconds\n"
"  --per-worker   each worker's counters on its own instead of the sums: one\n"
"                 row per counter (group{reason} for a family split by\n"
"                 reason), one column per worker (w0, w1, ...), and a\n"
"                 \"main\" column when the main thread counted anything shown\n"
"                 (signer_restarts, reloads, sk_lookup); counters that are 0\n"
"                 in every column are left out.  With --json: one object\n"
"                 {\"workers\": [...], \"main\": {...}, \"pid\", \"uptime_seconds\"},\n"
"                 each element of \"workers\" holding \"worker\" (its index) and\n"
"                 that worker's counters in the shape --json gives the totals;\n"
"                 \"main\" has the main thread's.  Workers plus main sum to the\n"
"                 totals.  Not with --prometheus, --conns or -w.\n"
"  --conns        list the live connections, as the workers published them in\n"
"                 their last second (FILE.conns): client, original destination,\n"
"                 state, path (ktls, userspace, \"-\" before the relay), age,\n"
"                 plaintext bytes in (client to upstream) and out, and the\n"
"                 client's identity (subject, first URI, DNS or email SAN).\n"
"                 Joined by address and port with the kernel's view of both\n"
"                 sockets (sock_diag): the client leg's RTT, and the TLS ULP the\n"
"                 kernel reports on each leg (version, cipher, tx/rx sw or hw),\n"
"                 \"-\" when the socket has none (\"(kept idle)\": between requests\n"
"                 the upstream connection waits in the keepalive pool).  Run\n"
"                 it in ktproxy's network namespace.  With --json: one array\n"
"                 of objects.\n"
"  -w, --watch SEC\n"
"                 live view: every SEC seconds (0.1 to 86400, fractions allowed)\n"
"                 print each counter's total and its rate per second over the\n"
"                 last interval (\"-\" for gauges, and after ktproxy restarted).\n"
"                 Counters split by reason are shown once non-zero.  On a\n"
"                 terminal the screen is redrawn; otherwise frames follow each\n"
"                 other, separated by a blank line, with no control codes.\n"
"                 The first frame comes after one interval.\n"
"  -n, --count COUNT\n"
"                 stop after COUNT frames (default: until interrupted); alone,\n"
"                 it implies -w 1\n"
"\n"
"Exit status: 0 on success, 1 when the segment cannot be read (ktproxy not\n"
"running, or another version), 2 on a usage error.\n";

/* Is counter i the first of its group? */
static int
stat_group_start(int i)
{
	return i == 0 || strcmp(stats_info[i].sc_group, stats_info[i - 1].sc_group) != 0;
}

static int
stat_group_end(int i)
{
	return i == STAT__COUNT - 1 || strcmp(stats_info[i].sc_group, stats_info[i + 1].sc_group) != 0;
}

static void
stat_print_text(const struct stats_segment *s)
{
	const struct stats_header *h = s->ss_hdr;

	printf("ktproxy pid %" PRId64 ", %u worker%s, up %llu s\n", h->sh_pid, h->sh_nworkers,
	    h->sh_nworkers == 1 ? "" : "s",
	    (unsigned long long)(time(NULL) - (time_t)h->sh_start_time));
	for (int i = 0; i < STAT__COUNT; i++) {
		const struct stats_counter_info *in = &stats_info[i];
		uint64_t v = stats_total(s, i);

		if (in->sc_reason[0] == '\0')
			printf("%-36s %14" PRIu64 "\n", in->sc_group, v);
		else {
			if (stat_group_start(i))
				printf("%s\n", in->sc_group);
			printf("  %-34s %14" PRIu64 "\n", in->sc_reason, v);
		}
	}
}

/* One value per counter, read once so that a row or an object is printed
 * from one snapshot. */
static void
stat_read_totals(const struct stats_segment *s, uint64_t v[STAT__COUNT])
{
	for (int i = 0; i < STAT__COUNT; i++)
		v[i] = stats_total(s, i);
}

static void
stat_read_slab(const struct stats_segment *s, unsigned slab, uint64_t v[STAT__COUNT])
{
	for (int i = 0; i < STAT__COUNT; i++)
		v[i] = stats_value(s, slab, i);
}

/* The counters as members of a JSON object the caller has opened; first:
 * they are its first members (no comma before).  Plain counters are
 * numbers, a family split by reason one object {"reason": n}. */
static void
stat_json_counters(const uint64_t v[STAT__COUNT], int first)
{
	for (int i = 0; i < STAT__COUNT; i++) {
		const struct stats_counter_info *in = &stats_info[i];
		const char *sep = i == 0 && first ? "" : ",";

		if (in->sc_reason[0] == '\0') {
			printf("%s\"%s\":%" PRIu64, sep, in->sc_group, v[i]);
			continue;
		}
		if (stat_group_start(i))
			printf("%s\"%s\":{", sep, in->sc_group);
		else
			printf(",");
		printf("\"%s\":%" PRIu64, in->sc_reason, v[i]);
		if (stat_group_end(i))
			printf("}");
	}
}

static void
stat_print_json(const struct stats_segment *s)
{
	const struct stats_header *h = s->ss_hdr;
	uint64_t v[STAT__COUNT];

	stat_read_totals(s, v);
	printf("{\"workers\":%u,\"pid\":%" PRId64 ",\"uptime_seconds\":%llu", h->sh_nworkers, h->sh_pid,
	    (unsigned long long)(time(NULL) - (time_t)h->sh_start_time));
	stat_json_counters(v, 0);
	printf("}\n");
}

/* --per-worker --json: each worker's slab in the shape of the totals, then
 * the main thread's (what the workers do not count: signer restarts,
 * reloads, sk_lookup); the slabs sum to the totals. */
static void
stat_print_json_per_worker(const struct stats_segment *s)
{
	const struct stats_header *h = s->ss_hdr;
	uint64_t v[STAT__COUNT];

	printf("{\"workers\":[");
	for (unsigned w = 0; w < h->sh_nworkers; w++) {
		stat_read_slab(s, w, v);
		printf("%s{\"worker\":%u", w == 0 ? "" : ",", w);
		stat_json_counters(v, 0);
		printf("}");
	}
	stat_read_slab(s, h->sh_nworkers, v);
	printf("],\"main\":{");
	stat_json_counters(v, 1);
	printf("},\"pid\":%" PRId64 ",\"uptime_seconds\":%llu}\n", h->sh_pid,
	    (unsigned long long)(time(NULL) - (time_t)h->sh_start_time));
}

/* --per-worker, text: one row per counter that is non-zero somewhere, one
 * column per worker, and a "main" column when the main thread's slab has
 * anything in the rows shown. */
static int
stat_print_text_per_worker(const struct stats_segment *s)
{
	const struct stats_header *h = s->ss_hdr;
	unsigned nslabs = h->sh_nslabs, ncols;
	uint64_t (*v)[STAT__COUNT];
	char label[STAT__COUNT][128], digits[32];
	int shown[STAT__COUNT], label_w = (int)strlen("counter"), *col_w, main_col = 0;

	if ((v = calloc(nslabs, sizeof(*v))) == NULL ||
	    (col_w = calloc(nslabs, sizeof(*col_w))) == NULL) {
		free(v);
		fprintf(stderr, "ktproxy-stat: %u slabs: out of memory\n", nslabs);
		return 1;
	}
	for (unsigned w = 0; w < nslabs; w++)
		stat_read_slab(s, w, v[w]);
	for (int i = 0; i < STAT__COUNT; i++) {
		const struct stats_counter_info *in = &stats_info[i];

		shown[i] = 0;
		for (unsigned w = 0; w < nslabs; w++)
			shown[i] |= v[w][i] != 0;
		if (!shown[i])
			continue;
		main_col |= v[h->sh_nworkers][i] != 0;
		if (in->sc_reason[0] == '\0')
			snprintf(label[i], sizeof(label[i]), "%s", in->sc_group);
		else
			snprintf(label[i], sizeof(label[i]), "%s{%s}", in->sc_group, in->sc_reason);
		if ((int)strlen(label[i]) > label_w)
			label_w = (int)strlen(label[i]);
	}
	ncols = main_col ? nslabs : h->sh_nworkers;
	/* Each column as wide as its widest number, or its name. */
	for (unsigned w = 0; w < ncols; w++) {
		col_w[w] = w == h->sh_nworkers ? (int)strlen("main") :
		    snprintf(digits, sizeof(digits), "w%u", w);
		for (int i = 0; i < STAT__COUNT; i++) {
			int n = snprintf(digits, sizeof(digits), "%" PRIu64, v[w][i]);

			if (shown[i] && n > col_w[w])
				col_w[w] = n;
		}
	}

	printf("ktproxy pid %" PRId64 ", %u worker%s, up %llu s\n", h->sh_pid, h->sh_nworkers,
	    h->sh_nworkers == 1 ? "" : "s",
	    (unsigned long long)(time(NULL) - (time_t)h->sh_start_time));
	printf("%-*s", label_w, "counter");
	for (unsigned w = 0; w < ncols; w++) {
		if (w == h->sh_nworkers)
			printf("  %*s", col_w[w], "main");
		else {
			snprintf(digits, sizeof(digits), "w%u", w);
			printf("  %*s", col_w[w], digits);
		}
	}
	putchar('\n');
	for (int i = 0; i < STAT__COUNT; i++) {
		if (!shown[i])
			continue;
		printf("%-*s", label_w, label[i]);
		for (unsigned w = 0; w < ncols; w++)
			printf("  %*" PRIu64, col_w[w], v[w][i]);
		putchar('\n');
	}
	free(col_w);
	free(v);
	return 0;
}

/* ---------------------------------------------------------------- -w */

/* The counters at one moment, and whose they were. */
struct stat_sample {
	int64_t		 ss_pid;
	uint64_t	 ss_start_time;
	unsigned	 ss_workers;
	struct timespec	 ss_taken;	/* CLOCK_MONOTONIC */
	uint64_t	 ss_v[STAT__COUNT];
};

/* The segment is opened afresh for every sample: a restarted ktproxy
 * renames a new one into place, and the view follows it. */
static int
stat_sample_take(const char *path, struct stat_sample *out, char *err, size_t errlen)
{
	struct stats_segment s = { 0 };

	if (stats_open(&s, path, err, errlen) == -1)
		return -1;
	out->ss_pid = s.ss_hdr->sh_pid;
	out->ss_start_time = s.ss_hdr->sh_start_time;
	out->ss_workers = s.ss_hdr->sh_nworkers;
	clock_gettime(CLOCK_MONOTONIC, &out->ss_taken);
	stat_read_totals(&s, out->ss_v);
	stats_close(&s);
	return 0;
}

static double
stat_seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* One frame: totals of cur, rates against prev. */
static void
stat_print_frame(const struct stat_sample *prev, const struct stat_sample *cur,
    double interval, int tty)
{
	double dt = stat_seconds_between(&prev->ss_taken, &cur->ss_taken);
	/* A different process (restart), or no time passed: no rate. */
	int rates = prev->ss_pid == cur->ss_pid && prev->ss_start_time == cur->ss_start_time &&
	    dt > 0;
	char now[32], rate[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (tty)
		fputs("\033[H\033[2J", stdout);	/* cursor home, clear screen */
	printf("ktproxy pid %" PRId64 ", %u worker%s, up %llu s; %s, every %g s\n",
	    cur->ss_pid, cur->ss_workers, cur->ss_workers == 1 ? "" : "s",
	    (unsigned long long)(t - (time_t)cur->ss_start_time), now, interval);
	printf("%-38s %14s %12s\n", "counter", "total", "per second");
	for (int i = 0; i < STAT__COUNT; i++) {
		const struct stats_counter_info *in = &stats_info[i];
		uint64_t v = cur->ss_v[i];

		if (!rates || in->sc_gauge || v < prev->ss_v[i])
			snprintf(rate, sizeof(rate), "-");
		else
			snprintf(rate, sizeof(rate), "%.1f", (double)(v - prev->ss_v[i]) / dt);
		if (in->sc_reason[0] == '\0') {
			printf("%-38s %14" PRIu64 " %12s\n", in->sc_group, v, rate);
			continue;
		}
		/* A family's reasons that never happened would fill the
		 * screen; the group line stays so the family is seen. */
		if (stat_group_start(i))
			printf("%s\n", in->sc_group);
		if (v != 0)
			printf("  %-36s %14" PRIu64 " %12s\n", in->sc_reason, v, rate);
	}
	if (!tty)
		putchar('\n');
	fflush(stdout);
}

/* -w: a frame every interval seconds, count frames (0: until killed).
 * Deadlines are absolute so the frames do not drift. */
static int
stat_watch(const char *path, double interval, long count)
{
	struct stat_sample prev, cur;
	struct timespec next;
	int tty = isatty(STDOUT_FILENO);
	char err[512];

	if (stat_sample_take(path, &prev, err, sizeof(err)) == -1) {
		fprintf(stderr, "ktproxy-stat: %s\n", err);
		return 1;
	}
	next = prev.ss_taken;
	for (long n = 0; count == 0 || n < count; n++) {
		double whole = (double)(time_t)interval;

		next.tv_sec += (time_t)whole;
		next.tv_nsec += (long)((interval - whole) * 1e9);
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		if (stat_sample_take(path, &cur, err, sizeof(err)) == -1) {
			fprintf(stderr, "ktproxy-stat: %s\n", err);
			return 1;
		}
		stat_print_frame(&prev, &cur, interval, tty);
		prev = cur;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stats", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "conns", no_argument, NULL, 'c' },
		{ "watch", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ "per-worker", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = "/run/ktproxy/stats";
	struct stats_segment s = { 0 };
	char err[512];
	double interval = 0;
	long count = 0;
	int rc = 0;
	int json = 0, prom = 0, conns = 0, per_worker = 0, c;
	char *end;

	while ((c = getopt_long(argc, argv, "s:jw:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'j': json = 1; break;
		case 'p': prom = 1; break;
		case 'c': conns = 1; break;
		case 'P': per_worker = 1; break;
		case 'w':
			errno = 0;
			interval = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(interval >= 0.1) ||
			    interval > 86400) {
				fprintf(stderr, "ktproxy-stat: -w \"%s\": want seconds between 0.1 and 86400\n",
				    optarg);
				return 2;
			}
			break;
		case 'n':
			errno = 0;
			count = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || count < 1) {
				fprintf(stderr, "ktproxy-stat: -n \"%s\": want a count of frames, 1 or more\n",
				    optarg);
				return 2;
			}
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ktproxy-stat: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (json + prom > 1) {
		fputs("ktproxy-stat: --json and --prometheus: choose one\n", stderr);
		return 2;
	}
	if (per_worker && (prom || conns || interval > 0 || count > 0)) {
		fprintf(stderr, "ktproxy-stat: --per-worker goes with --json only, not with %s\n",
		    prom ? "--prometheus" : conns ? "--conns" : "-w or -n");
		return 2;
	}
	if (conns) {
		if (prom || interval > 0 || count > 0) {
			fputs("ktproxy-stat: --conns goes with --json only\n", stderr);
			return 2;
		}
		return stat_conns(path, json);
	}
	if (count > 0 && interval == 0)
		interval = 1;
	if (interval > 0) {
		if (json || prom) {
			fputs("ktproxy-stat: -w is a text view; --json and --prometheus print one snapshot\n",
			    stderr);
			return 2;
		}
		return stat_watch(path, interval, count);
	}
	if (stats_open(&s, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "ktproxy-stat: %s\n", err);
		return 1;
	}
	if (prom) {
		if (metrics_write_prometheus(stdout, &s) == -1 || fflush(stdout) == EOF) {
			fprintf(stderr, "ktproxy-stat: writing: %s\n", strerror(errno));
			stats_close(&s);
			return 1;
		}
	} else if (per_worker && json)
		stat_print_json_per_worker(&s);
	else if (per_worker)
		rc = stat_print_text_per_worker(&s);
	else if (json)
		stat_print_json(&s);
	else
		stat_print_text(&s);
	stats_close(&s);
	return rc;
}
