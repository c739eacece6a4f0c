/*
 * sockdiag.h - the kernel's view of TCP sockets, through NETLINK_SOCK_DIAG.
 *
 * One dump per address family of every TCP socket in the caller's network
 * namespace, with tcp_info (rtt, bytes) and the ULP: for a kTLS socket the
 * kernel's TLS version, cipher and where TX and RX crypto run, as ss -ti
 * shows them.  ktproxy-stat --conns joins these with the daemon's own
 * connection table by 4-tuple.
 */
#ifndef KTPROXY_SOCKDIAG_H
#define KTPROXY_SOCKDIAG_H

#include <stddef.h>
#include <stdint.h>

struct sockdiag_sock {
	uint8_t		 sd_family;
	uint8_t		 sd_local[16], sd_remote[16];	/* network order */
	uint16_t	 sd_lport, sd_rport;		/* host order */
	uint8_t		 sd_state;			/* TCP_ESTABLISHED, ... */
	int		 sd_has_info;
	uint32_t	 sd_rtt_us;
	uint64_t	 sd_bytes_acked, sd_bytes_received;
	char		 sd_ulp[16];	/* "tls", or "" without a ULP */
	int		 sd_has_tls;	/* the TLS ULP's attributes came */
	uint16_t	 sd_tls_version;	/* TLS_1_2_VERSION, TLS_1_3_VERSION */
	uint16_t	 sd_tls_cipher;		/* TLS_CIPHER_* */
	uint16_t	 sd_tls_txconf, sd_tls_rxconf;	/* TLS_CONF_* */
};

struct sockdiag_list {
	struct sockdiag_sock	*sl_socks;
	size_t			 sl_n, sl_cap;
};

/* Dump every TCP socket (v4 and v6).  -1 with a message in err. */
int	 sockdiag_dump(struct sockdiag_list *l, char *err, size_t errlen);
void	 sockdiag_free(struct sockdiag_list *l);
/* The socket with this local and remote address and port, or NULL. */
const struct sockdiag_sock *sockdiag_find(const struct sockdiag_list *l, uint8_t family,
	    const uint8_t *local, uint16_t lport, const uint8_t *remote, uint16_t rport);
/* "tls 1.3 aes-gcm-256 tx=sw rx=sw", "-" when there is no TLS ULP. */
void	 sockdiag_tls_str(const struct sockdiag_sock *s, char *buf, size_t len);

#endif
