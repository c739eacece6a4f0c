/*
 * netlink_route.c - fwmark rule and local default route over rtnetlink
 * (libmnl).  One request, one acknowledgement, on a socket of its own.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include "netlink_route.h"

#define NLROUTE_TIMEOUT_S	5	/* for the kernel's answer */
#define NLROUTE_RULE_PRIORITY	32700	/* before main (32766) and default */

static const char *
nlroute_family(int family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

int
nlroute_exchange(struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct timeval tv = { NLROUTE_TIMEOUT_S, 0 };
	struct mnl_socket *nl;
	unsigned int portid, seq;
	ssize_t n;
	int rc = -1, saved;

	if ((nl = mnl_socket_open(NETLINK_ROUTE)) == NULL)
		return -1;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) == -1 ||
	    setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1)
		goto out;
	portid = mnl_socket_get_portid(nl);
	seq = nlh->nlmsg_seq = (unsigned int)time(NULL);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) == -1)
		goto out;
	/* An acknowledgement is an NLMSG_ERROR, a dump ends with NLMSG_DONE:
	 * mnl_cb_run returns -1 with errno for an error, MNL_CB_STOP (0) at
	 * the end.  Each read waits NLROUTE_TIMEOUT_S at most. */
	for (;;) {
		if ((n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) == -1) {
			if (errno == EAGAIN)
				errno = ETIMEDOUT;
			goto out;
		}
		if ((rc = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data)) <= MNL_CB_STOP)
			break;
	}
	rc = rc == MNL_CB_STOP ? 0 : -1;
	if (rc == -1 && errno == 0)
		errno = EPROTO;
out:
	saved = errno;
	mnl_socket_close(nl);
	errno = saved;
	return rc;
}

/* Talk, then sort the answer: "already there" on add and "not there" on
 * delete are success with *changed false. */
static int
nlroute_apply(struct nlmsghdr *nlh, bool add, const char *what, bool *changed, char *err,
    size_t errlen)
{
	*changed = false;
	if (nlroute_exchange(nlh, NULL, NULL) == 0) {
		*changed = true;
		return 0;
	}
	if ((add && errno == EEXIST) || (!add && (errno == ENOENT || errno == ESRCH)))
		return 0;
	snprintf(err, errlen, "%s: %s%s", what, strerror(errno),
	    errno == EPERM ? " (needs CAP_NET_ADMIN: run ktproxy as root)" : "");
	return -1;
}

int
nlroute_fwmark_rule(int family, bool add, uint32_t mark, uint32_t table, bool *changed,
    char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], what[128];
	struct nlmsghdr *nlh;
	struct fib_rule_hdr *frh;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = add ? RTM_NEWRULE : RTM_DELRULE;
	/* EXCL: without it the kernel adds the same rule a second time */
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = (uint8_t)family;
	frh->action = FR_ACT_TO_TBL;
	frh->table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	/* A fixed priority: without one the kernel picks the next free one,
	 * and the same rule added again is a second rule, not EEXIST. */
	mnl_attr_put_u32(nlh, FRA_PRIORITY, NLROUTE_RULE_PRIORITY);
	mnl_attr_put_u32(nlh, FRA_FWMARK, mark);
	mnl_attr_put_u32(nlh, FRA_TABLE, table);
	snprintf(what, sizeof(what), "rtnetlink %s (%s fwmark 0x%x lookup %u)",
	    add ? "RTM_NEWRULE" : "RTM_DELRULE", nlroute_family(family), mark, table);
	return nlroute_apply(nlh, add, what, changed, err, errlen);
}

int
nlroute_local_default(int family, bool add, uint32_t table, bool *changed, char *err,
    size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], what[128];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	unsigned lo = if_nametoindex("lo");

	snprintf(what, sizeof(what), "rtnetlink %s (%s local default dev lo table %u)",
	    add ? "RTM_NEWROUTE" : "RTM_DELROUTE", nlroute_family(family), table);
	if (lo == 0) {
		snprintf(err, errlen, "%s: no interface lo: %s", what, strerror(errno));
		return -1;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = 0;			/* default: every destination */
	rtm->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	/* A delete matches any protocol and scope (0, NOWHERE), so a route
	 * made by hand with the same destination, type and table goes too. */
	rtm->rtm_protocol = add ? RTPROT_STATIC : RTPROT_UNSPEC;
	rtm->rtm_scope = add ? RT_SCOPE_HOST : RT_SCOPE_NOWHERE;
	rtm->rtm_type = RTN_LOCAL;		/* deliver here, whatever the address */
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	mnl_attr_put_u32(nlh, RTA_OIF, lo);
	return nlroute_apply(nlh, add, what, changed, err, errlen);
}
