/*
 * notify.h - telling a service manager how start-up, reloads and stops go
 * (systemd's Type=notify: sd_notify(3)'s datagram protocol).
 */
#ifndef KTPROXY_NOTIFY_H
#define KTPROXY_NOTIFY_H

/* Send "READY=1", "RELOADING=1", "STOPPING=1" (a RELOADING=1 gets the
 * MONOTONIC_USEC= systemd asks for with it) to $NOTIFY_SOCKET.  Nothing
 * when it is unset.  A failure is said on stderr, and is no reason to
 * stop: 0 or -1. */
int	notify(const char *state);

#endif
