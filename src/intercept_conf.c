/*
 * intercept_conf.c - the --intercept* options (intercept.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_msg.h"
#include "intercept.h"

void
intercept_conf_init(struct intercept_conf *ic)
{
	memset(ic, 0, sizeof(*ic));
	ic->ic_mark = INTERCEPT_MARK_DEFAULT;
	ic->ic_table = INTERCEPT_TABLE_DEFAULT;
}

/* One port, 1 to 65535, ending at end; *next is where it stopped. */
static int
intercept_port(const char *s, const char **next, uint16_t *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || v < 1 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	*next = end;
	return 0;
}

/* "443", "443,8443", "8000-8099,443": replaces what an earlier value set. */
int
intercept_parse_ports(struct intercept_conf *ic, const char *arg)
{
	const char *p = arg;
	unsigned n = 0;

	for (;;) {
		uint16_t lo, hi;

		if (n == INTERCEPT_MAX_PORTS) {
			config_error("--intercept: \"%s\": more than %d ports or ranges\n", arg,
			    INTERCEPT_MAX_PORTS);
			return -1;
		}
		if (intercept_port(p, &p, &lo) == -1)
			goto bad;
		hi = lo;
		if (*p == '-' && (intercept_port(p + 1, &p, &hi) == -1 || hi < lo))
			goto bad;
		ic->ic_port_lo[n] = lo;
		ic->ic_port_hi[n] = hi;
		n++;
		if (*p == '\0')
			break;
		if (*p++ != ',')
			goto bad;
	}
	ic->ic_nports = n;
	ic->ic_ports_str = arg;
	return 0;
bad:
	config_error("--intercept: \"%s\" is not a comma-separated list of ports (1-65535) or "
	    "ranges LOW-HIGH, e.g. 443,8443 or 8000-8099\n", arg);
	return -1;
}

/* "eth0" or "eth0,eth1"; each occurrence adds to the list. */
int
intercept_add_ifaces(struct intercept_conf *ic, const char *arg)
{
	const char *p = arg;

	for (;;) {
		size_t len = strcspn(p, ",");

		if (len == 0 || len >= IFNAMSIZ) {
			config_error("--intercept-iface: \"%s\": an interface name is 1 to %d "
			    "characters, names separated by commas\n", arg, IFNAMSIZ - 1);
			return -1;
		}
		if (ic->ic_nifaces == INTERCEPT_MAX_IFACES) {
			config_error("--intercept-iface: more than %d interfaces\n",
			    INTERCEPT_MAX_IFACES);
			return -1;
		}
		memcpy(ic->ic_iface[ic->ic_nifaces], p, len);
		ic->ic_iface[ic->ic_nifaces][len] = '\0';
		ic->ic_nifaces++;
		p += len;
		if (*p == '\0')
			return 0;
		p++;
	}
}

/* A number from 1 to 2^32-1, decimal or 0x hexadecimal. */
static int
intercept_u32(const char *opt, const char *arg, uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno || *end || end == arg || *arg == '-' || v < 1 || v > 0xffffffffULL) {
		config_error("--%s: \"%s\" is not a number from 1 to 4294967295 (decimal or "
		    "0x hexadecimal)\n", opt, arg);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int
intercept_parse_mark(struct intercept_conf *ic, const char *arg)
{
	return intercept_u32("intercept-mark", arg, &ic->ic_mark);
}

int
intercept_parse_table(struct intercept_conf *ic, const char *arg)
{
	uint32_t t;

	if (intercept_u32("intercept-table", arg, &t) == -1)
		return -1;
	/* 253 default, 254 main, 255 local: the kernel's own */
	if (t >= 253 && t <= 255) {
		config_error("--intercept-table: %u is one of the kernel's own tables (default, "
		    "main, local); choose another\n", t);
		return -1;
	}
	ic->ic_table = t;
	return 0;
}

int
intercept_parse_steer(struct intercept_conf *ic, const char *arg)
{
	if (strcmp(arg, "tproxy") == 0)
		ic->ic_steer = STEER_TPROXY;
	else if (strcmp(arg, "sk_lookup") == 0)
		ic->ic_steer = STEER_SK_LOOKUP;
	else {
		config_error("--steer: \"%s\": say tproxy or sk_lookup\n", arg);
		return -1;
	}
	return 0;
}

/* One prefix of len bytes at s. */
static int
intercept_prefix(const char *s, size_t len, struct intercept_prefix *p)
{
	char addr[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned max, bits;
	unsigned long v;

	if (len == 0 || len >= sizeof(addr))
		return -1;
	memcpy(addr, s, len);
	addr[len] = '\0';
	if ((slash = strchr(addr, '/')) != NULL)
		*slash = '\0';
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, addr, p->ip_addr) == 1) {
		p->ip_family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, p->ip_addr) == 1) {
		p->ip_family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	p->ip_len = max;
	if (slash != NULL) {
		errno = 0;
		v = strtoul(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || slash[1] == '-' || v > max)
			return -1;
		p->ip_len = (unsigned)v;
	}
	/* Host bits set is a typo more often than a wish: say so. */
	for (bits = p->ip_len; bits < max; bits++)
		if (p->ip_addr[bits / 8] & (0x80 >> (bits % 8)))
			return -2;
	snprintf(p->ip_str, sizeof(p->ip_str), "%s/%u", addr, p->ip_len);
	return 0;
}

int
intercept_add_prefixes(struct intercept_conf *ic, const char *arg)
{
	const char *p = arg;

	for (;;) {
		size_t len = strcspn(p, ",");
		int r;

		if (ic->ic_nprefixes == INTERCEPT_MAX_PREFIXES) {
			config_error("--intercept-prefix: more than %d prefixes\n",
			    INTERCEPT_MAX_PREFIXES);
			return -1;
		}
		if ((r = intercept_prefix(p, len, &ic->ic_prefix[ic->ic_nprefixes])) == -2) {
			config_error("--intercept-prefix: \"%.*s\": the address has bits set past "
			    "the prefix length (write the network address, e.g. 10.0.2.0/24)\n",
			    (int)len, p);
			return -1;
		}
		if (r == -1) {
			config_error("--intercept-prefix: \"%.*s\" is not an IPv4 or IPv6 address "
			    "with an optional /LENGTH, e.g. 10.0.2.0/24 or fd00:2::/64\n",
			    (int)len, p);
			return -1;
		}
		ic->ic_nprefixes++;
		p += len;
		if (*p == '\0')
			return 0;
		p++;
	}
}

bool
intercept_bits_equal(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned full = len / 8, rest = len % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	return rest == 0 || ((a[full] ^ b[full]) & (0xff00 >> rest) & 0xff) == 0;
}

bool
intercept_has_prefix(const struct intercept_conf *ic, int family, const uint8_t *addr,
    unsigned len)
{
	for (unsigned i = 0; i < ic->ic_nprefixes; i++) {
		const struct intercept_prefix *p = &ic->ic_prefix[i];

		if (p->ip_family == family && p->ip_len == len &&
		    memcmp(p->ip_addr, addr, family == AF_INET ? 4 : 16) == 0)
			return true;
	}
	return false;
}

const struct intercept_prefix *
intercept_prefix_of(const struct intercept_conf *ic, const struct sockaddr *ss)
{
	const uint8_t *a = ss->sa_family == AF_INET ?
	    (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr :
	    (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
	const struct intercept_prefix *best = NULL;
	int family = ss->sa_family;

	/* An IPv4 connection accepted on an IPv6 listener: ::ffff:a.b.c.d */
	if (family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)ss)->sin6_addr)) {
		family = AF_INET;
		a += 12;
	}
	for (unsigned i = 0; i < ic->ic_nprefixes; i++) {
		const struct intercept_prefix *p = &ic->ic_prefix[i];

		if (p->ip_family != family || !intercept_bits_equal(p->ip_addr, a, p->ip_len))
			continue;
		if (best == NULL || p->ip_len > best->ip_len)
			best = p;
	}
	return best;
}

int
intercept_bind_egress(const struct intercept_conf *ic, int fd, const struct sockaddr *dst)
{
	const struct intercept_prefix *p;

	if (ic->ic_steer != STEER_SK_LOOKUP || (p = intercept_prefix_of(ic, dst)) == NULL ||
	    p->ip_egress == 0)
		return 0;
	return setsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &p->ip_egress,
	    sizeof(p->ip_egress));
}

bool
intercept_prefixes_same(const struct intercept_conf *a, const struct intercept_conf *b)
{
	if (a->ic_nprefixes != b->ic_nprefixes)
		return false;
	for (unsigned i = 0; i < a->ic_nprefixes; i++) {
		bool found = false;

		for (unsigned j = 0; j < b->ic_nprefixes && !found; j++)
			found = strcmp(a->ic_prefix[i].ip_str, b->ic_prefix[j].ip_str) == 0;
		if (!found)
			return false;
	}
	return true;
}

int
intercept_conf_check(const struct intercept_conf *ic)
{
	if (ic->ic_steer == STEER_SK_LOOKUP) {
		int errors = 0;

		if (ic->ic_nports == 0) {
			config_error("--steer sk_lookup needs --intercept PORTS (and "
			    "--intercept-prefix): what to steer\n");
			errors++;
		} else if (ic->ic_nprefixes == 0) {
			config_error("--steer sk_lookup needs --intercept-prefix: the "
			    "destinations to steer, which become local routes\n");
			errors++;
		}
		if (ic->ic_nifaces > 0) {
			config_error("--intercept-iface is for --steer tproxy: with sk_lookup, "
			    "what is steered is chosen by destination (--intercept-prefix)\n");
			errors++;
		}
		return errors;
	}
	if (ic->ic_nprefixes > 0) {
		config_error("--intercept-prefix needs --steer sk_lookup (TPROXY steering "
		    "takes the ports on every destination)\n");
		return 1;
	}
	if (ic->ic_nifaces > 0 && ic->ic_nports == 0) {
		config_error("--intercept-iface needs --intercept PORTS\n");
		return 1;
	}
	/* two rules each, all in one netlink message batch */
	if (ic->ic_nports * (ic->ic_nifaces > 0 ? ic->ic_nifaces : 1) > INTERCEPT_MAX_PAIRS) {
		config_error("--intercept: %u ports or ranges on %u interfaces make more than %d "
		    "pairs; give ranges (LOW-HIGH) or fewer interfaces\n", ic->ic_nports,
		    ic->ic_nifaces, INTERCEPT_MAX_PAIRS);
		return 1;
	}
	return 0;
}

bool
intercept_conf_same(const struct intercept_conf *a, const struct intercept_conf *b)
{
	if (a->ic_steer != b->ic_steer || !intercept_prefixes_same(a, b) ||
	    a->ic_nports != b->ic_nports || a->ic_nifaces != b->ic_nifaces ||
	    a->ic_mark != b->ic_mark || a->ic_table != b->ic_table)
		return false;
	for (unsigned i = 0; i < a->ic_nports; i++)
		if (a->ic_port_lo[i] != b->ic_port_lo[i] || a->ic_port_hi[i] != b->ic_port_hi[i])
			return false;
	for (unsigned i = 0; i < a->ic_nifaces; i++)
		if (strcmp(a->ic_iface[i], b->ic_iface[i]) != 0)
			return false;
	return true;
}
