/*
 * test_conntab.c - the connection table as ktproxy-stat --conns reads it.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "conntab.h"

static void
test_roundtrip(void)
{
	char path[] = "/tmp/ktproxy-test-conntab.XXXXXX", err[256];
	struct conntab w = { 0 }, r = { 0 };
	struct conntab_region *reg, *copy = malloc(sizeof(*copy));
	int fd = mkstemp(path);

	CHECK(fd != -1 && copy != NULL);
	close(fd);
	CHECK(conntab_create(&w, path, 2) == 0);
	reg = conntab_region(&w, 1);
	conntab_write_begin(reg);
	reg->cr_entries[0].ce_family = AF_INET;
	reg->cr_entries[0].ce_peer_port = 40000;
	strcpy(reg->cr_entries[0].ce_subject, "CN=alice");
	reg->cr_entries[0].ce_bytes_u2c = 1ULL << 33;
	conntab_write_end(reg, 1, 7, 1234);

	CHECK(conntab_open(&r, path, err, sizeof(err)) == 0);
	CHECK(r.ct_hdr->ch_nworkers == 2);
	CHECK(conntab_read(&r, 0, copy) == 0 && copy->cr_count == 0);
	CHECK(conntab_read(&r, 1, copy) == 0);
	CHECK(copy->cr_count == 1 && copy->cr_total == 7 && copy->cr_published_ms == 1234);
	CHECK_STREQ(copy->cr_entries[0].ce_subject, "CN=alice");
	CHECK(copy->cr_entries[0].ce_peer_port == 40000);
	CHECK(copy->cr_entries[0].ce_bytes_u2c == 1ULL << 33);

	/* A worker caught in the middle of a rewrite (and never finishing):
	 * the reader gives up rather than return a torn copy. */
	conntab_write_begin(reg);
	CHECK(conntab_read(&r, 1, copy) == -1);
	conntab_write_end(reg, 0, 0, 1235);
	CHECK(conntab_read(&r, 1, copy) == 0 && copy->cr_count == 0);
	conntab_close(&r);
	conntab_close(&w);

	/* Something else at the path is refused with a reason. */
	char junk[64];

	memset(junk, 'x', sizeof(junk));
	memcpy(junk, "KTPSTAT1", 8);	/* a stats segment's magic */
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk));
	close(fd);
	CHECK(conntab_open(&r, path, err, sizeof(err)) == -1);
	CHECK(strstr(err, "not a connection table") != NULL);
	unlink(path);
	CHECK(conntab_open(&r, path, err, sizeof(err)) == -1);
	CHECK(strstr(err, "is ktproxy running") != NULL);
	CHECK(conntab_path(err, sizeof(err), "/run/ktproxy/stats") == 0);
	CHECK_STREQ(err, "/run/ktproxy/stats.conns");
	CHECK(conntab_path(err, 8, "/run/ktproxy/stats") == -1);
	free(copy);
}

int
main(void)
{
	test_roundtrip();
	return CHECK_DONE();
}
