/*
 * signer.c - the daemon's side of the signer process: start it, ask it to
 * sign, notice that it died, start another.
 *
 * The signer is exec'd (/proc/self/exe with SIGNER_CHILD_ARG), not just
 * forked: a restart happens while worker threads run, and a forked child of
 * a threaded process may inherit an OpenSSL or malloc lock that a worker
 * held at the fork, and hang on it forever.  Between fork and exec the child
 * only clears FD_CLOEXEC on its own descriptors (async-signal-safe); every
 * other descriptor of the daemon is close-on-exec, and the exec'd image
 * holds nothing of the daemon's memory.
 *
 * Socket hand-over on a restart: each worker's socket lives in its
 * signer_chan, under a mutex the worker holds for a whole round trip.  The
 * main thread takes the same mutex to close the dead signer's socket and
 * put the new one in, so a worker never polls a descriptor that is being
 * closed or reused.  The wait is short: a dead signer's socket fails at
 * once, so a worker holds the mutex for microseconds, at most the timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "signer.h"

/* A descriptor for the signer process itself: a worker can kill a signer
 * that hangs without racing the main thread's reaping (a pid could be
 * reused by then; a pidfd cannot).  -1 if the kernel has no pidfds. */
static int
signer_pidfd(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Put a signer's socket and pidfd into a channel (under its lock). */
static void
signer_chan_set(struct signer_chan *ch, int fd, int pidfd)
{
	pthread_mutex_lock(&ch->sc_lock);
	if (ch->sc_fd != -1)
		close(ch->sc_fd);
	if (ch->sc_pidfd != -1)
		close(ch->sc_pidfd);
	ch->sc_fd = fd;
	ch->sc_pidfd = pidfd;
	pthread_mutex_unlock(&ch->sc_lock);
}

/*
 * Fork (and exec) a signer for s->s_nchan workers.  On success *pid and
 * fds[] (the workers' ends, close-on-exec) are set once the signer has
 * said it is ready.  -1: the signer said why on stderr, or never answered.
 */
static int
signer_spawn(struct signer *s, pid_t *pid, int *fds)
{
	const struct signer_conf *cf = &s->s_conf;
	unsigned n = s->s_nchan;
	int (*pairs)[2] = NULL, status[2] = { -1, -1 }, rc = -1, st;
	char (*nums)[16] = NULL, **argv = NULL, life[16];
	struct pollfd pfd;
	char ready = 0;
	pid_t child;

	if ((pairs = calloc(n, sizeof(*pairs))) == NULL ||
	    (nums = calloc(n + 1, sizeof(*nums))) == NULL ||
	    (argv = calloc(n + 8, sizeof(*argv))) == NULL) {
		fprintf(stderr, "ktproxy: signer: out of memory\n");
		goto out;
	}
	for (unsigned i = 0; i < n; i++)
		pairs[i][0] = pairs[i][1] = -1;
	if (pipe2(status, O_CLOEXEC) == -1) {
		fprintf(stderr, "ktproxy: signer: pipe: %s\n", strerror(errno));
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pairs[i]) == -1) {
			fprintf(stderr, "ktproxy: signer: socketpair: %s\n", strerror(errno));
			goto out;
		}
	}
	/* Everything the child needs is built before the fork. */
	argv[0] = SIGNER_COMM;
	argv[1] = SIGNER_CHILD_ARG;
	argv[2] = (char *)cf->sc_key;
	argv[3] = (char *)cf->sc_ca;
	argv[4] = (char *)(cf->sc_user != NULL ? cf->sc_user : "-");
	snprintf(life, sizeof(life), "%u", cf->sc_lifetime);
	argv[5] = life;
	snprintf(nums[n], sizeof(nums[n]), "%d", status[1]);
	argv[6] = nums[n];
	for (unsigned i = 0; i < n; i++) {
		snprintf(nums[i], sizeof(nums[i]), "%d", pairs[i][1]);
		argv[7 + i] = nums[i];
	}
	argv[7 + n] = NULL;

	if ((child = fork()) == -1) {
		fprintf(stderr, "ktproxy: signer: fork: %s\n", strerror(errno));
		goto out;
	}
	if (child == 0) {
		int sfds[256];

		if (cf->sc_exec != NULL) {
			/* async-signal-safe calls only until the exec */
			fcntl(status[1], F_SETFD, 0);
			for (unsigned i = 0; i < n; i++)
				fcntl(pairs[i][1], F_SETFD, 0);
			execv(cf->sc_exec, argv);
			_exit(127);
		}
		/* tests: a single-threaded parent, so running on is safe */
		for (unsigned i = 0; i < n && i < 256; i++) {
			close(pairs[i][0]);
			sfds[i] = pairs[i][1];
		}
		close(status[0]);
		_exit(signerd_run(cf, status[1], sfds, n < 256 ? n : 256));
	}

	close(status[1]);
	status[1] = -1;
	for (unsigned i = 0; i < n; i++) {
		close(pairs[i][1]);
		pairs[i][1] = -1;
	}
	/* 'R' once the key is loaded and privileges are dropped; end of file
	 * if the signer gave up (it said why on stderr). */
	pfd.fd = status[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, SIGNER_READY_MS) <= 0 || read(status[0], &ready, 1) != 1 ||
	    ready != 'R') {
		if (ready == 0 && pfd.revents == 0)
			fprintf(stderr, "ktproxy: signer: not ready within %d s\n",
			    SIGNER_READY_MS / 1000);
		kill(child, SIGKILL);
		while (waitpid(child, &st, 0) == -1 && errno == EINTR)
			;
		goto out;
	}
	*pid = child;
	for (unsigned i = 0; i < n; i++) {
		fds[i] = pairs[i][0];
		pairs[i][0] = -1;
	}
	rc = 0;
out:
	for (unsigned i = 0; pairs != NULL && i < n; i++) {
		if (pairs[i][0] != -1)
			close(pairs[i][0]);
		if (pairs[i][1] != -1)
			close(pairs[i][1]);
	}
	if (status[0] != -1)
		close(status[0]);
	if (status[1] != -1)
		close(status[1]);
	free(argv);
	free(nums);
	free(pairs);
	return rc;
}

int
signer_start(struct signer *s, const struct signer_conf *conf, unsigned nchan)
{
	int *fds;

	memset(s, 0, sizeof(*s));
	s->s_conf = *conf;
	s->s_pid = -1;
	s->s_nchan = nchan;
	if (nchan == 0 || nchan > 256) {
		fprintf(stderr, "ktproxy: signer: %u channels\n", nchan);
		return -1;
	}
	if ((s->s_chans = calloc(nchan, sizeof(*s->s_chans))) == NULL ||
	    (fds = calloc(nchan, sizeof(*fds))) == NULL) {
		free(s->s_chans);
		s->s_chans = NULL;
		fprintf(stderr, "ktproxy: signer: out of memory\n");
		return -1;
	}
	if (signer_spawn(s, &s->s_pid, fds) == -1) {
		free(fds);
		free(s->s_chans);
		s->s_chans = NULL;
		return -1;
	}
	for (unsigned i = 0; i < nchan; i++) {
		pthread_mutex_init(&s->s_chans[i].sc_lock, NULL);
		s->s_chans[i].sc_fd = s->s_chans[i].sc_pidfd = -1;
		s->s_chans[i].sc_timeout_ms = SIGNER_TIMEOUT_MS;
		signer_chan_set(&s->s_chans[i], fds[i], signer_pidfd(s->s_pid));
	}
	free(fds);
	return 0;
}

struct signer_chan *
signer_chan(struct signer *s, unsigned i)
{
	return &s->s_chans[i];
}

bool
signer_reap(struct signer *s, char *why, size_t whylen)
{
	int st;

	if (s->s_pid <= 0 || waitpid(s->s_pid, &st, WNOHANG) != s->s_pid)
		return false;
	if (WIFSIGNALED(st))
		snprintf(why, whylen, "signer (pid %d) killed by signal %d (%s)", (int)s->s_pid,
		    WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(why, whylen, "signer (pid %d) exited with status %d", (int)s->s_pid,
		    WEXITSTATUS(st));
	s->s_pid = -1;
	return true;
}

int
signer_restart(struct signer *s)
{
	int *fds;
	pid_t pid;

	if ((fds = calloc(s->s_nchan, sizeof(*fds))) == NULL)
		return -1;
	if (signer_spawn(s, &pid, fds) == -1) {
		free(fds);
		return -1;
	}
	s->s_pid = pid;
	for (unsigned i = 0; i < s->s_nchan; i++)
		signer_chan_set(&s->s_chans[i], fds[i], signer_pidfd(pid));
	free(fds);
	return 0;
}

void
signer_stop(struct signer *s)
{
	int st;

	for (unsigned i = 0; s->s_chans != NULL && i < s->s_nchan; i++) {
		struct signer_chan *ch = &s->s_chans[i];

		signer_chan_set(ch, -1, -1);
		pthread_mutex_destroy(&ch->sc_lock);
	}
	free(s->s_chans);
	s->s_chans = NULL;
	/* It holds nothing worth a graceful end. */
	if (s->s_pid > 0) {
		kill(s->s_pid, SIGKILL);
		while (waitpid(s->s_pid, &st, 0) == -1 && errno == EINTR)
			;
	}
	s->s_pid = -1;
}

/* Wait for the answer to request `id`; answers to earlier requests that
 * timed out are skipped.  FORGE_ERR_SIGNER_DOWN on silence (*silent set)
 * or a dead peer. */
static enum forge_err
signer_answer(struct signer_chan *ch, uint32_t id, uint8_t *sig, size_t *siglen, bool *silent)
{
	uint8_t buf[sizeof(struct signer_resp) + FORGE_SIG_MAX];
	uint64_t deadline = clock_ms() + ch->sc_timeout_ms, now;
	struct signer_resp resp;
	struct pollfd pfd = { .fd = ch->sc_fd, .events = POLLIN };
	ssize_t n;

	for (;;) {
		if ((now = clock_ms()) >= deadline) {
			*silent = true;
			return FORGE_ERR_SIGNER_DOWN;
		}
		if (poll(&pfd, 1, (int)(deadline - now)) == -1) {
			if (errno == EINTR)
				continue;
			return FORGE_ERR_SIGNER_DOWN;
		}
		/* MSG_TRUNC: the real length, so an oversized answer shows */
		n = recv(ch->sc_fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n == 0)
			return FORGE_ERR_SIGNER_DOWN;	/* the signer is gone */
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return FORGE_ERR_SIGNER_DOWN;
		}
		if ((size_t)n < sizeof(resp) || (size_t)n > sizeof(buf))
			return FORGE_ERR_SIGNER_DOWN;
		memcpy(&resp, buf, sizeof(resp));
		if (resp.sp_id != id)
			continue;
		if (resp.sp_status == SIGNER_REFUSED)
			return FORGE_ERR_SIGNER_REFUSED;
		if (resp.sp_status != SIGNER_SIGNED)
			return FORGE_ERR_MINT;
		if (resp.sp_len != (size_t)n - sizeof(resp) || resp.sp_len > *siglen ||
		    resp.sp_len == 0)
			return FORGE_ERR_MINT;
		memcpy(sig, buf + sizeof(resp), resp.sp_len);
		*siglen = resp.sp_len;
		return FORGE_OK;
	}
}

enum forge_err
signer_sign(void *arg, const uint8_t *tbs, size_t len, uint8_t *sig, size_t *siglen)
{
	struct signer_chan *ch = arg;
	struct signer_req req;
	struct iovec iov[2];
	struct msghdr msg;
	enum forge_err rc = FORGE_ERR_SIGNER_DOWN;
	bool silent = false;

	if (len == 0 || len > SIGNER_TBS_MAX)
		return FORGE_ERR_MINT;
	pthread_mutex_lock(&ch->sc_lock);
	if (ch->sc_fd == -1)
		goto out;
	req.sq_id = ++ch->sc_next_id;
	req.sq_len = (uint32_t)len;
	iov[0].iov_base = &req;
	iov[0].iov_len = sizeof(req);
	iov[1].iov_base = (void *)tbs;
	iov[1].iov_len = len;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	/* Never blocks: one request at a time per channel leaves the queue
	 * empty; a full one means the signer is stuck, which is down. */
	if (sendmsg(ch->sc_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)(sizeof(req) + len))
		goto out;
	rc = signer_answer(ch, req.sq_id, sig, siglen, &silent);
	/* A signer that does not answer is hung (stopped, deadlocked): killed,
	 * it is restarted like one that died, instead of costing every mint
	 * the timeout. */
	if (silent && ch->sc_pidfd != -1)
		syscall(SYS_pidfd_send_signal, ch->sc_pidfd, SIGKILL, NULL, 0);
out:
	pthread_mutex_unlock(&ch->sc_lock);
	return rc;
}
