/*
 * counters.h - the one list of ktproxy's counters.
 *
 * Every counter is a 64-bit value in the shared-memory stats segment, one
 * slab per worker, written only by that worker, plus one slab the main
 * thread writes (signer_restarts), see stats.c.  The list is
 * an X-macro so the daemon, ktproxy-stat and the tests agree on names and
 * order without a second table to keep in step.
 *
 *   X(id, group, reason, kind, help)
 *
 * id      C identifier, used as STAT_<id>
 * group   exported name; counters sharing a group are one family split by
 *         reason (ktproxy-stat --json nests them, Prometheus labels them)
 * reason  the label value inside the group, "" for a plain counter
 * kind    COUNTER (only goes up) or GAUGE (goes up and down)
 *
 * Counters of one group must stand next to each other (test_stats checks).
 */
#ifndef KTPROXY_COUNTERS_H
#define KTPROXY_COUNTERS_H

#define KTP_COUNTERS(X) \
	X(conn_accepted,	"connections_accepted", "", COUNTER, "client connections accepted") \
	X(conn_active,		"connections_active", "", GAUGE, "connections open now") \
	X(conn_closed_ok,	"connections_closed", "ok", COUNTER, "connections that ended cleanly") \
	X(conn_closed_error,	"connections_closed", "error", COUNTER, "connections that ended on an error") \
	X(close_shutdown,	"connections_closed", "shutdown", COUNTER, "connections closed because ktproxy stopped at once (--drain-timeout 0, or a second SIGTERM)") \
	X(close_drain_timeout,	"connections_closed", "drain_timeout", COUNTER, "connections still open when --drain-timeout ran out after SIGTERM, closed") \
	X(hs_ok,		"client_handshakes", "", COUNTER, "client mTLS handshakes completed and verified") \
	X(hs_chain_remembered,	"client_chains_remembered", "", COUNTER, "client chains not verified again: same certificate and chain verified before, verdict still valid") \
	X(hs_fail_no_cert,	"client_handshake_failures", "no_cert", COUNTER, "client sent no certificate") \
	X(hs_fail_expired,	"client_handshake_failures", "expired", COUNTER, "client certificate expired") \
	X(hs_fail_not_yet_valid, "client_handshake_failures", "not_yet_valid", COUNTER, "client certificate not yet valid") \
	X(hs_fail_revoked,	"client_handshake_failures", "revoked", COUNTER, "client certificate revoked (CRL, or OCSP)") \
	X(hs_fail_unknown_ca,	"client_handshake_failures", "unknown_ca", COUNTER, "client certificate does not chain to --client-ca") \
	X(hs_fail_bad_cert,	"client_handshake_failures", "bad_cert", COUNTER, "client certificate failed verification otherwise") \
	X(hs_fail_crl,		"client_handshake_failures", "crl_error", COUNTER, "CRL missing, expired or unusable") \
	X(hs_fail_protocol,	"client_handshake_failures", "protocol", COUNTER, "TLS protocol error (not TLS, no shared cipher, bad version)") \
	X(hs_fail_timeout,	"client_handshake_failures", "timeout", COUNTER, "client did not finish the handshake in time") \
	X(hs_fail_eof,		"client_handshake_failures", "eof", COUNTER, "client closed during the handshake") \
	X(hs_fail_chain_too_long, "client_handshake_failures", "chain_too_long", COUNTER, "client chain has more intermediate CAs than --verify-depth") \
	X(hs_fail_purpose,	"client_handshake_failures", "purpose", COUNTER, "client certificate not for TLS client authentication: extendedKeyUsage without clientAuth, keyUsage without digitalSignature (--require-client-eku)") \
	X(hs_fail_not_allowed,	"client_handshake_failures", "not_allowed", COUNTER, "client certificate verified, but its identity matches no --allow pattern") \
	X(hs_fail_ocsp_unknown,	"client_handshake_failures", "ocsp_unknown", COUNTER, "the OCSP responder does not know the client certificate (--ocsp hard)") \
	X(hs_fail_ocsp_unavailable, "client_handshake_failures", "ocsp_unavailable", COUNTER, "no usable OCSP answer: no responder, unreachable, timed out, badly signed or stale (--ocsp hard)") \
	X(ocsp_good,		"client_ocsp", "good", COUNTER, "OCSP responder answers: good") \
	X(ocsp_revoked,		"client_ocsp", "revoked", COUNTER, "OCSP responder answers: revoked") \
	X(ocsp_unknown,		"client_ocsp", "unknown", COUNTER, "OCSP responder answers: unknown certificate") \
	X(ocsp_error,		"client_ocsp", "error", COUNTER, "OCSP queries without a usable answer (no responder, unreachable, timeout, HTTP error, bad signature, stale)") \
	X(ocsp_cache_hit,	"client_ocsp", "cache_hit", COUNTER, "client certificate statuses taken from the worker's OCSP cache") \
	X(ocsp_soft_allowed,	"client_ocsp", "soft_allowed", COUNTER, "clients let in by --ocsp soft without a good answer (unknown or error)") \
	X(up_ok,		"upstream_handshakes", "", COUNTER, "upstream TLS handshakes completed and verified") \
	X(up_resumed,		"upstream_resumed", "", COUNTER, "upstream handshakes that resumed a session of the same identity and destination") \
	X(up_ka_kept,		"upstream_keepalive", "kept", COUNTER, "upstream connections kept idle when their client closed between requests") \
	X(up_ka_reused,		"upstream_keepalive", "reused", COUNTER, "client connections served by a kept upstream connection of the same client certificate and destination: no upstream connect or handshake") \
	X(up_ka_expired,	"upstream_keepalive", "expired", COUNTER, "kept upstream connections closed after --upstream-keepalive-timeout") \
	X(up_ka_dead,		"upstream_keepalive", "dead", COUNTER, "kept upstream connections found closed (or with bytes to read) when taken, and dropped") \
	X(up_ka_evicted,	"upstream_keepalive", "evicted", COUNTER, "kept upstream connections closed to make room (--upstream-keepalive)") \
	X(up_ka_revoked,	"upstream_keepalive", "revoked", COUNTER, "kept upstream connections closed because their client certificate was found revoked") \
	X(up_ka_idle,		"upstream_keepalive_idle", "", GAUGE, "upstream connections kept idle now") \
	X(up_fail_connect,	"upstream_failures", "connect", COUNTER, "TCP connect to the original destination failed") \
	X(up_fail_tls,		"upstream_failures", "tls", COUNTER, "upstream TLS handshake failed") \
	X(up_fail_verify,	"upstream_failures", "verify", COUNTER, "upstream certificate failed --upstream-ca or name check") \
	X(up_fail_timeout,	"upstream_failures", "timeout", COUNTER, "upstream did not connect or finish the handshake in time") \
	X(up_fail_forge,	"upstream_failures", "forge", COUNTER, "forged client certificate could not be minted") \
	X(up_fail_signer,	"upstream_failures", "signer", COUNTER, "the signer process was down or did not answer in time: nothing minted, connection failed closed") \
	X(up_fail_signer_refused, "upstream_failures", "signer_refused", COUNTER, "the signer refused the certificate (not a forged client certificate of its CA)") \
	X(up_fail_reset,	"upstream_failures", "reset", COUNTER, "upstream reset or broke the stream after the handshake") \
	X(up_502,		"upstream_502_sent", "", COUNTER, "HTTP 502 answers sent to clients on upstream failure") \
	X(forge_minted,		"forged_minted", "", COUNTER, "forged client certificates signed (an upstream asked for one, none cached)") \
	X(forge_cache_hit,	"forged_cache_hits", "", COUNTER, "forged certificates an upstream asked for, served from the cache") \
	X(forge_not_requested,	"forged_not_requested", "", COUNTER, "full upstream handshakes without a CertificateRequest: nothing minted (lazy minting)") \
	X(signer_restarts,	"signer_restarts", "", COUNTER, "signer processes started again after one died (written by the main process)") \
	X(sk_lookup_lookups,	"sk_lookup", "lookups", COUNTER, "TCP connection lookups the sk_lookup program saw (--steer sk_lookup; per-CPU in the program, summed by the main process every second)") \
	X(sk_lookup_steered,	"sk_lookup", "steered", COUNTER, "connections the sk_lookup program handed to a ktproxy listener") \
	X(sk_lookup_misses,	"sk_lookup", "misses", COUNTER, "lookups whose destination or port is not steered: left to the kernel, untouched") \
	X(sk_lookup_errors,	"sk_lookup", "errors", COUNTER, "steered destinations no listener could take (ktproxy draining): refused with a reset, never passed on (fail closed)") \
	X(accept_cpu_same,	"accepted_cpu", "same", COUNTER, "connections accepted by the worker pinned to the CPU their packets arrive on (--steer sk_lookup pins workers)") \
	X(accept_cpu_other,	"accepted_cpu", "other", COUNTER, "connections accepted by a pinned worker whose packets arrive on another CPU") \
	X(reload_ok,		"reloads", "ok", COUNTER, "SIGHUP reloads that took effect (written by the main process)") \
	X(reload_failed,	"reloads", "failed", COUNTER, "SIGHUP reloads refused: a file was bad; the old configuration runs on (written by the main process)") \
	X(req_rewritten,	"requests_rewritten", "", COUNTER, "request heads that passed the identity rewrite") \
	X(req_rejected,		"requests_rejected", "", COUNTER, "malformed or ambiguous requests answered 400") \
	X(resp_bad,		"responses_rejected", "", COUNTER, "upstream responses whose framing could not be followed") \
	X(close_idle,		"connections_timed_out", "idle", COUNTER, "connections closed after the idle timeout") \
	X(close_client_reset,	"client_failures", "reset", COUNTER, "client reset or broke the TLS stream after the handshake") \
	X(close_client_partial,	"client_failures", "partial_request", COUNTER, "client closed in the middle of a request head") \
	X(close_truncated,	"truncated_closes", "", COUNTER, "a leg ended without close_notify (TCP FIN only)") \
	X(bytes_c2u,		"bytes", "client_to_upstream", COUNTER, "plaintext bytes relayed client to upstream") \
	X(bytes_u2c,		"bytes", "upstream_to_client", COUNTER, "plaintext bytes relayed upstream to client") \
	X(bytes_copied_c2u,	"bytes_copied", "client_to_upstream", COUNTER, "bytes written from userspace buffers, client to upstream") \
	X(bytes_copied_u2c,	"bytes_copied", "upstream_to_client", COUNTER, "bytes written from userspace buffers, upstream to client") \
	X(bytes_spliced_c2u,	"bytes_spliced", "client_to_upstream", COUNTER, "bytes spliced kTLS to kTLS, client to upstream") \
	X(bytes_spliced_u2c,	"bytes_spliced", "upstream_to_client", COUNTER, "bytes spliced kTLS to kTLS, upstream to client") \
	X(path_userspace,	"relay_path", "userspace", COUNTER, "connections relayed through userspace OpenSSL") \
	X(path_ktls,		"relay_path", "ktls", COUNTER, "connections relayed by kernel TLS (keys in the kernel, splice)") \
	X(ktls_fb_kernel,	"ktls_fallbacks", "kernel", COUNTER, "userspace because the kernel has no kTLS (or --ktls off)") \
	X(ktls_fb_cipher,	"ktls_fallbacks", "cipher", COUNTER, "userspace because a leg's cipher or version is not offloaded") \
	X(ktls_fb_pending,	"ktls_fallbacks", "pending", COUNTER, "userspace because OpenSSL held bytes past the handshake") \
	X(ktls_fb_reused,	"ktls_fallbacks", "reused", COUNTER, "userspace because the kept upstream connection taken is relayed in userspace") \
	X(ktls_fb_install,	"ktls_fallbacks", "install", COUNTER, "userspace because a key could not be installed") \
	X(ktls_rx_late,		"ktls_upstream_rx", "after_tickets", COUNTER, "TLS 1.3 upstream RX keys put in the kernel after OpenSSL read the tickets") \
	X(ktls_rx_openssl,	"ktls_upstream_rx", "openssl", COUNTER, "TLS 1.3 upstream RX left with OpenSSL (KeyUpdate first, or the key refused)") \
	X(ktls_rec_nst,		"ktls_control_records", "new_session_ticket", COUNTER, "TLS 1.3 NewSessionTicket records consumed on kTLS sockets") \
	X(ktls_rec_close_notify, "ktls_control_records", "close_notify", COUNTER, "close_notify alerts received on kTLS sockets") \
	X(ktls_rec_alert,	"ktls_control_records", "alert", COUNTER, "other alerts received on kTLS sockets (connection closed)") \
	X(ktls_rec_key_update,	"ktls_control_records", "key_update", COUNTER, "TLS 1.3 KeyUpdate received (kernel cannot rekey: closed)") \
	X(ktls_rec_other,	"ktls_control_records", "other", COUNTER, "unexpected handshake records on kTLS sockets (connection closed)")

enum stat_id {
#define KTP_COUNTER_ENUM(id, group, reason, kind, help) STAT_##id,
	KTP_COUNTERS(KTP_COUNTER_ENUM)
#undef KTP_COUNTER_ENUM
	STAT__COUNT
};

#endif
