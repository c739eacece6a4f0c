/*
 * test_upool.c - the pool of idle upstream connections: handed out only
 * for the same client certificate, destination and forge generation,
 * never dead, never past its idle time, never more than its bound.
 *
 * Connections are socketpair ends; the other end plays the upstream (it
 * closes, or sends a stray byte) and tells what the pool did to ours (EOF
 * when it was closed).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "check.h"
#include "upool.h"

#define ANY	(UPOOL_USERSPACE | UPOOL_KTLS)

struct pair {
	int	 ours, upstream;
};

static struct pair
pair_new(void)
{
	int sv[2];
	struct pair p = { -1, -1 };

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
		p.ours = sv[0];
		p.upstream = sv[1];
	}
	return p;
}

/* Did the pool close our end?  The upstream end then reads EOF (or a
 * reset, when ours was closed with bytes unread). */
static bool
closed_by_pool(struct pair *p)
{
	char b[64];
	ssize_t n;

	/* Drain what a close_notify attempt may have written. */
	while ((n = recv(p->upstream, b, sizeof(b), MSG_DONTWAIT)) > 0)
		;
	return n == 0 || (n == -1 && errno == ECONNRESET);
}

static struct upool_conn
conn_of(struct pair *p, SSL *ssl, const char *tls)
{
	struct upool_conn uc = { .uc_fd = p->ours, .uc_ssl = ssl };

	strncpy(uc.uc_tls, tls, sizeof(uc.uc_tls) - 1);
	return uc;
}

static uint8_t alice[32] = { 'a' }, bob[32] = { 'b' };
static uint8_t here[32] = { 'h' }, there[32] = { 't' };

static void
test_identity_and_destination(SSL_CTX *ctx, uint64_t forged, uint64_t reminted)
{
	struct upool *pool = upool_new(8, 30000);
	struct pair a = pair_new(), k = pair_new();
	struct upool_conn uc, got;
	SSL *ssl = SSL_new(ctx);
	unsigned dead;

	uc = conn_of(&a, ssl, "TLSv1.3/TLS_AES_128_GCM_SHA256");
	CHECK(upool_put(pool, alice, here, forged, &uc, 0) == 0);
	CHECK(upool_count(pool) == 1);
	/* Another identity, another destination, a re-minted certificate:
	 * none of them gets alice's connection. */
	CHECK(!upool_take(pool, bob, here, forged, ANY, &got, &dead) && dead == 0);
	CHECK(!upool_take(pool, alice, there, forged, ANY, &got, &dead) && dead == 0);
	CHECK(!upool_take(pool, alice, here, reminted, ANY, &got, &dead) && dead == 0);
	CHECK(upool_count(pool) == 1);
	CHECK(upool_take(pool, alice, here, forged, UPOOL_USERSPACE, &got, &dead));
	CHECK(got.uc_fd == a.ours && got.uc_ssl == ssl &&
	    strcmp(got.uc_tls, "TLSv1.3/TLS_AES_128_GCM_SHA256") == 0);
	CHECK(upool_count(pool) == 0);
	CHECK(!upool_take(pool, alice, here, forged, ANY, &got, &dead));

	/* A kTLS one (no SSL) only for a client leg that can join it... */
	uc = conn_of(&k, NULL, "TLSv1.2/ECDHE-ECDSA-AES128-GCM-SHA256");
	CHECK(upool_put(pool, alice, here, forged, &uc, 0) == 0);
	CHECK(!upool_take(pool, alice, here, forged, UPOOL_USERSPACE, &got, &dead) && dead == 0);
	CHECK(upool_take(pool, alice, here, forged, UPOOL_KTLS, &got, &dead) && got.uc_fd == k.ours &&
	    got.uc_ssl == NULL);
	/* ...and a client leg already in the kernel takes only those. */
	uc = conn_of(&a, ssl, "userspace");
	upool_put(pool, alice, here, forged, &uc, 0);
	CHECK(!upool_take(pool, alice, here, forged, UPOOL_KTLS, &got, &dead) && dead == 0);
	CHECK(upool_take(pool, alice, here, forged, UPOOL_USERSPACE, &got, &dead) && got.uc_ssl == ssl);

	/* The newest first. */
	uc = conn_of(&a, ssl, "old");
	upool_put(pool, alice, here, forged, &uc, 0);
	uc = conn_of(&k, NULL, "new");
	upool_put(pool, alice, here, forged, &uc, 1);
	CHECK(upool_take(pool, alice, here, forged, ANY, &got, &dead) && strcmp(got.uc_tls, "new") == 0);
	CHECK(upool_take(pool, alice, here, forged, ANY, &got, &dead) && strcmp(got.uc_tls, "old") == 0);

	/* Closing the pool closes what it holds. */
	uc = conn_of(&a, ssl, "x");
	upool_put(pool, alice, here, forged, &uc, 0);
	upool_free(pool);
	CHECK(closed_by_pool(&a));
	close(a.upstream);
	close(k.ours);
	close(k.upstream);
}

static void
test_dead(SSL_CTX *ctx, uint64_t forged)
{
	struct upool *pool = upool_new(8, 30000);
	struct pair gone = pair_new(), stray = pair_new(), fine = pair_new();
	struct upool_conn uc, got;
	unsigned dead;

	uc = conn_of(&fine, SSL_new(ctx), "fine");
	upool_put(pool, alice, here, forged, &uc, 0);
	uc = conn_of(&stray, NULL, "stray");
	upool_put(pool, alice, here, forged, &uc, 0);
	uc = conn_of(&gone, SSL_new(ctx), "gone");
	upool_put(pool, alice, here, forged, &uc, 0);
	close(gone.upstream);			/* the upstream closed it */
	CHECK(send(stray.upstream, "x", 1, 0) == 1);	/* or sent something unasked */
	CHECK(upool_take(pool, alice, here, forged, ANY, &got, &dead));
	CHECK(dead == 2 && strcmp(got.uc_tls, "fine") == 0);
	CHECK(closed_by_pool(&stray));
	CHECK(upool_count(pool) == 0);
	SSL_free(got.uc_ssl);
	close(got.uc_fd);
	close(fine.upstream);
	close(stray.upstream);
	upool_free(pool);
}

static void
test_bounds(SSL_CTX *ctx, uint64_t forged)
{
	struct upool *pool = upool_new(2, 1000);
	struct pair p[3] = { pair_new(), pair_new(), pair_new() };
	struct upool_conn uc, got;
	unsigned dead;

	for (int i = 0; i < 3; i++) {
		uc = conn_of(&p[i], SSL_new(ctx), "x");
		CHECK(upool_put(pool, i == 2 ? bob : alice, here, forged, &uc, (uint64_t)i * 400) ==
		    (i == 2 ? 1 : 0));
	}
	CHECK(upool_count(pool) == 2);
	CHECK(closed_by_pool(&p[0]));		/* the longest idle made room */
	CHECK(!closed_by_pool(&p[1]));
	/* Idle time: p[1] was kept at 400 ms, p[2] at 800 ms. */
	CHECK(upool_expire(pool, 1399) == 0);
	CHECK(upool_expire(pool, 1400) == 1);
	CHECK(closed_by_pool(&p[1]));
	CHECK(upool_count(pool) == 1);
	CHECK(upool_take(pool, bob, here, forged, ANY, &got, &dead) && got.uc_fd == p[2].ours);
	upool_close(&got);
	CHECK(closed_by_pool(&p[2]) && got.uc_fd == -1 && got.uc_ssl == NULL);
	upool_free(pool);

	/* --upstream-keepalive 0: nothing is kept, the caller keeps it. */
	pool = upool_new(0, 1000);
	uc = conn_of(&p[0], NULL, "x");
	CHECK(upool_put(pool, alice, here, forged, &uc, 0) == -1);
	CHECK(upool_count(pool) == 0);
	upool_free(pool);
	for (int i = 0; i < 3; i++)
		close(p[i].upstream);
}

int
main(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	uint64_t forged = 7, reminted = 8;	/* an identity's generations (forge.h) */

	test_identity_and_destination(ctx, forged, reminted);
	test_dead(ctx, forged);
	test_bounds(ctx, forged);
	SSL_CTX_free(ctx);
	return CHECK_DONE();
}
