/*
 * signer.h - the delegation CA key behind a process wall.
 *
 * The CA key that signs forged client certificates lives only in a
 * separate, unprivileged signer process (as OpenBSD relayd keeps its keys
 * in its CA process).  The daemon never opens --delegation-key: the signer
 * loads it, checks it against --delegation-ca, drops to --signer-user, and
 * answers signing requests.  Each worker has its own SOCK_SEQPACKET
 * socketpair to it (no shared socket, no lock between workers); a request
 * is the DER of a TBSCertificate, the answer is a signature or a refusal.
 * The signer signs only what a forged client certificate of its CA looks
 * like (signerd.c), so a compromised worker cannot have a CA or a server
 * certificate signed.
 *
 * signer.c is the daemon's side: start, sign, notice a death, restart.
 * signerd.c is the signer process.
 */
#ifndef KTPROXY_SIGNER_H
#define KTPROXY_SIGNER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "forge.h"

#define SIGNER_TBS_MAX		(64 * 1024)	/* bytes of TBSCertificate per request */
#define SIGNER_TIMEOUT_MS	2000		/* a worker's wait for an answer */
#define SIGNER_READY_MS		10000		/* a new signer's time to load its key */
#define SIGNER_CHILD_ARG	"--signer-child"	/* argv[1] of the exec'd signer */
#define SIGNER_COMM		"ktproxy-signer"	/* its name in ps and /proc */

/* On the wire (host byte order: both ends are this binary on this host). */
struct signer_req {
	uint32_t	 sq_id;		/* echoed in the answer */
	uint32_t	 sq_len;	/* TBSCertificate DER bytes that follow */
};

enum signer_status {
	SIGNER_SIGNED = 0,	/* sp_len signature bytes follow */
	SIGNER_REFUSED,		/* not a forged client certificate of this CA */
	SIGNER_FAILED,		/* the signer could not sign (OpenSSL error) */
};

struct signer_resp {
	uint32_t	 sp_id;
	uint32_t	 sp_status;	/* enum signer_status */
	uint32_t	 sp_len;
	uint32_t	 sp_pad;
};

/* One worker's end.  The mutex is held by the worker for a whole round
 * trip and by the main thread to swap in a new signer's socket. */
struct signer_chan {
	pthread_mutex_t	 sc_lock;
	int		 sc_fd;		/* -1: no signer */
	int		 sc_pidfd;	/* the signer process, to kill a hung one */
	uint32_t	 sc_next_id;
	unsigned	 sc_timeout_ms;
};

struct signer_conf {
	const char	*sc_key;	/* --delegation-key */
	const char	*sc_ca;		/* --delegation-ca */
	const char	*sc_user;	/* drop to this user when root; NULL: stay */
	unsigned	 sc_lifetime;	/* seconds a certificate it signs may live
					 * (--forge-lifetime); 0: FORGE_LIFETIME_DEFAULT */
	const char	*sc_exec;	/* binary to exec as the signer (/proc/self/exe);
					 * NULL: run it in the forked child (tests) */
};

struct signer {
	struct signer_conf	 s_conf;
	pid_t			 s_pid;		/* -1: none running */
	unsigned		 s_nchan;
	struct signer_chan	*s_chans;
};

/*
 * Start the signer with nchan worker channels and wait until it has its key
 * (SIGNER_READY_MS).  A missing key, a key that does not match the CA or an
 * unknown user: the signer says why on stderr and this returns -1.  Call
 * before any thread starts (the first time): no thread holds a lock the
 * child could inherit.
 */
int		 signer_start(struct signer *s, const struct signer_conf *conf, unsigned nchan);
struct signer_chan *signer_chan(struct signer *s, unsigned i);
/* Has the signer exited?  Reaps it (waitpid) and puts a description of how
 * it ended in why; the channels fail closed until signer_restart(). */
bool		 signer_reap(struct signer *s, char *why, size_t whylen);
/* A new signer with new sockets, swapped into every channel.  -1: none
 * started (the channels stay dead; try again later). */
int		 signer_restart(struct signer *s);
/* Close the channels and end the signer. */
void		 signer_stop(struct signer *s);

/*
 * forge_sign_fn over a channel (arg: struct signer_chan *).  Synchronous:
 * the worker waits for the answer, at most sc_timeout_ms.  A mint is rare
 * (the forge cache) and a round trip costs tens of microseconds next to a
 * signature's; an asynchronous request through io_uring would add a
 * connection state for no measurable gain.  A dead signer answers at once
 * (the socket's peer is gone); a hung one costs the timeout once, and is
 * then killed (through its pidfd) so that it is restarted.
 */
enum forge_err	 signer_sign(void *chan, const uint8_t *tbs, size_t len, uint8_t *sig,
		    size_t *siglen);

/* The signer process (signerd.c).  signerd_main: argv of an exec'd signer
 * (argv[1] is SIGNER_CHILD_ARG); signerd_run: the same in a forked child.
 * Both return the exit status. */
int		 signerd_main(int argc, char **argv);
int		 signerd_run(const struct signer_conf *conf, int status_fd, const int *fds,
		    unsigned nfds);

/* The policy: may a signer of CA `ca`, signing with algorithm sig_nid
 * certificates that live at most `lifetime` seconds, at time now, sign
 * this TBSCertificate?  0, or -1 with why. */
int		 signerd_check(X509 *ca, int sig_nid, unsigned lifetime, const uint8_t *tbs,
		    size_t len, time_t now, const char **why);

#endif
