/*
 * ktproxy-stat - print the counters of a running ktproxy.
 *
 * Reads the shared-memory stats segment (see src/stats.h) and sums the
 * per-worker slabs.  Counters that share a group (one family split by
 * reason) are printed together, and nested in --json.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stats.h"

static const char usage_text[] =
"usage: ktproxy-stat [--stats FILE] [--json] [--help]\n"
"\n"
"Print the counters of a running ktproxy, summed over its workers.\n"
"\n"
"  --stats FILE   the segment ktproxy was started with (default /run/ktproxy/stats)\n"
"  --json         one JSON object: plain counters as numbers, counters split by\n"
"                 reason as objects {\"reason\": n}, plus \"workers\", \"pid\" and\n"
"                 \"uptime_seconds\"\n";

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

static void
stat_print_json(const struct stats_segment *s)
{
	const struct stats_header *h = s->ss_hdr;

	printf("{\"workers\":%u,\"pid\":%" PRId64 ",\"uptime_seconds\":%llu", h->sh_nworkers, h->sh_pid,
	    (unsigned long long)(time(NULL) - (time_t)h->sh_start_time));
	for (int i = 0; i < STAT__COUNT; i++) {
		const struct stats_counter_info *in = &stats_info[i];
		uint64_t v = stats_total(s, i);

		if (in->sc_reason[0] == '\0') {
			printf(",\"%s\":%" PRIu64, in->sc_group, v);
			continue;
		}
		if (stat_group_start(i))
			printf(",\"%s\":{", in->sc_group);
		else
			printf(",");
		printf("\"%s\":%" PRIu64, in->sc_reason, v);
		if (stat_group_end(i))
			printf("}");
	}
	printf("}\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stats", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = "/run/ktproxy/stats";
	struct stats_segment s = { 0 };
	char err[512];
	int json = 0, c;

	while ((c = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'j': json = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ktproxy-stat: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (stats_open(&s, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "ktproxy-stat: %s\n", err);
		return 1;
	}
	if (json)
		stat_print_json(&s);
	else
		stat_print_text(&s);
	stats_close(&s);
	return 0;
}
