#!/usr/bin/env bash
# 20-refused: clients that fail verification are refused with the TLS alert
# OpenSSL (and RFC 8446 section 6.2) gives that failure, never reach the
# upstream, and are counted under their reason.
#
#   expired  certificate_expired (45)   client_handshake_failures.expired
#   notyet   bad_certificate (42)       client_handshake_failures.not_yet_valid
#   revoked  certificate_revoked (44)   client_handshake_failures.revoked  (--crl)
#   wrongca  unknown_ca (48)            client_handshake_failures.unknown_ca
#   no cert  certificate_required (116) in TLS 1.3, handshake_failure (40)
#            in TLS 1.2                 client_handshake_failures.no_cert
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up
ktproxy_start || exit 1

REQ=$'GET /whoami HTTP/1.1\r\nHost: server.test\r\nConnection: close\r\n\r\n'

# refused NAME ALERTNUM ALERTTEXT REASON [s_client args]
refused() {
	local c=$1 num=$2 text=$3 reason=$4 out before fails0 errors0
	shift 4
	before=$(upstream_requests)
	fails0=$(stat_get ".client_handshake_failures.$reason")
	errors0=$(connlog_count 'result=error')
	out=$(printf '%s' "$REQ" | cli_sclient "$c" -ign_eof "$@")
	assert_match "$c${*:+ ($*)}: TLS alert $num ($text)" "$out" "alert $text|alert number $num"
	assert_no_match "$c${*:+ ($*)}: no HTTP answer" "$out" '^HTTP/1\.[01] '
	assert_stat_delta "$c${*:+ ($*)}: counted" ".client_handshake_failures.$reason" "$fails0" 1
	assert_eq "$c${*:+ ($*)}: nothing reached the upstream" "$(upstream_requests)" "$before"
	assert_eq "$c${*:+ ($*)}: one result=error log line" "$(connlog_count 'result=error')" $((errors0 + 1))
}

section "Refused clients"
up0=$(stat_get .upstream_handshakes)
refused expired 45 "certificate expired" expired
refused notyet  42 "bad certificate" not_yet_valid
refused revoked 44 "certificate revoked" revoked
refused wrongca 48 "unknown ca" unknown_ca
refused none   116 "certificate required" no_cert
refused none    40 "handshake failure" no_cert -tls1_2
refused expired 45 "certificate expired" expired -tls1_2
assert_eq "no upstream connection was made for them" "$(stat_get .upstream_handshakes)" "$up0"

section "curl's view"
# The alert text is what curl usually prints, but with TLS 1.3 the refusal
# comes after curl's handshake finished, and a close racing curl's own
# bookkeeping can surface as another error: only the failure is asserted.
for c in expired wrongca none; do
	code=$(cli_curl "$c" -o /dev/null -w '%{http_code}' "$URL/whoami" 2>"$RUN_DIR/curl.err")
	rc=$?
	if [ "$rc" != 0 ] && [ "$code" = 000 ]; then
		pass "curl as $c fails: $(head -c 120 "$RUN_DIR/curl.err")"
	else
		fail "curl as $c fails" "curl exit $rc, http_code $code"
	fi
done

section "A good client still gets through"
out=$(cli_curl alice "$URL/whoami")
assert_eq "alice after the refusals" "$(field "$out" subject)" "$(subject_of alice)"
log=$(connlog)
# the reason token names the failure (e.g. client_cert_expired)
for r in expired not_yet_valid revoked unknown_ca 'no_cert|missing'; do
	assert_match "log line: result=error, reason names ${r%%|*}" "$log" \
		"result=error reason=[a-z_]*($r)[a-z_]*( |$)"
done
wait_idle 5
assert_eq "connections_active back to 0" "$(stat_get .connections_active)" 0

ktproxy_stop
