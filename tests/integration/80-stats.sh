#!/usr/bin/env bash
# 80-stats: ktproxy-stat --json has every counter of src/counters.h (group,
# nested by reason), and a known sequence of connections moves exactly the
# counters it should.
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up
ktproxy_start || exit 1

section "Shape of ktproxy-stat --json"
json=$(stat_json 2>"$RUN_DIR/stat.err")
if printf '%s' "$json" | jq -e 'type == "object"' >/dev/null 2>&1; then
	pass "one JSON object"
else
	fail "one JSON object" "$(printf '%s\n' "$json" | head -n 5; cat "$RUN_DIR/stat.err")"
fi
assert_eq "workers is --workers" "$(stat_get .workers "$json")" "$KTPROXY_WORKERS"
# X(id, "group", "reason", KIND, "help") -> jq path .group or .group.reason
paths=$(sed -n 's/^[[:space:]]*X([a-z0-9_]*,[[:space:]]*"\([a-z0-9_]*\)",[[:space:]]*"\([a-z0-9_]*\)".*/\1 \2/p' \
	"$REPO/src/counters.h" | awk '{ print ($2 == "" ? "." $1 : "." $1 "." $2) }')
n=0 missing=()
for p in $paths; do
	n=$((n + 1))
	printf '%s' "$json" | jq -e "$p | type == \"number\"" >/dev/null 2>&1 || missing+=("$p")
done
if [ "$n" -lt 20 ]; then
	fail "read the counter list from src/counters.h" "only $n counters found"
elif [ ${#missing[@]} = 0 ]; then
	pass "all $n counters of src/counters.h are numbers in the JSON"
else
	fail "all $n counters of src/counters.h are numbers in the JSON" "missing: ${missing[*]}"
fi
out=$(in_gw "$KTPROXY_BUILD/ktproxy-stat" --stats "$KTP_STATS" 2>&1)
assert_contains "plain ktproxy-stat output names the counters" "$out" "client_handshake"

section "A known sequence moves the counters"
wait_idle 5
s0=$(stat_json)
g() { stat_get "$1" "$s0"; }
# one good connection with two requests, one expired client, one wrongca
cli_curl alice -o /dev/null -o /dev/null "$URL/whoami" "$URL/whoami?again"
printf 'GET / HTTP/1.1\r\nHost: server.test\r\n\r\n' | cli_sclient expired -ign_eof >/dev/null
printf 'GET / HTTP/1.1\r\nHost: server.test\r\n\r\n' | cli_sclient wrongca -ign_eof >/dev/null
wait_idle 5
assert_stat_delta "three accepted" .connections_accepted "$(g .connections_accepted)" 3
assert_stat_delta "one handshake verified" .client_handshakes "$(g .client_handshakes)" 1
assert_stat_delta "one expired" .client_handshake_failures.expired "$(g .client_handshake_failures.expired)" 1
assert_stat_delta "one unknown CA" .client_handshake_failures.unknown_ca "$(g .client_handshake_failures.unknown_ca)" 1
assert_stat_delta "one upstream handshake" .upstream_handshakes "$(g .upstream_handshakes)" 1
assert_stat_delta "two request heads rewritten" .requests_rewritten "$(g .requests_rewritten)" 2
assert_stat_delta "nothing rejected" .requests_rejected "$(g .requests_rejected)" 0
assert_stat_delta "one clean close" .connections_closed.ok "$(g .connections_closed.ok)" 1
assert_stat_delta "two closes on error" .connections_closed.error "$(g .connections_closed.error)" 2
assert_stat_delta "bytes both ways" .bytes.upstream_to_client "$(g .bytes.upstream_to_client)" +200
assert_stat_delta "bytes both ways" .bytes.client_to_upstream "$(g .bytes.client_to_upstream)" +100
paths0=$(( $(g .relay_path.userspace) + $(g .relay_path.ktls) ))
paths1=$(( $(stat_get .relay_path.userspace) + $(stat_get .relay_path.ktls) ))
assert_eq "the good connection took one relay path" $((paths1 - paths0)) 1
assert_eq "connections_active is 0" "$(stat_get .connections_active)" 0
assert_eq "three connection log lines" "$(connlog_count .)" \
	$(( $(g .connections_closed.ok) + $(g .connections_closed.error) + 3 ))

ktproxy_stop
