#!/usr/bin/env bash
# 80-stats: ktproxy-stat --json has every counter of src/counters.h (group,
# nested by reason), a known sequence of connections moves exactly the
# counters it should, and --per-worker shows how they spread over the two
# workers.
KTPROXY_WORKERS=2
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

section "ktproxy-stat --per-worker: how connections spread over the workers"
# Several connections, so that the kernel's reuseport hash has the chance to
# give some to each worker (which one gets which is not checked: a hash).
for i in 1 2 3 4 5 6; do cli_curl alice -o /dev/null "$URL/whoami?n=$i"; done
wait_idle 5
stat_pw() { in_gw "$KTPROXY_BUILD/ktproxy-stat" --stats "$KTP_STATS" --per-worker "$@"; }
total=$(stat_json)
pw=$(stat_pw --json 2>"$RUN_DIR/stat-pw.err")
if printf '%s' "$pw" | jq -e '(.workers | type) == "array" and (.main | type) == "object"' \
	>/dev/null 2>&1; then
	pass "--per-worker --json: one object with a workers array and main"
else
	fail "--per-worker --json: one object with a workers array and main" \
		"$(printf '%s\n' "$pw" | head -c 400; cat "$RUN_DIR/stat-pw.err")"
fi
assert_eq "one element per worker, numbered 0 and 1" \
	"$(printf '%s' "$pw" | jq -c '[.workers[].worker]' 2>&1)" "[0,1]"
assert_eq "the same pid as the totals" "$(stat_get .pid "$pw")" "$(stat_get .pid "$total")"
accepted=$(stat_get .connections_accepted "$total")
assert_ge "the totals count the nine connections" "$accepted" 9
assert_eq "per-worker connections_accepted sum to the total" \
	"$(printf '%s' "$pw" | jq '[.workers[].connections_accepted] | add' 2>&1)" "$accepted"
assert_eq "...and so do the bytes relayed" \
	"$(printf '%s' "$pw" | jq '[.workers[].bytes.upstream_to_client] | add' 2>&1)" \
	"$(stat_get .bytes.upstream_to_client "$total")"
assert_eq "the main thread accepts nothing" "$(stat_get .main.connections_accepted "$pw")" 0
# The counters' paths (.group, .group.reason) of the totals, less the header.
shape() { jq -c "$1 | [paths] | sort"; }
want=$(printf '%s' "$total" | shape 'del(.workers, .pid, .uptime_seconds)')
bad=
for w in 0 1; do
	got=$(printf '%s' "$pw" | shape ".workers[$w] | del(.worker)")
	[ -n "$got" ] && [ "$got" = "$want" ] || bad="$bad w$w"
done
[ "$(printf '%s' "$pw" | shape .main)" = "$want" ] || bad="$bad main"
if [ -z "$bad" ] && [ "$(printf '%s' "$want" | jq length)" -ge 20 ]; then
	pass "each worker's object (and main) has exactly the counters of the totals, same nesting"
else
	fail "each worker's object (and main) has exactly the counters of the totals, same nesting" \
		"differs:$bad"
fi

text=$(stat_pw 2>&1)
header=$(printf '%s\n' "$text" | sed -n 2p)
assert_match "text: a header line names the columns w0 and w1" "$header" '^counter +w0 +w1( +main)?$'
row=$(printf '%s\n' "$text" | awk '$1 == "connections_accepted" { print $2 + $3 }')
assert_eq "text: the connections_accepted row sums to the total" "$row" "$accepted"
assert_match "text: a family split by reason is named group{reason}" "$text" \
	'connections_closed\{ok\} +[0-9]+ +[0-9]+'
assert_no_match "text: counters 0 on every worker are left out" "$text" \
	'client_handshake_failures\{not_allowed\}'

out=$(stat_pw --prometheus 2>&1)
assert_eq "--per-worker --prometheus is refused (status 2)" "$?" 2
assert_contains "...saying why" "$out" "--per-worker goes with --json only"
out=$(stat_pw -w 1 -n 1 2>&1)
assert_eq "--per-worker -w is refused (status 2)" "$?" 2

ktproxy_stop
