/*
 * test_stats.c - the stats segment as ktproxy-stat sees it.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "stats.h"

/* A group split by reason must be contiguous, or --json would print the
 * same key twice and the text view would split a family. */
static void
test_groups_contiguous(void)
{
	for (int i = 0; i < STAT__COUNT; i++)
		for (int j = i + 2; j < STAT__COUNT; j++)
			if (strcmp(stats_info[i].sc_group, stats_info[j].sc_group) == 0)
				CHECK(strcmp(stats_info[j - 1].sc_group, stats_info[i].sc_group) == 0);
	for (int i = 0; i < STAT__COUNT; i++) {
		/* A plain counter is alone in its group. */
		if (stats_info[i].sc_reason[0] == '\0') {
			CHECK(i == 0 || strcmp(stats_info[i - 1].sc_group, stats_info[i].sc_group) != 0);
			CHECK(i == STAT__COUNT - 1 || strcmp(stats_info[i + 1].sc_group, stats_info[i].sc_group) != 0);
		}
	}
}

/* Writers each own a slab; a reader sees the sum. */
static void
test_segment_roundtrip(void)
{
	char path[] = "/tmp/ktproxy-test-stats.XXXXXX", err[256];
	struct stats_segment w = { 0 }, r = { 0 };
	int fd = mkstemp(path);

	CHECK(fd != -1);
	close(fd);
	CHECK(stats_create(&w, path, 3) == 0);
	stats_inc(stats_slab(&w, 0), STAT_conn_accepted);
	stats_add(stats_slab(&w, 2), STAT_conn_accepted, 41);
	stats_inc(stats_slab(&w, 1), STAT_conn_active);
	stats_dec(stats_slab(&w, 1), STAT_conn_active);
	stats_add(stats_slab(&w, 1), STAT_bytes_u2c, 1ULL << 40);
	CHECK(stats_open(&r, path, err, sizeof(err)) == 0);
	CHECK(r.ss_hdr->sh_nworkers == 3);
	CHECK(stats_total(&r, STAT_conn_accepted) == 42);
	CHECK(stats_total(&r, STAT_conn_active) == 0);
	CHECK(stats_total(&r, STAT_bytes_u2c) == 1ULL << 40);
	/* ktproxy-stat --per-worker: each slab on its own, the main
	 * thread's last, and together they are the total. */
	stats_add(stats_slab_main(&w), STAT_reload_ok, 2);
	CHECK(stats_value(&r, 0, STAT_conn_accepted) == 1);
	CHECK(stats_value(&r, 1, STAT_conn_accepted) == 0);
	CHECK(stats_value(&r, 2, STAT_conn_accepted) == 41);
	CHECK(stats_value(&r, 3, STAT_conn_accepted) == 0);
	CHECK(stats_value(&r, 3, STAT_reload_ok) == 2);
	CHECK(stats_value(&r, 1, STAT_bytes_u2c) == 1ULL << 40);
	CHECK(stats_total(&r, STAT_reload_ok) == 2);
	stats_close(&r);
	stats_close(&w);

	/* Something else at the path is refused with a reason. */
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(write(fd, "not a stats segment, just some text long enough", 48) == 48);
	close(fd);
	CHECK(stats_open(&r, path, err, sizeof(err)) == -1);
	CHECK(strstr(err, "not a") != NULL);
	unlink(path);
	CHECK(stats_open(&r, path, err, sizeof(err)) == -1);
	CHECK(strstr(err, "is ktproxy running") != NULL);
}

int
main(void)
{
	test_groups_contiguous();
	test_segment_roundtrip();
	return CHECK_DONE();
}
