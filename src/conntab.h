/*
 * conntab.h - the live connections, published for ktproxy-stat --conns.
 *
 * A second shared-memory file next to the stats segment ("<stats>.conns").
 * A header, then one region per worker: a sequence number and up to
 * CONNTAB_SLOTS entries.  Each worker rewrites its region once a second
 * (its tick), so the view is at most a second old and the relay's hot path
 * writes nothing.  The sequence number is a seqlock: odd while the worker
 * writes; a reader copies the region and keeps the copy only if the number
 * was even and unchanged across it.  Connections past CONNTAB_SLOTS are
 * counted (cr_total) but not listed: the file stays bounded.
 */
#ifndef KTPROXY_CONNTAB_H
#define KTPROXY_CONNTAB_H

#include <stdint.h>
#include <stddef.h>

#define CONNTAB_MAGIC	"KTPCONN1"
#define CONNTAB_VERSION	1
#define CONNTAB_SLOTS	4096

enum conntab_upstream {
	CONNTAB_UP_NONE = 0,		/* not connected yet, or failed */
	CONNTAB_UP_CONNECTED,		/* its own upstream socket */
	CONNTAB_UP_KEPT_IDLE,		/* idle between requests: the upstream went
					 * to the keepalive pool (upool.h) */
};

enum conntab_path {
	CONNTAB_PATH_NONE = 0,		/* not relaying yet */
	CONNTAB_PATH_USERSPACE,
	CONNTAB_PATH_KTLS,
};

/* One connection.  Addresses are in network order, 4 or 16 bytes by
 * family; ports in host order.  Strings are NUL-terminated, cut to fit. */
struct conntab_entry {
	uint8_t		 ce_family;		/* AF_INET, AF_INET6 */
	uint8_t		 ce_state;		/* enum conn_state */
	uint8_t		 ce_path;		/* enum conntab_path */
	uint8_t		 ce_has_up;		/* ce_up_local is set */
	uint16_t	 ce_peer_port;
	uint16_t	 ce_dst_port;
	uint16_t	 ce_up_port;		/* our side of the upstream socket */
	uint8_t		 ce_up_state;		/* enum conntab_upstream */
	uint8_t		 ce_pad[5];
	uint8_t		 ce_peer[16];		/* the client */
	uint8_t		 ce_dst[16];		/* original destination */
	uint8_t		 ce_up_local[16];
	uint64_t	 ce_start_ms;		/* unix milliseconds */
	uint64_t	 ce_bytes_c2u;
	uint64_t	 ce_bytes_u2c;
	uint64_t	 ce_requests;
	char		 ce_subject[192];	/* RFC 2253 */
	char		 ce_san[96];		/* first URI, else DNS, else email SAN */
	char		 ce_fallback[32];	/* why not kTLS, when userspace */
	char		 ce_client_tls[48];	/* "TLSv1.3/TLS_AES_256_GCM_SHA384" */
};

struct conntab_region {
	uint64_t		 cr_seq;	/* odd: being written */
	uint32_t		 cr_count;	/* entries filled */
	uint32_t		 cr_total;	/* connections the worker has */
	uint64_t		 cr_published_ms;	/* unix ms of the last rewrite */
	uint8_t			 cr_pad[40];
	struct conntab_entry	 cr_entries[CONNTAB_SLOTS];
};

struct conntab_header {
	char		 ch_magic[8];
	uint32_t	 ch_version;
	uint32_t	 ch_nworkers;
	uint32_t	 ch_slots;
	uint32_t	 ch_entry_size;
	int64_t		 ch_pid;
	uint8_t		 ch_pad[32];
};

struct conntab {
	struct conntab_header	*ct_hdr;
	size_t			 ct_size;
};

/* "<stats path>.conns" into buf; -1 if it does not fit. */
int	 conntab_path(char *buf, size_t len, const char *stats_path);

/* Daemon: create (or replace) the file for nworkers; 0 or -1 (errno). */
int	 conntab_create(struct conntab *t, const char *path, unsigned nworkers);
struct conntab_region *conntab_region(struct conntab *t, unsigned worker);
void	 conntab_close(struct conntab *t);

/* A worker's rewrite: begin (sequence odd), fill entries, end. */
void	 conntab_write_begin(struct conntab_region *r);
void	 conntab_write_end(struct conntab_region *r, uint32_t count, uint32_t total,
	    uint64_t now_unix_ms);

/* A worker's tick: rewrite its region from its connection list. */
struct worker;
void	 conntab_publish(struct worker *w);

/* Reader: map read-only and check; -1 with a message in err. */
int	 conntab_open(struct conntab *t, const char *path, char *err, size_t errlen);
/* A consistent copy of a worker's region into out (malloc'd by the
 * caller, sizeof(struct conntab_region)); -1 if the worker kept writing. */
int	 conntab_read(const struct conntab *t, unsigned worker, struct conntab_region *out);

#endif
