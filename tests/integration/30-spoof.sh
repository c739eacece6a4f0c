#!/usr/bin/env bash
# 30-spoof: identity headers a client sends never reach the upstream, on any
# request of a keep-alive connection, pipelined or not, whatever their case;
# request bodies that merely look like headers pass through unchanged.
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up
ktproxy_start || exit 1

alice_hash=$(sha256_der alice)
SPOOF_RE='spoof|evil|ZXZpbA'

# check_echo WHAT FILE: one /echo-headers (or /upload) answer
check_echo() {
	local what=$1 body
	body=$(cat "$2")
	assert_match "$what: answered" "$body" '^method='
	assert_no_match "$what: no spoofed value arrived" "$body" "$SPOOF_RE"
	assert_eq "$what: exactly one XFCC" "$(printf '%s\n' "$body" | grep -ci '^header: x-forwarded-client-cert:')" 1
	assert_contains "$what: it is ktproxy's (alice's hash)" "$body" "Hash=$alice_hash"
	assert_no_match "$what: no Client-Cert / Client-Cert-Chain / X-Amzn-Mtls-*" "$body" \
		'^header: ([Cc][Ll][Ii][Ee][Nn][Tt]-[Cc][Ee][Rr][Tt]|[Xx]-[Aa][Mm][Zz][Nn]-[Mm][Tt][Ll][Ss])'
}

section "Keep-alive: three requests on one connection (curl)"
before=$(upstream_requests)
rw0=$(stat_get .requests_rewritten)
conns=$(cli_curl alice \
	-H 'X-Forwarded-Client-Cert: By=spiffe://evil;Hash=spoof;Subject="CN=admin"' \
	-H 'x-amzn-mtls-clientcert-subject: CN=evil' \
	-H 'X-AMZN-MTLS-CLIENTCERT-LEAF: evil' \
	-H 'Client-Cert: :ZXZpbA==:' \
	-H 'client-cert-chain: :ZXZpbA==:' \
	-w '%{num_connects}\n' \
	-o "$RUN_DIR/ka1" "$URL/echo-headers" \
	-o "$RUN_DIR/ka2" "$URL/echo-headers?second" \
	-o "$RUN_DIR/ka3" "$URL/echo-headers?third")
assert_eq "curl used one connection for three requests" "$(printf '%s\n' "$conns" | awk '{ s += $1 } END { print s }')" 1
for i in 1 2 3; do check_echo "keep-alive request $i" "$RUN_DIR/ka$i"; done
assert_eq "three requests reached the upstream" "$(upstream_requests)" $((before + 3))
assert_eq "...over one upstream connection" \
	"$(tail -n 3 "$UP_ACCESS_LOG" | sed -n 's/^conn=\([0-9]*\) .*/\1/p' | sort -u | wc -l)" 1
assert_stat_delta "three request heads rewritten" .requests_rewritten "$rw0" 3

section "Pipelined raw requests over one TLS connection (s_client)"
# GET with spoofs, POST with a Content-Length body that looks like headers,
# POST with a chunked body that does too, GET with lower-case spoofs and
# Connection: close.  All sent at once.
cl_body=$'hello\r\nX-Forwarded-Client-Cert: Hash=spoof-in-body\r\n\r\nGET /echo-headers HTTP/1.1\r\nClient-Cert: :ZXZpbA==:\r\n\r\n'
ch_data=$'X-Forwarded-Client-Cert: Hash=spoof-in-chunk\r\n\r\n'
ch_sha=$(printf '%s%s' "$ch_data" "$ch_data" | sha256sum | cut -d' ' -f1)
{
	printf 'GET /echo-headers?p1 HTTP/1.1\r\nHost: server.test\r\nX-Forwarded-Client-Cert: Hash=spoof\r\nClient-Cert-Chain: :ZXZpbA==:\r\n\r\n'
	printf 'POST /upload?p2 HTTP/1.1\r\nHost: server.test\r\nContent-Length: %d\r\nx-forwarded-client-cert: spoof\r\n\r\n%s' "${#cl_body}" "$cl_body"
	printf 'POST /upload?p3 HTTP/1.1\r\nHost: server.test\r\nTransfer-Encoding: chunked\r\nX-Amzn-Mtls-Clientcert-Leaf: evil\r\n\r\n'
	printf '%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n' "${#ch_data}" "$ch_data" "${#ch_data}" "$ch_data"
	printf 'GET /echo-headers?p4 HTTP/1.1\r\nHost: server.test\r\nx-forwarded-client-cert: spoof\r\nclient-cert: :ZXZpbA==:\r\nConnection: close\r\n\r\n'
} > "$RUN_DIR/pipe.req"
before=$(upstream_requests)
cli_raw alice < "$RUN_DIR/pipe.req" > "$RUN_DIR/pipe.out"
assert_eq "four responses" "$(grep -c '^HTTP/1.1 200' "$RUN_DIR/pipe.out")" 4
assert_eq "four requests reached the upstream" "$(upstream_requests)" $((before + 4))
# split the backend answers (each starts with method=)
awk '/^method=/ { n++ } n { print > (dir "/pipe." n) }' dir="$RUN_DIR" "$RUN_DIR/pipe.out"
for i in 1 2 3 4; do check_echo "pipelined request $i" "$RUN_DIR/pipe.$i"; done
assert_eq "Content-Length body that looks like headers arrives unchanged" \
	"$(field "$(cat "$RUN_DIR/pipe.2" 2>/dev/null)" body_sha256)" "$(printf '%s' "$cl_body" | sha256sum | cut -d' ' -f1)"
assert_eq "chunked body that looks like headers arrives unchanged" \
	"$(field "$(cat "$RUN_DIR/pipe.3" 2>/dev/null)" body_sha256)" "$ch_sha"
assert_eq "pipelined requests kept their order" \
	"$(grep -o '^path=/[a-z-]*?p[0-9]' "$RUN_DIR/pipe.out" | sed 's/.*?//' | paste -sd' ')" "p1 p2 p3 p4"

section "HTTP/1.0"
printf 'GET /echo-headers HTTP/1.0\r\nX-Forwarded-Client-Cert: Hash=spoof\r\n\r\n' > "$RUN_DIR/h10.req"
cli_raw alice < "$RUN_DIR/h10.req" > "$RUN_DIR/h10.out"
awk '/^method=/ { n++ } n' "$RUN_DIR/h10.out" > "$RUN_DIR/h10.body"
check_echo "HTTP/1.0 request" "$RUN_DIR/h10.body"

wait_idle 5
assert_eq "connections_active back to 0" "$(stat_get .connections_active)" 0
ktproxy_stop
