/*
 * tproxy.c - transparent listening sockets for TPROXY interception.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tproxy.h"

int
tproxy_listen(const struct sockaddr_storage *addr, socklen_t len, const char *name)
{
	int one = 1, fd;
	int level = addr->ss_family == AF_INET6 ? SOL_IPV6 : SOL_IP;
	int opt = addr->ss_family == AF_INET6 ? IPV6_TRANSPARENT : IP_TRANSPARENT;

	if ((fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "ktproxy: --listen %s: socket: %s\n", name, strerror(errno));
		return -1;
	}
	/* IP_TRANSPARENT lets the socket accept connections addressed to any
	 * destination TPROXY hands it; it needs CAP_NET_ADMIN. */
	if (setsockopt(fd, level, opt, &one, sizeof(one)) == -1) {
		fprintf(stderr, "ktproxy: --listen %s: IP_TRANSPARENT: %s%s\n", name, strerror(errno),
		    errno == EPERM ? " (ktproxy needs CAP_NET_ADMIN: run it as root)" : "");
		goto fail;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1) {
		fprintf(stderr, "ktproxy: --listen %s: SO_REUSEPORT: %s\n", name, strerror(errno));
		goto fail;
	}
	if (bind(fd, (const struct sockaddr *)addr, len) == -1) {
		fprintf(stderr, "ktproxy: --listen %s: bind: %s\n", name, strerror(errno));
		goto fail;
	}
	if (listen(fd, 4096) == -1) {
		fprintf(stderr, "ktproxy: --listen %s: listen: %s\n", name, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int
tproxy_bind_source(int fd, const struct sockaddr_storage *peer)
{
	struct sockaddr_storage src = *peer;
	int one = 1;
	socklen_t len;

	if (peer->ss_family == AF_INET6) {
		((struct sockaddr_in6 *)&src)->sin6_port = 0;
		len = sizeof(struct sockaddr_in6);
		if (setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)) == -1)
			return -1;
	} else {
		((struct sockaddr_in *)&src)->sin_port = 0;
		len = sizeof(struct sockaddr_in);
		if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) == -1)
			return -1;
	}
	/* The port is chosen at connect time, free for the whole 4-tuple, not
	 * reserved by the bind (best effort: without it bind picks one). */
	(void)setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	return bind(fd, (const struct sockaddr *)&src, len);
}

const char *
tproxy_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "-");
	}
	return buf;
}
