#!/usr/bin/env bash
# 73-keepalive: an upstream connection outlives its client, for the same
# client certificate only.
#
# A client that closes between requests leaves its upstream connection in
# the worker's pool; the next connection with the same certificate to the
# same destination takes it and skips the upstream connect and handshake
# (the upstream sees the same TCP connection, its next request).  Another
# certificate never gets it.  A message that ends the keep-alive
# upstream ("Connection: close" from the upstream, HTTP/1.0, a close
# among other Connection tokens) or a client that leaves mid-response ends
# the upstream connection too.  A client's plain "Connection: close" is
# for the hop to ktproxy: it is not forwarded, ktproxy closes the client
# after the answer, and the upstream connection is kept.  A kept connection the upstream has closed
# is found dead and replaced; idle ones expire; the pool is bounded.  On
# the kTLS path a kept upstream stays in the kernel and the next client
# leg joins it there.  One worker: each worker has its own pool.
KTPROXY_WORKERS=1
BULK_MAX_TIME=${BULK_MAX_TIME:-300}
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up
ktproxy_start || exit 1

have_ktls=0
grep -q 'kTLS on' "$KTP_STDERR" && have_ktls=1

visit() { cli_curl "$@"; }
# last LOGFIELD: that field of the newest connection log line.
last() { wait_idle 5; connlog | tail -n 1 | grep -o " $1=[a-z]*" | cut -d= -f2; }
# up_conn [N]: nginx's connection number of its Nth newest request (1).
up_conn() { tail -n "${1:-1}" "$UP_ACCESS_LOG" | head -n 1 | grep -o 'conn=[0-9]*' | cut -d= -f2; }
up_req() { tail -n 1 "$UP_ACCESS_LOG" | grep -o 'req=[0-9]*' | cut -d= -f2; }
check_identity() { assert_eq "$1: upstream sees $3" "$(field "$2" subject)" "$(subject_of "$3")"; }

section "A returning client certificate reuses its upstream connection"
h0=$(stat_get .upstream_handshakes)
out=$(visit alice "$URL/whoami"); check_identity "alice" "$out" alice
assert_eq "alice's first connection: a new upstream session" "$(last upstream_session)" new
assert_eq "...and the upstream connection is kept when she leaves" "$(last upstream_kept)" yes
a_conn=$(up_conn); a_serial=$(field "$out" serial)
assert_stat_delta "one kept" .upstream_keepalive.kept 0 1
assert_eq "one upstream connection idle" "$(stat_get .upstream_keepalive_idle)" 1

out=$(visit alice "$URL/whoami"); check_identity "alice again" "$out" alice
assert_eq "alice returns: the kept upstream connection" "$(last upstream_session)" reused
assert_eq "the upstream sees the same TCP connection" "$(up_conn)" "$a_conn"
assert_eq "...and this as its second request" "$(up_req)" 2
assert_eq "...authenticated with alice's forged certificate" "$(field "$out" serial)" "$a_serial"
assert_stat_delta "no second upstream handshake" .upstream_handshakes "$h0" 1
assert_eq "upstream_keepalive.reused counted" "$(stat_get .upstream_keepalive.reused)" 1
[ "$have_ktls" = 1 ] &&
	assert_eq "the reused connection rides kTLS" "$(last path)" ktls

section "Never another client certificate's"
out=$(visit bob "$URL/whoami"); check_identity "bob" "$out" bob
assert_eq "bob gets no kept connection of alice's" "$(last upstream_session)" new
assert_ne "...the upstream sees another connection" "$(up_conn)" "$a_conn"
assert_ne "...and bob's own forged certificate" "$(field "$out" serial)" "$a_serial"
b_conn=$(up_conn)
out=$(visit alice "$URL/whoami"); check_identity "alice after bob" "$out" alice
assert_eq "alice after bob: her own kept connection" "$(up_conn)" "$a_conn"
out=$(visit bob "$URL/whoami"); check_identity "bob again" "$out" bob
assert_eq "bob again: his own kept connection" "$(up_conn)" "$b_conn"
assert_eq "two upstream connections idle" "$(stat_get .upstream_keepalive_idle)" 2

section "Bodies both ways over a kept connection"
got=$(visit alice --max-time "$BULK_MAX_TIME" "$URL/big" | sha256sum | cut -d' ' -f1)
assert_eq "download byte-exact over alice's kept connection" "$got" "$UP_BIG_SHA256"
assert_eq "...which it was" "$(up_conn)" "$a_conn"
out=$(visit alice --max-time "$BULK_MAX_TIME" --data-binary "@$UP_BIG" \
	-H 'Content-Type: application/octet-stream' "$URL/upload")
assert_eq "upload byte-exact over it" "$(field "$out" body_sha256)" "$UP_BIG_SHA256"
assert_eq "...still kept afterwards" "$(last upstream_kept)" yes
[ "$have_ktls" = 1 ] &&
	assert_eq "...on the kTLS path" "$(last path)" ktls

section "A client's Connection: close is ktproxy's to honour"
n0=$(upstream_requests)
out=$(visit alice -H 'Connection: close' "$URL/whoami"); check_identity "Connection: close" "$out" alice
assert_eq "answered over alice's kept connection" "$(up_conn)" "$a_conn"
assert_eq "the client is closed, the upstream connection kept" "$(last upstream_kept)" yes
assert_eq "...and the connection ended cleanly" "$(last result)" ok
out=$(cli_raw alice <<<$'GET /whoami HTTP/1.1\r\nHost: server.test\r\nConnection: close\r\n\r\nGET /whoami HTTP/1.1\r\nHost: server.test\r\n\r\n')
assert_eq "a request pipelined after it gets no answer" "$(printf '%s\n' "$out" | grep -c '^HTTP/1.1 200')" 1
assert_eq "...and never reaches the upstream" "$(( $(upstream_requests) - n0 ))" 2
assert_eq "...the upstream connection is still kept" "$(last upstream_kept)" yes
assert_eq "the upstream never saw a Connection: close: same connection" "$(up_conn)" "$a_conn"

section "What ends the upstream's keep-alive ends the upstream connection"
out=$(visit alice -H 'Connection: close, x-other' "$URL/whoami"); check_identity "close among other tokens" "$out" alice
assert_eq "Connection: close among other tokens goes up: not kept" "$(last upstream_kept)" no
out=$(visit alice --http1.0 "$URL/whoami"); check_identity "HTTP/1.0" "$out" alice
assert_eq "HTTP/1.0 request: not kept" "$(last upstream_kept)" no
out=$(visit alice "$URL/close")
assert_eq "the upstream answered" "$out" closing
assert_eq "response with Connection: close: not kept" "$(last upstream_kept)" no
cli_raw alice >/dev/null 2>&1 <<<$'GET /big HTTP/1.1\r\nHost: server.test\r\n\r\n'
assert_eq "a client gone mid-response: not kept" "$(last upstream_kept)" no
out=$(visit alice "$URL/whoami"); check_identity "alice after all that" "$out" alice
assert_ne "alice then needs a new upstream connection" "$(last upstream_session)" reused

section "An idle client's upstream connection waits in the pool meanwhile"
# Client connections that stay open: one request, then (once the test says
# so through a flag file, bounded) a second one that asks to close.
REQ=$'GET /whoami HTTP/1.1\r\nHost: server.test\r\n\r\n'
LASTREQ=$'GET /whoami HTTP/1.1\r\nHost: server.test\r\nConnection: close\r\n\r\n'
feed() {
	printf '%s' "$REQ"
	for _ in $(seq 1 300); do [ -e "$1" ] && break; sleep 0.1; done
	printf '%s' "$LASTREQ"	# s_client -ign_eof stays until we close
}
ktproxy_restart || exit 1
go=$RUN_DIR/go.1
feed "$go" | cli_raw alice > "$RUN_DIR/idle.1" 2>&1 &
spid=$!
assert_eq "alice idle: her upstream connection goes to the pool" \
	"$(stat_wait .upstream_keepalive_idle 1 10)" 1
assert_eq "...while her client connection stays open" "$(stat_get .connections_active)" 1
a_conn=$(up_conn)
out=$(visit bob "$URL/whoami"); check_identity "bob meanwhile" "$out" bob
assert_ne "bob does not get alice's" "$(up_conn)" "$a_conn"
touch "$go"; wait "$spid"
assert_eq "alice's two requests both answered" "$(grep -c '^HTTP/1.1 200' "$RUN_DIR/idle.1")" 2
assert_eq "...the second as alice" "$(grep -c "^subject=$(subject_of alice)\$" "$RUN_DIR/idle.1")" 2
assert_eq "...over her kept upstream connection" "$(up_conn)" "$a_conn"
assert_eq "...as its second request" "$(up_req)" 2
assert_contains "one client connection, two requests, ended cleanly" "$(wait_idle 5; connlog | grep 'CN=alice' | tail -n 1)" "requests=2"
assert_eq "...result ok" "$(last result)" ok

ktproxy_restart --upstream-keepalive 1 || exit 1
go=$RUN_DIR/go.2
feed "$go" | cli_raw alice > "$RUN_DIR/idle.2" 2>&1 &
spid=$!
stat_wait .upstream_keepalive_idle 1 10 >/dev/null
a_conn=$(up_conn)
visit bob "$URL/whoami" >/dev/null
assert_stat_delta "bob's upstream took the only place" .upstream_keepalive.evicted 0 1
touch "$go"; wait "$spid"
assert_eq "alice's next request still answered, as alice" \
	"$(grep -c "^subject=$(subject_of alice)\$" "$RUN_DIR/idle.2")" 2
assert_ne "...over a new upstream connection" "$(up_conn)" "$a_conn"
assert_eq "...and ended cleanly" "$(last result)" ok

# A certificate's forged delegate evicted meanwhile (--forge-cache 1): the
# connection it authenticated still serves this client, but is not kept
# for later, since nothing could take it.
ktproxy_restart --forge-cache 1 || exit 1
go=$RUN_DIR/go.4
feed "$go" | cli_raw alice > "$RUN_DIR/idle.4" 2>&1 &
spid=$!
stat_wait .upstream_keepalive_idle 1 10 >/dev/null
visit bob "$URL/whoami" >/dev/null
touch "$go"; wait "$spid"
assert_eq "alice's delegate evicted: her next request still answered" \
	"$(grep -c "^subject=$(subject_of alice)\$" "$RUN_DIR/idle.4")" 2
assert_eq "...and her upstream connection closed, not kept" "$(last upstream_kept)" no

# A client that leaves while its upstream is in the pool: a clean end.
# (Not -quiet: that implies -ign_eof, and s_client would stay.)
{ printf '%s' "$REQ"; sleep 3; } | cli_sclient alice > "$RUN_DIR/idle.3" 2>&1
assert_eq "a client leaving while detached: answered" "$(grep -c '^HTTP/1.1 200' "$RUN_DIR/idle.3")" 1
assert_eq "...and the connection ended cleanly" "$(last result)" ok
assert_eq "...its upstream kept" "$(last upstream_kept)" yes

section "A kept connection the upstream closed is replaced, not used"
d0=$(stat_get .upstream_keepalive.dead)
assert_ge "alice's connection is among those kept" "$(stat_get .upstream_keepalive_idle)" 1
upstream_protocols "TLSv1.2 TLSv1.3" || fail "nginx restart"
out=$(visit alice "$URL/whoami"); check_identity "after the upstream restarted" "$out" alice
assert_ne "no reuse of a dead connection" "$(last upstream_session)" reused
assert_stat_delta "the dead one counted" .upstream_keepalive.dead "$d0" 1
assert_eq "no 502 sent" "$(stat_get .upstream_502_sent)" 0

section "Kept connections expire (--upstream-keepalive-timeout 1)"
ktproxy_restart --upstream-keepalive-timeout 1 || exit 1
out=$(visit alice "$URL/whoami"); check_identity "alice" "$out" alice
assert_eq "kept" "$(last upstream_kept)" yes
assert_stat_delta "closed after the timeout" .upstream_keepalive.expired 0 1
assert_eq "nothing idle" "$(stat_get .upstream_keepalive_idle)" 0
out=$(visit alice "$URL/whoami"); check_identity "alice later" "$out" alice
assert_ne "a new upstream connection" "$(last upstream_session)" reused

section "The pool is bounded (--upstream-keepalive 1)"
ktproxy_restart --upstream-keepalive 1 || exit 1
visit alice "$URL/whoami" >/dev/null; wait_idle 5
out=$(visit bob "$URL/whoami"); check_identity "bob" "$out" bob
assert_stat_delta "alice's made room for bob's" .upstream_keepalive.evicted 0 1
assert_eq "one idle" "$(stat_get .upstream_keepalive_idle)" 1
out=$(visit alice "$URL/whoami"); check_identity "alice" "$out" alice
assert_ne "alice's is gone" "$(last upstream_session)" reused

section "--upstream-keepalive 0 keeps none"
ktproxy_restart --upstream-keepalive 0 || exit 1
visit alice "$URL/whoami" >/dev/null
assert_eq "not kept" "$(last upstream_kept)" no
out=$(visit alice "$URL/whoami"); check_identity "alice" "$out" alice
assert_eq "the next one resumes instead" "$(last upstream_session)" resumed
assert_eq "nothing kept" "$(stat_get .upstream_keepalive.kept)" 0

section "Many connections at once (ktp-load)"
ktproxy_restart || exit 1
n=${KTP_KEEPALIVE_HANDSHAKES:-200}
out=$(in_cli "$KTPROXY_BUILD/ktp-load" --connect "$SRV_IP:443" --sni server.test \
	--ca "$PKI/proxy-ca.crt" --cert "$PKI/alice.crt" --key "$PKI/alice.key" \
	--path /whoami --json --mode handshake --concurrency 4 --requests "$n" --duration 120)
assert_eq "$n connections and requests, no errors" \
	"$(printf '%s' "$out" | jq -r '"\(.requests) \(.errors)"')" "$n 0"
wait_idle 10
hs=$(stat_get .upstream_handshakes); ru=$(stat_get .upstream_keepalive.reused)
assert_eq "each connection had an upstream: handshake ($hs) or kept ($ru)" "$((hs + ru))" "$n"
assert_ge "most took a kept one" "$ru" "$((n * 3 / 4))"
assert_eq "every request reached the upstream as alice" \
	"$(tail -n "$n" "$UP_ACCESS_LOG" | grep -c "dn=\"$(subject_of alice)\"")" "$n"

ktproxy_stop
