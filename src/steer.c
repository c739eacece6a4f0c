/*
 * steer.c - load, attach and feed the sk_lookup program (steer.h).
 *
 * The program comes from the libbpf skeleton that `bpftool gen skeleton`
 * makes of bpf/steer.bpf.o at build time, so the object is inside the
 * daemon binary and no file is looked up at run time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steer.h"
#include "steer.skel.h"

struct steer {
	struct steer_bpf	*s_skel;
	struct bpf_link		*s_link;
	int			 s_ncpus;	/* possible CPUs: per-CPU value count */
	uint64_t		*s_percpu;	/* s_ncpus values: one counter's, read
						 * every second (steer_counters) */
	uint32_t		 s_prog_id;
};

/* libbpf prints its own diagnostics to stderr by default; the daemon says
 * what failed itself, so only warnings and errors come through, prefixed. */
static int
steer_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || level == LIBBPF_INFO)
		return 0;
	fputs("ktproxy: libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

static const char *
steer_hint(int err)
{
	switch (err) {
	case EPERM:
		return " (needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN: run ktproxy as root)";
	case ENOSYS:
		return " (the kernel has no BPF system call: CONFIG_BPF_SYSCALL)";
	case EINVAL:
	case EOPNOTSUPP:
		return " (the kernel has no sk_lookup programs: Linux 5.9 or later)";
	default:
		return "";
	}
}

struct steer *
steer_open(unsigned nworkers, char *err, size_t errlen)
{
	struct steer_settings st = { .nworkers = nworkers };
	struct bpf_prog_info info;
	uint32_t info_len = sizeof(info), zero = 0;
	struct steer *s;
	int netns, e;

	if (nworkers == 0 || nworkers > STEER_MAX_WORKERS) {
		snprintf(err, errlen, "sk_lookup steering takes 1 to %d workers",
		    STEER_MAX_WORKERS);
		return NULL;
	}
	libbpf_set_print(steer_libbpf_print);
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((s->s_ncpus = libbpf_num_possible_cpus()) <= 0) {
		snprintf(err, errlen, "cannot count the CPUs: %s", strerror(-s->s_ncpus));
		goto fail;
	}
	if ((s->s_percpu = calloc((size_t)s->s_ncpus, sizeof(uint64_t))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((s->s_skel = steer_bpf__open_and_load()) == NULL) {
		e = errno;
		snprintf(err, errlen, "loading the sk_lookup program: %s%s", strerror(e),
		    steer_hint(e));
		goto fail;
	}
	if (bpf_map_update_elem(bpf_map__fd(s->s_skel->maps.steer_settings), &zero, &st,
	    BPF_ANY) < 0) {
		snprintf(err, errlen, "setting the program's worker count: %s", strerror(errno));
		goto fail;
	}
	if ((netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "/proc/self/ns/net: %s", strerror(errno));
		goto fail;
	}
	s->s_link = bpf_program__attach_netns(s->s_skel->progs.ktproxy_steer, netns);
	e = errno;
	close(netns);
	if (s->s_link == NULL) {
		snprintf(err, errlen, "attaching the sk_lookup program to the network "
		    "namespace: %s%s", strerror(e), steer_hint(e));
		goto fail;
	}
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_program__fd(s->s_skel->progs.ktproxy_steer), &info,
	    &info_len) == 0)
		s->s_prog_id = info.id;
	return s;
fail:
	steer_close(s);
	return NULL;
}

void
steer_close(struct steer *s)
{
	if (s == NULL)
		return;
	bpf_link__destroy(s->s_link);
	steer_bpf__destroy(s->s_skel);
	free(s->s_percpu);
	free(s);
}

int
steer_set_listener(struct steer *s, unsigned worker, int fd, char *err, size_t errlen)
{
	uint32_t key = worker;
	uint64_t value = (uint64_t)fd;

	if (bpf_map_update_elem(bpf_map__fd(s->s_skel->maps.steer_socks), &key, &value,
	    BPF_ANY) < 0) {
		snprintf(err, errlen, "putting worker %u's listener in the sockmap: %s", worker,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
steer_place(struct steer *s, const int *worker_cpu, unsigned nworkers, char *err,
    size_t errlen)
{
	int fd = bpf_map__fd(s->s_skel->maps.steer_cpus);

	for (unsigned w = 0; w < nworkers; w++) {
		struct steer_cpu c = { .first = w, .stride = 0, .count = 0 };
		uint32_t cpu;

		if (worker_cpu[w] < 0 || worker_cpu[w] >= STEER_MAX_CPUS)
			continue;
		cpu = (uint32_t)worker_cpu[w];
		/* The first worker on a CPU says first; later ones on the same
		 * CPU are first + k * stride, which pinning round-robin makes
		 * true (worker w on CPU w % ncpus). */
		if (bpf_map_lookup_elem(fd, &cpu, &c) == 0 && c.count > 0) {
			if (c.count == 1)
				c.stride = w - c.first;
			c.count++;
		} else {
			c.first = w;
			c.stride = 0;
			c.count = 1;
		}
		if (bpf_map_update_elem(fd, &cpu, &c, BPF_ANY) < 0) {
			snprintf(err, errlen, "placing worker %u on CPU %u: %s", w, cpu,
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void
steer_ports_bitmap(const struct intercept_conf *ic, struct steer_ports *p)
{
	memset(p, 0, sizeof(*p));
	for (unsigned i = 0; i < ic->ic_nports; i++)
		for (unsigned port = ic->ic_port_lo[i]; port <= ic->ic_port_hi[i]; port++)
			p->bits[port / 64] |= 1ULL << (port % 64);
}

/* Delete every key of an LPM trie of family that is not a prefix of ic. */
static int
steer_prune(int fd, size_t keylen, const struct intercept_conf *ic, int family)
{
	unsigned char key[sizeof(struct steer_prefix6)], next[sizeof(struct steer_prefix6)];
	bool first = true;

	for (;;) {
		unsigned plen;

		if (bpf_map_get_next_key(fd, first ? NULL : key, next) < 0)
			return errno == ENOENT ? 0 : -1;
		first = false;
		memcpy(key, next, keylen);
		memcpy(&plen, next, sizeof(plen));
		if (!intercept_has_prefix(ic, family, next + sizeof(plen), plen)) {
			if (bpf_map_delete_elem(fd, next) < 0 && errno != ENOENT)
				return -1;
			first = true;	/* the walk starts over after a delete */
		}
	}
}

int
steer_configure(struct steer *s, const struct intercept_conf *ic, char *err, size_t errlen)
{
	struct steer_ports ports;
	uint32_t zero = 0;
	uint8_t one = 1;
	int fd4 = bpf_map__fd(s->s_skel->maps.steer_prefix4);
	int fd6 = bpf_map__fd(s->s_skel->maps.steer_prefix6);

	/* New prefixes first, then the ports, then the old prefixes go: in
	 * between, a connection matches the old or the new configuration. */
	for (unsigned i = 0; i < ic->ic_nprefixes; i++) {
		const struct intercept_prefix *p = &ic->ic_prefix[i];
		int r;

		if (p->ip_family == AF_INET) {
			struct steer_prefix4 k = { .prefixlen = p->ip_len };

			memcpy(k.addr, p->ip_addr, 4);
			r = bpf_map_update_elem(fd4, &k, &one, BPF_ANY);
		} else {
			struct steer_prefix6 k = { .prefixlen = p->ip_len };

			memcpy(k.addr, p->ip_addr, 16);
			r = bpf_map_update_elem(fd6, &k, &one, BPF_ANY);
		}
		if (r < 0) {
			snprintf(err, errlen, "adding prefix %s to the program's map: %s",
			    p->ip_str, strerror(errno));
			return -1;
		}
	}
	steer_ports_bitmap(ic, &ports);
	if (bpf_map_update_elem(bpf_map__fd(s->s_skel->maps.steer_ports), &zero, &ports,
	    BPF_ANY) < 0) {
		snprintf(err, errlen, "setting the ports in the program's map: %s",
		    strerror(errno));
		return -1;
	}
	if (steer_prune(fd4, sizeof(struct steer_prefix4), ic, AF_INET) == -1 ||
	    steer_prune(fd6, sizeof(struct steer_prefix6), ic, AF_INET6) == -1) {
		snprintf(err, errlen, "removing old prefixes from the program's map: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

void
steer_counters(struct steer *s, uint64_t out[STEER_STAT__COUNT])
{
	int fd = bpf_map__fd(s->s_skel->maps.steer_stats);

	memset(out, 0, STEER_STAT__COUNT * sizeof(uint64_t));
	for (uint32_t i = 0; i < STEER_STAT__COUNT; i++) {
		if (bpf_map_lookup_elem(fd, &i, s->s_percpu) < 0)
			continue;
		for (int c = 0; c < s->s_ncpus; c++)
			out[i] += s->s_percpu[c];
	}
}

uint32_t
steer_prog_id(const struct steer *s)
{
	return s->s_prog_id;
}
