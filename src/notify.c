/*
 * notify.c - the service manager's notification socket.
 *
 * The protocol is one datagram of newline-separated VAR=VALUE lines to the
 * AF_UNIX socket named in $NOTIFY_SOCKET (a path, or an abstract name
 * written with a leading '@'), as sd_notify(3) documents it.  Written out
 * here rather than linking libsystemd for one sendto(): no library, no
 * dependency on systemd for a daemon that also runs without it.  Each call
 * opens its own socket: the notifications are a handful in a lifetime, and
 * the daemon needs no descriptor kept for them.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"

int
notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	struct timespec ts;
	socklen_t len;
	size_t plen;
	char msg[128];
	int fd, n;

	if (path == NULL || *path == '\0')
		return 0;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sun.sun_path)) {
		fprintf(stderr, "ktproxy: NOTIFY_SOCKET %s: not a socket path or @name\n", path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';		/* abstract: no terminating NUL */
	len = offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '/');
	if (strcmp(state, "RELOADING=1") == 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		n = snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		    (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	} else {
		n = snprintf(msg, sizeof(msg), "%s", state);
	}
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "ktproxy: NOTIFY_SOCKET %s: socket: %s\n", path, strerror(errno));
		return -1;
	}
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sun, len) == -1) {
		fprintf(stderr, "ktproxy: NOTIFY_SOCKET %s: %s: %s\n", path, state, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}
