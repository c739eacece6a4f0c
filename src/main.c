/*
 * main.c - start-up, signals and shutdown of the ktproxy daemon.
 *
 * Everything that can fail for a reason the operator must fix (flags,
 * files, keys, privileges, addresses) fails here, before the first
 * connection is accepted, with a message that names it.
 *
 * The same binary is the signer process (signerd.c) when its first argument
 * is SIGNER_CHILD_ARG: the main thread starts one before the workers and a
 * new one whenever it dies.
 */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "clock.h"
#include "config.h"
#include "forge.h"
#include "intercept.h"
#include "ktls.h"
#include "notify.h"
#include "privs.h"
#include "signer.h"
#include "conntab.h"
#include "metrics_http.h"
#include "stats.h"
#include "steering.h"
#include "tls.h"
#include "tproxy.h"
#include "upool.h"
#include "worker.h"

static int
main_open_log(const char *path)
{
	int fd;

	if (strcmp(path, "-") == 0)
		return STDERR_FILENO;
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) == -1)
		fprintf(stderr, "ktproxy: --log %s: %s\n", path, strerror(errno));
	return fd;
}

static const char *
main_pid_str(pid_t pid)
{
	static char buf[16];

	snprintf(buf, sizeof(buf), "%d", (int)pid);
	return buf;
}

/* What the daemon runs with, and what a reload replaces. */
struct daemon {
	struct config		*d_cf0;		/* what ktproxy started with: the
						 * settings only a restart changes */
	int			 d_argc;	/* to read the settings again */
	char			**d_argv;
	struct tls_contexts	*d_tls;		/* current generation (a reference) */
	struct signer		*d_signer;	/* the current signer */
	struct signer_conf	 d_sc;
	struct stat		 d_key_stat;	/* --delegation-key when it was loaded */
	struct worker		*d_workers;
	unsigned		 d_nworkers;
	bool			 d_ktls;
	uint64_t		*d_stats;	/* the main thread's slab */
	struct steering		 d_steering;	/* --steer sk_lookup */
	int			 d_log_fd;	/* --log, what the workers write to */
	const char		*d_log_path;
};

#define MAIN_HANDOVER_WAIT_MS	5000	/* for every worker to take a reload */

/* Has the key file been replaced or rewritten since it was loaded?  Only
 * its metadata: the daemon never reads the key (signer.h). */
static bool
main_key_changed(const struct stat *old, const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return true;	/* the signer will say what is wrong */
	return st.st_dev != old->st_dev || st.st_ino != old->st_ino ||
	    st.st_size != old->st_size || st.st_mtim.tv_sec != old->st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != old->st_mtim.tv_nsec;
}

/*
 * Wait (MAIN_HANDOVER_WAIT_MS at most) until every worker says done(w, arg):
 * the workers answer the main thread only through such flags, read on a
 * 5 ms tick.  False when the time ran out first.
 */
static bool
main_wait_workers(struct daemon *d, bool (*done)(struct worker *w, unsigned arg),
    unsigned arg)
{
	uint64_t deadline = clock_ms() + MAIN_HANDOVER_WAIT_MS;
	struct timespec tick = { 0, 5 * 1000000 };

	for (;;) {
		unsigned i;

		for (i = 0; i < d->d_nworkers; i++)
			if (!done(&d->d_workers[i], arg))
				break;
		if (i == d->d_nworkers)
			return true;
		if (clock_ms() >= deadline)
			return false;
		nanosleep(&tick, NULL);
	}
}

/* The worker serves generation gen. */
static bool
main_worker_on_gen(struct worker *w, unsigned gen)
{
	return atomic_load_explicit(&w->w_gen, memory_order_acquire) == gen;
}

/*
 * Settings a running daemon cannot take over: its listeners, workers,
 * stats segment, log, the signer's user, kTLS and the upstream pools are
 * set up once.  A reload that changes one says so and keeps the running
 * value (pointing into the first configuration, which lives as long as
 * the daemon), so the generation says what really runs.
 */
/* "0.0.0.0:8443", or "inner 0.0.0.0:8443, outer 0.0.0.0:8444". */
static void
main_listeners_str(const struct tls_contexts *tc, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned l = 0; l < tc->tc_nlis && n < len; l++) {
		const struct tls_contexts *lt = tc->tc_lis[l];
		int w = snprintf(buf + n, len - n, "%s%s%s%s", l > 0 ? ", " : "",
		    tc->tc_nlis > 1 ? lt->tc_lis_name : "", tc->tc_nlis > 1 ? " " : "",
		    lt->tc_cf->cf_listen_str);

		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/*
 * The listeners are bound once: a reload must name the same ones, by
 * name and address, in the same order (a connection finds its listener's
 * set by its index).  Else it is refused: the running ones stay.
 */
static int
main_same_listeners(const struct config *run, const struct config *cf)
{
	unsigned n = run->cf_nlis > 1 ? run->cf_nlis : 1;

	if ((run->cf_nlis > 1 || cf->cf_nlis > 1) && run->cf_nlis != cf->cf_nlis)
		goto changed;
	for (unsigned i = 0; n > 1 && i < n; i++)
		if (strcmp(run->cf_lis[i]->cf_lis_name, cf->cf_lis[i]->cf_lis_name) != 0 ||
		    strcmp(run->cf_lis[i]->cf_listen_str, cf->cf_lis[i]->cf_listen_str) != 0)
			goto changed;
	return 0;
changed:
	fprintf(stderr, "ktproxy: SIGHUP: the listeners changed (added, removed, renamed, "
	    "reordered or moved to another address), which takes a restart\n");
	return -1;
}

/* Two optional settings differ: one is set and the other not, or both
 * are and say different things. */
static bool
main_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

static void
main_keep_fixed(const struct config *run, struct config *cf)
{
	const char *changed[16];
	unsigned n = 0;

	if (run->cf_nlis <= 1 && strcmp(run->cf_listen_str, cf->cf_listen_str) != 0) {
		changed[n++] = "listen";
		cf->cf_listen = run->cf_listen;
		cf->cf_listen_len = run->cf_listen_len;
		cf->cf_listen_str = run->cf_listen_str;
	}
	if (run->cf_workers != cf->cf_workers) {
		changed[n++] = "workers";
		cf->cf_workers = run->cf_workers;
	}
	if (strcmp(run->cf_stats_path, cf->cf_stats_path) != 0) {
		changed[n++] = "stats";
		cf->cf_stats_path = run->cf_stats_path;
	}
	if (strcmp(run->cf_log_path, cf->cf_log_path) != 0) {
		changed[n++] = "log";
		cf->cf_log_path = run->cf_log_path;
	}
	if (run->cf_log_json != cf->cf_log_json) {
		changed[n++] = "log-format";
		cf->cf_log_json = run->cf_log_json;
	}
	if (main_differs(run->cf_metrics_str, cf->cf_metrics_str)) {
		changed[n++] = "metrics";
		cf->cf_metrics = run->cf_metrics;
		cf->cf_metrics_len = run->cf_metrics_len;
		cf->cf_metrics_str = run->cf_metrics_str;
	}
	if (strcmp(run->cf_signer_user, cf->cf_signer_user) != 0) {
		changed[n++] = "signer-user";
		cf->cf_signer_user = run->cf_signer_user;
	}
	if (main_differs(run->cf_user, cf->cf_user)) {
		changed[n++] = "user";
		cf->cf_user = run->cf_user;
	}
	/* sk_lookup's ports and prefixes are map entries and routes that a
	 * reload changes in place (steering_reload); what else sk_lookup
	 * could differ in, --check refuses (intercept-iface), or it does not
	 * use (mark, table). */
	if ((run->cf_intercept.ic_steer != STEER_SK_LOOKUP ||
	    cf->cf_intercept.ic_steer != STEER_SK_LOOKUP) &&
	    !intercept_conf_same(&run->cf_intercept, &cf->cf_intercept)) {
		changed[n++] = "intercept";
		cf->cf_intercept = run->cf_intercept;
	}
	if (run->cf_ktls != cf->cf_ktls) {
		changed[n++] = "ktls";
		cf->cf_ktls = run->cf_ktls;
	}
	if (run->cf_up_keepalive != cf->cf_up_keepalive ||
	    run->cf_up_keepalive_timeout != cf->cf_up_keepalive_timeout) {
		changed[n++] = "upstream-keepalive[-timeout]";
		cf->cf_up_keepalive = run->cf_up_keepalive;
		cf->cf_up_keepalive_timeout = run->cf_up_keepalive_timeout;
	}
	if (run->cf_ocsp.oc_cache != cf->cf_ocsp.oc_cache) {
		changed[n++] = "ocsp-cache";
		cf->cf_ocsp.oc_cache = run->cf_ocsp.oc_cache;
	}
	for (unsigned i = 0; i < n; i++)
		fprintf(stderr, "ktproxy: SIGHUP: %s changed, which takes a restart: the running "
		    "value stays\n", changed[i]);
}

/*
 * SIGHUP: load every file again into a new generation and hand it to the
 * workers, or, if anything is wrong with it, say what and keep running the
 * old one.  The delegation key is loaded by a new signer when it or the
 * delegation CA changed; the old signer stays until every worker has its
 * new forge, so no mint is ever sent to a signer of the other CA.
 */
static void
main_reload(struct daemon *d)
{
	struct worker_handover **ho = NULL;
	struct tls_contexts *tc = NULL;
	struct config *cf = NULL;
	struct signer *signer = NULL, *old_signer = NULL;
	struct signer_conf sc;
	struct stat key_stat;
	bool new_signer, new_forge;
	unsigned gen = d->d_tls->tc_gen + 1, i;

	fprintf(stderr, "ktproxy: SIGHUP: reading the configuration and every file again\n");
	if ((cf = calloc(1, sizeof(*cf))) == NULL)
		goto fail;
	if (config_load(cf, CONFIG_DEFAULT_PATH, d->d_argc, d->d_argv) == -1)
		goto fail;
	if (main_same_listeners(d->d_cf0, cf) == -1)
		goto fail;
	main_keep_fixed(d->d_cf0, cf);
	if ((tc = tls_load(cf, gen)) == NULL)
		goto fail;
	tc->tc_cf_owned = cf;	/* freed with its generation from now on */
	cf = NULL;
	if (d->d_ktls)
		tls_enable_ktls(tc);
	sc = d->d_sc;
	sc.sc_key = tc->tc_cf->cf_delegation_key;
	sc.sc_ca = tc->tc_cf->cf_delegation_ca;
	sc.sc_lifetime = tc->tc_cf->cf_forge.fp_lifetime;
	/* A new CA, chain, key or lifetime needs a new signer (it checks the
	 * key against the CA, and enforces the lifetime); a new policy or
	 * cache size, new forges. */
	new_signer = memcmp(tc->tc_deleg_sha256, d->d_tls->tc_deleg_sha256, 32) != 0 ||
	    strcmp(sc.sc_key, d->d_sc.sc_key) != 0 ||
	    main_key_changed(&d->d_key_stat, sc.sc_key) || sc.sc_lifetime != d->d_sc.sc_lifetime;
	new_forge = new_signer || tc->tc_cf->cf_forge_cache != d->d_tls->tc_cf->cf_forge_cache ||
	    !forge_policy_equal(&tc->tc_cf->cf_forge, &d->d_tls->tc_cf->cf_forge);
	if (new_signer) {
		if (stat(sc.sc_key, &key_stat) == -1)
			memset(&key_stat, 0, sizeof(key_stat));
		if ((signer = calloc(1, sizeof(*signer))) == NULL)
			goto fail;
		/* It checks the key against the new CA certificate. */
		if (signer_start(signer, &sc, d->d_nworkers) == -1) {
			free(signer);
			signer = NULL;
			goto fail;
		}
	}
	if ((ho = calloc(d->d_nworkers, sizeof(*ho))) == NULL)
		goto fail;
	for (i = 0; i < d->d_nworkers; i++) {
		if ((ho[i] = calloc(1, sizeof(*ho[i]))) == NULL)
			goto fail;
		ho[i]->wh_tls = tls_hold(tc);
		if (new_forge && (ho[i]->wh_forge = forge_new(tc->tc_deleg_ca, tc->tc_deleg_chain,
		    &tc->tc_cf->cf_forge, signer_sign,
		    signer_chan(new_signer ? signer : d->d_signer, i),
		    tc->tc_cf->cf_forge_cache)) == NULL) {
			tls_print_errors("ktproxy: cannot mint with the new delegation CA: ");
			goto fail;
		}
	}
	/* Last of what can fail: routes and maps say the new generation's
	 * ports and prefixes before a worker connects for it. */
	if (steering_reload(&d->d_steering, d->d_tls->tc_cf, tc->tc_cf_owned) == -1)
		goto fail;
	for (i = 0; i < d->d_nworkers; i++)
		worker_offer(&d->d_workers[i], ho[i]);
	free(ho);
	if (!main_wait_workers(d, main_worker_on_gen, gen))
		fprintf(stderr, "ktproxy: SIGHUP: a worker has not taken the new configuration "
		    "after %d s; it will at its next loop turn\n", MAIN_HANDOVER_WAIT_MS / 1000);
	if (new_signer) {
		old_signer = d->d_signer;
		d->d_signer = signer;
		d->d_key_stat = key_stat;
		signer_stop(old_signer);
		free(old_signer);
	}
	/* What a restart of the signer (signer_restart) reads: this
	 * generation's paths, alive as long as it is the current one. */
	d->d_sc = sc;
	d->d_signer->s_conf = sc;
	tls_release(d->d_tls);
	d->d_tls = tc;
	stats_inc(d->d_stats, STAT_reload_ok);
	fprintf(stderr, "ktproxy: SIGHUP: reloaded (generation %u); delegation CA and key %s%s%s; "
	    "new connections use the new configuration, established ones are untouched\n", gen,
	    new_signer ? "changed, new signer pid " : "unchanged",
	    new_signer ? main_pid_str(d->d_signer->s_pid) : "",
	    !new_signer && new_forge ? "; forging policy changed" : "");
	return;
fail:
	if (cf != NULL) {
		config_free(cf);
		free(cf);
	}
	for (i = 0; ho != NULL && i < d->d_nworkers; i++)
		worker_handover_free(ho[i]);
	free(ho);
	if (signer != NULL) {
		signer_stop(signer);
		free(signer);
	}
	tls_release(tc);
	stats_inc(d->d_stats, STAT_reload_failed);
	fprintf(stderr, "ktproxy: SIGHUP: reload refused (see above); still running generation "
	    "%u, unchanged\n", d->d_tls->tc_gen);
}

/*
 * SIGUSR1: open --log FILE again (logrotate moved it) and put it under the
 * descriptor the workers write to.  dup3 swaps it in one step, so no
 * worker ever writes to a closed descriptor, and each line, one write(),
 * lands whole in the old file or in the new one.  Nothing else is
 * reopened: stderr belongs to whoever started ktproxy (journald).
 */
static void
main_reopen_log(struct daemon *d)
{
	int fd;

	if (d->d_log_fd == STDERR_FILENO) {
		fprintf(stderr, "ktproxy: SIGUSR1: the connection log is stderr (--log -): "
		    "nothing to reopen\n");
		return;
	}
	if ((fd = open(d->d_log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) == -1) {
		fprintf(stderr, "ktproxy: SIGUSR1: cannot reopen --log %s: %s; still writing "
		    "to the file open before\n", d->d_log_path, strerror(errno));
		return;
	}
	if (dup3(fd, d->d_log_fd, O_CLOEXEC) == -1)
		fprintf(stderr, "ktproxy: SIGUSR1: cannot reopen --log %s: dup3: %s; still "
		    "writing to the file open before\n", d->d_log_path, strerror(errno));
	else
		fprintf(stderr, "ktproxy: SIGUSR1: reopened --log %s\n", d->d_log_path);
	close(fd);
}

/* Connections open in all workers, as each last saw them. */
static unsigned
main_open_conns(const struct daemon *d)
{
	unsigned n = 0;

	for (unsigned i = 0; i < d->d_nworkers; i++)
		n += atomic_load_explicit(&d->d_workers[i].w_open, memory_order_relaxed);
	return n;
}

/* The worker has taken the drain and said how many connections it had
 * then, each one accepted before the listener went. */
static bool
main_worker_drain_seen(struct worker *w, unsigned unused)
{
	(void)unused;
	return atomic_load_explicit(&w->w_drain_seen, memory_order_acquire);
}

/*
 * Wait for SIGTERM or SIGINT, and return it; the signals are blocked in
 * every thread and taken here synchronously, so no handler runs inside a
 * worker.  SIGHUP reloads, SIGUSR1 reopens the connection log.  SIGCHLD
 * means the signer died: say so, and start a new one.
 * Starts are at least MAIN_SIGNER_BACKOFF_MS apart, so a signer that dies
 * at once does not become a fork loop; until one is up, minting fails
 * closed in the workers (upstream_failures{signer}) and established
 * connections go on.
 */
#define MAIN_SIGNER_BACKOFF_MS	1000

static int
main_wait_for_stop(const sigset_t *set, struct daemon *d)
{
	uint64_t started_ms = clock_ms(), now;
	bool down = false;
	char why[160];

	for (;;) {
		struct timespec wait;
		int sig;

		if (down && (now = clock_ms()) >= started_ms + MAIN_SIGNER_BACKOFF_MS) {
			started_ms = now;
			if (signer_restart(d->d_signer) == 0) {
				down = false;
				stats_inc(d->d_stats, STAT_signer_restarts);
				fprintf(stderr, "ktproxy: signer restarted (pid %d)\n",
				    (int)d->d_signer->s_pid);
			} else {
				fprintf(stderr, "ktproxy: signer could not be restarted; trying "
				    "again in %d s\n", MAIN_SIGNER_BACKOFF_MS / 1000);
			}
		}
		/* The sk_lookup program's counters are copied every second. */
		wait.tv_sec = 1;
		wait.tv_nsec = 0;
		if (down) {
			uint64_t left = started_ms + MAIN_SIGNER_BACKOFF_MS - clock_ms();

			if ((int64_t)left < 0)
				left = 0;
			wait.tv_sec = left / 1000;
			wait.tv_nsec = (left % 1000) * 1000000;
		}
		sig = sigtimedwait(set, NULL, down || d->d_steering.sg_bpf ? &wait : NULL);
		steering_publish(&d->d_steering, d->d_stats);
		if (sig == -1)
			continue;	/* EAGAIN: time for the next start; EINTR */
		if (sig == SIGCHLD) {
			if (signer_reap(d->d_signer, why, sizeof(why))) {
				fprintf(stderr, "ktproxy: %s; minting fails closed until a new "
				    "one is up\n", why);
				down = true;
			}
			continue;
		}
		if (sig == SIGHUP) {
			notify("RELOADING=1");
			main_reload(d);
			notify("READY=1");
			/* A reload that started a new signer replaced a dead one too. */
			if (down && d->d_signer->s_pid > 0)
				down = false;
			continue;
		}
		if (sig == SIGUSR1) {
			main_reopen_log(d);
			continue;
		}
		return sig;
	}
}

/* "SIGTERM", as the operator sent it. */
static const char *
main_sig_name(int sig)
{
	static char buf[16];

	snprintf(buf, sizeof(buf), "SIG%s", sigabbrev_np(sig));
	return buf;
}

static const char *
main_plural(unsigned n)
{
	return n == 1 ? "" : "s";
}

/*
 * After SIGTERM or SIGINT (sig): every worker stops listening before
 * anything else is said, so from the first log line on a new connection is
 * refused; then the connections open get the running generation's
 * --drain-timeout to finish (the workers close those idle between
 * requests).  Returns true when the time ran out with some still open:
 * they are closed as drain_timeout.  False when none is left, or a second
 * SIGTERM or SIGINT says to close them at once (as shutdown).  A signer
 * that dies meanwhile is not restarted: the handshakes that would need it
 * fail closed.
 */
static bool
main_drain(const sigset_t *set, struct daemon *d, int sig)
{
	unsigned timeout_s = d->d_tls->tc_cf->cf_drain_timeout, open, open0 = 0;
	uint64_t start = clock_ms(), deadline = start + timeout_s * 1000ULL, now;
	char why[160];

	notify("STOPPING=1");
	for (unsigned i = 0; i < d->d_nworkers; i++)
		worker_drain(&d->d_workers[i]);
	if (!main_wait_workers(d, main_worker_drain_seen, 0))
		fprintf(stderr, "ktproxy: %s: a worker has not taken the drain after %d s\n",
		    main_sig_name(sig), MAIN_HANDOVER_WAIT_MS / 1000);
	for (unsigned i = 0; i < d->d_nworkers; i++)
		open0 += atomic_load_explicit(&d->d_workers[i].w_drain_open,
		    memory_order_relaxed);
	open = open0;
	if (open == 0) {
		fprintf(stderr, "ktproxy: %s: not listening any more; no connection open; "
		    "exiting\n", main_sig_name(sig));
		return false;
	}
	if (timeout_s == 0) {
		fprintf(stderr, "ktproxy: %s: not listening any more; closing %u connection%s "
		    "at once (--drain-timeout 0) and exiting\n", main_sig_name(sig), open,
		    main_plural(open));
		return false;
	}
	fprintf(stderr, "ktproxy: %s: not listening any more; draining %u connection%s for up "
	    "to %u s (send it again to close them at once)\n", main_sig_name(sig), open,
	    main_plural(open), timeout_s);
	for (;;) {
		struct timespec wait = { 0, 100 * 1000000 };
		int sig2;

		if ((open = main_open_conns(d)) == 0) {
			fprintf(stderr, "ktproxy: drained: %u connection%s finished in %.1f s; "
			    "exiting\n", open0, main_plural(open0), (clock_ms() - start) / 1000.0);
			return false;
		}
		if ((now = clock_ms()) >= deadline) {
			fprintf(stderr, "ktproxy: drain timeout (%u s): closing the %u connection%s "
			    "still open and exiting\n", timeout_s, open, main_plural(open));
			return true;
		}
		if (deadline - now < 100)
			wait.tv_nsec = (long)(deadline - now) * 1000000;
		sig2 = sigtimedwait(set, NULL, &wait);
		steering_publish(&d->d_steering, d->d_stats);
		switch (sig2) {
		case SIGTERM:
		case SIGINT:
			fprintf(stderr, "ktproxy: %s again: closing the %u connection%s still open "
			    "now and exiting\n", main_sig_name(sig2), open, main_plural(open));
			return false;
		case SIGHUP:
			fprintf(stderr, "ktproxy: SIGHUP while draining: ignored\n");
			break;
		case SIGUSR1:
			main_reopen_log(d);
			break;
		case SIGCHLD:
			if (signer_reap(d->d_signer, why, sizeof(why)))
				fprintf(stderr, "ktproxy: %s; not restarted while draining: minting "
				    "fails closed\n", why);
			break;
		default:
			break;	/* the 100 ms tick; EINTR */
		}
	}
}

int
main(int argc, char **argv)
{
	struct daemon d;
	struct stats_segment stats;
	struct conntab conntab = { 0 };
	struct metrics_http *metrics = NULL;
	char conntab_file[4096];
	struct config cf;
	struct privs pv;
	sigset_t set;
	char ktls_why[256], listening[1024];
	int log_fd = -1, rc = 1;
	unsigned started = 0;
	bool timed_out = false;

	if (argc > 1 && strcmp(argv[1], SIGNER_CHILD_ARG) == 0)
		return signerd_main(argc, argv);
	if (config_load(&cf, CONFIG_DEFAULT_PATH, argc, argv) == -1) {
		config_free(&cf);
		return 2;
	}
	if (cf.cf_intercept.ic_remove) {
		rc = intercept_remove(&cf.cf_intercept, true) == 0 &&
		    steering_remove_stale() == 0 ? 0 : 1;
		config_free(&cf);
		return rc;
	}
	memset(&d, 0, sizeof(d));
	d.d_cf0 = &cf;
	d.d_argc = argc;
	d.d_argv = argv;
	if ((d.d_tls = tls_load(&cf, 1)) == NULL) {
		config_free(&cf);
		return 1;
	}
	if (privs_lookup(&pv, cf.cf_user) == -1) {
		tls_release(d.d_tls);
		config_free(&cf);
		return 1;
	}
	d.d_sc.sc_key = cf.cf_delegation_key;
	d.d_sc.sc_ca = cf.cf_delegation_ca;
	d.d_sc.sc_user = cf.cf_signer_user;
	d.d_sc.sc_lifetime = cf.cf_forge.fp_lifetime;
	/* exec'd, not only forked: see signer.c */
	d.d_sc.sc_exec = "/proc/self/exe";
	if (stat(cf.cf_delegation_key, &d.d_key_stat) == -1)
		memset(&d.d_key_stat, 0, sizeof(d.d_key_stat));

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);	/* a peer that left is an error return, not a death */

	/* The key's checks (readable, PEM, matches the CA) happen in the
	 * signer, which says what is wrong; before any thread exists. */
	if ((d.d_signer = calloc(1, sizeof(*d.d_signer))) == NULL ||
	    signer_start(d.d_signer, &d.d_sc, cf.cf_check ? 1 : cf.cf_workers) == -1) {
		free(d.d_signer);
		tls_release(d.d_tls);
		config_free(&cf);
		return 1;
	}
	if (cf.cf_check) {
		struct forge *f = forge_new(d.d_tls->tc_deleg_ca, d.d_tls->tc_deleg_chain,
		    &cf.cf_forge, signer_sign, signer_chan(d.d_signer, 0), 1);

		signer_stop(d.d_signer);
		free(d.d_signer);
		if (f == NULL) {
			tls_print_errors("ktproxy: cannot mint with the delegation CA: ");
			tls_release(d.d_tls);
			config_free(&cf);
			return 1;
		}
		forge_free(f);
		tls_release(d.d_tls);
		config_free(&cf);
		printf("configuration OK\n");
		return 0;
	}
	if (geteuid() != 0)
		fprintf(stderr, "ktproxy: not running as root: the signer process keeps uid %u "
		    "(--signer-user %s not applied)\n", (unsigned)geteuid(), cf.cf_signer_user);

	if ((log_fd = main_open_log(cf.cf_log_path)) == -1)
		goto out_tls;
	d.d_log_fd = log_fd;
	d.d_log_path = cf.cf_log_path;
	if (stats_create(&stats, cf.cf_stats_path, cf.cf_workers) == -1) {
		fprintf(stderr, "ktproxy: --stats %s: %s\n", cf.cf_stats_path, strerror(errno));
		goto out_tls;
	}
	d.d_stats = stats_slab_main(&stats);
	if (conntab_path(conntab_file, sizeof(conntab_file), cf.cf_stats_path) == -1 ||
	    conntab_create(&conntab, conntab_file, cf.cf_workers) == -1) {
		fprintf(stderr, "ktproxy: --stats %s: the connection table %s.conns: %s\n",
		    cf.cf_stats_path, cf.cf_stats_path, strerror(errno));
		goto out_stats;
	}
	if (cf.cf_ktls && !(d.d_ktls = ktls_probe(ktls_why, sizeof(ktls_why))))
		fprintf(stderr, "ktproxy: kTLS unavailable, relaying in userspace: %s\n", ktls_why);
	if (d.d_ktls)
		tls_enable_ktls(d.d_tls);
	if ((d.d_workers = calloc(cf.cf_workers, sizeof(*d.d_workers))) == NULL)
		goto out_stats;
	/* Every listener before the workers: binding may take root, which
	 * --user gives up here, before any thread exists (privs.c). */
	for (unsigned i = 0; i < cf.cf_workers; i++) {
		struct worker *w = &d.d_workers[i];

		w->w_nlis = d.d_tls->tc_nlis;
		for (unsigned l = 0; l < w->w_nlis; l++) {
			w->w_lis[l].wl_worker = w;
			w->w_lis[l].wl_idx = l;
			w->w_lis[l].wl_fd = -1;
		}
	}
	for (unsigned i = 0; i < cf.cf_workers; i++)
		for (unsigned l = 0; l < d.d_tls->tc_nlis; l++) {
			const struct config *lc = d.d_tls->tc_lis[l]->tc_cf;

			if ((d.d_workers[i].w_lis[l].wl_fd = tproxy_listen(&lc->cf_listen,
			    lc->cf_listen_len, lc->cf_listen_str)) == -1)
				goto out_workers;
		}
	/* Loading BPF takes CAP_BPF, which --user gives up. */
	if (steering_start(&d.d_steering, &cf, d.d_workers, cf.cf_workers) == -1)
		goto out_workers;
	if (privs_drop(&pv) == -1)
		goto out_workers;
	for (unsigned i = 0; i < cf.cf_workers; i++) {
		struct worker *w = &d.d_workers[i];

		w->w_id = i;
		w->w_cf = &cf;
		w->w_tls = tls_hold(d.d_tls);
		atomic_init(&w->w_gen, d.d_tls->tc_gen);
		w->w_log_fd = log_fd;
		w->w_stats = stats_slab(&stats, i);
		w->w_conntab = conntab_region(&conntab, i);
		w->w_ktls = d.d_ktls;
		if ((w->w_forge = forge_new(d.d_tls->tc_deleg_ca, d.d_tls->tc_deleg_chain,
		    &cf.cf_forge, signer_sign, signer_chan(d.d_signer, i),
		    cf.cf_forge_cache)) == NULL) {
			tls_print_errors("ktproxy: cannot set up forging: ");
			goto out_worker;
		}
		if ((w->w_upool = upool_new(cf.cf_up_keepalive,
		    cf.cf_up_keepalive_timeout * 1000ULL)) == NULL ||
		    (tls_any_ocsp(d.d_tls) &&
		    (w->w_ocsp = ocsp_cache_new(cf.cf_ocsp.oc_cache)) == NULL)) {
			fprintf(stderr, "ktproxy: out of memory\n");
			goto out_worker;
		}
		if (worker_start(w) == -1)
			goto out_worker;
		started++;
		d.d_nworkers = started;
		continue;
out_worker:
		ocsp_cache_free(w->w_ocsp);
		upool_free(w->w_upool);
		forge_free(w->w_forge);
		tls_release(w->w_tls);
		goto out_workers;
	}
	if (cf.cf_metrics_str != NULL) {
		if ((metrics = metrics_http_start(&cf.cf_metrics, cf.cf_metrics_len,
		    cf.cf_metrics_str, &stats)) == NULL)
			goto out_workers;
		fprintf(stderr, "ktproxy: metrics on http://%s/metrics\n", cf.cf_metrics_str);
	}
	/* After the listeners exist: the steered ports are never dropped for
	 * want of one; last of what can fail, so no failure leaves them behind. */
	if (intercept_install(&cf.cf_intercept, &d.d_tls->tc_cf->cf_listen) == -1)
		goto out_workers;
	main_listeners_str(d.d_tls, listening, sizeof(listening));
	fprintf(stderr, "ktproxy: listening on %s (%u worker%s), stats %s, kTLS %s\n",
	    listening, cf.cf_workers, cf.cf_workers == 1 ? "" : "s", cf.cf_stats_path,
	    d.d_ktls ? "on" : cf.cf_ktls ? "unavailable" : "off");
	if (pv.pv_user != NULL)
		fprintf(stderr, "ktproxy: running as %s (uid %u), keeping CAP_NET_ADMIN and "
		    "CAP_NET_RAW\n", pv.pv_user, (unsigned)pv.pv_uid);
	notify("READY=1");
	timed_out = main_drain(&set, &d, main_wait_for_stop(&set, &d));
	steering_publish(&d.d_steering, d.d_stats);
	rc = intercept_remove(&cf.cf_intercept, false) == 0 &&
	    steering_stop(&d.d_steering) == 0 ? 0 : 1;

out_workers:
	if (steering_stop(&d.d_steering) == -1)
		rc = 1;
	metrics_http_stop(metrics);
	for (unsigned i = 0; i < started; i++)
		worker_stop(&d.d_workers[i], timed_out);
	for (unsigned i = 0; i < started; i++) {
		worker_join(&d.d_workers[i]);
		upool_free(d.d_workers[i].w_upool);
		ocsp_cache_free(d.d_workers[i].w_ocsp);
		forge_free(d.d_workers[i].w_forge);
	}
	for (unsigned i = started; i < cf.cf_workers; i++)	/* never started */
		for (unsigned l = 0; l < d.d_workers[i].w_nlis; l++)
			if (d.d_workers[i].w_lis[l].wl_fd != -1)
				close(d.d_workers[i].w_lis[l].wl_fd);
	free(d.d_workers);
	/* From the counters, so the log and connections_closed agree. */
	if (timed_out) {
		unsigned long long n = stats_total(&stats, STAT_close_drain_timeout);

		fprintf(stderr, "ktproxy: closed %llu connection%s at the drain timeout\n", n,
		    n == 1 ? "" : "s");
	}
out_stats:
	if (conntab.ct_hdr != NULL)
		unlink(conntab_file);
	conntab_close(&conntab);
	unlink(cf.cf_stats_path);
	stats_close(&stats);
out_tls:
	if (log_fd > STDERR_FILENO)
		close(log_fd);
	signer_stop(d.d_signer);	/* after the workers: they use its channels */
	free(d.d_signer);
	tls_release(d.d_tls);
	config_free(&cf);	/* last: the generations' header names point into it */
	return rc;
}
