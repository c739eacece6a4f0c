/*
 * upool.c - idle upstream connections per identity and destination (see
 * upool.h).
 *
 * The pool is small (a few hundred connections per worker at most) and a
 * lookup happens once per client handshake, next to two signatures: a
 * list kept in idle order, searched from the newest end, is all it needs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "ktls.h"
#include "upool.h"

struct upool_entry {
	TAILQ_ENTRY(upool_entry) ue_entry;
	uint8_t			 ue_id[32];
	uint8_t			 ue_dest[32];
	uint64_t		 ue_gen;	/* the identity's forge generation */
	uint64_t		 ue_since_ms;
	struct upool_conn	 ue_conn;
};

TAILQ_HEAD(upool_list, upool_entry);

struct upool {
	struct upool_list	 p_idle;	/* longest idle first */
	unsigned		 p_count;
	unsigned		 p_max;
	uint64_t		 p_idle_ms;
};

struct upool *
upool_new(unsigned max, uint64_t idle_ms)
{
	struct upool *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	TAILQ_INIT(&p->p_idle);
	p->p_max = max;
	p->p_idle_ms = idle_ms;
	return p;
}

void
upool_close(struct upool_conn *uc)
{
	if (uc->uc_ssl != NULL) {
		SSL_shutdown(uc->uc_ssl);
		if (ERR_peek_error() != 0)
			ERR_clear_error();
		SSL_free(uc->uc_ssl);
	} else {
		ktls_send_alert(uc->uc_fd, 1, 0);	/* close_notify */
	}
	close(uc->uc_fd);
	uc->uc_ssl = NULL;
	uc->uc_fd = -1;
}

static void
upool_drop(struct upool *p, struct upool_entry *e)
{
	TAILQ_REMOVE(&p->p_idle, e, ue_entry);
	p->p_count--;
	free(e);
}

void
upool_free(struct upool *p)
{
	struct upool_entry *e;

	if (p == NULL)
		return;
	while ((e = TAILQ_FIRST(&p->p_idle)) != NULL) {
		upool_close(&e->ue_conn);
		upool_drop(p, e);
	}
	free(p);
}

int
upool_put(struct upool *p, const uint8_t id[32], const uint8_t dest[32], uint64_t gen,
    const struct upool_conn *uc, uint64_t now_ms)
{
	struct upool_entry *e;
	int evicted = 0;

	if (p->p_max == 0 || (e = malloc(sizeof(*e))) == NULL)
		return -1;
	if (p->p_count == p->p_max) {
		struct upool_entry *old = TAILQ_FIRST(&p->p_idle);

		upool_close(&old->ue_conn);
		upool_drop(p, old);
		evicted = 1;
	}
	memcpy(e->ue_id, id, 32);
	memcpy(e->ue_dest, dest, 32);
	e->ue_gen = gen;
	e->ue_since_ms = now_ms;
	e->ue_conn = *uc;
	TAILQ_INSERT_TAIL(&p->p_idle, e, ue_entry);
	p->p_count++;
	return evicted;
}

/*
 * Alive and idle: the socket has nothing to read and no FIN.  Anything
 * else - a late alert, a close_notify, an answer to nothing - means the
 * upstream is done with it or out of step.
 */
static bool
upool_alive(int fd)
{
	uint8_t b;

	return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == -1 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool
upool_take(struct upool *p, const uint8_t id[32], const uint8_t dest[32], uint64_t gen,
    unsigned kinds, struct upool_conn *uc, unsigned *dead)
{
	struct upool_entry *e, *prev;

	*dead = 0;
	for (e = TAILQ_LAST(&p->p_idle, upool_list); e != NULL; e = prev) {
		prev = TAILQ_PREV(e, upool_list, ue_entry);
		if (e->ue_gen != gen || memcmp(e->ue_id, id, 32) != 0 ||
		    memcmp(e->ue_dest, dest, 32) != 0 ||
		    !(kinds & (e->ue_conn.uc_ssl == NULL ? UPOOL_KTLS : UPOOL_USERSPACE)))
			continue;
		if (!upool_alive(e->ue_conn.uc_fd)) {
			/* The upstream has gone or is out of step: nothing
			 * more is sent to it, not even close_notify. */
			SSL_free(e->ue_conn.uc_ssl);
			close(e->ue_conn.uc_fd);
			upool_drop(p, e);
			(*dead)++;
			continue;
		}
		*uc = e->ue_conn;
		upool_drop(p, e);
		return true;
	}
	return false;
}

unsigned
upool_expire(struct upool *p, uint64_t now_ms)
{
	struct upool_entry *e;
	unsigned n = 0;

	while ((e = TAILQ_FIRST(&p->p_idle)) != NULL && now_ms - e->ue_since_ms >= p->p_idle_ms) {
		upool_close(&e->ue_conn);
		upool_drop(p, e);
		n++;
	}
	return n;
}

unsigned
upool_forget(struct upool *p, const uint8_t id[32])
{
	struct upool_entry *e, *next;
	unsigned n = 0;

	for (e = TAILQ_FIRST(&p->p_idle); e != NULL; e = next) {
		next = TAILQ_NEXT(e, ue_entry);
		if (memcmp(e->ue_id, id, sizeof(e->ue_id)) != 0)
			continue;
		upool_close(&e->ue_conn);
		upool_drop(p, e);
		n++;
	}
	return n;
}

unsigned
upool_count(const struct upool *p)
{
	return p->p_count;
}
