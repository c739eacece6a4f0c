#!/usr/bin/env bash
# 40-bulk: 32 MiB each way arrives byte-exact (sha256), with a
# Content-Length and a chunked upload, and the byte counters account for it.
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up
ktproxy_start || exit 1

size=$((UP_BIG_MIB * 1024 * 1024))
# Bounded, but generous enough for 32 MiB through an emulated CPU (tests/vm).
BULK_MAX_TIME=${BULK_MAX_TIME:-300}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }'; }

section "Download"
u2c0=$(stat_get .bytes.upstream_to_client)
t0=$(date +%s.%N)
got=$(cli_curl alice --max-time "$BULK_MAX_TIME" "$URL/big" | sha256sum | cut -d' ' -f1)
assert_eq "32 MiB download is byte-exact ($(elapsed "$t0"))" "$got" "$UP_BIG_SHA256"
assert_stat_delta "bytes upstream_to_client counted" .bytes.upstream_to_client "$u2c0" "+$size"

section "Upload"
c2u0=$(stat_get .bytes.client_to_upstream)
t0=$(date +%s.%N)
out=$(cli_curl alice --max-time "$BULK_MAX_TIME" --data-binary "@$UP_BIG" -H 'Content-Type: application/octet-stream' "$URL/upload")
assert_eq "32 MiB upload with Content-Length is byte-exact ($(elapsed "$t0"))" "$(field "$out" body_sha256)" "$UP_BIG_SHA256"
assert_eq "backend got every byte" "$(field "$out" body_length)" "$size"
assert_stat_delta "bytes client_to_upstream counted" .bytes.client_to_upstream "$c2u0" "+$size"

t0=$(date +%s.%N)
out=$(cli_curl alice --max-time "$BULK_MAX_TIME" --data-binary "@$UP_BIG" -H 'Transfer-Encoding: chunked' \
	-H 'Content-Type: application/octet-stream' "$URL/upload")
assert_eq "32 MiB chunked upload is byte-exact ($(elapsed "$t0"))" "$(field "$out" body_sha256)" "$UP_BIG_SHA256"
assert_contains "the upstream saw alice" "$out" "header: X-Ssl-Client-S-Dn: $(subject_of alice)"

section "Download and upload on one keep-alive connection"
t0=$(date +%s.%N)
cli_curl alice --max-time "$BULK_MAX_TIME" -o "$RUN_DIR/dl" "$URL/big" \
	--next --cert "$PKI/alice.crt" --key "$PKI/alice.key" --cacert "$PKI/proxy-ca.crt" \
	--resolve "server.test:443:$SRV_IP" --max-time "$BULK_MAX_TIME" -sS \
	--data-binary "@$UP_BIG" -o "$RUN_DIR/ul" -w '%{num_connects}' "$URL/upload" > "$RUN_DIR/nc"
assert_eq "download then upload on one connection: download exact ($(elapsed "$t0"))" \
	"$(sha256sum < "$RUN_DIR/dl" | cut -d' ' -f1)" "$UP_BIG_SHA256"
assert_eq "...upload exact" "$(field "$(cat "$RUN_DIR/ul")" body_sha256)" "$UP_BIG_SHA256"
assert_eq "...reused the connection" "$(cat "$RUN_DIR/nc")" 0

wait_idle 10
assert_eq "connections_active back to 0" "$(stat_get .connections_active)" 0
ktproxy_stop
