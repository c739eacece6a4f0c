#!/usr/bin/env bash
# 90-ktls: which relay path connections take, and that the kTLS path really
# carries the bytes.
#
# On a kernel with kTLS (tests/vm, KTP_IN_VM=1): both legs' keys go into the
# kernel on TLS 1.3 and TLS 1.2 (AES-GCM and ChaCha20-Poly1305), bodies are
# spliced (bytes_copied stays at heads and chunk framing), /proc/net/tls_stat
# counts the sockets, the upstream's TLS 1.3 NewSessionTickets are read first,
# close_notify passes from either side, and everything arrives byte-exact.
# On a kernel without kTLS: every connection is relayed in userspace and says
# why (ktls_fallback=kernel), which is the fallback proof.
# Every transfer gets its own upstream connection (--upstream-keepalive 0),
# so each one proves both legs' keys going into the kernel; 73-keepalive
# covers kept upstream connections on this path.
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up
ktproxy_start --upstream-keepalive 0 || exit 1

size=$((UP_BIG_MIB * 1024 * 1024))
have_ktls=0
grep -q 'kTLS on' "$KTP_STDERR" && have_ktls=1

# /proc/net/tls_stat is per network namespace: ktproxy's sockets are in the
# gateway's.
# key_update_then_request: a TLS 1.3 client sends KeyUpdate (s_client's "k"
# command), then a request.
key_update_then_request() {
	{ printf 'k\n'; sleep 1
	  printf 'GET /whoami HTTP/1.1\r\nHost: server.test\r\nConnection: close\r\n\r\n'; sleep 3; } |
		cli_sclient alice -tls1_3
}

tls_stat() { in_gw awk -v k="$1" '$1 == k { print $2 }' /proc/net/tls_stat 2>/dev/null || echo 0; }
last_log() { connlog | tail -n 1; }

if [ "${KTP_IN_VM:-0}" = 1 ]; then
	assert_eq "the VM kernel has kTLS and ktproxy uses it" "$have_ktls" 1
fi

if [ "$have_ktls" = 0 ]; then
	section "Userspace fallback (this kernel has no kTLS)"
	assert_contains "start-up says why" "$(cat "$KTP_STDERR")" "kTLS unavailable"
	out=$(cli_curl alice "$URL/whoami")
	assert_contains "a request still works" "$out" "subject=$(subject_of alice)"
	stat_wait .connections_closed.ok 1 >/dev/null
	assert_contains "the log names the path and the reason" "$(last_log)" "path=userspace ktls_fallback=kernel"
	assert_eq "counted as a kernel fallback" "$(stat_get .ktls_fallbacks.kernel)" 1
	assert_eq "nothing spliced" "$(stat_get '.bytes_spliced.upstream_to_client + .bytes_spliced.client_to_upstream')" 0
	# OpenSSL follows a TLS 1.3 KeyUpdate by itself on this path.
	out=$(key_update_then_request)
	assert_contains "KeyUpdate from the client: OpenSSL follows it" "$out" "KEYUPDATE"
	assert_contains "...and the request after it is answered" "$out" "subject=$(subject_of alice)"
	ktproxy_stop
	exit 0
fi

# ------------------------------------------------------------------ kTLS kernel
# transfer NAME CURL-ARGS...: a download and a Content-Length upload on one
# connection, both byte-exact, on the kTLS path with bodies spliced.
transfer() {
	local name=$1 c0 s_u2c0 s_c2u0 k_u2c0 k_c2u0 tx0 rx0 line
	shift
	c0=$(stat_get .relay_path.ktls)
	s_u2c0=$(stat_get .bytes_spliced.upstream_to_client)
	s_c2u0=$(stat_get .bytes_spliced.client_to_upstream)
	k_u2c0=$(stat_get .bytes_copied.upstream_to_client)
	k_c2u0=$(stat_get .bytes_copied.client_to_upstream)
	tx0=$(tls_stat TlsTxSw)
	rx0=$(tls_stat TlsRxSw)

	cli_curl alice --max-time 300 "$@" -o "$RUN_DIR/dl" "$URL/big" \
		--next --cert "$PKI/alice.crt" --key "$PKI/alice.key" --cacert "$PKI/proxy-ca.crt" \
		--resolve "server.test:443:$SRV_IP" --max-time 300 -sS "$@" \
		--data-binary "@$UP_BIG" -o "$RUN_DIR/ul" "$URL/upload"
	assert_eq "$name: download byte-exact" "$(sha256sum < "$RUN_DIR/dl" | cut -d' ' -f1)" "$UP_BIG_SHA256"
	assert_eq "$name: upload byte-exact" "$(field "$(cat "$RUN_DIR/ul")" body_sha256)" "$UP_BIG_SHA256"
	wait_idle 10
	line=$(last_log)
	assert_contains "$name: connection on the kTLS path" "$line" "path=ktls"
	assert_eq "$name: counted on kTLS" "$(stat_get .relay_path.ktls)" "$((c0 + 1))"
	# Two sockets per connection, each with TX and RX in the kernel.
	assert_ge "$name: /proc/net/tls_stat TlsTxSw rose by 2" "$(tls_stat TlsTxSw)" "$((tx0 + 2))"
	assert_ge "$name: /proc/net/tls_stat TlsRxSw rose by 2" "$(tls_stat TlsRxSw)" "$((rx0 + 2))"
	# The bodies went by splice; userspace saw only heads.
	assert_ge "$name: download spliced" "$(stat_get .bytes_spliced.upstream_to_client)" \
		"$((s_u2c0 + size - 65536))"
	assert_ge "$name: upload spliced" "$(stat_get .bytes_spliced.client_to_upstream)" \
		"$((s_c2u0 + size - 65536))"
	assert_ge "$name: userspace copied only heads (u2c < 64 KiB)" 65536 \
		"$(( $(stat_get .bytes_copied.upstream_to_client) - k_u2c0 ))"
	assert_ge "$name: userspace copied only heads (c2u < 64 KiB)" 65536 \
		"$(( $(stat_get .bytes_copied.client_to_upstream) - k_c2u0 ))"
	printf '%s\n' "$line" | sed 's/^/      /'
}

section "TLS 1.3 on both legs"
late0=$(stat_get .ktls_upstream_rx.after_tickets)
transfer "TLS 1.3" --tlsv1.3
assert_contains "TLS 1.3: client leg" "$(last_log)" "client_tls=TLSv1.3/"
assert_contains "TLS 1.3: upstream leg" "$(last_log)" "upstream_tls=TLSv1.3/"
# nginx (OpenSSL) sends NewSessionTickets after the TLS 1.3 handshake:
# OpenSSL reads them (for resumption, 72-resume) before the upstream's RX
# key goes into the kernel at the first response.
assert_eq "TLS 1.3: upstream RX key installed after the tickets" \
	"$(stat_get .ktls_upstream_rx.after_tickets)" "$((late0 + 1))"

section "AES-128-GCM"
transfer "AES-128-GCM TLS 1.3" --tlsv1.3 --tls13-ciphers TLS_AES_128_GCM_SHA256
assert_contains "AES-128-GCM: client leg cipher" "$(last_log)" "client_tls=TLSv1.3/TLS_AES_128_GCM_SHA256"

section "TLS 1.2 client leg"
transfer "TLS 1.2" --tlsv1.2 --tls-max 1.2
assert_contains "TLS 1.2: client leg" "$(last_log)" "client_tls=TLSv1.2/"

section "TLS 1.2 on both legs"
upstream_protocols "TLSv1.2" || { fail "nginx restarted with TLS 1.2 only"; exit 1; }
transfer "TLS 1.2 both legs" --tlsv1.2 --tls-max 1.2
assert_contains "TLS 1.2 both legs: upstream leg" "$(last_log)" "upstream_tls=TLSv1.2/"
upstream_protocols "TLSv1.2 TLSv1.3" || { fail "nginx restarted with TLS 1.2 and 1.3"; exit 1; }

section "ChaCha20-Poly1305"
transfer "ChaCha20 TLS 1.3" --tlsv1.3 --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256
assert_contains "ChaCha20: client leg cipher" "$(last_log)" "TLS_CHACHA20_POLY1305_SHA256"
transfer "ChaCha20 TLS 1.2" --tls-max 1.2 --ciphers ECDHE-ECDSA-CHACHA20-POLY1305
assert_contains "ChaCha20 TLS 1.2: client leg cipher" "$(last_log)" "TLSv1.2/ECDHE-ECDSA-CHACHA20-POLY1305"

section "Keep-alive and pipelining on kTLS sockets"
out=$(printf 'GET /echo-headers HTTP/1.1\r\nHost: server.test\r\nX-Forwarded-Client-Cert: spoof\r\n\r\nPOST /upload HTTP/1.1\r\nHost: server.test\r\nContent-Length: 5\r\nClient-Cert: :c3Bvb2Y=:\r\n\r\nhelloGET /echo-headers HTTP/1.1\r\nHost: server.test\r\nConnection: close\r\n\r\n' |
	cli_raw alice)
assert_eq "three pipelined requests answered" "$(printf '%s\n' "$out" | grep -c '^HTTP/1.1 200')" 3
assert_eq "every request carries our XFCC" "$(printf '%s\n' "$out" | grep -ci '^header: X-Forwarded-Client-Cert: Hash=')" 3
assert_not_contains "no spoofed value arrived" "$out" "spoof"
assert_contains "the body between them arrived" "$out" "body_length=5"
wait_idle 10
assert_contains "pipelined connection on kTLS" "$(last_log)" "path=ktls"

section "close_notify from either side"
cn0=$(stat_get .ktls_control_records.close_notify)
# The upstream ends the connection (Connection: close): its close_notify
# arrives as an alert record and is passed on to the client.
out=$(printf 'GET /whoami HTTP/1.1\r\nHost: server.test\r\nConnection: close\r\n\r\n' | cli_raw alice)
assert_contains "answered before the upstream closed" "$out" "subject=$(subject_of alice)"
wait_idle 10
assert_contains "ended cleanly" "$(last_log)" "result=ok"
# The client ends first: s_client sends close_notify when its input ends.
printf 'GET /whoami HTTP/1.1\r\nHost: server.test\r\n\r\n' | cli_sclient alice -quiet >/dev/null
wait_idle 10
assert_ge "close_notify records seen on kTLS sockets" \
	"$(stat_get .ktls_control_records.close_notify)" "$((cn0 + 2))"
assert_eq "no connection truncated by the relay" "$(connlog | grep -c 'reason=client_read_failed\|reason=upstream_read_failed' || true)" 0

section "TLS 1.3 KeyUpdate on a kTLS socket"
# Linux 6.1 sets TLS_RX once per socket, so the kernel cannot follow a
# KeyUpdate: the connection is closed cleanly, counted, with its reason -
# never left decrypting garbage or hanging.
ku0=$(stat_get .ktls_control_records.key_update)
out=$(key_update_then_request)
assert_not_contains "the request after the KeyUpdate is not relayed" "$out" "subject=$(subject_of alice)"
assert_eq "counted as a KeyUpdate" "$(stat_wait .ktls_control_records.key_update $((ku0 + 1)))" "$((ku0 + 1))"
wait_idle 10
assert_contains "closed with its reason" "$(last_log)" "reason=key_update_unsupported"

section "--ktls off"
ktproxy_restart --upstream-keepalive 0 --ktls off || exit 1
out=$(cli_curl alice "$URL/whoami")
assert_contains "a request works with --ktls off" "$out" "subject=$(subject_of alice)"
wait_idle 10
assert_contains "relayed in userspace, and says why" "$(last_log)" "path=userspace ktls_fallback=kernel"
ktproxy_stop
