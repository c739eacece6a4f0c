#!/usr/bin/env bash
# 27-client-policy: what a client certificate must be besides chaining to
# --client-ca, each refusal with its alert, counter and log line (naming
# who was refused), and nothing sent upstream:
#
#   several --crl files   each client checked against its issuer's CRL
#                         (deep-revoked: int2-crl.pem; revoked: crl.pem);
#                         a client whose CA has no CRL loaded: crl_error
#   --verify-depth N      deep (two intermediates) refused with 1:
#                         unknown_ca (48), chain_too_long
#   clientAuth EKU        eku-server, eku-any: unsupported_certificate (43),
#                         purpose; eku-none (no EKU) let in; all let in with
#                         --require-client-eku no
#   --allow KIND:GLOB     uri, dns, email, subject; others: handshake_failure
#                         (40), not_allowed
# One worker: each worker remembers verdicts for itself.
KTPROXY_WORKERS=1
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up

REQ=$'GET /whoami HTTP/1.1\r\nHost: server.test\r\nConnection: close\r\n\r\n'
cat "$PKI/int2-ca.crt" "$PKI/int1-ca.crt" > "$RUN_DIR/intermediates.pem"

subject_rfc() { openssl x509 -in "$PKI/$1.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'; }
# chain_args NAME: the s_client arguments that send NAME's intermediates too
chain_args() { case "$1" in deep*) echo "-cert_chain $RUN_DIR/intermediates.pem" ;; esac; }

# served NAME: a request as NAME (its chain file if it has one) reaches the
# upstream as NAME
served() {
	local c=$1 out cert=$PKI/$1.crt
	[ -f "$PKI/$c-chain.pem" ] && cert=$PKI/$c-chain.pem
	out=$(in_cli curl -sS --max-time "$CURL_MAX_TIME" --resolve "server.test:443:$SRV_IP" \
		--cacert "$PKI/proxy-ca.crt" --cert "$cert" --key "$PKI/$c.key" "$URL/whoami" 2>&1)
	assert_eq "$c is served as itself" "$(field "$out" subject)" "$(subject_rfc "$c")"
}

# refused NAME ALERTNUM ALERTTEXT REASON TOKEN: refused in the handshake,
# counted under REASON, logged with TOKEN and NAME's subject
refused() {
	local c=$1 num=$2 text=$3 reason=$4 token=$5 out before fails0 line
	before=$(upstream_requests)
	fails0=$(stat_get ".client_handshake_failures.$reason")
	# shellcheck disable=SC2046
	out=$(printf '%s' "$REQ" | cli_sclient "$c" -ign_eof $(chain_args "$c"))
	assert_match "$c: TLS alert $num ($text)" "$out" "alert $text|alert number $num"
	assert_no_match "$c: no HTTP answer" "$out" '^HTTP/1\.[01] '
	assert_stat_delta "$c: counted as $reason" ".client_handshake_failures.$reason" "$fails0" 1
	assert_eq "$c: nothing reached the upstream" "$(upstream_requests)" "$before"
	line=$(connlog | tail -n 1)
	assert_contains "$c: logged as $token" "$line" "result=error reason=$token"
	assert_contains "$c: the log names who was refused" "$line" "subject=\"$(subject_rfc "$c")\""
}

section "Several CRL files"
ktproxy_start --crl "$PKI/int2-crl.pem" || exit 1
served deep
served alice
refused deep-revoked 44 "certificate revoked" revoked client_cert_revoked
refused revoked 44 "certificate revoked" revoked client_cert_revoked
ktproxy_restart || exit 1
# only crl.pem: int2 has no CRL, so its clients cannot be checked
refused deep 48 "unknown ca" crl_error client_crl_unusable
served alice

section "--verify-depth"
ktproxy_restart --crl "$PKI/int2-crl.pem" --verify-depth 1 || exit 1
refused deep 48 "unknown ca" chain_too_long client_cert_chain_too_long
served alice
ktproxy_restart --crl "$PKI/int2-crl.pem" --verify-depth 2 || exit 1
served deep

section "clientAuth extended key usage (default: required)"
ktproxy_restart || exit 1
refused eku-server 43 "unsupported certificate" purpose client_cert_wrong_purpose
refused eku-any 43 "unsupported certificate" purpose client_cert_wrong_purpose
served eku-none
served alice
ktproxy_restart --require-client-eku no || exit 1
served eku-server
served eku-any
served eku-none

section "--allow"
ktproxy_restart --allow uri:spiffe://example.test/alice || exit 1
served alice
refused bob 40 "handshake failure" not_allowed client_not_allowed
refused bob 40 "handshake failure" not_allowed client_not_allowed
assert_eq "a refused client is never remembered" "$(stat_get .client_chains_remembered)" 0
ktproxy_restart --allow 'dns:*.EXAMPLE.test' || exit 1
served alice
served bob
refused client-001 40 "handshake failure" not_allowed client_not_allowed
ktproxy_restart --allow 'email:*@example.test' || exit 1
served alice
refused bob 40 "handshake failure" not_allowed client_not_allowed
ktproxy_restart --allow 'subject:CN=bob,*' || exit 1
served bob
refused alice 40 "handshake failure" not_allowed client_not_allowed
ktproxy_restart --allow 'uri:spiffe://example.test/client-00?' --allow 'subject:CN=alice,*' || exit 1
served client-001
served alice
served alice
assert_eq "a returning allowed client's verdict is remembered" "$(stat_get .client_chains_remembered)" 1
refused bob 40 "handshake failure" not_allowed client_not_allowed
refused client-010 40 "handshake failure" not_allowed client_not_allowed
wait_idle 5
assert_eq "connections_active back to 0" "$(stat_get .connections_active)" 0
ktproxy_stop
