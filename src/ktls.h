/*
 * ktls.h - kernel TLS: is it here, putting a connection's keys into it, and
 * reading and writing records on a socket whose keys live there.
 *
 * What OpenSSL 3.0 does by itself with SSL_OP_ENABLE_KTLS (measured, see
 * docs/ktls.md): TLS 1.2 TX and RX, TLS 1.3 TX only.  The TLS 1.3 RX key is
 * derived here from the traffic secret (HKDF-Expand-Label) captured through
 * the keylog callback, and installed with setsockopt(TLS_RX).
 */
#ifndef KTPROXY_KTLS_H
#define KTPROXY_KTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

struct conn;
struct leg;

#define KTLS_SECRET_MAX		48	/* SHA-384 traffic secrets */

/* TLS record content types seen on a kTLS socket. */
#define KTLS_REC_ALERT		21
#define KTLS_REC_HANDSHAKE	22
#define KTLS_REC_DATA		23

/*
 * Can this kernel do TLS?  Loads the tls ULP if it is a module.  On no,
 * `why` says what failed (for the start-up line).
 */
bool	 ktls_probe(char *why, size_t len);

/* SSL_CTX keylog callback: keeps the TLS 1.3 traffic secret a leg needs for
 * its RX key (SSL app data is the struct conn). */
void	 ktls_keylog(const SSL *ssl, const char *line);

/*
 * The TLS 1.3 record key and IV of a traffic secret, for the cipher `ssl`
 * negotiated (RFC 8446 7.3: HKDF-Expand-Label "key" and "iv" with the
 * cipher's hash).  0, or -1 for a cipher the kernel cannot take.
 */
int	 ktls_tls13_keys(const SSL *ssl, const uint8_t *secret, size_t slen,
	    uint8_t key[32], size_t *keylen, uint8_t iv[12]);

/*
 * Move both legs of an established connection into the kernel.  Returns 0
 * when all four directions are in the kernel (the SSL objects are then of
 * no further use) or will be: a TLS 1.3 upstream's RX waits (l_rx_user,
 * see ktls_install_rx_late), -1 when the connection stays in userspace (`reason`
 * says why; nothing was changed that OpenSSL does not know about), or -2
 * when an RX key went in but another failed: the connection is unusable.
 */
int	 ktls_install(struct conn *c, const char **reason);

/*
 * The upstream leg of a TLS 1.3 connection on the kTLS path keeps its RX in
 * OpenSSL (l_rx_user) until the first response: the tickets the upstream
 * sends after the handshake are read by OpenSSL, so the session can be
 * resumed.  Then this installs the RX key at the sequence number OpenSSL
 * reached.  0, or -1 with `reason` (nothing changed: the leg stays read
 * through OpenSSL).
 */
int	 ktls_install_rx_late(struct leg *l, const char **reason);

/* SSL msg callback for an upstream leg that may defer its RX key: counts
 * the records OpenSSL reads, notes a KeyUpdate (SSL app data: the conn). */
void	 ktls_msg_cb(int write_p, int version, int content_type, const void *buf,
	    size_t len, SSL *ssl, void *arg);

/*
 * Read from a kTLS RX socket, learning each record's type.  Returns the
 * bytes read (0: TCP end of stream) and the record type in *type, or -1
 * with errno.  A non-data record comes back alone.
 */
ssize_t	 ktls_recv(int fd, void *buf, size_t len, uint8_t *type);

/* Send an alert record (close_notify: level 1, description 0). */
int	 ktls_send_alert(int fd, uint8_t level, uint8_t desc);

#endif
