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
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "clock.h"
#include "config.h"
#include "forge.h"
#include "ktls.h"
#include "signer.h"
#include "stats.h"
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

/*
 * Wait for SIGTERM or SIGINT; the signals are blocked in every thread and
 * taken here synchronously, so no handler runs inside a worker.  SIGCHLD
 * means the signer died: say so, and start a new one.  Starts are at least
 * MAIN_SIGNER_BACKOFF_MS apart, so a signer that dies at once does not
 * become a fork loop; until one is up, minting fails closed in the workers
 * (upstream_failures{signer}) and established connections go on.
 */
#define MAIN_SIGNER_BACKOFF_MS	1000

static void
main_wait_for_stop(const sigset_t *set, struct signer *signer, uint64_t *stats)
{
	uint64_t started_ms = clock_ms(), now;
	bool down = false;
	char why[160];

	for (;;) {
		struct timespec wait;
		int sig;

		if (down && (now = clock_ms()) >= started_ms + MAIN_SIGNER_BACKOFF_MS) {
			started_ms = now;
			if (signer_restart(signer) == 0) {
				down = false;
				stats_inc(stats, STAT_signer_restarts);
				fprintf(stderr, "ktproxy: signer restarted (pid %d)\n",
				    (int)signer->s_pid);
			} else {
				fprintf(stderr, "ktproxy: signer could not be restarted; trying "
				    "again in %d s\n", MAIN_SIGNER_BACKOFF_MS / 1000);
			}
		}
		if (down) {
			uint64_t left = started_ms + MAIN_SIGNER_BACKOFF_MS - clock_ms();

			if ((int64_t)left < 0)
				left = 0;
			wait.tv_sec = left / 1000;
			wait.tv_nsec = (left % 1000) * 1000000;
		}
		if ((sig = sigtimedwait(set, NULL, down ? &wait : NULL)) == -1)
			continue;	/* EAGAIN: time for the next start; EINTR */
		if (sig == SIGCHLD) {
			if (signer_reap(signer, why, sizeof(why))) {
				fprintf(stderr, "ktproxy: %s; minting fails closed until a new "
				    "one is up\n", why);
				down = true;
			}
			continue;
		}
		if (sig == SIGHUP) {
			fprintf(stderr, "ktproxy: SIGHUP: reloading is not available in this "
			    "version; restart ktproxy to apply new files\n");
			continue;
		}
		fprintf(stderr, "ktproxy: %s: closing connections and exiting\n", strsignal(sig));
		return;
	}
}

int
main(int argc, char **argv)
{
	struct tls_contexts tls;
	struct signer_conf sc;
	struct signer signer;
	struct stats_segment stats;
	struct worker *workers;
	struct config cf;
	sigset_t set;
	char ktls_why[256];
	bool ktls = false;
	int log_fd, rc = 1;
	unsigned started = 0;

	if (argc > 1 && strcmp(argv[1], SIGNER_CHILD_ARG) == 0)
		return signerd_main(argc, argv);
	if (config_parse(&cf, argc, argv) == -1) {
		forge_policy_free(&cf.cf_forge);
		return 2;
	}
	if (tls_setup(&tls, &cf) == -1) {
		forge_policy_free(&cf.cf_forge);
		return 1;
	}
	if (hdr_set_by(&cf.cf_hdr, SSL_CTX_get0_certificate(tls.tc_server)) == -1) {
		fprintf(stderr, "ktproxy: --server-cert: cannot read its URI SANs\n");
		forge_policy_free(&cf.cf_forge);
		tls_free(&tls);
		return 1;
	}
	sc.sc_key = cf.cf_delegation_key;
	sc.sc_ca = cf.cf_delegation_ca;
	sc.sc_user = cf.cf_signer_user;
	sc.sc_lifetime = cf.cf_forge.fp_lifetime;
	/* exec'd, not only forked: see signer.c */
	sc.sc_exec = "/proc/self/exe";

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);	/* a peer that left is an error return, not a death */

	/* The key's checks (readable, PEM, matches the CA) happen in the
	 * signer, which says what is wrong; before any thread exists. */
	if (signer_start(&signer, &sc, cf.cf_check ? 1 : cf.cf_workers) == -1) {
		forge_policy_free(&cf.cf_forge);
		tls_free(&tls);
		return 1;
	}
	if (cf.cf_check) {
		struct forge *f = forge_new(tls.tc_deleg_ca, tls.tc_deleg_chain, &cf.cf_forge,
		    signer_sign, signer_chan(&signer, 0), 1);

		signer_stop(&signer);
		forge_policy_free(&cf.cf_forge);
		if (f == NULL) {
			tls_print_errors("ktproxy: cannot mint with the delegation CA: ");
			tls_free(&tls);
			return 1;
		}
		forge_free(f);
		tls_free(&tls);
		printf("configuration OK\n");
		return 0;
	}
	if (geteuid() != 0)
		fprintf(stderr, "ktproxy: not running as root: the signer process keeps uid %u "
		    "(--signer-user %s not applied)\n", (unsigned)geteuid(), cf.cf_signer_user);

	if ((log_fd = main_open_log(cf.cf_log_path)) == -1)
		goto out_tls;
	if (stats_create(&stats, cf.cf_stats_path, cf.cf_workers) == -1) {
		fprintf(stderr, "ktproxy: --stats %s: %s\n", cf.cf_stats_path, strerror(errno));
		goto out_tls;
	}
	if (cf.cf_ktls && !(ktls = ktls_probe(ktls_why, sizeof(ktls_why))))
		fprintf(stderr, "ktproxy: kTLS unavailable, relaying in userspace: %s\n", ktls_why);
	if (ktls)
		tls_enable_ktls(&tls);
	if ((workers = calloc(cf.cf_workers, sizeof(*workers))) == NULL)
		goto out_stats;
	for (unsigned i = 0; i < cf.cf_workers; i++) {
		struct worker *w = &workers[i];

		w->w_id = i;
		w->w_cf = &cf;
		w->w_tls = &tls;
		w->w_log_fd = log_fd;
		w->w_stats = stats_slab(&stats, i);
		w->w_ktls = ktls;
		if ((w->w_listen_fd = tproxy_listen(&cf.cf_listen, cf.cf_listen_len,
		    cf.cf_listen_str)) == -1)
			goto out_workers;
		if ((w->w_forge = forge_new(tls.tc_deleg_ca, tls.tc_deleg_chain, &cf.cf_forge,
		    signer_sign, signer_chan(&signer, i), cf.cf_forge_cache)) == NULL) {
			tls_print_errors("ktproxy: cannot set up forging: ");
			close(w->w_listen_fd);
			goto out_workers;
		}
		if ((w->w_upool = upool_new(cf.cf_up_keepalive,
		    cf.cf_up_keepalive_timeout * 1000ULL)) == NULL) {
			fprintf(stderr, "ktproxy: out of memory\n");
			forge_free(w->w_forge);
			close(w->w_listen_fd);
			goto out_workers;
		}
		if (worker_start(w) == -1) {
			upool_free(w->w_upool);
			forge_free(w->w_forge);
			close(w->w_listen_fd);
			goto out_workers;
		}
		started++;
	}
	fprintf(stderr, "ktproxy: listening on %s (%u worker%s), stats %s, kTLS %s\n",
	    cf.cf_listen_str, cf.cf_workers, cf.cf_workers == 1 ? "" : "s", cf.cf_stats_path,
	    ktls ? "on" : cf.cf_ktls ? "unavailable" : "off");
	main_wait_for_stop(&set, &signer, stats_slab_main(&stats));
	rc = 0;

out_workers:
	for (unsigned i = 0; i < started; i++)
		worker_stop(&workers[i]);
	for (unsigned i = 0; i < started; i++) {
		worker_join(&workers[i]);
		upool_free(workers[i].w_upool);
		forge_free(workers[i].w_forge);
	}
	free(workers);
out_stats:
	unlink(cf.cf_stats_path);
	stats_close(&stats);
out_tls:
	if (log_fd > STDERR_FILENO)
		close(log_fd);
	signer_stop(&signer);	/* after the workers: they use its channels */
	hdr_conf_free(&cf.cf_hdr);
	forge_policy_free(&cf.cf_forge);
	tls_free(&tls);
	return rc;
}
