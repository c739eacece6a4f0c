/*
 * steer_route.h - the routes --steer sk_lookup needs (rtnetlink, libmnl).
 *
 * sk_lookup programs run only for packets the kernel delivers locally, so
 * each --intercept-prefix becomes a local route:
 *   ip route add local PREFIX dev lo table local proto 0x6b
 * and ktproxy's own connections to those destinations leave through the
 * interface the prefix was routed to before (SO_BINDTODEVICE: a lookup
 * bound to that interface skips the local route, which is on lo).  For
 * IPv4 the interface gets accept_local=1, or the server's answers, whose
 * source is now a local address, would be dropped as martians.
 */
#ifndef KTPROXY_STEER_ROUTE_H
#define KTPROXY_STEER_ROUTE_H

#include <stddef.h>

#include "intercept.h"

#define STEER_RTPROT	0x6b	/* rtm_protocol of our routes: "ip route show proto 107" */

/*
 * For each prefix of ic: find the interface its main-table route leaves
 * through (ip_egress; an error when there is none), then add its local
 * route (replacing one already there).  IPv4 egress interfaces get
 * accept_local.  0, or -1 with err naming the prefix and what failed.
 */
int	 steer_routes_install(struct intercept_conf *ic, char *err, size_t errlen);
/*
 * Delete our local routes (proto STEER_RTPROT, table local) that are not
 * prefixes of keep (NULL: all of them, e.g. those a killed ktproxy left).
 * *removed counts them.  0, or -1 with err.
 */
int	 steer_routes_prune(const struct intercept_conf *keep, unsigned *removed, char *err,
	    size_t errlen);

#endif
