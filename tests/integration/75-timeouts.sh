#!/usr/bin/env bash
# 75-timeouts: a client that never finishes its handshake, and a connection
# that goes idle, are closed on time and counted - they do not pin memory
# and descriptors forever.
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up
ktproxy_start --handshake-timeout 2 --idle-timeout 3 || exit 1

# seconds_until_closed CMD...: how long until the server side closes (each
# command reads until EOF and is bounded by 15 s itself).
seconds_until_closed() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", b - a + 0.5 }'
}
# A TCP connection that never says a word.
silent_client() { in_cli timeout 15 bash -c "exec 3<>/dev/tcp/$SRV_IP/443; cat <&3"; }
# A verified TLS connection that never sends a request (s_client stays
# until its input ends, so the daemon's own log says when it closed).
idle_client() { sleep 8 | SCLIENT_TIMEOUT=15 cli_sclient alice -quiet; }

section "Handshake timeout"
s=$(seconds_until_closed silent_client)
assert_ge "a silent client is not dropped early (${s} s)" "$s" 2
assert_ge "...and is closed by 4 s" 4 "$s"
assert_eq "counted as a handshake timeout" "$(stat_wait .client_handshake_failures.timeout 1)" 1
assert_contains "logged with its reason" "$(connlog | tail -n 1)" "reason=client_handshake_timeout"

section "Idle timeout"
idle_client
assert_eq "counted as idle" "$(stat_wait .connections_timed_out.idle 1)" 1
line=$(connlog | tail -n 1)
assert_contains "logged with its reason" "$line" "reason=idle_timeout"
ms=$(printf '%s\n' "$line" | sed -n 's/.* duration_ms=\([0-9]*\) .*/\1/p')
assert_ge "an idle connection lives its idle time (${ms} ms)" "${ms:-0}" 3000
assert_ge "...and is closed within a tick of it" 5000 "${ms:-99999}"

section "A pause shorter than the idle timeout"
# After a second without reads the connection hands its buffers back
# (conn_trim); the next request on it must find both legs working.
out=$({ printf 'GET /whoami HTTP/1.1\r\nHost: server.test\r\n\r\n'; sleep 2.4
	printf 'GET /whoami HTTP/1.1\r\nHost: server.test\r\nConnection: close\r\n\r\n'; sleep 3; } |
	cli_raw alice)
assert_eq "both requests on the paused connection answered" \
	"$(printf '%s\n' "$out" | grep -c '^HTTP/1.1 200')" 2
assert_eq "...each as alice" "$(printf '%s\n' "$out" | grep -c "^subject=$(subject_of alice)\$")" 2
wait_idle 5
assert_eq "connections_active back to 0" "$(stat_get .connections_active)" 0
ktproxy_stop
