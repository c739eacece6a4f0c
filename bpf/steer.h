/*
 * steer.h - what the sk_lookup program (steer.bpf.c) and the daemon
 * (src/steer.c) share: map sizes, the counters' order and the value types.
 * Plain C types of fixed size only: both sides include it.
 */
#ifndef KTPROXY_BPF_STEER_H
#define KTPROXY_BPF_STEER_H

#define STEER_MAX_PREFIXES	256	/* per family, in the LPM tries */
#define STEER_MAX_WORKERS	256	/* listening sockets in the sockmap */
#define STEER_MAX_CPUS		1024	/* CPU ids the placement map covers */
#define STEER_PORT_WORDS	(65536 / 64)	/* the port bitmap, 8 KiB */

/* The program's per-CPU counters, in this order (indexes of steer_stats). */
enum steer_stat {
	STEER_STAT_LOOKUPS,	/* TCP connection lookups the program saw */
	STEER_STAT_STEERED,	/* handed to a ktproxy listener */
	STEER_STAT_MISSES,	/* destination or port not configured: untouched */
	STEER_STAT_ERRORS,	/* configured, but no listener took it: refused */
	STEER_STAT__COUNT
};

/* LPM trie keys: the prefix length first, then the address (network order). */
struct steer_prefix4 {
	unsigned int	 prefixlen;
	unsigned char	 addr[4];
};
struct steer_prefix6 {
	unsigned int	 prefixlen;
	unsigned char	 addr[16];
};

/* The destination ports, one bit each (port p: word p / 64, bit p % 64). */
struct steer_ports {
	unsigned long long	 bits[STEER_PORT_WORDS];
};

/* The workers that handle connections arriving on one CPU: first,
 * first + stride, ... (count of them), one picked at random when several. */
struct steer_cpu {
	unsigned int	 first;
	unsigned int	 stride;
	unsigned int	 count;	/* 0: CPU not placed, any worker (by hash) */
};

/* Settings the program reads once per lookup. */
struct steer_settings {
	unsigned int	 nworkers;	/* sockmap slots 0 .. nworkers-1 */
};

#endif
