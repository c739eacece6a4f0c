#!/usr/bin/env bash
# 25-verdicts: a client chain's verification verdict is remembered only for
# the very certificates that earned it.
#
# A returning client presenting the same certificate and chain skips the
# chain verification (counted as client_chains_remembered) and is served as
# itself; another chain for the same certificate is verified again; a
# refused certificate is refused every time, never remembered; and the
# client still proves its key on every handshake (a certificate sent with
# the wrong key is refused even after it was remembered).
# One worker: each worker remembers for itself.
KTPROXY_WORKERS=1
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up
ktproxy_start || exit 1

remembered() { stat_get .client_chains_remembered; }
served_as() { assert_eq "$1" "$(field "$2" subject)" "$(subject_of "$3")"; }

section "A returning client"
m0=$(remembered)
served_as "alice, first time" "$(cli_curl alice "$URL/whoami")" alice
assert_eq "first handshake: chain verified, not remembered" "$(remembered)" "$m0"
served_as "alice again" "$(cli_curl alice "$URL/whoami")" alice
assert_eq "second handshake: the verdict remembered" "$(remembered)" "$((m0 + 1))"
served_as "bob, first time" "$(cli_curl bob "$URL/whoami")" bob
assert_eq "bob's chain is not alice's" "$(remembered)" "$((m0 + 1))"

section "Another chain for the same certificate"
cat "$PKI/alice.crt" "$PKI/client-ca.crt" > "$RUN_DIR/alice-chain.crt"
m1=$(remembered)
out=$(in_cli curl -sS --max-time "$CURL_MAX_TIME" --resolve "server.test:443:$SRV_IP" \
	--cacert "$PKI/proxy-ca.crt" --cert "$RUN_DIR/alice-chain.crt" --key "$PKI/alice.key" "$URL/whoami")
served_as "alice with her CA appended" "$out" alice
assert_eq "verified again: a different chain" "$(remembered)" "$m1"

section "Refused certificates are refused every time"
r0=$(stat_get .client_handshake_failures.revoked)
for i in 1 2 3; do
	cli_curl revoked -o /dev/null "$URL/whoami" 2>/dev/null && fail "revoked client served (try $i)"
done
assert_stat_delta "revoked: refused three times" .client_handshake_failures.revoked "$r0" 3
assert_eq "nothing remembered for it" "$(remembered)" "$m1"

section "The key is proved on every handshake"
# alice's (remembered) certificate with bob's key: the CertificateVerify
# signature cannot match, whatever is remembered about the chain.
out=$(in_cli curl -sS --max-time "$CURL_MAX_TIME" --resolve "server.test:443:$SRV_IP" \
	--cacert "$PKI/proxy-ca.crt" --cert "$PKI/alice.crt" --key "$PKI/bob.key" "$URL/whoami" 2>&1)
assert_no_match "alice's certificate with bob's key is not served" "$out" "subject="
served_as "alice, with her own key, still served" "$(cli_curl alice "$URL/whoami")" alice

ktproxy_stop
