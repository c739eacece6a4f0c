/*
 * config.h - ktproxy's settings, from the config file and the command line
 * (the same names: a file key is a long flag without its --).
 */
#ifndef KTPROXY_CONFIG_H
#define KTPROXY_CONFIG_H

#include <stdbool.h>
#include <sys/socket.h>

#include "forge.h"
#include "headers.h"
#include "intercept.h"
#include "ocsp.h"
#include "verify.h"

#define CONFIG_KEYS_MAX		64	/* room for every option (config.c) */
#define CONFIG_LISTENERS_MAX	16	/* listener blocks in a file */

struct config {
	struct sockaddr_storage	 cf_listen;
	socklen_t		 cf_listen_len;
	const char		*cf_listen_str;
	const char		*cf_server_cert;
	const char		*cf_server_key;
	const char		*cf_client_ca;
	struct verify_conf	 cf_verify;		/* --crl, --verify-depth, EKU */
	struct allow_list	 cf_allow;		/* the listener's --allow list
						 * (one listener for now) */
	struct ocsp_conf	 cf_ocsp;		/* --ocsp* */
	const char		*cf_delegation_ca;
	const char		*cf_delegation_key;	/* read by the signer process only */
	const char		*cf_delegation_chain;	/* NULL: send no intermediates */
	const char		*cf_signer_user;	/* the signer runs as this user */
	const char		*cf_user;		/* --user: the daemon's, after
						 * start-up; NULL: stay as started */
	const char		*cf_upstream_ca;
	struct hdr_conf		 cf_hdr;		/* identity headers; By= filled by
						 * main() from --server-cert */
	const char		*cf_stats_path;
	const char		*cf_log_path;		/* "-" is stderr */
	bool			 cf_log_json;		/* --log-format json */
	struct sockaddr_storage	 cf_metrics;		/* --metrics (loopback) */
	socklen_t		 cf_metrics_len;
	const char		*cf_metrics_str;	/* NULL: no endpoint */
	unsigned		 cf_workers;
	unsigned		 cf_handshake_timeout;	/* seconds, both handshakes */
	unsigned		 cf_idle_timeout;	/* seconds without a byte either way */
	unsigned		 cf_drain_timeout;	/* seconds connections get to finish
						 * after SIGTERM; 0: none */
	unsigned		 cf_forge_cache;	/* identities cached per worker */
	struct forge_policy	 cf_forge;		/* what forged certificates look like */
	unsigned		 cf_up_keepalive;	/* idle upstream connections kept per worker */
	unsigned		 cf_up_keepalive_timeout;	/* seconds one is kept */
	struct intercept_conf	 cf_intercept;		/* --intercept* */
	bool			 cf_spoof_source;	/* upstream legs leave from the
						 * client's address */
	bool			 cf_ktls;		/* --ktls auto (true) or off */
	bool			 cf_check;		/* validate, print "configuration OK", exit */
	const char		*cf_file;		/* the config file read; NULL: none */
	char			*cf_text;		/* its bytes: the values from it
						 * point in here (config_free) */
	size_t			 cf_text_len;
	struct config		*cf_lis[CONFIG_LISTENERS_MAX];	/* the file's listener
						 * blocks: each a copy of these settings
						 * with the block's own keys applied */
	unsigned		 cf_nlis;		/* 0: no blocks, these are the one
						 * listener's ("default") */
	const char		*cf_lis_name;		/* a block's copy: its NAME (it owns
						 * nothing; NULL: not a copy) */
	unsigned		 cf_lis_line;		/* ... and the line it starts on */
	unsigned		 cf_key_line[CONFIG_KEYS_MAX];	/* by option: the line of
						 * cf_file that set it; 0: not the
						 * file (a flag, or the default) */
};

#define CONFIG_DEFAULT_PATH	"/etc/ktproxy/ktproxy.conf"

/*
 * Build cf from the config file, then argv: the file of -c FILE, else
 * default_path if it exists (NULL: none).  Every value in cf lives as long
 * as cf (in argv, or in cf_text) and everything cf owns is released by
 * config_free(), whatever config_load returned; so a reload can build a
 * fresh struct config beside the running one by calling it again with the
 * same argv.  Exits 0 for --help and --version.  0, or -1 after reporting
 * every mistake (FILE:LINE for the file's).
 */
int	 config_load(struct config *cf, const char *default_path, int argc, char **argv);
void	 config_free(struct config *cf);
/* The name of option i, as a file key (NULL past the last). */
const char	*config_key(unsigned i);
/* The defaults, before anything is read. */
void	 config_init(struct config *cf);
/* Apply config file text (len bytes, copied into cf) named name to cf, as
 * config_load does with a file but nothing required checked: for tests and
 * fuzzing.  0, or -1 after reporting every mistake. */
int	 config_load_text(struct config *cf, const char *name, const char *text, size_t len);
/* From now until the next config_msg_at(), config_error() names key as
 * the operator wrote it: "FILE:LINE: key" when the config file set it,
 * "--key" when a flag did (the message written as for the flag). */
void	 config_msg_key(const struct config *cf, const char *key);
int	 config_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);

#endif
