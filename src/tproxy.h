/*
 * tproxy.h - transparent listening sockets.
 */
#ifndef KTPROXY_TPROXY_H
#define KTPROXY_TPROXY_H

#include <sys/socket.h>

/* An IP_TRANSPARENT, SO_REUSEPORT, non-blocking listener bound to addr, so
 * that connections TPROXY steers to it are accepted whatever their
 * destination.  Prints why and returns -1 on failure. */
int	 tproxy_listen(const struct sockaddr_storage *addr, socklen_t len, const char *name);

/* --spoof-source: make fd (not yet connected) leave from the client's
 * address, peer, with a port of the kernel's choosing: IP_TRANSPARENT
 * (IPV6_TRANSPARENT), which needs CAP_NET_ADMIN, then bind.  0, or -1 with
 * errno. */
int	 tproxy_bind_source(int fd, const struct sockaddr_storage *peer);

/* "1.2.3.4:443" or "[::1]:443" */
const char *tproxy_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len);

#endif
