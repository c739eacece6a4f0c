/*
 * privs.c - dropping to --user with CAP_NET_ADMIN and CAP_NET_RAW, and the
 * signer's dropping of every capability.
 *
 * Why these two: they are what transparent sockets are about (IP_TRANSPARENT
 * and IPV6_TRANSPARENT take either, and so would a socket bound to a client's
 * own address for an upstream connection).  Everything ktproxy does as root
 * today happens before the drop: the listeners are bound (a port below 1024
 * included, so no CAP_NET_BIND_SERVICE is kept), the stats segment is made,
 * the log is opened, the first signer is started.  What runs later must do
 * without root:
 *   - SIGHUP reads the config file and every file it names again, as --user;
 *   - a signer started later (a restart after it died, a reload with a new
 *     delegation CA or key) is exec'd by the unprivileged daemon: it runs as
 *     --user, not --signer-user, and loads the key only if --user may read it.
 *     A key readable by root only keeps it from every worker, and such a
 *     signer then fails to start (minting fails closed) until ktproxy is
 *     restarted: the trade-off ktproxy(8) documents.
 *
 * The order of the calls is the one capabilities(7) asks for: keep the
 * permitted set across setuid (PR_SET_KEEPCAPS), change groups before the
 * uid (setgroups needs CAP_SETGID), then cut the sets down to what is kept.
 * glibc applies setresgid/setresuid to every thread of the process, but
 * capset(2) acts on the calling thread only: privs_drop runs before any
 * worker exists, so the workers inherit the result.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "privs.h"

static const cap_value_t privs_keep[] = { CAP_NET_ADMIN, CAP_NET_RAW };
#define PRIVS_NKEEP	(int)(sizeof(privs_keep) / sizeof(privs_keep[0]))

int
privs_lookup(struct privs *pv, const char *user)
{
	struct passwd *pw;

	memset(pv, 0, sizeof(*pv));
	if (user == NULL)
		return 0;
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		if (errno != 0)
			fprintf(stderr, "ktproxy: --user %s: cannot look it up: %s\n", user,
			    strerror(errno));
		else
			fprintf(stderr, "ktproxy: --user %s: no such user\n", user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		fprintf(stderr, "ktproxy: --user %s has uid 0: name an unprivileged user\n", user);
		return -1;
	}
	if (geteuid() != 0 && geteuid() != pw->pw_uid) {
		fprintf(stderr, "ktproxy: --user %s: becoming another user takes root; ktproxy "
		    "runs as uid %u\n", user, (unsigned)geteuid());
		return -1;
	}
	pv->pv_user = user;
	pv->pv_uid = pw->pw_uid;
	pv->pv_gid = pw->pw_gid;
	return 0;
}

/* Of privs_keep, those permitted now (all, after a drop from root; maybe
 * none when started unprivileged), effective and permitted; nothing else,
 * nothing inheritable. */
static int
privs_set_kept(const char *user)
{
	cap_value_t keep[PRIVS_NKEEP];
	cap_flag_value_t have;
	cap_t now, caps;
	int n = 0, rc = -1;

	if ((now = cap_get_proc()) == NULL) {
		fprintf(stderr, "ktproxy: --user %s: cap_get_proc: %s\n", user, strerror(errno));
		return -1;
	}
	for (int i = 0; i < PRIVS_NKEEP; i++)
		if (cap_get_flag(now, privs_keep[i], CAP_PERMITTED, &have) == 0 && have == CAP_SET)
			keep[n++] = privs_keep[i];
	cap_free(now);
	if ((caps = cap_init()) == NULL) {
		fprintf(stderr, "ktproxy: --user %s: cap_init: %s\n", user, strerror(errno));
		return -1;
	}
	if (n > 0 && (cap_set_flag(caps, CAP_PERMITTED, n, keep, CAP_SET) == -1 ||
	    cap_set_flag(caps, CAP_EFFECTIVE, n, keep, CAP_SET) == -1))
		fprintf(stderr, "ktproxy: --user %s: cap_set_flag: %s\n", user, strerror(errno));
	else if (cap_set_proc(caps) == -1)
		fprintf(stderr, "ktproxy: --user %s: cap_set_proc (keeping CAP_NET_ADMIN and "
		    "CAP_NET_RAW): %s\n", user, strerror(errno));
	else
		rc = 0;
	cap_free(caps);
	return rc;
}

int
privs_drop(const struct privs *pv)
{
	const char *user = pv->pv_user;

	if (user == NULL)
		return 0;
	if (geteuid() == 0) {
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1) {
			fprintf(stderr, "ktproxy: --user %s: prctl(PR_SET_KEEPCAPS): %s\n", user,
			    strerror(errno));
			return -1;
		}
		/* The user's own supplementary groups: a certificate readable by a
		 * group of theirs stays readable at a reload. */
		if (initgroups(user, pv->pv_gid) == -1) {
			fprintf(stderr, "ktproxy: --user %s: initgroups: %s\n", user,
			    strerror(errno));
			return -1;
		}
		if (setresgid(pv->pv_gid, pv->pv_gid, pv->pv_gid) == -1) {
			fprintf(stderr, "ktproxy: --user %s: setresgid(%u): %s\n", user,
			    (unsigned)pv->pv_gid, strerror(errno));
			return -1;
		}
		if (setresuid(pv->pv_uid, pv->pv_uid, pv->pv_uid) == -1) {
			fprintf(stderr, "ktproxy: --user %s: setresuid(%u): %s\n", user,
			    (unsigned)pv->pv_uid, strerror(errno));
			return -1;
		}
		if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == -1) {
			fprintf(stderr, "ktproxy: --user %s: prctl(PR_SET_KEEPCAPS, 0): %s\n", user,
			    strerror(errno));
			return -1;
		}
	}
	if (privs_set_kept(user) == -1)
		return -1;
	/* Ambient capabilities (a service manager's AmbientCapabilities=)
	 * would survive the exec of a signer: none. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1) {
		fprintf(stderr, "ktproxy: --user %s: prctl(PR_CAP_AMBIENT_CLEAR_ALL): %s\n", user,
		    strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		fprintf(stderr, "ktproxy: --user %s: prctl(PR_SET_NO_NEW_PRIVS): %s\n", user,
		    strerror(errno));
		return -1;
	}
	if (setuid(0) != -1 || setgid(0) != -1) {
		fprintf(stderr, "ktproxy: --user %s: could become root again after dropping "
		    "privileges\n", user);
		return -1;
	}
	return 0;
}

int
privs_clear_all(void)
{
	cap_t caps;
	int rc;

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1) {
		fprintf(stderr, "ktproxy: signer: prctl(PR_CAP_AMBIENT_CLEAR_ALL): %s\n",
		    strerror(errno));
		return -1;
	}
	if ((caps = cap_init()) == NULL) {	/* cap_init: every set empty */
		fprintf(stderr, "ktproxy: signer: cap_init: %s\n", strerror(errno));
		return -1;
	}
	if ((rc = cap_set_proc(caps)) == -1)
		fprintf(stderr, "ktproxy: signer: cap_set_proc (dropping every capability): %s\n",
		    strerror(errno));
	cap_free(caps);
	return rc;
}
