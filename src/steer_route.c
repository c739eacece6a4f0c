/*
 * steer_route.c - local routes and egress interfaces for --steer sk_lookup
 * (steer_route.h).  Dumps and requests on rtnetlink sockets of their own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include "netlink_route.h"
#include "steer_route.h"

#define STEER_ROUTE_MAX_DUMPED	256	/* our routes found in one dump */

/* One of the routes a dump found. */
struct steer_route {
	int		 sr_family;
	uint8_t		 sr_dst[16];
	unsigned	 sr_len;
	int		 sr_oif;
	uint32_t	 sr_priority;
};

/* What a dump collects: routes of one table and protocol (0: any). */
struct steer_dump {
	int			 sd_family;
	unsigned		 sd_table;
	unsigned		 sd_proto;	/* 0: any */
	unsigned		 sd_type;	/* RTN_UNICAST, RTN_LOCAL */
	struct steer_route	 sd_routes[STEER_ROUTE_MAX_DUMPED];
	unsigned		 sd_n;
};

static int
steer_route_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;

	if (mnl_attr_type_valid(a, RTA_MAX) > 0)
		tb[mnl_attr_get_type(a)] = a;
	return MNL_CB_OK;
}

static int
steer_route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct steer_dump *d = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = { NULL };
	struct steer_route *r;
	unsigned table;
	size_t alen = rtm->rtm_family == AF_INET ? 4 : 16;

	if (rtm->rtm_family != d->sd_family || rtm->rtm_type != d->sd_type ||
	    (d->sd_proto != 0 && rtm->rtm_protocol != d->sd_proto))
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*rtm), steer_route_attr, tb);
	table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	if (table != d->sd_table || d->sd_n == STEER_ROUTE_MAX_DUMPED)
		return MNL_CB_OK;
	r = &d->sd_routes[d->sd_n];
	memset(r, 0, sizeof(*r));
	r->sr_family = rtm->rtm_family;
	r->sr_len = rtm->rtm_dst_len;
	if (tb[RTA_DST] != NULL && mnl_attr_get_payload_len(tb[RTA_DST]) == alen)
		memcpy(r->sr_dst, mnl_attr_get_payload(tb[RTA_DST]), alen);
	if (tb[RTA_OIF] != NULL)
		r->sr_oif = (int)mnl_attr_get_u32(tb[RTA_OIF]);
	else if (tb[RTA_MULTIPATH] != NULL &&
	    mnl_attr_get_payload_len(tb[RTA_MULTIPATH]) >= sizeof(struct rtnexthop))
		r->sr_oif = ((const struct rtnexthop *)mnl_attr_get_payload(
		    tb[RTA_MULTIPATH]))->rtnh_ifindex;	/* the first path's */
	if (tb[RTA_PRIORITY] != NULL)
		r->sr_priority = mnl_attr_get_u32(tb[RTA_PRIORITY]);
	d->sd_n++;
	return MNL_CB_OK;
}

static int
steer_route_dump(struct steer_dump *d)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;

	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)d->sd_family;
	d->sd_n = 0;
	return nlroute_exchange(nlh, steer_route_cb, d);
}

/* Add (RTM_NEWROUTE, replacing) or delete the local route of a prefix. */
static int
steer_route_local(bool add, int family, const uint8_t *dst, unsigned len)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;
	unsigned lo = if_nametoindex("lo");

	if (lo == 0)
		return -1;
	nlh->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = (uint8_t)len;
	rtm->rtm_table = RT_TABLE_LOCAL;
	rtm->rtm_protocol = STEER_RTPROT;
	rtm->rtm_scope = RT_SCOPE_HOST;
	rtm->rtm_type = RTN_LOCAL;
	mnl_attr_put(nlh, RTA_DST, family == AF_INET ? 4 : 16, dst);
	mnl_attr_put_u32(nlh, RTA_OIF, lo);
	return nlroute_exchange(nlh, NULL, NULL);
}

/* Does route r hold the whole prefix p? */
static bool
steer_route_covers(const struct steer_route *r, const struct intercept_prefix *p)
{
	return r->sr_len <= p->ip_len && intercept_bits_equal(r->sr_dst, p->ip_addr, r->sr_len);
}

/* The main table's most specific route holding p (lowest metric among
 * equals): its interface.  0 when there is none. */
static int
steer_route_egress(const struct steer_dump *d, const struct intercept_prefix *p)
{
	const struct steer_route *best = NULL;

	for (unsigned i = 0; i < d->sd_n; i++) {
		const struct steer_route *r = &d->sd_routes[i];

		if (r->sr_oif == 0 || !steer_route_covers(r, p))
			continue;
		if (best == NULL || r->sr_len > best->sr_len ||
		    (r->sr_len == best->sr_len && r->sr_priority < best->sr_priority))
			best = r;
	}
	return best ? best->sr_oif : 0;
}

/* The first character of a /proc/sys file, or '\0'. */
static char
steer_route_sysctl(const char *path)
{
	char v[4] = "";
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return '\0';
	if (read(fd, v, sizeof(v) - 1) <= 0)
		v[0] = '\0';
	close(fd);
	return v[0];
}

/* net.ipv4.conf.IF.accept_local=1: the server's answers come from an
 * address that is now local, which the kernel drops as a martian unless
 * the interface accepts local sources.  Already 1 (sysctl.d), it is not
 * written, so a read-only /proc/sys (systemd's ProtectKernelTunables)
 * does.  Strict reverse-path filtering would drop them still (the local
 * route is on lo): say so. */
static int
steer_route_accept_local(int ifindex, char *err, size_t errlen)
{
	char name[IF_NAMESIZE], path[128];
	int fd;

	if (if_indextoname((unsigned)ifindex, name) == NULL) {
		snprintf(err, errlen, "interface %d: %s", ifindex, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/accept_local", name);
	if (steer_route_sysctl(path) != '1') {
		if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
		if (write(fd, "1\n", 2) != 2) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
	}
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", name);
	if (steer_route_sysctl(path) == '1')
		fprintf(stderr, "ktproxy: warning: %s is 1 (strict): the server's answers "
		    "through %s will be dropped; set it to 0 or 2\n", path, name);
	return 0;
}

int
steer_routes_install(struct intercept_conf *ic, char *err, size_t errlen)
{
	static struct steer_dump main4, main6;
	int families[2] = { AF_INET, AF_INET6 };
	struct steer_dump *dumps[2] = { &main4, &main6 };

	for (int f = 0; f < 2; f++) {
		dumps[f]->sd_family = families[f];
		dumps[f]->sd_table = RT_TABLE_MAIN;
		dumps[f]->sd_proto = 0;
		dumps[f]->sd_type = RTN_UNICAST;
		if (steer_route_dump(dumps[f]) == -1) {
			snprintf(err, errlen, "rtnetlink RTM_GETROUTE (%s main table): %s",
			    families[f] == AF_INET ? "IPv4" : "IPv6", strerror(errno));
			return -1;
		}
	}
	for (unsigned i = 0; i < ic->ic_nprefixes; i++) {
		struct intercept_prefix *p = &ic->ic_prefix[i];

		p->ip_egress = steer_route_egress(p->ip_family == AF_INET ? &main4 : &main6, p);
		if (p->ip_egress == 0) {
			snprintf(err, errlen, "--intercept-prefix %s: the main routing table has "
			    "no route to it: ktproxy could not reach the servers", p->ip_str);
			return -1;
		}
		if (p->ip_family == AF_INET &&
		    steer_route_accept_local(p->ip_egress, err, errlen) == -1)
			return -1;
		if (steer_route_local(true, p->ip_family, p->ip_addr, p->ip_len) == -1) {
			snprintf(err, errlen, "rtnetlink RTM_NEWROUTE (local %s dev lo table local): "
			    "%s%s", p->ip_str, strerror(errno),
			    errno == EPERM ? " (needs CAP_NET_ADMIN)" : "");
			return -1;
		}
	}
	return 0;
}

int
steer_routes_prune(const struct intercept_conf *keep, unsigned *removed, char *err,
    size_t errlen)
{
	static struct steer_dump ours;
	int families[2] = { AF_INET, AF_INET6 };

	*removed = 0;
	for (int f = 0; f < 2; f++) {
		ours.sd_family = families[f];
		ours.sd_table = RT_TABLE_LOCAL;
		ours.sd_proto = STEER_RTPROT;
		ours.sd_type = RTN_LOCAL;
		if (steer_route_dump(&ours) == -1) {
			snprintf(err, errlen, "rtnetlink RTM_GETROUTE (%s local table): %s",
			    families[f] == AF_INET ? "IPv4" : "IPv6", strerror(errno));
			return -1;
		}
		for (unsigned i = 0; i < ours.sd_n; i++) {
			const struct steer_route *r = &ours.sd_routes[i];

			if (keep != NULL &&
			    intercept_has_prefix(keep, r->sr_family, r->sr_dst, r->sr_len))
				continue;
			if (steer_route_local(false, r->sr_family, r->sr_dst, r->sr_len) == -1 &&
			    errno != ESRCH && errno != ENOENT) {
				snprintf(err, errlen, "rtnetlink RTM_DELROUTE (a local route of "
				    "ktproxy's): %s", strerror(errno));
				return -1;
			}
			(*removed)++;
		}
	}
	return 0;
}
