/*
 * signerd.c - the signer process: the only holder of the delegation CA key.
 *
 * Its life: load the CA certificate and key (as root, which can read the
 * key file), check they belong together, drop to --signer-user and every
 * capability, make itself undumpable and unable to gain privileges, close
 * every descriptor but its sockets and stderr, say "ready", then answer
 * requests until every worker socket is closed (the daemon stopped) or the
 * daemon dies (PR_SET_PDEATHSIG).  Terminal and service-manager signals
 * are ignored: the daemon decides when it ends.
 *
 * What it signs (signerd_check): only what forge.c builds, a forged client
 * certificate of this CA.  Whatever a compromised worker sends, it gets no
 * CA certificate, no server certificate, nothing long-lived, nothing issued
 * in another CA's name.  Refusals are answered (the worker counts them as
 * upstream_failures{signer_refused}) and logged here on stderr, at most
 * one line a second.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "privs.h"
#include "signer.h"

#define SIGNERD_SLACK	300	/* seconds of clock and queueing leeway */

struct signerd {
	X509		*sd_ca;
	EVP_PKEY	*sd_key;
	int		 sd_sig_nid;
	unsigned	 sd_lifetime;	/* the longest validity it signs */
	unsigned long	 sd_signed;
	unsigned long	 sd_refused;
	time_t		 sd_last_log;
};

static int
signerd_print_error_line(const char *str, size_t len, void *u)
{
	fprintf(stderr, "ktproxy:   %.*s", (int)len, str);
	return 1;
}

/* The same words tls.c used when the daemon loaded the key itself. */
static int
signerd_fail(const char *what, const char *file)
{
	fprintf(stderr, "ktproxy: %s %s:\n", what, file);
	ERR_print_errors_cb(signerd_print_error_line, NULL);
	return -1;
}

static int
signerd_load(struct signerd *sd, const struct signer_conf *cf)
{
	FILE *fp;

	if ((fp = fopen(cf->sc_ca, "r")) == NULL) {
		fprintf(stderr, "ktproxy: --delegation-ca %s: %s\n", cf->sc_ca, strerror(errno));
		return -1;
	}
	sd->sd_ca = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (sd->sd_ca == NULL)
		return signerd_fail("--delegation-ca: no PEM certificate in", cf->sc_ca);
	if ((fp = fopen(cf->sc_key, "r")) == NULL) {
		fprintf(stderr, "ktproxy: --delegation-key %s: %s\n", cf->sc_key, strerror(errno));
		return -1;
	}
	sd->sd_key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (sd->sd_key == NULL)
		return signerd_fail("--delegation-key: no PEM private key in", cf->sc_key);
	if (X509_check_private_key(sd->sd_ca, sd->sd_key) != 1)
		return signerd_fail("--delegation-key does not match the certificate in", cf->sc_ca);
	if ((sd->sd_sig_nid = forge_sig_nid(sd->sd_key, NULL)) == NID_undef) {
		fprintf(stderr, "ktproxy: --delegation-key %s: key type %s cannot sign forged "
		    "certificates (EC, RSA, Ed25519, Ed448 can)\n", cf->sc_key,
		    EVP_PKEY_get0_type_name(sd->sd_key));
		return -1;
	}
	return 0;
}

/* Root only: become `user` for good.  Not root: nothing to drop (the
 * daemon said so once at start). */
static int
signerd_drop(const char *user)
{
	struct passwd *pw;

	if (user == NULL || geteuid() != 0)
		return 0;
	if ((pw = getpwnam(user)) == NULL) {
		fprintf(stderr, "ktproxy: --signer-user %s: no such user\n", user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		fprintf(stderr, "ktproxy: --signer-user %s is root; the signer must run "
		    "unprivileged\n", user);
		return -1;
	}
	if (setgroups(0, NULL) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1) {
		fprintf(stderr, "ktproxy: signer: cannot become %s: %s\n", user, strerror(errno));
		return -1;
	}
	if (setuid(0) != -1) {
		fprintf(stderr, "ktproxy: signer: could become root again after dropping to %s\n",
		    user);
		return -1;
	}
	return 0;
}

static int
signerd_int_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Close every descriptor but 0-2, the status pipe and the sockets; 0 and
 * 1 become /dev/null (stderr stays: it is where the signer speaks). */
static void
signerd_close_others(int status_fd, const int *fds, unsigned nfds)
{
	int keep[260], nkeep = 0, devnull;

	keep[nkeep++] = status_fd;
	for (unsigned i = 0; i < nfds; i++)
		keep[nkeep++] = fds[i];
	qsort(keep, nkeep, sizeof(keep[0]), signerd_int_cmp);
	for (int i = 0, lo = 3; i <= nkeep; i++) {
		int hi = i < nkeep ? keep[i] - 1 : INT_MAX;

		if (hi >= lo && close_range(lo, hi, 0) == -1)
			for (int fd = lo; fd <= hi && fd < 65536; fd++)
				close(fd);
		if (i < nkeep && keep[i] + 1 > lo)
			lo = keep[i] + 1;
	}
	if ((devnull = open("/dev/null", O_RDWR)) != -1) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		if (devnull > STDERR_FILENO && devnull != status_fd)
			close(devnull);
	}
}

static void
signerd_signals(void)
{
	sigset_t none;

	/* exec keeps the daemon's blocked mask: start clean */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);	/* the daemon's log reopen, sent to the group */
	signal(SIGPIPE, SIG_IGN);
}

static int
signerd_time(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = timegm(&tm);
	return 0;
}

/* The TBSCertificate as a certificate with an empty signature, so the
 * public X509 accessors can read it. */
static X509 *
signerd_parse(const uint8_t *tbs, size_t len, int sig_nid)
{
	X509_ALGOR *alg = X509_ALGOR_new();
	unsigned char *algder = NULL, *der = NULL, *p;
	const unsigned char *q;
	X509 *x = NULL;
	int alglen;
	size_t body, total;

	if (alg == NULL || forge_algor_set(alg, sig_nid) == -1 ||
	    (alglen = i2d_X509_ALGOR(alg, &algder)) <= 0)
		goto out;
	body = len + alglen + 3;		/* BIT STRING 03 01 00: empty */
	if (body > 0xffffff || (der = malloc(body + 5)) == NULL)
		goto out;
	p = der;
	*p++ = 0x30;				/* SEQUENCE, long-form length */
	*p++ = 0x83;
	*p++ = (body >> 16) & 0xff;
	*p++ = (body >> 8) & 0xff;
	*p++ = body & 0xff;
	memcpy(p, tbs, len);
	p += len;
	memcpy(p, algder, alglen);
	p += alglen;
	*p++ = 0x03, *p++ = 0x01, *p++ = 0x00;
	total = p - der;
	q = der;
	if ((x = d2i_X509(NULL, &q, (long)total)) != NULL && q != der + total) {
		X509_free(x);
		x = NULL;
	}
out:
	free(der);
	OPENSSL_free(algder);
	X509_ALGOR_free(alg);
	return x;
}

int
signerd_check(X509 *ca, int sig_nid, unsigned lifetime, const uint8_t *tbs, size_t len,
    time_t now, const char **why)
{
	EXTENDED_KEY_USAGE *eku = NULL;
	X509_ALGOR *want = NULL;
	bool client_auth = false;
	unsigned char *re = NULL;
	X509 *x;
	time_t nb, na;
	uint32_t flags;
	int relen, crit, rc = -1;

	*why = "not a TBSCertificate";
	if ((x = signerd_parse(tbs, len, sig_nid)) == NULL)
		goto out;
	/* What is signed is exactly what was checked: no BER alternatives a
	 * verifier with another parser could read differently. */
	*why = "not DER";
	if ((relen = i2d_re_X509_tbs(x, &re)) <= 0 || (size_t)relen != len ||
	    memcmp(re, tbs, len) != 0)
		goto out;
	*why = "not a v3 certificate";
	if (X509_get_version(x) != X509_VERSION_3)
		goto out;
	*why = "signature algorithm is not the CA's";
	if ((want = X509_ALGOR_new()) == NULL || forge_algor_set(want, sig_nid) == -1 ||
	    X509_ALGOR_cmp(X509_get0_tbs_sigalg(x), want) != 0)
		goto out;
	*why = "issuer is not the delegation CA";
	if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)) != 0)
		goto out;
	flags = X509_get_extension_flags(x);
	*why = "invalid or repeated extensions";
	if (flags & EXFLAG_INVALID)
		goto out;
	*why = "a CA certificate (basicConstraints CA:TRUE, keyCertSign or the like)";
	if ((flags & EXFLAG_CA) || X509_check_ca(x) != 0)
		goto out;
	*why = "keyUsage keyCertSign or cRLSign";
	if ((flags & EXFLAG_KUSAGE) &&
	    (X509_get_key_usage(x) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) != 0)
		goto out;
	/* clientAuth, and whatever else the client's own certificate had
	 * that forge.c copies - but never a purpose that makes it a
	 * server, code-signing, OCSP or time-stamping certificate. */
	*why = "extendedKeyUsage without clientAuth, or with serverAuth, codeSigning, "
	    "OCSPSigning, timeStamping or anyExtendedKeyUsage";
	if ((eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL)) == NULL)
		goto out;
	for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
		int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));

		if (forge_eku_forbidden(nid))
			goto out;
		client_auth |= nid == NID_client_auth;
	}
	if (!client_auth)
		goto out;
	*why = "validity not within the forged certificates' bounds";
	if (lifetime == 0)
		lifetime = FORGE_LIFETIME_DEFAULT;
	if (signerd_time(X509_get0_notBefore(x), &nb) == -1 ||
	    signerd_time(X509_get0_notAfter(x), &na) == -1 || na <= nb ||
	    nb < now - FORGE_BACKDATE - SIGNERD_SLACK || nb > now + SIGNERD_SLACK ||
	    na > now + (time_t)lifetime + SIGNERD_SLACK)
		goto out;
	*why = NULL;
	rc = 0;
out:
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	X509_ALGOR_free(want);
	OPENSSL_free(re);
	X509_free(x);
	ERR_clear_error();
	return rc;
}

/* One request in, one answer out. */
static void
signerd_handle(struct signerd *sd, int fd, unsigned chan, const uint8_t *buf, size_t n)
{
	uint8_t out[sizeof(struct signer_resp) + FORGE_SIG_MAX];
	struct signer_resp resp = { 0 };
	struct signer_req req;
	const char *why = "malformed request";
	size_t siglen = FORGE_SIG_MAX;
	time_t now = time(NULL);

	resp.sp_status = SIGNER_REFUSED;
	if (n >= sizeof(req)) {
		memcpy(&req, buf, sizeof(req));
		resp.sp_id = req.sq_id;
		if (req.sq_len == n - sizeof(req) &&
		    signerd_check(sd->sd_ca, sd->sd_sig_nid, sd->sd_lifetime, buf + sizeof(req),
		    req.sq_len, now, &why) == 0) {
			if (forge_sign_local(sd->sd_key, buf + sizeof(req), req.sq_len,
			    out + sizeof(resp), &siglen) == FORGE_OK) {
				resp.sp_status = SIGNER_SIGNED;
				resp.sp_len = (uint32_t)siglen;
				sd->sd_signed++;
			} else {
				resp.sp_status = SIGNER_FAILED;
				ERR_clear_error();
			}
		}
	}
	if (resp.sp_status == SIGNER_REFUSED) {
		sd->sd_refused++;
		if (now != sd->sd_last_log) {
			sd->sd_last_log = now;
			fprintf(stderr, "ktproxy-signer: refused to sign for worker %u: %s "
			    "(%lu refused, %lu signed so far)\n", chan, why, sd->sd_refused,
			    sd->sd_signed);
		}
	}
	memcpy(out, &resp, sizeof(resp));
	/* A worker that gave up on this request reads past it later. */
	(void)send(fd, out, sizeof(resp) + resp.sp_len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static int
signerd_serve(struct signerd *sd, const int *fds, unsigned nfds)
{
	struct pollfd pf[256];
	uint8_t *buf;
	size_t cap = sizeof(struct signer_req) + SIGNER_TBS_MAX;
	unsigned live = nfds;
	ssize_t n;

	if ((buf = malloc(cap)) == NULL)
		return 1;
	for (unsigned i = 0; i < nfds; i++) {
		pf[i].fd = fds[i];
		pf[i].events = POLLIN;
	}
	while (live > 0) {
		if (poll(pf, nfds, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (unsigned i = 0; i < nfds; i++) {
			if (pf[i].fd == -1 || pf[i].revents == 0)
				continue;
			n = recv(pf[i].fd, buf, cap, MSG_DONTWAIT | MSG_TRUNC);
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n <= 0) {		/* the daemon closed this worker's end */
				close(pf[i].fd);
				pf[i].fd = -1;
				live--;
				continue;
			}
			signerd_handle(sd, pf[i].fd, i, buf, (size_t)n > cap ? 0 : (size_t)n);
		}
	}
	free(buf);
	return 0;
}

int
signerd_run(const struct signer_conf *cf, int status_fd, const int *fds, unsigned nfds)
{
	struct signerd sd = { 0 };
	pid_t parent = getppid();
	int rc = 1;

	sd.sd_lifetime = cf->sc_lifetime;
	prctl(PR_SET_NAME, SIGNER_COMM, 0, 0, 0);
	signerd_signals();
	signerd_close_others(status_fd, fds, nfds);
	if (signerd_load(&sd, cf) == -1 || signerd_drop(cf->sc_user) == -1)
		goto out;
	/* Dropping root empties the permitted set, but a signer exec'd by an
	 * unprivileged daemon may have inherited ambient capabilities (a
	 * service manager's AmbientCapabilities=): none, in any set. */
	if (privs_clear_all() == -1)
		goto out;
	/* No core dump, no ptrace by the user it now runs as, no setuid
	 * binary to regain anything; and no life after the daemon's. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1) {
		fprintf(stderr, "ktproxy: signer: prctl: %s\n", strerror(errno));
		goto out;
	}
	if (getppid() != parent)		/* it died before PDEATHSIG was set */
		goto out;
	if (write(status_fd, "R", 1) != 1)
		goto out;
	close(status_fd);
	status_fd = -1;
	rc = signerd_serve(&sd, fds, nfds);
out:
	if (status_fd != -1)
		close(status_fd);
	EVP_PKEY_free(sd.sd_key);
	X509_free(sd.sd_ca);
	return rc;
}

/* argv: SIGNER_COMM SIGNER_CHILD_ARG KEY CA USER|- LIFETIME STATUS_FD FD... */
int
signerd_main(int argc, char **argv)
{
	struct signer_conf cf = { 0 };
	int fds[256], status_fd = -1;
	unsigned nfds = 0;
	char *end;
	long v;

	if (argc < 8 || argc - 7 > 256) {
		fprintf(stderr, "ktproxy: %s is for ktproxy's own use\n", SIGNER_CHILD_ARG);
		return 2;
	}
	cf.sc_key = argv[2];
	cf.sc_ca = argv[3];
	cf.sc_user = strcmp(argv[4], "-") == 0 ? NULL : argv[4];
	errno = 0;
	v = strtol(argv[5], &end, 10);
	if (errno != 0 || *end != '\0' || end == argv[5] || v < 0 || v > FORGE_LIFETIME_LIMIT) {
		fprintf(stderr, "ktproxy: %s: bad lifetime \"%s\"\n", SIGNER_CHILD_ARG, argv[5]);
		return 2;
	}
	cf.sc_lifetime = (unsigned)v;
	for (int i = 6; i < argc; i++) {
		errno = 0;
		v = strtol(argv[i], &end, 10);
		if (errno != 0 || *end != '\0' || end == argv[i] || v < 3 || v > INT_MAX) {
			fprintf(stderr, "ktproxy: %s: bad descriptor \"%s\"\n", SIGNER_CHILD_ARG,
			    argv[i]);
			return 2;
		}
		if (i == 6)
			status_fd = (int)v;
		else
			fds[nfds++] = (int)v;
	}
	return signerd_run(&cf, status_fd, fds, nfds);
}
