/*
 * netlink_route.h - the policy routing TPROXY needs, through rtnetlink.
 *
 * A packet TPROXY hands to a local socket keeps its foreign destination
 * address, so the routing decision must deliver it locally anyway: packets
 * carrying the mark are looked up in their own table, whose only route is
 * a local default through lo.  The same as
 *   ip [-6] rule add fwmark MARK lookup TABLE priority 32700
 *   ip [-6] route add local default dev lo table TABLE
 */
#ifndef KTPROXY_NETLINK_ROUTE_H
#define KTPROXY_NETLINK_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

/*
 * Add (add true) or delete the fwmark rule, or the local default route,
 * of family (AF_INET or AF_INET6).  Idempotent: adding what is already
 * there, or deleting what is not, succeeds (*changed false).  0, or -1
 * with errno set and a message naming the operation in err.
 */
int	 nlroute_fwmark_rule(int family, bool add, uint32_t mark, uint32_t table,
	    bool *changed, char *err, size_t errlen);
int	 nlroute_local_default(int family, bool add, uint32_t table,
	    bool *changed, char *err, size_t errlen);

/*
 * Send nlh on an rtnetlink socket of its own and read the answers until the
 * acknowledgement (NLM_F_ACK) or the end of a dump (NLM_F_DUMP), each
 * message of a dump given to cb (NULL: none expected).  5 s at most per
 * read.  0, or -1 with errno: the kernel's answer, or ETIMEDOUT.
 */
int	 nlroute_exchange(struct nlmsghdr *nlh, mnl_cb_t cb, void *data);

#endif
