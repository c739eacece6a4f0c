/*
 * intercept.h - ktproxy installs its own TPROXY steering (--intercept).
 *
 * Without --intercept the operator writes the nftables rules, the fwmark
 * rule and the local route by hand (ktproxy --help shows them).  With it,
 * ktproxy installs the same through netlink once its listeners exist, and
 * removes them on SIGTERM/SIGINT:
 *
 *   nft table inet ktproxy, chain prerouting (filter, hook prerouting,
 *   priority mangle):
 *     meta l4proto tcp socket transparent 1 meta mark set MARK accept
 *     [iifname IF | iifname != "lo"] tcp dport PORTS
 *         tproxy to :LISTEN-PORT meta mark set MARK accept
 *     [iifname IF | iifname != "lo"] tcp dport PORTS counter drop
 *   ip rule fwmark MARK lookup TABLE            (IPv4 and IPv6)
 *   ip route add local default dev lo table TABLE (IPv4 and IPv6)
 *
 * The third rule fails closed: tproxy breaks out of its rule when no
 * transparent socket listens on LISTEN-PORT (ktproxy died), and the packet
 * is dropped instead of being forwarded to its destination unproxied.
 * After a kill -9 the table stays and the ports stay closed until ktproxy
 * starts again (which replaces the stale table in one transaction) or
 * `ktproxy --intercept-remove` takes it away.
 */
#ifndef KTPROXY_INTERCEPT_H
#define KTPROXY_INTERCEPT_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define INTERCEPT_MAX_PORTS	32	/* ports or ranges in --intercept */
#define INTERCEPT_MAX_IFACES	16	/* --intercept-iface names */
#define INTERCEPT_MAX_PAIRS	64	/* ports x interfaces: rules in one batch */
#define INTERCEPT_MARK_DEFAULT	0x6b74	/* "kt" */
#define INTERCEPT_TABLE_DEFAULT	27508	/* 0x6b74 */
#define INTERCEPT_MAX_PREFIXES	64	/* --intercept-prefix, both families */
#define INTERCEPT_NFT_TABLE	"ktproxy"	/* family inet */
#define INTERCEPT_NFT_CHAIN	"prerouting"

/* How --intercept steers: nftables TPROXY (intercept.c) or the sk_lookup
 * BPF program (steer.c, steer_route.c). */
enum intercept_steer {
	STEER_TPROXY = 0,
	STEER_SK_LOOKUP,
};

/* One --intercept-prefix: a destination prefix, host bits zero. */
struct intercept_prefix {
	int		 ip_family;		/* AF_INET or AF_INET6 */
	uint8_t		 ip_addr[16];		/* network order; 4 bytes for IPv4 */
	unsigned	 ip_len;		/* prefix length */
	char		 ip_str[64];		/* "10.0.2.0/24", for messages */
	int		 ip_egress;		/* ifindex the destination is reached
						 * through (steer_route.c fills it in
						 * at start and reload); 0: unknown */
};

struct intercept_conf {
	enum intercept_steer ic_steer;		/* --steer */
	struct intercept_prefix ic_prefix[INTERCEPT_MAX_PREFIXES];
	unsigned	 ic_nprefixes;
	uint16_t	 ic_port_lo[INTERCEPT_MAX_PORTS];	/* host order */
	uint16_t	 ic_port_hi[INTERCEPT_MAX_PORTS];	/* == lo: one port */
	unsigned	 ic_nports;		/* 0: no --intercept */
	const char	*ic_ports_str;		/* as given, for the log */
	char		 ic_iface[INTERCEPT_MAX_IFACES][IFNAMSIZ];
	unsigned	 ic_nifaces;		/* 0: every interface but lo */
	uint32_t	 ic_mark;
	uint32_t	 ic_table;
	bool		 ic_remove;		/* --intercept-remove: clean up, exit */
};

/* intercept_conf.c: the options.  0, or -1 after config_error(). */
void	 intercept_conf_init(struct intercept_conf *ic);
int	 intercept_parse_ports(struct intercept_conf *ic, const char *arg);
int	 intercept_add_ifaces(struct intercept_conf *ic, const char *arg);
int	 intercept_parse_mark(struct intercept_conf *ic, const char *arg);
int	 intercept_parse_table(struct intercept_conf *ic, const char *arg);
int	 intercept_parse_steer(struct intercept_conf *ic, const char *arg);
/* "10.0.2.0/24,fd00:2::/64" (a bare address is a whole-length prefix);
 * each occurrence adds to the list. */
int	 intercept_add_prefixes(struct intercept_conf *ic, const char *arg);
/* Whether the first len bits of a and b are the same (addresses in network
 * order, at least (len + 7) / 8 bytes). */
bool	 intercept_bits_equal(const uint8_t *a, const uint8_t *b, unsigned len);
/* Whether ic steers exactly this prefix (family, address, length). */
bool	 intercept_has_prefix(const struct intercept_conf *ic, int family, const uint8_t *addr,
	    unsigned len);
/* The prefix of ic holding the address of sa (AF_INET or AF_INET6), or NULL. */
const struct intercept_prefix *intercept_prefix_of(const struct intercept_conf *ic,
	    const struct sockaddr *sa);
/*
 * --steer sk_lookup made the steered prefixes local routes, so a plain
 * connect from this host to one of them would come back to this host (to
 * ktproxy).  Bound to the interface the prefix was routed through before,
 * the route lookup skips the local route (it is on lo) and finds the real
 * one.  For fd, about to connect to dst: does that when dst is in a
 * steered prefix, else nothing.  0, or -1 with errno.
 */
int	 intercept_bind_egress(const struct intercept_conf *ic, int fd,
	    const struct sockaddr *dst);
/* Whether a and b steer by the same mechanism the same prefixes (their
 * order aside, egress not compared). */
bool	 intercept_prefixes_same(const struct intercept_conf *a, const struct intercept_conf *b);
/* Whether a and b steer the same ports, interfaces, mark and table (a
 * reload compares them: the steering is installed once). */
bool	 intercept_conf_same(const struct intercept_conf *a, const struct intercept_conf *b);
/* What no single option can say (e.g. --intercept-iface without
 * --intercept).  The number of mistakes reported. */
int	 intercept_conf_check(const struct intercept_conf *ic);

/*
 * intercept.c: install the steering towards the port of listen, or
 * do nothing when --intercept is not given.  A table of ours left by an
 * earlier instance is replaced in the same transaction.  Says what it
 * installed on stderr; 0, or -1 after naming the netlink operation that
 * failed and why (then nothing of it is left installed).
 */
int	 intercept_install(const struct intercept_conf *ic, const struct sockaddr_storage *listen);
/*
 * Remove what intercept_install installed (or an earlier, killed instance
 * left): the nft table, the fwmark rules, the local routes.  What was not
 * there is no error.  With --intercept not given and force false, does
 * nothing.  0, or -1 after saying what could not be removed.
 */
int	 intercept_remove(const struct intercept_conf *ic, bool force);

#endif
