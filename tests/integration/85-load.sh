#!/usr/bin/env bash
# 85-load: bounded load through ktproxy with the project's own load generator
# (tools/bench/ktp-load): keep-alive requests from several connections at
# once and a run of fresh mTLS handshakes across 50 identities.  Every
# request must succeed, carry its identity through, and be counted.
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
LOAD=$KTPROXY_BUILD/ktp-load
[ -x "$LOAD" ] || skip_all "no $LOAD (make all builds it)"
env_up
ktproxy_start || exit 1

REQS=${KTP_LOAD_REQUESTS:-2000}
HANDSHAKES=${KTP_LOAD_HANDSHAKES:-200}
load() {
	in_cli "$LOAD" --connect "$SRV_IP:443" --sni server.test --ca "$PKI/proxy-ca.crt" \
		--cert "$PKI/alice.crt" --key "$PKI/alice.key" --path /whoami --json "$@"
}
jget() { printf '%s' "$1" | jq -r ".$2"; }

section "Keep-alive requests, 8 connections"
rw0=$(stat_get .requests_rewritten)
out=$(load --mode rps --concurrency 8 --requests "$REQS" --duration 120)
assert_eq "all $REQS requests answered 2xx" "$(jget "$out" requests)" "$REQS"
assert_eq "no errors" "$(jget "$out" errors)" 0
assert_stat_delta "every request head rewritten" .requests_rewritten "$rw0" "$REQS"
echo "      $(jget "$out" requests_per_s) req/s, p50 $(jget "$out" p50_ms) ms, p99 $(jget "$out" p99_ms) ms"

section "Fresh mTLS handshakes across 50 identities"
hs0=$(stat_get .client_handshakes)
out=$(load --mode handshake --concurrency 4 --requests "$HANDSHAKES" --duration 120 \
	--certs-glob "$PKI/client-[0-9]*.crt")
assert_eq "all $HANDSHAKES handshakes and requests succeeded" "$(jget "$out" requests)" "$HANDSHAKES"
assert_eq "no errors" "$(jget "$out" errors)" 0
assert_stat_delta "each a verified client handshake" .client_handshakes "$hs0" "$HANDSHAKES"
wait_idle 10
assert_eq "connections_active back to 0" "$(stat_get .connections_active)" 0
# 50 identities on $KTPROXY_WORKERS workers: at most one signature each per worker.
assert_ge "forging is cached: at most 50 per worker minted" \
	"$((50 * KTPROXY_WORKERS + 20))" "$(stat_get .forged_minted)"
echo "      $(jget "$out" handshakes_per_s) handshakes/s, p99 $(jget "$out" p99_ms) ms"
ktproxy_stop
