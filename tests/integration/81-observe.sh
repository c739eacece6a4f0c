#!/usr/bin/env bash
# 81-observe: what an operator watches a running ktproxy with.
#
#   - ktproxy-stat -w SEC -n COUNT: COUNT frames, SEC apart, each counter's
#     total and its rate per second; no terminal control codes into a pipe
#   - ktproxy-stat --prometheus: valid exposition format (tests/lib/promcheck),
#     every counter of src/counters.h, the same numbers as --json
#   - ktproxy-stat --conns: a download and an idle connection are listed
#     with client, destination, identity, path, bytes, age and upstream
#     (connected, or kept idle in the pool), joined with the kernel's view of
#     their sockets (sock_diag: RTT, and the TLS ULP: "-" on this kernel,
#     version and cipher in tests/vm); gone once closed
#   - ktproxy --metrics 127.0.0.1:PORT: GET /metrics is the same exposition,
#     valid; other paths and methods are refused; a silent scraper holds
#     neither the proxy nor, past 2 s, the next scrape; non-loopback refused
#   - --log-format json: one valid JSON object a line, the text log's keys in
#     its order, counts as numbers; a subject with a quote and a backslash
#     comes back intact
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up

STAT=$KTPROXY_BUILD/ktproxy-stat
# Background processes of this script, killed at exit whatever happens.
OBS_PIDS=()
RELEASE=
obs_cleanup() {
	local p
	# let a held connection end by itself, then stop what is left
	[ -n "$RELEASE" ] && [ -d "$(dirname "$RELEASE")" ] && touch "$RELEASE"
	for p in "${OBS_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	OBS_PIDS=()
}
ktp_on_exit obs_cleanup

section "ktproxy-stat refuses bad -w and -n"
for bad in "-w 0" "-w abc" "-w 1x" "-w 100000" "-n 0" "-n -3" "-w 1 --json"; do
	# shellcheck disable=SC2086
	"$STAT" --stats /nonexistent $bad >/dev/null 2>&1
	assert_eq "ktproxy-stat $bad: usage error" "$?" 2
done
out=$("$STAT" --stats /nonexistent -w 1 -n 1 2>&1)
rc=$?
assert_eq "-w without a daemon: status 1" "$rc" 1
assert_contains "-w without a daemon says why" "$out" "is ktproxy running"

METRICS=127.0.0.1:19464
ktproxy_start --metrics "$METRICS" || exit 1

section "ktproxy-stat -w: a live view with rates"
# Three frames one second apart, timed, while a client makes requests in
# the background: the first frame comes after one interval, so three frames
# take about 3 s.
(for i in 1 2 3 4 5 6; do cli_curl alice -o /dev/null "$URL/whoami"; sleep 0.3; done) &
OBS_PIDS+=($!)
traffic=$!
t0=$(date +%s%N)
in_gw timeout 20 "$STAT" --stats "$KTP_STATS" -w 1 -n 3 >"$RUN_DIR/watch.out" 2>"$RUN_DIR/watch.err"
rc=$?
t1=$(date +%s%N)
wait "$traffic"
assert_eq "-w 1 -n 3 exits 0 by itself" "$rc" 0
watch=$(cat "$RUN_DIR/watch.out")
assert_eq "three frames" "$(grep -c '^ktproxy pid ' <<<"$watch")" 3
ms=$(( (t1 - t0) / 1000000 ))
if [ "$ms" -ge 2500 ] && [ "$ms" -le 8000 ]; then
	pass "three frames 1 s apart took ${ms} ms"
else
	fail "three frames 1 s apart took ${ms} ms (expected about 3000)"
fi
assert_no_match "no control codes into a pipe" "$watch" $'\e'
assert_contains "a header with the columns" "$watch" "per second"
# connections_accepted: the total and a rate; over three frames the totals
# count the connections made meanwhile, and some rate was positive.
acc=$(awk '$1 == "connections_accepted" { print $2, $3 }' <<<"$watch")
last_total=$(tail -n 1 <<<"$acc" | cut -d' ' -f1)
assert_ge "connections_accepted counted them by the last frame" "$last_total" 1
if awk '{ if ($2 + 0 > 0) found = 1 } END { exit !found }' <<<"$acc"; then
	pass "connections_accepted had a positive rate per second"
else
	fail "connections_accepted had a positive rate per second" "$acc"
fi
assert_match "a gauge has no rate" "$watch" '^connections_active +[0-9]+ +-$'
assert_match "bytes are split by direction, with a rate" "$watch" '^  upstream_to_client +[0-9]+ +[0-9]+\.[0-9]$'
assert_no_match "reasons that never happened are left out" "$watch" '^  chain_too_long '

if command -v script >/dev/null; then
	tty_out=$(in_gw timeout 10 script -qec "$STAT --stats $KTP_STATS -w 0.2 -n 1" /dev/null 2>&1)
	assert_contains "on a terminal the screen is redrawn" "$tty_out" $'\e[H\e[2J'
else
	skip "on a terminal the screen is redrawn: no script(1)"
fi

section "ktproxy-stat --prometheus"
wait_idle 5
prom=$(in_gw "$STAT" --stats "$KTP_STATS" --prometheus 2>&1)
assert_eq "--prometheus exits 0" "$?" 0
check "valid Prometheus text format" "$REPO/tests/lib/promcheck" <<<"$prom"
json=$(stat_json)
n=0 wrong=()
# X(id, "group", "reason", KIND, ...) -> the sample the exposition must have
while read -r group reason kind; do
	n=$((n + 1))
	name=ktproxy_$group
	[ "$kind" = GAUGE ] || name=${name}_total
	if [ -z "$reason" ] || [ "$reason" = - ]; then
		want="$name $(stat_get ".$group" "$json")"
	else
		label=reason
		case $group in bytes*) label=direction ;; relay_path) label=path ;; client_ocsp) label=result ;; esac
		want="$name{$label=\"$reason\"} $(stat_get ".$group.$reason" "$json")"
	fi
	grep -qxF -- "$want" <<<"$prom" || wrong+=("$want")
done < <(sed -n 's/^[[:space:]]*X([a-z0-9_]*,[[:space:]]*"\([a-z0-9_]*\)",[[:space:]]*"\([a-z0-9_]*\)",[[:space:]]*\([A-Z]*\).*/\1 \2 \3/p' \
	"$REPO/src/counters.h" | awk '{ print $1, ($3 == "" ? "-" : $2), ($3 == "" ? $2 : $3) }')
if [ "$n" -lt 20 ]; then
	fail "read the counter list from src/counters.h" "only $n counters found"
elif [ ${#wrong[@]} = 0 ]; then
	pass "all $n counters, with the values --json has"
else
	fail "all $n counters, with the values --json has" "missing or different: ${wrong[*]:0:5}"
fi
assert_match "the accepted connections are counted" "$prom" '^ktproxy_connections_accepted_total [1-9][0-9]*$'
assert_contains "a counter has its TYPE" "$prom" "# TYPE ktproxy_client_handshake_failures_total counter"
assert_contains "a gauge has its TYPE" "$prom" "# TYPE ktproxy_connections_active gauge"
assert_match "workers as a gauge" "$prom" "^ktproxy_workers $KTPROXY_WORKERS\$"
"$STAT" --stats "$KTP_STATS" --prometheus --json >/dev/null 2>&1
assert_eq "--prometheus with --json: usage error" "$?" 2

section "ktproxy-stat --conns"
# Two connections: bob downloads /big slowly (relaying, its upstream busy),
# alice made one request and keeps her connection open, idle, until the
# test has looked (RELEASE; 30 s at most; cli_sclient's timeout bounds it
# too).  An idle connection's upstream goes to the keepalive pool after 1 s.
RELEASE=$RUN_DIR/release-held
(printf 'GET /whoami HTTP/1.1\r\nHost: server.test\r\n\r\n'
 for i in $(seq 1 150); do [ -e "$RELEASE" ] && break; sleep 0.2; done) |
	SCLIENT_TIMEOUT=40 cli_sclient alice >"$RUN_DIR/held.out" 2>&1 &
OBS_PIDS+=($!)
held=$!
ip netns exec "$NS_CLI" curl -sS --max-time 60 --limit-rate 100k --resolve "server.test:443:$SRV_IP" \
	--cacert "$PKI/proxy-ca.crt" --cert "$PKI/bob.crt" --key "$PKI/bob.key" \
	-o /dev/null "$URL/big" 2>/dev/null &
OBS_PIDS+=($!)
download=$!
conns_json=
ready() {	# both listed; bob's bytes flowing; alice's upstream in the pool
	jq -e '(map(select(.san == "spiffe://example.test/bob" and .bytes_out > 0 and .upstream == "connected")) | length == 1)
		and (map(select(.san == "spiffe://example.test/alice" and .upstream == "kept_idle")) | length == 1)' \
		<<<"$1" >/dev/null 2>&1
}
for i in $(seq 1 75); do
	conns_json=$(in_gw "$STAT" --stats "$KTP_STATS" --conns --json 2>"$RUN_DIR/conns.err")
	ready "$conns_json" && break
	sleep 0.2
done
assert_eq "--conns --json: two connections relaying" \
	"$(jq -r '[.[] | select(.state == "relay")] | length' <<<"$conns_json" 2>/dev/null)" 2
c=$(jq -c '.[] | select(.san == "spiffe://example.test/bob")' <<<"$conns_json" 2>/dev/null)
idle=$(jq -c '.[] | select(.san == "spiffe://example.test/alice")' <<<"$conns_json" 2>/dev/null)
assert_match "bob's client address" "$(jq -r .client <<<"$c")" "^$CLI_IP:[0-9]+\$"
assert_eq "bob's original destination" "$(jq -r .dst <<<"$c")" "$SRV_IP:443"
assert_eq "bob's subject" "$(jq -r .subject <<<"$c")" "$(subject_of bob)"
assert_eq "alice's subject" "$(jq -r .subject <<<"$idle")" "$(subject_of alice)"
assert_eq "bob's upstream is connected" "$(jq -r .upstream <<<"$c")" connected
assert_eq "alice's idle upstream is kept in the pool" "$(jq -r .upstream <<<"$idle")" kept_idle
# On a kernel with kTLS (tests/vm) the connections are on the kTLS path and
# sock_diag reports the TLS ULP on both legs; here neither.
have_ktls=0
grep -q 'kTLS on' "$KTP_STDERR" && have_ktls=1
if [ "$have_ktls" = 1 ]; then
	assert_eq "the kTLS path" "$(jq -r .path <<<"$c")" ktls
	want_path=ktls want_tls_re='^tls1\.[23] [a-z0-9-]+ tx=(sw|hw) rx=(sw|hw)$'
	row_tls_re='tls1\.[23] [a-z0-9-]+ tx=[a-z]+ rx=[a-z]+ +tls1\.[23] [a-z0-9-]+ tx=[a-z]+ rx=[a-z]+'
	idle_tls_re='tls1\.[23] [a-z0-9-]+ tx=[a-z]+ rx=[a-z]+ +\(kept idle\)'
else
	assert_eq "the userspace path (no kTLS on this kernel)" "$(jq -r .path <<<"$c")" userspace
	want_path=userspace want_tls_re='^-$' row_tls_re='- +-' idle_tls_re='- +\(kept idle\)'
fi
assert_ge "plaintext bytes in" "$(jq -r .bytes_in <<<"$c")" 30
assert_ge "plaintext bytes out" "$(jq -r .bytes_out <<<"$c")" 1000
assert_ge "an age" "$(jq -r .age_ms <<<"$c")" 1
assert_match "the kernel's client socket was found, with an RTT" \
	"$(jq -r '.kernel_client.rtt_us' <<<"$c")" '^[1-9][0-9]*$'
assert_ge "the kernel counted the client's bytes" "$(jq -r '.kernel_client.bytes_received' <<<"$c")" 100
assert_match "the kernel's upstream socket was found" "$(jq -r '.kernel_upstream.rtt_us' <<<"$c")" '^[1-9][0-9]*$'
v=$(jq -r '.kernel_client.tls' <<<"$c")
assert_match "the kernel's TLS ULP on the client socket: $v" "$v" "$want_tls_re"
v=$(jq -r '.kernel_upstream.tls' <<<"$c")
assert_match "the kernel's TLS ULP on the upstream socket: $v" "$v" "$want_tls_re"
assert_eq "no upstream socket while it is in the pool" "$(jq -r '.kernel_upstream' <<<"$idle")" null
table=$(in_gw "$STAT" --stats "$KTP_STATS" --conns 2>&1)
printf '%s\n' "$table" >"$RUN_DIR/conns.table"
row=$(grep -F "spiffe://example.test/bob" <<<"$table")
assert_match "the table has a row for bob" "$row" "^$CLI_IP:[0-9]+ +$SRV_IP:443 +relay +$want_path "
assert_contains "... naming him" "$row" "$(subject_of bob) (spiffe://example.test/bob)"
assert_match "... with the kernel's RTT and TLS ULPs" "$row" " [0-9]+\\.[0-9]{3} +$row_tls_re +CN="
assert_match "alice's row says her upstream is kept idle" \
	"$(grep -F "spiffe://example.test/alice" <<<"$table")" " $idle_tls_re +CN="
assert_match "a count at the end" "$table" '^2 connections \(as of'
touch "$RELEASE"
kill "$download" 2>/dev/null
wait "$held" "$download" 2>/dev/null
wait_idle 5
n=
for i in $(seq 1 30); do
	n=$(in_gw "$STAT" --stats "$KTP_STATS" --conns --json 2>/dev/null | jq length 2>/dev/null)
	[ "$n" = 0 ] && break
	sleep 0.2
done
assert_eq "closed: no longer listed" "$n" 0
out=$("$STAT" --stats /nonexistent --conns 2>&1)
assert_eq "--conns without a daemon: status 1" "$?" 1
assert_contains "... saying why" "$out" "is ktproxy running"

section "ktproxy --metrics"
assert_contains "the daemon says where" "$(cat "$KTP_STDERR")" "metrics on http://$METRICS/metrics"
hdrs=$RUN_DIR/metrics.hdrs
scrape=$(in_gw curl -sS --max-time 5 -D "$hdrs" "http://$METRICS/metrics" 2>&1)
assert_match "GET /metrics: 200" "$(head -n 1 "$hdrs")" '^HTTP/1.1 200'
assert_contains "the exposition's content type" "$(cat "$hdrs")" "Content-Type: text/plain; version=0.0.4"
check "valid Prometheus text format" "$REPO/tests/lib/promcheck" <<<"$scrape"
names() { grep -v '^#' | sed 's/ [0-9]*$//' | sort; }
assert_eq "the same samples as ktproxy-stat --prometheus" \
	"$(names <<<"$scrape")" "$(in_gw "$STAT" --stats "$KTP_STATS" --prometheus | names)"
assert_match "the counters are live" "$scrape" '^ktproxy_connections_accepted_total [1-9]'
code() { in_gw curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$@"; }
assert_eq "GET /metrics?x=1: 200" "$(code "http://$METRICS/metrics?x=1")" 200
assert_eq "GET /: 404" "$(code "http://$METRICS/")" 404
assert_eq "POST /metrics: 405" "$(code -X POST -d x "http://$METRICS/metrics")" 405
head_out=$(in_gw curl -sS --max-time 5 -I "http://$METRICS/metrics" 2>&1)
assert_match "HEAD /metrics: 200, with a length" "$head_out" 'Content-Length: [1-9]'
# A scraper that connects and says nothing: the proxy goes on at once (as
# fast as a request before it, give or take 1 s; the endpoint holds the
# silent scraper for 2 s), and the endpoint answers again once that is up.
t0=$(date +%s%N)
cli_curl alice -o /dev/null "$URL/whoami"
t1=$(date +%s%N)
base_ms=$(( (t1 - t0) / 1000000 ))
in_gw timeout 10 bash -c "exec 3<>/dev/tcp/${METRICS%:*}/${METRICS#*:}; sleep 4" &
OBS_PIDS+=($!)
sleep 0.3
t0=$(date +%s%N)
out=$(cli_curl alice "$URL/whoami")
t1=$(date +%s%N)
held_ms=$(( (t1 - t0) / 1000000 ))
assert_contains "the proxy serves while a scraper is silent" "$out" "CN=alice"
assert_ge "... at once (${held_ms} ms, ${base_ms} ms before)" $(( base_ms + 1000 - held_ms )) 0
assert_eq "the next scrape is answered (within its 5 s)" "$(code "http://$METRICS/metrics")" 200
out=$(in_gw "$KTPROXY_BUILD/ktproxy" -c /dev/null --metrics 0.0.0.0:19465 --check 2>&1)
assert_eq "--metrics 0.0.0.0:PORT: exit 2" "$?" 2
assert_contains "... saying it is not loopback" "$out" "is not a loopback address"

ktproxy_stop

section "--log-format json"
text_keys=$(connlog | tail -n 1 | grep -oE '(^| )[a-z_]+=' | tr -d ' =' | paste -sd, -)
# A client whose subject has a double quote and a backslash in its CN.
Q=$RUN_DIR/quote
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$Q.key" \
	-subj '/O=Example Corp/CN=quo"te\\back' -out "$Q.csr" 2>/dev/null &&
	openssl x509 -req -in "$Q.csr" -CA "$PKI/client-ca.crt" -CAkey "$PKI/client-ca.key" \
		-set_serial 0x5151 -days 2 -out "$Q.crt" 2>/dev/null
quote_subject=$(openssl x509 -in "$Q.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
assert_contains "the test client's subject has a quote and a backslash" "$quote_subject" 'quo\"te\\back'
ktproxy_start --log-format json || exit 1
cli_curl alice -o /dev/null "$URL/whoami"
in_cli curl -sS --max-time 10 --resolve "server.test:443:$SRV_IP" --cacert "$PKI/proxy-ca.crt" \
	--cert "$Q.crt" --key "$Q.key" -o /dev/null "$URL/whoami"
printf 'GET / HTTP/1.1\r\nHost: server.test\r\n\r\n' | cli_sclient expired -ign_eof >/dev/null
for i in $(seq 1 50); do [ "$(connlog_count .)" -ge 3 ] && break; sleep 0.1; done
assert_eq "three lines" "$(connlog_count .)" 3
if connlog | jq -e . >/dev/null 2>&1 && [ "$(connlog | jq -s 'length')" = 3 ]; then
	pass "each line is one JSON object"
else
	fail "each line is one JSON object" "$(connlog | head -n 3)"
fi
assert_eq "the text log's keys, in its order" \
	"$(connlog | head -n 1 | jq -r 'keys_unsorted | join(",")')" "$text_keys"
first=$(connlog | head -n 1)
assert_eq "alice's subject" "$(jq -r .subject <<<"$first")" "$(subject_of alice)"
assert_eq "counts are numbers" "$(jq -r '[.requests, .bytes_in, .bytes_out, .duration_ms] | map(type) | unique | join(",")' <<<"$first")" number
assert_eq "result ok" "$(jq -r .result <<<"$first")" ok
assert_eq "the quoted subject comes back intact" \
	"$(connlog | jq -r 'select(.serial == "5151") | .subject')" "$quote_subject"
refused=$(connlog | jq -c 'select(.result == "error")')
assert_eq "the expired client: an error line naming why" "$(jq -r .reason <<<"$refused")" client_cert_expired
assert_eq "unknown values are \"-\"" "$(jq -r .upstream_tls <<<"$refused")" "-"
ktproxy_stop
