/*
 * metrics.c - Prometheus text exposition of the stats segment (metrics.h).
 *
 * The format (prometheus.io, "Exposition formats", text version 0.0.4):
 * for each metric family a "# HELP name text" and a "# TYPE name kind"
 * line, then its samples "name{label="value"} number", the family's
 * samples together.  counters.h keeps a group's reasons next to each other,
 * which is what makes one group one family here.
 */
#include <inttypes.h>
#include <string.h>

#include "metrics.h"

/* Groups whose split is not a reason.  Everything else: "reason". */
static const struct {
	const char	*ml_group;
	const char	*ml_label;
} metrics_labels[] = {
	{ "bytes", "direction" },
	{ "bytes_copied", "direction" },
	{ "bytes_spliced", "direction" },
	{ "relay_path", "path" },
	{ "client_ocsp", "result" },
};

const char *
metrics_label_name(const char *group)
{
	for (size_t i = 0; i < sizeof(metrics_labels) / sizeof(metrics_labels[0]); i++)
		if (strcmp(metrics_labels[i].ml_group, group) == 0)
			return metrics_labels[i].ml_label;
	return "reason";
}

void
metrics_put_label_value(FILE *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			fputs("\\\\", out);
		else if (*v == '"')
			fputs("\\\"", out);
		else if (*v == '\n')
			fputs("\\n", out);
		else
			fputc(*v, out);
	}
}

void
metrics_put_help(FILE *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			fputs("\\\\", out);
		else if (*v == '\n')
			fputs("\\n", out);
		else
			fputc(*v, out);
	}
}

static int
metrics_group_start(int i)
{
	return i == 0 || strcmp(stats_info[i].sc_group, stats_info[i - 1].sc_group) != 0;
}

static int
metrics_group_end(int i)
{
	return i == STAT__COUNT - 1 || strcmp(stats_info[i].sc_group, stats_info[i + 1].sc_group) != 0;
}

/* "ktproxy_<group>_total" or "ktproxy_<group>". */
static void
metrics_put_name(FILE *out, const struct stats_counter_info *in)
{
	fprintf(out, "ktproxy_%s%s", in->sc_group, in->sc_gauge ? "" : "_total");
}

/* HELP and TYPE of the family that starts at counter first.  A split
 * family's help lists what each label value counts. */
static void
metrics_put_family_head(FILE *out, int first)
{
	const struct stats_counter_info *in = &stats_info[first];

	fputs("# HELP ", out);
	metrics_put_name(out, in);
	fputc(' ', out);
	if (in->sc_reason[0] == '\0') {
		metrics_put_help(out, in->sc_help);
	} else {
		fprintf(out, "%s by %s:", in->sc_group, metrics_label_name(in->sc_group));
		for (int i = first; ; i++) {
			fprintf(out, "%s %s: ", i == first ? "" : ";", stats_info[i].sc_reason);
			metrics_put_help(out, stats_info[i].sc_help);
			if (metrics_group_end(i))
				break;
		}
	}
	fputs("\n# TYPE ", out);
	metrics_put_name(out, in);
	fputs(in->sc_gauge ? " gauge\n" : " counter\n", out);
}

int
metrics_write_prometheus(FILE *out, const struct stats_segment *s)
{
	const struct stats_header *h = s->ss_hdr;

	fputs("# HELP ktproxy_workers worker threads of the running ktproxy\n"
	    "# TYPE ktproxy_workers gauge\n", out);
	fprintf(out, "ktproxy_workers %u\n", h->sh_nworkers);
	fputs("# HELP ktproxy_start_time_seconds when ktproxy started, unix seconds\n"
	    "# TYPE ktproxy_start_time_seconds gauge\n", out);
	fprintf(out, "ktproxy_start_time_seconds %" PRIu64 "\n", h->sh_start_time);
	for (int i = 0; i < STAT__COUNT; i++) {
		const struct stats_counter_info *in = &stats_info[i];

		if (metrics_group_start(i))
			metrics_put_family_head(out, i);
		metrics_put_name(out, in);
		if (in->sc_reason[0] != '\0') {
			fprintf(out, "{%s=\"", metrics_label_name(in->sc_group));
			metrics_put_label_value(out, in->sc_reason);
			fputs("\"}", out);
		}
		fprintf(out, " %" PRIu64 "\n", stats_total(s, i));
	}
	return ferror(out) ? -1 : 0;
}
