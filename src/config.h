/*
 * config.h - ktproxy's settings, from the command line (a config file with
 * the same names comes later).
 */
#ifndef KTPROXY_CONFIG_H
#define KTPROXY_CONFIG_H

#include <stdbool.h>
#include <sys/socket.h>

#include "forge.h"
#include "headers.h"
#include "ocsp.h"
#include "verify.h"

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
	const char		*cf_upstream_ca;
	struct hdr_conf		 cf_hdr;		/* identity headers; By= filled by
						 * main() from --server-cert */
	const char		*cf_stats_path;
	const char		*cf_log_path;		/* "-" is stderr */
	unsigned		 cf_workers;
	unsigned		 cf_handshake_timeout;	/* seconds, both handshakes */
	unsigned		 cf_idle_timeout;	/* seconds without a byte either way */
	unsigned		 cf_forge_cache;	/* identities cached per worker */
	struct forge_policy	 cf_forge;		/* what forged certificates look like */
	unsigned		 cf_up_keepalive;	/* idle upstream connections kept per worker */
	unsigned		 cf_up_keepalive_timeout;	/* seconds one is kept */
	bool			 cf_ktls;		/* --ktls auto (true) or off */
	bool			 cf_check;		/* validate, print "configuration OK", exit */
};

/* Parse argv into cf.  Exits with usage on --help/--version; returns -1
 * after printing what is wrong. */
int	 config_parse(struct config *cf, int argc, char **argv);
int	 config_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);

#endif
