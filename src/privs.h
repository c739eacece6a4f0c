/*
 * privs.h - the daemon's privileges after start-up, and the signer's none.
 *
 * ktproxy starts as root: binding the transparent listeners, creating the
 * stats segment under /run and starting a signer that reads a root-only
 * key take it.  With --user, once the listeners are up and before any
 * worker thread exists, it becomes that user for good and keeps only
 * PRIVS_KEEP_CAPS (see privs.c for why those).  The signer process keeps
 * no capability at all.
 */
#ifndef KTPROXY_PRIVS_H
#define KTPROXY_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

struct privs {
	const char	*pv_user;	/* --user; NULL: stay as started */
	uid_t		 pv_uid;
	gid_t		 pv_gid;
};

/* Look --user up (NULL: nothing to do), before anything is started, so a
 * user that does not exist fails start-up and --check.  0, or -1 after
 * saying what is wrong on stderr. */
int	privs_lookup(struct privs *pv, const char *user);

/* Become pv's user with only PRIVS_KEEP_CAPS, and no_new_privs.  Call it
 * before any thread is created: every thread started afterwards inherits
 * exactly these credentials.  0 (also when pv_user is NULL), or -1 after
 * naming the call that failed. */
int	privs_drop(const struct privs *pv);

/* The signer: no capability in any set (effective, permitted,
 * inheritable, ambient), whatever it inherited through exec.  0 or -1. */
int	privs_clear_all(void);

#endif
