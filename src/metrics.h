/*
 * metrics.h - the counters in the Prometheus text exposition format.
 *
 * One writer shared by ktproxy-stat --prometheus and the daemon's own
 * /metrics endpoint (--metrics), so both print the same names.
 *
 * Naming: a COUNTER group is ktproxy_<group>_total, a GAUGE ktproxy_<group>;
 * a group split by reason carries the reason as a label, named "reason"
 * except where another word says more (bytes: "direction", relay_path:
 * "path").  Two gauges describe the process: ktproxy_workers and
 * ktproxy_start_time_seconds.
 */
#ifndef KTPROXY_METRICS_H
#define KTPROXY_METRICS_H

#include <stdio.h>

#include "stats.h"

/* The content type a scraper expects for this format. */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

/* Write every metric of the segment to out.  Returns 0, or -1 when out
 * reported a write error. */
int	 metrics_write_prometheus(FILE *out, const struct stats_segment *s);

/* The label name of a group split by reason ("reason", "direction", ...). */
const char *metrics_label_name(const char *group);

/* Escapers of the format: a label value escapes backslash, double quote
 * and newline; HELP text escapes backslash and newline. */
void	 metrics_put_label_value(FILE *out, const char *v);
void	 metrics_put_help(FILE *out, const char *v);

#endif
