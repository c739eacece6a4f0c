// SPDX-License-Identifier: GPL-2.0-only
/*
 * steer.bpf.c - ktproxy's sk_lookup program (--steer sk_lookup).
 *
 * The kernel runs it when a TCP SYN (or any packet of a protocol without
 * connections) is to be delivered locally and a listening socket must be
 * found.  A connection whose destination lies in one of the configured
 * prefixes and whose port is one of the configured ports is handed to a
 * ktproxy listener, the accepted socket keeping the packet's destination as
 * its local address (the original destination, as with TPROXY).  Anything
 * else goes on to the kernel's own lookup, untouched.
 *
 * The listener is the one of the worker placed on the CPU that runs this
 * (the CPU that received the packet), so the connection's softirq work and
 * its worker share a core and its cache.  A configured connection that finds
 * no listener (ktproxy draining, or a worker's socket gone) is refused, not
 * passed on: steering fails closed.
 *
 * Everything the daemon changes at run time (prefixes, ports, sockets,
 * placement) lives in maps, so a reload never replaces the program.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "steer.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, STEER_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct steer_prefix4);
	__type(value, __u8);
} steer_prefix4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, STEER_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct steer_prefix6);
	__type(value, __u8);
} steer_prefix6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct steer_ports);
} steer_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, STEER_MAX_WORKERS);
	__type(key, __u32);
	__type(value, __u64);
} steer_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STEER_MAX_CPUS);
	__type(key, __u32);
	__type(value, struct steer_cpu);
} steer_cpus SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct steer_settings);
} steer_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STEER_STAT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} steer_stats SEC(".maps");

static __always_inline void
count(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&steer_stats, &which);

	if (n != NULL)
		(*n)++;		/* per-CPU: nobody else writes this slot */
}

static __always_inline int
port_configured(__u32 port)
{
	__u32 zero = 0;
	struct steer_ports *p = bpf_map_lookup_elem(&steer_ports, &zero);

	if (p == NULL || port > 65535)
		return 0;
	return (p->bits[(port / 64) & (STEER_PORT_WORDS - 1)] >> (port % 64)) & 1;
}

static __always_inline int
destination_configured(const struct bpf_sk_lookup *ctx)
{
	if (ctx->family == 2 /* AF_INET */) {
		struct steer_prefix4 k = { .prefixlen = 32 };

		__builtin_memcpy(k.addr, &ctx->local_ip4, 4);
		return bpf_map_lookup_elem(&steer_prefix4, &k) != NULL;
	}
	if (ctx->family == 10 /* AF_INET6 */) {
		struct steer_prefix6 k = { .prefixlen = 128 };
		__u32 a[4] = { ctx->local_ip6[0], ctx->local_ip6[1],
		    ctx->local_ip6[2], ctx->local_ip6[3] };

		__builtin_memcpy(k.addr, a, 16);
		return bpf_map_lookup_elem(&steer_prefix6, &k) != NULL;
	}
	return 0;
}

/* The worker of this CPU (one of them, when several share it); a CPU the
 * daemon placed nobody on spreads by the connection's hash. */
static __always_inline __u32
pick_worker(const struct bpf_sk_lookup *ctx, __u32 nworkers)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct steer_cpu *c = bpf_map_lookup_elem(&steer_cpus, &cpu);
	__u32 w;

	if (c != NULL && c->count > 0) {
		w = c->first;
		if (c->count > 1)
			w += c->stride * (bpf_get_prandom_u32() % c->count);
	} else {
		w = (ctx->remote_port ^ ctx->local_port) % nworkers;
	}
	return w;
}

SEC("sk_lookup")
int
ktproxy_steer(struct bpf_sk_lookup *ctx)
{
	__u32 zero = 0, w;
	struct steer_settings *st;
	struct bpf_sock *sk;
	long err;

	if (ctx->protocol != IPPROTO_TCP)
		return SK_PASS;
	count(STEER_STAT_LOOKUPS);
	if (!port_configured(ctx->local_port) || !destination_configured(ctx)) {
		count(STEER_STAT_MISSES);
		return SK_PASS;		/* not ours: the kernel's lookup goes on */
	}
	st = bpf_map_lookup_elem(&steer_settings, &zero);
	if (st == NULL || st->nworkers == 0 || st->nworkers > STEER_MAX_WORKERS)
		goto closed;
	w = pick_worker(ctx, st->nworkers);
	sk = bpf_map_lookup_elem(&steer_socks, &w);
	if (sk == NULL) {
		/* That worker's listener is gone (draining): any other one. */
		for (__u32 i = 0; i < STEER_MAX_WORKERS && i < st->nworkers; i++) {
			__u32 k = i;

			if ((sk = bpf_map_lookup_elem(&steer_socks, &k)) != NULL)
				break;
		}
		if (sk == NULL)
			goto closed;
	}
	/* NO_REUSEPORT: the workers' listeners are one SO_REUSEPORT group,
	 * and without it the kernel picks again in the group by hash,
	 * undoing the placement. */
	err = bpf_sk_assign(ctx, sk, BPF_SK_LOOKUP_F_NO_REUSEPORT);
	bpf_sk_release(sk);
	if (err != 0)
		goto closed;
	count(STEER_STAT_STEERED);
	return SK_PASS;
closed:
	/* Configured but no listener took it: SK_DROP ends the lookup with
	 * no socket, so the kernel answers the SYN with a reset; it is never
	 * passed on to whatever else listens on the port. */
	count(STEER_STAT_ERRORS);
	return SK_DROP;
}
