#!/usr/bin/env bash
# 79-lifecycle: the daemon's signals under load.
#
#   - SIGHUP while four downloads run: every one finishes byte-exact
#   - SIGTERM while four downloads run: the listener is gone at once (a new
#     connection is refused, nothing more is accepted), the downloads
#     finish byte-exact within --drain-timeout, the log says drained, exit 0
#   - a keep-alive client waiting between requests does not hold the drain
#     up: it is closed at once (close_notify), the daemon exits at once
#   - SIGTERM with --drain-timeout 2, a slow download and a client that
#     never says hello: both closed at the timeout, counted and logged as
#     drain_timeout, exit 0 within the bound
#   - a second SIGTERM during a drain closes everything at once, and so
#     does the first with --drain-timeout 0
#   - SIGUSR1 after the connection log was moved: new lines go to a new
#     file at the old path; the signer ignores SIGUSR1; with --log - there
#     is nothing to reopen, and it says so
KTPROXY_WORKERS=2
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up

NDL=4
IDENTS=(alice bob client-001 client-002)
SANITIZER='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined|Leak)'

# download IDENT OUTFILE RATE: /big at RATE in the background, its SHA-256
# (or "failed") into OUTFILE; its pid appended to DL_PIDS (never a bare
# `wait`: ktproxy is a background job too).
DL_PIDS=()
download() {
	( set -o pipefail
	  out=$(cli_curl "$1" --max-time 60 --limit-rate "$3" "$URL/big" | sha256sum | cut -d' ' -f1) ||
		out=failed
	  echo "$out" > "$2" ) &
	DL_PIDS+=($!)
}
# downloads_start PREFIX: the four identities' downloads at 8 MB/s (about 4 s)
downloads_start() {
	local i
	DL_PIDS=()
	for i in "${!IDENTS[@]}"; do
		download "${IDENTS[$i]}" "$RUN_DIR/$1-$i" 8M
	done
}
# downloads_wait: every download started is over (each has curl's
# --max-time); not in a $(...), which cannot wait for them.
downloads_wait() {
	local p
	for p in "${DL_PIDS[@]}"; do wait "$p"; done
}
# downloads_exact PREFIX: how many of the four arrived byte-exact
downloads_exact() {
	local i n=0
	for i in "${!IDENTS[@]}"; do
		[ "$(cat "$RUN_DIR/$1-$i" 2>/dev/null)" = "$UP_BIG_SHA256" ] && n=$((n + 1))
	done
	echo "$n"
}
# stderr_wait REGEX [SECONDS]: until the daemon's stderr has a line
# matching REGEX (5 s at most).
stderr_wait() {
	local i
	for i in $(seq 1 $((${2:-5} * 10))); do
		grep -qE "$1" "$KTP_STDERR" && return 0
		sleep 0.1
	done
	return 1
}
# wait_exit SECONDS: until the signalled daemon exits; EXIT_RC is its
# status ("running" if it did not, and it is killed), EXIT_S how long it
# took.
wait_exit() {
	local pid=$KTP_PID i t0
	t0=$(date +%s.%N)
	KTP_PID=
	for i in $(seq 1 $(($1 * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	EXIT_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		EXIT_RC=running
		return
	fi
	wait "$pid"
	EXIT_RC=$?
}
# connect_gw: a plain TCP connect to the listener from the gateway itself;
# prints "connected" or "refused".
connect_gw() {
	in_gw timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$TPROXY_PORT" 2>/dev/null &&
		echo connected || echo refused
}
# proxy_sockets: TCP sockets of the gateway to or from port 443 that are
# not yet done (a closed connection whose unsent bytes the kernel still
# delivers would be one: a slow client could read them for minutes).
proxy_sockets() {
	in_gw ss -tanH state established state fin-wait-1 state fin-wait-2 state close-wait \
		state last-ack state closing '( sport = :443 or dport = :443 )' | wc -l
}
# stop_client PID: end a background client (a subshell and its curl) that
# has nothing more to show; a rate-limited curl still reads what its own
# socket buffered after the reset.
stop_client() {
	pkill -P "$1" 2>/dev/null
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
no_sanitizer_report() {
	assert_eq "...no sanitizer report" "$(grep -cE "$SANITIZER" "$KTP_STDERR")" 0
}
# under SECONDS VALUE: "yes" when VALUE < SECONDS
under() { awk -v v="$2" -v max="$1" 'BEGIN { print (v < max) ? "yes" : "no (" v " s)" }'; }

section "SIGHUP while $NDL downloads run"
# Bounds are generous (a TCG guest is slow); a pass takes seconds.
ktproxy_start --drain-timeout 60 || exit 1
downloads_start hup
wait_for_active "$NDL" || fail "the downloads did not start"
sleep 0.5
assert_eq "SIGHUP reloads" "$(ktproxy_hup)" reloaded
downloads_wait
assert_eq "all $NDL downloads byte-exact across the reload" "$(downloads_exact hup)" "$NDL"
assert_eq "...none closed on an error" "$(connlog_count 'result=error')" 0

section "SIGTERM while $NDL downloads run: drained"
assert_eq "before SIGTERM the listener takes connections" "$(connect_gw)" connected
stat_wait .client_handshake_failures.eof 1 >/dev/null	# that one, closed
errors0=$(connlog_count 'result=error')
downloads_start term
wait_for_active "$NDL" || fail "the downloads did not start"
sleep 0.5
kill -TERM "$KTP_PID"
stderr_wait 'SIGTERM: not listening any more' || fail "no word of SIGTERM"
accepted=$(stat_get .connections_accepted)
assert_eq "a new connection right after SIGTERM is refused" "$(connect_gw)" refused
assert_ne "...a client steered to the proxy is not served by it" \
	"$(cli_curl alice --max-time 5 -o /dev/null -w '%{http_code}' "$URL/whoami" 2>/dev/null)" 200
assert_eq "...nothing more accepted" "$(stat_get .connections_accepted)" "$accepted"
assert_match "the log says how many it drains and for how long" "$(cat "$KTP_STDERR")" \
	"SIGTERM: not listening any more; draining $NDL connections for up to 60 s"
downloads_wait
assert_eq "all $NDL downloads in flight finish byte-exact" "$(downloads_exact term)" "$NDL"
wait_exit 70
assert_eq "ktproxy exits 0 once they are done" "$EXIT_RC" 0
assert_eq "...well before the drain timeout" "$(under 50 "$EXIT_S")" yes
assert_match "...saying it drained" "$(cat "$KTP_STDERR")" "drained: $NDL connections finished in"
assert_eq "...closed none at the drain timeout" "$(connlog_count 'reason=drain_timeout')" 0
assert_eq "...none closed on an error" "$(connlog_count 'result=error')" "$errors0"
no_sanitizer_report

section "A keep-alive client between requests does not hold the drain up"
ktproxy_start --drain-timeout 20 || exit 1
# One request on a keep-alive connection, then wait for the proxy to end
# it: "eof S" (seconds after the answer) or "timeout".
in_cli python3 - "$PKI" "$SRV_IP" "$RUN_DIR/ka" > "$RUN_DIR/ka.out" 2>&1 <<'EOF' &
import socket, ssl, sys, time
pki, ip, flag = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=f"{pki}/proxy-ca.crt")
ctx.load_cert_chain(f"{pki}/alice.crt", f"{pki}/alice.key")
s = ctx.wrap_socket(socket.create_connection((ip, 443), timeout=15), server_hostname="server.test")
s.sendall(b"GET /whoami HTTP/1.1\r\nHost: server.test\r\n\r\n")
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(65536)
head, body = buf.split(b"\r\n\r\n", 1)
n = [int(l.split(b":", 1)[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]
while len(body) < n:
    body += s.recv(65536)
open(flag, "w").write(head.split(b"\r\n")[0].decode() + "\n")
t = time.time()
try:
    while s.recv(65536):
        pass
    print("eof %.1f" % (time.time() - t))
except socket.timeout:
    print("timeout")
EOF
ka=$!
for i in $(seq 1 50); do [ -s "$RUN_DIR/ka" ] && break; sleep 0.1; done
assert_eq "the keep-alive client was answered" "$(cat "$RUN_DIR/ka" 2>/dev/null)" "HTTP/1.1 200 OK"
assert_eq "...and its connection stays open" "$(stat_get .connections_active)" 1
kill -TERM "$KTP_PID"
wait_exit 10
wait "$ka"
assert_match "the idle connection is ended at once" "$(cat "$RUN_DIR/ka.out")" '^eof [0-9]\.'
assert_eq "ktproxy exits 0" "$EXIT_RC" 0
assert_eq "...at once, not after the 20 s drain timeout" "$(under 10 "$EXIT_S")" yes
assert_match "...saying it drained" "$(cat "$KTP_STDERR")" "drained: 1 connection finished in"
assert_eq "the connection log says why it ended" "$(connlog_count 'result=ok reason=drain_idle')" 1
no_sanitizer_report

section "SIGTERM with --drain-timeout 2: a slow download and a silent client"
ktproxy_start --drain-timeout 2 || exit 1
DL_PIDS=()
download alice "$RUN_DIR/slow" 200K
# a TCP connection that never sends a ClientHello (its handshake timeout,
# 10 s, is longer than the drain)
in_cli timeout 15 bash -c "exec 3<>/dev/tcp/$SRV_IP/443; sleep 12" 2>/dev/null &
silent=$!
wait_for_active 2 || fail "the slow clients are not both connected"
sleep 0.5
kill -TERM "$KTP_PID"
wait_exit 10
assert_eq "ktproxy exits 0" "$EXIT_RC" 0
assert_eq "...after the drain timeout and not much more" \
	"$(awk -v v="$EXIT_S" 'BEGIN { print (v >= 1.5 && v < 8) ? "yes" : "no (" v " s)" }')" yes
assert_match "the log says it drains for up to 2 s" "$(cat "$KTP_STDERR")" \
	"draining 2 connections for up to 2 s"
assert_match "...then closes what is left" "$(cat "$KTP_STDERR")" \
	"drain timeout \(2 s\): closing the 2 connections still open"
assert_match "...counted as connections_closed{drain_timeout}" "$(cat "$KTP_STDERR")" \
	"closed 2 connections at the drain timeout"
assert_eq "the connection log names both drain_timeout" "$(connlog_count 'reason=drain_timeout')" 2
assert_eq "...reset, so nothing of them is left in the kernel" "$(proxy_sockets)" 0
stop_client "${DL_PIDS[0]}"
kill "$silent" 2>/dev/null
wait "$silent" 2>/dev/null
no_sanitizer_report

section "A second SIGTERM closes at once"
ktproxy_start --drain-timeout 30 || exit 1
DL_PIDS=()
download alice "$RUN_DIR/slow2" 200K
wait_for_active 1 || fail "the slow download did not start"
kill -TERM "$KTP_PID"
stderr_wait 'draining 1 connection for up to 30 s' || fail "no word of the drain"
kill -TERM "$KTP_PID"
wait_exit 10
assert_eq "ktproxy exits 0" "$EXIT_RC" 0
assert_eq "...at once" "$(under 6 "$EXIT_S")" yes
assert_match "...saying so" "$(cat "$KTP_STDERR")" \
	"SIGTERM again: closing the 1 connection still open now"
assert_eq "the connection log says shutdown" "$(connlog_count 'reason=shutdown')" 1
assert_eq "...reset, so nothing of it is left in the kernel" "$(proxy_sockets)" 0
stop_client "${DL_PIDS[0]}"
no_sanitizer_report

section "--drain-timeout 0 closes at once"
ktproxy_start --drain-timeout 0 || exit 1
DL_PIDS=()
download alice "$RUN_DIR/slow3" 200K
wait_for_active 1 || fail "the slow download did not start"
kill -TERM "$KTP_PID"
wait_exit 10
assert_eq "ktproxy exits 0" "$EXIT_RC" 0
assert_eq "...at once" "$(under 6 "$EXIT_S")" yes
assert_match "...saying so" "$(cat "$KTP_STDERR")" \
	"SIGTERM: not listening any more; closing 1 connection at once \(--drain-timeout 0\)"
assert_eq "the connection log says shutdown" "$(connlog_count 'reason=shutdown')" 1
assert_eq "...reset, so nothing of it is left in the kernel" "$(proxy_sockets)" 0
stop_client "${DL_PIDS[0]}"
no_sanitizer_report

section "SIGUSR1 reopens the connection log"
ktproxy_start || exit 1
code() { cli_curl "$1" -o /dev/null -w '%{http_code}' "$URL/whoami" 2>/dev/null; }
assert_eq "a first request" "$(code alice)" 200
wait_idle 5
mv "$KTP_CONNLOG" "$KTP_CONNLOG.1"
assert_eq "a request after the log was moved" "$(code bob)" 200
wait_idle 5
kill -USR1 "$KTP_PID"
stderr_wait "SIGUSR1: reopened --log $KTP_CONNLOG" || fail "no word of the reopen"
assert_eq "a request after SIGUSR1" "$(code client-001)" 200
wait_idle 5
assert_eq "the moved file has the lines from before the signal" \
	"$(grep -c 'CN=alice\|CN=bob' "$KTP_CONNLOG.1")" 2
assert_eq "...and none after" "$(grep -c 'CN=client-001' "$KTP_CONNLOG.1")" 0
assert_eq "the new file at the old path has the line after it" "$(connlog_count 'CN=client-001')" 1
assert_eq "...only that one" "$(connlog_count .)" 1
signer=$(pgrep -P "$KTP_PID" -x ktproxy-signer | head -n 1)
if [ -n "$signer" ]; then
	kill -USR1 "$signer"
	sleep 0.3
	assert_eq "the signer ignores SIGUSR1" "$(kill -0 "$signer" 2>/dev/null && echo alive)" alive
else
	fail "no signer process found"
fi
assert_eq "...and forging goes on" "$(code client-002)" 200
ktproxy_stop
ktproxy_start --log - || exit 1
kill -USR1 "$KTP_PID"
assert_eq "with --log - SIGUSR1 says there is nothing to reopen" \
	"$(stderr_wait 'SIGUSR1: the connection log is stderr \(--log -\): nothing to reopen' && echo said)" said
assert_eq "...and the daemon goes on" "$(code alice)" 200
ktproxy_stop

assert_summary
