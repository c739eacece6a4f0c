#!/usr/bin/env bash
# 60-malformed: requests whose framing is ambiguous are answered 400 by
# ktproxy itself (not nginx: no "Server: nginx"), the connection is closed,
# and the request head never reaches the upstream.  A good request pipelined
# before a bad one is served; nothing after the bad one is forwarded.
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up
ktproxy_start || exit 1

H=$'Host: server.test\r\n'

# rejected WHAT RAW-REQUEST [head-may-reach-upstream]
rejected() {
	local what=$1 req=$2 head_may_pass=${3:-0} before rej0 out t0 secs
	before=$(upstream_requests)
	rej0=$(stat_get .requests_rejected)
	printf '%s' "$req" > "$RUN_DIR/bad.req"
	t0=$(date +%s)
	out=$(cli_raw alice < "$RUN_DIR/bad.req")
	secs=$(( $(date +%s) - t0 ))
	assert_match "$what: 400" "$out" '^HTTP/1\.[01] 400'
	assert_no_match "$what: answered by ktproxy, not nginx" "$out" '^Server: nginx'
	assert_match "$what: Connection: close" "$out" '^[Cc]onnection: close'
	if [ "$secs" -lt "${SCLIENT_TIMEOUT:-15}" ]; then pass "$what: connection closed ($secs s)"
	else fail "$what: connection closed" "s_client still open after $secs s"; fi
	if [ "$head_may_pass" = 1 ]; then
		assert_no_match "$what: no complete request reached the upstream" \
			"$(tail -n +$((before + 1)) "$UP_ACCESS_LOG")" '" 200 '
	else
		assert_eq "$what: nothing reached the upstream" "$(upstream_requests)" "$before"
	fi
	assert_stat_delta "$what: counted" .requests_rejected "$rej0" 1
}

section "Ambiguous framing"
rejected "Content-Length and Transfer-Encoding" \
	$'POST /upload HTTP/1.1\r\n'"$H"$'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
rejected "Transfer-Encoding and Content-Length" \
	$'POST /upload HTTP/1.1\r\n'"$H"$'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n'
rejected "two differing Content-Length" \
	$'POST /upload HTTP/1.1\r\n'"$H"$'Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'
rejected "Content-Length list with differing values" \
	$'POST /upload HTTP/1.1\r\n'"$H"$'Content-Length: 5, 6\r\n\r\nhello!'
rejected "bad chunk size" \
	$'POST /upload HTTP/1.1\r\n'"$H"$'Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n' 1
rejected "Transfer-Encoding other than chunked" \
	$'POST /upload HTTP/1.1\r\n'"$H"$'Transfer-Encoding: gzip\r\n\r\nhello'
rejected "whitespace before the colon" \
	$'POST /upload HTTP/1.1\r\n'"$H"$'Content-Length : 5\r\n\r\nhello'

section "Good request, then a bad one, then a good one, pipelined"
before=$(upstream_requests)
req=$'GET /whoami?first HTTP/1.1\r\n'"$H"$'\r\n'
req+=$'POST /upload HTTP/1.1\r\n'"$H"$'Content-Length: 1\r\nContent-Length: 2\r\n\r\nab'
req+=$'GET /whoami?third HTTP/1.1\r\n'"$H"$'Connection: close\r\n\r\n'
printf '%s' "$req" > "$RUN_DIR/mix.req"
out=$(cli_raw alice < "$RUN_DIR/mix.req")
assert_match "first request answered 200" "$out" '^HTTP/1\.1 200'
assert_match "then 400" "$out" '^HTTP/1\.[01] 400'
assert_eq "only the first reached the upstream" "$(upstream_requests)" $((before + 1))
assert_match "...and it was the first" "$(tail -n 1 "$UP_ACCESS_LOG")" 'GET /whoami\?first'
assert_eq "the third was never answered" "$(printf '%s\n' "$out" | grep -c '^HTTP/')" 2

section "The proxy is fine afterwards"
out=$(cli_curl alice "$URL/whoami")
assert_eq "alice still served" "$(field "$out" subject)" "$(subject_of alice)"
wait_idle 5
assert_eq "connections_active back to 0" "$(stat_get .connections_active)" 0
ktproxy_stop
