#!/usr/bin/env bash
# 70-upstream: when the original destination refuses the connection, a
# verified client that sends a request gets 502 from ktproxy, counted as
# upstream_failures.connect and upstream_502_sent; once the upstream is back,
# traffic flows again.  An upstream whose certificate is for another name,
# or from a CA not in --upstream-ca, is refused the same way
# (upstream_failures.verify), and nothing of it reaches the client.
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up
ktproxy_start || exit 1

section "Upstream up"
out=$(cli_curl alice "$URL/whoami")
assert_eq "alice served" "$(field "$out" subject)" "$(subject_of alice)"

section "Upstream down (nginx stopped: connection refused)"
upstream_stop_nginx
conn0=$(stat_get .upstream_failures.connect)
s502=$(stat_get .upstream_502_sent)
err0=$(connlog_count 'result=error')
code=$(cli_curl alice -o "$RUN_DIR/502.body" -D "$RUN_DIR/502.head" -w '%{http_code}' "$URL/whoami")
assert_eq "client gets 502" "$code" 502
assert_match "502 closes the connection" "$(cat "$RUN_DIR/502.head")" '^[Cc]onnection: close'
assert_stat_delta "counted as a connect failure" .upstream_failures.connect "$conn0" 1
assert_stat_delta "counted as a 502 sent" .upstream_502_sent "$s502" 1
assert_eq "one result=error log line" "$(connlog_count 'result=error')" $((err0 + 1))

printf 'POST /upload HTTP/1.1\r\nHost: server.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello' > "$RUN_DIR/post.req"
out=$(cli_raw alice < "$RUN_DIR/post.req")
assert_match "POST with a body also gets 502" "$out" '^HTTP/1\.[01] 502'

section "Upstream back"
upstream_start_nginx || fail "nginx restart"
out=$(cli_curl alice "$URL/whoami")
assert_eq "alice served again" "$(field "$out" subject)" "$(subject_of alice)"

section "Upstream certificate for another name: refused"
# The client asks for wrong.test at the server's address: the upstream's
# certificate (server.test) does not match the name ktproxy checks.  The
# client leg is not what is tested here (-k: ktproxy's own certificate is
# for server.test too).
v0=$(stat_get .upstream_failures.verify)
code=$(cli_curl alice -k --resolve "wrong.test:443:$SRV_IP" -o "$RUN_DIR/name.body" \
	-w '%{http_code}' https://wrong.test/whoami)
assert_eq "client gets 502" "$code" 502
assert_not_contains "nothing from the upstream reached the client" "$(cat "$RUN_DIR/name.body")" "subject="
assert_stat_delta "counted as an upstream verify failure" .upstream_failures.verify "$v0" 1
assert_contains "the log says why" "$(connlog | tail -n 1)" "reason=upstream_cert_invalid"
out=$(cli_curl alice "$URL/whoami")
assert_eq "the right name still works" "$(field "$out" subject)" "$(subject_of alice)"

wait_idle 5
assert_eq "connections_active back to 0" "$(stat_get .connections_active)" 0

section "Upstream certificate from a CA ktproxy does not trust: refused"
ktproxy_restart --upstream-ca "$PKI/other-ca.crt" || exit 1
v0=$(stat_get .upstream_failures.verify)
for i in 1 2; do
	code=$(cli_curl alice -o /dev/null -w '%{http_code}' "$URL/whoami")
	assert_eq "client gets 502 (try $i)" "$code" 502
done
assert_stat_delta "both counted as upstream verify failures" .upstream_failures.verify "$v0" 2
assert_eq "no upstream session kept or resumed" "$(stat_get .upstream_resumed)" 0
ktproxy_stop
