/*
 * intercept.c - install and remove the TPROXY steering (intercept.h):
 * the nftables table through libnftnl, in one transaction (a netfilter
 * batch), and the policy routing through netlink_route.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter_ipv4.h>

#include "intercept.h"
#include "netlink_route.h"

#define INTERCEPT_NL_TIMEOUT_MS	5000	/* for the kernel's acknowledgements */
#define INTERCEPT_MSG_MAX	(3 + 2 + 2 * INTERCEPT_MAX_PAIRS)
#define INTERCEPT_MSG_ROOM	1024	/* bytes one message of ours takes, at most */

/* A batch under construction: its buffer, and what each message is, to
 * name the one the kernel refuses. */
struct intercept_batch {
	struct mnl_nlmsg_batch	*ib_batch;
	char			*ib_buf;
	uint32_t		 ib_seq0;	/* the first message's sequence number */
	unsigned		 ib_nmsgs;	/* messages that the kernel acknowledges */
	const char		*ib_oom;	/* the message that could not be built */
	char			 ib_what[INTERCEPT_MSG_MAX][96];
};

/* ---------------------------------------------------------------- rules */

static struct nftnl_expr *
intercept_expr(struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (e != NULL)
		nftnl_rule_add_expr(r, e);
	return e;
}

/* Each helper adds one expression to r; false when out of memory. */
static bool
intercept_meta_load(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = intercept_expr(r, "meta");

	if (e == NULL)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	return true;
}

static bool
intercept_meta_set(struct nftnl_rule *r, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = intercept_expr(r, "meta");

	if (e == NULL)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
	return true;
}

static bool
intercept_cmp(struct nftnl_rule *r, uint32_t sreg, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = intercept_expr(r, "cmp");

	if (e == NULL)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	return true;
}

static bool
intercept_imm_data(struct nftnl_rule *r, uint32_t dreg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = intercept_expr(r, "immediate");

	if (e == NULL)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
	return true;
}

static bool
intercept_verdict(struct nftnl_rule *r, int verdict)
{
	struct nftnl_expr *e = intercept_expr(r, "immediate");

	if (e == NULL)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	return true;
}

/* meta l4proto tcp */
static bool
intercept_match_tcp(struct nftnl_rule *r)
{
	uint8_t tcp = IPPROTO_TCP;

	return intercept_meta_load(r, NFT_META_L4PROTO, NFT_REG_1) &&
	    intercept_cmp(r, NFT_REG_1, NFT_CMP_EQ, &tcp, sizeof(tcp));
}

/* meta mark set MARK */
static bool
intercept_set_mark(struct nftnl_rule *r, uint32_t mark)
{
	return intercept_imm_data(r, NFT_REG_1, &mark, sizeof(mark)) &&
	    intercept_meta_set(r, NFT_META_MARK, NFT_REG_1);
}

/* iifname IFNAME, or with iface NULL iifname != "lo" */
static bool
intercept_match_iface(struct nftnl_rule *r, const char *iface)
{
	const char *name = iface != NULL ? iface : "lo";

	return intercept_meta_load(r, NFT_META_IIFNAME, NFT_REG_1) &&
	    intercept_cmp(r, NFT_REG_1, iface != NULL ? NFT_CMP_EQ : NFT_CMP_NEQ, name,
	    (uint32_t)strlen(name) + 1);
}

/* tcp dport LO[-HI]: network byte order compares as memory does */
static bool
intercept_match_dport(struct nftnl_rule *r, uint16_t lo, uint16_t hi)
{
	struct nftnl_expr *e = intercept_expr(r, "payload");
	uint16_t nlo = htons(lo), nhi = htons(hi);

	if (e == NULL)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, 2);	/* struct tcphdr dest */
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, 2);
	if (lo == hi)
		return intercept_cmp(r, NFT_REG_1, NFT_CMP_EQ, &nlo, 2);
	return intercept_cmp(r, NFT_REG_1, NFT_CMP_GTE, &nlo, 2) &&
	    intercept_cmp(r, NFT_REG_1, NFT_CMP_LTE, &nhi, 2);
}

/*
 * tproxy to :PORT, address family left open (NFPROTO_UNSPEC, only with no
 * address): one rule serves IPv4 and IPv6 in an inet table.  When no
 * transparent socket listens on PORT the expression ends the rule
 * (NFT_BREAK), so the next rule sees the packet.
 */
static bool
intercept_tproxy(struct nftnl_rule *r, uint16_t port)
{
	uint16_t nport = htons(port);
	struct nftnl_expr *e;

	if (!intercept_imm_data(r, NFT_REG_2, &nport, sizeof(nport)) ||
	    (e = intercept_expr(r, "tproxy")) == NULL)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_FAMILY, NFPROTO_UNSPEC);
	nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_REG_PORT, NFT_REG_2);
	return true;
}

/* socket transparent 1: the packet belongs to a transparent socket */
static bool
intercept_match_transparent(struct nftnl_rule *r)
{
	struct nftnl_expr *e = intercept_expr(r, "socket");
	uint8_t one = 1;

	if (e == NULL)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_KEY, NFT_SOCKET_TRANSPARENT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_DREG, NFT_REG_1);
	return intercept_cmp(r, NFT_REG_1, NFT_CMP_EQ, &one, sizeof(one));
}

static struct nftnl_rule *
intercept_rule_new(void)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (r == NULL)
		return NULL;
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, INTERCEPT_NFT_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, INTERCEPT_NFT_CHAIN);
	return r;
}

/* ---------------------------------------------------------------- batch */

static int
intercept_batch_init(struct intercept_batch *b, unsigned nmsgs)
{
	size_t size = (size_t)(nmsgs + 2) * INTERCEPT_MSG_ROOM;

	memset(b, 0, sizeof(*b));
	if ((b->ib_buf = malloc(size)) == NULL ||
	    (b->ib_batch = mnl_nlmsg_batch_start(b->ib_buf, size)) == NULL) {
		free(b->ib_buf);
		return -1;
	}
	b->ib_seq0 = (uint32_t)time(NULL);
	nftnl_batch_begin(mnl_nlmsg_batch_current(b->ib_batch), b->ib_seq0 - 1);
	mnl_nlmsg_batch_next(b->ib_batch);
	return 0;
}

static void
intercept_batch_free(struct intercept_batch *b)
{
	if (b->ib_batch != NULL)
		mnl_nlmsg_batch_stop(b->ib_batch);
	free(b->ib_buf);
}

/* The header of the next message, which asks for an acknowledgement;
 * what names it in an error message. */
static struct nlmsghdr *
intercept_batch_msg(struct intercept_batch *b, uint16_t type, uint16_t flags, const char *what)
{
	snprintf(b->ib_what[b->ib_nmsgs], sizeof(b->ib_what[0]), "%s", what);
	return nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b->ib_batch), type, NFPROTO_INET,
	    flags | NLM_F_ACK, b->ib_seq0 + b->ib_nmsgs++);
}

static void
intercept_batch_next(struct intercept_batch *b)
{
	mnl_nlmsg_batch_next(b->ib_batch);
}

static void
intercept_batch_table(struct intercept_batch *b, uint16_t type, uint16_t flags, const char *what)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh = intercept_batch_msg(b, type, flags, what);

	if (t != NULL) {
		nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
		nftnl_table_set_str(t, NFTNL_TABLE_NAME, INTERCEPT_NFT_TABLE);
		nftnl_table_nlmsg_build_payload(nlh, t);
		nftnl_table_free(t);
	} else if (b->ib_oom == NULL) {
		b->ib_oom = b->ib_what[b->ib_nmsgs - 1];
	}
	intercept_batch_next(b);
}

static void
intercept_batch_chain(struct intercept_batch *b)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh = intercept_batch_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE,
	    "NFT_MSG_NEWCHAIN (inet ktproxy prerouting)");

	if (c != NULL) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, INTERCEPT_NFT_TABLE);
		nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, INTERCEPT_NFT_CHAIN);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_PRE_ROUTING);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, NF_IP_PRI_MANGLE);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
		nftnl_chain_nlmsg_build_payload(nlh, c);
		nftnl_chain_free(c);
	} else if (b->ib_oom == NULL) {
		b->ib_oom = b->ib_what[b->ib_nmsgs - 1];
	}
	intercept_batch_next(b);
}

/* Adds r and frees it; ok false (or r NULL): it ran out of memory while
 * being built, and the batch will not be sent. */
static void
intercept_batch_rule(struct intercept_batch *b, struct nftnl_rule *r, bool ok, const char *what)
{
	struct nlmsghdr *nlh = intercept_batch_msg(b, NFT_MSG_NEWRULE,
	    NLM_F_CREATE | NLM_F_APPEND, what);

	if (r != NULL && ok)
		nftnl_rule_nlmsg_build_payload(nlh, r);
	else if (b->ib_oom == NULL)
		b->ib_oom = b->ib_what[b->ib_nmsgs - 1];
	if (r != NULL)
		nftnl_rule_free(r);
	intercept_batch_next(b);
}

/*
 * Send the batch and read every acknowledgement.  0, or -1 with the first
 * refused message named in err.  The batch is one transaction: when any
 * message is refused, none of it takes effect.
 */
static int
intercept_batch_send(struct intercept_batch *b, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct timeval tv = { INTERCEPT_NL_TIMEOUT_MS / 1000, 0 };
	struct mnl_socket *nl;
	unsigned acked = 0, portid;
	int first_err = 0, rc = -1;
	const char *failed = NULL;

	if (b->ib_oom != NULL) {
		snprintf(err, errlen, "nftables %s: out of memory building it", b->ib_oom);
		errno = ENOMEM;
		return -1;
	}
	nftnl_batch_end(mnl_nlmsg_batch_current(b->ib_batch), b->ib_seq0 + b->ib_nmsgs);
	mnl_nlmsg_batch_next(b->ib_batch);
	if ((nl = mnl_socket_open(NETLINK_NETFILTER)) == NULL) {
		snprintf(err, errlen, "netlink socket (NETLINK_NETFILTER): %s", strerror(errno));
		return -1;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) == -1 ||
	    setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1) {
		snprintf(err, errlen, "netlink bind (NETLINK_NETFILTER): %s", strerror(errno));
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(b->ib_batch),
	    mnl_nlmsg_batch_size(b->ib_batch)) == -1) {
		snprintf(err, errlen, "nftables batch send: %s", strerror(errno));
		goto out;
	}
	/* One acknowledgement per message, success or error; a transaction
	 * that fails as a whole answers once, for the batch's first message.
	 * Bounded by the receive timeout and the number of reads. */
	for (unsigned reads = 0; acked < b->ib_nmsgs && reads < 4 * INTERCEPT_MSG_MAX; reads++) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		const struct nlmsghdr *nlh;
		int len;

		if (n == -1) {
			if (first_err != 0)
				break;	/* the refusals came; the rest need not */
			snprintf(err, errlen, "nftables batch: no answer from the kernel: %s",
			    errno == EAGAIN ? "timed out" : strerror(errno));
			goto out;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		    nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *e;
			uint32_t i;

			if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_pid != portid)
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			acked++;
			if (e->error == 0 || first_err != 0)
				continue;
			first_err = -e->error;
			i = nlh->nlmsg_seq - b->ib_seq0;
			failed = i < b->ib_nmsgs ? b->ib_what[i] : "batch (as a whole)";
		}
		/* A refused batch as a whole answers once: wait for the other
		 * answers only briefly. */
		if (first_err != 0 && acked < b->ib_nmsgs) {
			struct timeval brief = { 0, 200 * 1000 };

			setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &brief,
			    sizeof(brief));
		}
	}
	if (first_err != 0) {
		snprintf(err, errlen, "nftables %s: %s%s", failed, strerror(first_err),
		    first_err == EPERM ? " (needs CAP_NET_ADMIN: run ktproxy as root)" :
		    first_err == EOPNOTSUPP || first_err == ENOENT ?
		    " (is the kernel built with nft_tproxy and nft_socket?)" : "");
		errno = first_err;
		goto out;
	}
	rc = 0;
out:
	mnl_socket_close(nl);
	return rc;
}

/* ---------------------------------------------------------------- install */

/* The two rules for one interface (NULL: all but lo) and port range. */
static void
intercept_batch_port_rules(struct intercept_batch *b, const char *iface, uint16_t lo,
    uint16_t hi, const struct intercept_conf *ic, uint16_t listen_port)
{
	char ports[16], what[96];
	struct nftnl_rule *r;
	bool ok;

	if (lo == hi)
		snprintf(ports, sizeof(ports), "%u", lo);
	else
		snprintf(ports, sizeof(ports), "%u-%u", lo, hi);
	snprintf(what, sizeof(what), "NFT_MSG_NEWRULE (iifname %s%s tcp dport %s tproxy to :%u)",
	    iface != NULL ? "" : "!= ", iface != NULL ? iface : "lo", ports, listen_port);
	r = intercept_rule_new();
	ok = r != NULL && intercept_match_iface(r, iface) && intercept_match_tcp(r) &&
	    intercept_match_dport(r, lo, hi) && intercept_tproxy(r, listen_port) &&
	    intercept_set_mark(r, ic->ic_mark) && intercept_verdict(r, NF_ACCEPT);
	intercept_batch_rule(b, r, ok, what);

	/* Reached only when tproxy found no listener: fail closed, counted
	 * (nft list table inet ktproxy shows how many were dropped). */
	snprintf(what, sizeof(what), "NFT_MSG_NEWRULE (iifname %s%s tcp dport %s counter drop)",
	    iface != NULL ? "" : "!= ", iface != NULL ? iface : "lo", ports);
	r = intercept_rule_new();
	ok = r != NULL && intercept_match_iface(r, iface) && intercept_match_tcp(r) &&
	    intercept_match_dport(r, lo, hi) && intercept_expr(r, "counter") != NULL &&
	    intercept_verdict(r, NF_DROP);
	intercept_batch_rule(b, r, ok, what);
}

static int
intercept_nft_install(const struct intercept_conf *ic, uint16_t listen_port, char *err,
    size_t errlen)
{
	struct intercept_batch *b;
	struct nftnl_rule *r;
	unsigned nifaces = ic->ic_nifaces > 0 ? ic->ic_nifaces : 1;
	int rc = -1;
	bool ok;

	if ((b = malloc(sizeof(*b))) == NULL ||
	    intercept_batch_init(b, 5 + 2 * ic->ic_nports * nifaces) == -1) {
		free(b);
		snprintf(err, errlen, "nftables batch: out of memory");
		return -1;
	}
	/* add (no-op when there), delete, add: a stale table of ours goes
	 * and the new one comes in the same transaction, with no moment in
	 * which the ports are open */
	intercept_batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, "NFT_MSG_NEWTABLE (inet ktproxy)");
	intercept_batch_table(b, NFT_MSG_DELTABLE, 0, "NFT_MSG_DELTABLE (inet ktproxy, stale)");
	intercept_batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL,
	    "NFT_MSG_NEWTABLE (inet ktproxy)");
	intercept_batch_chain(b);

	/* Packets of connections ktproxy already holds (and the return
	 * packets of transparent upstream sockets): deliver, marked. */
	r = intercept_rule_new();
	ok = r != NULL && intercept_match_tcp(r) && intercept_match_transparent(r) &&
	    intercept_set_mark(r, ic->ic_mark) && intercept_verdict(r, NF_ACCEPT);
	intercept_batch_rule(b, r, ok,
	    "NFT_MSG_NEWRULE (meta l4proto tcp socket transparent 1 meta mark set ... accept)");
	for (unsigned i = 0; i < nifaces; i++)
		for (unsigned p = 0; p < ic->ic_nports; p++)
			intercept_batch_port_rules(b, ic->ic_nifaces > 0 ? ic->ic_iface[i] : NULL,
			    ic->ic_port_lo[p], ic->ic_port_hi[p], ic, listen_port);
	rc = intercept_batch_send(b, err, errlen);
	intercept_batch_free(b);
	free(b);
	return rc;
}

/* Delete our table.  *existed says whether there was one. */
static int
intercept_nft_remove(bool *existed, char *err, size_t errlen)
{
	struct intercept_batch *b;
	int rc, saved;

	*existed = false;
	if ((b = malloc(sizeof(*b))) == NULL || intercept_batch_init(b, 1) == -1) {
		free(b);
		snprintf(err, errlen, "nftables batch: out of memory");
		return -1;
	}
	intercept_batch_table(b, NFT_MSG_DELTABLE, 0, "NFT_MSG_DELTABLE (inet ktproxy)");
	rc = intercept_batch_send(b, err, errlen);
	saved = errno;
	intercept_batch_free(b);
	free(b);
	if (rc == 0)
		*existed = true;
	else if (saved == ENOENT)
		rc = 0;		/* nothing to remove */
	return rc;
}

/* The fwmark rules and local routes, both families.  IPv6 that the kernel
 * does not have (EAFNOSUPPORT) is skipped with a word; *v6 says whether
 * IPv6 was set up, *nchanged how many of the four were added or deleted. */
static int
intercept_routing(const struct intercept_conf *ic, bool add, bool *v6, unsigned *nchanged,
    char *err, size_t errlen)
{
	static const int families[] = { AF_INET, AF_INET6 };
	bool rule_changed, route_changed;

	*v6 = false;
	*nchanged = 0;
	for (unsigned i = 0; i < 2; i++) {
		int af = families[i];

		if (nlroute_fwmark_rule(af, add, ic->ic_mark, ic->ic_table, &rule_changed, err,
		    errlen) == -1 ||
		    nlroute_local_default(af, add, ic->ic_table, &route_changed, err,
		    errlen) == -1) {
			if (af == AF_INET6 && errno == EAFNOSUPPORT) {
				if (add)
					fprintf(stderr, "ktproxy: intercept: IPv6 is off in this "
					    "kernel: steering IPv4 only\n");
				return 0;
			}
			return -1;
		}
		*nchanged += rule_changed + route_changed;
		if (af == AF_INET6)
			*v6 = true;
	}
	return 0;
}

int
intercept_install(const struct intercept_conf *ic, const struct sockaddr_storage *listen)
{
	char err[256], ifaces[INTERCEPT_MAX_IFACES * (IFNAMSIZ + 1) + 1] = "";
	/* the port is at the same place in sockaddr_in and sockaddr_in6 */
	uint16_t listen_port = ntohs(((const struct sockaddr_in *)listen)->sin_port);
	unsigned n;
	bool v6;

	if (ic->ic_nports == 0 || ic->ic_steer != STEER_TPROXY)
		return 0;
	/* Routing first: once the table steers a packet, its route is there. */
	if (intercept_routing(ic, true, &v6, &n, err, sizeof(err)) == -1) {
		fprintf(stderr, "ktproxy: --intercept: %s\n", err);
		intercept_routing(ic, false, &v6, &n, err, sizeof(err));
		return -1;
	}
	if (intercept_nft_install(ic, listen_port, err, sizeof(err)) == -1) {
		fprintf(stderr, "ktproxy: --intercept: %s\n", err);
		intercept_routing(ic, false, &v6, &n, err, sizeof(err));
		return -1;
	}
	for (unsigned i = 0; i < ic->ic_nifaces; i++)
		snprintf(ifaces + strlen(ifaces), sizeof(ifaces) - strlen(ifaces), "%s%s",
		    i > 0 ? "," : "", ic->ic_iface[i]);
	fprintf(stderr, "ktproxy: intercept: installed nft table inet %s (tcp dport %s on %s "
	    "-> tproxy to :%u, mark 0x%x; fails closed: dropped while nothing listens), "
	    "ip rule fwmark 0x%x lookup %u and local default route dev lo in table %u (%s)\n",
	    INTERCEPT_NFT_TABLE, ic->ic_ports_str, ic->ic_nifaces > 0 ? ifaces :
	    "every interface but lo", listen_port, ic->ic_mark, ic->ic_mark, ic->ic_table,
	    ic->ic_table, v6 ? "IPv4 and IPv6" : "IPv4");
	return 0;
}

int
intercept_remove(const struct intercept_conf *ic, bool force)
{
	char err[256];
	bool existed, v6;
	unsigned n;
	int rc = 0;

	if ((ic->ic_nports == 0 || ic->ic_steer != STEER_TPROXY) && !force)
		return 0;
	/* The table first: from here on the ports are forwarded as usual. */
	if (intercept_nft_remove(&existed, err, sizeof(err)) == -1) {
		fprintf(stderr, "ktproxy: intercept: %s\n", err);
		rc = -1;
	} else {
		fprintf(stderr, "ktproxy: intercept: %s nft table inet %s\n",
		    existed ? "removed" : "no", INTERCEPT_NFT_TABLE);
	}
	if (intercept_routing(ic, false, &v6, &n, err, sizeof(err)) == -1) {
		fprintf(stderr, "ktproxy: intercept: %s\n", err);
		rc = -1;
	} else if (n > 0) {
		fprintf(stderr, "ktproxy: intercept: removed %u of ip rule fwmark 0x%x lookup %u "
		    "and local default route dev lo in table %u (%s)\n", n, ic->ic_mark,
		    ic->ic_table, ic->ic_table, v6 ? "IPv4 and IPv6" : "IPv4");
	} else {
		fprintf(stderr, "ktproxy: intercept: no ip rule fwmark 0x%x lookup %u, no route "
		    "in table %u\n", ic->ic_mark, ic->ic_table, ic->ic_table);
	}
	return rc;
}
