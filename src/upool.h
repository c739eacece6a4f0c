/*
 * upool.h - idle upstream connections, kept for the client certificate
 * that opened them.
 *
 * A client that closes at a request boundary leaves behind an upstream TLS
 * connection that is between responses and was authenticated with its
 * forged certificate (or was never asked for one).  Kept here, it carries
 * the same client certificate's next connection to the same destination
 * and SNI, which then skips the
 * upstream connect and handshake altogether: what nginx's upstream
 * keepalive does for all clients, confined to one identity.  It is never
 * handed to another identity: the upstream decided who is at the other end
 * from the certificate presented in that handshake.
 *
 * One pool per worker, no locks.  Bounded in count (the longest idle goes
 * first) and in idle time; a connection is checked before it is handed out
 * (nothing to read, no FIN from the upstream).
 */
#ifndef KTPROXY_UPOOL_H
#define KTPROXY_UPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

/* An idle upstream connection. */
struct upool_conn {
	int		 uc_fd;
	SSL		*uc_ssl;	/* NULL: both keys are in the kernel (kTLS) */
	char		 uc_tls[64];	/* "TLSv1.3/TLS_AES_128_GCM_SHA256" */
};

struct upool;

/* At most max connections (0: keep none), each idle at most idle_ms. */
struct upool	*upool_new(unsigned max, uint64_t idle_ms);
void		 upool_free(struct upool *p);	/* closes what it holds */

/*
 * Keep uc, established for generation `gen` of the identity of the client
 * certificate hashing to id (forge.h: its forged certificate, if the
 * upstream asked for one), for the destination hashed to dest.
 * The pool takes the descriptor and the SSL (its app data and read
 * callback must no longer refer to a connection).  Returns how many
 * connections made room for it (0 or 1), or -1 when nothing is kept (the
 * pool is disabled; uc is still the caller's).
 */
int		 upool_put(struct upool *p, const uint8_t id[32], const uint8_t dest[32],
		    uint64_t gen, const struct upool_conn *uc, uint64_t now_ms);

/* Which kinds of kept connection a caller can use (upool_take). */
#define UPOOL_USERSPACE	0x1	/* relayed through OpenSSL (uc_ssl set) */
#define UPOOL_KTLS	0x2	/* keys in the kernel (uc_ssl NULL) */

/*
 * The most recently kept connection for (id, dest) established under
 * `gen`, still the identity's current generation, of one of the `kinds`,
 * and still alive.  Fills *uc and returns true.  Dead ones met on the way
 * are closed and counted in *dead.
 */
bool		 upool_take(struct upool *p, const uint8_t id[32], const uint8_t dest[32],
		    uint64_t gen, unsigned kinds, struct upool_conn *uc, unsigned *dead);

/* Close the connections idle longer than the pool's idle time; returns
 * how many. */
unsigned	 upool_expire(struct upool *p, uint64_t now_ms);

/* Close every connection kept for the client certificate hashing to id
 * (it was found revoked); returns how many. */
unsigned	 upool_forget(struct upool *p, const uint8_t id[32]);

/* Connections held now. */
unsigned	 upool_count(const struct upool *p);

/* Close an upstream connection that is not needed: close_notify if the
 * socket takes it at once, then close. */
void		 upool_close(struct upool_conn *uc);

#endif
